/* admin/peers over loopback with a real event_base and, on the other
 * side of the wire, small libevent HTTP servers standing in for other
 * kurierd admins: a good overview (IPv4 and IPv6), a wrong token (401),
 * another status, garbage, an overview missing its parts, a body at
 * the size limit and one byte over, a peer that accepts and never
 * answers, one that never accepts, a closed port. Then recovery, one
 * request per peer in flight, the list changed by a reload, the list
 * checks, and freeing with requests in flight (also in a forked
 * child, which must leave the parent's request alone). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin/peers.h"
#include "lib/clock.h"
#include "lib/limits.h"

#define TOKEN "test-token-0123456789abcdef0123456789"
#define OTHER_TOKEN "other-token-0123456789abcdef012345678"
#define SRV_MAX 14

#define OVERVIEW_HEAD                                                 \
	"{\"host\":\"peer\",\"health\":\"degraded\",\"problems\":[]," \
	"\"rates\":{\"lmtp_msgs\":12.5,\"rpc_calls\":null},"          \
	"\"workers\":{\"serving\":2,\"total\":2,\"restarts\":1},"     \
	"\"nodes\":{\"up\":19,\"down\":1,\"draining\":0,\"total\":20}"

enum srv_kind {
	SRV_GOOD,    /* the overview, if the token is right; else 401 */
	SRV_STATUS,  /* srv->status, empty body */
	SRV_GARBAGE, /* 200, not JSON */
	SRV_PARTIAL, /* 200, JSON without "nodes" */
	SRV_SIZED,   /* 200, a good overview padded to srv->size bytes */
	SRV_HANG,    /* takes the request, never answers */
	SRV_DELAY,   /* the overview after srv->delay_ms */
};

struct srv {
	struct event_base *base;
	struct evhttp *http;
	enum srv_kind kind;
	const char *token;
	int status;
	size_t size;
	unsigned delay_ms;
	unsigned requests;
	char last_host[80];
	char last_auth[128];
	char name[80]; /* "127.0.0.1:port" */
};

struct delayed {
	struct evhttp_request *req;
	struct event *ev;
};

struct env {
	struct event_base *base;
	struct event *wake; /* keeps EVLOOP_ONCE from sleeping long */
	struct srv srv[SRV_MAX];
	size_t n_srv;
	int raw_fd[2]; /* the listener that never accepts; unused */
};

static void
send_overview(struct evhttp_request *req, size_t size)
{
	struct evbuffer *b = evbuffer_new();
	size_t head = strlen(OVERVIEW_HEAD ",\"pad\":\"") + strlen("\"}");

	assert_non_null(b);
	evbuffer_add_printf(b, "%s", OVERVIEW_HEAD);
	if (size > 0) {
		assert_true(size >= head);
		evbuffer_add_printf(b, ",\"pad\":\"");
		for (size_t i = 0; i < size - head; i++)
			evbuffer_add(b, "x", 1);
		evbuffer_add_printf(b, "\"");
	}
	evbuffer_add_printf(b, "}");
	if (size > 0)
		assert_int_equal(evbuffer_get_length(b), size);
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "application/json");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

static void
on_delayed(evutil_socket_t fd, short what, void *ctx)
{
	struct delayed *d = ctx;

	(void)fd;
	(void)what;
	send_overview(d->req, 0);
	event_free(d->ev);
	free(d);
}

static void
srv_reply(struct srv *s, struct evhttp_request *req)
{
	struct evbuffer *b;
	struct delayed *d;
	struct timeval tv;

	switch (s->kind) {
	case SRV_GOOD:
		send_overview(req, 0);
		return;
	case SRV_STATUS:
		evhttp_send_reply(req, s->status, "Nope", NULL);
		return;
	case SRV_GARBAGE:
	case SRV_PARTIAL:
		b = evbuffer_new();
		evbuffer_add_printf(b, "%s",
				    s->kind == SRV_GARBAGE
					    ? "<html>not json"
					    : "{\"health\":\"ok\",\"rates\":{},"
					      "\"workers\":{}}");
		evhttp_send_reply(req, HTTP_OK, "OK", b);
		evbuffer_free(b);
		return;
	case SRV_SIZED:
		send_overview(req, s->size);
		return;
	case SRV_HANG:
		return;
	case SRV_DELAY:
		d = calloc(1, sizeof(*d));
		assert_non_null(d);
		d->req = req;
		d->ev = evtimer_new(s->base, on_delayed, d);
		tv.tv_sec = s->delay_ms / 1000;
		tv.tv_usec = (s->delay_ms % 1000) * 1000;
		evtimer_add(d->ev, &tv);
		return;
	}
}

