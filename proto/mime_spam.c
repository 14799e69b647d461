/* The antispam view of a parsed message (struct kr_mime_spam_text):
 * SpamAssassin's "body", "rawbody" and "uri" texts, built from the
 * decoded text kr_mime_parse's walk hands over, so a message is parsed
 * and decoded once for the summary and the rules. */
#include "proto/mime_priv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/hash.h"

void
kr_mime_spam_init(struct kr_mime_spam *sp, size_t max)
{
	memset(sp, 0, sizeof(*sp));
	sp->max = max;
	/* The header block's lines end in "\n": one byte kept for the
	 * last one. */
	kr_mime_text_buf_init(&sp->headers, max > 0 ? max - 1 : 0, 0);
	kr_mime_text_buf_init(&sp->body, max,
			      KR_MIME_TEXT_FOLD | KR_MIME_TEXT_PARAS);
	kr_mime_text_buf_init(&sp->rawbody, max, 0);
}

void
kr_mime_spam_free(struct kr_mime_spam *sp)
{
	kr_mime_text_buf_free(&sp->headers);
	kr_mime_text_buf_free(&sp->body);
	kr_mime_text_buf_free(&sp->rawbody);
	free(sp->uris);
	free(sp->uri_hash);
	free(sp->uri_off);
	sp->uris = NULL;
	sp->uri_hash = NULL;
	sp->uri_off = NULL;
}

size_t
kr_mime_spam_room(const struct kr_mime_spam *sp)
{
	size_t body = kr_mime_text_buf_room(&sp->body);
	size_t raw = kr_mime_text_buf_room(&sp->rawbody);

	return body > raw ? body : raw;
}

/* ---- URIs ------------------------------------------------------------ */

static const char *const spam_schemes[] = { "http://", "https://", "ftp://",
					    "mailto:" };

/* The length of the scheme s[0..n) starts with (case-insensitive), or
 * 0; "www." counts as a scheme of its own. */
static size_t
spam_scheme(const char *s, size_t n)
{
	for (size_t k = 0; k < sizeof(spam_schemes) / sizeof(spam_schemes[0]);
	     k++) {
		size_t m = strlen(spam_schemes[k]);

		if (n > m && g_ascii_strncasecmp(s, spam_schemes[k], m) == 0)
			return m;
	}
	if (n > 4 && g_ascii_strncasecmp(s, "www.", 4) == 0)
		return 4;
	return 0;
}

/* Where a URI written in text ends: white space, controls, quotes and
 * angle brackets (RFC 3986 appendix C's delimiters) and U+00A0. */
static size_t
spam_uri_end(const char *s, size_t n, size_t i)
{
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' ||
		    c == '\'' || c == '`' ||
		    (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0xa0))
			break;
	}
	return i;
}

/* Text punctuation after a URI is not part of it, nor a closing bracket
 * that the URI did not open. */
static size_t
spam_uri_trim(const char *u, size_t n)
{
	while (n > 0) {
		char c = u[n - 1];

		if (strchr(".,;:!?", c) != NULL ||
		    (c == ')' && memchr(u, '(', n) == NULL) ||
		    (c == ']' && memchr(u, '[', n) == NULL))
			n--;
		else
			break;
	}
	return n;
}

/* Keeps one line u[0..n) unless it is there already or does not fit. */
static void
spam_uri_keep(struct kr_mime_spam *sp, const char *u, size_t n)
{
	uint64_t h = kr_hash_fnv1a64(u, n);

	for (unsigned k = 0; k < sp->n_uris; k++) {
		const char *o = sp->uris + sp->uri_off[k];

		if (sp->uri_hash[k] == h &&
		    (k + 1 < sp->n_uris ? sp->uri_off[k + 1] : sp->uris_len) -
				    sp->uri_off[k] ==
			    n + 1 &&
		    memcmp(o, u, n) == 0)
			return;
	}
	if (sp->n_uris == KR_MIME_SPAM_URIS_MAX ||
	    sp->max - sp->uris_len < n + 1) {
		sp->uris_full = true;
		return;
	}
	if (sp->uri_hash == NULL) {
		sp->uri_hash = kr_xmalloc(KR_MIME_SPAM_URIS_MAX *
					  sizeof(*sp->uri_hash));
		sp->uri_off = kr_xmalloc(KR_MIME_SPAM_URIS_MAX *
					 sizeof(*sp->uri_off));
	}
	if (sp->uris_len + n + 1 > sp->uris_alloc) {
		size_t want = sp->uris_alloc < 1024 ? 1024 : sp->uris_alloc * 2;

		if (want < sp->uris_len + n + 1)
			want = sp->uris_len + n + 1;
		if (want > sp->max)
			want = sp->max;
		sp->uris = kr_xrealloc(sp->uris, want + 1);
		sp->uris_alloc = want;
	}
	sp->uri_hash[sp->n_uris] = h;
	sp->uri_off[sp->n_uris++] = sp->uris_len;
	memcpy(sp->uris + sp->uris_len, u, n);
	sp->uris_len += n;
	sp->uris[sp->uris_len++] = '\n';
	sp->uris[sp->uris_len] = '\0';
}

