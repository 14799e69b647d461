/* MIME message parsing: the public calls of proto/mime.h. */
#include "proto/mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "proto/fts_terms.h"
#include "proto/mime_priv.h"

/* Decoded text read from the part the preview comes from, even when the
 * search text is full: enough to get past a long HTML head. */
#define MIME_PREVIEW_SCAN (64 << 10)
/* Longest content type kept ("type/subtype"; RFC 6838 allows 127 +
 * 1 + 127). */
#define MIME_TYPE_MAX 255

/* LeakSanitizer's, when the program is linked with it. */
void __lsan_disable(void) __attribute__((weak));
void __lsan_enable(void) __attribute__((weak));

void
kr_mime_init(void)
{
	static const char *const attached[] = { "rfc822", "rfc2822", "global",
						"news" };

	/* Registering a type again drops GMime's first entry without
	 * freeing it: a few bytes once, not a leak to report. */
	if (__lsan_disable != NULL)
		__lsan_disable();
	g_mime_init();
	/* GMime would parse an attached message (and every address list
	 * in it) as it meets it; as a plain part it is parsed only when
	 * the walk gets there, within the limits (mime_doc.c). */
	for (size_t i = 0; i < sizeof(attached) / sizeof(attached[0]); i++)
		g_mime_object_register_type("message", attached[i],
					    GMIME_TYPE_PART);
	if (__lsan_enable != NULL)
		__lsan_enable();
}

void
kr_mime_shutdown(void)
{
	g_mime_shutdown();
}

void
kr_mime_limits_init(struct kr_mime_limits *lim)
{
	*lim = (struct kr_mime_limits){
		.preview_max = KR_MIME_PREVIEW_MAX_DEFAULT,
		.search_text_max = KR_MIME_SEARCH_TEXT_MAX_DEFAULT,
		.body_text_max = KR_MIME_BODY_TEXT_MAX_DEFAULT,
		.header_text_max = KR_MIME_HEADER_TEXT_MAX_DEFAULT,
		.depth_max = KR_MIME_DEPTH_MAX_DEFAULT,
		.parts_max = KR_MIME_PARTS_MAX_DEFAULT,
		.addrs_max = KR_MIME_ADDRS_MAX_DEFAULT,
		.refs_max = KR_MIME_REFS_MAX_DEFAULT,
		.headers_max = KR_MIME_HEADERS_MAX_DEFAULT,
		.spam_text = false,
		.spam_text_max = KR_MIME_SPAM_TEXT_MAX_DEFAULT,
	};
}

enum mime_kind {
	MIME_PLAIN,
	MIME_HTML,
	MIME_ATTACHMENT,
};

/* A text/plain or text/html part is body text unless it is marked or
 * named as a file; everything else is an attachment. */
static enum mime_kind
mime_kind(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *disp = g_mime_object_get_disposition(obj);

	if (ct == NULL ||
	    (disp != NULL && g_ascii_strcasecmp(disp, "attachment") == 0) ||
	    g_mime_part_get_filename(GMIME_PART(obj)) != NULL)
		return MIME_ATTACHMENT;
	if (g_mime_content_type_is_type(ct, "text", "plain"))
		return MIME_PLAIN;
	if (g_mime_content_type_is_type(ct, "text", "html"))
		return MIME_HTML;
	return MIME_ATTACHMENT;
}

/* ---- kr_mime_parse ---------------------------------------------------- */

struct mime_sum {
	struct kr_mime_doc *doc;
	struct kr_arena *arena;
	struct kr_err *err_r;
	int rc;
	/* Search text from the plain parts and from the HTML ones; the
	 * second is used only when there are no plain parts. */
	struct kr_mime_text_buf plain, html, names;
	bool any_plain;
	const char *preview_plain, *preview_html;
	bool has_preview_plain, has_preview_html;
	struct kr_mime_attachment *att; /* heap, copied to the arena */
	unsigned n_att, cap_att;
	struct kr_mime_spam *spam; /* NULL unless lim.spam_text */
};

/* The preview of text[0..n): folded, at most preview_max characters. */
static int
sum_preview(struct mime_sum *s, const char *text, size_t n, const char **out)
{
	size_t max = s->doc->lim.preview_max;
	size_t cap = max <= SIZE_MAX / 4 - 1 ? max * 4 : SIZE_MAX - 1;
	char *tmp, *res;
	size_t k;

	if (cap > n * 3 + 3)
		cap = n * 3 + 3;
	tmp = kr_xmalloc(cap + 1);
	k = kr_mime_text_clean(text, n, tmp, cap, KR_MIME_TEXT_FOLD);
	k = kr_mime_text_chars(tmp, k, max);
	res = kr_arena_strndup(s->arena, tmp, k, s->err_r);
	free(tmp);
	*out = res;
	return res != NULL ? 0 : -1;
}

