/* cmocka tests for storage/balancer (heap and aperture). Everything is
 * seeded, so every run makes the same picks. Nodes are named by their
 * place in the seed's order (learned through the public API first), so
 * the tables read the same whatever the shuffle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "storage/balancer.h"

#define NODES_MAX 64

static struct kr_balancer *
make(enum kr_balancer_kind kind, unsigned n, uint64_t seed, double low,
     double high, unsigned min)
{
	struct kr_balancer_settings set;

	kr_balancer_settings_init(&set);
	set.kind = kind;
	set.aperture_low = low;
	set.aperture_high = high;
	set.aperture_min = min;
	return kr_balancer_create(n, &set, seed);
}

static struct kr_balancer *
make_default(enum kr_balancer_kind kind, unsigned n, uint64_t seed)
{
	struct kr_balancer_settings set;

	kr_balancer_settings_init(&set);
	set.kind = kind;
	return kr_balancer_create(n, &set, seed);
}

/* The seed's order: with no load, both kinds pick the first up node of
 * it (the aperture with one node has no choice), so marking each pick
 * down reveals the next. */
static void
learn_order(enum kr_balancer_kind kind, unsigned n, uint64_t seed,
	    unsigned *order_r)
{
	struct kr_balancer *b = make(kind, n, seed, 0.5, 1e9, 1);
	bool seen[NODES_MAX] = { false };

	assert_true(n <= NODES_MAX);
	for (unsigned i = 0; i < n; i++) {
		int node = kr_balancer_pick(b);

		assert_in_range(node, 0, n - 1);
		assert_false(seen[node]);
		seen[node] = true;
		order_r[i] = (unsigned)node;
		kr_balancer_set_down(b, (unsigned)node, true);
	}
	kr_balancer_destroy(&b);
}

/* splitmix64, the tests' own stream of operations. */
static uint64_t
test_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
test_balancer_settings_defaults(void **state)
{
	struct kr_balancer_settings set;

	(void)state;
	memset(&set, 0xff, sizeof(set));
	kr_balancer_settings_init(&set);
	assert_int_equal(set.kind, KR_BALANCER_HEAP);
	assert_true(set.aperture_low == 0.5);
	assert_true(set.aperture_high == 2.0);
	assert_int_equal(set.aperture_min, 1);
}

static void
test_balancer_seed_order(void **state)
{
	unsigned a[8], b[8], c[8];
	bool differs = false;

	(void)state;
	learn_order(KR_BALANCER_HEAP, 8, 42, a);
	learn_order(KR_BALANCER_APERTURE, 8, 42, b);
	assert_memory_equal(a, b, sizeof(a)); /* one order for both kinds */
	for (uint64_t seed = 1; seed <= 8 && !differs; seed++) {
		learn_order(KR_BALANCER_HEAP, 8, seed, c);
		differs = memcmp(a, c, sizeof(a)) != 0;
	}
	assert_true(differs);
}

/* ---- heap ---- */

enum op_kind {
	OP_ACQ,
	OP_REL,
	OP_DOWN,
	OP_UP
};

/* `rank` and `expect` are places in the seed's order. */
struct heap_step {
	enum op_kind op;
	unsigned rank;
	unsigned expect;
};

static void
apply(struct kr_balancer *b, enum op_kind op, unsigned node)
{
	switch (op) {
	case OP_ACQ:
		kr_balancer_acquire(b, node);
		break;
	case OP_REL:
		kr_balancer_release(b, node);
		break;
	case OP_DOWN:
		kr_balancer_set_down(b, node, true);
		break;
	case OP_UP:
		kr_balancer_set_down(b, node, false);
		break;
	}
}

static void
run_heap_script(const struct heap_step *steps, size_t n_steps, unsigned first)
{
	enum {
		N = 4
	};
	unsigned order[N], load[N] = { 0 };
	struct kr_balancer *b;

	learn_order(KR_BALANCER_HEAP, N, 7, order);
	b = make_default(KR_BALANCER_HEAP, N, 7);
	assert_int_equal(kr_balancer_pick(b), order[first]);
	for (size_t i = 0; i < n_steps; i++) {
		unsigned node = order[steps[i].rank];

		apply(b, steps[i].op, node);
		load[node] += steps[i].op == OP_ACQ;
		load[node] -= steps[i].op == OP_REL;
		for (unsigned k = 0; k < N; k++)
			assert_int_equal(kr_balancer_load(b, k), load[k]);
		if (kr_balancer_pick(b) != (int)order[steps[i].expect])
			fail_msg("step %zu: picked %d, want %u", i,
				 kr_balancer_pick(b), order[steps[i].expect]);
	}
	assert_int_equal(kr_balancer_aperture(b), N);
	kr_balancer_destroy(&b);
	assert_null(b);
}