/* One URI u[0..n) that starts with a scheme (spam_scheme() m bytes):
 * cut at KR_MIME_SPAM_URI_MAX bytes, cleaned, the scheme in lower case, "www."
 * given "http://" as the rules expect (SpamAssassin does the same). */
static void
spam_uri_add(struct kr_mime_spam *sp, const char *u, size_t n, size_t m)
{
	static const char http[] = "http://";
	size_t pre = m == 4 ? sizeof(http) - 1 : 0;
	size_t cap = pre + KR_MIME_SPAM_URI_MAX;
	char *buf;
	size_t k;

	if (sp->uris_full || n <= m)
		return;
	/* Cut, not dropped: padding a link must not hide its host. */
	if (n > KR_MIME_SPAM_URI_MAX)
		n = KR_MIME_SPAM_URI_MAX;
	buf = kr_xmalloc(cap + 1);
	memcpy(buf, http, pre);
	k = pre + kr_mime_text_clean(u, n, buf + pre, KR_MIME_SPAM_URI_MAX, 0);
	for (size_t i = pre; i < pre + m && i < k; i++)
		buf[i] = g_ascii_tolower(buf[i]);
	spam_uri_keep(sp, buf, k);
	free(buf);
}

/* URIs written in text s[0..n): each starts a word. */
static void
spam_uris_text(struct kr_mime_spam *sp, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && !sp->uris_full) {
		size_t m, end;

		char c = (char)(s[i] | 0x20); /* lower case for letters */

		/* Most bytes start no scheme: one test rules them out. */
		if ((c != 'h' && c != 'f' && c != 'm' && c != 'w') ||
		    (i > 0 && (g_ascii_isalnum(s[i - 1]) || s[i - 1] == '.' ||
			       s[i - 1] == '-' || s[i - 1] == '@')) ||
		    (m = spam_scheme(s + i, n - i)) == 0) {
			i++;
			continue;
		}
		end = spam_uri_end(s, n, i);
		spam_uri_add(sp, s + i, spam_uri_trim(s + i, end - i), m);
		i = end;
	}
}

/* An attribute value v[0..n) of HTML: entities decoded, white space
 * around it gone; kept when it is an absolute URI of ours. */
static void
spam_uri_attr(struct kr_mime_spam *sp, const char *v, size_t n)
{
	char *dec;
	size_t k, a = 0, m;

	if (n > KR_MIME_SPAM_URI_MAX)
		n = KR_MIME_SPAM_URI_MAX;
	dec = kr_xmalloc(n + 1);
	k = kr_mime_text_html(v, n, dec);
	while (a < k && g_ascii_isspace(dec[a]))
		a++;
	while (k > a && g_ascii_isspace(dec[k - 1]))
		k--;
	m = spam_scheme(dec + a, k - a);
	if (m > 0)
		spam_uri_add(sp, dec + a, k - a, m);
	free(dec);
}

/* The attributes of the tag whose name ends at s[i]; returns the index
 * after its '>'. Values may be quoted, and then hold '>'. */