/* How much of a text part to decode: what the search text, the
 * preview and the antispam view can use. */
static size_t
sum_cap(const struct mime_sum *s, size_t room, bool want_preview)
{
	size_t spam = s->spam != NULL ? kr_mime_spam_room(s->spam) : 0;

	if (want_preview && room < MIME_PREVIEW_SCAN)
		room = MIME_PREVIEW_SCAN;
	return spam > room ? spam : room;
}

/* Plain body text (a part's or a prologue's). */
static int
sum_plain_text(struct mime_sum *s, const char *text, size_t n,
	       bool want_preview)
{
	kr_mime_text_buf_add(&s->plain, text, n);
	if (s->spam != NULL)
		kr_mime_spam_plain(s->spam, text, n);
	if (!want_preview)
		return 0;
	s->has_preview_plain = true;
	return sum_preview(s, text, n, &s->preview_plain);
}

static int
sum_plain(struct mime_sum *s, const struct kr_mime_visit *v)
{
	bool want_preview = !v->in_message && !s->has_preview_plain;
	size_t cap = sum_cap(s, kr_mime_text_buf_room(&s->plain), want_preview);
	size_t n;
	char *text;
	int rc;

	s->any_plain = true;
	if (cap == 0)
		return 0;
	text = kr_mime_doc_text(s->doc, GMIME_PART(v->obj), cap, &n);
	rc = sum_plain_text(s, text, n, want_preview);
	free(text);
	return rc;
}

static int
sum_prologue(struct mime_sum *s, const struct kr_mime_visit *v)
{
	const char *p = g_mime_multipart_get_prologue(GMIME_MULTIPART(v->obj));
	bool want_preview = !v->in_message && !s->has_preview_plain;
	size_t cap = sum_cap(s, kr_mime_text_buf_room(&s->plain), want_preview);
	size_t n = strnlen(p, cap);
	char *text = NULL;
	int rc;

	s->any_plain = true;
	if (!g_utf8_validate_len(p, kr_mime_text_complete(p, n), NULL)) {
		text = kr_mime_doc_8bit(s->doc, p, n, &n);
		p = text;
	}
	rc = sum_plain_text(s, p, n, want_preview);
	free(text);
	return rc;
}

static int
sum_html(struct mime_sum *s, const struct kr_mime_visit *v)
{
	bool want_preview =
		!v->in_message && !s->has_preview_plain && !s->has_preview_html;
	size_t room = s->any_plain ? 0 : kr_mime_text_buf_room(&s->html);
	size_t cap = sum_cap(s, room, want_preview);
	size_t n, k;
	char *text, *stripped;
	int rc = 0;

	if (cap == 0)
		return 0;
	text = kr_mime_doc_text(s->doc, GMIME_PART(v->obj), cap, &n);
	stripped = kr_xmalloc(n + 1);
	k = kr_mime_text_html(text, n, stripped);
	if (s->spam != NULL)
		kr_mime_spam_html(s->spam, text, n, stripped, k);
	free(text);
	if (room > 0)
		kr_mime_text_buf_add(&s->html, stripped, k);
	if (want_preview) {
		s->has_preview_html = true;
		rc = sum_preview(s, stripped, k, &s->preview_html);
	}
	free(stripped);
	return rc;
}

/* a->type: the lower-case "type/subtype" of obj. */
static int
sum_type(struct mime_sum *s, GMimeObject *obj, const char **out)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	char *type = ct != NULL ? g_mime_content_type_get_mime_type(ct) : NULL;
	char *lower = g_ascii_strdown(type != NULL ? type
						   : "application/"
						     "octet-stream",
				      -1);

	*out = kr_mime_text_dup(s->arena, lower, strlen(lower), MIME_TYPE_MAX,
				KR_MIME_TEXT_FOLD, s->err_r);
	g_free(lower);
	g_free(type);
	return *out != NULL ? 0 : -1;
}

/* A cleaned copy of s or NULL (s NULL or empty). */
static int
sum_str(struct mime_sum *s, const char *str, const char **out)
{
	char *r;

	*out = NULL;
	if (str == NULL)
		return 0;
	r = kr_mime_text_dup(s->arena, str, strlen(str),
			     s->doc->lim.header_text_max, KR_MIME_TEXT_FOLD,
			     s->err_r);
	if (r == NULL)
		return -1;
	*out = r[0] != '\0' ? r : NULL;
	return 0;
}

