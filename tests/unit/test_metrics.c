/* cmocka tests for lib/metrics: the shared-memory registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/limits.h"
#include "lib/metrics.h"

#define TEST_THREADS 4
#define TEST_INCREMENTS 100000

static int
define(struct kr_metrics *m, const char *name, const char *labels,
       enum kr_metric_kind kind)
{
	struct kr_metric_desc d = {
		.name = name,
		.labels = labels,
		.help = "test metric",
		.kind = kind,
		.scale = 1,
	};
	struct kr_err err;
	int id;

	id = kr_metrics_define(m, &d, &err);
	if (id < 0)
		print_error("define %s{%s}: %s\n", name, labels, err.msg);
	return id;
}

/* A registry with one counter (0), gauge (1) and histogram (2), mapped
 * with n_slots slots. */
static struct kr_metrics *
make_registry(unsigned n_slots)
{
	struct kr_metrics *m = kr_metrics_create();
	struct kr_err err;

	assert_int_equal(define(m, "t_requests_total", "", KR_METRIC_COUNTER),
			 0);
	assert_int_equal(define(m, "t_inflight", "", KR_METRIC_GAUGE), 1);
	assert_int_equal(define(m, "t_latency", "", KR_METRIC_HISTOGRAM), 2);
	assert_int_equal(kr_metrics_map(m, n_slots, &err), 0);
	return m;
}

static void
test_metrics_counter_gauge(void **state)
{
	struct kr_metrics *m = make_registry(2);
	struct kr_metrics_slot *a = kr_metrics_slot(m, 0);
	struct kr_metrics_slot *b = kr_metrics_slot(m, 1);
	struct kr_metric_value v;

	(void)state;
	kr_metrics_inc(a, 0);
	kr_metrics_add(a, 0, 41);
	kr_metrics_add(b, 0, 100);
	kr_metrics_gauge_set(a, 1, 10);
	kr_metrics_gauge_add(a, 1, -3);
	kr_metrics_gauge_set(b, 1, -20);
	kr_metrics_read_slot(a, 0, &v);
	assert_int_equal(v.value, 42);
	kr_metrics_read_slot(b, 0, &v);
	assert_int_equal(v.value, 100);
	kr_metrics_read_total(m, 0, &v);
	assert_int_equal(v.value, 142);
	kr_metrics_read_slot(a, 1, &v);
	assert_int_equal(v.value, 7);
	kr_metrics_read_total(m, 1, &v);
	assert_int_equal(v.value, -13);
	kr_metrics_destroy(&m);
	assert_null(m);
}

static void
test_metrics_histogram(void **state)
{
	struct kr_metrics *m = make_registry(2);
	struct kr_metrics_slot *a = kr_metrics_slot(m, 0);
	struct kr_metrics_slot *b = kr_metrics_slot(m, 1);
	struct kr_metric_value v;

	(void)state;
	kr_metrics_observe(a, 2, 3);
	kr_metrics_observe(a, 2, 4);
	kr_metrics_observe(b, 2, 1000);
	kr_metrics_read_slot(a, 2, &v);
	assert_int_equal(v.value, 2);
	assert_int_equal(v.sum, 7);
	assert_int_equal(v.buckets[2], 2);
	kr_metrics_read_total(m, 2, &v);
	assert_int_equal(v.value, 3);
	assert_int_equal(v.sum, 1007);
	assert_int_equal(v.buckets[2], 2);
	assert_int_equal(v.buckets[10], 1);
	kr_metrics_destroy(&m);
}

/* Which bucket one observation of v lands in. */
static unsigned
bucket_of(uint64_t v)
{
	struct kr_metrics *m = make_registry(1);
	struct kr_metric_value val;
	unsigned i, found = KR_METRICS_BUCKETS;

	kr_metrics_observe(kr_metrics_slot(m, 0), 2, v);
	kr_metrics_read_total(m, 2, &val);
	for (i = 0; i < KR_METRICS_BUCKETS; i++) {
		if (val.buckets[i] == 1) {
			assert_int_equal(found, KR_METRICS_BUCKETS);
			found = i;
		} else {
			assert_int_equal(val.buckets[i], 0);
		}
	}
	kr_metrics_destroy(&m);
	return found;
}

