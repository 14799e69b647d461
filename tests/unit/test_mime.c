/* cmocka tests for proto/mime. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "proto/mime.h"
#include "tests/utf8_check.h"

/* ---- helpers ------------------------------------------------------------ */

static void
check_str(const char *s)
{
	if (s != NULL && !utf8_check(s, strlen(s)))
		fail_msg("invalid UTF-8 out: \"%s\"", s);
}

static void
check_addr(const struct kr_mime_addr *a)
{
	check_str(a->name);
	check_str(a->email);
}

static void
check_summary(const struct kr_mime_summary *sum)
{
	check_addr(&sum->from);
	for (unsigned i = 0; i < sum->n_to; i++)
		check_addr(&sum->to[i]);
	for (unsigned i = 0; i < sum->n_cc; i++)
		check_addr(&sum->cc[i]);
	check_str(sum->subject);
	check_str(sum->date_utc);
	check_str(sum->message_id);
	check_str(sum->in_reply_to);
	check_str(sum->references);
	check_str(sum->preview);
	check_str(sum->search_text);
	assert_non_null(sum->search_text);
	for (unsigned i = 0; i < sum->n_attachments; i++) {
		const struct kr_mime_attachment *a = &sum->attachments[i];

		assert_non_null(a->part);
		assert_non_null(a->type);
		check_str(a->part);
		check_str(a->filename);
		check_str(a->type);
		check_str(a->content_id);
	}
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

static struct kr_mime_summary *
parse_lim(struct kr_arena *a, const char *msg, size_t len,
	  const struct kr_mime_limits *lim)
{
	struct kr_mime_summary *sum = NULL;
	struct kr_err err = { 0 };

	assert_int_equal(kr_mime_parse(msg, len, lim, a, &sum, &err), 0);
	assert_non_null(sum);
	check_summary(sum);
	return sum;
}

static struct kr_mime_summary *
parse(struct kr_arena *a, const char *msg)
{
	return parse_lim(a, msg, strlen(msg), NULL);
}

/* kr_mime_part with default limits; returns its result. */
static int
get_part(struct kr_arena *a, const char *msg, size_t len, const char *path,
	 const void **data, size_t *n, const char **name, const char **type)
{
	struct kr_err err = { 0 };
	int rc = kr_mime_part(msg, len, path, NULL, a, data, n, name, type,
			      &err);

	if (rc < 0) {
		assert_int_equal(err.kind, KR_ERR_NOT_FOUND);
		return rc;
	}
	assert_non_null(*data);
	assert_non_null(*type);
	check_str(*name);
	check_str(*type);
	return rc;
}

static void
body_text(struct kr_arena *a, const char *msg, size_t len,
	  const struct kr_mime_limits *lim, const char **text,
	  const char **html)
{
	struct kr_err err = { 0 };

	assert_int_equal(kr_mime_body_text(msg, len, lim, a, text, html, &err),
			 0);
	check_str(*text);
	check_str(*html);
}

/* A header list entry: an ASCII name without a colon, a UTF-8 value. */
static void
check_header(const struct kr_mime_header *h)
{
	assert_non_null(h->name);
	assert_non_null(h->value);
	for (const char *c = h->name; *c != '\0'; c++)
		if (*c <= ' ' || *c >= 0x7f || *c == ':')
			fail_msg("bad header name: \"%s\"", h->name);
	check_str(h->value);
}

/* kr_mime_headers, which must succeed; every entry checked. */
static const struct kr_mime_header *
headers_lim(struct kr_arena *a, const char *msg, size_t len,
	    const struct kr_mime_limits *lim, unsigned *n, bool *limited)
{
	const struct kr_mime_header *h = NULL;
	struct kr_err err = { 0 };

	assert_int_equal(
		kr_mime_headers(msg, len, lim, a, &h, n, limited, &err), 0);
	assert_true((*n == 0) == (h == NULL));
	for (unsigned i = 0; i < *n; i++)
		check_header(&h[i]);
	return h;
}

/* The list of msg with default limits, which are not reached. */
static const struct kr_mime_header *
headers(struct kr_arena *a, const char *msg, unsigned *n)
{
	bool limited = true;
	const struct kr_mime_header *h =
		headers_lim(a, msg, strlen(msg), NULL, n, &limited);

	assert_false(limited);
	return h;
}

/* h[0..n) is the list of want[] ("name", "value", ..., NULL). */
static void
check_headers(const struct kr_mime_header *h, unsigned n,
	      const char *const *want)
{
	unsigned k = 0;

	for (; want[2 * k] != NULL; k++) {
		assert_true(k < n);
		assert_string_equal(h[k].name, want[2 * k]);
		assert_string_equal(h[k].value, want[2 * k + 1]);
	}
	assert_int_equal(n, k);
}

/* A growable string for generated messages. */
struct sb {
	char *p;
	size_t len, cap;
};

static void sb_addf(struct sb *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
sb_addf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	va_start(ap, fmt);
	(void)vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* ---- test messages ------------------------------------------------------ */

static const char msg_alternative[] =
	"From: Alice <alice@example.com>\r\n"
	"To: Bob <bob@example.org>\r\n"
	"Subject: Report\r\n"
	"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
	"Message-ID: <report-1@example.com>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
	"\r\n"
	"This is a multi-part message in MIME format.\r\n"
	"--outer\r\n"
	"Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
	"\r\n"
	"--alt\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Caf=C3=A9 numbers   attached.=\r\n"
	" See you.\r\n"
	"--alt\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"\r\n"
	"<html><body><p>Caf&#233; htmlonlyword</p></body></html>\r\n"
	"--alt--\r\n"
	"--outer\r\n"
	"Content-Type: application/pdf; name=\"report.pdf\"\r\n"
	"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"JVBERi0xLjQgdGVzdAo=\r\n"
	"--outer\r\n"
	"Content-Type: image/png; name=\"=?utf-8?q?gr=C3=BC=C3=9Fe.png?=\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"iVBORw0KGgo=\r\n"
	"--outer--\r\n";

static const char msg_html_only[] =
	"Subject: html\r\n"
	"Content-Type: text/html; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"<html><head><title>T</title><style>p{color:red}</style></head>"
	"<body><!-- hidden --><script>var x=3D1;</script>=\r\n"
	"<p>Hello&nbsp;<b>W=F6rld</b> &amp; &lt;friends&gt; &#8364;5 "
	"&#x263A; &bogus;</p></body></html>\r\n";

static const char msg_broken_boundary[] =
	"Subject: broken\r\n"
	"Content-Type: multipart/mixed; boundary=\"right\"\r\n"
	"\r\n"
	"--wrong\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"hello there\r\n"
	"--wrong--\r\n";

static const char msg_missing_end[] =
	"Subject: cut\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"first part\r\n"
	"--b\r\n"
	"Content-Type: application/zip; name=a.zip\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"UEsDBAoAAAAAA";

static const char msg_headers_only[] = "From: a@example.com\r\n"
				       "Subject: only headers\r\n";

static const char msg_nested[] =
	"Subject: fwd\r\n"
	"Content-Type: multipart/mixed; boundary=o\r\n"
	"\r\n"
	"--o\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"outer text\r\n"
	"--o\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"From: in@example.com\r\n"
	"Content-Type: multipart/mixed; boundary=i\r\n"
	"\r\n"
	"--i\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"inner text\r\n"
	"--i\r\n"
	"Content-Type: application/octet-stream; name=inner.bin\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"AAECAw==\r\n"
	"--i--\r\n"
	"--o--\r\n";

/* The attached message is base64 and has a single-part body. */
static const char msg_nested_b64[] =
	"Subject: fwd2\r\n"
	"Content-Type: multipart/mixed; boundary=o\r\n"
	"\r\n"
	"--o\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"see attached\r\n"
	"--o\r\n"
	"Content-Type: message/rfc822; name=\"old.eml\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	/* "Subject: old\r\n\r\nold body\r\n" */
	"U3ViamVjdDogb2xkDQoNCm9sZCBib2R5DQo=\r\n"
	"--o--\r\n";

static const char msg_addresses[] =
	"From: \"Doe, John\" <john@example.com>, second@example.com\r\n"
	"To: =?utf-8?q?J=C3=BCrgen?= <j@example.de>, plain@example.org,\r\n"
	" =?utf-8?B?SGVsbG8=?= =?utf-8?B?IHdvcmxk?= <hw@example.org>,\r\n"
	" Team: a@x.org, \"B\" <b@x.org>;, undisclosed-recipients:;\r\n"
	"Cc: <c@example.net>\r\n"
	"Subject: addresses\r\n"
	"\r\n"
	"body\r\n";

static const char msg_invalid_utf8[] =
	"From: \"N\xff\xfe\" <x\x80@example.com>\r\n"
	"To: =?utf-8?b?/w==?= <y@example.com>\r\n"
	"Subject: bad \xc3\x28 \xed\xa0\x80 \xf8\x88\x80\x80\x80 end\r\n"
	"Message-ID: <\xc3@x>\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"\r\n"
	"ok \xc0\xaf \xe2\x82 nul\x01 \x7f end\r\n"
	"--b\r\n"
	"Content-Type: application/x-bad; name=\"f\xff.bin\"\r\n"
	"Content-ID: <\xfe@x>\r\n"
	"\r\n"
	"data\r\n"
	"--b--\r\n";

/* ---- headers ---------------------------------------------------------------
 */

static const struct {
	const char *raw; /* the Subject field's value */
	const char *want;
} subjects[] = {
	{ "=?UTF-8?B?w7xiZXIgdGVzdA==?=", "\xc3\xbc"
					  "ber test" },
	{ "=?utf-8?Q?caf=C3=A9_au_lait?=", "caf\xc3\xa9 au lait" },
	{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard" },
	{ "=?ISO-8859-2?Q?=BF=F3=B3w?=", "\xc5\xbc\xc3\xb3\xc5\x82w" },
	{ "=?KOI8-R?B?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5"
				   "\xd1\x82" },
	{ "=?windows-1252?Q?=80uro_=93q=94?=",
	  "\xe2\x82\xac"
	  "uro \xe2\x80\x9cq\xe2\x80\x9d" },
	{ "=?Shift_JIS?B?g2WDWINn?=", "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88" },
	/* Adjacent encoded words join, also across a fold. */
	{ "=?utf-8?q?a?= =?utf-8?q?b?=", "ab" },
	/* Padded words in a run (GMime 3.2.13 lost the rest of them). */
	{ "=?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?=", "Hello world" },
	{ "=?UTF-8?B?SGVsbG8=?==?UTF-8?B?IHdvcmxk?=", "Hello world" },
	{ "=?UTF-8?B?SGVs?= =?UTF-8?B?bG8g?= =?UTF-8?B?d29ybGQ=?=",
	  "Hello world" },
	{ "=?UTF-8?B?SGVsbG8=?= plain", "Hello plain" },
	{ "odd =?= text", "odd =?= text" },
	{ "=?utf-8?q?Hello_?=\r\n =?utf-8?q?World?=", "Hello World" },
	{ "=?utf-8?B?R3LDvA==?=\r\n\t=?utf-8?B?w59l?=", "Gr\xc3\xbc\xc3\x9f"
							"e" },
	/* Unencoded 8-bit: UTF-8 stays, the rest is taken as cp1252. */
	{ "Za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87", "Za\xc5\xbc\xc3\xb3\xc5\x82"
						"\xc4\x87" },
	{ "Caf\xe9", "Caf\xc3\xa9" },
	{ "  folded\r\n   twice  ", "folded twice" },
	{ "", "" },
	/* Unknown charsets and broken words: anything valid. */
	{ "=?x-unknown?q?abc?=", NULL },
	{ "=?utf-8?B?////?=", NULL },
	{ "=?utf-8?Q?=FF=FE?= x", NULL },
	{ "=?utf-8?q?unterminated", NULL },
};

static void
test_mime_subject_charsets(void **state)
{
	struct kr_arena *a = *state;

	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		struct sb b = { 0 };
		struct kr_mime_summary *sum;

		sb_addf(&b,
			"Subject: %s\r\nFrom: x@example.com\r\n\r\nbody\r\n",
			subjects[i].raw);
		sum = parse_lim(a, b.p, b.len, NULL);
		assert_non_null(sum->subject);
		if (subjects[i].want != NULL)
			assert_string_equal(sum->subject, subjects[i].want);
		assert_non_null(strstr(sum->search_text, sum->subject));
		free(b.p);
		kr_arena_reset(a);
	}
}

static const struct {
	const char *fields; /* Content-Type / Content-Disposition */
	const char *want;
} filenames[] = {
	{ "Content-Type: application/octet-stream\r\n"
	  "Content-Disposition: attachment;\r\n"
	  " filename*0*=utf-8''%C5%BC%C3%B3%C5%82;\r\n"
	  " filename*1*=%C4%87.txt",
	  "\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87.txt" },
	{ "Content-Type: application/pdf\r\n"
	  "Content-Disposition: attachment; filename*0=\"very long \";\r\n"
	  " filename*1=\"name.pdf\"",
	  "very long name.pdf" },
	{ "Content-Type: text/plain\r\n"
	  "Content-Disposition: attachment;\r\n"
	  " filename*=iso-8859-1'en'r%E9sum%E9.txt",
	  "r\xc3\xa9sum\xc3\xa9.txt" },
	{ "Content-Type: application/octet-stream;\r\n"
	  " name=\"=?utf-8?B?R3LDvMOfZS5kb2M=?=\"",
	  "Gr\xc3\xbc\xc3\x9f"
	  "e.doc" },
	{ "Content-Type: image/jpeg; name=photo.jpg", "photo.jpg" },
	{ "Content-Type: application/octet-stream\r\n"
	  "Content-Disposition: attachment; filename=\"=?UTF-8?B?SGVsbG8=?=\r\n"
	  " =?UTF-8?B?IHdvcmxkLnR4dA==?=\"",
	  "Hello world.txt" },
	{ "Content-Type: application/octet-stream;\r\n"
	  " name=\"=?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxkLnR4dA==?=\"",
	  "Hello world.txt" },
	{ "Content-Type: application/octet-stream\r\n"
	  "Content-Disposition: attachment; filename*=utf-8''%FF%FE.bin",
	  NULL },
	{ "Content-Type: application/octet-stream", NULL },
};

static void
test_mime_rfc2231_filenames(void **state)
{
	struct kr_arena *a = *state;

	for (size_t i = 0; i < sizeof(filenames) / sizeof(filenames[0]); i++) {
		struct sb b = { 0 };
		struct kr_mime_summary *sum;

		sb_addf(&b,
			"Subject: f\r\n"
			"Content-Type: multipart/mixed; boundary=z\r\n\r\n"
			"--z\r\nContent-Type: text/plain\r\n\r\nsee\r\n"
			"--z\r\n%s\r\n\r\nDATA\r\n--z--\r\n",
			filenames[i].fields);
		sum = parse_lim(a, b.p, b.len, NULL);
		assert_int_equal(sum->n_attachments, 1);
		assert_string_equal(sum->attachments[0].part, "2");
		assert_true(sum->has_attachments);
		if (filenames[i].want != NULL) {
			assert_non_null(sum->attachments[0].filename);
			assert_string_equal(sum->attachments[0].filename,
					    filenames[i].want);
			assert_non_null(
				strstr(sum->search_text, filenames[i].want));
		}
		free(b.p);
		kr_arena_reset(a);
	}
}

static void
test_mime_addresses(void **state)
{
	struct kr_mime_summary *sum = parse(*state, msg_addresses);

	assert_string_equal(sum->from.name, "Doe, John");
	assert_string_equal(sum->from.email, "john@example.com");
	assert_false(sum->limited); /* two From mailboxes are legal */
	assert_int_equal(sum->n_to, 5);
	assert_string_equal(sum->to[0].name, "J\xc3\xbcrgen");
	assert_string_equal(sum->to[0].email, "j@example.de");
	assert_null(sum->to[1].name);
	assert_string_equal(sum->to[1].email, "plain@example.org");
	assert_string_equal(sum->to[2].name, "Hello world");
	assert_string_equal(sum->to[2].email, "hw@example.org");
	assert_null(sum->to[3].name);
	assert_string_equal(sum->to[3].email, "a@x.org");
	assert_string_equal(sum->to[4].name, "B");
	assert_string_equal(sum->to[4].email, "b@x.org");
	assert_int_equal(sum->n_cc, 1);
	assert_null(sum->cc[0].name);
	assert_string_equal(sum->cc[0].email, "c@example.net");
	assert_non_null(strstr(sum->search_text, "J\xc3\xbcrgen"));
	assert_non_null(strstr(sum->search_text, "c@example.net"));
}

static const struct {
	const char *raw;
	long long unix_s; /* -1: no date */
	int tz;
	const char *utc;
} dates[] = {
	{ "Tue, 1 Jul 2003 10:52:37 +0200", 1057049557, 120,
	  "2003-07-01T08:52:37Z" },
	{ "Fri, 21 Nov 1997 09:55:06 -0600 (CST)", 880127706, -360,
	  "1997-11-21T15:55:06Z" },
	{ "1 Jan 2024 00:00:00 GMT", 1704067200, 0, "2024-01-01T00:00:00Z" },
	{ "garbage", -1, 0, NULL },
	{ "31 Feb 2020 99:99:99 +9999", -1, 0, NULL },
	{ "", -1, 0, NULL },
};

static void
test_mime_dates(void **state)
{
	struct kr_arena *a = *state;

	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		struct sb b = { 0 };
		struct kr_mime_summary *sum;

		sb_addf(&b, "Date: %s\r\nSubject: d\r\n\r\nx\r\n",
			dates[i].raw);
		sum = parse_lim(a, b.p, b.len, NULL);
		if (dates[i].unix_s < 0) {
			assert_false(sum->has_date);
			assert_null(sum->date_utc);
		} else {
			assert_true(sum->has_date);
			assert_int_equal((long long)sum->date, dates[i].unix_s);
			assert_int_equal(sum->date_tz, dates[i].tz);
			assert_string_equal(sum->date_utc, dates[i].utc);
		}
		free(b.p);
		kr_arena_reset(a);
	}
	assert_false(parse(a, "Subject: no date\r\n\r\nx\r\n")->has_date);
}

static void
test_mime_message_ids(void **state)
{
	struct kr_mime_summary *sum =
		parse(*state, "Message-ID:  <abc.123@example.com> \r\n"
			      "In-Reply-To: <parent@example.com> (comment)\r\n"
			      "References: <root@example.com>\r\n"
			      "  garbage <mid@example.com>\r\n"
			      " <parent@example.com>\r\n"
			      "Subject: ids\r\n\r\nx\r\n");

	assert_string_equal(sum->message_id, "abc.123@example.com");
	assert_string_equal(sum->in_reply_to, "parent@example.com");
	assert_string_equal(sum->references, "root@example.com "
					     "mid@example.com "
					     "parent@example.com");
	sum = parse(*state, "Subject: none\r\n\r\nx\r\n");
	assert_null(sum->message_id);
	assert_null(sum->in_reply_to);
	assert_null(sum->references);
}

/* ---- structure ---------------------------------------------------------- */

static void
test_mime_alternative_with_attachments(void **state)
{
	struct kr_arena *a = *state;
	struct kr_mime_summary *sum = parse(a, msg_alternative);
	const char *text, *html, *name, *type;
	const void *data;
	size_t n;

	assert_false(sum->malformed);
	assert_false(sum->limited);
	assert_string_equal(sum->subject, "Report");
	assert_string_equal(sum->from.email, "alice@example.com");
	assert_string_equal(sum->message_id, "report-1@example.com");
	assert_string_equal(sum->preview, "Caf\xc3\xa9 numbers attached. "
					  "See you.");
	assert_true(sum->has_attachments);
	assert_int_equal(sum->n_attachments, 2);
	assert_string_equal(sum->attachments[0].part, "2");
	assert_string_equal(sum->attachments[0].filename, "report.pdf");
	assert_string_equal(sum->attachments[0].type, "application/pdf");
	assert_int_equal(sum->attachments[0].size, 14);
	assert_false(sum->attachments[0].is_inline);
	assert_string_equal(sum->attachments[1].part, "3");
	assert_string_equal(sum->attachments[1].filename, "gr\xc3\xbc\xc3\x9f"
							  "e.png");
	assert_string_equal(sum->attachments[1].type, "image/png");
	assert_int_equal(sum->attachments[1].size, 8);
	/* Search text: headers, names, the plain part but not the HTML. */
	assert_non_null(strstr(sum->search_text, "Report"));
	assert_non_null(strstr(sum->search_text, "bob@example.org"));
	assert_non_null(strstr(sum->search_text, "report.pdf"));
	/* The terms it is indexed by: lower-cased, split, each once. */
	assert_string_equal(sum->search_terms,
			    "report alice example com bob org pdf "
			    "gr\xc3\xbc\xc3\x9f"
			    "e png caf\xc3\xa9 numbers "
			    "attached see you");
	assert_non_null(strstr(sum->search_text, "numbers attached"));
	assert_null(strstr(sum->search_text, "htmlonlyword"));

	body_text(a, msg_alternative, strlen(msg_alternative), NULL, &text,
		  &html);
	assert_string_equal(text, "Caf\xc3\xa9 numbers   attached. See you.");
	assert_string_equal(html, "<html><body><p>Caf&#233; htmlonlyword"
				  "</p></body></html>");

	assert_int_equal(get_part(a, msg_alternative, strlen(msg_alternative),
				  "2", &data, &n, &name, &type),
			 0);
	assert_int_equal(n, 14);
	assert_memory_equal(data, "%PDF-1.4 test\n", 14);
	assert_string_equal(name, "report.pdf");
	assert_string_equal(type, "application/pdf");
	assert_int_equal(get_part(a, msg_alternative, strlen(msg_alternative),
				  "1.2", &data, &n, &name, &type),
			 0);
	assert_string_equal(type, "text/html");
	assert_null(name);
	/* The multipart/alternative container is not a part to fetch. */
	assert_int_equal(get_part(a, msg_alternative, strlen(msg_alternative),
				  "1", &data, &n, &name, &type),
			 -1);
	assert_int_equal(get_part(a, msg_alternative, strlen(msg_alternative),
				  "4", &data, &n, &name, &type),
			 -1);
}

static void
test_mime_html_only(void **state)
{
	struct kr_arena *a = *state;
	struct kr_mime_summary *sum = parse(a, msg_html_only);
	const char *text, *html;

	assert_string_equal(sum->preview,
			    "Hello W\xc3\xb6rld & <friends> \xe2\x82\xac"
			    "5 \xe2\x98\xba &bogus;");
	assert_false(sum->has_attachments);
	assert_non_null(strstr(sum->search_text, "Hello W\xc3\xb6rld"));
	assert_null(strstr(sum->search_text, "color"));
	assert_null(strstr(sum->search_text, "hidden"));
	assert_null(strstr(sum->search_text, "var x"));
	body_text(a, msg_html_only, strlen(msg_html_only), NULL, &text, &html);
	assert_null(text);
	assert_non_null(html);
	assert_non_null(strstr(html, "<b>W\xc3\xb6rld</b>"));
}

static void
test_mime_broken_boundary(void **state)
{
	struct kr_arena *a = *state;
	struct kr_mime_summary *sum = parse(a, msg_broken_boundary);
	const char *text, *html;

	assert_true(sum->malformed);
	assert_string_equal(sum->subject, "broken");
	assert_non_null(sum->preview);
	assert_non_null(strstr(sum->preview, "hello there"));
	body_text(a, msg_broken_boundary, strlen(msg_broken_boundary), NULL,
		  &text, &html);
	assert_non_null(text);
	assert_non_null(strstr(text, "hello there"));

	sum = parse(a, msg_missing_end);
	assert_true(sum->malformed);
	assert_string_equal(sum->preview, "first part");
	assert_int_equal(sum->n_attachments, 1);
	assert_string_equal(sum->attachments[0].filename, "a.zip");

	/* No boundary parameter at all. */
	sum = parse(a, "Subject: nb\r\nContent-Type: multipart/mixed\r\n\r\n"
		       "just text\r\n");
	assert_true(sum->malformed);
	assert_string_equal(sum->preview, "just text");
}

static void
test_mime_headers_only(void **state)
{
	struct kr_arena *a = *state;
	struct kr_mime_summary *sum = parse(a, msg_headers_only);
	const char *text, *html;

	assert_false(sum->malformed);
	assert_string_equal(sum->subject, "only headers");
	assert_string_equal(sum->from.email, "a@example.com");
	assert_false(sum->has_attachments);
	assert_true(sum->preview == NULL || sum->preview[0] == '\0');
	body_text(a, msg_headers_only, strlen(msg_headers_only), NULL, &text,
		  &html);
	assert_true(text == NULL || text[0] == '\0');
	assert_null(html);

	sum = parse(a, "Subject: empty body\r\n\r\n");
	assert_false(sum->malformed);
	assert_true(sum->preview == NULL || sum->preview[0] == '\0');
}

static void
test_mime_unreadable(void **state)
{
	struct kr_arena *a = *state;
	struct kr_mime_summary *sum = parse_lim(a, "", 0, NULL);

	assert_true(sum->malformed);
	assert_null(sum->subject);
	sum = parse(a, "no header here\r\njust words\r\n");
	assert_true(sum->malformed);
	assert_null(sum->subject);
	/* An mbox From_ line in front is not the message. */
	sum = parse(a, "From someone@example.com Mon Jan  1 00:00:00 2024\n"
		       "Subject: mbox\n\nhi\n");
	assert_false(sum->malformed);
	assert_string_equal(sum->subject, "mbox");
	assert_string_equal(sum->preview, "hi");
}

static const struct {
	const char *type;
	const char *body;
	const char *want;
} bodies[] = {
	{ "text/plain; charset=iso-8859-2",
	  "Za\xbf\xf3\xb3\xe6 g\xea\xb6l\xb1 ja\xbc\xf1",
	  "Za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87 g\xc4\x99\xc5\x9bl\xc4\x85 "
	  "ja\xc5\xba\xc5\x84" },
	{ "text/plain; charset=\"KOI8-R\"", "\xed\xcf\xd3\xcb\xd7\xc1",
	  "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0" },
	{ "text/plain; charset=windows-1252", "\x93quoted\x94 \x80",
	  "\xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x82\xac" },
	/* Undeclared, mislabelled and unknown charsets: the fallbacks. */
	{ "text/plain", "Caf\xe9", "Caf\xc3\xa9" },
	{ "text/plain; charset=utf-8", "Caf\xe9", "Caf\xc3\xa9" },
	{ "text/plain; charset=us-ascii", "Caf\xe9", "Caf\xc3\xa9" },
	{ "text/plain; charset=x-nonsense", "Caf\xe9", "Caf\xc3\xa9" },
	{ "text/plain; charset=utf-8", "Caf\xc3\xa9", "Caf\xc3\xa9" },
};

static void
test_mime_8bit_charsets(void **state)
{
	struct kr_arena *a = *state;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct sb b = { 0 };
		struct kr_mime_summary *sum;
		const char *text, *html;

		sb_addf(&b,
			"Subject: 8bit\r\nContent-Type: %s\r\n"
			"Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
			bodies[i].type, bodies[i].body);
		sum = parse_lim(a, b.p, b.len, NULL);
		assert_string_equal(sum->preview, bodies[i].want);
		body_text(a, b.p, b.len, NULL, &text, &html);
		/* The message's last line end is the text's. */
		assert_non_null(text);
		assert_int_equal(strlen(text), strlen(bodies[i].want) + 1);
		assert_memory_equal(text, bodies[i].want, strlen(text) - 1);
		assert_int_equal(text[strlen(text) - 1], '\n');
		free(b.p);
		kr_arena_reset(a);
	}
}

