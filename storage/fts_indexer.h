/* Full-text indexing behind delivery (SPEC 7; storage/sql/008): per
 * shard, one WRITE `kr_fts_index(batch, min)` at a time through the
 * connection manager, again at once while batches come back full, after
 * busy_ms while some work was found, after idle_ms when none was. min
 * is the batch (index only once a full batch waits: a burst of
 * deliveries is not slowed by indexing) except once every delay_ms,
 * when it is 1 (whatever waits gets indexed).
 * Adds what it indexed to kurier_fts_indexed_total and writes each
 * shard's backlog estimate to kurier_fts_backlog{shard="N"} in this
 * process's slot. One process per kurierd indexes (worker 0); more
 * would only share the work (the SQL skips rows another holds). On the
 * manager's loop; never blocks. */
#ifndef KR_FTS_INDEXER_H
#define KR_FTS_INDEXER_H

#include "lib/metrics.h"
#include "storage/connmgr.h"

struct event_base;
struct kr_fts_indexer;

/* Rows per kr_fts_index call (the SQL caps it at 10000). */
#define KR_FTS_BATCH 500
#define KR_FTS_BUSY_MS 200
#define KR_FTS_IDLE_MS 1000
#define KR_FTS_DELAY_MS 5000
/* Shards indexing at the same time: the work is CPU on the database
 * side, and delivery needs the cores more. */
#define KR_FTS_INFLIGHT 2

struct kr_fts_indexer_settings {
	unsigned batch;	   /* 0: KR_FTS_BATCH */
	unsigned busy_ms;  /* 0: KR_FTS_BUSY_MS */
	unsigned idle_ms;  /* 0: KR_FTS_IDLE_MS */
	unsigned delay_ms; /* 0: KR_FTS_DELAY_MS */
	unsigned inflight; /* 0: KR_FTS_INFLIGHT */
};

/* The first runs go out on the next loop turn. A batch that runs into
 * a timeout is halved for that shard (down to 1 row) and grows back by
 * doubling after each success. db, slot and ids are borrowed and must
 * outlive the indexer; s may be NULL (all defaults). */
struct kr_fts_indexer *
kr_fts_indexer_create(struct event_base *base, struct kr_connmgr *db,
		      struct kr_metrics_slot *slot,
		      const struct kr_connmgr_metrics *ids,
		      const struct kr_fts_indexer_settings *s);
/* Cancels the runs in flight (a run already sent finishes on the
 * server; its rows are indexed, only not counted here) and sets the
 * backlog gauges back to 0. Before the manager is destroyed. */
void kr_fts_indexer_destroy(struct kr_fts_indexer **indexer);

/* Rows this indexer has indexed so far (what it added to the counter). */
uint64_t kr_fts_indexer_indexed(const struct kr_fts_indexer *indexer);

#endif
