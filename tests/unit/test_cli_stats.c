/* cmocka tests for server/cli/cli_stats: the terminal tables of kurier
 * stats from admin documents written by hand after API11.md (nulls, a
 * down node), and the dashboard URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/cli_stats.h"

static json_t *
load(const char *text)
{
	json_error_t e;
	json_t *doc = json_loads(text, 0, &e);

	if (doc == NULL)
		fail_msg("test JSON: %s at %d", e.text, e.position);
	return doc;
}

static const char overview_full[] =
	"{\"antispam\":{\"enabled\":true,\"generation\":3},"
	"\"health\":\"degraded\",\"host\":\"mx1:8081\","
	"\"latency_ms\":{\"lmtp\":{\"p50\":3.21,\"p99\":20.06},"
	"\"rpc\":{\"p50\":1,\"p99\":8.04}},"
	"\"nodes\":{\"down\":1,\"draining\":1,\"total\":3,\"up\":1},"
	"\"now_ms\":1700000100000,"
	"\"problems\":[\"shard 1 down\",\"shard 2 draining\"],"
	"\"rates\":{\"cache_hit_rate\":0.9312,\"deferred\":0,"
	"\"deliveries\":14,\"ham\":10.04,\"lmtp_errors\":0.2,"
	"\"lmtp_msgs\":12.345,\"rejected\":0.2,\"rpc_calls\":100.25,"
	"\"rpc_errors\":0.1,\"spam\":1.0},"
	"\"started_ms\":1699906596000,\"uptime_s\":93504,"
	"\"version\":\"0.9\","
	"\"workers\":{\"restarts\":2,\"serving\":2,\"total\":3}}";

/* A kurierd just started: no rate, no latency, no generation yet. */
static const char overview_fresh[] =
	"{\"antispam\":{\"enabled\":false,\"generation\":null},"
	"\"health\":\"ok\",\"host\":\"[::1]:8081\","
	"\"latency_ms\":{\"lmtp\":{\"p50\":null,\"p99\":null},"
	"\"rpc\":{\"p50\":null,\"p99\":null}},"
	"\"nodes\":{\"down\":0,\"draining\":0,\"total\":1,\"up\":1},"
	"\"problems\":[],"
	"\"rates\":{\"cache_hit_rate\":null,\"deferred\":null,"
	"\"deliveries\":null,\"ham\":null,\"lmtp_errors\":null,"
	"\"lmtp_msgs\":null,\"rejected\":null,\"rpc_calls\":null,"
	"\"rpc_errors\":null,\"spam\":null},"
	"\"uptime_s\":59.9,\"version\":\"0.9\","
	"\"workers\":{\"restarts\":0,\"serving\":0,\"total\":2}}";

static const char nodes_doc[] =
	"{\"nodes\":["
	"{\"circuit\":\"closed\",\"errors\":0,\"errors_rate\":0,"
	"\"host\":\"/tmp/pg0\",\"latency_ms\":{\"p50\":0.84,\"p99\":4.1},"
	"\"node\":\"primary\",\"pool\":{\"busy\":1,\"idle\":3,\"waiting\":0},"
	"\"port\":5432,\"queries\":1234,\"role\":\"primary\",\"shard\":0,"
	"\"state\":\"up\",\"users\":1203},"
	"{\"circuit\":\"open\",\"errors\":57,\"errors_rate\":2.5,"
	"\"host\":\"127.0.0.1\",\"latency_ms\":{\"p50\":null,\"p99\":null},"
	"\"node\":\"primary\",\"pool\":{\"busy\":0,\"idle\":0,\"waiting\":4},"
	"\"port\":5433,\"queries\":99,\"role\":\"primary\",\"shard\":1,"
	"\"state\":\"down\",\"users\":null},"
	"{\"circuit\":\"closed\",\"errors\":0,\"errors_rate\":null,"
	"\"host\":\"127.0.0.1\",\"latency_ms\":{\"p50\":1.5,\"p99\":9},"
	"\"node\":\"replica0\",\"pool\":{\"busy\":0,\"idle\":2,\"waiting\":0},"
	"\"port\":5434,\"queries\":7,\"role\":\"replica\",\"shard\":2,"
	"\"state\":\"draining\"}]}";