static void
test_balancer_heap_least_loaded(void **state)
{
	static const struct heap_step steps[] = {
		{ OP_ACQ, 0, 1 }, { OP_ACQ, 1, 2 }, { OP_ACQ, 2, 3 },
		{ OP_ACQ, 3, 0 }, /* all at 1: first in order */
		{ OP_ACQ, 0, 1 }, /* 2 1 1 1 */
		{ OP_ACQ, 1, 2 }, /* 2 2 1 1 */
		{ OP_REL, 3, 3 }, /* 2 2 1 0 */
		{ OP_ACQ, 3, 2 }, /* 2 2 1 1 */
		{ OP_ACQ, 2, 3 }, /* 2 2 2 1 */
		{ OP_REL, 0, 0 }, /* 1 2 2 1 */
		{ OP_REL, 1, 0 }, /* 1 1 2 1 */
		{ OP_REL, 1, 1 }, /* 1 0 2 1 */
		{ OP_REL, 2, 1 }, /* 1 0 1 1 */
		{ OP_REL, 0, 0 }, /* 0 0 1 1 */
	};

	(void)state;
	run_heap_script(steps, sizeof(steps) / sizeof(steps[0]), 0);
}

static void
test_balancer_heap_skips_down(void **state)
{
	static const struct heap_step steps[] = {
		{ OP_DOWN, 0, 1 }, /* idle, but down */
		{ OP_ACQ, 1, 2 },  { OP_ACQ, 2, 3 },  { OP_ACQ, 3, 1 },
		{ OP_ACQ, 1, 2 }, /* up: 2 1 1; node 0 idle but skipped */
		{ OP_DOWN, 2, 3 }, { OP_DOWN, 3, 1 }, /* one up node, even at
							 load 2 */
		{ OP_ACQ, 1, 1 },
	};

	(void)state;
	run_heap_script(steps, sizeof(steps) / sizeof(steps[0]), 0);
}

static void
test_balancer_heap_all_down(void **state)
{
	static const struct heap_step steps[] = {
		{ OP_ACQ, 0, 1 },  { OP_ACQ, 0, 1 },
		{ OP_ACQ, 1, 2 },  { OP_ACQ, 2, 3 }, /* 2 1 1 0 */
		{ OP_DOWN, 3, 1 }, { OP_DOWN, 1, 2 },
		{ OP_DOWN, 2, 0 }, /* only 0 up, at 2 */
		{ OP_DOWN, 0, 3 }, /* all down: least loaded of all */
		{ OP_ACQ, 3, 1 },  /* 2 1 1 1: first in order wins ties */
		{ OP_ACQ, 1, 2 },  { OP_ACQ, 2, 3 },
		{ OP_ACQ, 3, 0 }, /* all down at 2 */
	};

	(void)state;
	run_heap_script(steps, sizeof(steps) / sizeof(steps[0]), 0);
}

static void
test_balancer_heap_down_then_up(void **state)
{
	static const struct heap_step steps[] = {
		{ OP_DOWN, 0, 1 }, { OP_DOWN, 0, 1 }, /* twice: no-op */
		{ OP_ACQ, 0, 1 },		      /* load on a down node */
		{ OP_UP, 0, 1 },		      /* 1 0 0 0 */
		{ OP_REL, 0, 0 },		      /* 0 0 0 0 */
		{ OP_DOWN, 1, 0 }, { OP_DOWN, 2, 0 }, { OP_UP, 1, 0 },
		{ OP_ACQ, 0, 1 },  { OP_ACQ, 1, 3 }, /* 2 is still down */
		{ OP_UP, 2, 2 },   { OP_UP, 2, 2 },  /* twice: no-op */
		{ OP_UP, 3, 2 },		     /* was never down */
	};

	(void)state;
	run_heap_script(steps, sizeof(steps) / sizeof(steps[0]), 0);
}

/* The brute-force answer: least (down, load, place in order). */
static unsigned
heap_scan(unsigned n, const unsigned *order, const unsigned *load,
	  const bool *down)
{
	unsigned best = order[0];

	for (unsigned i = 1; i < n; i++) {
		unsigned x = order[i];

		if (down[x] != down[best] ? !down[x] : load[x] < load[best])
			best = x;
	}
	return best;
}

