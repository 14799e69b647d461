/* The Bayes statistic (store_bayes.h): kr_bayes_get, kr_bayes_move_kind
 * and kr_bayes_learn of 007_bayes.sql, each one statement. */
#include "storage/store_bayes.h"

#include <stdlib.h>
#include <string.h>

#include "lib/address.h"
#include "storage/pgarray.h"
#include "storage/store_priv.h"

/* Bytes of a bigint[] literal of KR_STORE_BAYES_TOKENS_MAX hashes: 20
 * digits and a sign, a comma, braces and the NUL. */
#define BAYES_LITERAL_MAX (KR_STORE_BAYES_TOKENS_MAX * 22 + 3)

struct bayes_op {
	struct kr_store_op op;
	union {
		kr_store_bayes_get_fn *get;
		kr_store_bayes_kind_fn *kind;
		kr_store_bayes_learn_fn *learn;
	} cb;
	char address[KR_ADDRESS_MAX + 1];
	/* get: the hashes asked and the counts read (malloc'd, owned). */
	uint64_t *hashes;
	uint32_t *counts; /* spam then ham, 2 * n */
	struct kr_store_bayes_counts res;
	enum kr_store_bayes_kind kind;
	enum kr_store_bayes_learned learned;
};

static void
bayes_cleanup(struct kr_store_op *op)
{
	struct bayes_op *b = (struct bayes_op *)op;

	free(b->hashes);
	free(b->counts);
}

/* The hashes as a bigint[] literal (two's complement), into a. */
static int
bayes_literal(struct kr_pgarray *a, const uint64_t *hashes, size_t n,
	      struct kr_err *err_r)
{
	if (n > KR_STORE_BAYES_TOKENS_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "more than %d tokens",
				  KR_STORE_BAYES_TOKENS_MAX);
	for (size_t i = 0; i < n; i++)
		if (kr_pgarray_add_int(a, (int64_t)hashes[i], err_r) < 0)
			return -1;
	return 0;
}

/* ---- get ---------------------------------------------------------- */

/* "{1,0,3}" -> exactly n counts; -1 for anything else. */
static int
bayes_parse_counts(const char *s, size_t n, uint32_t *out)
{
	size_t i = 0;

	if (*s++ != '{')
		return -1;
	if (*s == '}')
		return n == 0 && s[1] == '\0' ? 0 : -1;
	for (;;) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || i >= n || v > UINT32_MAX)
			return -1;
		out[i++] = (uint32_t)v;
		s = end;
		if (*s == '}')
			return i == n && s[1] == '\0' ? 0 : -1;
		if (*s++ != ',')
			return -1;
	}
}

static int
bayes_parse_get(struct kr_store_op *op, const PGresult *res,
		struct kr_err *err_r)
{
	static const char *const names[] = { "status", "n_spam", "n_ham",
					     "spam", "ham" };
	struct bayes_op *b = (struct bayes_op *)op;
	size_t n = b->res.n;
	int c[5];

	if (kr_store_result_cols(res, names, 5, c, err_r) < 0 ||
	    kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	b->res.n_spam = (uint32_t)kr_store_result_i64(res, 0, c[1]);
	b->res.n_ham = (uint32_t)kr_store_result_i64(res, 0, c[2]);
	if (bayes_parse_counts(PQgetvalue(res, 0, c[3]), n, b->counts) < 0 ||
	    bayes_parse_counts(PQgetvalue(res, 0, c[4]), n, b->counts + n) < 0)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "kr_bayes_get: bad counts");
	op->res = &b->res;
	return 0;
}

static void
bayes_answer_get(struct kr_store_op *op, const struct kr_err *err)
{
	((struct bayes_op *)op)
		->cb.get(op->ctx, err != NULL ? NULL : op->res, err);
}

static const struct kr_store_op_class bayes_get_class = {
	.name = "bayes_get",
	.parse = bayes_parse_get,
	.answer = bayes_answer_get,
	.cleanup = bayes_cleanup,
};

