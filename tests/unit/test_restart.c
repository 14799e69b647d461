/* cmocka tests for server/restart: the supervisor's restart intensity,
 * back-off and return to health, on an injected clock (the times
 * passed in). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/restart.h"

static struct kr_restart *
restart_new(unsigned intensity, int64_t period_ms, int64_t max_ms,
	    unsigned n_workers)
{
	struct kr_restart_policy p = { .intensity = intensity,
				       .period_ms = period_ms,
				       .backoff_max_ms = max_ms };

	return kr_restart_create(&p, n_workers);
}

static void
test_restart_at_limit_passes_one_over_fails(void **state)
{
	struct kr_restart *r = restart_new(3, 10000, 30000, 1);
	bool tipped = true;

	(void)state;
	assert_int_equal(kr_restart_crashed(r, 0, 1000, &tipped), 0);
	assert_false(tipped);
	assert_int_equal(kr_restart_crashed(r, 0, 2000, NULL), 0);
	/* 3 in 10 s: allowed, at once, still healthy. */
	assert_int_equal(kr_restart_crashed(r, 0, 3000, &tipped), 0);
	assert_false(tipped);
	assert_false(kr_restart_unhealthy(r));
	/* The 4th: unhealthy, and this restart already waits 1 s. */
	assert_int_equal(kr_restart_crashed(r, 0, 4000, &tipped), 1000);
	assert_true(tipped);
	assert_true(kr_restart_unhealthy(r));
	assert_int_equal(kr_restart_backoff_ms(r, 0), 1000);
	assert_int_equal(kr_restart_count(r, 0), 4);
	kr_restart_destroy(&r);
	assert_null(r);
}

static void
test_restart_backoff_doubles_up_to_max(void **state)
{
	static const int64_t want[] = { 1000, 2000, 4000, 5000, 5000 };
	struct kr_restart *r = restart_new(1, 10000, 5000, 1);
	int64_t now = 0;
	bool tipped;

	(void)state;
	assert_int_equal(kr_restart_crashed(r, 0, now, NULL), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		/* Crashes again as soon as it is back. */
		int64_t d = kr_restart_crashed(r, 0, now, &tipped);

		assert_int_equal(d, want[i]);
		assert_int_equal(tipped, i == 0);
		assert_int_equal(kr_restart_backoff_ms(r, 0), want[i]);
		now += d;
	}
	kr_restart_destroy(&r);
}

static void
test_restart_backoff_is_per_worker(void **state)
{
	struct kr_restart *r = restart_new(1, 10000, 30000, 3);

	(void)state;
	assert_int_equal(kr_restart_crashed(r, 0, 0, NULL), 0);
	assert_int_equal(kr_restart_crashed(r, 0, 10, NULL), 1000);
	assert_int_equal(kr_restart_crashed(r, 0, 1010, NULL), 2000);
	/* Worker 1's first restart while unhealthy starts at 1 s. */
	assert_int_equal(kr_restart_crashed(r, 1, 1020, NULL), 1000);
	assert_int_equal(kr_restart_backoff_ms(r, 2), 0);
	assert_int_equal(kr_restart_count(r, 0), 3);
	assert_int_equal(kr_restart_count(r, 1), 1);
	assert_int_equal(kr_restart_count(r, 2), 0);
	/* Out of range: no state, no delay. */
	assert_int_equal(kr_restart_crashed(r, 3, 1030, NULL), 0);
	assert_int_equal(kr_restart_count(r, 3), 0);
	kr_restart_destroy(&r);
}

static void
test_restart_calm_after_period_past_last_restart(void **state)
{
	struct kr_restart *r = restart_new(1, 2000, 30000, 1);

	(void)state;
	kr_restart_crashed(r, 0, 0, NULL);
	/* Tipped at 100, restarted at 1100: calm at 3100, not before. */
	assert_int_equal(kr_restart_crashed(r, 0, 100, NULL), 1000);
	assert_false(kr_restart_calm(r, 2100)); /* a period after the crash */
	assert_false(kr_restart_calm(r, 3099));
	assert_true(kr_restart_unhealthy(r));
	assert_true(kr_restart_calm(r, 3100));
	assert_false(kr_restart_unhealthy(r));
	assert_false(kr_restart_calm(r, 3200)); /* once */
	assert_int_equal(kr_restart_backoff_ms(r, 0), 0);
	assert_int_equal(kr_restart_recent(r, 3100), 0);
	/* Fresh: one restart at once again, the next over the limit
	 * starts back at 1 s. */
	assert_int_equal(kr_restart_crashed(r, 0, 4000, NULL), 0);
	assert_int_equal(kr_restart_crashed(r, 0, 4100, NULL), 1000);
	kr_restart_destroy(&r);
}

