/* bench_rpc: a JSON-RPC load generator (SPEC.md §7, "JSON-RPC
 * message.list"), used by ops/bench_rpc.sh.
 *
 * CONNS keep-alive HTTP/1.1 connections to POST /rpc, each with one
 * request in flight at a time (a webmail client waits for its answer):
 * message.list of one mailbox, the same request every time, behind
 * "Authorization: Bearer TOKEN". The first WARMUP seconds are sent and
 * checked but not counted; then requests go out for SECONDS (at most
 * REQUESTS of them) and those under way at the end get 5 s more, after
 * which they count as failures.
 *
 * Every response must be HTTP 200 with a Content-Length and a JSON-RPC
 * result, not an error ("result" and no "error" in its first bytes).
 * Every CHECK-th one (and the first of each connection) is also read
 * whole: it must contain TEXT (-e) and exactly N "uid" members (-u),
 * the messages listed. Anything else is a failure: the connection is
 * closed and opened again 100 ms later, and the run goes on.
 *
 * Prints
 *   rpc requests=N seconds=S rate=R p50_ms=X p99_ms=Y failures=F
 *       checked=C bytes=B
 * on one line of stdout (details on stderr): N requests answered in the
 * measured window, S seconds from its start to the last answer, the
 * latency from the first byte written to the last byte read, the mean
 * body size B. Exits 1 if anything failed. With -O FILE, every request
 * that went out is appended as "<ms since start>\t<code>\t<latency ms>":
 * code 0 for a result, the JSON-RPC error code, the HTTP status other
 * than 200, or -1 when the connection failed; for the fault tests. One thread:
 * on a 2-core machine the tool shares the CPU with the server, as wrk would. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "ops/bench_util.h"

#define BENCH_CONNS_MAX 10000
#define BENCH_REQUESTS_MAX 100000000
#define BENCH_GRACE_MS 5000
#define BENCH_RETRY_MS 100
#define BENCH_ERRORS_SHOWN 5
/* Read at least this much per read(2); a response may grow the buffer
 * up to BENCH_RESPONSE_MAX, past which the server is broken. */
#define BENCH_READ_MIN (64u << 10)
#define BENCH_RESPONSE_MAX (64u << 20)
/* Where "result" or "error" must show in a JSON-RPC response. */
#define BENCH_HEAD_BYTES 64
#define BENCH_TOKEN_MAX 1024
#define BENCH_TEXT_MAX 256

struct bench;

struct bench_conn {
	struct bench *b;
	int fd;
	struct event *rd, *wr, *retry;
	bool done;    /* closed for good: the run is over for it */
	bool busy;    /* a request is out and not yet answered */
	bool checked; /* this connection's first response was read whole */
	size_t wpos;  /* bytes of the request written */
	int64_t started_us;
	char *buf;
	size_t len, cap;
	size_t hdr_len;	 /* 0: the header block is not complete yet */
	size_t body_len; /* from Content-Length */
	bool closing;	 /* the server said Connection: close */
};

struct bench_opts {
	const char *host, *port, *token, *expect, *trace_path;
	unsigned conns, seconds, warmup, requests, check, uids;
	long long mailbox, limit;
};

struct bench {
	struct bench_opts o;
	struct event_base *base;
	struct event *measure_ev, *stop_ev, *abort_ev, *sigterm, *sigint;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct bench_conn *conns;
	char *req;
	size_t req_len;
	unsigned live;
	bool measuring, stopping;
	int64_t t0_us, t_last_us;
	/* The measured window: answered requests, their latencies. */
	int64_t *lat_us;
	size_t n_lat, cap_lat;
	uint64_t sent, ok, warm_ok, bytes;
	unsigned failed, abandoned, shown, full_checks;
	FILE *trace;
};

