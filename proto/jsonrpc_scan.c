/* The pre-scan of a JSON-RPC body (SPEC.md §6: "a JSON body's element
 * count and the batch size are checked while parsing, not after
 * building the tree"). One pass, no tree, no allocation but the id
 * spans: jansson runs only on bodies that passed it.
 *
 * Counting values without a stack: in valid JSON every value but the
 * root is an element of a container, and a container of k elements
 * holds k - 1 commas, so values = 1 + commas + non-empty containers.
 * Ids need the container type at the two levels where request objects
 * live (the root, the root array's entries), nothing deeper. */
#include "proto/jsonrpc_priv.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/hex.h"

struct scan {
	const char *p;
	size_t len;
	size_t ids_max;
	struct kr_jsonrpc_scan *out;
	size_t depth;
	char type[3];	 /* container at depth 1 and 2: '[' or '{' */
	bool opened;	 /* after [ or {: the next token tells if empty */
	bool root_items; /* the root container is not empty */
	bool expect_key; /* the next string is a key of a request object */
	bool id_key;	 /* that key was "id" */
	bool id_value;	 /* the next value is an id's */
	size_t commas1;	 /* commas at depth 1: the entry index */
	size_t ids_cap;
};

static bool
scan_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A byte that ends a bare token (number, true, false, null). */
static bool
scan_is_delim(char c)
{
	switch (c) {
	case ',':
	case ':':
	case '[':
	case ']':
	case '{':
	case '}':
	case '"':
		return true;
	default:
		return scan_is_ws(c);
	}
}

/* Inside a request object: the root object, or an object that is an
 * entry of the root array. */
static bool
scan_at_request(const struct scan *s)
{
	return (s->depth == 1 && s->type[1] == '{') ||
	       (s->depth == 2 && s->type[1] == '[' && s->type[2] == '{');
}

/* The index of the closing quote of the string opened at open, or len.
 * A quote is escaped when an odd run of backslashes precedes it. */
static size_t
scan_string_end(const char *p, size_t len, size_t open)
{
	size_t i = open + 1;

	while (i < len) {
		const char *q = memchr(p + i, '"', len - i);
		size_t at, bs = 0;

		if (q == NULL)
			break;
		at = (size_t)(q - p);
		while (at - bs > open + 1 && p[at - bs - 1] == '\\')
			bs++;
		if (bs % 2 == 0)
			return at;
		i = at + 1;
	}
	return len;
}

static bool
scan_hex4(const char *s, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int d = kr_hex_value((unsigned char)s[i]);

		if (d < 0)
			return false;
		*v = *v << 4 | (unsigned)d;
	}
	return true;
}

/* Whether the string content s (n bytes, escapes as sent) is "id" once
 * unescaped. Only \uXXXX can stand for a letter; other escapes never
 * give 'i' or 'd'. */
static bool
scan_key_is_id(const char *s, size_t n)
{
	static const char want[] = "id";
	size_t i = 0, k = 0;

	while (i < n) {
		unsigned ch;

		if (k >= 2)
			return false;
		if (s[i] != '\\') {
			ch = (unsigned char)s[i++];
		} else if (n - i >= 6 && s[i + 1] == 'u' &&
			   scan_hex4(s + i + 2, &ch)) {
			i += 6;
		} else {
			return false;
		}
		if (ch != (unsigned char)want[k++])
			return false;
	}
	return k == 2;
}

/* The value just read at [off, off + len) is the current request's id
 * (len 0: not a scalar). A later "id" member replaces an earlier one. */
static void
scan_id_record(struct scan *s, size_t off, size_t len)
{
	struct kr_jsonrpc_scan *o = s->out;
	size_t at = s->type[1] == '[' ? s->commas1 : 0;

	s->id_value = false;
	if (at >= s->ids_max)
		return;
	if (at >= s->ids_cap) {
		size_t cap = s->ids_cap ? s->ids_cap * 2 : 8;

		while (cap <= at)
			cap *= 2;
		if (cap > s->ids_max)
			cap = s->ids_max;
		o->ids = kr_xrealloc(o->ids, cap * sizeof(*o->ids));
		memset(o->ids + s->ids_cap, 0,
		       (cap - s->ids_cap) * sizeof(*o->ids));
		s->ids_cap = cap;
	}
	o->ids[at] = (struct kr_jsonrpc_idspan){ off, len };
	if (at >= o->n_ids)
		o->n_ids = at + 1;
}

/* A string at i: a key of a request object, an id, or anything else.
 * Returns the index of its closing quote. */
static size_t
scan_string(struct scan *s, size_t i)
{
	size_t end = scan_string_end(s->p, s->len, i);

	if (s->expect_key && scan_at_request(s)) {
		s->id_key = scan_key_is_id(s->p + i + 1, end - i - 1);
		s->expect_key = false;
	} else if (s->id_value) {
		scan_id_record(s, i, end < s->len ? end - i + 1 : 0);
	}
	return end;
}

