/* LMTP session core: input framing (command lines, DATA and BDAT
 * bodies), the output queue, events and their answers, and the one
 * function that changes state. Commands live in lmtp_cmd.c. */
#include "proto/lmtp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "proto/lmtp_priv.h"

/* Buffers above these sizes are freed when they empty, so an idle
 * session stays small (SPEC.md §7: 16 KiB per idle connection). */
#define LMTP_OUT_KEEP 4096
#define LMTP_MSG_KEEP 8192
#define LMTP_RCPTS_KEEP 16
#define LMTP_MSG_FIRST 4096
/* Arena blocks for the transaction's strings; its size is bounded by
 * rcpt_max, which decides how many recipients it holds. */
#define LMTP_ARENA_BLOCK 1024

/* Replies for a refused message body, one per recipient (RFC 2033
 * §4.2). RFC 1870 §6.1 and RFC 3463 X.3.4 for the size; an over-long
 * line or too many header fields is a fault in the content, X.6.0. */
static const char *const body_err_reply[] = {
	[KR_LMTP_BODY_OK] = NULL,
	[KR_LMTP_BODY_TOO_BIG] = "552 5.3.4 Message too big for system",
	[KR_LMTP_BODY_LINE_TOO_LONG] = "554 5.6.0 Message line too long",
	[KR_LMTP_BODY_TOO_MANY_HEADERS] = "554 5.6.0 Too many header fields",
};

static const char *const rcpt_reply[] = {
	[KR_LMTP_RCPT_OK] = "250 2.1.5 Ok",
	[KR_LMTP_RCPT_UNKNOWN] = "550 5.1.1 User unknown",
	[KR_LMTP_RCPT_OVER_QUOTA] = "452 4.2.2 Mailbox full",
	[KR_LMTP_RCPT_OVER_QUOTA_PERM] = "552 5.2.2 Mailbox full",
	[KR_LMTP_RCPT_UNAVAILABLE] = "451 4.3.0 Mailbox unavailable",
	[KR_LMTP_RCPT_TEMPFAIL] = "451 4.3.0 Temporary failure",
	[KR_LMTP_RCPT_REJECT] = "550 5.7.1 Recipient rejected",
	[KR_LMTP_RCPT_TOO_LARGE] = "552 5.3.4 Message too big for system",
};

static const char *const deliver_reply[] = {
	[KR_LMTP_DELIVER_OK] = "250 2.0.0 Ok",
	[KR_LMTP_DELIVER_TEMPFAIL] = "451 4.3.0 Temporary failure",
	[KR_LMTP_DELIVER_OVER_QUOTA] = "452 4.2.2 Mailbox full",
	[KR_LMTP_DELIVER_OVER_QUOTA_PERM] = "552 5.2.2 Mailbox full",
	[KR_LMTP_DELIVER_REJECT] = "550 5.7.1 Message rejected",
	[KR_LMTP_DELIVER_UNKNOWN] = "550 5.1.1 User unknown",
	[KR_LMTP_DELIVER_TOO_LARGE] = "552 5.3.4 Message too big for system",
	[KR_LMTP_DELIVER_DEFER] = "451 4.7.1 Rate limited, try again later",
};

#define LMTP_BIT(st) (1u << (st))

/* Legal state changes: allowed[from] has a bit for every `to`.
 * Closing is legal from anywhere (timeout, shutdown). */
