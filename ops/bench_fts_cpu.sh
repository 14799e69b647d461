#!/usr/bin/env bash
# ops/bench_fts_cpu.sh (issue 12, rough): PostgreSQL CPU per LMTP
# delivery with full-text indexing behind delivery or inline. Modes,
# alternated ROUNDS times, N messages each (bench/lmtp: 16 sessions,
# 4 KiB, 1000 users, 20 shards, 2 workers):
#  queued  the default (bound 5000, worker 0's indexer as it runs);
#  held    queued, with the indexer held back during the run (a session
#          holds fts_state EXCLUSIVE): the delivery transaction alone;
#  inline  fts_state.bound = 0 on every node: delivery builds the
#          tsvector as before 008.
# "during" is the cluster's CPU over the run, "incl_indexing" adds the
# drain of the queue after it. CPU = utime + stime of every process of
# the cluster from /proc (+ cutime + cstime of the postmasters: exited
# children). Runs under the integration lock, ports 19000-19019:
#   flock -o /tmp/kr-integ.lock env MODES="held inline" ops/bench_fts_cpu.sh
# A shared machine makes the figures indicative only.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/integration/lib.sh
N=${N:-3000} ROUNDS=${ROUNDS:-2}
kr_stack_start ftsbench 19000 20
for ((i = 0; i < 1000; i++)); do printf 'p%d\n' $i; done | openssl passwd -6 -stdin |
	awk '{ printf "u%d@bench.test:{SHA512-CRYPT}%s:::::\n", NR - 1, $0 }' >"$KR_WORK/passwd"
kr_cli user import "$KR_WORK/passwd" >/dev/null
tck=$(getconf CLK_TCK)
pm_pids() { for f in "$KR_STACK_DIR"/pg/node*/postmaster.pid; do [[ -f $f ]] && head -1 "$f"; done | sort -u; }
# cpu ticks of the cluster: postmasters (self + reaped children) + live children
pg_ticks() {
	local pm s=0 p
	for pm in $(pm_pids); do
		s=$((s + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")))
		for p in $(pgrep -P "$pm"); do
			s=$((s + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
		done
	done
	echo $s
}
kd_ticks() { local s=0 p; for p in $KR_PID $(pgrep -P "$KR_PID"); do s=$((s + $(awk '{ print $14 + $15 + $16 + $17 }' /proc/$p/stat))); done; echo $s; }
psql_all() { for ((i = 0; i < KR_NODES; i++)); do psql -X -qtA "host=$PWD/$KR_STACK_DIR/pg/run port=$((KR_PORT + i)) dbname=kurier user=kurier" -c "$1"; done; }
queue() { psql_all "SELECT count(*) FROM fts_queue" | awk '{ s += $1 } END { print s + 0 }'; }
drain() { for _ in $(seq 300); do [[ $(queue) == 0 ]] && return; sleep 0.2; done; echo "queue not drained" >&2; }
[[ -n $(pm_pids) ]] || { echo "no postmaster pids" >&2; exit 1; }
build/release/bench/lmtp -p "$KR_LMTP" -s 16 -n 1000 -S 99 >/dev/null
drain
seed=1
for ((r = 0; r < ROUNDS; r++)); do
	for mode in ${MODES:-queued inline}; do
		if [[ $mode == inline ]]; then b=0; else b=20000; fi
		psql_all "UPDATE fts_state SET bound = $b" >/dev/null
		holders=()
		if [[ $mode == held ]]; then
			for ((i = 0; i < KR_NODES; i++)); do
				psql -X -q "host=$PWD/$KR_STACK_DIR/pg/run port=$((KR_PORT + i)) dbname=kurier user=kurier" \
					-c "BEGIN; LOCK TABLE fts_state IN EXCLUSIVE MODE; SELECT pg_sleep(14); COMMIT;" >/dev/null 2>&1 &
				holders+=($!)
			done
		fi
		sync; sleep 2
		p0=$(pg_ticks) k0=$(kd_ticks)
		out=$(build/release/bench/lmtp -p "$KR_LMTP" -s 16 -n "$N" -S $((seed++)))
		p1=$(pg_ticks) k1=$(kd_ticks) q=$(queue)
		[[ ${#holders[@]} -eq 0 ]] || wait "${holders[@]}"
		drain
		p2=$(pg_ticks)
		rate=$(sed -n 's/.*rate=\([^ ]*\).*/\1/p' <<<"$out")
		awk -v m=$mode -v n=$N -v t=$tck -v a=$((p1 - p0)) -v b=$((p2 - p0)) -v k=$((k1 - k0)) -v q=$q -v r=$rate \
			'BEGIN { printf "%-7s rate=%s msg/s  pg_cpu_ms/msg during=%.3f incl_indexing=%.3f  kurierd_cpu_ms/msg=%.3f  queued_at_end=%d\n", m, r, a*1000/t/n, b*1000/t/n, k*1000/t/n, q }'
	done
done
