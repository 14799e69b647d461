/* Header fields: the summary's, from the message's top-level header
 * block as GMime parsed it, and every field of that block as written
 * (kr_mime_headers). GMime decodes them (RFC 2047 words in any charset
 * iconv knows, address lists and groups, dates, message ids) from raw
 * values first cut to what the limits can use, so a huge field costs
 * no more than a normal one. */
#include "proto/mime_priv.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/arena.h"

/* Raw bytes kept per byte of decoded text: Q-encoded UTF-8 needs about
 * 3.3, and an encoded word's framing a little more. */
#define HEADER_RAW_FACTOR 4
#define HEADER_RAW_SLACK 256
/* Raw bytes kept per address (an encoded name and an address). */
#define HEADER_ADDR_RAW 512
/* Raw bytes kept per message id of References. */
#define HEADER_REF_RAW 1024
#define HEADER_DATE_RAW 256

struct header_ctx {
	struct kr_mime_doc *doc;
	struct kr_arena *arena;
	struct kr_err *err_r;
};

static const char *
header_raw(struct kr_mime_doc *doc, const char *name)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(doc->top);
	GMimeHeader *h =
		hl != NULL ? g_mime_header_list_get_header(hl, name) : NULL;

	return h != NULL ? g_mime_header_get_raw_value(h) : NULL;
}

static size_t
header_raw_cap(size_t max)
{
	if (max > (SIZE_MAX - HEADER_RAW_SLACK) / HEADER_RAW_FACTOR)
		return SIZE_MAX - 1;
	return max * HEADER_RAW_FACTOR + HEADER_RAW_SLACK;
}

/* The first max bytes of raw, g_malloc'd. */
static char *
header_dup(const char *raw, size_t max)
{
	return g_strndup(raw, strnlen(raw, max));
}

/* header_dup() with encoded words GMime can decode (mime_priv.h). */
static char *
header_dup_words(const char *raw, size_t max)
{
	char *cut = header_dup(raw, max);
	char *fixed = kr_mime_doc_fix_words(cut);

	if (fixed == NULL)
		return cut;
	g_free(cut);
	return fixed;
}

/* s cleaned and folded into the arena, cut at max bytes; *out NULL
 * when s is NULL, or empty after cleaning unless keep_empty. */
static int
header_str(struct header_ctx *h, const char *s, size_t max, bool keep_empty,
	   const char **out)
{
	char *r;

	*out = NULL;
	if (s == NULL)
		return 0;
	r = kr_mime_text_dup(h->arena, s, strlen(s), max, KR_MIME_TEXT_FOLD,
			     h->err_r);
	if (r == NULL)
		return -1;
	if (r[0] != '\0' || keep_empty)
		*out = r;
	return 0;
}

static int
header_subject(struct header_ctx *h, struct kr_mime_summary *sum)
{
	const char *raw = header_raw(h->doc, "Subject");
	size_t max = h->doc->lim.header_text_max;
	char *cut, *unfolded, *text;
	int rc;

	if (raw == NULL)
		return 0;
	cut = header_dup_words(raw, header_raw_cap(max));
	unfolded = g_mime_utils_header_unfold(cut);
	text = g_mime_utils_header_decode_text(h->doc->opts, unfolded);
	rc = header_str(h, text, max, true, &sum->subject);
	g_free(text);
	g_free(unfolded);
	g_free(cut);
	return rc;
}

/* Collects mailboxes into out[0..cap) (out NULL: counts them). */
struct header_addrs {
	struct header_ctx *h;
	struct kr_mime_addr *out;
	unsigned n, cap;
	bool over;
};

static int
header_addr_put(struct header_addrs *s, InternetAddress *ia)
{
	size_t max = s->h->doc->lim.header_text_max;
	struct kr_mime_addr *a;

	if (s->n == s->cap) {
		s->over = true;
		return 0;
	}
	if (s->out != NULL) {
		a = &s->out[s->n];
		if (header_str(s->h, internet_address_get_name(ia), max, false,
			       &a->name) < 0 ||
		    header_str(s->h,
			       internet_address_mailbox_get_addr(
				       INTERNET_ADDRESS_MAILBOX(ia)),
			       max, false, &a->email) < 0)
			return -1;
		if (a->name == NULL && a->email == NULL)
			return 0;
	}
	s->n++;
	return 0;
}

