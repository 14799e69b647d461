/* GMime parsing within the limits of struct kr_mime_limits, the walk
 * over the parts, and reading their content decoded. */
#include "proto/mime_priv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bytes handed to GMime per read of a decoded stream. */
#define DOC_CHUNK 4096
/* Consecutive empty reads of a filter stream that still says it is not
 * at its end: each consumes input, so only a broken stream gets here. */
#define DOC_IDLE_MAX (1u << 22)

/* GMime calls this for every header field it parses (the regex "^"
 * matches all). It offers no way to stop a parse; ending its input
 * stream does, after the at most 4 KiB it has buffered. */
static void
doc_on_header(GMimeParser *parser, const char *header, const char *value,
	      gint64 offset, gpointer ctx)
{
	struct kr_mime_doc *doc = ctx;
	GMimeStream *s = doc->parsing;

	(void)parser;
	(void)header;
	(void)value;
	(void)offset;
	if (doc->headers_left > 0) {
		doc->headers_left--;
		return;
	}
	doc->limited = true;
	doc->cut = true;
	if (s != NULL)
		g_mime_stream_set_bounds(s, s->bound_start,
					 g_mime_stream_tell(s));
}

static GMimeParserOptions *
doc_options(void)
{
	/* 8-bit header text that is valid UTF-8 stays UTF-8; the rest is
	 * most likely Western mail (windows-1252 covers ISO-8859-1). */
	const char *fallback[] = { "utf-8", "windows-1252", NULL };
	GMimeParserOptions *o = g_mime_parser_options_new();

	g_mime_parser_options_set_address_compliance_mode(
		o, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(
		o, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_rfc2047_compliance_mode(
		o, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_fallback_charsets(o, fallback);
	/* No warning callback: with one, GMime decodes every header field
	 * as it parses it (to validate it), address lists of any length
	 * included. The walk finds broken structure instead. */
	return o;
}

static size_t
doc_cut(struct kr_mime_doc *doc, size_t at)
{
	doc->limited = true;
	doc->cut = true;
	return at;
}

/* The end of the header field whose first line ends at i: past its
 * continuation lines. */
static size_t
doc_field_end(const char *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t')) {
		const char *nl = memchr(p + i, '\n', n - i);

		i = nl != NULL ? (size_t)(nl - p) + 1 : n;
	}
	return i;
}

/* How much of p[0..n) GMime may see: up to the line that would pass a
 * budget (struct kr_mime_limits). Lines, not MIME: it has to be cheaper
 * than the parse it protects, and only over-counts. */
static size_t
doc_prescan(struct kr_mime_doc *doc, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t next = nl != NULL ? (size_t)(nl - p) + 1 : n;

		if (next - i >= 2 && p[i] == '-' && p[i + 1] == '-') {
			if (doc->dash_left == 0)
				return doc_cut(doc, i);
			doc->dash_left--;
		} else if (next - i >= 8 &&
			   g_ascii_strncasecmp(p + i, "content-", 8) == 0) {
			next = doc_field_end(p, n, next);
			if (next - i > KR_MIME_CONTENT_FIELD_MAX ||
			    next - i > doc->content_left)
				return doc_cut(doc, i);
			doc->content_left -= next - i;
		}
		i = next;
	}
	return n;
}

/* Parses the bytes p[0..n), which are base's buffer from offset start
 * on, as one MIME entity with its header block. */
static GMimeObject *
doc_parse(struct kr_mime_doc *doc, GMimeStream *base, gint64 start,
	  const char *p, size_t n)
{
	size_t cut = doc_prescan(doc, p, n);
	GMimeStream *s =
		g_mime_stream_substream(base, start, start + (gint64)cut);
	GMimeParser *parser = g_mime_parser_new_with_stream(s);
	GMimeObject *obj;

	g_mime_parser_set_header_regex(parser, "^", doc_on_header, doc);
	doc->parsing = s;
	/* A part, not a message: GMime would parse the address fields of
	 * a GMimeMessage at once, however long; we parse what we need. */
	obj = g_mime_parser_construct_part(parser, doc->opts);
	doc->parsing = NULL;
	if (obj == NULL)
		doc->malformed = true;
	g_object_unref(parser);
	g_object_unref(s);
	return obj;
}

size_t
kr_mime_doc_from_line(const char *p, size_t len)
{
	const char *nl;

	if (len < 5 || memcmp(p, "From ", 5) != 0)
		return 0;
	nl = memchr(p, '\n', len);
	return nl != NULL ? (size_t)(nl - p) + 1 : len;
}

int
kr_mime_doc_open(struct kr_mime_doc *doc, const void *raw, size_t len,
		 const struct kr_mime_limits *lim, struct kr_err *err_r)
{
	const char *p = len > 0 ? raw : "";
	size_t skip;

	memset(doc, 0, sizeof(*doc));
	if (len > G_MAXUINT)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "mime: %zu bytes is too large to parse", len);
	if (lim != NULL)
		doc->lim = *lim;
	else
		kr_mime_limits_init(&doc->lim);
	if (doc->lim.depth_max > KR_MIME_DEPTH_HARD_MAX)
		doc->lim.depth_max = KR_MIME_DEPTH_HARD_MAX;
	doc->dash_left = (size_t)doc->lim.parts_max * 4 + 1024;
	doc->content_left = KR_MIME_CONTENT_BYTES_MAX;
	doc->headers_left = doc->lim.headers_max;
	doc->opts = doc_options();
	doc->owned = g_ptr_array_new();
	/* No copy: GMime only reads its input and the parts' content
	 * streams share this array. It borrows the caller's bytes and is
	 * taken back, not freed, at close (the stream does not own it). */
	doc->raw_array = g_byte_array_new_take((guint8 *)(uintptr_t)p, len);
	doc->raw_stream = g_mime_stream_mem_new_with_byte_array(doc->raw_array);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(doc->raw_stream), FALSE);
	skip = kr_mime_doc_from_line(p, len);
	doc->top = doc_parse(doc, doc->raw_stream, (gint64)skip, p + skip,
			     len - skip);
	return 0;
}

