#!/usr/bin/env bash
# server/auth's asynchronous API (auth.h) against a private 2-node
# cluster, with no JSON in between: tests/unit/test_auth runs its
# cluster group (logins and the limiters of issue 13, the session cache,
# password changes, logout), which it skips without one; here none may
# be skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

kr_cluster_start auth 28800 2
log=$KR_BUILD/test-logs/auth/test_auth.out
KR_TEST_PG_CONF=$PWD/$KR_CLUSTER_DIR/kurier.conf "$KR_BUILD/tests/test_auth" >"$log" 2>&1 ||
	{ cat "$log" >&2; fail "test_auth"; }
n=$(grep -c '^\[ RUN      \]' "$log" || true)
[[ $n -gt 0 ]] || fail "test_auth ran no tests"
grep -q 'SKIPPED' "$log" && { cat "$log" >&2; fail "tests were skipped with a cluster"; }
(($(grep -c '^\[  PASSED  \]' "$log") == 2)) || { cat "$log" >&2; fail "not every group passed"; }
ok "auth API: $n tests passed, none skipped"
echo "all auth checks passed"
