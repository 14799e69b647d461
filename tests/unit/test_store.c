/* The mail store against a real cluster. Skipped unless
 * KR_TEST_PG_CONF names a kurier.conf written by ops/pgcluster
 * (tests/integration/test_store.sh sets it). Every run works on users
 * named with a fresh tag, so a cluster can be reused. Callbacks record
 * what they got; assertions run after the loop has delivered them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/tpool.h"
#include "storage/connmgr.h"
#include "storage/migrate.h"
#include "storage/pgarray.h"
#include "storage/shardmap.h"
#include "storage/store.h"

#define WAIT_MS 15000
#define OP_MS 10000
#define GC_MAX 64 /* group_commit_max of the test config */

struct env {
	struct event_base *base;
	struct event *tick;
	struct kr_tpool *io, *cpu;
	struct kr_config *cfg;
	struct kr_metrics *metrics;
	struct kr_connmgr_metrics *ids;
	struct kr_log *log;
	struct kr_connmgr *mgr;
	struct kr_shardmap *map;
	struct kr_store *store;
	struct kr_arena *arena; /* per test */
	char path[64];
	char tag[48];
	unsigned seq;
	bool in_begin; /* a callback now would break the contract */
};

/* What one callback got. */
struct rec {
	struct env *e;
	int calls;
	struct kr_err err; /* kind KR_ERR_NONE on success */
	const void *res;
};

static void
rec_note(void *ctx, const void *res, const struct kr_err *err)
{
	struct rec *r = ctx;

	assert_false(r->e->in_begin);
	r->calls++;
	r->res = res;
	if (err != NULL)
		r->err = *err;
	else
		kr_err_clear(&r->err);
	assert_true((res == NULL) != (err == NULL));
}

#define REC_FN(name, type)                                                   \
	static void name(void *ctx, const type *res, const struct kr_err *err) \
	{                                                                    \
		rec_note(ctx, res, err);                                     \
	}
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

static void
rec_done(void *ctx, const struct kr_err *err)
{
	struct rec *r = ctx;

	assert_false(r->e->in_begin);
	r->calls++;
	if (err != NULL)
		r->err = *err;
	else
		kr_err_clear(&r->err);
}

static void
env_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the loop until every rec in r[0..n) has its callback. */
static bool
wait_recs(struct env *e, struct rec *r, unsigned n)
{
	int64_t end = kr_clock_mono_ms() + WAIT_MS;

	for (;;) {
		unsigned done = 0;

		for (unsigned i = 0; i < n; i++)
			done += r[i].calls > 0;
		if (done == n)
			return true;
		if (kr_clock_mono_ms() > end)
			return false;
		event_base_loop(e->base, EVLOOP_ONCE);
	}
}

static struct kr_deadline
dl(void)
{
	return kr_deadline_after(kr_clock_mono_us(), OP_MS);
}

/* Begins `call` with r armed, then waits for exactly one answer. */
#define RUN(e, r, call)                                         \
	do {                                                    \
		memset(&(r), 0, sizeof(r));                     \
		(r).e = (e);                                    \
		(e)->in_begin = true;                           \
		assert_non_null(call);                          \
		(e)->in_begin = false;                          \
		assert_true(wait_recs((e), &(r), 1));           \
		assert_int_equal((r).calls, 1);                 \
	} while (0)

#define KIND(r) ((r).err.kind)
#define OK(r)                                                        \
	do {                                                         \
		if ((r).err.kind != KR_ERR_NONE)                     \
			fail_msg("%s: %s",                           \
				 kr_err_kind_name((r).err.kind),     \
				 (r).err.msg);                       \
	} while (0)

/* ---- set-up --------------------------------------------------------- */

