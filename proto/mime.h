/* MIME message parsing (RFC 5322, 2045-2049, 2047, 2231) on GMime 3:
 * raw message bytes in, a bounded summary, body text or one decoded
 * part out. Sans-I/O; any thread (the cpu pool runs it) once the
 * process has called kr_mime_init(). Every result is allocated from
 * the caller's arena and lives as long as it; no GMime object survives
 * a call. Every string that comes out is valid UTF-8 (bad bytes become
 * U+FFFD) without NUL bytes.
 *
 * Part paths are IMAP section numbers (RFC 3501 §6.4.5): "1" is the
 * body of a single-part message, "2" the second child of a multipart
 * body, "2.1" the first child of that part (or the body of a
 * message/rfc822 part "2"). */
#ifndef KR_MIME_H
#define KR_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/err.h"
#include "lib/limits.h"

struct kr_arena;

/* The defaults of struct kr_mime_limits are KR_MIME_*_DEFAULT
 * (lib/limits.h). depth_max is clamped to this: the walk recurses once per
 * level. */
#define KR_MIME_DEPTH_HARD_MAX 1000

/* What one call may produce and how much of the message GMime may
 * build objects for. GMime's memory grows with the number of parts,
 * header fields and parameters (not with body bytes), so these bound
 * it: before parsing, the message is cut before the line that would
 * make more than 4 * parts_max + 1024 lines starting with "--" (the
 * only lines that can open a part), or a Content-* field longer than
 * KR_MIME_CONTENT_FIELD_MAX, or Content-* fields longer than
 * KR_MIME_CONTENT_BYTES_MAX in all (GMime parses them into parameter
 * lists); parsing stops after headers_max header fields. Text is cut
 * at its limit (never inside a character); anything else a limit
 * leaves out sets `limited`. */
struct kr_mime_limits {
	size_t preview_max;	/* characters of preview */
	size_t search_text_max; /* bytes of search_text */
	size_t body_text_max;	/* bytes of text and of html (body_text) */
	size_t header_text_max; /* bytes of each decoded header string */
	unsigned depth_max;	/* MIME containers around a part */
	unsigned parts_max;	/* parts walked, containers included */
	unsigned addrs_max;	/* addresses kept per header */
	unsigned refs_max;	/* message ids kept from References */
	unsigned headers_max;	/* header fields parsed, all parts; and
				 * fields kr_mime_headers lists */
	/* Also build summary->spam (the antispam view) in the same
	 * parse; its parts are at most spam_text_max bytes each. */
	bool spam_text;
	size_t spam_text_max;
};

#define KR_MIME_CONTENT_FIELD_MAX (16 << 10)
#define KR_MIME_CONTENT_BYTES_MAX (1 << 20)

struct kr_mime_addr {
	const char *name;  /* display name; NULL when none */
	const char *email; /* addr-spec as written; NULL when none */
};

struct kr_mime_attachment {
	const char *part;	/* "2", "1.2" */
	const char *filename;	/* RFC 2231/2047 decoded; NULL when none */
	const char *type;	/* "type/subtype", lower case */
	const char *content_id; /* without <>; NULL when none */
	size_t size;		/* bytes after transfer decoding */
	/* A resource of a multipart/related body (a cid: image) rather
	 * than something the user attached; has_attachments ignores it. */
	bool is_inline;
};

/* Absent headers give NULL strings and empty lists. Addresses inside
 * groups are listed as if the group were not there. */
/* The message as the antispam rules see it (antispam/filter.h's
 * struct kr_filter_text, field for field): UTF-8, NUL-terminated,
 * lengths without the NUL, each part cut at spam_text_max. */
struct kr_mime_spam_text {
	/* "Name: value\n" per field of the top-level header block, in
	 * order: unfolded, 2047-decoded, each value cut at
	 * header_text_max. */
	const char *headers;
	size_t headers_len;
	const char *body; /* Subject + text parts, HTML as text, spaces
			   * collapsed, one paragraph per line */
	size_t body_len;
	const char *rawbody; /* text parts decoded, HTML kept */
	size_t rawbody_len;
	/* One per line ("uri\n"): http, https, ftp and mailto URIs and
	 * bare "www." names (given "http://") in the text, and absolute
	 * ones in HTML href, src, action and background attributes; the
	 * scheme in lower case, each cut at KR_MIME_SPAM_URI_MAX bytes,
	 * the first KR_MIME_SPAM_URIS_MAX distinct ones, whole lines. */
	const char *uris;
	size_t uris_len;
	uint64_t body_hash; /* of body: the same text, the same hash */
};

struct kr_mime_summary {
	struct kr_mime_addr from; /* the first From mailbox */
	const struct kr_mime_addr *to;
	unsigned n_to;
	const struct kr_mime_addr *cc;
	unsigned n_cc;
	const char *subject;
	bool has_date;	      /* false: no Date: or not parseable */
	time_t date;	      /* Unix seconds */
	int date_tz;	      /* the header's UTC offset, minutes east */
	const char *date_utc; /* RFC 3339 "2024-01-31T23:59:59Z"; or NULL */
	/* Message ids without the angle brackets, as GMime decodes them;
	 * references: the last refs_max ids, oldest first, separated by
	 * one space. */
	const char *message_id;
	const char *in_reply_to; /* the first id in In-Reply-To */
	const char *references;
	/* Text of the first text/plain body part, or of the first
	 * text/html one stripped of tags when there is no plain part;
	 * whitespace collapsed; at most preview_max characters; "" for an
	 * empty body. NULL when the message has no text body. Parts of
	 * attached messages do not count. A text/plain or text/html part
	 * is body text unless its disposition is "attachment" or it has a
	 * file name. */
	const char *preview;
	bool has_attachments; /* any attachment that is not is_inline */
	/* Every other leaf part of the message, in part order; an
	 * attached message is one attachment (its parts are not listed). */
	const struct kr_mime_attachment *attachments;
	unsigned n_attachments;
	/* Subject, From, To, Cc, attachment names, then the text of every
	 * text/plain body part (attached messages included), or of the
	 * text/html ones when there is no plain part; whitespace
	 * collapsed; at most search_text_max bytes. */
	const char *search_text;
	/* What the message is found by: the terms of search_text
	 * (proto/fts_terms.h), at most search_text_max bytes. */
	const char *search_terms;
	/* The MIME structure was broken: no header block at all, a
	 * multipart without a boundary parameter, without any part found
	 * (wrong boundary: its text is then read as the body) or without
	 * its close delimiter (unless a limit ended the input). The fields
	 * hold what could be read. */
	bool malformed;
	bool limited; /* a limit (not a text cut) left something out */
	/* The antispam view; NULL unless limits.spam_text. */
	const struct kr_mime_spam_text *spam;
};

