/* The blocking admin part's calls on one user's mail (store_admin.h):
 * the account, its mailboxes, appending with an internal date and
 * reading messages back one at a time. For `kurier user show` and the
 * Maildir import and export. The statements are the SQL contract's
 * (kr_user_get, kr_mailbox_list, kr_mailbox_create, kr_append,
 * kr_msg_get), plus two the contract has no call for: setting the
 * internal date of a message appended in the same transaction, and
 * paging a mailbox's uids with their internal dates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "storage/pgarray.h"
#include "storage/shardmap.h"
#include "storage/store_admin_priv.h"
#include "storage/store_priv.h"

/* Uids per page of a mailbox walk. */
#define MAIL_PAGE 1000
/* Bytes of the arena a message's flags are read into. */
#define MAIL_FLAGS_ARENA (64 << 10)

static const char mail_sql_mailboxes[] =
	"SELECT id, name, role, total, unseen, size FROM kr_mailbox_list($1)";
static const char mail_sql_mailbox_create[] =
	"SELECT status, id FROM kr_mailbox_create($1, $2)";
static const char mail_sql_append[] =
	"SELECT status, uid FROM kr_append($1, $2, $3, $4, $5, $6, $7, $8)";
/* The message was inserted by kr_append in this transaction: no one
 * has seen it yet, so nothing else (modseq, counters) changes. */
static const char mail_sql_date[] =
	"UPDATE messages SET internal_date = to_timestamp($4) "
	"WHERE mailbox_id = $2 AND uid = $3 AND user_id = $1";
static const char mail_sql_uids[] =
	"SELECT uid, extract(epoch FROM internal_date)::bigint "
	"FROM messages WHERE user_id = $1 AND mailbox_id = $2 AND uid > $3 "
	"ORDER BY uid LIMIT 1000"; /* MAIL_PAGE */
static const char mail_sql_get[] =
	"SELECT status, flags, zlib, raw_size, data, prefix "
	"FROM kr_msg_get($1, $2, $3)";

/* q on acct's shard; NULL + err_r. */
static PGresult *
mail_exec(struct kr_store_admin *adm, const struct kr_store_admin_account *acct,
	  const struct kr_pgquery *q, struct kr_err *err_r)
{
	PGconn *conn = kr_store_admin_conn(adm, acct->shard, err_r);

	return conn != NULL ? kr_store_admin_exec(conn, q, err_r) : NULL;
}

/* The first row's status column (0) mapped (kr_store_status). */
static int
mail_status(const PGresult *res, struct kr_err *err_r)
{
	if (PQntuples(res) < 1)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "no rows");
	return kr_store_status(PQgetvalue(res, 0, 0), err_r);
}

int
kr_store_admin_account_get(struct kr_store_admin *adm, const char *address,
			   struct kr_store_admin_account *acct_r,
			   struct kr_err *err_r)
{
	struct kr_store_user_args a;
	struct kr_pgquery q;
	PGresult *res;
	int shard, ret;

	memset(acct_r, 0, sizeof(*acct_r));
	memset(&a, 0, sizeof(a));
	a.address = acct_r->address;
	if (kr_store_admin_place(adm, address, acct_r->address, &shard, err_r) <
	    0)
		return -1;
	acct_r->shard = (unsigned)shard;
	acct_r->bucket =
		kr_shardmap_bucket(acct_r->address, strlen(acct_r->address));
	if (kr_store_user_query(KR_STORE_USER_GET, &a, &q, err_r) < 0)
		return -1;
	res = mail_exec(adm, acct_r, &q, err_r);
	if (res == NULL)
		return -1;
	/* kr_user_get: status, user_id, password_hash, quota_bytes,
	 * used_bytes, messages. */
	ret = mail_status(res, err_r);
	if (ret == 0 && PQnfields(res) < 6)
		ret = kr_err_set(err_r, KR_ERR_INTERNAL, "kr_user_get changed");
	if (ret == 0) {
		acct_r->id = kr_store_result_i64(res, 0, 1);
		acct_r->quota_bytes = kr_store_result_i64(res, 0, 3);
		acct_r->used_bytes = kr_store_result_i64(res, 0, 4);
		acct_r->messages = kr_store_result_i64(res, 0, 5);
	}
	PQclear(res);
	return ret;
}

int
kr_store_admin_mailbox_list(struct kr_store_admin *adm,
			    const struct kr_store_admin_account *acct,
			    kr_store_admin_mailbox_fn *cb, void *ctx,
			    struct kr_err *err_r)
{
	char id[24];
	const char *values[] = { id };
	struct kr_pgquery q = { .sql = mail_sql_mailboxes,
				.n_params = 1,
				.values = values };
	PGresult *res;

	kr_store_i64(id, acct->id);
	res = mail_exec(adm, acct, &q, err_r);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct kr_store_admin_mailbox mb = {
			.id = kr_store_result_i64(res, i, 0),
			.name = PQgetvalue(res, i, 1),
			.role = kr_store_result_null(res, i, 2)
					? NULL
					: PQgetvalue(res, i, 2),
			.total = kr_store_result_i64(res, i, 3),
			.unseen = kr_store_result_i64(res, i, 4),
			.size = kr_store_result_i64(res, i, 5),
		};

