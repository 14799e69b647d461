#!/usr/bin/env bash
# The SQL store (storage/sql) against real PostgreSQL: a private 2-node
# cluster. Node 0 is migrated by kr_migrate_apply (tests/test_migrate);
# node 1 gets the files through psql and runs the behaviour checks of
# STORE_SQL.md. After every section the counters (mailbox total/unseen/
# size/uidnext, users used_bytes/messages, bodies refs) are recomputed
# from the rows and must match exactly.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

dir=var/test-storesql
base_port=10800
cleanup() {
	local j
	for j in $(jobs -p); do kill "$j" 2>/dev/null || true; done
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
rm -rf "$dir"
mkdir -p "$KR_BUILD/test-logs"
out=$KR_BUILD/test-logs/store_sql
mkdir -p "$out"
KR_DIAG=("$dir/pg/log/node01.log" "$dir/pg/log/node00.log")

# The cluster script may be mid-edit by someone else: retry a while.
started=0
for _ in $(seq 10); do
	if ops/pgcluster start -n 2 -d "$dir" -p "$base_port" >"$out/pgcluster.out" 2>&1; then
		started=1
		break
	fi
	ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true
	sleep 15
done
[[ $started == 1 ]] || fail "ops/pgcluster start: $(cat "$out/pgcluster.out")"
run=$PWD/$dir/pg/run
conn0="host=$run port=$base_port dbname=kurier user=kurier"
conn1="host=$run port=$((base_port + 1)) dbname=kurier user=kurier"
ok "2-node cluster up"

# ------------------------------------------------------------ migrations
nfiles=$(find storage/sql -maxdepth 1 -name '[0-9][0-9][0-9]_*.sql' | wc -l)
for i in 1 2; do
	KR_TEST_PG_CONNINFO=$conn0 "$KR_BUILD/tests/test_migrate" >"$out/migrate$i.out" 2>&1 ||
		{ cat "$out/migrate$i.out" >&2; fail "test_migrate run $i"; }
	grep -q '^\[  PASSED  \] 6 test(s)\.' "$out/migrate$i.out" ||
		{ cat "$out/migrate$i.out" >&2; fail "test_migrate run $i: not all 6 passed (none may be skipped)"; }
done
grep -q "^first apply: applied $nfiles of $nfiles\$" "$out/migrate1.out" ||
	fail "first run did not apply all $nfiles versions: $(grep applied "$out/migrate1.out")"
grep -q "^first apply: applied 0 of $nfiles\$" "$out/migrate2.out" ||
	fail "second run applied something: $(grep applied "$out/migrate2.out")"
got=$(psql -X -q -At "$conn0" -c "SELECT string_agg(version || ':' || name, ' ' ORDER BY version) FROM kr_migrations")
want=
for f in storage/sql/[0-9][0-9][0-9]_*.sql; do
	f=${f##*/}
	want+="${want:+ }$((10#${f:0:3})):${f%.sql}"
done
[[ $got == "$want" ]] || fail "kr_migrations: want [$want], got [$got]"
ok "kr_migrate_apply applied $nfiles versions, then 0; kr_migrations: $got"

for f in storage/sql/[0-9][0-9][0-9]_*.sql; do
	psql -X -q -v ON_ERROR_STOP=1 "$conn1" -f "$f" >/dev/null 2>"$out/psql.err" ||
		fail "psql -f $f: $(cat "$out/psql.err")"
done
# Every file from the functions on re-applies, in order (a later one
# may replace a function of an earlier one by repeating it).
for f in storage/sql/[0-9][0-9][0-9]_*.sql; do
	[[ ${f##*/} > 002 ]] || continue
	psql -X -q -v ON_ERROR_STOP=1 "$conn1" -f "$f" >/dev/null 2>"$out/psql.err" ||
		fail "re-applying $f: $(cat "$out/psql.err")"
done
dump() { /usr/lib/postgresql/15/bin/pg_dump --schema-only --no-owner -T kr_migrations "$1" | grep -v -e '^--' -e '^\\restrict ' -e '^\\unrestrict '; }
diff <(dump "$conn0") <(dump "$conn1") >"$out/schema.diff" ||
	fail "schema via kr_migrate_apply differs from psql: $(head -20 "$out/schema.diff")"
ok "SQL files apply with psql, the files from 002 on re-apply, same schema as the runner's"

# ---------------------------------------------------------------- helpers
# Statements run one by one (each sees what the one before changed) and
# all their rows print: fields joined by |, rows by newlines.
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$conn1" -f - <<<"$1"; }
# check DESCRIPTION EXPECTED SQL: the output must be exactly EXPECTED.
check() {
	local got
	got=$(sql "$3" 2>&1) || fail "$1: query failed: $got"
	[[ $got == "$2" ]] || fail "$1: expected [$2], got [$got]"
	ok "$1"
}
# Every counter equals what the rows say; every body's refs equal the
# messages that point at it; no message without its body.
invariants() {
	local bad
	bad=$(sql "
	WITH mb AS (
		SELECT mailbox_id, count(*) AS n, sum(size) AS sz,
		       count(*) FILTER (WHERE NOT '\Seen' = ANY (flags)) AS unseen,
		       max(uid) AS maxuid, max(modseq) AS maxms
		FROM messages GROUP BY 1),
	     us AS (SELECT user_id, count(*) AS n, sum(size) AS sz
		    FROM messages GROUP BY 1),
	     bh AS (SELECT body_hash, count(*) AS n FROM messages GROUP BY 1)
	SELECT 'mailbox ' || m.id FROM mailboxes m LEFT JOIN mb ON mb.mailbox_id = m.id
	WHERE m.total <> coalesce(mb.n, 0) OR m.size <> coalesce(mb.sz, 0)
	   OR m.unseen <> coalesce(mb.unseen, 0) OR m.uidnext <= coalesce(mb.maxuid, 0)
	   OR m.highest_modseq < coalesce(mb.maxms, 0) OR m.highest_modseq <> m.modseq
	UNION ALL
	SELECT 'user ' || u.id FROM users u LEFT JOIN us ON us.user_id = u.id
	WHERE u.messages <> coalesce(us.n, 0) OR u.used_bytes <> coalesce(us.sz, 0)
	   OR u.modseq < (SELECT coalesce(max(modseq), 0) FROM mailboxes WHERE user_id = u.id)
	UNION ALL
	SELECT 'body ' || encode(coalesce(b.hash, bh.body_hash), 'hex')
	FROM bodies b FULL JOIN bh ON bh.body_hash = b.hash
	WHERE b.refs IS DISTINCT FROM bh.n
	UNION ALL
	SELECT 'message ' || x.mailbox_id || '/' || x.uid FROM messages x
	JOIN mailboxes m ON m.id = x.mailbox_id WHERE m.user_id <> x.user_id")
	[[ -z $bad ]] || fail "$1: counters do not match the rows: $(echo "$bad" | head -5 | tr '\n' ' ')"
	ok "$1: counters, quotas and body refs match the rows"
}

# Test-only helpers, in this throwaway node only (after the schema diff).
sql "
CREATE FUNCTION t_uid(a text) RETURNS bigint LANGUAGE sql AS
  \$\$ SELECT id FROM users WHERE address = lower(a) \$\$;
CREATE FUNCTION t_mb(a text, n text) RETURNS bigint LANGUAGE sql AS
  \$\$ SELECT m.id FROM mailboxes m JOIN users u ON u.id = m.user_id
     WHERE u.address = lower(a) AND m.name = n \$\$;
CREATE FUNCTION t_modseq(a text) RETURNS bigint LANGUAGE sql AS
  \$\$ SELECT modseq FROM users WHERE address = lower(a) \$\$;
-- One message: 'status|mailbox name|uid'.
CREATE FUNCTION t_deliver(a text, folder text, body text, size int,
  flags text DEFAULT '', meta jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS \$\$
  SELECT d.status || '|' || coalesce(m.name, '') || '|' || coalesce(d.uid::text, '')
  FROM kr_deliver_batch(ARRAY[a], ARRAY[folder],
    ARRAY[sha256(convert_to(body, 'UTF8'))], ARRAY[convert_to(body, 'UTF8')],
    ARRAY[false], ARRAY[octet_length(body)], ARRAY[size], ARRAY[meta], ARRAY[flags]) d
  LEFT JOIN mailboxes m ON m.id = d.mailbox_id \$\$;
CREATE FUNCTION t_uids(a text, n text) RETURNS text LANGUAGE sql AS
  \$\$ SELECT coalesce(string_agg(uid::text, ' ' ORDER BY uid), '')
     FROM messages WHERE mailbox_id = t_mb(a, n) \$\$;
CREATE FUNCTION t_counts(a text, n text) RETURNS text LANGUAGE sql AS
  \$\$ SELECT total || ' ' || unseen || ' ' || size || ' ' || uidnext
     FROM mailboxes WHERE id = t_mb(a, n) \$\$;
CREATE FUNCTION t_user(a text) RETURNS text LANGUAGE sql AS
  \$\$ SELECT used_bytes || ' ' || messages FROM users WHERE address = lower(a) \$\$;
" >/dev/null

# ----------------------------------------------------------------- users
check "user create" "ok" "SELECT status FROM kr_user_create('Alice@Example.COM', 'h-a', 0)"
check "user create again (any case) is exists with the same id" "exists|t" \
	"SELECT status, user_id = t_uid('alice@example.com') FROM kr_user_create('ALICE@example.com', 'h-x', 5)"
check "user get (address case-folded)" "ok|t|h-a|0|0|0" \
	"SELECT status, user_id = t_uid('alice@example.com'), password_hash, quota_bytes, used_bytes, messages FROM kr_user_get('alice@EXAMPLE.com')"
check "user get unknown" "not_found|||||" "SELECT * FROM kr_user_get('nobody@example.com')"
check "user has the 5 role mailboxes, INBOX first" \
	"INBOX:inbox Sent:sent Drafts:drafts Trash:trash Junk:junk|0 0 0|1|1" \
	"SELECT string_agg(name || ':' || role, ' '), max(total) || ' ' || max(unseen) || ' ' || max(size), max(uidnext), max(modseq) FROM kr_mailbox_list(t_uid('alice@example.com'))"
check "uidvalidity: epoch seconds, distinct per mailbox" "5|t" \
	"SELECT count(DISTINCT uidvalidity), min(uidvalidity) > extract(epoch FROM now()) - 60 FROM kr_mailbox_list(t_uid('alice@example.com'))"
check "set password" $'ok\nh-new' "SELECT * FROM kr_user_set_password('alice@example.com', 'h-new'); SELECT password_hash FROM kr_user_get('alice@example.com')"
check "set password unknown" "not_found" "SELECT * FROM kr_user_set_password('x@example.com', 'h')"
check "set quota" $'ok\n12345' "SELECT * FROM kr_user_set_quota('ALICE@example.com', 12345); SELECT quota_bytes FROM kr_user_get('alice@example.com')"
check "set quota unknown" "not_found" "SELECT * FROM kr_user_set_quota('x@example.com', 1)"
sql "SELECT * FROM kr_user_set_quota('alice@example.com', 0)" >/dev/null

t0=$EPOCHREALTIME
got=$(sql "SELECT string_agg(status, ',' ORDER BY idx) FILTER (WHERE idx > 997), count(*) FILTER (WHERE status = 'ok'), count(*), min(idx), max(idx)
	FROM kr_user_import(
	  ARRAY(SELECT CASE g WHEN 999 THEN 'IMP1@example.com' WHEN 1000 THEN 'alice@example.com'
			      ELSE 'imp' || g || '@example.com' END FROM generate_series(1, 1000) g),
	  ARRAY(SELECT '{SHA512-CRYPT}\$6\$x\$' || g FROM generate_series(1, 1000) g))")
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
[[ $got == "ok,exists,exists|998|1000|1|1000" ]] || fail "user import 1000: got [$got]"
check "imported users have their mailboxes and hashes" "998|4990|{SHA512-CRYPT}\$6\$x\$500" \
	"SELECT count(DISTINCT u.id), count(m.id), max(u.password_hash) FILTER (WHERE u.address = 'imp500@example.com') FROM users u JOIN mailboxes m ON m.user_id = u.id WHERE u.address LIKE 'imp%'"
ok "user import: 1000 addresses in one call (998 ok, in-array duplicate and existing one 'exists') in ${ms} ms"
t0=$EPOCHREALTIME
check "user import of 10000 more" "10000" \
	"SELECT count(*) FILTER (WHERE status = 'ok') FROM kr_user_import(ARRAY(SELECT 'big' || g || '@example.com' FROM generate_series(1, 10000) g), ARRAY(SELECT 'h' || g FROM generate_series(1, 10000) g))"
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
ok "user import: 10000 users in one call in ${ms} ms"
check "import with mismatched arrays raises" "raised" \
	"DO \$\$ BEGIN PERFORM kr_user_import(ARRAY['a@x'], ARRAY['h1', 'h2']); RAISE NOTICE 'no'; EXCEPTION WHEN raise_exception THEN NULL; END \$\$; SELECT 'raised'"

check "user list: byte order, paged by address" $'imp200@example.com|0|0|0\nimp201@example.com|0|0|0\nimp202@example.com|0|0|0' \
	"SELECT * FROM kr_user_list('imp1@example.com', 3)"
check "user list: limit capped, empty page past the end" "10000|0" \
	"SELECT (SELECT count(*) FROM kr_user_list('', 100000)), (SELECT count(*) FROM kr_user_list('zzz', 10))"
check "user delete" $'ok\nnot_found|||||\n0' \
	"SELECT * FROM kr_user_delete('IMP2@example.com'); SELECT * FROM kr_user_get('imp2@example.com'); SELECT count(*) FROM mailboxes m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id)"
check "user delete unknown" "not_found" "SELECT * FROM kr_user_delete('imp2@example.com')"

# -------------------------------------------------------------- delivery
for u in bob carol dave erin1 erin2 erin3 erin4 erin5 frank gina henry ivan; do
	sql "SELECT * FROM kr_user_create('$u@example.com', 'h', 0)" >/dev/null
done
sql "SELECT kr_user_set_quota('carol@example.com', 1000)" >/dev/null
check "deliver batch: ok, no_user, over_quota, folder fallback to INBOX" \
	"1|ok|t|t|1
2|no_user|||
3|ok|t|t|1
4|over_quota|t||
5|ok|t|t|1
6|ok|t|t|2" \
	"SELECT d.idx, d.status, d.user_id = t_uid(a.a), d.mailbox_id = t_mb(a.a, a.f), d.uid
	 FROM kr_deliver_batch(
	   ARRAY['BOB@example.com', 'nobody@example.com', 'carol@example.com', 'carol@example.com', 'bob@example.com', 'bob@example.com'],
	   ARRAY['Junk', 'INBOX', 'INBOX', 'INBOX', 'NoSuchFolder', NULL],
	   ARRAY['\x01'::bytea, '\x02', '\x03', '\x04', '\x05', '\x06'],
	   ARRAY['b1'::bytea, 'b2', 'b3', 'b4', 'b5', 'b6'],
	   ARRAY[false, false, true, false, false, false], ARRAY[2, 2, 2, 2, 2, 2],
	   ARRAY[100, 100, 600, 500, 100, 100], ARRAY['{}'::jsonb, '{}', '{}', '{}', '{}', '{}'],
	   ARRAY['', '', '\Seen', '', '', 'x']) d
	 JOIN (VALUES (1, 'bob@example.com', 'Junk'), (2, 'nobody@example.com', 'INBOX'),
		      (3, 'carol@example.com', 'INBOX'), (4, 'carol@example.com', 'INBOX'),
		      (5, 'bob@example.com', 'INBOX'), (6, 'bob@example.com', 'INBOX')) a(i, a, f)
	   ON a.i = d.idx ORDER BY d.idx"
check "delivery counters: bob 3 messages 300 bytes, carol 600 of 1000" "300 3|600 1|1 1 100 2|2 2 200 3|1 0 600 2" \
	"SELECT t_user('bob@example.com'), t_user('carol@example.com'), t_counts('bob@example.com', 'Junk'), t_counts('bob@example.com', 'INBOX'), t_counts('carol@example.com', 'INBOX')"
check "stored bodies keep zlib flag and raw size; refused message's body not stored" "t|2|b3|f" \
	"SELECT zlib, raw_size, convert_from(data, 'UTF8'), EXISTS (SELECT 1 FROM bodies WHERE hash = '\x04') FROM bodies WHERE hash = '\x03'"
check "empty batch gives no rows" "0" \
	"SELECT count(*) FROM kr_deliver_batch('{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')"
check "meta: columns, normalised flags, bad date is NULL" \
	"ok|INBOX|1
ok|INBOX|2
Hello world|Carl|carl@example.org|[{\"name\": \"Al\", \"email\": \"al@example.com\"}]|2024-01-02 02:04:05+00|\\Flagged,\\Seen,foo|t|<m1@x>
Bad date||||||f|" \
	"SELECT t_deliver('ivan@example.com', 'INBOX', 'meta1', 10, ' \seen  \FLAGGED foo \Recent ',
	   '{\"subject\": \"Hello world\", \"from_name\": \"Carl\", \"from_email\": \"carl@example.org\",
	     \"to\": [{\"name\": \"Al\", \"email\": \"al@example.com\"}], \"date\": \"2024-01-02T03:04:05+01:00\",
	     \"message_id\": \"<m1@x>\", \"has_attachments\": true, \"search_terms\": \"banana split\"}');
	 SELECT t_deliver('ivan@example.com', 'INBOX', 'meta2', 10, '', '{\"subject\": \"Bad date\", \"date\": \"2024-02-30T10:00:00Z\", \"to\": \"x\"}');
	 SELECT subject, from_name, from_email, to_list, date AT TIME ZONE 'UTC' || '+00', array_to_string(flags, ','), has_attachments, message_id
	 FROM messages WHERE mailbox_id = t_mb('ivan@example.com', 'INBOX') ORDER BY uid"
check "meta dates: the fast path (no subtransaction) and the rest agree with the cast" \
	"2024-01-31 23:59:59.5+00|2024-02-29 10:00:00+00||||2000-01-01 00:00:00+00" \
	"SET TIME ZONE 'UTC'; SELECT kr_meta_date('2024-01-31T18:59:59.5-05:00'), kr_meta_date('2024-02-29T10:00:00Z'),
	 kr_meta_date('2023-02-29'), kr_meta_date('2024-13-01'), kr_meta_date('2024-01-01T24:00:61Z'),
	 kr_meta_date('2000-01-01')"
invariants "delivery"

# One message failing unexpectedly answers 'error' alone.
check "deliver batch: an unexpected failure is 'error' for that message only" \
	"ok|1
error|
ok|2
error|" \
	"SELECT status, uid FROM kr_deliver_batch(
	   ARRAY['henry@example.com', 'henry@example.com', 'henry@example.com', 'henry@example.com'],
	   NULL, ARRAY['\xe1'::bytea, '\xe2', '\xe3', '\xe4'], ARRAY['e1'::bytea, 'e2', 'e3', 'e4'],
	   ARRAY[false, false, false, false], ARRAY[2, 2, 2, NULL], ARRAY[10, NULL, 10, 10], NULL, NULL)
	 ORDER BY idx"
check "failed messages left nothing behind" "20 2|2 2 20 3|f|f" \
	"SELECT t_user('henry@example.com'), t_counts('henry@example.com', 'INBOX'),
	 EXISTS (SELECT 1 FROM bodies WHERE hash IN ('\xe2', '\xe4')),
	 EXISTS (SELECT 1 FROM messages WHERE body_hash IN ('\xe2', '\xe4'))"
invariants "failed messages"

# 16 deliveries queue on dave's row together, then run: UIDs 1..16.
holder_sql="DO \$\$ DECLARE n int := 0; BEGIN
	PERFORM 1 FROM users WHERE address = 'dave@example.com' FOR UPDATE;
	FOR i IN 1 .. 400 LOOP
		PERFORM pg_stat_clear_snapshot();
		SELECT count(*) INTO n FROM pg_stat_activity
		WHERE wait_event_type = 'Lock' AND query LIKE '%kr_deliver_batch%';
		EXIT WHEN n = 16;
		PERFORM pg_sleep(0.05);
	END LOOP;
	IF n <> 16 THEN RAISE EXCEPTION 'only % deliveries waiting', n; END IF;
END \$\$"
psql -X -q -v ON_ERROR_STOP=1 "$conn1" -c "$holder_sql" >"$out/holder.out" 2>&1 &
holder=$!
# The holder sleeps in its loop only once it has the row.
holder_ready() {
	[[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'DO %'") == 1 ]]
}
wait_for 10 "holder has dave's row" holder_ready
pids=()
for i in $(seq 16); do
	psql -X -q -At -v ON_ERROR_STOP=1 "$conn1" -c "SELECT status || ' ' || uid FROM kr_deliver_batch(ARRAY['dave@example.com'], ARRAY['INBOX'], ARRAY[sha256('dave$i')], ARRAY['dave$i'::bytea], ARRAY[false], ARRAY[5], ARRAY[$((100 + i))], ARRAY['{}'::jsonb], ARRAY['$([[ $((i % 4)) == 0 ]] && echo '\Seen')'])" >"$out/dave$i.out" 2>&1 &
	pids+=($!)
done
wait "$holder" || fail "16 concurrent deliveries never all waited: $(cat "$out/holder.out")"
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent delivery failed: $(cat "$out"/dave*.out)"; done
got=$(cat "$out"/dave*.out | sort -k2 -n | paste -sd,)
want=$(seq 16 | sed 's/^/ok /' | paste -sd,)
[[ $got == "$want" ]] || fail "16 concurrent deliveries: want [$want], got [$got]"
check "16 concurrent: exact counters, 16 distinct modseqs, highest = users.modseq" \
	"16 12 1736 17|1736 16|16|17|17" \
	"SELECT t_counts('dave@example.com', 'INBOX'), t_user('dave@example.com'),
	 (SELECT count(DISTINCT modseq) FROM messages WHERE user_id = t_uid('dave@example.com')),
	 (SELECT highest_modseq FROM mailboxes WHERE id = t_mb('dave@example.com', 'INBOX')),
	 t_modseq('dave@example.com')"
ok "16 concurrent deliveries into one mailbox got UIDs 1..16"
invariants "concurrent deliveries"

# ------------------------------------------------------------------ quota
sql "SELECT kr_user_set_quota('carol@example.com', 700)" >/dev/null
before=$(sql "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM bodies), t_user('carol@example.com'), t_modseq('carol@example.com'), t_counts('carol@example.com', 'INBOX')")
check "over quota by one byte is refused" "over_quota||" "SELECT t_deliver('carol@example.com', 'INBOX', 'carol-big', 101)"
after=$(sql "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM bodies), t_user('carol@example.com'), t_modseq('carol@example.com'), t_counts('carol@example.com', 'INBOX')")
[[ $before == "$after" ]] || fail "quota refusal changed something: [$before] -> [$after]"
check "quota refusal stored no body" "f" "SELECT EXISTS (SELECT 1 FROM bodies WHERE hash = sha256('carol-big'))"
ok "quota refusal left messages, bodies, counters and modseq unchanged"
check "exactly at the quota is accepted" "ok|INBOX|2|700 2" \
	"SELECT t_deliver('carol@example.com', 'INBOX', 'carol-fits', 100), t_user('carol@example.com')"
check "quota 0 is unlimited" "ok|INBOX|3" "SELECT t_deliver('bob@example.com', 'INBOX', 'huge', 2000000000)"
check "quota reports used, quota, messages" "700|700|2" "SELECT * FROM kr_quota(t_uid('carol@example.com'))"
check "quota of unknown user: no row" "0" "SELECT count(*) FROM kr_quota(-1)"
invariants "quota"

# ----------------------------------------------------- body dedup, refs
# As LMTP delivers: every recipient has its own prefix (Delivered-To:
# that recipient), the body is the same. sizes count prefix || body.
pfx="'DT: erin' || g || E'\\r\\n'"
check "one body to 5 users with different prefixes in one batch" "ok,ok,ok,ok,ok
1|5|6
erin1@example.com|DT: erin1\\r\\n|17|17 1
erin2@example.com|DT: erin2\\r\\n|17|17 1
erin3@example.com|DT: erin3\\r\\n|17|17 1
erin4@example.com|DT: erin4\\r\\n|17|17 1
erin5@example.com|DT: erin5\\r\\n|17|17 1" \
	"SELECT (SELECT string_agg(status, ',' ORDER BY idx) FROM kr_deliver_batch(
	   ARRAY(SELECT 'erin' || g || '@example.com' FROM generate_series(1, 5) g),
	   ARRAY['INBOX', 'INBOX', 'INBOX', 'INBOX', 'INBOX'], array_fill(sha256('shared'), ARRAY[5]),
	   array_fill('shared'::bytea, ARRAY[5]), array_fill(false, ARRAY[5]), array_fill(6, ARRAY[5]),
	   ARRAY(SELECT octet_length(convert_to($pfx, 'UTF8')) + 6 FROM generate_series(1, 5) g),
	   array_fill('{}'::jsonb, ARRAY[5]), array_fill(''::text, ARRAY[5]),
	   ARRAY(SELECT convert_to($pfx, 'UTF8') FROM generate_series(1, 5) g)));
	 SELECT (SELECT count(*) FROM bodies WHERE hash = sha256('shared')),
	 (SELECT refs FROM bodies WHERE hash = sha256('shared')),
	 (SELECT raw_size FROM bodies WHERE hash = sha256('shared'));
	 SELECT u.address, replace(convert_from(m.prefix, 'UTF8'), E'\\r\\n', '\\r\\n'), m.size, t_user(u.address)
	 FROM messages m JOIN users u ON u.id = m.user_id WHERE u.address LIKE 'erin%' ORDER BY 1"
check "get: prefix and the shared body, listing size of the whole message" "ok|17|6|shared|DT: erin3\\r\\n|17" \
	"SELECT g.status, g.size, g.raw_size, convert_from(g.data, 'UTF8'), replace(convert_from(g.prefix, 'UTF8'), E'\\r\\n', '\\r\\n'),
	 (SELECT l.size FROM kr_msg_list(t_uid('erin3@example.com'), t_mb('erin3@example.com', 'INBOX'), 1, NULL) l)
	 FROM kr_msg_get(t_uid('erin3@example.com'), t_mb('erin3@example.com', 'INBOX'), 1) g"
e5="t_uid('erin5@example.com')"
sql "SELECT kr_msg_copy($e5, t_mb('erin5@example.com', 'INBOX'), ARRAY[1::bigint], t_mb('erin5@example.com', 'Trash'));
     SELECT kr_msg_move($e5, t_mb('erin5@example.com', 'Trash'), ARRAY[1::bigint], t_mb('erin5@example.com', 'Junk'))" >/dev/null
check "copy and move keep the prefix and share the body" "DT: erin5\\r\\n|17|6" \
	"SELECT replace(convert_from(g.prefix, 'UTF8'), E'\\r\\n', '\\r\\n'), g.size,
	 (SELECT refs FROM bodies WHERE hash = sha256('shared'))
	 FROM kr_msg_get($e5, t_mb('erin5@example.com', 'Junk'), 1) g"
sql "SELECT kr_msg_delete($e5, t_mb('erin5@example.com', 'Junk'), ARRAY[1::bigint])" >/dev/null
invariants "prefixed delivery"
for i in 1 2 3 4; do
	sql "SELECT kr_msg_delete(t_uid('erin$i@example.com'), t_mb('erin$i@example.com', 'INBOX'), ARRAY[1::bigint])" >/dev/null
done
check "deleting 4 of 5 keeps the body with refs 1" "1" "SELECT refs FROM bodies WHERE hash = sha256('shared')"
check "deleting the 5th frees it" $'ok|1\n0' \
	"SELECT * FROM kr_msg_delete(t_uid('erin5@example.com'), t_mb('erin5@example.com', 'INBOX'), ARRAY[1::bigint]);
	 SELECT count(*) FROM bodies WHERE hash = sha256('shared')"
check "prefixes: NULL array and NULL elements are empty prefixes" "ok,ok,ok
3|3" \
	"SELECT string_agg(d.status, ',' ORDER BY d.k)
	 FROM (SELECT 1 AS k, * FROM kr_deliver_batch(ARRAY['erin1@example.com'], NULL, ARRAY['\\x5a01'::bytea],
		 ARRAY['n1'::bytea], ARRAY[false], ARRAY[2], ARRAY[2], NULL, NULL, NULL)
	       UNION ALL
	       SELECT 1 + idx, * FROM kr_deliver_batch(ARRAY['erin1@example.com', 'erin1@example.com'], NULL,
		 ARRAY['\\x5a02'::bytea, '\\x5a03'], ARRAY['n2'::bytea, 'n3'], ARRAY[false, false], ARRAY[2, 2],
		 ARRAY[2, 2], NULL, NULL, ARRAY[NULL, ''::bytea])) d;
	 SELECT count(*), count(*) FILTER (WHERE prefix = '') FROM messages WHERE body_hash IN ('\\x5a01', '\\x5a02', '\\x5a03')"
check "prefixes of another length than the batch raise" "raised" \
	"DO \$\$ BEGIN PERFORM kr_deliver_batch(ARRAY['erin1@example.com'], NULL, ARRAY['\\x5a04'::bytea], ARRAY['n4'::bytea],
	   ARRAY[false], ARRAY[2], ARRAY[2], NULL, NULL, ARRAY['a'::bytea, 'b']); RAISE NOTICE 'no';
	 EXCEPTION WHEN raise_exception THEN NULL; END \$\$; SELECT 'raised'"
invariants "body refs"

# ----------------------------------------------- the RCPT look-ups' ids
# t_deliver_id: one message with the id given (014_rcpt_ids.sql).
sql "
CREATE FUNCTION t_deliver_id(a text, id bigint, body text, size int) RETURNS text
LANGUAGE sql AS \$\$
  SELECT d.status || '|' || coalesce(d.user_id::text, '')
  FROM kr_deliver_batch(ARRAY[a], ARRAY['INBOX'],
    ARRAY[sha256(convert_to(body, 'UTF8'))], ARRAY[convert_to(body, 'UTF8')],
    ARRAY[false], ARRAY[octet_length(body)], ARRAY[size], NULL, NULL, NULL,
    ARRAY[id]) d \$\$;
SELECT kr_user_create('ida@example.com', 'h', 0);
SELECT kr_user_create('idb@example.com', 'h', 0);
SELECT kr_user_create('idq@example.com', 'h', 5)" >/dev/null
ida=$(sql "SELECT t_uid('ida@example.com')")
idb=$(sql "SELECT t_uid('idb@example.com')")
idq=$(sql "SELECT t_uid('idq@example.com')")
check "ids: the right id stores, to that user" "ok|$ida
5 1" \
	"SELECT t_deliver_id('IDA@example.com', $ida, 'ida-1', 5); SELECT t_user('ida@example.com')"
check "ids: another user's id for the address is 'retry', nothing stored" "retry|$idb
0 0|0 0
f" \
	"SELECT t_deliver_id('idb@example.com', $ida, 'idb-x', 5); SELECT t_user('idb@example.com') || '|' || t_user('idq@example.com');
	 SELECT EXISTS (SELECT 1 FROM bodies WHERE hash = sha256('idb-x'))"
check "ids: an id for an address that is no user's is 'no_user'" "no_user|" \
	"SELECT t_deliver_id('gone@example.com', $ida, 'gone-x', 5)"
check "ids: over quota with the right id" "over_quota|$idq" \
	"SELECT t_deliver_id('idq@example.com', $idq, 'idq-big', 6)"
sql "INSERT INTO moved_users (id, address) VALUES ((1::bigint << 50) + 77, 'left@example.com')" >/dev/null
check "a moved address is 'moved' (by id or by address), not 'no_user'" "moved|
moved||" \
	"SELECT t_deliver_id('left@example.com', (1::bigint << 50) + 77, 'left-x', 5);
	 SELECT t_deliver('Left@example.com', 'INBOX', 'left-y', 5)"
check "ids: two messages, two users, one batch (locked in id order)" "ok,ok|10 2|5 1" \
	"SELECT string_agg(status, ',' ORDER BY idx) || '|' || t_user('ida@example.com') || '|' || t_user('idb@example.com')
	 FROM kr_deliver_batch(ARRAY['ida@example.com', 'idb@example.com'], NULL,
	   ARRAY[sha256('ida-2'), sha256('idb-2')], ARRAY['ida-2'::bytea, 'idb-2'], ARRAY[false, false],
	   ARRAY[5, 5], ARRAY[5, 5], NULL, NULL, NULL, ARRAY[$ida, $idb])"
check "ids: one NULL id looks every address up" "ok,ok|15 3" \
	"SELECT string_agg(status, ',' ORDER BY idx) || '|' || t_user('ida@example.com')
	 FROM kr_deliver_batch(ARRAY['ida@example.com', 'idb@example.com'], NULL,
	   ARRAY[sha256('ida-3'), sha256('idb-3')], ARRAY['ida-3'::bytea, 'idb-3'], ARRAY[false, false],
	   ARRAY[5, 5], ARRAY[5, 5], NULL, NULL, NULL, ARRAY[$ida, NULL])"
check "ids: of another length than the batch raise" "raised" \
	"DO \$\$ BEGIN PERFORM kr_deliver_batch(ARRAY['ida@example.com'], NULL, ARRAY['\\x5a05'::bytea], ARRAY['n5'::bytea],
	   ARRAY[false], ARRAY[2], ARRAY[2], NULL, NULL, NULL, ARRAY[1::bigint, 2]); RAISE NOTICE 'no';
	 EXCEPTION WHEN raise_exception THEN NULL; END \$\$; SELECT 'raised'"
invariants "RCPT ids"

# ------------------------------------------------------- flags, modseq
f=frank@example.com
for i in 1 2 3; do sql "SELECT t_deliver('$f', 'INBOX', 'frank$i', $((i * 10)), '$([[ $i == 3 ]] && echo '\Seen')')" >/dev/null; done
check "frank: 3 messages, 2 unseen" "3 2 60 4" "SELECT t_counts('$f', 'INBOX')"
m0=$(sql "SELECT t_modseq('$f')")
check "flags: add \\Seen to 1 and 3 (one change), unseen exact, one modseq bump" "ok|$((m0 + 1))
$((m0 + 1))|3 1 60 4|$((m0 + 1))" \
	"SELECT * FROM kr_msg_flags(t_uid('$f'), t_mb('$f', 'INBOX'), ARRAY[1, 3, 99]::bigint[], ARRAY['\seen'], NULL);
	 SELECT t_modseq('$f'), t_counts('$f', 'INBOX'), (SELECT highest_modseq FROM mailboxes WHERE id = t_mb('$f', 'INBOX'))"
check "flags: only changed messages get the new modseq" "1:$((m0 + 1)) 2:$((m0 - 1)) 3:$m0" \
	"SELECT string_agg(uid || ':' || modseq, ' ' ORDER BY uid) FROM messages WHERE mailbox_id = t_mb('$f', 'INBOX')"
check "flags: no change, no bump" "ok|$((m0 + 1))" \
	"SELECT * FROM kr_msg_flags(t_uid('$f'), t_mb('$f', 'INBOX'), ARRAY[1]::bigint[], ARRAY['\Seen'], ARRAY['\Draft'])"
check "flags: add and remove together, case-normalised" "ok|$((m0 + 2))
$((m0 + 2))|\\Flagged,work|3 2 60 4" \
	"SELECT * FROM kr_msg_flags(t_uid('$f'), t_mb('$f', 'INBOX'), ARRAY[1]::bigint[], ARRAY['\FLAGGED', 'work'], ARRAY['\seen']);
	 SELECT t_modseq('$f'), (SELECT array_to_string(flags, ',') FROM messages WHERE mailbox_id = t_mb('$f', 'INBOX') AND uid = 1), t_counts('$f', 'INBOX')"
invariants "flags"

# --------------------------------------------- mailbox create/rename/delete
u="t_uid('$f')"
check "mailbox create" "ok|Archive||0|0|0|1|$((m0 + 3))|t" \
	"SELECT status, name, role, total, unseen, size, uidnext, modseq, uidvalidity > 0 FROM kr_mailbox_create($u, 'Archive')"
check "mailbox create: exists, INBOX in any case, invalid names" \
	"exists|exists|exists|invalid|invalid|invalid|invalid|invalid" \
	"SELECT (SELECT status FROM kr_mailbox_create($u, 'Archive')), (SELECT status FROM kr_mailbox_create($u, 'inbox')),
	 (SELECT status FROM kr_mailbox_create($u, 'Inbox')), (SELECT status FROM kr_mailbox_create($u, '')),
	 (SELECT status FROM kr_mailbox_create($u, NULL)), (SELECT status FROM kr_mailbox_create($u, 'a' || chr(10) || 'b')),
	 (SELECT status FROM kr_mailbox_create($u, 'tab' || chr(9))), (SELECT status FROM kr_mailbox_create($u, repeat('x', 256)))"
check "mailbox name: 255 bytes passes, 256 fails (multibyte counted in bytes)" "ok|invalid|ok" \
	"SELECT (SELECT status FROM kr_mailbox_create($u, repeat('y', 255))), (SELECT status FROM kr_mailbox_create($u, repeat('é', 128))),
	 (SELECT status FROM kr_mailbox_create($u, repeat('é', 127)))"
sql "SELECT 1 FROM kr_user_create('cap@example.com', 'h', 0)" >/dev/null
sql "INSERT INTO mailboxes (user_id, name, uidvalidity, modseq)
	SELECT t_uid('cap@example.com'), 'bulk ' || g, 1, 1 FROM generate_series(1, 10000 - 5 - 1) g" >/dev/null
check "mailbox cap: the 10000th is made, the 10001st is too_many, a taken name still exists" \
	"ok|too_many|exists" \
	"SELECT (SELECT status FROM kr_mailbox_create(t_uid('cap@example.com'), 'last')),
	 (SELECT status FROM kr_mailbox_create(t_uid('cap@example.com'), 'over')),
	 (SELECT status FROM kr_mailbox_create(t_uid('cap@example.com'), 'last'))"
check "mailbox create: unknown user" "not_found" "SELECT status FROM kr_mailbox_create(-1, 'x')"
check "mailbox list: roles first, then by name" "INBOX Sent Drafts Trash Junk Archive yyy ééé" \
	"SELECT string_agg(CASE WHEN length(name) > 10 THEN left(name, 3) ELSE name END, ' ') FROM kr_mailbox_list($u)"
check "mailbox rename" "ok|Old mail|t" \
	"SELECT status, name, modseq = t_modseq('$f') FROM kr_mailbox_rename($u, t_mb('$f', 'Archive'), 'Old mail')"
check "mailbox rename statuses" "forbidden|exists|exists|invalid|not_found|ok" \
	"SELECT (SELECT status FROM kr_mailbox_rename($u, t_mb('$f', 'INBOX'), 'X')),
	 (SELECT status FROM kr_mailbox_rename($u, t_mb('$f', 'Old mail'), 'Sent')),
	 (SELECT status FROM kr_mailbox_rename($u, t_mb('$f', 'Old mail'), 'INBOX')),
	 (SELECT status FROM kr_mailbox_rename($u, t_mb('$f', 'Old mail'), '')),
	 (SELECT status FROM kr_mailbox_rename($u, -5, 'Y')),
	 (SELECT status FROM kr_mailbox_rename($u, t_mb('$f', 'Old mail'), 'Old mail'))"
sql "SELECT kr_mailbox_rename($u, t_mb('$f', 'Old mail'), 'Archive')" >/dev/null
check "mailbox delete statuses" "forbidden|ok|not_found" \
	"SELECT (SELECT status FROM kr_mailbox_delete($u, t_mb('$f', 'INBOX'))),
	 (SELECT status FROM kr_mailbox_delete($u, (SELECT id FROM mailboxes WHERE user_id = $u AND name LIKE 'yyy%'))),
	 (SELECT status FROM kr_mailbox_delete($u, -5))"

# ------------------------------------------------------- move, copy, delete
ms=$(sql "SELECT t_modseq('$f')")
check "move 1,2 INBOX -> Archive: new uids, one modseq" "ok|1|1
ok|2|2" \
	"SELECT * FROM kr_msg_move($u, t_mb('$f', 'INBOX'), ARRAY[2, 1, 77]::bigint[], t_mb('$f', 'Archive'))"
check "move: counters of both mailboxes, tombstones, quota unchanged" "1 0 30 4|2 2 30 3|60 3|$((ms + 1))|1:$((ms + 1)) 2:$((ms + 1))" \
	"SELECT t_counts('$f', 'INBOX'), t_counts('$f', 'Archive'), t_user('$f'), t_modseq('$f'),
	 (SELECT string_agg(uid || ':' || modseq, ' ' ORDER BY uid) FROM expunged WHERE mailbox_id = t_mb('$f', 'INBOX'))"
check "move keeps flags and metadata" "\\Flagged,work|20" \
	"SELECT array_to_string(flags, ','), (SELECT size FROM messages WHERE mailbox_id = t_mb('$f', 'Archive') AND uid = 2) FROM messages WHERE mailbox_id = t_mb('$f', 'Archive') AND uid = 1"
check "move into the same mailbox maps uids to themselves" "ok|3|3|$((ms + 1))" \
	"SELECT *, t_modseq('$f') FROM kr_msg_move($u, t_mb('$f', 'INBOX'), ARRAY[3]::bigint[], t_mb('$f', 'INBOX'))"
check "move of no existing uid: one ok row, no bump" "ok|||$((ms + 1))" \
	"SELECT *, t_modseq('$f') FROM kr_msg_move($u, t_mb('$f', 'INBOX'), ARRAY[55]::bigint[], t_mb('$f', 'Archive'))"
check "copy INBOX 3 -> Archive: new uid, body refs +1, quota counted" "ok|3|3
3 2 60 4|90 4|2|$((ms + 2))" \
	"SELECT * FROM kr_msg_copy($u, t_mb('$f', 'INBOX'), ARRAY[3]::bigint[], t_mb('$f', 'Archive'));
	 SELECT t_counts('$f', 'Archive'), t_user('$f'), (SELECT refs FROM bodies WHERE hash = sha256('frank3')), t_modseq('$f')"
sql "SELECT kr_user_set_quota('$f', 100)" >/dev/null
check "copy over quota refused, nothing copied" "over_quota||
3 2 60 4|90 4|$((ms + 2))" \
	"SELECT * FROM kr_msg_copy($u, t_mb('$f', 'Archive'), ARRAY[1, 2]::bigint[], t_mb('$f', 'Archive'));
	 SELECT t_counts('$f', 'Archive'), t_user('$f'), t_modseq('$f')"
check "copy at exactly the quota passes" "ok|1|4
100 5" \
	"SELECT * FROM kr_msg_copy($u, t_mb('$f', 'Archive'), ARRAY[1]::bigint[], t_mb('$f', 'Archive'));
	 SELECT t_user('$f')"
check "delete: count, counters, quota given back, tombstone" "ok|2
2 2 30 5|60 3|$((ms + 4))|$((ms + 4))" \
	"SELECT * FROM kr_msg_delete($u, t_mb('$f', 'Archive'), ARRAY[1, 3, 99]::bigint[]);
	 SELECT t_counts('$f', 'Archive'), t_user('$f'), t_modseq('$f'),
	 (SELECT max(modseq) FROM expunged WHERE mailbox_id = t_mb('$f', 'Archive'))"
check "delete of nothing: 0, no bump" "ok|0|$((ms + 4))" \
	"SELECT d.*, t_modseq('$f') FROM kr_msg_delete($u, t_mb('$f', 'Archive'), ARRAY[1]::bigint[]) d"
arch=$(sql "SELECT t_mb('$f', 'Archive')")
check "mailbox delete gives quota back, unrefs bodies, leaves mailbox_gone" "ok
30 1|$((ms + 5))|0|1|f" \
	"SELECT * FROM kr_mailbox_delete($u, $arch);
	 SELECT t_user('$f'), t_modseq('$f'), (SELECT count(*) FROM expunged WHERE mailbox_id = $arch),
	 (SELECT count(*) FROM mailbox_gone WHERE mailbox_id = $arch AND modseq = $((ms + 5))),
	 EXISTS (SELECT 1 FROM bodies WHERE hash = sha256('frank2'))"
invariants "move, copy, delete"

# ------------------------------------------------------------- modseq
g=gina@example.com
gu="t_uid('$g')"
gi="t_mb('$g', 'INBOX')"
prev=$(sql "SELECT t_modseq('$g')")
step() { # step DESCRIPTION SQL: the change must bump the modseq by exactly 1
	local now
	sql "$2" >/dev/null
	now=$(sql "SELECT t_modseq('$g')")
	[[ $now == $((prev + 1)) ]] || fail "modseq after $1: $prev -> $now, want $((prev + 1))"
	prev=$now
}
for i in 1 2 3 4 5; do step "delivery $i" "SELECT t_deliver('$g', 'INBOX', 'gina$i', 10, '', '{\"subject\": \"s$i\"}')"; done
step "append" "SELECT kr_append($gu, $gi, sha256('gina6'), 'gina6', false, 5, '{\"subject\": \"s6\"}', ARRAY['\Seen'])"
step "flags" "SELECT kr_msg_flags($gu, $gi, ARRAY[1]::bigint[], ARRAY['\Seen'], NULL)"
step "mailbox create" "SELECT kr_mailbox_create($gu, 'G')"
step "copy" "SELECT kr_msg_copy($gu, $gi, ARRAY[1]::bigint[], t_mb('$g', 'G'))"
step "move" "SELECT kr_msg_move($gu, t_mb('$g', 'G'), ARRAY[1]::bigint[], t_mb('$g', 'Trash'))"
step "rename" "SELECT kr_mailbox_rename($gu, t_mb('$g', 'G'), 'H')"
step "delete" "SELECT kr_msg_delete($gu, t_mb('$g', 'Trash'), ARRAY[1]::bigint[])"
step "mailbox delete" "SELECT kr_mailbox_delete($gu, t_mb('$g', 'H'))"
check "message modseqs strictly increase with uid in gina's INBOX" "t" \
	"SELECT bool_and(d > 0) FROM (SELECT modseq - lag(modseq) OVER (ORDER BY uid) AS d FROM messages WHERE mailbox_id = $gi AND uid > 1) s"
ok "modseq: +1 for each of 13 kinds of change"
invariants "modseq"

# ------------------------------------------------------------- listing
check "list: newest first with total" "ok|6|6|s6|\\Seen
ok|6|5|s5|
ok|6|4|s4|" \
	"SELECT status, total, uid, subject, array_to_string(flags, ',') FROM kr_msg_list($gu, $gi, 3, NULL)"
check "list: before_uid pages" "4 3|2 1|ok|6|" \
	"SELECT (SELECT string_agg(uid::text, ' ') FROM kr_msg_list($gu, $gi, 2, 5)),
	 (SELECT string_agg(uid::text, ' ') FROM kr_msg_list($gu, $gi, 50, 3)),
	 l.status, l.total, l.uid FROM kr_msg_list($gu, $gi, 50, 1) l"
check "list: lim 0 and empty mailbox give one ok row" "ok|6||ok|0|" \
	"SELECT a.status, a.total, a.uid, b.status, b.total, b.uid FROM kr_msg_list($gu, $gi, 0, NULL) a, kr_msg_list($gu, t_mb('$g', 'Sent'), 50, NULL) b"
check "get: metadata and body (appended: empty prefix)" "ok|6|s6|\\Seen|5|f|5|gina6|0" \
	"SELECT status, uid, subject, array_to_string(flags, ','), size, zlib, raw_size, convert_from(data, 'UTF8'), octet_length(prefix) FROM kr_msg_get($gu, $gi, 6)"
check "get: unknown uid" "not_found|" "SELECT status, uid FROM kr_msg_get($gu, $gi, 99)"

# ------------------------------------------------------------- search
sx() { echo "SELECT coalesce(string_agg(uid::text, ' '), '') || '|' || max(status) || '|' || max(total) FROM kr_msg_search($gu, $1)"; }
sql "SELECT t_deliver('$g', 'INBOX', 'gs1', 10, '', '{\"subject\": \"Quarterly report 100% done\", \"from_name\": \"Zoe Q\", \"from_email\": \"zoe@corp.example\", \"search_terms\": \"pineapple budget\"}');
     SELECT t_deliver('$g', 'Junk', 'gs2', 10, '\Seen', '{\"subject\": \"Cheap report_x\", \"from_name\": \"Spam\", \"from_email\": \"spam@bad.example\", \"search_terms\": \"pineapple offer\"}')" >/dev/null
check "search: full text, all mailboxes, newest first" "1 7|ok|2" "$(sx "NULL, 'pineapple', NULL, NULL, NULL, NULL, NULL, 50")"
check "search: full text in one mailbox" "7|ok|1" "$(sx "$gi, 'pineapple', NULL, NULL, NULL, NULL, NULL, 50")"
check "search: from substring, case-insensitive" "7|ok|1" "$(sx "NULL, NULL, 'ZOE@CORP', NULL, NULL, NULL, NULL, 50")"
check "search: subject substring; % and _ are literal" "7|ok|1 1|ok|1 |ok|0" \
	"SELECT ($(sx "NULL, NULL, NULL, '100%', NULL, NULL, NULL, 50")) || ' ' || ($(sx "NULL, NULL, NULL, 't_', NULL, NULL, NULL, 50")) || ' ' || ($(sx "NULL, NULL, NULL, 'r_p', NULL, NULL, NULL, 50"))"
check "search: unseen only and seen only" "7|ok|1 1|ok|1" \
	"SELECT ($(sx "NULL, 'pineapple', NULL, NULL, NULL, NULL, true, 50")) || ' ' || ($(sx "NULL, 'pineapple', NULL, NULL, NULL, NULL, false, 50"))"
check "search: since/before on the arrival date" "|ok|0 1 7|ok|2" \
	"SELECT ($(sx "NULL, 'pineapple', NULL, NULL, now() + interval '1 day', NULL, NULL, 50")) || ' ' || ($(sx "NULL, 'pineapple', NULL, NULL, now() - interval '1 day', now() + interval '1 day', NULL, 50"))"
check "search: nothing found is one ok row with total 0" "ok|0|" \
	"SELECT status, total, uid FROM kr_msg_search($gu, NULL, 'nosuchwordanywhere', NULL, NULL, NULL, NULL, NULL, 50)"
check "search: limit, total counts all matches" "6|ok|6" "$(sx "$gi, NULL, NULL, 's', NULL, NULL, NULL, 1")"

# ------------------------------------------------------------- changes
m0=$(sql "SELECT t_modseq('$g')")
sql "SELECT kr_msg_flags($gu, $gi, ARRAY[2]::bigint[], ARRAY['\Flagged'], NULL);
     SELECT kr_msg_delete($gu, $gi, ARRAY[3]::bigint[]);
     SELECT kr_mailbox_create($gu, 'Tmp');" >/dev/null
tmp=$(sql "SELECT t_mb('$g', 'Tmp')")
sql "SELECT kr_mailbox_delete($gu, $tmp)" >/dev/null
check "changes since a modseq: messages, mailboxes, removed, mailbox_removed, modseq" \
	"message|t|2|\\Flagged|$((m0 + 1))
mailbox|t|||$((m0 + 2))
removed|t|3||$((m0 + 2))
mailbox_removed|f|||$((m0 + 4))
modseq||||$((m0 + 4))" \
	"SELECT kind, mailbox_id = $gi, uid, array_to_string(flags, ','), modseq FROM kr_changes($gu, $m0)"
check "changes: the removed mailbox is the one deleted" "$tmp" \
	"SELECT mailbox_id FROM kr_changes($gu, $m0) WHERE kind = 'mailbox_removed'"
check "changes: up to date gives only the modseq row" "modseq||||$((m0 + 4))" "SELECT * FROM kr_changes($gu, $((m0 + 4)))"
check "changes: unknown user gives no rows" "0" "SELECT count(*) FROM kr_changes(-1, 0)"

# 10100 messages in 4 batches, then changes paged at 10000 rows. (Many
# messages to ONE user in one call each update that user's row again, a
# chain of row versions in one transaction: keep such batches modest.)
t0=$EPOCHREALTIME
for k in 0 1 2 3; do
	check "deliver 2525 messages to one user in one batch ($((k + 1))/4)" "2525" \
		"SELECT count(*) FILTER (WHERE status = 'ok') FROM kr_deliver_batch(
		   array_fill('henry@example.com'::text, ARRAY[2525]), NULL,
		   ARRAY(SELECT sha256(('big' || g)::bytea) FROM generate_series($((k * 2525 + 1)), $(((k + 1) * 2525))) g),
		   ARRAY(SELECT ('big' || g)::bytea FROM generate_series($((k * 2525 + 1)), $(((k + 1) * 2525))) g),
		   array_fill(false, ARRAY[2525]), array_fill(8, ARRAY[2525]), array_fill(8, ARRAY[2525]), NULL, NULL)"
done
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
ok "10100 messages to one user in 4 kr_deliver_batch calls: ${ms} ms"
h="t_uid('henry@example.com')"
p1=$(sql "SELECT count(*) FILTER (WHERE kind <> 'modseq') || ' ' || max(modseq) FILTER (WHERE kind = 'modseq') FROM kr_changes($h, 0)")
read -r n1 e1 <<<"$p1"
[[ $n1 -le 10000 && $n1 -ge 9990 ]] || fail "changes page 1: $n1 rows"
p2=$(sql "SELECT count(*) FILTER (WHERE kind = 'message') || ' ' || max(modseq) FILTER (WHERE kind = 'modseq') FROM kr_changes($h, $e1)")
read -r n2 e2 <<<"$p2"
check "changes: two pages cover every message exactly once, ending at users.modseq" "10102|$e2" \
	"SELECT count(DISTINCT uid), t_modseq('henry@example.com') FROM (
	   SELECT uid FROM kr_changes($h, 0) WHERE kind = 'message' UNION ALL
	   SELECT uid FROM kr_changes($h, $e1) WHERE kind = 'message') s"
ok "changes: cut at $n1 rows (up to modseq $e1), rest in page 2 ($n2 messages)"
invariants "big batch"

# ------------------------------------------------------------- ownership
a=ivan@example.com
b=bob@example.com
au="t_uid('$a')"
bu="t_uid('$b')"
am="t_mb('$a', 'INBOX')"
bm="t_mb('$b', 'INBOX')"
snap="SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (
	SELECT m::text AS x FROM mailboxes m WHERE user_id = $au UNION ALL
	SELECT (mailbox_id, uid, flags, modseq)::text FROM messages WHERE user_id = $au UNION ALL
	SELECT u::text FROM users u WHERE id = $au) s"
before=$(sql "$snap")
check "user B with user A's ids: not_found from every function" \
	"not_found not_found not_found not_found not_found not_found not_found not_found not_found not_found not_found not_found not_found 0" \
	"SELECT concat_ws(' ',
	 (SELECT status FROM kr_mailbox_rename($bu, $am, 'X')),
	 (SELECT status FROM kr_mailbox_delete($bu, t_mb('$a', 'Junk'))),
	 (SELECT status FROM kr_msg_list($bu, $am, 50, NULL)),
	 (SELECT status FROM kr_msg_get($bu, $am, 1)),
	 (SELECT status FROM kr_msg_flags($bu, $am, ARRAY[1]::bigint[], ARRAY['\Deleted'], NULL)),
	 (SELECT status FROM kr_msg_move($bu, $am, ARRAY[1]::bigint[], $bm)),
	 (SELECT status FROM kr_msg_move($bu, $bm, ARRAY[1]::bigint[], $am)),
	 (SELECT status FROM kr_msg_copy($bu, $am, ARRAY[1]::bigint[], $bm)),
	 (SELECT status FROM kr_msg_copy($bu, $bm, ARRAY[1]::bigint[], $am)),
	 (SELECT status FROM kr_msg_delete($bu, $am, ARRAY[1]::bigint[])),
	 (SELECT status FROM kr_msg_search($bu, $am, 'banana', NULL, NULL, NULL, NULL, NULL, 50)),
	 (SELECT status FROM kr_append($bu, $am, sha256('x'), 'x', false, 1, '{}', '{}')),
	 (SELECT status FROM kr_mailbox_create(-1, 'Z')),
	 (SELECT count(*) FROM kr_msg_search($bu, NULL, 'banana', NULL, NULL, NULL, NULL, NULL, 50) WHERE uid IS NOT NULL))"
after=$(sql "$snap")
[[ $before == "$after" ]] || fail "user A's data changed through user B's calls"
check "user B's own search never sees A's messages; A's does" "1" \
	"SELECT count(*) FROM kr_msg_search($au, NULL, 'banana', NULL, NULL, NULL, NULL, NULL, 50) WHERE uid IS NOT NULL"
ok "user A's mailboxes and messages unchanged by user B's calls"

# ------------------------------------------------------------- append
check "append: ok, flags normalised, dedups body with a delivery" "ok|3
\\Draft|2" \
	"SELECT * FROM kr_append($au, $am, sha256('meta1'), 'meta1', false, 5, '{}', ARRAY['\draft', '']);
	 SELECT (SELECT array_to_string(flags, ',') FROM messages WHERE mailbox_id = $am AND uid = 3), (SELECT refs FROM bodies WHERE hash = sha256('meta1'))"
sql "SELECT kr_user_set_quota('$a', 25)" >/dev/null
check "append over quota" "over_quota|" "SELECT * FROM kr_append($au, $am, sha256('big'), 'big', false, 6, '{}', '{}')"
check "append into an unknown mailbox" "not_found|" "SELECT * FROM kr_append($au, -1, sha256('big'), 'big', false, 1, '{}', '{}')"

# ------------------------------------------------------------ user delete
check "user delete frees only bodies no one else references" "ok|INBOX|4
3
ok
1|f" \
	"SELECT t_deliver('$b', 'INBOX', 'meta1', 10);
	 SELECT refs FROM bodies WHERE hash = sha256('meta1');
	 SELECT * FROM kr_user_delete('$a');
	 SELECT (SELECT refs FROM bodies WHERE hash = sha256('meta1')), EXISTS (SELECT 1 FROM bodies WHERE hash = sha256('meta2'))"
invariants "append and user delete"

# ------------------------------------------------- group commit, pgbench
# 64 messages to 64 users per transaction (4 KiB bodies, one commit each),
# 4 clients at once, recipients and shared bodies in random order: the
# lock order must keep this free of deadlocks.
sql "SELECT count(*) FROM kr_user_import(ARRAY(SELECT 'gc' || g || '@example.com' FROM generate_series(1, 256) g), array_fill('h'::text, ARRAY[256]))" >/dev/null
cat >"$out/deliver.pgbench" <<'EOF'
\set u random(0, 192)
\set b random(1, 1000000000)
SELECT count(*) FILTER (WHERE status = 'ok') FROM kr_deliver_batch(
  ARRAY(SELECT 'gc' || (:u + g) || '@example.com' FROM generate_series(1, 64) g ORDER BY random()),
  array_fill('INBOX'::text, ARRAY[64]),
  ARRAY(SELECT sha256(convert_to(repeat('x', 4000) || CASE WHEN g % 4 = 0 THEN 'shared' || (g % 16) ELSE :b || '-' || g END, 'UTF8')) FROM generate_series(1, 64) g),
  ARRAY(SELECT convert_to(repeat('x', 4000) || CASE WHEN g % 4 = 0 THEN 'shared' || (g % 16) ELSE :b || '-' || g END, 'UTF8') FROM generate_series(1, 64) g),
  array_fill(false, ARRAY[64]), array_fill(4096, ARRAY[64]), array_fill(4096, ARRAY[64]),
  array_fill('{"subject": "load test", "from_email": "a@b.example", "search_terms": "some body words"}'::jsonb, ARRAY[64]),
  array_fill(''::text, ARRAY[64]));
EOF
pgb() { # pgb CLIENTS TRANSACTIONS_PER_CLIENT
	/usr/lib/postgresql/15/bin/pgbench -n -c "$1" -j "$1" -t "$2" -f "$out/deliver.pgbench" \
		"$conn1" >"$out/pgbench-c$1.out" 2>&1 ||
		fail "pgbench -c $1: $(tail -n 20 "$out/pgbench-c$1.out")"
	grep -q "number of failed transactions: 0 " "$out/pgbench-c$1.out" ||
		fail "pgbench -c $1 failed transactions: $(tail -n 20 "$out/pgbench-c$1.out")"
	local lat tps
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$out/pgbench-c$1.out")
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out/pgbench-c$1.out")
	ok "pgbench, $1 client(s), 64 x 4 KiB messages per call: ${lat} ms per batch, ${tps} batches/s ($(awk -v t="$tps" 'BEGIN { printf "%.0f", t * 64 }') messages/s)"
}
pgb 1 40
pgb 4 40
check "group commit: every message stored" "$((40 * 64 + 4 * 40 * 64))" \
	"SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id WHERE u.address LIKE 'gc%'"
invariants "group commit under concurrency"

echo "all store SQL checks passed"
