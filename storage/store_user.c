/* User operations: admin (get, create, delete, password, quota) and the
 * login's look-up (auth) by address, and the per-user views (changes
 * since a modseq, quota). The user calls' statements and the reading
 * of their answers serve the blocking admin part too (store_admin.c). */
#include <string.h>

#include "lib/address.h"
#include "lib/arena.h"
#include "storage/store_priv.h"

/* ---- the calls, shared with store_admin.c ------------------------ */

/* Every write answers a status and the user's id, for the generation
 * bump. kr_user_create returns both; the other functions only a status,
 * so the id comes from the same statement's snapshot, taken before the
 * function ran (a deleted user's row is still seen). */
#define USER_ID_OF_ADDRESS \
	"(SELECT u.id FROM users u WHERE u.address = kr_addr($1)) AS user_id"

static const struct {
	const char *sql;
	bool hash, quota; /* takes a password hash ($2), a quota (last) */
	enum kr_connmgr_mode mode;
} user_calls[] = {
	[KR_STORE_USER_GET] = { "SELECT * FROM kr_user_get($1)", false, false,
				KR_CONNMGR_READ },
	[KR_STORE_USER_AUTH] = { "SELECT * FROM kr_user_auth($1)", false, false,
				 KR_CONNMGR_READ },
	[KR_STORE_USER_CREATE] = { "SELECT * FROM kr_user_create($1, $2, $3)",
				   true, true, KR_CONNMGR_WRITE },
	[KR_STORE_USER_DELETE] = { "SELECT s.status, " USER_ID_OF_ADDRESS
				   " FROM kr_user_delete($1) s",
				   false, false, KR_CONNMGR_WRITE },
	[KR_STORE_USER_SET_PASSWORD] = { "SELECT s.status, " USER_ID_OF_ADDRESS
					 " FROM kr_user_set_password($1, $2) s",
					 true, false, KR_CONNMGR_WRITE },
	[KR_STORE_USER_SET_QUOTA] = { "SELECT s.status, " USER_ID_OF_ADDRESS
				      " FROM kr_user_set_quota($1, $2) s",
				      false, true, KR_CONNMGR_WRITE },
};

int
kr_store_user_query(enum kr_store_user_call call, struct kr_store_user_args *a,
		    struct kr_pgquery *q_r, struct kr_err *err_r)
{
	int n = 0;

	kr_assert((size_t)call < sizeof(user_calls) / sizeof(user_calls[0]));
	if (user_calls[call].hash &&
	    (a->password_hash == NULL || a->password_hash[0] == '\0'))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "empty password hash");
	if (user_calls[call].quota && a->quota_bytes < 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "negative quota");
	a->values[n++] = a->address;
	if (user_calls[call].hash)
		a->values[n++] = a->password_hash;
	if (user_calls[call].quota)
		a->values[n++] = kr_store_i64(a->quota, a->quota_bytes);
	*q_r = (struct kr_pgquery){ .sql = user_calls[call].sql,
				    .n_params = n,
				    .values = a->values };
	return 0;
}

int
kr_store_user_read_status(const PGresult *res, int64_t *id_r,
			  struct kr_err *err_r)
{
	static const char *const names[] = { "status", "user_id" };
	int c[2];

	if (kr_store_result_cols(res, names, 2, c, err_r) < 0 ||
	    kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	*id_r = kr_store_result_i64(res, 0, c[1]);
	return 0;
}

/* ---- the asynchronous operations ---------------------------------- */

struct user_op {
	struct kr_store_op op;
	union {
		kr_store_user_get_fn *get;
		kr_store_user_auth_fn *auth;
		kr_store_user_create_fn *create;
		kr_store_done_fn *done;
		kr_store_user_changes_fn *changes;
		kr_store_user_quota_fn *quota;
	} cb;
	char address[KR_ADDRESS_MAX + 1];
	unsigned shard;
};

/* A new op for the user at address (checked, lower-cased and placed)
 * that sends one of the user calls with a's hash and quota; a bad
 * address or argument is answered on the next loop turn. The caller
 * sets the callback. */
static struct user_op *
user_call(struct kr_store *store, const struct kr_store_op_class *cls,
	  enum kr_store_user_call call, const char *address,
	  const struct kr_store_user_args *args, struct kr_arena *arena,
	  struct kr_deadline deadline, void *ctx)
{
	struct user_op *u =
		kr_store_op_new(store, cls, sizeof(*u), arena, deadline, ctx);
	struct kr_store_user_args a = { .address = u->address };
	struct kr_pgquery q;
	struct kr_err err;
	int shard = -1;

