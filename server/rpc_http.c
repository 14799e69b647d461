/* HTTP/1.1 transport of the webmail API: our own connections on
 * bufferevents, the framing parsed by proto/http.
 *
 * A connection is a state machine (http_legal() lists the moves) with
 * one timer whose meaning follows the state, so that no byte a client
 * sends can push a deadline back:
 *   IDLE     no request begun: closed after idle_timeout;
 *   READING  a request is arriving: complete within read_timeout of
 *            its first byte, however it trickles in;
 *   RUNNING  the dispatcher has it; nothing is read meanwhile (one
 *            request at a time: pipelined ones wait, in our input
 *            buffer up to HTTP_READ_HIGH, then in the kernel);
 *   WRITING  the answer goes out: taken in full within write_timeout;
 *   LINGER   refused and half-closed: what the client still sends is
 *            read and dropped for HTTP_LINGER_MS, so our kernel does not
 *            answer it with a reset that destroys the refusal before
 *            the client reads it (RFC 7230 §6.6).
 * Connections are counted at accept. At rt->fds.http_max the listener
 * pauses (further clients wait in the kernel's backlog, where another
 * worker may take them) and resumes when one closes; an accept that
 * fails (out of descriptors or memory) pauses it for
 * HTTP_ACCEPT_RETRY_MS instead of spinning on the readable socket.
 * Every callback is deferred to the loop (BEV_OPT_DEFER_CALLBACKS), so
 * none runs inside another; a connection is freed only from its own
 * callbacks, drain and destroy, never while the dispatcher is being
 * called. */
#include "server/rpc_http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/clock.h"
#include "lib/config.h"
#include "lib/log.h"
#include "proto/http.h"
#include "server/rpc.h"
#include "server/runtime.h"

/* A listing is 20-30 KB: one write, not two of libevent's 16 KB. */
#define HTTP_WRITE_MAX (256u << 10)
/* Bytes read ahead of the parser (deferred callbacks run a loop turn
 * after the read; TLS decrypts whole records). */
#define HTTP_READ_HIGH (64u << 10)
#define HTTP_ACCEPT_RETRY_MS 500
#define HTTP_LINGER_MS 2000
/* Pauses of the listener are logged at most this often. */
#define HTTP_LOG_EVERY_US (10 * 1000000LL)
#define HTTP_PEER_MAX 64

enum http_state {
	HTTP_IDLE,
	HTTP_READING,
	HTTP_RUNNING,
	HTTP_WRITING,
	HTTP_LINGER,
};

struct http_call;

struct http_conn {
	struct http_conn *prev, *next;
	struct kr_rpc_http *h;
	struct bufferevent *bev;
	struct event *timer;
	struct kr_http_reader *rd;
	struct http_call *call; /* RUNNING: the dispatcher's request */
	enum http_state state;
	/* The answer being written: */
	bool keep_alive; /* the next request may follow */
	bool http_1_0;
	bool head_only; /* HEAD: no body */
	bool linger;	/* refused: LINGER after it */
	char peer[HTTP_PEER_MAX];
};

/* A request with the dispatcher. conn is NULL once the connection has
 * closed, h once the transport is gone: the answer is then dropped. */
struct http_call {
	struct http_call *prev, *next;
	struct kr_rpc_http *h;
	struct http_conn *conn;
};

struct kr_rpc_http {
	struct event_base *base;
	struct kr_runtime *rt;
	struct kr_rpc *rpc;
	struct evconnlistener *lis;
	struct event *retry; /* ends an accept back-off */
	struct http_conn *conns;
	struct http_call *calls;
	unsigned n_conns;
	unsigned busy;	 /* connections RUNNING or WRITING */
	bool accepting;	 /* until drain */
	bool listening;	 /* the listener is enabled */
	bool backoff;	 /* an accept failed: waiting for retry */
	int64_t log_us;	 /* the last pause logged */
	unsigned pauses; /* pauses since */
};

static void http_conn_feed(struct http_conn *c);

static unsigned
http_cap(const struct kr_rpc_http *h)
{
	unsigned cap = h->rt->fds.http_max;

	return cap > 0 ? cap : h->rt->cfg->jsonrpc.max_connections;
}

/* One line per HTTP_LOG_EVERY_US at most, counting the ones skipped:
 * a listener at its cap pauses and resumes with every close. */
