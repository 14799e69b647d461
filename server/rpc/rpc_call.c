/* A call's context as the methods and the answering code see it, and
 * the end of a call: what it held goes back, and the dispatcher is
 * told (req->resume) so the next call of the batch may start. */
#include "lib/clock.h"
#include "lib/genmap.h"
#include "server/rpc/rpc_priv.h"

int64_t
rpc_now_ms(void)
{
	return kr_clock_mono_ms();
}

struct kr_deadline
rpc_deadline(const struct rpc_call *c)
{
	return c->req->deadline;
}

const struct kr_store_user *
rpc_user(const struct rpc_call *c)
{
	return &c->req->user;
}

uint64_t
rpc_user_key(const struct rpc_call *c)
{
	return kr_store_user_key(c->req->user.shard, c->req->user.id);
}

void
rpc_call_end(struct rpc_call *c)
{
	struct rpc_req *req = c->req;

	c->answered = true;
	/* Its result is in the batch now; the rest goes back at once, so a
	 * later call of the batch may use it. */
	kr_arena_destroy(&c->arena);
	if (c->reserved > 0)
		kr_arena_budget_give(&req->mem, c->reserved);
	c->reserved = 0;
	req->running--;
	req->resume(req);
}
