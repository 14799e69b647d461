/* Delivery: the body is hashed and compressed once, on the cpu pool
 * (inline when small) or by the caller's own trip there
 * (kr_store_body_pack), for every recipient; each recipient's stored
 * message is then its own prefix + that body, handed to its shard's
 * group commit (store_batch.c), so recipients on one shard share one
 * stored body. The delivery is answered once every recipient has its
 * outcome, or at the deadline with what is known by then. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "lib/address.h"
#include "lib/arena.h"
#include "lib/clock.h"
#include "storage/store_priv.h"

/* ---- results ------------------------------------------------------ */

static void
deliver_result_set(struct kr_store_item *it, const struct kr_err *err,
		   int64_t user_id, int64_t mailbox_id, int64_t uid)
{
	struct kr_store_rcpt_result *r = &it->d->rcpts[it->idx];

	if (err != NULL)
		r->err = *err;
	else
		kr_err_clear(&r->err);
	r->user_id = user_id;
	r->shard = it->shard;
	r->mailbox_id = mailbox_id;
	r->uid = uid;
	it->answered = true;
}

/* The item's outcome is known; the delivery is answered (from a later
 * loop turn) once the last one is. */
void
kr_store_deliver_item_answer(struct kr_store_item *it, const struct kr_err *err,
			     int64_t user_id, int64_t mailbox_id, int64_t uid)
{
	struct kr_store_deliver_op *d = it->d;

	kr_assert(!it->answered);
	deliver_result_set(it, err, user_id, mailbox_id, uid);
	it->stage = KR_STORE_ITEM_ANSWERED;
	if (--d->left > 0)
		return;
	if (d->timer != NULL)
		evtimer_del(d->timer);
	kr_store_op_defer(&d->op, NULL);
}

void
kr_store_deliver_item_fail(struct kr_store_item *it, enum kr_err_kind kind,
			   const char *msg)
{
	struct kr_err err;

	kr_err_set(&err, kind, "%s", msg);
	kr_store_deliver_item_answer(it, &err, 0, 0, 0);
}

const struct kr_store_packed *
kr_store_deliver_packed(const struct kr_store_item *it)
{
	return &it->d->packed;
}

/* ---- the delivery op ------------------------------------------- */

/* Pool thread: reads the body copy, writes only `packed`. */
static void
deliver_work(void *ctx)
{
	struct kr_store_deliver_op *d = ctx;

	kr_store_pack_body(d->body, d->body_len, &d->packed);
}

static void
deliver_job_done(struct kr_store_op *op, int status)
{
	struct kr_store_deliver_op *d = (struct kr_store_deliver_op *)op;
	struct kr_store *store = op->store;

	for (unsigned i = 0; i < d->n; i++) {
		struct kr_store_item *it = &d->items[i];

		if (it->stage != KR_STORE_ITEM_PACKING)
			continue;
		if (status < 0 || d->packed.failed) {
			kr_store_batch_unreserve(store, it->shard);
			kr_store_deliver_item_fail(it, KR_ERR_TEMPORARY,
						   status < 0
							   ? "cpu pool stopped"
							   : "hashing failed");
			continue;
		}
		kr_store_batch_enqueue(store, it);
	}
	for (unsigned i = 0; i < d->n; i++)
		if (d->items[i].stage == KR_STORE_ITEM_QUEUED)
			kr_store_batch_kick(store, d->items[i].shard);
}

static void
deliver_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct kr_store_deliver_op *d = arg;
	struct kr_err err;

	(void)fd;
	(void)what;
	kr_err_set(&err, KR_ERR_TIMEOUT, "delivery timed out");
	for (unsigned i = 0; i < d->n; i++)
		if (!d->items[i].answered)
			deliver_result_set(&d->items[i], &err, 0, 0, 0);
	kr_store_op_answer(&d->op, NULL);
}

