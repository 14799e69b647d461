/* The delivery pipeline (server/deliver) without LMTP. The mappings,
 * the built-in verdict and a delivery without a store always run; the
 * rest drives kr_deliver_begin against a real cluster and is skipped
 * unless KR_TEST_PG_CONF names a kurier.conf written by ops/pgcluster
 * (tests/integration/test_lmtp.sh sets it): delivered, unknown, over
 * quota, too large, the verdict step (once per message, with the
 * client facts; spam headers and folder; reject; a verdict that comes
 * later; cancel while it is pending) and a shed message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <string.h>

#define WAIT_MS 60000 /* the too-large message is 128 MiB */
#define OP_MS 30000

#include "store_env.h"

#include "lib/genmap.h"
#include "proto/mime.h"
#include "server/deliver/deliver.h"

#define RCPTS_MAX 4

REC_FN(rec_user_create, struct kr_store_user_create_result)
REC_FN(rec_mb_list, struct kr_store_mailbox_list_result)
REC_FN(rec_get, struct kr_store_message_get_result)

/* ---- set-up --------------------------------------------------------- */

/* The cluster's shards with the store's defaults. */
static int
env_setup(void **state)
{
	return env_setup_with(state, "", -1, "d");
}

/* ---- a verdict filter that records what it was asked ---------------- */

struct fake {
	struct event_base *base;
	struct event *later; /* answers `answer` from the loop */
	bool async;	     /* answer later instead of at once */
	bool hold;	     /* async, and no answer until cancelled */
	struct kr_verdict answer;
	int calls, cancels;
	bool in_begin; /* kr_deliver_begin is running */
	/* What the last call saw. */
	struct kr_deliver_client client;
	const char *sender, *req_id;
	char subject[64]; /* the summary goes with the delivery */
	size_t n_rcpts;
	kr_verdict_fn *cb;
	void *ctx;
};

static void
fake_on_later(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;

	(void)fd;
	(void)what;
	f->cb(f->ctx, &f->answer);
}

static int
fake_begin(void *impl, const struct kr_delivery *dl,
	   const struct kr_mime_summary *sum, struct kr_arena *arena,
	   struct kr_verdict *verdict_r, struct kr_verdict_req **req_r,
	   kr_verdict_fn *cb, void *ctx)
{
	struct fake *f = impl;

	(void)arena;
	assert_false(f->in_begin);
	f->calls++;
	f->client = dl->client;
	f->sender = dl->sender;
	f->req_id = dl->req_id;
	f->n_rcpts = dl->n_rcpts;
	snprintf(f->subject, sizeof(f->subject), "%s",
		 sum != NULL && sum->subject != NULL ? sum->subject : "");
	if (!f->async) {
		*verdict_r = f->answer;
		return 1;
	}
	f->cb = cb;
	f->ctx = ctx;
	if (!f->hold)
		event_active(f->later, EV_TIMEOUT, 0);
	*req_r = (struct kr_verdict_req *)f;
	return 0;
}

static void
fake_cancel(void *impl, struct kr_verdict_req **req)
{
	struct fake *f = impl;

	assert_ptr_equal(*req, f);
	f->cancels++;
	event_del(f->later);
	*req = NULL;
}

static const struct kr_verdict_ops fake_ops = { fake_begin, fake_cancel };

/* ---- one delivery --------------------------------------------------- */

/* The outcome, copied out of the callback. */
struct got {
	int calls;
	size_t n;
	enum kr_deliver_result result[RCPTS_MAX];
	int kind[RCPTS_MAX]; /* the store's error kind; -1: no answer */
	int64_t mailbox_id[RCPTS_MAX], uid[RCPTS_MAX];
	enum kr_verdict_kind verdict;
	enum kr_deliver_step ended;
	bool has_err;
	struct kr_err err;
	bool *in_begin;
};

