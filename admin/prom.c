/* Prometheus text exposition, format 0.0.4:
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 * and OpenMetrics 1.0 text:
 * https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md
 * The two differ only in the family lines (a counter family drops
 * "_total"), HELP escaping and the final "# EOF". Label sets were
 * validated by kr_metrics_define (nothing to escape), so only HELP text
 * is escaped here. */
#include "admin/prom.h"

#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Enough for "%.17g" of any double ("-1.2345678901234567e-308"). */
#define PROM_NUM_MAX 32

/* A counter's "_total" suffix: OpenMetrics names the family without it
 * and requires it on every sample. */
#define PROM_TOTAL "_total"
#define PROM_TOTAL_LEN (sizeof(PROM_TOTAL) - 1)
#define PROM_NAME_MAX 256

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

/* HELP text escapes backslash and newline (format 0.0.4), and the
 * double quote too in OpenMetrics. */
static int
prom_help_text(struct evbuffer *out, const char *p, enum kr_prom_format f)
{
	const char *special = f == KR_PROM_OPENMETRICS ? "\\\n\"" : "\\\n";

	while (*p != '\0') {
		size_t n = strcspn(p, special);
		const char *esc;

		if (n > 0 && evbuffer_add(out, p, n) < 0)
			return -1;
		p += n;
		if (*p == '\0')
			break;
		esc = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : "\\\"";
		if (evbuffer_add(out, esc, 2) < 0)
			return -1;
		p++;
	}
	return 0;
}

