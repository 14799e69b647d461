/* cmocka tests for storage/pgarray: literal encoding, the binary bytea[]
 * layout and the parser. The round trip through a real server is in
 * test_store. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/arena.h"
#include "lib/err.h"
#include "storage/pgarray.h"

#define BIG 4096

struct encode_case {
	const char *elems[4]; /* up to n_elems; "<NULL>" below means NULL */
	unsigned n;
	const char *want;
};

static const char *const null_mark = "<NULL>";

static void
test_pgarray_encode_table(void **state)
{
	static const struct encode_case cases[] = {
		{ { NULL }, 0, "{}" },
		{ { "a" }, 1, "{\"a\"}" },
		{ { "" }, 1, "{\"\"}" },
		{ { "a", "b" }, 2, "{\"a\",\"b\"}" },
		{ { "say \"hi\"" }, 1, "{\"say \\\"hi\\\"\"}" },
		{ { "\\Seen" }, 1, "{\"\\\\Seen\"}" },
		{ { "a\\\"b" }, 1, "{\"a\\\\\\\"b\"}" },
		{ { "<NULL>" }, 1, "{NULL}" },
		{ { "NULL" }, 1, "{\"NULL\"}" },
		{ { "x", "<NULL>", "" }, 3, "{\"x\",NULL,\"\"}" },
		{ { "{a,b}", " sp " }, 2, "{\"{a,b}\",\" sp \"}" },
		{ { "za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87", "\xf0\x9f\x93\xa7" },
		  2,
		  "{\"za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87\","
		  "\"\xf0\x9f\x93\xa7\"}" },
		{ { "tab\there", "nl\nx" }, 2, "{\"tab\there\",\"nl\nx\"}" },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct kr_pgarray a;
		struct kr_err err;

		kr_pgarray_init(&a, BIG);
		for (unsigned i = 0; i < cases[c].n; i++) {
			const char *e = cases[c].elems[i];

			assert_int_equal(
				kr_pgarray_add_str(
					&a,
					strcmp(e, null_mark) == 0 ? NULL : e,
					&err),
				0);
		}
		assert_string_equal(kr_pgarray_text(&a), cases[c].want);
		assert_int_equal(a.n, cases[c].n);
		kr_pgarray_deinit(&a);
	}
}

static void
test_pgarray_encode_numbers(void **state)
{
	struct kr_pgarray a;

	(void)state;
	kr_pgarray_init(&a, BIG);
	assert_int_equal(kr_pgarray_add_int(&a, 0, NULL), 0);
	assert_int_equal(kr_pgarray_add_int(&a, INT64_MIN, NULL), 0);
	assert_int_equal(kr_pgarray_add_bool(&a, true, NULL), 0);
	assert_int_equal(kr_pgarray_add_bool(&a, false, NULL), 0);
	assert_string_equal(kr_pgarray_text(&a),
			    "{\"0\",\"-9223372036854775808\",\"t\",\"f\"}");
	kr_pgarray_deinit(&a);
}

/* Embedded bytes go through as they are, length-delimited. */
static void
test_pgarray_encode_length(void **state)
{
	struct kr_pgarray a;

	(void)state;
	kr_pgarray_init(&a, BIG);
	assert_int_equal(kr_pgarray_add(&a, "abcdef", 3, NULL), 0);
	assert_string_equal(kr_pgarray_text(&a), "{\"abc\"}");
	kr_pgarray_deinit(&a);
}

