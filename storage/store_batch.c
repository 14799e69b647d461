/* Group commit (SPEC.md §4): one queue per shard. A shard sends at
 * once while fewer than storage.group_commit_inflight batches are out;
 * otherwise what waits goes out as the next single kr_deliver_batch
 * call (at most storage.group_commit_max messages) when a batch
 * returns. The call runs in autocommit, so its return means committed:
 * only then is a recipient answered as stored.
 *
 * With many sessions over many shards few deliveries meet on a shard at
 * the same instant, so each would pay its own commit (and WAL flush).
 * storage.group_commit_wait holds a delivery that arrives on a busy
 * shard (a batch in flight there, or another delivery queued) until a
 * batch of the shard returns, or for at most that long, so that the
 * ones arriving meanwhile join its call; a full batch goes at once. A
 * delivery on a quiet shard goes at once: there is no sign that
 * anything would join it (a guess from recent arrivals would also hold
 * a lone sender's next message, for nothing). Ending the hold when a
 * batch returns keeps the shard's commits back to back: held, a
 * delivery waits only for the commit before it (as PostgreSQL's own
 * group commit does), not idle time. No item waits on the timer longer
 * than the wait after it was queued: the timer (one per shard) is set
 * for the oldest waiting item.
 *
 * An item holds one of its shard's queue places (`reserved`) from
 * PACKING until it is sent; the places bound the memory a slow shard
 * can pin. Answers to the deliveries are deferred to their own loop
 * turns (kr_store_deliver_item_answer), so no user code runs while the
 * queues are walked here. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/config.h"
#include "lib/metrics.h"
#include "storage/pgarray.h"
#include "storage/store_priv.h"

struct kr_store_batch {
	struct kr_store *store;
	unsigned shard;
	struct kr_connmgr_req *req;
	struct kr_store_batch *prev, *next; /* in flight on the shard */
	unsigned n;
	struct kr_store_item **items; /* NULL: its delivery is done */
	struct kr_deadline deadline;
};

struct kr_store_shardq {
	struct kr_store_item *head, *tail;
	struct kr_store_batch *batches;
	unsigned queued;     /* items on the list */
	unsigned reserved;   /* PACKING + QUEUED items */
	unsigned inflight;   /* batches */
	struct event *timer; /* the hold of the head item; NULL until used */
	struct kr_store *store;
	unsigned shard;
};

static unsigned
batch_max(const struct kr_store *store)
{
	unsigned n = store->cfg->storage.group_commit_max;

	return n > 0 ? n : 1;
}

static unsigned
batch_inflight_max(const struct kr_store *store)
{
	unsigned n = store->cfg->storage.group_commit_inflight;

	return n > 0 ? n : 1;
}

void
kr_store_batch_init(struct kr_store *store)
{
	store->queues = kr_xcalloc(store->n_shards + 1, sizeof(*store->queues));
}

void
kr_store_batch_deinit(struct kr_store *store)
{
	for (unsigned s = 0; s < store->n_shards; s++) {
		struct kr_store_shardq *q = &store->queues[s];

		if (q->timer != NULL)
			event_free(q->timer);
		/* Every delivery was answered (and detached) already. */
		while (q->batches != NULL) {
			struct kr_store_batch *b = q->batches;

			q->batches = b->next;
			kr_connmgr_cancel(&b->req);
			free(b->items);
			free(b);
		}
	}
	free(store->queues);
	store->queues = NULL;
}

static void
batch_unqueue(struct kr_store *store, struct kr_store_item *it)
{
	struct kr_store_shardq *q = &store->queues[it->shard];

	if (it->qprev != NULL)
		it->qprev->qnext = it->qnext;
	else
		q->head = it->qnext;
	if (it->qnext != NULL)
		it->qnext->qprev = it->qprev;
	else
		q->tail = it->qprev;
	it->qprev = it->qnext = NULL;
	q->queued--;
	q->reserved--;
	store->stats.queued--;
}

