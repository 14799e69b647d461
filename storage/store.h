/* The mail store (SPEC.md §3.2, §4): every user, mailbox and message
 * operation as one asynchronous call of the shard's SQL contract
 * (STORE_SQL.md), and delivery with group commit. One store per worker,
 * on its loop; it reaches PostgreSQL only through the connection
 * manager and compresses, hashes and inflates bodies on the cpu pool.
 *
 * Every operation: `op = kr_store_<x>_begin(..., deadline, cb, ctx)`.
 * Inputs are borrowed until begin returns (the store copies what it
 * keeps). begin always returns a handle; cb fires exactly once, on the
 * loop, never before begin returns, unless kr_store_cancel() came
 * first. The handle is invalid once cb has been called. Results are
 * allocated in the caller's arena (the request's), so they stay valid
 * as long as that arena; the arena must outlive the operation unless
 * it is cancelled first. Exactly one of res and err is non-NULL.
 *
 * Error kinds: no such user/mailbox/message -> KR_ERR_NOT_FOUND, over
 * quota -> KR_ERR_QUOTA, a message over KR_STORE_MESSAGE_MAX ->
 * KR_ERR_TOO_LARGE, a name that exists -> KR_ERR_CONFLICT ("exists"),
 * a forbidden or invalid request -> KR_ERR_PERMANENT; the connection
 * manager's KR_ERR_TEMPORARY, KR_ERR_TIMEOUT and KR_ERR_OVERLOAD pass
 * through; a full arena is KR_ERR_LIMIT; a statement PostgreSQL
 * refused (a bug or a schema problem) is KR_ERR_INTERNAL, its text for
 * logs only.
 *
 * Reads may be answered by a replica, except a negative answer (no such
 * user, mailbox or message; a revoked session): that one is always the
 * shard primary's (SPEC.md §4), so a lagging replica never turns into a
 * 550 5.1.1 or a failed login. */
#ifndef KR_STORE_H
#define KR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/deadline.h"
#include "lib/err.h"
#include "lib/limits.h"

struct event_base;
struct kr_arena;
struct kr_config;
struct kr_connmgr;
struct kr_genmap;
struct kr_log;
struct kr_shardmap;
struct kr_tpool;

struct kr_store;
struct kr_store_op;

/* The store API's limits (KR_STORE_*, KR_ADDRESS_MAX) are in
 * lib/limits.h. */

/* A user as the message operations address it: which shard, which id.
 * address is the lower-cased address. */
struct kr_store_user {
	const char *address;
	unsigned shard;
	int64_t id;
};

/* Ids from before 012_stable_ids.sql are unique per shard only: this
 * names a user across all shards (ids stay below 2^51, shards below
 * 2^10), for keys of caches and counters. */
static inline uint64_t
kr_store_user_key(unsigned shard, int64_t id)
{
	return ((uint64_t)shard << 52) ^ (uint64_t)id;
}

/* For operations whose success carries nothing. */
typedef void kr_store_done_fn(void *ctx, const struct kr_err *err);

/* Start-up (and reload) check of the config's limits against the
 * store's: [lmtp] rcpt_max <= KR_STORE_RCPTS_MAX, [lmtp] message_max <=
 * KR_STORE_DELIVERY_BODY_MAX, [jsonrpc] body_max <=
 * KR_STORE_RPC_BODY_MAX. -1 + KR_ERR_PERMANENT with "<file>:<line>:
 * [section] key: ..." naming the first key over. Any thread. */
int kr_store_check_config(const struct kr_config *cfg, struct kr_err *err_r);

/* cpu: the worker's cpu pool (owner: the same loop). gens: the
 * per-user write generations every worker's caches check (lib/genmap.h),
 * or NULL (the CLI, tests). Every argument must outlive the store.
 *
 * Cache invalidation happens here, not at call sites: every successful
 * write (a recipient's delivery, append, flags, move, copy, message and
 * mailbox changes, a user's create, delete, password or quota, a session
 * revoke) bumps the generation of the user it wrote (kr_store_user_key)
 * before its callback fires; a delivered recipient's as soon as its
 * batch committed. A write answered with an error, or cancelled, bumps
 * nothing. */
