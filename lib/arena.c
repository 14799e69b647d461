/* Arena: a chain of blocks plus a LIFO list of cleanup handlers; each
 * block (header included) and each charge is drawn from the budget
 * before it is allocated. */
#include "lib/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN alignof(max_align_t)

struct arena_block {
	struct arena_block *next;
	size_t size; /* usable bytes after the header */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct arena_cleanup {
	struct arena_cleanup *next;
	kr_arena_cleanup_fn *fn;
	void *ctx;
};

struct kr_arena {
	struct arena_block *blocks; /* current block first */
	struct arena_block *first;  /* kept across resets */
	struct arena_cleanup *cleanups;
	size_t block_size;
	size_t max_bytes;
	size_t used;
	bool wipe;
	struct kr_arena_budget *budget; /* NULL: none */
	size_t held;			/* taken from it, the first block's
					 * included */
	struct kr_arena_budget *refused_by;
};

/* ---- budgets -------------------------------------------------------- */

void
kr_arena_budget_init(struct kr_arena_budget *b, struct kr_arena_budget *parent,
		     size_t max, enum kr_err_kind kind, const char *what)
{
	b->parent = parent;
	b->max = max;
	b->kind = kind;
	b->what = what;
	atomic_init(&b->used, 0);
	atomic_init(&b->refused, 0);
}

/* One level: false when n more would pass max. A race between two
 * takers can only refuse, never let both pass. */
static bool
budget_take_one(struct kr_arena_budget *b, size_t n)
{
	size_t cur = atomic_load(&b->used);

	do {
		if (n > SIZE_MAX - cur || (b->max != 0 && cur + n > b->max))
			return false;
	} while (!atomic_compare_exchange_weak(&b->used, &cur, cur + n));
	return true;
}

void
kr_arena_budget_give(struct kr_arena_budget *b, size_t n)
{
	for (; b != NULL; b = b->parent)
		atomic_fetch_sub(&b->used, n);
}

int
kr_arena_budget_take(struct kr_arena_budget *b, size_t n,
		     struct kr_arena_budget **by_r, struct kr_err *err_r)
{
	struct kr_arena_budget *l;

