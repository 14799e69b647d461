/* The admin side of the antispam host: GET /api/antispam (each
 * worker's filter generation, from the shared status region,
 * antispam/status.h), GET /api/filters (the generations of all
 * workers merged) and the wait of POST /api/reload for every
 * serving worker to report its reload. Master loop only. */
#ifndef KR_ADMIN_SPAM_H
#define KR_ADMIN_SPAM_H

#include <jansson.h>
#include <stdbool.h>

#include "antispam/status.h"
#include "lib/metrics.h"

struct event_base;
struct kr_httpd_call;
struct kr_admin_reload;

/* The longest POST /api/reload waits for the workers. */
#define KR_ADMIN_RELOAD_WAIT_MS 30000
/* How often it looks. */
#define KR_ADMIN_RELOAD_POLL_MS 20

/* What both read; owned by the admin, updated on reload. Status entry
 * i belongs to metrics slot first_worker_slot + i. */
struct kr_admin_spam_view {
	struct kr_metrics *metrics;
	unsigned first_worker_slot;
	unsigned n_worker_slots;
	const struct kr_antispam_status *status; /* NULL: none */
	bool enabled;				 /* [antispam] enabled */
};

/* {enabled, workers: [{pid, index, generation, open_generations,
 * reload_seq, last_error, modules: [{name, generation, version}]}],
 * generations: [as in kr_admin_filters_doc]}: every live worker
 * process. */
json_t *kr_admin_spam_doc(const struct kr_admin_spam_view *v);

/* GET /api/filters (API11.md): {enabled, generations: [{id, modules:
 * [{name, version}], loaded_at_ms, in_flight, state, workers}],
 * last_error}. Every live worker's open generations merged by id,
 * newest first: in_flight summed, workers the indexes holding it
 * (ascending), loaded_at_ms the earliest, state "active" when it is
 * any worker's current one, else "retiring"; last_error the most
 * recent non-empty error of any worker, or null. */
json_t *kr_admin_filters_doc(const struct kr_admin_spam_view *v);

/* Notes the reload_seq of each worker the master will signal (all
 * but the draining ones): call before the reload. */
struct kr_admin_reload *kr_admin_reload_new(struct event_base *base,
					    const struct kr_admin_spam_view *v,
					    struct kr_httpd_call *call);
/* After the reload was started: waits on the loop until every noted
 * worker's reload_seq moved (or it is gone, or KR_ADMIN_RELOAD_WAIT_MS
 * passed), then answers call with {generation, workers, error} and
 * unlinks and frees itself. *list is the admin's list of waits. */
void kr_admin_reload_wait(struct kr_admin_reload *r,
			  struct kr_admin_reload **list);
/* Drops a wait that was never started (the reload was refused; the
 * call is the caller's to answer). */
void kr_admin_reload_free(struct kr_admin_reload *r);
/* Teardown: answers every wait on list with 503 and frees it. */
void kr_admin_reload_cancel_all(struct kr_admin_reload **list);

#endif
