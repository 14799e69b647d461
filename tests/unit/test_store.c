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

#include "store_env.h"
#include "store_ops.h"

/* ---- set-up --------------------------------------------------------- */

static int
env_setup(void **state)
{
	char head[192];

	snprintf(head, sizeof(head),
		 "[workers]\ncpu_inline_max = 256\n[storage]\n"
		 "pool_high = 8\nquery_timeout = 10s\n"
		 "group_commit_max = %d\ngroup_commit_inflight = 1\n",
		 GC_MAX);
	return env_setup_with(state, head, -1, "t");
}

/* ---- helpers -------------------------------------------------------- */

/* An integer column (refs, zlib::int) of the bodies row with this
 * content on a shard; -1: no row. */
static long
body_field(struct env *e, unsigned shard, const void *raw, size_t len,
	   const char *col)
{
	unsigned char hash[32];
	unsigned n = 0;
	const char *values[] = { (const char *)hash };
	const int lengths[] = { 32 }, formats[] = { 1 };
	PGconn *pg = PQconnectdb(e->cfg->shards[shard].primary);
	PGresult *res;
	long refs = -1;

	assert_int_equal(EVP_Digest(raw, len, hash, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	char sql[96];

	snprintf(sql, sizeof(sql), "SELECT %s FROM bodies WHERE hash = $1",
		 col);
	res = PQexecParams(pg, sql, 1, NULL, values, lengths, formats, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	if (PQntuples(res) == 1)
		refs = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(pg);
	return refs;
}

static long
body_refs(struct env *e, unsigned shard, const void *raw, size_t len)
{
	return body_field(e, shard, raw, len, "refs");
}

static bool
has_flag(const char *const *flags, unsigned n, const char *flag)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(flags[i], flag) == 0)
			return true;
	return false;
}

static const struct kr_store_change *
find_change(const struct kr_store_user_changes_result *c,
	    enum kr_store_change_kind kind, int64_t mb, int64_t uid)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->changes[i].kind == kind &&
		    c->changes[i].mailbox_id == mb && c->changes[i].uid == uid)
			return &c->changes[i];
	return NULL;
}

/* Three messages with metadata into u's INBOX: uids 1, 2, 3. */
static void
ops_fill(struct env *e, const struct kr_store_user *u, char bodies[3][160],
	 const char *prefix)
{
	static const struct kr_store_addr to[] = { { "Bob",
						     "bob@example.org" } };
	static const struct kr_store_attachment att[] = {
		{ "2", "a.pdf", "application/pdf", 1234 }
	};
	struct kr_store_rcpt rc = { u->address, NULL, prefix, strlen(prefix),
				    0 };

	for (int i = 0; i < 3; i++) {
		char subject[64];
		struct kr_store_meta meta = {
			.has_date = true,
			.date = 1700000000 + (i + 1) * 3600,
			.from_name = "Alice \xc5\xbb",
			.from_email = "alice@example.org",
			.to = to,
			.n_to = 1,
			.subject = subject,
			.message_id = "<m@example.org>",
			.preview = "preview text",
			.has_attachments = i == 2,
			.attachments = i == 2 ? att : NULL,
			.n_attachments = i == 2 ? 1 : 0,
			.search_terms = i == 1 ? "zebra" : "plain",
		};
		const struct kr_store_deliver_result *res;

		snprintf(subject, sizeof(subject), "Subject %d", i + 1);
		snprintf(bodies[i], 160, "Subject: %s\r\n\r\nBody %d %s\r\n",
			 subject, i + 1, e->tag);
		res = deliver(e, bodies[i], &rc, 1, &meta,
			      i == 2 ? "\\Flagged" : NULL);
		assert_stored(&res->rcpts[0]);
		assert_int_equal(res->rcpts[0].uid, i + 1);
	}
}

/* Issues n one-recipient deliveries at once, round robin over users. */
static void
deliver_many(struct env *e, struct kr_store *store,
	     const struct kr_store_user *u, unsigned n_users, struct rec *r,
	     unsigned n)
{
	memset(r, 0, n * sizeof(*r));
	e->in_begin = true;
	for (unsigned i = 0; i < n; i++) {
		struct kr_store_rcpt rc = { u[i % n_users].address, NULL, NULL,
					    0, 0 };
		char body[96];
		struct kr_store_delivery d = {
			.body = (const unsigned char *)body,
			.rcpts = &rc,
			.n_rcpts = 1,
		};

		r[i].e = e;
		snprintf(body, sizeof(body), "Subject: %u\r\n\r\n%u %s\r\n", i,
			 i, e->tag);
		d.body_len = strlen(body);
		assert_non_null(kr_store_deliver_begin(
			store, &d, e->arena, dl(), rec_deliver, &r[i]));
	}
	e->in_begin = false;
}

/* ---- tests ---------------------------------------------------------- */