/* A message with a part in each transfer encoding; bin in base64. */
static void
build_encodings(struct sb *b, const unsigned char *bin, size_t n)
{
	gchar *b64 = g_base64_encode(bin, n);

	sb_addf(b,
		"Subject: enc\r\n"
		"Content-Type: multipart/mixed; boundary=e\r\n\r\n"
		"--e\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		"soft=\r\nbreak =E9t=E9 =3D equals\r\nline two\r\n"
		"--e\r\nContent-Type: text/html; charset=utf-8\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\n"
		"PHA+R3LDvMOfZTwvcD4=\r\n"
		"--e\r\nContent-Type: application/octet-stream; "
		"name=all.bin\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\n%.76s\r\n%s\r\n"
		"--e\r\nContent-Type: application/octet-stream; name=qp.bin\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		"=00=01=FFab=\r\ncd\r\n"
		"--e\r\nContent-Type: application/octet-stream; name=u.bin\r\n"
		"Content-Transfer-Encoding: x-uuencode\r\n\r\n"
		"begin 644 u.bin\r\n#86)C\r\n`\r\nend\r\n"
		"--e--\r\n",
		b64, strlen(b64) > 76 ? b64 + 76 : "");
	g_free(b64);
}

static void
test_mime_transfer_encodings(void **state)
{
	struct kr_arena *a = *state;
	unsigned char bin[600];
	struct sb b = { 0 };
	struct kr_mime_summary *sum;
	const char *text, *html, *name, *type;
	const void *data;
	size_t n;

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7 + i / 256);
	build_encodings(&b, bin, sizeof(bin));

	body_text(a, b.p, b.len, NULL, &text, &html);
	assert_string_equal(text, "softbreak \xc3\xa9t\xc3\xa9 = equals\n"
				  "line two");
	assert_string_equal(html, "<p>Gr\xc3\xbc\xc3\x9f"
				  "e</p>");

	sum = parse_lim(a, b.p, b.len, NULL);
	assert_int_equal(sum->n_attachments, 3);
	assert_int_equal(sum->attachments[0].size, sizeof(bin));
	assert_int_equal(sum->attachments[1].size, 7);
	assert_int_equal(sum->attachments[2].size, 3);

	/* Byte-exact round trips. */
	assert_int_equal(get_part(a, b.p, b.len, "3", &data, &n, &name, &type),
			 0);
	assert_int_equal(n, sizeof(bin));
	assert_memory_equal(data, bin, sizeof(bin));
	assert_string_equal(name, "all.bin");
	assert_string_equal(type, "application/octet-stream");
	assert_int_equal(get_part(a, b.p, b.len, "4", &data, &n, &name, &type),
			 0);
	assert_int_equal(n, 7);
	assert_memory_equal(data,
			    "\x00\x01\xff"
			    "abcd",
			    7);
	assert_int_equal(get_part(a, b.p, b.len, "5", &data, &n, &name, &type),
			 0);
	assert_int_equal(n, 3);
	assert_memory_equal(data, "abc", 3);
	/* A text part comes out transfer-decoded but not converted. */
	assert_int_equal(get_part(a, b.p, b.len, "1", &data, &n, &name, &type),
			 0);
	assert_string_equal(type, "text/plain");
	assert_memory_equal(data, "softbreak \xe9t\xe9", 12);
	free(b.p);
}

