/* Nothing acknowledged is lost (SPEC.md §6): the check half of
 * tests/integration/test_lmtp_durability.sh, which runs bench_lmtp
 * against kurierd, SIGKILLs a worker in the middle of the burst and
 * then runs this program with
 *   KR_TEST_PG_CONF  the cluster's kurier.conf
 *   KR_TEST_ACKED    bench_lmtp -o: "<message-id>\t<recipient>" per 250
 *   KR_TEST_SENT     messages bench_lmtp was asked to send (3000)
 *   KR_TEST_MIN_ACKED_PCT  share that must have been acknowledged
 *                    (default 90; the fault tests that cut database
 *                    connections expect fewer)
 * Every acknowledged message must be stored exactly once, for its
 * recipient, byte for byte: Return-Path and Delivered-To, then the
 * message as ops/bench_msg.h rebuilds it from its Message-ID. Without
 * those variables the cluster tests are skipped; the generator's own
 * tests always run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/tpool.h"
#include "ops/bench_msg.h"
#include "storage/connmgr.h"
#include "storage/shardmap.h"
#include "storage/store.h"

#include "conf_env.h"

#define WAIT_MS 30000
#define OP_MS 10000
#define ACKED_MAX 1000000 /* lines read from KR_TEST_ACKED */
#define LINE_MAX_LEN 512
#define INFLIGHT 64	   /* message reads in flight at once */
#define STORED_MAX 1000000 /* bench rows read from all shards */
#define SHOWN 5		   /* mismatches described one by one */

/* One acknowledged message, and where it was found. */
struct acked {
	char id[BENCH_MSG_ID_MAX];
	char rcpt[BENCH_MSG_RCPT_MAX];
	unsigned found;
	unsigned shard;
	int64_t user_id, mailbox_id, uid;
};

struct user {
	char address[BENCH_MSG_RCPT_MAX];
	struct kr_store_user user;
};

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
	struct acked *acked;
	unsigned n_acked, cap_acked;
	struct user *users;
	unsigned n_users;
	unsigned sent;
	unsigned min_acked_pct;
	/* Stored but never acknowledged: committed when the answer was
	 * lost. Postfix would retry these, storing them twice. */
	unsigned unacked_stored;
};

/* One read in flight. */
struct slot {
	struct env *e;
	struct kr_arena *arena;
	struct acked *a;
	bool done;
	struct kr_err err;
	const struct kr_store_message_get_result *res;
};

static void
env_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* ---- the generator (no cluster needed) ------------------------------ */

static void
test_lmtp_durability_message_deterministic(void **state)
{
	char *a = malloc(4097), *b = malloc(4097), *c = malloc(4097);

	(void)state;
	assert_int_equal(bench_msg_make(a, 4096, 7, 42, "u1@bench.test"), 0);
	assert_int_equal(bench_msg_make(b, 4096, 7, 42, "u1@bench.test"), 0);
	assert_memory_equal(a, b, 4097);
	assert_int_equal(strlen(a), 4096);
	assert_int_equal(bench_msg_make(c, 4096, 7, 43, "u1@bench.test"), 0);
	assert_memory_not_equal(a, c, 4096);
	assert_int_equal(bench_msg_make(c, 4096, 8, 42, "u1@bench.test"), 0);
	assert_memory_not_equal(a, c, 4096);
	assert_non_null(strstr(a, "Message-ID: <bench-7-42-4096@bench.test>"));
	assert_non_null(strstr(a, "\r\nTo: <u1@bench.test>\r\n"));
	/* The body changes with the index, not only the headers. */
	assert_memory_not_equal(strstr(a, "\r\n\r\n"), strstr(c, "\r\n\r\n"),
				256);
	free(a);
	free(b);
	free(c);
}

/* CRLF only, short lines, no line starting with a dot: the bytes
 * stored are the bytes sent, whatever the server's DATA parser. */
