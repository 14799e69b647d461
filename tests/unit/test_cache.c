/* cmocka tests for server/cache: keys per user that fail soft, the
 * user's generation read before the store is asked (a write racing
 * with the read leaves the entry stale), the TTL, the deltas the
 * metrics get. The LRU underneath is lib/lru (test_lru.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/genmap.h"
#include "server/cache/cache.h"

#define USER_A 0x1234u
#define USER_B 0x5678u

struct env {
	struct kr_genmap *gens;
	struct kr_cache *c;
};

static int
setup(void **state)
{
	static struct env e;
	struct kr_err err;

	e.gens = kr_genmap_create(KR_GENMAP_SLOTS_MIN, &err);
	assert_non_null(e.gens);
	e.c = kr_cache_create(1u << 20, e.gens);
	*state = &e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	kr_cache_destroy(&e->c);
	assert_null(e->c);
	kr_cache_destroy(&e->c);
	kr_genmap_destroy(&e->gens);
	return 0;
}

static size_t
key_of(char *key, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = kr_cache_key_format(key, size, UINT64_MAX, fmt, ap);
	va_end(ap);
	return n;
}

/* A key that does not fit is no key (not cached), never an abort
 * (issue 13: message.attachment's part went into the key). */
static void
test_cache_key_fail_soft(void **state)
{
	char key[KR_CACHE_KEY_MAX], part[KR_CACHE_KEY_MAX + 1];
	size_t head = strlen("ffffffffffffffff:");

	(void)state;
	/* The attack, with the old 96-byte key. */
	memset(part, '1', 64);
	part[64] = '\0';
	assert_int_equal(key_of(key, 96, "A:%lld:%lld:%s", (long long)INT64_MAX,
				(long long)INT64_MAX, part),
			 0);
	assert_true(key_of(key, sizeof(key), "A:%lld:%lld:%s",
			   (long long)INT64_MAX, (long long)INT64_MAX,
			   part) > 96);
	/* At the limit (its NUL included) fits; one more byte does not. */
	memset(part, 'p', sizeof(part));
	part[KR_CACHE_KEY_MAX - 1 - head] = '\0';
	assert_int_equal(key_of(key, sizeof(key), "%s", part),
			 KR_CACHE_KEY_MAX - 1);
	assert_int_equal(strlen(key), KR_CACHE_KEY_MAX - 1);
	part[KR_CACHE_KEY_MAX - 1 - head] = 'p';
	part[KR_CACHE_KEY_MAX - head] = '\0';
	assert_int_equal(key_of(key, sizeof(key), "%s", part), 0);
}

/* Looks name up for user; on a miss stores val under the key the
 * look-up filled (as the dispatcher does). The hit's value, or NULL. */
static const char *
get_or_put(struct kr_cache *c, uint64_t user, int64_t ttl_ms, const char *name,
	   const char *val)
{
	struct kr_cache_key key;
	const char *got;
	size_t len;

	if (kr_cache_lookup(c, &key, user, ttl_ms, &got, &len, "L:%s", name)) {
		assert_int_equal(strlen(got), len);
		return got;
	}
	assert_null(got);
	assert_int_equal(len, 0);
	if (val != NULL)
		kr_cache_put(c, &key, val, strlen(val));
	return NULL;
}

/* Every key starts with its user's: the same name for two users is two
 * entries. */
static void
test_cache_per_user(void **state)
{
	struct env *e = *state;
	struct kr_cache_key key;
	const char *val;
	size_t len;

	assert_null(get_or_put(e->c, USER_A, 0, "inbox", "[1]"));
	assert_null(get_or_put(e->c, USER_B, 0, "inbox", "[2]"));
	assert_string_equal(get_or_put(e->c, USER_A, 0, "inbox", NULL), "[1]");
	assert_string_equal(get_or_put(e->c, USER_B, 0, "inbox", NULL), "[2]");
	assert_true(kr_cache_lookup(e->c, &key, USER_A, 0, &val, &len, "L:%s",
				    "inbox"));
	assert_string_equal(key.text, "1234:L:inbox");
	assert_int_equal(key.len, strlen("1234:L:inbox"));
	assert_int_equal(key.user, USER_A);
}

/* A bump of the user's generation (a write on any worker) makes every
 * entry of that user stale, and only that user's. */
