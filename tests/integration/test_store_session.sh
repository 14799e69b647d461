#!/usr/bin/env bash
# Session revocation (store.h "sessions", storage/sql/004_sessions.sql)
# against a private 4-node cluster: the C API through
# tests/unit/test_store_session (run twice on the same cluster: the
# second start-up migrates nothing and every check holds again), then
# the SQL contract directly with psql.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-store-session
base_port=28700
cleanup() {
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
rm -rf "$dir"
out=$KR_BUILD/test-logs/store_session
mkdir -p "$out"
ops/pgcluster start -n 4 -d "$dir" -p "$base_port" >"$out/pgcluster.out" 2>&1 ||
	fail "ops/pgcluster start: $(cat "$out/pgcluster.out")"
KR_DIAG=("$dir"/pg/log/node00.log)
nfiles=$(find storage/sql -maxdepth 1 -name '[0-9][0-9][0-9]_*.sql' | wc -l)

for run in 1 2; do
	log=$out/run$run.out
	KR_TEST_PG_CONF=$PWD/$dir/kurier.conf "$KR_BUILD/tests/test_store_session" >"$log" 2>&1 ||
		{ cat "$log" >&2; fail "test_store_session run $run"; }
	n=$(grep -c '^\[ RUN      \]' "$log" || true)
	[[ $n -gt 0 ]] || fail "test_store_session run $run ran no tests"
	grep -q "^\[  PASSED  \] $n test(s)\.$" "$log" ||
		{ cat "$log" >&2; fail "run $run: not all $n passed (none may be skipped here)"; }
	want=$((run == 1 ? nfiles * 4 : 0))
	grep -q "^migrations applied: $want on 4 nodes\$" "$log" ||
		fail "run $run: want $want migrations applied: $(grep applied "$log")"
	ok "store session API, run $run: $n tests passed, $want migrations applied at start-up"
done

# ------------------------------------------------------------ SQL contract
conn="host=$PWD/$dir/pg/run port=$base_port dbname=kurier user=kurier"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$conn" -f - <<<"$1"; }
check() {
	local got
	got=$(sql "$3" 2>&1) || fail "$1: query failed: $got"
	[[ $got == "$2" ]] || fail "$1: expected [$2], got [$got]"
	ok "$1"
}
for f in storage/sql/004_sessions.sql storage/sql/005_password_version.sql; do
	for i in 1 2; do
		psql -X -q -v ON_ERROR_STOP=1 "$conn" -f "$f" >/dev/null 2>"$out/psql.err" ||
			fail "re-applying $f ($i): $(cat "$out/psql.err")"
	done
	ok "$f re-applies over itself"
done

sid=00112233445566778899aabbccddeeff
sql "SELECT status FROM kr_user_create('sess.sql@test.example', 'h', 0)" >/dev/null
uid=$(sql "SELECT id FROM users WHERE address = 'sess.sql@test.example'")
check "check: unrevoked" "ok|sess.sql@test.example|f" "SELECT * FROM kr_session_check($uid, '$sid')"
check "check: malformed sids are 'invalid'" "invalid invalid invalid invalid" \
	"SELECT concat_ws(' ', (SELECT status FROM kr_session_check($uid, upper('$sid'))),
	 (SELECT status FROM kr_session_check($uid, '${sid}0')),
	 (SELECT status FROM kr_session_check($uid, 'zz' || substring('$sid' FROM 3))),
	 (SELECT status FROM kr_session_check($uid, NULL)))"
check "revoke: bad sid, NULL and out-of-range expiry are 'invalid'" "invalid invalid invalid invalid 0" \
	"SELECT concat_ws(' ', (SELECT status FROM kr_session_revoke($uid, 'x', 100)),
	 (SELECT status FROM kr_session_revoke($uid, '$sid', NULL)),
	 (SELECT status FROM kr_session_revoke($uid, '$sid', 0)),
	 (SELECT status FROM kr_session_revoke($uid, '$sid', 253402300800)),
	 (SELECT count(*) FROM revoked_sessions WHERE user_id = $uid))"
check "revoke, check, unknown user" "ok
ok|sess.sql@test.example|t
not_found
not_found||t" \
	"SELECT * FROM kr_session_revoke($uid, '$sid', 4102444800);
	 SELECT * FROM kr_session_check($uid, '$sid');
	 SELECT * FROM kr_session_revoke(-1, '$sid', 4102444800);
	 SELECT * FROM kr_session_check(-1, '$sid')"
check "the sid is stored as its 16 bytes, expiry as given" "\\x$sid|2100-01-01 00:00:00+00" \
	"SET TIME ZONE 'UTC'; SELECT sid, expires_at FROM revoked_sessions WHERE user_id = $uid"
echo "all store session checks passed"
