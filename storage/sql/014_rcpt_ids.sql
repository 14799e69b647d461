-- kurier mail store: delivery reuses the RCPT look-up (issue 12;
-- conventions of 002_store_core.sql).
--
-- kr_deliver_batch as in 013_fts_terms.sql, plus p_user_ids: the ids
-- kurierd's RCPT look-ups found on this shard (sent only when every
-- message has one). The user's UPDATE then checks id and address
-- together, and a one-message call (what group commit sends most) runs
-- no look-up of its own; several are still locked in id order first,
-- against deadlocks. When that UPDATE finds nothing, one look-up tells
-- over quota from a user gone ('no_user'), or from an address that is
-- another user's since the RCPT ('retry': temporary, the next RCPT
-- finds the new id).
--
-- A recipient without a user whose address left the shard in a bucket
-- move (012's moved_users) is 'moved', not 'no_user': a kurierd whose
-- map was stale between RCPT and DATA answers 4xx and the message comes
-- back to the right shard, instead of a 550.
--
-- The new argument changes the signature: the old function is dropped
-- in the same transaction (a call with ten arguments reaches the new
-- one through the default). A change to the function is made here
-- from now on.

DROP FUNCTION IF EXISTS kr_deliver_batch(text[], text[], bytea[], bytea[],
	bool[], int[], int[], jsonb[], text[], bytea[]);

CREATE OR REPLACE FUNCTION kr_deliver_batch(p_addresses text[],
	p_folders text[], p_hashes bytea[], p_bodies bytea[], p_zlib bool[],
	p_raw_sizes int[], p_sizes int[], p_metas jsonb[], p_flags text[],
	p_prefixes bytea[] DEFAULT NULL, p_user_ids bigint[] DEFAULT NULL)
RETURNS TABLE (idx int, status text, user_id bigint, mailbox_id bigint,
	uid bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
	v_n int := coalesce(cardinality(p_addresses), 0);
	v_inline bool;
	v_flags text[];
	v_size int;
	v_modseq bigint;
	v_folder text;
	v_mb bigint;
	v_uid bigint;
	v_text text;
	v_id bigint;
	m jsonb;
	r_user bigint[];
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
	   OR v_n <> coalesce(cardinality(p_prefixes), v_n)
	   OR v_n <> coalesce(cardinality(p_user_ids), v_n) THEN
		RAISE EXCEPTION 'kr_deliver_batch: arrays of different lengths';
	END IF;
	IF v_n = 0 THEN
		RETURN;
	END IF;
	-- Recipients locked in id order (one is locked by its UPDATE
	-- below); per message its user (NULL: none). The ids the RCPT
	-- look-ups found are checked by that UPDATE (id and address).
	IF p_user_ids IS NOT NULL AND array_position(p_user_ids, NULL) IS NULL
	THEN
		r_user := p_user_ids;
		IF v_n > 1 THEN
			PERFORM FROM users x WHERE x.id = ANY (p_user_ids)
			ORDER BY x.id FOR NO KEY UPDATE;
		END IF;
	ELSE
		r_user := ARRAY(
			SELECT u.id
			FROM unnest(p_addresses) WITH ORDINALITY k(a, i)
			LEFT JOIN (SELECT x.id, x.address FROM users x
				   WHERE x.address = ANY (ARRAY(
					SELECT kr_addr(a) FROM unnest(p_addresses) a))
				   ORDER BY x.id FOR NO KEY UPDATE) u
			  ON u.address = kr_addr(k.a)
			ORDER BY k.i);
	END IF;

	BEGIN
		SELECT t.last_value - (NOT t.is_called)::int - f.done < f.bound
		INTO v_inline
		FROM fts_state f, fts_queue_tickets t WHERE f.id = 1;
		v_inline := NOT coalesce(v_inline, false);
		FOR i IN 1 .. v_n LOOP
			CONTINUE WHEN r_user[i] IS NULL;
			v_flags := CASE WHEN coalesce(btrim(p_flags[i]), '') = ''
					THEN '{}'::text[]
					ELSE kr_flags_split(p_flags[i]) END;
			v_size := p_sizes[i];
			UPDATE users u SET used_bytes = u.used_bytes + v_size,
				messages = u.messages + 1, modseq = u.modseq + 1
			WHERE u.id = r_user[i]
			  AND u.address = kr_addr(p_addresses[i])
			  AND (u.quota_bytes = 0
			       OR u.used_bytes + v_size <= u.quota_bytes)
			RETURNING u.modseq INTO v_modseq;
			IF NOT FOUND THEN
				-- Over quota, or (an id from RCPT) the address
				-- is no user's now, or another user's.
				v_id := (SELECT x.id FROM users x
					 WHERE x.address = kr_addr(p_addresses[i]));
				IF v_id IS NULL THEN
					r_user[i] := NULL; -- answered below
				ELSIF v_id = r_user[i] THEN
					r_status[i] := 'over_quota';
				ELSE
					r_status[i] := 'retry';
					r_user[i] := v_id;
				END IF;
				CONTINUE;
			END IF;
			v_folder := p_folders[i];
			UPDATE mailboxes b SET uidnext = b.uidnext + 1,
				total = b.total + 1,
				unseen = b.unseen + CASE WHEN '\Seen' = ANY (v_flags)
						    THEN 0 ELSE 1 END,
				size = b.size + v_size, modseq = v_modseq,
				highest_modseq = v_modseq
			WHERE b.id = (SELECT f.id FROM mailboxes f
				      WHERE f.user_id = r_user[i]
					AND (f.name = v_folder OR f.role = 'inbox')
				      ORDER BY coalesce(f.name = v_folder, false) DESC
				      LIMIT 1)
			RETURNING b.id, b.uidnext - 1 INTO v_mb, v_uid;
			IF NOT FOUND THEN
				RAISE EXCEPTION 'kurier: user % has no mailbox % and no INBOX',
					r_user[i], v_folder;
			END IF;
			m := coalesce(p_metas[i], '{}');
			v_text := kr_fts_bound(m ->> 'search_terms');
			INSERT INTO messages (mailbox_id, uid, user_id, body_hash,
				prefix, size, flags, modseq, date, from_name,
				from_email, to_list, cc_list, subject, message_id,
				in_reply_to, refs, preview, has_attachments,
				attachments)
			VALUES (v_mb, v_uid, r_user[i], p_hashes[i],
				coalesce(p_prefixes[i], ''), v_size, v_flags,
				v_modseq,
				CASE WHEN m ? 'date'
				     THEN kr_meta_date(m ->> 'date') END,
				m ->> 'from_name', m ->> 'from_email',
				CASE jsonb_typeof(m -> 'to')
				     WHEN 'array' THEN m -> 'to' END,
				CASE jsonb_typeof(m -> 'cc')
				     WHEN 'array' THEN m -> 'cc' END,
				m ->> 'subject', m ->> 'message_id',
				m ->> 'in_reply_to', m ->> 'references',
				m ->> 'preview',
				coalesce(m -> 'has_attachments' = 'true', false),
				CASE jsonb_typeof(m -> 'attachments')
				     WHEN 'array' THEN m -> 'attachments' END);
			IF v_inline THEN
				INSERT INTO message_fts (user_id, mailbox_id, uid, tsv)
				VALUES (r_user[i], v_mb, v_uid, kr_fts_vector(v_text));
			ELSE
				INSERT INTO fts_queue (mailbox_id, uid, user_id, body)
				VALUES (v_mb, v_uid, r_user[i], v_text);
			END IF;
			r_status[i] := 'ok';
			r_mailbox[i] := v_mb;
			r_uid[i] := v_uid;
		END LOOP;
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
	SELECT k, CASE WHEN r_user[k] IS NOT NULL THEN r_status[k]
		       WHEN EXISTS (SELECT 1 FROM moved_users m
				    WHERE m.address = kr_addr(p_addresses[k]))
		       THEN 'moved' ELSE 'no_user' END,
	       r_user[k], r_mailbox[k], r_uid[k]
	FROM generate_series(1, v_n) k
	ORDER BY k;
END
$$;
