/* Connection pool for one database node (SPEC.md §4), on one loop.
 * Watermark pool: keeps `low` connections open, opens more up to `high`
 * while requests wait, closes extras idle for a while; each connection
 * carries one query at a time. Singleton pool: low = high = 1 and
 * `per_conn` queries pipelined on the one connection. Past that,
 * requests wait in a bounded queue with a deadline; past the queue
 * bound they are refused at once with KR_ERR_OVERLOAD. Connections are
 * opened only while the node's circuit breaker allows, and every
 * connect/lost/timeout outcome is reported to it. */
#ifndef KR_PGPOOL_H
#define KR_PGPOOL_H

#include "lib/deadline.h"
#include "lib/err.h"
#include "storage/circuit.h"
#include "storage/pgquery.h"

struct event_base;
struct kr_pgpool;
struct kr_pgpool_req;

struct kr_pgpool_settings {
	const char *conninfo;		  /* copied */
	const char *target_session_attrs; /* "read-write" or "any" */
	unsigned low, high;		  /* connections */
	unsigned per_conn;		  /* queries in flight per connection */
	unsigned queue_max;		  /* waiting requests */
	unsigned queue_timeout_ms;	  /* longest wait for a connection */
	unsigned connect_timeout_ms;
	unsigned statement_timeout_ms; /* per connection (kr_pgconn_create) */
	unsigned idle_close_ms;	       /* extras above low close after this */
};

struct kr_pgpool_stats {
	unsigned idle, busy, connecting, waiting;
};

/* The circuit is the node's (owned by the caller, outlives the pool). */
struct kr_pgpool *kr_pgpool_create(struct event_base *base,
				   const struct kr_pgpool_settings *set,
				   struct kr_circuit *circuit);
/* Every waiting or in-flight request is answered with KR_ERR_TEMPORARY
 * inside this call. */
void kr_pgpool_destroy(struct kr_pgpool **pool);

/* Same contract as kr_connmgr_query (storage/connmgr.h): 0 and one
 * callback later, or -1 + err_r now (KR_ERR_OVERLOAD: queue full). */
int kr_pgpool_query(struct kr_pgpool *pool, const struct kr_pgquery *q,
		    struct kr_deadline deadline, kr_pgquery_fn *cb, void *ctx,
		    struct kr_pgpool_req **req_r, struct kr_err *err_r);
void kr_pgpool_cancel(struct kr_pgpool_req **req);

void kr_pgpool_get_stats(const struct kr_pgpool *pool,
			 struct kr_pgpool_stats *stats_r);

#endif
