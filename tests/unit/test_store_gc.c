/* Group commit's bounded wait (storage.group_commit_wait, store_batch.c)
 * against a real cluster: a delivery on a quiet shard goes at once, one
 * on a busy shard is held for others to join, a held one cancelled or
 * destroyed with the store is freed, and sessions that deliver one
 * message after another to one shard share commits. Skipped unless
 * KR_TEST_PG_CONF names a kurier.conf written by ops/pgcluster
 * (tests/integration/test_store.sh sets it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/metrics.h"
#include "storage/store.h"

#define WAIT_MS 15000
#define OP_MS 10000
#define GC_WAIT_US 100000 /* the longest allowed: a hold is unmissable */
#define GC_MAX 8

#include "store_env.h"
#include "store_ops.h"

static int
env_setup(void **state)
{
	char head[256];

	snprintf(head, sizeof(head),
		 "[storage]\npool_high = 8\nquery_timeout = 10s\n"
		 "group_commit_max = %d\ngroup_commit_inflight = 2\n"
		 "group_commit_wait = %d\n",
		 GC_MAX, GC_WAIT_US);
	return env_setup_with(state, head, -1, "w");
}

/* ---- helpers -------------------------------------------------------- */

/* A store of its own on e's config with wait_us, counting into a
 * one-slot registry. */
struct gc_store {
	struct kr_config *cfg;
	struct kr_metrics *m;
	struct kr_store_metrics *ids;
	struct kr_store *store;
};

static void
gc_store_open(struct env *e, struct gc_store *g, unsigned wait_us)
{
	struct kr_err err;

	assert_int_equal(kr_config_load(e->path, &g->cfg, &err), 0);
	g->cfg->storage.group_commit_wait_us = wait_us;
	g->m = kr_metrics_create();
	g->ids = kr_store_metrics_define(g->m, &err);
	assert_non_null(g->ids);
	assert_int_equal(kr_metrics_map(g->m, 1, &err), 0);
	g->store = kr_store_create(e->base, e->mgr, e->map, e->cpu, NULL,
				   g->cfg, e->log);
	kr_store_set_metrics(g->store, kr_metrics_slot(g->m, 0), g->ids);
}

static void
gc_store_close(struct gc_store *g)
{
	kr_store_destroy(&g->store);
	free(g->ids);
	kr_metrics_destroy(&g->m);
	kr_config_destroy(&g->cfg);
}

static struct kr_metric_value
gc_read(struct gc_store *g, int id)
{
	struct kr_metric_value v;

	kr_metrics_read_slot(kr_metrics_slot(g->m, 0), id, &v);
	return v;
}

static struct kr_store_op *
gc_deliver(struct env *e, struct kr_store *store, const struct kr_store_user *u,
	   struct rec *r, unsigned i)
{
	struct kr_store_rcpt rc = { u->address, NULL, NULL, 0, 0 };
	char body[96];
	struct kr_store_delivery d = {
		.body = (const unsigned char *)body,
		.rcpts = &rc,
		.n_rcpts = 1,
	};
	struct kr_store_op *op;

	memset(r, 0, sizeof(*r));
	r->e = e;
	snprintf(body, sizeof(body), "Subject: %u\r\n\r\n%u %s\r\n", i, i,
		 e->tag);
	d.body_len = strlen(body);
	e->in_begin = true;
	op = kr_store_deliver_begin(store, &d, e->arena, dl(), rec_deliver, r);
	e->in_begin = false;
	assert_non_null(op);
	return op;
}

/* Runs the loop until the store has `queued` held and `batches` sent,
 * or a second passed. */
static bool
gc_until(struct env *e, struct kr_store *store, unsigned queued,
	 unsigned long long batches)
{
	int64_t end = kr_clock_mono_ms() + 1000;
	struct kr_store_stats st;

	for (;;) {
		kr_store_get_stats(store, &st);
		if (st.queued == queued && st.batches == batches)
			return true;
		if (kr_clock_mono_ms() > end)
			return false;
		event_base_loop(e->base, EVLOOP_ONCE);
	}
}

