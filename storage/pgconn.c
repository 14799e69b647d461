/* Asynchronous PostgreSQL connection: libpq non-blocking pipeline mode
 * driven by libevent.
 *
 * Why no PQcancel: a cancel request names the backend, not a statement,
 * so it cancels whatever runs at that moment: in a pipeline the next
 * caller's query, or a delivery batch. Instead the server ends every
 * statement past statement_timeout itself (set at connect), which is
 * exactly the statement that ran too long; a caller whose deadline is
 * shorter is answered at once and its result dropped when it comes. A
 * head query the server leaves unanswered well past statement_timeout
 * (a hung node, a partition, a COMMIT stuck on its WAL flush) closes
 * the connection: its outcome is then unknown, which every caller
 * already handles as a temporary failure. */
#include "storage/pgconn.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/hash.h"

enum pgconn_state {
	PGCONN_CONNECTING,
	PGCONN_READY,
	PGCONN_FAULTED,
};

/* Pipeline mode answers each query as: its result, NULL, then the
 * PGRES_PIPELINE_SYNC of the sync point sent right after it; a query
 * that prepares its statement first gets the Prepare's result and NULL
 * before those (a failed Prepare makes the query's own result
 * PGRES_PIPELINE_ABORTED, up to the sync). */
enum pgconn_stage {
	PGCONN_WAIT_PREPARED,
	PGCONN_WAIT_PREPARED_NULL,
	PGCONN_WAIT_RESULT,
	PGCONN_WAIT_NULL,
	PGCONN_WAIT_SYNC,
};

struct pgconn_op {
	struct pgconn_op *next;
	struct kr_pgconn *conn;
	kr_pgquery_fn *cb;
	void *ctx;
	struct event *timer;
	PGresult *res;
	enum pgconn_stage stage;
	int stmt;      /* named statement used (index), or -1 */
	bool answered; /* timed out: the result is drained and dropped */
};

/* Named prepared statements, per connection, so the server parses and
 * plans each statement text once per session rather than on every
 * call. Keyed by the text (queries reach us as copies, so pointers
 * say nothing). Bounded: past PGCONN_STMTS_MAX texts, more go unnamed
 * (parsed per call, as before) rather than evicting, which would need
 * a DEALLOCATE round trip. Slot i is the statement "k<i>"; a slot is
 * only ever reused after its Prepare failed (no statement then). */
#define PGCONN_STMTS_MAX 128

enum pgconn_stmt_state {
	PGCONN_STMT_PREPARING, /* Prepare sent, its result not yet in */
	PGCONN_STMT_READY,
	/* Prepared, then refused by the server ("cached plan must not
	 * change result type" after a migration changed a function's
	 * columns): the text goes unnamed on this connection. */
	PGCONN_STMT_BROKEN,
};

struct pgconn_stmt {
	char *sql; /* NULL: free */
	uint64_t hash;
	enum pgconn_stmt_state state;
};

struct kr_pgconn {
	struct event_base *base;
	PGconn *pg;
	int fd;
	struct event *rd, *wr; /* after connect: persistent read, write */
	struct event *poll;    /* during connect: one-shot */
	struct event *connect_timer;
	struct event *notify; /* deferred fault report */
	struct event *stall;  /* the head query's answer is overdue */
	unsigned stall_ms;    /* statement_timeout + margin; 0: none */
	enum pgconn_state state;
	struct kr_err fault;
	struct pgconn_op *head, *tail;
	unsigned inflight;
	unsigned depth; /* nesting of our callbacks into the owner */
	bool doomed;	/* destroyed while depth > 0 */
	kr_pgconn_event_fn *event_cb;
	void *ctx;
	struct pgconn_stmt stmts[PGCONN_STMTS_MAX];
	unsigned n_stmts; /* slots ever used: stmts[0..n_stmts) */
	struct kr_pgconn_stats stats;
};

static void pgconn_on_poll(evutil_socket_t fd, short what, void *arg);

/* Server notices (e.g. "terminating connection due to immediate
 * shutdown") would go to stderr unstructured; the fault that follows is
 * what the pool reports and counts. */
