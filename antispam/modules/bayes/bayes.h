/* The bayes filter module's parts (antispam/filter.h): the tokenizer
 * (bayes_token.c), Robinson/Fisher classification (bayes_class.c) and
 * the per-message check (bayes_check.c). Pure functions except the
 * check, which runs on the host's loop. Linked into the module and
 * into libantispam.a (unit tests); every symbol says kr_bayes_. */
#ifndef KR_BAYES_H
#define KR_BAYES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "antispam/filter.h"

/* Unique tokens taken from one message: enough for the 150 most
 * interesting ones to be found, small enough that one look-up per
 * recipient stays one bounded statement. */
#define KR_BAYES_TOKENS_MAX 1000
/* Body words shorter than this carry no signal ("a", "of"), longer
 * ones are hashes, base64 or URLs glued together: skipped. */
#define KR_BAYES_WORD_MIN 3
#define KR_BAYES_WORD_MAX 40
/* Robinson's combining looks at this many tokens, the ones farthest
 * from 0.5 (SpamAssassin's N_SIGNIFICANT_TOKENS). */
#define KR_BAYES_INTERESTING 150
/* A user's statistic is used once trained on this many spam AND this
 * many ham messages. SpamAssassin waits for 200 of each because its
 * database is site-wide-ish and bootstraps from auto-learning; ours is
 * per user and trained only by explicit moves, so 200 would mean
 * months without any benefit. With Robinson's s=1 a token seen only in
 * one of 5 spam messages still gets f=0.75 at most, and the chi-square
 * combining needs many agreeing tokens to leave the 0.4..0.6 band, so
 * a small sample cannot swing a verdict alone. */
#define KR_BAYES_MIN_TRAINED 5
/* Tokens closer to 0.5 than this say nothing (SpamAssassin uses 0.346
 * with its s=0.16; with s=1 a token needs 3 sightings to pass that, so
 * we use a smaller bound). */
#define KR_BAYES_MIN_STRENGTH 0.1

/* The 64-bit hash of a token (FNV-1a over the bytes with a fixed
 * seed, then a finaliser so that the low bits spread). Never 0. The
 * store keeps these; changing the seed forgets every statistic. */
uint64_t kr_bayes_hash(const char *prefix, const char *word, size_t len);

/* The message's unique token hashes, at most max (<=
 * KR_BAYES_TOKENS_MAX is what the module asks), into out; returns how
 * many. Body words (msg->text->body, lower-cased, 3..40 bytes), the
 * words of Subject, From and To prefixed with the header's name, and
 * URI hosts (and their last two labels). Without msg->text, the raw
 * message is read as the body. Any thread: touches only msg and out. */
size_t kr_bayes_tokenize(const struct kr_filter_msg *msg, uint64_t *out,
			 size_t max);

/* Robinson's f(w) for one token (s=1, x=0.5); n_spam, n_ham > 0. */
double kr_bayes_token_prob(uint32_t spam, uint32_t ham, uint32_t n_spam,
			   uint32_t n_ham);
/* The spam probability of a message from its tokens' counts (Fisher's
 * chi-square over the KR_BAYES_INTERESTING tokens farthest from 0.5);
 * -1 when the user is trained on fewer than KR_BAYES_MIN_TRAINED spam
 * or ham messages, 0.5 when no token is known. */
double kr_bayes_classify(const struct kr_filter_tokens *t);

/* SpamAssassin's bucket of p (23_bayes.cf) and its score (50_scores.cf,
 * score set 3: Bayes and network tests). */
struct kr_bayes_bucket {
	const char *name;
	double score;
	const char *desc;
};
const struct kr_bayes_bucket *kr_bayes_bucket(double p);
/* The extra BAYES_999 hit when p >= 0.999, else NULL. */
const struct kr_bayes_bucket *kr_bayes_bucket_999(double p);

/* The module's functions (bayes_check.c), for the entry and tests. */
int kr_bayes_open(const struct kr_filter_host *host,
		  const struct kr_filter_conf *conf, void **state_r, char *err,
		  size_t err_size);
int kr_bayes_selftest(void *state, char *err, size_t err_size);
void kr_bayes_close(void *state);
int kr_bayes_check(void *state, const struct kr_filter_msg *msg,
		   struct kr_filter_result *res, void **req_r,
		   kr_filter_done_fn *done, void *ctx);
void kr_bayes_cancel(void *state, void *req);
size_t kr_bayes_tokens(void *state, const struct kr_filter_msg *msg,
		       uint64_t *out, size_t max);

#endif
