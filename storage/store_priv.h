/* Shared plumbing of the store's files (store.c: operations and their
 * life cycle; store_result.c: reading PGresults; store_pack.c: bodies
 * and metadata; store_deliver.c: deliveries; store_batch.c: group
 * commit). Not for other modules.
 *
 * An operation is a struct kr_store_op embedded first in a per-kind
 * struct. Its life: begin -> (query | pool job)* -> answered or
 * cancelled ("done") -> freed. A pool job already running keeps the
 * memory alive after done; the job's completion frees it. */
#ifndef KR_STORE_PRIV_H
#define KR_STORE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/deadline.h"
#include "lib/err.h"
#include "lib/tpool.h"
#include "storage/connmgr.h"
#include "storage/store.h"

struct event;
struct kr_store_shardq; /* store_batch.c */

struct kr_store {
	struct event_base *base;
	struct kr_connmgr *mgr;
	const struct kr_shardmap *map;
	struct kr_tpool *cpu;
	struct kr_genmap *gens; /* NULL: no caches to tell */
	const struct kr_config *cfg;
	struct kr_log *log;
	unsigned n_shards;
	struct kr_store_op *ops; /* outstanding, for destroy */
	struct kr_store_shardq *queues;
	struct kr_store_stats stats;
	struct kr_metrics_slot *slot;	    /* NULL: no metrics */
	const struct kr_store_metrics *ids; /* with slot */
	bool destroying;
};

/* Reads a successful result into op->res (in op->arena): 0 answered
 * with res, 1 more work was started (a pool job) that answers later,
 * -1 + err_r answered with the error. */
typedef int kr_store_parse_fn(struct kr_store_op *op, const PGresult *res,
			      struct kr_err *err_r);
/* Calls the typed callback: (ctx, err ? NULL : op->res, err). */
typedef void kr_store_answer_fn(struct kr_store_op *op,
				const struct kr_err *err);
/* After a pool job: status as kr_tpool_done_fn's. The op is live. */
typedef void kr_store_job_done_fn(struct kr_store_op *op, int status);
typedef void kr_store_hook_fn(struct kr_store_op *op);

struct kr_store_op_class {
	const char *name;
	kr_store_parse_fn *parse; /* NULL: success carries no result */
	kr_store_answer_fn *answer;
	kr_store_job_done_fn *job_done; /* ops that use the cpu pool */
	/* When the op is done (answered or cancelled): leave queues and
	 * stop timers. Optional. */
	kr_store_hook_fn *detach;
	/* When the memory goes: free what the op owns. Optional. */
	kr_store_hook_fn *cleanup;
	/* A write: it may send KR_CONNMGR_WRITE queries, and its success
	 * bumps the generation of the user kr_store_op_writes named (at
	 * begin, or in parse when only the result says), before cb. */
	bool writes;
	/* A write of something no cache holds (the Bayes statistic): it
	 * may send KR_CONNMGR_WRITE queries and bumps nothing. */
	bool writes_uncached;
};

struct kr_store_op {
	const struct kr_store_op_class *cls;
	struct kr_store *store;
	struct kr_store_op *prev, *next;
	struct kr_arena *arena; /* the caller's; NULL for done-only ops */
	struct kr_deadline deadline;
	void *ctx;
	void *res;
	struct kr_connmgr_req *req;
	struct event *defer; /* a deferred answer */
	struct kr_err err;   /* what the deferred answer says */
	bool deferred_err;
	bool job_running; /* a pool job holds the memory */
	bool done;
	bool wrote_set; /* cls->writes: whom it writes is known */
	unsigned wrote_shard;
	int64_t wrote_user;
};

/* Allocates a zeroed op of `size` bytes (>= sizeof(struct kr_store_op))
 * and links it into the store. */
void *kr_store_op_new(struct kr_store *store,
		      const struct kr_store_op_class *cls, size_t size,
		      struct kr_arena *arena, struct kr_deadline deadline,
		      void *ctx);
