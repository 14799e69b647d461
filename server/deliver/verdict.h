/* The verdict step of a delivery (SPEC.md §2, §5): one decision per
 * message, after it was parsed and before anything is stored — ham,
 * spam or reject, header lines for every stored copy and the folder
 * the copies go to. A filter plugs in as a struct kr_verdict_ops (the
 * antispam issue's); without one the built-in kr_verdict_ham() accepts
 * everything as ham and adds nothing. Worker loop only. */
#ifndef KR_VERDICT_H
#define KR_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kr_arena;
struct kr_delivery;
struct kr_mime_summary;
struct kr_verdict_req;

enum kr_verdict_kind {
	KR_VERDICT_HAM,	   /* store as it is */
	KR_VERDICT_SPAM,   /* store, with the headers and folder below */
	KR_VERDICT_REJECT, /* store nothing: every recipient REJECTED */
	KR_VERDICT_DEFER,  /* store nothing: every recipient DEFERRED */
};

/* One recipient's part of a verdict (filters that judge per user). */
struct kr_verdict_rcpt {
	enum kr_verdict_kind kind;
	const char *headers; /* as struct kr_verdict's */
	size_t headers_len;
	const char *folder;
	double score;
};

/* What a filter decided; its strings live in the delivery's arena (or
 * in the filter) until the delivery has answered. */
struct kr_verdict {
	enum kr_verdict_kind kind;
	/* Header lines, each ending in CRLF (X-Spam-Status, ...), put in
	 * every recipient's copy after Return-Path and Delivered-To;
	 * NULL / 0: none. */
	const char *headers;
	size_t headers_len;
	/* The mailbox every copy goes to ("Junk"); NULL: each
	 * recipient's own (its folder, or INBOX). */
	const char *folder;
	/* NULL, or one entry per recipient in the delivery's order that
	 * replaces kind, headers and folder above for that recipient. */
	const struct kr_verdict_rcpt *rcpts;
	/* For the delivery's log line: whether a filter scored the message,
	 * its highest score, the tests that hit ("A,B"), the filter
	 * generation that judged it. */
	bool scored;
	double score;
	const char *tests;
	uint64_t generation;
};

/* The verdict of a filter that decides later. */
typedef void kr_verdict_fn(void *ctx, const struct kr_verdict *verdict);

/* A filter. begin decides for dl (sender, recipients, body, client
 * facts, request id, deadline: all borrowed until it answers or is
 * cancelled) with sum, the parsed message (NULL when it could not be
 * parsed). It returns 1 when the verdict is known at once: it is in
 * *verdict_r and cb never fires. It returns 0 when the verdict comes
 * later: *req_r is set and cb fires exactly once, from the loop, never
 * before begin returns, unless cancel runs first (after which it never
 * fires). A filter that cannot decide in time chooses a verdict itself
 * (by its own policy, within dl's deadline); there is no failure. */
struct kr_verdict_ops {
	int (*begin)(void *impl, const struct kr_delivery *dl,
		     const struct kr_mime_summary *sum, struct kr_arena *arena,
		     struct kr_verdict *verdict_r,
		     struct kr_verdict_req **req_r, kr_verdict_fn *cb,
		     void *ctx);
	void (*cancel)(void *impl, struct kr_verdict_req **req);
};

/* The filter a delivery asks, with its state. ops NULL: the built-in. */
struct kr_verdict_step {
	const struct kr_verdict_ops *ops;
	void *impl;
	/* The filter reads the antispam view of the message: the parse
	 * builds summary->spam too. */
	bool wants_text;
};

/* The built-in filter: every message ham, no headers, no folder;
 * always at once. Static, never freed. */
const struct kr_verdict_ops *kr_verdict_ham(void);

/* Asks step's filter (the built-in when step or its ops is NULL); the
 * contract of struct kr_verdict_ops begin. */
int kr_verdict_begin(const struct kr_verdict_step *step,
		     const struct kr_delivery *dl,
		     const struct kr_mime_summary *sum, struct kr_arena *arena,
		     struct kr_verdict *verdict_r,
		     struct kr_verdict_req **req_r, kr_verdict_fn *cb,
		     void *ctx);
/* No callback afterwards; sets *req to NULL. NULL *req is fine. */
void kr_verdict_cancel(const struct kr_verdict_step *step,
		       struct kr_verdict_req **req);

#endif
