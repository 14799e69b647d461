/* bench_lmtp: an LMTP load generator (SPEC.md §7, "LMTP delivery"),
 * the same for kurierd and for the reference (Dovecot's LMTP), so both
 * get byte-identical traffic for the same seed.
 *
 * SESSIONS connections each say LHLO once, then run transactions back
 * to back: MAIL, RCPT(s) and DATA pipelined as Postfix's LMTP client
 * does (RFC 2920), the message once 354 came, no RSET. RCPTS recipients
 * per message (-R, default 1), distinct users: the first picked from
 * USERS by the seed, the others spread USERS / RCPTS apart after it;
 * every message different text (ops/bench_msg.h). LMTP answers the
 * final dot once per recipient (RFC 2033 §4.2): each 250 there is one
 * delivery; any other reply, at any step, is a failure: the session is
 * closed and, with -k, opened again (the message is not retried). With
 * -o, every delivery answered 250 is appended as
 * "<message-id>\t<recipient>" (the id without brackets), for the
 * durability test. Prints
 *   lmtp messages=N seconds=S rate=R p50_ms=X p90_ms=Y p99_ms=Z
 *        failures=F transactions=T
 * (one line) on stdout, details on stderr: N and R count deliveries
 * (T x RCPTS when all went well), the latencies are per transaction
 * (MAIL sent to the last reply after the dot); exits 1 if anything
 * failed. With -O, every delivery's outcome is appended as
 * "<ms since start>\t<recipient>\t<code>\t<latency ms>" (code 250, the
 * failing reply's code, or 0 when the connection failed or timed out;
 * a failed transaction is one line, with its first recipient), for the
 * fault tests to split by shard.
 *
 * -i IDLE opens IDLE connections instead, each greeted and past LHLO,
 * prints "lmtp idle=N ready=R failures=F seconds=S" once all are set
 * up, and holds them until the time bound or SIGTERM. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "ops/bench_util.h"
#include "ops/bench_msg.h"

#define BENCH_SESSIONS_MAX 60000
#define BENCH_MESSAGES_MAX 10000000
#define BENCH_USERS_MAX 1000000
/* Transactions under way at the time bound get this long to finish. */
#define BENCH_GRACE_MS 5000
/* A reply line longer than this is a broken server, not a slow one. */
#define BENCH_REPLY_MAX 4096
/* Idle mode: connections being set up at once, so that thousands do
 * not overrun the server's listen backlog. */
#define BENCH_CONNECTING_MAX 256
/* With -k, a failed session is opened again after this pause. */
#define BENCH_RETRY_MS 100
#define BENCH_ERRORS_SHOWN 5
/* File descriptors beyond the sessions: stdio, the loop, the output. */
#define BENCH_FD_SPARE 64
/* Recipients per transaction: Postfix's default
 * lmtp_destination_recipient_limit. */
#define BENCH_RCPTS_MAX 50

enum bench_state {
	BENCH_S_OFF,	  /* not connected: not yet, or waiting for -k */
	BENCH_S_GREETING, /* connecting, then waiting for the 220 */
	BENCH_S_LHLO,
	BENCH_S_MAIL, /* MAIL, RCPT and DATA sent: MAIL's reply next */
	BENCH_S_RCPT,
	BENCH_S_DATA,
	BENCH_S_DOT, /* the message sent: its one reply next */
	BENCH_S_IDLE,
	BENCH_S_QUIT,
	BENCH_S_DONE,
};

static const char *const bench_state_names[] = {
	"off",	"greeting", "lhlo", "mail", "rcpt",
	"data", "dot",	    "idle", "quit", "done",
};

struct bench;

struct bench_sess {
	struct bench *b;
	struct bufferevent *bev;
	struct event *retry;
	enum bench_state state;
	bool in_txn; /* a message was handed out and not yet answered */
	unsigned replies_left; /* RCPT or final-dot replies still due */
	uint64_t index;
	int64_t started_us;
	char rcpt[BENCH_MSG_RCPT_MAX];
};

