/* The dispatcher: one rpc_req per HTTP request, one rpc_call per batch
 * entry. Calls of a batch run concurrently (the specification allows
 * any order); the response goes out when the last one is answered. */
#include "server/rpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/genmap.h"
#include "lib/tpool.h"
#include "server/cache.h"
#include "server/ratelimit.h"
#include "server/rpc_priv.h"
#include "server/runtime.h"

/* Session checks cached per worker: a few hundred bytes each. */
#define RPC_SESSION_CACHE_BYTES (4u << 20)
#define RPC_CALL_ARENA_BLOCK (8u << 10)

const struct rpc_method rpc_methods[] = {
	{ "auth.login", false, rpc_auth_login },
	{ "auth.logout", true, rpc_auth_logout },
	{ "mailbox.list", true, rpc_mailbox_list },
	{ "mailbox.create", true, rpc_mailbox_create },
	{ "mailbox.rename", true, rpc_mailbox_rename },
	{ "mailbox.delete", true, rpc_mailbox_delete },
	{ "message.list", true, rpc_message_list },
	{ "message.get", true, rpc_message_get },
	{ "message.raw", true, rpc_message_raw },
	{ "message.attachment", true, rpc_message_attachment },
	{ "message.append", true, rpc_message_append },
	{ "message.flags", true, rpc_message_flags },
	{ "message.move", true, rpc_message_move },
	{ "message.copy", true, rpc_message_copy },
	{ "message.delete", true, rpc_message_delete },
	{ "message.search", true, rpc_message_search },
	{ "changes.get", true, rpc_changes_get },
	{ "quota.get", true, rpc_quota_get },
	{ NULL, false, NULL },
};

int64_t
rpc_now_ms(void)
{
	return kr_clock_mono_ms();
}

struct kr_deadline
rpc_deadline(const struct rpc_call *c)
{
	return c->req->deadline;
}

const struct kr_store_user *
rpc_user(const struct rpc_call *c)
{
	return &c->req->user;
}

static void
rpc_metrics_cache(struct kr_rpc *rpc)
{
	const struct kr_runtime *rt = rpc->d.rt;
	struct kr_cache_stats st;

	kr_cache_get_stats(rpc->cache, &st);
	kr_metrics_add(rt->slot, rt->ids.cache_hits, st.hits - rpc->hits_seen);
	kr_metrics_add(rt->slot, rt->ids.cache_misses,
		       st.misses - rpc->misses_seen);
	kr_metrics_add(rt->slot, rt->ids.cache_evictions,
		       st.evictions - rpc->evictions_seen);
	kr_metrics_gauge_set(rt->slot, rt->ids.cache_bytes, (int64_t)st.bytes);
	rpc->hits_seen = st.hits;
	rpc->misses_seen = st.misses;
	rpc->evictions_seen = st.evictions;
}

static void
rpc_req_free(struct rpc_req *req)
{
	struct kr_rpc *rpc = req->rpc;

	for (size_t i = 0; i < req->n_calls; i++) {
		struct rpc_call *c = &req->calls[i];

		kr_store_cancel(&c->op);
		if (c->job != NULL)
			kr_tpool_cancel(&c->job);
		kr_arena_destroy(&c->arena);
	}
	kr_store_cancel(&req->auth_op);
	kr_arena_destroy(&req->auth_arena);
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		rpc->reqs = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	rpc->n_reqs--;
	kr_jsonrpc_batch_destroy(&req->batch);
	explicit_bzero(&req->claims, sizeof(req->claims));
	free(req->calls);
	free(req->peer);
	free(req);
}

static void
rpc_req_respond(struct rpc_req *req)
{
	struct kr_runtime *rt = req->rpc->d.rt;
	size_t len = 0;
	char *body = kr_jsonrpc_response(req->batch, &len);
	kr_rpc_done_fn *done = req->done;
	void *ctx = req->done_ctx;

	kr_metrics_inc(rt->slot, rt->ids.rpc_requests);
	kr_metrics_inc(rt->slot, rt->ids.requests);
	kr_metrics_observe(rt->slot, rt->ids.rpc_latency,
			   (uint64_t)(kr_clock_mono_us() - req->start_us));
	rpc_metrics_cache(req->rpc);
	rpc_req_free(req);
	done(ctx, 200, body, len);
}

