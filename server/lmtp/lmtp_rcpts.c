/* Recipient look-ups ahead of the state machine: a FIFO of look-ups in
 * command order. The machine answers RCPTs one at a time, in order
 * (RFC 2920 §3: replies in command order), so the FIFO's head is
 * always the next RCPT it can reach; what it refused by itself (over
 * rcpt_max, out of sequence) is dropped when a later RCPT is taken or
 * the transaction ends. */
#include "server/lmtp/lmtp_rcpts.h"

#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/limits.h"
#include "storage/store.h"

/* A user look-up's answer is one small row; the cap only guards. */
#define RCPTS_ARENA_BLOCK 1024
#define RCPTS_ARENA_MAX (1 << 20)
#define RCPTS_RING_FIRST 8

struct rcpts_entry {
	struct kr_lmtp_rcpts *owner;
	struct kr_store_op *op; /* NULL once answered */
	struct kr_arena *arena;
	bool done;
	struct kr_lmtp_rcpts_answer ans;
	char account[KR_ADDRESS_MAX + 1];
};

struct kr_lmtp_rcpts {
	const struct kr_lmtp_rcpts_ops *ops;
	void *ops_ctx;
	unsigned max;
	kr_lmtp_rcpts_ready_fn *ready;
	void *ctx;
	/* ring[(head + i) % cap] for i < count, in command order. */
	struct rcpts_entry **ring;
	unsigned head, count, cap;
	struct rcpts_entry *waiting; /* the head, while a take waits */
};

struct kr_lmtp_rcpts *
kr_lmtp_rcpts_create(const struct kr_lmtp_rcpts_ops *ops, void *ops_ctx,
		     unsigned max, kr_lmtp_rcpts_ready_fn *ready, void *ctx)
{
	struct kr_lmtp_rcpts *r = kr_xcalloc(1, sizeof(*r));

	kr_assert(max >= 1);
	r->ops = ops;
	r->ops_ctx = ops_ctx;
	r->max = max;
	r->ready = ready;
	r->ctx = ctx;
	return r;
}

static void
rcpts_entry_free(struct kr_lmtp_rcpts *r, struct rcpts_entry *e)
{
	if (e->op != NULL)
		r->ops->cancel(r->ops_ctx, &e->op);
	kr_arena_destroy(&e->arena);
	if (r->waiting == e)
		r->waiting = NULL;
	free(e);
}

/* Removes and frees the head. */
static void
rcpts_pop(struct kr_lmtp_rcpts *r)
{
	struct rcpts_entry *e = r->ring[r->head];

	r->ring[r->head] = NULL;
	r->head = (r->head + 1) % r->cap;
	r->count--;
	rcpts_entry_free(r, e);
}

void
kr_lmtp_rcpts_clear(struct kr_lmtp_rcpts *r)
{
	while (r->count > 0)
		rcpts_pop(r);
	r->head = 0;
}

void
kr_lmtp_rcpts_destroy(struct kr_lmtp_rcpts **rp)
{
	struct kr_lmtp_rcpts *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	kr_lmtp_rcpts_clear(r);
	free(r->ring);
	free(r);
}

unsigned
kr_lmtp_rcpts_held(const struct kr_lmtp_rcpts *r)
{
	return r->count;
}

/* The ring grows by doubling up to max entries, so a session that
 * never pipelines holds a few pointers only. */
static void
rcpts_grow(struct kr_lmtp_rcpts *r)
{
	unsigned cap = r->cap != 0 ? r->cap * 2 : RCPTS_RING_FIRST;
	struct rcpts_entry **ring;

	if (cap > r->max)
		cap = r->max;
	ring = kr_xcalloc(cap, sizeof(*ring));
	for (unsigned i = 0; i < r->count; i++)
		ring[i] = r->ring[(r->head + i) % r->cap];
	free(r->ring);
	r->ring = ring;
	r->cap = cap;
	r->head = 0;
}

static void
rcpts_on_user(void *ctx, const struct kr_store_user_get_result *res,
	      const struct kr_err *err)
{
	struct rcpts_entry *e = ctx;
	struct kr_lmtp_rcpts *r = e->owner;

	e->op = NULL;
	e->done = true;
	e->ans.result = kr_deliver_check_user(res, err);
	if (err != NULL) {
		e->ans.has_err = true;
		e->ans.err = *err;
	} else {
		e->ans.user_id = res->user.id;
		if (e->ans.result == KR_DELIVER_DELIVERED &&
		    r->ops->found != NULL)
			r->ops->found(r->ops_ctx, e->account, res->user.id);
	}
	/* The answer is copied: its strings are not needed any more. */
	kr_arena_destroy(&e->arena);
	if (r->waiting == e) {
		/* The waiting take's entry is the head: forget it before
		 * the ready callback, which may take the next one (or end
		 * the session and destroy r). */
		struct kr_lmtp_rcpts_answer ans = e->ans;

		rcpts_pop(r);
		r->ready(r->ctx, &ans);
	}
}

/* Appends a look-up of account at the tail (room checked). */
static struct rcpts_entry *
rcpts_push(struct kr_lmtp_rcpts *r, const char *account)
{
	struct rcpts_entry *e = kr_xcalloc(1, sizeof(*e));
	size_t n = strlen(account);

	kr_assert(r->count < r->max && n <= KR_ADDRESS_MAX);
	if (r->count == r->cap)
		rcpts_grow(r);
	e->owner = r;
	memcpy(e->account, account, n + 1);
	r->ring[(r->head + r->count) % r->cap] = e;
	r->count++;
	if (r->ops->known != NULL &&
	    r->ops->known(r->ops_ctx, e->account, &e->ans.user_id)) {
		e->done = true;
		e->ans.result = KR_DELIVER_DELIVERED;
		return e;
	}
	e->arena = kr_arena_create(RCPTS_ARENA_BLOCK, RCPTS_ARENA_MAX, false);
	e->op = r->ops->begin(r->ops_ctx, e->account, e->arena, rcpts_on_user,
			      e);
	return e;
}

int
kr_lmtp_rcpts_ahead(struct kr_lmtp_rcpts *r, const char *account)
{
	if (r->count >= r->max || strlen(account) > KR_ADDRESS_MAX)
		return -1;
	rcpts_push(r, account);
	return 0;
}

int
kr_lmtp_rcpts_take(struct kr_lmtp_rcpts *r, const char *account,
		   struct kr_lmtp_rcpts_answer *ans_r)
{
	struct rcpts_entry *e;

	kr_assert(r->waiting == NULL);
	while (r->count > 0 && strcmp(r->ring[r->head]->account, account) != 0)
		rcpts_pop(r);
	if (r->count == 0)
		rcpts_push(r, account);
	e = r->ring[r->head];
	if (e->done) {
		*ans_r = e->ans;
		rcpts_pop(r);
		return 1;
	}
	r->waiting = e;
	return 0;
}
