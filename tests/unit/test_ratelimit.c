/* cmocka tests for server/ratelimit: burst and retry-after, refill,
 * take decides and charges in one step (also across processes), a
 * child's destroy leaves the shared state alone, give
 * back, check takes nothing, forget, independent keys, the max_keys
 * bound and which entries go, disabled limiter, clocks stepped back,
 * overflow at the extremes, over-long keys, bad configurations, and a
 * randomised comparison with a plain array model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/auth/ratelimit.h"

#define UNIT 60000u /* level units per token, as in the module */

static struct kr_ratelimit *
rl_new(unsigned burst, unsigned per_minute, unsigned max_keys)
{
	struct kr_ratelimit_conf conf = { burst, per_minute, max_keys };
	struct kr_ratelimit *rl = kr_ratelimit_create(&conf);

	assert_non_null(rl);
	return rl;
}

static bool
check_key(struct kr_ratelimit *rl, const char *key, int64_t now,
	  int64_t *retry_r)
{
	return kr_ratelimit_check(rl, key, strlen(key), now, retry_r);
}

/* One attempt: true when it took a token. */
static bool
take_key(struct kr_ratelimit *rl, const char *key, int64_t now)
{
	return kr_ratelimit_take(rl, key, strlen(key), now, NULL);
}

/* An attempt the test does not care whether it got through: what a
 * failed login does to the bucket either way. */
static void
fail_key(struct kr_ratelimit *rl, const char *key, int64_t now)
{
	(void)take_key(rl, key, now);
}

/* Asserts the check result and its retry-after. */
static void
expect(struct kr_ratelimit *rl, const char *key, int64_t now, bool allowed,
       int64_t retry)
{
	int64_t got = -1;

	assert_int_equal(check_key(rl, key, now, &got), allowed);
	assert_int_equal(got, retry);
}

static void
user_key(char *buf, size_t size, int i)
{
	int n = snprintf(buf, size, "u:user%04d@example.test", i);

	assert_true(n > 0 && (size_t)n < size);
}

static void
test_ratelimit_burst_then_limited(void **state)
{
	/* 6 per minute: one token every 10 s. */
	struct kr_ratelimit *rl = rl_new(3, 6, 16);

	(void)state;
	expect(rl, "u:alice", 0, true, 0);
	fail_key(rl, "u:alice", 0);
	expect(rl, "u:alice", 0, true, 0);
	fail_key(rl, "u:alice", 0);
	/* At the limit: the burst-th attempt still goes ahead ... */
	expect(rl, "u:alice", 0, true, 0);
	fail_key(rl, "u:alice", 0);
	/* ... one over is refused until a token is back. */
	expect(rl, "u:alice", 0, false, 10000);
	expect(rl, "u:alice", 9999, false, 1);
	expect(rl, "u:alice", 10000, true, 0);
	fail_key(rl, "u:alice", 10000);
	expect(rl, "u:alice", 10000, false, 10000);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	kr_ratelimit_destroy(&rl);
	assert_null(rl);
}

/* The check and the charge are one step: a run of attempts at one
 * instant gets exactly burst tokens, and a refused take costs nothing. */
