/* How a call is answered: results charged to the request's memory
 * budget, errors mapped from kinds to SPEC.md §3.2 codes in one table
 * with client texts that never carry database text, and the per-worker
 * result cache (server/cache/cache.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cache/cache.h"
#include "server/rpc/rpc_priv.h"
#include "server/rpc/rpc_metrics.h"
#include "server/runtime.h"

/* What the client reads for kinds whose detail stays in the log. */
#define RPC_TEXT_TEMPORARY                                                  \
	"temporarily unavailable: the mail store cannot be reached; retry " \
	"later"
#define RPC_TEXT_TIMEOUT                                             \
	"temporarily unavailable: the mail store did not answer in " \
	"time; retry later"
#define RPC_TEXT_OVERLOAD "overloaded: the request was shed; retry later"
#define RPC_TEXT_INTERNAL "internal error"
#define RPC_TEXT_BUDGET                                                   \
	"the request's memory budget ([jsonrpc] memory_max) is used up: " \
	"send this call in a later request"
#define RPC_TEXT_SHED                                                      \
	"overloaded: memory for the requests in flight is used up; retry " \
	"later"

json_t *
rpc_retry_after(int64_t ms)
{
	return json_pack("{sI}", "retry_after_ms", (json_int_t)ms);
}

/* False when a line for code was logged less than a second ago (the
 * -32010/-32011 floods); then the line is only counted. *skipped_r: the
 * lines left out before this one. */
static bool
rpc_log_due(struct kr_rpc *rpc, int code, unsigned *skipped_r)
{
	int i = code == KR_JSONRPC_OVERLOADED	 ? 0
		: code == KR_JSONRPC_UNAVAILABLE ? 1
						 : -1;
	int64_t now = rpc_now_ms();

	*skipped_r = 0;
	if (i < 0)
		return true;
	if (now < rpc->quiet_until_ms[i]) {
		rpc->quiet_skipped[i]++;
		return false;
	}
	rpc->quiet_until_ms[i] = now + 1000;
	*skipped_r = rpc->quiet_skipped[i];
	rpc->quiet_skipped[i] = 0;
	return true;
}

/* Answers c with an error; one log line for the codes an operator
 * looks at, with the detail the client does not see. */
static void
rpc_fail_detail(struct rpc_call *c, int code, const char *message, json_t *data,
		const struct kr_err *detail)
{
	struct kr_runtime *rt = c->req->rpc->d.rt;
	struct kr_log_line line;
	unsigned skipped;

	kr_assert(!c->answered);
	kr_metrics_inc(rt->slot, rt->rpc_ids->errors);
	if ((detail != NULL || code == KR_JSONRPC_INTERNAL_ERROR ||
	     code == KR_JSONRPC_UNAVAILABLE || code == KR_JSONRPC_OVERLOADED) &&
	    rpc_log_due(c->req->rpc, code, &skipped) &&
	    kr_log_begin(&line, rt->log, KR_LOG_WARN, c->req->id,
			 "rpc.error")) {
		kr_log_str(&line, "method",
			   c->call->method ? c->call->method : "-");
		kr_log_int(&line, "code", code);
		kr_log_str(&line, "msg", message ? message : "");
		if (skipped > 0)
			kr_log_int(&line, "skipped", skipped);
		if (detail != NULL) {
			kr_log_str(&line, "kind",
				   kr_err_kind_name(detail->kind));
			kr_log_str(&line, "detail", detail->msg);
		}
		kr_log_end(&line);
	}
	kr_jsonrpc_set_error(c->req->batch, c->index, code, message, data);
	rpc_call_end(c);
}

void
rpc_fail(struct rpc_call *c, int code, const char *message, json_t *data)
{
	rpc_fail_detail(c, code, message, data, NULL);
}

void
rpc_fail_budget(struct rpc_call *c, const struct kr_arena_budget *by,
		const struct kr_err *err)
{
	const struct kr_rpc *rpc = c->req->rpc;
	const struct kr_config *cfg = rpc->d.rt->cfg;

	if (by == &rpc->mem)
		rpc_fail_detail(
			c, KR_JSONRPC_OVERLOADED, RPC_TEXT_SHED,
			rpc_retry_after(cfg->storage.pool_queue_timeout_ms),
			err);
	else
		rpc_fail_detail(c, KR_JSONRPC_INTERNAL_ERROR, RPC_TEXT_BUDGET,
				json_pack("{sI}", "limit_bytes",
					  (json_int_t)cfg->jsonrpc.memory_max),
				err);
}

/* What the client is told to wait for (data {retry_after_ms}). */
enum rpc_retry {
	RPC_RETRY_NONE,
	/* The circuit breaker probes a node that is down this often:
	 * sooner than that nothing has changed. */
	RPC_RETRY_PROBE,
	RPC_RETRY_QUEUE, /* a queue's wait: [storage] pool_queue_timeout */
};

/* Every kind's answer. text NULL: the error's own message reaches the
 * client (kinds our own code words); else the fixed text, and the
 * detail goes to the log. */
