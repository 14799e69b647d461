/* The bucket move job (storage/shardmove.h): blocking libpq on one
 * connection per shard involved plus one to shard 0 for the job's state
 * and the map. */
#include "storage/shardmove.h"

#include <inttypes.h>
#include <stdarg.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/limits.h"
#include "storage/shardpoll.h"

/* Users listed per round trip when scanning a shard for a bucket's. */
#define MOVE_LIST_PAGE "10000"
/* Messages per copy round trip, and the bytes they may hold: a chunk
 * travels as one JSON text (bodies hex-encoded, so about twice). */
#define MOVE_CHUNK_MESSAGES "500"
#define MOVE_CHUNK_BYTES "8388608"
#define MOVE_CONNECT_TIMEOUT_S "5"
/* Reading the map at a start: shards asked (shard 0, then copies) and
 * the time each may take, so a start with nodes down stays short. */
#define MOVE_LOAD_TRIES 3
#define MOVE_QUICK_CONNECT_S "2"
#define MOVE_QUICK_QUERY_MS "2000"
/* Test hook: `copied` or `fenced` makes the job exit at once at that
 * point, as a kill would (tests/integration/test_shard_move.sh). */
#define MOVE_CRASH_ENV "KURIER_TEST_MOVE_CRASH"

struct move_user {
	char *address;
	int64_t modseq;	      /* as copied; -1 when not copied */
	int64_t fence_modseq; /* when fenced; -1 when gone from the source */
	bool fenced;
};

struct move {
	const struct kr_config *cfg;
	struct kr_shardmap *map;
	FILE *out;
	PGconn *cat;	   /* shard 0: job state and map */
	PGconn **conns;	   /* per shard, opened on first use */
	PGconn *leave_dst; /* the clean-up's destination (kr_move_leave) */
	struct move_user *users;
	size_t n_users, cap_users;
};

/* ---- connections and statements ----------------------------------- */

/* quick: the map's read at a start (a worker's, the CLI's), bounded in
 * connect and statement time; else the move's own, unbounded
 * statements (a large user's copy takes what it takes). */
static PGconn *
move_connect_how(const struct kr_config *cfg, unsigned shard, bool quick,
		 struct kr_err *err_r)
{
	const char *keys[] = { "dbname",	   "connect_timeout",
			       "application_name", "target_session_attrs",
			       "options",	   NULL };
	const char *vals[] = {
		cfg->shards[shard].primary,
		quick ? MOVE_QUICK_CONNECT_S : MOVE_CONNECT_TIMEOUT_S,
		"kurier-shard-move",
		"read-write",
		quick ? "-c statement_timeout=" MOVE_QUICK_QUERY_MS : "",
		NULL
	};
	PGconn *conn = PQconnectdbParams(keys, vals, 1);

	if (PQstatus(conn) == CONNECTION_OK)
		return conn;
	kr_err_set(err_r, KR_ERR_TEMPORARY, "shard %u: %.*s", shard,
		   (int)strcspn(PQerrorMessage(conn), "\n"),
		   PQerrorMessage(conn));
	PQfinish(conn);
	return NULL;
}

static PGconn *
move_connect(const struct kr_config *cfg, unsigned shard, struct kr_err *err_r)
{
	return move_connect_how(cfg, shard, false, err_r);
}

static PGconn *
move_conn(struct move *m, unsigned shard, struct kr_err *err_r)
{
	if (m->conns[shard] == NULL)
		m->conns[shard] = move_connect(m->cfg, shard, err_r);
	return m->conns[shard];
}

/* Runs sql with text parameters; the result, or NULL + err_r. */
static PGresult *
move_exec(PGconn *conn, const char *sql, int n, const char *const *values,
	  struct kr_err *err_r)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	kr_err_set(err_r,
		   PQstatus(conn) == CONNECTION_OK ? KR_ERR_PERMANENT
						   : KR_ERR_TEMPORARY,
		   "%.*s", (int)strcspn(PQerrorMessage(conn), "\n"),
		   PQerrorMessage(conn));
	PQclear(res);
	return NULL;
}

