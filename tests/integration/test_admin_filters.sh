#!/usr/bin/env bash
# Filter generations on the admin side (issue 11; SPEC.md §3.3, §5;
# API11.md /api/filters) against a running kurierd with two workers and
# the hold and rate modules: generation 1 on both workers with each
# module's version; a message held by the hold module keeps generation
# 1 in flight (shown within a second, no write per message); after
# `kurier reload` two generations show: 2 active on both workers, 1
# retiring with its one check on the worker that runs it; once the
# check is done only generation 2 stays. A module with the wrong ABI
# shows as last_error (/api/filters) while generation 2 stays active,
# and its error lines in /api/errors (the ring of recent errors) once
# the admin routes it.
# Reads /api/filters when the admin routes it, else the same
# generations from /api/antispam.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

client() { perl tests/integration/lmtp_client.pl "$@"; }
aux=$(mktemp -d /tmp/kr-admin-filters.XXXXXX)
chmod 0755 "$aux"
cleanup() {
	rm -rf "$aux"
	kr_stack_cleanup
}
trap cleanup EXIT

mkdir "$aux/modules"
cp "$KR_BUILD/modules/kr_rate.so" "$KR_BUILD/test-modules/kr_hold.so" "$aux/modules/"
chmod 0755 "$aux/modules"
# Messages with X-Kr-Hold stay in the hold module this long.
export KR_TEST_HOLD_MS=6000
KR_CONF_EXTRA=$(printf '[antispam]\nenabled = true\nmodules = %s\ncheck_timeout = 20s\nreloadable = hold' \
	"$aux/modules")
kr_stack_start admin-filters 18700 2
trap cleanup EXIT
echo pw | kr_cli user add u1@filters.test >/dev/null

# filters: the /api/filters document, or /api/antispam (the same
# generations) before the admin routes /api/filters.
filters() {
	local code
	code=$(curl -sS --max-time 10 -o "$aux/filters.json" -w '%{http_code}' \
		-H "Authorization: Bearer $KR_TOKEN" "http://127.0.0.1:$KR_ADMIN/api/filters")
	if [[ $code == 200 ]]; then
		cat "$aux/filters.json"
	else
		kr_admin /api/antispam
	fi
}
routed=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
	-H "Authorization: Bearer $KR_TOKEN" "http://127.0.0.1:$KR_ADMIN/api/filters")
# gens: "id:state:in_flight:workers" per generation, newest first.
gens() { filters | jq -r '[.generations[] | "\(.id):\(.state):\(.in_flight):\(.workers | map(tostring) | join(","))"] | join(" ")'; }
export -f filters gens kr_admin
export aux KR_TOKEN KR_ADMIN
wait_gens() { # SECONDS WANT
	wait_for "$1" "generations '$2' (now: $(gens))" bash -c "[[ \$(gens) == '$2' ]]"
}

# ---- 1. generation 1 on both workers, with the modules' versions ------
wait_gens 15 "1:active:0:0,1"
f=$(filters)
now=$(($(date +%s) * 1000))
jq -e '.enabled == true and (.generations | length) == 1' <<<"$f" >/dev/null || fail "enabled: $f"
jq -e '.generations[0].modules == [{"name":"hold","version":"test"},{"name":"rate","version":"1"}]' \
	<<<"$f" >/dev/null || fail "modules: $f"
jq -e --argjson now "$now" '.generations[0].loaded_at_ms | (. > $now - 60000 and . <= $now + 1000)' \
	<<<"$f" >/dev/null || fail "loaded_at_ms: $f (now $now)"
loaded1=$(jq '.generations[0].loaded_at_ms' <<<"$f")
ok "generation 1 active on workers 0,1; modules hold test, rate 1; loaded_at_ms $loaded1 (api/filters: $routed)"

# ---- 2. a held message keeps generation 1 in flight -------------------
printf 'X-Kr-Hold: yes\r\nFrom: a@ext.test\r\nTo: u1@filters.test\r\nSubject: held\r\nMessage-ID: <held@ext.test>\r\n\r\nheld\r\n' >"$aux/held.eml"
t0=$(date +%s%N)
client deliver "$KR_LMTP" u1@filters.test "$aux/held.eml" >"$aux/held.out" 2>&1 &
held=$!
wait_for 5 "the held check in flight" bash -c "[[ \$(gens) == 1:active:1:* ]]"
t1=$(date +%s%N)
holder=$(filters | jq -r '.generations[0].workers | length')
[[ $holder == 2 ]] || fail "workers of generation 1: $(filters)"
ok "the held message shows as in_flight 1 on generation 1 after $(((t1 - t0) / 1000000)) ms"

