-- kurier mail store: ids a moved user keeps (issue 14; conventions of
-- 002_store_core.sql: IF NOT EXISTS and CREATE OR REPLACE only).
--
-- A session token names its user by shard and id, webmail holds mailbox
-- ids: a bucket move that gave the user new ids ended his sessions and
-- broke every mailbox id a client held. From this file on, shard N
-- allocates user and mailbox ids from [(N + 1) * 2^40, (N + 2) * 2^40)
-- (kurierd calls kr_shard_id_range after migrating), so an id at or
-- above 2^40 names one row in the whole cluster and a move keeps it.
-- Ids below 2^40 were allocated per shard before this file and may
-- repeat on another shard: a move gives those new ids (as before).
-- At most 1024 shards: every id stays below 2^51, well inside the 2^53
-- a JavaScript client reads exactly.
--
-- The source keeps a forwarding row per moved user (moved_users), so a
-- session whose token names the old shard is checked on the new one
-- (kr_session_check answers 'moved' with the address; kurierd routes the
-- address by the current map). Revoked sessions move with the user and
-- a logout during the fence waits like any other write (57K01).

---------------------------------------------------------------------------
-- Id ranges
---------------------------------------------------------------------------

-- Moves the users and mailboxes sequences to shard p_shard's range.
-- Only forward: run again it changes nothing, and a database that a
-- test lists under two indexes keeps the higher range.
CREATE OR REPLACE FUNCTION kr_shard_id_range(p_shard int)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_start bigint := (p_shard::bigint + 1) << 40;
	v_seq text;
	v_last bigint;
BEGIN
	IF p_shard IS NULL OR p_shard NOT BETWEEN 0 AND 1023 THEN
		RAISE EXCEPTION 'kurier: shard index % out of range', p_shard;
	END IF;
	FOREACH v_seq IN ARRAY ARRAY[pg_get_serial_sequence('users', 'id'),
				     pg_get_serial_sequence('mailboxes', 'id')]
	LOOP
		-- The raw last_value: also what a setval(.., false) left,
		-- which pg_sequence_last_value reports as NULL.
		EXECUTE format('SELECT last_value FROM %s', v_seq) INTO v_last;
		IF v_last < v_start THEN
			PERFORM setval(v_seq::regclass, v_start, false);
		END IF;
	END LOOP;
END
$$;

