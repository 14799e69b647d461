/* libFuzzer target for proto/mime: every entry point over one input,
 * every string that comes out valid UTF-8. Built by `make fuzz`; the
 * corpus in tests/fuzz/corpus/mime/ (seeds and every crasher fixed) is
 * replayed by `make test`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "proto/mime.h"
#include "tests/utf8_check.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check(const char *s)
{
	if (s != NULL && !utf8_check(s, strlen(s)))
		abort();
}

static void
fuzz_summary(const struct kr_mime_summary *sum)
{
	fuzz_check(sum->from.name);
	fuzz_check(sum->from.email);
	for (unsigned i = 0; i < sum->n_to; i++) {
		fuzz_check(sum->to[i].name);
		fuzz_check(sum->to[i].email);
	}
	for (unsigned i = 0; i < sum->n_cc; i++) {
		fuzz_check(sum->cc[i].name);
		fuzz_check(sum->cc[i].email);
	}
	fuzz_check(sum->subject);
	fuzz_check(sum->date_utc);
	fuzz_check(sum->message_id);
	fuzz_check(sum->in_reply_to);
	fuzz_check(sum->references);
	fuzz_check(sum->preview);
	fuzz_check(sum->search_text);
	for (unsigned i = 0; i < sum->n_attachments; i++) {
		fuzz_check(sum->attachments[i].part);
		fuzz_check(sum->attachments[i].filename);
		fuzz_check(sum->attachments[i].type);
		fuzz_check(sum->attachments[i].content_id);
	}
}

/* One part of the antispam view: UTF-8 of its stated length, within
 * the default cap. */
static void
fuzz_spam_part(const char *s, size_t len)
{
	if (s == NULL || strlen(s) != len ||
	    len > KR_MIME_SPAM_TEXT_MAX_DEFAULT)
		abort();
	fuzz_check(s);
}

static void
fuzz_spam(const struct kr_mime_spam_text *t)
{
	if (t == NULL)
		abort();
	fuzz_spam_part(t->headers, t->headers_len);
	fuzz_spam_part(t->body, t->body_len);
	fuzz_spam_part(t->rawbody, t->rawbody_len);
	fuzz_spam_part(t->uris, t->uris_len);
	if (t->uris_len > 0 && t->uris[t->uris_len - 1] != '\n')
		abort();
}

/* The header list: ASCII names without a colon, UTF-8 values, at
 * most the default number of fields. */
static void
fuzz_headers(const uint8_t *data, size_t size, struct kr_arena *a)
{
	const struct kr_mime_header *h;
	struct kr_err err;
	unsigned n;
	bool limited;

	if (kr_mime_headers(data, size, NULL, a, &h, &n, &limited, &err) < 0 ||
	    n > KR_MIME_HEADERS_MAX_DEFAULT || (n == 0) != (h == NULL))
		abort();
	for (unsigned i = 0; i < n; i++) {
		for (const char *c = h[i].name; *c != '\0'; c++)
			if (*c <= ' ' || *c >= 0x7f || *c == ':')
				abort();
		if (h[i].value == NULL ||
		    strlen(h[i].value) > KR_MIME_HEADER_TEXT_MAX_DEFAULT)
			abort();
		fuzz_check(h[i].value);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	kr_mime_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kr_arena *a = kr_arena_create(16 << 10, 64 << 20, false);
	struct kr_mime_summary *sum = NULL;
	struct kr_mime_limits lim;
	struct kr_err err;
	const char *text, *html, *name, *type;
	const void *part;
	size_t n;

	/* The antispam view too: it walks the same parts (the limits that
	 * decide which parts are reachable stay the defaults). */
	kr_mime_limits_init(&lim);
	lim.spam_text = true;
	if (kr_mime_parse(data, size, &lim, a, &sum, &err) < 0)
		abort(); /* only a full arena may fail */
	fuzz_summary(sum);
	fuzz_spam(sum->spam);
	if (kr_mime_body_text(data, size, NULL, a, &text, &html, &err) < 0)
		abort();
	fuzz_check(text);
	fuzz_check(html);
	for (unsigned i = 0; i < sum->n_attachments; i++) {
		if (kr_mime_part(data, size, sum->attachments[i].part, NULL, a,
				 &part, &n, &name, &type, &err) < 0 ||
		    n != sum->attachments[i].size)
			abort();
		fuzz_check(name);
		fuzz_check(type);
	}
	fuzz_headers(data, size, a);
	kr_arena_destroy(&a);
	return 0;
}