void
kr_mime_doc_close(struct kr_mime_doc *doc)
{
	/* A memory substream shares its parent's buffer without holding a
	 * reference: objects go before the streams they point into. */
	if (doc->owned != NULL) {
		for (guint i = doc->owned->len; i > 0; i--)
			g_object_unref(g_ptr_array_index(doc->owned, i - 1));
		g_ptr_array_free(doc->owned, TRUE);
	}
	if (doc->top != NULL)
		g_object_unref(doc->top);
	if (doc->raw_stream != NULL)
		g_object_unref(doc->raw_stream);
	if (doc->raw_array != NULL) {
		guint8 *mine = g_byte_array_free(doc->raw_array, FALSE);

		(void)mine; /* the caller's bytes */
	}
	if (doc->opts != NULL)
		g_mime_parser_options_free(doc->opts);
	memset(doc, 0, sizeof(*doc));
}

/* ---- encoded words ----------------------------------------------------- */

/* An empty encoded word of another encoding: GMime decodes runs of
 * adjacent words with the same charset and encoding as one base64
 * stream, so it ends such a run. ("\?" keeps "??=" from being a
 * trigraph.) */
#define DOC_WORD_BREAK " =?us-ascii?q?\?="

/* After "...=?=" (a padded B word's end): LWSP then another word? */
static bool
doc_word_follows(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p[0] == '=' && p[1] == '?';
}