static void
test_store_user_admin(void **state)
{
	struct env *e = *state;
	const struct kr_store_user_get_result *g;
	char addr[128], upper[128], lower[128];
	struct kr_store_user u;
	struct rec r;

	NEED_CLUSTER(state);
	addr_make(e, "Admin", addr, sizeof(addr));
	for (size_t i = 0; i <= strlen(addr); i++) {
		char c = addr[i];

		upper[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
		lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	/* Any case in; the lower-cased address is stored and placed. */
	u = user_at(e, upper, 5000);
	assert_string_equal(u.address, lower);
	r = r_user_create(e, addr, 0);
	assert_int_equal(KIND(r), KR_ERR_CONFLICT);
	assert_int_equal(strncmp(r.err.msg, "exists", 6), 0);
	g = ok_res(r_user_get(e, addr));
	assert_int_equal(g->user.id, u.id);
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
	g = ok_res(r_user_get(e, addr));
	assert_string_equal(g->password_hash, "{PLAIN}z");
	assert_int_equal(g->quota_bytes, 0);
	OK(r_user_delete(e, addr));
	assert_int_equal(KIND(r_user_get(e, addr)), KR_ERR_NOT_FOUND);
	assert_int_equal(KIND(r_user_delete(e, addr)), KR_ERR_NOT_FOUND);
	assert_int_equal(KIND(r_user_get(e, "bad address@x")),
			 KR_ERR_PERMANENT);
	assert_int_equal(KIND(r_user_get(e, "bad\xff@x")), KR_ERR_PERMANENT);
}

static void
test_store_role_mailboxes(void **state)
{
	static const char *const roles[] = { "inbox", "sent", "drafts", "trash",
					     "junk" };
	struct env *e = *state;
	const struct kr_store_mailbox_list_result *l;
	struct kr_store_user u;

	NEED_CLUSTER(state);
	u = user_new(e, "roles", 0);
	l = ok_res(r_mb_list(e, &u));
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
	char unknown[128], pa[160];
	struct kr_store_user a, b, full;
	struct kr_store_rcpt rc[6];

	NEED_CLUSTER(state);
	a = user_new(e, "okA", 0);
	do
		b = user_new(e, "okB", 0);
	while (b.shard == a.shard);
	full = user_new(e, "full", 10);
	addr_make(e, "nobody", unknown, sizeof(unknown));
	snprintf(pa, sizeof(pa), "Delivered-To: %s\r\n", a.address);
	rc[0] = (struct kr_store_rcpt){ a.address, NULL, pa, strlen(pa), 0 };
	rc[1] = (struct kr_store_rcpt){ b.address, "Junk", "X: y\r\n", 6, 0 };
	rc[2] = (struct kr_store_rcpt){ full.address, NULL, NULL, 0, 0 };
	rc[3] = (struct kr_store_rcpt){ unknown, NULL, NULL, 0, 0 };
	rc[4] = (struct kr_store_rcpt){ a.address, "NoSuch", pa, strlen(pa),
					0 };
	rc[5] = (struct kr_store_rcpt){ "not an address", NULL, NULL, 0, 0 };
	res = deliver(e, body, rc, 6, NULL, NULL);
	assert_stored(&res->rcpts[0]);
	assert_int_equal(res->rcpts[0].mailbox_id,
			 mailbox_named(e, &a, "INBOX").id);
	assert_int_equal(res->rcpts[0].user_id, a.id);
	assert_stored(&res->rcpts[1]);
	assert_int_equal(res->rcpts[1].mailbox_id,
			 mailbox_named(e, &b, "Junk").id);
	assert_int_equal(res->rcpts[2].err.kind, KR_ERR_QUOTA);
	assert_string_equal(res->rcpts[2].err.msg, "over quota");
	assert_int_equal(res->rcpts[3].err.kind, KR_ERR_NOT_FOUND);
	assert_stored(&res->rcpts[4]); /* unknown folder: INBOX */
	assert_int_equal(res->rcpts[4].mailbox_id, res->rcpts[0].mailbox_id);
	assert_int_equal(res->rcpts[4].uid, res->rcpts[0].uid + 1);
	assert_int_equal(res->rcpts[5].err.kind, KR_ERR_PERMANENT);
	g = ok_res(r_get(e, &a, res->rcpts[0].mailbox_id, res->rcpts[0].uid));
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
	const struct kr_store_user_quota_result *q;
	struct env *e = *state;
	struct kr_store_mailbox inbox;
	struct kr_store_user u;
	int64_t uids[16], used = 0;
	struct rec r[16];

	NEED_CLUSTER(state);
	u = user_new(e, "conc", 0);
	deliver_many(e, e->store, &u, 1, r, 16);
	assert_true(wait_recs(e, r, 16));
	for (int i = 0; i < 16; i++) {
		const struct kr_store_deliver_result *res = ok_res(r[i]);
		char body[96];

		assert_int_equal(r[i].calls, 1);
		assert_stored(&res->rcpts[0]);
		uids[i] = res->rcpts[0].uid;
		used += snprintf(body, sizeof(body),
				 "Subject: %d\r\n\r\n%d %s\r\n", i, i, e->tag);
	}
	qsort(uids, 16, sizeof(uids[0]), cmp_i64);
	for (int i = 0; i < 16; i++)
		assert_int_equal(uids[i], i + 1);
	inbox = mailbox_named(e, &u, "INBOX");
	assert_int_equal(inbox.total, 16);
	assert_int_equal(inbox.unseen, 16);
	assert_int_equal(inbox.uidnext, 17);
	assert_int_equal(inbox.size, used);
	q = ok_res(r_quota(e, &u));
	assert_int_equal(q->messages, 16);
	assert_int_equal(q->used, used);
}

/* One body to five users of one shard, each with its own prefix (as
 * LMTP's Delivered-To), is stored once; every user reads back exactly
 * his prefix + the body and is charged for both; the last delete frees
 * the body. */
static void
test_store_deliver_dedup(void **state)
{
	struct env *e = *state;
	const struct kr_store_deliver_result *res;
	const struct kr_store_message_get_result *g;
	struct kr_store_rcpt rc[5];
	struct kr_store_user u[5];
	char body[128], prefix[5][192];
	size_t len, plen[5];

	NEED_CLUSTER(state);
	users_on_one_shard(e, u, 5);
	len = (size_t)snprintf(body, sizeof(body),
			       "Subject: dedup\r\n\r\nsame for all %s\r\n",
			       e->tag);
	for (int i = 0; i < 5; i++) {
		plen[i] = (size_t)snprintf(
			prefix[i], sizeof(prefix[i]),
			"Return-Path: <s@example.org>\r\nDelivered-To: %s\r\n",
			u[i].address);
		rc[i] = (struct kr_store_rcpt){ u[i].address, NULL, prefix[i],
						plen[i], 0 };
	}
	res = deliver(e, body, rc, 5, NULL, NULL);
	for (int i = 0; i < 5; i++)
		assert_stored(&res->rcpts[i]);
	assert_int_equal(body_refs(e, u[0].shard, body, len), 5);
	for (int i = 0; i < 5; i++) {
		g = ok_res(r_get(e, &u[i], res->rcpts[i].mailbox_id,
				 res->rcpts[i].uid));
		assert_int_equal(g->raw_len, plen[i] + len);
		assert_memory_equal(g->raw, prefix[i], plen[i]);
		assert_memory_equal(g->raw + plen[i], body, len);
		assert_int_equal(g->raw[g->raw_len], '\0');
		assert_int_equal(g->size, (int64_t)(plen[i] + len));
		assert_int_equal(
			RES(kr_store_user_quota_result, r_quota(e, &u[i]))
				->used,
			(int64_t)(plen[i] + len));
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(
			RES(kr_store_message_delete_result,
			    r_delete(e, &u[i], res->rcpts[i].mailbox_id,
				     res->rcpts[i].uid))
				->deleted,
			1);
	assert_int_equal(body_refs(e, u[0].shard, body, len), 1);
	g = ok_res(
		r_get(e, &u[4], res->rcpts[4].mailbox_id, res->rcpts[4].uid));
	assert_int_equal(g->raw_len, plen[4] + len);
	assert_memory_equal(g->raw, prefix[4], plen[4]);
	assert_memory_equal(g->raw + plen[4], body, len);
	OK(r_delete(e, &u[4], res->rcpts[4].mailbox_id, res->rcpts[4].uid));
	assert_int_equal(body_refs(e, u[0].shard, body, len), -1);
}

/* Recipients with the ids their RCPT look-ups found: stored without a
 * look-up of the batch's own; an id that is not the address's user's
 * (stale) is a temporary error and stores nothing. */
static void
test_store_deliver_ids(void **state)
{
	struct env *e = *state;
	const struct kr_store_deliver_result *res;
	struct kr_store_rcpt rc[2];
	struct kr_store_user u[2];

	NEED_CLUSTER(state);
	users_on_one_shard(e, u, 2);
	rc[0] = (struct kr_store_rcpt){ .address = u[0].address,
					.user_id = u[0].id };
	rc[1] = (struct kr_store_rcpt){ .address = u[1].address,
					.user_id = u[1].id };
	res = deliver(e, "Subject: ids\r\n\r\nx\r\n", rc, 2, NULL, NULL);
	for (int i = 0; i < 2; i++) {
		assert_stored(&res->rcpts[i]);
		assert_int_equal(res->rcpts[i].user_id, u[i].id);
		assert_int_equal(res->rcpts[i].mailbox_id,
				 mailbox_named(e, &u[i], "INBOX").id);
	}
	rc[1].user_id = u[0].id;
	res = deliver(e, "Subject: ids\r\n\r\ny\r\n", &rc[1], 1, NULL, NULL);
	assert_int_equal(res->rcpts[0].err.kind, KR_ERR_TEMPORARY);
	assert_int_equal(mailbox_named(e, &u[1], "INBOX").total, 1);
	assert_int_equal(mailbox_named(e, &u[0], "INBOX").total, 1);
}

/* A body packed ahead (kr_store_body_pack, as the delivery's parse
 * job does) is stored like one the store packs: compressed when that
 * pays, raw otherwise, once per shard, read back byte for byte. A
 * delivery refused before any recipient still frees it (ASan). */
static void
test_store_deliver_packed(void **state)
{
	struct env *e = *state;
	unsigned char bodies[2][3000];
	struct kr_store_rcpt rc[2];
	struct kr_store_user u[2];
	uint32_t x = 2463534242u;

	NEED_CLUSTER(state);
	users_on_one_shard(e, u, 2);
	for (size_t i = 0; i < sizeof(bodies[0]); i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		bodies[0][i] = (unsigned char)("abc \r\n"[i % 6]);
		bodies[1][i] = (unsigned char)x; /* does not compress */
	}
	memcpy(bodies[0] + 10, e->tag, strlen(e->tag));
	memcpy(bodies[1] + 10, e->tag, strlen(e->tag));
	for (int b = 0; b < 2; b++) {
		const struct kr_store_deliver_result *res;
		struct kr_store_delivery d = {
			.body = bodies[b],
			.body_len = sizeof(bodies[b]),
			.rcpts = rc,
			.n_rcpts = 2,
			.packed = kr_store_body_pack(bodies[b],
						     sizeof(bodies[b])),
		};
		struct rec r;

		for (int i = 0; i < 2; i++)
			rc[i] = (struct kr_store_rcpt){ u[i].address, NULL,
							"P: q\r\n", 6, 0 };
		RUN(e, r,
		    kr_store_deliver_begin(e->store, &d, e->arena, dl(),
					   rec_deliver, &r));
		res = ok_res(r);
		for (int i = 0; i < 2; i++) {
			const struct kr_store_message_get_result *g;

			assert_stored(&res->rcpts[i]);
			g = ok_res(r_get(e, &u[i], res->rcpts[i].mailbox_id,
					 res->rcpts[i].uid));
			assert_int_equal(g->raw_len, 6 + sizeof(bodies[b]));
			assert_memory_equal(g->raw, "P: q\r\n", 6);
			assert_memory_equal(g->raw + 6, bodies[b],
					    sizeof(bodies[b]));
		}
		assert_int_equal(
			body_refs(e, u[0].shard, bodies[b], sizeof(bodies[b])),
			2);
		assert_int_equal(body_field(e, u[0].shard, bodies[b],
					    sizeof(bodies[b]), "zlib::int"),
				 b == 0);
	}
	{
		struct kr_store_delivery d = {
			.body = bodies[0],
			.body_len = 1,
			.rcpts = rc,
			.n_rcpts = 0,
			.packed = kr_store_body_pack(bodies[0], 1),
		};
		struct rec r;

		RUN(e, r,
		    kr_store_deliver_begin(e->store, &d, e->arena, dl(),
					   rec_deliver, &r));
		assert_int_equal(r.err.kind, KR_ERR_PERMANENT);
	}
}

static void
test_store_message_list(void **state)
{
	struct env *e = *state;
	const struct kr_store_message_list_result *l;
	const char *prefix = "Delivered-To: x\r\n";
	char bodies[3][160];
	struct kr_store_user u;
	int64_t inbox;

	NEED_CLUSTER(state);
	u = user_new(e, "list", 0);
	ops_fill(e, &u, bodies, prefix);
	inbox = mailbox_named(e, &u, "INBOX").id;
	l = ok_res(r_list(e, &u, inbox, 0, 0));
	assert_int_equal(l->total, 3);
	assert_int_equal(l->n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(l->messages[i].uid, 3 - i); /* newest first */
		assert_int_equal(l->messages[i].mailbox_id, inbox);
	}
	assert_string_equal(l->messages[0].subject, "Subject 3");
	assert_string_equal(l->messages[0].from_name, "Alice \xc5\xbb");
	assert_string_equal(l->messages[0].from_email, "alice@example.org");
	assert_string_equal(
		l->messages[0].to_json,
		"[{\"name\":\"Bob\",\"email\":\"bob@example.org\"}]");
	assert_int_equal(l->messages[0].to_json_len,
			 strlen(l->messages[0].to_json));
	assert_true(l->messages[0].has_date);
	assert_int_equal(l->messages[0].date, 1700000000 + 3 * 3600);
	assert_true(l->messages[0].has_attachments);
	assert_false(l->messages[1].has_attachments);
	assert_string_equal(l->messages[0].preview, "preview text");
	assert_int_equal(l->messages[0].n_flags, 1); /* from delivery */
	assert_string_equal(l->messages[0].flags[0], "\\Flagged");
	assert_int_equal(l->messages[1].n_flags, 0);
	assert_int_equal(l->messages[0].size,
			 strlen(prefix) + strlen(bodies[2]));
	l = ok_res(r_list(e, &u, inbox, 2, 0));
	assert_int_equal(l->n, 2);
	assert_int_equal(l->messages[1].uid, 2);
	l = ok_res(r_list(e, &u, inbox, 2, 2)); /* the next page */
	assert_int_equal(l->n, 1);
	assert_int_equal(l->messages[0].uid, 1);
	assert_int_equal(l->total, 3);
	l = ok_res(r_list(e, &u, mailbox_named(e, &u, "Sent").id, 0, 0));
	assert_int_equal(l->total, 0);
	assert_int_equal(l->n, 0);
}

/* The to list comes out of PostgreSQL as the API writes it: the bytes
 * decoding it and escaping each string again (rpc_json.c) would give,
 * a missing member null; messages without one list none. */
static void
test_store_message_list_to_json(void **state)
{
	static const struct kr_store_addr to[] = {
		{ "Zo\xc3\xab \"Z\" \\ \t\x01\x1f\x7f", "z@x" },
		{ NULL, "n@x" },
		{ "only a name", NULL },
	};
	static const char want[] =
		"[{\"name\":\"Zo\xc3\xab \\\"Z\\\" \\\\ "
		"\\t\\u0001\\u001f\x7f\","
		"\"email\":\"z@x\"},{\"name\":null,\"email\":\"n@x\"},"
		"{\"name\":\"only a name\",\"email\":null}]";
	struct kr_store_meta meta = { .to = to, .n_to = 3 };
	const struct kr_store_message_list_result *l;
	struct env *e = *state;
	struct kr_store_user u;
	struct kr_store_rcpt rc;

	NEED_CLUSTER(state);
	u = user_new(e, "to", 0);
	rc = (struct kr_store_rcpt){ u.address, NULL, NULL, 0, 0 };
	assert_stored(
		&deliver(e, "Subject: to\r\n\r\nx\r\n", &rc, 1, &meta, NULL)
			 ->rcpts[0]);
	assert_stored(
		&deliver(e, "Subject: none\r\n\r\nx\r\n", &rc, 1, NULL, NULL)
			 ->rcpts[0]);
	l = ok_res(r_list(e, &u, mailbox_named(e, &u, "INBOX").id, 0, 0));
	assert_int_equal(l->n, 2);
	assert_string_equal(l->messages[0].to_json, "[]");
	assert_string_equal(l->messages[1].to_json, want);
	assert_int_equal(l->messages[1].to_json_len, sizeof(want) - 1);
}

static void
test_store_message_get(void **state)
{
	struct env *e = *state;
	const struct kr_store_message_get_result *g;
	const char *prefix = "Delivered-To: x\r\n";
	char bodies[3][160];
	struct kr_store_user two[2];
	int64_t inbox, trash, junk, uid, refs;

	NEED_CLUSTER(state);
	/* One shard: there the same mailbox id means the same mailbox. */
	users_on_one_shard(e, two, 2);
	ops_fill(e, &two[0], bodies, prefix);
	inbox = mailbox_named(e, &two[0], "INBOX").id;
	g = ok_res(r_get(e, &two[0], inbox, 3));
	assert_int_equal(g->raw_len, strlen(prefix) + strlen(bodies[2]));
	assert_memory_equal(g->raw, prefix, strlen(prefix));
	assert_memory_equal(g->raw + strlen(prefix), bodies[2],
			    strlen(bodies[2]));
	assert_int_equal(g->raw[g->raw_len], '\0');
	assert_int_equal(g->mailbox_id, inbox);
	assert_string_equal(g->subject, "Subject 3");
	assert_string_equal(g->message_id, "<m@example.org>");
	assert_int_equal(g->n_attachments, 1);
	assert_string_equal(g->attachments[0].filename, "a.pdf");
	assert_string_equal(g->attachments[0].type, "application/pdf");
	assert_int_equal(g->attachments[0].size, 1234);
	assert_int_equal(g->date, 1700000000 + 3 * 3600);
	/* Copies and moves keep the prefix and share the body. Other
	 * tests may have stored the same body on this shard: count from
	 * here. */
	refs = body_refs(e, two[0].shard, bodies[2], strlen(bodies[2]));
	trash = mailbox_named(e, &two[0], "Trash").id;
	junk = mailbox_named(e, &two[0], "Junk").id;
	uid = RES(kr_store_message_move_result,
		  r_move(e, &two[0], true, inbox, 3, trash))
		      ->uids[0]
		      .new_uid;
	uid = RES(kr_store_message_move_result,
		  r_move(e, &two[0], false, trash, uid, junk))
		      ->uids[0]
		      .new_uid;
	g = ok_res(r_get(e, &two[0], junk, uid));
	assert_int_equal(g->raw_len, strlen(prefix) + strlen(bodies[2]));
	assert_memory_equal(g->raw, prefix, strlen(prefix));
	assert_memory_equal(g->raw + strlen(prefix), bodies[2],
			    strlen(bodies[2]));
	assert_int_equal(
		body_refs(e, two[0].shard, bodies[2], strlen(bodies[2])),
		refs + 1);
	assert_int_equal(KIND(r_get(e, &two[0], inbox, 99)), KR_ERR_NOT_FOUND);
	/* Nobody reads another user's mail, whatever the ids say. */
	assert_int_equal(KIND(r_get(e, &two[1], inbox, 3)), KR_ERR_NOT_FOUND);
	assert_int_equal(KIND(r_list(e, &two[1], inbox, 0, 0)),
			 KR_ERR_NOT_FOUND);
}

static void
test_store_message_flags_changes(void **state)
{
	struct env *e = *state;
	const struct kr_store_message_list_result *l;
	const struct kr_store_user_changes_result *c;
	const struct kr_store_change *ch;
	int64_t uids[] = { 1, 2 }, inbox, m0, m1, m2;
	char bodies[3][160];
	struct kr_store_user u;

	NEED_CLUSTER(state);
	u = user_new(e, "flags", 0);
	ops_fill(e, &u, bodies, "");
	inbox = mailbox_named(e, &u, "INBOX").id;
	m0 = RES(kr_store_user_changes_result, r_changes(e, &u, 0))->modseq;
	m1 = RES(kr_store_message_flags_result,
		 r_flags(e, &u, inbox, uids, 2, "\\Seen", NULL))
		     ->modseq;
	assert_true(m0 > 0 && m1 > m0);
	assert_int_equal(mailbox_named(e, &u, "INBOX").unseen, 1);
	l = ok_res(r_list(e, &u, inbox, 0, 0));
	assert_true(has_flag(l->messages[1].flags, l->messages[1].n_flags,
			     "\\Seen"));
	assert_false(has_flag(l->messages[0].flags, l->messages[0].n_flags,
			      "\\Seen"));
	m2 = RES(kr_store_message_flags_result,
		 r_flags(e, &u, inbox, uids, 1, "$Label1", "\\Seen"))
		     ->modseq;
	assert_true(m2 > m1);
	assert_int_equal(mailbox_named(e, &u, "INBOX").unseen, 2);
	c = ok_res(r_changes(e, &u, m1));
	assert_true(c->modseq >= m2);
	ch = find_change(c, KR_STORE_CHANGE_MESSAGE, inbox, 1);
	assert_non_null(ch);
	assert_int_equal(ch->modseq, m2);
	assert_true(has_flag(ch->flags, ch->n_flags, "$Label1"));
	assert_false(has_flag(ch->flags, ch->n_flags, "\\Seen"));
	assert_null(find_change(c, KR_STORE_CHANGE_MESSAGE, inbox, 3));
	/* Bad flags never reach the server. */
	assert_int_equal(
		KIND(r_flags(e, &u, inbox, uids, 1, "two words", NULL)),
		KR_ERR_PERMANENT);
	assert_int_equal(KIND(r_flags(e, &u, inbox, uids, 0, "$x", NULL)),
			 KR_ERR_PERMANENT);
}

static void
test_store_message_search(void **state)
{
	struct env *e = *state;
	const struct kr_store_message_list_result *l;
	struct kr_store_search q;
	int64_t one = 1, inbox;
	char bodies[3][160];
	struct kr_store_user u;

	NEED_CLUSTER(state);
	u = user_new(e, "search", 0);
	ops_fill(e, &u, bodies, "");
	inbox = mailbox_named(e, &u, "INBOX").id;
	OK(r_flags(e, &u, inbox, &one, 1, "\\Seen", NULL));
	memset(&q, 0, sizeof(q));
	q.text = "zebra";
	l = ok_res(r_search(e, &u, &q));
	assert_int_equal(l->n, 1);
	assert_int_equal(l->messages[0].uid, 2);
	assert_int_equal(l->messages[0].mailbox_id, inbox);
	memset(&q, 0, sizeof(q));
	q.mailbox_id = inbox;
	q.subject = "ject 3";
	l = ok_res(r_search(e, &u, &q));
	assert_int_equal(l->n, 1);
	assert_int_equal(l->messages[0].uid, 3);
	memset(&q, 0, sizeof(q));
	q.from = "ALICE@";
	assert_int_equal(
		RES(kr_store_message_list_result, r_search(e, &u, &q))->n, 3);
	memset(&q, 0, sizeof(q));
	q.unseen = true;
	assert_int_equal(
		RES(kr_store_message_list_result, r_search(e, &u, &q))->n, 2);
	memset(&q, 0, sizeof(q));
	q.has_since = true;
	q.since = time(NULL) + 3600;
	assert_int_equal(
		RES(kr_store_message_list_result, r_search(e, &u, &q))->n, 0);
}

static const struct kr_store_uid_map *
moved(struct rec r)
{
	const struct kr_store_message_move_result *m = ok_res(r);

	assert_int_equal(m->n, 1);
	return &m->uids[0];
}

static void
test_store_message_move_copy_delete(void **state)
{
	struct env *e = *state;
	const struct kr_store_message_move_result *mv;
	const struct kr_store_user_changes_result *c;
	const struct kr_store_user_quota_result *q;
	struct kr_store_mailbox arch;
	int64_t inbox, m0;
	char bodies[3][160];
	struct kr_store_user u;

	NEED_CLUSTER(state);
	u = user_new(e, "move", 0);
	ops_fill(e, &u, bodies, "");
	inbox = mailbox_named(e, &u, "INBOX").id;
	arch = *(const struct kr_store_mailbox *)ok_res(
		r_mb_create(e, &u, "Archive"));
	m0 = RES(kr_store_user_changes_result, r_changes(e, &u, 0))->modseq;
	assert_int_equal(
		moved(r_move(e, &u, false, inbox, 3, arch.id))->new_uid, 1);
	assert_int_equal(moved(r_move(e, &u, true, inbox, 1, arch.id))->new_uid,
			 2);
	mv = ok_res(r_move(e, &u, false, inbox, 99, arch.id)); /* skipped */
	assert_int_equal(mv->n, 0);
	assert_int_equal(KIND(r_move(e, &u, false, inbox, 1, 999999999)),
			 KR_ERR_NOT_FOUND);
	OK(r_delete(e, &u, inbox, 2));
	assert_int_equal(mailbox_named(e, &u, "INBOX").total, 1);
	assert_int_equal(mailbox_named(e, &u, "Archive").total, 2);
	q = ok_res(r_quota(e, &u));
	assert_int_equal(q->messages, 3);
	assert_int_equal(q->used,
			 (int64_t)(strlen(bodies[0]) * 2 + strlen(bodies[2])));
	assert_int_equal(
		RES(kr_store_message_get_result, r_get(e, &u, arch.id, 1))
			->raw_len,
		strlen(bodies[2]));
	c = ok_res(r_changes(e, &u, m0));
	assert_non_null(find_change(c, KR_STORE_CHANGE_REMOVED, inbox, 3));
	assert_non_null(find_change(c, KR_STORE_CHANGE_REMOVED, inbox, 2));
	assert_non_null(find_change(c, KR_STORE_CHANGE_MESSAGE, arch.id, 2));
	assert_non_null(find_change(c, KR_STORE_CHANGE_MAILBOX, arch.id, 0));
}

static void
test_store_mailbox_ops(void **state)
{
	struct env *e = *state;
	const struct kr_store_mailbox *mb;
	const struct kr_store_user_changes_result *c;
	int64_t inbox, m0;
	char bodies[3][160];
	struct kr_store_user u;

	NEED_CLUSTER(state);
	u = user_new(e, "mbox", 0);
	ops_fill(e, &u, bodies, "");
	inbox = mailbox_named(e, &u, "INBOX").id;
	mb = ok_res(r_mb_create(e, &u, "Archive"));
	assert_true(mb->id > 0);
	assert_string_equal(mb->name, "Archive");
	assert_null(mb->role);
	assert_int_equal(mb->uidnext, 1);
	assert_int_equal(KIND(r_mb_create(e, &u, "Archive")), KR_ERR_CONFLICT);
	assert_int_equal(KIND(r_mb_create(e, &u, "")), KR_ERR_PERMANENT);
	assert_int_equal(KIND(r_mb_create(e, &u, "a\xff")), KR_ERR_PERMANENT);
	OK(r_move(e, &u, false, inbox, 1, mb->id));
	m0 = RES(kr_store_user_changes_result, r_changes(e, &u, 0))->modseq;
	mb = ok_res(r_mb_rename(e, &u, mb->id, "Old"));
	assert_string_equal(mb->name, "Old");
	assert_int_equal(mb->total, 1);
	assert_int_equal(KIND(r_mb_rename(e, &u, mb->id, "Sent")),
			 KR_ERR_CONFLICT);
	assert_int_equal(KIND(r_mb_rename(e, &u, inbox, "Other")),
			 KR_ERR_PERMANENT);
	assert_int_equal(KIND(r_mb_rename(e, &u, 999999999, "X")),
			 KR_ERR_NOT_FOUND);
	assert_int_equal(KIND(r_mb_delete(e, &u, inbox)), KR_ERR_PERMANENT);
	OK(r_mb_delete(e, &u, mb->id));
	assert_int_equal(KIND(r_mb_delete(e, &u, mb->id)), KR_ERR_NOT_FOUND);
	assert_int_equal(RES(kr_store_mailbox_list_result, r_mb_list(e, &u))->n,
			 5);
	assert_int_equal(
		RES(kr_store_user_quota_result, r_quota(e, &u))->messages, 2);
	c = ok_res(r_changes(e, &u, m0));
	assert_non_null(
		find_change(c, KR_STORE_CHANGE_MAILBOX_REMOVED, mb->id, 0));
}

/* Small, large compressible and large incompressible bodies come back
 * byte for byte (the large ones through the cpu pool). */
static void
test_store_append_round_trip(void **state)
{
	struct env *e = *state;
	size_t sizes[] = { 40, 200000, 65536 };
	struct kr_store_user two[2];
	int64_t drafts;

	NEED_CLUSTER(state);
	users_on_one_shard(e, two, 2);
	drafts = mailbox_named(e, &two[0], "Drafts").id;
	for (int i = 0; i < 3; i++) {
		unsigned char *raw = kr_xmalloc(sizes[i]);
		const struct kr_store_append_result *a;
		const struct kr_store_message_get_result *g;

		srand(42 + i);
		for (size_t k = 0; k < sizes[i]; k++)
			raw[k] = i == 2 ? (unsigned char)rand()
					: (unsigned char)("abcdefgh\r\n"[k %
									 10]);
		memcpy(raw, e->tag, strlen(e->tag)); /* unique per run */
		a = ok_res(
			r_append(e, &two[0], drafts, raw, sizes[i], "\\Draft"));
		assert_int_equal(a->uid, i + 1);
		assert_int_equal(a->mailbox_id, drafts);
		g = ok_res(r_get(e, &two[0], drafts, a->uid));
		assert_int_equal(g->raw_len, sizes[i]);
		assert_memory_equal(g->raw, raw, sizes[i]);
		assert_true(has_flag(g->flags, g->n_flags, "\\Draft"));
		assert_string_equal(g->subject, "appended");
		assert_int_equal(body_refs(e, two[0].shard, raw, sizes[i]), 1);
		free(raw);
	}
	assert_int_equal(KIND(r_append(e, &two[1], drafts, "x", 1, NULL)),
			 KR_ERR_NOT_FOUND);
	assert_int_equal(KIND(r_append(e, &two[0], drafts, "x", 1, "a b")),
			 KR_ERR_PERMANENT);
}

/* Over quota nothing is written: no message, no body, no counters. */
static void
test_store_quota_refusal(void **state)
{
	struct env *e = *state;
	const struct kr_store_deliver_result *res;
	const struct kr_store_user_quota_result *q;
	char b1[96], b2[96];
	size_t l1, l2;
	struct kr_store_rcpt rc;
	struct kr_store_user u;

	NEED_CLUSTER(state);
	l1 = (size_t)snprintf(b1, sizeof(b1), "Subject: 1\r\n\r\none %s\r\n",
			      e->tag);
	l2 = (size_t)snprintf(b2, sizeof(b2), "Subject: 2\r\n\r\ntwo %s\r\n",
			      e->tag);
	u = user_new(e, "quota", (int64_t)l1 + 10);
	rc = (struct kr_store_rcpt){ u.address, NULL, NULL, 0, 0 };
	res = deliver(e, b1, &rc, 1, NULL, NULL);
	assert_stored(&res->rcpts[0]);
	assert_int_equal(deliver(e, b2, &rc, 1, NULL, NULL)->rcpts[0].err.kind,
			 KR_ERR_QUOTA);
	q = ok_res(r_quota(e, &u));
	assert_int_equal(q->used, (int64_t)l1);
	assert_int_equal(q->messages, 1);
	assert_int_equal(q->quota, (int64_t)l1 + 10);
	assert_int_equal(mailbox_named(e, &u, "INBOX").total, 1);
	assert_int_equal(KIND(r_append(e, &u, mailbox_named(e, &u, "Drafts").id,
				       b2, l2, NULL)),
			 KR_ERR_QUOTA);
	assert_int_equal(KIND(r_move(e, &u, true, res->rcpts[0].mailbox_id,
				     res->rcpts[0].uid,
				     mailbox_named(e, &u, "Trash").id)),
			 KR_ERR_QUOTA);
	assert_int_equal(mailbox_named(e, &u, "Trash").total, 0);
	assert_int_equal(RES(kr_store_user_quota_result, r_quota(e, &u))->used,
			 (int64_t)l1);
	assert_int_equal(body_refs(e, u.shard, b2, l2), -1);
	assert_int_equal(body_refs(e, u.shard, b1, l1), 1);
}

/* 200 deliveries to one shard at once go out in far fewer calls. */
static void
test_store_group_commit(void **state)
{
	struct env *e = *state;
	struct kr_store_stats before, after;
	struct kr_store_user u[4];
	struct rec r[200];

	NEED_CLUSTER(state);
	users_on_one_shard(e, u, 4);
	kr_store_get_stats(e->store, &before);
	deliver_many(e, e->store, u, 4, r, 200);
	assert_true(wait_recs(e, r, 200));
	kr_store_get_stats(e->store, &after);
	for (int i = 0; i < 200; i++)
		assert_stored(&RES(kr_store_deliver_result, r[i])->rcpts[0]);
	assert_int_equal(after.batch_messages - before.batch_messages, 200);
	assert_int_equal(after.deliveries - before.deliveries, 200);
	/* One batch in flight at a time, up to GC_MAX each: the first goes
	 * alone, the rest wait and go together. */
	assert_true(after.batches - before.batches <= 200 / GC_MAX + 3);
	print_message("200 deliveries in %llu batches\n",
		      after.batches - before.batches);
	assert_int_equal(after.queued, 0);
	assert_int_equal(after.inflight, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(mailbox_named(e, &u[i], "INBOX").total, 50);
}

/* With group_commit_max 2 a shard holds 16 * 2 waiting messages: the
 * 32nd is taken, the 33rd shed. */
static void
test_store_queue_bound(void **state)
{
	struct env *e = *state;
	struct kr_config *cfg;
	struct kr_store *store;
	struct kr_store_stats st;
	struct kr_store_user u;
	struct kr_err err;
	struct rec r[33];

	NEED_CLUSTER(state);
	u = user_new(e, "bound", 0);
	assert_int_equal(kr_config_load(e->path, &cfg, &err), 0);
	/* Only the store's copy changes: the bound derives from it. */
	cfg->storage.group_commit_max = 2;
	store = kr_store_create(e->base, e->mgr, e->map, e->cpu, NULL, cfg,
				e->log);
	deliver_many(e, store, &u, 1, r, 33);
	assert_true(wait_recs(e, r, 33));
	for (int i = 0; i < 32; i++)
		assert_stored(&RES(kr_store_deliver_result, r[i])->rcpts[0]);
	assert_int_equal(rcpt0_kind(&r[32]), KR_ERR_OVERLOAD);
	kr_store_get_stats(store, &st);
	assert_int_equal(st.shed, 1);
	assert_int_equal(st.batch_messages, 32);
	kr_store_destroy(&store);
	kr_config_destroy(&cfg);
	assert_int_equal(mailbox_named(e, &u, "INBOX").total, 32);
}

static void
test_store_cancel_and_deadline(void **state)
{
	struct env *e = *state;
	struct kr_store_rcpt rc;
	struct kr_store_delivery d = { 0 };
	struct kr_store_op *op1, *op2;
	struct kr_store_stats st;
	struct kr_store_user u;
	struct rec r[3];

	NEED_CLUSTER(state);
	u = user_new(e, "cancel", 0);
	rc = (struct kr_store_rcpt){ u.address, NULL, NULL, 0, 0 };
	d.body = (const unsigned char *)"x\r\n";
	d.body_len = 3;
	d.rcpts = &rc;
	d.n_rcpts = 1;
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 3; i++)
		r[i].e = e;
	/* Cancelled: no callback, ever; the queue gives its place back. */
	op1 = kr_store_deliver_begin(e->store, &d, e->arena, dl(), rec_deliver,
				     &r[0]);
	op2 = kr_store_message_list_begin(e->store, &u, 1, 0, 0, e->arena, dl(),
					  rec_list, &r[1]);
	kr_store_cancel(&op1);
	kr_store_cancel(&op2);
	assert_null(op1);
	kr_store_cancel(&op1); /* NULL is fine */
	spin(e, 300);
	assert_int_equal(r[0].calls + r[1].calls, 0);
	kr_store_get_stats(e->store, &st);
	assert_int_equal(st.queued + st.inflight, 0);
	/* A refusal by the connection manager is answered later too. */
	u.shard = 100000;
	assert_int_not_equal(KIND(r_quota(e, &u)), KR_ERR_NONE);
	/* A deadline already past: answered, with a timeout. */
	e->in_begin = true;
	assert_non_null(kr_store_deliver_begin(
		e->store, &d, e->arena,
		kr_deadline_after(kr_clock_mono_us(), 0), rec_deliver, &r[2]));
	e->in_begin = false;
	assert_true(wait_recs(e, &r[2], 1));
	assert_int_equal(rcpt0_kind(&r[2]), KR_ERR_TIMEOUT);
}

/* Destroy answers what is outstanding, inside the call. */
static void
test_store_destroy_answers(void **state)
{
	struct env *e = *state;
	struct kr_store_rcpt rc = { "someone@test.example", NULL, NULL, 0, 0 };
	struct kr_store_delivery d = {
		.body = (const unsigned char *)"x",
		.body_len = 1,
		.rcpts = &rc,
		.n_rcpts = 1,
	};
	struct kr_store *store;
	struct rec r[2];

	NEED_CLUSTER(state);
	memset(r, 0, sizeof(r));
	r[0].e = r[1].e = e;
	store = kr_store_create(e->base, e->mgr, e->map, e->cpu, NULL, e->cfg,
				e->log);
	assert_non_null(kr_store_deliver_begin(store, &d, e->arena, dl(),
					       rec_deliver, &r[0]));
	assert_non_null(kr_store_user_get_begin(store, rc.address, e->arena,
						dl(), rec_user_get, &r[1]));
	kr_store_destroy(&store);
	assert_null(store);
	assert_int_equal(r[0].calls, 1);
	assert_int_equal(r[1].calls, 1);
	assert_int_equal(rcpt0_kind(&r[0]), KR_ERR_TEMPORARY);
	assert_int_equal(KIND(r[1]), KR_ERR_TEMPORARY);
	spin(e, 100); /* late answers find nobody */
	assert_int_equal(r[0].calls + r[1].calls, 2);
}

/* sql's one value, b sent as its one (binary) parameter, is want;
 * frees b. */
static void
pgarray_server_check(PGconn *pg, struct kr_pgarray_bin *b, const char *sql,
		     const char *want)
{
	const int format = 1;
	int len;
	const char *value = kr_pgarray_bin_data(b, &len);
	PGresult *res =
		PQexecParams(pg, sql, 1, NULL, &value, &len, &format, 0);

	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), want);
	PQclear(res);
	kr_pgarray_bin_deinit(b);
}

/* The literals and binary arrays the store builds, through a server. */
static void
test_store_pgarray_server(void **state)
{
	static const char *const elems[] = {
		"",	 "\\Seen", "a\"b",
		"{x,y}", "NULL",   "\xc5\xbc\xc3\xb3\xc5\x82w",
		" sp "
	};
	struct env *e = *state;
	struct kr_pgarray a;
	struct kr_pgarray_bin b;
	const char **v;
	unsigned n;
	PGconn *pg;
	PGresult *res;
	const char *values[1];

	NEED_CLUSTER(state);
	pg = PQconnectdb(e->cfg->shards[0].primary);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	kr_pgarray_init(&a, 4096);
	for (size_t i = 0; i < sizeof(elems) / sizeof(elems[0]); i++)
		assert_int_equal(kr_pgarray_add_str(&a, elems[i], NULL), 0);
	assert_int_equal(kr_pgarray_add_str(&a, NULL, NULL), 0);
	values[0] = kr_pgarray_text(&a);
	res = PQexecParams(pg, "SELECT $1::text[]", 1, NULL, values, NULL, NULL,
			   0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(kr_pgarray_parse(PQgetvalue(res, 0, 0), e->arena, 16,
					  &v, &n, NULL),
			 0);
	assert_int_equal(n, 8);
	for (unsigned i = 0; i < 7; i++)
		assert_string_equal(v[i], elems[i]);
	assert_null(v[7]);
	PQclear(res);
	kr_pgarray_deinit(&a);
	kr_pgarray_bin_init(&b, 4096);
	assert_int_equal(kr_pgarray_bin_add(&b, "ab", 2, "\0\xff", 2, NULL), 0);
	assert_int_equal(kr_pgarray_bin_add(&b, NULL, 0, NULL, 0, NULL), 0);
	pgarray_server_check(pg, &b,
			     "SELECT cardinality(x) || ',' ||"
			     " (x[1] = '\\x6162 00ff'::bytea) || ',' ||"
			     " length(x[2]) FROM (SELECT $1::bytea[] AS x) s",
			     "2,true,0");
	/* The typed binary arrays delivery sends: the server reads them. */
	kr_pgarray_bin_init_type(&b, 4096, KR_PGARRAY_OID_JSONB);
	assert_int_equal(
		kr_pgarray_bin_add(&b, "\x01", 1, "{\"a\": [1]}", 10, NULL), 0);
	pgarray_server_check(pg, &b, "SELECT ($1::jsonb[])[1] -> 'a' ->> 0",
			     "1");
	kr_pgarray_bin_init_type(&b, 4096, KR_PGARRAY_OID_INT4);
	assert_int_equal(kr_pgarray_bin_add_int4(&b, -7, NULL), 0);
	assert_int_equal(kr_pgarray_bin_add_int4(&b, 65536, NULL), 0);
	pgarray_server_check(pg, &b, "SELECT array_to_string($1::int[], ',')",
			     "-7,65536");
	kr_pgarray_bin_init_type(&b, 4096, KR_PGARRAY_OID_INT8);
	assert_int_equal(kr_pgarray_bin_add_int8(&b, -7, NULL), 0);
	assert_int_equal(kr_pgarray_bin_add_int8(&b, (int64_t)3 << 40, NULL),
			 0);
	pgarray_server_check(pg, &b,
			     "SELECT array_to_string($1::bigint[], ',')",
			     "-7,3298534883328");
	PQfinish(pg);
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_pgarray_server),
		T(test_store_user_admin),
		T(test_store_role_mailboxes),
		T(test_store_deliver_mixed),
		T(test_store_deliver_concurrent),
		T(test_store_deliver_dedup),
		T(test_store_deliver_packed),
		T(test_store_deliver_ids),
		T(test_store_message_list),
		T(test_store_message_list_to_json),
		T(test_store_message_get),
		T(test_store_message_flags_changes),
		T(test_store_message_search),
		T(test_store_message_move_copy_delete),
		T(test_store_mailbox_ops),
		T(test_store_append_round_trip),
		T(test_store_quota_refusal),
		T(test_store_group_commit),
		T(test_store_queue_bound),
		T(test_store_cancel_and_deadline),
		T(test_store_destroy_answers),
	};

	return cmocka_run_group_tests_name("store", tests, env_setup,
					   env_teardown);
}
