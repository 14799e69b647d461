/* cmocka tests for lib/genmap: shared generation counters, seen across
 * fork() the way workers see the master's map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "lib/genmap.h"

#define TEST_CHILDREN 4
#define TEST_CHILD_BUMPS 20000
#define TEST_KEYS 1000U

static struct kr_genmap *
make_map(unsigned slots)
{
	struct kr_err err;
	struct kr_genmap *g = kr_genmap_create(slots, &err);

	if (g == NULL)
		fail_msg("kr_genmap_create: %s", err.msg);
	return g;
}

/* Waits for pid and fails unless it exited with status 0. */
static void
wait_ok(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_genmap_slots_rounded(void **state)
{
	static const struct {
		unsigned ask, want;
	} cases[] = {
		{ 0, KR_GENMAP_SLOTS_MIN },
		{ 1, KR_GENMAP_SLOTS_MIN },
		{ KR_GENMAP_SLOTS_MIN, KR_GENMAP_SLOTS_MIN },
		{ KR_GENMAP_SLOTS_MIN + 1, 2 * KR_GENMAP_SLOTS_MIN },
		{ 5000, 8192 },
		{ KR_GENMAP_SLOTS_MAX, KR_GENMAP_SLOTS_MAX },
		{ KR_GENMAP_SLOTS_MAX + 1, KR_GENMAP_SLOTS_MAX },
		{ ~0U, KR_GENMAP_SLOTS_MAX },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kr_genmap *g = make_map(cases[i].ask);

		if (kr_genmap_slots(g) != cases[i].want)
			fail_msg("ask %u: got %u slots, want %u", cases[i].ask,
				 kr_genmap_slots(g), cases[i].want);
		kr_genmap_destroy(&g);
		assert_null(g);
		kr_genmap_destroy(&g);
	}
	kr_genmap_destroy(NULL);
}

static void
test_genmap_bump_changes_get(void **state)
{
	struct kr_genmap *g = make_map(0);
	uint64_t before;

	(void)state;
	before = kr_genmap_get(g, 42);
	assert_true(before == 0);
	kr_genmap_bump(g, 42);
	assert_true(kr_genmap_get(g, 42) != before);
	assert_true(kr_genmap_get(g, 42) == before + 1);
	kr_genmap_bump(g, 42);
	assert_true(kr_genmap_get(g, 42) == before + 2);
	kr_genmap_destroy(&g);
}

static void
test_genmap_child_bump_seen_by_parent(void **state)
{
	struct kr_genmap *g = make_map(0);
	uint64_t before;
	pid_t pid;

	(void)state;
	before = kr_genmap_get(g, 7);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		kr_genmap_bump(g, 7);
		_exit(0);
	}
	wait_ok(pid);
	assert_true(kr_genmap_get(g, 7) == before + 1);
	kr_genmap_destroy(&g);
}

/* Bumps from several processes at once are never lost. */
static void
test_genmap_concurrent_bumps_add_up(void **state)
{
	struct kr_genmap *g = make_map(0);
	pid_t pids[TEST_CHILDREN];

	(void)state;
	for (int i = 0; i < TEST_CHILDREN; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			for (int j = 0; j < TEST_CHILD_BUMPS; j++)
				kr_genmap_bump(g, 99);
			_exit(0);
		}
	}
	for (int i = 0; i < TEST_CHILDREN; i++)
		wait_ok(pids[i]);
	assert_true(kr_genmap_get(g, 99) ==
		    (uint64_t)TEST_CHILDREN * TEST_CHILD_BUMPS);
	kr_genmap_destroy(&g);
}

/* Sequential ids (what user ids look like) spread over the slots: with
 * 1000 keys in 65536 slots about 8 pairs are expected to share one. */
static void
test_genmap_distinct_keys_mostly_independent(void **state)
{
	struct kr_genmap *g = make_map(1U << 16);
	unsigned alone = 0, untouched = 0;

	(void)state;
	for (uint64_t k = 1; k <= TEST_KEYS; k++)
		kr_genmap_bump(g, k);
	for (uint64_t k = 1; k <= TEST_KEYS; k++) {
		assert_true(kr_genmap_get(g, k) >= 1);
		if (kr_genmap_get(g, k) == 1)
			alone++;
	}
	for (uint64_t k = TEST_KEYS + 1; k <= 2ULL * TEST_KEYS; k++) {
		if (kr_genmap_get(g, k) == 0)
			untouched++;
	}
	assert_true(alone >= TEST_KEYS * 95 / 100);
	assert_true(untouched >= TEST_KEYS * 95 / 100);
	kr_genmap_destroy(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_genmap_slots_rounded),
		cmocka_unit_test(test_genmap_bump_changes_get),
		cmocka_unit_test(test_genmap_child_bump_seen_by_parent),
		cmocka_unit_test(test_genmap_concurrent_bumps_add_up),
		cmocka_unit_test(test_genmap_distinct_keys_mostly_independent),
	};

	return cmocka_run_group_tests_name("genmap", tests, NULL, NULL);
}