char *
kr_mime_doc_fix_words(const char *raw)
{
	size_t n = 0, len = strlen(raw), k = strlen(DOC_WORD_BREAK);
	const char *p = raw, *hit;
	char *out, *o;

	while ((hit = strstr(p, "=?=")) != NULL) {
		n += doc_word_follows(hit + 3);
		p = hit + 3;
	}
	if (n == 0)
		return NULL;
	out = g_malloc(len + n * k + 1);
	o = out;
	p = raw;
	while ((hit = strstr(p, "=?=")) != NULL) {
		memcpy(o, p, (size_t)(hit + 3 - p));
		o += hit + 3 - p;
		p = hit + 3;
		if (doc_word_follows(p)) {
			memcpy(o, DOC_WORD_BREAK, k);
			o += k;
		}
	}
	memcpy(o, p, strlen(p) + 1);
	return out;
}

/* The value of parameter param of the field name as GMime parses it
 * after kr_mime_doc_fix_words() (g_malloc'd), or NULL. */
static char *
doc_fixed_param(struct kr_mime_doc *doc, GMimeObject *obj, const char *name,
		const char *param)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	GMimeHeader *h =
		hl != NULL ? g_mime_header_list_get_header(hl, name) : NULL;
	const char *raw = h != NULL ? g_mime_header_get_raw_value(h) : NULL;
	char *fixed = raw != NULL ? kr_mime_doc_fix_words(raw) : NULL;
	char *res = NULL;

	if (fixed == NULL)
		return NULL;
	if (strcmp(name, "Content-Type") == 0) {
		GMimeContentType *ct =
			g_mime_content_type_parse(doc->opts, fixed);

		res = g_strdup(g_mime_content_type_get_parameter(ct, param));
		g_object_unref(ct);
	} else {
		GMimeContentDisposition *cd =
			g_mime_content_disposition_parse(doc->opts, fixed);

		res = g_strdup(
			g_mime_content_disposition_get_parameter(cd, param));
		g_object_unref(cd);
	}
	g_free(fixed);
	return res;
}

char *
kr_mime_doc_filename(struct kr_mime_doc *doc, GMimePart *part)
{
	GMimeObject *obj = GMIME_OBJECT(part);
	const char *name;
	char *fixed;

	/* As g_mime_part_get_filename(): the disposition's filename, else
	 * the content type's name. */
	name = g_mime_object_get_content_disposition_parameter(obj, "filename");
	fixed = name != NULL ? doc_fixed_param(doc, obj, "Content-Disposition",
					       "filename")
			     : NULL;
	if (name == NULL) {
		name = g_mime_object_get_content_type_parameter(obj, "name");
		fixed = name != NULL ? doc_fixed_param(doc, obj, "Content-Type",
						       "name")
				     : NULL;
	}
	return fixed != NULL ? fixed : g_strdup(name);
}

/* ---- decoding ------------------------------------------------------- */

static bool
doc_encoded(GMimeContentEncoding e)
{
	return e == GMIME_CONTENT_ENCODING_BASE64 ||
	       e == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	       e == GMIME_CONTENT_ENCODING_UUENCODE;
}

static void
doc_filter(GMimeStream *s, GMimeFilter *f)
{
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(s), f);
	g_object_unref(f);
}

/* A stream of the part's content after transfer decoding (new
 * reference); NULL when the part has no content. */
static GMimeStream *
doc_decoded(GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *src = w != NULL ? g_mime_data_wrapper_get_stream(w) : NULL;
	GMimeContentEncoding enc;
	GMimeStream *f;

	if (src == NULL)
		return NULL;
	g_mime_stream_reset(src);
	f = g_mime_stream_filter_new(src);
	enc = g_mime_data_wrapper_get_encoding(w);
	if (doc_encoded(enc))
		doc_filter(f, g_mime_filter_basic_new(enc, FALSE));
	return f;
}

/* One read of s: the bytes read, 0 at its end or on an error. */
static size_t
doc_step(GMimeStream *s, char *dst, size_t want)
{
	for (unsigned idle = 0; idle <= DOC_IDLE_MAX; idle++) {
		ssize_t r = g_mime_stream_read(s, dst, want);

		if (r > 0)
			return (size_t)r;
		/* A filter may turn a chunk of input into nothing. */
		if (r < 0 || g_mime_stream_eos(s))
			return 0;
	}
	return 0;
}

