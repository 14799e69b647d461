/* One message through one generation: every module asked at once, the
 * hits summed per recipient, the verdict and its header lines. */
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/hits.h"
#include "antispam/host_priv.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/tpool.h"

/* What one message may collect from all modules: hits, header lines
 * and their length; longer names and lines are cut. */
#define CHECK_HITS_MAX 512
#define CHECK_NAME_MAX 48
#define CHECK_HEADERS_MAX 8
#define CHECK_HEADER_MAX 998 /* RFC 5322 §2.1.1 */
#define CHECK_WHY_MAX 160
/* X-Spam-Status is folded before this column. */
#define CHECK_FOLD_AT 76

struct as_hit {
	char name[CHECK_NAME_MAX];
	double score;
	long rcpt; /* -1: every recipient */
};

/* What one module reported: its own, so that a module running on the
 * cpu pool writes nothing the loop reads until it is done. */
struct kr_filter_result {
	size_t n_rcpts;
	struct as_hit *hits; /* grown up to CHECK_HITS_MAX */
	size_t n_hits, cap;
	char *headers[CHECK_HEADERS_MAX];
	size_t n_headers;
	char defer_why[CHECK_WHY_MAX];
};

/* One module's part of a check. */
struct as_slot {
	struct kr_antispam_check *c;
	struct as_module *m;
	struct kr_filter_result res;
	void *req;
	struct kr_tpool_job *job; /* a KR_FILTER_F_CPU check on the pool */
	bool pending;
};

struct kr_antispam_check {
	struct kr_antispam *as;
	struct kr_antispam_gen *gen;
	const struct kr_filter_msg *msg;
	struct as_slot slots[AS_MODULES_MAX];
	size_t pending;
	bool starting; /* inside begin: answers wait for the loop */
	/* Every module's results, merged when the last is done. */
	struct kr_filter_result all;
	struct event *timer; /* the deadline, or the answer's turn */
	int64_t started_us;
	kr_antispam_fn *cb;
	void *ctx;
};

/* ---- results from modules ------------------------------------------- */

/* Test names go into headers and metrics: [A-Za-z0-9_] only. */
static void
result_name(char *dst, const char *src)
{
	size_t i = 0;

	for (; src != NULL && src[i] != '\0' && i < CHECK_NAME_MAX - 1; i++) {
		char ch = src[i];
		bool ok = (ch >= 'A' && ch <= 'Z') ||
			  (ch >= 'a' && ch <= 'z') ||
			  (ch >= '0' && ch <= '9') || ch == '_';

		dst[i] = ok ? ch : '_';
	}
	dst[i] = '\0';
}

static void
result_add(struct kr_filter_result *res, long rcpt, const char *name,
	   double score)
{
	struct as_hit *h;

	if (res->n_hits == CHECK_HITS_MAX || score != score)
		return; /* bounded; NaN is no score */
	if (res->n_hits == res->cap) {
		res->cap = res->cap == 0 ? 16 : res->cap * 2;
		res->hits = kr_xrealloc(res->hits, res->cap * sizeof(*h));
	}
	h = &res->hits[res->n_hits++];
	result_name(h->name, name);
	h->score = score;
	h->rcpt = rcpt;
}

static void
result_hit(struct kr_filter_result *res, const char *name, double score,
	   const char *desc)
{
	(void)desc;
	result_add(res, -1, name, score);
}

static void
result_rcpt_hit(struct kr_filter_result *res, size_t rcpt, const char *name,
		double score, const char *desc)
{
	(void)desc;
	if (rcpt < res->n_rcpts)
		result_add(res, (long)rcpt, name, score);
}

