/* A small HTTP/1.1 server on one libevent loop, shared by the JSON-RPC
 * port (server/rpc/rpc_http.c, in each worker) and the admin port
 * (admin/admin.c, in the master): the limits of SPEC.md §6 live here
 * once. A listener whose connections are counted at accept (paused at
 * the cap, backing off when accept fails); per connection one request
 * at a time, framed by proto/http, with idle, read and write deadlines
 * no trickle can extend; optional TLS; refusals answered, then lingered
 * on. What a request means is the handler's.
 *
 * It lives in admin/ because both users must include it and the layers
 * allow no other place: admin/ may not include server/, server/ may
 * include admin/ (SPEC.md §2, ops/lint.sh).
 *
 * One loop, one thread. The handler is called from the loop only,
 * never from inside a call into this module (every callback is
 * deferred to the loop), so kr_httpd_create never calls it before it
 * returns. */
#ifndef KR_HTTPD_H
#define KR_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/err.h"
#include "lib/log.h"
#include "proto/http.h"

struct event_base;
struct ssl_ctx_st;
struct kr_httpd;
/* One request with the handler, until it is answered. */
struct kr_httpd_call;

struct kr_httpd_limits {
	/* Connections open at once, counted at accept: at the cap the
	 * listener pauses and further clients wait in the kernel's
	 * backlog until one closes. >= 1. */
	unsigned max_connections;
	/* proto/http's limits, for connections opened from now on. */
	struct kr_http_limits http;
	/* Each > 0. idle: no request begun (after accept and between
	 * requests); read: a request, first byte to last, however it
	 * trickles in; write: an answer taken in full by the client. */
	unsigned idle_timeout_ms;
	unsigned read_timeout_ms;
	unsigned write_timeout_ms;
};

/* A complete request, borrowed for the duration of the handler call
 * only: copy what an answer given later needs. */
struct kr_httpd_request {
	const struct kr_http_request *http;
	const char *peer; /* the client's address as text, "unknown" */
	const struct sockaddr *peer_sa; /* NULL when unknown */
};

/* Must answer call exactly once, now or later (kr_httpd_answer*), and
 * must not destroy the server from inside. The transport keeps no
 * deadline while the handler has a request, and reads nothing on that
 * connection (not even its end): the handler bounds its own work. */
typedef void kr_httpd_handler_fn(void *ctx, struct kr_httpd_call *call,
				 const struct kr_httpd_request *req);

struct kr_httpd_settings {
	int fd;	     /* listening, non-blocking */
	bool own_fd; /* closed by kr_httpd_destroy, also on failure */
	struct ssl_ctx_st *tls; /* NULL: plain HTTP; borrowed, outlives */
	struct kr_log *log;	/* borrowed, outlives */
	/* First word of the log events: "<name>.paused",
	 * "<name>.accept_failed", "<name>.refused", "<name>.timeout".
	 * Static. */
	const char *name;
	struct kr_httpd_limits limits;
	kr_httpd_handler_fn *handler;
	void *ctx;
};

/* Starts accepting on set->fd. Returns NULL with err_r filled when
 * libevent cannot set up the listener (then set->fd is closed if
 * own_fd). Limits out of range are a bug (panics). */
struct kr_httpd *kr_httpd_create(struct event_base *base,
				 const struct kr_httpd_settings *set,
				 struct kr_err *err_r);
/* New limits: the cap and every deadline armed from now on at once,
 * proto/http's limits for connections opened from now on. */
void kr_httpd_configure(struct kr_httpd *h, const struct kr_httpd_limits *lim);
/* Stops accepting (drain): idle connections close now, busy ones after
 * their answer (Connection: close). */
void kr_httpd_stop_accepting(struct kr_httpd *h);
/* Connections open now. */
unsigned kr_httpd_connections(const struct kr_httpd *h);
/* Requests read and not yet answered in full: with the handler, or
 * their answer still going out. */
unsigned kr_httpd_pending(const struct kr_httpd *h);
/* Closes every connection and the listener. Calls still with the
 * handler stay valid until answered; their answers go nowhere. Sets *h
 * to NULL; NULL is fine. */
void kr_httpd_destroy(struct kr_httpd **h);
/* The same in a child forked from h's process (after event_reinit):
 * every socket of h is shared with the parent, which goes on serving
 * it. Each is first pointed at /dev/null, so that whatever freeing
 * does to a socket (a library may shut it down) cannot touch the
 * parent's connection; the child's descriptors are then closed. A
 * listener not owned (own_fd false) is left to the child as it is. */
void kr_httpd_destroy_forked(struct kr_httpd **h);

/* An answer. Connection: close follows when close is set, when the
 * request did not keep the connection alive, or after stop_accepting;
 * HEAD requests get the head only. */
struct kr_httpd_answer {
	unsigned status;	  /* 200..599 */
	const char *content_type; /* NULL: none */
	const char *allow;	  /* NULL: none; a 405 needs one */
	/* At most KR_HTTP_RESPONSE_FIELDS_MAX more (proto/http.h rules). */
	const struct kr_http_field *fields;
	unsigned n_fields;
	bool close; /* end the connection after this answer */
};

/* Answers call (which is freed) with len bytes of body, copied. body
 * may be NULL when len is 0; a 204 or 304 must have none. May be
 * called from within the handler. */
void kr_httpd_answer(struct kr_httpd_call *call,
		     const struct kr_httpd_answer *a, const char *body,
		     size_t len);
/* The same, taking body (malloc'd): freed here or once sent. */
void kr_httpd_answer_take(struct kr_httpd_call *call,
			  const struct kr_httpd_answer *a, char *body,
			  size_t len);

#endif