int
kr_prom_family(struct evbuffer *out, enum kr_prom_format f, const char *name,
	       const char *help, enum kr_metric_kind kind, bool name_taken)
{
	size_t len = strlen(name);
	const char *type = prom_type_name(kind);
	int name_len = (int)len;

	if (len >= PROM_NAME_MAX)
		return -1;
	if (f == KR_PROM_OPENMETRICS && kind == KR_METRIC_COUNTER) {
		/* A counter without "_total", or whose family name another
		 * family holds already, cannot be an OpenMetrics counter
		 * with the same sample names: "unknown" keeps them. */
		if (len > PROM_TOTAL_LEN &&
		    strcmp(name + len - PROM_TOTAL_LEN, PROM_TOTAL) == 0 &&
		    !name_taken)
			name_len -= (int)PROM_TOTAL_LEN;
		else
			type = "unknown";
	}
	if (evbuffer_add_printf(out, "# HELP %.*s", name_len, name) < 0)
		return -1;
	if (*help != '\0' && evbuffer_add(out, " ", 1) < 0)
		return -1;
	if (prom_help_text(out, help, f) < 0)
		return -1;
	if (evbuffer_add_printf(out, "\n# TYPE %.*s %s\n", name_len, name,
				type) < 0)
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

/* Whether a shown metric before id has the same name, i.e. the family
 * has been rendered already. The registry holds at most KR_METRICS_MAX
 * metrics, so the quadratic scan stays small. */
static bool
prom_seen(const struct kr_metrics *m, int id)
{
	const char *name = kr_metrics_desc(m, id)->name;
	int i;

	for (i = 0; i < id; i++) {
		if (!kr_metrics_hidden(m, i) &&
		    strcmp(kr_metrics_desc(m, i)->name, name) == 0)
			return true;
	}
	return false;
}

/* Whether the OpenMetrics family name of counter d (its name without
 * "_total") is the name of another metric of m, e.g. a gauge
 * kurier_lmtp_sessions beside the counter kurier_lmtp_sessions_total. */
static bool
prom_family_taken(const struct kr_metrics *m, const struct kr_metric_desc *d)
{
	size_t len = strlen(d->name);
	int n = (int)kr_metrics_count(m);

	if (len <= PROM_TOTAL_LEN)
		return false;
	len -= PROM_TOTAL_LEN;
	for (int i = 0; i < n; i++) {
		const char *other = kr_metrics_desc(m, i)->name;

		if (strncmp(other, d->name, len) == 0 && other[len] == '\0')
			return true;
	}
	return false;
}

static int
prom_render_all(const struct kr_metrics *m, enum kr_prom_format f,
		struct evbuffer *out)
{
	int n = (int)kr_metrics_count(m), i, j;

	for (i = 0; i < n; i++) {
		const struct kr_metric_desc *d = kr_metrics_desc(m, i);

		if (kr_metrics_hidden(m, i) || prom_seen(m, i))
			continue;
		if (kr_prom_family(out, f, d->name, d->help, d->kind,
				   f == KR_PROM_OPENMETRICS &&
					   prom_family_taken(m, d)) < 0)
			return -1;
		for (j = i; j < n; j++) {
			if (!kr_metrics_hidden(m, j) &&
			    strcmp(kr_metrics_desc(m, j)->name, d->name) == 0 &&
			    prom_series(m, j, out) < 0)
				return -1;
		}
	}
	return 0;
}

int
kr_prom_render(const struct kr_metrics *m, enum kr_prom_format f,
	       struct evbuffer *out)
{
	locale_t c_locale, old;
	int rc;

	/* printf and strtod follow LC_NUMERIC; the exposition needs '.'
	 * whatever the process locale is. uselocale is per thread. */
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (c_locale == (locale_t)0)
		return -1;
	old = uselocale(c_locale);
	rc = prom_render_all(m, f, out);
	uselocale(old);
	freelocale(c_locale);
	return rc;
}

int
kr_prom_end(enum kr_prom_format f, struct evbuffer *out)
{
	if (f != KR_PROM_OPENMETRICS)
		return 0;
	return evbuffer_add(out, "# EOF\n", 6) < 0 ? -1 : 0;
}

const char *
kr_prom_content_type(enum kr_prom_format f)
{
	return f == KR_PROM_OPENMETRICS
		       ? "application/openmetrics-text; version=1.0.0; "
			 "charset=utf-8"
		       : "text/plain; version=0.0.4";
}

/* The q value of one Accept element's parameters (RFC 9110 §12.4.2):
 * 1 when absent, 0 when unreadable (so a broken element is ignored). */
static double
prom_accept_q(const char *params, size_t len)
{
	const char *p = params, *end = params + len;

	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi != NULL ? semi : end;

		p += strspn(p, " \t");
		if (stop - p >= 2 && strncasecmp(p, "q=", 2) == 0) {
			char buf[8];
			size_t n = (size_t)(stop - p - 2);
			char *tail;
			double q;

			while (n > 0 &&
			       (p[2 + n - 1] == ' ' || p[2 + n - 1] == '\t'))
				n--;
			if (n == 0 || n >= sizeof(buf))
				return 0;
			memcpy(buf, p + 2, n);
			buf[n] = '\0';
			q = strtod(buf, &tail);
			return *tail != '\0' || !(q >= 0 && q <= 1) ? 0 : q;
		}
		p = stop + (semi != NULL);
	}
	return 1;
}

enum kr_prom_format
kr_prom_format_for_accept(const char *accept)
{
	static const char om[] = "application/openmetrics-text";
	double q_om = 0, q_other = 0;
	const char *p = accept;

	while (p != NULL && *p != '\0') {
		size_t len, type_len;
		const char *semi;
		double q;

		p += strspn(p, " \t");
		len = strcspn(p, ",");
		semi = memchr(p, ';', len);
		type_len = semi != NULL ? (size_t)(semi - p) : len;
		while (type_len > 0 &&
		       (p[type_len - 1] == ' ' || p[type_len - 1] == '\t'))
			type_len--;
		q = semi != NULL ? prom_accept_q(semi + 1,
						 len - (size_t)(semi + 1 - p))
				 : 1;
		/* Any other type (text/plain, a wildcard) gets the 0.0.4
		 * text: the one format every scraper reads. */
		if (type_len == sizeof(om) - 1 &&
		    strncasecmp(p, om, type_len) == 0)
			q_om = q > q_om ? q : q_om;
		else if (type_len > 0)
			q_other = q > q_other ? q : q_other;
		p += len + (p[len] == ',');
	}
	return q_om > 0 && q_om >= q_other ? KR_PROM_OPENMETRICS : KR_PROM_TEXT;
}
