/* The delivery pipeline of SPEC.md §2, protocol-neutral: one message
 * from one sender to its recipients, whichever front received it (LMTP
 * today). Its steps, in order: parse the message once (proto/mime, on
 * the cpu pool when large), ask the verdict step (verdict.h), prepend
 * Return-Path, Delivered-To and the verdict's headers per recipient,
 * store through the store's group commit, answer one neutral result
 * per recipient. The caller maps results to its protocol, logs and
 * counts them. Worker loop only. */
#ifndef KR_DELIVER_H
#define KR_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/deadline.h"
#include "lib/err.h"
#include "server/deliver/verdict.h"

struct event_base;
struct kr_store;
struct kr_store_user_get_result;
struct kr_tpool;
struct kr_deliver;

/* What became of one recipient, in terms any front can answer. */
enum kr_deliver_result {
	KR_DELIVER_DELIVERED,	/* committed (durable); checked: accepted */
	KR_DELIVER_UNKNOWN,	/* no such user */
	KR_DELIVER_OVER_QUOTA,	/* the user's quota is used up */
	KR_DELIVER_TOO_LARGE,	/* the stored copy would pass the store's
				 * size limit */
	KR_DELIVER_REJECTED,	/* refused by policy (the verdict) */
	KR_DELIVER_UNAVAILABLE, /* the check could not reach the user */
	KR_DELIVER_TEMPFAIL,	/* anything else, maybe stored: retry */
	KR_DELIVER_DEFERRED,	/* not now by policy (rate limits): retry */
};
#define KR_DELIVER_RESULT_COUNT (KR_DELIVER_DEFERRED + 1)

/* The result's name in log lines: "delivered", "unknown",
 * "over_quota", "too_large", "rejected", "unavailable", "tempfail". */
const char *kr_deliver_result_name(enum kr_deliver_result result);

/* The one mapping of error kinds (lib/err.h) to results: none is
 * delivered, not-found unknown, quota over quota, too-large too large,
 * anything else a temporary failure (nothing is lost: the sender
 * retries). */
enum kr_deliver_result kr_deliver_result_of(enum kr_err_kind kind);

/* A recipient checked before the message comes (LMTP RCPT): res and
 * err as kr_store_user_get_begin answers. DELIVERED (accepted), UNKNOWN,
 * OVER_QUOTA when the user's quota is used up, UNAVAILABLE when the
 * look-up failed otherwise. */
enum kr_deliver_result
kr_deliver_check_user(const struct kr_store_user_get_result *res,
		      const struct kr_err *err);

/* What the pipeline runs on; must outlive every delivery begun on it. */
struct kr_deliver_env {
	struct event_base *base;
	struct kr_store *store; /* NULL: every recipient TEMPFAIL */
	struct kr_tpool *cpu;
	struct kr_verdict_step verdict; /* ops NULL: kr_verdict_ham() */
};

/* Who handed the message over (SPEC.md §5: what SPF and the other
 * filters judge). Each NULL when unknown. */
struct kr_deliver_client {
	const char *addr;  /* IP address, text */
	const char *name;  /* host name (reverse look-up) */
	const char *helo;  /* its HELO/EHLO name */
	const char *proto; /* "SMTP", "ESMTP", ... */
	/* The reverse look-up failed for the time being: not to be held
	 * against the client. */
	bool name_tempunavail;
};

struct kr_deliver_rcpt {
	const char *address; /* as the sender wrote it: Delivered-To */
	const char *account; /* the user's address: whose mailbox */
	const char *folder;  /* mailbox name (user+detail); NULL: INBOX */
	int64_t user_id;     /* the RCPT look-up's (kr_store_rcpt); 0 */
};

/* One message. Everything is borrowed until the delivery answers or
 * is cancelled. */
struct kr_delivery {
	/* The reverse-path, fit for `Return-Path: <...>`; "" for <>. */
	const char *sender;
	const struct kr_deliver_rcpt *rcpts;
	size_t n_rcpts; /* 1..KR_STORE_RCPTS_MAX */
	/* The message as received, lines ending in CRLF; not copied by the
	 * pipeline (the store takes its own copy). */
	const char *body;
	size_t body_len;
	struct kr_deliver_client client;
	const char *req_id;	     /* for the filters' log lines */
	struct kr_deadline deadline; /* verdict and store */
};

/* The named steps, in order. */
enum kr_deliver_step {
	KR_DELIVER_STEP_PARSE,
	KR_DELIVER_STEP_VERDICT,
	KR_DELIVER_STEP_PREPEND,
	KR_DELIVER_STEP_STORE,
	KR_DELIVER_STEP_ANSWER, /* every step ran */
};

struct kr_deliver_rcpt_result {
	enum kr_deliver_result result;
	/* The store's answer for this recipient (kind KR_ERR_NONE when
	 * stored, else why not); NULL when the store was not asked or
	 * gave no answer for it. */
	const struct kr_err *err;
	int64_t mailbox_id, uid;      /* where it was stored: DELIVERED only */
	enum kr_verdict_kind verdict; /* this recipient's */
};

/* The answer; borrowed for the callback. */
struct kr_deliver_outcome {
	const struct kr_deliver_rcpt_result *rcpts; /* dl's order */
	size_t n;
	enum kr_verdict_kind verdict; /* HAM unless the verdict said so */
	/* The whole verdict (score, tests, generation) for log lines; the
	 * per-recipient kind is in rcpts[i].verdict. */
	const struct kr_verdict *detail;
	/* The step the delivery ended in: ANSWER when the store answered
	 * per recipient, VERDICT when the verdict rejected the message
	 * (every recipient REJECTED). An earlier end leaves every
	 * recipient TEMPFAIL; err then says why when there is something
	 * to say (NULL otherwise: no store, a full arena, a stopping
	 * pool): at PARSE the cpu pool was full (the message is shed), at
	 * STORE the store refused the whole delivery. */
	enum kr_deliver_step ended;
	const struct kr_err *err;
};

typedef void kr_deliver_fn(void *ctx, const struct kr_deliver_outcome *out);

/* Runs dl through the steps. cb fires exactly once, from the loop,
 * never before this returns, unless kr_deliver_cancel runs first.
 * Never returns NULL. */
struct kr_deliver *kr_deliver_begin(const struct kr_deliver_env *env,
				    const struct kr_delivery *dl,
				    kr_deliver_fn *cb, void *ctx);
/* No callback afterwards; sets *d to NULL (NULL is fine). A batch
 * already sent may still commit: the sender, never answered, retries
 * (at-least-once). */
void kr_deliver_cancel(struct kr_deliver **d);

#endif