static const char workers_doc[] =
	"{\"cycle\":{\"active\":false,\"done\":0,\"total\":3},"
	"\"health\":\"ok\",\"restarting\":[{\"backoff_ms\":2000,\"index\":2,"
	"\"restart_in_ms\":1500,\"restarts\":2}],\"restarts_recent\":2,"
	"\"workers\":["
	"{\"backoff_ms\":0,\"index\":0,\"pid\":4242,\"requests\":12345,"
	"\"restarts\":0,\"rss_bytes\":47395635,\"state\":\"serving\","
	"\"uptime_s\":93503.7},"
	"{\"backoff_ms\":0,\"index\":1,\"pid\":4250,\"requests\":0,"
	"\"restarts\":2,\"rss_bytes\":null,\"state\":\"starting\","
	"\"uptime_s\":0.4}]}";

static const char full_expected[] =
	"host      mx1:8081 (kurier 0.9)\n"
	"health    degraded: shard 1 down; shard 2 draining\n"
	"uptime    1d 01:58:24\n"
	"lmtp      12.3 msg/s, 0.2 errors/s, 14.0 deliveries/s, p50 3.2 ms, "
	"p99 20.1 ms\n"
	"rpc       100.2 calls/s, 0.1 errors/s, p50 1.0 ms, p99 8.0 ms\n"
	"verdicts  spam 1.0 msg/s, ham 10.0 msg/s, rejected 0.2 msg/s, "
	"deferred 0.0 msg/s\n"
	"cache     hit rate 93.1 %\n"
	"workers   2/3 serving, 2 restarts\n"
	"nodes     1 up, 1 down, 1 draining (3 total)\n"
	"antispam  enabled, generation 3\n"
	"\n"
	"SHARD NODE      STATE    CIRCUIT BUSY IDLE WAIT   P50_MS   P99_MS  "
	"ERRORS   USERS\n"
	"    0 primary   up       closed     1    3    0      0.8      4.1  "
	"     0    1203\n"
	"    1 primary   down     open       0    0    4        -        -  "
	"    57       -\n"
	"    2 replica0  draining closed     0    2    0      1.5      9.0  "
	"     0       -\n"
	"\n"
	"WORKER      PID STATE           UPTIME   REQUESTS  RSS_MIB "
	"RESTARTS\n"
	"     0     4242 serving    1d 01:58:23      12345     45.2        0\n"
	"     1     4250 starting      00:00:00          0        -        2\n"
	"worker 2 restarting in 1500 ms (restarts 2)\n"
	"workers health ok, 2 restarts recently\n";

static void
test_cli_stats_format_full(void **state)
{
	json_t *o = load(overview_full), *n = load(nodes_doc),
	       *w = load(workers_doc);
	char *text = kr_cli_stats_format(o, n, w);

	(void)state;
	assert_string_equal(text, full_expected);
	free(text);
	json_decref(o);
	json_decref(n);
	json_decref(w);
}

/* Every null of a fresh daemon prints "-", never "0" or "null". */
static void
test_cli_stats_format_nulls(void **state)
{
	json_t *o = load(overview_fresh);
	char *text = kr_cli_stats_format(o, NULL, NULL);

	(void)state;
	assert_string_equal(
		text, "host      [::1]:8081 (kurier 0.9)\n"
		      "health    ok\n"
		      "uptime    00:00:59\n"
		      "lmtp      - msg/s, - errors/s, - deliveries/s, "
		      "p50 - ms, p99 - ms\n"
		      "rpc       - calls/s, - errors/s, p50 - ms, p99 - ms\n"
		      "verdicts  spam - msg/s, ham - msg/s, rejected - msg/s, "
		      "deferred - msg/s\n"
		      "cache     hit rate - %\n"
		      "workers   0/2 serving, 0 restarts\n"
		      "nodes     1 up, 0 down, 0 draining (1 total)\n"
		      "antispam  disabled, generation -\n");
	assert_null(strstr(text, "null"));
	free(text);
	json_decref(o);
}