static void
test_lmtp_durability_message_lines(void **state)
{
	static const size_t sizes[] = { BENCH_MSG_SIZE_MIN, 1500, 4096, 65536 };

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (uint64_t i = 0; i < 50; i++) {
			char *m = malloc(sizes[k] + 1);
			size_t col = 0;

			assert_int_equal(bench_msg_make(m, sizes[k], 3, i,
							"u9@bench.test"),
					 0);
			assert_int_equal(strlen(m), sizes[k]);
			assert_memory_equal(m + sizes[k] - 2, "\r\n", 2);
			for (size_t p = 0; p < sizes[k]; p++) {
				if (m[p] == '\n') {
					assert_true(p > 0 && m[p - 1] == '\r');
					col = 0;
					continue;
				}
				if (m[p] == '\r')
					assert_int_equal(m[p + 1], '\n');
				assert_false(col == 0 && m[p] == '.');
				assert_true(++col <= 200);
			}
			free(m);
		}
	}
}

static void
test_lmtp_durability_message_limits(void **state)
{
	char rcpt[BENCH_MSG_RCPT_MAX + 1];
	char *m = malloc(BENCH_MSG_SIZE_MAX + 1);

	(void)state;
	assert_int_equal(bench_msg_make(m, BENCH_MSG_SIZE_MIN, 1, 1, "a@b"), 0);
	assert_int_equal(bench_msg_make(m, BENCH_MSG_SIZE_MIN - 1, 1, 1, "a@b"),
			 -1);
	assert_int_equal(bench_msg_make(m, BENCH_MSG_SIZE_MAX, 1, 1, "a@b"), 0);
	assert_int_equal(strlen(m), BENCH_MSG_SIZE_MAX);
	assert_int_equal(bench_msg_make(m, BENCH_MSG_SIZE_MAX + 1, 1, 1, "a@b"),
			 -1);
	memset(rcpt, 'r', sizeof(rcpt));
	rcpt[BENCH_MSG_RCPT_MAX - 1] = '\0';
	assert_int_equal(bench_msg_make(m, 4096, 1, 1, rcpt), 0);
	rcpt[BENCH_MSG_RCPT_MAX - 1] = 'r';
	rcpt[BENCH_MSG_RCPT_MAX] = '\0';
	assert_int_equal(bench_msg_make(m, 4096, 1, 1, rcpt), -1);
	free(m);
}

static void
test_lmtp_durability_message_id_parse(void **state)
{
	static const char *const bad[] = {
		"other@bench.test",	      "bench-1-2@bench.test",
		"bench-1-2-x@bench.test",     "bench-01-2-4096@bench.test",
		"bench--1-2-4096@bench.test", "bench-1-2-4096@bench.test.x",
		"bench-1-2-4096@bench.test ",
	};
	char id[BENCH_MSG_ID_MAX];
	uint64_t seed, index;
	size_t size;
	volatile size_t small;

	(void)state;
	assert_int_equal(bench_msg_id(id, sizeof(id), UINT64_MAX, 3000, 4096),
			 0);
	assert_int_equal(bench_msg_id_parse(id, &seed, &index, &size), 0);
	assert_true(seed == UINT64_MAX && index == 3000 && size == 4096);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		assert_int_equal(
			bench_msg_id_parse(bad[k], &seed, &index, &size), -1);
	/* A buffer one byte short; volatile keeps the compiler from
	 * proving the truncation this checks. */
	small = strlen("bench-1-1-4096@bench.test");
	assert_int_equal(bench_msg_id(id, small, 1, 1, 4096), -1);
	assert_int_equal(bench_msg_id(id, small + 1, 1, 1, 4096), 0);
}

/* ---- set-up --------------------------------------------------------- */