struct kr_store *kr_store_create(struct event_base *base,
				 struct kr_connmgr *mgr,
				 const struct kr_shardmap *map,
				 struct kr_tpool *cpu, struct kr_genmap *gens,
				 const struct kr_config *cfg,
				 struct kr_log *log);
/* Answers every outstanding operation with KR_ERR_TEMPORARY (the
 * callbacks run inside this call and must not begin new operations),
 * then frees; sets *store to NULL. Call before destroying the
 * connection manager or the cpu pool. */
void kr_store_destroy(struct kr_store **store);

/* No callback after this; sets *op to NULL (NULL is fine). A statement
 * already sent still runs on the server: a cancelled write may have
 * happened. */
void kr_store_cancel(struct kr_store_op **op);

/* Figures for tests and the admin side. */
struct kr_store_stats {
	unsigned long long batches;	   /* kr_deliver_batch calls sent */
	unsigned long long batch_messages; /* messages in those calls */
	unsigned long long deliveries;	   /* kr_store_deliver_begin calls */
	unsigned long long shed;	   /* recipients refused: queue full */
	unsigned queued;   /* messages waiting for a batch now */
	unsigned inflight; /* batches in flight now */
};
void kr_store_get_stats(const struct kr_store *store,
			struct kr_store_stats *stats_r);

/* The same figures on /metrics (store_metrics.c): messages per
 * kr_deliver_batch call and each message's wait in its shard's queue,
 * as histograms. Defined by the master before it forks; each worker's
 * store reports into its slot once given it. */
struct kr_metrics;
struct kr_metrics_slot;
struct kr_store_metrics {
	int batch_messages; /* histogram: messages per call */
	int queue_wait;	    /* histogram (us): queued -> sent */
};
/* NULL + err_r when the registry refuses one; free() the result. */
struct kr_store_metrics *kr_store_metrics_define(struct kr_metrics *m,
						 struct kr_err *err_r);
/* From now on the store counts into slot with ids (both outlive it). */
void kr_store_set_metrics(struct kr_store *store, struct kr_metrics_slot *slot,
			  const struct kr_store_metrics *ids);

/* ---- users (store_user.c) ---------------------------------------- */

struct kr_store_user_get_result {
	struct kr_store_user user;
	const char *password_hash;
	int64_t quota_bytes; /* 0 = unlimited */
	int64_t used_bytes;
	int64_t messages;
};
typedef void kr_store_user_get_fn(void *ctx,
				  const struct kr_store_user_get_result *res,
				  const struct kr_err *err);
/* Any case; the address is lower-cased (ASCII) before it is placed. */
struct kr_store_op *
kr_store_user_get_begin(struct kr_store *store, const char *address,
			struct kr_arena *arena, struct kr_deadline deadline,
			kr_store_user_get_fn *cb, void *ctx);

/* What auth.login needs (kr_user_auth, 005_password_version.sql): the
 * user, the stored hash and the password version, read in one row. The
 * version is what the session token carries; every password change
 * bumps it (a trigger), ending the sessions issued before. */
struct kr_store_user_auth_result {
	struct kr_store_user user;
	const char *password_hash;
	uint32_t password_version; /* 0..KR_STORE_PASSWORD_VERSION_MAX */
};
typedef void kr_store_user_auth_fn(void *ctx,
				   const struct kr_store_user_auth_result *res,
				   const struct kr_err *err);
/* Any case, like kr_store_user_get_begin; KR_ERR_NOT_FOUND when there
 * is no such user. A read: it goes to a replica chosen by the balancer
 * (a replica that has not replayed a password change yet answers with
 * the old hash and version, consistently). */
struct kr_store_op *
kr_store_user_auth_begin(struct kr_store *store, const char *address,
			 struct kr_arena *arena, struct kr_deadline deadline,
			 kr_store_user_auth_fn *cb, void *ctx);

struct kr_store_user_create_result {
	struct kr_store_user user;
};
typedef void
kr_store_user_create_fn(void *ctx,
			const struct kr_store_user_create_result *res,
			const struct kr_err *err);
/* Creates the user with INBOX, Sent, Drafts, Trash and Junk.
 * quota_bytes 0 = unlimited. KR_ERR_CONFLICT when the address exists. */
