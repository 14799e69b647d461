/* Text plumbing of proto/mime: UTF-8 cleaning, HTML to text, bounded
 * text buffers. Pure functions over bytes; GLib only validates UTF-8. */
#include "proto/mime_priv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"

#define TEXT_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* The writer kr_mime_text_clean() feeds. */
struct text_out {
	char *p;
	size_t len, cap;
	unsigned flags;
	bool space;   /* a folded run of white space is pending */
	unsigned nl;  /* line feeds in it (a form feed counts two) */
	bool started; /* something was written (no leading space) */
	bool bad;     /* the previous input byte was invalid */
};

static size_t
text_seq_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xf0)
		return 4;
	if (c >= 0xe0)
		return 3;
	return 2;
}

/* Writes one character (n bytes); false when it does not fit. */
static bool
text_put(struct text_out *o, const char *c, size_t n)
{
	size_t need = n + (o->space ? 1 : 0);

	if (o->cap - o->len < need)
		return false;
	if (o->space)
		o->p[o->len++] = (o->flags & KR_MIME_TEXT_PARAS) && o->nl >= 2
					 ? '\n'
					 : ' ';
	memcpy(o->p + o->len, c, n);
	o->len += n;
	o->space = false;
	o->nl = 0;
	o->started = true;
	return true;
}

/* Writes as much of the visible ASCII c[0..n) as fits (no character
 * to keep whole); false when not all of it did. */
static bool
text_put_ascii(struct text_out *o, const char *c, size_t n)
{
	size_t sp = o->space ? 1 : 0;
	size_t room = o->cap - o->len;

	if (room <= sp)
		return false;
	if (n > room - sp) {
		(void)text_put(o, c, room - sp);
		return false;
	}
	return text_put(o, c, n);
}

/* What folding does with the character c[0..n): 1 keep, 0 drop, 2 it
 * is white space. */
static int
text_fold_class(const unsigned char *c, size_t n)
{
	if (n == 1) {
		if (c[0] == ' ' || (c[0] >= '\t' && c[0] <= '\r'))
			return 2;
		return c[0] < 0x20 || c[0] == 0x7f ? 0 : 1;
	}
	if (n == 2 && c[0] == 0xc2) {
		if (c[1] == 0xa0) /* no-break space, from &nbsp; mostly */
			return 2;
		return c[1] < 0xa0 ? 0 : 1; /* C1 controls */
	}
	return 1;
}

/* Writes a run of valid UTF-8; false when the output is full. */
static bool
text_put_run(struct text_out *o, const char *s, size_t n)
{
	size_t i = 0;

	if (n > 0)
		o->bad = false;
	if (!(o->flags & KR_MIME_TEXT_FOLD)) {
		size_t room = o->cap - o->len;
		size_t k = n <= room ? n : kr_mime_text_complete(s, room);

		memcpy(o->p + o->len, s, k);
		o->len += k;
		o->started = o->started || k > 0;
		return k == n;
	}
	while (i < n) {
		size_t k = text_seq_len((unsigned char)s[i]);

		/* Most text is words of visible ASCII: copied a word at a
		 * time. */
		if ((unsigned char)s[i] > ' ' && (unsigned char)s[i] < 0x7f) {
			for (k = 1;
			     i + k < n && (unsigned char)s[i + k] > ' ' &&
			     (unsigned char)s[i + k] < 0x7f;
			     k++)
				;
			if (!text_put_ascii(o, s + i, k))
				return false;
			i += k;
			continue;
		}
		switch (text_fold_class((const unsigned char *)s + i, k)) {
		case 2:
			o->space = o->started;
			if (s[i] == '\n')
				o->nl++;
			else if (s[i] == '\f')
				o->nl += 2;
			break;
		case 1:
			if (!text_put(o, s + i, k))
				return false;
			break;
		default:
			break;
		}
		i += k;
	}
	return true;
}

size_t
kr_mime_text_clean(const char *in, size_t len, char *out, size_t cap,
		   unsigned flags)
{
	struct text_out o = { .p = out, .cap = cap, .flags = flags };
	size_t i = 0;

	while (i < len) {
		const gchar *end = NULL;
		size_t run;

		/* Stops at the first invalid byte; NUL counts as invalid. */
		(void)g_utf8_validate_len(in + i, len - i, &end);
		run = (size_t)(end - (in + i));
		if (!text_put_run(&o, in + i, run))
			break;
		i += run;
		if (i >= len)
			break;
		/* One U+FFFD per run of bad bytes; folding drops NULs. */
		if (!o.bad && !(in[i] == '\0' && (flags & KR_MIME_TEXT_FOLD)) &&
		    !text_put(&o, TEXT_REPLACEMENT, 3))
			break;
		o.bad = in[i] != '\0';
		i++;
	}
	return o.len;
}

