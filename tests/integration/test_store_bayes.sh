#!/usr/bin/env bash
# The Bayes statistic (storage/store_bayes.h, storage/sql/007_bayes.sql)
# against a private 2-node cluster: tests/unit/test_store_bayes (look-up,
# learning and taking back, the bound per user, aging, what a move
# teaches, no cache generation bumped), then the migration re-applied.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-store-bayes
base_port=32300
cleanup() {
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
rm -rf "$dir"
out=$KR_BUILD/test-logs/store_bayes
mkdir -p "$out"
ops/pgcluster start -n 2 -d "$dir" -p "$base_port" >"$out/pgcluster.out" 2>&1 ||
	fail "ops/pgcluster start: $(cat "$out/pgcluster.out")"
KR_DIAG=("$dir"/pg/log/node00.log)

log=$out/run.out
KR_TEST_PG_CONF=$PWD/$dir/kurier.conf "$KR_BUILD/tests/test_store_bayes" >"$log" 2>&1 ||
	{ cat "$log" >&2; fail "test_store_bayes"; }
n=$(grep -c '^\[ RUN      \]' "$log" || true)
[[ $n -gt 0 ]] || fail "test_store_bayes ran no tests"
grep -q "^\[  PASSED  \] $n test(s)\.$" "$log" ||
	{ cat "$log" >&2; fail "not all $n passed (none may be skipped here)"; }
ok "store bayes API: $n tests passed"

conn="host=$PWD/$dir/pg/run port=$base_port dbname=kurier user=kurier"
for i in 1 2; do
	psql -X -q -v ON_ERROR_STOP=1 "$conn" -f storage/sql/007_bayes.sql >/dev/null 2>"$out/psql.err" ||
		fail "re-applying 007_bayes.sql ($i): $(cat "$out/psql.err")"
done
ok "007_bayes.sql re-applies over itself"
echo "all store bayes checks passed"
