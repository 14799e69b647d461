/* The runtime: the one object a kurierd process (master or worker)
 * hands to everything that needs process-wide things: config, log,
 * metrics and the ids of the server's own metrics. Created by the master
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

/* Ids of the metrics the server itself defines. */
struct kr_runtime_metrics {
	int requests;		 /* counter, per worker: cycling input */
	int heartbeats;		 /* counter: worker loop ticks */
	int loop_lag;		 /* histogram (us): timer lateness */
	int rss;		 /* gauge: bytes */
	int worker_starts;	 /* counter, master */
	int exits_crash;	 /* counter, master */
	int exits_cycle;	 /* counter, master */
	int exits_drain;	 /* counter, master */
	int config_reloads;	 /* counter */
	int config_failures;	 /* counter */
	int lmtp_sessions;	 /* gauge: open now */
	int lmtp_sessions_total; /* counter */
	int lmtp_messages;	 /* counter: DATA transactions answered */
	int lmtp_bytes;		 /* counter: message bytes received */
	int lmtp_rcpt_ok, lmtp_rcpt_unknown, lmtp_rcpt_quota,
		lmtp_rcpt_unavailable; /* counters: final recipient results */
	int lmtp_latency; /* histogram (us): end of DATA -> replies */
	int rpc_requests; /* counter: HTTP requests answered */
	int rpc_calls;	  /* counter: JSON-RPC calls, notifications too */
	int rpc_errors;	  /* counter: calls answered with an error */
	int rpc_latency;  /* histogram (us): body in -> response out */
	int rpc_logins_failed, rpc_rate_limited; /* counters */
	int rpc_password_checks; /* counter: hashes run for auth.login */
	int cache_hits, cache_misses, cache_evictions; /* counters */
	int cache_bytes;			       /* gauge */
	/* The supervisor's, written by the master (SPEC.md §2). */
	int workers_unhealthy; /* gauge: 1 past the restart intensity */
	int unhealthy_total;   /* counter: times it became unhealthy */
	int *worker_restarts;  /* counter per worker index */
	int *worker_backoff;   /* gauge (ms) per worker index */
};

struct kr_runtime {
	struct kr_config *cfg; /* swapped on reload */
	/* The config storage was set up from: shards and pools change only
	 * with a restart (their metrics are fixed before forking), so this
	 * one stays alive across reloads. */
	struct kr_config *storage_cfg;
	struct kr_connmgr_metrics *db_ids;
	struct kr_log *log;
	struct kr_metrics *metrics;
	struct kr_metrics_slot *slot; /* this process's slot */
	struct kr_runtime_metrics ids;
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
