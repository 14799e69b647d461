/* Master: supervisor, worker cycling, signals, admin endpoint. */
#include "server/master.h"

#include <errno.h>
#include <stddef.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin/admin.h"
#include "lib/clock.h"
#include "lib/secret.h"
#include "server/listen.h"
#include "server/notify.h"
#include "storage/connmgr.h"
#include "storage/migrate.h"
#include "server/restart.h"
#include "server/tls.h"
#include "server/worker.h"
#include "server/process_metrics.h"
#include "server/admin_nodes.h"
#include "server/version.h"

#define MASTER_TICK_MS 250
#define MASTER_MIN_AGE_MS 1000 /* a worker is not cycled younger */
#define MASTER_TOKEN_BYTES 32

struct master_child {
	pid_t pid; /* 0: free */
	unsigned index;
	enum kr_slot_state state;
	bool cycle_requested; /* replacement pending, then drain */
	bool cycling;	      /* draining because it was cycled */
	int64_t drain_deadline_ms;
};

struct master {
	struct kr_runtime *rt;
	struct event_base *base;
	struct event *sigs[4];
	struct event *tick;
	struct kr_admin *admin;
	struct kr_admin_supervisor supervisor; /* for /api/workers */
	struct kr_restart *restarts;	       /* intensity and back-off */
	struct master_child *children; /* rt->n_worker_slots; slot = 1 + i */
	bool *spawn_pending;	       /* per worker index */
	int64_t *spawn_at_ms;	       /* per worker index: not before */
	struct kr_admin_node *nodes;   /* for the admin */
	unsigned n_nodes;
	struct kr_admin_cycle cycle; /* POST /api/workers/cycle */
	/* Shards joined while a cycle ran: its workers may have been
	 * forked before, so one more cycle follows. */
	bool cycle_again;
	bool stopping;
	bool ready_sent; /* READY=1 told to the service manager */
	int64_t stop_deadline_ms;
};

static int master_cycle(void *ctx, struct kr_err *err_r);

static unsigned
master_alive(const struct master *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->rt->n_worker_slots; i++)
		n += m->children[i].pid != 0;
	return n;
}

static struct master_child *
master_find(struct master *m, pid_t pid)
{
	for (unsigned i = 0; i < m->rt->n_worker_slots; i++)
		if (m->children[i].pid == pid)
			return &m->children[i];
	return NULL;
}

static struct kr_metrics_slot *
master_child_slot(struct master *m, const struct master_child *c)
{
	return kr_metrics_slot(m->rt->metrics, 1 + (unsigned)(c - m->children));
}

static void
master_log_child(struct master *m, enum kr_log_level level, const char *event,
		 const struct master_child *c, const char *msg)
{
	struct kr_log_line line;

	if (!kr_log_begin(&line, m->rt->log, level, NULL, event))
		return;
	kr_log_int(&line, "worker", c->index);
	kr_log_int(&line, "worker_pid", c->pid);
	kr_log_str(&line, "msg", msg);
	kr_log_end(&line);
}

/* In the forked child: drop everything of the master's loop, then
 * become the worker. event_reinit first, because the epoll instance is
 * shared with the parent until then and removing events from it would
 * remove them for the master too. */
static void __attribute__((noreturn))
master_become_worker(struct master *m, struct master_child *c)
{
	struct kr_runtime *rt = m->rt;
	struct kr_metrics_slot *slot = master_child_slot(m, c);
	pid_t master_pid = getppid();
	int code;

	kr_metrics_slot_claim(slot, getpid(), c->index);
	kr_metrics_slot_set_restarts(slot,
				     kr_restart_count(m->restarts, c->index));
	kr_metrics_slot_set_state(slot, KR_SLOT_STARTING);
	event_reinit(m->base);
	kr_admin_destroy_forked(&m->admin);
	for (size_t i = 0; i < sizeof(m->sigs) / sizeof(m->sigs[0]); i++)
		event_free(m->sigs[i]);
	event_free(m->tick);
	event_base_free(m->base);
	kr_restart_destroy(&m->restarts);
	rt->spam_status_entry = (unsigned)(c - m->children);
	code = kr_worker_run(rt, c->index, slot, master_pid);
	free(m->children);
	free(m->spawn_pending);
	free(m->spawn_at_ms);
	free(m->nodes);
	kr_runtime_deinit(rt);
	exit(code);
}

static struct master_child *
master_free_child(struct master *m)
{
	for (unsigned i = 0; i < m->rt->n_worker_slots; i++)
		if (m->children[i].pid == 0)
			return &m->children[i];
	return NULL;
}