static void
bench_usage(void)
{
	fprintf(stderr,
		"usage: bench_rpc -p PORT -a TOKEN -m MAILBOX [-H HOST] "
		"[-l LIMIT] [-c CONNS]\n"
		"                 [-t SECONDS] [-w SECONDS] [-n REQUESTS] "
		"[-e TEXT] [-u N] [-k CHECK]\n"
		"  -H HOST      server (default 127.0.0.1); -p PORT its "
		"JSON-RPC port\n"
		"  -a TOKEN     session token (auth.login)\n"
		"  -m MAILBOX   mailbox id; -l LIMIT messages per list "
		"(default 50)\n"
		"  -c CONNS     keep-alive connections (default 32)\n"
		"  -t SECONDS   measured time (default 10); -w SECONDS "
		"warm-up first (default 0)\n"
		"  -n REQUESTS  at most this many measured requests "
		"(default 10000000)\n"
		"  -e TEXT      each body read whole must contain TEXT\n"
		"  -u N         ... and exactly N \"uid\" members\n"
		"  -k CHECK     read every CHECK-th body whole (default 16; "
		"1 = all)\n"
		"  -O FILE      append every request's outcome (see above)\n");
	exit(2);
}

static unsigned long long
bench_num(const char *s, unsigned long long lo, unsigned long long hi)
{
	return bench_util_num(s, lo, hi, bench_usage);
}

/* The token goes into a header line: printable ASCII, no spaces. */
static bool
bench_token_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > BENCH_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return false;
	return true;
}

static void
bench_parse(int argc, char **argv, struct bench_opts *o)
{
	int opt;

	*o = (struct bench_opts){ .host = "127.0.0.1",
				  .conns = 32,
				  .seconds = 10,
				  .requests = 10000000,
				  .check = 16,
				  .limit = 50,
				  .mailbox = -1 };
	while ((opt = getopt(argc, argv, "H:p:a:m:l:c:t:w:n:e:u:k:O:h")) !=
	       -1) {
		switch (opt) {
		case 'H':
			o->host = optarg;
			break;
		case 'p':
			bench_num(optarg, 1, 65535);
			o->port = optarg;
			break;
		case 'a':
			o->token = optarg;
			break;
		case 'm':
			o->mailbox = (long long)bench_num(optarg, 1, INT64_MAX);
			break;
		case 'l':
			o->limit = (long long)bench_num(optarg, 1, 100000);
			break;
		case 'c':
			o->conns = bench_num(optarg, 1, BENCH_CONNS_MAX);
			break;
		case 't':
			o->seconds = bench_num(optarg, 1, 3600);
			break;
		case 'w':
			o->warmup = bench_num(optarg, 0, 3600);
			break;
		case 'n':
			o->requests = bench_num(optarg, 1, BENCH_REQUESTS_MAX);
			break;
		case 'e':
			if (strlen(optarg) == 0 ||
			    strlen(optarg) > BENCH_TEXT_MAX)
				bench_usage();
			o->expect = optarg;
			break;
		case 'u':
			o->uids = bench_num(optarg, 1, 100000);
			break;
		case 'k':
			o->check = bench_num(optarg, 1, 1000000);
			break;
		case 'O':
			o->trace_path = optarg;
			break;
		default:
			bench_usage();
		}
	}
	if (optind != argc || o->port == NULL || o->token == NULL ||
	    o->mailbox < 0 || !bench_token_ok(o->token))
		bench_usage();
}

/* ---- set-up --------------------------------------------------------- */

static void
bench_resolve(struct bench *b)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int rc = getaddrinfo(b->o.host, b->o.port, &hints, &ai);

	if (rc != 0)
		kr_fatal("bench_rpc: %s: %s", b->o.host, gai_strerror(rc));
	kr_assert(ai->ai_addrlen <= sizeof(b->addr));
	memcpy(&b->addr, ai->ai_addr, ai->ai_addrlen);
	b->addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
}

/* The one request, built once: every connection sends these bytes. */
static void
bench_request(struct bench *b)
{
	char body[256];
	int blen, n;

	blen = snprintf(body, sizeof(body),
			"{\"jsonrpc\":\"2.0\",\"method\":\"message.list\","
			"\"params\":{\"mailbox\":%lld,\"limit\":%lld},"
			"\"id\":1}",
			b->o.mailbox, b->o.limit);
	kr_assert(blen > 0 && (size_t)blen < sizeof(body));
	b->req = kr_xmalloc(BENCH_TOKEN_MAX + 1024);
	n = snprintf(b->req, BENCH_TOKEN_MAX + 1024,
		     "POST /rpc HTTP/1.1\r\n"
		     "Host: %s:%s\r\n"
		     "Content-Type: application/json\r\n"
		     "Authorization: Bearer %s\r\n"
		     "Content-Length: %d\r\n"
		     "\r\n"
		     "%s",
		     b->o.host, b->o.port, b->o.token, blen, body);
	if (n < 0 || n >= BENCH_TOKEN_MAX + 1024)
		kr_fatal("bench_rpc: request too long");
	b->req_len = (size_t)n;
}

