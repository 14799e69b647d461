/* Connection pool for one node: watermarks, bounded wait queue. */
#include "storage/pgpool.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "storage/pgconn.h"

#define POOL_TICK_MS 250

enum pool_req_state {
	POOL_REQ_WAITING,
	POOL_REQ_SENT,
};

struct kr_pgpool_req {
	struct kr_pgpool_req *prev, *next; /* wait queue */
	struct kr_pgpool *pool;
	kr_pgquery_fn *cb;
	void *ctx;
	struct kr_deadline deadline;
	struct event *wait_timer;
	bool wait_sheds; /* the queue limit, not the deadline, ends the wait */
	enum pool_req_state state;
	bool cancelled;
	struct kr_pgquery_copy copy; /* released once sent */
};

struct pool_conn {
	struct kr_pgpool *pool;
	struct kr_pgconn *conn; /* NULL: slot free */
	int64_t last_used_ms;
};

struct kr_pgpool {
	struct event_base *base;
	struct kr_pgpool_settings set;
	char *conninfo, *session_attrs;
	struct kr_circuit *circuit;
	struct pool_conn *conns; /* set.high slots */
	struct kr_pgpool_req *wait_head, *wait_tail;
	unsigned n_waiting;
	struct event *tick;
	bool closing;
};

static void pool_dispatch(struct kr_pgpool *pool);

static unsigned
pool_count(const struct kr_pgpool *pool, bool want_ready)
{
	unsigned n = 0;

	for (unsigned i = 0; i < pool->set.high; i++) {
		const struct kr_pgconn *c = pool->conns[i].conn;

		if (c != NULL && kr_pgconn_ready(c) == want_ready)
			n++;
	}
	return n;
}

/* The ready connection with room for one more query, least loaded. */
static struct pool_conn *
pool_pick(struct kr_pgpool *pool)
{
	struct pool_conn *best = NULL;
	unsigned best_load = 0;

	for (unsigned i = 0; i < pool->set.high; i++) {
		struct pool_conn *pc = &pool->conns[i];
		unsigned load;

		if (pc->conn == NULL || !kr_pgconn_ready(pc->conn))
			continue;
		load = kr_pgconn_inflight(pc->conn);
		if (load < pool->set.per_conn &&
		    (best == NULL || load < best_load)) {
			best = pc;
			best_load = load;
		}
	}
	return best;
}

static void
pool_unlink(struct kr_pgpool *pool, struct kr_pgpool_req *req)
{
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		pool->wait_head = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	else
		pool->wait_tail = req->prev;
	req->prev = req->next = NULL;
	pool->n_waiting--;
}

static void
pool_req_free(struct kr_pgpool_req *req)
{
	if (req->wait_timer != NULL)
		event_free(req->wait_timer);
	kr_pgquery_copy_deinit(&req->copy);
	free(req);
}

/* Answers and frees a request that never reached a connection. */
static void
pool_req_fail(struct kr_pgpool_req *req, const struct kr_err *err)
{
	if (!req->cancelled)
		req->cb(req->ctx, NULL, err);
	pool_req_free(req);
}

static void
pool_fail_waiting(struct kr_pgpool *pool, const struct kr_err *err)
{
	while (pool->wait_head != NULL) {
		struct kr_pgpool_req *req = pool->wait_head;

		pool_unlink(pool, req);
		pool_req_fail(req, err);
	}
}

static void
pool_on_result(void *ctx, const PGresult *res, const struct kr_err *err)
{
	struct kr_pgpool_req *req = ctx;
	struct kr_pgpool *pool = req->pool;

	/* A query that outlived its deadline says as much about the node
	 * as a refused connection does. */
	if (err != NULL && err->kind == KR_ERR_TIMEOUT)
		kr_circuit_failure(pool->circuit, kr_clock_mono_ms());
	else if (err == NULL)
		kr_circuit_success(pool->circuit);
	if (!req->cancelled)
		req->cb(req->ctx, res, err);
	pool_req_free(req);
}

static int
pool_send(struct pool_conn *pc, struct kr_pgpool_req *req, struct kr_err *err_r)
{
	if (kr_pgconn_send(pc->conn, &req->copy.q, req->deadline,
			   pool_on_result, req, err_r) < 0)
		return -1;
	/* libpq copied the statement into its buffer. */
	kr_pgquery_copy_deinit(&req->copy);
	req->state = POOL_REQ_SENT;
	pc->last_used_ms = kr_clock_mono_ms();
	return 0;
}

static void
pool_on_conn_event(void *ctx, struct kr_pgconn *conn, enum kr_pgconn_event ev,
		   const struct kr_err *err)
{
	struct pool_conn *pc = ctx;
	struct kr_pgpool *pool = pc->pool;

	(void)conn;
	switch (ev) {
	case KR_PGCONN_READY:
		kr_circuit_success(pool->circuit);
		break;
	case KR_PGCONN_IDLE:
		pc->last_used_ms = kr_clock_mono_ms();
		break;
	case KR_PGCONN_FAULTED:
		kr_circuit_failure(pool->circuit, kr_clock_mono_ms());
		kr_pgconn_destroy(&pc->conn);
		/* Nobody left to serve the waiters: tell them now rather
		 * than at their deadline. */
		if (pool_count(pool, true) == 0 && pool_count(pool, false) == 0)
			pool_fail_waiting(pool, err);
		break;
	}
	if (!pool->closing)
		pool_dispatch(pool);
}