static int
master_spawn(struct master *m, unsigned index)
{
	struct master_child *c = master_free_child(m);
	sigset_t all, old;
	pid_t pid;

	if (c == NULL)
		return -1;
	memset(c, 0, sizeof(*c));
	c->index = index;
	/* Signals stay blocked until the child has its own handlers: one
	 * arriving in between would land in the master's signal pipe. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0)
		master_become_worker(m, c);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		kr_log_msg(m->rt->log, KR_LOG_ERROR, NULL, "worker.fork_failed",
			   strerror(errno));
		return -1;
	}
	c->pid = pid;
	c->state = KR_SLOT_SERVING;
	kr_metrics_inc(m->rt->slot, m->rt->master_ids->worker_starts);
	master_log_child(m, KR_LOG_INFO, "worker.spawn", c, "started");
	return 0;
}

static void
master_begin_drain(struct master *m, struct master_child *c, bool cycling)
{
	c->state = KR_SLOT_DRAINING;
	c->cycling = cycling;
	c->cycle_requested = false;
	c->drain_deadline_ms =
		kr_clock_mono_ms() + m->rt->cfg->workers.drain_timeout_ms;
	kill(c->pid, SIGTERM);
}

/* Forks what is pending and due (a restart backing off waits; the tick
 * wakes the loop, so it starts at most MASTER_TICK_MS late), then lets
 * the workers it replaces drain. */
static void
master_spawn_pending(struct master *m)
{
	int64_t now = kr_clock_mono_ms();

	for (unsigned idx = 0; idx < m->rt->n_workers && !m->stopping; idx++) {
		if (!m->spawn_pending[idx] || now < m->spawn_at_ms[idx])
			continue;
		if (master_spawn(m, idx) < 0)
			continue; /* retried on the next tick */
		m->spawn_pending[idx] = false;
		for (unsigned i = 0; i < m->rt->n_worker_slots; i++) {
			struct master_child *c = &m->children[i];

			if (c->pid != 0 && c->index == idx &&
			    c->cycle_requested)
				master_begin_drain(m, c, true);
		}
	}
}

static void
master_describe_status(int status, char *buf, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
}

static struct kr_restart_policy
master_restart_policy(const struct kr_config *cfg)
{
	return (struct kr_restart_policy){
		.intensity = cfg->workers.restart_intensity,
		.period_ms = cfg->workers.restart_period_ms,
		.backoff_max_ms = cfg->workers.restart_backoff_max_ms,
	};
}

/* Loud, once per episode: the service goes on, but something makes
 * workers crash faster than a transient fault would. */
static void
master_log_unhealthy(struct master *m, int64_t now)
{
	const struct kr_config *cfg = m->rt->cfg;
	struct kr_log_line line;

	kr_metrics_gauge_set(m->rt->slot, m->rt->restart_ids->unhealthy, 1);
	kr_metrics_inc(m->rt->slot, m->rt->restart_ids->unhealthy_total);
	if (!kr_log_begin(&line, m->rt->log, KR_LOG_ERROR, NULL,
			  "master.unhealthy"))
		return;
	kr_log_uint(&line, "restarts", kr_restart_recent(m->restarts, now));
	kr_log_uint(&line, "restart_intensity", cfg->workers.restart_intensity);
	kr_log_uint(&line, "restart_period_ms", cfg->workers.restart_period_ms);
	kr_log_str(&line, "msg",
		   "workers crash more often than restart_intensity allows; "
		   "restarts back off up to restart_backoff_max");
	kr_log_end(&line);
}

static void
master_log_backoff(struct master *m, const struct master_child *c,
		   int64_t delay)
{
	struct kr_log_line line;

	if (!kr_log_begin(&line, m->rt->log, KR_LOG_WARN, NULL,
			  "worker.backoff"))
		return;
	kr_log_int(&line, "worker", c->index);
	kr_log_int(&line, "delay_ms", delay);
	kr_log_uint(&line, "restarts", kr_restart_count(m->restarts, c->index));
	kr_log_str(&line, "msg", "restart delayed");
	kr_log_end(&line);
}

/* The master never gives up (SPEC.md §2): a crashed worker is always
 * restarted, at once while healthy, after its back-off otherwise. */
static void
master_crashed(struct master *m, struct master_child *c, const char *how)
{
	struct kr_runtime *rt = m->rt;
	int64_t now = kr_clock_mono_ms(), delay;
	bool tipped = false;

	kr_metrics_inc(rt->slot, rt->master_ids->exits_crash);
	master_log_child(m, KR_LOG_ERROR, "worker.crash", c, how);
	if (m->stopping)
		return;
	delay = kr_restart_crashed(m->restarts, c->index, now, &tipped);
	if (tipped)
		master_log_unhealthy(m, now);
	kr_metrics_inc(rt->slot, rt->restart_ids->restarts[c->index]);
	kr_metrics_gauge_set(rt->slot, rt->restart_ids->backoff[c->index],
			     delay);
	if (delay > 0)
		master_log_backoff(m, c, delay);
	m->spawn_at_ms[c->index] = now + delay;
	m->spawn_pending[c->index] = true;
}

/* Restarts calmed down: healthy again, back-offs reset. */
static void
master_check_calm(struct master *m)
{
	struct kr_runtime *rt = m->rt;

	if (!kr_restart_calm(m->restarts, kr_clock_mono_ms()))
		return;
	kr_metrics_gauge_set(rt->slot, rt->restart_ids->unhealthy, 0);
	for (unsigned i = 0; i < rt->n_workers; i++)
		kr_metrics_gauge_set(rt->slot, rt->restart_ids->backoff[i], 0);
	kr_log_msg(rt->log, KR_LOG_INFO, NULL, "master.healthy",
		   "no crash for restart_period since the last restart; "
		   "back-offs reset");
}

static void
master_reaped(struct master *m, struct master_child *c, int status)
{
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	char how[64];

	master_describe_status(status, how, sizeof(how));
	kr_metrics_slot_retire(m->rt->metrics, master_child_slot(m, c));
	if (c->state == KR_SLOT_DRAINING && clean) {
		kr_metrics_inc(m->rt->slot,
			       c->cycling ? m->rt->master_ids->exits_cycle
					  : m->rt->master_ids->exits_drain);
		master_log_child(m, KR_LOG_INFO, "worker.exit", c, how);
	} else if (c->state == KR_SLOT_DRAINING) {
		/* It was leaving anyway and its replacement runs: count it,
		 * restart nothing. */
		kr_metrics_inc(m->rt->slot, m->rt->master_ids->exits_crash);
		master_log_child(m, KR_LOG_WARN, "worker.exit", c, how);
	} else {
		master_crashed(m, c, how);
	}
	memset(c, 0, sizeof(*c));
}

static void
master_on_chld(evutil_socket_t sig, short what, void *ctx)
{
	struct master *m = ctx;
	int status;
	pid_t pid;

	(void)sig;
	(void)what;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct master_child *c = master_find(m, pid);

		if (c != NULL)
			master_reaped(m, c, status);
	}
}

