/* PostgreSQL array literals and binary bytea[] values. */
#include "storage/pgarray.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/arena.h"

/* pg_type.oid of bytea: array_recv checks the element type. */
#define PGARRAY_BYTEA_OID 17
/* ndim, flags, element type, then size and lower bound of the one
 * dimension (array_send layout, all int32 in network order). */
#define PGARRAY_BIN_HEADER 20
#define PGARRAY_BIN_EMPTY 12

static int
pgarray_reserve(struct kr_pgarray *a, size_t extra, struct kr_err *err_r)
{
	size_t need;

	/* The closing brace and NUL are kept in the budget at all times. */
	if (extra > a->max || a->len + 2 > a->max - extra)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "array literal over %zu bytes", a->max);
	need = a->len + extra + 2;
	if (need > a->cap) {
		size_t cap = a->cap * 2 > need ? a->cap * 2 : need;

		if (cap > a->max)
			cap = a->max;
		a->buf = kr_xrealloc(a->buf, cap);
		a->cap = cap;
	}
	return 0;
}

void
kr_pgarray_init(struct kr_pgarray *a, size_t max)
{
	kr_assert(max >= 3);
	a->max = max;
	a->cap = max < 64 ? max : 64;
	a->buf = kr_xmalloc(a->cap);
	memcpy(a->buf, "{}", 3);
	a->len = 1; /* the opening brace; "}\0" follow the content */
	a->n = 0;
}

void
kr_pgarray_deinit(struct kr_pgarray *a)
{
	free(a->buf);
	a->buf = NULL;
	a->len = a->cap = 0;
}

/* Bytes of one quoted element: quotes plus one escape per '"' or '\\'. */
static size_t
pgarray_escaped_len(const char *s, size_t len)
{
	size_t n = len + 2;

	for (size_t i = 0; i < len; i++)
		if (s[i] == '"' || s[i] == '\\')
			n++;
	return n;
}

int
kr_pgarray_add(struct kr_pgarray *a, const char *s, size_t len,
	       struct kr_err *err_r)
{
	size_t need = (a->n > 0 ? 1 : 0) +
		      (s == NULL ? 4 : pgarray_escaped_len(s, len));
	char *p;

	if (s != NULL && len > a->max)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "array literal over %zu bytes", a->max);
	if (pgarray_reserve(a, need, err_r) < 0)
		return -1;
	p = a->buf + a->len;
	if (a->n > 0)
		*p++ = ',';
	if (s == NULL) {
		memcpy(p, "NULL", 4);
		p += 4;
	} else {
		*p++ = '"';
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '"' || s[i] == '\\')
				*p++ = '\\';
			*p++ = s[i];
		}
		*p++ = '"';
	}
	a->len = (size_t)(p - a->buf);
	memcpy(p, "}", 2);
	a->n++;
	return 0;
}

int
kr_pgarray_add_str(struct kr_pgarray *a, const char *s, struct kr_err *err_r)
{
	return kr_pgarray_add(a, s, s != NULL ? strlen(s) : 0, err_r);
}

int
kr_pgarray_add_int(struct kr_pgarray *a, int64_t v, struct kr_err *err_r)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	return kr_pgarray_add(a, num, (size_t)n, err_r);
}

int
kr_pgarray_add_bool(struct kr_pgarray *a, bool v, struct kr_err *err_r)
{
	return kr_pgarray_add(a, v ? "t" : "f", 1, err_r);
}

const char *
kr_pgarray_text(const struct kr_pgarray *a)
{
	return a->buf;
}

static void
pgarray_put32(unsigned char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, sizeof(v));
}

void
kr_pgarray_bin_init(struct kr_pgarray_bin *b, size_t max)
{
	kr_pgarray_bin_init_type(b, max, PGARRAY_BYTEA_OID);
}

void
kr_pgarray_bin_init_type(struct kr_pgarray_bin *b, size_t max,
			 uint32_t elem_oid)
{
	kr_assert(max > PGARRAY_BIN_HEADER && max <= INT32_MAX);
	b->elem_oid = elem_oid;
	b->max = max;
	b->cap = 256 < max ? 256 : max;
	b->buf = kr_xmalloc(b->cap);
	b->len = PGARRAY_BIN_HEADER;
	b->n = 0;
}

void
kr_pgarray_bin_deinit(struct kr_pgarray_bin *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
}

int
kr_pgarray_bin_add(struct kr_pgarray_bin *b, const void *p1, size_t l1,
		   const void *p2, size_t l2, struct kr_err *err_r)
{
	size_t room = b->max - b->len;

	if (room < 4 || l1 > room - 4 || l2 > room - 4 - l1)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "binary array over %zu bytes", b->max);
	if (b->len + 4 + l1 + l2 > b->cap) {
		size_t need = b->len + 4 + l1 + l2;
		size_t cap = b->cap * 2 > need ? b->cap * 2 : need;

		if (cap > b->max)
			cap = b->max;
		b->buf = kr_xrealloc(b->buf, cap);
		b->cap = cap;
	}
	pgarray_put32(b->buf + b->len, (uint32_t)(l1 + l2));
	b->len += 4;
	if (l1 > 0)
		memcpy(b->buf + b->len, p1, l1);
	b->len += l1;
	if (l2 > 0)
		memcpy(b->buf + b->len, p2, l2);
	b->len += l2;
	b->n++;
	return 0;
}

