/* cmocka tests for lib/logring: newest first and wraparound, the level
 * filter, cut lines (at the limit kept whole, one over cut and
 * marked), the bounds of create and read, the log's hook (WARN and
 * above from kr_log_end, nothing below), and many forked writers at
 * once while this process reads: every entry read is one whole line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/logring.h"

/* The race: writers, lines each, and how long the reader reads. */
#define TEST_WRITERS 4
#define TEST_WRITER_LINES_MAX 100000000u
#define TEST_WRITER_MS 10000
#define TEST_RACE_MS 1500
#define TEST_RACE_READS_MAX 1000000

static struct kr_logring *
ring_new(unsigned n)
{
	struct kr_logring *ring = NULL;
	struct kr_err err = { 0 };

	assert_int_equal(kr_logring_create(n, &ring, &err), 0);
	assert_non_null(ring);
	assert_int_equal(kr_logring_entries(ring), n);
	return ring;
}

static void
add_text(struct kr_logring *ring, int64_t ts, enum kr_log_level level,
	 const char *text)
{
	kr_logring_add(ring, ts, level, "worker.1", "test.event", text,
		       strlen(text));
}

static void
test_logring_newest_first_wraps(void **state)
{
	struct kr_logring *ring = ring_new(4);
	struct kr_logring_entry out[8];
	char text[32];

	(void)state;
	assert_int_equal(kr_logring_read(ring, out, 8), 0);
	add_text(ring, 100, KR_LOG_WARN, "first");
	add_text(ring, 101, KR_LOG_ERROR, "second\n");
	assert_int_equal(kr_logring_read(ring, out, 8), 2);
	assert_string_equal(out[0].line, "second"); /* newline dropped */
	assert_int_equal(out[0].level, KR_LOG_ERROR);
	assert_int_equal(out[0].ts_ms, 101);
	assert_string_equal(out[0].proc, "worker.1");
	assert_string_equal(out[0].event, "test.event");
	assert_false(out[0].cut);
	assert_string_equal(out[1].line, "first");
	assert_int_equal(out[1].level, KR_LOG_WARN);
	/* Ten lines into four entries: the newest four, newest first. */
	for (int i = 2; i < 10; i++) {
		snprintf(text, sizeof(text), "line %d", i);
		add_text(ring, 100 + i, KR_LOG_WARN, text);
	}
	assert_int_equal(kr_logring_read(ring, out, 8), 4);
	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "line %d", 9 - i);
		assert_string_equal(out[i].line, text);
		assert_int_equal(out[i].seq, 9 - i);
		assert_int_equal(out[i].ts_ms, 109 - i);
	}
	/* max caps the copy: the newest ones. */
	assert_int_equal(kr_logring_read(ring, out, 2), 2);
	assert_string_equal(out[0].line, "line 9");
	assert_string_equal(out[1].line, "line 8");
	assert_int_equal(kr_logring_read(ring, out, 0), 0);
	kr_logring_destroy(&ring);
	assert_null(ring);
	kr_logring_destroy(&ring); /* NULL is fine */
	assert_int_equal(kr_logring_read(NULL, out, 8), 0);
	add_text(NULL, 1, KR_LOG_ERROR, "nowhere"); /* no ring: nothing */
}

static void
test_logring_level_filter(void **state)
{
	struct kr_logring *ring = ring_new(8);
	struct kr_logring_entry out[8];

	(void)state;
	add_text(ring, 1, KR_LOG_DEBUG, "debug");
	add_text(ring, 2, KR_LOG_INFO, "info");
	add_text(ring, 3, (enum kr_log_level)7, "bogus level");
	assert_int_equal(kr_logring_read(ring, out, 8), 0);
	add_text(ring, 4, KR_LOG_WARN, "warn");
	add_text(ring, 5, KR_LOG_INFO, "info again");
	add_text(ring, 6, KR_LOG_ERROR, "error");
	assert_int_equal(kr_logring_read(ring, out, 8), 2);
	assert_string_equal(out[0].line, "error");
	assert_string_equal(out[1].line, "warn");
	kr_logring_destroy(&ring);
}