/* Done (answered or cancelled): give back queue places, leave batches. */
static void
deliver_detach(struct kr_store_op *op)
{
	struct kr_store_deliver_op *d = (struct kr_store_deliver_op *)op;
	struct kr_store *store = op->store;

	if (d->timer != NULL) {
		event_free(d->timer);
		d->timer = NULL;
	}
	for (unsigned i = 0; i < d->n; i++)
		kr_store_batch_leave(store, &d->items[i]);
}

static void
deliver_cleanup(struct kr_store_op *op)
{
	struct kr_store_deliver_op *d = (struct kr_store_deliver_op *)op;

	for (unsigned i = 0; i < d->n; i++) {
		free(d->items[i].address);
		free(d->items[i].folder);
		free(d->items[i].prefix);
	}
	kr_store_pack_free(&d->packed);
	free(d->items);
	free(d->body);
	free(d->meta);
	free(d->flags);
}

/* A shutdown or a late error still answers per recipient: those stored
 * before it stay stored. */
static void
deliver_answer(struct kr_store_op *op, const struct kr_err *err)
{
	struct kr_store_deliver_op *d = (struct kr_store_deliver_op *)op;

	if (d->rcpts == NULL) {
		d->cb(op->ctx, NULL, err);
		return;
	}
	for (unsigned i = 0; err != NULL && i < d->n; i++)
		if (!d->items[i].answered)
			deliver_result_set(&d->items[i], err, 0, 0, 0);
	d->cb(op->ctx, d->result, NULL);
}

static const struct kr_store_op_class deliver_class = {
	.name = "deliver",
	.answer = deliver_answer,
	.job_done = deliver_job_done,
	.detach = deliver_detach,
	.cleanup = deliver_cleanup,
};

/* "\Seen $Junk": the one flag string kr_deliver_batch takes. */
static char *
deliver_flags(const char *const *flags, unsigned n)
{
	size_t len = 0, off = 0;
	char *s;

	for (unsigned i = 0; i < n; i++)
		len += strlen(flags[i]) + 1;
	s = kr_xmalloc(len + 1);
	for (unsigned i = 0; i < n; i++) {
		size_t l = strlen(flags[i]);

		if (i > 0)
			s[off++] = ' ';
		memcpy(s + off, flags[i], l);
		off += l;
	}
	s[off] = '\0';
	return s;
}

/* What the whole delivery needs, checked and copied. */
static int
deliver_prepare(struct kr_store_deliver_op *d,
		const struct kr_store_delivery *dv, struct kr_err *err_r)
{
	if (dv->n_rcpts == 0 || dv->n_rcpts > KR_STORE_RCPTS_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "1 to %d recipients per delivery",
				  KR_STORE_RCPTS_MAX);
	if (dv->body_len > KR_STORE_MESSAGE_MAX)
		return kr_err_set(err_r, KR_ERR_TOO_LARGE,
				  "message over %d bytes",
				  KR_STORE_MESSAGE_MAX);
	if (kr_store_flags_check(dv->flags, dv->n_flags, err_r) < 0)
		return -1;
	d->result = kr_arena_zalloc(d->op.arena, sizeof(*d->result), err_r);
	if (d->result == NULL)
		return -1;
	d->result->meta_truncated =
		kr_store_pack_meta(dv->meta, &d->meta, &d->meta_len);
	d->rcpts = kr_arena_zalloc(d->op.arena, dv->n_rcpts * sizeof(*d->rcpts),
				   err_r);
	if (d->rcpts == NULL)
		return -1;
	d->result->n = d->n = d->left = dv->n_rcpts;
	d->result->rcpts = d->rcpts;
	d->items = kr_xcalloc(d->n, sizeof(*d->items));
	d->flags = deliver_flags(dv->flags, dv->n_flags);
	d->body_len = dv->body_len;
	if (d->prepacked)
		return 0;
	d->body = kr_xmalloc(dv->body_len);
	if (dv->body_len > 0)
		memcpy(d->body, dv->body, dv->body_len);
	return 0;
}

