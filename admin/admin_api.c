/* The admin's JSON documents (API11.md): read from the shared metrics
 * region, the antispam status region, the supervisor and the history,
 * never from a worker. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_priv.h"
#include "admin/peers.h"
#include "lib/clock.h"
#include "lib/logring.h"

static const char *const admin_state_names[] = {
	[KR_SLOT_FREE] = "free",
	[KR_SLOT_STARTING] = "starting",
	[KR_SLOT_SERVING] = "serving",
	[KR_SLOT_DRAINING] = "draining",
};

static int64_t
admin_total(const struct kr_admin *admin, int id)
{
	struct kr_metric_value v = { 0 };

	if (id < 0)
		return 0;
	kr_metrics_read_total(admin->metrics, id, &v);
	return v.value;
}

static json_t *
admin_worker_json(const struct kr_admin *admin, struct kr_metrics_slot *slot,
		  const struct kr_metrics_slot_info *info, int64_t now_ms)
{
	struct kr_metric_value requests = { 0 };
	struct kr_admin_worker_health wh = { .restart_in_ms = -1 };
	const char *state = "unknown";

	if (admin->requests_id >= 0)
		kr_metrics_read_slot(slot, admin->requests_id, &requests);
	if ((unsigned)info->state <
	    sizeof(admin_state_names) / sizeof(admin_state_names[0]))
		state = admin_state_names[info->state];
	if (admin->supervisor != NULL)
		admin->supervisor->worker(admin->supervisor->ctx, info->index,
					  &wh);
	return json_pack("{s:I, s:i, s:s, s:f, s:I, s:I, s:I, s:I}", "pid",
			 (json_int_t)info->pid, "index", (int)info->index,
			 "state", state, "uptime_s",
			 (double)(now_ms - info->started_ms) / 1000.0,
			 "requests", (json_int_t)requests.value, "rss_bytes",
			 (json_int_t)info->rss_bytes, "restarts",
			 (json_int_t)info->restarts, "backoff_ms",
			 (json_int_t)wh.backoff_ms);
}

/* Workers without a process, waiting out their back-off. */
static json_t *
admin_restarting_json(const struct kr_admin *admin, unsigned n_workers)
{
	json_t *list = json_array();

	for (unsigned i = 0; i < n_workers; i++) {
		struct kr_admin_worker_health wh = { .restart_in_ms = -1 };

		admin->supervisor->worker(admin->supervisor->ctx, i, &wh);
		if (wh.restart_in_ms < 0)
			continue;
		json_array_append_new(
			list, json_pack("{s:i, s:I, s:I, s:I}", "index", (int)i,
					"restarts", (json_int_t)wh.restarts,
					"backoff_ms", (json_int_t)wh.backoff_ms,
					"restart_in_ms",
					(json_int_t)wh.restart_in_ms));
	}
	return list;
}

static json_t *
admin_cycle_json(const struct kr_admin *admin)
{
	struct kr_admin_cycle c = { 0 };

	if (admin->supervisor != NULL && admin->supervisor->cycle_state != NULL)
		admin->supervisor->cycle_state(admin->supervisor->ctx, &c);
	return json_pack("{s:b, s:i, s:i}", "active", c.active, "done",
			 (int)c.done, "total", (int)c.total);
}

/* {"health": "ok"|"unhealthy", "restarts_recent", "workers": [live
 * processes], "restarting": [indexes waiting out a back-off], "cycle"}. */
json_t *
admin_workers_doc(struct kr_admin *admin)
{
	struct kr_admin_health h = { 0 };
	int64_t now = kr_clock_wall_ms();
	json_t *list = json_array();

	for (unsigned i = 0; i < admin->n_worker_slots; i++) {
		struct kr_metrics_slot *slot = kr_metrics_slot(
			admin->metrics, admin->first_worker_slot + i);
		struct kr_metrics_slot_info info;

		kr_metrics_slot_get_info(slot, &info);
		if (info.pid != 0)
			json_array_append_new(
				list,
				admin_worker_json(admin, slot, &info, now));
	}
	if (admin->supervisor == NULL)
		return json_pack("{s:o}", "workers", list);
	admin->supervisor->health(admin->supervisor->ctx, &h);
	return json_pack("{s:s, s:i, s:o, s:o, s:o}", "health",
			 h.unhealthy ? "unhealthy" : "ok", "restarts_recent",
			 (int)h.recent_restarts, "workers", list, "restarting",
			 admin_restarting_json(admin, h.n_workers), "cycle",
			 admin_cycle_json(admin));
}