/* Mailboxes of l in order, group members in place of their group (one
 * level: RFC 5322 §3.4 groups do not nest). */
static int
header_addr_walk(struct header_addrs *s, InternetAddressList *l, bool in_group)
{
	int n = internet_address_list_length(l);

	for (int i = 0; i < n && !s->over; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		InternetAddressList *members;

		if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			if (header_addr_put(s, ia) < 0)
				return -1;
		} else if (INTERNET_ADDRESS_IS_GROUP(ia) && !in_group) {
			members = internet_address_group_get_members(
				INTERNET_ADDRESS_GROUP(ia));
			if (members != NULL &&
			    header_addr_walk(s, members, true) < 0)
				return -1;
		}
	}
	return 0;
}

/* At most max mailboxes of the address field name; more set limited
 * when mark. */
static int
header_addrs(struct header_ctx *h, const char *name, unsigned max, bool mark,
	     const struct kr_mime_addr **list_r, unsigned *n_r)
{
	const char *raw = header_raw(h->doc, name);
	size_t cap = (size_t)max * HEADER_ADDR_RAW + HEADER_RAW_SLACK;
	struct header_addrs s = { .h = h, .cap = max };
	InternetAddressList *l;
	char *cut;
	int rc = 0;

	*list_r = NULL;
	*n_r = 0;
	if (raw == NULL)
		return 0;
	if (mark && strnlen(raw, cap + 1) > cap)
		h->doc->limited = true;
	cut = header_dup_words(raw, cap);
	l = internet_address_list_parse(h->doc->opts, cut);
	g_free(cut);
	if (l == NULL)
		return 0;
	(void)header_addr_walk(&s, l, false); /* counts, cannot fail */
	if (mark && s.over)
		h->doc->limited = true;
	if (s.n > 0) {
		s.out = kr_arena_zalloc(h->arena, s.n * sizeof(*s.out),
					h->err_r);
		s.cap = s.n;
		s.n = 0;
		s.over = false;
		rc = s.out != NULL ? header_addr_walk(&s, l, false) : -1;
	}
	g_object_unref(l);
	*list_r = s.out;
	*n_r = rc == 0 ? s.n : 0;
	return rc;
}

static int
header_from(struct header_ctx *h, struct kr_mime_summary *sum)
{
	const struct kr_mime_addr *from;
	unsigned n;

	/* More than one From mailbox is legal (with Sender): the first is
	 * the one to show, nothing is limited. */
	if (header_addrs(h, "From", 1, false, &from, &n) < 0)
		return -1;
	if (n > 0)
		sum->from = from[0];
	return 0;
}

static int
header_date(struct header_ctx *h, struct kr_mime_summary *sum)
{
	const char *raw = header_raw(h->doc, "Date");
	char buf[80];
	struct tm tm;
	GDateTime *dt;
	char *cut;
	time_t t;

	if (raw == NULL)
		return 0;
	cut = header_dup(raw, HEADER_DATE_RAW);
	dt = g_mime_utils_header_decode_date(cut);
	g_free(cut);
	if (dt == NULL)
		return 0;
	t = (time_t)g_date_time_to_unix(dt);
	sum->date_tz =
		(int)(g_date_time_get_utc_offset(dt) / G_TIME_SPAN_MINUTE);
	g_date_time_unref(dt);
	if (gmtime_r(&t, &tm) == NULL)
		return 0;
	(void)snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ",
		       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		       tm.tm_min, tm.tm_sec);
	sum->date_utc = kr_arena_strdup(h->arena, buf, h->err_r);
	if (sum->date_utc == NULL)
		return -1;
	sum->has_date = true;
	sum->date = t;
	return 0;
}

static int
header_ids(struct header_ctx *h, struct kr_mime_summary *sum)
{
	size_t max = h->doc->lim.header_text_max;
	const char *raw = header_raw(h->doc, "Message-Id");
	char *cut;
	int rc = 0;

	if (raw != NULL) {
		char *id;

		cut = header_dup(raw, header_raw_cap(max));
		id = g_mime_utils_decode_message_id(cut);
		rc = header_str(h, id, max, false, &sum->message_id);
		g_free(id);
		g_free(cut);
	}
	raw = header_raw(h->doc, "In-Reply-To");
	if (rc == 0 && raw != NULL) {
		GMimeReferences *refs;

		cut = header_dup(raw, header_raw_cap(max));
		refs = g_mime_references_parse(h->doc->opts, cut);
		if (refs != NULL && g_mime_references_length(refs) > 0)
			rc = header_str(
				h, g_mime_references_get_message_id(refs, 0),
				max, false, &sum->in_reply_to);
		if (refs != NULL)
			g_mime_references_free(refs);
		g_free(cut);
	}
	return rc;
}

