/* The runtime object: config, log, metrics. */
#include "server/runtime.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"

#define US_PER_S 1e6

static int
runtime_define(struct kr_runtime *rt, int *id_r, const char *name,
	       const char *labels, const char *help, enum kr_metric_kind kind,
	       double scale, struct kr_err *err_r)
{
	struct kr_metric_desc d = { .name = name,
				    .labels = labels,
				    .help = help,
				    .kind = kind,
				    .scale = scale };

	*id_r = kr_metrics_define(rt->metrics, &d, err_r);
	return *id_r < 0 ? -1 : 0;
}

static int
runtime_define_all(struct kr_runtime *rt, struct kr_err *err_r)
{
	struct kr_runtime_metrics *ids = &rt->ids;
	const char *exits = "Worker processes that exited, by reason.";

	if (runtime_define(rt, &ids->requests, "kurier_requests_total", "",
			   "Requests served by workers.", KR_METRIC_COUNTER, 1,
			   err_r) < 0 ||
	    runtime_define(rt, &ids->heartbeats,
			   "kurier_worker_heartbeats_total", "",
			   "Worker event loop heartbeats (one per second).",
			   KR_METRIC_COUNTER, 1, err_r) < 0 ||
	    runtime_define(rt, &ids->loop_lag, "kurier_worker_loop_lag_seconds",
			   "", "How late the worker's heartbeat timer fired.",
			   KR_METRIC_HISTOGRAM, US_PER_S, err_r) < 0 ||
	    runtime_define(rt, &ids->rss, "kurier_process_rss_bytes", "",
			   "Resident set size summed over live processes.",
			   KR_METRIC_GAUGE, 1, err_r) < 0 ||
	    runtime_define(rt, &ids->worker_starts,
			   "kurier_worker_starts_total", "",
			   "Worker processes started by the master.",
			   KR_METRIC_COUNTER, 1, err_r) < 0 ||
	    runtime_define(rt, &ids->exits_crash, "kurier_worker_exits_total",
			   "reason=\"crash\"", exits, KR_METRIC_COUNTER, 1,
			   err_r) < 0 ||
	    runtime_define(rt, &ids->exits_cycle, "kurier_worker_exits_total",
			   "reason=\"cycle\"", exits, KR_METRIC_COUNTER, 1,
			   err_r) < 0 ||
	    runtime_define(rt, &ids->exits_drain, "kurier_worker_exits_total",
			   "reason=\"drain\"", exits, KR_METRIC_COUNTER, 1,
			   err_r) < 0 ||
	    runtime_define(rt, &ids->config_reloads,
			   "kurier_config_reloads_total", "",
			   "Successful config reloads.", KR_METRIC_COUNTER, 1,
			   err_r) < 0 ||
	    runtime_define(rt, &ids->config_failures,
			   "kurier_config_reload_failures_total", "",
			   "Config reloads refused for a bad file.",
			   KR_METRIC_COUNTER, 1, err_r) < 0)
		return -1;
	return 0;
}

