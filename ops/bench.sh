#!/usr/bin/env bash
# ops/bench.sh BUILD_DIR: `make bench`, the store-level delivery target of
# SPEC.md §7, measured side by side with its references on this machine.
#
# Set-up: a fresh 20-node cluster of our own (ops/pgcluster start -n 20
# -d var/bench -p 30400; its earlier nodes are removed first so every run
# starts from empty tables), durable as pgcluster always is (fsync=on,
# synchronous_commit=on, full_page_writes=on; checked below). The store
# tool applies the migrations and creates the 1000 bench users
# u<i>@bench.test through the store (so each lands on its shard); every
# shard then gets bench_rcpt (its bench users, numbered) and bench_text
# (1000 texts of random words from the word list of ops/bench_msg.h).
#
# The three figures, each in delivered messages per second (a message is
# about 4 KiB: 4096 bytes as received plus the per-recipient
# Return-Path/Delivered-To prefix, one recipient, the meta the store
# sends, including the body text for the full-text index):
#  (a) pgbench, ONE message per transaction: ops/bench/deliver.sql with
#      nmsg=1, i.e. `SELECT ... FROM kr_deliver_batch(...)` in autocommit:
#      UID allocation, message row, body row, counters and one commit
#      (one WAL flush) per message; body stored raw (zlib false). 16
#      pgbench processes with one client each, on shards 0..15 (shards
#      16..19 idle), all at once for DURATION seconds. Figure: the sum
#      of their tps. This is what a server gets without group commit.
#  (b) pgbench, the same rows 20 per transaction: the same script with
#      nmsg=20 (one kr_deliver_batch call with 20 messages per commit),
#      same clients and duration. Figure: sum of tps x 20. This is the
#      ceiling group commit can approach.
#  (c) kurier store: build/<mode>/bench/store, one process wired like a
#      kurierd worker (loop, io + cpu pools, connection manager, shard
#      map, store; [storage] defaults of the config), 16 deliveries in
#      flight, 4096-byte messages of varied text to random users over
#      all 20 shards; the store hashes and zlib-compresses each message
#      and group-commits per shard. A fixed message count, chosen from a
#      short calibration run so that one run takes about DURATION
#      seconds. Figure: messages answered (committed) / elapsed seconds;
#      also per-delivery latency p50/p99 and the batches (commits) used.
# After a short warm-up of (a) and the store's calibration run, each
# figure is run REPS times, interleaved (a, b, c, a, b, c, ...), with a
# VACUUM (ANALYZE) and a CHECKPOINT on every node, sync and a pause
# before each run, so that no run pays for the previous one's dirty
# pages or autovacuum work. Reported: median with min and max; the
# ratios c/a and c/b of the medians against the targets of SPEC.md §7
# (store > (a), i.e. ratio > 1; store >= 0.5 x (b)); the exact commands.
# The report also goes to BUILD_DIR/bench/results-store.txt, the output
# of each run to BUILD_DIR/bench/logs-store/. The nodes are removed at
# the end unless something failed. Other load on the machine (another
# cluster, a build) skews all three figures; compare the ratios.
# Then ops/bench_lmtp.sh adds the LMTP delivery (kurierd against
# Dovecot) and idle-memory figures (BUILD_DIR/bench/results-lmtp.txt),
# and ops/bench_rpc.sh the JSON-RPC message.list figures, cold and warm
# cache against pgbench (BUILD_DIR/bench/results-rpc.txt), and
# ops/bench_antispam.sh the rule engine against rspamd and SpamAssassin
# (BUILD_DIR/bench/results-antispam.txt), and ops/bench_matrix.sh the
# LMTP comparison over sessions, sizes and recipients with the CPU split
# per delivery and the plots (BUILD_DIR/bench/matrix*, *.png).
set -euo pipefail
shopt -s inherit_errexit

readonly PGBIN=/usr/lib/postgresql/15/bin
readonly NODES=20 PORT=30400 CLIENTS=16 DURATION=10 REPS=3
readonly USERS=1000 SIZE=4096 BATCH=20 NTEXT=1000
readonly CALIBRATE_S=3 STORE_BOUND_S=60

