/* The store's blocking administration part (store_admin.h): shard
 * connections, the user calls, listing, import, node probes. */
#include "storage/store_admin.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/address.h"
#include "lib/clock.h"
#include "storage/migrate.h"
#include "storage/pgarray.h"
#include "storage/shardmap.h"
#include "storage/store_admin_priv.h"
#include "storage/store_priv.h"

/* Users per kr_user_import call: big enough that the round trip and
 * the commit are paid rarely, small enough to keep a transaction and
 * the two array literals (about 1 MB at worst) modest. */
#define ADMIN_IMPORT_CHUNK 1000
/* Worst case of one escaped, quoted element plus its comma. */
#define ADMIN_IMPORT_ARRAY_MAX(elem) \
	(ADMIN_IMPORT_CHUNK * (2 * (size_t)(elem) + 3) + 3)
/* kr_user_list pages per shard; memory is shards x page rows. */
#define ADMIN_LIST_PAGE 1000
/* A probe: seconds for the node to accept a connection, ms a query. */
#define ADMIN_PROBE_CONNECT_S "2"
#define ADMIN_PROBE_QUERY_MS "2000"

/* The calls only the admin part makes (the rest: store_user.c). */
static const char admin_sql_list[] =
	"SELECT address, quota_bytes, used_bytes, messages "
	"FROM kr_user_list($1, $2::int)";
static const char admin_sql_import[] =
	"SELECT idx, status FROM kr_user_import($1::text[], $2::text[])";

struct admin_batch {
	struct kr_pgarray addrs, hashes;
	bool pending; /* a call sent, its answer not yet read */
};

struct kr_store_admin {
	const struct kr_config *cfg;
	const struct kr_shardmap *map;
	unsigned statement_timeout_ms;
	PGconn **conns;		     /* [n_shards], NULL until first use */
	struct admin_batch *batches; /* [n_shards], NULL until an import */
};

struct kr_store_admin *
kr_store_admin_create(const struct kr_config *cfg,
		      const struct kr_shardmap *map,
		      unsigned statement_timeout_ms)
{
	struct kr_store_admin *adm = kr_xcalloc(1, sizeof(*adm));

	adm->cfg = cfg;
	adm->map = map;
	adm->statement_timeout_ms = statement_timeout_ms;
	adm->conns = kr_xcalloc(cfg->n_shards + 1, sizeof(*adm->conns));
	return adm;
}

static void
admin_batch_init(struct admin_batch *b)
{
	kr_pgarray_init(&b->addrs, ADMIN_IMPORT_ARRAY_MAX(KR_ADDRESS_MAX));
	kr_pgarray_init(&b->hashes,
			ADMIN_IMPORT_ARRAY_MAX(KR_PASSWORD_HASH_MAX));
}

static void
admin_batch_deinit(struct admin_batch *b)
{
	kr_pgarray_deinit(&b->addrs);
	kr_pgarray_deinit(&b->hashes);
}

void
kr_store_admin_destroy(struct kr_store_admin **adm_p)
{
	struct kr_store_admin *adm = *adm_p;

	if (adm == NULL)
		return;
	*adm_p = NULL;
	for (unsigned i = 0; i < adm->cfg->n_shards; i++) {
		if (adm->conns[i] != NULL)
			PQfinish(adm->conns[i]);
		if (adm->batches != NULL)
			admin_batch_deinit(&adm->batches[i]);
	}
	free(adm->batches);
	free(adm->conns);
	free(adm);
}

/* ---- connections and statements ----------------------------------- */

/* "what: " and libpq's message up to its first newline. */
static int
admin_pg_err(struct kr_err *err_r, enum kr_err_kind kind, const char *what,
	     const char *msg)
{
	return kr_err_set(err_r, kind, "%s: %.*s", what,
			  (int)strcspn(msg, "\n"), msg);
}

PGresult *
kr_store_admin_exec(PGconn *conn, const struct kr_pgquery *q,
		    struct kr_err *err_r)
{
	PGresult *res = PQexecParams(conn, q->sql, q->n_params, NULL, q->values,
				     q->lengths, q->formats, q->binary_result);

