/* Connection manager: nodes (pool + circuit breaker + metrics), shards
 * (primary, replicas, balancer), routing, read retry, read-your-writes. */
#include "storage/connmgr.h"

#include <event2/event.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hash.h"
#include "storage/balancer.h"
#include "storage/circuit.h"
#include "storage/pgpool.h"

#define CM_TICK_MS 500
#define CM_IDLE_CLOSE_MS 30000
#define CM_SINGLETON_PIPELINE 64
/* Read-your-writes memory: write times by hash of the user. A collision
 * only sends someone's reads to the primary a little longer: safe. The
 * table is shared by every worker of a host (mapped by the master with
 * the metrics, before the fork): a delivery through one worker and the
 * next read through another must agree. Another host's writes are not
 * seen: with replicas, run the hosts with the same users' traffic on
 * one host, or accept replica lag across hosts (ops/README.md). */
#define CM_RYW_SLOTS 4096

struct cm_node_ids {
	int queries, errors, latency, circuit, busy, idle, waiting;
};

/* Per shard: the master's drain flag (read in slot 0), the census
 * of its users (storage/census.h) and the full-text backlog
 * (storage/fts_indexer.h); its nodes' ids are nodes[first_node ..
 * first_node + n_nodes) (primary, then replicas). */
struct cm_shard_ids {
	int draining, users, fts_backlog;
	unsigned first_node, n_nodes;
};

/* n_shards counts the reserved shards too: those past the config's
 * (kr_connmgr_define_metrics_reserve) have hidden metrics until a
 * reload adds them (kr_connmgr_metrics_show). */
struct kr_connmgr_metrics {
	unsigned n_nodes, n_shards;
	/* CM_RYW_SLOTS monotonic ms, shared between processes; NULL:
	 * mapping failed, each connmgr keeps its own. */
	_Atomic int64_t *ryw;
	int fts_indexed; /* kurier_fts_indexed_total */
	struct cm_shard_ids *shards;
	struct cm_node_ids nodes[];
};

struct cm_node {
	struct kr_connmgr *mgr;
	unsigned shard;
	int replica; /* -1: primary */
	char name[40];
	struct kr_circuit circuit;
	enum kr_circuit_state logged_state;
	struct kr_pgpool *pool;
	const struct cm_node_ids *ids;
	unsigned long long queries, errors, confirmed;
};

struct cm_shard {
	struct cm_node *primary;
	struct cm_node **replicas;
	unsigned n_replicas;
	struct kr_balancer *balancer; /* over replicas */
	bool drain_logged;	      /* the drain flag last logged */
};

struct kr_connmgr {
	struct event_base *base;
	const struct kr_config *cfg;
	struct kr_metrics_slot *slot;
	/* The master's slot, where it sets the drain flags; NULL: none. */
	const struct kr_metrics_slot *control;
	const struct kr_connmgr_metrics *ids;
	struct kr_log *log;
	struct cm_node *nodes;
	unsigned n_nodes;
	struct cm_shard *shards;
	unsigned n_shards;
	struct event *tick;
	int64_t ryw_until_ms[CM_RYW_SLOTS];
};

struct kr_connmgr_req {
	struct kr_connmgr *mgr;
	struct cm_node *node;
	int balancer_node; /* replica index acquired, or -1 */
	struct kr_pgpool_req *preq;
	kr_pgquery_fn *cb;
	kr_connmgr_negative_fn *negative; /* confirm on the primary */
	void *ctx;
	struct kr_deadline deadline;
	int64_t start_us;
	uint64_t user_hash;
	bool has_user;
	bool write;
	bool retry_copy; /* copy holds the query for one retry */
	struct kr_pgquery_copy copy;
};

static unsigned
cm_count_nodes(const struct kr_config *cfg)
{
	unsigned n = 0;

	for (unsigned s = 0; s < cfg->n_shards; s++)
		n += 1 + cfg->shards[s].n_replicas;
	return n;
}

