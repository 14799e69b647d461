/* cmocka tests for storage/shardmap: spread over shards, case
 * insensitivity, explicit bucket ranges, a map without shards, the
 * overrides of moved buckets, BUCKETS parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/limits.h"
#include "storage/shardmap.h"

#include "conf_env.h"

#define TMP_TEMPLATE "/tmp/kr_test_shardmap.XXXXXX"

static struct kr_config *
config_from(const char *content)
{
	char path[] = TMP_TEMPLATE;
	struct kr_config *cfg = NULL;
	struct kr_err err;

	conf_env_write(path, sizeof(path), TMP_TEMPLATE, content,
		       strlen(content));
	if (kr_config_load(path, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(unlink(path), 0);
	return cfg;
}

/* n shards with an even split, or the ranges given ("0-9", ...). */
static struct kr_config *
config_shards(unsigned n, const char *const *ranges)
{
	char buf[4096];
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					"[shard.%u]\nprimary = host=h%u\n", i,
					i);
		if (ranges != NULL)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
						"buckets = %s\n", ranges[i]);
		assert_true(len < sizeof(buf));
	}
	return config_from(buf);
}

static int
make_address(char *buf, size_t size, unsigned i)
{
	/* Varied local parts and domains, the way real addresses are. */
	return snprintf(buf, size, "%s%u@%s", i % 3 ? "user" : "j.doe+tag", i,
			i % 2 ? "example.com" : "mail.example.org");
}

static void
test_shardmap_spread(void **state)
{
	struct kr_config *cfg = config_shards(20, NULL);
	struct kr_shardmap *map = kr_shardmap_create(cfg);
	unsigned counts[20] = { 0 }, min = UINT32_MAX, max = 0;
	const unsigned n = 2000, mean = n / 20;
	char addr[64];

	(void)state;
	assert_int_equal(kr_shardmap_count(map), 20);
	for (unsigned i = 0; i < n; i++) {
		int len = make_address(addr, sizeof(addr), i);
		int s = kr_shardmap_shard(map, addr, (size_t)len);

		assert_true(s >= 0 && s < 20);
		counts[s]++;
	}
	for (unsigned s = 0; s < 20; s++) {
		min = counts[s] < min ? counts[s] : min;
		max = counts[s] > max ? counts[s] : max;
	}
	printf("# %u addresses over 20 shards: min %u, max %u, mean %u\n", n,
	       min, max, mean);
	assert_true(min > 0);
	assert_true(max <= 2 * mean);
	kr_shardmap_destroy(&map);
	assert_null(map);
	kr_config_destroy(&cfg);
}

static void
test_shardmap_case_insensitive(void **state)
{
	static const char *const pairs[][2] = {
		{ "Alice@Example.COM", "alice@example.com" },
		{ "BOB@EXAMPLE.ORG", "bob@example.org" },
		{ "x.Y_z+Q@Sub.Domain.NET", "x.y_z+q@sub.domain.net" },
	};
	struct kr_config *cfg = config_shards(7, NULL);
	struct kr_shardmap *map = kr_shardmap_create(cfg);

	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const char *a = pairs[i][0], *b = pairs[i][1];

		assert_int_equal(kr_shardmap_bucket(a, strlen(a)),
				 kr_shardmap_bucket(b, strlen(b)));
		assert_int_equal(kr_shardmap_shard(map, a, strlen(a)),
				 kr_shardmap_shard(map, b, strlen(b)));
	}
	/* Placement pin: FNV-1a 64 of the address, mod 4096. */
	assert_int_equal(kr_shardmap_bucket("User@Example.com", 16), 2779);
	/* The length decides, not a NUL. */
	assert_int_equal(kr_shardmap_bucket("a@bX", 3),
			 kr_shardmap_bucket("a@b", 3));
	kr_shardmap_destroy(&map);
	kr_config_destroy(&cfg);
}

/* Uneven ranges in an odd order: each address lands on the shard
 * whose range holds its bucket. */
