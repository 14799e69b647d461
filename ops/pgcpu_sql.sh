#!/usr/bin/env bash
# ops/pgcpu_sql.sh [N] [ROUNDS]: PostgreSQL CPU of kr_deliver_batch alone
# (issue 12): the function as it was before 009 (kept under the name
# kr_deliver_batch_old, taken from 002_store_core.sql) against the
# current one, alternating, N one-message deliveries each (pgbench, one
# client, a 4 KiB body, a 4 KiB search text, 100 users) on a 1-node
# cluster (var/test-pgcpusql, port 15000). CPU is the backend's:
# utime + stime the postmaster reaps when pgbench's backend exits. The
# full-text queue's bound is lifted so neither side indexes inline. No
# array_in difference is measured here (both get the same literals).
# Run under flock /tmp/kr-integ.lock; a shared machine makes the figures
# indicative only.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
N=${1:-2000} ROUNDS=${2:-2}
dir=var/test-pgcpusql port=15000
trap 'ops/pgcluster stop -d "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
rm -rf "$dir"
ops/pgcluster start -n 1 -d "$dir" -p "$port" >/dev/null
conn="host=$PWD/$dir/pg/run port=$port dbname=kurier user=kurier"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$conn" "$@"; }
for f in storage/sql/[0-9][0-9][0-9]_*.sql; do sql -f "$f" >/dev/null; done
# The old function: 002's text, renamed.
awk '/^CREATE OR REPLACE FUNCTION kr_deliver_batch\(/ { on = 1 }
	on { print } on && /^\$\$;/ { exit }' storage/sql/002_store_core.sql |
	sed 's/FUNCTION kr_deliver_batch(/FUNCTION kr_deliver_batch_old(/' | sql >/dev/null
FNS="kr_deliver_batch_old kr_deliver_batch"
sql -c "UPDATE fts_state SET bound = 1000000000" \
	-c "SELECT count(*) FROM kr_user_import(ARRAY(SELECT 'u' || g || '@b.test' FROM generate_series(0, 99) g), ARRAY(SELECT 'h' FROM generate_series(0, 99) g))" \
	-c "CREATE TABLE t_body AS SELECT convert_to(string_agg(md5(g::text) || ' word ', ''), 'UTF8') AS b,
		jsonb_build_object('subject', 'A subject line', 'from_name', 'Sender', 'from_email', 's@x.test',
		  'date', '2026-12-07T03:00:00Z', 'to', jsonb_build_array(jsonb_build_object('name', 'R', 'email', 'r@b.test')),
		  'message_id', '<m@x>', 'preview', 'preview text', 'search_text', string_agg(md5(g::text) || ' word ', ''),
		  'search_terms', string_agg(md5(g::text) || ' word ', '')) AS m
		FROM generate_series(1, 110) g" >/dev/null
pm=$(head -1 "$dir"/pg/node00/postmaster.pid)
reaped() { awk '{ print $16 + $17 }' "/proc/$pm/stat"; }
hz=$(getconf CLK_TCK)
for fn in $FNS; do
	cat >"$dir/$fn.sql" <<SQL
\set u random(0, 99)
SELECT count(*) FROM $fn(ARRAY['u' || :u || '@b.test'], ARRAY['INBOX'],
  ARRAY[sha256(convert_to(clock_timestamp()::text || random()::text, 'UTF8'))],
  ARRAY[(SELECT b FROM t_body)], ARRAY[false], ARRAY[4400], ARRAY[4440],
  ARRAY[(SELECT m FROM t_body)], ARRAY[''], ARRAY['Delivered-To: u@b.test'::bytea]) WHERE status = 'ok';
SQL
done
# Warm-up, then the rounds.
for fn in $FNS; do
	pgbench -n -M prepared -c 1 -t 200 -f "$dir/$fn.sql" "$conn" >/dev/null 2>&1
done
for ((r = 1; r <= ROUNDS; r++)); do
	for fn in $FNS; do
		sleep 0.5
		c0=$(reaped)
		tps=$(pgbench -n -M prepared -c 1 -t "$N" -f "$dir/$fn.sql" "$conn" 2>&1 |
			awk '/^tps/ { printf "%.0f", $3 }')
		sleep 0.5
		c1=$(reaped)
		awk -v f="$fn" -v r="$r" -v n="$N" -v t="$((c1 - c0))" -v hz="$hz" -v tps="$tps" \
			-v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
			printf "pgcpu_sql: round %d %-22s %4.0f us CPU/delivery  tps %s  load %s\n",
				r, f, t / hz / n * 1e6, tps, l }'
	done
done
sql -c "SELECT 'messages', count(*), count(DISTINCT (mailbox_id, uid)) FROM messages" \
	-c "SELECT 'counters_ok', bool_and(b.total = (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id) AND b.uidnext = 1 + (SELECT coalesce(max(uid), 0) FROM messages m WHERE m.mailbox_id = b.id)) FROM mailboxes b"
