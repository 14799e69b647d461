/* A small blocking HTTP/1.1 client for kurierd's admin port, for the
 * CLI's commands that talk to the running daemon (reload, stats): one
 * request per connection (Connection: close), the bearer token of
 * [admin] token, every wait bounded. Main thread of the CLI only. */
#ifndef KR_CLI_HTTP_H
#define KR_CLI_HTTP_H

#include <stddef.h>

#include "lib/config.h"
#include "lib/err.h"

/* The admin answers of the CLI (every worker listed, every shard) stay
 * far below this. */
#define KR_CLI_HTTP_ANSWER_MAX (1u << 20)

/* The host and port to reach a listener "host:port" / "[v6]:port" at:
 * a wildcard address becomes loopback (0.0.0.0 -> 127.0.0.1, :: -> ::1).
 * host is unbracketed. Returns 0, or -1 when listen is not an address
 * (or host_max is too small). */
int kr_cli_http_target(const char *listen, char *host, size_t host_max,
		       unsigned *port_r);

/* method ("GET" or "POST", empty body) path on cfg's admin port with
 * cfg's token, waiting at most timeout_s for each step. Returns the body
 * (malloc'd, NUL-terminated; the caller frees) with the status in
 * *status_r, or NULL with err_r filled: no token in the config,
 * unreachable, timeout, an answer over KR_CLI_HTTP_ANSWER_MAX or not
 * HTTP. */
char *kr_cli_http_request(const struct kr_config *cfg, const char *method,
			  const char *path, int timeout_s, int *status_r,
			  struct kr_err *err_r);

#endif