/* A text part the summary counts as an attachment (a named or
 * attached .txt or .html, or one of an attached message) is still text
 * the antispam rules read, as SpamAssassin's do. */
static void
sum_spam_attached(struct mime_sum *s, const struct kr_mime_visit *v)
{
	GMimeContentType *ct = g_mime_object_get_content_type(v->obj);
	bool html =
		ct != NULL && g_mime_content_type_is_type(ct, "text", "html");
	size_t cap = kr_mime_spam_room(s->spam);
	size_t n;
	char *text;

	if (cap == 0 || v->node != KR_MIME_NODE_LEAF || ct == NULL ||
	    (!html && !g_mime_content_type_is_type(ct, "text", "plain")))
		return;
	text = kr_mime_doc_text(s->doc, GMIME_PART(v->obj), cap, &n);
	if (html) {
		char *stripped = kr_xmalloc(n + 1);
		size_t k = kr_mime_text_html(text, n, stripped);

		kr_mime_spam_html(s->spam, text, n, stripped, k);
		free(stripped);
	} else {
		kr_mime_spam_plain(s->spam, text, n);
	}
	free(text);
}

static int
sum_attachment(struct mime_sum *s, const struct kr_mime_visit *v)
{
	GMimePart *part = GMIME_PART(v->obj);
	const char *disp = g_mime_object_get_disposition(v->obj);
	struct kr_mime_attachment a = { 0 };
	char *filename;
	int rc;

	if (s->spam != NULL)
		sum_spam_attached(s, v);
	/* Parts of an attached message belong to it, not to this one. */
	if (v->in_message)
		return 0;
	filename = kr_mime_doc_filename(s->doc, part);
	a.part = kr_arena_strdup(s->arena, v->path, s->err_r);
	rc = a.part == NULL || sum_type(s, v->obj, &a.type) < 0 ||
			     sum_str(s, filename, &a.filename) < 0 ||
			     sum_str(s, g_mime_object_get_content_id(v->obj),
				     &a.content_id) < 0
		     ? -1
		     : 0;
	g_free(filename);
	if (rc < 0)
		return -1;
	a.size = kr_mime_doc_size(part);
	a.is_inline = v->in_related && a.content_id != NULL &&
		      (disp == NULL || g_ascii_strcasecmp(disp, "attachment"));
	if (a.filename != NULL)
		kr_mime_text_buf_add(&s->names, a.filename, strlen(a.filename));
	if (s->n_att == s->cap_att) {
		s->cap_att = s->cap_att == 0 ? 8 : s->cap_att * 2;
		s->att = kr_xrealloc(s->att, s->cap_att * sizeof(*s->att));
	}
	s->att[s->n_att++] = a;
	return 0;
}

static bool
sum_visit(void *ctx, const struct kr_mime_visit *v)
{
	struct mime_sum *s = ctx;

	switch (v->node) {
	case KR_MIME_NODE_PROLOGUE:
		s->rc = sum_prologue(s, v);
		break;
	case KR_MIME_NODE_MESSAGE:
		s->rc = sum_attachment(s, v);
		break;
	case KR_MIME_NODE_LEAF:
		switch (mime_kind(v->obj)) {
		case MIME_PLAIN:
			s->rc = sum_plain(s, v);
			break;
		case MIME_HTML:
			s->rc = sum_html(s, v);
			break;
		default:
			s->rc = sum_attachment(s, v);
			break;
		}
		break;
	}
	return s->rc == 0;
}

static void
sum_add_addr(struct kr_mime_text_buf *b, const struct kr_mime_addr *a)
{
	if (a->name != NULL)
		kr_mime_text_buf_add(b, a->name, strlen(a->name));
	if (a->email != NULL)
		kr_mime_text_buf_add(b, a->email, strlen(a->email));
}