	if (res != NULL && (PQresultStatus(res) == PGRES_TUPLES_OK ||
			    PQresultStatus(res) == PGRES_COMMAND_OK))
		return res;
	admin_pg_err(err_r,
		     PQstatus(conn) == CONNECTION_OK ? KR_ERR_PERMANENT
						     : KR_ERR_TEMPORARY,
		     "query failed",
		     res != NULL ? PQresultErrorMessage(res)
				 : PQerrorMessage(conn));
	PQclear(res);
	return NULL;
}

static PGconn *
admin_connect(const struct kr_store_admin *adm, unsigned shard,
	      struct kr_err *err_r)
{
	char timeout[16], what[64];
	const char *keys[] = { "dbname", "connect_timeout", "application_name",
			       "target_session_attrs", NULL };
	const char *vals[] = { adm->cfg->shards[shard].primary, timeout,
			       "kurier-cli", "read-write", NULL };
	PGconn *conn;

	/* libpq counts whole seconds and treats 1 as 2. */
	snprintf(timeout, sizeof(timeout), "%u",
		 (adm->cfg->storage.connect_timeout_ms + 999) / 1000);
	conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) == CONNECTION_OK)
		return conn;
	snprintf(what, sizeof(what), "shard %u: cannot connect", shard);
	admin_pg_err(err_r, KR_ERR_TEMPORARY, what, PQerrorMessage(conn));
	PQfinish(conn);
	return NULL;
}

PGconn *
kr_store_admin_conn(struct kr_store_admin *adm, unsigned shard,
		    struct kr_err *err_r)
{
	char ms[16];
	struct kr_pgquery q = { .sql = "SELECT set_config('statement_timeout', "
				       "$1, false)",
				.n_params = 1,
				.values = (const char *const[]){ ms } };
	PGresult *res;
	PGconn *conn;

	kr_assert(shard < adm->cfg->n_shards);
	if (adm->conns[shard] != NULL)
		return adm->conns[shard];
	if (kr_migrate_apply(adm->cfg->shards[shard].primary, shard, NULL,
			     err_r) < 0)
		return NULL;
	conn = admin_connect(adm, shard, err_r);
	if (conn == NULL)
		return NULL;
	snprintf(ms, sizeof(ms), "%u", adm->statement_timeout_ms);
	res = kr_store_admin_exec(conn, &q, err_r);
	if (res == NULL) {
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	adm->conns[shard] = conn;
	return conn;
}

int
kr_store_admin_place(const struct kr_store_admin *adm, const char *address,
		     char addr[KR_ADDRESS_MAX + 1], int *shard_r,
		     struct kr_err *err_r)
{
	*shard_r = -1;
	if (kr_address_normalize(address, strlen(address), addr,
				 KR_ADDRESS_MAX + 1, err_r) < 0)
		return -1;
	*shard_r = kr_shardmap_shard(adm->map, addr, strlen(addr));
	if (*shard_r < 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "no [shard.N] in %s",
				  adm->cfg->path != NULL ? adm->cfg->path
							 : "the config");
	return 0;
}

/* ---- users --------------------------------------------------------- */

/* One of store_user.c's calls on the address's shard. */
static PGresult *
admin_user_call(struct kr_store_admin *adm, enum kr_store_user_call call,
		const char *address, const char *password_hash,
		int64_t quota_bytes, int *shard_r, struct kr_err *err_r)
{
	char addr[KR_ADDRESS_MAX + 1];
	struct kr_store_user_args a = { .address = addr,
					.password_hash = password_hash,
					.quota_bytes = quota_bytes };
	struct kr_pgquery q;
	PGconn *conn;

	if (kr_store_admin_place(adm, address, addr, shard_r, err_r) < 0 ||
	    kr_store_user_query(call, &a, &q, err_r) < 0)
		return NULL;
	conn = kr_store_admin_conn(adm, (unsigned)*shard_r, err_r);
	return conn != NULL ? kr_store_admin_exec(conn, &q, err_r) : NULL;
}

static int
admin_user_status(struct kr_store_admin *adm, enum kr_store_user_call call,
		  const char *address, const char *password_hash,
		  int64_t quota_bytes, int *shard_r, struct kr_err *err_r)
{
	PGresult *res = admin_user_call(adm, call, address, password_hash,
					quota_bytes, shard_r, err_r);
	int64_t id;
	int ret;

	if (res == NULL)
		return -1;
	ret = kr_store_user_read_status(res, &id, err_r);
	PQclear(res);
	return ret;
}

int
kr_store_admin_user_create(struct kr_store_admin *adm, const char *address,
			   const char *password_hash, int64_t quota_bytes,
			   int *shard_r, struct kr_err *err_r)
{
	return admin_user_status(adm, KR_STORE_USER_CREATE, address,
				 password_hash, quota_bytes, shard_r, err_r);
}

int
kr_store_admin_user_delete(struct kr_store_admin *adm, const char *address,
			   int *shard_r, struct kr_err *err_r)
{
	return admin_user_status(adm, KR_STORE_USER_DELETE, address, NULL, 0,
				 shard_r, err_r);
}

int
kr_store_admin_user_set_password(struct kr_store_admin *adm,
				 const char *address, const char *password_hash,
				 int *shard_r, struct kr_err *err_r)
{
	return admin_user_status(adm, KR_STORE_USER_SET_PASSWORD, address,
				 password_hash, 0, shard_r, err_r);
}

int
kr_store_admin_user_set_quota(struct kr_store_admin *adm, const char *address,
			      int64_t quota_bytes, int *shard_r,
			      struct kr_err *err_r)
{
	return admin_user_status(adm, KR_STORE_USER_SET_QUOTA, address, NULL,
				 quota_bytes, shard_r, err_r);
}

/* ---- listing --------------------------------------------------------- */

/* One shard's stream of users in address order, a page at a time. */
struct admin_src {
	unsigned shard;
	PGresult *res;
	int row, n;
	bool last_page;
};

static int
admin_src_fetch(struct kr_store_admin *adm, struct admin_src *s,
		const char *after, int page, struct kr_err *err_r)
{
	char lim[16];
	struct kr_pgquery q = { .sql = admin_sql_list,
				.n_params = 2,
				.values = (const char *const[]){ after, lim } };
	PGconn *conn = kr_store_admin_conn(adm, s->shard, err_r);

	if (conn == NULL)
		return -1;
	snprintf(lim, sizeof(lim), "%d", page);
	s->res = kr_store_admin_exec(conn, &q, err_r);
	if (s->res == NULL)
		return -1;
	s->row = 0;
	s->n = PQntuples(s->res);
	s->last_page = s->n < page;
	return 0;
}

/* Moves s past its current row, fetching the next page when needed. */
static int
admin_src_next(struct kr_store_admin *adm, struct admin_src *s, int page,
	       struct kr_err *err_r)
{
	char after[KR_ADDRESS_MAX + 1];

