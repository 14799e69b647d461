/* HTTP/1.1 connections on bufferevents, the framing parsed by
 * proto/http.
 *
 * A connection is a state machine (httpd_legal() lists the moves) with
 * one timer whose meaning follows the state, so that no byte a client
 * sends can push a deadline back:
 *   IDLE     no request begun: closed after idle_timeout;
 *   READING  a request is arriving: complete within read_timeout of
 *            its first byte, however it trickles in;
 *   RUNNING  the handler has it; nothing is read meanwhile (one
 *            request at a time: pipelined ones wait, in our input
 *            buffer up to HTTPD_READ_HIGH, then in the kernel);
 *   WRITING  the answer goes out: taken in full within write_timeout;
 *   LINGER   refused and half-closed: what the client still sends is
 *            read and dropped for HTTPD_LINGER_MS, so our kernel does
 *            not answer it with a reset that destroys the refusal
 *            before the client reads it (RFC 7230 §6.6).
 * Connections are counted at accept. At max_connections the listener
 * pauses (further clients wait in the kernel's backlog, where another
 * process sharing the socket may take them) and resumes when one
 * closes; an accept that fails (out of descriptors or memory) pauses
 * it for HTTPD_ACCEPT_RETRY_MS instead of spinning on the readable
 * socket. Every callback is deferred to the loop
 * (BEV_OPT_DEFER_CALLBACKS), so none runs inside another; a connection
 * is freed only from its own callbacks, drain and destroy, never while
 * the handler is being called. */
#include "admin/httpd.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"

/* A listing is 20-30 KB: one write, not two of libevent's 16 KB. */
#define HTTPD_WRITE_MAX (256u << 10)
/* Bytes read ahead of the parser (deferred callbacks run a loop turn
 * after the read; TLS decrypts whole records). */
#define HTTPD_READ_HIGH (64u << 10)
#define HTTPD_ACCEPT_RETRY_MS 500
#define HTTPD_LINGER_MS 2000
/* Pauses of the listener are logged at most this often. */
#define HTTPD_LOG_EVERY_US (10 * 1000000LL)
#define HTTPD_PEER_MAX 64
#define HTTPD_EVENT_MAX 48

struct httpd_lograte {
	int64_t last_us; /* the last line logged */
	unsigned count;	 /* pauses since the line before */
};

enum httpd_state {
	HTTPD_IDLE,
	HTTPD_READING,
	HTTPD_RUNNING,
	HTTPD_WRITING,
	HTTPD_LINGER,
};

struct httpd_conn {
	struct httpd_conn *prev, *next;
	struct kr_httpd *h;
	struct bufferevent *bev;
	struct event *timer;
	struct kr_http_reader *rd;
	struct kr_httpd_call *call; /* RUNNING: the handler's request */
	enum httpd_state state;
	/* The answer being written: */
	bool keep_alive; /* the next request may follow */
	bool http_1_0;
	bool head_only; /* HEAD: no body */
	bool linger;	/* refused: LINGER after it */
	bool have_sa;
	struct sockaddr_storage sa;
	char peer[HTTPD_PEER_MAX];
};

/* conn is NULL once the connection has closed, h once the server is
 * gone: the answer is then dropped. */
struct kr_httpd_call {
	struct kr_httpd_call *prev, *next;
	struct kr_httpd *h;
	struct httpd_conn *conn;
};

struct kr_httpd {
	struct event_base *base;
	struct kr_log *log;
	const char *name;
	struct ssl_ctx_st *tls;
	kr_httpd_handler_fn *handler;
	void *ctx;
	struct kr_httpd_limits lim;
	bool own_fd;
	struct evconnlistener *lis;
	struct event *retry; /* ends an accept back-off */
	struct httpd_conn *conns;
	struct kr_httpd_call *calls;
	unsigned n_conns;
	unsigned busy;	/* connections RUNNING or WRITING */
	bool accepting; /* until drain */
	bool listening; /* the listener is enabled */
	bool backoff;	/* an accept failed: waiting for retry */
	/* The pauses at the cap, and the back-offs after a failed
	 * accept, each logged at most once per HTTPD_LOG_EVERY_US (one
	 * must not hide the other). */
	struct httpd_lograte at_cap, failed;
};

