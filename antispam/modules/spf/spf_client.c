/* The module's side of the helper (spf.h): spawns kurier-spf with
 * posix_spawn (the worker is multithreaded: no fork), talks to it over
 * a socketpair with a bufferevent, and when it dies answers what it
 * had been asked with temperror and starts a new one after a back-off
 * that doubles while helpers keep dying without answering. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "antispam/modules/spf/spf.h"

struct kr_spf_req {
	TAILQ_ENTRY(kr_spf_req) link;
	struct kr_spf *spf;
	uint64_t id;
	int listed;	  /* in spf->reqs */
	int sent;	  /* written to the running helper */
	int done;	  /* answered; ev is active to deliver it */
	struct event *ev; /* the deadline, or the delivery */
	kr_spf_cb *cb;
	void *ctx;
	enum kr_spf_result result;
	char line[KR_SPF_LINE_MAX];
	char received[KR_SPF_FIELD_MAX + 1];
	char expl[KR_SPF_FIELD_MAX + 1];
};

TAILQ_HEAD(spf_req_list, kr_spf_req);

struct kr_spf {
	struct event_base *base;
	char *helper, *resolver;
	unsigned timeout_ms, queue_max;
	unsigned backoff_min_ms, backoff_max_ms, backoff_ms;
	pid_t pid;
	struct bufferevent *bev;
	int answered; /* the running helper answered a query */
	struct event *restart;
	struct spf_req_list reqs; /* open: sent or waiting for a helper */
	size_t n_reqs;
	uint64_t next_id, deaths;
};

static void spf_helper_gone(struct kr_spf *spf);

static void
spf_tv(struct timeval *tv, unsigned ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/* Starts the helper; its stdin and stdout are one end of a socketpair,
 * the other is returned. Signals the worker may block or ignore are
 * reset so that the helper's own budget (SIGALRM, SIGXCPU) works. */
static int
spf_spawn(struct kr_spf *spf, pid_t *pid_r, int *fd_r)
{
	char budget[32];
	char *argv[7];
	char *envp[] = { NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defs;
	int sv[2], rc, n = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	/* The helper's alarm ends a stuck evaluation before the module
	 * gives up on it (3/4 of the timeout): the query answers
	 * temperror at once and the queries behind it reach a new
	 * helper instead of waiting for one nobody waits for. */
	snprintf(budget, sizeof(budget), "%u",
		 spf->timeout_ms / 4 * 3 > 100 ? spf->timeout_ms / 4 * 3 : 100);
	argv[n++] = spf->helper;
	argv[n++] = (char *)"--budget-ms";
	argv[n++] = budget;
	if (spf->resolver != NULL) {
		argv[n++] = (char *)"--resolver";
		argv[n++] = spf->resolver;
	}
	argv[n] = NULL;
	sigemptyset(&none);
	sigemptyset(&defs);
	sigaddset(&defs, SIGALRM);
	sigaddset(&defs, SIGXCPU);
	sigaddset(&defs, SIGPIPE);
	sigaddset(&defs, SIGTERM);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defs);
	rc = posix_spawn(pid_r, spf->helper, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		errno = rc;
		return -1;
	}
	*fd_r = sv[0];
	return 0;
}

/* SIGKILL is the only way to be sure; the helper holds nothing worth
 * a clean exit. The wait is short: the process is already dying. */
static void
spf_reap(pid_t pid)
{
	int st;

	if (pid <= 0 || waitpid(pid, &st, WNOHANG) == pid)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

/* Delivers through the loop: never inside begin, never inside the
 * read callback (a callback may destroy everything). */
static void
spf_req_set(struct kr_spf_req *req, enum kr_spf_result r, const char *received,
	    const char *expl)
{
	struct kr_spf *spf = req->spf;

	if (req->listed) {
		TAILQ_REMOVE(&spf->reqs, req, link);
		spf->n_reqs--;
		req->listed = 0;
	}
	req->done = 1;
	req->result = r;
	snprintf(req->received, sizeof(req->received), "%s", received);
	snprintf(req->expl, sizeof(req->expl), "%s", expl);
}

static void
spf_req_finish(struct kr_spf_req *req, enum kr_spf_result r,
	       const char *received, const char *expl)
{
	spf_req_set(req, r, received, expl);
	event_del(req->ev);
	event_active(req->ev, EV_TIMEOUT, 0);
}

/* What the module records when the helper could not say. */
static void
spf_req_temperror(struct kr_spf_req *req, const char *why, int deliver)
{
	char text[KR_SPF_FIELD_MAX + 1];

	snprintf(text, sizeof(text), "temperror (kurier: %s)", why);
	if (deliver)
		spf_req_finish(req, KR_SPF_TEMPERROR, text, why);
	else
		spf_req_set(req, KR_SPF_TEMPERROR, text, why);
}

static void
spf_req_fire(evutil_socket_t fd, short what, void *arg)
{
	struct kr_spf_req *req = arg;
	struct kr_spf_answer a;
	char received[KR_SPF_FIELD_MAX + 1], expl[KR_SPF_FIELD_MAX + 1];
	kr_spf_cb *cb = req->cb;
	void *ctx = req->ctx;

	(void)fd;
	(void)what;
	if (!req->done)
		spf_req_temperror(req, "SPF check timed out", 0);
	memcpy(received, req->received, sizeof(received));
	memcpy(expl, req->expl, sizeof(expl));
	a.id = req->id;
	a.result = req->result;
	a.received = received;
	a.explanation = expl;
	event_free(req->ev);
	free(req);
	cb(ctx, &a);
}

static void
spf_req_send(struct kr_spf *spf, struct kr_spf_req *req)
{
	if (bufferevent_write(spf->bev, req->line, strlen(req->line)) == 0)
		req->sent = 1;
}

/* The open request a sent query id belongs to; NULL when none. */
static struct kr_spf_req *
spf_req_find(struct kr_spf *spf, uint64_t id)
{
	struct kr_spf_req *req;

	for (req = TAILQ_FIRST(&spf->reqs); req != NULL;
	     req = TAILQ_NEXT(req, link)) {
		if (req->id == id && req->sent)
			return req;
	}
	return NULL;
}

static void
spf_read(struct bufferevent *bev, void *arg)
{
	struct kr_spf *spf = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		struct kr_spf_answer a;
		struct kr_spf_req *req;

		if (len >= KR_SPF_LINE_MAX + 2 * KR_SPF_FIELD_MAX ||
		    kr_spf_answer_parse(line, &a) != 0) {
			/* Not our helper's words: treat it as dead. */
			free(line);
			spf_helper_gone(spf);
			return;
		}
		req = spf_req_find(spf, a.id);
		/* No match: an answer after its request timed out. */
		if (req != NULL) {
			spf->answered = 1;
			spf_req_finish(req, a.result, a.received,
				       a.explanation);
		}
		free(line);
	}
	if (evbuffer_get_length(in) > KR_SPF_LINE_MAX + 2 * KR_SPF_FIELD_MAX)
		spf_helper_gone(spf);
}

static void
spf_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		spf_helper_gone(arg);
}

