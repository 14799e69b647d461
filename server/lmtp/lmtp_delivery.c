/* LMTP message -> neutral delivery -> LMTP replies, logs, metrics. */
#include "server/lmtp/lmtp_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "server/lmtp/lmtp_metrics.h"
#include "server/process_metrics.h"

/* The recipients' counters of kurier_lmtp_recipients_total. */
enum delivery_counter {
	DELIVERY_COUNT_OK,
	DELIVERY_COUNT_UNKNOWN,
	DELIVERY_COUNT_QUOTA,
	DELIVERY_COUNT_UNAVAILABLE,
};

/* The one table from neutral results to LMTP (SPEC.md §3.1, RFC 3463
 * codes in proto/lmtp.c): the reply at RCPT, the reply after DATA, each
 * also as it is with [lmtp] over_quota = permanent, and the counter. */
static const struct delivery_row {
	enum kr_lmtp_rcpt_result rcpt, rcpt_perm;
	enum kr_lmtp_deliver_result data, data_perm;
	enum delivery_counter counter;
} delivery_table[KR_DELIVER_RESULT_COUNT] = {
	[KR_DELIVER_DELIVERED] = { KR_LMTP_RCPT_OK, KR_LMTP_RCPT_OK,
				   KR_LMTP_DELIVER_OK, KR_LMTP_DELIVER_OK,
				   DELIVERY_COUNT_OK },
	[KR_DELIVER_UNKNOWN] = { KR_LMTP_RCPT_UNKNOWN, KR_LMTP_RCPT_UNKNOWN,
				 KR_LMTP_DELIVER_UNKNOWN,
				 KR_LMTP_DELIVER_UNKNOWN,
				 DELIVERY_COUNT_UNKNOWN },
	[KR_DELIVER_OVER_QUOTA] = { KR_LMTP_RCPT_OVER_QUOTA,
				    KR_LMTP_RCPT_OVER_QUOTA_PERM,
				    KR_LMTP_DELIVER_OVER_QUOTA,
				    KR_LMTP_DELIVER_OVER_QUOTA_PERM,
				    DELIVERY_COUNT_QUOTA },
	[KR_DELIVER_TOO_LARGE] = { KR_LMTP_RCPT_TOO_LARGE,
				   KR_LMTP_RCPT_TOO_LARGE,
				   KR_LMTP_DELIVER_TOO_LARGE,
				   KR_LMTP_DELIVER_TOO_LARGE,
				   DELIVERY_COUNT_UNAVAILABLE },
	[KR_DELIVER_REJECTED] = { KR_LMTP_RCPT_REJECT, KR_LMTP_RCPT_REJECT,
				  KR_LMTP_DELIVER_REJECT,
				  KR_LMTP_DELIVER_REJECT,
				  DELIVERY_COUNT_UNAVAILABLE },
	[KR_DELIVER_UNAVAILABLE] = { KR_LMTP_RCPT_UNAVAILABLE,
				     KR_LMTP_RCPT_UNAVAILABLE,
				     KR_LMTP_DELIVER_TEMPFAIL,
				     KR_LMTP_DELIVER_TEMPFAIL,
				     DELIVERY_COUNT_UNAVAILABLE },
	[KR_DELIVER_TEMPFAIL] = { KR_LMTP_RCPT_TEMPFAIL, KR_LMTP_RCPT_TEMPFAIL,
				  KR_LMTP_DELIVER_TEMPFAIL,
				  KR_LMTP_DELIVER_TEMPFAIL,
				  DELIVERY_COUNT_UNAVAILABLE },
	[KR_DELIVER_DEFERRED] = { KR_LMTP_RCPT_TEMPFAIL, KR_LMTP_RCPT_TEMPFAIL,
				  KR_LMTP_DELIVER_DEFER, KR_LMTP_DELIVER_DEFER,
				  DELIVERY_COUNT_UNAVAILABLE },
};

struct kr_lmtp_delivery {
	const struct kr_runtime *rt;
	const struct kr_lmtp_message *msg;
	const char *req_id;
	struct kr_arena *arena; /* the delivery's recipients */
	struct kr_delivery dl;
	struct kr_deliver *deliver;
	int64_t start_us;
	kr_lmtp_delivery_fn *cb;
	void *ctx;
};

static const struct delivery_row *
delivery_row(enum kr_deliver_result result)
{
	kr_assert((unsigned)result < KR_DELIVER_RESULT_COUNT);
	return &delivery_table[result];
}

static bool
delivery_quota_perm(const struct kr_config *cfg)
{
	return cfg->lmtp.over_quota == KR_CONFIG_OVER_QUOTA_PERMANENT;
}

enum kr_lmtp_rcpt_result
kr_lmtp_delivery_rcpt_reply(const struct kr_config *cfg,
			    enum kr_deliver_result result)
{
	const struct delivery_row *row = delivery_row(result);

