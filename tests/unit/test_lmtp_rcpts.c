/* cmocka tests for server/lmtp/lmtp_rcpts: pipelined look-ups all start
 * at once and are taken in command order whatever order they answer
 * in; the limit at and one past max; look-ups of refused RCPTs dropped;
 * answers mapped (unknown, unavailable, over quota, the user's id
 * kept); clear and destroy cancel what is in flight; an answer the
 * ops know already is taken without a look-up, and only DELIVERED
 * answers are handed to them to keep. The look-up is a fake behind the
 * module's ops struct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "server/lmtp/lmtp_rcpts.h"
#include "storage/store.h"

#define FAKE_MAX 16

/* One look-up begun through the fake ops. */
struct fake_op {
	char account[64];
	kr_lmtp_rcpts_done_fn *cb;
	void *cb_ctx;
	bool cancelled, answered;
};

struct fake {
	struct fake_op ops[FAKE_MAX];
	unsigned n;
	/* What ready delivered, in order. */
	struct kr_lmtp_rcpts_answer ready[FAKE_MAX];
	unsigned n_ready;
};

static struct kr_store_op *
fake_begin(void *ops_ctx, const char *account, struct kr_arena *arena,
	   kr_lmtp_rcpts_done_fn *cb, void *cb_ctx)
{
	struct fake *f = ops_ctx;
	struct fake_op *op;

	assert_non_null(arena);
	assert_true(f->n < FAKE_MAX);
	op = &f->ops[f->n++];
	snprintf(op->account, sizeof(op->account), "%s", account);
	op->cb = cb;
	op->cb_ctx = cb_ctx;
	return (struct kr_store_op *)op;
}

static void
fake_cancel(void *ops_ctx, struct kr_store_op **op)
{
	struct fake_op *fop = (struct fake_op *)*op;

	(void)ops_ctx;
	assert_false(fop->answered);
	fop->cancelled = true;
	*op = NULL;
}

static const struct kr_lmtp_rcpts_ops fake_ops = {
	.begin = fake_begin,
	.cancel = fake_cancel,
};

static void
fake_ready(void *ctx, const struct kr_lmtp_rcpts_answer *ans)
{
	struct fake *f = ctx;

	assert_true(f->n_ready < FAKE_MAX);
	f->ready[f->n_ready++] = *ans;
}

/* Answers look-up i with res or err, as the store would. */
static void
fake_reply(struct fake *f, unsigned i,
	   const struct kr_store_user_get_result *res, const struct kr_err *err)
{
	struct fake_op *op = &f->ops[i];

	assert_false(op->cancelled);
	assert_false(op->answered);
	op->answered = true;
	op->cb(op->cb_ctx, res, err);
}

/* What the fake's known/found hold: one account. */
struct fake_known {
	struct fake f;
	char account[64];
	int64_t id;
	unsigned found; /* found calls */
};

static bool
fake_known(void *ops_ctx, const char *account, int64_t *user_id_r)
{
	struct fake_known *k = ops_ctx;

	if (k->id == 0 || strcmp(account, k->account) != 0)
		return false;
	*user_id_r = k->id;
	return true;
}

static void
fake_found(void *ops_ctx, const char *account, int64_t user_id)
{
	struct fake_known *k = ops_ctx;

	snprintf(k->account, sizeof(k->account), "%s", account);
	k->id = user_id;
	k->found++;
}

static const struct kr_lmtp_rcpts_ops fake_known_ops = {
	.begin = fake_begin,
	.cancel = fake_cancel,
	.known = fake_known,
	.found = fake_found,
};

/* Answers look-up i: a user with id (shard id % 20), or err's kind. */
static void
fake_answer(struct fake *f, unsigned i, int64_t id, enum kr_err_kind kind)
{
	struct kr_store_user_get_result res = {
		.user = { .address = f->ops[i].account,
			  .shard = (unsigned)(id % 20),
			  .id = id },
	};
	struct kr_err err = { .kind = kind };

	fake_reply(f, i, kind == KR_ERR_NONE ? &res : NULL,
		   kind == KR_ERR_NONE ? NULL : &err);
}

/* Five pipelined RCPTs: every look-up starts before any answers; they
 * answer out of order; each is taken in command order, at once when
 * its answer is there, through ready when it comes later. */
