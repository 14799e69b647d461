/* HTTP/1.1 request reader around nodejs/http-parser, and the response
 * head writer.
 *
 * The parser pauses itself twice per request: when the head is
 * complete (so the head's size and its framing are checked before a
 * body byte is taken, and a 100-continue can be answered) and when the
 * request is complete (so pipelined bytes after it stay with the
 * caller until the answer is out). */
#include "proto/http.h"

#include <http_parser.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/err.h"

/* The header fields we keep; the others are parsed and dropped. */
enum http_field {
	HTTP_F_OTHER,
	HTTP_F_CONTENT_TYPE,
	HTTP_F_AUTHORIZATION,
	HTTP_F_FORWARDED_FOR,
	HTTP_F_EXPECT,
	HTTP_F_COOKIE,
	HTTP_F_ORIGIN,
	HTTP_F_HOST,
	HTTP_F_ACCEPT,
	HTTP_F_COUNT,
};

static const char *const http_field_names[HTTP_F_COUNT] = {
	[HTTP_F_CONTENT_TYPE] = "content-type",
	[HTTP_F_AUTHORIZATION] = "authorization",
	[HTTP_F_FORWARDED_FOR] = "x-forwarded-for",
	[HTTP_F_EXPECT] = "expect",
	[HTTP_F_COOKIE] = "cookie",
	[HTTP_F_ORIGIN] = "origin",
	[HTTP_F_HOST] = "host",
	[HTTP_F_ACCEPT] = "accept",
};

/* Longer than every name above: a name this long is none of them. */
#define HTTP_NAME_MAX 16
/* The smallest allocation of a growing buffer, and the largest body
 * buffer kept for the connection's next request. */
#define HTTP_BUF_MIN 256
#define HTTP_BODY_KEEP (64u << 10)

struct http_buf {
	char *data;
	size_t len, cap; /* cap includes room for a NUL */
};

/* HEAD -> BODY -> DONE -> (next) HEAD; any of HEAD, BODY -> FAILED. */
enum http_read_state {
	HTTP_READ_HEAD, /* before the first byte, or in the head */
	HTTP_READ_BODY, /* the head is complete and checked */
	HTTP_READ_DONE, /* a complete request waits for _next */
	HTTP_READ_FAILED,
};

struct kr_http_reader {
	http_parser p;
	struct kr_http_limits lim;
	enum http_read_state state;
	unsigned status;	/* FAILED: the answer */
	uint64_t head_bytes;	/* fed to the parser in state HEAD */
	uint64_t trailer_bytes; /* trailer fields after a chunked body */
	unsigned n_fields;
	bool in_name; /* the last callback was a field name's */
	char name[HTTP_NAME_MAX];
	size_t name_len;       /* may exceed HTTP_NAME_MAX: then it is OTHER */
	enum http_field field; /* the field whose value is coming */
	bool seen[HTTP_F_COUNT];
	bool want_continue;
	struct http_buf url, body, fields[HTTP_F_COUNT];
	struct kr_http_request req;
};

static bool
http_legal(enum http_read_state from, enum http_read_state to)
{
	switch (to) {
	case HTTP_READ_HEAD:
		return from == HTTP_READ_DONE;
	case HTTP_READ_BODY:
		return from == HTTP_READ_HEAD;
	case HTTP_READ_DONE:
		return from == HTTP_READ_BODY;
	case HTTP_READ_FAILED:
		return from == HTTP_READ_HEAD || from == HTTP_READ_BODY;
	}
	return false;
}

static void
http_enter(struct kr_http_reader *r, enum http_read_state to)
{
	if (!http_legal(r->state, to))
		kr_panic("http: state %d -> %d", (int)r->state, (int)to);
	r->state = to;
}

/* Returns -1, so callbacks can `return http_fail(r, 400)`: a non-zero
 * return stops the parser. The first failure's status stays. */
static int
http_fail(struct kr_http_reader *r, unsigned status)
{
	if (r->state != HTTP_READ_FAILED) {
		http_enter(r, HTTP_READ_FAILED);
		r->status = status;
	}
	return -1;
}

/* Appends n bytes, keeping a NUL after them. The caller checked that
 * len + n stays within its limit, so the sizes cannot overflow; growth
 * doubles, but never past hint (the announced size) or max. */
