-- kurier mail store, part 7: tsvectors in their own insert-only table
-- (SPEC 7; conventions of 002_store_core.sql; CREATE OR REPLACE only).
--
-- 008 indexed behind delivery by an UPDATE of messages: a new heap
-- tuple of the whole row plus an entry in every index of messages, the
-- dead tuple left to vacuum (about 0.65 ms of CPU per message, as much
-- as the tsvector itself). Now the indexer INSERTs (user_id,
-- mailbox_id, uid, tsv) into message_fts, one INSERT ... SELECT per
-- batch, and messages keeps no tsvector: delivery no longer adds a
-- NULL entry to a GIN index either.
--
-- message_fts has no foreign key (its check would lock the message row
-- per insert); every function that removes or renumbers messages
-- (expunge, move, mailbox and user delete) removes or moves their rows
-- itself, in a statement after the one that deletes the messages: that
-- statement has waited for a concurrent indexer (who holds the
-- message's queue row, which the deleter deletes too), so its fresh
-- snapshot sees the rows the indexer inserted. (mailbox_id, uid) is
-- never reused, and search joins messages, so a stray row could only
-- cost space, never a wrong answer.
-- The key starts with user_id: one btree serves the user's search
-- (when the GIN index is not the better start) and the deletes of a
-- mailbox or a user.
CREATE TABLE IF NOT EXISTS message_fts (
	user_id bigint NOT NULL,
	mailbox_id bigint NOT NULL,
	uid bigint NOT NULL,
	tsv tsvector NOT NULL,
	PRIMARY KEY (user_id, mailbox_id, uid)
);
-- A tsvector under a page stays uncompressed in line: pglz would cost
-- the indexer more CPU than the bytes it saves.
ALTER TABLE message_fts SET (toast_tuple_target = 8160);

-- Existing tsvectors move over; dropping the column drops
-- messages_search and messages_unindexed with it.
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM information_schema.columns c
		   WHERE c.table_schema = current_schema()
		     AND c.table_name = 'messages'
		     AND c.column_name = 'search') THEN
		INSERT INTO message_fts (user_id, mailbox_id, uid, tsv)
		SELECT m.user_id, m.mailbox_id, m.uid, strip(m.search)
		FROM messages m WHERE m.search IS NOT NULL
		ON CONFLICT DO NOTHING;
		ALTER TABLE messages DROP COLUMN search;
	END IF;
END
$$;

CREATE INDEX IF NOT EXISTS message_fts_tsv ON message_fts USING gin (tsv);
-- What lets kr_msg_search find a user's messages not indexed yet
-- (messages_unindexed before): the queue is small, so is this index.
CREATE INDEX IF NOT EXISTS fts_queue_user ON fts_queue (user_id);

