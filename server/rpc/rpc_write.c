/* The write side of messages: message.append, .flags, .move, .copy and
 * .delete. The store bumps the user's generation before it answers a
 * success, so no cached read of that user outlives it. */
#include <stdio.h>

#include "lib/arena.h"
#include "lib/tpool.h"
#include "proto/mime.h"
#include "server/deliver/msgmeta.h"
#include "server/rpc/rpc_priv.h"
#include "server/rpc/rpc_train.h"

/* ---- message.append ----------------------------------------------- */

struct append {
	struct rpc_call *c;
	struct kr_store_append msg;
	struct kr_mime_summary *sum; /* NULL when parsing failed */
};

static void
append_on_stored(void *ctx, const struct kr_store_append_result *res,
		 const struct kr_err *err)
{
	struct rpc_call *c = ctx;

	if (!rpc_op_ok(c, err))
		return;
	rpc_reply(c,
		  json_pack("{sI sI}", "mailbox", (json_int_t)res->mailbox_id,
			    "uid", (json_int_t)res->uid));
}

static void
append_parse_work(void *ctx)
{
	struct append *a = ctx;
	struct kr_err err;

	/* Malformed MIME is stored raw with what could be read. */
	if (kr_mime_parse(a->msg.raw, a->msg.raw_len, NULL, a->c->arena,
			  &a->sum, &err) < 0)
		a->sum = NULL;
}

