/* One LMTP connection on a worker: a proto/lmtp state machine between
 * a bufferevent (plain, then TLS after STARTTLS) and the mail store.
 * Worker loop only; owned by server/lmtp/lmtp_server.c. */
#ifndef KR_LMTP_SESSION_H
#define KR_LMTP_SESSION_H

#include <event2/util.h>
#include <openssl/ssl.h>
#include <stdbool.h>

#include "server/deliver/deliver.h"
#include "server/runtime.h"

struct event_base;
struct kr_lmtp_rcpt_cache;
struct kr_lmtp_session;

/* A client address as text (an IPv6 one included). */
#define KR_LMTP_SESSION_PEER_MAX 63

/* Everything a session needs from its worker; must outlive it. */
struct kr_lmtp_session_env {
	struct event_base *base;
	struct kr_runtime *rt;
	/* The delivery pipeline; its store (NULL: every recipient
	 * 451 4.3.0) also looks recipients up. */
	const struct kr_deliver_env *deliver;
	SSL_CTX *tls; /* NULL: no STARTTLS */
	const char *hostname;
	struct kr_lmtp_rcpt_cache *rcpt_cache; /* the worker's */
};

/* Called once, from the loop, when the session has ended; the owner
 * then destroys it. */
typedef void kr_lmtp_session_closed_fn(void *ctx,
				       struct kr_lmtp_session *session);

/* Takes over fd (closed with the session). peer: the client's address
 * as text, copied (NULL: none, a unix socket); the delivery's client
 * fact unless XFORWARD names another. xforward: the client is
 * trusted with XFORWARD ([lmtp] allow); otherwise the command is
 * refused and not advertised. The session stops reading while its
 * unfed input passes kr_lmtp_input_high() or its output backlog
 * KR_LMTP_OUTPUT_HIGH, and closes when queued output is not taken for
 * [lmtp] write_timeout; idle_timeout restarts on input, while
 * session_timeout counts from here and never restarts. */
struct kr_lmtp_session *
kr_lmtp_session_create(const struct kr_lmtp_session_env *env,
		       evutil_socket_t fd, const char *peer,
		       unsigned long long serial, bool xforward,
		       kr_lmtp_session_closed_fn *closed_cb, void *ctx);
/* Asks the session to end: at once when no delivery is in flight
 * (421 4.3.2 first), else right after that delivery is answered. */
void kr_lmtp_session_drain(struct kr_lmtp_session *session);
/* Closes now: pending store operations are cancelled, no callback. */
void kr_lmtp_session_destroy(struct kr_lmtp_session **session);

#endif
