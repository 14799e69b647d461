/* The mail store's blocking administration part, for the `kurier` CLI:
 * the user calls of the SQL contract (STORE_SQL) over blocking libpq,
 * one connection per shard primary (target_session_attrs=read-write),
 * opened on first use once the node's migrations are applied
 * (storage/migrate.h), and a probe of any node. The statements and the
 * reading of their answers are the asynchronous store's (store_user.c):
 * each SQL call is written once. It blocks, so never on a worker's
 * loop; one thread per kr_store_admin, kr_store_admin_probe any.
 *
 * Errors of the user calls: an address that is not one
 * (lib/address.h) -> KR_ERR_PERMANENT with the reason; no shards ->
 * KR_ERR_PERMANENT "no [shard.N] in <config>"; the node cannot be
 * reached or migrated -> KR_ERR_TEMPORARY (or the migration's kind),
 * naming the shard or node; a statement PostgreSQL refused ->
 * "query failed: <its message's first line>"; the outcomes as the
 * asynchronous store's: KR_ERR_CONFLICT the address exists,
 * KR_ERR_NOT_FOUND no such user. */
#ifndef KR_STORE_ADMIN_H
#define KR_STORE_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config.h"
#include "lib/err.h"
#include "lib/limits.h"

struct kr_shardmap;
struct kr_store_meta;
struct kr_store_admin;

/* cfg and map are borrowed and must outlive the admin. Every
 * statement it runs gets statement_timeout_ms (the session's
 * statement_timeout). Connects to nothing yet. */
struct kr_store_admin *kr_store_admin_create(const struct kr_config *cfg,
					     const struct kr_shardmap *map,
					     unsigned statement_timeout_ms);
/* Closes the connections; an import batch sent and not collected may
 * have been committed. Sets *adm to NULL (NULL is fine). */
void kr_store_admin_destroy(struct kr_store_admin **adm);

/* ---- users: one call each on the address's shard ------------------ */

/* Each sets *shard_r to the shard the address is placed on (-1 while
 * it is not placed: a bad address, no shards). quota_bytes 0 is
 * unlimited; an empty hash or a negative quota is KR_ERR_PERMANENT. */
int kr_store_admin_user_create(struct kr_store_admin *adm, const char *address,
			       const char *password_hash, int64_t quota_bytes,
			       int *shard_r, struct kr_err *err_r);
int kr_store_admin_user_delete(struct kr_store_admin *adm, const char *address,
			       int *shard_r, struct kr_err *err_r);
/* The new hash ends the user's API sessions (a trigger bumps the
 * password version, storage/sql/005_password_version.sql). */
int kr_store_admin_user_set_password(struct kr_store_admin *adm,
				     const char *address,
				     const char *password_hash, int *shard_r,
				     struct kr_err *err_r);
int kr_store_admin_user_set_quota(struct kr_store_admin *adm,
				  const char *address, int64_t quota_bytes,
				  int *shard_r, struct kr_err *err_r);

struct kr_store_admin_user {
	const char *address; /* borrowed for the callback's duration */
	int64_t quota_bytes; /* 0 = unlimited */
	int64_t used_bytes;
	int64_t messages;
};
typedef void kr_store_admin_user_fn(void *ctx,
				    const struct kr_store_admin_user *user);
/* Every shard's users merged in address order (byte order: addresses
 * are COLLATE "C"), at most limit of them (0: all), one cb each. Each
 * shard is read a page at a time, so memory is shards x page rows. -1
 * + err_r when a shard failed (the users before it were given). */
int kr_store_admin_user_list(struct kr_store_admin *adm, uint64_t limit,
			     kr_store_admin_user_fn *cb, void *ctx,
			     struct kr_err *err_r);

/* ---- one user's mail (store_admin_mail.c) ------------------------- */

/* A user found on its shard: what `kurier user show` prints and what
 * the mail calls below take. */
struct kr_store_admin_account {
	char address[KR_ADDRESS_MAX + 1]; /* lower-cased */
	unsigned shard, bucket;
	int64_t id;
	int64_t quota_bytes; /* 0 = unlimited */
	int64_t used_bytes;
	int64_t messages;
};
/* Reads the user from its shard's primary; -1 + err_r as the user
 * calls (KR_ERR_NOT_FOUND: no such user; *acct_r's address, shard and
 * bucket are filled then). */
int kr_store_admin_account_get(struct kr_store_admin *adm, const char *address,
			       struct kr_store_admin_account *acct_r,
			       struct kr_err *err_r);

struct kr_store_admin_mailbox {
	int64_t id;
	const char *name; /* borrowed for the callback's duration */
	const char *role; /* "inbox", ...; NULL for none */
	int64_t total, unseen, size;
};
typedef void kr_store_admin_mailbox_fn(void *ctx,
				       const struct kr_store_admin_mailbox *mb);
