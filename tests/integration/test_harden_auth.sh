#!/usr/bin/env bash
# Logins and sessions under attack (issue 13, items 4 and 8) against a
# running kurierd with 2 workers on a 4-node cluster:
#  (a) a batch of 100 wrong logins for one user costs at most the burst
#      in password checks (kurier_rpc_password_checks_total), the rest
#      -32012 with retry_after_ms; 20 parallel ones across workers too;
#  (b) after that, another user of the same peer (127.0.0.1, the webmail
#      backend) logs in;
#  (c) a trusted peer's client_ip / X-Forwarded-For is what is limited,
#      IPv6 by its /64; a bad client_ip is -32602 and costs no check;
#  (d) with [auth] trusted = none (SIGHUP) client_ip is ignored and the
#      peer is limited;
#  (e) [auth] login_concurrency = 1: extra logins are -32011 at once and
#      cost no limiter token; 20 parallel logins: some -32011;
#  (f) `kurier user passwd` ends an existing session (also a version 1
#      token from before password versions) within 2 s; the new
#      password logs in.
# Throughout: no worker restarts, worker RSS bounded. Then (g): every
# worker cycled, a limited client_ip is still limited (an exiting worker
# once cleared the limiter's shared key, so a cycle forgot every count).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

USER_BURST=5
ADDR_BURST=8
SECRET=$(printf 's%.0s' $(seq 40)) # what kr_stack_conf writes
# auth_conf TRUSTED CONCURRENCY: the [auth] lines after the stack's.
auth_conf() {
	KR_CONF_EXTRA=$(printf '[auth]\nuser_burst = %d\nuser_per_minute = 1\naddr_burst = %d\naddr_per_minute = 1\ntrusted = %s\nlogin_concurrency = %d\n' \
		"$USER_BURST" "$ADDR_BURST" "$1" "$2")
}
auth_conf "127.0.0.0/8 ::1" 16
kr_stack_start harden-auth 11400 4

# ---- helpers --------------------------------------------------------
add_user() { echo "pw-$1" | kr_cli user add "$1" >/dev/null; }
# login_body USER PASSWORD [CLIENT_IP-JSON] [ID]: one auth.login call.
login_body() {
	printf '{"jsonrpc":"2.0","method":"auth.login","params":{"user":"%s","password":"%s"%s},"id":%s}' \
		"$1" "$2" "${3:+,\"client_ip\":$3}" "${4:-1}"
}
rpc() { kr_rpc "" "$1"; }
# rpc_hdr HEADER BODY: POST with one more header.
rpc_hdr() {
	curl -sS --max-time 30 -H 'Content-Type: application/json' -H "$1" \
		--data-binary "$2" "http://127.0.0.1:$KR_HTTP/rpc"
}
metric() {
	kr_admin /metrics | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'
}
checks() { metric kurier_rpc_password_checks_total; }
# count CODE JSON: answers of a batch with that error code.
count() { jq --argjson c "$1" '[.[] | select(.error.code == $c)] | length' <<<"$2"; }
# limited JSON: -32012 answers that carry retry_after_ms > 0.
limited() { jq '[.[] | select(.error.code == -32012 and .error.data.retry_after_ms > 0)] | length' <<<"$1"; }
code() { jq -r '.error.code // "ok"' <<<"$1"; }
# expect_code WANT WHAT BODY [HEADER]
expect_code() {
	local r
	if [[ -n ${4:-} ]]; then r=$(rpc_hdr "$4" "$3"); else r=$(rpc "$3"); fi
	[[ $(code "$r") == "$1" ]] || fail "$2: want $1, got $r"
	if [[ $1 == ok ]]; then jq -e '.result.session | length > 100' <<<"$r" >/dev/null || fail "$2: no session: $r"; fi
}
# batch N USER-PREFIX PASSWORD CLIENT-IP-FMT: N logins, users
# PREFIX1..N (PREFIX alone when it has an @), client_ip by printf.
batch() {
	local n=$1 user=$2 pw=$3 fmt=$4 i ip u
	for i in $(seq "$n"); do
		u=$user
		[[ $u == *@* ]] || u="$user$i@auth.test"
		ip=
		[[ -z $fmt ]] || ip=$(printf "\"$fmt\"" "$i")
		login_body "$u" "$pw" "$ip" "$i"
	done | jq -sc .
}
# reload TRUSTED CONCURRENCY: new [auth] lines, SIGHUP, wait for the
# master and both workers to have reloaded.
reload() {
	local before
	before=$(grep -c 'event=config.reload ' "$KR_WORK/kurierd.log" || true)
	auth_conf "$1" "$2"
	kr_stack_conf
	kill -HUP "$KR_PID"
	wait_for 10 "config reloaded by master and workers" \
		bash -c "(( \$(grep -c 'event=config.reload ' '$KR_WORK/kurierd.log') >= $before + 3 ))"
}
no_restarts() {
	[[ $(kr_crashes) == 0 ]] || fail "$1: workers crashed: $(kr_crashes)"
	[[ $(kr_worker_pids | sort | tr '\n' ' ') == "$pids" ]] || fail "$1: workers restarted"
}