void
kr_store_batch_enqueue(struct kr_store *store, struct kr_store_item *it)
{
	struct kr_store_shardq *q = &store->queues[it->shard];

	/* Worth holding only when others are at the shard too. */
	it->hold = store->cfg->storage.group_commit_wait_us > 0 &&
		   (q->inflight > 0 || q->queued > 0);
	it->queued_us = kr_clock_mono_us();
	it->qprev = q->tail;
	it->qnext = NULL;
	if (q->tail != NULL)
		q->tail->qnext = it;
	else
		q->head = it;
	q->tail = it;
	q->queued++;
	store->stats.queued++;
	it->stage = KR_STORE_ITEM_QUEUED;
}

int
kr_store_batch_reserve(struct kr_store *store, unsigned shard)
{
	struct kr_store_shardq *q = &store->queues[shard];

	if (q->reserved >= KR_STORE_QUEUE_FACTOR * batch_max(store)) {
		store->stats.shed++;
		return -1;
	}
	q->reserved++;
	return 0;
}

void
kr_store_batch_unreserve(struct kr_store *store, unsigned shard)
{
	store->queues[shard].reserved--;
}

void
kr_store_batch_leave(struct kr_store *store, struct kr_store_item *it)
{
	if (it->stage == KR_STORE_ITEM_QUEUED)
		batch_unqueue(store, it);
	else if (it->stage == KR_STORE_ITEM_PACKING)
		kr_store_batch_unreserve(store, it->shard);
	else if (it->stage == KR_STORE_ITEM_SENT)
		it->batch->items[it->slot] = NULL;
	it->stage = KR_STORE_ITEM_ANSWERED;
}

/* ---- batches ------------------------------------------------------ */

/* What one item adds to a batch: its body as stored, its prefix and
 * its escaped meta. */
static size_t
batch_item_bytes(const struct kr_store_item *it)
{
	const struct kr_store_packed *p = kr_store_deliver_packed(it);

	return (p->zdata != NULL ? p->zlen : p->raw_size) + it->prefix_len +
	       2 * it->d->meta_len + 64;
}

static struct kr_store_batch *
batch_take(struct kr_store *store, unsigned shard)
{
	struct kr_store_shardq *q = &store->queues[shard];
	unsigned max = batch_max(store);
	struct kr_store_batch *b = kr_xcalloc(1, sizeof(*b));
	size_t bytes = 0;
	int64_t now = kr_clock_mono_us();

	b->store = store;
	b->shard = shard;
	b->items = kr_xcalloc(q->queued < max ? q->queued : max,
			      sizeof(*b->items));
	while (q->head != NULL && b->n < max) {
		struct kr_store_item *it = q->head;
		size_t size = batch_item_bytes(it);

		if (b->n > 0 && bytes + size > KR_STORE_BATCH_BYTES_MAX)
			break;
		batch_unqueue(store, it);
		it->stage = KR_STORE_ITEM_SENT;
		it->batch = b;
		it->slot = b->n;
		b->items[b->n++] = it;
		bytes += size;
		if (store->slot != NULL)
			kr_metrics_observe(store->slot, store->ids->queue_wait,
					   (uint64_t)(now - it->queued_us));
		if (b->n == 1 || it->d->op.deadline.at_us > b->deadline.at_us)
			b->deadline = it->d->op.deadline;
	}
	return b;
}

static void
batch_free(struct kr_store_batch *b)
{
	free(b->items);
	free(b);
}

/* Fails every item still attached. Batch-level failures never say
 * "permanent": the mail stays queued at the sender, not bounced. */
static void
batch_fail(struct kr_store_batch *b, const struct kr_err *err)
{
	struct kr_err e = *err;

	if (e.kind != KR_ERR_TIMEOUT && e.kind != KR_ERR_OVERLOAD)
		e.kind = KR_ERR_TEMPORARY;
	for (unsigned i = 0; i < b->n; i++)
		if (b->items[i] != NULL)
			kr_store_deliver_item_answer(b->items[i], &e, 0, 0, 0);
}

