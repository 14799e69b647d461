/* Appending a message a user stores himself: hashed and compressed on
 * the cpu pool (inline when small), then one kr_append call. It has no
 * per-recipient prefix: the whole message is the (shareable) body. */
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "storage/pgarray.h"
#include "storage/store_priv.h"

struct append_op {
	struct kr_store_op op;
	kr_store_append_fn *cb;
	char address[KR_ADDRESS_MAX + 1];
	unsigned shard;
	int64_t user_id, mailbox_id;
	/* Owned copies; only the pool job touches raw and packed while it
	 * runs. */
	unsigned char *raw;
	size_t raw_len;
	char *meta;
	bool meta_truncated;
	char *flags;
	struct kr_store_packed packed;
};

static void
append_work(void *ctx)
{
	struct append_op *a = ctx;

	kr_store_pack_body(a->raw, a->raw_len, &a->packed);
}

static void
append_cleanup(struct kr_store_op *op)
{
	struct append_op *a = (struct append_op *)op;

	free(a->raw);
	free(a->meta);
	free(a->flags);
	kr_store_pack_free(&a->packed);
}

static void
append_send(struct append_op *a)
{
	char id[24], mb[24], size[24];
	const struct kr_store_packed *p = &a->packed;
	const bool z = p->zdata != NULL;
	const char *values[] = {
		kr_store_i64(id, a->user_id),
		kr_store_i64(mb, a->mailbox_id),
		(const char *)p->hash,
		z ? (const char *)p->zdata : (const char *)a->raw,
		z ? "t" : "f",
		kr_store_i64(size, (int64_t)p->raw_size),
		a->meta,
		a->flags,
	};
	const int lengths[] = { 0, 0, 32, (int)(z ? p->zlen : a->raw_len),
				0, 0, 0,  0 };
	const int formats[] = { 0, 0, 1, 1, 0, 0, 0, 0 };
	struct kr_pgquery q = {
		.sql = "SELECT * FROM kr_append($1, $2, $3, $4, $5, $6, $7, "
		       "$8)",
		.n_params = 8,
		.values = values,
		.lengths = lengths,
		.formats = formats,
	};

	kr_store_op_query(&a->op, a->shard, KR_CONNMGR_WRITE, a->address, &q);
	/* The query was copied where it waits; the bytes are not needed
	 * any more. */
	free(a->raw);
	a->raw = NULL;
	kr_store_pack_free(&a->packed);
}

static void
append_done(struct kr_store_op *op, int status)
{
	struct append_op *a = (struct append_op *)op;
	struct kr_err err;

	if (status < 0)
		kr_err_set(&err, KR_ERR_TEMPORARY, "cpu pool stopped");
	else if (a->packed.failed)
		kr_err_set(&err, KR_ERR_INTERNAL, "hashing failed");
	else {
		append_send(a);
		return;
	}
	kr_store_op_answer(op, &err);
}

static int
append_parse(struct kr_store_op *op, const PGresult *res, struct kr_err *err_r)
{
	static const char *const names[] = { "status", "uid" };
	struct append_op *a = (struct append_op *)op;
	struct kr_store_append_result *r;
	int c[2];

	if (kr_store_result_cols(res, names, 2, c, err_r) < 0 ||
	    kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	if (r == NULL)
		return -1;
	r->mailbox_id = a->mailbox_id;
	r->uid = kr_store_result_i64(res, 0, c[1]);
	r->meta_truncated = a->meta_truncated;
	op->res = r;
	return 0;
}

static void
append_answer(struct kr_store_op *op, const struct kr_err *err)
{
	((struct append_op *)op)
		->cb(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class append_class = {
	.name = "append",
	.parse = append_parse,
	.answer = append_answer,
	.job_done = append_done,
	.cleanup = append_cleanup,
	.writes = true,
};

/* Everything the op keeps, copied; -1 + err_r for a bad request. */
static int
append_prepare(struct append_op *a, const struct kr_store_user *user,
	       const struct kr_store_append *msg, struct kr_err *err_r)
{
	struct kr_pgarray flags;
	size_t len = strlen(user->address), meta_len;

	if (len > KR_ADDRESS_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "invalid address");
	if (msg->raw_len > KR_STORE_MESSAGE_MAX)
		return kr_err_set(err_r, KR_ERR_TOO_LARGE,
				  "message over %d bytes",
				  KR_STORE_MESSAGE_MAX);
	if (kr_store_flags_check(msg->flags, msg->n_flags, err_r) < 0)
		return -1;
	a->meta_truncated = kr_store_pack_meta(msg->meta, &a->meta, &meta_len);
	kr_pgarray_init(&flags,
			KR_STORE_FLAGS_MAX * (2 * KR_STORE_FLAG_LEN_MAX + 3) +
				3);
	for (unsigned i = 0; i < msg->n_flags; i++)
		(void)kr_pgarray_add_str(&flags, msg->flags[i], NULL);
	a->flags = kr_xstrdup(kr_pgarray_text(&flags));
	kr_pgarray_deinit(&flags);
	memcpy(a->address, user->address, len + 1);
	a->shard = user->shard;
	a->user_id = user->id;
	kr_store_op_writes(&a->op, user->shard, user->id);
	a->mailbox_id = msg->mailbox_id;
	a->raw = kr_xmalloc(msg->raw_len);
	if (msg->raw_len > 0)
		memcpy(a->raw, msg->raw, msg->raw_len);
	a->raw_len = msg->raw_len;
	return 0;
}

struct kr_store_op *
kr_store_append_begin(struct kr_store *store, const struct kr_store_user *user,
		      const struct kr_store_append *msg, struct kr_arena *arena,
		      struct kr_deadline deadline, kr_store_append_fn *cb,
		      void *ctx)
{
	struct append_op *a = kr_store_op_new(store, &append_class, sizeof(*a),
					      arena, deadline, ctx);
	struct kr_err err;

	a->cb = cb;
	if (append_prepare(a, user, msg, &err) < 0 ||
	    kr_store_op_job(&a->op, a->raw_len, append_work, &err) < 0)
		kr_store_op_defer(&a->op, &err);
	return &a->op;
}
