/* Mailbox operations: list, create, rename, delete. */
#include <string.h>

#include "lib/arena.h"
#include "storage/store_priv.h"

struct mailbox_op {
	struct kr_store_op op;
	union {
		kr_store_mailbox_list_fn *list;
		kr_store_mailbox_fn *one;
		kr_store_done_fn *done;
	} cb;
};

static const char *const mailbox_cols[] = {
	"id",	"name",	       "role",	  "total",  "unseen",
	"size", "uidvalidity", "uidnext", "modseq",
};
#define MAILBOX_COLS 9

static int
mailbox_row(const PGresult *res, int row, const int *c, struct kr_arena *arena,
	    struct kr_store_mailbox *m, struct kr_err *err_r)
{
	m->id = kr_store_result_i64(res, row, c[0]);
	m->total = kr_store_result_i64(res, row, c[3]);
	m->unseen = kr_store_result_i64(res, row, c[4]);
	m->size = kr_store_result_i64(res, row, c[5]);
	m->uidvalidity = kr_store_result_i64(res, row, c[6]);
	m->uidnext = kr_store_result_i64(res, row, c[7]);
	m->modseq = kr_store_result_i64(res, row, c[8]);
	if (kr_store_result_str(res, row, c[1], arena, &m->name, err_r) < 0 ||
	    kr_store_result_str(res, row, c[2], arena, &m->role, err_r) < 0)
		return -1;
	return 0;
}

static void
mailbox_send(struct mailbox_op *m, const struct kr_store_user *user,
	     enum kr_connmgr_mode mode, const char *sql, int n,
	     const char *const *values)
{
	struct kr_pgquery q = { .sql = sql, .n_params = n, .values = values };

	if (mode == KR_CONNMGR_WRITE)
		kr_store_op_writes(&m->op, user->shard, user->id);
	kr_store_op_query(&m->op, user->shard, mode, user->address, &q);
}

/* ---- list -------------------------------------------------------- */

static int
mailbox_parse_list(struct kr_store_op *op, const PGresult *res,
		   struct kr_err *err_r)
{
	struct kr_store_mailbox_list_result *r;
	struct kr_store_mailbox *v;
	int c[MAILBOX_COLS], rows = PQntuples(res);

	if (kr_store_result_cols(res, mailbox_cols, MAILBOX_COLS, c, err_r) < 0)
		return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	v = r != NULL ? kr_arena_zalloc(op->arena,
					((size_t)rows + 1) * sizeof(*v), err_r)
		      : NULL;
	if (v == NULL)
		return -1;
	for (int row = 0; row < rows; row++)
		if (mailbox_row(res, row, c, op->arena, &v[row], err_r) < 0)
			return -1;
	r->n = (unsigned)rows;
	r->mailboxes = v;
	op->res = r;
	return 0;
}