static void
env_write_conf(struct env *e)
{
	struct kr_config *src;
	struct kr_err err;
	FILE *fp;
	int fd;

	assert_int_equal(kr_config_load(getenv("KR_TEST_PG_CONF"), &src, &err),
			 0);
	snprintf(e->path, sizeof(e->path), "/tmp/kr-store-XXXXXX");
	fd = mkstemp(e->path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fprintf(fp, "[workers]\ncpu_inline_max = 256\n[storage]\n"
		    "pool_high = 8\nquery_timeout = 10s\n"
		    "group_commit_max = %d\ngroup_commit_inflight = 1\n",
		GC_MAX);
	for (unsigned i = 0; i < src->n_shards; i++)
		fprintf(fp, "[shard.%u]\nprimary = %s\n", i,
			src->shards[i].primary);
	fclose(fp);
	kr_config_destroy(&src);
}

static void
env_migrate(struct env *e)
{
	for (unsigned i = 0; i < e->cfg->n_shards; i++) {
		struct kr_err err;

		if (kr_migrate_apply(e->cfg->shards[i].primary, NULL, &err) < 0)
			fail_msg("migrate shard %u: %s", i, err.msg);
	}
}

static int
env_setup(void **state)
{
	struct kr_tpool_settings io = { "io", 2, 256, 0 };
	struct kr_tpool_settings cpu = { "cpu", 1, 4096, 256 };
	struct timeval tick = { 0, 5000 };
	struct env *e;
	struct kr_err err;

	if (getenv("KR_TEST_PG_CONF") == NULL)
		return 0;
	e = kr_xcalloc(1, sizeof(*e));
	*state = e;
	env_write_conf(e);
	assert_int_equal(kr_config_load(e->path, &e->cfg, &err), 0);
	env_migrate(e);
	snprintf(e->tag, sizeof(e->tag), "t%ldp%d", (long)time(NULL),
		 (int)getpid());
	e->base = event_base_new();
	e->tick = event_new(e->base, -1, EV_PERSIST, env_on_tick, NULL);
	event_add(e->tick, &tick);
	e->io = kr_tpool_create(e->base, &io);
	e->cpu = kr_tpool_create(e->base, &cpu);
	e->metrics = kr_metrics_create();
	e->ids = kr_connmgr_define_metrics(e->metrics, e->cfg, &err);
	assert_non_null(e->ids);
	assert_int_equal(kr_metrics_map(e->metrics, 1, &err), 0);
	kr_metrics_slot_claim(kr_metrics_slot(e->metrics, 0), getpid(), 0);
	e->log = kr_log_create(STDERR_FILENO, KR_LOG_WARN, "test");
	e->mgr = kr_connmgr_create(e->base, e->io, e->cfg,
				   kr_metrics_slot(e->metrics, 0), e->ids,
				   e->log);
	e->map = kr_shardmap_create(e->cfg);
	e->store = kr_store_create(e->base, e->mgr, e->map, e->cpu, e->cfg,
				   e->log);
	return 0;
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	if (e == NULL)
		return 0;
	kr_store_destroy(&e->store);
	kr_connmgr_destroy(&e->mgr);
	kr_tpool_destroy(&e->cpu);
	kr_tpool_destroy(&e->io);
	kr_shardmap_destroy(&e->map);
	kr_connmgr_metrics_free(&e->ids);
	kr_metrics_destroy(&e->metrics);
	kr_log_destroy(&e->log);
	kr_config_destroy(&e->cfg);
	event_free(e->tick);
	event_base_free(e->base);
	unlink(e->path);
	free(e);
	return 0;
}

static int
test_setup(void **state)
{
	struct env *e = *state;

	if (e != NULL)
		e->arena = kr_arena_create(16384, 0, false);
	return 0;
}

static int
test_teardown(void **state)
{
	struct env *e = *state;

	if (e != NULL)
		kr_arena_destroy(&e->arena);
	return 0;
}

#define NEED_CLUSTER(state)              \
	do {                             \
		if (*(state) == NULL)    \
			skip();          \
	} while (0)

/* ---- helpers -------------------------------------------------------- */

/* A user handle whose strings live in the test arena. */
struct user {
	struct kr_store_user u;
	char address[128];
};

static void
addr_make(struct env *e, const char *who, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%u.%s@test.example", who, e->seq++, e->tag);
}

static int
shard_of(struct env *e, const char *addr)
{
	return kr_shardmap_shard(e->map, addr, strlen(addr));
}

static void
user_create_addr(struct env *e, const char *addr, int64_t quota,
		 struct user *u)
{
	const struct kr_store_user_create_result *res;
	struct rec r;

	RUN(e, r,
	    kr_store_user_create_begin(e->store, addr, "{PLAIN}x", quota,
				       e->arena, dl(), rec_user_create, &r));
	OK(r);
	res = r.res;
	snprintf(u->address, sizeof(u->address), "%s", res->user.address);
	u->u = res->user;
	u->u.address = u->address;
	assert_true(u->u.id > 0);
	assert_int_equal(u->u.shard, shard_of(e, u->address));
}

static void
user_new(struct env *e, const char *who, int64_t quota, struct user *u)
{
	char addr[128];

	addr_make(e, who, addr, sizeof(addr));
	user_create_addr(e, addr, quota, u);
}

/* n users all placed on one shard (names are tried until they fit). */
static void
users_on_one_shard(struct env *e, struct user *u, unsigned n)
{
	char addr[128];
	int shard = -1;

	for (unsigned made = 0; made < n;) {
		addr_make(e, "same", addr, sizeof(addr));
		if (shard < 0)
			shard = shard_of(e, addr);
		if (shard_of(e, addr) != shard)
			continue;
		user_create_addr(e, addr, 0, &u[made++]);
	}
}

static const struct kr_store_mailbox_list_result *
mailboxes(struct env *e, const struct user *u)
{
	struct rec r;

	RUN(e, r,
	    kr_store_mailbox_list_begin(e->store, &u->u, e->arena, dl(),
					rec_mb_list, &r));
	OK(r);
	return r.res;
}

static struct kr_store_mailbox
mailbox_named(struct env *e, const struct user *u, const char *name)
{
	const struct kr_store_mailbox_list_result *l = mailboxes(e, u);

	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->mailboxes[i].name, name) == 0)
			return l->mailboxes[i];
	fail_msg("no mailbox %s", name);
	return l->mailboxes[0];
}

