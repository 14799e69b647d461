/* Admin browser sessions: the cookie, its expiry and forgery, the
 * Origin rule, the token query parameter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "admin/session.h"

#define TOKEN "tttttttttttttttttttttttttttttttttttttttt"
#define NOW 1800000000

/* The "name=value" part of a Set-Cookie value. */
static void
test_pair(const char *set_cookie, char *buf, size_t size)
{
	size_t n = strcspn(set_cookie, ";");

	assert_true(n < size);
	memcpy(buf, set_cookie, n);
	buf[n] = '\0';
}

static void
test_session_cookie_round_trip(void **state)
{
	char set[KR_ADMIN_COOKIE_MAX], pair[KR_ADMIN_COOKIE_MAX];
	char field[2 * KR_ADMIN_COOKIE_MAX];

	(void)state;
	kr_admin_session_cookie(TOKEN, NOW, set, sizeof(set));
	assert_non_null(strstr(set, "; HttpOnly"));
	assert_non_null(strstr(set, "; SameSite=Strict"));
	assert_non_null(strstr(set, "; Path=/"));
	test_pair(set, pair, sizeof(pair));
	assert_true(kr_admin_session_valid(TOKEN, pair, NOW));
	assert_true(kr_admin_session_valid(TOKEN, pair,
					   NOW + KR_ADMIN_SESSION_TTL_S - 1));
	/* Expired; another token; other cookies around it. */
	assert_false(kr_admin_session_valid(TOKEN, pair,
					    NOW + KR_ADMIN_SESSION_TTL_S));
	assert_false(kr_admin_session_valid(TOKEN "x", pair, NOW));
	snprintf(field, sizeof(field), "a=1; %s; b=2", pair);
	assert_true(kr_admin_session_valid(TOKEN, field, NOW));
	assert_false(kr_admin_session_valid(TOKEN, NULL, NOW));
	assert_false(kr_admin_session_valid(TOKEN, "", NOW));
}

/* Changing the expiry or a digit of the MAC breaks it; an expiry far
 * in the future (a forged long session) is refused even with a MAC. */
static void
test_session_forgery(void **state)
{
	char set[KR_ADMIN_COOKIE_MAX], pair[KR_ADMIN_COOKIE_MAX];
	char *dot;

	(void)state;
	kr_admin_session_cookie(TOKEN, NOW, set, sizeof(set));
	test_pair(set, pair, sizeof(pair));
	dot = strchr(pair, '.');
	dot[-1] = dot[-1] == '9' ? '8' : '9';
	assert_false(kr_admin_session_valid(TOKEN, pair, NOW));
	test_pair(set, pair, sizeof(pair));
	pair[strlen(pair) - 1] ^= 1;
	assert_false(kr_admin_session_valid(TOKEN, pair, NOW));
	kr_admin_session_cookie(TOKEN, NOW + 10 * KR_ADMIN_SESSION_TTL_S, set,
				sizeof(set));
	test_pair(set, pair, sizeof(pair));
	assert_false(kr_admin_session_valid(TOKEN, pair, NOW));
	assert_false(kr_admin_session_valid(TOKEN, "kurier_admin=1.ab", NOW));
	assert_false(kr_admin_session_valid(TOKEN, "kurier_admin=", NOW));
	assert_false(kr_admin_session_valid(TOKEN, "kurier_admin", NOW));
}

static void
test_session_origin(void **state)
{
	(void)state;
	assert_true(
		kr_admin_origin_ok("http://127.0.0.1:8081", "127.0.0.1:8081"));
	assert_true(kr_admin_origin_ok("https://mx.example:8081",
				       "mx.example:8081"));
	assert_false(
		kr_admin_origin_ok("http://evil.example", "127.0.0.1:8081"));
	assert_false(kr_admin_origin_ok("http://127.0.0.1:8081.evil",
					"127.0.0.1:8081"));
	assert_false(kr_admin_origin_ok("null", "127.0.0.1:8081"));
	assert_false(kr_admin_origin_ok(NULL, "127.0.0.1:8081"));
	assert_false(kr_admin_origin_ok("http://", ""));
	assert_false(kr_admin_origin_ok("http://a", NULL));
}

static void
test_session_query(void **state)
{
	char buf[16];

	(void)state;
	assert_true(
		kr_admin_query_param("/?token=abc", "token", buf, sizeof(buf)));
	assert_string_equal(buf, "abc");
	assert_true(kr_admin_query_param("/?x=1&token=a%2Bb+c&y", "token", buf,
					 sizeof(buf)));
	assert_string_equal(buf, "a+b c");
	assert_true(
		kr_admin_query_param("/?token=", "token", buf, sizeof(buf)));
	assert_string_equal(buf, "");
	assert_false(kr_admin_query_param("/", "token", buf, sizeof(buf)));
	assert_false(
		kr_admin_query_param("/?tokens=1", "token", buf, sizeof(buf)));
	assert_false(
		kr_admin_query_param("/?token=%4", "token", buf, sizeof(buf)));
	assert_false(
		kr_admin_query_param("/?token=%00", "token", buf, sizeof(buf)));
	assert_false(
		kr_admin_query_param("/?token=%zz", "token", buf, sizeof(buf)));
	/* 15 bytes fit, 16 do not. */
	assert_true(kr_admin_query_param("/?token=123456789012345", "token",
					 buf, sizeof(buf)));
	assert_false(kr_admin_query_param("/?token=1234567890123456", "token",
					  buf, sizeof(buf)));
	assert_true(kr_admin_query_param("/?since=5#frag", "since", buf,
					 sizeof(buf)));
	assert_string_equal(buf, "5");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session_cookie_round_trip),
		cmocka_unit_test(test_session_forgery),
		cmocka_unit_test(test_session_origin),
		cmocka_unit_test(test_session_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
