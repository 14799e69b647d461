/* cmocka tests for admin/prom: Prometheus text exposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "admin/prom.h"
#include "lib/metrics.h"

#define CHECK_FAMILIES_MAX 64
#define CHECK_NAME_MAX 128

/* What the exposition checker remembers between lines. */
struct check_state {
	char seen_help[CHECK_FAMILIES_MAX][CHECK_NAME_MAX];
	char seen_type[CHECK_FAMILIES_MAX][CHECK_NAME_MAX];
	unsigned n_help, n_type;
	char family[CHECK_NAME_MAX]; /* of the last TYPE line */
	char type[16];
	double prev_le;	    /* histogram: last le within a label set */
	double prev_cum;    /* histogram: last cumulative count */
	double inf_cum;	    /* the le="+Inf" count, -1 until seen */
	unsigned n_samples; /* of all families */
};

static int
define(struct kr_metrics *m, const char *name, const char *labels,
       const char *help, enum kr_metric_kind kind, double scale)
{
	struct kr_metric_desc d = {
		.name = name,
		.labels = labels,
		.help = help,
		.kind = kind,
		.scale = scale,
	};
	struct kr_err err;
	int id = kr_metrics_define(m, &d, &err);

	if (id < 0)
		fail_msg("define %s: %s", name, err.msg);
	return id;
}

/* The rendered text (ended by kr_prom_end) as a NUL-terminated string
 * (caller frees). */
static char *
render_format(const struct kr_metrics *m, enum kr_prom_format f)
{
	struct evbuffer *out = evbuffer_new();
	size_t len;
	char *text;

	assert_non_null(out);
	assert_int_equal(kr_prom_render(m, f, out), 0);
	assert_int_equal(kr_prom_end(f, out), 0);
	len = evbuffer_get_length(out);
	text = malloc(len + 1);
	assert_non_null(text);
	assert_int_equal(evbuffer_remove(out, text, len), (int)len);
	text[len] = '\0';
	evbuffer_free(out);
	return text;
}

static char *
render(const struct kr_metrics *m)
{
	return render_format(m, KR_PROM_TEXT);
}

static bool
check_name_char(char c, bool first, bool colon)
{
	return isalpha((unsigned char)c) || c == '_' || (colon && c == ':') ||
	       (!first && isdigit((unsigned char)c));
}

/* Copies a metric (colon) or label name at *pp into buf. */
static void
check_name(const char **pp, char *buf, bool colon)
{
	const char *p = *pp;
	size_t n = 0;

	assert_true(check_name_char(*p, true, colon));
	while (check_name_char(*p, n == 0, colon)) {
		assert_true(n + 1 < CHECK_NAME_MAX);
		buf[n++] = *p++;
	}
	buf[n] = '\0';
	*pp = p;
}

static double
check_float(const char *s)
{
	char *end;
	double v;

	if (strcmp(s, "+Inf") == 0)
		return INFINITY;
	if (strcmp(s, "-Inf") == 0)
		return -INFINITY;
	if (strcmp(s, "NaN") == 0)
		return NAN;
	assert_true(*s != '\0' && !isspace((unsigned char)*s));
	v = strtod(s, &end);
	if (*end != '\0')
		fail_msg("not a float: '%s'", s);
	return v;
}

static void
check_once(char seen[][CHECK_NAME_MAX], unsigned *n, const char *name)
{
	unsigned i;

	for (i = 0; i < *n; i++) {
		if (strcmp(seen[i], name) == 0)
			fail_msg("second HELP or TYPE for %s", name);
	}
	assert_true(*n < CHECK_FAMILIES_MAX);
	snprintf(seen[(*n)++], CHECK_NAME_MAX, "%s", name);
}