static size_t
doc_count(GMimeStream *s)
{
	char chunk[DOC_CHUNK];
	size_t total = 0, n;

	while ((n = doc_step(s, chunk, sizeof(chunk))) > 0)
		total += n;
	return total;
}

static size_t
doc_fill(GMimeStream *s, char *buf, size_t cap)
{
	size_t total = 0, n = 1;

	while (total < cap && n > 0) {
		n = doc_step(s, buf + total,
			     cap - total < DOC_CHUNK ? cap - total : DOC_CHUNK);
		total += n;
	}
	return total;
}

size_t
kr_mime_doc_size(GMimePart *part)
{
	GMimeStream *s = doc_decoded(part);
	size_t n;

	if (s == NULL)
		return 0;
	n = doc_count(s);
	g_object_unref(s);
	return n;
}

size_t
kr_mime_doc_read(GMimePart *part, char *buf, size_t cap)
{
	GMimeStream *s = doc_decoded(part);
	size_t n;

	if (s == NULL)
		return 0;
	n = doc_fill(s, buf, cap);
	g_object_unref(s);
	return n;
}

/* Charsets whose text needs no conversion to be UTF-8 if valid (and
 * when not, is mislabelled, so the fallback guess is better). */
static bool
doc_utf8_like(const char *cs)
{
	static const char *const names[] = { "utf-8", "utf8", "us-ascii",
					     "ascii", "ansi_x3.4-1968" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (g_ascii_strcasecmp(cs, names[i]) == 0)
			return true;
	return false;
}

char *
kr_mime_doc_8bit(struct kr_mime_doc *doc, const char *s, size_t len,
		 size_t *len_r)
{
	char *copy = NULL;
	char *g, *res;
	size_t n;

	/* GMime's result is a C string: a NUL in the text would end it
	 * there and hide the rest (from the antispam rules too). In every
	 * charset GMime may guess, a space is one byte like the NUL. */
	if (memchr(s, '\0', len) != NULL) {
		copy = kr_xmalloc(len + 1);
		for (size_t i = 0; i < len; i++)
			copy[i] = s[i] != '\0' ? s[i] : ' ';
		s = copy;
	}
	g = g_mime_utils_decode_8bit(doc->opts, s, len);
	n = g != NULL ? strlen(g) : 0;
	res = kr_xmalloc(n + 1);
	memcpy(res, g != NULL ? g : "", n + 1);
	g_free(g);
	free(copy);
	*len_r = n;
	return res;
}

char *
kr_mime_doc_text(struct kr_mime_doc *doc, GMimePart *part, size_t cap,
		 size_t *len_r)
{
	const char *cs = g_mime_object_get_content_type_parameter(
		GMIME_OBJECT(part), "charset");
	GMimeStream *s = doc_decoded(part);
	bool converted = false;
	char *buf;
	size_t n = 0;

	if (s != NULL) {
		/* Conversion to UTF-8 at most triples a byte (UTF-16 and
		 * single-byte charsets); no need for more room than that. */
		gint64 raw =
			g_mime_stream_length(GMIME_STREAM_FILTER(s)->source);

		if (raw >= 0 && (guint64)raw < (SIZE_MAX - 16) / 3 &&
		    (size_t)raw * 3 + 16 < cap)
			cap = (size_t)raw * 3 + 16;
	}
	if (cap == SIZE_MAX)
		cap--;
	buf = kr_xmalloc(cap + 1);
	if (s != NULL) {
		GMimeFilter *f = NULL;

		if (cs != NULL && !doc_utf8_like(cs))
			f = g_mime_filter_charset_new(cs, "UTF-8");
		if (f != NULL) {
			doc_filter(s, f);
			converted = true;
		}
		doc_filter(s, g_mime_filter_dos2unix_new(FALSE));
		n = doc_fill(s, buf, cap);
		g_object_unref(s);
	}
	if (n == cap)
		n = kr_mime_text_complete(buf, n); /* cut mid-character */
	buf[n] = '\0';
	/* Undeclared, mislabelled or unknown charsets: GMime's guess from
	 * the fallback charsets. */
	if (!converted && !g_utf8_validate_len(buf, n, NULL)) {
		char *conv = kr_mime_doc_8bit(doc, buf, n, &n);

		free(buf);
		buf = conv;
	}
	*len_r = n;
	return buf;
}

/* ---- the walk ------------------------------------------------------- */

#define WALK_IN_MESSAGE 1u
#define WALK_RELATED 2u
/* ".2147483647" per level. */
#define WALK_LEVEL_BYTES 11

struct doc_walk {
	struct kr_mime_doc *doc;
	bool into_messages;
	kr_mime_visit_fn *fn;
	void *ctx;
	unsigned parts;
	char *path;
	size_t path_cap;
};

static bool walk_entity(struct doc_walk *w, GMimeObject *obj, size_t plen,
			unsigned depth, unsigned flags);

/* Appends part number n to the path of length plen. */
static size_t
walk_push(struct doc_walk *w, size_t plen, int n)
{
	int k;

	if (plen == 0)
		k = snprintf(w->path, w->path_cap, "%d", n);
	else
		k = snprintf(w->path + plen, w->path_cap - plen, ".%d", n);
	kr_assert(k > 0 && (size_t)k < w->path_cap - plen);
	return plen + (size_t)k;
}

static bool
walk_visit(struct doc_walk *w, enum kr_mime_node node, GMimeObject *obj,
	   size_t plen, unsigned flags)
{
	struct kr_mime_visit v = {
		.node = node,
		.obj = obj,
		.path = node == KR_MIME_NODE_PROLOGUE ? NULL : w->path,
		.in_message = (flags & WALK_IN_MESSAGE) != 0,
		.in_related = (flags & WALK_RELATED) != 0,
	};

	w->path[plen] = '\0';
	return w->fn(w->ctx, &v);
}

static bool
doc_is_message(GMimeObject *obj)
{
	static const char *const subtypes[] = { "rfc822", "rfc2822", "global",
						"news" };
	GMimeContentType *ct = g_mime_object_get_content_type(obj);

	if (ct == NULL)
		return false;
	for (size_t i = 0; i < sizeof(subtypes) / sizeof(subtypes[0]); i++)
		if (g_mime_content_type_is_type(ct, "message", subtypes[i]))
			return true;
	return false;
}

/* The attached message in part, parsed (owned by the doc); NULL when
 * it cannot be read. */
static GMimeObject *
doc_parse_attached(struct kr_mime_doc *doc, GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *s = w != NULL ? g_mime_data_wrapper_get_stream(w) : NULL;
	GByteArray *a;
	gint64 start, end;
	GMimeObject *obj;

	if (s == NULL)
		return NULL;
	if (doc_encoded(g_mime_data_wrapper_get_encoding(w)) ||
	    !GMIME_IS_STREAM_MEM(s)) {
		/* Decoded into memory of its own, kept until close: the
		 * parts' content will point into it. */
		s = g_mime_stream_mem_new();
		g_ptr_array_add(doc->owned, s);
		(void)g_mime_data_wrapper_write_to_stream(w, s);
	}
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
	start = s->bound_start;
	end = s->bound_end < 0 || s->bound_end > (gint64)a->len ? (gint64)a->len
								: s->bound_end;
	if (a->data == NULL || start > end)
		return NULL;
	obj = doc_parse(doc, s, start, (const char *)a->data + start,
			(size_t)(end - start));
	if (obj != NULL)
		g_ptr_array_add(doc->owned, obj);
	return obj;
}

/* The body of a message (the top one or an attached one) whose own
 * path is path[0..plen): a multipart body shares it, as in IMAP; a
 * single part is its ".1". */
static bool
walk_body(struct doc_walk *w, GMimeObject *obj, size_t plen, unsigned depth,
	  unsigned flags)
{
	if (GMIME_IS_MULTIPART(obj))
		return walk_entity(w, obj, plen, depth, flags);
	return walk_entity(w, obj, walk_push(w, plen, 1), depth, flags);
}

static bool
walk_children(struct doc_walk *w, GMimeMultipart *mp, size_t plen,
	      unsigned depth, unsigned flags)
{
	int n = g_mime_multipart_get_count(mp);
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(mp));

	if (ct != NULL &&
	    g_mime_content_type_is_type(ct, "multipart", "related"))
		flags |= WALK_RELATED;
	else
		flags &= ~WALK_RELATED;
	/* No boundary, no part found, or no close delimiter (that GMime
	 * records in write_end_boundary), unless we ended its input. */
	if (n == 0 ||
	    g_mime_object_get_content_type_parameter(GMIME_OBJECT(mp),
						     "boundary") == NULL ||
	    (!mp->write_end_boundary && !w->doc->cut))
		w->doc->malformed = true;
	if (n == 0) {
		const char *prologue = g_mime_multipart_get_prologue(mp);

		if (prologue == NULL || prologue[0] == '\0')
			return true;
		return walk_visit(w, KR_MIME_NODE_PROLOGUE, GMIME_OBJECT(mp),
				  plen, flags);
	}
	for (int i = 0; i < n; i++)
		if (!walk_entity(w, g_mime_multipart_get_part(mp, i),
				 walk_push(w, plen, i + 1), depth + 1, flags))
			return false;
	return true;
}

