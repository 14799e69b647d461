#!/usr/bin/env bash
# Full-text indexing behind delivery at the store level against a real
# 2-node cluster (tests/unit/test_store_fts.c: queue, search before and
# after indexing, batches, copies and moves, deletes, the bound, the C
# indexer), then 010_fts_table.sql re-applied over itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-store-fts
base_port=19100
out=$KR_BUILD/test-logs/store_fts
mkdir -p "$out"
cleanup() {
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
rm -rf "$dir"
ops/pgcluster start -n 2 -d "$dir" -p "$base_port" >"$out/pgcluster.out" 2>&1 ||
	fail "ops/pgcluster start: $(cat "$out/pgcluster.out")"
KR_DIAG=("$dir"/pg/log/node00.log)

log=$out/run.out
KR_TEST_PG_CONF=$PWD/$dir/kurier.conf "$KR_BUILD/tests/test_store_fts" >"$log" 2>&1 ||
	{ cat "$log" >&2; fail "test_store_fts"; }
n=$(grep -c '^\[ RUN      \]' "$log" || true)
[[ $n -gt 0 ]] || fail "test_store_fts ran no tests"
grep -q "^\[  PASSED  \] $n test(s)\.$" "$log" ||
	{ cat "$log" >&2; fail "not all $n passed (none may be skipped here)"; }
ok "store full-text queue: $n tests passed"

conn="host=$PWD/$dir/pg/run port=$base_port dbname=kurier user=kurier"
for i in 1 2; do
	psql -X -q -v ON_ERROR_STOP=1 "$conn" -f storage/sql/010_fts_table.sql >/dev/null 2>"$out/psql.err" ||
		fail "re-applying 010_fts_table.sql ($i): $(cat "$out/psql.err")"
done
ok "010_fts_table.sql re-applies over itself"
echo "all store full-text checks passed"
