/* Shared helpers of the kurier CLI: config, shard connections,
 * argument parsing. */
#include "server/cli/cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/migrate.h"

/* Long enough for a 1000-user import chunk on a slow disk; the CLI's
 * other statements get [storage] query_timeout. */
#define CLI_LONG_STATEMENT_MS 600000

int
kr_cli_init(struct kr_cli *cli, const char *config_path, struct kr_err *err_r)
{
	memset(cli, 0, sizeof(*cli));
	if (kr_config_load(config_path, &cli->cfg, err_r) < 0)
		return -1;
	cli->map = kr_shardmap_create(cli->cfg);
	cli->conns = kr_xcalloc(cli->cfg->n_shards + 1, sizeof(*cli->conns));
	return 0;
}

void
kr_cli_deinit(struct kr_cli *cli)
{
	if (cli->cfg == NULL)
		return;
	for (unsigned i = 0; i < cli->cfg->n_shards; i++) {
		if (cli->conns[i] != NULL)
			PQfinish(cli->conns[i]);
	}
	free(cli->conns);
	kr_shardmap_destroy(&cli->map);
	kr_config_destroy(&cli->cfg);
}

int
kr_cli_address(const char *in, size_t len, char *out, size_t out_size,
	       struct kr_err *err_r)
{
	const char *at;

	kr_assert(out_size > KR_ADDRESS_MAX);
	if (len == 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "empty address");
	if (len > KR_ADDRESS_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "address longer than %d bytes",
				  KR_ADDRESS_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= 0x20 || c >= 0x7f)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "address has a byte 0x%02x that is "
					  "not printable ASCII",
					  c);
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[len] = '\0';
	at = memchr(out, '@', len);
	if (at == NULL || at == out || at == out + len - 1 ||
	    memchr(at + 1, '@', (size_t)(out + len - at - 1)) != NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "address is not local@domain");
	return 0;
}

int
kr_cli_parse_bytes(const char *s, uint64_t *n_r)
{
	static const char suffixes[] = "KMGT";
	uint64_t n = 0, mult = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > INT64_MAX)
			return -1;
	}
	if (*p != '\0') {
		const char *suf = strchr(suffixes, toupper((unsigned char)*p));

		if (suf == NULL || p[1] != '\0')
			return -1;
		mult = 1ULL << (10 * (suf - suffixes + 1));
	}
	if (n > INT64_MAX / mult)
		return -1;
	*n_r = n * mult;
	return 0;
}

int
kr_cli_parse_count(const char *s, uint64_t max, uint64_t *n_r)
{
	uint64_t n = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
		if (n > max)
			return -1;
	}
	if (n == 0)
		return -1;
	*n_r = n;
	return 0;
}

const char *
kr_cli_node_name(const char *conninfo, char *buf, size_t size)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *host = NULL, *port = NULL, *db = NULL;

	for (const PQconninfoOption *o = opts; o != NULL && o->keyword != NULL;
	     o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0 && host == NULL)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	snprintf(buf, size, "host=%s port=%s dbname=%s",
		 host != NULL ? host : "(default)",
		 port != NULL ? port : "(default)",
		 db != NULL ? db : "(default)");
	PQconninfoFree(opts);
	return buf;
}

/* libpq's message up to its first newline, for one-line errors. */
static int
cli_pg_err(struct kr_err *err_r, enum kr_err_kind kind, const char *what,
	   const char *msg)
{
	size_t n = strcspn(msg, "\n");

	return kr_err_set(err_r, kind, "%s: %.*s", what, (int)n, msg);
}

static PGconn *
cli_connect(const struct kr_cli *cli, const char *conninfo, unsigned shard,
	    struct kr_err *err_r)
{
	char timeout[16], what[64];
	const char *keys[] = { "dbname", "connect_timeout", "application_name",
			       "target_session_attrs", NULL };
	const char *vals[] = { conninfo, timeout, "kurier-cli", "read-write",
			       NULL };
	PGconn *conn;

	/* libpq counts whole seconds and treats 1 as 2. */
	snprintf(timeout, sizeof(timeout), "%u",
		 (cli->cfg->storage.connect_timeout_ms + 999) / 1000);
	conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) == CONNECTION_OK)
		return conn;
	snprintf(what, sizeof(what), "shard %u: cannot connect", shard);
	cli_pg_err(err_r, KR_ERR_TEMPORARY, what, PQerrorMessage(conn));
	PQfinish(conn);
	return NULL;
}

PGconn *
kr_cli_conn(struct kr_cli *cli, unsigned shard, bool long_statements,
	    struct kr_err *err_r)
{
	const char *conninfo;
	char ms[16];
	const char *params[1] = { ms };
	PGresult *res;
	PGconn *conn;

	kr_assert(shard < cli->cfg->n_shards);
	if (cli->conns[shard] != NULL)
		return cli->conns[shard];
	conninfo = cli->cfg->shards[shard].primary;
	if (kr_migrate_apply(conninfo, NULL, err_r) < 0)
		return NULL;
	conn = cli_connect(cli, conninfo, shard, err_r);
	if (conn == NULL)
		return NULL;
	snprintf(ms, sizeof(ms), "%u",
		 long_statements ? CLI_LONG_STATEMENT_MS
				 : cli->cfg->storage.query_timeout_ms);
	res = kr_cli_exec(conn,
			  "SELECT set_config('statement_timeout', $1, false)",
			  1, params, 1, err_r);
	if (res == NULL) {
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	cli->conns[shard] = conn;
	return conn;
}

PGresult *
kr_cli_exec(PGconn *conn, const char *sql, int n_params,
	    const char *const *values, int min_cols, struct kr_err *err_r)
{
	PGresult *res =
		PQexecParams(conn, sql, n_params, NULL, values, NULL, NULL, 0);

	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQnfields(res) >= min_cols)
		return res;
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
		kr_err_set(err_r, KR_ERR_INTERNAL,
			   "query returned %d columns, expected %d",
			   PQnfields(res), min_cols);
	else
		cli_pg_err(err_r,
			   PQstatus(conn) == CONNECTION_OK ? KR_ERR_PERMANENT
							   : KR_ERR_TEMPORARY,
			   "query failed",
			   res != NULL ? PQresultErrorMessage(res)
				       : PQerrorMessage(conn));
	PQclear(res);
	return NULL;
}

double
kr_cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
