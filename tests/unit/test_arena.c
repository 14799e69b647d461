/* cmocka tests for lib/arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/arena.h"

struct cleanup_log {
	int order[8];
	int n;
};

struct cleanup_rec {
	struct cleanup_log *log;
	int id;
};

static void
record_cleanup(void *ctx)
{
	struct cleanup_rec *r = ctx;

	r->log->order[r->log->n++] = r->id;
}

static void
test_arena_alloc_aligned_and_distinct(void **state)
{
	struct kr_arena *a = kr_arena_create(1024, 0, false);
	char *prev = NULL;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		char *p = kr_arena_alloc(a, (size_t)(i % 37) + 1, NULL);

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		memset(p, 0xab, (size_t)(i % 37) + 1);
		assert_ptr_not_equal(p, prev);
		prev = p;
	}
	kr_arena_destroy(&a);
	assert_null(a);
}

static void
test_arena_big_allocations(void **state)
{
	struct kr_arena *a = kr_arena_create(1024, 0, false);
	char *small = kr_arena_alloc(a, 16, NULL);
	char *big = kr_arena_alloc(a, 100000, NULL);
	char *small2 = kr_arena_alloc(a, 16, NULL);

	(void)state;
	assert_non_null(big);
	memset(big, 1, 100000);
	/* The big one got its own block; small ones keep the first. */
	assert_ptr_equal(small2, small + 16);
	kr_arena_reset(a);
	assert_int_equal(kr_arena_used(a), 0);
	assert_ptr_equal(kr_arena_alloc(a, 16, NULL), small);
	kr_arena_destroy(&a);
}

static void
test_arena_limit_at_and_over(void **state)
{
	struct kr_arena *a = kr_arena_create(4096, 1024, false);
	struct kr_err err = { 0 };

	(void)state;
	assert_non_null(kr_arena_alloc(a, 1024, &err));
	assert_int_equal(kr_arena_used(a), 1024);
	assert_null(kr_arena_alloc(a, 1, &err));
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	kr_arena_reset(a);
	assert_null(kr_arena_alloc(a, 1025, &err));
	assert_null(kr_arena_alloc(a, SIZE_MAX, &err));
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	kr_arena_destroy(&a);
}

static void
test_arena_cleanups_lifo_on_reset_and_destroy(void **state)
{
	struct kr_arena *a = kr_arena_create(512, 0, true);
	struct cleanup_log log = { .n = 0 };
	struct cleanup_rec r1 = { &log, 1 }, r2 = { &log, 2 }, r3 = { &log, 3 };

	(void)state;
	assert_int_equal(kr_arena_cleanup_add(a, record_cleanup, &r1, NULL), 0);
	assert_int_equal(kr_arena_cleanup_add(a, record_cleanup, &r2, NULL), 0);
	kr_arena_reset(a);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.order[0], 2); /* last added runs first */
	assert_int_equal(log.order[1], 1);
	kr_arena_reset(a);
	assert_int_equal(log.n, 2); /* handlers run once */
	assert_int_equal(kr_arena_cleanup_add(a, record_cleanup, &r3, NULL), 0);
	kr_arena_destroy(&a);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.order[2], 3);
}

static void
test_arena_strings(void **state)
{
	struct kr_arena *a = kr_arena_create(256, 0, false);
	char *s = kr_arena_strdup(a, "hello", NULL);
	char *t = kr_arena_strndup(a, "hello world", 5, NULL);
	unsigned char *z = kr_arena_zalloc(a, 64, NULL);
	char *m = kr_arena_memdup(a, "a\0b", 3, NULL);

	(void)state;
	assert_string_equal(s, "hello");
	assert_string_equal(t, "hello");
	for (int i = 0; i < 64; i++)
		assert_int_equal(z[i], 0);
	assert_memory_equal(m, "a\0b", 3);
	kr_arena_destroy(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_alloc_aligned_and_distinct),
		cmocka_unit_test(test_arena_big_allocations),
		cmocka_unit_test(test_arena_limit_at_and_over),
		cmocka_unit_test(test_arena_cleanups_lifo_on_reset_and_destroy),
		cmocka_unit_test(test_arena_strings),
	};

	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
