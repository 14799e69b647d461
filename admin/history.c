/* The dashboard's memory: a ring of raw samples for short windows and
 * a ring of computed points for the charts. */
#include "admin/history.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define W KR_ADMIN_HISTORY_WINDOW
#define P KR_ADMIN_HISTORY_POINTS
#define RATES_SPAN 5	/* samples behind the overview's rates */
#define LATENCY_SPAN 10 /* ... and its latencies, the nodes' figures */

enum src {
	SRC_LMTP_MSGS,
	SRC_LMTP_ERRORS,
	SRC_DELIVERIES,
	SRC_RPC_CALLS,
	SRC_RPC_ERRORS,
	SRC_SPAM,
	SRC_HAM,
	SRC_REJECTED,
	SRC_DEFERRED,
	SRC_CACHE_HITS,
	SRC_CACHE_MISSES,
	SRC_LMTP_LATENCY,
	SRC_RPC_LATENCY,
	SRC_COUNT,
};

static const struct {
	const char *name, *labels;
} history_src_metrics[SRC_COUNT] = {
	[SRC_LMTP_MSGS] = { "kurier_lmtp_messages_total", "" },
	[SRC_LMTP_ERRORS] = { "kurier_lmtp_recipients_total",
			      "result=\"unavailable\"" },
	[SRC_DELIVERIES] = { "kurier_lmtp_recipients_total",
			     "result=\"delivered\"" },
	[SRC_RPC_CALLS] = { "kurier_rpc_calls_total", "" },
	[SRC_RPC_ERRORS] = { "kurier_rpc_errors_total", "" },
	[SRC_SPAM] = { "kurier_antispam_verdicts_total", "verdict=\"spam\"" },
	[SRC_HAM] = { "kurier_antispam_verdicts_total", "verdict=\"ham\"" },
	[SRC_REJECTED] = { "kurier_antispam_verdicts_total",
			   "verdict=\"reject\"" },
	[SRC_DEFERRED] = { "kurier_antispam_verdicts_total",
			   "verdict=\"defer\"" },
	[SRC_CACHE_HITS] = { "kurier_cache_hits_total", "" },
	[SRC_CACHE_MISSES] = { "kurier_cache_misses_total", "" },
	[SRC_LMTP_LATENCY] = { "kurier_lmtp_delivery_seconds", "" },
	[SRC_RPC_LATENCY] = { "kurier_rpc_request_seconds", "" },
};

enum series_kind {
	SERIES_RATE,
	SERIES_QUANTILE,
	SERIES_HIT_RATE
};

/* The charts' series, in the order of the document. */
static const struct history_series {
	const char *name;
	enum series_kind kind;
	enum src src;
	double q;
} history_series[] = {
	{ "lmtp_msgs", SERIES_RATE, SRC_LMTP_MSGS, 0 },
	{ "lmtp_errors", SERIES_RATE, SRC_LMTP_ERRORS, 0 },
	{ "deliveries", SERIES_RATE, SRC_DELIVERIES, 0 },
	{ "rpc_calls", SERIES_RATE, SRC_RPC_CALLS, 0 },
	{ "rpc_errors", SERIES_RATE, SRC_RPC_ERRORS, 0 },
	{ "lmtp_p50_ms", SERIES_QUANTILE, SRC_LMTP_LATENCY, 0.5 },
	{ "lmtp_p99_ms", SERIES_QUANTILE, SRC_LMTP_LATENCY, 0.99 },
	{ "rpc_p50_ms", SERIES_QUANTILE, SRC_RPC_LATENCY, 0.5 },
	{ "rpc_p99_ms", SERIES_QUANTILE, SRC_RPC_LATENCY, 0.99 },
	{ "spam", SERIES_RATE, SRC_SPAM, 0 },
	{ "ham", SERIES_RATE, SRC_HAM, 0 },
	{ "rejected", SERIES_RATE, SRC_REJECTED, 0 },
	{ "cache_hit_rate", SERIES_HIT_RATE, SRC_CACHE_HITS, 0 },
};
#define N_SERIES (sizeof(history_series) / sizeof(history_series[0]))

/* One metric's last W totals; id -1 (not defined here) stays zero. */
struct track {
	int id;
	struct kr_metric_value snap[W];
};

struct kr_admin_history {
	struct kr_metrics *metrics;
	struct track src[SRC_COUNT];
	unsigned n_nodes;
	struct track *node_errors, *node_latency; /* per node */
	int64_t snap_ms[W];
	uint64_t n_samples; /* taken so far; the last is (n - 1) % W */
	/* The charts: point k of the ring at (first + k) % P. */
	int64_t t[P];
	double v[N_SERIES][P];
	unsigned first, n_points;
};

