#!/usr/bin/env bash
# The whole suite: every cmocka unit test binary, every fuzz corpus
# replayed through its target, every integration test script, then
# (release build) the fault suite. Usage: tests/run.sh BUILD_DIR [FILTER]
# Integration scripts get KR_BUILD (the build dir) and run from the repo
# root, KR_TEST_JOBS (default 2) of them at once: each owns its ports and
# directories, and most of their time is spent waiting on PostgreSQL,
# kurierd and sleeps. A script with the line "# kr-test: serial" (timing
# bounds that a busy neighbour could break) runs alone, as does the fault
# suite. Ends with the plain line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: tests/run.sh BUILD_DIR [FILTER]}
filter=${2:-}
export KR_BUILD=$build
mkdir -p "$build/test-logs"

passed=0
failed=0
failures=()

# run_test NAME LIMIT COMMAND...: prints the PASS/FAIL line (a failure
# with its log's tail) and returns the command's status.
run_test() {
	local name=$1 limit=$2
	shift 2
	local log="$build/test-logs/${name//\//_}.log" start=$SECONDS rc
	timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
	rc=$?
	if [[ $rc -eq 0 ]]; then
		printf 'PASS %-32s %3ds\n' "$name" $((SECONDS - start))
	else
		printf 'FAIL %-32s %3ds (exit %d; log %s)\n' "$name" \
			$((SECONDS - start)) "$rc" "$log"
		tail -n 40 "$log" | sed 's/^/    | /'
	fi
	return $rc
}
record() {
	if [[ $2 -eq 0 ]]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("$1")
	fi
}
run_one() {
	run_test "$@"
	record "$1" $?
}

# The integration pool: up to KR_TEST_JOBS scripts at once, each one's
# output kept in a file and printed whole when it ends.
jobs_max=${KR_TEST_JOBS:-2}
[[ $jobs_max =~ ^[1-9][0-9]?$ ]] || jobs_max=2
pool_dir=$(mktemp -d "/tmp/kr-run.XXXXXX")
trap 'rm -rf "$pool_dir"' EXIT
declare -A pool=()
pool_reap() {
	local pid rc
	wait -n -p pid "${!pool[@]}"
	rc=$?
	cat "$pool_dir/$pid"
	record "${pool[$pid]}" $rc
	unset "pool[$pid]"
}
pool_drain() {
	while ((${#pool[@]} > 0)); do pool_reap; done
}
pool_run() {
	while ((${#pool[@]} >= jobs_max)); do pool_reap; done
	local out
	out=$(mktemp "$pool_dir/start.XXXXXX")
	run_test "$@" >"$out" 2>&1 &
	mv "$out" "$pool_dir/$!"
	pool[$!]=$1
}

for t in "$build"/tests/test_*; do
	[[ -x $t ]] || continue
	name=unit/$(basename "$t")
	[[ -z $filter || $name == *"$filter"* ]] || continue
	run_one "$name" 120 "$t"
done
# Each tests/fuzz/fuzz_<t>.c, linked with tests/fuzz/replay.c into
# BUILD_DIR/replay/<t>, over every file of tests/fuzz/corpus/<t>/ (the
# seeds and every crasher fixed). Missing binaries fail: make test-run
# builds them.
for src in tests/fuzz/fuzz_*.c; do
	[[ -f $src ]] || continue
	t=$(basename "$src" .c)
	t=${t#fuzz_}
	name=fuzz/$t
	[[ -z $filter || $name == *"$filter"* ]] || continue
	run_one "$name" 120 "$build/replay/$t" "tests/fuzz/corpus/$t"
done
# A script that tests no kurier C code (ops/ tools, say) runs in the
# release build only: sanitizers have nothing to watch there. It says
# so in a line "# kr-test: release-only".
for t in tests/integration/test_*.sh; do
	[[ -x $t ]] || continue
	name=integration/$(basename "$t" .sh)
	[[ -z $filter || $name == *"$filter"* ]] || continue
	[[ $(basename "$build") != asan ]] ||
		! grep -qx '# kr-test: release-only' "$t" || continue
	if grep -qx '# kr-test: serial' "$t"; then
		pool_drain
		run_one "$name" 600 "$t"
	else
		pool_run "$name" 600 "$t"
	fi
done
pool_drain

# The fault suite (tests/fault) measures latencies and rates under load:
# the release build only, where its bounds mean something.
if [[ $(basename "$build") != asan ]]; then
	for t in tests/fault/fault_*.sh; do
		[[ -x $t ]] || continue
		name=fault/$(basename "$t" .sh)
		[[ -z $filter || $name == *"$filter"* ]] || continue
		run_one "$name" 600 "$t"
	done
fi

[[ $failed -eq 0 ]] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
