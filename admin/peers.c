/* The other kurierd hosts of a dashboard: one HTTP client connection
 * per peer on the master's loop, polled by one periodic timer. */
#include "admin/peers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "lib/clock.h"
#include "lib/config.h"
#include "lib/limits.h"

#define PEERS_PATH "/api/overview"
#define PEERS_ERROR_MAX 48

/* One peer. Allocated on its own so that its address, the context of
 * its libevent callbacks, survives a reload that reorders the list. */
struct peer {
	struct kr_admin_peers *owner;
	char name[KR_CONFIG_ADDR_TEXT_MAX]; /* as configured; Host header */
	char host[INET6_ADDRSTRLEN];	    /* numeric, to connect to */
	unsigned port;
	/* Kept between polls (keep-alive; libevent reconnects when the
	 * peer closed it); NULL after a timeout dropped it. */
	struct evhttp_connection *conn;
	struct evhttp_request *req; /* in flight, owned by conn */
	struct event *deadline;	    /* armed while req is in flight */
	/* What libevent's error callback said about req, before its
	 * completion callback runs; -1: nothing. */
	int fail;
	int fail_errno;
	bool starting; /* inside evhttp_make_request */
	/* The last poll's outcome. */
	bool up;
	char error[PEERS_ERROR_MAX]; /* "" while up or never checked */
	int64_t checked_ms;	     /* 0: never checked */
	json_t *health, *rates, *workers, *nodes; /* NULL unless up */
};

struct kr_admin_peers {
	struct event_base *base;
	struct event *tick; /* the next round, every KR_ADMIN_PEERS_POLL_MS */
	char *token;
	char *auth; /* "Bearer <token>" */
	struct peer *peers[KR_ADMIN_PEERS_MAX];
	size_t n;
};

static void
peer_clear_overview(struct peer *pe)
{
	json_decref(pe->health);
	json_decref(pe->rates);
	json_decref(pe->workers);
	json_decref(pe->nodes);
	pe->health = pe->rates = pe->workers = pe->nodes = NULL;
}

static void peer_set_down(struct peer *pe, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
peer_set_down(struct peer *pe, const char *fmt, ...)
{
	va_list ap;

	peer_clear_overview(pe);
	pe->up = false;
	va_start(ap, fmt);
	vsnprintf(pe->error, sizeof(pe->error), fmt, ap);
	va_end(ap);
	pe->checked_ms = kr_clock_wall_ms();
}

/* Takes the overview's parts the host list shows; -1 unless it is an
 * object with a "health" string and "rates", "workers", "nodes"
 * objects. */
static int
peer_take_overview(struct peer *pe, json_t *doc)
{
	json_t *health = json_object_get(doc, "health");
	json_t *rates = json_object_get(doc, "rates");
	json_t *workers = json_object_get(doc, "workers");
	json_t *nodes = json_object_get(doc, "nodes");

	if (!json_is_string(health) || !json_is_object(rates) ||
	    !json_is_object(workers) || !json_is_object(nodes))
		return -1;
	peer_clear_overview(pe);
	pe->health = json_incref(health);
	pe->rates = json_incref(rates);
	pe->workers = json_incref(workers);
	pe->nodes = json_incref(nodes);
	pe->up = true;
	pe->error[0] = '\0';
	pe->checked_ms = kr_clock_wall_ms();
	return 0;
}

/* The socket's error behind an EOF or buffer error; NULL when there
 * is none to tell (a stale EAGAIN is none). */
static const char *
peer_errno_text(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connection refused";
	case ECONNRESET:
	case EPIPE:
		return "connection reset";
	case ENETUNREACH:
	case EHOSTUNREACH:
		return "unreachable";
	case ETIMEDOUT:
		return "timeout";
	case 0:
	case EAGAIN:
	case EINTR:
		return NULL;
	default:
		return "connection failed";
	}
}

/* libevent reports a failed request through its error callback (most
 * failures, the socket's errno restored) or, for a refused connect,
 * only by a completion without a status; a few words for the
 * dashboard either way. */
static const char *
peer_fail_text(const struct peer *pe)
{
	const char *text;

	switch (pe->fail) {
	case -1:
		return "connection refused";
	case EVREQ_HTTP_TIMEOUT:
		return "timeout";
	case EVREQ_HTTP_EOF:
		text = peer_errno_text(pe->fail_errno);
		return text != NULL ? text : "connection closed";
	case EVREQ_HTTP_INVALID_HEADER:
		return "bad HTTP answer";
	case EVREQ_HTTP_DATA_TOO_LONG:
		return "answer too large";
	default:
		text = peer_errno_text(pe->fail_errno);
		return text != NULL ? text : "connection failed";
	}
}

