/* Delivery pipeline: parse, verdict, prepend, store, answer. */
#include "server/deliver/deliver.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/tpool.h"
#include "proto/mime.h"
#include "server/deliver/msgmeta.h"
#include "storage/store.h"

/* Metadata, prefixes and the store's operation for one message; the
 * message itself stays with the caller. */
#define DELIVER_ARENA_MAX (8 << 20)
/* Return-Path: <>\r\nDelivered-To: \r\n and the NUL, with room. */
#define DELIVER_PREFIX_FIXED 64

struct kr_deliver {
	const struct kr_deliver_env *env;
	const struct kr_delivery *dl;
	struct kr_arena *arena;
	enum kr_deliver_step step; /* the one running or last run */
	/* At most one of these is pending. */
	struct kr_tpool_job *job;
	struct kr_verdict_req *verdict_req;
	struct kr_store_op *op;
	struct event *later;	     /* answers from the next loop turn */
	struct kr_mime_summary *sum; /* NULL when parsing failed */
	/* Packed by the parse job, so storing takes no trip of its own;
	 * handed to the store with the message. */
	struct kr_store_body *packed;
	struct kr_verdict verdict;
	struct kr_err err; /* why a step ended it; see has_err */
	bool has_err;
	struct kr_deliver_rcpt_result *results;
	/* The recipients handed to the store (those the verdict did not
	 * refuse): their index in dl->rcpts. */
	size_t *stored;
	size_t n_stored;
	kr_deliver_fn *cb;
	void *ctx;
};

const char *
kr_deliver_result_name(enum kr_deliver_result result)
{
	static const char *const names[KR_DELIVER_RESULT_COUNT] = {
		[KR_DELIVER_DELIVERED] = "delivered",
		[KR_DELIVER_UNKNOWN] = "unknown",
		[KR_DELIVER_OVER_QUOTA] = "over_quota",
		[KR_DELIVER_TOO_LARGE] = "too_large",
		[KR_DELIVER_REJECTED] = "rejected",
		[KR_DELIVER_UNAVAILABLE] = "unavailable",
		[KR_DELIVER_TEMPFAIL] = "tempfail",
		[KR_DELIVER_DEFERRED] = "deferred",
	};

	kr_assert((unsigned)result < KR_DELIVER_RESULT_COUNT);
	return names[result];
}

enum kr_deliver_result
kr_deliver_result_of(enum kr_err_kind kind)
{
	switch (kind) {
	case KR_ERR_NONE:
		return KR_DELIVER_DELIVERED;
	case KR_ERR_NOT_FOUND:
		return KR_DELIVER_UNKNOWN;
	case KR_ERR_QUOTA:
		return KR_DELIVER_OVER_QUOTA;
	case KR_ERR_TOO_LARGE:
		return KR_DELIVER_TOO_LARGE;
	default:
		/* Anything else, and anything we cannot be sure was not
		 * stored, is temporary: the sender retries; nothing is
		 * lost. */
		return KR_DELIVER_TEMPFAIL;
	}
}

enum kr_deliver_result
kr_deliver_check_user(const struct kr_store_user_get_result *res,
		      const struct kr_err *err)
{
	if (err != NULL) {
		/* Before the message, a failed look-up means the user's
		 * shard did not answer, unless there is no such user. */
		return kr_deliver_result_of(err->kind) == KR_DELIVER_UNKNOWN
			       ? KR_DELIVER_UNKNOWN
			       : KR_DELIVER_UNAVAILABLE;
	}
	if (res->quota_bytes > 0 && res->used_bytes >= res->quota_bytes)
		return KR_DELIVER_OVER_QUOTA;
	return KR_DELIVER_DELIVERED;
}

static void
deliver_free(struct kr_deliver *d)
{
	if (d->later != NULL)
		event_free(d->later);
	kr_store_body_free(&d->packed);
	kr_arena_destroy(&d->arena);
	free(d->results);
	free(d->stored);
	free(d);
}

/* The last step: hands the results over and frees d. */
static void
deliver_answer(struct kr_deliver *d)
{
	struct kr_deliver_outcome out = {
		.rcpts = d->results,
		.n = d->dl->n_rcpts,
		.verdict = d->verdict.kind,
		.detail = &d->verdict,
		.ended = d->step,
		.err = d->has_err ? &d->err : NULL,
	};

	d->cb(d->ctx, &out);
	deliver_free(d);
}

static void
deliver_on_later(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	deliver_answer(ctx);
}

