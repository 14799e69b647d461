/* The address lists stored in the meta jsonb (to, cc) as PostgreSQL
 * prints them: [{"name": "…", "email": "…"}, …]. A cold listing reads
 * one per message; this reads the common case in place. */
#ifndef KR_ADDRLIST_H
#define KR_ADDRLIST_H

#include <stddef.h>

#include "lib/err.h"
#include "storage/store.h"

struct kr_arena;

/* text[0..len) as addresses (strings and the vector from arena; a
 * missing or null member is NULL; an empty list gives NULL and 0).
 * 1 when read; 0 when the text holds an escape, another key or
 * anything but that shape (decode it with a JSON library); -1 +
 * err_r (KR_ERR_LIMIT) when the arena is full. */
int kr_addrlist_scan(const char *text, size_t len, struct kr_arena *arena,
		     const struct kr_store_addr **addrs_r, unsigned *n_r,
		     struct kr_err *err_r);

#endif