static void
peer_read_answer(struct peer *pe, struct evhttp_request *req)
{
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(body);
	int code = evhttp_request_get_response_code(req);
	json_error_t jerr;
	json_t *doc;

	if (code != HTTP_OK) {
		peer_set_down(pe, "HTTP %d", code);
		return;
	}
	/* libevent enforces the bound; this keeps it if that changes. */
	if (len > KR_ADMIN_PEERS_BODY_MAX) {
		peer_set_down(pe, "answer too large");
		return;
	}
	doc = json_loadb((const char *)evbuffer_pullup(body, -1), len,
			 JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL || peer_take_overview(pe, doc) < 0)
		peer_set_down(pe, "bad JSON");
	json_decref(doc);
}

static void
peer_on_error(enum evhttp_request_error error, void *ctx)
{
	struct peer *pe = ctx;

	pe->fail = (int)error;
	pe->fail_errno = errno; /* libevent restores the socket's error */
}

/* Completion: req is NULL after an error callback, or has no status
 * when the connect was refused; libevent frees it after we return, and
 * the connection stays for the next poll. */
static void
peer_on_done(struct evhttp_request *req, void *ctx)
{
	struct peer *pe = ctx;

	evtimer_del(pe->deadline);
	pe->req = NULL;
	if (pe->starting && pe->fail == -1 && errno != ECONNREFUSED)
		peer_set_down(pe, "connection failed");
	else if (req == NULL || evhttp_request_get_response_code(req) == 0)
		peer_set_down(pe, "%s", peer_fail_text(pe));
	else
		peer_read_answer(pe, req);
}

/* The whole poll's deadline, connect included (libevent's own
 * timeout is per read or write, so a trickling peer would never end).
 * Freeing the connection frees its request without a callback. */
static void
peer_on_deadline(evutil_socket_t fd, short what, void *ctx)
{
	struct peer *pe = ctx;

	(void)fd;
	(void)what;
	if (pe->conn != NULL)
		evhttp_connection_free(pe->conn);
	pe->conn = NULL;
	pe->req = NULL;
	peer_set_down(pe, "timeout");
}

static int
peer_connect(struct peer *pe)
{
	struct kr_admin_peers *p = pe->owner;
	struct timeval backstop = {
		.tv_sec = (KR_ADMIN_PEERS_TIMEOUT_MS + 1000) / 1000,
	};

	/* No evdns base: the host is numeric, so nothing resolves. */
	pe->conn = evhttp_connection_base_new(p->base, NULL, pe->host,
					      (ev_uint16_t)pe->port);
	if (pe->conn == NULL)
		return -1;
	evhttp_connection_set_max_body_size(pe->conn, KR_ADMIN_PEERS_BODY_MAX);
	evhttp_connection_set_max_headers_size(pe->conn,
					       KR_ADMIN_PEERS_HEADERS_MAX);
	evhttp_connection_set_timeout_tv(pe->conn, &backstop);
	evhttp_connection_set_retries(pe->conn, 0);
	return 0;
}

static void
peer_poll(struct peer *pe)
{
	struct kr_admin_peers *p = pe->owner;
	struct timeval deadline = {
		.tv_sec = KR_ADMIN_PEERS_TIMEOUT_MS / 1000,
		.tv_usec = (KR_ADMIN_PEERS_TIMEOUT_MS % 1000) * 1000,
	};
	struct evhttp_request *req;
	struct evkeyvalq *h;
	int rc;

	if (pe->req != NULL)
		return; /* one in flight per peer */
	if (pe->conn == NULL && peer_connect(pe) < 0) {
		peer_set_down(pe, "no connection");
		return;
	}
	req = evhttp_request_new(peer_on_done, pe);
	if (req == NULL) {
		peer_set_down(pe, "no request");
		return;
	}
	evhttp_request_set_error_cb(req, peer_on_error);
	h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", pe->name) < 0 ||
	    evhttp_add_header(h, "Authorization", p->auth) < 0 ||
	    evhttp_add_header(h, "Accept", "application/json") < 0) {
		evhttp_request_free(req);
		peer_set_down(pe, "no request");
		return;
	}
	pe->fail = -1;
	pe->fail_errno = 0;
	pe->req = req;
	pe->starting = true;
	rc = evhttp_make_request(pe->conn, req, EVHTTP_REQ_GET, PEERS_PATH);
	pe->starting = false;
	if (rc < 0) {
		/* libevent versions differ on whether req is freed then
		 * (2.1 may leave it unlinked): it is not touched again,
		 * and the connection is dropped with anything on it. */
		pe->req = NULL;
		evhttp_connection_free(pe->conn);
		pe->conn = NULL;
		peer_set_down(pe, "connection failed");
		return;
	}
	/* A connect that fails at once (no socket, no route) completes
	 * the request inside evhttp_make_request. */
	if (pe->req != NULL)
		evtimer_add(pe->deadline, &deadline);
}