static int
bayes_get_send(struct bayes_op *b, const char *address, const uint64_t *hashes,
	       size_t n, struct kr_err *err_r)
{
	struct kr_pgarray a;
	struct kr_pgquery q;
	int shard;

	if (n == 0 || n > KR_STORE_BAYES_TOKENS_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "1 to %d tokens",
				  KR_STORE_BAYES_TOKENS_MAX);
	if (kr_address_normalize(address, address != NULL ? strlen(address) : 0,
				 b->address, sizeof(b->address), err_r) < 0 ||
	    (shard = kr_store_shard(b->op.store, b->address, err_r)) < 0)
		return -1;
	b->hashes = kr_xcalloc(n, sizeof(*b->hashes));
	b->counts = kr_xcalloc(2 * n, sizeof(*b->counts));
	memcpy(b->hashes, hashes, n * sizeof(*hashes));
	b->res = (struct kr_store_bayes_counts){ .n = n,
						 .hashes = b->hashes,
						 .spam = b->counts,
						 .ham = b->counts + n };
	kr_pgarray_init(&a, BAYES_LITERAL_MAX);
	if (bayes_literal(&a, hashes, n, err_r) < 0) {
		kr_pgarray_deinit(&a);
		return -1;
	}
	q = (struct kr_pgquery){
		.sql = "SELECT * FROM kr_bayes_get($1, $2)",
		.n_params = 2,
		.values = (const char *const[]){ b->address,
						 kr_pgarray_text(&a) },
	};
	kr_store_op_query(&b->op, (unsigned)shard, KR_CONNMGR_READ, b->address,
			  &q);
	kr_pgarray_deinit(&a);
	return 0;
}

struct kr_store_op *
kr_store_bayes_get_begin(struct kr_store *store, const char *address,
			 const uint64_t *hashes, size_t n,
			 struct kr_deadline deadline, kr_store_bayes_get_fn *cb,
			 void *ctx)
{
	struct bayes_op *b = kr_store_op_new(store, &bayes_get_class,
					     sizeof(*b), NULL, deadline, ctx);
	struct kr_err err;

	b->cb.get = cb;
	if (bayes_get_send(b, address, hashes, n, &err) < 0)
		kr_store_op_defer(&b->op, &err);
	return &b->op;
}

/* ---- move kind ---------------------------------------------------- */

static int
bayes_parse_kind(struct kr_store_op *op, const PGresult *res,
		 struct kr_err *err_r)
{
	static const char *const names[] = { "status", "kind" };
	struct bayes_op *b = (struct bayes_op *)op;
	const char *kind;
	int c[2];

	if (kr_store_result_cols(res, names, 2, c, err_r) < 0 ||
	    kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	kind = PQgetvalue(res, 0, c[1]);
	b->kind = strcmp(kind, "spam") == 0  ? KR_STORE_BAYES_SPAM
		  : strcmp(kind, "ham") == 0 ? KR_STORE_BAYES_HAM
					     : KR_STORE_BAYES_NONE;
	return 0;
}

static void
bayes_answer_kind(struct kr_store_op *op, const struct kr_err *err)
{
	struct bayes_op *b = (struct bayes_op *)op;

	b->cb.kind(op->ctx, err != NULL ? KR_STORE_BAYES_NONE : b->kind, err);
}

static const struct kr_store_op_class bayes_kind_class = {
	.name = "bayes_move_kind",
	.parse = bayes_parse_kind,
	.answer = bayes_answer_kind,
};

struct kr_store_op *
kr_store_bayes_move_kind_begin(struct kr_store *store,
			       const struct kr_store_user *user,
			       int64_t from_id, int64_t to_id,
			       struct kr_deadline deadline,
			       kr_store_bayes_kind_fn *cb, void *ctx)
{
	struct bayes_op *b = kr_store_op_new(store, &bayes_kind_class,
					     sizeof(*b), NULL, deadline, ctx);
	char id[24], from[24], to[24];
	struct kr_pgquery q = {
		.sql = "SELECT * FROM kr_bayes_move_kind($1, $2, $3)",
		.n_params = 3,
		.values = (const char *const[]){ kr_store_i64(id, user->id),
						 kr_store_i64(from, from_id),
						 kr_store_i64(to, to_id) },
	};

	b->cb.kind = cb;
	kr_store_op_query(&b->op, user->shard, KR_CONNMGR_READ, user->address,
			  &q);
	return &b->op;
}

/* ---- learn -------------------------------------------------------- */

static int
bayes_parse_learn(struct kr_store_op *op, const PGresult *res,
		  struct kr_err *err_r)
{
	static const char *const names[] = { "status", "learned" };
	struct bayes_op *b = (struct bayes_op *)op;
	const char *v;
	int c[2];

