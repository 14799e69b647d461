/* Arena: bump allocation with cleanup handlers, freed all at once at a
 * clear lifetime (process, connection, transaction, request). One
 * thread at a time. Bounded: an allocation past max_bytes fails with a
 * KR_ERR_LIMIT error instead of growing. A wiping arena zeroes every
 * block before freeing it (secrets). */
#ifndef KR_ARENA_H
#define KR_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

struct kr_arena;

typedef void kr_arena_cleanup_fn(void *ctx);

/* block_size: size of each block (large allocations get their own);
 * max_bytes: hard cap on the bytes handed out (0 = no cap). */
struct kr_arena *kr_arena_create(size_t block_size, size_t max_bytes,
				 bool wipe);
/* Runs cleanups (last added first), frees, sets *arena to NULL. */
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

/* Bytes handed out since the last reset. */
size_t kr_arena_used(const struct kr_arena *arena);

#endif