static size_t
spam_tag_attrs(struct kr_mime_spam *sp, const char *s, size_t n, size_t i)
{
	while (i < n && s[i] != '>') {
		size_t a = i, an, v, vn;

		if (g_ascii_isspace(s[i]) || s[i] == '/') {
			i++;
			continue;
		}
		while (i < n && !g_ascii_isspace(s[i]) && s[i] != '=' &&
		       s[i] != '>' && s[i] != '/')
			i++;
		an = i - a;
		if (an == 0) {
			i++;
			continue;
		}
		while (i < n && g_ascii_isspace(s[i]))
			i++;
		if (i >= n || s[i] != '=')
			continue;
		i++;
		while (i < n && g_ascii_isspace(s[i]))
			i++;
		if (i < n && (s[i] == '"' || s[i] == '\'')) {
			const char *q = memchr(s + i + 1, s[i], n - i - 1);

			v = i + 1;
			vn = q != NULL ? (size_t)(q - (s + v)) : n - v;
			i = v + vn + (q != NULL ? 1 : 0);
		} else {
			v = i;
			while (i < n && !g_ascii_isspace(s[i]) && s[i] != '>')
				i++;
			vn = i - v;
		}
		if ((an == 4 && g_ascii_strncasecmp(s + a, "href", 4) == 0) ||
		    (an == 3 && g_ascii_strncasecmp(s + a, "src", 3) == 0) ||
		    (an == 6 && g_ascii_strncasecmp(s + a, "action", 6) == 0) ||
		    (an == 10 &&
		     g_ascii_strncasecmp(s + a, "background", 10) == 0))
			spam_uri_attr(sp, s + v, vn);
	}
	return i < n ? i + 1 : n;
}

/* URIs in the href, src, action and background attributes of html's
 * tags; comments are skipped as a browser does. */
static void
spam_uris_html(struct kr_mime_spam *sp, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && !sp->uris_full) {
		const char *lt = memchr(s + i, '<', n - i);

		if (lt == NULL)
			return;
		i = (size_t)(lt - s) + 1;
		if (n - i >= 3 && memcmp(s + i, "!--", 3) == 0) {
			const char *end = g_strstr_len(
				s + i + 3, (gssize)(n - i - 3), "-->");

			i = end != NULL ? (size_t)(end - s) + 3 : n;
			continue;
		}
		if (i >= n || !g_ascii_isalpha(s[i]))
			continue;
		while (i < n && g_ascii_isalnum(s[i]))
			i++;
		i = spam_tag_attrs(sp, s, n, i);
	}
}

/* ---- the texts ------------------------------------------------------- */

void
kr_mime_spam_plain(struct kr_mime_spam *sp, const char *text, size_t n)
{
	kr_mime_text_buf_add(&sp->rawbody, text, n);
	kr_mime_text_buf_add(&sp->body, text, n);
	spam_uris_text(sp, text, n);
}

void
kr_mime_spam_html(struct kr_mime_spam *sp, const char *html, size_t n,
		  const char *text, size_t k)
{
	kr_mime_text_buf_add(&sp->rawbody, html, n);
	kr_mime_text_buf_add(&sp->body, text, k);
	spam_uris_text(sp, text, k);
	spam_uris_html(sp, html, n);
}

int
kr_mime_spam_finish(struct kr_mime_spam *sp, struct kr_arena *arena,
		    const struct kr_mime_spam_text **out, struct kr_err *err_r)
{
	struct kr_mime_spam_text *t = kr_arena_zalloc(arena, sizeof(*t), err_r);
	char *h;

	*out = NULL;
	if (t == NULL)
		return -1;
	h = kr_arena_alloc(arena, sp->headers.len + 2, err_r);
	if (h == NULL)
		return -1;
	memcpy(h, sp->headers.p, sp->headers.len);
	t->headers_len = sp->headers.len;
	if (t->headers_len > 0)
		h[t->headers_len++] = '\n';
	h[t->headers_len] = '\0';
	t->headers = h;
	t->body = kr_arena_strndup(arena, sp->body.p, sp->body.len, err_r);
	t->rawbody =
		kr_arena_strndup(arena, sp->rawbody.p, sp->rawbody.len, err_r);
	t->uris = kr_arena_strndup(arena, sp->uris != NULL ? sp->uris : "",
				   sp->uris_len, err_r);
	if (t->body == NULL || t->rawbody == NULL || t->uris == NULL)
		return -1;
	t->body_len = sp->body.len;
	t->rawbody_len = sp->rawbody.len;
	t->uris_len = sp->uris_len;
	t->body_hash = kr_hash_fnv1a64(t->body, t->body_len);
	*out = t;
	return 0;
}
