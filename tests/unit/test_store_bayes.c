/* The Bayes statistic in the store (storage/store_bayes.h,
 * 007_bayes.sql) against a real cluster: look-ups, learning and
 * taking back, the bound per user, aging, what a move teaches, and
 * that none of it bumps the user's cache generation. Skipped unless
 * KR_TEST_PG_CONF names a kurier.conf written by ops/pgcluster
 * (tests/integration/test_store_bayes.sh sets it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#define WAIT_MS 15000
#define OP_MS 10000

#include "store_env.h"
#include "store_ops.h"

#include "antispam/bayes_store.h"
#include "storage/store_bayes.h"

REC_FN(rec_counts, struct kr_store_bayes_counts)

/* The counts copied out of the callback (they are borrowed). */
struct counts {
	uint32_t n_spam, n_ham;
	size_t n;
	uint32_t spam[KR_STORE_BAYES_TOKENS_MAX],
		ham[KR_STORE_BAYES_TOKENS_MAX];
};

struct get_rec {
	struct rec r;
	struct counts *c;
};

static void
get_cb(void *ctx, const struct kr_store_bayes_counts *res,
       const struct kr_err *err)
{
	struct get_rec *g = ctx;

	if (res != NULL) {
		g->c->n_spam = res->n_spam;
		g->c->n_ham = res->n_ham;
		g->c->n = res->n;
		memcpy(g->c->spam, res->spam, res->n * sizeof(res->spam[0]));
		memcpy(g->c->ham, res->ham, res->n * sizeof(res->ham[0]));
	}
	rec_counts(&g->r, res, err);
}

static struct rec
r_bget(struct env *e, const char *addr, const uint64_t *h, size_t n,
       struct counts *c)
{
	struct get_rec g = { .c = c };

	RUN(e, g.r,
	    kr_store_bayes_get_begin(e->store, addr, h, n, dl(), get_cb, &g));
	return g.r;
}

struct learn_rec {
	struct rec r;
	enum kr_store_bayes_learned learned;
};

static void
learn_cb(void *ctx, enum kr_store_bayes_learned learned,
	 const struct kr_err *err)
{
	struct learn_rec *l = ctx;

	l->learned = learned;
	rec_done(&l->r, err);
}

static struct learn_rec
r_learn(struct env *e, const struct kr_store_user *u,
	const struct kr_store_bayes_learn *l)
{
	struct learn_rec lr;

	memset(&lr, 0, sizeof(lr));
	RUN(e, lr.r,
	    kr_store_bayes_learn_begin(e->store, u, l, dl(), learn_cb, &lr));
	return lr;
}

static struct kr_store_user
buser_new(struct env *e, char *addr, size_t size)
{
	addr_make(e, "bayes", addr, size);
	return RES(kr_store_user_create_result, r_user_create(e, addr, 0))
		->user;
}

/* Hashes base, base+1, ... with the top bit set on odd ones (negative
 * as bigint: the two's complement must survive the round trip). */
static void
hashes_make(uint64_t *h, size_t n, uint64_t base)
{
	for (size_t i = 0; i < n; i++)
		h[i] = (base + i) | ((i & 1) ? UINT64_C(1) << 63 : 0);
}

static int64_t
today(void)
{
	return (int64_t)(time(NULL) / 86400);
}

static int
env_setup(void **state)
{
	return env_setup_with(state,
			      "[storage]\npool_high = 8\nquery_timeout = 10s\n",
			      -1, "b");
}

/* ---- tests ---------------------------------------------------------- */

