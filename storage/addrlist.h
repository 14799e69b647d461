/* The address lists stored in the meta jsonb (to, cc) as PostgreSQL
 * prints them: [{"name": "…", "email": "…"}, …]. A cold listing reads
 * one per message; this reads the common case in place, and passes it
 * on as the API's JSON text without decoding it. */
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

/* text[0..len) as the API shows an address list (SPEC.md §3.2), in the
 * arena: compact, every address {"name":…,"email":…} in that order, null
 * for a missing or null member, each string copied as PostgreSQL
 * escaped it. *json_r is NUL-terminated, *len_r its length. 1 when
 * written; 0 when the text is not what PostgreSQL prints for a list the
 * store wrote (another key or value, invalid JSON, or an escape the
 * JSON writers here would not make: \" \\ \b \f \n \r \t and \u00xx
 * for the other bytes below 0x20 are the only ones), so that the
 * output is exactly what decoding and writing the list again would
 * give; -1 + err_r (KR_ERR_LIMIT) when the arena is full. */
int kr_addrlist_json(const char *text, size_t len, struct kr_arena *arena,
		     const char **json_r, size_t *len_r, struct kr_err *err_r);

#endif
