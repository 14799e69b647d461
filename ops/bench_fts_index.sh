#!/usr/bin/env bash
# ops/bench_fts_index.sh (issue 12, rough): PostgreSQL CPU per message
# of the full-text indexer on one node, the schema as 008 left it
# (kr_fts_index UPDATEs messages.search) against 010 (one INSERT into
# message_fts per batch), the same N queued texts (about 4 KiB of
# generated words each) in two databases, ROUNDS alternating rounds;
# and to_tsvector alone over the same texts. CPU = utime + stime of the
# node's processes from /proc (autovacuum included: the dead tuples of
# an UPDATE are part of its cost). Starts its own one-node cluster on
# PORT (15200); run it under the integration lock:
#   flock -o /tmp/kr-integ.lock ops/bench_fts_index.sh
# A shared machine makes the figures indicative only.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-15200} N=${N:-2000} ROUNDS=${ROUNDS:-3} BATCH=500
dir=var/bench-fts-index
rm -rf "$dir"
ops/pgcluster start -n 1 -d "$dir" -p "$PORT" >/dev/null
trap 'ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
tck=$(getconf CLK_TCK)
conn() { echo "host=$PWD/$dir/pg/run port=$PORT dbname=$1 user=kurier"; }
sql() { psql -X -qtA -v ON_ERROR_STOP=1 "$(conn "$1")" "${@:2}"; }
pm=$(head -1 "$dir"/pg/node00/postmaster.pid)
ticks() {
	local s p
	s=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")
	for p in $(pgrep -P "$pm"); do
		s=$((s + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$s"
}
# Texts: 600 words each from a vocabulary of 20000 (3 to 10 letters from
# md5), drawn with a skew like a natural language's (a few words very
# often, most rarely), the same in both databases.
setup() {
	local db=$1 last=$2 f
	sql kurier -c "CREATE DATABASE $db" >/dev/null
	for f in storage/sql/0*.sql; do
		[[ $(basename "$f") > $last ]] && break
		sql "$db" -f "$f" >/dev/null
	done
	sql "$db" >/dev/null <<SQL
UPDATE fts_state SET bound = 100000000;
CREATE TABLE bench_text AS
SELECT g, (SELECT string_agg(translate(substr(md5(w::text), 1, 3 + w % 8),
	'0123456789', 'qwrtyuipsd'), ' ')
	FROM (SELECT floor(exp(ln(20000) * (('x' || substr(md5(g || '-' || k),
		1, 7))::bit(28)::int / 268435456.0)))::int AS w
	      FROM generate_series(1, 600) k) v) AS body
FROM generate_series(1, $N) g;
SELECT kr_user_create('u' || i || '@bench.test', 'x', 0)
FROM generate_series(1, 20) i;
SELECT kr_msg_insert(b.id, t.g, b.user_id, '\\x00', '', 4096, '{}', 1,
	jsonb_build_object('subject', 'bench', 'search_text', t.body))
FROM bench_text t
JOIN (SELECT m.id, m.user_id, row_number() OVER (ORDER BY m.id) - 1 AS r
      FROM mailboxes m WHERE m.role = 'inbox') b ON b.r = t.g % 20;
SQL
}
# Puts every message back into the queue, not indexed.
requeue() {
	local db=$1
	if [[ $db == kr_old ]]; then
		sql "$db" -c "UPDATE messages SET search = NULL" >/dev/null
	else
		sql "$db" -c "TRUNCATE message_fts" >/dev/null
	fi
	sql "$db" >/dev/null <<SQL
DELETE FROM fts_queue;
INSERT INTO fts_queue (mailbox_id, uid, user_id, body)
SELECT m.mailbox_id, m.uid, m.user_id, left(concat_ws(' ', 'bench', t.body), 100000)
FROM messages m JOIN bench_text t ON t.g = m.uid;
SQL
	sql "$db" -c "VACUUM ANALYZE" >/dev/null
	sql "$db" -c "CHECKPOINT" >/dev/null
}
run_index() {
	local db=$1 t0 t1 i
	sleep 1
	t0=$(ticks)
	for ((i = 0; i < N / BATCH + 1; i++)); do
		echo "SELECT indexed FROM kr_fts_index($BATCH);"
	done | sql "$db" >/dev/null
	# Autovacuum and the checkpoint's share: what the batch left.
	sql "$db" -c "VACUUM" >/dev/null
	sleep 1 # the exited backends reaped: their CPU in the postmaster's cutime
	t1=$(ticks)
	[[ $(sql "$db" -c "SELECT count(*) FROM fts_queue") == 0 ]] || { echo "queue not empty" >&2; exit 1; }
	awk -v t=$((t1 - t0)) -v k="$tck" -v n="$N" 'BEGIN { printf "%.3f", t * 1000 / k / n }'
}
setup kr_old 008_fts_queue.sql
setup kr_new 010_fts_table.sql
# NOGIN=1: what the GIN index costs the indexer (search would then scan
# the user's rows of message_fts: not a configuration to ship).
[[ -z ${NOGIN:-} ]] || sql kr_new -c "DROP INDEX message_fts_tsv" >/dev/null
for ((r = 0; r < ROUNDS; r++)); do
	for db in kr_old kr_new; do
		requeue "$db"
		printf '%s indexer+vacuum cpu_ms/msg=%s\n' "$db" "$(run_index "$db")"
	done
	sleep 1
	t0=$(ticks)
	sql kr_new -c "SELECT sum(length(to_tsvector('simple', body))) FROM bench_text" >/dev/null
	sleep 1
	t1=$(ticks)
	awk -v t=$((t1 - t0)) -v k="$tck" -v n="$N" 'BEGIN { printf "to_tsvector alone cpu_ms/msg=%.3f\n", t * 1000 / k / n }'
done
