/* The admin HTTP endpoint (SPEC.md §3.3), served by the master on its
 * own port so it answers even when every worker is saturated. Reads the
 * shared metrics region only; never asks a worker anything. Runs on the
 * master's loop, on admin/httpd.h: connections counted at accept up to
 * max_connections, idle/read/write deadlines, bodies up to
 * KR_ADMIN_BODY_MAX, heads up to KR_ADMIN_HEADERS_MAX. Every path needs
 * `Authorization: Bearer <token>`, except /metrics from a loopback peer
 * when metrics_open is set. */
#ifndef KR_ADMIN_H
#define KR_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/metrics.h"

struct event_base;
struct kr_admin;
struct kr_hits;
struct kr_antispam_status;
struct kr_logring;

/* The supervisor's state for /api/workers (SPEC.md §2), asked of the
 * master on each request; it lives in the master's memory, not in the
 * shared region, and includes workers that have no process while they
 * wait out a back-off. */
struct kr_admin_health {
	bool unhealthy;		  /* past the restart intensity */
	unsigned recent_restarts; /* within restart_period */
	unsigned n_workers;	  /* worker indexes 0..n_workers-1 */
};
struct kr_admin_worker_health {
	uint64_t restarts;     /* after crashes, since start */
	int64_t backoff_ms;    /* the back-off in force; 0 = none */
	int64_t restart_in_ms; /* waiting to restart this long; -1 = not */
};
/* A rolling restart of the workers (POST /api/workers/cycle). */
struct kr_admin_cycle {
	bool active;
	unsigned done, total;
};
struct kr_admin_supervisor {
	void (*health)(void *ctx, struct kr_admin_health *h_r);
	void (*worker)(void *ctx, unsigned index,
		       struct kr_admin_worker_health *w_r);
	/* POST /api/reload: what SIGHUP does (config, then every serving
	 * worker signalled); -1 + err_r when the config is refused and
	 * nothing changed. NULL: no reload. */
	int (*reload)(void *ctx, struct kr_err *err_r);
	/* POST /api/nodes/N/drain and /undrain: the shard's users get
	 * temporary errors at once (or its replicas serve reads) until
	 * undrained; -1 + err_r for a shard that does not exist. */
	int (*drain)(void *ctx, unsigned shard, bool on, struct kr_err *err_r);
	/* POST /api/workers/cycle: restarts every worker, one at a time,
	 * each replacement serving before the next goes; -1 + err_r when
	 * one is already running. */
	int (*cycle)(void *ctx, struct kr_err *err_r);
	void (*cycle_state)(void *ctx, struct kr_admin_cycle *c_r);
	void *ctx;
};

/* A database node as /api/nodes shows it. */
struct kr_admin_node {
	unsigned shard;
	int replica;	 /* -1: the primary */
	char labels[64]; /* of its metrics (storage/connmgr.h) */
	char host[128];	 /* host name, address or socket directory */
	unsigned port;	 /* 0: libpq's default */
};

struct kr_admin_settings {
	const char *token; /* copied */
	bool metrics_open;
	/* [admin] max_connections (within the master's descriptors) and
	 * the timeouts; each > 0. */
	unsigned max_connections;
	unsigned idle_timeout_ms;
	unsigned read_timeout_ms;
	unsigned write_timeout_ms;
	/* Slots [first_worker_slot, first_worker_slot + n_worker_slots) are
	 * the workers' for /api/workers. */
	unsigned first_worker_slot;
	unsigned n_worker_slots;
	/* Borrowed, outlives the admin; NULL: no health in /api/workers. */
	const struct kr_admin_supervisor *supervisor;
	/* Borrowed, outlives the admin: rule hit counts for /metrics;
	 * NULL: none. */
	const struct kr_hits *rule_hits;
	/* Each worker slot's antispam state (antispam/status.h, entry i
	 * for slot first_worker_slot + i), borrowed; NULL: none. */
	const struct kr_antispam_status *spam_status;
	bool spam_enabled; /* [antispam] enabled */
	/* Every database node, borrowed for the call (copied). */
	const struct kr_admin_node *nodes;
	unsigned n_nodes;
	unsigned n_shards;
	uint64_t cache_max_bytes; /* [cache] max_bytes per worker */
	const char *version;	  /* static */
	/* The last WARN/ERROR log lines of every process (lib/logring.h)
	 * for /api/errors, borrowed; NULL: none. */
	const struct kr_logring *errors;
	/* [admin] peers for /api/hosts (admin/peers.h), borrowed for the
	 * call (kr_admin_peers_create/_update copy them). */
	const char *peers[KR_ADMIN_PEERS_MAX];
	size_t n_peers;
};

/* Serves on the listening socket fd, which the admin owns from then on
 * (closed by kr_admin_destroy, also on failure). */
struct kr_admin *kr_admin_create(struct event_base *base, int fd,
				 struct kr_metrics *metrics, struct kr_log *log,
				 const struct kr_admin_settings *set,
				 struct kr_err *err_r);
/* Applies reloaded settings: all of them, the cap and timeouts to
 * connections already open too. */
void kr_admin_update(struct kr_admin *admin,
		     const struct kr_admin_settings *set);
void kr_admin_destroy(struct kr_admin **admin);
/* The same in a child forked from the admin's process, after
 * event_reinit: its sockets (the listener and every connection) are
 * shared with the parent, which goes on serving them; freeing must not
 * shut one down (that cut the parent's reply in flight once) and the
 * child must not keep them open (a connection the master closes would
 * stay up). kr_httpd_destroy_forked() points each at /dev/null, then
 * frees. */
void kr_admin_destroy_forked(struct kr_admin **admin);

#endif
