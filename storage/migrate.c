/* Schema migrations over blocking libpq (start-up and CLI only). */
#include "storage/migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "storage/pgnode.h"

/* Session advisory lock key of every kurier migration ("kurier", 1). */
#define MIGRATE_LOCK_KEY "7743220931332538369"
/* A second migrating process waits this long for the first one; a
 * migration waits as long for the table locks it needs. Beyond that the
 * node is busy with something else and start-up should say so. */
#define MIGRATE_LOCK_TIMEOUT "'60s'"
/* "host:port" of a node (struct kr_pgnode's fields). */
#define MIGRATE_NODE_MAX (KR_CONFIG_VALUE_MAX + 64)

struct migrate_ctx {
	PGconn *conn;
	char node[MIGRATE_NODE_MAX];
};

/* Names the node for error messages from the conninfo's own host and
 * port (what the operator wrote), else libpq's defaults; the password
 * never gets near it. */
static void
migrate_describe(struct migrate_ctx *ctx, const char *conninfo)
{
	struct kr_pgnode node;
	const char *host, *port;

	kr_pgnode_parse(conninfo, &node);
	host = node.host[0] != '\0' || ctx->conn == NULL ? node.host
							 : PQhost(ctx->conn);
	port = node.port[0] != '\0' || ctx->conn == NULL ? node.port
							 : PQport(ctx->conn);
	snprintf(ctx->node, sizeof(ctx->node), "%s:%s",
		 host != NULL && host[0] != '\0' ? host : "(default)",
		 port != NULL && port[0] != '\0' ? port : "(default)");
}

/* The first line of libpq's message; DETAIL, HINT and the LINE excerpt
 * follow on others and would not fit an error line anyway. */
static void
migrate_pgmsg(const char *msg, char *buf, size_t size)
{
	size_t n;

	if (msg == NULL || msg[0] == '\0')
		msg = "unknown error";
	n = strcspn(msg, "\n");
	snprintf(buf, size, "%.*s", (int)n, msg);
}

/* Line (1-based) of the character at 1-based position pos of sql. */
static unsigned
migrate_line(const char *sql, long pos)
{
	unsigned line = 1;
	long chars = 0;

	for (const char *p = sql; *p != '\0'; p++) {
		/* Positions count characters: skip UTF-8 continuation bytes. */
		if (((unsigned char)*p & 0xc0) != 0x80 && ++chars >= pos)
			break;
		if (*p == '\n')
			line++;
	}
	return line;
}

static enum kr_err_kind
migrate_kind(const struct migrate_ctx *ctx)
{
	return PQstatus(ctx->conn) == CONNECTION_OK ? KR_ERR_INTERNAL
						    : KR_ERR_TEMPORARY;
}

/* Consumes res. 0 if it has one of the good statuses, else -1 with
 * err_r saying what failed; sql (may be NULL) locates the error. */
static int
migrate_check(struct migrate_ctx *ctx, PGresult *res, const char *what,
	      const char *sql, struct kr_err *err_r)
{
	ExecStatusType st = PQresultStatus(res);
	const char *pos;
	char msg[KR_ERR_MSG_MAX];

	if (res != NULL && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
			    st == PGRES_EMPTY_QUERY)) {
		PQclear(res);
		return 0;
	}
	migrate_pgmsg(res != NULL ? PQresultErrorMessage(res)
				  : PQerrorMessage(ctx->conn),
		      msg, sizeof(msg));
	pos = res != NULL ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION)
			  : NULL;
	if (sql != NULL && pos != NULL)
		kr_err_set(err_r, migrate_kind(ctx),
			   "postgres %s: %s: line %u: %s", ctx->node, what,
			   migrate_line(sql, atol(pos)), msg);
	else
		kr_err_set(err_r, migrate_kind(ctx), "postgres %s: %s: %s",
			   ctx->node, what, msg);
	PQclear(res);
	return -1;
}

