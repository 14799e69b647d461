/* Shared plumbing of proto/mime (mime.c: the public calls; mime_doc.c:
 * GMime parsing within the limits, the part walk, content decoding;
 * mime_header.c: header fields; mime_text.c: UTF-8 cleaning, HTML to
 * text, bounded text buffers). Not for other modules. */
#ifndef KR_MIME_PRIV_H
#define KR_MIME_PRIV_H

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "proto/mime.h"

struct kr_arena;

/* ---- text (mime_text.c) -------------------------------------------- */

/* Collapse each run of white space (and U+00A0) to one space, trim both
 * ends and drop control characters. Without it only NUL goes. */
#define KR_MIME_TEXT_FOLD 1u
/* With KR_MIME_TEXT_FOLD: a run of white space holding two or more line
 * feeds (an empty line) or a form feed becomes one "\n" instead: one
 * paragraph per line. */
#define KR_MIME_TEXT_PARAS 2u

/* Copies in[0..len) to out as valid UTF-8: every byte that is not part
 * of a valid sequence (and NUL) becomes U+FFFD. Stops before the first
 * character that would not fit in cap bytes. Returns the bytes
 * written; no NUL is added. */
size_t kr_mime_text_clean(const char *in, size_t len, char *out, size_t cap,
			  unsigned flags);
/* len minus a trailing incomplete UTF-8 sequence (a cut mid-character). */
size_t kr_mime_text_complete(const char *s, size_t len);
/* Bytes of the first max_chars characters of valid UTF-8 s[0..len). */
size_t kr_mime_text_chars(const char *s, size_t len, size_t max_chars);
/* HTML to text: tags become a space (a form feed for those of block
 * elements: p, br, div, ...), comments, script, style and head go, the
 * common entities are decoded. out has room for len bytes
 * (the text never grows). Returns the bytes written. */
size_t kr_mime_text_html(const char *in, size_t len, char *out);
/* A cleaned, NUL-terminated copy of at most max bytes in the arena. */
char *kr_mime_text_dup(struct kr_arena *arena, const char *in, size_t len,
		       size_t max, unsigned flags, struct kr_err *err_r);

/* A bounded text buffer on the heap: pieces are cleaned on the way in
 * and separated by "\n"; past cap bytes the rest is dropped. */
struct kr_mime_text_buf {
	char *p;
	size_t len, cap;
	size_t alloc; /* bytes at p, less the NUL's */
	unsigned flags;
	unsigned pieces; /* pieces added, even empty or dropped ones */
};
void kr_mime_text_buf_init(struct kr_mime_text_buf *b, size_t cap,
			   unsigned flags);
void kr_mime_text_buf_free(struct kr_mime_text_buf *b);
void kr_mime_text_buf_add(struct kr_mime_text_buf *b, const char *s,
			  size_t len);
size_t kr_mime_text_buf_room(const struct kr_mime_text_buf *b);

/* ---- the parsed message (mime_doc.c) ------------------------------- */

struct kr_mime_doc {
	struct kr_mime_limits lim; /* depth_max clamped */
	GMimeParserOptions *opts;
	GByteArray *raw_array; /* borrows the caller's bytes */
	GMimeStream *raw_stream;
	GMimeObject *top; /* the message as one entity; NULL: unreadable */
	/* Attached messages parsed during walks, each after the stream
	 * its parts' content points into; released in reverse order. */
	GPtrArray *owned;
	GMimeStream *parsing; /* the stream of the running parse */
	size_t dash_left;     /* "--" lines GMime may still see */
	size_t content_left;  /* Content-* field bytes it may still see */
	unsigned headers_left;
	bool malformed, limited;
	bool cut; /* GMime's input was ended early (limited too) */
};

/* The length of an mbox "From " first line at p (0: none), which both
 * kr_mime_parse and kr_mime_headers skip. */
size_t kr_mime_doc_from_line(const char *p, size_t len);
int kr_mime_doc_open(struct kr_mime_doc *doc, const void *raw, size_t len,
		     const struct kr_mime_limits *lim, struct kr_err *err_r);
void kr_mime_doc_close(struct kr_mime_doc *doc);

