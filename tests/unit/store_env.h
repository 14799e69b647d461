/* The harness of the store tests that run against a real cluster
 * (test_store*.c): a loop with pools, connection manager and store (with
 * its write generations) on a config made for the test from
 * KR_TEST_PG_CONF's shards, callbacks that record what they got, and
 * RUN() to begin one operation and wait for its one answer. Skipped
 * unless KR_TEST_PG_CONF names a kurier.conf written by ops/pgcluster.
 * Include after cmocka.h; the includer defines WAIT_MS and OP_MS.
 * Helpers are static inline so a test that does not use one does not
 * warn. */
#ifndef KR_TEST_STORE_ENV_H
#define KR_TEST_STORE_ENV_H

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/genmap.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/tpool.h"
#include "storage/connmgr.h"
#include "storage/migrate.h"
#include "storage/shardmap.h"
#include "storage/store.h"

#include "conf_env.h" /* NEED_CLUSTER */

struct env {
	struct event_base *base;
	struct event *tick;
	struct kr_tpool *io, *cpu;
	struct kr_config *cfg;
	struct kr_metrics *metrics;
	struct kr_connmgr_metrics *ids;
	struct kr_log *log;
	struct kr_connmgr *mgr;
	struct kr_shardmap *map;
	struct kr_store *store;
	struct kr_genmap *gens; /* the store's write generations */
	struct kr_arena *arena; /* per test */
	char path[64];
	char tag[32];
	unsigned seq;
	bool in_begin; /* a callback now would break the contract */
};

/* What one callback got. */
struct rec {
	struct env *e;
	int calls;
	struct kr_err err; /* kind KR_ERR_NONE on success */
	const void *res;
};

static inline void
rec_note(void *ctx, const void *res, const struct kr_err *err)
{
	struct rec *r = ctx;

	assert_false(r->e->in_begin);
	r->calls++;
	r->res = res;
	if (err != NULL)
		r->err = *err;
	else
		kr_err_clear(&r->err);
}

/* A callback with a result: exactly one of res and err. */
#define REC_FN(name, type)                                   \
	static inline void name(void *ctx, const type *res,  \
				const struct kr_err *err)    \
	{                                                    \
		rec_note(ctx, res, err);                     \
		assert_true((res == NULL) != (err == NULL)); \
	}

static inline void
rec_done(void *ctx, const struct kr_err *err)
{
	rec_note(ctx, NULL, err);
}

/* Runs the loop until every rec in r[0..n) has its callback. */
static inline bool
wait_recs(struct env *e, struct rec *r, unsigned n)
{
	int64_t end = kr_clock_mono_ms() + WAIT_MS;

	for (;;) {
		unsigned done = 0;

		for (unsigned i = 0; i < n; i++)
			done += r[i].calls > 0;
		if (done == n)
			return true;
		if (kr_clock_mono_ms() > end)
			return false;
		event_base_loop(e->base, EVLOOP_ONCE);
	}
}

/* Runs the loop for ms milliseconds. */
static inline void
spin(struct env *e, int64_t ms)
{
	int64_t end = kr_clock_mono_ms() + ms;

	while (kr_clock_mono_ms() < end)
		event_base_loop(e->base, EVLOOP_ONCE);
}

static inline struct kr_deadline
dl(void)
{
	return kr_deadline_after(kr_clock_mono_us(), OP_MS);
}

/* Begins `call` with r armed, then waits for exactly one answer. */
#define RUN(e, r, call)                               \
	do {                                          \
		memset(&(r), 0, sizeof(r));           \
		(r).e = (e);                          \
		(e)->in_begin = true;                 \
		assert_non_null(call);                \
		(e)->in_begin = false;                \
		assert_true(wait_recs((e), &(r), 1)); \
		assert_int_equal((r).calls, 1);       \
	} while (0)

#define KIND(r) ((r).err.kind)
#define OK(r)                                                              \
	do {                                                               \
		if ((r).err.kind != KR_ERR_NONE)                           \
			fail_msg("%s: %s", kr_err_kind_name((r).err.kind), \
				 (r).err.msg);                             \
	} while (0)

/* Keeps the loop from blocking forever when nothing else is armed. */
static inline void
env_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Start-up's migration step: every version on the first run against a
 * cluster, none on later runs (scripts may check the line). */
