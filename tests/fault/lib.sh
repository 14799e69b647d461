# Shared helpers of the fault suite (sourced after
# tests/integration/lib.sh and kr_stack_start). Every load is bounded
# in count and time; traffic stays on loopback.

PG_BIN=/usr/lib/postgresql/15/bin

# fault_users N: users u0..u(N-1)@bench.test (password pw<i>) through a
# passwd-file import, then $KR_WORK/shards: "<address> <shard>" lines.
fault_users() {
	local n=$1 i
	for i in $(seq 0 $((n - 1))); do echo "pw$i"; done |
		openssl passwd -6 -stdin |
		awk '{ printf "u%d@bench.test:{SHA512-CRYPT}%s\n", NR - 1, $0 }' >"$KR_WORK/passwd"
	kr_cli user import "$KR_WORK/passwd" >/dev/null || fail "user import"
	: >"$KR_WORK/shards"
	for i in $(seq 0 $((KR_NODES - 1))); do
		fault_psql "$i" "SELECT address, $i FROM users" | tr '|' ' ' >>"$KR_WORK/shards"
	done
	[[ $(wc -l <"$KR_WORK/shards") -eq $n ]] || fail "user map: $(wc -l <"$KR_WORK/shards") of $n users"
}
# fault_psql NODE SQL: rows of SQL on one node, unaligned.
fault_psql() {
	psql -Atq "host=$PWD/$KR_STACK_DIR/pg/run port=$((KR_PORT + $1)) dbname=kurier user=kurier" -c "$2"
}
# fault_node_ctl stop|start NODE: one PostgreSQL node, as its owner.
fault_node_ctl() {
	local dd
	dd=$(printf '%s/pg/node%02d' "$KR_STACK_DIR" "$2")
	if [[ $1 == stop ]]; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" stop -D "$dd" -m immediate >/dev/null
	else
		runuser -u postgres -- "$PG_BIN/pg_ctl" start -D "$dd" -w -l "$dd/restart.log" >/dev/null
	fi
}
# fault_shard_users SHARD: addresses on that shard, one per line.
fault_shard_users() { awk -v s="$1" '$2 == s { print $1 }' "$KR_WORK/shards"; }
# fault_p99 FILE: the 99th percentile of the numbers in FILE (0 if none).
fault_p99() {
	sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) { print 0; exit } i = int(NR * 0.99); if (i < 1) i = 1; print v[i] }'
}
# fault_check_acked ACKED SENT [MIN_PCT]: every acknowledged message is
# in the store once, byte for byte (tests/unit/test_lmtp_durability).
fault_check_acked() {
	local out=$KR_WORK/durability.out
	KR_TEST_PG_CONF=$PWD/$KR_STACK_DIR/kurier.conf KR_TEST_ACKED=$1 \
		KR_TEST_SENT=$2 KR_TEST_MIN_ACKED_PCT=${3:-90} \
		"$KR_BUILD/tests/test_lmtp_durability" >"$out" 2>&1 || true
	local t
	t=$(grep -c '^\[ RUN      \]' "$out" || true)
	grep -q "^\[  PASSED  \] $t test(s)." "$out" || {
		tail -n 30 "$out" >&2
		fail "acknowledged messages missing or wrong in the store"
	}
	grep -E '^(acknowledged|checked|stored but)' "$out" | sed 's/^/  /'
}
# The largest peak RSS (VmHWM, KiB) among the workers.
fault_workers_hwm() {
	local p m=0 v
	for p in $(kr_worker_pids); do
		v=$(kr_hwm_kb "$p" 2>/dev/null || echo 0)
		((v > m)) && m=$v
	done
	echo "$m"
}
