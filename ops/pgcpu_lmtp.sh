#!/usr/bin/env bash
# ops/pgcpu_lmtp.sh BUILD_DIR [MESSAGES] [KURIERD]: PostgreSQL CPU per LMTP
# delivery, roughly (issue 12). A 20-node stack (tests/integration/lib.sh,
# var/test-prep on ports 19200..), 100 users, PGCPU_WARMUP (default 300) deliveries of warm-up,
# then MESSAGES (default 3000) deliveries by build/<mode>/bench/lmtp (16
# sessions, 4096 bytes). CPU of PostgreSQL is utime+stime of every
# postmaster, its live children, and its reaped children (cutime+cstime),
# from /proc, before and after. Also kurierd's CPU (master + workers) and
# how many kurierd backends were started during the run (pg_stat_activity
# backend_start). KURIERD overrides the kurierd binary (to compare
# builds). With PGCPU_PERF=FILE, perf records the cluster's processes
# during the measured load into FILE. Also the messages per group commit
# (kurier_store_commit_messages on /metrics). Config keys go in through
# KR_CONF_EXTRA (tests/integration/lib.sh), e.g.
# KR_CONF_EXTRA=$'[storage]\ngroup_commit_wait = 0'. Then, once the
# full-text queue is drained, PostgreSQL's CPU again: the indexing behind
# delivery included; and again after a VACUUM of the full-text tables,
# which merges what GIN left in its pending lists. A shared machine
# makes the numbers indicative only. PGCPU_SQL runs on every node before
# the warm-up. Run it under flock /tmp/kr-integ.lock.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
export KR_BUILD=${1:?usage: ops/pgcpu_lmtp.sh BUILD_DIR [MESSAGES] [KURIERD]}
N=${2:-3000}
. tests/integration/lib.sh
[[ -n ${3:-} ]] && KURIERD=$3
USERS=100
kr_stack_start prep 19200 20
for ((i = 0; i < USERS; i++)); do
	printf 'u%d@bench.test:{SHA512-CRYPT}%s:::::\n' "$i" \
		"$(openssl passwd -6 "pw$i")"
done >"$KR_WORK/passwd"
kr_cli user import "$KR_WORK/passwd" >/dev/null