	return delivery_quota_perm(cfg) ? row->rcpt_perm : row->rcpt;
}

enum kr_lmtp_deliver_result
kr_lmtp_delivery_data_reply(const struct kr_config *cfg,
			    enum kr_deliver_result result)
{
	const struct delivery_row *row = delivery_row(result);

	return delivery_quota_perm(cfg) ? row->data_perm : row->data;
}

static void
delivery_count(const struct kr_runtime *rt, enum kr_deliver_result result)
{
	const int ids[] = {
		[DELIVERY_COUNT_OK] = rt->lmtp_ids->rcpt_ok,
		[DELIVERY_COUNT_UNKNOWN] = rt->lmtp_ids->rcpt_unknown,
		[DELIVERY_COUNT_QUOTA] = rt->lmtp_ids->rcpt_quota,
		[DELIVERY_COUNT_UNAVAILABLE] = rt->lmtp_ids->rcpt_unavailable,
	};

	kr_metrics_inc(rt->slot, ids[delivery_row(result)->counter]);
}

enum kr_lmtp_rcpt_result
kr_lmtp_delivery_rcpt(const struct kr_runtime *rt, const char *req_id,
		      const char *rcpt, enum kr_deliver_result result,
		      const struct kr_err *err)
{
	struct kr_log_line line;

	if (result == KR_DELIVER_DELIVERED)
		return kr_lmtp_delivery_rcpt_reply(rt->cfg, result);
	delivery_count(rt, result);
	if (kr_log_begin(&line, rt->log, KR_LOG_WARN, req_id, "lmtp.rcpt")) {
		kr_log_str(&line, "rcpt", rcpt);
		kr_log_str(&line, "status", kr_deliver_result_name(result));
		if (err != NULL)
			kr_log_str(&line, "error", err->msg);
		kr_log_end(&line);
	}
	return kr_lmtp_delivery_rcpt_reply(rt->cfg, result);
}

/* The verdict's part of a delivery line (SPEC.md §5). */
static void
delivery_log_verdict(struct kr_log_line *line,
		     const struct kr_deliver_outcome *out, size_t i)
{
	static const char *const kinds[] = {
		[KR_VERDICT_HAM] = "ham",
		[KR_VERDICT_SPAM] = "spam",
		[KR_VERDICT_REJECT] = "reject",
		[KR_VERDICT_DEFER] = "defer",
	};
	const struct kr_verdict *v = out->detail;

	if (v == NULL || !v->scored)
		return;
	kr_log_str(line, "verdict", kinds[out->rcpts[i].verdict]);
	kr_log_fmt(line, "score", "%.1f",
		   v->rcpts != NULL ? v->rcpts[i].score : v->score);
	kr_log_str(line, "tests", v->tests != NULL ? v->tests : "");
	kr_log_uint(line, "generation", v->generation);
}

static void
delivery_log(const struct kr_lmtp_delivery *ld,
	     const struct kr_deliver_outcome *out, size_t i, int64_t ms)
{
	const struct kr_deliver_rcpt_result *r = &out->rcpts[i];
	struct kr_log_line line;

	if (!kr_log_begin(&line, ld->rt->log,
			  r->result == KR_DELIVER_DELIVERED ? KR_LOG_INFO
							    : KR_LOG_WARN,
			  ld->req_id, "lmtp.deliver"))
		return;
	kr_log_str(&line, "from", ld->msg->mail_from);
	kr_log_str(&line, "rcpt", ld->msg->rcpts[i].address);
	kr_log_str(&line, "status", kr_deliver_result_name(r->result));
	kr_log_uint(&line, "size", ld->msg->size);
	if (r->err != NULL && r->err->kind == KR_ERR_NONE) {
		kr_log_int(&line, "mailbox", r->mailbox_id);
		kr_log_int(&line, "uid", r->uid);
	} else if (r->err != NULL) {
		kr_log_str(&line, "error", r->err->msg);
	}
	delivery_log_verdict(&line, out, i);
	kr_log_int(&line, "ms", ms);
	kr_log_end(&line);
}

/* A step that ended the delivery early with a reason: one line. */
static void
delivery_log_ended(const struct kr_lmtp_delivery *ld,
		   const struct kr_deliver_outcome *out)
{
	if (out->err == NULL)
		return;
	if (out->ended == KR_DELIVER_STEP_PARSE)
		kr_log_msg(ld->rt->log, KR_LOG_WARN, ld->req_id, "lmtp.shed",
			   out->err->msg);
	else
		kr_log_msg(ld->rt->log, KR_LOG_ERROR, ld->req_id,
			   "lmtp.deliver_failed", out->err->msg);
}

static void
delivery_free(struct kr_lmtp_delivery *ld)
{
	kr_arena_destroy(&ld->arena);
	free(ld);
}