/* ---- tests ---------------------------------------------------------- */

/* Nothing else on the shard: sent at once, no wait in the queue; the
 * histograms count one call of one message. */
static void
test_gc_lone_delivery_goes_at_once(void **state)
{
	struct env *e = *state;
	struct gc_store g;
	struct kr_metric_value msgs, wait;
	struct kr_store_user u;
	struct rec r;

	NEED_CLUSTER(state);
	u = user_new(e, "lone", 0);
	gc_store_open(e, &g, GC_WAIT_US);
	gc_deliver(e, g.store, &u, &r, 0);
	assert_true(wait_recs(e, &r, 1));
	assert_stored(&RES(kr_store_deliver_result, r)->rcpts[0]);
	msgs = gc_read(&g, g.ids->batch_messages);
	wait = gc_read(&g, g.ids->queue_wait);
	assert_int_equal(msgs.value, 1);
	assert_int_equal(msgs.sum, 1);
	assert_int_equal(wait.value, 1);
	/* Sent in the turn it was queued: far below the 100 ms hold. */
	assert_true(wait.sum < 10000);
	gc_store_close(&g);
}

/* A second delivery while the first is in flight is held (one call
 * sent, one message queued); cancelled while held it leaves the queue,
 * and the timer later finds nothing to send. */
static void
test_gc_held_then_cancelled(void **state)
{
	struct env *e = *state;
	struct gc_store g;
	struct kr_store_stats st;
	struct kr_store_user u;
	struct kr_store_op *op2;
	struct rec r[2];

	NEED_CLUSTER(state);
	u = user_new(e, "held", 0);
	gc_store_open(e, &g, GC_WAIT_US);
	gc_deliver(e, g.store, &u, &r[0], 1);
	op2 = gc_deliver(e, g.store, &u, &r[1], 2);
	assert_true(gc_until(e, g.store, 1, 1));
	kr_store_cancel(&op2);
	kr_store_get_stats(g.store, &st);
	assert_int_equal(st.queued, 0);
	assert_true(wait_recs(e, r, 1));
	assert_stored(&RES(kr_store_deliver_result, r[0])->rcpts[0]);
	spin(e, GC_WAIT_US / 1000 + 50); /* the timer fires on nothing */
	kr_store_get_stats(g.store, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.queued + st.inflight, 0);
	assert_int_equal(r[1].calls, 0);
	assert_int_equal(mailbox_named(e, &u, "INBOX").total, 1);
	gc_store_close(&g);
}

/* Destroyed with a delivery held on the timer: both answered inside
 * the call, the timer freed (ASan/LSan would see it otherwise). */
static void
test_gc_destroy_while_held(void **state)
{
	struct env *e = *state;
	struct gc_store g;
	struct kr_store_user u;
	struct rec r[2];

	NEED_CLUSTER(state);
	u = user_new(e, "gone", 0);
	gc_store_open(e, &g, GC_WAIT_US);
	gc_deliver(e, g.store, &u, &r[0], 1);
	gc_deliver(e, g.store, &u, &r[1], 2);
	assert_true(gc_until(e, g.store, 1, 1));
	kr_store_destroy(&g.store);
	assert_int_equal(r[0].calls, 1);
	assert_int_equal(r[1].calls, 1);
	assert_int_equal(rcpt0_kind(&r[1]), KR_ERR_TEMPORARY);
	spin(e, GC_WAIT_US / 1000 + 50); /* no timer, no late answer */
	assert_int_equal(r[0].calls + r[1].calls, 2);
	gc_store_close(&g);
}

/* Sessions that each deliver their next message when the last is
 * answered (as LMTP clients do), all to one shard. */
#define GC_SESSIONS 6
#define GC_ROUNDS 6

struct gc_session {
	struct env *e;
	struct kr_store *store;
	const struct kr_store_user *u;
	struct rec r;
	unsigned done, failed;
};

static void gc_session_next(struct gc_session *s);