/* Arms the next round in delay_ms (0: on the next loop turn). */
static void
peers_schedule(struct kr_admin_peers *p, unsigned delay_ms)
{
	struct timeval tv = {
		.tv_sec = delay_ms / 1000,
		.tv_usec = (delay_ms % 1000) * 1000,
	};

	evtimer_del(p->tick);
	evtimer_add(p->tick, &tv);
}

static void
peers_on_tick(evutil_socket_t fd, short what, void *ctx)
{
	struct kr_admin_peers *p = ctx;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < p->n; i++)
		peer_poll(p->peers[i]);
	if (p->n > 0)
		peers_schedule(p, KR_ADMIN_PEERS_POLL_MS);
}

/* Parses name into host and port; "localhost" is 127.0.0.1 here, so
 * that nothing asks a resolver. */
static int
peer_parse(const char *name, char *host_r, unsigned *port_r)
{
	if (strlen(name) >= KR_CONFIG_ADDR_TEXT_MAX ||
	    kr_config_parse_addr(name, host_r, INET6_ADDRSTRLEN, port_r) < 0)
		return -1;
	if (strcmp(host_r, "localhost") == 0)
		snprintf(host_r, INET6_ADDRSTRLEN, "127.0.0.1");
	return 0;
}

static int
peers_check_list(const char *const *peers, size_t n, const char *token,
		 struct kr_err *err_r)
{
	char host[INET6_ADDRSTRLEN];
	unsigned port;

	if (n > KR_ADMIN_PEERS_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "more than %d peers",
				  KR_ADMIN_PEERS_MAX);
	if (token == NULL || *token == '\0' ||
	    strlen(token) > KR_ADMIN_TOKEN_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "no admin token");
	for (size_t i = 0; i < n; i++) {
		if (peer_parse(peers[i], host, &port) < 0)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "peer %zu is not ip:port", i + 1);
		for (size_t j = 0; j < i; j++)
			if (strcmp(peers[i], peers[j]) == 0)
				return kr_err_set(err_r, KR_ERR_PERMANENT,
						  "peer %zu is listed twice",
						  i + 1);
	}
	return 0;
}

static struct peer *
peer_new(struct kr_admin_peers *p, const char *name)
{
	struct peer *pe = kr_xcalloc(1, sizeof(*pe));

	pe->owner = p;
	snprintf(pe->name, sizeof(pe->name), "%s", name);
	if (peer_parse(name, pe->host, &pe->port) < 0)
		kr_panic("peers: unchecked address");
	pe->deadline = evtimer_new(p->base, peer_on_deadline, pe);
	if (pe->deadline == NULL)
		kr_panic("peers: evtimer_new failed");
	pe->fail = -1;
	return pe;
}

static void
peer_free(struct peer *pe)
{
	/* Frees a request in flight without calling back. */
	if (pe->conn != NULL)
		evhttp_connection_free(pe->conn);
	event_free(pe->deadline);
	peer_clear_overview(pe);
	free(pe);
}

static void
peers_wipe_token(struct kr_admin_peers *p)
{
	if (p->token != NULL) {
		explicit_bzero(p->token, strlen(p->token));
		explicit_bzero(p->auth, strlen(p->auth));
	}
	free(p->token);
	free(p->auth);
	p->token = p->auth = NULL;
}

