/* Generation counters in shared memory, so that per-worker caches in
 * different processes learn that a user's data changed. The master
 * creates the map before forking; every process forked afterwards shares
 * the counters. get and bump are lock-free and safe from any thread of
 * any process sharing the map; create and destroy belong to one thread.
 *
 * Protocol: a writer bumps the key after its change is committed; a
 * reader takes the generation before it loads the data, stamps the
 * cached copy with it, and serves the copy only while the generation is
 * still the same. A key hashes to one of a fixed number of slots, so two
 * keys may share a counter: a bump of one then also invalidates the
 * other, which costs an extra cache miss and is otherwise safe. */
#ifndef KR_GENMAP_H
#define KR_GENMAP_H

#include <stdint.h>

#include "lib/err.h"

#define KR_GENMAP_SLOTS_MIN 1024U
#define KR_GENMAP_SLOTS_MAX (1U << 22)

struct kr_genmap;

/* Maps `slots` counters, all 0, with MAP_SHARED | MAP_ANONYMOUS. slots is
 * rounded up to a power of two and clamped to [KR_GENMAP_SLOTS_MIN,
 * KR_GENMAP_SLOTS_MAX] (fewer slots only means more sharing). NULL +
 * err_r if the mapping fails. */
struct kr_genmap *kr_genmap_create(unsigned slots, struct kr_err *err_r);
/* Unmaps in the calling process only (others keep their mapping), frees,
 * sets *g to NULL. NULL or *g == NULL is a no-op. */
void kr_genmap_destroy(struct kr_genmap **g);

/* The current generation of key's slot (acquire: what the bumping
 * process wrote before its bump is visible after a get that sees it). */
uint64_t kr_genmap_get(const struct kr_genmap *g, uint64_t key);
/* Adds one to key's slot (release), so every later get differs from
 * every value read before. */
void kr_genmap_bump(struct kr_genmap *g, uint64_t key);

/* The number of slots after rounding. */
unsigned kr_genmap_slots(const struct kr_genmap *g);

#endif
