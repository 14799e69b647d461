/* Full-text search terms: what kurier indexes a message under and what
 * a query is split into, by one rule on both sides, so that search finds
 * exactly the messages holding every term of the query. kurierd does
 * the splitting (in the cpu pool, with the MIME parse); PostgreSQL only
 * stores the terms (storage/sql/013_fts_terms.sql).
 *
 * A term is a maximal run of Unicode letters and digits
 * (g_unichar_isalnum), lower-cased (g_unichar_tolower), of at most
 * KR_FTS_TERM_MAX bytes (longer runs are left out, as PostgreSQL leaves
 * out words over its limit). Anything else separates terms, invalid
 * UTF-8 included. The terms of a text: each once, in the order first
 * seen, joined by single spaces. Pure; any thread. */
#ifndef KR_FTS_TERMS_H
#define KR_FTS_TERMS_H

#include <stddef.h>

#include "lib/err.h"

struct kr_arena;

/* Bytes of one term (UTF-8). */
#define KR_FTS_TERM_MAX 240

/* The terms of text[0..len) in arena: at most max_bytes bytes (terms
 * that do not fit are left out, never cut), NUL-terminated, *len_r (may
 * be NULL) its length. NULL with err_r when the arena is full. */
const char *kr_fts_terms(struct kr_arena *arena, const char *text, size_t len,
			 size_t max_bytes, size_t *len_r, struct kr_err *err_r);

#endif