static void
test_mime_nested_rfc822(void **state)
{
	struct kr_arena *a = *state;
	size_t len = strlen(msg_nested);
	struct kr_mime_summary *sum = parse(a, msg_nested);
	const char *name, *type;
	const void *data;
	size_t n;

	assert_false(sum->malformed);
	assert_string_equal(sum->subject, "fwd");
	assert_string_equal(sum->preview, "outer text");
	/* The attached message is the attachment, not its parts. */
	assert_int_equal(sum->n_attachments, 1);
	assert_string_equal(sum->attachments[0].part, "2");
	assert_string_equal(sum->attachments[0].type, "message/rfc822");
	assert_true(sum->has_attachments);
	assert_non_null(strstr(sum->search_text, "inner text"));

	assert_int_equal(
		get_part(a, msg_nested, len, "2", &data, &n, &name, &type), 0);
	assert_string_equal(type, "message/rfc822");
	assert_int_equal(n, sum->attachments[0].size);
	assert_true(n > 15 && memcmp(data, "Subject: inner\r\n", 16) == 0);
	assert_int_equal(
		get_part(a, msg_nested, len, "2.1", &data, &n, &name, &type),
		0);
	assert_int_equal(n, 10);
	assert_memory_equal(data, "inner text", 10);
	assert_int_equal(
		get_part(a, msg_nested, len, "2.2", &data, &n, &name, &type),
		0);
	assert_int_equal(n, 4);
	assert_memory_equal(data, "\x00\x01\x02\x03", 4);
	assert_string_equal(name, "inner.bin");
	assert_int_equal(
		get_part(a, msg_nested, len, "2.3", &data, &n, &name, &type),
		-1);
	assert_int_equal(
		get_part(a, msg_nested, len, "1", &data, &n, &name, &type), 0);
	assert_memory_equal(data, "outer text", 10);
	for (size_t i = 0; i < 5; i++) {
		static const char *const bad[] = { "", "0", "3", "1.1", "x" };

		assert_int_equal(get_part(a, msg_nested, len, bad[i], &data, &n,
					  &name, &type),
				 -1);
	}

	/* base64-encoded, single-part body: that body is "2.1". */
	sum = parse(a, msg_nested_b64);
	assert_int_equal(sum->n_attachments, 1);
	assert_string_equal(sum->attachments[0].filename, "old.eml");
	assert_non_null(strstr(sum->search_text, "old body"));
	assert_int_equal(get_part(a, msg_nested_b64, strlen(msg_nested_b64),
				  "2.1", &data, &n, &name, &type),
			 0);
	assert_int_equal(n, 10);
	assert_memory_equal(data, "old body\r\n", 10);
}

