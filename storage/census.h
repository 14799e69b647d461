/* The census of users per shard for the dashboard: every interval one
 * READ `SELECT count(*) FROM users` per shard through the connection
 * manager, its answer written to the gauge kurier_db_users{shard="N"}
 * (kr_connmgr_users_metric) in this process's slot. One process per
 * kurierd counts (worker 0), the others leave their gauges at 0, so the
 * sum over slots is the count. On the manager's loop; never blocks. A
 * failed or refused query leaves the last value. */
#ifndef KR_CENSUS_H
#define KR_CENSUS_H

#include "lib/metrics.h"
#include "storage/connmgr.h"

struct event_base;
struct kr_census;

/* The first count goes out min(1 s, interval_ms) from now, then one
 * every interval_ms (at least 100). db, slot and ids are borrowed and
 * must outlive the census. */
struct kr_census *kr_census_create(struct event_base *base,
				   struct kr_connmgr *db,
				   struct kr_metrics_slot *slot,
				   const struct kr_connmgr_metrics *ids,
				   unsigned interval_ms);
/* Cancels the counts in flight and sets the gauges back to 0 (whoever
 * counts next, e.g. the replacement of a draining worker, is then not
 * added to stale figures). Before the manager is destroyed. */
void kr_census_destroy(struct kr_census **census);

#endif
