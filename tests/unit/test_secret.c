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

/* Raw bytes: every length from 0 up fills exactly that many (a short
 * read would leave the tail as it was), and two draws differ. */
static void
test_secret_random_bytes(void **state)
{
	unsigned char a[300], b[300];
	struct kr_err err = { 0 };

	(void)state;
	assert_int_equal(kr_secret_random(a, 0, &err), 0);
	for (size_t n = 1; n <= 64; n++) {
		unsigned char buf[65];
		size_t tries = 0;

		memset(buf, 0, sizeof(buf));
		/* All-zero output of 8 random bytes or more: 2^-64. */
		do {
			assert_int_equal(kr_secret_random(buf, n, &err), 0);
		} while (n < 8 && ++tries < 64 && buf[n - 1] == 0);
		assert_int_equal(buf[n], 0);
		if (n >= 8) {
			unsigned char zero[64] = { 0 };

			assert_memory_not_equal(buf, zero, n);
		}
	}
	assert_int_equal(kr_secret_random(a, sizeof(a), &err), 0);
	assert_int_equal(kr_secret_random(b, sizeof(b), NULL), 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_equal_cases),
		cmocka_unit_test(test_secret_random_hex),
		cmocka_unit_test(test_secret_random_bytes),
	};

	return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
