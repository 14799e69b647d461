-- kurier mail store, part 5: the per-user Bayes statistic of the
-- antispam bayes module (SPEC.md §5 Training; storage/store_bayes.h).
-- Conventions of 002_store_core.sql. Token hashes are the module's
-- 64-bit hashes as bigint (two's complement). Days are Unix days
-- (seconds / 86400) given by the caller, so tests can age tokens.
--
-- Lock order: learning locks the user's bayes_users row only (never
-- the users row, so it never waits for the user's mail writers or
-- makes them wait); every learn of one user runs after the other.

CREATE TABLE IF NOT EXISTS bayes_users (
	user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	n_spam int NOT NULL DEFAULT 0 CONSTRAINT bayes_users_n_spam
		CHECK (n_spam >= 0),
	n_ham int NOT NULL DEFAULT 0 CONSTRAINT bayes_users_n_ham
		CHECK (n_ham >= 0),
	n_tokens int NOT NULL DEFAULT 0	-- its rows in bayes_tokens
);

-- day: when the token was last learned; the oldest go first.
CREATE TABLE IF NOT EXISTS bayes_tokens (
	user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash bigint NOT NULL,
	spam int NOT NULL DEFAULT 0 CONSTRAINT bayes_tokens_spam
		CHECK (spam >= 0),
	ham int NOT NULL DEFAULT 0 CONSTRAINT bayes_tokens_ham
		CHECK (ham >= 0),
	day int NOT NULL,
	PRIMARY KEY (user_id, hash)
);
CREATE INDEX IF NOT EXISTS bayes_tokens_day ON bayes_tokens (user_id, day);