static void
pgconn_on_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}
static void pgconn_free(struct kr_pgconn *c);

static void
pgconn_enter(struct kr_pgconn *c)
{
	c->depth++;
}

/* False when the connection was destroyed meanwhile (and is gone). */
static bool
pgconn_leave(struct kr_pgconn *c)
{
	if (--c->depth == 0 && c->doomed) {
		pgconn_free(c);
		return false;
	}
	return !c->doomed;
}

/* False when the owner destroyed the connection from its callback. */
static bool
pgconn_owner_event(struct kr_pgconn *c, enum kr_pgconn_event ev,
		   const struct kr_err *err)
{
	pgconn_enter(c);
	c->event_cb(c->ctx, c, ev, err);
	return pgconn_leave(c);
}

/* Stops all I/O and reports the fault from a later loop turn. */
static void
pgconn_fault_set(struct kr_pgconn *c)
{
	c->state = PGCONN_FAULTED;
	if (c->rd != NULL)
		event_del(c->rd);
	if (c->wr != NULL)
		event_del(c->wr);
	if (c->poll != NULL)
		event_del(c->poll);
	event_del(c->connect_timer);
	if (c->stall != NULL)
		event_del(c->stall);
	event_active(c->notify, EV_TIMEOUT, 0);
}

static void
pgconn_fault(struct kr_pgconn *c, const char *what)
{
	const char *msg = c->pg != NULL ? PQerrorMessage(c->pg) : "";
	size_t n = strcspn(msg, "\n");

	if (c->state == PGCONN_FAULTED)
		return;
	kr_err_set(&c->fault, KR_ERR_TEMPORARY, "%s: %.*s", what, (int)n, msg);
	pgconn_fault_set(c);
}

/* Watches the head query (the one the server works on): armed when a
 * query becomes the head, off while nothing is in flight. */
static void
pgconn_stall_arm(struct kr_pgconn *c)
{
	struct timeval tv = { .tv_sec = c->stall_ms / 1000,
			      .tv_usec = (c->stall_ms % 1000) * 1000 };

	if (c->head == NULL || c->stall_ms == 0)
		event_del(c->stall);
	else
		event_add(c->stall, &tv);
}

static void
pgconn_on_stall(evutil_socket_t fd, short what, void *arg)
{
	struct kr_pgconn *c = arg;

	(void)fd;
	(void)what;
	if (c->state != PGCONN_READY)
		return;
	kr_err_set(&c->fault, KR_ERR_TEMPORARY,
		   "no answer %u ms after the query started: connection "
		   "closed",
		   c->stall_ms);
	pgconn_fault_set(c);
}

static void
pgconn_op_free(struct pgconn_op *op)
{
	if (op->timer != NULL)
		event_free(op->timer);
	if (op->res != NULL)
		PQclear(op->res);
	free(op);
}

/* Answers the op unless its deadline already did. */
static void
pgconn_op_answer(struct pgconn_op *op, const PGresult *res,
		 const struct kr_err *err)
{
	if (op->answered)
		return;
	op->answered = true;
	event_del(op->timer);
	op->cb(op->ctx, res, err);
}

static void
pgconn_answer_all(struct kr_pgconn *c, const struct kr_err *err)
{
	while (c->head != NULL) {
		struct pgconn_op *op = c->head;

		c->head = op->next;
		c->inflight--;
		pgconn_op_answer(op, NULL, err);
		pgconn_op_free(op);
	}
	c->tail = NULL;
}

static void
pgconn_on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct kr_pgconn *c = arg;

	(void)fd;
	(void)what;
	pgconn_enter(c);
	pgconn_answer_all(c, &c->fault);
	if (pgconn_leave(c))
		pgconn_owner_event(c, KR_PGCONN_FAULTED, &c->fault);
}

/* SQLSTATE classes that say "try again later" rather than "this
 * statement is wrong": connection (08), resources (53), operator
 * intervention such as a shutdown (57), serialization/deadlock (40).
 * Anything else is our statement failing (a bug or a schema problem,
 * never the client's fault: expected outcomes come back as status
 * columns), so KR_ERR_INTERNAL. */
