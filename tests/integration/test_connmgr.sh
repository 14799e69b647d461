#!/usr/bin/env bash
# The connection manager against a real 20-node cluster: routing, pools,
# timeouts, circuit breaker with a node stopped and started again.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-connmgr
cleanup() { ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
ops/pgcluster start -n 20 -d "$dir" -p 29400
KR_TEST_PG_CONF=$PWD/$dir/kurier.conf KR_TEST_PG_DIR=$PWD/$dir \
	"$KR_BUILD/tests/test_connmgr" 2>&1 | tee "$KR_BUILD/test-logs/connmgr.out"
grep -q '^\[  PASSED  \] 7 test(s).' "$KR_BUILD/test-logs/connmgr.out" ||
	fail "connmgr tests did not all pass (none may be skipped here)"
ok "connmgr against 20 real nodes"
