/* changes.get (what changed since a modseq, for webmail sync) and
 * quota.get. */
#include "lib/arena.h"
#include "server/rpc/rpc_priv.h"

struct changes {
	struct rpc_call *c;
	const struct kr_store_user_changes_result *res;
};

static bool
changes_has_mailbox(const struct kr_store_user_changes_result *res, int64_t id)
{
	for (unsigned i = 0; i < res->n; i++)
		if (res->changes[i].kind == KR_STORE_CHANGE_MAILBOX &&
		    res->changes[i].mailbox_id == id)
			return true;
	return false;
}

static json_t *
changes_item(const struct kr_store_change *ch)
{
	if (ch->kind == KR_STORE_CHANGE_MESSAGE)
		return json_pack("{sI sI so sI}", "mailbox",
				 (json_int_t)ch->mailbox_id, "uid",
				 (json_int_t)ch->uid, "flags",
				 rpc_json_flags(ch->flags, ch->n_flags),
				 "modseq", (json_int_t)ch->modseq);
	return json_pack("{sI sI}", "mailbox", (json_int_t)ch->mailbox_id,
			 "uid", (json_int_t)ch->uid);
}

/* The answer; mailboxes holds the changed mailboxes as they are now
 * (from list, NULL when none changed). */
static json_t *
changes_json(const struct kr_store_user_changes_result *res,
	     const struct kr_store_mailbox_list_result *list)
{
	json_t *boxes = json_array(), *msgs = json_array(),
	       *removed = json_array(), *gone = json_array();

	for (unsigned i = 0; list != NULL && i < list->n; i++)
		if (changes_has_mailbox(res, list->mailboxes[i].id))
			json_array_append_new(
				boxes, rpc_json_mailbox(&list->mailboxes[i]));
	for (unsigned i = 0; i < res->n; i++) {
		const struct kr_store_change *ch = &res->changes[i];

		if (ch->kind == KR_STORE_CHANGE_MESSAGE)
			json_array_append_new(msgs, changes_item(ch));
		else if (ch->kind == KR_STORE_CHANGE_REMOVED)
			json_array_append_new(removed, changes_item(ch));
		else if (ch->kind == KR_STORE_CHANGE_MAILBOX_REMOVED)
			json_array_append_new(gone,
					      json_integer(ch->mailbox_id));
	}
	return json_pack("{sI so so so so}", "modseq", (json_int_t)res->modseq,
			 "mailboxes", boxes, "messages", msgs, "removed",
			 removed, "mailboxes_removed", gone);
}

static void
changes_on_list(void *ctx, const struct kr_store_mailbox_list_result *list,
		const struct kr_err *err)
{
	struct changes *ch = ctx;
	struct rpc_call *c = ch->c;

	if (!rpc_op_ok(c, err))
		return;
	rpc_reply(c, changes_json(ch->res, list));
}

static void
changes_on_changes(void *ctx, const struct kr_store_user_changes_result *res,
		   const struct kr_err *err)
{
	struct changes *ch = ctx;
	struct rpc_call *c = ch->c;
	bool boxes = false;

	if (!rpc_op_ok(c, err))
		return;
	for (unsigned i = 0; i < res->n; i++)
		boxes |= res->changes[i].kind == KR_STORE_CHANGE_MAILBOX;
	if (!boxes) {
		rpc_reply(c, changes_json(res, NULL));
		return;
	}
	ch->res = res;
	c->op = kr_store_mailbox_list_begin(c->req->rpc->d.store, rpc_user(c),
					    c->arena, rpc_deadline(c),
					    changes_on_list, ch);
}

void
rpc_changes_get(struct rpc_call *c, const json_t *params)
{
	struct kr_err err;
	long long since = 0;
	struct changes *ch;

	if (kr_jsonrpc_param_int(params, "since", true, 0, INT64_MAX, &since,
				 &err) < 0) {
		rpc_fail_params(c, &err);
		return;
	}
	ch = kr_arena_zalloc(c->arena, sizeof(*ch), &err);
	if (ch == NULL) {
		rpc_fail_err(c, &err);
		return;
	}
	ch->c = c;
	c->op = kr_store_user_changes_begin(c->req->rpc->d.store, rpc_user(c),
					    since, c->arena, rpc_deadline(c),
					    changes_on_changes, ch);
}

static void
quota_on_done(void *ctx, const struct kr_store_user_quota_result *res,
	      const struct kr_err *err)
{
	struct rpc_call *c = ctx;

	if (!rpc_op_ok(c, err))
		return;
	/* limit null: unlimited. */
	rpc_reply(c, json_pack("{sI so sI}", "used", (json_int_t)res->used,
			       "limit",
			       res->quota > 0 ? json_integer(res->quota)
					      : json_null(),
			       "messages", (json_int_t)res->messages));
}

void
rpc_quota_get(struct rpc_call *c, const json_t *params)
{
	(void)params;
	c->op = kr_store_user_quota_begin(c->req->rpc->d.store, rpc_user(c),
					  c->arena, rpc_deadline(c),
					  quota_on_done, c);
}