/* ---- connections ---------------------------------------------------- */

static void bench_conn_open(struct bench_conn *c);
static void bench_send(struct bench_conn *c);

static void
bench_conn_close(struct bench_conn *c)
{
	if (c->fd < 0)
		return;
	event_del(c->rd);
	event_del(c->wr);
	close(c->fd);
	c->fd = -1;
	c->busy = false;
	c->len = c->hdr_len = c->body_len = 0;
	c->closing = false;
}

static void
bench_conn_done(struct bench_conn *c)
{
	struct bench *b = c->b;

	bench_conn_close(c);
	evtimer_del(c->retry);
	if (c->done)
		return;
	c->done = true;
	if (--b->live == 0)
		event_base_loopbreak(b->base);
}

/* Prints what the server said, escaped and cut: its bytes are not ours. */
static void
bench_show(struct bench_conn *c, const char *why, const char *data, size_t len)
{
	struct bench *b = c->b;

	if (b->shown++ >= BENCH_ERRORS_SHOWN)
		return;
	fprintf(stderr, "bench_rpc: connection %u: %s",
		(unsigned)(c - b->conns), why);
	if (data != NULL && len > 0) {
		fputs(": ", stderr);
		for (size_t i = 0; i < len && i < 200; i++)
			fputc(data[i] >= 0x20 && data[i] < 0x7f ? data[i] : '?',
			      stderr);
	}
	fputc('\n', stderr);
}

/* The error code in a JSON-RPC error body, the HTTP status of a header
 * block, or -1. */
static int
bench_fail_code(const char *data, size_t len)
{
	const char *p;

	if (data == NULL)
		return -1;
	if (len >= 12 && memcmp(data, "HTTP/1.1 ", 9) == 0)
		return atoi(data + 9);
	p = memmem(data, len, "\"code\":", 7);
	return p != NULL ? atoi(p + 7) : -1;
}

static void
bench_trace(struct bench_conn *c, int code, int64_t now_us)
{
	struct bench *b = c->b;

	if (b->trace == NULL)
		return;
	fprintf(b->trace, "%lld\t%d\t%.3f\n",
		(long long)((now_us - b->t0_us) / 1000), code,
		(double)(now_us - c->started_us) / 1000.0);
}

static void
bench_fail(struct bench_conn *c, const char *why, const char *data, size_t len)
{
	struct bench *b = c->b;
	const struct timeval tv = { 0, BENCH_RETRY_MS * 1000 };

	if (c->busy)
		bench_trace(c, bench_fail_code(data, len), kr_clock_mono_us());
	b->failed++;
	bench_show(c, why, data, len);
	bench_conn_close(c);
	if (b->stopping) {
		bench_conn_done(c);
		return;
	}
	evtimer_add(c->retry, &tv);
}

static size_t
bench_count(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	const char *p = hay, *end = hay + len;

	while ((p = memmem(p, (size_t)(end - p), needle, nl)) != NULL) {
		n++;
		p += nl;
	}
	return n;
}