static void
test_metrics_bucket_boundaries(void **state)
{
	static const struct {
		uint64_t v;
		unsigned bucket;
	} cases[] = {
		{ 0, 0 },
		{ 1, 0 },
		{ 2, 1 },
		{ 3, 2 },
		{ 4, 2 },
		{ 5, 3 },
		{ 100, 7 },
		{ 1ULL << 30, 30 },
		{ (1ULL << 30) + 1, KR_METRICS_BUCKETS - 1 },
		{ 1ULL << 40, KR_METRICS_BUCKETS - 1 },
		{ UINT64_MAX, KR_METRICS_BUCKETS - 1 },
	};
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(bucket_of(cases[i].v), cases[i].bucket);
	for (i = 1; i < KR_METRICS_BUCKETS - 1; i++) {
		assert_int_equal(bucket_of(1ULL << i), i);
		assert_int_equal(bucket_of((1ULL << i) + 1), i + 1);
		assert_true(kr_metrics_bucket_bound(i) == (double)(1ULL << i));
	}
	assert_true(kr_metrics_bucket_bound(0) == 1.0);
	assert_true(isinf(kr_metrics_bucket_bound(KR_METRICS_BUCKETS - 1)));
}

static void
test_metrics_quantile_uniform(void **state)
{
	struct kr_metrics *m = make_registry(1);
	struct kr_metric_value v;
	double p50, p90, p99;
	uint64_t i;

	(void)state;
	for (i = 1; i <= 1000; i++)
		kr_metrics_observe(kr_metrics_slot(m, 0), 2, i);
	kr_metrics_read_total(m, 2, &v);
	assert_int_equal(v.value, 1000);
	assert_int_equal(v.sum, 500500);
	p50 = kr_metrics_quantile(&v, 0.5);
	p90 = kr_metrics_quantile(&v, 0.9);
	p99 = kr_metrics_quantile(&v, 0.99);
	/* The true values are 500, 900 and 990: within one bucket. */
	assert_true(p50 >= 256 && p50 <= 1024);
	assert_true(p90 >= 512 && p90 <= 1024);
	assert_true(p99 >= 512 && p99 <= 1024);
	assert_true(p50 <= p90 && p90 <= p99);
	/* Interpolation: 256 values in (256, 512] hold ranks 257..512. */
	assert_true(fabs(p50 - 500.0) < 1e-9);
	kr_metrics_destroy(&m);
}

static void
test_metrics_quantile_constant(void **state)
{
	struct kr_metrics *m = make_registry(1);
	struct kr_metric_value v;
	unsigned i;
	double q;

	(void)state;
	for (i = 0; i < 500; i++)
		kr_metrics_observe(kr_metrics_slot(m, 0), 2, 100);
	kr_metrics_read_total(m, 2, &v);
	q = kr_metrics_quantile(&v, 0.5);
	assert_true(q > 64 && q <= 128);
	q = kr_metrics_quantile(&v, 0.99);
	assert_true(q > 64 && q <= 128);
	kr_metrics_destroy(&m);
}

static void
test_metrics_quantile_edges(void **state)
{
	struct kr_metric_value v;

	(void)state;
	memset(&v, 0, sizeof(v));
	assert_true(kr_metrics_quantile(&v, 0.5) == 0);
	/* Everything in +Inf: the last finite bound. */
	v.value = 4;
	v.buckets[KR_METRICS_BUCKETS - 1] = 4;
	assert_true(kr_metrics_quantile(&v, 0.5) ==
		    kr_metrics_bucket_bound(KR_METRICS_BUCKETS - 2));
	/* Zeros and ones share bucket 0, interpolated over [0, 1]. */
	memset(&v, 0, sizeof(v));
	v.value = 10;
	v.buckets[0] = 10;
	assert_true(fabs(kr_metrics_quantile(&v, 0.5) - 0.5) < 1e-12);
}