/* Once per process, before any thread calls kr_mime_*: initialises
 * GMime (which is not thread-safe to initialise) and makes it treat
 * message/rfc822 parts as leaves, so that attached messages are
 * parsed only when walked and within our limits. */
void kr_mime_init(void);
/* At process exit, after every kr_mime_* call has returned. The few
 * bytes of GMime's type registry that kr_mime_init() replaced stay
 * allocated; kr_mime_init() tells LeakSanitizer (when linked in). */
void kr_mime_shutdown(void);

void kr_mime_limits_init(struct kr_mime_limits *lim);

/* Parses raw[0..len) (one RFC 5322 message; an mbox "From " first line
 * is skipped) into *sum_r. Malformed input is not an error: it sets
 * malformed and fills what could be read. lim NULL: defaults. Returns
 * 0, or -1 + err_r only when the arena is full (KR_ERR_LIMIT) or len
 * does not fit GMime's 32-bit buffers (KR_ERR_LIMIT). */
int kr_mime_parse(const void *raw, size_t len, const struct kr_mime_limits *lim,
		  struct kr_arena *arena, struct kr_mime_summary **sum_r,
		  struct kr_err *err_r);

/* The message's own body text (message.get), transfer-decoded and
 * converted from its charset to UTF-8 with LF line ends: *text_r the
 * text/plain body parts joined by "\n", *html_r the first text/html
 * body part as it is (not sanitised: that is the renderer's job). Each
 * at most lim->body_text_max bytes; NULL when absent. Attached
 * messages are not looked into. Returns 0, or -1 + err_r as
 * kr_mime_parse. */
int kr_mime_body_text(const void *raw, size_t len,
		      const struct kr_mime_limits *lim, struct kr_arena *arena,
		      const char **text_r, const char **html_r,
		      struct kr_err *err_r);

/* One part (message.attachment): its content after transfer decoding
 * (base64, quoted-printable, uuencode), byte for byte, not converted
 * from its charset; for a message/rfc822 part the attached message as
 * it is. *data_r has a NUL after its *len_r bytes (it may hold NULs
 * itself). *filename_r may be NULL, *type_r is "type/subtype". Pass
 * the limits kr_mime_parse used, so the same parts are reachable
 * (NULL: defaults). Parts inside attached messages are reachable too
 * ("2.1"), though the summary lists only the message's own. Returns
 * 0, or -1 + err_r: KR_ERR_NOT_FOUND when there is no such part (or
 * it is a multipart container, or lies past a limit), KR_ERR_LIMIT as
 * kr_mime_parse. */
int kr_mime_part(const void *raw, size_t len, const char *part,
		 const struct kr_mime_limits *lim, struct kr_arena *arena,
		 const void **data_r, size_t *len_r, const char **filename_r,
		 const char **type_r, struct kr_err *err_r);

struct kr_mime_header {
	const char *name;  /* as written: visible ASCII, no colon */
	const char *value; /* decoded UTF-8, unfolded and trimmed */
};

/* The message's own top-level header fields (message.get `headers`),
 * in order, duplicates included; never those of its parts. An mbox
 * "From " first line is skipped as kr_mime_parse does. The block ends
 * at the first empty line or the end of raw. A field starts with a
 * name of visible ASCII but ":" (RFC 5322 §3.6.8), then ":"; each
 * following line that starts with a space or tab continues it. A line
 * that starts no field is dropped with its continuation lines, as
 * GMime does, except after a Content-Type field, where it ends the
 * block (GMime's guess: a mailer left out the empty line); so the
 * fields are those kr_mime_parse reads. No field: *n_r is 0.
 *
 * A value is unfolded (CRLF or LF before a space or tab goes),
 * stripped of NULs and of white space at both ends, its RFC 2047
 * encoded words decoded (8-bit text: UTF-8 if valid, else
 * windows-1252), bad bytes made U+FFFD; other control characters stay.
 * Name and value are each cut at lim->header_text_max bytes, never
 * inside a character (a value is decoded from at most its first
 * 4 * header_text_max + 256 raw bytes, as the summary's are). At most
 * lim->headers_max fields: *limited_r is set when there are more. lim
 * NULL: defaults. *headers_r is NULL when *n_r is 0; all in the arena.
 * Returns 0, or -1 + err_r (KR_ERR_LIMIT) only when the arena is
 * full. */
int kr_mime_headers(const void *raw, size_t len,
		    const struct kr_mime_limits *lim, struct kr_arena *arena,
		    const struct kr_mime_header **headers_r, unsigned *n_r,
		    bool *limited_r, struct kr_err *err_r);

#endif