static void
http_log_pause(struct kr_rpc_http *h, const char *event, const char *msg,
	       int err)
{
	int64_t now = kr_clock_mono_us();
	struct kr_log_line line;

	h->pauses++;
	if (h->log_us != 0 && now - h->log_us < HTTP_LOG_EVERY_US)
		return;
	if (kr_log_begin(&line, h->rt->log, KR_LOG_WARN, NULL, event)) {
		kr_log_str(&line, "msg", msg);
		if (err != 0)
			kr_log_str(&line, "error", strerrorname_np(err));
		kr_log_uint(&line, "connections", h->n_conns);
		kr_log_uint(&line, "max", http_cap(h));
		kr_log_uint(&line, "pauses", h->pauses);
		kr_log_end(&line);
	}
	h->log_us = now;
	h->pauses = 0;
}

/* The listener is on exactly when a client may be taken. */
static void
http_listen_update(struct kr_rpc_http *h)
{
	bool want = h->accepting && !h->backoff && h->n_conns < http_cap(h);

	if (want == h->listening)
		return;
	h->listening = want;
	if (want) {
		evconnlistener_enable(h->lis);
		return;
	}
	evconnlistener_disable(h->lis);
	if (h->accepting && !h->backoff)
		http_log_pause(h, "http.paused",
			       "connection limit reached; not accepting", 0);
}

static bool
http_legal(enum http_state from, enum http_state to)
{
	switch (to) {
	case HTTP_IDLE:
		return from == HTTP_WRITING;
	case HTTP_READING:
		return from == HTTP_IDLE;
	case HTTP_RUNNING:
		return from == HTTP_READING;
	case HTTP_WRITING:
		return from == HTTP_READING || from == HTTP_RUNNING;
	case HTTP_LINGER:
		return from == HTTP_WRITING;
	}
	return false;
}

static bool
http_is_busy(enum http_state s)
{
	return s == HTTP_RUNNING || s == HTTP_WRITING;
}

/* Arms the state's timer and reads only where the state wants input. */
static void
http_conn_arm(struct http_conn *c)
{
	const struct kr_config *cfg = c->h->rt->cfg;
	unsigned ms = 0;

	switch (c->state) {
	case HTTP_IDLE:
		ms = cfg->jsonrpc.idle_timeout_ms;
		break;
	case HTTP_READING:
		ms = cfg->jsonrpc.read_timeout_ms;
		break;
	case HTTP_RUNNING: /* request_timeout bounds the dispatcher */
		break;
	case HTTP_WRITING:
		ms = cfg->jsonrpc.write_timeout_ms;
		break;
	case HTTP_LINGER:
		ms = HTTP_LINGER_MS;
		break;
	}
	if (ms > 0) {
		struct timeval tv = { .tv_sec = ms / 1000,
				      .tv_usec = (ms % 1000) * 1000 };

		evtimer_add(c->timer, &tv);
	} else {
		evtimer_del(c->timer);
	}
	if (c->state == HTTP_RUNNING || c->state == HTTP_WRITING)
		bufferevent_disable(c->bev, EV_READ);
	else
		bufferevent_enable(c->bev, EV_READ);
}

static void
http_conn_enter(struct http_conn *c, enum http_state to)
{
	struct kr_rpc_http *h = c->h;

	if (!http_legal(c->state, to))
		kr_panic("rpc_http: state %d -> %d", (int)c->state, (int)to);
	h->busy += http_is_busy(to) ? 1 : 0;
	h->busy -= http_is_busy(c->state) ? 1 : 0;
	c->state = to;
	http_conn_arm(c);
}

static void
http_conn_close(struct http_conn *c)
{
	struct kr_rpc_http *h = c->h;

	if (c->call != NULL)
		c->call->conn = NULL; /* its answer goes nowhere */
	if (http_is_busy(c->state))
		h->busy--;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	h->n_conns--;
	event_free(c->timer);
	bufferevent_free(c->bev); /* closes the socket */
	kr_http_reader_destroy(&c->rd);
	free(c);
	http_listen_update(h);
}

static void
http_log_conn(struct http_conn *c, const char *event, const char *msg,
	      unsigned status)
{
	struct kr_log_line line;

	if (!kr_log_begin(&line, c->h->rt->log, KR_LOG_INFO, NULL, event))
		return;
	kr_log_str(&line, "peer", c->peer);
	if (status != 0)
		kr_log_uint(&line, "status", status);
	kr_log_str(&line, "msg", msg);
	kr_log_end(&line);
}

static void
http_free_ref(const void *data, size_t len, void *ctx)
{
	(void)len;
	(void)ctx;
	free((void *)data);
}

