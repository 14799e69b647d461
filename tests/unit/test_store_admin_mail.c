/* cmocka tests for storage/store_admin_mail: one user's account,
 * mailboxes, appends with an internal date and the message walk, as
 * `kurier user show` and the Maildir import and export use them.
 * Against a real cluster: skipped unless KR_TEST_PG_CONF names a
 * kurier.conf written by ops/pgcluster (tests/integration/
 * test_maildir.sh runs them on its cluster). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/limits.h"
#include "storage/shardmap.h"
#include "storage/store.h"
#include "storage/store_admin.h"

#include "conf_env.h"

struct env {
	struct kr_config *cfg;
	struct kr_shardmap *map;
	struct kr_store_admin *adm;
	char addr[128];
	struct kr_store_admin_account acct;
};

static int
env_setup(void **state)
{
	const char *path = getenv("KR_TEST_PG_CONF");
	struct kr_err err;
	struct env *e;
	int shard;

	*state = NULL;
	if (path == NULL || path[0] == '\0')
		return 0;
	e = calloc(1, sizeof(*e));
	if (kr_config_load(path, &e->cfg, &err) < 0)
		fail_msg("%s", err.msg);
	e->map = kr_shardmap_create(e->cfg);
	e->adm = kr_store_admin_create(e->cfg, e->map, 10000);
	snprintf(e->addr, sizeof(e->addr), "Mail.%ld.%ld@Admin.Example",
		 (long)getpid(), (long)time(NULL));
	if (kr_store_admin_user_create(e->adm, e->addr, "{PLAIN}x", 0, &shard,
				       &err) < 0 ||
	    kr_store_admin_account_get(e->adm, e->addr, &e->acct, &err) < 0)
		fail_msg("%s", err.msg);
	*state = e;
	return 0;
}

static int
env_teardown(void **state)
{
	struct env *e = *state;
	int shard;

	if (e == NULL)
		return 0;
	(void)kr_store_admin_user_delete(e->adm, e->addr, &shard, NULL);
	kr_store_admin_destroy(&e->adm);
	kr_shardmap_destroy(&e->map);
	kr_config_destroy(&e->cfg);
	free(e);
	return 0;
}

static void
test_account_get(void **state)
{
	struct env *e = *state;
	struct kr_store_admin_account a;
	struct kr_err err;
	char lower[128];

	NEED_CLUSTER(state);
	for (size_t i = 0; i <= strlen(e->addr); i++)
		lower[i] = (char)(e->addr[i] >= 'A' && e->addr[i] <= 'Z'
					  ? e->addr[i] - 'A' + 'a'
					  : e->addr[i]);
	assert_string_equal(e->acct.address, lower);
	assert_int_equal(e->acct.shard,
			 kr_shardmap_shard(e->map, lower, strlen(lower)));
	assert_int_equal(e->acct.bucket,
			 kr_shardmap_bucket(lower, strlen(lower)));
	assert_true(e->acct.id > 0);
	assert_int_equal(e->acct.quota_bytes, 0);
	/* No such user: NOT_FOUND, placed all the same. */
	assert_int_equal(kr_store_admin_account_get(
				 e->adm, "nobody@admin.example", &a, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_NOT_FOUND);
	assert_string_equal(a.address, "nobody@admin.example");
	assert_int_equal(a.shard, kr_shardmap_shard(e->map, a.address,
						    strlen(a.address)));
	/* Not an address: refused before any statement. */
	assert_int_equal(
		kr_store_admin_account_get(e->adm, "no at sign", &a, &err), -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
}

struct boxes {
	int64_t inbox, named;
	const char *name;
	unsigned n;
	int64_t named_total;
};

static void
boxes_cb(void *ctx, const struct kr_store_admin_mailbox *mb)
{
	struct boxes *b = ctx;

	if (b->n++ == 0) {
		assert_non_null(mb->role);
		assert_string_equal(mb->role, "inbox");
		b->inbox = mb->id;
	}
	if (b->name != NULL && strcmp(mb->name, b->name) == 0) {
		b->named = mb->id;
		b->named_total = mb->total;
	}
}

struct walk {
	unsigned n;
	int64_t dates[4], uids[4];
	size_t lens[4];
	unsigned n_flags[4];
	char first_flag[4][32];
	int stop_at; /* -1 + KR_ERR_LIMIT at this message (0: never) */
};

static int
walk_cb(void *ctx, const struct kr_store_admin_message *m, struct kr_err *err_r)
{
	struct walk *w = ctx;

	if (w->stop_at != 0 && (int)w->n + 1 == w->stop_at)
		return kr_err_set(err_r, KR_ERR_LIMIT, "stop");
	assert_true(w->n < 4);
	assert_int_equal(m->raw[m->raw_len], '\0');
	w->dates[w->n] = m->internal_date;
	w->uids[w->n] = m->uid;
	w->lens[w->n] = m->raw_len;
	w->n_flags[w->n] = m->n_flags;
	snprintf(w->first_flag[w->n], sizeof(w->first_flag[0]), "%s",
		 m->n_flags > 0 ? m->flags[0] : "");
	w->n++;
	return 0;
}

static void
test_append_and_walk(void **state)
{
	struct env *e = *state;
	static const char msg[] =
		"From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n";
	const char *flags[] = { "\\Seen", "$Label1" };
	struct kr_store_admin_append ap = {
		.raw = (const unsigned char *)msg,
		.raw_len = sizeof(msg) - 1,
		.flags = flags,
		.n_flags = 2,
		.internal_date = 1500000000,
	};
	struct boxes b = { .name = "Imported/Sub" };
	struct walk w = { 0 };
	struct kr_store_admin_account acct;
	struct kr_err err;
	int64_t id, uid;

	NEED_CLUSTER(state);
	assert_int_equal(kr_store_admin_mailbox_create(
				 e->adm, &e->acct, "Imported/Sub", &id, &err),
			 0);
	assert_int_equal(kr_store_admin_mailbox_create(
				 e->adm, &e->acct, "Imported/Sub", &id, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_CONFLICT);
	ap.mailbox_id = id;
	assert_int_equal(
		kr_store_admin_append(e->adm, &e->acct, &ap, &uid, &err), 0);
	assert_int_equal(uid, 1);
	ap.internal_date = 1600000000;
	ap.n_flags = 0;
	assert_int_equal(
		kr_store_admin_append(e->adm, &e->acct, &ap, &uid, &err), 0);
	assert_int_equal(uid, 2);
	/* A bad flag, a message over the store's limit, no such mailbox:
	 * refused, nothing stored. */
	flags[0] = "bad flag";
	ap.n_flags = 1;
	assert_int_equal(
		kr_store_admin_append(e->adm, &e->acct, &ap, &uid, &err), -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	ap.n_flags = 0;
	ap.raw_len = (size_t)KR_STORE_MESSAGE_MAX + 1;
	assert_int_equal(
		kr_store_admin_append(e->adm, &e->acct, &ap, &uid, &err), -1);
	assert_int_equal(err.kind, KR_ERR_TOO_LARGE);
	ap.raw_len = sizeof(msg) - 1;
	ap.mailbox_id = 0;
	assert_int_equal(
		kr_store_admin_append(e->adm, &e->acct, &ap, &uid, &err), -1);
	assert_int_equal(err.kind, KR_ERR_NOT_FOUND);
	assert_int_equal(kr_store_admin_mailbox_list(e->adm, &e->acct, boxes_cb,
						     &b, &err),
			 0);
	assert_int_equal(b.named, id);
	assert_int_equal(b.named_total, 2);
	assert_int_equal(kr_store_admin_message_each(e->adm, &e->acct, id,
						     walk_cb, &w, &err),
			 0);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.uids[0], 1);
	assert_int_equal(w.dates[0], 1500000000);
	assert_int_equal(w.dates[1], 1600000000);
	assert_int_equal(w.lens[0], sizeof(msg) - 1);
	assert_int_equal(w.n_flags[0], 2);
	assert_int_equal(w.n_flags[1], 0);
	/* The callback's error stops the walk and is the answer. */
	w = (struct walk){ .stop_at = 2 };
	assert_int_equal(kr_store_admin_message_each(e->adm, &e->acct, id,
						     walk_cb, &w, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	assert_int_equal(w.n, 1);
	/* The account counts what was appended. */
	assert_int_equal(
		kr_store_admin_account_get(e->adm, e->addr, &acct, &err), 0);
	assert_int_equal(acct.messages, 2);
	assert_int_equal(acct.used_bytes, 2 * (int64_t)(sizeof(msg) - 1));
}

static void
test_append_over_quota(void **state)
{
	struct env *e = *state;
	static const char msg[] = "Subject: q\r\n\r\n0123456789\r\n";
	struct kr_store_admin_append ap = {
		.raw = (const unsigned char *)msg,
		.raw_len = sizeof(msg) - 1,
		.internal_date = 1,
	};
	struct kr_store_admin_account acct;
	struct boxes b = { 0 };
	struct kr_err err;
	int64_t uid;
	int shard;

	NEED_CLUSTER(state);
	assert_int_equal(
		kr_store_admin_account_get(e->adm, e->addr, &acct, &err), 0);
	assert_int_equal(
		kr_store_admin_mailbox_list(e->adm, &acct, boxes_cb, &b, &err),
		0);
	ap.mailbox_id = b.inbox;
	/* Room for exactly one more message. */
	assert_int_equal(kr_store_admin_user_set_quota(
				 e->adm, e->addr,
				 acct.used_bytes + (int64_t)ap.raw_len, &shard,
				 &err),
			 0);
	assert_int_equal(kr_store_admin_append(e->adm, &acct, &ap, &uid, &err),
			 0);
	assert_int_equal(kr_store_admin_append(e->adm, &acct, &ap, &uid, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_QUOTA);
	assert_int_equal(
		kr_store_admin_user_set_quota(e->adm, e->addr, 0, &shard, &err),
		0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_account_get),
		cmocka_unit_test(test_append_and_walk),
		cmocka_unit_test(test_append_over_quota),
	};

	return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
