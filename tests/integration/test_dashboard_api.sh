#!/usr/bin/env bash
# The dashboard's actions through a running kurierd (issue 11, SPEC.md
# §3.3), without a browser: a drained shard's user gets 451 4.3.0 over
# LMTP and -32010 over JSON-RPC at once, other shards' users are served,
# /api/nodes and /api/overview show it, undrain restores delivery;
# a rolling cycle replaces every worker one at a time (new pids, no
# crash, mail delivered during it); every action is listed with who
# asked; the session cookie works for GETs and, with the right Origin
# only, for POSTs.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

client() { perl tests/integration/lmtp_client.pl "$@"; }
kr_stack_start dashapi 18900 2
A="http://127.0.0.1:$KR_ADMIN"
post() { curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $KR_TOKEN" "$A$1"; }
msg=$KR_WORK/msg.eml
printf 'From: a@ext.test\r\nTo: u@d.test\r\nSubject: hi\r\n\r\nhello\r\n' >"$msg"

# Two users on different shards.
declare -A on
for i in $(seq 1 40); do
	out=$(echo pw | kr_cli user add "u$i@d.test")
	s=$(sed -n 's/.*(shard \([0-9]*\)).*/\1/p' <<<"$out")
	[[ -n ${on[$s]:-} ]] || on[$s]=u$i@d.test
	[[ -n ${on[0]:-} && -n ${on[1]:-} ]] && break
done
[[ -n ${on[0]:-} && -n ${on[1]:-} ]] || fail "no users on both shards"
drained=${on[1]} other=${on[0]}
KR_TOK=$(kr_login "$drained" pw)

# ---- drain ------------------------------------------------------------------
[[ $(post /api/nodes/1/drain) == 200 ]] || fail "drain refused"
t0=$(date +%s%N)
r=$(LMTP_RCPT_ANY=1 client deliver "$KR_LMTP" "$drained" "$msg")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ ${r%%|*} == "451 4.3.0"* ]] || fail "drained delivery: [$r]"
(( ms < 2000 )) || fail "drained delivery took $ms ms, not at once"
r=$(client deliver "$KR_LMTP" "$other" "$msg")
[[ ${r%%|*} == "250 "* ]] || fail "other shard during drain: [$r]"
code=$(kr_call mailbox.list '{}' | jq '.error.code')
[[ $code == -32010 ]] || fail "drained JSON-RPC: $code"
state=$(kr_admin /api/nodes | jq -r '.nodes[] | select(.shard == 1) | .state')
[[ $state == draining ]] || fail "node state $state"
kr_admin /api/overview | jq -e '.health == "degraded" and (.problems | index("shard 1 draining"))' >/dev/null ||
	fail "overview: $(kr_admin /api/overview)"
echo "drain: 451 4.3.0 in $ms ms, JSON-RPC $code"
[[ $(post /api/nodes/1/undrain) == 200 ]] || fail "undrain refused"
sleep 1
r=$(client deliver "$KR_LMTP" "$drained" "$msg")
[[ ${r%%|*} == "250 "* ]] || fail "after undrain: [$r]"
[[ $(post /api/nodes/7/drain) == 404 ]] || fail "drain of no shard"

# ---- cycle ------------------------------------------------------------------
before=$(kr_worker_pids | sort | tr '\n' ' ')
[[ $(post /api/workers/cycle) == 202 ]] || fail "cycle refused"
[[ $(post /api/workers/cycle) == 409 ]] || fail "second cycle not refused"
delivered=0
for i in $(seq 1 300); do
	r=$(client deliver "$KR_LMTP" "$other" "$msg")
	[[ ${r%%|*} == "250 "* ]] && delivered=$((delivered + 1))
	kr_admin /api/workers | jq -e '.cycle.active' >/dev/null || break
	sleep 0.1
done
kr_admin /api/workers | jq -e '.cycle.active == false and .cycle.done == 2' >/dev/null ||
	fail "cycle did not finish: $(kr_admin /api/workers)"
after=$(kr_worker_pids | sort | tr '\n' ' ')
for p in $before; do
	[[ " $after " != *" $p "* ]] || fail "worker $p not cycled ($before -> $after)"
done
[[ $(kr_crashes) == 0 ]] || fail "crashes during the cycle"
(( delivered == i )) || fail "$((i - delivered)) of $i deliveries failed during the cycle"
echo "cycle: workers $before-> $after, $delivered deliveries during it"

# ---- actions and the session cookie -----------------------------------------
kr_admin /api/actions | jq -e '[.actions[] | .action] == ["cycle", "cycle", "undrain", "drain"]' >/dev/null ||
	fail "actions: $(kr_admin /api/actions)"
cookie=$(curl -si "$A/?token=$KR_TOKEN" | tr -d '\r' | sed -n 's/^Set-Cookie: \([^;]*\);.*/\1/p')
[[ -n $cookie ]] || fail "no cookie"
[[ $(curl -s -o /dev/null -w '%{http_code}' -b "$cookie" "$A/api/nodes") == 200 ]] || fail "cookie GET"
[[ $(curl -s -o /dev/null -w '%{http_code}' -b "$cookie" -X POST "$A/api/nodes/0/drain") == 403 ]] ||
	fail "cookie POST without Origin"
[[ $(curl -s -o /dev/null -w '%{http_code}' -b "$cookie" -H "Origin: $A" -X POST "$A/api/nodes/0/undrain") == 200 ]] ||
	fail "cookie POST with Origin"
kr_admin /api/actions | jq -e '.actions[0].who == "cookie"' >/dev/null || fail "who"
grep -q 'event=admin.action action=undrain target="shard 0" who=cookie' "$KR_WORK/kurierd.log" ||
	fail "action not logged"
echo "test_dashboard_api: ok"
