/* The JSON-RPC dispatcher of one worker (SPEC.md §2 "webmail read"):
 * request body -> proto/jsonrpc -> session check -> method -> cache or
 * store -> response body. Knows nothing of HTTP (server/rpc/rpc_http.c
 * feeds it), so it runs the same behind any transport. Worker loop
 * only. */
#ifndef KR_RPC_H
#define KR_RPC_H

#include <stddef.h>

#include "lib/err.h"

struct event_base;
struct kr_antispam;
struct kr_genmap;
struct kr_runtime;
struct kr_store;
struct kr_tpool;
struct kr_rpc;

struct kr_rpc_deps {
	struct event_base *base;
	struct kr_runtime *rt;
	struct kr_store *store; /* NULL without shards: sessions -32010 */
	struct kr_tpool *io;	/* password checks */
	struct kr_tpool *cpu;	/* MIME parsing of large messages */
	struct kr_genmap *gens; /* per-user write generations, shared */
	/* Bayes training on message.move (rpc_train.h); NULL: none. */
	struct kr_antispam *antispam;
};

/* Everything borrowed for the duration of kr_rpc_handle only. */
struct kr_rpc_input {
	const char *body;
	size_t len;
	const char *authorization; /* the header's value, or NULL */
	const char *peer;	   /* client address, for rate limits */
	/* X-Forwarded-For's value, or NULL; when the header is repeated,
	 * the last one (its right-most entry is the one a proxy adds).
	 * Used only when peer is in [auth] trusted. */
	const char *forwarded_for;
};

/* status 200 with body (malloc'd, the callee frees it), 200 with body
 * NULL meaning "no content" (only notifications: HTTP 204), 413 (body
 * over [jsonrpc] body_max), or 0: the dispatcher is being destroyed
 * and nothing is answered. */
typedef void kr_rpc_done_fn(void *ctx, int status, char *body, size_t len);

struct kr_rpc *kr_rpc_create(const struct kr_rpc_deps *deps,
			     struct kr_err *err_r);
/* Every request still running gets done(ctx, 0, NULL, 0); then frees.
 * Before the store and pools are destroyed. */
void kr_rpc_destroy(struct kr_rpc **rpc);

/* Starts answering one HTTP request body. done fires exactly once,
 * possibly before this returns (cache hits, bad requests). */
void kr_rpc_handle(struct kr_rpc *rpc, const struct kr_rpc_input *in,
		   kr_rpc_done_fn *done, void *ctx);

/* Requests being answered now. */
unsigned kr_rpc_pending(const struct kr_rpc *rpc);

#endif
