/* cmocka tests for server/fdbudget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/resource.h>

#include "server/fdbudget.h"

static void
cfg_init(struct kr_config *cfg, struct kr_config_shard *shards, unsigned n)
{
	memset(cfg, 0, sizeof(*cfg));
	memset(shards, 0, n * sizeof(*shards));
	for (unsigned i = 0; i < n; i++)
		shards[i].pool_high = 8;
	cfg->shards = shards;
	cfg->n_shards = n;
	cfg->lmtp.max_sessions = 10000;
	cfg->jsonrpc.max_connections = 10000;
	cfg->admin.max_connections = 256;
}

/* 20 shards of 8 connections, one with 2 replicas: 64 + 160 + 16. */
static void
test_fdbudget_plan_splits_the_rest(void **state)
{
	struct kr_config_shard shards[20];
	struct kr_config cfg;
	struct kr_fdbudget b;

	(void)state;
	cfg_init(&cfg, shards, 20);
	cfg.shards[3].n_replicas = 2;
	kr_fdbudget_plan(&cfg, 65536, &b);
	assert_int_equal(b.reserve, 64 + 160 + 16);
	assert_int_equal(b.lmtp_max, 10000);
	assert_int_equal(b.http_max, 10000);
	assert_false(b.clamped);
	kr_fdbudget_plan(&cfg, 4096, &b);
	assert_int_equal(b.lmtp_max, (4096 - 240) / 2);
	assert_int_equal(b.http_max, (4096 - 240) / 2);
	assert_true(b.clamped);
	assert_true(b.reserve + b.lmtp_max + b.http_max <= 4096);
}

static void
test_fdbudget_plan_tiny_limit(void **state)
{
	struct kr_config_shard shards[200];
	struct kr_config cfg;
	struct kr_fdbudget b;

	(void)state;
	cfg_init(&cfg, shards, 200);
	kr_fdbudget_plan(&cfg, 1024, &b);
	assert_int_equal(b.reserve, 1024);
	assert_int_equal(b.lmtp_max, 1);
	assert_int_equal(b.http_max, 1);
}

/* The master holds no pool connections: its admin port may use what
 * the base reserve leaves, at the limit as configured, one over
 * clamped. */
static void
test_fdbudget_plan_admin(void **state)
{
	struct kr_config_shard shards[200];
	struct kr_config cfg;
	struct kr_fdbudget b;

	(void)state;
	cfg_init(&cfg, shards, 200);
	kr_fdbudget_plan(&cfg, 65536, &b);
	assert_int_equal(b.admin_max, 256);
	cfg.admin.max_connections = 1024 - KR_FDBUDGET_BASE_RESERVE;
	kr_fdbudget_plan(&cfg, 1024, &b);
	assert_int_equal(b.admin_max, 1024 - KR_FDBUDGET_BASE_RESERVE);
	cfg.admin.max_connections++;
	kr_fdbudget_plan(&cfg, 1024, &b);
	assert_int_equal(b.admin_max, 1024 - KR_FDBUDGET_BASE_RESERVE);
	assert_true(b.clamped);
	kr_fdbudget_plan(&cfg, KR_FDBUDGET_BASE_RESERVE, &b);
	assert_int_equal(b.admin_max, 1);
}

static void
test_fdbudget_raise_never_lowers(void **state)
{
	struct rlimit rl;
	unsigned got;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	got = kr_fdbudget_raise(64);
	assert_true(got >= 64);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(rl.rlim_cur, got);
	got = kr_fdbudget_raise(4096);
	assert_true(got == 4096 || got == rl.rlim_max);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fdbudget_plan_splits_the_rest),
		cmocka_unit_test(test_fdbudget_plan_tiny_limit),
		cmocka_unit_test(test_fdbudget_plan_admin),
		cmocka_unit_test(test_fdbudget_raise_never_lowers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
