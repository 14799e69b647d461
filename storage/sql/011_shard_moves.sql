-- kurier mail store: online bucket moves (SPEC 3.4 and 4, issue 14;
-- conventions of 002_store_core.sql; IF NOT EXISTS and CREATE OR
-- REPLACE only). `kurier shard move` (storage/shardmove.c) copies a
-- bucket's users from its source shard to the destination, fences the
-- source, copies what changed, verifies, switches the map and cleans
-- the source up. Nothing here replaces a function of another migration.

---------------------------------------------------------------------------
-- The write fence (on the SOURCE shard, so it holds for every kurierd,
-- even one whose map is stale)
---------------------------------------------------------------------------

-- Every write path (delivery, append, flags, move, copy, expunge,
-- mailbox create/rename/delete, quota and password changes) updates
-- the user's row in its transaction (modseq, counters), so one trigger
-- on that update refuses them all. SQLSTATE 57K01 is in class 57
-- (operator intervention), which kurierd maps to a temporary error
-- (storage/pgconn.c): -32010 for a call, and for a delivery
-- kr_deliver_batch answers 'error' for that recipient only (451 4.3.0),
-- the rest of its batch going on. The WHEN clause is evaluated without
-- calling plpgsql, so unfenced rows pay nearly nothing. Deleting a
-- fenced user (the move's clean-up) is no UPDATE and passes; so does
-- lifting the fence (NEW.moving false).
ALTER TABLE users ADD COLUMN IF NOT EXISTS moving bool NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION kr_user_fenced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'kurier: user % is being moved to another shard',
		OLD.id USING ERRCODE = '57K01';
END
$$;

CREATE OR REPLACE TRIGGER users_fence
	BEFORE UPDATE ON users
	FOR EACH ROW
	WHEN (OLD.moving AND NEW.moving)
	EXECUTE FUNCTION kr_user_fenced();

---------------------------------------------------------------------------
-- The map overrides and the move jobs (read and written on shard 0 only,
-- created everywhere so that any shard can become shard 0's successor)
---------------------------------------------------------------------------

-- bucket -> shard over the config's [shard.N] ranges. Every kurierd
-- worker reads the whole table about once a second (storage/shardpoll.c)
-- and the CLI at start (kr_shardmove_load_map).
CREATE TABLE IF NOT EXISTS shard_map (
	bucket int PRIMARY KEY
		CONSTRAINT shard_map_bucket CHECK (bucket >= 0 AND bucket < 4096),
	shard int NOT NULL CONSTRAINT shard_map_shard CHECK (shard >= 0),
	changed_at timestamptz NOT NULL DEFAULT now()
);

-- One row per bucket being moved. 'copying': from the first copy to the
-- switch (copy, fence, delta, verify); run again, the move rolls this
-- back (fence lifted, the destination's copies deleted) and starts
-- over. 'switched': the map points at dst; run again, it finishes the
-- source's clean-up.
CREATE TABLE IF NOT EXISTS shard_moves (
	bucket int PRIMARY KEY
		CONSTRAINT shard_moves_bucket CHECK (bucket >= 0 AND bucket < 4096),
	src int NOT NULL,
	dst int NOT NULL,
	state text NOT NULL
		CONSTRAINT shard_moves_state CHECK (state IN ('copying', 'switched')),
	updated_at timestamptz NOT NULL DEFAULT now()
);

---------------------------------------------------------------------------
-- Copying one user (source: kr_move_get_*, destination: kr_move_put_*)
---------------------------------------------------------------------------

-- The user's row, mailboxes and Bayes statistic as JSON, read in the
-- caller's REPEATABLE READ snapshot together with kr_move_get_messages.
-- Generic (whole rows), so columns added by later migrations move too.
CREATE OR REPLACE FUNCTION kr_move_get_user(p_address text)
RETURNS TABLE (user_id bigint, modseq bigint, usr jsonb, mailboxes jsonb,
	bayes jsonb)
LANGUAGE sql STABLE AS $$
	SELECT u.id, u.modseq, to_jsonb(u),
	       coalesce((SELECT jsonb_agg(to_jsonb(m) ORDER BY m.id)
			 FROM mailboxes m WHERE m.user_id = u.id), '[]'),
	       jsonb_build_object(
		'user', (SELECT to_jsonb(b) FROM bayes_users b
			 WHERE b.user_id = u.id),
		'tokens', coalesce((SELECT jsonb_agg(to_jsonb(t))
				    FROM bayes_tokens t
				    WHERE t.user_id = u.id), '[]'),
		'seen', coalesce((SELECT jsonb_agg(to_jsonb(s))
				  FROM bayes_seen s WHERE s.user_id = u.id),
				 '[]'))
	FROM users u WHERE u.address = kr_addr(p_address)
$$;

-- Up to p_lim messages (and about p_bytes) of the user after
-- (p_after_mb, p_after_uid),
-- each with its mailbox's name and its full-text part (the queued body
-- if not indexed yet, else its tsvector), and the bodies they use, with how many of these
-- messages use each (the references the destination adds).
CREATE OR REPLACE FUNCTION kr_move_get_messages(p_user_id bigint,
	p_after_mb bigint, p_after_uid bigint, p_lim int, p_bytes bigint)
RETURNS TABLE (n int, last_mb bigint, last_uid bigint, msgs jsonb,
	bodies jsonb)
LANGUAGE sql STABLE AS $$
	WITH c AS (
		SELECT x.*, sum(x.size) OVER (ORDER BY x.mailbox_id, x.uid)
			AS kr_run
		FROM (SELECT y.* FROM messages y
		      WHERE y.user_id = p_user_id
			AND (y.mailbox_id, y.uid) > (p_after_mb, p_after_uid)
		      ORDER BY y.mailbox_id, y.uid LIMIT least(p_lim, 1000)) x
	), m AS (
		-- At least one message, then as many as fit p_bytes.
		SELECT * FROM c WHERE c.kr_run - c.size < p_bytes
	)
	SELECT (SELECT count(*)::int FROM m),
	       (SELECT m.mailbox_id FROM m ORDER BY m.mailbox_id DESC, m.uid DESC
		LIMIT 1),
	       (SELECT m.uid FROM m ORDER BY m.mailbox_id DESC, m.uid DESC
		LIMIT 1),
	       coalesce((SELECT jsonb_agg(to_jsonb(m) || jsonb_build_object(
				'kr_mailbox', b.name, 'kr_fts', q.body,
				'kr_tsv', t.tsv::text))
			 FROM m JOIN mailboxes b ON b.id = m.mailbox_id
			 LEFT JOIN fts_queue q ON q.mailbox_id = m.mailbox_id
					     AND q.uid = m.uid
			 LEFT JOIN message_fts t ON t.user_id = m.user_id
					       AND t.mailbox_id = m.mailbox_id
					       AND t.uid = m.uid), '[]'),
	       coalesce((SELECT jsonb_agg(to_jsonb(d) || jsonb_build_object(
				'refs', c.k))
			 FROM (SELECT m.body_hash, count(*)::int AS k FROM m
			       GROUP BY m.body_hash) c
			 JOIN bodies d ON d.hash = c.body_hash), '[]')
$$;

-- Creates the user (a new id on this shard, unfenced), its mailboxes
-- (new ids; names, uidvalidity, uidnext and modseqs kept) and its Bayes
-- statistic. (Learning never touches the users row, so the fence does
-- not hold it: a lesson learned on the source between this copy and the
-- switch stays behind. The statistic is approximate anyway.)
CREATE OR REPLACE FUNCTION kr_move_put_user(p_user jsonb, p_mailboxes jsonb,
	p_bayes jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint := nextval(pg_get_serial_sequence('users', 'id'));
	v_id_json jsonb := jsonb_build_object('user_id', v_id);
BEGIN
	INSERT INTO users SELECT * FROM jsonb_populate_record(NULL::users,
		p_user || jsonb_build_object('id', v_id, 'moving', false));
	INSERT INTO mailboxes
	SELECT * FROM jsonb_populate_recordset(NULL::mailboxes,
		(SELECT coalesce(jsonb_agg(m || jsonb_build_object(
			'id', nextval(pg_get_serial_sequence('mailboxes', 'id')),
			'user_id', v_id)), '[]')
		 FROM jsonb_array_elements(p_mailboxes) m));
	IF jsonb_typeof(p_bayes->'user') = 'object' THEN
		INSERT INTO bayes_users SELECT * FROM jsonb_populate_record(
			NULL::bayes_users, (p_bayes->'user') || v_id_json);
	END IF;
	INSERT INTO bayes_tokens
	SELECT * FROM jsonb_populate_recordset(NULL::bayes_tokens,
		(SELECT coalesce(jsonb_agg(t || v_id_json), '[]')
		 FROM jsonb_array_elements(p_bayes->'tokens') t));
	INSERT INTO bayes_seen
	SELECT * FROM jsonb_populate_recordset(NULL::bayes_seen,
		(SELECT coalesce(jsonb_agg(t || v_id_json), '[]')
		 FROM jsonb_array_elements(p_bayes->'seen') t));
	RETURN v_id;
END
$$;

-- Adds one chunk of kr_move_get_messages to the user p_user_id of this
-- shard: bodies first (their refs added), then the messages (uids,
-- flags, modseqs, dates kept), then their full-text rows (queued or
-- indexed).
CREATE OR REPLACE FUNCTION kr_move_put_messages(p_user_id bigint,
	p_msgs jsonb, p_bodies jsonb)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
	v_n int;
BEGIN
	INSERT INTO bodies AS b
	SELECT * FROM jsonb_populate_recordset(NULL::bodies, p_bodies) x
	ORDER BY x.hash
	ON CONFLICT (hash) DO UPDATE SET refs = b.refs + EXCLUDED.refs;
	INSERT INTO messages
	SELECT * FROM jsonb_populate_recordset(NULL::messages,
		(SELECT jsonb_agg(m || jsonb_build_object('user_id', p_user_id,
			'mailbox_id', (SELECT f.id FROM mailboxes f
				       WHERE f.user_id = p_user_id
					 AND f.name = m->>'kr_mailbox')))
		 FROM jsonb_array_elements(p_msgs) m));
	GET DIAGNOSTICS v_n = ROW_COUNT;
	INSERT INTO fts_queue (mailbox_id, uid, user_id, body)
	SELECT f.id, (m->>'uid')::bigint, p_user_id, m->>'kr_fts'
	FROM jsonb_array_elements(p_msgs) m
	JOIN mailboxes f ON f.user_id = p_user_id AND f.name = m->>'kr_mailbox'
	WHERE m->>'kr_fts' IS NOT NULL;
	INSERT INTO message_fts (user_id, mailbox_id, uid, tsv)
	SELECT p_user_id, f.id, (m->>'uid')::bigint, (m->>'kr_tsv')::tsvector
	FROM jsonb_array_elements(p_msgs) m
	JOIN mailboxes f ON f.user_id = p_user_id AND f.name = m->>'kr_mailbox'
	WHERE m->>'kr_tsv' IS NOT NULL;
	RETURN v_n;
END
$$;

-- What must be equal on both sides after a copy: counters, modseq,
-- password hash and, per message, mailbox name, uid, modseq, flags,
-- size and body. NULL when the user is not here.
CREATE OR REPLACE FUNCTION kr_move_digest(p_address text)
RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT concat_ws(' ', u.messages, u.used_bytes, u.modseq,
		u.quota_bytes, md5(u.password_hash),
		(SELECT count(*) || ':' || coalesce(md5(string_agg(
				b.name || '/' || b.uidvalidity || '/' || b.uidnext
				|| '/' || m.uid || '/' || m.modseq || '/'
				|| m.size || '/' || m.flags::text || '/'
				|| encode(m.body_hash, 'hex'), ','
				ORDER BY b.name, m.uid)), '')
		 FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		 WHERE m.user_id = u.id),
		(SELECT count(*) FROM mailboxes b WHERE b.user_id = u.id))
	FROM users u WHERE u.address = kr_addr(p_address)
$$;