static enum kr_err_kind
pgconn_error_kind(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state == NULL)
		return KR_ERR_TEMPORARY;
	if (strcmp(state, "57014") == 0)
		return KR_ERR_TIMEOUT; /* statement_timeout */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
	    strncmp(state, "57", 2) == 0 || strncmp(state, "40", 2) == 0)
		return KR_ERR_TEMPORARY;
	return KR_ERR_INTERNAL;
}

static void
pgconn_complete(struct pgconn_op *op)
{
	ExecStatusType st =
		op->res != NULL ? PQresultStatus(op->res) : PGRES_FATAL_ERROR;
	struct kr_err err = { 0 };

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		pgconn_op_answer(op, op->res, NULL);
	} else {
		const char *msg = op->res != NULL
					  ? PQresultErrorMessage(op->res)
					  : "no result";

		kr_err_set(&err,
			   op->res != NULL ? pgconn_error_kind(op->res)
					   : KR_ERR_TEMPORARY,
			   "%.*s", (int)strcspn(msg, "\n"), msg);
		pgconn_op_answer(op, NULL, &err);
	}
	pgconn_op_free(op);
}

/* The result of the Prepare sent ahead of op's query: the statement is
 * ready, or (a refused statement) its slot is freed and the error kept
 * as op's answer; the query's own result will then be
 * PGRES_PIPELINE_ABORTED, and is dropped. */
static void
pgconn_prepared(struct kr_pgconn *c, struct pgconn_op *op, PGresult *r)
{
	struct pgconn_stmt *st = &c->stmts[op->stmt];

	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		st->state = PGCONN_STMT_READY;
		PQclear(r);
		return;
	}
	free(st->sql);
	st->sql = NULL;
	op->stmt = -1;
	op->res = r;
}

/* A prepared statement the server will not run any more (SQLSTATE
 * 0A000, "cached plan must not change result type": a migration
 * changed what it returns) goes unnamed from now on; the failing
 * call is answered with the error like any refused statement. */
static void
pgconn_check_broken(struct kr_pgconn *c, const struct pgconn_op *op)
{
	const char *state;

	if (op->stmt < 0 || op->res == NULL ||
	    PQresultStatus(op->res) != PGRES_FATAL_ERROR)
		return;
	state = PQresultErrorField(op->res, PG_DIAG_SQLSTATE);
	if (state != NULL && strcmp(state, "0A000") == 0)
		c->stmts[op->stmt].state = PGCONN_STMT_BROKEN;
}

/* One step of the head op's pipeline stages; false when libpq has
 * nothing more without blocking. */
static bool
pgconn_step(struct kr_pgconn *c)
{
	struct pgconn_op *op = c->head;
	PGresult *r;

	if (op == NULL || PQisBusy(c->pg))
		return false;
	r = PQgetResult(c->pg);
	switch (op->stage) {
	case PGCONN_WAIT_PREPARED:
		if (r == NULL)
			break; /* out of step */
		pgconn_prepared(c, op, r);
		op->stage = PGCONN_WAIT_PREPARED_NULL;
		return true;
	case PGCONN_WAIT_PREPARED_NULL:
	case PGCONN_WAIT_NULL:
		if (r != NULL)
			PQclear(r); /* a statement yields one result */
		else
			op->stage = op->stage == PGCONN_WAIT_NULL
					    ? PGCONN_WAIT_SYNC
					    : PGCONN_WAIT_RESULT;
		return true;
	case PGCONN_WAIT_RESULT:
		if (op->res == NULL)
			op->res = r;
		else
			PQclear(r); /* aborted behind a failed Prepare */
		op->stage = r != NULL ? PGCONN_WAIT_NULL : PGCONN_WAIT_SYNC;
		return true;
	case PGCONN_WAIT_SYNC:
		break;
	}
	if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		PQclear(r);
		pgconn_fault(c, "pipeline out of step");
		return false;
	}
	PQclear(r);
	c->head = op->next;
	if (c->head == NULL)
		c->tail = NULL;
	c->inflight--;
	pgconn_stall_arm(c);
	pgconn_check_broken(c, op);
	pgconn_enter(c);
	pgconn_complete(op);
	if (!pgconn_leave(c))
		return false;
	return pgconn_owner_event(c, KR_PGCONN_IDLE, NULL);
}