static void
test_store_bayes_learn_and_take_back(void **state)
{
	struct env *e = *state;
	static struct counts c;
	uint64_t h[3];
	char addr[128];
	struct kr_store_user u;
	uint64_t gen;
	struct kr_store_bayes_learn l = { .msg = UINT64_C(0xfeedface12345678),
					  .spam = true,
					  .hashes = h,
					  .n = 3,
					  .day = today(),
					  .tokens_max = 1000,
					  .age_days = 90 };

	NEED_CLUSTER(state);
	u = buser_new(e, addr, sizeof(addr));
	hashes_make(h, 3, 100);
	OK(r_bget(e, addr, h, 3, &c));
	assert_int_equal(c.n_spam + c.n_ham, 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.spam[0] + c.spam[1] + c.spam[2], 0);
	gen = kr_genmap_get(e->gens, kr_store_user_key(u.shard, u.id));

	struct learn_rec lr = r_learn(e, &u, &l);
	OK(lr.r);
	assert_int_equal(lr.learned, KR_STORE_BAYES_LEARNED);
	/* The address in any case finds the same statistic. */
	for (char *p = addr; *p != '\0'; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	OK(r_bget(e, addr, h, 3, &c));
	assert_int_equal(c.n_spam, 1);
	assert_int_equal(c.n_ham, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(c.spam[i], 1);
		assert_int_equal(c.ham[i], 0);
	}
	/* The same message the same way: nothing changes. */
	lr = r_learn(e, &u, &l);
	OK(lr.r);
	assert_int_equal(lr.learned, KR_STORE_BAYES_ALREADY);
	OK(r_bget(e, addr, h, 3, &c));
	assert_int_equal(c.n_spam, 1);
	assert_int_equal(c.spam[1], 1);
	/* The other way: spam taken back, ham learned. */
	l.spam = false;
	lr = r_learn(e, &u, &l);
	OK(lr.r);
	assert_int_equal(lr.learned, KR_STORE_BAYES_RELEARNED);
	OK(r_bget(e, addr, h, 3, &c));
	assert_int_equal(c.n_spam, 0);
	assert_int_equal(c.n_ham, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(c.spam[i], 0);
		assert_int_equal(c.ham[i], 1);
	}
	/* A second message, in a different order and with a repeat. */
	{
		uint64_t h2[4] = { h[2], h[0], h[0], 7 };
		struct kr_store_bayes_learn l2 = l;

		l2.msg = 2;
		l2.hashes = h2;
		l2.n = 4;
		OK(r_learn(e, &u, &l2).r);
		OK(r_bget(e, addr, h2, 4, &c));
		assert_int_equal(c.n_ham, 2);
		assert_int_equal(c.ham[0], 2);
		assert_int_equal(c.ham[1], 2);
		assert_int_equal(c.ham[2], 2);
		assert_int_equal(c.ham[3], 1);
	}
	/* Statistics are no mail: no cached read of the user is stale. */
	assert_true(kr_genmap_get(e->gens, kr_store_user_key(u.shard, u.id)) ==
		    gen);
}

static void
test_store_bayes_unknown_user_and_bounds(void **state)
{
	struct env *e = *state;
	static uint64_t h[KR_STORE_BAYES_TOKENS_MAX + 1];
	static struct counts c;
	char addr[128];
	struct kr_store_user u;
	struct kr_store_bayes_learn l = { .msg = 1,
					  .spam = true,
					  .hashes = h,
					  .n = KR_STORE_BAYES_TOKENS_MAX,
					  .day = today(),
					  .tokens_max = 100000,
					  .age_days = 90 };
	struct rec r;

	NEED_CLUSTER(state);
	hashes_make(h, KR_STORE_BAYES_TOKENS_MAX + 1, 5000);
	addr_make(e, "nobody", addr, sizeof(addr));
	r = r_bget(e, addr, h, 3, &c);
	assert_int_equal(KIND(r), KR_ERR_NOT_FOUND);
	u = buser_new(e, addr, sizeof(addr));
	/* At the limit passes, one over (or none) is refused unsent. */
	OK(r_learn(e, &u, &l).r);
	OK(r_bget(e, addr, h, KR_STORE_BAYES_TOKENS_MAX, &c));
	assert_int_equal(c.n, KR_STORE_BAYES_TOKENS_MAX);
	assert_int_equal(c.spam[KR_STORE_BAYES_TOKENS_MAX - 1], 1);
	r = r_bget(e, addr, h, KR_STORE_BAYES_TOKENS_MAX + 1, &c);
	assert_int_equal(KIND(r), KR_ERR_PERMANENT);
	r = r_bget(e, addr, h, 0, &c);
	assert_int_equal(KIND(r), KR_ERR_PERMANENT);
	l.n = KR_STORE_BAYES_TOKENS_MAX + 1;
	assert_int_equal(KIND(r_learn(e, &u, &l).r), KR_ERR_PERMANENT);
	l.n = 1;
	l.tokens_max = 0;
	assert_int_equal(KIND(r_learn(e, &u, &l).r), KR_ERR_PERMANENT);
	/* A user deleted since: not found. */
	l.tokens_max = 10;
	OK(r_user_delete(e, addr));
	assert_int_equal(KIND(r_learn(e, &u, &l).r), KR_ERR_NOT_FOUND);
}

/* Counts how many of h[0..n) the user still has. */
static size_t
known(struct env *e, const char *addr, const uint64_t *h, size_t n)
{
	static struct counts c;
	size_t k = 0;

	OK(r_bget(e, addr, h, n, &c));
	for (size_t i = 0; i < n; i++)
		k += c.spam[i] + c.ham[i] > 0;
	return k;
}

static void
test_store_bayes_bounded_per_user(void **state)
{
	struct env *e = *state;
	uint64_t a[80], b[80];
	char addr[128];
	struct kr_store_user u;
	struct kr_store_bayes_learn l = { .msg = 1,
					  .spam = true,
					  .hashes = a,
					  .n = 80,
					  .day = today() - 2,
					  .tokens_max = 100,
					  .age_days = 90 };

	NEED_CLUSTER(state);
	u = buser_new(e, addr, sizeof(addr));
	hashes_make(a, 80, 1000);
	hashes_make(b, 80, 2000);
	OK(r_learn(e, &u, &l).r);
	assert_int_equal(known(e, addr, a, 80), 80);
	/* 160 tokens, 100 kept: the 60 least recently learned go. */
	l.msg = 2;
	l.hashes = b;
	l.day = today() - 1;
	OK(r_learn(e, &u, &l).r);
	assert_int_equal(known(e, addr, b, 80), 80);
	assert_int_equal(known(e, addr, a, 80), 20);
	/* Learning a kept old token again makes it recent. */
	l.msg = 3;
	l.hashes = a;
	l.day = today();
	OK(r_learn(e, &u, &l).r);
	assert_int_equal(known(e, addr, a, 80), 80);
	assert_int_equal(known(e, addr, b, 80), 20);
}

static void
test_store_bayes_aging(void **state)
{
	struct env *e = *state;
	uint64_t old[50], fresh[50], mid[50];
	char addr[128];
	struct kr_store_user u;
	struct kr_store_bayes_learn l = { .msg = 1,
					  .spam = false,
					  .hashes = old,
					  .n = 50,
					  .day = today() - 91,
					  .tokens_max = 100000,
					  .age_days = 90 };

	NEED_CLUSTER(state);
	u = buser_new(e, addr, sizeof(addr));
	hashes_make(old, 50, 3000);
	hashes_make(mid, 50, 4000);
	hashes_make(fresh, 50, 5000);
	OK(r_learn(e, &u, &l).r);
	l.msg = 2;
	l.hashes = mid;
	l.day = today() - 90;
	OK(r_learn(e, &u, &l).r);
	assert_int_equal(known(e, addr, old, 50), 50);
	/* Today: 91 days is too old, 90 is not yet. */
	l.msg = 3;
	l.hashes = fresh;
	l.day = today();
	OK(r_learn(e, &u, &l).r);
	assert_int_equal(known(e, addr, old, 50), 0);
	assert_int_equal(known(e, addr, mid, 50), 50);
	assert_int_equal(known(e, addr, fresh, 50), 50);
}

struct kind_rec {
	struct rec r;
	enum kr_store_bayes_kind kind;
};

static void
kind_cb(void *ctx, enum kr_store_bayes_kind kind, const struct kr_err *err)
{
	struct kind_rec *k = ctx;

	k->kind = kind;
	rec_done(&k->r, err);
}

static enum kr_store_bayes_kind
kind(struct env *e, const struct kr_store_user *u, int64_t from, int64_t to)
{
	struct kind_rec k;

	memset(&k, 0, sizeof(k));
	RUN(e, k.r,
	    kr_store_bayes_move_kind_begin(e->store, u, from, to, dl(), kind_cb,
					   &k));
	OK(k.r);
	return k.kind;
}

static int64_t
mailbox_id(const struct kr_store_mailbox_list_result *l, const char *name)
{
	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->mailboxes[i].name, name) == 0)
			return l->mailboxes[i].id;
	fail_msg("no mailbox %s", name);
	return -1;
}

