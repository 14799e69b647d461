-- kurier mail store, part 7: set-based delivery (issue 12; conventions
-- of 002_store_core.sql; CREATE OR REPLACE only).
--
-- kr_deliver_batch as in 002_store_core.sql (same signature, same
-- results), but the common case runs a fixed number of statements per
-- batch whatever its size: one that locks the recipients (id order) and
-- reads their quota and modseq, one that resolves the target mailboxes
-- and their uidnext, and one that writes users, mailboxes, messages and
-- the full-text queue, then the bodies. Before, every message cost some
-- ten PL/pgSQL statements and two nested function calls, each planned
-- again (custom plans: the generic ones cost more on paper), about
-- half of PostgreSQL's CPU per delivery.
--
-- Only when a user's messages of the batch do not all fit its quota
-- does it take the old road, message by message (the first that does
-- not fit is refused, a later smaller one may still fit); an unexpected
-- failure still starts over with one subtransaction per message.
--
-- UIDs and modseqs are what the message-by-message road gives: a
-- user's messages take modseq + 1, + 2, ... in batch order, a mailbox's
-- take uidnext, uidnext + 1, ..., and a mailbox's modseq is that of its
-- last message. Reading the counters and writing them in two statements
-- is safe: every writer of a user's mailboxes holds the user's row lock,
-- taken here first.
--
-- The full-text part repeats kr_msg_insert of 008_fts_queue.sql (queue,
-- or inline at the bound): a change there must be made here too.
--
-- plan_cache_mode: custom plans for these statements would be made
-- again at every call (a plan for a one-message array looks cheaper
-- than the generic one), which is what this function exists to avoid.

CREATE OR REPLACE FUNCTION kr_deliver_batch(p_addresses text[],
	p_folders text[], p_hashes bytea[], p_bodies bytea[], p_zlib bool[],
	p_raw_sizes int[], p_sizes int[], p_metas jsonb[], p_flags text[],
	p_prefixes bytea[] DEFAULT NULL)