	if (++s->row < s->n || s->last_page)
		return 0;
	snprintf(after, sizeof(after), "%s", PQgetvalue(s->res, s->n - 1, 0));
	PQclear(s->res);
	s->res = NULL;
	return admin_src_fetch(adm, s, after, page, err_r);
}

static void
admin_src_give(const struct admin_src *s, kr_store_admin_user_fn *cb, void *ctx)
{
	struct kr_store_admin_user u = {
		.address = PQgetvalue(s->res, s->row, 0),
		.quota_bytes = kr_store_result_i64(s->res, s->row, 1),
		.used_bytes = kr_store_result_i64(s->res, s->row, 2),
		.messages = kr_store_result_i64(s->res, s->row, 3),
	};

	cb(ctx, &u);
}

/* k-way merge of the shards' address-ordered streams; addresses are
 * COLLATE "C" in the schema, so strcmp is the database's order. */
static int
admin_merge(struct kr_store_admin *adm, struct admin_src *src, unsigned n,
	    uint64_t limit, int page, kr_store_admin_user_fn *cb, void *ctx,
	    struct kr_err *err_r)
{
	for (uint64_t given = 0; limit == 0 || given < limit; given++) {
		struct admin_src *best = NULL;

		for (unsigned i = 0; i < n; i++) {
			if (src[i].row < src[i].n &&
			    (best == NULL ||
			     strcmp(PQgetvalue(src[i].res, src[i].row, 0),
				    PQgetvalue(best->res, best->row, 0)) < 0))
				best = &src[i];
		}
		if (best == NULL)
			break;
		admin_src_give(best, cb, ctx);
		if (admin_src_next(adm, best, page, err_r) < 0)
			return -1;
	}
	return 0;
}

int
kr_store_admin_user_list(struct kr_store_admin *adm, uint64_t limit,
			 kr_store_admin_user_fn *cb, void *ctx,
			 struct kr_err *err_r)
{
	unsigned n = adm->cfg->n_shards, i;
	struct admin_src *src = kr_xcalloc(n + 1, sizeof(*src));
	int page = limit != 0 && limit < ADMIN_LIST_PAGE ? (int)limit
							 : ADMIN_LIST_PAGE;
	int ret = 0;

