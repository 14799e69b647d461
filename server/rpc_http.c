/* evhttp glue of the webmail API. libevent 2.1's evhttp has no limit
 * on connections and no hook when one opens; the first request on a
 * connection is the first moment we can see it, so that is where it is
 * counted (a set of evhttp_connection pointers, the close callback
 * takes it out). At max_connections the listener pauses; further
 * clients wait in the kernel's backlog, where another worker may take
 * them. A connection that never completes a request is not counted:
 * idle_timeout closes it. */
#include "server/rpc_http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/config.h"
#include "server/rpc.h"

#define HTTP_WRITE_MAX (256u << 10)

struct kr_rpc_http {
	struct evhttp *http;
	struct evconnlistener *lis; /* owned by http */
	SSL_CTX *tls;
	struct kr_rpc *rpc;
	/* Open addressing, linear probing; 2 * max_conns slots, a power
	 * of two, so it is at most half full. */
	struct evhttp_connection **conns;
	size_t conn_mask;
	unsigned n_conns, max_conns;
	unsigned pending;
	bool accepting;
};

/* One request handed to the dispatcher. */
struct http_call {
	struct kr_rpc_http *h;
	struct evhttp_request *req;
};

static size_t
http_conn_slot(const struct kr_rpc_http *h, const struct evhttp_connection *c)
{
	uint64_t x = (uint64_t)(uintptr_t)c;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & h->conn_mask;
}

static size_t
http_conn_find(const struct kr_rpc_http *h, const struct evhttp_connection *c)
{
	size_t i = http_conn_slot(h, c);

	while (h->conns[i] != NULL && h->conns[i] != c)
		i = (i + 1) & h->conn_mask;
	return i;
}

/* Backward-shift deletion keeps probe chains whole without tombstones. */
static void
http_conn_remove(struct kr_rpc_http *h, size_t i)
{
	size_t j = i;

	h->conns[i] = NULL;
	for (;;) {
		size_t home;

		j = (j + 1) & h->conn_mask;
		if (h->conns[j] == NULL)
			return;
		home = http_conn_slot(h, h->conns[j]);
		if (((j - home) & h->conn_mask) >= ((j - i) & h->conn_mask)) {
			h->conns[i] = h->conns[j];
			h->conns[j] = NULL;
			i = j;
		}
	}
}

static void
http_conn_gone(struct evhttp_connection *evcon, void *ctx)
{
	struct kr_rpc_http *h = ctx;
	size_t i = http_conn_find(h, evcon);

	if (h->conns[i] == NULL)
		return;
	http_conn_remove(h, i);
	if (h->n_conns-- == h->max_conns && h->accepting)
		evconnlistener_enable(h->lis);
}

static void
http_conn_seen(struct kr_rpc_http *h, struct evhttp_connection *evcon)
{
	size_t i = http_conn_find(h, evcon);
	struct bufferevent *bev;
	evutil_socket_t fd;
	int one = 1;

	if (h->conns[i] != NULL)
		return;
	h->conns[i] = evcon;
	evhttp_connection_set_closecb(evcon, http_conn_gone, h);
	/* evhttp writes the head and the body separately: with Nagle the
	 * body waits for the client's delayed ACK (40 ms a response). */
	bev = evhttp_connection_get_bufferevent(evcon);
	fd = bufferevent_getfd(bev);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A listing is 20-30 KB: one write, not two of libevent's 16 KB. */
	bufferevent_set_max_single_write(bev, HTTP_WRITE_MAX);
	if (++h->n_conns == h->max_conns)
		evconnlistener_disable(h->lis);
}

static struct bufferevent *
http_new_bev(struct event_base *base, void *ctx)
{
	struct kr_rpc_http *h = ctx;
	SSL *ssl = SSL_new(h->tls);
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL; /* evhttp then makes a plain one: it fails */
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
					     BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	return bev;
}

/* The path of the request URI, without a query: "/rpc". */
static bool
http_path_is(const struct evhttp_request *req, const char *path)
{
	const char *uri = evhttp_request_get_uri(req);
	size_t n = strlen(path);

	return strncmp(uri, path, n) == 0 && (uri[n] == '\0' || uri[n] == '?');
}

/* application/json, any case, parameters (charset) allowed. */
static bool
http_is_json(const char *type)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (type == NULL || strncasecmp(type, want, n) != 0)
		return false;
	type += n;
	while (*type == ' ' || *type == '\t')
		type++;
	return *type == '\0' || *type == ';';
}

static void
http_free_body(const void *data, size_t len, void *ctx)
{
	(void)len;
	(void)ctx;
	free((void *)data);
}

