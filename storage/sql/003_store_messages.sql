-- kurier mail store functions, part 2: mailboxes and messages (helpers,
-- lock order and conventions: see 002_store_core.sql).

---------------------------------------------------------------------------
-- Mailboxes
---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION kr_mailbox_list(p_user_id bigint)
RETURNS TABLE (id bigint, name text, role text, total int, unseen int,
	size bigint, uidvalidity bigint, uidnext bigint, modseq bigint)
LANGUAGE sql STABLE AS $$
	SELECT m.id, m.name, m.role, m.total, m.unseen, m.size, m.uidvalidity,
	       m.uidnext, m.highest_modseq
	FROM mailboxes m
	WHERE m.user_id = p_user_id
	ORDER BY array_position(ARRAY['inbox', 'sent', 'drafts', 'trash',
				      'junk'], m.role) NULLS LAST,
		 m.name COLLATE "C"
	LIMIT 10000
$$;

CREATE OR REPLACE FUNCTION kr_mailbox_create(p_user_id bigint, p_name text)
RETURNS TABLE (status text, id bigint, name text, role text, total int,
	unseen int, size bigint, uidvalidity bigint, uidnext bigint,
	modseq bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_modseq bigint;
	v_id bigint;
BEGIN
	IF NOT kr_mailbox_name_ok(p_name) THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('invalid', NULL);
		RETURN;
	END IF;
	SELECT u.modseq + 1 INTO v_modseq FROM users u
	WHERE u.id = p_user_id FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('not_found', NULL);
		RETURN;
	END IF;
	IF kr_mailbox_name_taken(p_user_id, p_name, NULL) THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('exists', NULL);
		RETURN;
	END IF;
	UPDATE users u SET modseq = v_modseq WHERE u.id = p_user_id;
	INSERT INTO mailboxes (id, user_id, name, uidvalidity,
			       highest_modseq, modseq)
	SELECT s.id, p_user_id, p_name, kr_uidvalidity(s.id), v_modseq,
	       v_modseq
	FROM (SELECT nextval('mailboxes_id_seq') AS id) s
	RETURNING mailboxes.id INTO v_id;
	RETURN QUERY SELECT * FROM kr_mailbox_out('ok', v_id);
END
$$;

CREATE OR REPLACE FUNCTION kr_mailbox_rename(p_user_id bigint, p_id bigint,
	p_name text)
RETURNS TABLE (status text, id bigint, name text, role text, total int,
	unseen int, size bigint, uidvalidity bigint, uidnext bigint,
	modseq bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_modseq bigint;
	v_mb record;
BEGIN
	IF NOT kr_mailbox_name_ok(p_name) THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('invalid', NULL);
		RETURN;
	END IF;
	SELECT u.modseq + 1 INTO v_modseq FROM users u
	WHERE u.id = p_user_id FOR NO KEY UPDATE;
	IF FOUND THEN
		SELECT m.name, m.role INTO v_mb FROM mailboxes m
		WHERE m.id = p_id AND m.user_id = p_user_id FOR NO KEY UPDATE;
	END IF;
	IF NOT FOUND THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('not_found', NULL);
		RETURN;
	END IF;
	IF v_mb.role IS NOT DISTINCT FROM 'inbox' THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('forbidden', NULL);
		RETURN;
	END IF;
	IF v_mb.name = p_name THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('ok', p_id);
		RETURN;
	END IF;
	IF kr_mailbox_name_taken(p_user_id, p_name, p_id) THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('exists', NULL);
		RETURN;
	END IF;
	UPDATE users u SET modseq = v_modseq WHERE u.id = p_user_id;
	UPDATE mailboxes m SET name = p_name, modseq = v_modseq,
			       highest_modseq = v_modseq
	WHERE m.id = p_id;
	RETURN QUERY SELECT * FROM kr_mailbox_out('ok', p_id);
END
$$;

-- The mailbox's messages go with it (bodies unreferenced, quota given
-- back); one mailbox_gone row replaces their tombstones.
CREATE OR REPLACE FUNCTION kr_mailbox_delete(p_user_id bigint, p_id bigint)
RETURNS TABLE (status text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_modseq bigint;
	v_role text;
	v_hashes bytea[];
	v_count bigint;
	v_size bigint;
BEGIN
	SELECT u.modseq + 1 INTO v_modseq FROM users u
	WHERE u.id = p_user_id FOR NO KEY UPDATE;
	IF FOUND THEN
		SELECT m.role INTO v_role FROM mailboxes m
		WHERE m.id = p_id AND m.user_id = p_user_id FOR UPDATE;
	END IF;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'not_found'::text;
		RETURN;
	END IF;
	IF v_role IS NOT DISTINCT FROM 'inbox' THEN
		RETURN QUERY SELECT 'forbidden'::text;
		RETURN;
	END IF;
	SELECT array_agg(m.body_hash), count(*), coalesce(sum(m.size), 0)
	INTO v_hashes, v_count, v_size
	FROM messages m WHERE m.mailbox_id = p_id;
	PERFORM kr_bodies_unref(v_hashes);
	UPDATE users u SET used_bytes = u.used_bytes - v_size,
			   messages = u.messages - v_count, modseq = v_modseq
	WHERE u.id = p_user_id;
	DELETE FROM mailboxes m WHERE m.id = p_id;
	DELETE FROM expunged e WHERE e.user_id = p_user_id AND e.mailbox_id = p_id;
	INSERT INTO mailbox_gone (user_id, mailbox_id, modseq)
	VALUES (p_user_id, p_id, v_modseq);
	RETURN QUERY SELECT 'ok'::text;
END
$$;

---------------------------------------------------------------------------
-- Messages
---------------------------------------------------------------------------

-- Newest first; LIMIT at most 1000. No matching message (or lim 0)
-- gives one 'ok' row with the total and NULL uid; a mailbox that is
-- not the user's gives one 'not_found' row.
CREATE OR REPLACE FUNCTION kr_msg_list(p_user_id bigint, p_mailbox_id bigint,
	p_lim int, p_before_uid bigint)
RETURNS TABLE (status text, total int, uid bigint, subject text,
	from_name text, from_email text, to_list jsonb, date timestamptz,
	size int, flags text[], preview text, has_attachments bool)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN mb.id IS NULL THEN 'not_found' ELSE 'ok' END,
	       mb.total, m.uid, m.subject, m.from_name, m.from_email,
	       m.to_list, m.date, m.size, m.flags, m.preview,
	       m.has_attachments
	FROM (SELECT 1) one
	LEFT JOIN mailboxes mb
	       ON mb.id = p_mailbox_id AND mb.user_id = p_user_id
	LEFT JOIN LATERAL (
		SELECT x.* FROM messages x
		WHERE x.mailbox_id = mb.id
		  AND x.uid < coalesce(p_before_uid, 9223372036854775807)
		ORDER BY x.uid DESC
		LIMIT least(greatest(coalesce(p_lim, 50), 0), 1000)) m ON true
	ORDER BY m.uid DESC
$$;

-- The stored message is prefix || the body (zlib, raw_size and data
-- describe the shared body).
CREATE OR REPLACE FUNCTION kr_msg_get(p_user_id bigint, p_mailbox_id bigint,
	p_uid bigint)
RETURNS TABLE (status text, uid bigint, subject text, from_name text,
	from_email text, to_list jsonb, cc_list jsonb, date timestamptz,
	message_id text, in_reply_to text, refs text, flags text[], size int,
	attachments jsonb, zlib bool, raw_size int, data bytea, prefix bytea)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN m.uid IS NULL THEN 'not_found' ELSE 'ok' END,
	       m.uid, m.subject, m.from_name, m.from_email, m.to_list,
	       m.cc_list, m.date, m.message_id, m.in_reply_to, m.refs,
	       m.flags, m.size, m.attachments, b.zlib, b.raw_size, b.data,
	       m.prefix
	FROM (SELECT 1) one
	LEFT JOIN messages m
	       ON m.mailbox_id = p_mailbox_id AND m.uid = p_uid
	      AND m.user_id = p_user_id
	LEFT JOIN bodies b ON b.hash = m.body_hash
$$;

-- One modseq for the whole call, and only if some message changed.
CREATE OR REPLACE FUNCTION kr_msg_flags(p_user_id bigint, p_mailbox_id bigint,
	p_uids bigint[], p_add text[], p_remove text[])
RETURNS TABLE (status text, modseq bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_cur bigint;
	v_add text[] := kr_flags_norm(p_add);
	v_remove text[] := kr_flags_norm(p_remove);
	v_changed bigint;
	v_unseen bigint;
BEGIN
	SELECT u.modseq INTO v_cur FROM users u
	WHERE u.id = p_user_id FOR NO KEY UPDATE;
	IF FOUND THEN
		PERFORM 1 FROM mailboxes m
		WHERE m.id = p_mailbox_id AND m.user_id = p_user_id
		FOR NO KEY UPDATE;
	END IF;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::bigint;
		RETURN;
	END IF;
	-- o is the row before the change: the unseen counter moves by the
	-- messages that gained or lost \Seen.
	WITH c AS (
		UPDATE messages m
		SET flags = kr_flags_apply(o.flags, v_add, v_remove),
		    modseq = v_cur + 1
		FROM (SELECT x.uid, x.flags FROM messages x
		      WHERE x.mailbox_id = p_mailbox_id
			AND x.uid = ANY (p_uids)) o
		WHERE m.mailbox_id = p_mailbox_id AND m.uid = o.uid
		  AND m.flags <> kr_flags_apply(o.flags, v_add, v_remove)
		RETURNING '\Seen' = ANY (o.flags) AS was, '\Seen' = ANY (m.flags) AS now)
	SELECT count(*), coalesce(sum(CASE WHEN was = now THEN 0
					   WHEN now THEN -1 ELSE 1 END), 0)
	INTO v_changed, v_unseen FROM c;
	IF v_changed = 0 THEN
		RETURN QUERY SELECT 'ok'::text, v_cur;
		RETURN;
	END IF;
	UPDATE users u SET modseq = v_cur + 1 WHERE u.id = p_user_id;
	UPDATE mailboxes m SET unseen = m.unseen + v_unseen,
			       modseq = v_cur + 1, highest_modseq = v_cur + 1
	WHERE m.id = p_mailbox_id;
	RETURN QUERY SELECT 'ok'::text, v_cur + 1;
END
$$;

-- Locks the user, then both mailboxes in id order. Returns the user's
-- current modseq, or NULL when the user or either mailbox is not hers.
CREATE OR REPLACE FUNCTION kr_lock_pair(p_user_id bigint, p_a bigint,
	p_b bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	v_cur bigint;
	v_n int;
BEGIN
	SELECT u.modseq INTO v_cur FROM users u
	WHERE u.id = p_user_id FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	SELECT count(*) INTO v_n FROM (
		SELECT m.id FROM mailboxes m
		WHERE m.id IN (p_a, p_b) AND m.user_id = p_user_id
		ORDER BY m.id FOR NO KEY UPDATE) s;
	IF v_n <> (CASE WHEN p_a = p_b THEN 1 ELSE 2 END) THEN
		RETURN NULL;
	END IF;
	RETURN v_cur;
END
$$;

-- Moved messages get new UIDs in the target, in the order of their old
-- UIDs, and leave tombstones behind. Moving into the same mailbox
-- changes nothing and maps each uid to itself.
CREATE OR REPLACE FUNCTION kr_msg_move(p_user_id bigint, p_mailbox_id bigint,
	p_uids bigint[], p_to_id bigint)
RETURNS TABLE (status text, old_uid bigint, new_uid bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_cur bigint := kr_lock_pair(p_user_id, p_mailbox_id, p_to_id);
	v_new bigint := v_cur + 1;
	v_next bigint;
	v_old bigint[];
	v_nu bigint[];
	v_count int;
	v_size bigint;
	v_unseen int;
BEGIN
	IF v_cur IS NULL THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::bigint, NULL::bigint;
		RETURN;
	END IF;
	IF p_mailbox_id = p_to_id THEN
		SELECT array_agg(x.uid ORDER BY x.uid) INTO v_old
		FROM messages x
		WHERE x.mailbox_id = p_mailbox_id AND x.uid = ANY (p_uids);
		v_nu := v_old;
	ELSE
		SELECT m.uidnext INTO v_next FROM mailboxes m WHERE m.id = p_to_id;
		WITH d AS (
			DELETE FROM messages x
			WHERE x.mailbox_id = p_mailbox_id AND x.uid = ANY (p_uids)
			RETURNING x.*),
		     n AS (
			SELECT d.*, v_next - 1 + row_number() OVER (ORDER BY d.uid) AS nu
			FROM d),
		     ins AS (
			INSERT INTO messages (mailbox_id, uid, user_id, body_hash,
				prefix, size, flags, modseq, internal_date, date,
				from_name, from_email, to_list, cc_list, subject,
				message_id, in_reply_to, refs, preview,
				has_attachments, attachments, search)
			SELECT p_to_id, n.nu, n.user_id, n.body_hash, n.prefix,
			       n.size, n.flags, v_new, n.internal_date, n.date,
			       n.from_name, n.from_email, n.to_list, n.cc_list,
			       n.subject, n.message_id, n.in_reply_to, n.refs,
			       n.preview, n.has_attachments, n.attachments,
			       n.search
			FROM n),
		     t AS (
			INSERT INTO expunged (user_id, mailbox_id, uid, modseq)
			SELECT p_user_id, p_mailbox_id, n.uid, v_new FROM n)
		SELECT array_agg(n.uid ORDER BY n.uid), array_agg(n.nu ORDER BY n.uid),
		       count(*), coalesce(sum(n.size), 0),
		       count(*) FILTER (WHERE NOT '\Seen' = ANY (n.flags))
		INTO v_old, v_nu, v_count, v_size, v_unseen
		FROM n;
		IF v_count > 0 THEN
			UPDATE users u SET modseq = v_new WHERE u.id = p_user_id;
			UPDATE mailboxes m
			SET total = m.total - v_count, unseen = m.unseen - v_unseen,
			    size = m.size - v_size, modseq = v_new,
			    highest_modseq = v_new
			WHERE m.id = p_mailbox_id;
			UPDATE mailboxes m
			SET uidnext = m.uidnext + v_count,
			    total = m.total + v_count, unseen = m.unseen + v_unseen,
			    size = m.size + v_size, modseq = v_new,
			    highest_modseq = v_new
			WHERE m.id = p_to_id;
		END IF;
	END IF;
	IF coalesce(cardinality(v_old), 0) = 0 THEN
		RETURN QUERY SELECT 'ok'::text, NULL::bigint, NULL::bigint;
		RETURN;
	END IF;
	RETURN QUERY SELECT 'ok'::text, o, n FROM unnest(v_old, v_nu) t(o, n);
END
$$;

-- Copies keep flags, internal date (RFC 3501 6.4.7) and prefix,
-- reference the same bodies and count against the quota: all or
-- nothing.
CREATE OR REPLACE FUNCTION kr_msg_copy(p_user_id bigint, p_mailbox_id bigint,
	p_uids bigint[], p_to_id bigint)
RETURNS TABLE (status text, old_uid bigint, new_uid bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_cur bigint := kr_lock_pair(p_user_id, p_mailbox_id, p_to_id);
	v_new bigint := v_cur + 1;
	v_next bigint;
	v_quota bigint;
	v_used bigint;
	v_old bigint[];
	v_nu bigint[];
	v_hashes bytea[];
	v_count int;
	v_size bigint;
	v_unseen int;
BEGIN
	IF v_cur IS NULL THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::bigint, NULL::bigint;
		RETURN;
	END IF;
	SELECT count(*), coalesce(sum(x.size), 0) INTO v_count, v_size
	FROM messages x
	WHERE x.mailbox_id = p_mailbox_id AND x.uid = ANY (p_uids);
	IF v_count = 0 THEN
		RETURN QUERY SELECT 'ok'::text, NULL::bigint, NULL::bigint;
		RETURN;
	END IF;
	SELECT u.quota_bytes, u.used_bytes INTO v_quota, v_used
	FROM users u WHERE u.id = p_user_id;
	IF v_quota > 0 AND v_used + v_size > v_quota THEN
		RETURN QUERY SELECT 'over_quota'::text, NULL::bigint, NULL::bigint;
		RETURN;
	END IF;
	SELECT m.uidnext INTO v_next FROM mailboxes m WHERE m.id = p_to_id;
	WITH n AS (
		SELECT x.*, v_next - 1 + row_number() OVER (ORDER BY x.uid) AS nu
		FROM messages x
		WHERE x.mailbox_id = p_mailbox_id AND x.uid = ANY (p_uids)),
	     ins AS (
		INSERT INTO messages (mailbox_id, uid, user_id, body_hash,
			prefix, size, flags, modseq, internal_date, date,
			from_name, from_email, to_list, cc_list, subject,
			message_id, in_reply_to, refs, preview,
			has_attachments, attachments, search)
		SELECT p_to_id, n.nu, n.user_id, n.body_hash, n.prefix, n.size,
		       n.flags, v_new, n.internal_date, n.date, n.from_name,
		       n.from_email, n.to_list, n.cc_list, n.subject,
		       n.message_id, n.in_reply_to, n.refs, n.preview,
		       n.has_attachments, n.attachments, n.search
		FROM n)
	SELECT array_agg(n.uid ORDER BY n.uid), array_agg(n.nu ORDER BY n.uid),
	       array_agg(n.body_hash),
	       count(*) FILTER (WHERE NOT '\Seen' = ANY (n.flags))
	INTO v_old, v_nu, v_hashes, v_unseen
	FROM n;
	PERFORM kr_bodies_ref(v_hashes);
	UPDATE users u SET used_bytes = u.used_bytes + v_size,
			   messages = u.messages + v_count, modseq = v_new
	WHERE u.id = p_user_id;
	UPDATE mailboxes m
	SET uidnext = m.uidnext + v_count, total = m.total + v_count,
	    unseen = m.unseen + v_unseen, size = m.size + v_size,
	    modseq = v_new, highest_modseq = v_new
	WHERE m.id = p_to_id;
	RETURN QUERY SELECT 'ok'::text, o, n FROM unnest(v_old, v_nu) t(o, n);
END
$$;

-- Expunge: rows deleted, tombstones written, bodies unreferenced,
-- counters and quota given back.
CREATE OR REPLACE FUNCTION kr_msg_delete(p_user_id bigint, p_mailbox_id bigint,
	p_uids bigint[])
RETURNS TABLE (status text, deleted int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_cur bigint;
	v_hashes bytea[];
	v_count int;
	v_size bigint;
	v_unseen int;
BEGIN
	SELECT u.modseq INTO v_cur FROM users u
	WHERE u.id = p_user_id FOR NO KEY UPDATE;
	IF FOUND THEN
		PERFORM 1 FROM mailboxes m
		WHERE m.id = p_mailbox_id AND m.user_id = p_user_id
		FOR NO KEY UPDATE;
	END IF;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::int;
		RETURN;
	END IF;
	WITH d AS (
		DELETE FROM messages x
		WHERE x.mailbox_id = p_mailbox_id AND x.uid = ANY (p_uids)
		RETURNING x.uid, x.body_hash, x.size, x.flags),
	     t AS (
		INSERT INTO expunged (user_id, mailbox_id, uid, modseq)
		SELECT p_user_id, p_mailbox_id, d.uid, v_cur + 1 FROM d)
	SELECT array_agg(d.body_hash), count(*), coalesce(sum(d.size), 0),
	       count(*) FILTER (WHERE NOT '\Seen' = ANY (d.flags))
	INTO v_hashes, v_count, v_size, v_unseen
	FROM d;
	IF v_count > 0 THEN
		PERFORM kr_bodies_unref(v_hashes);
		UPDATE users u SET used_bytes = u.used_bytes - v_size,
				   messages = u.messages - v_count,
				   modseq = v_cur + 1
		WHERE u.id = p_user_id;
		UPDATE mailboxes m
		SET total = m.total - v_count, unseen = m.unseen - v_unseen,
		    size = m.size - v_size, modseq = v_cur + 1,
		    highest_modseq = v_cur + 1
		WHERE m.id = p_mailbox_id;
	END IF;
	RETURN QUERY SELECT 'ok'::text, v_count;
END
$$;

-- The kr_msg_list columns plus mailbox_id; total counts every match.
-- Newest (internal date) first, at most 1000. since/before compare the
-- internal (arrival) date, like IMAP SINCE/BEFORE; unseen true = only
-- unseen, false = only seen, NULL = either. Custom plans, so the NULL
-- criteria fold away and the GIN index is used for text.
CREATE OR REPLACE FUNCTION kr_msg_search(p_user_id bigint, p_mailbox_id bigint,
	p_text text, p_from text, p_subject text, p_since timestamptz,
	p_before timestamptz, p_unseen bool, p_lim int)
RETURNS TABLE (status text, total int, uid bigint, subject text,
	from_name text, from_email text, to_list jsonb, date timestamptz,
	size int, flags text[], preview text, has_attachments bool,
	mailbox_id bigint)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
DECLARE
	v_text text := nullif(btrim(p_text), '');
	v_query tsquery;
	v_from text := '%' || kr_like_escape(nullif(p_from, '')) || '%';
	v_subject text := '%' || kr_like_escape(nullif(p_subject, '')) || '%';
	v_lim int := least(greatest(coalesce(p_lim, 50), 0), 1000);
BEGIN
	PERFORM 1 FROM users u WHERE u.id = p_user_id;
	IF FOUND AND p_mailbox_id IS NOT NULL THEN
		PERFORM 1 FROM mailboxes m
		WHERE m.id = p_mailbox_id AND m.user_id = p_user_id;
	END IF;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::int, NULL::bigint,
			NULL::text, NULL::text, NULL::text, NULL::jsonb,
			NULL::timestamptz, NULL::int, NULL::text[], NULL::text,
			NULL::bool, NULL::bigint;
		RETURN;
	END IF;
	IF v_text IS NOT NULL THEN
		v_query := plainto_tsquery('simple', v_text);
	END IF;
	RETURN QUERY
	SELECT 'ok'::text, (count(*) OVER ())::int, m.uid, m.subject,
	       m.from_name, m.from_email, m.to_list, m.date, m.size, m.flags,
	       m.preview, m.has_attachments, m.mailbox_id
	FROM messages m
	WHERE m.user_id = p_user_id
	  AND (p_mailbox_id IS NULL OR m.mailbox_id = p_mailbox_id)
	  AND (v_query IS NULL OR m.search @@ v_query)
	  AND (v_from IS NULL OR m.from_name ILIKE v_from
	       OR m.from_email ILIKE v_from)
	  AND (v_subject IS NULL OR m.subject ILIKE v_subject)
	  AND (p_since IS NULL OR m.internal_date >= p_since)
	  AND (p_before IS NULL OR m.internal_date < p_before)
	  AND (p_unseen IS NULL OR ('\Seen' = ANY (m.flags)) <> p_unseen)
	ORDER BY m.internal_date DESC, m.mailbox_id DESC, m.uid DESC
	LIMIT v_lim;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'ok'::text, 0, NULL::bigint, NULL::text,
			NULL::text, NULL::text, NULL::jsonb, NULL::timestamptz,
			NULL::int, NULL::text[], NULL::text, NULL::bool,
			NULL::bigint;
	END IF;
END
$$;

-- Everything of a user with modseq > p_since, each source bounded.
CREATE OR REPLACE FUNCTION kr_changes_raw(p_user_id bigint, p_since bigint,
	p_lim int)
RETURNS TABLE (kind text, mailbox_id bigint, uid bigint, flags text[],
	modseq bigint)
LANGUAGE sql STABLE AS $$
	(SELECT 'mailbox'::text, m.id, NULL::bigint, NULL::text[], m.modseq
	 FROM mailboxes m WHERE m.user_id = p_user_id AND m.modseq > p_since
	 ORDER BY m.modseq LIMIT p_lim)
	UNION ALL
	(SELECT 'message', x.mailbox_id, x.uid, x.flags, x.modseq
	 FROM messages x WHERE x.user_id = p_user_id AND x.modseq > p_since
	 ORDER BY x.modseq LIMIT p_lim)
	UNION ALL
	(SELECT 'removed', e.mailbox_id, e.uid, NULL, e.modseq
	 FROM expunged e WHERE e.user_id = p_user_id AND e.modseq > p_since
	 ORDER BY e.modseq LIMIT p_lim)
	UNION ALL
	(SELECT 'mailbox_removed', g.mailbox_id, NULL, NULL, g.modseq
	 FROM mailbox_gone g WHERE g.user_id = p_user_id AND g.modseq > p_since
	 ORDER BY g.modseq LIMIT p_lim)
$$;

-- At most 10000 change rows, oldest first, then one 'modseq' row: the
-- modseq the client is now up to date with. That is the user's current
-- modseq unless the answer was cut; then it is the highest modseq whose
-- changes were all sent, and the client asks again from there. A single
-- change bigger than the cap (one call on more than 10000 messages) is
-- sent whole, up to 100000 rows.
CREATE OR REPLACE FUNCTION kr_changes(p_user_id bigint, p_since bigint)
RETURNS TABLE (kind text, mailbox_id bigint, uid bigint, flags text[],
	modseq bigint)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
	v_since bigint := coalesce(p_since, 0);
	v_cur bigint;
	v_cut bigint;
	v_end bigint;
	v_lim int := 10000;
BEGIN
	SELECT u.modseq INTO v_cur FROM users u WHERE u.id = p_user_id;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT c.modseq INTO v_cut
	FROM kr_changes_raw(p_user_id, v_since, v_lim + 1) c
	ORDER BY c.modseq OFFSET v_lim LIMIT 1;
	IF NOT FOUND THEN
		v_end := v_cur;
	ELSIF v_cut - 1 > v_since THEN
		v_end := v_cut - 1;
	ELSE
		v_end := v_cut;
		v_lim := 100000;
	END IF;
	RETURN QUERY
	SELECT c.kind, c.mailbox_id, c.uid, c.flags, c.modseq
	FROM kr_changes_raw(p_user_id, v_since, v_lim) c
	WHERE c.modseq <= v_end
	ORDER BY c.modseq, c.kind, c.mailbox_id, c.uid;
	RETURN QUERY SELECT 'modseq'::text, NULL::bigint, NULL::bigint,
		NULL::text[], v_end;
END
$$;

CREATE OR REPLACE FUNCTION kr_quota(p_user_id bigint)
RETURNS TABLE (used bigint, quota bigint, messages bigint)
LANGUAGE sql STABLE AS $$
	SELECT u.used_bytes, u.quota_bytes, u.messages
	FROM users u WHERE u.id = p_user_id
$$;
