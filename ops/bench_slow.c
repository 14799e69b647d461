/* bench_slow: a slowloris client for the fault tests (SPEC.md §6,
 * "every connection has read and write timeouts"). Opens CONNS
 * connections to a port and trickles TEXT into each, one byte every
 * DELAY ms, never reading what the server says (so its replies pile up
 * too), until SECONDS have passed. A connection the server closes is
 * counted with the time it lasted; it is not opened again. Prints
 *   slow conns=N opened=O closed=C open_at_end=E p50_close_ms=X
 *       max_close_ms=Y bytes=B
 * on stdout: O connections established, C of them closed by the server
 * (with the median and longest time they were kept), E still open at
 * the end, B bytes trickled in all. Exits 0 unless it could not start. */
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "ops/bench_util.h"

#define SLOW_CONNS_MAX 20000
#define SLOW_TEXT_MAX 4096
#define SLOW_FD_SPARE 64

struct slow;

struct slow_conn {
	struct slow *s;
	int fd;
	struct event *tick, *rd;
	size_t pos; /* next byte of the text */
	int64_t opened_us;
};

struct slow {
	const char *host, *port;
	char text[SLOW_TEXT_MAX + 1];
	size_t text_len;
	unsigned conns, delay_ms, seconds;
	struct event_base *base;
	struct event *stop_ev;
	struct slow_conn *c;
	unsigned opened, closed, open_now;
	int64_t *close_ms;
	uint64_t bytes;
};

static void
slow_usage(void)
{
	fprintf(stderr,
		"usage: bench_slow -p PORT [-H HOST] [-c CONNS] [-d DELAY_MS] "
		"[-t SECONDS] [-x TEXT]\n"
		"  TEXT is trickled one byte per DELAY_MS (default 1000) into "
		"each of\n"
		"  CONNS connections (default 100) for SECONDS (default 10);\n"
		"  \\r and \\n in TEXT are CR and LF; it repeats from the "
		"start "
		"when sent\n");
	exit(2);
}

static unsigned long
slow_num(const char *arg, unsigned long lo, unsigned long hi)
{
	return bench_util_num(arg, lo, hi, slow_usage);
}

/* The two escapes a shell argument cannot carry easily. */
static void
slow_text(struct slow *s, const char *arg)
{
	size_t n = 0;

	for (const char *p = arg; *p != '\0'; p++) {
		char ch = *p;

		if (p[0] == '\\' && (p[1] == 'r' || p[1] == 'n')) {
			ch = p[1] == 'r' ? '\r' : '\n';
			p++;
		}
		if (n == SLOW_TEXT_MAX)
			slow_usage();
		s->text[n++] = ch;
	}
	if (n == 0)
		slow_usage();
	s->text_len = n;
}

static void
slow_parse(int argc, char **argv, struct slow *s)
{
	int opt;

	s->host = "127.0.0.1";
	s->conns = 100;
	s->delay_ms = 1000;
	s->seconds = 10;
	slow_text(s, "X");
	while ((opt = getopt(argc, argv, "H:p:c:d:t:x:h")) != -1) {
		switch (opt) {
		case 'H':
			s->host = optarg;
			break;
		case 'p':
			s->port = optarg;
			break;
		case 'c':
			s->conns =
				(unsigned)slow_num(optarg, 1, SLOW_CONNS_MAX);
			break;
		case 'd':
			s->delay_ms = (unsigned)slow_num(optarg, 1, 600000);
			break;
		case 't':
			s->seconds = (unsigned)slow_num(optarg, 1, 3600);
			break;
		case 'x':
			slow_text(s, optarg);
			break;
		default:
			slow_usage();
		}
	}
	if (s->port == NULL || optind != argc)
		slow_usage();
}

static void
slow_close(struct slow_conn *c, bool by_server)
{
	struct slow *s = c->s;

	if (c->fd < 0)
		return;
	event_del(c->tick);
	event_del(c->rd);
	close(c->fd);
	c->fd = -1;
	s->open_now--;
	if (by_server)
		s->close_ms[s->closed++] =
			(kr_clock_mono_us() - c->opened_us) / 1000;
}

