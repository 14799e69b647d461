-- kurier mail store, part 4: password versions (a password change ends
-- the sessions issued before it).
-- A session token carries the user's password version as it was at
-- login (server/token.h); every password change bumps the version, and
-- the session check refuses a token whose version is no longer the
-- user's. Users start at 0, imported ones too; version 1 tokens (issued
-- before this file) are read as version 0, so they last until the
-- user's next password change.
-- Re-appliable: IF NOT EXISTS for the schema, CREATE OR REPLACE for the
-- functions and the trigger (conventions of 002_store_core.sql). It
-- adds functions and never replaces one of an earlier file, so the
-- earlier files still re-apply over it.

ALTER TABLE users ADD COLUMN IF NOT EXISTS password_version integer
	NOT NULL DEFAULT 0
	CONSTRAINT users_password_version_nonneg
		CHECK (password_version >= 0);

---------------------------------------------------------------------------
-- The bump: a trigger, so that every way of setting a password counts
-- (kr_user_set_password, which `kurier user passwd` calls, and an
-- operator's own UPDATE alike). Setting the very same hash string again
-- is no change; a new password, or the same one hashed again (a new
-- salt), is. After 2^31 - 1 changes the version wraps to 1, not 0: no
-- token lives long enough to see the same version come round.
---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION kr_password_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.password_version := CASE
		WHEN OLD.password_version >= 2147483647 THEN 1
		ELSE OLD.password_version + 1 END;
	RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER users_password_version
	BEFORE UPDATE OF password_hash ON users
	FOR EACH ROW
	WHEN (NEW.password_hash IS DISTINCT FROM OLD.password_hash)
	EXECUTE FUNCTION kr_password_version_bump();

---------------------------------------------------------------------------
-- Login and session check
---------------------------------------------------------------------------

-- What auth.login needs in one row: 'ok' with the id, the stored hash
-- and the password version read together (a password change between
-- two reads cannot pair the old hash with the new version), or
-- 'not_found'.
CREATE OR REPLACE FUNCTION kr_user_auth(p_address text)
RETURNS TABLE (status text, user_id bigint, password_hash text,
	password_version integer)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN u.id IS NULL THEN 'not_found' ELSE 'ok' END,
	       u.id, u.password_hash, u.password_version
	FROM (SELECT 1) one
	LEFT JOIN users u ON u.address = kr_addr(p_address)
$$;

-- kr_session_check (004_sessions.sql) with the token's password
-- version: revoked is true when the sid is listed OR the user's
-- password version is no longer p_password_version (the password
-- changed after the token was issued). password_version is the user's
-- current one. 'invalid' also for a NULL or negative version. The
-- two-argument form stays for kurierd binaries of before this file.
CREATE OR REPLACE FUNCTION kr_session_check(p_user_id bigint, p_sid text,
	p_password_version integer)
RETURNS TABLE (status text, address text, revoked bool,
	password_version integer)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN kr_sid(p_sid) IS NULL
		      OR coalesce(p_password_version, -1) < 0 THEN 'invalid'
		    WHEN u.id IS NULL THEN 'not_found' ELSE 'ok' END,
	       u.address,
	       u.password_version IS DISTINCT FROM p_password_version
	       OR EXISTS (SELECT 1 FROM revoked_sessions r
			  WHERE r.sid = kr_sid(p_sid)),
	       u.password_version
	FROM (SELECT 1) one
	LEFT JOIN users u ON u.id = p_user_id
$$;
