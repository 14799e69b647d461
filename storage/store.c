/* The mail store: create/destroy and the life cycle every operation
 * shares (query, pool job, deferred answer, cancel). */
#include "storage/store.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/genmap.h"
#include "storage/shardmap.h"
#include "storage/store_priv.h"

struct kr_store *
kr_store_create(struct event_base *base, struct kr_connmgr *mgr,
		const struct kr_shardmap *map, struct kr_tpool *cpu,
		struct kr_genmap *gens, const struct kr_config *cfg,
		struct kr_log *log)
{
	struct kr_store *store = kr_xcalloc(1, sizeof(*store));

	store->base = base;
	store->mgr = mgr;
	store->map = map;
	store->cpu = cpu;
	store->gens = gens;
	store->cfg = cfg;
	store->log = log;
	store->n_shards = kr_connmgr_shards(mgr);
	kr_store_batch_init(store);
	return store;
}

void
kr_store_destroy(struct kr_store **store_p)
{
	struct kr_store *store = *store_p;
	struct kr_err err;

	if (store == NULL)
		return;
	*store_p = NULL;
	store->destroying = true;
	kr_err_set(&err, KR_ERR_TEMPORARY, "store shutting down");
	/* The head each time: a callback may cancel other operations. */
	while (store->ops != NULL)
		kr_store_op_answer(store->ops, &err);
	kr_store_batch_deinit(store);
	free(store);
}

void
kr_store_get_stats(const struct kr_store *store, struct kr_store_stats *stats_r)
{
	*stats_r = store->stats;
}

static void
store_op_free(struct kr_store_op *op)
{
	if (op->cls->cleanup != NULL)
		op->cls->cleanup(op);
	free(op);
}

/* Done: no callback from now on. The memory waits for a running job. */
static void
store_op_release(struct kr_store_op *op)
{
	struct kr_store *store = op->store;

	kr_assert(!op->done);
	op->done = true;
	if (op->req != NULL)
		kr_connmgr_cancel(&op->req);
	if (op->defer != NULL) {
		event_free(op->defer);
		op->defer = NULL;
	}
	if (op->cls->detach != NULL)
		op->cls->detach(op);
	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		store->ops = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	op->prev = op->next = NULL;
	op->store = NULL;
	if (!op->job_running)
		store_op_free(op);
}

void *
kr_store_op_new(struct kr_store *store, const struct kr_store_op_class *cls,
		size_t size, struct kr_arena *arena,
		struct kr_deadline deadline, void *ctx)
{
	struct kr_store_op *op;

	kr_assert(size >= sizeof(*op));
	kr_assert(!store->destroying);
	op = kr_xcalloc(1, size);
	op->cls = cls;
	op->store = store;
	op->arena = arena;
	op->deadline = deadline;
	op->ctx = ctx;
	op->next = store->ops;
	if (store->ops != NULL)
		store->ops->prev = op;
	store->ops = op;
	return op;
}

void
kr_store_cancel(struct kr_store_op **op_p)
{
	struct kr_store_op *op = *op_p;

	if (op == NULL)
		return;
	*op_p = NULL;
	store_op_release(op);
}

void
kr_store_wrote(struct kr_store *store, unsigned shard, int64_t user_id)
{
	if (store->gens != NULL)
		kr_genmap_bump(store->gens, kr_store_user_key(shard, user_id));
}

void
kr_store_op_writes(struct kr_store_op *op, unsigned shard, int64_t user_id)
{
	kr_assert(op->cls->writes);
	op->wrote_shard = shard;
	op->wrote_user = user_id;
	op->wrote_set = true;
}

void
kr_store_op_answer(struct kr_store_op *op, const struct kr_err *err)
{
	bool job = op->job_running;

	/* Committed: stale before anyone hears of it (genmap protocol). */
	if (err == NULL && op->cls->writes) {
		kr_assert(op->wrote_set);
		kr_store_wrote(op->store, op->wrote_shard, op->wrote_user);
	}
	/* Released (unlinked, detached) before the callback, so that the
	 * callback may cancel anything or destroy the store; the memory
	 * stays until the callback has returned. */
	op->job_running = true;
	store_op_release(op);
	op->cls->answer(op, err);
	op->job_running = job;
	if (!job)
		store_op_free(op);
}