static const unsigned lmtp_allowed[] = {
	[KR_LMTP_STATE_INIT] = LMTP_BIT(KR_LMTP_STATE_READY),
	[KR_LMTP_STATE_READY] = LMTP_BIT(KR_LMTP_STATE_READY) |
				LMTP_BIT(KR_LMTP_STATE_MAIL) |
				LMTP_BIT(KR_LMTP_STATE_TLS_WAIT),
	[KR_LMTP_STATE_MAIL] = LMTP_BIT(KR_LMTP_STATE_READY) |
			       LMTP_BIT(KR_LMTP_STATE_RCPT_WAIT) |
			       LMTP_BIT(KR_LMTP_STATE_DATA) |
			       LMTP_BIT(KR_LMTP_STATE_CHUNK),
	[KR_LMTP_STATE_RCPT_WAIT] = LMTP_BIT(KR_LMTP_STATE_MAIL),
	[KR_LMTP_STATE_DATA] = LMTP_BIT(KR_LMTP_STATE_READY) |
			       LMTP_BIT(KR_LMTP_STATE_MESSAGE_WAIT),
	[KR_LMTP_STATE_CHUNK] = LMTP_BIT(KR_LMTP_STATE_READY) |
				LMTP_BIT(KR_LMTP_STATE_CHUNKED) |
				LMTP_BIT(KR_LMTP_STATE_MESSAGE_WAIT),
	[KR_LMTP_STATE_CHUNKED] =
		LMTP_BIT(KR_LMTP_STATE_READY) | LMTP_BIT(KR_LMTP_STATE_CHUNK),
	[KR_LMTP_STATE_MESSAGE_WAIT] = LMTP_BIT(KR_LMTP_STATE_READY),
	[KR_LMTP_STATE_TLS_WAIT] = LMTP_BIT(KR_LMTP_STATE_INIT),
	[KR_LMTP_STATE_CLOSED] = 0,
};

void
kr_lmtp_enter(struct kr_lmtp *s, enum kr_lmtp_state to)
{
	kr_assert(s->state != KR_LMTP_STATE_CLOSED);
	if (to != KR_LMTP_STATE_CLOSED &&
	    (lmtp_allowed[s->state] & LMTP_BIT(to)) == 0)
		kr_panic("lmtp: illegal state change %d -> %d", (int)s->state,
			 (int)to);
	s->state = to;
}

void
kr_lmtp_settings_init(struct kr_lmtp_settings *set)
{
	*set = (struct kr_lmtp_settings){
		.hostname = "localhost",
		.line_max = KR_LMTP_LINE_MAX_DEFAULT,
		.data_line_max = KR_LMTP_DATA_LINE_MAX_DEFAULT,
		.message_max = KR_LMTP_MESSAGE_MAX_DEFAULT,
		.rcpt_max = KR_LMTP_RCPT_MAX_DEFAULT,
		.header_max = KR_LMTP_HEADER_MAX_DEFAULT,
		.starttls = false,
		.tls_active = false,
		.chunking = true,
		.xforward = false,
	};
}

size_t
kr_lmtp_input_high(size_t data_line_max)
{
	/* data_line_max <= KR_LMTP_DATA_LINE_MAX_MAX: no overflow. */
	size_t two = 2 * data_line_max;

	return two > KR_LMTP_INPUT_HIGH_MIN ? two : KR_LMTP_INPUT_HIGH_MIN;
}

static bool
lmtp_hostname_ok(const char *h)
{
	size_t n = h != NULL ? strlen(h) : 0;

	if (n == 0 || n > KR_LMTP_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= ' ' || (unsigned char)h[i] == 0x7f)
			return false;
	return true;
}

static void
lmtp_settings_check(const struct kr_lmtp_settings *set)
{
	if (!lmtp_hostname_ok(set->hostname))
		kr_panic("lmtp: bad hostname setting");
	if (set->line_max < KR_LMTP_LINE_MAX_MIN ||
	    set->line_max > KR_LMTP_LINE_MAX_MAX ||
	    set->data_line_max < KR_LMTP_DATA_LINE_MAX_MIN ||
	    set->data_line_max > KR_LMTP_DATA_LINE_MAX_MAX ||
	    set->message_max < KR_LMTP_MESSAGE_MAX_MIN ||
	    set->message_max > KR_LMTP_MESSAGE_MAX_MAX || set->rcpt_max < 1 ||
	    set->rcpt_max > KR_LMTP_RCPT_MAX_MAX || set->header_max < 1)
		kr_panic("lmtp: setting out of range");
}

struct kr_lmtp *
kr_lmtp_create(const struct kr_lmtp_settings *set)
{
	struct kr_lmtp *s;

	lmtp_settings_check(set);
	s = kr_xcalloc(1, sizeof(*s));
	s->set = *set;
	memcpy(s->hostname, set->hostname, strlen(set->hostname) + 1);
	s->set.hostname = s->hostname;
	s->state = KR_LMTP_STATE_INIT;
	s->arena = kr_arena_create(LMTP_ARENA_BLOCK, 0, false);
	kr_lmtp_replyf(s, "220 %s LMTP kurier ready", s->hostname);
	return s;
}

