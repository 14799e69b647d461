/* The LMTP side's metrics: sessions, transactions and recipients by
 * final answer. Defined by the master before it forks (the registry is
 * fixed then); each worker counts into its own slot with these ids. */
#ifndef KR_LMTP_METRICS_H
#define KR_LMTP_METRICS_H

#include "lib/err.h"

struct kr_metrics;

struct kr_lmtp_metrics {
	int sessions;	    /* gauge: open now */
	int sessions_total; /* counter */
	int messages;	    /* counter: DATA transactions answered */
	int bytes;	    /* counter: message bytes received */
	/* Counters: final recipient results. */
	int rcpt_ok, rcpt_unknown, rcpt_quota, rcpt_unavailable;
	/* Counters: RCPTs answered from the recipient cache, or not. */
	int rcpt_cache_hit, rcpt_cache_miss;
	int latency; /* histogram (us): end of DATA -> replies */
};

/* Defines them; NULL + err_r when the registry refuses one. Free the
 * struct with free(). */
struct kr_lmtp_metrics *kr_lmtp_metrics_define(struct kr_metrics *m,
					       struct kr_err *err_r);

#endif
