/* cmocka tests for lib/lru: hits and misses, generations and TTL,
 * LRU eviction under the byte bound, the size limits, per-owner drops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/lru.h"

#define TEST_MANY_PUTS 100000
#define TEST_MANY_BYTES (1U << 20)
/* What lru.c uses for its chain bound; test_lru_chain_bound finds
 * keys that collide under the cache's hash. */
#define TEST_CHAIN_MAX 16

/* Cost of an entry with a key of k bytes and a value of v bytes. */
#define COST(k, v) ((size_t)(k) + (v) + KR_LRU_ENTRY_OVERHEAD)

static void
put_str(struct kr_lru *c, int64_t owner, const char *key, const char *val,
	uint64_t gen, int64_t now_ms)
{
	kr_lru_put(c, owner, key, strlen(key), val, strlen(val), gen, now_ms);
}

/* Whether key hits under gen at now_ms without TTL; on a hit the value
 * must be want (when want is not NULL). */
static bool
hit(struct kr_lru *c, const char *key, uint64_t gen, const char *want)
{
	const char *val;
	size_t vlen;

	if (!kr_lru_get(c, key, strlen(key), gen, 0, 0, &val, &vlen)) {
		assert_null(val);
		assert_int_equal(vlen, 0);
		return false;
	}
	if (want != NULL) {
		assert_int_equal(vlen, strlen(want));
		assert_memory_equal(val, want, vlen);
		/* Callers may use the JSON text as a C string. */
		assert_int_equal(val[vlen], '\0');
	}
	return true;
}

static struct kr_lru_stats
stats(const struct kr_lru *c)
{
	struct kr_lru_stats s;

	kr_lru_get_stats(c, &s);
	return s;
}

static void
test_lru_hit_miss(void **state)
{
	struct kr_lru *c = kr_lru_create(1 << 16);
	struct kr_lru_stats s;

	(void)state;
	assert_false(hit(c, "a", 1, NULL));
	put_str(c, 1, "a", "[1,2,3]", 1, 0);
	assert_true(hit(c, "a", 1, "[1,2,3]"));
	assert_true(hit(c, "a", 1, "[1,2,3]"));
	assert_false(hit(c, "b", 1, NULL));
	/* A prefix of a key is another key. */
	assert_false(hit(c, "", 1, NULL));
	put_str(c, 1, "", "{}", 1, 0);
	assert_true(hit(c, "", 1, "{}"));
	assert_true(hit(c, "a", 1, "[1,2,3]"));
	s = stats(c);
	assert_int_equal(s.hits, 4);
	assert_int_equal(s.misses, 3);
	assert_int_equal(s.stale, 0);
	assert_int_equal(s.entries, 2);
	assert_int_equal(s.bytes, COST(1, 7) + COST(0, 2));
	kr_lru_destroy(&c);
	assert_null(c);
	kr_lru_destroy(&c);
	kr_lru_destroy(NULL);
}

/* An empty value is a value (e.g. a cached empty body). */
static void
test_lru_empty_and_binary_values(void **state)
{
	static const unsigned char key[] = { 0, 1, 0, 2 };
	static const unsigned char val[] = { 'x', 0, 'y' };
	struct kr_lru *c = kr_lru_create(1 << 16);
	const char *v;
	size_t vlen;

	(void)state;
	put_str(c, 1, "empty", "", 1, 0);
	assert_true(hit(c, "empty", 1, ""));
	kr_lru_put(c, 1, key, sizeof(key), val, sizeof(val), 1, 0);
	assert_true(kr_lru_get(c, key, sizeof(key), 1, 0, 0, &v, &vlen));
	assert_int_equal(vlen, sizeof(val));
	assert_memory_equal(v, val, sizeof(val));
	assert_false(kr_lru_get(c, key, 2, 1, 0, 0, &v, &vlen));
	kr_lru_destroy(&c);
}

static void
test_lru_gen_mismatch_removes(void **state)
{
	struct kr_lru *c = kr_lru_create(1 << 16);
	struct kr_lru_stats s;

	(void)state;
	put_str(c, 1, "k", "old", 5, 0);
	assert_false(hit(c, "k", 6, NULL));
	s = stats(c);
	assert_int_equal(s.stale, 1);
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.bytes, 0);
	/* Removed, not merely skipped: even the old generation misses. */
	assert_false(hit(c, "k", 5, NULL));
	s = stats(c);
	assert_int_equal(s.stale, 1);
	assert_int_equal(s.misses, 2);
	kr_lru_destroy(&c);
}