static void httpd_conn_feed(struct httpd_conn *c);

/* "<name>.<what>" */
static bool
httpd_log_begin(struct kr_httpd *h, struct kr_log_line *line,
		enum kr_log_level level, const char *what)
{
	char event[HTTPD_EVENT_MAX];

	snprintf(event, sizeof(event), "%s.%s", h->name, what);
	return kr_log_begin(line, h->log, level, NULL, event);
}

/* One line per HTTPD_LOG_EVERY_US at most, counting the ones skipped:
 * a listener at its cap pauses and resumes with every close. */
static void
httpd_log_pause(struct kr_httpd *h, struct httpd_lograte *rate,
		const char *what, const char *msg, int err)
{
	int64_t now = kr_clock_mono_us();
	struct kr_log_line line;

	rate->count++;
	if (rate->last_us != 0 && now - rate->last_us < HTTPD_LOG_EVERY_US)
		return;
	if (httpd_log_begin(h, &line, KR_LOG_WARN, what)) {
		kr_log_str(&line, "msg", msg);
		if (err != 0)
			kr_log_str(&line, "error", strerrorname_np(err));
		kr_log_uint(&line, "connections", h->n_conns);
		kr_log_uint(&line, "max", h->lim.max_connections);
		kr_log_uint(&line, "pauses", rate->count);
		kr_log_end(&line);
	}
	rate->last_us = now;
	rate->count = 0;
}

/* The listener is on exactly when a client may be taken. */
static void
httpd_listen_update(struct kr_httpd *h)
{
	bool want = h->accepting && !h->backoff &&
		    h->n_conns < h->lim.max_connections;

	if (h->lis == NULL || want == h->listening)
		return;
	h->listening = want;
	if (want) {
		evconnlistener_enable(h->lis);
		return;
	}
	evconnlistener_disable(h->lis);
	if (h->accepting && !h->backoff)
		httpd_log_pause(h, &h->at_cap, "paused",
				"connection limit reached; not accepting", 0);
}

static bool
httpd_legal(enum httpd_state from, enum httpd_state to)
{
	switch (to) {
	case HTTPD_IDLE:
		return from == HTTPD_WRITING;
	case HTTPD_READING:
		return from == HTTPD_IDLE;
	case HTTPD_RUNNING:
		return from == HTTPD_READING;
	case HTTPD_WRITING:
		return from == HTTPD_READING || from == HTTPD_RUNNING;
	case HTTPD_LINGER:
		return from == HTTPD_WRITING;
	}
	return false;
}

static bool
httpd_is_busy(enum httpd_state s)
{
	return s == HTTPD_RUNNING || s == HTTPD_WRITING;
}

/* Arms the state's timer and reads only where the state wants input. */
static void
httpd_conn_arm(struct httpd_conn *c)
{
	const struct kr_httpd_limits *lim = &c->h->lim;
	unsigned ms = 0;

	switch (c->state) {
	case HTTPD_IDLE:
		ms = lim->idle_timeout_ms;
		break;
	case HTTPD_READING:
		ms = lim->read_timeout_ms;
		break;
	case HTTPD_RUNNING: /* the handler bounds its own work */
		break;
	case HTTPD_WRITING:
		ms = lim->write_timeout_ms;
		break;
	case HTTPD_LINGER:
		ms = HTTPD_LINGER_MS;
		break;
	}
	if (ms > 0) {
		struct timeval tv = { .tv_sec = ms / 1000,
				      .tv_usec = (ms % 1000) * 1000 };

		evtimer_add(c->timer, &tv);
	} else {
		evtimer_del(c->timer);
	}
	if (httpd_is_busy(c->state))
		bufferevent_disable(c->bev, EV_READ);
	else
		bufferevent_enable(c->bev, EV_READ);
}

