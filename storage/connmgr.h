/* The connection manager (SPEC.md §4): the single place that reaches
 * PostgreSQL. Per worker, on its loop. It owns one pool per node (every
 * shard's primary and replicas), a circuit breaker per node, the
 * read balancer per shard, the read-your-writes memory and the per-node
 * metrics. Writes go to the shard's primary and are never retried;
 * reads go to a replica chosen by the balancer (or to the primary within
 * read_your_writes after the same user's write, or when there are no
 * replicas) and retry once elsewhere after a connection-level failure. */
#ifndef KR_CONNMGR_H
#define KR_CONNMGR_H

#include <stdbool.h>

#include "lib/config.h"
#include "lib/deadline.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "storage/pgquery.h"

struct event_base;
struct kr_tpool;
struct kr_connmgr;
struct kr_connmgr_req;
struct kr_connmgr_metrics;

enum kr_connmgr_mode {
	KR_CONNMGR_READ,
	KR_CONNMGR_WRITE,
};

/* Defines the per-node metrics in the registry; in the master, before
 * kr_metrics_map. The returned ids (freed by the runtime with
 * kr_connmgr_metrics_free) go to every worker's kr_connmgr_create. */
struct kr_connmgr_metrics *
kr_connmgr_define_metrics(struct kr_metrics *metrics,
			  const struct kr_config *cfg, struct kr_err *err_r);
/* The same, plus hidden metrics (lib/metrics.h kr_metrics_hide) for
 * the shards cfg->n_shards..max_shards-1, each with as many replicas
 * as cfg's shard with the most: the shards a reload may append
 * without a restart (server/runtime.c). */
struct kr_connmgr_metrics *
kr_connmgr_define_metrics_reserve(struct kr_metrics *metrics,
				  const struct kr_config *cfg,
				  unsigned max_shards, struct kr_err *err_r);
/* 0 when every node of cfg has metrics in ids (a grown config within
 * the reservation), else -1 + err_r saying a restart is needed. */
int kr_connmgr_metrics_fit(const struct kr_connmgr_metrics *ids,
			   const struct kr_config *cfg, struct kr_err *err_r);
/* Shows the metrics of cfg's nodes and shards, hides the other
 * reserved ones (in this process's registry: the master's, before it
 * forks the workers that use cfg). */
void kr_connmgr_metrics_show(struct kr_metrics *m,
			     const struct kr_connmgr_metrics *ids,
			     const struct kr_config *cfg);
void kr_connmgr_metrics_free(struct kr_connmgr_metrics **ids);
/* The labels of a node's metrics: `shard="S",node="primary"` or
 * `node="replicaR"` (replica >= 0). */
void kr_connmgr_node_labels(char *buf, size_t size, unsigned shard,
			    int replica);
/* The id of the gauge kurier_db_shard_draining{shard="N"}, -1 past the
 * last shard. The master drains shard N with kr_metrics_gauge_set(its
 * own slot (slot 0), id, 1) and undrains it with 0; every worker's
 * manager watching that slot (kr_connmgr_watch_drain) obeys from its
 * next request on. */
int kr_connmgr_drain_metric(const struct kr_connmgr_metrics *ids,
			    unsigned shard);
/* The id of the gauge kurier_db_users{shard="N"} (storage/census.h
 * writes it), -1 past the last shard. */
int kr_connmgr_users_metric(const struct kr_connmgr_metrics *ids,
			    unsigned shard);
/* The ids of the gauge kurier_fts_backlog{shard="N"} (-1 past the last
 * shard) and of the counter kurier_fts_indexed_total, both written by
 * storage/fts_indexer.h. */
int kr_connmgr_fts_backlog_metric(const struct kr_connmgr_metrics *ids,
				  unsigned shard);
int kr_connmgr_fts_indexed_metric(const struct kr_connmgr_metrics *ids);

/* Nothing connects yet: pools open their low-watermark connections in
 * the background from the first loop turn on. cfg must outlive the
 * manager (the runtime keeps it until the manager is recreated). Every
 * connection runs with statement_timeout = [storage] query_timeout, so
 * the server ends a statement that runs too long; io is no longer used
 * (nothing is cancelled through PQcancel any more) and may be NULL. */