static void
test_balancer_heap_random_matches_scan(void **state)
{
	static const unsigned sizes[] = { 1, 2, 3, 5, 8, 17, 64 };

	(void)state;
	for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
		unsigned n = sizes[t], order[NODES_MAX],
			 load[NODES_MAX] = { 0 };
		bool down[NODES_MAX] = { false };
		uint64_t rs = 1000 + t;
		struct kr_balancer *b;

		learn_order(KR_BALANCER_HEAP, n, rs, order);
		b = make_default(KR_BALANCER_HEAP, n, rs);
		for (int i = 0; i < 10000; i++) {
			uint64_t r = test_rand(&rs);
			unsigned node = (unsigned)(r >> 32) % n;
			unsigned what = (unsigned)(r % 100);

			if (what < 15) {
				down[node] = !down[node];
				kr_balancer_set_down(b, node, down[node]);
			} else if (what < 55 && load[node] > 0) {
				load[node]--;
				kr_balancer_release(b, node);
			} else {
				/* Mostly the pick, as the caller would. */
				if (what < 90)
					node = (unsigned)kr_balancer_pick(b);
				load[node]++;
				kr_balancer_acquire(b, node);
			}
			if (kr_balancer_pick(b) !=
			    (int)heap_scan(n, order, load, down))
				fail_msg("n %u op %d: picked %d, scan %u", n, i,
					 kr_balancer_pick(b),
					 heap_scan(n, order, load, down));
			assert_int_equal(kr_balancer_load(b, node), load[node]);
		}
		kr_balancer_destroy(&b);
	}
}

/* ---- aperture ---- */

static void
test_balancer_aperture_starts_at_min(void **state)
{
	static const struct {
		unsigned n, min, want;
	} cases[] = {
		{ 8, 1, 1 }, { 8, 3, 3 }, { 8, 8, 8 }, /* at n_nodes */
		{ 8, 9, 8 },			       /* one over: capped */
		{ 1, 1, 1 }, { 1, 5, 1 }, { 0, 1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kr_balancer *b = make(KR_BALANCER_APERTURE, cases[i].n,
					     3, 0.5, 2.0, cases[i].min);

		assert_int_equal(kr_balancer_aperture(b), cases[i].want);
		kr_balancer_destroy(&b);
	}
}

/* Acquiring only the first node keeps all load inside the window, so
 * the sizes follow from the totals alone. */
static void
test_balancer_aperture_grows_and_shrinks(void **state)
{
	/* Size after the k-th acquire (k = 1..), then after each release
	 * of the first node back down to 0. */
	static const unsigned grow[] = { 1, 1, 2, 2, 3, 3, 4, 4, 4, 4 };
	static const unsigned shrink[] = { 4, 4, 4, 4, 4, 4, 4, 4, 3, 2 };
	unsigned order[4];
	struct kr_balancer *b;

	(void)state;
	learn_order(KR_BALANCER_APERTURE, 4, 11, order);
	b = make_default(KR_BALANCER_APERTURE, 4, 11);
	for (size_t k = 0; k < sizeof(grow) / sizeof(grow[0]); k++) {
		kr_balancer_acquire(b, order[0]);
		if (kr_balancer_aperture(b) != grow[k])
			fail_msg("acquire %zu: aperture %u, want %u", k + 1,
				 kr_balancer_aperture(b), grow[k]);
	}
	/* 10 outstanding on 4 nodes: above 2, but no node left. */
	for (size_t k = 0; k < sizeof(shrink) / sizeof(shrink[0]); k++) {
		kr_balancer_release(b, order[0]);
		if (kr_balancer_aperture(b) != shrink[k])
			fail_msg("release %zu: aperture %u, want %u", k + 1,
				 kr_balancer_aperture(b), shrink[k]);
	}
	/* Idle at 2: one step per call, down to the minimum. */
	kr_balancer_acquire(b, order[0]); /* 1 on 2: 0.5, in the band */
	assert_int_equal(kr_balancer_aperture(b), 2);
	kr_balancer_release(b, order[0]); /* 0 on 2 */
	assert_int_equal(kr_balancer_aperture(b), 1);
	kr_balancer_acquire(b, order[0]);
	kr_balancer_release(b, order[0]); /* 0 on 1: at the minimum */
	assert_int_equal(kr_balancer_aperture(b), 1);
	kr_balancer_destroy(&b);
}

/* At the band's edge an acquire/release pair must not grow and shrink
 * the aperture each time. */
static void
test_balancer_aperture_no_flapping(void **state)
{
	unsigned order[6], changes = 0, last;
	struct kr_balancer *b;

	(void)state;
	learn_order(KR_BALANCER_APERTURE, 6, 5, order);
	b = make(KR_BALANCER_APERTURE, 6, 5, 0.5, 2.0, 1);
	for (int i = 0; i < 4; i++)
		kr_balancer_acquire(b, order[0]); /* 4 on 2: at the top */
	assert_int_equal(kr_balancer_aperture(b), 2);
	last = kr_balancer_aperture(b);
	for (int i = 0; i < 100; i++) {
		kr_balancer_acquire(b, order[0]);
		changes += kr_balancer_aperture(b) != last;
		last = kr_balancer_aperture(b);
		kr_balancer_release(b, order[0]);
		changes += kr_balancer_aperture(b) != last;
		last = kr_balancer_aperture(b);
	}
	assert_int_equal(changes, 1); /* grew to 3 once, stayed */
	assert_int_equal(kr_balancer_aperture(b), 3);
	kr_balancer_destroy(&b);
}

/* A band narrower than one step: growing 4 -> 5 at 7 outstanding would
 * land at 1.4, under 1.5, and the next call would shrink back. */
static void
test_balancer_aperture_narrow_band(void **state)
{
	static const struct {
		enum op_kind op;
		unsigned want;
	} steps[] = {
		{ OP_ACQ, 4 }, { OP_ACQ, 4 }, { OP_ACQ, 4 }, { OP_ACQ, 4 },
		{ OP_ACQ, 4 }, { OP_ACQ, 4 }, { OP_ACQ, 4 }, /* 7 on 4 = 1.75
								> 1.6; 7 on 5
								< 1.5 */
		{ OP_ACQ, 5 }, /* 8 on 4 = 2; 8 on 5 = 1.6 */
		{ OP_REL, 5 }, /* 7 on 5 = 1.4 < 1.5; 7 on 4 > 1.6 */
		{ OP_ACQ, 5 }, { OP_REL, 5 }, { OP_REL, 4 }, /* 6 on 4 */
	};
	unsigned order[6];
	struct kr_balancer *b;

	(void)state;
	learn_order(KR_BALANCER_APERTURE, 6, 9, order);
	b = make(KR_BALANCER_APERTURE, 6, 9, 1.5, 1.6, 4);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		apply(b, steps[i].op, order[0]);
		if (kr_balancer_aperture(b) != steps[i].want)
			fail_msg("step %zu: aperture %u, want %u", i,
				 kr_balancer_aperture(b), steps[i].want);
	}
	kr_balancer_destroy(&b);
}

