/* cmocka tests for the "rate" filter module through a kr_filter_host
 * whose count() is the real host-wide table (antispam/counter.h) on a
 * clock the test sets: limits at and over, window expiry, the null
 * sender, IPv6 /64 keys, bulk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "antispam/counter.h"
#include "antispam/filter.h"
#include "antispam/modules/rate/rate.h"

#define TEST_HITS_MAX 8

/* The test's side of the ABI: what the module reported. */
struct kr_filter_result {
	size_t n_hits;
	char hits[TEST_HITS_MAX][32];
	double scores[TEST_HITS_MAX];
	char descs[TEST_HITS_MAX][200];
	size_t n_defers;
	char why[200];
};

struct test_env {
	struct kr_counter *counter;
	uint64_t now_ms;
	struct kr_filter_host host;
	struct kr_filter_conf conf;
	void *state;
};

static uint64_t
test_count(void *ctx, const char *kind, const void *key, size_t key_len,
	   unsigned window_ms, unsigned n)
{
	struct test_env *env = ctx;

	return kr_counter_add(env->counter, kind, key, key_len, window_ms, n,
			      env->now_ms);
}

static void
test_hit(struct kr_filter_result *res, const char *name, double score,
	 const char *desc)
{
	assert_true(res->n_hits < TEST_HITS_MAX);
	snprintf(res->hits[res->n_hits], sizeof(res->hits[0]), "%s", name);
	snprintf(res->descs[res->n_hits], sizeof(res->descs[0]), "%s", desc);
	res->scores[res->n_hits++] = score;
}

static void
test_defer(struct kr_filter_result *res, const char *why)
{
	res->n_defers++;
	snprintf(res->why, sizeof(res->why), "%s", why);
}

static int
setup(void **state)
{
	static struct test_env env;
	struct kr_err err;

	memset(&env, 0, sizeof(env));
	assert_int_equal(kr_counter_create(1024, &env.counter, &err), 0);
	env.now_ms = 1000000;
	env.host.size = sizeof(env.host);
	env.host.ctx = &env;
	env.host.count = test_count;
	env.host.hit = test_hit;
	env.host.defer = test_defer;
	env.conf.size = sizeof(env.conf);
	env.conf.rate_ip = 3;
	env.conf.rate_sender = 2;
	env.conf.rate_window_ms = 60000;
	env.conf.bulk_rcpts = 10;
	env.conf.bulk_window_ms = 600000;
	env.conf.bulk_score = 2.5;
	*state = &env;
	return 0;
}

static int
teardown(void **state)
{
	struct test_env *env = *state;

	if (env->state != NULL)
		kr_rate_module.close(env->state);
	kr_counter_destroy(&env->counter);
	return 0;
}

static void
env_open(struct test_env *env)
{
	char err[128];

	assert_int_equal(kr_rate_module.open(&env->host, &env->conf,
					     &env->state, err, sizeof(err)),
			 0);
}

/* One message; returns what the module said. */
static struct kr_filter_result
check(struct test_env *env, const char *addr, const char *sender,
      size_t n_rcpts, uint64_t body_hash)
{
	static const char *const rcpts[] = { "a@example.test" };
	struct kr_filter_msg msg = {
		.req_id = "t",
		.client_addr = addr,
		.sender = sender,
		.rcpts = rcpts,
		.n_rcpts = n_rcpts,
		.body_hash = body_hash,
	};
	struct kr_filter_result res;
	void *req = NULL;

	memset(&res, 0, sizeof(res));
	assert_int_equal(
		kr_rate_module.check(env->state, &msg, &res, &req, NULL, NULL),
		1);
	assert_null(req);
	return res;
}

static void
test_rate_ip_at_and_over(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;

	env->conf.rate_sender = 0;
	env->conf.bulk_rcpts = 0;
	env_open(env);
	for (int i = 0; i < 3; i++) {
		r = check(env, "192.0.2.7", "", 1, 1);
		assert_int_equal(r.n_defers, 0);
		assert_int_equal(r.n_hits, 0);
	}
	r = check(env, "192.0.2.7", "", 1, 1);
	assert_int_equal(r.n_defers, 1);
	assert_string_equal(r.why,
			    "rate limit: client 192.0.2.7 sent 4 messages in "
			    "60s");
	assert_int_equal(r.n_hits, 1);
	assert_string_equal(r.hits[0], "RATE_IP");
	assert_true(r.scores[0] == 0.0);
	/* Another address is not limited; neither is an unknown one. */
	assert_int_equal(check(env, "192.0.2.8", "", 1, 1).n_defers, 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(check(env, NULL, "", 1, 1).n_defers, 0);
		assert_int_equal(check(env, "junk", "", 1, 1).n_defers, 0);
	}
	/* The same IPv4 as IPv4-mapped IPv6: the same counter. */
	r = check(env, "::ffff:192.0.2.8", "", 1, 1);
	assert_int_equal(r.n_defers, 0);
	r = check(env, "IPv6:::ffff:192.0.2.8", "", 1, 1);
	assert_int_equal(r.n_defers, 0);
	r = check(env, "192.0.2.8", "", 1, 1);
	assert_int_equal(r.n_defers, 1);
}

/* IPv6 clients are counted per /64. */
static void
test_rate_ipv6_prefix(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;

	env->conf.rate_sender = 0;
	env_open(env);
	assert_int_equal(check(env, "2001:db8:1:2::1", "", 1, 1).n_defers, 0);
	assert_int_equal(check(env, "2001:db8:1:2::2", "", 1, 2).n_defers, 0);
	assert_int_equal(check(env, "2001:db8:1:2:ffff::3", "", 1, 3).n_defers,
			 0);
	assert_int_equal(check(env, "2001:db8:1:3::1", "", 1, 4).n_defers, 0);
	r = check(env, "2001:db8:1:2::9", "", 1, 5);
	assert_int_equal(r.n_defers, 1);
	assert_string_equal(r.why, "rate limit: client 2001:db8:1:2::9 sent 4 "
				   "messages in 60s");
}

