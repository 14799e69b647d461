/* PostgreSQL one-dimensional arrays as query parameters and results:
 * text literals ('{"a","b\"c",NULL}') where every element is quoted and
 * escaped, so no element can change the literal's structure; binary
 * bytea[] values (array_recv format) for message bodies and hashes; and
 * a parser for the text form PostgreSQL returns. Pure functions; a
 * builder belongs to one thread. Builders are bounded: past max bytes
 * an add fails with KR_ERR_LIMIT and the builder stays unchanged. */
#ifndef KR_PGARRAY_H
#define KR_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct kr_arena;

/* A text array literal being built. buf is NUL-terminated and always
 * a complete literal ("{}" when empty). */
struct kr_pgarray {
	char *buf;
	size_t len, cap, max;
	unsigned n;
};

/* max: bytes the literal may take, NUL included (>= 3). */
void kr_pgarray_init(struct kr_pgarray *a, size_t max);
void kr_pgarray_deinit(struct kr_pgarray *a);
/* Appends s[0..len) as one element; s NULL appends SQL NULL. The bytes
 * are copied as they are: the caller keeps them valid UTF-8 without
 * NUL bytes (PostgreSQL's text input would refuse the whole literal). */
int kr_pgarray_add(struct kr_pgarray *a, const char *s, size_t len,
		   struct kr_err *err_r);
/* s NULL: SQL NULL. */
int kr_pgarray_add_str(struct kr_pgarray *a, const char *s,
		       struct kr_err *err_r);
int kr_pgarray_add_int(struct kr_pgarray *a, int64_t v, struct kr_err *err_r);
int kr_pgarray_add_bool(struct kr_pgarray *a, bool v, struct kr_err *err_r);
/* The literal, borrowed from the builder. */
const char *kr_pgarray_text(const struct kr_pgarray *a);

/* A binary array parameter (send with format 1; array_recv format):
 * bytea[] by default, or of another element type, so PostgreSQL reads
 * it without scanning and unescaping a text literal. */
struct kr_pgarray_bin {
	unsigned char *buf;
	size_t len, cap, max;
	unsigned n;
	uint32_t elem_oid;
};

/* Element type OIDs (pg_type) the binary builders are used with. */
#define KR_PGARRAY_OID_BOOL 16u
#define KR_PGARRAY_OID_BYTEA 17u
#define KR_PGARRAY_OID_INT8 20u
#define KR_PGARRAY_OID_INT4 23u
#define KR_PGARRAY_OID_TEXT 25u
#define KR_PGARRAY_OID_JSONB 3802u

/* max: bytes the value may take (> header size, <= INT32_MAX). */
void kr_pgarray_bin_init(struct kr_pgarray_bin *b, size_t max);
/* An array of elem_oid elements, each added in that type's binary
 * form (the caller's: raw bytes for text, 0x01 + text for jsonb;
 * kr_pgarray_bin_add_int4, _int8 and _bool for those). */
void kr_pgarray_bin_init_type(struct kr_pgarray_bin *b, size_t max,
			      uint32_t elem_oid);
int kr_pgarray_bin_add_int4(struct kr_pgarray_bin *b, int32_t v,
			    struct kr_err *err_r);
int kr_pgarray_bin_add_int8(struct kr_pgarray_bin *b, int64_t v,
			    struct kr_err *err_r);
int kr_pgarray_bin_add_bool(struct kr_pgarray_bin *b, bool v,
			    struct kr_err *err_r);
void kr_pgarray_bin_deinit(struct kr_pgarray_bin *b);
/* Appends one element made of p1[0..l1) followed by p2[0..l2) (either
 * may be empty), so a stored message can be prefix + body without
 * first joining them. */
int kr_pgarray_bin_add(struct kr_pgarray_bin *b, const void *p1, size_t l1,
		       const void *p2, size_t l2, struct kr_err *err_r);
/* The finished value and its length, borrowed from the builder. */
const char *kr_pgarray_bin_data(struct kr_pgarray_bin *b, int *len_r);

/* Parses a one-dimensional text array as PostgreSQL prints it
 * ("{a,\"b c\",NULL}"). Elements (NULL for SQL NULL) and the vector
 * come from arena. -1 + err_r (KR_ERR_INTERNAL) for malformed input,
 * more than max elements or another dimensionality; KR_ERR_LIMIT when
 * the arena is full. */
int kr_pgarray_parse(const char *lit, struct kr_arena *arena, unsigned max,
		     const char ***elems_r, unsigned *n_r,
		     struct kr_err *err_r);

#endif