static void
test_metrics_retire_keeps_counters(void **state)
{
	struct kr_metrics *m = make_registry(2);
	struct kr_metrics_slot *s = kr_metrics_slot(m, 1);
	struct kr_metrics_slot_info info;
	struct kr_metric_value v;

	(void)state;
	kr_metrics_slot_claim(s, 1234, 7);
	kr_metrics_slot_set_restarts(s, 2);
	kr_metrics_add(s, 0, 10);
	kr_metrics_gauge_set(s, 1, 5);
	kr_metrics_observe(s, 2, 100);
	kr_metrics_add(kr_metrics_slot(m, 0), 0, 1);

	kr_metrics_slot_retire(m, s);
	kr_metrics_slot_get_info(s, &info);
	assert_int_equal(info.pid, 0);
	assert_int_equal(info.index, 0);
	assert_int_equal(info.restarts, 0);
	kr_metrics_read_slot(s, 0, &v);
	assert_int_equal(v.value, 0);
	kr_metrics_read_total(m, 0, &v);
	assert_int_equal(v.value, 11);
	kr_metrics_read_total(m, 1, &v);
	assert_int_equal(v.value, 0); /* gauges of the dead are dropped */
	kr_metrics_read_total(m, 2, &v);
	assert_int_equal(v.value, 1);
	assert_int_equal(v.sum, 100);
	assert_int_equal(v.buckets[7], 1);

	/* The replacement starts from zero; totals keep growing. */
	kr_metrics_slot_claim(s, 1235, 7);
	kr_metrics_add(s, 0, 5);
	kr_metrics_observe(s, 2, 1);
	kr_metrics_read_slot(s, 0, &v);
	assert_int_equal(v.value, 5);
	kr_metrics_read_total(m, 0, &v);
	assert_int_equal(v.value, 16);
	kr_metrics_read_total(m, 2, &v);
	assert_int_equal(v.value, 2);
	assert_int_equal(v.sum, 101);
	kr_metrics_slot_retire(m, s);
	kr_metrics_read_total(m, 0, &v);
	assert_int_equal(v.value, 16);
	kr_metrics_destroy(&m);
}

static void
test_metrics_slot_info(void **state)
{
	struct kr_metrics *m = make_registry(3);
	struct kr_metrics_slot *s = kr_metrics_slot(m, 2);
	struct kr_metrics_slot_info info;
	struct kr_metric_value v;

	(void)state;
	kr_metrics_slot_get_info(s, &info);
	assert_int_equal(info.pid, 0);
	kr_metrics_add(s, 0, 3); /* stale figures a claim must clear */
	kr_metrics_slot_claim(s, 4242, 2);
	kr_metrics_slot_set_rss(s, 1 << 20);
	kr_metrics_slot_set_state(s, 3);
	kr_metrics_slot_set_restarts(s, 9);
	kr_metrics_slot_get_info(s, &info);
	assert_int_equal(info.pid, 4242);
	assert_int_equal(info.index, 2);
	assert_true(info.started_ms > 1700000000000LL);
	assert_int_equal(info.rss_bytes, 1 << 20);
	assert_int_equal(info.state, 3);
	assert_int_equal(info.restarts, 9);
	kr_metrics_read_slot(s, 0, &v);
	assert_int_equal(v.value, 0);
	kr_metrics_destroy(&m);
}

static void
test_metrics_shared_across_fork(void **state)
{
	struct kr_metrics *m = make_registry(2);
	struct kr_metrics_slot_info info;
	struct kr_metric_value v;
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kr_metrics_slot *s = kr_metrics_slot(m, 1);

		kr_metrics_slot_claim(s, getpid(), 1);
		kr_metrics_add(s, 0, 77);
		kr_metrics_gauge_set(s, 1, 5);
		kr_metrics_observe(s, 2, 1000);
		kr_metrics_slot_set_rss(s, 4096);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kr_metrics_slot_get_info(kr_metrics_slot(m, 1), &info);
	assert_int_equal(info.pid, pid);
	assert_int_equal(info.index, 1);
	assert_int_equal(info.rss_bytes, 4096);
	kr_metrics_read_slot(kr_metrics_slot(m, 1), 0, &v);
	assert_int_equal(v.value, 77);
	kr_metrics_read_total(m, 1, &v);
	assert_int_equal(v.value, 5);
	kr_metrics_read_total(m, 2, &v);
	assert_int_equal(v.value, 1);
	assert_int_equal(v.buckets[10], 1);
	kr_metrics_slot_retire(m, kr_metrics_slot(m, 1));
	kr_metrics_read_total(m, 0, &v);
	assert_int_equal(v.value, 77);
	kr_metrics_destroy(&m);
}

