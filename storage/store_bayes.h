/* The Bayes statistic of each user, on the user's shard (007_bayes.sql):
 * token counts for the antispam bayes module, and training. The same
 * contract as every store operation (storage/store.h: begin returns a
 * handle, cb fires once from the loop, never before begin returns,
 * unless cancelled). These writes change no mailbox, so they bump no
 * cache generation. */
#ifndef KR_STORE_BAYES_H
#define KR_STORE_BAYES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

/* The counts of the hashes asked, in their order; borrowed for the
 * callback only. */
struct kr_store_bayes_counts {
	uint32_t n_spam, n_ham; /* messages trained */
	size_t n;
	const uint64_t *hashes;
	const uint32_t *spam, *ham;
};
typedef void kr_store_bayes_get_fn(void *ctx,
				   const struct kr_store_bayes_counts *res,
				   const struct kr_err *err);
/* The statistic of the user at address (any case) for hashes[0..n),
 * 1 <= n <= KR_STORE_BAYES_TOKENS_MAX (else KR_ERR_PERMANENT, nothing
 * sent); hashes are copied. A read: a replica may answer (a training a
 * moment old may not be there yet); KR_ERR_NOT_FOUND for no such user
 * (the primary's answer). */
struct kr_store_op *kr_store_bayes_get_begin(struct kr_store *store,
					     const char *address,
					     const uint64_t *hashes, size_t n,
					     struct kr_deadline deadline,
					     kr_store_bayes_get_fn *cb,
					     void *ctx);

/* What moving a message from one mailbox to another teaches. */
enum kr_store_bayes_kind {
	KR_STORE_BAYES_NONE,
	KR_STORE_BAYES_SPAM, /* into Junk */
	KR_STORE_BAYES_HAM,  /* out of Junk, except into Trash */
};
typedef void kr_store_bayes_kind_fn(void *ctx, enum kr_store_bayes_kind kind,
				    const struct kr_err *err);
/* Junk is the mailbox of role junk or named "junk" in any case; a
 * mailbox that is not the user's teaches nothing (NONE). A read. */
struct kr_store_op *kr_store_bayes_move_kind_begin(
	struct kr_store *store, const struct kr_store_user *user,
	int64_t from_id, int64_t to_id, struct kr_deadline deadline,
	kr_store_bayes_kind_fn *cb, void *ctx);

/* One message to learn. */
struct kr_store_bayes_learn {
	uint64_t msg; /* the message's key: the same bytes, the same key */
	bool spam;
	const uint64_t *hashes; /* its tokens, 0..KR_STORE_BAYES_TOKENS_MAX */
	size_t n;
	int64_t day;	     /* today, in Unix days */
	unsigned tokens_max; /* per user: 1..KR_ANTISPAM_BAYES_TOKENS_MAX */
	unsigned age_days;   /* tokens not learned since: deleted */
};
/* What the learning did. */
enum kr_store_bayes_learned {
	KR_STORE_BAYES_LEARNED,
	KR_STORE_BAYES_RELEARNED, /* it was learned the other way */
	KR_STORE_BAYES_ALREADY,	  /* the same way: nothing changed */
};
typedef void kr_store_bayes_learn_fn(void *ctx,
				     enum kr_store_bayes_learned learned,
				     const struct kr_err *err);
/* One statement on the user's shard primary: the message's counts
 * added (taken back first when it was learned the other way before),
 * the user's n_spam or n_ham counted, then tokens older than age_days
 * and, past tokens_max, the least recently learned ones deleted (at
 * most KR_ANTISPAM_BAYES_PURGE_MAX rows each per call). Uses
 * user->shard and user->id; KR_ERR_NOT_FOUND when the user is gone;
 * bounds broken: KR_ERR_PERMANENT, nothing sent. */
struct kr_store_op *kr_store_bayes_learn_begin(
	struct kr_store *store, const struct kr_store_user *user,
	const struct kr_store_bayes_learn *l, struct kr_deadline deadline,
	kr_store_bayes_learn_fn *cb, void *ctx);

#endif