static void
test_lmtp_rcpts_parallel_in_order(void **state)
{
	static const char *const acc[] = { "a@x.test", "b@x.test", "c@x.test",
					   "d@x.test", "e@x.test" };
	struct kr_lmtp_rcpts_answer ans;
	struct fake f = { 0 };
	struct kr_lmtp_rcpts *r =
		kr_lmtp_rcpts_create(&fake_ops, &f, 100, fake_ready, &f);

	(void)state;
	assert_int_equal(kr_lmtp_rcpts_take(r, acc[0], &ans), 0);
	for (unsigned i = 1; i < 5; i++)
		assert_int_equal(kr_lmtp_rcpts_ahead(r, acc[i]), 0);
	assert_int_equal(f.n, 5);
	assert_int_equal(kr_lmtp_rcpts_held(r), 5);
	for (unsigned i = 0; i < 5; i++)
		assert_string_equal(f.ops[i].account, acc[i]);
	fake_answer(&f, 4, 45, KR_ERR_NONE);
	fake_answer(&f, 2, 23, KR_ERR_NONE);
	fake_answer(&f, 1, 0, KR_ERR_NOT_FOUND);
	assert_int_equal(f.n_ready, 0); /* a has not answered */
	fake_answer(&f, 0, 7, KR_ERR_NONE);
	assert_int_equal(f.n_ready, 1);
	assert_int_equal(f.ready[0].result, KR_DELIVER_DELIVERED);
	assert_int_equal(f.ready[0].user_id, 7);
	assert_false(f.ready[0].has_err);
	assert_int_equal(kr_lmtp_rcpts_take(r, acc[1], &ans), 1);
	assert_int_equal(ans.result, KR_DELIVER_UNKNOWN);
	assert_true(ans.has_err);
	assert_int_equal(ans.err.kind, KR_ERR_NOT_FOUND);
	assert_int_equal(kr_lmtp_rcpts_take(r, acc[2], &ans), 1);
	assert_int_equal(ans.user_id, 23);
	assert_int_equal(kr_lmtp_rcpts_take(r, acc[3], &ans), 0);
	fake_answer(&f, 3, 0, KR_ERR_TEMPORARY);
	assert_int_equal(f.n_ready, 2);
	assert_int_equal(f.ready[1].result, KR_DELIVER_UNAVAILABLE);
	assert_int_equal(kr_lmtp_rcpts_take(r, acc[4], &ans), 1);
	assert_int_equal(ans.user_id, 45);
	assert_int_equal(kr_lmtp_rcpts_held(r), 0);
	assert_int_equal(f.n, 5); /* nobody was looked up twice */
	kr_lmtp_rcpts_destroy(&r);
	assert_null(r);
}

/* max look-ups held: at the limit passes, one over fails; one taken
 * makes room again. */
static void
test_lmtp_rcpts_limit(void **state)
{
	struct kr_lmtp_rcpts_answer ans;
	struct fake f = { 0 };
	struct kr_lmtp_rcpts *r =
		kr_lmtp_rcpts_create(&fake_ops, &f, 3, fake_ready, &f);

	(void)state;
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "a@x.test"), 0);
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "b@x.test"), 0);
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "c@x.test"), 0);
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "d@x.test"), -1);
	assert_int_equal(f.n, 3);
	fake_answer(&f, 0, 1, KR_ERR_NONE);
	assert_int_equal(kr_lmtp_rcpts_take(r, "a@x.test", &ans), 1);
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "d@x.test"), 0);
	assert_int_equal(kr_lmtp_rcpts_held(r), 3);
	kr_lmtp_rcpts_destroy(&r);
	for (unsigned i = 1; i < 4; i++)
		assert_true(f.ops[i].cancelled);
	assert_int_equal(f.n_ready, 0);
}

/* Look-ups ahead of RCPTs the machine refused itself (over rcpt_max,
 * a RSET it never saw coming) are dropped when a later one is taken;
 * an account nobody looked ahead for is looked up then. */
static void
test_lmtp_rcpts_drops_refused(void **state)
{
	struct kr_lmtp_rcpts_answer ans;
	struct fake f = { 0 };
	struct kr_lmtp_rcpts *r =
		kr_lmtp_rcpts_create(&fake_ops, &f, 10, fake_ready, &f);

	(void)state;
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "a@x.test"), 0);
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "b@x.test"), 0);
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "c@x.test"), 0);
	fake_answer(&f, 1, 2, KR_ERR_NONE);
	assert_int_equal(kr_lmtp_rcpts_take(r, "b@x.test", &ans), 1);
	assert_true(f.ops[0].cancelled);
	assert_int_equal(kr_lmtp_rcpts_held(r), 1);
	assert_int_equal(kr_lmtp_rcpts_take(r, "z@x.test", &ans), 0);
	assert_true(f.ops[2].cancelled);
	assert_int_equal(f.n, 4);
	assert_string_equal(f.ops[3].account, "z@x.test");
	fake_answer(&f, 3, 9, KR_ERR_NONE);
	assert_int_equal(f.n_ready, 1);
	assert_int_equal(f.ready[0].user_id, 9);
	kr_lmtp_rcpts_destroy(&r);
}

