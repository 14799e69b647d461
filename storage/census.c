/* Users per shard, counted on a timer through the connection manager. */
#include "storage/census.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>

#include "lib/clock.h"
#include "lib/deadline.h"

#define CENSUS_FIRST_MS 1000
#define CENSUS_INTERVAL_MIN_MS 100
/* Longest a count may take: an exact count(*) of a large users table
 * is a scan, but one every census_interval (15 s) per shard. */
#define CENSUS_DEADLINE_MS 10000

struct census_shard {
	struct kr_census *census;
	int id;			    /* the shard's kurier_db_users gauge */
	struct kr_connmgr_req *req; /* the count in flight, or NULL */
};

struct kr_census {
	struct kr_connmgr *db;
	struct kr_metrics_slot *slot;
	struct event *timer;
	unsigned interval_ms;
	unsigned n_shards;
	struct census_shard *shards;
};

static void
census_arm(struct kr_census *c, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	event_add(c->timer, &tv);
}

/* A count is one row, one non-negative bigint in text format; anything
 * else keeps the old value. */
static void
census_on_count(void *ctx, const PGresult *res, const struct kr_err *err)
{
	struct census_shard *sh = ctx;
	const char *text;
	char *end;
	long long n;

	sh->req = NULL;
	if (err != NULL || PQntuples(res) != 1 || PQnfields(res) != 1 ||
	    PQgetisnull(res, 0, 0))
		return;
	text = PQgetvalue(res, 0, 0);
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || n < 0)
		return;
	kr_metrics_gauge_set(sh->census->slot, sh->id, n);
}

static void
census_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kr_census *c = arg;
	struct kr_pgquery q = { .sql = "SELECT count(*) FROM users" };
	struct kr_deadline deadline =
		kr_deadline_after(kr_clock_mono_us(), CENSUS_DEADLINE_MS);

	(void)fd;
	(void)what;
	for (unsigned s = 0; s < c->n_shards; s++) {
		struct census_shard *sh = &c->shards[s];
		struct kr_err err;

		/* A count still out (a slow shard) is not asked twice; a
		 * refusal (circuit open, drained without replicas) waits
		 * for the next round. */
		if (sh->req == NULL)
			(void)kr_connmgr_query(c->db, s, KR_CONNMGR_READ, NULL,
					       &q, deadline, census_on_count,
					       sh, &sh->req, &err);
	}
	census_arm(c, c->interval_ms);
}

struct kr_census *
kr_census_create(struct event_base *base, struct kr_connmgr *db,
		 struct kr_metrics_slot *slot,
		 const struct kr_connmgr_metrics *ids, unsigned interval_ms)
{
	struct kr_census *c = kr_xcalloc(1, sizeof(*c));

	c->db = db;
	c->slot = slot;
	c->interval_ms = interval_ms < CENSUS_INTERVAL_MIN_MS
				 ? CENSUS_INTERVAL_MIN_MS
				 : interval_ms;
	c->n_shards = kr_connmgr_shards(db);
	c->shards = kr_xcalloc(c->n_shards + 1, sizeof(*c->shards));
	for (unsigned s = 0; s < c->n_shards; s++) {
		c->shards[s].census = c;
		c->shards[s].id = kr_connmgr_users_metric(ids, s);
		kr_assert(c->shards[s].id >= 0);
	}
	c->timer = evtimer_new(base, census_on_timer, c);
	if (c->timer == NULL)
		kr_panic("census: evtimer_new failed");
	census_arm(c, c->interval_ms < CENSUS_FIRST_MS ? c->interval_ms
						       : CENSUS_FIRST_MS);
	return c;
}

void
kr_census_destroy(struct kr_census **census)
{
	struct kr_census *c = *census;

	if (c == NULL)
		return;
	*census = NULL;
	event_free(c->timer);
	for (unsigned s = 0; s < c->n_shards; s++) {
		kr_connmgr_cancel(&c->shards[s].req);
		kr_metrics_gauge_set(c->slot, c->shards[s].id, 0);
	}
	free(c->shards);
	free(c);
}