/* The ids of refs from first on, joined by spaces (kr_xmalloc'd). */
static char *
header_join(GMimeReferences *refs, int first, size_t *len_r)
{
	int n = g_mime_references_length(refs);
	size_t total = 0, len = 0;
	char *buf;

	for (int i = first; i < n; i++)
		total += strlen(g_mime_references_get_message_id(refs, i)) + 1;
	buf = kr_xmalloc(total + 1);
	for (int i = first; i < n; i++) {
		const char *id = g_mime_references_get_message_id(refs, i);
		size_t k = strlen(id);

		memcpy(buf + len, id, k);
		len += k;
		buf[len++] = ' ';
	}
	buf[len] = '\0';
	*len_r = len;
	return buf;
}

static int
header_references(struct header_ctx *h, struct kr_mime_summary *sum)
{
	const char *raw = header_raw(h->doc, "References");
	unsigned max = h->doc->lim.refs_max;
	size_t cap = (size_t)max * HEADER_REF_RAW + HEADER_RAW_SLACK;
	size_t len, n;
	GMimeReferences *refs;
	int count, first;
	char *joined, *r;

	if (raw == NULL || max == 0)
		return 0;
	/* The newest ids are last, and the parent matters most: keep the
	 * tail, from an id's start on. */
	len = strlen(raw);
	if (len > cap) {
		const char *lt = strchr(raw + len - cap, '<');

		raw = lt != NULL ? lt : raw + len - cap;
		h->doc->limited = true;
	}
	refs = g_mime_references_parse(h->doc->opts, raw);
	count = refs != NULL ? g_mime_references_length(refs) : 0;
	if (count == 0) {
		if (refs != NULL)
			g_mime_references_free(refs);
		return 0;
	}
	first = (unsigned)count > max ? count - (int)max : 0;
	if (first > 0)
		h->doc->limited = true;
	joined = header_join(refs, first, &n);
	g_mime_references_free(refs);
	r = kr_mime_text_dup(h->arena, joined, n, n, KR_MIME_TEXT_FOLD,
			     h->err_r);
	free(joined);
	if (r == NULL)
		return -1;
	sum->references = r[0] != '\0' ? r : NULL;
	return 0;
}

int
kr_mime_header_summary(struct kr_mime_doc *doc, struct kr_arena *arena,
		       struct kr_mime_summary *sum, struct kr_err *err_r)
{
	struct header_ctx h = { .doc = doc, .arena = arena, .err_r = err_r };
	unsigned max = doc->lim.addrs_max;

	if (doc->top == NULL)
		return 0;
	if (header_subject(&h, sum) < 0 || header_from(&h, sum) < 0 ||
	    header_addrs(&h, "To", max, true, &sum->to, &sum->n_to) < 0 ||
	    header_addrs(&h, "Cc", max, true, &sum->cc, &sum->n_cc) < 0 ||
	    header_date(&h, sum) < 0 || header_ids(&h, sum) < 0 ||
	    header_references(&h, sum) < 0)
		return -1;
	return 0;
}

/* ---- kr_mime_headers -------------------------------------------------- */

/* The block is split here, not by GMime's parser: that one would parse
 * the body and every part too, hold each field whole however long it
 * is, and end each value at its first NUL. Splitting is lines and
 * colons; the decoding stays GMime's. */

/* One field of the raw block: its name, and its value with the folds
 * but without the line end that ends the field. */
struct headers_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* One pass over the block p[0..len), from p[i] on. */
struct headers_scan {
	const char *p;
	size_t len, i;
	bool content_type; /* a Content-Type field came before */
};

static bool
headers_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool
headers_space(char c)
{
	return headers_wsp(c) || c == '\r' || c == '\n';
}

/* The index after the line that starts at i: past its LF, or len. */
static size_t
headers_line_end(const struct headers_scan *s, size_t i)
{
	const char *nl = memchr(s->p + i, '\n', s->len - i);

	return nl != NULL ? (size_t)(nl - s->p) + 1 : s->len;
}