		cb(ctx, &mb);
	}
	PQclear(res);
	return 0;
}

int
kr_store_admin_mailbox_create(struct kr_store_admin *adm,
			      const struct kr_store_admin_account *acct,
			      const char *name, int64_t *id_r,
			      struct kr_err *err_r)
{
	char id[24];
	const char *values[] = { id, name };
	struct kr_pgquery q = { .sql = mail_sql_mailbox_create,
				.n_params = 2,
				.values = values };
	PGresult *res;
	int ret;

	kr_store_i64(id, acct->id);

	if (!kr_store_pack_utf8(name, strlen(name)))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "mailbox name is not UTF-8");
	res = mail_exec(adm, acct, &q, err_r);
	if (res == NULL)
		return -1;
	ret = mail_status(res, err_r);
	if (ret == 0)
		*id_r = kr_store_result_i64(res, 0, 1);
	PQclear(res);
	return ret;
}

/* ---- append ------------------------------------------------------- */

/* Runs one statement of the transaction: "BEGIN", "COMMIT", ... */
static int
mail_simple(PGconn *conn, const char *sql, struct kr_err *err_r)
{
	struct kr_pgquery q = { .sql = sql };
	PGresult *res = kr_store_admin_exec(conn, &q, err_r);

	PQclear(res);
	return res != NULL ? 0 : -1;
}

/* kr_append and the date update inside BEGIN ... (the caller commits). */
static int
mail_append_tx(PGconn *conn, const struct kr_store_admin_account *acct,
	       const struct kr_store_admin_append *msg,
	       const struct kr_store_packed *p, const char *meta,
	       const char *flags, int64_t *uid_r, struct kr_err *err_r)
{
	char id[24], mb[24], size[24], uid[24], date[24];
	const bool z = p->zdata != NULL;
	const char *values[] = {
		kr_store_i64(id, acct->id),
		kr_store_i64(mb, msg->mailbox_id),
		(const char *)p->hash,
		z ? (const char *)p->zdata : (const char *)msg->raw,
		z ? "t" : "f",
		kr_store_i64(size, (int64_t)p->raw_size),
		meta,
		flags,
	};
	const int lengths[] = { 0, 0, 32, (int)(z ? p->zlen : msg->raw_len),
				0, 0, 0,  0 };
	const int formats[] = { 0, 0, 1, 1, 0, 0, 0, 0 };
	struct kr_pgquery q = { .sql = mail_sql_append,
				.n_params = 8,
				.values = values,
				.lengths = lengths,
				.formats = formats };
	PGresult *res = kr_store_admin_exec(conn, &q, err_r);
	int ret;

	if (res == NULL)
		return -1;
	ret = mail_status(res, err_r);
	if (ret == 0)
		*uid_r = kr_store_result_i64(res, 0, 1);
	PQclear(res);
	if (ret < 0)
		return -1;
	q = (struct kr_pgquery){ .sql = mail_sql_date,
				 .n_params = 4,
				 .values = (const char *const[]){
					 id, mb, kr_store_i64(uid, *uid_r),
					 kr_store_i64(date,
						      msg->internal_date) } };
	res = kr_store_admin_exec(conn, &q, err_r);
	PQclear(res);
	return res != NULL ? 0 : -1;
}

/* The flags as a text[] literal (malloc'd); -1 + err_r for bad ones. */
static char *
mail_flags_literal(const char *const *flags, unsigned n, struct kr_err *err_r)
{
	struct kr_pgarray a;
	char *s;

	if (kr_store_flags_check(flags, n, err_r) < 0)
		return NULL;
	kr_pgarray_init(
		&a, KR_STORE_FLAGS_MAX * (2 * KR_STORE_FLAG_LEN_MAX + 3) + 3);
	/* Sized for the most flags of the longest length: cannot fail. */
	for (unsigned i = 0; i < n; i++)
		(void)kr_pgarray_add_str(&a, flags[i], NULL);
	s = kr_xstrdup(kr_pgarray_text(&a));
	kr_pgarray_deinit(&a);
	return s;
}

int
kr_store_admin_append(struct kr_store_admin *adm,
		      const struct kr_store_admin_account *acct,
		      const struct kr_store_admin_append *msg, int64_t *uid_r,
		      struct kr_err *err_r)
{
	struct kr_store_packed packed;
	char *meta = NULL, *flags;
	size_t meta_len;
	PGconn *conn;
	int ret;

