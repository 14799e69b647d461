/* cmocka tests for proto/lmtp: a whole conversation fed at once, byte
 * by byte and in random chunks with the same output; pipelining with
 * late answers; DATA dot-stuffing and line endings; BDAT; every limit
 * at and one past its value; command order; XFORWARD; STARTTLS;
 * QUIT, timeouts, backpressure. (tests/run.sh replays the fuzz corpus
 * through tests/fuzz/fuzz_lmtp.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/lmtp.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define S(lit) lit, sizeof(lit) - 1

#define GREETING "220 mx.test LMTP kurier ready\r\n"
/* xf_sep is ' ' when XFORWARD is the last capability. */
#define LHLO_REPLY(xf_sep, tls, chunking)                              \
	"250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n" \
	"250-8BITMIME\r\n250-SIZE 52428800\r\n250" xf_sep              \
	"XFORWARD NAME ADDR PROTO HELO\r\n" tls chunking
#define LHLO_DEFAULT LHLO_REPLY("-", "", "250 CHUNKING\r\n")
#define LHLO_TLS LHLO_REPLY("-", "250-STARTTLS\r\n", "250 CHUNKING\r\n")
#define LHLO_REPLY_NO_XF                                               \
	"250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n" \
	"250-8BITMIME\r\n250-SIZE 52428800\r\n250 CHUNKING\r\n"
#define OK "250 2.0.0 Ok\r\n"
#define MAIL_OK "250 2.1.0 Ok\r\n"
#define RCPT_OK "250 2.1.5 Ok\r\n"
#define GO_AHEAD "354 Start mail input; end with <CRLF>.<CRLF>\r\n"

/* A growable byte string for captured output and the event log. */
struct buf {
	char *p;
	size_t len, cap;
};

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n + 1) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
buf_addf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(tmp));
	buf_add(b, tmp, (size_t)n);
}