/* A failed notification is logged; the service manager then decides
 * (Type=notify times out), kurierd goes on serving. */
static void
master_notify(struct master *m, const char *state)
{
	struct kr_err err = { 0 };

	if (kr_notify(state, &err) < 0)
		kr_log_msg(m->rt->log, KR_LOG_WARN, NULL, "master.notify",
			   err.msg);
}

/* READY=1 once the listeners are open and a worker serves on them:
 * Type=notify units (ops/systemd/kurierd.service) count as started
 * from then on. */
static void
master_check_ready(struct master *m)
{
	struct kr_metrics_slot_info info;

	if (m->ready_sent || m->stopping)
		return;
	for (unsigned i = 0; i < m->rt->n_worker_slots; i++) {
		const struct master_child *c = &m->children[i];

		if (c->pid == 0)
			continue;
		kr_metrics_slot_get_info(master_child_slot(m, c), &info);
		if (info.pid == c->pid && info.state == KR_SLOT_SERVING) {
			m->ready_sent = true;
			master_notify(m, "READY=1");
			return;
		}
	}
}

static void
master_stop(struct master *m, const char *why)
{
	if (m->stopping)
		return;
	kr_log_msg(m->rt->log, KR_LOG_INFO, NULL, "master.stop", why);
	master_notify(m, "STOPPING=1");
	m->stopping = true;
	m->stop_deadline_ms =
		kr_clock_mono_ms() + m->rt->cfg->workers.drain_timeout_ms;
	for (unsigned i = 0; i < m->rt->n_worker_slots; i++)
		if (m->children[i].pid != 0)
			master_begin_drain(m, &m->children[i], false);
}

