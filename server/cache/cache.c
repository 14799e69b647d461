/* API results by user: the keys, the generation read before the store
 * is asked, and the deltas the metrics want, on top of lib/lru. */
#include "server/cache/cache.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/genmap.h"

struct kr_cache {
	struct kr_lru *lru;
	struct kr_genmap *gens;
	struct kr_lru_stats reported; /* as of the last kr_cache_report */
};

struct kr_cache *
kr_cache_create(size_t max_bytes, struct kr_genmap *gens)
{
	struct kr_cache *c = kr_xcalloc(1, sizeof(*c));

	c->lru = kr_lru_create(max_bytes);
	c->gens = gens;
	return c;
}

void
kr_cache_destroy(struct kr_cache **cp)
{
	if (cp == NULL || *cp == NULL)
		return;
	kr_lru_destroy(&(*cp)->lru);
	free(*cp);
	*cp = NULL;
}

size_t
kr_cache_key_format(char *key, size_t size, uint64_t user, const char *fmt,
		    va_list ap)
{
	int head = snprintf(key, size, "%llx:", (unsigned long long)user);
	int n;

	if (head < 0 || (size_t)head >= size)
		return 0;
	n = vsnprintf(key + head, size - (size_t)head, fmt, ap);
	if (n < 0 || (size_t)n >= size - (size_t)head)
		return 0;
	return (size_t)head + (size_t)n;
}

bool
kr_cache_vlookup(struct kr_cache *c, struct kr_cache_key *key_r, uint64_t user,
		 int64_t ttl_ms, const char **val_r, size_t *vlen_r,
		 const char *fmt, va_list ap)
{
	*val_r = NULL;
	*vlen_r = 0;
	key_r->user = user;
	key_r->gen = 0;
	key_r->len = kr_cache_key_format(key_r->text, sizeof(key_r->text), user,
					 fmt, ap);
	if (key_r->len == 0)
		return false; /* too long to cache: asked of the store */
	key_r->gen = kr_genmap_get(c->gens, user);
	return kr_lru_get(c->lru, key_r->text, key_r->len, key_r->gen,
			  kr_clock_mono_ms(), ttl_ms, val_r, vlen_r);
}

bool
kr_cache_lookup(struct kr_cache *c, struct kr_cache_key *key_r, uint64_t user,
		int64_t ttl_ms, const char **val_r, size_t *vlen_r,
		const char *fmt, ...)
{
	va_list ap;
	bool hit;

	va_start(ap, fmt);
	hit = kr_cache_vlookup(c, key_r, user, ttl_ms, val_r, vlen_r, fmt, ap);
	va_end(ap);
	return hit;
}

void
kr_cache_put(struct kr_cache *c, const struct kr_cache_key *key,
	     const void *val, size_t vlen)
{
	if (key->len > 0)
		kr_lru_put(c->lru, (int64_t)key->user, key->text, key->len, val,
			   vlen, key->gen, kr_clock_mono_ms());
}

void
kr_cache_report(struct kr_cache *c, struct kr_cache_report *r)
{
	struct kr_lru_stats st;

	kr_lru_get_stats(c->lru, &st);
	r->hits = st.hits - c->reported.hits;
	r->misses = st.misses - c->reported.misses;
	r->evictions = st.evictions - c->reported.evictions;
	r->bytes = st.bytes;
	c->reported = st;
}

void
kr_cache_get_stats(const struct kr_cache *c, struct kr_lru_stats *s)
{
	kr_lru_get_stats(c->lru, s);
}