static void
test_logring_cut(void **state)
{
	struct kr_logring *ring = ring_new(4);
	struct kr_logring_entry out[4];
	char text[KR_LOGRING_LINE_MAX + 64];
	char name[KR_LOGRING_EVENT_MAX + 16];
	size_t keep;

	(void)state;
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)('a' + i % 26);
	/* At the limit (LINE_MAX - 1 bytes): whole. */
	kr_logring_add(ring, 1, KR_LOG_WARN, "p", "e", text,
		       KR_LOGRING_LINE_MAX - 1);
	assert_int_equal(kr_logring_read(ring, out, 4), 1);
	assert_false(out[0].cut);
	assert_int_equal(strlen(out[0].line), KR_LOGRING_LINE_MAX - 1);
	assert_memory_equal(out[0].line, text, KR_LOGRING_LINE_MAX - 1);
	/* At the limit plus its newline: still whole. */
	text[KR_LOGRING_LINE_MAX - 1] = '\n';
	kr_logring_add(ring, 1, KR_LOG_WARN, "p", "e", text,
		       KR_LOGRING_LINE_MAX);
	assert_int_equal(kr_logring_read(ring, out, 1), 1);
	assert_false(out[0].cut);
	assert_int_equal(strlen(out[0].line), KR_LOGRING_LINE_MAX - 1);
	text[KR_LOGRING_LINE_MAX - 1] = 'x';
	/* One over: cut, marked, the head kept. */
	kr_logring_add(ring, 2, KR_LOG_ERROR, "p", "e", text,
		       KR_LOGRING_LINE_MAX);
	assert_int_equal(kr_logring_read(ring, out, 1), 1);
	assert_true(out[0].cut);
	assert_int_equal(strlen(out[0].line), KR_LOGRING_LINE_MAX - 1);
	keep = KR_LOGRING_LINE_MAX - 1 - strlen(" truncated=1");
	assert_memory_equal(out[0].line, text, keep);
	assert_string_equal(out[0].line + keep, " truncated=1");
	/* Long proc and event names are cut, terminated; NULL event: "". */
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	kr_logring_add(ring, 3, KR_LOG_WARN, name, name, "x", 1);
	assert_int_equal(kr_logring_read(ring, out, 1), 1);
	assert_int_equal(strlen(out[0].proc), KR_LOGRING_PROC_MAX - 1);
	assert_int_equal(strlen(out[0].event), KR_LOGRING_EVENT_MAX - 1);
	kr_logring_add(ring, 4, KR_LOG_WARN, NULL, NULL, "", 0);
	assert_int_equal(kr_logring_read(ring, out, 1), 1);
	assert_string_equal(out[0].proc, "");
	assert_string_equal(out[0].event, "");
	assert_string_equal(out[0].line, "");
	kr_logring_destroy(&ring);
}

static void
test_logring_bounds(void **state)
{
	struct kr_logring *ring = NULL;
	struct kr_err err = { 0 };

	(void)state;
	assert_int_equal(kr_logring_create(0, &ring, &err), -1);
	assert_null(ring);
	assert_int_equal(
		kr_logring_create(KR_LOGRING_ENTRIES_MAX + 1, &ring, &err), -1);
	assert_null(ring);
	ring = ring_new(KR_LOGRING_ENTRIES_MAX);
	kr_logring_destroy(&ring);
	ring = ring_new(1);
	add_text(ring, 1, KR_LOG_WARN, "a");
	add_text(ring, 2, KR_LOG_WARN, "b");
	{
		struct kr_logring_entry out[2];

		assert_int_equal(kr_logring_read(ring, out, 2), 1);
		assert_string_equal(out[0].line, "b");
	}
	kr_logring_destroy(&ring);
}

/* The log writes WARN and above into its ring as well as to its fd;
 * the entry is the line as written, with the line's level, process,
 * event and time. */