static void
test_restart_long_backoff_is_not_calm(void **state)
{
	/* A back-off longer than the period: waiting it out is not calm. */
	struct kr_restart *r = restart_new(1, 1000, 8000, 1);
	int64_t now = 0;

	(void)state;
	kr_restart_crashed(r, 0, now, NULL);
	for (int i = 0; i < 4; i++) /* 1, 2, 4, 8 s */
		now += kr_restart_crashed(r, 0, now, NULL);
	assert_int_equal(kr_restart_backoff_ms(r, 0), 8000);
	/* Last crash at 7000, restarted at 15000: calm at 16000. */
	assert_false(kr_restart_calm(r, 14999));
	assert_false(kr_restart_calm(r, 15999));
	/* One more crash before then pushes calm a period past its
	 * restart. */
	assert_int_equal(kr_restart_crashed(r, 0, 15500, NULL), 8000);
	assert_false(kr_restart_calm(r, 16000));
	assert_false(kr_restart_calm(r, 24499));
	assert_true(kr_restart_calm(r, 24500));
	kr_restart_destroy(&r);
}

static void
test_restart_window_slides(void **state)
{
	struct kr_restart *r = restart_new(2, 1000, 30000, 1);
	bool tipped;

	(void)state;
	kr_restart_crashed(r, 0, 0, NULL);
	kr_restart_crashed(r, 0, 500, NULL);
	/* t=0 left the window at t=1000. */
	assert_int_equal(kr_restart_crashed(r, 0, 1000, &tipped), 0);
	assert_false(tipped);
	assert_int_equal(kr_restart_recent(r, 1000), 2);
	assert_int_equal(kr_restart_crashed(r, 0, 1600, &tipped), 0);
	assert_false(tipped);
	assert_int_equal(kr_restart_crashed(r, 0, 1700, &tipped), 1000);
	assert_true(tipped);
	/* Long quiet: the history no longer counts. */
	assert_int_equal(kr_restart_recent(r, 100000), 0);
	kr_restart_destroy(&r);
}

static void
test_restart_reconfigure_keeps_state(void **state)
{
	struct kr_restart *r = restart_new(3, 10000, 30000, 1);
	struct kr_restart_policy p = { .intensity = 1,
				       .period_ms = 10000,
				       .backoff_max_ms = 1500 };

	(void)state;
	kr_restart_crashed(r, 0, 100, NULL);
	kr_restart_crashed(r, 0, 200, NULL);
	kr_restart_crashed(r, 0, 300, NULL);
	assert_false(kr_restart_unhealthy(r));
	/* Shrunk to 1: the newest two restarts are kept, so the next one
	 * is over the new limit. */
	kr_restart_configure(r, &p);
	assert_int_equal(kr_restart_recent(r, 400), 2);
	assert_int_equal(kr_restart_crashed(r, 0, 400, NULL), 1000);
	assert_true(kr_restart_unhealthy(r));
	/* The new maximum caps the doubling. */
	assert_int_equal(kr_restart_crashed(r, 0, 1400, NULL), 1500);
	/* Growing keeps health and back-off. */
	p.intensity = 5;
	p.backoff_max_ms = 30000;
	kr_restart_configure(r, &p);
	assert_true(kr_restart_unhealthy(r));
	assert_int_equal(kr_restart_backoff_ms(r, 0), 1500);
	assert_int_equal(kr_restart_recent(r, 1400), 2);
	assert_int_equal(kr_restart_crashed(r, 0, 3000, NULL), 3000);
	assert_int_equal(kr_restart_count(r, 0), 6);
	kr_restart_destroy(&r);
}

static void
test_restart_zero_intensity(void **state)
{
	struct kr_restart *r = restart_new(0, 1000, 1000, 1);
	bool tipped;

	(void)state;
	/* Every restart is one too many; the back-off saturates at a
	 * maximum equal to the first step. */
	assert_int_equal(kr_restart_crashed(r, 0, 5, &tipped), 1000);
	assert_true(tipped);
	assert_int_equal(kr_restart_crashed(r, 0, 1005, &tipped), 1000);
	assert_false(tipped);
	kr_restart_destroy(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart_at_limit_passes_one_over_fails),
		cmocka_unit_test(test_restart_backoff_doubles_up_to_max),
		cmocka_unit_test(test_restart_backoff_is_per_worker),
		cmocka_unit_test(
			test_restart_calm_after_period_past_last_restart),
		cmocka_unit_test(test_restart_long_backoff_is_not_calm),
		cmocka_unit_test(test_restart_window_slides),
		cmocka_unit_test(test_restart_reconfigure_keeps_state),
		cmocka_unit_test(test_restart_zero_intensity),
	};

	return cmocka_run_group_tests_name("restart", tests, NULL, NULL);
}