struct kr_store_op *
kr_store_user_create_begin(struct kr_store *store, const char *address,
			   const char *password_hash, int64_t quota_bytes,
			   struct kr_arena *arena, struct kr_deadline deadline,
			   kr_store_user_create_fn *cb, void *ctx);
struct kr_store_op *kr_store_user_delete_begin(struct kr_store *store,
					       const char *address,
					       struct kr_deadline deadline,
					       kr_store_done_fn *cb, void *ctx);
struct kr_store_op *kr_store_user_set_password_begin(
	struct kr_store *store, const char *address, const char *password_hash,
	struct kr_deadline deadline, kr_store_done_fn *cb, void *ctx);
struct kr_store_op *
kr_store_user_set_quota_begin(struct kr_store *store, const char *address,
			      int64_t quota_bytes, struct kr_deadline deadline,
			      kr_store_done_fn *cb, void *ctx);

/* Everything of the user that changed after modseq `since`. */
enum kr_store_change_kind {
	KR_STORE_CHANGE_MAILBOX,	 /* mailbox_id changed */
	KR_STORE_CHANGE_MESSAGE,	 /* mailbox_id/uid: new or new flags */
	KR_STORE_CHANGE_REMOVED,	 /* mailbox_id/uid expunged */
	KR_STORE_CHANGE_MAILBOX_REMOVED, /* mailbox_id deleted */
};
struct kr_store_change {
	enum kr_store_change_kind kind;
	int64_t mailbox_id;
	int64_t uid; /* 0 for the mailbox kinds */
	int64_t modseq;
	const char *const *flags; /* messages only */
	unsigned n_flags;
};
struct kr_store_user_changes_result {
	int64_t modseq; /* the user's current modseq: the next `since` */
	unsigned n;
	const struct kr_store_change *changes;
};
typedef void
kr_store_user_changes_fn(void *ctx,
			 const struct kr_store_user_changes_result *res,
			 const struct kr_err *err);
/* The oldest changes first, at most KR_STORE_CHANGES_MAX (see there);
 * when the answer was cut, modseq is where it stopped: ask again. */
struct kr_store_op *
kr_store_user_changes_begin(struct kr_store *store,
			    const struct kr_store_user *user, int64_t since,
			    struct kr_arena *arena, struct kr_deadline deadline,
			    kr_store_user_changes_fn *cb, void *ctx);

struct kr_store_user_quota_result {
	int64_t used;  /* bytes */
	int64_t quota; /* bytes, 0 = unlimited */
	int64_t messages;
};
typedef void
kr_store_user_quota_fn(void *ctx, const struct kr_store_user_quota_result *res,
		       const struct kr_err *err);
struct kr_store_op *kr_store_user_quota_begin(struct kr_store *store,
					      const struct kr_store_user *user,
					      struct kr_arena *arena,
					      struct kr_deadline deadline,
					      kr_store_user_quota_fn *cb,
					      void *ctx);

/* ---- mailboxes (store_mailbox.c) --------------------------------- */

struct kr_store_mailbox {
	int64_t id;
	const char *name;
	const char *role; /* "inbox", "sent", ...; NULL for none */
	int64_t total, unseen, size;
	int64_t uidvalidity, uidnext;
	int64_t modseq; /* highest modseq */
};
struct kr_store_mailbox_list_result {
	unsigned n;
	const struct kr_store_mailbox *mailboxes; /* INBOX first */
};
typedef void
kr_store_mailbox_list_fn(void *ctx,
			 const struct kr_store_mailbox_list_result *res,
			 const struct kr_err *err);
/* For create and rename: the mailbox as it is now. */
typedef void kr_store_mailbox_fn(void *ctx, const struct kr_store_mailbox *res,
				 const struct kr_err *err);

struct kr_store_op *
kr_store_mailbox_list_begin(struct kr_store *store,
			    const struct kr_store_user *user,
			    struct kr_arena *arena, struct kr_deadline deadline,
			    kr_store_mailbox_list_fn *cb, void *ctx);
/* KR_ERR_CONFLICT when the name exists, KR_ERR_PERMANENT when it is
 * empty, longer than KR_STORE_NAME_MAX, not UTF-8 or has control
 * characters, KR_ERR_QUOTA when the user has KR_STORE_MAILBOXES_MAX
 * mailboxes already (enforced in SQL, exact under concurrent
 * creates). */
