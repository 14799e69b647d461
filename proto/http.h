/* HTTP/1.1 requests (RFC 7230) as a sans-I/O reader: the server feeds
 * the bytes it reads and takes whole requests out, one at a time, in
 * order (pipelining). The framing (request line, headers, Content-Length
 * and chunked bodies) is nodejs/http-parser's; this module adds our
 * limits, checked before anything is buffered, and keeps the few headers
 * the JSON-RPC and admin ports use. Plus a writer for response heads. No
 * sockets, no clock. One thread at a time per reader; the reader owns
 * every pointer it hands out. */
#ifndef KR_HTTP_H
#define KR_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/limits.h"

/* Defaults: KR_HTTP_HEADERS_MAX_DEFAULT and KR_HTTP_URL_MAX_DEFAULT
 * (lib/limits.h). The only target served is "/rpc" (a query allowed);
 * webmail backends and proxies send a dozen fields. */

struct kr_http_limits {
	/* Bytes before the body: request line, header fields, the empty
	 * line, and any empty lines before the request line. */
	uint64_t header_max;
	uint64_t body_max; /* body bytes, after chunked decoding */
	unsigned headers_max;
	size_t url_max; /* request-target bytes */
};

/* One complete request. Strings are NUL-terminated, header values
 * without leading or trailing white space; NULL when the field was not
 * sent. Valid until kr_http_reader_next() or _destroy(). */
struct kr_http_request {
	const char *method; /* "POST", "GET", ... */
	bool is_post;
	bool is_head;	 /* answer without a body */
	const char *url; /* the request-target as sent */
	size_t url_len;
	const char *content_type;
	const char *authorization;
	/* Every X-Forwarded-For field, joined with ", " in the order
	 * received (RFC 7230 §3.2.2). */
	const char *forwarded_for;
	/* Every Cookie field joined with "; ": a browser sends one, but a
	 * proxy from HTTP/2 may split it (RFC 6265 §5.4, RFC 7540
	 * §8.1.2.5). */
	const char *cookie;
	const char *origin;   /* RFC 6454 §7 */
	const char *host;     /* twice is a 400 (RFC 7230 §5.4) */
	const char *accept;   /* every Accept field, joined with ", " */
	bool expect_continue; /* Expect: 100-continue */
	/* Another request may follow on the connection: HTTP/1.1 without
	 * Connection: close, or HTTP/1.0 with Connection: keep-alive
	 * (RFC 7230 §6.3); never after an Upgrade or CONNECT. */
	bool keep_alive;
	bool http_1_0; /* a kept-alive answer must say so */
	const char *body;
	size_t body_len;
};

struct kr_http_reader;

/* lim is copied; every field must be > 0 (a bug otherwise: panics).
 * Never returns NULL. */
struct kr_http_reader *kr_http_reader_create(const struct kr_http_limits *lim);
/* Frees the reader and what it buffered; sets *r to NULL. NULL is
 * fine. */
void kr_http_reader_destroy(struct kr_http_reader **r);

/* Consumes data and sets *used_r to how much; the caller keeps
 * data[*used_r..len) and feeds it again later. Returns
 *    1  a request is complete (kr_http_reader_request()); nothing
 *       after its last byte was consumed. Feeding more returns 1 and
 *       consumes nothing until kr_http_reader_next();
 *    0  everything was consumed, the request is not complete yet;
 *   -1  the request is refused: answer kr_http_reader_status() with
 *       Connection: close, then close (the framing is lost). Feeding
 *       more returns -1.
 * Limits are checked before the bytes over them are kept: a head over
 * header_max or with more than headers_max fields (431), a
 * request-target over url_max (414), a Content-Length over body_max
 * (413, as soon as the head is complete: the body is not read), a
 * chunked body growing past body_max (413). Malformed HTTP,
 * conflicting framing (Content-Length with chunked, two lengths), an
 * HTTP version other than 1.x, a repeated Content-Type, Authorization
 * or Origin: 400 (505 for the version). An Expect other than
 * 100-continue: 417. At most header_max + body_max bytes are held. */
int kr_http_reader_feed(struct kr_http_reader *r, const char *data, size_t len,
			size_t *used_r);

/* True once per request whose client waits for "100 Continue" before
 * sending its body (RFC 7231 §5.1.1): the head is complete and within
 * the limits, and no body byte has arrived yet. The caller writes
 * KR_HTTP_CONTINUE then. */
bool kr_http_reader_take_continue(struct kr_http_reader *r);
#define KR_HTTP_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* The complete request after feed returned 1, else NULL. */
const struct kr_http_request *
kr_http_reader_request(const struct kr_http_reader *r);
/* The status to answer after feed returned -1 (400, 413, 414, 417,
 * 431, 505), else 0. */
unsigned kr_http_reader_status(const struct kr_http_reader *r);
/* Forgets the complete request, ready for the next one on the
 * connection. Only after feed returned 1 and the request kept the
 * connection alive (a bug otherwise: panics). */
void kr_http_reader_next(struct kr_http_reader *r);

/* The request-target's path is exactly path, with or without a query
 * ("/rpc", "/rpc?x=1"; not "/rpc/", "/rpcx" or an absolute URI). */
bool kr_http_target_is(const struct kr_http_request *req, const char *path);
/* value (a Content-Type, may be NULL) names media type type (lower
 * case), in any case, parameters allowed (RFC 7231 §3.1.1.1):
 * "application/json; charset=utf-8" is "application/json". */
bool kr_http_media_type_is(const char *value, const char *type);

/* The standard reason phrase of status ("Not Found"), "<unknown>" for
 * a status without one. Static. */
const char *kr_http_reason(unsigned status);

/* A response header field of the server's own making (Cache-Control,
 * WWW-Authenticate, Set-Cookie, Location). */
struct kr_http_field {
	const char *name;  /* a token of at most KR_HTTP_FIELD_NAME_MAX */
	const char *value; /* at most KR_HTTP_FIELD_VALUE_MAX bytes */
};
#define KR_HTTP_FIELD_NAME_MAX 64
#define KR_HTTP_FIELD_VALUE_MAX 256
#define KR_HTTP_RESPONSE_FIELDS_MAX 4

/* A response head. */
struct kr_http_response {
	unsigned status;	  /* 100..599 */
	const char *content_type; /* NULL: no Content-Type field */
	const char *allow;	  /* NULL: no Allow field (405 needs one) */
	uint64_t content_length;  /* not sent for 1xx, 204 and 304 */
	bool close;		  /* Connection: close */
	bool keep_alive_1_0; /* Connection: keep-alive (an HTTP/1.0 peer) */
	/* More fields, after Content-Type and Allow; none of the framing
	 * ones (Content-Length, Transfer-Encoding, Connection). */
	const struct kr_http_field *fields;
	unsigned n_fields; /* at most KR_HTTP_RESPONSE_FIELDS_MAX */
};

/* The head (status line, fields, empty line) needs at most this. */
#define KR_HTTP_HEAD_MAX 2048

/* Writes the head into buf (cap >= KR_HTTP_HEAD_MAX, else a bug:
 * panics; so does a status out of range, a field over its size, a
 * name that is not a token or a framing field's, a value with a
 * control character, or more than KR_HTTP_RESPONSE_FIELDS_MAX fields)
 * and returns its length. The reason phrase is the standard one. */
size_t kr_http_response_head(const struct kr_http_response *resp, char *buf,
			     size_t cap);

#endif
