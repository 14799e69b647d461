/* The shard map: a bucket -> shard table, filled from the config's
 * ranges, with the overrides of moved buckets laid over it, so a
 * lookup is a hash and an array index. */
#include "storage/shardmap.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/limits.h"

_Static_assert(KR_CONFIG_SHARDS_MAX <= UINT16_MAX,
	       "shard ids must fit the uint16_t table");

struct kr_shardmap {
	unsigned n_shards;
	atomic_bool
		pending; /* no overrides set since kr_shardmap_set_pending */
	uint16_t base_of[KR_SHARD_BUCKETS];	     /* the config's ranges */
	_Atomic uint16_t shard_of[KR_SHARD_BUCKETS]; /* with the overrides */
};

struct kr_shardmap *
kr_shardmap_create(const struct kr_config *cfg)
{
	struct kr_shardmap *map = kr_xcalloc(1, sizeof(*map));
	unsigned filled = 0;

	map->n_shards = cfg->n_shards;
	for (unsigned i = 0; i < cfg->n_shards; i++) {
		const struct kr_config_shard *s = &cfg->shards[i];

		if (!s->has_buckets)
			continue; /* a new shard: buckets come by moves */
		kr_assert(s->bucket_lo <= s->bucket_hi &&
			  s->bucket_hi < KR_SHARD_BUCKETS);
		for (unsigned b = s->bucket_lo; b <= s->bucket_hi; b++)
			map->base_of[b] = (uint16_t)i;
		filled += s->bucket_hi - s->bucket_lo + 1;
	}
	/* kr_config_load guarantees an exact tiling; a hand-made config
	 * that breaks it is a bug, not something to route around. */
	kr_assert(cfg->n_shards == 0 || filled == KR_SHARD_BUCKETS);
	for (unsigned b = 0; b < KR_SHARD_BUCKETS; b++)
		atomic_init(&map->shard_of[b], map->base_of[b]);
	atomic_init(&map->pending, false);
	return map;
}

void
kr_shardmap_destroy(struct kr_shardmap **map)
{
	free(*map);
	*map = NULL;
}

unsigned
kr_shardmap_bucket(const char *address, size_t len)
{
	return (unsigned)(kr_hash_fnv1a64_lower(address, len) %
			  KR_SHARD_BUCKETS);
}

int
kr_shardmap_bucket_shard(const struct kr_shardmap *map, unsigned bucket)
{
	if (map->n_shards == 0 ||
	    atomic_load_explicit(&map->pending, memory_order_acquire))
		return -1;
	kr_assert(bucket < KR_SHARD_BUCKETS);
	return atomic_load_explicit(&map->shard_of[bucket],
				    memory_order_relaxed);
}

int
kr_shardmap_bucket_base(const struct kr_shardmap *map, unsigned bucket)
{
	if (map->n_shards == 0)
		return -1;
	kr_assert(bucket < KR_SHARD_BUCKETS);
	return map->base_of[bucket];
}

int
kr_shardmap_shard(const struct kr_shardmap *map, const char *address,
		  size_t len)
{
	return kr_shardmap_bucket_shard(map, kr_shardmap_bucket(address, len));
}

unsigned
kr_shardmap_count(const struct kr_shardmap *map)
{
	return map->n_shards;
}

void
kr_shardmap_set_pending(struct kr_shardmap *map)
{
	atomic_store_explicit(&map->pending, true, memory_order_release);
}

bool
kr_shardmap_is_pending(const struct kr_shardmap *map)
{
	return atomic_load_explicit(&map->pending, memory_order_acquire);
}

unsigned
kr_shardmap_set_overrides(struct kr_shardmap *map,
			  const struct kr_shardmap_override *ov, size_t n)
{
	uint16_t next[KR_SHARD_BUCKETS];
	unsigned skipped = 0;

	memcpy(next, map->base_of, sizeof(next));
	for (size_t i = 0; i < n; i++) {
		if (ov[i].bucket >= KR_SHARD_BUCKETS ||
		    ov[i].shard >= map->n_shards) {
			skipped++;
			continue;
		}
		next[ov[i].bucket] = (uint16_t)ov[i].shard;
	}
	/* Only changed entries are stored: a poll that finds the same
	 * table writes nothing. */
	for (unsigned b = 0; b < KR_SHARD_BUCKETS; b++) {
		if (atomic_load_explicit(&map->shard_of[b],
					 memory_order_relaxed) != next[b])
			atomic_store_explicit(&map->shard_of[b], next[b],
					      memory_order_relaxed);
	}
	atomic_store_explicit(&map->pending, false, memory_order_release);
	return skipped;
}

/* A decimal bucket number at *p, advanced past it. */
static int
shardmap_parse_one(const char **p, unsigned *b_r)
{
	unsigned long v = 0;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v >= KR_SHARD_BUCKETS)
			return -1;
		s++;
	}
	*b_r = (unsigned)v;
	*p = s;
	return 0;
}

int
kr_shardmap_parse_buckets(const char *s, unsigned *lo_r, unsigned *hi_r,
			  struct kr_err *err_r)
{
	const char *p = s;
	unsigned lo, hi;

	if (shardmap_parse_one(&p, &lo) < 0)
		goto bad;
	hi = lo;
	if (*p == '-') {
		p++;
		if (shardmap_parse_one(&p, &hi) < 0)
			goto bad;
	}
	if (*p != '\0' || hi < lo)
		goto bad;
	*lo_r = lo;
	*hi_r = hi;
	return 0;
bad:
	return kr_err_set(err_r, KR_ERR_PERMANENT,
			  "buckets: expected N or N-M with N <= M < %u",
			  (unsigned)KR_SHARD_BUCKETS);
}
