/* The antispam host: modules loaded from a directory, the verdict and
 * its headers, generations across reloads (in flight, unloaded, as
 * the admin side's status lists them), refused modules. Uses the test modules
 * of tests/modules/ built into build/<mode>/test-modules/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <event2/event.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "antispam/antispam.h"
#include "antispam/counter.h"
#include "antispam/status.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/log.h"
#include "tests/unit/conf_env.h"

struct env {
	char dir[64];  /* the modules directory */
	char conf[64]; /* the config */
	char built[PATH_MAX];
	struct event_base *base;
	struct kr_log *log;
	struct kr_config *cfg;
	struct kr_antispam *as;
};

struct answer {
	int calls;
	uint64_t generation;
	enum kr_antispam_kind kind[2];
	double score[2];
	char headers[2][512];
	char tests[128];
};

/* build/<mode>/test-modules beside build/<mode>/tests/<this>. */
static void
env_built(struct env *e)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(e->built, sizeof(e->built), "%s/test-modules",
		 dirname(dirname(exe)));
}

static void
env_copy(struct env *e, const char *from, const char *to)
{
	char cmd[PATH_MAX * 2 + 64];

	snprintf(cmd, sizeof(cmd), "cp %s/%s %s/%s", e->built, from, e->dir,
		 to);
	assert_int_equal(system(cmd), 0);
}