-- The messages learned and as what (SpamAssassin's bayes_seen): a
-- message learned again the same way changes nothing, learned the
-- other way its first lesson is taken back first. msg is the caller's
-- 64-bit key of the message (a hash of its bytes).
CREATE TABLE IF NOT EXISTS bayes_seen (
	user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	msg bigint NOT NULL,
	spam bool NOT NULL,
	day int NOT NULL,
	PRIMARY KEY (user_id, msg)
);
CREATE INDEX IF NOT EXISTS bayes_seen_day ON bayes_seen (user_id, day);

-- The counts of p_hashes for the user at p_address, in p_hashes' order
-- (0 for unknown tokens), and the messages trained. 'no_user' when
-- there is no such user. One row.
CREATE OR REPLACE FUNCTION kr_bayes_get(p_address text, p_hashes bigint[])
RETURNS TABLE (status text, n_spam int, n_ham int, spam int[], ham int[])
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN u.id IS NULL THEN 'no_user' ELSE 'ok' END,
	       coalesce(b.n_spam, 0), coalesce(b.n_ham, 0),
	       coalesce(t.spam, '{}'), coalesce(t.ham, '{}')
	FROM (SELECT 1) one
	LEFT JOIN users u ON u.address = kr_addr(p_address)
	LEFT JOIN bayes_users b ON b.user_id = u.id
	LEFT JOIN LATERAL (
		SELECT array_agg(coalesce(k.spam, 0) ORDER BY h.ord) AS spam,
		       array_agg(coalesce(k.ham, 0) ORDER BY h.ord) AS ham
		FROM unnest(p_hashes) WITH ORDINALITY h(hash, ord)
		LEFT JOIN bayes_tokens k
			ON k.user_id = u.id AND k.hash = h.hash
		WHERE u.id IS NOT NULL
	) t ON true
$$;

-- Whether moving a message of p_user_id from p_from to p_to teaches
-- 'spam' (into Junk from elsewhere), 'ham' (out of Junk, except into
-- Trash: deleting spam is no sign of ham) or 'none'. Junk is the
-- mailbox of role junk, or one named junk in any case.
CREATE OR REPLACE FUNCTION kr_bayes_move_kind(p_user_id bigint,
	p_from bigint, p_to bigint)
RETURNS TABLE (status text, kind text)
LANGUAGE sql STABLE AS $$
	SELECT 'ok',
	       CASE WHEN f.id IS NULL OR t.id IS NULL THEN 'none'
		    WHEN NOT f.junk AND t.junk THEN 'spam'
		    WHEN f.junk AND NOT t.junk
			 AND t.role IS DISTINCT FROM 'trash' THEN 'ham'
		    ELSE 'none' END
	FROM (SELECT 1) one
	LEFT JOIN (SELECT m.id, m.role,
			  (m.role IS NOT DISTINCT FROM 'junk'
			   OR lower(m.name) = 'junk') AS junk
		   FROM mailboxes m
		   WHERE m.id = p_from AND m.user_id = p_user_id) f ON true
	LEFT JOIN (SELECT m.id, m.role,
			  (m.role IS NOT DISTINCT FROM 'junk'
			   OR lower(m.name) = 'junk') AS junk
		   FROM mailboxes m
		   WHERE m.id = p_to AND m.user_id = p_user_id) t ON true
$$;

-- Learns one message (key p_msg, its distinct token hashes p_hashes)
-- as spam or ham on day p_day, then keeps the user's statistic
-- bounded: tokens not learned for p_age_days days and, past p_max
-- tokens, the least recently learned ones are deleted, at most
-- p_purge rows of each per call. learned: 'learned', 'relearned' (it
-- was learned the other way: that was taken back, counts clamped at
-- 0) or 'already' (the same way: nothing changed).
CREATE OR REPLACE FUNCTION kr_bayes_learn(p_user_id bigint, p_msg bigint,
	p_spam bool, p_hashes bigint[], p_day int, p_max int,
	p_age_days int, p_purge int)
RETURNS TABLE (status text, learned text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_old bool;
	v_learned text := 'learned';
	v_added int;
	v_gone int;
	v_n int;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p_user_id) THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::text;
		RETURN;
	END IF;
	INSERT INTO bayes_users (user_id) VALUES (p_user_id)
	ON CONFLICT (user_id) DO NOTHING;
	PERFORM 1 FROM bayes_users b WHERE b.user_id = p_user_id FOR UPDATE;
	SELECT s.spam INTO v_old FROM bayes_seen s
	WHERE s.user_id = p_user_id AND s.msg = p_msg;
	IF FOUND AND v_old = p_spam THEN
		RETURN QUERY SELECT 'ok'::text, 'already'::text;
		RETURN;
	END IF;
	IF FOUND THEN
		v_learned := 'relearned';
		UPDATE bayes_tokens k
		SET spam = CASE WHEN v_old THEN greatest(k.spam - 1, 0)
				ELSE k.spam END,
		    ham = CASE WHEN v_old THEN k.ham
			       ELSE greatest(k.ham - 1, 0) END
		WHERE k.user_id = p_user_id AND k.hash = ANY (p_hashes);
		UPDATE bayes_users b
		SET n_spam = greatest(b.n_spam - v_old::int, 0),
		    n_ham = greatest(b.n_ham - (NOT v_old)::int, 0)
		WHERE b.user_id = p_user_id;
	END IF;
	-- xmax = 0 on the returned row: inserted, not updated.
	WITH up AS (
		INSERT INTO bayes_tokens AS k (user_id, hash, spam, ham, day)
		SELECT p_user_id, d.h, p_spam::int, (NOT p_spam)::int, p_day
		FROM (SELECT DISTINCT x AS h FROM unnest(p_hashes) x
		      WHERE x IS NOT NULL ORDER BY 1) d
		ON CONFLICT (user_id, hash) DO UPDATE
		SET spam = k.spam + excluded.spam,
		    ham = k.ham + excluded.ham,
		    day = greatest(k.day, excluded.day)
		RETURNING (k.xmax = 0) AS added
	) SELECT count(*) FILTER (WHERE up.added) INTO v_added FROM up;
	INSERT INTO bayes_seen AS s (user_id, msg, spam, day)
	VALUES (p_user_id, p_msg, p_spam, p_day)
	ON CONFLICT (user_id, msg) DO UPDATE
	SET spam = excluded.spam, day = excluded.day;
	UPDATE bayes_users b
	SET n_spam = b.n_spam + p_spam::int,
	    n_ham = b.n_ham + (NOT p_spam)::int,
	    n_tokens = b.n_tokens + v_added
	WHERE b.user_id = p_user_id
	RETURNING b.n_tokens INTO v_n;
	-- Aging, then the bound: oldest first, in bounded batches.
	WITH gone AS (
		DELETE FROM bayes_tokens k
		WHERE k.user_id = p_user_id AND k.hash IN (
			SELECT o.hash FROM bayes_tokens o
			WHERE o.user_id = p_user_id
			  AND o.day < p_day - p_age_days
			ORDER BY o.day LIMIT p_purge)
		RETURNING 1
	) SELECT count(*) INTO v_gone FROM gone;
	v_n := v_n - v_gone;
	IF v_n > p_max THEN
		WITH gone AS (
			DELETE FROM bayes_tokens k
			WHERE k.user_id = p_user_id AND k.hash IN (
				SELECT o.hash FROM bayes_tokens o
				WHERE o.user_id = p_user_id
				ORDER BY o.day, o.hash
				LIMIT least(v_n - p_max, p_purge))
			RETURNING 1
		) SELECT count(*) INTO v_gone FROM gone;
		v_n := v_n - v_gone;
	END IF;
	UPDATE bayes_users b SET n_tokens = greatest(v_n, 0)
	WHERE b.user_id = p_user_id;
	DELETE FROM bayes_seen s
	WHERE s.user_id = p_user_id AND s.msg IN (
		SELECT o.msg FROM bayes_seen o
		WHERE o.user_id = p_user_id AND o.day < p_day - p_age_days
		ORDER BY o.day LIMIT p_purge);
	RETURN QUERY SELECT 'ok'::text, v_learned;
END
$$;