static int
runtime_define_lmtp(struct kr_runtime *rt, struct kr_err *err_r)
{
	struct kr_runtime_metrics *ids = &rt->ids;
	const char *rcpt = "LMTP recipients by final answer.";
	const struct {
		int *id;
		const char *name, *labels, *help;
		enum kr_metric_kind kind;
		double scale;
	} defs[] = {
		{ &ids->lmtp_sessions, "kurier_lmtp_sessions", "",
		  "LMTP sessions open now.", KR_METRIC_GAUGE, 1 },
		{ &ids->lmtp_sessions_total, "kurier_lmtp_sessions_total", "",
		  "LMTP sessions accepted.", KR_METRIC_COUNTER, 1 },
		{ &ids->lmtp_messages, "kurier_lmtp_messages_total", "",
		  "LMTP transactions answered after DATA.", KR_METRIC_COUNTER,
		  1 },
		{ &ids->lmtp_bytes, "kurier_lmtp_bytes_total", "",
		  "Message bytes received over LMTP.", KR_METRIC_COUNTER, 1 },
		{ &ids->lmtp_rcpt_ok, "kurier_lmtp_recipients_total",
		  "result=\"delivered\"", rcpt, KR_METRIC_COUNTER, 1 },
		{ &ids->lmtp_rcpt_unknown, "kurier_lmtp_recipients_total",
		  "result=\"unknown\"", rcpt, KR_METRIC_COUNTER, 1 },
		{ &ids->lmtp_rcpt_quota, "kurier_lmtp_recipients_total",
		  "result=\"over_quota\"", rcpt, KR_METRIC_COUNTER, 1 },
		{ &ids->lmtp_rcpt_unavailable, "kurier_lmtp_recipients_total",
		  "result=\"unavailable\"", rcpt, KR_METRIC_COUNTER, 1 },
		{ &ids->lmtp_latency, "kurier_lmtp_delivery_seconds", "",
		  "From the end of DATA to the last reply.",
		  KR_METRIC_HISTOGRAM, US_PER_S },
	};

	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (runtime_define(rt, defs[i].id, defs[i].name, defs[i].labels,
				   defs[i].help, defs[i].kind, defs[i].scale,
				   err_r) < 0)
			return -1;
	return 0;
}

static int
runtime_define_rpc(struct kr_runtime *rt, struct kr_err *err_r)
{
	struct kr_runtime_metrics *ids = &rt->ids;
	const struct {
		int *id;
		const char *name, *help;
		enum kr_metric_kind kind;
		double scale;
	} defs[] = {
		{ &ids->rpc_requests, "kurier_rpc_http_requests_total",
		  "HTTP requests answered on POST /rpc.", KR_METRIC_COUNTER,
		  1 },
		{ &ids->rpc_calls, "kurier_rpc_calls_total",
		  "JSON-RPC calls, batch entries counted one by one.",
		  KR_METRIC_COUNTER, 1 },
		{ &ids->rpc_errors, "kurier_rpc_errors_total",
		  "JSON-RPC calls answered with an error object.",
		  KR_METRIC_COUNTER, 1 },
		{ &ids->rpc_latency, "kurier_rpc_request_seconds",
		  "From the request body to the response body.",
		  KR_METRIC_HISTOGRAM, US_PER_S },
		{ &ids->rpc_logins_failed, "kurier_rpc_logins_failed_total",
		  "auth.login refused for a bad user or password.",
		  KR_METRIC_COUNTER, 1 },
		{ &ids->rpc_rate_limited, "kurier_rpc_rate_limited_total",
		  "Logins refused by the failed-login limiter (-32012).",
		  KR_METRIC_COUNTER, 1 },
		{ &ids->cache_hits, "kurier_cache_hits_total",
		  "API results served from the worker's cache.",
		  KR_METRIC_COUNTER, 1 },
		{ &ids->cache_misses, "kurier_cache_misses_total",
		  "Cache look-ups that went to storage (stale included).",
		  KR_METRIC_COUNTER, 1 },
		{ &ids->cache_evictions, "kurier_cache_evictions_total",
		  "Entries dropped to stay within [cache] max_bytes.",
		  KR_METRIC_COUNTER, 1 },
		{ &ids->cache_bytes, "kurier_cache_bytes",
		  "Bytes held by the workers' caches.", KR_METRIC_GAUGE, 1 },
	};

	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (runtime_define(rt, defs[i].id, defs[i].name, "",
				   defs[i].help, defs[i].kind, defs[i].scale,
				   err_r) < 0)
			return -1;
	return 0;
}

/* Health of the workers and, per worker index, its restarts and the
 * back-off in force (SPEC.md §2). */
