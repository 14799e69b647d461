/* admin/httpd over loopback with a real event_base: keep-alive and
 * pipelining, HEAD, answers given later and answers for clients gone,
 * the connection cap counted at accept (at the cap waits, one more
 * after a close or a raised cap), read and idle deadlines no trickle
 * extends, the write deadline, a refusal answered then lingered on,
 * accept failing on EMFILE without spinning, drain, and a forked child
 * freeing its copy without touching the parent's connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin/httpd.h"
#include "lib/clock.h"
#include "lib/log.h"

#define HELD_MAX 8
#define BIG_LEN (16u << 20)
#define RESP_MAX 4096

struct env {
	struct event_base *base;
	struct kr_log *log;
	int log_fd; /* a memfd the log lines go to */
	struct kr_httpd *h;
	unsigned short port;
	struct kr_httpd_limits lim;
	unsigned requests;
	struct kr_httpd_call *held[HELD_MAX]; /* /hold, answered later */
	unsigned n_held;
};

static const struct kr_httpd_limits test_lim = {
	.max_connections = 16,
	.http = { .header_max = 1024,
		  .body_max = 4096,
		  .headers_max = 16,
		  .url_max = 256 },
	.idle_timeout_ms = 5000,
	.read_timeout_ms = 5000,
	.write_timeout_ms = 5000,
};

/* /hold: kept for the test to answer; /big: BIG_LEN bytes; else "ok
 * <method> <url> <peer>" with an extra field. */
static void
test_handler(void *ctx, struct kr_httpd_call *call,
	     const struct kr_httpd_request *req)
{
	static const struct kr_http_field f = { "X-Test", "1" };
	struct env *e = ctx;
	const struct kr_http_request *q = req->http;
	struct kr_httpd_answer a = { .status = 200,
				     .content_type = "text/plain",
				     .fields = &f,
				     .n_fields = 1 };
	char body[512];
	int n;

	e->requests++;
	assert_non_null(req->peer_sa);
	if (kr_http_target_is(q, "/hold")) {
		assert_true(e->n_held < HELD_MAX);
		e->held[e->n_held++] = call;
		return;
	}
	if (kr_http_target_is(q, "/big")) {
		char *big = malloc(BIG_LEN);

		assert_non_null(big);
		memset(big, 'b', BIG_LEN);
		kr_httpd_answer_take(call, &a, big, BIG_LEN);
		return;
	}
	n = snprintf(body, sizeof(body), "ok %s %s %s", q->method, q->url,
		     req->peer);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	kr_httpd_answer(call, &a, body, (size_t)n);
}

static int
test_listen(unsigned short *port_r)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port_r = ntohs(sa.sin_port);
	return fd;
}

static void
env_start(struct env *e, const struct kr_httpd_limits *lim)
{
	struct kr_err err = { 0 };
	struct kr_httpd_settings set = {
		.own_fd = true,
		.name = "test",
		.limits = *lim,
		.handler = test_handler,
		.ctx = e,
	};

	memset(e, 0, sizeof(*e));
	e->base = event_base_new();
	assert_non_null(e->base);
	e->log_fd = memfd_create("httpd-log", MFD_CLOEXEC);
	assert_true(e->log_fd >= 0);
	e->log = kr_log_create(e->log_fd, KR_LOG_INFO, "test");
	set.log = e->log;
	set.fd = test_listen(&e->port);
	e->lim = *lim;
	e->h = kr_httpd_create(e->base, &set, &err);
	assert_non_null(e->h);
}

static void
env_stop(struct env *e)
{
	kr_httpd_destroy(&e->h);
	assert_null(e->h);
	kr_log_destroy(&e->log);
	close(e->log_fd);
	event_base_free(e->base);
}

/* The log holds a line with this text. */
static bool
env_logged(const struct env *e, const char *text)
{
	size_t cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t n = pread(e->log_fd, buf, cap - 1, 0);
	bool found;

	assert_true(n >= 0);
	buf[n] = '\0';
	found = strstr(buf, text) != NULL;
	free(buf);
	return found;
}

