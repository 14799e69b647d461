/* cmocka tests for storage/shardpoll's result parsing (the polling
 * itself runs against real PostgreSQL in test_shard_move.sh): rows
 * built with libpq's own PGresult constructors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "storage/shardpoll.h"

/* A two-column (bucket, shard) result of n rows from cells (NULL cell:
 * SQL NULL), or of ncols columns when it is not 2. */
static PGresult *
result_of(int ncols, int n, const char *const *cells)
{
	PGresAttDesc att[3];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

	memset(att, 0, sizeof(att));
	att[0].name = (char *)"bucket";
	att[1].name = (char *)"shard";
	att[2].name = (char *)"x";
	assert_non_null(res);
	assert_int_equal(PQsetResultAttrs(res, ncols, att), 1);
	for (int r = 0; r < n; r++) {
		for (int c = 0; c < ncols; c++) {
			const char *v = cells[r * ncols + c];

			assert_int_equal(
				PQsetvalue(res, r, c, (char *)v,
					   v != NULL ? (int)strlen(v) : -1),
				1);
		}
	}
	return res;
}

static int
parse(int ncols, int n, const char *const *cells,
      struct kr_shardmap_override *ov, size_t *n_r)
{
	PGresult *res = result_of(ncols, n, cells);
	int rc = kr_shardpoll_parse(res, ov, n_r);

	PQclear(res);
	return rc;
}

static void
test_shardpoll_parse_rows(void **state)
{
	static const char *const ok[] = {
		"0", "3", "17", "0", "4095", "65535"
	};
	struct kr_shardmap_override ov[KR_SHARD_BUCKETS];
	size_t n = 99;

	(void)state;
	assert_int_equal(parse(2, 3, ok, ov, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ov[0].bucket, 0);
	assert_int_equal(ov[0].shard, 3);
	assert_int_equal(ov[1].bucket, 17);
	assert_int_equal(ov[2].bucket, 4095);
	assert_int_equal(ov[2].shard, 65535);
	assert_int_equal(parse(2, 0, ok, ov, &n), 0);
	assert_int_equal(n, 0);
}

/* Any bad row refuses the whole table (the last map stays). */
static void
test_shardpoll_parse_bad(void **state)
{
	static const char *const bad[][2] = {
		{ "4096", "0" }, { "-1", "0" }, { "1", "-1" }, { "1", "65536" },
		{ "x", "0" },	 { "1", "2x" }, { "", "0" },   { NULL, "0" },
		{ "1", NULL },	 { " 1", "0" },
	};
	static const char *const three[] = { "1", "2", "3" };
	struct kr_shardmap_override ov[KR_SHARD_BUCKETS];
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const cells[] = { "5", "1", bad[i][0], bad[i][1] };

		if (parse(2, 2, cells, ov, &n) != -1)
			fail_msg("row %zu accepted", i);
	}
	assert_int_equal(parse(3, 1, three, ov, &n), -1);
}

/* At most KR_SHARD_BUCKETS rows: at the limit passes, one over fails. */
static void
test_shardpoll_parse_limit(void **state)
{
	static struct kr_shardmap_override ov[KR_SHARD_BUCKETS];
	const char **cells = calloc(2 * (KR_SHARD_BUCKETS + 1), sizeof(*cells));
	char(*num)[8] = calloc(KR_SHARD_BUCKETS + 1, sizeof(*num));
	size_t n = 0;

	(void)state;
	assert_non_null(cells);
	assert_non_null(num);
	for (int i = 0; i <= KR_SHARD_BUCKETS; i++) {
		snprintf(num[i], sizeof(num[i]), "%d", i % KR_SHARD_BUCKETS);
		cells[2 * i] = num[i];
		cells[2 * i + 1] = "1";
	}
	assert_int_equal(parse(2, KR_SHARD_BUCKETS, cells, ov, &n), 0);
	assert_int_equal(n, KR_SHARD_BUCKETS);
	assert_int_equal(parse(2, KR_SHARD_BUCKETS + 1, cells, ov, &n), -1);
	free(num);
	free(cells);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shardpoll_parse_rows),
		cmocka_unit_test(test_shardpoll_parse_bad),
		cmocka_unit_test(test_shardpoll_parse_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