-- p_id when it can be kept on this shard: allocated from a range (so
-- no other shard's row has it) and not here already.
CREATE OR REPLACE FUNCTION kr_move_keep_id(p_id bigint, p_taken bool)
RETURNS bool
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(p_id >= (1::bigint << 40) AND NOT p_taken, false)
$$;

---------------------------------------------------------------------------
-- Copying one user (replaces 011's version: ids kept where they can be)
---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION kr_move_put_user(p_user jsonb, p_mailboxes jsonb,
	p_bayes jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint := (p_user->>'id')::bigint;
	v_id_json jsonb;
BEGIN
	IF NOT kr_move_keep_id(v_id,
			       EXISTS (SELECT 1 FROM users WHERE id = v_id)) THEN
		v_id := nextval(pg_get_serial_sequence('users', 'id'));
	END IF;
	v_id_json := jsonb_build_object('user_id', v_id);
	INSERT INTO users SELECT * FROM jsonb_populate_record(NULL::users,
		p_user || jsonb_build_object('id', v_id, 'moving', false));
	INSERT INTO mailboxes
	SELECT * FROM jsonb_populate_recordset(NULL::mailboxes,
		(SELECT coalesce(jsonb_agg(m || jsonb_build_object(
			'id', CASE WHEN kr_move_keep_id((m->>'id')::bigint,
				EXISTS (SELECT 1 FROM mailboxes x
					WHERE x.id = (m->>'id')::bigint))
				   THEN (m->>'id')::bigint
				   ELSE nextval(pg_get_serial_sequence(
					'mailboxes', 'id')) END,
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

---------------------------------------------------------------------------
-- Revoked sessions move with their user
---------------------------------------------------------------------------

-- A logout writes no users row, so 011's fence does not hold it: this
-- one does, or a logout between the last copy and the switch would be
-- lost and its session live again on the new shard.
CREATE OR REPLACE FUNCTION kr_revoke_fenced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM users u
		   WHERE u.id = NEW.user_id AND u.moving) THEN
		RAISE EXCEPTION 'kurier: user % is being moved to another shard',
			NEW.user_id USING ERRCODE = '57K01';
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER revoked_sessions_fence
	BEFORE INSERT OR UPDATE ON revoked_sessions
	FOR EACH ROW EXECUTE FUNCTION kr_revoke_fenced();

-- Called by the move once the user is fenced (so nothing is added
-- after): the user's revocations as JSON on the source, added on the
-- destination (ON CONFLICT: copied before).
CREATE OR REPLACE FUNCTION kr_move_get_revoked(p_address text)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object(
			'sid', encode(r.sid, 'hex'), 'expires_at', r.expires_at,
			'revoked_at', r.revoked_at)), '[]')
	FROM revoked_sessions r JOIN users u ON u.id = r.user_id
	WHERE u.address = kr_addr(p_address)
$$;

CREATE OR REPLACE FUNCTION kr_move_put_revoked(p_address text, p_rows jsonb)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
	v_n int;
BEGIN
	INSERT INTO revoked_sessions (sid, user_id, expires_at, revoked_at)
	SELECT decode(x->>'sid', 'hex'), u.id, (x->>'expires_at')::timestamptz,
	       (x->>'revoked_at')::timestamptz
	FROM jsonb_array_elements(p_rows) x
	JOIN users u ON u.address = kr_addr(p_address)
	ON CONFLICT (sid) DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;

-- 011's digest and the revocations: a move whose copy missed one fails
-- its verification.
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
		(SELECT count(*) FROM mailboxes b WHERE b.user_id = u.id),
		(SELECT count(*) || ':' || coalesce(md5(string_agg(
				encode(r.sid, 'hex'), ',' ORDER BY r.sid)), '')
		 FROM revoked_sessions r WHERE r.user_id = u.id))
	FROM users u WHERE u.address = kr_addr(p_address)
$$;

---------------------------------------------------------------------------
-- Forwarding rows on the source
---------------------------------------------------------------------------

-- A user moved away with his id kept. A row may go once no token issued
-- before the move can still be valid: [auth] session_ttl is at most 30
-- days (kr_move_leave purges).
CREATE TABLE IF NOT EXISTS moved_users (
	id bigint PRIMARY KEY,
	address text NOT NULL,
	moved_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS moved_users_moved_at ON moved_users (moved_at);
CREATE INDEX IF NOT EXISTS moved_users_address ON moved_users (address);

-- The move's clean-up of one fenced user on the source: the forwarding
-- row (when the destination kept the id, p_new_id) and the delete in
-- one transaction, so a session check sees the user or the row.
CREATE OR REPLACE FUNCTION kr_move_leave(p_address text, p_new_id bigint)
RETURNS TABLE (status text)
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO moved_users (id, address)
	SELECT u.id, u.address FROM users u
	WHERE u.address = kr_addr(p_address) AND u.id = p_new_id
	ON CONFLICT (id) DO UPDATE
		SET address = EXCLUDED.address, moved_at = now();
	DELETE FROM moved_users m
	WHERE m.id IN (SELECT x.id FROM moved_users x
		       WHERE x.moved_at < now() - interval '31 days'
		       LIMIT 100);
	RETURN QUERY SELECT d.status FROM kr_user_delete(p_address) d;
END
$$;

-- 005's check, and 'moved' (with the address) for a user that left this
-- shard with his id: the caller checks again on the address's shard.
CREATE OR REPLACE FUNCTION kr_session_check(p_user_id bigint, p_sid text,
	p_password_version integer)
RETURNS TABLE (status text, address text, revoked bool,
	password_version integer)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN kr_sid(p_sid) IS NULL
		      OR coalesce(p_password_version, -1) < 0 THEN 'invalid'
		    WHEN u.id IS NOT NULL THEN 'ok'
		    WHEN f.id IS NOT NULL THEN 'moved'
		    ELSE 'not_found' END,
	       coalesce(u.address, f.address),
	       u.password_version IS DISTINCT FROM p_password_version
	       OR EXISTS (SELECT 1 FROM revoked_sessions r
			  WHERE r.sid = kr_sid(p_sid)),
	       u.password_version
	FROM (SELECT 1) one
	LEFT JOIN users u ON u.id = p_user_id
	LEFT JOIN moved_users f ON f.id = p_user_id
$$;

-- 'moved' for an address that left this shard: a kurierd whose map is
-- still stale (it re-reads it every second) answers a temporary error
-- (451 at RCPT, -32010 at login), never 550 or a wrong password. The
-- forwarding row is read in a LATERAL join, not by a helper function:
-- a scalar SQL function with a subquery is not inlined, and PostgreSQL
-- would parse and plan it again at every RCPT (measured: a tenth of the
-- cluster's CPU under LMTP load).
-- The user of an address with its status; what both look-ups below
-- read (inlined into each, like them).
CREATE OR REPLACE FUNCTION kr_user_find(p_address text)
RETURNS TABLE (status text, user_id bigint, password_hash text,
	quota_bytes bigint, used_bytes bigint, messages bigint,
	password_version integer)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN u.id IS NOT NULL THEN 'ok'
		    WHEN f.moved THEN 'moved' ELSE 'not_found' END,
	       u.id, u.password_hash, u.quota_bytes, u.used_bytes, u.messages,
	       u.password_version
	FROM (SELECT 1) one
	LEFT JOIN users u ON u.address = kr_addr(p_address)
	LEFT JOIN LATERAL (SELECT true AS moved FROM moved_users m
			   WHERE u.id IS NULL
			     AND m.address = kr_addr(p_address)
			   LIMIT 1) f ON true
$$;

CREATE OR REPLACE FUNCTION kr_user_get(p_address text)
RETURNS TABLE (status text, user_id bigint, password_hash text,
	quota_bytes bigint, used_bytes bigint, messages bigint)
LANGUAGE sql STABLE AS $$
	SELECT f.status, f.user_id, f.password_hash, f.quota_bytes,
	       f.used_bytes, f.messages
	FROM kr_user_find(p_address) f
$$;

CREATE OR REPLACE FUNCTION kr_user_auth(p_address text)
RETURNS TABLE (status text, user_id bigint, password_hash text,
	password_version integer)
LANGUAGE sql STABLE AS $$
	SELECT f.status, f.user_id, f.password_hash, f.password_version
	FROM kr_user_find(p_address) f
$$;

---------------------------------------------------------------------------
-- Tombstones move with a user who keeps his ids
---------------------------------------------------------------------------

-- changes.get since a modseq from before the move must still report
-- what was expunged or deleted before it. Tombstones name mailbox ids,
-- so they move only with a user whose ids were kept (a user id from a
-- range means mailbox ids from ranges too). Up to 5000 of both kinds
-- after (p_after_modseq, p_after_mb, p_after_uid), in that order; a
-- mailbox_gone row has uid -1.
CREATE OR REPLACE FUNCTION kr_move_get_tombstones(p_user_id bigint,
	p_after_modseq bigint, p_after_mb bigint, p_after_uid bigint)
RETURNS TABLE (n int, last_modseq bigint, last_mb bigint, last_uid bigint,
	rows jsonb)
LANGUAGE sql STABLE AS $$
	WITH t AS (
		SELECT * FROM (
			(SELECT e.modseq, e.mailbox_id, e.uid FROM expunged e
			 WHERE e.user_id = p_user_id
			   AND (e.modseq, e.mailbox_id, e.uid)
			       > (p_after_modseq, p_after_mb, p_after_uid)
			 ORDER BY e.modseq, e.mailbox_id, e.uid LIMIT 5000)
			UNION ALL
			(SELECT g.modseq, g.mailbox_id, -1 FROM mailbox_gone g
			 WHERE g.user_id = p_user_id
			   AND (g.modseq, g.mailbox_id, -1::bigint)
			       > (p_after_modseq, p_after_mb, p_after_uid)
			 ORDER BY g.modseq, g.mailbox_id LIMIT 5000)) x
		ORDER BY 1, 2, 3 LIMIT 5000
	), l AS (
		SELECT * FROM t ORDER BY 1 DESC, 2 DESC, 3 DESC LIMIT 1
	)
	SELECT (SELECT count(*)::int FROM t), l.modseq, l.mailbox_id, l.uid,
	       (SELECT coalesce(jsonb_agg(jsonb_build_array(t.modseq,
				t.mailbox_id, t.uid)), '[]') FROM t)
	FROM (SELECT 1) one LEFT JOIN l ON true
$$;

CREATE OR REPLACE FUNCTION kr_move_put_tombstones(p_user_id bigint,
	p_rows jsonb)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
	v_n int;
	v_gone int;
BEGIN
	INSERT INTO expunged (user_id, mailbox_id, uid, modseq)
	SELECT p_user_id, (x->>1)::bigint, (x->>2)::bigint, (x->>0)::bigint
	FROM jsonb_array_elements(p_rows) x WHERE (x->>2)::bigint >= 0;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	INSERT INTO mailbox_gone (user_id, mailbox_id, modseq)
	SELECT p_user_id, (x->>1)::bigint, (x->>0)::bigint
	FROM jsonb_array_elements(p_rows) x WHERE (x->>2)::bigint < 0;
	GET DIAGNOSTICS v_gone = ROW_COUNT;
	RETURN v_n + v_gone;
END
$$;
