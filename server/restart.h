/* The supervisor's restart policy (SPEC.md §2): an OTP supervisor's
 * restart intensity that never gives up. More than `intensity` restarts
 * within `period_ms` make the service unhealthy; while it is, every
 * further restart of a worker waits 1 s, 2 s, 4 s ... doubling per
 * worker up to `backoff_max_ms`. It is healthy again, and every
 * back-off reset, once no worker has crashed for period_ms after the
 * last restart (a crash-looping worker does not look calm while it
 * merely waits out its back-off). Pure logic on a time the caller
 * passes (monotonic ms); master loop only. */
#ifndef KR_RESTART_H
#define KR_RESTART_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

/* The first back-off; each further one doubles. */
#define KR_RESTART_BACKOFF_FIRST_MS 1000

struct kr_metrics;
struct kr_restart;

/* The supervisor's metrics, written by the master (SPEC.md §2). */
struct kr_restart_metrics {
	int unhealthy;	     /* gauge: 1 past the restart intensity */
	int unhealthy_total; /* counter: times it became unhealthy */
	int *restarts;	     /* counter per worker index */
	int *backoff;	     /* gauge (ms) per worker index */
};

/* Defines them for workers 0..n_workers-1, before forking; NULL +
 * err_r when the registry refuses one. Free with
 * kr_restart_metrics_free. */
struct kr_restart_metrics *kr_restart_metrics_define(struct kr_metrics *m,
						     unsigned n_workers,
						     struct kr_err *err_r);
/* Frees *ids (NULL is fine) and sets it to NULL. */
void kr_restart_metrics_free(struct kr_restart_metrics **ids);

struct kr_restart_policy {
	unsigned intensity;	/* restarts allowed ... */
	int64_t period_ms;	/* ... within this window; > 0 */
	int64_t backoff_max_ms; /* >= KR_RESTART_BACKOFF_FIRST_MS */
};

/* Workers are numbered 0..n_workers-1 (stable across restarts). */
struct kr_restart *kr_restart_create(const struct kr_restart_policy *p,
				     unsigned n_workers);
void kr_restart_destroy(struct kr_restart **r);
/* A reloaded policy: history, health and back-offs are kept (the
 * newest restarts when the history shrinks). */
void kr_restart_configure(struct kr_restart *r,
			  const struct kr_restart_policy *p);

/* Worker `index` crashed at now_ms and is to be restarted. Returns the
 * delay before starting it again: 0 while healthy, else its back-off.
 * *tipped_r (may be NULL) is true when this crash made the service
 * unhealthy. */
int64_t kr_restart_crashed(struct kr_restart *r, unsigned index, int64_t now_ms,
			   bool *tipped_r);
/* True once, when at now_ms an unhealthy service has been calm long
 * enough: it is healthy again and every back-off is reset. */
bool kr_restart_calm(struct kr_restart *r, int64_t now_ms);

bool kr_restart_unhealthy(const struct kr_restart *r);
/* Restarts recorded within the period ending at now_ms. */
unsigned kr_restart_recent(const struct kr_restart *r, int64_t now_ms);
/* Restarts of worker index since start. */
uint64_t kr_restart_count(const struct kr_restart *r, unsigned index);
/* The back-off in force for worker index: the delay its last restart
 * got (0 while healthy or before its first delayed restart). */
int64_t kr_restart_backoff_ms(const struct kr_restart *r, unsigned index);

#endif
