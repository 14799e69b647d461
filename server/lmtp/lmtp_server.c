/* LMTP service of a worker: accept (allow-list, session cap, descriptor
 * exhaustion), session list, drain. */
#include "server/lmtp/lmtp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/cidr.h"
#include "lib/clock.h"
#include "server/lmtp/lmtp_metrics.h"
#include "server/lmtp/lmtp_rcpt_cache.h"
#include "server/lmtp/lmtp_session.h"

/* After accept() fails for want of descriptors (or memory), listening
 * waits this long: the listening socket stays readable, so accepting
 * again at once would spin the loop on the same error. */
#define SRV_ACCEPT_PAUSE_MS 1000
/* Pauses at the session cap are logged at most once in this long (with
 * how many there were): under a steady overload the cap is hit again at
 * every close. */
#define SRV_CAP_LOG_MS 10000
/* Refused clients are logged one line each, but at most this many a
 * second; the rest are counted into the next line (a flood of refused
 * connections must not flood the log). */
#define SRV_REFUSED_LOG_PER_S 10

struct srv_node {
	struct srv_node *prev, *next;
	struct kr_lmtp_server *srv;
	struct kr_lmtp_session *session;
};

struct kr_lmtp_server {
	struct kr_lmtp_session_env env;
	struct evconnlistener *listeners[2];
	struct event *pause_timer; /* armed: accept() failed, wait */
	struct srv_node *head;
	unsigned n_sessions;
	unsigned long long serial;
	bool accepting;	 /* not draining */
	bool listening;	 /* listeners enabled */
	bool fd_logged;	 /* "accept failed" logged since an accept */
	bool cap_logged; /* a cap pause was ever logged, at cap_log_ms */
	int64_t cap_log_ms;
	unsigned cap_pauses; /* not yet logged */
	int64_t refused_second;
	unsigned refused_logged, refused_dropped;
	char hostname[256];
};

/* The session cap in force: rt->fds.lmtp_max, planned from [server]
 * nofile and [lmtp] max_sessions (again on reload). */
static unsigned
srv_cap(const struct kr_lmtp_server *srv)
{
	const struct kr_runtime *rt = srv->env.rt;

	return rt->fds.lmtp_max != 0 ? rt->fds.lmtp_max
				     : rt->cfg->lmtp.max_sessions;
}

static void
srv_listen(struct kr_lmtp_server *srv, bool on)
{
	if (srv->listening == on)
		return;
	srv->listening = on;
	for (size_t i = 0; i < 2; i++) {
		if (srv->listeners[i] == NULL)
			continue;
		if (on)
			evconnlistener_enable(srv->listeners[i]);
		else
			evconnlistener_disable(srv->listeners[i]);
	}
}

/* Listens unless draining, paused after a failed accept or at the cap.
 * At the cap the kernel backlog holds further clients (another worker
 * may take them) instead of our memory and descriptors. */
static void
srv_cap_paused(struct kr_lmtp_server *srv)
{
	int64_t now = kr_clock_mono_ms();
	struct kr_log_line line;

	srv->cap_pauses++;
	if (srv->cap_logged && now - srv->cap_log_ms < SRV_CAP_LOG_MS)
		return;
	srv->cap_logged = true;
	srv->cap_log_ms = now;
	if (kr_log_begin(&line, srv->env.rt->log, KR_LOG_WARN, NULL,
			 "lmtp.paused")) {
		kr_log_str(&line, "reason", "session cap");
		kr_log_uint(&line, "sessions", srv->n_sessions);
		kr_log_uint(&line, "pauses", srv->cap_pauses);
		kr_log_end(&line);
	}
	srv->cap_pauses = 0;
}

static void
srv_update(struct kr_lmtp_server *srv)
{
	bool full = srv->n_sessions >= srv_cap(srv);

	if (full && srv->accepting && srv->listening)
		srv_cap_paused(srv);
	srv_listen(srv, srv->accepting && !full &&
				!evtimer_pending(srv->pause_timer, NULL));
}

static void
srv_on_closed(void *ctx, struct kr_lmtp_session *session)
{
	struct srv_node *node = ctx;
	struct kr_lmtp_server *srv = node->srv;

	(void)session;
	if (node->prev != NULL)
		node->prev->next = node->next;
	else
		srv->head = node->next;
	if (node->next != NULL)
		node->next->prev = node->prev;
	kr_lmtp_session_destroy(&node->session);
	free(node);
	srv->n_sessions--;
	kr_metrics_gauge_add(srv->env.rt->slot, srv->env.rt->lmtp_ids->sessions,
			     -1);
	srv_update(srv);
}

