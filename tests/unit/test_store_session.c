/* Session revocation in the store (store.h "sessions") and password
 * versions (the login's look-up, a password change ending sessions)
 * against a real cluster. Skipped unless KR_TEST_PG_CONF names a
 * kurier.conf written by ops/pgcluster
 * (tests/integration/test_store_session.sh sets it).
 * Every shard lists its primary again as its replica (as in
 * test_connmgr): the same data on both nodes, so answers do not depend
 * on routing, and the node statistics show where each query went.
 * Users are named with a fresh tag, so a cluster can be reused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/tpool.h"
#include "storage/connmgr.h"
#include "storage/migrate.h"
#include "storage/shardmap.h"
#include "storage/store.h"

#define WAIT_MS 15000
#define OP_MS 10000
#define RYW_MS 2000 /* storage.read_your_writes of the test config */
#define N_CONC 40

#include "store_env.h"

REC_FN(rec_session, struct kr_store_session_result)
REC_FN(rec_user_create, struct kr_store_user_create_result)
REC_FN(rec_user_auth, struct kr_store_user_auth_result)

/* ---- set-up --------------------------------------------------------- */

/* Every shard's primary is its replica too. */
static int
env_setup(void **state)
{
	char head[128];

	snprintf(head, sizeof(head),
		 "[storage]\npool_high = 8\nquery_timeout = 10s\n"
		 "read_your_writes = %dms\n",
		 RYW_MS);
	return env_setup_with(state, head, CONF_ENV_REPLICA_SELF, "s");
}

/* ---- helpers -------------------------------------------------------- */

/* A new user (mixed case on purpose) on the shard the map gives. */
static struct kr_store_user
user_new(struct env *e, const char *who)
{
	const struct kr_store_user_create_result *c;
	char addr[128];
	struct rec r;

	snprintf(addr, sizeof(addr), "%s.%u.%s@Test.Example", who, e->seq++,
		 e->tag);
	RUN(e, r,
	    kr_store_user_create_begin(e->store, addr, "{PLAIN}x", 0, e->arena,
				       dl(), rec_user_create, &r));
	OK(r);
	c = r.res;
	return c->user;
}

/* A fresh sid: 32 lower-case hex digits, unique per run. */
static void
sid_make(struct env *e, char sid[KR_STORE_SID_LEN + 1])
{
	snprintf(sid, KR_STORE_SID_LEN + 1, "%08x%08x%016" PRIx64,
		 (unsigned)time(NULL), (unsigned)getpid(),
		 (uint64_t)e->seq++ * UINT64_C(0x9e3779b97f4a7c15));
}

/* A check of a token carrying password version pwv. */
static struct rec
r_check_v(struct env *e, unsigned shard, int64_t id, const char *sid,
	  uint32_t pwv)
{
	struct rec r;

	RUN(e, r,
	    kr_store_session_check_begin(e->store, shard, id, sid, pwv,
					 e->arena, dl(), rec_session, &r));
	return r;
}

/* A check of a token from before any password change (version 0). */
static struct rec
r_check(struct env *e, unsigned shard, int64_t id, const char *sid)
{
	return r_check_v(e, shard, id, sid, 0);
}

static const struct kr_store_session_result *
check_ok_v(struct env *e, const struct kr_store_user *u, const char *sid,
	   uint32_t pwv)
{
	struct rec r = r_check_v(e, u->shard, u->id, sid, pwv);

	OK(r);
	return r.res;
}

static const struct kr_store_session_result *
check_ok(struct env *e, const struct kr_store_user *u, const char *sid)
{
	return check_ok_v(e, u, sid, 0);
}

static const struct kr_store_user_auth_result *
auth_ok(struct env *e, const char *address)
{
	struct rec r;

	RUN(e, r,
	    kr_store_user_auth_begin(e->store, address, e->arena, dl(),
				     rec_user_auth, &r));
	OK(r);
	return r.res;
}

static void
set_password(struct env *e, const struct kr_store_user *u, const char *hash)
{
	struct rec r;

	RUN(e, r,
	    kr_store_user_set_password_begin(e->store, u->address, hash, dl(),
					     rec_done, &r));
	OK(r);
}