struct kr_store_op *kr_store_mailbox_create_begin(
	struct kr_store *store, const struct kr_store_user *user,
	const char *name, struct kr_arena *arena, struct kr_deadline deadline,
	kr_store_mailbox_fn *cb, void *ctx);
/* As create; INBOX cannot be renamed (KR_ERR_PERMANENT). */
struct kr_store_op *kr_store_mailbox_rename_begin(
	struct kr_store *store, const struct kr_store_user *user,
	int64_t mailbox_id, const char *name, struct kr_arena *arena,
	struct kr_deadline deadline, kr_store_mailbox_fn *cb, void *ctx);
/* Deletes the mailbox and its messages; INBOX cannot be deleted. */
struct kr_store_op *
kr_store_mailbox_delete_begin(struct kr_store *store,
			      const struct kr_store_user *user,
			      int64_t mailbox_id, struct kr_deadline deadline,
			      kr_store_done_fn *cb, void *ctx);

/* ---- messages (store_message.c, store_append.c) ------------------ */

struct kr_store_addr {
	const char *name;  /* may be NULL */
	const char *email; /* may be NULL */
};

struct kr_store_attachment {
	const char *part; /* MIME part number, "1.2" */
	const char *filename;
	const char *type;
	int64_t size;
};

/* The parsed metadata stored beside each message (STORE_SQL.md meta
 * jsonb). NULL strings and empty lists are left out. Strings should be
 * UTF-8; invalid bytes are replaced with U+FFFD. Whatever its size, it
 * never fails an append or a delivery: past KR_STORE_META_MAX bytes of
 * JSON it is stored cut (see meta_truncated in the results). */
struct kr_store_meta {
	bool has_date;
	int64_t date; /* Date: header, Unix seconds */
	const char *from_name, *from_email;
	const struct kr_store_addr *to;
	unsigned n_to;
	const struct kr_store_addr *cc;
	unsigned n_cc;
	const char *subject;
	const char *message_id;
	const char *in_reply_to;
	const char *references;
	const char *preview;
	bool has_attachments;
	const struct kr_store_attachment *attachments;
	unsigned n_attachments;
	/* What the full-text index finds the message by: its terms as
	 * proto/fts_terms.h makes them (lower-case, space-separated, each
	 * once); cut at KR_STORE_SEARCH_TEXT_MAX bytes. */
	const char *search_terms;
};

/* One line of a listing or a search. */
struct kr_store_message_summary {
	int64_t mailbox_id;
	int64_t uid;
	const char *subject;
	const char *from_name, *from_email;
	/* The to list as the API shows it, JSON text (NUL-terminated,
	 * to_json_len bytes): [{"name":…,"email":…}, …] with null for a
	 * missing member, [] for none. Passed through from the stored
	 * metadata, not decoded and written again (storage/addrlist.h).
	 * NULL counts as []. */
	const char *to_json;
	size_t to_json_len;
	bool has_date;
	int64_t date; /* Unix seconds */
	int64_t size;
	const char *const *flags;
	unsigned n_flags;
	const char *preview;
	bool has_attachments;
};
struct kr_store_message_list_result {
	int64_t total; /* messages in the mailbox; search: n */
	unsigned n;
	const struct kr_store_message_summary *messages; /* highest uid first */
};
typedef void
kr_store_message_list_fn(void *ctx,
			 const struct kr_store_message_list_result *res,
			 const struct kr_err *err);
/* limit 0 = KR_STORE_LIST_DEFAULT, clamped to 1..KR_STORE_LIST_MAX;
 * before_uid > 0 lists only uids below it (paging). */
struct kr_store_op *kr_store_message_list_begin(
	struct kr_store *store, const struct kr_store_user *user,
	int64_t mailbox_id, unsigned limit, int64_t before_uid,
	struct kr_arena *arena, struct kr_deadline deadline,
	kr_store_message_list_fn *cb, void *ctx);

