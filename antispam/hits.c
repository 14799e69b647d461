/* The shared rule hit table: open addressing by name hash; a slot is
 * claimed once (empty -> writing -> ready) and never freed, so readers
 * and other writers only ever see whole names. */
#include "antispam/hits.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/hash.h"

/* Slots looked at for one name before it counts as "_OTHER". */
#define HITS_PROBE 32

enum {
	HITS_EMPTY,
	HITS_WRITING,
	HITS_READY
};

struct hits_slot {
	_Atomic uint32_t state;
	char name[KR_HITS_NAME_MAX];
	_Atomic uint64_t count;
};

struct kr_hits {
	size_t n; /* slots, the last one is "_OTHER" */
	struct hits_slot *slots;
	size_t bytes;
};

int
kr_hits_create(size_t slots, struct kr_hits **h_r, struct kr_err *err_r)
{
	struct kr_hits *h;

	if (slots == 0 || slots > KR_HITS_SLOTS_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "rule hit table: 1..%u slots",
				  KR_HITS_SLOTS_MAX);
	h = kr_xcalloc(1, sizeof(*h));
	h->n = slots + 1;
	h->bytes = h->n * sizeof(struct hits_slot);
	h->slots = mmap(NULL, h->bytes, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (h->slots == MAP_FAILED) {
		free(h);
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "rule hit table: mmap: %m");
	}
	strcpy(h->slots[h->n - 1].name, "_OTHER");
	atomic_store(&h->slots[h->n - 1].state, HITS_READY);
	*h_r = h;
	return 0;
}

void
kr_hits_destroy(struct kr_hits **hp)
{
	struct kr_hits *h = *hp;

	if (h == NULL)
		return;
	munmap(h->slots, h->bytes);
	free(h);
	*hp = NULL;
}

/* The slot holding name, claiming an empty one on the way; the
 * "_OTHER" slot when the probe finds neither. */
static struct hits_slot *
hits_find(struct kr_hits *h, const char *name, size_t len)
{
	size_t cap = h->n - 1;
	size_t i = kr_hash_fnv1a64(name, len) % cap;

	for (size_t p = 0; p < HITS_PROBE && p < cap; p++, i = (i + 1) % cap) {
		struct hits_slot *s = &h->slots[i];
		uint32_t st =
			atomic_load_explicit(&s->state, memory_order_acquire);

		if (st == HITS_EMPTY && atomic_compare_exchange_strong(
						&s->state, &st, HITS_WRITING)) {
			memcpy(s->name, name, len);
			s->name[len] = '\0';
			atomic_store_explicit(&s->state, HITS_READY,
					      memory_order_release);
			return s;
		}
		/* Another process is writing this slot's name: it takes a
		 * few instructions. */
		while (st == HITS_WRITING) {
			sched_yield();
			st = atomic_load_explicit(&s->state,
						  memory_order_acquire);
		}
		if (strncmp(s->name, name, len) == 0 && s->name[len] == '\0')
			return s;
	}
	return &h->slots[h->n - 1];
}

void
kr_hits_add(struct kr_hits *h, const char *name, uint64_t n)
{
	size_t len = strnlen(name, KR_HITS_NAME_MAX - 1);

	if (h == NULL || len == 0)
		return;
	atomic_fetch_add_explicit(&hits_find(h, name, len)->count, n,
				  memory_order_relaxed);
}

void
kr_hits_each(const struct kr_hits *h,
	     void (*fn)(void *ctx, const char *name, uint64_t n), void *ctx)
{
	for (size_t i = 0; i < h->n; i++) {
		struct hits_slot *s = &h->slots[i];
		uint64_t n;

		if (atomic_load_explicit(&s->state, memory_order_acquire) !=
		    HITS_READY)
			continue;
		n = atomic_load_explicit(&s->count, memory_order_relaxed);
		if (n > 0)
			fn(ctx, s->name, n);
	}
}
