/* The processes' own metrics (server/process_metrics.h). */
#include "server/process_metrics.h"

#include <stddef.h>

#include "lib/metrics.h"

#define WORKER_ID(f) offsetof(struct kr_worker_metrics, f)

static const struct kr_metric_def worker_metric_defs[] = {
	{ WORKER_ID(requests),
	  { "kurier_requests_total", "", "Requests served by workers.",
	    KR_METRIC_COUNTER, 1 } },
	{ WORKER_ID(heartbeats),
	  { "kurier_worker_heartbeats_total", "",
	    "Worker event loop heartbeats (one per second).", KR_METRIC_COUNTER,
	    1 } },
	{ WORKER_ID(loop_lag),
	  { "kurier_worker_loop_lag_seconds", "",
	    "How late the worker's heartbeat timer fired.", KR_METRIC_HISTOGRAM,
	    KR_METRIC_SCALE_US } },
	{ WORKER_ID(rss),
	  { "kurier_process_rss_bytes", "",
	    "Resident set size summed over live processes.", KR_METRIC_GAUGE,
	    1 } },
};

struct kr_worker_metrics *
kr_worker_metrics_define(struct kr_metrics *m, struct kr_err *err_r)
{
	return kr_metrics_define_ids(m, KR_METRICS_TABLE(worker_metric_defs),
				     sizeof(struct kr_worker_metrics), err_r);
}

#define MASTER_ID(f) offsetof(struct kr_master_metrics, f)
#define MASTER_EXITS "Worker processes that exited, by reason."

static const struct kr_metric_def master_metric_defs[] = {
	{ MASTER_ID(worker_starts),
	  { "kurier_worker_starts_total", "",
	    "Worker processes started by the master.", KR_METRIC_COUNTER, 1 } },
	{ MASTER_ID(exits_crash),
	  { "kurier_worker_exits_total", "reason=\"crash\"", MASTER_EXITS,
	    KR_METRIC_COUNTER, 1 } },
	{ MASTER_ID(exits_cycle),
	  { "kurier_worker_exits_total", "reason=\"cycle\"", MASTER_EXITS,
	    KR_METRIC_COUNTER, 1 } },
	{ MASTER_ID(exits_drain),
	  { "kurier_worker_exits_total", "reason=\"drain\"", MASTER_EXITS,
	    KR_METRIC_COUNTER, 1 } },
};

struct kr_master_metrics *
kr_master_metrics_define(struct kr_metrics *m, struct kr_err *err_r)
{
	return kr_metrics_define_ids(m, KR_METRICS_TABLE(master_metric_defs),
				     sizeof(struct kr_master_metrics), err_r);
}
