/* Worker process: loop, pools, heartbeat, drain. */
#include "server/worker.h"

#include <event2/event.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "antispam/antispam.h"
#include "antispam/bayes_store.h"
#include "antispam/counter.h"
#include "antispam/status.h"
#include "lib/clock.h"
#include "lib/tpool.h"
#include "server/deliver/deliver.h"
#include "server/deliver/spam_verdict.h"
#include "server/lmtp/lmtp_server.h"
#include "server/rpc/rpc.h"
#include "server/rpc/rpc_http.h"
#include "server/process_metrics.h"
#include "storage/census.h"
#include "storage/fts_indexer.h"
#include "storage/connmgr.h"
#include "storage/shardmap.h"
#include "storage/shardmove.h"
#include "storage/shardpoll.h"
#include "storage/store.h"

#define WORKER_HEARTBEAT_US 1000000

struct worker {
	struct kr_runtime *rt;
	struct event_base *base;
	struct kr_tpool *io;
	struct kr_tpool *cpu;
	struct kr_connmgr *db;	  /* NULL without shards */
	struct kr_census *census; /* worker 0 only: users per shard */
	struct kr_fts_indexer
		*fts; /* worker 0 only: indexing behind delivery */
	unsigned index;
	struct kr_shardmap *map;
	struct kr_shardpoll *mappoll; /* the map's overrides, every worker */
	struct kr_store *store;	      /* NULL without shards */
	struct kr_deliver_env deliver;
	struct kr_antispam *spam; /* NULL: [antispam] off or broken */
	struct kr_lmtp_server *lmtp;
	struct kr_rpc *rpc;
	struct kr_rpc_http *http;
	struct event *drain_check;
	struct event *sig_term;
	struct event *sig_int;
	struct event *sig_hup;
	struct event *heartbeat;
	pid_t master_pid;
	int64_t next_beat_us;
	int exit_code;
};

static void
worker_on_drain_check(evutil_socket_t fd, short what, void *ctx)
{
	struct worker *w = ctx;

	(void)fd;
	(void)what;
	if (kr_lmtp_server_sessions(w->lmtp) == 0 &&
	    kr_rpc_pending(w->rpc) == 0 && kr_rpc_http_pending(w->http) == 0)
		event_base_loopexit(w->base, NULL);
}

/* Stop accepting; sessions finish what they have acknowledged work for
 * and close; the loop ends when the last one has (the master kills us
 * at drain_timeout otherwise). */
static void
worker_drain(struct worker *w, const char *why)
{
	struct timeval tick = { .tv_usec = 100000 };

	if (w->drain_check != NULL)
		return;
	kr_metrics_slot_set_state(w->rt->slot, KR_SLOT_DRAINING);
	kr_log_msg(w->rt->log, KR_LOG_INFO, NULL, "worker.drain", why);
	kr_lmtp_server_stop_accepting(w->lmtp);
	kr_rpc_http_stop_accepting(w->http);
	/* The replacement counts (and indexes) from now on; our figures
	 * back to 0. */
	kr_census_destroy(&w->census);
	kr_fts_indexer_destroy(&w->fts);
	w->drain_check =
		event_new(w->base, -1, EV_PERSIST, worker_on_drain_check, w);
	event_add(w->drain_check, &tick);
	event_active(w->drain_check, EV_TIMEOUT, 0);
}