static void
append_parse_done(void *ctx, int status)
{
	struct append *a = ctx;
	struct rpc_call *c = a->c;
	struct kr_store_meta *meta;
	struct kr_err err;

	c->job = NULL;
	if (status != 0) {
		rpc_fail(c, KR_JSONRPC_UNAVAILABLE, "worker stopping", NULL);
		return;
	}
	meta = kr_arena_zalloc(c->arena, sizeof(*meta), &err);
	if (meta == NULL ||
	    kr_msgmeta_from_summary(a->sum, c->arena, meta) < 0) {
		rpc_fail(c, KR_JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	a->msg.meta = meta;
	c->op = kr_store_append_begin(c->req->rpc->d.store, rpc_user(c),
				      &a->msg, c->arena, rpc_deadline(c),
				      append_on_stored, c);
}

void
rpc_message_append(struct rpc_call *c, const json_t *params)
{
	const json_t *raw = NULL;
	struct kr_err err;
	struct append *a = kr_arena_zalloc(c->arena, sizeof(*a), &err);
	unsigned char *bytes;
	size_t len;

	if (a == NULL) {
		rpc_fail_err(c, &err);
		return;
	}
	a->c = c;
	if (rpc_param_id(c, params, "mailbox", true, &a->msg.mailbox_id) < 0 ||
	    rpc_param_flags(c, params, "flags", &a->msg.flags,
			    &a->msg.n_flags) < 0)
		return;
	raw = json_object_get(params, "raw");
	if (!json_is_string(raw) ||
	    rpc_param_base64(json_string_value(raw), json_string_length(raw),
			     c->arena, &bytes, &len) < 0 ||
	    len == 0 || len > KR_STORE_MESSAGE_MAX) {
		rpc_fail(c, KR_JSONRPC_INVALID_PARAMS,
			 "param raw: the message in base64, 1 byte to 128M",
			 NULL);
		return;
	}
	a->msg.raw = bytes;
	a->msg.raw_len = len;
	if (kr_tpool_cpu_if(c->req->rpc->d.cpu, len, append_parse_work,
			    append_parse_done, a, &c->job, &err) < 0)
		rpc_fail_err(c, &err);
}

/* ---- message.flags ------------------------------------------------ */

static void
flags_on_done(void *ctx, const struct kr_store_message_flags_result *res,
	      const struct kr_err *err)
{
	struct rpc_call *c = ctx;

	if (!rpc_op_ok(c, err))
		return;
	rpc_reply(c, json_pack("{sI}", "modseq", (json_int_t)res->modseq));
}

void
rpc_message_flags(struct rpc_call *c, const json_t *params)
{
	struct kr_store_flag_change ch = { 0 };
	int64_t mailbox;

	if (rpc_param_id(c, params, "mailbox", true, &mailbox) < 0 ||
	    rpc_param_uids(c, params, "uids", &ch.uids, &ch.n_uids) < 0 ||
	    rpc_param_flags(c, params, "add", &ch.add, &ch.n_add) < 0 ||
	    rpc_param_flags(c, params, "remove", &ch.remove, &ch.n_remove) < 0)
		return;
	if (ch.n_add == 0 && ch.n_remove == 0) {
		rpc_fail(c, KR_JSONRPC_INVALID_PARAMS,
			 "params add and remove: at least one flag", NULL);
		return;
	}
	c->op = kr_store_message_flags_begin(c->req->rpc->d.store, rpc_user(c),
					     mailbox, &ch, c->arena,
					     rpc_deadline(c), flags_on_done, c);
}

/* ---- message.move / .copy ----------------------------------------- */

/* A move's mailboxes, for training (a copy trains nothing). */
struct move {
	struct rpc_call *c;
	int64_t from, to;
	bool copy;
};

static void
move_on_done(void *ctx, const struct kr_store_message_move_result *res,
	     const struct kr_err *err)
{
	struct move *m = ctx;
	struct rpc_call *c = m->c;
	json_t *map;
	char old[24];

	if (!rpc_op_ok(c, err))
		return;
	/* Copies what it needs and answers nothing: the reply below does
	 * not wait for it (SPEC.md §5, training is best-effort). */
	if (!m->copy)
		rpc_train_move(c->req->rpc, rpc_user(c), m->from, m->to, res);
	map = json_object();
	for (unsigned i = 0; map != NULL && i < res->n; i++) {
		snprintf(old, sizeof(old), "%lld",
			 (long long)res->uids[i].old_uid);
		json_object_set_new(map, old,
				    json_integer(res->uids[i].new_uid));
	}
	rpc_reply(c, json_pack("{so}", "uids", map));
}

static void
move_begin(struct rpc_call *c, const json_t *params, bool copy)
{
	const int64_t *uids;
	unsigned n;
	int64_t mailbox, to;
	struct kr_err err;
	struct move *m;

	if (rpc_param_id(c, params, "mailbox", true, &mailbox) < 0 ||
	    rpc_param_uids(c, params, "uids", &uids, &n) < 0 ||
	    rpc_param_id(c, params, "to", true, &to) < 0)
		return;
	m = kr_arena_zalloc(c->arena, sizeof(*m), &err);
	if (m == NULL) {
		rpc_fail_err(c, &err);
		return;
	}
	*m = (struct move){ .c = c, .from = mailbox, .to = to, .copy = copy };
	c->op = (copy ? kr_store_message_copy_begin
		      : kr_store_message_move_begin)(
		c->req->rpc->d.store, rpc_user(c), mailbox, uids, n, to,
		c->arena, rpc_deadline(c), move_on_done, m);
}

void
rpc_message_move(struct rpc_call *c, const json_t *params)
{
	move_begin(c, params, false);
}

void
rpc_message_copy(struct rpc_call *c, const json_t *params)
{
	move_begin(c, params, true);
}

/* ---- message.delete ----------------------------------------------- */

static void
delete_on_done(void *ctx, const struct kr_store_message_delete_result *res,
	       const struct kr_err *err)
{
	struct rpc_call *c = ctx;

	if (!rpc_op_ok(c, err))
		return;
	rpc_reply(c, json_pack("{sI}", "deleted", (json_int_t)res->deleted));
}

void
rpc_message_delete(struct rpc_call *c, const json_t *params)
{
	const int64_t *uids;
	unsigned n;
	int64_t mailbox;

	if (rpc_param_id(c, params, "mailbox", true, &mailbox) < 0 ||
	    rpc_param_uids(c, params, "uids", &uids, &n) < 0)
		return;
	c->op = kr_store_message_delete_begin(
		c->req->rpc->d.store, rpc_user(c), mailbox, uids, n, c->arena,
		rpc_deadline(c), delete_on_done, c);
}
