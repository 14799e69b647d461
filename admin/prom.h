/* Prometheus text exposition (format 0.0.4) of a metrics registry, summed
 * over every slot with kr_metrics_read_total. Runs in the master, on the
 * admin loop; it only reads the shared region. The caller owns the
 * evbuffer; nothing is retained after the call. */
#ifndef KR_PROM_H
#define KR_PROM_H

#include <event2/buffer.h>

#include "lib/metrics.h"

/* Renders every metric, families grouped (one # HELP and # TYPE line per
 * name, then each label set), into out. m must be mapped. Histograms give
 * cumulative name_bucket{...,le="..."} lines ending in le="+Inf", then
 * name_sum and name_count; values are divided by the metric's scale.
 * Returns 0, or -1 if out could not grow (it may then hold a prefix). */
int kr_prom_render(const struct kr_metrics *m, struct evbuffer *out);

#endif