static void
buf_clear(struct buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

static const char *
buf_str(const struct buf *b)
{
	return b->p != NULL ? b->p : "";
}

/* Drives a session like a server that answers at once: replies go to
 * out, events to log, answers come from the scripted lists (then OK). */
struct drv {
	struct kr_lmtp *s;
	struct buf out, log;
	const enum kr_lmtp_rcpt_result *rcpt_res;
	size_t rcpt_n, rcpt_i;
	const enum kr_lmtp_deliver_result *del_res;
	size_t del_n, del_i;
	bool closed;
};

static void
test_settings(struct kr_lmtp_settings *set)
{
	kr_lmtp_settings_init(set);
	set->hostname = "mx.test";
	/* As for an allowed client; test_lmtp_xforward_refused has it off. */
	set->xforward = true;
}

static void
drv_init(struct drv *d, const struct kr_lmtp_settings *set)
{
	struct kr_lmtp_settings def;

	memset(d, 0, sizeof(*d));
	if (set == NULL) {
		test_settings(&def);
		set = &def;
	}
	d->s = kr_lmtp_create(set);
}

static void
drv_done(struct drv *d)
{
	kr_lmtp_destroy(&d->s);
	assert_null(d->s);
	free(d->out.p);
	free(d->log.p);
}

static void
drv_drain(struct drv *d)
{
	const void *data;
	size_t len;

	while (kr_lmtp_output(d->s, &data, &len)) {
		buf_add(&d->out, data, len);
		kr_lmtp_output_consume(d->s, len);
	}
}

static const char *
opt(const char *s)
{
	return s != NULL ? s : "-";
}

static void
drv_log_message(struct drv *d, const struct kr_lmtp_message *m)
{
	buf_addf(&d->log, "MSG from=<%s> to=", m->mail_from);
	for (size_t i = 0; i < m->rcpt_count; i++)
		buf_addf(&d->log, "%s%s", i > 0 ? "," : "",
			 m->rcpts[i].address);
	buf_addf(&d->log, " 8bit=%d xf=%s/%s/%s/%s/%d\n", m->body_8bitmime,
		 opt(m->xforward.name), opt(m->xforward.addr),
		 opt(m->xforward.proto), opt(m->xforward.helo),
		 m->xforward.name_tempunavail);
	buf_add(&d->log, m->data, m->size);
	buf_add(&d->log, "|END\n", 5);
}

static void
drv_answer(struct drv *d)
{
	const struct kr_lmtp_event *ev = kr_lmtp_event(d->s);
	enum kr_lmtp_deliver_result res[256];

	assert_non_null(ev);
	switch (ev->kind) {
	case KR_LMTP_EV_RCPT:
		buf_addf(&d->log, "RCPT %s|%s|%s|%s\n", ev->rcpt.address,
			 ev->rcpt.local, opt(ev->rcpt.detail), ev->rcpt.domain);
		kr_lmtp_answer_rcpt(d->s, d->rcpt_i < d->rcpt_n
						  ? d->rcpt_res[d->rcpt_i++]
						  : KR_LMTP_RCPT_OK);
		break;
	case KR_LMTP_EV_MESSAGE:
		drv_log_message(d, &ev->message);
		assert_true(ev->message.rcpt_count <= ARRAY_LEN(res));
		for (size_t i = 0; i < ev->message.rcpt_count; i++)
			res[i] = d->del_i < d->del_n ? d->del_res[d->del_i++]
						     : KR_LMTP_DELIVER_OK;
		kr_lmtp_answer_message(d->s, res, ev->message.rcpt_count);
		break;
	case KR_LMTP_EV_STARTTLS:
		buf_addf(&d->log, "STARTTLS\n");
		kr_lmtp_tls_started(d->s);
		break;
	case KR_LMTP_EV_QUIT:
		buf_addf(&d->log, "QUIT\n");
		d->closed = true;
		break;
	}
}

static unsigned
lcg(unsigned *st)
{
	*st = *st * 1103515245u + 12345u;
	return (*st >> 16) & 0x7fff;
}

/* Feeds in pieces of max_piece bytes (random 1..max_piece when seed is
 * not 0), answering every event before going on. */
static void
drv_feed(struct drv *d, const char *in, size_t len, size_t max_piece,
	 unsigned seed)
{
	size_t pos = 0;
	unsigned st = seed;

	while (pos < len && !d->closed) {
		size_t piece = seed != 0 ? 1 + lcg(&st) % max_piece : max_piece;
		size_t end = piece >= len - pos ? len : pos + piece;

		while (pos < end && !d->closed) {
			size_t used = SIZE_MAX;
			int r = kr_lmtp_feed(d->s, in + pos, end - pos, &used);

			assert_true(used <= end - pos);
			pos += used;
			drv_drain(d);
			if (kr_lmtp_event(d->s) != NULL) {
				drv_answer(d);
				drv_drain(d);
			} else if (r < 0)
				d->closed = true;
			else if (used == 0)
				fail_msg("stuck at %zu of %zu", pos, len);
		}
	}
}

/* Session with LHLO done and its output dropped. */
static void
drv_start(struct drv *d, const struct kr_lmtp_settings *set)
{
	drv_init(d, set);
	drv_feed(d, S("LHLO client.test\r\n"), SIZE_MAX, 0);
	buf_clear(&d->out);
}

struct script {
	const enum kr_lmtp_rcpt_result *rcpt;
	size_t rcpt_n;
	const enum kr_lmtp_deliver_result *del;
	size_t del_n;
};

/* Runs in after an optional LHLO whole, byte by byte and in random
 * chunks: the output (and the event log when want_log is not NULL)
 * must be the same every time. */
static void
check_run(const struct kr_lmtp_settings *set, bool lhlo, const char *in,
	  size_t len, const char *want_out, const char *want_log,
	  const struct script *sc)
{
	static const struct {
		size_t max_piece;
		unsigned seed;
	} modes[] = { { SIZE_MAX, 0 }, { 1, 0 }, { 7, 1 },
		      { 64, 2 },       { 3, 3 }, { 500, 4 } };

	for (size_t m = 0; m < ARRAY_LEN(modes); m++) {
		struct drv d;

		if (lhlo)
			drv_start(&d, set);
		else
			drv_init(&d, set);
		if (sc != NULL) {
			d.rcpt_res = sc->rcpt;
			d.rcpt_n = sc->rcpt_n;
			d.del_res = sc->del;
			d.del_n = sc->del_n;
		}
		drv_feed(&d, in, len, modes[m].max_piece, modes[m].seed);
		if (strcmp(buf_str(&d.out), want_out) != 0)
			fail_msg("mode %zu: output\n%s\nwanted\n%s", m,
				 buf_str(&d.out), want_out);
		if (want_log != NULL && strcmp(buf_str(&d.log), want_log) != 0)
			fail_msg("mode %zu: log\n%s\nwanted\n%s", m,
				 buf_str(&d.log), want_log);
		drv_done(&d);
	}
}

/* The whole conversation. */

static const char conv_in[] =
	"LHLO client.example\r\n"
	"XFORWARD NAME=mx.example ADDR=192.0.2.1\r\n"
	"XFORWARD PROTO=ESMTP HELO=[UNAVAILABLE]\r\n"
	"MAIL FROM:<sender@example.org> SIZE=100 BODY=8BITMIME\r\n"
	"RCPT TO:<alice+lists@example.com>\r\n"
	"RCPT TO:<nobody@example.com>\r\n"
	"RCPT TO:<\"bob smith\"@example.com>\r\n"
	"DATA\r\n"
	"Subject: hi\r\n"
	"\r\n"
	"..leading dot\r\n"
	"bare lf line\n"
	"8bit: \xc3\xa9\r\n"
	".\r\n"
	"MAIL FROM:<>\r\n"
	"RCPT TO:<alice@example.com>\r\n"
	"BDAT 10\r\n"
	"Subject: x"
	"BDAT 6 LAST\r\n"
	"\r\nbody"
	"VRFY alice\r\n"
	"NOOP\r\n"
	"RSET\r\n"
	"QUIT\r\n"
	"NOOP\r\n";

static const char conv_out[] = GREETING LHLO_DEFAULT OK OK MAIL_OK RCPT_OK
	"550 5.1.1 User unknown\r\n" RCPT_OK GO_AHEAD "250 2.0.0 Ok\r\n"
	"451 4.3.0 Temporary failure\r\n" MAIL_OK RCPT_OK
	"250 2.0.0 10 octets received\r\n"
	"250 2.0.0 Ok\r\n"
	"252 2.5.0 Cannot VRFY user, but will accept message and attempt "
	"delivery\r\n" OK OK "221 2.0.0 Bye\r\n";

static const char conv_log[] =
	"RCPT alice+lists@example.com|alice|lists|example.com\n"
	"RCPT nobody@example.com|nobody|-|example.com\n"
	"RCPT bob smith@example.com|bob smith|-|example.com\n"
	"MSG from=<sender@example.org> to=alice+lists@example.com,"
	"bob smith@example.com 8bit=1 xf=mx.example/192.0.2.1/ESMTP/-/0\n"
	"Subject: hi\r\n\r\n.leading dot\r\nbare lf line\r\n"
	"8bit: \xc3\xa9\r\n|END\n"
	"RCPT alice@example.com|alice|-|example.com\n"
	"MSG from=<> to=alice@example.com 8bit=0 xf=-/-/-/-/0\n"
	"Subject: x\r\nbody|END\n"
	"QUIT\n";

static void
test_lmtp_conversation_any_chunking(void **state)
{
	static const enum kr_lmtp_rcpt_result rcpt[] = { KR_LMTP_RCPT_OK,
							 KR_LMTP_RCPT_UNKNOWN,
							 KR_LMTP_RCPT_OK,
							 KR_LMTP_RCPT_OK };
	static const enum kr_lmtp_deliver_result del[] = {
		KR_LMTP_DELIVER_OK, KR_LMTP_DELIVER_TEMPFAIL, KR_LMTP_DELIVER_OK
	};
	const struct script sc = { rcpt, ARRAY_LEN(rcpt), del, ARRAY_LEN(del) };

	(void)state;
	check_run(NULL, false, S(conv_in), conv_out, conv_log, &sc);
	/* More random splits than check_run's. */
	for (unsigned seed = 10; seed < 60; seed++) {
		struct drv d;

		drv_init(&d, NULL);
		d.rcpt_res = rcpt;
		d.rcpt_n = ARRAY_LEN(rcpt);
		d.del_res = del;
		d.del_n = ARRAY_LEN(del);
		drv_feed(&d, S(conv_in), 1 + seed % 40, seed);
		assert_string_equal(buf_str(&d.out), conv_out);
		assert_string_equal(buf_str(&d.log), conv_log);
		assert_true(kr_lmtp_closed(d.s));
		drv_done(&d);
	}
}

/* Postfix pipelines MAIL, RCPT... and DATA; the answers come later. */
static void
test_lmtp_pipelined_async_rcpt(void **state)
{
	static const char in[] = "MAIL FROM:<a@b.test>\r\n"
				 "RCPT TO:<c@d.test>\r\n"
				 "RCPT TO:<e@f.test>\r\n"
				 "DATA\r\nhi\r\n.\r\nQUIT\r\n";
	static const enum kr_lmtp_deliver_result ok[] = { KR_LMTP_DELIVER_OK };
	const struct kr_lmtp_event *ev;
	size_t pos = 0, used;
	struct drv d;

	(void)state;
	drv_start(&d, NULL);
	assert_int_equal(kr_lmtp_feed(d.s, in, sizeof(in) - 1, &used), 1);
	pos += used;
	assert_int_equal(pos, strlen("MAIL FROM:<a@b.test>\r\n"
				     "RCPT TO:<c@d.test>\r\n"));
	ev = kr_lmtp_event(d.s);
	assert_non_null(ev);
	assert_int_equal(ev->kind, KR_LMTP_EV_RCPT);
	assert_string_equal(ev->rcpt.address, "c@d.test");
	/* Not answered yet: nothing more is taken. */
	assert_int_equal(
		kr_lmtp_feed(d.s, in + pos, sizeof(in) - 1 - pos, &used), 1);
	assert_int_equal(used, 0);
	drv_drain(&d);
	assert_string_equal(buf_str(&d.out), MAIL_OK);
	kr_lmtp_answer_rcpt_ref(d.s, KR_LMTP_RCPT_OK, 42);
	assert_null(kr_lmtp_event(d.s));
	assert_int_equal(
		kr_lmtp_feed(d.s, in + pos, sizeof(in) - 1 - pos, &used), 1);
	pos += used;
	ev = kr_lmtp_event(d.s);
	assert_string_equal(ev->rcpt.address, "e@f.test");
	kr_lmtp_answer_rcpt_ref(d.s, KR_LMTP_RCPT_UNKNOWN, 43);
	assert_int_equal(
		kr_lmtp_feed(d.s, in + pos, sizeof(in) - 1 - pos, &used), 1);
	pos += used;
	ev = kr_lmtp_event(d.s);
	assert_int_equal(ev->kind, KR_LMTP_EV_MESSAGE);
	assert_int_equal(ev->message.rcpt_count, 1);
	assert_string_equal(ev->message.rcpts[0].address, "c@d.test");
	assert_int_equal(ev->message.rcpts[0].ref, 42); /* the server's */
	assert_int_equal(ev->message.size, 4);
	assert_memory_equal(ev->message.data, "hi\r\n", 4);
	kr_lmtp_answer_message(d.s, ok, 1);
	assert_int_equal(
		kr_lmtp_feed(d.s, in + pos, sizeof(in) - 1 - pos, &used), -1);
	pos += used;
	assert_int_equal(pos, sizeof(in) - 1);
	drv_drain(&d);
	assert_string_equal(buf_str(&d.out), MAIL_OK RCPT_OK
			    "550 5.1.1 User unknown\r\n" GO_AHEAD
			    "250 2.0.0 Ok\r\n"
			    "221 2.0.0 Bye\r\n");
	drv_done(&d);
}

/* DATA bodies: wire bytes after "DATA" -> stored bytes. */
struct body_case {
	const char *in;
	size_t in_len;
	const char *want;
	size_t want_len;
};

static const struct body_case body_cases[] = {
	{ S("..x\r\n.\r\n"), S(".x\r\n") },
	{ S("a\r\n..\r\n.\r\n"), S("a\r\n.\r\n") },
	{ S("...\r\n.\r\n"), S("..\r\n") },
	{ S("x.\r\n .\r\n.\r\n"), S("x.\r\n .\r\n") },
	{ S(".\r\n"), S("") },
	/* Bare LF ends lines and is stored as CRLF; only CRLF "." CRLF
	 * ends the data (test_lmtp_data_end_needs_crlf for the rest). */
	{ S("a\nb\n.\nc\r\n.\r\n"), S("a\r\nb\r\n.\r\nc\r\n") },
	{ S("a\n..b\r\n.\r\n"), S("a\r\n.b\r\n") },
	/* A CR not before LF is content. */
	{ S("a\r\r\n.\r\n"), S("a\r\r\n") },
	{ S("a\rb\r\n.\r\n"), S("a\rb\r\n") },
	{ S(".\rx\r\n.\r\n"), S("\rx\r\n") },
	{ S(".\r\r\n.\r\n"), S("\r\r\n") },
	/* 8-bit bytes and NUL pass untouched. */
	{ S("\xff\x80\x00z\r\n.\r\n"), S("\xff\x80\x00z\r\n") },
	/* Only a header, no body. */
	{ S("Subject: a\r\nFrom: b\r\n.\r\n"), S("Subject: a\r\nFrom: b\r\n") },
};

static void
test_lmtp_data_dot_stuffing_and_line_ends(void **state)
{
	static const char head[] = "MAIL FROM:<a@b.test>\r\n"
				   "RCPT TO:<c@d.test>\r\nDATA\r\n";

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(body_cases); i++) {
		const struct body_case *c = &body_cases[i];
		struct buf in = { 0 }, log = { 0 };

		buf_add(&in, head, sizeof(head) - 1);
		buf_add(&in, c->in, c->in_len);
		buf_add(&in, S("NOOP\r\n"));
		buf_addf(&log, "RCPT c@d.test|c|-|d.test\n"
			       "MSG from=<a@b.test> to=c@d.test 8bit=0 "
			       "xf=-/-/-/-/0\n");
		buf_add(&log, c->want, c->want_len);
		buf_add(&log, S("|END\n"));
		check_run(NULL, true, in.p, in.len,
			  MAIL_OK RCPT_OK GO_AHEAD "250 2.0.0 Ok\r\n" OK, log.p,
			  NULL);
		free(in.p);
		free(log.p);
	}
}

