/* `kurier shard move BUCKETS SHARD` (SPEC.md §3.4): moves buckets'
 * users and mail to another shard while kurierd serves them, as a job
 * whose state lives in shard 0's shard_moves table, so that a move that
 * was killed resumes (after its switch) or rolls back and starts over
 * (before it) when run again. Per bucket: copy every user from the
 * source (new ids on the destination; mailbox names, uidvalidity,
 * uids, modseqs, flags, dates and bodies kept), fence the source's
 * users (users.moving: their writes get temporary errors), copy again
 * the users that changed meanwhile, verify both sides' digests, switch
 * the map (shard 0's shard_map, polled by every kurierd worker). Then,
 * KR_SHARDMAP_SETTLE_MS after the last switch, the source's rows are
 * deleted. Blocking libpq, for the CLI's thread only. */
#ifndef KR_SHARDMOVE_H
#define KR_SHARDMOVE_H

#include <stdio.h>

#include "lib/config.h"
#include "lib/err.h"
#include "storage/shardmap.h"

/* Moves buckets lo..hi to shard dst, printing one line per step on out
 * (may be NULL). map is the caller's (config + overrides, as loaded by
 * kr_shardmove_load_map) and is kept up to date. 0, or -1 + err_r (the
 * job's state says where it stopped; running it again goes on). */
int kr_shardmove_run(const struct kr_config *cfg, struct kr_shardmap *map,
		     unsigned lo, unsigned hi, unsigned dst, FILE *out,
		     struct kr_err *err_r);

/* Reads shard 0's overrides into map, or, when shard 0 does not answer,
 * the copy of the next shards (at most 3 asked, each within 2 s to
 * connect and 2 s to answer). Blocking: the CLI, and a worker before
 * its loop runs. -1 + err_r when none answered (map left as it was). */
int kr_shardmove_load_map(const struct kr_config *cfg, struct kr_shardmap *map,
			  struct kr_err *err_r);

#endif