static void
test_mime_related_inline(void **state)
{
	struct kr_mime_summary *sum = parse(
		*state,
		"Subject: newsletter\r\n"
		"Content-Type: multipart/related; boundary=r\r\n\r\n"
		"--r\r\nContent-Type: text/html\r\n\r\n"
		"<img src=\"cid:logo@x\"> News\r\n"
		"--r\r\nContent-Type: image/gif\r\nContent-ID: <logo@x>\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\nR0lGODlh\r\n"
		"--r--\r\n");

	assert_int_equal(sum->n_attachments, 1);
	assert_true(sum->attachments[0].is_inline);
	assert_string_equal(sum->attachments[0].content_id, "logo@x");
	assert_false(sum->has_attachments);
	assert_string_equal(sum->preview, "News");
}

/* ---- limits ------------------------------------------------------------- */

/* k nested multiparts around one attachment (k >= 1). */
static void
build_nested(struct sb *b, unsigned k)
{
	sb_addf(b, "Subject: deep\r\n"
		   "Content-Type: multipart/mixed; boundary=b1\r\n\r\n");
	for (unsigned i = 1; i < k; i++)
		sb_addf(b,
			"--b%u\r\nContent-Type: multipart/mixed; "
			"boundary=b%u\r\n\r\n",
			i, i + 1);
	sb_addf(b,
		"--b%u\r\nContent-Type: application/octet-stream; "
		"name=deep.bin\r\n\r\nx\r\n--b%u--\r\n",
		k, k);
	for (unsigned i = k - 1; i >= 1; i--)
		sb_addf(b, "--b%u--\r\n", i);
}