/* The answer is whole in c->buf: check it, count it, send the next. */
static void
bench_answer(struct bench_conn *c)
{
	struct bench *b = c->b;
	const char *body = c->buf + c->hdr_len;
	size_t head =
		c->body_len < BENCH_HEAD_BYTES ? c->body_len : BENCH_HEAD_BYTES;
	int64_t now = kr_clock_mono_us();
	bool counted = b->measuring && c->started_us >= b->t0_us;

	if (memmem(body, head, "\"result\"", 8) == NULL ||
	    memmem(body, head, "\"error\"", 7) != NULL) {
		bench_fail(c, "not a JSON-RPC result", body, c->body_len);
		return;
	}
	if (!c->checked || (b->ok + b->warm_ok) % b->o.check == 0) {
		c->checked = true;
		b->full_checks++;
		if (b->o.expect != NULL &&
		    memmem(body, c->body_len, b->o.expect,
			   strlen(b->o.expect)) == NULL) {
			bench_fail(c, "the expected text is missing", body,
				   c->body_len);
			return;
		}
		if (b->o.uids > 0 &&
		    bench_count(body, c->body_len, "\"uid\":") != b->o.uids) {
			bench_fail(c, "not the expected number of messages",
				   body, c->body_len);
			return;
		}
	}
	c->busy = false;
	bench_trace(c, 0, now);
	if (counted) {
		b->ok++;
		b->bytes += c->body_len;
		b->t_last_us = now;
		if (b->n_lat == b->cap_lat) {
			b->cap_lat = b->cap_lat ? 2 * b->cap_lat : 65536;
			b->lat_us = kr_xrealloc(
				b->lat_us, b->cap_lat * sizeof(*b->lat_us));
		}
		b->lat_us[b->n_lat++] = now - c->started_us;
	} else {
		b->warm_ok++;
	}
	if (c->len > c->hdr_len + c->body_len) {
		/* One request in flight: nothing may follow its answer. */
		bench_fail(c, "bytes after the response", NULL, 0);
		return;
	}
	c->len = c->hdr_len = c->body_len = 0;
	if (c->closing) {
		bench_fail(c, "the server closed a keep-alive connection", NULL,
			   0);
		return;
	}
	if (b->stopping) {
		bench_conn_done(c);
		return;
	}
	bench_send(c);
}

/* The header block is complete (hdr_len bytes): status and length. */
static int
bench_headers(struct bench_conn *c)
{
	const char *p = c->buf, *end = c->buf + c->hdr_len;
	bool has_len = false;

	if (c->hdr_len < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0) {
		bench_fail(c, "not an HTTP/1.1 response", p, c->hdr_len);
		return -1;
	}
	if (memcmp(p + 9, "200", 3) != 0) {
		bench_fail(c, "HTTP status", p, c->hdr_len);
		return -1;
	}
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL && ++p < end) {
		size_t n = (size_t)(end - p);

		if (n > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
			char *e;
			unsigned long long v = strtoull(p + 15, &e, 10);

			if (e == p + 15 || v > BENCH_RESPONSE_MAX) {
				bench_fail(c, "bad Content-Length", p, n);
				return -1;
			}
			c->body_len = (size_t)v;
			has_len = true;
		} else if (n > 18 &&
			   strncasecmp(p, "Transfer-Encoding:", 18) == 0) {
			bench_fail(c, "chunked responses are not expected", p,
				   n);
			return -1;
		} else if (n > 17 &&
			   strncasecmp(p, "Connection: close", 17) == 0) {
			c->closing = true;
		}
	}
	if (!has_len) {
		bench_fail(c, "no Content-Length", c->buf, c->hdr_len);
		return -1;
	}
	return 0;
}

static void
bench_on_read(evutil_socket_t fd, short what, void *ctx)
{
	struct bench_conn *c = ctx;
	ssize_t n;

	(void)what;
	if (c->cap - c->len < BENCH_READ_MIN) {
		if (c->cap >= BENCH_RESPONSE_MAX) {
			bench_fail(c, "response too large", NULL, 0);
			return;
		}
		c->cap = c->cap ? 2 * c->cap : 2 * BENCH_READ_MIN;
		c->buf = kr_xrealloc(c->buf, c->cap);
	}
	n = read(fd, c->buf + c->len, c->cap - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		bench_fail(c,
			   n == 0 ? "connection closed by the server"
				  : strerror(errno),
			   NULL, 0);
		return;
	}
	if (!c->busy) {
		bench_fail(c, "bytes nobody asked for", c->buf + c->len,
			   (size_t)n);
		return;
	}
	c->len += (size_t)n;
	if (c->hdr_len == 0) {
		const char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);

		if (e == NULL)
			return;
		c->hdr_len = (size_t)(e - c->buf) + 4;
		if (bench_headers(c) < 0)
			return;
	}
	if (c->len >= c->hdr_len + c->body_len)
		bench_answer(c);
}

