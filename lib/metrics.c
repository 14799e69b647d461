/* Metrics registry in one shared anonymous mapping. The definitions stay
 * in private memory: they are frozen before the region is mapped, so every
 * child forked afterwards holds an identical copy at the same address, and
 * each slot header points at it. Only the figures live in shared memory. */
#include "lib/metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/clock.h"
#include "lib/limits.h"

/* Atomics that are not lock-free fall back to a lock table private to each
 * process, which would not protect memory shared between processes. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics lock-free");
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "64-bit atomics lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "int atomics lock-free");

/* One cache line per slot boundary, so two processes never write the same
 * line (false sharing between workers). */
#define METRICS_ALIGN 64

struct metric_def {
	struct kr_metric_desc desc; /* strings owned */
	size_t offset;		    /* of the cell, from the slot start */
	bool hidden;		    /* reserved, not shown (kr_metrics_hide) */
};

struct metrics_hist {
	_Atomic uint64_t count;
	_Atomic uint64_t sum;
	_Atomic uint64_t buckets[KR_METRICS_BUCKETS];
};

struct kr_metrics_slot {
	_Atomic pid_t pid;
	_Atomic unsigned index;
	_Atomic int state;
	_Atomic int64_t started_ms;
	_Atomic uint64_t rss_bytes;
	_Atomic uint64_t restarts;
	/* Written once by kr_metrics_map before any fork, read-only after. */
	const struct metric_def *defs;
	unsigned n_defs;
};

struct kr_metrics {
	struct metric_def *defs;
	unsigned n_defs;
	unsigned n_slots; /* visible ones; the hidden slot follows them */
	size_t slot_size;
	unsigned char *region; /* NULL until mapped */
	size_t region_size;
};

struct kr_metrics *
kr_metrics_create(void)
{
	return kr_xcalloc(1, sizeof(struct kr_metrics));
}

void
kr_metrics_destroy(struct kr_metrics **mp)
{
	struct kr_metrics *m = *mp;
	unsigned i;

	if (m == NULL)
		return;
	if (m->region != NULL)
		munmap(m->region, m->region_size);
	for (i = 0; i < m->n_defs; i++) {
		free((char *)m->defs[i].desc.name);
		free((char *)m->defs[i].desc.labels);
		free((char *)m->defs[i].desc.help);
	}
	free(m->defs);
	free(m);
	*mp = NULL;
}

static bool
metrics_name_char(char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    c == ':')
		return true;
	return !first && c >= '0' && c <= '9';
}

static int
metrics_check_name(const char *name, struct kr_err *err_r)
{
	size_t i, len = strlen(name);

	if (len == 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "empty metric name");
	if (len > KR_METRICS_NAME_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "metric name longer than %d bytes",
				  KR_METRICS_NAME_MAX);
	for (i = 0; i < len; i++) {
		if (!metrics_name_char(name[i], i == 0))
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "invalid metric name");
	}
	return 0;
}

/* One `name="value"` pair at *pp; on success *pp is past the closing quote
 * and name_r/len_r give the label name. Values are taken verbatim into the
 * exposition, so nothing that would need escaping is allowed. */
static int
metrics_parse_label(const char **pp, const char **name_r, size_t *len_r,
		    struct kr_err *err_r)
{
	const char *p = *pp;

	*name_r = p;
	if (!metrics_name_char(*p, true) || *p == ':')
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid label name");
	while (metrics_name_char(*p, false) && *p != ':')
		p++;
	*len_r = (size_t)(p - *name_r);
	if (*len_r >= 2 && (*name_r)[0] == '_' && (*name_r)[1] == '_')
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "label names starting with __ are reserved");
	if (p[0] != '=' || p[1] != '"')
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "label without =\"value\"");
	for (p += 2; *p != '"'; p++) {
		if (*p == '\0')
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "unterminated label value");
		if (*p == '\n' || *p == '\\')
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "label value needs escaping");
	}
	*pp = p + 1;
	return 0;
}

