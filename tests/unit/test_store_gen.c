/* The store bumps the write generation (lib/genmap.h) of the user each
 * successful write wrote, before the write's callback, and of nobody
 * else; a failed write and a read bump nothing. Against a real cluster:
 * skipped unless KR_TEST_PG_CONF names a kurier.conf written by
 * ops/pgcluster (tests/integration/test_store.sh sets it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/genmap.h"
#include "storage/store.h"

#define WAIT_MS 15000
#define OP_MS 10000

#include "store_env.h"
#include "store_ops.h"

REC_FN(rec_session, struct kr_store_session_result)

static int
env_setup(void **state)
{
	return env_setup_with(state,
			      "[storage]\npool_high = 8\nquery_timeout = 10s\n",
			      -1, "g");
}

/* ---- generations ---------------------------------------------------- */

static uint64_t
gen_of(const struct env *e, const struct kr_store_user *u)
{
	return kr_genmap_get(e->gens, kr_store_user_key(u->shard, u->id));
}

/* The generations of the users a step watches, before it runs. */
struct gen_watch {
	const struct kr_store_user *who[3];
	uint64_t before[3];
	unsigned n;
};

static struct gen_watch
gen_watch(const struct env *e, const struct kr_store_user *a,
	  const struct kr_store_user *b, const struct kr_store_user *c)
{
	struct gen_watch w = { .who = { a, b, c } };

	for (w.n = 0; w.n < 3 && w.who[w.n] != NULL; w.n++)
		w.before[w.n] = gen_of(e, w.who[w.n]);
	return w;
}

/* Each watched user's generation moved by bumps[i] exactly. */
static void
gen_expect(const struct env *e, const struct gen_watch *w, const char *step,
	   const unsigned *bumps)
{
	for (unsigned i = 0; i < w->n; i++) {
		uint64_t now = gen_of(e, w->who[i]);

		if (now != w->before[i] + bumps[i])
			fail_msg("%s: user %u's generation moved by %lld, not "
				 "%u",
				 step, i, (long long)(now - w->before[i]),
				 bumps[i]);
	}
}

#define BUMPS(...) ((const unsigned[]){ __VA_ARGS__ })

/* ---- the steps ---------------------------------------------------- */

/* A writer, a bystander on the same shard when the map allows it (the
 * same connections, the same batches), and their mailboxes. */
struct fixture {
	struct kr_store_user a, b;
	int64_t a_inbox, a_trash, b_inbox;
};

static void
fixture_make(struct env *e, struct fixture *f)
{
	struct kr_store_user two[2];

	users_on_one_shard(e, two, 2);
	f->a = two[0];
	f->b = two[1];
	f->a_inbox = mailbox_named(e, &f->a, "INBOX").id;
	f->a_trash = mailbox_named(e, &f->a, "Trash").id;
	f->b_inbox = mailbox_named(e, &f->b, "INBOX").id;
}

static int64_t
append_one(struct env *e, const struct kr_store_user *u, int64_t mb)
{
	static const char raw[] = "Subject: gen\r\n\r\nhello\r\n";
	const struct kr_store_append_result *res =
		ok_res(r_append(e, u, mb, raw, sizeof(raw) - 1, NULL));

	return res->uid;
}

static struct rec
r_revoke(struct env *e, const struct kr_store_user *u, const char *sid)
{
	struct rec r;

	RUN(e, r,
	    kr_store_session_revoke_begin(e->store, u, sid, time(NULL) + 3600,
					  dl(), rec_done, &r));
	return r;
}

static struct rec
r_set_quota(struct env *e, const char *addr, int64_t quota)
{
	struct rec r;

	RUN(e, r,
	    kr_store_user_set_quota_begin(e->store, addr, quota, dl(), rec_done,
					  &r));
	return r;
}

static const struct kr_store_deliver_result *
deliver_to(struct env *e, const struct kr_store_user *u, unsigned n)
{
	struct kr_store_rcpt rc[2] = { { u[0].address, NULL, NULL, 0, 0 } };

	if (n > 1)
		rc[1].address = u[1].address;
	return deliver(e, "Subject: gen\r\n\r\ndelivered\r\n", rc, n, NULL,
		       NULL);
}

/* ---- tests ---------------------------------------------------------- */