/* "# HELP name text" or "# TYPE name type". */
static void
check_comment(struct check_state *st, const char *p)
{
	char name[CHECK_NAME_MAX];
	bool help = strncmp(p, "# HELP ", 7) == 0;

	assert_true(help || strncmp(p, "# TYPE ", 7) == 0);
	p += 7;
	check_name(&p, name, true);
	if (help) {
		check_once(st->seen_help, &st->n_help, name);
		assert_true(*p == '\0' || *p == ' ');
		for (; *p != '\0'; p++) {
			if (*p == '\\') {
				p++;
				assert_true(*p == '\\' || *p == 'n');
			}
		}
		return;
	}
	check_once(st->seen_type, &st->n_type, name);
	assert_true(*p++ == ' ');
	assert_true(strcmp(p, "counter") == 0 || strcmp(p, "gauge") == 0 ||
		    strcmp(p, "histogram") == 0 || strcmp(p, "summary") == 0 ||
		    strcmp(p, "untyped") == 0);
	snprintf(st->family, sizeof(st->family), "%s", name);
	snprintf(st->type, sizeof(st->type), "%s", p);
	st->prev_le = -INFINITY;
	st->prev_cum = 0;
	st->inf_cum = -1;
}

/* {name="value",...}; copies the le value, if any, into le. */
static void
check_labels(const char **pp, char *le)
{
	const char *p = *pp;
	char name[CHECK_NAME_MAX];
	size_t n;

	le[0] = '\0';
	while (*p != '}') {
		check_name(&p, name, false);
		assert_true(p[0] == '=' && p[1] == '"');
		for (p += 2, n = 0; *p != '"'; p++) {
			assert_true(*p != '\0');
			if (*p == '\\') {
				p++;
				assert_true(*p == '\\' || *p == '"' ||
					    *p == 'n');
			}
			if (strcmp(name, "le") == 0) {
				assert_true(n + 1 < CHECK_NAME_MAX);
				le[n++] = *p;
				le[n] = '\0';
			}
		}
		p++;
		assert_true(*p == ',' || *p == '}');
		if (*p == ',')
			p++;
	}
	*pp = p + 1;
}

/* Histogram series: cumulative buckets with rising le, ending in +Inf,
 * whose count _count repeats. */
static void
check_histogram(struct check_state *st, const char *suffix, const char *le,
		double v)
{
	if (strcmp(suffix, "_bucket") == 0) {
		double bound;

		assert_true(le[0] != '\0');
		bound = check_float(le);
		assert_true(bound > st->prev_le);
		assert_true(v >= st->prev_cum);
		st->prev_le = bound;
		st->prev_cum = v;
		if (isinf(bound)) {
			st->inf_cum = v;
			st->prev_le = -INFINITY;
			st->prev_cum = 0;
		}
	} else if (strcmp(suffix, "_count") == 0) {
		assert_true(st->inf_cum >= 0);
		assert_true(v == st->inf_cum);
		st->inf_cum = -1;
	} else {
		assert_string_equal(suffix, "_sum");
	}
}

static void
check_sample(struct check_state *st, const char *p)
{
	char name[CHECK_NAME_MAX], le[CHECK_NAME_MAX];
	size_t flen = strlen(st->family);
	const char *space;
	char value[64];
	double v;

	check_name(&p, name, true);
	le[0] = '\0';
	if (*p == '{') {
		p++;
		check_labels(&p, le);
	}
	assert_true(*p++ == ' ');
	space = strchr(p, ' ');
	/* An optional timestamp follows the value. */
	snprintf(value, sizeof(value), "%.*s",
		 (int)(space != NULL ? (size_t)(space - p) : strlen(p)), p);
	v = check_float(value);
	if (space != NULL) {
		char *end;

		(void)strtoll(space + 1, &end, 10);
		assert_true(end != space + 1 && *end == '\0');
	}
	/* Samples belong to the family of the TYPE line just before. */
	assert_true(st->family[0] != '\0');
	assert_true(strncmp(name, st->family, flen) == 0);
	if (strcmp(st->type, "histogram") == 0)
		check_histogram(st, name + flen, le, v);
	else
		assert_string_equal(name + flen, "");
	st->n_samples++;
}