/* At the limit: ttl - 1 ms after storing hits, ttl ms after misses. */
static void
test_lru_ttl_expiry(void **state)
{
	struct kr_lru *c = kr_lru_create(1 << 16);
	const char *v;
	size_t vlen;

	(void)state;
	put_str(c, 1, "k", "v", 1, 1000);
	assert_true(kr_lru_get(c, "k", 1, 1, 1999, 1000, &v, &vlen));
	/* A clock behind the stamp is no time passed. */
	assert_true(kr_lru_get(c, "k", 1, 1, 500, 1000, &v, &vlen));
	assert_false(kr_lru_get(c, "k", 1, 1, 2000, 1000, &v, &vlen));
	assert_int_equal(stats(c).stale, 1);
	assert_int_equal(stats(c).entries, 0);

	/* ttl_ms <= 0: no TTL at all. */
	put_str(c, 1, "k", "v", 1, 0);
	assert_true(kr_lru_get(c, "k", 1, 1, INT64_MAX, 0, &v, &vlen));
	assert_true(kr_lru_get(c, "k", 1, 1, INT64_MAX, -1, &v, &vlen));
	/* Extreme clocks do not overflow. */
	put_str(c, 1, "m", "v", 1, INT64_MIN);
	assert_false(kr_lru_get(c, "m", 1, 1, INT64_MAX, INT64_MAX, &v, &vlen));
	kr_lru_destroy(&c);
}

/* Room for exactly four entries of a 1-byte key and a 10-byte value. */
static void
test_lru_eviction_order(void **state)
{
	struct kr_lru *c = kr_lru_create(4 * COST(1, 10));
	struct kr_lru_stats s;

	(void)state;
	put_str(c, 1, "a", "0123456789", 1, 0);
	put_str(c, 1, "b", "0123456789", 1, 0);
	put_str(c, 1, "c", "0123456789", 1, 0);
	put_str(c, 1, "d", "0123456789", 1, 0);
	assert_int_equal(stats(c).evictions, 0);
	assert_int_equal(stats(c).bytes, 4 * COST(1, 10));
	/* a becomes the most recently used, so b is the oldest. */
	assert_true(hit(c, "a", 1, NULL));
	put_str(c, 1, "e", "0123456789", 1, 0);
	assert_false(hit(c, "b", 1, NULL));
	assert_true(hit(c, "a", 1, NULL));
	/* Order now: c, d, e, a. f is 3 bytes more than a slot: two go. */
	put_str(c, 1, "f", "0123456789012", 1, 0);
	assert_false(hit(c, "c", 1, NULL));
	assert_false(hit(c, "d", 1, NULL));
	assert_true(hit(c, "e", 1, NULL));
	assert_true(hit(c, "a", 1, NULL));
	assert_true(hit(c, "f", 1, NULL));
	s = stats(c);
	assert_int_equal(s.evictions, 3);
	assert_int_equal(s.entries, 3);
	assert_int_equal(s.bytes, 2 * COST(1, 10) + COST(1, 13));
	assert_true(s.bytes <= 4 * COST(1, 10));
	kr_lru_destroy(&c);
}

static void
test_lru_replace_adjusts_bytes(void **state)
{
	struct kr_lru *c = kr_lru_create(1 << 16);
	struct kr_lru_stats s;

	(void)state;
	put_str(c, 1, "k", "short", 1, 0);
	put_str(c, 2, "x", "other", 1, 0);
	put_str(c, 1, "k", "a longer value", 2, 0);
	s = stats(c);
	assert_int_equal(s.entries, 2);
	assert_int_equal(s.bytes, COST(1, 14) + COST(1, 5));
	assert_int_equal(s.evictions, 0);
	assert_false(hit(c, "k", 1, NULL));
	put_str(c, 1, "k", "a longer value", 2, 0);
	assert_true(hit(c, "k", 2, "a longer value"));
	/* The same key under another owner moves to that owner. */
	put_str(c, 3, "k", "v", 2, 0);
	kr_lru_drop_owner(c, 1);
	assert_true(hit(c, "k", 2, "v"));
	assert_int_equal(stats(c).bytes, COST(1, 1) + COST(1, 5));
	kr_lru_destroy(&c);
}