struct bench_opts {
	const char *host, *port, *unix_path, *out_path, *trace_path;
	char rcpt_pre[BENCH_MSG_RCPT_MAX], rcpt_suf[BENCH_MSG_RCPT_MAX];
	unsigned sessions, messages, seconds, size, users, idle, rcpts;
	uint64_t seed;
	bool keep_going;
};

struct bench {
	struct bench_opts o;
	struct event_base *base;
	struct event *stop_ev, *abort_ev, *sigterm, *sigint;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct bench_sess *sess;
	unsigned n_sess;
	char *msg; /* size + 1 bytes: the message being sent */
	FILE *out, *trace;
	uint64_t next; /* messages handed out */
	unsigned ok, failed, abandoned, shown;
	unsigned txns;	  /* transactions with every recipient answered 250 */
	unsigned live;	  /* sessions not done */
	unsigned started; /* idle mode: sessions connected so far */
	unsigned connecting; /* idle mode: of those, not yet ready */
	unsigned ready;	     /* idle mode: past LHLO */
	unsigned held;	     /* idle mode: still open at the stop */
	bool ready_told;
	bool pumping; /* idle mode: bench_idle_progress() is running */
	int64_t *lat_us;
	unsigned n_lat;
	int64_t t0_us, t_last_us;
	bool stopping; /* time bound or signal: start nothing more */
};

static void
bench_usage(void)
{
	fprintf(stderr,
		"usage: bench_lmtp [-H HOST] [-p PORT | -U PATH] [-s SESSIONS] "
		"[-n MESSAGES]\n"
		"                  [-t SECONDS] [-m SIZE] [-r PATTERN] "
		"[-u USERS] [-S SEED]\n"
		"                  [-R RCPTS] [-o FILE] [-O FILE] [-k] "
		"[-i IDLE]\n"
		"  -H HOST      server (default 127.0.0.1); -p PORT (default "
		"2424)\n"
		"  -U PATH      unix socket instead of TCP\n"
		"  -s SESSIONS  concurrent sessions (default 16)\n"
		"  -n MESSAGES  messages in all (default 10000)\n"
		"  -t SECONDS   no transaction starts after this (default 60); "
		"those\n"
		"               under way get 5 s more, then count as "
		"failures\n"
		"  -m SIZE      bytes per message (default 4096)\n"
		"  -r PATTERN   recipients, one %%d (default u%%d@bench.test)\n"
		"  -u USERS     %%d runs over 0..USERS-1 (default 1000)\n"
		"  -S SEED      seed of the messages and recipients (default "
		"1)\n"
		"  -R RCPTS     distinct recipients per message (default 1, "
		"at most 50)\n"
		"  -o FILE      append \"<message-id>\\t<recipient>\" per 250\n"
		"  -O FILE      append every transaction's outcome (see "
		"above)\n"
		"  -k           keep going: reopen a session after a failure\n"
		"  -i IDLE      open IDLE sessions past LHLO and hold them\n");
	exit(2);
}

static unsigned long long
bench_num(const char *s, unsigned long long lo, unsigned long long hi)
{
	return bench_util_num(s, lo, hi, bench_usage);
}

/* The pattern is split around its one %d: no format string is ever
 * built from an argument. */
static void
bench_pattern(struct bench_opts *o, const char *pat)
{
	const char *d = strstr(pat, "%d");
	size_t pre;

	if (d == NULL || strchr(d + 2, '%') != NULL ||
	    memchr(pat, '%', (size_t)(d - pat)) != NULL)
		bench_usage();
	pre = (size_t)(d - pat);
	/* Room for the number (10 digits) in every recipient. */
	if (pre + strlen(d + 2) + 11 > BENCH_MSG_RCPT_MAX)
		bench_usage();
	memcpy(o->rcpt_pre, pat, pre);
	o->rcpt_pre[pre] = '\0';
	snprintf(o->rcpt_suf, sizeof(o->rcpt_suf), "%s", d + 2);
}

