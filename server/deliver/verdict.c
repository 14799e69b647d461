/* The verdict step's dispatch and the built-in ham filter. */
#include "server/deliver/verdict.h"

#include "lib/err.h"

static int
verdict_ham_begin(void *impl, const struct kr_delivery *dl,
		  const struct kr_mime_summary *sum, struct kr_arena *arena,
		  struct kr_verdict *verdict_r, struct kr_verdict_req **req_r,
		  kr_verdict_fn *cb, void *ctx)
{
	(void)impl;
	(void)dl;
	(void)sum;
	(void)arena;
	(void)req_r;
	(void)cb;
	(void)ctx;
	*verdict_r = (struct kr_verdict){ .kind = KR_VERDICT_HAM };
	return 1;
}

static void
verdict_ham_cancel(void *impl, struct kr_verdict_req **req)
{
	(void)impl;
	*req = NULL; /* nothing is ever pending */
}

static const struct kr_verdict_ops verdict_ham_ops = {
	.begin = verdict_ham_begin,
	.cancel = verdict_ham_cancel,
};

const struct kr_verdict_ops *
kr_verdict_ham(void)
{
	return &verdict_ham_ops;
}

static const struct kr_verdict_ops *
verdict_ops(const struct kr_verdict_step *step)
{
	return step != NULL && step->ops != NULL ? step->ops : &verdict_ham_ops;
}

int
kr_verdict_begin(const struct kr_verdict_step *step,
		 const struct kr_delivery *dl,
		 const struct kr_mime_summary *sum, struct kr_arena *arena,
		 struct kr_verdict *verdict_r, struct kr_verdict_req **req_r,
		 kr_verdict_fn *cb, void *ctx)
{
	void *impl = step != NULL ? step->impl : NULL;
	int rc;

	*req_r = NULL;
	rc = verdict_ops(step)->begin(impl, dl, sum, arena, verdict_r, req_r,
				      cb, ctx);
	/* A filter breaking its contract is a bug in the filter. */
	kr_assert(rc == 1 || (rc == 0 && *req_r != NULL));
	return rc;
}

void
kr_verdict_cancel(const struct kr_verdict_step *step,
		  struct kr_verdict_req **req)
{
	if (*req == NULL)
		return;
	verdict_ops(step)->cancel(step != NULL ? step->impl : NULL, req);
	*req = NULL;
}