/* Checks text line by line against exposition format 0.0.4 and our own
 * promises (families grouped, HELP and TYPE once each). Returns the
 * number of samples. */
static unsigned
check_exposition(const char *text)
{
	struct check_state st;
	char line[1024];
	const char *p = text, *nl;

	memset(&st, 0, sizeof(st));
	while (*p != '\0') {
		nl = strchr(p, '\n');
		assert_non_null(nl); /* every line ends in \n */
		assert_true((size_t)(nl - p) < sizeof(line));
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (line[0] == '#')
			check_comment(&st, line);
		else
			check_sample(&st, line);
		p = nl + 1;
	}
	assert_true(st.inf_cum < 0); /* no histogram left without _count */
	return st.n_samples;
}

/* One counter family with two label sets (defined apart), a gauge and a
 * histogram shown in seconds, written from two slots. */
static struct kr_metrics *
make_small(void)
{
	struct kr_metrics *m = kr_metrics_create();
	struct kr_metrics_slot *a, *b;

	define(m, "t_requests_total", "method=\"get\"", "Requests served.",
	       KR_METRIC_COUNTER, 1);
	define(m, "t_inflight", "", "Requests in flight.", KR_METRIC_GAUGE, 1);
	define(m, "t_requests_total", "method=\"put\"", "Requests served.",
	       KR_METRIC_COUNTER, 1);
	define(m, "t_latency_seconds", "", "Request latency.",
	       KR_METRIC_HISTOGRAM, 1e6);
	assert_int_equal(kr_metrics_map(m, 2, NULL), 0);
	a = kr_metrics_slot(m, 0);
	b = kr_metrics_slot(m, 1);
	kr_metrics_add(a, 0, 40);
	kr_metrics_add(b, 0, 2);
	kr_metrics_add(b, 2, 7);
	kr_metrics_gauge_set(a, 1, 3);
	kr_metrics_gauge_set(b, 1, -1);
	kr_metrics_observe(a, 3, 3);
	kr_metrics_observe(b, 3, 1000);
	return m;
}

static const char small_expected[] =
	"# HELP t_requests_total Requests served.\n"
	"# TYPE t_requests_total counter\n"
	"t_requests_total{method=\"get\"} 42\n"
	"t_requests_total{method=\"put\"} 7\n"
	"# HELP t_inflight Requests in flight.\n"
	"# TYPE t_inflight gauge\n"
	"t_inflight 2\n"
	"# HELP t_latency_seconds Request latency.\n"
	"# TYPE t_latency_seconds histogram\n"
	"t_latency_seconds_bucket{le=\"1e-06\"} 0\n"
	"t_latency_seconds_bucket{le=\"2e-06\"} 0\n"
	"t_latency_seconds_bucket{le=\"4e-06\"} 1\n"
	"t_latency_seconds_bucket{le=\"8e-06\"} 1\n"
	"t_latency_seconds_bucket{le=\"1.6e-05\"} 1\n"
	"t_latency_seconds_bucket{le=\"3.2e-05\"} 1\n"
	"t_latency_seconds_bucket{le=\"6.4e-05\"} 1\n"
	"t_latency_seconds_bucket{le=\"0.000128\"} 1\n"
	"t_latency_seconds_bucket{le=\"0.000256\"} 1\n"
	"t_latency_seconds_bucket{le=\"0.000512\"} 1\n"
	"t_latency_seconds_bucket{le=\"0.001024\"} 2\n"
	"t_latency_seconds_bucket{le=\"0.002048\"} 2\n"
	"t_latency_seconds_bucket{le=\"0.004096\"} 2\n"
	"t_latency_seconds_bucket{le=\"0.008192\"} 2\n"
	"t_latency_seconds_bucket{le=\"0.016384\"} 2\n"
	"t_latency_seconds_bucket{le=\"0.032768\"} 2\n"
	"t_latency_seconds_bucket{le=\"0.065536\"} 2\n"
	"t_latency_seconds_bucket{le=\"0.131072\"} 2\n"
	"t_latency_seconds_bucket{le=\"0.262144\"} 2\n"
	"t_latency_seconds_bucket{le=\"0.524288\"} 2\n"
	"t_latency_seconds_bucket{le=\"1.048576\"} 2\n"
	"t_latency_seconds_bucket{le=\"2.097152\"} 2\n"
	"t_latency_seconds_bucket{le=\"4.194304\"} 2\n"
	"t_latency_seconds_bucket{le=\"8.388608\"} 2\n"
	"t_latency_seconds_bucket{le=\"16.777216\"} 2\n"
	"t_latency_seconds_bucket{le=\"33.554432\"} 2\n"
	"t_latency_seconds_bucket{le=\"67.108864\"} 2\n"
	"t_latency_seconds_bucket{le=\"134.217728\"} 2\n"
	"t_latency_seconds_bucket{le=\"268.435456\"} 2\n"
	"t_latency_seconds_bucket{le=\"536.870912\"} 2\n"
	"t_latency_seconds_bucket{le=\"1073.741824\"} 2\n"
	"t_latency_seconds_bucket{le=\"+Inf\"} 2\n"
	"t_latency_seconds_sum 0.001003\n"
	"t_latency_seconds_count 2\n";

