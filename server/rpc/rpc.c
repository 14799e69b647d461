/* The dispatcher: one rpc_req per HTTP request, one rpc_call per batch
 * entry. The session is checked once per request (server/auth), only
 * when a call needs it. Calls of a batch run concurrently, at most
 * RPC_BATCH_PARALLEL at a time (the specification allows any order),
 * all drawing memory from the request's budget; the response goes out
 * when the last one is answered. */
#include "server/rpc/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/tpool.h"
#include "server/cache/cache_metrics.h"
#include "server/rpc/rpc_priv.h"
#include "server/rpc/rpc_metrics.h"
#include "server/rpc/rpc_train.h"
#include "server/runtime.h"
#include "server/process_metrics.h"

#define RPC_CALL_ARENA_BLOCK (8u << 10)
/* In-flight requests of one worker together, in memory_max units. */
#define RPC_WORKER_MEMORY_FACTOR 2

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

static void
rpc_metrics_cache(struct kr_rpc *rpc)
{
	const struct kr_runtime *rt = rpc->d.rt;
	struct kr_cache_report r;

	kr_cache_report(rpc->cache, &r);
	kr_metrics_add(rt->slot, rt->cache_ids->hits, r.hits);
	kr_metrics_add(rt->slot, rt->cache_ids->misses, r.misses);
	kr_metrics_add(rt->slot, rt->cache_ids->evictions, r.evictions);
	kr_metrics_gauge_set(rt->slot, rt->cache_ids->bytes, (int64_t)r.bytes);
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
		kr_auth_cancel(&c->auth);
		kr_arena_destroy(&c->arena);
	}
	kr_auth_cancel(&req->auth_op);
	/* The results and reservations: all that is left. */
	kr_arena_budget_give(&req->mem, kr_arena_budget_used(&req->mem));
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		rpc->reqs = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	rpc->n_reqs--;
	kr_jsonrpc_batch_destroy(&req->batch);
	explicit_bzero(&req->session, sizeof(req->session));
	free(req->calls);
	free(req->peer);
	free(req);
}

static void
rpc_req_respond(struct rpc_req *req)
{
	struct kr_runtime *rt = req->rpc->d.rt;
	size_t len = 0;
	char *body = kr_jsonrpc_response_take(req->batch, &len);
	kr_rpc_done_fn *done = req->done;
	void *ctx = req->done_ctx;

	kr_metrics_inc(rt->slot, rt->rpc_ids->requests);
	kr_metrics_inc(rt->slot, rt->worker_ids->requests);
	kr_metrics_observe(rt->slot, rt->rpc_ids->latency,
			   (uint64_t)(kr_clock_mono_us() - req->start_us));
	rpc_metrics_cache(req->rpc);
	rpc_req_free(req);
	done(ctx, 200, body, len);
}

