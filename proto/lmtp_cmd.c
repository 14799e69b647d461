/* LMTP commands (RFC 2033 §4, RFC 5321 §4.1): verb dispatch, the
 * sequence rules, paths and their parameters, XFORWARD. Every handler
 * answers exactly one reply or raises an event (which answers later),
 * except BDAT, whose reply follows its chunk. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/hex.h"
#include "proto/lmtp_priv.h"

#define CMD_VERB_MAX 16

static const char reply_need_lhlo[] = "503 5.5.1 Send LHLO first";
static const char reply_need_mail[] = "503 5.5.1 Need MAIL command";
static const char reply_no_rcpt[] = "503 5.5.1 No valid recipients";
static const char reply_in_txn[] = "503 5.5.1 Mail transaction in progress";
static const char reply_ok[] = "250 2.0.0 Ok";

/* Character classes (RFC 5321 §4.1.2). Bytes >= 0x80 are let through
 * in addresses: we do not advertise SMTPUTF8, but refusing UTF-8 that
 * Postfix already accepted would bounce it for nothing. */
static bool
cmd_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool
cmd_is_atext(unsigned char c)
{
	return cmd_is_alnum(c) || c >= 0x80 ||
	       (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

static bool
cmd_is_domain(unsigned char c)
{
	return cmd_is_alnum(c) || c >= 0x80 || c == '-' || c == '.' || c == '_';
}

static bool
cmd_is_qtext(unsigned char c)
{
	return (c >= 32 && c <= 126 && c != '"' && c != '\\') || c >= 0x80;
}

/* Address literal content (dcontent): no brackets, no backslash. */
static bool
cmd_is_dtext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '[' && c != ']' && c != '\\';
}

static unsigned char
cmd_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool
cmd_eq_ci(const char *p, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n && word[i] != '\0'; i++)
		if (cmd_lower((unsigned char)p[i]) !=
		    cmd_lower((unsigned char)word[i]))
			return false;
	return i == n && word[i] == '\0';
}

static bool
cmd_prefix_ci(const char *p, size_t n, const char *word)
{
	size_t w = strlen(word);

	return n >= w && cmd_eq_ci(p, w, word);
}

static size_t
cmd_skip_spaces(const char *p, size_t n, size_t i)
{
	while (i < n && p[i] == ' ')
		i++;
	return i;
}