static void
test_prom_small_exact(void **state)
{
	struct kr_metrics *m = make_small();
	char *text = render(m);

	(void)state;
	assert_string_equal(text, small_expected);
	assert_int_equal(check_exposition(text), 3 + KR_METRICS_BUCKETS + 2);
	free(text);
	kr_metrics_destroy(&m);
}

/* The text after `prefix` on the line that starts with it, or NULL. */
static const char *
find_line(const char *text, const char *prefix)
{
	const char *p = text;
	size_t n = strlen(prefix);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, n) == 0)
			return p + n;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

static void
test_prom_histogram_labels_cumulative(void **state)
{
	struct kr_metrics *m = kr_metrics_create();
	struct kr_metrics_slot *s;
	const char *line;
	char *text;
	uint64_t i;

	(void)state;
	define(m, "t_size_bytes", "node=\"1\"", "Sizes.", KR_METRIC_HISTOGRAM,
	       1);
	define(m, "t_size_bytes", "node=\"2\"", "Sizes.", KR_METRIC_HISTOGRAM,
	       1);
	assert_int_equal(kr_metrics_map(m, 1, NULL), 0);
	s = kr_metrics_slot(m, 0);
	for (i = 1; i <= 100; i++)
		kr_metrics_observe(s, 0, i);
	kr_metrics_observe(s, 0, UINT64_C(1) << 40); /* +Inf only */
	kr_metrics_observe(s, 1, 0);
	text = render(m);
	assert_int_equal(check_exposition(text), 2 * (KR_METRICS_BUCKETS + 2));
	line = find_line(text, "t_size_bytes_bucket{node=\"1\",le=\"1\"} ");
	assert_non_null(line);
	assert_int_equal(strtol(line, NULL, 10), 1);
	line = find_line(text, "t_size_bytes_bucket{node=\"1\",le=\"64\"} ");
	assert_non_null(line);
	assert_int_equal(strtol(line, NULL, 10), 64);
	line = find_line(text, "t_size_bytes_bucket{node=\"1\",le=\"128\"} ");
	assert_non_null(line);
	assert_int_equal(strtol(line, NULL, 10), 100);
	line = find_line(text,
			 "t_size_bytes_bucket{node=\"1\",le=\"1073741824\"} ");
	assert_non_null(line);
	assert_int_equal(strtol(line, NULL, 10), 100);
	line = find_line(text, "t_size_bytes_bucket{node=\"1\",le=\"+Inf\"} ");
	assert_non_null(line);
	assert_int_equal(strtol(line, NULL, 10), 101);
	line = find_line(text, "t_size_bytes_count{node=\"1\"} ");
	assert_non_null(line);
	assert_int_equal(strtol(line, NULL, 10), 101);
	line = find_line(text, "t_size_bytes_sum{node=\"1\"} ");
	assert_non_null(line);
	assert_int_equal(strtoull(line, NULL, 10), 5050 + (UINT64_C(1) << 40));
	line = find_line(text, "t_size_bytes_bucket{node=\"2\",le=\"1\"} ");
	assert_non_null(line);
	assert_int_equal(strtol(line, NULL, 10), 1);
	/* One header for the family, before both label sets. */
	assert_ptr_equal(strstr(text, "# TYPE t_size_bytes histogram\n"),
			 text + strlen("# HELP t_size_bytes Sizes.\n"));
	assert_null(strstr(strstr(text, "# TYPE") + 1, "# TYPE"));
	free(text);
	kr_metrics_destroy(&m);
}

