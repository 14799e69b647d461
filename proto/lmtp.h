/* LMTP server session (RFC 2033) as a sans-I/O state machine: the
 * server feeds it the bytes it reads, writes the reply bytes it
 * produces and answers its events (recipient look-up, message
 * delivery, STARTTLS, QUIT) whenever it likes. No sockets, no clock,
 * no storage. One thread at a time; the session owns every pointer it
 * hands out (see each function for how long they stay valid).
 *
 * Typical loop: while input is buffered, feed it; drop the used bytes;
 * write out kr_lmtp_output(); when kr_lmtp_event() is non-NULL, answer
 * it (now or later) and feed the rest again. */
#ifndef KR_LMTP_H
#define KR_LMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/limits.h"

/* The default limits and the ranges kr_lmtp_create() accepts are
 * KR_LMTP_*_DEFAULT, _MIN and _MAX (lib/limits.h): the config's. */

/* Input stops being consumed while more output than this waits; the
 * output never grows past it by more than one batch of replies (at
 * most one per recipient), so a client that pipelines without reading
 * holds this much of our memory at most. */
#define KR_LMTP_OUTPUT_HIGH (64 << 10)
/* The server stops reading a session's socket while this much input
 * waits to be fed (SPEC.md §6): kr_lmtp_feed() takes input only while
 * it can act on it, and whatever a client pipelines past that point
 * must wait in its own socket buffers, not in ours. kr_lmtp_input_high()
 * gives two of the longest message lines (data_line_max), so that a
 * whole line always fits in one feed and is parsed in place, but at
 * least this much so that a large message still arrives in large
 * reads. */
#define KR_LMTP_INPUT_HIGH_MIN (64 << 10)

struct kr_lmtp;

struct kr_lmtp_settings {
	const char *hostname; /* copied; printable, no spaces */
	size_t line_max;      /* command line, bytes incl. CRLF */
	size_t data_line_max; /* message line as stored, bytes incl. CRLF */
	size_t message_max;   /* message as stored (CRLF, unstuffed) */
	unsigned rcpt_max;    /* accepted recipients per transaction */
	unsigned header_max;  /* header fields per message */
	bool starttls;	      /* advertise STARTTLS (a certificate exists) */
	bool tls_active;      /* the connection is already TLS */
	bool chunking;	      /* advertise CHUNKING and accept BDAT */
	/* Advertise XFORWARD and take it. Off, the command gets 550 5.7.0:
	 * its attributes name the original client, which antispam and the
	 * stored headers believe, so only a trusted MTA may send it (the
	 * server decides whom; Postfix's smtpd_authorized_xforward_hosts). */
	bool xforward;
};

/* Fills the defaults above: hostname "localhost", no STARTTLS, no TLS,
 * CHUNKING on, XFORWARD off (a server turns it on per client). */
void kr_lmtp_settings_init(struct kr_lmtp_settings *set);

/* The input bound above for a data_line_max (in range). */
size_t kr_lmtp_input_high(size_t data_line_max);

/* Creates a session and queues the greeting
 * `220 <hostname> LMTP kurier ready`. set is copied. Settings outside
 * the ranges above (or a hostname with spaces or control characters)
 * are a bug in the caller, which validated its configuration: they
 * panic. Never returns NULL. */
struct kr_lmtp *kr_lmtp_create(const struct kr_lmtp_settings *set);
/* Frees everything, including any event's data; sets *s to NULL. NULL
 * is fine. */
void kr_lmtp_destroy(struct kr_lmtp **s);

/* The replies the machine makes by itself (RFC 2034 enhanced codes):
 *   LHLO      250 with the capabilities; HELO, EHLO 500 5.5.1 (RFC 2033
 *             §4.1: an LMTP server refuses them)
 *   MAIL      250 2.1.0; SIZE over message_max 552 5.3.4 (RFC 1870);
 *             bad path 501 5.1.7; unknown parameter 555 5.5.4
 *   RCPT      the event, then the answer's reply; bad path 501 5.1.3;
 *             past rcpt_max 452 4.5.3; any parameter 555 5.5.4
 *   DATA      354, then one reply per accepted recipient (RFC 2033
 *             §4.2); none accepted 503 5.5.1
 *   BDAT n    250 2.0.0 after the chunk; LAST: one per recipient; a
 *             refused BDAT's chunk is read and discarded first
 *   RSET, NOOP, XFORWARD 250 2.0.0; VRFY 252 2.5.0; QUIT 221 2.0.0;
 *             XFORWARD when not allowed 550 5.7.0
 *   STARTTLS  220 2.0.0; not offered 502 5.5.1; TLS on 503 5.5.1
 *   otherwise wrong order 503 5.5.1, unknown verb 500 5.5.2, bad
 *   arguments 501 5.5.4, a command line over line_max 500 5.5.2 once
 *   its LF has been read.
 * A message over a limit is read to its end and refused with one reply
 * per recipient, then the transaction is reset: over message_max
 * 552 5.3.4 (RFC 1870 §6.1, RFC 3463 X.3.4), a line over data_line_max
 * or more than header_max header fields 554 5.6.0 (RFC 3463 X.6.0, a
 * fault in the content). A BDAT chunk that is not LAST gets the single
 * reply instead and ends the transaction (RFC 3030 §3); further chunks
 * are read and get 503 5.5.1. Time-outs 421 4.4.2, shutdown 421 4.3.2.
 */