/* Sends q (SELECT * FROM kr_x(...)); every text parameter must be
 * UTF-8 (else KR_ERR_PERMANENT without sending). The answer goes
 * through cls->parse; a refusal is answered from a later loop turn. A
 * READ answered negatively by a replica (no rows, status not_found or
 * no_user, revoked) is asked again of the primary first (SPEC.md §4). */
void kr_store_op_query(struct kr_store_op *op, unsigned shard,
		       enum kr_connmgr_mode mode, const char *user,
		       const struct kr_pgquery *q);
/* Runs work(op) through kr_tpool_cpu_if(size); cls->job_done follows.
 * The work touches only memory the op owns, never the arena. -1 +
 * err_r when the pool refuses. */
int kr_store_op_job(struct kr_store_op *op, size_t size, kr_tpool_work_fn *work,
		    struct kr_err *err_r);
/* Answers from a later loop turn: with err (copied), or NULL for
 * success with op->res. For begin paths, which must not call back. */
void kr_store_op_defer(struct kr_store_op *op, const struct kr_err *err);
void kr_store_op_fail(struct kr_store_op *op, enum kr_err_kind kind,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Answers now (from loop callbacks only), then releases the op. A
 * success of a cls->writes op bumps the written user's generation
 * first. */
void kr_store_op_answer(struct kr_store_op *op, const struct kr_err *err);
/* The user a cls->writes op writes (its shard and id). */
void kr_store_op_writes(struct kr_store_op *op, unsigned shard,
			int64_t user_id);
/* A write of the user committed: every worker's cached reads of that
 * user go stale (lib/genmap.h). The one place the store bumps. */
void kr_store_wrote(struct kr_store *store, unsigned shard, int64_t user_id);

/* The shard of an address (lower-cased already); -1 + err_r. */
int kr_store_shard(const struct kr_store *store, const char *address,
		   struct kr_err *err_r);
/* Decimal text of v in buf (24 bytes); returns buf. */
const char *kr_store_i64(char *buf, int64_t v);
/* STORE_SQL.md status -> 0 for "ok", else -1 + the mapped err_r. */
int kr_store_status(const char *status, struct kr_err *err_r);
/* -1 + KR_ERR_PERMANENT unless every flag is an IMAP atom (store.h). */
int kr_store_flags_check(const char *const *flags, unsigned n,
			 struct kr_err *err_r);

/* ---- store_user.c: the user calls, shared with store_admin.c ---- */

/* The user calls both the asynchronous store and the blocking admin
 * part make: each call's statement, parameters and checks
 * (kr_store_user_query) and the reading of its answer
 * (kr_store_user_read_*) are written once, in store_user.c. */
enum kr_store_user_call {
	KR_STORE_USER_GET,
	KR_STORE_USER_AUTH,
	KR_STORE_USER_CREATE,
	KR_STORE_USER_DELETE,
	KR_STORE_USER_SET_PASSWORD,
	KR_STORE_USER_SET_QUOTA,
};
struct kr_store_user_args {
	const char *address;	   /* checked and lower-cased (lib/address.h) */
	const char *password_hash; /* create, set_password */
	int64_t quota_bytes;	   /* create, set_quota */
	/* Filled by kr_store_user_query: the query points into them. */
	char quota[24];
	const char *values[3];
};
/* Points q_r at call's statement with a's values (q_r borrows a). -1 +
 * KR_ERR_PERMANENT for an empty password hash or a negative quota. */
int kr_store_user_query(enum kr_store_user_call call,
			struct kr_store_user_args *a, struct kr_pgquery *q_r,
			struct kr_err *err_r);
/* The answer of create, delete, set_password and set_quota: 0 and the
 * user's id for "ok", else -1 + the status's kind (KR_ERR_NOT_FOUND: no
 * such user; KR_ERR_CONFLICT: create of an address that exists). */
int kr_store_user_read_status(const PGresult *res, int64_t *id_r,
			      struct kr_err *err_r);

/* ---- store_result.c ---------------------------------------------- */

/* Column numbers of names in res; -1 + KR_ERR_INTERNAL when one is
 * missing (the SQL contract changed). */
int kr_store_result_cols(const PGresult *res, const char *const *names,
			 unsigned n, int *cols_r, struct kr_err *err_r);
/* 0 when the row's `status` column is "ok", else -1 + mapped err_r. */
int kr_store_result_status(const PGresult *res, int row, int col,
			   struct kr_err *err_r);
bool kr_store_result_null(const PGresult *res, int row, int col);
/* 0 for NULL. */
int64_t kr_store_result_i64(const PGresult *res, int row, int col);
bool kr_store_result_bool(const PGresult *res, int row, int col);
/* Copies into the arena; NULL value -> *s_r = NULL. */
int kr_store_result_str(const PGresult *res, int row, int col,
			struct kr_arena *arena, const char **s_r,
			struct kr_err *err_r);
/* A timestamptz as Unix seconds; *has_r false for NULL or infinity. */
void kr_store_result_time(const PGresult *res, int row, int col, bool *has_r,
			  int64_t *t_r);
/* text[] -> strings in the arena. */
int kr_store_result_flags(const PGresult *res, int row, int col,
			  struct kr_arena *arena, const char *const **flags_r,
			  unsigned *n_r, struct kr_err *err_r);
/* jsonb [{name, email}] -> the API's JSON text of the list, in the
 * arena ("[]" for SQL NULL): storage/addrlist.h's pass-through, else
 * decoded and written by jansson in the same shape. */
int kr_store_result_addrs_json(const PGresult *res, int row, int col,
			       struct kr_arena *arena, const char **json_r,
			       size_t *len_r, struct kr_err *err_r);
/* jsonb [{part, filename, type, size}] -> attachments in the arena. */
int kr_store_result_attachments(const PGresult *res, int row, int col,
				struct kr_arena *arena,
				const struct kr_store_attachment **att_r,
				unsigned *n_r, struct kr_err *err_r);
/* One kr_msg_list/kr_msg_search row (see store_result.c for columns). */
int kr_store_result_summary(const PGresult *res, int row, const int *cols,
			    struct kr_arena *arena,
			    struct kr_store_message_summary *m_r,
			    struct kr_err *err_r);
extern const char *const kr_store_result_summary_cols[];
#define KR_STORE_RESULT_SUMMARY_COLS 10

/* ---- store_pack.c ------------------------------------------------ */

/* A body ready to send: its hash and the bytes to store (zdata when
 * compression paid off, else the raw body). A stored message is a
 * per-message prefix (messages.prefix) + a body shared by every message
 * with the same hash, so only the body is hashed and compressed. */
struct kr_store_packed {
	unsigned char hash[32]; /* SHA-256 of the raw body */
	unsigned char *zdata;	/* malloc'd; NULL: stored raw */
	size_t zlen;
	size_t raw_size; /* of the body */
	bool failed;	 /* hashing failed: do not store */
};

bool kr_store_pack_utf8(const char *s, size_t len);
/* Any thread. Hashes and compresses the body. */
void kr_store_pack_body(const void *body, size_t body_len,
			struct kr_store_packed *out);
void kr_store_pack_free(struct kr_store_packed *p);
/* kr_store_body_pack's: the packed body and, when it is stored raw
 * (compression did not pay), a copy of it made on the packing thread. */
struct kr_store_body {
	struct kr_store_packed packed;
	unsigned char *raw;
};
/* The meta jsonb text (malloc'd, NUL-terminated), at most
 * KR_STORE_META_MAX bytes. NULL meta -> "{}". Metadata too large for
 * that is cut, never refused: attachment entries dropped from the end,
 * long strings and address lists shortened, the search text shortened
 * or left out, and "truncated": true added. Returns true when cut. */
bool kr_store_pack_meta(const struct kr_store_meta *meta, char **json_r,
			size_t *len_r);
/* Any thread. The stored message: the prefix (a bytea in hex text
 * form; NULL: empty) followed by the body (hex text, inflated when
 * zlib; exactly raw_size bytes must come out). *raw_r is malloc'd with
 * one extra NUL byte, *len_r its length without it. -1 for corrupt
 * data or more than KR_STORE_MESSAGE_MAX bytes. */
int kr_store_pack_unpack(const char *prefix_hex, const char *hex, bool zlib,
			 size_t raw_size, unsigned char **raw_r, size_t *len_r);

/* ---- delivery (store_deliver.c, store_batch.c) ---------------- */

/* A recipient's stored message moves PACKING (the delivery's body is
 * being hashed and compressed) -> QUEUED -> SENT -> ANSWERED, or
 * straight to ANSWERED when refused early. */
enum kr_store_item_stage {
	KR_STORE_ITEM_ANSWERED,
	KR_STORE_ITEM_PACKING,
	KR_STORE_ITEM_QUEUED,
	KR_STORE_ITEM_SENT,
};

struct kr_store_deliver_op;
struct kr_store_batch; /* store_batch.c */

struct kr_store_item {
	struct kr_store_deliver_op *d;
	unsigned idx;
	enum kr_store_item_stage stage;
	bool answered; /* its result is written */
	bool pack;     /* set at begin: it waits for the packed body */
	unsigned shard;
	char *address;
	int64_t user_id;       /* the RCPT look-up's; 0: none */
	char *folder;	       /* NULL: INBOX */
	unsigned char *prefix; /* this recipient's header lines */
	size_t prefix_len;
	struct kr_store_item *qprev, *qnext;
	int64_t queued_us; /* monotonic, when QUEUED */
	bool hold;	   /* may wait storage.group_commit_wait for others */
	struct kr_store_batch *batch;
	unsigned slot;
};

struct kr_store_deliver_op {
	struct kr_store_op op;
	kr_store_deliver_fn *cb;
	/* Both in the arena: they outlive the op. */
	struct kr_store_deliver_result *result;
	struct kr_store_rcpt_result *rcpts;
	unsigned char *body;
	size_t body_len;
	/* The body hashed and compressed once for every recipient; only
	 * the pool job touches it while it runs. */
	struct kr_store_packed packed;
	bool prepacked; /* packed (and body, when raw) came with the call */
	char *meta;
	size_t meta_len;
	char *flags; /* space-separated */
	struct kr_store_item *items;
	unsigned n;
	unsigned left; /* items without a result */
	struct event *timer;
};

/* The item's outcome is known; the delivery is answered (from a later
 * loop turn) once its last item is. */
void kr_store_deliver_item_answer(struct kr_store_item *it,
				  const struct kr_err *err, int64_t user_id,
				  int64_t mailbox_id, int64_t uid);
void kr_store_deliver_item_fail(struct kr_store_item *it, enum kr_err_kind kind,
				const char *msg);
/* The packed body an item sends (its delivery's). */
const struct kr_store_packed *
kr_store_deliver_packed(const struct kr_store_item *it);

/* store_batch.c: the shard queues and their batches. */
void kr_store_batch_init(struct kr_store *store);
/* After every delivery was answered: drops the batches in flight. */
void kr_store_batch_deinit(struct kr_store *store);
/* Takes a queue place on the shard for a PACKING item; -1 when the
 * shard has KR_STORE_QUEUE_FACTOR * group_commit_max already. */
int kr_store_batch_reserve(struct kr_store *store, unsigned shard);
void kr_store_batch_unreserve(struct kr_store *store, unsigned shard);
/* PACKING -> QUEUED (keeps its place until it is sent). */
void kr_store_batch_enqueue(struct kr_store *store, struct kr_store_item *it);
/* Sends what waits on the shard while batches may be in flight. */
void kr_store_batch_kick(struct kr_store *store, unsigned shard);
/* The item's delivery is done: leave the queue or the batch. */
void kr_store_batch_leave(struct kr_store *store, struct kr_store_item *it);

#endif
