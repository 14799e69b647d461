/* host->tokens_get and training over the store's Bayes statistic. */
#include "antispam/bayes_store.h"

#include <stdlib.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/hash.h"
#include "lib/limits.h"

struct bayes_get {
	kr_filter_tokens_fn *cb;
	void *arg;
};

static void
bayes_store_on_get(void *ctx, const struct kr_store_bayes_counts *res,
		   const struct kr_err *err)
{
	struct bayes_get g = *(struct bayes_get *)ctx;
	struct kr_filter_tokens t;

	free(ctx);
	if (err != NULL) {
		g.cb(g.arg, NULL, 0);
		return;
	}
	t = (struct kr_filter_tokens){ .n_spam = res->n_spam,
				       .n_ham = res->n_ham,
				       .n = res->n,
				       .hashes = res->hashes,
				       .spam = res->spam,
				       .ham = res->ham };
	g.cb(g.arg, &t, 1);
}

int
kr_antispam_tokens_get(struct kr_store *store, const char *account,
		       const uint64_t *hashes, size_t n,
		       kr_filter_tokens_fn *cb, void *arg)
{
	struct bayes_get *g;

	if (store == NULL || account == NULL || n == 0 ||
	    n > KR_STORE_BAYES_TOKENS_MAX)
		return -1;
	g = kr_xcalloc(1, sizeof(*g));
	g->cb = cb;
	g->arg = arg;
	/* The module has no cancel for a look-up: the store's deadline
	 * bounds how long one can wait. */
	kr_store_bayes_get_begin(
		store, account, hashes, n,
		kr_deadline_after(kr_clock_mono_us(),
				  KR_ANTISPAM_CHECK_TIMEOUT_MS_DEFAULT),
		bayes_store_on_get, g);
	return 0;
}

struct kr_store_op *
kr_antispam_tokens_learn(struct kr_store *store,
			 const struct kr_store_user *user, uint64_t msg,
			 bool spam, const uint64_t *hashes, size_t n,
			 unsigned tokens_max, struct kr_deadline deadline,
			 kr_store_bayes_learn_fn *cb, void *ctx)
{
	const struct kr_store_bayes_learn l = {
		.msg = msg,
		.spam = spam,
		.hashes = hashes,
		.n = n,
		.day = (int64_t)(time(NULL) / 86400),
		.tokens_max = tokens_max,
		.age_days = KR_ANTISPAM_BAYES_AGE_DAYS,
	};

	return kr_store_bayes_learn_begin(store, user, &l, deadline, cb, ctx);
}

uint64_t
kr_antispam_msg_key(const void *raw, size_t len)
{
	return kr_hash_fnv1a64(raw, len);
}