static void
test_logring_log_hook(void **state)
{
	struct kr_logring *ring = ring_new(8);
	struct kr_logring_entry out[8];
	struct kr_log *log;
	struct kr_log_line line;
	char written[4096];
	FILE *f = tmpfile();
	size_t n;

	(void)state;
	assert_non_null(f);
	log = kr_log_create(fileno(f), KR_LOG_DEBUG, "worker.3");
	kr_log_msg(log, KR_LOG_ERROR, NULL, "before.ring", "not kept");
	kr_log_set_ring(log, ring);
	kr_log_msg(log, KR_LOG_INFO, NULL, "info.event", "not kept");
	kr_log_msg(log, KR_LOG_DEBUG, NULL, "debug.event", "not kept");
	assert_true(kr_log_begin(&line, log, KR_LOG_WARN, "r1", "db.slow"));
	kr_log_str(&line, "shard", "3");
	kr_log_end(&line);
	kr_log_msg(log, KR_LOG_ERROR, NULL, "db.circuit_open", "down now");
	assert_int_equal(kr_logring_read(ring, out, 8), 2);
	assert_int_equal(out[0].level, KR_LOG_ERROR);
	assert_string_equal(out[0].event, "db.circuit_open");
	assert_string_equal(out[0].proc, "worker.3");
	assert_non_null(strstr(out[0].line, "msg=\"down now\""));
	assert_true(out[0].ts_ms > 1600000000000LL);
	assert_int_equal(out[1].level, KR_LOG_WARN);
	assert_string_equal(out[1].event, "db.slow");
	/* The ring holds exactly the text the fd got. */
	fflush(f);
	rewind(f);
	n = fread(written, 1, sizeof(written) - 1, f);
	written[n] = '\0';
	assert_non_null(strstr(written, out[1].line));
	assert_non_null(strstr(written, out[0].line));
	assert_int_equal(strncmp(out[1].line, "ts=", 3), 0);
	kr_log_set_ring(log, NULL);
	kr_log_msg(log, KR_LOG_ERROR, NULL, "after.ring", "not kept");
	assert_int_equal(kr_logring_read(ring, out, 8), 2);
	kr_log_destroy(&log);
	fclose(f);
	kr_logring_destroy(&ring);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Line i of writer w: its length and bytes follow from (w, i), so a
 * mix of two lines shows. Some are longer than an entry. */
static size_t
race_line(char *buf, size_t size, unsigned w, unsigned i)
{
	size_t len =
		40 + (size_t)(i * 131 + w * 17) % (KR_LOGRING_LINE_MAX + 40);
	int head;

	if (len > size)
		len = size;
	head = snprintf(buf, size, "w=%u i=%u ", w, i);
	for (size_t k = (size_t)head; k < len; k++)
		buf[k] = (char)('a' + (w + i + k) % 26);
	return len;
}

/* Whether e is exactly what writer w wrote as line i. */
static bool
race_whole(const struct kr_logring_entry *e)
{
	char want[KR_LOGRING_LINE_MAX + 64], proc[16], event[16];
	unsigned w, i;
	size_t len;

	if (sscanf(e->line, "w=%u i=%u ", &w, &i) != 2 || w >= TEST_WRITERS)
		return false;
	len = race_line(want, sizeof(want), w, i);
	snprintf(proc, sizeof(proc), "worker.%u", w);
	snprintf(event, sizeof(event), "e%u", i % 7);
	if (strcmp(e->proc, proc) != 0 || strcmp(e->event, event) != 0 ||
	    e->ts_ms != (int64_t)i || e->level != KR_LOG_WARN + (i & 1))
		return false;
	if (len <= KR_LOGRING_LINE_MAX - 1)
		return !e->cut && strlen(e->line) == len &&
		       memcmp(e->line, want, len) == 0;
	len = KR_LOGRING_LINE_MAX - 1 - strlen(" truncated=1");
	return e->cut && memcmp(e->line, want, len) == 0 &&
	       strcmp(e->line + len, " truncated=1") == 0;
}

/* Writes lines until told to stop (or its own limits run out). */
static void
race_writer(struct kr_logring *ring, unsigned w, _Atomic int *stop)
{
	char buf[KR_LOGRING_LINE_MAX + 64], proc[16], event[16];
	int64_t limit = now_ms() + TEST_WRITER_MS;

	snprintf(proc, sizeof(proc), "worker.%u", w);
	for (unsigned i = 0; i < TEST_WRITER_LINES_MAX && !atomic_load(stop) &&
			     ((i & 1023) != 0 || now_ms() < limit);
	     i++) {
		size_t len = race_line(buf, sizeof(buf), w, i);

		snprintf(event, sizeof(event), "e%u", i % 7);
		kr_logring_add(ring, i, KR_LOG_WARN + (i & 1), proc, event, buf,
			       len);
	}
}

/* TEST_WRITERS forked children add lines into a small ring at once
 * while this process reads it: every entry read is one whole line,
 * every read is newest first (positions fall), and the reads saw the
 * ring move. */
static void
test_logring_many_writers(void **state)
{
	struct kr_logring *ring = ring_new(16);
	struct kr_logring_entry out[16];
	uint64_t reads = 0, entries = 0;
	_Atomic int *stop = mmap(NULL, sizeof(*stop), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t kids[TEST_WRITERS];
	size_t n_last;
	int64_t end;

	(void)state;
	assert_true(stop != MAP_FAILED);
	for (unsigned w = 0; w < TEST_WRITERS; w++) {
		kids[w] = fork();
		assert_true(kids[w] >= 0);
		if (kids[w] == 0) {
			race_writer(ring, w, stop);
			_exit(0);
		}
	}
	end = now_ms() + TEST_RACE_MS;
	for (; reads < TEST_RACE_READS_MAX && now_ms() < end; reads++) {
		size_t n = kr_logring_read(ring, out, 16);

		for (size_t k = 0; k < n; k++) {
			if (!race_whole(&out[k]))
				fail_msg("torn entry %llu: %.60s",
					 (unsigned long long)out[k].seq,
					 out[k].line);
			if (k > 0)
				assert_true(out[k].seq < out[k - 1].seq);
		}
		entries += n;
	}
	atomic_store(stop, 1);
	for (unsigned w = 0; w < TEST_WRITERS; w++) {
		int wstatus;

		assert_int_equal(waitpid(kids[w], &wstatus, 0), kids[w]);
		assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
	}
	/* Quiet now: whole lines of the last lap, newest first (a line
	 * whose entry another writer held at that instant was dropped). */
	n_last = kr_logring_read(ring, out, 16);
	assert_true(n_last > 0);
	for (size_t k = 0; k < n_last; k++) {
		assert_true(race_whole(&out[k]));
		assert_true(k == 0 || out[k].seq < out[k - 1].seq);
	}
	printf("# %llu reads while writing, %llu entries checked whole, "
	       "%llu lines written, %zu of the last 16 kept\n",
	       (unsigned long long)reads, (unsigned long long)entries,
	       (unsigned long long)out[0].seq + 1, n_last);
	assert_true(entries > 100);
	munmap(stop, sizeof(*stop));
	kr_logring_destroy(&ring);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logring_newest_first_wraps),
		cmocka_unit_test(test_logring_level_filter),
		cmocka_unit_test(test_logring_cut),
		cmocka_unit_test(test_logring_bounds),
		cmocka_unit_test(test_logring_log_hook),
		cmocka_unit_test(test_logring_many_writers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