/* Queues an answer and waits for it to be taken. body: len bytes, or
 * NULL; owned: freed here or once sent. */
static void
http_conn_send(struct http_conn *c, unsigned status, const char *type,
	       const char *allow, char *body, size_t len, bool owned)
{
	struct kr_http_response resp = {
		.status = status,
		.content_type = type,
		.allow = allow,
		.content_length = len,
		.close = !c->keep_alive,
		.keep_alive_1_0 = c->keep_alive && c->http_1_0,
	};
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char head[KR_HTTP_HEAD_MAX];
	size_t n = kr_http_response_head(&resp, head, sizeof(head));

	if (evbuffer_add(out, head, n) < 0)
		kr_panic("rpc_http: out of memory");
	if (body != NULL && len > 0 && !c->head_only) {
		/* No copy of a large answer: the buffer frees it. */
		if (owned && evbuffer_add_reference(out, body, len,
						    http_free_ref, NULL) == 0)
			body = NULL;
		else if (evbuffer_add(out, body, len) < 0)
			kr_panic("rpc_http: out of memory");
	}
	if (owned)
		free(body);
	http_conn_enter(c, HTTP_WRITING);
}

/* An answer of our own: the status line's words as the body. */
static void
http_conn_send_text(struct http_conn *c, unsigned status, const char *allow)
{
	char body[96];
	int n = snprintf(body, sizeof(body), "%u %s%s\n", status,
			 kr_http_reason(status), allow ? ": use POST" : "");

	http_conn_send(c, status, "text/plain", allow, body,
		       n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0,
		       false);
}

/* The request cannot be read on: answer, then end the connection. */
static void
http_conn_refuse(struct http_conn *c, unsigned status)
{
	http_log_conn(c, "http.refused", "malformed or over a limit", status);
	c->keep_alive = false;
	c->http_1_0 = false;
	c->head_only = false;
	c->linger = true;
	http_conn_send_text(c, status, NULL);
}

static void
http_on_done(void *ctx, int status, char *body, size_t len)
{
	struct http_call *call = ctx;
	struct http_conn *c = call->conn;
	struct kr_rpc_http *h = call->h;

	if (h != NULL) {
		if (call->prev != NULL)
			call->prev->next = call->next;
		else
			h->calls = call->next;
		if (call->next != NULL)
			call->next->prev = call->prev;
	}
	free(call);
	if (c == NULL) {
		free(body);
		return;
	}
	c->call = NULL;
	if (status == 200 && body != NULL) {
		http_conn_send(c, 200, "application/json", NULL, body, len,
			       true);
		return;
	}
	free(body);
	if (status == 200) {
		http_conn_send(c, 204, NULL, NULL, NULL, 0, false);
		return;
	}
	if (status == 0) { /* the dispatcher is going away */
		c->keep_alive = false;
		status = 503;
	}
	http_conn_send_text(c, (unsigned)status, NULL);
}

static void
http_conn_dispatch(struct http_conn *c, const struct kr_http_request *q)
{
	struct kr_rpc_http *h = c->h;
	struct http_call *call = kr_xcalloc(1, sizeof(*call));
	struct kr_rpc_input in = {
		.body = q->body,
		.len = q->body_len,
		.authorization = q->authorization,
		.peer = c->peer,
		.forwarded_for = q->forwarded_for,
	};

	call->h = h;
	call->conn = c;
	call->next = h->calls;
	if (h->calls != NULL)
		h->calls->prev = call;
	h->calls = call;
	c->call = call;
	http_conn_enter(c, HTTP_RUNNING);
	/* done may run before this returns: it only queues the answer. */
	kr_rpc_handle(h->rpc, &in, http_on_done, call);
}

/* A complete request: 404/405/415 here, the rest to the dispatcher. */
static void
http_conn_request(struct http_conn *c)
{
	const struct kr_http_request *q = kr_http_reader_request(c->rd);

	c->keep_alive = q->keep_alive && c->h->accepting;
	c->http_1_0 = q->http_1_0;
	c->head_only = q->is_head;
	c->linger = false;
	if (!kr_http_target_is(q, "/rpc"))
		http_conn_send_text(c, 404, NULL);
	else if (!q->is_post)
		http_conn_send_text(c, 405, "POST");
	else if (!kr_http_media_type_is(q->content_type, "application/json"))
		http_conn_send_text(c, 415, NULL);
	else
		http_conn_dispatch(c, q);
}

/* Feeds what was read to the parser, until a request is complete or
 * refused or the input is used up. */