static void
httpd_conn_enter(struct httpd_conn *c, enum httpd_state to)
{
	struct kr_httpd *h = c->h;

	if (!httpd_legal(c->state, to))
		kr_panic("httpd: state %d -> %d", (int)c->state, (int)to);
	h->busy += httpd_is_busy(to) ? 1 : 0;
	h->busy -= httpd_is_busy(c->state) ? 1 : 0;
	c->state = to;
	httpd_conn_arm(c);
}

static void
httpd_conn_close(struct httpd_conn *c)
{
	struct kr_httpd *h = c->h;

	if (c->call != NULL)
		c->call->conn = NULL; /* its answer goes nowhere */
	if (httpd_is_busy(c->state))
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
	httpd_listen_update(h);
}

static void
httpd_log_conn(struct httpd_conn *c, const char *what, const char *msg,
	       unsigned status)
{
	struct kr_log_line line;

	if (!httpd_log_begin(c->h, &line, KR_LOG_INFO, what))
		return;
	kr_log_str(&line, "peer", c->peer);
	if (status != 0)
		kr_log_uint(&line, "status", status);
	kr_log_str(&line, "msg", msg);
	kr_log_end(&line);
}

static void
httpd_free_ref(const void *data, size_t len, void *ctx)
{
	(void)len;
	(void)ctx;
	free((void *)data);
}

/* Queues an answer and waits for it to be taken. body: len bytes, or
 * NULL; owned: freed here or once sent. */
static void
httpd_conn_send(struct httpd_conn *c, const struct kr_httpd_answer *a,
		char *body, size_t len, bool owned)
{
	struct kr_http_response resp = {
		.status = a->status,
		.content_type = a->content_type,
		.allow = a->allow,
		.content_length = len,
		.close = !c->keep_alive,
		.keep_alive_1_0 = c->keep_alive && c->http_1_0,
		.fields = a->fields,
		.n_fields = a->n_fields,
	};
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char head[KR_HTTP_HEAD_MAX];
	size_t n = kr_http_response_head(&resp, head, sizeof(head));

	if (evbuffer_add(out, head, n) < 0)
		kr_panic("httpd: out of memory");
	if (body != NULL && len > 0 && !c->head_only) {
		/* No copy of a large answer: the buffer frees it. */
		if (owned && evbuffer_add_reference(out, body, len,
						    httpd_free_ref, NULL) == 0)
			body = NULL;
		else if (evbuffer_add(out, body, len) < 0)
			kr_panic("httpd: out of memory");
	}
	if (owned)
		free(body);
	httpd_conn_enter(c, HTTPD_WRITING);
}

/* The request cannot be read on: answer, then end the connection. */
static void
httpd_conn_refuse(struct httpd_conn *c, unsigned status)
{
	const struct kr_httpd_answer a = { .status = status,
					   .content_type = "text/plain" };
	char body[96];
	int n = snprintf(body, sizeof(body), "%u %s\n", status,
			 kr_http_reason(status));

	httpd_log_conn(c, "refused", "malformed or over a limit", status);
	c->keep_alive = false;
	c->http_1_0 = false;
	c->head_only = false;
	c->linger = true;
	httpd_conn_send(c, &a, body,
			n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0,
			false);
}

/* Unlinks and frees call; returns the connection still waiting for its
 * answer, or NULL. */
static struct httpd_conn *
httpd_call_end(struct kr_httpd_call *call)
{
	struct httpd_conn *c = call->conn;
	struct kr_httpd *h = call->h;

	if (h != NULL) {
		if (call->prev != NULL)
			call->prev->next = call->next;
		else
			h->calls = call->next;
		if (call->next != NULL)
			call->next->prev = call->prev;
	}
	free(call);
	if (c != NULL)
		c->call = NULL;
	return c;
}

static void
httpd_answer(struct kr_httpd_call *call, const struct kr_httpd_answer *a,
	     char *body, size_t len, bool owned)
{
	struct httpd_conn *c;

	if (a->status < 200 || a->status > 599 ||
	    ((a->status == 204 || a->status == 304) && len > 0))
		kr_panic("httpd: bad answer status %u", a->status);
	c = httpd_call_end(call);
	if (c == NULL) {
		if (owned)
			free(body);
		return;
	}
	/* Draining since the request came: the answer says so. */
	if (a->close || !c->h->accepting)
		c->keep_alive = false;
	httpd_conn_send(c, a, body, len, owned);
}