static void
count_picks(struct kr_balancer *b, int rounds, unsigned *hits)
{
	for (int i = 0; i < rounds; i++) {
		int node = kr_balancer_pick(b);

		assert_true(node >= 0);
		hits[node]++;
	}
}

static void
test_balancer_aperture_skips_down(void **state)
{
	unsigned order[6], hits[6];
	struct kr_balancer *b;

	(void)state;
	learn_order(KR_BALANCER_APERTURE, 6, 13, order);
	b = make(KR_BALANCER_APERTURE, 6, 13, 0.5, 2.0, 3);
	/* Window o0 o1 o2. */
	memset(hits, 0, sizeof(hits));
	count_picks(b, 300, hits);
	assert_true(hits[order[0]] > 0 && hits[order[1]] > 0);
	assert_true(hits[order[2]] > 0);
	assert_int_equal(hits[order[3]] + hits[order[4]] + hits[order[5]], 0);
	/* o1 down: its place goes to o3. */
	kr_balancer_set_down(b, order[1], true);
	memset(hits, 0, sizeof(hits));
	count_picks(b, 300, hits);
	assert_int_equal(hits[order[1]], 0);
	assert_true(hits[order[0]] > 0 && hits[order[2]] > 0);
	assert_true(hits[order[3]] > 0);
	assert_int_equal(hits[order[4]] + hits[order[5]], 0);
	assert_int_equal(kr_balancer_aperture(b), 3);
	/* All but o5 down: the window widens to what is up. */
	for (int i = 0; i < 5; i++)
		kr_balancer_set_down(b, order[i], true);
	memset(hits, 0, sizeof(hits));
	count_picks(b, 50, hits);
	assert_int_equal(hits[order[5]], 50);
	/* All down: any node, all of them eventually. */
	kr_balancer_set_down(b, order[5], true);
	memset(hits, 0, sizeof(hits));
	count_picks(b, 600, hits);
	for (int i = 0; i < 6; i++)
		assert_true(hits[i] > 0);
	/* Back up: the original window. */
	for (int i = 0; i < 6; i++)
		kr_balancer_set_down(b, order[i], false);
	memset(hits, 0, sizeof(hits));
	count_picks(b, 300, hits);
	assert_int_equal(hits[order[3]] + hits[order[4]] + hits[order[5]], 0);
	kr_balancer_destroy(&b);
}