static void
deliver_item_init(struct kr_store *store, struct kr_store_deliver_op *d,
		  unsigned i, const struct kr_store_rcpt *rc)
{
	struct kr_store_item *it = &d->items[i];
	size_t plen = rc->prefix != NULL ? rc->prefix_len : 0;
	char addr[KR_ADDRESS_MAX + 1];
	struct kr_err err;
	int shard;

	it->d = d;
	it->idx = i;
	if (kr_address_normalize(rc->address,
				 rc->address != NULL ? strlen(rc->address) : 0,
				 addr, sizeof(addr), &err) < 0 ||
	    (shard = kr_store_shard(store, addr, &err)) < 0) {
		kr_store_deliver_item_answer(it, &err, 0, 0, 0);
		return;
	}
	if (plen > KR_STORE_MESSAGE_MAX - d->body_len) {
		kr_store_deliver_item_fail(it, KR_ERR_TOO_LARGE,
					   "message too large");
		return;
	}
	if (kr_store_batch_reserve(store, (unsigned)shard) < 0) {
		kr_store_deliver_item_fail(it, KR_ERR_OVERLOAD,
					   "shard queue full");
		return;
	}
	it->shard = (unsigned)shard;
	it->address = kr_xstrdup(addr);
	it->user_id = rc->user_id;
	if (rc->folder != NULL && rc->folder[0] != '\0' &&
	    strlen(rc->folder) <= KR_STORE_NAME_MAX &&
	    kr_store_pack_utf8(rc->folder, strlen(rc->folder)))
		it->folder = kr_xstrdup(rc->folder);
	it->prefix = kr_xmalloc(plen);
	if (plen > 0)
		memcpy(it->prefix, rc->prefix, plen);
	it->prefix_len = plen;
	it->pack = true;
	it->stage = KR_STORE_ITEM_PACKING;
}

static void
deliver_start(struct kr_store *store, struct kr_store_deliver_op *d)
{
	struct timeval tv;
	struct kr_err err;
	unsigned packing = 0;

	d->timer = evtimer_new(store->base, deliver_on_timeout, d);
	if (d->timer == NULL)
		kr_panic("store: evtimer_new failed");
	kr_deadline_timeval(d->op.deadline, kr_clock_mono_us(), &tv);
	if (d->left > 0)
		evtimer_add(d->timer, &tv);
	for (unsigned i = 0; i < d->n; i++)
		packing += d->items[i].pack;
	if (packing == 0)
		return;
	if (d->prepacked) {
		deliver_job_done(&d->op, 0);
		return;
	}
	if (kr_store_op_job(&d->op, d->body_len, deliver_work, &err) == 0)
		return;
	for (unsigned i = 0; i < d->n; i++) {
		struct kr_store_item *it = &d->items[i];

		if (it->stage != KR_STORE_ITEM_PACKING)
			continue;
		kr_store_batch_unreserve(store, it->shard);
		kr_store_deliver_item_answer(it, &err, 0, 0, 0);
	}
}

struct kr_store_op *
kr_store_deliver_begin(struct kr_store *store,
		       const struct kr_store_delivery *dv,
		       struct kr_arena *arena, struct kr_deadline deadline,
		       kr_store_deliver_fn *cb, void *ctx)
{
	struct kr_store_deliver_op *d = kr_store_op_new(
		store, &deliver_class, sizeof(*d), arena, deadline, ctx);
	struct kr_err err;

	d->cb = cb;
	store->stats.deliveries++;
	if (dv->packed != NULL) {
		/* Taken over: its bytes become the op's. */
		d->packed = dv->packed->packed;
		d->body = dv->packed->raw;
		d->prepacked = true;
		kr_assert(d->packed.raw_size == dv->body_len);
		free(dv->packed);
	}
	if (deliver_prepare(d, dv, &err) < 0) {
		kr_store_op_defer(&d->op, &err);
		return &d->op;
	}
	for (unsigned i = 0; i < d->n; i++)
		deliver_item_init(store, d, i, &dv->rcpts[i]);
	deliver_start(store, d);
	return &d->op;
}
