/* Connection manager against real PostgreSQL nodes. Skipped unless
 * KR_TEST_PG_CONF names a kurier.conf written by ops/pgcluster and
 * KR_TEST_PG_DIR its cluster directory (tests/integration/
 * test_connmgr.sh sets both). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/config.h"
#include "lib/tpool.h"
#include "storage/census.h"
#include "storage/connmgr.h"

#include "conf_env.h"

struct cm_fixture {
	struct event_base *base;
	struct kr_tpool *io;
	struct kr_config *cfg;
	struct kr_metrics *metrics;
	struct kr_connmgr_metrics *ids;
	struct kr_log *log;
	struct kr_connmgr *mgr;
	char path[64];
};

struct cm_answer {
	bool done;
	enum kr_err_kind kind;
	char value[64];
	int64_t at_us;
};

static void
cm_answer_cb(void *ctx, const PGresult *res, const struct kr_err *err)
{
	struct cm_answer *a = ctx;

	a->done = true;
	a->at_us = kr_clock_mono_us();
	a->kind = err != NULL ? err->kind : KR_ERR_NONE;
	if (res != NULL && PQntuples(res) > 0)
		snprintf(a->value, sizeof(a->value), "%s",
			 PQgetvalue(res, 0, 0));
	else if (err != NULL) /* for failure messages */
		snprintf(a->value, sizeof(a->value), "%.63s", err->msg);
}

/* Runs the loop until every answer is in or `ms` passed. */
static bool
cm_wait(struct cm_fixture *f, struct cm_answer *a, unsigned n, int64_t ms)
{
	int64_t end = kr_clock_mono_ms() + ms;

	for (;;) {
		unsigned done = 0;

		for (unsigned i = 0; i < n; i++)
			done += a[i].done;
		if (done == n)
			return true;
		if (kr_clock_mono_ms() >= end)
			return false;
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* Runs the loop for `ms`. */
static void
cm_run(struct cm_fixture *f, int64_t ms)
{
	int64_t end = kr_clock_mono_ms() + ms;

	while (kr_clock_mono_ms() < end) {
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static int
cm_query(struct cm_fixture *f, unsigned shard, enum kr_connmgr_mode mode,
	 const char *user, const char *sql, int64_t deadline_ms,
	 struct cm_answer *a, struct kr_err *err)
{
	struct kr_pgquery q = { .sql = sql };

	memset(a, 0, sizeof(*a));
	return kr_connmgr_query(
		f->mgr, shard, mode, user, &q,
		kr_deadline_after(kr_clock_mono_us(), deadline_ms),
		cm_answer_cb, a, NULL, err);
}

/* Writes a config: the cluster's shards, extra lines for [storage],
 * and for shard 0 a replica that is shard `replica_of`'s primary (0:
 * its own again; -1: none). */
static void
cm_write_conf(struct cm_fixture *f, const char *storage, int replica_of)
{
	FILE *fp = conf_env_open(f->path, sizeof(f->path), "/tmp/kr-cm-XXXXXX");

	fprintf(fp, "[storage]\n%s\n", storage);
	conf_env_shards(fp, replica_of);
	conf_env_close(fp);
}

static void
cm_start(struct cm_fixture *f, const char *storage, int replica_of)
{
	struct kr_tpool_settings io = { .name = "io",
					.threads = 2,
					.queue_max = 64 };
	struct kr_err err;

	cm_write_conf(f, storage, replica_of);
	assert_int_equal(kr_config_load(f->path, &f->cfg, &err), 0);
	f->base = event_base_new();
	f->io = kr_tpool_create(f->base, &io);
	f->metrics = kr_metrics_create();
	f->ids = kr_connmgr_define_metrics(f->metrics, f->cfg, &err);
	assert_non_null(f->ids);
	assert_int_equal(kr_metrics_map(f->metrics, 1, &err), 0);
	kr_metrics_slot_claim(kr_metrics_slot(f->metrics, 0), getpid(), 0);
	f->log = kr_log_create(STDERR_FILENO, KR_LOG_INFO, "test");
	f->mgr = kr_connmgr_create(f->base, f->io, f->cfg,
				   kr_metrics_slot(f->metrics, 0), f->ids,
				   f->log);
}

static int
cm_teardown(void **state)
{
	struct cm_fixture *f = *state;

	if (f == NULL)
		return 0;
	kr_connmgr_destroy(&f->mgr);
	kr_tpool_destroy(&f->io);
	kr_connmgr_metrics_free(&f->ids);
	kr_metrics_destroy(&f->metrics);
	kr_log_destroy(&f->log);
	kr_config_destroy(&f->cfg);
	if (f->base != NULL)
		event_base_free(f->base);
	unlink(f->path);
	free(f);
	return 0;
}

static int
cm_setup(void **state)
{
	if (getenv("KR_TEST_PG_CONF") == NULL ||
	    getenv("KR_TEST_PG_DIR") == NULL)
		return 0;
	*state = kr_xcalloc(1, sizeof(struct cm_fixture));
	return 0;
}

static void
test_connmgr_every_shard_answers(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[64];
	struct kr_err err;
	unsigned n;

	NEED_CLUSTER(state);
	cm_start(f, "", -1);
	n = kr_connmgr_shards(f->mgr);
	assert_true(n > 0 && n <= 64);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(cm_query(f, i, KR_CONNMGR_READ, NULL,
					  "SELECT current_setting('port')",
					  5000, &a[i], &err),
				 0);
	assert_true(cm_wait(f, a, n, 10000));
	for (unsigned i = 1; i < n; i++) {
		assert_int_equal(a[i].kind, KR_ERR_NONE);
		assert_int_equal(atoi(a[i].value), atoi(a[0].value) + (int)i);
	}
}

/* A statement the server refuses is our bug, not the client's:
 * KR_ERR_INTERNAL (its text for logs only, the API shows a fixed one). */
static void
test_connmgr_sql_error_is_internal(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[2];
	struct kr_err err;

	NEED_CLUSTER(state);
	cm_start(f, "pool_low = 1\npool_high = 1", -1);
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_READ, NULL,
				  "SELECT no_such_column", 5000, &a[0], &err),
			 0);
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_READ, NULL, "SELECT 42",
				  5000, &a[1], &err),
			 0);
	assert_true(cm_wait(f, a, 2, 10000));
	assert_int_equal(a[0].kind, KR_ERR_INTERNAL);
	/* The same (only) connection goes on serving. */
	assert_int_equal(a[1].kind, KR_ERR_NONE);
	assert_string_equal(a[1].value, "42");
}