/* Over quota is decided from the look-up's counters. */
static void
test_lmtp_rcpts_over_quota(void **state)
{
	struct kr_lmtp_rcpts_answer ans;
	struct fake f = { 0 };
	struct kr_lmtp_rcpts *r =
		kr_lmtp_rcpts_create(&fake_ops, &f, 10, fake_ready, &f);
	struct kr_store_user_get_result res = {
		.user = { .address = "q@x.test", .shard = 4, .id = 5 },
		.quota_bytes = 100,
		.used_bytes = 100,
	};

	(void)state;
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "q@x.test"), 0);
	fake_reply(&f, 0, &res, NULL);
	assert_int_equal(kr_lmtp_rcpts_take(r, "q@x.test", &ans), 1);
	assert_int_equal(ans.result, KR_DELIVER_OVER_QUOTA);
	assert_int_equal(ans.user_id, 5);
	kr_lmtp_rcpts_destroy(&r);
}

/* A look-up's DELIVERED answer is handed to found; the next RCPT for
 * that account is answered at once, no look-up begun; refusals (over
 * quota, unknown) are never handed over. (The fake's struct fake is
 * its first member: fake_begin's ops_ctx.) */
static void
test_lmtp_rcpts_known(void **state)
{
	struct kr_lmtp_rcpts_answer ans;
	struct fake_known k = { 0 };
	struct kr_lmtp_rcpts *r =
		kr_lmtp_rcpts_create(&fake_known_ops, &k, 10, fake_ready, &k.f);
	struct kr_store_user_get_result full = {
		.user = { .address = "q@x.test", .id = 5 },
		.quota_bytes = 100,
		.used_bytes = 100,
	};

	(void)state;
	assert_int_equal(kr_lmtp_rcpts_take(r, "a@x.test", &ans), 0);
	fake_answer(&k.f, 0, 41, KR_ERR_NONE);
	assert_int_equal(k.found, 1);
	assert_string_equal(k.account, "a@x.test");
	assert_int_equal(kr_lmtp_rcpts_take(r, "a@x.test", &ans), 1);
	assert_int_equal(k.f.n, 1); /* no second look-up */
	assert_int_equal(ans.result, KR_DELIVER_DELIVERED);
	assert_int_equal(ans.user_id, 41);
	assert_false(ans.has_err);
	/* Ahead of the machine too, and in command order with others. */
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "b@x.test"), 0);
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "a@x.test"), 0);
	assert_int_equal(k.f.n, 2);
	assert_int_equal(kr_lmtp_rcpts_take(r, "b@x.test", &ans), 0);
	fake_answer(&k.f, 1, 0, KR_ERR_NOT_FOUND);
	assert_int_equal(k.f.ready[1].result, KR_DELIVER_UNKNOWN);
	assert_int_equal(kr_lmtp_rcpts_take(r, "a@x.test", &ans), 1);
	assert_int_equal(ans.user_id, 41);
	assert_int_equal(k.found, 1);
	assert_int_equal(kr_lmtp_rcpts_take(r, "q@x.test", &ans), 0);
	fake_reply(&k.f, 2, &full, NULL);
	assert_int_equal(k.f.ready[2].result, KR_DELIVER_OVER_QUOTA);
	assert_int_equal(k.found, 1);
	kr_lmtp_rcpts_destroy(&r);
}

/* The session ends (closed, timed out) with look-ups in flight and a
 * take waiting: clear and destroy cancel them all, no ready comes
 * (ASan: nothing leaks). */
static void
test_lmtp_rcpts_cancel_in_flight(void **state)
{
	struct kr_lmtp_rcpts_answer ans;
	struct fake f = { 0 };
	struct kr_lmtp_rcpts *r =
		kr_lmtp_rcpts_create(&fake_ops, &f, 10, fake_ready, &f);

	(void)state;
	assert_int_equal(kr_lmtp_rcpts_take(r, "a@x.test", &ans), 0);
	assert_int_equal(kr_lmtp_rcpts_ahead(r, "b@x.test"), 0);
	fake_answer(&f, 1, 1, KR_ERR_NONE);
	kr_lmtp_rcpts_clear(r);
	assert_true(f.ops[0].cancelled);
	assert_int_equal(kr_lmtp_rcpts_held(r), 0);
	/* Usable again after a clear. */
	for (unsigned i = 0; i < 9; i++) {
		char acc[32];

		snprintf(acc, sizeof(acc), "u%u@x.test", i);
		assert_int_equal(kr_lmtp_rcpts_ahead(r, acc), 0);
	}
	assert_int_equal(kr_lmtp_rcpts_take(r, "u0@x.test", &ans), 0);
	kr_lmtp_rcpts_destroy(&r);
	for (unsigned i = 2; i < f.n; i++)
		assert_true(f.ops[i].cancelled);
	assert_int_equal(f.n_ready, 0);
	kr_lmtp_rcpts_destroy(&r); /* NULL is fine */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lmtp_rcpts_parallel_in_order),
		cmocka_unit_test(test_lmtp_rcpts_limit),
		cmocka_unit_test(test_lmtp_rcpts_drops_refused),
		cmocka_unit_test(test_lmtp_rcpts_over_quota),
		cmocka_unit_test(test_lmtp_rcpts_known),
		cmocka_unit_test(test_lmtp_rcpts_cancel_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