/* A bare token at i; returns the index of its last byte. */
static size_t
scan_token(struct scan *s, size_t i)
{
	size_t end = i + 1;

	while (end < s->len && !scan_is_delim(s->p[end]))
		end++;
	if (s->id_value)
		scan_id_record(s, i, end - i);
	return end - 1;
}

/* [ or {: false when nested deeper than depth_max. */
static bool
scan_open(struct scan *s, char c, unsigned depth_max)
{
	if (s->id_value)
		scan_id_record(s, 0, 0);
	if (++s->depth > depth_max)
		return false;
	if (s->depth <= 2)
		s->type[s->depth] = c;
	s->opened = true;
	s->expect_key = c == '{' && scan_at_request(s);
	return true;
}

static void
scan_punct(struct scan *s, char c)
{
	switch (c) {
	case ']':
	case '}':
		if (s->depth > 0)
			s->depth--;
		s->expect_key = false;
		break;
	case ',':
		s->out->values++;
		if (s->depth == 1)
			s->commas1++;
		s->expect_key = scan_at_request(s);
		s->id_key = false;
		break;
	default: /* ':' */
		s->id_value = s->id_key && scan_at_request(s);
		s->id_key = false;
		break;
	}
}

static void
scan_body(struct scan *s, unsigned depth_max)
{
	for (size_t i = 0; i < s->len; i++) {
		char c = s->p[i];

		if (scan_is_ws(c))
			continue;
		if (s->opened) {
			s->opened = false;
			if (c != ']' && c != '}') {
				s->out->values++;
				s->root_items |= s->depth == 1;
			}
		}
		if (c == '"') {
			i = scan_string(s, i);
		} else if (c == '[' || c == '{') {
			if (!scan_open(s, c, depth_max)) {
				s->out->too_deep = true;
				return;
			}
		} else if (c == ']' || c == '}' || c == ',' || c == ':') {
			scan_punct(s, c);
		} else {
			i = scan_token(s, i);
		}
	}
}

void
kr_jsonrpc_scan(const char *body, size_t len, unsigned depth_max,
		size_t ids_max, struct kr_jsonrpc_scan *out)
{
	struct scan s = {
		.p = body,
		.len = len,
		.ids_max = ids_max,
		.out = out,
	};

	*out = (struct kr_jsonrpc_scan){ .values = 1 };
	scan_body(&s, depth_max);
	if (s.type[1] == '[')
		out->entries = s.root_items ? s.commas1 + 1 : 0;
	else
		out->entries = 1;
}

void
kr_jsonrpc_scan_free(struct kr_jsonrpc_scan *s)
{
	free(s->ids);
	s->ids = NULL;
	s->n_ids = 0;
}

/* ---- numbers jansson cannot hold ------------------------------------ */

/* Digits at s[*i]; how many. */
static size_t
num_digits(const char *s, size_t n, size_t *i)
{
	size_t start = *i;

	while (*i < n && s[*i] >= '0' && s[*i] <= '9')
		(*i)++;
	return *i - start;
}

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; sets
 * *is_int when neither fraction nor exponent is there. */
static bool
num_grammar(const char *s, size_t n, bool *is_int)
{
	size_t i = s[0] == '-', int_start = i, d;

	d = num_digits(s, n, &i);
	if (d == 0 || (d > 1 && s[int_start] == '0'))
		return false;
	*is_int = true;
	if (i < n && s[i] == '.') {
		i++;
		if (num_digits(s, n, &i) == 0)
			return false;
		*is_int = false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (num_digits(s, n, &i) == 0)
			return false;
		*is_int = false;
	}
	return i == n;
}

/* jansson: strtoll, failing on ERANGE. Compared as text, so a number
 * of any length costs no copy. */
static bool
num_int_fits(const char *s, size_t n)
{
	bool neg = s[0] == '-';
	const char *max = neg ? "9223372036854775808" : "9223372036854775807";
	size_t digits = n - neg;

	if (digits != 19)
		return digits < 19;
	return memcmp(s + neg, max, 19) <= 0;
}

/* jansson: strtod, failing when it overflows to +-HUGE_VAL. */
static bool
num_real_fits(const char *s, size_t n)
{
	char *copy = kr_xmalloc(n + 1);
	double v;
	bool fits;

	memcpy(copy, s, n);
	copy[n] = '\0';
	errno = 0;
	v = strtod(copy, NULL);
	fits = !((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE);
	free(copy);
	return fits;
}

bool
kr_jsonrpc_number_loadable(const char *s, size_t n)
{
	bool is_int = false;

	if (n == 0 || !num_grammar(s, n, &is_int))
		return true;
	return is_int ? num_int_fits(s, n) : num_real_fits(s, n);
}
