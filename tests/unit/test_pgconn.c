/* One connection's named prepared statements against a real PostgreSQL
 * node: each text prepared once per session, refused statements
 * answered once and left unprepared, pipelines of mixed statements
 * answered in order, a new connection preparing again. Skipped unless
 * KR_TEST_PG_CONF names a kurier.conf written by ops/pgcluster
 * (tests/integration/test_connmgr.sh sets it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/config.h"
#include "storage/pgconn.h"

#include "conf_env.h"

#define PC_ANSWERS_MAX 160

struct pc_answer {
	unsigned calls;
	unsigned order; /* 1 + how many answers came before this one */
	enum kr_err_kind kind;
	char value[64];
};

struct pc_fixture {
	struct event_base *base;
	struct kr_config *cfg;
	struct kr_pgconn *conn;
	bool ready, faulted;
	unsigned answered;
	struct pc_answer a[PC_ANSWERS_MAX];
};

struct pc_ctx {
	struct pc_fixture *f;
	struct pc_answer *a;
};

static struct pc_ctx pc_ctxs[PC_ANSWERS_MAX];

static void
pc_event(void *ctx, struct kr_pgconn *conn, enum kr_pgconn_event ev,
	 const struct kr_err *err)
{
	struct pc_fixture *f = ctx;

	(void)conn;
	(void)err;
	if (ev == KR_PGCONN_READY)
		f->ready = true;
	else if (ev == KR_PGCONN_FAULTED)
		f->faulted = true;
}

static void
pc_answer_cb(void *ctx, const PGresult *res, const struct kr_err *err)
{
	struct pc_ctx *pc = ctx;
	struct pc_answer *a = pc->a;

	a->calls++;
	a->order = ++pc->f->answered;
	a->kind = err != NULL ? err->kind : KR_ERR_NONE;
	if (res != NULL && PQntuples(res) > 0)
		snprintf(a->value, sizeof(a->value), "%s",
			 PQgetvalue(res, 0, 0));
	else if (err != NULL)
		snprintf(a->value, sizeof(a->value), "%.63s", err->msg);
}

/* Runs the loop until `done` holds or `ms` passed. */
static bool
pc_wait(struct pc_fixture *f, bool (*done)(struct pc_fixture *, unsigned),
	unsigned arg, int64_t ms)
{
	int64_t end = kr_clock_mono_ms() + ms;

	while (!done(f, arg)) {
		if (kr_clock_mono_ms() >= end)
			return false;
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(500);
	}
	return true;
}

static bool
pc_is_ready(struct pc_fixture *f, unsigned arg)
{
	(void)arg;
	return f->ready || f->faulted;
}

static bool
pc_is_faulted(struct pc_fixture *f, unsigned arg)
{
	(void)arg;
	return f->faulted;
}

static bool
pc_is_drained(struct pc_fixture *f, unsigned arg)
{
	(void)arg;
	return kr_pgconn_inflight(f->conn) == 0;
}

static bool
pc_has_answers(struct pc_fixture *f, unsigned n)
{
	return f->answered >= n;
}

static void
pc_connect(struct pc_fixture *f)
{
	struct kr_err err;

	f->ready = f->faulted = false;
	f->conn = kr_pgconn_create(f->base, f->cfg->shards[0].primary,
				   "read-write",
				   kr_deadline_after(kr_clock_mono_us(), 5000),
				   10000, pc_event, f, &err);
	assert_non_null(f->conn);
	assert_true(pc_wait(f, pc_is_ready, 0, 6000));
	assert_true(f->ready);
}

/* Sends sql with up to one text parameter as answer slot i. */
static void
pc_send(struct pc_fixture *f, unsigned i, const char *sql, const char *param,
	int64_t deadline_ms)
{
	const char *values[1] = { param };
	struct kr_pgquery q = { .sql = sql,
				.n_params = param != NULL ? 1 : 0,
				.values = values };
	struct kr_err err;

	assert_true(i < PC_ANSWERS_MAX);
	memset(&f->a[i], 0, sizeof(f->a[i]));
	pc_ctxs[i] = (struct pc_ctx){ .f = f, .a = &f->a[i] };
	assert_int_equal(kr_pgconn_send(f->conn, &q,
					kr_deadline_after(kr_clock_mono_us(),
							  deadline_ms),
					pc_answer_cb, &pc_ctxs[i], &err),
			 0);
}

