/* cmocka tests for a shard joining without a restart: a [shard.N]
 * without buckets owns none (the shard map places nobody there), a
 * reload that only appends such shards grows the storage config, any
 * other change of the shards is refused with nothing applied, and the
 * storage metrics of the shards a reload may add are reserved hidden
 * at start and shown when they join. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/metrics.h"
#include "server/runtime.h"
#include "storage/connmgr.h"
#include "storage/shardmap.h"

#define GROW_TMP "/tmp/kr-test-shard-grow-XXXXXX"

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static struct kr_config *
load_text(const char *text)
{
	char path[] = GROW_TMP;
	int fd = mkstemp(path);
	struct kr_config *cfg = NULL;
	struct kr_err err;

	assert_true(fd >= 0);
	close(fd);
	write_file(path, text);
	if (kr_config_load(path, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	unlink(path);
	return cfg;
}

#define TWO_SHARDS                                         \
	"[shard.0]\nprimary = host=h0\nbuckets = 0-2047\n" \
	"[shard.1]\nprimary = host=h1\nbuckets = 2048-4095\n"

/* The shard map never places an address on a shard without buckets. */
static void
test_shard_grow_empty_shard_owns_nothing(void **state)
{
	struct kr_config *cfg =
		load_text(TWO_SHARDS "[shard.2]\nprimary = host=h2\n");
	struct kr_shardmap *map = kr_shardmap_create(cfg);
	unsigned on[3] = { 0 };

	(void)state;
	assert_int_equal(kr_shardmap_count(map), 3);
	for (unsigned b = 0; b < KR_SHARD_BUCKETS; b++) {
		int s = kr_shardmap_bucket_shard(map, b);

		assert_true(s >= 0 && s < 3);
		on[s]++;
	}
	assert_int_equal(on[0], 2048);
	assert_int_equal(on[1], 2048);
	assert_int_equal(on[2], 0);
	kr_shardmap_destroy(&map);
	kr_config_destroy(&cfg);
}

struct compare_case {
	const char *fresh;
	int rc;
	bool grown;
	const char *msg; /* a part of the refusal */
};

static const struct compare_case compare_cases[] = {
	{ TWO_SHARDS, 0, false, NULL },
	/* pool sizes are not compared: they wait for a restart */
	{ TWO_SHARDS "pool_high = 3\n", 0, false, NULL },
	{ TWO_SHARDS "[shard.2]\nprimary = host=h2\n", 0, true, NULL },
	{ TWO_SHARDS "[shard.2]\nprimary = host=h2\n"
		     "[shard.3]\nprimary = host=h3\nreplica = host=r3\n",
	  0, true, NULL },
	{ "[shard.0]\nprimary = host=h0\nbuckets = 0-4095\n", -1, false,
	  "[shard.1] removed" },
	{ "[shard.0]\nprimary = host=hX\nbuckets = 0-2047\n"
	  "[shard.1]\nprimary = host=h1\nbuckets = 2048-4095\n",
	  -1, false, "[shard.0] primary changed" },
	{ TWO_SHARDS "replica = host=r1\n", -1, false,
	  "[shard.1] replicas changed (0 -> 1)" },
	{ "[shard.0]\nprimary = host=h0\nbuckets = 0-2046\n"
	  "[shard.1]\nprimary = host=h1\nbuckets = 2047-4095\n",
	  -1, false, "[shard.0] buckets changed" },
	{ "[shard.0]\nprimary = host=h0\nbuckets = 0-2047\n"
	  "[shard.1]\nprimary = host=h1\nbuckets = 2048-4094\n"
	  "[shard.2]\nprimary = host=h2\nbuckets = 4095-4095\n",
	  -1, false, "[shard.1] buckets changed" },
	{ "[shard.0]\nprimary = host=h0\nbuckets = 0-4095\n"
	  "[shard.1]\nprimary = host=h1\n",
	  -1, false, "[shard.0] buckets changed" },
};

