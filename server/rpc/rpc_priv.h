/* Inside the JSON-RPC dispatcher: the request and call contexts, and
 * the files of rpc/ in layers, each calling only those below it:
 *
 *   rpc.c          the dispatcher: requests, batches, the session check
 *   rpc_auth.c, rpc_mailbox.c, rpc_message.c, rpc_write.c, rpc_user.c
 *                  the methods (rpc_auth.c also maps server/auth's
 *                  statuses onto JSON-RPC errors)
 *   rpc_params.c   params several methods share (-32602)
 *   rpc_json.c     result shapes built with jansson
 *   rpc_text.c     results written straight to JSON text (listings,
 *                  base64)
 *   rpc_reply.c    answering a call: results charged to the budgets,
 *                  errors by kind (one table), the result cache
 *   rpc_call.c     a call's context, and its end
 *
 * rpc_call_end hands a finished call back to the dispatcher through
 * req->resume, not by name, so no file calls one above it. */
#ifndef KR_RPC_PRIV_H
#define KR_RPC_PRIV_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/deadline.h"
#include "proto/jsonrpc.h"
#include "server/auth/auth.h"
#include "server/auth/client.h"
#include "server/cache/cache.h"
#include "server/rpc/rpc.h"
#include "storage/store.h"

struct kr_tpool_job;
struct rpc_train;

/* Calls of one batch running at once. Each may need up to the
 * request's memory budget before it knows its size (a stored message
 * is fetched before it is charged), so few run together: the budget is
 * then checked by the next call before it spends, not by a hundred at
 * once after. Four keep a batch of small reads about as fast as all at
 * once (each is one round trip to a shard). */
#define RPC_BATCH_PARALLEL 4
/* Levels of a part number: kr_mime_part's walk goes no deeper than the
 * MIME depth limit plus the levels attached messages add (its path
 * buffer has room for depth_max + 3). */
#define RPC_PART_LEVELS 35
#define RPC_STR(x) #x
#define RPC_XSTR(x) RPC_STR(x)

struct kr_rpc {
	struct kr_rpc_deps d;
	struct kr_jsonrpc_limits lim;
	struct kr_auth *auth;	/* sessions and logins */
	struct kr_cache *cache; /* results; max_bytes 0: off */
	struct rpc_req *reqs;	/* running, for destroy */
	unsigned n_reqs;
	struct rpc_train *trains; /* rpc_train.c: running trainings */
	unsigned n_trains;
	/* All requests in flight in this worker draw from this, so a
	 * request that cannot get memory is shed (-32011) before it
	 * spends any: 2 x [jsonrpc] memory_max. */
	struct kr_arena_budget mem;
	uint64_t seq; /* request ids: r<pid>-<seq> */
	int pid;      /* this worker's, read once */
	/* Shed (-32011) and shard-down (-32010) answers come by the
	 * thousand under overload or an outage: at most one log line a
	 * second each, the next one saying how many were left out. */
	int64_t quiet_until_ms[2];
	unsigned quiet_skipped[2];
};

/* The request's session, checked once for all its calls. */
enum rpc_session {
	RPC_SESSION_NONE,    /* no Authorization header, or not needed */
	RPC_SESSION_PENDING, /* the check is running */
	RPC_SESSION_DONE,    /* auth_status says how it went */
};

struct rpc_call;
typedef void rpc_method_fn(struct rpc_call *c, const json_t *params);

struct rpc_method {
	const char *name;
	bool needs_session;
	rpc_method_fn *fn;
};

struct rpc_call {
	struct rpc_req *req;
	size_t index;
	const struct kr_jsonrpc_call *call;
	struct kr_arena *arena;	  /* from req->mem; freed when answered */
	struct kr_store_op *op;	  /* running store operation */
	struct kr_tpool_job *job; /* running pool job */
	struct kr_auth_op *auth;  /* running login or logout */
	bool answered;
	size_t reserved; /* taken from req->mem for the result to come */
	/* Filled by rpc_cache_lookup on a miss ("<user key>:L:<mailbox>:
	 * <limit>:<before>" and the like); rpc_reply_cache stores under it. */
	struct kr_cache_key key;
	void *state; /* the method's own, in arena */
};