static void
master_on_stop(evutil_socket_t sig, short what, void *ctx)
{
	(void)what;
	master_stop(ctx, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static void
master_admin_settings(const struct master *m, struct kr_admin_settings *set)
{
	const struct kr_config *cfg = m->rt->cfg;

	set->token = cfg->admin.token;
	set->metrics_open = cfg->admin.metrics_open;
	set->max_connections = m->rt->fds.admin_max > 0
				       ? m->rt->fds.admin_max
				       : cfg->admin.max_connections;
	set->idle_timeout_ms = cfg->admin.idle_timeout_ms;
	set->read_timeout_ms = cfg->admin.read_timeout_ms;
	set->write_timeout_ms = cfg->admin.write_timeout_ms;
	set->first_worker_slot = 1;
	set->n_worker_slots = m->rt->n_worker_slots;
	set->supervisor = &m->supervisor;
	set->rule_hits = m->rt->spam_hits;
	set->spam_status = m->rt->spam_status;
	set->spam_enabled = cfg->antispam.enabled;
	set->nodes = m->nodes;
	set->n_nodes = m->n_nodes;
	set->n_shards = m->rt->storage_cfg->n_shards;
	set->cache_max_bytes = cfg->cache.max_bytes;
	set->version = KR_VERSION;
	set->errors = m->rt->errors;
	set->n_peers = cfg->admin.peers.n;
	for (size_t i = 0; i < set->n_peers; i++)
		set->peers[i] = cfg->admin.peers.addr[i];
}

static void
master_sup_health(void *ctx, struct kr_admin_health *h_r)
{
	const struct master *m = ctx;

	h_r->unhealthy = kr_restart_unhealthy(m->restarts);
	h_r->recent_restarts =
		kr_restart_recent(m->restarts, kr_clock_mono_ms());
	h_r->n_workers = m->rt->n_workers;
}

static void
master_sup_worker(void *ctx, unsigned index, struct kr_admin_worker_health *w_r)
{
	const struct master *m = ctx;
	int64_t now = kr_clock_mono_ms();

	w_r->restarts = kr_restart_count(m->restarts, index);
	w_r->backoff_ms = kr_restart_backoff_ms(m->restarts, index);
	w_r->restart_in_ms = -1;
	if (index < m->rt->n_workers && m->spawn_pending[index] && !m->stopping)
		w_r->restart_in_ms = m->spawn_at_ms[index] > now
					     ? m->spawn_at_ms[index] - now
					     : 0;
}

/* New shards (appended by a reload, without buckets) get the schema
 * before any worker uses them. Blocking like the start-up migrations
 * (the master's loop waits; workers go on serving); any failure
 * refuses the whole reload, so no worker ever sees a shard without
 * its schema. */
static int
master_migrate_new(struct master *m, const struct kr_runtime_staged *st,
		   struct kr_err *err_r)
{
	const struct kr_config *cfg = st->fresh;

	for (unsigned i = st->old_shards; i < cfg->n_shards; i++) {
		struct kr_log_line line;
		struct kr_err err = { 0 };
		unsigned applied = 0;
		int rc = kr_migrate_apply(cfg->shards[i].primary, i, &applied,
					  &err);

		if (kr_log_begin(&line, m->rt->log,
				 rc < 0 ? KR_LOG_ERROR : KR_LOG_INFO, NULL,
				 rc < 0 ? "db.migrate_failed" : "db.migrate")) {
			kr_log_uint(&line, "shard", i);
			kr_log_uint(&line, "applied", applied);
			if (rc < 0)
				kr_log_str(&line, "msg", err.msg);
			kr_log_end(&line);
		}
		if (rc < 0)
			return kr_err_set(err_r, err.kind,
					  "[shard.%u]: migrations failed (%s); "
					  "reload refused, nothing changed",
					  i, err.msg);
	}
	return 0;
}

/* Workers open pools only when forked: a rolling cycle (one at a time,
 * n - 1 always serving) brings every one onto the grown shard set. */
static void
master_shards_joined(struct master *m, unsigned old_shards)
{
	struct kr_runtime *rt = m->rt;
	struct kr_log_line line;
	struct kr_err err = { 0 };

	free(m->nodes);
	m->nodes = kr_admin_nodes_of(rt->storage_cfg, &m->n_nodes);
	if (kr_log_begin(&line, rt->log, KR_LOG_INFO, NULL,
			 "db.shards_added")) {
		kr_log_uint(&line, "from", old_shards);
		kr_log_uint(&line, "shards", rt->storage_cfg->n_shards);
		kr_log_str(&line, "msg",
			   "migrated; workers cycle to open their pools");
		kr_log_end(&line);
	}
	if (m->cycle.active)
		m->cycle_again = true;
	else if (master_cycle(m, &err) < 0)
		kr_log_msg(rt->log, KR_LOG_WARN, NULL, "worker.cycle_all",
			   err.msg);
}

/* What SIGHUP and POST /api/reload do: the config again (a bad one
 * changes nothing: -1 + err_r), then every serving worker is told.
 * Shards appended without buckets join (master_migrate_new,
 * master_shards_joined); any other change of the shards refuses the
 * reload. */
static int
master_reload(void *ctx, struct kr_err *err_r)
{
	struct master *m = ctx;
	struct kr_runtime *rt = m->rt;
	struct kr_admin_settings set;
	char *old_listen = kr_xstrdup(rt->cfg->admin.listen);
	char *old_user = kr_xstrdup(rt->cfg->server.user);
	struct kr_restart_policy policy;
	struct kr_runtime_staged st;
	bool grown;

	if (kr_runtime_reload_begin(rt, &st, err_r) < 0 ||
	    (st.grown && master_migrate_new(m, &st, err_r) < 0)) {
		if (st.fresh != NULL)
			kr_runtime_reload_abort(rt, &st);
		kr_log_msg(rt->log, KR_LOG_ERROR, NULL, "config.reload_failed",
			   err_r->msg);
		free(old_listen);
		free(old_user);
		return -1;
	}
	grown = st.grown;
	kr_runtime_reload_commit(rt, &st, true);
	if (grown)
		master_shards_joined(m, st.old_shards);
	policy = master_restart_policy(rt->cfg);
	kr_restart_configure(m->restarts, &policy);
	master_admin_settings(m, &set);
	kr_admin_update(m->admin, &set);
	if (strcmp(old_listen, rt->cfg->admin.listen) != 0 ||
	    strcmp(old_user, rt->cfg->server.user) != 0 ||
	    (rt->cfg->workers.count != 0 &&
	     rt->cfg->workers.count != rt->n_workers))
		kr_log_msg(rt->log, KR_LOG_WARN, NULL, "config.reload",
			   "admin.listen, server.user and workers.count take "
			   "effect at the next restart");
	free(old_listen);
	free(old_user);
	for (unsigned i = 0; i < rt->n_worker_slots; i++)
		if (m->children[i].pid != 0 &&
		    m->children[i].state == KR_SLOT_SERVING)
			kill(m->children[i].pid, SIGHUP);
	kr_log_msg(rt->log, KR_LOG_INFO, NULL, "config.reload", rt->cfg->path);
	return 0;
}

/* The flag lives in the master's own metrics slot, where every
 * worker's connection manager reads it (kr_connmgr_watch_drain). */
static int
master_drain(void *ctx, unsigned shard, bool on, struct kr_err *err_r)
{
	struct master *m = ctx;
	int id = kr_connmgr_drain_metric(m->rt->db_ids, shard);
	struct kr_log_line line;

	if (id < 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "no shard %u",
				  shard);
	kr_metrics_gauge_set(m->rt->slot, id, on);
	if (kr_log_begin(&line, m->rt->log, KR_LOG_WARN, NULL,
			 on ? "db.shard_drain" : "db.shard_undrain")) {
		kr_log_uint(&line, "shard", shard);
		kr_log_end(&line);
	}
	return 0;
}

static int
master_cycle(void *ctx, struct kr_err *err_r)
{
	struct master *m = ctx;

	if (m->cycle.active)
		return kr_err_set(err_r, KR_ERR_TEMPORARY,
				  "a cycle is running (%u of %u done)",
				  m->cycle.done, m->cycle.total);
	if (m->stopping)
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "stopping");
	m->cycle = (struct kr_admin_cycle){ .active = true,
					    .total = m->rt->n_workers };
	kr_log_msg(m->rt->log, KR_LOG_INFO, NULL, "worker.cycle_all",
		   "every worker restarted, one at a time");
	return 0;
}

static void
master_cycle_state(void *ctx, struct kr_admin_cycle *c_r)
{
	const struct master *m = ctx;

	*c_r = m->cycle;
}

/* True while a replacement is on its way or an old worker drains:
 * the next one waits, so that n - 1 workers always serve. */
static bool
master_cycle_busy(struct master *m)
{
	for (unsigned i = 0; i < m->rt->n_workers; i++)
		if (m->spawn_pending[i])
			return true;
	for (unsigned i = 0; i < m->rt->n_worker_slots; i++) {
		struct master_child *c = &m->children[i];
		struct kr_metrics_slot_info info;

		if (c->pid == 0)
			continue;
		kr_metrics_slot_get_info(master_child_slot(m, c), &info);
		if (c->state == KR_SLOT_DRAINING || c->cycle_requested ||
		    info.state != KR_SLOT_SERVING)
			return true;
	}
	return false;
}

/* One step of a rolling cycle, on the tick: worker `done` is
 * replaced (replacement first, then the old one drains, as for
 * max_requests) once the one before it is fully done. */
static void
master_cycle_step(struct master *m)
{
	if (!m->cycle.active || master_cycle_busy(m))
		return;
	if (m->cycle.done >= m->cycle.total) {
		struct kr_err err = { 0 };

		m->cycle.active = false;
		kr_log_msg(m->rt->log, KR_LOG_INFO, NULL, "worker.cycle_done",
			   "every worker restarted");
		if (m->cycle_again) {
			m->cycle_again = false;
			(void)master_cycle(m, &err);
		}
		return;
	}
	if (master_alive(m) >= m->rt->n_worker_slots)
		return;
	for (unsigned i = 0; i < m->rt->n_worker_slots; i++) {
		struct master_child *c = &m->children[i];

		if (c->pid == 0 || c->index != m->cycle.done)
			continue;
		c->cycle_requested = true;
		master_log_child(m, KR_LOG_INFO, "worker.cycle", c,
				 "cycled from the admin");
	}
	m->spawn_pending[m->cycle.done] = true;
	m->cycle.done++;
}

static void
master_on_hup(evutil_socket_t sig, short what, void *ctx)
{
	struct kr_err err = { 0 };

	(void)sig;
	(void)what;
	master_reload(ctx, &err);
}

/* Past max_requests or max_rss, and old enough not to cycle in a loop
 * right after start-up. */
static bool
master_should_cycle(struct master *m, struct master_child *c, int64_t now_ms)
{
	const struct kr_config *cfg = m->rt->cfg;
	struct kr_metrics_slot *slot = master_child_slot(m, c);
	struct kr_metrics_slot_info info;
	struct kr_metric_value requests;

	kr_metrics_slot_get_info(slot, &info);
	if (info.pid != c->pid || now_ms - info.started_ms < MASTER_MIN_AGE_MS)
		return false;
	kr_metrics_read_slot(slot, m->rt->worker_ids->requests, &requests);
	return (cfg->workers.max_rss != 0 &&
		info.rss_bytes > cfg->workers.max_rss) ||
	       (cfg->workers.max_requests != 0 &&
		(uint64_t)requests.value >= cfg->workers.max_requests);
}

static void
master_check_cycle(struct master *m)
{
	int64_t wall = kr_clock_wall_ms();

	for (unsigned i = 0; i < m->rt->n_worker_slots; i++) {
		struct master_child *c = &m->children[i];

		if (c->pid == 0 || c->state != KR_SLOT_SERVING ||
		    c->cycle_requested || !master_should_cycle(m, c, wall))
			continue;
		if (master_alive(m) >= m->rt->n_worker_slots)
			return; /* no slot for a replacement yet */
		c->cycle_requested = true;
		m->spawn_pending[c->index] = true;
		master_log_child(m, KR_LOG_INFO, "worker.cycle", c,
				 "over max_requests or max_rss");
	}
}

static void
master_check_deadlines(struct master *m)
{
	int64_t now = kr_clock_mono_ms();

	for (unsigned i = 0; i < m->rt->n_worker_slots; i++) {
		struct master_child *c = &m->children[i];

		if (c->pid == 0 || c->state != KR_SLOT_DRAINING)
			continue;
		if (now >= c->drain_deadline_ms ||
		    (m->stopping && now >= m->stop_deadline_ms)) {
			master_log_child(m, KR_LOG_WARN, "worker.kill", c,
					 "drain timeout");
			kill(c->pid, SIGKILL);
			c->drain_deadline_ms = INT64_MAX; /* once */
		}
	}
}

static void
master_on_tick(evutil_socket_t fd, short what, void *ctx)
{
	struct master *m = ctx;
	unsigned long long rss = kr_runtime_rss();

	(void)fd;
	(void)what;
	kr_metrics_slot_set_rss(m->rt->slot, rss);
	kr_metrics_gauge_set(m->rt->slot, m->rt->worker_ids->rss, (int64_t)rss);
	if (!m->stopping) {
		master_check_cycle(m);
		master_cycle_step(m);
		master_check_calm(m);
	}
	master_check_ready(m);
	master_check_deadlines(m);
}

/* The admin token and the session-signing secret, generated once and
 * kept in the config (sessions survive restarts, every worker signs
 * alike). */
static int
master_keys(struct master *m, struct kr_err *err_r)
{
	struct kr_config *cfg = m->rt->cfg;
	int rc =
		kr_config_generate_key(cfg, "admin", "token", &cfg->admin.token,
				       MASTER_TOKEN_BYTES, err_r);

	if (rc < 0)
		return -1;
	if (rc > 0)
		printf("kurierd: generated admin token %s (saved as [admin] "
		       "token in %s)\n",
		       cfg->admin.token, cfg->path);
	rc = kr_config_generate_key(cfg, "auth", "secret", &cfg->auth.secret,
				    MASTER_TOKEN_BYTES, err_r);
	if (rc > 0)
		printf("kurierd: generated the session secret ([auth] secret "
		       "in %s)\n",
		       cfg->path);
	return rc < 0 ? -1 : 0;
}

/* Schema migrations on every shard before any worker runs (SPEC.md
 * §4). Blocking, start-up only. A node that is down is logged and
 * skipped: its users get temporary errors until it is back, and the
 * next start migrates it. */
static void
master_migrate(struct master *m)
{
	const struct kr_config *cfg = m->rt->storage_cfg;

	for (unsigned i = 0; i < cfg->n_shards; i++) {
		struct kr_log_line line;
		struct kr_err err = { 0 };
		unsigned applied = 0;
		int rc = kr_migrate_apply(cfg->shards[i].primary, i, &applied,
					  &err);

		if (!kr_log_begin(&line, m->rt->log,
				  rc < 0 ? KR_LOG_ERROR : KR_LOG_INFO, NULL,
				  rc < 0 ? "db.migrate_failed" : "db.migrate"))
			continue;
		kr_log_uint(&line, "shard", i);
		kr_log_uint(&line, "applied", applied);
		if (rc < 0)
			kr_log_str(&line, "msg", err.msg);
		kr_log_end(&line);
	}
}

/* Every worker accepts on the sockets opened here, before forking. */
static int
master_listen(struct master *m, struct kr_err *err_r)
{
	struct kr_runtime *rt = m->rt;
	const struct kr_config *cfg = rt->storage_cfg;

	if ((cfg->lmtp.tls_cert == NULL) != (cfg->lmtp.tls_key == NULL))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: [lmtp] tls_cert and tls_key go together",
				  cfg->path);
	if (cfg->lmtp.tls_cert != NULL) {
		rt->lmtp_tls = kr_tls_server_create(cfg->lmtp.tls_cert,
						    cfg->lmtp.tls_key, err_r);
		if (rt->lmtp_tls == NULL)
			return -1;
	}
	rt->lmtp_fd = kr_listen_tcp(cfg->lmtp.listen, 1024, err_r);
	if (rt->lmtp_fd < 0)
		return -1;
	if ((cfg->jsonrpc.tls_cert == NULL) != (cfg->jsonrpc.tls_key == NULL))
		return kr_err_set(
			err_r, KR_ERR_PERMANENT,
			"%s: [jsonrpc] tls_cert and tls_key go together",
			cfg->path);
	if (cfg->jsonrpc.tls_cert != NULL) {
		rt->rpc_tls = kr_tls_server_create(cfg->jsonrpc.tls_cert,
						   cfg->jsonrpc.tls_key, err_r);
		if (rt->rpc_tls == NULL)
			return -1;
	}
	rt->rpc_fd = kr_listen_tcp(cfg->jsonrpc.listen, 1024, err_r);
	if (rt->rpc_fd < 0)
		return -1;
	if (cfg->lmtp.unix_socket != NULL) {
		rt->lmtp_unix_fd =
			kr_listen_unix(cfg->lmtp.unix_socket, 1024, err_r);
		if (rt->lmtp_unix_fd < 0)
			return -1;
	}
	return 0;
}