static int
cm_define(struct kr_metrics *m, const char *name, const char *labels,
	  const char *help, enum kr_metric_kind kind, double scale,
	  struct kr_err *err_r)
{
	struct kr_metric_desc d = { .name = name,
				    .labels = labels,
				    .help = help,
				    .kind = kind,
				    .scale = scale };

	return kr_metrics_define(m, &d, err_r);
}

void
kr_connmgr_node_labels(char *buf, size_t size, unsigned shard, int replica)
{
	if (replica < 0)
		snprintf(buf, size, "shard=\"%u\",node=\"primary\"", shard);
	else
		snprintf(buf, size, "shard=\"%u\",node=\"replica%d\"", shard,
			 replica);
}

static int
cm_define_node(struct kr_metrics *m, const char *labels,
	       struct cm_node_ids *ids, struct kr_err *err_r)
{
	ids->queries = cm_define(m, "kurier_db_queries_total", labels,
				 "Queries sent to a database node.",
				 KR_METRIC_COUNTER, 1, err_r);
	ids->errors = cm_define(m, "kurier_db_errors_total", labels,
				"Queries that failed, any reason.",
				KR_METRIC_COUNTER, 1, err_r);
	ids->latency = cm_define(m, "kurier_db_query_seconds", labels,
				 "Query latency as the worker saw it.",
				 KR_METRIC_HISTOGRAM, 1e6, err_r);
	ids->circuit = cm_define(m, "kurier_db_circuit_open", labels,
				 "Workers whose circuit to the node is open.",
				 KR_METRIC_GAUGE, 1, err_r);
	ids->busy = cm_define(m, "kurier_db_pool_busy", labels,
			      "Connections running a query.", KR_METRIC_GAUGE,
			      1, err_r);
	ids->idle = cm_define(m, "kurier_db_pool_idle", labels,
			      "Open connections with nothing to do.",
			      KR_METRIC_GAUGE, 1, err_r);
	ids->waiting = cm_define(m, "kurier_db_pool_waiting", labels,
				 "Requests waiting for a connection.",
				 KR_METRIC_GAUGE, 1, err_r);
	return ids->queries < 0 || ids->errors < 0 || ids->latency < 0 ||
			       ids->circuit < 0 || ids->busy < 0 ||
			       ids->idle < 0 || ids->waiting < 0
		       ? -1
		       : 0;
}

static int
cm_define_shards(struct kr_metrics *m, struct kr_connmgr_metrics *ids,
		 struct kr_err *err_r)
{
	char labels[32];

	for (unsigned s = 0; s < ids->n_shards; s++) {
		snprintf(labels, sizeof(labels), "shard=\"%u\"", s);
		ids->shards[s].draining =
			cm_define(m, "kurier_db_shard_draining", labels,
				  "1 while the admin drains the shard (set by "
				  "the master in its own slot).",
				  KR_METRIC_GAUGE, 1, err_r);
		if (ids->shards[s].draining < 0)
			return -1;
	}
	for (unsigned s = 0; s < ids->n_shards; s++) {
		snprintf(labels, sizeof(labels), "shard=\"%u\"", s);
		ids->shards[s].users =
			cm_define(m, "kurier_db_users", labels,
				  "Users on the shard (counted by one worker "
				  "every [storage] census_interval).",
				  KR_METRIC_GAUGE, 1, err_r);
		if (ids->shards[s].users < 0)
			return -1;
	}
	for (unsigned s = 0; s < ids->n_shards; s++) {
		snprintf(labels, sizeof(labels), "shard=\"%u\"", s);
		ids->shards[s].fts_backlog = cm_define(
			m, "kurier_fts_backlog", labels,
			"Messages on the shard waiting for full-text "
			"indexing (estimate, as of the indexer's last run).",
			KR_METRIC_GAUGE, 1, err_r);
		if (ids->shards[s].fts_backlog < 0)
			return -1;
	}
	ids->fts_indexed =
		cm_define(m, "kurier_fts_indexed_total", NULL,
			  "Messages indexed for full-text search behind "
			  "delivery.",
			  KR_METRIC_COUNTER, 1, err_r);
	return ids->fts_indexed < 0 ? -1 : 0;
}