/* Answers from the next loop turn: begin has not returned yet. */
static void
deliver_answer_later(struct kr_deliver *d)
{
	d->later = evtimer_new(d->env->base, deliver_on_later, d);
	if (d->later == NULL)
		kr_panic("deliver: evtimer_new failed");
	event_active(d->later, EV_TIMEOUT, 0);
}

/* ---- store ---------------------------------------------------------- */

static void
deliver_on_stored(void *ctx, const struct kr_store_deliver_result *res,
		  const struct kr_err *err)
{
	struct kr_deliver *d = ctx;

	d->op = NULL;
	if (err != NULL) {
		d->err = *err;
		d->has_err = true;
		deliver_answer(d);
		return;
	}
	for (size_t j = 0; j < d->n_stored && j < res->n; j++) {
		const struct kr_store_rcpt_result *r = &res->rcpts[j];
		struct kr_deliver_rcpt_result *out = &d->results[d->stored[j]];

		out->result = kr_deliver_result_of(r->err.kind);
		out->err = &r->err;
		if (r->err.kind != KR_ERR_NONE)
			continue;
		out->mailbox_id = r->mailbox_id;
		out->uid = r->uid;
	}
	d->step = KR_DELIVER_STEP_ANSWER;
	deliver_answer(d);
}

static void
deliver_store(struct kr_deliver *d, const struct kr_store_rcpt *rcpts)
{
	struct kr_store_meta meta = { 0 };
	struct kr_store_delivery sdl;

	d->step = KR_DELIVER_STEP_STORE;
	if (kr_msgmeta_from_summary(d->sum, d->arena, &meta) < 0) {
		deliver_answer(d);
		return;
	}
	sdl = (struct kr_store_delivery){
		.body = (const unsigned char *)d->dl->body,
		.body_len = d->dl->body_len,
		.packed = d->packed,
		.rcpts = rcpts,
		.n_rcpts = (unsigned)d->n_stored,
		.meta = &meta,
	};
	d->packed = NULL; /* the store's now */
	d->op = kr_store_deliver_begin(d->env->store, &sdl, d->arena,
				       d->dl->deadline, deliver_on_stored, d);
}

/* ---- prepend -------------------------------------------------------- */

/* Return-Path and Delivered-To (RFC 5321 §4.4, the Postfix/Dovecot
 * convention), then the verdict's headers: per recipient, ahead of the
 * shared body. */
static struct kr_verdict_rcpt
deliver_rcpt_verdict(const struct kr_deliver *d, size_t i)
{
	const struct kr_verdict *v = &d->verdict;

	if (v->rcpts != NULL)
		return v->rcpts[i];
	return (struct kr_verdict_rcpt){ .kind = v->kind,
					 .headers = v->headers,
					 .headers_len = v->headers_len,
					 .folder = v->folder,
					 .score = v->score };
}

static int
deliver_prefix(struct kr_deliver *d, size_t i, struct kr_store_rcpt *out)
{
	const struct kr_deliver_rcpt *r = &d->dl->rcpts[i];
	struct kr_verdict_rcpt rv = deliver_rcpt_verdict(d, i);
	const struct kr_verdict_rcpt *v = &rv;
	size_t hn = v->headers != NULL ? v->headers_len : 0;
	size_t n = strlen(d->dl->sender) + strlen(r->address) +
		   DELIVER_PREFIX_FIXED + hn;
	char *p = kr_arena_alloc(d->arena, n, NULL);
	int len;

	if (p == NULL)
		return -1;
	len = snprintf(p, n, "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
		       d->dl->sender, r->address);
	if (hn > 0)
		memcpy(p + len, v->headers, hn);
	*out = (struct kr_store_rcpt){
		.address = r->account,
		.folder = v->folder != NULL ? v->folder : r->folder,
		.prefix = p,
		.prefix_len = (size_t)len + hn,
		.user_id = r->user_id,
	};
	return 0;
}

static void
deliver_prepend(struct kr_deliver *d)
{
	size_t n = d->n_stored;
	struct kr_store_rcpt *rcpts;

	d->step = KR_DELIVER_STEP_PREPEND;
	rcpts = kr_arena_zalloc(d->arena, n * sizeof(*rcpts), NULL);
	for (size_t j = 0; rcpts != NULL && j < n; j++)
		if (deliver_prefix(d, d->stored[j], &rcpts[j]) < 0)
			rcpts = NULL;
	if (rcpts == NULL) {
		deliver_answer(d); /* arena full: 4xx, the sender retries */
		return;
	}
	deliver_store(d, rcpts);
}

