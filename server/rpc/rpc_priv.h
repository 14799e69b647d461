/* Inside the JSON-RPC dispatcher: the request and call contexts the
 * methods (rpc_auth.c, rpc_mailbox.c, rpc_message.c, rpc_write.c,
 * rpc_user.c) work on, and the helpers they answer through
 * (rpc_reply.c). */
#ifndef KR_RPC_PRIV_H
#define KR_RPC_PRIV_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/deadline.h"
#include "proto/jsonrpc.h"
#include "server/rpc/rpc.h"
#include "server/auth/token.h"
#include "storage/store.h"

struct kr_arena;
struct kr_cache;
struct kr_ratelimit;
struct kr_tpool_job;

/* Cache keys: "<user key>:L:<mailbox>:<limit>:<before>" and the like;
 * a key that does not fit is not cached (the cache takes at most
 * KR_CACHE_KEY_MAX bytes anyway). */
#define RPC_KEY_MAX 256
/* Calls of one batch running at once. Each may need up to the
 * request's memory budget before it knows its size (a stored message
 * is fetched before it is charged), so few run together: the budget is
 * then checked by the next call before it spends, not by a hundred at
 * once after. Four keep a batch of small reads about as fast as all at
 * once (each is one round trip to a shard). */
#define RPC_BATCH_PARALLEL 4
/* An IPv4 or IPv6 address as text, NUL included (INET6_ADDRSTRLEN). */
#define RPC_ADDR_TEXT_MAX 46

struct kr_rpc {
	struct kr_rpc_deps d;
	struct kr_jsonrpc_limits lim;
	struct kr_token_keyring keys;
	struct kr_cache *cache;			/* results; max_bytes 0: off */
	struct kr_cache *sessions;		/* session checks, always on */
	struct kr_ratelimit *rl_user, *rl_addr; /* the runtime's, shared */
	struct rpc_req *reqs;			/* running, for destroy */
	unsigned n_reqs;
	/* All requests in flight in this worker draw from this, so a
	 * request that cannot get memory is shed (-32011) before it
	 * spends any: 2 x [jsonrpc] memory_max. */
	struct kr_arena_budget mem;
	uint64_t seq; /* request ids: r<pid>-<seq> */
	int pid;      /* this worker's, read once */
	/* Logins admitted and not yet checked: [auth] login_concurrency. */
	unsigned logins_running;
	/* Cache figures already added to the metrics. */
	uint64_t hits_seen, misses_seen, evictions_seen;
	/* Shed (-32011) and shard-down (-32010) answers come by the
	 * thousand under overload or an outage: at most one log line a
	 * second each, the next one saying how many were left out. */
	int64_t quiet_until_ms[2];
	unsigned quiet_skipped[2];
};

enum rpc_auth_state {
	RPC_AUTH_NONE,	  /* no Authorization header */
	RPC_AUTH_PENDING, /* session check running */
	RPC_AUTH_OK,
	RPC_AUTH_FAILED, /* bad, expired or revoked */
	RPC_AUTH_ERROR,	 /* could not be checked: auth_err */
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
	bool answered;
	size_t reserved; /* taken from req->mem for the result to come */
	/* Filled by rpc_cache_lookup on a miss; rpc_reply_cache stores
	 * under it. */
	char key[RPC_KEY_MAX];
	size_t key_len;
	uint64_t gen;
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
	/* What the request's calls hold: arenas and result texts, at most
	 * [jsonrpc] memory_max (SPEC.md §6: a batch's results share one
	 * budget). Drawn from rpc->mem. */
	struct kr_arena_budget mem;
	char *peer;
	/* The right-most X-Forwarded-For entry when it is an address, else
	 * "": the end user's address if the peer is trusted. */
	char forwarded[RPC_ADDR_TEXT_MAX];
	enum rpc_auth_state auth;
	struct kr_token_claims claims;
	struct kr_store_user user; /* RPC_AUTH_OK */
	char address[KR_ADDRESS_MAX + 1];
	struct kr_store_op *auth_op;
	struct kr_err auth_err;
	struct kr_arena *auth_arena; /* the session check's result */
	uint64_t auth_gen;	     /* the user's, read before the check */
	kr_rpc_done_fn *done;
	void *done_ctx;
};

/* ---- answering (rpc_reply.c) ------------------------------------ */

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
/* Store and pool errors mapped onto SPEC.md §3.2 codes. Messages of
 * kinds our own code words (not found, conflict, quota, too large,
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

/* Results that may be cached: look-up answers the call on a hit and
 * returns true; on a miss it remembers key and the user's generation
 * (read before the store is asked, so a write racing with the read
 * leaves the entry stale, never wrong). rpc_reply_cache answers and
 * stores under that key. */