/* The eleven parallel arrays of kr_deliver_batch, all binary:
 * PostgreSQL reads them without scanning and unescaping text literals
 * (array_in over the metas, which carry the search text, was a visible
 * part of its CPU per delivery). The user ids go only when every
 * message has one (the RCPT look-ups'), else NULL: found by address. */
struct batch_params {
	struct kr_pgarray_bin addrs, folders, zlib, raw_sizes, sizes, metas,
		flags, hashes, bodies, prefixes, user_ids;
	bool all_ids;
};

static void
batch_params_init(struct batch_params *p)
{
	size_t text = KR_STORE_BATCH_BYTES_MAX + 2 * KR_STORE_META_MAX + 4096;
	size_t bin =
		(size_t)KR_STORE_BATCH_BYTES_MAX + KR_STORE_MESSAGE_MAX + 4096;

	kr_pgarray_bin_init_type(&p->addrs, text, KR_PGARRAY_OID_TEXT);
	kr_pgarray_bin_init_type(&p->folders, text, KR_PGARRAY_OID_TEXT);
	kr_pgarray_bin_init_type(&p->zlib, text, KR_PGARRAY_OID_BOOL);
	kr_pgarray_bin_init_type(&p->raw_sizes, text, KR_PGARRAY_OID_INT4);
	kr_pgarray_bin_init_type(&p->sizes, text, KR_PGARRAY_OID_INT4);
	kr_pgarray_bin_init_type(&p->metas, text, KR_PGARRAY_OID_JSONB);
	kr_pgarray_bin_init_type(&p->flags, text, KR_PGARRAY_OID_TEXT);
	kr_pgarray_bin_init(&p->hashes, text);
	kr_pgarray_bin_init(&p->bodies, bin);
	kr_pgarray_bin_init(&p->prefixes, bin);
	kr_pgarray_bin_init_type(&p->user_ids, text, KR_PGARRAY_OID_INT8);
	p->all_ids = true;
}

static void
batch_params_deinit(struct batch_params *p)
{
	struct kr_pgarray_bin *all[] = { &p->addrs,	&p->folders, &p->zlib,
					 &p->raw_sizes, &p->sizes,   &p->metas,
					 &p->flags,	&p->hashes,  &p->bodies,
					 &p->prefixes,	&p->user_ids };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		kr_pgarray_bin_deinit(all[i]);
}

static int
batch_add_str(struct kr_pgarray_bin *b, const char *s, struct kr_err *err_r)
{
	return kr_pgarray_bin_add(b, s, strlen(s), NULL, 0, err_r);
}

/* raw_sizes[i] is the body's, sizes[i] the whole stored message's
 * (prefix + body: what quota and listings count); both are bounded by
 * KR_STORE_MESSAGE_MAX, so they fit an int4. A jsonb element is its
 * format version (1) and the JSON text. */
static int
batch_params_add(struct batch_params *p, const struct kr_store_item *it,
		 struct kr_err *err_r)
{
	const struct kr_store_packed *pk = kr_store_deliver_packed(it);
	const struct kr_store_deliver_op *d = it->d;
	bool z = pk->zdata != NULL;

	p->all_ids = p->all_ids && it->user_id > 0;
	if (batch_add_str(&p->addrs, it->address, err_r) < 0 ||
	    kr_pgarray_bin_add_int8(&p->user_ids, it->user_id, err_r) < 0 ||
	    batch_add_str(&p->folders,
			  it->folder != NULL ? it->folder : "INBOX",
			  err_r) < 0 ||
	    kr_pgarray_bin_add(&p->hashes, pk->hash, sizeof(pk->hash), NULL, 0,
			       err_r) < 0 ||
	    kr_pgarray_bin_add_bool(&p->zlib, z, err_r) < 0 ||
	    kr_pgarray_bin_add_int4(&p->raw_sizes, (int32_t)pk->raw_size,
				    err_r) < 0 ||
	    kr_pgarray_bin_add_int4(&p->sizes,
				    (int32_t)(it->prefix_len + pk->raw_size),
				    err_r) < 0 ||
	    kr_pgarray_bin_add(&p->metas, "\x01", 1, d->meta, d->meta_len,
			       err_r) < 0 ||
	    batch_add_str(&p->flags, d->flags, err_r) < 0 ||
	    kr_pgarray_bin_add(&p->prefixes, it->prefix, it->prefix_len, NULL,
			       0, err_r) < 0)
		return -1;
	if (z)
		return kr_pgarray_bin_add(&p->bodies, pk->zdata, pk->zlen, NULL,
					  0, err_r);
	return kr_pgarray_bin_add(&p->bodies, d->body, d->body_len, NULL, 0,
				  err_r);
}