struct rpc_req {
	struct kr_rpc *rpc;
	struct rpc_req *prev, *next;
	char id[24]; /* for log lines */
	int64_t start_us;
	struct kr_deadline deadline;
	struct kr_jsonrpc_batch *batch;
	struct rpc_call *calls;
	size_t n_calls;
	size_t next_call; /* calls[next_call..] have not started */
	unsigned running; /* started, not answered: RPC_BATCH_PARALLEL */
	bool pumping;	  /* rpc_req_pump is on the stack */
	/* The dispatcher's: starts the next calls once one has ended. */
	void (*resume)(struct rpc_req *req);
	/* What the request's calls hold: arenas and result texts, at most
	 * [jsonrpc] memory_max (SPEC.md §6: a batch's results share one
	 * budget). Drawn from rpc->mem. */
	struct kr_arena_budget mem;
	char *peer;
	/* kr_client_forwarded of X-Forwarded-For: the end user's address
	 * if the peer is trusted, else "". */
	char forwarded[KR_CLIENT_ADDR_MAX];
	enum rpc_session session_state;
	struct kr_auth_op *auth_op;	 /* RPC_SESSION_PENDING */
	enum kr_auth_status auth_status; /* RPC_SESSION_DONE */
	struct kr_err auth_err;		 /* KR_AUTH_ERROR */
	struct kr_auth_session session;	 /* KR_AUTH_OK */
	struct kr_store_user user;	 /* KR_AUTH_OK; address in session */
	kr_rpc_done_fn *done;
	void *done_ctx;
};

/* ---- the dispatcher (rpc.c) -------------------------------------- */

/* Starts calls while fewer than RPC_BATCH_PARALLEL run; responds when
 * all are answered. Every request's resume (tests that build a request
 * by hand set it too). */
void rpc_req_pump(struct rpc_req *req);

/* ---- a call's context (rpc_call.c) ------------------------------- */

/* Marks c answered, frees what it held but its result, and lets the
 * next call of the batch start (req->resume). The request may be gone
 * when it returns. */
void rpc_call_end(struct rpc_call *c);

/* The call's deadline and its store user (session methods only). */
struct kr_deadline rpc_deadline(const struct rpc_call *c);
const struct kr_store_user *rpc_user(const struct rpc_call *c);
/* kr_store_user_key of the session's user: ids repeat across shards. */
uint64_t rpc_user_key(const struct rpc_call *c);
int64_t rpc_now_ms(void); /* monotonic, for cache ages */

/* ---- answering (rpc_reply.c) ------------------------------------- */

/* Each answers the call once and ends it; result and data are stolen.
 * A result is serialised at once and charged to the request's budget;
 * past it the call gets the budget's error instead. */
void rpc_reply(struct rpc_call *c, json_t *result);
/* The same with the result as JSON text (malloc'd, taken; NULL: out of
 * memory). */
void rpc_reply_text(struct rpc_call *c, char *text, size_t len);
/* Takes n bytes from the request's budget for a result about to be
 * built (base64 of a message), before it is: the reply then charges
 * only what it holds beyond them. -1 after answering the budget's
 * error. */
int rpc_reserve(struct rpc_call *c, size_t n);
void rpc_fail(struct rpc_call *c, int code, const char *message, json_t *data);
/* Every error kind onto its SPEC.md §3.2 code, in one table. Messages
 * of kinds our own code words (not found, conflict, quota, too large,
 * permanent) reach the client; for the others (temporary, timeout,
 * overload, limit, internal: they may carry libpq or PostgreSQL text)
 * the client gets a fixed text and the log the detail. A budget
 * refusal gets rpc_reserve's errors. */
void rpc_fail_err(struct rpc_call *c, const struct kr_err *err);
/* A budget (by) refused: the worker's sheds the call (-32011), the
 * request's tells the client to send it in a later request (-32603
 * with data {limit_bytes}); err is logged. */
void rpc_fail_budget(struct rpc_call *c, const struct kr_arena_budget *by,
		     const struct kr_err *err);
/* The first step of a store callback: forgets the finished operation;
 * on error answers the call and returns false. */
bool rpc_op_ok(struct rpc_call *c, const struct kr_err *err);
/* -32602 naming the param (err from the kr_jsonrpc_param_* helpers). */
void rpc_fail_params(struct rpc_call *c, const struct kr_err *err);
/* {retry_after_ms: ms}, the data of -32010/-32011/-32012. */
json_t *rpc_retry_after(int64_t ms);

/* Results that may be cached (server/cache/cache.h): look-up answers
 * the call on a hit and returns true; on a miss it remembers the key
 * and the user's generation in c->key. rpc_reply_cache answers and
 * stores under that key. */
