/* The per-worker cache of API results on the webmail read path
 * (SPEC.md §2: session check -> cache -> shard query): serialised
 * results under per-user keys, stale as soon as the user's shared write
 * generation (lib/genmap.h) moves or past the [cache] TTL, bounded in
 * bytes (lib/lru.h underneath). Belongs to one worker's loop:
 * single-threaded, no locks. Callers look up first and, on a miss,
 * store the result they built under the key the look-up filled. */
#ifndef KR_CACHE_H
#define KR_CACHE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/lru.h"

struct kr_genmap;
struct kr_cache;

/* A key's buffer, NUL included: keys are at most KR_CACHE_KEY_MAX - 1
 * bytes ("<user key in hex>:" and what the caller formats). */
#define KR_CACHE_KEY_MAX KR_LRU_KEY_MAX

/* What a look-up that missed hands to kr_cache_put. */
struct kr_cache_key {
	char text[KR_CACHE_KEY_MAX];
	size_t len;    /* 0: the key did not fit; nothing is cached */
	uint64_t user; /* the owner: kr_store_user_key of the user */
	/* The user's generation, read before the store is asked: a write
	 * racing with the read leaves the entry stale, never wrong. */
	uint64_t gen;
};

/* What changed since the previous kr_cache_report, for the metrics. */
struct kr_cache_report {
	uint64_t hits, misses, evictions;
	size_t bytes; /* held now */
};

/* A cache of at most max_bytes (0: off, every look-up misses) reading
 * generations from gens (borrowed; outlives the cache). Aborts when
 * memory is short, like any start-up allocation. */
struct kr_cache *kr_cache_create(size_t max_bytes, struct kr_genmap *gens);
/* Frees every entry, sets *c to NULL. NULL or *c == NULL is a no-op. */
void kr_cache_destroy(struct kr_cache **c);

/* Writes "<user in hex>:" and fmt into key (size bytes, NUL included).
 * Its length, or 0 when it does not fit (never truncated: a cut key
 * could name another result). */
size_t kr_cache_key_format(char *key, size_t size, uint64_t user,
			   const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

/* Fills *key_r for user's result named by fmt (every key starts with
 * its user's: no two users share one). True on a hit: the entry was
 * stored under the user's current generation less than ttl_ms ago
 * (ttl_ms <= 0: no TTL); *val_r (followed by a NUL that *vlen_r does
 * not count) is then borrowed until the next call on c. False on a
 * miss, and when the key does not fit (key_r->len is then 0). */
bool kr_cache_lookup(struct kr_cache *c, struct kr_cache_key *key_r,
		     uint64_t user, int64_t ttl_ms, const char **val_r,
		     size_t *vlen_r, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* The same with a va_list. */
bool kr_cache_vlookup(struct kr_cache *c, struct kr_cache_key *key_r,
		      uint64_t user, int64_t ttl_ms, const char **val_r,
		      size_t *vlen_r, const char *fmt, va_list ap)
	__attribute__((format(printf, 7, 0)));

/* Stores a copy of val (vlen bytes) under key, as kr_lru_put does (too
 * big, or memory short: not stored). A key of length 0 stores nothing. */
void kr_cache_put(struct kr_cache *c, const struct kr_cache_key *key,
		  const void *val, size_t vlen);

/* Hits, misses and evictions since the previous call, and the bytes
 * held now. */
void kr_cache_report(struct kr_cache *c, struct kr_cache_report *r);

/* The underlying figures, for tests. */
void kr_cache_get_stats(const struct kr_cache *c, struct kr_lru_stats *s);

#endif