static void
test_shard_grow_compare(void **state)
{
	struct kr_config *old = load_text(TWO_SHARDS);

	(void)state;
	for (size_t i = 0; i < sizeof(compare_cases) / sizeof(compare_cases[0]);
	     i++) {
		const struct compare_case *c = &compare_cases[i];
		struct kr_config *fresh = load_text(c->fresh);
		struct kr_err err = { 0 };
		bool grown = true;
		int rc = kr_runtime_storage_compare(old, fresh, &grown, &err);

		if (rc != c->rc || grown != c->grown)
			fail_msg("case %zu: rc %d grown %d (%s)", i, rc, grown,
				 err.msg);
		if (c->msg != NULL && strstr(err.msg, c->msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg,
				 c->msg);
		if (rc < 0 && strstr(err.msg, "nothing changed") == NULL)
			fail_msg("case %zu: '%s'", i, err.msg);
		kr_config_destroy(&fresh);
	}
	kr_config_destroy(&old);
}

/* An even split changes every range when a shard is added: refused,
 * with the way out (write the ranges out). */
static void
test_shard_grow_even_split_refused(void **state)
{
	struct kr_config *old = load_text("[shard.0]\nprimary = host=h0\n"
					  "[shard.1]\nprimary = host=h1\n");
	struct kr_config *fresh = load_text("[shard.0]\nprimary = host=h0\n"
					    "[shard.1]\nprimary = host=h1\n"
					    "[shard.2]\nprimary = host=h2\n");
	struct kr_err err = { 0 };
	bool grown;

	(void)state;
	assert_int_equal(kr_runtime_storage_compare(old, fresh, &grown, &err),
			 -1);
	assert_non_null(strstr(err.msg, "[shard.0] buckets changed"));
	assert_non_null(strstr(err.msg, "write the ranges out"));
	kr_config_destroy(&fresh);
	kr_config_destroy(&old);
}

static int
shown(const struct kr_metrics *m, const char *name, const char *labels)
{
	int id = kr_metrics_find(m, name, labels);

	if (id < 0)
		return -1;
	return !kr_metrics_hidden(m, id);
}

static void
runtime_at(struct kr_runtime *rt, char *path, const char *text)
{
	struct kr_err err;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	write_file(path, text);
	if (kr_runtime_init(rt, path, &err) < 0)
		fail_msg("runtime: %s", err.msg);
}

#define GROW_BASE                                                 \
	"[workers]\ncount = 1\n[log]\nlevel = error\n[storage]\n" \
	"max_shards = 4\n" TWO_SHARDS

/* Reserved at start, hidden; a reload appending shard 2 shows its
 * metrics and makes it storage's; shard 3 stays hidden. */
static void
test_shard_grow_reload(void **state)
{
	struct kr_runtime rt;
	char path[] = GROW_TMP;
	struct kr_runtime_staged st;
	struct kr_err err = { 0 };
	const char *q = "kurier_db_queries_total";
	struct kr_metric_value fails;

	(void)state;
	runtime_at(&rt, path, GROW_BASE);
	assert_int_equal(shown(rt.metrics, q, "shard=\"1\",node=\"primary\""),
			 1);
	assert_int_equal(shown(rt.metrics, q, "shard=\"2\",node=\"primary\""),
			 0);
	assert_int_equal(shown(rt.metrics, q, "shard=\"3\",node=\"primary\""),
			 0);
	assert_int_equal(shown(rt.metrics, "kurier_db_users", "shard=\"2\""),
			 0);
	/* no replica anywhere: none reserved */
	assert_int_equal(shown(rt.metrics, q, "shard=\"2\",node=\"replica0\""),
			 -1);
	assert_int_equal(shown(rt.metrics, q, "shard=\"4\",node=\"primary\""),
			 -1);
	assert_int_equal(kr_connmgr_drain_metric(rt.db_ids, 3) >= 0, 1);
	assert_int_equal(kr_connmgr_drain_metric(rt.db_ids, 4), -1);

	/* A changed primary: refused, nothing changed. */
	write_file(path, "[workers]\ncount = 1\n[log]\nlevel = error\n"
			 "[storage]\nmax_shards = 4\n"
			 "[shard.0]\nprimary = host=hX\nbuckets = 0-2047\n"
			 "[shard.1]\nprimary = host=h1\nbuckets = 2048-4095\n"
			 "[shard.2]\nprimary = host=h2\n");
	{
		struct kr_config *before = rt.cfg;

		assert_int_equal(kr_runtime_reload_begin(&rt, &st, &err), -1);
		assert_non_null(strstr(err.msg, "[shard.0] primary changed"));
		assert_ptr_equal(rt.cfg, before);
		assert_int_equal(rt.storage_cfg->n_shards, 2);
		kr_metrics_read_slot(rt.slot, rt.ids.config_failures, &fails);
		assert_int_equal(fails.value, 1);
	}

	/* Five shards: over the reservation. */
	write_file(path, GROW_BASE "[shard.2]\nprimary = host=h2\n"
				   "[shard.3]\nprimary = host=h3\n"
				   "[shard.4]\nprimary = host=h4\n");
	assert_int_equal(kr_runtime_reload_begin(&rt, &st, &err), -1);
	assert_non_null(strstr(err.msg, "more need a restart"));
	/* A new shard with a replica: none reserved. */
	write_file(path, GROW_BASE "[shard.2]\nprimary = host=h2\n"
				   "replica = host=r2\n");
	assert_int_equal(kr_runtime_reload_begin(&rt, &st, &err), -1);
	assert_non_null(strstr(err.msg, "[shard.2]: 1 replicas"));

	/* Shard 2 joins. */
	write_file(path, GROW_BASE "[shard.2]\nprimary = host=h2\n");
	if (kr_runtime_reload_begin(&rt, &st, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(st.grown);
	assert_int_equal(st.old_shards, 2);
	kr_runtime_reload_commit(&rt, &st, true);
	assert_ptr_equal(rt.storage_cfg, rt.cfg);
	assert_int_equal(rt.storage_cfg->n_shards, 3);
	assert_false(rt.storage_cfg->shards[2].has_buckets);
	assert_int_equal(shown(rt.metrics, q, "shard=\"2\",node=\"primary\""),
			 1);
	assert_int_equal(shown(rt.metrics, "kurier_db_users", "shard=\"2\""),
			 1);
	assert_int_equal(shown(rt.metrics, "kurier_db_pool_idle",
			       "shard=\"2\",node=\"primary\""),
			 1);
	assert_int_equal(shown(rt.metrics, q, "shard=\"3\",node=\"primary\""),
			 0);
	assert_int_equal(
		kr_connmgr_metrics_fit(rt.db_ids, rt.storage_cfg, &err), 0);

	/* The same file again: nothing grows; a worker's reload (no
	 * adoption) keeps the storage config it was forked with. */
	if (kr_runtime_reload(&rt, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rt.storage_cfg->n_shards, 3);
	assert_true(rt.storage_cfg != rt.cfg);
	unlink(path);
	kr_runtime_deinit(&rt);
}

/* n shards of r replicas each, the default max_shards. */
static void
runtime_shards(struct kr_runtime *rt, char *path, unsigned n, unsigned r)
{
	size_t size = 64 + n * (40 + r * 32), len;
	char *text = kr_xcalloc(1, size);

	len = (size_t)snprintf(text, size,
			       "[workers]\ncount = 1\n[log]\nlevel = error\n");
	for (unsigned i = 0; i < n; i++) {
		len += (size_t)snprintf(text + len, size - len,
					"[shard.%u]\nprimary = host=h%u\n", i,
					i);
		for (unsigned k = 0; k < r; k++)
			len += (size_t)snprintf(text + len, size - len,
						"replica = host=r%u.%u\n", i,
						k);
	}
	assert_true(len < size);
	runtime_at(rt, path, text);
	free(text);
}

/* The dev cluster's shape (20 shards, a replica each) reserves the
 * default 64; with many replicas the reserve does not fit the
 * registry, and the start goes on without it (growing then needs a
 * restart). */
static void
test_shard_grow_reserve_fits(void **state)
{
	struct kr_runtime rt;
	char path[] = GROW_TMP;
	char path2[] = GROW_TMP;

	(void)state;
	runtime_shards(&rt, path, 20, 1);
	assert_true(kr_connmgr_drain_metric(rt.db_ids, 63) >= 0);
	assert_int_equal(kr_connmgr_drain_metric(rt.db_ids, 64), -1);
	assert_true(kr_metrics_count(rt.metrics) <= KR_METRICS_MAX);
	unlink(path);
	kr_runtime_deinit(&rt);

	runtime_shards(&rt, path2, 20, 4);
	assert_true(kr_connmgr_drain_metric(rt.db_ids, 19) >= 0);
	assert_int_equal(kr_connmgr_drain_metric(rt.db_ids, 20), -1);
	assert_int_equal(shown(rt.metrics, "kurier_db_queries_total",
			       "shard=\"19\",node=\"replica3\""),
			 1);
	unlink(path2);
	kr_runtime_deinit(&rt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shard_grow_empty_shard_owns_nothing),
		cmocka_unit_test(test_shard_grow_compare),
		cmocka_unit_test(test_shard_grow_even_split_refused),
		cmocka_unit_test(test_shard_grow_reload),
		cmocka_unit_test(test_shard_grow_reserve_fits),
	};

	return cmocka_run_group_tests_name("shard_grow", tests, NULL, NULL);
}
