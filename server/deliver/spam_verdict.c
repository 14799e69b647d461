/* The antispam host as the delivery's verdict step: a delivery becomes
 * a struct kr_filter_msg, the host's per-recipient answer a
 * struct kr_verdict whose strings live in the delivery's arena. */
#include "server/deliver/spam_verdict.h"

#include <string.h>

#include "lib/arena.h"
#include "lib/err.h"
#include "proto/mime.h"
#include "server/deliver/deliver.h"

/* Where spam goes (SPEC.md §5). */
#define SPAM_FOLDER "Junk"

struct kr_verdict_req {
	struct kr_antispam_check *check;
	struct kr_arena *arena;
	struct kr_filter_msg msg;
	struct kr_filter_text text;
	kr_verdict_fn *cb;
	void *ctx;
};

static const enum kr_verdict_kind spam_kinds[] = {
	[KR_ANTISPAM_HAM] = KR_VERDICT_HAM,
	[KR_ANTISPAM_SPAM] = KR_VERDICT_SPAM,
	[KR_ANTISPAM_REJECT] = KR_VERDICT_REJECT,
	[KR_ANTISPAM_DEFER] = KR_VERDICT_DEFER,
};

/* The host's answer into the delivery's terms; NULL strings when the
 * arena is full (the message is then stored without the headers). */
static void
spam_convert(struct kr_verdict_req *req, const struct kr_antispam_verdict *v,
	     struct kr_verdict *out)
{
	struct kr_verdict_rcpt *rcpts =
		kr_arena_zalloc(req->arena, v->n * sizeof(*rcpts), NULL);

	*out = (struct kr_verdict){ .kind = KR_VERDICT_HAM,
				    .scored = true,
				    .tests = kr_arena_strdup(req->arena,
							     v->tests, NULL),
				    .generation = v->generation };
	if (rcpts == NULL)
		return;
	for (size_t i = 0; i < v->n; i++) {
		const struct kr_antispam_rcpt *r = &v->rcpts[i];
		enum kr_verdict_kind kind = spam_kinds[r->kind];

		rcpts[i] = (struct kr_verdict_rcpt){
			.kind = kind,
			.headers = kr_arena_memdup(req->arena, r->headers,
						   r->headers_len, NULL),
			.headers_len = r->headers_len,
			.folder = kind == KR_VERDICT_SPAM ? SPAM_FOLDER : NULL,
			.score = r->score,
		};
		if (rcpts[i].headers == NULL)
			rcpts[i].headers_len = 0;
		if (i == 0 || r->score > out->score)
			out->score = r->score;
		if (kind > out->kind)
			out->kind = kind; /* the message's: the strongest */
	}
	out->rcpts = rcpts;
}

static void
spam_on_verdict(void *ctx, const struct kr_antispam_verdict *v)
{
	struct kr_verdict_req *req = ctx;
	struct kr_verdict out;

	req->check = NULL;
	spam_convert(req, v, &out);
	req->cb(req->ctx, &out);
}

static void
spam_text(struct kr_filter_text *t, const struct kr_mime_summary *sum)
{
	const struct kr_mime_spam_text *s = sum != NULL ? sum->spam : NULL;

	if (s == NULL) {
		*t = (struct kr_filter_text){ "", 0, "", 0, "", 0, "", 0 };
		return;
	}
	*t = (struct kr_filter_text){
		.headers = s->headers,
		.headers_len = s->headers_len,
		.body = s->body,
		.body_len = s->body_len,
		.rawbody = s->rawbody,
		.rawbody_len = s->rawbody_len,
		.uris = s->uris,
		.uris_len = s->uris_len,
	};
}

static int
spam_begin(void *impl, const struct kr_delivery *dl,
	   const struct kr_mime_summary *sum, struct kr_arena *arena,
	   struct kr_verdict *verdict_r, struct kr_verdict_req **req_r,
	   kr_verdict_fn *cb, void *ctx)
{
	struct kr_verdict_req *req = kr_arena_zalloc(arena, sizeof(*req), NULL);
	const char **rcpts =
		kr_arena_zalloc(arena, dl->n_rcpts * sizeof(*rcpts), NULL);

	if (req == NULL || rcpts == NULL) {
		/* No room to ask: stored unjudged rather than lost. */
		*verdict_r = (struct kr_verdict){ .kind = KR_VERDICT_HAM };
		return 1;
	}
	for (size_t i = 0; i < dl->n_rcpts; i++)
		rcpts[i] = dl->rcpts[i].account;
	spam_text(&req->text, sum);
	req->msg = (struct kr_filter_msg){
		.req_id = dl->req_id,
		.client_addr = dl->client.addr,
		.client_helo = dl->client.helo,
		.client_name = dl->client.name,
		.sender = dl->sender,
		.rcpts = rcpts,
		.n_rcpts = dl->n_rcpts,
		.raw = dl->body,
		.raw_len = dl->body_len,
		.text = &req->text,
		.body_hash = sum != NULL && sum->spam != NULL
				     ? sum->spam->body_hash
				     : 0,
	};
	req->arena = arena;
	req->cb = cb;
	req->ctx = ctx;
	req->check =
		kr_antispam_check_begin(impl, &req->msg, spam_on_verdict, req);
	*req_r = req;
	return 0;
}

static void
spam_cancel(void *impl, struct kr_verdict_req **req)
{
	(void)impl;
	kr_antispam_check_cancel(&(*req)->check);
	*req = NULL;
}

static const struct kr_verdict_ops spam_ops = {
	.begin = spam_begin,
	.cancel = spam_cancel,
};

struct kr_verdict_step
kr_spam_verdict_step(struct kr_antispam *as)
{
	return (struct kr_verdict_step){ .ops = &spam_ops,
					 .impl = as,
					 .wants_text = true };
}