static void
check_depth(struct kr_arena *a, unsigned k, unsigned depth_max, bool pass)
{
	struct kr_mime_limits lim;
	struct kr_mime_summary *sum;
	struct sb b = { 0 };

	kr_mime_limits_init(&lim);
	lim.depth_max = depth_max;
	build_nested(&b, k);
	sum = parse_lim(a, b.p, b.len, &lim);
	assert_false(sum->malformed);
	if (pass) {
		struct sb path = { 0 };

		sb_addf(&path, "1");
		for (unsigned i = 1; i < k; i++)
			sb_addf(&path, ".1");
		assert_false(sum->limited);
		assert_int_equal(sum->n_attachments, 1);
		assert_string_equal(sum->attachments[0].part, path.p);
		free(path.p);
	} else {
		assert_true(sum->limited);
		assert_int_equal(sum->n_attachments, 0);
	}
	free(b.p);
	kr_arena_reset(a);
}

static void
test_mime_depth_limit(void **state)
{
	check_depth(*state, 3, 3, true);
	check_depth(*state, 3, 2, false);
	check_depth(*state, KR_MIME_DEPTH_MAX_DEFAULT,
		    KR_MIME_DEPTH_MAX_DEFAULT, true);
	check_depth(*state, KR_MIME_DEPTH_MAX_DEFAULT + 1,
		    KR_MIME_DEPTH_MAX_DEFAULT, false);
}

static void
test_mime_depth_limit_attached(void **state)
{
	struct kr_mime_limits lim;
	struct kr_mime_summary *sum;

	/* msg_nested: "inner text" sits inside multipart (1), the message
	 * part (2) and its multipart body (3). */
	kr_mime_limits_init(&lim);
	lim.depth_max = 3;
	sum = parse_lim(*state, msg_nested, strlen(msg_nested), &lim);
	assert_false(sum->limited);
	assert_non_null(strstr(sum->search_text, "inner text"));
	lim.depth_max = 2;
	sum = parse_lim(*state, msg_nested, strlen(msg_nested), &lim);
	assert_true(sum->limited);
	assert_null(strstr(sum->search_text, "inner text"));
	assert_int_equal(sum->n_attachments, 1);
}