/* RFC 5321 §4.1.1.4: only CRLF "." CRLF ends DATA. A "." line that a
 * bare LF ends or follows is content and keeps its dot; what comes
 * after it is more of the message, never commands (CVE-2023-51764).
 * check_run feeds each whole, byte by byte and in random chunks. */
static const struct body_case data_end_cases[] = {
	/* LF "." LF, LF "." CRLF, CRLF "." LF: all content. */
	{ S("a\n.\nb\r\n.\r\n"), S("a\r\n.\r\nb\r\n") },
	{ S("a\n.\r\nb\r\n.\r\n"), S("a\r\n.\r\nb\r\n") },
	{ S("a\r\n.\nb\r\n.\r\n"), S("a\r\n.\r\nb\r\n") },
	/* Right at the start: "." LF is content too. */
	{ S(".\nb\r\n.\r\n"), S(".\r\nb\r\n") },
	/* Several in a row, then the real end (after a CRLF line). */
	{ S("a\n.\n.\n.\r\n.\r\n"), S("a\r\n.\r\n.\r\n.\r\n") },
	/* A smuggled transaction stays message text. */
	{ S("x\n.\nMAIL FROM:<e@vil.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\nforged\r\n.\r\n"),
	  S("x\r\n.\r\nMAIL FROM:<e@vil.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\nforged\r\n") },
	/* Stuffing still comes off after either line ending. */
	{ S("a\n..\n..x\r\n.\r\n"), S("a\r\n.\r\n.x\r\n") },
};

static void
test_lmtp_data_end_needs_crlf(void **state)
{
	static const char head[] = "MAIL FROM:<a@b.test>\r\n"
				   "RCPT TO:<c@d.test>\r\nDATA\r\n";

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(data_end_cases); i++) {
		const struct body_case *c = &data_end_cases[i];
		struct buf in = { 0 }, log = { 0 };

		buf_add(&in, head, sizeof(head) - 1);
		buf_add(&in, c->in, c->in_len);
		buf_add(&in, S("NOOP\r\n"));
		buf_addf(&log, "RCPT c@d.test|c|-|d.test\n"
			       "MSG from=<a@b.test> to=c@d.test 8bit=0 "
			       "xf=-/-/-/-/0\n");
		buf_add(&log, c->want, c->want_len);
		buf_add(&log, S("|END\n"));
		check_run(NULL, true, in.p, in.len,
			  MAIL_OK RCPT_OK GO_AHEAD "250 2.0.0 Ok\r\n" OK, log.p,
			  NULL);
		free(in.p);
		free(log.p);
	}
}

/* Without a proper end the data goes on: nothing is delivered. */
static void
test_lmtp_data_bare_lf_dot_does_not_end(void **state)
{
	static const char in[] = "MAIL FROM:<a@b.test>\r\n"
				 "RCPT TO:<c@d.test>\r\nDATA\r\n"
				 "a\n.\nNOOP\r\nb\n.\r\nNOOP\n";

	(void)state;
	check_run(NULL, true, S(in), MAIL_OK RCPT_OK GO_AHEAD,
		  "RCPT c@d.test|c|-|d.test\n", NULL);
}

/* Every byte but CR and LF, in one line, comes back as it was. */
static void
test_lmtp_data_8bit_preserved(void **state)
{
	struct buf in = { 0 };
	char line[256];
	size_t n = 0;
	struct drv d;
	const char *got;

	(void)state;
	for (unsigned c = 1; c < 256; c++)
		if (c != '\r' && c != '\n' && !(n == 0 && c == '.'))
			line[n++] = (char)c;
	buf_add(&in, S("MAIL FROM:<a@b.test> BODY=8BITMIME\r\n"
		       "RCPT TO:<c@d.test>\r\nDATA\r\n"));
	buf_add(&in, line, n);
	buf_add(&in, S("\r\n.\r\n"));
	drv_start(&d, NULL);
	drv_feed(&d, in.p, in.len, 5, 7);
	got = strstr(buf_str(&d.log), "8bit=1 xf=-/-/-/-/0\n");
	assert_non_null(got);
	got += strlen("8bit=1 xf=-/-/-/-/0\n");
	assert_memory_equal(got, line, n);
	assert_memory_equal(got + n, "\r\n|END\n", 7);
	drv_done(&d);
	free(in.p);
}

/* Commands in the wrong order or with bad syntax; the session goes on. */
struct seq_case {
	bool lhlo;
	const char *in;
	const char *out;
};