/* The user's mailboxes, INBOX first (kr_mailbox_list's order). */
int kr_store_admin_mailbox_list(struct kr_store_admin *adm,
				const struct kr_store_admin_account *acct,
				kr_store_admin_mailbox_fn *cb, void *ctx,
				struct kr_err *err_r);
/* Creates a mailbox; errors as kr_store_mailbox_create_begin's
 * (KR_ERR_CONFLICT: the name exists). */
int kr_store_admin_mailbox_create(struct kr_store_admin *adm,
				  const struct kr_store_admin_account *acct,
				  const char *name, int64_t *id_r,
				  struct kr_err *err_r);

/* A message stored as the user's own (message.append's kr_append: the
 * whole message is the body, quota checked) with the internal date
 * given, in one transaction. */
struct kr_store_admin_append {
	int64_t mailbox_id;
	const unsigned char *raw;
	size_t raw_len; /* <= KR_STORE_MESSAGE_MAX, else KR_ERR_TOO_LARGE */
	const struct kr_store_meta *meta; /* NULL: none */
	const char *const *flags;	  /* IMAP atoms (store.h) */
	unsigned n_flags;
	int64_t internal_date; /* Unix seconds */
};
/* KR_ERR_QUOTA over quota, KR_ERR_NOT_FOUND no such mailbox. */
int kr_store_admin_append(struct kr_store_admin *adm,
			  const struct kr_store_admin_account *acct,
			  const struct kr_store_admin_append *msg,
			  int64_t *uid_r, struct kr_err *err_r);

/* One stored message: everything borrowed for the callback's
 * duration; raw is the whole message as message.raw gives it (the
 * delivery's prefix + the body), raw[raw_len] a NUL not part of it. */
struct kr_store_admin_message {
	int64_t uid;
	int64_t internal_date; /* Unix seconds */
	const char *const *flags;
	unsigned n_flags;
	const unsigned char *raw;
	size_t raw_len;
};
/* 0 goes on, -1 + err_r stops the walk with that error. */
typedef int kr_store_admin_message_fn(void *ctx,
				      const struct kr_store_admin_message *m,
				      struct kr_err *err_r);
/* The mailbox's messages in uid order, one at a time: memory is one
 * message (and a page of uids). Messages expunged meanwhile are
 * skipped. */
int kr_store_admin_message_each(struct kr_store_admin *adm,
				const struct kr_store_admin_account *acct,
				int64_t mailbox_id,
				kr_store_admin_message_fn *cb, void *ctx,
				struct kr_err *err_r);

/* ---- import: set-based batches per shard --------------------------- */

/* Users kr_user_import answered, added up over the calls collected. */
struct kr_store_admin_import_counts {
	unsigned long long ok;	    /* created */
	unsigned long long existed; /* the address was taken */
};
/* Adds a user with its stored hash (at most KR_PASSWORD_HASH_MAX
 * bytes, as kr_password_stored_ok() takes it) to its shard's batch. A
 * full batch is sent at once without waiting: its answer is read into
 * counts before that shard's next batch, so every shard inserts while
 * the caller reads on. -1 + err_r ("shard N: ...") when a batch could
 * not be sent or an earlier one failed; the shard's users sent before
 * stay imported. */
int kr_store_admin_import_add(struct kr_store_admin *adm, const char *address,
			      const char *password_hash,
			      struct kr_store_admin_import_counts *counts,
			      struct kr_err *err_r);
/* Sends what waits in shard's batch (as a full one is sent). */
int kr_store_admin_import_flush(struct kr_store_admin *adm, unsigned shard,
				struct kr_store_admin_import_counts *counts,
				struct kr_err *err_r);
/* Waits for shard's batch in flight, if any, and counts its answer;
 * -1 + err_r ("shard N: ...") when it failed. */
int kr_store_admin_import_collect(struct kr_store_admin *adm, unsigned shard,
				  struct kr_store_admin_import_counts *counts,
				  struct kr_err *err_r);

/* ---- any node ------------------------------------------------------ */

struct kr_store_admin_probe {
	bool reachable;	   /* it answered SELECT 1 */
	bool in_recovery;  /* a replica (pg_is_in_recovery) */
	bool have_users;   /* the schema exists: users is the count */
	double latency_ms; /* of SELECT 1 */
	int64_t users;
	/* WAL position: a primary's current one, a replica's replayed one
	 * (kurier shard status's lag is the difference). */
	bool have_lsn;
	uint64_t lsn;
	bool replay_paused;	    /* a replica whose replay is paused */
	char error[KR_ERR_MSG_MAX]; /* why not reachable (or a query) */
};
/* Connects to conninfo as it is (any role), within 2 s, and asks it
 * what kr_store_admin_probe holds, each query within 2 s. */
void kr_store_admin_probe(const char *conninfo, struct kr_store_admin_probe *r);

#endif
