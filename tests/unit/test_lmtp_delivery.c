/* The LMTP side of delivery (server/lmtp/lmtp_delivery.h): the one
 * table of replies, both ways [lmtp] over_quota can be set; RCPT
 * refusals logged and counted; an LMTP message as a neutral delivery;
 * a delivery without a store answered 451 for every recipient, logged
 * and counted. No cluster needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "server/lmtp/lmtp_delivery.h"
#include "server/lmtp/lmtp_metrics.h"
#include "server/runtime.h"

#define WAIT_MS 5000
#define LOG_MAX 8192

struct env {
	struct kr_runtime rt;
	struct kr_log *own_log; /* the runtime's, back before deinit */
	int log_fd;		/* the read end of rt.log's pipe */
	char log[LOG_MAX];
};

static int
env_setup(void **state)
{
	struct env *e = kr_xcalloc(1, sizeof(*e));
	struct kr_err err;
	int fds[2];

	/* An empty config: every default. */
	if (kr_runtime_init(&e->rt, "/dev/null", &err) < 0)
		fail_msg("runtime: %s", err.msg);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	e->log_fd = fds[0];
	e->own_log = e->rt.log;
	e->rt.log = kr_log_create(fds[1], KR_LOG_DEBUG, "worker.0");
	*state = e;
	return 0;
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	kr_log_destroy(&e->rt.log);
	e->rt.log = e->own_log;
	kr_runtime_deinit(&e->rt);
	close(e->log_fd);
	free(e);
	return 0;
}

/* What was logged since the last call. */
static const char *
logged(struct env *e)
{
	ssize_t n = read(e->log_fd, e->log, sizeof(e->log) - 1);

	e->log[n > 0 ? n : 0] = '\0';
	return e->log;
}

static int64_t
counted(struct env *e, int id)
{
	struct kr_metric_value v;

	kr_metrics_read_slot(e->rt.slot, id, &v);
	return v.value;
}

/* ---- the table ------------------------------------------------------ */

/* result's replies at RCPT and after DATA with [lmtp] over_quota mode. */
static void
table_check(struct kr_config *cfg, enum kr_config_over_quota mode,
	    enum kr_deliver_result result, enum kr_lmtp_rcpt_result rcpt,
	    enum kr_lmtp_deliver_result data)
{
	cfg->lmtp.over_quota = mode;
	assert_int_equal(kr_lmtp_delivery_rcpt_reply(cfg, result), rcpt);
	assert_int_equal(kr_lmtp_delivery_data_reply(cfg, result), data);
}

static void
test_lmtp_delivery_table(void **state)
{
	static const struct {
		enum kr_deliver_result result;
		enum kr_lmtp_rcpt_result rcpt, rcpt_perm;
		enum kr_lmtp_deliver_result data, data_perm;
	} rows[] = {
		{ KR_DELIVER_DELIVERED, KR_LMTP_RCPT_OK, KR_LMTP_RCPT_OK,
		  KR_LMTP_DELIVER_OK, KR_LMTP_DELIVER_OK },
		{ KR_DELIVER_UNKNOWN, KR_LMTP_RCPT_UNKNOWN,
		  KR_LMTP_RCPT_UNKNOWN, KR_LMTP_DELIVER_UNKNOWN,
		  KR_LMTP_DELIVER_UNKNOWN },
		{ KR_DELIVER_OVER_QUOTA, KR_LMTP_RCPT_OVER_QUOTA,
		  KR_LMTP_RCPT_OVER_QUOTA_PERM, KR_LMTP_DELIVER_OVER_QUOTA,
		  KR_LMTP_DELIVER_OVER_QUOTA_PERM },
		{ KR_DELIVER_TOO_LARGE, KR_LMTP_RCPT_TOO_LARGE,
		  KR_LMTP_RCPT_TOO_LARGE, KR_LMTP_DELIVER_TOO_LARGE,
		  KR_LMTP_DELIVER_TOO_LARGE },
		{ KR_DELIVER_REJECTED, KR_LMTP_RCPT_REJECT, KR_LMTP_RCPT_REJECT,
		  KR_LMTP_DELIVER_REJECT, KR_LMTP_DELIVER_REJECT },
		{ KR_DELIVER_UNAVAILABLE, KR_LMTP_RCPT_UNAVAILABLE,
		  KR_LMTP_RCPT_UNAVAILABLE, KR_LMTP_DELIVER_TEMPFAIL,
		  KR_LMTP_DELIVER_TEMPFAIL },
		{ KR_DELIVER_TEMPFAIL, KR_LMTP_RCPT_TEMPFAIL,
		  KR_LMTP_RCPT_TEMPFAIL, KR_LMTP_DELIVER_TEMPFAIL,
		  KR_LMTP_DELIVER_TEMPFAIL },
		{ KR_DELIVER_DEFERRED, KR_LMTP_RCPT_TEMPFAIL,
		  KR_LMTP_RCPT_TEMPFAIL, KR_LMTP_DELIVER_DEFER,
		  KR_LMTP_DELIVER_DEFER },
	};
	struct env *e = *state;
	struct kr_config *cfg = e->rt.cfg;

	assert_int_equal(sizeof(rows) / sizeof(rows[0]),
			 KR_DELIVER_RESULT_COUNT);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		table_check(cfg, KR_CONFIG_OVER_QUOTA_TEMPORARY, rows[i].result,
			    rows[i].rcpt, rows[i].data);
		table_check(cfg, KR_CONFIG_OVER_QUOTA_PERMANENT, rows[i].result,
			    rows[i].rcpt_perm, rows[i].data_perm);
	}
	cfg->lmtp.over_quota = KR_CONFIG_OVER_QUOTA_TEMPORARY;
}