/* Runs the loop for about ms. */
static void
pump(struct env *e, unsigned ms)
{
	int64_t end = kr_clock_mono_ms() + ms;

	do {
		event_base_loop(e->base, EVLOOP_NONBLOCK);
		usleep(1000);
	} while (kr_clock_mono_ms() < end);
}

/* rcvbuf: the client's receive buffer, 0 for the default. */
static int
cli_connect_buf(const struct env *e, int rcvbuf)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(e->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
					    sizeof(rcvbuf)),
				 0);
	/* Loopback: the kernel completes the handshake from its backlog,
	 * accepted or not. */
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int
cli_connect(const struct env *e)
{
	return cli_connect_buf(e, 0);
}

static void
cli_send(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL),
			 (ssize_t)strlen(s));
}

/* Reads one whole response (head and Content-Length body) into buf
 * while the loop runs, for at most ms. Returns its length; 0 at EOF
 * before a byte; -1 when none came in time. Bytes after it stay in
 * the socket only if they had not arrived yet: call it once per
 * response the client expects, in order, on separate sends. */
static int
cli_response(struct env *e, int fd, char *buf, unsigned ms)
{
	int64_t end = kr_clock_mono_ms() + ms;
	size_t len = 0;

	while (kr_clock_mono_ms() < end) {
		ssize_t n;
		const char *body, *cl;

		event_base_loop(e->base, EVLOOP_NONBLOCK);
		n = recv(fd, buf + len, RESP_MAX - 1 - len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return (int)len;
		if (n < 0) {
			usleep(1000);
			continue;
		}
		len += (size_t)n;
		buf[len] = '\0';
		body = strstr(buf, "\r\n\r\n");
		cl = strstr(buf, "Content-Length: ");
		if (body != NULL &&
		    (cl == NULL ||
		     (size_t)(body + 4 - buf) + strtoul(cl + 16, NULL, 10) <=
			     len))
			return (int)len;
	}
	return -1;
}

/* The server closed fd (EOF or reset) within ms; what it sent before
 * is dropped. */
static bool
cli_closed(struct env *e, int fd, unsigned ms)
{
	int64_t end = kr_clock_mono_ms() + ms;
	char buf[4096];

	while (kr_clock_mono_ms() < end) {
		ssize_t n;

		event_base_loop(e->base, EVLOOP_NONBLOCK);
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			usleep(1000);
	}
	return false;
}

/* ---- requests and answers -------------------------------------------- */

static void
test_httpd_keep_alive_pipelined_head(void **state)
{
	struct env e;
	char buf[RESP_MAX];
	int fd;

	(void)state;
	env_start(&e, &test_lim);
	fd = cli_connect(&e);
	cli_send(fd, "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_true(cli_response(&e, fd, buf, 2000) > 0);
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(buf, "\r\nX-Test: 1\r\n"));
	assert_null(strstr(buf, "Connection:"));
	assert_non_null(strstr(buf, "\r\n\r\nok GET /a?x=1 127.0.0.1"));
	/* Two at once: answered one after the other, in order. */
	cli_send(fd, "GET /b HTTP/1.1\r\n\r\nHEAD /c HTTP/1.1\r\n\r\n");
	pump(&e, 100);
	assert_true(cli_response(&e, fd, buf, 2000) > 0);
	assert_non_null(strstr(buf, "ok GET /b 127.0.0.1"));
	/* HEAD: the length of what GET would send, no body. */
	assert_non_null(strstr(buf, "Content-Length: 19\r\n\r\nok GET /b"));
	assert_non_null(strstr(buf, "Content-Length: 20\r\n\r\n"));
	assert_null(strstr(buf, "ok HEAD"));
	assert_int_equal(e.requests, 3);
	/* Connection: close is honoured: answered, then closed. */
	cli_send(fd, "GET /d HTTP/1.1\r\nConnection: close\r\n\r\n");
	assert_true(cli_response(&e, fd, buf, 2000) > 0);
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	assert_true(cli_closed(&e, fd, 2000));
	pump(&e, 20);
	assert_int_equal(kr_httpd_connections(e.h), 0);
	close(fd);
	env_stop(&e);
}

/* An answer given later reaches its client; one for a client gone
 * fails to go out and ends that connection; one after destroy is
 * dropped. */
static void
test_httpd_answer_later(void **state)
{
	const struct kr_httpd_answer a = { .status = 204 };
	struct env e;
	char buf[RESP_MAX];
	int fd, gone;

	(void)state;
	env_start(&e, &test_lim);
	fd = cli_connect(&e);
	gone = cli_connect(&e);
	cli_send(fd, "GET /hold HTTP/1.1\r\n\r\n");
	cli_send(gone, "GET /hold HTTP/1.1\r\n\r\n");
	pump(&e, 100);
	assert_int_equal(e.n_held, 2);
	assert_int_equal(kr_httpd_pending(e.h), 2);
	/* Nothing is read while the handler has the request: neither
	 * the next request nor the end of a client that went. */
	cli_send(fd, "GET /next HTTP/1.1\r\n\r\n");
	close(gone);
	pump(&e, 50);
	assert_int_equal(e.requests, 2);
	assert_int_equal(kr_httpd_connections(e.h), 2);
	kr_httpd_answer(e.held[1], &a, NULL, 0); /* to a closed socket */
	pump(&e, 100);
	assert_int_equal(kr_httpd_connections(e.h), 1);
	kr_httpd_answer(e.held[0], &a, NULL, 0);
	assert_true(cli_response(&e, fd, buf, 2000) > 0);
	assert_non_null(strstr(buf, "HTTP/1.1 204 No Content\r\n"));
	/* The pipelined one follows. */
	if (strstr(buf, "ok GET /next") == NULL)
		assert_true(cli_response(&e, fd, buf, 2000) > 0);
	assert_int_equal(e.requests, 3);
	cli_send(fd, "GET /hold HTTP/1.1\r\n\r\n");
	pump(&e, 100);
	assert_int_equal(e.n_held, 3);
	kr_httpd_destroy(&e.h);
	kr_httpd_answer(e.held[2], &a, NULL, 0);
	assert_true(cli_closed(&e, fd, 1000));
	close(fd);
	env_stop(&e);
}

/* ---- the connection cap ------------------------------------------------ */

/* At the cap further clients wait in the backlog, unanswered and
 * holding no descriptor of ours; a close lets one in, so does a raised
 * cap. */
static void
test_httpd_cap_counted_at_accept(void **state)
{
	struct kr_httpd_limits lim = test_lim;
	struct env e;
	char buf[RESP_MAX];
	int fds[4];

	(void)state;
	lim.max_connections = 2;
	env_start(&e, &lim);
	for (int i = 0; i < 4; i++)
		fds[i] = cli_connect(&e);
	pump(&e, 100);
	/* Silent: counted all the same. */
	assert_int_equal(kr_httpd_connections(e.h), 2);
	assert_true(env_logged(&e, "event=test.paused"));
	cli_send(fds[2], "GET /3 HTTP/1.1\r\n\r\n");
	assert_int_equal(cli_response(&e, fds[2], buf, 300), -1);
	close(fds[0]);
	assert_true(cli_response(&e, fds[2], buf, 2000) > 0);
	assert_non_null(strstr(buf, "ok GET /3"));
	assert_int_equal(kr_httpd_connections(e.h), 2);
	cli_send(fds[3], "GET /4 HTTP/1.1\r\n\r\n");
	assert_int_equal(cli_response(&e, fds[3], buf, 300), -1);
	lim.max_connections = 3;
	kr_httpd_configure(e.h, &lim);
	assert_true(cli_response(&e, fds[3], buf, 2000) > 0);
	assert_non_null(strstr(buf, "ok GET /4"));
	assert_int_equal(kr_httpd_connections(e.h), 3);
	for (int i = 1; i < 4; i++)
		close(fds[i]);
	env_stop(&e);
}

/* ---- deadlines --------------------------------------------------------- */

/* A request trickled in a byte every 50 ms is cut read_timeout after
 * its first byte; a silent connection idle_timeout after accept. */
static void
test_httpd_read_and_idle_deadlines(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nX-Padding: "
				  "pppppppppppppppppppppppppppppppppppp\r\n";
	struct kr_httpd_limits lim = test_lim;
	struct env e;
	int64_t t0, trickle_ms = -1, silent_ms = -1;
	int trickle, silent;
	size_t pos = 0;

	(void)state;
	lim.read_timeout_ms = 300;
	lim.idle_timeout_ms = 600;
	env_start(&e, &lim);
	silent = cli_connect(&e);
	trickle = cli_connect(&e);
	t0 = kr_clock_mono_ms();
	while (kr_clock_mono_ms() - t0 < 3000 &&
	       (trickle_ms < 0 || silent_ms < 0)) {
		char c;

		if (trickle_ms < 0 && pos < sizeof(req) - 1)
			send(trickle, &req[pos++], 1, MSG_NOSIGNAL);
		pump(&e, 50);
		if (trickle_ms < 0 &&
		    (recv(trickle, &c, 1, MSG_DONTWAIT) == 0 ||
		     errno == ECONNRESET || errno == EPIPE))
			trickle_ms = kr_clock_mono_ms() - t0;
		if (silent_ms < 0 && recv(silent, &c, 1, MSG_DONTWAIT) == 0)
			silent_ms = kr_clock_mono_ms() - t0;
	}
	assert_true(pos < sizeof(req) - 1); /* cut before the end */
	assert_in_range(trickle_ms, 290, 1500);
	assert_in_range(silent_ms, 590, 2000);
	assert_true(env_logged(&e, "event=test.timeout"));
	assert_true(env_logged(&e, "request not complete in time"));
	assert_int_equal(kr_httpd_connections(e.h), 0);
	close(trickle);
	close(silent);
	env_stop(&e);
}

/* An answer the client does not take is dropped write_timeout after it
 * was queued. */
static void
test_httpd_write_deadline(void **state)
{
	struct kr_httpd_limits lim = test_lim;
	struct env e;
	int fd;
	int64_t t0;

	(void)state;
	lim.write_timeout_ms = 300;
	env_start(&e, &lim);
	fd = cli_connect_buf(&e, 4096);
	cli_send(fd, "GET /big HTTP/1.1\r\n\r\n");
	t0 = kr_clock_mono_ms();
	pump(&e, 50);
	assert_int_equal(kr_httpd_pending(e.h), 1);
	while (kr_httpd_connections(e.h) > 0 && kr_clock_mono_ms() - t0 < 3000)
		pump(&e, 10);
	assert_int_equal(kr_httpd_connections(e.h), 0);
	assert_in_range(kr_clock_mono_ms() - t0, 290, 2000);
	assert_true(env_logged(&e, "answer not taken in time"));
	close(fd);
	env_stop(&e);
}

/* A head over header_max: 431 and Connection: close, then the server
 * half-closes and reads on (LINGER) until the client goes. */
static void
test_httpd_refusal_lingers(void **state)
{
	struct env e;
	char buf[RESP_MAX], big[1100];
	int fd;

	(void)state;
	env_start(&e, &test_lim);
	fd = cli_connect(&e);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cli_send(fd, "GET / HTTP/1.1\r\nX-Big: ");
	cli_send(fd, big);
	assert_true(cli_response(&e, fd, buf, 2000) > 0);
	assert_non_null(strstr(buf, "HTTP/1.1 431 "));
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	assert_true(cli_closed(&e, fd, 2000)); /* our side: EOF */
	/* What the client still sends is read, not answered by a reset. */
	cli_send(fd, "more bytes\r\n");
	pump(&e, 50);
	assert_int_equal(kr_httpd_connections(e.h), 1);
	assert_int_equal(e.requests, 0);
	assert_true(env_logged(&e, "event=test.refused"));
	close(fd);
	pump(&e, 50);
	assert_int_equal(kr_httpd_connections(e.h), 0);
	env_stop(&e);
}

/* ---- the listener ------------------------------------------------------ */

static void
test_tick(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	(void)ctx;
}

/* Out of descriptors, accept fails with EMFILE while the client stays
 * in the backlog and the socket readable: the listener backs off
 * instead of spinning, and takes the client once descriptors are back. */
static void
test_httpd_accept_emfile_backs_off(void **state)
{
	struct env e;
	struct rlimit old, low;
	struct event *tick;
	struct timeval every = { .tv_usec = 50000 };
	char buf[RESP_MAX];
	unsigned turns = 0;
	int fd, lowest;
	int64_t t0;

	(void)state;
	env_start(&e, &test_lim);
	tick = event_new(e.base, -1, EV_PERSIST, test_tick, NULL);
	assert_non_null(tick);
	event_add(tick, &every);
	fd = cli_connect(&e);
	cli_send(fd, "GET /after HTTP/1.1\r\n\r\n");
	/* The lowest free descriptor becomes the limit: none is left. */
	lowest = dup(0);
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	t0 = kr_clock_mono_ms();
	while (kr_clock_mono_ms() - t0 < 400) {
		event_base_loop(e.base, EVLOOP_ONCE);
		turns++;
	}
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* The 50 ms tick and a retry or two, not a spin. */
	assert_in_range(turns, 1, 40);
	assert_int_equal(kr_httpd_connections(e.h), 0);
	assert_true(env_logged(&e, "event=test.accept_failed"));
	assert_true(env_logged(&e, "error=EMFILE"));
	assert_true(cli_response(&e, fd, buf, 3000) > 0);
	assert_non_null(strstr(buf, "ok GET /after"));
	close(fd);
	event_free(tick);
	env_stop(&e);
}

/* Drain: idle connections close at once, one with the handler is
 * answered with Connection: close; nobody new is taken. */
static void
test_httpd_stop_accepting(void **state)
{
	const struct kr_httpd_answer a = { .status = 200 };
	struct env e;
	char buf[RESP_MAX];
	int idle, busy, late;

	(void)state;
	env_start(&e, &test_lim);
	idle = cli_connect(&e);
	busy = cli_connect(&e);
	cli_send(busy, "GET /hold HTTP/1.1\r\n\r\n");
	pump(&e, 100);
	assert_int_equal(kr_httpd_connections(e.h), 2);
	kr_httpd_stop_accepting(e.h);
	assert_int_equal(kr_httpd_connections(e.h), 1);
	assert_true(cli_closed(&e, idle, 1000));
	late = cli_connect(&e);
	cli_send(late, "GET /late HTTP/1.1\r\n\r\n");
	kr_httpd_answer(e.held[0], &a, "done", 4);
	assert_true(cli_response(&e, busy, buf, 2000) > 0);
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	assert_true(cli_closed(&e, busy, 1000));
	assert_int_equal(cli_response(&e, late, buf, 300), -1);
	assert_int_equal(kr_httpd_connections(e.h), 0);
	close(idle);
	close(busy);
	close(late);
	env_stop(&e);
}

/* A forked child frees its copy (as a worker frees the master's admin
 * port): the parent's connection, half-way through a request, and its
 * listener go on as if nothing happened. */
static void
test_httpd_forked_child_leaves_sockets(void **state)
{
	struct env e;
	char buf[RESP_MAX];
	int fd, other, status;
	pid_t pid;

	(void)state;
	env_start(&e, &test_lim);
	fd = cli_connect(&e);
	cli_send(fd, "GET /forked HTTP/1.1\r\n");
	pump(&e, 100);
	assert_int_equal(kr_httpd_connections(e.h), 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The epoll instance is shared until then. */
		if (event_reinit(e.base) < 0)
			_exit(2);
		kr_httpd_destroy_forked(&e.h);
		_exit(e.h == NULL ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cli_send(fd, "Host: h\r\n\r\n");
	assert_true(cli_response(&e, fd, buf, 2000) > 0);
	assert_non_null(strstr(buf, "ok GET /forked"));
	other = cli_connect(&e);
	cli_send(other, "GET /other HTTP/1.1\r\n\r\n");
	assert_true(cli_response(&e, other, buf, 2000) > 0);
	assert_non_null(strstr(buf, "ok GET /other"));
	close(fd);
	close(other);
	env_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_httpd_keep_alive_pipelined_head),
		cmocka_unit_test(test_httpd_answer_later),
		cmocka_unit_test(test_httpd_cap_counted_at_accept),
		cmocka_unit_test(test_httpd_read_and_idle_deadlines),
		cmocka_unit_test(test_httpd_write_deadline),
		cmocka_unit_test(test_httpd_refusal_lingers),
		cmocka_unit_test(test_httpd_accept_emfile_backs_off),
		cmocka_unit_test(test_httpd_stop_accepting),
		cmocka_unit_test(test_httpd_forked_child_leaves_sockets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
