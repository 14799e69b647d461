#!/usr/bin/env bash
# make fuzz / make fuzz-merge: runs the libFuzzer targets built in
# FUZZ_DIR (build/fuzz) one after the other, never two at once (the
# machine is shared), at nice FUZZ_NICE (default 10).
#
#   ops/fuzz.sh run FUZZ_DIR SECONDS TARGET...
#     Each target fuzzes its work corpus FUZZ_DIR/corpus/<t>/, which
#     starts from tests/fuzz/corpus/<t>/ (read, never written) and grows
#     from run to run, for SECONDS (0: no time limit) and at most
#     FUZZ_RUNS executions when that is set. Crashes, leaks, timeouts
#     and out-of-memory inputs land in FUZZ_DIR/crashes/<t>/, the log in
#     FUZZ_DIR/logs/<t>.log. One line per target: executions (libFuzzer's
#     stat::number_of_executed_units), executions per second, inputs in
#     the corpus (libFuzzer's count) and seeds, new crashes. Exits 1 when
#     a target crashed.
#   ops/fuzz.sh merge FUZZ_DIR 0 TARGET...
#     Adds to tests/fuzz/corpus/<t>/ the work corpus inputs that reach
#     new coverage (libFuzzer -merge=1 keeps the smallest input per
#     feature); run it only when you mean to commit them.
#
# Optional per target: tests/fuzz/<t>.dict (a libFuzzer dictionary).
# FUZZ_ARGS adds libFuzzer flags (e.g. -max_len=65536). Writes nothing
# outside FUZZ_DIR but, on merge, the corpora.
set -uo pipefail
cd "$(dirname "$0")/.."

mode=${1:?usage: ops/fuzz.sh run|merge FUZZ_DIR SECONDS TARGET...}
dir=${2:?FUZZ_DIR}
secs=${3:?SECONDS}
shift 3
[[ $# -gt 0 ]] || {
	echo "fuzz: no targets" >&2
	exit 2
}
nice_level=${FUZZ_NICE:-10}
runs=${FUZZ_RUNS:-}
read -ra extra <<<"${FUZZ_ARGS:-}"

mkdir -p "$dir/tmp" "$dir/logs"
# libFuzzer's merge control files go to TMPDIR.
export TMPDIR=$PWD/$dir/tmp

stat_of() { # stat_of LOG NAME: the last value libFuzzer printed
	sed -n "s/^stat::$2: *//p" "$1" | tail -n 1
}

count_files() {
	find "$1" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | wc -l
}

fuzz_run() {
	local t=$1 bin=$dir/fuzz_$1 seeds=tests/fuzz/corpus/$1
	local work=$dir/corpus/$1 crashes=$dir/crashes/$1 log=$dir/logs/$1.log
	local args=(-print_final_stats=1 -max_total_time="$secs" -timeout=10
		-artifact_prefix="$crashes/")
	local rc before execs eps

	mkdir -p "$work" "$crashes"
	[[ -n $runs ]] && args+=(-runs="$runs")
	[[ -f tests/fuzz/$t.dict ]] && args+=(-dict="tests/fuzz/$t.dict")
	before=$(count_files "$crashes")
	# The work corpus comes first: libFuzzer writes new inputs there.
	nice -n "$nice_level" "$bin" "${args[@]}" "${extra[@]}" "$work" "$seeds" \
		>"$log" 2>&1
	rc=$?
	execs=$(stat_of "$log" number_of_executed_units)
	eps=$(stat_of "$log" average_exec_per_sec)
	# libFuzzer's own count: the work directory also keeps the inputs
	# that smaller ones replaced.
	units=$(grep -o 'corp: [0-9]*' "$log" | tail -n 1)
	printf 'fuzz %-8s %12s execs %7s execs/s  corpus %s (seeds %d)  crashes %d%s\n' \
		"$t" "${execs:-?}" "${eps:-?}" "${units#corp: }" \
		"$(count_files "$seeds")" $(($(count_files "$crashes") - before)) \
		"$([[ $rc -ne 0 ]] && echo "  FAILED (exit $rc, see $log)")"
	[[ $rc -eq 0 ]]
}

fuzz_merge() {
	local t=$1 bin=$dir/fuzz_$1 seeds=tests/fuzz/corpus/$1
	local work=$dir/corpus/$1 log=$dir/logs/$1.merge.log before rc

	before=$(count_files "$seeds")
	if [[ $(count_files "$work") -eq 0 ]]; then
		echo "merge $t: no work corpus in $work (run make fuzz first)"
		return 0
	fi
	nice -n "$nice_level" "$bin" -merge=1 -timeout=10 \
		-artifact_prefix="$dir/crashes/$t/" "${extra[@]}" \
		"$seeds" "$work" >"$log" 2>&1
	rc=$?
	printf 'merge %-8s corpus %d -> %d%s\n' "$t" "$before" \
		"$(count_files "$seeds")" \
		"$([[ $rc -ne 0 ]] && echo "  FAILED (exit $rc, see $log)")"
	[[ $rc -eq 0 ]]
}

status=0
for t in "$@"; do
	if [[ ! -x $dir/fuzz_$t || ! -d tests/fuzz/corpus/$t ]]; then
		echo "fuzz: $t: no $dir/fuzz_$t or tests/fuzz/corpus/$t" >&2
		status=1
		continue
	fi
	case $mode in
	run) fuzz_run "$t" || status=1 ;;
	merge) fuzz_merge "$t" || status=1 ;;
	*)
		echo "fuzz: unknown mode $mode" >&2
		exit 2
		;;
	esac
done
exit $status