static const struct seq_case seq_cases[] = {
	{ false, "MAIL FROM:<a@b.test>\r\n", "503 5.5.1 Send LHLO first\r\n" },
	{ false, "XFORWARD NAME=x\r\n", "503 5.5.1 Send LHLO first\r\n" },
	{ false, "RCPT TO:<a@b.test>\r\n", "503 5.5.1 Need MAIL command\r\n" },
	{ false, "HELO x\r\nEHLO x\r\n",
	  "500 5.5.1 This is LMTP: use LHLO\r\n"
	  "500 5.5.1 This is LMTP: use LHLO\r\n" },
	{ false, "RSET\r\nMAIL FROM:<a@b.test>\r\n",
	  OK "503 5.5.1 Send LHLO first\r\n" },
	{ true, "RCPT TO:<a@b.test>\r\n", "503 5.5.1 Need MAIL command\r\n" },
	{ true, "DATA\r\n", "503 5.5.1 Need MAIL command\r\n" },
	{ true, "MAIL FROM:<a@b.test>\r\nDATA\r\n",
	  MAIL_OK "503 5.5.1 No valid recipients\r\n" },
	{ true, "MAIL FROM:<a@b.test>\r\nMAIL FROM:<a@b.test>\r\n",
	  MAIL_OK "503 5.5.1 Nested MAIL command\r\n" },
	{ true, "MAIL FROM:<a@b.test>\r\nXFORWARD NAME=x\r\n",
	  MAIL_OK "503 5.5.1 Mail transaction in progress\r\n" },
	{ true, "MAIL FROM:<a@b.test>\r\nLHLO c\r\nRCPT TO:<c@d.test>\r\n",
	  MAIL_OK LHLO_DEFAULT "503 5.5.1 Need MAIL command\r\n" },
	{ true, "FOO\r\n\r\nMAILFROM:<a@b>\r\n",
	  "500 5.5.2 Command unrecognized\r\n"
	  "500 5.5.2 Command unrecognized\r\n"
	  "500 5.5.2 Command unrecognized\r\n" },
	{ true, "MAIL TO:<a@b.test>\r\n",
	  "501 5.5.4 Syntax: MAIL FROM:<address>\r\n" },
	{ true, "MAIL FROM:a@b.test\r\n",
	  "501 5.1.7 Bad sender address syntax\r\n" },
	{ true, "MAIL FROM:<a>\r\n",
	  "501 5.1.7 Bad sender address syntax\r\n" },
	{ true, "MAIL FROM:<a@b.test> FOO=1\r\n",
	  "555 5.5.4 Unsupported parameter\r\n" },
	{ true, "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n",
	  "501 5.5.4 Unsupported BODY type\r\n" },
	{ true, "MAIL FROM:<a@b.test>SIZE=1\r\n",
	  "501 5.5.4 Bad parameter syntax\r\n" },
	{ true, "MAIL FROM:<a@b.test> SIZE=x1\r\n",
	  "501 5.5.4 Bad SIZE parameter\r\n" },
	{ true, "MAIL FROM:<a@b.test> SIZE=999999999999999999999\r\n",
	  "501 5.5.4 Bad SIZE parameter\r\n" },
	{ true, "mail from: <a@b.test> body=7bit\r\nrcpt to: <c@d.test>\r\n",
	  MAIL_OK RCPT_OK },
	{ true, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test> NOTIFY=NEVER\r\n",
	  MAIL_OK "555 5.5.4 Unsupported parameter\r\n" },
	{ true, "MAIL FROM:<>\r\nRCPT TO:<>\r\n",
	  MAIL_OK "501 5.1.3 Bad recipient address syntax\r\n" },
	{ true, "RSET x\r\nQUIT x\r\nDATA x\r\nLHLO\r\nVRFY\r\nSTARTTLS x\r\n",
	  "501 5.5.4 Syntax: RSET\r\n501 5.5.4 Syntax: QUIT\r\n"
	  "501 5.5.4 Syntax: DATA\r\n501 5.5.4 Syntax: LHLO hostname\r\n"
	  "501 5.5.4 Syntax: VRFY address\r\n"
	  "502 5.5.1 STARTTLS not available\r\n" },
	{ true, "NOOP anything\r\nnoop\n  NOOP\r\n",
	  OK OK "500 5.5.2 Command unrecognized\r\n" },
	{ true, "VRFY alice\r\n",
	  "252 2.5.0 Cannot VRFY user, but will accept message and attempt "
	  "delivery\r\n" },
	/* A refused BDAT still takes its chunk off the wire. */
	{ true, "BDAT 3\r\nabcNOOP\r\n", "503 5.5.1 Need MAIL command\r\n" OK },
	{ true, "BDAT 0 LAST\r\n", "503 5.5.1 Need MAIL command\r\n" },
	{ true, "MAIL FROM:<a@b.test>\r\nBDAT 2\r\nxxNOOP\r\n",
	  MAIL_OK "503 5.5.1 No valid recipients\r\n" OK },
	{ true, "BDAT x\r\nBDAT 1 FIRST\r\nBDAT\r\n",
	  "501 5.5.4 Syntax: BDAT size [LAST]\r\n"
	  "501 5.5.4 Syntax: BDAT size [LAST]\r\n"
	  "501 5.5.4 Syntax: BDAT size [LAST]\r\n" },
	{ true,
	  "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 1\r\nx"
	  "DATA\r\nRCPT TO:<e@f.test>\r\nMAIL FROM:<a@b.test>\r\n"
	  "XFORWARD NAME=x\r\nRSET\r\nRCPT TO:<c@d.test>\r\n",
	  MAIL_OK RCPT_OK
	  "250 2.0.0 1 octets received\r\n"
	  "503 5.5.1 DATA after BDAT\r\n503 5.5.1 RCPT after BDAT\r\n"
	  "503 5.5.1 Nested MAIL command\r\n"
	  "503 5.5.1 Mail transaction in progress\r\n" OK
	  "503 5.5.1 Need MAIL command\r\n" },
};

static void
test_lmtp_commands_out_of_order(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(seq_cases); i++) {
		const struct seq_case *c = &seq_cases[i];
		struct buf want = { 0 };

		if (!c->lhlo)
			buf_add(&want, S(GREETING));
		buf_add(&want, c->out, strlen(c->out));
		check_run(NULL, c->lhlo, c->in, strlen(c->in), want.p, NULL,
			  NULL);
		free(want.p);
	}
}

/* Recipient paths -> the event's address|local|detail|domain, or the
 * reply when refused. */
struct addr_case {
	const char *path;
	const char *want; /* log line, or the reply */
};

static const struct addr_case addr_cases[] = {
	{ "<user@example.com>", "user@example.com|user|-|example.com" },
	{ "<User+Folder@Example.COM>",
	  "User+Folder@Example.COM|User|Folder|Example.COM" },
	{ "<a+b+c@d.test>", "a+b+c@d.test|a|b+c|d.test" },
	{ "<+x@d.test>", "+x@d.test|+x|-|d.test" },
	{ "<user+@d.test>", "user+@d.test|user|-|d.test" },
	{ "<\"john doe\"@d.test>", "john doe@d.test|john doe|-|d.test" },
	{ "<\"a\\\"b+c\"@d.test>", "a\"b+c@d.test|a\"b|c|d.test" },
	{ "<@r1.test,@r2.test:u@d.test>", "u@d.test|u|-|d.test" },
	{ "<Postmaster>", "Postmaster|Postmaster|-|" },
	{ "<u@[192.0.2.1]>", "u@[192.0.2.1]|u|-|[192.0.2.1]" },
	{ "<u@[IPv6:2001:db8::1]>",
	  "u@[IPv6:2001:db8::1]|u|-|[IPv6:2001:db8::1]" },
	{ "<j\xc3\xb6rg@d.test>", "j\xc3\xb6rg@d.test|j\xc3\xb6rg|-|d.test" },
	{ "<u>", NULL },
	{ "u@d.test", NULL },
	{ "<u@d.test", NULL },
	{ "<u@>", NULL },
	{ "<@d.test>", NULL },
	{ "<u d@d.test>", NULL },
	{ "<\"open@d.test>", NULL },
	{ "<u@d test>", NULL },
	{ "<u@[]>", NULL },
	{ "<\"\"@d.test>", NULL },
	{ "<\"postmaster\">", NULL },
	{ "<u\x01@d.test>", NULL },
	{ "<\"a\x7f\"@d.test>", NULL },
	{ "<@r1.test:>", NULL },
};

static void
check_rcpt_path(const char *path, const char *want_log)
{
	struct buf in = { 0 }, log = { 0 };

	buf_addf(&in, "MAIL FROM:<s@x.test>\r\nRCPT TO:%s\r\n", path);
	if (want_log != NULL) {
		buf_addf(&log, "RCPT %s\n", want_log);
		check_run(NULL, true, in.p, in.len, MAIL_OK RCPT_OK, log.p,
			  NULL);
	} else {
		check_run(NULL, true, in.p, in.len,
			  MAIL_OK "501 5.1.3 Bad recipient address syntax\r\n",
			  "", NULL);
	}
	free(in.p);
	free(log.p);
}

static void
test_lmtp_rcpt_address_syntax(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(addr_cases); i++)
		check_rcpt_path(addr_cases[i].path, addr_cases[i].want);
}

/* KR_ADDRESS_MAX (254) bytes between the brackets pass, 255 fail. */
static void
test_lmtp_rcpt_address_length(void **state)
{
	char local[300], path[320], want[640];

	(void)state;
	for (size_t len = 254; len <= 255; len++) {
		size_t n = len - strlen("@d.test");

		memset(local, 'x', n);
		local[n] = '\0';
		snprintf(path, sizeof(path), "<%s@d.test>", local);
		snprintf(want, sizeof(want), "%s@d.test|%s|-|d.test", local,
			 local);
		check_rcpt_path(path, len == 254 ? want : NULL);
	}
}