/* Documents of the wrong shape (an older kurierd, an error object):
 * dashes and empty tables, no crash. */
static void
test_cli_stats_format_wrong_shapes(void **state)
{
	json_t *o = load("{\"error\":\"x\",\"rates\":[1,2],\"uptime_s\":-5,"
			 "\"problems\":{\"a\":1},\"host\":7}");
	json_t *n = load("{\"nodes\":{\"shard\":0}}");
	json_t *w = load("{\"workers\":[{\"pid\":\"x\",\"index\":1.5},"
			 "7,null]}");
	char *text = kr_cli_stats_format(o, n, w);

	(void)state;
	assert_non_null(strstr(text, "host      - (kurier -)\n"
				     "health    -\n"
				     "uptime    -\n"
				     "lmtp      - msg/s, - errors/s,"));
	assert_non_null(strstr(text, "antispam  -, generation -\n\n"));
	/* No node rows: the header, then the workers' table. */
	assert_non_null(strstr(text, "USERS\n\nWORKER"));
	/* index 1.5 is not an integer: rounded; the rest dashes. */
	assert_non_null(strstr(text, "RESTARTS\n"
				     "     2        - -                    -   "
				     "       -        -        -\n"
				     "     -        - -                    -   "
				     "       -        -        -\n"
				     "     -        - -                    -   "
				     "       -        -        -\n"));
	assert_null(strstr(text, "workers health"));
	assert_null(strstr(text, "null"));
	free(text);
	json_decref(o);
	json_decref(n);
	json_decref(w);
}

static void
test_cli_stats_format_nothing(void **state)
{
	char *text = kr_cli_stats_format(NULL, NULL, NULL);

	(void)state;
	assert_string_equal(text, "");
	free(text);
}

static void
test_cli_stats_dashboard_url(void **state)
{
	static const struct {
		const char *listen, *token, *url;
	} cases[] = {
		{ "127.0.0.1:8081", "abc_DEF-09",
		  "http://127.0.0.1:8081/?token=abc_DEF-09" },
		{ "0.0.0.0:18602", "t", "http://127.0.0.1:18602/?token=t" },
		{ "[::]:8081", "t", "http://[::1]:8081/?token=t" },
		{ "[::1]:8081", "t", "http://[::1]:8081/?token=t" },
		{ "[2001:db8::5]:443", "t",
		  "http://[2001:db8::5]:443/?token=t" },
		{ "192.0.2.7:80", "a b&c=%/\xc3\xa9",
		  "http://192.0.2.7:80/?token=a%20b%26c%3D%25%2F%C3%A9" },
		{ "localhost:8081", "t", "http://localhost:8081/?token=t" },
		{ "8081", "t", NULL },
		{ "::1:8081", "t", NULL },
		{ "[::1]8081", "t", NULL },
		{ "", "t", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *url = kr_cli_stats_dashboard_url(cases[i].listen,
						       cases[i].token);

		if (cases[i].url == NULL) {
			if (url != NULL)
				fail_msg("%s: got %s", cases[i].listen, url);
			continue;
		}
		if (url == NULL || strcmp(url, cases[i].url) != 0)
			fail_msg("%s: got %s, want %s", cases[i].listen,
				 url != NULL ? url : "NULL", cases[i].url);
		free(url);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_stats_format_full),
		cmocka_unit_test(test_cli_stats_format_nulls),
		cmocka_unit_test(test_cli_stats_format_wrong_shapes),
		cmocka_unit_test(test_cli_stats_format_nothing),
		cmocka_unit_test(test_cli_stats_dashboard_url),
	};

	return cmocka_run_group_tests_name("cli_stats", tests, NULL, NULL);
}