/* The client's address as text for the log ("unix" for the socket). */
static void
srv_peer_text(const struct sockaddr *sa, char *buf, size_t cap)
{
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (sa->sa_family == AF_UNIX)
		snprintf(buf, cap, "unix");
	else if (a == NULL ||
		 inet_ntop(sa->sa_family, a, buf, (socklen_t)cap) == NULL)
		snprintf(buf, cap, "unknown");
}

static void
srv_log_refused(struct kr_lmtp_server *srv, const struct sockaddr *sa)
{
	int64_t second = kr_clock_mono_us() / 1000000;
	struct kr_log_line line;
	char peer[INET6_ADDRSTRLEN + 1];

	if (second != srv->refused_second) {
		srv->refused_second = second;
		srv->refused_logged = 0;
	}
	if (srv->refused_logged >= SRV_REFUSED_LOG_PER_S) {
		srv->refused_dropped++;
		return;
	}
	srv->refused_logged++;
	srv_peer_text(sa, peer, sizeof(peer));
	if (!kr_log_begin(&line, srv->env.rt->log, KR_LOG_WARN, NULL,
			  "lmtp.refused"))
		return;
	kr_log_str(&line, "client", peer);
	kr_log_str(&line, "reason", "not in [lmtp] allow");
	if (srv->refused_dropped > 0)
		kr_log_uint(&line, "unlogged_before", srv->refused_dropped);
	kr_log_end(&line);
	srv->refused_dropped = 0;
}

/* RFC 5321 §3.1: a server that will not serve a client may answer 554
 * instead of the greeting. The RFC would then have us wait for QUIT;
 * we close at once instead, because a client we do not serve must not
 * hold a session (a descriptor, a timer, memory). The reply is short
 * and the socket new, so a non-blocking send takes it whole. */
static void
srv_refuse(struct kr_lmtp_server *srv, evutil_socket_t fd,
	   const struct sockaddr *sa)
{
	char reply[320];
	int n = snprintf(reply, sizeof(reply), "554 5.7.1 %s Access denied\r\n",
			 srv->hostname);

	/* A failed send (the client is gone) changes nothing. */
	if (n > 0 && (size_t)n < sizeof(reply))
		(void)send(fd, reply, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	evutil_closesocket(fd);
	srv_log_refused(srv, sa);
}

static void
srv_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
	      struct sockaddr *addr, int len, void *ctx)
{
	struct kr_lmtp_server *srv = ctx;
	struct kr_runtime *rt = srv->env.rt;
	struct srv_node *node;
	char peer[INET6_ADDRSTRLEN + 1] = "";
	/* rt->cfg at every accept: a reload changes [lmtp] allow for new
	 * connections. */
	bool allowed = kr_cidr_list_match_sa(&rt->cfg->lmtp.allow, addr);

	(void)lev;
	(void)len;
	srv->fd_logged = false;
	if (!allowed) {
		srv_refuse(srv, fd, addr);
		return;
	}
	evutil_make_socket_nonblocking(fd);
	/* LMTP clients pipeline MAIL/RCPT/DATA; without this, Nagle holds
	 * the RCPT+354 replies that follow the user lookup until the
	 * client's delayed ACK (~40 ms per message). */
	if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		srv_peer_text(addr, peer, sizeof(peer));
	}
	node = kr_xcalloc(1, sizeof(*node));
	node->srv = srv;
	/* XFORWARD only from allowed clients (today every client that
	 * gets this far): passed explicitly, so that the rule still holds
	 * should anything ever admit a client outside [lmtp] allow. */
	node->session = kr_lmtp_session_create(
		&srv->env, fd, peer[0] != '\0' ? peer : NULL, ++srv->serial,
		allowed, srv_on_closed, node);
	node->next = srv->head;
	if (srv->head != NULL)
		srv->head->prev = node;
	srv->head = node;
	srv->n_sessions++;
	kr_metrics_inc(rt->slot, rt->lmtp_ids->sessions_total);
	kr_metrics_gauge_add(rt->slot, rt->lmtp_ids->sessions, 1);
	srv_update(srv);
}