/* MAIL FROM: the reverse-path as sent, quoting kept. */
static void
test_lmtp_mail_from_forms(void **state)
{
	static const char in[] =
		"MAIL FROM:<@r.test:\"a b\"@x.test> BODY=8BITMIME SIZE=5\r\n"
		"RCPT TO:<c@d.test>\r\nDATA\r\n.\r\n";

	(void)state;
	check_run(NULL, true, S(in), MAIL_OK RCPT_OK GO_AHEAD OK,
		  "RCPT c@d.test|c|-|d.test\n"
		  "MSG from=<\"a b\"@x.test> to=c@d.test 8bit=1 xf=-/-/-/-/0\n"
		  "|END\n",
		  NULL);
}

static void
limit_settings(struct kr_lmtp_settings *set)
{
	test_settings(set);
	set->message_max = 1024;
	set->data_line_max = 1000;
	set->line_max = 512;
	set->rcpt_max = 3;
	set->header_max = 10;
}

/* SIZE=message_max passes, one more is refused at MAIL (RFC 1870). */
static void
test_lmtp_size_param_limit(void **state)
{
	struct kr_lmtp_settings set;

	(void)state;
	limit_settings(&set);
	check_run(&set, true,
		  S("MAIL FROM:<a@b.test> SIZE=1024\r\nRSET\r\n"
		    "MAIL FROM:<a@b.test> SIZE=1025\r\n"),
		  MAIL_OK OK "552 5.3.4 Message size exceeds fixed maximum "
			     "message size\r\n",
		  NULL, NULL);
}

/* rcpt_max recipients pass, the next gets 452 4.5.3 (RFC 5321
 * §4.5.3.1.10) and the message goes to those accepted. */
static void
test_lmtp_rcpt_max(void **state)
{
	struct kr_lmtp_settings set;
	static const char in[] =
		"MAIL FROM:<a@b.test>\r\n"
		"RCPT TO:<r1@d.test>\r\nRCPT TO:<r2@d.test>\r\n"
		"RCPT TO:<r3@d.test>\r\nRCPT TO:<r4@d.test>\r\n"
		"DATA\r\nx\r\n.\r\n";

	(void)state;
	limit_settings(&set);
	check_run(&set, true, S(in),
		  MAIL_OK RCPT_OK RCPT_OK RCPT_OK
		  "452 4.5.3 Too many recipients\r\n" GO_AHEAD OK OK OK,
		  NULL, NULL);
}

/* Command lines: line_max bytes with CRLF pass; one more is answered
 * 500 after its end, and the next command works. */
static void
test_lmtp_line_max(void **state)
{
	struct kr_lmtp_settings set;
	struct buf in = { 0 };
	char pad[2048];

	(void)state;
	limit_settings(&set);
	memset(pad, 'x', sizeof(pad));
	buf_add(&in, S("NOOP "));
	buf_add(&in, pad, 512 - 7);
	buf_add(&in, S("\r\nNOOP "));
	buf_add(&in, pad, 512 - 6);
	buf_add(&in, S("\r\nNOOP\r\nNOOP "));
	buf_add(&in, pad, sizeof(pad));
	buf_add(&in, S("\nNOOP\r\n"));
	check_run(&set, true, in.p, in.len,
		  OK "500 5.5.2 Line too long\r\n" OK
		     "500 5.5.2 Line too long\r\n" OK,
		  NULL, NULL);
	free(in.p);
}

/* A DATA body of `fill` plus its final line, for the body limits. */
static void
limit_message(struct buf *in, const char *body, size_t len, unsigned rcpts)
{
	buf_add(in, S("MAIL FROM:<a@b.test>\r\n"));
	for (unsigned i = 0; i < rcpts; i++)
		buf_addf(in, "RCPT TO:<r%u@d.test>\r\n", i);
	buf_add(in, S("DATA\r\n"));
	buf_add(in, body, len);
	buf_add(in, S(".\r\n"));
}

static void
check_body_limit(const char *body_ok, size_t ok_len, const char *body_bad,
		 size_t bad_len, const char *reply)
{
	struct kr_lmtp_settings set;
	struct buf in = { 0 }, want = { 0 };

	limit_settings(&set);
	/* At the limit: delivered. */
	limit_message(&in, body_ok, ok_len, 1);
	check_run(&set, true, in.p, in.len, MAIL_OK RCPT_OK GO_AHEAD OK, NULL,
		  NULL);
	/* One over: one reply per recipient, then the session goes on. */
	buf_clear(&in);
	limit_message(&in, body_bad, bad_len, 2);
	limit_message(&in, S("ok\r\n"), 1);
	buf_add(&want, S(MAIL_OK RCPT_OK RCPT_OK GO_AHEAD));
	buf_addf(&want, "%s\r\n%s\r\n", reply, reply);
	buf_add(&want, S(MAIL_OK RCPT_OK GO_AHEAD OK));
	check_run(&set, true, in.p, in.len, want.p, NULL, NULL);
	free(in.p);
	free(want.p);
}

/* n bytes of message: an empty line (no header to count), lines of
 * 100 bytes, and CRLF as the last bytes. With bare_lf the first full
 * line ends in a bare LF instead (the last must be CRLF for "." CRLF
 * to end the data). */
static void
fill_lines(char *p, size_t n, bool bare_lf)
{
	for (size_t i = 0; i < n; i++)
		p[i] = i < 2	       ? "\r\n"[i]
		       : i % 100 == 98 ? '\r'
		       : i % 100 == 99 ? '\n'
				       : 'm';
	memcpy(p + n - 2, "\r\n", 2);
	if (bare_lf)
		p[98] = 'm';
}

static void
test_lmtp_message_max(void **state)
{
	char ok[1024], bad[1025];

	(void)state;
	/* 1024 stored bytes pass; 1025 fail, also when a bare LF (stored
	 * as CRLF) is what makes it 1025. */
	fill_lines(ok, sizeof(ok), false);
	fill_lines(bad, sizeof(bad), false);
	check_body_limit(ok, sizeof(ok), bad, sizeof(bad),
			 "552 5.3.4 Message too big for system");
	fill_lines(bad, 1024, true);
	check_body_limit(ok, sizeof(ok), bad, 1024,
			 "552 5.3.4 Message too big for system");
}

static void
test_lmtp_data_line_max(void **state)
{
	char ok[1000], bad[1001];

	(void)state;
	/* 998 bytes plus CRLF is data_line_max (1000); 999 is over. */
	memset(ok, 'l', sizeof(ok));
	memcpy(ok + 998, "\r\n", 2);
	memset(bad, 'l', sizeof(bad));
	memcpy(bad + 999, "\r\n", 2);
	check_body_limit(ok, sizeof(ok), bad, sizeof(bad),
			 "554 5.6.0 Message line too long");
}

static void
test_lmtp_header_max(void **state)
{
	struct buf ok = { 0 }, bad = { 0 };

	(void)state;
	/* Folded lines do not count; header_max is 10. */
	for (int i = 0; i < 10; i++)
		buf_addf(&ok, "H%d: v\r\n  folded\r\n", i);
	buf_add(&bad, ok.p, ok.len);
	buf_add(&bad, S("H10: v\r\n"));
	buf_add(&ok, S("\r\nbody: is not a header\r\n"));
	buf_add(&bad, S("\r\nbody\r\n"));
	check_body_limit(ok.p, ok.len, bad.p, bad.len,
			 "554 5.6.0 Too many header fields");
	free(ok.p);
	free(bad.p);
}

/* Every RCPT answer's reply; only OK recipients get a DATA reply, and
 * every delivery result in RCPT order. */
