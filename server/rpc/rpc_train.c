/* Bayes training after message.move (rpc_train.h). One training per
 * move: what the move teaches (one read), then for each moved message
 * in turn: fetch it, parse it and take its tokens through the current
 * generation's bayes module on the cpu pool, learn it (one statement).
 * States: KIND -> (GET -> TOKENS -> LEARN)* -> gone. */
#include "server/rpc/rpc_train.h"

#include <stdlib.h>
#include <string.h>

#include "antispam/antispam.h"
#include "antispam/bayes_store.h"
#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/tpool.h"
#include "proto/mime.h"
#include "server/rpc/rpc_metrics.h"
#include "server/rpc/rpc_priv.h"
#include "server/runtime.h"
#include "storage/store_bayes.h"

/* Each store call of a training: it waits for nobody, so a generous
 * bound that still ends a training stuck on a dead shard. */
#define TRAIN_OP_MS 10000
/* A fetched message and its parse (the spam view is at most
 * spam_text_max per part): one message at a time, reset between. */
#define TRAIN_ARENA_MAX ((size_t)KR_STORE_MESSAGE_MAX + (64u << 20))

struct rpc_train {
	struct kr_rpc *rpc;
	struct rpc_train *prev, *next;
	char address[KR_ADDRESS_MAX + 1];
	struct kr_store_user user;
	int64_t to_id;
	int64_t *uids;
	unsigned n, i;
	bool spam;
	unsigned learned;
	struct kr_store_op *op;
	struct kr_tpool_job *job;
	struct kr_arena *arena;
	/* Held from the fetch until the tokens are taken. */
	struct kr_antispam_gen *gen;
	const struct kr_filter_module *mod;
	void *mod_state;
	/* The job's input and output. */
	const unsigned char *raw;
	size_t raw_len;
	size_t n_hashes;
	uint64_t key;
	uint64_t hashes[KR_STORE_BAYES_TOKENS_MAX];
};

static void train_next(struct rpc_train *t);

static struct kr_deadline
train_deadline(void)
{
	return kr_deadline_after(kr_clock_mono_us(), TRAIN_OP_MS);
}

static void
train_free(struct rpc_train *t)
{
	struct kr_rpc *rpc = t->rpc;

	kr_store_cancel(&t->op);
	kr_tpool_cancel(&t->job);
	kr_antispam_gen_release(&t->gen);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		rpc->trains = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	rpc->n_trains--;
	kr_arena_destroy(&t->arena);
	free(t->uids);
	free(t);
}

/* The training ends early: logged (the user's address is ours, not
 * client text) and counted. */
static void
train_fail(struct rpc_train *t, const char *what, const struct kr_err *err)
{
	struct kr_runtime *rt = t->rpc->d.rt;
	struct kr_log_line line;

	kr_metrics_inc(rt->slot, rt->rpc_ids->train_failed);
	if (kr_log_begin(&line, rt->log, KR_LOG_WARN, NULL, "bayes_train")) {
		kr_log_str(&line, "user", t->address);
		kr_log_str(&line, "step", what);
		if (err != NULL) {
			kr_log_str(&line, "kind", kr_err_kind_name(err->kind));
			kr_log_str(&line, "msg", err->msg);
		}
		kr_log_uint(&line, "learned", t->learned);
		kr_log_end(&line);
	}
	train_free(t);
}

static void
train_on_learn(void *ctx, enum kr_store_bayes_learned learned,
	       const struct kr_err *err)
{
	struct rpc_train *t = ctx;
	struct kr_runtime *rt = t->rpc->d.rt;

	t->op = NULL;
	if (err != NULL) {
		train_fail(t, "learn", err);
		return;
	}
	if (learned != KR_STORE_BAYES_ALREADY) {
		t->learned++;
		kr_metrics_inc(rt->slot, rt->rpc_ids->trained);
		kr_antispam_learned(t->rpc->d.antispam, t->address);
	}
	train_next(t);
}

/* On the cpu pool: touches only t's message, arena and hashes, and the
 * bayes module's tokens hook, which reads only its message (the
 * module's state is immutable after open). */
static void
train_tokens_work(void *ctx)
{
	struct rpc_train *t = ctx;
	struct kr_mime_summary *sum = NULL;
	struct kr_filter_text text;
	struct kr_filter_msg msg = { .raw = (const char *)t->raw,
				     .raw_len = t->raw_len };
	struct kr_mime_limits lim;
	struct kr_err err;

	kr_mime_limits_init(&lim);
	lim.spam_text = true;
	if (kr_mime_parse(t->raw, t->raw_len, &lim, t->arena, &sum, &err) ==
		    0 &&
	    sum->spam != NULL) {
		text = (struct kr_filter_text){
			.headers = sum->spam->headers,
			.headers_len = sum->spam->headers_len,
			.body = sum->spam->body,
			.body_len = sum->spam->body_len,
			.rawbody = sum->spam->rawbody,
			.rawbody_len = sum->spam->rawbody_len,
			.uris = sum->spam->uris,
			.uris_len = sum->spam->uris_len,
		};
		msg.text = &text;
		msg.body_hash = sum->spam->body_hash;
	}
	t->n_hashes = t->mod->tokens(t->mod_state, &msg, t->hashes,
				     KR_STORE_BAYES_TOKENS_MAX);
	if (t->n_hashes > KR_STORE_BAYES_TOKENS_MAX)
		t->n_hashes = KR_STORE_BAYES_TOKENS_MAX;
	t->key = kr_antispam_msg_key(t->raw, t->raw_len);
}

