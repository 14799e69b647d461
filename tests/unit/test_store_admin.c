/* cmocka tests for storage/store_admin (the store's blocking admin part
 * the CLI runs on) and storage/pgnode. The admin tests run against a
 * real cluster: skipped unless KR_TEST_PG_CONF names a kurier.conf
 * written by ops/pgcluster (tests/integration/test_cli.sh runs them
 * on its cluster). Addresses carry a per-run tag, so runs on one
 * cluster never meet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/limits.h"
#include "storage/pgnode.h"
#include "storage/shardmap.h"
#include "storage/store_admin.h"

#include "conf_env.h"

#define HASH "{PLAIN}secret"

struct env {
	struct kr_config *cfg;
	struct kr_shardmap *map;
	struct kr_store_admin *adm;
	char tag[32];
	unsigned seq;
};

static int
env_setup(void **state)
{
	const char *path = getenv("KR_TEST_PG_CONF");
	struct kr_err err;
	struct env *e;

	*state = NULL;
	if (path == NULL || path[0] == '\0')
		return 0;
	e = calloc(1, sizeof(*e));
	if (kr_config_load(path, &e->cfg, &err) < 0)
		fail_msg("%s", err.msg);
	e->map = kr_shardmap_create(e->cfg);
	e->adm = kr_store_admin_create(e->cfg, e->map, 10000);
	snprintf(e->tag, sizeof(e->tag), "%ld.%ld", (long)getpid(),
		 (long)time(NULL));
	*state = e;
	return 0;
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	if (e == NULL)
		return 0;
	kr_store_admin_destroy(&e->adm);
	assert_null(e->adm);
	kr_shardmap_destroy(&e->map);
	kr_config_destroy(&e->cfg);
	free(e);
	return 0;
}

static void
addr_make(struct env *e, const char *who, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%u.%s@Admin.Example", who, e->seq++, e->tag);
}

static int
shard_of(struct env *e, const char *addr)
{
	return kr_shardmap_shard(e->map, addr, strlen(addr));
}

/* One user of the listing, found by address. */
struct find {
	const char *address; /* lower-case */
	struct kr_store_admin_user got;
	unsigned seen, total;
	char last[KR_ADDRESS_MAX + 1];
	bool ordered;
};

static void
find_user(void *ctx, const struct kr_store_admin_user *u)
{
	struct find *f = ctx;

	if (f->total > 0 && strcmp(f->last, u->address) >= 0)
		f->ordered = false;
	snprintf(f->last, sizeof(f->last), "%s", u->address);
	f->total++;
	if (f->address != NULL && strcmp(u->address, f->address) == 0) {
		f->got = *u;
		f->got.address = NULL;
		f->seen++;
	}
}

static struct find
list_find(struct env *e, const char *address, uint64_t limit)
{
	struct find f = { .address = address, .ordered = true };
	struct kr_err err;

	if (kr_store_admin_user_list(e->adm, limit, find_user, &f, &err) < 0)
		fail_msg("list: %s", err.msg);
	return f;
}