static void
srv_on_request(struct evhttp_request *req, void *ctx)
{
	struct srv *s = ctx;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *host = evhttp_find_header(h, "Host");
	const char *auth = evhttp_find_header(h, "Authorization");
	char want[128];

	s->requests++;
	snprintf(s->last_host, sizeof(s->last_host), "%s", host ? host : "");
	snprintf(s->last_auth, sizeof(s->last_auth), "%s", auth ? auth : "");
	snprintf(want, sizeof(want), "Bearer %s", s->token);
	if (strcmp(evhttp_request_get_uri(req), "/api/overview") != 0 ||
	    evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_reply(req, HTTP_NOTFOUND, "Not Found", NULL);
		return;
	}
	if (strcmp(s->last_auth, want) != 0) {
		evhttp_send_reply(req, 401, "Unauthorized", NULL);
		return;
	}
	srv_reply(s, req);
}

/* A server on ip (127.0.0.1 or ::1), port picked by the kernel; NULL
 * when the address is not available (no IPv6). */
static struct srv *
srv_start(struct env *e, const char *ip, enum srv_kind kind)
{
	struct srv *s = &e->srv[e->n_srv];
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	unsigned port;

	assert_true(e->n_srv < SRV_MAX);
	memset(s, 0, sizeof(*s));
	s->base = e->base;
	s->kind = kind;
	s->token = TOKEN;
	s->http = evhttp_new(e->base);
	assert_non_null(s->http);
	evhttp_set_gencb(s->http, srv_on_request, s);
	bs = evhttp_bind_socket_with_handle(s->http, ip, 0);
	if (bs == NULL) {
		evhttp_free(s->http);
		return NULL;
	}
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
				     (struct sockaddr *)&ss, &len),
			 0);
	port = ntohs(ss.ss_family == AF_INET6
			     ? ((struct sockaddr_in6 *)&ss)->sin6_port
			     : ((struct sockaddr_in *)&ss)->sin_port);
	snprintf(s->name, sizeof(s->name),
		 ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
	e->n_srv++;
	return s;
}

/* A loopback port that is listening (backlog) but never accepts, or,
 * with listening false, a port just closed. */
static void
raw_port(struct env *e, bool listening, char *name, size_t size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(name, size, "127.0.0.1:%u", ntohs(sin.sin_port));
	if (listening) {
		assert_int_equal(listen(fd, 8), 0);
		e->raw_fd[e->raw_fd[0] >= 0] = fd;
	} else {
		close(fd);
	}
}

static void
on_wake(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	(void)ctx;
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct timeval tick = { .tv_usec = 20000 };

	assert_non_null(e);
	e->base = event_base_new();
	assert_non_null(e->base);
	e->wake = event_new(e->base, -1, EV_PERSIST, on_wake, NULL);
	event_add(e->wake, &tick);
	e->raw_fd[0] = e->raw_fd[1] = -1;
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	for (size_t i = 0; i < e->n_srv; i++)
		evhttp_free(e->srv[i].http);
	for (int i = 0; i < 2; i++)
		if (e->raw_fd[i] >= 0)
			close(e->raw_fd[i]);
	event_free(e->wake);
	event_base_free(e->base);
	free(e);
	return 0;
}

/* The host object named name in the peers' JSON (borrowed from arr). */
static json_t *
host_of(json_t *arr, const char *name)
{
	size_t i;
	json_t *h;

	json_array_foreach(
		arr, i,
		h) if (strcmp(json_string_value(json_object_get(h, "name")),
			      name) == 0) return h;
	fail_msg("no host %s", name);
	return NULL;
}