static void
build_parts(struct sb *b, unsigned n)
{
	sb_addf(b, "Subject: parts\r\n"
		   "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (unsigned i = 0; i < n; i++)
		sb_addf(b,
			"--p\r\nContent-Type: application/x-n; name=n%u\r\n"
			"\r\n%u\r\n",
			i, i);
	sb_addf(b, "--p--\r\n");
}

static void
test_mime_parts_limit(void **state)
{
	struct kr_arena *a = *state;
	struct kr_mime_limits lim;
	struct kr_mime_summary *sum;
	struct sb b = { 0 };

	build_parts(&b, 10);
	kr_mime_limits_init(&lim);
	lim.parts_max = 11; /* ten parts and their multipart */
	sum = parse_lim(a, b.p, b.len, &lim);
	assert_false(sum->limited);
	assert_int_equal(sum->n_attachments, 10);
	lim.parts_max = 10;
	sum = parse_lim(a, b.p, b.len, &lim);
	assert_true(sum->limited);
	assert_int_equal(sum->n_attachments, 9);
	free(b.p);

	b = (struct sb){ 0 };
	build_parts(&b, KR_MIME_PARTS_MAX_DEFAULT - 1);
	sum = parse_lim(a, b.p, b.len, NULL);
	assert_false(sum->limited);
	assert_int_equal(sum->n_attachments, KR_MIME_PARTS_MAX_DEFAULT - 1);
	free(b.p);
	b = (struct sb){ 0 };
	build_parts(&b, KR_MIME_PARTS_MAX_DEFAULT);
	sum = parse_lim(a, b.p, b.len, NULL);
	assert_true(sum->limited);
	free(b.p);
}

/* More "--" lines than the parts budget lets GMime see. */
static void
test_mime_dash_lines_limit(void **state)
{
	struct kr_mime_limits lim;
	struct kr_mime_summary *sum;
	struct sb b = { 0 };
	const size_t budget = 4 * 1 + 1024;

	kr_mime_limits_init(&lim);
	lim.parts_max = 1;
	sb_addf(&b, "Subject: dashes\r\n\r\n");
	for (size_t i = 0; i < budget; i++)
		sb_addf(&b, "-- line\r\n");
	sum = parse_lim(*state, b.p, b.len, &lim);
	assert_false(sum->limited);
	sb_addf(&b, "-- one more\r\n");
	sum = parse_lim(*state, b.p, b.len, &lim);
	assert_true(sum->limited);
	assert_string_equal(sum->subject, "dashes");
	free(b.p);
}

static void
test_mime_content_field_limit(void **state)
{
	static const char head[] = "Content-Type: text/plain; x=";

	for (int over = 0; over <= 1; over++) {
		size_t fill = KR_MIME_CONTENT_FIELD_MAX - (sizeof(head) - 1) -
			      2 + (size_t)over;
		struct sb b = { 0 };
		struct kr_mime_summary *sum;

		sb_addf(&b, "Subject: long\r\n%s", head);
		for (size_t i = 0; i < fill; i++)
			sb_addf(&b, "a");
		sb_addf(&b, "\r\n\r\nbody\r\n");
		sum = parse_lim(*state, b.p, b.len, NULL);
		assert_int_equal(sum->limited, over);
		assert_string_equal(sum->subject, "long");
		free(b.p);
	}
}

/* Content-* fields in all: 128 of 8 KiB fill the budget exactly. */
static void
test_mime_content_bytes_limit(void **state)
{
	static const char head[] = "Content-X-Pad: ";
	const size_t field = KR_MIME_CONTENT_BYTES_MAX / 128;

	for (int over = 0; over <= 1; over++) {
		struct sb b = { 0 };
		struct kr_mime_summary *sum;

		sb_addf(&b, "Subject: pad\r\n");
		for (int i = 0; i < 128; i++) {
			size_t fill = field - (sizeof(head) - 1) - 2 +
				      (i == 127 ? (size_t)over : 0);

			sb_addf(&b, "%s%0*d\r\n", head, (int)fill, 0);
		}
		sb_addf(&b, "\r\nbody\r\n");
		sum = parse_lim(*state, b.p, b.len, NULL);
		assert_int_equal(sum->limited, over);
		assert_string_equal(sum->subject, "pad");
		free(b.p);
	}
}

static void
test_mime_headers_limit(void **state)
{
	struct kr_mime_limits lim;
	struct kr_mime_summary *sum;
	struct sb b = { 0 };

	sb_addf(&b, "Subject: many\r\n");
	for (int i = 0; i < 9; i++)
		sb_addf(&b, "X-H%d: v\r\n", i);
	sb_addf(&b, "\r\nbody\r\n");
	kr_mime_limits_init(&lim);
	lim.headers_max = 10;
	sum = parse_lim(*state, b.p, b.len, &lim);
	assert_false(sum->limited);
	assert_string_equal(sum->preview, "body");
	lim.headers_max = 9;
	sum = parse_lim(*state, b.p, b.len, &lim);
	assert_true(sum->limited);
	assert_string_equal(sum->subject, "many");
	free(b.p);
}

static void
test_mime_addrs_limit(void **state)
{
	struct kr_mime_limits lim;
	struct kr_mime_summary *sum;
	struct sb b = { 0 };

	sb_addf(&b, "To: u0@example.com");
	for (int i = 1; i < 5; i++)
		sb_addf(&b, ",\r\n u%d@example.com", i);
	sb_addf(&b, "\r\nCc: group: c0@x.org, c1@x.org, c2@x.org;\r\n"
		    "Subject: a\r\n\r\nx\r\n");
	kr_mime_limits_init(&lim);
	lim.addrs_max = 5;
	sum = parse_lim(*state, b.p, b.len, &lim);
	assert_false(sum->limited);
	assert_int_equal(sum->n_to, 5);
	assert_int_equal(sum->n_cc, 3);
	assert_string_equal(sum->to[4].email, "u4@example.com");
	lim.addrs_max = 4;
	sum = parse_lim(*state, b.p, b.len, &lim);
	assert_true(sum->limited);
	assert_int_equal(sum->n_to, 4);
	assert_string_equal(sum->to[3].email, "u3@example.com");
	free(b.p);
}

static void
test_mime_refs_limit(void **state)
{
	static const char msg[] = "References: <r1@x> <r2@x>\r\n <r3@x>\r\n"
				  "Subject: r\r\n\r\nx\r\n";
	struct kr_mime_limits lim;
	struct kr_mime_summary *sum;

	kr_mime_limits_init(&lim);
	lim.refs_max = 3;
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_false(sum->limited);
	assert_string_equal(sum->references, "r1@x r2@x r3@x");
	lim.refs_max = 2;
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_true(sum->limited);
	assert_string_equal(sum->references, "r2@x r3@x");
}

static void
test_mime_text_limits(void **state)
{
	/* "żółwie": six characters, nine bytes. */
	static const char msg[] = "Subject: \xc5\xbc\xc3\xb3\xc5\x82wie\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "\r\n\xc5\xbc\xc3\xb3\xc5\x82wie\r\n";
	struct kr_mime_limits lim;
	struct kr_mime_summary *sum;

	kr_mime_limits_init(&lim);
	lim.preview_max = 6;
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_string_equal(sum->preview, "\xc5\xbc\xc3\xb3\xc5\x82wie");
	lim.preview_max = 5;
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_string_equal(sum->preview, "\xc5\xbc\xc3\xb3\xc5\x82wi");
	lim.preview_max = 2; /* a cut between two-byte characters */
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_string_equal(sum->preview, "\xc5\xbc\xc3\xb3");

	/* Byte limits never split a character. */
	lim.header_text_max = 5;
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_string_equal(sum->subject, "\xc5\xbc\xc3\xb3");
	lim.header_text_max = 9;
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_string_equal(sum->subject, "\xc5\xbc\xc3\xb3\xc5\x82wie");
	lim.header_text_max = 8;
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_string_equal(sum->subject, "\xc5\xbc\xc3\xb3\xc5\x82wi");
	kr_mime_limits_init(&lim);
	lim.search_text_max = 9;
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_string_equal(sum->search_text, "\xc5\xbc\xc3\xb3\xc5\x82wie");
	lim.search_text_max = 8;
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_string_equal(sum->search_text, "\xc5\xbc\xc3\xb3\xc5\x82wi");
	lim.search_text_max = 3;
	sum = parse_lim(*state, msg, strlen(msg), &lim);
	assert_string_equal(sum->search_text, "\xc5\xbc");
}

static void
test_mime_body_text_limit(void **state)
{
	static const char msg[] = "Subject: b\r\n\r\n\xc5\xbc\xc3\xb3\xc5\x82w";
	struct kr_mime_limits lim;
	const char *text, *html;

	kr_mime_limits_init(&lim);
	lim.body_text_max = 7;
	body_text(*state, msg, strlen(msg), &lim, &text, &html);
	assert_string_equal(text, "\xc5\xbc\xc3\xb3\xc5\x82w");
	lim.body_text_max = 6;
	body_text(*state, msg, strlen(msg), &lim, &text, &html);
	assert_string_equal(text, "\xc5\xbc\xc3\xb3\xc5\x82");
	lim.body_text_max = 5;
	body_text(*state, msg, strlen(msg), &lim, &text, &html);
	assert_string_equal(text, "\xc5\xbc\xc3\xb3");
}

static void
test_mime_arena_full(void **state)
{
	(void)state;
	/* Every allocation can fail: the result is LIMIT, nothing leaks. */
	for (size_t cap = 0; cap < 8192; cap += 32) {
		struct kr_arena *a = kr_arena_create(256, cap, false);
		struct kr_mime_summary *sum = NULL;
		struct kr_err err = { 0 };
		const char *text, *html;
		const struct kr_mime_header *h;
		unsigned n;
		bool limited;
		int rc = kr_mime_parse(msg_alternative, strlen(msg_alternative),
				       NULL, a, &sum, &err);

		if (rc < 0) {
			assert_int_equal(err.kind, KR_ERR_LIMIT);
			assert_null(sum);
		} else {
			check_summary(sum);
		}
		kr_arena_reset(a);
		rc = kr_mime_body_text(msg_alternative, strlen(msg_alternative),
				       NULL, a, &text, &html, &err);
		if (rc < 0)
			assert_int_equal(err.kind, KR_ERR_LIMIT);
		kr_arena_reset(a);
		rc = kr_mime_headers(msg_alternative, strlen(msg_alternative),
				     NULL, a, &h, &n, &limited, &err);
		if (rc < 0) {
			assert_int_equal(err.kind, KR_ERR_LIMIT);
			assert_null(h);
			assert_int_equal(n, 0);
		} else {
			assert_int_equal(n, 7);
		}
		kr_arena_destroy(&a);
	}
}

static void
test_mime_invalid_utf8_out(void **state)
{
	struct kr_arena *a = *state;
	struct kr_mime_summary *sum = parse(a, msg_invalid_utf8);
	const char *text, *html, *name, *type;
	const void *data;
	size_t n;

	/* parse() checked every string; the bad ones became U+FFFD. */
	assert_non_null(sum->subject);
	assert_non_null(strstr(sum->subject, "\xef\xbf\xbd"));
	assert_non_null(strstr(sum->subject, "end"));
	assert_int_equal(sum->n_attachments, 1);
	body_text(a, msg_invalid_utf8, strlen(msg_invalid_utf8), NULL, &text,
		  &html);
	assert_non_null(text);
	assert_int_equal(get_part(a, msg_invalid_utf8, strlen(msg_invalid_utf8),
				  "2", &data, &n, &name, &type),
			 0);
	assert_memory_equal(data, "data", 4);
}

/* ---- header list ---------------------------------------------------------
 */

static void
test_mime_headers_order(void **state)
{
	static const char *const want[] = {
		"Received",
		"from a by b; Mon, 1 Jan 2024 00:00:02 +0000",
		"Received",
		"from c by a; Mon, 1 Jan 2024 00:00:01 +0000",
		"From",
		"Alice <alice@example.com>",
		"to",
		"Bob <bob@example.org>",
		"Subject",
		"Plain",
		"X-Empty",
		"",
		"MIME-Version",
		"1.0",
		"x-Odd!#$%&'*+-.^_`{|}~Name",
		"v",
		NULL,
	};
	static const char msg[] =
		"Received: from a by b; Mon, 1 Jan 2024 00:00:02 +0000\r\n"
		"Received: from c by a; Mon, 1 Jan 2024 00:00:01 +0000\r\n"
		"From: Alice <alice@example.com>\r\n"
		"to: Bob <bob@example.org>\r\n"
		"Subject:Plain\r\n"
		"X-Empty:\r\n"
		"MIME-Version:   1.0   \r\n"
		"x-Odd!#$%&'*+-.^_`{|}~Name: v\r\n"
		"\r\n"
		"Not-A-Header: body\r\n";
	const struct kr_mime_header *h;
	unsigned n;

	h = headers(*state, msg, &n);
	check_headers(h, n, want);
}

/* Only the message's own block: not a part's, not an attached one's. */
static void
test_mime_headers_nested(void **state)
{
	static const char *const want_nested[] = {
		"Subject", "fwd", "Content-Type", "multipart/mixed; boundary=o",
		NULL,
	};
	static const char *const want_alt[] = {
		"From",		"Alice <alice@example.com>",
		"To",		"Bob <bob@example.org>",
		"Subject",	"Report",
		"Date",		"Tue, 1 Jul 2003 10:52:37 +0200",
		"Message-ID",	"<report-1@example.com>",
		"MIME-Version", "1.0",
		"Content-Type", "multipart/mixed; boundary=\"outer\"",
		NULL,
	};
	const struct kr_mime_header *h;
	unsigned n;

	h = headers(*state, msg_nested, &n);
	check_headers(h, n, want_nested);
	h = headers(*state, msg_alternative, &n);
	check_headers(h, n, want_alt);
}

static const struct {
	const char *raw; /* a field's value as written */
	const char *want;
} header_values[] = {
	{ "plain text", "plain text" },
	/* Unfolding keeps the white space of the fold, nothing else. */
	{ "folded\r\n across\r\n\tthree lines", "folded across\tthree lines" },
	{ "  a  b\t\tc  ", "a  b\t\tc" },
	{ "\r\n starts on the next line", "starts on the next line" },
	{ "trailing fold\r\n \r\n\t", "trailing fold" },
	/* RFC 2047 in two charsets and encodings, words joined. */
	{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard" },
	{ "=?UTF-8?B?w7xiZXIgdGVzdA==?=", "\xc3\xbc"
					  "ber test" },
	{ "=?utf-8?q?a?= =?utf-8?q?b?=", "ab" },
	{ "=?UTF-8?B?SGVsbG8=?=\r\n =?UTF-8?B?IHdvcmxk?=", "Hello world" },
	{ "=?utf-8?q?_spaced_?=", "spaced" },
	/* 8-bit text: UTF-8 if valid, windows-1252 if not. */
	{ "Za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87", "Za\xc5\xbc\xc3\xb3\xc5\x82"
						"\xc4\x87" },
	{ "Caf\xe9", "Caf\xc3\xa9" },
	{ "\x93quoted\x94", "\xe2\x80\x9cquoted\xe2\x80\x9d" },
	/* Broken words and bytes: anything valid. */
	{ "bad \xc3\x28 \xed\xa0\x80 \xf8\x88\x80\x80\x80 end", NULL },
	{ "=?utf-8?B?/w==?= =?utf-8?Q?=FF=FE?=", NULL },
	{ "=?x-unknown?q?abc?= =?utf-8?q?unterminated", NULL },
	{ "", "" },
};

static void
test_mime_headers_values(void **state)
{
	struct kr_arena *a = *state;

	for (size_t i = 0; i < sizeof(header_values) / sizeof(header_values[0]);
	     i++) {
		struct sb b = { 0 };
		const struct kr_mime_header *h;
		unsigned n;

		sb_addf(&b, "X-Test:%s\r\nSubject: next\r\n\r\nbody\r\n",
			header_values[i].raw);
		h = headers(a, b.p, &n);
		assert_int_equal(n, 2);
		assert_string_equal(h[0].name, "X-Test");
		if (header_values[i].want != NULL)
			assert_string_equal(h[0].value, header_values[i].want);
		assert_string_equal(h[1].value, "next");
		free(b.p);
		kr_arena_reset(a);
	}
}

/* NULs go; bad bytes become U+FFFD or windows-1252 text. */
static void
test_mime_headers_8bit(void **state)
{
	static const char msg[] = "A: x\0y\r\nB\0: z\r\nC: \0\r\n\r\n";
	const struct kr_mime_header *h;
	unsigned n;
	bool limited;

	h = headers_lim(*state, msg, sizeof(msg) - 1, NULL, &n, &limited);
	assert_int_equal(n, 2); /* "B\0" is not a field name */
	assert_string_equal(h[0].value, "xy");
	assert_string_equal(h[1].name, "C");
	assert_string_equal(h[1].value, "");
	h = headers(*state, msg_invalid_utf8, &n);
	assert_int_equal(n, 5);
	assert_string_equal(h[0].name, "From");
	assert_string_equal(h[2].name, "Subject");
	assert_non_null(strstr(h[2].value, "bad "));
	assert_non_null(strstr(h[2].value, " end"));
}

/* CRLF, bare LF and an mbox From_ line: the same list. */
static void
test_mime_headers_line_ends(void **state)
{
	static const char *const want[] = {
		"Subject", "one two", "To", "a@example.com", "X", "", NULL,
	};
	static const char *const msgs[] = {
		"Subject: one\r\n two\r\nTo: a@example.com\r\nX:\r\n\r\nB: "
		"b\r\n",
		"Subject: one\n two\nTo: a@example.com\nX:\n\nB: b\n",
		"Subject: one\r\n two\nTo: a@example.com\r\nX:\n\r\nB: b\n",
		"From a@example.com Mon Jan  1 00:00:00 2024\n"
		"Subject: one\n two\nTo: a@example.com\nX:\n\nB: b\n",
		/* No body, no final line end. */
		"Subject: one\n two\nTo: a@example.com\nX:",
		"Subject: one\r\n two\r\nTo: a@example.com\r\nX:\r",
	};

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		const struct kr_mime_header *h;
		unsigned n;

		h = headers(*state, msgs[i], &n);
		check_headers(h, n, want);
	}
}

static void
test_mime_headers_no_block(void **state)
{
	static const char *const msgs[] = {
		"",
		"\r\nSubject: in the body\r\n",
		"\nSubject: in the body\n",
		"no header here\r\njust words\r\n",
		" a continuation of nothing: x\r\n\r\n",
		": no name\r\n",
		"From someone@example.com Mon Jan  1 00:00:00 2024\n\nbody\n",
		"From someone@example.com Mon Jan  1 00:00:00 2024",
	};

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		unsigned n = 1;

		assert_null(headers(*state, msgs[i], &n));
		assert_int_equal(n, 0);
	}
	{
		unsigned n = 1;
		bool limited = true;

		assert_null(headers_lim(*state, NULL, 0, NULL, &n, &limited));
		assert_int_equal(n, 0);
		assert_false(limited);
	}
}