static void
spf_attach(struct kr_spf *spf, pid_t pid, int fd)
{
	struct kr_spf_req *req;

	evutil_make_socket_nonblocking(fd);
	spf->pid = pid;
	spf->answered = 0;
	spf->bev = bufferevent_socket_new(spf->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(spf->bev, spf_read, NULL, spf_event, spf);
	bufferevent_enable(spf->bev, EV_READ);
	for (req = TAILQ_FIRST(&spf->reqs); req != NULL;
	     req = TAILQ_NEXT(req, link)) {
		if (!req->sent)
			spf_req_send(spf, req);
	}
}

static void
spf_restart(evutil_socket_t fd, short what, void *arg)
{
	struct kr_spf *spf = arg;
	struct timeval tv;
	pid_t pid;
	int sfd;

	(void)fd;
	(void)what;
	if (spf_spawn(spf, &pid, &sfd) == 0) {
		spf_attach(spf, pid, sfd);
		return;
	}
	if (spf->backoff_ms < spf->backoff_max_ms / 2)
		spf->backoff_ms *= 2;
	else
		spf->backoff_ms = spf->backoff_max_ms;
	spf_tv(&tv, spf->backoff_ms);
	evtimer_add(spf->restart, &tv);
}

/* EOF, an error or garbage: the helper is gone or not to be trusted.
 * What it was asked answers temperror; what waits for a helper waits
 * for the next one (within its own deadline). */
static void
spf_helper_gone(struct kr_spf *spf)
{
	struct kr_spf_req *req, *tmp;
	struct timeval tv;

	if (spf->bev == NULL)
		return;
	bufferevent_free(spf->bev);
	spf->bev = NULL;
	spf_reap(spf->pid);
	spf->pid = 0;
	spf->deaths++;
	for (req = TAILQ_FIRST(&spf->reqs); req != NULL; req = tmp) {
		tmp = TAILQ_NEXT(req, link);
		if (req->sent)
			spf_req_temperror(req, "SPF helper died", 1);
	}
	/* A helper that answered was healthy: start again quickly. One
	 * that died at once (a crash loop) waits longer each time. */
	if (spf->answered)
		spf->backoff_ms = spf->backoff_min_ms;
	else if (spf->backoff_ms < spf->backoff_max_ms / 2)
		spf->backoff_ms *= 2;
	else
		spf->backoff_ms = spf->backoff_max_ms;
	spf_tv(&tv, spf->backoff_ms);
	evtimer_add(spf->restart, &tv);
}

/* The first helper must answer a ping before the module goes live:
 * a blocking, bounded exchange at open, outside any message. */
static int
spf_handshake(int fd, unsigned timeout_ms, char *err, size_t err_size)
{
	char buf[KR_SPF_LINE_MAX + 2 * KR_SPF_FIELD_MAX];
	struct kr_spf_query q = { .id = 0, .ping = 1 };
	struct kr_spf_answer a;
	struct timespec start, now;
	size_t have = 0;
	int n = kr_spf_query_format(buf, sizeof(buf), &q);

	if (n < 0 || send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
		snprintf(err, err_size, "spf: helper does not read");
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long waited;
		ssize_t r;
		char *nl;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - start.tv_sec) * 1000 +
			 (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited >= (long)timeout_ms ||
		    poll(&pfd, 1, (int)(timeout_ms - waited)) <= 0)
			break;
		r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = '\0';
		nl = strchr(buf, '\n');
		if (nl == NULL)
			continue;
		*nl = '\0';
		if (kr_spf_answer_parse(buf, &a) == 0 &&
		    a.result == KR_SPF_PASS)
			return 0;
		snprintf(err, err_size, "spf: helper self-test failed");
		return -1;
	}
	snprintf(err, err_size, "spf: helper did not answer its ping");
	return -1;
}