static void
lmtp_xf_clear(struct kr_lmtp *s)
{
	for (size_t i = 0; i < KR_LMTP_XF_COUNT; i++) {
		free(s->xf[i]);
		s->xf[i] = NULL;
	}
	s->xf_name_tempunavail = false;
}

void
kr_lmtp_destroy(struct kr_lmtp **sp)
{
	struct kr_lmtp *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	lmtp_xf_clear(s);
	kr_arena_destroy(&s->arena);
	free(s->rcpts);
	free(s->msg);
	free(s->out);
	free(s->line);
	free(s);
}

/* Output. */

static void
lmtp_out_append(struct kr_lmtp *s, const char *p, size_t n)
{
	if (s->out_cap - s->out_end < n && s->out_start > 0) {
		memmove(s->out, s->out + s->out_start,
			s->out_end - s->out_start);
		s->out_end -= s->out_start;
		s->out_start = 0;
	}
	if (s->out_cap - s->out_end < n) {
		size_t cap = s->out_cap != 0 ? s->out_cap : 256;

		/* Output only grows by one reply batch past
		 * KR_LMTP_OUTPUT_HIGH before input stops, so this stays
		 * far from overflowing. */
		while (cap - s->out_end < n)
			cap *= 2;
		s->out = kr_xrealloc(s->out, cap);
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_end, p, n);
	s->out_end += n;
}

void
kr_lmtp_reply(struct kr_lmtp *s, const char *line)
{
	lmtp_out_append(s, line, strlen(line));
	lmtp_out_append(s, "\r\n", 2);
}

void
kr_lmtp_replyf(struct kr_lmtp *s, const char *fmt, ...)
{
	/* Replies are short: a host name (<= 255) and a few words. */
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	kr_assert(n >= 0 && (size_t)n < sizeof(buf));
	kr_lmtp_reply(s, buf);
}

bool
kr_lmtp_output(struct kr_lmtp *s, const void **data_r, size_t *len_r)
{
	if (s->out_end == s->out_start)
		return false;
	*data_r = s->out + s->out_start;
	*len_r = s->out_end - s->out_start;
	return true;
}

void
kr_lmtp_output_consume(struct kr_lmtp *s, size_t n)
{
	kr_assert(n <= s->out_end - s->out_start);
	s->out_start += n;
	if (s->out_start < s->out_end)
		return;
	s->out_start = s->out_end = 0;
	if (s->out_cap > LMTP_OUT_KEEP) {
		free(s->out);
		s->out = NULL;
		s->out_cap = 0;
	}
}

/* Transaction and events. */

void
kr_lmtp_txn_reset(struct kr_lmtp *s)
{
	kr_arena_reset(s->arena);
	s->mail_from = NULL;
	s->body_8bitmime = false;
	s->rcpt_count = 0;
	if (s->rcpt_cap > LMTP_RCPTS_KEEP) {
		free(s->rcpts);
		s->rcpts = NULL;
		s->rcpt_cap = 0;
	}
	lmtp_xf_clear(s);
	s->msg_len = 0;
	if (s->msg_cap > LMTP_MSG_KEEP) {
		free(s->msg);
		s->msg = NULL;
		s->msg_cap = 0;
	}
	s->chunk_left = s->chunk_size = 0;
	s->chunk_last = false;
}

void
kr_lmtp_raise(struct kr_lmtp *s, enum kr_lmtp_event_kind kind)
{
	kr_assert(!s->event_pending);
	s->ev.kind = kind;
	s->event_pending = true;
}

const struct kr_lmtp_event *
kr_lmtp_event(struct kr_lmtp *s)
{
	return s->event_pending ? &s->ev : NULL;
}

/* The answers may come after the session closed on a timeout: they
 * are dropped then. Otherwise a missing event is the server's bug. */
static bool
lmtp_answer_ok(const struct kr_lmtp *s, enum kr_lmtp_event_kind kind)
{
	if (s->state == KR_LMTP_STATE_CLOSED && !s->event_pending)
		return false;
	if (!s->event_pending || s->ev.kind != kind)
		kr_panic("lmtp: answer without a pending event of kind %d",
			 (int)kind);
	return true;
}