static void
peers_set_token(struct kr_admin_peers *p, const char *token)
{
	size_t auth_len = strlen("Bearer ") + strlen(token) + 1;
	char *auth = kr_xmalloc(auth_len);

	/* Built before the old one is wiped: token may be p->token. */
	snprintf(auth, auth_len, "Bearer %s", token);
	peers_wipe_token(p);
	p->auth = auth;
	p->token = kr_xstrdup(auth + strlen("Bearer "));
}

struct kr_admin_peers *
kr_admin_peers_create(struct event_base *base, const char *const *peers,
		      size_t n, const char *token, struct kr_err *err_r)
{
	struct kr_admin_peers *p;

	if (peers_check_list(peers, n, token, err_r) < 0)
		return NULL;
	p = kr_xcalloc(1, sizeof(*p));
	p->base = base;
	peers_set_token(p, token);
	p->tick = evtimer_new(base, peers_on_tick, p);
	if (p->tick == NULL)
		kr_panic("peers: evtimer_new failed");
	for (size_t i = 0; i < n; i++)
		p->peers[p->n++] = peer_new(p, peers[i]);
	/* The first round on the next loop turn, not a period late. */
	if (n > 0)
		peers_schedule(p, 0);
	return p;
}

int
kr_admin_peers_update(struct kr_admin_peers *p, const char *const *peers,
		      size_t n, const char *token, struct kr_err *err_r)
{
	struct peer *next[KR_ADMIN_PEERS_MAX] = { NULL };
	bool fresh = false;

	if (peers_check_list(peers, n, token, err_r) < 0)
		return -1;
	peers_set_token(p, token);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < p->n && next[i] == NULL; j++) {
			if (p->peers[j] != NULL &&
			    strcmp(p->peers[j]->name, peers[i]) == 0) {
				next[i] = p->peers[j];
				p->peers[j] = NULL;
			}
		}
		if (next[i] == NULL) {
			next[i] = peer_new(p, peers[i]);
			fresh = true;
		}
	}
	for (size_t j = 0; j < p->n; j++)
		if (p->peers[j] != NULL)
			peer_free(p->peers[j]);
	memcpy(p->peers, next, sizeof(next));
	p->n = n;
	if (fresh)
		peers_schedule(p, 0);
	else if (n == 0)
		evtimer_del(p->tick);
	return 0;
}

static json_t *
peer_json_copy(const json_t *v)
{
	return v != NULL ? json_deep_copy(v) : json_null();
}

static json_t *
peer_json(const struct peer *pe)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(pe->name));
	json_object_set_new(o, "self", json_false());
	json_object_set_new(o, "up", json_boolean(pe->up));
	json_object_set_new(o, "error",
			    pe->error[0] != '\0' ? json_string(pe->error)
						 : json_null());
	json_object_set_new(o, "checked_ms",
			    pe->checked_ms != 0 ? json_integer(pe->checked_ms)
						: json_null());
	json_object_set_new(o, "health", peer_json_copy(pe->health));
	json_object_set_new(o, "rates", peer_json_copy(pe->rates));
	json_object_set_new(o, "workers", peer_json_copy(pe->workers));
	json_object_set_new(o, "nodes", peer_json_copy(pe->nodes));
	return o;
}

json_t *
kr_admin_peers_json(const struct kr_admin_peers *p)
{
	json_t *a = json_array();

	if (a == NULL)
		kr_panic("peers: out of memory");
	for (size_t i = 0; i < p->n; i++)
		json_array_append_new(a, peer_json(p->peers[i]));
	return a;
}

void
kr_admin_peers_destroy(struct kr_admin_peers **pp)
{
	struct kr_admin_peers *p = *pp;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		peer_free(p->peers[i]);
	event_free(p->tick);
	peers_wipe_token(p);
	free(p);
	*pp = NULL;
}

void
kr_admin_peers_destroy_forked(struct kr_admin_peers **pp)
{
	struct kr_admin_peers *p = *pp;
	int null_fd;

	if (p == NULL)
		return;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		kr_panic("peers: cannot open /dev/null in a forked child");
	for (size_t i = 0; i < p->n; i++) {
		struct evhttp_connection *c = p->peers[i]->conn;
		int fd = c != NULL
				 ? bufferevent_getfd(
					   evhttp_connection_get_bufferevent(c))
				 : -1;

		if (fd >= 0 && dup2(null_fd, fd) < 0)
			kr_panic("peers: dup2 over a forked socket failed");
	}
	close(null_fd);
	kr_admin_peers_destroy(pp);
}