static struct rec
r_revoke(struct env *e, const struct kr_store_user *u, const char *sid,
	 int64_t expires_at)
{
	struct rec r;

	RUN(e, r,
	    kr_store_session_revoke_begin(e->store, u, sid, expires_at, dl(),
					  rec_done, &r));
	return r;
}

static unsigned long long
queries_total(struct env *e)
{
	struct kr_connmgr_node_stats st;
	unsigned long long n = 0;

	for (unsigned i = 0; kr_connmgr_node_stats(e->mgr, i, &st) == 0; i++)
		n += st.queries;
	return n;
}

/* Queries sent so far to shard's primary (replica false) or replica. */
static unsigned long long
queries_on(struct env *e, unsigned shard, bool replica)
{
	struct kr_connmgr_node_stats st;

	for (unsigned i = 0; kr_connmgr_node_stats(e->mgr, i, &st) == 0; i++)
		if (st.shard == shard && (st.replica >= 0) == replica)
			return st.queries;
	fail_msg("no node for shard %u", shard);
	return 0;
}

/* One value of a query on shard's primary, as text ("" for NULL). */
static void
sql_value(struct env *e, unsigned shard, const char *sql, int n,
	  const char *const *values, char *buf, size_t size)
{
	PGconn *pg = PQconnectdb(e->cfg->shards[shard].primary);
	PGresult *res;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	res = PQexecParams(pg, sql, n, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	assert_int_equal(PQntuples(res), 1);
	snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(pg);
}

/* ---- tests ---------------------------------------------------------- */

/* The life of a session: valid, revoked, revoked again. */
static void
test_store_session_check_and_revoke(void **state)
{
	struct env *e = *state;
	const struct kr_store_session_result *s;
	char sid[KR_STORE_SID_LEN + 1], other[KR_STORE_SID_LEN + 1];
	char id[24], got[64], want[64];
	int64_t now = (int64_t)time(NULL);
	struct kr_store_user u;

	NEED_CLUSTER(state);
	u = user_new(e, "Life");
	sid_make(e, sid);
	sid_make(e, other);
	s = check_ok(e, &u, sid);
	assert_string_equal(s->address, u.address);
	assert_true(strncmp(s->address, "life.", 5) == 0);
	assert_non_null(strstr(s->address, "@test.example"));
	assert_false(s->revoked);

	OK(r_revoke(e, &u, sid, now + 3600));
	s = check_ok(e, &u, sid);
	assert_string_equal(s->address, u.address);
	assert_true(s->revoked);
	assert_false(check_ok(e, &u, other)->revoked);

	/* Idempotent; an earlier expiry does not shorten the listing. */
	OK(r_revoke(e, &u, sid, now + 3600));
	OK(r_revoke(e, &u, sid, now + 60));
	assert_true(check_ok(e, &u, sid)->revoked);
	snprintf(id, sizeof(id), "%" PRId64, u.id);
	sql_value(e, u.shard,
		  "SELECT count(*) || ' ' || max(extract(epoch FROM "
		  "expires_at))::bigint FROM revoked_sessions WHERE "
		  "user_id = $1",
		  1, (const char *const[]){ id }, got, sizeof(got));
	snprintf(want, sizeof(want), "1 %" PRId64, now + 3600);
	assert_string_equal(got, want);
}

/* A user that does not exist (any more): not found, and his rows go. */
static void
test_store_session_unknown_user(void **state)
{
	struct env *e = *state;
	char sid[KR_STORE_SID_LEN + 1], id[24], got[32];
	struct kr_store_user u, ghost;
	struct rec r;

	NEED_CLUSTER(state);
	sid_make(e, sid);
	for (unsigned shard = 0; shard < e->cfg->n_shards; shard++)
		assert_int_equal(KIND(r_check(e, shard, INT64_MAX, sid)),
				 KR_ERR_NOT_FOUND);
	ghost = (struct kr_store_user){ "nobody@test.example", 0, INT64_MAX };
	assert_int_equal(KIND(r_revoke(e, &ghost, sid, time(NULL) + 60)),
			 KR_ERR_NOT_FOUND);
	assert_int_equal(KIND(r_check(e, 0, -1, sid)), KR_ERR_NOT_FOUND);

	u = user_new(e, "gone");
	OK(r_revoke(e, &u, sid, time(NULL) + 60));
	RUN(e, r,
	    kr_store_user_delete_begin(e->store, u.address, dl(), rec_done,
				       &r));
	OK(r);
	assert_int_equal(KIND(r_check(e, u.shard, u.id, sid)),
			 KR_ERR_NOT_FOUND);
	assert_int_equal(KIND(r_revoke(e, &u, sid, time(NULL) + 60)),
			 KR_ERR_NOT_FOUND);
	snprintf(id, sizeof(id), "%" PRId64, u.id);
	sql_value(e, u.shard,
		  "SELECT count(*) FROM revoked_sessions WHERE user_id = $1", 1,
		  (const char *const[]){ id }, got, sizeof(got));
	assert_string_equal(got, "0");
}

/* Bad input is refused before any query, from a later loop turn. */
static void
test_store_session_bad_input(void **state)
{
	static const char *const bad_sids[] = {
		NULL,
		"",
		"0123456789abcdef0123456789abcde",   /* 31 */
		"0123456789abcdef0123456789abcdef0", /* 33 */
		"0123456789ABCDEF0123456789abcdef",
		"0123456789abcdeg0123456789abcdef",
		"0123456789abcdef 123456789abcdef",
		"0123456789abcdef0123456789abcde\xc3\xa9",
		"'; DELETE FROM revoked_sessions; --",
	};
	struct env *e = *state;
	char sid[KR_STORE_SID_LEN + 1];
	unsigned long long before;
	struct kr_store_user u, bad;
	int64_t later = (int64_t)time(NULL) + 60;

	NEED_CLUSTER(state);
	u = user_new(e, "bad");
	sid_make(e, sid);
	before = queries_total(e);
	for (size_t i = 0; i < sizeof(bad_sids) / sizeof(bad_sids[0]); i++) {
		assert_int_equal(KIND(r_check(e, u.shard, u.id, bad_sids[i])),
				 KR_ERR_PERMANENT);
		assert_int_equal(KIND(r_revoke(e, &u, bad_sids[i], later)),
				 KR_ERR_PERMANENT);
	}
	bad = u;
	for (unsigned shard = e->cfg->n_shards; shard != 0; shard <<= 4) {
		assert_int_equal(KIND(r_check(e, shard, u.id, sid)),
				 KR_ERR_PERMANENT);
		bad.shard = shard;
		assert_int_equal(KIND(r_revoke(e, &bad, sid, later)),
				 KR_ERR_PERMANENT);
	}
	assert_int_equal(KIND(r_check(e, UINT32_MAX, u.id, sid)),
			 KR_ERR_PERMANENT);
	assert_int_equal(KIND(r_revoke(e, NULL, sid, later)), KR_ERR_PERMANENT);
	assert_int_equal(KIND(r_revoke(e, &u, sid, 0)), KR_ERR_PERMANENT);
	assert_int_equal(KIND(r_revoke(e, &u, sid, -1)), KR_ERR_PERMANENT);
	assert_int_equal(
		KIND(r_revoke(e, &u, sid, KR_STORE_SESSION_EXPIRES_MAX + 1)),
		KR_ERR_PERMANENT);
	assert_int_equal(KIND(r_revoke(e, &u, sid, INT64_MAX)),
			 KR_ERR_PERMANENT);
	assert_true(queries_total(e) == before);

	/* At the limits: the last shard, the latest expiry, 1970. */
	OK(r_revoke(e, &u, sid, KR_STORE_SESSION_EXPIRES_MAX));
	assert_true(check_ok(e, &u, sid)->revoked);
	sid_make(e, sid);
	OK(r_revoke(e, &u, sid, 1));
	assert_true(check_ok(e, &u, sid)->revoked);
	assert_int_equal(KIND(r_check(e, e->cfg->n_shards - 1, INT64_MAX, sid)),
			 KR_ERR_NOT_FOUND);
	/* 2 revokes, 2 checks on the primary (read-your-writes), and the
	 * not-found check twice: the replica's answer is confirmed on the
	 * primary (SPEC.md §4). */
	assert_true(queries_total(e) == before + 6);
}

/* Every revoke sweeps rows that expired (more than 5 minutes ago), at
 * most 100 per call, never its own sid. */
static void
test_store_session_purge(void **state)
{
	struct env *e = *state;
	char a[KR_STORE_SID_LEN + 1], b[KR_STORE_SID_LEN + 1];
	char c[KR_STORE_SID_LEN + 1], id[24], got[64];
	int64_t now = (int64_t)time(NULL);
	struct kr_store_user u;
	const char *const count_sql =
		"SELECT count(*) FILTER (WHERE expires_at < '2001-01-01') || ' "
		"'"
		" || count(*) FILTER (WHERE expires_at >= '2001-01-01' AND "
		"expires_at < now()) || ' ' || count(*) FILTER (WHERE "
		"expires_at > now()) FROM revoked_sessions WHERE user_id = $1";

	NEED_CLUSTER(state);
	u = user_new(e, "purge");
	snprintf(id, sizeof(id), "%" PRId64, u.id);
	sid_make(e, a);
	sid_make(e, b);
	sid_make(e, c);
	/* An expired sid revoked (a late logout) stays until a later
	 * revoke: the call that lists it does not sweep it. */
	OK(r_revoke(e, &u, a, now - 7200));
	assert_true(check_ok(e, &u, a)->revoked);
	OK(r_revoke(e, &u, b, now + 3600));
	assert_false(check_ok(e, &u, a)->revoked);
	assert_true(check_ok(e, &u, b)->revoked);

	/* 150 long expired, one expired a minute ago (kept: hosts' clocks
	 * may lag the database's), then one revoke after another. */
	sql_value(e, u.shard,
		  "WITH i AS (INSERT INTO revoked_sessions (sid, user_id, "
		  "expires_at) SELECT substring(sha256(convert_to(format("
		  "'%s-%s', $1::bigint, g), 'UTF8')) FROM 1 FOR 16), "
		  "$1::bigint, timestamptz '2000-01-01' + g * interval "
		  "'1 second' FROM generate_series(0, 150) g RETURNING 1) "
		  "SELECT count(*) FROM i",
		  1, (const char *const[]){ id }, got, sizeof(got));
	assert_string_equal(got, "151");
	sql_value(
		e, u.shard,
		"WITH x AS (UPDATE revoked_sessions SET expires_at = now() - "
		"interval '1 minute' WHERE user_id = $1::bigint AND "
		"expires_at = '2000-01-01' RETURNING 1) SELECT count(*) FROM x",
		1, (const char *const[]){ id }, got, sizeof(got));
	assert_string_equal(got, "1");
	sql_value(e, u.shard, count_sql, 1, (const char *const[]){ id }, got,
		  sizeof(got));
	assert_string_equal(got, "150 1 1");
	OK(r_revoke(e, &u, c, now + 3600));
	sql_value(e, u.shard, count_sql, 1, (const char *const[]){ id }, got,
		  sizeof(got));
	assert_string_equal(got, "50 1 2");
	OK(r_revoke(e, &u, c, now + 3600));
	sql_value(e, u.shard, count_sql, 1, (const char *const[]){ id }, got,
		  sizeof(got));
	assert_string_equal(got, "0 1 2");
	assert_true(check_ok(e, &u, b)->revoked);
	assert_true(check_ok(e, &u, c)->revoked);
}

/* A check reads from a replica, except shortly after this store revoked
 * a session of the same user: then from the primary. */
static void
test_store_session_read_your_writes(void **state)
{
	struct env *e = *state;
	char sid[KR_STORE_SID_LEN + 1];
	unsigned long long p0, r0;
	struct kr_store_user u;
	int64_t t0;

	NEED_CLUSTER(state);
	u = user_new(e, "ryw");
	sid_make(e, sid);
	spin(e, RYW_MS + 200); /* the user's creation window closes */
	p0 = queries_on(e, u.shard, false);
	r0 = queries_on(e, u.shard, true);
	assert_false(check_ok(e, &u, sid)->revoked);
	assert_true(queries_on(e, u.shard, true) == r0 + 1);
	t0 = kr_clock_mono_ms();
	OK(r_revoke(e, &u, sid, time(NULL) + 3600));
	assert_true(queries_on(e, u.shard, false) == p0 + 1);
	assert_true(check_ok(e, &u, sid)->revoked);
	if (kr_clock_mono_ms() - t0 >= RYW_MS)
		fail_msg("revoke and check took over %d ms: the window may "
			 "have closed (a very slow run?)",
			 RYW_MS);
	assert_true(queries_on(e, u.shard, false) == p0 + 2);
	assert_true(queries_on(e, u.shard, true) == r0 + 1);
	spin(e, RYW_MS + 200);
	assert_true(check_ok(e, &u, sid)->revoked);
	assert_true(queries_on(e, u.shard, true) == r0 + 2);
	/* A replica's "revoked" is confirmed on the primary (SPEC.md §4). */
	assert_true(queries_on(e, u.shard, false) == p0 + 3);
}

/* Many at once: revokes of one sid race each other, others run beside
 * them; a cancelled check never calls back. */
static void
test_store_session_concurrent_and_cancel(void **state)
{
	struct env *e = *state;
	char same[KR_STORE_SID_LEN + 1], sids[N_CONC][KR_STORE_SID_LEN + 1];
	int64_t later = (int64_t)time(NULL) + 3600;
	struct rec r[2 * N_CONC], c;
	struct kr_store_op *op;
	struct kr_store_user u;

	NEED_CLUSTER(state);
	u = user_new(e, "conc");
	sid_make(e, same);
	memset(r, 0, sizeof(r));
	e->in_begin = true;
	for (unsigned i = 0; i < N_CONC; i++) {
		sid_make(e, sids[i]);
		r[2 * i].e = r[2 * i + 1].e = e;
		assert_non_null(kr_store_session_revoke_begin(
			e->store, &u, same, later + i, dl(), rec_done,
			&r[2 * i]));
		assert_non_null(kr_store_session_revoke_begin(
			e->store, &u, sids[i], later, dl(), rec_done,
			&r[2 * i + 1]));
	}
	e->in_begin = false;
	assert_true(wait_recs(e, r, 2 * N_CONC));
	for (unsigned i = 0; i < 2 * N_CONC; i++) {
		assert_int_equal(r[i].calls, 1);
		OK(r[i]);
	}
	assert_true(check_ok(e, &u, same)->revoked);
	for (unsigned i = 0; i < N_CONC; i++)
		assert_true(check_ok(e, &u, sids[i])->revoked);

	memset(&c, 0, sizeof(c));
	c.e = e;
	op = kr_store_session_check_begin(e->store, u.shard, u.id, same, 0,
					  e->arena, dl(), rec_session, &c);
	kr_store_cancel(&op);
	assert_null(op);
	op = kr_store_session_check_begin(e->store, u.shard, u.id, "bad", 0,
					  e->arena, dl(), rec_session, &c);
	kr_store_cancel(&op);
	spin(e, 300);
	assert_int_equal(c.calls, 0);
}

/* A password change ends the sessions issued before it: the login's
 * look-up hands out the user's password version, every change bumps
 * it (kr_user_set_password and a plain UPDATE alike, through the
 * trigger of 005_password_version.sql), and a check with the old
 * version says revoked. */
static void
test_store_session_password_version(void **state)
{
	struct env *e = *state;
	const struct kr_store_user_auth_result *a;
	const struct kr_store_session_result *s;
	char sid[KR_STORE_SID_LEN + 1], id[24], got[64], upper[128];
	struct kr_store_user u;
	struct rec r;

	NEED_CLUSTER(state);
	u = user_new(e, "Pwv");
	snprintf(id, sizeof(id), "%" PRId64, u.id);
	sid_make(e, sid);
	/* Any case, like every address look-up. */
	snprintf(upper, sizeof(upper), "%s", u.address);
	upper[0] = 'P';
	a = auth_ok(e, upper);
	assert_string_equal(a->user.address, u.address);
	assert_int_equal(a->user.shard, u.shard);
	assert_true(a->user.id == u.id);
	assert_string_equal(a->password_hash, "{PLAIN}x");
	assert_int_equal(a->password_version, 0);
	s = check_ok_v(e, &u, sid, 0);
	assert_false(s->revoked);
	assert_int_equal(s->password_version, 0);

	set_password(e, &u, "{PLAIN}y");
	a = auth_ok(e, u.address);
	assert_string_equal(a->password_hash, "{PLAIN}y");
	assert_int_equal(a->password_version, 1);
	s = check_ok_v(e, &u, sid, 0);
	assert_true(s->revoked);
	assert_int_equal(s->password_version, 1);
	assert_false(check_ok_v(e, &u, sid, 1)->revoked);
	assert_true(check_ok_v(e, &u, sid, 2)->revoked);

	/* The same hash string again is no change; a new one is. */
	set_password(e, &u, "{PLAIN}y");
	assert_int_equal(auth_ok(e, u.address)->password_version, 1);
	set_password(e, &u, "{PLAIN}z");
	assert_int_equal(auth_ok(e, u.address)->password_version, 2);
	/* An operator's own UPDATE counts; other columns do not. */
	sql_value(e, u.shard,
		  "WITH x AS (UPDATE users SET password_hash = 'h2', "
		  "quota_bytes = 5 WHERE id = $1::bigint RETURNING "
		  "password_version) SELECT password_version FROM x",
		  1, (const char *const[]){ id }, got, sizeof(got));
	assert_string_equal(got, "3");
	sql_value(e, u.shard,
		  "WITH x AS (UPDATE users SET quota_bytes = 0 WHERE id = "
		  "$1::bigint RETURNING password_version) SELECT "
		  "password_version FROM x",
		  1, (const char *const[]){ id }, got, sizeof(got));
	assert_string_equal(got, "3");
	assert_false(check_ok_v(e, &u, sid, 3)->revoked);
	assert_true(check_ok_v(e, &u, sid, 2)->revoked);

	/* A listed sid stays revoked with the right version too. */
	OK(r_revoke(e, &u, sid, (int64_t)time(NULL) + 60));
	assert_true(check_ok_v(e, &u, sid, 3)->revoked);

	/* The largest version wraps to 1, never to 0 (the version of
	 * tokens from before password versions). */
	sql_value(e, u.shard,
		  "WITH x AS (UPDATE users SET password_version = 2147483647 "
		  "WHERE id = $1::bigint RETURNING 1) SELECT count(*) FROM x",
		  1, (const char *const[]){ id }, got, sizeof(got));
	sid_make(e, sid);
	assert_false(
		check_ok_v(e, &u, sid, KR_STORE_PASSWORD_VERSION_MAX)->revoked);
	set_password(e, &u, "{PLAIN}w");
	assert_int_equal(auth_ok(e, u.address)->password_version, 1);
	assert_true(
		check_ok_v(e, &u, sid, KR_STORE_PASSWORD_VERSION_MAX)->revoked);

	/* One over the largest is refused before any query. */
	r = r_check_v(e, u.shard, u.id, sid, KR_STORE_PASSWORD_VERSION_MAX + 1);
	assert_int_equal(KIND(r), KR_ERR_PERMANENT);
	r = r_check_v(e, u.shard, u.id, sid, UINT32_MAX);
	assert_int_equal(KIND(r), KR_ERR_PERMANENT);

	/* No such user. */
	RUN(e, r,
	    kr_store_user_auth_begin(e->store, "nobody.pwv@test.example",
				     e->arena, dl(), rec_user_auth, &r));
	assert_int_equal(KIND(r), KR_ERR_NOT_FOUND);

	/* The two-argument check of kurierd before 005 still answers. */
	sql_value(e, u.shard,
		  "SELECT status || ' ' || revoked FROM kr_session_check("
		  "$1::bigint, $2)",
		  2, (const char *const[]){ id, sid }, got, sizeof(got));
	assert_string_equal(got, "ok false");
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_session_check_and_revoke),
		T(test_store_session_unknown_user),
		T(test_store_session_bad_input),
		T(test_store_session_purge),
		T(test_store_session_read_your_writes),
		T(test_store_session_concurrent_and_cancel),
		T(test_store_session_password_version),
	};

	return cmocka_run_group_tests_name("store_session", tests, env_setup,
					   env_teardown);
}