static void
rpc_call_end(struct rpc_call *c)
{
	struct rpc_req *req = c->req;

	c->answered = true;
	if (--req->pending == 0)
		rpc_req_respond(req);
}

void
rpc_reply(struct rpc_call *c, json_t *result)
{
	kr_assert(!c->answered);
	if (result == NULL) {
		rpc_fail(c, KR_JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	kr_jsonrpc_set_result(c->req->batch, c->index, result);
	rpc_call_end(c);
}

void
rpc_fail(struct rpc_call *c, int code, const char *message, json_t *data)
{
	struct kr_runtime *rt = c->req->rpc->d.rt;

	kr_assert(!c->answered);
	kr_metrics_inc(rt->slot, rt->ids.rpc_errors);
	if (code == KR_JSONRPC_INTERNAL_ERROR ||
	    code == KR_JSONRPC_UNAVAILABLE || code == KR_JSONRPC_OVERLOADED) {
		struct kr_log_line line;

		if (kr_log_begin(&line, rt->log, KR_LOG_WARN, c->req->id,
				 "rpc.error")) {
			kr_log_str(&line, "method",
				   c->call->method ? c->call->method : "-");
			kr_log_int(&line, "code", code);
			kr_log_str(&line, "msg", message ? message : "");
			kr_log_end(&line);
		}
	}
	kr_jsonrpc_set_error(c->req->batch, c->index, code, message, data);
	rpc_call_end(c);
}

static json_t *
rpc_retry_after(unsigned ms)
{
	return json_pack("{sI}", "retry_after_ms", (json_int_t)ms);
}

void
rpc_fail_err(struct rpc_call *c, const struct kr_err *err)
{
	const struct kr_config *cfg = c->req->rpc->d.rt->cfg;

	switch (err->kind) {
	case KR_ERR_NOT_FOUND:
		rpc_fail(c, KR_JSONRPC_NOT_FOUND, err->msg, NULL);
		break;
	case KR_ERR_CONFLICT:
		rpc_fail(c, KR_JSONRPC_CONFLICT, err->msg, NULL);
		break;
	case KR_ERR_QUOTA:
		rpc_fail(c, KR_JSONRPC_OVER_QUOTA, err->msg, NULL);
		break;
	case KR_ERR_TOO_LARGE:
		rpc_fail(c, KR_JSONRPC_INVALID_PARAMS, err->msg, NULL);
		break;
	case KR_ERR_PERMANENT:
		rpc_fail(c, KR_JSONRPC_INVALID_PARAMS, err->msg, NULL);
		break;
	case KR_ERR_TEMPORARY:
	case KR_ERR_TIMEOUT:
		/* The circuit breaker probes a node that is down this often:
		 * sooner than that nothing has changed. */
		rpc_fail(c, KR_JSONRPC_UNAVAILABLE, err->msg,
			 rpc_retry_after(cfg->storage.circuit_probe_ms));
		break;
	case KR_ERR_OVERLOAD:
		rpc_fail(c, KR_JSONRPC_OVERLOADED, err->msg,
			 rpc_retry_after(cfg->storage.pool_queue_timeout_ms));
		break;
	default:
		rpc_fail(c, KR_JSONRPC_INTERNAL_ERROR, err->msg, NULL);
		break;
	}
}

bool
rpc_op_ok(struct rpc_call *c, const struct kr_err *err)
{
	c->op = NULL;
	if (err == NULL)
		return true;
	rpc_fail_err(c, err);
	return false;
}

void
rpc_fail_params(struct rpc_call *c, const struct kr_err *err)
{
	rpc_fail(c, KR_JSONRPC_INVALID_PARAMS, err->msg, NULL);
}

bool
rpc_cache_lookup(struct rpc_call *c, const char *fmt, ...)
{
	struct kr_rpc *rpc = c->req->rpc;
	const char *val;
	size_t vlen;
	va_list ap;
	int head, n;

	/* Every key starts with its user's: no method can share one. */
	head = snprintf(c->key, sizeof(c->key),
			"%llx:", (unsigned long long)rpc_user_key(c));
	va_start(ap, fmt);
	n = vsnprintf(c->key + head, sizeof(c->key) - (size_t)head, fmt, ap);
	va_end(ap);
	kr_assert(n > 0 && (size_t)(head + n) < sizeof(c->key));
	c->key_len = (size_t)(head + n);
	c->gen = kr_genmap_get(rpc->d.gens, rpc_user_key(c));
	if (!kr_cache_get(rpc->cache, c->key, c->key_len, c->gen, rpc_now_ms(),
			  rpc->d.rt->cfg->cache.ttl_ms, &val, &vlen))
		return false;
	kr_jsonrpc_set_result_text(c->req->batch, c->index, val, vlen);
	rpc_call_end(c);
	return true;
}

void
rpc_reply_cache_text(struct rpc_call *c, char *text, size_t len)
{
	struct kr_rpc *rpc = c->req->rpc;

	if (text == NULL) {
		rpc_reply(c, NULL);
		return;
	}
	if (c->key_len > 0)
		kr_cache_put(rpc->cache, (int64_t)rpc_user_key(c), c->key,
			     c->key_len, text, len, c->gen, rpc_now_ms());
	kr_jsonrpc_take_result_text(c->req->batch, c->index, text, len);
	rpc_call_end(c);
}

void
rpc_reply_cache(struct rpc_call *c, json_t *result)
{
	char *text = NULL;

	if (result != NULL) {
		text = json_dumps(result, JSON_COMPACT);
		json_decref(result);
	}
	rpc_reply_cache_text(c, text, text != NULL ? strlen(text) : 0);
}

void
rpc_user_changed(struct rpc_call *c)
{
	kr_genmap_bump(c->req->rpc->d.gens, rpc_user_key(c));
}

uint64_t
rpc_user_key(const struct rpc_call *c)
{
	return kr_store_user_key(c->req->user.shard, c->req->user.id);
}

static const struct rpc_method *
rpc_find(const char *name)
{
	for (const struct rpc_method *m = rpc_methods; m->name != NULL; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static void
rpc_call_start(struct rpc_call *c)
{
	struct rpc_req *req = c->req;
	const struct kr_jsonrpc_call *call = c->call;
	const struct rpc_method *m;

	kr_metrics_inc(req->rpc->d.rt->slot, req->rpc->d.rt->ids.rpc_calls);
	if (call->method == NULL) { /* answered by the codec */
		rpc_call_end(c);
		return;
	}
	m = rpc_find(call->method);
	if (m == NULL) {
		rpc_fail(c, KR_JSONRPC_METHOD_NOT_FOUND, NULL, NULL);
		return;
	}
	if (call->params != NULL && !json_is_object(call->params)) {
		rpc_fail(c, KR_JSONRPC_INVALID_PARAMS,
			 "params must be an object (named params)", NULL);
		return;
	}
	if (m->needs_session && req->auth == RPC_AUTH_ERROR) {
		rpc_fail_err(c, &req->auth_err);
		return;
	}
	if (m->needs_session && req->auth != RPC_AUTH_OK) {
		rpc_fail(c, KR_JSONRPC_UNAUTHORIZED,
			 req->auth == RPC_AUTH_NONE
				 ? "no session: call auth.login and send "
				   "Authorization: Bearer <session>"
				 : "session invalid, expired or revoked",
			 NULL);
		return;
	}
	c->arena = kr_arena_create(RPC_CALL_ARENA_BLOCK, RPC_CALL_ARENA_MAX,
				   false);
	m->fn(c, call->params);
}

void
rpc_req_authed(struct rpc_req *req)
{
	/* The extra count keeps req alive while calls answer inline. */
	req->pending = (unsigned)req->n_calls + 1;
	for (size_t i = 0; i < req->n_calls; i++)
		rpc_call_start(&req->calls[i]);
	if (--req->pending == 0)
		rpc_req_respond(req);
}

/* True when some call needs the session: only then is it checked. */
static bool
rpc_needs_session(const struct rpc_req *req)
{
	for (size_t i = 0; i < req->n_calls; i++) {
		const char *name = req->calls[i].call->method;
		const struct rpc_method *m = name ? rpc_find(name) : NULL;

		if (m != NULL && m->needs_session)
			return true;
	}
	return false;
}

static struct rpc_req *
rpc_req_new(struct kr_rpc *rpc, const struct kr_rpc_input *in,
	    kr_rpc_done_fn *done, void *ctx)
{
	struct rpc_req *req = kr_xcalloc(1, sizeof(*req));

	req->rpc = rpc;
	req->done = done;
	req->done_ctx = ctx;
	req->start_us = kr_clock_mono_us();
	req->deadline = kr_deadline_after(
		req->start_us, rpc->d.rt->cfg->jsonrpc.request_timeout_ms);
	snprintf(req->id, sizeof(req->id), "r%d-%llu", rpc->pid,
		 (unsigned long long)++rpc->seq);
	req->peer = kr_xstrdup(in->peer != NULL ? in->peer : "");
	rpc_auth_forwarded(req, in->forwarded_for);
	req->next = rpc->reqs;
	if (rpc->reqs != NULL)
		rpc->reqs->prev = req;
	rpc->reqs = req;
	rpc->n_reqs++;
	return req;
}

void
kr_rpc_handle(struct kr_rpc *rpc, const struct kr_rpc_input *in,
	      kr_rpc_done_fn *done, void *ctx)
{
	struct rpc_req *req = rpc_req_new(rpc, in, done, ctx);
	struct kr_err err = { 0 };

	if (kr_jsonrpc_parse(in->body, in->len, &rpc->lim, &req->batch, &err) <
	    0) {
		/* Only a body over the limit; evhttp stops those first. */
		rpc_req_free(req);
		done(ctx, 413, NULL, 0);
		return;
	}
	req->n_calls = kr_jsonrpc_count(req->batch);
	req->calls = kr_xcalloc(req->n_calls, sizeof(*req->calls));
	for (size_t i = 0; i < req->n_calls; i++)
		req->calls[i] = (struct rpc_call){
			.req = req,
			.index = i,
			.call = kr_jsonrpc_call(req->batch, i),
		};
	if (in->authorization != NULL && rpc_needs_session(req)) {
		rpc_auth_check(req, in->authorization);
		return;
	}
	rpc_req_authed(req);
}

unsigned
kr_rpc_pending(const struct kr_rpc *rpc)
{
	return rpc != NULL ? rpc->n_reqs : 0;
}

static int
rpc_keys(struct kr_rpc *rpc, const struct kr_config *cfg, struct kr_err *err_r)
{
	const char *cur = cfg->auth.secret, *prev = cfg->auth.previous_secret;

	if (cur == NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: [auth] secret is not set", cfg->path);
	if (kr_token_key_init(&rpc->keys.current, cur, strlen(cur), err_r) < 0)
		return -1;
	if (prev == NULL)
		return 0;
	rpc->keys.has_previous = true;
	return kr_token_key_init(&rpc->keys.previous, prev, strlen(prev),
				 err_r);
}

struct kr_rpc *
kr_rpc_create(const struct kr_rpc_deps *deps, struct kr_err *err_r)
{
	const struct kr_config *cfg = deps->rt->cfg;
	struct kr_rpc *rpc = kr_xcalloc(1, sizeof(*rpc));

	rpc->d = *deps;
	rpc->pid = (int)getpid();
	kr_jsonrpc_limits_init(&rpc->lim);
	rpc->lim.body_max = cfg->jsonrpc.body_max;
	rpc->lim.batch_max = cfg->jsonrpc.batch_max;
	rpc->lim.depth_max = cfg->jsonrpc.depth_max;
	rpc->cache = kr_cache_create(cfg->cache.max_bytes);
	rpc->sessions = kr_cache_create(RPC_SESSION_CACHE_BYTES);
	rpc->rl_user = deps->rt->login_user;
	rpc->rl_addr = deps->rt->login_addr;
	if (rpc->cache == NULL || rpc->sessions == NULL) {
		kr_err_set(err_r, KR_ERR_INTERNAL, "out of memory");
		kr_rpc_destroy(&rpc);
		return NULL;
	}
	if (rpc_keys(rpc, cfg, err_r) < 0) {
		kr_rpc_destroy(&rpc);
		return NULL;
	}
	return rpc;
}

void
kr_rpc_destroy(struct kr_rpc **rpcp)
{
	struct kr_rpc *rpc = *rpcp;

	if (rpc == NULL)
		return;
	while (rpc->reqs != NULL) {
		struct rpc_req *req = rpc->reqs;
		kr_rpc_done_fn *done = req->done;
		void *ctx = req->done_ctx;

		rpc_req_free(req);
		done(ctx, 0, NULL, 0);
	}
	kr_token_keyring_wipe(&rpc->keys);
	kr_cache_destroy(&rpc->cache);
	kr_cache_destroy(&rpc->sessions);
	free(rpc);
	*rpcp = NULL;
}