	for (i = 0; i < n && ret == 0; i++) {
		src[i].shard = i;
		ret = admin_src_fetch(adm, &src[i], "", page, err_r);
	}
	if (ret == 0)
		ret = admin_merge(adm, src, n, limit, page, cb, ctx, err_r);
	for (i = 0; i < n; i++)
		PQclear(src[i].res);
	free(src);
	return ret;
}

/* ---- import ---------------------------------------------------------- */

static int
admin_import_fail(unsigned shard, struct kr_err *err_r, const char *msg)
{
	return kr_err_set(err_r, KR_ERR_TEMPORARY, "shard %u: %.*s", shard,
			  (int)strcspn(msg, "\n"), msg);
}

int
kr_store_admin_import_collect(struct kr_store_admin *adm, unsigned shard,
			      struct kr_store_admin_import_counts *counts,
			      struct kr_err *err_r)
{
	struct admin_batch *b;
	PGresult *res;
	int ret = 0;

	kr_assert(shard < adm->cfg->n_shards);
	if (adm->batches == NULL || !adm->batches[shard].pending)
		return 0;
	b = &adm->batches[shard];
	b->pending = false;
	while ((res = PQgetResult(adm->conns[shard])) != NULL) {
		if (ret == 0 && PQresultStatus(res) != PGRES_TUPLES_OK)
			ret = admin_import_fail(shard, err_r,
						PQresultErrorMessage(res));
		for (int i = 0; ret == 0 && i < PQntuples(res); i++) {
			if (strcmp(PQgetvalue(res, i, 1), "ok") == 0)
				counts->ok++;
			else
				counts->existed++;
		}
		PQclear(res);
	}
	return ret;
}

int
kr_store_admin_import_flush(struct kr_store_admin *adm, unsigned shard,
			    struct kr_store_admin_import_counts *counts,
			    struct kr_err *err_r)
{
	struct admin_batch *b;
	const char *params[2];
	struct kr_err err;
	PGconn *conn;

	kr_assert(shard < adm->cfg->n_shards);
	if (adm->batches == NULL || adm->batches[shard].addrs.n == 0)
		return 0;
	b = &adm->batches[shard];
	if (kr_store_admin_import_collect(adm, shard, counts, err_r) < 0)
		return -1;
	conn = kr_store_admin_conn(adm, shard, &err);
	if (conn == NULL)
		return admin_import_fail(shard, err_r, err.msg);
	params[0] = kr_pgarray_text(&b->addrs);
	params[1] = kr_pgarray_text(&b->hashes);
	if (!PQsendQueryParams(conn, admin_sql_import, 2, NULL, params, NULL,
			       NULL, 0))
		return admin_import_fail(shard, err_r, PQerrorMessage(conn));
	b->pending = true;
	admin_batch_deinit(b);
	admin_batch_init(b);
	return 0;
}

int
kr_store_admin_import_add(struct kr_store_admin *adm, const char *address,
			  const char *password_hash,
			  struct kr_store_admin_import_counts *counts,
			  struct kr_err *err_r)
{
	char addr[KR_ADDRESS_MAX + 1];
	size_t hash_len = strlen(password_hash);
	struct admin_batch *b;
	int shard;

