/* proto/http: requests fed whole, byte by byte and in random chunks
 * give the same results; pipelining; chunked bodies and trailers; every
 * limit at the limit and one over; malformed input; keep-alive;
 * 100-continue; the kept fields; target and media type matching; the
 * response head; the fuzz corpus replayed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"

#define CORPUS_DIR "tests/fuzz/corpus/http"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define OUT_MAX 4096

static const struct kr_http_limits test_lim = {
	.header_max = 1024,
	.body_max = 4096,
	.headers_max = 16,
	.url_max = 64,
};

/* How a test feeds its input: 0 whole, 1 byte by byte, >1 a seed for
 * random chunks of 1..31 bytes. */
enum {
	FEED_WHOLE = 0,
	FEED_BYTES = 1
};

static size_t
test_chunk(unsigned mode, unsigned *seed, size_t left)
{
	size_t n;

	if (mode == FEED_WHOLE)
		return left;
	if (mode == FEED_BYTES)
		return left < 1 ? left : 1;
	*seed = *seed * 1103515245u + 12345u;
	n = 1 + (*seed >> 16) % 31;
	return n < left ? n : left;
}

static void test_out(char *out, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
test_out(char *out, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + *len, OUT_MAX - *len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < OUT_MAX - *len);
	*len += (size_t)n;
}

static void
test_describe(const struct kr_http_request *q, char *out, size_t *len)
{
	test_out(out, len, "%s %s ct=%s auth=%s xff=%s ka=%d 10=%d", q->method,
		 q->url, q->content_type ? q->content_type : "-",
		 q->authorization ? q->authorization : "-",
		 q->forwarded_for ? q->forwarded_for : "-", q->keep_alive,
		 q->http_1_0);
	/* Only where sent, so the other cases' texts stay short. */
	if (q->cookie != NULL)
		test_out(out, len, " cookie=%s", q->cookie);
	if (q->origin != NULL)
		test_out(out, len, " origin=%s", q->origin);
	if (q->host != NULL)
		test_out(out, len, " host=%s", q->host);
	if (q->accept != NULL)
		test_out(out, len, " accept=%s", q->accept);
	test_out(out, len, " body=");
	assert_int_equal(strlen(q->url), q->url_len);
	assert_int_equal(q->body[q->body_len], '\0');
	test_out(out, len, "%.*s|", (int)q->body_len, q->body);
}

/* Feeds in and describes what came out: each request, then "E<status>"
 * (refused; "E" alone when test_any_status is set), "more" (input ended
 * inside a request) or "end". *cont_r counts 100-continue events. */
static bool test_any_status;

static void
test_run_lim(const char *in, size_t len, unsigned mode,
	     const struct kr_http_limits *lim, char *out, unsigned *cont_r)
{
	struct kr_http_reader *r = kr_http_reader_create(lim);
	size_t pos = 0, olen = 0;
	unsigned seed = mode, cont = 0;

	out[0] = '\0';
	for (;;) {
		size_t n = test_chunk(mode, &seed, len - pos), used = 99;
		int rc = kr_http_reader_feed(r, in + pos, n, &used);
		const struct kr_http_request *q = kr_http_reader_request(r);

		assert_true(used <= n);
		pos += used;
		if (kr_http_reader_take_continue(r))
			cont++;
		assert_false(kr_http_reader_take_continue(r));
		if (rc < 0) {
			assert_null(q);
			assert_true(kr_http_reader_status(r) >= 400);
			if (test_any_status)
				test_out(out, &olen, "E");
			else
				test_out(out, &olen, "E%u",
					 kr_http_reader_status(r));
			/* Refused stays refused. */
			assert_int_equal(kr_http_reader_feed(r, "x", 1, &used),
					 -1);
			break;
		}
		if (rc == 0) {
			assert_int_equal(used, n);
			assert_null(q);
			assert_int_equal(kr_http_reader_status(r), 0);
			if (pos == len) {
				test_out(out, &olen, "%s",
					 pos == 0 ? "end" : "more");
				break;
			}
			continue;
		}
		assert_non_null(q);
		test_describe(q, out, &olen);
		/* A complete request holds: nothing more is taken. */
		assert_int_equal(kr_http_reader_feed(r, "GET", 3, &used), 1);
		assert_int_equal(used, 0);
		if (!q->keep_alive) {
			test_out(out, &olen, "close");
			break;
		}
		kr_http_reader_next(r);
		if (pos == len) {
			test_out(out, &olen, "end");
			break;
		}
	}
	kr_http_reader_destroy(&r);
	assert_null(r);
	if (cont_r != NULL)
		*cont_r = cont;
}