static void
pgconn_flush(struct kr_pgconn *c)
{
	int r = PQflush(c->pg);

	if (r < 0)
		pgconn_fault(c, "send failed");
	else if (r > 0)
		event_add(c->wr, NULL);
}

static void
pgconn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct kr_pgconn *c = arg;

	(void)fd;
	(void)what;
	if (c->state != PGCONN_READY)
		return;
	if (!PQconsumeInput(c->pg)) {
		pgconn_fault(c, "connection lost");
		return;
	}
	/* Reading may let libpq send more of a large pipeline. */
	pgconn_flush(c);
	while (c->state == PGCONN_READY && pgconn_step(c))
		;
}

static void
pgconn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct kr_pgconn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == PGCONN_READY)
		pgconn_flush(c);
}

static int
pgconn_ready_up(struct kr_pgconn *c)
{
	c->fd = PQsocket(c->pg);
	if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1)
		return -1;
	c->rd = event_new(c->base, c->fd, EV_READ | EV_PERSIST, pgconn_on_read,
			  c);
	c->wr = event_new(c->base, c->fd, EV_WRITE, pgconn_on_write, c);
	if (c->rd == NULL || c->wr == NULL || event_add(c->rd, NULL) < 0)
		return -1;
	event_del(c->connect_timer);
	c->state = PGCONN_READY;
	return 0;
}

/* Waits for the socket the way PQconnectPoll asked; the socket can
 * change between polls (multi-host conninfo tries host after host). */
static int
pgconn_poll_wait(struct kr_pgconn *c, short what)
{
	if (c->poll != NULL)
		event_free(c->poll);
	c->poll = event_new(c->base, PQsocket(c->pg), what, pgconn_on_poll, c);
	return c->poll != NULL ? event_add(c->poll, NULL) : -1;
}

static void
pgconn_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct kr_pgconn *c = arg;
	int rc = 0;

	(void)fd;
	(void)what;
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		rc = pgconn_poll_wait(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		rc = pgconn_poll_wait(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		if (pgconn_ready_up(c) < 0) {
			pgconn_fault(c, "connection set-up failed");
			return;
		}
		pgconn_owner_event(c, KR_PGCONN_READY, NULL);
		return;
	default:
		pgconn_fault(c, "connect failed");
		return;
	}
	if (rc < 0)
		pgconn_fault(c, "connect wait failed");
}

static void
pgconn_on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pgconn_fault(arg, "connect timed out");
}

/* The conninfo's own options (if any) plus statement_timeout: the
 * "options" keyword given to libpq replaces the conninfo's, so both go
 * in it. malloc'd. */
static char *
pgconn_options(const char *conninfo, unsigned statement_timeout_ms)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *given = "";
	size_t size;
	char *s;

	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val != NULL)
			given = o->val;
	size = strlen(given) + 64;
	s = kr_xmalloc(size);
	snprintf(s, size, "%s%s-c statement_timeout=%u", given,
		 given[0] != '\0' ? " " : "", statement_timeout_ms);
	PQconninfoFree(opts);
	return s;
}

/* How long past statement_timeout the server may take to answer the
 * head query before the connection is given up: the answer's way back
 * and a loaded server's slowness in acting on the timeout. */
static unsigned
pgconn_stall_ms(unsigned statement_timeout_ms)
{
	unsigned margin = statement_timeout_ms / 2;

	if (statement_timeout_ms == 0)
		return 0;
	return statement_timeout_ms + (margin < 1000 ? 1000 : margin);
}