static void
test_ratelimit_take_at_limit(void **state)
{
	struct kr_ratelimit *rl = rl_new(3, 6, 16);
	int64_t retry = -1;
	int taken = 0;

	(void)state;
	for (int i = 0; i < 100; i++)
		taken += take_key(rl, "u:alice", 0);
	/* At the limit: burst takes pass; one over is refused. */
	assert_int_equal(taken, 3);
	assert_false(kr_ratelimit_take(rl, "u:alice", 7, 0, &retry));
	assert_int_equal(retry, 10000);
	/* The 97 refused takes did not dig the bucket deeper. */
	assert_false(kr_ratelimit_take(rl, "u:alice", 7, 9999, &retry));
	assert_int_equal(retry, 1);
	assert_true(kr_ratelimit_take(rl, "u:alice", 7, 10000, &retry));
	assert_int_equal(retry, 0);
	assert_false(kr_ratelimit_take(rl, "u:alice", 7, 10000, &retry));
	assert_int_equal(retry, 10000);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_give_back(void **state)
{
	/* One token per second. */
	struct kr_ratelimit *rl = rl_new(2, 60, 16);

	(void)state;
	assert_true(take_key(rl, "a:192.0.2.1", 0));
	assert_true(take_key(rl, "a:192.0.2.1", 0));
	expect(rl, "a:192.0.2.1", 0, false, 1000);
	/* A take that was no guess is undone: one more attempt. */
	kr_ratelimit_give_back(rl, "a:192.0.2.1", 11, 0);
	expect(rl, "a:192.0.2.1", 0, true, 0);
	assert_true(take_key(rl, "a:192.0.2.1", 0));
	assert_false(take_key(rl, "a:192.0.2.1", 0));

	/* Refill and give-back add up, never above burst: 0.5 + 1. */
	kr_ratelimit_give_back(rl, "a:192.0.2.1", 11, 500);
	assert_true(take_key(rl, "a:192.0.2.1", 500));
	expect(rl, "a:192.0.2.1", 500, false, 500);
	kr_ratelimit_give_back(rl, "a:192.0.2.1", 11, 1500);
	kr_ratelimit_give_back(rl, "a:192.0.2.1", 11, 1500);
	/* Whole again: dropped, and a third give-back finds nothing. */
	assert_int_equal(kr_ratelimit_size(rl), 0);
	kr_ratelimit_give_back(rl, "a:192.0.2.1", 11, 1500);
	assert_int_equal(kr_ratelimit_size(rl), 0);
	assert_true(take_key(rl, "a:192.0.2.1", 1500));
	assert_true(take_key(rl, "a:192.0.2.1", 1500));
	assert_false(take_key(rl, "a:192.0.2.1", 1500));

	/* Other keys are untouched; unknown keys are a no-op. */
	kr_ratelimit_give_back(rl, "u:nobody", 8, 1500);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	kr_ratelimit_destroy(&rl);
}

/* Workers racing on one key (a batch spread over connections) get as
 * many attempts as the bucket holds, not one per racer that checked
 * before the others charged. */
static void
test_ratelimit_take_atomic_across_processes(void **state)
{
	enum {
		CHILDREN = 4,
		TRIES = 200,
		BURST = 10
	};
	struct kr_ratelimit *rl = rl_new(BURST, 1, 64);
	pid_t pids[CHILDREN];
	int status, total = 0;

	(void)state;
	for (int c = 0; c < CHILDREN; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0) {
			int got = 0;

			for (int i = 0; i < TRIES; i++)
				got += take_key(rl, "u:target", 1000);
			_exit(got);
		}
	}
	for (int c = 0; c < CHILDREN; c++) {
		assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
		assert_true(WIFEXITED(status));
		total += WEXITSTATUS(status);
	}
	assert_int_equal(total, BURST);
	expect(rl, "u:target", 1000, false, 60000);
	kr_ratelimit_destroy(&rl);
}

/* A worker that exits (cycled past max_rss, drained) destroys its copy;
 * the key it limited stays limited for the workers that remain. */
