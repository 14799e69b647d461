/* cmocka tests for lib/arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
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

/* ---- budgets ----------------------------------------------------- */

static void
test_arena_budget_at_and_over(void **state)
{
	struct kr_arena_budget worker, req;
	struct kr_arena_budget *by = NULL;
	struct kr_err err = { 0 };

	(void)state;
	kr_arena_budget_init(&worker, NULL, 1000, KR_ERR_OVERLOAD, "worker");
	kr_arena_budget_init(&req, &worker, 600, KR_ERR_LIMIT, "request");
	/* The request's own cap: at it passes, one over fails. */
	assert_int_equal(kr_arena_budget_take(&req, 600, &by, &err), 0);
	assert_int_equal(kr_arena_budget_take(&req, 1, &by, &err), -1);
	assert_ptr_equal(by, &req);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "request"));
	assert_non_null(strstr(err.msg, "600"));
	assert_int_equal(kr_arena_budget_used(&req), 600);
	assert_int_equal(kr_arena_budget_used(&worker), 600);
	kr_arena_budget_give(&req, 600);
	assert_int_equal(kr_arena_budget_used(&worker), 0);

	/* The parent's: the child takes nothing when the parent refuses. */
	assert_int_equal(kr_arena_budget_take(&worker, 500, NULL, &err), 0);
	assert_int_equal(kr_arena_budget_take(&req, 500, &by, &err), 0);
	assert_int_equal(kr_arena_budget_take(&req, 1, &by, &err), -1);
	assert_ptr_equal(by, &worker);
	assert_int_equal(err.kind, KR_ERR_OVERLOAD);
	assert_int_equal(kr_arena_budget_used(&req), 500);
	assert_int_equal(kr_arena_budget_used(&worker), 1000);
	assert_int_equal(atomic_load(&worker.refused), 1);
	assert_int_equal(atomic_load(&req.refused), 1);
	/* A cap of 0 only counts; a size near SIZE_MAX never wraps. */
	kr_arena_budget_give(&req, 500);
	kr_arena_budget_give(&worker, 500);
	kr_arena_budget_init(&worker, NULL, 0, KR_ERR_OVERLOAD, "worker");
	assert_int_equal(kr_arena_budget_take(&req, 500, NULL, &err), 0);
	assert_int_equal(kr_arena_budget_take(&worker, SIZE_MAX, NULL, &err),
			 -1);
	assert_int_equal(kr_arena_budget_used(&worker), 500);
}

/* Blocks are drawn before they are allocated and given back on reset
 * and destroy; a refused block fails the allocation with the budget's
 * kind and names the budget. */
static void
test_arena_budget_blocks(void **state)
{
	struct kr_arena_budget b;
	struct kr_err err = { 0 };
	struct kr_arena *a;
	size_t first, big, head, fill;

	(void)state;
	kr_arena_budget_init(&b, NULL, 20000, KR_ERR_LIMIT, "test");
	a = kr_arena_create_in(&b, 1024, 0, false, &err);
	assert_non_null(a);
	first = kr_arena_budget_used(&b);
	assert_true(first >= 1024 && first < 1024 + 64);
	/* A big allocation gets its own block: charged at its size. */
	assert_non_null(kr_arena_alloc(a, 4096, &err));
	big = kr_arena_budget_used(&b) - first;
	assert_true(big >= 4096 && big < 4096 + 64);
	/* What is left (a block header each) fills it; then nothing. */
	head = first - 1024;
	fill = (20000 - first - big - head) & ~(size_t)63;
	assert_non_null(kr_arena_alloc(a, fill, &err));
	big += fill + head;
	assert_true(kr_arena_budget_used(&b) <= 20000);
	assert_null(kr_arena_alloc(a, 2048, &err));
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "test"));
	assert_ptr_equal(kr_arena_refused_by(a), &b);
	assert_int_equal(kr_arena_budget_used(&b), first + big);
	kr_arena_reset(a);
	assert_int_equal(kr_arena_budget_used(&b), first);
	/* Charges count against the budget and max_bytes alike. */
	assert_int_equal(kr_arena_charge(a, 20000 - first, &err), 0);
	assert_int_equal(kr_arena_budget_used(&b), 20000);
	assert_int_equal(kr_arena_used(a), 20000 - first);
	assert_int_equal(kr_arena_charge(a, 1, &err), -1);
	kr_arena_reset(a);
	assert_int_equal(kr_arena_budget_used(&b), first);
	kr_arena_destroy(&a);
	assert_int_equal(kr_arena_budget_used(&b), 0);

	/* No room for the first block: no arena. */
	kr_arena_budget_init(&b, NULL, 1024, KR_ERR_OVERLOAD, "small");
	assert_null(kr_arena_create_in(&b, 1024, 0, false, &err));
	assert_int_equal(err.kind, KR_ERR_OVERLOAD);
	assert_int_equal(kr_arena_budget_used(&b), 0);
}

static void
test_arena_charge_max_bytes(void **state)
{
	struct kr_arena *a = kr_arena_create(1024, 1000, false);
	struct kr_err err = { 0 };

	(void)state;
	assert_int_equal(kr_arena_charge(a, 1000, &err), 0);
	assert_int_equal(kr_arena_charge(a, 1, &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	assert_null(kr_arena_refused_by(a));
	kr_arena_destroy(&a);
}

struct budget_thread {
	struct kr_arena_budget *b;
	unsigned refused;
};

/* Takes and gives 100 bytes, 100 000 times. */
static void *
budget_thread_run(void *ctx)
{
	struct budget_thread *t = ctx;

	for (int i = 0; i < 100000; i++) {
		if (kr_arena_budget_take(t->b, 100, NULL, NULL) < 0) {
			t->refused++;
			continue;
		}
		if (kr_arena_budget_used(t->b) > t->b->max)
			abort();
		kr_arena_budget_give(t->b, 100);
	}
	return NULL;
}

/* Arenas of one budget may be used on a pool thread and the loop at
 * once: the budget stays exact and is never passed. */
static void
test_arena_budget_threads(void **state)
{
	struct kr_arena_budget b;
	struct budget_thread t[4];
	pthread_t th[4];

	(void)state;
	kr_arena_budget_init(&b, NULL, 250, KR_ERR_LIMIT, "shared");
	for (int i = 0; i < 4; i++) {
		t[i] = (struct budget_thread){ .b = &b };
		assert_int_equal(
			pthread_create(&th[i], NULL, budget_thread_run, &t[i]),
			0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(kr_arena_budget_used(&b), 0);
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
		cmocka_unit_test(test_arena_budget_at_and_over),
		cmocka_unit_test(test_arena_budget_blocks),
		cmocka_unit_test(test_arena_charge_max_bytes),
		cmocka_unit_test(test_arena_budget_threads),
	};

	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