static void
test_store_gen_each_write_bumps_its_user(void **state)
{
	struct env *e = *state;
	struct fixture f;
	struct gen_watch w;
	struct kr_store_user ab[2];
	const struct kr_store_mailbox *mb;
	int64_t uid, copy;
	char sid[KR_STORE_SID_LEN + 1];

	NEED_CLUSTER(state);
	fixture_make(e, &f);
	/* Nothing else wrote the new users: their creation was one bump. */
	assert_int_equal(gen_of(e, &f.a), 1);
	assert_int_equal(gen_of(e, &f.b), 1);

	w = gen_watch(e, &f.a, &f.b, NULL);
	uid = append_one(e, &f.a, f.a_inbox);
	gen_expect(e, &w, "append", BUMPS(1, 0));

	w = gen_watch(e, &f.a, &f.b, NULL);
	OK(r_flags(e, &f.a, f.a_inbox, &uid, 1, "\\Seen", NULL));
	gen_expect(e, &w, "flags", BUMPS(1, 0));

	w = gen_watch(e, &f.a, &f.b, NULL);
	copy = RES(kr_store_message_move_result,
		   r_move(e, &f.a, true, f.a_inbox, uid, f.a_trash))
		       ->uids[0]
		       .new_uid;
	gen_expect(e, &w, "copy", BUMPS(1, 0));

	w = gen_watch(e, &f.a, &f.b, NULL);
	OK(r_move(e, &f.a, false, f.a_inbox, uid, f.a_trash));
	gen_expect(e, &w, "move", BUMPS(1, 0));

	w = gen_watch(e, &f.a, &f.b, NULL);
	OK(r_delete(e, &f.a, f.a_trash, copy));
	gen_expect(e, &w, "delete", BUMPS(1, 0));

	w = gen_watch(e, &f.a, &f.b, NULL);
	mb = RES(kr_store_mailbox, r_mb_create(e, &f.a, "Gen"));
	gen_expect(e, &w, "mailbox create", BUMPS(1, 0));
	w = gen_watch(e, &f.a, &f.b, NULL);
	OK(r_mb_rename(e, &f.a, mb->id, "Gen2"));
	gen_expect(e, &w, "mailbox rename", BUMPS(1, 0));
	w = gen_watch(e, &f.a, &f.b, NULL);
	OK(r_mb_delete(e, &f.a, mb->id));
	gen_expect(e, &w, "mailbox delete", BUMPS(1, 0));

	/* A delivery bumps each recipient it stored, once. */
	w = gen_watch(e, &f.a, &f.b, NULL);
	assert_stored(&deliver_to(e, &f.a, 1)->rcpts[0]);
	gen_expect(e, &w, "delivery to a", BUMPS(1, 0));
	ab[0] = f.a;
	ab[1] = f.b;
	w = gen_watch(e, &f.a, &f.b, NULL);
	assert_stored(&deliver_to(e, ab, 2)->rcpts[1]);
	gen_expect(e, &w, "delivery to a and b", BUMPS(1, 1));

	w = gen_watch(e, &f.a, &f.b, NULL);
	snprintf(sid, sizeof(sid), "%08x%08x%016x", (unsigned)time(NULL),
		 (unsigned)getpid(), 0x6e6e6e6eu);
	OK(r_revoke(e, &f.a, sid));
	gen_expect(e, &w, "session revoke", BUMPS(1, 0));

	/* By address: the id comes from the statement that wrote. */
	w = gen_watch(e, &f.a, &f.b, NULL);
	OK(r_set_quota(e, f.a.address, 1 << 20));
	gen_expect(e, &w, "quota", BUMPS(1, 0));
	w = gen_watch(e, &f.a, &f.b, NULL);
	OK(r_user_delete(e, f.a.address));
	gen_expect(e, &w, "user delete", BUMPS(1, 0));
}

/* The password by address, as the CLI sets it: sessions end, and so
 * must the cached ones. */
static void
test_store_gen_password_bumps(void **state)
{
	struct env *e = *state;
	struct fixture f;
	struct gen_watch w;
	struct rec r;

	NEED_CLUSTER(state);
	fixture_make(e, &f);
	w = gen_watch(e, &f.a, &f.b, NULL);
	RUN(e, r,
	    kr_store_user_set_password_begin(e->store, f.a.address, "{PLAIN}n",
					     dl(), rec_done, &r));
	OK(r);
	gen_expect(e, &w, "password", BUMPS(1, 0));
}

