/* The store's bounds (issue 13): metadata cut rather than refused, the
 * config's limits against the store's, search bounds, the mailbox cap,
 * and negative answers from a replica confirmed on the primary. The
 * first group is pure; the rest runs against a real cluster and is
 * skipped unless KR_TEST_PG_CONF names a kurier.conf written by
 * ops/pgcluster (tests/integration/test_harden_storage.sh sets it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <string.h>

#include "storage/store_priv.h"

#define WAIT_MS 15000
#define OP_MS 10000

#include "store_env.h"

REC_FN(rec_user_get, struct kr_store_user_get_result)
REC_FN(rec_user_create, struct kr_store_user_create_result)
REC_FN(rec_mb, struct kr_store_mailbox)
REC_FN(rec_list, struct kr_store_message_list_result)
REC_FN(rec_get, struct kr_store_message_get_result)
REC_FN(rec_session, struct kr_store_session_result)

/* ---- metadata: cut, never refused ------------------------------------ */

static json_t *
meta_json(const struct kr_store_meta *m, bool *cut_r, size_t *len_r)
{
	char *s;
	json_t *j;

	*cut_r = kr_store_pack_meta(m, &s, len_r);
	assert_int_equal(strlen(s), *len_r);
	assert_true(*len_r <= KR_STORE_META_MAX);
	j = json_loads(s, 0, NULL);
	assert_non_null(j);
	free(s);
	return j;
}

static void
test_store_bounds_meta_small_is_whole(void **state)
{
	struct kr_store_attachment att[2] = {
		{ "2", "a.pdf", "application/pdf", 10 },
		{ "3", "b.txt", "text/plain", 20 },
	};
	struct kr_store_meta m = { .subject = "hello",
				   .has_attachments = true,
				   .attachments = att,
				   .n_attachments = 2 };
	bool cut;
	size_t len;
	json_t *j = meta_json(&m, &cut, &len);

	(void)state;
	assert_false(cut);
	assert_null(json_object_get(j, "truncated"));
	assert_int_equal(json_array_size(json_object_get(j, "attachments")), 2);
	assert_string_equal(json_string_value(json_object_get(j, "subject")),
			    "hello");
	json_decref(j);
}

/* Exactly KR_STORE_META_MAX bytes of JSON are stored whole; one byte
 * more and the metadata is cut (here: the subject shortened). */
static void
test_store_bounds_meta_at_limit_pair(void **state)
{
	char *subject = kr_xmalloc(KR_STORE_META_MAX + 1);
	struct kr_store_meta m = { .subject = "x" };
	size_t base, len, n;
	bool cut;
	char *s;
	json_t *j;

	(void)state;
	assert_false(kr_store_pack_meta(&m, &s, &base));
	free(s);
	n = KR_STORE_META_MAX - (base - 1);
	memset(subject, 'a', n + 1);
	subject[n] = '\0';
	m.subject = subject;
	j = meta_json(&m, &cut, &len);
	assert_false(cut);
	assert_int_equal(len, KR_STORE_META_MAX);
	assert_int_equal(
		strlen(json_string_value(json_object_get(j, "subject"))), n);
	json_decref(j);
	subject[n] = 'a';
	subject[n + 1] = '\0';
	j = meta_json(&m, &cut, &len);
	assert_true(cut);
	assert_true(json_is_true(json_object_get(j, "truncated")));
	assert_true(strlen(json_string_value(json_object_get(j, "subject"))) <
		    n);
	json_decref(j);
	free(subject);
}

/* The case of the issue: hundreds of parts with long filenames (that
 * need escaping, so the JSON is twice their size). The first
 * attachments are kept in order, the tail is dropped, and the flag
 * says so. */