static int
metrics_check_labels(const char *labels, bool histogram, struct kr_err *err_r)
{
	/* The shortest pair, `a=""` plus a comma, is 5 bytes. */
	struct {
		const char *name;
		size_t len;
	} seen[KR_METRICS_LABELS_MAX / 5 + 1];
	const char *p = labels;
	unsigned n = 0, i;

	if (strlen(labels) > KR_METRICS_LABELS_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "metric labels longer than %d bytes",
				  KR_METRICS_LABELS_MAX);
	while (*p != '\0') {
		const char *name = NULL;
		size_t len = 0;

		if (metrics_parse_label(&p, &name, &len, err_r) < 0)
			return -1;
		/* The exposition adds le="..." to every histogram bucket. */
		if (histogram && len == 2 && memcmp(name, "le", 2) == 0)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "label le is reserved for buckets");
		for (i = 0; i < n; i++) {
			if (seen[i].len == len &&
			    memcmp(seen[i].name, name, len) == 0)
				return kr_err_set(err_r, KR_ERR_PERMANENT,
						  "label %.*s given twice",
						  (int)len, name);
		}
		kr_assert(n < sizeof(seen) / sizeof(seen[0]));
		seen[n].name = name;
		seen[n++].len = len;
		if (*p == ',' && p[1] != '\0')
			p++;
		else if (*p != '\0')
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "labels must be separated by ','");
	}
	return 0;
}

/* Whether full is base followed by one of the series suffixes that a
 * histogram named base produces in the exposition. */
static bool
metrics_is_hist_series(const char *full, const char *base)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	size_t len = strlen(base);
	unsigned i;

	if (strncmp(full, base, len) != 0)
		return false;
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcmp(full + len, suffixes[i]) == 0)
			return true;
	}
	return false;
}

/* Metrics sharing a name form one exposition family: one HELP and TYPE for
 * all label sets, so those must agree. */
static int
metrics_check_family(const struct kr_metrics *m, const struct kr_metric_desc *d,
		     double scale, struct kr_err *err_r)
{
	unsigned i;

	for (i = 0; i < m->n_defs; i++) {
		const struct kr_metric_desc *e = &m->defs[i].desc;

		if (strcmp(e->name, d->name) != 0) {
			if ((e->kind == KR_METRIC_HISTOGRAM &&
			     metrics_is_hist_series(d->name, e->name)) ||
			    (d->kind == KR_METRIC_HISTOGRAM &&
			     metrics_is_hist_series(e->name, d->name)))
				return kr_err_set(
					err_r, KR_ERR_PERMANENT,
					"metric %s clashes with histogram "
					"series of %s",
					d->name, e->name);
			continue;
		}
		if (strcmp(e->labels, d->labels) == 0)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "metric %s{%s} defined twice",
					  d->name, d->labels);
		if (e->kind != d->kind || strcmp(e->help, d->help) != 0 ||
		    e->scale != scale)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "metric %s redefined with another "
					  "kind, help or scale",
					  d->name);
	}
	return 0;
}

static int
metrics_check_desc(const struct kr_metrics *m, const struct kr_metric_desc *d,
		   double scale, struct kr_err *err_r)
{
	if (d->kind != KR_METRIC_COUNTER && d->kind != KR_METRIC_GAUGE &&
	    d->kind != KR_METRIC_HISTOGRAM)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "bad metric kind");
	if (!isfinite(scale) || scale <= 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "metric scale must be positive");
	if (strlen(d->help) > KR_METRICS_HELP_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "metric help longer than %d bytes",
				  KR_METRICS_HELP_MAX);
	if (metrics_check_name(d->name, err_r) < 0 ||
	    metrics_check_labels(d->labels, d->kind == KR_METRIC_HISTOGRAM,
				 err_r) < 0)
		return -1;
	return metrics_check_family(m, d, scale, err_r);
}

int
kr_metrics_define(struct kr_metrics *m, const struct kr_metric_desc *desc,
		  struct kr_err *err_r)
{
	struct kr_metric_desc d = *desc;
	struct metric_def *def;