/* Limit pairs: a value of max_bytes / 8 is stored, one byte more is not;
 * a key of KR_LRU_KEY_MAX bytes is stored, one byte more is not. */
static void
test_lru_too_big(void **state)
{
	enum {
		MAX = 1 << 16
	};
	static char val[MAX / 8 + 1];
	char key[KR_LRU_KEY_MAX + 1];
	struct kr_lru *c = kr_lru_create(MAX);
	const char *v;
	size_t vlen;

	(void)state;
	memset(val, 'v', sizeof(val));
	memset(key, 'k', sizeof(key));
	kr_lru_put(c, 1, "a", 1, val, MAX / 8, 1, 0);
	assert_true(kr_lru_get(c, "a", 1, 1, 0, 0, &v, &vlen));
	assert_int_equal(vlen, MAX / 8);
	assert_int_equal(stats(c).too_big, 0);
	/* Refused, and the old value under that key goes too. */
	kr_lru_put(c, 1, "a", 1, val, MAX / 8 + 1, 1, 0);
	assert_false(kr_lru_get(c, "a", 1, 1, 0, 0, &v, &vlen));
	assert_int_equal(stats(c).too_big, 1);
	assert_int_equal(stats(c).entries, 0);

	kr_lru_put(c, 1, key, KR_LRU_KEY_MAX, "v", 1, 1, 0);
	assert_true(kr_lru_get(c, key, KR_LRU_KEY_MAX, 1, 0, 0, &v, &vlen));
	kr_lru_put(c, 1, key, KR_LRU_KEY_MAX + 1, "v", 1, 1, 0);
	assert_false(
		kr_lru_get(c, key, KR_LRU_KEY_MAX + 1, 1, 0, 0, &v, &vlen));
	assert_int_equal(stats(c).too_big, 2);
	assert_int_equal(stats(c).bytes, COST(KR_LRU_KEY_MAX, 1));
	kr_lru_destroy(&c);

	/* A cache smaller than one entry's overhead stores nothing. */
	c = kr_lru_create(KR_LRU_ENTRY_OVERHEAD);
	put_str(c, 1, "k", "", 1, 0);
	assert_int_equal(stats(c).too_big, 1);
	assert_int_equal(stats(c).entries, 0);
	kr_lru_destroy(&c);
}

static void
test_lru_drop_owner(void **state)
{
	struct kr_lru *c = kr_lru_create(1 << 20);
	size_t kept = 0;
	char key[32];

	(void)state;
	for (int i = 0; i < 300; i++) {
		(void)snprintf(key, sizeof(key), "key%d", i);
		put_str(c, i % 3, key, "value", 1, 0);
		if (i % 3 != 1)
			kept += COST(strlen(key), 5);
	}
	assert_int_equal(stats(c).entries, 300);
	kr_lru_drop_owner(c, 1);
	kr_lru_drop_owner(c, 1);
	kr_lru_drop_owner(c, 42);
	assert_int_equal(stats(c).entries, 200);
	assert_int_equal(stats(c).bytes, kept);
	for (int i = 0; i < 300; i++) {
		(void)snprintf(key, sizeof(key), "key%d", i);
		assert_true(hit(c, key, 1, "value") == (i % 3 != 1));
	}
	/* The owner can cache again afterwards. */
	put_str(c, 1, "key1", "again", 1, 0);
	assert_true(hit(c, "key1", 1, "again"));
	kr_lru_drop_owner(c, 0);
	kr_lru_drop_owner(c, 2);
	kr_lru_drop_owner(c, 1);
	assert_int_equal(stats(c).entries, 0);
	assert_int_equal(stats(c).bytes, 0);
	assert_int_equal(stats(c).evictions, 0);
	kr_lru_destroy(&c);
}

static void
test_lru_disabled(void **state)
{
	struct kr_lru *c = kr_lru_create(0);
	struct kr_lru_stats s;

	(void)state;
	put_str(c, 1, "k", "v", 1, 0);
	assert_false(hit(c, "k", 1, NULL));
	kr_lru_drop_owner(c, 1);
	s = stats(c);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.bytes, 0);
	assert_int_equal(s.hits, 0);
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.too_big, 0);
	kr_lru_destroy(&c);
}