/* Delivers body to rcpts and waits for the answer. */
static const struct kr_store_deliver_result *
deliver(struct env *e, const char *body, const struct kr_store_rcpt *rcpts,
	unsigned n, const struct kr_store_meta *meta)
{
	struct kr_store_delivery d = { .body = (const unsigned char *)body,
				       .body_len = strlen(body),
				       .rcpts = rcpts,
				       .n_rcpts = n,
				       .meta = meta };
	struct rec r;

	RUN(e, r,
	    kr_store_deliver_begin(e->store, &d, e->arena, dl(), rec_deliver,
				   &r));
	OK(r);
	assert_int_equal(((const struct kr_store_deliver_result *)r.res)->n,
			 n);
	return r.res;
}

static void
assert_stored(const struct kr_store_rcpt_result *rr)
{
	if (rr->err.kind != KR_ERR_NONE)
		fail_msg("not stored: %s: %s", kr_err_kind_name(rr->err.kind),
			 rr->err.msg);
	assert_true(rr->uid > 0 && rr->mailbox_id > 0 && rr->user_id > 0);
}

static const struct kr_store_message_list_result *
list(struct env *e, const struct user *u, int64_t mb, unsigned limit,
     int64_t before)
{
	struct rec r;

	RUN(e, r,
	    kr_store_message_list_begin(e->store, &u->u, mb, limit, before,
					e->arena, dl(), rec_list, &r));
	OK(r);
	return r.res;
}

static const struct kr_store_message_get_result *
get(struct env *e, const struct user *u, int64_t mb, int64_t uid)
{
	struct rec r;

	RUN(e, r,
	    kr_store_message_get_begin(e->store, &u->u, mb, uid, e->arena,
				       dl(), rec_get, &r));
	OK(r);
	return r.res;
}