	if (m->region != NULL)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "metric defined after the region was mapped");
	if (m->n_defs >= KR_METRICS_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT, "more than %d metrics",
				  KR_METRICS_MAX);
	if (d.name == NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "no metric name");
	if (d.labels == NULL)
		d.labels = "";
	if (d.help == NULL)
		d.help = "";
	/* A zero scale is an initialiser that left it out: plain units. */
	if (d.scale == 0)
		d.scale = 1;
	if (metrics_check_desc(m, &d, d.scale, err_r) < 0)
		return -1;

	m->defs = kr_xrealloc(m->defs, (m->n_defs + 1) * sizeof(*m->defs));
	def = &m->defs[m->n_defs];
	memset(def, 0, sizeof(*def));
	def->desc.name = kr_xstrdup(d.name);
	def->desc.labels = kr_xstrdup(d.labels);
	def->desc.help = kr_xstrdup(d.help);
	def->desc.kind = d.kind;
	def->desc.scale = d.scale;
	return (int)m->n_defs++;
}

int
kr_metrics_define_table(struct kr_metrics *m, const struct kr_metric_def *defs,
			size_t n, void *ids, struct kr_err *err_r)
{
	for (size_t i = 0; i < n; i++) {
		int id = kr_metrics_define(m, &defs[i].desc, err_r);

		if (id < 0)
			return -1;
		memcpy((char *)ids + defs[i].offset, &id, sizeof(id));
	}
	return 0;
}

void *
kr_metrics_define_ids(struct kr_metrics *m, const struct kr_metric_def *defs,
		      size_t n, size_t ids_size, struct kr_err *err_r)
{
	void *ids = kr_xcalloc(1, ids_size);

	if (kr_metrics_define_table(m, defs, n, ids, err_r) < 0) {
		free(ids);
		return NULL;
	}
	return ids;
}

static size_t
metrics_round_up(size_t n)
{
	return (n + METRICS_ALIGN - 1) & ~(size_t)(METRICS_ALIGN - 1);
}

static struct kr_metrics_slot *
metrics_slot_at(const struct kr_metrics *m, unsigned i)
{
	return (struct kr_metrics_slot *)(void *)(m->region +
						  (size_t)i * m->slot_size);
}

int
kr_metrics_map(struct kr_metrics *m, unsigned n_slots, struct kr_err *err_r)
{
	size_t off = metrics_round_up(sizeof(struct kr_metrics_slot));
	unsigned i;
	void *p;

	if (m->region != NULL)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "metrics region mapped twice");
	if (n_slots == 0 || n_slots > KR_METRICS_SLOTS_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "metrics slots must be 1..%d",
				  KR_METRICS_SLOTS_MAX);
	/* Bounded by KR_METRICS_MAX and KR_METRICS_SLOTS_MAX: no overflow. */
	for (i = 0; i < m->n_defs; i++) {
		m->defs[i].offset = off;
		off += m->defs[i].desc.kind == KR_METRIC_HISTOGRAM
			       ? sizeof(struct metrics_hist)
			       : sizeof(_Atomic uint64_t);
	}
	m->slot_size = metrics_round_up(off);
	m->region_size = m->slot_size * ((size_t)n_slots + 1);
	p = mmap(NULL, m->region_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "mmap of %zu bytes for metrics failed",
				  m->region_size);
	m->region = p;
	m->n_slots = n_slots;
	for (i = 0; i <= n_slots; i++) {
		metrics_slot_at(m, i)->defs = m->defs;
		metrics_slot_at(m, i)->n_defs = m->n_defs;
	}
	return 0;
}

unsigned
kr_metrics_count(const struct kr_metrics *m)
{
	return m->n_defs;
}

unsigned
kr_metrics_slots(const struct kr_metrics *m)
{
	return m->n_slots;
}