/* The length of the field name at p[i..end) up to its ":", or 0 when
 * the line does not start a field (GMime takes any byte but space and
 * control characters; ours are ASCII, as RFC 5322 §3.6.8 has them). */
static size_t
headers_name_len(const struct headers_scan *s, size_t i, size_t end)
{
	size_t j = i;

	while (j < end && (unsigned char)s->p[j] > ' ' &&
	       (unsigned char)s->p[j] < 0x7f && s->p[j] != ':')
		j++;
	return j < end && s->p[j] == ':' ? j - i : 0;
}

/* The next field into *f; false at the end of the block. */
static bool
headers_next(struct headers_scan *s, struct headers_field *f)
{
	while (s->i < s->len) {
		size_t i = s->i, end = headers_line_end(s, i), next = end;
		size_t name_len, v, v_end;

		if (s->p[i] == '\n' ||
		    (s->p[i] == '\r' && end - i == 2 && s->p[i + 1] == '\n'))
			return false; /* the empty line */
		while (next < s->len && headers_wsp(s->p[next]))
			next = headers_line_end(s, next);
		name_len = headers_name_len(s, i, end);
		if (name_len == 0) {
			/* Not a field: dropped, or the body's first line. */
			if (s->content_type)
				return false;
			s->i = next;
			continue;
		}
		s->i = next;
		v = i + name_len + 1;
		v_end = next;
		if (v_end > v && s->p[v_end - 1] == '\n')
			v_end--;
		if (v_end > v && s->p[v_end - 1] == '\r')
			v_end--;
		*f = (struct headers_field){ .name = s->p + i,
					     .name_len = name_len,
					     .value = s->p + v,
					     .value_len = v_end - v };
		if (name_len == 12 &&
		    g_ascii_strncasecmp(f->name, "Content-Type", 12) == 0)
			s->content_type = true;
		return true;
	}
	return false;
}

/* v[0..n) without the white space around it, its line ends (each is
 * followed by a space or tab: the fold) and NULs, cut at cap bytes;
 * g_malloc'd. */
static char *
headers_unfold(const char *v, size_t n, size_t cap)
{
	size_t a = 0, o = 0;
	char *out;

	while (n > 0 && headers_space(v[n - 1]))
		n--;
	while (a < n && headers_space(v[a]))
		a++;
	out = g_malloc((n - a < cap ? n - a : cap) + 1);
	for (; a < n && o < cap; a++) {
		if (v[a] == '\0' || v[a] == '\n' ||
		    (v[a] == '\r' && a + 1 < n && v[a + 1] == '\n'))
			continue;
		out[o++] = v[a];
	}
	out[o] = '\0';
	return out;
}

/* v[0..n), a raw value, unfolded and decoded: g_malloc'd; *text_r and
 * *len_r the text without the white space around it, inside. */
static char *
headers_decode(GMimeParserOptions *opts, const char *v, size_t n, size_t max,
	       const char **text_r, size_t *len_r)
{
	char *raw = headers_unfold(v, n, header_raw_cap(max));
	char *fixed = kr_mime_doc_fix_words(raw);
	char *text = g_mime_utils_header_decode_text(opts, fixed != NULL ? fixed
									 : raw);
	const char *t = text != NULL ? text : "";

	g_free(fixed);
	g_free(raw);
	n = strlen(t);
	/* Encoded words may hold white space of their own. */
	while (n > 0 && headers_space(t[n - 1]))
		n--;
	while (n > 0 && headers_space(t[0]))
		t++, n--;
	*text_r = t;
	*len_r = n;
	return text;
}

/* f's value decoded into the arena. */
static int
headers_value(GMimeParserOptions *opts, const struct headers_field *f,
	      size_t max, struct kr_arena *arena, const char **out,
	      struct kr_err *err_r)
{
	const char *t;
	size_t n;
	char *text = headers_decode(opts, f->value, f->value_len, max, &t, &n);
	char *r = kr_mime_text_dup(arena, t, n, max, 0, err_r);

	g_free(text);
	if (r == NULL)
		return -1;
	/* A cut may leave white space at the end. */
	for (n = strlen(r); n > 0 && headers_space(r[n - 1]); n--)
		r[n - 1] = '\0';
	*out = r;
	return 0;
}

/* One "Name: value" piece of the antispam view; a line break that an
 * encoded word decoded to would split the field, so it is a space. */