static const struct {
	int code;
	const char *text;
	enum rpc_retry retry;
} rpc_kinds[] = {
	[KR_ERR_NONE] = { KR_JSONRPC_INTERNAL_ERROR, RPC_TEXT_INTERNAL },
	[KR_ERR_TEMPORARY] = { KR_JSONRPC_UNAVAILABLE, RPC_TEXT_TEMPORARY,
			       RPC_RETRY_PROBE },
	[KR_ERR_PERMANENT] = { KR_JSONRPC_INVALID_PARAMS, NULL },
	[KR_ERR_LIMIT] = { KR_JSONRPC_INTERNAL_ERROR, RPC_TEXT_INTERNAL },
	[KR_ERR_NOT_FOUND] = { KR_JSONRPC_NOT_FOUND, NULL },
	[KR_ERR_TIMEOUT] = { KR_JSONRPC_UNAVAILABLE, RPC_TEXT_TIMEOUT,
			     RPC_RETRY_PROBE },
	[KR_ERR_OVERLOAD] = { KR_JSONRPC_OVERLOADED, RPC_TEXT_OVERLOAD,
			      RPC_RETRY_QUEUE },
	[KR_ERR_CONFLICT] = { KR_JSONRPC_CONFLICT, NULL },
	[KR_ERR_INTERNAL] = { KR_JSONRPC_INTERNAL_ERROR, RPC_TEXT_INTERNAL },
	[KR_ERR_QUOTA] = { KR_JSONRPC_OVER_QUOTA, NULL },
	[KR_ERR_TOO_LARGE] = { KR_JSONRPC_INVALID_PARAMS, NULL },
};

void
rpc_fail_err(struct rpc_call *c, const struct kr_err *err)
{
	const struct kr_config *cfg = c->req->rpc->d.rt->cfg;
	const struct kr_arena_budget *by =
		c->arena != NULL ? kr_arena_refused_by(c->arena) : NULL;
	size_t k = (size_t)err->kind;
	json_t *data = NULL;

	if (k >= sizeof(rpc_kinds) / sizeof(rpc_kinds[0]) ||
	    rpc_kinds[k].code == 0)
		k = KR_ERR_INTERNAL;
	/* Arenas fail with their budget's kind. */
	if (by != NULL && (k == KR_ERR_OVERLOAD || k == KR_ERR_LIMIT)) {
		rpc_fail_budget(c, by, err);
		return;
	}
	if (rpc_kinds[k].retry == RPC_RETRY_PROBE)
		data = rpc_retry_after(cfg->storage.circuit_probe_ms);
	else if (rpc_kinds[k].retry == RPC_RETRY_QUEUE)
		data = rpc_retry_after(cfg->storage.pool_queue_timeout_ms);
	if (rpc_kinds[k].text == NULL)
		rpc_fail(c, rpc_kinds[k].code, err->msg, data);
	else
		rpc_fail_detail(c, rpc_kinds[k].code, rpc_kinds[k].text, data,
				err);
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

/* ---- results and the budget ---------------------------------------- */

int
rpc_reserve(struct rpc_call *c, size_t n)
{
	struct kr_arena_budget *by = NULL;
	struct kr_err err;

	if (kr_arena_budget_take(&c->req->mem, n, &by, &err) < 0) {
		rpc_fail_budget(c, by, &err);
		return -1;
	}
	c->reserved += n;
	return 0;
}

/* The result of len bytes is held until the response is sent: it
 * stays on the request's budget, what was reserved for it counting.
 * -1 after answering the budget's error. A notification's result is
 * dropped, so it costs nothing. */
static int
rpc_charge(struct rpc_call *c, size_t len)
{
	size_t held = c->reserved;

	if (c->call->is_notification)
		return 0;
	if (len > held) {
		if (rpc_reserve(c, len - held) < 0)
			return -1;
	} else {
		kr_arena_budget_give(&c->req->mem, held - len);
	}
	c->reserved = 0;
	return 0;
}

void
rpc_reply_text(struct rpc_call *c, char *text, size_t len)
{
	if (text == NULL) {
		rpc_fail(c, KR_JSONRPC_INTERNAL_ERROR,
			 "internal error: the result could not be built", NULL);
		return;
	}
	if (rpc_charge(c, len) < 0) {
		free(text);
		return;
	}
	kr_jsonrpc_take_result_text(c->req->batch, c->index, text, len);
	rpc_call_end(c);
}

/* The compact JSON text of result (taken), or NULL. */
static char *
rpc_dump(json_t *result, size_t *len_r)
{
	char *text = NULL;

	*len_r = 0;
	if (result != NULL) {
		text = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(result);
	}
	if (text != NULL)
		*len_r = strlen(text);
	return text;
}

void
rpc_reply(struct rpc_call *c, json_t *result)
{
	size_t len;
	char *text = rpc_dump(result, &len);

	rpc_reply_text(c, text, len);
}

/* ---- the result cache ----------------------------------------------- */

bool
rpc_cache_lookup(struct rpc_call *c, const char *fmt, ...)
{
	struct kr_rpc *rpc = c->req->rpc;
	const char *val;
	size_t vlen;
	va_list ap;
	bool hit;

	va_start(ap, fmt);
	hit = kr_cache_vlookup(rpc->cache, &c->key, rpc_user_key(c),
			       rpc->d.rt->cfg->cache.ttl_ms, &val, &vlen, fmt,
			       ap);
	va_end(ap);
	if (!hit)
		return false;
	if (rpc_charge(c, vlen) < 0)
		return true;
	kr_jsonrpc_set_result_text(c->req->batch, c->index, val, vlen);
	rpc_call_end(c);
	return true;
}

void
rpc_reply_cache_text(struct rpc_call *c, char *text, size_t len)
{
	struct kr_rpc *rpc = c->req->rpc;

	if (text == NULL || rpc_charge(c, len) < 0) {
		if (text == NULL)
			rpc_reply_text(c, NULL, 0);
		free(text);
		return;
	}
	kr_cache_put(rpc->cache, &c->key, text, len);
	kr_jsonrpc_take_result_text(c->req->batch, c->index, text, len);
	rpc_call_end(c);
}

void
rpc_reply_cache(struct rpc_call *c, json_t *result)
{
	size_t len;
	char *text = rpc_dump(result, &len);

	rpc_reply_cache_text(c, text, len);
}
