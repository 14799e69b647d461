/* Delivery pipeline: parse once, deliver with group commit, answer per
 * recipient. */
#include "server/deliver/deliver.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/tpool.h"
#include "proto/mime.h"
#include "server/deliver/msgmeta.h"
#include "server/lmtp/lmtp_metrics.h"
#include "server/worker.h"
#include "storage/store.h"

/* Metadata, prefixes and results of one transaction; the message
 * itself stays in the state machine's buffer. */
#define DELIVER_ARENA_MAX (8 << 20)

struct kr_deliver {
	struct kr_runtime *rt;
	struct kr_store *store;
	const struct kr_lmtp_message *msg;
	char req_id[32];
	struct kr_arena *arena;
	struct kr_tpool_job *job;
	struct kr_store_op *op;
	struct event *shed;
	struct kr_mime_summary *sum; /* NULL when parsing failed */
	int64_t start_us;
	enum kr_lmtp_deliver_result *results;
	kr_deliver_fn *cb;
	void *ctx;
};

static void
deliver_free(struct kr_deliver *d)
{
	if (d->shed != NULL)
		event_free(d->shed);
	kr_arena_destroy(&d->arena);
	free(d->results);
	free(d);
}

static enum kr_lmtp_deliver_result
deliver_map(const struct kr_runtime *rt, const struct kr_err *err)
{
	switch (err->kind) {
	case KR_ERR_NONE:
		return KR_LMTP_DELIVER_OK;
	case KR_ERR_NOT_FOUND:
		return KR_LMTP_DELIVER_UNKNOWN;
	case KR_ERR_TOO_LARGE:
		return KR_LMTP_DELIVER_TOO_LARGE;
	case KR_ERR_QUOTA:
		return rt->cfg->lmtp.over_quota ==
				       KR_CONFIG_OVER_QUOTA_PERMANENT
			       ? KR_LMTP_DELIVER_OVER_QUOTA_PERM
			       : KR_LMTP_DELIVER_OVER_QUOTA;
	default:
		/* Anything else, and anything we cannot be sure was not
		 * stored, is temporary: Postfix retries; nothing is lost. */
		return KR_LMTP_DELIVER_TEMPFAIL;
	}
}

static int
deliver_metric(const struct kr_runtime *rt, enum kr_lmtp_deliver_result r)
{
	switch (r) {
	case KR_LMTP_DELIVER_OK:
		return rt->lmtp_ids->rcpt_ok;
	case KR_LMTP_DELIVER_UNKNOWN:
		return rt->lmtp_ids->rcpt_unknown;
	case KR_LMTP_DELIVER_OVER_QUOTA:
	case KR_LMTP_DELIVER_OVER_QUOTA_PERM:
		return rt->lmtp_ids->rcpt_quota;
	default:
		return rt->lmtp_ids->rcpt_unavailable;
	}
}

static void
deliver_log(struct kr_deliver *d, size_t i,
	    const struct kr_store_rcpt_result *r, int64_t ms)
{
	static const char *const names[] = {
		[KR_LMTP_DELIVER_OK] = "delivered",
		[KR_LMTP_DELIVER_TEMPFAIL] = "tempfail",
		[KR_LMTP_DELIVER_OVER_QUOTA] = "over_quota",
		[KR_LMTP_DELIVER_OVER_QUOTA_PERM] = "over_quota",
		[KR_LMTP_DELIVER_REJECT] = "rejected",
		[KR_LMTP_DELIVER_UNKNOWN] = "unknown",
		[KR_LMTP_DELIVER_TOO_LARGE] = "too_large",
	};
	struct kr_log_line line;

	if (!kr_log_begin(&line, d->rt->log,
			  d->results[i] == KR_LMTP_DELIVER_OK ? KR_LOG_INFO
							      : KR_LOG_WARN,
			  d->req_id, "lmtp.deliver"))
		return;
	kr_log_str(&line, "from", d->msg->mail_from);
	kr_log_str(&line, "rcpt", d->msg->rcpts[i].address);
	kr_log_str(&line, "status", names[d->results[i]]);
	kr_log_uint(&line, "size", d->msg->size);
	if (r != NULL && r->err.kind == KR_ERR_NONE) {
		kr_log_int(&line, "mailbox", r->mailbox_id);
		kr_log_int(&line, "uid", r->uid);
	} else if (r != NULL) {
		kr_log_str(&line, "error", r->err.msg);
	}
	kr_log_int(&line, "ms", ms);
	kr_log_end(&line);
}

/* Logs, counts and answers; frees d. */
static void
deliver_finish(struct kr_deliver *d, const struct kr_store_deliver_result *res)
{
	struct kr_runtime *rt = d->rt;
	int64_t us = kr_clock_mono_us() - d->start_us;
	size_t n = d->msg->rcpt_count;

	for (size_t i = 0; i < n; i++) {
		const struct kr_store_rcpt_result *r =
			res != NULL && i < res->n ? &res->rcpts[i] : NULL;

		if (r != NULL)
			d->results[i] = deliver_map(rt, &r->err);
		kr_metrics_inc(rt->slot, deliver_metric(rt, d->results[i]));
		deliver_log(d, i, r, us / 1000);
	}
	kr_metrics_inc(rt->slot, rt->lmtp_ids->messages);
	kr_metrics_inc(rt->slot, rt->worker_ids->requests);
	kr_metrics_add(rt->slot, rt->lmtp_ids->bytes, d->msg->size);
	kr_metrics_observe(rt->slot, rt->lmtp_ids->latency, (uint64_t)us);
	d->cb(d->ctx, d->results, (unsigned)n);
	deliver_free(d);
}

