-- kurier mail store, part 7: set-based delivery (issue 12; conventions
-- of 002_store_core.sql; CREATE OR REPLACE only).
--
-- kr_deliver_batch as in 002_store_core.sql (same signature, same
-- results), flattened: what kr_store_one, kr_msg_insert (008) and
-- kr_bodies_add did per message, through two nested PL/pgSQL calls and
-- some ten statements, is now four statements of the loop (users,
-- mailboxes, messages, full-text queue), plus per batch the recipients'
-- lock, the queue's bound and one bodies upsert. Measured with
-- ops/pgcpu_sql.sh (one 4 KiB message per call): 420-440 us of backend
-- CPU per delivery before, 360 after.
--
-- A set-based version (one statement for all messages of a batch, with
-- data-modifying CTEs) was tried and measured slower for the batches
-- group commit really sends (one to three messages): its executor
-- start-up, sorts and hash tables cost more than the loop saves.
--
-- The full-text part repeats kr_msg_insert of 010_fts_table.sql (queue,
-- or inline into message_fts at the bound; message_fts and
-- kr_fts_vector come with 010, resolved when the function first runs):
-- a change there must be made here too. The
-- over-quota, no-mailbox and failure paths answer as before; after an
-- unexpected failure it still starts over with one subtransaction per
-- message, through kr_store_one.
--
-- plan_cache_mode: PostgreSQL would plan several of these statements
-- again at every call (custom plans: a plan for the values at hand
-- looks cheaper than the generic one on paper), about 30 us a call.

-- The Date header as the C side found it; as in 002_store_core.sql,
-- but a plainly valid date (day 1-28, every field in range) is cast
-- without the subtransaction that an EXCEPTION block costs on every
-- call; only the rest goes through it.
CREATE OR REPLACE FUNCTION kr_meta_date(p text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p IS NULL OR p !~ '^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d(:?\d\d)?)?$' THEN
		RETURN NULL;
	END IF;
	IF p ~ '^[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?)?(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)?$' THEN
		RETURN p::timestamptz;
	END IF;
	BEGIN
		RETURN p::timestamptz;
	EXCEPTION WHEN data_exception THEN
		RETURN NULL;
	END;
END
$$;

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
	v_inline bool;
	v_flags text[];
	v_size int;
	v_modseq bigint;
	v_folder text;
	v_mb bigint;
	v_uid bigint;
	v_text text;
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
	   OR v_n <> coalesce(cardinality(p_prefixes), v_n) THEN
		RAISE EXCEPTION 'kr_deliver_batch: arrays of different lengths';
	END IF;
	IF v_n = 0 THEN
		RETURN;
	END IF;
	-- Recipients locked in id order; per message its user (NULL: none).
	r_user := ARRAY(
		SELECT u.id
		FROM unnest(p_addresses) WITH ORDINALITY k(a, i)
		LEFT JOIN (SELECT x.id, x.address FROM users x
			   WHERE x.address = ANY (ARRAY(SELECT kr_addr(a)
						       FROM unnest(p_addresses) a))
			   ORDER BY x.id FOR NO KEY UPDATE) u
		  ON u.address = kr_addr(k.a)
		ORDER BY k.i);

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
			  AND (u.quota_bytes = 0
			       OR u.used_bytes + v_size <= u.quota_bytes)
			RETURNING u.modseq INTO v_modseq;
			IF NOT FOUND THEN
				r_status[i] := 'over_quota';
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
			v_text := left(concat_ws(' ', m ->> 'subject',
				m ->> 'from_name', m ->> 'from_email',
				m ->> 'search_text'), 100000);
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
	SELECT k, CASE WHEN r_user[k] IS NULL THEN 'no_user'
		       ELSE r_status[k] END,
	       r_user[k], r_mailbox[k], r_uid[k]
	FROM generate_series(1, v_n) k
	ORDER BY k;
END
$$;