static void
test_store_bounds_meta_many_attachments_cut(void **state)
{
	enum {
		N = 600,
		NAME = 998
	};
	struct kr_store_attachment *att = kr_xcalloc(N, sizeof(*att));
	char *names = kr_xmalloc((size_t)N * (NAME + 16));
	struct kr_store_meta m = { .subject = "600 parts",
				   .has_attachments = true,
				   .attachments = att,
				   .n_attachments = N };
	json_t *j, *list;
	size_t len;
	bool cut;

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		char *name = names + (size_t)i * (NAME + 16);
		char *part = kr_xmalloc(16);

		snprintf(part, 16, "%u", i + 2);
		memset(name, '\\', NAME);
		snprintf(name + NAME, 16, "%04u", i);
		att[i] = (struct kr_store_attachment){ part, name,
						       "application/x-test",
						       1000 + i };
	}
	j = meta_json(&m, &cut, &len);
	assert_true(cut);
	assert_true(json_is_true(json_object_get(j, "truncated")));
	assert_true(json_is_true(json_object_get(j, "has_attachments")));
	assert_string_equal(json_string_value(json_object_get(j, "subject")),
			    "600 parts");
	list = json_object_get(j, "attachments");
	assert_true(json_array_size(list) > 100);
	assert_true(json_array_size(list) < N);
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *a = json_array_get(list, i);
		char want[16];

		snprintf(want, sizeof(want), "%zu", i + 2);
		assert_string_equal(
			json_string_value(json_object_get(a, "part")), want);
		assert_int_equal(json_integer_value(json_object_get(a, "size")),
				 1000 + (json_int_t)i);
	}
	json_decref(j);
	for (unsigned i = 0; i < N; i++)
		free((char *)att[i].part);
	free(names);
	free(att);
}

/* The worst metadata the API could hand over (every string long and
 * made of bytes JSON escapes six times over, lists long) still comes
 * out under the limit. */
static void
test_store_bounds_meta_worst_case_fits(void **state)
{
	enum {
		N = 2000,
		BIG = 4 << 20
	};
	char *junk = kr_xmalloc(BIG + 1);
	struct kr_store_addr *addrs = kr_xcalloc(N, sizeof(*addrs));
	struct kr_store_attachment *att = kr_xcalloc(N, sizeof(*att));
	struct kr_store_meta m;
	json_t *j;
	size_t len;
	bool cut;

	(void)state;
	memset(junk, 0x01, BIG);
	junk[BIG] = '\0';
	for (unsigned i = 0; i < N; i++) {
		addrs[i] = (struct kr_store_addr){ junk, junk };
		att[i] = (struct kr_store_attachment){ junk, junk, junk, 1 };
	}
	m = (struct kr_store_meta){ .from_name = junk,
				    .from_email = junk,
				    .to = addrs,
				    .n_to = N,
				    .cc = addrs,
				    .n_cc = N,
				    .subject = junk,
				    .message_id = junk,
				    .in_reply_to = junk,
				    .references = junk,
				    .preview = junk,
				    .has_attachments = true,
				    .attachments = att,
				    .n_attachments = N,
				    .search_terms = junk };
	j = meta_json(&m, &cut, &len);
	assert_true(cut);
	assert_true(json_is_true(json_object_get(j, "truncated")));
	json_decref(j);
	free(att);
	free(addrs);
	free(junk);
}

/* ---- search bounds ---------------------------------------------------- */

static char *
repeat(const char *unit, unsigned n)
{
	size_t u = strlen(unit);
	char *s = kr_xmalloc(u * n + 1);

	for (unsigned i = 0; i < n; i++)
		memcpy(s + u * i, unit, u);
	s[u * n] = '\0';
	return s;
}