hz=$(getconf CLK_TCK)
# Ticks of every process of the cluster, reaped children included.
pg_ticks() {
	local t=0 pm pid
	for pm in $(head -qn1 "$KR_STACK_DIR"/pg/node*/postmaster.pid); do
		for pid in $pm $(ps -o pid= --ppid "$pm"); do
			[[ -r /proc/$pid/stat ]] || continue
			# fields after the ")": 12 utime 13 stime 14 cutime 15 cstime
			t=$((t + $(sed 's/.*) //' "/proc/$pid/stat" |
				awk -v pm="$pm" -v p="$pid" '{ print $12 + $13 + (p == pm ? $14 + $15 : 0) }')))
		done
	done
	echo "$t"
}
kd_ticks() {
	local t=0 pid
	for pid in $KR_PID $(ps -o pid= --ppid "$KR_PID"); do
		t=$((t + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
	done
	echo "$t"
}
backends() {
	local i sum=0
	for ((i = 0; i < KR_NODES; i++)); do
		sum=$((sum + $(psql -Atq "host=$PWD/$KR_STACK_DIR/pg/run port=$((KR_PORT + i)) dbname=kurier user=kurier" \
			-c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kurierd' AND backend_start > '$1'")))
	done
	echo "$sum"
}
load() {
	"$KR_BUILD/bench/lmtp" -p "$KR_LMTP" -s 16 -n "$1" -t 100 -u "$USERS" -S "$2" |
		tail -1
}
# PGCPU_SQL: statements run on every node first (an experiment's knob).
if [[ -n ${PGCPU_SQL:-} ]]; then
	for ((i = 0; i < KR_NODES; i++)); do
		psql -Atq "host=$PWD/$KR_STACK_DIR/pg/run port=$((KR_PORT + i)) dbname=kurier user=kurier" \
			-c "$PGCPU_SQL" >/dev/null
	done
fi
load "${PGCPU_WARMUP:-300}" 7 >/dev/null
sleep 1
t0=$(date -u '+%F %T.%N+00')
before=$(backends '1970-01-01')
perf=
if [[ -n ${PGCPU_PERF:-} ]]; then
	pids=$(for pm in $(head -qn1 "$KR_STACK_DIR"/pg/node*/postmaster.pid); do
		echo "$pm" $(ps -o pid= --ppid "$pm"); done | tr -s ' \n' ',,')
	perf record -q ${PGCPU_PERF_OPTS:--g} -o "$PGCPU_PERF" -p "${pids%,}" 2>/dev/null &
	perf=$!
	sleep 1
fi
commits() {
	kr_admin /metrics | awk '$1 == "kurier_store_commit_messages_count" { c = $2 }
		$1 == "kurier_store_commit_messages_sum" { m = $2 } END { print c + 0, m + 0 }'
}
c0=$(commits)
p0=$(pg_ticks) k0=$(kd_ticks) s0=$(date +%s.%N)
out=$(load "$N" 11)
[[ -n $perf ]] && kill -INT "$perf" && wait "$perf" || true
p1=$(pg_ticks) k1=$(kd_ticks) s1=$(date +%s.%N)
echo "$out"
# The indexing behind delivery: until every shard's full-text queue is
# empty (at most 120 s), then the cluster's CPU again.
backlog() { kr_admin /metrics | awk '$1 ~ /^kurier_fts_backlog/ { n += $2 } END { print n + 0 }'; }
for ((i = 0; i < 1200; i++)); do
	[[ $(backlog) == 0 ]] && break
	sleep 0.1
done
p2=$(pg_ticks)
awk -v n="$N" -v p="$((p2 - p0))" -v hz="$hz" -v b="$(backlog)" 'BEGIN {
	printf "pgcpu: with the full-text queue drained (backlog %d): postgres_cpu=%.2fs (%.0f us/delivery)\n",
		b, p / hz, p / hz / n * 1e6 }'
# GIN defers part of an insert (its pending list) to the next VACUUM:
# that is indexing work too, so it is done here and counted.
for ((i = 0; i < KR_NODES; i++)); do
	psql -Atq "host=$PWD/$KR_STACK_DIR/pg/run port=$((KR_PORT + i)) dbname=kurier user=kurier" \
		-c "VACUUM message_fts" -c "VACUUM fts_queue" >/dev/null
done
p3=$(pg_ticks)
awk -v n="$N" -v p="$((p3 - p0))" -v hz="$hz" 'BEGIN {
	printf "pgcpu: and after VACUUM of message_fts and fts_queue (GIN pending lists merged): postgres_cpu=%.2fs (%.0f us/delivery)\n",
		p / hz, p / hz / n * 1e6 }'
c1=$(commits)
awk -v a="$c0" -v b="$c1" 'BEGIN { split(a, x, " "); split(b, y, " ");
	printf "pgcpu: commits=%d messages=%d (%.2f messages per commit)\n",
		y[1] - x[1], y[2] - x[2], (y[2] - x[2]) / (y[1] - x[1] > 0 ? y[1] - x[1] : 1) }'
new=$(backends "$t0")
all=$(backends '1970-01-01')
awk -v n="$N" -v p="$((p1 - p0))" -v k="$((k1 - k0))" -v hz="$hz" -v s="$s0" -v e="$s1" \
	-v new="$new" -v all="$all" -v before="$before" 'BEGIN {
	printf "pgcpu: deliveries=%d wall=%.1fs postgres_cpu=%.2fs (%.0f us/delivery) kurierd_cpu=%.2fs (%.0f us/delivery)\n",
		n, e - s, p / hz, p / hz / n * 1e6, k / hz, k / hz / n * 1e6
	printf "pgcpu: kurierd backends before %d, after %d, started during the run %d, ended %d\n",
		before, all, new, before + new - all
}'