static void
bench_parse(int argc, char **argv, struct bench_opts *o)
{
	int opt;

	*o = (struct bench_opts){ .host = "127.0.0.1",
				  .port = "2424",
				  .sessions = 16,
				  .messages = 10000,
				  .seconds = 60,
				  .size = 4096,
				  .users = 1000,
				  .rcpts = 1,
				  .seed = 1 };
	bench_pattern(o, "u%d@bench.test");
	while ((opt = getopt(argc, argv, "H:p:U:s:n:t:m:r:u:S:R:o:O:ki:h")) !=
	       -1) {
		switch (opt) {
		case 'H':
			o->host = optarg;
			break;
		case 'p':
			bench_num(optarg, 1, 65535);
			o->port = optarg;
			break;
		case 'U':
			o->unix_path = optarg;
			break;
		case 's':
			o->sessions = bench_num(optarg, 1, BENCH_SESSIONS_MAX);
			break;
		case 'n':
			o->messages = bench_num(optarg, 1, BENCH_MESSAGES_MAX);
			break;
		case 't':
			o->seconds = bench_num(optarg, 1, 86400);
			break;
		case 'm':
			o->size = bench_num(optarg, BENCH_MSG_SIZE_MIN,
					    BENCH_MSG_SIZE_MAX);
			break;
		case 'r':
			bench_pattern(o, optarg);
			break;
		case 'u':
			o->users = bench_num(optarg, 1, BENCH_USERS_MAX);
			break;
		case 'S':
			o->seed = bench_num(optarg, 0, UINT64_MAX);
			break;
		case 'R':
			o->rcpts = bench_num(optarg, 1, BENCH_RCPTS_MAX);
			break;
		case 'o':
			o->out_path = optarg;
			break;
		case 'O':
			o->trace_path = optarg;
			break;
		case 'k':
			o->keep_going = true;
			break;
		case 'i':
			o->idle = bench_num(optarg, 1, BENCH_SESSIONS_MAX);
			break;
		default:
			bench_usage();
		}
	}
	/* Distinct recipients need as many users. */
	if (optind != argc || o->rcpts > o->users)
		bench_usage();
}

/* ---- set-up --------------------------------------------------------- */

static void
bench_resolve(struct bench *b)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int rc;

	if (b->o.unix_path != NULL) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&b->addr;

		if (strlen(b->o.unix_path) >= sizeof(sun->sun_path))
			kr_fatal("bench_lmtp: unix socket path too long");
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, b->o.unix_path,
		       strlen(b->o.unix_path) + 1);
		b->addr_len = sizeof(*sun);
		return;
	}
	rc = getaddrinfo(b->o.host, b->o.port, &hints, &ai);
	if (rc != 0)
		kr_fatal("bench_lmtp: %s: %s", b->o.host, gai_strerror(rc));
	kr_assert(ai->ai_addrlen <= sizeof(b->addr));
	memcpy(&b->addr, ai->ai_addr, ai->ai_addrlen);
	b->addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
}

/* Thousands of idle sessions need as many descriptors. */
static void
bench_fd_limit(unsigned sessions)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)sessions + BENCH_FD_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		kr_fatal("bench_lmtp: getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		kr_fatal("bench_lmtp: %u sessions need %llu descriptors; the "
			 "hard limit is %llu (raise ulimit -n)",
			 sessions, (unsigned long long)need,
			 (unsigned long long)rl.rlim_max);
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		kr_fatal("bench_lmtp: setrlimit: %s", strerror(errno));
}

/* ---- sessions ------------------------------------------------------- */

static void bench_sess_start(struct bench_sess *s);
static void bench_txn_next(struct bench_sess *s);

/* Every state change goes through here; a change the protocol does
 * not allow is a bug in this tool. */
