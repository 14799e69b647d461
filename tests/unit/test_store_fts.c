/* Full-text indexing behind delivery (storage/sql/008_fts_queue.sql,
 * storage/fts_indexer.h) against a real cluster: a delivered message
 * is queued, found by search before and after indexing; kr_fts_index
 * works in batches and empties the queue; copies and moves of a message
 * not indexed yet are found; expunge, mailbox and user delete leave no
 * queue row; at the bound delivery indexes inline; the C indexer
 * drains every shard and counts what it did. Skipped unless
 * KR_TEST_PG_CONF names a kurier.conf written by ops/pgcluster
 * (tests/integration/test_store_fts.sh sets it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#define WAIT_MS 15000
#define OP_MS 10000

#include "store_env.h"
#include "store_ops.h"

#include "proto/fts_terms.h"
#include "storage/fts_indexer.h"

/* ---- helpers -------------------------------------------------------- */

/* The first column of the first row of sql (n text parameters) on a
 * shard's primary as a number; -1 for no row or NULL. */
static long long
pg_num(struct env *e, unsigned shard, const char *sql, int n,
       const char *const *values)
{
	PGconn *pg = PQconnectdb(e->cfg->shards[shard].primary);
	PGresult *res;
	long long v = -1;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	res = PQexecParams(pg, sql, n, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	if (PQntuples(res) >= 1 && !PQgetisnull(res, 0, 0))
		v = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(pg);
	return v;
}

static long long
queue_rows(struct env *e, unsigned shard)
{
	return pg_num(e, shard, "SELECT count(*) FROM fts_queue", 0, NULL);
}

/* Queue rows of one message (0 or 1). */
static long long
queued(struct env *e, unsigned shard, int64_t mb, int64_t uid)
{
	char a[24], b[24];
	const char *v[] = { a, b };

	snprintf(a, sizeof(a), "%lld", (long long)mb);
	snprintf(b, sizeof(b), "%lld", (long long)uid);
	return pg_num(e, shard,
		      "SELECT count(*) FROM fts_queue WHERE mailbox_id = $1 "
		      "AND uid = $2",
		      2, v);
}

/* 1 when the message has its tsvector, 0 when not, -1: no message. */
static long long
indexed(struct env *e, unsigned shard, int64_t mb, int64_t uid)
{
	char a[24], b[24];
	const char *v[] = { a, b };

	snprintf(a, sizeof(a), "%lld", (long long)mb);
	snprintf(b, sizeof(b), "%lld", (long long)uid);
	return pg_num(
		e, shard,
		"SELECT count(f.*) FROM messages m LEFT JOIN message_fts f "
		"ON f.user_id = m.user_id AND f.mailbox_id = m.mailbox_id "
		"AND f.uid = m.uid WHERE m.mailbox_id = $1 AND m.uid = $2 "
		"GROUP BY m.uid",
		2, v);
}

/* One kr_fts_index(lim) call: how many it indexed (*backlog_r: its
 * estimate). */
static long long
index_once(struct env *e, unsigned shard, int lim, long long *backlog_r)
{
	PGconn *pg = PQconnectdb(e->cfg->shards[shard].primary);
	char l[16];
	const char *v[] = { l };
	PGresult *res;
	long long n;

	snprintf(l, sizeof(l), "%d", lim);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	res = PQexecParams(pg, "SELECT indexed, backlog FROM kr_fts_index($1)",
			   1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail_msg("kr_fts_index: %s", PQerrorMessage(pg));
	n = atoll(PQgetvalue(res, 0, 0));
	if (backlog_r != NULL)
		*backlog_r = atoll(PQgetvalue(res, 0, 1));
	PQclear(res);
	PQfinish(pg);
	return n;
}

/* Indexes a shard's whole queue (bounded: the tests queue little). */
static void
index_all(struct env *e, unsigned shard)
{
	for (int i = 0; i < 100 && index_once(e, shard, 1000, NULL) > 0; i++)
		;
	assert_int_equal(queue_rows(e, shard), 0);
}

/* message_fts rows of a user. */
static long long
fts_rows(struct env *e, const struct kr_store_user *u)
{
	char a[24];
	const char *v[] = { a };

	snprintf(a, sizeof(a), "%lld", (long long)u->id);
	return pg_num(e, u->shard,
		      "SELECT count(*) FROM message_fts WHERE user_id = $1", 1,
		      v);
}

/* message_fts rows whose message is gone (none, ever). */
static long long
stray_rows(struct env *e, unsigned shard)
{
	return pg_num(
		e, shard,
		"SELECT count(*) FROM message_fts f WHERE NOT EXISTS "
		"(SELECT 1 FROM messages m WHERE m.mailbox_id = "
		"f.mailbox_id AND m.uid = f.uid AND m.user_id = f.user_id)",
		0, NULL);
}

static void
set_bound(struct env *e, unsigned shard, long long bound)
{
	char b[24];
	const char *v[] = { b };

	snprintf(b, sizeof(b), "%lld", bound);
	(void)pg_num(e, shard, "UPDATE fts_state SET bound = $1", 1, v);
}

/* Delivers one message whose text has `word` to u's INBOX. */
static struct kr_store_rcpt_result
deliver_word(struct env *e, const struct kr_store_user *u, const char *word)
{
	struct kr_store_rcpt rcpt = { .address = u->address };
	struct kr_store_meta meta = { .subject = "fts test",
				      .from_email = "alice@example.org" };
	char body[256], text[256];
	const struct kr_store_deliver_result *res;

	snprintf(body, sizeof(body), "Subject: fts test\r\n\r\n%s %s\r\n", word,
		 e->tag);
	/* As the MIME summary makes them: subject, sender, then text. */
	snprintf(text, sizeof(text), "fts test alice@example.org %s %s", word,
		 e->tag);
	meta.search_terms = kr_fts_terms(e->arena, text, strlen(text),
					 sizeof(text), NULL, NULL);
	res = deliver(e, body, &rcpt, 1, &meta, NULL);
	assert_stored(&res->rcpts[0]);
	return res->rcpts[0];
}

/* How many messages of u a full-text search for word finds. */
static unsigned
found(struct env *e, const struct kr_store_user *u, const char *word)
{
	/* As the API splits a query. */
	struct kr_store_search q = {
		.text = kr_fts_terms(e->arena, word, strlen(word), 1000, NULL,
				     NULL),
	};
	const struct kr_store_message_list_result *l =
		ok_res(r_search(e, u, &q));

	return l->n;
}

/* A word no other test (nor run) has. */
static void
word_make(struct env *e, const char *what, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%u", what, e->tag, e->seq++);
}

static int
env_setup(void **state)
{
	return env_setup_with(state,
			      "[storage]\npool_high = 8\nquery_timeout = 10s\n",
			      -1, "f");
}

/* ---- tests ---------------------------------------------------------- */

static void
test_store_fts_found_before_and_after(void **state)
{
	struct env *e = *state;
	struct kr_store_user u;
	struct kr_store_rcpt_result m;
	char w[96];

	NEED_CLUSTER(state);
	u = user_new(e, "found", 0);
	word_make(e, "zebra", w, sizeof(w));
	m = deliver_word(e, &u, w);
	assert_int_equal(indexed(e, u.shard, m.mailbox_id, m.uid), 0);
	assert_int_equal(queued(e, u.shard, m.mailbox_id, m.uid), 1);
	assert_int_equal(found(e, &u, w), 1);
	assert_int_equal(found(e, &u, "nosuchwordanywhere"), 0);
	index_all(e, u.shard);
	assert_int_equal(indexed(e, u.shard, m.mailbox_id, m.uid), 1);
	assert_int_equal(found(e, &u, w), 1);
	/* The subject and sender are indexed with the text. */
	assert_int_equal(found(e, &u, "alice@example.org"), 1);
}

static void
test_store_fts_batches(void **state)
{
	struct env *e = *state;
	struct kr_store_user u;
	long long backlog, last = -1;
	char w[96];

	NEED_CLUSTER(state);
	u = user_new(e, "batch", 0);
	index_all(e, u.shard);
	word_make(e, "batch", w, sizeof(w));
	for (int i = 0; i < 7; i++)
		(void)deliver_word(e, &u, w);
	assert_int_equal(queue_rows(e, u.shard), 7);
	assert_int_equal(index_once(e, u.shard, 3, &backlog), 3);
	assert_int_equal(backlog, 4);
	assert_int_equal(queue_rows(e, u.shard), 4);
	assert_int_equal(found(e, &u, w), 7); /* 3 indexed, 4 queued */
	assert_int_equal(index_once(e, u.shard, 3, &backlog), 3);
	assert_int_equal(backlog, 1);
	assert_int_equal(index_once(e, u.shard, 3, &last), 1);
	assert_int_equal(last, 0);
	assert_int_equal(index_once(e, u.shard, 3, &last), 0);
	assert_int_equal(last, 0);
	assert_int_equal(queue_rows(e, u.shard), 0);
	assert_int_equal(found(e, &u, w), 7);
}

/* kr_fts_index(lim, min) leaves a backlog under min alone. */
static void
test_store_fts_min_backlog(void **state)
{
	struct env *e = *state;
	struct kr_store_user u;
	long long backlog;
	char w[96];

	NEED_CLUSTER(state);
	u = user_new(e, "min", 0);
	index_all(e, u.shard);
	word_make(e, "min", w, sizeof(w));
	for (int i = 0; i < 3; i++)
		(void)deliver_word(e, &u, w);
	assert_int_equal(pg_num(e, u.shard,
				"SELECT indexed FROM kr_fts_index(10, 4)", 0,
				NULL),
			 0);
	assert_int_equal(queue_rows(e, u.shard), 3);
	assert_int_equal(pg_num(e, u.shard,
				"SELECT backlog FROM kr_fts_index(10, 4)", 0,
				NULL),
			 3);
	assert_int_equal(pg_num(e, u.shard,
				"SELECT indexed FROM kr_fts_index(10, 3)", 0,
				NULL),
			 3);
	assert_int_equal(queue_rows(e, u.shard), 0);
	assert_int_equal(index_once(e, u.shard, 10, &backlog), 0);
	assert_int_equal(backlog, 0);
	assert_int_equal(found(e, &u, w), 3);
}

static void
test_store_fts_copy_move_unindexed(void **state)
{
	struct env *e = *state;
	struct kr_store_user u;
	struct kr_store_rcpt_result m;
	const struct kr_store_message_move_result *mv;
	int64_t drafts, trash, copy_uid, moved_uid;
	char w[96];

	NEED_CLUSTER(state);
	u = user_new(e, "copy", 0);
	drafts = mailbox_named(e, &u, "Drafts").id;
	trash = mailbox_named(e, &u, "Trash").id;
	word_make(e, "copy", w, sizeof(w));
	m = deliver_word(e, &u, w);
	mv = ok_res(r_move(e, &u, true, m.mailbox_id, m.uid, drafts));
	assert_int_equal(mv->n, 1);
	copy_uid = mv->uids[0].new_uid;
	assert_int_equal(queued(e, u.shard, drafts, copy_uid), 1);
	assert_int_equal(found(e, &u, w), 2);
	mv = ok_res(r_move(e, &u, false, m.mailbox_id, m.uid, trash));
	assert_int_equal(mv->n, 1);
	moved_uid = mv->uids[0].new_uid;
	assert_int_equal(queued(e, u.shard, m.mailbox_id, m.uid), 0);
	assert_int_equal(queued(e, u.shard, trash, moved_uid), 1);
	assert_int_equal(found(e, &u, w), 2);
	index_all(e, u.shard);
	assert_int_equal(indexed(e, u.shard, drafts, copy_uid), 1);
	assert_int_equal(indexed(e, u.shard, trash, moved_uid), 1);
	assert_int_equal(found(e, &u, w), 2);
	/* An indexed message copies its tsvector, and queues nothing. */
	mv = ok_res(r_move(e, &u, true, trash, moved_uid, drafts));
	assert_int_equal(mv->n, 1);
	assert_int_equal(indexed(e, u.shard, drafts, mv->uids[0].new_uid), 1);
	assert_int_equal(queue_rows(e, u.shard), 0);
	assert_int_equal(found(e, &u, w), 3);
}

static void
test_store_fts_deletes_leave_no_row(void **state)
{
	struct env *e = *state;
	struct kr_store_user u;
	struct kr_store_rcpt_result m;
	const struct kr_store_message_move_result *mv;
	const struct kr_store_mailbox *mb;
	char w[96];

	NEED_CLUSTER(state);
	u = user_new(e, "del", 0);
	index_all(e, u.shard);
	word_make(e, "gone", w, sizeof(w));
	/* Expunge. */
	m = deliver_word(e, &u, w);
	assert_int_equal(queued(e, u.shard, m.mailbox_id, m.uid), 1);
	OK(r_delete(e, &u, m.mailbox_id, m.uid));
	assert_int_equal(queued(e, u.shard, m.mailbox_id, m.uid), 0);
	assert_int_equal(found(e, &u, w), 0);
	/* A mailbox deleted with a queued message in it. */
	mb = ok_res(r_mb_create(e, &u, "Doomed"));
	m = deliver_word(e, &u, w);
	mv = ok_res(r_move(e, &u, false, m.mailbox_id, m.uid, mb->id));
	assert_int_equal(queued(e, u.shard, mb->id, mv->uids[0].new_uid), 1);
	OK(r_mb_delete(e, &u, mb->id));
	assert_int_equal(queue_rows(e, u.shard), 0);
	/* The user deleted. */
	(void)deliver_word(e, &u, w);
	assert_int_equal(queue_rows(e, u.shard), 1);
	OK(r_user_delete(e, u.address));
	assert_int_equal(queue_rows(e, u.shard), 0);
}

/* Indexed messages (rows of message_fts): expunge, move, copy, mailbox
 * and user delete keep search exact and leave no stray row. */
static void
test_store_fts_indexed_moves_and_deletes(void **state)
{
	struct env *e = *state;
	struct kr_store_user u;
	struct kr_store_rcpt_result m[3];
	const struct kr_store_message_move_result *mv;
	const struct kr_store_mailbox *mb;
	char w[96];

	NEED_CLUSTER(state);
	u = user_new(e, "idel", 0);
	word_make(e, "idx", w, sizeof(w));
	for (int i = 0; i < 3; i++)
		m[i] = deliver_word(e, &u, w);
	index_all(e, u.shard);
	assert_int_equal(fts_rows(e, &u), 3);
	assert_int_equal(found(e, &u, w), 3);
	/* Expunge. */
	OK(r_delete(e, &u, m[0].mailbox_id, m[0].uid));
	assert_int_equal(fts_rows(e, &u), 2);
	assert_int_equal(found(e, &u, w), 2);
	/* Move: the tsvector follows the message to its new UID. */
	mb = ok_res(r_mb_create(e, &u, "Doomed"));
	mv = ok_res(r_move(e, &u, false, m[1].mailbox_id, m[1].uid, mb->id));
	assert_int_equal(mv->n, 1);
	assert_int_equal(indexed(e, u.shard, mb->id, mv->uids[0].new_uid), 1);
	assert_int_equal(fts_rows(e, &u), 2);
	assert_int_equal(found(e, &u, w), 2);
	/* Copy: a second row. */
	mv = ok_res(r_move(e, &u, true, m[2].mailbox_id, m[2].uid, mb->id));
	assert_int_equal(mv->n, 1);
	assert_int_equal(indexed(e, u.shard, mb->id, mv->uids[0].new_uid), 1);
	assert_int_equal(fts_rows(e, &u), 3);
	assert_int_equal(found(e, &u, w), 3);
	assert_int_equal(queue_rows(e, u.shard), 0);
	/* Mailbox delete takes the moved and the copied row. */
	OK(r_mb_delete(e, &u, mb->id));
	assert_int_equal(fts_rows(e, &u), 1);
	assert_int_equal(found(e, &u, w), 1);
	assert_int_equal(stray_rows(e, u.shard), 0);
	/* User delete takes the rest. */
	OK(r_user_delete(e, u.address));
	assert_int_equal(fts_rows(e, &u), 0);
	assert_int_equal(stray_rows(e, u.shard), 0);
}

/* Sends sql on a new connection without waiting (the caller collects
 * it with race_end). */
static PGconn *
race_begin(struct env *e, unsigned shard, const char *sql)
{
	PGconn *pg = PQconnectdb(e->cfg->shards[shard].primary);

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	assert_int_equal(PQsendQuery(pg, sql), 1);
	return pg;
}

/* 1 while the query is still running after ms milliseconds. */
static int
race_busy(PGconn *pg, int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	assert_int_equal(PQconsumeInput(pg), 1);
	return PQisBusy(pg);
}

static void
race_end(PGconn *pg)
{
	PGresult *res;

	while ((res = PQgetResult(pg)) != NULL) {
		if (PQresultStatus(res) != PGRES_TUPLES_OK &&
		    PQresultStatus(res) != PGRES_COMMAND_OK)
			fail_msg("race: %s", PQerrorMessage(pg));
		PQclear(res);
	}
	PQfinish(pg);
}

/* An expunge and a move that run while the indexer's transaction holds
 * their queue rows wait for it, then remove (move) the rows it
 * inserted: no stray row, the moved message still found. */
static void
test_store_fts_indexer_races_deletes(void **state)
{
	struct env *e = *state;
	struct kr_store_user u;
	struct kr_store_rcpt_result a, b;
	int64_t trash;
	PGconn *ix, *del, *mov;
	char sql[256], w[96];

	NEED_CLUSTER(state);
	u = user_new(e, "race", 0);
	index_all(e, u.shard);
	trash = mailbox_named(e, &u, "Trash").id;
	word_make(e, "race", w, sizeof(w));
	a = deliver_word(e, &u, w);
	b = deliver_word(e, &u, w);
	ix = race_begin(e, u.shard, "BEGIN; SELECT * FROM kr_fts_index(1000)");
	while (race_busy(ix, 10))
		;
	{
		PGresult *res;

		while ((res = PQgetResult(ix)) != NULL)
			PQclear(res);
	}
	snprintf(sql, sizeof(sql),
		 "SELECT * FROM kr_msg_delete(%lld, %lld, "
		 "ARRAY[%lld]::bigint[])",
		 (long long)u.id, (long long)a.mailbox_id, (long long)a.uid);
	del = race_begin(e, u.shard, sql);
	snprintf(sql, sizeof(sql),
		 "SELECT * FROM kr_msg_move(%lld, %lld, ARRAY[%lld]::bigint[], "
		 "%lld)",
		 (long long)u.id, (long long)b.mailbox_id, (long long)b.uid,
		 (long long)trash);
	mov = race_begin(e, u.shard, sql);
	assert_true(race_busy(del, 300));
	assert_true(race_busy(mov, 1));
	PQclear(PQexec(ix, "COMMIT"));
	PQfinish(ix);
	race_end(del);
	race_end(mov);
	assert_int_equal(queue_rows(e, u.shard), 0);
	assert_int_equal(fts_rows(e, &u), 1);
	assert_int_equal(stray_rows(e, u.shard), 0);
	assert_int_equal(found(e, &u, w), 1);
}

static void
test_store_fts_inline_at_bound(void **state)
{
	struct env *e = *state;
	struct kr_store_user u;
	struct kr_store_rcpt_result m;
	char w[96];

	NEED_CLUSTER(state);
	u = user_new(e, "bound", 0);
	index_all(e, u.shard);
	word_make(e, "bound", w, sizeof(w));
	/* Two queued, bound 2: the third is indexed inline. */
	set_bound(e, u.shard, 2);
	m = deliver_word(e, &u, w);
	assert_int_equal(queued(e, u.shard, m.mailbox_id, m.uid), 1);
	m = deliver_word(e, &u, w);
	assert_int_equal(queued(e, u.shard, m.mailbox_id, m.uid), 1);
	m = deliver_word(e, &u, w);
	assert_int_equal(queued(e, u.shard, m.mailbox_id, m.uid), 0);
	assert_int_equal(indexed(e, u.shard, m.mailbox_id, m.uid), 1);
	assert_int_equal(queue_rows(e, u.shard), 2);
	assert_int_equal(found(e, &u, w), 3);
	/* Once the indexer has caught up, delivery queues again. */
	index_all(e, u.shard);
	m = deliver_word(e, &u, w);
	assert_int_equal(queued(e, u.shard, m.mailbox_id, m.uid), 1);
	set_bound(e, u.shard, 5000);
	index_all(e, u.shard);
	assert_int_equal(found(e, &u, w), 4);
}

static void
test_store_fts_indexer_drains(void **state)
{
	struct env *e = *state;
	struct kr_fts_indexer_settings s = {
		.batch = 2, .busy_ms = 20, .idle_ms = 50, .inflight = 1
	};
	struct kr_fts_indexer *ix;
	struct kr_store_user u[4];
	struct kr_metric_value v;
	char w[96];
	int64_t end;

	NEED_CLUSTER(state);
	for (unsigned i = 0; i < e->cfg->n_shards; i++)
		index_all(e, i);
	word_make(e, "drain", w, sizeof(w));
	for (unsigned i = 0; i < 4; i++) {
		u[i] = user_new(e, "drain", 0);
		for (int k = 0; k < 3; k++)
			(void)deliver_word(e, &u[i], w);
	}
	ix = kr_fts_indexer_create(e->base, e->mgr,
				   kr_metrics_slot(e->metrics, 0), e->ids, &s);
	end = kr_clock_mono_ms() + WAIT_MS;
	while (kr_clock_mono_ms() < end && kr_fts_indexer_indexed(ix) < 12)
		spin(e, 20);
	assert_int_equal(kr_fts_indexer_indexed(ix), 12);
	for (unsigned i = 0; i < e->cfg->n_shards; i++)
		assert_int_equal(queue_rows(e, i), 0);
	kr_metrics_read_total(e->metrics, kr_connmgr_fts_indexed_metric(e->ids),
			      &v);
	assert_int_equal(v.value, 12);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(found(e, &u[i], w), 3);
	kr_fts_indexer_destroy(&ix);
	assert_null(ix);
	kr_metrics_read_total(e->metrics,
			      kr_connmgr_fts_backlog_metric(e->ids, u[0].shard),
			      &v);
	assert_int_equal(v.value, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_fts_found_before_and_after),
		T(test_store_fts_batches),
		T(test_store_fts_min_backlog),
		T(test_store_fts_copy_move_unindexed),
		T(test_store_fts_deletes_leave_no_row),
		T(test_store_fts_indexed_moves_and_deletes),
		T(test_store_fts_indexer_races_deletes),
		T(test_store_fts_inline_at_bound),
		T(test_store_fts_indexer_drains),
	};

	return cmocka_run_group_tests_name("store_fts", tests, env_setup,
					   env_teardown);
}
