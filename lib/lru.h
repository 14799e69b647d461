/* A cache of byte strings, bounded in bytes, least recently used
 * entries evicted first, entries grouped by owner (a user) so that one
 * owner's can be dropped at once. Libc only; one thread (no locks): in
 * the daemon each worker's loop owns its own (server/cache/ for API
 * results, server/auth/ for session checks). The cache owns copies of
 * keys and values; what kr_lru_get returns is borrowed. Freshness is
 * the caller's to judge: an entry keeps the generation stamp (see
 * lib/genmap.h) and the clock reading it was stored with, and a lookup
 * under another generation or past the TTL misses and drops the
 * entry. */
#ifndef KR_LRU_H
#define KR_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/limits.h"

/* Keys longer than KR_LRU_KEY_MAX (lib/limits.h) are never cached:
 * get misses, put counts too_big. */
/* Bytes charged per entry on top of its key and value. It covers the
 * entry header, allocator slack, the entry's hash buckets and, in the
 * worst case of one entry per owner, its owner record, so the cache's
 * memory stays within max_bytes plus a small fixed part. */
#define KR_LRU_ENTRY_OVERHEAD 256

struct kr_lru;

struct kr_lru_stats {
	uint64_t hits;
	uint64_t misses;    /* every get that returned false, stale included */
	uint64_t stale;	    /* found under another generation, or too old */
	uint64_t evictions; /* least recently used, dropped to make room */
	uint64_t too_big;   /* puts refused for the size of key or value */
	size_t bytes;	    /* charged now: keys + values + overheads */
	size_t entries;
};

/* A cache of at most max_bytes (see KR_LRU_ENTRY_OVERHEAD); 0 makes it
 * disabled: every get misses and put does nothing. Aborts on allocation
 * failure, like any start-up allocation. */
struct kr_lru *kr_lru_create(size_t max_bytes);
/* Frees every entry and the cache, sets *c to NULL. NULL or *c == NULL
 * is a no-op. */
void kr_lru_destroy(struct kr_lru **c);

/* True on a hit: an entry for key exists, was stored under gen, and
 * now_ms - stored_ms < ttl_ms (ttl_ms <= 0: no TTL). *val_r then points
 * at the value, followed by a NUL that *vlen_r does not count; it is
 * borrowed until the next put, drop_owner or destroy, or a get that
 * finds the same key stale. A hit makes the entry the most recently
 * used. An entry under another generation or too old is removed and the
 * get counts as a miss and as stale. On a miss, *val_r = NULL and
 * *vlen_r = 0. */
bool kr_lru_get(struct kr_lru *c, const void *key, size_t klen, uint64_t gen,
		int64_t now_ms, int64_t ttl_ms, const char **val_r,
		size_t *vlen_r);

/* Stores copies of key and val for owner (a user id), stamped with gen
 * (read before the value was loaded) and now_ms. Any entry with the same
 * key is removed first, even when the new one is not stored. Least
 * recently used entries are evicted until it fits. Not stored, and
 * counted as too_big: a key longer than KR_LRU_KEY_MAX, a value longer
 * than max_bytes / 8, or an entry larger than max_bytes. Also not stored,
 * silently: when memory is short, or when the key's hash chain is full
 * (keys derive from client input; a bound on each chain keeps lookups
 * O(1) even when keys are chosen to collide). */
void kr_lru_put(struct kr_lru *c, int64_t owner, const void *key, size_t klen,
		const void *val, size_t vlen, uint64_t gen, int64_t now_ms);

/* Removes every entry of owner, in time proportional to their number. */
void kr_lru_drop_owner(struct kr_lru *c, int64_t owner);

void kr_lru_get_stats(const struct kr_lru *c, struct kr_lru_stats *s);

#endif