static void
store_op_on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct kr_store_op *op = arg;

	(void)fd;
	(void)what;
	kr_store_op_answer(op, op->deferred_err ? &op->err : NULL);
}

void
kr_store_op_defer(struct kr_store_op *op, const struct kr_err *err)
{
	if (err != NULL) {
		op->err = *err;
		op->deferred_err = true;
	}
	if (op->defer == NULL) {
		op->defer = event_new(op->store->base, -1, 0, store_op_on_defer,
				      op);
		if (op->defer == NULL)
			kr_panic("store: event_new failed");
	}
	event_active(op->defer, EV_TIMEOUT, 0);
}

void
kr_store_op_fail(struct kr_store_op *op, enum kr_err_kind kind, const char *fmt,
		 ...)
{
	struct kr_err err;
	va_list ap;

	va_start(ap, fmt);
	kr_err_setv(&err, kind, fmt, ap);
	va_end(ap);
	kr_store_op_defer(op, &err);
}

static void
store_op_on_result(void *ctx, const PGresult *res, const struct kr_err *err)
{
	struct kr_store_op *op = ctx;
	struct kr_err perr;
	int rc;

	op->req = NULL;
	if (err != NULL) {
		kr_store_op_answer(op, err);
		return;
	}
	if (op->cls->parse == NULL) {
		kr_store_op_answer(op, NULL);
		return;
	}
	rc = op->cls->parse(op, res, &perr);
	if (rc < 0)
		kr_store_op_answer(op, &perr);
	else if (rc == 0)
		kr_store_op_answer(op, NULL);
}

static int
store_params_check(const struct kr_pgquery *q, struct kr_err *err_r)
{
	for (int i = 0; i < q->n_params; i++) {
		const char *v = q->values[i];

		if (v == NULL || (q->formats != NULL && q->formats[i] == 1))
			continue;
		if (!kr_store_pack_utf8(v, strlen(v)))
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "invalid UTF-8 in parameter %d",
					  i + 1);
	}
	return 0;
}

/* A negative answer of the SQL contract (STORE_SQL.md): no rows, a
 * first row whose status says the user, mailbox or message does not
 * exist, or a session listed as revoked. Each may become a permanent
 * answer (550 5.1.1, a failed login, -32002, -32001), which a lagging
 * replica must not decide alone (SPEC.md §4). */
static bool
store_answer_negative(void *ctx, const PGresult *res)
{
	int st = PQfnumber(res, "status"), rv = PQfnumber(res, "revoked");

	(void)ctx;
	if (PQntuples(res) == 0)
		return true;
	if (st >= 0 && !PQgetisnull(res, 0, st)) {
		const char *v = PQgetvalue(res, 0, st);

		if (strcmp(v, "not_found") == 0 || strcmp(v, "no_user") == 0)
			return true;
	}
	return rv >= 0 && !PQgetisnull(res, 0, rv) &&
	       strcmp(PQgetvalue(res, 0, rv), "t") == 0;
}

/* Every read: its negative answers from a replica are confirmed on the
 * shard's primary by the connection manager before they are parsed. */
void
kr_store_op_query(struct kr_store_op *op, unsigned shard,
		  enum kr_connmgr_mode mode, const char *user,
		  const struct kr_pgquery *q)
{
	struct kr_err err;

	kr_assert(op->req == NULL);
	/* A write answered here must know whose generation to bump. */
	kr_assert(mode != KR_CONNMGR_WRITE || op->cls->writes ||
		  op->cls->writes_uncached);
	if (store_params_check(q, &err) < 0 ||
	    kr_connmgr_query(op->store->mgr, shard, mode, user, q, op->deadline,
			     store_op_on_result, op, &op->req, &err) < 0) {
		kr_store_op_defer(op, &err);
		return;
	}
	if (mode == KR_CONNMGR_READ)
		kr_connmgr_confirm_negative(op->req, store_answer_negative);
}