static void
env_read_acked(struct env *e, const char *path)
{
	FILE *fp = fopen(path, "re");
	char line[LINE_MAX_LEN];

	if (fp == NULL)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
		struct acked *a;

		if (tab == NULL || nl == NULL || e->n_acked == ACKED_MAX)
			fail_msg("%s line %u: not \"id\\trcpt\"", path,
				 e->n_acked + 1);
		if (e->n_acked == e->cap_acked) {
			e->cap_acked =
				e->cap_acked > 0 ? 2 * e->cap_acked : 1024;
			e->acked = kr_xrealloc(
				e->acked, e->cap_acked * sizeof(*e->acked));
		}
		a = &e->acked[e->n_acked];
		memset(a, 0, sizeof(*a));
		*tab = *nl = '\0';
		if (snprintf(a->id, sizeof(a->id), "%s", line) >=
			    (int)sizeof(a->id) ||
		    snprintf(a->rcpt, sizeof(a->rcpt), "%s", tab + 1) >=
			    (int)sizeof(a->rcpt))
			fail_msg("%s line %u too long", path, e->n_acked + 1);
		e->n_acked++;
	}
	fclose(fp);
}

static int
env_setup(void **state)
{
	struct kr_tpool_settings io = { "io", 2, 256, 0 };
	struct kr_tpool_settings cpu = { "cpu", 1, 4096, 256 };
	struct timeval tick = { 0, 5000 };
	const char *sent = getenv("KR_TEST_SENT");
	struct env *e;
	struct kr_err err;

	if (getenv("KR_TEST_PG_CONF") == NULL ||
	    getenv("KR_TEST_ACKED") == NULL)
		return 0;
	e = kr_xcalloc(1, sizeof(*e));
	*state = e;
	e->sent = sent != NULL ? (unsigned)strtoul(sent, NULL, 10) : 3000;
	e->min_acked_pct =
		getenv("KR_TEST_MIN_ACKED_PCT") != NULL
			? (unsigned)strtoul(getenv("KR_TEST_MIN_ACKED_PCT"),
					    NULL, 10)
			: 90;
	env_read_acked(e, getenv("KR_TEST_ACKED"));
	assert_int_equal(
		kr_config_load(getenv("KR_TEST_PG_CONF"), &e->cfg, &err), 0);
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
	e->store = kr_store_create(e->base, e->mgr, e->map, e->cpu, NULL,
				   e->cfg, e->log);
	e->users = kr_xcalloc(e->n_acked + 1, sizeof(*e->users));
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
	free(e->acked);
	free(e->users);
	free(e);
	return 0;
}

/* ---- the cluster ---------------------------------------------------- */

static int
acked_cmp(const void *x, const void *y)
{
	return strcmp(((const struct acked *)x)->id,
		      ((const struct acked *)y)->id);
}

/* Enough was acknowledged for the test to mean something, and no
 * message twice. */
static void
test_lmtp_durability_enough_acked(void **state)
{
	struct env *e = *state;

	NEED_CLUSTER(state);
	fprintf(stderr, "acknowledged: %u of %u\n", e->n_acked, e->sent);
	assert_true((unsigned long long)e->n_acked * 100u >=
		    (unsigned long long)e->sent * e->min_acked_pct);
	assert_true(e->n_acked <= e->sent);
	qsort(e->acked, e->n_acked, sizeof(*e->acked), acked_cmp);
	for (unsigned i = 1; i < e->n_acked; i++)
		if (strcmp(e->acked[i - 1].id, e->acked[i].id) == 0)
			fail_msg("%s acknowledged twice", e->acked[i].id);
}

/* Every bench message on one shard, as rows of (id, address, user,
 * mailbox, uid), marked against the acknowledged ones. */