struct kr_pgconn *
kr_pgconn_create(struct event_base *base, const char *conninfo,
		 const char *target_session_attrs,
		 struct kr_deadline connect_deadline,
		 unsigned statement_timeout_ms, kr_pgconn_event_fn *event_cb,
		 void *ctx, struct kr_err *err_r)
{
	char *options = statement_timeout_ms > 0
				? pgconn_options(conninfo, statement_timeout_ms)
				: NULL;
	/* Later keywords override what the expanded conninfo says, so the
	 * manager's policy (keepalives, session attrs, statement timeout)
	 * always applies. */
	const char *const keys[] = { "dbname",
				     "target_session_attrs",
				     "application_name",
				     "keepalives",
				     "keepalives_idle",
				     "keepalives_interval",
				     "keepalives_count",
				     options != NULL ? "options" : NULL,
				     NULL };
	const char *const vals[] = { conninfo,	target_session_attrs,
				     "kurierd", "1",
				     "30",	"10",
				     "3",	options,
				     NULL };
	struct kr_pgconn *c = kr_xcalloc(1, sizeof(*c));
	struct timeval tv;

	c->base = base;
	c->fd = -1;
	c->event_cb = event_cb;
	c->ctx = ctx;
	c->state = PGCONN_CONNECTING;
	c->stall_ms = pgconn_stall_ms(statement_timeout_ms);
	c->notify = event_new(base, -1, 0, pgconn_on_notify, c);
	c->connect_timer = evtimer_new(base, pgconn_on_connect_timeout, c);
	c->stall = evtimer_new(base, pgconn_on_stall, c);
	c->pg = PQconnectStartParams(keys, vals, 1);
	free(options);
	if (c->pg != NULL)
		PQsetNoticeProcessor(c->pg, pgconn_on_notice, NULL);
	if (c->notify == NULL || c->connect_timer == NULL || c->stall == NULL ||
	    c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD ||
	    pgconn_poll_wait(c, EV_WRITE) < 0) {
		kr_err_set(err_r, KR_ERR_TEMPORARY, "connect: %.*s",
			   c->pg != NULL
				   ? (int)strcspn(PQerrorMessage(c->pg), "\n")
				   : 6,
			   c->pg != NULL ? PQerrorMessage(c->pg) : "no mem");
		pgconn_free(c);
		return NULL;
	}
	kr_deadline_timeval(connect_deadline, kr_clock_mono_us(), &tv);
	event_add(c->connect_timer, &tv);
	return c;
}

/* The caller hears KR_ERR_TIMEOUT now; the statement runs on until it
 * ends or the server's statement_timeout ends it, and its result is
 * drained and dropped. Nothing is cancelled from here (see the top). */
static void
pgconn_on_op_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn_op *op = arg;
	struct kr_pgconn *c = op->conn;
	struct kr_err err;

	(void)fd;
	(void)what;
	kr_err_set(&err, KR_ERR_TIMEOUT, "query timed out");
	pgconn_enter(c);
	pgconn_op_answer(op, NULL, &err);
	pgconn_leave(c);
}

/* The slot of q's text: found, or taken (state PREPARING) when there
 * is room; -1 when the table is full. *fresh_r: the slot was taken
 * now, so the statement must be prepared. */
static int
pgconn_stmt_slot(struct kr_pgconn *c, const char *sql, bool *fresh_r)
{
	uint64_t h = kr_hash_fnv1a64(sql, strlen(sql));
	int free_slot = -1;

	*fresh_r = false;
	for (unsigned i = 0; i < c->n_stmts; i++) {
		const struct pgconn_stmt *st = &c->stmts[i];

		if (st->sql == NULL) {
			if (free_slot < 0)
				free_slot = (int)i;
		} else if (st->hash == h && strcmp(st->sql, sql) == 0) {
			return (int)i;
		}
	}
	if (free_slot < 0 && c->n_stmts < PGCONN_STMTS_MAX)
		free_slot = (int)c->n_stmts++;
	if (free_slot < 0)
		return -1;
	c->stmts[free_slot] = (struct pgconn_stmt){
		.sql = kr_xstrdup(sql),
		.hash = h,
		.state = PGCONN_STMT_PREPARING,
	};
	*fresh_r = true;
	return free_slot;
}

/* Queues q and its sync point: through its named statement (preparing
 * it first, in the same pipeline, the first time this connection sees
 * the text), or unnamed (table full; the statement broken; or its
 * Prepare still unanswered, so that nothing relies on a Prepare that
 * may yet fail). Sets op's first stage and statement. */
static int
pgconn_send_query(struct kr_pgconn *c, const struct kr_pgquery *q,
		  struct pgconn_op *op)
{
	bool fresh;
	int slot = pgconn_stmt_slot(c, q->sql, &fresh);
	char name[16];

