/* Generation counters: one anonymous shared mapping of 64-bit atomics.
 * The struct itself is private memory, created before the fork, so each
 * child holds an identical copy pointing at the same shared pages. */
#include "lib/genmap.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Atomics that are not lock-free fall back to a lock table private to each
 * process, which would not protect memory shared between processes. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics lock-free");

struct kr_genmap {
	_Atomic uint64_t *slots; /* shared */
	unsigned mask;		 /* slot count - 1, a power of two */
	size_t map_size;
};

/* The splitmix64 finaliser (Steele, Lea, Flood 2014): keys are usually
 * sequential user ids, and every input bit must reach the low bits that
 * pick the slot. The golden-ratio increment keeps key 0 off slot 0. */
static uint64_t
genmap_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static unsigned
genmap_round(unsigned slots)
{
	unsigned n = KR_GENMAP_SLOTS_MIN;

	while (n < slots && n < KR_GENMAP_SLOTS_MAX)
		n <<= 1;
	return n;
}

struct kr_genmap *
kr_genmap_create(unsigned slots, struct kr_err *err_r)
{
	unsigned n = genmap_round(slots);
	size_t size = (size_t)n * sizeof(_Atomic uint64_t);
	struct kr_genmap *g;
	void *p;

	/* Anonymous mappings start zeroed: every generation begins at 0. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED) {
		kr_err_set(err_r, KR_ERR_INTERNAL,
			   "mmap of %zu bytes for generations failed: %s", size,
			   strerror(errno));
		return NULL;
	}
	g = kr_xmalloc(sizeof(*g));
	g->slots = p;
	g->mask = n - 1;
	g->map_size = size;
	return g;
}

void
kr_genmap_destroy(struct kr_genmap **gp)
{
	struct kr_genmap *g;

	if (gp == NULL || *gp == NULL)
		return;
	g = *gp;
	munmap((void *)g->slots, g->map_size);
	free(g);
	*gp = NULL;
}

static _Atomic uint64_t *
genmap_slot(const struct kr_genmap *g, uint64_t key)
{
	return &g->slots[genmap_mix(key) & g->mask];
}

uint64_t
kr_genmap_get(const struct kr_genmap *g, uint64_t key)
{
	return atomic_load_explicit(genmap_slot(g, key), memory_order_acquire);
}

void
kr_genmap_bump(struct kr_genmap *g, uint64_t key)
{
	atomic_fetch_add_explicit(genmap_slot(g, key), 1, memory_order_release);
}

unsigned
kr_genmap_slots(const struct kr_genmap *g)
{
	return g->mask + 1;
}