size_t
kr_mime_text_complete(const char *s, size_t len)
{
	size_t j = len;

	/* Back over at most three continuation bytes to a lead byte. */
	while (j > 0 && len - j < 3 && ((unsigned char)s[j - 1] & 0xc0) == 0x80)
		j--;
	if (j == 0)
		return len;
	j--;
	if ((unsigned char)s[j] >= 0xc0 &&
	    j + text_seq_len((unsigned char)s[j]) > len)
		return j;
	return len;
}

size_t
kr_mime_text_chars(const char *s, size_t len, size_t max_chars)
{
	size_t i = 0;

	for (size_t n = 0; n < max_chars && i < len; n++)
		i += text_seq_len((unsigned char)s[i]);
	return i < len ? i : len;
}

char *
kr_mime_text_dup(struct kr_arena *arena, const char *in, size_t len, size_t max,
		 unsigned flags, struct kr_err *err_r)
{
	/* Each bad byte may become three: the scratch is never short. */
	size_t cap = len <= max / 3 ? len * 3 : max;
	char *tmp = kr_xmalloc(cap + 1);
	size_t n = kr_mime_text_clean(in, len, tmp, cap, flags);
	char *res = kr_arena_strndup(arena, tmp, n, err_r);

	free(tmp);
	return res;
}

/* ---- HTML ------------------------------------------------------------ */

/* Index of the first case-insensitive match of needle at or after i,
 * or len. */
static size_t
html_find(const char *s, size_t len, size_t i, const char *needle)
{
	size_t n = strlen(needle);

	for (; i + n <= len; i++)
		if (g_ascii_strncasecmp(s + i, needle, n) == 0)
			return i;
	return len;
}

/* Elements whose content is not text. */
static const char *const html_skip[] = { "script", "style", "head", "title",
					 "template" };

/* Elements that end a paragraph (or a line) of the rendered text. */
static const char *const html_block[] = {
	"p",	   "br",      "div",	"li",	      "tr",	 "td",
	"th",	   "table",   "ul",	"ol",	      "dl",	 "dt",
	"dd",	   "h1",      "h2",	"h3",	      "h4",	 "h5",
	"h6",	   "hr",      "pre",	"blockquote", "address", "center",
	"section", "article", "header", "footer",     "form",	 "title"
};

/* Whether the tag at s[i] ('<') opens or closes a block element. */
static bool
html_is_block(const char *s, size_t len, size_t i)
{
	size_t a = i + 1, n = 0;

	if (a < len && s[a] == '/')
		a++;
	while (a + n < len && g_ascii_isalnum(s[a + n]))
		n++;
	for (size_t k = 0; k < sizeof(html_block) / sizeof(html_block[0]); k++)
		if (strlen(html_block[k]) == n &&
		    g_ascii_strncasecmp(s + a, html_block[k], n) == 0)
			return true;
	return false;
}

/* s[i] is '<' and starts markup: the index after it. */
static size_t
html_tag(const char *s, size_t len, size_t i)
{
	const char *gt;

	if (len - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
		size_t end = html_find(s, len, i + 4, "-->");

		return end == len ? len : end + 3;
	}
	for (size_t k = 0; k < sizeof(html_skip) / sizeof(html_skip[0]); k++) {
		size_t n = strlen(html_skip[k]);
		char close[16];

		if (len - i - 1 < n ||
		    g_ascii_strncasecmp(s + i + 1, html_skip[k], n) != 0 ||
		    (i + 1 + n < len && g_ascii_isalnum(s[i + 1 + n])))
			continue;
		(void)snprintf(close, sizeof(close), "</%s", html_skip[k]);
		i = html_find(s, len, i + 1 + n, close);
		break;
	}
	gt = i < len ? memchr(s + i, '>', len - i) : NULL;
	return gt != NULL ? (size_t)(gt - s) + 1 : len;
}

static const struct {
	const char *name; /* with the ';' */
	const char *text;
} html_entities[] = {
	{ "amp;", "&" },	 { "lt;", "<" },   { "gt;", ">" },
	{ "quot;", "\"" },	 { "apos;", "'" }, { "#39;", "'" },
	{ "nbsp;", "\xc2\xa0" },
};

/* A numeric character reference "#123;" / "#x7b;" at s (after '&'):
 * its length, the character written to out (at most 4 bytes, never
 * more than the reference) in *n_r; 0 when it is not one. */