/* obj sits at path[0..plen) inside depth containers. */
static bool
walk_entity(struct doc_walk *w, GMimeObject *obj, size_t plen, unsigned depth,
	    unsigned flags)
{
	struct kr_mime_doc *doc = w->doc;
	GMimeObject *body;

	if (depth > doc->lim.depth_max) {
		doc->limited = true;
		return true;
	}
	if (w->parts >= doc->lim.parts_max) {
		doc->limited = true;
		return false;
	}
	w->parts++;
	if (GMIME_IS_MULTIPART(obj))
		return walk_children(w, GMIME_MULTIPART(obj), plen, depth,
				     flags);
	if (!GMIME_IS_PART(obj)) /* not from our parser (kr_mime_init) */
		return true;
	if (!doc_is_message(obj))
		return walk_visit(w, KR_MIME_NODE_LEAF, obj, plen, flags);
	if (!walk_visit(w, KR_MIME_NODE_MESSAGE, obj, plen, flags))
		return false;
	if (!w->into_messages)
		return true;
	if (depth + 1 > doc->lim.depth_max) {
		doc->limited = true;
		return true;
	}
	body = doc_parse_attached(doc, GMIME_PART(obj));
	if (body == NULL)
		return true;
	return walk_body(w, body, plen, depth + 1,
			 (flags | WALK_IN_MESSAGE) & ~WALK_RELATED);
}

void
kr_mime_doc_walk(struct kr_mime_doc *doc, bool into_messages,
		 kr_mime_visit_fn *fn, void *ctx)
{
	struct doc_walk w = {
		.doc = doc,
		.into_messages = into_messages,
		.fn = fn,
		.ctx = ctx,
		/* One number per level, the top's, one pushed before its
		 * depth is checked, and the NUL. */
		.path_cap = ((size_t)doc->lim.depth_max + 3) * WALK_LEVEL_BYTES,
	};

	if (doc->top == NULL)
		return;
	w.path = kr_xmalloc(w.path_cap);
	w.path[0] = '\0';
	(void)walk_body(&w, doc->top, 0, 0, 0);
	free(w.path);
}
