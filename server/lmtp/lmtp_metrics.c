/* The LMTP side's metrics: one table, in the order /metrics shows them. */
#include "server/lmtp/lmtp_metrics.h"

#include <stddef.h>

#include "lib/metrics.h"

#define LMTP_ID(f) offsetof(struct kr_lmtp_metrics, f)
#define LMTP_RCPT "LMTP recipients by final answer."
#define LMTP_CACHE "RCPT look-ups answered from the recipient cache or not."

static const struct kr_metric_def lmtp_metric_defs[] = {
	{ LMTP_ID(sessions),
	  { "kurier_lmtp_sessions", "", "LMTP sessions open now.",
	    KR_METRIC_GAUGE, 1 } },
	{ LMTP_ID(sessions_total),
	  { "kurier_lmtp_sessions_total", "", "LMTP sessions accepted.",
	    KR_METRIC_COUNTER, 1 } },
	{ LMTP_ID(messages),
	  { "kurier_lmtp_messages_total", "",
	    "LMTP transactions answered after DATA.", KR_METRIC_COUNTER, 1 } },
	{ LMTP_ID(bytes),
	  { "kurier_lmtp_bytes_total", "", "Message bytes received over LMTP.",
	    KR_METRIC_COUNTER, 1 } },
	{ LMTP_ID(rcpt_ok),
	  { "kurier_lmtp_recipients_total", "result=\"delivered\"", LMTP_RCPT,
	    KR_METRIC_COUNTER, 1 } },
	{ LMTP_ID(rcpt_unknown),
	  { "kurier_lmtp_recipients_total", "result=\"unknown\"", LMTP_RCPT,
	    KR_METRIC_COUNTER, 1 } },
	{ LMTP_ID(rcpt_quota),
	  { "kurier_lmtp_recipients_total", "result=\"over_quota\"", LMTP_RCPT,
	    KR_METRIC_COUNTER, 1 } },
	{ LMTP_ID(rcpt_unavailable),
	  { "kurier_lmtp_recipients_total", "result=\"unavailable\"", LMTP_RCPT,
	    KR_METRIC_COUNTER, 1 } },
	{ LMTP_ID(rcpt_cache_hit),
	  { "kurier_lmtp_rcpt_cache_total", "result=\"hit\"", LMTP_CACHE,
	    KR_METRIC_COUNTER, 1 } },
	{ LMTP_ID(rcpt_cache_miss),
	  { "kurier_lmtp_rcpt_cache_total", "result=\"miss\"", LMTP_CACHE,
	    KR_METRIC_COUNTER, 1 } },
	{ LMTP_ID(latency),
	  { "kurier_lmtp_delivery_seconds", "",
	    "From the end of DATA to the last reply.", KR_METRIC_HISTOGRAM,
	    KR_METRIC_SCALE_US } },
};

struct kr_lmtp_metrics *
kr_lmtp_metrics_define(struct kr_metrics *m, struct kr_err *err_r)
{
	return kr_metrics_define_ids(m, KR_METRICS_TABLE(lmtp_metric_defs),
				     sizeof(struct kr_lmtp_metrics), err_r);
}