static bool
checked(const struct kr_admin_peers *p, const char *name)
{
	json_t *arr = kr_admin_peers_json(p);
	bool ok = !json_is_null(
		json_object_get(host_of(arr, name), "checked_ms"));

	json_decref(arr);
	return ok;
}

static bool
all_checked(const struct kr_admin_peers *p)
{
	json_t *arr = kr_admin_peers_json(p), *h;
	size_t i;
	bool ok = true;

	json_array_foreach(arr, i, h) ok =
		ok && !json_is_null(json_object_get(h, "checked_ms"));
	json_decref(arr);
	return ok;
}

/* Runs the loop until done() or max_ms; returns the time it took. */
static int64_t
run_until(struct env *e, const struct kr_admin_peers *p,
	  bool (*done)(const struct kr_admin_peers *, const void *),
	  const void *arg, int64_t max_ms)
{
	int64_t start = kr_clock_mono_ms();

	while (!done(p, arg) && kr_clock_mono_ms() - start < max_ms)
		event_base_loop(e->base, EVLOOP_ONCE);
	return kr_clock_mono_ms() - start;
}

static bool
done_all(const struct kr_admin_peers *p, const void *arg)
{
	(void)arg;
	return all_checked(p);
}

static bool
done_never(const struct kr_admin_peers *p, const void *arg)
{
	(void)p;
	(void)arg;
	return false;
}

static bool
done_checked(const struct kr_admin_peers *p, const void *arg)
{
	return checked(p, arg);
}

/* name is up (want_up) with error want_error (NULL: null). */
static bool
done_state(const struct kr_admin_peers *p, const void *arg)
{
	const char *const *w = arg; /* name, "up"|"down", error */
	json_t *arr = kr_admin_peers_json(p), *h = host_of(arr, w[0]);
	const char *err = json_string_value(json_object_get(h, "error"));
	bool ok = json_is_true(json_object_get(h, "up")) ==
			  (strcmp(w[1], "up") == 0) &&
		  (w[2] == NULL ? err == NULL
				: err != NULL && strcmp(err, w[2]) == 0);

	json_decref(arr);
	return ok;
}

static void
assert_down(json_t *arr, const char *name, const char *error)
{
	json_t *h = host_of(arr, name);
	const char *names[] = { "health", "rates", "workers", "nodes" };

	if (!json_is_false(json_object_get(h, "up")) ||
	    !json_is_string(json_object_get(h, "error")) ||
	    strcmp(json_string_value(json_object_get(h, "error")), error) != 0)
		fail_msg("%s: want down '%s', got %s", name, error,
			 json_dumps(h, JSON_SORT_KEYS));
	assert_true(json_is_integer(json_object_get(h, "checked_ms")));
	assert_true(json_is_false(json_object_get(h, "self")));
	for (size_t i = 0; i < 4; i++)
		assert_true(json_is_null(json_object_get(h, names[i])));
}

static void
assert_up(json_t *arr, const char *name)
{
	json_t *h = host_of(arr, name), *rates, *workers, *nodes;

	if (!json_is_true(json_object_get(h, "up")))
		fail_msg("%s: want up, got %s", name,
			 json_dumps(h, JSON_SORT_KEYS));
	assert_true(json_is_null(json_object_get(h, "error")));
	assert_true(json_is_false(json_object_get(h, "self")));
	assert_string_equal(json_string_value(json_object_get(h, "health")),
			    "degraded");
	rates = json_object_get(h, "rates");
	workers = json_object_get(h, "workers");
	nodes = json_object_get(h, "nodes");
	assert_true(json_real_value(json_object_get(rates, "lmtp_msgs")) ==
		    12.5);
	assert_true(json_is_null(json_object_get(rates, "rpc_calls")));
	assert_int_equal(
		json_integer_value(json_object_get(workers, "restarts")), 1);
	assert_int_equal(json_integer_value(json_object_get(nodes, "down")), 1);
	assert_int_equal(json_integer_value(json_object_get(nodes, "total")),
			 20);
	assert_null(json_object_get(h, "pad")); /* only the four parts */
}