static void
test_store_admin_user_calls(void **state)
{
	struct env *e = *state;
	char addr[128], lower[128];
	struct kr_err err;
	struct find f;
	int shard;

	NEED_CLUSTER(state);
	addr_make(e, "Ann", addr, sizeof(addr));
	for (size_t i = 0; i <= strlen(addr); i++)
		lower[i] = (char)(addr[i] >= 'A' && addr[i] <= 'Z'
					  ? addr[i] - 'A' + 'a'
					  : addr[i]);
	assert_int_equal(kr_store_admin_user_create(e->adm, addr, HASH, 1024,
						    &shard, &err),
			 0);
	assert_int_equal(shard, shard_of(e, lower));
	f = list_find(e, lower, 0);
	assert_int_equal(f.seen, 1);
	assert_int_equal(f.got.quota_bytes, 1024);
	assert_int_equal(f.got.used_bytes, 0);
	assert_int_equal(f.got.messages, 0);
	/* Any case is the same user. */
	assert_int_equal(kr_store_admin_user_create(e->adm, lower, HASH, 0,
						    &shard, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_CONFLICT);
	assert_int_equal(shard, shard_of(e, lower));
	assert_int_equal(
		kr_store_admin_user_set_quota(e->adm, addr, 0, &shard, &err),
		0);
	assert_int_equal(kr_store_admin_user_set_password(
				 e->adm, addr, "{PLAIN}other", &shard, &err),
			 0);
	f = list_find(e, lower, 0);
	assert_int_equal(f.got.quota_bytes, 0);
	assert_int_equal(kr_store_admin_user_delete(e->adm, addr, &shard, &err),
			 0);
	assert_int_equal(list_find(e, lower, 0).seen, 0);
	assert_int_equal(kr_store_admin_user_delete(e->adm, addr, &shard, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_NOT_FOUND);
	assert_int_equal(kr_store_admin_user_set_password(e->adm, addr, HASH,
							  &shard, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_NOT_FOUND);
	assert_int_equal(
		kr_store_admin_user_set_quota(e->adm, addr, 1, &shard, &err),
		-1);
	assert_int_equal(err.kind, KR_ERR_NOT_FOUND);
}

/* Refused before any statement: a bad address (not placed), an empty
 * hash, a negative quota (placed). */
static void
test_store_admin_bad_arguments(void **state)
{
	struct env *e = *state;
	char addr[128];
	struct kr_err err;
	int shard;

	NEED_CLUSTER(state);
	assert_int_equal(kr_store_admin_user_create(e->adm, "a b@c", HASH, 0,
						    &shard, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_int_equal(shard, -1);
	assert_int_equal(
		kr_store_admin_user_delete(e->adm, "nobody", &shard, &err), -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_string_equal(err.msg, "address is not local@domain");
	addr_make(e, "bad", addr, sizeof(addr));
	assert_int_equal(
		kr_store_admin_user_create(e->adm, addr, "", 0, &shard, &err),
		-1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_int_equal(shard, shard_of(e, addr));
	assert_int_equal(kr_store_admin_user_create(e->adm, addr, HASH, -1,
						    &shard, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_int_equal(
		kr_store_admin_user_set_quota(e->adm, addr, -1, &shard, &err),
		-1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
}

/* Users of every shard come back merged in byte order; a limit cuts
 * the merged list. */
static void
test_store_admin_list_merges(void **state)
{
	struct env *e = *state;
	char addr[128];
	struct kr_err err;
	struct find all, two;
	int shard;

	NEED_CLUSTER(state);
	for (unsigned i = 0; i < 3 * e->cfg->n_shards; i++) {
		addr_make(e, "list", addr, sizeof(addr));
		assert_int_equal(kr_store_admin_user_create(e->adm, addr, HASH,
							    0, &shard, &err),
				 0);
	}
	all = list_find(e, NULL, 0);
	assert_true(all.ordered);
	assert_true(all.total >= 3 * e->cfg->n_shards);
	two = list_find(e, NULL, 2);
	assert_int_equal(two.total, 2);
	assert_true(two.ordered);
}

/* An import counts what it created and what existed; only the shards'
 * batches collected count. */
static void
test_store_admin_import(void **state)
{
	struct env *e = *state;
	struct kr_store_admin_import_counts c = { 0 }, again = { 0 };
	char addr[40][128];
	struct kr_err err;

	NEED_CLUSTER(state);
	for (unsigned i = 0; i < 40; i++) {
		addr_make(e, "imp", addr[i], sizeof(addr[i]));
		assert_int_equal(kr_store_admin_import_add(e->adm, addr[i],
							   HASH, &c, &err),
				 0);
	}
	/* A repeat inside the import: 'exists' after its first. */
	assert_int_equal(
		kr_store_admin_import_add(e->adm, addr[0], HASH, &c, &err), 0);
	for (unsigned s = 0; s < e->cfg->n_shards; s++) {
		assert_int_equal(
			kr_store_admin_import_flush(e->adm, s, &c, &err), 0);
		assert_int_equal(
			kr_store_admin_import_collect(e->adm, s, &c, &err), 0);
		/* Collected: nothing left to wait for. */
		assert_int_equal(
			kr_store_admin_import_collect(e->adm, s, &c, &err), 0);
	}
	assert_int_equal(c.ok, 40);
	assert_int_equal(c.existed, 1);
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(kr_store_admin_import_add(e->adm, addr[i],
							   HASH, &again, &err),
				 0);
	for (unsigned s = 0; s < e->cfg->n_shards; s++) {
		assert_int_equal(
			kr_store_admin_import_flush(e->adm, s, &again, &err),
			0);
		assert_int_equal(
			kr_store_admin_import_collect(e->adm, s, &again, &err),
			0);
	}
	assert_int_equal(again.ok, 0);
	assert_int_equal(again.existed, 40);
	assert_int_equal(
		kr_store_admin_import_add(e->adm, addr[0], "", &c, &err), -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
}

static void
test_store_admin_probe(void **state)
{
	struct env *e = *state;
	struct kr_store_admin_probe p;

	NEED_CLUSTER(state);
	kr_store_admin_probe(e->cfg->shards[0].primary, &p);
	assert_true(p.reachable);
	assert_false(p.in_recovery);
	assert_true(p.have_users);
	assert_true(p.users >= 0);
	assert_true(p.latency_ms >= 0);
	/* Nothing listens on port 1. */
	kr_store_admin_probe("host=127.0.0.1 port=1 dbname=x", &p);
	assert_false(p.reachable);
	assert_true(strlen(p.error) > 0);
}

/* A config without shards places nobody. */
static void
test_store_admin_no_shards(void **state)
{
	char path[64];
	struct kr_config *cfg;
	struct kr_shardmap *map;
	struct kr_store_admin *adm;
	struct kr_err err;
	int shard;

	(void)state;
	conf_env_write(path, sizeof(path), "/tmp/kr-test-admin-XXXXXX",
		       "[log]\nlevel = info\n", 19);
	assert_int_equal(kr_config_load(path, &cfg, &err), 0);
	unlink(path);
	map = kr_shardmap_create(cfg);
	adm = kr_store_admin_create(cfg, map, 1000);
	assert_int_equal(kr_store_admin_user_delete(adm, "a@b", &shard, &err),
			 -1);
	assert_int_equal(shard, -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "no [shard.N] in /tmp/kr-test-admin"));
	kr_store_admin_destroy(&adm);
	kr_shardmap_destroy(&map);
	kr_config_destroy(&cfg);
}

/* Node names show host, port and dbname, never the password. */
static void
test_pgnode_describe(void **state)
{
	static const struct {
		const char *conninfo, *want;
	} cases[] = {
		{ "host=db1 port=5432 dbname=kurier password=secret user=k",
		  "host=db1 port=5432 dbname=kurier" },
		{ "hostaddr=10.0.0.1 dbname=x", "host=10.0.0.1 port=(default) "
						"dbname=x" },
		{ "host=a hostaddr=10.0.0.1", "host=a port=(default) "
					      "dbname=(default)" },
		{ "postgresql://u:pw@h:7/d", "host=h port=7 dbname=d" },
		{ "", "host=(default) port=(default) dbname=(default)" },
		{ "not a conninfo", "host=(default) port=(default) "
				    "dbname=(default)" },
	};
	char buf[KR_CONFIG_VALUE_MAX + 64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(
			kr_pgnode_describe(cases[i].conninfo, buf, sizeof(buf)),
			cases[i].want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_admin_user_calls),
		cmocka_unit_test(test_store_admin_bad_arguments),
		cmocka_unit_test(test_store_admin_list_merges),
		cmocka_unit_test(test_store_admin_import),
		cmocka_unit_test(test_store_admin_probe),
		cmocka_unit_test(test_store_admin_no_shards),
		cmocka_unit_test(test_pgnode_describe),
	};

	return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
