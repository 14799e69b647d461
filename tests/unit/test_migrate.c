/* cmocka tests for storage/migrate: the embedded file table, connect
 * errors that name the node but never the password, and (with a real
 * node in KR_TEST_PG_CONNINFO, key=value form; skipped without one)
 * applying, re-applying, a failing migration rolled back whole, and two
 * processes' worth of concurrent runs serialised by the advisory lock.
 * tests/integration/test_store_sql.sh runs this against its own cluster
 * and reads the "first apply: applied N of M" line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/migrate.h"

#define SCRATCH "kr_test_migrate"

static const char *
test_conninfo(void)
{
	const char *c = getenv("KR_TEST_PG_CONNINFO");

	return c != NULL && c[0] != '\0' ? c : NULL;
}

/* Runs sql on the test node; fails the test on error. */
static void
pg_run(const char *sql)
{
	PGconn *conn = PQconnectdb(test_conninfo());
	PGresult *res;

	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
}

/* 1 if relation name (schema-qualified) exists. */
static int
pg_exists(const char *rel)
{
	PGconn *conn = PQconnectdb(test_conninfo());
	const char *params[1] = { rel };
	PGresult *res;
	int v;

	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	res = PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL,
			   params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	v = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	PQfinish(conn);
	return v;
}

/* A fresh schema of its own, first on the search path of the returned
 * conninfo, so kr_migrations there is not the node's real one. */
static void
scratch_conninfo(const char *schema, char *buf, size_t size)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SET client_min_messages = warning;"
		 " DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s",
		 schema, schema);
	pg_run(sql);
	snprintf(buf, size, "%s options='-c search_path=%s'", test_conninfo(),
		 schema);
}

static void
scratch_drop(const char *schema)
{
	char sql[128];

	snprintf(sql, sizeof(sql),
		 "SET client_min_messages = warning;"
		 " DROP SCHEMA %s CASCADE",
		 schema);
	pg_run(sql);
}

static void
test_migrate_files_embedded(void **state)
{
	char prefix[16];

	(void)state;
	assert_true(kr_migrate_n_files >= 2);
	for (unsigned i = 0; i < kr_migrate_n_files; i++) {
		const struct kr_migration *m = &kr_migrate_files[i];

		if (i > 0)
			assert_true(kr_migrate_files[i - 1].version <
				    m->version);
		snprintf(prefix, sizeof(prefix), "%03u_", m->version);
		assert_memory_equal(m->name, prefix, strlen(prefix));
		assert_true(strlen(m->sql) > 0);
	}
	assert_int_equal(kr_migrate_files[0].version, 1);
	assert_string_equal(kr_migrate_files[0].name, "001_schema");
	assert_non_null(strstr(kr_migrate_files[0].sql, "CREATE TABLE"));
	assert_string_equal(kr_migrate_files[1].name, "002_store_core");
	assert_string_equal(kr_migrate_files[2].name, "003_store_messages");
}

static void
test_migrate_connect_error(void **state)
{
	static const char *const conninfo =
		"host=/nonexistent/kr-test port=1 dbname=kurier user=kurier"
		" password=kr-secret-pw connect_timeout=2";
	struct kr_err err = { 0 };
	unsigned applied = 99, version = 99;

	(void)state;
	assert_int_equal(kr_migrate_apply(conninfo, 0, &applied, &err), -1);
	print_message("expected error: %s\n", err.msg);
	assert_int_equal(applied, 0);
	assert_int_equal(err.kind, KR_ERR_TEMPORARY);
	assert_non_null(strstr(err.msg, "/nonexistent/kr-test:1"));
	assert_null(strstr(err.msg, "kr-secret-pw"));

	kr_err_clear(&err);
	assert_int_equal(kr_migrate_version(conninfo, &version, &err), -1);
	assert_int_equal(version, 99);
	assert_int_equal(err.kind, KR_ERR_TEMPORARY);
	assert_non_null(strstr(err.msg, "/nonexistent/kr-test:1"));
	assert_null(strstr(err.msg, "kr-secret-pw"));
}

static void
test_migrate_apply_twice(void **state)
{
	const char *conninfo = test_conninfo();
	const unsigned last = kr_migrate_files[kr_migrate_n_files - 1].version;
	struct kr_err err = { 0 };
	unsigned first, again, version = 0;

	(void)state;
	if (conninfo == NULL)
		skip();
	assert_int_equal(kr_migrate_apply(conninfo, 0, &first, &err), 0);
	print_message("first apply: applied %u of %u\n", first,
		      kr_migrate_n_files);
	assert_true(first <= kr_migrate_n_files);
	assert_int_equal(kr_migrate_version(conninfo, &version, &err), 0);
	assert_int_equal(version, last);

	assert_int_equal(kr_migrate_apply(conninfo, 0, &again, &err), 0);
	assert_int_equal(again, 0);
	assert_int_equal(kr_migrate_version(conninfo, &version, &err), 0);
	assert_int_equal(version, last);
}