/* Every mode must agree; returns the whole-input result in out. */
static void
test_same_lim(const char *in, size_t len, const struct kr_http_limits *lim,
	      char *out)
{
	char other[OUT_MAX];
	static const unsigned modes[] = { FEED_BYTES, 7, 1234, 99991 };

	test_run_lim(in, len, FEED_WHOLE, lim, out, NULL);
	for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
		test_run_lim(in, len, modes[i], lim, other, NULL);
		if (strcmp(out, other) != 0)
			fail_msg("mode %u: \"%s\" != whole \"%s\"", modes[i],
				 other, out);
	}
}

static void
test_expect(const char *in, const char *want)
{
	char out[OUT_MAX];

	test_same_lim(in, strlen(in), &test_lim, out);
	if (strcmp(out, want) != 0)
		fail_msg("input \"%s\":\n got \"%s\"\nwant \"%s\"", in, out,
			 want);
}

static void
test_http_simple_post(void **state)
{
	(void)state;
	test_expect("POST /rpc HTTP/1.1\r\nHost: x\r\n"
		    "Content-Type: application/json\r\n"
		    "Authorization: Bearer abc.def\r\n"
		    "Content-Length: 13\r\n\r\n{\"a\":[1,2,3]}",
		    "POST /rpc ct=application/json auth=Bearer abc.def xff=- "
		    "ka=1 10=0 host=x body={\"a\":[1,2,3]}|end");
	/* No body at all; the fields' white space goes. */
	test_expect("GET /rpc?x=1 HTTP/1.1\r\ncontent-TYPE:  text/plain \t"
		    "\r\n\r\n",
		    "GET /rpc?x=1 ct=text/plain auth=- xff=- ka=1 10=0 "
		    "body=|end");
	/* Bare LF line ends are accepted (RFC 7230 §3.5). */
	test_expect("POST /rpc HTTP/1.1\nContent-Length: 2\n\nok",
		    "POST /rpc ct=- auth=- xff=- ka=1 10=0 body=ok|end");
	test_expect("", "end");
	test_expect("POST /rpc HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
		    "more");
}

static void
test_http_pipelined(void **state)
{
	(void)state;
	/* Empty lines before a request are allowed (RFC 7230 §3.5). */
	test_expect("POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nA"
		    "\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		    "\r\n1\r\nB\r\n0\r\n\r\n"
		    "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n"
		    "POST /never HTTP/1.1\r\n\r\n",
		    "POST /a ct=- auth=- xff=- ka=1 10=0 body=A|"
		    "POST /b ct=- auth=- xff=- ka=1 10=0 body=B|"
		    "GET /c ct=- auth=- xff=- ka=0 10=0 body=|close");
}

/* Nothing after a complete request is consumed. */
static void
test_http_used_stops_at_request(void **state)
{
	static const char two[] = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n";
	struct kr_http_reader *r = kr_http_reader_create(&test_lim);
	size_t used;

	(void)state;
	assert_int_equal(kr_http_reader_feed(r, two, strlen(two), &used), 1);
	assert_int_equal(used, strlen("GET /1 HTTP/1.1\r\n\r\n"));
	assert_string_equal(kr_http_reader_request(r)->url, "/1");
	kr_http_reader_next(r);
	assert_null(kr_http_reader_request(r));
	assert_int_equal(
		kr_http_reader_feed(r, two + used, strlen(two) - used, &used),
		0);
	assert_int_equal(kr_http_reader_feed(r, "\r\n", 2, &used), 1);
	assert_string_equal(kr_http_reader_request(r)->url, "/2");
	kr_http_reader_destroy(&r);
}

