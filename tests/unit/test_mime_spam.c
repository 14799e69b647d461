/* cmocka tests for proto/mime's antispam view (summary->spam). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "proto/mime.h"
#include "tests/utf8_check.h"

static void
check_part(const char *s, size_t len, size_t max)
{
	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	assert_true(len <= max);
	if (!utf8_check(s, len))
		fail_msg("invalid UTF-8 out: \"%s\"", s);
}

static int
setup(void **state)
{
	*state = kr_arena_create(64 << 10, 0, false);
	return 0;
}

static int
teardown(void **state)
{
	struct kr_arena *a = *state;

	kr_arena_destroy(&a);
	return 0;
}

/* summary->spam of msg[0..len) with spam_text on and max bytes a part
 * (0: the default); every part checked. */
static const struct kr_mime_spam_text *
spam_max(struct kr_arena *a, const char *msg, size_t len, size_t max)
{
	struct kr_mime_limits lim;
	struct kr_mime_summary *sum = NULL;
	struct kr_err err = { 0 };
	const struct kr_mime_spam_text *t;

	kr_mime_limits_init(&lim);
	lim.spam_text = true;
	if (max > 0)
		lim.spam_text_max = max;
	assert_int_equal(kr_mime_parse(msg, len, &lim, a, &sum, &err), 0);
	t = sum->spam;
	assert_non_null(t);
	check_part(t->headers, t->headers_len, lim.spam_text_max);
	check_part(t->body, t->body_len, lim.spam_text_max);
	check_part(t->rawbody, t->rawbody_len, lim.spam_text_max);
	check_part(t->uris, t->uris_len, lim.spam_text_max);
	return t;
}

static const struct kr_mime_spam_text *
spam(struct kr_arena *a, const char *msg)
{
	return spam_max(a, msg, strlen(msg), 0);
}

/* ---- tests ------------------------------------------------------------ */

static void
test_mime_spam_plain(void **state)
{
	static const char msg[] = "From: Ann <ann@example.org>\r\n"
				  "To: bob@example.net\r\n"
				  "Subject: Cheap\r\n"
				  "  offer\r\n"
				  "X-Empty:\r\n"
				  "\r\n"
				  "First line\r\n"
				  "  same   paragraph\r\n"
				  "\r\n"
				  " \t \r\n"
				  "Second\tparagraph\r\n";
	const struct kr_mime_spam_text *t = spam(*state, msg);

	assert_string_equal(t->headers, "From: Ann <ann@example.org>\n"
					"To: bob@example.net\n"
					"Subject: Cheap  offer\n"
					"X-Empty: \n");
	assert_string_equal(t->body, "Cheap offer\n"
				     "First line same paragraph\n"
				     "Second paragraph");
	assert_string_equal(t->rawbody, "First line\n"
					"  same   paragraph\n"
					"\n"
					" \t \n"
					"Second\tparagraph\n");
	assert_string_equal(t->uris, "");
	assert_int_equal(t->uris_len, 0);
}

static void
test_mime_spam_off(void **state)
{
	static const char msg[] = "Subject: x\r\n\r\nhttp://a.example/\r\n";
	struct kr_mime_summary *sum = NULL, *on = NULL;
	struct kr_mime_limits lim;
	struct kr_err err = { 0 };

	assert_int_equal(
		kr_mime_parse(msg, strlen(msg), NULL, *state, &sum, &err), 0);
	assert_null(sum->spam);
	kr_mime_limits_init(&lim);
	assert_false(lim.spam_text);
	assert_int_equal(lim.spam_text_max, KR_MIME_SPAM_TEXT_MAX_DEFAULT);
	assert_int_equal(
		kr_mime_parse(msg, strlen(msg), &lim, *state, &sum, &err), 0);
	assert_null(sum->spam);
	/* The rest of the summary is the same with the view on. */
	lim.spam_text = true;
	assert_int_equal(
		kr_mime_parse(msg, strlen(msg), &lim, *state, &on, &err), 0);
	assert_non_null(on->spam);
	assert_string_equal(on->search_text, sum->search_text);
	assert_string_equal(on->preview, sum->preview);
}

