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
struct kr_store_metrics;    /* storage/store.h */
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
	/* The config storage was set up from: it stays alive across
	 * reloads, except that the master takes a reloaded config that
	 * only appends shards (kr_runtime_reload_commit) as its new
	 * storage config; workers forked afterwards use it. Pools and
	 * conninfo of existing shards change only with a restart. */
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
	struct kr_store_metrics *store_ids;
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

/* Whether fresh keeps old's shards (the same primary, replicas and
 * buckets, in the same order): 0 with *grown_r true when it only
 * appends shards, each without buckets (they wait for bucket moves);
 * -1 + KR_ERR_PERMANENT naming the first shard removed, changed or new
 * with buckets (that needs a restart). Pool sizes are not compared. */
int kr_runtime_storage_compare(const struct kr_config *old,
			       const struct kr_config *fresh, bool *grown_r,
			       struct kr_err *err_r);

/* A reload in two steps, so that the master can prepare new shards
 * (migrations) between them: begin re-reads and checks the file
 * (limits, conninfo, the storage change against storage_cfg, the
 * metrics reserved for new shards); -1 + err_r (counted as a failed
 * reload) leaves everything as it was. Then exactly one of commit
 * (swaps the config in, applies the log level; with adopt_storage and
 * grown shards, the new config becomes storage_cfg too and the new
 * shards' metrics are shown) or abort (counted as failed). */
struct kr_runtime_staged {
	struct kr_config *fresh;
	unsigned old_shards; /* storage_cfg's, at begin */
	bool grown;	     /* fresh appends shards */
};
int kr_runtime_reload_begin(struct kr_runtime *rt, struct kr_runtime_staged *st,
			    struct kr_err *err_r);
void kr_runtime_reload_commit(struct kr_runtime *rt,
			      struct kr_runtime_staged *st, bool adopt_storage);
void kr_runtime_reload_abort(struct kr_runtime *rt,
			     struct kr_runtime_staged *st);

/* begin + commit without adopting storage (a worker: its pools stay
 * those it was forked with; new shards reach it by a worker cycle). */
int kr_runtime_reload(struct kr_runtime *rt, struct kr_err *err_r);

/* Current resident set size of this process in bytes (0 if unknown). */
unsigned long long kr_runtime_rss(void);

#endif