static void
http_on_done(void *ctx, int status, char *body, size_t len)
{
	struct http_call *c = ctx;
	struct evhttp_request *req = c->req;

	c->h->pending--;
	free(c);
	if (status != 200) { /* 0: the dispatcher is going away */
		evhttp_send_error(req, status ? status : HTTP_SERVUNAVAIL,
				  NULL);
		return;
	}
	if (body == NULL) {
		evhttp_send_reply(req, 204, "No Content", NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "application/json");
	if (evbuffer_add_reference(evhttp_request_get_output_buffer(req), body,
				   len, http_free_body, NULL) < 0) {
		free(body);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, 200, "OK", NULL);
}

/* 404/405/415 before any JSON is looked at; true when req may go on. */
static bool
http_admit(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);

	if (!http_path_is(req, "/rpc")) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return false;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		/* evhttp_send_error would drop the Allow header. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "POST");
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Content-Type", "text/plain");
		evbuffer_add_printf(evhttp_request_get_output_buffer(req),
				    "405 Method Not Allowed: use POST\n");
		evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
		return false;
	}
	if (!http_is_json(evhttp_find_header(in, "Content-Type"))) {
		evhttp_send_error(req, 415, "Unsupported Media Type");
		return false;
	}
	return true;
}

static void
http_on_request(struct evhttp_request *req, void *ctx)
{
	struct kr_rpc_http *h = ctx;
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct kr_rpc_input in = { 0 };
	struct http_call *c;
	char *peer = NULL;
	ev_uint16_t port = 0;

	http_conn_seen(h, evhttp_request_get_connection(req));
	if (!http_admit(req))
		return;
	c = malloc(sizeof(*c));
	if (c == NULL) {
		evhttp_send_error(req, HTTP_SERVUNAVAIL, NULL);
		return;
	}
	*c = (struct http_call){ .h = h, .req = req };
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer,
				   &port);
	in.len = evbuffer_get_length(body);
	in.body = in.len > 0 ? (const char *)evbuffer_pullup(body, -1) : "";
	in.authorization = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Authorization");
	in.peer = peer != NULL ? peer : "";
	in.forwarded_for = evhttp_find_header(
		evhttp_request_get_input_headers(req), "X-Forwarded-For");
	h->pending++;
	kr_rpc_handle(h->rpc, &in, http_on_done, c);
}

static int
http_setup(struct kr_rpc_http *h, struct event_base *base, int fd,
	   const struct kr_config *cfg, struct kr_err *err_r)
{
	struct timeval idle = {
		.tv_sec = cfg->jsonrpc.idle_timeout_ms / 1000,
		.tv_usec = (cfg->jsonrpc.idle_timeout_ms % 1000) * 1000,
	};

	h->http = evhttp_new(base);
	if (h->http == NULL)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "evhttp_new failed");
	/* Every verb reaches us, so the answer is 405, not evhttp's 501. */
	evhttp_set_allowed_methods(h->http, 0xffff);
	evhttp_set_max_body_size(h->http, (ev_ssize_t)cfg->jsonrpc.body_max);
	evhttp_set_max_headers_size(h->http,
				    (ev_ssize_t)cfg->jsonrpc.header_max);
	evhttp_set_timeout_tv(h->http, &idle);
	evhttp_set_default_content_type(h->http, "application/json");
	if (h->tls != NULL)
		evhttp_set_bevcb(h->http, http_new_bev, h);
	evhttp_set_gencb(h->http, http_on_request, h);
	h->lis = evconnlistener_new(base, NULL, NULL, LEV_OPT_CLOSE_ON_EXEC, -1,
				    fd);
	if (h->lis == NULL || evhttp_bind_listener(h->http, h->lis) == NULL) {
		if (h->lis != NULL)
			evconnlistener_free(h->lis);
		h->lis = NULL;
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "JSON-RPC listener set-up failed");
	}
	return 0;
}

struct kr_rpc_http *
kr_rpc_http_create(struct event_base *base, int fd, SSL_CTX *tls,
		   const struct kr_config *cfg, struct kr_rpc *rpc,
		   struct kr_err *err_r)
{
	struct kr_rpc_http *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		kr_err_set(err_r, KR_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	h->tls = tls;
	h->rpc = rpc;
	h->max_conns = cfg->jsonrpc.max_connections;
	h->conn_mask = 1;
	while (h->conn_mask < 2 * (size_t)h->max_conns)
		h->conn_mask <<= 1;
	h->conns = kr_xcalloc(h->conn_mask, sizeof(*h->conns));
	h->conn_mask--;
	h->accepting = true;
	if (http_setup(h, base, fd, cfg, err_r) < 0) {
		kr_rpc_http_destroy(&h);
		return NULL;
	}
	return h;
}

void
kr_rpc_http_stop_accepting(struct kr_rpc_http *h)
{
	if (h == NULL || !h->accepting)
		return;
	h->accepting = false;
	evconnlistener_disable(h->lis);
}

unsigned
kr_rpc_http_connections(const struct kr_rpc_http *h)
{
	return h != NULL ? h->n_conns : 0;
}

unsigned
kr_rpc_http_pending(const struct kr_rpc_http *h)
{
	return h != NULL ? h->pending : 0;
}

void
kr_rpc_http_destroy(struct kr_rpc_http **hp)
{
	struct kr_rpc_http *h = *hp;

	if (h == NULL)
		return;
	h->accepting = false;
	if (h->http != NULL)
		evhttp_free(h->http); /* frees the listener too */
	free(h->conns);
	free(h);
	*hp = NULL;
}