/* Consumes as much of data as it can and sets *used_r to how much.
 * The server keeps data[*used_r..len) and feeds it again later.
 * Consumption stops early when:
 *   - an event is waiting for its answer (returns 1); feed the rest
 *     after answering;
 *   - more than KR_LMTP_OUTPUT_HIGH bytes of output wait (returns 0);
 *     feed the rest after writing some out;
 *   - the session is closed (returns -1): QUIT, kr_lmtp_timeout() or
 *     kr_lmtp_shutdown(). Flush the output, then close.
 * Otherwise everything is used and it returns 0 (need more) or 1 if
 * the last byte raised an event. While a STARTTLS event waits nothing
 * is consumed: bytes the client sent after STARTTLS and before the
 * handshake are an injection attempt (RFC 3207 §5, CVE-2011-0411); the
 * server must discard them (or drop the client), never feed them.
 * Memory stays bounded: at most one command line (line_max) and one
 * message (message_max) are buffered. */
int kr_lmtp_feed(struct kr_lmtp *s, const void *data, size_t len,
		 size_t *used_r);

/* Borrows the pending output: true and *data_r and *len_r set when there
 * is some, false when there is none. Valid until the next call on s. */
bool kr_lmtp_output(struct kr_lmtp *s, const void **data_r, size_t *len_r);
/* Marks n bytes of the pending output as written (n <= its length). */
void kr_lmtp_output_consume(struct kr_lmtp *s, size_t n);

enum kr_lmtp_event_kind {
	KR_LMTP_EV_RCPT = 1, /* answer with kr_lmtp_answer_rcpt() */
	KR_LMTP_EV_MESSAGE,  /* answer with kr_lmtp_answer_message() */
	KR_LMTP_EV_STARTTLS, /* handshake, then kr_lmtp_tls_started() */
	KR_LMTP_EV_QUIT,     /* flush the output and close; no answer */
};

/* A recipient. Strings are NUL-terminated and contain no control
 * characters. address is `local@domain` with a quoted local part
 * unquoted (RFC 5321 §4.1.2: `"a b"@x` is `a b@x`), case kept. local
 * is the local part up to the first '+' (detail separator), detail
 * what follows it (NULL when there is no '+', when nothing follows it
 * or when the local part starts with it). domain is never NULL: "" for
 * the bare `<Postmaster>` that RFC 5321 §4.1.1.3 makes us accept. */
struct kr_lmtp_rcpt {
	const char *address;
	const char *local;
	const char *detail;
	const char *domain;
	int64_t ref; /* the server's, from kr_lmtp_answer_rcpt_ref(); 0 */
};

/* Postfix XFORWARD attributes, xtext-decoded; NULL when not sent or
 * sent as [UNAVAILABLE] or [TEMPUNAVAIL]. They hold for one
 * transaction: the end of the message, RSET, LHLO and STARTTLS forget
 * them. name_tempunavail tells the
 * latter apart for NAME (the client's reverse look-up failed for the
 * time being, which antispam should not hold against it). */
/* Room for a kr_lmtp_rcpt's strings: address, local, detail, domain,
 * none longer than the path itself. */
#define KR_LMTP_RCPT_BUF_SIZE (4 * (KR_ADDRESS_MAX + 1))

/* Looks ahead at a pipelined command (RFC 2920) without a session, so
 * that a server can start recipient look-ups before the state machine
 * reaches them: line[0..len) is one command line (its CRLF or LF may be
 * included). 1: an RCPT whose argument the machine would turn into a
 * KR_LMTP_EV_RCPT (if it gets there in a transaction, under rcpt_max),
 * with the same strings in *rcpt_r, stored in buf
 * (KR_LMTP_RCPT_BUF_SIZE bytes); -1: an RCPT it would refuse by
 * itself; 0: any other command. Parses with the machine's own parser;
 * only the machine's answers count (this decides nothing). */
int kr_lmtp_rcpt_peek(const char *line, size_t len, char *buf,
		      struct kr_lmtp_rcpt *rcpt_r);

struct kr_lmtp_xforward {
	const char *name;
	const char *addr;
	const char *proto;
	const char *helo;
	bool name_tempunavail;
};

