#!/usr/bin/env bash
# The admin port under hostile clients (SPEC.md §2 "the master serves
# the admin endpoint, so the dashboard answers even when every worker is
# saturated", §6 "every connection has read and write timeouts;
# connections are counted at accept; descriptors are budgeted"):
# (a) a slowloris of 200 connections trickling a byte every 2 s is
#     closed by read_timeout from each request's first byte, 20 silent
#     ones by idle_timeout, while /api/workers answers within 1 s, also
#     with every worker stopped (SIGSTOP); the master's descriptors
#     return to where they were;
# (b) requests over KR_ADMIN_BODY_MAX / KR_ADMIN_HEADERS_MAX are refused
#     (413 before the body, 431), at the limit they are read;
# (c) [admin] max_connections is counted at accept: the master holds no
#     more descriptors than the cap while 28 clients connect, a client
#     past the cap waits and is served once the others close;
# and the token rules on the new transport: /metrics open to loopback
# with metrics_open, everything else 401 with a challenge, HEAD served,
# other methods 405;
# (d) out of descriptors (the master's RLIMIT_NOFILE lowered under it),
#     accept fails with EMFILE and the listener backs off instead of
#     spinning the master's loop; once descriptors are back, served.
# No worker restarts, the master never stops. No PostgreSQL needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=$(mktemp -d /tmp/kr-harden-admin.XXXXXX)
chmod 0755 "$dir" # workers run as user kurier and re-read the config
pid=
cleanup() {
	[[ -n $pid ]] && kill -CONT $(pgrep -P "$pid" 2>/dev/null) 2>/dev/null || true
	[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
	pkill -9 -P "${pid:-0}" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
KR_DIAG=("$dir/log" "$dir/clients.log")
KR_TOKEN=$(printf 't%.0s' $(seq 40))
KR_ADMIN=$(free_port)
lmtp_port=$(free_port "$KR_ADMIN")
rpc_port=$(free_port "$KR_ADMIN" "$lmtp_port")

start() { # extra [admin] lines as arguments
	{
		printf '[workers]\ncount = 2\n'
		printf '[admin]\nlisten = 127.0.0.1:%s\ntoken = %s\n' "$KR_ADMIN" "$KR_TOKEN"
		for l in "$@"; do echo "$l"; done
		printf '[lmtp]\nlisten = 127.0.0.1:%s\n' "$lmtp_port"
		printf '[jsonrpc]\nlisten = 127.0.0.1:%s\n' "$rpc_port"
	} >"$dir/kurier.conf"
	chmod 0644 "$dir/kurier.conf"
	"$KURIERD" -c "$dir/kurier.conf" >>"$dir/out" 2>>"$dir/log" &
	pid=$!
	two_workers() { [[ $(kr_admin /api/workers | jq '[.workers[] | select(.state == "serving")] | length') == 2 ]]; }
	wait_for 10 "2 serving workers" two_workers
}
stop() {
	kill -TERM "$pid"
	wait "$pid" || fail "kurierd exit status $?"
	pid=
}
fds() { ls "/proc/$pid/fd" | wc -l; }
# /api/workers: prints "HTTP_CODE MICROSECONDS".
timed_workers() {
	curl -s -o "$dir/workers.json" -w '%{http_code} %{time_total}' --max-time "${1:-5}" \
		-H "Authorization: Bearer $KR_TOKEN" "http://127.0.0.1:$KR_ADMIN/api/workers" |
		awk '{ printf "%s %d\n", $1, $2 * 1000000 }'
}
ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }

# ---- a perl client for what curl cannot do ---------------------------
cat >"$dir/clients.pl" <<'PERL'
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
$SIG{PIPE} = 'IGNORE';
$| = 1;
my ($mode, $port, @arg) = @ARGV;
sub conn {
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5)
		or die "connect: $!";
	return $s;
}
if ($mode eq 'slowloris') {
	# N trickling a byte every EVERY s, M silent; ends when the server
	# has closed all or after LIMIT s; prints the lives of each kind.
	my ($n, $m, $every, $limit, $dir) = @arg;
	my $req = "GET /api/workers HTTP/1.1\r\nHost: x\r\n" .
		"X-Padding: " . ("p" x 200) . "\r\n\r\n";
	my (%open, %t0, %pos, %silent, %life);
	for (1 .. $n + $m) {
		my $s = conn();
		$open{"$s"} = $s;
		$t0{"$s"} = time;
		$pos{"$s"} = 0;
		$silent{"$s"} = $_ > $n;
	}
	open(my $f, '>', "$dir/opened") or die; close $f;
	my $drip = sub {
		my $s = shift;
		syswrite($s, substr($req, $pos{"$s"}++, 1)) unless $silent{"$s"};
	};
	$drip->($_) for values %open;
	my $sel = IO::Select->new(values %open);
	my ($end, $next) = (time + $limit, time + $every);
	while (%open && time < $end) {
		for my $s ($sel->can_read(0.05)) {
			my $got = sysread($s, my $buf, 4096);
			next if defined $got && $got > 0;
			$life{"$s"} = time - $t0{"$s"};
			$sel->remove($s);
			delete $open{"$s"};
			close $s;
		}
		if (time >= $next) {
			$drip->($_) for values %open;
			$next += $every;
		}
	}
	my ($tmin, $tmax, $smin, $smax) = (1e9, 0, 1e9, 0);
	for my $k (keys %life) {
		my $l = $life{$k};
		if ($silent{$k}) {
			$smin = $l if $l < $smin;
			$smax = $l if $l > $smax;
		} else {
			$tmin = $l if $l < $tmin;
			$tmax = $l if $l > $tmax;
		}
	}
	printf "closed=%d left=%d trickle_min=%.2f trickle_max=%.2f silent_min=%.2f silent_max=%.2f\n",
		scalar(keys %life), scalar(keys %open), $tmin, $tmax, $smin, $smax;
} elsif ($mode eq 'hold') {
	# Opens N silent connections, touches $dir/opened; on $dir/release
	# closes them all, touches $dir/released (60 s at most).
	my ($n, $dir) = @arg;
	my @s = map { conn() } 1 .. $n;
	open(my $f, '>', "$dir/opened") or die; close $f;
	my $end = time + 60;
	sleep 0.05 while !-e "$dir/release" && time < $end;
	close($_) for @s;
	open($f, '>', "$dir/released") or die; close $f;
}
PERL
clients() { perl "$dir/clients.pl" "$1" "$KR_ADMIN" "${@:2}" 2>>"$dir/clients.log"; }