/* Most minus least outstanding over the first n nodes of the order. */
static unsigned
gap(const unsigned *load, const unsigned *order, unsigned n)
{
	unsigned lo = load[order[0]], hi = lo;

	for (unsigned k = 1; k < n; k++) {
		lo = load[order[k]] < lo ? load[order[k]] : lo;
		hi = load[order[k]] > hi ? load[order[k]] : hi;
	}
	return hi - lo;
}

/* A fixed window of 5 of 10 nodes (the band never binds), about 200
 * outstanding each: the power of two choices keeps them within about a
 * dozen of each other while picks pile up and while requests come and
 * go at random; one random choice drifts over a hundred apart here. */
static void
test_balancer_aperture_spreads(void **state)
{
	unsigned order[10], load[10] = { 0 }, worst = 0;
	uint64_t rs = 77;
	struct kr_balancer *b;

	(void)state;
	learn_order(KR_BALANCER_APERTURE, 10, 21, order);
	b = make(KR_BALANCER_APERTURE, 10, 21, 0.0, 1e9, 5);
	for (int i = 0; i < 5000; i++) {
		uint64_t r = test_rand(&rs);
		unsigned node = order[(r >> 32) % 5];

		if (i >= 1000 && r % 2 == 0 && load[node] > 0) {
			kr_balancer_release(b, node);
			load[node]--;
		} else {
			node = (unsigned)kr_balancer_pick(b);
			kr_balancer_acquire(b, node);
			load[node]++;
		}
		if (gap(load, order, 5) > worst)
			worst = gap(load, order, 5);
	}
	if (worst > 15)
		fail_msg("loads up to %u apart", worst);
	for (int k = 5; k < 10; k++)
		assert_int_equal(load[order[k]], 0);
	assert_int_equal(kr_balancer_aperture(b), 5);
	kr_balancer_destroy(&b);
}

/* The reference rule, written out plainly: the window is the first
 * `size` up nodes of the order; one step per call, toward the band,
 * never landing beyond its other edge. */
static unsigned
model_window(unsigned n, const unsigned *order, const unsigned *load,
	     const bool *down, unsigned size, double *total_r)
{
	unsigned count = 0;

	*total_r = 0;
	for (unsigned i = 0; i < n && count < size; i++) {
		if (!down[order[i]]) {
			*total_r += load[order[i]];
			count++;
		}
	}
	return count;
}

static unsigned
model_resize(unsigned n, const unsigned *order, const unsigned *load,
	     const bool *down, unsigned size, unsigned min)
{
	double t, t1;
	unsigned c = model_window(n, order, load, down, size, &t), c1;

	if (c == 0)
		return size;
	if (t > 2.0 * c && size < n) {
		c1 = model_window(n, order, load, down, size + 1, &t1);
		return c1 > c && t1 >= 0.5 * c1 ? size + 1 : size;
	}
	if (t < 0.5 * c && size > min) {
		c1 = model_window(n, order, load, down, size - 1, &t1);
		return t1 <= 2.0 * c1 ? size - 1 : size;
	}
	return size;
}

static bool
model_in_window(unsigned n, const unsigned *order, const bool *down,
		unsigned size, unsigned node)
{
	unsigned count = 0;

	for (unsigned i = 0; i < n && count < size; i++) {
		if (!down[order[i]]) {
			if (order[i] == node)
				return true;
			count++;
		}
	}
	return false;
}