static void
bench_enter(struct bench_sess *s, enum bench_state to)
{
	static const unsigned allowed[] = {
		[BENCH_S_OFF] = 1u << BENCH_S_GREETING | 1u << BENCH_S_DONE,
		[BENCH_S_GREETING] = 1u << BENCH_S_LHLO,
		[BENCH_S_LHLO] = 1u << BENCH_S_IDLE | 1u << BENCH_S_MAIL |
				 1u << BENCH_S_QUIT,
		[BENCH_S_MAIL] = 1u << BENCH_S_RCPT,
		[BENCH_S_RCPT] = 1u << BENCH_S_DATA,
		[BENCH_S_DATA] = 1u << BENCH_S_DOT,
		[BENCH_S_DOT] = 1u << BENCH_S_MAIL | 1u << BENCH_S_QUIT,
		[BENCH_S_IDLE] = 0,
		[BENCH_S_QUIT] = 0,
		[BENCH_S_DONE] = 0,
	};

	/* Any state may end (done) or, with -k, wait to reconnect (off). */
	if (to != BENCH_S_DONE && to != BENCH_S_OFF &&
	    (allowed[s->state] & (1u << to)) == 0)
		kr_panic("bench_lmtp: session state %s -> %s",
			 bench_state_names[s->state], bench_state_names[to]);
	s->state = to;
}

static void
bench_close(struct bench_sess *s)
{
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	s->bev = NULL;
}

/* Idle mode: the next connection, once one of those under way is
 * set up; the ready line once all of them are. */
static void
bench_idle_progress(struct bench *b)
{
	/* A connect failing at once comes back here: the outer call goes
	 * on, so the stack stays flat. */
	if (b->pumping)
		return;
	b->pumping = true;
	while (!b->stopping && b->started < b->n_sess &&
	       b->connecting < BENCH_CONNECTING_MAX) {
		b->connecting++;
		bench_sess_start(&b->sess[b->started++]);
	}
	b->pumping = false;
	if (!b->ready_told && b->started == b->n_sess && b->connecting == 0) {
		b->ready_told = true;
		printf("lmtp idle=%u ready=%u failures=%u seconds=%.3f\n",
		       b->n_sess, b->ready, b->failed,
		       (double)(kr_clock_mono_us() - b->t0_us) / 1e6);
		fflush(stdout);
	}
}

static void
bench_sess_done(struct bench_sess *s)
{
	struct bench *b = s->b;

	bench_close(s);
	if (s->state == BENCH_S_DONE)
		return;
	bench_enter(s, BENCH_S_DONE);
	b->live--;
	if (b->live == 0)
		event_base_loopbreak(b->base);
}

/* Prints what the server said, escaped: its text is not ours. */
static void
bench_show(const char *what, const char *line)
{
	fprintf(stderr, "bench_lmtp: %s%s", what, line != NULL ? ": " : "");
	for (const char *p = line; p != NULL && *p != '\0'; p++)
		fputc(*p >= 0x20 && *p < 0x7f ? *p : '?', stderr);
	fputc('\n', stderr);
}

/* One transaction's outcome for -O: code 0 when no reply came. */
static void
bench_trace(struct bench_sess *s, const char *rcpt, const char *line,
	    int64_t now_us)
{
	struct bench *b = s->b;
	int code = 0;

	if (b->trace == NULL)
		return;
	if (line != NULL && line[0] >= '2' && line[0] <= '5' &&
	    line[1] >= '0' && line[1] <= '9' && line[2] >= '0' &&
	    line[2] <= '9')
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		       (line[2] - '0');
	fprintf(b->trace, "%lld\t%s\t%d\t%.3f\n",
		(long long)((now_us - b->t0_us) / 1000), rcpt, code,
		(double)(now_us - s->started_us) / 1000.0);
}