# ---- (a) slowloris -----------------------------------------------------
start "read_timeout = 3s" "idle_timeout = 4s" "write_timeout = 2s"
mapfile -t workers < <(kr_worker_pids)
base=$(fds)
mkdir "$dir/slow"
clients slowloris 200 20 2 15 "$dir/slow" >"$dir/slow.out" &
slow=$!
wait_for 10 "220 slowloris connections" test -e "$dir/slow/opened"
sleep 0.5
held=$(($(fds) - base))
read -r code us < <(timed_workers)
[[ $code == 200 && $us -lt 1000000 ]] || fail "/api/workers during slowloris: HTTP $code in $(ms "$us") ms"
jq -e '.workers | length == 2' "$dir/workers.json" >/dev/null || fail "workers: $(cat "$dir/workers.json")"
# Every worker stopped: the master answers on its own.
kill -STOP "${workers[@]}"
read -r code2 us2 < <(timed_workers)
kill -CONT "${workers[@]}"
[[ $code2 == 200 && $us2 -lt 1000000 ]] || fail "/api/workers with workers stopped: HTTP $code2 in $(ms "$us2") ms"
wait "$slow" || fail "slowloris client failed"
read -r res <"$dir/slow.out"
# 200 trickling: closed 3 s (read_timeout) after their first byte, not
# kept by a byte every 2 s; 20 silent: closed at idle_timeout (4 s).
[[ $res =~ closed=220\ left=0\ trickle_min=([0-9.]+)\ trickle_max=([0-9.]+)\ silent_min=([0-9.]+)\ silent_max=([0-9.]+) ]] ||
	fail "slowloris: $res"
awk -v a="${BASH_REMATCH[1]}" -v b="${BASH_REMATCH[2]}" -v c="${BASH_REMATCH[3]}" -v d="${BASH_REMATCH[4]}" \
	'BEGIN { exit !(a >= 2.9 && b < 4.5 && c >= 3.9 && d < 5.5) }' || fail "slowloris lifetimes: $res"
((held >= 200 && held <= 225)) || fail "the master held $held descriptors for 220 connections"
sleep 0.2
after=$(($(fds) - base))
((after <= 1)) || fail "the master kept $after descriptors after the slowloris"
grep -q 'event=admin.timeout.*request not complete in time' "$dir/log" || fail "no admin.timeout line"
ok "slowloris of 200 trickling + 20 silent: all closed ($res); /api/workers in $(ms "$us") ms, in $(ms "$us2") ms with every worker stopped; master descriptors +$held, then +$after"

# ---- (b) size limits ---------------------------------------------------
post_size() { # BYTES: POST /api/workers with a body that long
	head -c "$1" /dev/zero | tr '\0' 'a' >"$dir/body"
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $KR_TOKEN" \
		-H 'Expect:' --data-binary @"$dir/body" "http://127.0.0.1:$KR_ADMIN/api/workers"
}
[[ $(post_size 65536) == 405 ]] || fail "a body of KR_ADMIN_BODY_MAX bytes was not read"
[[ $(post_size 65537) == 413 ]] || fail "a body over KR_ADMIN_BODY_MAX: not 413"
# 413 as soon as the head is there: no body byte sent.
exec 5<>"/dev/tcp/127.0.0.1/$KR_ADMIN"
printf 'POST /api/workers HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n' >&5
line=$(timeout 2 head -n 1 <&5 || true)
exec 5<&-
[[ $line == $'HTTP/1.1 413 Payload Too Large\r' ]] || fail "over KR_ADMIN_BODY_MAX before the body: '$line'"
pad=$(head -c 17000 /dev/zero | tr '\0' 'h')
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Pad: $pad" \
	-H "Authorization: Bearer $KR_TOKEN" "http://127.0.0.1:$KR_ADMIN/api/workers")
