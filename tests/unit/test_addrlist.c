/* cmocka tests for storage/addrlist: the in-place reading of address
 * lists as PostgreSQL prints jsonb, their pass-through as the API's JSON
 * text, and every case each must leave to a JSON library (0) rather
 * than misread. The store's own round trip through PostgreSQL is in
 * test_store and test_jsonrpc.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>

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

/* Not the list PostgreSQL prints for what the store wrote: neither the
 * scan nor the pass-through may take these. */
static const char *const not_lists[] = {
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
#define N_NOT_LISTS (sizeof(not_lists) / sizeof(not_lists[0]))

/* Each of these must go to the JSON library: reading them here would
 * either decode escapes by hand or accept what is not JSON. */
static void
test_addrlist_left_to_json(void **state)
{
	static const char *const escapes[] = {
		"[{\"name\": \"say \\\"hi\\\"\", \"email\": \"a@b\"}]",
		"[{\"name\": \"\\u00fc\", \"email\": \"a@b\"}]",
	};
	struct kr_arena *arena = kr_arena_create(1024, 0, false);

	(void)state;
	for (size_t i = 0; i < 2 + N_NOT_LISTS; i++) {
		const char *text = i < 2 ? escapes[i] : not_lists[i - 2];
		const struct kr_store_addr *v = (void *)&arena;
		unsigned n = 99;

		if (scan(arena, text, &v, &n) != 0)
			fail_msg("read in place: %s", text);
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

/* ---- the API's JSON text ------------------------------------------ */

static int
json_of(struct kr_arena *arena, const char *text, const char **json_r)
{
	struct kr_err err = { 0 };
	size_t len = 0;
	int rc =
		kr_addrlist_json(text, strlen(text), arena, json_r, &len, &err);

	if (rc == 1)
		assert_int_equal(len, strlen(*json_r));
	return rc;
}

/* The list in text decoded by jansson, each address as {name, email}
 * with null for a missing member. */
static json_t *
decoded(const char *text)
{
	json_t *in = json_loads(text, 0, NULL), *out = json_array(), *a;
	size_t i;

	assert_non_null(in);
	json_array_foreach(in, i, a)
	{
		json_t *name = json_object_get(a, "name");
		json_t *email = json_object_get(a, "email");

		json_array_append_new(
			out,
			json_pack("{sO sO}", "name",
				  name != NULL ? name : json_null(), "email",
				  email != NULL ? email : json_null()));
	}
	json_decref(in);
	return out;
}

/* What PostgreSQL prints, and what decoding it and writing each address
 * as {"name","email"} (null when missing) with the API's escapes gives:
 * the same bytes. */
static void
test_addrlist_json_postgres_output(void **state)
{
	static const struct {
		const char *pg, *api;
	} cases[] = {
		{ "[]", "[]" },
		{ " [ ]\n", "[]" },
		{ "[{\"name\": \"Gr\xc3\xbc\xc3\x9f {x}\", \"email\": "
		  "\"a@b.example\"}, {\"email\": \"c@d\"}, {}, "
		  "{\"name\": null, \"email\": \"e\"}]",
		  "[{\"name\":\"Gr\xc3\xbc\xc3\x9f {x}\",\"email\":"
		  "\"a@b.example\"},{\"name\":null,\"email\":\"c@d\"},"
		  "{\"name\":null,\"email\":null},{\"name\":null,"
		  "\"email\":\"e\"}]" },
		/* Escapes pass as PostgreSQL made them. */
		{ "[{\"name\": \"say \\\"hi\\\" \\\\ \\b\\f\\n\\r\\t "
		  "\\u0001\\u001f\\u000b\", \"email\": \"a@b\"}]",
		  "[{\"name\":\"say \\\"hi\\\" \\\\ \\b\\f\\n\\r\\t "
		  "\\u0001\\u001f\\u000b\",\"email\":\"a@b\"}]" },
		{ "[{\"email\": \"x\", \"name\": \"n\"}]",
		  "[{\"name\":\"n\",\"email\":\"x\"}]" },
		{ "[{\"name\": \"\x7f/\"}]",
		  "[{\"name\":\"\x7f/\",\"email\":null}]" },
	};
	struct kr_arena *arena = kr_arena_create(1024, 0, false);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = NULL;

		if (json_of(arena, cases[i].pg, &got) != 1)
			fail_msg("not passed through: %s", cases[i].pg);
		assert_string_equal(got, cases[i].api);
		{
			json_t *want = decoded(cases[i].pg);
			json_t *out = json_loads(got, 0, NULL);

			assert_non_null(out);
			assert_true(json_equal(out, want));
			json_decref(out);
			json_decref(want);
		}
	}
	kr_arena_destroy(&arena);
}

/* Anything PostgreSQL would not print for a list the store wrote, or
 * an escape whose bytes differ from what the API's writer makes of the
 * decoded text, goes to the JSON library. */
static void
test_addrlist_json_left_to_json(void **state)
{
	static const char *const escapes[] = {
		"[{\"name\": \"\\u00fc\", \"email\": \"a@b\"}]",
		"[{\"name\": \"\\u000a\"}]",
		"[{\"name\": \"\\u0000\"}]",
		"[{\"name\": \"\\u001F\"}]",
		"[{\"name\": \"\\/\"}]",
		"[{\"name\": \"\\x\"}]",
		"[{\"name\": \"\\u00\"}]",
		"[{\"name\": \"tab\there\"}]",
		"[{\"email\": \"a\\\"}]",
	};
	size_t n_escapes = sizeof(escapes) / sizeof(escapes[0]);
	struct kr_arena *arena = kr_arena_create(1024, 0, false);

	(void)state;
	for (size_t i = 0; i < n_escapes + N_NOT_LISTS; i++) {
		const char *text =
			i < n_escapes ? escapes[i] : not_lists[i - n_escapes];
		const char *got = "x";

		if (json_of(arena, text, &got) != 0)
			fail_msg("passed through: %s", text);
		assert_null(got);
	}
	kr_arena_destroy(&arena);
}

static void
test_addrlist_json_arena_full(void **state)
{
	struct kr_arena *arena = kr_arena_create(64, 64, false);
	const char *json;
	size_t len;
	struct kr_err err = { 0 };
	char text[512];

	(void)state;
	snprintf(text, sizeof(text), "[{\"name\": \"%0300d\"}]", 0);
	assert_int_equal(
		kr_addrlist_json(text, strlen(text), arena, &json, &len, &err),
		-1);
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
		cmocka_unit_test(test_addrlist_json_postgres_output),
		cmocka_unit_test(test_addrlist_json_left_to_json),
		cmocka_unit_test(test_addrlist_json_arena_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