static void
test_http_chunked(void **state)
{
	(void)state;
	/* Extensions ignored, trailers read and dropped (an Authorization
	 * among them changes nothing). */
	test_expect("POST /rpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		    "Authorization: Bearer t\r\n\r\n"
		    "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks."
		    "\r\n0\r\nAuthorization: Bearer other\r\nX: y\r\n\r\n",
		    "POST /rpc ct=- auth=Bearer t xff=- ka=1 10=0 "
		    "body=Wikipedia in\r\n\r\nchunks.|end");
	test_expect("POST /rpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "0\r\n\r\n",
		    "POST /rpc ct=- auth=- xff=- ka=1 10=0 body=|end");
	test_expect("POST /rpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "zz\r\nab\r\n0\r\n\r\n",
		    "E400");
	test_expect("POST /rpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "2\r\nabc\r\n0\r\n\r\n",
		    "E400");
}

static void
test_http_keep_alive(void **state)
{
	(void)state;
	test_expect("GET / HTTP/1.0\r\n\r\n",
		    "GET / ct=- auth=- xff=- ka=0 10=1 body=|close");
	test_expect("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
		    "GET / ct=- auth=- xff=- ka=1 10=1 body=|end");
	test_expect("GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
		    "GET / ct=- auth=- xff=- ka=0 10=0 body=|close");
	test_expect("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n",
		    "GET / ct=- auth=- xff=- ka=0 10=0 body=|close");
	/* We upgrade to nothing: the connection ends after the answer. */
	test_expect("GET / HTTP/1.1\r\nConnection: upgrade\r\n"
		    "Upgrade: websocket\r\n\r\n",
		    "GET / ct=- auth=- xff=- ka=0 10=0 body=|close");
	test_expect("CONNECT a:443 HTTP/1.1\r\n\r\nxx",
		    "CONNECT a:443 ct=- auth=- xff=- ka=0 10=0 body=|close");
}

static void
test_http_forwarded_for(void **state)
{
	(void)state;
	test_expect(
		"GET / HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1\r\n"
		"Host: h\r\nx-forwarded-for:2001:db8::1 , 10.0.0.1 \r\n\r\n",
		"GET / ct=- auth=- xff=192.0.2.1, 2001:db8::1 , 10.0.0.1 "
		"ka=1 10=0 host=h body=|end");
	/* Names that only start like ours are not ours. */
	test_expect("GET / HTTP/1.1\r\nX-Forwarded-For-Not: a\r\n"
		    "Content-Types: b\r\nAuthorizationX: c\r\n\r\n",
		    "GET / ct=- auth=- xff=- ka=1 10=0 body=|end");
	/* An empty one is there, and empty. */
	test_expect("GET / HTTP/1.1\r\nAuthorization:\r\n\r\n",
		    "GET / ct=- auth= xff=- ka=1 10=0 body=|end");
}

/* Cookie fields join with "; " (an HTTP/2 proxy may split one), an
 * Origin is kept, two Origins are refused like two credentials. */
static void
test_http_cookie_origin(void **state)
{
	(void)state;
	test_expect("GET / HTTP/1.1\r\nCookie: a=1; b=2 \r\n"
		    "Origin: http://127.0.0.1:8081\r\ncookie:c=3\r\n\r\n",
		    "GET / ct=- auth=- xff=- ka=1 10=0 cookie=a=1; b=2; c=3 "
		    "origin=http://127.0.0.1:8081 body=|end");
	test_expect("GET / HTTP/1.1\r\nCookies: a\r\nOrigins: b\r\n\r\n",
		    "GET / ct=- auth=- xff=- ka=1 10=0 body=|end");
	test_expect("GET / HTTP/1.1\r\nOrigin: null\r\nOrigin: http://x\r\n"
		    "\r\n",
		    "E400");
	/* Requests on one connection do not share them. */
	test_expect("GET / HTTP/1.1\r\nCookie: s=1\r\nOrigin: o\r\n\r\n"
		    "GET /2 HTTP/1.1\r\n\r\n",
		    "GET / ct=- auth=- xff=- ka=1 10=0 cookie=s=1 origin=o "
		    "body=|GET /2 ct=- auth=- xff=- ka=1 10=0 body=|end");
}

/* Host is one field (two are a 400, RFC 7230 §5.4); Accept fields join
 * as a list. */