/* The nodes of shard s: the config's, or 1 + `replicas` for a reserved
 * shard past the config's. */
static unsigned
cm_reserved_nodes(const struct kr_config *cfg, unsigned s, unsigned replicas)
{
	return s < cfg->n_shards ? 1 + cfg->shards[s].n_replicas : 1 + replicas;
}

struct kr_connmgr_metrics *
kr_connmgr_define_metrics_reserve(struct kr_metrics *metrics,
				  const struct kr_config *cfg,
				  unsigned max_shards, struct kr_err *err_r)
{
	unsigned n_shards =
		max_shards > cfg->n_shards ? max_shards : cfg->n_shards;
	unsigned replicas = 0, n = 0, k = 0;
	struct kr_connmgr_metrics *ids;
	char labels[64];

	for (unsigned s = 0; s < cfg->n_shards; s++)
		if (cfg->shards[s].n_replicas > replicas)
			replicas = cfg->shards[s].n_replicas;
	for (unsigned s = 0; s < n_shards; s++)
		n += cm_reserved_nodes(cfg, s, replicas);
	ids = kr_xcalloc(1, sizeof(*ids) + n * sizeof(ids->nodes[0]));
	ids->n_nodes = n;
	ids->n_shards = n_shards;
	ids->ryw =
		mmap(NULL, CM_RYW_SLOTS * sizeof(*ids->ryw),
		     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ids->ryw == MAP_FAILED)
		ids->ryw = NULL;
	ids->shards = kr_xcalloc(n_shards + 1, sizeof(*ids->shards));
	for (unsigned s = 0; s < n_shards; s++) {
		ids->shards[s].first_node = k;
		ids->shards[s].n_nodes = cm_reserved_nodes(cfg, s, replicas);
		for (int r = -1; r + 1 < (int)ids->shards[s].n_nodes; r++) {
			kr_connmgr_node_labels(labels, sizeof(labels), s, r);
			if (cm_define_node(metrics, labels, &ids->nodes[k++],
					   err_r) < 0) {
				kr_connmgr_metrics_free(&ids);
				return NULL;
			}
		}
	}
	if (cm_define_shards(metrics, ids, err_r) < 0)
		kr_connmgr_metrics_free(&ids);
	else
		kr_connmgr_metrics_show(metrics, ids, cfg);
	return ids;
}

struct kr_connmgr_metrics *
kr_connmgr_define_metrics(struct kr_metrics *metrics,
			  const struct kr_config *cfg, struct kr_err *err_r)
{
	return kr_connmgr_define_metrics_reserve(metrics, cfg, cfg->n_shards,
						 err_r);
}

static void
cm_hide_node(struct kr_metrics *m, const struct cm_node_ids *n, bool hidden)
{
	const int ids[] = { n->queries, n->errors, n->latency, n->circuit,
			    n->busy,	n->idle,   n->waiting };

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		kr_metrics_hide(m, ids[i], hidden);
}

void
kr_connmgr_metrics_show(struct kr_metrics *m,
			const struct kr_connmgr_metrics *ids,
			const struct kr_config *cfg)
{
	for (unsigned s = 0; s < ids->n_shards; s++) {
		const struct cm_shard_ids *sh = &ids->shards[s];
		bool gone = s >= cfg->n_shards;
		unsigned nodes = gone ? 0 : 1 + cfg->shards[s].n_replicas;

		kr_metrics_hide(m, sh->draining, gone);
		kr_metrics_hide(m, sh->users, gone);
		kr_metrics_hide(m, sh->fts_backlog, gone);
		for (unsigned i = 0; i < sh->n_nodes; i++)
			cm_hide_node(m, &ids->nodes[sh->first_node + i],
				     i >= nodes);
	}
}