struct kr_connmgr *
kr_connmgr_create(struct event_base *base, struct kr_tpool *io,
		  const struct kr_config *cfg, struct kr_metrics_slot *slot,
		  const struct kr_connmgr_metrics *ids, struct kr_log *log);
/* Answers every outstanding request with KR_ERR_TEMPORARY (the
 * callbacks run inside this call), closes every connection. */
void kr_connmgr_destroy(struct kr_connmgr **mgr);

/* SPEC.md §3.3 drain: from now on the manager reads the drain flags
 * (kr_connmgr_drain_metric) in `control`, the master's slot of the
 * shared metrics region (kr_metrics_slot(metrics, 0)); borrowed, it
 * must outlive the manager. While shard N's flag is not 0, its writes
 * and the reads that would go to its primary (no replica, read your
 * writes, a retry or a confirmation) fail at once with
 * KR_ERR_TEMPORARY "shard N draining", nothing sent; reads the
 * balancer sends to a replica are served. Pools stay as they are.
 * Without a control slot nothing is ever draining. */
void kr_connmgr_watch_drain(struct kr_connmgr *mgr,
			    const struct kr_metrics_slot *control);
/* Whether shard's flag is set now (false past the last shard). */
bool kr_connmgr_draining(const struct kr_connmgr *mgr, unsigned shard);

/* Sends q to `shard`. `user` (may be NULL) is the address whose
 * read-your-writes window decides where reads go; a WRITE opens that
 * window. Returns 0 and answers through cb exactly once (never before
 * returning), or -1 + err_r at once (bad shard, circuit open, queue
 * full, shard draining) and then never calls cb. *req_r (optional) can cancel.
 */
int kr_connmgr_query(struct kr_connmgr *mgr, unsigned shard,
		     enum kr_connmgr_mode mode, const char *user,
		     const struct kr_pgquery *q, struct kr_deadline deadline,
		     kr_pgquery_fn *cb, void *ctx,
		     struct kr_connmgr_req **req_r, struct kr_err *err_r);
/* A write for user committed outside kr_connmgr_query's user (a
 * delivery batch for many users): the user's reads go to the primary
 * for [storage] read_your_writes, on every worker of this host. */
void kr_connmgr_wrote(struct kr_connmgr *mgr, const char *user);
/* No callback after this. A query already sent runs to its end on the
 * server; its result is dropped. */
void kr_connmgr_cancel(struct kr_connmgr_req **req);

/* True when res, a successful answer, is a negative one that the
 * caller would turn into a permanent answer to a client (no such user:
 * 550 5.1.1 or a failed login; a revoked session). Called on the loop,
 * before cb, with cb's ctx. */
typedef bool kr_connmgr_negative_fn(void *ctx, const PGresult *res);
/* SPEC.md §4: a replica may lag, so it never decides such an answer
 * alone. Once set on a READ (right after kr_connmgr_query returned it),
 * an answer from a replica that fn calls negative is not given: the
 * same query is asked again of the shard's primary, and the primary's
 * answer (or its failure, e.g. KR_ERR_TEMPORARY while it is down) is
 * the one cb gets. Answers from the primary are given as they are. */
void kr_connmgr_confirm_negative(struct kr_connmgr_req *req,
				 kr_connmgr_negative_fn *fn);

unsigned kr_connmgr_shards(const struct kr_connmgr *mgr);

/* Per node, for `kurier shard status`-like views and tests. */
struct kr_connmgr_node_stats {
	unsigned shard;
	int replica;	   /* -1: primary */
	bool circuit_open; /* failing fast now */
	/* From the opening failure until a success closes it, the gaps
	 * between probes included (kurier_db_circuit_open). */
	bool circuit_down;
	bool draining; /* a primary whose shard is drained */
	unsigned conns_idle, conns_busy, conns_connecting, waiting;
	unsigned long long queries, errors;
	/* Replica answers asked again of the primary (replicas only). */
	unsigned long long confirmed;
};
/* Nodes are numbered 0..n-1 in config order (per shard: primary, then
 * replicas). Returns -1 past the last. */
int kr_connmgr_node_stats(const struct kr_connmgr *mgr, unsigned node,
			  struct kr_connmgr_node_stats *stats_r);

#endif