static void
test_ratelimit_child_destroy_keeps_state(void **state)
{
	struct kr_ratelimit *rl = rl_new(2, 1, 64);
	pid_t pid;
	int status;

	(void)state;
	fail_key(rl, "a:198.51.100.7", 1000);
	fail_key(rl, "a:198.51.100.7", 1000);
	expect(rl, "a:198.51.100.7", 1000, false, 60000);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		kr_ratelimit_destroy(&rl);
		_exit(rl == NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	expect(rl, "a:198.51.100.7", 1000, false, 60000);
	assert_false(take_key(rl, "a:198.51.100.7", 1000));
	assert_true(take_key(rl, "a:198.51.100.8", 1000));
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_refill(void **state)
{
	struct kr_ratelimit *rl = rl_new(2, 60, 16);

	(void)state;
	fail_key(rl, "a:192.0.2.1", 0);
	fail_key(rl, "a:192.0.2.1", 0);
	expect(rl, "a:192.0.2.1", 0, false, 1000);
	expect(rl, "a:192.0.2.1", 500, false, 500);
	expect(rl, "a:192.0.2.1", 1000, true, 0);
	expect(rl, "a:192.0.2.1", 1999, true, 0);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	/* Whole again: the entry is worth nothing and goes. */
	expect(rl, "a:192.0.2.1", 2000, true, 0);
	assert_int_equal(kr_ratelimit_size(rl), 0);

	/* Failing while limited never digs below zero. */
	for (int i = 0; i < 50; i++)
		fail_key(rl, "u:mallory", 10000);
	expect(rl, "u:mallory", 10999, false, 1);
	expect(rl, "u:mallory", 11000, true, 0);
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_check_takes_nothing(void **state)
{
	struct kr_ratelimit *rl = rl_new(1, 1, 16);

	(void)state;
	for (int i = 0; i < 1000; i++)
		expect(rl, "u:alice", 0, true, 0);
	assert_int_equal(kr_ratelimit_size(rl), 0);
	fail_key(rl, "u:alice", 0);
	for (int i = 0; i < 1000; i++)
		expect(rl, "u:alice", 0, false, 60000);
	expect(rl, "u:alice", 60000, true, 0);
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_success_clears(void **state)
{
	struct kr_ratelimit *rl = rl_new(2, 1, 16);

	(void)state;
	for (int i = 0; i < 2; i++) {
		fail_key(rl, "u:alice", 0);
		fail_key(rl, "a:192.0.2.1", 0);
	}
	expect(rl, "u:alice", 0, false, 60000);
	kr_ratelimit_forget(rl, "u:alice", strlen("u:alice"));
	expect(rl, "u:alice", 0, true, 0);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	/* The address key is the caller's to clear or keep. */
	expect(rl, "a:192.0.2.1", 0, false, 60000);
	kr_ratelimit_forget(rl, "u:nobody", strlen("u:nobody"));
	assert_int_equal(kr_ratelimit_size(rl), 1);
	/* A fresh start: a full bucket again. */
	fail_key(rl, "u:alice", 1);
	expect(rl, "u:alice", 1, true, 0);
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_independent_keys(void **state)
{
	static const char *const others[] = {
		"u:bob", "u:alic", "u:alicee", "U:alice", "a:u:alice", "",
	};
	struct kr_ratelimit *rl = rl_new(1, 1, 64);

	(void)state;
	fail_key(rl, "u:alice", 0);
	expect(rl, "u:alice", 0, false, 60000);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		expect(rl, others[i], 0, true, 0);

	/* Keys are byte strings: NUL bytes and lengths count. */
	(void)kr_ratelimit_take(rl, "u:a\0b", 5, 0, NULL);
	assert_false(kr_ratelimit_check(rl, "u:a\0b", 5, 0, NULL));
	assert_true(kr_ratelimit_check(rl, "u:a\0c", 5, 0, NULL));
	assert_true(kr_ratelimit_check(rl, "u:a", 3, 0, NULL));
	(void)kr_ratelimit_take(rl, "", 0, 0, NULL);
	assert_false(kr_ratelimit_check(rl, "", 0, 0, NULL));
	assert_int_equal(kr_ratelimit_size(rl), 3);
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_max_keys_at_limit(void **state)
{
	struct kr_ratelimit *rl = rl_new(1, 1, 100);
	char key[64];

	(void)state;
	for (int i = 0; i < 100; i++) {
		user_key(key, sizeof(key), i);
		fail_key(rl, key, i);
	}
	assert_int_equal(kr_ratelimit_size(rl), 100);
	for (int i = 0; i < 100; i++) {
		user_key(key, sizeof(key), i);
		expect(rl, key, 100, false, 60000 - (100 - i));
	}
	/* One over: the fullest (the first, failed longest ago) goes. */
	user_key(key, sizeof(key), 100);
	fail_key(rl, key, 100);
	assert_int_equal(kr_ratelimit_size(rl), 100);
	user_key(key, sizeof(key), 0);
	expect(rl, key, 100, true, 0);
	user_key(key, sizeof(key), 1);
	expect(rl, key, 100, false, 60000 - 99);
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_bound_ten_times_over(void **state)
{
	struct kr_ratelimit *rl = rl_new(1, 1, 100);
	char key[64];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		user_key(key, sizeof(key), i);
		fail_key(rl, key, i);
		assert_true(kr_ratelimit_size(rl) <= 100);
	}
	assert_int_equal(kr_ratelimit_size(rl), 100);
	/* Equal failures: the most recent 100 stay. */
	for (int i = 0; i < 1000; i++) {
		user_key(key, sizeof(key), i);
		if (i < 900)
			expect(rl, key, 999, true, 0);
		else
			expect(rl, key, 999, false, 60000 - (999 - i));
	}
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_evicts_fullest_not_attacked(void **state)
{
	struct kr_ratelimit *rl = rl_new(3, 1, 50);
	char key[64];

	(void)state;
	/* The key under attack is the least recently updated of all, but
	 * the emptiest: a flood of one-failure keys must not push it out. */
	for (int i = 0; i < 3; i++)
		fail_key(rl, "u:victim", 0);
	for (int i = 0; i < 500; i++) {
		user_key(key, sizeof(key), i);
		fail_key(rl, key, 1 + i);
		assert_true(kr_ratelimit_size(rl) <= 50);
	}
	assert_int_equal(kr_ratelimit_size(rl), 50);
	expect(rl, "u:victim", 501, false, 60000 - 501);

	/* Two held, neither whole: the fuller goes, not the older. */
	kr_ratelimit_destroy(&rl);
	rl = rl_new(3, 60, 2);
	for (int i = 0; i < 3; i++)
		fail_key(rl, "u:b", 0);
	fail_key(rl, "u:a", 100);
	fail_key(rl, "u:c", 200);
	assert_int_equal(kr_ratelimit_size(rl), 2);
	expect(rl, "u:b", 200, false, 800);
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_refilled_go_first(void **state)
{
	/* 1 token per second. */
	struct kr_ratelimit *rl = rl_new(2, 60, 3);
	char key[64];

	(void)state;
	fail_key(rl, "u:b", 0); /* whole at 2000 */
	fail_key(rl, "u:b", 0);
	fail_key(rl, "u:a", 500); /* whole at 1500 */
	fail_key(rl, "u:c", 600); /* whole at 1600 */
	/* At 1550 only a is whole: it goes, not b (least recently
	 * updated) and not c. */
	fail_key(rl, "u:d", 1550);
	assert_int_equal(kr_ratelimit_size(rl), 3);
	fail_key(rl, "u:b", 1550); /* 1.55 - 1 tokens if b was kept */
	expect(rl, "u:b", 1550, false, 450);
	fail_key(rl, "u:c", 1550); /* 1.95 - 1 if c was kept */
	expect(rl, "u:c", 1550, false, 50);
	assert_int_equal(kr_ratelimit_size(rl), 3);
	kr_ratelimit_destroy(&rl);

	/* Whole entries are dropped a few per fail without any pressure. */
	rl = rl_new(1, 60, 10);
	for (int i = 0; i < 10; i++) {
		user_key(key, sizeof(key), i);
		fail_key(rl, key, 0);
	}
	fail_key(rl, "u:new", 999);
	assert_int_equal(kr_ratelimit_size(rl), 10);
	fail_key(rl, "u:new", 1000); /* four of the nine left go */
	assert_int_equal(kr_ratelimit_size(rl), 6);
	fail_key(rl, "u:new", 1000);
	fail_key(rl, "u:new", 1000);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_disabled(void **state)
{
	struct kr_ratelimit_conf conf = { 0, 0, 0 };
	struct kr_ratelimit *rl = kr_ratelimit_create(&conf);
	char long_key[KR_RATELIMIT_KEY_MAX + 100];

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < 100; i++)
		fail_key(rl, "u:alice", 0);
	expect(rl, "u:alice", 0, true, 0);
	assert_int_equal(kr_ratelimit_size(rl), 0);
	memset(long_key, 'x', sizeof(long_key));
	assert_true(
		kr_ratelimit_check(rl, long_key, sizeof(long_key), 0, NULL));
	kr_ratelimit_forget(rl, "u:alice", 7);
	kr_ratelimit_destroy(&rl);
	assert_null(rl);
}

static void
test_ratelimit_clock_backwards(void **state)
{
	struct kr_ratelimit *rl = rl_new(1, 60, 8);

	(void)state;
	fail_key(rl, "u:alice", 10000);
	expect(rl, "u:alice", 10000, false, 1000);
	/* Stepped back 5 s: no time has passed, nothing refilled ... */
	expect(rl, "u:alice", 5000, false, 1000);
	/* ... and the key's clock goes on from the new reading. */
	expect(rl, "u:alice", 5999, false, 1);
	expect(rl, "u:alice", 6000, true, 0);
	kr_ratelimit_destroy(&rl);

	/* A failure stamped earlier refills nothing either. */
	rl = rl_new(2, 60, 8);
	fail_key(rl, "u:bob", 10000);
	fail_key(rl, "u:bob", 9000);
	expect(rl, "u:bob", 9000, false, 1000);

	/* The extremes of int64: no overflow, either direction. */
	fail_key(rl, "u:carol", INT64_MAX);
	fail_key(rl, "u:carol", INT64_MAX);
	expect(rl, "u:carol", INT64_MAX, false, 1000);
	expect(rl, "u:carol", INT64_MIN, false, 1000);
	expect(rl, "u:carol", INT64_MIN + 999, false, 1);
	expect(rl, "u:carol", INT64_MIN + 1000, true, 0);
	fail_key(rl, "u:dave", INT64_MIN);
	fail_key(rl, "u:dave", INT64_MIN);
	expect(rl, "u:dave", INT64_MAX, true, 0);
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_no_overflow(void **state)
{
	struct kr_ratelimit *rl = rl_new(2, UINT_MAX, 4);

	(void)state;
	/* Fastest refill, longest idle gap: elapsed * per_minute would
	 * wrap if multiplied first. */
	fail_key(rl, "u:alice", 0);
	fail_key(rl, "u:alice", 0);
	expect(rl, "u:alice", 0, false, 1);
	fail_key(rl, "u:bob", 0);
	fail_key(rl, "u:bob", 0);
	expect(rl, "u:bob", INT64_MAX, true, 0);
	expect(rl, "u:alice", 1, true, 0);
	assert_int_equal(kr_ratelimit_size(rl), 0);
	kr_ratelimit_destroy(&rl);

	/* Largest burst, slowest refill. */
	rl = rl_new(UINT_MAX, 1, 4);
	fail_key(rl, "u:alice", 0);
	expect(rl, "u:alice", 0, true, 0);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	expect(rl, "u:alice", 59999, true, 0);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	expect(rl, "u:alice", 60000, true, 0);
	assert_int_equal(kr_ratelimit_size(rl), 0);
	/* Whole-again time saturates instead of wrapping. */
	fail_key(rl, "u:bob", INT64_MAX - 10);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	fail_key(rl, "u:carol", INT64_MAX);
	assert_int_equal(kr_ratelimit_size(rl), 2);
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_long_keys(void **state)
{
	struct kr_ratelimit *rl = rl_new(1, 60, 8);
	char a[KR_RATELIMIT_KEY_MAX + 1];
	char b[KR_RATELIMIT_KEY_MAX + 1];

	(void)state;
	memset(a, 'x', sizeof(a));
	memset(b, 'x', sizeof(b));
	b[KR_RATELIMIT_KEY_MAX - 1] = 'y';
	b[KR_RATELIMIT_KEY_MAX] = 'y';
	/* At the limit: tracked, and the last byte counts. */
	assert_true(kr_ratelimit_take(rl, a, KR_RATELIMIT_KEY_MAX, 0, NULL));
	assert_false(kr_ratelimit_check(rl, a, KR_RATELIMIT_KEY_MAX, 0, NULL));
	assert_true(kr_ratelimit_check(rl, b, KR_RATELIMIT_KEY_MAX, 0, NULL));
	assert_int_equal(kr_ratelimit_size(rl), 1);

	/* One over: refused (limited for one token's time), not stored,
	 * and not truncated onto the 512-byte key b starts with. */
	int64_t retry = -1;

	assert_false(
		kr_ratelimit_check(rl, b, KR_RATELIMIT_KEY_MAX + 1, 0, &retry));
	assert_int_equal(retry, 1000);
	retry = -1;
	assert_false(
		kr_ratelimit_take(rl, b, KR_RATELIMIT_KEY_MAX + 1, 0, &retry));
	assert_int_equal(retry, 1000);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	assert_true(kr_ratelimit_check(rl, b, KR_RATELIMIT_KEY_MAX, 0, NULL));
	kr_ratelimit_forget(rl, a, KR_RATELIMIT_KEY_MAX + 1);
	assert_false(kr_ratelimit_check(rl, a, KR_RATELIMIT_KEY_MAX, 0, NULL));
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_create_rejects(void **state)
{
	static const struct kr_ratelimit_conf bad[] = {
		{ 1, 0, 10 },
		{ 1, 1, 0 },
		{ 1, 1, KR_RATELIMIT_KEYS_MAX + 1 },
		{ UINT_MAX, 0, UINT_MAX },
	};
	struct kr_ratelimit *rl = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(kr_ratelimit_create(&bad[i]));
	kr_ratelimit_destroy(&rl);
	kr_ratelimit_destroy(NULL);
	rl = rl_new(1, 1, 1); /* the smallest table works */
	fail_key(rl, "u:a", 0);
	fail_key(rl, "u:b", 1);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	expect(rl, "u:b", 1, false, 60000);
	expect(rl, "u:a", 1, true, 0);
	kr_ratelimit_destroy(&rl);
}

/* --- model: a plain array with the documented semantics ------------ */

#define MODEL_KEYS 40

struct model_entry {
	bool used;
	uint64_t level;
	int64_t stamp;
	int64_t full_at;
};

struct model {
	struct model_entry e[MODEL_KEYS]; /* by key number */
	uint64_t full;
	uint64_t pm;
	unsigned max_keys;
};

static void
model_refill(const struct model *m, struct model_entry *e, int64_t now)
{
	/* Times only grow in the model run and stay small. */
	uint64_t gain = (uint64_t)(now - e->stamp) * m->pm;

	e->level = gain >= m->full - e->level ? m->full : e->level + gain;
	e->stamp = now;
	e->full_at =
		e->stamp + (int64_t)((m->full - e->level + m->pm - 1) / m->pm);
}

static bool
model_check(struct model *m, int k, int64_t now, int64_t *retry_r)
{
	struct model_entry *e = &m->e[k];

	*retry_r = 0;
	if (!e->used)
		return true;
	model_refill(m, e, now);
	if (e->level == m->full)
		e->used = false;
	else if (e->level < UNIT)
		*retry_r = (int64_t)((UNIT - e->level + m->pm - 1) / m->pm);
	return *retry_r == 0;
}

static unsigned
model_count(const struct model *m)
{
	unsigned n = 0;

	for (int i = 0; i < MODEL_KEYS; i++)
		n += m->e[i].used;
	return n;
}

/* Drops every whole entry. */
static void
model_drop_whole(struct model *m, int64_t now)
{
	for (int i = 0; i < MODEL_KEYS; i++) {
		if (m->e[i].used && m->e[i].full_at <= now)
			m->e[i].used = false;
	}
}

/* Evicts the earliest whole-again (the least recently updated among
 * equals) when full. */
static void
model_make_room(struct model *m)
{
	int victim = -1;

	if (model_count(m) < m->max_keys)
		return;
	for (int i = 0; i < MODEL_KEYS; i++) {
		const struct model_entry *e = &m->e[i];

		if (e->used &&
		    (victim < 0 || e->full_at < m->e[victim].full_at ||
		     (e->full_at == m->e[victim].full_at &&
		      e->stamp < m->e[victim].stamp)))
			victim = i;
	}
	m->e[victim].used = false;
}

/* Takes a token when there is one; *retry_r as model_check. */
static bool
model_take(struct model *m, int k, int64_t now, int64_t *retry_r)
{
	struct model_entry *e = &m->e[k];

	model_drop_whole(m, now);
	if (!e->used) {
		model_make_room(m);
		e->used = true;
		e->level = m->full;
		e->stamp = now;
	}
	model_refill(m, e, now);
	*retry_r = 0;
	if (e->level < UNIT) {
		*retry_r = (int64_t)((UNIT - e->level + m->pm - 1) / m->pm);
		return false;
	}
	e->level -= UNIT;
	model_refill(m, e, now);
	return true;
}

static void
model_give_back(struct model *m, int k, int64_t now)
{
	struct model_entry *e = &m->e[k];

	if (!e->used)
		return;
	model_refill(m, e, now);
	e->level = m->full - e->level <= UNIT ? m->full : e->level + UNIT;
	model_refill(m, e, now);
	if (e->level == m->full)
		e->used = false;
}

static uint64_t
prng_next(uint64_t *s)
{
	/* xorshift64: deterministic, good enough to pick operations. */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct model_case {
	unsigned burst, per_minute, max_keys;
	uint64_t max_step_ms;
};

static void
model_run(const struct model_case *c, uint64_t seed)
{
	struct kr_ratelimit *rl = rl_new(c->burst, c->per_minute, c->max_keys);
	struct model m = { .full = (uint64_t)c->burst * UNIT,
			   .pm = c->per_minute,
			   .max_keys = c->max_keys };
	int64_t now = 1000;
	char key[64];

	for (int op = 0; op < 20000; op++) {
		uint64_t r = prng_next(&seed);
		/* Half the operations on three hot keys, so buckets run
		 * dry, the rest spread to force evictions. */
		int k = (int)((r >> 8) % ((r & 1) != 0 ? 3 : MODEL_KEYS));
		unsigned what = (unsigned)(r >> 32) % 20;
		int64_t want_retry, got_retry;
		bool want;

		/* Strictly increasing time keeps every stamp distinct, so
		 * eviction order has no ties the model could break
		 * differently. */
		now += 1 + (int64_t)(prng_next(&seed) % c->max_step_ms);
		user_key(key, sizeof(key), k);
		if (what < 10) {
			want = model_take(&m, k, now, &want_retry);
			assert_int_equal(kr_ratelimit_take(rl, key, strlen(key),
							   now, &got_retry),
					 want);
			assert_int_equal(got_retry, want_retry);
		} else if (what < 13) {
			kr_ratelimit_give_back(rl, key, strlen(key), now);
			model_give_back(&m, k, now);
		} else if (what < 19) {
			want = model_check(&m, k, now, &want_retry);
			assert_int_equal(check_key(rl, key, now, &got_retry),
					 want);
			assert_int_equal(got_retry, want_retry);
		} else {
			kr_ratelimit_forget(rl, key, strlen(key));
			m.e[k].used = false;
		}
		/* Whole entries may linger in the limiter, never more. */
		assert_true(kr_ratelimit_size(rl) <= c->max_keys);
		assert_true(kr_ratelimit_size(rl) >= model_count(&m));
	}
	kr_ratelimit_destroy(&rl);
}

static void
test_ratelimit_matches_model(void **state)
{
	static const struct model_case cases[] = {
		{ 1, 1, 12, 8000 },    { 3, 7, 12, 2000 }, { 5, 60, 8, 200 },
		{ 2, 6000, 12, 2 },    { 2, 600, 1, 5 },   { 4, 30, 39, 400 },
		{ 2, UINT_MAX, 6, 1 }, { 8, 600, 12, 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		model_run(&cases[i], 0x9e3779b97f4a7c15ULL + i);
}

/* Created before fork, the limiter is one for every child: failures in
 * two processes add up (what stops guesses spread over workers). */
static void
test_ratelimit_shared_across_fork(void **state)
{
	struct kr_ratelimit *rl = rl_new(4, 1, 16);
	int status;

	(void)state;
	for (int child = 0; child < 2; child++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			fail_key(rl, "u:x", 1000);
			fail_key(rl, "u:x", 1000);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	expect(rl, "u:x", 1000, false, UNIT / 1);
	assert_int_equal(kr_ratelimit_size(rl), 1);
	kr_ratelimit_destroy(&rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ratelimit_burst_then_limited),
		cmocka_unit_test(test_ratelimit_shared_across_fork),
		cmocka_unit_test(test_ratelimit_take_at_limit),
		cmocka_unit_test(test_ratelimit_give_back),
		cmocka_unit_test(test_ratelimit_take_atomic_across_processes),
		cmocka_unit_test(test_ratelimit_child_destroy_keeps_state),
		cmocka_unit_test(test_ratelimit_refill),
		cmocka_unit_test(test_ratelimit_check_takes_nothing),
		cmocka_unit_test(test_ratelimit_success_clears),
		cmocka_unit_test(test_ratelimit_independent_keys),
		cmocka_unit_test(test_ratelimit_max_keys_at_limit),
		cmocka_unit_test(test_ratelimit_bound_ten_times_over),
		cmocka_unit_test(test_ratelimit_evicts_fullest_not_attacked),
		cmocka_unit_test(test_ratelimit_refilled_go_first),
		cmocka_unit_test(test_ratelimit_disabled),
		cmocka_unit_test(test_ratelimit_clock_backwards),
		cmocka_unit_test(test_ratelimit_no_overflow),
		cmocka_unit_test(test_ratelimit_long_keys),
		cmocka_unit_test(test_ratelimit_create_rejects),
		cmocka_unit_test(test_ratelimit_matches_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