static void
mailbox_answer_list(struct kr_store_op *op, const struct kr_err *err)
{
	((struct mailbox_op *)op)
		->cb.list(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class mailbox_list_class = {
	.name = "mailbox_list",
	.parse = mailbox_parse_list,
	.answer = mailbox_answer_list,
};

struct kr_store_op *
kr_store_mailbox_list_begin(struct kr_store *store,
			    const struct kr_store_user *user,
			    struct kr_arena *arena, struct kr_deadline deadline,
			    kr_store_mailbox_list_fn *cb, void *ctx)
{
	struct mailbox_op *m = kr_store_op_new(
		store, &mailbox_list_class, sizeof(*m), arena, deadline, ctx);
	char id[24];

	m->cb.list = cb;
	mailbox_send(m, user, KR_CONNMGR_READ,
		     "SELECT * FROM kr_mailbox_list($1)", 1,
		     (const char *const[]){ kr_store_i64(id, user->id) });
	return &m->op;
}

/* ---- create, rename ---------------------------------------------- */

static int
mailbox_parse_one(struct kr_store_op *op, const PGresult *res,
		  struct kr_err *err_r)
{
	static const char *const status[] = { "status" };
	struct kr_store_mailbox *mb;
	int c[MAILBOX_COLS], sc;

	if (kr_store_result_cols(res, status, 1, &sc, err_r) < 0 ||
	    kr_store_result_status(res, 0, sc, err_r) < 0 ||
	    kr_store_result_cols(res, mailbox_cols, MAILBOX_COLS, c, err_r) < 0)
		return -1;
	mb = kr_arena_zalloc(op->arena, sizeof(*mb), err_r);
	if (mb == NULL || mailbox_row(res, 0, c, op->arena, mb, err_r) < 0)
		return -1;
	op->res = mb;
	return 0;
}

static void
mailbox_answer_one(struct kr_store_op *op, const struct kr_err *err)
{
	((struct mailbox_op *)op)
		->cb.one(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class mailbox_one_class = {
	.name = "mailbox",
	.parse = mailbox_parse_one,
	.answer = mailbox_answer_one,
	.writes = true,
};

/* The server checks names too; this keeps bytes PostgreSQL would
 * refuse (invalid UTF-8) from becoming a statement error. */
static int
mailbox_name_check(const char *name, struct kr_err *err_r)
{
	size_t len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len > KR_STORE_NAME_MAX ||
	    !kr_store_pack_utf8(name, len))
		return kr_err_set(err_r, KR_ERR_PERMANENT, "invalid");
	return 0;
}

struct kr_store_op *
kr_store_mailbox_create_begin(struct kr_store *store,
			      const struct kr_store_user *user,
			      const char *name, struct kr_arena *arena,
			      struct kr_deadline deadline,
			      kr_store_mailbox_fn *cb, void *ctx)
{
	struct mailbox_op *m = kr_store_op_new(
		store, &mailbox_one_class, sizeof(*m), arena, deadline, ctx);
	struct kr_err err;
	char id[24];

	m->cb.one = cb;
	if (mailbox_name_check(name, &err) < 0) {
		kr_store_op_defer(&m->op, &err);
		return &m->op;
	}
	mailbox_send(m, user, KR_CONNMGR_WRITE,
		     "SELECT * FROM kr_mailbox_create($1, $2)", 2,
		     (const char *const[]){ kr_store_i64(id, user->id), name });
	return &m->op;
}

struct kr_store_op *
kr_store_mailbox_rename_begin(struct kr_store *store,
			      const struct kr_store_user *user,
			      int64_t mailbox_id, const char *name,
			      struct kr_arena *arena,
			      struct kr_deadline deadline,
			      kr_store_mailbox_fn *cb, void *ctx)
{
	struct mailbox_op *m = kr_store_op_new(
		store, &mailbox_one_class, sizeof(*m), arena, deadline, ctx);
	struct kr_err err;
	char id[24], mb[24];

	m->cb.one = cb;
	if (mailbox_name_check(name, &err) < 0) {
		kr_store_op_defer(&m->op, &err);
		return &m->op;
	}
	mailbox_send(m, user, KR_CONNMGR_WRITE,
		     "SELECT * FROM kr_mailbox_rename($1, $2, $3)", 3,
		     (const char *const[]){ kr_store_i64(id, user->id),
					    kr_store_i64(mb, mailbox_id),
					    name });
	return &m->op;
}

/* ---- delete ------------------------------------------------------ */

static int
mailbox_parse_status(struct kr_store_op *op, const PGresult *res,
		     struct kr_err *err_r)
{
	static const char *const names[] = { "status" };
	int col;

	(void)op;
	if (kr_store_result_cols(res, names, 1, &col, err_r) < 0 ||
	    kr_store_result_status(res, 0, col, err_r) < 0)
		return -1;
	return 0;
}

static void
mailbox_answer_done(struct kr_store_op *op, const struct kr_err *err)
{
	((struct mailbox_op *)op)->cb.done(op->ctx, err);
}

static const struct kr_store_op_class mailbox_delete_class = {
	.name = "mailbox_delete",
	.parse = mailbox_parse_status,
	.answer = mailbox_answer_done,
	.writes = true,
};

struct kr_store_op *
kr_store_mailbox_delete_begin(struct kr_store *store,
			      const struct kr_store_user *user,
			      int64_t mailbox_id, struct kr_deadline deadline,
			      kr_store_done_fn *cb, void *ctx)
{
	struct mailbox_op *m = kr_store_op_new(store, &mailbox_delete_class,
					       sizeof(*m), NULL, deadline, ctx);
	char id[24], mb[24];

	m->cb.done = cb;
	mailbox_send(m, user, KR_CONNMGR_WRITE,
		     "SELECT * FROM kr_mailbox_delete($1, $2)", 2,
		     (const char *const[]){ kr_store_i64(id, user->id),
					    kr_store_i64(mb, mailbox_id) });
	return &m->op;
}