static void
aperture_random_one(unsigned n, unsigned min, uint64_t rs)
{
	unsigned order[NODES_MAX], load[NODES_MAX] = { 0 }, size;
	unsigned min_eff = min < n ? min : n, grew = 0, shrank = 0;
	bool down[NODES_MAX] = { false };
	struct kr_balancer *b;

	learn_order(KR_BALANCER_APERTURE, n, rs, order);
	b = make(KR_BALANCER_APERTURE, n, rs, 0.5, 2.0, min);
	size = min_eff;
	for (int i = 0; i < 10000; i++) {
		uint64_t r = test_rand(&rs);
		unsigned node = (unsigned)(r >> 32) % n, any_up = 0, old;
		unsigned what = (unsigned)(r % 100);
		int pick = kr_balancer_pick(b);

		for (unsigned k = 0; k < n; k++)
			any_up += !down[k];
		assert_in_range(pick, 0, n - 1);
		if (any_up > 0) {
			assert_false(down[pick]);
			assert_true(model_in_window(n, order, down, size,
						    (unsigned)pick));
		}
		if (what < 5) {
			down[node] = !down[node];
			kr_balancer_set_down(b, node, down[node]);
			continue;
		}
		/* Load rises and falls in waves deep enough to cross the
		 * band both ways at every n. */
		if ((i / (100 + 20 * (int)n)) % 2 == 1 ? what < 75
						       : what < 30) {
			for (unsigned k = 0; k < n && load[node] == 0; k++)
				node = (node + 1) % n;
			if (load[node] == 0)
				continue;
			load[node]--;
			kr_balancer_release(b, node);
		} else {
			load[pick]++;
			kr_balancer_acquire(b, (unsigned)pick);
		}
		old = size;
		size = model_resize(n, order, load, down, size, min_eff);
		grew += size > old;
		shrank += size < old;
		if (kr_balancer_aperture(b) != size)
			fail_msg("n %u op %d: aperture %u, model %u", n, i,
				 kr_balancer_aperture(b), size);
		assert_in_range(size, min_eff, n);
	}
	if (n > min_eff) /* the run did exercise the resizing */
		assert_true(grew >= 3 && shrank >= 3);
	kr_balancer_destroy(&b);
}

static void
test_balancer_aperture_random_matches_model(void **state)
{
	static const struct {
		unsigned n, min;
	} cases[] = {
		{ 1, 1 }, { 2, 1 }, { 3, 2 }, { 8, 1 }, { 17, 3 }, { 64, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		aperture_random_one(cases[i].n, cases[i].min, 500 + i);
}

/* ---- both kinds ---- */

static void
test_balancer_edge_sizes(void **state)
{
	static const enum kr_balancer_kind kinds[] = { KR_BALANCER_HEAP,
						       KR_BALANCER_APERTURE };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct kr_balancer *b = make_default(kinds[i], 0, 1);

		assert_int_equal(kr_balancer_pick(b), -1);
		assert_int_equal(kr_balancer_aperture(b), 0);
		kr_balancer_destroy(&b);
		assert_null(b);
		kr_balancer_destroy(&b); /* NULL is fine */
		kr_balancer_destroy(NULL);

		b = make_default(kinds[i], 1, 1);
		assert_int_equal(kr_balancer_aperture(b), 1);
		for (int k = 0; k < 10; k++) {
			assert_int_equal(kr_balancer_pick(b), 0);
			kr_balancer_acquire(b, 0);
		}
		assert_int_equal(kr_balancer_load(b, 0), 10);
		assert_int_equal(kr_balancer_aperture(b), 1); /* at n_nodes */
		kr_balancer_set_down(b, 0, true);
		assert_int_equal(kr_balancer_pick(b), 0); /* all down */
		for (int k = 0; k < 10; k++)
			kr_balancer_release(b, 0);
		assert_int_equal(kr_balancer_load(b, 0), 0);
		assert_int_equal(kr_balancer_aperture(b), 1);
		kr_balancer_destroy(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_balancer_settings_defaults),
		cmocka_unit_test(test_balancer_seed_order),
		cmocka_unit_test(test_balancer_heap_least_loaded),
		cmocka_unit_test(test_balancer_heap_skips_down),
		cmocka_unit_test(test_balancer_heap_all_down),
		cmocka_unit_test(test_balancer_heap_down_then_up),
		cmocka_unit_test(test_balancer_heap_random_matches_scan),
		cmocka_unit_test(test_balancer_aperture_starts_at_min),
		cmocka_unit_test(test_balancer_aperture_grows_and_shrinks),
		cmocka_unit_test(test_balancer_aperture_no_flapping),
		cmocka_unit_test(test_balancer_aperture_narrow_band),
		cmocka_unit_test(test_balancer_aperture_skips_down),
		cmocka_unit_test(test_balancer_aperture_spreads),
		cmocka_unit_test(test_balancer_aperture_random_matches_model),
		cmocka_unit_test(test_balancer_edge_sizes),
	};

	return cmocka_run_group_tests_name("balancer", tests, NULL, NULL);
}