static void
http_buf_add(struct http_buf *b, const char *at, size_t n, size_t max,
	     size_t hint)
{
	size_t need = b->len + n + 1;

	if (need > b->cap) {
		size_t cap = b->cap < HTTP_BUF_MIN ? HTTP_BUF_MIN : b->cap;

		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		if (hint >= need && cap > hint + 1)
			cap = hint + 1;
		if (cap > max + 1)
			cap = max + 1;
		if (cap < need)
			cap = need;
		b->data = kr_xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, at, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Trailing white space is not part of a field's value (RFC 7230
 * §3.2.4); http_parser drops the leading one. */
static void
http_buf_trim(struct http_buf *b)
{
	while (b->len > 0 &&
	       (b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t'))
		b->data[--b->len] = '\0';
}

static void
http_buf_free(struct http_buf *b)
{
	free(b->data);
	*b = (struct http_buf){ 0 };
}

/* Kept values never exceed the head, plus the two-byte separator
 * between repeated X-Forwarded-For or Cookie fields. */
static size_t
http_field_room(const struct kr_http_reader *r)
{
	return (size_t)r->lim.header_max + 2 * (size_t)r->lim.headers_max;
}

static enum http_field
http_field_of(const struct kr_http_reader *r)
{
	if (r->name_len >= HTTP_NAME_MAX)
		return HTTP_F_OTHER;
	for (int f = HTTP_F_OTHER + 1; f < HTTP_F_COUNT; f++)
		if (strlen(http_field_names[f]) == r->name_len &&
		    strncasecmp(http_field_names[f], r->name, r->name_len) == 0)
			return (enum http_field)f;
	return HTTP_F_OTHER;
}

static int
http_on_url(http_parser *p, const char *at, size_t n)
{
	struct kr_http_reader *r = p->data;

	if (n > r->lim.url_max - r->url.len)
		return http_fail(r, 414);
	http_buf_add(&r->url, at, n, r->lim.url_max, 0);
	return 0;
}

/* Trailer fields (after a chunked body, RFC 7230 §4.1.2) are read and
 * dropped: the head's values were handed out already. Their bytes
 * count against header_max as the head's do. */
static int
http_trailer(struct kr_http_reader *r, size_t n)
{
	if (n > r->lim.header_max - r->trailer_bytes)
		return http_fail(r, 431);
	r->trailer_bytes += n;
	return 0;
}

/* RFC 7230 §3.2.6 tchar. http_parser lets some others through, white
 * space among them; "Transfer-Encoding : chunked" is how requests are
 * smuggled past a proxy that reads it differently (§3.2.4: reject). */
static bool
http_is_token(const char *at, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)at[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') ||
		      (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL)))
			return false;
	}
	return true;
}

static int
http_on_header_field(http_parser *p, const char *at, size_t n)
{
	struct kr_http_reader *r = p->data;

	if (!http_is_token(at, n))
		return http_fail(r, 400);
	if (r->state == HTTP_READ_BODY)
		return http_trailer(r, n);
	if (!r->in_name) { /* a new field: the name comes in pieces */
		if (++r->n_fields > r->lim.headers_max)
			return http_fail(r, 431);
		r->in_name = true;
		r->name_len = 0;
	}
	if (r->name_len < HTTP_NAME_MAX)
		memcpy(r->name + r->name_len, at,
		       n < HTTP_NAME_MAX - r->name_len
			       ? n
			       : HTTP_NAME_MAX - r->name_len);
	r->name_len += n; /* bounded by the head's bytes */
	return 0;
}

/* The first piece of a value: which field it is, and whether it may
 * come again. */
static int
http_value_begin(struct kr_http_reader *r)
{
	enum http_field f = http_field_of(r);

	r->in_name = false;
	r->field = f;
	if (f == HTTP_F_OTHER)
		return 0;
	if (r->seen[f]) {
		/* Two Content-Types, credentials or origins: which one
		 * counts is a guess we do not make. A list's fields join
		 * as one (RFC 7230 §3.2.2); cookies with "; " (RFC 6265
		 * §5.4). */
		if (f != HTTP_F_FORWARDED_FOR && f != HTTP_F_COOKIE &&
		    f != HTTP_F_ACCEPT)
			return http_fail(r, 400);
		http_buf_trim(&r->fields[f]);
		http_buf_add(&r->fields[f], f == HTTP_F_COOKIE ? "; " : ", ", 2,
			     http_field_room(r), 0);
	}
	r->seen[f] = true;
	return 0;
}