int
kr_connmgr_metrics_fit(const struct kr_connmgr_metrics *ids,
		       const struct kr_config *cfg, struct kr_err *err_r)
{
	if (cfg->n_shards > ids->n_shards)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%u shards: metrics are reserved for %u "
				  "([storage] max_shards at start); more "
				  "need a restart",
				  cfg->n_shards, ids->n_shards);
	for (unsigned s = 0; s < cfg->n_shards; s++)
		if (1 + cfg->shards[s].n_replicas > ids->shards[s].n_nodes)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "[shard.%u]: %u replicas, metrics "
					  "are reserved for %u; more need a "
					  "restart",
					  s, cfg->shards[s].n_replicas,
					  ids->shards[s].n_nodes - 1);
	return 0;
}

void
kr_connmgr_metrics_free(struct kr_connmgr_metrics **ids)
{
	if (*ids != NULL) {
		free((*ids)->shards);
		if ((*ids)->ryw != NULL)
			munmap((void *)(*ids)->ryw,
			       CM_RYW_SLOTS * sizeof(*(*ids)->ryw));
	}
	free(*ids);
	*ids = NULL;
}

int
kr_connmgr_drain_metric(const struct kr_connmgr_metrics *ids, unsigned shard)
{
	return shard < ids->n_shards ? ids->shards[shard].draining : -1;
}

int
kr_connmgr_users_metric(const struct kr_connmgr_metrics *ids, unsigned shard)
{
	return shard < ids->n_shards ? ids->shards[shard].users : -1;
}

int
kr_connmgr_fts_backlog_metric(const struct kr_connmgr_metrics *ids,
			      unsigned shard)
{
	return shard < ids->n_shards ? ids->shards[shard].fts_backlog : -1;
}

int
kr_connmgr_fts_indexed_metric(const struct kr_connmgr_metrics *ids)
{
	return ids->fts_indexed;
}

static void
cm_node_init(struct kr_connmgr *mgr, struct cm_node *node, unsigned shard,
	     int replica, const char *conninfo, const struct cm_node_ids *ids)
{
	const struct kr_config *cfg = mgr->cfg;
	const struct kr_config_shard *sc = &cfg->shards[shard];
	bool singleton = cfg->storage.pool == KR_CONFIG_POOL_SINGLETON;
	struct kr_pgpool_settings set = {
		.conninfo = conninfo,
		.target_session_attrs = replica < 0 ? "read-write" : "any",
		.low = singleton ? 1 : sc->pool_low,
		.high = singleton ? 1 : sc->pool_high,
		.per_conn = singleton ? CM_SINGLETON_PIPELINE : 1,
		.queue_max = sc->pool_queue,
		.queue_timeout_ms = cfg->storage.pool_queue_timeout_ms,
		.connect_timeout_ms = cfg->storage.connect_timeout_ms,
		.statement_timeout_ms = cfg->storage.query_timeout_ms,
		.idle_close_ms = CM_IDLE_CLOSE_MS,
	};

	node->mgr = mgr;
	node->shard = shard;
	node->replica = replica;
	node->ids = ids;
	if (replica < 0)
		snprintf(node->name, sizeof(node->name), "shard%u.primary",
			 shard);
	else
		snprintf(node->name, sizeof(node->name), "shard%u.replica%d",
			 shard, replica);
	kr_circuit_init(&node->circuit, cfg->storage.circuit_failures,
			cfg->storage.circuit_probe_ms);
	node->pool = kr_pgpool_create(mgr->base, &set, &node->circuit);
}

static struct kr_balancer *
cm_balancer(const struct kr_config *cfg, unsigned n, unsigned seed)
{
	struct kr_balancer_settings set;

	kr_balancer_settings_init(&set);
	set.kind = cfg->storage.balancer == KR_CONFIG_BALANCER_APERTURE
			   ? KR_BALANCER_APERTURE
			   : KR_BALANCER_HEAP;
	set.aperture_low = cfg->storage.aperture_low;
	set.aperture_high = cfg->storage.aperture_high;
	return kr_balancer_create(n, &set, seed);
}

