/* One asynchronous PostgreSQL connection on a libevent loop: libpq in
 * non-blocking pipeline mode, so several queries can be in flight (each
 * followed by its own sync point, so one failing statement never
 * aborts another). Owned by a pool (storage/pgpool.h); one loop thread.
 * A query past its deadline is answered with KR_ERR_TIMEOUT at once and
 * its late result dropped; the server ends any statement past the
 * connection's statement_timeout itself, and a connection whose
 * current query stays unanswered well past that is closed. Nothing is
 * ever cancelled from outside (a cancel hits whatever the backend runs
 * at that moment: in a pipeline, someone else's query). */
#ifndef KR_PGCONN_H
#define KR_PGCONN_H

#include <stdbool.h>

#include "lib/deadline.h"
#include "lib/err.h"
#include "storage/pgquery.h"

struct event_base;
struct kr_pgconn;

enum kr_pgconn_event {
	KR_PGCONN_READY,   /* connected; queries may be sent */
	KR_PGCONN_FAULTED, /* connect failed or connection lost */
	KR_PGCONN_IDLE,	   /* a query finished; one slot freed */
};

/* Owner notifications, on the loop, never from inside a kr_pgconn_*
 * call. `err` is set for FAULTED. */
typedef void kr_pgconn_event_fn(void *ctx, struct kr_pgconn *conn,
				enum kr_pgconn_event ev,
				const struct kr_err *err);

/* Starts connecting at once (PQconnectStartParams; conninfo may be a
 * key=value string or a URI, multi-host included); target_session_attrs
 * is "read-write" for primaries, "any" for replicas. The session's
 * statement_timeout is statement_timeout_ms (added to the conninfo's
 * own options; 0: the server's default, and no watch on stalled
 * queries); a query the server has not answered statement_timeout_ms
 * plus a margin (half of it, at least 1 s) after it started closes the
 * connection: every query on it fails KR_ERR_TEMPORARY (a write's
 * outcome is then unknown). The outcome arrives as READY or FAULTED.
 * NULL + err_r when libpq cannot even start. */
struct kr_pgconn *kr_pgconn_create(struct event_base *base,
				   const char *conninfo,
				   const char *target_session_attrs,
				   struct kr_deadline connect_deadline,
				   unsigned statement_timeout_ms,
				   kr_pgconn_event_fn *event_cb, void *ctx,
				   struct kr_err *err_r);
/* Closes the connection. Queries still in flight are answered with
 * KR_ERR_TEMPORARY inside this call; no owner event afterwards. */
void kr_pgconn_destroy(struct kr_pgconn **conn);

/* Sends q (copied). 0: cb fires exactly once later. -1 + err_r when the
 * connection is not ready or libpq refuses the query.
 * Each statement text is prepared (named, per connection) the first
 * time the connection sees it, in the same pipeline as the query, and
 * run by name after that: the server parses and analyses it once per
 * session, not per call. A statement the server refuses is answered
 * once (KR_ERR_INTERNAL) and stays unprepared: the next call prepares
 * it again. A query goes unnamed, as before, past a bound on distinct
 * texts per connection or while its text's Prepare is unanswered. */
int kr_pgconn_send(struct kr_pgconn *conn, const struct kr_pgquery *q,
		   struct kr_deadline deadline, kr_pgquery_fn *cb, void *ctx,
		   struct kr_err *err_r);

bool kr_pgconn_ready(const struct kr_pgconn *conn);

/* Queries sent and not yet answered by the server (timed-out ones
 * count until their results have been drained). */
unsigned kr_pgconn_inflight(const struct kr_pgconn *conn);

/* Counts since the connection was created (tests; a new connection
 * starts with no prepared statements). */
struct kr_pgconn_stats {
	unsigned prepares;	/* Prepare messages sent */
	unsigned prepared_runs; /* queries run by statement name */
	unsigned unnamed;	/* queries sent unnamed (parsed per call) */
};

void kr_pgconn_get_stats(const struct kr_pgconn *conn,
			 struct kr_pgconn_stats *stats_r);

#endif