static void
test_connmgr_pool_overload_and_queue_deadline(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[5];
	struct kr_err err;
	int64_t t0;

	NEED_CLUSTER(state);
	cm_start(f,
		 "pool_low = 0\npool_high = 2\npool_queue = 2\n"
		 "pool_queue_timeout = 10s",
		 -1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(cm_query(f, 1, KR_CONNMGR_WRITE, NULL,
					  "SELECT pg_sleep(1.5)", 5000, &a[i],
					  &err),
				 0);
	assert_true(!cm_wait(f, a, 2, 300)); /* both busy now */
	t0 = kr_clock_mono_us();
	for (int i = 2; i < 4; i++)
		assert_int_equal(cm_query(f, 1, KR_CONNMGR_WRITE, NULL,
					  "SELECT 1", 300, &a[i], &err),
				 0);
	/* high busy, queue full: refused at once, nothing called. */
	assert_int_equal(cm_query(f, 1, KR_CONNMGR_WRITE, NULL, "SELECT 1",
				  5000, &a[4], &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_OVERLOAD);
	assert_true(cm_wait(f, &a[2], 2, 2000));
	for (int i = 2; i < 4; i++) {
		assert_int_equal(a[i].kind, KR_ERR_TIMEOUT);
		assert_true(a[i].at_us - t0 < 1000000); /* no hang */
	}
	assert_true(cm_wait(f, a, 2, 5000));
	assert_int_equal(a[0].kind, KR_ERR_NONE);
	assert_false(a[4].done);
}

/* Waiting past pool_queue_timeout (before the request's own deadline)
 * is load shed, KR_ERR_OVERLOAD (-32011, 451): "busy", not "down". */
static void
test_connmgr_pool_queue_timeout_sheds(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[3];
	struct kr_err err;
	int64_t t0;

	NEED_CLUSTER(state);
	cm_start(f,
		 "pool_low = 0\npool_high = 1\npool_queue = 4\n"
		 "pool_queue_timeout = 300ms",
		 -1);
	assert_int_equal(cm_query(f, 1, KR_CONNMGR_WRITE, NULL,
				  "SELECT pg_sleep(1.5)", 5000, &a[0], &err),
			 0);
	assert_true(!cm_wait(f, a, 1, 200)); /* busy now */
	t0 = kr_clock_mono_us();
	assert_int_equal(cm_query(f, 1, KR_CONNMGR_WRITE, NULL, "SELECT 1",
				  5000, &a[1], &err),
			 0);
	assert_true(cm_wait(f, &a[1], 1, 2000));
	assert_int_equal(a[1].kind, KR_ERR_OVERLOAD);
	assert_true(a[1].at_us - t0 < 1000000);
	assert_true(cm_wait(f, a, 1, 5000));
	assert_int_equal(a[0].kind, KR_ERR_NONE);
}

/* The server ends a statement past [storage] query_timeout itself (its
 * statement_timeout): the caller hears KR_ERR_TIMEOUT from the server
 * long before the statement would have ended, and the connection goes
 * on serving. */
static void
test_connmgr_statement_timeout_on_server(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[3];
	struct kr_err err;
	int64_t t0 = kr_clock_mono_us();

	NEED_CLUSTER(state);
	cm_start(f, "pool_high = 1\npool_low = 1\nquery_timeout = 400ms", -1);
	/* The caller's own deadline is far: only the server can end it. */
	assert_int_equal(cm_query(f, 2, KR_CONNMGR_WRITE, NULL,
				  "SELECT pg_sleep(30)", 20000, &a[0], &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	assert_int_equal(a[0].kind, KR_ERR_TIMEOUT);
	assert_true(a[0].at_us - t0 >= 400000);
	assert_true(a[0].at_us - t0 < 3000000);
	assert_int_equal(cm_query(f, 2, KR_CONNMGR_READ, NULL,
				  "SELECT current_setting('statement_timeout')",
				  5000, &a[1], &err),
			 0);
	assert_int_equal(cm_query(f, 2, KR_CONNMGR_READ, NULL,
				  "SELECT count(*) FROM pg_stat_activity "
				  "WHERE query LIKE 'SELECT pg_sleep(30%'",
				  5000, &a[2], &err),
			 0);
	assert_true(cm_wait(f, &a[1], 2, 5000));
	assert_int_equal(a[1].kind, KR_ERR_NONE);
	assert_string_equal(a[1].value, "400ms");
	assert_int_equal(a[2].kind, KR_ERR_NONE);
	assert_string_equal(a[2].value, "0");
}

/* One pipelined connection (singleton pool): a query whose deadline
 * passes is answered KR_ERR_TIMEOUT at once, and nothing is cancelled
 * on the server, so the query pipelined after it still succeeds. */
static void
test_connmgr_timeout_spares_the_next_query(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[2];
	struct kr_err err;
	int64_t t0 = kr_clock_mono_us();

	NEED_CLUSTER(state);
	cm_start(f, "pool = singleton\nquery_timeout = 10s", -1);
	assert_int_equal(cm_query(f, 3, KR_CONNMGR_READ, NULL,
				  "SELECT pg_sleep(0.6)", 200, &a[0], &err),
			 0);
	assert_int_equal(cm_query(f, 3, KR_CONNMGR_READ, NULL, "SELECT 'next'",
				  5000, &a[1], &err),
			 0);
	assert_true(cm_wait(f, a, 1, 2000));
	assert_int_equal(a[0].kind, KR_ERR_TIMEOUT);
	assert_true(a[0].at_us - t0 < 500000);
	assert_true(cm_wait(f, a, 2, 5000));
	assert_int_equal(a[1].kind, KR_ERR_NONE);
	assert_string_equal(a[1].value, "next");
}

/* The same the other way round: a query that times out while it waits
 * behind another one in the pipeline must not cancel the one the
 * backend is running (a PQcancel would: it names the backend, not the
 * statement), nor the ones after it. */
static void
test_connmgr_timed_out_waiter_spares_the_running_query(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[3];
	struct kr_err err;

	NEED_CLUSTER(state);
	cm_start(f, "pool = singleton\nquery_timeout = 10s", -1);
	assert_int_equal(cm_query(f, 3, KR_CONNMGR_WRITE, NULL,
				  "SELECT 'slept' FROM pg_sleep(0.8)", 5000,
				  &a[0], &err),
			 0);
	assert_int_equal(cm_query(f, 3, KR_CONNMGR_WRITE, NULL, "SELECT 1", 200,
				  &a[1], &err),
			 0);
	assert_int_equal(cm_query(f, 3, KR_CONNMGR_WRITE, NULL, "SELECT 2",
				  5000, &a[2], &err),
			 0);
	assert_true(cm_wait(f, a, 3, 5000));
	assert_int_equal(a[1].kind, KR_ERR_TIMEOUT);
	assert_true(a[1].at_us < a[0].at_us);
	assert_int_equal(a[0].kind, KR_ERR_NONE);
	assert_string_equal(a[0].value, "slept");
	assert_int_equal(a[2].kind, KR_ERR_NONE);
	assert_string_equal(a[2].value, "2");
}

/* A backend that answers nothing (stopped with SIGSTOP: a hung node,
 * or a COMMIT stuck on its WAL flush, which statement_timeout does not
 * interrupt) closes the connection statement_timeout + 1 s after the
 * query started: KR_ERR_TEMPORARY for what was on it (a write's
 * outcome is then unknown), and the pool connects again. */
static void
test_connmgr_stalled_connection_is_closed(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[2];
	struct kr_err err;
	char pid[64];
	int64_t t0;

	NEED_CLUSTER(state);
	cm_start(f, "pool = singleton\nquery_timeout = 300ms", -1);
	assert_int_equal(cm_query(f, 5, KR_CONNMGR_READ, NULL,
				  "SELECT pg_backend_pid()", 5000, a, &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	assert_int_equal(a[0].kind, KR_ERR_NONE);
	snprintf(pid, sizeof(pid), "%s", a[0].value);
	assert_int_equal(kill(atoi(pid), SIGSTOP), 0);
	t0 = kr_clock_mono_us();
	assert_int_equal(cm_query(f, 5, KR_CONNMGR_WRITE, NULL, "SELECT 1",
				  20000, &a[1], &err),
			 0);
	assert_true(cm_wait(f, &a[1], 1, 5000));
	kill(atoi(pid), SIGCONT);
	/* 300 ms + 1 s, less what timers round off. */
	if (a[1].kind != KR_ERR_TEMPORARY || a[1].at_us - t0 < 1250000)
		fail_msg("%s (%s) after %lld us", kr_err_kind_name(a[1].kind),
			 a[1].value, (long long)(a[1].at_us - t0));
	assert_true(a[1].at_us - t0 < 3000000);
	assert_int_equal(cm_query(f, 5, KR_CONNMGR_READ, NULL,
				  "SELECT pg_backend_pid()", 5000, a, &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	assert_int_equal(a[0].kind, KR_ERR_NONE);
	assert_string_not_equal(a[0].value, pid);
}

static void
test_connmgr_singleton_pipelines(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[100];
	struct kr_connmgr_node_stats st;
	struct kr_err err;

	NEED_CLUSTER(state);
	cm_start(f, "pool = singleton\npool_queue = 200", -1);
	for (int i = 0; i < 100; i++)
		assert_int_equal(cm_query(f, 3, KR_CONNMGR_READ, NULL,
					  "SELECT pg_backend_pid()", 5000,
					  &a[i], &err),
				 0);
	assert_true(cm_wait(f, a, 100, 10000));
	for (int i = 0; i < 100; i++) {
		assert_int_equal(a[i].kind, KR_ERR_NONE);
		assert_string_equal(a[i].value, a[0].value); /* one backend */
	}
	assert_int_equal(kr_connmgr_node_stats(f->mgr, 3, &st), 0);
	assert_int_equal(st.conns_idle + st.conns_busy, 1);
}

static void
test_connmgr_replica_reads_and_read_your_writes(void **state)
{
	struct cm_fixture *f = *state;
	struct kr_connmgr_node_stats primary, replica;
	struct cm_answer a[1];
	struct kr_err err;

	NEED_CLUSTER(state);
	/* Shard 0 lists its primary again as a replica: node 0 is the
	 * primary, node 1 the "replica"; routing is what is tested. */
	cm_start(f, "read_your_writes = 2s", 0);
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_READ, "a@x", "SELECT 1",
				  5000, a, &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	kr_connmgr_node_stats(f->mgr, 0, &primary);
	kr_connmgr_node_stats(f->mgr, 1, &replica);
	assert_int_equal(replica.replica, 0);
	assert_int_equal(primary.queries, 0);
	assert_int_equal(replica.queries, 1); /* reads go to replicas */
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_WRITE, "a@x", "SELECT 1",
				  5000, a, &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_READ, "A@X", "SELECT 1",
				  5000, a, &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_READ, "b@x", "SELECT 1",
				  5000, a, &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	kr_connmgr_node_stats(f->mgr, 0, &primary);
	kr_connmgr_node_stats(f->mgr, 1, &replica);
	/* The write and a@x's own read went to the primary; b@x read on. */
	assert_int_equal(primary.queries, 2);
	assert_int_equal(replica.queries, 2);
}

/* A write marked in another process (a worker that delivered) sends
 * this process's reads of that user to the primary: the marks live in
 * memory the master mapped before forking (kr_connmgr_define_metrics);
 * another user still reads on the replica. */
static void
test_connmgr_read_your_writes_shared_by_workers(void **state)
{
	struct cm_fixture *f = *state;
	struct kr_connmgr_node_stats primary, replica;
	struct cm_answer a[1];
	struct kr_err err;
	int status = -1;
	pid_t pid;

	NEED_CLUSTER(state);
	cm_start(f, "read_your_writes = 5s", 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		kr_connmgr_wrote(f->mgr, "d@x");
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_READ, "D@x", "SELECT 1",
				  5000, a, &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_READ, "e@x", "SELECT 1",
				  5000, a, &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	kr_connmgr_node_stats(f->mgr, 0, &primary);
	kr_connmgr_node_stats(f->mgr, 1, &replica);
	assert_int_equal(primary.queries, 1);
	assert_int_equal(replica.queries, 1);
}

/* The test's "no": a port other than the one wanted. */
static bool
cm_negative(void *ctx, const PGresult *res)
{
	(void)ctx;
	return PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "no") == 0;
}

static int
cm_query_confirmed(struct cm_fixture *f, const char *sql, struct cm_answer *a,
		   struct kr_err *err)
{
	struct kr_pgquery q = { .sql = sql };
	struct kr_connmgr_req *req;

	memset(a, 0, sizeof(*a));
	if (kr_connmgr_query(f->mgr, 0, KR_CONNMGR_READ, "c@x", &q,
			     kr_deadline_after(kr_clock_mono_us(), 5000),
			     cm_answer_cb, a, &req, err) < 0)
		return -1;
	kr_connmgr_confirm_negative(req, cm_negative);
	return 0;
}

/* SPEC.md §4: a negative answer from a replica is never the last word.
 * Shard 0's "replica" is another node (shard 1's primary), which
 * answers "no" where the primary says "yes": the primary is asked
 * again and its answer is the one given; a positive replica answer is
 * given as it is. */
static void
test_connmgr_replica_negative_confirmed_on_primary(void **state)
{
	struct cm_fixture *f = *state;
	struct kr_connmgr_node_stats primary, replica;
	struct cm_answer a[2];
	struct kr_err err;
	char sql[160];

	NEED_CLUSTER(state);
	cm_start(f, "read_your_writes = 0", 1);
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_WRITE, NULL,
				  "SELECT current_setting('port')", 5000, a,
				  &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	snprintf(sql, sizeof(sql),
		 "SELECT CASE current_setting('port') WHEN '%s' THEN 'yes' "
		 "ELSE 'no' END",
		 a[0].value);
	assert_int_equal(cm_query_confirmed(f, sql, &a[0], &err), 0);
	assert_int_equal(cm_query_confirmed(f, "SELECT 'fine'", &a[1], &err),
			 0);
	assert_true(cm_wait(f, a, 2, 5000));
	assert_int_equal(a[0].kind, KR_ERR_NONE);
	assert_string_equal(a[0].value, "yes");
	assert_int_equal(a[1].kind, KR_ERR_NONE);
	assert_string_equal(a[1].value, "fine");
	kr_connmgr_node_stats(f->mgr, 0, &primary);
	kr_connmgr_node_stats(f->mgr, 1, &replica);
	assert_int_equal(replica.queries, 2); /* both read there first */
	assert_int_equal(replica.confirmed, 1);
	assert_int_equal(primary.queries, 2); /* the write, the confirm */
}

static void
cm_node_ctl(const char *action, unsigned node)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "%s /usr/lib/postgresql/15/bin/pg_ctl -D %s/pg/node%02u -w "
		 "%s >/dev/null 2>&1",
		 geteuid() == 0 ? "runuser -u postgres --" : "",
		 getenv("KR_TEST_PG_DIR"), node, action);
	assert_int_equal(system(cmd), 0);
}

/* SPEC.md §4/§6: a node going down affects only its users, fails fast,
 * and comes back without a restart of anything. */
static void
test_connmgr_node_down_and_back(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[2];
	struct kr_err err;
	int64_t t0, end;
	bool back = false;

	NEED_CLUSTER(state);
	cm_start(f, "circuit_probe = 500ms\nconnect_timeout = 1s", -1);
	assert_int_equal(cm_query(f, 4, KR_CONNMGR_READ, NULL, "SELECT 1", 5000,
				  a, &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	cm_node_ctl("stop -m immediate", 4);
	for (int i = 0; i < 5; i++) {
		int64_t sent = kr_clock_mono_us();
		int rc = cm_query(f, 4, KR_CONNMGR_READ, NULL, "SELECT 1", 5000,
				  a, &err);

		if (rc == 0) {
			assert_true(cm_wait(f, a, 1, 2000));
			err.kind = a[0].kind;
		}
		/* "unavailable", and within 1 s each (SPEC.md §4 tests). */
		assert_int_equal(err.kind, KR_ERR_TEMPORARY);
		assert_true(kr_clock_mono_us() - sent < 1000000);
	}
	/* Once the circuit is open, refusals are immediate. */
	t0 = kr_clock_mono_us();
	assert_int_equal(cm_query(f, 4, KR_CONNMGR_READ, NULL, "SELECT 1", 5000,
				  a, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_TEMPORARY);
	assert_true(kr_clock_mono_us() - t0 < 100000);
	/* Other shards are untouched. */
	assert_int_equal(cm_query(f, 5, KR_CONNMGR_READ, NULL, "SELECT 1", 5000,
				  &a[1], &err),
			 0);
	assert_true(cm_wait(f, &a[1], 1, 5000));
	assert_int_equal(a[1].kind, KR_ERR_NONE);
	cm_node_ctl("start", 4);
	end = kr_clock_mono_ms() + 5000;
	while (!back && kr_clock_mono_ms() < end) {
		if (cm_query(f, 4, KR_CONNMGR_READ, NULL, "SELECT 1", 1000, a,
			     &err) == 0 &&
		    cm_wait(f, a, 1, 2000) && a[0].kind == KR_ERR_NONE)
			back = true;
		else
			cm_wait(f, a, 0, 100);
	}
	assert_true(back);
}

/* Sets shard's drain flag in slot 0, the master's (connmgr.h). */
static void
cm_drain(struct cm_fixture *f, unsigned shard, int on)
{
	int id = kr_connmgr_drain_metric(f->ids, shard);

	assert_true(id >= 0);
	kr_metrics_gauge_set(kr_metrics_slot(f->metrics, 0), id, on);
}

/* SPEC.md §3.3: a drained shard's writes and primary reads fail at
 * once with KR_ERR_TEMPORARY, nothing sent; reads the balancer sends
 * to a replica are served; other shards are untouched; undrain
 * restores service. Shard 0 lists its primary again as a replica. */
static void
test_connmgr_drain_refuses_primary_work(void **state)
{
	struct cm_fixture *f = *state;
	struct kr_connmgr_node_stats primary, replica, other;
	struct cm_answer a[2];
	struct kr_err err;
	int64_t t0;

	NEED_CLUSTER(state);
	cm_start(f, "read_your_writes = 2s", 0);
	kr_connmgr_watch_drain(f->mgr, kr_metrics_slot(f->metrics, 0));
	assert_int_equal(kr_connmgr_drain_metric(f->ids, f->cfg->n_shards), -1);
	assert_false(kr_connmgr_draining(f->mgr, 0));
	cm_drain(f, 0, 1);
	cm_drain(f, 1, 1);
	assert_true(kr_connmgr_draining(f->mgr, 0));
	assert_false(kr_connmgr_draining(f->mgr, 2));
	t0 = kr_clock_mono_us();
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_WRITE, "a@x", "SELECT 1",
				  5000, a, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_TEMPORARY);
	assert_string_equal(err.msg, "shard 0 draining");
	assert_true(kr_clock_mono_us() - t0 < 100000);
	/* No replica: a read goes to the primary, so it is refused. */
	assert_int_equal(cm_query(f, 1, KR_CONNMGR_READ, NULL, "SELECT 1", 5000,
				  a, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_TEMPORARY);
	assert_string_equal(err.msg, "shard 1 draining");
	/* A read the balancer sends to the replica is served. */
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_READ, "b@x",
				  "SELECT 'replica'", 5000, &a[0], &err),
			 0);
	/* Another shard is untouched. */
	assert_int_equal(cm_query(f, 2, KR_CONNMGR_WRITE, NULL, "SELECT 2",
				  5000, &a[1], &err),
			 0);
	assert_true(cm_wait(f, a, 2, 5000));
	assert_int_equal(a[0].kind, KR_ERR_NONE);
	assert_string_equal(a[0].value, "replica");
	assert_int_equal(a[1].kind, KR_ERR_NONE);
	kr_connmgr_node_stats(f->mgr, 0, &primary);
	kr_connmgr_node_stats(f->mgr, 1, &replica);
	kr_connmgr_node_stats(f->mgr, 2, &other); /* shard 1's primary */
	assert_true(primary.draining);
	assert_false(replica.draining);
	assert_true(other.draining);
	assert_int_equal(primary.queries, 0); /* nothing was sent */
	assert_int_equal(replica.queries, 1);
	assert_int_equal(other.queries, 0);
	/* Undrained: served again from the next request on. */
	cm_drain(f, 0, 0);
	cm_drain(f, 1, 0);
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_WRITE, "a@x",
				  "SELECT 'written'", 5000, &a[0], &err),
			 0);
	assert_int_equal(cm_query(f, 1, KR_CONNMGR_READ, NULL, "SELECT 1", 5000,
				  &a[1], &err),
			 0);
	assert_true(cm_wait(f, a, 2, 5000));
	assert_int_equal(a[0].kind, KR_ERR_NONE);
	assert_string_equal(a[0].value, "written");
	assert_int_equal(a[1].kind, KR_ERR_NONE);
}

/* Read your writes right before the drain: the user's reads go to the
 * primary, so they are refused too, while another user's read is
 * served by the replica. A manager not watching a control slot never
 * drains. */
static void
test_connmgr_drain_read_your_writes_and_unwatched(void **state)
{
	struct cm_fixture *f = *state;
	struct cm_answer a[2];
	struct kr_err err;

	NEED_CLUSTER(state);
	cm_start(f, "read_your_writes = 5s", 0);
	cm_drain(f, 0, 1);
	/* Not watching yet: the flag means nothing. */
	assert_false(kr_connmgr_draining(f->mgr, 0));
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_WRITE, "a@x", "SELECT 1",
				  5000, a, &err),
			 0);
	assert_true(cm_wait(f, a, 1, 5000));
	assert_int_equal(a[0].kind, KR_ERR_NONE);
	kr_connmgr_watch_drain(f->mgr, kr_metrics_slot(f->metrics, 0));
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_READ, "a@x", "SELECT 1",
				  5000, a, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_TEMPORARY);
	assert_int_equal(cm_query(f, 0, KR_CONNMGR_READ, "c@x", "SELECT 3",
				  5000, &a[1], &err),
			 0);
	assert_true(cm_wait(f, &a[1], 1, 5000));
	assert_int_equal(a[1].kind, KR_ERR_NONE);
	assert_string_equal(a[1].value, "3");
}

/* The census writes each shard's count of users into its gauge; where
 * the count fails (no users table on a bare cluster) the old value
 * stays; destroying it sets the gauges back to 0. */
static void
test_connmgr_census_counts_or_keeps(void **state)
{
	struct cm_fixture *f = *state;
	struct kr_metrics_slot *slot;
	struct kr_census *census;
	struct cm_answer a[64];
	struct kr_metric_value v;
	struct kr_err err;
	unsigned n;

	NEED_CLUSTER(state);
	cm_start(f, "", -1);
	n = kr_connmgr_shards(f->mgr);
	assert_true(n > 0 && n <= 64);
	slot = kr_metrics_slot(f->metrics, 0);
	for (unsigned i = 0; i < n; i++) {
		kr_metrics_gauge_set(slot, kr_connmgr_users_metric(f->ids, i),
				     7);
		assert_int_equal(cm_query(f, i, KR_CONNMGR_READ, NULL,
					  "SELECT count(*) FROM users", 5000,
					  &a[i], &err),
				 0);
	}
	assert_int_equal(kr_connmgr_users_metric(f->ids, n), -1);
	assert_true(cm_wait(f, a, n, 10000));
	census = kr_census_create(f->base, f->mgr, slot, f->ids, 100);
	cm_run(f, 1500); /* the first round and a few more */
	for (unsigned i = 0; i < n; i++) {
		kr_metrics_read_slot(slot, kr_connmgr_users_metric(f->ids, i),
				     &v);
		if (a[i].kind == KR_ERR_NONE)
			assert_int_equal(v.value, atoll(a[i].value));
		else
			assert_int_equal(v.value, 7);
	}
	kr_census_destroy(&census);
	assert_null(census);
	for (unsigned i = 0; i < n; i++) {
		kr_metrics_read_slot(slot, kr_connmgr_users_metric(f->ids, i),
				     &v);
		assert_int_equal(v.value, 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_connmgr_every_shard_answers, cm_setup,
			cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_sql_error_is_internal, cm_setup,
			cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_pool_overload_and_queue_deadline, cm_setup,
			cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_pool_queue_timeout_sheds, cm_setup,
			cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_statement_timeout_on_server, cm_setup,
			cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_timeout_spares_the_next_query, cm_setup,
			cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_timed_out_waiter_spares_the_running_query,
			cm_setup, cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_stalled_connection_is_closed, cm_setup,
			cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_singleton_pipelines, cm_setup,
			cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_replica_reads_and_read_your_writes,
			cm_setup, cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_read_your_writes_shared_by_workers,
			cm_setup, cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_replica_negative_confirmed_on_primary,
			cm_setup, cm_teardown),
		cmocka_unit_test_setup_teardown(test_connmgr_node_down_and_back,
						cm_setup, cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_drain_refuses_primary_work, cm_setup,
			cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_drain_read_your_writes_and_unwatched,
			cm_setup, cm_teardown),
		cmocka_unit_test_setup_teardown(
			test_connmgr_census_counts_or_keeps, cm_setup,
			cm_teardown),
	};

	return cmocka_run_group_tests_name("connmgr", tests, NULL, NULL);
}
