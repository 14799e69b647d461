/* The store's group-commit metrics: how many messages each
 * kr_deliver_batch call carried (the histogram's _count is the calls,
 * its _sum the messages) and how long a message waited in its shard's
 * queue before its call was sent (what grouping costs in latency). */
#include <stddef.h>

#include "lib/metrics.h"
#include "storage/store.h"
#include "storage/store_priv.h"

#define STORE_ID(f) offsetof(struct kr_store_metrics, f)

static const struct kr_metric_def store_metric_defs[] = {
	{ STORE_ID(batch_messages),
	  { "kurier_store_commit_messages", "",
	    "Messages per group commit (kr_deliver_batch call).",
	    KR_METRIC_HISTOGRAM, 1 } },
	{ STORE_ID(queue_wait),
	  { "kurier_store_commit_wait_seconds", "",
	    "From a message queued on its shard to its commit being sent.",
	    KR_METRIC_HISTOGRAM, KR_METRIC_SCALE_US } },
};

struct kr_store_metrics *
kr_store_metrics_define(struct kr_metrics *m, struct kr_err *err_r)
{
	return kr_metrics_define_ids(m, KR_METRICS_TABLE(store_metric_defs),
				     sizeof(struct kr_store_metrics), err_r);
}

void
kr_store_set_metrics(struct kr_store *store, struct kr_metrics_slot *slot,
		     const struct kr_store_metrics *ids)
{
	store->slot = slot;
	store->ids = ids;
}