static inline void
env_migrate(struct env *e)
{
	unsigned total = 0;

	for (unsigned i = 0; i < e->cfg->n_shards; i++) {
		struct kr_err err;
		unsigned applied = 0;

		if (kr_migrate_apply(e->cfg->shards[i].primary, i, &applied,
				     &err) < 0)
			fail_msg("migrate shard %u: %s", i, err.msg);
		total += applied;
	}
	printf("migrations applied: %u on %u nodes\n", total, e->cfg->n_shards);
}

/* The group set-up after the test wrote e->path: config, migrations,
 * loop, pools, connection manager, store; users get tag prefix+time. */
static inline void
env_start(struct env *e, const char *prefix)
{
	struct kr_tpool_settings io = { "io", 2, 256, 0 };
	struct kr_tpool_settings cpu = { "cpu", 1, 4096, 256 };
	struct timeval tick = { 0, 5000 };
	struct kr_err err;

	assert_int_equal(kr_config_load(e->path, &e->cfg, &err), 0);
	env_migrate(e);
	snprintf(e->tag, sizeof(e->tag), "%s%ldp%d", prefix, (long)time(NULL),
		 (int)getpid());
	e->base = event_base_new();
	e->tick = event_new(e->base, -1, EV_PERSIST, env_on_tick, NULL);
	event_add(e->tick, &tick);
	e->io = kr_tpool_create(e->base, &io);
	e->cpu = kr_tpool_create(e->base, &cpu);
	e->metrics = kr_metrics_create();
	e->ids = kr_connmgr_define_metrics(e->metrics, e->cfg, &err);
	assert_non_null(e->ids);
	assert_int_equal(kr_metrics_map(e->metrics, 1, &err), 0);
	kr_metrics_slot_claim(kr_metrics_slot(e->metrics, 0), getpid(), 0);
	e->log = kr_log_create(STDERR_FILENO, KR_LOG_WARN, "test");
	e->mgr = kr_connmgr_create(e->base, e->io, e->cfg,
				   kr_metrics_slot(e->metrics, 0), e->ids,
				   e->log);
	e->map = kr_shardmap_create(e->cfg);
	e->gens = kr_genmap_create(KR_GENMAP_SLOTS_MAX, &err);
	assert_non_null(e->gens);
	e->store = kr_store_create(e->base, e->mgr, e->map, e->cpu, e->gens,
				   e->cfg, e->log);
}

/* Writes the test's config to e->path: head (sections and keys), then
 * the cluster's shards (conf_env_shards: replica_of). */
static inline void
env_write_conf(struct env *e, const char *head, int replica_of)
{
	FILE *fp =
		conf_env_open(e->path, sizeof(e->path), "/tmp/kr-store-XXXXXX");

	fputs(head, fp);
	conf_env_shards(fp, replica_of);
	conf_env_close(fp);
}

/* The group set-up of a cluster test: nothing (the tests skip) without
 * KR_TEST_PG_CONF; else the config (env_write_conf) and env_start. */
static inline int
env_setup_with(void **state, const char *head, int replica_of,
	       const char *prefix)
{
	struct env *e;

	if (getenv("KR_TEST_PG_CONF") == NULL)
		return 0;
	e = kr_xcalloc(1, sizeof(*e));
	*state = e;
	env_write_conf(e, head, replica_of);
	env_start(e, prefix);
	return 0;
}

static inline int
env_teardown(void **state)
{
	struct env *e = *state;

	if (e == NULL)
		return 0;
	kr_store_destroy(&e->store);
	kr_connmgr_destroy(&e->mgr);
	kr_tpool_destroy(&e->cpu);
	kr_tpool_destroy(&e->io);
	kr_shardmap_destroy(&e->map);
	kr_genmap_destroy(&e->gens);
	kr_connmgr_metrics_free(&e->ids);
	kr_metrics_destroy(&e->metrics);
	kr_log_destroy(&e->log);
	kr_config_destroy(&e->cfg);
	event_free(e->tick);
	event_base_free(e->base);
	unlink(e->path);
	free(e);
	return 0;
}

/* Each test gets a fresh arena for its results. */
static inline int
test_setup(void **state)
{
	struct env *e = *state;

	if (e != NULL)
		e->arena = kr_arena_create(16384, 0, false);
	return 0;
}

static inline int
test_teardown(void **state)
{
	struct env *e = *state;

	if (e != NULL)
		kr_arena_destroy(&e->arena);
	return 0;
}

#endif