bool rpc_cache_lookup(struct rpc_call *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void rpc_reply_cache(struct rpc_call *c, json_t *result);
/* The same with the result as JSON text (malloc'd; taken; NULL: out of
 * memory). */
void rpc_reply_cache_text(struct rpc_call *c, char *text, size_t len);

/* ---- results as JSON text (rpc_text.c) --------------------------- */

/* {total, messages:[...]} as JSON text (malloc'd), NULL when out of
 * memory: the hot read, written without building a jansson tree. */
char *rpc_text_list(const struct kr_store_message_list_result *res,
		    size_t *len_r);
/* What message.get adds to the stored message: its header fields as
 * JSON text (headers_len bytes), and its body text and html (NULL:
 * null). */
struct rpc_text_body {
	const char *headers;
	size_t headers_len;
	const char *text, *html;
};
/* message.get's result as JSON text (malloc'd), NULL when out of
 * memory or an attachment has no part number. */
char *rpc_text_get(const struct kr_store_message_get_result *m,
		   const struct rpc_text_body *b, size_t *len_r);
/* The length of the base64 (RFC 4648, no line breaks) of len bytes, and
 * the text itself written to out (rpc_text_base64_len(len) + 1 bytes: a
 * NUL follows). */
size_t rpc_text_base64_len(size_t len);
void rpc_text_base64(char *out, const void *data, size_t len);

/* ---- JSON shapes (rpc_json.c) ------------------------------------ */

json_t *rpc_json_str(const char *s); /* null for NULL */
json_t *rpc_json_mailbox(const struct kr_store_mailbox *m);
json_t *rpc_json_flags(const char *const *flags, unsigned n);
json_t *rpc_json_date(bool has, int64_t date); /* RFC 3339 UTC or null */
/* A base64 string of len bytes; NULL when out of memory. */
json_t *rpc_json_base64(const void *data, size_t len);

/* ---- params (rpc_params.c) --------------------------------------- */

/* A uid list (1..KR_STORE_UIDS_MAX positive integers) and a flag list.
 * -1 after answering -32602. */
int rpc_param_uids(struct rpc_call *c, const json_t *params, const char *name,
		   const int64_t **uids_r, unsigned *n_r);
int rpc_param_flags(struct rpc_call *c, const json_t *params, const char *name,
		    const char *const **flags_r, unsigned *n_r);
/* Answers -32602 "param <name>: <what>"; returns -1. */
int rpc_param_bad(struct rpc_call *c, const char *name, const char *what);
/* A mailbox id or uid: a positive integer. */
int rpc_param_id(struct rpc_call *c, const json_t *params, const char *name,
		 bool required, int64_t *id_r);
/* Decodes standard base64 (padding required, no whitespace) into the
 * arena; -1 when it is not that. */
int rpc_param_base64(const char *in, size_t len, struct kr_arena *arena,
		     unsigned char **out_r, size_t *out_len_r);
/* message.attachment's part: a part number kr_mime_part can find. */
bool rpc_param_part_ok(const char *part);
/* NULL when a message.search query field (text: is_text) is within the
 * store's bounds (KR_STORE_SEARCH_FIELD_MAX bytes, text at most
 * KR_STORE_SEARCH_WORDS_MAX words), else what it must be. */
const char *rpc_param_search_error(const char *value, bool is_text);

/* ---- methods ----------------------------------------------------- */

extern const struct rpc_method rpc_methods[];

void rpc_auth_login(struct rpc_call *c, const json_t *params);
void rpc_auth_logout(struct rpc_call *c, const json_t *params);
/* Answers c with the JSON-RPC error of an auth status (not
 * KR_AUTH_OK); err for KR_AUTH_ERROR, retry_after_ms for the statuses
 * that carry one. */
void rpc_auth_fail(struct rpc_call *c, enum kr_auth_status status,
		   const struct kr_err *err, int64_t retry_after_ms);

void rpc_mailbox_list(struct rpc_call *c, const json_t *params);
void rpc_mailbox_create(struct rpc_call *c, const json_t *params);
void rpc_mailbox_rename(struct rpc_call *c, const json_t *params);
void rpc_mailbox_delete(struct rpc_call *c, const json_t *params);

void rpc_message_list(struct rpc_call *c, const json_t *params);
void rpc_message_search(struct rpc_call *c, const json_t *params);
void rpc_message_get(struct rpc_call *c, const json_t *params);
void rpc_message_raw(struct rpc_call *c, const json_t *params);
void rpc_message_attachment(struct rpc_call *c, const json_t *params);

void rpc_message_append(struct rpc_call *c, const json_t *params);
void rpc_message_flags(struct rpc_call *c, const json_t *params);
void rpc_message_move(struct rpc_call *c, const json_t *params);
void rpc_message_copy(struct rpc_call *c, const json_t *params);
void rpc_message_delete(struct rpc_call *c, const json_t *params);

void rpc_changes_get(struct rpc_call *c, const json_t *params);
void rpc_quota_get(struct rpc_call *c, const json_t *params);

#endif