static void *
increment_thread(void *arg)
{
	struct kr_metrics_slot *s = arg;
	unsigned i;

	for (i = 0; i < TEST_INCREMENTS; i++) {
		kr_metrics_inc(s, 0);
		kr_metrics_gauge_add(s, 1, 1);
		kr_metrics_observe(s, 2, i);
	}
	return NULL;
}

static void
test_metrics_threads_exact(void **state)
{
	struct kr_metrics *m = make_registry(1);
	struct kr_metrics_slot *s = kr_metrics_slot(m, 0);
	pthread_t threads[TEST_THREADS];
	struct kr_metric_value v;
	uint64_t total = 0;
	unsigned i;

	(void)state;
	for (i = 0; i < TEST_THREADS; i++)
		assert_int_equal(
			pthread_create(&threads[i], NULL, increment_thread, s),
			0);
	for (i = 0; i < TEST_THREADS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	kr_metrics_read_total(m, 0, &v);
	assert_int_equal(v.value, TEST_THREADS * TEST_INCREMENTS);
	kr_metrics_read_total(m, 1, &v);
	assert_int_equal(v.value, TEST_THREADS * TEST_INCREMENTS);
	kr_metrics_read_total(m, 2, &v);
	assert_int_equal(v.value, TEST_THREADS * TEST_INCREMENTS);
	assert_int_equal(v.sum, (uint64_t)TEST_THREADS * TEST_INCREMENTS *
					(TEST_INCREMENTS - 1) / 2);
	for (i = 0; i < KR_METRICS_BUCKETS; i++)
		total += v.buckets[i];
	assert_int_equal(total, TEST_THREADS * TEST_INCREMENTS);
	kr_metrics_destroy(&m);
}

/* A string of n copies of c. */
static char *
repeat(char *buf, size_t n, char c)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* Each definition is tried in order against one registry. */
static const struct {
	const char *name;
	const char *labels;
	enum kr_metric_kind kind;
	double scale;
	int ok;
} define_cases[] = {
	{ "ok_total", "", KR_METRIC_COUNTER, 1, 1 },
	{ "ns:sub_total", "", KR_METRIC_COUNTER, 1, 1 },
	{ "_x", "", KR_METRIC_COUNTER, 1, 1 },
	{ "", "", KR_METRIC_COUNTER, 1, 0 },
	{ "9lives", "", KR_METRIC_COUNTER, 1, 0 },
	{ "has-dash", "", KR_METRIC_COUNTER, 1, 0 },
	{ "has space", "", KR_METRIC_COUNTER, 1, 0 },
	{ "ok_total", "", KR_METRIC_COUNTER, 1, 0 }, /* duplicate */
	{ "ok_total", "a=\"1\"", KR_METRIC_COUNTER, 1, 1 },
	{ "ok_total", "a=\"2\"", KR_METRIC_GAUGE, 1, 0 },
	{ "ok_total", "a=\"2\"", KR_METRIC_COUNTER, 1e6, 0 },
	{ "lab", "a=\"1\",b_2=\"x y,z=\"", KR_METRIC_GAUGE, 1, 1 },
	{ "lab", "a=\"1\",b_2=\"x y,z=\"", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "a=1", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "a=\"1\",", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "a=\"1\" ", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "a=\"1", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "a=\"1\"b=\"2\"", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "1a=\"1\"", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "a:b=\"1\"", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "__a=\"1\"", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "a=\"x\ny\"", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "a=\"x\\\"y\"", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "a=\"x\\y\"", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "a=\"1\",a=\"2\"", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", "=\"1\"", KR_METRIC_GAUGE, 1, 0 },
	{ "lab", ",", KR_METRIC_GAUGE, 1, 0 },
	{ "hist", "le=\"1\"", KR_METRIC_HISTOGRAM, 1, 0 },
	{ "gauge_le", "le=\"1\"", KR_METRIC_GAUGE, 1, 1 },
	{ "hist", "", KR_METRIC_HISTOGRAM, 1e6, 1 },
	{ "hist_count", "", KR_METRIC_COUNTER, 1, 0 },
	{ "hist_sum", "", KR_METRIC_GAUGE, 1, 0 },
	{ "hist_bucket", "", KR_METRIC_COUNTER, 1, 0 },
	{ "hist_total", "", KR_METRIC_COUNTER, 1, 1 },
	{ "cnt_sum", "", KR_METRIC_COUNTER, 1, 1 },
	{ "cnt", "", KR_METRIC_HISTOGRAM, 1, 0 },
	{ "neg", "", KR_METRIC_GAUGE, -1, 0 },
	{ "nan", "", KR_METRIC_GAUGE, NAN, 0 },
	{ "inf", "", KR_METRIC_GAUGE, INFINITY, 0 },
	{ "zero_scale", "", KR_METRIC_GAUGE, 0, 1 },
	{ "bad_kind", "", (enum kr_metric_kind)7, 1, 0 },
};

static void
test_metrics_define_errors(void **state)
{
	struct kr_metrics *m = kr_metrics_create();
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(define_cases) / sizeof(define_cases[0]); i++) {
		struct kr_metric_desc d = {
			.name = define_cases[i].name,
			.labels = define_cases[i].labels,
			.help = "h",
			.kind = define_cases[i].kind,
			.scale = define_cases[i].scale,
		};
		struct kr_err err;
		int id;

		kr_err_clear(&err);
		id = kr_metrics_define(m, &d, &err);
		if (define_cases[i].ok != (id >= 0))
			fail_msg("case %u %s{%s}: got %d (%s)", i,
				 define_cases[i].name, define_cases[i].labels,
				 id, err.msg);
		if (id < 0)
			assert_int_not_equal(err.kind, KR_ERR_NONE);
	}
	/* Same family needs the same help. */
	{
		struct kr_metric_desc d = { .name = "ok_total",
					    .labels = "a=\"3\"",
					    .help = "other",
					    .kind = KR_METRIC_COUNTER,
					    .scale = 1 };

		assert_int_equal(kr_metrics_define(m, &d, NULL), -1);
	}
	assert_true(kr_metrics_desc(m, kr_metrics_find(m, "zero_scale", ""))
			    ->scale == 1);
	kr_metrics_destroy(&m);
}