static void
gc_session_on(void *ctx, const struct kr_store_deliver_result *res,
	      const struct kr_err *err)
{
	struct gc_session *s = ctx;

	s->done++;
	if (err != NULL || res->rcpts[0].err.kind != KR_ERR_NONE)
		s->failed++;
	if (s->done < GC_ROUNDS)
		gc_session_next(s);
}

static void
gc_session_next(struct gc_session *s)
{
	struct kr_store_rcpt rc = { s->u->address, NULL, NULL, 0, 0 };
	char body[96];
	struct kr_store_delivery d = {
		.body = (const unsigned char *)body,
		.rcpts = &rc,
		.n_rcpts = 1,
	};

	snprintf(body, sizeof(body), "Subject: s\r\n\r\n%u %s\r\n", s->done,
		 s->e->tag);
	d.body_len = strlen(body);
	assert_non_null(kr_store_deliver_begin(s->store, &d, s->e->arena, dl(),
					       gc_session_on, s));
}

/* Messages per call over GC_SESSIONS * GC_ROUNDS deliveries. */
static double
gc_sessions_run(struct env *e, unsigned wait_us, const struct kr_store_user *u)
{
	struct gc_session s[GC_SESSIONS];
	struct kr_store_stats st;
	struct gc_store g;
	int64_t end = kr_clock_mono_ms() + WAIT_MS;
	unsigned done = 0;

	gc_store_open(e, &g, wait_us);
	memset(s, 0, sizeof(s));
	for (unsigned i = 0; i < GC_SESSIONS; i++) {
		s[i] = (struct gc_session){ .e = e,
					    .store = g.store,
					    .u = &u[i] };
		gc_session_next(&s[i]);
	}
	while (done < GC_SESSIONS * GC_ROUNDS && kr_clock_mono_ms() < end) {
		event_base_loop(e->base, EVLOOP_ONCE);
		done = 0;
		for (unsigned i = 0; i < GC_SESSIONS; i++)
			done += s[i].done;
	}
	assert_int_equal(done, GC_SESSIONS * GC_ROUNDS);
	for (unsigned i = 0; i < GC_SESSIONS; i++)
		assert_int_equal(s[i].failed, 0);
	kr_store_get_stats(g.store, &st);
	assert_int_equal(st.batch_messages, GC_SESSIONS * GC_ROUNDS);
	assert_int_equal(gc_read(&g, g.ids->batch_messages).value,
			 (int64_t)st.batches);
	gc_store_close(&g);
	return (double)st.batch_messages / (double)st.batches;
}

/* With the wait the sessions' deliveries share commits: more than two
 * messages per call on average (a call holds at most GC_MAX); without
 * it, what is printed for comparison. */
static void
test_gc_sessions_share_commits(void **state)
{
	struct env *e = *state;
	struct kr_store_user u[GC_SESSIONS];
	double on, off;
	int pairs = 0;

	NEED_CLUSTER(state);
	users_on_one_shard(e, u, GC_SESSIONS);
	/* A timing figure: on a busy machine (an ASan build, other tests
	 * beside it) a pair may come out low; up to three are taken. Without
	 * the wait no pair has reached 2.5. */
	do {
		off = gc_sessions_run(e, 0, u);
		on = gc_sessions_run(e, 20000, u);
		pairs++;
		print_message("messages per call: wait 0: %.2f, "
			      "wait 20 ms: %.2f\n",
			      off, on);
	} while (!(on > off && on > 2.5) && pairs < 3);
	assert_true(on > off && on > 2.5);
	for (unsigned i = 0; i < GC_SESSIONS; i++)
		assert_int_equal(mailbox_named(e, &u[i], "INBOX").total,
				 2 * GC_ROUNDS * pairs);
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_gc_lone_delivery_goes_at_once),
		T(test_gc_held_then_cancelled),
		T(test_gc_destroy_while_held),
		T(test_gc_sessions_share_commits),
	};

	return cmocka_run_group_tests_name("store_gc", tests, env_setup,
					   env_teardown);
}