static void
test_cache_generation(void **state)
{
	struct env *e = *state;

	assert_null(get_or_put(e->c, USER_A, 0, "gen", "old"));
	assert_null(get_or_put(e->c, USER_B, 0, "gen", "b"));
	kr_genmap_bump(e->gens, USER_A);
	assert_null(get_or_put(e->c, USER_A, 0, "gen", "new"));
	assert_string_equal(get_or_put(e->c, USER_A, 0, "gen", NULL), "new");
	assert_string_equal(get_or_put(e->c, USER_B, 0, "gen", NULL), "b");
}

/* The generation is the one read at the look-up, before the store is
 * asked: a write committed between the look-up and the put leaves the
 * stored result stale at once. */
static void
test_cache_write_races_read(void **state)
{
	struct env *e = *state;
	struct kr_cache_key key;
	const char *val;
	size_t len;

	assert_false(
		kr_cache_lookup(e->c, &key, USER_A, 0, &val, &len, "race"));
	kr_genmap_bump(e->gens, USER_A); /* the write, while the read runs */
	kr_cache_put(e->c, &key, "before the write", 16);
	assert_false(
		kr_cache_lookup(e->c, &key, USER_A, 0, &val, &len, "race"));
}

static void
test_cache_ttl(void **state)
{
	struct env *e = *state;

	assert_null(get_or_put(e->c, USER_A, 50, "ttl", "v"));
	assert_string_equal(get_or_put(e->c, USER_A, 50, "ttl", NULL), "v");
	usleep(80 * 1000);
	assert_null(get_or_put(e->c, USER_A, 50, "ttl", NULL));
}

/* A key that does not fit: a miss, no generation read, nothing stored. */
static void
test_cache_key_too_long(void **state)
{
	struct env *e = *state;
	char name[KR_CACHE_KEY_MAX];
	struct kr_lru_stats before, after;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	kr_cache_get_stats(e->c, &before);
	assert_null(get_or_put(e->c, USER_A, 0, name, "v"));
	assert_null(get_or_put(e->c, USER_A, 0, name, "v"));
	kr_cache_get_stats(e->c, &after);
	assert_int_equal(after.entries, before.entries);
	assert_int_equal(after.misses, before.misses);
}

/* Reports give what happened since the previous one. */
static void
test_cache_report_deltas(void **state)
{
	struct kr_genmap *gens;
	struct kr_cache *c;
	struct kr_cache_report r;
	struct kr_err err;

	(void)state;
	gens = kr_genmap_create(KR_GENMAP_SLOTS_MIN, &err);
	c = kr_cache_create(2 * (KR_LRU_ENTRY_OVERHEAD + 64), gens);
	assert_null(get_or_put(c, USER_A, 0, "a", "1"));
	assert_string_equal(get_or_put(c, USER_A, 0, "a", NULL), "1");
	kr_cache_report(c, &r);
	assert_int_equal(r.hits, 1);
	assert_int_equal(r.misses, 1);
	assert_int_equal(r.evictions, 0);
	assert_true(r.bytes > KR_LRU_ENTRY_OVERHEAD);
	kr_cache_report(c, &r);
	assert_int_equal(r.hits, 0);
	assert_int_equal(r.misses, 0);
	assert_true(r.bytes > 0);
	/* Three entries where two fit: one eviction. */
	assert_null(get_or_put(c, USER_A, 0, "b", "2"));
	assert_null(get_or_put(c, USER_A, 0, "c", "3"));
	kr_cache_report(c, &r);
	assert_int_equal(r.misses, 2);
	assert_int_equal(r.evictions, 1);
	kr_cache_destroy(&c);
	kr_genmap_destroy(&gens);
}

/* max_bytes 0: every look-up misses, puts store nothing. */
static void
test_cache_off(void **state)
{
	struct env *e = *state;
	struct kr_cache *c = kr_cache_create(0, e->gens);

	assert_null(get_or_put(c, USER_A, 0, "off", "v"));
	assert_null(get_or_put(c, USER_A, 0, "off", "v"));
	kr_cache_destroy(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_key_fail_soft),
		cmocka_unit_test(test_cache_per_user),
		cmocka_unit_test(test_cache_generation),
		cmocka_unit_test(test_cache_write_races_read),
		cmocka_unit_test(test_cache_ttl),
		cmocka_unit_test(test_cache_key_too_long),
		cmocka_unit_test(test_cache_report_deltas),
		cmocka_unit_test(test_cache_off),
	};

	return cmocka_run_group_tests_name("cache", tests, setup, teardown);
}
