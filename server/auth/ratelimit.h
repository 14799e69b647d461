/* Failed-login limiter of the JSON-RPC API (-32012 when limited): one
 * token bucket of login attempts per key ("u:<lower-cased user>",
 * "a:<client address key>", lib/cidr.h): an attempt takes a token
 * before its password is checked and gets it back unless it was a
 * wrong guess. The limiter lives in shared memory: created by the
 * master before it forks, it is one limiter for all workers (a
 * process-shared mutex guards it; calls are short). No clock of its
 * own: callers pass now_ms from CLOCK_MONOTONIC, which all processes
 * share. Keys are not kept: an entry holds a 128-bit SipHash
 * of its key under a random per-limiter secret, so memory per key is
 * fixed and clients cannot aim their keys at one hash chain. */
#ifndef KR_RATELIMIT_H
#define KR_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/limits.h"

/* The longest key (KR_RATELIMIT_KEY_MAX: longer keys are refused,
 * never truncated, which would merge distinct users into one bucket)
 * and the largest max_keys (KR_RATELIMIT_KEYS_MAX: 60 to 68 bytes per
 * key, allocated up front, pages touched only as keys arrive) are in
 * lib/limits.h. */

struct kr_ratelimit_conf {
	unsigned burst;	     /* attempts in a row; 0 = disabled */
	unsigned per_minute; /* attempts refilled per minute; > 0 */
	unsigned max_keys;   /* entries held at most; 1..KEYS_MAX */
};

struct kr_ratelimit;

/* Copies conf. NULL when memory, kernel randomness or OpenSSL's SipHash
 * is unavailable, or when burst > 0 and per_minute is 0 or max_keys is
 * outside 1..KR_RATELIMIT_KEYS_MAX. With burst 0 every check passes and
 * nothing is stored. */
struct kr_ratelimit *kr_ratelimit_create(const struct kr_ratelimit_conf *conf);
/* Frees everything, wipes the hash secret, sets *rl to NULL. NULL and
 * *rl == NULL are fine. */
void kr_ratelimit_destroy(struct kr_ratelimit **rl);

/* One login attempt for key, decided and charged in one step under the
 * lock: when the bucket holds at least one token, takes it and returns
 * true (*retry_after_ms_r, may be NULL, is then 0). Otherwise takes
 * nothing and returns false with *retry_after_ms_r the milliseconds
 * until one token is back (1..ceil(60000 / per_minute)). So N callers
 * racing on one key, in any processes, get exactly as many trues as
 * the bucket held: take before the costly password check, never after.
 * A take that turns out not to have been a guess (the check could not
 * run, or the password was right) is undone with kr_ratelimit_give_back
 * or kr_ratelimit_forget. May drop entries that have refilled, and
 * when max_keys are held evicts the fullest one (the earliest to be
 * whole again; the least recently updated among equals): the key being
 * attacked, being the emptiest, is the last to go. Always true when
 * disabled. A key longer than KR_RATELIMIT_KEY_MAX is refused: false,
 * with the time one token takes to come back, nothing stored (callers
 * should have rejected such a user name before). Time: a now_ms
 * earlier than the key's last one counts as no time passing, and the
 * key's clock restarts from it, so a clock stepped back neither refills
 * buckets nor freezes them. */
bool kr_ratelimit_take(struct kr_ratelimit *rl, const void *key, size_t klen,
		       int64_t now_ms, int64_t *retry_after_ms_r);
/* Returns the one token a kr_ratelimit_take of key took (never above
 * burst; a bucket whole again is dropped). Call it at most once per
 * successful take. No-op when the key is not held (whole already, or
 * evicted), when disabled or for an over-long key. */
void kr_ratelimit_give_back(struct kr_ratelimit *rl, const void *key,
			    size_t klen, int64_t now_ms);
/* Forgets key: every token is back (a successful login clears the
 * user's failures). No-op when disabled or for an over-long key. */
void kr_ratelimit_forget(struct kr_ratelimit *rl, const void *key, size_t klen);

/* Whether a take would succeed now, taking nothing; the same answer and
 * retry-after as kr_ratelimit_take. For tests and reports only: an
 * attempt decided by a check and charged later lets every attempt
 * racing with it through (check, then take, is not atomic). */
bool kr_ratelimit_check(struct kr_ratelimit *rl, const void *key, size_t klen,
			int64_t now_ms, int64_t *retry_after_ms_r);

/* Entries held, for tests and metrics. Refilled entries count until
 * dropped: a check or give-back drops its own key, a take up to four
 * of any. */
size_t kr_ratelimit_size(const struct kr_ratelimit *rl);

#endif