static void
deliver_on_stored(void *ctx, const struct kr_store_deliver_result *res,
		  const struct kr_err *err)
{
	struct kr_deliver *d = ctx;

	d->op = NULL;
	if (err != NULL)
		kr_log_msg(d->rt->log, KR_LOG_ERROR, d->req_id,
			   "lmtp.deliver_failed", err->msg);
	deliver_finish(d, err != NULL ? NULL : res);
}

/* Return-Path and Delivered-To (RFC 5321 §4.4, the Postfix/Dovecot
 * convention): per recipient, ahead of the shared body. */
static int
deliver_rcpts(struct kr_deliver *d, struct kr_store_rcpt *rcpts)
{
	for (size_t i = 0; i < d->msg->rcpt_count; i++) {
		const struct kr_lmtp_rcpt *r = &d->msg->rcpts[i];
		size_t n = strlen(d->msg->mail_from) + strlen(r->address) + 64;
		size_t an = strlen(r->local) + strlen(r->domain) + 2;
		char *p = kr_arena_alloc(d->arena, n, NULL);
		char *account = kr_arena_alloc(d->arena, an, NULL);
		int len;

		if (p == NULL || account == NULL)
			return -1;
		/* The account is local@domain; +detail only picks the
		 * folder. Delivered-To keeps the address as sent. */
		snprintf(account, an, "%s@%s", r->local, r->domain);
		len = snprintf(p, n,
			       "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
			       d->msg->mail_from, r->address);
		rcpts[i] = (struct kr_store_rcpt){ .address = account,
						   .folder = r->detail,
						   .prefix = p,
						   .prefix_len = (size_t)len };
	}
	return 0;
}

static void
deliver_store(struct kr_deliver *d)
{
	const struct kr_config *cfg = d->rt->cfg;
	size_t n = d->msg->rcpt_count;
	struct kr_store_rcpt *rcpts =
		kr_arena_zalloc(d->arena, n * sizeof(*rcpts), NULL);
	struct kr_store_meta meta = { 0 };
	struct kr_store_delivery dl;

	if (d->store == NULL || rcpts == NULL || deliver_rcpts(d, rcpts) < 0 ||
	    kr_msgmeta_from_summary(d->sum, d->arena, &meta) < 0) {
		deliver_finish(d, NULL);
		return;
	}
	dl = (struct kr_store_delivery){
		.body = (const unsigned char *)d->msg->data,
		.body_len = d->msg->size,
		.rcpts = rcpts,
		.n_rcpts = (unsigned)n,
		.meta = &meta,
	};
	d->op = kr_store_deliver_begin(
		d->store, &dl, d->arena,
		kr_deadline_after(kr_clock_mono_us(),
				  cfg->lmtp.delivery_timeout_ms),
		deliver_on_stored, d);
}

static void
deliver_parse_work(void *ctx)
{
	struct kr_deliver *d = ctx;
	struct kr_mime_limits lim;
	struct kr_err err;

	kr_mime_limits_init(&lim);
	/* Malformed MIME is still stored raw, with whatever could be read
	 * (SPEC.md §3.1): a failed parse only means less metadata. */
	if (kr_mime_parse(d->msg->data, d->msg->size, &lim, d->arena, &d->sum,
			  &err) < 0)
		d->sum = NULL;
}

static void
deliver_parse_done(void *ctx, int status)
{
	struct kr_deliver *d = ctx;

	d->job = NULL;
	if (status != 0) {
		deliver_finish(d, NULL); /* pool gone: worker stopping */
		return;
	}
	deliver_store(d);
}

/* The cpu pool was full: 451 for everyone, from the next loop turn. */
static void
deliver_on_shed(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	deliver_finish(ctx, NULL);
}

struct kr_deliver *
kr_deliver_begin(struct event_base *base, struct kr_runtime *rt,
		 struct kr_store *store, struct kr_tpool *cpu,
		 const char *req_id, const struct kr_lmtp_event *ev,
		 kr_deliver_fn *cb, void *ctx)
{
	struct kr_deliver *d = kr_xcalloc(1, sizeof(*d));
	size_t n = ev->message.rcpt_count;
	struct kr_err err;

	d->rt = rt;
	d->store = store;
	d->msg = &ev->message;
	d->cb = cb;
	d->ctx = ctx;
	d->start_us = kr_clock_mono_us();
	snprintf(d->req_id, sizeof(d->req_id), "%s", req_id);
	d->arena = kr_arena_create(16 << 10, DELIVER_ARENA_MAX, false);
	d->results = kr_xcalloc(n, sizeof(*d->results));
	for (size_t i = 0; i < n; i++)
		d->results[i] = KR_LMTP_DELIVER_TEMPFAIL;
	/* Parsing a large message would stall the loop: the cpu pool's
	 * job, unless it is small (cpu_if). A full pool sheds the message
	 * with 451 rather than parse it here. */
	if (kr_tpool_cpu_if(cpu, d->msg->size, deliver_parse_work,
			    deliver_parse_done, d, &d->job, &err) < 0) {
		kr_log_msg(rt->log, KR_LOG_WARN, d->req_id, "lmtp.shed",
			   err.msg);
		d->shed = evtimer_new(base, deliver_on_shed, d);
		if (d->shed == NULL)
			kr_panic("deliver: evtimer_new failed");
		event_active(d->shed, EV_TIMEOUT, 0);
	}
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
	kr_store_cancel(&d->op);
	deliver_free(d);
}