static void
test_mime_spam_html(void **state)
{
	static const char msg[] =
		"Subject: Deal\r\n"
		"Content-Type: text/html; charset=utf-8\r\n"
		"\r\n"
		"<html><head><title>T</title><style>p{color:red}</style>"
		"</head><body>\r\n"
		"<p>Buy <b>now</b> &amp; save&nbsp;50%</p>\r\n"
		"<script>var x = 'hidden';</script>"
		"<div>Second<br>third</div><!-- a comment -->\r\n"
		"</body></html>\r\n";
	const struct kr_mime_spam_text *t = spam(*state, msg);

	assert_string_equal(t->body, "Deal\nBuy now & save 50%\nSecond\n"
				     "third");
	/* rawbody keeps the HTML as it is. */
	assert_non_null(strstr(t->rawbody, "<script>var x = 'hidden';"));
	assert_non_null(strstr(t->rawbody, "<b>now</b> &amp; save"));
}

static const char alternative[] =
	"Subject: Both\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
	"\r\n"
	"--b1\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"Plain words.\r\n"
	"--b1\r\n"
	"Content-Type: text/html; charset=us-ascii\r\n"
	"\r\n"
	"<p>Html <i>words</i>.</p>\r\n"
	"--b1--\r\n";

static void
test_mime_spam_alternative(void **state)
{
	const struct kr_mime_spam_text *t = spam(*state, alternative);

	assert_string_equal(t->body, "Both\nPlain words.\nHtml words .");
	/* The line break before a boundary belongs to the boundary. */
	assert_string_equal(t->rawbody, "Plain words.\n"
					"<p>Html <i>words</i>.</p>");
	assert_non_null(strstr(t->headers, "Content-Type: multipart/"
					   "alternative; boundary=\"b1\"\n"));
}

static void
test_mime_spam_encodings(void **state)
{
	/* "Grüße aus Köln" in ISO-8859-1, base64; then QP UTF-8. */
	static const char msg[] =
		"Subject: enc\r\n"
		"Content-Type: multipart/mixed; boundary=b2\r\n"
		"\r\n"
		"--b2\r\n"
		"Content-Type: text/plain; charset=iso-8859-1\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"R3L832UgYXVzIEv2bG4=\r\n"
		"--b2\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"soft=\r\n"
		"break =C3=A9t=C3=A9 =3D http://qp.example/a=3Db\r\n"
		"--b2--\r\n";
	const struct kr_mime_spam_text *t = spam(*state, msg);

	assert_string_equal(t->body, "enc\nGr\xc3\xbc\xc3\x9f"
				     "e aus K\xc3\xb6ln\n"
				     "softbreak \xc3\xa9t\xc3\xa9 = "
				     "http://qp.example/a=b");
	assert_string_equal(t->rawbody, "Gr\xc3\xbc\xc3\x9f"
					"e aus K\xc3\xb6ln\n"
					"softbreak \xc3\xa9t\xc3\xa9 = "
					"http://qp.example/a=b");
	assert_string_equal(t->uris, "http://qp.example/a=b\n");
}

static void
test_mime_spam_rfc2047(void **state)
{
	static const char msg[] =
		"Subject: =?UTF-8?B?R3LDvMOfZQ==?= "
		"=?ISO-8859-1?Q?_f=FCr_Sie?=\r\n"
		"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\n"
		"\r\n"
		"body\r\n";
	const struct kr_mime_spam_text *t = spam(*state, msg);

	assert_string_equal(t->headers, "Subject: Gr\xc3\xbc\xc3\x9f"
					"e f\xc3\xbcr Sie\n"
					"From: J\xc3\xb6rg <j@example.org>\n");
	assert_string_equal(t->body, "Gr\xc3\xbc\xc3\x9f"
				     "e f\xc3\xbcr Sie\nbody");
}

