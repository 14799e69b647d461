/* The API cache's metrics: hits, misses, evictions and bytes held, over
 * every worker's cache. Defined by the master before it forks (the
 * registry is fixed then); each worker reports into its own slot with
 * these ids. */
#ifndef KR_CACHE_METRICS_H
#define KR_CACHE_METRICS_H

#include "lib/err.h"

struct kr_metrics;

struct kr_cache_metrics {
	int hits, misses, evictions; /* counters */
	int bytes;		     /* gauge */
};

/* Defines them; NULL + err_r when the registry refuses one. Free the
 * struct with free(). */
struct kr_cache_metrics *kr_cache_metrics_define(struct kr_metrics *m,
						 struct kr_err *err_r);

#endif