	if (args != NULL) {
		a.password_hash = args->password_hash;
		a.quota_bytes = args->quota_bytes;
	}
	if (kr_address_normalize(address, address != NULL ? strlen(address) : 0,
				 u->address, sizeof(u->address), &err) < 0 ||
	    (shard = kr_store_shard(store, u->address, &err)) < 0 ||
	    kr_store_user_query(call, &a, &q, &err) < 0) {
		kr_store_op_defer(&u->op, &err);
		return u;
	}
	u->shard = (unsigned)shard;
	kr_store_op_query(&u->op, u->shard, user_calls[call].mode, u->address,
			  &q);
	return u;
}

/* ---- status-only answers --------------------------------------- */

static int
user_parse_status(struct kr_store_op *op, const PGresult *res,
		  struct kr_err *err_r)
{
	struct user_op *u = (struct user_op *)op;
	int64_t id;

	op->res = NULL;
	if (kr_store_user_read_status(res, &id, err_r) < 0)
		return -1;
	kr_store_op_writes(op, u->shard, id);
	return 0;
}

static void
user_answer_done(struct kr_store_op *op, const struct kr_err *err)
{
	((struct user_op *)op)->cb.done(op->ctx, err);
}

static const struct kr_store_op_class user_status_class = {
	.name = "user",
	.parse = user_parse_status,
	.answer = user_answer_done,
	.writes = true,
};

struct kr_store_op *
kr_store_user_delete_begin(struct kr_store *store, const char *address,
			   struct kr_deadline deadline, kr_store_done_fn *cb,
			   void *ctx)
{
	struct user_op *u =
		user_call(store, &user_status_class, KR_STORE_USER_DELETE,
			  address, NULL, NULL, deadline, ctx);

	u->cb.done = cb;
	return &u->op;
}

struct kr_store_op *
kr_store_user_set_password_begin(struct kr_store *store, const char *address,
				 const char *password_hash,
				 struct kr_deadline deadline,
				 kr_store_done_fn *cb, void *ctx)
{
	const struct kr_store_user_args args = { .password_hash =
							 password_hash };
	struct user_op *u =
		user_call(store, &user_status_class, KR_STORE_USER_SET_PASSWORD,
			  address, &args, NULL, deadline, ctx);

	u->cb.done = cb;
	return &u->op;
}

struct kr_store_op *
kr_store_user_set_quota_begin(struct kr_store *store, const char *address,
			      int64_t quota_bytes, struct kr_deadline deadline,
			      kr_store_done_fn *cb, void *ctx)
{
	const struct kr_store_user_args args = { .quota_bytes = quota_bytes };
	struct user_op *u =
		user_call(store, &user_status_class, KR_STORE_USER_SET_QUOTA,
			  address, &args, NULL, deadline, ctx);

	u->cb.done = cb;
	return &u->op;
}

/* ---- get --------------------------------------------------------- */

/* The handle of the user this op is about, in the arena. */
static int
user_handle(struct user_op *u, int64_t id, struct kr_store_user *user_r,
	    struct kr_err *err_r)
{
	user_r->address = kr_arena_strdup(u->op.arena, u->address, err_r);
	user_r->shard = u->shard;
	user_r->id = id;
	return user_r->address != NULL ? 0 : -1;
}

static int
user_parse_get(struct kr_store_op *op, const PGresult *res,
	       struct kr_err *err_r)
{
	static const char *const names[] = { "status",	      "user_id",
					     "password_hash", "quota_bytes",
					     "used_bytes",    "messages" };
	struct user_op *u = (struct user_op *)op;
	struct kr_store_user_get_result *r;
	int c[6];