/* The id table ("users" or "mailboxes") last took; 0 before any. */
static long long
pg_last_id(const char *table)
{
	PGconn *conn = PQconnectdb(test_conninfo());
	const char *params[1] = { table };
	PGresult *res;
	long long v;

	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	res = PQexecParams(conn,
			   "SELECT pg_sequence_last_value("
			   "pg_get_serial_sequence($1, 'id')::regclass)",
			   1, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	v = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return v;
}

/* Each shard allocates ids from its own range; a lower index applied
 * later never takes the range back. Relative to where an earlier run
 * left the node (test_store_sql.sh runs this twice). */
static void
test_migrate_id_range(void **state)
{
	struct kr_err err = { 0 };
	unsigned s;

	(void)state;
	if (test_conninfo() == NULL)
		skip();
	assert_int_equal(kr_migrate_apply(test_conninfo(), 0, NULL, &err), 0);
	s = (unsigned)(pg_last_id("users") >> 40) + 1;
	assert_true(s + 4 < 1024);
	assert_int_equal(kr_migrate_apply(test_conninfo(), s, NULL, &err), 0);
	pg_run("SELECT nextval(pg_get_serial_sequence('users', 'id')),"
	       " nextval(pg_get_serial_sequence('mailboxes', 'id'))");
	assert_int_equal(pg_last_id("users"), (long long)(s + 1) << 40);
	assert_int_equal(pg_last_id("mailboxes"), (long long)(s + 1) << 40);
	assert_int_equal(kr_migrate_apply(test_conninfo(), s - 1, NULL, &err),
			 0);
	assert_int_equal(pg_last_id("users"), (long long)(s + 1) << 40);
	assert_int_equal(kr_migrate_apply(test_conninfo(), s + 3, NULL, &err),
			 0);
	assert_int_equal(kr_migrate_apply(test_conninfo(), s + 2, NULL, &err),
			 0);
	pg_run("SELECT nextval(pg_get_serial_sequence('users', 'id'))");
	assert_int_equal(pg_last_id("users"), (long long)(s + 4) << 40);
}

static void
test_migrate_failure_rolls_back(void **state)
{
	static const struct kr_migration bad[] = {
		{ 1, "001_a", "CREATE TABLE t1 (x int);" },
		{ 2, "002_bad",
		  "CREATE TABLE t2 (x int);\nSELECT kr_no_such_function();\n" },
		{ 3, "003_never", "CREATE TABLE t3 (x int);" },
	};
	static const struct kr_migration good[] = {
		{ 1, "001_a", "CREATE TABLE t1 (x int);" },
		{ 2, "002_good", "CREATE TABLE t2 (x int);" },
		{ 3, "003_more", "" },
	};
	char conninfo[1024];
	struct kr_err err = { 0 };
	unsigned applied = 0, version = 0;

	(void)state;
	if (test_conninfo() == NULL)
		skip();
	scratch_conninfo(SCRATCH, conninfo, sizeof(conninfo));
	assert_int_equal(kr_migrate_version(conninfo, &version, &err), 0);
	assert_int_equal(version, 0);

	assert_int_equal(kr_migrate_apply_set(conninfo, bad, 3, &applied, &err),
			 -1);
	print_message("expected error: %s\n", err.msg);
	assert_int_equal(applied, 1);
	assert_int_equal(err.kind, KR_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "migration 002_bad: line 2:"));
	assert_non_null(strstr(err.msg, "kr_no_such_function"));
	assert_true(pg_exists(SCRATCH ".t1"));
	assert_false(pg_exists(SCRATCH ".t2"));
	assert_int_equal(kr_migrate_version(conninfo, &version, &err), 0);
	assert_int_equal(version, 1);

	/* The fixed set carries on from the recorded version. */
	assert_int_equal(
		kr_migrate_apply_set(conninfo, good, 3, &applied, &err), 0);
	assert_int_equal(applied, 2);
	assert_true(pg_exists(SCRATCH ".t2"));
	assert_int_equal(kr_migrate_version(conninfo, &version, &err), 0);
	assert_int_equal(version, 3);
	scratch_drop(SCRATCH);
}

struct race {
	const char *conninfo;
	unsigned applied;
	int ret;
	struct kr_err err;
};

static const struct kr_migration race_set[] = {
	{ 1, "001_slow", "SELECT pg_sleep(0.2); CREATE TABLE r1 (x int);" },
	{ 2, "002_r2", "CREATE TABLE r2 (x int);" },
	{ 3, "003_r3", "CREATE TABLE r3 (x int);" },
};

static void *
race_run(void *arg)
{
	struct race *r = arg;

	r->ret = kr_migrate_apply_set(r->conninfo, race_set, 3, &r->applied,
				      &r->err);
	return NULL;
}

/* Without the advisory lock both runners would see version 1 missing
 * and one would fail on CREATE TABLE r1 or the kr_migrations key. */
static void
test_migrate_concurrent_runs(void **state)
{
	char conninfo[1024];
	struct race r[2] = { { 0 }, { 0 } };
	pthread_t t[2];

	(void)state;
	if (test_conninfo() == NULL)
		skip();
	scratch_conninfo(SCRATCH "_race", conninfo, sizeof(conninfo));
	for (int i = 0; i < 2; i++) {
		r[i].conninfo = conninfo;
		assert_int_equal(pthread_create(&t[i], NULL, race_run, &r[i]),
				 0);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 2; i++)
		if (r[i].ret != 0)
			fail_msg("runner %d: %s", i, r[i].err.msg);
	assert_int_equal(r[0].applied + r[1].applied, 3);
	assert_true(r[0].applied == 0 || r[1].applied == 0);
	scratch_drop(SCRATCH "_race");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_files_embedded),
		cmocka_unit_test(test_migrate_connect_error),
		cmocka_unit_test(test_migrate_apply_twice),
		cmocka_unit_test(test_migrate_id_range),
		cmocka_unit_test(test_migrate_failure_rolls_back),
		cmocka_unit_test(test_migrate_concurrent_runs),
	};

	return cmocka_run_group_tests_name("migrate", tests, NULL, NULL);
}