static void
bench_sess_fail(struct bench_sess *s, const char *why, const char *line)
{
	struct bench *b = s->b;
	bool setting_up = s->state <= BENCH_S_LHLO;

	if (s->in_txn)
		bench_trace(s, s->rcpt, line, kr_clock_mono_us());
	b->failed++;
	if (b->shown++ < BENCH_ERRORS_SHOWN) {
		char what[128];

		snprintf(what, sizeof(what), "session %u, %s: %s",
			 (unsigned)(s - b->sess), bench_state_names[s->state],
			 why);
		bench_show(what, line);
	}
	s->in_txn = false;
	if (b->o.idle > 0 && setting_up && b->connecting > 0) {
		b->connecting--;
		bench_sess_done(s);
		bench_idle_progress(b);
		return;
	}
	if (b->o.keep_going && b->o.idle == 0 && !b->stopping) {
		const struct timeval tv = { 0, BENCH_RETRY_MS * 1000 };

		bench_close(s);
		bench_enter(s, BENCH_S_OFF);
		evtimer_add(s->retry, &tv);
		return;
	}
	bench_sess_done(s);
}

static void
bench_send(struct bench_sess *s, const char *text)
{
	evbuffer_add(bufferevent_get_output(s->bev), text, strlen(text));
}

/* The message, dot-stuffed (RFC 5321 §4.5.2), and the final dot. */
static void
bench_send_message(struct bench_sess *s)
{
	struct bench *b = s->b;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	const char *p = b->msg, *end = b->msg + b->o.size;

	if (bench_msg_make(b->msg, b->o.size, b->o.seed, s->index, s->rcpt) < 0)
		kr_panic("bench_lmtp: cannot compose message %llu",
			 (unsigned long long)s->index);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n =
			nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		if (*p == '.')
			evbuffer_add(out, ".", 1);
		evbuffer_add(out, p, n);
		p += n;
	}
	evbuffer_add(out, ".\r\n", 3);
}

/* Recipient k (0..rcpts-1) of the session's message into buf: the
 * seed's user, then users / rcpts apart, so all are distinct. */
static void
bench_rcpt(const struct bench_sess *s, unsigned k, char *buf, size_t len)
{
	const struct bench_opts *o = &s->b->o;
	unsigned first = bench_msg_user(o->seed, s->index, o->users);
	unsigned user = (unsigned)(((uint64_t)first +
				    (uint64_t)k * (o->users / o->rcpts)) %
				   o->users);
	int n = snprintf(buf, len, "%s%u%s", o->rcpt_pre, user, o->rcpt_suf);

	/* bench_pattern() left room for any number. */
	kr_assert(n > 0 && (size_t)n < len);
}

/* A 250 after the final dot: recipient k's delivery; the transaction
 * is done with its last recipient. */
static void
bench_delivered(struct bench_sess *s, unsigned k, bool last)
{
	struct bench *b = s->b;
	int64_t now = kr_clock_mono_us();
	char rcpt[BENCH_MSG_RCPT_MAX];

	bench_rcpt(s, k, rcpt, sizeof(rcpt));
	b->ok++;
	b->t_last_us = now;
	bench_trace(s, rcpt, "250", now);
	if (last) {
		s->in_txn = false;
		b->txns++;
		if (b->n_lat < b->o.messages)
			b->lat_us[b->n_lat++] = now - s->started_us;
	}
	if (b->out != NULL) {
		char id[BENCH_MSG_ID_MAX];

		if (bench_msg_id(id, sizeof(id), b->o.seed, s->index,
				 b->o.size) < 0)
			kr_panic("bench_lmtp: message id too long");
		fprintf(b->out, "%s\t%s\n", id, rcpt);
	}
}