/* Subject, From, To, Cc, attachment names, then the body text. */
static int
sum_search_text(struct mime_sum *s, struct kr_mime_summary *sum)
{
	const struct kr_mime_text_buf *body =
		s->any_plain ? &s->plain : &s->html;
	struct kr_mime_text_buf b;

	kr_mime_text_buf_init(&b, s->doc->lim.search_text_max,
			      KR_MIME_TEXT_FOLD);
	if (sum->subject != NULL)
		kr_mime_text_buf_add(&b, sum->subject, strlen(sum->subject));
	sum_add_addr(&b, &sum->from);
	for (unsigned i = 0; i < sum->n_to; i++)
		sum_add_addr(&b, &sum->to[i]);
	for (unsigned i = 0; i < sum->n_cc; i++)
		sum_add_addr(&b, &sum->cc[i]);
	kr_mime_text_buf_add(&b, s->names.p, s->names.len);
	kr_mime_text_buf_add(&b, body->p, body->len);
	sum->search_text = kr_arena_strndup(s->arena, b.p, b.len, s->err_r);
	if (sum->search_text != NULL)
		sum->search_terms = kr_fts_terms(s->arena, b.p, b.len,
						 s->doc->lim.search_text_max,
						 NULL, s->err_r);
	kr_mime_text_buf_free(&b);
	return sum->search_terms != NULL ? 0 : -1;
}

static int
sum_finish(struct mime_sum *s, struct kr_mime_summary *sum)
{
	if (s->has_preview_plain)
		sum->preview = s->preview_plain;
	else if (s->has_preview_html)
		sum->preview = s->preview_html;
	if (s->n_att > 0) {
		sum->attachments = kr_arena_memdup(
			s->arena, s->att, s->n_att * sizeof(*s->att), s->err_r);
		if (sum->attachments == NULL)
			return -1;
		sum->n_attachments = s->n_att;
	}
	for (unsigned i = 0; i < s->n_att; i++)
		sum->has_attachments |= !s->att[i].is_inline;
	sum->malformed = s->doc->malformed;
	sum->limited = s->doc->limited;
	return sum_search_text(s, sum);
}

/* The antispam view starts with the header block and, as SpamAssassin's
 * body does, the Subject as its first line. */
static struct kr_mime_spam *
sum_spam_begin(struct kr_mime_spam *sp, struct kr_mime_doc *doc,
	       const struct kr_mime_summary *sum)
{
	kr_mime_spam_init(sp, doc->lim.spam_text_max);
	kr_mime_header_spam(doc, &sp->headers);
	if (sum->subject != NULL)
		kr_mime_text_buf_add(&sp->body, sum->subject,
				     strlen(sum->subject));
	return sp;
}

int
kr_mime_parse(const void *raw, size_t len, const struct kr_mime_limits *lim,
	      struct kr_arena *arena, struct kr_mime_summary **sum_r,
	      struct kr_err *err_r)
{
	struct kr_mime_doc doc;
	struct kr_mime_summary *sum;
	struct kr_mime_spam spam;
	struct mime_sum s = { .doc = &doc, .arena = arena, .err_r = err_r };
	int rc;

	*sum_r = NULL;
	sum = kr_arena_zalloc(arena, sizeof(*sum), err_r);
	if (sum == NULL || kr_mime_doc_open(&doc, raw, len, lim, err_r) < 0)
		return -1;
	rc = kr_mime_header_summary(&doc, arena, sum, err_r);
	if (rc == 0) {
		kr_mime_text_buf_init(&s.plain, doc.lim.search_text_max, 0);
		kr_mime_text_buf_init(&s.html, doc.lim.search_text_max, 0);
		kr_mime_text_buf_init(&s.names, doc.lim.search_text_max, 0);
		if (doc.lim.spam_text)
			s.spam = sum_spam_begin(&spam, &doc, sum);
		kr_mime_doc_walk(&doc, true, sum_visit, &s);
		rc = s.rc == 0 ? sum_finish(&s, sum) : -1;
		if (rc == 0 && s.spam != NULL)
			rc = kr_mime_spam_finish(s.spam, arena, &sum->spam,
						 err_r);
		if (s.spam != NULL)
			kr_mime_spam_free(s.spam);
		kr_mime_text_buf_free(&s.plain);
		kr_mime_text_buf_free(&s.html);
		kr_mime_text_buf_free(&s.names);
		free(s.att);
	}
	kr_mime_doc_close(&doc);
	if (rc == 0)
		*sum_r = sum;
	return rc;
}

/* ---- kr_mime_body_text ------------------------------------------------ */

struct mime_body {
	struct kr_mime_doc *doc;
	struct kr_arena *arena;
	struct kr_err *err_r;
	struct kr_mime_text_buf text;
	const char *html;
	int rc;
};