	if (kr_store_admin_place(adm, address, addr, &shard, err_r) < 0)
		return -1;
	if (hash_len == 0 || hash_len > KR_PASSWORD_HASH_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "password hash of %zu bytes (1 to %d)",
				  hash_len, KR_PASSWORD_HASH_MAX);
	if (adm->batches == NULL) {
		adm->batches =
			kr_xcalloc(adm->cfg->n_shards, sizeof(*adm->batches));
		for (unsigned i = 0; i < adm->cfg->n_shards; i++)
			admin_batch_init(&adm->batches[i]);
	}
	b = &adm->batches[shard];
	/* Sized for a full chunk of the longest values: cannot fail. */
	if (kr_pgarray_add_str(&b->addrs, addr, NULL) < 0 ||
	    kr_pgarray_add_str(&b->hashes, password_hash, NULL) < 0)
		kr_panic("store_admin: import arrays sized too small");
	if (b->addrs.n < ADMIN_IMPORT_CHUNK)
		return 0;
	return kr_store_admin_import_flush(adm, (unsigned)shard, counts, err_r);
}

/* ---- probes ---------------------------------------------------------- */

/* One query's single value into buf; -1 with r->error set. */
static int
admin_probe_value(PGconn *conn, struct kr_store_admin_probe *r, const char *sql,
		  char *buf, size_t size)
{
	PGresult *res = PQexec(conn, sql);
	int ret = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		const char *msg = PQresultErrorMessage(res);

		snprintf(r->error, sizeof(r->error), "%.*s",
			 (int)strcspn(msg, "\n"), msg);
		ret = -1;
	} else {
		snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return ret;
}

/* "X/Y" (hex halves) as PostgreSQL prints a pg_lsn; false if not one. */
static bool
admin_parse_lsn(const char *s, uint64_t *lsn_r)
{
	unsigned long hi, lo;
	char *end;

	errno = 0;
	hi = strtoul(s, &end, 16);
	if (end == s || *end != '/' || errno != 0 || hi > UINT32_MAX)
		return false;
	s = end + 1;
	lo = strtoul(s, &end, 16);
	if (end == s || *end != '\0' || errno != 0 || lo > UINT32_MAX)
		return false;
	*lsn_r = ((uint64_t)hi << 32) | lo;
	return true;
}

/* The WAL position and, on a replica, whether replay is paused. A
 * failure here leaves have_lsn false; the node still counts as up. */
static void
admin_probe_wal(PGconn *conn, struct kr_store_admin_probe *r)
{
	char v[64], err[sizeof(r->error)];

	memcpy(err, r->error, sizeof(err));
	if (admin_probe_value(conn, r,
			      "SELECT CASE WHEN pg_is_in_recovery() THEN "
			      "pg_last_wal_replay_lsn() ELSE "
			      "pg_current_wal_lsn() END",
			      v, sizeof(v)) == 0)
		r->have_lsn = admin_parse_lsn(v, &r->lsn);
	if (r->in_recovery &&
	    admin_probe_value(conn, r, "SELECT pg_is_wal_replay_paused()", v,
			      sizeof(v)) == 0)
		r->replay_paused = strcmp(v, "t") == 0;
	memcpy(r->error, err, sizeof(err));
}

void
kr_store_admin_probe(const char *conninfo, struct kr_store_admin_probe *r)
{
	const char *keys[] = { "dbname", "connect_timeout", "application_name",
			       "options", NULL };
	const char *vals[] = { conninfo, ADMIN_PROBE_CONNECT_S, "kurier-cli",
			       "-c statement_timeout=" ADMIN_PROBE_QUERY_MS,
			       NULL };
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	char v[32];
	int64_t t0;

	memset(r, 0, sizeof(*r));
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(r->error, sizeof(r->error), "%.*s",
			 (int)strcspn(PQerrorMessage(conn), "\n"),
			 PQerrorMessage(conn));
		PQfinish(conn);
		return;
	}
	t0 = kr_clock_mono_us();
	if (admin_probe_value(conn, r, "SELECT 1", v, sizeof(v)) == 0) {
		r->latency_ms = (double)(kr_clock_mono_us() - t0) / 1000.0;
		r->reachable = true;
	}
	if (r->reachable &&
	    admin_probe_value(conn, r, "SELECT pg_is_in_recovery()", v,
			      sizeof(v)) == 0)
		r->in_recovery = strcmp(v, "t") == 0;
	if (r->reachable)
		admin_probe_wal(conn, r);
	if (r->reachable &&
	    admin_probe_value(conn, r,
			      "SELECT to_regclass('public.users') IS NOT NULL",
			      v, sizeof(v)) == 0 &&
	    strcmp(v, "t") == 0 &&
	    admin_probe_value(conn, r, "SELECT count(*) FROM users", v,
			      sizeof(v)) == 0) {
		r->have_users = true;
		r->users = strtoll(v, NULL, 10);
	}
	PQfinish(conn);
}
