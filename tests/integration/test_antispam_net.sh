#!/usr/bin/env bash
# Antispam over the network (issue 10 items 2 and 4; SPEC.md §5) against
# a running kurierd with two workers and only the dnsbl and rate
# modules loaded: a real dnsmasq lists 127.0.0.2 in bl.test; a message
# forwarded (XFORWARD) from 127.0.0.2 is stored in Junk with
# X-Spam-Flag: YES and RCVD_IN_BL_TEST, one from 127.0.0.3 in INBOX as
# ham; with rate_ip = 3, six messages from one address at once (over
# both workers) get exactly three 250 and three 451 (the count is
# host-wide), and another address still delivers. No worker restarts.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

client() { perl tests/integration/lmtp_client.pl "$@"; }
aux=$(mktemp -d /tmp/kr-antispam-net.XXXXXX)
chmod 0755 "$aux"
dns_pid=
cleanup() {
	[[ -n $dns_pid ]] && kill "$dns_pid" 2>/dev/null || true
	rm -rf "$aux"
	kr_stack_cleanup
}
trap cleanup EXIT

# dnsmasq on the first free port of 32290-32299 (our range: 32200+).
for p in $(seq 32290 32299); do
	/usr/sbin/dnsmasq --no-daemon --conf-file=/dev/null --pid-file \
		--port="$p" --listen-address=127.0.0.1 --bind-interfaces \
		--no-resolv --no-hosts --local=/bl.test/ \
		--host-record=2.0.0.127.bl.test,127.0.0.2 >"$aux/dnsmasq.log" 2>&1 &
	dns_pid=$!
	sleep 0.3
	if kill -0 "$dns_pid" 2>/dev/null; then
		dns_port=$p
		break
	fi
	dns_pid=
done
[[ -n $dns_pid ]] || fail "dnsmasq did not start: $(cat "$aux/dnsmasq.log")"

# Only our two modules, so no other filter's score gets in the way.
mkdir "$aux/modules"
cp "$KR_BUILD/modules/kr_dnsbl.so" "$KR_BUILD/modules/kr_rate.so" "$aux/modules/"
KR_CONF_EXTRA=$(printf '[antispam]\nenabled = true\nmodules = %s\nresolver = 127.0.0.1:%s\ndnsbl = bl.test=6\nrate_ip = 3\nrate_window = 60s\ncheck_timeout = 5s' \
	"$aux/modules" "$dns_port")
kr_stack_start antispam-net 32200 2
trap cleanup EXIT
log=$KR_WORK/kurierd.log
echo pw | kr_cli user add u1@net.test >/dev/null
KR_TOK=$(kr_login u1@net.test pw)
msg() {
	printf 'From: a@ext.test\r\nTo: u1@net.test\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\nMessage-ID: <%s@ext.test>\r\nSubject: %s\r\n\r\nhello %s\r\n' \
		"$1" "$1" "$1" >"$aux/$1"
	echo "$aux/$1"
}

# ---- 1. DNSBL: listed -> Junk, not listed -> INBOX ------------------------
r=$(client deliver "$KR_LMTP" u1@net.test "$(msg listed)" 127.0.0.2)
[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "listed client: [$r]"
r=$(client deliver "$KR_LMTP" u1@net.test "$(msg clean)" 127.0.0.3)
[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "clean client: [$r]"
junk=$(kr_mailbox junk) || fail "no Junk mailbox"
inbox=$(kr_mailbox inbox) || fail "no INBOX"
kr_raw "$junk" listed >"$aux/listed.raw"
grep -q $'^X-Spam-Flag: YES\r$' "$aux/listed.raw" || fail "no X-Spam-Flag: $(head -c 600 "$aux/listed.raw")"
grep -q '^X-Spam-Status: Yes,.*RCVD_IN_BL_TEST' "$aux/listed.raw" ||
	fail "no RCVD_IN_BL_TEST: $(grep '^X-Spam' "$aux/listed.raw")"
kr_raw "$inbox" clean >"$aux/clean.raw"
grep -q '^X-Spam-Flag' "$aux/clean.raw" && fail "clean message flagged"
grep -q '^X-Spam-Status: No' "$aux/clean.raw" || fail "clean: $(grep '^X-Spam' "$aux/clean.raw")"
ok "127.0.0.2 (listed in bl.test) -> Junk with X-Spam-Flag: YES, 127.0.0.3 -> INBOX"

# ---- 2. rate_ip = 3 over both workers -------------------------------------
# The kernel may hand six connections to one worker: then the round
# says nothing about sharing, and another address tries again.
for ip in 127.0.0.9 127.0.0.11 127.0.0.12; do
	mark=$(wc -l <"$log")
	clients=()
	for i in 1 2 3 4 5 6; do
		client deliver "$KR_LMTP" u1@net.test "$(msg "rate$i")" "$ip" >"$aux/r$i" &
		clients+=($!)
	done
	wait "${clients[@]}" # not dnsmasq, also our child
	ok_n=$(cat "$aux"/r[1-6] | grep -c '^250 ' || true)
	def_n=$(cat "$aux"/r[1-6] | grep -c '^451 ' || true)
	[[ $ok_n == 3 && $def_n == 3 ]] ||
		fail "$ip: want 3 delivered and 3 deferred: $(cat "$aux"/r[1-6] | tr '\n' ' ')"
	pids=$(tail -n "+$((mark + 1))" "$log" | grep 'event=lmtp' | grep -o ' pid=[0-9]*' | sort -u | wc -l)
	[[ $pids -ge 2 ]] && break
done
[[ $pids -ge 2 ]] || fail "three rounds of six sessions each went to one worker"
r=$(client deliver "$KR_LMTP" u1@net.test "$(msg other)" 127.0.0.10)
[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "another address: [$r]"
ok "rate_ip 3: 3 x 250 and 3 x 451 from one address over $pids workers, another address delivers"

[[ $(kr_crashes) == 0 ]] || fail "a worker crashed"
ok "no worker restarted"
