/* One LMTP session's recipient look-ups, started ahead of the state
 * machine for pipelined RCPT commands (RFC 2920) so that they run in
 * parallel, and taken in command order as the machine reaches each.
 * Worker loop only; owned by the session (server/lmtp/lmtp_session.c).
 * The look-up itself is an ops struct (the store's user look-up in the
 * server, a fake in tests/unit/test_lmtp_rcpts.c). */
#ifndef KR_LMTP_RCPTS_H
#define KR_LMTP_RCPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "server/deliver/deliver.h"

struct kr_arena;
struct kr_store_op;
struct kr_store_user_get_result;
struct kr_lmtp_rcpts;

/* The store's answer for one account, kept until the machine reaches
 * its RCPT. user_id is the user's when result is DELIVERED or
 * OVER_QUOTA (for the delivery to reuse). */
struct kr_lmtp_rcpts_answer {
	enum kr_deliver_result result; /* kr_deliver_check_user's */
	bool has_err;
	struct kr_err err; /* why, when has_err */
	int64_t user_id;
};

/* The look-up: begin answers through cb exactly once, never before it
 * returns, unless cancel came first (kr_store_user_get_begin's
 * contract); arena holds the answer's strings until the callback
 * returns. */
typedef void kr_lmtp_rcpts_done_fn(void *ctx,
				   const struct kr_store_user_get_result *res,
				   const struct kr_err *err);
struct kr_lmtp_rcpts_ops {
	struct kr_store_op *(*begin)(void *ops_ctx, const char *account,
				     struct kr_arena *arena,
				     kr_lmtp_rcpts_done_fn *cb, void *cb_ctx);
	void (*cancel)(void *ops_ctx, struct kr_store_op **op);
	/* Each may be NULL. known: an answer known without asking
	 * (true: the user's id, DELIVERED); found: a DELIVERED answer
	 * the store gave, to be known next time. */
	bool (*known)(void *ops_ctx, const char *account, int64_t *user_id_r);
	void (*found)(void *ops_ctx, const char *account, int64_t user_id);
};

/* The answer of the look-up kr_lmtp_rcpts_take() waits for; borrowed
 * for the call. Fires from the look-up's callback. */
typedef void kr_lmtp_rcpts_ready_fn(void *ctx,
				    const struct kr_lmtp_rcpts_answer *ans);

/* At most max look-ups are held (in flight or answered, not yet
 * taken): the session's recipient limit ([lmtp] rcpt_max). ops and
 * ops_ctx must outlive it. Never returns NULL. */
struct kr_lmtp_rcpts *kr_lmtp_rcpts_create(const struct kr_lmtp_rcpts_ops *ops,
					   void *ops_ctx, unsigned max,
					   kr_lmtp_rcpts_ready_fn *ready,
					   void *ctx);
/* Cancels every look-up (no callback afterwards), frees; sets *r to
 * NULL. NULL is fine. */
void kr_lmtp_rcpts_destroy(struct kr_lmtp_rcpts **r);

/* Starts the look-up of a pipelined RCPT's account (normalized) behind
 * those held. 0, or -1 when max are held already (look no further
 * ahead for now). */
int kr_lmtp_rcpts_ahead(struct kr_lmtp_rcpts *r, const char *account);

/* The state machine's RCPT for account: look-ups held before the first
 * one for account are dropped (their commands were refused by the
 * machine itself); when account's has answered, 1 and *ans_r is its
 * answer; else 0 and ready fires with it later (a look-up is started
 * when none was held). Only one take may wait at a time. */
int kr_lmtp_rcpts_take(struct kr_lmtp_rcpts *r, const char *account,
		       struct kr_lmtp_rcpts_answer *ans_r);

/* Cancels and forgets every look-up held (a waiting take included):
 * the transaction ended. */
void kr_lmtp_rcpts_clear(struct kr_lmtp_rcpts *r);

/* Look-ups held now (for tests and assertions). */
unsigned kr_lmtp_rcpts_held(const struct kr_lmtp_rcpts *r);

#endif
