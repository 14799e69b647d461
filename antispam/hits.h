/* Rule hit counts of every worker of the host, by test name, for
 * /metrics (SPEC.md §5: the verdict "in metrics, per rule hit
 * counts"). The names are not known before the workers load their
 * rules, so they cannot be metrics of the fixed registry: this is a
 * table of its own in one shared anonymous mapping, made by the master
 * before it forks, counted into by workers, read by the admin side. */
#ifndef KR_HITS_H
#define KR_HITS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* A name is at most this long, NUL included (longer ones are cut);
 * the slots a table may have. */
#define KR_HITS_NAME_MAX 48
#define KR_HITS_SLOTS_MAX (1u << 20)

struct kr_hits;

/* slots: the distinct names kept (1..KR_HITS_SLOTS_MAX); names beyond
 * them are counted under "_OTHER". -1 + err_r when it cannot map. */
int kr_hits_create(size_t slots, struct kr_hits **h_r, struct kr_err *err_r);
void kr_hits_destroy(struct kr_hits **h);

/* Adds n hits of name. Lock-free; any process. */
void kr_hits_add(struct kr_hits *h, const char *name, uint64_t n);

/* Calls fn for every name with its count, in table order. */
void kr_hits_each(const struct kr_hits *h,
		  void (*fn)(void *ctx, const char *name, uint64_t n),
		  void *ctx);

#endif
