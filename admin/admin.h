/* The admin HTTP endpoint (SPEC.md §3.3), served by the master on its
 * own port so it answers even when every worker is saturated. Reads the
 * shared metrics region only; never asks a worker anything. Runs on the
 * master's loop. Every path needs `Authorization: Bearer <token>`,
 * except /metrics from a loopback peer when metrics_open is set. */
#ifndef KR_ADMIN_H
#define KR_ADMIN_H

#include <stdbool.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/metrics.h"

struct event_base;
struct kr_admin;

struct kr_admin_settings {
	const char *token; /* copied */
	bool metrics_open;
	/* Slots [first_worker_slot, first_worker_slot + n_worker_slots) are
	 * the workers' for /api/workers. */
	unsigned first_worker_slot;
	unsigned n_worker_slots;
};

/* Serves on the listening socket fd, which the admin owns from then on
 * (closed by kr_admin_destroy, also on failure). */
struct kr_admin *kr_admin_create(struct event_base *base, int fd,
				 struct kr_metrics *metrics, struct kr_log *log,
				 const struct kr_admin_settings *set,
				 struct kr_err *err_r);
/* Applies reloaded settings (token, metrics_open). */
void kr_admin_update(struct kr_admin *admin,
		     const struct kr_admin_settings *set);
void kr_admin_destroy(struct kr_admin **admin);

#endif
