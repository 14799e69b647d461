/* HTTP/1.1 transport of the webmail API: the connections are
 * admin/httpd's (counted at accept, idle/read/write deadlines, TLS,
 * refusals); this file maps requests onto the dispatcher and its
 * answers back onto HTTP. */
#include "server/rpc/rpc_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/httpd.h"
#include "lib/config.h"
#include "proto/http.h"
#include "server/rpc/rpc.h"
#include "server/runtime.h"

struct kr_rpc_http {
	struct kr_runtime *rt;
	struct kr_rpc *rpc;
	struct kr_httpd *httpd;
};

/* What [jsonrpc] and the descriptor budget allow now. */
static void
rpc_http_limits(const struct kr_runtime *rt, struct kr_httpd_limits *lim)
{
	const struct kr_config *cfg = rt->cfg;

	*lim = (struct kr_httpd_limits){
		.max_connections = rt->fds.http_max > 0
					   ? rt->fds.http_max
					   : cfg->jsonrpc.max_connections,
		.http = {
			.header_max = cfg->jsonrpc.header_max,
			.body_max = cfg->jsonrpc.body_max,
			.headers_max = KR_HTTP_HEADERS_MAX_DEFAULT,
			.url_max = KR_HTTP_URL_MAX_DEFAULT,
		},
		.idle_timeout_ms = cfg->jsonrpc.idle_timeout_ms,
		.read_timeout_ms = cfg->jsonrpc.read_timeout_ms,
		.write_timeout_ms = cfg->jsonrpc.write_timeout_ms,
	};
}

/* An answer of our own: the status line's words as the body. */
static void
rpc_http_answer_text(struct kr_httpd_call *call, unsigned status,
		     const char *allow, bool close)
{
	const struct kr_httpd_answer a = {
		.status = status,
		.content_type = "text/plain",
		.allow = allow,
		.close = close,
	};
	char body[96];
	int n = snprintf(body, sizeof(body), "%u %s%s\n", status,
			 kr_http_reason(status), allow ? ": use POST" : "");

	kr_httpd_answer(call, &a, body,
			n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0);
}

static void
rpc_http_on_done(void *ctx, int status, char *body, size_t len)
{
	struct kr_httpd_call *call = ctx;

	if (status == 200 && body != NULL) {
		const struct kr_httpd_answer a = {
			.status = 200,
			.content_type = "application/json",
		};

		kr_httpd_answer_take(call, &a, body, len);
		return;
	}
	free(body);
	if (status == 200) {
		const struct kr_httpd_answer a = { .status = 204 };

		kr_httpd_answer(call, &a, NULL, 0);
		return;
	}
	/* 0: the dispatcher is going away. */
	if (status == 0)
		rpc_http_answer_text(call, 503, NULL, true);
	else
		rpc_http_answer_text(call, (unsigned)status, NULL, false);
}

/* A complete request: 404/405/415 here, the rest to the dispatcher. */
static void
rpc_http_request(void *ctx, struct kr_httpd_call *call,
		 const struct kr_httpd_request *req)
{
	struct kr_rpc_http *h = ctx;
	const struct kr_http_request *q = req->http;
	struct kr_rpc_input in = {
		.body = q->body,
		.len = q->body_len,
		.authorization = q->authorization,
		.peer = req->peer,
		.forwarded_for = q->forwarded_for,
	};

	if (!kr_http_target_is(q, "/rpc"))
		rpc_http_answer_text(call, 404, NULL, false);
	else if (!q->is_post)
		rpc_http_answer_text(call, 405, "POST", false);
	else if (!kr_http_media_type_is(q->content_type, "application/json"))
		rpc_http_answer_text(call, 415, NULL, false);
	else /* done may run before this returns: it only queues */
		kr_rpc_handle(h->rpc, &in, rpc_http_on_done, call);
}

struct kr_rpc_http *
kr_rpc_http_create(struct event_base *base, struct kr_runtime *rt,
		   struct kr_rpc *rpc, struct kr_err *err_r)
{
	struct kr_rpc_http *h = kr_xcalloc(1, sizeof(*h));
	struct kr_httpd_settings set = {
		.fd = rt->rpc_fd, /* the master's: not closed here */
		.tls = rt->rpc_tls,
		.log = rt->log,
		.name = "http",
		.handler = rpc_http_request,
		.ctx = h,
	};

	h->rt = rt;
	h->rpc = rpc;
	rpc_http_limits(rt, &set.limits);
	h->httpd = kr_httpd_create(base, &set, err_r);
	if (h->httpd == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void
kr_rpc_http_reload(struct kr_rpc_http *h)
{
	struct kr_httpd_limits lim;

	if (h == NULL)
		return;
	rpc_http_limits(h->rt, &lim);
	kr_httpd_configure(h->httpd, &lim);
}

void
kr_rpc_http_stop_accepting(struct kr_rpc_http *h)
{
	if (h != NULL)
		kr_httpd_stop_accepting(h->httpd);
}

unsigned
kr_rpc_http_connections(const struct kr_rpc_http *h)
{
	return h != NULL ? kr_httpd_connections(h->httpd) : 0;
}

unsigned
kr_rpc_http_pending(const struct kr_rpc_http *h)
{
	return h != NULL ? kr_httpd_pending(h->httpd) : 0;
}

void
kr_rpc_http_destroy(struct kr_rpc_http **hp)
{
	struct kr_rpc_http *h = *hp;

	if (h == NULL)
		return;
	kr_httpd_destroy(&h->httpd);
	free(h);
	*hp = NULL;
}
