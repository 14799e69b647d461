/* libFuzzer target for proto/http: the input is fed to a request
 * reader three times, whole, byte by byte and in chunks of a size the
 * input's length picks, taking every request out in order as the
 * JSON-RPC transport does; every run must see the same requests and
 * end the same way (refused or not), every request within the limits,
 * and every answer's head must be writable. The status of a refusal may
 * differ between runs when the input is both malformed and over a
 * limit: which is seen first depends on where http_parser's data
 * callbacks fall, hence on the chunks. Not in the Makefile; build from the repo
 * root with
 *
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -I. \
 *     -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_http.c \
 *     proto/http.c lib/err.c -lhttp_parser -o fuzz_http
 *   ./fuzz_http tests/fuzz/corpus/http
 *
 * Crashers go into tests/fuzz/corpus/http/, which test_http replays. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct kr_http_limits fuzz_lim = {
	.header_max = 2048,
	.body_max = 8192,
	.headers_max = 32,
	.url_max = 256,
};

static uint64_t
fuzz_mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t
fuzz_str(uint64_t h, const char *s)
{
	return s == NULL ? fuzz_mix(h, "\xff", 1)
			 : fuzz_mix(h, s, strlen(s) + 1);
}

/* Checks one request and folds it into h. */
static uint64_t
fuzz_request(uint64_t h, const struct kr_http_request *q)
{
	char head[KR_HTTP_HEAD_MAX];
	struct kr_http_response resp = {
		.status = kr_http_target_is(q, "/rpc") ? 200 : 404,
		.content_type = "application/json",
		.content_length = q->body_len,
		.close = !q->keep_alive,
		.keep_alive_1_0 = q->keep_alive && q->http_1_0,
	};

	if (q->url_len > fuzz_lim.url_max || strlen(q->url) != q->url_len ||
	    q->body_len > fuzz_lim.body_max || q->body[q->body_len] != '\0' ||
	    q->method == NULL)
		abort();
	if (kr_http_response_head(&resp, head, sizeof(head)) >= sizeof(head))
		abort();
	(void)kr_http_media_type_is(q->content_type, "application/json");
	h = fuzz_str(h, q->method);
	h = fuzz_str(h, q->url);
	h = fuzz_str(h, q->content_type);
	h = fuzz_str(h, q->authorization);
	h = fuzz_str(h, q->forwarded_for);
	h = fuzz_str(h, q->cookie);
	h = fuzz_str(h, q->origin);
	h = fuzz_mix(h, q->body, q->body_len);
	return fuzz_mix(h,
			&(bool[]){ q->keep_alive, q->http_1_0, q->is_post,
				   q->is_head }[0],
			4);
}

static uint64_t
fuzz_run(const char *in, size_t len, size_t chunk)
{
	struct kr_http_reader *r = kr_http_reader_create(&fuzz_lim);
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t pos = 0;

	while (pos < len) {
		size_t n = len - pos < chunk ? len - pos : chunk, used;
		int rc = kr_http_reader_feed(r, in + pos, n, &used);
		const struct kr_http_request *q = kr_http_reader_request(r);

		if (used > n || (rc == 0 && used != n))
			abort();
		pos += used;
		(void)kr_http_reader_take_continue(r);
		if (rc < 0) {
			unsigned status = kr_http_reader_status(r);

			if (status < 400 || status > 505 || q != NULL)
				abort();
			h = fuzz_mix(h, "refused", 7);
			break;
		}
		if (rc == 0)
			continue;
		if (q == NULL)
			abort();
		h = fuzz_request(h, q);
		if (!q->keep_alive)
			break;
		kr_http_reader_next(r);
	}
	kr_http_reader_destroy(&r);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	uint64_t whole = fuzz_run(in, size, size ? size : 1);

	if (fuzz_run(in, size, 1) != whole ||
	    fuzz_run(in, size, 2 + size % 13) != whole)
		abort();
	return 0;
}