static size_t
html_numeric(const char *s, size_t len, char *out, size_t *n_r)
{
	bool hex = len > 1 && (s[1] == 'x' || s[1] == 'X');
	size_t i = hex ? 2 : 1;
	uint32_t cp = 0;

	if (len < 2 || s[0] != '#')
		return 0;
	for (; i < len && i < 12 && g_ascii_isxdigit(s[i]); i++) {
		int d = hex ? g_ascii_xdigit_value(s[i])
			    : g_ascii_digit_value(s[i]);

		if (d < 0)
			return 0;
		cp = cp * (hex ? 16 : 10) + (uint32_t)d;
		if (cp > 0x10ffff)
			cp = 0x110000; /* stays invalid, no overflow */
	}
	if (i == (hex ? 2u : 1u) || i >= len || s[i] != ';')
		return 0;
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		memcpy(out, TEXT_REPLACEMENT, 3);
		*n_r = 3;
	} else {
		*n_r = (size_t)g_unichar_to_utf8((gunichar)cp, out);
	}
	return i + 1;
}

/* s[i] is '&': writes the decoded entity to out; returns the input
 * bytes used (1 when it is not an entity we know: '&' is copied). */
static size_t
html_entity(const char *s, size_t len, size_t i, char *out, size_t *n_r)
{
	size_t used;

	for (size_t k = 0; k < sizeof(html_entities) / sizeof(html_entities[0]);
	     k++) {
		size_t n = strlen(html_entities[k].name);

		if (len - i - 1 >= n &&
		    g_ascii_strncasecmp(s + i + 1, html_entities[k].name, n) ==
			    0) {
			*n_r = strlen(html_entities[k].text);
			memcpy(out, html_entities[k].text, *n_r);
			return n + 1;
		}
	}
	used = html_numeric(s + i + 1, len - i - 1, out, n_r);
	if (used > 0)
		return used + 1;
	out[0] = '&';
	*n_r = 1;
	return 1;
}

size_t
kr_mime_text_html(const char *in, size_t len, char *out)
{
	size_t i = 0, o = 0;

	while (i < len) {
		char c = in[i];
		size_t n;

		if (c == '<' && i + 1 < len &&
		    (g_ascii_isalpha(in[i + 1]) || in[i + 1] == '/' ||
		     in[i + 1] == '!' || in[i + 1] == '?')) {
			/* A form feed: white space to every reader, and a
			 * paragraph break to KR_MIME_TEXT_PARAS. */
			out[o++] = html_is_block(in, len, i) ? '\f' : ' ';
			i = html_tag(in, len, i);
		} else if (c == '&') {
			/* Every entity is at least as long as its text. */
			i += html_entity(in, len, i, out + o, &n);
			o += n;
		} else {
			out[o++] = c;
			i++;
		}
	}
	return o;
}

/* ---- bounded buffers -------------------------------------------------- */

/* The buffer grows as text comes, so a generous cap costs nothing. */
#define TEXT_BUF_FIRST 256

void
kr_mime_text_buf_init(struct kr_mime_text_buf *b, size_t cap, unsigned flags)
{
	b->alloc = cap < TEXT_BUF_FIRST ? cap : TEXT_BUF_FIRST;
	b->p = kr_xmalloc(b->alloc + 1);
	b->p[0] = '\0';
	b->len = 0;
	b->cap = cap < SIZE_MAX ? cap : SIZE_MAX - 1;
	b->flags = flags;
	b->pieces = 0;
}

void
kr_mime_text_buf_free(struct kr_mime_text_buf *b)
{
	free(b->p);
	b->p = NULL;
}

size_t
kr_mime_text_buf_room(const struct kr_mime_text_buf *b)
{
	size_t sep = b->len > 0 ? 1 : 0;

	return b->cap - b->len > sep ? b->cap - b->len - sep : 0;
}

void
kr_mime_text_buf_add(struct kr_mime_text_buf *b, const char *s, size_t len)
{
	size_t sep = b->len > 0 ? 1 : 0;
	size_t room = kr_mime_text_buf_room(b);
	/* Each bad byte may become three. */
	size_t out = len <= room / 3 ? len * 3 : room;
	size_t n;

	b->pieces++;
	if (room == 0)
		return;
	if (b->len + sep + out > b->alloc) {
		size_t want = b->len + sep + out;

		if (b->alloc <= SIZE_MAX / 2 && want < b->alloc * 2)
			want = b->alloc * 2 < b->cap ? b->alloc * 2 : b->cap;
		b->p = kr_xrealloc(b->p, want + 1);
		b->alloc = want;
	}
	n = kr_mime_text_clean(s, len, b->p + b->len + sep, out, b->flags);
	if (n > 0) {
		if (sep)
			b->p[b->len] = '\n';
		b->len += sep + n;
	}
	b->p[b->len] = '\0';
}