enum kr_mime_node {
	KR_MIME_NODE_LEAF,    /* a GMimePart */
	KR_MIME_NODE_MESSAGE, /* a message/rfc822 GMimePart */
	/* A multipart without readable children (a wrong or missing
	 * boundary): its prologue, which then holds the text. No path. */
	KR_MIME_NODE_PROLOGUE,
};

struct kr_mime_visit {
	enum kr_mime_node node;
	GMimeObject *obj;
	const char *path; /* NULL for a prologue */
	bool in_message;  /* inside an attached message */
	bool in_related;  /* a child of multipart/related */
};

/* Returns false to end the walk. */
typedef bool kr_mime_visit_fn(void *ctx, const struct kr_mime_visit *v);

/* Visits the parts in order within depth_max and parts_max (setting
 * limited past them); with into_messages, attached messages are parsed
 * and their parts visited after the message part itself. */
void kr_mime_doc_walk(struct kr_mime_doc *doc, bool into_messages,
		      kr_mime_visit_fn *fn, void *ctx);

/* The part's content after transfer decoding: its size, or up to cap
 * bytes into buf (returns the bytes read). */
size_t kr_mime_doc_size(GMimePart *part);
size_t kr_mime_doc_read(GMimePart *part, char *buf, size_t cap);
/* Up to about cap bytes of a text part converted to UTF-8 with LF line
 * ends, in a kr_xmalloc'd buffer (free()); not yet cleaned. */
char *kr_mime_doc_text(struct kr_mime_doc *doc, GMimePart *part, size_t cap,
		       size_t *len_r);
/* Bytes of 8-bit text in an unknown charset, as UTF-8: kr_xmalloc'd. */
char *kr_mime_doc_8bit(struct kr_mime_doc *doc, const char *s, size_t len,
		       size_t *len_r);

/* GMime 3.2.13 drops what follows a padded base64 encoded word in a run
 * of words with the same charset (jstedfast/gmime#133, "Hello" for
 * "=?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?="): raw with an empty
 * encoded word of another encoding after each such word (g_malloc'd),
 * or NULL when raw needs none. For every raw field GMime decodes. */
char *kr_mime_doc_fix_words(const char *raw);
/* g_mime_part_get_filename() of fixed fields (g_malloc'd), or NULL. */
char *kr_mime_doc_filename(struct kr_mime_doc *doc, GMimePart *part);

/* ---- the antispam view (mime_spam.c) ------------------------------ */

/* Built during kr_mime_parse's walk from the text it decodes anyway;
 * heap buffers until kr_mime_spam_finish copies them to the arena. */
struct kr_mime_spam {
	size_t max;
	struct kr_mime_text_buf headers, body, rawbody;
	char *uris; /* "uri\n" lines, at most max bytes */
	size_t uris_len, uris_alloc;
	uint64_t *uri_hash; /* of each line kept, for the dedup */
	size_t *uri_off;    /* where each starts in uris */
	unsigned n_uris;
	bool uris_full;
};

void kr_mime_spam_init(struct kr_mime_spam *sp, size_t max);
void kr_mime_spam_free(struct kr_mime_spam *sp);
/* Decoded bytes of one more text part the view can still use. */
size_t kr_mime_spam_room(const struct kr_mime_spam *sp);
/* A text/plain part (or a prologue), decoded to UTF-8. */
void kr_mime_spam_plain(struct kr_mime_spam *sp, const char *text, size_t n);
/* A text/html part: html as decoded, text from kr_mime_text_html(). */
void kr_mime_spam_html(struct kr_mime_spam *sp, const char *html, size_t n,
		       const char *text, size_t k);
/* Copies the view into the arena. -1 + err_r only on a full arena. */
int kr_mime_spam_finish(struct kr_mime_spam *sp, struct kr_arena *arena,
			const struct kr_mime_spam_text **out,
			struct kr_err *err_r);

/* ---- header fields (mime_header.c) --------------------------------- */

/* Fills the header fields of sum from the message's top-level header
 * block. -1 + err_r only on a full arena. */
int kr_mime_header_summary(struct kr_mime_doc *doc, struct kr_arena *arena,
			   struct kr_mime_summary *sum, struct kr_err *err_r);
/* Adds "Name: value" per field of the top-level header block, in
 * order, decoded as kr_mime_headers() does, to b (one piece each). */
void kr_mime_header_spam(struct kr_mime_doc *doc, struct kr_mime_text_buf *b);

#endif
