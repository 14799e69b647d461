/* Bucket overrides polled from shard 0 (storage/shardpoll.h). */
#include "storage/shardpoll.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>

#include "lib/clock.h"
#include "lib/deadline.h"
#include "lib/limits.h"

/* Shorter than the interval: a poll still out is not sent twice. */
#define SHARDPOLL_DEADLINE_MS 900
#define SHARDPOLL_PENDING_MS 100

struct kr_shardpoll {
	struct kr_connmgr *db;
	struct kr_shardmap *map;
	struct event *timer;
	struct kr_connmgr_req *req; /* the poll in flight, or NULL */
	unsigned from;		    /* the shard asked: 0 unless it failed */
	unsigned n_shards;
	struct kr_shardmap_override ov[KR_SHARD_BUCKETS];
};

static int
shardpoll_uint(const PGresult *res, int row, int col, unsigned max,
	       unsigned *v_r)
{
	const char *text;
	char *end;
	unsigned long v;

	if (PQgetisnull(res, row, col))
		return -1;
	text = PQgetvalue(res, row, col);
	if (*text < '0' || *text > '9') /* strtoul takes spaces and signs */
		return -1;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v > max)
		return -1;
	*v_r = (unsigned)v;
	return 0;
}

int
kr_shardpoll_parse(const PGresult *res, struct kr_shardmap_override *ov,
		   size_t *n_r)
{
	int rows = PQntuples(res);

	if (PQnfields(res) != 2 || rows > KR_SHARD_BUCKETS)
		return -1;
	for (int r = 0; r < rows; r++) {
		if (shardpoll_uint(res, r, 0, KR_SHARD_BUCKETS - 1,
				   &ov[r].bucket) < 0 ||
		    shardpoll_uint(res, r, 1, UINT16_MAX, &ov[r].shard) < 0)
			return -1;
	}
	*n_r = (size_t)rows;
	return 0;
}

static void
shardpoll_on_result(void *ctx, const PGresult *res, const struct kr_err *err)
{
	struct kr_shardpoll *p = ctx;
	size_t n;

	p->req = NULL;
	if (err != NULL || kr_shardpoll_parse(res, p->ov, &n) < 0) {
		/* Every shard holds a copy (the move publishes the switch to
		 * all before its clean-up): ask the next one next time. */
		p->from = (p->from + 1) % p->n_shards;
		return;
	}
	(void)kr_shardmap_set_overrides(p->map, p->ov, n);
	p->from = 0;
}

static void
shardpoll_arm(struct kr_shardpoll *p, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	event_add(p->timer, &tv);
}

static void
shardpoll_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kr_shardpoll *p = arg;
	struct kr_pgquery q = { .sql = KR_SHARDPOLL_SQL };
	struct kr_err err;

	(void)fd;
	(void)what;
	/* The primary: a lagging replica would show the switch late,
	 * past the settle time the move waits before its clean-up. A poll
	 * still out is not sent twice; a refusal (circuit open, draining)
	 * asks the next shard next time. */
	if (p->req == NULL &&
	    kr_connmgr_query(p->db, p->from, KR_CONNMGR_WRITE, NULL, &q,
			     kr_deadline_after(kr_clock_mono_us(),
					       SHARDPOLL_DEADLINE_MS),
			     shardpoll_on_result, p, &p->req, &err) < 0)
		p->from = (p->from + 1) % p->n_shards;
	/* A pending map refuses every look-up: retry sooner. */
	shardpoll_arm(p, kr_shardmap_is_pending(p->map) ? SHARDPOLL_PENDING_MS
							: KR_SHARDMAP_POLL_MS);
}

struct kr_shardpoll *
kr_shardpoll_create(struct event_base *base, struct kr_connmgr *db,
		    struct kr_shardmap *map)
{
	struct kr_shardpoll *p = kr_xcalloc(1, sizeof(*p));

	p->db = db;
	p->map = map;
	p->n_shards = kr_connmgr_shards(db);
	kr_assert(p->n_shards > 0);
	p->timer = evtimer_new(base, shardpoll_on_timer, p);
	if (p->timer == NULL)
		kr_panic("shardpoll: evtimer_new failed");
	shardpoll_arm(p, 0);
	return p;
}

void
kr_shardpoll_destroy(struct kr_shardpoll **poll)
{
	struct kr_shardpoll *p = *poll;

	if (p == NULL)
		return;
	*poll = NULL;
	event_free(p->timer);
	kr_connmgr_cancel(&p->req);
	free(p);
}