/* Writes what is left of the request; waits for room when it must. */
static void
bench_write(struct bench_conn *c)
{
	while (c->wpos < c->b->req_len) {
		ssize_t n = write(c->fd, c->b->req + c->wpos,
				  c->b->req_len - c->wpos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			event_add(c->wr, NULL);
			return;
		}
		if (n < 0) {
			bench_fail(c, strerror(errno), NULL, 0);
			return;
		}
		c->wpos += (size_t)n;
	}
}

static void
bench_on_write(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	bench_write(ctx);
}

static void
bench_send(struct bench_conn *c)
{
	struct bench *b = c->b;

	if (b->measuring && b->sent >= b->o.requests) {
		/* The count bound: as good as the time bound. */
		bench_conn_done(c);
		return;
	}
	if (b->measuring)
		b->sent++;
	c->busy = true;
	c->wpos = 0;
	c->started_us = kr_clock_mono_us();
	bench_write(c);
}

static void
bench_conn_open(struct bench_conn *c)
{
	struct bench *b = c->b;
	int one = 1, fd;

	fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		kr_fatal("bench_rpc: socket: %s", strerror(errno));
	/* Loopback: a blocking connect answers at once. */
	if (connect(fd, (struct sockaddr *)&b->addr, b->addr_len) < 0) {
		char why[128];

		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		close(fd);
		bench_fail(c, why, NULL, 0);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		kr_fatal("bench_rpc: fcntl: %s", strerror(errno));
	c->fd = fd;
	event_assign(c->rd, b->base, fd, EV_READ | EV_PERSIST, bench_on_read,
		     c);
	event_assign(c->wr, b->base, fd, EV_WRITE, bench_on_write, c);
	event_add(c->rd, NULL);
	bench_send(c);
}

static void
bench_on_retry(evutil_socket_t fd, short what, void *ctx)
{
	struct bench_conn *c = ctx;

	(void)fd;
	(void)what;
	if (c->b->stopping)
		bench_conn_done(c);
	else
		bench_conn_open(c);
}

/* ---- phases --------------------------------------------------------- */

static void
bench_on_measure(evutil_socket_t fd, short what, void *ctx)
{
	struct bench *b = ctx;

	(void)fd;
	(void)what;
	b->measuring = true;
	b->t0_us = b->t_last_us = kr_clock_mono_us();
}

/* Past the grace: what is still under way counts as failed. */
static void
bench_on_abort(evutil_socket_t fd, short what, void *ctx)
{
	struct bench *b = ctx;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < b->o.conns; i++) {
		struct bench_conn *c = &b->conns[i];

		if (c->done)
			continue;
		if (c->busy) {
			b->failed++;
			b->abandoned++;
		}
		bench_conn_done(c);
	}
}

/* The time bound or a signal: nothing new is sent; connections end
 * when their answer is in. */
static void
bench_on_stop(evutil_socket_t fd, short what, void *ctx)
{
	struct bench *b = ctx;
	const struct timeval grace = { BENCH_GRACE_MS / 1000,
				       (BENCH_GRACE_MS % 1000) * 1000 };

	(void)fd;
	(void)what;
	if (b->stopping)
		return;
	b->stopping = true;
	if (!b->measuring) /* a signal during the warm-up */
		b->t0_us = b->t_last_us = kr_clock_mono_us();
	for (unsigned i = 0; i < b->o.conns; i++) {
		struct bench_conn *c = &b->conns[i];

		if (!c->done && !c->busy)
			bench_conn_done(c);
	}
	if (b->live > 0)
		evtimer_add(b->abort_ev, &grace);
}