/* Lines that start no field are dropped (with their continuation
 * lines), or end the block after a Content-Type field, as in GMime. */
static void
test_mime_headers_invalid_lines(void **state)
{
	static const char *const want1[] = {
		"Subject", "s", "To", "t@example.com", NULL,
	};
	static const char *const want2[] = {
		"Subject", "s", "Content-Type", "text/plain", NULL,
	};
	static const char msg1[] = "junk before\r\n"
				   "Subject: s\r\n"
				   "Bad Name: x\r\n"
				   " continues the bad one\r\n"
				   "Subject : obsolete space\r\n"
				   "N\xc3\xa4me: eight bit\r\n"
				   "To: t@example.com\r\n"
				   "\r\nbody\r\n";
	static const char msg2[] = "Subject: s\r\n"
				   "content-type: text/plain\r\n"
				   "Hello, no empty line before the body.\r\n"
				   "Not: a field\r\n";
	const struct kr_mime_header *h;
	unsigned n;

	h = headers(*state, msg1, &n);
	check_headers(h, n, want1);
	h = headers(*state, msg2, &n);
	assert_int_equal(n, 2);
	assert_string_equal(h[1].name, "content-type");
	assert_string_equal(h[1].value, want2[3]);
}

static void
test_mime_headers_count_limit(void **state)
{
	struct kr_mime_limits lim;
	const struct kr_mime_header *h;
	struct sb b = { 0 };
	unsigned n;
	bool limited;

	for (int i = 0; i < 10; i++)
		sb_addf(&b, "X-H%d: v%d\r\n", i, i);
	sb_addf(&b, "\r\nbody\r\n");
	kr_mime_limits_init(&lim);
	lim.headers_max = 10;
	h = headers_lim(*state, b.p, b.len, &lim, &n, &limited);
	assert_false(limited);
	assert_int_equal(n, 10);
	assert_string_equal(h[9].value, "v9");
	lim.headers_max = 9;
	h = headers_lim(*state, b.p, b.len, &lim, &n, &limited);
	assert_true(limited);
	assert_int_equal(n, 9);
	assert_string_equal(h[8].name, "X-H8");
	lim.headers_max = 0;
	h = headers_lim(*state, b.p, b.len, &lim, &n, &limited);
	assert_true(limited);
	assert_int_equal(n, 0);
	assert_null(h);
	free(b.p);
}

