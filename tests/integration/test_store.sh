#!/usr/bin/env bash
# The mail store against a real 20-node cluster: users, mailboxes,
# messages, delivery across shards, dedup, quota, group commit
# (test_store), the write generations every successful write bumps
# (test_store_gen) and group commit's bounded wait (test_store_gc).
# test_store applies the migrations to every node itself.
# kr-test: serial
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-store
cleanup() {
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
ops/pgcluster start -n 20 -d "$dir" -p 28400 >/dev/null
for t in store store_gen store_gc; do
	out=$KR_BUILD/test-logs/$t.out
	mkdir -p "$(dirname "$out")"
	KR_TEST_PG_CONF=$PWD/$dir/kurier.conf "$KR_BUILD/tests/test_$t" 2>&1 |
		tee "$out"
	n=$(grep -c '^\[ RUN      \]' "$out" || true)
	[[ $n -gt 0 ]] || fail "test_$t ran no tests"
	grep -q "^\[  PASSED  \] $n test(s)." "$out" ||
		fail "test_$t: not all passed (none may be skipped here)"
	ok "test_$t against 20 real nodes ($n tests)"
done
