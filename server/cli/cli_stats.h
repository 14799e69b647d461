/* `kurier stats` and `kurier dashboard`: the running kurierd seen through
 * its admin port (API of the admin, SPEC.md §3.3). stats GETs
 * /api/overview, /api/nodes and /api/workers and prints them as terminal
 * tables (or one JSON document, or refreshed every N seconds); dashboard
 * prints the browser login URL. The formatting is pure (JSON in, text
 * out) so that it is tested without a daemon. Blocking; main thread of
 * the CLI only. */
#ifndef KR_CLI_STATS_H
#define KR_CLI_STATS_H

#include <jansson.h>

/* --watch bounds, seconds. */
#define KR_CLI_STATS_WATCH_DEFAULT 2
#define KR_CLI_STATS_WATCH_MAX 3600

/* The terminal text of the three admin documents (borrowed; any may be
 * NULL: its part is left out). Absent or null fields print as "-".
 * Returns malloc'd text the caller frees. */
char *kr_cli_stats_format(const json_t *overview, const json_t *nodes,
			  const json_t *workers);

/* "http://HOST:PORT/?token=TOKEN" for the admin listener listen ("host:
 * port", "[v6]:port"; a wildcard becomes loopback, an IPv6 host is
 * bracketed; the token is percent-encoded where needed). Returns malloc'd
 * text, or NULL when listen is not an address. */
char *kr_cli_stats_dashboard_url(const char *listen, const char *token);

/* kurier stats [-c CONF] [--json] [--watch[=SECONDS]]: exit 0, 1 when
 * the admin is unreachable or answers an error (once; --watch shows the
 * error and goes on until SIGINT or SIGTERM, then exits 0), 2 on bad
 * usage. */
int kr_cli_stats_run(const char *config_path, int argc, char **argv);
/* kurier dashboard [-c CONF]: prints the login URL; exit 0, 1 (no
 * token, bad listen), 2. */
int kr_cli_dashboard_run(const char *config_path, int argc, char **argv);

#endif