static void batch_on_batch(void *ctx, const PGresult *res,
			   const struct kr_err *err);

static int
batch_query(struct kr_store_batch *b, struct batch_params *p,
	    struct kr_err *err_r)
{
	struct kr_pgarray_bin *in[] = {
		&p->addrs, &p->folders,	  &p->hashes,	&p->bodies,
		&p->zlib,  &p->raw_sizes, &p->sizes,	&p->metas,
		&p->flags, &p->prefixes,  &p->user_ids,
	};
	const char *values[11];
	int lengths[11];
	static const int formats[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct kr_pgquery q = {
		.sql = "SELECT * FROM kr_deliver_batch($1, $2, $3, $4, $5, $6, "
		       "$7, $8, $9, $10, $11)",
		.n_params = 11,
		.values = values,
		.lengths = lengths,
		.formats = formats,
	};

	for (size_t i = 0; i < 11; i++)
		values[i] = kr_pgarray_bin_data(in[i], &lengths[i]);
	if (!p->all_ids)
		values[10] = NULL;

	/* Many users share the batch: no single read-your-writes owner. */
	return kr_connmgr_query(b->store->mgr, b->shard, KR_CONNMGR_WRITE, NULL,
				&q, b->deadline, batch_on_batch, b, &b->req,
				err_r);
}

static void
batch_send(struct kr_store *store, struct kr_store_batch *b)
{
	struct kr_store_shardq *q = &store->queues[b->shard];
	struct batch_params p;
	struct kr_err err;
	int rc = 0;

	batch_params_init(&p);
	for (unsigned i = 0; rc == 0 && i < b->n; i++)
		rc = batch_params_add(&p, b->items[i], &err);
	if (rc == 0)
		rc = batch_query(b, &p, &err);
	batch_params_deinit(&p);
	if (rc < 0) {
		batch_fail(b, &err);
		batch_free(b);
		return;
	}
	b->next = q->batches;
	if (q->batches != NULL)
		q->batches->prev = b;
	q->batches = b;
	q->inflight++;
	store->stats.inflight++;
	store->stats.batches++;
	store->stats.batch_messages += b->n;
	if (store->slot != NULL)
		kr_metrics_observe(store->slot, store->ids->batch_messages,
				   b->n);
}

static void batch_on_timer(evutil_socket_t fd, short what, void *arg);

/* Microseconds the head item may still be held; 0: send it now. */
static int64_t
batch_hold_left(struct kr_store *store, const struct kr_store_shardq *q)
{
	int64_t wait = store->cfg->storage.group_commit_wait_us;
	int64_t left;

	if (q->head == NULL || !q->head->hold || q->queued >= batch_max(store))
		return 0;
	left = q->head->queued_us + wait - kr_clock_mono_us();
	return left > 0 ? left : 0;
}

static void
batch_hold(struct kr_store *store, struct kr_store_shardq *q, int64_t left)
{
	struct timeval tv = { .tv_sec = (time_t)(left / 1000000),
			      .tv_usec = (suseconds_t)(left % 1000000) };

	if (q->timer == NULL) {
		q->store = store;
		q->shard = (unsigned)(q - store->queues);
		q->timer = evtimer_new(store->base, batch_on_timer, q);
		if (q->timer == NULL)
			kr_panic("store: evtimer_new failed");
	}
	evtimer_add(q->timer, &tv);
}

/* force: the hold is over (the timer fired), whatever the clock says. */
static void
batch_kick(struct kr_store *store, unsigned shard, bool force)
{
	struct kr_store_shardq *q = &store->queues[shard];

	while (q->head != NULL && q->inflight < batch_inflight_max(store)) {
		int64_t left = force ? 0 : batch_hold_left(store, q);

		if (left > 0) {
			batch_hold(store, q, left);
			return;
		}
		force = false;
		batch_send(store, batch_take(store, shard));
	}
	if (q->head == NULL && q->timer != NULL)
		evtimer_del(q->timer);
}

static void
batch_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kr_store_shardq *q = arg;