static void
test_shardmap_explicit_ranges(void **state)
{
	static const char *const ranges[] = { "4000-4095", "0-0", "1-2778",
					      "2779-3999" };
	static const unsigned lo[] = { 4000, 0, 1, 2779 },
			      hi[] = { 4095, 0, 2778, 3999 };
	struct kr_config *cfg = config_shards(4, ranges);
	struct kr_shardmap *map = kr_shardmap_create(cfg);
	unsigned hits[4] = { 0 };
	char addr[64];

	(void)state;
	for (unsigned b = 0; b < KR_SHARD_BUCKETS; b++) {
		int s = kr_shardmap_bucket_shard(map, b);

		assert_true(s >= 0 && s < 4);
		assert_true(b >= lo[s] && b <= hi[s]);
	}
	for (unsigned i = 0; i < 5000; i++) {
		int len = make_address(addr, sizeof(addr), i);
		unsigned b = kr_shardmap_bucket(addr, (size_t)len);
		int s = kr_shardmap_shard(map, addr, (size_t)len);

		assert_true(b >= lo[s] && b <= hi[s]);
		hits[s]++;
	}
	assert_true(hits[0] > 0 && hits[2] > 0 && hits[3] > 0);
	assert_int_equal(kr_shardmap_shard(map, "user@example.com", 16), 3);
	kr_shardmap_destroy(&map);
	kr_config_destroy(&cfg);
}

static void
test_shardmap_no_shards(void **state)
{
	struct kr_config *cfg = config_from("[log]\nlevel = info\n");
	struct kr_shardmap *map = kr_shardmap_create(cfg);

	(void)state;
	assert_int_equal(kr_shardmap_count(map), 0);
	assert_int_equal(kr_shardmap_shard(map, "a@b", 3), -1);
	assert_int_equal(kr_shardmap_bucket_shard(map, 0), -1);
	kr_shardmap_destroy(&map);
	kr_shardmap_destroy(&map);
	kr_config_destroy(&cfg);
}

/* Overrides move single buckets, leave the rest on the config's ranges,
 * are replaced as a whole (a bucket no longer listed goes back), and
 * skip entries naming an unknown bucket or shard. */
static void
test_shardmap_overrides(void **state)
{
	static const char *const ranges[] = { "0-99", "100-4095", "", "" };
	struct kr_config *cfg = config_shards(2, ranges);
	struct kr_shardmap *map = kr_shardmap_create(cfg);
	const struct kr_shardmap_override ov[] = {
		{ .bucket = 5, .shard = 1 },	{ .bucket = 200, .shard = 0 },
		{ .bucket = 4095, .shard = 0 }, { .bucket = 4096, .shard = 0 },
		{ .bucket = 7, .shard = 2 },
	};
	char addr[64];
	int len;
	unsigned b;

	(void)state;
	assert_int_equal(kr_shardmap_set_overrides(map, ov, 5), 2);
	assert_int_equal(kr_shardmap_bucket_shard(map, 5), 1);
	assert_int_equal(kr_shardmap_bucket_base(map, 5), 0);
	assert_int_equal(kr_shardmap_bucket_shard(map, 200), 0);
	assert_int_equal(kr_shardmap_bucket_shard(map, 4095), 0);
	assert_int_equal(kr_shardmap_bucket_shard(map, 4), 0);
	assert_int_equal(kr_shardmap_bucket_shard(map, 6), 0);
	assert_int_equal(kr_shardmap_bucket_shard(map, 7), 0); /* skipped */
	assert_int_equal(kr_shardmap_bucket_shard(map, 201), 1);
	/* An address follows its bucket. */
	for (unsigned i = 0;; i++) {
		len = make_address(addr, sizeof(addr), i);
		b = kr_shardmap_bucket(addr, (size_t)len);
		if (b == 200)
			break;
		assert_true(i < 1000000);
	}
	assert_int_equal(kr_shardmap_shard(map, addr, (size_t)len), 0);
	/* Replaced as a whole: 5 and 4095 go back, 200 stays moved. */
	assert_int_equal(kr_shardmap_set_overrides(map, &ov[1], 1), 0);
	assert_int_equal(kr_shardmap_bucket_shard(map, 5), 0);
	assert_int_equal(kr_shardmap_bucket_shard(map, 4095), 1);
	assert_int_equal(kr_shardmap_shard(map, addr, (size_t)len), 0);
	assert_int_equal(kr_shardmap_set_overrides(map, NULL, 0), 0);
	assert_int_equal(kr_shardmap_shard(map, addr, (size_t)len), 1);
	for (b = 0; b < KR_SHARD_BUCKETS; b++)
		assert_int_equal(kr_shardmap_bucket_shard(map, b),
				 kr_shardmap_bucket_base(map, b));
	kr_shardmap_destroy(&map);
	kr_config_destroy(&cfg);
}

