/* Full-text indexing of the delivery queue, per shard, on timers. */
#include "storage/fts_indexer.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/clock.h"
#include "lib/deadline.h"

/* The SQL's own cap on a batch (kr_fts_index). */
#define FTS_BATCH_MAX 10000
/* Longest one batch may take on our side; the server's
 * statement_timeout ([storage] query_timeout) usually ends it first,
 * and the batch is halved. */
#define FTS_DEADLINE_MS 60000

struct fts_shard {
	struct kr_fts_indexer *ix;
	unsigned shard;
	int backlog_id; /* kurier_fts_backlog{shard} */
	struct event *timer;
	struct kr_connmgr_req *req; /* the run in flight, or NULL */
	unsigned batch;		    /* rows asked for next time */
	unsigned sent;		    /* rows asked for by the run in flight */
	int64_t swept_ms;	    /* last run with min 1 */
};

struct kr_fts_indexer {
	struct kr_connmgr *db;
	struct kr_metrics_slot *slot;
	int indexed_id; /* kurier_fts_indexed_total */
	struct kr_fts_indexer_settings set;
	unsigned inflight;
	uint64_t indexed;
	unsigned n_shards;
	struct fts_shard *shards;
};

static void
fts_arm(struct fts_shard *sh, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	event_add(sh->timer, &tv);
}

/* A non-negative integer in text format, else -1. */
static long long
fts_int(const PGresult *res, int col)
{
	const char *text;
	char *end;
	long long n;

	if (PQgetisnull(res, 0, col))
		return -1;
	text = PQgetvalue(res, 0, col);
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || n < 0)
		return -1;
	return n;
}

/* One row (indexed, backlog). A timeout halves the batch (the rows may
 * be large); anything else failing waits for the idle interval. */
static void
fts_on_run(void *ctx, const PGresult *res, const struct kr_err *err)
{
	struct fts_shard *sh = ctx;
	struct kr_fts_indexer *ix = sh->ix;
	long long indexed, backlog;

	sh->req = NULL;
	ix->inflight--;
	if (err != NULL || PQntuples(res) != 1 || PQnfields(res) != 2) {
		if (err != NULL && err->kind == KR_ERR_TIMEOUT && sh->batch > 1)
			sh->batch /= 2;
		fts_arm(sh, ix->set.idle_ms);
		return;
	}
	indexed = fts_int(res, 0);
	backlog = fts_int(res, 1);
	if (indexed > 0) {
		kr_metrics_add(ix->slot, ix->indexed_id, (uint64_t)indexed);
		ix->indexed += (uint64_t)indexed;
	}
	if (backlog >= 0)
		kr_metrics_gauge_set(ix->slot, sh->backlog_id, backlog);
	if (sh->batch < ix->set.batch)
		sh->batch = sh->batch * 2 < ix->set.batch ? sh->batch * 2
							  : ix->set.batch;
	if (indexed >= (long long)sh->sent)
		fts_arm(sh, 0); /* a full batch: more is waiting */
	else
		fts_arm(sh, indexed > 0 ? ix->set.busy_ms : ix->set.idle_ms);
}

static void
fts_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fts_shard *sh = arg;
	struct kr_fts_indexer *ix = sh->ix;
	char lim[16], min[16];
	const char *values[2] = { lim, min };
	struct kr_pgquery q = {
		.sql = "SELECT indexed, backlog FROM kr_fts_index($1, $2)",
		.n_params = 2,
		.values = values,
	};
	struct kr_deadline deadline =
		kr_deadline_after(kr_clock_mono_us(), FTS_DEADLINE_MS);
	struct kr_err err;

	(void)fd;
	(void)what;
	if (sh->req != NULL)
		return;
	/* Others are indexing: try again a little later. */
	if (ix->inflight >= ix->set.inflight) {
		fts_arm(sh, ix->set.busy_ms);
		return;
	}
	snprintf(lim, sizeof(lim), "%u", sh->batch);
	sh->sent = sh->batch;
	if (kr_clock_mono_ms() - sh->swept_ms >= ix->set.delay_ms) {
		sh->swept_ms = kr_clock_mono_ms();
		snprintf(min, sizeof(min), "1");
	} else {
		snprintf(min, sizeof(min), "%u", sh->batch);
	}
	/* A refusal (circuit open, shard drained) waits its turn. */
	if (kr_connmgr_query(ix->db, sh->shard, KR_CONNMGR_WRITE, NULL, &q,
			     deadline, fts_on_run, sh, &sh->req, &err) < 0) {
		fts_arm(sh, ix->set.idle_ms);
		return;
	}
	ix->inflight++;
}

static unsigned
fts_default(unsigned v, unsigned def)
{
	return v == 0 ? def : v;
}

struct kr_fts_indexer *
kr_fts_indexer_create(struct event_base *base, struct kr_connmgr *db,
		      struct kr_metrics_slot *slot,
		      const struct kr_connmgr_metrics *ids,
		      const struct kr_fts_indexer_settings *s)
{
	struct kr_fts_indexer *ix = kr_xcalloc(1, sizeof(*ix));

	if (s != NULL)
		ix->set = *s;
	ix->set.batch = fts_default(ix->set.batch, KR_FTS_BATCH);
	if (ix->set.batch > FTS_BATCH_MAX)
		ix->set.batch = FTS_BATCH_MAX;
	ix->set.busy_ms = fts_default(ix->set.busy_ms, KR_FTS_BUSY_MS);
	ix->set.idle_ms = fts_default(ix->set.idle_ms, KR_FTS_IDLE_MS);
	ix->set.delay_ms = fts_default(ix->set.delay_ms, KR_FTS_DELAY_MS);
	ix->set.inflight = fts_default(ix->set.inflight, KR_FTS_INFLIGHT);
	ix->db = db;
	ix->slot = slot;
	ix->indexed_id = kr_connmgr_fts_indexed_metric(ids);
	kr_assert(ix->indexed_id >= 0);
	ix->n_shards = kr_connmgr_shards(db);
	ix->shards = kr_xcalloc(ix->n_shards + 1, sizeof(*ix->shards));
	for (unsigned i = 0; i < ix->n_shards; i++) {
		struct fts_shard *sh = &ix->shards[i];

		sh->ix = ix;
		sh->shard = i;
		sh->batch = ix->set.batch;
		sh->backlog_id = kr_connmgr_fts_backlog_metric(ids, i);
		kr_assert(sh->backlog_id >= 0);
		sh->timer = evtimer_new(base, fts_on_timer, sh);
		if (sh->timer == NULL)
			kr_panic("fts_indexer: evtimer_new failed");
		fts_arm(sh, 0);
	}
	return ix;
}

void
kr_fts_indexer_destroy(struct kr_fts_indexer **indexer)
{
	struct kr_fts_indexer *ix = *indexer;

	if (ix == NULL)
		return;
	*indexer = NULL;
	for (unsigned i = 0; i < ix->n_shards; i++) {
		struct fts_shard *sh = &ix->shards[i];

		event_free(sh->timer);
		kr_connmgr_cancel(&sh->req);
		kr_metrics_gauge_set(ix->slot, sh->backlog_id, 0);
	}
	free(ix->shards);
	free(ix);
}

uint64_t
kr_fts_indexer_indexed(const struct kr_fts_indexer *indexer)
{
	return indexer->indexed;
}
