/* Prometheus text exposition (format 0.0.4) and OpenMetrics 1.0 text of
 * a metrics registry, summed over every slot with kr_metrics_read_total.
 * Runs in the master, on the admin loop; it only reads the shared region.
 * The caller owns the evbuffer; nothing is retained after the call. */
#ifndef KR_PROM_H
#define KR_PROM_H

#include <stdbool.h>

#include <event2/buffer.h>

#include "lib/metrics.h"

enum kr_prom_format {
	KR_PROM_TEXT,	     /* Prometheus text 0.0.4 */
	KR_PROM_OPENMETRICS, /* OpenMetrics 1.0.0 text */
};

/* The format a scraper's Accept field value asks for (every Accept field
 * joined with ", "; NULL: none): OpenMetrics when it accepts
 * application/openmetrics-text (any version) at least as much as
 * anything else, else the 0.0.4 text. */
enum kr_prom_format kr_prom_format_for_accept(const char *accept);
/* The Content-Type of an exposition in format f (static string). */
const char *kr_prom_content_type(enum kr_prom_format f);

/* Renders every metric, families grouped (one # HELP and # TYPE line per
 * name, then each label set), into out. m must be mapped. Histograms give
 * cumulative name_bucket{...,le="..."} lines ending in le="+Inf", then
 * name_sum and name_count; values are divided by the metric's scale. In
 * OpenMetrics a counter family is named without "_total" (its samples
 * keep it); a counter whose name does not end in "_total", or whose
 * family name another metric has, is typed "unknown" instead. Does not
 * end the exposition: more families may follow, then kr_prom_end.
 * Returns 0, or -1 if out could not grow (it may then hold a prefix). */
int kr_prom_render(const struct kr_metrics *m, enum kr_prom_format f,
		   struct evbuffer *out);
/* The # HELP and # TYPE lines of a family rendered outside the registry.
 * name is the samples' name (e.g. "x_total" for a counter); name_taken:
 * another family is named like the counter without "_total". Returns 0
 * or -1 (out could not grow, or name longer than 255). */
int kr_prom_family(struct evbuffer *out, enum kr_prom_format f,
		   const char *name, const char *help, enum kr_metric_kind kind,
		   bool name_taken);
/* Ends the exposition: "# EOF" in OpenMetrics, nothing in 0.0.4.
 * Returns 0 or -1 (out could not grow). */
int kr_prom_end(enum kr_prom_format f, struct evbuffer *out);

#endif