static void
pool_open(struct kr_pgpool *pool)
{
	struct kr_deadline d = kr_deadline_after(kr_clock_mono_us(),
						 pool->set.connect_timeout_ms);
	struct kr_err err;

	for (unsigned i = 0; i < pool->set.high; i++) {
		struct pool_conn *pc = &pool->conns[i];

		if (pc->conn != NULL)
			continue;
		pc->conn = kr_pgconn_create(pool->base, pool->conninfo,
					    pool->session_attrs, d,
					    pool->set.statement_timeout_ms,
					    pool_on_conn_event, pc, &err);
		pc->last_used_ms = kr_clock_mono_ms();
		if (pc->conn == NULL)
			kr_circuit_failure(pool->circuit, kr_clock_mono_ms());
		return;
	}
}

/* Opens connections while requests wait for them, up to `high`, and
 * only as far as the circuit breaker lets us. When it lets nothing
 * through and no connection is left or coming, the waiters hear so now
 * (if may_answer: not from inside kr_pgpool_query). */
static void
pool_grow(struct kr_pgpool *pool, bool may_answer)
{
	while (!pool->closing) {
		unsigned ready = pool_count(pool, true);
		unsigned connecting = pool_count(pool, false);
		unsigned want = (pool->n_waiting + pool->set.per_conn - 1) /
				pool->set.per_conn;
		struct kr_err err;

		if (connecting >= want || ready + connecting >= pool->set.high)
			return;
		if (!kr_circuit_allow(pool->circuit, kr_clock_mono_ms())) {
			if (may_answer && ready + connecting == 0) {
				kr_err_set(&err, KR_ERR_TEMPORARY,
					   "database node unavailable");
				pool_fail_waiting(pool, &err);
			}
			return;
		}
		pool_open(pool);
	}
}

static void
pool_dispatch(struct kr_pgpool *pool)
{
	struct pool_conn *pc;

	while (pool->wait_head != NULL && (pc = pool_pick(pool)) != NULL) {
		struct kr_pgpool_req *req = pool->wait_head;
		struct kr_err err;

		pool_unlink(pool, req);
		event_del(req->wait_timer);
		if (pool_send(pc, req, &err) < 0)
			pool_req_fail(req, &err);
	}
	pool_grow(pool, true);
}

/* Keeps `low` connections, closes extras that sat idle. */
static void
pool_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct kr_pgpool *pool = arg;
	int64_t now = kr_clock_mono_ms();
	unsigned total = pool_count(pool, true) + pool_count(pool, false);

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < pool->set.high && total > pool->set.low; i++) {
		struct pool_conn *pc = &pool->conns[i];

		if (pc->conn != NULL && kr_pgconn_ready(pc->conn) &&
		    kr_pgconn_inflight(pc->conn) == 0 &&
		    now - pc->last_used_ms >= pool->set.idle_close_ms) {
			kr_pgconn_destroy(&pc->conn);
			total--;
		}
	}
	while (total < pool->set.low &&
	       kr_circuit_allow(pool->circuit, kr_clock_mono_ms())) {
		pool_open(pool);
		total++;
	}
	pool_dispatch(pool);
}

static void
pool_on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct kr_pgpool_req *req = arg;
	struct kr_err err;

	(void)fd;
	(void)what;
	pool_unlink(req->pool, req);
	/* The request's own deadline passed: a timeout. The pool's queue
	 * limit passed first: load shed (SPEC.md §6, -32011 / 451), which
	 * says "busy", not "down", and opens no circuit. */
	if (!req->wait_sheds)
		kr_err_set(&err, KR_ERR_TIMEOUT,
			   "no database connection in time");
	else
		kr_err_set(&err, KR_ERR_OVERLOAD,
			   "no database connection within pool_queue_timeout");
	pool_req_fail(req, &err);
}

static void
pool_enqueue(struct kr_pgpool *pool, struct kr_pgpool_req *req, int64_t now)
{
	struct kr_deadline limit =
		kr_deadline_after(now, pool->set.queue_timeout_ms);
	struct kr_deadline wait = kr_deadline_min(req->deadline, limit);
	struct timeval tv;

	/* Decided here, not by the clock when the timer fires (which may
	 * run a hair early or late). */
	req->wait_sheds = limit.at_us < req->deadline.at_us;
	req->wait_timer = evtimer_new(pool->base, pool_on_wait_timeout, req);
	if (req->wait_timer == NULL)
		kr_panic("pgpool: evtimer_new failed");
	kr_deadline_timeval(wait, now, &tv);
	event_add(req->wait_timer, &tv);
	req->prev = pool->wait_tail;
	if (pool->wait_tail != NULL)
		pool->wait_tail->next = req;
	else
		pool->wait_head = req;
	pool->wait_tail = req;
	pool->n_waiting++;
}