/* Reads that must see the user's own recent write go to the primary. */
static bool
cm_ryw_active(const struct kr_connmgr *mgr, uint64_t h, int64_t now_ms)
{
	if (mgr->ids->ryw != NULL)
		return atomic_load_explicit(&mgr->ids->ryw[h % CM_RYW_SLOTS],
					    memory_order_relaxed) > now_ms;
	return mgr->ryw_until_ms[h % CM_RYW_SLOTS] > now_ms;
}

static void
cm_ryw_mark(struct kr_connmgr *mgr, uint64_t h, int64_t now_ms)
{
	int64_t until = now_ms + mgr->cfg->storage.read_your_writes_ms;
	_Atomic int64_t *shared;
	int64_t seen;

	if (mgr->ids->ryw == NULL) {
		int64_t *slot = &mgr->ryw_until_ms[h % CM_RYW_SLOTS];
		if (until > *slot)
			*slot = until;
		return;
	}
	shared = &mgr->ids->ryw[h % CM_RYW_SLOTS];
	seen = atomic_load_explicit(shared, memory_order_relaxed);
	while (until > seen &&
	       !atomic_compare_exchange_weak_explicit(shared, &seen, until,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

void
kr_connmgr_wrote(struct kr_connmgr *mgr, const char *user)
{
	cm_ryw_mark(mgr, kr_hash_fnv1a64_lower(user, strlen(user)),
		    kr_clock_mono_ms());
}

/* The replica the balancer picks, or -1 for the primary. */
static int
cm_route(struct kr_connmgr *mgr, struct cm_shard *sh, enum kr_connmgr_mode mode,
	 const struct kr_connmgr_req *req, int64_t now_ms)
{
	int r;

	if (mode == KR_CONNMGR_WRITE || sh->n_replicas == 0 ||
	    (req->has_user && cm_ryw_active(mgr, req->user_hash, now_ms)))
		return -1;
	r = kr_balancer_pick(sh->balancer);
	if (r < 0 || kr_circuit_is_open(&sh->replicas[r]->circuit, now_ms))
		return -1;
	return r;
}

bool
kr_connmgr_draining(const struct kr_connmgr *mgr, unsigned shard)
{
	struct kr_metric_value v;

	if (mgr->control == NULL || shard >= mgr->n_shards)
		return false;
	/* One relaxed atomic load: cheap enough for every request, and
	 * the master's flag takes effect on the next one. */
	kr_metrics_read_slot(mgr->control, mgr->ids->shards[shard].draining,
			     &v);
	return v.value != 0;
}

static void cm_on_result(void *ctx, const PGresult *res,
			 const struct kr_err *err);

/* A drained shard's primary gets no new work (SPEC.md §3.3): its
 * writes and primary reads fail at once, with nothing sent, instead of
 * waiting for timeouts; reads routed to a replica still go there. A
 * retry or a confirmation on the primary is refused the same way. */
static int
cm_send(struct kr_connmgr_req *req, struct cm_node *node,
	const struct kr_pgquery *q, struct kr_err *err_r)
{
	int64_t now_ms = kr_clock_mono_ms();

	if (node->replica < 0 && kr_connmgr_draining(req->mgr, node->shard))
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "shard %u draining",
				  node->shard);
	if (kr_circuit_is_open(&node->circuit, now_ms))
		return kr_err_set(err_r, KR_ERR_TEMPORARY,
				  "%s unavailable (circuit open)", node->name);
	req->node = node;
	req->start_us = kr_clock_mono_us();
	if (kr_pgpool_query(node->pool, q, req->deadline, cm_on_result, req,
			    &req->preq, err_r) < 0)
		return -1;
	node->queries++;
	kr_metrics_inc(req->mgr->slot, node->ids->queries);
	return 0;
}

static void
cm_req_free(struct kr_connmgr_req *req)
{
	if (req->balancer_node >= 0)
		kr_balancer_release(req->mgr->shards[req->node->shard].balancer,
				    (unsigned)req->balancer_node);
	if (req->retry_copy)
		kr_pgquery_copy_deinit(&req->copy);
	free(req);
}

/* A read that lost its replica connection gets one more try, on the
 * primary; writes are never retried (they may have committed). */
static bool
cm_retry(struct kr_connmgr_req *req, const struct kr_err *err)
{
	struct cm_shard *sh = &req->mgr->shards[req->node->shard];
	struct kr_err again;

	if (!req->retry_copy || err->kind != KR_ERR_TEMPORARY ||
	    req->node == sh->primary)
		return false;
	kr_balancer_release(sh->balancer, (unsigned)req->balancer_node);
	req->balancer_node = -1;
	return cm_send(req, sh->primary, &req->copy.q, &again) == 0;
}

/* A negative answer from a replica goes to the primary for the final
 * word (connmgr.h). True when the question is asked again; *err_r set
 * when that could not even be sent: then that is the answer. */
static bool
cm_confirm(struct kr_connmgr_req *req, const PGresult *res,
	   struct kr_err *err_r)
{
	struct cm_shard *sh = &req->mgr->shards[req->node->shard];

	if (req->negative == NULL || !req->retry_copy ||
	    req->node == sh->primary || !req->negative(req->ctx, res))
		return false;
	req->node->confirmed++;
	kr_balancer_release(sh->balancer, (unsigned)req->balancer_node);
	req->balancer_node = -1;
	return cm_send(req, sh->primary, &req->copy.q, err_r) == 0;
}

static void
cm_on_result(void *ctx, const PGresult *res, const struct kr_err *err)
{
	struct kr_connmgr_req *req = ctx;
	struct cm_node *node = req->node;
	struct kr_connmgr *mgr = req->mgr;
	struct kr_err again;

	req->preq = NULL;
	kr_metrics_observe(mgr->slot, node->ids->latency,
			   (uint64_t)(kr_clock_mono_us() - req->start_us));
	if (err != NULL) {
		node->errors++;
		kr_metrics_inc(mgr->slot, node->ids->errors);
		if (cm_retry(req, err))
			return;
	}
	kr_err_clear(&again);
	if (err == NULL && cm_confirm(req, res, &again))
		return;
	if (again.kind != KR_ERR_NONE) {
		res = NULL;
		err = &again;
	}
	if (err == NULL && req->has_user && req->write)
		cm_ryw_mark(mgr, req->user_hash, kr_clock_mono_ms());
	req->cb(req->ctx, res, err);
	cm_req_free(req);
}

int
kr_connmgr_query(struct kr_connmgr *mgr, unsigned shard,
		 enum kr_connmgr_mode mode, const char *user,
		 const struct kr_pgquery *q, struct kr_deadline deadline,
		 kr_pgquery_fn *cb, void *ctx, struct kr_connmgr_req **req_r,
		 struct kr_err *err_r)
{
	int64_t now_ms = kr_clock_mono_ms();
	struct kr_connmgr_req *req;
	struct cm_shard *sh;
	int r;

	if (shard >= mgr->n_shards)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "no shard %u", shard);
	sh = &mgr->shards[shard];
	req = kr_xcalloc(1, sizeof(*req));
	req->mgr = mgr;
	req->cb = cb;
	req->ctx = ctx;
	req->deadline = deadline;
	req->write = mode == KR_CONNMGR_WRITE;
	req->balancer_node = -1;
	if (user != NULL) {
		req->has_user = true;
		req->user_hash = kr_hash_fnv1a64_lower(user, strlen(user));
	}
	r = cm_route(mgr, sh, mode, req, now_ms);
	if (r >= 0) {
		kr_balancer_acquire(sh->balancer, (unsigned)r);
		req->balancer_node = r;
		req->node = sh->replicas[r];
		kr_pgquery_copy_init(&req->copy, q);
		req->retry_copy = true;
	}
	if (cm_send(req, r >= 0 ? sh->replicas[r] : sh->primary, q, err_r) <
	    0) {
		req->node = r >= 0 ? sh->replicas[r] : sh->primary;
		cm_req_free(req);
		return -1;
	}
	if (req->write && req->has_user)
		cm_ryw_mark(mgr, req->user_hash, now_ms);
	if (req_r != NULL)
		*req_r = req;
	return 0;
}

void
kr_connmgr_confirm_negative(struct kr_connmgr_req *req,
			    kr_connmgr_negative_fn *fn)
{
	if (!req->write)
		req->negative = fn;
}

void
kr_connmgr_cancel(struct kr_connmgr_req **req_p)
{
	struct kr_connmgr_req *req = *req_p;

	*req_p = NULL;
	if (req == NULL)
		return;
	kr_pgpool_cancel(&req->preq);
	cm_req_free(req);
}

static void
cm_node_report(struct kr_connmgr *mgr, struct cm_node *node, int64_t now_ms)
{
	struct kr_pgpool_stats st;
	bool open = kr_circuit_is_open(&node->circuit, now_ms);
	struct kr_log_line line;

	kr_pgpool_get_stats(node->pool, &st);
	kr_metrics_gauge_set(mgr->slot, node->ids->busy, st.busy);
	kr_metrics_gauge_set(mgr->slot, node->ids->idle, st.idle);
	kr_metrics_gauge_set(mgr->slot, node->ids->waiting, st.waiting);
	/* Down until a success closes it, not just while failing fast:
	 * the gaps between failed probes must not read "up". */
	kr_metrics_gauge_set(mgr->slot, node->ids->circuit,
			     kr_circuit_is_down(&node->circuit));
	if (node->replica >= 0)
		kr_balancer_set_down(mgr->shards[node->shard].balancer,
				     (unsigned)node->replica, open);
	if (node->circuit.state == node->logged_state ||
	    node->circuit.state == KR_CIRCUIT_HALF_OPEN)
		return;
	node->logged_state = node->circuit.state;
	if (kr_log_begin(&line, mgr->log, open ? KR_LOG_WARN : KR_LOG_INFO,
			 NULL,
			 open ? "db.circuit_open" : "db.circuit_closed")) {
		kr_log_str(&line, "node", node->name);
		kr_log_uint(&line, "failures", node->circuit.failures);
		kr_log_end(&line);
	}
}

/* Each worker logs when it sees a shard's drain flag change. */
static void
cm_shard_report(struct kr_connmgr *mgr, unsigned shard)
{
	struct cm_shard *sh = &mgr->shards[shard];
	bool draining = kr_connmgr_draining(mgr, shard);
	struct kr_log_line line;

	if (draining == sh->drain_logged)
		return;
	sh->drain_logged = draining;
	if (kr_log_begin(&line, mgr->log, KR_LOG_INFO, NULL,
			 draining ? "db.shard_draining"
				  : "db.shard_undrained")) {
		kr_log_uint(&line, "shard", shard);
		kr_log_end(&line);
	}
}

static void
cm_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct kr_connmgr *mgr = arg;
	int64_t now_ms = kr_clock_mono_ms();

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < mgr->n_nodes; i++)
		cm_node_report(mgr, &mgr->nodes[i], now_ms);
	for (unsigned s = 0; s < mgr->n_shards; s++)
		cm_shard_report(mgr, s);
}

