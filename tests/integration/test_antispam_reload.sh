#!/usr/bin/env bash
# Filter reloads (issue 10 item 7; SPEC.md §3.3, §5) against a running
# kurierd with two workers and the dnsbl and rate modules: `kurier
# reload` (POST /api/reload) builds generation 2 in every worker; a
# module with the wrong ABI makes the next one fail with the ABI error
# while generation 2 keeps running (a delivery over LMTP gets 250,
# GET /api/antispam shows the error and generation 2); without it the
# next reload builds generation 3. A bad config is refused (422) and
# changes nothing; the endpoint needs the token and POST. A stopped
# worker shows as "pending" after the 30 s wait, the admin port
# answering meanwhile. No worker restarts, the same worker processes
# throughout.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

client() { perl tests/integration/lmtp_client.pl "$@"; }
aux=$(mktemp -d /tmp/kr-antispam-reload.XXXXXX)
chmod 0755 "$aux"
cleanup() {
	rm -rf "$aux"
	kr_stack_cleanup
}
trap cleanup EXIT

mkdir "$aux/modules"
cp "$KR_BUILD/modules/kr_dnsbl.so" "$KR_BUILD/modules/kr_rate.so" "$aux/modules/"
chmod 0755 "$aux/modules"
KR_CONF_EXTRA=$(printf '[antispam]\nenabled = true\nmodules = %s' "$aux/modules")
kr_stack_start antispam-reload 32600 2
trap cleanup EXIT
echo pw | kr_cli user add u1@reload.test >/dev/null

spam() { kr_admin /api/antispam; }
# gens: the workers' current generations, sorted, one line.
gens() { spam | jq -r '[.workers[].generation] | sort | map(tostring) | join(" ")'; }
wait_for 15 "both workers on generation 1" bash -c \
	"[[ \$(curl -sS -H 'Authorization: Bearer $KR_TOKEN' http://127.0.0.1:$KR_ADMIN/api/antispam | jq -r '[.workers[].generation] | map(tostring) | join(\" \")') == '1 1' ]]"
pids=$(kr_worker_pids | sort | tr '\n' ' ')
s=$(spam)
jq -e '.enabled == true and (.workers | length) == 2' <<<"$s" >/dev/null || fail "/api/antispam: $s"
jq -e '[.workers[].modules | map(.name) | sort] | all(. == ["dnsbl", "rate"])' <<<"$s" >/dev/null ||
	fail "modules: $s"
jq -e '[.workers[] | .last_error == "" and .open_generations == 1 and .reload_seq == 0 and .pid > 0] | all' <<<"$s" >/dev/null ||
	fail "workers: $s"
ok "GET /api/antispam: 2 workers on generation 1 with dnsbl and rate"

# ---- the endpoint's rules ---------------------------------------------
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$KR_ADMIN/api/reload")
[[ $code == 401 ]] || fail "POST /api/reload without token: $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer wrong$KR_TOKEN" \
	"http://127.0.0.1:$KR_ADMIN/api/reload")
[[ $code == 401 ]] || fail "POST /api/reload with a wrong token: $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KR_TOKEN" \
	"http://127.0.0.1:$KR_ADMIN/api/reload")
[[ $code == 405 ]] || fail "GET /api/reload: $code"
[[ $(gens) == "1 1" ]] || fail "refused requests reloaded: $(gens)"
ok "POST /api/reload: 401 without or with a wrong token, 405 for GET, nothing reloaded"

# ---- 1. reload: generation 2 ------------------------------------------
out=$(kr_cli reload) || fail "kurier reload: $out"
[[ $out == "reloaded: generation 2 on 2 workers" ]] || fail "kurier reload said: $out"
[[ $(gens) == "2 2" ]] || fail "after reload: $(gens)"
ok "kurier reload: $out"