void
admin_nodes_set(struct kr_admin *admin, const struct kr_admin_node *nodes,
		unsigned n_nodes)
{
	struct kr_metrics *m = admin->metrics;

	free(admin->nodes);
	admin->nodes = kr_xcalloc(n_nodes + 1, sizeof(*admin->nodes));
	admin->n_nodes = n_nodes;
	for (unsigned i = 0; i < n_nodes; i++) {
		struct admin_node *n = &admin->nodes[i];
		const char *l = nodes[i].labels;
		char shard[32];

		n->d = nodes[i];
		snprintf(shard, sizeof(shard), "shard=\"%u\"", nodes[i].shard);
		n->circuit = kr_metrics_find(m, "kurier_db_circuit_open", l);
		n->busy = kr_metrics_find(m, "kurier_db_pool_busy", l);
		n->idle = kr_metrics_find(m, "kurier_db_pool_idle", l);
		n->waiting = kr_metrics_find(m, "kurier_db_pool_waiting", l);
		n->queries = kr_metrics_find(m, "kurier_db_queries_total", l);
		n->errors = kr_metrics_find(m, "kurier_db_errors_total", l);
		n->draining =
			kr_metrics_find(m, "kurier_db_shard_draining", shard);
		n->users = kr_metrics_find(m, "kurier_db_users", shard);
	}
}

static const char *
admin_node_state(const struct kr_admin *admin, const struct admin_node *n)
{
	if (admin_total(admin, n->circuit) > 0)
		return "down";
	if (n->d.replica < 0 && admin_total(admin, n->draining) > 0)
		return "draining";
	return "up";
}

static json_t *
admin_node_json(struct kr_admin *admin, unsigned i)
{
	const struct admin_node *n = &admin->nodes[i];
	struct kr_admin_node_window w;
	char name[24];

	kr_admin_history_node(admin->history, i, &w);
	if (n->d.replica < 0)
		snprintf(name, sizeof(name), "primary");
	else
		snprintf(name, sizeof(name), "replica%d", n->d.replica);
	return json_pack(
		"{s:i, s:s, s:s, s:i, s:s, s:s, s:b, s:s, s:{s:I, s:I, s:I}, "
		"s:{s:o, s:o}, s:I, s:I, s:o, s:o}",
		"shard", (int)n->d.shard, "node", name, "host", n->d.host,
		"port", (int)n->d.port, "role",
		n->d.replica < 0 ? "primary" : "replica", "state",
		admin_node_state(admin, n), "draining",
		admin_total(admin, n->draining) > 0, "circuit",
		admin_total(admin, n->circuit) > 0 ? "open" : "closed", "pool",
		"busy", (json_int_t)admin_total(admin, n->busy), "idle",
		(json_int_t)admin_total(admin, n->idle), "waiting",
		(json_int_t)admin_total(admin, n->waiting), "latency_ms", "p50",
		kr_admin_json_number(w.p50_ms), "p99",
		kr_admin_json_number(w.p99_ms), "queries",
		(json_int_t)admin_total(admin, n->queries), "errors",
		(json_int_t)admin_total(admin, n->errors), "errors_rate",
		kr_admin_json_number(w.errors_rate), "users",
		n->users >= 0 ? json_integer(admin_total(admin, n->users))
			      : json_null());
}

json_t *
admin_nodes_doc(struct kr_admin *admin)
{
	json_t *list = json_array();

	for (unsigned i = 0; i < admin->n_nodes; i++)
		json_array_append_new(list, admin_node_json(admin, i));
	return json_pack("{s:o}", "nodes", list);
}

static json_t *
admin_cache_worker(const struct kr_admin *admin, unsigned i)
{
	struct kr_metrics_slot *slot =
		kr_metrics_slot(admin->metrics, admin->first_worker_slot + i);
	struct kr_metrics_slot_info info;
	struct kr_metric_value v[4];

	kr_metrics_slot_get_info(slot, &info);
	if (info.pid == 0)
		return NULL;
	for (unsigned k = 0; k < 4; k++) {
		memset(&v[k], 0, sizeof(v[k]));
		if (admin->cache_ids[k] >= 0)
			kr_metrics_read_slot(slot, admin->cache_ids[k], &v[k]);
	}
	return json_pack("{s:i, s:I, s:I, s:I, s:I, s:I}", "index",
			 (int)info.index, "pid", (json_int_t)info.pid, "bytes",
			 (json_int_t)v[0].value, "hits", (json_int_t)v[1].value,
			 "misses", (json_int_t)v[2].value, "evictions",
			 (json_int_t)v[3].value);
}