static void
test_mime_spam_uris(void **state)
{
	static const char msg[] =
		"Subject: links\r\n"
		"Content-Type: multipart/alternative; boundary=b3\r\n"
		"\r\n"
		"--b3\r\n"
		"Content-Type: text/plain\r\n"
		"\r\n"
		"See http://one.example/x?a=1&b=2. Or "
		"(https://two.example/p)\r\n"
		"and www.three.example, ftp://files.example/f, and\r\n"
		"mailto:sales@four.example; again "
		"http://one.example/x?a=1&b=2\r\n"
		"not: xhttp://no.example nor wwwxexample nor http:// alone\r\n"
		"--b3\r\n"
		"Content-Type: text/html\r\n"
		"\r\n"
		"<a href=\"http://five.example/?a=1&amp;b=2\">click</a>\r\n"
		"<img SRC='https://img.example/i.png' alt=\"x > y\">\r\n"
		"<a href=/relative>rel</a> <a "
		"href=HTTP://Six.Example/U>6</a>\r\n"
		"<!-- <a href=\"http://comment.example/\"> -->\r\n"
		"<p>text www.seven.example/page</p>\r\n"
		"--b3--\r\n";
	const struct kr_mime_spam_text *t = spam(*state, msg);

	assert_string_equal(t->uris, "http://one.example/x?a=1&b=2\n"
				     "https://two.example/p\n"
				     "http://www.three.example\n"
				     "ftp://files.example/f\n"
				     "mailto:sales@four.example\n"
				     "http://www.seven.example/page\n"
				     "http://five.example/?a=1&b=2\n"
				     "https://img.example/i.png\n"
				     "http://Six.Example/U\n");
}

static void
test_mime_spam_uris_count(void **state)
{
	size_t cap = (size_t)KR_MIME_SPAM_URIS_MAX * 40 + 256;
	char *msg = malloc(cap);
	size_t len = (size_t)snprintf(msg, cap, "Subject: many\r\n\r\n");
	const struct kr_mime_spam_text *t;
	unsigned lines = 0;

	assert_non_null(msg);
	for (unsigned i = 0; i < KR_MIME_SPAM_URIS_MAX + 10; i++)
		len += (size_t)snprintf(msg + len, cap - len,
					"http://h%u.example/\r\n", i % 600);
	t = spam_max(*state, msg, len, 0);
	for (const char *p = t->uris; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, KR_MIME_SPAM_URIS_MAX);
	assert_non_null(strstr(t->uris, "http://h0.example/\n"));
	assert_null(strstr(t->uris, "http://h512.example/\n"));
	free(msg);
}

/* A part of exactly max bytes is kept whole; one byte less cuts it. */
static void
test_mime_spam_cap(void **state)
{
	enum {
		MAX = 1000
	};
	char msg[4 * MAX];
	char word[MAX + 1];
	size_t len;
	const struct kr_mime_spam_text *t;

	memset(word, 'x', MAX);
	word[MAX] = '\0';
	/* No Subject: the body is the text alone. */
	len = (size_t)snprintf(msg, sizeof(msg), "X-Long: %.*s\r\n\r\n%s",
			       MAX - 9, word, word);

	t = spam_max(*state, msg, len, MAX);
	assert_int_equal(t->body_len, MAX);
	assert_string_equal(t->body, word);
	assert_int_equal(t->rawbody_len, MAX);
	assert_int_equal(t->headers_len, MAX); /* "X-Long: " + 991 + "\n" */
	assert_true(t->headers[MAX - 1] == '\n');

	t = spam_max(*state, msg, len, MAX - 1);
	assert_int_equal(t->body_len, MAX - 1);
	assert_memory_equal(t->body, word, MAX - 1);
	assert_int_equal(t->rawbody_len, MAX - 1);
	assert_int_equal(t->headers_len, MAX - 1);
	assert_true(t->headers[MAX - 2] == '\n');

	/* Never inside a character: "é" is two bytes. */
	len = (size_t)snprintf(msg, sizeof(msg),
			       "Content-Type: text/plain; charset=utf-8\r\n"
			       "\r\nab\xc3\xa9");
	t = spam_max(*state, msg, len, 3);
	assert_string_equal(t->body, "ab");
	t = spam_max(*state, msg, len, 4);
	assert_string_equal(t->body, "ab\xc3\xa9");
}

/* A URI longer than KR_MIME_SPAM_URI_MAX is cut there, not dropped. */
static void
test_mime_spam_uri_long(void **state)
{
	size_t pad = KR_MIME_SPAM_URI_MAX * 2;
	char *msg = malloc(pad + 128);
	const struct kr_mime_spam_text *t;
	size_t len;

	assert_non_null(msg);
	len = (size_t)sprintf(msg,
			      "Subject: long\r\n\r\nsee http://host.example/?");
	memset(msg + len, 'a', pad);
	len += pad;
	memcpy(msg + len, " end\r\n", 7);
	len += 7;
	t = spam_max(*state, msg, len, 0);
	assert_int_equal(t->uris_len, KR_MIME_SPAM_URI_MAX + 1);
	assert_memory_equal(t->uris, "http://host.example/?aaa", 24);
	free(msg);
}

