/* Read balancers for the replicas of one shard (SPEC.md §4): pure data
 * structures, no I/O. One per shard per worker, used on that worker's
 * loop only. The caller owns the balancer; it reports each request it
 * sends to a node (acquire) and each answer (release), and which nodes
 * are down, and asks pick() where the next request should go. */
#ifndef KR_BALANCER_H
#define KR_BALANCER_H

#include <stdbool.h>
#include <stdint.h>

struct kr_balancer;

enum kr_balancer_kind {
	/* Least outstanding requests, exactly: a min-heap over the nodes. */
	KR_BALANCER_HEAP,
	/* Power of two choices inside the smallest subset of the nodes
	 * whose load per node stays within [aperture_low, aperture_high]. */
	KR_BALANCER_APERTURE,
};

/* The aperture fields matter only to KR_BALANCER_APERTURE. Valid:
 * 0 <= aperture_low < aperture_high (finite), aperture_min >= 1; config
 * checks the ranges, so anything else is a bug (kr_assert). */
struct kr_balancer_settings {
	enum kr_balancer_kind kind;
	double aperture_low;   /* shrink below this many outstanding/node */
	double aperture_high;  /* grow above this many outstanding/node */
	unsigned aperture_min; /* never fewer nodes (capped at n_nodes) */
};

/* Fills set_r with the defaults above and kind KR_BALANCER_HEAP. */
void kr_balancer_settings_init(struct kr_balancer_settings *set_r);

/* Nodes are 0..n_nodes-1, all up, no load; n_nodes may be 0. set is
 * copied. The seed fixes a shuffled order of the nodes that breaks the
 * heap's ties and lays out the aperture, and seeds the aperture's
 * random choices: give each worker its own seed so that idle workers do
 * not all start on the same replica. The same seed and the same calls
 * give the same picks. Never returns NULL (allocation failure aborts). */
struct kr_balancer *kr_balancer_create(unsigned n_nodes,
				       const struct kr_balancer_settings *set,
				       uint64_t seed);
/* Frees the balancer and sets *b to NULL; NULL or *b == NULL is fine. */
void kr_balancer_destroy(struct kr_balancer **b);

/* The node for the next request, or -1 only when n_nodes == 0. Never a
 * down node while any node is up; when all are down, a down node all
 * the same (the caller's circuit breaker fails it fast). Does not count
 * the request: call kr_balancer_acquire() for the node actually used.
 *   heap: the up node with the fewest outstanding requests; ties go to
 *         the node that comes first in the seed's order. O(1).
 *   aperture: the less loaded of two nodes drawn at random from the up
 *         nodes of the aperture (ties: the first drawn). O(n_nodes). */
int kr_balancer_pick(struct kr_balancer *b);

/* A request was sent to / answered by `node` (< n_nodes). Release
 * without a matching acquire is a bug (kr_assert). The aperture
 * balancer resizes by at most one node after each of these calls: it
 * grows while the average load of its nodes is above aperture_high and
 * shrinks while it is below aperture_low, and never takes a step that
 * would carry the average across the other edge of the band, so a
 * steady load never makes it flap. heap: O(log n); aperture: O(n). */
void kr_balancer_acquire(struct kr_balancer *b, unsigned node);
void kr_balancer_release(struct kr_balancer *b, unsigned node);

/* Marks `node` down (skipped by pick while any node is up) or up again.
 * Its outstanding count is kept: its requests still get released. The
 * aperture counts only up nodes: a down node inside it gives its place
 * to the next up node in the seed's order. */
void kr_balancer_set_down(struct kr_balancer *b, unsigned node, bool down);

/* Outstanding requests on `node` (< n_nodes). */
unsigned kr_balancer_load(const struct kr_balancer *b, unsigned node);

/* How many up nodes picks are spread over at most: heap: n_nodes;
 * aperture: its current size, between min(aperture_min, n_nodes) and
 * n_nodes (fewer nodes serve when fewer are up). */
unsigned kr_balancer_aperture(const struct kr_balancer *b);

#endif