/* Sends one query and waits for its answer (slot 0). */
static struct pc_answer *
pc_run(struct pc_fixture *f, const char *sql, const char *param)
{
	unsigned before = f->answered;

	pc_send(f, 0, sql, param, 5000);
	assert_true(pc_wait(f, pc_has_answers, before + 1, 6000));
	assert_int_equal(f->a[0].calls, 1);
	return &f->a[0];
}

/* How many of this session's prepared statements have text sql. */
static int
pc_prepared_count(struct pc_fixture *f, const char *sql)
{
	struct pc_answer *a = pc_run(
		f,
		"SELECT count(*) FROM pg_prepared_statements WHERE statement = "
		"$1",
		sql);

	assert_int_equal(a->kind, KR_ERR_NONE);
	return atoi(a->value);
}

static int
pc_setup(void **state)
{
	struct pc_fixture *f;
	struct kr_err err;

	if (getenv("KR_TEST_PG_CONF") == NULL)
		return 0;
	f = kr_xcalloc(1, sizeof(*f));
	assert_int_equal(
		kr_config_load(getenv("KR_TEST_PG_CONF"), &f->cfg, &err), 0);
	f->base = event_base_new();
	assert_non_null(f->base);
	pc_connect(f);
	*state = f;
	return 0;
}

static int
pc_teardown(void **state)
{
	struct pc_fixture *f = *state;

	if (f == NULL)
		return 0;
	kr_pgconn_destroy(&f->conn);
	kr_config_destroy(&f->cfg);
	event_base_free(f->base);
	free(f);
	return 0;
}

static const char pc_sql_add[] = "SELECT $1::int + 1";

static void
test_pgconn_same_text_prepares_once(void **state)
{
	struct pc_fixture *f = *state;
	struct kr_pgconn_stats st;
	struct pc_answer *a;
	char copy[sizeof(pc_sql_add)];

	NEED_CLUSTER(state);
	a = pc_run(f, pc_sql_add, "41");
	assert_int_equal(a->kind, KR_ERR_NONE);
	assert_string_equal(a->value, "42");
	/* Another pointer, same text: same statement. */
	memcpy(copy, pc_sql_add, sizeof(copy));
	a = pc_run(f, copy, "1");
	assert_string_equal(a->value, "2");
	kr_pgconn_get_stats(f->conn, &st);
	assert_int_equal(st.prepares, 1);
	assert_int_equal(st.prepared_runs, 2);
	assert_int_equal(st.unnamed, 0);
	assert_int_equal(pc_prepared_count(f, pc_sql_add), 1);
	/* The count query prepared itself once and ran once. */
	kr_pgconn_get_stats(f->conn, &st);
	assert_int_equal(st.prepares, 2);
	assert_int_equal(pc_prepared_count(f, pc_sql_add), 1);
	kr_pgconn_get_stats(f->conn, &st);
	assert_int_equal(st.prepares, 2);
	assert_int_equal(st.prepared_runs, 4);
}

static void
test_pgconn_refused_statement_answers_once(void **state)
{
	static const char bad[] = "SELECT * FROM kr_no_such_table_here";
	struct pc_fixture *f = *state;
	struct kr_pgconn_stats st;
	struct pc_answer *a;

	NEED_CLUSTER(state);
	for (int round = 0; round < 2; round++) {
		a = pc_run(f, bad, NULL);
		assert_int_equal(a->kind, KR_ERR_INTERNAL);
		assert_non_null(strstr(a->value, "kr_no_such_table_here"));
		/* No late second answer. */
		for (int i = 0; i < 20; i++)
			event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		assert_int_equal(a->calls, 1);
		assert_true(kr_pgconn_ready(f->conn));
		/* Not prepared: the next call prepares (and fails) again. */
		kr_pgconn_get_stats(f->conn, &st);
		assert_int_equal(st.prepares, (unsigned)round + 1);
	}
	a = pc_run(f, pc_sql_add, "9");
	assert_int_equal(a->kind, KR_ERR_NONE);
	assert_string_equal(a->value, "10");
	assert_int_equal(pc_prepared_count(f, bad), 0);
	assert_int_equal(kr_pgconn_inflight(f->conn), 0);
}

/* Three texts, one of them refused, each sent three times, all in
 * flight at once: answered in order, each once, with its own value. */
