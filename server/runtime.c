/* The runtime object: config, log, metrics (every part's, defined here
 * before the fork). */
#include "server/runtime.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "antispam/antispam.h"
#include "antispam/counter.h"
#include "antispam/hits.h"
#include "antispam/status.h"
#include "lib/limits.h"
#include "lib/clock.h"
#include "lib/logring.h"
#include "server/cache/cache_metrics.h"
#include "server/lmtp/lmtp_metrics.h"
#include "server/restart.h"
#include "server/rpc/rpc_metrics.h"
#include "server/process_metrics.h"
#include "storage/store.h"

#define RUNTIME_ID(f) offsetof(struct kr_runtime_metrics, f)

static const struct kr_metric_def runtime_metric_defs[] = {
	{ RUNTIME_ID(config_reloads),
	  { "kurier_config_reloads_total", "", "Successful config reloads.",
	    KR_METRIC_COUNTER, 1 } },
	{ RUNTIME_ID(config_failures),
	  { "kurier_config_reload_failures_total", "",
	    "Config reloads refused for a bad file.", KR_METRIC_COUNTER, 1 } },
};

/* Every part's metrics, in the order /metrics has always listed them:
 * the processes', the runtime's, the LMTP and JSON-RPC sides', the
 * cache's, the supervisor's, then storage's. */
static int
runtime_define_metrics(struct kr_runtime *rt, struct kr_err *err_r)
{
	struct kr_metrics *m = rt->metrics;

	if ((rt->worker_ids = kr_worker_metrics_define(m, err_r)) == NULL ||
	    (rt->master_ids = kr_master_metrics_define(m, err_r)) == NULL ||
	    kr_metrics_define_table(m, KR_METRICS_TABLE(runtime_metric_defs),
				    &rt->ids, err_r) < 0 ||
	    (rt->lmtp_ids = kr_lmtp_metrics_define(m, err_r)) == NULL ||
	    (rt->rpc_ids = kr_rpc_metrics_define(m, err_r)) == NULL ||
	    (rt->cache_ids = kr_cache_metrics_define(m, err_r)) == NULL ||
	    (rt->restart_ids = kr_restart_metrics_define(m, rt->n_workers,
							 err_r)) == NULL ||
	    (rt->db_ids = kr_connmgr_define_metrics_reserve(
		     m, rt->cfg, rt->cfg->storage.max_shards, err_r)) == NULL ||
	    (rt->spam_ids = kr_antispam_metrics_define(m, err_r)) == NULL ||
	    (rt->store_ids = kr_store_metrics_define(m, err_r)) == NULL)
		return -1;
	return 0;
}

static void runtime_free_metrics(struct kr_runtime *rt);

/* The reserve for shards a reload may add ([storage] max_shards) can
 * overflow the registry (KR_METRICS_MAX) with many replicas per shard:
 * then the shards configured get their metrics and growing needs a
 * restart, said once at start. */
static int
runtime_define_metrics_fit(struct kr_runtime *rt, struct kr_err *err_r)
{
	unsigned max = rt->cfg->storage.max_shards;

	if (runtime_define_metrics(rt, err_r) == 0)
		return 0;
	if (max <= rt->cfg->n_shards)
		return -1;
	kr_log_msg(rt->log, KR_LOG_WARN, NULL, "master.max_shards",
		   "no room for the metrics of [storage] max_shards shards; "
		   "adding a shard needs a restart");
	runtime_free_metrics(rt);
	kr_metrics_destroy(&rt->metrics);
	rt->metrics = kr_metrics_create();
	rt->cfg->storage.max_shards = rt->cfg->n_shards;
	kr_err_clear(err_r);
	return runtime_define_metrics(rt, err_r);
}

