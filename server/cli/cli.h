/* The `kurier` CLI's shared state and helpers: the loaded config and
 * shard map, one BLOCKING libpq connection per shard primary (opened
 * on first use, after the node's migrations are applied), address and
 * number parsing. A command-line tool, so blocking is fine; main
 * thread only. Commands live in cli_user.c, cli_import.c and
 * cli_shard.c and return an exit status (enum kr_cli_exit). */
#ifndef KR_CLI_H
#define KR_CLI_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"
#include "lib/err.h"
#include "lib/limits.h"
#include "storage/shardmap.h"

enum kr_cli_exit {
	KR_CLI_OK = 0,
	KR_CLI_FAIL = 1,  /* the command was understood but failed */
	KR_CLI_USAGE = 2, /* bad arguments: nothing was done */
};

struct kr_cli {
	struct kr_config *cfg;
	struct kr_shardmap *map;
	PGconn **conns; /* [cfg->n_shards], NULL until first use */
};

/* Loads the config and builds the shard map; no connection yet. */
int kr_cli_init(struct kr_cli *cli, const char *config_path,
		struct kr_err *err_r);
void kr_cli_deinit(struct kr_cli *cli);

/* Checks an address (local@domain, printable ASCII without blanks, at
 * most KR_ADDRESS_MAX bytes) and writes it lower-cased to out (size >
 * KR_ADDRESS_MAX). -1 + err_r (KR_ERR_PERMANENT, the reason). */
int kr_cli_address(const char *in, size_t len, char *out, size_t out_size,
		   struct kr_err *err_r);

/* Decimal bytes with an optional K, M, G or T suffix (1024-based),
 * at most INT64_MAX. -1 when s is not one. */
int kr_cli_parse_bytes(const char *s, uint64_t *n_r);
/* Decimal 1..max. */
int kr_cli_parse_count(const char *s, uint64_t max, uint64_t *n_r);

/* The primary of shard `shard` (target_session_attrs=read-write),
 * connected and migrated once per run, with statement_timeout =
 * [storage] query_timeout, or 10 minutes with long_statements (the
 * first call for a shard decides). Borrowed: kr_cli_deinit closes it.
 * NULL + err_r naming the shard or node. */
PGconn *kr_cli_conn(struct kr_cli *cli, unsigned shard, bool long_statements,
		    struct kr_err *err_r);

/* "host=H port=P dbname=D" of a conninfo (libpq defaults for what it
 * leaves out), never the password; into buf. */
const char *kr_cli_node_name(const char *conninfo, char *buf, size_t size);

/* Runs a parameterised query (text parameters) that must return rows
 * (PGRES_TUPLES_OK) with at least min_cols columns. NULL + err_r with
 * PostgreSQL's message; the caller PQclear()s the result. */
PGresult *kr_cli_exec(PGconn *conn, const char *sql, int n_params,
		      const char *const *values, int min_cols,
		      struct kr_err *err_r);

/* Seconds since an unspecified start, for timing. */
double kr_cli_now(void);

#endif