static char *
lmtp_arena_str(struct kr_lmtp *s, const char *str)
{
	char *p;

	if (str == NULL)
		return NULL;
	p = kr_arena_strdup(s->arena, str, NULL);
	/* The arena has no cap; rcpt_max bounds what goes in. */
	kr_assert(p != NULL);
	return p;
}

static void
lmtp_rcpt_add(struct kr_lmtp *s, int64_t ref)
{
	struct kr_lmtp_rcpt *r;

	if (s->rcpt_count == s->rcpt_cap) {
		size_t cap = s->rcpt_cap != 0 ? s->rcpt_cap * 2 : 4;

		if (cap > s->set.rcpt_max)
			cap = s->set.rcpt_max;
		s->rcpts = kr_xrealloc(s->rcpts, cap * sizeof(*s->rcpts));
		s->rcpt_cap = cap;
	}
	kr_assert(s->rcpt_count < s->rcpt_cap);
	r = &s->rcpts[s->rcpt_count++];
	r->address = lmtp_arena_str(s, s->ev.rcpt.address);
	r->local = lmtp_arena_str(s, s->ev.rcpt.local);
	r->detail = lmtp_arena_str(s, s->ev.rcpt.detail);
	r->domain = lmtp_arena_str(s, s->ev.rcpt.domain);
	r->ref = ref;
}

void
kr_lmtp_answer_rcpt(struct kr_lmtp *s, enum kr_lmtp_rcpt_result result)
{
	kr_lmtp_answer_rcpt_ref(s, result, 0);
}

void
kr_lmtp_answer_rcpt_ref(struct kr_lmtp *s, enum kr_lmtp_rcpt_result result,
			int64_t ref)
{
	if (!lmtp_answer_ok(s, KR_LMTP_EV_RCPT))
		return;
	if ((unsigned)result >= sizeof(rcpt_reply) / sizeof(rcpt_reply[0]))
		kr_panic("lmtp: bad rcpt result %d", (int)result);
	if (result == KR_LMTP_RCPT_OK)
		lmtp_rcpt_add(s, ref);
	kr_lmtp_reply(s, rcpt_reply[result]);
	s->event_pending = false;
	memset(&s->ev, 0, sizeof(s->ev));
	kr_lmtp_enter(s, KR_LMTP_STATE_MAIL);
}

void
kr_lmtp_answer_message(struct kr_lmtp *s,
		       const enum kr_lmtp_deliver_result *per_rcpt, size_t n)
{
	if (!lmtp_answer_ok(s, KR_LMTP_EV_MESSAGE))
		return;
	if (n != s->rcpt_count)
		kr_panic("lmtp: %zu results for %zu recipients", n,
			 s->rcpt_count);
	for (size_t i = 0; i < n; i++) {
		unsigned r = (unsigned)per_rcpt[i];

		if (r >= sizeof(deliver_reply) / sizeof(deliver_reply[0]))
			kr_panic("lmtp: bad delivery result %u", r);
		kr_lmtp_reply(s, deliver_reply[r]);
	}
	s->event_pending = false;
	memset(&s->ev, 0, sizeof(s->ev));
	kr_lmtp_txn_reset(s);
	kr_lmtp_enter(s, KR_LMTP_STATE_READY);
}

void
kr_lmtp_tls_started(struct kr_lmtp *s)
{
	if (!lmtp_answer_ok(s, KR_LMTP_EV_STARTTLS))
		return;
	s->event_pending = false;
	memset(&s->ev, 0, sizeof(s->ev));
	s->set.tls_active = true;
	kr_lmtp_txn_reset(s);
	kr_lmtp_enter(s, KR_LMTP_STATE_INIT);
}

static void
lmtp_close(struct kr_lmtp *s, const char *code, const char *text)
{
	if (s->state == KR_LMTP_STATE_CLOSED)
		return;
	/* A pending event's data stays where it is until destroy: the
	 * server may still be reading it. */
	s->event_pending = false;
	kr_lmtp_replyf(s, "421 %s %s %s", code, s->hostname, text);
	kr_lmtp_enter(s, KR_LMTP_STATE_CLOSED);
}