static const struct rpc_method *
rpc_find(const char *name)
{
	for (const struct rpc_method *m = rpc_methods; m->name != NULL; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* Answers c at once when its method cannot run: unknown, positional
 * params, no session. */
static bool
rpc_call_refused(struct rpc_call *c, const struct rpc_method *m)
{
	const struct rpc_req *req = c->req;

	if (m == NULL) {
		rpc_fail(c, KR_JSONRPC_METHOD_NOT_FOUND, NULL, NULL);
	} else if (c->call->params != NULL &&
		   !json_is_object(c->call->params)) {
		rpc_fail(c, KR_JSONRPC_INVALID_PARAMS,
			 "params must be an object (named params)", NULL);
	} else if (m->needs_session && req->session_state == RPC_SESSION_NONE) {
		rpc_fail(c, KR_JSONRPC_UNAUTHORIZED,
			 "no session: call auth.login and send "
			 "Authorization: Bearer <session>",
			 NULL);
	} else if (m->needs_session && req->auth_status != KR_AUTH_OK) {
		rpc_auth_fail(c, req->auth_status, &req->auth_err, 0);
	} else {
		return false;
	}
	return true;
}

static void
rpc_call_start(struct rpc_call *c)
{
	struct rpc_req *req = c->req;
	const struct rpc_method *m;
	struct kr_err err;

	kr_metrics_inc(req->rpc->d.rt->slot, req->rpc->d.rt->rpc_ids->calls);
	if (c->call->method == NULL) { /* answered by the codec */
		rpc_call_end(c);
		return;
	}
	m = rpc_find(c->call->method);
	if (rpc_call_refused(c, m))
		return;
	/* The first block is taken from the budget too: a call that cannot
	 * get it is answered before it starts. */
	c->arena = kr_arena_create_in(&req->mem, RPC_CALL_ARENA_BLOCK, 0, false,
				      &err);
	if (c->arena == NULL) {
		/* Each budget refuses with its own kind. */
		rpc_fail_budget(c,
				err.kind == KR_ERR_OVERLOAD ? &req->rpc->mem
							    : &req->mem,
				&err);
		return;
	}
	m->fn(c, c->call->params);
}

/* Calls answered inline come back here through rpc_call_end: the outer
 * loop goes on instead of recursing. */
void
rpc_req_pump(struct rpc_req *req)
{
	if (req->pumping)
		return;
	req->pumping = true;
	while (req->running < RPC_BATCH_PARALLEL &&
	       req->next_call < req->n_calls) {
		req->running++;
		rpc_call_start(&req->calls[req->next_call++]);
	}
	req->pumping = false;
	if (req->running == 0 && req->next_call == req->n_calls)
		rpc_req_respond(req);
}

/* The session is known: the calls may start. */
static void
rpc_on_session(void *ctx, const struct kr_auth_result *res)
{
	struct rpc_req *req = ctx;

	req->auth_op = NULL;
	req->session_state = RPC_SESSION_DONE;
	req->auth_status = res->status;
	if (res->status == KR_AUTH_OK) {
		req->session = *res->session;
		req->user = kr_auth_session_user(&req->session);
	} else if (res->status == KR_AUTH_ERROR) {
		req->auth_err = *res->err;
	}
	rpc_req_pump(req);
}

/* The token after "Bearer " (scheme in any case), or NULL. */
static const char *
rpc_bearer(const char *authorization)
{
	static const char scheme[] = "Bearer";

	if (strncasecmp(authorization, scheme, sizeof(scheme) - 1) != 0 ||
	    authorization[sizeof(scheme) - 1] != ' ')
		return NULL;
	authorization += sizeof(scheme);
	while (*authorization == ' ')
		authorization++;
	return authorization;
}

/* Starts the session check; a header that names no bearer token is
 * refused at once, as a bad token would be. */
static void
rpc_session_check(struct rpc_req *req, const char *authorization)
{
	const char *token = rpc_bearer(authorization);

	if (token == NULL) {
		req->session_state = RPC_SESSION_DONE;
		req->auth_status = KR_AUTH_UNAUTHORIZED;
		rpc_req_pump(req);
		return;
	}
	req->session_state = RPC_SESSION_PENDING;
	req->auth_op = kr_auth_check_begin(req->rpc->auth, token, req->deadline,
					   rpc_on_session, req);
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
	kr_arena_budget_init(&req->mem, &rpc->mem,
			     rpc->d.rt->cfg->jsonrpc.memory_max, KR_ERR_LIMIT,
			     "request memory budget");
	req->resume = rpc_req_pump;
	kr_client_forwarded(in->forwarded_for, req->forwarded);
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
		/* Only a body over the limit; the HTTP reader stops those
		 * first. */
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
		rpc_session_check(req, in->authorization);
		return;
	}
	rpc_req_pump(req);
}

unsigned
kr_rpc_pending(const struct kr_rpc *rpc)
{
	return rpc != NULL ? rpc->n_reqs : 0;
}

static struct kr_auth *
rpc_auth_create(const struct kr_rpc_deps *deps, struct kr_err *err_r)
{
	struct kr_runtime *rt = deps->rt;
	const struct kr_auth_deps ad = {
		.base = deps->base,
		.io = deps->io,
		.store = deps->store,
		.gens = deps->gens,
		.rl_user = rt->login_user,
		.rl_addr = rt->login_addr,
		.cfg = &rt->cfg,
		.log = rt->log,
		.slot = rt->slot,
		.ids = {
			.logins_failed = rt->rpc_ids->logins_failed,
			.rate_limited = rt->rpc_ids->rate_limited,
			.password_checks = rt->rpc_ids->password_checks,
		},
	};

	return kr_auth_create(&ad, err_r);
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
	rpc->lim.element_max = cfg->jsonrpc.element_max;
	kr_arena_budget_init(&rpc->mem, NULL,
			     RPC_WORKER_MEMORY_FACTOR * cfg->jsonrpc.memory_max,
			     KR_ERR_OVERLOAD, "worker memory for requests");
	rpc->cache = kr_cache_create(cfg->cache.max_bytes, deps->gens);
	rpc->auth = rpc_auth_create(deps, err_r);
	if (rpc->auth == NULL) {
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
	rpc_train_destroy_all(rpc);
	kr_auth_destroy(&rpc->auth);
	kr_cache_destroy(&rpc->cache);
	free(rpc);
	*rpcp = NULL;
}