/* The next transaction, or QUIT when there is none. */
static void
bench_txn_next(struct bench_sess *s)
{
	struct bench *b = s->b;
	struct evbuffer *out;
	char rcpt[BENCH_MSG_RCPT_MAX];

	if (b->stopping || b->next >= b->o.messages) {
		bench_send(s, "QUIT\r\n");
		bench_enter(s, BENCH_S_QUIT);
		return;
	}
	s->index = b->next++;
	bench_rcpt(s, 0, s->rcpt, sizeof(s->rcpt));
	s->in_txn = true;
	s->started_us = kr_clock_mono_us();
	out = bufferevent_get_output(s->bev);
	bench_send(s, "MAIL FROM:<" BENCH_MSG_SENDER ">\r\n");
	for (unsigned k = 0; k < b->o.rcpts; k++) {
		bench_rcpt(s, k, rcpt, sizeof(rcpt));
		evbuffer_add_printf(out, "RCPT TO:<%s>\r\n", rcpt);
	}
	bench_send(s, "DATA\r\n");
	bench_enter(s, BENCH_S_MAIL);
}

/* The code each state waits for. */
static int
bench_expected(enum bench_state st)
{
	switch (st) {
	case BENCH_S_GREETING:
		return 220;
	case BENCH_S_DATA:
		return 354;
	case BENCH_S_QUIT:
		return 221;
	case BENCH_S_LHLO:
	case BENCH_S_MAIL:
	case BENCH_S_RCPT:
	case BENCH_S_DOT:
		return 250;
	default:
		return -1; /* nothing is expected: any reply is wrong */
	}
}

/* One complete reply. Returns -1 when the session was closed. */
static int
bench_on_reply(struct bench_sess *s, int code, const char *line)
{
	struct bench *b = s->b;

	if (code != bench_expected(s->state)) {
		bench_sess_fail(s, "unexpected reply", line);
		return -1;
	}
	switch (s->state) {
	case BENCH_S_GREETING:
		bench_send(s, "LHLO bench.test\r\n");
		bench_enter(s, BENCH_S_LHLO);
		return 0;
	case BENCH_S_LHLO:
		if (b->o.idle == 0) {
			bench_txn_next(s);
			return 0;
		}
		bench_enter(s, BENCH_S_IDLE);
		b->ready++;
		b->connecting--;
		bench_idle_progress(b);
		return 0;
	case BENCH_S_MAIL:
		s->replies_left = b->o.rcpts;
		bench_enter(s, BENCH_S_RCPT);
		return 0;
	case BENCH_S_RCPT:
		if (--s->replies_left == 0)
			bench_enter(s, BENCH_S_DATA);
		return 0;
	case BENCH_S_DATA:
		bench_send_message(s);
		s->replies_left = b->o.rcpts;
		bench_enter(s, BENCH_S_DOT);
		return 0;
	case BENCH_S_DOT:
		s->replies_left--;
		bench_delivered(s, b->o.rcpts - 1 - s->replies_left,
				s->replies_left == 0);
		if (s->replies_left == 0)
			bench_txn_next(s);
		return 0;
	default: /* QUIT answered */
		bench_sess_done(s);
		return -1;
	}
}

/* "ddd text" ends a reply, "ddd-text" continues it (RFC 5321 §4.2). */
static int
bench_on_line(struct bench_sess *s, const char *line, size_t len)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9' ||
	    (len > 3 && line[3] != ' ' && line[3] != '-')) {
		bench_sess_fail(s, "malformed reply", line);
		return -1;
	}
	if (len > 3 && line[3] == '-')
		return 0;
	return bench_on_reply(s,
			      (line[0] - '0') * 100 + (line[1] - '0') * 10 +
				      (line[2] - '0'),
			      line);
}

static void
bench_on_read(struct bufferevent *bev, void *ctx)
{
	struct bench_sess *s = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		int r = bench_on_line(s, line, len);

		free(line);
		if (r < 0)
			return;
	}
	if (evbuffer_get_length(in) > BENCH_REPLY_MAX)
		bench_sess_fail(s, "reply line too long", NULL);
}