	if (kr_store_result_cols(res, names, 2, c, err_r) < 0 ||
	    kr_store_result_status(res, 0, c[0], err_r) < 0)
		return -1;
	v = PQgetvalue(res, 0, c[1]);
	b->learned = strcmp(v, "already") == 0	   ? KR_STORE_BAYES_ALREADY
		     : strcmp(v, "relearned") == 0 ? KR_STORE_BAYES_RELEARNED
						   : KR_STORE_BAYES_LEARNED;
	return 0;
}

static void
bayes_answer_learn(struct kr_store_op *op, const struct kr_err *err)
{
	struct bayes_op *b = (struct bayes_op *)op;

	b->cb.learn(op->ctx, b->learned, err);
}

/* A write of the statistic only: no mailbox changed, so no cached read
 * of the user goes stale and nothing is bumped. */
static const struct kr_store_op_class bayes_learn_class = {
	.name = "bayes_learn",
	.parse = bayes_parse_learn,
	.answer = bayes_answer_learn,
	.writes_uncached = true,
};

static int
bayes_learn_send(struct bayes_op *b, const struct kr_store_user *user,
		 const struct kr_store_bayes_learn *l, struct kr_err *err_r)
{
	char id[24], msg[24], day[24], max[24], age[24], purge[24];
	struct kr_pgarray a;
	struct kr_pgquery q;

	if (l->tokens_max < 1 || l->tokens_max > KR_ANTISPAM_BAYES_TOKENS_MAX ||
	    l->day < 0 || l->day > INT32_MAX || l->age_days > INT32_MAX / 2)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "bayes learn: bad bounds");
	kr_pgarray_init(&a, BAYES_LITERAL_MAX);
	if (bayes_literal(&a, l->hashes, l->n, err_r) < 0) {
		kr_pgarray_deinit(&a);
		return -1;
	}
	q = (struct kr_pgquery){
		.sql = "SELECT * FROM kr_bayes_learn($1, $2, $3, $4, $5, $6, "
		       "$7, $8)",
		.n_params = 8,
		.values =
			(const char *const[]){
				kr_store_i64(id, user->id),
				kr_store_i64(msg, (int64_t)l->msg),
				l->spam ? "t" : "f", kr_pgarray_text(&a),
				kr_store_i64(day, l->day),
				kr_store_i64(max, l->tokens_max),
				kr_store_i64(age, l->age_days),
				kr_store_i64(purge,
					     KR_ANTISPAM_BAYES_PURGE_MAX) },
	};
	kr_store_op_query(&b->op, user->shard, KR_CONNMGR_WRITE, user->address,
			  &q);
	kr_pgarray_deinit(&a);
	return 0;
}

struct kr_store_op *
kr_store_bayes_learn_begin(struct kr_store *store,
			   const struct kr_store_user *user,
			   const struct kr_store_bayes_learn *l,
			   struct kr_deadline deadline,
			   kr_store_bayes_learn_fn *cb, void *ctx)
{
	struct bayes_op *b = kr_store_op_new(store, &bayes_learn_class,
					     sizeof(*b), NULL, deadline, ctx);
	struct kr_err err;

	b->cb.learn = cb;
	if (bayes_learn_send(b, user, l, &err) < 0)
		kr_store_op_defer(&b->op, &err);
	return &b->op;
}