void
kr_lmtp_timeout(struct kr_lmtp *s)
{
	lmtp_close(s, "4.4.2", "Timeout");
}

void
kr_lmtp_shutdown(struct kr_lmtp *s)
{
	lmtp_close(s, "4.3.2", "Service shutting down");
}

bool
kr_lmtp_closed(const struct kr_lmtp *s)
{
	return s->state == KR_LMTP_STATE_CLOSED;
}

/* The message body. */

void
kr_lmtp_body_begin(struct kr_lmtp *s, bool dot)
{
	s->msg_len = 0;
	s->body_state = KR_LMTP_BODY_BOL;
	s->body_err = KR_LMTP_BODY_OK;
	s->body_dot = dot;
	s->after_crlf = true;
	s->in_headers = true;
	s->line_first = 0;
	s->line_content = 0;
	s->headers = 0;
}

/* Appends stored bytes; past message_max the body is refused and
 * nothing more is kept. */
static void
body_store(struct kr_lmtp *s, const char *p, size_t n)
{
	size_t need;

	if (n > s->set.message_max - s->msg_len) {
		s->body_err = KR_LMTP_BODY_TOO_BIG;
		return;
	}
	need = s->msg_len + n;
	if (need > s->msg_cap) {
		/* Doubling up to message_max (<= 1 GiB: no overflow). */
		size_t cap = s->msg_cap != 0 ? s->msg_cap : LMTP_MSG_FIRST;

		if (cap > s->set.message_max)
			cap = s->set.message_max;
		while (cap < need)
			cap = cap > s->set.message_max / 2 ? s->set.message_max
							   : cap * 2;
		s->msg = kr_xrealloc(s->msg, cap);
		s->msg_cap = cap;
	}
	memcpy(s->msg + s->msg_len, p, n);
	s->msg_len = need;
}

/* Content bytes of the current line (no line ending). */
static void
body_put(struct kr_lmtp *s, const char *p, size_t n)
{
	if (n == 0 || s->body_err != KR_LMTP_BODY_OK)
		return;
	if (s->line_content == 0)
		s->line_first = p[0];
	if (n > s->set.data_line_max - 2 - s->line_content) {
		s->body_err = KR_LMTP_BODY_LINE_TOO_LONG;
		return;
	}
	s->line_content += n;
	body_store(s, p, n);
}

/* A line is complete: count header fields (RFC 5322 §2.2: a field
 * starts on a line that does not begin with WSP; the first empty line
 * ends the header). */
static void
body_line_done(struct kr_lmtp *s)
{
	if (s->in_headers) {
		if (s->line_content == 0)
			s->in_headers = false;
		else if (s->line_first != ' ' && s->line_first != '\t' &&
			 ++s->headers > s->set.header_max)
			s->body_err = KR_LMTP_BODY_TOO_MANY_HEADERS;
	}
	s->line_content = 0;
}

/* A line ended, with CRLF or (crlf false) with a bare LF. */
static void
body_eol(struct kr_lmtp *s, bool crlf)
{
	s->body_state = KR_LMTP_BODY_BOL;
	s->after_crlf = crlf;
	if (s->body_err != KR_LMTP_BODY_OK) {
		s->line_content = 0;
		return;
	}
	body_line_done(s);
	if (s->body_err == KR_LMTP_BODY_OK)
		body_store(s, "\r\n", 2);
}

/* Inside a line: everything up to the next LF at once. A CR before
 * the LF belongs to the line ending; a CR elsewhere is content. */
static size_t
body_text(struct kr_lmtp *s, const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	size_t seg = lf != NULL ? (size_t)(lf - p) : n;
	bool cr = seg > 0 && p[seg - 1] == '\r';

	body_put(s, p, cr ? seg - 1 : seg);
	if (lf != NULL) {
		body_eol(s, cr);
		return seg + 1;
	}
	if (cr)
		s->body_state = KR_LMTP_BODY_CR;
	return n;
}