static int
http_on_header_value(http_parser *p, const char *at, size_t n)
{
	struct kr_http_reader *r = p->data;
	struct http_buf *b;

	if (r->state == HTTP_READ_BODY)
		return http_trailer(r, n);
	if (r->in_name && http_value_begin(r) < 0)
		return -1;
	if (r->field == HTTP_F_OTHER)
		return 0;
	b = &r->fields[r->field];
	/* Unreachable while the head is counted; the bound stays local. */
	if (n > http_field_room(r) - b->len)
		return http_fail(r, 431);
	http_buf_add(b, at, n, http_field_room(r), 0);
	return 0;
}

static int
http_on_headers_complete(http_parser *p)
{
	struct kr_http_reader *r = p->data;

	http_enter(r, HTTP_READ_BODY);
	http_parser_pause(p, 1);
	return 0;
}

static int
http_on_body(http_parser *p, const char *at, size_t n)
{
	struct kr_http_reader *r = p->data;
	size_t hint = 0;

	if (n > r->lim.body_max - r->body.len)
		return http_fail(r, 413);
	/* http_parser counts the announced length down as it reads: what
	 * is left plus what we hold is the whole (checked <= body_max). */
	if (p->flags & F_CONTENTLENGTH)
		hint = r->body.len + n + (size_t)p->content_length;
	http_buf_add(&r->body, at, n, (size_t)r->lim.body_max, hint);
	r->want_continue = false;
	return 0;
}

static int
http_on_message_complete(http_parser *p)
{
	struct kr_http_reader *r = p->data;

	if (r->body.data == NULL)
		http_buf_add(&r->body, "", 0, 0, 0);
	r->req.body = r->body.data;
	r->req.body_len = r->body.len;
	r->want_continue = false;
	http_enter(r, HTTP_READ_DONE);
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
	.on_url = http_on_url,
	.on_header_field = http_on_header_field,
	.on_header_value = http_on_header_value,
	.on_headers_complete = http_on_headers_complete,
	.on_body = http_on_body,
	.on_message_complete = http_on_message_complete,
};

/* A kept field's value, NULL when it was not sent. */
static const char *
http_value(struct kr_http_reader *r, enum http_field f)
{
	struct http_buf *b = &r->fields[f];

	if (!r->seen[f])
		return NULL;
	if (b->data == NULL)
		http_buf_add(b, "", 0, 0, 0);
	http_buf_trim(b);
	return b->data;
}

/* The head is complete: fill the request, then refuse what cannot be
 * served before any of the body is read. */
static int
http_head_check(struct kr_http_reader *r)
{
	struct kr_http_request *q = &r->req;
	const http_parser *p = &r->p;

	if (r->url.data == NULL)
		http_buf_add(&r->url, "", 0, 0, 0);
	q->method = http_method_str((enum http_method)p->method);
	q->is_post = p->method == HTTP_POST;
	q->is_head = p->method == HTTP_HEAD;
	q->url = r->url.data;
	q->url_len = r->url.len;
	q->content_type = http_value(r, HTTP_F_CONTENT_TYPE);
	q->authorization = http_value(r, HTTP_F_AUTHORIZATION);
	q->forwarded_for = http_value(r, HTTP_F_FORWARDED_FOR);
	q->cookie = http_value(r, HTTP_F_COOKIE);
	q->origin = http_value(r, HTTP_F_ORIGIN);
	q->host = http_value(r, HTTP_F_HOST);
	q->accept = http_value(r, HTTP_F_ACCEPT);
	/* http_parser stops parsing at an Upgrade or CONNECT: what
	 * follows is not HTTP to it, so nothing may follow for us. */
	q->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	q->http_1_0 = p->http_major == 1 && p->http_minor == 0;
	if (p->http_major != 1)
		return http_fail(r, 505);
	if (r->seen[HTTP_F_EXPECT]) {
		if (strcasecmp(http_value(r, HTTP_F_EXPECT), "100-continue") !=
		    0)
			return http_fail(r, 417);
		q->expect_continue = true;
	}
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > r->lim.body_max)
		return http_fail(r, 413);
	/* A body follows only with a length or chunked (RFC 7230 §3.3.3:
	 * a request without either has none). */
	r->want_continue =
		q->expect_continue &&
		((p->flags & F_CHUNKED) ||
		 ((p->flags & F_CONTENTLENGTH) && p->content_length));
	return 0;
}