json_t *
kr_admin_json_number(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static void
history_track(struct track *t, struct kr_metrics *m, const char *name,
	      const char *labels)
{
	memset(t, 0, sizeof(*t));
	t->id = kr_metrics_find(m, name, labels);
}

struct kr_admin_history *
kr_admin_history_create(struct kr_metrics *m, const struct kr_admin_node *nodes,
			unsigned n_nodes)
{
	struct kr_admin_history *h = kr_xcalloc(1, sizeof(*h));
	h->metrics = m;
	for (unsigned s = 0; s < SRC_COUNT; s++)
		history_track(&h->src[s], m, history_src_metrics[s].name,
			      history_src_metrics[s].labels);
	h->n_nodes = n_nodes;
	h->node_errors = kr_xcalloc(n_nodes + 1, sizeof(*h->node_errors));
	h->node_latency = kr_xcalloc(n_nodes + 1, sizeof(*h->node_latency));
	for (unsigned i = 0; i < n_nodes; i++) {
		history_track(&h->node_errors[i], m, "kurier_db_errors_total",
			      nodes[i].labels);
		history_track(&h->node_latency[i], m, "kurier_db_query_seconds",
			      nodes[i].labels);
	}
	return h;
}

void
kr_admin_history_destroy(struct kr_admin_history **h_p)
{
	struct kr_admin_history *h = *h_p;

	if (h == NULL)
		return;
	free(h->node_errors);
	free(h->node_latency);
	free(h);
	*h_p = NULL;
}

/* The difference of t's totals `back` samples apart (histogram buckets
 * too), into d_r; false when there are not that many samples. */
static bool
history_delta(const struct kr_admin_history *h, const struct track *t,
	      unsigned back, struct kr_metric_value *d_r)
{
	const struct kr_metric_value *a, *b;

	if (h->n_samples <= back)
		return false;
	a = &t->snap[(h->n_samples - 1) % W];
	b = &t->snap[(h->n_samples - 1 - back) % W];
	memset(d_r, 0, sizeof(*d_r));
	/* Totals never fall (a dead worker's figures are folded in), but a
	 * metric may be a gauge in a later version: no negative rates. */
	d_r->value = a->value > b->value ? a->value - b->value : 0;
	for (unsigned i = 0; i < KR_METRICS_BUCKETS; i++)
		d_r->buckets[i] = a->buckets[i] > b->buckets[i]
					  ? a->buckets[i] - b->buckets[i]
					  : 0;
	return true;
}

static double
history_span_s(const struct kr_admin_history *h, unsigned back)
{
	int64_t a = h->snap_ms[(h->n_samples - 1) % W];
	int64_t b = h->snap_ms[(h->n_samples - 1 - back) % W];

	return a > b ? (double)(a - b) / 1000.0 : NAN;
}

static double
history_rate(const struct kr_admin_history *h, const struct track *t,
	     unsigned back)
{
	struct kr_metric_value d;

	if (t->id < 0 || !history_delta(h, t, back, &d))
		return NAN;
	return (double)d.value / history_span_s(h, back);
}

/* In milliseconds: the histograms count microseconds. */
static double
history_quantile(const struct kr_admin_history *h, const struct track *t,
		 unsigned back, double q)
{
	struct kr_metric_value d;

	if (t->id < 0 || !history_delta(h, t, back, &d) || d.value == 0)
		return NAN;
	return kr_metrics_quantile(&d, q) / 1000.0;
}

static double
history_hit_rate(const struct kr_admin_history *h, unsigned back)
{
	struct kr_metric_value hits, misses;

	if (h->src[SRC_CACHE_HITS].id < 0 ||
	    !history_delta(h, &h->src[SRC_CACHE_HITS], back, &hits) ||
	    !history_delta(h, &h->src[SRC_CACHE_MISSES], back, &misses) ||
	    hits.value + misses.value == 0)
		return NAN;
	return (double)hits.value / (double)(hits.value + misses.value);
}

static double
history_series_value(const struct kr_admin_history *h,
		     const struct history_series *s, unsigned back)
{
	switch (s->kind) {
	case SERIES_RATE:
		return history_rate(h, &h->src[s->src], back);
	case SERIES_QUANTILE:
		return history_quantile(h, &h->src[s->src], back, s->q);
	case SERIES_HIT_RATE:
		return history_hit_rate(h, back);
	}
	return NAN;
}

static void
history_read(struct kr_admin_history *h, struct track *t)
{
	if (t->id >= 0)
		kr_metrics_read_total(h->metrics, t->id,
				      &t->snap[h->n_samples % W]);
}

static void
history_add_point(struct kr_admin_history *h, int64_t now_ms)
{
	unsigned k;

	if (h->n_points < P) {
		k = (h->first + h->n_points) % P;
		h->n_points++;
	} else {
		k = h->first;
		h->first = (h->first + 1) % P;
	}
	h->t[k] = now_ms;
	for (size_t s = 0; s < N_SERIES; s++)
		h->v[s][k] = history_series_value(h, &history_series[s], 1);
}

void
kr_admin_history_sample(struct kr_admin_history *h, int64_t now_ms)
{
	for (unsigned s = 0; s < SRC_COUNT; s++)
		history_read(h, &h->src[s]);
	for (unsigned i = 0; i < h->n_nodes; i++) {
		history_read(h, &h->node_errors[i]);
		history_read(h, &h->node_latency[i]);
	}
	h->snap_ms[h->n_samples % W] = now_ms;
	h->n_samples++;
	if (h->n_samples >= 2)
		history_add_point(h, now_ms);
}

json_t *
kr_admin_history_doc(const struct kr_admin_history *h, int64_t since_ms)
{
	json_t *t = json_array(), *series = json_object(), *v[N_SERIES];

	for (size_t s = 0; s < N_SERIES; s++)
		v[s] = json_array();
	for (unsigned i = 0; i < h->n_points; i++) {
		unsigned k = (h->first + i) % P;

		if (h->t[k] <= since_ms)
			continue;
		json_array_append_new(t, json_integer(h->t[k]));
		for (size_t s = 0; s < N_SERIES; s++)
			json_array_append_new(v[s],
					      kr_admin_json_number(h->v[s][k]));
	}
	for (size_t s = 0; s < N_SERIES; s++)
		json_object_set_new(series, history_series[s].name, v[s]);
	return json_pack("{s:i, s:o, s:o}", "interval_ms", 1000, "t", t,
			 "series", series);
}

/* The span actually available, at most want samples back. */
static unsigned
history_back(const struct kr_admin_history *h, unsigned want)
{
	if (h->n_samples == 0)
		return 1; /* nothing: every figure NAN */
	return h->n_samples - 1 < want ? (unsigned)(h->n_samples - 1) : want;
}

json_t *
kr_admin_history_rates(const struct kr_admin_history *h)
{
	static const struct {
		const char *name;
		enum src src;
	} rates[] = {
		{ "lmtp_msgs", SRC_LMTP_MSGS },
		{ "lmtp_errors", SRC_LMTP_ERRORS },
		{ "deliveries", SRC_DELIVERIES },
		{ "rpc_calls", SRC_RPC_CALLS },
		{ "rpc_errors", SRC_RPC_ERRORS },
		{ "spam", SRC_SPAM },
		{ "ham", SRC_HAM },
		{ "rejected", SRC_REJECTED },
		{ "deferred", SRC_DEFERRED },
	};
	unsigned back = history_back(h, RATES_SPAN);
	json_t *doc = json_object();

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		json_object_set_new(doc, rates[i].name,
				    kr_admin_json_number(history_rate(
					    h, &h->src[rates[i].src], back)));
	json_object_set_new(doc, "cache_hit_rate",
			    kr_admin_json_number(history_hit_rate(h, back)));
	return doc;
}

static json_t *
history_quantiles(const struct kr_admin_history *h, const struct track *t,
		  unsigned back)
{
	return json_pack(
		"{s:o, s:o}", "p50",
		kr_admin_json_number(history_quantile(h, t, back, 0.5)), "p99",
		kr_admin_json_number(history_quantile(h, t, back, 0.99)));
}

json_t *
kr_admin_history_latency(const struct kr_admin_history *h)
{
	unsigned back = history_back(h, LATENCY_SPAN);

	return json_pack("{s:o, s:o}", "lmtp",
			 history_quantiles(h, &h->src[SRC_LMTP_LATENCY], back),
			 "rpc",
			 history_quantiles(h, &h->src[SRC_RPC_LATENCY], back));
}

void
kr_admin_history_node(const struct kr_admin_history *h, unsigned i,
		      struct kr_admin_node_window *w_r)
{
	unsigned back = history_back(h, LATENCY_SPAN);

	w_r->p50_ms = w_r->p99_ms = w_r->errors_rate = NAN;
	if (i >= h->n_nodes)
		return;
	w_r->p50_ms = history_quantile(h, &h->node_latency[i], back, 0.5);
	w_r->p99_ms = history_quantile(h, &h->node_latency[i], back, 0.99);
	w_r->errors_rate = history_rate(h, &h->node_errors[i], back);
}

double
kr_admin_history_cache_hit_rate(const struct kr_admin_history *h)
{
	return history_hit_rate(h, history_back(h, LATENCY_SPAN));
}
