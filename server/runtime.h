/* The runtime: the one object a kurierd process (master or worker)
 * hands to everything that needs process-wide things: config, log,
 * metrics and the ids of each part's metrics. Created by the master
 * before forking; each worker inherits its copy. One thread (the loop). */
#ifndef KR_RUNTIME_H
#define KR_RUNTIME_H

#include "lib/config.h"
#include "lib/genmap.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "server/fdbudget.h"
#include "server/privdrop.h"
#include "server/auth/ratelimit.h"
#include <openssl/ssl.h>
#include "storage/connmgr.h"

/* Each part defines its own metrics and keeps their ids in a struct of
 * its own (its header): the process model's, the LMTP and JSON-RPC
 * sides', the cache's, the supervisor's, storage's. */
struct kr_worker_metrics;   /* server/process_metrics.h */
struct kr_master_metrics;   /* server/process_metrics.h */
struct kr_lmtp_metrics;	    /* server/lmtp/lmtp_metrics.h */
struct kr_rpc_metrics;	    /* server/rpc/rpc_metrics.h */
struct kr_cache_metrics;    /* server/cache/cache_metrics.h */
struct kr_restart_metrics;  /* server/restart.h */
struct kr_antispam_metrics; /* antispam/antispam.h */
struct kr_hits;		    /* antispam/hits.h */
struct kr_counter;	    /* antispam/counter.h */
struct kr_antispam_status;  /* antispam/status.h */
struct kr_logring;	    /* lib/logring.h */

/* The runtime's own: config reloads, counted by every process. */
struct kr_runtime_metrics {
	int config_reloads;  /* counter */
	int config_failures; /* counter */
};

struct kr_runtime {
	struct kr_config *cfg; /* swapped on reload */
	/* The config storage was set up from: shards and pools change only
	 * with a restart (their metrics are fixed before forking), so this
	 * one stays alive across reloads. */
	struct kr_config *storage_cfg;
	struct kr_log *log;
	struct kr_metrics *metrics;
	struct kr_metrics_slot *slot; /* this process's slot */
	/* The ids of every part's metrics: defined by kr_runtime_init
	 * before the fork (the registry is fixed then), in the order
	 * /metrics lists them. */
	struct kr_worker_metrics *worker_ids;
	struct kr_master_metrics *master_ids;
	struct kr_runtime_metrics ids;
	struct kr_lmtp_metrics *lmtp_ids;
	struct kr_rpc_metrics *rpc_ids;
	struct kr_cache_metrics *cache_ids;
	struct kr_restart_metrics *restart_ids;
	struct kr_connmgr_metrics *db_ids;
	struct kr_antispam_metrics *spam_ids;
	int lmtp_fd; /* listening sockets opened by the master, or -1 */
	int lmtp_unix_fd;
	SSL_CTX *lmtp_tls; /* NULL: no STARTTLS */
	int rpc_fd;	   /* JSON-RPC listener, or -1 */
	SSL_CTX *rpc_tls;  /* NULL: plain HTTP */
	/* Per-user write generations shared by every worker: a write
	 * bumps its user's, and cached reads of that user go stale. */
	struct kr_genmap *gens;
	/* Failed logins per user and per client address, shared by every
	 * worker (server/auth/ratelimit.h). Fixed at start: reload keeps them.
	 */
	struct kr_ratelimit *login_user, *login_addr;
	/* The antispam rate limits' and bulk detection's counters, shared
	 * by every worker (antispam/counter.h). */
	struct kr_counter *spam_counter;
	struct kr_hits *spam_hits; /* rule hit counts (antispam/hits.h) */
	/* Each worker's antispam state for the admin side, one entry per
	 * worker slot (antispam/status.h); spam_status_entry is this
	 * worker's (set in the child before it runs). */
	struct kr_antispam_status *spam_status;
	unsigned spam_status_entry;
	/* The last WARN/ERROR log lines of every process (lib/logring.h),
	 * shared; set on log before the fork. */
	struct kr_logring *errors;
	/* RLIMIT_NOFILE and the connection caps within it; planned
	 * again on reload (the limit itself stays). */
	struct kr_fdbudget fds;
	/* Whom workers run as: resolved by the master at start-up. */
	struct kr_privdrop priv;
	unsigned n_workers;	 /* resolved workers.count */
	unsigned n_worker_slots; /* 2 per worker: replacement + draining */
};

/* Loads the config at path, creates the log (stderr) and maps the
 * metrics region with slot 0 for the master. Start-up errors go to
 * err_r with the config's file:line message. */
int kr_runtime_init(struct kr_runtime *rt, const char *cfg_path,
		    struct kr_err *err_r);
void kr_runtime_deinit(struct kr_runtime *rt);

/* Re-reads the config file; on success swaps it in and applies the log
 * level (storage keeps storage_cfg). On failure the running config
 * stays and err_r says why. */
int kr_runtime_reload(struct kr_runtime *rt, struct kr_err *err_r);

/* Current resident set size of this process in bytes (0 if unknown). */
unsigned long long kr_runtime_rss(void);

#endif