static void
bench_on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct bench_sess *s = ctx;
	char why[128];

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		/* Replies wait on each command: no Nagle delay. */
		if (s->b->o.unix_path == NULL)
			setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
				   TCP_NODELAY, &one, sizeof(one));
		return;
	}
	if (s->state == BENCH_S_QUIT) {
		bench_sess_done(s);
		return;
	}
	snprintf(why, sizeof(why), "%s",
		 (what & BEV_EVENT_EOF) ? "connection closed by the server"
					: evutil_socket_error_to_string(
						  EVUTIL_SOCKET_ERROR()));
	bench_sess_fail(s, why, NULL);
}

static void
bench_sess_start(struct bench_sess *s)
{
	struct bench *b = s->b;

	s->bev = bufferevent_socket_new(b->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		kr_fatal("bench_lmtp: bufferevent_socket_new failed");
	bufferevent_setcb(s->bev, bench_on_read, NULL, bench_on_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	bench_enter(s, BENCH_S_GREETING);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&b->addr,
				       (int)b->addr_len) < 0) {
		char why[128];

		snprintf(why, sizeof(why), "connect: %s",
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		bench_sess_fail(s, why, NULL);
	}
}

static void
bench_on_retry(evutil_socket_t fd, short what, void *ctx)
{
	struct bench_sess *s = ctx;

	(void)fd;
	(void)what;
	if (s->b->stopping)
		bench_sess_done(s);
	else
		bench_sess_start(s);
}

/* ---- the time bound ------------------------------------------------- */

/* Past the grace: whatever is still open is given up. */
static void
bench_on_abort(evutil_socket_t fd, short what, void *ctx)
{
	struct bench *b = ctx;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < b->n_sess; i++) {
		struct bench_sess *s = &b->sess[i];

		if (s->state == BENCH_S_DONE)
			continue;
		if (s->in_txn) {
			b->failed++;
			b->abandoned++;
		}
		bench_sess_done(s);
	}
}

/* The time bound or a signal: no new transaction; idle sessions and
 * those waiting to reconnect end now, the others after their
 * transaction. */
static void
bench_stop(struct bench *b)
{
	const struct timeval grace = { BENCH_GRACE_MS / 1000,
				       (BENCH_GRACE_MS % 1000) * 1000 };

	if (b->stopping)
		return;
	b->stopping = true;
	for (unsigned i = 0; i < b->n_sess; i++) {
		struct bench_sess *s = &b->sess[i];

		b->held += s->state == BENCH_S_IDLE;
		if (s->state == BENCH_S_IDLE || s->state == BENCH_S_OFF ||
		    (b->o.idle > 0 && s->state != BENCH_S_DONE)) {
			evtimer_del(s->retry);
			bench_sess_done(s);
		}
	}
	if (b->live > 0)
		evtimer_add(b->abort_ev, &grace);
}

static void
bench_on_stop(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	bench_stop(ctx);
}

static void
bench_setup(struct bench *b)
{
	const struct timeval bound = { (time_t)b->o.seconds, 0 };

	b->n_sess = b->o.idle > 0 ? b->o.idle : b->o.sessions;
	bench_fd_limit(b->n_sess);
	bench_resolve(b);
	/* A server closing on us must fail a session, not kill the tool. */
	signal(SIGPIPE, SIG_IGN);
	b->base = event_base_new();
	if (b->base == NULL)
		kr_fatal("bench_lmtp: event_base_new failed");
	b->stop_ev = evtimer_new(b->base, bench_on_stop, b);
	b->abort_ev = evtimer_new(b->base, bench_on_abort, b);
	b->sigterm = evsignal_new(b->base, SIGTERM, bench_on_stop, b);
	b->sigint = evsignal_new(b->base, SIGINT, bench_on_stop, b);
	evtimer_add(b->stop_ev, &bound);
	evsignal_add(b->sigterm, NULL);
	evsignal_add(b->sigint, NULL);
	b->sess = kr_xcalloc(b->n_sess, sizeof(*b->sess));
	for (unsigned i = 0; i < b->n_sess; i++) {
		b->sess[i].b = b;
		b->sess[i].retry =
			evtimer_new(b->base, bench_on_retry, &b->sess[i]);
	}
	b->live = b->n_sess;
	b->msg = kr_xmalloc((size_t)b->o.size + 1);
	b->lat_us = kr_xcalloc(b->o.idle > 0 ? 1 : b->o.messages,
			       sizeof(*b->lat_us));
	if (b->o.out_path != NULL) {
		b->out = fopen(b->o.out_path, "ae");
		if (b->out == NULL)
			kr_fatal("bench_lmtp: %s: %s", b->o.out_path,
				 strerror(errno));
		/* Whole lines only, even if the tool is killed. */
		setvbuf(b->out, NULL, _IOLBF, 0);
	}
	if (b->o.trace_path != NULL) {
		b->trace = fopen(b->o.trace_path, "ae");
		if (b->trace == NULL)
			kr_fatal("bench_lmtp: %s: %s", b->o.trace_path,
				 strerror(errno));
		setvbuf(b->trace, NULL, _IOLBF, 0);
	}
}