/* {"ab"} plus NUL is 7 bytes; escapes count toward the limit. */
static void
test_pgarray_encode_limit(void **state)
{
	struct kr_pgarray a;
	struct kr_err err;

	(void)state;
	kr_pgarray_init(&a, 7);
	assert_int_equal(kr_pgarray_add_str(&a, "ab", &err), 0);
	assert_string_equal(kr_pgarray_text(&a), "{\"ab\"}");
	kr_pgarray_deinit(&a);

	kr_pgarray_init(&a, 6);
	assert_int_equal(kr_pgarray_add_str(&a, "ab", &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	assert_string_equal(kr_pgarray_text(&a), "{}");
	assert_int_equal(a.n, 0);
	/* A NULL takes 4 bytes: {NULL} is 7 with the NUL. */
	assert_int_equal(kr_pgarray_add_str(&a, NULL, &err), -1);
	kr_pgarray_deinit(&a);

	kr_pgarray_init(&a, 7);
	assert_int_equal(kr_pgarray_add_str(&a, NULL, &err), 0);
	assert_int_equal(kr_pgarray_add_str(&a, "", &err), -1);
	assert_string_equal(kr_pgarray_text(&a), "{NULL}");
	kr_pgarray_deinit(&a);

	/* a" escapes to {"a\""}: 7 bytes + NUL. */
	kr_pgarray_init(&a, 8);
	assert_int_equal(kr_pgarray_add_str(&a, "a\"", &err), 0);
	assert_string_equal(kr_pgarray_text(&a), "{\"a\\\"\"}");
	kr_pgarray_deinit(&a);
	kr_pgarray_init(&a, 7);
	assert_int_equal(kr_pgarray_add_str(&a, "a\"", &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	kr_pgarray_deinit(&a);
}

static uint32_t
get32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return ntohl(v);
}

static void
test_pgarray_bin_layout(void **state)
{
	struct kr_pgarray_bin b;
	const char *d;
	int len;

	(void)state;
	kr_pgarray_bin_init(&b, BIG);
	assert_int_equal(kr_pgarray_bin_add(&b, "pre:", 4, "body", 4, NULL), 0);
	assert_int_equal(kr_pgarray_bin_add(&b, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(kr_pgarray_bin_add(&b, "\0\xff", 2, NULL, 0, NULL), 0);
	d = kr_pgarray_bin_data(&b, &len);
	assert_int_equal(len, 20 + 4 + 8 + 4 + 0 + 4 + 2);
	assert_int_equal(get32(d), 1);	    /* ndim */
	assert_int_equal(get32(d + 4), 0);  /* has nulls */
	assert_int_equal(get32(d + 8), 17); /* bytea */
	assert_int_equal(get32(d + 12), 3); /* elements */
	assert_int_equal(get32(d + 16), 1); /* lower bound */
	assert_int_equal(get32(d + 20), 8);
	assert_memory_equal(d + 24, "pre:body", 8);
	assert_int_equal(get32(d + 32), 0);
	assert_int_equal(get32(d + 36), 2);
	assert_memory_equal(d + 40, "\0\xff", 2);
	kr_pgarray_bin_deinit(&b);
}

static void
test_pgarray_bin_empty(void **state)
{
	struct kr_pgarray_bin b;
	const char *d;
	int len;

	(void)state;
	kr_pgarray_bin_init(&b, BIG);
	d = kr_pgarray_bin_data(&b, &len);
	assert_int_equal(len, 12);
	assert_int_equal(get32(d), 0);
	assert_int_equal(get32(d + 8), 17);
	kr_pgarray_bin_deinit(&b);
}

/* int4, int8 and bool elements: big-endian 4 or 8 bytes, one byte; the element
 * type is in the header. */
static void
test_pgarray_bin_typed(void **state)
{
	struct kr_pgarray_bin b;
	const char *d;
	int len;

	(void)state;
	kr_pgarray_bin_init_type(&b, BIG, KR_PGARRAY_OID_INT4);
	assert_int_equal(kr_pgarray_bin_add_int4(&b, -2, NULL), 0);
	assert_int_equal(kr_pgarray_bin_add_int4(&b, 0x01020304, NULL), 0);
	d = kr_pgarray_bin_data(&b, &len);
	assert_int_equal(len, 20 + 2 * (4 + 4));
	assert_int_equal(get32(d + 8), 23);
	assert_int_equal(get32(d + 12), 2);
	assert_int_equal(get32(d + 20), 4);
	assert_int_equal(get32(d + 24), 0xfffffffeu);
	assert_int_equal(get32(d + 32), 0x01020304u);
	kr_pgarray_bin_deinit(&b);
	kr_pgarray_bin_init_type(&b, BIG, KR_PGARRAY_OID_INT8);
	assert_int_equal(kr_pgarray_bin_add_int8(&b, -2, NULL), 0);
	assert_int_equal(kr_pgarray_bin_add_int8(&b, 0x0102030405060708, NULL),
			 0);
	d = kr_pgarray_bin_data(&b, &len);
	assert_int_equal(len, 20 + 2 * (4 + 8));
	assert_int_equal(get32(d + 8), 20);
	assert_int_equal(get32(d + 20), 8);
	assert_int_equal(get32(d + 24), 0xffffffffu);
	assert_int_equal(get32(d + 28), 0xfffffffeu);
	assert_int_equal(get32(d + 36), 0x01020304u);
	assert_int_equal(get32(d + 40), 0x05060708u);
	kr_pgarray_bin_deinit(&b);
	kr_pgarray_bin_init_type(&b, BIG, KR_PGARRAY_OID_BOOL);
	assert_int_equal(kr_pgarray_bin_add_bool(&b, true, NULL), 0);
	assert_int_equal(kr_pgarray_bin_add_bool(&b, false, NULL), 0);
	d = kr_pgarray_bin_data(&b, &len);
	assert_int_equal(len, 20 + 2 * (4 + 1));
	assert_int_equal(get32(d + 8), 16);
	assert_int_equal(get32(d + 20), 1);
	assert_int_equal((unsigned char)d[24], 1);
	assert_int_equal((unsigned char)d[29], 0);
	kr_pgarray_bin_deinit(&b);
}

/* Header 20 + length 4 + 6 bytes = 30. */
static void
test_pgarray_bin_limit(void **state)
{
	struct kr_pgarray_bin b;
	struct kr_err err;
	int len;

	(void)state;
	kr_pgarray_bin_init(&b, 30);
	assert_int_equal(kr_pgarray_bin_add(&b, "abc", 3, "def", 3, &err), 0);
	(void)kr_pgarray_bin_data(&b, &len);
	assert_int_equal(len, 30);
	kr_pgarray_bin_deinit(&b);

	kr_pgarray_bin_init(&b, 29);
	assert_int_equal(kr_pgarray_bin_add(&b, "abc", 3, "def", 3, &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	assert_int_equal(b.n, 0);
	assert_int_equal(kr_pgarray_bin_add(&b, "abc", 3, "de", 2, &err), 0);
	kr_pgarray_bin_deinit(&b);
}

struct parse_case {
	const char *lit;
	int rc;
	unsigned n;
	const char *elems[4]; /* "<NULL>" for NULL */
};

static void
test_pgarray_parse_table(void **state)
{
	static const struct parse_case cases[] = {
		{ "{}", 0, 0, { NULL } },
		{ " { } ", 0, 0, { NULL } },
		{ "{a}", 0, 1, { "a" } },
		{ "{a,b,c}", 0, 3, { "a", "b", "c" } },
		{ "{\"\\\\Seen\",foo}", 0, 2, { "\\Seen", "foo" } },
		{ "{\"a\\\"b\",\"\"}", 0, 2, { "a\"b", "" } },
		{ "{NULL,null,\"NULL\"}",
		  0,
		  3,
		  { "<NULL>", "<NULL>", "NULL" } },
		{ "{ a , \"b c\" }", 0, 2, { "a", "b c" } },
		{ "{a\\,b}", 0, 1, { "a,b" } },
		{ "{\"x,y\",\"{z}\"}", 0, 2, { "x,y", "{z}" } },
		{ "{\xc5\xbc\xc3\xb3\xc5\x82w}",
		  0,
		  1,
		  { "\xc5\xbc\xc3\xb3\xc5\x82w" } },
		{ "", -1, 0, { NULL } },
		{ "{", -1, 0, { NULL } },
		{ "{a", -1, 0, { NULL } },
		{ "{a,}", -1, 0, { NULL } },
		{ "{,a}", -1, 0, { NULL } },
		{ "{\"a}", -1, 0, { NULL } },
		{ "{\"a\"b}", -1, 0, { NULL } },
		{ "{{a},{b}}", -1, 0, { NULL } },
		{ "[0:1]={a,b}", -1, 0, { NULL } },
		{ "{a} x", -1, 0, { NULL } },
		{ "{a\\}", -1, 0, { NULL } },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct kr_arena *arena = kr_arena_create(1024, 0, false);
		const char **v = NULL;
		unsigned n = 99;
		struct kr_err err;
		int rc =
			kr_pgarray_parse(cases[c].lit, arena, 16, &v, &n, &err);

		assert_int_equal(rc, cases[c].rc);
		if (rc == 0) {
			assert_int_equal(n, cases[c].n);
			for (unsigned i = 0; i < n; i++) {
				const char *e = cases[c].elems[i];

				if (strcmp(e, null_mark) == 0)
					assert_null(v[i]);
				else
					assert_string_equal(v[i], e);
			}
		} else {
			assert_int_equal(err.kind, KR_ERR_INTERNAL);
		}
		kr_arena_destroy(&arena);
	}
}

static void
test_pgarray_parse_limit(void **state)
{
	struct kr_arena *arena = kr_arena_create(1024, 0, false);
	const char **v;
	unsigned n;
	struct kr_err err;

	(void)state;
	assert_int_equal(kr_pgarray_parse("{a,b,c}", arena, 3, &v, &n, &err),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(kr_pgarray_parse("{a,b,c}", arena, 2, &v, &n, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_INTERNAL);
	kr_arena_destroy(&arena);

	/* The arena's own cap is a limit error. */
	arena = kr_arena_create(256, 64, false);
	assert_int_equal(
		kr_pgarray_parse("{aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}",
				 arena, 3, &v, &n, &err),
		-1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	kr_arena_destroy(&arena);
}

/* Whatever the builder writes, the parser reads back. */
static void
test_pgarray_round_trip(void **state)
{
	static const char *const elems[] = {
		"",	   "\\", "\"", "\\\"", "a b",	       " lead",
		"trail ",  ",",	 "{}", "NULL", "\xe2\x82\xac", "\\Seen",
		"$Label1",
	};
	const size_t n_elems = sizeof(elems) / sizeof(elems[0]);
	struct kr_arena *arena = kr_arena_create(1024, 0, false);
	struct kr_pgarray a;
	const char **v;
	unsigned n;

	(void)state;
	kr_pgarray_init(&a, BIG);
	for (size_t i = 0; i < n_elems; i++)
		assert_int_equal(kr_pgarray_add_str(&a, elems[i], NULL), 0);
	assert_int_equal(kr_pgarray_add_str(&a, NULL, NULL), 0);
	assert_int_equal(
		kr_pgarray_parse(kr_pgarray_text(&a), arena, 100, &v, &n, NULL),
		0);
	assert_int_equal(n, n_elems + 1);
	for (size_t i = 0; i < n_elems; i++)
		assert_string_equal(v[i], elems[i]);
	assert_null(v[n_elems]);
	kr_pgarray_deinit(&a);
	kr_arena_destroy(&arena);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pgarray_encode_table),
		cmocka_unit_test(test_pgarray_bin_typed),
		cmocka_unit_test(test_pgarray_encode_numbers),
		cmocka_unit_test(test_pgarray_encode_length),
		cmocka_unit_test(test_pgarray_encode_limit),
		cmocka_unit_test(test_pgarray_bin_layout),
		cmocka_unit_test(test_pgarray_bin_empty),
		cmocka_unit_test(test_pgarray_bin_limit),
		cmocka_unit_test(test_pgarray_parse_table),
		cmocka_unit_test(test_pgarray_parse_limit),
		cmocka_unit_test(test_pgarray_round_trip),
	};

	return cmocka_run_group_tests_name("pgarray", tests, NULL, NULL);
}
