/* Prometheus text exposition, format 0.0.4:
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 * Label sets were validated by kr_metrics_define (nothing to escape), so
 * only HELP text is escaped here. */
#include "admin/prom.h"

#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Enough for "%.17g" of any double ("-1.2345678901234567e-308"). */
#define PROM_NUM_MAX 32

static const char *
prom_type_name(enum kr_metric_kind kind)
{
	switch (kind) {
	case KR_METRIC_COUNTER:
		return "counter";
	case KR_METRIC_GAUGE:
		return "gauge";
	case KR_METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

/* The shortest "%g" form that reads back as the same double, so scrapers
 * see 0.001 rather than 0.0010000000000000000208. The caller has switched
 * the thread to the C locale: the decimal point is always '.'. */
static void
prom_format_double(double v, char buf[PROM_NUM_MAX])
{
	int prec;

	if (isnan(v)) {
		(void)snprintf(buf, PROM_NUM_MAX, "NaN");
		return;
	}
	if (isinf(v)) {
		(void)snprintf(buf, PROM_NUM_MAX, "%s",
			       v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		(void)snprintf(buf, PROM_NUM_MAX, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	(void)snprintf(buf, PROM_NUM_MAX, "%.17g", v);
}

/* Unscaled integers are printed exactly; a double would round counters
 * past 2^53. */
static void
prom_format_u64(uint64_t v, double scale, char buf[PROM_NUM_MAX])
{
	if (scale == 1)
		(void)snprintf(buf, PROM_NUM_MAX, "%" PRIu64, v);
	else
		prom_format_double((double)v / scale, buf);
}

static void
prom_format_i64(int64_t v, double scale, char buf[PROM_NUM_MAX])
{
	if (scale == 1)
		(void)snprintf(buf, PROM_NUM_MAX, "%" PRId64, v);
	else
		prom_format_double((double)v / scale, buf);
}

/* One sample line. le, when not NULL, is appended to the label set. */
static int
prom_sample(struct evbuffer *out, const char *name, const char *suffix,
	    const char *labels, const char *le, const char *value)
{
	int rc;

	if (le != NULL)
		rc = evbuffer_add_printf(
			out, "%s%s{%s%sle=\"%s\"} %s\n", name, suffix, labels,
			labels[0] != '\0' ? "," : "", le, value);
	else if (labels[0] != '\0')
		rc = evbuffer_add_printf(out, "%s%s{%s} %s\n", name, suffix,
					 labels, value);
	else
		rc = evbuffer_add_printf(out, "%s%s %s\n", name, suffix, value);
	return rc < 0 ? -1 : 0;
}

/* HELP text escapes only backslash and newline (format 0.0.4). */
static int
prom_help(struct evbuffer *out, const struct kr_metric_desc *d)
{
	const char *p = d->help;

	if (evbuffer_add_printf(out, "# HELP %s", d->name) < 0)
		return -1;
	if (*p != '\0' && evbuffer_add(out, " ", 1) < 0)
		return -1;
	while (*p != '\0') {
		size_t n = strcspn(p, "\\\n");
		if (n > 0 && evbuffer_add(out, p, n) < 0)
			return -1;
		p += n;
		if (*p == '\0')
			break;
		if (evbuffer_add(out, *p == '\\' ? "\\\\" : "\\n", 2) < 0)
			return -1;
		p++;
	}
	if (evbuffer_add_printf(out, "\n# TYPE %s %s\n", d->name,
				prom_type_name(d->kind)) < 0)
		return -1;
	return 0;
}

static int
prom_histogram(struct evbuffer *out, const struct kr_metric_desc *d,
	       const struct kr_metric_value *v)
{
	char le[PROM_NUM_MAX], num[PROM_NUM_MAX];
	uint64_t cum = 0;
	unsigned i;

	for (i = 0; i < KR_METRICS_BUCKETS; i++) {
		cum += v->buckets[i];
		prom_format_double(kr_metrics_bucket_bound(i) / d->scale, le);
		(void)snprintf(num, sizeof(num), "%" PRIu64, cum);
		if (prom_sample(out, d->name, "_bucket", d->labels, le, num) <
		    0)
			return -1;
	}
	prom_format_u64(v->sum, d->scale, num);
	if (prom_sample(out, d->name, "_sum", d->labels, NULL, num) < 0)
		return -1;
	/* Writers bump the bucket and the count separately; taking the
	 * count from the buckets keeps _count equal to le="+Inf", which
	 * Prometheus requires, even when a scrape races a writer. */
	(void)snprintf(num, sizeof(num), "%" PRIu64, cum);
	return prom_sample(out, d->name, "_count", d->labels, NULL, num);
}

static int
prom_series(const struct kr_metrics *m, int id, struct evbuffer *out)
{
	const struct kr_metric_desc *d = kr_metrics_desc(m, id);
	struct kr_metric_value v;
	char num[PROM_NUM_MAX];

	kr_metrics_read_total(m, id, &v);
	switch (d->kind) {
	case KR_METRIC_COUNTER:
		prom_format_u64((uint64_t)v.value, d->scale, num);
		break;
	case KR_METRIC_GAUGE:
		prom_format_i64(v.value, d->scale, num);
		break;
	case KR_METRIC_HISTOGRAM:
		return prom_histogram(out, d, &v);
	}
	return prom_sample(out, d->name, "", d->labels, NULL, num);
}

/* Whether a metric before id has the same name, i.e. the family has been
 * rendered already. The registry holds at most KR_METRICS_MAX metrics, so
 * the quadratic scan stays small. */
static bool
prom_seen(const struct kr_metrics *m, int id)
{
	const char *name = kr_metrics_desc(m, id)->name;
	int i;

	for (i = 0; i < id; i++) {
		if (strcmp(kr_metrics_desc(m, i)->name, name) == 0)
			return true;
	}
	return false;
}

static int
prom_render_all(const struct kr_metrics *m, struct evbuffer *out)
{
	int n = (int)kr_metrics_count(m), i, j;

	for (i = 0; i < n; i++) {
		const struct kr_metric_desc *d = kr_metrics_desc(m, i);

		if (prom_seen(m, i))
			continue;
		if (prom_help(out, d) < 0)
			return -1;
		for (j = i; j < n; j++) {
			if (strcmp(kr_metrics_desc(m, j)->name, d->name) == 0 &&
			    prom_series(m, j, out) < 0)
				return -1;
		}
	}
	return 0;
}

int
kr_prom_render(const struct kr_metrics *m, struct evbuffer *out)
{
	locale_t c_locale, old;
	int rc;

	/* printf and strtod follow LC_NUMERIC; the exposition needs '.'
	 * whatever the process locale is. uselocale is per thread. */
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (c_locale == (locale_t)0)
		return -1;
	old = uselocale(c_locale);
	rc = prom_render_all(m, out);
	uselocale(old);
	freelocale(c_locale);
	return rc;
}