static void
test_pgconn_pipelined_statements_in_order(void **state)
{
	static const char *const sqls[] = {
		"SELECT $1::int * 2",
		"SELECT length($1::text)",
		"SELECT $1::int + kr_no_such_column",
	};
	struct pc_fixture *f = *state;
	struct kr_pgconn_stats st;
	char params[9][8];
	unsigned n = 0;

	NEED_CLUSTER(state);
	for (int round = 0; round < 3; round++)
		for (unsigned s = 0; s < 3; s++, n++) {
			snprintf(params[n], sizeof(params[n]), "%u", 10 + n);
			pc_send(f, n, sqls[s], params[n], 5000);
		}
	assert_int_equal(kr_pgconn_inflight(f->conn), 9);
	assert_true(pc_wait(f, pc_has_answers, 9, 6000));
	for (unsigned i = 0; i < 9; i++) {
		struct pc_answer *a = &f->a[i];
		char want[16];

		assert_int_equal(a->calls, 1);
		assert_int_equal(a->order, i + 1);
		if (i % 3 == 2) {
			assert_int_equal(a->kind, KR_ERR_INTERNAL);
			continue;
		}
		assert_int_equal(a->kind, KR_ERR_NONE);
		snprintf(want, sizeof(want), "%u",
			 i % 3 == 0 ? (10 + i) * 2 : 2);
		assert_string_equal(a->value, want);
	}
	/* Each text prepared once; the copies sent while that Prepare was
	 * unanswered went unnamed rather than rely on it. */
	kr_pgconn_get_stats(f->conn, &st);
	assert_int_equal(st.prepares, 3);
	assert_int_equal(st.prepared_runs, 3);
	assert_int_equal(st.unnamed, 6);
	assert_int_equal(pc_prepared_count(f, sqls[0]), 1);
	assert_int_equal(pc_prepared_count(f, sqls[1]), 1);
	assert_int_equal(pc_prepared_count(f, sqls[2]), 0);
	/* Now all by name (the refused one prepares again). */
	kr_pgconn_get_stats(f->conn, &st);
	for (unsigned s = 0; s < 3; s++)
		pc_send(f, s, sqls[s], "7", 5000);
	assert_true(pc_wait(f, pc_has_answers, f->answered + 3, 6000));
	assert_string_equal(f->a[0].value, "14");
	assert_string_equal(f->a[1].value, "1");
	assert_int_equal(f->a[2].kind, KR_ERR_INTERNAL);
	{
		struct kr_pgconn_stats st2;

		kr_pgconn_get_stats(f->conn, &st2);
		assert_int_equal(st2.unnamed, st.unnamed);
		assert_int_equal(st2.prepares, st.prepares + 1);
		assert_int_equal(st2.prepared_runs, st.prepared_runs + 3);
	}
}

/* The backend killed under the connection: a new connection starts with
 * no statements and prepares again. */
