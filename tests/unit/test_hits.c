/* The shared rule hit table: counts by name, across processes, a full
 * table counting under "_OTHER", long names cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "antispam/hits.h"

struct seen {
	char names[64][KR_HITS_NAME_MAX];
	uint64_t counts[64];
	int n;
};

static void
collect(void *ctx, const char *name, uint64_t n)
{
	struct seen *s = ctx;

	assert_true(s->n < 64);
	snprintf(s->names[s->n], KR_HITS_NAME_MAX, "%s", name);
	s->counts[s->n++] = n;
}

static uint64_t
count_of(const struct kr_hits *h, const char *name)
{
	struct seen s = { 0 };

	kr_hits_each(h, collect, &s);
	for (int i = 0; i < s.n; i++)
		if (strcmp(s.names[i], name) == 0)
			return s.counts[i];
	return 0;
}

static void
test_hits_counts(void **state)
{
	struct kr_hits *h = NULL;
	struct kr_err err;

	(void)state;
	assert_int_equal(kr_hits_create(16, &h, &err), 0);
	kr_hits_add(h, "GTUBE", 1);
	kr_hits_add(h, "GTUBE", 2);
	kr_hits_add(h, "SPF_FAIL", 1);
	kr_hits_add(h, "", 5); /* no name: nothing */
	assert_int_equal(count_of(h, "GTUBE"), 3);
	assert_int_equal(count_of(h, "SPF_FAIL"), 1);
	assert_int_equal(count_of(h, "_OTHER"), 0);
	kr_hits_destroy(&h);
	assert_null(h);
}

/* 4 slots: the fifth name and later count as _OTHER. */
static void
test_hits_full(void **state)
{
	struct kr_hits *h = NULL;
	struct kr_err err;
	char name[16];

	(void)state;
	assert_int_equal(kr_hits_create(4, &h, &err), 0);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "R%d", i);
		kr_hits_add(h, name, 1);
	}
	assert_int_equal(count_of(h, "_OTHER"), 2);
	kr_hits_destroy(&h);
	assert_int_equal(kr_hits_create(0, &h, &err), -1);
	assert_int_equal(kr_hits_create(KR_HITS_SLOTS_MAX + 1, &h, &err), -1);
	assert_int_equal(kr_hits_create(KR_HITS_SLOTS_MAX, &h, &err), 0);
	kr_hits_destroy(&h);
}

/* A name of KR_HITS_NAME_MAX - 1 bytes is kept whole, a longer one
 * is cut to it. */
static void
test_hits_long_name(void **state)
{
	struct kr_hits *h = NULL;
	struct kr_err err;
	char exact[KR_HITS_NAME_MAX], longer[KR_HITS_NAME_MAX + 8];

	(void)state;
	memset(exact, 'A', sizeof(exact) - 1);
	exact[sizeof(exact) - 1] = '\0';
	memset(longer, 'B', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(kr_hits_create(16, &h, &err), 0);
	kr_hits_add(h, exact, 1);
	kr_hits_add(h, longer, 1);
	assert_int_equal(count_of(h, exact), 1);
	longer[KR_HITS_NAME_MAX - 1] = '\0';
	assert_int_equal(count_of(h, longer), 1);
	kr_hits_destroy(&h);
}

/* A child's hits are seen by the parent: the table is shared. */
static void
test_hits_two_processes(void **state)
{
	struct kr_hits *h = NULL;
	struct kr_err err;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(kr_hits_create(64, &h, &err), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 10000; i++)
			kr_hits_add(h, i % 2 ? "ODD" : "EVEN", 1);
		_exit(0);
	}
	for (int i = 0; i < 10000; i++)
		kr_hits_add(h, i % 2 ? "ODD" : "EVEN", 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(count_of(h, "ODD"), 10000);
	assert_int_equal(count_of(h, "EVEN"), 10000);
	kr_hits_destroy(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hits_counts),
		cmocka_unit_test(test_hits_full),
		cmocka_unit_test(test_hits_long_name),
		cmocka_unit_test(test_hits_two_processes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
