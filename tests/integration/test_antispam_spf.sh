#!/usr/bin/env bash
# SPF through a running kurierd (issue 10; SPEC.md §5) with only the
# spf module (and its helper program kurier-spf) loaded and a real
# dnsmasq serving the senders' SPF records on loopback: a sender whose
# domain says "-all" is stored with Received-SPF: fail, SPF_FAIL in
# X-Spam-Status and X-Spam-Score 3.5 (SPF_FAIL's score); one whose
# record lists the client address gets Received-SPF: pass. A record
# that crashes libspf2 inside the helper (an exp= explanation of 50
# "%{i}x", tests/unit/test_spf.c) kills the helper only: the message
# is still delivered with Received-SPF: temperror, the workers keep
# their pids, no crash is counted, and the next message gets its real
# answer from a restarted helper.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

client() { perl tests/integration/lmtp_client.pl "$@"; }
aux=$(mktemp -d /tmp/kr-antispam-spf.XXXXXX)
chmod 0755 "$aux"
trap 'kr_dns_stop; rm -rf "$aux"' EXIT

# Our ranges: the cluster on 32700.., dnsmasq on the first free port of
# 32750-32754 (all below the ephemeral range).
dns_port=
for p in 32750 32751 32752 32753 32754; do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		dns_port=$p
		break
	fi
done
[[ -n $dns_port ]] || fail "no free DNS port in 32750-32754"
crash_exp=$(printf '%%{i}x%.0s' $(seq 50))
kr_dns_start "$dns_port" \
	"--txt-record=fail.test,v=spf1 -all" \
	"--txt-record=pass.test,v=spf1 ip4:192.0.2.9 -all" \
	"--txt-record=crash.test,v=spf1 -all exp=why.crash.test" \
	"--txt-record=why.crash.test,$crash_exp"

# Only the spf module: the module starts <modules>/kurier-spf.
mkdir "$aux/modules"
cp "$KR_BUILD/modules/kr_spf.so" "$KR_BUILD/modules/kurier-spf" "$aux/modules/"
KR_CONF_EXTRA=$(printf '[antispam]\nenabled = true\nmodules = %s\nresolver = 127.0.0.1:%s\ncheck_timeout = 5s' \
	"$aux/modules" "$dns_port")
kr_stack_start antispam-spf 32700 2
trap 'kr_stack_cleanup; rm -rf "$aux"' EXIT # also stops dnsmasq
echo pw | kr_cli user add u1@spf.test >/dev/null
KR_TOK=$(kr_login u1@spf.test pw)
inbox=$(kr_mailbox inbox) || fail "no INBOX"
# send NAME SENDER: delivers a message with subject NAME from SENDER,
# forwarded from 192.0.2.9 (HELO mx.<sender's domain>); checks the 250.
send() {
	local r
	printf 'From: %s\r\nTo: u1@spf.test\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\nMessage-ID: <%s@spf.test>\r\nSubject: %s\r\n\r\nhello %s\r\n' \
		"$2" "$1" "$1" "$1" >"$aux/$1"
	r=$(LMTP_FROM=$2 LMTP_HELO=mx.${2#*@} client deliver "$KR_LMTP" u1@spf.test "$aux/$1" 192.0.2.9)
	[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "$1 from $2: [$r]"
	kr_raw "$inbox" "$1" >"$aux/$1.raw"
}
hdrs() { grep -E '^(Received-SPF|X-Spam)' "$aux/$1.raw" | tr -d '\r'; }

# ---- fail and pass ------------------------------------------------------
send fail1 a@fail.test
grep -q '^Received-SPF: fail ' "$aux/fail1.raw" || fail "fail1: $(hdrs fail1)"
grep -q '^X-Spam-Status: No,.*SPF_FAIL' "$aux/fail1.raw" || fail "fail1 status: $(hdrs fail1)"
grep -q $'^X-Spam-Score: 3.5\r$' "$aux/fail1.raw" || fail "fail1 score: $(hdrs fail1)"
ok "a@fail.test from 192.0.2.9: Received-SPF: fail, SPF_FAIL, X-Spam-Score 3.5"
send pass1 a@pass.test
grep -q '^Received-SPF: pass ' "$aux/pass1.raw" || fail "pass1: $(hdrs pass1)"
grep -q '^X-Spam-Status: No,.*SPF_PASS' "$aux/pass1.raw" || fail "pass1 status: $(hdrs pass1)"
grep -q 'SPF_FAIL' "$aux/pass1.raw" && fail "pass1 has SPF_FAIL: $(hdrs pass1)"
ok "a@pass.test from 192.0.2.9 (listed): Received-SPF: pass"

# ---- the record that kills the helper -----------------------------------
pids_before=$(kr_worker_pids | sort | tr '\n' ' ')
[[ -n $pids_before ]] || fail "no worker pids"
# The workers' helpers (their children; other tests may run helpers too).
helpers() { pgrep -x -P "$(tr ' ' ',' <<<"${pids_before% }")" kurier-spf | sort | tr '\n' ' ' || true; }
helpers_before=$(helpers)
[[ -n $helpers_before ]] || fail "no kurier-spf helper under the workers"
send crash1 a@crash.test
grep -q '^Received-SPF: temperror ' "$aux/crash1.raw" || fail "crash1: $(hdrs crash1)"
grep -q '^X-Spam-Status: No,.*SPF_TEMPERROR' "$aux/crash1.raw" || fail "crash1 status: $(hdrs crash1)"
ok "a@crash.test (crashes libspf2): delivered, Received-SPF: temperror"
send fail2 a@fail.test
grep -q '^Received-SPF: fail ' "$aux/fail2.raw" || fail "fail2 after the crash: $(hdrs fail2)"
grep -q '^X-Spam-Status: No,.*SPF_FAIL' "$aux/fail2.raw" || fail "fail2 status: $(hdrs fail2)"
ok "the next a@fail.test gets fail again (helper restarted)"
pids_after=$(kr_worker_pids | sort | tr '\n' ' ')
[[ $pids_after == "$pids_before" ]] || fail "worker pids changed: [$pids_before] -> [$pids_after]"
[[ $(kr_crashes) == 0 ]] || fail "a worker crash was counted"
helpers_after=$(helpers)
[[ -n $helpers_after && $helpers_after != "$helpers_before" ]] ||
	fail "no new kurier-spf helper: [$helpers_before] -> [$helpers_after]"
ok "workers untouched (${pids_after% }), no crash counted, a new helper runs"
