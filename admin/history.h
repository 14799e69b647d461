/* What the dashboard charts (SPEC.md §3.3): the master samples the
 * shared metrics once a second and keeps the last KR_ADMIN_HISTORY_POINTS
 * points of every chart's series, plus the raw figures of the last
 * KR_ADMIN_HISTORY_WINDOW samples for rates and latency quantiles over
 * a few seconds (the overview, each node). Rates are per second; a
 * value that cannot be known (no sample before, no request in the
 * window) is NAN and shows as null. On the master's loop only. */
#ifndef KR_ADMIN_HISTORY_H
#define KR_ADMIN_HISTORY_H

#include <jansson.h>
#include <stdint.h>

#include "admin/admin.h"
#include "lib/metrics.h"

#define KR_ADMIN_HISTORY_POINTS 900 /* 15 min at 1 s */
#define KR_ADMIN_HISTORY_WINDOW 11  /* samples: 10 s of differences */

struct kr_admin_history;

/* nodes[i].labels name node i's metrics; borrowed for the call. */
struct kr_admin_history *
kr_admin_history_create(struct kr_metrics *m, const struct kr_admin_node *nodes,
			unsigned n_nodes);
void kr_admin_history_destroy(struct kr_admin_history **h);

/* Takes a sample at now_ms (wall clock; must move forward). */
void kr_admin_history_sample(struct kr_admin_history *h, int64_t now_ms);

/* {"interval_ms", "t": [...], "series": {name: [...]}} of the points
 * after since_ms (API11: /api/history). */
json_t *kr_admin_history_doc(const struct kr_admin_history *h,
			     int64_t since_ms);
/* The overview's "rates" over the last 5 s and "latency_ms" over the
 * last 10 s. */
json_t *kr_admin_history_rates(const struct kr_admin_history *h);
json_t *kr_admin_history_latency(const struct kr_admin_history *h);

/* Node i's latency quantiles (ms) and errors per second over the last
 * 10 s; NAN when unknown. */
struct kr_admin_node_window {
	double p50_ms, p99_ms, errors_rate;
};
void kr_admin_history_node(const struct kr_admin_history *h, unsigned i,
			   struct kr_admin_node_window *w_r);
/* The cache hit rate over the last 10 s, NAN without look-ups. */
double kr_admin_history_cache_hit_rate(const struct kr_admin_history *h);

/* A number, or null for NAN. */
json_t *kr_admin_json_number(double v);

#endif
