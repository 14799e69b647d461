/* The admin endpoint over loopback with a real metrics region and a
 * real event_base: the browser login (token -> cookie, the form, a
 * wrong token), the Origin rule (no action carried by a cookie without
 * the admin's own Origin), the actions reaching the supervisor and
 * logged with who, and the documents computed from the metrics (node
 * states, the overview's health, the history's rates). The supervisor
 * is the test's: it records what the admin asks of the master. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/admin.h"
#include "lib/clock.h"
#include "lib/log.h"

#define TOKEN "tttttttttttttttttttttttttttttttttttttttt"
#define RESP_MAX (256u << 10)

struct env {
	struct event_base *base;
	struct kr_metrics *m;
	struct kr_log *log;
	int log_fd;
	struct kr_admin *admin;
	struct kr_admin_supervisor sup;
	unsigned short port;
	int drains[4]; /* per shard: last call, 1 on, 0 off; -1 none */
	unsigned cycles;
	int msgs, latency, circuit[2], draining[2];
	char resp[RESP_MAX];
};

static void
sup_health(void *ctx, struct kr_admin_health *h_r)
{
	(void)ctx;
	*h_r = (struct kr_admin_health){ .n_workers = 1 };
}

static void
sup_worker(void *ctx, unsigned index, struct kr_admin_worker_health *w_r)
{
	(void)ctx;
	(void)index;
	*w_r = (struct kr_admin_worker_health){ .restart_in_ms = -1 };
}

static int
sup_drain(void *ctx, unsigned shard, bool on, struct kr_err *err_r)
{
	struct env *e = ctx;

	(void)err_r;
	e->drains[shard] = on;
	return 0;
}

static int
sup_cycle(void *ctx, struct kr_err *err_r)
{
	struct env *e = ctx;

	(void)err_r;
	e->cycles++;
	return 0;
}

static void
sup_cycle_state(void *ctx, struct kr_admin_cycle *c_r)
{
	const struct env *e = ctx;

	*c_r = (struct kr_admin_cycle){ .active = e->cycles > 0, .total = 1 };
}

static int
env_define(struct env *e, const char *name, const char *labels,
	   enum kr_metric_kind kind)
{
	struct kr_metric_desc d = { .name = name,
				    .labels = labels,
				    .help = "test",
				    .kind = kind,
				    .scale = 1 };
	struct kr_err err = { 0 };
	int id = kr_metrics_define(e->m, &d, &err);

	assert_true(id >= 0);
	return id;
}

static void
env_metrics(struct env *e)
{
	static const char *const nodes[2] = { "shard=\"0\",node=\"primary\"",
					      "shard=\"1\",node=\"primary\"" };
	static const char *const shards[2] = { "shard=\"0\"", "shard=\"1\"" };
	struct kr_err err = { 0 };

	e->m = kr_metrics_create();
	e->msgs = env_define(e, "kurier_lmtp_messages_total", "",
			     KR_METRIC_COUNTER);
	e->latency = env_define(e, "kurier_lmtp_delivery_seconds", "",
				KR_METRIC_HISTOGRAM);
	for (unsigned i = 0; i < 2; i++) {
		e->circuit[i] = env_define(e, "kurier_db_circuit_open",
					   nodes[i], KR_METRIC_GAUGE);
		e->draining[i] = env_define(e, "kurier_db_shard_draining",
					    shards[i], KR_METRIC_GAUGE);
	}
	assert_int_equal(kr_metrics_map(e->m, 2, &err), 0);
	kr_metrics_slot_claim(kr_metrics_slot(e->m, 1), getpid(), 0);
	kr_metrics_slot_set_state(kr_metrics_slot(e->m, 1), KR_SLOT_SERVING);
}

static int
env_listen(unsigned short *port_r)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port_r = ntohs(sa.sin_port);
	return fd;
}

