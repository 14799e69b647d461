/* cmocka tests for lib/cidr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "lib/cidr.h"

static void
test_cidr_parse_bad(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0/33", "::1/129",     "10.0.0.1/8", "300.1.1.1",
		"10.0.0.0/",   "10.0.0.0/x",  "host.name",  "none unix",
		"unix none",   "10.0.0.0/-1", "fe80::1/10", "1.2.3.4/0008",
	};
	struct kr_cidr_list l;
	struct kr_err err = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kr_cidr_list_parse(bad[i], &l, &err), -1);
		assert_int_equal(err.kind, KR_ERR_PERMANENT);
	}
}

static void
test_cidr_list_limit(void **state)
{
	char text[KR_CIDR_LIST_MAX * 16 + 32];
	struct kr_cidr_list l;
	size_t len = 0;

	(void)state;
	for (int i = 0; i < KR_CIDR_LIST_MAX; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"10.0.%d.0/24 ", i);
	assert_int_equal(kr_cidr_list_parse(text, &l, NULL), 0);
	assert_int_equal(l.n, KR_CIDR_LIST_MAX);
	snprintf(text + len, sizeof(text) - len, "10.1.0.0/16");
	assert_int_equal(kr_cidr_list_parse(text, &l, NULL), -1);
}

static void
test_cidr_match_text(void **state)
{
	static const struct {
		const char *addr;
		bool want;
	} cases[] = {
		{ "127.0.0.1", true },	 { "127.255.1.2", true },
		{ "128.0.0.1", false },	 { "::1", true },
		{ "::2", false },	 { "::ffff:127.0.0.9", true },
		{ "2001:db8::5", true }, { "2001:db9::5", false },
		{ "192.168.1.7", true }, { "192.168.1.8", false },
		{ "not-an-ip", false },	 { "", false },
	};
	struct kr_cidr_list l;

	(void)state;
	assert_int_equal(kr_cidr_list_parse("127.0.0.0/8, ::1 2001:db8::/32 "
					    "192.168.1.7 unix",
					    &l, NULL),
			 0);
	assert_int_equal(l.n, 4);
	assert_true(l.unix_ok);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(kr_cidr_list_match_text(&l, cases[i].addr),
				 cases[i].want);
}

static void
test_cidr_match_sa(void **state)
{
	struct kr_cidr_list l, none;
	struct sockaddr_in in4 = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	(void)state;
	assert_int_equal(kr_cidr_list_parse("10.0.0.0/8 ::1", &l, NULL), 0);
	assert_int_equal(kr_cidr_list_parse("none", &none, NULL), 0);
	inet_pton(AF_INET, "10.9.8.7", &in4.sin_addr);
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	assert_true(kr_cidr_list_match_sa(&l, (struct sockaddr *)&in4));
	assert_true(kr_cidr_list_match_sa(&l, (struct sockaddr *)&in6));
	assert_false(kr_cidr_list_match_sa(&l, (struct sockaddr *)&un));
	assert_false(kr_cidr_list_match_sa(&l, NULL));
	assert_false(kr_cidr_list_match_sa(&none, (struct sockaddr *)&in4));
	inet_pton(AF_INET6, "::ffff:10.1.1.1", &in6.sin6_addr);
	assert_true(kr_cidr_list_match_sa(&l, (struct sockaddr *)&in6));
	assert_int_equal(kr_cidr_list_parse("unix", &l, NULL), 0);
	assert_true(kr_cidr_list_match_sa(&l, (struct sockaddr *)&un));
}

static void
test_cidr_client_key(void **state)
{
	static const struct {
		const char *addr, *key;
	} cases[] = {
		{ "192.0.2.1", "a:192.0.2.1" },
		{ "::ffff:192.0.2.1", "a:192.0.2.1" },
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "a:2001:db8:1:2::/64" },
		{ "2001:db8:1:2::9", "a:2001:db8:1:2::/64" },
		{ "::1", "a:::/64" },
	};
	char key[KR_CIDR_KEY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = kr_cidr_client_key(cases[i].addr, key);

		assert_int_equal(n, (int)strlen(cases[i].key));
		assert_string_equal(key, cases[i].key);
	}
	assert_int_equal(kr_cidr_client_key("bogus", key), -1);
	assert_int_equal(kr_cidr_client_key("", key), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse_bad),
		cmocka_unit_test(test_cidr_list_limit),
		cmocka_unit_test(test_cidr_match_text),
		cmocka_unit_test(test_cidr_match_sa),
		cmocka_unit_test(test_cidr_client_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
