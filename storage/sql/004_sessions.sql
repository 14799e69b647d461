-- kurier mail store, part 3: revoked API sessions (auth.logout).
-- Session tokens are stateless (server/token.h); a token stays valid
-- until its expiry unless its session id (sid, 16 random bytes, 32
-- lower-case hex digits on the wire) is listed here. Every
-- authenticated request asks kr_session_check on the user's shard, so
-- a revocation written to that shard is seen by every worker and every
-- host (on replicas once they have replayed it).
-- Re-appliable: IF NOT EXISTS for the schema, CREATE OR REPLACE for the
-- functions (conventions of 002_store_core.sql).
--
-- Lock order: the users row (FOR KEY SHARE: it does not wait for
-- deliveries, which take FOR NO KEY UPDATE), then one revoked_sessions
-- row (the upsert); the purge waits for nothing (SKIP LOCKED).

-- A row is a revocation; it can go once the token has expired anyway
-- (kr_session_revoke purges). Deleting the user deletes his rows.
CREATE TABLE IF NOT EXISTS revoked_sessions (
	sid bytea PRIMARY KEY
		CONSTRAINT revoked_sessions_sid_len CHECK (octet_length(sid) = 16),
	user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	expires_at timestamptz NOT NULL,	-- the token's expiry
	revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS revoked_sessions_expires
	ON revoked_sessions (expires_at);
-- For the ON DELETE CASCADE of users.
CREATE INDEX IF NOT EXISTS revoked_sessions_user
	ON revoked_sessions (user_id);

---------------------------------------------------------------------------
-- Internal helpers: not in the contract, the C side never calls them.
---------------------------------------------------------------------------

-- The sid's bytes, NULL unless p is exactly 32 lower-case hex digits
-- (the form server/token.h prints; the C side checks it too).
CREATE OR REPLACE FUNCTION kr_sid(p text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN (p COLLATE "C") ~ '^[0-9a-f]{32}$'
		    THEN decode(p, 'hex') END
$$;

---------------------------------------------------------------------------
-- Sessions
---------------------------------------------------------------------------

-- Once per authenticated request: one row, status 'ok' with the user's
-- address and whether the sid is revoked; 'not_found' when the user is
-- gone (his sessions die with him); 'invalid' for a malformed sid. A
-- listed sid counts as revoked whatever its expires_at: the token's
-- own expiry is checked by the caller.
CREATE OR REPLACE FUNCTION kr_session_check(p_user_id bigint, p_sid text)
RETURNS TABLE (status text, address text, revoked bool)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN kr_sid(p_sid) IS NULL THEN 'invalid'
		    WHEN u.id IS NULL THEN 'not_found' ELSE 'ok' END,
	       u.address,
	       EXISTS (SELECT 1 FROM revoked_sessions r
		       WHERE r.sid = kr_sid(p_sid))
	FROM (SELECT 1) one
	LEFT JOIN users u ON u.id = p_user_id
$$;

-- Lists p_sid as revoked until p_expires (Unix seconds); revoking again
-- is 'ok' and keeps the later expiry. Then deletes at most 100 rows of
-- other sessions that expired more than 5 minutes ago: every logout
-- sweeps a little, so the table holds about the sessions revoked
-- within one token lifetime and no job is needed. The 5 minutes: hosts
-- check expiry by their own clocks, which may run behind the
-- database's; a row must outlive the token on every one of them.
-- 'not_found' when the user does not exist, 'invalid' for a malformed
-- sid or an expiry outside 1 .. 9999-12-31 23:59:59 UTC.
CREATE OR REPLACE FUNCTION kr_session_revoke(p_user_id bigint, p_sid text,
	p_expires bigint)
RETURNS TABLE (status text)
LANGUAGE plpgsql AS $$
DECLARE
	v_sid bytea := kr_sid(p_sid);
BEGIN
	IF v_sid IS NULL OR p_expires IS NULL
	   OR p_expires NOT BETWEEN 1 AND 253402300799 THEN
		RETURN QUERY SELECT 'invalid'::text;
		RETURN;
	END IF;
	PERFORM 1 FROM users u WHERE u.id = p_user_id FOR KEY SHARE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'not_found'::text;
		RETURN;
	END IF;
	-- The upsert before the purge: this transaction waits for a row
	-- lock only while it holds no other (deadlock freedom), and the
	-- purge leaves this sid alone even when its expiry has passed.
	INSERT INTO revoked_sessions AS r (sid, user_id, expires_at)
	VALUES (v_sid, p_user_id, to_timestamp(p_expires))
	ON CONFLICT (sid) DO UPDATE
	SET expires_at = greatest(r.expires_at, excluded.expires_at);
	DELETE FROM revoked_sessions r
	WHERE r.sid = ANY (ARRAY(
		SELECT x.sid FROM revoked_sessions x
		WHERE x.expires_at < now() - interval '5 minutes'
		  AND x.sid <> v_sid
		ORDER BY x.expires_at
		LIMIT 100
		FOR UPDATE SKIP LOCKED));
	RETURN QUERY SELECT 'ok'::text;
END
$$;
