-- kurier mail store: full-text terms made by kurierd (issue 12;
-- conventions of 002_store_core.sql: CREATE OR REPLACE only).
--
-- PostgreSQL's text-search parser cost about 0.27 ms of backend CPU per
-- 4 KiB message (to_tsvector, wide characters under the cluster's
-- C.UTF-8 ctype), more than the delivery's own statements. kurierd now
-- splits the text into terms in its cpu pool, with the MIME parse
-- (proto/fts_terms.h: runs of letters and digits, lower-cased, each
-- once, space-separated) and sends them as the metadata's
-- 'search_terms'; a query is split by the same rule before it is sent.
-- Here the terms only become a tsvector (array_to_tsvector: no parsing)
-- and a query an AND of its terms, so both sides meet exactly.
--
-- kr_deliver_batch (009), kr_msg_insert and kr_msg_search (010) are
-- restated with only their full-text lines changed: the text was
-- 'search_text' with the subject and sender prepended here, it is
-- 'search_terms' as sent (kurierd's terms hold subject, addresses,
-- attachment names and body). A change to those functions must be made
-- here from now on.
--
-- What was indexed before this file was parsed by PostgreSQL: its plain
-- words are the same terms, and the lexemes that held punctuation
-- (addresses, host names, dotted numbers) gain their parts below, so
-- that a query for an address finds old mail as it finds new mail. The
-- queue's pending texts are turned into terms the same way.

---------------------------------------------------------------------------
-- Terms
---------------------------------------------------------------------------

-- The tsvector of a term list: its terms as lexemes, nothing parsed.
CREATE OR REPLACE FUNCTION kr_fts_vector(p text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT array_to_tsvector(array_remove(string_to_array(p, ' '), ''))
$$;

-- A tsvector holds at most 1 MB: bound the list that feeds it (a term
-- cut at the end only makes one more lexeme); none is an empty list.
CREATE OR REPLACE FUNCTION kr_fts_bound(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT left(coalesce(p, ''), 100000)
$$;

-- Every term of a query's term list (an empty list matches nothing).
-- PL/pgSQL, not SQL: a SQL function with a FROM is never inlined, and
-- would be parsed and planned again at every call; this plans once per
-- connection.
CREATE OR REPLACE FUNCTION kr_fts_query(p text) RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	RETURN (SELECT coalesce(string_agg('''' || replace(replace(t, '\',
			'\\'), '''', '''''') || '''', ' & '), '')::tsquery
		FROM unnest(array_remove(string_to_array(p, ' '), '')) t);
END
$$;

-- The terms of a text the way kurierd makes them, near enough for what
-- this file converts once (PostgreSQL's [:alnum:] and lower() under the
-- cluster's ctype, not GLib's).
CREATE OR REPLACE FUNCTION kr_fts_terms_sql(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT coalesce(string_agg(w, ' '), '')
	FROM (SELECT DISTINCT w FROM regexp_split_to_table(lower(p),
			'[^[:alnum:]]+') w
	      WHERE w <> '' AND octet_length(w) <= 240) x
$$;

-- Once: the queue's texts to terms, and old lexemes' parts added.
UPDATE fts_queue SET body = kr_fts_terms_sql(body)
WHERE body ~ '[^[:alnum:] ]' OR body <> lower(body);
UPDATE message_fts f
SET tsv = f.tsv || kr_fts_vector(kr_fts_terms_sql(array_to_string(
	ARRAY(SELECT l FROM unnest(tsvector_to_array(f.tsv)) l
	      WHERE l ~ '[^[:alnum:]]'), ' ')))
WHERE EXISTS (SELECT 1 FROM unnest(tsvector_to_array(f.tsv)) l
	      WHERE l ~ '[^[:alnum:]]');

---------------------------------------------------------------------------
-- The functions that make or read the terms
---------------------------------------------------------------------------

-- 009's, 'search_terms' as sent.
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
	SELECT k, CASE WHEN r_user[k] IS NULL THEN 'no_user'
		       ELSE r_status[k] END,
	       r_user[k], r_mailbox[k], r_uid[k]
	FROM generate_series(1, v_n) k
	ORDER BY k;
END
$$;

-- 010's, 'search_terms' as sent.
CREATE OR REPLACE FUNCTION kr_msg_insert(p_mailbox_id bigint, p_uid bigint,
	p_user_id bigint, p_hash bytea, p_prefix bytea, p_size int,
	p_flags text[], p_modseq bigint, p_meta jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	m jsonb := coalesce(p_meta, '{}');
	v_text text := kr_fts_bound(m ->> 'search_terms');
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

-- 010's: the query's terms ANDed; the queue's term lists as vectors.
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
	v_text text := p_text; -- terms; '' matches nothing
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
		v_query := kr_fts_query(v_text);
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
		  AND kr_fts_vector(q.body) @@ v_query)
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
