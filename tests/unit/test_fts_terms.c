/* cmocka tests for proto/fts_terms: the split (letters and digits, any
 * script), lower-casing beyond ASCII, each term once in first-seen
 * order, invalid UTF-8 as a separator, the term and output bounds, and
 * the arena's cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "lib/arena.h"
#include "proto/fts_terms.h"

static struct kr_arena *arena;

static int
setup(void **state)
{
	(void)state;
	arena = kr_arena_create(4096, 0, false);
	return arena == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	kr_arena_destroy(&arena);
	return 0;
}

static void
expect_terms(const char *text, size_t max, const char *want)
{
	struct kr_err err = { 0 };
	size_t len = 99;
	const char *got =
		kr_fts_terms(arena, text, strlen(text), max, &len, &err);

	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
}

static void
test_fts_terms_split(void **state)
{
	(void)state;
	expect_terms("Hello, World! hello again", 1000, "hello world again");
	expect_terms("john.doe@Example.COM wrote: re-sent v1.2 (don't)", 1000,
		     "john doe example com wrote re sent v1 2 don t");
	expect_terms("snake_case tab\tnew\r\nline", 1000,
		     "snake case tab new line");
	expect_terms("", 1000, "");
	expect_terms("  ,;  ", 1000, "");
	expect_terms("a1b2 123 4.5e6", 1000, "a1b2 123 4 5e6");
}

static void
test_fts_terms_unicode(void **state)
{
	(void)state;
	/* Lower-cased beyond ASCII; other scripts are letters too. */
	expect_terms("GRÜSSE aus KÖLN, Grüsse", 1000, "grüsse aus köln");
	expect_terms("ΑΘΗΝΑ Москва 東京タワー", 1000,
		     "αθηνα москва 東京タワー");
	/* Punctuation outside ASCII separates: « » — … */
	expect_terms("«quoted»—dash…end", 1000, "quoted dash end");
	/* Invalid UTF-8 and a cut sequence separate terms. */
	expect_terms("ab\xff"
		     "cd\xc3",
		     1000, "ab cd");
	expect_terms("x\xe2\x82", 1000, "x");
}

static void
test_fts_terms_bounds(void **state)
{
	char longw[KR_FTS_TERM_MAX + 2], text[2 * sizeof(longw) + 16];

	(void)state;
	/* A term of exactly the maximum is kept, one byte more is not. */
	memset(longw, 'a', KR_FTS_TERM_MAX);
	longw[KR_FTS_TERM_MAX] = '\0';
	snprintf(text, sizeof(text), "x %s y", longw);
	{
		char want[sizeof(text)];

		snprintf(want, sizeof(want), "x %s y", longw);
		expect_terms(text, 1000, want);
	}
	memset(longw, 'b', KR_FTS_TERM_MAX + 1);
	longw[KR_FTS_TERM_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "x %s y", longw);
	expect_terms(text, 1000, "x y");
	/* The output bound: whole terms only, later short ones still go. */
	expect_terms("alpha beta gamma pi", 10, "alpha beta");
	expect_terms("alpha beta gamma pi", 13, "alpha beta pi");
	expect_terms("alpha", 0, "");
}

/* Many distinct terms: the set grows, every term once. */
static void
test_fts_terms_many(void **state)
{
	enum {
		N = 5000
	};
	static char text[N * 16], want[N * 8];
	size_t tl = 0, wl = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		tl += (size_t)snprintf(text + tl, sizeof(text) - tl, "W%d w%d ",
				       i, i);
		wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "%sw%d",
				       i > 0 ? " " : "", i);
	}
	expect_terms(text, sizeof(want), want);
}

/* Every ASCII byte is split and lower-cased as GLib would (the code
 * answers ASCII without it). */
static void
test_fts_terms_ascii_as_glib(void **state)
{
	(void)state;
	for (unsigned b = 1; b < 0x80; b++) {
		char text[4] = { 'x', (char)b, 'y', '\0' };
		char want[8];

		if (g_unichar_isalnum(b))
			snprintf(want, sizeof(want), "x%cy",
				 (char)g_unichar_tolower(b));
		else
			snprintf(want, sizeof(want), "x y");
		expect_terms(text, 1000, want);
	}
}

static void
test_fts_terms_arena_full(void **state)
{
	struct kr_arena *small = kr_arena_create(256, 512, false);
	struct kr_err err = { 0 };

	(void)state;
	assert_null(kr_fts_terms(small, "a b c", 5, 4096, NULL, &err));
	assert_int_not_equal(err.kind, KR_ERR_NONE);
	kr_arena_destroy(&small);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fts_terms_split),
		cmocka_unit_test(test_fts_terms_unicode),
		cmocka_unit_test(test_fts_terms_bounds),
		cmocka_unit_test(test_fts_terms_many),
		cmocka_unit_test(test_fts_terms_ascii_as_glib),
		cmocka_unit_test(test_fts_terms_arena_full),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