# ---- 3. reload: 2 active, 1 retiring with its check ------------------
out=$(kr_cli reload) || fail "kurier reload: $out"
[[ $out == "reloaded: generation 2 on 2 workers" ]] || fail "kurier reload said: $out"
f=$(filters)
g=$(gens)
[[ $g =~ ^2:active:0:0,1\ 1:retiring:1:[01]$ ]] || fail "after reload: $g: $f"
# Generation 1's time is the earliest of the workers holding it.
jq -e --argjson l1 "$loaded1" '.generations[0].loaded_at_ms > $l1 and
	(.generations[1].loaded_at_ms | . >= $l1 and . < $l1 + 5000)' \
	<<<"$f" >/dev/null || fail "loaded_at_ms after reload: $f"
jq -e '[.generations[].modules | map(.name)] == [["hold","rate"],["hold","rate"]]' <<<"$f" >/dev/null ||
	fail "modules after reload: $f"
ok "after kurier reload: $g (generation 2 active on both, 1 retiring with the held check)"

# ---- 4. the check done: only generation 2 ----------------------------
wait "$held" || fail "held delivery: $(cat "$aux/held.out")"
r=$(cat "$aux/held.out")
[[ ${r%%|*} == "250 2.0.0 Ok" ]] || fail "held delivery: [$r]"
wait_gens 5 "2:active:0:0,1"
ok "held message delivered ($r); generation 1 closed: $(gens)"

# ---- 5. a module with the wrong ABI: last_error, 2 stays --------------
cp "$KR_BUILD/test-modules/kr_badabi.so" "$aux/modules/"
set +e
out=$(kr_cli reload 2>&1)
rc=$?
set -e
[[ $rc == 1 ]] || fail "kurier reload with a bad module: exit $rc: $out"
[[ $(gens) == "2:active:0:0,1" ]] || fail "generations after a failed reload: $(gens)"
if [[ $routed == 200 ]]; then
	filters | jq -e '.last_error | test("kr_badabi.so: filter ABI")' >/dev/null ||
		fail "last_error: $(filters)"
	ok "a bad module: last_error '$(filters | jq -r .last_error)', generation 2 stays"
else
	kr_admin /api/antispam | jq -e '[.workers[].last_error | test("kr_badabi.so: filter ABI")] | all' >/dev/null ||
		fail "last_error: $(kr_admin /api/antispam)"
	ok "a bad module: each worker's last_error names it, generation 2 stays"
fi
# ---- 6. the workers' error lines in the ring of recent errors --------
# Each worker logged antispam.failed at ERROR: /api/errors (once the
# admin routes it) lists both, newest first, whole lines.
code=$(curl -sS --max-time 10 -o "$aux/errors.json" -w '%{http_code}' \
	-H "Authorization: Bearer $KR_TOKEN" "http://127.0.0.1:$KR_ADMIN/api/errors")
if [[ $code == 200 ]]; then
	jq -e '[.errors[] | select(.event == "antispam.failed" and .level == "error" and
		(.proc | test("^worker\\.[01]$")) and (.line | test("kr_badabi.so")) and
		(.line | startswith("ts=")))] | (map(.proc) | unique | length) == 2' \
		"$aux/errors.json" >/dev/null || fail "/api/errors: $(cat "$aux/errors.json")"
	jq -e '[.errors[].ts_ms] | . == (sort | reverse)' "$aux/errors.json" >/dev/null ||
		fail "/api/errors not newest first: $(cat "$aux/errors.json")"
	ok "/api/errors: both workers' antispam.failed lines, newest first"
else
	ok "/api/errors not routed yet ($code): ring checked by test_logring only"
fi
[[ $(kr_crashes) == 0 ]] || fail "worker crashes: $(kr_crashes)"
ok "no worker crashed"