/* move_exec for statements whose result is not needed. */
static int
move_do(PGconn *conn, const char *sql, int n, const char *const *values,
	struct kr_err *err_r)
{
	PGresult *res = move_exec(conn, sql, n, values, err_r);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

static void move_say(const struct move *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
move_say(const struct move *m, const char *fmt, ...)
{
	va_list ap;

	if (m->out == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(m->out, fmt, ap);
	va_end(ap);
	fputc('\n', m->out);
	fflush(m->out);
}

static void
move_crash_point(const char *point)
{
	const char *want = getenv(MOVE_CRASH_ENV);

	if (want != NULL && strcmp(want, point) == 0)
		_exit(70);
}

static void
move_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* ---- the users of a bucket ---------------------------------------- */

static void
move_users_clear(struct move *m)
{
	for (size_t i = 0; i < m->n_users; i++)
		free(m->users[i].address);
	m->n_users = 0;
}

static struct move_user *
move_users_find(struct move *m, const char *address)
{
	for (size_t i = 0; i < m->n_users; i++) {
		if (strcmp(m->users[i].address, address) == 0)
			return &m->users[i];
	}
	return NULL;
}

static struct move_user *
move_users_add(struct move *m, const char *address)
{
	struct move_user *u;

	if (m->n_users == m->cap_users) {
		m->cap_users = m->cap_users == 0 ? 64 : 2 * m->cap_users;
		m->users =
			kr_xrealloc(m->users, m->cap_users * sizeof(*m->users));
	}
	u = &m->users[m->n_users++];
	*u = (struct move_user){ .address = kr_xstrdup(address), .modseq = -1 };
	return u;
}

typedef int move_each_fn(struct move *m, PGconn *conn, const char *address,
			 bool moving, struct kr_err *err_r);

/* Calls fn for every user of shard conn in bucket b, paging by id (the
 * bucket is a hash of the address, known to the C side only). */
static int
move_each_user(struct move *m, PGconn *conn, unsigned b, move_each_fn *fn,
	       struct kr_err *err_r)
{
	char after[24] = "0";

	for (;;) {
		const char *v[] = { after };
		PGresult *res = move_exec(
			conn,
			"SELECT id, address, moving FROM users WHERE id > $1 "
			"ORDER BY id LIMIT " MOVE_LIST_PAGE,
			1, v, err_r);
		int rows;

		if (res == NULL)
			return -1;
		rows = PQntuples(res);
		for (int r = 0; r < rows; r++) {
			const char *addr = PQgetvalue(res, r, 1);

			if (kr_shardmap_bucket(addr, strlen(addr)) != b)
				continue;
			if (fn(m, conn, addr, *PQgetvalue(res, r, 2) == 't',
			       err_r) < 0) {
				PQclear(res);
				return -1;
			}
		}
		if (rows > 0)
			snprintf(after, sizeof(after), "%s",
				 PQgetvalue(res, rows - 1, 0));
		PQclear(res);
		if (rows == 0)
			return 0;
	}
}

static int
move_each_collect(struct move *m, PGconn *conn, const char *address,
		  bool moving, struct kr_err *err_r)
{
	(void)conn;
	(void)moving;
	(void)err_r;
	move_users_add(m, address);
	return 0;
}

static int
move_each_delete(struct move *m, PGconn *conn, const char *address, bool moving,
		 struct kr_err *err_r)
{
	const char *v[] = { address };

	(void)m;
	(void)moving;
	return move_do(conn, "SELECT status FROM kr_user_delete($1)", 1, v,
		       err_r);
}

/* The clean-up deletes only what the move fenced: a user created on the
 * source since (by a CLI with a stale map) stays, and is reported. The
 * delete leaves a forwarding row when the destination kept the user's
 * id (012_stable_ids.sql), for sessions whose tokens name the source. */
static int
move_each_delete_fenced(struct move *m, PGconn *conn, const char *address,
			bool moving, struct kr_err *err_r)
{
	const char *v[] = { address, NULL };
	PGresult *id;
	int rc;

	if (!moving) {
		move_say(m, "  %s: on the source but not moved, left there",
			 address);
		return 0;
	}
	id = move_exec(m->leave_dst,
		       "SELECT id FROM users WHERE address = kr_addr($1)", 1, v,
		       err_r);
	if (id == NULL)
		return -1;
	if (PQntuples(id) == 1)
		v[1] = PQgetvalue(id, 0, 0);
	rc = move_do(conn, "SELECT status FROM kr_move_leave($1, $2)", 2, v,
		     err_r);
	PQclear(id);
	return rc;
}

static int
move_each_unfence(struct move *m, PGconn *conn, const char *address,
		  bool moving, struct kr_err *err_r)
{
	const char *v[] = { address };

	(void)m;
	if (!moving)
		return 0;
	return move_do(conn,
		       "UPDATE users SET moving = false WHERE address = $1", 1,
		       v, err_r);
}

/* ---- copying one user --------------------------------------------- */

/* Copies user id's tombstones (expunged messages, deleted mailboxes)
 * page by page, inside both callers' transactions; only for a user
 * whose ids the destination kept (012_stable_ids.sql). */
static int
move_copy_tombstones(PGconn *src, PGconn *dst, const char *id,
		     struct kr_err *err_r)
{
	char modseq[24] = "0", mb[24] = "0", uid[24] = "0";

	for (;;) {
		const char *gv[] = { id, modseq, mb, uid };
		PGresult *res = move_exec(
			src,
			"SELECT n, last_modseq, last_mb, last_uid, rows FROM "
			"kr_move_get_tombstones($1, $2, $3, $4)",
			4, gv, err_r);
		int rc;

		if (res == NULL)
			return -1;
		if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
			PQclear(res);
			return 0;
		}
		snprintf(modseq, sizeof(modseq), "%s", PQgetvalue(res, 0, 1));
		snprintf(mb, sizeof(mb), "%s", PQgetvalue(res, 0, 2));
		snprintf(uid, sizeof(uid), "%s", PQgetvalue(res, 0, 3));
		{
			const char *pv[] = { id, PQgetvalue(res, 0, 4) };

			rc = move_do(dst,
				     "SELECT kr_move_put_tombstones($1, "
				     "$2::jsonb)",
				     2, pv, err_r);
		}
		PQclear(res);
		if (rc < 0)
			return -1;
	}
}

/* Copies the messages of src user src_id into dst user dst_id, chunk by
 * chunk, inside both callers' transactions. */
static int
move_copy_messages(PGconn *src, PGconn *dst, const char *src_id,
		   const char *dst_id, struct kr_err *err_r)
{
	char mb[24] = "0", uid[24] = "0";

	for (;;) {
		const char *gv[] = { src_id, mb, uid };
		PGresult *res = move_exec(
			src,
			"SELECT n, last_mb, last_uid, msgs, bodies FROM "
			"kr_move_get_messages($1, $2, $3, " MOVE_CHUNK_MESSAGES
			", " MOVE_CHUNK_BYTES ")",
			3, gv, err_r);
		int rc;

		if (res == NULL)
			return -1;
		if (PQntuples(res) != 1 ||
		    strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
			PQclear(res);
			return 0;
		}
		snprintf(mb, sizeof(mb), "%s", PQgetvalue(res, 0, 1));
		snprintf(uid, sizeof(uid), "%s", PQgetvalue(res, 0, 2));
		{
			const char *pv[] = { dst_id, PQgetvalue(res, 0, 3),
					     PQgetvalue(res, 0, 4) };

			rc = move_do(
				dst,
				"SELECT kr_move_put_messages($1, $2::jsonb, "
				"$3::jsonb)",
				3, pv, err_r);
		}
		PQclear(res);
		if (rc < 0)
			return -1;
	}
}

/* Copies one user from src to dst in one transaction on each side (a
 * REPEATABLE READ snapshot of the source). *modseq_r: the user's modseq
 * as copied, -1 when the source has no such user (nothing copied). */
static int
move_copy_user(PGconn *src, PGconn *dst, const char *address, int64_t *modseq_r,
	       struct kr_err *err_r)
{
	const char *v[] = { address };
	PGresult *u = NULL, *id = NULL;
	int rc = -1;

	*modseq_r = -1;
	if (move_do(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
		    NULL, err_r) < 0)
		return -1;
	u = move_exec(src,
		      "SELECT user_id, modseq, usr, mailboxes, bayes FROM "
		      "kr_move_get_user($1)",
		      1, v, err_r);
	if (u == NULL)
		goto out;
	if (PQntuples(u) == 1) {
		const char *pv[] = { PQgetvalue(u, 0, 2), PQgetvalue(u, 0, 3),
				     PQgetvalue(u, 0, 4) };

		if (move_do(dst, "BEGIN", 0, NULL, err_r) < 0)
			goto out;
		id = move_exec(dst,
			       "SELECT kr_move_put_user($1::jsonb, $2::jsonb, "
			       "$3::jsonb)",
			       3, pv, err_r);
		if (id == NULL ||
		    move_copy_messages(src, dst, PQgetvalue(u, 0, 0),
				       PQgetvalue(id, 0, 0), err_r) < 0 ||
		    (strcmp(PQgetvalue(u, 0, 0), PQgetvalue(id, 0, 0)) == 0 &&
		     move_copy_tombstones(src, dst, PQgetvalue(id, 0, 0),
					  err_r) < 0) ||
		    move_do(dst, "COMMIT", 0, NULL, err_r) < 0) {
			PQclear(PQexec(dst, "ROLLBACK"));
			goto out;
		}
		*modseq_r = strtoll(PQgetvalue(u, 0, 1), NULL, 10);
	}
	rc = 0;
out:
	PQclear(id);
	PQclear(u);
	PQclear(PQexec(src, "ROLLBACK")); /* read only: nothing to keep */
	return rc;
}

/* A fenced user's revoked sessions, added on the destination: a logout
 * writes no users row, so the modseq does not tell whether one came
 * after the copy; the fence stops new ones (012_stable_ids.sql). */
static int
move_copy_revoked(PGconn *src, PGconn *dst, const char *address,
		  struct kr_err *err_r)
{
	const char *v[] = { address, NULL };
	PGresult *rows =
		move_exec(src, "SELECT kr_move_get_revoked($1)", 1, v, err_r);
	int rc;

	if (rows == NULL)
		return -1;
	v[1] = PQgetvalue(rows, 0, 0);
	rc = move_do(dst, "SELECT kr_move_put_revoked($1, $2::jsonb)", 2, v,
		     err_r);
	PQclear(rows);
	return rc;
}

/* Both sides' kr_move_digest of one user; 1 when equal, 0 when not. */
static int
move_verify_user(PGconn *src, PGconn *dst, const char *address,
		 struct kr_err *err_r)
{
	const char *v[] = { address };
	PGresult *a = move_exec(src, "SELECT kr_move_digest($1)", 1, v, err_r);
	PGresult *b;
	int same;

	if (a == NULL)
		return -1;
	b = move_exec(dst, "SELECT kr_move_digest($1)", 1, v, err_r);
	if (b == NULL) {
		PQclear(a);
		return -1;
	}
	same = PQntuples(a) == 1 && PQntuples(b) == 1 &&
	       !PQgetisnull(a, 0, 0) && !PQgetisnull(b, 0, 0) &&
	       strcmp(PQgetvalue(a, 0, 0), PQgetvalue(b, 0, 0)) == 0;
	PQclear(a);
	PQclear(b);
	return same;
}

/* ---- the job's state (shard 0) ------------------------------------ */

struct move_job {
	bool exists;
	bool switched;
	unsigned src, dst;
};

static int
move_job_get(struct move *m, unsigned b, struct move_job *job,
	     struct kr_err *err_r)
{
	char bucket[16];
	const char *v[] = { bucket };
	PGresult *res;

	snprintf(bucket, sizeof(bucket), "%u", b);
	res = move_exec(
		m->cat,
		"SELECT src, dst, state FROM shard_moves WHERE bucket = $1", 1,
		v, err_r);
	if (res == NULL)
		return -1;
	memset(job, 0, sizeof(*job));
	if (PQntuples(res) == 1) {
		job->exists = true;
		job->src = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
		job->dst = (unsigned)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
		job->switched = strcmp(PQgetvalue(res, 0, 2), "switched") == 0;
	}
	PQclear(res);
	if (job->exists &&
	    (job->src >= m->cfg->n_shards || job->dst >= m->cfg->n_shards))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "bucket %u: job names a shard not in the "
				  "config (%u -> %u)",
				  b, job->src, job->dst);
	return 0;
}

static int
move_job_step(struct move *m, unsigned b, const char *sql, unsigned a1,
	      unsigned a2, struct kr_err *err_r)
{
	char bucket[16], s1[16], s2[16];
	const char *v[] = { bucket, s1, s2 };

	snprintf(bucket, sizeof(bucket), "%u", b);
	snprintf(s1, sizeof(s1), "%u", a1);
	snprintf(s2, sizeof(s2), "%u", a2);
	return move_do(m->cat, sql, 3, v, err_r);
}

/* The override of bucket b (to dst) on one shard's shard_map: a row,
 * or none when dst is the config's owner. */
static int
move_map_write(struct move *m, PGconn *conn, unsigned b, unsigned dst,
	       struct kr_err *err_r)
{
	char bucket[16], shard[16];
	const char *v[] = { bucket, shard };

