/* cmocka tests for antispam/status: an entry written is read back
 * whole, claim and publish (reload_seq moves on an attempt only, the
 * error's time), every bound (entries, error text, module count, names
 * and versions, generations, index),
 * and a reader in one process never sees a torn entry while a forked
 * writer rewrites it as fast as it can. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "antispam/status.h"

/* The race: how long the reader reads (and the most reads), and the
 * writer's own limit should the reader never tell it to stop. */
#define TEST_RACE_MS 1000
#define TEST_RACE_READS_MAX 50000000
#define TEST_RACE_WRITER_MS 10000

static struct kr_antispam_status *
status_new(unsigned n)
{
	struct kr_antispam_status *st = NULL;
	struct kr_err err = { 0 };

	assert_int_equal(kr_antispam_status_create(n, &st, &err), 0);
	assert_non_null(st);
	assert_int_equal(kr_antispam_status_entries(st), n);
	return st;
}

/* Entry number g: every field derived from g, so a mix of two writes
 * shows. */
static void
fill(struct kr_antispam_status_entry *e, uint64_t g)
{
	size_t len = 1 + (size_t)(g * 37 % (KR_ANTISPAM_STATUS_ERROR_MAX - 1));

	memset(e, 0, sizeof(*e));
	e->pid = 4242;
	e->index = 1;
	e->enabled = true;
	e->generation = g;
	e->open_generations = g % 3 + 1;
	e->reload_seq = g;
	memset(e->last_error, 'a' + (int)(g % 26), len);
	e->n_modules = (unsigned)(g % KR_ANTISPAM_STATUS_MODULES_MAX) + 1;
	for (unsigned m = 0; m < e->n_modules; m++) {
		snprintf(e->modules[m].name, sizeof(e->modules[m].name),
			 "mod%u_%llu", m, (unsigned long long)g);
		e->modules[m].generation = g;
	}
}

/* Whether e is exactly fill(e->generation). */
static bool
consistent(const struct kr_antispam_status_entry *e)
{
	struct kr_antispam_status_entry want;

	fill(&want, e->generation);
	return memcmp(&want, e, sizeof(want)) == 0;
}

static void
test_status_write_read(void **state)
{
	struct kr_antispam_status *st = status_new(4);
	struct kr_antispam_status_entry e, got;

	(void)state;
	/* Fresh: every entry readable, unclaimed. */
	assert_int_equal(kr_antispam_status_read(st, 3, &got), 0);
	assert_int_equal(got.pid, 0);
	assert_int_equal(got.generation, 0);
	fill(&e, 7);
	kr_antispam_status_write(st, 2, &e);
	assert_int_equal(kr_antispam_status_read(st, 2, &got), 0);
	assert_memory_equal(&e, &got, sizeof(e));
	assert_true(consistent(&got));
	/* The neighbours are untouched. */
	assert_int_equal(kr_antispam_status_read(st, 1, &got), 0);
	assert_int_equal(got.generation, 0);
	assert_int_equal(kr_antispam_status_read(st, 3, &got), 0);
	assert_int_equal(got.generation, 0);
	kr_antispam_status_destroy(&st);
	assert_null(st);
	kr_antispam_status_destroy(&st); /* NULL is fine */
}

