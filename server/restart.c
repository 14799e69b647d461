/* Restart policy: a ring of the last intensity + 1 restart times for
 * the intensity, and one back-off per worker. */
#include "server/restart.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/err.h"
#include "lib/metrics.h"

struct restart_worker {
	uint64_t restarts;  /* since start */
	int64_t backoff_ms; /* delay of its last restart, 0 = none */
};

struct kr_restart {
	struct kr_restart_policy policy;
	unsigned n;    /* ring entries used, <= intensity + 1 */
	unsigned head; /* next write position */
	int64_t *times;
	bool unhealthy;
	/* Unhealthy until then: the latest restart plus a period. */
	int64_t calm_at_ms;
	unsigned n_workers;
	struct restart_worker *workers;
};

static int64_t *
restart_ring(const struct kr_restart_policy *p)
{
	return kr_xcalloc((size_t)p->intensity + 1, sizeof(int64_t));
}

struct kr_restart *
kr_restart_create(const struct kr_restart_policy *p, unsigned n_workers)
{
	struct kr_restart *r = kr_xcalloc(1, sizeof(*r));

	r->policy = *p;
	r->times = restart_ring(p);
	r->n_workers = n_workers;
	r->workers = kr_xcalloc(n_workers, sizeof(*r->workers));
	return r;
}

void
kr_restart_destroy(struct kr_restart **r)
{
	if (*r == NULL)
		return;
	free((*r)->times);
	free((*r)->workers);
	free(*r);
	*r = NULL;
}

void
kr_restart_configure(struct kr_restart *r, const struct kr_restart_policy *p)
{
	unsigned cap = r->policy.intensity + 1, new_cap = p->intensity + 1;
	unsigned keep = r->n < new_cap ? r->n : new_cap;
	int64_t *times = restart_ring(p);

	/* Newest first backwards from head, stored oldest first. */
	for (unsigned i = 0; i < keep; i++)
		times[keep - 1 - i] = r->times[(r->head + cap - 1 - i) % cap];
	free(r->times);
	r->times = times;
	r->n = keep;
	r->head = keep % new_cap;
	r->policy = *p;
}

unsigned
kr_restart_recent(const struct kr_restart *r, int64_t now_ms)
{
	unsigned count = 0;

	for (unsigned i = 0; i < r->n; i++)
		if (now_ms - r->times[i] < r->policy.period_ms)
			count++;
	return count;
}

/* 1 s for the first delayed restart, then double the last, saturating
 * at the maximum. */
static int64_t
restart_next_backoff(const struct kr_restart *r, int64_t last)
{
	int64_t max = r->policy.backoff_max_ms;

	if (last <= 0)
		return KR_RESTART_BACKOFF_FIRST_MS < max
			       ? KR_RESTART_BACKOFF_FIRST_MS
			       : max;
	return last > max / 2 ? max : 2 * last;
}

int64_t
kr_restart_crashed(struct kr_restart *r, unsigned index, int64_t now_ms,
		   bool *tipped_r)
{
	unsigned cap = r->policy.intensity + 1;
	struct restart_worker *w;
	int64_t delay = 0;
	bool tipped = false;

	if (tipped_r != NULL)
		*tipped_r = false;
	if (index >= r->n_workers)
		return 0;
	w = &r->workers[index];
	w->restarts++;
	r->times[r->head] = now_ms;
	r->head = (r->head + 1) % cap;
	if (r->n < cap)
		r->n++;
	if (!r->unhealthy && kr_restart_recent(r, now_ms) > r->policy.intensity)
		r->unhealthy = tipped = true;
	if (r->unhealthy) {
		delay = restart_next_backoff(r, w->backoff_ms);
		w->backoff_ms = delay;
		/* Calm means a period without crash after this restart. */
		if (now_ms + delay + r->policy.period_ms > r->calm_at_ms)
			r->calm_at_ms = now_ms + delay + r->policy.period_ms;
	}
	if (tipped_r != NULL)
		*tipped_r = tipped;
	return delay;
}

bool
kr_restart_calm(struct kr_restart *r, int64_t now_ms)
{
	if (!r->unhealthy || now_ms < r->calm_at_ms)
		return false;
	r->unhealthy = false;
	for (unsigned i = 0; i < r->n_workers; i++)
		r->workers[i].backoff_ms = 0;
	return true;
}

bool
kr_restart_unhealthy(const struct kr_restart *r)
{
	return r->unhealthy;
}

uint64_t
kr_restart_count(const struct kr_restart *r, unsigned index)
{
	return index < r->n_workers ? r->workers[index].restarts : 0;
}

int64_t
kr_restart_backoff_ms(const struct kr_restart *r, unsigned index)
{
	return index < r->n_workers ? r->workers[index].backoff_ms : 0;
}

/* ---- metrics ------------------------------------------------------ */

#define RESTART_ID(f) offsetof(struct kr_restart_metrics, f)

static const struct kr_metric_def restart_metric_defs[] = {
	{ RESTART_ID(unhealthy),
	  { "kurier_workers_unhealthy", "",
	    "1 while worker restarts exceed restart_intensity "
	    "within restart_period (restarts back off).",
	    KR_METRIC_GAUGE, 1 } },
	{ RESTART_ID(unhealthy_total),
	  { "kurier_workers_unhealthy_total", "",
	    "Times the workers became unhealthy.", KR_METRIC_COUNTER, 1 } },
};

/* Per worker index: its restarts and the back-off in force. */
static int
restart_define_worker(struct kr_metrics *m, struct kr_restart_metrics *ids,
		      unsigned i, struct kr_err *err_r)
{
	char labels[32];
	struct kr_metric_desc restarts = {
		"kurier_worker_restarts_total", labels,
		"Restarts of each worker after a crash.", KR_METRIC_COUNTER, 1
	};
	struct kr_metric_desc backoff = {
		"kurier_worker_backoff_seconds", labels,
		"Back-off in force before each worker's "
		"restarts (0 while healthy).",
		KR_METRIC_GAUGE, 1000
	};

	snprintf(labels, sizeof(labels), "worker=\"%u\"", i);
	if ((ids->restarts[i] = kr_metrics_define(m, &restarts, err_r)) < 0 ||
	    (ids->backoff[i] = kr_metrics_define(m, &backoff, err_r)) < 0)
		return -1;
	return 0;
}

struct kr_restart_metrics *
kr_restart_metrics_define(struct kr_metrics *m, unsigned n_workers,
			  struct kr_err *err_r)
{
	struct kr_restart_metrics *ids = kr_xcalloc(1, sizeof(*ids));

	ids->restarts = kr_xcalloc(n_workers, sizeof(int));
	ids->backoff = kr_xcalloc(n_workers, sizeof(int));
	if (kr_metrics_define_table(m, KR_METRICS_TABLE(restart_metric_defs),
				    ids, err_r) < 0) {
		kr_restart_metrics_free(&ids);
		return NULL;
	}
	for (unsigned i = 0; i < n_workers; i++)
		if (restart_define_worker(m, ids, i, err_r) < 0) {
			kr_restart_metrics_free(&ids);
			return NULL;
		}
	return ids;
}

void
kr_restart_metrics_free(struct kr_restart_metrics **ids)
{
	if (*ids == NULL)
		return;
	free((*ids)->restarts);
	free((*ids)->backoff);
	free(*ids);
	*ids = NULL;
}