static int64_t
delete_uids(struct env *e, const struct user *u, int64_t mb,
	    const int64_t *uids, unsigned n)
{
	struct rec r;

	RUN(e, r,
	    kr_store_message_delete_begin(e->store, &u->u, mb, uids, n,
					  e->arena, dl(), rec_delete, &r));
	OK(r);
	return ((const struct kr_store_message_delete_result *)r.res)->deleted;
}

static const struct kr_store_user_quota_result *
quota(struct env *e, const struct user *u)
{
	struct rec r;

	RUN(e, r,
	    kr_store_user_quota_begin(e->store, &u->u, e->arena, dl(),
				      rec_quota, &r));
	OK(r);
	return r.res;
}

/* bodies.refs of the body with this content on a shard; -1: no row. */
static long
body_refs(struct env *e, unsigned shard, const void *raw, size_t len)
{
	unsigned char hash[32];
	unsigned n = 0;
	const char *values[] = { (const char *)hash };
	const int lengths[] = { 32 }, formats[] = { 1 };
	PGconn *pg = PQconnectdb(e->cfg->shards[shard].primary);
	PGresult *res;
	long refs = -1;

	assert_int_equal(EVP_Digest(raw, len, hash, &n, EVP_sha256(), NULL),
			 1);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	res = PQexecParams(pg, "SELECT refs FROM bodies WHERE hash = $1", 1,
			   NULL, values, lengths, formats, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	if (PQntuples(res) == 1)
		refs = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(pg);
	return refs;
}

/* ---- tests ---------------------------------------------------------- */

static void
test_store_user_admin(void **state)
{
	struct env *e = *state;
	const struct kr_store_user_get_result *g;
	char addr[128], upper[128], lower[128];
	struct user u;
	struct rec r;

	NEED_CLUSTER(state);
	addr_make(e, "Admin", addr, sizeof(addr));
	for (size_t i = 0; i <= strlen(addr); i++) {
		char c = addr[i];

		upper[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
		lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	/* Any case in, the lower-cased address stored and placed. */
	user_create_addr(e, upper, 5000, &u);
	assert_string_equal(u.address, lower);
	RUN(e, r,
	    kr_store_user_create_begin(e->store, addr, "{PLAIN}y", 0, e->arena,
				       dl(), rec_user_create, &r));
	assert_int_equal(KIND(r), KR_ERR_CONFLICT);
	assert_int_equal(strncmp(r.err.msg, "exists", 6), 0);
	RUN(e, r,
	    kr_store_user_get_begin(e->store, addr, e->arena, dl(),
				    rec_user_get, &r));
	OK(r);
	g = r.res;
	assert_int_equal(g->user.id, u.u.id);
	assert_string_equal(g->password_hash, "{PLAIN}x");
	assert_int_equal(g->quota_bytes, 5000);
	assert_int_equal(g->used_bytes, 0);
	RUN(e, r,
	    kr_store_user_set_password_begin(e->store, addr, "{PLAIN}z", dl(),
					     rec_done, &r));
	OK(r);
	RUN(e, r,
	    kr_store_user_set_quota_begin(e->store, addr, 0, dl(), rec_done,
					  &r));
	OK(r);
	RUN(e, r,
	    kr_store_user_get_begin(e->store, addr, e->arena, dl(),
				    rec_user_get, &r));
	g = r.res;
	assert_string_equal(g->password_hash, "{PLAIN}z");
	assert_int_equal(g->quota_bytes, 0);
	RUN(e, r,
	    kr_store_user_delete_begin(e->store, addr, dl(), rec_done, &r));
	OK(r);
	RUN(e, r,
	    kr_store_user_get_begin(e->store, addr, e->arena, dl(),
				    rec_user_get, &r));
	assert_int_equal(KIND(r), KR_ERR_NOT_FOUND);
	RUN(e, r,
	    kr_store_user_delete_begin(e->store, addr, dl(), rec_done, &r));
	assert_int_equal(KIND(r), KR_ERR_NOT_FOUND);
	RUN(e, r,
	    kr_store_user_get_begin(e->store, "bad address@x", e->arena, dl(),
				    rec_user_get, &r));
	assert_int_equal(KIND(r), KR_ERR_PERMANENT);
	RUN(e, r,
	    kr_store_user_get_begin(e->store, "bad\xff@x", e->arena, dl(),
				    rec_user_get, &r));
	assert_int_equal(KIND(r), KR_ERR_PERMANENT);
}

static void
test_store_role_mailboxes(void **state)
{
	static const char *const roles[] = { "inbox", "sent", "drafts",
					     "trash", "junk" };
	struct env *e = *state;
	const struct kr_store_mailbox_list_result *l;
	struct user u;

	NEED_CLUSTER(state);
	user_new(e, "roles", 0, &u);
	l = mailboxes(e, &u);
	assert_int_equal(l->n, 5);
	assert_string_equal(l->mailboxes[0].name, "INBOX");
	for (unsigned i = 0; i < 5; i++) {
		bool found = false;

		for (unsigned j = 0; j < l->n; j++)
			found |= l->mailboxes[j].role != NULL &&
				 strcmp(l->mailboxes[j].role, roles[i]) == 0;
		assert_true(found);
		assert_int_equal(l->mailboxes[i].total, 0);
		assert_int_equal(l->mailboxes[i].uidnext, 1);
		assert_true(l->mailboxes[i].uidvalidity > 0);
	}
}

/* One message to recipients on two shards with every kind of outcome. */
static void
test_store_deliver_mixed(void **state)
{
	struct env *e = *state;
	const struct kr_store_deliver_result *res;
	const struct kr_store_message_get_result *g;
	const char *body = "Subject: mixed\r\n\r\nhello\r\n";
	char unknown[128], pa[160], pb[160];
	struct user a, b, full;
	struct kr_store_rcpt rc[6];

	NEED_CLUSTER(state);
	user_new(e, "okA", 0, &a);
	do
		user_new(e, "okB", 0, &b);
	while (b.u.shard == a.u.shard);
	user_new(e, "full", 10, &full);
	addr_make(e, "nobody", unknown, sizeof(unknown));
	snprintf(pa, sizeof(pa), "Delivered-To: %s\r\n", a.address);
	snprintf(pb, sizeof(pb), "Delivered-To: %s\r\n", b.address);
	rc[0] = (struct kr_store_rcpt){ a.address, NULL, pa, strlen(pa) };
	rc[1] = (struct kr_store_rcpt){ b.address, "Junk", pb, strlen(pb) };
	rc[2] = (struct kr_store_rcpt){ full.address, NULL, NULL, 0 };
	rc[3] = (struct kr_store_rcpt){ unknown, NULL, NULL, 0 };
	rc[4] = (struct kr_store_rcpt){ a.address, "NoSuchFolder", pa,
					strlen(pa) };
	rc[5] = (struct kr_store_rcpt){ "not an address", NULL, NULL, 0 };
	res = deliver(e, body, rc, 6, NULL);
	assert_stored(&res->rcpts[0]);
	assert_int_equal(res->rcpts[0].mailbox_id,
			 mailbox_named(e, &a, "INBOX").id);
	assert_int_equal(res->rcpts[0].user_id, a.u.id);
	assert_stored(&res->rcpts[1]);
	assert_int_equal(res->rcpts[1].mailbox_id,
			 mailbox_named(e, &b, "Junk").id);
	assert_int_equal(res->rcpts[2].err.kind, KR_ERR_LIMIT);
	assert_string_equal(res->rcpts[2].err.msg, "over quota");
	assert_int_equal(res->rcpts[3].err.kind, KR_ERR_NOT_FOUND);
	assert_stored(&res->rcpts[4]);
	assert_int_equal(res->rcpts[4].mailbox_id, res->rcpts[0].mailbox_id);
	assert_int_equal(res->rcpts[4].uid, res->rcpts[0].uid + 1);
	assert_int_equal(res->rcpts[5].err.kind, KR_ERR_PERMANENT);
	g = get(e, &a, res->rcpts[0].mailbox_id, res->rcpts[0].uid);
	assert_int_equal(g->raw_len, strlen(pa) + strlen(body));
	assert_memory_equal(g->raw, pa, strlen(pa));
	assert_memory_equal(g->raw + strlen(pa), body, strlen(body));
	assert_int_equal(mailbox_named(e, &full, "INBOX").total, 0);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Many deliveries at once into one mailbox: distinct increasing uids,
 * exact counters. */
static void
test_store_deliver_concurrent(void **state)
{
	struct env *e = *state;
	struct rec r[16];
	char bodies[16][64];
	int64_t uids[16], used = 0;
	struct kr_store_rcpt rc;
	struct kr_store_mailbox inbox;
	struct user u;

	NEED_CLUSTER(state);
	user_new(e, "conc", 0, &u);
	rc = (struct kr_store_rcpt){ u.address, NULL, NULL, 0 };
	memset(r, 0, sizeof(r));
	e->in_begin = true;
	for (int i = 0; i < 16; i++) {
		struct kr_store_delivery d = { 0 };

		r[i].e = e;
		snprintf(bodies[i], sizeof(bodies[i]),
			 "Subject: %d\r\n\r\nbody %d %s\r\n", i, i, e->tag);
		d.body = (const unsigned char *)bodies[i];
		d.body_len = strlen(bodies[i]);
		d.rcpts = &rc;
		d.n_rcpts = 1;
		used += (int64_t)d.body_len;
		assert_non_null(kr_store_deliver_begin(
			e->store, &d, e->arena, dl(), rec_deliver, &r[i]));
	}
	e->in_begin = false;
	assert_true(wait_recs(e, r, 16));
	for (int i = 0; i < 16; i++) {
		const struct kr_store_deliver_result *res = r[i].res;

		assert_int_equal(r[i].calls, 1);
		assert_stored(&res->rcpts[0]);
		uids[i] = res->rcpts[0].uid;
	}
	qsort(uids, 16, sizeof(uids[0]), cmp_i64);
	for (int i = 0; i < 16; i++)
		assert_int_equal(uids[i], i + 1);
	inbox = mailbox_named(e, &u, "INBOX");
	assert_int_equal(inbox.total, 16);
	assert_int_equal(inbox.unseen, 16);
	assert_int_equal(inbox.uidnext, 17);
	assert_int_equal(inbox.size, used);
	assert_int_equal(quota(e, &u)->messages, 16);
	assert_int_equal(quota(e, &u)->used, used);
}

/* One body to five users of one shard is stored once; the last
 * delete frees it. */
static void
test_store_deliver_dedup(void **state)
{
	struct env *e = *state;
	const struct kr_store_deliver_result *res;
	struct kr_store_rcpt rc[5];
	char body[128];
	struct user u[5];
	int64_t mb[5], uid[5];

	NEED_CLUSTER(state);
	users_on_one_shard(e, u, 5);
	snprintf(body, sizeof(body), "Subject: dedup\r\n\r\nsame for all %s\r\n",
		 e->tag);
	for (int i = 0; i < 5; i++)
		rc[i] = (struct kr_store_rcpt){ u[i].address, NULL, NULL, 0 };
	res = deliver(e, body, rc, 5, NULL);
	for (int i = 0; i < 5; i++) {
		assert_stored(&res->rcpts[i]);
		mb[i] = res->rcpts[i].mailbox_id;
		uid[i] = res->rcpts[i].uid;
	}
	assert_int_equal(body_refs(e, u[0].u.shard, body, strlen(body)), 5);
	for (int i = 0; i < 4; i++)
		assert_int_equal(delete_uids(e, &u[i], mb[i], &uid[i], 1), 1);
	assert_int_equal(body_refs(e, u[0].u.shard, body, strlen(body)), 1);
	assert_int_equal(get(e, &u[4], mb[4], uid[4])->raw_len, strlen(body));
	assert_int_equal(delete_uids(e, &u[4], mb[4], &uid[4], 1), 1);
	assert_int_equal(body_refs(e, u[0].u.shard, body, strlen(body)), -1);
}
