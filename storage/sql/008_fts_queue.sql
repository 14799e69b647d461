-- kurier mail store, part 6: full-text indexing behind delivery
-- (SPEC 7; conventions of 002_store_core.sql; CREATE OR REPLACE only).
--
-- Delivery no longer builds the tsvector (0.76 ms of CPU per 4 KiB text
-- message): it queues the bounded text in fts_queue and leaves
-- messages.search NULL. kr_fts_index, called by one kurierd worker per
-- shard (storage/fts_indexer.c), indexes the queue in batches, one
-- UPDATE per batch. Search stays exact: a message whose search is NULL
-- matches by its queued text (kr_msg_search). The backlog is bounded:
-- past fts_state.bound queued rows, delivery indexes inline as before,
-- so the queue cannot grow without the indexer.
--
-- The backlog count costs a delivery no count(*) and no hot row: every
-- queued row takes a ticket from the sequence fts_queue_tickets (lock
-- free, outside transactions), the indexer adds what it took out to
-- fts_state.done (or, when it found the queue empty, sets done to the
-- last ticket), and delivery compares last ticket - done with the bound
-- (tickets start at 1; a sequence never called says last_value 1 with
-- is_called false: no ticket yet).
-- The figure is high by the queued rows that expunges removed and by
-- rolled back deliveries, and low by deliveries in flight when the
-- indexer last found the queue empty (at most one per connection); the
-- first kind only makes delivery index inline a little early, and the
-- indexer's next empty queue sets it right.
--
-- No foreign key from fts_queue to messages: its check would cost every
-- delivery a row lock on the new message. Every function that removes
-- messages removes their queue rows itself (expunge, move, mailbox and
-- user delete), and kr_fts_index drops a row whose message is gone, so
-- one missed would not stay. (mailbox_id, uid) is never reused: UIDs
-- only grow and mailbox ids come from a sequence.

CREATE SEQUENCE IF NOT EXISTS fts_queue_tickets;

CREATE TABLE IF NOT EXISTS fts_queue (
	mailbox_id bigint NOT NULL,
	uid bigint NOT NULL,
	user_id bigint NOT NULL,
	ticket bigint NOT NULL DEFAULT nextval('fts_queue_tickets'),
	body text NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
-- A 4 KiB message's text stays in the row, uncompressed: pglz would
-- cost delivery about what it saves the indexer. Bigger rows are still
-- compressed and moved out of line.
ALTER TABLE fts_queue SET (toast_tuple_target = 8160);

-- One row. done: tickets the indexer has accounted for; bound: the
-- backlog past which delivery indexes inline. 5000: a burst of 5000
-- deliveries per shard (100 000 on 20 shards) is absorbed, and a search
-- of a user who holds the whole backlog builds at most 5000 tsvectors
-- on the fly (about 4 s of CPU for 4 KiB texts).
CREATE TABLE IF NOT EXISTS fts_state (
	id int PRIMARY KEY CONSTRAINT fts_state_one CHECK (id = 1),
	done bigint NOT NULL DEFAULT 0,
	bound bigint NOT NULL DEFAULT 5000
		CONSTRAINT fts_state_bound_nonneg CHECK (bound >= 0)
);
INSERT INTO fts_state (id) VALUES (1) ON CONFLICT (id) DO NOTHING;

-- Messages not indexed yet, per user: small (the backlog), and what
-- lets kr_msg_search find them without reading every message of the
-- user.
-- (Only while messages.search exists: 010_fts_table.sql drops it, and
-- this file must still re-apply after that one.)
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM information_schema.columns c
		   WHERE c.table_schema = current_schema()
		     AND c.table_name = 'messages'
		     AND c.column_name = 'search') THEN
		CREATE INDEX IF NOT EXISTS messages_unindexed ON messages (user_id)
			WHERE search IS NULL;
	END IF;
END
$$;