-- The one tsvector of a text: 'simple' (no stemming, no stop words:
-- search finds what was written); positions stripped, as search only
-- ANDs words (plainto_tsquery) and never ranks: smaller rows.
CREATE OR REPLACE FUNCTION kr_fts_vector(p text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT strip(to_tsvector('simple', p))
$$;

-- As in 008_fts_queue.sql; at the bound the tsvector goes to
-- message_fts.
CREATE OR REPLACE FUNCTION kr_msg_insert(p_mailbox_id bigint, p_uid bigint,
	p_user_id bigint, p_hash bytea, p_prefix bytea, p_size int,
	p_flags text[], p_modseq bigint, p_meta jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	m jsonb := coalesce(p_meta, '{}');
	-- A tsvector holds at most 1 MB: bound the text that feeds it.
	v_text text := left(concat_ws(' ', m ->> 'subject', m ->> 'from_name',
				      m ->> 'from_email', m ->> 'search_text'),
			    100000);
	v_inline bool;
BEGIN
	-- At the bound (or without fts_state): inline, as before 008.
	SELECT t.last_value - (NOT t.is_called)::int - s.done < s.bound
	INTO v_inline
	FROM fts_state s, fts_queue_tickets t WHERE s.id = 1;
	v_inline := NOT coalesce(v_inline, false);
	INSERT INTO messages (mailbox_id, uid, user_id, body_hash, prefix,
		size, flags, modseq, date, from_name, from_email, to_list,
		cc_list, subject, message_id, in_reply_to, refs, preview,
		has_attachments, attachments)
	VALUES (p_mailbox_id, p_uid, p_user_id, p_hash,
		coalesce(p_prefix, ''), p_size, p_flags,
		p_modseq, kr_meta_date(m ->> 'date'), m ->> 'from_name',
		m ->> 'from_email',
		CASE jsonb_typeof(m -> 'to') WHEN 'array' THEN m -> 'to' END,
		CASE jsonb_typeof(m -> 'cc') WHEN 'array' THEN m -> 'cc' END,
		m ->> 'subject', m ->> 'message_id', m ->> 'in_reply_to',
		m ->> 'references', m ->> 'preview',
		coalesce(m -> 'has_attachments' = 'true', false),
		CASE jsonb_typeof(m -> 'attachments')
		     WHEN 'array' THEN m -> 'attachments' END);
	IF v_inline THEN
		INSERT INTO message_fts (user_id, mailbox_id, uid, tsv)
		VALUES (p_user_id, p_mailbox_id, p_uid, kr_fts_vector(v_text));
	ELSE
		INSERT INTO fts_queue (mailbox_id, uid, user_id, body)
		VALUES (p_mailbox_id, p_uid, p_user_id, v_text);
	END IF;
END
$$;

-- As in 008_fts_queue.sql, but one INSERT into message_fts per batch
-- instead of an UPDATE of messages. The queue rows taken are locked
-- (SKIP LOCKED: rows another indexer or a deleter holds wait for the
-- next call); whoever removes a message deletes its queue row in the
-- same transaction, so it waits for this one, and a locked queue row's
-- message exists. The message is checked all the same (no lock taken
-- on it: a flag change need not wait), so a missed queue row is only
-- dropped, never indexed.
CREATE OR REPLACE FUNCTION kr_fts_index(p_lim int, p_min int DEFAULT 1)
RETURNS TABLE (indexed int, backlog bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_lim int := least(greatest(coalesce(p_lim, 500), 1), 10000);
	v_last bigint;
	v_mb bigint[];
	v_uid bigint[];
	v_taken int;
	v_done bigint;
BEGIN
	-- Read first: a ticket taken after this is not counted as done.
	SELECT t.last_value - (NOT t.is_called)::int INTO v_last
	FROM fts_queue_tickets t;
	SELECT s.done INTO v_done FROM fts_state s WHERE s.id = 1;
	IF v_last - coalesce(v_done, 0) < coalesce(p_min, 1) THEN
		RETURN QUERY SELECT 0, greatest(v_last - coalesce(v_done, 0), 0);
		RETURN;
	END IF;
	SELECT array_agg(q.mailbox_id), array_agg(q.uid) INTO v_mb, v_uid
	FROM (SELECT q.mailbox_id, q.uid FROM fts_queue q
	      LIMIT v_lim FOR UPDATE SKIP LOCKED) q;
	v_taken := coalesce(cardinality(v_mb), 0);
	IF v_taken > 0 THEN
		INSERT INTO message_fts (user_id, mailbox_id, uid, tsv)
		SELECT q.user_id, q.mailbox_id, q.uid, kr_fts_vector(q.body)
		FROM unnest(v_mb, v_uid) k(mb, uid)
		JOIN fts_queue q ON q.mailbox_id = k.mb AND q.uid = k.uid
		WHERE EXISTS (SELECT 1 FROM messages m
			      WHERE m.mailbox_id = k.mb AND m.uid = k.uid)
		ON CONFLICT DO NOTHING;
		DELETE FROM fts_queue q USING unnest(v_mb, v_uid) k(mb, uid)
		WHERE q.mailbox_id = k.mb AND q.uid = k.uid;
	END IF;
	-- Fewer than asked: the queue is empty as far as this snapshot
	-- sees, so every ticket up to v_last is done.
	UPDATE fts_state s
	SET done = CASE WHEN v_taken < v_lim THEN greatest(s.done, v_last)
			ELSE s.done + v_taken END
	WHERE s.id = 1
	RETURNING s.done INTO v_done;
	RETURN QUERY SELECT v_taken, greatest(v_last - coalesce(v_done, 0), 0);
END
$$;

-- As in 008_fts_queue.sql, plus the user's tsvectors (after the cascade:
-- see the top of this file).
CREATE OR REPLACE FUNCTION kr_user_delete(p_address text)
RETURNS TABLE (status text)
LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	SELECT u.id INTO v_id FROM users u
	WHERE u.address = kr_addr(p_address) FOR UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'not_found'::text;
		RETURN;
	END IF;
	PERFORM kr_bodies_unref(ARRAY(SELECT m.body_hash FROM messages m
				      WHERE m.user_id = v_id));
	DELETE FROM fts_queue f
	WHERE f.mailbox_id IN (SELECT m.id FROM mailboxes m
			       WHERE m.user_id = v_id);
	-- Mailboxes, messages and tombstones go by ON DELETE CASCADE.
	DELETE FROM users u WHERE u.id = v_id;
	DELETE FROM message_fts f WHERE f.user_id = v_id;
	RETURN QUERY SELECT 'ok'::text;
END
$$;

-- As in 008_fts_queue.sql, plus the mailbox's tsvectors.
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
	DELETE FROM fts_queue f WHERE f.mailbox_id = p_id;
	DELETE FROM message_fts f
	WHERE f.user_id = p_user_id AND f.mailbox_id = p_id;
	DELETE FROM expunged e WHERE e.user_id = p_user_id AND e.mailbox_id = p_id;
	INSERT INTO mailbox_gone (user_id, mailbox_id, modseq)
	VALUES (p_user_id, p_id, v_modseq);
	RETURN QUERY SELECT 'ok'::text;
END
$$;

-- As in 008_fts_queue.sql; an indexed message takes its tsvector along
-- to its new UID (a statement after the move: see the top of this file).
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
				has_attachments, attachments)
			SELECT p_to_id, n.nu, n.user_id, n.body_hash, n.prefix,
			       n.size, n.flags, v_new, n.internal_date, n.date,
			       n.from_name, n.from_email, n.to_list, n.cc_list,
			       n.subject, n.message_id, n.in_reply_to, n.refs,
			       n.preview, n.has_attachments, n.attachments
			FROM n),
		     fq AS (
			DELETE FROM fts_queue f
			WHERE f.mailbox_id = p_mailbox_id
			  AND f.uid = ANY (p_uids)
			RETURNING f.uid, f.user_id, f.ticket, f.body),
		     fi AS (
			INSERT INTO fts_queue (mailbox_id, uid, user_id, ticket,
					       body)
			SELECT p_to_id, n.nu, fq.user_id, fq.ticket, fq.body
			FROM fq JOIN n ON n.uid = fq.uid),
		     t AS (
			INSERT INTO expunged (user_id, mailbox_id, uid, modseq)
			SELECT p_user_id, p_mailbox_id, n.uid, v_new FROM n)
		SELECT array_agg(n.uid ORDER BY n.uid), array_agg(n.nu ORDER BY n.uid),
		       count(*), coalesce(sum(n.size), 0),
		       count(*) FILTER (WHERE NOT '\Seen' = ANY (n.flags))
		INTO v_old, v_nu, v_count, v_size, v_unseen
		FROM n;
		IF v_count > 0 THEN
			WITH d AS (
				DELETE FROM message_fts f
				USING unnest(v_old, v_nu) k(o, n)
				WHERE f.user_id = p_user_id
				  AND f.mailbox_id = p_mailbox_id AND f.uid = k.o
				RETURNING f.tsv, k.n)
			INSERT INTO message_fts (user_id, mailbox_id, uid, tsv)
			SELECT p_user_id, p_to_id, d.n, d.tsv FROM d;
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