/* Runs the body parser over p[0..n): returns the bytes used and sets
 * *end_r at the end of the data. RFC 5321 §4.1.1.4 (and RFC 2033 §4.2
 * for LMTP): the data ends at CRLF "." CRLF and at nothing else; a
 * leading '.' with more on its line is stuffing and removed (§4.5.2).
 * A bare LF ends a line of content (stored as CRLF) but never takes
 * part in the terminator: a "." that a bare LF ends or follows is
 * content and keeps its dot, so LF "." LF or LF "." CRLF cannot end a
 * message early and have what follows read as commands (the "SMTP
 * smuggling" of CVE-2023-51764). Postfix's LMTP client always sends
 * CRLF: every line leaves through smtp_fputs(), which appends "\r\n",
 * and it stuffs leading dots itself; the strict rule costs it nothing.
 * The line ending of the DATA command itself counts as the first CRLF,
 * so ".\r\n" at once is an empty message. */
static size_t
body_feed(struct kr_lmtp *s, const char *p, size_t n, bool *end_r)
{
	size_t i = 0;

	*end_r = false;
	while (i < n) {
		char c = p[i];

		switch (s->body_state) {
		case KR_LMTP_BODY_BOL:
			s->body_state = KR_LMTP_BODY_TEXT;
			if (s->body_dot && c == '.') {
				s->body_state = KR_LMTP_BODY_DOT;
				i++;
			}
			break;
		case KR_LMTP_BODY_DOT:
			if (c == '\n') {
				/* "." and a bare LF: content. */
				body_put(s, ".", 1);
				body_eol(s, false);
				i++;
				break;
			}
			/* A '.' before anything else was stuffing. */
			s->body_state = c == '\r' ? KR_LMTP_BODY_DOT_CR
						  : KR_LMTP_BODY_TEXT;
			i += c == '\r';
			break;
		case KR_LMTP_BODY_DOT_CR:
			if (c == '\n' && s->after_crlf) {
				*end_r = true;
				return i + 1;
			}
			if (c == '\n') {
				/* "." CRLF after a bare LF: content. */
				body_put(s, ".", 1);
				body_eol(s, true);
				i++;
				break;
			}
			s->body_state = KR_LMTP_BODY_CR;
			break;
		case KR_LMTP_BODY_CR:
			if (c == '\n') {
				body_eol(s, true);
				i++;
				break;
			}
			body_put(s, "\r", 1);
			s->body_state = KR_LMTP_BODY_TEXT;
			break;
		case KR_LMTP_BODY_TEXT:
			i += body_text(s, p + i, n - i);
			break;
		}
	}
	return i;
}

/* The body is complete: refuse it (one reply per recipient) or hand it
 * to the server. */
static void
lmtp_message_end(struct kr_lmtp *s)
{
	struct kr_lmtp_message *m = &s->ev.message;

	if (s->body_err != KR_LMTP_BODY_OK) {
		for (size_t i = 0; i < s->rcpt_count; i++)
			kr_lmtp_reply(s, body_err_reply[s->body_err]);
		kr_lmtp_txn_reset(s);
		kr_lmtp_enter(s, KR_LMTP_STATE_READY);
		return;
	}
	memset(&s->ev, 0, sizeof(s->ev));
	m->mail_from = s->mail_from;
	m->rcpts = s->rcpts;
	m->rcpt_count = s->rcpt_count;
	m->data = s->msg != NULL ? s->msg : "";
	m->size = s->msg_len;
	m->body_8bitmime = s->body_8bitmime;
	m->xforward.name = s->xf[KR_LMTP_XF_NAME];
	m->xforward.addr = s->xf[KR_LMTP_XF_ADDR];
	m->xforward.proto = s->xf[KR_LMTP_XF_PROTO];
	m->xforward.helo = s->xf[KR_LMTP_XF_HELO];
	m->xforward.name_tempunavail = s->xf_name_tempunavail;
	kr_lmtp_enter(s, KR_LMTP_STATE_MESSAGE_WAIT);
	kr_lmtp_raise(s, KR_LMTP_EV_MESSAGE);
}