for u in victim other ip1 ip2 ip6 peer1 conc pw1 pw2; do add_user "$u@auth.test"; done
pids=$(kr_worker_pids | sort | tr '\n' ' ')
[[ $(wc -w <<<"$pids") == 2 ]] || fail "want 2 workers: $pids"
ok "stack up: 2 workers ($pids), 9 users"

# ---- (a) a batch of 100 wrong logins --------------------------------
c0=$(checks)
t0=$(date +%s%N)
r=$(rpc "$(batch 100 victim@auth.test wrong "")")
ms=$((($(date +%s%N) - t0) / 1000000))
ran=$(($(checks) - c0))
n_bad=$(count -32001 "$r")
n_lim=$(limited "$r")
[[ $(jq length <<<"$r") == 100 ]] || fail "(a) want 100 answers: $(head -c 300 <<<"$r")"
((ran >= 1 && ran <= USER_BURST)) || fail "(a) $ran password checks for 100 wrong logins (burst $USER_BURST)"
((n_bad == ran && n_lim == 100 - ran)) ||
	fail "(a) want $ran x -32001 and $((100 - ran)) x -32012 {retry_after_ms}, got $n_bad and $n_lim"
no_restarts "(a)"
ok "(a) batch of 100 wrong logins: $ran password checks (burst $USER_BURST), $n_lim x -32012 with retry_after_ms, answered in $ms ms"

# The same across both workers: 20 wrong logins on 20 connections.
c0=$(checks)
out=$KR_WORK/par-a
mkdir -p "$out"
par=()
for i in $(seq 20); do
	rpc "$(login_body spread@auth.test wrong "" "$i")" >"$out/$i" &
	par+=($!)