bool rpc_cache_lookup(struct rpc_call *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void rpc_reply_cache(struct rpc_call *c, json_t *result);
/* The same with the result as JSON text (malloc'd; taken; NULL: out of
 * memory). */
void rpc_reply_cache_text(struct rpc_call *c, char *text, size_t len);
/* Formats a cache key into key (size bytes): "<user key>:" and fmt.
 * Its length, or 0 when it does not fit (then nothing is cached). */
size_t rpc_cache_key(char *key, size_t size, uint64_t user_key, const char *fmt,
		     va_list ap) __attribute__((format(printf, 4, 0)));
/* After a write of the session's user succeeded: every worker's cached
 * reads of that user go stale. */
void rpc_user_changed(struct rpc_call *c);

/* Marks c answered, frees what it held but its result, and lets the
 * next call of the batch start (rpc.c). The request may be gone when
 * it returns. */
void rpc_call_end(struct rpc_call *c);

/* The call's deadline and its store user (session methods only). */
struct kr_deadline rpc_deadline(const struct rpc_call *c);
const struct kr_store_user *rpc_user(const struct rpc_call *c);
/* kr_store_user_key of the session's user: ids repeat across shards. */
uint64_t rpc_user_key(const struct rpc_call *c);
int64_t rpc_now_ms(void); /* monotonic, for cache ages */

/* ---- JSON shapes (rpc_json.c) ------------------------------------ */

json_t *rpc_json_str(const char *s); /* null for NULL */
json_t *rpc_json_mailbox(const struct kr_store_mailbox *m);
json_t *rpc_json_addr(const char *name, const char *email);
json_t *rpc_json_addrs(const struct kr_store_addr *a, unsigned n);
json_t *rpc_json_flags(const char *const *flags, unsigned n);
json_t *rpc_json_date(bool has, int64_t date); /* RFC 3339 UTC or null */
/* {total, messages:[...]} as JSON text (malloc'd), NULL when out of
 * memory. */
char *rpc_json_list_text(const struct kr_store_message_list_result *res,
			 size_t *len_r);
json_t *rpc_json_attachments(const struct kr_store_attachment *a, unsigned n);
/* base64 (RFC 4648, no line breaks) of len bytes; NULL when out of
 * memory. */
json_t *rpc_json_base64(const void *data, size_t len);
/* The length of that base64, and the text itself written to out
 * (rpc_base64_len(len) + 1 bytes: a NUL follows). */
size_t rpc_base64_len(size_t len);
void rpc_base64_encode(char *out, const void *data, size_t len);
/* Decodes standard base64 (padding required, no whitespace) into the
 * arena; -1 when it is not that. */
int rpc_base64_decode(const char *in, size_t len, struct kr_arena *arena,
		      unsigned char **out_r, size_t *out_len_r);

/* Params shared by several methods: a uid list (1..KR_STORE_UIDS_MAX
 * positive integers) and a flag list. -1 after answering -32602. */
int rpc_param_uids(struct rpc_call *c, const json_t *params, const char *name,
		   const int64_t **uids_r, unsigned *n_r);
int rpc_param_flags(struct rpc_call *c, const json_t *params, const char *name,
		    const char *const **flags_r, unsigned *n_r);
/* Answers -32602 "param <name>: <what>"; returns -1. */
int rpc_param_bad(struct rpc_call *c, const char *name, const char *what);
/* A mailbox id or uid: a positive integer. */
int rpc_param_id(struct rpc_call *c, const json_t *params, const char *name,
		 bool required, int64_t *id_r);
/* message.attachment's part: a part number kr_mime_part can find. */
bool rpc_part_valid(const char *part);
/* NULL when a message.search query field (text: is_text) is within the
 * store's bounds (KR_STORE_SEARCH_FIELD_MAX bytes, text at most
 * KR_STORE_SEARCH_WORDS_MAX words), else what it must be. */
const char *rpc_search_field_error(const char *value, bool is_text);

/* ---- methods ----------------------------------------------------- */

extern const struct rpc_method rpc_methods[];

void rpc_auth_login(struct rpc_call *c, const json_t *params);
void rpc_auth_logout(struct rpc_call *c, const json_t *params);
/* Starts the session check of req (token in authorization); calls
 * rpc_req_authed(req) when it is known. */
void rpc_auth_check(struct rpc_req *req, const char *authorization);
/* Fills req->forwarded from an X-Forwarded-For value (NULL: none). */
void rpc_auth_forwarded(struct rpc_req *req, const char *xff);
void rpc_req_authed(struct rpc_req *req);

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