RETURNS TABLE (idx int, status text, user_id bigint, mailbox_id bigint,
	uid bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
	v_n int := coalesce(cardinality(p_addresses), 0);
	v_fits bool;
	v_users int;
	v_stored int;
	v_inline bool;
	r_user bigint[];
	r_modseq bigint[];
	r_status text[];
	r_mailbox bigint[];
	r_uid bigint[];
	s record;
	i int;
BEGIN
	IF v_n <> coalesce(cardinality(p_hashes), 0)
	   OR v_n <> coalesce(cardinality(p_bodies), 0)
	   OR v_n <> coalesce(cardinality(p_zlib), 0)
	   OR v_n <> coalesce(cardinality(p_raw_sizes), 0)
	   OR v_n <> coalesce(cardinality(p_sizes), 0)
	   OR v_n <> coalesce(cardinality(p_folders), v_n)
	   OR v_n <> coalesce(cardinality(p_metas), v_n)
	   OR v_n <> coalesce(cardinality(p_flags), v_n)
	   OR v_n <> coalesce(cardinality(p_prefixes), v_n) THEN
		RAISE EXCEPTION 'kr_deliver_batch: arrays of different lengths';
	END IF;
	IF v_n = 0 THEN
		RETURN;
	END IF;
	-- Recipients locked in id order; per message its user, the user's
	-- modseq, and whether all of the user's messages fit its quota.
	SELECT array_agg(l.id ORDER BY l.i), array_agg(l.modseq ORDER BY l.i),
	       coalesce(bool_and(l.fits), true),
	       count(DISTINCT l.id)::int
	INTO r_user, r_modseq, v_fits, v_users
	FROM (SELECT k.i, u.id, u.modseq,
		     u.quota_bytes = 0 OR u.used_bytes
			+ sum(p_sizes[k.i]) OVER (PARTITION BY u.id)
			<= u.quota_bytes AS fits
	      FROM unnest(p_addresses) WITH ORDINALITY k(a, i)
	      LEFT JOIN (SELECT x.id, x.address, x.modseq, x.quota_bytes,
				x.used_bytes
			 FROM users x
			 WHERE x.address = ANY (ARRAY(SELECT kr_addr(a)
						      FROM unnest(p_addresses) a))
			 ORDER BY x.id FOR NO KEY UPDATE) u
		ON u.address = kr_addr(k.a)) l;

	BEGIN
		IF v_users > 0 AND v_fits THEN
			SELECT t.last_value - (NOT t.is_called)::int - f.done < f.bound
			INTO v_inline
			FROM fts_state f, fts_queue_tickets t WHERE f.id = 1;
			v_inline := NOT coalesce(v_inline, false);
			WITH m AS MATERIALIZED (
				SELECT k.i, r_user[k.i] AS u, k.size,
				       kr_flags_split(k.flags) AS flags,
				       coalesce(k.meta, '{}') AS meta,
				       r_modseq[k.i] + row_number() OVER (
					PARTITION BY r_user[k.i] ORDER BY k.i)
					AS modseq,
				       (SELECT f.id FROM mailboxes f
					WHERE f.user_id = r_user[k.i]
					  AND (f.name = k.folder OR f.role = 'inbox')
					ORDER BY coalesce(f.name = k.folder, false) DESC
					LIMIT 1) AS mb
				FROM unnest(p_sizes, p_folders, p_metas, p_flags)
					WITH ORDINALITY k(size, folder, meta, flags, i)
				WHERE r_user[k.i] IS NOT NULL),
			x AS MATERIALIZED (
				SELECT m.*, b.uidnext - 1 + row_number() OVER (
					PARTITION BY m.mb ORDER BY m.i) AS uid,
				       CASE WHEN '\Seen' = ANY (m.flags) THEN 0
					    ELSE 1 END AS unseen,
				       left(concat_ws(' ', m.meta ->> 'subject',
					m.meta ->> 'from_name',
					m.meta ->> 'from_email',
					m.meta ->> 'search_text'), 100000) AS text
				FROM m JOIN mailboxes b ON b.id = m.mb),
			uu AS (
				UPDATE users u SET used_bytes = u.used_bytes + s.size,
					messages = u.messages + s.n, modseq = s.modseq
				FROM (SELECT x.u, sum(x.size) AS size,
					     count(*) AS n, max(x.modseq) AS modseq
				      FROM x GROUP BY x.u) s
				WHERE u.id = s.u),
			mm AS (
				UPDATE mailboxes b SET uidnext = s.uid + 1,
					total = b.total + s.n,
					unseen = b.unseen + s.unseen,
					size = b.size + s.size, modseq = s.modseq,
					highest_modseq = s.modseq
				FROM (SELECT x.mb, max(x.uid) AS uid,
					     count(*)::int AS n,
					     sum(x.unseen)::int AS unseen,
					     sum(x.size) AS size,
					     max(x.modseq) AS modseq
				      FROM x GROUP BY x.mb) s
				WHERE b.id = s.mb),
			ins AS (
				INSERT INTO messages (mailbox_id, uid, user_id,
					body_hash, prefix, size, flags, modseq, date,
					from_name, from_email, to_list, cc_list,
					subject, message_id, in_reply_to, refs,
					preview, has_attachments, attachments,
					search)
				SELECT x.mb, x.uid, x.u, p_hashes[x.i],
				       coalesce(p_prefixes[x.i], ''), x.size,
				       x.flags, x.modseq,
				       kr_meta_date(x.meta ->> 'date'),
				       x.meta ->> 'from_name', x.meta ->> 'from_email',
				       CASE jsonb_typeof(x.meta -> 'to')
					    WHEN 'array' THEN x.meta -> 'to' END,
				       CASE jsonb_typeof(x.meta -> 'cc')
					    WHEN 'array' THEN x.meta -> 'cc' END,
				       x.meta ->> 'subject', x.meta ->> 'message_id',
				       x.meta ->> 'in_reply_to',
				       x.meta ->> 'references', x.meta ->> 'preview',
				       coalesce(x.meta -> 'has_attachments' = 'true',
						false),
				       CASE jsonb_typeof(x.meta -> 'attachments')
					    WHEN 'array' THEN x.meta -> 'attachments'
				       END,
				       CASE WHEN v_inline
					    THEN to_tsvector('simple', x.text) END
				FROM x),
			fq AS (
				INSERT INTO fts_queue (mailbox_id, uid, user_id, body)
				SELECT x.mb, x.uid, x.u, x.text FROM x
				WHERE NOT v_inline)
			SELECT array_agg(CASE WHEN x.i IS NOT NULL THEN 'ok' END
					 ORDER BY g),
			       array_agg(x.mb ORDER BY g),
			       array_agg(x.uid ORDER BY g), count(x.i)::int
			INTO r_status, r_mailbox, r_uid, v_stored
			FROM generate_series(1, v_n) g
			LEFT JOIN x ON x.i = g;
			IF v_stored <> (SELECT count(*) FROM unnest(r_user) u
					WHERE u IS NOT NULL) THEN
				RAISE EXCEPTION 'kurier: a recipient has no INBOX';
			END IF;
		ELSE
			FOR i IN 1 .. v_n LOOP
				CONTINUE WHEN r_user[i] IS NULL;
				SELECT * INTO s FROM kr_store_one(r_user[i], NULL,
					p_folders[i], p_sizes[i],
					kr_flags_split(p_flags[i]), p_hashes[i],
					p_prefixes[i], p_metas[i]);
				r_status[i] := s.o_status;
				r_mailbox[i] := s.o_mailbox_id;
				r_uid[i] := s.o_uid;
			END LOOP;
		END IF;
		INSERT INTO bodies AS b (hash, refs, raw_size, zlib, data)
		SELECT t.h, t.n, p_raw_sizes[t.first], p_zlib[t.first],
		       p_bodies[t.first]
		FROM (SELECT p_hashes[j] AS h, min(j) AS first,
			     count(*)::int AS n
		      FROM generate_series(1, v_n) j
		      WHERE r_status[j] = 'ok' GROUP BY 1) t
		ORDER BY t.h
		ON CONFLICT (hash) DO UPDATE SET refs = b.refs + excluded.refs;
	EXCEPTION WHEN OTHERS THEN
		RAISE LOG 'kr_deliver_batch: % (%), retrying message by message',
			SQLERRM, SQLSTATE;
		r_status := '{}';
		r_mailbox := '{}';
		r_uid := '{}';
		FOR i IN 1 .. v_n LOOP
			CONTINUE WHEN r_user[i] IS NULL;
			BEGIN
				SELECT * INTO s FROM kr_store_one(r_user[i],
					NULL, p_folders[i], p_sizes[i],
					kr_flags_split(p_flags[i]),
					p_hashes[i], p_prefixes[i],
					p_metas[i]);
				IF s.o_status = 'ok' THEN
					PERFORM kr_bodies_add(ARRAY[i], p_hashes,
						p_bodies, p_zlib, p_raw_sizes);
				END IF;
				r_status[i] := s.o_status;
				r_mailbox[i] := s.o_mailbox_id;
				r_uid[i] := s.o_uid;
			EXCEPTION WHEN OTHERS THEN
				RAISE LOG 'kr_deliver_batch: message %: % (%)',
					i, SQLERRM, SQLSTATE;
				r_status[i] := 'error';
			END;
		END LOOP;
	END;

	RETURN QUERY
	SELECT k, CASE WHEN r_user[k] IS NULL THEN 'no_user'
		       ELSE r_status[k] END,
	       r_user[k], r_mailbox[k], r_uid[k]
	FROM generate_series(1, v_n) k
	ORDER BY k;
END
$$;
