/* cmocka tests for lib/secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/secret.h"

static void
test_secret_equal_cases(void **state)
{
	static const struct {
		const char *a, *b;
		bool want;
	} cases[] = {
		{ "token", "token", true },
		{ "token", "tokem", false },
		{ "token", "toke", false },
		{ "toke", "token", false },
		{ "", "", true },
		{ "", "x", false },
		{ "xoken", "token", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(kr_secret_equal(cases[i].a, strlen(cases[i].a),
						 cases[i].b,
						 strlen(cases[i].b)),
				 cases[i].want);
}

static void
test_secret_random_hex(void **state)
{
	char a[65], b[65], small[64];
	struct kr_err err = { 0 };

	(void)state;
	assert_int_equal(kr_secret_random_hex(a, sizeof(a), 32, &err), 0);
	assert_int_equal(kr_secret_random_hex(b, sizeof(b), 32, &err), 0);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(strspn(a, "0123456789abcdef"), 64);
	assert_string_not_equal(a, b);
	/* At the size limit passes, one byte short fails. */
	assert_int_equal(kr_secret_random_hex(small, sizeof(small), 31, &err),
			 0);
	assert_int_equal(kr_secret_random_hex(small, sizeof(small), 32, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_INTERNAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_equal_cases),
		cmocka_unit_test(test_secret_random_hex),
	};

	return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
