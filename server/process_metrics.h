/* The processes' own figures: the workers' (and the master's rss), and
 * the master's of its workers' lives. The parts that serve requests
 * count into requests (worker cycling reads it), so these live apart
 * from server/worker.h and server/master.h: lmtp/ and rpc/ need not
 * include the processes that create them. */
#ifndef KR_PROCESS_METRICS_H
#define KR_PROCESS_METRICS_H

#include "lib/err.h"

struct kr_metrics;

struct kr_worker_metrics {
	int requests;	/* counter, per worker: the cycling input */
	int heartbeats; /* counter: worker loop ticks */
	int loop_lag;	/* histogram (us): timer lateness */
	int rss;	/* gauge: bytes */
};

/* Defines them, in the master before it forks; NULL + err_r when the
 * registry refuses one. Free the struct with free(). */
struct kr_worker_metrics *kr_worker_metrics_define(struct kr_metrics *m,
						   struct kr_err *err_r);

/* The master's figures of its workers' lives. */
struct kr_master_metrics {
	int worker_starts;			   /* counter */
	int exits_crash, exits_cycle, exits_drain; /* counters by reason */
};

/* Defines them, before forking; NULL + err_r when the registry refuses
 * one. Free the struct with free(). */
struct kr_master_metrics *kr_master_metrics_define(struct kr_metrics *m,
						   struct kr_err *err_r);

#endif