/* ---- RCPT ----------------------------------------------------------- */

/* A refusal is logged with the address as sent and counted; an
 * accepted recipient neither (the delivery logs and counts it). */
static void
test_lmtp_delivery_rcpt_refusals(void **state)
{
	struct env *e = *state;
	const struct kr_lmtp_metrics *ids = e->rt.lmtp_ids;
	struct kr_err err = { .kind = KR_ERR_NOT_FOUND, .msg = "no such user" };

	(void)logged(e);
	assert_int_equal(kr_lmtp_delivery_rcpt(&e->rt, "L1.1",
					       "Nobody+x@d.test",
					       KR_DELIVER_UNKNOWN, &err),
			 KR_LMTP_RCPT_UNKNOWN);
	assert_non_null(strstr(logged(e), "req=L1.1 event=lmtp.rcpt "
					  "rcpt=Nobody+x@d.test status=unknown "
					  "error=\"no such user\""));
	assert_int_equal(counted(e, ids->rcpt_unknown), 1);
	e->rt.cfg->lmtp.over_quota = KR_CONFIG_OVER_QUOTA_PERMANENT;
	assert_int_equal(kr_lmtp_delivery_rcpt(&e->rt, "L1.1", "full@d.test",
					       KR_DELIVER_OVER_QUOTA, NULL),
			 KR_LMTP_RCPT_OVER_QUOTA_PERM);
	e->rt.cfg->lmtp.over_quota = KR_CONFIG_OVER_QUOTA_TEMPORARY;
	assert_non_null(
		strstr(logged(e), "rcpt=full@d.test status=over_quota\n"));
	assert_int_equal(counted(e, ids->rcpt_quota), 1);
	assert_int_equal(kr_lmtp_delivery_rcpt(&e->rt, "L1.1", "x@d.test",
					       KR_DELIVER_UNAVAILABLE, NULL),
			 KR_LMTP_RCPT_UNAVAILABLE);
	assert_non_null(strstr(logged(e), "status=unavailable"));
	assert_int_equal(counted(e, ids->rcpt_unavailable), 1);
	assert_int_equal(kr_lmtp_delivery_rcpt(&e->rt, "L1.1", "ok@d.test",
					       KR_DELIVER_DELIVERED, NULL),
			 KR_LMTP_RCPT_OK);
	assert_string_equal(logged(e), "");
	assert_int_equal(counted(e, ids->rcpt_ok), 0);
}

/* ---- the message as a delivery -------------------------------------- */

static const char data[] = "Subject: x\r\n\r\nbody\r\n";

static const struct kr_lmtp_rcpt rcpts[] = {
	{ "User+Box@D.test", "User", "Box", "D.test", (int64_t)7 << 40 },
	{ "Postmaster", "Postmaster", NULL, "", 0 },
};

static void
test_lmtp_delivery_from_message(void **state)
{
	struct kr_lmtp_message msg = {
		.mail_from = "s@ext.test",
		.rcpts = rcpts,
		.rcpt_count = 2,
		.data = data,
		.size = sizeof(data) - 1,
		.xforward = { .name = "mx.ext.test",
			      .addr = "2001:db8::1",
			      .proto = "ESMTP",
			      .helo = "helo.ext.test" },
	};
	struct kr_deadline at = { 12345 };
	struct kr_arena *arena = kr_arena_create(1024, 0, false);
	struct kr_delivery dl;

	(void)state;
	kr_lmtp_delivery_from_message(&msg, "192.0.2.1", "L1.2", at, arena,
				      &dl);
	assert_string_equal(dl.sender, "s@ext.test");
	assert_int_equal(dl.n_rcpts, 2);
	assert_string_equal(dl.rcpts[0].address, "User+Box@D.test");
	assert_string_equal(dl.rcpts[0].account, "User@D.test");
	assert_string_equal(dl.rcpts[0].folder, "Box");
	assert_string_equal(dl.rcpts[1].address, "Postmaster");
	assert_string_equal(dl.rcpts[1].account, "Postmaster@");
	assert_null(dl.rcpts[1].folder);
	/* The RCPT look-up's user goes on to the store. */
	assert_int_equal(dl.rcpts[0].user_id, (int64_t)7 << 40);
	assert_int_equal(dl.rcpts[1].user_id, 0);
	assert_ptr_equal(dl.body, data); /* borrowed, not copied */
	assert_int_equal(dl.body_len, sizeof(data) - 1);
	assert_string_equal(dl.client.addr, "2001:db8::1");
	assert_string_equal(dl.client.name, "mx.ext.test");
	assert_string_equal(dl.client.helo, "helo.ext.test");
	assert_string_equal(dl.client.proto, "ESMTP");
	assert_false(dl.client.name_tempunavail);
	assert_string_equal(dl.req_id, "L1.2");
	assert_int_equal(dl.deadline.at_us, 12345);
	/* Without XFORWARD the client is the connection's peer. */
	memset(&msg.xforward, 0, sizeof(msg.xforward));
	msg.xforward.name_tempunavail = true;
	kr_lmtp_delivery_from_message(&msg, "192.0.2.1", "L1.2", at, arena,
				      &dl);
	assert_string_equal(dl.client.addr, "192.0.2.1");
	assert_null(dl.client.name);
	assert_null(dl.client.helo);
	assert_true(dl.client.name_tempunavail);
	kr_lmtp_delivery_from_message(&msg, NULL, "L1.2", at, arena, &dl);
	assert_null(dl.client.addr); /* a unix socket */
	kr_arena_destroy(&arena);
}