	snprintf(bucket, sizeof(bucket), "%u", b);
	snprintf(shard, sizeof(shard), "%u", dst);
	if (kr_shardmap_bucket_base(m->map, b) == (int)dst)
		return move_do(conn,
			       "DELETE FROM shard_map WHERE bucket = $1 AND "
			       "$2::int IS NOT NULL",
			       2, v, err_r);
	return move_do(conn,
		       "INSERT INTO shard_map (bucket, shard) VALUES ($1, $2) "
		       "ON CONFLICT (bucket) DO UPDATE SET shard = "
		       "EXCLUDED.shard, changed_at = now()",
		       2, v, err_r);
}

/* The switch: shard 0's override and the job's state in one
 * transaction, so a crash leaves either both or neither. */
static int
move_switch(struct move *m, unsigned b, unsigned dst, struct kr_err *err_r)
{
	if (move_do(m->cat, "BEGIN", 0, NULL, err_r) < 0)
		return -1;
	if (move_map_write(m, m->cat, b, dst, err_r) < 0 ||
	    move_job_step(m, b,
			  "UPDATE shard_moves SET state = 'switched', "
			  "updated_at = now() WHERE bucket = $1 AND dst = $2 "
			  "AND $3::int IS NOT NULL",
			  dst, 0, err_r) < 0 ||
	    move_do(m->cat, "COMMIT", 0, NULL, err_r) < 0) {
		PQclear(PQexec(m->cat, "ROLLBACK"));
		return -1;
	}
	return kr_shardmove_load_map(m->cfg, m->map, err_r);
}

/* Copies a switched bucket's override to every other shard, where a
 * kurierd that cannot reach shard 0 reads the map (storage/shardpoll.c).
 * All must have it before the source's rows go; a shard that cannot be
 * reached fails the move, and running it again publishes again. */
static int
move_publish(struct move *m, unsigned b, unsigned dst, struct kr_err *err_r)
{
	for (unsigned s = 1; s < m->cfg->n_shards; s++) {
		PGconn *conn = move_conn(m, s, err_r);

		if (conn == NULL || move_map_write(m, conn, b, dst, err_r) < 0)
			return -1;
	}
	return 0;
}

/* ---- one bucket ---------------------------------------------------- */

/* Undoes a move that stopped before its switch: the source's fence is
 * lifted, the destination's copies go (the map never sent anyone there
 * for this bucket), the job's row last. */
static int
move_rollback(struct move *m, unsigned b, const struct move_job *job,
	      struct kr_err *err_r)
{
	PGconn *src = move_conn(m, job->src, err_r);
	PGconn *dst = src != NULL ? move_conn(m, job->dst, err_r) : NULL;