static void
test_prom_family_grouped(void **state)
{
	struct kr_metrics *m = kr_metrics_create();
	char *text;

	(void)state;
	define(m, "t_a", "x=\"1\"", "A.", KR_METRIC_GAUGE, 1);
	define(m, "t_b", "", "B.", KR_METRIC_COUNTER, 1);
	define(m, "t_a", "x=\"2\"", "A.", KR_METRIC_GAUGE, 1);
	define(m, "t_c", "", "", KR_METRIC_COUNTER, 1);
	define(m, "t_a", "x=\"3\"", "A.", KR_METRIC_GAUGE, 1);
	assert_int_equal(kr_metrics_map(m, 1, NULL), 0);
	kr_metrics_gauge_set(kr_metrics_slot(m, 0), 4, -5);
	text = render(m);
	assert_string_equal(text, "# HELP t_a A.\n"
				  "# TYPE t_a gauge\n"
				  "t_a{x=\"1\"} 0\n"
				  "t_a{x=\"2\"} 0\n"
				  "t_a{x=\"3\"} -5\n"
				  "# HELP t_b B.\n"
				  "# TYPE t_b counter\n"
				  "t_b 0\n"
				  "# HELP t_c\n"
				  "# TYPE t_c counter\n"
				  "t_c 0\n");
	assert_int_equal(check_exposition(text), 5);
	free(text);
	kr_metrics_destroy(&m);
}

static void
test_prom_values_and_escaping(void **state)
{
	struct kr_metrics *m = kr_metrics_create();
	struct kr_metrics_slot *s;
	char *text;

	(void)state;
	define(m, "t_big_total", "", "Back\\slash and\nnewline.",
	       KR_METRIC_COUNTER, 1);
	define(m, "t_ms_seconds_total", "", "Scaled.", KR_METRIC_COUNTER, 1e3);
	define(m, "t_third", "", "Thirds.", KR_METRIC_GAUGE, 3);
	assert_int_equal(kr_metrics_map(m, 1, NULL), 0);
	s = kr_metrics_slot(m, 0);
	/* Past 2^53: a double would round it. */
	kr_metrics_add(s, 0, UINT64_C(9007199254740993));
	kr_metrics_add(s, 1, 1500);
	kr_metrics_gauge_set(s, 2, 1);
	text = render(m);
	assert_string_equal(text,
			    "# HELP t_big_total Back\\\\slash and\\nnewline.\n"
			    "# TYPE t_big_total counter\n"
			    "t_big_total 9007199254740993\n"
			    "# HELP t_ms_seconds_total Scaled.\n"
			    "# TYPE t_ms_seconds_total counter\n"
			    "t_ms_seconds_total 1.5\n"
			    "# HELP t_third Thirds.\n"
			    "# TYPE t_third gauge\n"
			    "t_third 0.3333333333333333\n");
	assert_int_equal(check_exposition(text), 3);
	/* Shortest round trip: the printed value reads back exactly. */
	assert_true(strtod(strstr(text, "\nt_third ") + 9, NULL) == 1.0 / 3);
	free(text);
	kr_metrics_destroy(&m);
}