static void
worker_on_stop(evutil_socket_t sig, short what, void *ctx)
{
	(void)what;
	worker_drain(ctx, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static int
worker_tokens_get(void *store, const char *account, const uint64_t *hashes,
		  size_t n, kr_filter_tokens_fn *cb, void *arg)
{
	return kr_antispam_tokens_get(store, account, hashes, n, cb, arg);
}

/* A generation became current or closed: the admin side sees it. */
static void
worker_spam_changed(void *ctx, const struct kr_antispam *as)
{
	struct kr_runtime *rt = ctx;

	kr_antispam_status_publish(rt->spam_status, rt->spam_status_entry,
				   rt->cfg->antispam.enabled, as, NULL, false);
}

/* The antispam host, as [antispam] says: built when enabled (a host
 * that cannot be built is logged and messages stay unjudged: mail is
 * not refused for a broken filter), a new generation on reload, the
 * built-in ham when disabled. */
static void
worker_spam(struct worker *w, bool reload)
{
	const struct kr_config *cfg = w->rt->cfg;
	struct kr_antispam_env env = {
		.base = w->base,
		.log = w->rt->log,
		.cpu = w->cpu,
		.hits = w->rt->spam_hits,
		.slot = w->rt->slot,
		.ids = w->rt->spam_ids,
		.count = kr_counter_count,
		.count_ctx = w->rt->spam_counter,
		.tokens_get = w->store != NULL ? worker_tokens_get : NULL,
		.tokens_ctx = w->store,
		.changed = worker_spam_changed,
		.changed_ctx = w->rt,
	};
	struct kr_err err = { 0 };
	struct kr_log_line line;
	int rc = 0;

	w->deliver.verdict = (struct kr_verdict_step){ 0 };
	if (cfg->antispam.enabled && w->spam == NULL)
		rc = kr_antispam_create(&env, cfg, &w->spam, &err);
	else if (cfg->antispam.enabled && reload)
		rc = kr_antispam_reload(w->spam, cfg, &err);
	kr_antispam_status_publish(w->rt->spam_status, w->rt->spam_status_entry,
				   cfg->antispam.enabled, w->spam,
				   rc < 0 ? err.msg : NULL, reload);
	if (!cfg->antispam.enabled)
		return;
	if (w->spam != NULL)
		w->deliver.verdict = kr_spam_verdict_step(w->spam);
	if (!kr_log_begin(&line, w->rt->log,
			  rc < 0 ? KR_LOG_ERROR : KR_LOG_INFO, NULL,
			  rc < 0 ? "antispam.failed" : "antispam.ready"))
		return;
	if (w->spam != NULL)
		kr_log_uint(&line, "generation",
			    kr_antispam_generation(w->spam));
	if (rc < 0)
		kr_log_str(&line, "error", err.msg);
	kr_log_end(&line);
}

static void
worker_on_hup(evutil_socket_t sig, short what, void *ctx)
{
	struct worker *w = ctx;
	struct kr_err err = { 0 };

	(void)sig;
	(void)what;
	if (kr_runtime_reload(w->rt, &err) < 0) {
		kr_log_msg(w->rt->log, KR_LOG_ERROR, NULL,
			   "config.reload_failed", err.msg);
		kr_antispam_status_publish(
			w->rt->spam_status, w->rt->spam_status_entry,
			w->rt->cfg->antispam.enabled, w->spam, err.msg, true);
		return;
	}
	kr_rpc_http_reload(w->http);
	kr_log_msg(w->rt->log, KR_LOG_INFO, NULL, "config.reload",
		   w->rt->cfg->path);
	worker_spam(w, true);
}

static void
worker_on_heartbeat(evutil_socket_t fd, short what, void *ctx)
{
	struct worker *w = ctx;
	struct kr_runtime *rt = w->rt;
	int64_t now = kr_clock_mono_us();
	unsigned long long rss = kr_runtime_rss();

	(void)fd;
	(void)what;
	if (getppid() != w->master_pid) {
		worker_drain(w, "master gone");
		return;
	}
	/* Lateness of a timer is how long something held the loop. */
	kr_metrics_observe(
		rt->slot, rt->worker_ids->loop_lag,
		now > w->next_beat_us ? (uint64_t)(now - w->next_beat_us) : 0);
	w->next_beat_us = now + WORKER_HEARTBEAT_US;
	kr_metrics_inc(rt->slot, rt->worker_ids->heartbeats);
	kr_metrics_gauge_set(rt->slot, rt->worker_ids->rss, (int64_t)rss);
	kr_metrics_slot_set_rss(rt->slot, rss);
}

static struct kr_tpool *
worker_pool(struct worker *w, const char *name, unsigned threads,
	    unsigned queue)
{
	struct kr_tpool_settings set = {
		.name = name,
		.threads = threads,
		.queue_max = queue,
		.inline_max = w->rt->cfg->workers.cpu_inline_max,
	};

	return kr_tpool_create(w->base, &set);
}

static int
worker_rpc(struct worker *w)
{
	struct kr_rpc_deps deps = {
		.base = w->base,
		.rt = w->rt,
		.store = w->store,
		.io = w->io,
		.cpu = w->cpu,
		.gens = w->rt->gens,
		.antispam = w->spam,
	};
	struct kr_err err = { 0 };

	w->rpc = kr_rpc_create(&deps, &err);
	if (w->rpc != NULL)
		w->http = kr_rpc_http_create(w->base, w->rt, w->rpc, &err);
	if (w->http == NULL) {
		kr_log_msg(w->rt->log, KR_LOG_ERROR, NULL, "worker.fail",
			   err.msg);
		return -1;
	}
	return 0;
}

/* The shard map with the buckets moved so far (storage/shardpoll.h),
 * read before the loop serves anyone: the config's ranges alone would
 * send a moved bucket's users to a shard that no longer has them. A
 * blocking read, but before the first request; if no shard answers,
 * the map stays pending (temporary errors) until the poller's first
 * answer. */
static void
worker_map(struct worker *w)
{
	struct kr_err err = { 0 };

	w->map = kr_shardmap_create(w->rt->storage_cfg);
	if (kr_shardmove_load_map(w->rt->storage_cfg, w->map, &err) < 0) {
		kr_shardmap_set_pending(w->map);
		kr_log_msg(w->rt->log, KR_LOG_WARN, NULL, "shardmap.pending",
			   err.msg);
	}
	w->mappoll = kr_shardpoll_create(w->base, w->db, w->map);
}

static int
worker_setup(struct worker *w)
{
	const struct kr_config *cfg = w->rt->cfg;
	struct timeval beat = { .tv_sec = WORKER_HEARTBEAT_US / 1000000 };

	w->base = event_base_new();
	if (w->base == NULL)
		return -1;
	w->io = worker_pool(w, "io", cfg->workers.io_threads,
			    cfg->workers.io_queue);
	w->cpu = worker_pool(w, "cpu", 1, cfg->workers.cpu_queue);
	w->sig_term = evsignal_new(w->base, SIGTERM, worker_on_stop, w);
	w->sig_int = evsignal_new(w->base, SIGINT, worker_on_stop, w);
	w->sig_hup = evsignal_new(w->base, SIGHUP, worker_on_hup, w);
	w->heartbeat =
		event_new(w->base, -1, EV_PERSIST, worker_on_heartbeat, w);
	if (w->rt->storage_cfg->n_shards > 0) {
		w->db = kr_connmgr_create(w->base, w->io, w->rt->storage_cfg,
					  w->rt->slot, w->rt->db_ids,
					  w->rt->log);
		/* The master drains shards in its own slot, slot 0. */
		kr_connmgr_watch_drain(w->db,
				       kr_metrics_slot(w->rt->metrics, 0));
		if (w->index == 0) {
			w->census = kr_census_create(
				w->base, w->db, w->rt->slot, w->rt->db_ids,
				w->rt->storage_cfg->storage.census_interval_ms);
			w->fts = kr_fts_indexer_create(w->base, w->db,
						       w->rt->slot,
						       w->rt->db_ids, NULL);
		}
		worker_map(w);
		w->store = kr_store_create(w->base, w->db, w->map, w->cpu,
					   w->rt->gens, w->rt->storage_cfg,
					   w->rt->log);
		kr_store_set_metrics(w->store, w->rt->slot, w->rt->store_ids);
	}
	/* The delivery pipeline; its verdict step the antispam host. */
	w->deliver = (struct kr_deliver_env){ .base = w->base,
					      .store = w->store,
					      .cpu = w->cpu };
	worker_spam(w, false);
	w->lmtp = kr_lmtp_server_create(w->base, w->rt, &w->deliver,
					w->rt->lmtp_tls);
	if (worker_rpc(w) < 0)
		return -1;
	if (w->io == NULL || w->cpu == NULL || w->sig_term == NULL ||
	    w->sig_int == NULL || w->sig_hup == NULL || w->heartbeat == NULL)
		return -1;
	w->next_beat_us = kr_clock_mono_us() + WORKER_HEARTBEAT_US;
	if (evsignal_add(w->sig_term, NULL) < 0 ||
	    evsignal_add(w->sig_int, NULL) < 0 ||
	    evsignal_add(w->sig_hup, NULL) < 0 ||
	    event_add(w->heartbeat, &beat) < 0)
		return -1;
	return 0;
}

static void
worker_event_free(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

static void
worker_teardown(struct worker *w)
{
	sigset_t stop;

	/* Leaving anyway: a second stop signal (Ctrl-C reaches the whole
	 * process group, then the master asks too) must not kill us
	 * half-way through the teardown. Blocked, not ignored: freeing a
	 * libevent signal event restores the disposition it saved (the
	 * default, which kills). */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	worker_event_free(&w->sig_term);
	worker_event_free(&w->sig_int);
	worker_event_free(&w->sig_hup);
	worker_event_free(&w->heartbeat);
	worker_event_free(&w->drain_check);
	/* Sessions first (they cancel their store operations), then the
	 * store, then the connections under it. */
	kr_lmtp_server_destroy(&w->lmtp);
	kr_rpc_destroy(&w->rpc); /* answers its requests: before http */
	kr_rpc_http_destroy(&w->http);
	kr_store_destroy(&w->store);
	/* After the sessions (their checks), the trainings (their holds on
	 * a generation) and the store (look-ups a cancelled check left). */
	kr_antispam_destroy(&w->spam);
	kr_census_destroy(&w->census);
	kr_fts_indexer_destroy(&w->fts);
	kr_shardpoll_destroy(&w->mappoll);
	kr_connmgr_destroy(&w->db);
	kr_shardmap_destroy(&w->map);
	if (w->cpu != NULL)
		kr_tpool_destroy(&w->cpu);
	if (w->io != NULL)
		kr_tpool_destroy(&w->io);
	if (w->base != NULL)
		event_base_free(w->base);
	w->base = NULL;
}

int
kr_worker_run(struct kr_runtime *rt, unsigned index,
	      struct kr_metrics_slot *slot, pid_t master_pid)
{
	struct worker w = { .rt = rt,
			    .master_pid = master_pid,
			    .index = index };
	struct kr_err err = { 0 };
	char proc[32];
	sigset_t all;

	rt->slot = slot;
	kr_antispam_status_claim(rt->spam_status, rt->spam_status_entry,
				 getpid(), index);
	snprintf(proc, sizeof(proc), "worker.%u", index);
	kr_log_set_proc(rt->log, proc);
	/* Root stays with the master: nothing is served before this. */
	if (kr_privdrop_apply(&rt->priv, &err) < 0) {
		kr_log_msg(rt->log, KR_LOG_ERROR, NULL, "worker.fail", err.msg);
		return 1;
	}
	/* The kernel tells us when the master dies; the heartbeat's getppid
	 * check covers the race with a master that died before prctl.
	 * After the drop: changing credentials clears this setting. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (worker_setup(&w) < 0) {
		kr_log_msg(rt->log, KR_LOG_ERROR, NULL, "worker.fail",
			   "loop set-up failed");
		worker_teardown(&w);
		return 1;
	}
	/* The master forked us with every signal blocked; our handlers are
	 * in place now. */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	kr_metrics_slot_set_state(slot, KR_SLOT_SERVING);
	kr_log_msg(rt->log, KR_LOG_INFO, NULL, "worker.start", "serving");
	if (getppid() != master_pid)
		worker_drain(&w, "master gone");
	event_base_dispatch(w.base);
	worker_teardown(&w);
	kr_log_msg(rt->log, KR_LOG_INFO, NULL, "worker.exit", "drained");
	return w.exit_code;
}
