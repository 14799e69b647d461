/* Address lists from jsonb text, read in place: building a jansson tree
 * per message was a fifth of a cold message.list. An escape, an unknown
 * key or any other surprise gives up (0), so this never decodes JSON
 * escapes or judges malformed JSON: the caller's JSON library does. */
#include "storage/addrlist.h"

#include <string.h>

#include "lib/arena.h"

struct addrlist_scan {
	const char *p, *end;
};

static void
scan_ws(struct addrlist_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' ||
				 *s->p == '\t' || *s->p == '\r'))
		s->p++;
}

/* The next non-blank byte is c: step over it. */
static bool
scan_char(struct addrlist_scan *s, char c)
{
	scan_ws(s);
	if (s->p >= s->end || *s->p != c)
		return false;
	s->p++;
	return true;
}

/* A string without escapes: *str_r and *len_r point into the text. */
static bool
scan_plain_string(struct addrlist_scan *s, const char **str_r, size_t *len_r)
{
	const char *q;

	if (!scan_char(s, '"'))
		return false;
	q = memchr(s->p, '"', (size_t)(s->end - s->p));
	if (q == NULL || memchr(s->p, '\\', (size_t)(q - s->p)) != NULL)
		return false;
	*str_r = s->p;
	*len_r = (size_t)(q - s->p);
	s->p = q + 1;
	return true;
}

/* One "key": value member of an address. 1 read, 0 not on the fast
 * path, -1 arena full. */
static int
scan_member(struct addrlist_scan *s, struct kr_arena *arena,
	    struct kr_store_addr *a, struct kr_err *err_r)
{
	const char *key, *val, **slot;
	size_t key_len, val_len;

	if (!scan_plain_string(s, &key, &key_len) || !scan_char(s, ':'))
		return 0;
	if (key_len == 4 && memcmp(key, "name", 4) == 0)
		slot = &a->name;
	else if (key_len == 5 && memcmp(key, "email", 5) == 0)
		slot = &a->email;
	else
		return 0;
	scan_ws(s);
	if (s->end - s->p >= 4 && memcmp(s->p, "null", 4) == 0) {
		s->p += 4;
		*slot = NULL;
		return 1;
	}
	if (!scan_plain_string(s, &val, &val_len))
		return 0;
	*slot = kr_arena_strndup(arena, val, val_len, err_r);
	return *slot != NULL ? 1 : -1;
}

/* {member, ...} into *a. 1, 0 or -1 as scan_member. */
static int
scan_addr(struct addrlist_scan *s, struct kr_arena *arena,
	  struct kr_store_addr *a, struct kr_err *err_r)
{
	if (!scan_char(s, '{'))
		return 0;
	if (scan_char(s, '}'))
		return 1;
	do {
		int rc = scan_member(s, arena, a, err_r);

		if (rc <= 0)
			return rc;
	} while (scan_char(s, ','));
	return scan_char(s, '}') ? 1 : 0;
}

/* Objects in the text: at most one per '{'. */
static size_t
count_braces(const char *text, size_t len)
{
	size_t n = 0;

	for (const char *p = text, *end = text + len;
	     (p = memchr(p, '{', (size_t)(end - p))) != NULL; p++)
		n++;
	return n;
}

int
kr_addrlist_scan(const char *text, size_t len, struct kr_arena *arena,
		 const struct kr_store_addr **addrs_r, unsigned *n_r,
		 struct kr_err *err_r)
{
	struct addrlist_scan s = { text, text + len };
	size_t max = count_braces(text, len);
	struct kr_store_addr *v;
	unsigned n = 0;

	*addrs_r = NULL;
	*n_r = 0;
	if (!scan_char(&s, '['))
		return 0;
	if (scan_char(&s, ']')) {
		scan_ws(&s);
		return s.p == s.end ? 1 : 0;
	}
	if (max == 0)
		return 0;
	v = kr_arena_zalloc(arena, max * sizeof(*v), err_r);
	if (v == NULL)
		return -1;
	do {
		int rc = n < max ? scan_addr(&s, arena, &v[n], err_r) : 0;

		if (rc <= 0)
			return rc;
		n++;
	} while (scan_char(&s, ','));
	if (!scan_char(&s, ']'))
		return 0;
	scan_ws(&s);
	if (s.p != s.end)
		return 0;
	*addrs_r = v;
	*n_r = n;
	return 1;
}
