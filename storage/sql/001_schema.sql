-- kurier mail store, schema version 1 (one shard).
-- Applied once per node by the migration runner (storage/migrate.c),
-- inside its transaction; kr_migrations itself belongs to the runner.
-- The functions that read and write these tables are in 002_store.sql:
-- every change goes through them (STORE_SQL.md).
--
-- Lock order used by every function, to keep deadlocks out: users rows
-- (in id order), then mailboxes rows (in id order), then bodies rows (in
-- hash order). The users row lock serialises all writers of one user, so
-- its counters, UIDs and modseq stay exact under concurrency.

-- Addresses compare byte-wise (COLLATE "C"): lower() then folds ASCII
-- only, like the C side that hashes addresses to shards, and paging by
-- address is the same on every node whatever its locale.
CREATE TABLE IF NOT EXISTS users (
	id bigserial PRIMARY KEY,
	address text COLLATE "C" NOT NULL UNIQUE,
	password_hash text NOT NULL,
	quota_bytes bigint NOT NULL DEFAULT 0,	-- 0 = unlimited
	used_bytes bigint NOT NULL DEFAULT 0,	-- sum of messages.size
	messages bigint NOT NULL DEFAULT 0,
	modseq bigint NOT NULL DEFAULT 1,	-- bumped by every change
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT users_address_lower CHECK (address = lower(address)),
	CONSTRAINT users_address_nonempty CHECK (address <> ''),
	CONSTRAINT users_quota_nonneg CHECK (quota_bytes >= 0)
);

CREATE TABLE IF NOT EXISTS mailboxes (
	id bigserial PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name text NOT NULL,
	role text NULL CONSTRAINT mailboxes_role_known
		CHECK (role IN ('inbox', 'sent', 'drafts', 'trash', 'junk')),
	-- Epoch seconds at creation plus the id: a name deleted and created
	-- again always gets a larger value (RFC 3501 2.3.1.1).
	uidvalidity bigint NOT NULL,
	uidnext bigint NOT NULL DEFAULT 1,
	highest_modseq bigint NOT NULL DEFAULT 1,
	modseq bigint NOT NULL,	-- last change to the row or its counters
	total int NOT NULL DEFAULT 0,
	unseen int NOT NULL DEFAULT 0,
	size bigint NOT NULL DEFAULT 0,
	UNIQUE (user_id, name)
);
-- One mailbox per role and user; delivery falls back to role 'inbox'.
CREATE UNIQUE INDEX IF NOT EXISTS mailboxes_user_role
	ON mailboxes (user_id, role) WHERE role IS NOT NULL;

-- Identical bodies are stored once per shard; refs counts the messages
-- (of any user) that point at a body. A body is the message as received,
-- without the header lines delivery puts in front of it for each
-- recipient (Return-Path, Delivered-To: messages.prefix), so one message
-- to many users of a shard is one body. The C side compresses (zlib), so
-- PostgreSQL must not try again: storage EXTERNAL.
CREATE TABLE IF NOT EXISTS bodies (
	hash bytea PRIMARY KEY,	-- sha256 of the raw (uncompressed) body
	refs int NOT NULL CONSTRAINT bodies_refs_pos CHECK (refs > 0),
	raw_size int NOT NULL,	-- of the body, uncompressed
	zlib bool NOT NULL,
	data bytea NOT NULL
);
ALTER TABLE bodies ALTER COLUMN data SET STORAGE EXTERNAL;

-- Everything a listing needs lives here, so listing never reads bodies.
-- No foreign key to bodies: bodies are upserted after the messages of a
-- delivery batch, in hash order (see kr_deliver_batch).
-- The stored RFC 5322 message is prefix || body: prefix holds this
-- message's own header lines (raw bytes, usually a few hundred), the
-- body is shared.
CREATE TABLE IF NOT EXISTS messages (
	mailbox_id bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	uid bigint NOT NULL,
	user_id bigint NOT NULL,
	body_hash bytea NOT NULL,
	prefix bytea NOT NULL DEFAULT '',
	size int NOT NULL,	-- of prefix || body: what quota and listing count
	flags text[] NOT NULL DEFAULT '{}',
	modseq bigint NOT NULL,
	internal_date timestamptz NOT NULL DEFAULT now(),
	date timestamptz,
	from_name text,
	from_email text,
	to_list jsonb,		-- [{name, email}]
	cc_list jsonb,
	subject text,
	message_id text,
	in_reply_to text,
	refs text,
	preview text,
	has_attachments bool NOT NULL DEFAULT false,
	attachments jsonb,	-- [{part, filename, type, size}]
	search tsvector,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX IF NOT EXISTS messages_user_modseq ON messages (user_id, modseq);
CREATE INDEX IF NOT EXISTS messages_search ON messages USING gin (search);

-- Tombstones for changes since a modseq (kr_changes).
CREATE TABLE IF NOT EXISTS expunged (
	user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	mailbox_id bigint NOT NULL,
	uid bigint NOT NULL,
	modseq bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS expunged_user_modseq ON expunged (user_id, modseq);

CREATE TABLE IF NOT EXISTS mailbox_gone (
	user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	mailbox_id bigint NOT NULL,
	modseq bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_gone_user_modseq
	ON mailbox_gone (user_id, modseq);