static void
test_prom_empty_registry(void **state)
{
	struct kr_metrics *m = kr_metrics_create();
	char *text;

	(void)state;
	assert_int_equal(kr_metrics_map(m, 1, NULL), 0);
	text = render(m);
	assert_string_equal(text, "");
	free(text);
	kr_metrics_destroy(&m);
}

/* Where a locale with a decimal comma is installed, the output must not
 * change; the C locale is always there and must not be disturbed. */
static void
test_prom_locale_independent(void **state)
{
	static const char *const locales[] = { "de_DE.UTF-8", "de_DE.utf8",
					       "fr_FR.UTF-8", "ru_RU.UTF-8" };
	struct kr_metrics *m = make_small();
	unsigned i;
	char *text;

	(void)state;
	for (i = 0; i < sizeof(locales) / sizeof(locales[0]); i++) {
		if (setlocale(LC_ALL, locales[i]) == NULL)
			continue;
		text = render(m);
		assert_string_equal(text, small_expected);
		free(text);
	}
	setlocale(LC_ALL, "C");
	text = render(m);
	assert_string_equal(text, small_expected);
	free(text);
	assert_string_equal(localeconv()->decimal_point, ".");
	kr_metrics_destroy(&m);
}

/* s with the first `from` replaced by `to` (caller frees). */
static char *
replace_once(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	size_t len = strlen(s) - strlen(from) + strlen(to) + 1;
	char *r = malloc(len);

	assert_non_null(at);
	assert_non_null(r);
	snprintf(r, len, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
	return r;
}

/* OpenMetrics: the same samples; the counter family is named without
 * "_total"; the gauge and the histogram as in 0.0.4; "# EOF" last. */
static void
test_prom_openmetrics_exact(void **state)
{
	struct kr_metrics *m = make_small();
	char *a = replace_once(small_expected,
			       "# HELP t_requests_total Requests served.\n"
			       "# TYPE t_requests_total counter\n",
			       "# HELP t_requests Requests served.\n"
			       "# TYPE t_requests counter\n");
	char *expected = replace_once(a, "t_latency_seconds_count 2\n",
				      "t_latency_seconds_count 2\n# EOF\n");
	char *text = render_format(m, KR_PROM_OPENMETRICS);

	(void)state;
	assert_string_equal(text, expected);
	/* The samples keep their names: a dashboard reads both. */
	assert_non_null(
		strstr(text, "\nt_requests_total{method=\"get\"} 42\n"));
	assert_non_null(
		strstr(text, "\nt_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
	free(text);
	free(expected);
	free(a);
	kr_metrics_destroy(&m);
}

/* A counter whose family name a gauge holds (kurier_lmtp_sessions and
 * kurier_lmtp_sessions_total), and one without "_total", stay
 * "unknown" families with their full names; HELP escapes '"' too. */
static void
test_prom_openmetrics_unknown_and_escaping(void **state)
{
	struct kr_metrics *m = kr_metrics_create();
	char *text;

	(void)state;
	define(m, "t_sessions", "", "Open.", KR_METRIC_GAUGE, 1);
	define(m, "t_sessions_total", "", "Opened.", KR_METRIC_COUNTER, 1);
	define(m, "t_odd", "", "Say \"hi\"\\\n.", KR_METRIC_COUNTER, 1);
	assert_int_equal(kr_metrics_map(m, 1, NULL), 0);
	kr_metrics_add(kr_metrics_slot(m, 0), 1, 5);
	text = render_format(m, KR_PROM_OPENMETRICS);
	assert_string_equal(text, "# HELP t_sessions Open.\n"
				  "# TYPE t_sessions gauge\n"
				  "t_sessions 0\n"
				  "# HELP t_sessions_total Opened.\n"
				  "# TYPE t_sessions_total unknown\n"
				  "t_sessions_total 5\n"
				  "# HELP t_odd Say \\\"hi\\\"\\\\\\n.\n"
				  "# TYPE t_odd unknown\n"
				  "t_odd 0\n"
				  "# EOF\n");
	free(text);
	text = render(m);
	assert_non_null(strstr(text, "# TYPE t_sessions_total counter\n"));
	assert_non_null(strstr(text, "# HELP t_odd Say \"hi\"\\\\\\n.\n"));
	assert_null(strstr(text, "# EOF"));
	free(text);
	kr_metrics_destroy(&m);
}

/* A family written outside the registry (the admin's rule hits). */
static void
test_prom_family_outside(void **state)
{
	struct evbuffer *out = evbuffer_new();
	char buf[256];
	int n;

	(void)state;
	assert_int_equal(kr_prom_family(out, KR_PROM_OPENMETRICS,
					"t_hits_total", "Hits.",
					KR_METRIC_COUNTER, false),
			 0);
	assert_int_equal(kr_prom_family(out, KR_PROM_TEXT, "t_hits_total",
					"Hits.", KR_METRIC_COUNTER, false),
			 0);
	n = evbuffer_remove(out, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "# HELP t_hits Hits.\n"
				 "# TYPE t_hits counter\n"
				 "# HELP t_hits_total Hits.\n"
				 "# TYPE t_hits_total counter\n");
	evbuffer_free(out);
}

static void
test_prom_accept(void **state)
{
	static const struct {
		const char *accept;
		enum kr_prom_format f;
	} cases[] = {
		{ NULL, KR_PROM_TEXT },
		{ "", KR_PROM_TEXT },
		{ "*/*", KR_PROM_TEXT },
		{ "text/plain", KR_PROM_TEXT },
		{ "application/openmetrics-text", KR_PROM_OPENMETRICS },
		{ "Application/OpenMetrics-Text ; version=1.0.0",
		  KR_PROM_OPENMETRICS },
		/* Prometheus 2.x scrapers. */
		{ "application/openmetrics-text;version=1.0.0,application/"
		  "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0."
		  "0.4;q=0.5,*/*;q=0.1",
		  KR_PROM_OPENMETRICS },
		{ "text/plain;version=0.0.4;q=1,application/openmetrics-text;"
		  "q=0.5",
		  KR_PROM_TEXT },
		{ "application/openmetrics-text;q=0, text/plain",
		  KR_PROM_TEXT },
		{ "application/openmetrics-text;q=0", KR_PROM_TEXT },
		{ "application/openmetrics-text;q=bad", KR_PROM_TEXT },
		{ "text/html, application/openmetrics-text",
		  KR_PROM_OPENMETRICS },
		{ "application/openmetrics-textx", KR_PROM_TEXT },
		{ ",,, application/openmetrics-text ;q=0.9 ,",
		  KR_PROM_OPENMETRICS },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (kr_prom_format_for_accept(cases[i].accept) != cases[i].f)
			fail_msg("case %zu: '%s'", i,
				 cases[i].accept ? cases[i].accept : "NULL");
	}
	assert_string_equal(kr_prom_content_type(KR_PROM_TEXT),
			    "text/plain; version=0.0.4");
	assert_string_equal(
		kr_prom_content_type(KR_PROM_OPENMETRICS),
		"application/openmetrics-text; version=1.0.0; charset=utf-8");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prom_small_exact),
		cmocka_unit_test(test_prom_histogram_labels_cumulative),
		cmocka_unit_test(test_prom_family_grouped),
		cmocka_unit_test(test_prom_values_and_escaping),
		cmocka_unit_test(test_prom_empty_registry),
		cmocka_unit_test(test_prom_locale_independent),
		cmocka_unit_test(test_prom_openmetrics_exact),
		cmocka_unit_test(test_prom_openmetrics_unknown_and_escaping),
		cmocka_unit_test(test_prom_family_outside),
		cmocka_unit_test(test_prom_accept),
	};

	return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