int
kr_spf_create(struct event_base *base, const struct kr_spf_params *p,
	      struct kr_spf **spf_r, char *err, size_t err_size)
{
	struct kr_spf *spf = calloc(1, sizeof(*spf));
	pid_t pid;
	int fd;

	if (spf == NULL)
		abort();
	spf->base = base;
	spf->helper = strdup(p->helper);
	spf->resolver = p->resolver != NULL ? strdup(p->resolver) : NULL;
	if (spf->helper == NULL || (p->resolver != NULL && !spf->resolver))
		abort();
	spf->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : 1;
	spf->queue_max = p->queue_max;
	spf->backoff_min_ms = p->backoff_min_ms > 0 ? p->backoff_min_ms : 1;
	spf->backoff_max_ms = p->backoff_max_ms > spf->backoff_min_ms
				      ? p->backoff_max_ms
				      : spf->backoff_min_ms;
	spf->backoff_ms = spf->backoff_min_ms;
	TAILQ_INIT(&spf->reqs);
	spf->restart = evtimer_new(base, spf_restart, spf);
	if (spf->restart == NULL)
		abort();
	if (spf_spawn(spf, &pid, &fd) != 0) {
		snprintf(err, err_size, "spf: cannot start %s: %s", spf->helper,
			 strerror(errno));
		kr_spf_destroy(&spf);
		return -1;
	}
	if (spf_handshake(fd, spf->timeout_ms, err, err_size) != 0) {
		close(fd);
		spf_reap(pid);
		kr_spf_destroy(&spf);
		return -1;
	}
	spf_attach(spf, pid, fd);
	*spf_r = spf;
	return 0;
}

void
kr_spf_destroy(struct kr_spf **spfp)
{
	struct kr_spf *spf = *spfp;
	struct kr_spf_req *req;

	if (spf == NULL)
		return;
	*spfp = NULL;
	if (spf->bev != NULL)
		bufferevent_free(spf->bev);
	spf_reap(spf->pid);
	while ((req = TAILQ_FIRST(&spf->reqs)) != NULL) {
		TAILQ_REMOVE(&spf->reqs, req, link);
		event_free(req->ev);
		free(req);
	}
	event_free(spf->restart);
	free(spf->helper);
	free(spf->resolver);
	free(spf);
}

struct kr_spf_req *
kr_spf_begin(struct kr_spf *spf, const char *ip, const char *helo,
	     const char *sender, kr_spf_cb *cb, void *ctx)
{
	struct kr_spf_req *req = calloc(1, sizeof(*req));
	struct kr_spf_query q;
	struct timeval tv;

	if (req == NULL)
		abort();
	req->spf = spf;
	req->id = ++spf->next_id;
	req->cb = cb;
	req->ctx = ctx;
	req->ev = evtimer_new(spf->base, spf_req_fire, req);
	if (req->ev == NULL)
		abort();
	q.id = req->id;
	q.ping = 0;
	q.ip = ip;
	q.helo = helo;
	q.sender = sender;
	if (kr_spf_query_format(req->line, sizeof(req->line), &q) < 0) {
		/* Control characters or absurd lengths: no identity a
		 * DNS name could carry (RFC 7208 §4.3: none). */
		spf_req_finish(req, KR_SPF_NONE,
			       "none (kurier: no checkable identity)",
			       "no checkable identity");
		return req;
	}
	if (spf->n_reqs >= spf->queue_max) {
		spf_req_temperror(req, "too many SPF checks in flight", 1);
		return req;
	}
	TAILQ_INSERT_TAIL(&spf->reqs, req, link);
	req->listed = 1;
	spf->n_reqs++;
	spf_tv(&tv, spf->timeout_ms);
	evtimer_add(req->ev, &tv);
	if (spf->bev != NULL)
		spf_req_send(spf, req);
	return req;
}

void
kr_spf_cancel(struct kr_spf_req **reqp)
{
	struct kr_spf_req *req = *reqp;

	if (req == NULL)
		return;
	*reqp = NULL;
	if (req->listed) {
		TAILQ_REMOVE(&req->spf->reqs, req, link);
		req->spf->n_reqs--;
	}
	event_free(req->ev);
	free(req);
}

pid_t
kr_spf_helper_pid(const struct kr_spf *spf)
{
	return spf->pid;
}

uint64_t
kr_spf_deaths(const struct kr_spf *spf)
{
	return spf->deaths;
}

size_t
kr_spf_open_requests(const struct kr_spf *spf)
{
	return spf->n_reqs;
}