static void
store_op_on_job(void *ctx, int status)
{
	struct kr_store_op *op = ctx;

	op->job_running = false;
	if (op->done) {
		store_op_free(op);
		return;
	}
	op->cls->job_done(op, status);
}

int
kr_store_op_job(struct kr_store_op *op, size_t size, kr_tpool_work_fn *work,
		struct kr_err *err_r)
{
	kr_assert(!op->job_running && op->cls->job_done != NULL);
	if (kr_tpool_cpu_if(op->store->cpu, size, work, store_op_on_job, op,
			    NULL, err_r) < 0)
		return -1;
	op->job_running = true;
	return 0;
}

int
kr_store_shard(const struct kr_store *store, const char *address,
	       struct kr_err *err_r)
{
	int shard = kr_shardmap_shard(store->map, address, strlen(address));

	if (shard < 0 || (unsigned)shard >= store->n_shards)
		return kr_err_set(err_r, KR_ERR_TEMPORARY,
				  "no shard for the address");
	return shard;
}

const char *
kr_store_i64(char *buf, int64_t v)
{
	snprintf(buf, 24, "%" PRId64, v);
	return buf;
}

int
kr_store_status(const char *status, struct kr_err *err_r)
{
	if (status == NULL)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "no status");
	if (strcmp(status, "ok") == 0)
		return 0;
	if (strcmp(status, "not_found") == 0)
		return kr_err_set(err_r, KR_ERR_NOT_FOUND, "not found");
	if (strcmp(status, "no_user") == 0)
		return kr_err_set(err_r, KR_ERR_NOT_FOUND, "no such user");
	if (strcmp(status, "over_quota") == 0)
		return kr_err_set(err_r, KR_ERR_QUOTA, "over quota");
	if (strcmp(status, "exists") == 0)
		return kr_err_set(err_r, KR_ERR_CONFLICT, "exists");
	if (strcmp(status, "too_many") == 0)
		return kr_err_set(err_r, KR_ERR_QUOTA,
				  "too many mailboxes (at most %d)",
				  KR_STORE_MAILBOXES_MAX);
	if (strcmp(status, "forbidden") == 0 || strcmp(status, "invalid") == 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "%s", status);
	if (strcmp(status, "error") == 0)
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "storage error");
	/* 014_rcpt_ids.sql: the address is another user's since RCPT. */
	if (strcmp(status, "retry") == 0)
		return kr_err_set(err_r, KR_ERR_TEMPORARY,
				  "the recipient changed; try again");
	/* 012_stable_ids.sql: our map is older than the user's move. */
	if (strcmp(status, "moved") == 0)
		return kr_err_set(err_r, KR_ERR_TEMPORARY,
				  "the user moved to another shard");
	return kr_err_set(err_r, KR_ERR_INTERNAL, "unknown status");
}

/* RFC 3501 atom-char minus the wildcards; '\' only as the first byte
 * (system flags). */
static bool
store_flag_ok(const char *f)
{
	size_t len = strlen(f);

	if (len == 0 || len > KR_STORE_FLAG_LEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)f[i];

		if (c <= ' ' || c >= 0x7f || strchr("\"(){%*]", c) != NULL)
			return false;
		if (c == '\\' && (i > 0 || len == 1))
			return false;
	}
	return true;
}

int
kr_store_flags_check(const char *const *flags, unsigned n, struct kr_err *err_r)
{
	if (n > KR_STORE_FLAGS_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "more than %d flags",
				  KR_STORE_FLAGS_MAX);
	for (unsigned i = 0; i < n; i++)
		if (flags[i] == NULL || !store_flag_ok(flags[i]))
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "invalid flag");
	return 0;
}
