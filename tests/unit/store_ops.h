/* One helper per store operation for the cluster tests (test_store.c,
 * test_store_gen.c): begin it, wait for its answer, hand back what came;
 * and the users and mailboxes they work on. Include after store_env.h;
 * the includer's assertions fail the test on an unexpected error. */
#ifndef KR_TEST_STORE_OPS_H
#define KR_TEST_STORE_OPS_H

#include <string.h>

#include "storage/shardmap.h"
#include "storage/store.h"

REC_FN(rec_user_get, struct kr_store_user_get_result)
REC_FN(rec_user_create, struct kr_store_user_create_result)
REC_FN(rec_changes, struct kr_store_user_changes_result)
REC_FN(rec_quota, struct kr_store_user_quota_result)
REC_FN(rec_mb_list, struct kr_store_mailbox_list_result)
REC_FN(rec_mb, struct kr_store_mailbox)
REC_FN(rec_list, struct kr_store_message_list_result)
REC_FN(rec_get, struct kr_store_message_get_result)
REC_FN(rec_flags, struct kr_store_message_flags_result)
REC_FN(rec_move, struct kr_store_message_move_result)
REC_FN(rec_delete, struct kr_store_message_delete_result)
REC_FN(rec_append, struct kr_store_append_result)
REC_FN(rec_deliver, struct kr_store_deliver_result)

/* The answer, when it is a success; fails the test otherwise. */
#define RES(type, rec) ((const struct type *)ok_res(rec))
static inline const void *
ok_res(struct rec r)
{
	if (r.err.kind != KR_ERR_NONE)
		fail_msg("%s: %s", kr_err_kind_name(r.err.kind), r.err.msg);
	return r.res;
}

static inline void
addr_make(struct env *e, const char *who, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%u.%s@test.example", who, e->seq++, e->tag);
}

static inline int
shard_of(struct env *e, const char *addr)
{
	return kr_shardmap_shard(e->map, addr, strlen(addr));
}

static inline struct rec
r_user_create(struct env *e, const char *addr, int64_t quota)
{
	struct rec r;

	RUN(e, r,
	    kr_store_user_create_begin(e->store, addr, "{PLAIN}x", quota,
				       e->arena, dl(), rec_user_create, &r));
	return r;
}

static inline struct rec
r_user_get(struct env *e, const char *addr)
{
	struct rec r;

	RUN(e, r,
	    kr_store_user_get_begin(e->store, addr, e->arena, dl(),
				    rec_user_get, &r));
	return r;
}

static inline struct rec
r_user_delete(struct env *e, const char *addr)
{
	struct rec r;

	RUN(e, r,
	    kr_store_user_delete_begin(e->store, addr, dl(), rec_done, &r));
	return r;
}

static inline struct rec
r_mb_list(struct env *e, const struct kr_store_user *u)
{
	struct rec r;

	RUN(e, r,
	    kr_store_mailbox_list_begin(e->store, u, e->arena, dl(),
					rec_mb_list, &r));
	return r;
}

static inline struct rec
r_mb_create(struct env *e, const struct kr_store_user *u, const char *name)
{
	struct rec r;

	RUN(e, r,
	    kr_store_mailbox_create_begin(e->store, u, name, e->arena, dl(),
					  rec_mb, &r));
	return r;
}

static inline struct rec
r_mb_rename(struct env *e, const struct kr_store_user *u, int64_t id,
	    const char *name)
{
	struct rec r;

	RUN(e, r,
	    kr_store_mailbox_rename_begin(e->store, u, id, name, e->arena, dl(),
					  rec_mb, &r));
	return r;
}

static inline struct rec
r_mb_delete(struct env *e, const struct kr_store_user *u, int64_t id)
{
	struct rec r;

	RUN(e, r,
	    kr_store_mailbox_delete_begin(e->store, u, id, dl(), rec_done, &r));
	return r;
}

static inline struct rec
r_list(struct env *e, const struct kr_store_user *u, int64_t mb, unsigned limit,
       int64_t before)
{
	struct rec r;

	RUN(e, r,
	    kr_store_message_list_begin(e->store, u, mb, limit, before,
					e->arena, dl(), rec_list, &r));
	return r;
}

static inline struct rec
r_get(struct env *e, const struct kr_store_user *u, int64_t mb, int64_t uid)
{
	struct rec r;

	RUN(e, r,
	    kr_store_message_get_begin(e->store, u, mb, uid, e->arena, dl(),
				       rec_get, &r));
	return r;
}

static inline struct rec
r_flags(struct env *e, const struct kr_store_user *u, int64_t mb,
	const int64_t *uids, unsigned n, const char *add, const char *rm)
{
	struct kr_store_flag_change ch = { uids,	n,   &add,
					   add != NULL, &rm, rm != NULL };
	struct rec r;

	RUN(e, r,
	    kr_store_message_flags_begin(e->store, u, mb, &ch, e->arena, dl(),
					 rec_flags, &r));
	return r;
}

