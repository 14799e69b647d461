/* proto/lmtp internals shared by lmtp.c (framing, message body,
 * output, events) and lmtp_cmd.c (commands and their arguments). Not
 * for use outside proto/lmtp*.c. */
#ifndef KR_LMTP_PRIV_H
#define KR_LMTP_PRIV_H

#include "lib/arena.h"
#include "lib/limits.h"
#include "proto/lmtp.h"

/* Where the session is; kr_lmtp_enter() checks every change. */
enum kr_lmtp_state {
	KR_LMTP_STATE_INIT,	    /* greeted, no LHLO yet */
	KR_LMTP_STATE_READY,	    /* LHLO done, no transaction */
	KR_LMTP_STATE_MAIL,	    /* MAIL accepted: RCPT, DATA, BDAT */
	KR_LMTP_STATE_RCPT_WAIT,    /* KR_LMTP_EV_RCPT out */
	KR_LMTP_STATE_DATA,	    /* reading a DATA body */
	KR_LMTP_STATE_CHUNK,	    /* reading a BDAT chunk's bytes */
	KR_LMTP_STATE_CHUNKED,	    /* between BDAT chunks */
	KR_LMTP_STATE_MESSAGE_WAIT, /* KR_LMTP_EV_MESSAGE out */
	KR_LMTP_STATE_TLS_WAIT,	    /* KR_LMTP_EV_STARTTLS out */
	KR_LMTP_STATE_CLOSED,	    /* QUIT, timeout or shutdown */
};

/* Where the body parser is within a line. */
enum kr_lmtp_body_state {
	KR_LMTP_BODY_BOL,    /* at the start of a line */
	KR_LMTP_BODY_DOT,    /* DATA: a '.' opened the line */
	KR_LMTP_BODY_DOT_CR, /* DATA: ".\r" opened the line */
	KR_LMTP_BODY_TEXT,   /* inside a line */
	KR_LMTP_BODY_CR,     /* a CR waits to see whether LF follows */
};

/* Why a message body is refused; the first fault wins. */
enum kr_lmtp_body_err {
	KR_LMTP_BODY_OK,
	KR_LMTP_BODY_TOO_BIG,
	KR_LMTP_BODY_LINE_TOO_LONG,
	KR_LMTP_BODY_TOO_MANY_HEADERS,
};

enum kr_lmtp_xf {
	KR_LMTP_XF_NAME,
	KR_LMTP_XF_ADDR,
	KR_LMTP_XF_PROTO,
	KR_LMTP_XF_HELO,
	KR_LMTP_XF_COUNT,
};

/* An XFORWARD value, decoded, at most this long. */
#define KR_LMTP_XF_VALUE_MAX 255

struct kr_lmtp {
	struct kr_lmtp_settings set; /* set.hostname points at hostname */
	char hostname[KR_LMTP_HOSTNAME_MAX + 1];
	enum kr_lmtp_state state;
	bool event_pending;
	struct kr_lmtp_event ev;

	/* A command line split over feeds; line_max bytes, lazily. */
	char *line;
	size_t line_len;
	bool line_discard; /* over-long: dropping bytes up to the LF */

	/* Replies not yet written: out[out_start..out_end). */
	char *out;
	size_t out_start, out_end, out_cap;

	/* BDAT: bytes left in the chunk being read, or in a refused one
	 * (skip_left, answered with skip_reply when it is used up). */
	size_t chunk_left, chunk_size;
	bool chunk_last;
	size_t skip_left;
	const char *skip_reply;

	/* The transaction (RFC 5321 §3.3), reset by RSET, LHLO and the
	 * end of DATA/BDAT LAST. Recipients' strings live in arena. */
	struct kr_arena *arena;
	char *mail_from;
	bool body_8bitmime;
	struct kr_lmtp_rcpt *rcpts;
	size_t rcpt_count, rcpt_cap;
	/* XFORWARD: heap strings, replaced by each XFORWARD, so repeating
	 * it cannot grow memory. */
	char *xf[KR_LMTP_XF_COUNT];
	bool xf_name_tempunavail;
	/* The recipient being looked up: address, local, detail, domain
	 * (none longer than the path itself). */
	char rcpt_buf[KR_LMTP_RCPT_BUF_SIZE];

	/* The message body being received. */
	char *msg;
	size_t msg_len, msg_cap;
	enum kr_lmtp_body_state body_state;
	enum kr_lmtp_body_err body_err;
	bool body_dot; /* DATA (dot-stuffed, ends at "."), not BDAT */
	/* The line before this one ended in CRLF (or this is the first):
	 * only then can "." CRLF end DATA. */
	bool after_crlf;
	bool in_headers;
	char line_first;     /* the current line's first stored byte */
	size_t line_content; /* its bytes so far, without CRLF */
	unsigned headers;
};

/* Queues one reply line; CRLF is added. */
void kr_lmtp_reply(struct kr_lmtp *s, const char *line);
void kr_lmtp_replyf(struct kr_lmtp *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Every state change goes through here; an illegal one is a bug. */
void kr_lmtp_enter(struct kr_lmtp *s, enum kr_lmtp_state to);
/* Raises an event of kind; the caller filled s->ev's member first. */
void kr_lmtp_raise(struct kr_lmtp *s, enum kr_lmtp_event_kind kind);
/* Forgets MAIL, recipients, the body and XFORWARD. */
void kr_lmtp_txn_reset(struct kr_lmtp *s);
/* Starts receiving a body: DATA (dot true) or the first BDAT chunk. */
void kr_lmtp_body_begin(struct kr_lmtp *s, bool dot);
/* Ends a BDAT chunk (all its bytes read, or a zero-length one). */
void kr_lmtp_chunk_end(struct kr_lmtp *s);

/* Handles one command line (CRLF or LF stripped). lmtp_cmd.c. */
void kr_lmtp_cmd_line(struct kr_lmtp *s, const char *line, size_t len);

#endif
