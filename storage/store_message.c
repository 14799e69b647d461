/* Message operations: list, search, get (the body inflated on the cpu
 * pool when large, behind the message's own prefix), flags, move, copy,
 * delete. */
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/utc.h"
#include "storage/pgarray.h"
#include "storage/store_priv.h"

struct message_op {
	struct kr_store_op op;
	union {
		kr_store_message_list_fn *list;
		kr_store_message_get_fn *get;
		kr_store_message_flags_fn *flags;
		kr_store_message_move_fn *move;
		kr_store_message_delete_fn *del;
	} cb;
	int64_t mailbox_id;
	/* get: the prefix and the stored body in hex, and what the pool
	 * makes of them. Only the pool job touches these while it runs. */
	char *prefix_hex; /* NULL: no prefix */
	char *hex;
	bool zlib;
	size_t raw_size; /* of the body */
	unsigned char *raw;
	size_t raw_len; /* of prefix + body */
	int unpack_rc;
};

static struct message_op *
message_op_new(struct kr_store *store, const struct kr_store_op_class *cls,
	       int64_t mailbox_id, struct kr_arena *arena,
	       struct kr_deadline deadline, void *ctx)
{
	struct message_op *m =
		kr_store_op_new(store, cls, sizeof(*m), arena, deadline, ctx);

	m->mailbox_id = mailbox_id;
	return m;
}

static void
message_send(struct message_op *m, const struct kr_store_user *user,
	     enum kr_connmgr_mode mode, const char *sql, int n,
	     const char *const *values)
{
	struct kr_pgquery q = { .sql = sql, .n_params = n, .values = values };

	if (mode == KR_CONNMGR_WRITE)
		kr_store_op_writes(&m->op, user->shard, user->id);
	kr_store_op_query(&m->op, user->shard, mode, user->address, &q);
}

static unsigned
message_limit(unsigned limit)
{
	if (limit == 0)
		return KR_STORE_LIST_DEFAULT;
	return limit > KR_STORE_LIST_MAX ? KR_STORE_LIST_MAX : limit;
}

/* ---- list, search ------------------------------------------------ */

/* kr_msg_list and kr_msg_search rows: a status (one 'not_found' row
 * for a mailbox that is not the user's), the mailbox total, and one row
 * per message (a single row with NULL uid for an empty mailbox). */
static int
message_parse_list(struct kr_store_op *op, const PGresult *res,
		   struct kr_err *err_r)
{
	struct message_op *m = (struct message_op *)op;
	int c[KR_STORE_RESULT_SUMMARY_COLS], rows = PQntuples(res);
	int st = PQfnumber(res, "status"), tot = PQfnumber(res, "total");
	int mb = PQfnumber(res, "mailbox_id");
	struct kr_store_message_list_result *r;
	struct kr_store_message_summary *v;

	if (kr_store_result_cols(res, kr_store_result_summary_cols,
				 KR_STORE_RESULT_SUMMARY_COLS, c, err_r) < 0)
		return -1;
	if (st >= 0 && rows > 0 &&
	    kr_store_result_status(res, 0, st, err_r) < 0)
		return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	v = r != NULL ? kr_arena_zalloc(op->arena,
					((size_t)rows + 1) * sizeof(*v), err_r)
		      : NULL;
	if (v == NULL)
		return -1;
	for (int row = 0; row < rows; row++) {
		struct kr_store_message_summary *s = &v[r->n];

		if (kr_store_result_null(res, row, c[0]))
			continue;
		if (kr_store_result_summary(res, row, c, op->arena, s, err_r) <
		    0)
			return -1;
		s->mailbox_id = mb >= 0 ? kr_store_result_i64(res, row, mb)
					: m->mailbox_id;
		r->n++;
	}
	r->total = tot >= 0 && rows > 0 ? kr_store_result_i64(res, 0, tot)
					: (int64_t)r->n;
	r->messages = v;
	op->res = r;
	return 0;
}