static void
http_conn_feed(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (c->state == HTTP_IDLE || c->state == HTTP_READING) {
		struct evbuffer_iovec v;
		size_t used = 0;
		int rc;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		if (c->state == HTTP_IDLE) /* the read deadline starts */
			http_conn_enter(c, HTTP_READING);
		rc = kr_http_reader_feed(c->rd, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (kr_http_reader_take_continue(c->rd))
			bufferevent_write(c->bev, KR_HTTP_CONTINUE,
					  strlen(KR_HTTP_CONTINUE));
		if (rc < 0)
			http_conn_refuse(c, kr_http_reader_status(c->rd));
		else if (rc > 0)
			http_conn_request(c);
	}
}

static void
http_conn_on_read(struct bufferevent *bev, void *ctx)
{
	struct http_conn *c = ctx;

	if (c->state == HTTP_LINGER) {
		struct evbuffer *in = bufferevent_get_input(bev);

		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	http_conn_feed(c);
}

/* The answer is out; half-close and drop what still comes. */
static void
http_conn_linger(struct http_conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (fd < 0 || shutdown(fd, SHUT_WR) < 0) {
		http_conn_close(c);
		return;
	}
	evbuffer_drain(in, evbuffer_get_length(in));
	http_conn_enter(c, HTTP_LINGER);
}

static void
http_conn_on_write(struct bufferevent *bev, void *ctx)
{
	struct http_conn *c = ctx;

	/* Not our answer (a 100 Continue), or more was queued since. */
	if (c->state != HTTP_WRITING ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (c->linger && c->h->rt->rpc_tls == NULL) {
		http_conn_linger(c);
		return;
	}
	if (c->linger || !c->keep_alive || !c->h->accepting) {
		http_conn_close(c);
		return;
	}
	kr_http_reader_next(c->rd);
	http_conn_enter(c, HTTP_IDLE);
	http_conn_feed(c); /* a pipelined request may be here already */
}

static void
http_conn_on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct http_conn *c = ctx;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) /* TLS handshake done */
		return;
	/* Half-closed after its request: the answer still goes out. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    http_is_busy(c->state)) {
		c->keep_alive = false;
		return;
	}
	http_conn_close(c);
}

/* A client that takes no answer would otherwise keep what the kernel
 * still holds for it (megabytes) in an orphaned socket for minutes: a
 * reset frees it at once. */
static void
http_conn_abort(struct http_conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	http_log_conn(c, "http.timeout", "answer not taken in time", 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void
http_conn_on_timer(evutil_socket_t fd, short what, void *ctx)
{
	struct http_conn *c = ctx;

	(void)fd;
	(void)what;
	if (c->state == HTTP_READING)
		http_log_conn(c, "http.timeout", "request not complete in time",
			      0);
	else if (c->state == HTTP_WRITING)
		http_conn_abort(c);
	http_conn_close(c);
}

static struct bufferevent *
http_bev_new(struct kr_rpc_http *h, evutil_socket_t fd)
{
	const int opt = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct bufferevent *bev;
	SSL *ssl;

	if (h->rt->rpc_tls == NULL)
		return bufferevent_socket_new(h->base, fd, opt);
	ssl = SSL_new(h->rt->rpc_tls);
	if (ssl == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(h->base, fd, ssl,
					     BUFFEREVENT_SSL_ACCEPTING, opt);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* A client that ends without close_notify ends like a plain EOF:
	 * nothing we sent depends on it. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void
http_peer(const struct sockaddr *sa, char *buf, size_t cap)
{
	const void *addr = NULL;

	if (sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)(const void *)sa)
				->sin_addr;
	else if (sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)(const void *)sa)
				->sin6_addr;
	if (addr == NULL ||
	    evutil_inet_ntop(sa->sa_family, addr, buf, cap) == NULL)
		snprintf(buf, cap, "unknown");
}

static void
http_conn_new(struct kr_rpc_http *h, evutil_socket_t fd,
	      const struct sockaddr *sa)
{
	const struct kr_config *cfg = h->rt->cfg;
	const struct kr_http_limits lim = {
		.header_max = cfg->jsonrpc.header_max,
		.body_max = cfg->jsonrpc.body_max,
		.headers_max = KR_HTTP_HEADERS_MAX_DEFAULT,
		.url_max = KR_HTTP_URL_MAX_DEFAULT,
	};
	struct bufferevent *bev = http_bev_new(h, fd);
	struct http_conn *c;
	int one = 1;

	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	/* A 100 Continue or a short answer must not wait for the
	 * client's delayed ACK (Nagle: 40 ms). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = kr_xcalloc(1, sizeof(*c));
	c->h = h;
	c->bev = bev;
	c->rd = kr_http_reader_create(&lim);
	c->timer = evtimer_new(h->base, http_conn_on_timer, c);
	if (c->timer == NULL)
		kr_panic("rpc_http: out of memory");
	http_peer(sa, c->peer, sizeof(c->peer));
	bufferevent_set_max_single_write(bev, HTTP_WRITE_MAX);
	bufferevent_setwatermark(bev, EV_READ, 0, HTTP_READ_HIGH);
	bufferevent_setcb(bev, http_conn_on_read, http_conn_on_write,
			  http_conn_on_event, c);
	bufferevent_enable(bev, EV_WRITE);
	c->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = c;
	h->conns = c;
	h->n_conns++;
	c->state = HTTP_IDLE;
	http_conn_arm(c);
}

static void
http_on_accept(struct evconnlistener *lis, evutil_socket_t fd,
	       struct sockaddr *sa, int salen, void *ctx)
{
	struct kr_rpc_http *h = ctx;

	(void)lis;
	(void)salen;
	/* libevent stops accepting once we disable it; this is for a cap
	 * lowered by a reload. */
	if (!h->accepting || h->n_conns >= http_cap(h)) {
		evutil_closesocket(fd);
		http_listen_update(h);
		return;
	}
	http_conn_new(h, fd, sa);
	http_listen_update(h);
}

/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the client stays in the backlog and
 * the socket readable, so retrying at once would spin; whatever else
 * failed is as likely to fail again. */
static void
http_on_accept_error(struct evconnlistener *lis, void *ctx)
{
	struct kr_rpc_http *h = ctx;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { .tv_usec = HTTP_ACCEPT_RETRY_MS * 1000 };

	(void)lis;
	h->backoff = true;
	http_listen_update(h);
	http_log_pause(h, "http.accept_failed", "accept failed; paused", err);
	evtimer_add(h->retry, &tv);
}

static void
http_on_retry(evutil_socket_t fd, short what, void *ctx)
{
	struct kr_rpc_http *h = ctx;

	(void)fd;
	(void)what;
	h->backoff = false;
	http_listen_update(h);
}

struct kr_rpc_http *
kr_rpc_http_create(struct event_base *base, struct kr_runtime *rt,
		   struct kr_rpc *rpc, struct kr_err *err_r)
{
	struct kr_rpc_http *h = kr_xcalloc(1, sizeof(*h));

	h->base = base;
	h->rt = rt;
	h->rpc = rpc;
	h->retry = evtimer_new(base, http_on_retry, h);
	/* The master owns the socket: no close on free. */
	h->lis = evconnlistener_new(base, http_on_accept, h,
				    LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
				    -1, rt->rpc_fd);
	if (h->retry == NULL || h->lis == NULL) {
		kr_rpc_http_destroy(&h);
		kr_err_set(err_r, KR_ERR_INTERNAL,
			   "JSON-RPC listener set-up failed");
		return NULL;
	}
	evconnlistener_set_error_cb(h->lis, http_on_accept_error);
	h->accepting = true;
	http_listen_update(h);
	return h;
}

void
kr_rpc_http_stop_accepting(struct kr_rpc_http *h)
{
	if (h == NULL || !h->accepting)
		return;
	h->accepting = false;
	http_listen_update(h);
	for (struct http_conn *c = h->conns, *next; c != NULL; c = next) {
		next = c->next;
		if (c->state == HTTP_IDLE)
			http_conn_close(c);
	}
}

unsigned
kr_rpc_http_connections(const struct kr_rpc_http *h)
{
	return h != NULL ? h->n_conns : 0;
}

unsigned
kr_rpc_http_pending(const struct kr_rpc_http *h)
{
	return h != NULL ? h->busy : 0;
}

void
kr_rpc_http_destroy(struct kr_rpc_http **hp)
{
	struct kr_rpc_http *h = *hp;

	if (h == NULL)
		return;
	h->accepting = false;
	while (h->conns != NULL)
		http_conn_close(h->conns);
	for (struct http_call *call = h->calls; call != NULL; call = call->next)
		call->h = NULL;
	if (h->lis != NULL)
		evconnlistener_free(h->lis);
	if (h->retry != NULL)
		event_free(h->retry);
	free(h);
	*hp = NULL;
}