static void
test_lmtp_per_rcpt_replies(void **state)
{
	static const enum kr_lmtp_rcpt_result rcpt[] = {
		KR_LMTP_RCPT_OK, KR_LMTP_RCPT_UNKNOWN,
		KR_LMTP_RCPT_OK, KR_LMTP_RCPT_OVER_QUOTA,
		KR_LMTP_RCPT_OK, KR_LMTP_RCPT_OVER_QUOTA_PERM,
		KR_LMTP_RCPT_OK, KR_LMTP_RCPT_UNAVAILABLE,
		KR_LMTP_RCPT_OK, KR_LMTP_RCPT_TEMPFAIL,
		KR_LMTP_RCPT_OK, KR_LMTP_RCPT_REJECT,
		KR_LMTP_RCPT_OK, KR_LMTP_RCPT_TOO_LARGE,
		KR_LMTP_RCPT_OK,
	};
	static const enum kr_lmtp_deliver_result del[] = {
		KR_LMTP_DELIVER_REJECT,	    KR_LMTP_DELIVER_OK,
		KR_LMTP_DELIVER_OVER_QUOTA, KR_LMTP_DELIVER_TEMPFAIL,
		KR_LMTP_DELIVER_UNKNOWN,    KR_LMTP_DELIVER_OVER_QUOTA_PERM,
		KR_LMTP_DELIVER_TOO_LARGE,  KR_LMTP_DELIVER_OK,
	};
	const struct script sc = { rcpt, ARRAY_LEN(rcpt), del, ARRAY_LEN(del) };
	struct buf in = { 0 };

	(void)state;
	buf_add(&in, S("MAIL FROM:<a@b.test>\r\n"));
	for (size_t i = 0; i < ARRAY_LEN(rcpt); i++)
		buf_addf(&in, "RCPT TO:<r%zu@d.test>\r\n", i);
	buf_add(&in, S("DATA\r\nx\r\n.\r\n"));
	check_run(NULL, true, in.p, in.len,
		  MAIL_OK RCPT_OK
		  "550 5.1.1 User unknown\r\n" RCPT_OK
		  "452 4.2.2 Mailbox full\r\n" RCPT_OK
		  "552 5.2.2 Mailbox full\r\n" RCPT_OK
		  "451 4.3.0 Mailbox unavailable\r\n" RCPT_OK
		  "451 4.3.0 Temporary failure\r\n" RCPT_OK
		  "550 5.7.1 Recipient rejected\r\n" RCPT_OK
		  "552 5.3.4 Message too big for system\r\n" RCPT_OK GO_AHEAD
		  "550 5.7.1 Message rejected\r\n"
		  "250 2.0.0 Ok\r\n"
		  "452 4.2.2 Mailbox full\r\n"
		  "451 4.3.0 Temporary failure\r\n"
		  "550 5.1.1 User unknown\r\n"
		  "552 5.2.2 Mailbox full\r\n"
		  "552 5.3.4 Message too big for system\r\n"
		  "250 2.0.0 Ok\r\n",
		  NULL, &sc);
	free(in.p);
}

/* XFORWARD lines -> reply and the attributes the message carries. */
struct xf_case {
	const char *in;
	const char *reply;
	const char *xf;
};

static const struct xf_case xf_cases[] = {
	{ "XFORWARD NAME=mx.example ADDR=192.0.2.1 PROTO=ESMTP "
	  "HELO=helo+20name",
	  OK, "mx.example/192.0.2.1/ESMTP/helo name/0" },
	{ "XFORWARD name=[TEMPUNAVAIL] addr=[UNAVAILABLE]", OK, "-/-/-/-/1" },
	{ "XFORWARD NAME=a\r\nXFORWARD NAME=b ADDR=IPV6:2001+3Adb8+3a:1", OK OK,
	  "b/IPV6:2001:db8::1/-/-/0" },
	{ "XFORWARD PORT=25", "501 5.5.4 Bad XFORWARD attribute name\r\n",
	  "-/-/-/-/0" },
	{ "XFORWARD NAME=a+2", "501 5.5.4 Bad XFORWARD attribute value\r\n",
	  "-/-/-/-/0" },
	{ "XFORWARD NAME=a+0A", "501 5.5.4 Bad XFORWARD attribute value\r\n",
	  "-/-/-/-/0" },
	{ "XFORWARD NAME=ok ADDR=+0D",
	  "501 5.5.4 Bad XFORWARD attribute value\r\n", "-/-/-/-/0" },
	{ "XFORWARD", "501 5.5.4 Syntax: XFORWARD attribute=value ...\r\n",
	  "-/-/-/-/0" },
	{ "XFORWARD NAME=",
	  "501 5.5.4 Syntax: XFORWARD attribute=value ...\r\n", "-/-/-/-/0" },
	{ "XFORWARD NAME", "501 5.5.4 Bad XFORWARD attribute value\r\n",
	  "-/-/-/-/0" },
};

static void
check_xforward(const char *xf_line, const char *reply, const char *xf)
{
	struct buf in = { 0 }, want = { 0 }, log = { 0 };

	buf_addf(&in,
		 "%s\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
		 "DATA\r\nx\r\n.\r\n",
		 xf_line);
	buf_addf(&want, "%s" MAIL_OK RCPT_OK GO_AHEAD OK, reply);
	buf_addf(&log,
		 "RCPT c@d.test|c|-|d.test\n"
		 "MSG from=<a@b.test> to=c@d.test 8bit=0 xf=%s\nx\r\n|END\n",
		 xf);
	check_run(NULL, true, in.p, in.len, want.p, log.p, NULL);
	free(in.p);
	free(want.p);
	free(log.p);
}

static void
test_lmtp_xforward(void **state)
{
	char name[300], line[400], xf[400];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(xf_cases); i++)
		check_xforward(xf_cases[i].in, xf_cases[i].reply,
			       xf_cases[i].xf);
	/* 255 bytes decoded pass, 256 fail. */
	memset(name, 'n', sizeof(name));
	name[255] = '\0';
	snprintf(line, sizeof(line), "XFORWARD NAME=%s", name);
	snprintf(xf, sizeof(xf), "%s/-/-/-/0", name);
	check_xforward(line, OK, xf);
	name[255] = 'n';
	name[256] = '\0';
	snprintf(line, sizeof(line), "XFORWARD NAME=%s", name);
	check_xforward(line, "501 5.5.4 Bad XFORWARD attribute value\r\n",
		       "-/-/-/-/0");
	/* The attributes hold for one transaction only. */
	check_run(NULL, true,
		  S("XFORWARD NAME=[TEMPUNAVAIL] HELO=h\r\n"
		    "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
		    "DATA\r\n.\r\nMAIL FROM:<a@b.test>\r\n"
		    "RCPT TO:<c@d.test>\r\nDATA\r\n.\r\n"),
		  OK MAIL_OK RCPT_OK GO_AHEAD OK MAIL_OK RCPT_OK GO_AHEAD OK,
		  "RCPT c@d.test|c|-|d.test\n"
		  "MSG from=<a@b.test> to=c@d.test 8bit=0 xf=-/-/-/h/1\n|END\n"
		  "RCPT c@d.test|c|-|d.test\n"
		  "MSG from=<a@b.test> to=c@d.test 8bit=0 xf=-/-/-/-/0\n|END\n",
		  NULL);
}

/* XFORWARD off (a client the server does not trust with it): not
 * advertised, refused, and nothing of it reaches the message. */
static void
test_lmtp_xforward_refused(void **state)
{
	struct kr_lmtp_settings set;

	(void)state;
	test_settings(&set);
	set.xforward = false;
	check_run(
		&set, false,
		S("LHLO c.test\r\nXFORWARD ADDR=192.0.2.1\r\n"
		  "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
		  "DATA\r\nx\r\n.\r\n"),
		GREETING LHLO_REPLY_NO_XF
		"550 5.7.0 Not authorized to send XFORWARD\r\n" MAIL_OK RCPT_OK
			GO_AHEAD OK,
		"RCPT c@d.test|c|-|d.test\n"
		"MSG from=<a@b.test> to=c@d.test 8bit=0 xf=-/-/-/-/0\n"
		"x\r\n|END\n",
		NULL);
	/* The defaults leave it off: a server must turn it on. */
	kr_lmtp_settings_init(&set);
	assert_false(set.xforward);
}

/* STARTTLS: advertised, 220, no input until the handshake, then a
 * fresh session without a greeting (RFC 3207 §4.2). */