static void
test_store_gen_failed_writes_bump_nothing(void **state)
{
	struct env *e = *state;
	static const char raw[] = "Subject: x\r\n\r\nx\r\n";
	struct fixture f;
	struct kr_store_user full;
	struct gen_watch w;
	int64_t uid = 1;

	NEED_CLUSTER(state);
	fixture_make(e, &f);
	full = user_new(e, "full", 1);
	w = gen_watch(e, &f.a, &f.b, &full);
	/* Another user's mailbox, refused by the SQL. */
	assert_int_equal(
		KIND(r_flags(e, &f.a, f.b_inbox, &uid, 1, "\\Seen", NULL)),
		KR_ERR_NOT_FOUND);
	assert_int_equal(KIND(r_move(e, &f.a, true, f.b_inbox, 1, f.a_inbox)),
			 KR_ERR_NOT_FOUND);
	assert_int_equal(KIND(r_mb_create(e, &f.a, "Trash")), KR_ERR_CONFLICT);
	assert_int_equal(KIND(r_mb_rename(e, &f.a, f.a_inbox, "X")),
			 KR_ERR_PERMANENT);
	assert_int_equal(KIND(r_mb_delete(e, &f.a, f.b_inbox)),
			 KR_ERR_NOT_FOUND);
	/* Refused before anything is sent. */
	assert_int_equal(KIND(r_mb_create(e, &f.a, "")), KR_ERR_PERMANENT);
	assert_int_equal(KIND(r_revoke(e, &f.a, "not-a-sid")),
			 KR_ERR_PERMANENT);
	/* Over quota: nothing stored, nothing bumped. */
	assert_int_equal(
		KIND(r_append(e, &full, mailbox_named(e, &full, "INBOX").id,
			      raw, sizeof(raw) - 1, NULL)),
		KR_ERR_QUOTA);
	assert_int_equal(deliver_to(e, &full, 1)->rcpts[0].err.kind,
			 KR_ERR_QUOTA);
	assert_int_equal(KIND(r_set_quota(e, "nobody.gen@test.example", 0)),
			 KR_ERR_NOT_FOUND);
	assert_int_equal(KIND(r_user_delete(e, "nobody.gen@test.example")),
			 KR_ERR_NOT_FOUND);
	gen_expect(e, &w, "failed writes", BUMPS(0, 0, 0));
}

static void
test_store_gen_reads_bump_nothing(void **state)
{
	struct env *e = *state;
	struct fixture f;
	struct gen_watch w;
	struct rec r;
	int64_t uid;

	NEED_CLUSTER(state);
	fixture_make(e, &f);
	uid = append_one(e, &f.a, f.a_inbox);
	w = gen_watch(e, &f.a, &f.b, NULL);
	OK(r_mb_list(e, &f.a));
	OK(r_list(e, &f.a, f.a_inbox, 10, 0));
	OK(r_get(e, &f.a, f.a_inbox, uid));
	OK(r_quota(e, &f.a));
	OK(r_changes(e, &f.a, 0));
	OK(r_user_get(e, f.a.address));
	RUN(e, r,
	    kr_store_session_check_begin(e->store, f.a.shard, f.a.id,
					 "00112233445566778899aabbccddeeff", 0,
					 e->arena, dl(), rec_session, &r));
	OK(r);
	gen_expect(e, &w, "reads", BUMPS(0, 0));
}

/* Without a map (the CLI, tools) every write still works. */
static void
test_store_gen_no_map(void **state)
{
	struct env *e = *state;
	struct kr_store *store;
	struct fixture f;
	struct gen_watch w;
	struct kr_store_append msg = { .raw = (const unsigned char *)"S: x\r\n",
				       .raw_len = 6 };
	struct rec r;

	NEED_CLUSTER(state);
	fixture_make(e, &f);
	store = kr_store_create(e->base, e->mgr, e->map, e->cpu, NULL, e->cfg,
				e->log);
	msg.mailbox_id = f.a_inbox;
	w = gen_watch(e, &f.a, &f.b, NULL);
	RUN(e, r,
	    kr_store_append_begin(store, &f.a, &msg, e->arena, dl(), rec_append,
				  &r));
	OK(r);
	gen_expect(e, &w, "append without a map", BUMPS(0, 0));
	kr_store_destroy(&store);
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_gen_each_write_bumps_its_user),
		T(test_store_gen_password_bumps),
		T(test_store_gen_failed_writes_bump_nothing),
		T(test_store_gen_reads_bump_nothing),
		T(test_store_gen_no_map),
	};

	return cmocka_run_group_tests_name("store_gen", tests, env_setup,
					   env_teardown);
}