/* A part's table: ids land at their offsets, in table order; the first
 * refusal stops it (-1, or NULL from define_ids). */
struct part_ids {
	int b, a;
};

static void
test_metrics_define_table(void **state)
{
	static const struct kr_metric_def defs[] = {
		{ offsetof(struct part_ids, a),
		  { "a_total", "", "A.", KR_METRIC_COUNTER, 1 } },
		{ offsetof(struct part_ids, b),
		  { "b_seconds", "", "B.", KR_METRIC_HISTOGRAM,
		    KR_METRIC_SCALE_US } },
	};
	struct kr_metrics *m = kr_metrics_create();
	struct part_ids ids = { -1, -1 }, *got;
	struct kr_err err;

	(void)state;
	assert_int_equal(define(m, "first_total", "", KR_METRIC_COUNTER), 0);
	assert_int_equal(kr_metrics_define_table(m, defs, 2, &ids, &err), 0);
	assert_int_equal(ids.a, 1);
	assert_int_equal(ids.b, 2);
	assert_true(kr_metrics_desc(m, ids.b)->scale == 1e6);
	/* Defined already: refused at the first row. */
	kr_err_clear(&err);
	assert_null(kr_metrics_define_ids(m, defs, 2, sizeof(ids), &err));
	assert_int_not_equal(err.kind, KR_ERR_NONE);
	assert_int_equal(kr_metrics_count(m), 3);
	kr_metrics_destroy(&m);
	m = kr_metrics_create();
	got = kr_metrics_define_ids(m, defs, 2, sizeof(*got), &err);
	assert_non_null(got);
	assert_int_equal(got->a, 0);
	assert_int_equal(got->b, 1);
	free(got);
	kr_metrics_destroy(&m);
}