int
kr_pgpool_query(struct kr_pgpool *pool, const struct kr_pgquery *q,
		struct kr_deadline deadline, kr_pgquery_fn *cb, void *ctx,
		struct kr_pgpool_req **req_r, struct kr_err *err_r)
{
	struct pool_conn *pc = pool->wait_head == NULL ? pool_pick(pool) : NULL;
	int64_t now = kr_clock_mono_us();
	struct kr_pgpool_req *req;

	if (pool->closing)
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "pool closing");
	if (pc == NULL &&
	    pool_count(pool, true) + pool_count(pool, false) == 0 &&
	    kr_circuit_is_open(pool->circuit, kr_clock_mono_ms()))
		return kr_err_set(err_r, KR_ERR_TEMPORARY,
				  "database node unavailable");
	if (pc == NULL && pool->n_waiting >= pool->set.queue_max)
		return kr_err_set(err_r, KR_ERR_OVERLOAD,
				  "database pool saturated (%u waiting)",
				  pool->n_waiting);
	req = kr_xcalloc(1, sizeof(*req));
	req->pool = pool;
	req->cb = cb;
	req->ctx = ctx;
	req->deadline = deadline;
	kr_pgquery_copy_init(&req->copy, q);
	if (pc != NULL) {
		if (pool_send(pc, req, err_r) < 0) {
			pool_req_free(req);
			return -1;
		}
	} else {
		pool_enqueue(pool, req, now);
		pool_grow(pool, false);
	}
	if (req_r != NULL)
		*req_r = req;
	return 0;
}

void
kr_pgpool_cancel(struct kr_pgpool_req **req_p)
{
	struct kr_pgpool_req *req = *req_p;

	*req_p = NULL;
	if (req == NULL)
		return;
	if (req->state == POOL_REQ_SENT) {
		req->cancelled = true; /* freed when the result arrives */
		return;
	}
	pool_unlink(req->pool, req);
	pool_req_free(req);
}

struct kr_pgpool *
kr_pgpool_create(struct event_base *base, const struct kr_pgpool_settings *set,
		 struct kr_circuit *circuit)
{
	struct kr_pgpool *pool = kr_xcalloc(1, sizeof(*pool));
	struct timeval tick = { .tv_usec = POOL_TICK_MS * 1000 };

	pool->base = base;
	pool->set = *set;
	if (pool->set.high < 1)
		pool->set.high = 1;
	if (pool->set.low > pool->set.high)
		pool->set.low = pool->set.high;
	if (pool->set.per_conn < 1)
		pool->set.per_conn = 1;
	pool->conninfo = kr_xstrdup(set->conninfo);
	pool->session_attrs = kr_xstrdup(set->target_session_attrs);
	pool->set.conninfo = pool->conninfo;
	pool->set.target_session_attrs = pool->session_attrs;
	pool->circuit = circuit;
	pool->conns = kr_xcalloc(pool->set.high, sizeof(*pool->conns));
	for (unsigned i = 0; i < pool->set.high; i++)
		pool->conns[i].pool = pool;
	pool->tick = event_new(base, -1, EV_PERSIST, pool_on_tick, pool);
	if (pool->tick == NULL || event_add(pool->tick, &tick) < 0)
		kr_panic("pgpool: timer set-up failed");
	/* Open the low watermark on the first loop turn, not at the tick. */
	event_active(pool->tick, EV_TIMEOUT, 0);
	return pool;
}

void
kr_pgpool_destroy(struct kr_pgpool **pool_p)
{
	struct kr_pgpool *pool = *pool_p;
	struct kr_err err;

	if (pool == NULL)
		return;
	*pool_p = NULL;
	pool->closing = true;
	kr_err_set(&err, KR_ERR_TEMPORARY, "database pool closed");
	pool_fail_waiting(pool, &err);
	for (unsigned i = 0; i < pool->set.high; i++)
		kr_pgconn_destroy(&pool->conns[i].conn);
	event_free(pool->tick);
	free(pool->conns);
	free(pool->conninfo);
	free(pool->session_attrs);
	free(pool);
}

void
kr_pgpool_get_stats(const struct kr_pgpool *pool,
		    struct kr_pgpool_stats *stats_r)
{
	memset(stats_r, 0, sizeof(*stats_r));
	for (unsigned i = 0; i < pool->set.high; i++) {
		const struct kr_pgconn *c = pool->conns[i].conn;

		if (c == NULL)
			continue;
		if (!kr_pgconn_ready(c))
			stats_r->connecting++;
		else if (kr_pgconn_inflight(c) > 0)
			stats_r->busy++;
		else
			stats_r->idle++;
	}
	stats_r->waiting = pool->n_waiting;
}
