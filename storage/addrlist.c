/* Address lists from jsonb text, read in place: building a jansson tree
 * per message was a fifth of a cold message.list. The scan gives up (0)
 * at an escape, an unknown key or any other surprise, so it never
 * decodes JSON escapes or judges malformed JSON: the caller's JSON
 * library does. The JSON pass-through copies PostgreSQL's escapes as
 * they are, only those the API's writers make too. */
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

enum scan_key {
	SCAN_NAME,
	SCAN_EMAIL,
	SCAN_OTHER,
};

/* `"key":` of a member, and whether a null value follows (stepped
 * over). */
static enum scan_key
scan_key(struct addrlist_scan *s, bool *null_r)
{
	const char *key;
	size_t key_len;
	enum scan_key k = SCAN_OTHER;

	if (!scan_plain_string(s, &key, &key_len) || !scan_char(s, ':'))
		return SCAN_OTHER;
	if (key_len == 4 && memcmp(key, "name", 4) == 0)
		k = SCAN_NAME;
	else if (key_len == 5 && memcmp(key, "email", 5) == 0)
		k = SCAN_EMAIL;
	scan_ws(s);
	*null_r = s->end - s->p >= 4 && memcmp(s->p, "null", 4) == 0;
	if (*null_r)
		s->p += 4;
	return k;
}

/* One "key": value member of an address. 1 read, 0 not on the fast
 * path, -1 arena full. */
static int
scan_member(struct addrlist_scan *s, struct kr_arena *arena,
	    struct kr_store_addr *a, struct kr_err *err_r)
{
	const char *val, **slot;
	size_t val_len;
	bool null = false;
	enum scan_key k = scan_key(s, &null);

	if (k == SCAN_OTHER)
		return 0;
	slot = k == SCAN_NAME ? &a->name : &a->email;
	if (null) {
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

/* The list's closing ']' and nothing but blanks after it. */
static bool
scan_list_end(struct addrlist_scan *s)
{
	if (!scan_char(s, ']'))
		return false;
	scan_ws(s);
	return s->p == s->end;
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
	if (!scan_list_end(&s))
		return 0;
	*addrs_r = v;
	*n_r = n;
	return 1;
}

/* ---- the API's JSON text ------------------------------------------ */

/* The length of the escape after a backslash at q, 0 unless it is one
 * PostgreSQL prints (escape_json) and the API's writers make too. */
static size_t
json_escape_len(const char *q, const char *end)
{
	static const char hex[] = "0123456789abcdef";
	const char *d;
	unsigned v;

	if (q >= end)
		return 0;
	if (*q != '\0' && strchr("\"\\bfnrt", *q) != NULL)
		return 1;
	if (*q != 'u' || end - q < 5 || q[1] != '0' || q[2] != '0' ||
	    (q[3] != '0' && q[3] != '1') || q[4] == '\0' ||
	    (d = strchr(hex, q[4])) == NULL)
		return 0;
	v = (unsigned)(q[3] - '0') * 16 + (unsigned)(d - hex);
	/* The short forms have their own escapes; NUL is never stored. */
	return v != 0 && v != '\b' && v != '\t' && v != '\n' && v != '\f' &&
			       v != '\r'
		       ? 5
		       : 0;
}

/* A string token, quotes included, at *tok_r (into the text). */
static bool
json_string(struct addrlist_scan *s, const char **tok_r, size_t *len_r)
{
	const char *p;

	scan_ws(s);
	if (s->p >= s->end || *s->p != '"')
		return false;
	for (p = s->p + 1; p < s->end && *p != '"';) {
		size_t n = 1;

		if ((unsigned char)*p < 0x20)
			return false;
		if (*p == '\\' && (n = json_escape_len(p + 1, s->end) + 1) == 1)
			return false;
		p += n;
	}
	if (p >= s->end)
		return false;
	*tok_r = s->p;
	*len_r = (size_t)(p + 1 - s->p);
	s->p = p + 1;
	return true;
}

static void
json_put(char **o, const char *s, size_t n)
{
	memcpy(*o, s, n);
	*o += n;
}

/* One {member, ...} as {"name":…,"email":…} at *o. */
static bool
json_addr(struct addrlist_scan *s, char **o)
{
	const char *tok[2] = { "null", "null" };
	size_t len[2] = { 4, 4 };

	if (!scan_char(s, '{'))
		return false;
	if (!scan_char(s, '}')) {
		do {
			bool null = false;
			enum scan_key k = scan_key(s, &null);

			if (k == SCAN_OTHER)
				return false;
			/* A repeated key: the last counts, as in jsonb. */
			tok[k] = "null";
			len[k] = 4;
			if (!null && !json_string(s, &tok[k], &len[k]))
				return false;
		} while (scan_char(s, ','));
		if (!scan_char(s, '}'))
			return false;
	}
	json_put(o, "{\"name\":", 8);
	json_put(o, tok[SCAN_NAME], len[SCAN_NAME]);
	json_put(o, ",\"email\":", 9);
	json_put(o, tok[SCAN_EMAIL], len[SCAN_EMAIL]);
	json_put(o, "}", 1);
	return true;
}

int
kr_addrlist_json(const char *text, size_t len, struct kr_arena *arena,
		 const char **json_r, size_t *len_r, struct kr_err *err_r)
{
	struct addrlist_scan s = { text, text + len };
	/* Each address takes at least its '{' of the text and adds at most
	 * its keys, two nulls, braces and a comma. */
	size_t cap = len + 32 * count_braces(text, len) + 3;
	char *out, *o;

	*json_r = NULL;
	*len_r = 0;
	if (!scan_char(&s, '['))
		return 0;
	out = kr_arena_alloc(arena, cap, err_r);
	if (out == NULL)
		return -1;
	o = out;
	json_put(&o, "[", 1);
	scan_ws(&s);
	if (s.p < s.end && *s.p != ']') {
		do {
			if (o > out + 1)
				json_put(&o, ",", 1);
			if (!json_addr(&s, &o))
				return 0;
		} while (scan_char(&s, ','));
	}
	if (!scan_list_end(&s))
		return 0;
	json_put(&o, "]", 1);
	*o = '\0';
	*json_r = out;
	*len_r = (size_t)(o - out);
	return 1;
}
