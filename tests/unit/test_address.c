/* cmocka tests for lib/address: the one check of a user's address,
 * table-driven, with its length limit as an "at the limit passes, one
 * over fails" pair, lower-casing in place, and inputs that are not
 * NUL-terminated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/address.h"

struct addr_case {
	const char *in;
	const char *out; /* NULL: refused with msg */
	const char *msg;
};

static const struct addr_case addr_cases[] = {
	{ "user@example.com", "user@example.com", NULL },
	{ "User@Example.COM", "user@example.com", NULL },
	{ "a+detail@b", "a+detail@b", NULL },
	{ "!#$%&'*/=?^_`{|}~.-@x.y", "!#$%&'*/=?^_`{|}~.-@x.y", NULL },
	{ "\"q\"@x", "\"q\"@x", NULL },
	{ "", NULL, "empty address" },
	{ "user", NULL, "address is not local@domain" },
	{ "@example.com", NULL, "address is not local@domain" },
	{ "user@", NULL, "address is not local@domain" },
	{ "postmaster@", NULL, "address is not local@domain" },
	{ "a@b@c", NULL, "address is not local@domain" },
	{ "a b@c", NULL,
	  "address has a byte 0x20 that is not printable ASCII" },
	{ "a\tb@c", NULL,
	  "address has a byte 0x09 that is not printable ASCII" },
	{ "j\xc3\xb6rg@d.test", NULL,
	  "address has a byte 0xc3 that is not printable ASCII" },
	{ "a\x7f@c", NULL,
	  "address has a byte 0x7f that is not printable ASCII" },
};

static void
test_address_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]);
	     i++) {
		const struct addr_case *c = &addr_cases[i];
		char out[KR_ADDRESS_MAX + 1];
		struct kr_err err;
		int r = kr_address_normalize(c->in, strlen(c->in), out,
					     sizeof(out), &err);

		if (c->out != NULL) {
			assert_int_equal(r, 0);
			assert_string_equal(out, c->out);
		} else {
			assert_int_equal(r, -1);
			assert_int_equal(err.kind, KR_ERR_PERMANENT);
			assert_string_equal(err.msg, c->msg);
		}
		/* err_r may be NULL. */
		assert_int_equal(kr_address_normalize(c->in, strlen(c->in), out,
						      sizeof(out), NULL),
				 r);
	}
}

/* KR_ADDRESS_MAX bytes pass, one more fails. */
static void
test_address_length_limit(void **state)
{
	char in[KR_ADDRESS_MAX + 2], out[KR_ADDRESS_MAX + 1];
	struct kr_err err;

	(void)state;
	memset(in, 'A', sizeof(in));
	memcpy(in + KR_ADDRESS_MAX - 4, "@b.c", 4);
	assert_int_equal(kr_address_normalize(in, KR_ADDRESS_MAX, out,
					      sizeof(out), &err),
			 0);
	assert_int_equal(strlen(out), KR_ADDRESS_MAX);
	assert_int_equal(out[0], 'a');
	memset(in, 'a', sizeof(in));
	memcpy(in + KR_ADDRESS_MAX + 1 - 4, "@b.c", 4);
	assert_int_equal(kr_address_normalize(in, KR_ADDRESS_MAX + 1, out,
					      sizeof(out), &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_string_equal(err.msg, "address longer than 254 bytes");
}

/* Only len bytes are read, and out may be in. */
static void
test_address_in_place(void **state)
{
	char buf[KR_ADDRESS_MAX + 1] = "Bob@Example.ORG trailing";

	(void)state;
	assert_int_equal(kr_address_normalize(buf, strlen("Bob@Example.ORG"),
					      buf, sizeof(buf), NULL),
			 0);
	assert_string_equal(buf, "bob@example.org");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_table),
		cmocka_unit_test(test_address_length_limit),
		cmocka_unit_test(test_address_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