struct kr_store_search {
	int64_t mailbox_id; /* 0: every mailbox */
	/* Full text: the query's terms (proto/fts_terms.h), every one
	 * must be in the message; "" matches nothing, NULL: any. */
	const char *text;
	const char *from; /* substring of the sender; NULL: any */
	const char *subject;
	bool has_since, has_before;
	int64_t since, before; /* Unix seconds, on the arrival time */
	bool unseen;	       /* only messages without \Seen */
	unsigned limit;	       /* as for listing */
};
/* 0 when query is within the bounds, else -1 + KR_ERR_PERMANENT: text,
 * from and subject at most KR_STORE_SEARCH_FIELD_MAX bytes each, text
 * at most KR_STORE_SEARCH_WORDS_MAX words (runs of letters and digits,
 * every byte of a multi-byte UTF-8 character counting as a letter: at
 * least as many as the full-text parser makes of it). Search begin
 * checks it; the API may check first to answer without a round trip. */
int kr_store_search_check(const struct kr_store_search *query,
			  struct kr_err *err_r);
/* Past kr_store_search_check's bounds: KR_ERR_PERMANENT, nothing sent. */
struct kr_store_op *kr_store_message_search_begin(
	struct kr_store *store, const struct kr_store_user *user,
	const struct kr_store_search *query, struct kr_arena *arena,
	struct kr_deadline deadline, kr_store_message_list_fn *cb, void *ctx);

struct kr_store_message_get_result {
	int64_t mailbox_id, uid;
	const char *subject;
	const char *from_name, *from_email;
	/* to and cc as the API's JSON text (NUL-terminated, *_json_len
	 * bytes), as kr_store_message_summary's to_json: never NULL. */
	const char *to_json, *cc_json;
	size_t to_json_len, cc_json_len;
	bool has_date;
	int64_t date;
	const char *message_id, *in_reply_to, *references;
	const char *const *flags;
	unsigned n_flags;
	int64_t size;
	const struct kr_store_attachment *attachments;
	unsigned n_attachments;
	/* The stored RFC 5322 bytes, inflated; raw[raw_len] is a NUL that
	 * is not part of the message. */
	const unsigned char *raw;
	size_t raw_len;
};
typedef void
kr_store_message_get_fn(void *ctx,
			const struct kr_store_message_get_result *res,
			const struct kr_err *err);
struct kr_store_op *kr_store_message_get_begin(
	struct kr_store *store, const struct kr_store_user *user,
	int64_t mailbox_id, int64_t uid, struct kr_arena *arena,
	struct kr_deadline deadline, kr_store_message_get_fn *cb, void *ctx);

/* IMAP flags: "\Seen" style system flags and keywords, each 1 to
 * KR_STORE_FLAG_LEN_MAX printable ASCII bytes without space, quote,
 * parentheses, braces, '%', '*' or ']' (RFC 3501 atom), a backslash
 * only first. */
struct kr_store_flag_change {
	const int64_t *uids;
	unsigned n_uids; /* 1..KR_STORE_UIDS_MAX */
	const char *const *add;
	unsigned n_add;
	const char *const *remove;
	unsigned n_remove;
};
struct kr_store_message_flags_result {
	int64_t modseq; /* of this change */
};
typedef void
kr_store_message_flags_fn(void *ctx,
			  const struct kr_store_message_flags_result *res,
			  const struct kr_err *err);
struct kr_store_op *kr_store_message_flags_begin(
	struct kr_store *store, const struct kr_store_user *user,
	int64_t mailbox_id, const struct kr_store_flag_change *change,
	struct kr_arena *arena, struct kr_deadline deadline,
	kr_store_message_flags_fn *cb, void *ctx);

struct kr_store_uid_map {
	int64_t old_uid, new_uid;
};
struct kr_store_message_move_result {
	unsigned n; /* uids not in the mailbox are skipped */
	const struct kr_store_uid_map *uids;
};
typedef void
kr_store_message_move_fn(void *ctx,
			 const struct kr_store_message_move_result *res,
			 const struct kr_err *err);
/* KR_ERR_NOT_FOUND when either mailbox is not the user's. */
struct kr_store_op *kr_store_message_move_begin(
	struct kr_store *store, const struct kr_store_user *user,
	int64_t mailbox_id, const int64_t *uids, unsigned n_uids, int64_t to_id,
	struct kr_arena *arena, struct kr_deadline deadline,
	kr_store_message_move_fn *cb, void *ctx);