static void
test_store_bayes_move_kind(void **state)
{
	struct env *e = *state;
	const struct kr_store_mailbox_list_result *ml;
	char addr[128], other[128];
	struct kr_store_user u, o;
	int64_t inbox, junk, trash, sent, mine, theirs;
	struct rec r;

	NEED_CLUSTER(state);
	u = buser_new(e, addr, sizeof(addr));
	/* Mailbox ids are per shard: the other user on the same one. */
	for (int i = 0; i < 64; i++) {
		o = buser_new(e, other, sizeof(other));
		if (o.shard == u.shard)
			break;
	}
	assert_int_equal(o.shard, u.shard);
	RUN(e, r,
	    kr_store_mailbox_create_begin(e->store, &u, "Receipts", e->arena,
					  dl(), rec_mb, &r));
	mine = RES(kr_store_mailbox, r)->id;
	RUN(e, r,
	    kr_store_mailbox_list_begin(e->store, &u, e->arena, dl(),
					rec_mb_list, &r));
	ml = RES(kr_store_mailbox_list_result, r);
	inbox = mailbox_id(ml, "INBOX");
	junk = mailbox_id(ml, "Junk");
	trash = mailbox_id(ml, "Trash");
	sent = mailbox_id(ml, "Sent");
	RUN(e, r,
	    kr_store_mailbox_list_begin(e->store, &o, e->arena, dl(),
					rec_mb_list, &r));
	theirs = mailbox_id(RES(kr_store_mailbox_list_result, r), "Junk");
	assert_int_equal(kind(e, &u, inbox, junk), KR_STORE_BAYES_SPAM);
	assert_int_equal(kind(e, &u, mine, junk), KR_STORE_BAYES_SPAM);
	assert_int_equal(kind(e, &u, junk, inbox), KR_STORE_BAYES_HAM);
	assert_int_equal(kind(e, &u, junk, mine), KR_STORE_BAYES_HAM);
	/* Deleting spam is no sign of ham; the rest teaches nothing. */
	assert_int_equal(kind(e, &u, junk, trash), KR_STORE_BAYES_NONE);
	assert_int_equal(kind(e, &u, inbox, sent), KR_STORE_BAYES_NONE);
	assert_int_equal(kind(e, &u, junk, junk), KR_STORE_BAYES_NONE);
	assert_int_equal(kind(e, &u, inbox, theirs), KR_STORE_BAYES_NONE);
	assert_int_equal(kind(e, &u, theirs, inbox), KR_STORE_BAYES_NONE);
	/* Junk by name, whatever its case, when it has no role. */
	RUN(e, r,
	    kr_store_mailbox_rename_begin(e->store, &u, junk, "Old", e->arena,
					  dl(), rec_mb, &r));
	OK(r);
	RUN(e, r,
	    kr_store_mailbox_rename_begin(e->store, &u, mine, "JUNK", e->arena,
					  dl(), rec_mb, &r));
	OK(r);
	assert_int_equal(kind(e, &u, inbox, mine), KR_STORE_BAYES_SPAM);
}