/* URIs are kept whole or not at all, within the cap. */
static void
test_mime_spam_uris_cap(void **state)
{
	static const char msg[] = "Subject: u\r\n\r\n"
				  "http://a.example/ http://bb.example/\r\n";
	const struct kr_mime_spam_text *t;

	/* "http://a.example/\n" is 18 bytes, the other 19. */
	t = spam_max(*state, msg, strlen(msg), 37);
	assert_string_equal(t->uris, "http://a.example/\nhttp://bb.example/\n");
	t = spam_max(*state, msg, strlen(msg), 36);
	assert_string_equal(t->uris, "http://a.example/\n");
}

static void
test_mime_spam_hash(void **state)
{
	static const char m1[] = "To: a@example.org\r\nSubject: Hi\r\n\r\n"
				 "The same   text\r\n";
	static const char m2[] = "To: b@example.org\r\nSubject: Hi\r\n"
				 "Content-Transfer-Encoding: base64\r\n\r\n"
				 "VGhlIHNhbWUgdGV4dA==\r\n";
	static const char m3[] = "To: a@example.org\r\nSubject: Hi\r\n\r\n"
				 "The same text!\r\n";
	const struct kr_mime_spam_text *t1 = spam(*state, m1);
	const struct kr_mime_spam_text *t2 = spam(*state, m2);
	const struct kr_mime_spam_text *t3 = spam(*state, m3);

	assert_string_equal(t1->body, "Hi\nThe same text");
	assert_string_equal(t2->body, t1->body);
	assert_true(t1->body_hash == t2->body_hash);
	assert_true(t1->body_hash != t3->body_hash);
	assert_true(t1->body_hash != 0);
}

/* Bytes that are not UTF-8 come out as valid UTF-8 (check_part());
 * a NUL hides nothing after it. */
static void
test_mime_spam_invalid_utf8(void **state)
{
	static const char msg[] = "Subject: bad \xff\xfe bytes\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "\r\n"
				  "one \xc3 two \xf0\x9f three\x00 four\r\n";
	const struct kr_mime_spam_text *t =
		spam_max(*state, msg, sizeof(msg) - 1, 0);

	assert_non_null(strstr(t->rawbody, "one "));
	assert_non_null(strstr(t->rawbody, " two "));
	assert_non_null(strstr(t->body, " three four"));
	assert_non_null(strstr(t->headers, "Subject: bad "));
}

/* Text parts the summary lists as attachments are read too, attached
 * messages' ones included; other parts are not. */
static void
test_mime_spam_attached_text(void **state)
{
	static const char msg[] =
		"Subject: att\r\n"
		"Content-Type: multipart/mixed; boundary=b4\r\n"
		"\r\n"
		"--b4\r\n"
		"Content-Type: text/plain\r\n"
		"\r\n"
		"main\r\n"
		"--b4\r\n"
		"Content-Type: text/plain; name=notes.txt\r\n"
		"Content-Disposition: attachment; filename=notes.txt\r\n"
		"\r\n"
		"attached text http://att.example/\r\n"
		"--b4\r\n"
		"Content-Type: application/octet-stream\r\n"
		"\r\n"
		"binary http://bin.example/\r\n"
		"--b4\r\n"
		"Content-Type: message/rfc822\r\n"
		"\r\n"
		"Subject: inner\r\n"
		"\r\n"
		"inner text\r\n"
		"--b4--\r\n";
	const struct kr_mime_spam_text *t = spam(*state, msg);

	assert_string_equal(t->body, "att\nmain\nattached text "
				     "http://att.example/\ninner text");
	assert_string_equal(t->uris, "http://att.example/\n");
	assert_null(strstr(t->headers, "inner"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mime_spam_plain, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_off, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_html, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_alternative,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_encodings, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_rfc2047, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_uris, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_uris_count,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_cap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_uri_long, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_uris_cap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_hash, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_invalid_utf8,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_spam_attached_text,
						setup, teardown),
	};
	int rc;

	kr_mime_init();
	rc = cmocka_run_group_tests_name("mime_spam", tests, NULL, NULL);
	kr_mime_shutdown();
	return rc;
}