static void
runtime_free_metrics(struct kr_runtime *rt)
{
	free(rt->worker_ids);
	free(rt->master_ids);
	free(rt->lmtp_ids);
	free(rt->rpc_ids);
	free(rt->cache_ids);
	free(rt->spam_ids);
	free(rt->store_ids);
	rt->spam_ids = NULL;
	rt->store_ids = NULL;
	rt->worker_ids = NULL;
	rt->master_ids = NULL;
	rt->lmtp_ids = NULL;
	rt->rpc_ids = NULL;
	rt->cache_ids = NULL;
	kr_restart_metrics_free(&rt->restart_ids);
	if (rt->db_ids != NULL)
		kr_connmgr_metrics_free(&rt->db_ids);
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
	if (kr_counter_create(KR_ANTISPAM_COUNTER_SLOTS_DEFAULT,
			      &rt->spam_counter, err_r) < 0 ||
	    kr_hits_create(KR_ANTISPAM_HIT_NAMES, &rt->spam_hits, err_r) < 0 ||
	    kr_antispam_status_create(rt->n_worker_slots, &rt->spam_status,
				      err_r) < 0 ||
	    kr_logring_create(KR_LOGRING_ENTRIES, &rt->errors, err_r) < 0)
		return -1;
	/* Before the fork: every worker's copy of the log adds to it. */
	kr_log_set_ring(rt->log, rt->errors);
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
	if (kr_store_check_config(rt->cfg, err_r) < 0 ||
	    runtime_define_metrics_fit(rt, err_r) < 0 ||
	    runtime_limiters(rt, err_r) < 0 ||
	    (rt->gens = kr_genmap_create(RUNTIME_GEN_SLOTS, err_r)) == NULL ||
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
	kr_counter_destroy(&rt->spam_counter);
	kr_hits_destroy(&rt->spam_hits);
	kr_antispam_status_destroy(&rt->spam_status);
	if (rt->log != NULL)
		kr_log_set_ring(rt->log, NULL);
	kr_logring_destroy(&rt->errors);
	kr_metrics_destroy(&rt->metrics);
	runtime_free_metrics(rt);
	if (rt->log != NULL)
		kr_log_destroy(&rt->log);
	if (rt->storage_cfg != rt->cfg)
		kr_config_destroy(&rt->storage_cfg);
	kr_config_destroy(&rt->cfg);
	rt->storage_cfg = NULL;
	rt->slot = NULL;
}

static bool
runtime_str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Shard s of old as fresh has it: the same nodes and the same buckets.
 * Pool sizes may differ (they take effect at the next restart). */
static int
runtime_shard_same(const struct kr_config_shard *o,
		   const struct kr_config_shard *f, const char *path,
		   struct kr_err *err_r)
{
	if (!runtime_str_eq(o->primary, f->primary))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: [shard.%u] primary changed: that needs "
				  "a restart (reload refused, nothing changed)",
				  path, o->id);
	if (o->n_replicas != f->n_replicas)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: [shard.%u] replicas changed (%u -> "
				  "%u): that needs a restart (reload refused, "
				  "nothing changed)",
				  path, o->id, o->n_replicas, f->n_replicas);
	for (unsigned r = 0; r < o->n_replicas; r++)
		if (!runtime_str_eq(o->replicas[r], f->replicas[r]))
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "%s: [shard.%u] replica %u changed: "
					  "that needs a restart (reload "
					  "refused, nothing changed)",
					  path, o->id, r + 1);
	if (o->has_buckets != f->has_buckets ||
	    (o->has_buckets &&
	     (o->bucket_lo != f->bucket_lo || o->bucket_hi != f->bucket_hi)))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: [shard.%u] buckets changed: buckets "
				  "change shard only by a move (an even split "
				  "changes with the number of shards: write "
				  "the ranges out before adding one); reload "
				  "refused, nothing changed",
				  path, o->id);
	return 0;
}

int
kr_runtime_storage_compare(const struct kr_config *old,
			   const struct kr_config *fresh, bool *grown_r,
			   struct kr_err *err_r)
{
	*grown_r = false;
	if (fresh->n_shards < old->n_shards)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: [shard.%u] removed: removing a shard "
				  "needs a restart, after moving its buckets "
				  "away (reload refused, nothing changed)",
				  fresh->path, fresh->n_shards);
	for (unsigned s = 0; s < old->n_shards; s++)
		if (runtime_shard_same(&old->shards[s], &fresh->shards[s],
				       fresh->path, err_r) < 0)
			return -1;
	for (unsigned s = old->n_shards; s < fresh->n_shards; s++)
		if (fresh->shards[s].has_buckets)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "%s: [shard.%u] is new: a shard "
					  "joins without buckets (moves give "
					  "it some); reload refused, nothing "
					  "changed",
					  fresh->path, s);
	*grown_r = fresh->n_shards > old->n_shards;
	return 0;
}

int
kr_runtime_reload_begin(struct kr_runtime *rt, struct kr_runtime_staged *st,
			struct kr_err *err_r)
{
	memset(st, 0, sizeof(*st));
	st->old_shards = rt->storage_cfg->n_shards;
	if (kr_config_load(rt->cfg->path, &st->fresh, err_r) < 0 ||
	    kr_store_check_config(st->fresh, err_r) < 0 ||
	    runtime_check_conninfo(st->fresh, err_r) < 0 ||
	    kr_runtime_storage_compare(rt->storage_cfg, st->fresh, &st->grown,
				       err_r) < 0 ||
	    (st->grown && rt->db_ids != NULL &&
	     kr_connmgr_metrics_fit(rt->db_ids, st->fresh, err_r) < 0)) {
		kr_runtime_reload_abort(rt, st);
		return -1;
	}
	return 0;
}

void
kr_runtime_reload_abort(struct kr_runtime *rt, struct kr_runtime_staged *st)
{
	kr_config_destroy(&st->fresh);
	kr_metrics_inc(rt->slot, rt->ids.config_failures);
}

void
kr_runtime_reload_commit(struct kr_runtime *rt, struct kr_runtime_staged *st,
			 bool adopt_storage)
{
	struct kr_config *fresh = st->fresh;

	st->fresh = NULL;
	if (rt->cfg != rt->storage_cfg)
		kr_config_destroy(&rt->cfg);
	rt->cfg = fresh;
	if (adopt_storage && st->grown) {
		kr_config_destroy(&rt->storage_cfg);
		rt->storage_cfg = fresh;
		if (rt->db_ids != NULL)
			kr_connmgr_metrics_show(rt->metrics, rt->db_ids, fresh);
	}
	kr_fdbudget_plan(fresh, rt->fds.nofile, &rt->fds);
	kr_log_set_level(rt->log, fresh->log.level);
	kr_metrics_inc(rt->slot, rt->ids.config_reloads);
}

int
kr_runtime_reload(struct kr_runtime *rt, struct kr_err *err_r)
{
	struct kr_runtime_staged st;

	if (kr_runtime_reload_begin(rt, &st, err_r) < 0)
		return -1;
	kr_runtime_reload_commit(rt, &st, false);
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
