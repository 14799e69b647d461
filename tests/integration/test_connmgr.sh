#!/usr/bin/env bash
# The connection manager against a real 20-node cluster: routing, pools,
# timeouts, circuit breaker with a node stopped and started again.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-connmgr
pid=
cleanup() {
	[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
ops/pgcluster start -n 20 -d "$dir" -p 29400
KR_TEST_PG_CONF=$PWD/$dir/kurier.conf "$KR_BUILD/tests/test_pgconn" 2>&1 |
	tee "$KR_BUILD/test-logs/pgconn.out"
grep -q "^\[  PASSED  \] 6 test(s)." "$KR_BUILD/test-logs/pgconn.out" ||
	fail "pgconn prepared-statement tests did not all pass (none may be skipped here)"
ok "pgconn named prepared statements against a real node"
KR_TEST_PG_CONF=$PWD/$dir/kurier.conf KR_TEST_PG_DIR=$PWD/$dir \
	"$KR_BUILD/tests/test_connmgr" 2>&1 | tee "$KR_BUILD/test-logs/connmgr.out"
n=$(grep -c '^\[ RUN      \]' "$KR_BUILD/test-logs/connmgr.out" || true)
[[ $n -ge 11 ]] || fail "test_connmgr ran $n tests, expected at least 11"
grep -q "^\[  PASSED  \] $n test(s)." "$KR_BUILD/test-logs/connmgr.out" ||
	fail "connmgr tests did not all pass (none may be skipped here)"
ok "connmgr against 20 real nodes ($n tests)"

# kurierd on the cluster: migrations applied by the master at start-up,
# every worker's pools visible in /metrics.
port=$(free_port)
lmtp=$(free_port "$port")
conf=$KR_BUILD/test-logs/connmgr-kurier.conf
{
	printf '[workers]\ncount = 2\n[lmtp]\nlisten = 127.0.0.1:%s\n' "$lmtp"
	printf '[admin]\nlisten = 127.0.0.1:%s\n' "$port"
	printf 'token = %s\n' "$(printf 'k%.0s' $(seq 40))"
	printf '[jsonrpc]\nlisten = 127.0.0.1:%s\n' "$(free_port "$port" "$lmtp")"
	grep -v '^#' "$dir/kurier.conf"
} >"$conf"
KR_DIAG=("$KR_BUILD/test-logs/connmgr-kurierd.log")
"$KURIERD" -c "$conf" >/dev/null 2>"$KR_BUILD/test-logs/connmgr-kurierd.log" &
pid=$!
idle_conns() {
	curl -sf -H "Authorization: Bearer $(printf 'k%.0s' $(seq 40))" \
		"http://127.0.0.1:$port/metrics" |
		awk '/^kurier_db_pool_idle\{shard="19",node="primary"\}/ { print $2 }'
}
four_idle() { [[ $(idle_conns) == 4 ]]; }
wait_for 15 "2 workers x 2 idle connections to shard 19" four_idle
ok "kurierd workers keep pool_low connections per node"
versions=$(psql -Atq "host=$PWD/$dir/pg/run port=29419 dbname=kurier user=kurier" \
	-c 'SELECT count(*) FROM kr_migrations')
[[ $versions -ge 2 ]] || fail "migrations not applied on shard 19 ($versions)"
grep -q 'event=db.migrate_failed' "$KR_BUILD/test-logs/connmgr-kurierd.log" && fail "a migration failed"
ok "master applied $versions migrations on every shard"
kill -TERM "$pid"
wait "$pid" || fail "kurierd exit status $?"
pid=
ok "kurierd with storage drains and exits 0"