	if (dst == NULL)
		return -1;
	move_say(m, "bucket %u: rolling back an unfinished move %u -> %u", b,
		 job->src, job->dst);
	if (move_each_user(m, src, b, move_each_unfence, err_r) < 0 ||
	    move_each_user(m, dst, b, move_each_delete, err_r) < 0)
		return -1;
	return move_job_step(m, b,
			     "DELETE FROM shard_moves WHERE bucket = $1 AND "
			     "$2::int IS NOT NULL AND $3::int IS NOT NULL",
			     0, 0, err_r);
}

/* Deletes what a switched bucket left on its source, then the job. */
static int
move_cleanup(struct move *m, unsigned b, const struct move_job *job,
	     struct kr_err *err_r)
{
	PGconn *src = move_conn(m, job->src, err_r);

	m->leave_dst = src != NULL ? move_conn(m, job->dst, err_r) : NULL;
	if (m->leave_dst == NULL ||
	    move_each_user(m, src, b, move_each_delete_fenced, err_r) < 0)
		return -1;
	move_say(m, "bucket %u: source shard %u cleaned up", b, job->src);
	return move_job_step(m, b,
			     "DELETE FROM shard_moves WHERE bucket = $1 AND "
			     "$2::int IS NOT NULL AND $3::int IS NOT NULL",
			     0, 0, err_r);
}

static int
move_each_fence(struct move *m, PGconn *conn, const char *address, bool moving,
		struct kr_err *err_r)
{
	const char *v[] = { address };
	struct move_user *u = move_users_find(m, address);
	PGresult *res;

