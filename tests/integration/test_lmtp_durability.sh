#!/usr/bin/env bash
# Nothing acknowledged is lost when a worker dies (SPEC.md §6): kurierd
# with 2 workers on a fresh 20-node cluster, 200 users, a burst of 3000
# messages from bench_lmtp (16 sessions, -k: sessions of the dead
# worker reconnect and go on; only 250s are recorded), one worker
# SIGKILLed in the middle of it. Then test_lmtp_durability checks every
# acknowledged message through the store: stored exactly once, for its
# recipient, byte for byte what was sent, and at least 90 % acked.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-durable
port=${KR_TEST_DURABLE_PORT:-30800} # node i on port+i
users=200 sent=3000 seed=4242
token=$(printf 'd%.0s' $(seq 40))
work=$(mktemp -d /tmp/kr-durable.XXXXXX)
chmod 0755 "$work" # kurierd workers run as user kurier and re-read the config
pid=
bench=
cleanup() { # every step runs: a process already gone is no error
	if [[ -n $bench ]]; then kill -9 "$bench" 2>/dev/null || true; fi
	if [[ -n $pid ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$work" "$dir"
}
trap cleanup EXIT
ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"
# shellcheck disable=SC2034 # read by fail() in lib.sh
KR_DIAG=("$work/kurierd.log" "$work/bench.out")

ops/pgcluster start -n 20 -d "$dir" -p "$port" >/dev/null
lmtp=$(free_port)
admin=$(free_port "$lmtp")
{
	printf '[workers]\ncount = 2\n[admin]\nlisten = 127.0.0.1:%s\n' "$admin"
	printf 'token = %s\n[lmtp]\nlisten = 127.0.0.1:%s\n' "$token" "$lmtp"
	printf 'hostname = mx.test\n'
	printf '[jsonrpc]\nlisten = 127.0.0.1:%s\n' "$(free_port "$lmtp" "$admin")"
	grep -v '^#' "$dir/kurier.conf"
} >"$work/kurier.conf"

# The users as a Dovecot passwd-file with {SHA512-CRYPT} hashes.
for i in $(seq 0 $((users - 1))); do echo "pw$i"; done |
	openssl passwd -6 -stdin |
	awk '{ printf "u%d@bench.test:{SHA512-CRYPT}%s\n", NR - 1, $0 }' >"$work/passwd"
"$KR_BUILD/kurier" -c "$work/kurier.conf" user import "$work/passwd" >/dev/null ||
	fail "user import"

"$KURIERD" -c "$work/kurier.conf" >/dev/null 2>"$work/kurierd.log" &
pid=$!
wait_for 15 "LMTP port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$lmtp"
api() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$admin$1"; }
wait_for 10 "2 serving workers" bash -c \
	"$(declare -f api); token=$token admin=$admin; api /api/workers |
	jq -e '[.workers[] | select(.state == \"serving\")] | length == 2'"

"$KR_BUILD/bench/lmtp" -p "$lmtp" -s 16 -n "$sent" -t 60 -u "$users" \
	-S "$seed" -k -o "$work/acked" >"$work/bench.out" 2>&1 &
bench=$!
acked() { [[ -f $work/acked ]] && wc -l <"$work/acked" || echo 0; }
# Well into the burst (a tenth of it acknowledged, about a second on
# the reference machine), kill the worker that has served the most.
wait_for 30 "300 messages acknowledged" bash -c \
	"[[ -f $work/acked && \$(wc -l <$work/acked) -ge 300 ]]"
victim=$(api /api/workers | jq -r '.workers | max_by(.requests) | .pid')
[[ $victim =~ ^[0-9]+$ ]] || fail "no worker pid: $(api /api/workers)"
kill -0 "$bench" 2>/dev/null || fail "the burst was over before the kill"
before=$(acked)
kill -KILL "$victim"
ok "worker $victim SIGKILLed after $before of $sent messages were acknowledged"

rc=0
wait "$bench" || rc=$?
bench=
line=$(grep '^lmtp messages=' "$work/bench.out") || fail "bench_lmtp: no result (exit $rc)"
! grep -q 'Sanitizer' "$work/bench.out" || fail "bench_lmtp: sanitizer report"
n=$(sed -n 's/.* messages=\([0-9]*\).*/\1/p' <<<"$line")
failures=$(sed -n 's/.* failures=\([0-9]*\).*/\1/p' <<<"$line")
[[ $(acked) == "$n" ]] || fail "$n acknowledged but $(acked) lines in the acked file"
((failures > 0)) || fail "the kill failed no transaction: $line"
((n + failures <= sent)) || fail "more outcomes than messages: $line"
ok "burst done: $line"

wait_for 15 "the killed worker replaced" bash -c \
	"$(declare -f api); token=$token admin=$admin; api /api/workers |
	jq -e '[.workers[] | select(.state == \"serving\" and .pid != $victim)] | length == 2'"
ok "the master replaced worker $victim"

out=$KR_BUILD/test-logs/lmtp_durability.out
mkdir -p "$(dirname "$out")"
KR_TEST_PG_CONF=$PWD/$dir/kurier.conf KR_TEST_ACKED=$work/acked \
	KR_TEST_SENT=$sent "$KR_BUILD/tests/test_lmtp_durability" 2>&1 | tee "$out"
t=$(grep -c '^\[ RUN      \]' "$out" || true)
[[ $t -gt 0 ]] || fail "test_lmtp_durability ran no tests"
grep -q "^\[  PASSED  \] $t test(s)." "$out" ||
	fail "durability checks did not all pass (none may be skipped here)"
ok "every one of the $n acknowledged messages stored once, byte for byte"

kill -TERM "$pid"
wait "$pid" || fail "kurierd exit status $?"
pid=
ok "kurierd drains and exits 0"