static int
runtime_define_supervisor(struct kr_runtime *rt, struct kr_err *err_r)
{
	struct kr_runtime_metrics *ids = &rt->ids;
	char labels[32];

	if (runtime_define(rt, &ids->workers_unhealthy,
			   "kurier_workers_unhealthy", "",
			   "1 while worker restarts exceed restart_intensity "
			   "within restart_period (restarts back off).",
			   KR_METRIC_GAUGE, 1, err_r) < 0 ||
	    runtime_define(rt, &ids->unhealthy_total,
			   "kurier_workers_unhealthy_total", "",
			   "Times the workers became unhealthy.",
			   KR_METRIC_COUNTER, 1, err_r) < 0)
		return -1;
	ids->worker_restarts = kr_xcalloc(rt->n_workers, sizeof(int));
	ids->worker_backoff = kr_xcalloc(rt->n_workers, sizeof(int));
	for (unsigned i = 0; i < rt->n_workers; i++) {
		snprintf(labels, sizeof(labels), "worker=\"%u\"", i);
		if (runtime_define(rt, &ids->worker_restarts[i],
				   "kurier_worker_restarts_total", labels,
				   "Restarts of each worker after a crash.",
				   KR_METRIC_COUNTER, 1, err_r) < 0 ||
		    runtime_define(rt, &ids->worker_backoff[i],
				   "kurier_worker_backoff_seconds", labels,
				   "Back-off in force before each worker's "
				   "restarts (0 while healthy).",
				   KR_METRIC_GAUGE, 1000, err_r) < 0)
			return -1;
	}
	return 0;
}

/* Slots of the shared write generations: users share a slot only by
 * hash collision, which costs a spurious cache miss, never a stale
 * read. 64K slots are 512 KiB. */
#define RUNTIME_GEN_SLOTS (1u << 16)

static int
runtime_limiters(struct kr_runtime *rt, struct kr_err *err_r)
{
	const struct kr_config *cfg = rt->cfg;
	struct kr_ratelimit_conf user = {
		.burst = cfg->auth.user_burst,
		.per_minute = cfg->auth.user_per_minute,
		.max_keys = cfg->auth.limiter_keys,
	};
	struct kr_ratelimit_conf addr = {
		.burst = cfg->auth.addr_burst,
		.per_minute = cfg->auth.addr_per_minute,
		.max_keys = cfg->auth.limiter_keys,
	};

	rt->login_user = kr_ratelimit_create(&user);
	rt->login_addr = kr_ratelimit_create(&addr);
	if (rt->login_user == NULL || rt->login_addr == NULL)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "cannot map the login limiters");
	return 0;
}

static unsigned
runtime_resolve_workers(const struct kr_config *cfg)
{
	long n;

	if (cfg->workers.count > 0)
		return cfg->workers.count;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > KR_WORKERS_MAX)
		n = KR_WORKERS_MAX;
	return (unsigned)n;
}

/* Every conninfo must parse before anything connects: libpq's parse
 * errors quote the text they choke on, a malformed URI whole, password
 * and all, and connect errors end up in the log. Neither libpq's
 * message nor the value is repeated here, for the same reason. */
static int
runtime_check_conninfo(const struct kr_config *cfg, struct kr_err *err_r)
{
	for (unsigned i = 0; i < cfg->n_shards; i++) {
		const struct kr_config_shard *sh = &cfg->shards[i];

		for (unsigned r = 0; r <= sh->n_replicas; r++) {
			const char *ci =
				r == 0 ? sh->primary : sh->replicas[r - 1];
			char *msg = NULL;
			PQconninfoOption *opts = PQconninfoParse(ci, &msg);

			PQfreemem(msg);
			if (opts != NULL) {
				PQconninfoFree(opts);
				continue;
			}
			if (r == 0)
				return kr_err_set(err_r, KR_ERR_PERMANENT,
						  "%s: [shard.%u] primary: not "
						  "a valid libpq conninfo",
						  cfg->path, sh->id);
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "%s: [shard.%u] replica %u: not a "
					  "valid libpq conninfo",
					  cfg->path, sh->id, r);
		}
	}
	return 0;
}