	(void)moving;
	if (u == NULL)
		u = move_users_add(m, address);
	/* Waits for the user's writes in flight; those after it fail with
	 * SQLSTATE 57K01 (011_shard_moves.sql). */
	res = move_exec(conn,
			"UPDATE users SET moving = true WHERE address = $1 "
			"RETURNING modseq",
			1, v, err_r);
	if (res == NULL)
		return -1;
	u->fenced = PQntuples(res) == 1;
	u->fence_modseq =
		u->fenced ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
	PQclear(res);
	return 0;
}

static int
move_dst_delete(PGconn *dst, const char *address, struct kr_err *err_r)
{
	return move_each_delete(NULL, dst, address, false, err_r);
}

/* Fences every user of the bucket on the source, copies again those
 * whose modseq moved since their copy (and those added meanwhile),
 * drops the copies of users the source no longer has, then compares
 * both sides' digests. */
static int
move_fence_delta(struct move *m, PGconn *src, PGconn *dst, unsigned b,
		 struct kr_err *err_r)
{
	size_t again = 0;

	for (size_t i = 0; i < m->n_users; i++)
		m->users[i].fenced = false;
	if (move_each_user(m, src, b, move_each_fence, err_r) < 0)
		return -1;
	for (size_t i = 0; i < m->n_users; i++) {
		struct move_user *u = &m->users[i];

		if (u->fenced && u->modseq == u->fence_modseq)
			continue;
		if (u->modseq != -1 &&
		    move_dst_delete(dst, u->address, err_r) < 0)
			return -1;
		u->modseq = -1;
		if (u->fenced) {
			if (move_copy_user(src, dst, u->address, &u->modseq,
					   err_r) < 0)
				return -1;
			again++;
		}
	}
	for (size_t i = 0; i < m->n_users; i++) {
		int same;

		if (!m->users[i].fenced)
			continue;
		if (move_copy_revoked(src, dst, m->users[i].address, err_r) < 0)
			return -1;
		same = move_verify_user(src, dst, m->users[i].address, err_r);
		if (same < 0)
			return -1;
		if (same == 0)
			return kr_err_set(err_r, KR_ERR_INTERNAL,
					  "bucket %u: %s differs after the "
					  "copy",
					  b, m->users[i].address);
	}
	move_say(m, "bucket %u: fenced, %zu users copied again, verified", b,
		 again);
	return 0;
}

/* One bucket, from wherever its job stopped. *switched_r: the bucket's
 * source awaits its clean-up (a job in 'switched' state). */
static int
move_bucket(struct move *m, unsigned b, unsigned dst_shard, bool *switched_r,
	    struct kr_err *err_r)
{
	struct move_job job;
	PGconn *src, *dst;
	int cur;