static void
got_outcome(void *ctx, const struct kr_deliver_outcome *out)
{
	struct got *g = ctx;

	assert_false(*g->in_begin);
	assert_true(out->n <= RCPTS_MAX);
	g->calls++;
	g->n = out->n;
	for (size_t i = 0; i < out->n; i++) {
		const struct kr_deliver_rcpt_result *r = &out->rcpts[i];

		g->result[i] = r->result;
		g->kind[i] = r->err != NULL ? (int)r->err->kind : -1;
		g->mailbox_id[i] = r->mailbox_id;
		g->uid[i] = r->uid;
	}
	g->verdict = out->verdict;
	g->ended = out->ended;
	g->has_err = out->err != NULL;
	if (out->err != NULL)
		g->err = *out->err;
}

/* Begins dl on env and runs base until the one answer (or WAIT_MS). */
static void
run(struct event_base *base, const struct kr_deliver_env *env,
    const struct kr_delivery *dl, struct fake *f, struct got *g)
{
	int64_t end = kr_clock_mono_ms() + WAIT_MS;

	memset(g, 0, sizeof(*g));
	g->in_begin = &f->in_begin;
	f->in_begin = true;
	assert_non_null(kr_deliver_begin(env, dl, got_outcome, g));
	f->in_begin = false;
	while (g->calls == 0 && kr_clock_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(g->calls, 1);
}

static const char body[] = "From: a@ext.test\r\nTo: b@ext.test\r\n"
			   "Subject: pipeline\r\n\r\nhello\r\n";

static struct kr_delivery
delivery(const struct kr_deliver_rcpt *rcpts, size_t n)
{
	return (struct kr_delivery){
		.sender = "s@ext.test",
		.rcpts = rcpts,
		.n_rcpts = n,
		.body = body,
		.body_len = strlen(body),
		.client = { .addr = "192.0.2.7",
			    .name = "mx.ext.test",
			    .helo = "helo.ext.test",
			    .proto = "ESMTP" },
		.req_id = "T1",
		.deadline = dl(),
	};
}

/* The id of u's mailbox `name`, and how many messages it holds. */
static int64_t
mailbox_find(struct env *e, const struct kr_store_user *u, const char *name,
	     int64_t *total_r)
{
	const struct kr_store_mailbox_list_result *mbs;
	struct rec l;

	RUN(e, l,
	    kr_store_mailbox_list_begin(e->store, u, e->arena, dl(),
					rec_mb_list, &l));
	OK(l);
	mbs = l.res;
	for (unsigned i = 0; i < mbs->n; i++) {
		if (strcmp(mbs->mailboxes[i].name, name) != 0)
			continue;
		if (total_r != NULL)
			*total_r = mbs->mailboxes[i].total;
		return mbs->mailboxes[i].id;
	}
	fail_msg("no mailbox %s", name);
	return -1;
}

/* A new user; quota 0: none. */
static struct kr_store_user
user_new(struct env *e, const char *who, int64_t quota)
{
	char addr[128];
	struct rec c;

	snprintf(addr, sizeof(addr), "%s.%u.%s@deliver.test", who, e->seq++,
		 e->tag);
	RUN(e, c,
	    kr_store_user_create_begin(e->store, addr, "{PLAIN}x", quota,
				       e->arena, dl(), rec_user_create, &c));
	OK(c);
	return ((const struct kr_store_user_create_result *)c.res)->user;
}

/* A cluster test's fixture: the cluster's store, the fake filter, a
 * user with its INBOX and Junk, and a delivery of body to that user
 * alone. */
struct rig {
	struct env *e;
	struct fake f;
	struct kr_deliver_env env;
	struct got g;
	struct kr_store_user u;
	int64_t inbox, junk;
	struct kr_deliver_rcpt rcpt;
	struct kr_delivery d;
};

static int
rig_setup(void **state)
{
	struct env *e = *state;
	struct rig *r;

	if (e == NULL)
		return 0; /* no cluster: NEED_CLUSTER skips */
	test_setup(state);
	r = kr_xcalloc(1, sizeof(*r));
	r->e = e;
	r->f.base = e->base;
	r->f.later = evtimer_new(e->base, fake_on_later, &r->f);
	r->env = (struct kr_deliver_env){
		.base = e->base,
		.store = e->store,
		.cpu = e->cpu,
		.verdict = { &fake_ops, &r->f },
	};
	r->u = user_new(e, "u", 0);
	r->inbox = mailbox_find(e, &r->u, "INBOX", NULL);
	r->junk = mailbox_find(e, &r->u, "Junk", NULL);
	r->rcpt = (struct kr_deliver_rcpt){ r->u.address, r->u.address, NULL,
					    r->u.id };
	r->d = delivery(&r->rcpt, 1);
	*state = r;
	return 0;
}

static int
rig_teardown(void **state)
{
	struct rig *r = *state;

	if (r == NULL)
		return 0;
	event_free(r->f.later);
	*state = r->e;
	free(r);
	return test_teardown(state);
}

/* Delivers dl (NULL: the fixture's) through the fixture. */
static void
rig_run(struct rig *r, const struct kr_delivery *dl)
{
	run(r->e->base, &r->env, dl != NULL ? dl : &r->d, &r->f, &r->g);
}

/* The stored bytes of one message must be prefix + body. */
static void
assert_stored(struct env *e, const struct kr_store_user *u, int64_t mailbox,
	      int64_t uid, const char *prefix)
{
	const struct kr_store_message_get_result *m;
	size_t plen = strlen(prefix);
	struct rec r;

	RUN(e, r,
	    kr_store_message_get_begin(e->store, u, mailbox, uid, e->arena,
				       dl(), rec_get, &r));
	OK(r);
	m = r.res;
	assert_int_equal(m->raw_len, plen + strlen(body));
	assert_memory_equal(m->raw, prefix, plen);
	assert_memory_equal(m->raw + plen, body, strlen(body));
}

/* ---- without a cluster ---------------------------------------------- */

static void
test_deliver_result_of(void **state)
{
	static const struct {
		enum kr_err_kind kind;
		enum kr_deliver_result result;
	} cases[] = {
		{ KR_ERR_NONE, KR_DELIVER_DELIVERED },
		{ KR_ERR_NOT_FOUND, KR_DELIVER_UNKNOWN },
		{ KR_ERR_QUOTA, KR_DELIVER_OVER_QUOTA },
		{ KR_ERR_TOO_LARGE, KR_DELIVER_TOO_LARGE },
		{ KR_ERR_TEMPORARY, KR_DELIVER_TEMPFAIL },
		{ KR_ERR_TIMEOUT, KR_DELIVER_TEMPFAIL },
		{ KR_ERR_OVERLOAD, KR_DELIVER_TEMPFAIL },
		{ KR_ERR_LIMIT, KR_DELIVER_TEMPFAIL },
		{ KR_ERR_PERMANENT, KR_DELIVER_TEMPFAIL },
		{ KR_ERR_INTERNAL, KR_DELIVER_TEMPFAIL },
		{ KR_ERR_CONFLICT, KR_DELIVER_TEMPFAIL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(kr_deliver_result_of(cases[i].kind),
				 cases[i].result);
}

/* The RCPT check: quota used up at exactly the quota, one byte below
 * is fine, 0 is no quota; a failed look-up is unknown or unavailable. */
static void
test_deliver_check_user(void **state)
{
	static const struct {
		int64_t quota, used;
		enum kr_err_kind kind; /* KR_ERR_NONE: found */
		enum kr_deliver_result result;
	} cases[] = {
		{ 0, 1 << 30, KR_ERR_NONE, KR_DELIVER_DELIVERED },
		{ 100, 99, KR_ERR_NONE, KR_DELIVER_DELIVERED },
		{ 100, 100, KR_ERR_NONE, KR_DELIVER_OVER_QUOTA },
		{ 100, 101, KR_ERR_NONE, KR_DELIVER_OVER_QUOTA },
		{ 0, 0, KR_ERR_NOT_FOUND, KR_DELIVER_UNKNOWN },
		{ 0, 0, KR_ERR_TIMEOUT, KR_DELIVER_UNAVAILABLE },
		{ 0, 0, KR_ERR_TEMPORARY, KR_DELIVER_UNAVAILABLE },
		{ 0, 0, KR_ERR_OVERLOAD, KR_DELIVER_UNAVAILABLE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kr_store_user_get_result res = {
			.quota_bytes = cases[i].quota,
			.used_bytes = cases[i].used,
		};
		struct kr_err err = { .kind = cases[i].kind };

		assert_int_equal(
			kr_deliver_check_user(&res, cases[i].kind == KR_ERR_NONE
							    ? NULL
							    : &err),
			cases[i].result);
	}
}

static void
test_deliver_result_names(void **state)
{
	static const char *const names[KR_DELIVER_RESULT_COUNT] = {
		"delivered", "unknown",	    "over_quota", "too_large",
		"rejected",  "unavailable", "tempfail",	  "deferred",
	};

	(void)state;
	for (unsigned i = 0; i < KR_DELIVER_RESULT_COUNT; i++)
		assert_string_equal(
			kr_deliver_result_name((enum kr_deliver_result)i),
			names[i]);
}

static void
test_deliver_verdict_builtin(void **state)
{
	struct kr_verdict v = { .kind = KR_VERDICT_REJECT, .folder = "x" };
	struct kr_verdict_req *req = NULL;
	const struct kr_verdict_step step = { .ops = kr_verdict_ham() };
	struct kr_delivery d = delivery(NULL, 0);

	(void)state;
	assert_int_equal(
		kr_verdict_begin(NULL, &d, NULL, NULL, &v, &req, NULL, NULL),
		1);
	assert_int_equal(v.kind, KR_VERDICT_HAM);
	assert_null(v.headers);
	assert_int_equal(v.headers_len, 0);
	assert_null(v.folder);
	assert_null(req);
	v.kind = KR_VERDICT_SPAM;
	assert_int_equal(
		kr_verdict_begin(&step, &d, NULL, NULL, &v, &req, NULL, NULL),
		1);
	assert_int_equal(v.kind, KR_VERDICT_HAM);
	kr_verdict_cancel(&step, &req); /* nothing pending: a no-op */
	assert_null(req);
}

/* No store (no shard configured): every recipient TEMPFAIL, from the
 * loop, and nothing is parsed or judged. */
static void
test_deliver_no_store(void **state)
{
	const struct kr_deliver_rcpt rcpts[] = {
		{ "a@x.test", "a@x.test", NULL, 0 },
		{ "b+f@x.test", "b@x.test", "f", 0 },
	};
	struct kr_delivery d = delivery(rcpts, 2);
	struct fake f = { .base = event_base_new() };
	const struct kr_deliver_env env = { .base = f.base,
					    .verdict = { &fake_ops, &f } };
	struct got g;

	(void)state;
	run(f.base, &env, &d, &f, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.result[0], KR_DELIVER_TEMPFAIL);
	assert_int_equal(g.result[1], KR_DELIVER_TEMPFAIL);
	assert_int_equal(g.kind[0], -1);
	assert_int_equal(g.ended, KR_DELIVER_STEP_STORE);
	assert_false(g.has_err);
	assert_int_equal(f.calls, 0);
	event_base_free(f.base);
}

/* ---- against the cluster -------------------------------------------- */

/* Delivered: to the account's mailbox (the folder when given), Return-
 * Path and Delivered-To (the address as sent) before the body, the
 * user's generation bumped; the verdict asked once, after parsing, with
 * the client facts. */
static void
test_deliver_delivered(void **state)
{
	struct rig *r = *state;
	struct kr_deliver_rcpt rcpts[2];
	struct kr_store_user b;
	struct kr_delivery d;
	int64_t junk_b;
	uint64_t gen, key;
	char pa[256], pb[256], sent_b[160];

	NEED_CLUSTER(state);
	b = user_new(r->e, "b", 0);
	junk_b = mailbox_find(r->e, &b, "Junk", NULL);
	snprintf(sent_b, sizeof(sent_b), "B+Junk.%s", b.address);
	rcpts[0] = r->rcpt;
	rcpts[1] = (struct kr_deliver_rcpt){ sent_b, b.address, "Junk", 0 };
	d = delivery(rcpts, 2);
	key = kr_store_user_key(r->u.shard, r->u.id);
	gen = kr_genmap_get(r->e->gens, key);
	rig_run(r, &d);
	assert_int_equal(r->g.ended, KR_DELIVER_STEP_ANSWER);
	assert_false(r->g.has_err);
	assert_int_equal(r->g.verdict, KR_VERDICT_HAM);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(r->g.result[i], KR_DELIVER_DELIVERED);
		assert_int_equal(r->g.kind[i], KR_ERR_NONE);
		assert_true(r->g.uid[i] > 0);
	}
	assert_int_equal(r->g.mailbox_id[0], r->inbox);
	assert_int_equal(r->g.mailbox_id[1], junk_b);
	snprintf(pa, sizeof(pa),
		 "Return-Path: <s@ext.test>\r\nDelivered-To: %s\r\n",
		 r->u.address);
	snprintf(pb, sizeof(pb),
		 "Return-Path: <s@ext.test>\r\nDelivered-To: %s\r\n", sent_b);
	assert_stored(r->e, &r->u, r->inbox, r->g.uid[0], pa);
	assert_stored(r->e, &b, junk_b, r->g.uid[1], pb);
	assert_true(kr_genmap_get(r->e->gens, key) != gen);
	assert_int_equal(r->f.calls, 1);
	assert_string_equal(r->f.client.addr, "192.0.2.7");
	assert_string_equal(r->f.client.name, "mx.ext.test");
	assert_string_equal(r->f.client.helo, "helo.ext.test");
	assert_string_equal(r->f.client.proto, "ESMTP");
	assert_false(r->f.client.name_tempunavail);
	assert_string_equal(r->f.sender, "s@ext.test");
	assert_string_equal(r->f.req_id, "T1");
	assert_int_equal(r->f.n_rcpts, 2);
	assert_string_equal(r->f.subject, "pipeline");
}

/* One message, every per-recipient outcome the store gives, in order;
 * one verdict for all of them. */
static void
test_deliver_unknown_quota(void **state)
{
	struct rig *r = *state;
	struct kr_deliver_rcpt rcpts[3];
	struct kr_store_user full;
	struct kr_delivery d;
	char nobody[128];

	NEED_CLUSTER(state);
	full = user_new(r->e, "full", 10);
	snprintf(nobody, sizeof(nobody), "nobody.%s@deliver.test", r->e->tag);
	rcpts[0] = (struct kr_deliver_rcpt){ nobody, nobody, NULL, 0 };
	rcpts[1] =
		(struct kr_deliver_rcpt){ full.address, full.address, NULL, 0 };
	rcpts[2] = r->rcpt;
	d = delivery(rcpts, 3);
	rig_run(r, &d);
	assert_int_equal(r->g.ended, KR_DELIVER_STEP_ANSWER);
	assert_int_equal(r->g.result[0], KR_DELIVER_UNKNOWN);
	assert_int_equal(r->g.kind[0], KR_ERR_NOT_FOUND);
	assert_int_equal(r->g.result[1], KR_DELIVER_OVER_QUOTA);
	assert_int_equal(r->g.kind[1], KR_ERR_QUOTA);
	assert_int_equal(r->g.result[2], KR_DELIVER_DELIVERED);
	assert_int_equal(r->g.mailbox_id[2], r->inbox);
	assert_int_equal(r->f.calls, 1);
	assert_int_equal(r->f.n_rcpts, 3);
}

/* A body that fits the store's limit alone but not with its prefix:
 * too large for that recipient (parsed on the cpu pool first). */
static void
test_deliver_too_large(void **state)
{
	struct rig *r = *state;
	size_t len = KR_STORE_MESSAGE_MAX - 16;
	char *big;

	NEED_CLUSTER(state);
	big = kr_xmalloc(len);
	memset(big, 'a', len);
	for (size_t i = 76; i < len; i += 78)
		memcpy(big + i, "\r\n", 2);
	r->d.body = big;
	r->d.body_len = len;
	rig_run(r, NULL);
	assert_int_equal(r->g.result[0], KR_DELIVER_TOO_LARGE);
	assert_int_equal(r->g.kind[0], KR_ERR_TOO_LARGE);
	assert_int_equal(r->f.calls, 1);
	free(big);
}

/* A spam verdict that comes from the loop: its headers after
 * Delivered-To, its folder for every recipient. */
static void
test_deliver_verdict_spam_later(void **state)
{
	static const char spam[] = "X-Spam-Flag: YES\r\nX-Spam-Score: 9\r\n";
	struct rig *r = *state;
	char prefix[512];

	NEED_CLUSTER(state);
	r->f.async = true;
	r->f.answer = (struct kr_verdict){ .kind = KR_VERDICT_SPAM,
					   .headers = spam,
					   .headers_len = strlen(spam),
					   .folder = "Junk" };
	rig_run(r, NULL);
	assert_int_equal(r->g.verdict, KR_VERDICT_SPAM);
	assert_int_equal(r->g.result[0], KR_DELIVER_DELIVERED);
	assert_int_equal(r->g.mailbox_id[0], r->junk);
	snprintf(prefix, sizeof(prefix),
		 "Return-Path: <s@ext.test>\r\nDelivered-To: %s\r\n%s",
		 r->u.address, spam);
	assert_stored(r->e, &r->u, r->junk, r->g.uid[0], prefix);
	assert_int_equal(r->f.calls, 1);
}

/* Rejected: every recipient REJECTED, nothing stored. */
static void
test_deliver_verdict_reject(void **state)
{
	struct rig *r = *state;
	struct kr_deliver_rcpt rcpts[2];
	struct kr_delivery d;
	int64_t total = -1;

	NEED_CLUSTER(state);
	r->f.answer.kind = KR_VERDICT_REJECT;
	rcpts[0] = rcpts[1] = r->rcpt;
	d = delivery(rcpts, 2);
	rig_run(r, &d);
	assert_int_equal(r->g.verdict, KR_VERDICT_REJECT);
	assert_int_equal(r->g.ended, KR_DELIVER_STEP_VERDICT);
	assert_int_equal(r->g.result[0], KR_DELIVER_REJECTED);
	assert_int_equal(r->g.result[1], KR_DELIVER_REJECTED);
	assert_int_equal(r->g.kind[0], -1);
	mailbox_find(r->e, &r->u, "INBOX", &total);
	assert_int_equal(total, 0);
}

/* A verdict per recipient (antispam judges per user): the first copy
 * to Junk with its own headers, the second refused, the third
 * deferred; only the first is stored. */
static void
test_deliver_verdict_per_rcpt(void **state)
{
	static const char spam[] = "X-Spam-Flag: YES\r\n";
	struct rig *r = *state;
	struct kr_deliver_rcpt rcpts[3];
	const struct kr_verdict_rcpt per[3] = {
		{ .kind = KR_VERDICT_SPAM,
		  .headers = spam,
		  .headers_len = strlen(spam),
		  .folder = "Junk" },
		{ .kind = KR_VERDICT_REJECT },
		{ .kind = KR_VERDICT_DEFER },
	};
	struct kr_delivery d;
	char prefix[512];
	int64_t total = -1;

	NEED_CLUSTER(state);
	r->f.answer =
		(struct kr_verdict){ .kind = KR_VERDICT_REJECT, .rcpts = per };
	rcpts[0] = rcpts[1] = rcpts[2] = r->rcpt;
	d = delivery(rcpts, 3);
	rig_run(r, &d);
	assert_int_equal(r->g.ended, KR_DELIVER_STEP_ANSWER);
	assert_int_equal(r->g.result[0], KR_DELIVER_DELIVERED);
	assert_int_equal(r->g.mailbox_id[0], r->junk);
	assert_int_equal(r->g.result[1], KR_DELIVER_REJECTED);
	assert_int_equal(r->g.result[2], KR_DELIVER_DEFERRED);
	snprintf(prefix, sizeof(prefix),
		 "Return-Path: <s@ext.test>\r\nDelivered-To: %s\r\n%s",
		 r->u.address, spam);
	assert_stored(r->e, &r->u, r->junk, r->g.uid[0], prefix);
	mailbox_find(r->e, &r->u, "INBOX", &total);
	assert_int_equal(total, 0);
}

/* Cancelled while the verdict is pending: the filter is cancelled too
 * and nobody is called back. */
static void
test_deliver_cancel_in_verdict(void **state)
{
	struct rig *r = *state;
	struct kr_deliver *del;
	int64_t end;

	NEED_CLUSTER(state);
	r->f.async = r->f.hold = true;
	r->g.in_begin = &r->f.in_begin;
	del = kr_deliver_begin(&r->env, &r->d, got_outcome, &r->g);
	end = kr_clock_mono_ms() + WAIT_MS;
	while (r->f.calls == 0 && kr_clock_mono_ms() < end)
		event_base_loop(r->e->base, EVLOOP_ONCE);
	assert_int_equal(r->f.calls, 1);
	kr_deliver_cancel(&del);
	assert_null(del);
	assert_int_equal(r->f.cancels, 1);
	spin(r->e, 50);
	assert_int_equal(r->g.calls, 0);
}

/* A job that holds the cpu pool's one thread until released. */
struct blocker {
	atomic_bool release;
	bool done;
};

static void
blocker_work(void *ctx)
{
	struct blocker *b = ctx;

	while (!atomic_load(&b->release))
		usleep(1000);
}

static void
blocker_done(void *ctx, int status)
{
	struct blocker *b = ctx;

	(void)status;
	b->done = true;
}

/* A full cpu pool sheds the message: every recipient TEMPFAIL, the
 * overload said at the parse step, the verdict never asked. */
static void
test_deliver_shed(void **state)
{
	const struct kr_tpool_settings one = { "cpu", 1, 1, 0 };
	struct rig *r = *state;
	struct blocker b = { .done = false };

	NEED_CLUSTER(state);
	r->env.cpu = kr_tpool_create(r->e->base, &one);
	atomic_init(&b.release, false);
	assert_int_equal(kr_tpool_submit(r->env.cpu, blocker_work, blocker_done,
					 &b, NULL, NULL),
			 0);
	rig_run(r, NULL);
	assert_int_equal(r->g.result[0], KR_DELIVER_TEMPFAIL);
	assert_int_equal(r->g.ended, KR_DELIVER_STEP_PARSE);
	assert_true(r->g.has_err);
	assert_int_equal(r->g.err.kind, KR_ERR_OVERLOAD);
	assert_int_equal(r->f.calls, 0);
	atomic_store(&b.release, true);
	while (!b.done)
		event_base_loop(r->e->base, EVLOOP_ONCE);
	kr_tpool_destroy(&r->env.cpu);
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)
#define C(name) cmocka_unit_test_setup_teardown(name, rig_setup, rig_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_deliver_result_of),
		T(test_deliver_check_user),
		T(test_deliver_result_names),
		T(test_deliver_verdict_builtin),
		T(test_deliver_no_store),
		C(test_deliver_delivered),
		C(test_deliver_unknown_quota),
		C(test_deliver_too_large),
		C(test_deliver_verdict_spam_later),
		C(test_deliver_verdict_reject),
		C(test_deliver_verdict_per_rcpt),
		C(test_deliver_cancel_in_verdict),
		C(test_deliver_shed),
	};

	int rc;

	kr_mime_init();
	rc = cmocka_run_group_tests_name("deliver", tests, env_setup,
					 env_teardown);
	kr_mime_shutdown();
	return rc;
}