static int
migrate_exec(struct migrate_ctx *ctx, const char *what, const char *sql,
	     struct kr_err *err_r)
{
	return migrate_check(ctx, PQexec(ctx->conn, sql), what, sql, err_r);
}

static int
migrate_connect(struct migrate_ctx *ctx, const char *conninfo,
		struct kr_err *err_r)
{
	char msg[KR_ERR_MSG_MAX];

	ctx->conn = PQconnectdb(conninfo);
	if (ctx->conn == NULL)
		kr_panic("migrate: out of memory");
	migrate_describe(ctx, conninfo);
	if (PQstatus(ctx->conn) == CONNECTION_OK)
		return 0;
	migrate_pgmsg(PQerrorMessage(ctx->conn), msg, sizeof(msg));
	kr_err_set(err_r, KR_ERR_TEMPORARY, "postgres %s: connect: %s",
		   ctx->node, msg);
	PQfinish(ctx->conn);
	ctx->conn = NULL;
	return -1;
}

/* Serialises migrating processes; the lock goes with the session. */
static int
migrate_prepare(struct migrate_ctx *ctx, struct kr_err *err_r)
{
	/* NOTICEs ("already exists, skipping") are not for the console. */
	if (migrate_exec(ctx, "session settings",
			 "SET client_min_messages = warning; "
			 "SET lock_timeout = " MIGRATE_LOCK_TIMEOUT,
			 err_r) < 0 ||
	    migrate_exec(ctx, "advisory lock",
			 "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
			 err_r) < 0)
		return -1;
	return migrate_exec(ctx, "create kr_migrations",
			    "CREATE TABLE IF NOT EXISTS kr_migrations ("
			    " version int PRIMARY KEY,"
			    " name text NOT NULL,"
			    " applied_at timestamptz NOT NULL DEFAULT now())",
			    err_r);
}

/* 1 if version m is recorded, 0 if not, -1 on error. */
static int
migrate_recorded(struct migrate_ctx *ctx, const struct kr_migration *m,
		 struct kr_err *err_r)
{
	char version[16];
	const char *params[1] = { version };
	PGresult *res;
	int n;

	snprintf(version, sizeof(version), "%u", m->version);
	res = PQexecParams(ctx->conn,
			   "SELECT 1 FROM kr_migrations WHERE version = $1::int"
			   " LIMIT 1",
			   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return migrate_check(ctx, res, m->name, NULL, err_r);
	n = PQntuples(res);
	PQclear(res);
	return n > 0;
}

/* One migration and its kr_migrations row in one transaction. */
static int
migrate_one(struct migrate_ctx *ctx, const struct kr_migration *m,
	    struct kr_err *err_r)
{
	char version[16], what[96];
	const char *params[2] = { version, m->name };
	PGresult *res;

	snprintf(version, sizeof(version), "%u", m->version);
	snprintf(what, sizeof(what), "migration %s", m->name);
	if (migrate_exec(ctx, what, "BEGIN", err_r) < 0)
		return -1;
	/* Our own embedded file, many statements: the one place a text
	 * that is not a parameterised statement runs. */
	if (migrate_exec(ctx, what, m->sql, err_r) < 0)
		goto rollback;
	res = PQexecParams(ctx->conn,
			   "INSERT INTO kr_migrations (version, name)"
			   " VALUES ($1::int, $2)",
			   2, NULL, params, NULL, NULL, 0);
	if (migrate_check(ctx, res, what, NULL, err_r) < 0)
		goto rollback;
	return migrate_exec(ctx, what, "COMMIT", err_r);
rollback:
	PQclear(PQexec(ctx->conn, "ROLLBACK"));
	return -1;
}

/* Shard `shard`'s id range (012_stable_ids.sql), after its migrations. */
static int
migrate_id_range(struct migrate_ctx *ctx, unsigned shard, struct kr_err *err_r)
{
	char index[16];
	const char *params[1] = { index };

	snprintf(index, sizeof(index), "%u", shard);
	return migrate_check(ctx,
			     PQexecParams(ctx->conn,
					  "SELECT kr_shard_id_range($1::int)",
					  1, NULL, params, NULL, NULL, 0),
			     "id range", NULL, err_r);
}

/* The files not recorded yet, then (shard >= 0) the shard's id range. */
static int
migrate_run(const char *conninfo, const struct kr_migration *files,
	    unsigned n_files, int shard, unsigned *applied_r,
	    struct kr_err *err_r)
{
	struct migrate_ctx ctx = { 0 };
	unsigned applied = 0;
	int ret = -1, rec;