/* One execute over at most n bytes; returns what it consumed. */
static size_t
http_execute(struct kr_http_reader *r, const char *data, size_t n)
{
	bool head = r->state == HTTP_READ_HEAD;
	size_t got = http_parser_execute(&r->p, &http_settings, data, n);
	enum http_errno e = HTTP_PARSER_ERRNO(&r->p);

	if (head)
		r->head_bytes += got;
	if (e == HPE_PAUSED) {
		http_parser_pause(&r->p, 0);
		if (head && r->state == HTTP_READ_BODY) {
			/* Paused on the head's last LF, not yet counted. */
			if (++r->head_bytes > r->lim.header_max)
				http_fail(r, 431);
			else
				http_head_check(r);
		}
		return got;
	}
	if (e != HPE_OK) {
		http_fail(r, e == HPE_HEADER_OVERFLOW ? 431 : 400);
		return got;
	}
	if (head && r->head_bytes > r->lim.header_max)
		http_fail(r, 431);
	else if (got < n)
		http_fail(r, 400); /* stopped without a reason: no spin */
	return got;
}

int
kr_http_reader_feed(struct kr_http_reader *r, const char *data, size_t len,
		    size_t *used_r)
{
	size_t used = 0;

	while (used < len &&
	       (r->state == HTTP_READ_HEAD || r->state == HTTP_READ_BODY)) {
		size_t n = len - used;

		/* At most one byte past header_max reaches the parser:
		 * that byte already fails the request. */
		if (r->state == HTTP_READ_HEAD &&
		    n - 1 > r->lim.header_max - r->head_bytes)
			n = (size_t)(r->lim.header_max - r->head_bytes) + 1;
		used += http_execute(r, data + used, n);
	}
	*used_r = used;
	if (r->state == HTTP_READ_DONE)
		return 1;
	return r->state == HTTP_READ_FAILED ? -1 : 0;
}

bool
kr_http_reader_take_continue(struct kr_http_reader *r)
{
	bool want = r->want_continue && r->state == HTTP_READ_BODY;

	r->want_continue = false;
	return want;
}

const struct kr_http_request *
kr_http_reader_request(const struct kr_http_reader *r)
{
	return r->state == HTTP_READ_DONE ? &r->req : NULL;
}

unsigned
kr_http_reader_status(const struct kr_http_reader *r)
{
	return r->state == HTTP_READ_FAILED ? r->status : 0;
}

/* http_parser's own head limit (80 KiB unless changed) is one value
 * for the whole process; ours is per reader and counts every byte, so
 * theirs is lifted out of the way once. */
static void
http_lift_parser_limit(void)
{
	http_parser_set_max_header_size(UINT32_MAX);
}

static void
http_reset(struct kr_http_reader *r)
{
	http_parser_init(&r->p, HTTP_REQUEST);
	r->p.data = r;
	r->head_bytes = r->trailer_bytes = 0;
	r->n_fields = 0;
	r->in_name = false;
	r->name_len = 0;
	r->field = HTTP_F_OTHER;
	r->want_continue = false;
	r->url.len = 0;
	if (r->url.data != NULL)
		r->url.data[0] = '\0';
	if (r->body.cap > HTTP_BODY_KEEP)
		http_buf_free(&r->body);
	r->body.len = 0;
	if (r->body.data != NULL)
		r->body.data[0] = '\0';
	for (int f = 0; f < HTTP_F_COUNT; f++) {
		r->seen[f] = false;
		r->fields[f].len = 0;
		if (r->fields[f].data != NULL)
			r->fields[f].data[0] = '\0';
	}
	r->req = (struct kr_http_request){ 0 };
}

struct kr_http_reader *
kr_http_reader_create(const struct kr_http_limits *lim)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct kr_http_reader *r;

	if (lim->header_max == 0 || lim->body_max == 0 ||
	    lim->headers_max == 0 || lim->url_max == 0 ||
	    lim->body_max > SIZE_MAX / 2 || lim->header_max > SIZE_MAX / 4 ||
	    lim->url_max > SIZE_MAX / 2 || lim->headers_max > UINT32_MAX / 4)
		kr_panic("http: bad limits");
	pthread_once(&once, http_lift_parser_limit);
	r = kr_xcalloc(1, sizeof(*r));
	r->lim = *lim;
	r->state = HTTP_READ_HEAD;
	http_reset(r);
	return r;
}

void
kr_http_reader_next(struct kr_http_reader *r)
{
	if (r->state != HTTP_READ_DONE || !r->req.keep_alive)
		kr_panic("http: next without a kept-alive request");
	http_enter(r, HTTP_READ_HEAD);
	http_reset(r);
}