static void
test_lmtp_starttls_flow(void **state)
{
	struct kr_lmtp_settings set;
	static const char in[] = "LHLO c\r\nXFORWARD NAME=x\r\nSTARTTLS\r\n"
				 "MAIL FROM:<a@b.test>\r\n";
	const struct kr_lmtp_event *ev;
	size_t used;
	struct drv d;

	(void)state;
	test_settings(&set);
	set.starttls = true;
	drv_init(&d, &set);
	assert_int_equal(kr_lmtp_feed(d.s, in, sizeof(in) - 1, &used), 1);
	assert_int_equal(used, sizeof(in) - 1 -
				       strlen("MAIL FROM:<a@b.test>"
					      "\r\n"));
	ev = kr_lmtp_event(d.s);
	assert_non_null(ev);
	assert_int_equal(ev->kind, KR_LMTP_EV_STARTTLS);
	drv_drain(&d);
	assert_string_equal(buf_str(&d.out), GREETING LHLO_TLS OK
			    "220 2.0.0 Ready to start TLS\r\n");
	/* Bytes after STARTTLS are refused until the handshake. */
	assert_int_equal(kr_lmtp_feed(d.s, "NOOP\r\n", 6, &used), 1);
	assert_int_equal(used, 0);
	kr_lmtp_tls_started(d.s);
	assert_null(kr_lmtp_event(d.s));
	buf_clear(&d.out);
	drv_feed(&d,
		 S("MAIL FROM:<a@b.test>\r\nLHLO c\r\nSTARTTLS\r\n"
		   "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
		   "x\r\n.\r\n"),
		 SIZE_MAX, 0);
	assert_string_equal(
		buf_str(&d.out),
		"503 5.5.1 Send LHLO first\r\n" LHLO_DEFAULT
		"503 5.5.1 TLS already active\r\n" MAIL_OK RCPT_OK GO_AHEAD OK);
	/* XFORWARD from before the handshake is forgotten. */
	assert_non_null(strstr(buf_str(&d.log), "xf=-/-/-/-/0"));
	drv_done(&d);

	/* Refused before LHLO, with an argument, in a transaction. */
	check_run(&set, false,
		  S("STARTTLS\r\nLHLO c\r\nSTARTTLS x\r\n"
		    "MAIL FROM:<a@b.test>\r\nSTARTTLS\r\n"),
		  GREETING "503 5.5.1 Send LHLO first\r\n" LHLO_TLS
			   "501 5.5.4 Syntax: STARTTLS\r\n" MAIL_OK
			   "503 5.5.1 Mail transaction in progress\r\n",
		  NULL, NULL);
}

/* BDAT (RFC 3030): chunks, LAST, no dot-unstuffing, CRLF across chunk
 * borders, limits, and CHUNKING turned off. */
struct bdat_case {
	const char *in;
	const char *out;
	const char *data; /* stored message, NULL: none delivered */
};

static const struct bdat_case bdat_cases[] = {
	{ "BDAT 5\r\nHelloBDAT 9 LAST\r\n\r\nWorld\r\n",
	  "250 2.0.0 5 octets received\r\n" OK, "Hello\r\nWorld\r\n" },
	{ "BDAT 3\r\nab\rBDAT 3 LAST\r\n\ncd",
	  "250 2.0.0 3 octets received\r\n" OK, "ab\r\ncd" },
	{ "BDAT 4 LAST\r\na\nb\n", OK, "a\r\nb\r\n" },
	{ "BDAT 2 LAST\r\na\r", OK, "a\r" },
	{ "BDAT 2\r\nhiBDAT 0 LAST\r\n", "250 2.0.0 2 octets received\r\n" OK,
	  "hi" },
	{ "BDAT 0 LAST\r\n", OK, "" },
	{ "bdat 5 last\r\n..x\r\n", OK, "..x\r\n" },
	{ "BDAT 1\r\nxRSET\r\nBDAT 1 LAST\r\ny",
	  "250 2.0.0 1 octets received\r\n" OK
	  "503 5.5.1 Need MAIL command\r\n",
	  NULL },
};

static void
test_lmtp_bdat(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bdat_cases); i++) {
		const struct bdat_case *c = &bdat_cases[i];
		struct buf in = { 0 }, out = { 0 }, log = { 0 };

		buf_addf(&in,
			 "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n%s",
			 c->in);
		buf_addf(&out, MAIL_OK RCPT_OK "%s", c->out);
		buf_add(&log, S("RCPT c@d.test|c|-|d.test\n"));
		if (c->data != NULL)
			buf_addf(&log,
				 "MSG from=<a@b.test> to=c@d.test 8bit=0 "
				 "xf=-/-/-/-/0\n%s|END\n",
				 c->data);
		check_run(NULL, true, in.p, in.len, out.p, log.p, NULL);
		free(in.p);
		free(out.p);
		free(log.p);
	}
}

static void
test_lmtp_bdat_limits(void **state)
{
	struct kr_lmtp_settings set;
	struct buf in = { 0 };
	char big[1025];

	(void)state;
	limit_settings(&set);
	/* An empty line (no header to count), then lines of 100 bytes;
	 * the 1000th byte ends a line. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = i < 2		 ? "\r\n"[i]
			 : i % 100 == 98 ? '\r'
			 : i % 100 == 99 ? '\n'
					 : 'b';
	/* Too big in a middle chunk: refused at once; the client's next
	 * chunk is taken and refused; the session goes on. */
	buf_add(&in, S("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
		       "BDAT 1025\r\n"));
	buf_add(&in, big, sizeof(big));
	buf_add(&in, S("BDAT 3 LAST\r\nabcNOOP\r\n"));
	/* Too big at LAST: one reply per recipient. */
	buf_add(&in, S("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
		       "RCPT TO:<e@f.test>\r\nBDAT 1000\r\n"));
	buf_add(&in, big, 1000);
	buf_add(&in, S("BDAT 25 LAST\r\n"));
	buf_add(&in, big, 25);
	/* At the limit: delivered. */
	buf_add(&in, S("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
		       "BDAT 1024 LAST\r\n"));
	buf_add(&in, big, 1024);
	check_run(&set, true, in.p, in.len,
		  MAIL_OK RCPT_OK
		  "552 5.3.4 Message too big for system\r\n"
		  "503 5.5.1 Need MAIL command\r\n" OK MAIL_OK RCPT_OK RCPT_OK
		  "250 2.0.0 1000 octets received\r\n"
		  "552 5.3.4 Message too big for system\r\n"
		  "552 5.3.4 Message too big for system\r\n" MAIL_OK RCPT_OK OK,
		  NULL, NULL);
	free(in.p);

	/* CHUNKING off: not advertised, BDAT unknown. */
	test_settings(&set);
	set.chunking = false;
	check_run(&set, false, S("LHLO c\r\nBDAT 1\r\n"),
		  GREETING LHLO_REPLY(" ", "",
				      "") "500 5.5.2 Command unrecognized\r\n",
		  NULL, NULL);
}

static void
test_lmtp_quit(void **state)
{
	size_t used;
	struct drv d;

	(void)state;
	drv_start(&d, NULL);
	assert_int_equal(kr_lmtp_feed(d.s, S("QUIT\r\nNOOP\r\n"), &used), -1);
	assert_int_equal(used, 6);
	assert_true(kr_lmtp_closed(d.s));
	assert_non_null(kr_lmtp_event(d.s));
	assert_int_equal(kr_lmtp_event(d.s)->kind, KR_LMTP_EV_QUIT);
	assert_int_equal(kr_lmtp_feed(d.s, S("NOOP\r\n"), &used), -1);
	assert_int_equal(used, 0);
	/* A late timeout adds nothing. */
	kr_lmtp_timeout(d.s);
	drv_drain(&d);
	assert_string_equal(buf_str(&d.out), "221 2.0.0 Bye\r\n");
	drv_done(&d);
}

/* Timeout and shutdown close at once; a late answer is dropped and
 * the event's data stays readable until destroy. */