const struct kr_metric_desc *
kr_metrics_desc(const struct kr_metrics *m, int id)
{
	kr_assert(id >= 0 && (unsigned)id < m->n_defs);
	return &m->defs[id].desc;
}

void
kr_metrics_hide(struct kr_metrics *m, int id, bool hidden)
{
	kr_assert(id >= 0 && (unsigned)id < m->n_defs);
	m->defs[id].hidden = hidden;
}

bool
kr_metrics_hidden(const struct kr_metrics *m, int id)
{
	kr_assert(id >= 0 && (unsigned)id < m->n_defs);
	return m->defs[id].hidden;
}

int
kr_metrics_find(const struct kr_metrics *m, const char *name,
		const char *labels)
{
	unsigned i;

	if (labels == NULL)
		labels = "";
	for (i = 0; i < m->n_defs; i++) {
		if (strcmp(m->defs[i].desc.name, name) == 0 &&
		    strcmp(m->defs[i].desc.labels, labels) == 0)
			return (int)i;
	}
	return -1;
}

struct kr_metrics_slot *
kr_metrics_slot(struct kr_metrics *m, unsigned i)
{
	kr_assert(m->region != NULL);
	kr_assert(i < m->n_slots);
	return metrics_slot_at(m, i);
}

static void *
metrics_cell(const struct kr_metrics_slot *s, int id, enum kr_metric_kind kind)
{
	if (id < 0 || (unsigned)id >= s->n_defs)
		kr_panic("metric id %d out of range", id);
	if (s->defs[id].desc.kind != kind)
		kr_panic("metric %s used as the wrong kind",
			 s->defs[id].desc.name);
	return (unsigned char *)s + s->defs[id].offset;
}