static void
test_rate_sender(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;
	char long_sender[KR_RATE_SENDER_MAX + 2];

	env->conf.rate_ip = 0;
	env_open(env);
	assert_int_equal(
		check(env, "192.0.2.1", "Bob@Example.test", 1, 1).n_defers, 0);
	assert_int_equal(
		check(env, "192.0.2.2", "bob@example.TEST", 1, 1).n_defers, 0);
	r = check(env, "192.0.2.3", "BOB@example.test", 1, 1);
	assert_int_equal(r.n_defers, 1);
	assert_string_equal(r.hits[0], "RATE_SENDER");
	assert_string_equal(r.why, "rate limit: sender BOB@example.test sent 3 "
				   "messages in 60s");
	/* The null sender is never limited. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(check(env, "192.0.2.1", "", 1, 1).n_defers, 0);
	/* A sender over the bound is not counted; at the bound it is. */
	memset(long_sender, 'a', sizeof(long_sender));
	long_sender[KR_RATE_SENDER_MAX + 1] = '\0';
	for (int i = 0; i < 5; i++)
		assert_int_equal(
			check(env, "192.0.2.1", long_sender, 1, 1).n_defers, 0);
	long_sender[KR_RATE_SENDER_MAX] = '\0';
	for (int i = 0; i < 2; i++)
		assert_int_equal(
			check(env, "192.0.2.1", long_sender, 1, 1).n_defers, 0);
	assert_int_equal(check(env, "192.0.2.1", long_sender, 1, 1).n_defers,
			 1);
	/* Bytes that are no printable ASCII do not reach the reply. */
	check(env, "192.0.2.1", "x\r\n@y", 1, 1);
	check(env, "192.0.2.1", "x\r\n@y", 1, 1);
	r = check(env, "192.0.2.1", "x\r\n@y", 1, 1);
	assert_int_equal(r.n_defers, 1);
	assert_string_equal(r.why, "rate limit: sender x??@y sent 3 messages "
				   "in 60s");
}

/* Window 10 s (two sub-windows of the counter): a limited client is
 * let through again once its messages have aged out. */
static void
test_rate_window_expiry(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;

	env->conf.rate_window_ms = 10000;
	env->conf.rate_ip = 2;
	env_open(env);
	env->now_ms = 20000;
	assert_int_equal(check(env, "198.51.100.1", "", 1, 1).n_defers, 0);
	assert_int_equal(check(env, "198.51.100.1", "", 1, 1).n_defers, 0);
	r = check(env, "198.51.100.1", "", 1, 1);
	assert_int_equal(r.n_defers, 1);
	assert_string_equal(r.why, "rate limit: client 198.51.100.1 sent 3 "
				   "messages in 10s");
	/* Still inside the window. */
	env->now_ms = 29999;
	assert_int_equal(check(env, "198.51.100.1", "", 1, 1).n_defers, 1);
	/* Two windows on, all of them are out. */
	env->now_ms = 40000;
	assert_int_equal(check(env, "198.51.100.1", "", 1, 1).n_defers, 0);
	/* A window of no whole seconds is shown in ms. */
	kr_rate_module.close(env->state);
	env->conf.rate_window_ms = 1500;
	env->conf.rate_ip = 1;
	env_open(env);
	check(env, "198.51.100.9", "", 1, 1);
	r = check(env, "198.51.100.9", "", 1, 1);
	assert_string_equal(r.why, "rate limit: client 198.51.100.9 sent 2 "
				   "messages in 1500ms");
}

static void
test_rate_bulk(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;

	env->conf.rate_ip = 0;
	env->conf.rate_sender = 0;
	env_open(env);
	/* 4 + 5 = 9 recipients of one body: below 10. */
	assert_int_equal(check(env, "192.0.2.1", "", 4, 42).n_hits, 0);
	assert_int_equal(check(env, "192.0.2.2", "", 5, 42).n_hits, 0);
	/* Another body does not add up. */
	assert_int_equal(check(env, "192.0.2.2", "", 9, 43).n_hits, 0);
	r = check(env, "192.0.2.3", "", 1, 42);
	assert_int_equal(r.n_hits, 1);
	assert_string_equal(r.hits[0], "BULK");
	assert_true(r.scores[0] == 2.5);
	assert_string_equal(r.descs[0],
			    "the same body to 10 recipients in 600s");
	assert_int_equal(r.n_defers, 0);
	/* Off with bulk_rcpts 0. */
	kr_rate_module.close(env->state);
	env->conf.bulk_rcpts = 0;
	env_open(env);
	assert_int_equal(check(env, "192.0.2.3", "", 100, 42).n_hits, 0);
}

static void
test_rate_open_refuses(void **state)
{
	struct test_env *env = *state;
	char err[128];
	void *st = NULL;

	env->host.count = NULL;
	assert_int_equal(kr_rate_module.open(&env->host, &env->conf, &st, err,
					     sizeof(err)),
			 -1);
	assert_string_equal(err, "rate: the host has no counter");
	assert_null(st);
	assert_string_equal(kr_rate_module.name, "rate");
	assert_int_equal(kr_rate_module.abi, KR_FILTER_ABI);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rate_ip_at_and_over, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rate_ipv6_prefix, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rate_sender, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rate_window_expiry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rate_bulk, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rate_open_refuses, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("rate", tests, NULL, NULL);
}