/* The cache's bucket hash, copied from lru.c (FNV-1a, then the
 * splitmix64 finaliser): this test must find colliding keys. */
static uint64_t
lru_hash(const char *key)
{
	uint64_t x = kr_hash_fnv1a64(key, strlen(key));

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Keys that share their low 12 hash bits share a bucket while the table
 * has at most 4096 buckets: the first TEST_CHAIN_MAX are stored, the
 * next one is not; other keys still are. */
static void
test_lru_chain_bound(void **state)
{
	struct kr_lru *c = kr_lru_create(1 << 20);
	char keys[TEST_CHAIN_MAX + 1][32];
	unsigned n = 0;

	(void)state;
	for (unsigned i = 0; n < TEST_CHAIN_MAX + 1; i++) {
		(void)snprintf(keys[n], sizeof(keys[n]), "k%u", i);
		if ((lru_hash(keys[n]) & 0xfff) == 0x123)
			n++;
	}
	for (unsigned i = 0; i < TEST_CHAIN_MAX + 1; i++)
		put_str(c, 1, keys[i], "v", 1, 0);
	for (unsigned i = 0; i < TEST_CHAIN_MAX; i++)
		assert_true(hit(c, keys[i], 1, "v"));
	assert_false(hit(c, keys[TEST_CHAIN_MAX], 1, NULL));
	assert_int_equal(stats(c).entries, TEST_CHAIN_MAX);
	put_str(c, 1, "elsewhere", "v", 1, 0);
	assert_true(hit(c, "elsewhere", 1, "v"));
	/* Replacing a key in a full chain is allowed. */
	put_str(c, 1, keys[0], "w", 2, 0);
	assert_true(hit(c, keys[0], 2, "w"));
	kr_lru_destroy(&c);
}

static uint64_t
test_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random keys, sizes, owners and generations: the byte bound holds after
 * every operation and the figures add up. */
static void
test_lru_many_entries_bounded(void **state)
{
	static char val[TEST_MANY_BYTES / 8];
	struct kr_lru *c = kr_lru_create(TEST_MANY_BYTES);
	struct kr_lru_stats s;
	uint64_t rng = 0x2545f4914f6cdd1dULL;
	char key[32];

	(void)state;
	memset(val, 'x', sizeof(val));
	for (unsigned i = 0; i < TEST_MANY_PUTS; i++) {
		uint64_t r = test_rand(&rng);
		size_t klen = (size_t)snprintf(key, sizeof(key), "k%u",
					       (unsigned)(r % 50000));
		const char *v;
		size_t vlen;

		kr_lru_put(c, (int64_t)(r % 97), key, klen, val,
			   (size_t)(r >> 32) % 4096, r % 3, 0);
		(void)kr_lru_get(c, key, klen, (r >> 8) % 3, 0, 0, &v, &vlen);
		if (r % 1000 == 0)
			kr_lru_drop_owner(c, (int64_t)((r >> 16) % 97));
		s = stats(c);
		if (s.bytes > TEST_MANY_BYTES)
			fail_msg("put %u: %zu bytes", i, s.bytes);
		assert_true(s.bytes >= s.entries * KR_LRU_ENTRY_OVERHEAD);
	}
	s = stats(c);
	assert_true(s.evictions > 0);
	assert_true(s.hits > 0);
	assert_true(s.stale > 0);
	assert_int_equal(s.hits + s.misses, TEST_MANY_PUTS);
	assert_int_equal(s.too_big, 0);
	kr_lru_destroy(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru_hit_miss),
		cmocka_unit_test(test_lru_empty_and_binary_values),
		cmocka_unit_test(test_lru_gen_mismatch_removes),
		cmocka_unit_test(test_lru_ttl_expiry),
		cmocka_unit_test(test_lru_eviction_order),
		cmocka_unit_test(test_lru_replace_adjusts_bytes),
		cmocka_unit_test(test_lru_too_big),
		cmocka_unit_test(test_lru_drop_owner),
		cmocka_unit_test(test_lru_disabled),
		cmocka_unit_test(test_lru_chain_bound),
		cmocka_unit_test(test_lru_many_entries_bounded),
	};

	return cmocka_run_group_tests_name("lru", tests, NULL, NULL);
}