static void
train_tokens_done(void *ctx, int status)
{
	struct rpc_train *t = ctx;
	struct kr_store *store = t->rpc->d.store;
	const struct kr_config *cfg = t->rpc->d.rt->cfg;

	t->job = NULL;
	kr_antispam_gen_release(&t->gen);
	if (status != 0) {
		train_fail(t, "tokens", NULL);
		return;
	}
	t->op = kr_antispam_tokens_learn(store, &t->user, t->key, t->spam,
					 t->hashes, t->n_hashes,
					 cfg->antispam.bayes_tokens_max,
					 train_deadline(), train_on_learn, t);
}

static void
train_on_get(void *ctx, const struct kr_store_message_get_result *res,
	     const struct kr_err *err)
{
	struct rpc_train *t = ctx;
	struct kr_err perr;

	t->op = NULL;
	if (err != NULL) {
		/* Moved on or deleted since: nothing to learn from it. */
		if (err->kind == KR_ERR_NOT_FOUND)
			train_next(t);
		else
			train_fail(t, "fetch", err);
		return;
	}
	t->gen = kr_antispam_gen_acquire(t->rpc->d.antispam);
	if (kr_antispam_gen_module(t->gen, "bayes", &t->mod, &t->mod_state) <
		    0 ||
	    t->mod->tokens == NULL) {
		/* No bayes module in this generation: nothing to train. */
		train_free(t);
		return;
	}
	t->raw = res->raw;
	t->raw_len = res->raw_len;
	if (kr_tpool_cpu_if(t->rpc->d.cpu, res->raw_len, train_tokens_work,
			    train_tokens_done, t, &t->job, &perr) < 0)
		train_fail(t, "tokens", &perr);
}

static void
train_next(struct rpc_train *t)
{
	if (t->i >= t->n) {
		train_free(t);
		return;
	}
	kr_arena_reset(t->arena);
	t->op = kr_store_message_get_begin(t->rpc->d.store, &t->user, t->to_id,
					   t->uids[t->i++], t->arena,
					   train_deadline(), train_on_get, t);
}

static void
train_on_kind(void *ctx, enum kr_store_bayes_kind kind,
	      const struct kr_err *err)
{
	struct rpc_train *t = ctx;

	t->op = NULL;
	if (err != NULL) {
		train_fail(t, "kind", err);
		return;
	}
	if (kind == KR_STORE_BAYES_NONE) {
		train_free(t);
		return;
	}
	t->spam = kind == KR_STORE_BAYES_SPAM;
	train_next(t);
}

void
rpc_train_move(struct kr_rpc *rpc, const struct kr_store_user *user,
	       int64_t from_id, int64_t to_id,
	       const struct kr_store_message_move_result *res)
{
	struct kr_runtime *rt = rpc->d.rt;
	struct rpc_train *t;
	size_t alen;

	if (rpc->d.antispam == NULL || rpc->d.store == NULL || res->n == 0 ||
	    from_id == to_id)
		return;
	alen = strlen(user->address);
	if (rpc->n_trains >= RPC_TRAIN_MAX || alen >= sizeof(t->address)) {
		kr_metrics_inc(rt->slot, rt->rpc_ids->train_failed);
		return;
	}
	t = kr_xcalloc(1, sizeof(*t));
	t->rpc = rpc;
	memcpy(t->address, user->address, alen + 1);
	t->user = (struct kr_store_user){ .address = t->address,
					  .shard = user->shard,
					  .id = user->id };
	t->to_id = to_id;
	t->uids = kr_xcalloc(res->n, sizeof(*t->uids));
	for (unsigned i = 0; i < res->n; i++)
		t->uids[i] = res->uids[i].new_uid;
	t->n = res->n;
	t->arena = kr_arena_create(1 << 16, TRAIN_ARENA_MAX, false);
	t->next = rpc->trains;
	if (rpc->trains != NULL)
		rpc->trains->prev = t;
	rpc->trains = t;
	rpc->n_trains++;
	t->op = kr_store_bayes_move_kind_begin(rpc->d.store, &t->user, from_id,
					       to_id, train_deadline(),
					       train_on_kind, t);
}

void
rpc_train_destroy_all(struct kr_rpc *rpc)
{
	while (rpc->trains != NULL)
		train_free(rpc->trains);
}
