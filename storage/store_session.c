/* Session operations: check a token's session (the user's address, is
 * the sid revoked or the password changed since) and revoke one
 * (auth.logout), by user id and sid.
 *
 * Routing: the connection manager's read-your-writes window is keyed by
 * a string. These operations know the user id, not always the address,
 * so both use a key made of shard and id (session_key): a revoke opens
 * the window for exactly the checks that must see it. It is not an
 * address, so the window of the user's mail operations is untouched. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/arena.h"
#include "storage/store_priv.h"

/* "sess:" + shard + ":" + id, NUL: 5 + 10 + 1 + 20 + 1 bytes. */
#define SESSION_KEY_SIZE 40

struct session_op {
	struct kr_store_op op;
	union {
		kr_store_session_fn *check;
		kr_store_done_fn *done;
	} cb;
	char key[SESSION_KEY_SIZE];
};

/* 0 when sid is KR_STORE_SID_LEN lower-case hex digits. Client input
 * (from a token), so it never reaches SQL or a log otherwise. */
static int
session_sid_check(const char *sid, struct kr_err *err_r)
{
	if (sid == NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid session id");
	for (size_t i = 0; i < KR_STORE_SID_LEN; i++) {
		char c = sid[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "invalid session id");
	}
	if (sid[KR_STORE_SID_LEN] != '\0')
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid session id");
	return 0;
}

static int
session_shard_check(const struct kr_store *store, unsigned shard,
		    struct kr_err *err_r)
{
	if (shard >= store->n_shards)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "no shard %u",
				  shard);
	return 0;
}

/* Validates and sends (sql with user_id, sid, then arg3 when not NULL)
 * to the shard; a refusal is answered from a later loop turn. arg3 is
 * the password version of a check or the expiry of a revoke. */
static void
session_send(struct session_op *s, unsigned shard, int64_t user_id,
	     const char *sid, enum kr_connmgr_mode mode, const char *sql,
	     const char *arg3)
{
	struct kr_err err;
	char id[24];
	struct kr_pgquery q = {
		.sql = sql,
		.n_params = arg3 != NULL ? 3 : 2,
		.values = (const char *const[]){ kr_store_i64(id, user_id), sid,
						 arg3 },
	};

	if (session_shard_check(s->op.store, shard, &err) < 0 ||
	    session_sid_check(sid, &err) < 0) {
		kr_store_op_defer(&s->op, &err);
		return;
	}
	snprintf(s->key, sizeof(s->key), "sess:%u:%" PRId64, shard, user_id);
	if (mode == KR_CONNMGR_WRITE)
		kr_store_op_writes(&s->op, shard, user_id);
	kr_store_op_query(&s->op, shard, mode, s->key, &q);
}

/* ---- check ------------------------------------------------------- */

static int
session_parse_check(struct kr_store_op *op, const PGresult *res,
		    struct kr_err *err_r)
{
	static const char *const names[] = { "status", "address", "revoked",
					     "password_version" };
	struct kr_store_session_result *r;
	bool moved;
	int c[4];

	if (kr_store_result_cols(res, names, 4, c, err_r) < 0)
		return -1;
	if (PQntuples(res) != 1)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "kr_session_check: %d rows", PQntuples(res));
	moved = strcmp(PQgetvalue(res, 0, c[0]), "moved") == 0;
	if (!moved && kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	if (r == NULL || kr_store_result_str(res, 0, c[1], op->arena,
					     &r->address, err_r) < 0)
		return -1;
	if (r->address == NULL)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "kr_session_check: no address");
	r->moved = moved;
	if (moved) {
		int shard = kr_store_shard(op->store, r->address, err_r);

		if (shard < 0)
			return -1;
		r->shard = (unsigned)shard;
		op->res = r;
		return 0;
	}
	r->revoked = kr_store_result_bool(res, 0, c[2]);
	/* 0..KR_STORE_PASSWORD_VERSION_MAX by the table's constraint. */
	r->password_version = (uint32_t)kr_store_result_i64(res, 0, c[3]);
	op->res = r;
	return 0;
}

static void
session_answer_check(struct kr_store_op *op, const struct kr_err *err)
{
	((struct session_op *)op)
		->cb.check(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class session_check_class = {
	.name = "session_check",
	.parse = session_parse_check,
	.answer = session_answer_check,
};

struct kr_store_op *
kr_store_session_check_begin(struct kr_store *store, unsigned shard,
			     int64_t user_id, const char *sid,
			     uint32_t password_version, struct kr_arena *arena,
			     struct kr_deadline deadline,
			     kr_store_session_fn *cb, void *ctx)
{
	struct session_op *s = kr_store_op_new(
		store, &session_check_class, sizeof(*s), arena, deadline, ctx);

	s->cb.check = cb;
	if (password_version > KR_STORE_PASSWORD_VERSION_MAX) {
		kr_store_op_fail(&s->op, KR_ERR_PERMANENT,
				 "password version out of range");
	} else {
		char pwv[24];

		session_send(s, shard, user_id, sid, KR_CONNMGR_READ,
			     "SELECT * FROM kr_session_check($1, $2, $3)",
			     kr_store_i64(pwv, password_version));
	}
	return &s->op;
}

/* ---- revoke ------------------------------------------------------ */

static int
session_parse_status(struct kr_store_op *op, const PGresult *res,
		     struct kr_err *err_r)
{
	static const char *const names[] = { "status" };
	int col;

	if (kr_store_result_cols(res, names, 1, &col, err_r) < 0)
		return -1;
	if (PQntuples(res) != 1)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "kr_session_revoke: %d rows", PQntuples(res));
	if (kr_store_result_status(res, 0, col, err_r) < 0)
		return -1;
	op->res = NULL;
	return 0;
}

static void
session_answer_done(struct kr_store_op *op, const struct kr_err *err)
{
	((struct session_op *)op)->cb.done(op->ctx, err);
}

static const struct kr_store_op_class session_revoke_class = {
	.name = "session_revoke",
	.parse = session_parse_status,
	.answer = session_answer_done,
	.writes = true,
};

struct kr_store_op *
kr_store_session_revoke_begin(struct kr_store *store,
			      const struct kr_store_user *user, const char *sid,
			      int64_t expires_at, struct kr_deadline deadline,
			      kr_store_done_fn *cb, void *ctx)
{
	struct session_op *s = kr_store_op_new(store, &session_revoke_class,
					       sizeof(*s), NULL, deadline, ctx);
	char expires[24];

	s->cb.done = cb;
	if (user == NULL)
		kr_store_op_fail(&s->op, KR_ERR_PERMANENT, "no user");
	else if (expires_at < 1 || expires_at > KR_STORE_SESSION_EXPIRES_MAX)
		kr_store_op_fail(&s->op, KR_ERR_PERMANENT,
				 "expiry out of range");
	else
		session_send(s, user->shard, user->id, sid, KR_CONNMGR_WRITE,
			     "SELECT * FROM kr_session_revoke($1, $2, $3)",
			     kr_store_i64(expires, expires_at));
	return &s->op;
}