static int
env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct kr_admin_node nodes[2] = {
		{ .shard = 0,
		  .replica = -1,
		  .labels = "shard=\"0\",node=\"primary\"",
		  .host = "/run/pg",
		  .port = 5432 },
		{ .shard = 1,
		  .replica = -1,
		  .labels = "shard=\"1\",node=\"primary\"",
		  .host = "/run/pg",
		  .port = 5433 },
	};
	struct kr_admin_settings set = {
		.token = TOKEN,
		.max_connections = 8,
		.idle_timeout_ms = 5000,
		.read_timeout_ms = 5000,
		.write_timeout_ms = 5000,
		.first_worker_slot = 1,
		.n_worker_slots = 1,
		.nodes = nodes,
		.n_nodes = 2,
		.n_shards = 2,
		.version = "test",
	};
	struct kr_err err = { 0 };

	assert_non_null(e);
	memset(e->drains, -1, sizeof(e->drains));
	env_metrics(e);
	e->base = event_base_new();
	e->log_fd = memfd_create("admin-log", MFD_CLOEXEC);
	e->log = kr_log_create(e->log_fd, KR_LOG_INFO, "test");
	e->sup = (struct kr_admin_supervisor){ .health = sup_health,
					       .worker = sup_worker,
					       .drain = sup_drain,
					       .cycle = sup_cycle,
					       .cycle_state = sup_cycle_state,
					       .ctx = e };
	set.supervisor = &e->sup;
	e->admin = kr_admin_create(e->base, env_listen(&e->port), e->m, e->log,
				   &set, &err);
	assert_non_null(e->admin);
	*state = e;
	return 0;
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	kr_admin_destroy(&e->admin);
	kr_log_destroy(&e->log);
	close(e->log_fd);
	event_base_free(e->base);
	kr_metrics_destroy(&e->m);
	free(e);
	return 0;
}

/* Sends one request (Connection: close) and runs the loop until the
 * answer is complete; returns the status, the answer in e->resp. */
static unsigned
env_ask(struct env *e, const char *method, const char *path, const char *fields)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(e->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int64_t end = kr_clock_mono_ms() + 5000;
	char req[2048];
	size_t got = 0;
	unsigned status = 0;
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n",
			 method, path, e->port, fields);

	assert_true(fd >= 0 && n > 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, req, (size_t)n, 0), n);
	while (kr_clock_mono_ms() < end) {
		ssize_t r;

		event_base_loop(e->base, EVLOOP_NONBLOCK);
		r = recv(fd, e->resp + got, RESP_MAX - 1 - got, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0)
			got += (size_t)r;
		else
			usleep(1000);
	}
	close(fd);
	e->resp[got] = '\0';
	assert_int_equal(sscanf(e->resp, "HTTP/1.1 %u", &status), 1);
	return status;
}

/* The JSON body of the last answer. */
static json_t *
env_json(const struct env *e)
{
	const char *body = strstr(e->resp, "\r\n\r\n");
	json_t *doc;

	assert_non_null(body);
	doc = json_loads(body + 4, 0, NULL);
	assert_non_null(doc);
	return doc;
}

#define BEARER "Authorization: Bearer " TOKEN "\r\n"

/* The cookie of a login, as "Cookie: ...\r\n" into buf. */
static void
env_login(struct env *e, char *buf, size_t size)
{
	const char *c;
	size_t n;

	assert_int_equal(env_ask(e, "GET", "/?token=" TOKEN, ""), 303);
	assert_non_null(strstr(e->resp, "\r\nLocation: /\r\n"));
	c = strstr(e->resp, "\r\nSet-Cookie: ");
	assert_non_null(c);
	c += strlen("\r\nSet-Cookie: ");
	assert_non_null(strstr(c, "HttpOnly"));
	assert_non_null(strstr(c, "SameSite=Strict"));
	n = strcspn(c, ";");
	assert_true(n + 12 < size);
	snprintf(buf, size, "Cookie: %.*s\r\n", (int)n, c);
}

static void
test_admin_api_login(void **state)
{
	struct env *e = *state;
	char cookie[256];

	assert_int_equal(env_ask(e, "GET", "/api/overview", ""), 401);
	assert_int_equal(env_ask(e, "GET", "/", ""), 200); /* the form */
	assert_int_equal(env_ask(e, "GET", "/?token=wrong", ""), 401);
	assert_null(strstr(e->resp, "Set-Cookie"));
	env_login(e, cookie, sizeof(cookie));
	assert_int_equal(env_ask(e, "GET", "/api/overview", cookie), 200);
	assert_int_equal(env_ask(e, "GET", "/", cookie), 200);
	assert_non_null(strstr(e->resp, "Content-Security-Policy: "));
	assert_int_equal(env_ask(e, "GET", "/api/overview",
				 "Cookie: kurier_admin=1.00\r\n"),
			 401);
}

/* No action without the bearer, or the cookie plus the admin's own
 * Origin; the supervisor sees only the accepted ones. */