/* Readable: replies are drained unread; EOF or an error is the
 * server closing us. */
static void
slow_on_read(evutil_socket_t fd, short what, void *ctx)
{
	struct slow_conn *c = ctx;
	char buf[4096];
	ssize_t n;

	(void)what;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		slow_close(c, true);
}

static void
slow_on_tick(evutil_socket_t fd, short what, void *ctx)
{
	struct slow_conn *c = ctx;
	ssize_t n;

	(void)fd;
	(void)what;
	n = send(c->fd, c->s->text + c->pos, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		slow_close(c, true);
		return;
	}
	if (n == 1) {
		c->s->bytes++;
		c->pos = (c->pos + 1) % c->s->text_len;
	}
}

static int
slow_connect(struct slow *s, const struct addrinfo *ai, struct slow_conn *c)
{
	struct timeval tv = { (time_t)(s->delay_ms / 1000),
			      (suseconds_t)(s->delay_ms % 1000) * 1000 };

	c->s = s;
	c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC,
		       ai->ai_protocol);
	if (c->fd < 0)
		return -1;
	/* A blocking connect on loopback: the backlog answers at once
	 * even when the server does not accept. */
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	evutil_make_socket_nonblocking(c->fd);
	c->opened_us = kr_clock_mono_us();
	c->tick = event_new(s->base, c->fd, EV_PERSIST, slow_on_tick, c);
	c->rd = event_new(s->base, c->fd, EV_READ | EV_PERSIST, slow_on_read,
			  c);
	if (c->tick == NULL || c->rd == NULL)
		kr_fatal("bench_slow: event_new failed");
	event_add(c->tick, &tv);
	event_add(c->rd, NULL);
	s->opened++;
	s->open_now++;
	return 0;
}

static void
slow_on_stop(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(((struct slow *)ctx)->base);
}

static void
slow_report(struct slow *s)
{
	int64_t p50 = 0, max = 0;

	if (s->closed > 0) {
		qsort(s->close_ms, s->closed, sizeof(*s->close_ms),
		      bench_util_cmp);
		p50 = s->close_ms[s->closed / 2];
		max = s->close_ms[s->closed - 1];
	}
	printf("slow conns=%u opened=%u closed=%u open_at_end=%u "
	       "p50_close_ms=%lld max_close_ms=%lld bytes=%llu\n",
	       s->conns, s->opened, s->closed, s->open_now, (long long)p50,
	       (long long)max, (unsigned long long)s->bytes);
}

int
main(int argc, char **argv)
{
	struct slow s = { 0 };
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	struct rlimit rl;
	struct timeval bound;

	slow_parse(argc, argv, &s);
	if (getaddrinfo(s.host, s.port, &hints, &ai) != 0)
		kr_fatal("bench_slow: cannot resolve %s:%s", s.host, s.port);
	rl.rlim_cur = rl.rlim_max = s.conns + SLOW_FD_SPARE;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && s.conns > 900)
		kr_fatal("bench_slow: cannot raise RLIMIT_NOFILE");
	signal(SIGPIPE, SIG_IGN);
	s.base = event_base_new();
	s.c = kr_xcalloc(s.conns, sizeof(*s.c));
	s.close_ms = kr_xcalloc(s.conns, sizeof(*s.close_ms));
	for (unsigned i = 0; i < s.conns; i++)
		if (slow_connect(&s, ai, &s.c[i]) < 0)
			s.c[i].fd = -1;
	freeaddrinfo(ai);
	bound = (struct timeval){ (time_t)s.seconds, 0 };
	s.stop_ev = evtimer_new(s.base, slow_on_stop, &s);
	evtimer_add(s.stop_ev, &bound);
	event_base_dispatch(s.base);
	slow_report(&s);
	for (unsigned i = 0; i < s.conns; i++) {
		slow_close(&s.c[i], false);
		if (s.c[i].tick != NULL)
			event_free(s.c[i].tick);
		if (s.c[i].rd != NULL)
			event_free(s.c[i].rd);
	}
	event_free(s.stop_ev);
	event_base_free(s.base);
	free(s.c);
	free(s.close_ms);
	return 0;
}
