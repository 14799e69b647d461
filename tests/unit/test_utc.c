/* cmocka tests for lib/utc, against glibc's gmtime_r and timegm over
 * known dates, every day of four centuries and random instants; the
 * RFC 3339 text at the edges of years 0..9999. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "lib/utc.h"

/* kr_utc_from_unix(t) agrees with gmtime_r, and converts back to t. */
static void
expect_like_libc(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	struct kr_utc u;
	int64_t back = 0;

	assert_non_null(gmtime_r(&tt, &tm));
	kr_utc_from_unix(t, &u);
	if (u.year != tm.tm_year + 1900LL || u.month != tm.tm_mon + 1 ||
	    u.day != tm.tm_mday || u.hour != tm.tm_hour || u.min != tm.tm_min ||
	    u.sec != tm.tm_sec)
		fail_msg("%lld: %lld-%d-%d %d:%d:%d", (long long)t,
			 (long long)u.year, u.month, u.day, u.hour, u.min,
			 u.sec);
	assert_true(kr_utc_to_unix(&u, &back));
	assert_int_equal(back, t);
	assert_int_equal(back, (int64_t)timegm(&tm));
}

static void
test_utc_known_dates(void **state)
{
	const struct kr_utc leap = { 2000, 2, 29, 0, 0, 0 };
	const struct kr_utc carry = { 2023, 12, 31, 23, 59, 60 };
	const struct kr_utc bad_month = { 2023, 13, 1, 0, 0, 0 };
	const struct kr_utc bad_day = { 2023, 1, 0, 0, 0, 0 };
	int64_t t = 0;

	(void)state;
	assert_true(kr_utc_to_unix(&leap, &t));
	assert_int_equal(t, 951782400);
	assert_true(kr_utc_to_unix(&carry, &t));
	assert_int_equal(t, 1704067200); /* 2024-01-01T00:00:00Z */
	assert_false(kr_utc_to_unix(&bad_month, &t));
	assert_false(kr_utc_to_unix(&bad_day, &t));
	expect_like_libc(0);
	expect_like_libc(-1);
	expect_like_libc(1700000000);
	expect_like_libc(-62167219200); /* 0000-01-01 */
	expect_like_libc(253402300799); /* 9999-12-31T23:59:59Z */
}

static void
test_utc_format(void **state)
{
	char buf[KR_UTC_TEXT_SIZE];

	(void)state;
	assert_true(kr_utc_format(0, buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	assert_true(kr_utc_format(951782400 + 86399, buf));
	assert_string_equal(buf, "2000-02-29T23:59:59Z");
	assert_true(kr_utc_format(-62167219200, buf));
	assert_string_equal(buf, "0000-01-01T00:00:00Z");
	assert_true(kr_utc_format(253402300799, buf));
	assert_string_equal(buf, "9999-12-31T23:59:59Z");
	assert_false(kr_utc_format(253402300800, buf));
	assert_false(kr_utc_format(-62167219201, buf));
}

/* Every day from 1800 to 2200, at a time of day that moves. */
static void
test_utc_four_centuries(void **state)
{
	(void)state;
	for (int64_t day = -62091; day < 84006; day++)
		expect_like_libc(day * 86400 + (day * 7919) % 86400);
}

static void
test_utc_random(void **state)
{
	unsigned seed = 20261206;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		int64_t r = ((int64_t)rand_r(&seed) << 31) ^ rand_r(&seed);

		expect_like_libc(r % 315537897600LL - 62135596800LL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utc_known_dates),
		cmocka_unit_test(test_utc_format),
		cmocka_unit_test(test_utc_four_centuries),
		cmocka_unit_test(test_utc_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
