/* Arena: bump allocation with cleanup handlers, freed all at once at a
 * clear lifetime (process, connection, transaction, request). One
 * thread at a time. Bounded: an allocation past max_bytes fails with a
 * KR_ERR_LIMIT error instead of growing. A wiping arena zeroes every
 * block before freeing it (secrets).
 *
 * Budgets: several arenas (and memory held elsewhere, through take and
 * give) may draw from one byte budget, which may draw from a parent in
 * turn (a request's budget from its worker's). Any thread: a budget is
 * updated atomically, since arenas of one budget may be used on pool
 * threads. The caller owns a budget and keeps it alive while anything
 * draws from it. */
#ifndef KR_ARENA_H
#define KR_ARENA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

struct kr_arena;

/* Embedded by its owner; fields are read-only outside lib/arena.c. */
struct kr_arena_budget {
	struct kr_arena_budget *parent; /* drawn from as well; NULL: none */
	size_t max;			/* 0: no cap */
	enum kr_err_kind kind;		/* of the error past max */
	const char *what;		/* names it in that error (static) */
	atomic_size_t used;
	atomic_uint refused; /* takes refused past max so far */
};

/* A budget of max bytes (0: no cap, it only counts) inside parent (may
 * be NULL); past max, takes fail with kind and a message naming what. */
void kr_arena_budget_init(struct kr_arena_budget *b,
			  struct kr_arena_budget *parent, size_t max,
			  enum kr_err_kind kind, const char *what);
/* Takes n bytes from b and every parent, all or none. -1 + err_r (the
 * refusing budget's kind) when one of them would pass its max; then
 * *by_r (may be NULL) is that budget. */
int kr_arena_budget_take(struct kr_arena_budget *b, size_t n,
			 struct kr_arena_budget **by_r, struct kr_err *err_r);
/* Gives back n bytes taken from b (and its parents). */
void kr_arena_budget_give(struct kr_arena_budget *b, size_t n);
size_t kr_arena_budget_used(const struct kr_arena_budget *b);

typedef void kr_arena_cleanup_fn(void *ctx);

/* block_size: size of each block (large allocations get their own);
 * max_bytes: hard cap on the bytes handed out (0 = no cap). */
struct kr_arena *kr_arena_create(size_t block_size, size_t max_bytes,
				 bool wipe);
/* The same, drawing every block from budget (NULL: none) before it is
 * allocated; NULL + err_r when the budget refuses the first block. */
struct kr_arena *kr_arena_create_in(struct kr_arena_budget *budget,
				    size_t block_size, size_t max_bytes,
				    bool wipe, struct kr_err *err_r);
/* Runs cleanups (last added first), frees, sets *arena to NULL; gives
 * everything back to the budget. */
void kr_arena_destroy(struct kr_arena **arena);
/* Runs cleanups and forgets every allocation; keeps the first block. */
void kr_arena_reset(struct kr_arena *arena);

/* Aligned for any type. NULL + err_r on the cap or size overflow. */
void *kr_arena_alloc(struct kr_arena *arena, size_t size, struct kr_err *err_r);
void *kr_arena_zalloc(struct kr_arena *arena, size_t size,
		      struct kr_err *err_r);
void *kr_arena_memdup(struct kr_arena *arena, const void *p, size_t size,
		      struct kr_err *err_r);
/* NUL-terminated copy of at most len bytes of s. */
char *kr_arena_strndup(struct kr_arena *arena, const char *s, size_t len,
		       struct kr_err *err_r);
char *kr_arena_strdup(struct kr_arena *arena, const char *s,
		      struct kr_err *err_r);

/* Registers fn(ctx) to run at reset/destroy (e.g. PQclear). The
 * handler record itself comes from the arena, so this can fail on the
 * cap like any allocation. */
int kr_arena_cleanup_add(struct kr_arena *arena, kr_arena_cleanup_fn *fn,
			 void *ctx, struct kr_err *err_r);

/* Counts n bytes held elsewhere on the arena's behalf (a buffer a
 * cleanup frees) against max_bytes and the budget, before they are
 * allocated; given back at reset/destroy. -1 + err_r as an allocation
 * would fail. */
int kr_arena_charge(struct kr_arena *arena, size_t n, struct kr_err *err_r);

/* Bytes handed out (and charged) since the last reset. */
size_t kr_arena_used(const struct kr_arena *arena);
/* The budget that refused this arena a block or a charge since it was
 * created (the last one), or NULL: tells a budget refusal from other
 * KR_ERR_LIMIT errors. */
const struct kr_arena_budget *kr_arena_refused_by(const struct kr_arena *arena);

#endif
