/* The shard map: a bucket -> shard table, filled from the config's
 * ranges once, so a lookup is a hash and an array index. */
#include "storage/shardmap.h"

#include <stdint.h>
#include <stdlib.h>

#include "lib/err.h"
#include "lib/hash.h"
#include "lib/limits.h"

_Static_assert(KR_CONFIG_SHARDS_MAX <= UINT16_MAX,
	       "shard ids must fit the uint16_t table");

struct kr_shardmap {
	unsigned n_shards;
	uint16_t shard_of[KR_SHARD_BUCKETS];
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
			map->shard_of[b] = (uint16_t)i;
		filled += s->bucket_hi - s->bucket_lo + 1;
	}
	/* kr_config_load guarantees an exact tiling; a hand-made config
	 * that breaks it is a bug, not something to route around. */
	kr_assert(cfg->n_shards == 0 || filled == KR_SHARD_BUCKETS);
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
	if (map->n_shards == 0)
		return -1;
	kr_assert(bucket < KR_SHARD_BUCKETS);
	return map->shard_of[bucket];
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