json_t *
admin_cache_doc(struct kr_admin *admin)
{
	json_t *list = json_array();

	for (unsigned i = 0; i < admin->n_worker_slots; i++) {
		json_t *w = admin_cache_worker(admin, i);

		if (w != NULL)
			json_array_append_new(list, w);
	}
	return json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "bytes",
		(json_int_t)admin_total(admin, admin->cache_ids[0]),
		"max_bytes", (json_int_t)admin->cache_max_bytes, "hits",
		(json_int_t)admin_total(admin, admin->cache_ids[1]), "misses",
		(json_int_t)admin_total(admin, admin->cache_ids[2]),
		"evictions",
		(json_int_t)admin_total(admin, admin->cache_ids[3]), "hit_rate",
		kr_admin_json_number(
			kr_admin_history_cache_hit_rate(admin->history)),
		"workers", list);
}

json_t *
admin_actions_doc(const struct kr_admin *admin)
{
	unsigned n = admin->n_actions;
	json_t *list = json_array();

	if (n > KR_ADMIN_ACTIONS_MAX)
		n = KR_ADMIN_ACTIONS_MAX;
	for (unsigned i = 0; i < n; i++) {
		const struct admin_action *a =
			&admin->actions[(admin->n_actions - 1 - i) %
					KR_ADMIN_ACTIONS_MAX];

		json_array_append_new(
			list,
			json_pack("{s:I, s:s, s:s?, s:s, s:s, s:s}", "ts_ms",
				  (json_int_t)a->ts_ms, "action", a->action,
				  "target", a->target[0] ? a->target : NULL,
				  "who", a->who, "peer", a->peer, "result",
				  a->result));
	}
	return json_pack("{s:o}", "actions", list);
}

#define ADMIN_PROBLEMS_MAX 8 /* named one by one, the rest counted */

struct admin_counts {
	unsigned serving, n_workers, restarts;
	unsigned up, down, draining, primaries_down;
	bool unhealthy;
};