	for (unsigned i = 1; i < n_files; i++)
		kr_assert(files[i - 1].version < files[i].version);
	if (applied_r != NULL)
		*applied_r = 0;
	if (migrate_connect(&ctx, conninfo, err_r) < 0)
		return -1;
	if (migrate_prepare(&ctx, err_r) < 0)
		goto out;
	for (unsigned i = 0; i < n_files; i++) {
		rec = migrate_recorded(&ctx, &files[i], err_r);
		if (rec < 0)
			goto out;
		if (rec > 0)
			continue;
		if (migrate_one(&ctx, &files[i], err_r) < 0)
			goto out;
		applied++;
	}
	if (shard >= 0 && migrate_id_range(&ctx, (unsigned)shard, err_r) < 0)
		goto out;
	ret = 0;
out:
	/* Closing the session releases the advisory lock. */
	PQfinish(ctx.conn);
	if (applied_r != NULL)
		*applied_r = applied;
	return ret;
}

int
kr_migrate_apply_set(const char *conninfo, const struct kr_migration *files,
		     unsigned n_files, unsigned *applied_r,
		     struct kr_err *err_r)
{
	return migrate_run(conninfo, files, n_files, -1, applied_r, err_r);
}

int
kr_migrate_apply(const char *conninfo, unsigned shard, unsigned *applied_r,
		 struct kr_err *err_r)
{
	kr_assert(shard < KR_CONFIG_SHARDS_MAX);
	return migrate_run(conninfo, kr_migrate_files, kr_migrate_n_files,
			   (int)shard, applied_r, err_r);
}

/* Sets *out to the single integer value of sql's result. */
static int
migrate_query_uint(struct migrate_ctx *ctx, const char *sql, unsigned *out,
		   struct kr_err *err_r)
{
	PGresult *res = PQexec(ctx->conn, sql);
	const char *val;
	char *end;
	unsigned long v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return migrate_check(ctx, res, "version", NULL, err_r);
	if (PQntuples(res) != 1 || PQnfields(res) != 1) {
		PQclear(res);
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "postgres %s: version: unexpected result",
				  ctx->node);
	}
	val = PQgetvalue(res, 0, 0);
	v = strtoul(val, &end, 10);
	if (end == val || *end != '\0' || val[0] == '-' || v > 0xffffffffUL) {
		PQclear(res);
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "postgres %s: version: bad value", ctx->node);
	}
	*out = (unsigned)v;
	PQclear(res);
	return 0;
}

int
kr_migrate_version(const char *conninfo, unsigned *version_r,
		   struct kr_err *err_r)
{
	struct migrate_ctx ctx = { 0 };
	unsigned exists = 0, version = 0;
	int ret = -1;

	if (migrate_connect(&ctx, conninfo, err_r) < 0)
		return -1;
	if (migrate_query_uint(&ctx,
			       "SELECT (to_regclass('kr_migrations')"
			       " IS NOT NULL)::int",
			       &exists, err_r) < 0)
		goto out;
	if (exists != 0 && migrate_query_uint(&ctx,
					      "SELECT coalesce(max(version), 0)"
					      " FROM kr_migrations",
					      &version, err_r) < 0)
		goto out;
	*version_r = version;
	ret = 0;
out:
	PQfinish(ctx.conn);
	return ret;
}