static void
test_store_bounds_search_check(void **state)
{
	char *at = repeat("x", KR_STORE_SEARCH_FIELD_MAX);
	char *over = repeat("x", KR_STORE_SEARCH_FIELD_MAX + 1);
	char *words = repeat("w ", KR_STORE_SEARCH_WORDS_MAX);
	char *words1 = repeat("w ", KR_STORE_SEARCH_WORDS_MAX + 1);
	/* Punctuation separates words as the full-text parser does, and
	 * a multi-byte character is a letter. */
	char *commas = repeat("a,", KR_STORE_SEARCH_WORDS_MAX + 1);
	char *utf8 = repeat("\xc3\xa9 ", KR_STORE_SEARCH_WORDS_MAX);
	const struct {
		struct kr_store_search q;
		int rc;
	} cases[] = {
		{ { .text = at }, 0 },
		{ { .text = over }, -1 },
		{ { .from = at }, 0 },
		{ { .from = over }, -1 },
		{ { .subject = at }, 0 },
		{ { .subject = over }, -1 },
		{ { .text = words }, 0 },
		{ { .text = words1 }, -1 },
		{ { .text = commas }, -1 },
		{ { .text = utf8 }, 0 },
		{ { .from = words1, .subject = words1 }, 0 }, /* text only */
		{ { 0 }, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kr_err err = { 0 };

		assert_int_equal(kr_store_search_check(&cases[i].q, &err),
				 cases[i].rc);
		if (cases[i].rc < 0)
			assert_int_equal(err.kind, KR_ERR_PERMANENT);
	}
	free(at);
	free(over);
	free(words);
	free(words1);
	free(commas);
	free(utf8);
}

/* ---- the config's limits against the store's ------------------------- */

/* Loads a config of `body` (written to a temp file) and checks it;
 * returns the check's rc, err_r its message. */
static int
config_check(const char *body, struct kr_err *err_r, char *path,
	     size_t path_size)
{
	struct kr_config *cfg;
	struct kr_err err;
	int fd, rc;
	FILE *fp;

	snprintf(path, path_size, "/tmp/kr-bounds-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(body, fp);
	fclose(fp);
	assert_int_equal(kr_config_load(path, &cfg, &err), 0);
	rc = kr_store_check_config(cfg, err_r);
	kr_config_destroy(&cfg);
	unlink(path);
	return rc;
}

static void
test_store_bounds_config_limits(void **state)
{
	const struct {
		const char *body;
		int rc;
		const char *where; /* ":line: [section] key" */
	} cases[] = {
		{ "[log]\nlevel = info\n", 0, NULL },
		{ "[lmtp]\nrcpt_max = 1000\n", 0, NULL },
		{ "[lmtp]\n\nrcpt_max = 1001\n", -1, ":3: [lmtp] rcpt_max: " },
		{ "[lmtp]\nmessage_max = 133955584\n", 0, NULL },
		{ "# x\n[lmtp]\nmessage_max = 133955585\n", -1,
		  ":3: [lmtp] message_max: " },
		{ "[jsonrpc]\nbody_max = 179022508\n", 0, NULL },
		{ "[jsonrpc]\nbody_max = 179022509\n", -1,
		  ":2: [jsonrpc] body_max: " },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kr_err err = { 0 };
		char path[64], want[128];

		assert_int_equal(
			config_check(cases[i].body, &err, path, sizeof(path)),
			cases[i].rc);
		if (cases[i].rc == 0)
			continue;
		assert_int_equal(err.kind, KR_ERR_PERMANENT);
		snprintf(want, sizeof(want), "%s%s", path, cases[i].where);
		if (strncmp(err.msg, want, strlen(want)) != 0)
			fail_msg("got '%s', want it to begin '%s'", err.msg,
				 want);
	}
}

/* ---- against a cluster ----------------------------------------------- */

/* Shard 0's "replica" is shard 1's primary: another database, which
 * lacks shard 0's users (no real replication is needed to see that a
 * replica's "not found" is never the answer). read_your_writes = 0, so
 * every read goes to that replica first. */
static int
env_setup(void **state)
{
	return env_setup_with(state,
			      "[storage]\npool_high = 8\nquery_timeout = 10s\n"
			      "read_your_writes = 0\n",
			      1, "b");
}

/* A new user on `shard` (names are tried until one lands there). */
static struct kr_store_user
user_on(struct env *e, unsigned shard)
{
	for (int i = 0; i < 1000; i++) {
		char addr[128];
		struct rec r;

		snprintf(addr, sizeof(addr), "u%u.%s@bounds.example", e->seq++,
			 e->tag);
		if (kr_shardmap_shard(e->map, addr, strlen(addr)) != (int)shard)
			continue;
		RUN(e, r,
		    kr_store_user_create_begin(e->store, addr, "{PLAIN}x", 0,
					       e->arena, dl(), rec_user_create,
					       &r));
		OK(r);
		return ((const struct kr_store_user_create_result *)r.res)
			->user;
	}
	fail_msg("no address on shard %u", shard);
	abort();
}

static void
node_stats(struct env *e, unsigned node, struct kr_connmgr_node_stats *st)
{
	assert_int_equal(kr_connmgr_node_stats(e->mgr, node, st), 0);
}

/* RCPT and login look the user up by address: on the replica first,
 * whose "not found" goes to the primary; a user that exists nowhere is
 * still not found. */
static void
test_store_bounds_replica_not_found_confirmed(void **state)
{
	struct env *e = *state;
	struct kr_connmgr_node_stats before, after, primary;
	struct kr_store_user u;
	struct rec r;
	char nobody[128];

	NEED_CLUSTER(state);
	u = user_on(e, 0);
	node_stats(e, 1, &before);
	assert_int_equal(before.replica, 0);
	RUN(e, r,
	    kr_store_user_get_begin(e->store, u.address, e->arena, dl(),
				    rec_user_get, &r));
	OK(r);
	assert_int_equal(
		((const struct kr_store_user_get_result *)r.res)->user.id,
		u.id);
	node_stats(e, 1, &after);
	assert_int_equal(after.queries, before.queries + 1);
	assert_int_equal(after.confirmed, before.confirmed + 1);
	/* Not found anywhere: still KR_ERR_NOT_FOUND (the primary's). */
	for (int i = 0;; i++) {
		assert_true(i < 1000);
		snprintf(nobody, sizeof(nobody), "nobody%d.%s@bounds.example",
			 i, e->tag);
		if (kr_shardmap_shard(e->map, nobody, strlen(nobody)) == 0)
			break;
	}
	node_stats(e, 0, &primary);
	RUN(e, r,
	    kr_store_user_get_begin(e->store, nobody, e->arena, dl(),
				    rec_user_get, &r));
	assert_int_equal(KIND(r), KR_ERR_NOT_FOUND);
	node_stats(e, 1, &before);
	assert_int_equal(before.confirmed, after.confirmed + 1);
	node_stats(e, 0, &after);
	assert_int_equal(after.queries, primary.queries + 1);
	/* The mail reads go the same way: an empty INBOX listing is a
	 * positive answer, a missing message a confirmed one. */
	RUN(e, r,
	    kr_store_message_get_begin(e->store, &u, 1, 1, e->arena, dl(),
				       rec_get, &r));
	assert_int_equal(KIND(r), KR_ERR_NOT_FOUND);
}

static void
session_sid(char sid[KR_STORE_SID_LEN + 1], unsigned n)
{
	snprintf(sid, KR_STORE_SID_LEN + 1, "%032x", n);
}

/* The next user created on shard gets id (a test's trick: ranges keep
 * real shards apart). */
static void
next_user_id(struct env *e, unsigned shard, int64_t id)
{
	char v[24];
	const char *values[] = { kr_store_i64(v, id) };
	PGconn *pg = PQconnectdb(e->cfg->shards[shard].primary);
	PGresult *res;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	res = PQexecParams(pg,
			   "SELECT setval(pg_get_serial_sequence('users', "
			   "'id'), $1::bigint, false)",
			   1, NULL, values, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	PQfinish(pg);
}

/* The session check: a replica that says "revoked" (here: another
 * database where a user with the same id revoked the same sid) does not
 * decide; the primary, where it is not revoked, does. */
static void
test_store_bounds_replica_revoked_confirmed(void **state)
{
	struct env *e = *state;
	struct kr_connmgr_node_stats before, after;
	struct kr_store_user a, b;
	char sid[KR_STORE_SID_LEN + 1];
	struct rec r;

	NEED_CLUSTER(state);
	a = user_on(e, 0);
	/* Each shard allocates ids from its own range: make them meet. */
	next_user_id(e, 1, a.id);
	b = user_on(e, 1);
	assert_int_equal(a.id, b.id);
	session_sid(sid, (unsigned)time(NULL));
	RUN(e, r,
	    kr_store_session_revoke_begin(e->store, &b, sid, time(NULL) + 3600,
					  dl(), rec_done, &r));
	OK(r);
	node_stats(e, 1, &before);
	RUN(e, r,
	    kr_store_session_check_begin(e->store, 0, a.id, sid, 0, e->arena,
					 dl(), rec_session, &r));
	OK(r);
	assert_false(((const struct kr_store_session_result *)r.res)->revoked);
	assert_string_equal(
		((const struct kr_store_session_result *)r.res)->address,
		a.address);
	node_stats(e, 1, &after);
	assert_int_equal(after.confirmed, before.confirmed + 1);
}

/* Adds n mailboxes straight in SQL (the cap's test needs thousands). */
static void
mailboxes_add(struct env *e, const struct kr_store_user *u, unsigned n)
{
	char id[24], count[24];
	const char *values[] = { kr_store_i64(id, u->id),
				 kr_store_i64(count, n) };
	PGconn *pg = PQconnectdb(e->cfg->shards[u->shard].primary);
	PGresult *res;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	res = PQexecParams(pg,
			   "INSERT INTO mailboxes (user_id, name, uidvalidity, "
			   "modseq) SELECT $1, 'bulk ' || g, 1, 1 "
			   "FROM generate_series(1, $2::int) g",
			   2, NULL, values, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(pg);
}

static struct rec
mb_create(struct env *e, const struct kr_store_user *u, const char *name)
{
	struct rec r;

	RUN(e, r,
	    kr_store_mailbox_create_begin(e->store, u, name, e->arena, dl(),
					  rec_mb, &r));
	return r;
}

/* A new user has 5 mailboxes: the KR_STORE_MAILBOXES_MAX-th is
 * created, the next one is KR_ERR_QUOTA; a name that exists is still a
 * conflict. */
static void
test_store_bounds_mailbox_cap(void **state)
{
	struct env *e = *state;
	struct kr_store_user u;
	struct rec r;

	NEED_CLUSTER(state);
	u = user_on(e, 2);
	mailboxes_add(e, &u, KR_STORE_MAILBOXES_MAX - 5 - 1);
	r = mb_create(e, &u, "the last one");
	OK(r);
	r = mb_create(e, &u, "one too many");
	assert_int_equal(KIND(r), KR_ERR_QUOTA);
	r = mb_create(e, &u, "the last one");
	assert_int_equal(KIND(r), KR_ERR_CONFLICT);
}

/* Concurrent creates at the cap (on separate connections): exactly as
 * many succeed as there is room for. */
static void
test_store_bounds_mailbox_cap_concurrent(void **state)
{
	enum {
		N = 6,
		ROOM = 2
	};
	struct env *e = *state;
	struct kr_store_user u;
	struct rec r[N];
	unsigned ok = 0, quota = 0;

	NEED_CLUSTER(state);
	u = user_on(e, 3);
	mailboxes_add(e, &u, KR_STORE_MAILBOXES_MAX - 5 - ROOM);
	memset(r, 0, sizeof(r));
	for (unsigned i = 0; i < N; i++) {
		char name[32];

		snprintf(name, sizeof(name), "racer %u", i);
		r[i].e = e;
		assert_non_null(kr_store_mailbox_create_begin(
			e->store, &u, name, e->arena, dl(), rec_mb, &r[i]));
	}
	assert_true(wait_recs(e, r, N));
	for (unsigned i = 0; i < N; i++) {
		ok += KIND(r[i]) == KR_ERR_NONE;
		quota += KIND(r[i]) == KR_ERR_QUOTA;
	}
	assert_int_equal(ok, ROOM);
	assert_int_equal(quota, N - ROOM);
}

/* Past the search bounds the store answers KR_ERR_PERMANENT without a
 * query; at them the search runs. */
static void
test_store_bounds_search_refused(void **state)
{
	struct env *e = *state;
	struct kr_connmgr_node_stats before, after;
	struct kr_store_user u;
	char *at, *over;
	struct kr_store_search q = { 0 };
	struct rec r;

	NEED_CLUSTER(state);
	u = user_on(e, 2);
	at = repeat("y", KR_STORE_SEARCH_FIELD_MAX);
	over = repeat("y", KR_STORE_SEARCH_FIELD_MAX + 1);
	node_stats(e, 2 + 1, &before); /* shard 2's primary is node 3 */
	assert_int_equal(before.shard, 2);
	q.subject = over;
	RUN(e, r,
	    kr_store_message_search_begin(e->store, &u, &q, e->arena, dl(),
					  rec_list, &r));
	assert_int_equal(KIND(r), KR_ERR_PERMANENT);
	node_stats(e, 3, &after);
	assert_int_equal(after.queries, before.queries);
	q.subject = at;
	q.text = "one two";
	RUN(e, r,
	    kr_store_message_search_begin(e->store, &u, &q, e->arena, dl(),
					  rec_list, &r));
	OK(r);
	assert_int_equal(
		((const struct kr_store_message_list_result *)r.res)->n, 0);
	free(at);
	free(over);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_store_bounds_meta_small_is_whole),
		cmocka_unit_test(test_store_bounds_meta_at_limit_pair),
		cmocka_unit_test(test_store_bounds_meta_many_attachments_cut),
		cmocka_unit_test(test_store_bounds_meta_worst_case_fits),
		cmocka_unit_test(test_store_bounds_search_check),
		cmocka_unit_test(test_store_bounds_config_limits),
	};
	const struct CMUnitTest cluster[] = {
		cmocka_unit_test_setup_teardown(
			test_store_bounds_replica_not_found_confirmed,
			test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(
			test_store_bounds_replica_revoked_confirmed, test_setup,
			test_teardown),
		cmocka_unit_test_setup_teardown(test_store_bounds_mailbox_cap,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(
			test_store_bounds_mailbox_cap_concurrent, test_setup,
			test_teardown),
		cmocka_unit_test_setup_teardown(
			test_store_bounds_search_refused, test_setup,
			test_teardown),
	};
	int failed =
		cmocka_run_group_tests_name("store_bounds", pure, NULL, NULL);

	return failed + cmocka_run_group_tests_name("store_bounds_cluster",
						    cluster, env_setup,
						    env_teardown);
}