[[ $code == 431 ]] || fail "a head over KR_ADMIN_HEADERS_MAX: $code"
pad=$(head -c 15000 /dev/zero | tr '\0' 'h')
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Pad: $pad" \
	-H "Authorization: Bearer $KR_TOKEN" "http://127.0.0.1:$KR_ADMIN/api/workers")
[[ $code == 200 ]] || fail "a head under KR_ADMIN_HEADERS_MAX: $code"
ok "body at KR_ADMIN_BODY_MAX read (405), one over 413 before the body; head over KR_ADMIN_HEADERS_MAX 431, under it served"
stop

# ---- (c) max_connections -----------------------------------------------
start "max_connections = 8" "idle_timeout = 30s" "read_timeout = 30s"
base=$(fds)
mkdir "$dir/hold"
clients hold 28 "$dir/hold" &
hold=$!
wait_for 10 "28 connections" test -e "$dir/hold/opened"
sleep 0.5
held=$(($(fds) - base))
((held <= 8)) || fail "the master holds $held descriptors over its baseline (cap 8)"
grep -q 'event=admin.paused' "$dir/log" || fail "no admin.paused line"
timed_workers 20 >"$dir/late.out" &
late=$!
sleep 1
kill -0 "$late" 2>/dev/null || fail "a client past the cap was served at once: $(cat "$dir/late.out")"
touch "$dir/hold/release"
wait_for 5 "released" test -e "$dir/hold/released"
wait "$late" || true
read -r code us <"$dir/late.out"
[[ $code == 200 ]] || fail "the client past the cap: HTTP $code after $(ms "$us") ms"
wait "$hold" || true
ok "max_connections 8: 28 clients, the master holds +$held descriptors; the 29th waited and was served once they closed ($(ms "$us") ms)"

# ---- token rules on the new transport ---------------------------------
# A master with /metrics open to loopback.
stop
start "metrics_open = true"
url=http://127.0.0.1:$KR_ADMIN
code=$(curl -s -o "$dir/m.txt" -w '%{http_code}' --max-time 5 "$url/metrics")
[[ $code == 200 ]] && grep -q '^kurier_requests_total ' "$dir/m.txt" || fail "open /metrics from loopback: $code"
curl -s -D "$dir/h.txt" -o /dev/null --max-time 5 "$url/api/workers?metrics"
grep -q '^HTTP/1.1 401 ' "$dir/h.txt" && grep -qi '^WWW-Authenticate: Bearer realm="kurier"' "$dir/h.txt" ||
	fail "/api/workers without the token: $(head -1 "$dir/h.txt")"
curl -s -I -D "$dir/h.txt" -o /dev/null --max-time 5 -H "Authorization: Bearer $KR_TOKEN" "$url/api/workers"
grep -q '^HTTP/1.1 200 ' "$dir/h.txt" && grep -qi '^Cache-Control: no-store' "$dir/h.txt" ||
	fail "HEAD /api/workers: $(head -1 "$dir/h.txt")"
curl -s -D "$dir/h.txt" -o /dev/null --max-time 5 -X DELETE -H "Authorization: Bearer $KR_TOKEN" "$url/metrics"
grep -q '^HTTP/1.1 405 ' "$dir/h.txt" && grep -qi '^Allow: GET, HEAD' "$dir/h.txt" ||
	fail "DELETE /metrics: $(head -1 "$dir/h.txt")"
ok "metrics_open: /metrics open to loopback, /api/workers still needs the token (401 with a challenge); HEAD served, DELETE 405"

# ---- (d) EMFILE ---------------------------------------------------------
read -r soft hard < <(prlimit --pid "$pid" --nofile --noheadings --raw --output SOFT,HARD)
prlimit --pid "$pid" --nofile=$(($(fds) + 3)):"$hard"
rm -f "$dir/hold/"*
clients hold 6 "$dir/hold" &
hold=$!
wait_for 10 "6 connections" test -e "$dir/hold/opened"
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
t0=$(ticks)
sleep 2
cpu=$(($(ticks) - t0))
prlimit --pid "$pid" --nofile="$soft":"$hard"
grep -q 'event=admin.accept_failed.*error=EMFILE' "$dir/log" || fail "no admin.accept_failed line"
# A spinning loop burns the 2 s (200 ticks); backing off, next to none.
((cpu < 40)) || fail "the master used $cpu ticks of CPU in 2 s out of descriptors"
touch "$dir/hold/release"
wait "$hold" || true
read -r code us < <(timed_workers)
[[ $code == 200 ]] || fail "/api/workers after EMFILE: HTTP $code"
ok "out of descriptors: accept failed with EMFILE, the master used $cpu/100 s of CPU in 2 s; served again in $(ms "$us") ms"

[[ $(kr_crashes) == 0 ]] || fail "worker crashes: $(kr_crashes)"
kill -0 "$pid" || fail "the master is gone"
stop
! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$dir/log" ||
	fail "sanitizer report in kurierd's log"
ok "no worker crash, the master stopped cleanly"
