/* mailbox.list, .create, .rename, .delete. */
#include "server/rpc/rpc_priv.h"

static void
mailbox_on_list(void *ctx, const struct kr_store_mailbox_list_result *res,
		const struct kr_err *err)
{
	struct rpc_call *c = ctx;
	json_t *arr;

	if (!rpc_op_ok(c, err))
		return;
	arr = json_array();
	for (unsigned i = 0; arr != NULL && i < res->n; i++)
		if (json_array_append_new(
			    arr, rpc_json_mailbox(&res->mailboxes[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	rpc_reply_cache(c, arr);
}

void
rpc_mailbox_list(struct rpc_call *c, const json_t *params)
{
	(void)params;
	if (rpc_cache_lookup(c, "B"))
		return;
	c->op = kr_store_mailbox_list_begin(c->req->rpc->d.store, rpc_user(c),
					    c->arena, rpc_deadline(c),
					    mailbox_on_list, c);
}

/* create and rename answer the mailbox as it is now. */
static void
mailbox_on_changed(void *ctx, const struct kr_store_mailbox *res,
		   const struct kr_err *err)
{
	struct rpc_call *c = ctx;

	if (!rpc_op_ok(c, err))
		return;
	rpc_reply(c, rpc_json_mailbox(res));
}

static int
mailbox_param_name(struct rpc_call *c, const json_t *params,
		   const char **name_r)
{
	struct kr_err err;

	if (kr_jsonrpc_param_str(params, "name", true, name_r, &err) < 0) {
		rpc_fail_params(c, &err);
		return -1;
	}
	return 0;
}

void
rpc_mailbox_create(struct rpc_call *c, const json_t *params)
{
	const char *name;

	if (mailbox_param_name(c, params, &name) < 0)
		return;
	c->op = kr_store_mailbox_create_begin(c->req->rpc->d.store, rpc_user(c),
					      name, c->arena, rpc_deadline(c),
					      mailbox_on_changed, c);
}

void
rpc_mailbox_rename(struct rpc_call *c, const json_t *params)
{
	const char *name;
	int64_t id;

	if (rpc_param_id(c, params, "id", true, &id) < 0 ||
	    mailbox_param_name(c, params, &name) < 0)
		return;
	c->op = kr_store_mailbox_rename_begin(
		c->req->rpc->d.store, rpc_user(c), id, name, c->arena,
		rpc_deadline(c), mailbox_on_changed, c);
}

static void
mailbox_on_deleted(void *ctx, const struct kr_err *err)
{
	struct rpc_call *c = ctx;

	if (!rpc_op_ok(c, err))
		return;
	rpc_reply(c, json_true());
}

void
rpc_mailbox_delete(struct rpc_call *c, const json_t *params)
{
	int64_t id;

	if (rpc_param_id(c, params, "id", true, &id) < 0)
		return;
	c->op = kr_store_mailbox_delete_begin(c->req->rpc->d.store, rpc_user(c),
					      id, rpc_deadline(c),
					      mailbox_on_deleted, c);
}