static void
test_peers_each_outcome(void **state)
{
	struct env *e = *state;
	struct srv *good = srv_start(e, "127.0.0.1", SRV_GOOD);
	struct srv *good6 = srv_start(e, "::1", SRV_GOOD);
	struct srv *wrong = srv_start(e, "127.0.0.1", SRV_GOOD);
	struct srv *status = srv_start(e, "127.0.0.1", SRV_STATUS);
	struct srv *garbage = srv_start(e, "127.0.0.1", SRV_GARBAGE);
	struct srv *partial = srv_start(e, "127.0.0.1", SRV_PARTIAL);
	struct srv *at = srv_start(e, "127.0.0.1", SRV_SIZED);
	struct srv *over = srv_start(e, "127.0.0.1", SRV_SIZED);
	struct srv *hang = srv_start(e, "127.0.0.1", SRV_HANG);
	struct srv *goodl = srv_start(e, "127.0.0.1", SRV_GOOD);
	char silent[40], closed[40], local[40];
	const char *list[SRV_MAX + 2];
	size_t n = 0;
	struct kr_err err;
	struct kr_admin_peers *p;
	int64_t t0 = kr_clock_wall_ms(), took;
	json_t *arr, *h;

	wrong->token = OTHER_TOKEN;
	status->status = 503;
	at->size = KR_ADMIN_PEERS_BODY_MAX;
	over->size = KR_ADMIN_PEERS_BODY_MAX + 1;
	raw_port(e, true, silent, sizeof(silent));
	raw_port(e, false, closed, sizeof(closed));
	snprintf(local, sizeof(local), "localhost:%s",
		 strchr(goodl->name, ':') + 1);
	list[n++] = good->name;
	if (good6 != NULL)
		list[n++] = good6->name;
	else
		print_message("no ::1 here: IPv6 peer not tried\n");
	list[n++] = wrong->name;
	list[n++] = status->name;
	list[n++] = garbage->name;
	list[n++] = partial->name;
	list[n++] = at->name;
	list[n++] = over->name;
	list[n++] = hang->name;
	list[n++] = silent;
	list[n++] = closed;
	list[n++] = local;
	/* connect() fails at once: libevent completes inside the call. */
	list[n++] = "255.255.255.255:9";
	p = kr_admin_peers_create(e->base, list, n, TOKEN, &err);
	assert_non_null(p);
	/* Not polled before the loop runs. */
	assert_int_equal(good->requests, 0);
	took = run_until(e, p, done_all, NULL, 3000);
	assert_true(all_checked(p));
	/* The silent ones end at the 1.5 s deadline, not before. */
	print_message("all %zu peers checked in %lld ms\n", n, (long long)took);
	assert_true(took >= KR_ADMIN_PEERS_TIMEOUT_MS - 50 &&
		    took < KR_ADMIN_PEERS_POLL_MS);
	arr = kr_admin_peers_json(p);
	assert_int_equal(json_array_size(arr), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(json_string_value(json_object_get(
					    json_array_get(arr, i), "name")),
				    list[i]);
	assert_up(arr, good->name);
	assert_string_equal(good->last_host, good->name);
	assert_string_equal(good->last_auth, "Bearer " TOKEN);
	h = host_of(arr, good->name);
	assert_true(json_integer_value(json_object_get(h, "checked_ms")) >=
			    t0 &&
		    json_integer_value(json_object_get(h, "checked_ms")) <=
			    kr_clock_wall_ms());
	if (good6 != NULL)
		assert_up(arr, good6->name);
	assert_up(arr, local);
	assert_down(arr, wrong->name, "HTTP 401");
	assert_down(arr, status->name, "HTTP 503");
	assert_down(arr, garbage->name, "bad JSON");
	assert_down(arr, partial->name, "bad JSON");
	assert_up(arr, at->name);
	assert_down(arr, over->name, "answer too large");
	assert_down(arr, hang->name, "timeout");
	assert_int_equal(hang->requests, 1);
	assert_down(arr, silent, "timeout");
	assert_down(arr, closed, "connection refused");
	h = host_of(arr, "255.255.255.255:9");
	assert_true(json_is_false(json_object_get(h, "up")));
	print_message("255.255.255.255:9: %s\n",
		      json_string_value(json_object_get(h, "error")));
	assert_true(json_is_string(json_object_get(h, "error")) &&
		    strcmp(json_string_value(json_object_get(h, "error")),
			   "timeout") != 0);
	json_decref(arr);
	kr_admin_peers_destroy(&p);
	assert_null(p);
	kr_admin_peers_destroy(&p);
}

/* Down then up again with the peer's answers; a peer that never answers
 * gets one request per poll period, never a second one beside it. */
static void
test_peers_recover_one_in_flight(void **state)
{
	struct env *e = *state;
	struct srv *flip = srv_start(e, "127.0.0.1", SRV_GOOD);
	struct srv *hang = srv_start(e, "127.0.0.1", SRV_HANG);
	const char *list[] = { flip->name, hang->name };
	const char *want_up[] = { flip->name, "up", NULL };
	const char *want_401[] = { flip->name, "down", "HTTP 401" };
	struct kr_admin_peers *p =
		kr_admin_peers_create(e->base, list, 2, TOKEN, NULL);
	int64_t took;

	assert_non_null(p);
	run_until(e, p, done_state, want_up, 3000);
	assert_true(done_state(p, want_up));
	flip->token = OTHER_TOKEN;
	took = run_until(e, p, done_state, want_401, 3000);
	if (!done_state(p, want_401)) {
		json_t *arr = kr_admin_peers_json(p);
		fail_msg("%u requests, %s", flip->requests, json_dumps(arr, 0));
	}
	print_message("down seen %lld ms after the change\n", (long long)took);
	flip->token = TOKEN;
	run_until(e, p, done_state, want_up, 3000);
	assert_true(done_state(p, want_up));
	/* Polls at about 0, 2, 4 s: 2 or 3 so far, each timed out. */
	assert_true(hang->requests >= 2 && hang->requests <= 3);
	assert_true(flip->requests >= 3 && flip->requests <= 4);
	kr_admin_peers_destroy(&p);
}

/* A reload: kept peers keep their state, new ones start unchecked and
 * are polled at once, dropped ones go; a bad list changes nothing. */
static void
test_peers_update(void **state)
{
	struct env *e = *state;
	struct srv *a = srv_start(e, "127.0.0.1", SRV_GOOD);
	struct srv *c = srv_start(e, "127.0.0.1", SRV_GOOD);
	char closed[40];
	const char *first[2], *second[2], *bad[] = { a->name, "10.0.0.1:0" };
	struct kr_admin_peers *p;
	struct kr_err err;
	json_t *arr;

	raw_port(e, false, closed, sizeof(closed));
	first[0] = a->name;
	first[1] = closed;
	second[0] = c->name;
	second[1] = a->name;
	p = kr_admin_peers_create(e->base, first, 2, TOKEN, NULL);
	assert_non_null(p);
	run_until(e, p, done_all, NULL, 3000);
	assert_true(all_checked(p));
	assert_int_equal(kr_admin_peers_update(p, bad, 2, TOKEN, &err), -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	arr = kr_admin_peers_json(p);
	assert_int_equal(json_array_size(arr), 2);
	assert_down(arr, closed, "connection refused");
	json_decref(arr);

	a->token = OTHER_TOKEN; /* the new token reaches the next poll */
	assert_int_equal(kr_admin_peers_update(p, second, 2, OTHER_TOKEN, &err),
			 0);
	arr = kr_admin_peers_json(p);
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(arr, 0), "name")),
			    c->name);
	assert_true(json_is_null(
		json_object_get(host_of(arr, c->name), "checked_ms")));
	assert_true(
		json_is_false(json_object_get(host_of(arr, c->name), "up")));
	assert_true(
		json_is_null(json_object_get(host_of(arr, c->name), "error")));
	assert_up(arr, a->name);
	json_decref(arr);
	c->token = OTHER_TOKEN;
	run_until(e, p, done_checked, c->name, 1000);
	arr = kr_admin_peers_json(p);
	assert_up(arr, c->name);
	assert_string_equal(c->last_auth, "Bearer " OTHER_TOKEN);
	json_decref(arr);
	kr_admin_peers_destroy(&p);
}