	*switched_r = false;
	if (move_job_get(m, b, &job, err_r) < 0)
		return -1;
	if (job.exists && job.switched) {
		*switched_r = true;
		move_say(m, "bucket %u: switched to shard %u before, finishing",
			 b, job.dst);
		return move_publish(m, b, job.dst, err_r);
	}
	if (job.exists && move_rollback(m, b, &job, err_r) < 0)
		return -1;
	cur = kr_shardmap_bucket_shard(m->map, b);
	if (cur == (int)dst_shard) {
		move_say(m, "bucket %u: already on shard %u", b, dst_shard);
		return 0;
	}
	src = move_conn(m, (unsigned)cur, err_r);
	dst = src != NULL ? move_conn(m, dst_shard, err_r) : NULL;
	if (dst == NULL)
		return -1;
	if (move_job_step(m, b,
			  "INSERT INTO shard_moves (bucket, src, dst, state) "
			  "VALUES ($1, $2, $3, 'copying')",
			  (unsigned)cur, dst_shard, err_r) < 0)
		return -1;
	/* Leftovers of an earlier attempt whose job row was lost: the
	 * destination does not own the bucket, so nobody uses them. */
	move_users_clear(m);
	if (move_each_user(m, dst, b, move_each_delete, err_r) < 0 ||
	    move_each_user(m, src, b, move_each_collect, err_r) < 0)
		return -1;
	for (size_t i = 0; i < m->n_users; i++) {
		if (move_copy_user(src, dst, m->users[i].address,
				   &m->users[i].modseq, err_r) < 0)
			return -1;
	}
	move_say(m, "bucket %u: %zu users copied %d -> %u", b, m->n_users, cur,
		 dst_shard);
	move_crash_point("copied");
	if (move_fence_delta(m, src, dst, b, err_r) < 0)
		return -1;
	move_crash_point("fenced");
	if (move_switch(m, b, dst_shard, err_r) < 0)
		return -1;
	*switched_r = true;
	move_say(m, "bucket %u: map switched to shard %u", b, dst_shard);
	move_crash_point("switched");
	return move_publish(m, b, dst_shard, err_r);
}

int
kr_shardmove_run(const struct kr_config *cfg, struct kr_shardmap *map,
		 unsigned lo, unsigned hi, unsigned dst, FILE *out,
		 struct kr_err *err_r)
{
	struct move m = { .cfg = cfg, .map = map, .out = out };
	bool *switched;
	bool any = false;
	int rc = -1;