	(void)fd;
	(void)what;
	batch_kick(q->store, q->shard, true);
}

void
kr_store_batch_kick(struct kr_store *store, unsigned shard)
{
	batch_kick(store, shard, false);
}

/* One result row: (idx, status, user_id, mailbox_id, uid). */
static void
batch_row(struct kr_store_batch *b, const PGresult *res, int row, const int *c)
{
	int64_t idx = kr_store_result_i64(res, row, c[0]);
	const char *status = PQgetvalue(res, row, c[1]);
	bool ok = strcmp(status, "ok") == 0;
	struct kr_store_item *it;
	struct kr_err err;

	if (idx < 1 || idx > (int64_t)b->n)
		return;
	/* Committed, even when its delivery is no longer waiting. */
	if (ok)
		kr_store_wrote(b->store, b->shard,
			       kr_store_result_i64(res, row, c[2]));
	it = b->items[idx - 1];
	if (it == NULL || it->stage != KR_STORE_ITEM_SENT)
		return;
	if (ok)
		kr_store_deliver_item_answer(
			it, NULL, kr_store_result_i64(res, row, c[2]),
			kr_store_result_i64(res, row, c[3]),
			kr_store_result_i64(res, row, c[4]));
	else if (strcmp(status, "no_user") == 0 ||
		 strcmp(status, "over_quota") == 0 ||
		 strcmp(status, "moved") == 0 || strcmp(status, "retry") == 0) {
		kr_store_status(status, &err);
		kr_store_deliver_item_answer(it, &err, 0, 0, 0);
	} else
		kr_store_deliver_item_fail(
			it, KR_ERR_TEMPORARY,
			"message not stored (storage error)");
}

static void
batch_rows(struct kr_store_batch *b, const PGresult *res)
{
	static const char *const names[] = { "idx", "status", "user_id",
					     "mailbox_id", "uid" };
	struct kr_err err;
	int c[5];

	if (kr_store_result_cols(res, names, 5, c, &err) < 0) {
		batch_fail(b, &err);
		return;
	}
	for (int row = 0; row < PQntuples(res); row++)
		batch_row(b, res, row, c);
	for (unsigned i = 0; i < b->n; i++)
		if (b->items[i] != NULL &&
		    b->items[i]->stage == KR_STORE_ITEM_SENT)
			kr_store_deliver_item_fail(b->items[i],
						   KR_ERR_TEMPORARY,
						   "no answer for the message");
}

static void
batch_on_batch(void *ctx, const PGresult *res, const struct kr_err *err)
{
	struct kr_store_batch *b = ctx;
	struct kr_store *store = b->store;
	struct kr_store_shardq *q = &store->queues[b->shard];
	unsigned shard = b->shard;

	b->req = NULL;
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		q->batches = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	q->inflight--;
	store->stats.inflight--;
	if (err != NULL) {
		batch_fail(b, err);
	} else {
		/* Before the answers: the 250 must not beat the mark. */
		for (unsigned i = 0; i < b->n; i++)
			kr_connmgr_wrote(store->mgr, b->items[i]->address);
		batch_rows(b, res);
	}
	batch_free(b);
	/* The shard's commit is done: what waited for it goes now. */
	batch_kick(store, shard, true);
}
