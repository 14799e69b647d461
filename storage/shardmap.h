/* The shard map: which shard holds a user. An address is placed by
 * kr_shardmap_bucket() (a stable hash of the lower-cased address into
 * KR_SHARD_BUCKETS buckets, SPEC.md §4); the bucket ranges of the
 * config's [shard.N] sections say which shard owns each bucket, and
 * overrides (the database's shard_map table, written by `kurier shard
 * move`, polled by storage/shardpoll.c) move single buckets elsewhere.
 * Every entry is atomic, so any thread may read while one thread sets
 * the overrides; owned by whoever created it, and independent of the
 * config it was built from. */
#ifndef KR_SHARDMAP_H
#define KR_SHARDMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"
#include "lib/err.h"

struct kr_shardmap;

/* Builds the map from cfg's shards (their ranges tile the buckets:
 * kr_config_load checked it). Never NULL; a config without shards
 * gives a map that places nobody. */
struct kr_shardmap *kr_shardmap_create(const struct kr_config *cfg);
void kr_shardmap_destroy(struct kr_shardmap **map);

/* The bucket of an address (len bytes, any case): stable forever. */
unsigned kr_shardmap_bucket(const char *address, size_t len);
/* The shard id (index into cfg->shards) holding the address; -1 when
 * the map has no shards or is pending (kr_shardmap_set_pending). */
int kr_shardmap_shard(const struct kr_shardmap *map, const char *address,
		      size_t len);
/* The shard owning one bucket (< KR_SHARD_BUCKETS); -1 without shards
 * or while pending. */
int kr_shardmap_bucket_shard(const struct kr_shardmap *map, unsigned bucket);
unsigned kr_shardmap_count(const struct kr_shardmap *map);
/* The shard the config's ranges give a bucket, overrides aside; -1
 * without shards. */
int kr_shardmap_bucket_base(const struct kr_shardmap *map, unsigned bucket);

/* One bucket placed over the config's ranges. */
struct kr_shardmap_override {
	unsigned bucket;
	unsigned shard;
};

/* Replaces every override by ov[0..n) (n 0: the config's ranges
 * again). An entry naming a bucket or a shard this map does not know
 * (a shard this host has not loaded yet) is skipped: its bucket stays
 * where it was, where the source's fence answers temporary errors.
 * Returns how many were skipped. A lookup running meanwhile sees each
 * bucket either before or after. */
unsigned kr_shardmap_set_overrides(struct kr_shardmap *map,
				   const struct kr_shardmap_override *ov,
				   size_t n);

/* Until the next kr_shardmap_set_overrides, every lookup answers -1
 * (callers answer that with a temporary error): for a map whose owner
 * has not read the overrides yet, since the config's ranges alone would
 * send a moved bucket's users to a shard that no longer has them (a
 * permanent "no such user"). */
void kr_shardmap_set_pending(struct kr_shardmap *map);
bool kr_shardmap_is_pending(const struct kr_shardmap *map);

/* Parses the BUCKETS of `kurier shard move`: "N" or "N-M" (decimal,
 * N <= M < KR_SHARD_BUCKETS, nothing else). 0, or -1 + err_r. */
int kr_shardmap_parse_buckets(const char *s, unsigned *lo_r, unsigned *hi_r,
			      struct kr_err *err_r);

#endif
