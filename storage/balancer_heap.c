/* Least-loaded balancer: a binary min-heap of the nodes keyed by
 * (down, outstanding, rank in the seed's order). Down nodes sort after
 * every up node, so the root is the least-loaded up node, or the
 * least-loaded node of all when all are down. The rank makes the key a
 * total order: the root is always the one node a brute-force scan would
 * choose. Each node's heap slot is tracked so a change to one node is
 * repaired in O(log n). */
#include <stdlib.h>

#include "lib/err.h"
#include "storage/balancer_private.h"

struct balancer_heap {
	struct kr_balancer b;
	unsigned *heap; /* slot -> node */
	unsigned *pos;	/* node -> slot */
	unsigned *rank; /* node -> index in b.order */
};

static bool
balancer_heap_less(const struct balancer_heap *h, unsigned x, unsigned y)
{
	const struct kr_balancer *b = &h->b;

	if (b->down[x] != b->down[y])
		return !b->down[x];
	if (b->load[x] != b->load[y])
		return b->load[x] < b->load[y];
	return h->rank[x] < h->rank[y];
}

static void
balancer_heap_swap(struct balancer_heap *h, unsigned i, unsigned j)
{
	unsigned t = h->heap[i];

	h->heap[i] = h->heap[j];
	h->heap[j] = t;
	h->pos[h->heap[i]] = i;
	h->pos[h->heap[j]] = j;
}

/* Returns the slot the node ended in. */
static unsigned
balancer_heap_sift_up(struct balancer_heap *h, unsigned i)
{
	while (i > 0) {
		unsigned parent = (i - 1) / 2;

		if (!balancer_heap_less(h, h->heap[i], h->heap[parent]))
			break;
		balancer_heap_swap(h, i, parent);
		i = parent;
	}
	return i;
}

static void
balancer_heap_sift_down(struct balancer_heap *h, unsigned i)
{
	unsigned n = h->b.n_nodes;

	for (;;) {
		unsigned least = i, l = 2 * i + 1, r = 2 * i + 2;

		if (l < n && balancer_heap_less(h, h->heap[l], h->heap[least]))
			least = l;
		if (r < n && balancer_heap_less(h, h->heap[r], h->heap[least]))
			least = r;
		if (least == i)
			return;
		balancer_heap_swap(h, i, least);
		i = least;
	}
}

/* One node's key moved either way: at most one of the sifts moves it. */
static void
balancer_heap_fix(struct kr_balancer *b, unsigned node)
{
	struct balancer_heap *h = (struct balancer_heap *)b;

	balancer_heap_sift_down(h, balancer_heap_sift_up(h, h->pos[node]));
}

static int
balancer_heap_pick(struct kr_balancer *b)
{
	const struct balancer_heap *h = (const struct balancer_heap *)b;

	return (int)h->heap[0];
}

static unsigned
balancer_heap_aperture(const struct kr_balancer *b)
{
	return b->n_nodes;
}

static void
balancer_heap_deinit(struct kr_balancer *b)
{
	struct balancer_heap *h = (struct balancer_heap *)b;

	free(h->heap);
	free(h->pos);
	free(h->rank);
}

static const struct kr_balancer_vfuncs balancer_heap_vfuncs = {
	.deinit = balancer_heap_deinit,
	.pick = balancer_heap_pick,
	.load_changed = balancer_heap_fix,
	.down_changed = balancer_heap_fix,
	.aperture = balancer_heap_aperture,
};

struct kr_balancer *
kr_balancer_heap_create(unsigned n_nodes,
			const struct kr_balancer_settings *set, uint64_t seed)
{
	struct balancer_heap *h = kr_xcalloc(1, sizeof(*h));

	kr_balancer_init(&h->b, &balancer_heap_vfuncs, n_nodes, set, seed);
	h->heap = kr_xcalloc(n_nodes, sizeof(*h->heap));
	h->pos = kr_xcalloc(n_nodes, sizeof(*h->pos));
	h->rank = kr_xcalloc(n_nodes, sizeof(*h->rank));
	/* All keys start at (up, 0): laying the nodes out in rank order
	 * is already a valid heap. */
	for (unsigned i = 0; i < n_nodes; i++) {
		unsigned node = h->b.order[i];

		h->rank[node] = i;
		h->heap[i] = node;
		h->pos[node] = i;
	}
	return &h->b;
}