[[ $# -eq 1 ]] || {
	echo "usage: ops/bench.sh BUILD_DIR" >&2
	exit 2
}
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
BENCH_NAME=bench
# shellcheck source=ops/bench_lib.sh
. ops/bench_lib.sh
BUILD=${1%/}
STORE=$BUILD/bench/store
SCRIPT=ops/bench/deliver.sql
DIR=var/bench
CONF=$DIR/kurier.conf
RESULTS=$BUILD/bench/results-store.txt
LOGS=$BUILD/bench/logs-store
[[ -x $STORE ]] || die "$STORE is missing (make $STORE)"
[[ -x $PGBIN/pgbench ]] || die "no $PGBIN/pgbench (postgresql-client-15)"
mkdir -p -- "$LOGS"
rm -f -- "$LOGS"/*.log

# The nodes (some GB of WAL and tables) go once the figures are in; after
# a failure they stay for a look until the next run replaces them.
DONE=0
cleanup() {
	if ops/pgcluster stop -d "$DIR" >/dev/null 2>&1 && ((DONE)); then
		rm -rf -- "$DIR"/pg/node*
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- set-up

fresh_cluster() {
	if [[ -d $DIR/pg ]]; then
		ops/pgcluster stop -d "$DIR" >/dev/null
		rm -rf -- "$DIR"/pg/node*
	fi
	ops/pgcluster start -n "$NODES" -d "$DIR" -p "$PORT"
	RUN=$(realpath -- "$DIR/pg/run")
}

# One source for the vocabulary: the load tools' word list.
word_array() {
	local words
	words=$(sed -n '/bench_msg_words\[\] = {/,/^};/p' ops/bench_msg.h |
		grep -o '"[a-z]*"' | tr '"' "'" | paste -sd, -)
	(($(tr ',' '\n' <<<"$words" | wc -l) >= 100)) ||
		die "cannot read the word list of ops/bench_msg.h"
	printf 'ARRAY[%s]' "$words"
}

# bench_rcpt: the bench users of this shard as 0..n-1; bench_text: texts
# of random words in lines of 11, longer than any message body needs.
# The 0 * g and 0 * k keep the subqueries per row (correlated).
# Usage: shard_sql WORD_ARRAY
shard_sql() {
	cat <<EOF
DROP TABLE IF EXISTS bench_rcpt, bench_text;
CREATE TABLE bench_rcpt (n int PRIMARY KEY, address text NOT NULL);
INSERT INTO bench_rcpt
SELECT (row_number() OVER (ORDER BY id) - 1)::int, address FROM users
WHERE address LIKE 'u%@bench.test';
CREATE TABLE bench_text (n int PRIMARY KEY, subject text NOT NULL,
	body text NOT NULL);
INSERT INTO bench_text
SELECT g,
       (SELECT string_agg(a.w[1 + floor(random() * cardinality(a.w)
					   + 0 * k)::int], ' ')
	FROM generate_series(1, 3 + g % 6) k),
       (SELECT string_agg(a.w[1 + floor(random() * cardinality(a.w)
					   + 0 * k)::int]
			  || CASE WHEN k % 11 = 0 THEN E'\r\n' ELSE ' ' END, '')
	FROM generate_series(1, 900 + 0 * g) k)
FROM generate_series(0, $NTEXT - 1) g, (SELECT $1 AS w) a;
ANALYZE bench_rcpt;
ANALYZE bench_text;
EOF
}

setup() {
	local k sql words fail=0
	local -a pids=()
	"$STORE" -c "$CONF" -u "$USERS" -n 0 >"$LOGS/setup.log" 2>&1 ||
		{
			cat -- "$LOGS/setup.log" >&2
			die "store set-up (migrations, users) failed"
		}
	grep '^bench_store: users' "$LOGS/setup.log" || true
	# Out here, not inside the here-document: a failure there would
	# not stop the script.
	words=$(word_array)
	sql=$(shard_sql "$words")
	for ((k = 0; k < NODES; k++)); do
		psql_node "$k" -c "$sql" >"$LOGS/setup-$k.log" 2>&1 &
		pids+=($!)
	done
	for k in "${!pids[@]}"; do
		wait "${pids[k]}" || {
			cat -- "$LOGS/setup-$k.log" >&2
			fail=1
		}
	done
	((fail == 0)) || die "bench tables could not be created"
	for ((k = 0; k < NODES; k++)); do
		NUSERS[k]=$(psql_node "$k" -Atc 'SELECT count(*) FROM bench_rcpt')
		((NUSERS[k] > 0)) || die "shard $k has no bench users"
	done
	DURABLE=$(psql_node 0 -Atc "SELECT 'fsync=' || current_setting('fsync')
		|| ' synchronous_commit=' || current_setting('synchronous_commit')
		|| ' full_page_writes=' || current_setting('full_page_writes')")
	[[ $DURABLE == 'fsync=on synchronous_commit=on full_page_writes=on' ]] ||
		die "the cluster is not durable: $DURABLE"
}

# Every run starts with clean buffers, a quiet disk and nothing left for
# autovacuum (twenty nodes vacuuming at once would eat a run's CPU).
settle() {
	local k
	local -a pids=()
	for ((k = 0; k < NODES; k++)); do
		psql_node "$k" -c 'VACUUM (ANALYZE)' -c CHECKPOINT >/dev/null &
		pids+=($!)
	done
	for k in "${pids[@]}"; do wait "$k"; done
	sync
	sleep 2
}

# ------------------------------------------------------------------ runs

# pgbench_argv ARRAY SHARD NMSG SECONDS: the command of one client.
pgbench_argv() {
	local -n pg_argv=$1
	local k=$2 nmsg=$3 secs=$4
	# shellcheck disable=SC2034 # the caller's array
	pg_argv=("$PGBIN/pgbench" -n -M prepared -h "$RUN" -p $((PORT + k))
		-U kurier -c 1 -T "$secs" -f "$SCRIPT" -D "nmsg=$nmsg"
		-D "nusers=${NUSERS[k]}" -D "ntext=$NTEXT" kurier)
}

# Prints messages/s: the sum of the clients' tps times nmsg.
run_pgbench() {
	local tag=$1 nmsg=$2 secs=$3 k fail=0
	local -a pids=() cmd=()
	for ((k = 0; k < CLIENTS; k++)); do
		pgbench_argv cmd "$k" "$nmsg" "$secs"
		"${cmd[@]}" >"$LOGS/$tag-$k.log" 2>&1 &
		pids+=($!)
	done
	for k in "${!pids[@]}"; do
		if ! wait "${pids[k]}"; then
			tail -n 5 -- "$LOGS/$tag-$k.log" >&2
			fail=1
		fi
	done
	((fail == 0)) || die "pgbench $tag failed (logs: $LOGS/$tag-*.log)"
	for ((k = 0; k < CLIENTS; k++)); do
		grep -h '^tps = ' -- "$LOGS/$tag-$k.log" ||
			die "no tps in $LOGS/$tag-$k.log"
	done | awk -v n="$nmsg" '{ s += $3 } END { printf "%.1f\n", s * n }'
}

# store_argv ARRAY MESSAGES SECONDS
store_argv() {
	local -n st_argv=$1
	# shellcheck disable=SC2034 # the caller's array
	st_argv=("$STORE" -c "$CONF" -u "$USERS" -n "$2" -C "$CLIENTS" -s "$SIZE"
		-t "$3")
}

# Prints the tool's result line.
run_store() {
	local tag=$1 n=$2 secs=$3
	local -a cmd=()
	store_argv cmd "$n" "$secs"
	if ! "${cmd[@]}" >"$LOGS/$tag.log" 2>&1; then
		tail -n 20 -- "$LOGS/$tag.log" >&2
		die "the store run $tag failed (log: $LOGS/$tag.log)"
	fi
	grep '^store deliveries=' -- "$LOGS/$tag.log" ||
		die "no result line in $LOGS/$tag.log"
}

# A calibration run of the store (also the warm-up of both sides): the
# message count that takes about DURATION seconds.
calibrate() {
	local line rate
	run_pgbench warmup-a 1 2 >/dev/null
	line=$(run_store calibrate 1000000 "$CALIBRATE_S")
	rate=$(field rate "$line")
	STORE_N=$(awk -v r="$rate" -v d="$DURATION" \
		'BEGIN { n = int(r * d / 100) * 100; print (n < 1000 ? 1000 : n) }')
}

main() {
	local rep line t0
	local -a ra=() rb=() rs=() p50=() p99=() per=()
	t0=$EPOCHSECONDS
	fresh_cluster
	declare -ga NUSERS=()
	setup
	calibrate
	echo "bench: $REPS x (a, b, store), ${DURATION}s each; store runs $STORE_N messages"
	for ((rep = 1; rep <= REPS; rep++)); do
		settle
		ra+=("$(run_pgbench "a$rep" 1 "$DURATION")")
		settle
		rb+=("$(run_pgbench "b$rep" "$BATCH" "$DURATION")")
		settle
		line=$(run_store "store$rep" "$STORE_N" "$STORE_BOUND_S")
		rs+=("$(field rate "$line")")
		p50+=("$(field p50_ms "$line")")
		p99+=("$(field p99_ms "$line")")
		per+=("$(awk -v n="$(field deliveries "$line")" \
			-v b="$(field batches "$line")" \
			'BEGIN { printf "%.2f", (b > 0 ? n / b : 0) }')")
		printf 'bench: run %d: (a) %s  (b) %s  store %s msg/s\n' "$rep" \
			"${ra[-1]}" "${rb[-1]}" "${rs[-1]}"
	done
	report "$(stats 1 "${ra[@]}")" "$(stats 1 "${rb[@]}")" \
		"$(stats 1 "${rs[@]}")" "$(stats 2 "${p50[@]}")" \
		"$(stats 2 "${p99[@]}")" "$(stats 2 "${per[@]}")" \
		"${ra[*]}" "${rb[*]}" "${rs[*]}" | tee -- "$RESULTS"
	DONE=1
	echo "bench: done in $((EPOCHSECONDS - t0))s; results in $RESULTS"
}

# verdict X Y OP T TARGET: the ratio X/Y against "ratio OP T".
verdict() {
	awk -v x="$1" -v y="$2" -v op="$3" -v t="$4" -v what="$5" 'BEGIN {
		r = y > 0 ? x / y : 0
		ok = (op == ">") ? (r > t) : (r >= t)
		printf "%.2f   target: %s (ratio %s %.1f)   %s\n", r, what, op, t,
			(ok ? "PASS" : "BELOW") }'
}

report() {
	local -a a b s p50 p99 per pg st
	read -ra a <<<"$1"
	read -ra b <<<"$2"
	read -ra s <<<"$3"
	read -ra p50 <<<"$4"
	read -ra p99 <<<"$5"
	read -ra per <<<"$6"
	pgbench_argv pg 0 1 "$DURATION"
	store_argv st "$STORE_N" "$STORE_BOUND_S"
	printf '\nstore-level delivery (SPEC.md §7): %d-byte messages, one recipient, %d in flight,\n' \
		"$SIZE" "$CLIENTS"
	printf '%d shards, %s, %s, %s cores, %s\n' "$NODES" "$DURABLE" \
		"$("$PGBIN/postgres" --version | awk '{ print "PostgreSQL " $3 }')" \
		"$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)"
	printf '\n%-44s %10s %10s %10s\n' "messages/s ($REPS runs)" median min max
	printf '%-44s %10s %10s %10s\n' "(a) pgbench, 1 message per commit" "${a[@]}"
	printf '%-44s %10s %10s %10s\n' "(b) pgbench, $BATCH messages per commit" "${b[@]}"
	printf '%-44s %10s %10s %10s\n' "(c) kurier store, group commit" "${s[@]}"
	printf '%-44s %10s %10s %10s\n' "    store latency p50, ms" "${p50[@]}"
	printf '%-44s %10s %10s %10s\n' "    store latency p99, ms" "${p99[@]}"
	printf '%-44s %10s %10s %10s\n' "    store messages per commit" "${per[@]}"
	printf '\nstore/(a) = %s' "$(verdict "${s[0]}" "${a[0]}" '>' 1 \
		'store faster than (a)')"
	printf '\nstore/(b) = %s\n' "$(verdict "${s[0]}" "${b[0]}" '>=' 0.5 \
		'store at least half of (b)')"
	printf '\nper run, messages/s: (a) %s | (b) %s | store %s\n' "$7" "$8" "$9"
	printf '\ncommands (from %s, after ops/pgcluster start -n %d -d %s -p %d):\n' \
		"$PWD" "$NODES" "$DIR" "$PORT"
	printf '(a) for k in 0..%d at once (NUSERS = bench users on shard k):\n    %s\n' \
		$((CLIENTS - 1)) "$(sed "s/-p $PORT /-p \$(($PORT+k)) /; s/nusers=[0-9]*/nusers=\$NUSERS/" <<<"${pg[*]}")"
	printf '    messages/s = sum of the %d tps\n' "$CLIENTS"
	printf '(b) the same with -D nmsg=%d; messages/s = sum of tps x %d\n' \
		"$BATCH" "$BATCH"
	printf '(c) %s\n' "${st[*]}"
}

main
# The LMTP delivery and idle-memory figures (ops/bench_lmtp.sh) and the
# JSON-RPC ones (ops/bench_rpc.sh) run on clusters of their own: this
# one goes first. One failing does not skip the others; the antispam
# comparison (ops/bench_antispam.sh) needs no cluster.
cleanup
trap - EXIT
rc=0
ops/bench_lmtp.sh "$BUILD" || rc=$?
ops/bench_rpc.sh "$BUILD" || rc=$?
ops/bench_antispam.sh "$BUILD" || rc=$?
# The LMTP matrix (MATRIX=quick unless set: about 15 minutes), with the
# CPU split per delivery and the plots; alone: make bench-matrix.
ops/bench_matrix.sh "$BUILD" || rc=$?
exit "$rc"