static void
test_http_host_accept(void **state)
{
	(void)state;
	test_expect("GET / HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n"
		    "Accept: text/plain\r\naccept: */*;q=0.1\r\n\r\n",
		    "GET / ct=- auth=- xff=- ka=1 10=0 host=127.0.0.1:8081 "
		    "accept=text/plain, */*;q=0.1 body=|end");
	test_expect("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "E400");
}

static void
test_http_malformed(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "NOT HTTP AT ALL\r\n\r\n", "E400" },
		{ "POST /rpc HTTP/1.1\r\nContent-Length: 1\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n",
		  "E400" },
		{ "POST /rpc HTTP/1.1\r\nContent-Length: 1\r\n"
		  "Content-Length: 2\r\n\r\nab",
		  "E400" },
		{ "POST /rpc HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "E400" },
		{ "POST /rpc HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "E400" },
		{ "POST /rpc HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
		  "E400" },
		{ "POST /rpc HTTP/1.1\r\nBad Name: x\r\n\r\n", "E400" },
		{ "POST /rpc HTTP/1.1\r\nNo colon\r\n\r\n", "E400" },
		{ "POST /r\x01pc HTTP/1.1\r\n\r\n", "E400" },
		{ "POST /rpc HTTP/1.1\rX: y\r\n\r\n", "E400" },
		{ "POST /rpc\r\n\r\n", "E505" }, /* HTTP/0.9 */
		{ "POST /rpc HTTP/x.1\r\n\r\n", "E400" },
		{ "POST /rpc HTTP/2.0\r\n\r\n", "E505" },
		{ "POST /rpc HTTP/0.9\r\n\r\n", "E505" },
		{ "POST /rpc HTTP/1.1\r\nContent-Type: a\r\n"
		  "Content-Type: b\r\n\r\n",
		  "E400" },
		{ "POST /rpc HTTP/1.1\r\nAuthorization: a\r\n"
		  "authorization: a\r\n\r\n",
		  "E400" },
		{ "POST /rpc HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", "E417" },
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "E400" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		test_expect(cases[i].in, cases[i].want);
}

/* A request whose head is exactly n bytes long. */
static size_t
test_head_of(char *buf, size_t n)
{
	static const char start[] = "POST /rpc HTTP/1.1\r\nX: ";
	size_t fill = n - strlen(start) - 4;

	assert_true(n < OUT_MAX && n > strlen(start) + 4);
	memcpy(buf, start, strlen(start));
	memset(buf + strlen(start), 'v', fill);
	memcpy(buf + strlen(start) + fill, "\r\n\r\n", 5);
	return n;
}

static void
test_http_limit_header_bytes(void **state)
{
	char in[OUT_MAX], out[OUT_MAX];
	size_t len = test_head_of(in, test_lim.header_max);

	(void)state;
	test_same_lim(in, len, &test_lim, out);
	assert_string_equal(out, "POST /rpc ct=- auth=- xff=- ka=1 10=0 "
				 "body=|end");
	len = test_head_of(in, test_lim.header_max + 1);
	test_same_lim(in, len, &test_lim, out);
	assert_string_equal(out, "E431");
	/* Empty lines before the request count too. */
	in[0] = '\r';
	in[1] = '\n';
	len = test_head_of(in + 2, test_lim.header_max - 1) + 2;
	test_same_lim(in, len, &test_lim, out);
	assert_string_equal(out, "E431");
	/* A head that never ends is cut at the limit, not buffered. */
	memset(in, 'a', sizeof(in));
	memcpy(in, "GET /", 5);
	test_same_lim(in, sizeof(in), &test_lim, out);
	assert_string_equal(out, "E414");
	memcpy(in, "GET / HTTP/1.1\r\nX: ", 19);
	test_same_lim(in, sizeof(in), &test_lim, out);
	assert_string_equal(out, "E431");
}

static void
test_http_limit_header_count(void **state)
{
	char in[OUT_MAX], out[OUT_MAX];
	size_t len = 0;

	(void)state;
	test_out(in, &len, "GET / HTTP/1.1\r\n");
	for (unsigned i = 0; i < test_lim.headers_max; i++)
		test_out(in, &len, "H%u: %u\r\n", i, i);
	test_out(in, &len, "\r\n");
	test_same_lim(in, len, &test_lim, out);
	assert_string_equal(out, "GET / ct=- auth=- xff=- ka=1 10=0 body=|end");
	len -= 2;
	test_out(in, &len, "One: more\r\n\r\n");
	test_same_lim(in, len, &test_lim, out);
	assert_string_equal(out, "E431");
}

static void
test_http_limit_url(void **state)
{
	char in[OUT_MAX], out[OUT_MAX], url[256];
	size_t len = 0;

	(void)state;
	memset(url, 'u', sizeof(url));
	url[0] = '/';
	test_out(in, &len, "GET %.*s HTTP/1.1\r\n\r\n", (int)test_lim.url_max,
		 url);
	test_same_lim(in, len, &test_lim, out);
	assert_true(strncmp(out, "GET /uuu", 8) == 0);
	len = 0;
	test_out(in, &len, "GET %.*s HTTP/1.1\r\n\r\n",
		 (int)test_lim.url_max + 1, url);
	test_same_lim(in, len, &test_lim, out);
	assert_string_equal(out, "E414");
}

static void
test_http_limit_body_length(void **state)
{
	char in[OUT_MAX * 2], out[OUT_MAX];
	size_t len = 0, head, used;
	struct kr_http_reader *r;

	(void)state;
	/* At body_max: read whole. */
	len = (size_t)snprintf(in, sizeof(in),
			       "POST /rpc HTTP/1.1\r\nContent-Length: %llu"
			       "\r\n\r\n",
			       (unsigned long long)test_lim.body_max);
	memset(in + len, 'b', test_lim.body_max);
	len += test_lim.body_max;
	r = kr_http_reader_create(&test_lim);
	assert_int_equal(kr_http_reader_feed(r, in, len, &used), 1);
	assert_int_equal(used, len);
	assert_int_equal(kr_http_reader_request(r)->body_len,
			 test_lim.body_max);
	kr_http_reader_destroy(&r);
	/* One over: refused when the head is complete, the body unread. */
	head = (size_t)snprintf(in, sizeof(in),
				"POST /rpc HTTP/1.1\r\nContent-Length: %llu"
				"\r\n\r\n",
				(unsigned long long)test_lim.body_max + 1);
	memset(in + head, 'b', test_lim.body_max + 1);
	r = kr_http_reader_create(&test_lim);
	assert_int_equal(
		kr_http_reader_feed(r, in, head + test_lim.body_max + 1, &used),
		-1);
	assert_int_equal(kr_http_reader_status(r), 413);
	assert_true(used <= head);
	kr_http_reader_destroy(&r);
	test_same_lim(in, head, &test_lim, out);
	assert_string_equal(out, "E413");
	/* A length no integer holds. */
	test_expect("POST /rpc HTTP/1.1\r\nContent-Length: "
		    "99999999999999999999999\r\n\r\n",
		    "E400");
	test_expect("POST /rpc HTTP/1.1\r\nContent-Length: "
		    "1844674407370955161\r\n\r\n",
		    "E413");
}

static void
test_http_limit_body_chunked(void **state)
{
	char in[OUT_MAX * 3], out[OUT_MAX];
	size_t len = 0;
	struct kr_http_limits lim = test_lim;

	(void)state;
	lim.body_max = 1000;
	len = (size_t)snprintf(in, sizeof(in),
			       "POST /rpc HTTP/1.1\r\nTransfer-Encoding: "
			       "chunked\r\n\r\n1f4\r\n");
	memset(in + len, 'c', 500);
	len += 500;
	len += (size_t)snprintf(in + len, sizeof(in) - len, "\r\n1f4\r\n");
	memset(in + len, 'c', 500);
	len += 500;
	len += (size_t)snprintf(in + len, sizeof(in) - len, "\r\n0\r\n\r\n");
	test_same_lim(in, len, &lim, out);
	assert_int_equal(strlen(out), strlen("POST /rpc ct=- auth=- xff=- "
					     "ka=1 10=0 body=|end") +
					      1000);
	lim.body_max = 999;
	test_same_lim(in, len, &lim, out);
	assert_string_equal(out, "E413");
	/* Trailers count against header_max. */
	lim = test_lim;
	len = 0;
	test_out(in, &len,
		 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		 "\r\n0\r\nT: ");
	memset(in + len, 't', test_lim.header_max);
	len += test_lim.header_max;
	test_out(in, &len, "\r\n\r\n");
	test_same_lim(in, len, &lim, out);
	assert_string_equal(out, "E431");
}

static void
test_http_continue(void **state)
{
	static const char in[] = "POST /rpc HTTP/1.1\r\nExpect: 100-Continue"
				 "\r\nContent-Length: 3\r\n\r\nabc";
	char out[OUT_MAX];
	unsigned cont;
	size_t head = strlen(in) - 3;

	(void)state;
	/* The head alone: the client waits, so we say continue. */
	test_run_lim(in, head, FEED_WHOLE, &test_lim, out, &cont);
	assert_string_equal(out, "more");
	assert_int_equal(cont, 1);
	test_run_lim(in, strlen(in), FEED_BYTES, &test_lim, out, &cont);
	assert_int_equal(cont, 1);
	/* The body came with the head: no need. */
	test_run_lim(in, strlen(in), FEED_WHOLE, &test_lim, out, &cont);
	assert_int_equal(cont, 0);
	assert_string_equal(out, "POST /rpc ct=- auth=- xff=- ka=1 10=0 "
				 "body=abc|end");
	/* No body announced, or refused: none. */
	test_run_lim("GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", 40,
		     FEED_BYTES, &test_lim, out, &cont);
	assert_int_equal(cont, 0);
	test_run_lim("POST / HTTP/1.1\r\nExpect: 100-continue\r\n"
		     "Content-Length: 99999\r\n\r\n",
		     64, FEED_BYTES, &test_lim, out, &cont);
	assert_string_equal(out, "E413");
	assert_int_equal(cont, 0);
}

static void
test_http_target_and_type(void **state)
{
	static const struct {
		const char *url;
		bool rpc;
	} targets[] = {
		{ "/rpc", true },
		{ "/rpc?", true },
		{ "/rpc?a=b", true },
		{ "/rpc/", false },
		{ "/rpcx", false },
		{ "/rp", false },
		{ "/", false },
		{ "", false },
		{ "http://h/rpc", false },
		{ "/RPC", false },
	};
	static const struct {
		const char *type;
		bool json;
	} types[] = {
		{ "application/json", true },
		{ "Application/JSON", true },
		{ "application/json; charset=utf-8", true },
		{ "application/json ;charset=utf-8", true },
		{ "application/json\t", true },
		{ "application/jsonx", false },
		{ "application/json-patch+json", false },
		{ "application/jso", false },
		{ "text/plain", false },
		{ "", false },
		{ NULL, false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(targets); i++) {
		struct kr_http_request q = {
			.url = targets[i].url,
			.url_len = strlen(targets[i].url),
		};

		if (kr_http_target_is(&q, "/rpc") != targets[i].rpc)
			fail_msg("target \"%s\"", targets[i].url);
	}
	for (size_t i = 0; i < ARRAY_LEN(types); i++)
		if (kr_http_media_type_is(types[i].type, "application/json") !=
		    types[i].json)
			fail_msg("type \"%s\"", types[i].type);
}

static void
test_http_response_head(void **state)
{
	char buf[KR_HTTP_HEAD_MAX];
	struct kr_http_response r = {
		.status = 200,
		.content_type = "application/json",
		.content_length = 42,
	};
	size_t n;

	(void)state;
	n = kr_http_response_head(&r, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf, "HTTP/1.1 200 OK\r\nContent-Type: "
				 "application/json\r\nContent-Length: 42\r\n"
				 "\r\n");
	r = (struct kr_http_response){ .status = 204, .keep_alive_1_0 = true };
	kr_http_response_head(&r, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP/1.1 204 No Content\r\n"
				 "Connection: keep-alive\r\n\r\n");
	r = (struct kr_http_response){ .status = 405,
				       .content_type = "text/plain",
				       .allow = "POST",
				       .content_length = 7,
				       .close = true };
	kr_http_response_head(&r, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP/1.1 405 Method Not Allowed\r\n"
				 "Content-Type: text/plain\r\nAllow: POST\r\n"
				 "Content-Length: 7\r\nConnection: close\r\n"
				 "\r\n");
	r = (struct kr_http_response){ .status = 431,
				       .content_length = UINT64_MAX };
	n = kr_http_response_head(&r, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP/1.1 431 Request Header Fields Too "
				 "Large\r\nContent-Length: "
				 "18446744073709551615\r\n\r\n");
	assert_true(n < sizeof(buf));
}

/* Extra fields go after Content-Type and Allow, before the framing;
 * the largest head the bounds allow fits KR_HTTP_HEAD_MAX. */
static void
test_http_response_fields(void **state)
{
	char buf[KR_HTTP_HEAD_MAX], name[KR_HTTP_FIELD_NAME_MAX + 1],
		value[KR_HTTP_FIELD_VALUE_MAX + 1], type[129];
	struct kr_http_field f[KR_HTTP_RESPONSE_FIELDS_MAX] = {
		{ "Cache-Control", "no-store" },
		{ "WWW-Authenticate", "Bearer realm=\"kurier\"" },
	};
	struct kr_http_response r = {
		.status = 401,
		.content_type = "text/plain",
		.content_length = 3,
		.fields = f,
		.n_fields = 2,
	};
	size_t n;

	(void)state;
	kr_http_response_head(&r, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP/1.1 401 Unauthorized\r\n"
				 "Content-Type: text/plain\r\n"
				 "Cache-Control: no-store\r\n"
				 "WWW-Authenticate: Bearer realm=\"kurier\"\r\n"
				 "Content-Length: 3\r\n\r\n");
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	memset(type, 't', sizeof(type) - 1);
	type[sizeof(type) - 1] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(f); i++)
		f[i] = (struct kr_http_field){ name, value };
	r = (struct kr_http_response){ .status = 431,
				       .content_type = type,
				       .allow = type,
				       .content_length = UINT64_MAX,
				       .close = true,
				       .fields = f,
				       .n_fields = ARRAY_LEN(f) };
	n = kr_http_response_head(&r, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_true(n < sizeof(buf));
	assert_non_null(strstr(buf, "\r\nConnection: close\r\n\r\n"));
}

/* Every corpus file gives the same results whole and in pieces, with
 * the fuzz target's limits; as there, a refusal's status may differ
 * for input both malformed and over a limit (see fuzz_http.c). */
static void
test_http_corpus(void **state)
{
	static const struct kr_http_limits lim = {
		.header_max = 2048,
		.body_max = 8192,
		.headers_max = 32,
		.url_max = 256,
	};
	DIR *d = opendir(CORPUS_DIR);
	struct dirent *e;
	unsigned files = 0;

	(void)state;
	assert_non_null(d);
	test_any_status = true;
	while ((e = readdir(d)) != NULL) {
		char path[512], out[OUT_MAX], *buf;
		FILE *f;
		long size;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, e->d_name);
		f = fopen(path, "rb");
		assert_non_null(f);
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		size = ftell(f);
		assert_true(size >= 0 && size < (1 << 20));
		rewind(f);
		buf = malloc((size_t)size + 1);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
		fclose(f);
		test_same_lim(buf, (size_t)size, &lim, out);
		free(buf);
		files++;
	}
	closedir(d);
	test_any_status = false;
	assert_true(files >= 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_simple_post),
		cmocka_unit_test(test_http_pipelined),
		cmocka_unit_test(test_http_used_stops_at_request),
		cmocka_unit_test(test_http_chunked),
		cmocka_unit_test(test_http_keep_alive),
		cmocka_unit_test(test_http_forwarded_for),
		cmocka_unit_test(test_http_cookie_origin),
		cmocka_unit_test(test_http_host_accept),
		cmocka_unit_test(test_http_malformed),
		cmocka_unit_test(test_http_limit_header_bytes),
		cmocka_unit_test(test_http_limit_header_count),
		cmocka_unit_test(test_http_limit_url),
		cmocka_unit_test(test_http_limit_body_length),
		cmocka_unit_test(test_http_limit_body_chunked),
		cmocka_unit_test(test_http_continue),
		cmocka_unit_test(test_http_target_and_type),
		cmocka_unit_test(test_http_response_head),
		cmocka_unit_test(test_http_response_fields),
		cmocka_unit_test(test_http_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
