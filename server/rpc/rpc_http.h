/* The webmail API's HTTP side (SPEC.md §3.2) on one worker: our own
 * HTTP/1.1 connections (proto/http.h parses them) on the shared
 * listening socket, optional TLS, the limits of SPEC.md §6 (connections
 * counted at accept, header and body size, idle, read and write
 * timeouts, one request at a time per connection), and the mapping of
 * HTTP onto JSON-RPC calls: POST /rpc with application/json goes to
 * the dispatcher (server/rpc/rpc.h); other verbs 405, other content types
 * 415, other paths 404, bodies over the limit 413, malformed HTTP 400
 * and that connection closed. Worker loop only. */
#ifndef KR_RPC_HTTP_H
#define KR_RPC_HTTP_H

#include "lib/err.h"

struct event_base;
struct kr_rpc;
struct kr_rpc_http;
struct kr_runtime;

/* Starts accepting on rt->rpc_fd (listening, shared with the other
 * workers; not closed here), over TLS when rt->rpc_tls is set, through
 * admin/httpd.h. The [jsonrpc] limits are read from rt->cfg; at most
 * rt->fds.http_max connections are open at once. rt and rpc are
 * borrowed and must outlive h. */
struct kr_rpc_http *kr_rpc_http_create(struct event_base *base,
				       struct kr_runtime *rt,
				       struct kr_rpc *rpc,
				       struct kr_err *err_r);
/* After rt->cfg and rt->fds were reloaded: the cap and the timeouts
 * apply from now on, the size limits to connections opened from now
 * on. NULL is fine. */
void kr_rpc_http_reload(struct kr_rpc_http *h);
/* Stops accepting (drain): idle connections close now, busy ones after
 * their answer (Connection: close). */
void kr_rpc_http_stop_accepting(struct kr_rpc_http *h);
/* Connections open now. */
unsigned kr_rpc_http_connections(const struct kr_rpc_http *h);
/* Requests read and not yet answered in full: with the dispatcher, or
 * their answer still going out. */
unsigned kr_rpc_http_pending(const struct kr_rpc_http *h);
/* Closes every connection; requests still running are answered into
 * the void. Sets *h to NULL. */
void kr_rpc_http_destroy(struct kr_rpc_http **h);

#endif