/* ---- verdict -------------------------------------------------------- */

/* Recipients the verdict refused are answered so; the others go on to
 * be stored. */
static void
deliver_decided(struct kr_deliver *d)
{
	d->stored = kr_xcalloc(d->dl->n_rcpts, sizeof(*d->stored));
	for (size_t i = 0; i < d->dl->n_rcpts; i++) {
		enum kr_verdict_kind kind = deliver_rcpt_verdict(d, i).kind;

		d->results[i].verdict = kind;
		if (kind == KR_VERDICT_REJECT)
			d->results[i].result = KR_DELIVER_REJECTED;
		else if (kind == KR_VERDICT_DEFER)
			d->results[i].result = KR_DELIVER_DEFERRED;
		else
			d->stored[d->n_stored++] = i;
	}
	if (d->n_stored == 0) {
		deliver_answer(d);
		return;
	}
	deliver_prepend(d);
}

static void
deliver_on_verdict(void *ctx, const struct kr_verdict *verdict)
{
	struct kr_deliver *d = ctx;

	d->verdict_req = NULL;
	d->verdict = *verdict;
	deliver_decided(d);
}

static void
deliver_verdict(struct kr_deliver *d)
{
	d->step = KR_DELIVER_STEP_VERDICT;
	if (kr_verdict_begin(&d->env->verdict, d->dl, d->sum, d->arena,
			     &d->verdict, &d->verdict_req, deliver_on_verdict,
			     d) == 1)
		deliver_decided(d);
}

/* ---- parse ---------------------------------------------------------- */

static void
deliver_parse_work(void *ctx)
{
	struct kr_deliver *d = ctx;
	struct kr_mime_limits lim;
	struct kr_err err;

	kr_mime_limits_init(&lim);
	lim.spam_text = d->env->verdict.wants_text;
	/* Malformed MIME is still stored raw, with whatever could be read
	 * (SPEC.md §3.1): a failed parse only means less metadata. */
	if (kr_mime_parse(d->dl->body, d->dl->body_len, &lim, d->arena, &d->sum,
			  &err) < 0)
		d->sum = NULL;
	/* Most messages are stored: hashing and compressing here saves
	 * the store a second trip (a refused message wasted the work). */
	d->packed = kr_store_body_pack(d->dl->body, d->dl->body_len);
}

static void
deliver_parse_done(void *ctx, int status)
{
	struct kr_deliver *d = ctx;

	d->job = NULL;
	if (status != 0) {
		deliver_answer(d); /* pool gone: worker stopping */
		return;
	}
	deliver_verdict(d);
}

static void
deliver_parse(struct kr_deliver *d)
{
	d->step = KR_DELIVER_STEP_PARSE;
	/* Parsing a large message would stall the loop: the cpu pool's
	 * job, unless it is small (cpu_if). A full pool sheds the message
	 * (a 4xx) rather than parse it here. */
	if (kr_tpool_cpu_if(d->env->cpu, d->dl->body_len, deliver_parse_work,
			    deliver_parse_done, d, &d->job, &d->err) < 0) {
		d->has_err = true;
		deliver_answer_later(d);
	}
}

/* ---- begin / cancel ------------------------------------------------- */

struct kr_deliver *
kr_deliver_begin(const struct kr_deliver_env *env, const struct kr_delivery *dl,
		 kr_deliver_fn *cb, void *ctx)
{
	struct kr_deliver *d = kr_xcalloc(1, sizeof(*d));

	d->env = env;
	d->dl = dl;
	d->cb = cb;
	d->ctx = ctx;
	d->arena = kr_arena_create(16 << 10, DELIVER_ARENA_MAX, false);
	d->verdict.kind = KR_VERDICT_HAM;
	d->results = kr_xcalloc(dl->n_rcpts, sizeof(*d->results));
	for (size_t i = 0; i < dl->n_rcpts; i++)
		d->results[i].result = KR_DELIVER_TEMPFAIL;
	if (env->store == NULL) {
		/* Nowhere to store: 4xx for everyone, no work. */
		d->step = KR_DELIVER_STEP_STORE;
		deliver_answer_later(d);
		return d;
	}
	deliver_parse(d);
	return d;
}

void
kr_deliver_cancel(struct kr_deliver **dp)
{
	struct kr_deliver *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;
	kr_tpool_cancel(&d->job);
	kr_verdict_cancel(&d->env->verdict, &d->verdict_req);
	kr_store_cancel(&d->op);
	deliver_free(d);
}