static void
cm_build(struct kr_connmgr *mgr, const struct kr_connmgr_metrics *ids)
{
	const struct kr_config *cfg = mgr->cfg;
	unsigned k = 0;

	for (unsigned s = 0; s < cfg->n_shards; s++) {
		const struct kr_config_shard *sc = &cfg->shards[s];
		struct cm_shard *sh = &mgr->shards[s];

		const struct cm_node_ids *nid =
			&ids->nodes[ids->shards[s].first_node];

		sh->primary = &mgr->nodes[k];
		cm_node_init(mgr, &mgr->nodes[k], s, -1, sc->primary, &nid[0]);
		k++;
		sh->n_replicas = sc->n_replicas;
		sh->replicas =
			kr_xcalloc(sc->n_replicas + 1, sizeof(*sh->replicas));
		for (unsigned r = 0; r < sc->n_replicas; r++, k++) {
			sh->replicas[r] = &mgr->nodes[k];
			cm_node_init(mgr, &mgr->nodes[k], s, (int)r,
				     sc->replicas[r], &nid[1 + r]);
		}
		sh->balancer = cm_balancer(cfg, sc->n_replicas,
					   (unsigned)getpid() * 31u + s);
	}
}

struct kr_connmgr *
kr_connmgr_create(struct event_base *base, struct kr_tpool *io,
		  const struct kr_config *cfg, struct kr_metrics_slot *slot,
		  const struct kr_connmgr_metrics *ids, struct kr_log *log)
{
	struct kr_connmgr *mgr = kr_xcalloc(1, sizeof(*mgr));
	struct timeval tick = { .tv_usec = CM_TICK_MS * 1000 };

	/* The runtime checked it (kr_connmgr_metrics_fit) before taking
	 * the config as its storage. */
	if (kr_connmgr_metrics_fit(ids, cfg, NULL) < 0)
		kr_panic("connmgr: config has nodes without metrics");
	(void)io; /* see connmgr.h */
	mgr->base = base;
	mgr->cfg = cfg;
	mgr->slot = slot;
	mgr->ids = ids;
	mgr->log = log;
	mgr->n_nodes = cm_count_nodes(cfg);
	mgr->n_shards = cfg->n_shards;
	mgr->nodes = kr_xcalloc(mgr->n_nodes + 1, sizeof(*mgr->nodes));
	mgr->shards = kr_xcalloc(mgr->n_shards + 1, sizeof(*mgr->shards));
	cm_build(mgr, ids);
	mgr->tick = event_new(base, -1, EV_PERSIST, cm_on_tick, mgr);
	if (mgr->tick == NULL || event_add(mgr->tick, &tick) < 0)
		kr_panic("connmgr: timer set-up failed");
	return mgr;
}