/* ---- the host's glue (antispam/bayes_store.h) ----------------------- */

struct tok_rec {
	struct env *e;
	int calls, ok;
	uint32_t n_spam, spam0;
	size_t n;
};

static void
tok_cb(void *arg, const struct kr_filter_tokens *t, int ok)
{
	struct tok_rec *r = arg;

	assert_false(r->e->in_begin);
	r->calls++;
	r->ok = ok;
	assert_true((t != NULL) == (ok != 0));
	if (t != NULL) {
		r->n_spam = t->n_spam;
		r->n = t->n;
		r->spam0 = t->spam[0];
	}
}

static struct tok_rec
tokens_get(struct env *e, const char *addr, const uint64_t *h, size_t n)
{
	struct tok_rec r = { .e = e };
	int64_t end = kr_clock_mono_ms() + WAIT_MS;

	e->in_begin = true;
	assert_int_equal(
		kr_antispam_tokens_get(e->store, addr, h, n, tok_cb, &r), 0);
	e->in_begin = false;
	while (r.calls == 0 && kr_clock_mono_ms() < end)
		event_base_loop(e->base, EVLOOP_ONCE);
	assert_int_equal(r.calls, 1);
	return r;
}

static void
learn_done(void *ctx, enum kr_store_bayes_learned learned,
	   const struct kr_err *err)
{
	(void)learned;
	rec_done(ctx, err);
}

static void
test_store_bayes_host_glue(void **state)
{
	struct env *e = *state;
	uint64_t h[2] = { 11, UINT64_MAX };
	char addr[128], nobody[128];
	struct kr_store_user u;
	struct tok_rec t;
	struct rec r;

	NEED_CLUSTER(state);
	u = buser_new(e, addr, sizeof(addr));
	RUN(e, r,
	    kr_antispam_tokens_learn(e->store, &u, kr_antispam_msg_key("m", 1),
				     true, h, 2, 1000, dl(), learn_done, &r));
	OK(r);
	t = tokens_get(e, addr, h, 2);
	assert_int_equal(t.ok, 1);
	assert_int_equal(t.n_spam, 1);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.spam0, 1);
	/* No such user: answered, not ok. */
	addr_make(e, "nobody", nobody, sizeof(nobody));
	t = tokens_get(e, nobody, h, 2);
	assert_int_equal(t.ok, 0);
	/* Not started: -1 and never a callback. */
	assert_int_equal(
		kr_antispam_tokens_get(e->store, addr, h, 0, tok_cb, NULL), -1);
	assert_int_equal(
		kr_antispam_tokens_get(e->store, NULL, h, 2, tok_cb, NULL), -1);
	assert_int_equal(kr_antispam_tokens_get(NULL, addr, h, 2, tok_cb, NULL),
			 -1);
	assert_int_equal(kr_antispam_tokens_get(e->store, addr, h,
						KR_STORE_BAYES_TOKENS_MAX + 1,
						tok_cb, NULL),
			 -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_bayes_learn_and_take_back),
		T(test_store_bayes_unknown_user_and_bounds),
		T(test_store_bayes_bounded_per_user),
		T(test_store_bayes_aging),
		T(test_store_bayes_move_kind),
		T(test_store_bayes_host_glue),
	};

	return cmocka_run_group_tests_name("store_bayes", tests, env_setup,
					   env_teardown);
}