static void
test_metrics_define_length_limits(void **state)
{
	char name[KR_METRICS_NAME_MAX + 2];
	char help[KR_METRICS_HELP_MAX + 2];
	char labels[KR_METRICS_LABELS_MAX + 2];
	struct kr_metrics *m = kr_metrics_create();
	struct kr_metric_desc d = { .help = "", .labels = "", .scale = 1 };
	struct kr_err err;

	(void)state;
	d.name = repeat(name, KR_METRICS_NAME_MAX, 'n');
	assert_true(kr_metrics_define(m, &d, &err) >= 0);
	d.name = repeat(name, KR_METRICS_NAME_MAX + 1, 'n');
	assert_int_equal(kr_metrics_define(m, &d, &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);

	d.name = "help_limit";
	d.help = repeat(help, KR_METRICS_HELP_MAX, 'h');
	assert_true(kr_metrics_define(m, &d, &err) >= 0);
	d.name = "help_limit2";
	d.help = repeat(help, KR_METRICS_HELP_MAX + 1, 'h');
	assert_int_equal(kr_metrics_define(m, &d, &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);

	/* a="xxx...x": 4 bytes of syntax around the value. */
	d.name = "label_limit";
	d.help = "";
	repeat(labels, KR_METRICS_LABELS_MAX, 'x');
	memcpy(labels, "a=\"", 3);
	labels[KR_METRICS_LABELS_MAX - 1] = '"';
	d.labels = labels;
	assert_true(kr_metrics_define(m, &d, &err) >= 0);
	repeat(labels, KR_METRICS_LABELS_MAX + 1, 'x');
	memcpy(labels, "a=\"", 3);
	labels[KR_METRICS_LABELS_MAX] = '"';
	assert_int_equal(kr_metrics_define(m, &d, &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	kr_metrics_destroy(&m);
}

static void
test_metrics_define_too_many(void **state)
{
	struct kr_metrics *m = kr_metrics_create();
	struct kr_metric_value v;
	struct kr_err err;
	char name[32];
	unsigned i;
	int id;

	(void)state;
	for (i = 0; i < KR_METRICS_MAX; i++) {
		snprintf(name, sizeof(name), "m_%u", i);
		assert_int_equal(define(m, name, "", i % 3), (int)i);
	}
	assert_int_equal(kr_metrics_count(m), KR_METRICS_MAX);
	{
		struct kr_metric_desc d = { .name = "one_more", .scale = 1 };

		assert_int_equal(kr_metrics_define(m, &d, &err), -1);
		assert_int_equal(err.kind, KR_ERR_LIMIT);
	}
	/* A full registry still maps and works. */
	assert_int_equal(kr_metrics_map(m, 4, &err), 0);
	id = KR_METRICS_MAX - 1;
	while (kr_metrics_desc(m, id)->kind != KR_METRIC_HISTOGRAM)
		id--;
	kr_metrics_observe(kr_metrics_slot(m, 3), id, 5);
	kr_metrics_read_total(m, id, &v);
	assert_int_equal(v.sum, 5);
	kr_metrics_destroy(&m);
}

static void
test_metrics_define_after_map(void **state)
{
	struct kr_metrics *m = make_registry(1);
	struct kr_metric_desc d = { .name = "late", .scale = 1 };
	struct kr_err err;

	(void)state;
	assert_int_equal(kr_metrics_define(m, &d, &err), -1);
	assert_int_equal(err.kind, KR_ERR_INTERNAL);
	assert_int_equal(kr_metrics_map(m, 1, &err), -1);
	assert_int_equal(kr_metrics_count(m), 3);
	kr_metrics_destroy(&m);
}

static void
test_metrics_map_slot_limit(void **state)
{
	struct kr_metrics *m = kr_metrics_create();
	struct kr_err err;

	(void)state;
	assert_int_equal(define(m, "c_total", "", KR_METRIC_COUNTER), 0);
	assert_int_equal(kr_metrics_map(m, 0, &err), -1);
	assert_int_equal(kr_metrics_map(m, KR_METRICS_SLOTS_MAX + 1, &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	assert_int_equal(kr_metrics_map(m, KR_METRICS_SLOTS_MAX, &err), 0);
	assert_int_equal(kr_metrics_slots(m), KR_METRICS_SLOTS_MAX);
	kr_metrics_inc(kr_metrics_slot(m, KR_METRICS_SLOTS_MAX - 1), 0);
	kr_metrics_destroy(&m);
}

static void
test_metrics_find_desc_count(void **state)
{
	struct kr_metrics *m = kr_metrics_create();
	struct kr_metric_desc d = { .name = "q_seconds",
				    .labels = "node=\"3\"",
				    .help = "Query latency.",
				    .kind = KR_METRIC_HISTOGRAM,
				    .scale = 1e6 };
	const struct kr_metric_desc *got;
	char name[] = "q_seconds";

	(void)state;
	assert_int_equal(kr_metrics_count(m), 0);
	assert_int_equal(kr_metrics_find(m, "q_seconds", ""), -1);
	d.name = name;
	assert_int_equal(kr_metrics_define(m, &d, NULL), 0);
	name[0] = 'x'; /* the registry holds its own copy */
	assert_string_equal(name, "x_seconds");
	d.name = "q_seconds";
	d.labels = "node=\"4\"";
	assert_int_equal(kr_metrics_define(m, &d, NULL), 1);
	assert_int_equal(define(m, "c_total", "", KR_METRIC_COUNTER), 2);
	assert_int_equal(kr_metrics_count(m), 3);
	assert_int_equal(kr_metrics_find(m, "q_seconds", "node=\"4\""), 1);
	assert_int_equal(kr_metrics_find(m, "q_seconds", "node=\"3\""), 0);
	assert_int_equal(kr_metrics_find(m, "q_seconds", ""), -1);
	assert_int_equal(kr_metrics_find(m, "c_total", ""), 2);
	assert_int_equal(kr_metrics_find(m, "c_total", NULL), 2);
	got = kr_metrics_desc(m, 0);
	assert_string_equal(got->name, "q_seconds");
	assert_string_equal(got->labels, "node=\"3\"");
	assert_string_equal(got->help, "Query latency.");
	assert_int_equal(got->kind, KR_METRIC_HISTOGRAM);
	assert_true(got->scale == 1e6);
	assert_int_equal(kr_metrics_slots(m), 0);
	kr_metrics_destroy(&m);
}

/* Runs fn in a child and reports whether it died of SIGABRT. */
static int
dies_with_abort(void (*fn)(struct kr_metrics *), struct kr_metrics *m)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		fn(m);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void
add_to_gauge(struct kr_metrics *m)
{
	kr_metrics_add(kr_metrics_slot(m, 0), 1, 1);
}

static void
observe_counter(struct kr_metrics *m)
{
	kr_metrics_observe(kr_metrics_slot(m, 0), 0, 1);
}

static void
set_bad_id(struct kr_metrics *m)
{
	kr_metrics_gauge_set(kr_metrics_slot(m, 0), 3, 1);
}

static void
slot_out_of_range(struct kr_metrics *m)
{
	kr_metrics_slot(m, 1);
}

static void
test_metrics_misuse_panics(void **state)
{
	struct kr_metrics *m = make_registry(1);

	(void)state;
	assert_true(dies_with_abort(add_to_gauge, m));
	assert_true(dies_with_abort(observe_counter, m));
	assert_true(dies_with_abort(set_bad_id, m));
	assert_true(dies_with_abort(slot_out_of_range, m));
	kr_metrics_destroy(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_counter_gauge),
		cmocka_unit_test(test_metrics_histogram),
		cmocka_unit_test(test_metrics_bucket_boundaries),
		cmocka_unit_test(test_metrics_quantile_uniform),
		cmocka_unit_test(test_metrics_quantile_constant),
		cmocka_unit_test(test_metrics_quantile_edges),
		cmocka_unit_test(test_metrics_retire_keeps_counters),
		cmocka_unit_test(test_metrics_slot_info),
		cmocka_unit_test(test_metrics_shared_across_fork),
		cmocka_unit_test(test_metrics_threads_exact),
		cmocka_unit_test(test_metrics_define_errors),
		cmocka_unit_test(test_metrics_define_table),
		cmocka_unit_test(test_metrics_define_length_limits),
		cmocka_unit_test(test_metrics_define_too_many),
		cmocka_unit_test(test_metrics_define_after_map),
		cmocka_unit_test(test_metrics_map_slot_limit),
		cmocka_unit_test(test_metrics_find_desc_count),
		cmocka_unit_test(test_metrics_misuse_panics),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