static void
master_log_privdrop(struct master *m)
{
	const struct kr_privdrop *p = &m->rt->priv;
	struct kr_log_line line;

	if (!p->active || !kr_log_begin(&line, m->rt->log, KR_LOG_INFO, NULL,
					"master.privdrop"))
		return;
	kr_log_str(&line, "user", p->user);
	kr_log_uint(&line, "uid", p->uid);
	kr_log_uint(&line, "gid", p->gid);
	kr_log_str(&line, "msg", "workers drop root to this user");
	kr_log_end(&line);
}

static int
master_setup(struct master *m, struct kr_err *err_r)
{
	static const int signals[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
	event_callback_fn cbs[] = { master_on_chld, master_on_stop,
				    master_on_stop, master_on_hup };
	struct timeval tick = { .tv_usec = MASTER_TICK_MS * 1000 };
	struct kr_admin_settings set;
	int fd;

	if (kr_notify_init(err_r) < 0)
		kr_log_msg(m->rt->log, KR_LOG_WARN, NULL, "master.notify",
			   err_r->msg);
	kr_err_clear(err_r);
	if (kr_privdrop_init(&m->rt->priv, m->rt->cfg, err_r) < 0 ||
	    master_keys(m, err_r) < 0 ||
	    kr_privdrop_check_readable(&m->rt->priv, m->rt->cfg->path, err_r) <
		    0 ||
	    master_listen(m, err_r) < 0)
		return -1;
	master_log_privdrop(m);
	m->base = event_base_new();
	if (m->base == NULL)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "event_base_new");
	fd = kr_listen_tcp(m->rt->cfg->admin.listen, 64, err_r);
	if (fd < 0)
		return -1;
	master_admin_settings(m, &set);
	m->admin = kr_admin_create(m->base, fd, m->rt->metrics, m->rt->log,
				   &set, err_r);
	if (m->admin == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		m->sigs[i] = evsignal_new(m->base, signals[i], cbs[i], m);
		if (m->sigs[i] == NULL || evsignal_add(m->sigs[i], NULL) < 0)
			return kr_err_set(err_r, KR_ERR_INTERNAL,
					  "signal set-up failed");
	}
	m->tick = event_new(m->base, -1, EV_PERSIST, master_on_tick, m);
	if (m->tick == NULL || event_add(m->tick, &tick) < 0)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "timer set-up failed");
	return 0;
}