void
kr_metrics_add(struct kr_metrics_slot *s, int id, uint64_t n)
{
	_Atomic uint64_t *c = metrics_cell(s, id, KR_METRIC_COUNTER);

	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void
kr_metrics_inc(struct kr_metrics_slot *s, int id)
{
	kr_metrics_add(s, id, 1);
}

void
kr_metrics_gauge_set(struct kr_metrics_slot *s, int id, int64_t v)
{
	_Atomic int64_t *g = metrics_cell(s, id, KR_METRIC_GAUGE);

	atomic_store_explicit(g, v, memory_order_relaxed);
}

void
kr_metrics_gauge_add(struct kr_metrics_slot *s, int id, int64_t delta)
{
	_Atomic int64_t *g = metrics_cell(s, id, KR_METRIC_GAUGE);

	atomic_fetch_add_explicit(g, delta, memory_order_relaxed);
}

static unsigned
metrics_bucket(uint64_t v)
{
	unsigned i;

	if (v <= 1)
		return 0;
	/* The smallest i with v <= 2^i is the bit length of v - 1. */
	i = 64 - (unsigned)__builtin_clzll(v - 1);
	return i < KR_METRICS_BUCKETS - 1 ? i : KR_METRICS_BUCKETS - 1;
}

void
kr_metrics_observe(struct kr_metrics_slot *s, int id, uint64_t v)
{
	struct metrics_hist *h = metrics_cell(s, id, KR_METRIC_HISTOGRAM);

	atomic_fetch_add_explicit(&h->buckets[metrics_bucket(v)], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static void
metrics_zero_cells(struct kr_metrics_slot *s)
{
	unsigned id, i;

	for (id = 0; id < s->n_defs; id++) {
		unsigned char *cell = (unsigned char *)s + s->defs[id].offset;
		struct metrics_hist *h = (struct metrics_hist *)(void *)cell;

		if (s->defs[id].desc.kind != KR_METRIC_HISTOGRAM) {
			atomic_store_explicit((_Atomic uint64_t *)(void *)cell,
					      0, memory_order_relaxed);
			continue;
		}
		atomic_store_explicit(&h->count, 0, memory_order_relaxed);
		atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
		for (i = 0; i < KR_METRICS_BUCKETS; i++)
			atomic_store_explicit(&h->buckets[i], 0,
					      memory_order_relaxed);
	}
}

static void
metrics_zero_header(struct kr_metrics_slot *s)
{
	atomic_store_explicit(&s->pid, 0, memory_order_release);
	atomic_store_explicit(&s->index, 0, memory_order_relaxed);
	atomic_store_explicit(&s->state, 0, memory_order_relaxed);
	atomic_store_explicit(&s->started_ms, 0, memory_order_relaxed);
	atomic_store_explicit(&s->rss_bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&s->restarts, 0, memory_order_relaxed);
}

void
kr_metrics_slot_claim(struct kr_metrics_slot *s, pid_t pid, unsigned index)
{
	kr_assert(pid > 0);
	kr_assert(atomic_load_explicit(&s->pid, memory_order_acquire) == 0);
	metrics_zero_header(s);
	metrics_zero_cells(s);
	atomic_store_explicit(&s->index, index, memory_order_relaxed);
	atomic_store_explicit(&s->started_ms, kr_clock_wall_ms(),
			      memory_order_relaxed);
	/* Last, so a reader that sees the pid sees the rest of the claim. */
	atomic_store_explicit(&s->pid, pid, memory_order_release);
}

static void
metrics_fold_u64(_Atomic uint64_t *to, const _Atomic uint64_t *from)
{
	atomic_fetch_add_explicit(
		to, atomic_load_explicit(from, memory_order_relaxed),
		memory_order_relaxed);
}

static void
metrics_fold(struct kr_metrics_slot *dst, const struct kr_metrics_slot *src)
{
	unsigned id, i;

	for (id = 0; id < src->n_defs; id++) {
		size_t off = src->defs[id].offset;
		const void *from = (const unsigned char *)src + off;
		void *to = (unsigned char *)dst + off;
		const struct metrics_hist *hs = from;
		struct metrics_hist *hd = to;

		switch (src->defs[id].desc.kind) {
		case KR_METRIC_GAUGE:
			break; /* a dead process holds nothing */
		case KR_METRIC_COUNTER:
			metrics_fold_u64(to, from);
			break;
		case KR_METRIC_HISTOGRAM:
			metrics_fold_u64(&hd->count, &hs->count);
			metrics_fold_u64(&hd->sum, &hs->sum);
			for (i = 0; i < KR_METRICS_BUCKETS; i++)
				metrics_fold_u64(&hd->buckets[i],
						 &hs->buckets[i]);
			break;
		}
	}
}

void
kr_metrics_slot_retire(struct kr_metrics *m, struct kr_metrics_slot *s)
{
	unsigned char *p = (unsigned char *)s;

	kr_assert(m->region != NULL);
	kr_assert(p >= m->region &&
		  p < m->region + (size_t)m->n_slots * m->slot_size &&
		  (size_t)(p - m->region) % m->slot_size == 0);
	/* The owner has exited, so nobody writes s while it is folded; a
	 * reader may briefly count its figures twice, never lose them. */
	metrics_fold(metrics_slot_at(m, m->n_slots), s);
	metrics_zero_cells(s);
	metrics_zero_header(s);
}

void
kr_metrics_slot_set_rss(struct kr_metrics_slot *s, uint64_t rss_bytes)
{
	atomic_store_explicit(&s->rss_bytes, rss_bytes, memory_order_relaxed);
}

void
kr_metrics_slot_set_state(struct kr_metrics_slot *s, int state)
{
	atomic_store_explicit(&s->state, state, memory_order_relaxed);
}

void
kr_metrics_slot_set_restarts(struct kr_metrics_slot *s, uint64_t n)
{
	atomic_store_explicit(&s->restarts, n, memory_order_relaxed);
}

void
kr_metrics_slot_get_info(const struct kr_metrics_slot *s,
			 struct kr_metrics_slot_info *info_r)
{
	info_r->pid = atomic_load_explicit(&s->pid, memory_order_acquire);
	info_r->index = atomic_load_explicit(&s->index, memory_order_relaxed);
	info_r->started_ms =
		atomic_load_explicit(&s->started_ms, memory_order_relaxed);
	info_r->rss_bytes =
		atomic_load_explicit(&s->rss_bytes, memory_order_relaxed);
	info_r->restarts =
		atomic_load_explicit(&s->restarts, memory_order_relaxed);
	info_r->state = atomic_load_explicit(&s->state, memory_order_relaxed);
}

/* Adds the figures of metric id in s to v_r. */
static void
metrics_accumulate(const struct kr_metrics_slot *s, int id,
		   enum kr_metric_kind kind, struct kr_metric_value *v_r)
{
	const struct metrics_hist *h;
	unsigned i;

	if (kind == KR_METRIC_COUNTER) {
		const _Atomic uint64_t *c = metrics_cell(s, id, kind);

		v_r->value +=
			(int64_t)atomic_load_explicit(c, memory_order_relaxed);
		return;
	}
	if (kind == KR_METRIC_GAUGE) {
		const _Atomic int64_t *g = metrics_cell(s, id, kind);

		v_r->value += atomic_load_explicit(g, memory_order_relaxed);
		return;
	}
	h = metrics_cell(s, id, kind);
	v_r->value +=
		(int64_t)atomic_load_explicit(&h->count, memory_order_relaxed);
	v_r->sum += atomic_load_explicit(&h->sum, memory_order_relaxed);
	for (i = 0; i < KR_METRICS_BUCKETS; i++)
		v_r->buckets[i] += atomic_load_explicit(&h->buckets[i],
							memory_order_relaxed);
}

void
kr_metrics_read_slot(const struct kr_metrics_slot *s, int id,
		     struct kr_metric_value *v_r)
{
	memset(v_r, 0, sizeof(*v_r));
	if (id < 0 || (unsigned)id >= s->n_defs)
		kr_panic("metric id %d out of range", id);
	metrics_accumulate(s, id, s->defs[id].desc.kind, v_r);
}

void
kr_metrics_read_total(const struct kr_metrics *m, int id,
		      struct kr_metric_value *v_r)
{
	unsigned i;

	kr_assert(m->region != NULL);
	if (id < 0 || (unsigned)id >= m->n_defs)
		kr_panic("metric id %d out of range", id);
	memset(v_r, 0, sizeof(*v_r));
	/* Gauges of free slots and of the hidden one are zero, so summing
	 * every slot is the sum over live ones. */
	for (i = 0; i <= m->n_slots; i++)
		metrics_accumulate(metrics_slot_at(m, i), id,
				   m->defs[id].desc.kind, v_r);
}

double
kr_metrics_bucket_bound(unsigned i)
{
	kr_assert(i < KR_METRICS_BUCKETS);
	if (i == KR_METRICS_BUCKETS - 1)
		return INFINITY;
	return ldexp(1.0, (int)i);
}

double
kr_metrics_quantile(const struct kr_metric_value *v, double q)
{
	double rank, cum = 0, lo;
	unsigned i, last = 0;

	if (v->value <= 0)
		return 0;
	rank = q * (double)v->value;
	for (i = 0; i < KR_METRICS_BUCKETS; i++) {
		double n = (double)v->buckets[i];

		if (n == 0)
			continue;
		last = i;
		if (cum + n >= rank)
			break;
		cum += n;
	}
	/* Past the loop only when a reader raced a writer and the buckets
	 * add up to less than count: take the highest populated bucket. */
	if (i == KR_METRICS_BUCKETS) {
		i = last;
		rank = cum;
		cum -= (double)v->buckets[i];
	}
	lo = i == 0 ? 0 : kr_metrics_bucket_bound(i - 1);
	if (i == KR_METRICS_BUCKETS - 1)
		return lo;
	if (v->buckets[i] == 0)
		return 0; /* count > 0 but no bucket seen yet (racing) */
	return lo + (kr_metrics_bucket_bound(i) - lo) * (rank - cum) /
			    (double)v->buckets[i];
}
