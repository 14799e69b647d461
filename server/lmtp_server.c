/* LMTP service of a worker: accept, session list, drain. */
#include "server/lmtp_server.h"

#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/lmtp_session.h"

struct srv_node {
	struct srv_node *prev, *next;
	struct kr_lmtp_server *srv;
	struct kr_lmtp_session *session;
};

struct kr_lmtp_server {
	struct kr_lmtp_session_env env;
	struct evconnlistener *listeners[2];
	struct srv_node *head;
	unsigned n_sessions;
	unsigned long long serial;
	bool accepting;
	char hostname[256];
};

static void
srv_set_accepting(struct kr_lmtp_server *srv, bool on)
{
	for (size_t i = 0; i < 2; i++) {
		if (srv->listeners[i] == NULL)
			continue;
		if (on)
			evconnlistener_enable(srv->listeners[i]);
		else
			evconnlistener_disable(srv->listeners[i]);
	}
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
	kr_metrics_gauge_add(srv->env.rt->slot, srv->env.rt->ids.lmtp_sessions,
			     -1);
	/* Room again below max_sessions. */
	if (srv->accepting)
		srv_set_accepting(srv, true);
}

static void
srv_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
	      struct sockaddr *addr, int len, void *ctx)
{
	struct kr_lmtp_server *srv = ctx;
	struct kr_runtime *rt = srv->env.rt;
	struct srv_node *node = kr_xcalloc(1, sizeof(*node));

	(void)lev;
	(void)len;
	evutil_make_socket_nonblocking(fd);
	/* LMTP clients pipeline MAIL/RCPT/DATA; without this, Nagle holds
	 * the RCPT+354 replies that follow the user lookup until the
	 * client's delayed ACK (~40 ms per message). */
	if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	node->srv = srv;
	node->session = kr_lmtp_session_create(&srv->env, fd, ++srv->serial,
					       srv_on_closed, node);
	node->next = srv->head;
	if (srv->head != NULL)
		srv->head->prev = node;
	srv->head = node;
	srv->n_sessions++;
	kr_metrics_inc(rt->slot, rt->ids.lmtp_sessions_total);
	kr_metrics_gauge_add(rt->slot, rt->ids.lmtp_sessions, 1);
	/* Past max_sessions the kernel backlog holds further clients
	 * (another worker may take them) instead of our memory. */
	if (srv->n_sessions >= rt->cfg->lmtp.max_sessions)
		srv_set_accepting(srv, false);
}

struct kr_lmtp_server *
kr_lmtp_server_create(struct event_base *base, struct kr_runtime *rt,
		      struct kr_store *store, struct kr_tpool *cpu,
		      SSL_CTX *tls)
{
	struct kr_lmtp_server *srv = kr_xcalloc(1, sizeof(*srv));
	const int fds[2] = { rt->lmtp_fd, rt->lmtp_unix_fd };

	srv->env = (struct kr_lmtp_session_env){ .base = base,
						 .rt = rt,
						 .store = store,
						 .cpu = cpu,
						 .tls = tls,
						 .hostname = srv->hostname };
	if (rt->cfg->lmtp.hostname != NULL)
		snprintf(srv->hostname, sizeof(srv->hostname), "%s",
			 rt->cfg->lmtp.hostname);
	else if (gethostname(srv->hostname, sizeof(srv->hostname) - 1) != 0)
		snprintf(srv->hostname, sizeof(srv->hostname), "localhost");
	for (size_t i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		/* The master owns the sockets: no close on free. */
		srv->listeners[i] = evconnlistener_new(base, srv_on_accept, srv,
						       0, -1, fds[i]);
		if (srv->listeners[i] == NULL)
			kr_panic("lmtp: listener set-up failed");
	}
	srv->accepting = true;
	return srv;
}

void
kr_lmtp_server_stop_accepting(struct kr_lmtp_server *srv)
{
	srv->accepting = false;
	srv_set_accepting(srv, false);
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
	free(srv);
}
