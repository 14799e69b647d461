/* The host-wide counting table of the antispam host (rate limits, bulk
 * detection; antispam/filter.h host->count): windowed event counters
 * shared by every worker of the host. The table is one shared
 * anonymous mapping made by the master before it forks, so all workers
 * count into it; any process may call add, one thread per process at a
 * time (each process has its own copy of the hashing context).
 *
 * Keys are not kept: a slot holds a 128-bit SipHash of kind and key
 * under a random per-table secret, so memory per key is fixed and
 * clients cannot aim their keys at one bucket. The slots are grouped in
 * buckets of KR_COUNTER_WAYS (the bounded probe sequence), each under a
 * short process-shared spin lock; a full bucket reuses its least
 * recently used slot.
 *
 * The window is approximated by two fixed sub-windows of window_ms
 * (aligned to multiples of window_ms): the current one counts fully,
 * the previous one weighted by the part of it still inside the sliding
 * window [now - window_ms, now]. So an event counts fully until the end
 * of its sub-window, then less and less, and is gone at most
 * 2 * window_ms after it happened. */
#ifndef KR_COUNTER_H
#define KR_COUNTER_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* Slots per bucket: the probe length. */
#define KR_COUNTER_WAYS 8
/* The most slots a table may have (64 bytes each). */
#define KR_COUNTER_SLOTS_MAX (1u << 24)
/* The longest key and kind: longer ones are refused, never truncated
 * (that would merge distinct keys into one counter). */
#define KR_COUNTER_KEY_MAX 512
#define KR_COUNTER_KIND_MAX 32

struct kr_counter;

/* A table of `slots` windowed counters (rounded up to a multiple of
 * KR_COUNTER_WAYS) in one shared anonymous mapping
 * (MAP_SHARED|MAP_ANONYMOUS), made by the master before it forks so
 * every worker counts into the same table. -1 + err_r when slots is 0
 * or over KR_COUNTER_SLOTS_MAX, or memory, randomness or OpenSSL's
 * SipHash is missing. */
int kr_counter_create(size_t slots, struct kr_counter **c_r,
		      struct kr_err *err_r);
/* Unmaps the table in this process (others keep theirs), frees the
 * hashing context, sets *c to NULL. NULL and *c == NULL are fine. */
void kr_counter_destroy(struct kr_counter **c);

/* Adds n events for (kind, key) in a window of window_ms ending at
 * now_ms (a clock every process shares: CLOCK_MONOTONIC); returns the
 * count in the window including these (the estimate above, rounded
 * down; n = 0 asks without counting). Never blocks for long: when a
 * bucket's lock cannot be had after a bounded spin, or kind is empty or
 * over KR_COUNTER_KIND_MAX, key over KR_COUNTER_KEY_MAX, or window_ms
 * is 0, nothing is counted and it returns 0 (callers treat it as
 * "under any limit": a rate limit fails open). A now_ms earlier than a
 * counter's last one counts as that last one. Changing window_ms for a
 * key starts its counter again. */
uint64_t kr_counter_add(struct kr_counter *c, const char *kind, const void *key,
			size_t key_len, unsigned window_ms, unsigned n,
			uint64_t now_ms);

/* kr_counter_add(svc, ...) now (kr_clock_mono_ms): the shape of
 * struct kr_filter_host count, so the host can hand it to the modules
 * with the table as its context. */
uint64_t kr_counter_count(void *svc, const char *kind, const void *key,
			  size_t key_len, unsigned window_ms, unsigned n);

/* Slots in the table (after rounding), for tests and the dashboard. */
size_t kr_counter_slots(const struct kr_counter *c);

#endif