	if (dst >= cfg->n_shards || lo > hi || hi >= KR_SHARD_BUCKETS)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "no shard %u, or bad buckets", dst);
	if (kr_shardmove_load_map(cfg, map, err_r) < 0)
		return -1;
	m.conns = kr_xcalloc(cfg->n_shards, sizeof(*m.conns));
	switched = kr_xcalloc(hi - lo + 1, sizeof(*switched));
	m.cat = move_connect(cfg, 0, err_r);
	if (m.cat == NULL)
		goto out;
	for (unsigned b = lo; b <= hi; b++) {
		if (move_bucket(&m, b, dst, &switched[b - lo], err_r) < 0)
			goto out;
		any = any || switched[b - lo];
	}
	/* Every kurierd worker polls the map each KR_SHARDMAP_POLL_MS; the
	 * settle time is a few of those, so that no host still sends the
	 * moved users' traffic to the source when its rows go. */
	if (any) {
		move_say(&m, "waiting %u ms for every kurierd to see the map",
			 (unsigned)KR_SHARDMAP_SETTLE_MS);
		move_sleep_ms(KR_SHARDMAP_SETTLE_MS);
	}
	for (unsigned b = lo; b <= hi; b++) {
		struct move_job job;

		if (!switched[b - lo])
			continue;
		if (move_job_get(&m, b, &job, err_r) < 0 ||
		    (job.exists && move_cleanup(&m, b, &job, err_r) < 0))
			goto out;
	}
	rc = 0;
out:
	move_users_clear(&m);
	free(m.users);
	free(switched);
	for (unsigned i = 0; i < cfg->n_shards; i++) {
		if (m.conns[i] != NULL)
			PQfinish(m.conns[i]);
	}
	free(m.conns);
	if (m.cat != NULL)
		PQfinish(m.cat);
	return rc;
}

static int
move_load_from(const struct kr_config *cfg, unsigned shard,
	       struct kr_shardmap *map, struct kr_err *err_r)
{
	struct kr_shardmap_override *ov;
	PGconn *conn = move_connect_how(cfg, shard, true, err_r);
	PGresult *res;
	size_t n;
	int rc = -1;

	if (conn == NULL)
		return -1;
	res = move_exec(conn, KR_SHARDPOLL_SQL, 0, NULL, err_r);
	ov = kr_xcalloc(KR_SHARD_BUCKETS, sizeof(*ov));
	if (res != NULL) {
		if (kr_shardpoll_parse(res, ov, &n) < 0)
			kr_err_set(err_r, KR_ERR_PERMANENT,
				   "shard %u: shard_map holds a bad row",
				   shard);
		else {
			(void)kr_shardmap_set_overrides(map, ov, n);
			rc = 0;
		}
	}
	free(ov);
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int
kr_shardmove_load_map(const struct kr_config *cfg, struct kr_shardmap *map,
		      struct kr_err *err_r)
{
	struct kr_err first;

	if (cfg->n_shards == 0)
		return 0;
	/* Shard 0 is the authority; the others hold copies of every
	 * switch whose clean-up ran (move_publish). */
	if (move_load_from(cfg, 0, map, &first) == 0)
		return 0;
	for (unsigned s = 1; s < cfg->n_shards && s < MOVE_LOAD_TRIES; s++) {
		if (move_load_from(cfg, s, map, err_r) == 0)
			return 0;
	}
	*err_r = first;
	return -1;
}
