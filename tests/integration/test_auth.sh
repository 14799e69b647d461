#!/usr/bin/env bash
# server/auth's asynchronous API (auth.h) against a private 2-node
# cluster, with no JSON in between: tests/unit/test_auth runs its
# cluster group (logins and the limiters of issue 13, the session cache,
# password changes, logout), which it skips without one; here none may
# be skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-auth
base_port=28800
cleanup() {
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
rm -rf "$dir"
out=$KR_BUILD/test-logs/auth
mkdir -p "$out"
ops/pgcluster start -n 2 -d "$dir" -p "$base_port" >"$out/pgcluster.out" 2>&1 ||
	fail "ops/pgcluster start: $(cat "$out/pgcluster.out")"
KR_DIAG=("$dir"/pg/log/node00.log)

log=$out/test_auth.out
KR_TEST_PG_CONF=$PWD/$dir/kurier.conf "$KR_BUILD/tests/test_auth" >"$log" 2>&1 ||
	{ cat "$log" >&2; fail "test_auth"; }
n=$(grep -c '^\[ RUN      \]' "$log" || true)
[[ $n -gt 0 ]] || fail "test_auth ran no tests"
grep -q 'SKIPPED' "$log" && { cat "$log" >&2; fail "tests were skipped with a cluster"; }
(($(grep -c '^\[  PASSED  \]' "$log") == 2)) || { cat "$log" >&2; fail "not every group passed"; }
ok "auth API: $n tests passed, none skipped"
echo "all auth checks passed"