/* A module's header line, kept to one printable line of "Name: value". */
static void
result_header(struct kr_filter_result *res, const char *line)
{
	size_t len = strnlen(line, CHECK_HEADER_MAX);
	const char *colon = memchr(line, ':', len);
	char *copy;

	if (res->n_headers == CHECK_HEADERS_MAX || colon == NULL ||
	    colon == line)
		return;
	copy = kr_xmalloc(len + 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		copy[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
	}
	copy[len] = '\0';
	res->headers[res->n_headers++] = copy;
}

static void
result_defer(struct kr_filter_result *res, const char *why)
{
	if (res->defer_why[0] == '\0')
		snprintf(res->defer_why, sizeof(res->defer_why), "%s",
			 why != NULL && why[0] != '\0' ? why : "deferred");
}

void
as_host_results(struct kr_filter_host *host)
{
	host->hit = result_hit;
	host->rcpt_hit = result_rcpt_hit;
	host->header = result_header;
	host->defer = result_defer;
}

/* ---- the verdict ---------------------------------------------------- */

static int
hit_cmp(const void *a, const void *b)
{
	return strcmp(((const struct as_hit *)a)->name,
		      ((const struct as_hit *)b)->name);
}

/* Appends to a growing string; the caller frees. */
struct as_buf {
	char *p;
	size_t len, cap;
};

static void
buf_add(struct as_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = kr_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_fmt(struct as_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
buf_fmt(struct as_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_add(b, tmp,
			(size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* The sum of rcpt's hits. */
static double
verdict_score(const struct kr_antispam_check *c, long rcpt)
{
	double score = 0;

	for (size_t i = 0; i < c->all.n_hits; i++)
		if (c->all.hits[i].rcpt == -1 || c->all.hits[i].rcpt == rcpt)
			score += c->all.hits[i].score;
	return score;
}

/* "tests=A,B,..." of rcpt's hits (sorted), folded like SpamAssassin's;
 * col is the line's column so far. */
static void
verdict_tests(const struct kr_antispam_check *c, long rcpt, struct as_buf *b,
	      size_t col)
{
	const char *prev = "";
	bool any = false;

	buf_add(b, "tests=", 6);
	col += 6;
	for (size_t i = 0; i < c->all.n_hits; i++) {
		const struct as_hit *h = &c->all.hits[i];
		size_t n = strlen(h->name);

		if ((h->rcpt != -1 && h->rcpt != rcpt) ||
		    strcmp(h->name, prev) == 0)
			continue; /* a rule that hit twice is named once */
		prev = h->name;
		if (any) {
			buf_add(b, ",", 1);
			col++;
			if (col + n > CHECK_FOLD_AT) {
				buf_add(b, "\r\n\t", 3);
				col = 8;
			}
		}
		buf_add(b, h->name, n);
		col += n;
		any = true;
	}
	if (!any)
		buf_add(b, "none", 4);
}

static enum kr_antispam_kind
verdict_kind(const struct kr_antispam_check *c, double score)
{
	if (c->all.defer_why[0] != '\0')
		return KR_ANTISPAM_DEFER;
	if (score >= c->gen->reject_score)
		return KR_ANTISPAM_REJECT;
	if (score >= c->gen->spam_score)
		return KR_ANTISPAM_SPAM;
	return KR_ANTISPAM_HAM;
}

/* One recipient's verdict and header lines into out (b owns them). */
static void
verdict_rcpt(const struct kr_antispam_check *c, long rcpt, struct as_buf *b,
	     struct kr_antispam_rcpt *out)
{
	double score = verdict_score(c, rcpt);
	char head[160];
	int n;

	out->kind = verdict_kind(c, score);
	out->score = score;
	for (size_t i = 0; i < c->all.n_headers; i++) {
		buf_add(b, c->all.headers[i], strlen(c->all.headers[i]));
		buf_add(b, "\r\n", 2);
	}
	if (out->kind == KR_ANTISPAM_SPAM || out->kind == KR_ANTISPAM_REJECT)
		buf_add(b, "X-Spam-Flag: YES\r\n", 18);
	buf_fmt(b, "X-Spam-Score: %.1f\r\n", score);
	n = snprintf(head, sizeof(head),
		     "X-Spam-Status: %s, score=%.1f required=%.1f ",
		     out->kind == KR_ANTISPAM_HAM ? "No" : "Yes", score,
		     c->gen->spam_score);
	buf_add(b, head, (size_t)n);
	verdict_tests(c, rcpt, b, (size_t)n);
	buf_add(b, "\r\n", 2);
}

/* Every test that hit any recipient, for the log line and the hit
 * counts (once per message). */
static void
verdict_all_tests(const struct kr_antispam_check *c, struct as_buf *b)
{
	const char *prev = "";

	buf_add(b, "", 0);
	for (size_t i = 0; i < c->all.n_hits; i++) {
		if (strcmp(c->all.hits[i].name, prev) == 0)
			continue;
		prev = c->all.hits[i].name;
		kr_hits_add(c->as->env.hits, prev, 1);
		if (b->len > 0)
			buf_add(b, ",", 1);
		buf_add(b, prev, strlen(prev));
	}
}

static void check_free(struct kr_antispam_check *c);

/* Every module's results into the check's, in module order; the slots
 * give up their header lines. */
static void
check_merge(struct kr_antispam_check *c)
{
	size_t total = 0;

	for (size_t i = 0; i < c->gen->n_mods; i++)
		total += c->slots[i].res.n_hits;
	/* One more: calloc(0) may give NULL, and qsort wants a base. */
	c->all.hits = kr_xcalloc(total + 1, sizeof(c->all.hits[0]));
	for (size_t i = 0; i < c->gen->n_mods; i++) {
		struct kr_filter_result *r = &c->slots[i].res;
		size_t n = r->n_hits;

		if (n > CHECK_HITS_MAX - c->all.n_hits)
			n = CHECK_HITS_MAX - c->all.n_hits;
		if (n > 0) /* hits is NULL when the module hit nothing */
			memcpy(c->all.hits + c->all.n_hits, r->hits,
			       n * sizeof(r->hits[0]));
		c->all.n_hits += n;
		for (size_t j = 0; j < r->n_headers; j++) {
			if (c->all.n_headers < CHECK_HEADERS_MAX)
				c->all.headers[c->all.n_headers++] =
					r->headers[j];
			else
				free(r->headers[j]);
		}
		r->n_headers = 0;
		if (c->all.defer_why[0] == '\0')
			memcpy(c->all.defer_why, r->defer_why,
			       sizeof(c->all.defer_why));
	}
}

static void
check_answer(struct kr_antispam_check *c)
{
	size_t n = c->msg->n_rcpts;
	struct kr_antispam_rcpt *rcpts = kr_xcalloc(n, sizeof(*rcpts));
	struct as_buf *bufs = kr_xcalloc(n, sizeof(*bufs));
	struct as_buf all = { 0 };
	struct kr_antispam_verdict v = {
		.rcpts = rcpts,
		.n = n,
		.generation = c->gen->id,
		.defer_why =
			c->all.defer_why[0] != '\0' ? c->all.defer_why : NULL,
	};

	check_merge(c);
	qsort(c->all.hits, c->all.n_hits, sizeof(c->all.hits[0]), hit_cmp);
	for (size_t i = 0; i < n; i++) {
		verdict_rcpt(c, (long)i, &bufs[i], &rcpts[i]);
		rcpts[i].headers = bufs[i].p;
		rcpts[i].headers_len = bufs[i].len;
		if (c->as->env.ids != NULL)
			as_count(c->as, c->as->env.ids->verdict[rcpts[i].kind],
				 1);
	}
	verdict_all_tests(c, &all);
	v.tests = all.p != NULL ? all.p : "";
	if (c->as->env.ids != NULL)
		as_observe(c->as, c->as->env.ids->check_us,
			   (uint64_t)(kr_clock_mono_us() - c->started_us));
	c->cb(c->ctx, &v);
	for (size_t i = 0; i < n; i++)
		free(bufs[i].p);
	free(bufs);
	free(rcpts);
	free(all.p);
	check_free(c);
}

/* ---- the check ------------------------------------------------------ */

static void
check_cancel_pending(struct kr_antispam_check *c, bool log_timeout)
{
	for (size_t i = 0; i < c->gen->n_mods; i++) {
		struct as_slot *s = &c->slots[i];

		if (!s->pending)
			continue;
		if (s->job != NULL)
			kr_tpool_cancel(&s->job); /* waits if it runs */
		else
			s->m->mod->cancel(s->m->state, s->req);
		s->pending = false;
		if (log_timeout)
			kr_log_msg(c->as->env.log, KR_LOG_WARN, c->msg->req_id,
				   "antispam.module_timeout", s->m->name);
	}
	c->pending = 0;
}

static void
check_free(struct kr_antispam_check *c)
{
	struct kr_antispam_gen *gen = c->gen;

	check_cancel_pending(c, false);
	if (c->timer != NULL)
		event_free(c->timer);
	for (size_t i = 0; i < c->all.n_headers; i++)
		free(c->all.headers[i]);
	free(c->all.hits);
	for (size_t i = 0; i < gen->n_mods; i++) {
		struct kr_filter_result *r = &c->slots[i].res;

		for (size_t j = 0; j < r->n_headers; j++)
			free(r->headers[j]);
		free(r->hits);
	}
	free(c);
	as_gen_put(gen);
}

/* The deadline passed, or every module answered during begin. */
static void
check_on_timer(evutil_socket_t fd, short what, void *ctx)
{
	struct kr_antispam_check *c = ctx;

	(void)fd;
	(void)what;
	check_cancel_pending(c, true);
	check_answer(c);
}

static void
check_on_done(void *ctx)
{
	struct as_slot *s = ctx;
	struct kr_antispam_check *c = s->c;

	if (!s->pending)
		return; /* a module answering twice */
	s->pending = false;
	if (--c->pending > 0 || c->starting)
		return;
	check_answer(c);
}

/* A KR_FILTER_F_CPU module's check, on the cpu pool. */
static void
check_cpu_work(void *ctx)
{
	struct as_slot *s = ctx;
	void *req = NULL;

	/* Such a module answers at once; one that does not breaks the
	 * ABI and gets no second chance (its answer is what it wrote). */
	(void)s->m->mod->check(s->m->state, s->c->msg, &s->res, &req,
			       check_on_done, s);
}

static void
check_cpu_done(void *ctx, int status)
{
	struct as_slot *s = ctx;

	(void)status; /* a stopping pool: the module's results are empty */
	s->job = NULL;
	check_on_done(s);
}

/* Asks one module: 1 when it answered at once, 0 when later. */
static int
check_start(struct kr_antispam_check *c, struct as_slot *s)
{
	struct kr_err err;

	if ((s->m->mod->flags & KR_FILTER_F_CPU) != 0 &&
	    c->as->env.cpu != NULL &&
	    kr_tpool_cpu_if(c->as->env.cpu, c->msg->raw_len, check_cpu_work,
			    check_cpu_done, s, &s->job, &err) == 0)
		return 0;
	/* On the loop: the module's way, or a full pool's fallback. */
	return s->m->mod->check(s->m->state, c->msg, &s->res, &s->req,
				check_on_done, s);
}

struct kr_antispam_check *
kr_antispam_check_begin(struct kr_antispam *as, const struct kr_filter_msg *msg,
			kr_antispam_fn *cb, void *ctx)
{
	struct kr_antispam_check *c = kr_xcalloc(1, sizeof(*c));
	struct kr_antispam_gen *gen = as->cur;
	struct timeval tv = { 0, 0 };

	as_gen_hold(gen);
	*c = (struct kr_antispam_check){ .as = as,
					 .gen = gen,
					 .msg = msg,
					 .cb = cb,
					 .ctx = ctx,
					 .started_us = kr_clock_mono_us(),
					 .starting = true };
	c->timer = evtimer_new(as->env.base, check_on_timer, c);
	if (c->timer == NULL)
		kr_panic("out of memory");
	for (size_t i = 0; i < gen->n_mods; i++) {
		struct as_slot *s = &c->slots[i];

		*s = (struct as_slot){ .c = c, .m = gen->mods[i] };
		s->res.n_rcpts = msg->n_rcpts;
		s->pending = true;
		c->pending++;
		if (check_start(c, s) != 0) {
			s->pending = false;
			c->pending--;
		}
	}
	c->starting = false;
	if (c->pending > 0) {
		tv.tv_sec = gen->timeout_ms / 1000;
		tv.tv_usec = (gen->timeout_ms % 1000) * 1000;
	}
	evtimer_add(c->timer, &tv);
	return c;
}

void
kr_antispam_check_cancel(struct kr_antispam_check **c)
{
	if (*c == NULL)
		return;
	check_free(*c);
	*c = NULL;
}
