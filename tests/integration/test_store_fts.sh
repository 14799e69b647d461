#!/usr/bin/env bash
# Full-text indexing behind delivery at the store level against a real
# 2-node cluster (tests/unit/test_store_fts.c: queue, search before and
# after indexing, batches, copies and moves, deletes, the bound, the C
# indexer), then 010_fts_table.sql re-applied over itself, and 013's
# conversion of what PostgreSQL's parser indexed.
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
q() { psql -X -qtA -v ON_ERROR_STOP=1 "$conn" -c "$1"; }
# A shard as 008 left it (tsvectors in messages.search): 010 moves them
# to message_fts, drops the column, and search finds them there.
[[ $(q "SELECT count(*) FROM messages") -ge 3 ]] || fail "node 0 holds fewer than 3 messages"
q "BEGIN;
ALTER TABLE messages ADD COLUMN search tsvector;
WITH k AS (SELECT mailbox_id, uid FROM messages ORDER BY mailbox_id, uid LIMIT 3)
UPDATE messages m SET search = to_tsvector('simple', 'premigrated word')
FROM k WHERE m.mailbox_id = k.mailbox_id AND m.uid = k.uid;
DELETE FROM message_fts f USING messages m
WHERE m.search IS NOT NULL AND f.mailbox_id = m.mailbox_id AND f.uid = m.uid;
COMMIT;" >/dev/null
[[ $(q "SELECT count(*) FROM message_fts WHERE tsv @@ 'premigrated'::tsquery") == 0 ]] ||
	fail "set-up: message_fts already has the word"
for i in 1 2; do
	psql -X -q -v ON_ERROR_STOP=1 "$conn" -f storage/sql/010_fts_table.sql >/dev/null 2>"$out/psql.err" ||
		fail "re-applying 010_fts_table.sql ($i): $(cat "$out/psql.err")"
done
ok "010_fts_table.sql re-applies over itself"
[[ $(q "SELECT count(*) FROM information_schema.columns WHERE table_name = 'messages' AND column_name = 'search'") == 0 ]] ||
	fail "messages.search still there"
[[ $(q "SELECT count(*) FROM message_fts WHERE tsv @@ 'premigrated'::tsquery") == 3 ]] ||
	fail "the 3 tsvectors were not moved to message_fts"
n=$(q "SELECT sum((SELECT count(*) FROM kr_msg_search(u.id, NULL, 'premigrated', NULL, NULL,
	NULL, NULL, NULL, 50) s WHERE s.uid IS NOT NULL)) FROM users u")
[[ $n == 3 ]] || fail "search finds $n of the 3 migrated messages"
ok "010 moves existing tsvectors to message_fts; search finds them"

# 013: search takes kurierd's terms; what PostgreSQL's parser indexed
# before keeps being found, an address by its parts too.
q "UPDATE message_fts SET tsv = tsv || to_tsvector('simple', 'mail Old.Address@Example.ORG zz.qqhost.test')
	WHERE tsv @@ 'premigrated'::tsquery" >/dev/null
[[ $(q "SELECT count(*) FROM message_fts WHERE tsv @@ 'premigrated & (example | qqhost)'::tsquery") == 0 ]] ||
	fail "set-up: the parser split the address or the host"
for i in 1 2; do
	psql -X -q -v ON_ERROR_STOP=1 "$conn" -f storage/sql/013_fts_terms.sql >/dev/null 2>"$out/psql.err" ||
		fail "applying 013_fts_terms.sql ($i): $(cat "$out/psql.err")"
done
found() {
	q "SELECT sum((SELECT count(*) FROM kr_msg_search(u.id, NULL, '$1', NULL, NULL,
		NULL, NULL, NULL, 50) s WHERE s.uid IS NOT NULL)) FROM users u"
}
[[ $(found 'old address example org') == 3 ]] || fail "the address's terms find $(found 'old address example org') of 3"
[[ $(found 'qqhost') == 3 ]] || fail "a host name's part finds $(found 'qqhost') of 3"
[[ $(found 'premigrated mail') == 3 ]] || fail "plain words find $(found 'premigrated mail') of 3"
[[ $(found 'premigrated nosuchterm') == 0 ]] || fail "every term must match"
[[ $(found '') == 0 ]] || fail "no terms found $(found '')"
ok "013 (applied twice): old lexemes found by their parts, plain words as before, every term required"
echo "all store full-text checks passed"
