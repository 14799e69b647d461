/* cmocka tests for server/restart: the supervisor's restart intensity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/restart.h"

static void
test_restart_at_limit_passes_one_over_fails(void **state)
{
	struct kr_restart *r = kr_restart_create(3, 10000);

	(void)state;
	assert_true(kr_restart_record(r, 1000));
	assert_true(kr_restart_record(r, 2000));
	assert_true(kr_restart_record(r, 3000));  /* 3 in 10 s: allowed */
	assert_false(kr_restart_record(r, 4000)); /* the 4th: give up */
	kr_restart_destroy(&r);
	assert_null(r);
}

static void
test_restart_window_slides(void **state)
{
	struct kr_restart *r = kr_restart_create(2, 1000);

	(void)state;
	assert_true(kr_restart_record(r, 0));
	assert_true(kr_restart_record(r, 500));
	/* t=0 left the window at t=1000. */
	assert_true(kr_restart_record(r, 1000));
	assert_int_equal(kr_restart_recent(r, 1000), 2);
	assert_true(kr_restart_record(r, 1600));
	assert_false(kr_restart_record(r, 1700));
	/* Long quiet: the history no longer counts. */
	assert_int_equal(kr_restart_recent(r, 100000), 0);
	assert_true(kr_restart_record(r, 100000));
	kr_restart_destroy(&r);
}

static void
test_restart_zero_intensity(void **state)
{
	struct kr_restart *r = kr_restart_create(0, 1000);

	(void)state;
	assert_false(kr_restart_record(r, 5));
	kr_restart_destroy(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart_at_limit_passes_one_over_fails),
		cmocka_unit_test(test_restart_window_slides),
		cmocka_unit_test(test_restart_zero_intensity),
	};

	return cmocka_run_group_tests_name("restart", tests, NULL, NULL);
}
