/* Aperture balancer: requests go to a window of the first `size` up
 * nodes of the seed's order, chosen there by the power of two choices
 * (draw two, take the less loaded), which keeps the loads inside the
 * window close without a scan for the minimum. The window is as small
 * as the load allows: fewer nodes each with more requests in flight
 * keep their connections warm and their pools small, and workers with
 * different seeds cover different nodes. The window is recomputed from
 * the order on every use; n_nodes is a shard's replica count, so O(n)
 * is a handful of steps and there is no second structure to keep in
 * step with down/up changes. */
#include <stdlib.h>

#include "lib/err.h"
#include "storage/balancer_private.h"

struct balancer_aperture {
	struct kr_balancer b;
	unsigned size;	/* aperture: up nodes to spread over */
	unsigned min;	/* aperture_min capped at n_nodes */
	unsigned *cand; /* pick's scratch: the window's nodes */
};

/* The first `size` up nodes of the order: their number (fewer than
 * size when fewer are up) and their total load. */
static unsigned
balancer_aperture_window(const struct balancer_aperture *a, unsigned size,
			 unsigned long long *total_r)
{
	const struct kr_balancer *b = &a->b;
	unsigned count = 0;

	*total_r = 0;
	for (unsigned i = 0; i < b->n_nodes && count < size; i++) {
		unsigned node = b->order[i];

		if (b->down[node])
			continue;
		*total_r += b->load[node];
		count++;
	}
	return count;
}

/* One step toward the band at most. A step is taken only if the new
 * window's average does not land beyond the other edge of the band, so
 * the next call cannot undo it at the same load. Growing needs an up
 * node beyond the window; shrinking stops at the minimum. */
static void
balancer_aperture_resize(struct kr_balancer *b, unsigned node)
{
	struct balancer_aperture *a = (struct balancer_aperture *)b;
	double low = b->set.aperture_low, high = b->set.aperture_high;
	unsigned long long total, new_total;
	unsigned count, new_count;

	(void)node;
	count = balancer_aperture_window(a, a->size, &total);
	if (count == 0)
		return; /* all down: nothing to size */
	if ((double)total > high * count) {
		if (a->size >= b->n_nodes)
			return;
		new_count =
			balancer_aperture_window(a, a->size + 1, &new_total);
		if (new_count > count && (double)new_total >= low * new_count)
			a->size++;
	} else if ((double)total < low * count) {
		if (a->size <= a->min)
			return;
		/* size - 1 >= min >= 1 and a node is up: new_count >= 1. */
		new_count =
			balancer_aperture_window(a, a->size - 1, &new_total);
		if ((double)new_total <= high * new_count)
			a->size--;
	}
}

static void
balancer_aperture_down_changed(struct kr_balancer *b, unsigned node)
{
	/* The window is derived from down[] at each use; the size follows
	 * the load at the next acquire or release. */
	(void)b;
	(void)node;
}

static int
balancer_aperture_pick(struct kr_balancer *b)
{
	struct balancer_aperture *a = (struct balancer_aperture *)b;
	unsigned count = 0, x, y;

	for (unsigned i = 0; i < b->n_nodes && count < a->size; i++) {
		if (!b->down[b->order[i]])
			a->cand[count++] = b->order[i];
	}
	if (count == 0) {
		/* Every node is down: any will do, the caller fails fast. */
		for (unsigned i = 0; i < b->n_nodes; i++)
			a->cand[i] = b->order[i];
		count = b->n_nodes;
	}
	if (count == 1)
		return (int)a->cand[0];
	/* Two distinct draws. */
	x = kr_balancer_rand_below(b, count);
	y = kr_balancer_rand_below(b, count - 1);
	if (y >= x)
		y++;
	x = a->cand[x];
	y = a->cand[y];
	return (int)(b->load[y] < b->load[x] ? y : x);
}

static unsigned
balancer_aperture_size(const struct kr_balancer *b)
{
	const struct balancer_aperture *a = (const struct balancer_aperture *)b;

	return a->size;
}

static void
balancer_aperture_deinit(struct kr_balancer *b)
{
	struct balancer_aperture *a = (struct balancer_aperture *)b;

	free(a->cand);
}

static const struct kr_balancer_vfuncs balancer_aperture_vfuncs = {
	.deinit = balancer_aperture_deinit,
	.pick = balancer_aperture_pick,
	.load_changed = balancer_aperture_resize,
	.down_changed = balancer_aperture_down_changed,
	.aperture = balancer_aperture_size,
};

struct kr_balancer *
kr_balancer_aperture_create(unsigned n_nodes,
			    const struct kr_balancer_settings *set,
			    uint64_t seed)
{
	struct balancer_aperture *a = kr_xcalloc(1, sizeof(*a));

	kr_balancer_init(&a->b, &balancer_aperture_vfuncs, n_nodes, set, seed);
	a->min = set->aperture_min < n_nodes ? set->aperture_min : n_nodes;
	a->size = a->min;
	a->cand = kr_xcalloc(n_nodes, sizeof(*a->cand));
	return &a->b;
}
