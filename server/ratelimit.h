/* Failed-login limiter of the JSON-RPC API (-32012 when limited): one
 * token bucket of failures per key ("u:<lower-cased user>",
 * "a:<client ip>"). The limiter lives in shared memory: created by the
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

/* Longest key in bytes. Longer keys are refused, never truncated
 * (truncation would merge distinct users into one bucket). */
#define KR_RATELIMIT_KEY_MAX 512
/* Largest max_keys: 60 to 68 bytes per key, allocated up front (pages
 * are touched only as keys arrive). */
#define KR_RATELIMIT_KEYS_MAX (1u << 24)

struct kr_ratelimit_conf {
	unsigned burst;	     /* failures allowed in a row; 0 = disabled */
	unsigned per_minute; /* failures forgiven per minute; > 0 */
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

/* True when a login attempt for key may go ahead (its bucket holds at
 * least one token); *retry_after_ms_r (may be NULL) is then 0. False
 * when limited, with *retry_after_ms_r the milliseconds until one token
 * is back (1..ceil(60000 / per_minute)). Never takes a token.
 * A key longer than KR_RATELIMIT_KEY_MAX is refused: false, with the
 * time one token takes to come back (callers should have rejected such
 * a user name before). Time: a now_ms earlier than the key's last one
 * counts as no time passing, and the key's clock restarts from it, so a
 * clock stepped back neither refills buckets nor freezes them. */
bool kr_ratelimit_check(struct kr_ratelimit *rl, const void *key, size_t klen,
			int64_t now_ms, int64_t *retry_after_ms_r);
/* Records one failed attempt: takes a token (never below zero). May
 * drop entries that have refilled, and when max_keys are held evicts
 * the fullest one (the earliest to be whole again; the least recently
 * updated among equals): the key being attacked, being the emptiest,
 * is the last to go. No-op when disabled or for an over-long key. */
void kr_ratelimit_fail(struct kr_ratelimit *rl, const void *key, size_t klen,
		       int64_t now_ms);
/* Forgets key (a successful login clears its failures). No-op when
 * disabled or for an over-long key. */
void kr_ratelimit_success(struct kr_ratelimit *rl, const void *key,
			  size_t klen);

/* Entries held, for tests and metrics. Refilled entries count until
 * dropped: a check drops its own key, a fail up to four of any. */
size_t kr_ratelimit_size(const struct kr_ratelimit *rl);

#endif