	for (l = b; l != NULL; l = l->parent) {
		if (budget_take_one(l, n))
			continue;
		/* Undo the levels below l. */
		for (struct kr_arena_budget *u = b; u != l; u = u->parent)
			atomic_fetch_sub(&u->used, n);
		atomic_fetch_add(&l->refused, 1);
		if (by_r != NULL)
			*by_r = l;
		return kr_err_set(err_r, l->kind,
				  "%s: %zu bytes more would pass the limit "
				  "of %zu",
				  l->what, n, l->max);
	}
	return 0;
}

size_t
kr_arena_budget_used(const struct kr_arena_budget *b)
{
	return atomic_load(&b->used);
}

/* ---- blocks --------------------------------------------------------- */

/* Takes n bytes from the arena's budget (if any) on its behalf. */
static int
arena_take(struct kr_arena *arena, size_t n, struct kr_err *err_r)
{
	if (arena->budget != NULL &&
	    kr_arena_budget_take(arena->budget, n, &arena->refused_by, err_r) <
		    0)
		return -1;
	arena->held += n;
	return 0;
}

static void
arena_give(struct kr_arena *arena, size_t n)
{
	if (arena->budget != NULL)
		kr_arena_budget_give(arena->budget, n);
	arena->held -= n;
}

/* NULL + err_r when the budget refuses it. */
static struct arena_block *
arena_block_new(struct kr_arena *arena, size_t size, struct kr_err *err_r)
{
	struct arena_block *b;

	if (size > SIZE_MAX - sizeof(*b)) {
		kr_err_set(err_r, KR_ERR_LIMIT, "arena: size overflow");
		return NULL;
	}
	if (arena_take(arena, sizeof(*b) + size, err_r) < 0)
		return NULL;
	b = kr_xmalloc(sizeof(*b) + size);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

static void
arena_block_free(struct kr_arena *arena, struct arena_block *b)
{
	if (arena->wipe)
		explicit_bzero(b->data, b->size);
	arena_give(arena, sizeof(*b) + b->size);
	free(b);
}

struct kr_arena *
kr_arena_create_in(struct kr_arena_budget *budget, size_t block_size,
		   size_t max_bytes, bool wipe, struct kr_err *err_r)
{
	struct kr_arena *arena = kr_xcalloc(1, sizeof(*arena));

	if (block_size < 256)
		block_size = 256;
	arena->block_size = block_size;
	arena->max_bytes = max_bytes;
	arena->wipe = wipe;
	arena->budget = budget;
	arena->blocks = arena_block_new(arena, block_size, err_r);
	if (arena->blocks == NULL) {
		free(arena);
		return NULL;
	}
	arena->first = arena->blocks;
	return arena;
}

struct kr_arena *
kr_arena_create(size_t block_size, size_t max_bytes, bool wipe)
{
	/* Without a budget the first block cannot be refused. */
	return kr_arena_create_in(NULL, block_size, max_bytes, wipe, NULL);
}

static void
arena_run_cleanups(struct kr_arena *arena)
{
	/* A handler may not add handlers; take the list first anyway so a
	 * buggy one cannot loop forever. */
	struct arena_cleanup *c = arena->cleanups;

	arena->cleanups = NULL;
	for (; c != NULL; c = c->next)
		c->fn(c->ctx);
}

void
kr_arena_reset(struct kr_arena *arena)
{
	struct arena_block *b = arena->blocks;
	struct arena_block *first = arena->first;

	arena_run_cleanups(arena);
	while (b != NULL) {
		struct arena_block *next = b->next;

		if (b != first)
			arena_block_free(arena, b);
		b = next;
	}
	if (arena->wipe)
		explicit_bzero(first->data, first->used);
	first->used = 0;
	first->next = NULL;
	arena->blocks = first;
	arena->used = 0;
	/* What is left beyond the first block are charges. */
	arena_give(arena, arena->held - (sizeof(*first) + first->size));
}

void
kr_arena_destroy(struct kr_arena **arena_p)
{
	struct kr_arena *arena = *arena_p;

	if (arena == NULL)
		return;
	kr_arena_reset(arena);
	arena_block_free(arena, arena->first);
	free(arena);
	*arena_p = NULL;
}

void *
kr_arena_alloc(struct kr_arena *arena, size_t size, struct kr_err *err_r)
{
	struct arena_block *b = arena->blocks;
	size_t need, off;

	if (size > SIZE_MAX - ARENA_ALIGN) {
		kr_err_set(err_r, KR_ERR_LIMIT, "arena: size overflow");
		return NULL;
	}
	need = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	if (arena->max_bytes != 0 && need > arena->max_bytes - arena->used) {
		kr_err_set(err_r, KR_ERR_LIMIT, "arena: limit of %zu bytes",
			   arena->max_bytes);
		return NULL;
	}
	if (need > b->size - b->used) {
		/* Big allocations get their own block, slotted in behind the
		 * current one so its free tail is not wasted. */
		if (need > arena->block_size / 4) {
			struct arena_block *big =
				arena_block_new(arena, need, err_r);

			if (big == NULL)
				return NULL;
			big->used = need;
			big->next = b->next;
			b->next = big;
			arena->used += need;
			return big->data;
		}
		b = arena_block_new(arena, arena->block_size, err_r);
		if (b == NULL)
			return NULL;
		b->next = arena->blocks;
		arena->blocks = b;
	}
	off = b->used;
	b->used += need;
	arena->used += need;
	return b->data + off;
}

void *
kr_arena_zalloc(struct kr_arena *arena, size_t size, struct kr_err *err_r)
{
	void *p = kr_arena_alloc(arena, size, err_r);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

void *
kr_arena_memdup(struct kr_arena *arena, const void *src, size_t size,
		struct kr_err *err_r)
{
	void *p = kr_arena_alloc(arena, size, err_r);

	if (p != NULL && size > 0)
		memcpy(p, src, size);
	return p;
}

char *
kr_arena_strndup(struct kr_arena *arena, const char *s, size_t len,
		 struct kr_err *err_r)
{
	size_t n = strnlen(s, len);
	char *p;

	if (n == SIZE_MAX) {
		kr_err_set(err_r, KR_ERR_LIMIT, "arena: size overflow");
		return NULL;
	}
	p = kr_arena_alloc(arena, n + 1, err_r);
	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
kr_arena_strdup(struct kr_arena *arena, const char *s, struct kr_err *err_r)
{
	return kr_arena_strndup(arena, s, SIZE_MAX - 1, err_r);
}

int
kr_arena_cleanup_add(struct kr_arena *arena, kr_arena_cleanup_fn *fn, void *ctx,
		     struct kr_err *err_r)
{
	struct arena_cleanup *c = kr_arena_alloc(arena, sizeof(*c), err_r);

	if (c == NULL)
		return -1;
	c->fn = fn;
	c->ctx = ctx;
	c->next = arena->cleanups;
	arena->cleanups = c;
	return 0;
}

int
kr_arena_charge(struct kr_arena *arena, size_t n, struct kr_err *err_r)
{
	if (arena->max_bytes != 0 && n > arena->max_bytes - arena->used)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "arena: limit of %zu bytes",
				  arena->max_bytes);
	if (arena_take(arena, n, err_r) < 0)
		return -1;
	arena->used += n;
	return 0;
}

size_t
kr_arena_used(const struct kr_arena *arena)
{
	return arena->used;
}

const struct kr_arena_budget *
kr_arena_refused_by(const struct kr_arena *arena)
{
	return arena->refused_by;
}