static void
bench_teardown(struct bench *b)
{
	for (unsigned i = 0; i < b->n_sess; i++) {
		bench_close(&b->sess[i]);
		event_free(b->sess[i].retry);
	}
	if (b->out != NULL && fclose(b->out) != 0)
		kr_fatal("bench_lmtp: %s: %s", b->o.out_path, strerror(errno));
	if (b->trace != NULL && fclose(b->trace) != 0)
		kr_fatal("bench_lmtp: %s: %s", b->o.trace_path,
			 strerror(errno));
	event_free(b->stop_ev);
	event_free(b->abort_ev);
	event_free(b->sigterm);
	event_free(b->sigint);
	event_base_free(b->base);
	free(b->sess);
	free(b->msg);
	free(b->lat_us);
}

/* ---- results -------------------------------------------------------- */

static void
bench_report(struct bench *b)
{
	int64_t end = b->ok > 0 ? b->t_last_us : kr_clock_mono_us();
	double secs = (double)(end - b->t0_us) / 1e6;

	if (b->o.idle > 0) {
		printf("lmtp idle=%u held=%u failures=%u\n", b->n_sess, b->held,
		       b->failed);
		return;
	}
	qsort(b->lat_us, b->n_lat, sizeof(*b->lat_us), bench_util_cmp);
	fprintf(stderr,
		"bench_lmtp: %llu started, %u done, %u deliveries answered "
		"250 (%u recipients each), %u failed (%u abandoned at the "
		"time bound)%s\n",
		(unsigned long long)b->next, b->txns, b->ok, b->o.rcpts,
		b->failed, b->abandoned, b->stopping ? "; stopped early" : "");
	printf("lmtp messages=%u seconds=%.3f rate=%.1f p50_ms=%.2f "
	       "p90_ms=%.2f p99_ms=%.2f failures=%u transactions=%u\n",
	       b->ok, secs, secs > 0 ? b->ok / secs : 0.0,
	       bench_util_pct(b->lat_us, b->n_lat, 50),
	       bench_util_pct(b->lat_us, b->n_lat, 90),
	       bench_util_pct(b->lat_us, b->n_lat, 99), b->failed, b->txns);
}

int
main(int argc, char **argv)
{
	struct bench b = { 0 };

	bench_parse(argc, argv, &b.o);
	bench_setup(&b);
	b.t0_us = b.t_last_us = kr_clock_mono_us();
	if (b.o.idle > 0)
		bench_idle_progress(&b);
	else
		for (unsigned i = 0; i < b.n_sess; i++)
			bench_sess_start(&b.sess[i]);
	if (b.live > 0)
		event_base_dispatch(b.base);
	bench_report(&b);
	fflush(stdout);
	bench_teardown(&b);
	return b.failed > 0 ? 1 : 0;
}