static void
master_teardown(struct master *m)
{
	kr_admin_destroy(&m->admin);
	for (size_t i = 0; i < sizeof(m->sigs) / sizeof(m->sigs[0]); i++)
		if (m->sigs[i] != NULL)
			event_free(m->sigs[i]);
	if (m->tick != NULL)
		event_free(m->tick);
	if (m->base != NULL)
		event_base_free(m->base);
	kr_restart_destroy(&m->restarts);
	free(m->children);
	free(m->spawn_pending);
	free(m->spawn_at_ms);
	free(m->nodes);
}

/* The descriptor budget (server/fdbudget.h), once at start: a cap
 * lowered to fit RLIMIT_NOFILE is an operator's business. */
static void
master_log_fds(const struct kr_runtime *rt)
{
	struct kr_log_line line;

	if (!kr_log_begin(&line, rt->log,
			  rt->fds.clamped ? KR_LOG_WARN : KR_LOG_INFO, NULL,
			  "master.fds"))
		return;
	kr_log_int(&line, "nofile", rt->fds.nofile);
	kr_log_int(&line, "reserve", rt->fds.reserve);
	kr_log_int(&line, "lmtp_max", rt->fds.lmtp_max);
	kr_log_int(&line, "http_max", rt->fds.http_max);
	kr_log_int(&line, "admin_max", rt->fds.admin_max);
	if (rt->fds.clamped)
		kr_log_str(&line, "msg",
			   "connection caps lowered to fit [server] nofile");
	kr_log_end(&line);
}