static inline struct rec
r_move(struct env *e, const struct kr_store_user *u, bool copy, int64_t from,
       int64_t uid, int64_t to)
{
	struct rec r;

	RUN(e, r,
	    (copy ? kr_store_message_copy_begin
		  : kr_store_message_move_begin)(e->store, u, from, &uid, 1, to,
						 e->arena, dl(), rec_move, &r));
	return r;
}

static inline struct rec
r_delete(struct env *e, const struct kr_store_user *u, int64_t mb, int64_t uid)
{
	struct rec r;

	RUN(e, r,
	    kr_store_message_delete_begin(e->store, u, mb, &uid, 1, e->arena,
					  dl(), rec_delete, &r));
	return r;
}

static inline struct rec
r_search(struct env *e, const struct kr_store_user *u,
	 const struct kr_store_search *q)
{
	struct rec r;

	RUN(e, r,
	    kr_store_message_search_begin(e->store, u, q, e->arena, dl(),
					  rec_list, &r));
	return r;
}

static inline struct rec
r_changes(struct env *e, const struct kr_store_user *u, int64_t since)
{
	struct rec r;

	RUN(e, r,
	    kr_store_user_changes_begin(e->store, u, since, e->arena, dl(),
					rec_changes, &r));
	return r;
}

static inline struct rec
r_quota(struct env *e, const struct kr_store_user *u)
{
	struct rec r;

	RUN(e, r,
	    kr_store_user_quota_begin(e->store, u, e->arena, dl(), rec_quota,
				      &r));
	return r;
}

static inline struct rec
r_append(struct env *e, const struct kr_store_user *u, int64_t mb,
	 const void *raw, size_t len, const char *flag)
{
	struct kr_store_meta meta = { .subject = "appended" };
	struct kr_store_append msg = { mb,    raw,   len,
				       &meta, &flag, flag != NULL ? 1 : 0 };
	struct rec r;

	RUN(e, r,
	    kr_store_append_begin(e->store, u, &msg, e->arena, dl(), rec_append,
				  &r));
	return r;
}

/* A new user: the handle (address in the test arena). */
static inline struct kr_store_user
user_at(struct env *e, const char *addr, int64_t quota)
{
	const struct kr_store_user_create_result *res =
		ok_res(r_user_create(e, addr, quota));

	assert_true(res->user.id > 0);
	assert_int_equal(res->user.shard, shard_of(e, res->user.address));
	return res->user;
}

static inline struct kr_store_user
user_new(struct env *e, const char *who, int64_t quota)
{
	char addr[128];

	addr_make(e, who, addr, sizeof(addr));
	return user_at(e, addr, quota);
}

/* n users all placed on one shard (names are tried until they fit). */
static inline void
users_on_one_shard(struct env *e, struct kr_store_user *u, unsigned n)
{
	char addr[128];
	int shard = -1;

	for (unsigned made = 0; made < n;) {
		addr_make(e, "same", addr, sizeof(addr));
		if (shard < 0)
			shard = shard_of(e, addr);
		if (shard_of(e, addr) == shard)
			u[made++] = user_at(e, addr, 0);
	}
}

static inline struct kr_store_mailbox
mailbox_named(struct env *e, const struct kr_store_user *u, const char *name)
{
	const struct kr_store_mailbox_list_result *l = ok_res(r_mb_list(e, u));

	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->mailboxes[i].name, name) == 0)
			return l->mailboxes[i];
	fail_msg("no mailbox %s", name);
	return l->mailboxes[0];
}

/* Delivers body (flagged with flag unless NULL) to rcpts and waits for
 * the answer. */
static inline const struct kr_store_deliver_result *
deliver(struct env *e, const char *body, const struct kr_store_rcpt *rcpts,
	unsigned n, const struct kr_store_meta *meta, const char *flag)
{
	struct kr_store_delivery d = { .body = (const unsigned char *)body,
				       .body_len = strlen(body),
				       .rcpts = rcpts,
				       .n_rcpts = n,
				       .meta = meta,
				       .flags = &flag,
				       .n_flags = flag != NULL };
	const struct kr_store_deliver_result *res;
	struct rec r;

	RUN(e, r,
	    kr_store_deliver_begin(e->store, &d, e->arena, dl(), rec_deliver,
				   &r));
	res = ok_res(r);
	assert_int_equal(res->n, n);
	return res;
}

static inline void
assert_stored(const struct kr_store_rcpt_result *rr)
{
	if (rr->err.kind != KR_ERR_NONE)
		fail_msg("not stored: %s: %s", kr_err_kind_name(rr->err.kind),
			 rr->err.msg);
	assert_true(rr->uid > 0 && rr->mailbox_id > 0 && rr->user_id > 0);
}

static inline enum kr_err_kind
rcpt0_kind(const struct rec *r)
{
	return ((const struct kr_store_deliver_result *)r->res)
		->rcpts[0]
		.err.kind;
}

#endif