/* As move; over quota copies nothing (KR_ERR_QUOTA). */
struct kr_store_op *kr_store_message_copy_begin(
	struct kr_store *store, const struct kr_store_user *user,
	int64_t mailbox_id, const int64_t *uids, unsigned n_uids, int64_t to_id,
	struct kr_arena *arena, struct kr_deadline deadline,
	kr_store_message_move_fn *cb, void *ctx);

struct kr_store_message_delete_result {
	int64_t deleted;
};
typedef void
kr_store_message_delete_fn(void *ctx,
			   const struct kr_store_message_delete_result *res,
			   const struct kr_err *err);
/* Expunges: gone for good, quota given back. */
struct kr_store_op *kr_store_message_delete_begin(
	struct kr_store *store, const struct kr_store_user *user,
	int64_t mailbox_id, const int64_t *uids, unsigned n_uids,
	struct kr_arena *arena, struct kr_deadline deadline,
	kr_store_message_delete_fn *cb, void *ctx);

/* A message a user stores himself (drafts, sent mail). */
struct kr_store_append {
	int64_t mailbox_id;
	const unsigned char *raw; /* RFC 5322 bytes */
	size_t raw_len;		  /* <= KR_STORE_MESSAGE_MAX */
	const struct kr_store_meta *meta;
	const char *const *flags;
	unsigned n_flags;
};
struct kr_store_append_result {
	int64_t mailbox_id, uid;
	bool meta_truncated; /* see kr_store_deliver_result */
};
typedef void kr_store_append_fn(void *ctx,
				const struct kr_store_append_result *res,
				const struct kr_err *err);
struct kr_store_op *kr_store_append_begin(struct kr_store *store,
					  const struct kr_store_user *user,
					  const struct kr_store_append *msg,
					  struct kr_arena *arena,
					  struct kr_deadline deadline,
					  kr_store_append_fn *cb, void *ctx);

/* ---- delivery (store_deliver.c) ---------------------------------- */

/* One recipient: the stored message is prefix + body, so per-recipient
 * headers (Delivered-To) cost no copy of the body. The prefix is kept
 * with the recipient's message and the body stored once per shard:
 * recipients on one shard share it whatever their prefixes. */
struct kr_store_rcpt {
	const char *address; /* any case */
	const char *folder;  /* mailbox name (user+detail); NULL: INBOX */
	const char *prefix;  /* header lines ending in CRLF; may be NULL */
	size_t prefix_len;
	/* The user's id as a look-up of address found it (the RCPT's
	 * kr_store_user_get), or 0. With every recipient's id a batch
	 * skips its own look-up; id and address are checked together, so
	 * a stale one costs a temporary error, never a wrong mailbox. */
	int64_t user_id;
};
/* The body hashed and compressed ahead, by whoever already spends a
 * cpu-pool trip on the message (the delivery's MIME parse): any thread,
 * the body is only read. With it the delivery takes no trip and copies
 * no body of its own. */
struct kr_store_body;
struct kr_store_body *kr_store_body_pack(const void *body, size_t body_len);
void kr_store_body_free(struct kr_store_body **bp);

struct kr_store_delivery {
	const unsigned char *body; /* the message as received */
	size_t body_len;
	const struct kr_store_rcpt *rcpts;
	unsigned n_rcpts; /* 1..KR_STORE_RCPTS_MAX */
	const struct kr_store_meta *meta;
	const char *const *flags; /* e.g. none, or "$Junk" */
	unsigned n_flags;
	/* NULL, or kr_store_body_pack(body, body_len): taken over by
	 * kr_store_deliver_begin (freed with the delivery, also on error). */
	struct kr_store_body *packed;
};
/* kind KR_ERR_NONE: committed (durable) in mailbox_id as uid.
 * Otherwise not stored, except KR_ERR_TIMEOUT and KR_ERR_TEMPORARY
 * after the batch was sent, where it may have been: the caller answers
 * 4xx and the sender retries. */
