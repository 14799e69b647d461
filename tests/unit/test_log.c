/* cmocka tests for lib/log: the line format and escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

struct log_fixture {
	int fds[2];
	struct kr_log *log;
	char out[8192];
};

static int
log_setup(void **state)
{
	struct log_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || pipe(f->fds) != 0)
		return -1;
	f->log = kr_log_create(f->fds[1], KR_LOG_INFO, "worker.1");
	*state = f;
	return 0;
}

static int
log_teardown(void **state)
{
	struct log_fixture *f = *state;

	kr_log_destroy(&f->log);
	close(f->fds[0]);
	close(f->fds[1]);
	free(f);
	return 0;
}

static const char *
log_read(struct log_fixture *f)
{
	ssize_t n = read(f->fds[0], f->out, sizeof(f->out) - 1);

	assert_true(n > 0);
	f->out[n] = '\0';
	return f->out;
}

static void
test_log_line_format(void **state)
{
	struct log_fixture *f = *state;
	struct kr_log_line line;
	regex_t re;
	const char *out;

	assert_true(kr_log_begin(&line, f->log, KR_LOG_WARN, "r-17", "x.y"));
	kr_log_str(&line, "user", "alice@example.org");
	kr_log_int(&line, "n", -3);
	kr_log_uint(&line, "big", UINT64_MAX);
	kr_log_fmt(&line, "ms", "%d.%d", 1, 5);
	kr_log_end(&line);
	out = log_read(f);
	assert_int_equal(
		regcomp(&re,
			"^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
			"[0-9]{2}\\.[0-9]{3}Z level=warn proc=worker\\.1 "
			"pid=[0-9]+ req=r-17 event=x\\.y "
			"user=alice@example\\.org n=-3 "
			"big=18446744073709551615 ms=1\\.5\n$",
			REG_EXTENDED | REG_NOSUB),
		0);
	assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
	regfree(&re);
}

static void
test_log_escapes_client_text(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "a b", " v=\"a b\"\n" },
		{ "", " v=\"\"\n" },
		{ "x\ny", " v=\"x\\x0ay\"\n" },
		{ "q\"uote", " v=\"q\\\"uote\"\n" },
		{ "back\\slash", " v=\"back\\\\slash\"\n" },
		{ "k=v", " v=\"k=v\"\n" },
		{ "\xc3\xa9", " v=\"\\xc3\\xa9\"\n" },
	};
	struct log_fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kr_log_line line;
		const char *out, *v;

		kr_log_begin(&line, f->log, KR_LOG_INFO, NULL, "e");
		kr_log_str(&line, "v", cases[i].in);
		kr_log_end(&line);
		out = log_read(f);
		v = strstr(out, " v=");
		assert_non_null(v);
		assert_string_equal(v, cases[i].want);
		assert_non_null(strstr(out, " req=- "));
	}
}

static void
test_log_level_filter(void **state)
{
	struct log_fixture *f = *state;
	struct kr_log_line line;
	enum kr_log_level level;

	assert_false(kr_log_begin(&line, f->log, KR_LOG_DEBUG, NULL, "e"));
	kr_log_str(&line, "k", "v");
	kr_log_end(&line);
	kr_log_set_level(f->log, KR_LOG_DEBUG);
	kr_log_msg(f->log, KR_LOG_DEBUG, NULL, "e", "now");
	assert_non_null(strstr(log_read(f), "level=debug"));
	assert_int_equal(kr_log_level_parse("error", &level), 0);
	assert_int_equal(level, KR_LOG_ERROR);
	assert_int_equal(kr_log_level_parse("loud", &level), -1);
}

static void
test_log_truncates_long_lines(void **state)
{
	struct log_fixture *f = *state;
	struct kr_log_line line;
	char big[KR_LOG_LINE_MAX * 2];
	const char *out;
	size_t len;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kr_log_begin(&line, f->log, KR_LOG_INFO, NULL, "e");
	kr_log_str(&line, "v", big);
	kr_log_end(&line);
	out = log_read(f);
	len = strlen(out);
	assert_true(len <= KR_LOG_LINE_MAX);
	assert_string_equal(out + len - 13, " truncated=1\n");
	assert_ptr_equal(strchr(out, '\n'), out + len - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_line_format, log_setup,
						log_teardown),
		cmocka_unit_test_setup_teardown(test_log_escapes_client_text,
						log_setup, log_teardown),
		cmocka_unit_test_setup_teardown(test_log_level_filter,
						log_setup, log_teardown),
		cmocka_unit_test_setup_teardown(test_log_truncates_long_lines,
						log_setup, log_teardown),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