void
kr_lmtp_chunk_end(struct kr_lmtp *s)
{
	if (s->chunk_last) {
		/* The last line may lack its CRLF (RFC 3030 sends bytes,
		 * not lines): keep a pending CR, count the line. */
		if (s->body_state == KR_LMTP_BODY_CR)
			body_put(s, "\r", 1);
		if (s->line_content > 0 && s->body_err == KR_LMTP_BODY_OK)
			body_line_done(s);
		lmtp_message_end(s);
		return;
	}
	if (s->body_err != KR_LMTP_BODY_OK) {
		/* RFC 3030 §3: a failed BDAT fails the message; the client
		 * sends no more chunks, or they get 503 (no MAIL). */
		kr_lmtp_reply(s, body_err_reply[s->body_err]);
		kr_lmtp_txn_reset(s);
		kr_lmtp_enter(s, KR_LMTP_STATE_READY);
		return;
	}
	kr_lmtp_replyf(s, "250 2.0.0 %zu octets received", s->chunk_size);
	kr_lmtp_enter(s, KR_LMTP_STATE_CHUNKED);
}

/* Input framing. */

static size_t
lmtp_data_step(struct kr_lmtp *s, const char *p, size_t n)
{
	bool end;
	size_t used = body_feed(s, p, n, &end);

	if (end)
		lmtp_message_end(s);
	return used;
}

static size_t
lmtp_chunk_step(struct kr_lmtp *s, const char *p, size_t n)
{
	size_t take = n < s->chunk_left ? n : s->chunk_left;
	bool end;

	/* Without dot handling the parser never ends on its own. */
	body_feed(s, p, take, &end);
	s->chunk_left -= take;
	if (s->chunk_left == 0)
		kr_lmtp_chunk_end(s);
	return take;
}

static size_t
lmtp_skip_step(struct kr_lmtp *s, size_t n)
{
	size_t take = n < s->skip_left ? n : s->skip_left;

	s->skip_left -= take;
	if (s->skip_left == 0)
		kr_lmtp_reply(s, s->skip_reply);
	return take;
}

/* Command lines: parsed in place when whole in the input, else
 * gathered in s->line (never more than line_max bytes). RFC 5321
 * §4.5.3.1.10: an over-long line is answered 500 once its end has
 * been read. */
static size_t
lmtp_line_step(struct kr_lmtp *s, const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	size_t take = lf != NULL ? (size_t)(lf - p) + 1 : n;

	if (s->line_discard) {
		if (lf != NULL) {
			s->line_discard = false;
			kr_lmtp_reply(s, "500 5.5.2 Line too long");
		}
		return take;
	}
	if (take > s->set.line_max - s->line_len) {
		s->line_len = 0;
		if (lf != NULL)
			kr_lmtp_reply(s, "500 5.5.2 Line too long");
		else
			s->line_discard = true;
		return take;
	}
	if (lf != NULL && s->line_len == 0) {
		kr_lmtp_cmd_line(s, p, take - 1);
		return take;
	}
	if (s->line == NULL)
		s->line = kr_xmalloc(s->set.line_max);
	memcpy(s->line + s->line_len, p, take);
	s->line_len += take;
	if (lf != NULL) {
		size_t len = s->line_len - 1;

		s->line_len = 0;
		kr_lmtp_cmd_line(s, s->line, len);
	}
	return take;
}

static bool
lmtp_can_read(const struct kr_lmtp *s)
{
	switch (s->state) {
	case KR_LMTP_STATE_RCPT_WAIT:
	case KR_LMTP_STATE_MESSAGE_WAIT:
	case KR_LMTP_STATE_TLS_WAIT:
	case KR_LMTP_STATE_CLOSED:
		return false;
	default:
		break;
	}
	return !s->event_pending &&
	       s->out_end - s->out_start <= KR_LMTP_OUTPUT_HIGH;
}

int
kr_lmtp_feed(struct kr_lmtp *s, const void *data, size_t len, size_t *used_r)
{
	const char *p = data;
	size_t used = 0;

	while (used < len && lmtp_can_read(s)) {
		const char *at = p + used;
		size_t left = len - used;

		if (s->skip_left > 0)
			used += lmtp_skip_step(s, left);
		else if (s->state == KR_LMTP_STATE_DATA)
			used += lmtp_data_step(s, at, left);
		else if (s->state == KR_LMTP_STATE_CHUNK)
			used += lmtp_chunk_step(s, at, left);
		else
			used += lmtp_line_step(s, at, left);
	}
	*used_r = used;
	if (s->state == KR_LMTP_STATE_CLOSED)
		return -1;
	return s->event_pending ? 1 : 0;
}