static void
test_pgconn_reconnect_prepares_again(void **state)
{
	struct pc_fixture *f = *state;
	struct kr_pgconn_stats st;
	struct pc_answer *a;
	char pid[64];

	NEED_CLUSTER(state);
	a = pc_run(f, pc_sql_add, "1");
	assert_string_equal(a->value, "2");
	a = pc_run(f, "SELECT pg_backend_pid()", NULL);
	snprintf(pid, sizeof(pid), "%s", a->value);
	{
		PGconn *killer = PQconnectdb(f->cfg->shards[0].primary);
		const char *values[1] = { pid };
		PGresult *res;

		assert_int_equal(PQstatus(killer), CONNECTION_OK);
		res = PQexecParams(killer, "SELECT pg_terminate_backend($1)", 1,
				   NULL, values, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		PQclear(res);
		PQfinish(killer);
	}
	/* The connection notices on its own. */
	assert_true(pc_wait(f, pc_is_faulted, 0, 6000));
	assert_false(kr_pgconn_ready(f->conn));
	kr_pgconn_destroy(&f->conn);
	pc_connect(f);
	assert_int_equal(pc_prepared_count(f, pc_sql_add), 0);
	a = pc_run(f, pc_sql_add, "2");
	assert_int_equal(a->kind, KR_ERR_NONE);
	assert_string_equal(a->value, "3");
	kr_pgconn_get_stats(f->conn, &st);
	assert_int_equal(st.prepares, 2); /* the count query, then this */
	assert_int_equal(pc_prepared_count(f, pc_sql_add), 1);
}

/* Past the bound on texts per connection, queries go unnamed and still
 * work. */
static void
test_pgconn_statement_table_bounded(void **state)
{
	struct pc_fixture *f = *state;
	struct kr_pgconn_stats st;
	char sql[PC_ANSWERS_MAX][48];
	unsigned n = 130;

	NEED_CLUSTER(state);
	for (unsigned i = 0; i < n; i++) {
		snprintf(sql[i], sizeof(sql[i]), "SELECT %u + $1::int", i);
		pc_send(f, i, sql[i], "1", 10000);
	}
	assert_true(pc_wait(f, pc_has_answers, n, 12000));
	for (unsigned i = 0; i < n; i++) {
		char want[16];

		snprintf(want, sizeof(want), "%u", i + 1);
		assert_int_equal(f->a[i].kind, KR_ERR_NONE);
		assert_string_equal(f->a[i].value, want);
	}
	kr_pgconn_get_stats(f->conn, &st);
	assert_int_equal(st.prepares, 128);
	assert_int_equal(st.unnamed, 2);
	/* Prepared ones keep being used by name. */
	pc_send(f, 0, sql[5], "1", 5000);
	pc_send(f, 1, sql[129], "1", 5000);
	assert_true(pc_wait(f, pc_has_answers, n + 2, 6000));
	assert_string_equal(f->a[0].value, "6");
	assert_string_equal(f->a[1].value, "130");
	kr_pgconn_get_stats(f->conn, &st);
	assert_int_equal(st.prepares, 128);
	assert_int_equal(st.unnamed, 3);
	assert_int_equal(st.prepared_runs, 129);
}

/* A prepared statement whose result type changed under it is answered
 * with the error once, then the text runs unnamed; a query whose
 * deadline passes while its Prepare is in flight still leaves the
 * statement prepared. */
static void
test_pgconn_changed_result_type_and_timeouts(void **state)
{
	static const char sel[] = "SELECT * FROM kr_prep_t";
	static const char slow[] = "SELECT pg_sleep($1::float8)::text";
	struct pc_fixture *f = *state;
	struct kr_pgconn_stats st;
	struct pc_answer *a;

	NEED_CLUSTER(state);
	a = pc_run(f, "CREATE TEMP TABLE kr_prep_t (a int)", NULL);
	assert_int_equal(a->kind, KR_ERR_NONE);
	assert_int_equal(pc_run(f, sel, NULL)->kind, KR_ERR_NONE);
	assert_int_equal(
		pc_run(f, "ALTER TABLE kr_prep_t ADD b int", NULL)->kind,
		KR_ERR_NONE);
	a = pc_run(f, sel, NULL);
	assert_int_equal(a->kind, KR_ERR_INTERNAL);
	kr_pgconn_get_stats(f->conn, &st);
	a = pc_run(f, sel, NULL);
	assert_int_equal(a->kind, KR_ERR_NONE);
	{
		struct kr_pgconn_stats st2;

		kr_pgconn_get_stats(f->conn, &st2);
		assert_int_equal(st2.unnamed, st.unnamed + 1);
	}

	pc_send(f, 0, slow, "0.3", 50);
	assert_true(pc_wait(f, pc_has_answers, f->answered + 1, 2000));
	assert_int_equal(f->a[0].kind, KR_ERR_TIMEOUT);
	/* The server answers the Prepare with the rest of its pipeline
	 * segment, once the sleep is over: drained and dropped. */
	assert_true(pc_wait(f, pc_is_drained, 0, 2000));
	a = pc_run(f, slow, "0");
	assert_int_equal(a->kind, KR_ERR_NONE);
	assert_int_equal(a->calls, 1);
	assert_int_equal(pc_prepared_count(f, slow), 1);
	kr_pgconn_get_stats(f->conn, &st);
	assert_int_equal(st.unnamed, 1);
	assert_int_equal(st.prepares, 5); /* CREATE, sel, ALTER, slow, count */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_pgconn_same_text_prepares_once, pc_setup,
			pc_teardown),
		cmocka_unit_test_setup_teardown(
			test_pgconn_refused_statement_answers_once, pc_setup,
			pc_teardown),
		cmocka_unit_test_setup_teardown(
			test_pgconn_pipelined_statements_in_order, pc_setup,
			pc_teardown),
		cmocka_unit_test_setup_teardown(
			test_pgconn_reconnect_prepares_again, pc_setup,
			pc_teardown),
		cmocka_unit_test_setup_teardown(
			test_pgconn_statement_table_bounded, pc_setup,
			pc_teardown),
		cmocka_unit_test_setup_teardown(
			test_pgconn_changed_result_type_and_timeouts, pc_setup,
			pc_teardown),
	};

	return cmocka_run_group_tests_name("pgconn", tests, NULL, NULL);
}