-- As in 002_store_core.sql, but the tsvector is left to kr_fts_index
-- unless the backlog is at its bound.
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
		has_attachments, attachments, search)
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
		     WHEN 'array' THEN m -> 'attachments' END,
		CASE WHEN v_inline THEN to_tsvector('simple', v_text) END);
	IF NOT v_inline THEN
		INSERT INTO fts_queue (mailbox_id, uid, user_id, body)
		VALUES (p_mailbox_id, p_uid, p_user_id, v_text);
	END IF;
END
$$;

-- The indexer: up to p_lim queued rows (at most 10000) indexed in one
-- UPDATE and taken out of the queue. Rows another indexer holds, and
-- rows whose message someone is changing right now (a flag change, an
-- expunge: they hold the message row and may be waiting for the queue
-- row, so waiting here could deadlock), are left for the next call.
-- indexed: rows taken out (a row whose message is gone counts too);
-- backlog: the estimate delivery compares with the bound. With a
-- backlog estimate under p_min nothing is done (0 and the estimate):
-- the caller lets a burst of deliveries pass before it indexes.
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
	v_n int;
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
	SELECT array_agg(k.mb), array_agg(k.uid) INTO v_mb, v_uid
	FROM unnest(v_mb, v_uid) k(mb, uid)
	WHERE NOT EXISTS (SELECT 1 FROM messages m
			  WHERE m.mailbox_id = k.mb AND m.uid = k.uid)
	   OR EXISTS (SELECT 1 FROM messages m
		      WHERE m.mailbox_id = k.mb AND m.uid = k.uid
		      FOR NO KEY UPDATE SKIP LOCKED);
	v_n := coalesce(cardinality(v_mb), 0);
	IF v_n > 0 THEN
		UPDATE messages m SET search = to_tsvector('simple', q.body)
		FROM fts_queue q, unnest(v_mb, v_uid) k(mb, uid)
		WHERE q.mailbox_id = k.mb AND q.uid = k.uid
		  AND m.mailbox_id = k.mb AND m.uid = k.uid;
		DELETE FROM fts_queue q USING unnest(v_mb, v_uid) k(mb, uid)
		WHERE q.mailbox_id = k.mb AND q.uid = k.uid;
	END IF;
	-- Fewer than asked: the queue is empty as far as this snapshot
	-- sees, so every ticket up to v_last is done.
	UPDATE fts_state s
	SET done = CASE WHEN v_taken < v_lim THEN greatest(s.done, v_last)
			ELSE s.done + v_n END
	WHERE s.id = 1
	RETURNING s.done INTO v_done;
	RETURN QUERY SELECT v_n, greatest(v_last - coalesce(v_done, 0), 0);
END
$$;

-- As in 002_store_core.sql, plus the user's queue rows.
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
	RETURN QUERY SELECT 'ok'::text;
END
$$;

-- As in 003_store_messages.sql, plus the mailbox's queue rows.
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
	DELETE FROM expunged e WHERE e.user_id = p_user_id AND e.mailbox_id = p_id;
	INSERT INTO mailbox_gone (user_id, mailbox_id, modseq)
	VALUES (p_user_id, p_id, v_modseq);
	RETURN QUERY SELECT 'ok'::text;
END
$$;

-- As in 003_store_messages.sql; a message not indexed yet takes its
-- queue row (and ticket) along to its new UID.
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

-- As in 003_store_messages.sql; the copy of a message not indexed yet
-- is queued too (a new ticket: one more row in the backlog).
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
		FROM n),
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

-- As in 003_store_messages.sql, plus the queue rows.
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

-- As in 003_store_messages.sql; a message not indexed yet (search
-- NULL: messages_unindexed finds the few of a user) matches by its
-- queued text, so search is exact whatever the indexer's backlog. A
-- scalar subquery, not EXISTS: the planner may turn an EXISTS into a
-- hashed subplan that builds the tsvector of every queued row of every
-- user; this one runs per unindexed message of the user, on the key.
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
	  AND (v_query IS NULL OR m.search @@ v_query
	       OR (m.search IS NULL
		   AND (SELECT to_tsvector('simple', f.body) FROM fts_queue f
			WHERE f.mailbox_id = m.mailbox_id
			  AND f.uid = m.uid) @@ v_query))
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