	op->stmt = -1;
	op->stage = PGCONN_WAIT_RESULT;
	if (slot < 0 || (!fresh && c->stmts[slot].state != PGCONN_STMT_READY)) {
		c->stats.unnamed++;
		if (!PQsendQueryParams(c->pg, q->sql, q->n_params, NULL,
				       q->values, q->lengths, q->formats,
				       q->binary_result))
			return -1;
		return PQpipelineSync(c->pg) == 1 ? 0 : -1;
	}
	snprintf(name, sizeof(name), "k%d", slot);
	if (fresh) {
		c->stats.prepares++;
		op->stage = PGCONN_WAIT_PREPARED;
		if (!PQsendPrepare(c->pg, name, q->sql, q->n_params, NULL))
			return -1;
	}
	op->stmt = slot;
	c->stats.prepared_runs++;
	if (!PQsendQueryPrepared(c->pg, name, q->n_params, q->values,
				 q->lengths, q->formats, q->binary_result))
		return -1;
	return PQpipelineSync(c->pg) == 1 ? 0 : -1;
}

int
kr_pgconn_send(struct kr_pgconn *c, const struct kr_pgquery *q,
	       struct kr_deadline deadline, kr_pgquery_fn *cb, void *ctx,
	       struct kr_err *err_r)
{
	int64_t now = kr_clock_mono_us();
	struct pgconn_op *op;
	struct timeval tv;

	if (c->state != PGCONN_READY)
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "not connected");
	if (kr_deadline_expired(deadline, now))
		return kr_err_set(err_r, KR_ERR_TIMEOUT, "deadline passed");
	op = kr_xcalloc(1, sizeof(*op));
	if (pgconn_send_query(c, q, op) < 0) {
		free(op);
		pgconn_fault(c, "send refused");
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "%s", c->fault.msg);
	}
	op->conn = c;
	op->cb = cb;
	op->ctx = ctx;
	op->timer = evtimer_new(c->base, pgconn_on_op_timeout, op);
	if (op->timer == NULL)
		kr_panic("pgconn: evtimer_new failed");
	kr_deadline_timeval(deadline, now, &tv);
	event_add(op->timer, &tv);
	if (c->tail != NULL)
		c->tail->next = op;
	else
		c->head = op;
	c->tail = op;
	c->inflight++;
	if (c->head == op)
		pgconn_stall_arm(c);
	pgconn_flush(c);
	return 0;
}

bool
kr_pgconn_ready(const struct kr_pgconn *c)
{
	return c->state == PGCONN_READY;
}

unsigned
kr_pgconn_inflight(const struct kr_pgconn *c)
{
	return c->inflight;
}

void
kr_pgconn_get_stats(const struct kr_pgconn *c, struct kr_pgconn_stats *stats_r)
{
	*stats_r = c->stats;
}

static void
pgconn_event_free(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

static void
pgconn_free(struct kr_pgconn *c)
{
	while (c->head != NULL) {
		struct pgconn_op *op = c->head;

		c->head = op->next;
		pgconn_op_free(op);
	}
	pgconn_event_free(&c->rd);
	pgconn_event_free(&c->wr);
	pgconn_event_free(&c->poll);
	pgconn_event_free(&c->connect_timer);
	pgconn_event_free(&c->notify);
	pgconn_event_free(&c->stall);
	for (unsigned i = 0; i < c->n_stmts; i++)
		free(c->stmts[i].sql);
	if (c->pg != NULL)
		PQfinish(c->pg);
	free(c);
}

void
kr_pgconn_destroy(struct kr_pgconn **cp)
{
	struct kr_pgconn *c = *cp;
	struct kr_err err;

	*cp = NULL;
	if (c == NULL || c->doomed)
		return;
	/* Refuse sends from the callbacks answered below. */
	c->state = PGCONN_FAULTED;
	kr_err_set(&err, KR_ERR_TEMPORARY, "connection closed");
	pgconn_enter(c);
	pgconn_answer_all(c, &err);
	c->doomed = true;
	pgconn_leave(c);
}
