-- pgbench script for ops/bench.sh: the delivery transaction of the
-- store (one kr_deliver_batch call in autocommit, so one commit and one
-- WAL flush) with nmsg messages. Each message goes to a random bench user
-- of this shard (bench_rcpt) and is a 4096-byte RFC 5322 message
-- (headers + text of bench_text, cut to fit) behind the per-recipient
-- prefix, stored raw (zlib false), with the metadata the store sends
-- (subject, from, to, message-id, date, preview, body as search_text).
-- Variables (-D): nmsg, nusers (rows of bench_rcpt), ntext (rows of
-- bench_text). A status other than 'ok' aborts the client, so pgbench
-- fails instead of counting it.
SELECT count(*) FILTER (WHERE d.status IS DISTINCT FROM 'ok') AS bad
FROM (
	SELECT array_agg(m.rcpt ORDER BY m.k) AS rcpts,
	       array_agg(sha256(m.raw) ORDER BY m.k) AS hashes,
	       array_agg(m.raw ORDER BY m.k) AS raws,
	       array_agg(octet_length(m.raw) ORDER BY m.k) AS sizes,
	       array_agg(m.meta ORDER BY m.k) AS metas
	FROM (
		SELECT h.k, h.rcpt,
		       convert_to('Return-Path: <sender@bench.test>' || E'\r\n'
				  || 'Delivered-To: ' || h.rcpt || E'\r\n'
				  || h.hdr || h.text, 'UTF8') AS raw,
		       jsonb_build_object(
			'date', to_json(date_trunc('second', now())) #>> '{}',
			'from_name', 'Bench Sender',
			'from_email', 'sender@bench.test',
			'to', jsonb_build_array(
				jsonb_build_object('email', h.rcpt)),
			'subject', h.subject,
			'message_id', h.msgid,
			'preview', left(replace(h.text, E'\r\n', ' '), 200),
			'has_attachments', false,
			'search_text', h.text) AS meta
		FROM (
			SELECT s.*, left(s.body, 4094 - octet_length(s.hdr))
				    || E'\r\n' AS text
			FROM (
				SELECT g.k, r.address AS rcpt, t.body,
				       t.subject || ' #' || g.id AS subject,
				       g.id || '@bench.test' AS msgid,
				       'From: Bench Sender <sender@bench.test>'
				       || E'\r\nTo: <' || r.address
				       || E'>\r\nSubject: ' || t.subject || ' #'
				       || g.id || E'\r\nDate: '
				       || replace(to_char(now() AT TIME ZONE 'UTC',
					'Dy, DD Mon YYYY HH24.MI.SS "+0000"'),
					'.', chr(58))
				       || E'\r\nMessage-ID: <' || g.id
				       || E'@bench.test>\r\nMIME-Version: 1.0'
				       || E'\r\nContent-Type: text/plain; '
				       || E'charset=us-ascii\r\n\r\n' AS hdr
				FROM (SELECT k,
					     floor(random() * CAST(:nusers AS int))::int AS ur,
					     floor(random() * CAST(:ntext AS int))::int AS tr,
					     left(md5(random()::text), 16) AS id
				      FROM generate_series(1, CAST(:nmsg AS int)) k) g
				JOIN bench_rcpt r ON r.n = g.ur
				JOIN bench_text t ON t.n = g.tr
			) s
		) h
	) m
) x,
LATERAL kr_deliver_batch(x.rcpts,
	array_fill('INBOX'::text, ARRAY[CAST(:nmsg AS int)]), x.hashes, x.raws,
	array_fill(false, ARRAY[CAST(:nmsg AS int)]), x.sizes, x.sizes, x.metas,
	array_fill(''::text, ARRAY[CAST(:nmsg AS int)])) d
\gset
\if :bad
\set abort 1 / 0
\endif