/* ---- a delivery ----------------------------------------------------- */

struct answer {
	int calls;
	bool in_begin;
	enum kr_lmtp_deliver_result replies[2];
	size_t n;
};

static void
answer_done(void *ctx, const enum kr_lmtp_deliver_result *replies, size_t n)
{
	struct answer *a = ctx;

	assert_false(a->in_begin);
	assert_true(n <= 2);
	a->calls++;
	a->n = n;
	memcpy(a->replies, replies, n * sizeof(*replies));
}

/* data from sender to the first n of rcpts. */
static struct kr_lmtp_message
message(const char *sender, size_t n)
{
	return (struct kr_lmtp_message){ .mail_from = sender,
					 .rcpts = rcpts,
					 .rcpt_count = n,
					 .data = data,
					 .size = sizeof(data) - 1 };
}

/* No store (no shard configured): 451 4.3.0 for every recipient, one
 * lmtp.deliver line each, the message and its bytes counted. */
static void
test_lmtp_delivery_no_store(void **state)
{
	struct env *e = *state;
	const struct kr_lmtp_metrics *ids = e->rt.lmtp_ids;
	struct kr_lmtp_message msg = message("", 2);
	struct event_base *base = event_base_new();
	const struct kr_deliver_env env = { .base = base };
	struct answer a = { .in_begin = true };
	int64_t end = kr_clock_mono_ms() + WAIT_MS;
	int64_t before = counted(e, ids->rcpt_unavailable);
	const char *log;

	(void)logged(e);
	assert_non_null(kr_lmtp_delivery_begin(&env, &e->rt, "L1.3", NULL, &msg,
					       answer_done, &a));
	a.in_begin = false;
	while (a.calls == 0 && kr_clock_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.replies[0], KR_LMTP_DELIVER_TEMPFAIL);
	assert_int_equal(a.replies[1], KR_LMTP_DELIVER_TEMPFAIL);
	log = logged(e);
	assert_non_null(strstr(log, "req=L1.3 event=lmtp.deliver from=\"\" "
				    "rcpt=User+Box@D.test status=tempfail "
				    "size=20 ms="));
	assert_non_null(strstr(log, "rcpt=Postmaster status=tempfail"));
	assert_null(strstr(log, "lmtp.shed"));
	assert_int_equal(counted(e, ids->rcpt_unavailable), before + 2);
	assert_int_equal(counted(e, ids->messages), 1);
	assert_int_equal(counted(e, ids->bytes), sizeof(data) - 1);
	assert_int_equal(counted(e, ids->latency), 1);
	event_base_free(base);
}

/* Cancelled before the answer: never called back. */
static void
test_lmtp_delivery_cancel(void **state)
{
	struct env *e = *state;
	struct kr_lmtp_message msg = message("s@ext.test", 1);
	struct event_base *base = event_base_new();
	const struct kr_deliver_env env = { .base = base };
	struct answer a = { 0 };
	struct kr_lmtp_delivery *ld = kr_lmtp_delivery_begin(
		&env, &e->rt, "L1.4", NULL, &msg, answer_done, &a);

	kr_lmtp_delivery_cancel(&ld);
	assert_null(ld);
	kr_lmtp_delivery_cancel(&ld); /* NULL is fine */
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(a.calls, 0);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lmtp_delivery_table),
		cmocka_unit_test(test_lmtp_delivery_rcpt_refusals),
		cmocka_unit_test(test_lmtp_delivery_from_message),
		cmocka_unit_test(test_lmtp_delivery_no_store),
		cmocka_unit_test(test_lmtp_delivery_cancel),
	};

	return cmocka_run_group_tests_name("lmtp_delivery", tests, env_setup,
					   env_teardown);
}
