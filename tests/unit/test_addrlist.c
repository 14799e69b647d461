/* cmocka tests for storage/addrlist: the in-place reading of address
 * lists as PostgreSQL prints jsonb, and every case it must leave to a
 * JSON library (0) rather than misread. The store's own round trip
 * through PostgreSQL is in test_store and test_jsonrpc.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/arena.h"
#include "storage/addrlist.h"

static int
scan(struct kr_arena *arena, const char *text, const struct kr_store_addr **v_r,
     unsigned *n_r)
{
	struct kr_err err = { 0 };

	return kr_addrlist_scan(text, strlen(text), arena, v_r, n_r, &err);
}

static void
expect_str(const char *got, const char *want)
{
	if (want == NULL)
		assert_null(got);
	else
		assert_string_equal(got, want);
}

/* What PostgreSQL 15 prints for the lists the store writes. */
static void
test_addrlist_postgres_output(void **state)
{
	struct kr_arena *arena = kr_arena_create(1024, 0, false);
	const struct kr_store_addr *v;
	unsigned n;

	(void)state;
	assert_int_equal(
		scan(arena,
		     "[{\"name\": \"Gr\xc3\xbc\xc3\x9f {x}\", "
		     "\"email\": \"a@b.example\"}, {\"email\": "
		     "\"c@d\"}, {}, {\"name\": null, \"email\": \"e\"}]",
		     &v, &n),
		1);
	assert_int_equal(n, 4);
	expect_str(v[0].name, "Gr\xc3\xbc\xc3\x9f {x}");
	expect_str(v[0].email, "a@b.example");
	expect_str(v[1].name, NULL);
	expect_str(v[1].email, "c@d");
	expect_str(v[2].name, NULL);
	expect_str(v[2].email, NULL);
	expect_str(v[3].name, NULL);
	expect_str(v[3].email, "e");
	assert_int_equal(scan(arena, "[]", &v, &n), 1);
	assert_int_equal(n, 0);
	assert_null(v);
	assert_int_equal(scan(arena, " [ {\"email\":\"x\"} ]\n", &v, &n), 1);
	assert_int_equal(n, 1);
	expect_str(v[0].email, "x");
	kr_arena_destroy(&arena);
}

/* Each of these must go to the JSON library: reading them here would
 * either decode escapes by hand or accept what is not JSON. */
static void
test_addrlist_left_to_json(void **state)
{
	static const char *const texts[] = {
		"[{\"name\": \"say \\\"hi\\\"\", \"email\": \"a@b\"}]",
		"[{\"name\": \"\\u00fc\", \"email\": \"a@b\"}]",
		"[{\"email\": \"a@b\", \"extra\": \"x\"}]",
		"[{\"email\": 42}]",
		"[{\"email\": \"a@b\"} {\"email\": \"c@d\"}]",
		"[{\"email\": \"a@b\"}",
		"[{\"email\": \"a@b\"}] x",
		"[{\"email\": \"a@b\",}]",
		"[{\"email\" \"a@b\"}]",
		"[\"a@b\"]",
		"{\"email\": \"a@b\"}",
		"[{\"email\": \"unterminated}]",
		"[] []",
		"",
	};
	struct kr_arena *arena = kr_arena_create(1024, 0, false);

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		const struct kr_store_addr *v = (void *)&arena;
		unsigned n = 99;

		if (scan(arena, texts[i], &v, &n) != 0)
			fail_msg("read in place: %s", texts[i]);
		assert_null(v);
		assert_int_equal(n, 0);
	}
	kr_arena_destroy(&arena);
}

/* A full arena is an error, not a fallback. */
static void
test_addrlist_arena_full(void **state)
{
	struct kr_arena *arena = kr_arena_create(64, 64, false);
	const struct kr_store_addr *v;
	unsigned n;
	struct kr_err err = { 0 };
	char text[512];

	(void)state;
	snprintf(text, sizeof(text), "[{\"name\": \"%0300d\"}]", 0);
	assert_int_equal(
		kr_addrlist_scan(text, strlen(text), arena, &v, &n, &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	kr_arena_destroy(&arena);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addrlist_postgres_output),
		cmocka_unit_test(test_addrlist_left_to_json),
		cmocka_unit_test(test_addrlist_arena_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
