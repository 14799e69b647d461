/* cmocka tests for server/lmtp/lmtp_rcpt_cache: a remembered recipient
 * is found until its TTL runs out and not after; forget drops a user's
 * entry; a second put replaces the id; the byte bound evicts the least
 * recently used; a TTL or a bound of 0 turns it off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "server/lmtp/lmtp_rcpt_cache.h"

static void
test_lmtp_rcpt_cache_ttl(void **state)
{
	struct kr_lmtp_rcpt_cache *c = kr_lmtp_rcpt_cache_create(1 << 20, 1000);
	int64_t id = 0;

	(void)state;
	assert_false(kr_lmtp_rcpt_cache_get(c, "a@x.test", 10, &id));
	kr_lmtp_rcpt_cache_put(c, "a@x.test", 42, 10);
	assert_true(kr_lmtp_rcpt_cache_get(c, "a@x.test", 1009, &id));
	assert_int_equal(id, 42);
	assert_false(kr_lmtp_rcpt_cache_get(c, "b@x.test", 1009, &id));
	assert_false(kr_lmtp_rcpt_cache_get(c, "a@x.test", 1010, &id));
	/* Dropped when found too old, not only passed over. */
	assert_false(kr_lmtp_rcpt_cache_get(c, "a@x.test", 20, &id));
	kr_lmtp_rcpt_cache_put(c, "a@x.test", 42, 2000);
	kr_lmtp_rcpt_cache_put(c, "a@x.test", 43, 2001);
	assert_true(kr_lmtp_rcpt_cache_get(c, "a@x.test", 2002, &id));
	assert_int_equal(id, 43);
	kr_lmtp_rcpt_cache_destroy(&c);
	assert_null(c);
	kr_lmtp_rcpt_cache_destroy(&c);
}

static void
test_lmtp_rcpt_cache_forget(void **state)
{
	struct kr_lmtp_rcpt_cache *c = kr_lmtp_rcpt_cache_create(1 << 20, 1000);
	int64_t id = 0;

	(void)state;
	kr_lmtp_rcpt_cache_put(c, "a@x.test", 42, 0);
	kr_lmtp_rcpt_cache_put(c, "b@x.test", 43, 0);
	kr_lmtp_rcpt_cache_forget(c, 42);
	assert_false(kr_lmtp_rcpt_cache_get(c, "a@x.test", 1, &id));
	assert_true(kr_lmtp_rcpt_cache_get(c, "b@x.test", 1, &id));
	assert_int_equal(id, 43);
	kr_lmtp_rcpt_cache_forget(c, 7); /* nobody's: nothing happens */
	assert_true(kr_lmtp_rcpt_cache_get(c, "b@x.test", 1, &id));
	kr_lmtp_rcpt_cache_destroy(&c);
}

/* 4 KiB holds a dozen or so entries (lib/lru.h charges 256 bytes
 * each): of 100 put in turn, the first is gone and the last is there,
 * and what was read recently outlives what was not. */
static void
test_lmtp_rcpt_cache_bounded(void **state)
{
	struct kr_lmtp_rcpt_cache *c = kr_lmtp_rcpt_cache_create(4096, 60000);
	char acc[32];
	int64_t id = 0;
	unsigned kept = 0;

	(void)state;
	for (int i = 0; i < 100; i++) {
		snprintf(acc, sizeof(acc), "u%d@x.test", i);
		kr_lmtp_rcpt_cache_put(c, acc, i + 1, i);
		/* Read after every put: always the most recently used. */
		assert_true(kr_lmtp_rcpt_cache_get(c, "u0@x.test", i, &id));
	}
	for (int i = 0; i < 100; i++) {
		snprintf(acc, sizeof(acc), "u%d@x.test", i);
		kept += kr_lmtp_rcpt_cache_get(c, acc, 100, &id);
	}
	assert_true(kept >= 5 && kept <= 16);
	assert_true(kr_lmtp_rcpt_cache_get(c, "u0@x.test", 100, &id));
	assert_int_equal(id, 1);
	assert_true(kr_lmtp_rcpt_cache_get(c, "u99@x.test", 100, &id));
	assert_false(kr_lmtp_rcpt_cache_get(c, "u1@x.test", 100, &id));
	kr_lmtp_rcpt_cache_destroy(&c);
}

static void
test_lmtp_rcpt_cache_off(void **state)
{
	struct kr_lmtp_rcpt_cache *no_ttl =
		kr_lmtp_rcpt_cache_create(1 << 20, 0);
	struct kr_lmtp_rcpt_cache *no_room = kr_lmtp_rcpt_cache_create(0, 1000);
	int64_t id = 0;

	(void)state;
	kr_lmtp_rcpt_cache_put(no_ttl, "a@x.test", 42, 0);
	kr_lmtp_rcpt_cache_put(no_room, "a@x.test", 42, 0);
	assert_false(kr_lmtp_rcpt_cache_get(no_ttl, "a@x.test", 0, &id));
	assert_false(kr_lmtp_rcpt_cache_get(no_room, "a@x.test", 0, &id));
	kr_lmtp_rcpt_cache_destroy(&no_ttl);
	kr_lmtp_rcpt_cache_destroy(&no_room);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lmtp_rcpt_cache_ttl),
		cmocka_unit_test(test_lmtp_rcpt_cache_forget),
		cmocka_unit_test(test_lmtp_rcpt_cache_bounded),
		cmocka_unit_test(test_lmtp_rcpt_cache_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
