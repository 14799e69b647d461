/* Metrics registry in shared memory (SPEC.md §2). Before forking, the
 * master defines every metric and maps one region with a slot per
 * process (workers, and the master itself), plus one hidden slot that
 * keeps the figures of processes that have exited. A process writes only
 * its own slot, with relaxed atomics and no locks; anyone (the admin
 * side in the master) reads all slots. Counters and histograms keep
 * counting across worker restarts: kr_metrics_slot_retire folds a dead
 * process's slot into the hidden one before the slot is reused.
 * Histograms have fixed log-scale buckets: bucket i counts values
 * <= 2^i base units (i < KR_METRICS_BUCKETS - 1); the last is +Inf. */
#ifndef KR_METRICS_H
#define KR_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

#define KR_METRICS_BUCKETS 32

enum kr_metric_kind {
	KR_METRIC_COUNTER,
	KR_METRIC_GAUGE,
	KR_METRIC_HISTOGRAM,
};

struct kr_metrics;
struct kr_metrics_slot;

struct kr_metric_desc {
	const char *name;   /* Prometheus name, e.g. kurier_requests_total */
	const char *labels; /* "" or `node="3",role="primary"` */
	const char *help;
	enum kr_metric_kind kind;
	/* Exposition divides values by this: 1e6 for microseconds shown as
	 * seconds, 1 otherwise. */
	double scale;
};

/* The scale of a histogram kept in microseconds and shown in seconds. */
#define KR_METRIC_SCALE_US 1e6

/* One row of a part's metric table: the metric, and where its id goes
 * in the part's struct of ids (offsetof an int member). Each part
 * defines its own metrics from such a table (e.g. server/lmtp). */
struct kr_metric_def {
	size_t offset;
	struct kr_metric_desc desc;
};

/* Aggregated or per-slot figures of one metric. */
struct kr_metric_value {
	int64_t value; /* counter total or gauge value; histogram: count */
	uint64_t sum;  /* histogram only */
	uint64_t buckets[KR_METRICS_BUCKETS]; /* histogram only, not cumulative
					       */
};

/* What the process owning a slot is doing, for /api/workers. */
enum kr_slot_state {
	KR_SLOT_FREE,
	KR_SLOT_STARTING,
	KR_SLOT_SERVING,
	KR_SLOT_DRAINING,
};

/* The process-wide bookkeeping of one slot, for /api/workers. */
struct kr_metrics_slot_info {
	pid_t pid;	    /* 0 = free */
	unsigned index;	    /* worker number, stable across restarts */
	int64_t started_ms; /* wall clock */
	uint64_t rss_bytes; /* written by the process itself */
	uint64_t restarts;  /* written by the master */
	int state;	    /* enum kr_slot_state */
};

struct kr_metrics *kr_metrics_create(void);
/* Unmaps the region (in the calling process only) and frees. */
void kr_metrics_destroy(struct kr_metrics **m);

/* Before kr_metrics_map only. Returns the metric id (>= 0), or -1 +
 * err_r (too many metrics, name or labels too long, or the same
 * name+labels twice). Strings are copied. */
int kr_metrics_define(struct kr_metrics *m, const struct kr_metric_desc *desc,
		      struct kr_err *err_r);
/* Before kr_metrics_map only. Defines defs[0..n) in that order (the
 * order /metrics shows them in), each id stored at (char *)ids +
 * offset; -1 + err_r as kr_metrics_define at the first refused. */
int kr_metrics_define_table(struct kr_metrics *m,
			    const struct kr_metric_def *defs, size_t n,
			    void *ids, struct kr_err *err_r);
/* The same into a zeroed struct of ids_size bytes it allocates (free
 * it with free()); NULL + err_r when one is refused. */
void *kr_metrics_define_ids(struct kr_metrics *m,
			    const struct kr_metric_def *defs, size_t n,
			    size_t ids_size, struct kr_err *err_r);
/* A part's table as the defs and n of the calls above. */
#define KR_METRICS_TABLE(defs) (defs), sizeof(defs) / sizeof((defs)[0])
/* Maps the shared region with n_slots visible slots (MAP_SHARED |
 * MAP_ANONYMOUS, so children forked afterwards share it). */
int kr_metrics_map(struct kr_metrics *m, unsigned n_slots,
		   struct kr_err *err_r);

unsigned kr_metrics_count(const struct kr_metrics *m);
unsigned kr_metrics_slots(const struct kr_metrics *m);
/* Borrowed; valid while m lives. */
const struct kr_metric_desc *kr_metrics_desc(const struct kr_metrics *m,
					     int id);
/* Reserved metrics (e.g. those of shards a reload may add) are defined
 * before the fork like any other and hidden until they mean something:
 * the exposition skips a hidden metric. The flag lives in this
 * process's private copy of the definitions, so it may change after
 * kr_metrics_map; children forked afterwards inherit it. Writing to a
 * hidden metric is allowed (it is counted, just not shown). */
void kr_metrics_hide(struct kr_metrics *m, int id, bool hidden);
bool kr_metrics_hidden(const struct kr_metrics *m, int id);
/* The id of a defined metric, or -1. */
int kr_metrics_find(const struct kr_metrics *m, const char *name,
		    const char *labels);

struct kr_metrics_slot *kr_metrics_slot(struct kr_metrics *m, unsigned i);

/* Writers: the slot's own process only. Ids of the wrong kind are a
 * bug (kr_panic). */
void kr_metrics_add(struct kr_metrics_slot *s, int id, uint64_t n);
void kr_metrics_inc(struct kr_metrics_slot *s, int id);
void kr_metrics_gauge_set(struct kr_metrics_slot *s, int id, int64_t v);
void kr_metrics_gauge_add(struct kr_metrics_slot *s, int id, int64_t delta);
void kr_metrics_observe(struct kr_metrics_slot *s, int id, uint64_t v);

/* Slot bookkeeping. claim: pid and index set, started now, figures
 * zeroed; the slot must be free. retire: counters and histograms are
 * added into the hidden slot, then the slot is zeroed and freed. */
void kr_metrics_slot_claim(struct kr_metrics_slot *s, pid_t pid,
			   unsigned index);
void kr_metrics_slot_retire(struct kr_metrics *m, struct kr_metrics_slot *s);
void kr_metrics_slot_set_rss(struct kr_metrics_slot *s, uint64_t rss_bytes);
void kr_metrics_slot_set_state(struct kr_metrics_slot *s, int state);
void kr_metrics_slot_set_restarts(struct kr_metrics_slot *s, uint64_t n);
void kr_metrics_slot_get_info(const struct kr_metrics_slot *s,
			      struct kr_metrics_slot_info *info_r);

/* Readers. One slot's figures, or all slots plus the retired figures
 * added up (gauges: the sum over live slots). */
void kr_metrics_read_slot(const struct kr_metrics_slot *s, int id,
			  struct kr_metric_value *v_r);
void kr_metrics_read_total(const struct kr_metrics *m, int id,
			   struct kr_metric_value *v_r);
/* Estimated q-quantile (0 < q < 1) in base units, interpolating
 * linearly inside the bucket; 0 for an empty histogram. */
double kr_metrics_quantile(const struct kr_metric_value *v, double q);
/* Upper bound of bucket i in base units (+INFINITY for the last). */
double kr_metrics_bucket_bound(unsigned i);

#endif
