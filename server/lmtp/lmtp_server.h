/* The LMTP service of one worker (SPEC.md §3.1): accepts on the shared
 * listening sockets, runs a proto/lmtp session per connection over a
 * bufferevent (TLS after STARTTLS), resolves recipients and delivers
 * through the mail store. Worker loop only. */
#ifndef KR_LMTP_SERVER_H
#define KR_LMTP_SERVER_H

#include <openssl/ssl.h>

#include "server/deliver/deliver.h"
#include "server/runtime.h"

struct event_base;
struct kr_lmtp_server;

/* tls may be NULL (no STARTTLS). Starts accepting at once on
 * rt->lmtp_fd (and rt->lmtp_unix_fd when open). deliver (borrowed; it
 * must outlive the server) delivers and looks recipients up; its store
 * may be NULL when no shard is configured: every recipient then gets
 * 451 4.3.0. */
struct kr_lmtp_server *
kr_lmtp_server_create(struct event_base *base, struct kr_runtime *rt,
		      const struct kr_deliver_env *deliver, SSL_CTX *tls);
/* Stops accepting; sessions go on until they end (drain). */
void kr_lmtp_server_stop_accepting(struct kr_lmtp_server *srv);
unsigned kr_lmtp_server_sessions(const struct kr_lmtp_server *srv);
/* Closes every session at once (their pending store operations are
 * cancelled; nothing not yet answered was acknowledged). */
void kr_lmtp_server_destroy(struct kr_lmtp_server **srv);

#endif