done
wait "${par[@]}" # not a bare wait: kurierd is a job of this shell too
ran=$(($(checks) - c0))
all=$(cat "$out"/* | jq -sc .)
((ran <= USER_BURST)) || fail "(a) $ran checks for 20 parallel wrong logins (burst $USER_BURST)"
(($(count -32001 "$all") == ran && $(limited "$all") == 20 - ran)) ||
	fail "(a) parallel: $ran checks, answers $(jq -c '[.[].error.code]' <<<"$all")"
ok "(a) 20 parallel wrong logins on separate connections: $ran password checks, $((20 - ran)) x -32012"

# ---- (b) the webmail backend's other users --------------------------
expect_code -32012 "(b) the attacked user, right password" "$(login_body victim@auth.test pw-victim@auth.test)"
expect_code ok "(b) another user from 127.0.0.1" "$(login_body other@auth.test pw-other@auth.test)"
ok "(b) after 120 wrong logins from 127.0.0.1 without client_ip, another user logs in (the attacked one is -32012)"

# ---- (c) a trusted peer names its end user --------------------------
c0=$(checks)
r=$(rpc "$(batch 12 nobody wrong 198.51.100.7)")
(($(count -32001 "$r") == ADDR_BURST && $(limited "$r") == 12 - ADDR_BURST)) ||
	fail "(c) 12 wrong logins from client_ip 198.51.100.7: $(jq -c '[.[].error.code]' <<<"$r")"
(($(checks) - c0 == ADDR_BURST)) || fail "(c) $(($(checks) - c0)) checks, want $ADDR_BURST"
expect_code -32012 "(c) right password from the limited client_ip" \
	"$(login_body ip1@auth.test pw-ip1@auth.test '"198.51.100.7"')"
expect_code -32012 "(c) its v4-mapped spelling" \
	"$(login_body ip1@auth.test pw-ip1@auth.test '"::ffff:198.51.100.7"')"
expect_code ok "(c) another client_ip" "$(login_body ip1@auth.test pw-ip1@auth.test '"198.51.100.8"')"
ok "(c) client_ip 198.51.100.7: $ADDR_BURST checks then -32012, also for a right password; 198.51.100.8 logs in"

expect_code -32012 "(c) X-Forwarded-For, right-most limited" \
	"$(login_body ip2@auth.test pw-ip2@auth.test)" "X-Forwarded-For: 198.51.100.9, 198.51.100.7"
expect_code ok "(c) X-Forwarded-For, right-most fresh" \
	"$(login_body ip2@auth.test pw-ip2@auth.test)" "X-Forwarded-For: 198.51.100.7, 203.0.113.5"
expect_code ok "(c) client_ip before X-Forwarded-For" \
	"$(login_body ip2@auth.test pw-ip2@auth.test '"203.0.113.6"')" "X-Forwarded-For: 198.51.100.7"
ok "(c) X-Forwarded-For: its right-most entry is limited; client_ip wins over it"
# Spellings a proxy may use; anything else names no address.
for x in '[2001:db8:5::1]:443|2001:db8:5::1|forwarded' '198.51.100.20:5555|198.51.100.20|forwarded' \
	'198.51.100.7,	 2001:db8:6::1 |2001:db8:6::1|forwarded' 'unknown|-|none' '198.51.100.7, |-|none' \
	'198.51.100.7:99999|-|none' '[2001:db8:5::1|-|none'; do
	IFS='|' read -r hdr want src <<<"$x"
	expect_code ok "(c) X-Forwarded-For: $hdr" "$(login_body ip2@auth.test pw-ip2@auth.test)" "X-Forwarded-For: $hdr"
	grep -q "event=auth.login result=ok user=ip2@auth.test client=$want source=$src " "$KR_WORK/kurierd.log" ||
		fail "(c) X-Forwarded-For [$hdr]: no log line with client=$want source=$src"
done
ok "(c) X-Forwarded-For spellings: [v6]:port, v4:port, blanks; unknown, empty or bad entries name nobody"

r=$(rpc "$(batch 12 nobody6- wrong '2001:db8:1:2::%x')")
(($(count -32001 "$r") == ADDR_BURST && $(limited "$r") == 12 - ADDR_BURST)) ||
	fail "(c) 12 addresses of one /64: $(jq -c '[.[].error.code]' <<<"$r")"
expect_code -32012 "(c) another address of the same /64" \
	"$(login_body ip6@auth.test pw-ip6@auth.test '"2001:db8:1:2:ffff:ffff:ffff:fffe"')"
expect_code ok "(c) the next /64" "$(login_body ip6@auth.test pw-ip6@auth.test '"2001:db8:1:3::1"')"
ok "(c) 12 addresses rotating inside 2001:db8:1:2::/64 share one bucket; 2001:db8:1:3::/64 logs in"

c0=$(checks)
for bad in '"nonsense"' '"198.51.100.7/24"' '""' '"[::1]"' '"1.2.3.4:80"' 42 '["1.2.3.4"]'; do
	r=$(rpc "$(login_body ip1@auth.test pw-ip1@auth.test "$bad")")
	[[ $(jq -c '[.error.code, (.error.message | test("client_ip"))]' <<<"$r") == '[-32602,true]' ]] ||
		fail "(c) client_ip $bad: $r"
done
(($(checks) == c0)) || fail "(c) bad client_ip cost password checks"
grep -q 'event=auth.login result=failed user=nobody1@auth.test client=198.51.100.7 source=client_ip peer=127.0.0.1' \
	"$KR_WORK/kurierd.log" || fail "(c) no log line with the client_ip counted"
grep -q 'event=auth.login result=ok user=ip2@auth.test client=203.0.113.5 source=forwarded' \
	"$KR_WORK/kurierd.log" || fail "(c) no log line with the forwarded address"
grep -q 'event=auth.login result=ok user=other@auth.test client=- source=none' \
	"$KR_WORK/kurierd.log" || fail "(c) no log line for a trusted peer naming nobody"
ok "(c) a bad client_ip is -32602 naming it, with no check; log lines carry the address counted and its source"
no_restarts "(c)"

# ---- (d) an untrusted peer ------------------------------------------
reload none 16
r=$(rpc "$(batch 12 untrusted wrong '203.0.113.%d')")
(($(count -32001 "$r") == ADDR_BURST && $(limited "$r") == 12 - ADDR_BURST)) ||
	fail "(d) 12 wrong logins with 12 client_ips from an untrusted peer: $(jq -c '[.[].error.code]' <<<"$r")"
expect_code -32012 "(d) a fresh client_ip from the limited peer" \
	"$(login_body peer1@auth.test pw-peer1@auth.test '"203.0.113.200"')"
expect_code -32012 "(d) a fresh X-Forwarded-For from the limited peer" \
	"$(login_body peer1@auth.test pw-peer1@auth.test)" "X-Forwarded-For: 203.0.113.201"
grep -q 'event=auth.login result=failed user=untrusted1@auth.test client=127.0.0.1 source=peer' \
	"$KR_WORK/kurierd.log" || fail "(d) no log line counting the peer"
ok "(d) [auth] trusted = none (SIGHUP): client_ip and X-Forwarded-For ignored, the peer 127.0.0.1 is limited after $ADDR_BURST"
no_restarts "(d)"

# ---- (e) login_concurrency ------------------------------------------
reload "127.0.0.0/8 ::1" 1
c0=$(checks)
for round in 1 2 3; do
	r=$(rpc "$(batch 8 conc@auth.test wrong "")")
	(($(count -32001 "$r") == 1)) &&
		[[ $(jq '[.[] | select(.error.code == -32011 and .error.data.retry_after_ms > 0)] | length' <<<"$r") == 7 ]] ||
		fail "(e) round $round, batch of 8 with login_concurrency 1: $(jq -c '[.[].error.code]' <<<"$r")"
done
(($(checks) - c0 == 3)) || fail "(e) $(($(checks) - c0)) checks for 3 batches, want 3"
# 3 wrong guesses: below the burst only if the 21 x -32011 took nothing.
expect_code ok "(e) after 3 batches of 8, the user's right password" "$(login_body conc@auth.test pw-conc@auth.test)"
ok "(e) login_concurrency 1: a batch of 8 runs 1 check, 7 x -32011 {retry_after_ms} that cost no limiter token"

out=$KR_WORK/par-e
seen=0
for round in 1 2 3; do
	rm -rf "$out"
	mkdir -p "$out"
	c0=$(checks)
	par=()
	for i in $(seq 20); do
		rpc "$(login_body "par$round-$i@auth.test" wrong "" "$i")" >"$out/$i" &
		par+=($!)
	done
	wait "${par[@]}"
	all=$(cat "$out"/* | jq -sc .)
	n_bad=$(count -32001 "$all")
	n_busy=$(count -32011 "$all")
	((n_bad + n_busy == 20)) || fail "(e) parallel: $(jq -c '[.[].error.code]' <<<"$all")"
	(($(checks) - c0 == n_bad)) || fail "(e) $(($(checks) - c0)) checks for $n_bad answered"
	if ((n_busy > 0)); then seen=1 && break; fi
done
((seen)) || fail "(e) 3 rounds of 20 parallel logins, never -32011"
no_restarts "(e)"
ok "(e) 20 parallel logins (round $round): $n_bad checked, $n_busy x -32011, no restart"

# ---- (f) a password change ends sessions ----------------------------
quota() { kr_rpc "$1" '{"jsonrpc":"2.0","method":"quota.get","id":1}'; }
# v1_of TOKEN: the same session as a version 1 token (45-byte payload,
# no password version), signed like kurier before password versions.
v1_of() {
	local head=${1%%.*} pad key
	pad=$(printf '%*s' $(((4 - ${#head} % 4) % 4)) '' | tr ' ' '=')
	tr -- '-_' '+/' <<<"$head$pad" | base64 -d >"$KR_WORK/p2"
	{ printf '\001'; tail -c +2 "$KR_WORK/p2" | head -c 44; } >"$KR_WORK/p1"
	key=$(printf '%s' 'kurier session token v1' |
		openssl dgst -sha256 -mac HMAC -macopt "key:$SECRET" -binary | od -An -tx1 | tr -d ' \n')
	printf '%s.%s' "$(base64 -w0 "$KR_WORK/p1" | tr '+/' '-_' | tr -d '=')" \
		"$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary <"$KR_WORK/p1" |
			base64 -w0 | tr '+/' '-_' | tr -d '=')"
}
T=$(kr_login pw1@auth.test pw-pw1@auth.test)
G=$(kr_login pw2@auth.test pw-pw2@auth.test)
V1=$(v1_of "$(kr_login pw1@auth.test pw-pw1@auth.test)")
[[ ${#T} == 110 && ${#V1} == 104 ]] || fail "(f) token lengths ${#T} and ${#V1}"
for t in "$T" "$G" "$V1"; do
	jq -e .result.used <<<"$(quota "$t")" >/dev/null || fail "(f) session before the change: $(quota "$t")"
done
echo "new-pw1" | kr_cli user passwd pw1@auth.test >/dev/null
t0=$(date +%s%N)
since() { echo $((($(date +%s%N) - t0) / 1000000)); }
while [[ $(code "$(quota "$T")") != -32001 ]]; do
	(($(since) < 5000)) || fail "(f) session still valid 5 s after the password change"
	sleep 0.1
done
first=$(since)
# Each worker may answer from its session-check cache for up to 1 s:
# from then on every answer, whichever worker gives it, is -32001.
sleep "$(awk -v ms="$first" 'BEGIN { d = 1.2 - ms / 1000; print (d > 0 ? d : 0) }')"
for _ in $(seq 8); do
	[[ $(code "$(quota "$T")") == -32001 && $(code "$(quota "$V1")") == -32001 ]] ||
		fail "(f) a session from before the change still answered $(since) ms after it"
done
ms=$(since)
((ms <= 2000)) || fail "(f) sessions ended for good only $ms ms after the change, want <= 2000"
jq -e .result.used <<<"$(quota "$G")" >/dev/null || fail "(f) another user's session: $(quota "$G")"
expect_code -32001 "(f) the old password" "$(login_body pw1@auth.test pw-pw1@auth.test)"
N=$(kr_login pw1@auth.test new-pw1) || fail "(f) the new password does not log in"
jq -e .result.used <<<"$(quota "$N")" >/dev/null || fail "(f) new session: $(quota "$N")"
ok "(f) kurier user passwd: the old session (and a version 1 token of it) -32001 after $first ms, on every worker by $ms ms; another user's session lives; the new password logs in"

# ---- no restarts, memory bounded ------------------------------------
no_restarts "end"
# Argon2id takes 64 MiB per check; [workers] io_threads (4) run at once.
# AddressSanitizer adds its shadow and keeps freed blocks in a 256 MiB
# quarantine.
bound_kb=$(((4 * 64 + 192) * 1024))
[[ $KR_BUILD != *asan* ]] || bound_kb=$((bound_kb + 512 * 1024))
for p in $pids; do
	hwm=$(kr_hwm_kb "$p")
	((hwm < bound_kb)) || fail "worker $p peaked at $hwm KiB (bound $bound_kb)"
	ok "worker $p peak RSS $((hwm / 1024)) MiB (bound $((bound_kb / 1024)) MiB)"
done
# Under a sanitizer build the workers run instrumented: any report fails.
! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$KR_WORK/kurierd.log" ||
	fail "sanitizer report in kurierd's log"
ok "no sanitizer report"

# ---- (g) the limiter outlives its workers ---------------------------
reload "127.0.0.0/8 ::1" 16 # (e) left login_concurrency at 1
r=$(rpc "$(batch 12 nobody-g wrong 198.51.100.77)")
(($(limited "$r") == 12 - ADDR_BURST)) || fail "(g) 12 wrong logins from 198.51.100.77: $(jq -c '[.[].error.code]' <<<"$r")"
[[ $(kr_admin_post /api/workers/cycle) == 202 ]] || fail "(g) cycle refused"
cycled() { kr_admin /api/workers | jq -e '.cycle.active == false and .cycle.done == 2'; }
wait_for 60 "every worker cycled" cycled
for p in $pids; do
	[[ " $(kr_worker_pids | tr '\n' ' ') " != *" $p "* ]] || fail "(g) worker $p not cycled"
done
for i in 1 2 3 4 5 6; do
	expect_code -32012 "(g) right password from 198.51.100.77 after the cycle ($i)" \
		"$(login_body ip1@auth.test pw-ip1@auth.test '"198.51.100.77"')"
done
expect_code ok "(g) another client_ip after the cycle" "$(login_body ip1@auth.test pw-ip1@auth.test '"198.51.100.78"')"
ok "(g) both workers cycled: 198.51.100.77 still -32012 on 6 logins with the right password, 198.51.100.78 logs in"