int
kr_runtime_init(struct kr_runtime *rt, const char *cfg_path,
		struct kr_err *err_r)
{
	memset(rt, 0, sizeof(*rt));
	rt->lmtp_fd = rt->lmtp_unix_fd = rt->rpc_fd = -1;
	if (kr_config_load(cfg_path, &rt->cfg, err_r) < 0)
		return -1;
	if (runtime_check_conninfo(rt->cfg, err_r) < 0) {
		kr_config_destroy(&rt->cfg);
		return -1;
	}
	rt->log = kr_log_create(STDERR_FILENO, rt->cfg->log.level, "master");
	rt->n_workers = runtime_resolve_workers(rt->cfg);
	rt->n_worker_slots = 2 * rt->n_workers;
	rt->metrics = kr_metrics_create();
	rt->storage_cfg = rt->cfg;
	if (runtime_define_all(rt, err_r) < 0 ||
	    runtime_define_lmtp(rt, err_r) < 0 ||
	    runtime_define_rpc(rt, err_r) < 0 ||
	    runtime_define_supervisor(rt, err_r) < 0 ||
	    runtime_limiters(rt, err_r) < 0 ||
	    (rt->gens = kr_genmap_create(RUNTIME_GEN_SLOTS, err_r)) == NULL ||
	    (rt->db_ids = kr_connmgr_define_metrics(rt->metrics, rt->cfg,
						    err_r)) == NULL ||
	    kr_metrics_map(rt->metrics, 1 + rt->n_worker_slots, err_r) < 0) {
		kr_runtime_deinit(rt);
		return -1;
	}
	kr_fdbudget_plan(rt->cfg, kr_fdbudget_raise(rt->cfg->server.nofile),
			 &rt->fds);
	rt->slot = kr_metrics_slot(rt->metrics, 0);
	kr_metrics_slot_claim(rt->slot, getpid(), 0);
	kr_metrics_slot_set_state(rt->slot, KR_SLOT_SERVING);
	return 0;
}

void
kr_runtime_deinit(struct kr_runtime *rt)
{
	if (rt->lmtp_fd >= 0)
		close(rt->lmtp_fd);
	if (rt->lmtp_unix_fd >= 0)
		close(rt->lmtp_unix_fd);
	if (rt->rpc_fd >= 0)
		close(rt->rpc_fd);
	rt->lmtp_fd = rt->lmtp_unix_fd = rt->rpc_fd = -1;
	SSL_CTX_free(rt->lmtp_tls);
	SSL_CTX_free(rt->rpc_tls);
	rt->lmtp_tls = rt->rpc_tls = NULL;
	if (rt->gens != NULL)
		kr_genmap_destroy(&rt->gens);
	kr_ratelimit_destroy(&rt->login_user);
	kr_ratelimit_destroy(&rt->login_addr);
	kr_metrics_destroy(&rt->metrics);
	free(rt->ids.worker_restarts);
	free(rt->ids.worker_backoff);
	rt->ids.worker_restarts = rt->ids.worker_backoff = NULL;
	if (rt->db_ids != NULL)
		kr_connmgr_metrics_free(&rt->db_ids);
	if (rt->log != NULL)
		kr_log_destroy(&rt->log);
	if (rt->storage_cfg != rt->cfg)
		kr_config_destroy(&rt->storage_cfg);
	kr_config_destroy(&rt->cfg);
	rt->storage_cfg = NULL;
	rt->slot = NULL;
}

int
kr_runtime_reload(struct kr_runtime *rt, struct kr_err *err_r)
{
	struct kr_config *fresh;

	if (kr_config_load(rt->cfg->path, &fresh, err_r) < 0) {
		kr_metrics_inc(rt->slot, rt->ids.config_failures);
		return -1;
	}
	if (rt->cfg != rt->storage_cfg)
		kr_config_destroy(&rt->cfg);
	rt->cfg = fresh;
	kr_fdbudget_plan(fresh, rt->fds.nofile, &rt->fds);
	kr_log_set_level(rt->log, fresh->log.level);
	kr_metrics_inc(rt->slot, rt->ids.config_reloads);
	return 0;
}

unsigned long long
kr_runtime_rss(void)
{
	/* statm's second field is resident pages; procfs never blocks. */
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long long size = 0, resident = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (unsigned long long)sysconf(_SC_PAGESIZE);
}
