/* Arena: a chain of blocks plus a LIFO list of cleanup handlers. */
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
};

static struct arena_block *
arena_block_new(size_t size)
{
	struct arena_block *b = kr_xmalloc(sizeof(*b) + size);

	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

static void
arena_block_free(const struct kr_arena *arena, struct arena_block *b)
{
	if (arena->wipe)
		explicit_bzero(b->data, b->size);
	free(b);
}

struct kr_arena *
kr_arena_create(size_t block_size, size_t max_bytes, bool wipe)
{
	struct kr_arena *arena = kr_xcalloc(1, sizeof(*arena));

	if (block_size < 256)
		block_size = 256;
	arena->block_size = block_size;
	arena->max_bytes = max_bytes;
	arena->wipe = wipe;
	arena->blocks = arena_block_new(block_size);
	arena->first = arena->blocks;
	return arena;
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
			struct arena_block *big = arena_block_new(need);

			big->used = need;
			big->next = b->next;
			b->next = big;
			arena->used += need;
			return big->data;
		}
		b = arena_block_new(arena->block_size);
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

size_t
kr_arena_used(const struct kr_arena *arena)
{
	return arena->used;
}