	if (msg->raw_len > KR_STORE_MESSAGE_MAX)
		return kr_err_set(err_r, KR_ERR_TOO_LARGE,
				  "message over %d bytes",
				  KR_STORE_MESSAGE_MAX);
	flags = mail_flags_literal(msg->flags, msg->n_flags, err_r);
	if (flags == NULL)
		return -1;
	conn = kr_store_admin_conn(adm, acct->shard, err_r);
	if (conn == NULL) {
		free(flags);
		return -1;
	}
	kr_store_pack_body(msg->raw, msg->raw_len, &packed);
	(void)kr_store_pack_meta(msg->meta, &meta, &meta_len);
	if (packed.failed)
		ret = kr_err_set(err_r, KR_ERR_INTERNAL, "hashing failed");
	else
		ret = mail_simple(conn, "BEGIN", err_r);
	if (ret == 0) {
		ret = mail_append_tx(conn, acct, msg, &packed, meta, flags,
				     uid_r, err_r);
		if (ret == 0)
			ret = mail_simple(conn, "COMMIT", err_r);
		else
			(void)mail_simple(conn, "ROLLBACK", NULL);
	}
	kr_store_pack_free(&packed);
	free(meta);
	free(flags);
	return ret;
}

/* ---- reading messages back --------------------------------------- */

/* One message by uid into cb; 1 when it is gone (expunged since the
 * page was read). */
static int
mail_get_one(PGconn *conn, const struct kr_store_admin_account *acct,
	     const char *mailbox, int64_t uid, int64_t date,
	     struct kr_arena *arena, kr_store_admin_message_fn *cb, void *ctx,
	     struct kr_err *err_r)
{
	char id[24], u[24];
	const char *values[] = { id, mailbox, u };
	struct kr_pgquery q = { .sql = mail_sql_get,
				.n_params = 3,
				.values = values };
	struct kr_store_admin_message m = { .uid = uid, .internal_date = date };
	unsigned char *raw = NULL;
	struct kr_err err;
	PGresult *res;
	int ret;

	kr_store_i64(id, acct->id);
	kr_store_i64(u, uid);
	res = kr_store_admin_exec(conn, &q, err_r);
	if (res == NULL)
		return -1;
	ret = mail_status(res, &err);
	if (ret < 0 && err.kind == KR_ERR_NOT_FOUND)
		ret = 1;
	else if (ret < 0)
		kr_err_set(err_r, err.kind, "%s", err.msg);
	/* status, flags, zlib, raw_size, data, prefix */
	if (ret == 0)
		ret = kr_store_result_flags(res, 0, 1, arena, &m.flags,
					    &m.n_flags, err_r);
	if (ret == 0 &&
	    kr_store_pack_unpack(
		    kr_store_result_null(res, 0, 5) ? NULL
						    : PQgetvalue(res, 0, 5),
		    PQgetvalue(res, 0, 4), kr_store_result_bool(res, 0, 2),
		    (size_t)kr_store_result_i64(res, 0, 3), &raw,
		    &m.raw_len) < 0)
		ret = kr_err_set(err_r, KR_ERR_INTERNAL,
				 "message %lld: corrupt body", (long long)uid);
	PQclear(res);
	if (ret == 0) {
		m.raw = raw;
		ret = cb(ctx, &m, err_r);
	}
	free(raw);
	return ret;
}

/* One page of uids after *after; *n_r of them were walked. */
static int
mail_page(PGconn *conn, const struct kr_store_admin_account *acct,
	  const char *mailbox, int64_t *after, int *n_r, struct kr_arena *arena,
	  kr_store_admin_message_fn *cb, void *ctx, struct kr_err *err_r)
{
	char id[24], a[24];
	const char *values[] = { id, mailbox, a };
	struct kr_pgquery q = { .sql = mail_sql_uids,
				.n_params = 3,
				.values = values };
	PGresult *res;
	int ret = 0;

	kr_store_i64(id, acct->id);
	kr_store_i64(a, *after);
	res = kr_store_admin_exec(conn, &q, err_r);
	if (res == NULL)
		return -1;
	*n_r = PQntuples(res);
	for (int i = 0; i < *n_r && ret >= 0; i++) {
		*after = kr_store_result_i64(res, i, 0);
		kr_arena_reset(arena);
		ret = mail_get_one(conn, acct, mailbox, *after,
				   kr_store_result_i64(res, i, 1), arena, cb,
				   ctx, err_r);
	}
	PQclear(res);
	return ret < 0 ? -1 : 0;
}

int
kr_store_admin_message_each(struct kr_store_admin *adm,
			    const struct kr_store_admin_account *acct,
			    int64_t mailbox_id, kr_store_admin_message_fn *cb,
			    void *ctx, struct kr_err *err_r)
{
	PGconn *conn = kr_store_admin_conn(adm, acct->shard, err_r);
	struct kr_arena *arena;
	char mailbox[24];
	int64_t after = 0;
	int n = MAIL_PAGE, ret = 0;

	if (conn == NULL)
		return -1;
	kr_store_i64(mailbox, mailbox_id);
	arena = kr_arena_create(4096, MAIL_FLAGS_ARENA, false);
	while (ret == 0 && n == MAIL_PAGE)
		ret = mail_page(conn, acct, mailbox, &after, &n, arena, cb, ctx,
				err_r);
	kr_arena_destroy(&arena);
	return ret;
}