static void
test_admin_api_origin(void **state)
{
	struct env *e = *state;
	char cookie[256], fields[512];

	env_login(e, cookie, sizeof(cookie));
	assert_int_equal(env_ask(e, "POST", "/api/nodes/1/drain", cookie), 403);
	snprintf(fields, sizeof(fields), "%sOrigin: http://evil.test\r\n",
		 cookie);
	assert_int_equal(env_ask(e, "POST", "/api/nodes/1/drain", fields), 403);
	assert_int_equal(env_ask(e, "POST", "/api/workers/cycle", fields), 403);
	assert_int_equal(env_ask(e, "POST", "/api/nodes/1/drain", ""), 401);
	assert_int_equal(e->drains[1], -1);
	assert_int_equal(e->cycles, 0);
	snprintf(fields, sizeof(fields), "%sOrigin: http://127.0.0.1:%u\r\n",
		 cookie, e->port);
	assert_int_equal(env_ask(e, "POST", "/api/nodes/1/drain", fields), 200);
	assert_int_equal(e->drains[1], 1);
	assert_int_equal(env_ask(e, "POST", "/api/nodes/1/undrain", BEARER),
			 200);
	assert_int_equal(e->drains[1], 0);
	assert_int_equal(env_ask(e, "POST", "/api/workers/cycle", BEARER), 202);
	assert_int_equal(e->cycles, 1);
	/* Not a shard, not an action, not a POST. */
	assert_int_equal(env_ask(e, "POST", "/api/nodes/2/drain", BEARER), 404);
	assert_int_equal(env_ask(e, "POST", "/api/nodes/01/drain", BEARER),
			 404);
	assert_int_equal(env_ask(e, "POST", "/api/nodes/1/drainx", BEARER),
			 404);
	assert_int_equal(env_ask(e, "GET", "/api/nodes/1/drain", BEARER), 405);
	assert_int_equal(e->drains[0], -1);
}

static void
test_admin_api_actions_logged(void **state)
{
	struct env *e = *state;
	json_t *doc, *a;

	assert_int_equal(env_ask(e, "POST", "/api/nodes/0/drain", BEARER), 200);
	assert_int_equal(env_ask(e, "GET", "/api/actions", BEARER), 200);
	doc = env_json(e);
	a = json_array_get(json_object_get(doc, "actions"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "action")),
			    "drain");
	assert_string_equal(json_string_value(json_object_get(a, "target")),
			    "shard 0");
	assert_string_equal(json_string_value(json_object_get(a, "who")),
			    "token");
	assert_string_equal(json_string_value(json_object_get(a, "result")),
			    "ok");
	json_decref(doc);
}

static const char *
node_state(json_t *nodes, size_t i)
{
	return json_string_value(json_object_get(
		json_array_get(json_object_get(nodes, "nodes"), i), "state"));
}

/* Node states and health from the gauges; the history's rate and
 * latency from what the worker slot counts between samples. */
static void
test_admin_api_documents(void **state)
{
	struct env *e = *state;
	struct kr_metrics_slot *w = kr_metrics_slot(e->m, 1);
	struct kr_metrics_slot *master = kr_metrics_slot(e->m, 0);
	json_t *doc, *msgs;
	int64_t end = kr_clock_mono_ms() + 2500;

	kr_metrics_gauge_set(w, e->circuit[1], 1);
	kr_metrics_gauge_set(master, e->draining[0], 1);
	assert_int_equal(env_ask(e, "GET", "/api/nodes", BEARER), 200);
	doc = env_json(e);
	assert_string_equal(node_state(doc, 0), "draining");
	assert_string_equal(node_state(doc, 1), "down");
	json_decref(doc);
	assert_int_equal(env_ask(e, "GET", "/api/overview", BEARER), 200);
	doc = env_json(e);
	assert_string_equal(json_string_value(json_object_get(doc, "health")),
			    "degraded");
	assert_int_equal(json_array_size(json_object_get(doc, "problems")), 2);
	json_decref(doc);
	/* 10 messages of 2 ms each per loop turn of ~100 ms, for 2.5 s:
	 * at least two samples see them. */
	while (kr_clock_mono_ms() < end) {
		for (unsigned i = 0; i < 10; i++) {
			kr_metrics_inc(w, e->msgs);
			kr_metrics_observe(w, e->latency, 2000);
		}
		event_base_loop(e->base, EVLOOP_NONBLOCK);
		usleep(100000);
	}
	assert_int_equal(env_ask(e, "GET", "/api/history?since=0", BEARER),
			 200);
	doc = env_json(e);
	msgs = json_object_get(json_object_get(doc, "series"), "lmtp_msgs");
	assert_true(json_array_size(msgs) >= 2);
	assert_true(json_real_value(json_array_get(msgs, json_array_size(msgs) -
								 1)) > 50.0);
	json_decref(doc);
	assert_int_equal(env_ask(e, "GET", "/api/overview", BEARER), 200);
	doc = env_json(e);
	assert_true(json_real_value(json_object_get(
			    json_object_get(json_object_get(doc, "latency_ms"),
					    "lmtp"),
			    "p99")) <= 2.1);
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_admin_api_login, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_admin_api_origin,
						env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_admin_api_actions_logged,
						env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_admin_api_documents,
						env_setup, env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