/* The list is checked as [admin] peers is: at the limit passes, one
 * over fails; bad entries, duplicates and a missing token fail; an
 * empty list is an empty array. */
static void
test_peers_create_checks(void **state)
{
	struct env *e = *state;
	char names[KR_ADMIN_PEERS_MAX + 1][40];
	const char *list[KR_ADMIN_PEERS_MAX + 1];
	const char *bad[][2] = {
		{ "127.0.0.1:1", "127.0.0.1:1" },
		{ "127.0.0.1:1", "mx:1" },
		{ "127.0.0.1:1", "::1:1" },
		{ "127.0.0.1:1", "1.2.3.4" },
	};
	struct kr_admin_peers *p;
	struct kr_err err;
	json_t *arr;

	for (unsigned i = 0; i <= KR_ADMIN_PEERS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "127.0.0.1:%u", 9 + i);
		list[i] = names[i];
	}
	p = kr_admin_peers_create(e->base, list, KR_ADMIN_PEERS_MAX, TOKEN,
				  &err);
	assert_non_null(p);
	arr = kr_admin_peers_json(p);
	assert_int_equal(json_array_size(arr), KR_ADMIN_PEERS_MAX);
	json_decref(arr);
	assert_int_equal(kr_admin_peers_update(p, list, KR_ADMIN_PEERS_MAX + 1,
					       TOKEN, &err),
			 -1);
	kr_admin_peers_destroy(&p);
	assert_null(kr_admin_peers_create(e->base, list, KR_ADMIN_PEERS_MAX + 1,
					  TOKEN, &err));
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kr_err_clear(&err);
		assert_null(
			kr_admin_peers_create(e->base, bad[i], 2, TOKEN, &err));
		assert_non_null(strstr(err.msg, "peer 2 "));
	}
	assert_null(kr_admin_peers_create(e->base, list, 1, "", &err));
	p = kr_admin_peers_create(e->base, NULL, 0, TOKEN, &err);
	assert_non_null(p);
	arr = kr_admin_peers_json(p);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	kr_admin_peers_destroy(&p);
}