static void
test_lmtp_timeout_and_shutdown(void **state)
{
	static const enum kr_lmtp_deliver_result ok[] = { KR_LMTP_DELIVER_OK };
	const struct kr_lmtp_event *ev;
	const char *data;
	size_t used;
	struct drv d;

	(void)state;
	drv_start(&d, NULL);
	kr_lmtp_feed(d.s, S("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"),
		     &used);
	assert_non_null(kr_lmtp_event(d.s));
	kr_lmtp_timeout(d.s);
	assert_null(kr_lmtp_event(d.s));
	assert_true(kr_lmtp_closed(d.s));
	kr_lmtp_answer_rcpt(d.s, KR_LMTP_RCPT_OK);
	assert_int_equal(kr_lmtp_feed(d.s, S("NOOP\r\n"), &used), -1);
	assert_int_equal(used, 0);
	kr_lmtp_timeout(d.s);
	kr_lmtp_shutdown(d.s);
	drv_drain(&d);
	assert_string_equal(buf_str(&d.out),
			    MAIL_OK "421 4.4.2 mx.test Timeout\r\n");
	drv_done(&d);

	drv_start(&d, NULL);
	kr_lmtp_feed(d.s, S("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"),
		     &used);
	kr_lmtp_answer_rcpt(d.s, KR_LMTP_RCPT_OK);
	kr_lmtp_feed(d.s, S("DATA\r\nbody\r\n.\r\n"), &used);
	ev = kr_lmtp_event(d.s);
	assert_non_null(ev);
	data = ev->message.data;
	kr_lmtp_shutdown(d.s);
	assert_memory_equal(data, "body\r\n", 6);
	kr_lmtp_answer_message(d.s, ok, 1);
	assert_memory_equal(data, "body\r\n", 6);
	drv_drain(&d);
	assert_string_equal(buf_str(&d.out), MAIL_OK RCPT_OK GO_AHEAD
			    "421 4.3.2 mx.test Service shutting down\r\n");
	drv_done(&d);
}

/* A client that pipelines without reading: input stops being taken
 * once KR_LMTP_OUTPUT_HIGH bytes of replies wait. */
static void
test_lmtp_output_backpressure(void **state)
{
	enum {
		N = 20000
	};
	struct buf in = { 0 };
	size_t pos = 0, used, total = 0;
	const void *data;
	size_t len;
	struct drv d;

	(void)state;
	for (int i = 0; i < N; i++)
		buf_add(&in, S("NOOP\r\n"));
	drv_start(&d, NULL);
	assert_int_equal(kr_lmtp_feed(d.s, in.p, in.len, &used), 0);
	assert_true(used < in.len);
	assert_true(kr_lmtp_output(d.s, &data, &len));
	assert_true(len > KR_LMTP_OUTPUT_HIGH);
	assert_true(len <= KR_LMTP_OUTPUT_HIGH + sizeof(OK));
	assert_int_equal(kr_lmtp_feed(d.s, in.p + used, in.len - used, &pos),
			 0);
	assert_int_equal(pos, 0);
	pos = used;
	while (pos < in.len) {
		drv_drain(&d);
		assert_int_equal(
			kr_lmtp_feed(d.s, in.p + pos, in.len - pos, &used), 0);
		assert_true(used > 0);
		pos += used;
	}
	drv_drain(&d);
	total = d.out.len;
	assert_int_equal(total, (size_t)N * (sizeof(OK) - 1));
	drv_done(&d);
	free(in.p);
}

/* kr_lmtp_rcpt_peek decides as the machine does: 1 exactly when the
 * machine in a transaction raises an RCPT event for the line, with the
 * same strings; -1 for an RCPT it refuses itself; 0 for anything else
 * (which ends a server's look-ahead). */
static void
test_lmtp_rcpt_peek(void **state)
{
	static const struct {
		const char *line;
		int want;
	} cases[] = {
		{ "RCPT TO:<c@d.test>\r\n", 1 },
		{ "rcpt to: <C+box@D.test>\r\n", 1 },
		{ "RCPT TO:<\"a b\"@d.test>  \r\n", 1 },
		{ "RCPT TO:<+x@d.test>\n", 1 },
		{ "RCPT TO:<Postmaster>\r\n", 1 },
		{ "RCPT TO:<@relay.test:c@d.test>\r\n", 1 },
		{ "RCPT TO:<c@d.test> NOTIFY=NEVER\r\n", -1 },
		{ "RCPT TO:<>\r\n", -1 },
		{ "RCPT TO:<c@>\r\n", -1 },
		{ "RCPT TO:<nobody>\r\n", -1 },
		{ "RCPT FROM:<c@d.test>\r\n", -1 },
		{ "RCPT\r\n", -1 },
		{ "DATA\r\n", 0 },
		{ "RSET\r\n", 0 },
		{ "RCPTTO:<c@d.test>\r\n", 0 },
		{ "\r\n", 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char buf[KR_LMTP_RCPT_BUF_SIZE];
		const struct kr_lmtp_event *ev;
		struct kr_lmtp_rcpt r;
		struct buf in = { 0 };
		size_t used;
		struct drv d;
		int got;

		got = kr_lmtp_rcpt_peek(cases[i].line, strlen(cases[i].line),
					buf, &r);
		assert_int_equal(got, cases[i].want);
		drv_start(&d, NULL);
		buf_addf(&in, "MAIL FROM:<a@b.test>\r\n%s", cases[i].line);
		kr_lmtp_feed(d.s, in.p, in.len, &used);
		ev = kr_lmtp_event(d.s);
		if (got != 1) {
			assert_null(ev);
		} else {
			assert_non_null(ev);
			assert_int_equal(ev->kind, KR_LMTP_EV_RCPT);
			assert_string_equal(r.address, ev->rcpt.address);
			assert_string_equal(r.local, ev->rcpt.local);
			assert_string_equal(r.domain, ev->rcpt.domain);
			if (ev->rcpt.detail == NULL)
				assert_null(r.detail);
			else
				assert_string_equal(r.detail, ev->rcpt.detail);
		}
		free(in.p);
		drv_done(&d);
	}
}

/* The input bound a server reads up to: two of the longest lines, at
 * least KR_LMTP_INPUT_HIGH_MIN; always room for a whole line. */
static void
test_lmtp_input_high(void **state)
{
	(void)state;
	assert_int_equal(kr_lmtp_input_high(KR_LMTP_DATA_LINE_MAX_MIN),
			 KR_LMTP_INPUT_HIGH_MIN);
	assert_int_equal(kr_lmtp_input_high(KR_LMTP_INPUT_HIGH_MIN / 2),
			 KR_LMTP_INPUT_HIGH_MIN);
	assert_int_equal(kr_lmtp_input_high(KR_LMTP_INPUT_HIGH_MIN / 2 + 1),
			 KR_LMTP_INPUT_HIGH_MIN + 2);
	assert_int_equal(kr_lmtp_input_high(KR_LMTP_DATA_LINE_MAX_MAX),
			 2 * (size_t)KR_LMTP_DATA_LINE_MAX_MAX);
	assert_true(kr_lmtp_input_high(KR_LMTP_DATA_LINE_MAX_DEFAULT) >=
		    KR_LMTP_DATA_LINE_MAX_DEFAULT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lmtp_conversation_any_chunking),
		cmocka_unit_test(test_lmtp_pipelined_async_rcpt),
		cmocka_unit_test(test_lmtp_data_dot_stuffing_and_line_ends),
		cmocka_unit_test(test_lmtp_data_end_needs_crlf),
		cmocka_unit_test(test_lmtp_data_bare_lf_dot_does_not_end),
		cmocka_unit_test(test_lmtp_data_8bit_preserved),
		cmocka_unit_test(test_lmtp_commands_out_of_order),
		cmocka_unit_test(test_lmtp_rcpt_address_syntax),
		cmocka_unit_test(test_lmtp_rcpt_address_length),
		cmocka_unit_test(test_lmtp_mail_from_forms),
		cmocka_unit_test(test_lmtp_size_param_limit),
		cmocka_unit_test(test_lmtp_rcpt_max),
		cmocka_unit_test(test_lmtp_line_max),
		cmocka_unit_test(test_lmtp_message_max),
		cmocka_unit_test(test_lmtp_data_line_max),
		cmocka_unit_test(test_lmtp_header_max),
		cmocka_unit_test(test_lmtp_per_rcpt_replies),
		cmocka_unit_test(test_lmtp_xforward),
		cmocka_unit_test(test_lmtp_xforward_refused),
		cmocka_unit_test(test_lmtp_starttls_flow),
		cmocka_unit_test(test_lmtp_bdat),
		cmocka_unit_test(test_lmtp_bdat_limits),
		cmocka_unit_test(test_lmtp_quit),
		cmocka_unit_test(test_lmtp_timeout_and_shutdown),
		cmocka_unit_test(test_lmtp_output_backpressure),
		cmocka_unit_test(test_lmtp_input_high),
		cmocka_unit_test(test_lmtp_rcpt_peek),
	};

	return cmocka_run_group_tests_name("lmtp", tests, NULL, NULL);
}