/* A pending map places nobody until its overrides are set, even to
 * none. */
static void
test_shardmap_pending(void **state)
{
	struct kr_config *cfg = config_shards(3, NULL);
	struct kr_shardmap *map = kr_shardmap_create(cfg);
	const struct kr_shardmap_override ov = { .bucket = 9, .shard = 2 };

	(void)state;
	assert_false(kr_shardmap_is_pending(map));
	assert_int_equal(kr_shardmap_bucket_shard(map, 9), 0);
	kr_shardmap_set_pending(map);
	assert_true(kr_shardmap_is_pending(map));
	assert_int_equal(kr_shardmap_bucket_shard(map, 9), -1);
	assert_int_equal(kr_shardmap_shard(map, "a@b.c", 5), -1);
	assert_int_equal(kr_shardmap_bucket_base(map, 9), 0);
	assert_int_equal(kr_shardmap_set_overrides(map, NULL, 0), 0);
	assert_false(kr_shardmap_is_pending(map));
	assert_int_equal(kr_shardmap_bucket_shard(map, 9), 0);
	kr_shardmap_set_pending(map);
	assert_int_equal(kr_shardmap_set_overrides(map, &ov, 1), 0);
	assert_int_equal(kr_shardmap_bucket_shard(map, 9), 2);
	kr_shardmap_destroy(&map);
	kr_config_destroy(&cfg);
}

static void
test_shardmap_parse_buckets(void **state)
{
	static const struct {
		const char *in;
		int rc;
		unsigned lo, hi;
	} cases[] = {
		{ "0", 0, 0, 0 },
		{ "17", 0, 17, 17 },
		{ "4095", 0, 4095, 4095 },
		{ "4096", -1, 0, 0 },
		{ "10-20", 0, 10, 20 },
		{ "0-4095", 0, 0, 4095 },
		{ "0-4096", -1, 0, 0 },
		{ "7-7", 0, 7, 7 },
		{ "8-7", -1, 0, 0 },
		{ "", -1, 0, 0 },
		{ "-", -1, 0, 0 },
		{ "-3", -1, 0, 0 },
		{ "3-", -1, 0, 0 },
		{ "1 ", -1, 0, 0 },
		{ " 1", -1, 0, 0 },
		{ "1-2-3", -1, 0, 0 },
		{ "+1", -1, 0, 0 },
		{ "0x10", -1, 0, 0 },
		{ "99999999999999999999", -1, 0, 0 },
	};
	struct kr_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned lo = 9999, hi = 9999;
		int rc = kr_shardmap_parse_buckets(cases[i].in, &lo, &hi, &err);

		if (rc != cases[i].rc)
			fail_msg("'%s': %d", cases[i].in, rc);
		if (rc == 0) {
			assert_int_equal(lo, cases[i].lo);
			assert_int_equal(hi, cases[i].hi);
		} else {
			assert_int_equal(err.kind, KR_ERR_PERMANENT);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shardmap_spread),
		cmocka_unit_test(test_shardmap_case_insensitive),
		cmocka_unit_test(test_shardmap_explicit_ranges),
		cmocka_unit_test(test_shardmap_no_shards),
		cmocka_unit_test(test_shardmap_overrides),
		cmocka_unit_test(test_shardmap_parse_buckets),
		cmocka_unit_test(test_shardmap_pending),
	};

	return cmocka_run_group_tests_name("shardmap", tests, NULL, NULL);
}