-- As in 008_fts_queue.sql; the copy of an indexed message gets a copy of
-- its tsvector, the copy of a queued one is queued.
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
			has_attachments, attachments)
		SELECT p_to_id, n.nu, n.user_id, n.body_hash, n.prefix, n.size,
		       n.flags, v_new, n.internal_date, n.date, n.from_name,
		       n.from_email, n.to_list, n.cc_list, n.subject,
		       n.message_id, n.in_reply_to, n.refs, n.preview,
		       n.has_attachments, n.attachments
		FROM n),
	     ti AS (
		INSERT INTO message_fts (user_id, mailbox_id, uid, tsv)
		SELECT p_user_id, p_to_id, n.nu, f.tsv
		FROM n JOIN message_fts f
		  ON f.user_id = p_user_id AND f.mailbox_id = p_mailbox_id
		 AND f.uid = n.uid),
	     fi AS (
		INSERT INTO fts_queue (mailbox_id, uid, user_id, body)
		SELECT p_to_id, n.nu, f.user_id, f.body
		FROM n JOIN fts_queue f
		  ON f.mailbox_id = p_mailbox_id AND f.uid = n.uid)
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

-- As in 008_fts_queue.sql, plus the tsvectors.
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
	     fq AS (
		DELETE FROM fts_queue f
		WHERE f.mailbox_id = p_mailbox_id AND f.uid = ANY (p_uids)),
	     t AS (
		INSERT INTO expunged (user_id, mailbox_id, uid, modseq)
		SELECT p_user_id, p_mailbox_id, d.uid, v_cur + 1 FROM d)
	SELECT array_agg(d.body_hash), count(*), coalesce(sum(d.size), 0),
	       count(*) FILTER (WHERE NOT '\Seen' = ANY (d.flags))
	INTO v_hashes, v_count, v_size, v_unseen
	FROM d;
	IF v_count > 0 THEN
		DELETE FROM message_fts f
		WHERE f.user_id = p_user_id AND f.mailbox_id = p_mailbox_id
		  AND f.uid = ANY (p_uids);
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

