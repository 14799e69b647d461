/* cmocka tests for storage/circuit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "storage/circuit.h"

static void
test_circuit_opens_at_threshold(void **state)
{
	struct kr_circuit c;

	(void)state;
	kr_circuit_init(&c, 3, 1000);
	assert_true(kr_circuit_allow(&c, 0));
	kr_circuit_failure(&c, 10);
	kr_circuit_failure(&c, 20);
	assert_true(kr_circuit_allow(&c, 30)); /* 2 < 3: still closed */
	assert_false(kr_circuit_is_down(&c));
	kr_circuit_failure(&c, 30);
	assert_int_equal(c.state, KR_CIRCUIT_OPEN);
	assert_false(kr_circuit_allow(&c, 31));
	assert_true(kr_circuit_is_open(&c, 31));
}

static void
test_circuit_success_resets_count(void **state)
{
	struct kr_circuit c;

	(void)state;
	kr_circuit_init(&c, 2, 1000);
	kr_circuit_failure(&c, 0);
	kr_circuit_success(&c);
	kr_circuit_failure(&c, 1);
	assert_int_equal(c.state, KR_CIRCUIT_CLOSED); /* not consecutive */
}

static void
test_circuit_half_open_single_probe(void **state)
{
	struct kr_circuit c;

	(void)state;
	kr_circuit_init(&c, 1, 500);
	kr_circuit_failure(&c, 1000);
	assert_false(kr_circuit_allow(&c, 1499));
	assert_false(kr_circuit_is_open(&c, 1500)); /* probe time */
	assert_true(kr_circuit_is_down(&c));	    /* but still down */
	assert_true(kr_circuit_allow(&c, 1500));    /* the probe */
	assert_false(kr_circuit_allow(&c, 1501));   /* only one */
	assert_true(kr_circuit_is_open(&c, 1501));
	assert_true(kr_circuit_is_down(&c));
	kr_circuit_failure(&c, 1600); /* probe failed: open again */
	assert_int_equal(c.state, KR_CIRCUIT_OPEN);
	assert_false(kr_circuit_allow(&c, 2099));
	assert_true(kr_circuit_is_down(&c));
	assert_true(kr_circuit_allow(&c, 2100));
	kr_circuit_success(&c); /* probe succeeded: closed */
	assert_int_equal(c.state, KR_CIRCUIT_CLOSED);
	assert_false(kr_circuit_is_down(&c));
	assert_true(kr_circuit_allow(&c, 2101));
	assert_true(kr_circuit_allow(&c, 2102));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_circuit_opens_at_threshold),
		cmocka_unit_test(test_circuit_success_resets_count),
		cmocka_unit_test(test_circuit_half_open_single_probe),
	};

	return cmocka_run_group_tests_name("circuit", tests, NULL, NULL);
}