	if (kr_store_result_cols(res, names, 6, c, err_r) < 0 ||
	    kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	if (r == NULL ||
	    user_handle(u, kr_store_result_i64(res, 0, c[1]), &r->user, err_r) <
		    0 ||
	    kr_store_result_str(res, 0, c[2], op->arena, &r->password_hash,
				err_r) < 0)
		return -1;
	r->quota_bytes = kr_store_result_i64(res, 0, c[3]);
	r->used_bytes = kr_store_result_i64(res, 0, c[4]);
	r->messages = kr_store_result_i64(res, 0, c[5]);
	op->res = r;
	return 0;
}

static void
user_answer_get(struct kr_store_op *op, const struct kr_err *err)
{
	((struct user_op *)op)
		->cb.get(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class user_get_class = {
	.name = "user_get",
	.parse = user_parse_get,
	.answer = user_answer_get,
};

struct kr_store_op *
kr_store_user_get_begin(struct kr_store *store, const char *address,
			struct kr_arena *arena, struct kr_deadline deadline,
			kr_store_user_get_fn *cb, void *ctx)
{
	struct user_op *u = user_call(store, &user_get_class, KR_STORE_USER_GET,
				      address, NULL, arena, deadline, ctx);

	u->cb.get = cb;
	return &u->op;
}

/* ---- auth (login) ------------------------------------------------- */

static int
user_parse_auth(struct kr_store_op *op, const PGresult *res,
		struct kr_err *err_r)
{
	static const char *const names[] = { "status", "user_id",
					     "password_hash",
					     "password_version" };
	struct user_op *u = (struct user_op *)op;
	struct kr_store_user_auth_result *r;
	int c[4];

	if (kr_store_result_cols(res, names, 4, c, err_r) < 0 ||
	    kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	if (r == NULL ||
	    user_handle(u, kr_store_result_i64(res, 0, c[1]), &r->user, err_r) <
		    0 ||
	    kr_store_result_str(res, 0, c[2], op->arena, &r->password_hash,
				err_r) < 0)
		return -1;
	if (r->password_hash == NULL)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "kr_user_auth: no password hash");
	/* 0..KR_STORE_PASSWORD_VERSION_MAX by the table's constraint. */
	r->password_version = (uint32_t)kr_store_result_i64(res, 0, c[3]);
	op->res = r;
	return 0;
}

static void
user_answer_auth(struct kr_store_op *op, const struct kr_err *err)
{
	((struct user_op *)op)
		->cb.auth(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class user_auth_class = {
	.name = "user_auth",
	.parse = user_parse_auth,
	.answer = user_answer_auth,
};

struct kr_store_op *
kr_store_user_auth_begin(struct kr_store *store, const char *address,
			 struct kr_arena *arena, struct kr_deadline deadline,
			 kr_store_user_auth_fn *cb, void *ctx)
{
	struct user_op *u =
		user_call(store, &user_auth_class, KR_STORE_USER_AUTH, address,
			  NULL, arena, deadline, ctx);

	u->cb.auth = cb;
	return &u->op;
}

/* ---- create ------------------------------------------------------ */

static int
user_parse_create(struct kr_store_op *op, const PGresult *res,
		  struct kr_err *err_r)
{
	struct user_op *u = (struct user_op *)op;
	struct kr_store_user_create_result *r;
	int64_t id;

	if (kr_store_user_read_status(res, &id, err_r) < 0)
		return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	if (r == NULL || user_handle(u, id, &r->user, err_r) < 0)
		return -1;
	kr_store_op_writes(op, u->shard, r->user.id);
	op->res = r;
	return 0;
}

static void
user_answer_create(struct kr_store_op *op, const struct kr_err *err)
{
	((struct user_op *)op)
		->cb.create(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class user_create_class = {
	.name = "user_create",
	.parse = user_parse_create,
	.answer = user_answer_create,
	.writes = true,
};

struct kr_store_op *
kr_store_user_create_begin(struct kr_store *store, const char *address,
			   const char *password_hash, int64_t quota_bytes,
			   struct kr_arena *arena, struct kr_deadline deadline,
			   kr_store_user_create_fn *cb, void *ctx)
{
	const struct kr_store_user_args args = { .password_hash = password_hash,
						 .quota_bytes = quota_bytes };
	struct user_op *u =
		user_call(store, &user_create_class, KR_STORE_USER_CREATE,
			  address, &args, arena, deadline, ctx);

	u->cb.create = cb;
	return &u->op;
}

/* ---- per-user views ---------------------------------------------- */

static void
user_send_id(struct user_op *u, const struct kr_store_user *user,
	     const char *sql, const char *arg2)
{
	char id[24];
	struct kr_pgquery q = {
		.sql = sql,
		.n_params = arg2 != NULL ? 2 : 1,
		.values = (const char *const[]){ kr_store_i64(id, user->id),
						 arg2 },
	};

	u->shard = user->shard;
	kr_store_op_query(&u->op, user->shard, KR_CONNMGR_READ, user->address,
			  &q);
}

static int
user_parse_quota(struct kr_store_op *op, const PGresult *res,
		 struct kr_err *err_r)
{
	static const char *const names[] = { "used", "quota", "messages" };
	struct kr_store_user_quota_result *r;
	int c[3];

	if (kr_store_result_cols(res, names, 3, c, err_r) < 0)
		return -1;
	if (PQntuples(res) < 1)
		return kr_err_set(err_r, KR_ERR_NOT_FOUND, "no such user");
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	if (r == NULL)
		return -1;
	r->used = kr_store_result_i64(res, 0, c[0]);
	r->quota = kr_store_result_i64(res, 0, c[1]);
	r->messages = kr_store_result_i64(res, 0, c[2]);
	op->res = r;
	return 0;
}

static void
user_answer_quota(struct kr_store_op *op, const struct kr_err *err)
{
	((struct user_op *)op)
		->cb.quota(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class user_quota_class = {
	.name = "user_quota",
	.parse = user_parse_quota,
	.answer = user_answer_quota,
};

struct kr_store_op *
kr_store_user_quota_begin(struct kr_store *store,
			  const struct kr_store_user *user,
			  struct kr_arena *arena, struct kr_deadline deadline,
			  kr_store_user_quota_fn *cb, void *ctx)
{
	struct user_op *u = kr_store_op_new(store, &user_quota_class,
					    sizeof(*u), arena, deadline, ctx);

	u->cb.quota = cb;
	user_send_id(u, user, "SELECT * FROM kr_quota($1)", NULL);
	return &u->op;
}

static const struct {
	const char *name;
	enum kr_store_change_kind kind;
} user_change_kinds[] = {
	{ "mailbox", KR_STORE_CHANGE_MAILBOX },
	{ "message", KR_STORE_CHANGE_MESSAGE },
	{ "removed", KR_STORE_CHANGE_REMOVED },
	{ "mailbox_removed", KR_STORE_CHANGE_MAILBOX_REMOVED },
};

/* One row into *ch; 1 for the 'modseq' row, 0 for a change, -1. */
static int
user_change_row(struct kr_store_op *op, const PGresult *res, int row,
		const int *c, struct kr_store_change *ch, struct kr_err *err_r)
{
	const char *kind = PQgetvalue(res, row, c[0]);

	if (strcmp(kind, "modseq") == 0)
		return 1;
	for (size_t i = 0;
	     i < sizeof(user_change_kinds) / sizeof(user_change_kinds[0]);
	     i++) {
		if (strcmp(kind, user_change_kinds[i].name) != 0)
			continue;
		ch->kind = user_change_kinds[i].kind;
		ch->mailbox_id = kr_store_result_i64(res, row, c[1]);
		ch->uid = kr_store_result_i64(res, row, c[2]);
		ch->modseq = kr_store_result_i64(res, row, c[4]);
		return kr_store_result_flags(res, row, c[3], op->arena,
					     &ch->flags, &ch->n_flags, err_r);
	}
	return kr_err_set(err_r, KR_ERR_INTERNAL, "unknown change kind");
}

static int
user_parse_changes(struct kr_store_op *op, const PGresult *res,
		   struct kr_err *err_r)
{
	static const char *const names[] = { "kind", "mailbox_id", "uid",
					     "flags", "modseq" };
	struct kr_store_user_changes_result *r;
	struct kr_store_change *v;
	int c[5], rows = PQntuples(res);

	if (kr_store_result_cols(res, names, 5, c, err_r) < 0)
		return -1;
	if (rows > KR_STORE_CHANGES_HARD + 1)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "too many changes");
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	v = r != NULL ? kr_arena_zalloc(op->arena,
					((size_t)rows + 1) * sizeof(*v), err_r)
		      : NULL;
	if (v == NULL)
		return -1;
	for (int row = 0; row < rows; row++) {
		int rc = user_change_row(op, res, row, c, &v[r->n], err_r);

		if (rc < 0)
			return -1;
		if (rc == 1)
			r->modseq = kr_store_result_i64(res, row, c[4]);
		else
			r->n++;
	}
	r->changes = v;
	op->res = r;
	return 0;
}

static void
user_answer_changes(struct kr_store_op *op, const struct kr_err *err)
{
	((struct user_op *)op)
		->cb.changes(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class user_changes_class = {
	.name = "user_changes",
	.parse = user_parse_changes,
	.answer = user_answer_changes,
};

struct kr_store_op *
kr_store_user_changes_begin(struct kr_store *store,
			    const struct kr_store_user *user, int64_t since,
			    struct kr_arena *arena, struct kr_deadline deadline,
			    kr_store_user_changes_fn *cb, void *ctx)
{
	struct user_op *u = kr_store_op_new(store, &user_changes_class,
					    sizeof(*u), arena, deadline, ctx);
	char s[24];

	u->cb.changes = cb;
	user_send_id(u, user, "SELECT * FROM kr_changes($1, $2)",
		     kr_store_i64(s, since < 0 ? 0 : since));
	return &u->op;
}