static void
message_answer_list(struct kr_store_op *op, const struct kr_err *err)
{
	((struct message_op *)op)
		->cb.list(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class message_list_class = {
	.name = "message_list",
	.parse = message_parse_list,
	.answer = message_answer_list,
};

struct kr_store_op *
kr_store_message_list_begin(struct kr_store *store,
			    const struct kr_store_user *user,
			    int64_t mailbox_id, unsigned limit,
			    int64_t before_uid, struct kr_arena *arena,
			    struct kr_deadline deadline,
			    kr_store_message_list_fn *cb, void *ctx)
{
	struct message_op *m = message_op_new(store, &message_list_class,
					      mailbox_id, arena, deadline, ctx);
	char id[24], mb[24], lim[24], before[24];

	m->cb.list = cb;
	message_send(m, user, KR_CONNMGR_READ,
		     "SELECT * FROM kr_msg_list($1, $2, $3, $4)", 4,
		     (const char *const[]){
			     kr_store_i64(id, user->id),
			     kr_store_i64(mb, mailbox_id),
			     kr_store_i64(lim, message_limit(limit)),
			     before_uid > 0 ? kr_store_i64(before, before_uid)
					    : NULL });
	return &m->op;
}

/* RFC 3339 text of t in buf, NULL when unset or before year 1
 * (PostgreSQL has no year 0). */
static const char *
message_time(bool has, int64_t t, char buf[KR_UTC_TEXT_SIZE])
{
	static const int64_t year1 = -62135596800; /* 0001-01-01T00:00:00Z */

	return has && t >= year1 && kr_utc_format(t, buf) ? buf : NULL;
}

static bool
message_word_byte(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

/* Words of s: runs of letters and digits (store.h). */
static size_t
message_words(const char *s)
{
	size_t n = 0;
	bool in = false;

	for (; *s != '\0'; s++) {
		bool w = message_word_byte((unsigned char)*s);

		n += w && !in;
		in = w;
	}
	return n;
}

static int
message_field_check(const char *name, const char *v, struct kr_err *err_r)
{
	if (v != NULL && strlen(v) > KR_STORE_SEARCH_FIELD_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "search %s over %d bytes", name,
				  KR_STORE_SEARCH_FIELD_MAX);
	return 0;
}

int
kr_store_search_check(const struct kr_store_search *q, struct kr_err *err_r)
{
	if (message_field_check("text", q->text, err_r) < 0 ||
	    message_field_check("from", q->from, err_r) < 0 ||
	    message_field_check("subject", q->subject, err_r) < 0)
		return -1;
	if (q->text != NULL &&
	    message_words(q->text) > KR_STORE_SEARCH_WORDS_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "search text over %d words",
				  KR_STORE_SEARCH_WORDS_MAX);
	return 0;
}

struct kr_store_op *
kr_store_message_search_begin(struct kr_store *store,
			      const struct kr_store_user *user,
			      const struct kr_store_search *s,
			      struct kr_arena *arena,
			      struct kr_deadline deadline,
			      kr_store_message_list_fn *cb, void *ctx)
{
	struct message_op *m =
		message_op_new(store, &message_list_class, s->mailbox_id, arena,
			       deadline, ctx);
	char id[24], mb[24], lim[24], since[KR_UTC_TEXT_SIZE],
		before[KR_UTC_TEXT_SIZE];
	struct kr_err err;

	m->cb.list = cb;
	if (kr_store_search_check(s, &err) < 0) {
		kr_store_op_defer(&m->op, &err);
		return &m->op;
	}
	message_send(
		m, user, KR_CONNMGR_READ,
		"SELECT * FROM kr_msg_search($1, $2, $3, $4, $5, $6, $7, $8, "
		"$9)",
		9,
		(const char *const[]){
			kr_store_i64(id, user->id),
			s->mailbox_id > 0 ? kr_store_i64(mb, s->mailbox_id)
					  : NULL,
			s->text, s->from, s->subject,
			message_time(s->has_since, s->since, since),
			message_time(s->has_before, s->before, before),
			/* false would mean "seen only" */
			s->unseen ? "t" : NULL,
			kr_store_i64(lim, message_limit(s->limit)) });
	return &m->op;
}

/* ---- get --------------------------------------------------------- */

static const char *const message_get_cols[] = {
	"status",   "uid",     "subject", "from_name",	 "from_email",
	"to_list",  "cc_list", "date",	  "message_id",	 "in_reply_to",
	"refs",	    "flags",   "size",	  "attachments", "zlib",
	"raw_size", "data",    "prefix",
};
#define MESSAGE_GET_COLS 18

static int
message_get_meta(const PGresult *res, const int *c, struct kr_arena *arena,
		 struct kr_store_message_get_result *r, struct kr_err *err_r)
{
	r->uid = kr_store_result_i64(res, 0, c[1]);
	r->size = kr_store_result_i64(res, 0, c[12]);
	kr_store_result_time(res, 0, c[7], &r->has_date, &r->date);
	if (kr_store_result_str(res, 0, c[2], arena, &r->subject, err_r) < 0 ||
	    kr_store_result_str(res, 0, c[3], arena, &r->from_name, err_r) <
		    0 ||
	    kr_store_result_str(res, 0, c[4], arena, &r->from_email, err_r) <
		    0 ||
	    kr_store_result_addrs_json(res, 0, c[5], arena, &r->to_json,
				       &r->to_json_len, err_r) < 0 ||
	    kr_store_result_addrs_json(res, 0, c[6], arena, &r->cc_json,
				       &r->cc_json_len, err_r) < 0 ||
	    kr_store_result_str(res, 0, c[8], arena, &r->message_id, err_r) <
		    0 ||
	    kr_store_result_str(res, 0, c[9], arena, &r->in_reply_to, err_r) <
		    0 ||
	    kr_store_result_str(res, 0, c[10], arena, &r->references, err_r) <
		    0 ||
	    kr_store_result_flags(res, 0, c[11], arena, &r->flags, &r->n_flags,
				  err_r) < 0 ||
	    kr_store_result_attachments(res, 0, c[13], arena, &r->attachments,
					&r->n_attachments, err_r) < 0)
		return -1;
	return 0;
}

static void
message_unpack_work(void *ctx)
{
	struct message_op *m = ctx;

	m->unpack_rc = kr_store_pack_unpack(m->prefix_hex, m->hex, m->zlib,
					    m->raw_size, &m->raw, &m->raw_len);
}

static int
message_parse_get(struct kr_store_op *op, const PGresult *res,
		  struct kr_err *err_r)
{
	struct message_op *m = (struct message_op *)op;
	struct kr_store_message_get_result *r;
	int c[MESSAGE_GET_COLS];
	int64_t raw_size;

	if (kr_store_result_cols(res, message_get_cols, MESSAGE_GET_COLS, c,
				 err_r) < 0 ||
	    kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	if (r == NULL || message_get_meta(res, c, op->arena, r, err_r) < 0)
		return -1;
	r->mailbox_id = m->mailbox_id;
	op->res = r;
	raw_size = kr_store_result_i64(res, 0, c[15]);
	if (kr_store_result_null(res, 0, c[16]) || raw_size < 0 ||
	    raw_size > KR_STORE_MESSAGE_MAX)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "stored body missing or too large");
	/* The copy and the unpacked body are the caller's memory: charged
	 * to its arena (and so its budget) before they are made. */
	if (kr_arena_charge(op->arena,
			    (size_t)raw_size +
				    (size_t)PQgetlength(res, 0, c[16]),
			    err_r) < 0)
		return -1;
	/* The result is gone when this returns; the pool needs a copy. */
	m->hex = kr_xstrdup(PQgetvalue(res, 0, c[16]));
	if (!kr_store_result_null(res, 0, c[17]))
		m->prefix_hex = kr_xstrdup(PQgetvalue(res, 0, c[17]));
	m->zlib = kr_store_result_bool(res, 0, c[14]);
	m->raw_size = (size_t)raw_size;
	if (kr_store_op_job(op, m->raw_size, message_unpack_work, err_r) < 0)
		return -1;
	return 1;
}

static void
message_get_done(struct kr_store_op *op, int status)
{
	struct message_op *m = (struct message_op *)op;
	struct kr_store_message_get_result *r = op->res;
	struct kr_err err;

	if (status < 0) {
		kr_err_set(&err, KR_ERR_TEMPORARY, "cpu pool stopped");
	} else if (m->unpack_rc < 0) {
		kr_err_set(&err, KR_ERR_INTERNAL, "corrupt stored body");
	} else if (kr_arena_cleanup_add(op->arena, free, m->raw, &err) == 0) {
		r->raw = m->raw;
		r->raw_len = m->raw_len;
		m->raw = NULL; /* the arena frees it now */
		kr_store_op_answer(op, NULL);
		return;
	}
	kr_store_op_answer(op, &err);
}

static void
message_cleanup(struct kr_store_op *op)
{
	struct message_op *m = (struct message_op *)op;

	free(m->prefix_hex);
	free(m->hex);
	free(m->raw);
}

static void
message_answer_get(struct kr_store_op *op, const struct kr_err *err)
{
	((struct message_op *)op)
		->cb.get(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class message_get_class = {
	.name = "message_get",
	.parse = message_parse_get,
	.answer = message_answer_get,
	.job_done = message_get_done,
	.cleanup = message_cleanup,
};

struct kr_store_op *
kr_store_message_get_begin(struct kr_store *store,
			   const struct kr_store_user *user, int64_t mailbox_id,
			   int64_t uid, struct kr_arena *arena,
			   struct kr_deadline deadline,
			   kr_store_message_get_fn *cb, void *ctx)
{
	struct message_op *m = message_op_new(store, &message_get_class,
					      mailbox_id, arena, deadline, ctx);
	char id[24], mb[24], u[24];

	m->cb.get = cb;
	message_send(m, user, KR_CONNMGR_READ,
		     "SELECT * FROM kr_msg_get($1, $2, $3)", 3,
		     (const char *const[]){ kr_store_i64(id, user->id),
					    kr_store_i64(mb, mailbox_id),
					    kr_store_i64(u, uid) });
	return &m->op;
}

/* ---- flags, move, copy, delete ----------------------------------- */

static int
message_uids(const int64_t *uids, unsigned n, struct kr_pgarray *a,
	     struct kr_err *err_r)
{
	if (n == 0 || n > KR_STORE_UIDS_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "1 to %d uids per call", KR_STORE_UIDS_MAX);
	for (unsigned i = 0; i < n; i++) {
		if (uids[i] <= 0)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "invalid uid");
		if (kr_pgarray_add_int(a, uids[i], err_r) < 0)
			return -1;
	}
	return 0;
}

/* uids and up to two flag lists as array literals. */
struct message_arrays {
	struct kr_pgarray uids, add, remove;
};

static void
message_arrays_init(struct message_arrays *a)
{
	/* A uid takes at most 19 digits, 2 quotes and a comma. */
	kr_pgarray_init(&a->uids, (size_t)KR_STORE_UIDS_MAX * 24 + 3);
	kr_pgarray_init(&a->add,
			KR_STORE_FLAGS_MAX * (2 * KR_STORE_FLAG_LEN_MAX + 3) +
				3);
	kr_pgarray_init(&a->remove,
			KR_STORE_FLAGS_MAX * (2 * KR_STORE_FLAG_LEN_MAX + 3) +
				3);
}

static void
message_arrays_deinit(struct message_arrays *a)
{
	kr_pgarray_deinit(&a->uids);
	kr_pgarray_deinit(&a->add);
	kr_pgarray_deinit(&a->remove);
}

static int
message_flag_array(const char *const *flags, unsigned n, struct kr_pgarray *a,
		   struct kr_err *err_r)
{
	if (kr_store_flags_check(flags, n, err_r) < 0)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (kr_pgarray_add_str(a, flags[i], err_r) < 0)
			return -1;
	return 0;
}

static int
message_parse_flags(struct kr_store_op *op, const PGresult *res,
		    struct kr_err *err_r)
{
	static const char *const names[] = { "status", "modseq" };
	struct kr_store_message_flags_result *r;
	int c[2];

	if (kr_store_result_cols(res, names, 2, c, err_r) < 0 ||
	    kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	if (r == NULL)
		return -1;
	r->modseq = kr_store_result_i64(res, 0, c[1]);
	op->res = r;
	return 0;
}

static void
message_answer_flags(struct kr_store_op *op, const struct kr_err *err)
{
	((struct message_op *)op)
		->cb.flags(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class message_flags_class = {
	.name = "message_flags",
	.parse = message_parse_flags,
	.answer = message_answer_flags,
	.writes = true,
};

struct kr_store_op *
kr_store_message_flags_begin(struct kr_store *store,
			     const struct kr_store_user *user,
			     int64_t mailbox_id,
			     const struct kr_store_flag_change *ch,
			     struct kr_arena *arena,
			     struct kr_deadline deadline,
			     kr_store_message_flags_fn *cb, void *ctx)
{
	struct message_op *m = message_op_new(store, &message_flags_class,
					      mailbox_id, arena, deadline, ctx);
	struct message_arrays a;
	struct kr_err err;
	char id[24], mb[24];

	m->cb.flags = cb;
	message_arrays_init(&a);
	if (message_uids(ch->uids, ch->n_uids, &a.uids, &err) < 0 ||
	    message_flag_array(ch->add, ch->n_add, &a.add, &err) < 0 ||
	    message_flag_array(ch->remove, ch->n_remove, &a.remove, &err) < 0) {
		kr_store_op_defer(&m->op, &err);
		message_arrays_deinit(&a);
		return &m->op;
	}
	message_send(m, user, KR_CONNMGR_WRITE,
		     "SELECT * FROM kr_msg_flags($1, $2, $3, $4, $5)", 5,
		     (const char *const[]){ kr_store_i64(id, user->id),
					    kr_store_i64(mb, mailbox_id),
					    kr_pgarray_text(&a.uids),
					    kr_pgarray_text(&a.add),
					    kr_pgarray_text(&a.remove) });
	message_arrays_deinit(&a);
	return &m->op;
}

/* Rows (status, old_uid, new_uid); a row without uids only carries the
 * status. */
static int
message_parse_move(struct kr_store_op *op, const PGresult *res,
		   struct kr_err *err_r)
{
	static const char *const names[] = { "status", "old_uid", "new_uid" };
	struct kr_store_message_move_result *r;
	struct kr_store_uid_map *v;
	int c[3], rows = PQntuples(res);

	if (kr_store_result_cols(res, names, 3, c, err_r) < 0)
		return -1;
	for (int row = 0; row < rows; row++)
		if (kr_store_result_status(res, row, c[0], err_r) < 0)
			return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	v = r != NULL ? kr_arena_zalloc(op->arena,
					((size_t)rows + 1) * sizeof(*v), err_r)
		      : NULL;
	if (v == NULL)
		return -1;
	for (int row = 0; row < rows; row++) {
		if (kr_store_result_null(res, row, c[1]))
			continue;
		v[r->n].old_uid = kr_store_result_i64(res, row, c[1]);
		v[r->n].new_uid = kr_store_result_i64(res, row, c[2]);
		r->n++;
	}
	r->uids = v;
	op->res = r;
	return 0;
}

static void
message_answer_move(struct kr_store_op *op, const struct kr_err *err)
{
	((struct message_op *)op)
		->cb.move(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class message_move_class = {
	.name = "message_move",
	.parse = message_parse_move,
	.answer = message_answer_move,
	.writes = true,
};

static struct kr_store_op *
message_move_begin(struct kr_store *store, const char *sql,
		   const struct kr_store_user *user, int64_t mailbox_id,
		   const int64_t *uids, unsigned n_uids, int64_t to_id,
		   struct kr_arena *arena, struct kr_deadline deadline,
		   kr_store_message_move_fn *cb, void *ctx)
{
	struct message_op *m = message_op_new(store, &message_move_class,
					      mailbox_id, arena, deadline, ctx);
	struct kr_pgarray a;
	struct kr_err err;
	char id[24], mb[24], to[24];

	m->cb.move = cb;
	kr_pgarray_init(&a, (size_t)KR_STORE_UIDS_MAX * 24 + 3);
	if (message_uids(uids, n_uids, &a, &err) < 0) {
		kr_store_op_defer(&m->op, &err);
		kr_pgarray_deinit(&a);
		return &m->op;
	}
	message_send(m, user, KR_CONNMGR_WRITE, sql, 4,
		     (const char *const[]){ kr_store_i64(id, user->id),
					    kr_store_i64(mb, mailbox_id),
					    kr_pgarray_text(&a),
					    kr_store_i64(to, to_id) });
	kr_pgarray_deinit(&a);
	return &m->op;
}

struct kr_store_op *
kr_store_message_move_begin(struct kr_store *store,
			    const struct kr_store_user *user,
			    int64_t mailbox_id, const int64_t *uids,
			    unsigned n_uids, int64_t to_id,
			    struct kr_arena *arena, struct kr_deadline deadline,
			    kr_store_message_move_fn *cb, void *ctx)
{
	return message_move_begin(
		store, "SELECT * FROM kr_msg_move($1, $2, $3, $4)", user,
		mailbox_id, uids, n_uids, to_id, arena, deadline, cb, ctx);
}

struct kr_store_op *
kr_store_message_copy_begin(struct kr_store *store,
			    const struct kr_store_user *user,
			    int64_t mailbox_id, const int64_t *uids,
			    unsigned n_uids, int64_t to_id,
			    struct kr_arena *arena, struct kr_deadline deadline,
			    kr_store_message_move_fn *cb, void *ctx)
{
	return message_move_begin(
		store, "SELECT * FROM kr_msg_copy($1, $2, $3, $4)", user,
		mailbox_id, uids, n_uids, to_id, arena, deadline, cb, ctx);
}

static int
message_parse_delete(struct kr_store_op *op, const PGresult *res,
		     struct kr_err *err_r)
{
	static const char *const names[] = { "status", "deleted" };
	struct kr_store_message_delete_result *r;
	int c[2];

	if (kr_store_result_cols(res, names, 2, c, err_r) < 0 ||
	    kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	r = kr_arena_zalloc(op->arena, sizeof(*r), err_r);
	if (r == NULL)
		return -1;
	r->deleted = kr_store_result_i64(res, 0, c[1]);
	op->res = r;
	return 0;
}

static void
message_answer_delete(struct kr_store_op *op, const struct kr_err *err)
{
	((struct message_op *)op)
		->cb.del(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class message_delete_class = {
	.name = "message_delete",
	.parse = message_parse_delete,
	.answer = message_answer_delete,
	.writes = true,
};

struct kr_store_op *
kr_store_message_delete_begin(struct kr_store *store,
			      const struct kr_store_user *user,
			      int64_t mailbox_id, const int64_t *uids,
			      unsigned n_uids, struct kr_arena *arena,
			      struct kr_deadline deadline,
			      kr_store_message_delete_fn *cb, void *ctx)
{
	struct message_op *m = message_op_new(store, &message_delete_class,
					      mailbox_id, arena, deadline, ctx);
	struct kr_pgarray a;
	struct kr_err err;
	char id[24], mb[24];

	m->cb.del = cb;
	kr_pgarray_init(&a, (size_t)KR_STORE_UIDS_MAX * 24 + 3);
	if (message_uids(uids, n_uids, &a, &err) < 0) {
		kr_store_op_defer(&m->op, &err);
		kr_pgarray_deinit(&a);
		return &m->op;
	}
	message_send(m, user, KR_CONNMGR_WRITE,
		     "SELECT * FROM kr_msg_delete($1, $2, $3)", 3,
		     (const char *const[]){ kr_store_i64(id, user->id),
					    kr_store_i64(mb, mailbox_id),
					    kr_pgarray_text(&a) });
	kr_pgarray_deinit(&a);
	return &m->op;
}
