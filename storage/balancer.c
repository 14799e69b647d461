/* The balancer interface: argument checks and the per-node counts
 * shared by both implementations, the seeded shuffle and the PRNG. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "lib/err.h"
#include "lib/limits.h"
#include "storage/balancer_private.h"

void
kr_balancer_settings_init(struct kr_balancer_settings *set_r)
{
	set_r->kind = KR_BALANCER_HEAP;
	set_r->aperture_low = KR_STORAGE_APERTURE_LOW_DEFAULT;
	set_r->aperture_high = KR_STORAGE_APERTURE_HIGH_DEFAULT;
	set_r->aperture_min = KR_STORAGE_APERTURE_MIN_DEFAULT;
}

/* splitmix64 (Steele, Lea, Flood 2014): one add and a mix per number,
 * good enough statistically for spreading load, and its state is a
 * plain per-balancer value, so no rand() and no shared state. */
static uint64_t
balancer_rand(struct kr_balancer *b)
{
	uint64_t z = (b->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

unsigned
kr_balancer_rand_below(struct kr_balancer *b, unsigned n)
{
	kr_assert(n > 0);
	/* The modulo bias is below n / 2^64: nothing at replica counts. */
	return (unsigned)(balancer_rand(b) % n);
}

void
kr_balancer_init(struct kr_balancer *b, const struct kr_balancer_vfuncs *v,
		 unsigned n_nodes, const struct kr_balancer_settings *set,
		 uint64_t seed)
{
	b->v = v;
	b->set = *set;
	b->n_nodes = n_nodes;
	b->load = kr_xcalloc(n_nodes, sizeof(*b->load));
	b->down = kr_xcalloc(n_nodes, sizeof(*b->down));
	b->order = kr_xcalloc(n_nodes, sizeof(*b->order));
	b->rng = seed;
	/* Fisher-Yates. */
	for (unsigned i = 0; i < n_nodes; i++)
		b->order[i] = i;
	for (unsigned i = n_nodes; i > 1; i--) {
		unsigned j = kr_balancer_rand_below(b, i);
		unsigned t = b->order[i - 1];

		b->order[i - 1] = b->order[j];
		b->order[j] = t;
	}
}

struct kr_balancer *
kr_balancer_create(unsigned n_nodes, const struct kr_balancer_settings *set,
		   uint64_t seed)
{
	/* The negated comparisons also reject NaN. */
	kr_assert(set->aperture_low >= 0 && isfinite(set->aperture_high));
	kr_assert(!(set->aperture_high <= set->aperture_low));
	kr_assert(set->aperture_min >= 1);
	switch (set->kind) {
	case KR_BALANCER_HEAP:
		return kr_balancer_heap_create(n_nodes, set, seed);
	case KR_BALANCER_APERTURE:
		return kr_balancer_aperture_create(n_nodes, set, seed);
	}
	kr_panic("balancer: unknown kind %d", (int)set->kind);
}

void
kr_balancer_destroy(struct kr_balancer **b)
{
	if (b == NULL || *b == NULL)
		return;
	(*b)->v->deinit(*b);
	free((*b)->load);
	free((*b)->down);
	free((*b)->order);
	free(*b);
	*b = NULL;
}

int
kr_balancer_pick(struct kr_balancer *b)
{
	if (b->n_nodes == 0)
		return -1;
	return b->v->pick(b);
}

void
kr_balancer_acquire(struct kr_balancer *b, unsigned node)
{
	kr_assert(node < b->n_nodes);
	kr_assert(b->load[node] < UINT_MAX);
	b->load[node]++;
	b->v->load_changed(b, node);
}

void
kr_balancer_release(struct kr_balancer *b, unsigned node)
{
	kr_assert(node < b->n_nodes);
	kr_assert(b->load[node] > 0);
	b->load[node]--;
	b->v->load_changed(b, node);
}

void
kr_balancer_set_down(struct kr_balancer *b, unsigned node, bool down)
{
	kr_assert(node < b->n_nodes);
	if (b->down[node] == down)
		return;
	b->down[node] = down;
	b->v->down_changed(b, node);
}

unsigned
kr_balancer_load(const struct kr_balancer *b, unsigned node)
{
	kr_assert(node < b->n_nodes);
	return b->load[node];
}

unsigned
kr_balancer_aperture(const struct kr_balancer *b)
{
	return b->v->aperture(b);
}