struct kr_lmtp_message {
	/* The reverse-path as sent between the angle brackets, source
	 * route removed, quoting kept (fit for a Return-Path: header);
	 * "" for the null path <>. */
	const char *mail_from;
	const struct kr_lmtp_rcpt *rcpts; /* accepted ones, RCPT order */
	size_t rcpt_count;		  /* >= 1 */
	/* The message: dot-unstuffed (DATA), every line ending CRLF
	 * (bare LF became CRLF; a lone CR is kept as it is); 8-bit bytes
	 * as received. A BDAT message's last line may lack its CRLF. Not
	 * NUL-terminated. */
	const char *data;
	size_t size;
	bool body_8bitmime; /* MAIL ... BODY=8BITMIME */
	struct kr_lmtp_xforward xforward;
};

struct kr_lmtp_event {
	enum kr_lmtp_event_kind kind;
	struct kr_lmtp_rcpt rcpt;	/* KR_LMTP_EV_RCPT */
	struct kr_lmtp_message message; /* KR_LMTP_EV_MESSAGE */
};

/* The pending event, or NULL. Borrowed: valid, unchanged, until the
 * event is answered (its strings and data until then too), the session
 * is destroyed or, for QUIT, for the rest of the session. NULL after
 * kr_lmtp_timeout() or kr_lmtp_shutdown() (unless QUIT came first). */
const struct kr_lmtp_event *kr_lmtp_event(struct kr_lmtp *s);

enum kr_lmtp_rcpt_result {
	KR_LMTP_RCPT_OK,	      /* 250 2.1.5 */
	KR_LMTP_RCPT_UNKNOWN,	      /* 550 5.1.1 */
	KR_LMTP_RCPT_OVER_QUOTA,      /* 452 4.2.2 */
	KR_LMTP_RCPT_OVER_QUOTA_PERM, /* 552 5.2.2 */
	KR_LMTP_RCPT_UNAVAILABLE,     /* 451 4.3.0 the user's shard is down */
	KR_LMTP_RCPT_TEMPFAIL,	      /* 451 4.3.0 anything else temporary */
	KR_LMTP_RCPT_REJECT,	      /* 550 5.7.1 refused by policy */
	KR_LMTP_RCPT_TOO_LARGE,	      /* 552 5.3.4 */
};

/* Answers the pending KR_LMTP_EV_RCPT: queues the reply and, for OK,
 * adds the recipient to the transaction. Calling it with no RCPT
 * pending is a bug (panic), except after kr_lmtp_timeout() or
 * kr_lmtp_shutdown(), when it does nothing (the server's look-up may
 * finish while the session is closing). */
void kr_lmtp_answer_rcpt(struct kr_lmtp *s, enum kr_lmtp_rcpt_result result);
/* The same, and an accepted recipient keeps ref (say, the user the
 * server's look-up found) for the message event. */
void kr_lmtp_answer_rcpt_ref(struct kr_lmtp *s, enum kr_lmtp_rcpt_result result,
			     int64_t ref);

enum kr_lmtp_deliver_result {
	KR_LMTP_DELIVER_OK,		 /* 250 2.0.0 committed */
	KR_LMTP_DELIVER_TEMPFAIL,	 /* 451 4.3.0 */
	KR_LMTP_DELIVER_OVER_QUOTA,	 /* 452 4.2.2 */
	KR_LMTP_DELIVER_OVER_QUOTA_PERM, /* 552 5.2.2 */
	KR_LMTP_DELIVER_REJECT,		 /* 550 5.7.1 antispam */
	KR_LMTP_DELIVER_UNKNOWN,	 /* 550 5.1.1 */
	KR_LMTP_DELIVER_TOO_LARGE,	 /* 552 5.3.4 */
	KR_LMTP_DELIVER_DEFER,		 /* 451 4.7.1 rate limited */
};

/* Answers the pending KR_LMTP_EV_MESSAGE with one result per accepted
 * recipient in RCPT order (n must equal rcpt_count): queues one reply
 * each (RFC 2033 §4.2) and resets the transaction, which ends the
 * event's borrowed data. per_rcpt is read during the call only. Same
 * rules as kr_lmtp_answer_rcpt() for a missing event. */
void kr_lmtp_answer_message(struct kr_lmtp *s,
			    const enum kr_lmtp_deliver_result *per_rcpt,
			    size_t n);

/* The TLS handshake after KR_LMTP_EV_STARTTLS succeeded: the session
 * forgets LHLO, the transaction and XFORWARD (RFC 3207 §4.2), stops
 * advertising STARTTLS and takes input again. No new greeting. A
 * failed handshake needs no call: the server closes. */
void kr_lmtp_tls_started(struct kr_lmtp *s);

/* The server's idle or session time limit ran out: queues
 * `421 4.4.2 <hostname> Timeout` and closes the session (further feeds
 * return -1 and consume nothing). A pending event's data stays valid
 * until destroy. Does nothing on a closed session. */
void kr_lmtp_timeout(struct kr_lmtp *s);
/* The same for a draining worker: `421 4.3.2 <hostname> Service
 * shutting down`. */
void kr_lmtp_shutdown(struct kr_lmtp *s);

/* True once the session is closed (QUIT, timeout, shutdown): flush the
 * output and close the connection. */
bool kr_lmtp_closed(const struct kr_lmtp *s);

#endif
