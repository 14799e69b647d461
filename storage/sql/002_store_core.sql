-- kurier mail store functions, part 1: helpers, users, delivery.
-- Every store operation is one call of one of these functions: one round
-- trip, atomic, ownership checked here. Expected outcomes come back as a
-- status column; only bugs and infrastructure problems raise.
-- Re-appliable: CREATE OR REPLACE only, so a later migration may replace
-- any function by repeating it.
--
-- Parameters are named p_* (the C side binds them by position); output
-- column names are the contract's. Functions whose outputs share names
-- with table columns say `#variable_conflict use_column`, so a bare name
-- in a query is always the column.
--
-- Lock order (deadlock freedom): users rows in id order, then mailboxes
-- rows, then bodies rows in hash order. Every writer of a user's
-- mailboxes or messages holds that user's row lock first, so mailbox
-- counters, UIDs and the modseq stay exact under concurrency.

---------------------------------------------------------------------------
-- Internal helpers: not in the contract, the C side never calls them.
---------------------------------------------------------------------------

-- Addresses fold ASCII only, whatever the database locale: the C side
-- does the same when it hashes an address to its shard.
CREATE OR REPLACE FUNCTION kr_addr(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT lower(p COLLATE "C")
$$;

-- A flag set: sorted, distinct, no empty strings, system flags in their
-- canonical case (RFC 3501 2.3.2: flags are case-insensitive) and no
-- \Recent (a session property, never stored). PL/pgSQL: it runs for
-- every delivered message, and only PL/pgSQL keeps its plan.
CREATE OR REPLACE FUNCTION kr_flags_norm(p_flags text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	IF coalesce(cardinality(p_flags), 0) = 0 THEN
		RETURN '{}';
	END IF;
	RETURN (SELECT coalesce(array_agg(DISTINCT s.f ORDER BY s.f), '{}')
		FROM (SELECT (CASE lower(x)
				WHEN '\seen' THEN '\Seen'
				WHEN '\answered' THEN '\Answered'
				WHEN '\flagged' THEN '\Flagged'
				WHEN '\deleted' THEN '\Deleted'
				WHEN '\draft' THEN '\Draft'
				ELSE x END) COLLATE "C" AS f
		      FROM unnest(p_flags) x
		      WHERE x <> '' AND lower(x) <> '\recent') s);
END
$$;

-- Delivery passes one space-separated flag string per message.
CREATE OR REPLACE FUNCTION kr_flags_split(p text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	IF p IS NULL OR btrim(p) = '' THEN
		RETURN '{}';
	END IF;
	RETURN kr_flags_norm(regexp_split_to_array(p, '\s+'));
END
$$;

CREATE OR REPLACE FUNCTION kr_flags_apply(p_flags text[], p_add text[],
	p_remove text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT kr_flags_norm(ARRAY(
		SELECT f FROM unnest(p_flags || coalesce(p_add, '{}')) f
		WHERE NOT f = ANY (coalesce(p_remove, '{}'))))
$$;

CREATE OR REPLACE FUNCTION kr_like_escape(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT replace(replace(replace(p, '\', '\\'), '%', '\%'), '_', '\_')
$$;

-- The Date header as the C side found it. A malformed date must not
-- make a message undeliverable (the MTA would retry it forever), so
-- anything that does not parse is simply NULL.
CREATE OR REPLACE FUNCTION kr_meta_date(p text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p IS NULL OR p !~ '^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d(:?\d\d)?)?$' THEN
		RETURN NULL;
	END IF;
	RETURN p::timestamptz;
EXCEPTION WHEN data_exception THEN
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION kr_mailbox_name_ok(p text) RETURNS bool
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT p IS NOT NULL AND p <> '' AND octet_length(p) <= 255
		AND p !~ '[\x01-\x1f\x7f-\x9f]'
$$;

-- IMAP treats INBOX case-insensitively: no other mailbox may take the
-- name in any case, nor a name another mailbox of the user has.
CREATE OR REPLACE FUNCTION kr_mailbox_name_taken(p_user_id bigint, p_name text,
	p_except bigint) RETURNS bool
LANGUAGE sql STABLE AS $$
	SELECT upper(p_name COLLATE "C") = 'INBOX' OR EXISTS (
		SELECT 1 FROM mailboxes m
		WHERE m.user_id = p_user_id AND m.name = p_name
		  AND m.id IS DISTINCT FROM p_except)
$$;

-- Seconds since the epoch plus the id: unique per name over time.
CREATE OR REPLACE FUNCTION kr_uidvalidity(p_id bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
	SELECT floor(extract(epoch FROM now()))::bigint + p_id
$$;

-- The five role mailboxes of new users (set-based for kr_user_import).
CREATE OR REPLACE FUNCTION kr_mailboxes_init(p_users bigint[]) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO mailboxes (id, user_id, name, role, uidvalidity, modseq)
	SELECT s.id, s.user_id, s.name, s.role, kr_uidvalidity(s.id), 1
	FROM (SELECT nextval('mailboxes_id_seq') AS id, u AS user_id,
		     r.name, r.role
	      FROM unnest(p_users) u
	      CROSS JOIN (VALUES (1, 'INBOX', 'inbox'), (2, 'Sent', 'sent'),
				 (3, 'Drafts', 'drafts'), (4, 'Trash', 'trash'),
				 (5, 'Junk', 'junk')) r(ord, name, role)
	      ORDER BY u, r.ord) s
$$;

-- One row of the mailbox shape; NULL id gives the status with NULLs.
CREATE OR REPLACE FUNCTION kr_mailbox_out(p_status text, p_id bigint)
RETURNS TABLE (status text, id bigint, name text, role text, total int,
	unseen int, size bigint, uidvalidity bigint, uidnext bigint,
	modseq bigint)
LANGUAGE sql AS $$
	SELECT p_status, m.id, m.name, m.role, m.total, m.unseen, m.size,
	       m.uidvalidity, m.uidnext, m.highest_modseq
	FROM (SELECT 1) one
	LEFT JOIN mailboxes m ON m.id = p_id
$$;

-- Bodies referenced by the accepted messages p_idx of a batch: one
-- statement, rows touched in hash order (lock order), refs counted per
-- message, the data of the first message with that hash kept.
CREATE OR REPLACE FUNCTION kr_bodies_add(p_idx int[], p_hashes bytea[],
	p_bodies bytea[], p_zlib bool[], p_raw_sizes int[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO bodies AS b (hash, refs, raw_size, zlib, data)
	SELECT s.h, s.n, p_raw_sizes[s.first], p_zlib[s.first],
	       p_bodies[s.first]
	FROM (SELECT p_hashes[j] AS h, min(j) AS first, count(*)::int AS n
	      FROM unnest(p_idx) j GROUP BY 1) s
	ORDER BY s.h
	ON CONFLICT (hash) DO UPDATE SET refs = b.refs + excluded.refs;
END
$$;

-- Copies reference bodies that exist already.
CREATE OR REPLACE FUNCTION kr_bodies_ref(p_hashes bytea[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM bodies WHERE hash = ANY (p_hashes)
	ORDER BY hash FOR NO KEY UPDATE;
	UPDATE bodies b SET refs = b.refs + c.n
	FROM (SELECT h, count(*)::int AS n FROM unnest(p_hashes) h
	      GROUP BY h) c
	WHERE b.hash = c.h AND b.hash = ANY (p_hashes);
END
$$;

-- One reference less per element of p_hashes; a body nobody references
-- any more is deleted.
CREATE OR REPLACE FUNCTION kr_bodies_unref(p_hashes bytea[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce(cardinality(p_hashes), 0) = 0 THEN
		RETURN;
	END IF;
	PERFORM 1 FROM bodies WHERE hash = ANY (p_hashes)
	ORDER BY hash FOR UPDATE;
	-- The two halves touch disjoint rows (refs <= n vs refs > n). The
	-- "= ANY" conditions keep the plans on the primary key.
	WITH c AS (SELECT h, count(*)::int AS n FROM unnest(p_hashes) h
		   GROUP BY h),
	     d AS (DELETE FROM bodies b USING c
		   WHERE b.hash = c.h AND b.hash = ANY (p_hashes)
		     AND b.refs <= c.n)
	UPDATE bodies b SET refs = b.refs - c.n
	FROM c WHERE b.hash = c.h AND b.hash = ANY (p_hashes)
	  AND b.refs > c.n;
END
$$;

-- The message row, its listing metadata taken from the C side's meta.
-- PL/pgSQL rather than SQL here and in kr_bodies_add: its plans are kept
-- for the session, an SQL function's are made again at every call.
CREATE OR REPLACE FUNCTION kr_msg_insert(p_mailbox_id bigint, p_uid bigint,
	p_user_id bigint, p_hash bytea, p_prefix bytea, p_size int,
	p_flags text[], p_modseq bigint, p_meta jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	m jsonb := coalesce(p_meta, '{}');
BEGIN
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
		-- A tsvector holds at most 1 MB: bound the text that feeds it.
		to_tsvector('simple', left(concat_ws(' ', m ->> 'subject',
			m ->> 'from_name', m ->> 'from_email',
			m ->> 'search_text'), 100000)));
END
$$;

-- Stores one message for a user whose row the caller has locked: quota
-- check, modseq and counters in one users update (nothing is written on
-- over_quota), then the UID from the mailbox row, then the message.
-- p_mailbox_id NULL means: the mailbox named p_folder, else INBOX.
-- The body is the caller's (kr_bodies_add), so bodies are touched in
-- hash order after all messages of a batch. p_size is the size of the
-- whole stored message, p_prefix || body.
CREATE OR REPLACE FUNCTION kr_store_one(p_user_id bigint, p_mailbox_id bigint,
	p_folder text, p_size int, p_flags text[], p_hash bytea,
	p_prefix bytea, p_meta jsonb, OUT o_status text,
	OUT o_mailbox_id bigint, OUT o_uid bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_modseq bigint;
	v_unseen int := CASE WHEN '\Seen' = ANY (p_flags) THEN 0 ELSE 1 END;
BEGIN
	UPDATE users SET used_bytes = used_bytes + p_size,
			 messages = messages + 1, modseq = modseq + 1
	WHERE id = p_user_id
	  AND (quota_bytes = 0 OR used_bytes + p_size <= quota_bytes)
	RETURNING modseq INTO v_modseq;
	IF NOT FOUND THEN
		o_status := 'over_quota';
		RETURN;
	END IF;
	UPDATE mailboxes SET uidnext = uidnext + 1, total = total + 1,
			     unseen = unseen + v_unseen, size = size + p_size,
			     modseq = v_modseq, highest_modseq = v_modseq
	WHERE id = coalesce(p_mailbox_id,
		(SELECT f.id FROM mailboxes f
		 WHERE f.user_id = p_user_id
		   AND (f.name = p_folder OR f.role = 'inbox')
		 ORDER BY coalesce(f.name = p_folder, false) DESC LIMIT 1))
	  AND user_id = p_user_id
	RETURNING id, uidnext - 1 INTO o_mailbox_id, o_uid;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'kurier: user % has no mailbox % and no INBOX',
			p_user_id, coalesce(p_mailbox_id::text, p_folder);
	END IF;
	PERFORM kr_msg_insert(o_mailbox_id, o_uid, p_user_id, p_hash, p_prefix,
			      p_size, p_flags, v_modseq, p_meta);
	o_status := 'ok';
END
$$;

---------------------------------------------------------------------------
-- User admin
---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION kr_user_create(p_address text,
	p_password_hash text, p_quota bigint)
RETURNS TABLE (status text, user_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	INSERT INTO users (address, password_hash, quota_bytes)
	VALUES (kr_addr(p_address), p_password_hash, coalesce(p_quota, 0))
	ON CONFLICT (address) DO NOTHING
	RETURNING id INTO v_id;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'exists'::text, u.id FROM users u
			     WHERE u.address = kr_addr(p_address);
		RETURN;
	END IF;
	PERFORM kr_mailboxes_init(ARRAY[v_id]);
	RETURN QUERY SELECT 'ok'::text, v_id;
END
$$;

-- Set-based: one users insert and one mailboxes insert for the whole
-- array. A repeated address inside the array is 'exists' after its first
-- occurrence.
CREATE OR REPLACE FUNCTION kr_user_import(p_addresses text[], p_hashes text[])
RETURNS TABLE (idx int, status text)
LANGUAGE plpgsql AS $$
DECLARE
	v_n int := coalesce(cardinality(p_addresses), 0);
	v_ids bigint[];
	v_ok int[];
BEGIN
	IF v_n <> coalesce(cardinality(p_hashes), 0) THEN
		RAISE EXCEPTION 'kr_user_import: % addresses but % hashes',
			v_n, coalesce(cardinality(p_hashes), 0);
	END IF;
	IF v_n = 0 THEN
		RETURN;
	END IF;
	WITH input AS (
		SELECT t.i::int AS i, kr_addr(t.a) AS addr, t.h
		FROM unnest(p_addresses, p_hashes) WITH ORDINALITY t(a, h, i)),
	     firsts AS (
		SELECT DISTINCT ON (addr) i, addr, h FROM input
		ORDER BY addr, i),
	     ins AS (
		INSERT INTO users (address, password_hash)
		SELECT addr, h FROM firsts ORDER BY addr
		ON CONFLICT (address) DO NOTHING
		RETURNING id, address)
	SELECT array_agg(ins.id), array_agg(f.i) INTO v_ids, v_ok
	FROM ins JOIN firsts f ON f.addr = ins.address;
	PERFORM kr_mailboxes_init(coalesce(v_ids, '{}'));
	RETURN QUERY
	SELECT g.k, CASE WHEN o.k IS NULL THEN 'exists' ELSE 'ok' END
	FROM generate_series(1, v_n) g(k)
	LEFT JOIN unnest(coalesce(v_ok, '{}')) o(k) ON o.k = g.k
	ORDER BY g.k;
END
$$;

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
	-- Mailboxes, messages and tombstones go by ON DELETE CASCADE.
	DELETE FROM users u WHERE u.id = v_id;
	RETURN QUERY SELECT 'ok'::text;
END
$$;

CREATE OR REPLACE FUNCTION kr_user_get(p_address text)
RETURNS TABLE (status text, user_id bigint, password_hash text,
	quota_bytes bigint, used_bytes bigint, messages bigint)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN u.id IS NULL THEN 'not_found' ELSE 'ok' END,
	       u.id, u.password_hash, u.quota_bytes, u.used_bytes, u.messages
	FROM (SELECT 1) one
	LEFT JOIN users u ON u.address = kr_addr(p_address)
$$;

CREATE OR REPLACE FUNCTION kr_user_set_password(p_address text, p_hash text)
RETURNS TABLE (status text)
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE users u SET password_hash = p_hash
	WHERE u.address = kr_addr(p_address);
	RETURN QUERY SELECT CASE WHEN FOUND THEN 'ok' ELSE 'not_found' END;
END
$$;

-- Lowering a quota below what is used is allowed: later deliveries and
-- copies are refused until the user is under it again.
CREATE OR REPLACE FUNCTION kr_user_set_quota(p_address text, p_quota bigint)
RETURNS TABLE (status text)
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE users u SET quota_bytes = coalesce(p_quota, 0)
	WHERE u.address = kr_addr(p_address);
	RETURN QUERY SELECT CASE WHEN FOUND THEN 'ok' ELSE 'not_found' END;
END
$$;

-- Pages of at most 10000 addresses.
CREATE OR REPLACE FUNCTION kr_user_list(p_after text, p_lim int)
RETURNS TABLE (address text, quota_bytes bigint, used_bytes bigint,
	messages bigint)
LANGUAGE sql STABLE AS $$
	SELECT u.address, u.quota_bytes, u.used_bytes, u.messages
	FROM users u
	WHERE u.address > coalesce(p_after, '')
	ORDER BY u.address
	LIMIT least(greatest(coalesce(p_lim, 100), 0), 10000)
$$;

---------------------------------------------------------------------------
-- Delivery
---------------------------------------------------------------------------

-- Group commit: many messages (to users of this shard) in one call. All
-- recipients are locked first, in id order. The batch runs in one
-- subtransaction; only if something unexpected fails does it start over
-- with one subtransaction per message, so that message alone answers
-- 'error'. (One subtransaction in the common case also keeps the
-- backend's subxid cache from overflowing on large batches.)
-- Message i is p_prefixes[i] || body: hashes, bodies, zlib and raw_sizes
-- describe the shared body (hash and raw size of the uncompressed body),
-- sizes the whole message. p_prefixes NULL (or a NULL element) is an
-- empty prefix; it comes last so calls without it keep their positions.
CREATE OR REPLACE FUNCTION kr_deliver_batch(p_addresses text[],
	p_folders text[], p_hashes bytea[], p_bodies bytea[], p_zlib bool[],
	p_raw_sizes int[], p_sizes int[], p_metas jsonb[], p_flags text[],
	p_prefixes bytea[] DEFAULT NULL)
RETURNS TABLE (idx int, status text, user_id bigint, mailbox_id bigint,
	uid bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_n int := coalesce(cardinality(p_addresses), 0);
	v_addr text[];
	v_id bigint[];
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
	SELECT array_agg(u.address ORDER BY u.id), array_agg(u.id ORDER BY u.id)
	INTO v_addr, v_id
	FROM (SELECT x.id, x.address FROM users x
	      WHERE x.address = ANY (ARRAY(SELECT kr_addr(a)
					   FROM unnest(p_addresses) a))
	      ORDER BY x.id FOR NO KEY UPDATE) u;
	FOR i IN 1 .. v_n LOOP
		r_user[i] := v_id[array_position(v_addr, kr_addr(p_addresses[i]))];
	END LOOP;

	BEGIN
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
		PERFORM kr_bodies_add(ARRAY(SELECT k FROM generate_series(1, v_n) k
					    WHERE r_status[k] = 'ok'),
				      p_hashes, p_bodies, p_zlib, p_raw_sizes);
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

-- An appended message is all body (empty prefix): it dedups with any
-- delivered message of the same body.
CREATE OR REPLACE FUNCTION kr_append(p_user_id bigint, p_mailbox_id bigint,
	p_hash bytea, p_body bytea, p_zlib bool, p_raw_size int, p_meta jsonb,
	p_flags text[])
RETURNS TABLE (status text, uid bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	s record;
BEGIN
	PERFORM 1 FROM users u WHERE u.id = p_user_id FOR NO KEY UPDATE;
	IF FOUND THEN
		PERFORM 1 FROM mailboxes m
		WHERE m.id = p_mailbox_id AND m.user_id = p_user_id;
	END IF;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::bigint;
		RETURN;
	END IF;
	SELECT * INTO s FROM kr_store_one(p_user_id, p_mailbox_id, NULL,
		p_raw_size, kr_flags_norm(p_flags), p_hash, '', p_meta);
	IF s.o_status = 'ok' THEN
		PERFORM kr_bodies_add(ARRAY[1], ARRAY[p_hash], ARRAY[p_body],
				      ARRAY[p_zlib], ARRAY[p_raw_size]);
	END IF;
	RETURN QUERY SELECT s.o_status, s.o_uid;
END
$$;