static void __attribute__((format(printf, 3, 4)))
admin_problem(json_t *problems, unsigned *n, const char *fmt, ...)
{
	char text[96];
	va_list ap;

	if ((*n)++ >= ADMIN_PROBLEMS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_array_append_new(problems, json_string(text));
}

static void
admin_count_nodes(const struct kr_admin *admin, struct admin_counts *c,
		  json_t *problems, unsigned *n_problems)
{
	for (unsigned i = 0; i < admin->n_nodes; i++) {
		const struct admin_node *n = &admin->nodes[i];
		const char *state = admin_node_state(admin, n);

		if (strcmp(state, "down") == 0) {
			c->down++;
			c->primaries_down += n->d.replica < 0;
			admin_problem(problems, n_problems, "shard %u %s down",
				      n->d.shard,
				      n->d.replica < 0 ? "primary" : "replica");
		} else if (strcmp(state, "draining") == 0) {
			c->draining++;
			admin_problem(problems, n_problems, "shard %u draining",
				      n->d.shard);
		} else {
			c->up++;
		}
	}
}

static void
admin_count_workers(const struct kr_admin *admin, struct admin_counts *c)
{
	struct kr_admin_health h = { 0 };

	for (unsigned i = 0; i < admin->n_worker_slots; i++) {
		struct kr_metrics_slot_info info;

		kr_metrics_slot_get_info(
			kr_metrics_slot(admin->metrics,
					admin->first_worker_slot + i),
			&info);
		c->serving += info.pid != 0 && info.state == KR_SLOT_SERVING;
	}
	if (admin->supervisor != NULL)
		admin->supervisor->health(admin->supervisor->ctx, &h);
	c->n_workers = h.n_workers;
	c->restarts = h.recent_restarts;
	c->unhealthy = h.unhealthy;
}

/* "ok", "degraded" (something an operator should look at) or "down"
 * (no worker serves, or no shard's primary is reachable). */
static const char *
admin_health(const struct kr_admin *admin, struct admin_counts *c,
	     json_t *problems)
{
	unsigned n = 0;

	admin_count_workers(admin, c);
	admin_count_nodes(admin, c, problems, &n);
	if (c->serving < c->n_workers)
		admin_problem(problems, &n, "%u workers not serving",
			      c->n_workers - c->serving);
	if (c->unhealthy)
		admin_problem(problems, &n,
			      "workers crash too often (%u "
			      "recent restarts)",
			      c->restarts);
	if (n > ADMIN_PROBLEMS_MAX)
		admin_problem(problems, &n, "and %u more",
			      n - ADMIN_PROBLEMS_MAX - 1);
	if (c->serving == 0 ||
	    (admin->n_shards > 0 && c->primaries_down >= admin->n_shards))
		return "down";
	return n > 0 ? "degraded" : "ok";
}

/* The newest generation any worker runs; 0 when none. */
static uint64_t
admin_spam_generation(const struct kr_admin *admin)
{
	uint64_t g = 0;

	if (admin->spam.status == NULL)
		return 0;
	for (unsigned i = 0; i < admin->n_worker_slots; i++) {
		struct kr_antispam_status_entry e;

		if (kr_antispam_status_read(admin->spam.status, i, &e) == 0 &&
		    e.pid != 0 && e.generation > g)
			g = e.generation;
	}
	return g;
}

json_t *
admin_overview_doc(struct kr_admin *admin)
{
	int64_t now = kr_clock_wall_ms();
	struct admin_counts c = { 0 };
	json_t *problems = json_array();
	const char *health = admin_health(admin, &c, problems);
	uint64_t gen = admin_spam_generation(admin);

	return json_pack(
		"{s:s, s:s, s:I, s:I, s:f, s:s, s:o, s:o, s:o, "
		"s:{s:i, s:i, s:i}, s:{s:i, s:i, s:i, s:i}, s:{s:b, s:o}}",
		"host", admin->host, "version", admin->version, "now_ms",
		(json_int_t)now, "started_ms", (json_int_t)admin->started_ms,
		"uptime_s", (double)(now - admin->started_ms) / 1000.0,
		"health", health, "problems", problems, "rates",
		kr_admin_history_rates(admin->history), "latency_ms",
		kr_admin_history_latency(admin->history), "workers", "serving",
		(int)c.serving, "total", (int)c.n_workers, "restarts",
		(int)c.restarts, "nodes", "up", (int)c.up, "down", (int)c.down,
		"draining", (int)c.draining, "total", (int)admin->n_nodes,
		"antispam", "enabled", admin->spam.enabled, "generation",
		gen > 0 ? json_integer((json_int_t)gen) : json_null());
}

json_t *
admin_hosts_doc(struct kr_admin *admin)
{
	json_t *ov = admin_overview_doc(admin);
	json_t *self =
		json_pack("{s:s, s:b, s:b, s:n, s:I, s:O, s:O, s:O, s:O}",
			  "name", "self", "self", 1, "up", 1, "error",
			  "checked_ms", (json_int_t)kr_clock_wall_ms(),
			  "health", json_object_get(ov, "health"), "rates",
			  json_object_get(ov, "rates"), "workers",
			  json_object_get(ov, "workers"), "nodes",
			  json_object_get(ov, "nodes"));
	json_t *list = json_array();
	json_t *peers = kr_admin_peers_json(admin->peers);

	json_decref(ov);
	json_array_append_new(list, self);
	json_array_extend(list, peers);
	json_decref(peers);
	return json_pack("{s:o}", "hosts", list);
}

json_t *
admin_snapshot_doc(struct kr_admin *admin, int64_t since_ms)
{
	return json_pack(
		"{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "overview",
		admin_overview_doc(admin), "history",
		kr_admin_history_doc(admin->history, since_ms), "nodes",
		admin_nodes_doc(admin), "workers", admin_workers_doc(admin),
		"cache", admin_cache_doc(admin), "filters",
		kr_admin_filters_doc(&admin->spam), "hosts",
		admin_hosts_doc(admin), "actions", admin_actions_doc(admin),
		"errors", admin_errors_doc(admin));
}

json_t *
admin_errors_doc(const struct kr_admin *admin)
{
	struct kr_logring_entry *e;
	json_t *list = json_array();
	size_t n;

	if (admin->errors == NULL)
		return json_pack("{s:o}", "errors", list);
	e = kr_xcalloc(KR_ADMIN_ERRORS_MAX, sizeof(*e));
	n = kr_logring_read(admin->errors, e, KR_ADMIN_ERRORS_MAX);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			list, json_pack("{s:I, s:s, s:s, s:s, s:s}", "ts_ms",
					(json_int_t)e[i].ts_ms, "level",
					kr_log_level_name(e[i].level), "proc",
					e[i].proc, "event", e[i].event, "line",
					e[i].line));
	free(e);
	return json_pack("{s:o}", "errors", list);
}