static void
test_status_claim_publish(void **state)
{
	struct kr_antispam_status *st = status_new(2);
	struct kr_antispam_status_entry e, got;

	(void)state;
	fill(&e, 9);
	kr_antispam_status_write(st, 0, &e);
	kr_antispam_status_claim(st, 0, 777, 5);
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_int_equal(got.pid, 777);
	assert_int_equal(got.index, 5);
	assert_int_equal(got.reload_seq, 0);
	assert_int_equal(got.generation, 0);
	assert_string_equal(got.last_error, "");
	assert_int_equal(got.n_modules, 0);
	/* No host: generation 0; an attempt moves reload_seq, a mere
	 * change does not; the error is kept until replaced. */
	kr_antispam_status_publish(st, 0, true, NULL, "bad module", true);
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_int_equal(got.pid, 777);
	assert_int_equal(got.index, 5);
	assert_true(got.enabled);
	assert_int_equal(got.reload_seq, 1);
	assert_string_equal(got.last_error, "bad module");
	kr_antispam_status_publish(st, 0, false, NULL, NULL, false);
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_int_equal(got.reload_seq, 1);
	assert_false(got.enabled);
	assert_string_equal(got.last_error, "");
	kr_antispam_status_publish(st, 0, true, NULL, NULL, true);
	kr_antispam_status_publish(st, 0, true, NULL, NULL, true);
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_int_equal(got.reload_seq, 3);
	assert_int_equal(got.error_ms, 0);
	/* An error's time: set when it appears, kept when the same text
	 * is merely published again, moved by a new failed attempt. */
	kr_antispam_status_publish(st, 0, true, NULL, "bad", true);
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_true(got.error_ms > 0);
	e = got;
	e.error_ms = 5; /* as if long ago */
	kr_antispam_status_write(st, 0, &e);
	kr_antispam_status_publish(st, 0, true, NULL, "bad", false);
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_int_equal(got.error_ms, 5);
	kr_antispam_status_publish(st, 0, true, NULL, "bad", true);
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_true(got.error_ms > 5);
	kr_antispam_status_publish(st, 0, true, NULL, "", true);
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_int_equal(got.error_ms, 0);
	assert_int_equal(got.reload_seq, 6);
	assert_int_equal(got.n_generations, 0); /* no host */
	/* Out of range and a NULL region: nothing happens. */
	kr_antispam_status_publish(st, 2, true, NULL, "x", true);
	kr_antispam_status_publish(NULL, 0, true, NULL, "x", true);
	kr_antispam_status_claim(NULL, 0, 1, 1);
	assert_int_equal(kr_antispam_status_read(st, 1, &got), 0);
	assert_int_equal(got.pid, 0);
	kr_antispam_status_destroy(&st);
}