void
kr_connmgr_watch_drain(struct kr_connmgr *mgr,
		       const struct kr_metrics_slot *control)
{
	mgr->control = control;
}

void
kr_connmgr_destroy(struct kr_connmgr **mgr_p)
{
	struct kr_connmgr *mgr = *mgr_p;

	if (mgr == NULL)
		return;
	*mgr_p = NULL;
	event_free(mgr->tick);
	for (unsigned i = 0; i < mgr->n_nodes; i++)
		kr_pgpool_destroy(&mgr->nodes[i].pool);
	for (unsigned s = 0; s < mgr->n_shards; s++) {
		kr_balancer_destroy(&mgr->shards[s].balancer);
		free(mgr->shards[s].replicas);
	}
	free(mgr->shards);
	free(mgr->nodes);
	free(mgr);
}

unsigned
kr_connmgr_shards(const struct kr_connmgr *mgr)
{
	return mgr->n_shards;
}

int
kr_connmgr_node_stats(const struct kr_connmgr *mgr, unsigned node,
		      struct kr_connmgr_node_stats *stats_r)
{
	const struct cm_node *n;
	struct kr_pgpool_stats st;

	if (node >= mgr->n_nodes)
		return -1;
	n = &mgr->nodes[node];
	kr_pgpool_get_stats(n->pool, &st);
	stats_r->shard = n->shard;
	stats_r->replica = n->replica;
	stats_r->circuit_open =
		kr_circuit_is_open(&n->circuit, kr_clock_mono_ms());
	stats_r->circuit_down = kr_circuit_is_down(&n->circuit);
	stats_r->draining =
		n->replica < 0 && kr_connmgr_draining(mgr, n->shard);
	stats_r->conns_idle = st.idle;
	stats_r->conns_busy = st.busy;
	stats_r->conns_connecting = st.connecting;
	stats_r->waiting = st.waiting;
	stats_r->queries = n->queries;
	stats_r->errors = n->errors;
	stats_r->confirmed = n->confirmed;
	return 0;
}
