/* The API cache's metrics: one table, in the order /metrics shows
 * them. */
#include "server/cache/cache_metrics.h"

#include <stddef.h>

#include "lib/metrics.h"

#define CACHE_ID(f) offsetof(struct kr_cache_metrics, f)

static const struct kr_metric_def cache_metric_defs[] = {
	{ CACHE_ID(hits),
	  { "kurier_cache_hits_total", "",
	    "API results served from the worker's cache.", KR_METRIC_COUNTER,
	    1 } },
	{ CACHE_ID(misses),
	  { "kurier_cache_misses_total", "",
	    "Cache look-ups that went to storage (stale included).",
	    KR_METRIC_COUNTER, 1 } },
	{ CACHE_ID(evictions),
	  { "kurier_cache_evictions_total", "",
	    "Entries dropped to stay within [cache] max_bytes.",
	    KR_METRIC_COUNTER, 1 } },
	{ CACHE_ID(bytes),
	  { "kurier_cache_bytes", "", "Bytes held by the workers' caches.",
	    KR_METRIC_GAUGE, 1 } },
};

struct kr_cache_metrics *
kr_cache_metrics_define(struct kr_metrics *m, struct kr_err *err_r)
{
	return kr_metrics_define_ids(m, KR_METRICS_TABLE(cache_metric_defs),
				     sizeof(struct kr_cache_metrics), err_r);
}
