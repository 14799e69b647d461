/* cmocka tests for antispam/counter: counts within a window, the
 * sliding estimate and expiry, two processes counting into one table,
 * a full table that still answers and evicts, the key and kind bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "antispam/counter.h"
#include "lib/limits.h"

/* Adds from each of two processes at once: the lock must lose none. */
#define TEST_RACE_ADDS 20000

static struct kr_counter *
counter_new(size_t slots)
{
	struct kr_counter *c = NULL;
	struct kr_err err;

	assert_int_equal(kr_counter_create(slots, &c, &err), 0);
	assert_non_null(c);
	return c;
}

static uint64_t
add(struct kr_counter *c, const char *kind, const char *key, unsigned w,
    unsigned n, uint64_t now)
{
	return kr_counter_add(c, kind, key, strlen(key), w, n, now);
}

static void
test_counter_counts_in_window(void **state)
{
	struct kr_counter *c = counter_new(KR_ANTISPAM_COUNTER_SLOTS_DEFAULT);

	(void)state;
	assert_int_equal(kr_counter_slots(c),
			 KR_ANTISPAM_COUNTER_SLOTS_DEFAULT);
	assert_int_equal(add(c, "ip", "192.0.2.1", 1000, 1, 5000), 1);
	assert_int_equal(add(c, "ip", "192.0.2.1", 1000, 1, 5100), 2);
	assert_int_equal(add(c, "ip", "192.0.2.1", 1000, 3, 5999), 5);
	/* n = 0 asks without counting. */
	assert_int_equal(add(c, "ip", "192.0.2.1", 1000, 0, 5999), 5);
	/* Another key, another kind with the same key: their own. */
	assert_int_equal(add(c, "ip", "192.0.2.2", 1000, 1, 5999), 1);
	assert_int_equal(add(c, "sender", "192.0.2.1", 1000, 1, 5999), 1);
	/* Binary keys, the empty key. */
	uint64_t h = 0x0123456789abcdefULL;
	assert_int_equal(kr_counter_add(c, "bulk", &h, 8, 1000, 7, 5999), 7);
	assert_int_equal(kr_counter_add(c, "bulk", &h, 8, 1000, 2, 5999), 9);
	assert_int_equal(kr_counter_add(c, "bulk", "", 0, 1000, 1, 5999), 1);
	/* The host's shape, on the monotonic clock (a day: no sub-window
	 * boundary between the two calls). */
	assert_int_equal(kr_counter_count(c, "ip", "m", 1, 86400000, 1), 1);
	assert_int_equal(kr_counter_count(c, "ip", "m", 1, 86400000, 1), 2);
	kr_counter_destroy(&c);
	assert_null(c);
	kr_counter_destroy(&c);
}

/* Window 1000: four events in sub-window [0, 1000), then the estimate
 * weighs them by what is left of them in [now - 1000, now]. */
static void
test_counter_sliding_and_expiry(void **state)
{
	struct kr_counter *c = counter_new(64);

	(void)state;
	assert_int_equal(add(c, "ip", "a", 1000, 4, 100), 4);
	assert_int_equal(add(c, "ip", "a", 1000, 0, 999), 4);
	assert_int_equal(add(c, "ip", "a", 1000, 0, 1000), 4);
	assert_int_equal(add(c, "ip", "a", 1000, 0, 1500), 2);
	assert_int_equal(add(c, "ip", "a", 1000, 1, 1750), 2);
	/* At 2000 the first four are out; the one of 1750 is previous. */
	assert_int_equal(add(c, "ip", "a", 1000, 0, 2000), 1);
	assert_int_equal(add(c, "ip", "a", 1000, 0, 2999), 0);
	/* Long idle: everything gone. */
	assert_int_equal(add(c, "ip", "b", 1000, 9, 100), 9);
	assert_int_equal(add(c, "ip", "b", 1000, 1, 100000), 1);
	/* A clock read earlier than the last counts as the last. */
	assert_int_equal(add(c, "ip", "b", 1000, 1, 50), 2);
	/* A new window for the key starts its counter again. */
	assert_int_equal(add(c, "ip", "b", 5000, 1, 100000), 1);
	kr_counter_destroy(&c);
}

/* A child process counts into the table the parent made before fork;
 * then both race on one key and the lock loses nothing. */