static bool
body_visit(void *ctx, const struct kr_mime_visit *v)
{
	struct mime_body *b = ctx;
	size_t max = b->doc->lim.body_text_max;
	enum mime_kind kind = v->node == KR_MIME_NODE_PROLOGUE ? MIME_PLAIN
			      : v->node == KR_MIME_NODE_LEAF ? mime_kind(v->obj)
							     : MIME_ATTACHMENT;
	size_t n;
	char *text;

	if (kind == MIME_ATTACHMENT || (kind == MIME_HTML && b->html != NULL))
		return true;
	if (kind == MIME_PLAIN && kr_mime_text_buf_room(&b->text) == 0) {
		b->text.pieces++; /* present, but no room left */
		return true;
	}
	if (v->node == KR_MIME_NODE_PROLOGUE) {
		const char *p =
			g_mime_multipart_get_prologue(GMIME_MULTIPART(v->obj));

		n = strnlen(p, max);
		text = kr_mime_doc_8bit(b->doc, p, n, &n);
	} else {
		text = kr_mime_doc_text(
			b->doc, GMIME_PART(v->obj),
			kind == MIME_PLAIN ? kr_mime_text_buf_room(&b->text)
					   : max,
			&n);
	}
	if (kind == MIME_PLAIN) {
		kr_mime_text_buf_add(&b->text, text, n);
	} else {
		b->html = kr_mime_text_dup(b->arena, text, n, max, 0, b->err_r);
		b->rc = b->html != NULL ? 0 : -1;
	}
	free(text);
	return b->rc == 0;
}

int
kr_mime_body_text(const void *raw, size_t len, const struct kr_mime_limits *lim,
		  struct kr_arena *arena, const char **text_r,
		  const char **html_r, struct kr_err *err_r)
{
	struct kr_mime_doc doc;
	struct mime_body b = { .doc = &doc, .arena = arena, .err_r = err_r };
	int rc;

	*text_r = NULL;
	*html_r = NULL;
	if (kr_mime_doc_open(&doc, raw, len, lim, err_r) < 0)
		return -1;
	kr_mime_text_buf_init(&b.text, doc.lim.body_text_max, 0);
	kr_mime_doc_walk(&doc, false, body_visit, &b);
	rc = b.rc;
	if (rc == 0 && b.text.pieces > 0) {
		*text_r = kr_arena_strndup(arena, b.text.p, b.text.len, err_r);
		rc = *text_r != NULL ? 0 : -1;
	}
	if (rc == 0)
		*html_r = b.html;
	kr_mime_text_buf_free(&b.text);
	kr_mime_doc_close(&doc);
	return rc;
}

/* ---- kr_mime_part ------------------------------------------------------ */

struct mime_find {
	const char *path;
	GMimeObject *found;
};

static bool
find_visit(void *ctx, const struct kr_mime_visit *v)
{
	struct mime_find *f = ctx;

	if (v->path == NULL || strcmp(v->path, f->path) != 0)
		return true;
	f->found = v->obj;
	return false;
}

/* The found part's content, name and type into the arena. */
static int
part_copy(struct kr_mime_doc *doc, GMimePart *part, struct kr_arena *arena,
	  const void **data_r, size_t *len_r, const char **filename_r,
	  const char **type_r, struct kr_err *err_r)
{
	struct mime_sum s = { .doc = doc, .arena = arena, .err_r = err_r };
	size_t size = kr_mime_doc_size(part);
	char *data = kr_arena_alloc(arena, size + 1, err_r);

	char *filename = kr_mime_doc_filename(doc, part);
	int rc = data == NULL || sum_str(&s, filename, filename_r) < 0 ||
				 sum_type(&s, GMIME_OBJECT(part), type_r) < 0
			 ? -1
			 : 0;

	g_free(filename);
	if (rc < 0)
		return -1;
	*len_r = kr_mime_doc_read(part, data, size);
	data[*len_r] = '\0';
	*data_r = data;
	return 0;
}

int
kr_mime_part(const void *raw, size_t len, const char *part,
	     const struct kr_mime_limits *lim, struct kr_arena *arena,
	     const void **data_r, size_t *len_r, const char **filename_r,
	     const char **type_r, struct kr_err *err_r)
{
	struct kr_mime_doc doc;
	struct mime_find f = { .path = part };
	int rc;

	*data_r = NULL;
	*len_r = 0;
	*filename_r = NULL;
	*type_r = NULL;
	if (kr_mime_doc_open(&doc, raw, len, lim, err_r) < 0)
		return -1;
	kr_mime_doc_walk(&doc, true, find_visit, &f);
	if (f.found == NULL)
		rc = kr_err_set(err_r, KR_ERR_NOT_FOUND, "mime: no such part");
	else
		rc = part_copy(&doc, GMIME_PART(f.found), arena, data_r, len_r,
			       filename_r, type_r, err_r);
	kr_mime_doc_close(&doc);
	return rc;
}
