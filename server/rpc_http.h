/* The webmail API's HTTP side (SPEC.md §3.2) on one worker: libevent's
 * evhttp on the shared listening socket, optional TLS, the limits
 * (connections, header and body size, idle time), and the mapping of
 * HTTP onto JSON-RPC calls: POST /rpc with application/json goes to
 * the dispatcher (server/rpc.h); other verbs 405, other content types
 * 415, other paths 404, bodies over the limit 413. Malformed HTTP
 * closes that connection only. Worker loop only. */
#ifndef KR_RPC_HTTP_H
#define KR_RPC_HTTP_H

#include <openssl/ssl.h>

#include "lib/err.h"

struct event_base;
struct kr_config;
struct kr_rpc;
struct kr_rpc_http;

/* Starts accepting on fd (listening, shared with the other workers).
 * tls NULL: plain HTTP. cfg's [jsonrpc] limits are read here. */
struct kr_rpc_http *kr_rpc_http_create(struct event_base *base, int fd,
				       SSL_CTX *tls,
				       const struct kr_config *cfg,
				       struct kr_rpc *rpc,
				       struct kr_err *err_r);
/* Stops accepting; open connections go on (drain). */
void kr_rpc_http_stop_accepting(struct kr_rpc_http *h);
/* Connections open now. */
unsigned kr_rpc_http_connections(const struct kr_rpc_http *h);
/* Requests being answered now. */
unsigned kr_rpc_http_pending(const struct kr_rpc_http *h);
/* Closes every connection; requests still running are answered into
 * the void. Sets *h to NULL. */
void kr_rpc_http_destroy(struct kr_rpc_http **h);

#endif
