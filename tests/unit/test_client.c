/* cmocka tests for server/auth/client.h: the right-most X-Forwarded-For
 * entry in every spelling a proxy uses, what a client_ip may be, and
 * which address a login counts against for trusted and other peers.
 * Table-driven; no loop, no store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "server/auth/client.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *xff, *want; /* want "" : names nobody */
} forwarded_cases[] = {
	{ "198.51.100.7", "198.51.100.7" },
	{ "198.51.100.9, 198.51.100.7", "198.51.100.7" },
	{ "198.51.100.7,203.0.113.5", "203.0.113.5" },
	{ "[2001:db8:5::1]:443", "2001:db8:5::1" },
	{ "[2001:db8:5::1]", "2001:db8:5::1" },
	{ "2001:db8:5::1", "2001:db8:5::1" },
	{ "198.51.100.20:5555", "198.51.100.20" },
	{ "198.51.100.20:65535", "198.51.100.20" },
	{ "198.51.100.7,\t 2001:db8:6::1 ", "2001:db8:6::1" },
	{ "::ffff:198.51.100.7", "::ffff:198.51.100.7" },
	{ "unknown", "" },
	{ "198.51.100.7, ", "" },
	{ "", "" },
	{ " ", "" },
	{ "198.51.100.7:99999", "" },
	{ "198.51.100.7:", "" },
	{ "198.51.100.7:123456", "" },
	{ "198.51.100.7:8a", "" },
	{ "[2001:db8:5::1", "" },
	{ "[2001:db8:5::1]x", "" },
	{ "[2001:db8:5::1]:", "" },
	{ "198.51.100.7 198.51.100.8", "" },
	{ "198.51.100.7/24", "" },
	{ "_hidden", "" },
	/* Longer than any address, and bracketed junk of that length. */
	{ "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa", "" },
	{ "[1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa]:1", "" },
};

static void
test_client_forwarded(void **state)
{
	unsigned wrong = 0;

	(void)state;
	for (size_t i = 0; i < N_OF(forwarded_cases); i++) {
		char out[KR_CLIENT_ADDR_MAX];

		memset(out, 'x', sizeof(out));
		kr_client_forwarded(forwarded_cases[i].xff, out);
		if (strcmp(out, forwarded_cases[i].want) != 0) {
			print_error("[%s]: got [%s], want [%s]\n",
				    forwarded_cases[i].xff, out,
				    forwarded_cases[i].want);
			wrong++;
		}
	}
	assert_int_equal(wrong, 0);
}

static void
test_client_forwarded_none(void **state)
{
	char out[KR_CLIENT_ADDR_MAX] = "stale";

	(void)state;
	kr_client_forwarded(NULL, out);
	assert_string_equal(out, "");
}

/* What a client_ip may be: an address, no port, no brackets, no
 * prefix; the longest IPv6 text (45 characters) fits. */
static void
test_client_addr_ok(void **state)
{
	static const char *const good[] = {
		"198.51.100.7",
		"2001:db8::1",
		"::1",
		"::ffff:198.51.100.7",
		"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	};
	static const char *const bad[] = {
		"nonsense",   "198.51.100.7/24", "",	     "[::1]",
		"1.2.3.4:80", " 1.2.3.4",	 "1.2.3.4 ", "256.1.1.1",
	};

	(void)state;
	assert_int_equal(strlen(good[N_OF(good) - 1]), KR_CLIENT_ADDR_MAX - 1);
	for (size_t i = 0; i < N_OF(good); i++)
		if (!kr_client_addr_ok(good[i]))
			fail_msg("refused %s", good[i]);
	for (size_t i = 0; i < N_OF(bad); i++)
		if (kr_client_addr_ok(bad[i]))
			fail_msg("took %s", bad[i]);
}

static const struct {
	const char *what, *peer, *client_ip, *forwarded;
	enum kr_client_source source;
	const char *addr, *key_of; /* key_of: whose key; NULL: none */
} choose_cases[] = {
	{ "trusted, client_ip", "127.0.0.1", "198.51.100.7", "203.0.113.5",
	  KR_CLIENT_PARAM, "198.51.100.7", "198.51.100.7" },
	{ "trusted, header", "127.0.0.1", NULL, "203.0.113.5", KR_CLIENT_HEADER,
	  "203.0.113.5", "203.0.113.5" },
	{ "trusted, nothing named", "::1", NULL, "", KR_CLIENT_NONE, "", NULL },
	{ "trusted, IPv6 client by its /64", "127.0.0.1",
	  "2001:db8:1:2:ffff::3", "", KR_CLIENT_PARAM, "2001:db8:1:2:ffff::3",
	  "2001:db8:1:2::1" },
	{ "untrusted: claims ignored", "192.0.2.9", "198.51.100.7",
	  "203.0.113.5", KR_CLIENT_PEER, "192.0.2.9", "192.0.2.9" },
	{ "untrusted, nothing named", "192.0.2.9", NULL, "", KR_CLIENT_PEER,
	  "192.0.2.9", "192.0.2.9" },
	{ "untrusted IPv6 peer", "2001:db8:9::1", NULL, "", KR_CLIENT_PEER,
	  "2001:db8:9::1", "2001:db8:9::2" },
};

static void
test_client_choose(void **state)
{
	struct kr_cidr_list trusted;
	struct kr_err err;

	(void)state;
	assert_int_equal(kr_cidr_list_parse("127.0.0.0/8 ::1", &trusted, &err),
			 0);
	for (size_t i = 0; i < N_OF(choose_cases); i++) {
		struct kr_client c;
		char key[KR_CIDR_KEY_MAX] = "";

		kr_client_choose(&trusted, choose_cases[i].peer,
				 choose_cases[i].client_ip,
				 choose_cases[i].forwarded, &c);
		if (choose_cases[i].key_of != NULL)
			assert_true(kr_cidr_client_key(choose_cases[i].key_of,
						       key) > 0);
		if (c.source != choose_cases[i].source ||
		    strcmp(c.addr, choose_cases[i].addr) != 0 ||
		    strcmp(c.key, key) != 0)
			fail_msg("%s: %s %s [%s], want %s %s [%s]",
				 choose_cases[i].what,
				 kr_client_source_name(c.source), c.addr, c.key,
				 kr_client_source_name(choose_cases[i].source),
				 choose_cases[i].addr, key);
	}
}

/* A peer we cannot key (not an address) still counts, in one shared
 * bucket. */
static void
test_client_unkeyed_peer(void **state)
{
	struct kr_cidr_list none;
	struct kr_client c;
	struct kr_err err;

	(void)state;
	assert_int_equal(kr_cidr_list_parse("none", &none, &err), 0);
	kr_client_choose(&none, "unix:/run/x", NULL, "", &c);
	assert_int_equal(c.source, KR_CLIENT_PEER);
	assert_string_equal(c.key, "a:?");
	assert_string_equal(kr_client_source_name(KR_CLIENT_NONE), "none");
	assert_string_equal(kr_client_source_name(KR_CLIENT_PARAM),
			    "client_ip");
	assert_string_equal(kr_client_source_name(KR_CLIENT_HEADER),
			    "forwarded");
	assert_string_equal(kr_client_source_name(KR_CLIENT_PEER), "peer");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_forwarded),
		cmocka_unit_test(test_client_forwarded_none),
		cmocka_unit_test(test_client_addr_ok),
		cmocka_unit_test(test_client_choose),
		cmocka_unit_test(test_client_unkeyed_peer),
	};

	return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