void
kr_httpd_answer(struct kr_httpd_call *call, const struct kr_httpd_answer *a,
		const char *body, size_t len)
{
	httpd_answer(call, a, (char *)body, len, false);
}

void
kr_httpd_answer_take(struct kr_httpd_call *call,
		     const struct kr_httpd_answer *a, char *body, size_t len)
{
	httpd_answer(call, a, body, len, true);
}

/* A complete request: to the handler, which may answer at once. */
static void
httpd_conn_request(struct httpd_conn *c)
{
	struct kr_httpd *h = c->h;
	const struct kr_http_request *q = kr_http_reader_request(c->rd);
	struct kr_httpd_call *call = kr_xcalloc(1, sizeof(*call));
	const struct kr_httpd_request req = {
		.http = q,
		.peer = c->peer,
		.peer_sa = c->have_sa ? (const struct sockaddr *)&c->sa : NULL,
	};

	c->keep_alive = q->keep_alive && h->accepting;
	c->http_1_0 = q->http_1_0;
	c->head_only = q->is_head;
	c->linger = false;
	call->h = h;
	call->conn = c;
	call->next = h->calls;
	if (h->calls != NULL)
		h->calls->prev = call;
	h->calls = call;
	c->call = call;
	httpd_conn_enter(c, HTTPD_RUNNING);
	h->handler(h->ctx, call, &req);
}

/* Feeds what was read to the parser, until a request is complete or
 * refused or the input is used up. */