static void
test_counter_two_processes(void **state)
{
	struct kr_counter *c = counter_new(1024);
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(add(c, "ip", "shared", 60000, 2, 1000), 2);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = add(c, "ip", "shared", 60000, 3, 1000) == 5;

		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(add(c, "ip", "shared", 60000, 1, 1000), 6);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < TEST_RACE_ADDS; i++)
			if (add(c, "ip", "race", 60000, 1, 1000) == 0)
				_exit(1);
		_exit(0);
	}
	for (int i = 0; i < TEST_RACE_ADDS; i++)
		assert_true(add(c, "ip", "race", 60000, 1, 1000) > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(add(c, "ip", "race", 60000, 0, 1000),
			 2 * TEST_RACE_ADDS);
	kr_counter_destroy(&c);
}

/* One bucket of KR_COUNTER_WAYS slots: the next key takes the least
 * recently used slot; the others keep their counts. */
static void
test_counter_full_table_evicts(void **state)
{
	struct kr_counter *c = counter_new(1);
	char key[16];

	(void)state;
	assert_int_equal(kr_counter_slots(c), KR_COUNTER_WAYS);
	for (int i = 0; i < KR_COUNTER_WAYS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(add(c, "ip", key, 60000, 1, 1000 + i), 1);
	}
	for (int i = 0; i < KR_COUNTER_WAYS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(add(c, "ip", key, 60000, 1, 2000 + i), 2);
	}
	/* Full: "new" evicts k0, the least recently used. */
	assert_int_equal(add(c, "ip", "new", 60000, 1, 3000), 1);
	assert_int_equal(add(c, "ip", "k0", 60000, 1, 3001), 1);
	/* That evicted k1; k7 and "new" are still there. */
	assert_int_equal(add(c, "ip", "k7", 60000, 1, 3002), 3);
	assert_int_equal(add(c, "ip", "new", 60000, 1, 3003), 2);
	assert_int_equal(add(c, "ip", "k1", 60000, 1, 3004), 1);
	kr_counter_destroy(&c);
}

static void
test_counter_bounds(void **state)
{
	char key[KR_COUNTER_KEY_MAX + 1];
	char kind[KR_COUNTER_KIND_MAX + 2];
	struct kr_counter *c = NULL;
	struct kr_err err;

	(void)state;
	assert_int_equal(kr_counter_create(0, &c, &err), -1);
	assert_null(c);
	assert_int_equal(kr_counter_create(KR_COUNTER_SLOTS_MAX + 1, &c, &err),
			 -1);
	assert_null(c);
	c = counter_new(16);
	memset(key, 'k', sizeof(key));
	/* At the limit counts, one over is refused (0, nothing stored). */
	assert_int_equal(
		kr_counter_add(c, "ip", key, KR_COUNTER_KEY_MAX, 1000, 1, 1),
		1);
	assert_int_equal(
		kr_counter_add(c, "ip", key, KR_COUNTER_KEY_MAX, 1000, 1, 1),
		2);
	assert_int_equal(kr_counter_add(c, "ip", key, KR_COUNTER_KEY_MAX + 1,
					1000, 1, 1),
			 0);
	memset(kind, 'x', sizeof(kind));
	kind[KR_COUNTER_KIND_MAX] = '\0';
	assert_int_equal(add(c, kind, "a", 1000, 1, 1), 1);
	kind[KR_COUNTER_KIND_MAX] = 'x';
	kind[KR_COUNTER_KIND_MAX + 1] = '\0';
	assert_int_equal(add(c, kind, "a", 1000, 1, 1), 0);
	assert_int_equal(add(c, "", "a", 1000, 1, 1), 0);
	assert_int_equal(add(c, "ip", "a", 0, 1, 1), 0);
	assert_int_equal(kr_counter_add(c, "ip", NULL, 1, 1000, 1, 1), 0);
	kr_counter_destroy(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_counts_in_window),
		cmocka_unit_test(test_counter_sliding_and_expiry),
		cmocka_unit_test(test_counter_two_processes),
		cmocka_unit_test(test_counter_full_table_evicts),
		cmocka_unit_test(test_counter_bounds),
	};

	return cmocka_run_group_tests_name("counter", tests, NULL, NULL);
}
