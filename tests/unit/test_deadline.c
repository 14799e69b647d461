/* cmocka tests for lib/deadline and lib/clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/clock.h"
#include "lib/deadline.h"

static void
test_deadline_expiry_and_left(void **state)
{
	struct kr_deadline d = kr_deadline_after(1000000, 250);
	struct timeval tv;

	(void)state;
	assert_false(kr_deadline_expired(d, 1000000));
	assert_false(kr_deadline_expired(d, 1249999));
	assert_true(kr_deadline_expired(d, 1250000));
	assert_int_equal(kr_deadline_left_ms(d, 1000000), 250);
	assert_int_equal(kr_deadline_left_ms(d, 1249001), 1); /* rounds up */
	assert_int_equal(kr_deadline_left_ms(d, 1250000), 0);
	kr_deadline_timeval(d, 1000000, &tv);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 250000);
	kr_deadline_timeval(d, 2000000, &tv);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 0);
}

static void
test_deadline_saturates_and_min(void **state)
{
	struct kr_deadline far = kr_deadline_after(INT64_MAX - 10, 1000);
	struct kr_deadline past = kr_deadline_after(500, -5);
	struct kr_deadline near = kr_deadline_after(0, 10);

	(void)state;
	assert_int_equal(far.at_us, INT64_MAX);
	assert_true(kr_deadline_expired(past, 500));
	assert_int_equal(kr_deadline_min(far, near).at_us, near.at_us);
	assert_int_equal(kr_deadline_min(near, far).at_us, near.at_us);
}

static void
test_deadline_clock_monotonic(void **state)
{
	int64_t a = kr_clock_mono_us();
	int64_t b = kr_clock_mono_us();

	(void)state;
	assert_true(b >= a);
	assert_true(kr_clock_wall_ms() > 1700000000000LL);
	assert_true(kr_clock_mono_ms() <= kr_clock_mono_us() / 1000 + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadline_expiry_and_left),
		cmocka_unit_test(test_deadline_saturates_and_min),
		cmocka_unit_test(test_deadline_clock_monotonic),
	};

	return cmocka_run_group_tests_name("deadline", tests, NULL, NULL);
}