/* Freed with requests in flight (one answering late, one never): no
 * callback afterwards, nothing leaked (ASan), the servers unharmed. */
static void
test_peers_destroy_in_flight(void **state)
{
	struct env *e = *state;
	struct srv *late = srv_start(e, "127.0.0.1", SRV_DELAY);
	struct srv *hang = srv_start(e, "127.0.0.1", SRV_HANG);
	const char *list[] = { late->name, hang->name };
	struct kr_admin_peers *p;

	late->delay_ms = 300;
	p = kr_admin_peers_create(e->base, list, 2, TOKEN, NULL);
	assert_non_null(p);
	run_until(e, p, done_never, NULL, 100);
	assert_int_equal(late->requests, 1);
	assert_int_equal(hang->requests, 1);
	assert_false(all_checked(p));
	kr_admin_peers_destroy(&p);
	/* The late answer goes to a closed connection. */
	for (int64_t t0 = kr_clock_mono_ms(); kr_clock_mono_ms() - t0 < 500;)
		event_base_loop(e->base, EVLOOP_ONCE);
}

/* A child forked with a request in flight frees its copy: the
 * parent's request still gets its answer. */
static void
test_peers_forked_child_leaves_sockets(void **state)
{
	struct env *e = *state;
	struct srv *late = srv_start(e, "127.0.0.1", SRV_DELAY);
	const char *list[] = { late->name };
	const char *want_up[] = { late->name, "up", NULL };
	struct kr_admin_peers *p;
	pid_t pid;
	int status;

	late->delay_ms = 400;
	p = kr_admin_peers_create(e->base, list, 1, TOKEN, NULL);
	assert_non_null(p);
	run_until(e, p, done_never, NULL, 100);
	assert_int_equal(late->requests, 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (event_reinit(e->base) < 0)
			_exit(2);
		kr_admin_peers_destroy_forked(&p);
		_exit(p == NULL ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	run_until(e, p, done_state, want_up, 1000);
	assert_true(done_state(p, want_up));
	assert_int_equal(late->requests, 1);
	kr_admin_peers_destroy(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_peers_each_outcome, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_peers_recover_one_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peers_update, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_peers_create_checks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_peers_destroy_in_flight,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_peers_forked_child_leaves_sockets, setup,
			teardown),
	};

	signal(SIGPIPE, SIG_IGN); /* as kurierd does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