static void
httpd_conn_feed(struct httpd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (c->state == HTTPD_IDLE || c->state == HTTPD_READING) {
		struct evbuffer_iovec v;
		size_t used = 0;
		int rc;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		if (c->state == HTTPD_IDLE) /* the read deadline starts */
			httpd_conn_enter(c, HTTPD_READING);
		rc = kr_http_reader_feed(c->rd, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (kr_http_reader_take_continue(c->rd))
			bufferevent_write(c->bev, KR_HTTP_CONTINUE,
					  strlen(KR_HTTP_CONTINUE));
		if (rc < 0)
			httpd_conn_refuse(c, kr_http_reader_status(c->rd));
		else if (rc > 0)
			httpd_conn_request(c);
	}
}

static void
httpd_conn_on_read(struct bufferevent *bev, void *ctx)
{
	struct httpd_conn *c = ctx;

	if (c->state == HTTPD_LINGER) {
		struct evbuffer *in = bufferevent_get_input(bev);

		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	httpd_conn_feed(c);
}

/* The answer is out; half-close and drop what still comes. */
static void
httpd_conn_linger(struct httpd_conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (fd < 0 || shutdown(fd, SHUT_WR) < 0) {
		httpd_conn_close(c);
		return;
	}
	evbuffer_drain(in, evbuffer_get_length(in));
	httpd_conn_enter(c, HTTPD_LINGER);
}

static void
httpd_conn_on_write(struct bufferevent *bev, void *ctx)
{
	struct httpd_conn *c = ctx;

	/* Not our answer (a 100 Continue), or more was queued since. */
	if (c->state != HTTPD_WRITING ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	/* Under TLS a half-close would skip close_notify: just close. */
	if (c->linger && c->h->tls == NULL) {
		httpd_conn_linger(c);
		return;
	}
	if (c->linger || !c->keep_alive || !c->h->accepting) {
		httpd_conn_close(c);
		return;
	}
	kr_http_reader_next(c->rd);
	httpd_conn_enter(c, HTTPD_IDLE);
	httpd_conn_feed(c); /* a pipelined request may be here already */
}

static void
httpd_conn_on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct httpd_conn *c = ctx;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) /* TLS handshake done */
		return;
	/* Half-closed after its request: the answer still goes out. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    httpd_is_busy(c->state)) {
		c->keep_alive = false;
		return;
	}
	httpd_conn_close(c);
}

/* A client that takes no answer would otherwise keep what the kernel
 * still holds for it (megabytes) in an orphaned socket for minutes: a
 * reset frees it at once. */
static void
httpd_conn_abort(struct httpd_conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	httpd_log_conn(c, "timeout", "answer not taken in time", 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void
httpd_conn_on_timer(evutil_socket_t fd, short what, void *ctx)
{
	struct httpd_conn *c = ctx;

	(void)fd;
	(void)what;
	if (c->state == HTTPD_READING)
		httpd_log_conn(c, "timeout", "request not complete in time", 0);
	else if (c->state == HTTPD_WRITING)
		httpd_conn_abort(c);
	httpd_conn_close(c);
}

static struct bufferevent *
httpd_bev_new(struct kr_httpd *h, evutil_socket_t fd)
{
	const int opt = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct bufferevent *bev;
	SSL *ssl;

	if (h->tls == NULL)
		return bufferevent_socket_new(h->base, fd, opt);
	ssl = SSL_new(h->tls);
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
httpd_peer(struct httpd_conn *c, const struct sockaddr *sa, int salen)
{
	const void *addr = NULL;

	if (sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)(const void *)sa)
				->sin_addr;
	else if (sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)(const void *)sa)
				->sin6_addr;
	if (addr == NULL || evutil_inet_ntop(sa->sa_family, addr, c->peer,
					     sizeof(c->peer)) == NULL)
		snprintf(c->peer, sizeof(c->peer), "unknown");
	if (salen > 0 && (size_t)salen <= sizeof(c->sa)) {
		memcpy(&c->sa, sa, (size_t)salen);
		c->have_sa = true;
	}
}

static void
httpd_conn_new(struct kr_httpd *h, evutil_socket_t fd,
	       const struct sockaddr *sa, int salen)
{
	struct bufferevent *bev = httpd_bev_new(h, fd);
	struct httpd_conn *c;
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
	c->rd = kr_http_reader_create(&h->lim.http);
	c->timer = evtimer_new(h->base, httpd_conn_on_timer, c);
	if (c->timer == NULL)
		kr_panic("httpd: out of memory");
	httpd_peer(c, sa, salen);
	bufferevent_set_max_single_write(bev, HTTPD_WRITE_MAX);
	bufferevent_setwatermark(bev, EV_READ, 0, HTTPD_READ_HIGH);
	bufferevent_setcb(bev, httpd_conn_on_read, httpd_conn_on_write,
			  httpd_conn_on_event, c);
	bufferevent_enable(bev, EV_WRITE);
	c->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = c;
	h->conns = c;
	h->n_conns++;
	c->state = HTTPD_IDLE;
	httpd_conn_arm(c);
}

static void
httpd_on_accept(struct evconnlistener *lis, evutil_socket_t fd,
		struct sockaddr *sa, int salen, void *ctx)
{
	struct kr_httpd *h = ctx;

	(void)lis;
	/* libevent stops accepting once we disable it; this is for a cap
	 * lowered by kr_httpd_configure. */
	if (!h->accepting || h->n_conns >= h->lim.max_connections) {
		evutil_closesocket(fd);
		httpd_listen_update(h);
		return;
	}
	httpd_conn_new(h, fd, sa, salen);
	httpd_listen_update(h);
}

/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the client stays in the backlog and
 * the socket readable, so retrying at once would spin; whatever else
 * failed is as likely to fail again. */
static void
httpd_on_accept_error(struct evconnlistener *lis, void *ctx)
{
	struct kr_httpd *h = ctx;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { .tv_usec = HTTPD_ACCEPT_RETRY_MS * 1000 };

	(void)lis;
	h->backoff = true;
	httpd_listen_update(h);
	httpd_log_pause(h, &h->failed, "accept_failed", "accept failed; paused",
			err);
	evtimer_add(h->retry, &tv);
}

static void
httpd_on_retry(evutil_socket_t fd, short what, void *ctx)
{
	struct kr_httpd *h = ctx;

	(void)fd;
	(void)what;
	h->backoff = false;
	httpd_listen_update(h);
}

static void
httpd_check_limits(const struct kr_httpd_limits *lim)
{
	if (lim->max_connections == 0 || lim->idle_timeout_ms == 0 ||
	    lim->read_timeout_ms == 0 || lim->write_timeout_ms == 0 ||
	    lim->http.header_max == 0 || lim->http.body_max == 0 ||
	    lim->http.headers_max == 0 || lim->http.url_max == 0)
		kr_panic("httpd: bad limits");
}

struct kr_httpd *
kr_httpd_create(struct event_base *base, const struct kr_httpd_settings *set,
		struct kr_err *err_r)
{
	struct kr_httpd *h = kr_xcalloc(1, sizeof(*h));
	unsigned flags = LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED;

	httpd_check_limits(&set->limits);
	h->base = base;
	h->log = set->log;
	h->name = set->name;
	h->tls = set->tls;
	h->handler = set->handler;
	h->ctx = set->ctx;
	h->lim = set->limits;
	h->own_fd = set->own_fd;
	h->retry = evtimer_new(base, httpd_on_retry, h);
	if (set->own_fd)
		flags |= LEV_OPT_CLOSE_ON_FREE;
	h->lis = evconnlistener_new(base, httpd_on_accept, h, flags, -1,
				    set->fd);
	if (h->retry == NULL || h->lis == NULL) {
		if (h->lis == NULL && set->own_fd)
			close(set->fd);
		kr_httpd_destroy(&h);
		kr_err_set(err_r, KR_ERR_INTERNAL,
			   "%s: HTTP listener set-up failed", set->name);
		return NULL;
	}
	evconnlistener_set_error_cb(h->lis, httpd_on_accept_error);
	h->accepting = true;
	httpd_listen_update(h);
	return h;
}

void
kr_httpd_configure(struct kr_httpd *h, const struct kr_httpd_limits *lim)
{
	httpd_check_limits(lim);
	h->lim = *lim;
	httpd_listen_update(h);
}

void
kr_httpd_stop_accepting(struct kr_httpd *h)
{
	if (h == NULL || !h->accepting)
		return;
	h->accepting = false;
	httpd_listen_update(h);
	for (struct httpd_conn *c = h->conns, *next; c != NULL; c = next) {
		next = c->next;
		if (c->state == HTTPD_IDLE)
			httpd_conn_close(c);
	}
}

unsigned
kr_httpd_connections(const struct kr_httpd *h)
{
	return h != NULL ? h->n_conns : 0;
}

unsigned
kr_httpd_pending(const struct kr_httpd *h)
{
	return h != NULL ? h->busy : 0;
}

void
kr_httpd_destroy(struct kr_httpd **hp)
{
	struct kr_httpd *h = *hp;

	if (h == NULL)
		return;
	h->accepting = false;
	while (h->conns != NULL)
		httpd_conn_close(h->conns);
	for (struct kr_httpd_call *call = h->calls; call != NULL;
	     call = call->next)
		call->h = NULL;
	if (h->lis != NULL)
		evconnlistener_free(h->lis);
	if (h->retry != NULL)
		event_free(h->retry);
	free(h);
	*hp = NULL;
}

static void
httpd_detach_fd(int null_fd, int fd)
{
	if (fd >= 0 && dup2(null_fd, fd) < 0)
		kr_panic("httpd: dup2 over a forked socket failed");
}

void
kr_httpd_destroy_forked(struct kr_httpd **hp)
{
	struct kr_httpd *h = *hp;
	int null_fd;

	if (h == NULL)
		return;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		kr_panic("httpd: cannot open /dev/null in a forked child");
	for (struct httpd_conn *c = h->conns; c != NULL; c = c->next)
		httpd_detach_fd(null_fd, bufferevent_getfd(c->bev));
	if (h->own_fd && h->lis != NULL)
		httpd_detach_fd(null_fd, evconnlistener_get_fd(h->lis));
	close(null_fd);
	kr_httpd_destroy(hp);
}