# ---- 2. a module with the wrong ABI: generation 2 stays ---------------
cp "$KR_BUILD/test-modules/kr_badabi.so" "$aux/modules/"
set +e
out=$(kr_cli reload 2>&1)
rc=$?
set -e
[[ $rc == 1 ]] || fail "kurier reload with a bad module: exit $rc: $out"
[[ $out == *"kr_badabi.so: filter ABI"*"generation 2 stays"* ]] || fail "kurier reload said: $out"
ok "kurier reload with kr_badabi.so: exit 1: $out"
msg=$aux/m1
printf 'From: a@ext.test\r\nTo: u1@reload.test\r\nSubject: kept\r\nMessage-ID: <m1@ext.test>\r\n\r\nhello\r\n' >"$msg"
r=$(client deliver "$KR_LMTP" u1@reload.test "$msg" 127.0.0.3)
[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "delivery after the failed reload: [$r]"
s=$(spam)
[[ $(gens) == "2 2" ]] || fail "generation after the failed reload: $s"
jq -e '[.workers[] | (.last_error | test("kr_badabi.so: filter ABI")) and .reload_seq == 2 and (.modules | length) == 2] | all' \
	<<<"$s" >/dev/null || fail "/api/antispam after the failed reload: $s"
ok "deliveries go on (250) on generation 2; /api/antispam shows the ABI error"

# ---- 3. a refused config changes nothing ------------------------------
cp "$KR_CONF" "$aux/conf.good"
printf '[antispam]\nno_such_key = 1\n' >>"$KR_CONF"
code=$(curl -sS -o "$aux/bad.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $KR_TOKEN" \
	"http://127.0.0.1:$KR_ADMIN/api/reload")
[[ $code == 422 ]] || fail "POST /api/reload with a bad config: $code $(cat "$aux/bad.json")"
jq -e '.error | test("no_such_key")' "$aux/bad.json" >/dev/null || fail "bad config answer: $(cat "$aux/bad.json")"
set +e
out=$(kr_cli reload 2>&1)
rc=$?
set -e
cp "$aux/conf.good" "$KR_CONF"
[[ $rc == 1 ]] || fail "kurier reload of a bad config: exit $rc: $out"
s=$(spam)
jq -e '[.workers[] | .reload_seq == 2 and .generation == 2] | all' <<<"$s" >/dev/null ||
	fail "a refused config reached the workers: $s"
ok "a bad config: 422 with the config error, workers untouched"

# ---- 4. without the bad module: generation 3 --------------------------
rm "$aux/modules/kr_badabi.so"
out=$(kr_cli reload) || fail "kurier reload: $out"
[[ $out == "reloaded: generation 3 on 2 workers" ]] || fail "kurier reload said: $out"
s=$(spam)
jq -e '[.workers[] | .generation == 3 and .last_error == "" and .reload_seq == 3] | all' <<<"$s" >/dev/null ||
	fail "after the third reload: $s"
# The old generations close once their checks are done.
wait_for 5 "generations 1 and 2 closed" bash -c \
	"curl -sS -H 'Authorization: Bearer $KR_TOKEN' http://127.0.0.1:$KR_ADMIN/api/antispam | jq -e '[.workers[].open_generations == 1] | all' >/dev/null"
r=$(client deliver "$KR_LMTP" u1@reload.test "$msg" 127.0.0.3)
[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "delivery on generation 3: [$r]"
ok "kurier reload without it: $out; deliveries go on"

# ---- 5. a worker that does not report: pending after 30 s -------------
# The wait is on the master's loop: the admin port answers meanwhile.
stopped=$(kr_worker_pids | head -n 1)
kill -STOP "$stopped"
start=$SECONDS
curl -sS --max-time 45 -X POST -H "Authorization: Bearer $KR_TOKEN" \
	"http://127.0.0.1:$KR_ADMIN/api/reload" >"$aux/pending.json" &
waiter=$!
sleep 1
t0=$(date +%s%N)
kr_admin /api/workers | jq -e '.workers | length == 2' >/dev/null || fail "/api/workers during the wait"
kr_admin /api/antispam >/dev/null || fail "/api/antispam during the wait"
ms=$((($(date +%s%N) - t0) / 1000000))
[[ $ms -lt 1000 ]] || fail "the admin port took $ms ms while a reload waited"
kill -0 "$waiter" 2>/dev/null || fail "POST /api/reload answered before the stopped worker: $(cat "$aux/pending.json")"
wait "$waiter" || fail "POST /api/reload with a stopped worker failed"
took=$((SECONDS - start))
kill -CONT "$stopped"
s=$(cat "$aux/pending.json")
[[ $took -ge 28 && $took -le 40 ]] || fail "the wait took $took s: $s"
jq -e --argjson p "$stopped" '.error == null and .generation == 4 and
	([.workers[] | select(.pid == $p) | .reload] == ["pending"]) and
	([.workers[] | select(.pid != $p) | .reload] == ["done"])' <<<"$s" >/dev/null ||
	fail "answer with a stopped worker: $s"
wait_for 10 "the stopped worker catching up" bash -c \
	"[[ \$(curl -sS -H 'Authorization: Bearer $KR_TOKEN' http://127.0.0.1:$KR_ADMIN/api/antispam | jq -r '[.workers[].generation] | map(tostring) | join(\" \")') == '4 4' ]]"
ok "a stopped worker shows \"pending\" after ${took} s (admin answered in $ms ms meanwhile); continued, it reaches generation 4"

[[ $(kr_crashes) == 0 ]] || fail "a worker crashed"
[[ $(kr_worker_pids | sort | tr '\n' ' ') == "$pids" ]] || fail "workers changed: $pids -> $(kr_worker_pids | tr '\n' ' ')"
ok "no worker restarted (same pids: $pids)"

# A clean stop; under the sanitizers the log would hold their reports.
kill -TERM "$KR_PID"
wait_for 20 "kurierd to stop" bash -c "! kill -0 $KR_PID 2>/dev/null"
KR_PID=
! grep -E 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$KR_WORK/kurierd.log" ||
	fail "sanitizer reports in the log"
ok "kurierd stopped cleanly, no sanitizer reports"