static void
test_status_bounds(void **state)
{
	struct kr_antispam_status *st = NULL;
	struct kr_antispam_status_entry e, got;
	struct kr_err err = { 0 };
	char long_error[KR_ANTISPAM_STATUS_ERROR_MAX + 100];

	(void)state;
	/* Entries: 1..MAX. */
	assert_int_equal(kr_antispam_status_create(0, &st, &err), -1);
	assert_null(st);
	assert_int_equal(kr_antispam_status_create(
				 KR_ANTISPAM_STATUS_ENTRIES_MAX + 1, &st, &err),
			 -1);
	assert_null(st);
	st = status_new(KR_ANTISPAM_STATUS_ENTRIES_MAX);
	assert_int_equal(kr_antispam_status_read(
				 st, KR_ANTISPAM_STATUS_ENTRIES_MAX - 1, &got),
			 0);
	assert_int_equal(kr_antispam_status_read(
				 st, KR_ANTISPAM_STATUS_ENTRIES_MAX, &got),
			 -1);
	/* A write past the end is dropped, not out of bounds. */
	fill(&e, 3);
	kr_antispam_status_write(st, KR_ANTISPAM_STATUS_ENTRIES_MAX, &e);
	/* An error longer than the field is cut, NUL-terminated: the
	 * longest kept is ERROR_MAX - 1 bytes. */
	memset(long_error, 'e', sizeof(long_error) - 1);
	long_error[sizeof(long_error) - 1] = '\0';
	kr_antispam_status_publish(st, 0, true, NULL, long_error, true);
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_int_equal(strlen(got.last_error),
			 KR_ANTISPAM_STATUS_ERROR_MAX - 1);
	long_error[KR_ANTISPAM_STATUS_ERROR_MAX - 1] = '\0'; /* exactly fits */
	kr_antispam_status_publish(st, 0, true, NULL, long_error, true);
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_string_equal(got.last_error, long_error);
	/* A raw entry without its NULs, with too many modules: stored
	 * terminated and clamped. */
	memset(&e, 'x', sizeof(e));
	e.n_modules = KR_ANTISPAM_STATUS_MODULES_MAX + 1;
	kr_antispam_status_write(st, 1, &e);
	assert_int_equal(kr_antispam_status_read(st, 1, &got), 0);
	assert_int_equal(strlen(got.last_error),
			 KR_ANTISPAM_STATUS_ERROR_MAX - 1);
	assert_int_equal(got.n_modules, KR_ANTISPAM_STATUS_MODULES_MAX);
	for (unsigned m = 0; m < KR_ANTISPAM_STATUS_MODULES_MAX; m++)
		assert_int_equal(strlen(got.modules[m].name),
				 KR_ANTISPAM_STATUS_NAME_MAX - 1);
	e.n_modules = KR_ANTISPAM_STATUS_MODULES_MAX; /* at the limit: kept */
	kr_antispam_status_write(st, 1, &e);
	assert_int_equal(kr_antispam_status_read(st, 1, &got), 0);
	assert_int_equal(got.n_modules, KR_ANTISPAM_STATUS_MODULES_MAX);
	/* The generations list the same way: one over clamped, versions
	 * and names terminated, each generation's modules clamped. */
	memset(&e, 'y', sizeof(e));
	e.n_generations = KR_ANTISPAM_STATUS_GENERATIONS_MAX + 1;
	for (unsigned g = 0; g < KR_ANTISPAM_STATUS_GENERATIONS_MAX; g++)
		e.generations[g].n_modules = KR_ANTISPAM_STATUS_MODULES_MAX + g;
	kr_antispam_status_write(st, 1, &e);
	assert_int_equal(kr_antispam_status_read(st, 1, &got), 0);
	assert_int_equal(got.n_generations, KR_ANTISPAM_STATUS_GENERATIONS_MAX);
	for (unsigned g = 0; g < KR_ANTISPAM_STATUS_GENERATIONS_MAX; g++) {
		const struct kr_antispam_status_gen *sg = &got.generations[g];

		assert_int_equal(sg->n_modules, KR_ANTISPAM_STATUS_MODULES_MAX);
		for (unsigned m = 0; m < KR_ANTISPAM_STATUS_MODULES_MAX; m++) {
			assert_int_equal(strlen(sg->modules[m].name),
					 KR_ANTISPAM_STATUS_NAME_MAX - 1);
			assert_int_equal(strlen(sg->modules[m].version),
					 KR_ANTISPAM_STATUS_VERSION_MAX - 1);
		}
	}
	e.n_generations = KR_ANTISPAM_STATUS_GENERATIONS_MAX; /* at the limit */
	kr_antispam_status_write(st, 1, &e);
	assert_int_equal(kr_antispam_status_read(st, 1, &got), 0);
	assert_int_equal(got.n_generations, KR_ANTISPAM_STATUS_GENERATIONS_MAX);
	kr_antispam_status_destroy(&st);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A forked child rewrites entry 0 with fill(1), fill(2), ... as fast
 * as it can until told to stop (or TEST_RACE_WRITER_MS passed); this
 * process reads meanwhile for TEST_RACE_MS. Every successful read must
 * be exactly one of the writes, in order, and the reads must see the
 * writes move (else the test proved nothing). */
static void
test_status_no_torn_read(void **state)
{
	struct kr_antispam_status *st = status_new(2);
	struct kr_antispam_status_entry e, got;
	uint64_t distinct = 0, last = 0, reads = 0, failed = 0;
	_Atomic int *stop = mmap(NULL, sizeof(*stop), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int64_t end;
	int wstatus;
	pid_t child;

	(void)state;
	assert_true(stop != MAP_FAILED);
	fill(&e, 1);
	kr_antispam_status_write(st, 0, &e);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int64_t limit = now_ms() + TEST_RACE_WRITER_MS;

		for (uint64_t g = 2; !atomic_load(stop) && now_ms() < limit;
		     g++) {
			fill(&e, g);
			kr_antispam_status_write(st, 0, &e);
		}
		_exit(0);
	}
	end = now_ms() + TEST_RACE_MS;
	for (; reads < TEST_RACE_READS_MAX && now_ms() < end; reads++) {
		if (kr_antispam_status_read(st, 0, &got) < 0) {
			failed++;
			continue;
		}
		if (!consistent(&got))
			fail_msg("torn read: generation %llu",
				 (unsigned long long)got.generation);
		assert_true(got.generation >= last); /* one writer: in order */
		distinct += got.generation != last;
		last = got.generation;
	}
	atomic_store(stop, 1);
	assert_int_equal(waitpid(child, &wstatus, 0), child);
	assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
	/* What stays is one whole write. */
	assert_int_equal(kr_antispam_status_read(st, 0, &got), 0);
	assert_true(consistent(&got));
	assert_true(got.generation >= last);
	printf("# %llu reads, %llu gave up, %llu distinct generations seen, "
	       "last written %llu\n",
	       (unsigned long long)reads, (unsigned long long)failed,
	       (unsigned long long)distinct,
	       (unsigned long long)got.generation);
	assert_true(distinct > 10);
	munmap(stop, sizeof(*stop));
	kr_antispam_status_destroy(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_write_read),
		cmocka_unit_test(test_status_claim_publish),
		cmocka_unit_test(test_status_bounds),
		cmocka_unit_test(test_status_no_torn_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