static void
headers_spam_one(struct kr_mime_doc *doc, GMimeHeader *h,
		 struct kr_mime_text_buf *b)
{
	size_t max = doc->lim.header_text_max;
	const char *name = g_mime_header_get_name(h);
	const char *raw = g_mime_header_get_raw_value(h);
	size_t name_len = strnlen(name != NULL ? name : "", max);
	const char *t;
	size_t n;
	char *text = headers_decode(doc->opts, raw != NULL ? raw : "",
				    raw != NULL ? strlen(raw) : 0, max, &t, &n);
	char *line;

	if (n > max)
		n = kr_mime_text_complete(t, max);
	line = kr_xmalloc(name_len + 2 + n + 1);
	memcpy(line, name != NULL ? name : "", name_len);
	memcpy(line + name_len, ": ", 2);
	for (size_t i = 0; i < n; i++)
		line[name_len + 2 + i] =
			t[i] == '\r' || t[i] == '\n' ? ' ' : t[i];
	kr_mime_text_buf_add(b, line, name_len + 2 + n);
	free(line);
	g_free(text);
}

void
kr_mime_header_spam(struct kr_mime_doc *doc, struct kr_mime_text_buf *b)
{
	GMimeHeaderList *hl = doc->top != NULL
				      ? g_mime_object_get_header_list(doc->top)
				      : NULL;
	int n = hl != NULL ? g_mime_header_list_get_count(hl) : 0;

	for (int i = 0; i < n && kr_mime_text_buf_room(b) > 0; i++)
		headers_spam_one(doc, g_mime_header_list_get_header_at(hl, i),
				 b);
}

/* As mime_doc.c's parser options: the same 8-bit fallback charsets,
 * the same lenient RFC 2047 mode, so summary and list agree. */
static GMimeParserOptions *
headers_options(void)
{
	const char *fallback[] = { "utf-8", "windows-1252", NULL };
	GMimeParserOptions *o = g_mime_parser_options_new();

	g_mime_parser_options_set_rfc2047_compliance_mode(
		o, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_fallback_charsets(o, fallback);
	return o;
}

/* The first n fields of s into out[0..n). */
static int
headers_fill(struct headers_scan *s, struct kr_mime_header *out, unsigned n,
	     size_t max, struct kr_arena *arena, struct kr_err *err_r)
{
	GMimeParserOptions *opts = headers_options();
	struct headers_field f;
	int rc = 0;

	for (unsigned k = 0; k < n && rc == 0; k++) {
		bool more = headers_next(s, &f);

		kr_assert(more); /* the counting pass found n */
		out[k].name = kr_arena_strndup(
			arena, f.name, f.name_len < max ? f.name_len : max,
			err_r);
		rc = out[k].name != NULL ? headers_value(opts, &f, max, arena,
							 &out[k].value, err_r)
					 : -1;
	}
	g_mime_parser_options_free(opts);
	return rc;
}

int
kr_mime_headers(const void *raw, size_t len, const struct kr_mime_limits *lim,
		struct kr_arena *arena, const struct kr_mime_header **headers_r,
		unsigned *n_r, bool *limited_r, struct kr_err *err_r)
{
	const char *p = len > 0 ? raw : "";
	size_t skip = kr_mime_doc_from_line(p, len);
	struct headers_scan s = { .p = p + skip, .len = len - skip };
	struct kr_mime_limits l;
	struct headers_field f;
	struct kr_mime_header *out;
	unsigned n = 0;
	size_t size;

	*headers_r = NULL;
	*n_r = 0;
	*limited_r = false;
	if (lim != NULL)
		l = *lim;
	else
		kr_mime_limits_init(&l);
	/* Count first: the list is allocated once, at its size. */
	while (headers_next(&s, &f)) {
		if (n == l.headers_max) {
			*limited_r = true;
			break;
		}
		n++;
	}
	if (n == 0)
		return 0;
	if (__builtin_mul_overflow((size_t)n, sizeof(*out), &size))
		return kr_err_set(err_r, KR_ERR_LIMIT, "mime: %u header fields",
				  n);
	out = kr_arena_zalloc(arena, size, err_r);
	s.i = 0;
	s.content_type = false;
	if (out == NULL ||
	    headers_fill(&s, out, n, l.header_text_max, arena, err_r) < 0) {
		*limited_r = false;
		return -1;
	}
	*headers_r = out;
	*n_r = n;
	return 0;
}
