/* The host's side of the bayes module's statistic: host->tokens_get
 * (antispam/filter.h) over the store, and training. Worker loop only;
 * the store must outlive every call. */
#ifndef KR_BAYES_STORE_H
#define KR_BAYES_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "antispam/filter.h"
#include "storage/store_bayes.h"

struct kr_store;

/* kr_filter_host.tokens_get: the Bayes counts of account for
 * hashes[0..n) (copied). 0 when started: cb(arg, t, ok) fires exactly
 * once, from the loop, never before this returns; ok 0 with t NULL
 * when the store did not answer (no such user, a shard down, the
 * deadline of KR_ANTISPAM_CHECK_TIMEOUT_MS_DEFAULT, the store being
 * destroyed). -1 when not started (no store, no account, n 0 or over
 * KR_STORE_BAYES_TOKENS_MAX): cb never fires. */
int kr_antispam_tokens_get(struct kr_store *store, const char *account,
			   const uint64_t *hashes, size_t n,
			   kr_filter_tokens_fn *cb, void *arg);

/* Learns one message of user (its key msg: the same bytes, the same
 * key; its token hashes[0..n), n <= KR_STORE_BAYES_TOKENS_MAX) as spam
 * or ham, today, keeping at most tokens_max tokens for the user and
 * none older than KR_ANTISPAM_BAYES_AGE_DAYS. The store's contract
 * (storage/store_bayes.h). */
struct kr_store_op *kr_antispam_tokens_learn(
	struct kr_store *store, const struct kr_store_user *user, uint64_t msg,
	bool spam, const uint64_t *hashes, size_t n, unsigned tokens_max,
	struct kr_deadline deadline, kr_store_bayes_learn_fn *cb, void *ctx);

/* The key of a message for kr_antispam_tokens_learn (FNV-1a 64 of its
 * bytes). */
uint64_t kr_antispam_msg_key(const void *raw, size_t len);

#endif