/* accept() failed for another reason than a retriable one: most likely
 * EMFILE or ENFILE. Pause listening for a while, with one log line per
 * stretch of failures, instead of spinning on the readable socket. */
static void
srv_on_accept_error(struct evconnlistener *lev, void *ctx)
{
	struct kr_lmtp_server *srv = ctx;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { .tv_sec = SRV_ACCEPT_PAUSE_MS / 1000,
			      .tv_usec = (SRV_ACCEPT_PAUSE_MS % 1000) * 1000 };

	(void)lev;
	if (!srv->fd_logged) {
		struct kr_log_line line;

		srv->fd_logged = true;
		if (kr_log_begin(&line, srv->env.rt->log, KR_LOG_WARN, NULL,
				 "lmtp.paused")) {
			kr_log_str(&line, "reason", "accept failed");
			kr_log_str(&line, "error", strerror(err));
			kr_log_uint(&line, "sessions", srv->n_sessions);
			kr_log_uint(&line, "pause_ms", SRV_ACCEPT_PAUSE_MS);
			kr_log_end(&line);
		}
	}
	evtimer_add(srv->pause_timer, &tv);
	srv_update(srv);
}

static void
srv_on_pause_end(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	srv_update(ctx);
}

struct kr_lmtp_server *
kr_lmtp_server_create(struct event_base *base, struct kr_runtime *rt,
		      const struct kr_deliver_env *deliver, SSL_CTX *tls)
{
	struct kr_lmtp_server *srv = kr_xcalloc(1, sizeof(*srv));
	const int fds[2] = { rt->lmtp_fd, rt->lmtp_unix_fd };

	srv->env = (struct kr_lmtp_session_env){
		.base = base,
		.rt = rt,
		.deliver = deliver,
		.tls = tls,
		.hostname = srv->hostname,
		.rcpt_cache = kr_lmtp_rcpt_cache_create(
			rt->cfg->lmtp.rcpt_cache_bytes,
			rt->cfg->lmtp.rcpt_cache_ttl_ms),
	};
	if (rt->cfg->lmtp.hostname != NULL)
		snprintf(srv->hostname, sizeof(srv->hostname), "%s",
			 rt->cfg->lmtp.hostname);
	else if (gethostname(srv->hostname, sizeof(srv->hostname) - 1) != 0)
		snprintf(srv->hostname, sizeof(srv->hostname), "localhost");
	srv->pause_timer = evtimer_new(base, srv_on_pause_end, srv);
	if (srv->pause_timer == NULL)
		kr_panic("lmtp: timer set-up failed");
	for (size_t i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		/* The master owns the sockets: no close on free. */
		srv->listeners[i] = evconnlistener_new(base, srv_on_accept, srv,
						       0, -1, fds[i]);
		if (srv->listeners[i] == NULL)
			kr_panic("lmtp: listener set-up failed");
		evconnlistener_set_error_cb(srv->listeners[i],
					    srv_on_accept_error);
	}
	srv->accepting = true;
	srv->listening = true;
	return srv;
}

void
kr_lmtp_server_stop_accepting(struct kr_lmtp_server *srv)
{
	srv->accepting = false;
	evtimer_del(srv->pause_timer);
	srv_update(srv);
	for (struct srv_node *n = srv->head, *next; n != NULL; n = next) {
		next = n->next; /* drain may close and free n */
		kr_lmtp_session_drain(n->session);
	}
}

unsigned
kr_lmtp_server_sessions(const struct kr_lmtp_server *srv)
{
	return srv->n_sessions;
}

void
kr_lmtp_server_destroy(struct kr_lmtp_server **srv_p)
{
	struct kr_lmtp_server *srv = *srv_p;

	if (srv == NULL)
		return;
	*srv_p = NULL;
	while (srv->head != NULL) {
		struct srv_node *n = srv->head;

		srv->head = n->next;
		kr_lmtp_session_destroy(&n->session);
		free(n);
	}
	for (size_t i = 0; i < 2; i++)
		if (srv->listeners[i] != NULL)
			evconnlistener_free(srv->listeners[i]);
	event_free(srv->pause_timer);
	kr_lmtp_rcpt_cache_destroy(&srv->env.rcpt_cache);
	free(srv);
}