int
kr_pgarray_bin_add_int4(struct kr_pgarray_bin *b, int32_t v,
			struct kr_err *err_r)
{
	unsigned char be[4];

	pgarray_put32(be, (uint32_t)v);
	return kr_pgarray_bin_add(b, be, sizeof(be), NULL, 0, err_r);
}

int
kr_pgarray_bin_add_int8(struct kr_pgarray_bin *b, int64_t v,
			struct kr_err *err_r)
{
	unsigned char be[8];

	pgarray_put32(be, (uint32_t)((uint64_t)v >> 32));
	pgarray_put32(be + 4, (uint32_t)v);
	return kr_pgarray_bin_add(b, be, sizeof(be), NULL, 0, err_r);
}

int
kr_pgarray_bin_add_bool(struct kr_pgarray_bin *b, bool v, struct kr_err *err_r)
{
	unsigned char c = v ? 1 : 0;

	return kr_pgarray_bin_add(b, &c, 1, NULL, 0, err_r);
}

const char *
kr_pgarray_bin_data(struct kr_pgarray_bin *b, int *len_r)
{
	pgarray_put32(b->buf, b->n > 0 ? 1 : 0); /* ndim */
	pgarray_put32(b->buf + 4, 0);		 /* no NULL elements */
	pgarray_put32(b->buf + 8, b->elem_oid);
	pgarray_put32(b->buf + 12, b->n);
	pgarray_put32(b->buf + 16, 1); /* lower bound */
	*len_r = b->n > 0 ? (int)b->len : PGARRAY_BIN_EMPTY;
	return (const char *)b->buf;
}

static bool
pgarray_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* Scans one element at *pp (just past '{' or ','). Writes the decoded
 * bytes to out (NULL: only measure) and sets *null_r for an unquoted
 * NULL. Leaves *pp at the ',' or '}' that ends it. */
static int
pgarray_scan(const char **pp, char *out, size_t *len_r, bool *null_r)
{
	const char *p = *pp;
	size_t n = 0;

	while (pgarray_space(*p))
		p++;
	*null_r = false;
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\\')
				p++;
			if (*p == '\0')
				return -1;
			if (out != NULL)
				out[n] = *p;
			n++;
		}
		p++;
		while (pgarray_space(*p))
			p++;
	} else {
		size_t trimmed = 0;
		bool any_esc = false;
		const char *start = p;

		for (; *p != ',' && *p != '}'; p++) {
			bool esc = false;

			if (*p == '\0' || *p == '{' || *p == '"')
				return -1;
			if (*p == '\\') {
				if (*++p == '\0')
					return -1;
				esc = any_esc = true;
			}
			if (out != NULL)
				out[n] = *p;
			n++;
			/* Unquoted elements lose trailing blanks, but an
			 * escaped blank stays. */
			trimmed = !esc && pgarray_space(*p) ? trimmed + 1 : 0;
		}
		n -= trimmed;
		if (n == 0)
			return -1;
		*null_r = !any_esc && n == 4 &&
			  strncasecmp(start, "NULL", 4) == 0;
	}
	if (*p != ',' && *p != '}')
		return -1;
	*pp = p;
	*len_r = n;
	return 0;
}

/* Counts the elements and checks the shape. */
static int
pgarray_count(const char *lit, unsigned *n_r)
{
	const char *p = lit;
	unsigned n = 0;
	size_t len;
	bool null;

	while (pgarray_space(*p))
		p++;
	if (*p++ != '{')
		return -1;
	while (pgarray_space(*p))
		p++;
	if (*p != '}') {
		for (;;) {
			if (pgarray_scan(&p, NULL, &len, &null) < 0)
				return -1;
			n++;
			if (*p == '}')
				break;
			p++; /* the ',' */
		}
	}
	p++;
	while (pgarray_space(*p))
		p++;
	if (*p != '\0')
		return -1;
	*n_r = n;
	return 0;
}

int
kr_pgarray_parse(const char *lit, struct kr_arena *arena, unsigned max,
		 const char ***elems_r, unsigned *n_r, struct kr_err *err_r)
{
	const char **v;
	const char *p;
	unsigned n;

	if (pgarray_count(lit, &n) < 0)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "malformed array literal");
	if (n > max)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "array of %u elements, at most %u", n, max);
	v = kr_arena_alloc(arena, (n > 0 ? n : 1) * sizeof(*v), err_r);
	if (v == NULL)
		return -1;
	p = strchr(lit, '{');
	for (unsigned i = 0; i < n; i++) {
		const char *q = p + 1;
		size_t len;
		bool null;
		char *out;

		/* Measured and checked by pgarray_count already. */
		(void)pgarray_scan(&q, NULL, &len, &null);
		out = kr_arena_alloc(arena, len + 1, err_r);
		if (out == NULL)
			return -1;
		q = p + 1;
		(void)pgarray_scan(&q, out, &len, &null);
		out[len] = '\0';
		v[i] = null ? NULL : out;
		p = q;
	}
	*elems_r = v;
	*n_r = n;
	return 0;
}