int
kr_master_run(struct kr_runtime *rt)
{
	struct master m = { .rt = rt };
	struct kr_restart_policy policy = master_restart_policy(rt->cfg);
	struct kr_err err = { 0 };

	m.children = kr_xcalloc(rt->n_worker_slots, sizeof(*m.children));
	m.spawn_pending = kr_xcalloc(rt->n_workers, sizeof(*m.spawn_pending));
	m.spawn_at_ms = kr_xcalloc(rt->n_workers, sizeof(*m.spawn_at_ms));
	m.restarts = kr_restart_create(&policy, rt->n_workers);
	m.nodes = kr_admin_nodes_of(rt->storage_cfg, &m.n_nodes);
	m.supervisor = (struct kr_admin_supervisor){
		.health = master_sup_health,
		.worker = master_sup_worker,
		.reload = master_reload,
		.drain = master_drain,
		.cycle = master_cycle,
		.cycle_state = master_cycle_state,
		.ctx = &m,
	};
	if (master_setup(&m, &err) < 0) {
		kr_log_msg(rt->log, KR_LOG_ERROR, NULL, "master.fail", err.msg);
		master_teardown(&m);
		return 1;
	}
	printf("kurierd: LMTP %s%s%s, JSON-RPC %s://%s/rpc, admin "
	       "http://%s/ (bearer token: [admin] token in %s), %u workers\n",
	       rt->cfg->lmtp.listen,
	       rt->cfg->lmtp.unix_socket != NULL ? " and unix:" : "",
	       rt->cfg->lmtp.unix_socket != NULL ? rt->cfg->lmtp.unix_socket
						 : "",
	       rt->rpc_tls != NULL ? "https" : "http", rt->cfg->jsonrpc.listen,
	       rt->cfg->admin.listen, rt->cfg->path, rt->n_workers);
	fflush(stdout);
	master_log_fds(rt);
	master_migrate(&m);
	for (unsigned i = 0; i < rt->n_workers; i++)
		m.spawn_pending[i] = true;
	for (;;) {
		master_spawn_pending(&m);
		if (m.stopping && master_alive(&m) == 0)
			break;
		event_base_loop(m.base, EVLOOP_ONCE);
	}
	kr_log_msg(rt->log, KR_LOG_INFO, NULL, "master.exit",
		   "stopped cleanly");
	master_teardown(&m);
	return 0;
}
