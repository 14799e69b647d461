/* The module's state and its check: one token look-up per recipient
 * (each user has a statistic of his own), all started at once; the
 * check is done when every look-up has answered. A look-up that fails
 * gives that recipient no Bayes hit: never a failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/modules/bayes/bayes.h"

struct bayes_state {
	const struct kr_filter_host *host;
};

struct bayes_req;

/* One recipient's look-up; its arg. */
struct bayes_rcpt {
	struct bayes_req *req;
	size_t idx;
};

struct bayes_req {
	struct bayes_state *st;
	struct kr_filter_result *res;
	kr_filter_done_fn *done;
	void *ctx;
	size_t pending; /* look-ups not answered yet */
	/* Cancelled: the host's tokens_get cannot be called off, so the
	 * request lives on (quietly) until its last look-up answers. */
	bool cancelled;
	struct bayes_rcpt *rcpts;
	uint64_t hashes[KR_BAYES_TOKENS_MAX];
};

int
kr_bayes_open(const struct kr_filter_host *host,
	      const struct kr_filter_conf *conf, void **state_r, char *err,
	      size_t err_size)
{
	struct bayes_state *st;

	(void)conf;
	if (host->size < sizeof(*host) || host->tokens_get == NULL ||
	    host->rcpt_hit == NULL) {
		snprintf(err, err_size, "bayes: the host has no tokens_get");
		return -1;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		snprintf(err, err_size, "bayes: out of memory");
		return -1;
	}
	st->host = host;
	*state_r = st;
	return 0;
}

/* The tokenizer and the combining on known input: a message of spam
 * tokens against a statistic where they are all spam. */
int
kr_bayes_selftest(void *state, char *err, size_t err_size)
{
	static const char body[] = "cheap pills online viagra casino winner";
	const struct kr_filter_text text = { .body = body,
					     .body_len = sizeof(body) - 1 };
	const struct kr_filter_msg msg = { .text = &text };
	uint64_t h[16];
	uint32_t spam[16], ham[16];
	struct kr_filter_tokens t = { .n_spam = 10, .n_ham = 10, .hashes = h };
	double p;

	(void)state;
	t.n = kr_bayes_tokenize(&msg, h, 16);
	for (size_t i = 0; i < t.n; i++) {
		spam[i] = 10;
		ham[i] = 0;
	}
	t.spam = spam;
	t.ham = ham;
	p = kr_bayes_classify(&t);
	if (t.n != 6 || p < 0.99) {
		snprintf(err, err_size, "bayes: self-test: %zu tokens, p=%.3f",
			 t.n, p);
		return -1;
	}
	return 0;
}

void
kr_bayes_close(void *state)
{
	free(state);
}

static void
bayes_rcpt_result(struct bayes_req *r, size_t idx,
		  const struct kr_filter_tokens *t)
{
	const struct kr_filter_host *host = r->st->host;
	const struct kr_bayes_bucket *b, *b999;
	double p = kr_bayes_classify(t);
	char desc[128];

	if (p < 0.0)
		return; /* not trained enough */
	b = kr_bayes_bucket(p);
	snprintf(desc, sizeof(desc), "%s (%.4f)", b->desc, p);
	host->rcpt_hit(r->res, idx, b->name, b->score, desc);
	b999 = kr_bayes_bucket_999(p);
	if (b999 != NULL)
		host->rcpt_hit(r->res, idx, b999->name, b999->score,
			       b999->desc);
}

static void
bayes_req_free(struct bayes_req *r)
{
	free(r->rcpts);
	free(r);
}

static void
bayes_on_tokens(void *arg, const struct kr_filter_tokens *t, int ok)
{
	struct bayes_rcpt *rc = arg;
	struct bayes_req *r = rc->req;

	if (!r->cancelled && ok && t != NULL)
		bayes_rcpt_result(r, rc->idx, t);
	if (--r->pending > 0)
		return;
	if (r->cancelled)
		bayes_req_free(r);
	else {
		kr_filter_done_fn *done = r->done;
		void *ctx = r->ctx;

		bayes_req_free(r);
		done(ctx);
	}
}

int
kr_bayes_check(void *state, const struct kr_filter_msg *msg,
	       struct kr_filter_result *res, void **req_r,
	       kr_filter_done_fn *done, void *ctx)
{
	struct bayes_state *st = state;
	struct bayes_req *r;
	size_t n;

	if (msg->n_rcpts == 0)
		return 1;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return 1;
	r->rcpts = calloc(msg->n_rcpts, sizeof(*r->rcpts));
	n = kr_bayes_tokenize(msg, r->hashes, KR_BAYES_TOKENS_MAX);
	if (r->rcpts == NULL || n == 0) {
		bayes_req_free(r);
		return 1;
	}
	r->st = st;
	r->res = res;
	r->done = done;
	r->ctx = ctx;
	/* Counted before any start: a look-up answers only from a later
	 * loop turn, but one refused at once must not end the request. */
	r->pending = 1;
	for (size_t i = 0; i < msg->n_rcpts; i++) {
		r->rcpts[i] = (struct bayes_rcpt){ .req = r, .idx = i };
		r->pending++;
		if (st->host->tokens_get(st->host->ctx, msg->rcpts[i],
					 r->hashes, n, bayes_on_tokens,
					 &r->rcpts[i]) < 0)
			r->pending--;
	}
	if (--r->pending == 0) {
		bayes_req_free(r);
		return 1;
	}
	*req_r = r;
	return 0;
}

void
kr_bayes_cancel(void *state, void *req)
{
	struct bayes_req *r = req;

	(void)state;
	r->cancelled = true;
}

size_t
kr_bayes_tokens(void *state, const struct kr_filter_msg *msg, uint64_t *out,
		size_t max)
{
	(void)state;
	return kr_bayes_tokenize(msg, out, max);
}