/* Decimal without sign into *v; false on anything else or overflow. */
static bool
cmd_parse_size(const char *p, size_t n, size_t *v)
{
	size_t x = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';

		if (d > 9 || x > (SIZE_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

/* A path as parsed from `<...>`. */
struct cmd_path {
	bool null;	    /* <> */
	const char *raw;    /* the mailbox as sent, without source route */
	size_t raw_len;	    /* <= KR_ADDRESS_MAX */
	char *local;	    /* unquoted, NUL-terminated (caller's buffer) */
	size_t local_len;   /* > 0 unless null */
	bool quoted;	    /* the local part was a quoted-string */
	const char *domain; /* in the line; NULL when absent */
	size_t domain_len;
	size_t end; /* index just after '>' */
};

/* Quoted-string local part (RFC 5321 §4.1.2), unquoted into
 * path->local; *i is just after the opening quote. */
static int
cmd_path_quoted(const char *p, size_t n, size_t *i, struct cmd_path *path)
{
	for (;;) {
		unsigned char c;

		if (*i >= n)
			return -1;
		c = (unsigned char)p[*i];
		if (c == '"') {
			(*i)++;
			return 0;
		}
		if (c == '\\') {
			(*i)++;
			if (*i >= n)
				return -1;
			c = (unsigned char)p[*i];
			if (c < 32 || c == 127)
				return -1;
		} else if (!cmd_is_qtext(c)) {
			return -1;
		}
		if (path->local_len >= KR_ADDRESS_MAX)
			return -1;
		path->local[path->local_len++] = (char)c;
		(*i)++;
	}
}

static int
cmd_path_local(const char *p, size_t n, size_t *i, struct cmd_path *path)
{
	if (*i < n && p[*i] == '"') {
		(*i)++;
		path->quoted = true;
		if (cmd_path_quoted(p, n, i, path) < 0)
			return -1;
	} else {
		while (*i < n && cmd_is_atext((unsigned char)p[*i])) {
			if (path->local_len >= KR_ADDRESS_MAX)
				return -1;
			path->local[path->local_len++] = p[(*i)++];
		}
	}
	path->local[path->local_len] = '\0';
	return path->local_len > 0 ? 0 : -1;
}

/* Domain or address literal after '@'. */
static int
cmd_path_domain(const char *p, size_t n, size_t *i, struct cmd_path *path)
{
	size_t start = *i;

	if (*i < n && p[*i] == '[') {
		for ((*i)++; *i < n && p[*i] != ']'; (*i)++)
			if (!cmd_is_dtext((unsigned char)p[*i]))
				return -1;
		if (*i >= n || *i - start < 2)
			return -1;
		(*i)++;
	} else {
		while (*i < n && cmd_is_domain((unsigned char)p[*i]))
			(*i)++;
		if (*i == start)
			return -1;
	}
	path->domain = p + start;
	path->domain_len = *i - start;
	return 0;
}

/* Parses `<>`, `<mailbox>` or `<@route,@route:mailbox>` at p (RFC 5321
 * §4.1.2; source routes are ignored as §C allows). local_buf holds
 * KR_ADDRESS_MAX + 1 bytes. */
static int
cmd_path_parse(const char *p, size_t n, char *local_buf, struct cmd_path *path)
{
	size_t i = 1, start;

	memset(path, 0, sizeof(*path));
	path->local = local_buf;
	if (n < 2 || p[0] != '<')
		return -1;
	if (p[1] == '>') {
		path->null = true;
		path->end = 2;
		return 0;
	}
	if (p[1] == '@') {
		while (i < n && p[i] != ':' && p[i] != '>' &&
		       (cmd_is_domain((unsigned char)p[i]) || p[i] == '@' ||
			p[i] == ',' || p[i] == '[' || p[i] == ']'))
			i++;
		if (i >= n || p[i] != ':')
			return -1;
		i++;
	}
	start = i;
	if (cmd_path_local(p, n, &i, path) < 0)
		return -1;
	if (i < n && p[i] == '@') {
		i++;
		if (cmd_path_domain(p, n, &i, path) < 0)
			return -1;
	}
	if (i >= n || p[i] != '>' || i - start > KR_ADDRESS_MAX)
		return -1;
	path->raw = p + start;
	path->raw_len = i - start;
	path->end = i + 1;
	return 0;
}

/* One ESMTP parameter (RFC 5321 §4.1.2 esmtp-param). */
struct cmd_param {
	const char *key;
	size_t key_len;
	const char *value; /* NULL when there is no '=' */
	size_t value_len;
};

/* The next space-separated parameter from p[*pos..n): 1 and *param
 * set, 0 at the end, -1 on bad syntax. */
static int
cmd_param_next(const char *p, size_t n, size_t *pos, struct cmd_param *param)
{
	size_t i = cmd_skip_spaces(p, n, *pos), k;

	if (i == n)
		return 0;
	if (i == *pos && *pos != 0)
		return -1; /* parameters are separated by spaces */
	memset(param, 0, sizeof(*param));
	param->key = p + i;
	for (k = i; k < n && p[k] != ' ' && p[k] != '='; k++)
		if (!cmd_is_alnum((unsigned char)p[k]) &&
		    (k == i || p[k] != '-'))
			return -1;
	param->key_len = k - i;
	if (param->key_len == 0)
		return -1;
	if (k < n && p[k] == '=') {
		param->value = p + ++k;
		for (; k < n && p[k] != ' '; k++)
			if ((unsigned char)p[k] < 33 ||
			    (unsigned char)p[k] > 126 || p[k] == '=')
				return -1;
		param->value_len = (size_t)(p + k - param->value);
		if (param->value_len == 0)
			return -1;
	}
	*pos = k;
	return 1;
}

/* MAIL FROM:<path> [SIZE=n] [BODY=7BIT|8BITMIME]: RFC 1870, 6152. */
static const char *
cmd_mail_params(struct kr_lmtp *s, const char *p, size_t n, size_t pos,
		bool *body_8bit_r)
{
	struct cmd_param prm;
	int r;

	while ((r = cmd_param_next(p, n, &pos, &prm)) == 1) {
		size_t size;

		if (cmd_eq_ci(prm.key, prm.key_len, "SIZE")) {
			if (prm.value == NULL ||
			    !cmd_parse_size(prm.value, prm.value_len, &size))
				return "501 5.5.4 Bad SIZE parameter";
			if (size > s->set.message_max)
				return "552 5.3.4 Message size exceeds fixed "
				       "maximum message size";
		} else if (cmd_eq_ci(prm.key, prm.key_len, "BODY")) {
			if (prm.value != NULL &&
			    cmd_eq_ci(prm.value, prm.value_len, "8BITMIME"))
				*body_8bit_r = true;
			else if (prm.value != NULL &&
				 cmd_eq_ci(prm.value, prm.value_len, "7BIT"))
				*body_8bit_r = false;
			else
				return "501 5.5.4 Unsupported BODY type";
		} else {
			/* RFC 5321 §4.1.1.11: not advertised, not taken. */
			return "555 5.5.4 Unsupported parameter";
		}
	}
	return r < 0 ? "501 5.5.4 Bad parameter syntax" : NULL;
}

static void
cmd_mail(struct kr_lmtp *s, const char *arg, size_t len)
{
	char local[KR_ADDRESS_MAX + 1];
	struct cmd_path path;
	const char *err;
	bool body_8bit = false;
	size_t i;

	if (s->state == KR_LMTP_STATE_INIT) {
		kr_lmtp_reply(s, reply_need_lhlo);
		return;
	}
	if (s->state != KR_LMTP_STATE_READY) {
		kr_lmtp_reply(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	if (!cmd_prefix_ci(arg, len, "FROM:")) {
		kr_lmtp_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	i = cmd_skip_spaces(arg, len, 5);
	if (cmd_path_parse(arg + i, len - i, local, &path) < 0 ||
	    (!path.null && path.domain == NULL)) {
		kr_lmtp_reply(s, "501 5.1.7 Bad sender address syntax");
		return;
	}
	err = cmd_mail_params(s, arg + i, len - i, path.end, &body_8bit);
	if (err != NULL) {
		kr_lmtp_reply(s, err);
		return;
	}
	s->mail_from = kr_arena_strndup(s->arena, path.null ? "" : path.raw,
					path.null ? 0 : path.raw_len, NULL);
	kr_assert(s->mail_from != NULL);
	s->body_8bitmime = body_8bit;
	kr_lmtp_enter(s, KR_LMTP_STATE_MAIL);
	kr_lmtp_reply(s, "250 2.1.0 Ok");
}

/* Splits the parsed recipient into b (KR_LMTP_RCPT_BUF_SIZE bytes) and
 * points *r at it: address, local (before the first '+'), detail,
 * domain. */
static void
cmd_rcpt_split(const struct cmd_path *path, char *b, struct kr_lmtp_rcpt *r)
{
	char *local, *detail = NULL, *domain;
	const char *plus = memchr(path->local, '+', path->local_len);
	size_t local_len = path->local_len, dlen = path->domain_len;

	/* Every piece is shorter than the path (<= KR_ADDRESS_MAX). */
	memcpy(b, path->local, local_len);
	b[local_len] = '\0';
	if (dlen > 0) {
		b[local_len] = '@';
		memcpy(b + local_len + 1, path->domain, dlen);
		b[local_len + 1 + dlen] = '\0';
	}
	r->address = b;
	b += KR_ADDRESS_MAX + 1;
	local = b;
	if (plus != NULL && plus != path->local)
		local_len = (size_t)(plus - path->local);
	memcpy(local, path->local, local_len);
	local[local_len] = '\0';
	b += KR_ADDRESS_MAX + 1;
	if (local_len + 1 < path->local_len) {
		detail = b;
		memcpy(detail, path->local + local_len + 1,
		       path->local_len - local_len - 1);
		detail[path->local_len - local_len - 1] = '\0';
	}
	b += KR_ADDRESS_MAX + 1;
	domain = b;
	memcpy(domain, path->domain != NULL ? path->domain : "", dlen);
	domain[dlen] = '\0';
	r->local = local;
	r->detail = detail;
	r->domain = domain;
}

/* RCPT's argument, `TO:<path>` and no parameter: NULL and *path_r set
 * (pointing into arg and local), or the refusal's reply. The one
 * parser of the state machine and of kr_lmtp_rcpt_peek(). */
static const char *
cmd_rcpt_parse(const char *arg, size_t len, char *local,
	       struct cmd_path *path_r)
{
	struct cmd_param prm;
	size_t i, pos;
	int r;

	if (!cmd_prefix_ci(arg, len, "TO:"))
		return "501 5.5.4 Syntax: RCPT TO:<address>";
	i = cmd_skip_spaces(arg, len, 3);
	/* RFC 5321 §4.1.1.3: <Postmaster> needs no domain. */
	if (cmd_path_parse(arg + i, len - i, local, path_r) < 0 ||
	    path_r->null ||
	    (path_r->domain == NULL &&
	     (path_r->quoted ||
	      !cmd_eq_ci(path_r->local, path_r->local_len, "postmaster"))))
		return "501 5.1.3 Bad recipient address syntax";
	pos = path_r->end;
	r = cmd_param_next(arg + i, len - i, &pos, &prm);
	if (r != 0)
		return r < 0 ? "501 5.5.4 Bad parameter syntax"
			     : "555 5.5.4 Unsupported parameter";
	return NULL;
}

static void
cmd_rcpt(struct kr_lmtp *s, const char *arg, size_t len)
{
	char local[KR_ADDRESS_MAX + 1];
	struct cmd_path path;
	const char *refused;

	if (s->state == KR_LMTP_STATE_CHUNKED) {
		kr_lmtp_reply(s, "503 5.5.1 RCPT after BDAT");
		return;
	}
	if (s->state != KR_LMTP_STATE_MAIL) {
		kr_lmtp_reply(s, reply_need_mail);
		return;
	}
	refused = cmd_rcpt_parse(arg, len, local, &path);
	if (refused != NULL) {
		kr_lmtp_reply(s, refused);
		return;
	}
	if (s->rcpt_count >= s->set.rcpt_max) {
		kr_lmtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	memset(&s->ev, 0, sizeof(s->ev));
	cmd_rcpt_split(&path, s->rcpt_buf, &s->ev.rcpt);
	kr_lmtp_enter(s, KR_LMTP_STATE_RCPT_WAIT);
	kr_lmtp_raise(s, KR_LMTP_EV_RCPT);
}

static void
cmd_data(struct kr_lmtp *s, const char *arg, size_t len)
{
	(void)arg;
	if (len > 0) {
		kr_lmtp_reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->state == KR_LMTP_STATE_CHUNKED) {
		/* RFC 3030 §2: DATA and BDAT do not mix. */
		kr_lmtp_reply(s, "503 5.5.1 DATA after BDAT");
		return;
	}
	if (s->state != KR_LMTP_STATE_MAIL) {
		kr_lmtp_reply(s, reply_need_mail);
		return;
	}
	if (s->rcpt_count == 0) {
		/* RFC 2033 §4.2. */
		kr_lmtp_reply(s, reply_no_rcpt);
		return;
	}
	kr_lmtp_reply(s, "354 Start mail input; end with <CRLF>.<CRLF>");
	kr_lmtp_body_begin(s, true);
	kr_lmtp_enter(s, KR_LMTP_STATE_DATA);
}

/* BDAT <size> [LAST] (RFC 3030 §2). The chunk's bytes follow the
 * command and are read even when the command is refused. */
static void
cmd_bdat(struct kr_lmtp *s, const char *arg, size_t len)
{
	size_t n, digits = 0;
	bool last = false;
	const char *refuse = NULL;

	while (digits < len && arg[digits] != ' ')
		digits++;
	if (digits < len) {
		size_t k = cmd_skip_spaces(arg, len, digits);

		last = cmd_eq_ci(arg + k, len - k, "LAST");
		if (!last) {
			kr_lmtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
			return;
		}
	}
	if (!cmd_parse_size(arg, digits, &n)) {
		kr_lmtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	if (s->state == KR_LMTP_STATE_MAIL && s->rcpt_count == 0)
		refuse = reply_no_rcpt;
	else if (s->state != KR_LMTP_STATE_MAIL &&
		 s->state != KR_LMTP_STATE_CHUNKED)
		refuse = reply_need_mail;
	if (refuse != NULL) {
		if (n == 0)
			kr_lmtp_reply(s, refuse);
		s->skip_left = n;
		s->skip_reply = refuse;
		return;
	}
	if (s->state == KR_LMTP_STATE_MAIL)
		kr_lmtp_body_begin(s, false);
	s->chunk_size = s->chunk_left = n;
	s->chunk_last = last;
	kr_lmtp_enter(s, KR_LMTP_STATE_CHUNK);
	if (n == 0)
		kr_lmtp_chunk_end(s);
}

static void
cmd_rset(struct kr_lmtp *s, const char *arg, size_t len)
{
	(void)arg;
	if (len > 0) {
		kr_lmtp_reply(s, "501 5.5.4 Syntax: RSET");
		return;
	}
	kr_lmtp_txn_reset(s);
	if (s->state != KR_LMTP_STATE_INIT)
		kr_lmtp_enter(s, KR_LMTP_STATE_READY);
	kr_lmtp_reply(s, reply_ok);
}

static void
cmd_noop(struct kr_lmtp *s, const char *arg, size_t len)
{
	/* RFC 5321 §4.1.1.9: a parameter is allowed and ignored. */
	(void)arg;
	(void)len;
	kr_lmtp_reply(s, reply_ok);
}

static void
cmd_quit(struct kr_lmtp *s, const char *arg, size_t len)
{
	(void)arg;
	if (len > 0) {
		kr_lmtp_reply(s, "501 5.5.4 Syntax: QUIT");
		return;
	}
	kr_lmtp_reply(s, "221 2.0.0 Bye");
	kr_lmtp_enter(s, KR_LMTP_STATE_CLOSED);
	memset(&s->ev, 0, sizeof(s->ev));
	kr_lmtp_raise(s, KR_LMTP_EV_QUIT);
}

static void
cmd_vrfy(struct kr_lmtp *s, const char *arg, size_t len)
{
	(void)arg;
	if (len == 0) {
		kr_lmtp_reply(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	/* RFC 5321 §3.5.3: we do not tell who exists. */
	kr_lmtp_reply(s, "252 2.5.0 Cannot VRFY user, but will accept "
			 "message and attempt delivery");
}

static void
cmd_lhlo(struct kr_lmtp *s, const char *arg, size_t len)
{
	const char *caps[8];
	char size_cap[32];
	size_t n = 0;

	(void)arg;
	if (len == 0) {
		kr_lmtp_reply(s, "501 5.5.4 Syntax: LHLO hostname");
		return;
	}
	/* RFC 5321 §4.1.4: like RSET, plus a fresh greeting. */
	kr_lmtp_txn_reset(s);
	kr_lmtp_enter(s, KR_LMTP_STATE_READY);
	snprintf(size_cap, sizeof(size_cap), "SIZE %zu", s->set.message_max);
	caps[n++] = "PIPELINING";
	caps[n++] = "ENHANCEDSTATUSCODES";
	caps[n++] = "8BITMIME";
	caps[n++] = size_cap;
	if (s->set.xforward)
		caps[n++] = "XFORWARD NAME ADDR PROTO HELO";
	if (s->set.starttls && !s->set.tls_active)
		caps[n++] = "STARTTLS";
	if (s->set.chunking)
		caps[n++] = "CHUNKING";
	kr_lmtp_replyf(s, "250-%s", s->hostname);
	for (size_t i = 0; i < n; i++)
		kr_lmtp_replyf(s, "250%c%s", i + 1 == n ? ' ' : '-', caps[i]);
}

static void
cmd_helo(struct kr_lmtp *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	/* RFC 2033 §4.1: an LMTP server must not answer HELO/EHLO. */
	kr_lmtp_reply(s, "500 5.5.1 This is LMTP: use LHLO");
}

/* xtext (RFC 3461 §4): "+XX" is a byte in hex (upper case by the RFC,
 * lower case tolerated). Into out (cap bytes incl. NUL); false on bad
 * encoding, an empty or too long value, or control bytes (the values
 * end up in headers and logs). */
static bool
cmd_xtext_decode(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];

		if (c == '+') {
			int hi = i + 2 < n
					 ? kr_hex_value((unsigned char)p[i + 1])
					 : -1;
			int lo = hi >= 0 ? kr_hex_value((unsigned char)p[i + 2])
					 : -1;

			if (lo < 0)
				return false;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 32 || c == 127 || o + 1 >= cap)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return o > 0;
}

static int
cmd_xf_index(const char *key, size_t len)
{
	static const char *const names[KR_LMTP_XF_COUNT] = {
		[KR_LMTP_XF_NAME] = "NAME",
		[KR_LMTP_XF_ADDR] = "ADDR",
		[KR_LMTP_XF_PROTO] = "PROTO",
		[KR_LMTP_XF_HELO] = "HELO",
	};

	for (int i = 0; i < KR_LMTP_XF_COUNT; i++)
		if (cmd_eq_ci(key, len, names[i]))
			return i;
	return -1;
}

/* Takes the decoded attributes: "[UNAVAILABLE]" and "[TEMPUNAVAIL]"
 * mean "no value" (Postfix XFORWARD_README). */
static void
cmd_xf_commit(struct kr_lmtp *s, char (*val)[KR_LMTP_XF_VALUE_MAX + 1],
	      const bool *set)
{
	for (int i = 0; i < KR_LMTP_XF_COUNT; i++) {
		size_t n = strlen(val[i]);
		bool temp = cmd_eq_ci(val[i], n, "[TEMPUNAVAIL]");

		if (!set[i])
			continue;
		free(s->xf[i]);
		s->xf[i] = NULL;
		if (i == KR_LMTP_XF_NAME)
			s->xf_name_tempunavail = temp;
		if (!temp && !cmd_eq_ci(val[i], n, "[UNAVAILABLE]"))
			s->xf[i] = kr_xstrdup(val[i]);
	}
}

/* XFORWARD attr=value... (Postfix XFORWARD_README): allowed outside a
 * mail transaction; all or nothing. */
static void
cmd_xforward(struct kr_lmtp *s, const char *arg, size_t len)
{
	char val[KR_LMTP_XF_COUNT][KR_LMTP_XF_VALUE_MAX + 1];
	bool set[KR_LMTP_XF_COUNT] = { false };
	struct cmd_param prm;
	size_t pos = 0;
	int r, count = 0;

	if (!s->set.xforward) {
		kr_lmtp_reply(s, "550 5.7.0 Not authorized to send XFORWARD");
		return;
	}
	if (s->state == KR_LMTP_STATE_INIT) {
		kr_lmtp_reply(s, reply_need_lhlo);
		return;
	}
	if (s->state != KR_LMTP_STATE_READY) {
		kr_lmtp_reply(s, reply_in_txn);
		return;
	}
	memset(val, 0, sizeof(val));
	while ((r = cmd_param_next(arg, len, &pos, &prm)) == 1) {
		int i = cmd_xf_index(prm.key, prm.key_len);

		if (i < 0) {
			kr_lmtp_reply(s, "501 5.5.4 Bad XFORWARD attribute "
					 "name");
			return;
		}
		if (prm.value == NULL ||
		    !cmd_xtext_decode(prm.value, prm.value_len, val[i],
				      sizeof(val[i]))) {
			kr_lmtp_reply(s, "501 5.5.4 Bad XFORWARD attribute "
					 "value");
			return;
		}
		set[i] = true;
		count++;
	}
	if (r < 0 || count == 0) {
		kr_lmtp_reply(s, "501 5.5.4 Syntax: XFORWARD attribute=value "
				 "...");
		return;
	}
	cmd_xf_commit(s, val, set);
	kr_lmtp_reply(s, reply_ok);
}

/* STARTTLS (RFC 3207 §4). */
static void
cmd_starttls(struct kr_lmtp *s, const char *arg, size_t len)
{
	(void)arg;
	if (s->set.tls_active) {
		kr_lmtp_reply(s, "503 5.5.1 TLS already active");
		return;
	}
	if (!s->set.starttls) {
		kr_lmtp_reply(s, "502 5.5.1 STARTTLS not available");
		return;
	}
	if (len > 0) {
		kr_lmtp_reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->state == KR_LMTP_STATE_INIT) {
		kr_lmtp_reply(s, reply_need_lhlo);
		return;
	}
	if (s->state != KR_LMTP_STATE_READY) {
		kr_lmtp_reply(s, reply_in_txn);
		return;
	}
	kr_lmtp_reply(s, "220 2.0.0 Ready to start TLS");
	kr_lmtp_enter(s, KR_LMTP_STATE_TLS_WAIT);
	memset(&s->ev, 0, sizeof(s->ev));
	kr_lmtp_raise(s, KR_LMTP_EV_STARTTLS);
}

struct cmd_def {
	const char *verb;
	void (*fn)(struct kr_lmtp *s, const char *arg, size_t len);
};

static const struct cmd_def cmd_table[] = {
	{ "LHLO", cmd_lhlo },	      { "MAIL", cmd_mail },
	{ "RCPT", cmd_rcpt },	      { "DATA", cmd_data },
	{ "BDAT", cmd_bdat },	      { "RSET", cmd_rset },
	{ "NOOP", cmd_noop },	      { "QUIT", cmd_quit },
	{ "VRFY", cmd_vrfy },	      { "XFORWARD", cmd_xforward },
	{ "STARTTLS", cmd_starttls }, { "HELO", cmd_helo },
	{ "EHLO", cmd_helo },
};

/* Splits a command line (its LF stripped) into the verb, line[0..*v_r),
 * and the argument, line[*a_r..return value). CRLF or a bare LF ended
 * the line; trailing blanks are noise some clients add. */
static size_t
cmd_split(const char *line, size_t len, size_t *v_r, size_t *a_r)
{
	size_t v = 0;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
			   line[len - 1] == '\t'))
		len--;
	while (v < len && line[v] != ' ')
		v++;
	*v_r = v;
	*a_r = cmd_skip_spaces(line, len, v);
	return len;
}

int
kr_lmtp_rcpt_peek(const char *line, size_t len, char *buf,
		  struct kr_lmtp_rcpt *rcpt_r)
{
	char local[KR_ADDRESS_MAX + 1];
	struct cmd_path path;
	size_t v, a;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	len = cmd_split(line, len, &v, &a);
	if (!cmd_eq_ci(line, v, "RCPT"))
		return 0;
	if (cmd_rcpt_parse(line + a, len - a, local, &path) != NULL)
		return -1;
	cmd_rcpt_split(&path, buf, rcpt_r);
	return 1;
}

void
kr_lmtp_cmd_line(struct kr_lmtp *s, const char *line, size_t len)
{
	size_t v, a;

	len = cmd_split(line, len, &v, &a);
	for (size_t i = 0; v > 0 && v <= CMD_VERB_MAX &&
			   i < sizeof(cmd_table) / sizeof(cmd_table[0]);
	     i++) {
		const struct cmd_def *c = &cmd_table[i];

		if (!cmd_eq_ci(line, v, c->verb))
			continue;
		if (c->fn == cmd_bdat && !s->set.chunking)
			break;
		c->fn(s, line + a, len - a);
		return;
	}
	kr_lmtp_reply(s, "500 5.5.2 Command unrecognized");
}