static void
scan_shard(struct env *e, unsigned shard, unsigned *bad)
{
	PGconn *pg = PQconnectdb(e->cfg->shards[shard].primary);
	PGresult *res;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	res = PQexec(pg, "SELECT m.message_id, u.address, u.id, m.mailbox_id,"
			 " m.uid FROM messages m JOIN users u ON u.id ="
			 " m.user_id WHERE m.message_id LIKE 'bench-%'"
			 " LIMIT 1000000");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	for (int r = 0; r < PQntuples(res); r++) {
		struct acked key = { .found = 0 }, *a;

		snprintf(key.id, sizeof(key.id), "%s", PQgetvalue(res, r, 0));
		a = bsearch(&key, e->acked, e->n_acked, sizeof(*e->acked),
			    acked_cmp);
		if (a == NULL) { /* stored, never acknowledged: allowed */
			e->unacked_stored++;
			continue;
		}
		if (a->found++ > 0 && (*bad)++ < SHOWN)
			fprintf(stderr, "%s stored more than once\n", a->id);
		if (strcmp(a->rcpt, PQgetvalue(res, r, 1)) != 0 &&
		    (*bad)++ < SHOWN)
			fprintf(stderr, "%s stored for %s, sent to %s\n", a->id,
				PQgetvalue(res, r, 1), a->rcpt);
		a->shard = shard;
		a->user_id = strtoll(PQgetvalue(res, r, 2), NULL, 10);
		a->mailbox_id = strtoll(PQgetvalue(res, r, 3), NULL, 10);
		a->uid = strtoll(PQgetvalue(res, r, 4), NULL, 10);
	}
	PQclear(res);
	PQfinish(pg);
}

static bool
wait_slots(struct env *e, struct slot *s, unsigned n)
{
	int64_t end = kr_clock_mono_ms() + WAIT_MS;

	for (;;) {
		unsigned done = 0;

		for (unsigned i = 0; i < n; i++)
			done += s[i].done;
		if (done == n)
			return true;
		if (kr_clock_mono_ms() > end)
			return false;
		event_base_loop(e->base, EVLOOP_ONCE);
	}
}

static void
on_user(void *ctx, const struct kr_store_user_get_result *res,
	const struct kr_err *err)
{
	struct slot *s = ctx;

	s->done = true;
	s->res = (const void *)res;
	if (err != NULL)
		s->err = *err;
}

static void
on_get(void *ctx, const struct kr_store_message_get_result *res,
       const struct kr_err *err)
{
	struct slot *s = ctx;

	s->done = true;
	s->res = res;
	if (err != NULL)
		s->err = *err;
}

/* The user through the store, as a client finds it: it must be the
 * user and the shard the row was found under. */
static const struct kr_store_user *
user_of(struct env *e, const struct acked *a, struct kr_arena *arena)
{
	struct slot s = { .e = e, .arena = arena };
	struct user *u;

	for (unsigned i = 0; i < e->n_users; i++)
		if (strcmp(e->users[i].address, a->rcpt) == 0)
			return &e->users[i].user;
	assert_non_null(kr_store_user_get_begin(
		e->store, a->rcpt, arena,
		kr_deadline_after(kr_clock_mono_us(), OP_MS), on_user, &s));
	assert_true(wait_slots(e, &s, 1));
	if (s.res == NULL)
		fail_msg("user %s: %s", a->rcpt, s.err.msg);
	u = &e->users[e->n_users++];
	snprintf(u->address, sizeof(u->address), "%s", a->rcpt);
	u->user = ((const struct kr_store_user_get_result *)s.res)->user;
	u->user.address = u->address;
	assert_int_equal(u->user.shard, a->shard);
	assert_true(u->user.id == a->user_id);
	return &u->user;
}

/* prefix + the message as sent, compared with the stored bytes. */
static bool
check_bytes(const struct acked *a,
	    const struct kr_store_message_get_result *res)
{
	uint64_t seed, index;
	size_t size, plen;
	char prefix[2 * BENCH_MSG_RCPT_MAX];
	char *msg;
	bool same;

	if (bench_msg_id_parse(a->id, &seed, &index, &size) < 0 ||
	    size > BENCH_MSG_SIZE_MAX)
		return false;
	plen = (size_t)snprintf(prefix, sizeof(prefix),
				"Return-Path: <" BENCH_MSG_SENDER ">\r\n"
				"Delivered-To: %s\r\n",
				a->rcpt);
	msg = malloc(size + 1);
	same = msg != NULL &&
	       bench_msg_make(msg, size, seed, index, a->rcpt) == 0 &&
	       res->raw_len == plen + size &&
	       memcmp(res->raw, prefix, plen) == 0 &&
	       memcmp(res->raw + plen, msg, size) == 0;
	free(msg);
	return same;
}