struct kr_store_rcpt_result {
	struct kr_err err;
	int64_t user_id, mailbox_id, uid;
	unsigned shard; /* where the recipient lives (when placed) */
};
struct kr_store_deliver_result {
	unsigned n;
	const struct kr_store_rcpt_result *rcpts; /* in d->rcpts order */
	/* The metadata was over KR_STORE_META_MAX and was stored cut
	 * (attachment entries dropped from the end, long fields and
	 * address lists shortened): the message itself is whole. Worth a
	 * log line; never a reason to refuse (the MTA would retry the
	 * message forever). */
	bool meta_truncated;
};
/* err is set only when nothing was attempted (bad delivery, full
 * arena); otherwise res says per recipient. */
typedef void kr_store_deliver_fn(void *ctx,
				 const struct kr_store_deliver_result *res,
				 const struct kr_err *err);
/* Places each recipient on its shard, hashes and compresses the body
 * once (on the cpu pool when large; not at all when packed) and queues each
 * recipient's message (its prefix + the body) for its shard's group commit:
 * while fewer than storage.group_commit_inflight batches are in flight on a
 * shard its queue is sent at once, otherwise the waiting messages (up to
 * storage.group_commit_max) go out together when a batch returns. On a
 * busy shard (a batch in flight or a message waiting) a message is first
 * held up to storage.group_commit_wait for others to join it. A
 * recipient counts as stored only after its batch's statement
 * returned. cb fires once every shard involved has answered, or at the
 * deadline with what is known by then. */
struct kr_store_op *kr_store_deliver_begin(struct kr_store *store,
					   const struct kr_store_delivery *d,
					   struct kr_arena *arena,
					   struct kr_deadline deadline,
					   kr_store_deliver_fn *cb, void *ctx);

/* ---- sessions (store_session.c) ---------------------------------- */

/* Revocation of the stateless API session tokens (server/auth/token.h):
 * auth.logout lists the token's sid on the user's shard, every
 * authenticated request checks it there. A sid is exactly
 * KR_STORE_SID_LEN lower-case hex digits (kr_token_claims.sid); any
 * other sid, or a shard >= the number of shards, is KR_ERR_PERMANENT
 * before any query. */
#define KR_STORE_SID_LEN 32

struct kr_store_session_result {
	const char *address; /* the user's lower-cased address (arena) */
	/* sid is in the revocation table, or the user's password changed
	 * since the token was issued (its password version is not the
	 * user's): either way the session is over. */
	bool revoked;
	uint32_t password_version; /* the user's now */
	/* The user left this shard for another, keeping his id (a bucket
	 * move; only address and shard are set): check again on shard,
	 * where the current map places address. */
	bool moved;
	unsigned shard;
};
typedef void kr_store_session_fn(void *ctx,
				 const struct kr_store_session_result *res,
				 const struct kr_err *err);
/* One round trip on user's shard: the user's address (the user must
 * still exist: KR_ERR_NOT_FOUND otherwise, or have moved away: then
 * res->moved and the shard to ask instead) and whether the session is
 * revoked: sid is listed (whatever its expiry: the caller checks the
 * token's), or password_version, the token's, is no longer the user's.
 * A password_version above KR_STORE_PASSWORD_VERSION_MAX is
 * KR_ERR_PERMANENT before any query. A read: it goes to a replica
 * chosen by the balancer, except within storage.read_your_writes after
 * a revoke of the same user id by this store (this worker), which is
 * read from the primary. Other workers and hosts see a revocation (or a
 * password change) once the replica they read has replayed it
 * (immediately without replicas). */
struct kr_store_op *kr_store_session_check_begin(
	struct kr_store *store, unsigned shard, int64_t user_id,
	const char *sid, uint32_t password_version, struct kr_arena *arena,
	struct kr_deadline deadline, kr_store_session_fn *cb, void *ctx);
/* Lists sid as revoked until expires_at (Unix seconds, 1 to
 * KR_STORE_SESSION_EXPIRES_MAX, else KR_ERR_PERMANENT); idempotent (the
 * later expiry is kept). The same statement deletes up to 100 rows of
 * the shard whose expires_at passed more than 5 minutes ago (never
 * sid's own), so the table stays small. Uses user->shard and user->id
 * only; KR_ERR_NOT_FOUND when the user no longer exists. */
struct kr_store_op *
kr_store_session_revoke_begin(struct kr_store *store,
			      const struct kr_store_user *user, const char *sid,
			      int64_t expires_at, struct kr_deadline deadline,
			      kr_store_done_fn *cb, void *ctx);

#endif
