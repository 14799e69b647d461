/* What the balancer implementations (balancer_heap.c,
 * balancer_aperture.c) share with balancer.c; not for other callers.
 * balancer.c keeps the per-node counts and checks the arguments, then
 * tells the implementation what changed through its vfuncs. */
#ifndef KR_BALANCER_PRIVATE_H
#define KR_BALANCER_PRIVATE_H

#include "storage/balancer.h"

struct kr_balancer_vfuncs {
	/* Frees the implementation's own arrays, not the struct. */
	void (*deinit)(struct kr_balancer *b);
	/* Called only when n_nodes > 0. */
	int (*pick)(struct kr_balancer *b);
	/* After load[node] or down[node] has changed. */
	void (*load_changed)(struct kr_balancer *b, unsigned node);
	void (*down_changed)(struct kr_balancer *b, unsigned node);
	unsigned (*aperture)(const struct kr_balancer *b);
};

/* Implementations embed this as their first member. */
struct kr_balancer {
	const struct kr_balancer_vfuncs *v;
	struct kr_balancer_settings set;
	unsigned n_nodes;
	unsigned *load; /* outstanding requests per node */
	bool *down;
	unsigned *order; /* 0..n_nodes-1 shuffled from the seed */
	uint64_t rng;	 /* splitmix64 state */
};

/* Fills the shared part of b (allocated by the implementation). */
void kr_balancer_init(struct kr_balancer *b, const struct kr_balancer_vfuncs *v,
		      unsigned n_nodes, const struct kr_balancer_settings *set,
		      uint64_t seed);
/* Uniform in [0, n), n > 0. */
unsigned kr_balancer_rand_below(struct kr_balancer *b, unsigned n);

struct kr_balancer *
kr_balancer_heap_create(unsigned n_nodes,
			const struct kr_balancer_settings *set, uint64_t seed);
struct kr_balancer *
kr_balancer_aperture_create(unsigned n_nodes,
			    const struct kr_balancer_settings *set,
			    uint64_t seed);

#endif
