/* The shard map's overrides, kept fresh: every KR_SHARDMAP_POLL_MS one
 * query reads the whole shard_map table (bucket -> shard, written by
 * `kurier shard move`) from shard 0's primary through the connection
 * manager and lays it over the config's ranges
 * (kr_shardmap_set_overrides). Every worker of every kurierd polls its
 * own map, so a switch reaches every host within about one interval.
 * A failed poll keeps the last map and asks the next shard next time
 * (each holds a copy), back to shard 0 after a success. A pending map
 * (kr_shardmap_set_pending: its owner could not read the overrides at
 * start) is polled every 100 ms until an answer. On the manager's loop;
 * never blocks. */
#ifndef KR_SHARDPOLL_H
#define KR_SHARDPOLL_H

#include "storage/connmgr.h"
#include "storage/shardmap.h"

struct event_base;
struct kr_shardpoll;

/* The first poll goes out at once. db (with at least one shard) and
 * map are borrowed and must outlive the poller. */
struct kr_shardpoll *kr_shardpoll_create(struct event_base *base,
					 struct kr_connmgr *db,
					 struct kr_shardmap *map);
/* Cancels the poll in flight. Before the manager is destroyed. */
void kr_shardpoll_destroy(struct kr_shardpoll **poll);

/* Fills ov (room for KR_SHARD_BUCKETS) from a result of
 * `SELECT bucket, shard FROM shard_map`; -1 when a row is not two
 * non-negative integers or there are too many rows (then nothing
 * should be applied). Exposed for the CLI's one-off load. */
int kr_shardpoll_parse(const PGresult *res, struct kr_shardmap_override *ov,
		       size_t *n_r);

#define KR_SHARDPOLL_SQL \
	"SELECT bucket, shard FROM shard_map ORDER BY bucket LIMIT 4097"

#endif