-- As in 008_fts_queue.sql, the text matched by a set of keys built
-- first, for this user only: the indexed messages whose tsvector
-- matches (message_fts: by the user's key range or by the GIN index,
-- whichever the planner finds cheaper) and the queued ones whose text
-- does (fts_queue_user: a tsvector built for each queued message of
-- the user, never for other users' backlog). Search stays exact
-- whatever the backlog.
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
	WITH hit AS MATERIALIZED (
		SELECT f.mailbox_id, f.uid FROM message_fts f
		WHERE v_query IS NOT NULL AND f.user_id = p_user_id
		  AND (p_mailbox_id IS NULL OR f.mailbox_id = p_mailbox_id)
		  AND f.tsv @@ v_query
		UNION ALL
		SELECT q.mailbox_id, q.uid FROM fts_queue q
		WHERE v_query IS NOT NULL AND q.user_id = p_user_id
		  AND (p_mailbox_id IS NULL OR q.mailbox_id = p_mailbox_id)
		  AND to_tsvector('simple', q.body) @@ v_query)
	SELECT 'ok'::text, (count(*) OVER ())::int, m.uid, m.subject,
	       m.from_name, m.from_email, m.to_list, m.date, m.size, m.flags,
	       m.preview, m.has_attachments, m.mailbox_id
	FROM messages m
	WHERE m.user_id = p_user_id
	  AND (p_mailbox_id IS NULL OR m.mailbox_id = p_mailbox_id)
	  AND (v_query IS NULL
	       OR (m.mailbox_id, m.uid) IN (SELECT h.mailbox_id, h.uid
					    FROM hit h))
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