/* Logs, counts and answers; frees ld. */
static void
delivery_on_outcome(void *ctx, const struct kr_deliver_outcome *out)
{
	struct kr_lmtp_delivery *ld = ctx;
	const struct kr_runtime *rt = ld->rt;
	int64_t us = kr_clock_mono_us() - ld->start_us;
	enum kr_lmtp_deliver_result *replies =
		kr_xcalloc(out->n, sizeof(*replies));

	ld->deliver = NULL;
	delivery_log_ended(ld, out);
	for (size_t i = 0; i < out->n; i++) {
		replies[i] = kr_lmtp_delivery_data_reply(rt->cfg,
							 out->rcpts[i].result);
		delivery_count(rt, out->rcpts[i].result);
		delivery_log(ld, out, i, us / 1000);
	}
	kr_metrics_inc(rt->slot, rt->lmtp_ids->messages);
	kr_metrics_inc(rt->slot, rt->worker_ids->requests);
	kr_metrics_add(rt->slot, rt->lmtp_ids->bytes, ld->msg->size);
	kr_metrics_observe(rt->slot, rt->lmtp_ids->latency, (uint64_t)us);
	ld->cb(ld->ctx, replies, out->n);
	free(replies);
	delivery_free(ld);
}

/* From an arena without a cap: it fails only where malloc would. */
static void *
delivery_alloc(struct kr_arena *arena, size_t size)
{
	void *p = kr_arena_alloc(arena, size, NULL);

	if (p == NULL)
		kr_panic("lmtp: out of memory");
	return p;
}

/* The account is local@domain: +detail only picks the folder. */
static const struct kr_deliver_rcpt *
delivery_rcpts(struct kr_arena *arena, const struct kr_lmtp_message *msg)
{
	struct kr_deliver_rcpt *rcpts =
		delivery_alloc(arena, msg->rcpt_count * sizeof(*rcpts));

	for (size_t i = 0; i < msg->rcpt_count; i++) {
		const struct kr_lmtp_rcpt *r = &msg->rcpts[i];
		size_t an = strlen(r->local) + strlen(r->domain) + 2;
		char *account = delivery_alloc(arena, an);

		snprintf(account, an, "%s@%s", r->local, r->domain);
		rcpts[i] = (struct kr_deliver_rcpt){ .address = r->address,
						     .account = account,
						     .folder = r->detail,
						     .user_id = r->ref };
	}
	return rcpts;
}

/* Who handed the message over: the original client as Postfix's
 * XFORWARD names it, else the connection's peer. */
static struct kr_deliver_client
delivery_client(const struct kr_lmtp_xforward *xf, const char *peer)
{
	return (struct kr_deliver_client){
		.addr = xf->addr != NULL ? xf->addr : peer,
		.name = xf->name,
		.helo = xf->helo,
		.proto = xf->proto,
		.name_tempunavail = xf->name_tempunavail,
	};
}

void
kr_lmtp_delivery_from_message(const struct kr_lmtp_message *msg,
			      const char *peer, const char *req_id,
			      struct kr_deadline deadline,
			      struct kr_arena *arena, struct kr_delivery *dl_r)
{
	*dl_r = (struct kr_delivery){
		.sender = msg->mail_from,
		.rcpts = delivery_rcpts(arena, msg),
		.n_rcpts = msg->rcpt_count,
		.body = msg->data,
		.body_len = msg->size,
		.client = delivery_client(&msg->xforward, peer),
		.req_id = req_id,
		.deadline = deadline,
	};
}

struct kr_lmtp_delivery *
kr_lmtp_delivery_begin(const struct kr_deliver_env *env,
		       const struct kr_runtime *rt, const char *req_id,
		       const char *peer, const struct kr_lmtp_message *msg,
		       kr_lmtp_delivery_fn *cb, void *ctx)
{
	struct kr_lmtp_delivery *ld = kr_xcalloc(1, sizeof(*ld));

	ld->rt = rt;
	ld->msg = msg;
	ld->req_id = req_id;
	ld->cb = cb;
	ld->ctx = ctx;
	ld->start_us = kr_clock_mono_us();
	ld->arena = kr_arena_create(4096, 0, false);
	kr_lmtp_delivery_from_message(
		msg, peer, req_id,
		kr_deadline_after(ld->start_us,
				  rt->cfg->lmtp.delivery_timeout_ms),
		ld->arena, &ld->dl);
	ld->deliver = kr_deliver_begin(env, &ld->dl, delivery_on_outcome, ld);
	return ld;
}

void
kr_lmtp_delivery_cancel(struct kr_lmtp_delivery **ldp)
{
	struct kr_lmtp_delivery *ld = *ldp;

	if (ld == NULL)
		return;
	*ldp = NULL;
	kr_deliver_cancel(&ld->deliver);
	delivery_free(ld);
}