void
kr_http_reader_destroy(struct kr_http_reader **rp)
{
	struct kr_http_reader *r = *rp;

	if (r == NULL)
		return;
	http_buf_free(&r->url);
	http_buf_free(&r->body);
	for (int f = 0; f < HTTP_F_COUNT; f++)
		http_buf_free(&r->fields[f]);
	free(r);
	*rp = NULL;
}

bool
kr_http_target_is(const struct kr_http_request *req, const char *path)
{
	size_t n = strlen(path);

	return req->url_len >= n && memcmp(req->url, path, n) == 0 &&
	       (req->url_len == n || req->url[n] == '?');
}

bool
kr_http_media_type_is(const char *value, const char *type)
{
	size_t n = strlen(type);

	if (value == NULL || strncasecmp(value, type, n) != 0)
		return false;
	value += n;
	while (*value == ' ' || *value == '\t')
		value++;
	return *value == '\0' || *value == ';';
}

const char *
kr_http_reason(unsigned status)
{
	return http_status_str((enum http_status)status);
}

/* Our own strings only: no CR, LF or other control bytes. */
static bool
http_field_ok(const char *v, size_t max)
{
	if (v == NULL)
		return true;
	if (strlen(v) > max)
		return false;
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	return true;
}

/* The writer frames the message itself; a field of those from a caller
 * would contradict it. */
static bool
http_extra_ok(const struct kr_http_field *f)
{
	static const char *const framing[] = { "content-length", "connection",
					       "transfer-encoding",
					       "content-type", "allow" };
	size_t n;

	if (f->name == NULL || f->value == NULL)
		return false;
	n = strlen(f->name);
	if (n == 0 || n > KR_HTTP_FIELD_NAME_MAX || !http_is_token(f->name, n))
		return false;
	for (size_t i = 0; i < sizeof(framing) / sizeof(framing[0]); i++)
		if (strcasecmp(f->name, framing[i]) == 0)
			return false;
	return http_field_ok(f->value, KR_HTTP_FIELD_VALUE_MAX);
}

static bool
http_response_ok(const struct kr_http_response *resp)
{
	if (resp->status < 100 || resp->status > 599 ||
	    !http_field_ok(resp->content_type, 128) ||
	    !http_field_ok(resp->allow, 128) ||
	    resp->n_fields > KR_HTTP_RESPONSE_FIELDS_MAX ||
	    (resp->n_fields > 0 && resp->fields == NULL))
		return false;
	for (unsigned i = 0; i < resp->n_fields; i++)
		if (!http_extra_ok(&resp->fields[i]))
			return false;
	return true;
}

/* Appends to buf[*n..cap); a head over cap is a bug of the bounds
 * above. */
static void http_put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
http_put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int got;

	va_start(ap, fmt);
	got = vsnprintf(buf + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (got < 0 || (size_t)got >= cap - *n)
		kr_panic("http: response head over %zu bytes", cap);
	*n += (size_t)got;
}

size_t
kr_http_response_head(const struct kr_http_response *resp, char *buf,
		      size_t cap)
{
	unsigned s = resp->status;
	bool has_length = s >= 200 && s != 204 && s != 304;
	size_t n = 0;

	if (cap < KR_HTTP_HEAD_MAX || !http_response_ok(resp))
		kr_panic("http: bad response head");
	/* Every part is bounded (three digits, a reason of the table, two
	 * fields of 128 bytes, four of 64 + 256, 20 digits): 2048 bytes
	 * hold them all. */
	http_put(buf, cap, &n, "HTTP/1.1 %u %s\r\n", s, kr_http_reason(s));
	if (resp->content_type != NULL)
		http_put(buf, cap, &n, "Content-Type: %s\r\n",
			 resp->content_type);
	if (resp->allow != NULL)
		http_put(buf, cap, &n, "Allow: %s\r\n", resp->allow);
	for (unsigned i = 0; i < resp->n_fields; i++)
		http_put(buf, cap, &n, "%s: %s\r\n", resp->fields[i].name,
			 resp->fields[i].value);
	if (has_length)
		http_put(buf, cap, &n, "Content-Length: %llu\r\n",
			 (unsigned long long)resp->content_length);
	http_put(buf, cap, &n, "%s\r\n",
		 resp->close		? "Connection: close\r\n"
		 : resp->keep_alive_1_0 ? "Connection: keep-alive\r\n"
					: "");
	return n;
}