static void
bench_setup(struct bench *b)
{
	const struct timeval warm = { (time_t)b->o.warmup, 0 };
	const struct timeval bound = { (time_t)(b->o.warmup + b->o.seconds),
				       0 };

	bench_resolve(b);
	bench_request(b);
	/* A server closing on us must fail a connection, not the tool. */
	signal(SIGPIPE, SIG_IGN);
	b->base = event_base_new();
	if (b->base == NULL)
		kr_fatal("bench_rpc: event_base_new failed");
	b->measure_ev = evtimer_new(b->base, bench_on_measure, b);
	b->stop_ev = evtimer_new(b->base, bench_on_stop, b);
	b->abort_ev = evtimer_new(b->base, bench_on_abort, b);
	b->sigterm = evsignal_new(b->base, SIGTERM, bench_on_stop, b);
	b->sigint = evsignal_new(b->base, SIGINT, bench_on_stop, b);
	evtimer_add(b->measure_ev, &warm);
	evtimer_add(b->stop_ev, &bound);
	evsignal_add(b->sigterm, NULL);
	evsignal_add(b->sigint, NULL);
	b->conns = kr_xcalloc(b->o.conns, sizeof(*b->conns));
	for (unsigned i = 0; i < b->o.conns; i++) {
		struct bench_conn *c = &b->conns[i];

		c->b = b;
		c->fd = -1;
		c->rd = event_new(b->base, -1, 0, bench_on_read, c);
		c->wr = event_new(b->base, -1, 0, bench_on_write, c);
		c->retry = evtimer_new(b->base, bench_on_retry, c);
		if (c->rd == NULL || c->wr == NULL || c->retry == NULL)
			kr_fatal("bench_rpc: event_new failed");
	}
	b->live = b->o.conns;
	if (b->o.trace_path != NULL) {
		b->trace = fopen(b->o.trace_path, "ae");
		if (b->trace == NULL)
			kr_fatal("bench_rpc: %s: %s", b->o.trace_path,
				 strerror(errno));
		/* Whole lines only, even if the tool is killed. */
		setvbuf(b->trace, NULL, _IOLBF, 0);
	}
}

static void
bench_teardown(struct bench *b)
{
	for (unsigned i = 0; i < b->o.conns; i++) {
		struct bench_conn *c = &b->conns[i];

		if (c->fd >= 0)
			close(c->fd);
		event_free(c->rd);
		event_free(c->wr);
		event_free(c->retry);
		free(c->buf);
	}
	event_free(b->measure_ev);
	event_free(b->stop_ev);
	event_free(b->abort_ev);
	event_free(b->sigterm);
	event_free(b->sigint);
	event_base_free(b->base);
	if (b->trace != NULL && fclose(b->trace) != 0)
		kr_fatal("bench_rpc: %s: %s", b->o.trace_path, strerror(errno));
	free(b->conns);
	free(b->req);
	free(b->lat_us);
}

/* ---- results -------------------------------------------------------- */

static void
bench_report(struct bench *b)
{
	double secs = (double)(b->t_last_us - b->t0_us) / 1e6;

	qsort(b->lat_us, b->n_lat, sizeof(*b->lat_us), bench_util_cmp);
	fprintf(stderr,
		"bench_rpc: %llu warm-up answers; %llu sent, %llu answered "
		"in the measured window; %u failed (%u abandoned at the "
		"time bound); %u bodies read whole\n",
		(unsigned long long)b->warm_ok, (unsigned long long)b->sent,
		(unsigned long long)b->ok, b->failed, b->abandoned,
		b->full_checks);
	printf("rpc requests=%llu seconds=%.3f rate=%.1f p50_ms=%.3f "
	       "p99_ms=%.3f failures=%u checked=%u bytes=%.0f\n",
	       (unsigned long long)b->ok, secs, secs > 0 ? b->ok / secs : 0.0,
	       bench_util_pct(b->lat_us, b->n_lat, 50),
	       bench_util_pct(b->lat_us, b->n_lat, 99), b->failed,
	       b->full_checks,
	       b->ok > 0 ? (double)b->bytes / (double)b->ok : 0.0);
}

int
main(int argc, char **argv)
{
	struct bench b = { 0 };

	bench_parse(argc, argv, &b.o);
	bench_setup(&b);
	if (b.o.warmup == 0)
		bench_on_measure(-1, 0, &b);
	for (unsigned i = 0; i < b.o.conns && !b.stopping; i++)
		bench_conn_open(&b.conns[i]);
	if (b.live > 0)
		event_base_dispatch(b.base);
	bench_report(&b);
	fflush(stdout);
	bench_teardown(&b);
	return b.failed > 0 || b.ok == 0 ? 1 : 0;
}