static void
env_config(struct env *e, const char *extra)
{
	char text[1024];
	struct kr_err err;
	int n = snprintf(text, sizeof(text),
			 "[antispam]\nenabled = true\nmodules = %s\n%s", e->dir,
			 extra);

	kr_config_destroy(&e->cfg);
	if (e->conf[0] != '\0')
		unlink(e->conf);
	conf_env_write(e->conf, sizeof(e->conf), "/tmp/kr-as-XXXXXX", text,
		       (size_t)n);
	if (kr_config_load(e->conf, &e->cfg, &err) < 0)
		fail_msg("%s", err.msg);
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	snprintf(e->dir, sizeof(e->dir), "/tmp/kr-as-mods-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	env_built(e);
	env_copy(e, "kr_hold.so", "kr_hold.so");
	e->base = event_base_new();
	e->log = kr_log_create(2, KR_LOG_WARN, "test");
	setenv("KR_TEST_HOLD_MS", "0", 1);
	setenv("KR_TEST_HOLD_SCORE", "0", 1);
	env_config(e, "");
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	kr_antispam_destroy(&e->as);
	kr_config_destroy(&e->cfg);
	kr_log_destroy(&e->log);
	event_base_free(e->base);
	unlink(e->conf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static void
env_create(struct env *e)
{
	struct kr_antispam_env aenv = { .base = e->base, .log = e->log };
	struct kr_err err;

	if (kr_antispam_create(&aenv, e->cfg, &e->as, &err) < 0)
		fail_msg("%s", err.msg);
}

static void
on_verdict(void *ctx, const struct kr_antispam_verdict *v)
{
	struct answer *a = ctx;

	a->calls++;
	a->generation = v->generation;
	snprintf(a->tests, sizeof(a->tests), "%s", v->tests);
	for (size_t i = 0; i < v->n && i < 2; i++) {
		a->kind[i] = v->rcpts[i].kind;
		a->score[i] = v->rcpts[i].score;
		snprintf(a->headers[i], sizeof(a->headers[i]), "%.*s",
			 (int)v->rcpts[i].headers_len, v->rcpts[i].headers);
	}
}

static const char *const test_rcpts[] = { "a@kurier.test", "b@kurier.test" };
static const struct kr_filter_text test_text = { "", 0, "", 0, "", 0, "", 0 };
static const struct kr_filter_msg test_msg = {
	.req_id = "t1",
	.client_addr = "192.0.2.1",
	.sender = "s@example.org",
	.rcpts = test_rcpts,
	.n_rcpts = 2,
	.raw = "X-Kr-Hold: yes\r\nSubject: x\r\n\r\nhi\r\n",
	.raw_len = 34,
	.text = &test_text,
};

/* How many private copies of the hold module are mapped now: distinct
 * memfd inodes named "hold". */
static int
mapped_holds(void)
{
	FILE *fp = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long inodes[16];
	int n = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned long ino;
		bool seen = false;

		if (strstr(line, "/memfd:hold") == NULL ||
		    sscanf(line, "%*s %*s %*s %*s %lu", &ino) != 1)
			continue;
		for (int i = 0; i < n; i++)
			seen = seen || inodes[i] == ino;
		if (!seen && n < 16)
			inodes[n++] = ino;
	}
	fclose(fp);
	return n;
}

/* Runs the loop until *calls reaches n, or ms milliseconds passed (the
 * host's resolver keeps the loop from ever running out of events). */
static void
run_until_ms(struct env *e, const int *calls, int n, int ms)
{
	for (int i = 0; i < ms / 10 && *calls < n; i++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(e->base, &tv);
		event_base_dispatch(e->base);
	}
}

static void
run_until(struct env *e, const int *calls, int n)
{
	run_until_ms(e, calls, n, 10000);
}

/* Long enough for modules let go to be unloaded (AS_UNLOAD_DELAY_MS). */
static void
run_unloads(struct env *e)
{
	int never = 0;

	run_until_ms(e, &never, 1, 300);
}

static struct answer
check_one(struct env *e)
{
	struct answer a = { 0 };

	kr_antispam_check_begin(e->as, &test_msg, on_verdict, &a);
	assert_int_equal(a.calls, 0); /* never before begin returns */
	run_until(e, &a.calls, 1);
	assert_int_equal(a.calls, 1);
	return a;
}

static void
test_antispam_ham_headers(void **state)
{
	struct env *e = *state;
	struct answer a;

	env_create(e);
	assert_int_equal(kr_antispam_generation(e->as), 1);
	a = check_one(e);
	assert_int_equal(a.kind[0], KR_ANTISPAM_HAM);
	assert_int_equal(a.kind[1], KR_ANTISPAM_HAM);
	assert_string_equal(a.tests, "HOLD");
	assert_string_equal(a.headers[0],
			    "X-Spam-Score: 0.0\r\n"
			    "X-Spam-Status: No, score=0.0 required=5.0 "
			    "tests=HOLD\r\n");
}

/* At spam_score: Junk's headers; at reject_score: refused. */
static void
test_antispam_thresholds(void **state)
{
	struct env *e = *state;
	struct answer a;

	setenv("KR_TEST_HOLD_SCORE", "5.0", 1);
	env_create(e);
	a = check_one(e);
	assert_int_equal(a.kind[0], KR_ANTISPAM_SPAM);
	assert_true(a.score[0] == 5.0);
	assert_string_equal(a.headers[0],
			    "X-Spam-Flag: YES\r\n"
			    "X-Spam-Score: 5.0\r\n"
			    "X-Spam-Status: Yes, score=5.0 required=5.0 "
			    "tests=HOLD\r\n");
	setenv("KR_TEST_HOLD_SCORE", "14.9", 1);
	assert_int_equal(
		kr_antispam_reload(e->as, e->cfg, &(struct kr_err){ 0 }), 0);
	assert_int_equal(check_one(e).kind[1], KR_ANTISPAM_SPAM);
	setenv("KR_TEST_HOLD_SCORE", "15", 1);
	assert_int_equal(
		kr_antispam_reload(e->as, e->cfg, &(struct kr_err){ 0 }), 0);
	assert_int_equal(check_one(e).kind[1], KR_ANTISPAM_REJECT);
	setenv("KR_TEST_HOLD_SCORE", "0", 1);
}

/* Three messages in flight across two reloads finish on three
 * generations; the old ones close and their code is unmapped when their
 * last message is done. */
static void
test_antispam_generations_in_flight(void **state)
{
	struct env *e = *state;
	struct answer a[3] = { 0 };
	struct kr_err err;

	setenv("KR_TEST_HOLD_MS", "200", 1);
	env_create(e);
	kr_antispam_check_begin(e->as, &test_msg, on_verdict, &a[0]);
	assert_int_equal(kr_antispam_reload(e->as, e->cfg, &err), 0);
	kr_antispam_check_begin(e->as, &test_msg, on_verdict, &a[1]);
	assert_int_equal(kr_antispam_reload(e->as, e->cfg, &err), 0);
	kr_antispam_check_begin(e->as, &test_msg, on_verdict, &a[2]);
	assert_int_equal(kr_antispam_open_generations(e->as), 3);
	assert_int_equal(mapped_holds(), 3);
	run_until(e, &a[2].calls, 1);
	run_until(e, &a[0].calls, 1);
	run_until(e, &a[1].calls, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(a[i].calls, 1);
		assert_int_equal(a[i].generation, (uint64_t)i + 1);
	}
	assert_int_equal(kr_antispam_open_generations(e->as), 1);
	run_unloads(e);
	assert_int_equal(mapped_holds(), 1);
	setenv("KR_TEST_HOLD_MS", "0", 1);
}

/* A module not named in reloadable is kept: the same copy serves the
 * new generation. */
static void
test_antispam_not_reloadable_kept(void **state)
{
	struct env *e = *state;
	struct kr_err err;

	env_config(e, "reloadable = rules\n");
	env_create(e);
	assert_int_equal(kr_antispam_reload(e->as, e->cfg, &err), 0);
	assert_int_equal(kr_antispam_generation(e->as), 2);
	assert_int_equal(mapped_holds(), 1);
	assert_int_equal(check_one(e).generation, 2);
}

/* A wrong ABI or a file that is no module leaves the running
 * generation in place, with the error kept. */
static void
test_antispam_refused(void **state)
{
	struct env *e = *state;
	char junk[128];
	struct kr_err err;
	FILE *fp;

	env_create(e);
	env_copy(e, "kr_badabi.so", "kr_badabi.so");
	assert_int_equal(kr_antispam_reload(e->as, e->cfg, &err), -1);
	assert_non_null(strstr(err.msg, "ABI"));
	assert_non_null(strstr(kr_antispam_last_error(e->as), "kr_badabi.so"));
	assert_int_equal(kr_antispam_generation(e->as), 1);
	assert_int_equal(check_one(e).generation, 1);
	snprintf(junk, sizeof(junk), "%s/kr_badabi.so", e->dir);
	fp = fopen(junk, "w");
	assert_non_null(fp);
	fputs("not an ELF object\n", fp);
	fclose(fp);
	assert_int_equal(kr_antispam_reload(e->as, e->cfg, &err), -1);
	assert_int_equal(kr_antispam_generation(e->as), 1);
	run_unloads(e);
	assert_int_equal(mapped_holds(), 1);
	unlink(junk);
	assert_int_equal(kr_antispam_reload(e->as, e->cfg, &err), 0);
	assert_string_equal(kr_antispam_last_error(e->as), "");
	assert_int_equal(kr_antispam_generation(e->as), 2);
}

/* A cancelled check never answers and lets its generation go. */
static void
test_antispam_cancel(void **state)
{
	struct env *e = *state;
	struct answer a = { 0 };
	struct kr_antispam_check *c;
	struct kr_err err;

	setenv("KR_TEST_HOLD_MS", "100", 1);
	env_create(e);
	c = kr_antispam_check_begin(e->as, &test_msg, on_verdict, &a);
	assert_int_equal(kr_antispam_reload(e->as, e->cfg, &err), 0);
	assert_int_equal(kr_antispam_open_generations(e->as), 2);
	kr_antispam_check_cancel(&c);
	assert_null(c);
	assert_int_equal(kr_antispam_open_generations(e->as), 1);
	run_until_ms(e, &a.calls, 1, 300); /* past the hold: nothing comes */
	assert_int_equal(a.calls, 0);
	setenv("KR_TEST_HOLD_MS", "0", 1);
}

/* The check deadline: a module that holds longer is cancelled and
 * the verdict comes without it. */
static void
test_antispam_timeout(void **state)
{
	struct env *e = *state;
	struct answer a;

	setenv("KR_TEST_HOLD_MS", "5000", 1);
	env_config(e, "check_timeout = 100ms\n");
	env_create(e);
	a = check_one(e);
	assert_int_equal(a.kind[0], KR_ANTISPAM_HAM);
	setenv("KR_TEST_HOLD_MS", "0", 1);
}

/* The store's side of Bayes look-ups for the bayes module: counts the
 * calls; "b@..." has trained 10 and 10 messages, everyone else none. */
struct fake_store {
	struct event_base *base;
	int calls;
};

struct fake_get {
	kr_filter_tokens_fn *cb;
	void *arg;
	bool trained;
	size_t n;
};

static void
fake_on_get(evutil_socket_t fd, short what, void *ctx)
{
	static const uint32_t zero[1000] = { 0 };
	struct fake_get *g = ctx;
	struct kr_filter_tokens t = { 0 };

	(void)fd;
	(void)what;
	if (g->trained)
		t = (struct kr_filter_tokens){ .n_spam = 10,
					       .n_ham = 10,
					       .n = g->n,
					       .spam = zero,
					       .ham = zero };
	g->cb(g->arg, &t, 1);
	free(g);
}

static int
fake_tokens_get(void *ctx, const char *account, const uint64_t *hashes,
		size_t n, kr_filter_tokens_fn *cb, void *arg)
{
	struct fake_store *fs = ctx;
	struct fake_get *g = calloc(1, sizeof(*g));
	const struct timeval now = { 0, 0 };

	(void)hashes;
	assert_true(n <= 1000);
	*g = (struct fake_get){
		.cb = cb, .arg = arg, .trained = account[0] == 'b', .n = n
	};
	fs->calls++;
	assert_int_equal(
		event_base_once(fs->base, -1, EV_TIMEOUT, fake_on_get, g, &now),
		0);
	return 0;
}

/* An account with no statistic is not asked again within the TTL
 * unless it was trained since (on any worker: the host-wide counters);
 * one with a statistic is asked for every message. */
static void
test_antispam_untrained_remembered(void **state)
{
	struct env *e = *state;
	struct fake_store fs = { .base = e->base };
	struct kr_counter *counter = NULL;
	struct kr_antispam_env aenv = { .base = e->base,
					.log = e->log,
					.tokens_get = fake_tokens_get,
					.tokens_ctx = &fs,
					.count = kr_counter_count };
	static const char *const rcpts[] = { "a@kurier.test", "b@kurier.test" };
	const struct kr_filter_msg msg = {
		.req_id = "t2",
		.rcpts = rcpts,
		.n_rcpts = 2,
		.raw = "Subject: cheap offer\r\n\r\nbuy cheap pills today\r\n",
		.raw_len = 47,
	};
	struct answer a = { 0 }, b = { 0 }, c = { 0 };
	struct kr_err err;

	assert_int_equal(kr_counter_create(64, &counter, &err), 0);
	aenv.count_ctx = counter;
	env_copy(e, "../modules/kr_bayes.so", "kr_bayes.so");
	if (kr_antispam_create(&aenv, e->cfg, &e->as, &err) < 0)
		fail_msg("%s", err.msg);
	kr_antispam_check_begin(e->as, &msg, on_verdict, &a);
	run_until(e, &a.calls, 1);
	assert_int_equal(fs.calls, 2);
	kr_antispam_check_begin(e->as, &msg, on_verdict, &b);
	run_until(e, &b.calls, 1);
	assert_int_equal(fs.calls, 3); /* b again, a remembered */
	assert_int_equal(b.kind[0], KR_ANTISPAM_HAM);
	kr_antispam_learned(e->as, "a@kurier.test");
	kr_antispam_check_begin(e->as, &msg, on_verdict, &c);
	run_until(e, &c.calls, 1);
	assert_int_equal(fs.calls, 5); /* a trained since: asked again */
	kr_antispam_destroy(&e->as);
	kr_counter_destroy(&counter);
}

/* The admin side's view (antispam/status.h) of a host's generations:
 * published when one becomes current or closes, and once a second
 * while checks come and go, never per message. */
struct status_env {
	struct kr_antispam_status *st;
	int calls;
};

static void
status_changed(void *ctx, const struct kr_antispam *as)
{
	struct status_env *se = ctx;

	se->calls++;
	kr_antispam_status_publish(se->st, 0, true, as, NULL, false);
}

static struct kr_antispam_status_entry
status_now(const struct status_env *se)
{
	struct kr_antispam_status_entry got;

	assert_int_equal(kr_antispam_status_read(se->st, 0, &got), 0);
	return got;
}

static void
test_antispam_generations_status(void **state)
{
	struct env *e = *state;
	struct status_env se = { 0 };
	struct kr_antispam_env aenv = { .base = e->base,
					.log = e->log,
					.changed = status_changed,
					.changed_ctx = &se };
	struct kr_antispam_status_entry got;
	struct answer a[4] = { 0 };
	struct kr_antispam_gen_info info;
	const char *name, *version;
	uint64_t opened;
	struct kr_err err;
	int never = 0, calls;
	int64_t before = kr_clock_wall_ms();

	assert_int_equal(kr_antispam_status_create(1, &se.st, &err), 0);
	kr_antispam_status_claim(se.st, 0, 4242, 0);
	setenv("KR_TEST_HOLD_MS", "1500", 1);
	if (kr_antispam_create(&aenv, e->cfg, &e->as, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(se.calls, 1);
	got = status_now(&se);
	assert_int_equal(got.pid, 4242);
	assert_int_equal(got.n_generations, 1);
	assert_int_equal(got.generations[0].id, 1);
	assert_true(got.generations[0].current);
	assert_int_equal(got.generations[0].in_flight, 0);
	assert_true(got.generations[0].loaded_at_ms >= before);
	assert_true(got.generations[0].loaded_at_ms <= kr_clock_wall_ms());
	assert_int_equal(got.generations[0].n_modules, 1);
	assert_string_equal(got.generations[0].modules[0].name, "hold");
	assert_string_equal(got.generations[0].modules[0].version, "test");
	assert_string_equal(got.modules[0].version, "test");
	/* A check holds generation 1 across a reload: two listed, the
	 * old one retiring with its check. */
	kr_antispam_check_begin(e->as, &test_msg, on_verdict, &a[0]);
	assert_int_equal(se.calls, 1); /* no write per message */
	assert_int_equal(kr_antispam_reload(e->as, e->cfg, &err), 0);
	assert_int_equal(se.calls, 2);
	got = status_now(&se);
	assert_int_equal(got.generation, 2);
	assert_int_equal(got.n_generations, 2);
	assert_int_equal(got.generations[0].id, 2);
	assert_true(got.generations[0].current);
	assert_int_equal(got.generations[0].in_flight, 0);
	assert_int_equal(got.generations[1].id, 1);
	assert_false(got.generations[1].current);
	assert_int_equal(got.generations[1].in_flight, 1);
	assert_int_equal(got.generations[1].modules[0].generation, 1);
	assert_int_equal(got.generations[0].modules[0].generation, 2);
	/* The host's own accessors say the same. */
	assert_int_equal(kr_antispam_open_generation(e->as, 1, &info), 0);
	assert_int_equal(info.id, 1);
	assert_int_equal(info.in_flight, 1);
	assert_int_equal(kr_antispam_open_generation(e->as, 2, &info), -1);
	assert_int_equal(kr_antispam_open_generation_module(e->as, 0, 0, &name,
							    &version, &opened),
			 0);
	assert_string_equal(version, "test");
	assert_int_equal(kr_antispam_open_generation_module(e->as, 0, 1, &name,
							    &version, &opened),
			 -1);
	/* Three checks on generation 2: told once, within a second. */
	for (int i = 1; i < 4; i++)
		kr_antispam_check_begin(e->as, &test_msg, on_verdict, &a[i]);
	assert_int_equal(se.calls, 2);
	/* Up to the write, not a fixed 1.2 s: on a busy machine the loop's
	 * 10 ms turns stretch, and a fixed window could see the next one. */
	run_until_ms(e, &se.calls, 3, 1200);
	assert_int_equal(se.calls, 3);
	got = status_now(&se);
	assert_int_equal(got.generations[0].in_flight, 3);
	assert_int_equal(got.generations[1].in_flight, 1);
	/* Generation 1's check ends: it closes, told at once. */
	run_until(e, &a[0].calls, 1);
	calls = se.calls;
	got = status_now(&se);
	assert_int_equal(got.n_generations, 1);
	assert_int_equal(got.generations[0].id, 2);
	for (int i = 1; i < 4; i++)
		run_until(e, &a[i].calls, 1);
	/* The last holds let go: told within a second, then quiet. */
	run_until_ms(e, &never, 1, 1200);
	got = status_now(&se);
	assert_int_equal(got.generations[0].in_flight, 0);
	assert_true(se.calls > calls);
	calls = se.calls;
	run_until_ms(e, &never, 1, 1200);
	assert_int_equal(se.calls, calls);
	setenv("KR_TEST_HOLD_MS", "0", 1);
	kr_antispam_destroy(&e->as);
	kr_antispam_status_destroy(&se.st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_antispam_ham_headers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_antispam_thresholds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_antispam_generations_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_antispam_not_reloadable_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_antispam_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_antispam_cancel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_antispam_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_antispam_untrained_remembered, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_antispam_generations_status, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
