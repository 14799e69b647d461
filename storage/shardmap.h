/* The shard map: which shard holds a user. An address is placed by
 * kr_shardmap_bucket() (a stable hash of the lower-cased address into
 * KR_SHARD_BUCKETS buckets, SPEC.md §4); the bucket ranges of the
 * config's [shard.N] sections say which shard owns each bucket.
 * Immutable once created, so any thread may read it; owned by whoever
 * created it, and independent of the config it was built from. */
#ifndef KR_SHARDMAP_H
#define KR_SHARDMAP_H

#include <stddef.h>

#include "lib/config.h"

struct kr_shardmap;

/* Builds the map from cfg's shards (their ranges tile the buckets:
 * kr_config_load checked it). Never NULL; a config without shards
 * gives a map that places nobody. */
struct kr_shardmap *kr_shardmap_create(const struct kr_config *cfg);
void kr_shardmap_destroy(struct kr_shardmap **map);

/* The bucket of an address (len bytes, any case): stable forever. */
unsigned kr_shardmap_bucket(const char *address, size_t len);
/* The shard id (index into cfg->shards) holding the address; -1 when
 * the map has no shards. */
int kr_shardmap_shard(const struct kr_shardmap *map, const char *address,
		      size_t len);
/* The shard owning one bucket (< KR_SHARD_BUCKETS); -1 without shards. */
int kr_shardmap_bucket_shard(const struct kr_shardmap *map, unsigned bucket);
unsigned kr_shardmap_count(const struct kr_shardmap *map);

#endif