static void
test_mime_headers_text_limit(void **state)
{
	/* "żółwie": six characters, nine bytes. */
	static const char msg[] = "Subject: \xc5\xbc\xc3\xb3\xc5\x82wie\r\n"
				  "Q: =?ISO-8859-2?Q?=BF=F3=B3wie?=\r\n"
				  "Sp: ab cd\r\n"
				  "Long-Name: x\r\n\r\n";
	static const struct {
		size_t max;
		const char *want;
	} cuts[] = {
		{ 9, "\xc5\xbc\xc3\xb3\xc5\x82wie" },
		{ 8, "\xc5\xbc\xc3\xb3\xc5\x82wi" },
		{ 6, "\xc5\xbc\xc3\xb3\xc5\x82" },
		{ 5, "\xc5\xbc\xc3\xb3" }, /* not inside the "ł" */
		{ 1, "" },
		{ 0, "" },
	};
	struct kr_mime_limits lim;
	const struct kr_mime_header *h;
	struct sb b = { 0 };
	unsigned n;
	bool limited;

	kr_mime_limits_init(&lim);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		lim.header_text_max = cuts[i].max;
		h = headers_lim(*state, msg, strlen(msg), &lim, &n, &limited);
		assert_false(limited); /* a cut is not a limit */
		assert_int_equal(n, 4);
		assert_string_equal(h[0].value, cuts[i].want);
		assert_string_equal(h[1].value, cuts[i].want);
		assert_true(strlen(h[3].name) <= cuts[i].max);
	}
	lim.header_text_max = 3; /* "ab " loses its space */
	h = headers_lim(*state, msg, strlen(msg), &lim, &n, &limited);
	assert_string_equal(h[2].value, "ab");
	assert_string_equal(h[3].name, "Lon");

	/* A long folded field: the default cut, at a character. */
	sb_addf(&b, "Subject: ");
	for (int i = 0; i < 2000; i++)
		sb_addf(&b, "\xc3\xa9%s", i % 50 == 49 ? "\r\n " : "");
	sb_addf(&b, "\r\nTo: after@example.com\r\n\r\nbody\r\n");
	h = headers_lim(*state, b.p, b.len, NULL, &n, &limited);
	assert_int_equal(n, 2);
	assert_true(strlen(h[0].value) <= KR_MIME_HEADER_TEXT_MAX_DEFAULT);
	assert_true(strlen(h[0].value) >= KR_MIME_HEADER_TEXT_MAX_DEFAULT - 3);
	assert_string_equal(h[1].value, "after@example.com");
	free(b.p);
}

/* ---- threads ----------------------------------------------------------------
 */

struct thread_job {
	const char *want; /* search_text of msg_alternative */
	int failures;
};

static void *
thread_parse(void *ctx)
{
	struct thread_job *job = ctx;
	struct kr_arena *a = kr_arena_create(16 << 10, 0, false);

	for (int i = 0; i < 200; i++) {
		struct kr_mime_summary *sum = NULL;
		struct kr_err err;

		const struct kr_mime_header *h;
		unsigned n;
		bool limited;

		if (kr_mime_parse(msg_alternative, strlen(msg_alternative),
				  NULL, a, &sum, &err) < 0 ||
		    strcmp(sum->search_text, job->want) != 0)
			job->failures++;
		if (kr_mime_headers(msg_alternative, strlen(msg_alternative),
				    NULL, a, &h, &n, &limited, &err) < 0 ||
		    n != 7 || strcmp(h[2].value, "Report") != 0)
			job->failures++;
		kr_arena_reset(a);
	}
	kr_arena_destroy(&a);
	return NULL;
}

/* Any thread, after kr_mime_init(): the same results side by side. */
static void
test_mime_threads(void **state)
{
	struct kr_mime_summary *sum = parse(*state, msg_alternative);
	struct thread_job jobs[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct thread_job){ .want = sum->search_text };
		assert_int_equal(
			pthread_create(&t[i], NULL, thread_parse, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(jobs[i].failures, 0);
	}
}

/* ---- robustness ------------------------------------------------------------
 */

static uint64_t
rnd(uint64_t *s)
{
	/* xorshift64: deterministic across platforms. */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Runs every entry point over msg[0..len) and checks what comes out. */
static void
exercise(struct kr_arena *a, const char *msg, size_t len)
{
	static const char *const paths[] = { "1", "2", "1.1", "2.1", "3" };
	struct kr_mime_summary *sum = NULL;
	struct kr_err err = { 0 };
	const char *text, *html, *name, *type;
	const void *data;
	size_t n;

	const struct kr_mime_header *h;
	unsigned n_h;
	bool limited;

	assert_int_equal(kr_mime_parse(msg, len, NULL, a, &sum, &err), 0);
	check_summary(sum);
	body_text(a, msg, len, NULL, &text, &html);
	h = headers_lim(a, msg, len, NULL, &n_h, &limited);
	(void)h;
	for (unsigned i = 0; i < sum->n_attachments; i++)
		assert_int_equal(get_part(a, msg, len, sum->attachments[i].part,
					  &data, &n, &name, &type),
				 0);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		(void)get_part(a, msg, len, paths[i], &data, &n, &name, &type);
	kr_arena_reset(a);
}

/* Random truncations and byte flips of msg, seeded. */
static void
mutate(struct kr_arena *a, const char *msg, size_t len, uint64_t seed)
{
	char *buf = malloc(len + 1);
	uint64_t s = seed * 2654435761u + 1;

	assert_non_null(buf);
	exercise(a, msg, len);
	for (int round = 0; round < 60; round++) {
		size_t n = len;
		uint64_t op = rnd(&s) % 3;

		memcpy(buf, msg, len);
		if (op != 1 && len > 0)
			n = rnd(&s) % (len + 1);
		if (op != 0 && n > 0)
			for (uint64_t k = rnd(&s) % 8 + 1; k > 0; k--)
				buf[rnd(&s) % n] = (char)(rnd(&s) & 0xff);
		exercise(a, buf, n);
	}
	free(buf);
}

static const char *const all_messages[] = {
	msg_alternative, msg_html_only,	   msg_broken_boundary,
	msg_missing_end, msg_headers_only, msg_nested,
	msg_nested_b64,	 msg_addresses,	   msg_invalid_utf8,
};

static void
test_mime_mutations(void **state)
{
	for (size_t i = 0; i < sizeof(all_messages) / sizeof(all_messages[0]);
	     i++)
		mutate(*state, all_messages[i], strlen(all_messages[i]), i);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mime_subject_charsets,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_rfc2231_filenames,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_addresses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_dates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_message_ids, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_mime_alternative_with_attachments, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_mime_html_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_broken_boundary,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_unreadable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_8bit_charsets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_transfer_encodings,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_nested_rfc822, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_related_inline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_depth_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_depth_limit_attached,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_parts_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_dash_lines_limit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_content_field_limit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_content_bytes_limit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_addrs_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_refs_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_text_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_body_text_limit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_nested, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_values, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_8bit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_line_ends,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_no_block,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_invalid_lines,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_count_limit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_headers_text_limit,
						setup, teardown),
		cmocka_unit_test(test_mime_arena_full),
		cmocka_unit_test_setup_teardown(test_mime_invalid_utf8_out,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_threads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mime_mutations, setup,
						teardown),
	};
	int rc;

	kr_mime_init();
	rc = cmocka_run_group_tests_name("mime", tests, NULL, NULL);
	kr_mime_shutdown();
	return rc;
}