/* Reads acked[from, from + n) at once and checks each. */
static void
check_chunk(struct env *e, struct slot *slots, unsigned from, unsigned n,
	    unsigned *bad)
{
	for (unsigned i = 0; i < n; i++) {
		struct slot *s = &slots[i];
		const struct kr_store_user *u;

		s->a = &e->acked[from + i];
		s->done = false;
		s->res = NULL;
		kr_arena_reset(s->arena);
		u = user_of(e, s->a, s->arena);
		assert_non_null(kr_store_message_get_begin(
			e->store, u, s->a->mailbox_id, s->a->uid, s->arena,
			kr_deadline_after(kr_clock_mono_us(), OP_MS), on_get,
			s));
	}
	assert_true(wait_slots(e, slots, n));
	for (unsigned i = 0; i < n; i++) {
		if (slots[i].res == NULL) {
			if ((*bad)++ < SHOWN)
				fprintf(stderr, "%s: read failed: %s\n",
					slots[i].a->id, slots[i].err.msg);
		} else if (!check_bytes(slots[i].a, slots[i].res) &&
			   (*bad)++ < SHOWN) {
			fprintf(stderr, "%s: stored bytes differ\n",
				slots[i].a->id);
		}
	}
}

/* Every acknowledged message: stored once, for its recipient, and
 * byte for byte what was sent. */
static void
test_lmtp_durability_acked_stored(void **state)
{
	struct env *e = *state;
	struct slot slots[INFLIGHT];
	unsigned bad = 0, missing = 0;

	NEED_CLUSTER(state);
	qsort(e->acked, e->n_acked, sizeof(*e->acked), acked_cmp);
	for (unsigned k = 0; k < e->cfg->n_shards; k++)
		scan_shard(e, k, &bad);
	for (unsigned i = 0; i < e->n_acked; i++)
		if (e->acked[i].found == 0 && missing++ < SHOWN)
			fprintf(stderr, "%s (to %s) acknowledged, not stored\n",
				e->acked[i].id, e->acked[i].rcpt);
	assert_int_equal(missing, 0);
	assert_int_equal(bad, 0);
	for (unsigned i = 0; i < INFLIGHT; i++)
		slots[i] = (struct slot){
			.e = e, .arena = kr_arena_create(16384, 1 << 20, false)
		};
	for (unsigned i = 0; i < e->n_acked; i += INFLIGHT)
		check_chunk(e, slots, i,
			    e->n_acked - i < INFLIGHT ? e->n_acked - i
						      : INFLIGHT,
			    &bad);
	for (unsigned i = 0; i < INFLIGHT; i++)
		kr_arena_destroy(&slots[i].arena);
	fprintf(stderr, "checked byte for byte: %u messages, %u users\n",
		e->n_acked, e->n_users);
	fprintf(stderr, "stored but not acknowledged: %u\n", e->unacked_stored);
	assert_int_equal(bad, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lmtp_durability_message_deterministic),
		cmocka_unit_test(test_lmtp_durability_message_lines),
		cmocka_unit_test(test_lmtp_durability_message_limits),
		cmocka_unit_test(test_lmtp_durability_message_id_parse),
		cmocka_unit_test(test_lmtp_durability_enough_acked),
		cmocka_unit_test(test_lmtp_durability_acked_stored),
	};

	return cmocka_run_group_tests_name("lmtp_durability", tests, env_setup,
					   env_teardown);
}
