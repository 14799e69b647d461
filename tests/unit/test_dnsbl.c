/* cmocka tests for the "dnsbl" filter module: the zone list, reversed
 * names and answer codes, then checks over a real evdns_base against a
 * real dnsmasq on loopback (started here, killed at the end): listed,
 * not listed, two zones, IPv6, no client, "refused" codes and server
 * errors, a server that is down (not listed within the timeout), and
 * cancels in flight (no callback afterwards; the state closed at once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "antispam/filter.h"
#include "antispam/modules/dnsbl/dnsbl.h"

#define TEST_HITS_MAX 8
#define TEST_PORT_FIRST 32500
#define TEST_PORT_SPAN 200
#define TEST_WAIT_MS 5000
#define TEST_DNSMASQ "/usr/sbin/dnsmasq"
#define TEST_V6_NAME                                                       \
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2." \
	"zen.test"

struct kr_filter_result {
	size_t n_hits;
	char hits[TEST_HITS_MAX][KR_DNSBL_TEST_MAX];
	double scores[TEST_HITS_MAX];
	char descs[TEST_HITS_MAX][200];
};

struct test_env {
	struct event_base *base;
	struct evdns_base *dns;
	struct kr_filter_host host;
	struct kr_filter_conf conf;
	void *state;
	int done_calls;
	int n_logs;
	char events[256]; /* "event event ..." as logged */
};

static pid_t dnsmasq_pid;
static int dnsmasq_port;

/* Whether nobody holds UDP port on 127.0.0.1. */
static bool
port_free(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rc;

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return rc == 0;
}

static void
dnsmasq_exec(int port)
{
	char port_arg[32];

	snprintf(port_arg, sizeof(port_arg), "--port=%d", port);
	execl(TEST_DNSMASQ, TEST_DNSMASQ, "--no-daemon",
	      "--conf-file=/dev/null", "--pid-file", port_arg,
	      "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
	      "--no-hosts", "--local=/zen.test/", "--local=/bl.test/",
	      "--host-record=2.0.0.127.zen.test,127.0.0.2",
	      "--host-record=3.0.0.127.zen.test,127.255.255.254",
	      "--host-record=4.0.0.127.zen.test,127.0.0.1",
	      "--host-record=5.0.0.127.bl.test,127.0.0.5",
	      "--host-record=" TEST_V6_NAME ",127.0.0.4", (char *)NULL);
	_exit(127);
}

/* Starts dnsmasq on a free port and waits until it holds it. */
static int
dnsmasq_start(void **state)
{
	int first = TEST_PORT_FIRST + (int)(getpid() % TEST_PORT_SPAN);

	(void)state;
	for (int i = 0; i < TEST_PORT_SPAN; i++) {
		int port = TEST_PORT_FIRST +
			   (first - TEST_PORT_FIRST + i) % TEST_PORT_SPAN;
		pid_t pid;

		if (!port_free(port))
			continue;
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0)
				dup2(null, STDERR_FILENO);
			dnsmasq_exec(port);
		}
		for (int ms = 0; ms < TEST_WAIT_MS; ms += 10) {
			if (waitpid(pid, NULL, WNOHANG) == pid)
				break; /* lost the port to someone: next */
			if (!port_free(port)) {
				dnsmasq_pid = pid;
				dnsmasq_port = port;
				return 0;
			}
			usleep(10000);
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	fail_msg("dnsmasq did not start");
	return -1;
}

static int
dnsmasq_stop(void **state)
{
	(void)state;
	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
	}
	return 0;
}

static void
test_log(void *ctx, enum kr_filter_log_level level, const char *req_id,
	 const char *event, const char *detail)
{
	struct test_env *env = ctx;
	size_t len = strlen(env->events);

	(void)level;
	(void)detail;
	assert_string_equal(req_id, "req-1");
	env->n_logs++;
	snprintf(env->events + len, sizeof(env->events) - len, "%s ", event);
}

static void
test_hit(struct kr_filter_result *res, const char *name, double score,
	 const char *desc)
{
	assert_true(res->n_hits < TEST_HITS_MAX);
	snprintf(res->hits[res->n_hits], sizeof(res->hits[0]), "%s", name);
	snprintf(res->descs[res->n_hits], sizeof(res->descs[0]), "%s", desc);
	res->scores[res->n_hits++] = score;
}

static void
test_done(void *ctx)
{
	struct test_env *env = ctx;

	env->done_calls++;
	event_base_loopbreak(env->base);
}

static struct evdns_base *
dns_new(struct event_base *base, int port)
{
	struct evdns_base *dns = evdns_base_new(base, 0);
	char ns[32];

	assert_non_null(dns);
	snprintf(ns, sizeof(ns), "127.0.0.1:%d", port);
	assert_int_equal(evdns_base_nameserver_ip_add(dns, ns), 0);
	return dns;
}

static int
setup(void **state)
{
	static struct test_env env;

	memset(&env, 0, sizeof(env));
	env.base = event_base_new();
	assert_non_null(env.base);
	env.dns = dns_new(env.base, dnsmasq_port);
	env.host.size = sizeof(env.host);
	env.host.ctx = &env;
	env.host.base = env.base;
	env.host.dns = env.dns;
	env.host.log = test_log;
	env.host.hit = test_hit;
	env.conf.size = sizeof(env.conf);
	env.conf.check_timeout_ms = 3000;
	*state = &env;
	return 0;
}

static int
teardown(void **state)
{
	struct test_env *env = *state;

	if (env->state != NULL)
		kr_dnsbl_module.close(env->state);
	if (env->dns != NULL)
		evdns_base_free(env->dns, 0);
	event_base_free(env->base);
	return 0;
}

static void
env_open(struct test_env *env, const char *dnsbl)
{
	char err[200];

	env->conf.dnsbl = dnsbl;
	assert_int_equal(kr_dnsbl_module.open(&env->host, &env->conf,
					      &env->state, err, sizeof(err)),
			 0);
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Runs the loop until done fires or ms pass. */
static void
run_loop(struct test_env *env, unsigned ms)
{
	struct event *guard = evtimer_new(env->base, guard_cb, env->base);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(guard, &tv);
	event_base_dispatch(env->base);
	event_free(guard);
}

static const struct kr_filter_msg *
msg_for(const char *addr)
{
	static struct kr_filter_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.req_id = "req-1";
	msg.client_addr = addr;
	msg.sender = "";
	return &msg;
}

/* One check to its end; returns what the module reported. */
static struct kr_filter_result
check(struct test_env *env, const char *addr)
{
	struct kr_filter_result res;
	void *req = NULL;
	int rc;

	memset(&res, 0, sizeof(res));
	env->done_calls = 0;
	rc = kr_dnsbl_module.check(env->state, msg_for(addr), &res, &req,
				   test_done, env);
	assert_int_equal(rc, 0);
	assert_non_null(req);
	assert_int_equal(env->done_calls, 0);
	run_loop(env, TEST_WAIT_MS);
	assert_int_equal(env->done_calls, 1);
	return res;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
test_dnsbl_parse(void **state)
{
	static const struct {
		const char *spec;
		int n;
		const char *bad; /* the entry the error names */
	} cases[] = {
		{ NULL, 0, NULL },
		{ "  \t ", 0, NULL },
		{ "zen.spamhaus.org", 1, NULL },
		{ " a.test=2.5\tb-c.test.=-1 x_y.test=0 ", 3, NULL },
		{ "=3", -1, "=3" },
		{ "zen.test=", -1, "zen.test=" },
		{ "ok.test zen.test=abc", -1, "zen.test=abc" },
		{ "zen.test=1e9", -1, "zen.test=1e9" },
		{ "zen.test=nan", -1, "zen.test=nan" },
		{ "bad..zone", -1, "bad..zone" },
		{ ".zone", -1, ".zone" },
		{ "zone/x", -1, "zone/x" },
		{ "a.test A.TEST", -1, "A.TEST" },
	};
	struct kr_dnsbl_zone z[KR_DNSBL_ZONES_MAX];
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(kr_dnsbl_parse(cases[i].spec, z,
						KR_DNSBL_ZONES_MAX, err,
						sizeof(err)),
				 cases[i].n);
		if (cases[i].bad != NULL) {
			char want[64];

			snprintf(want, sizeof(want), "\"%s\"", cases[i].bad);
			assert_non_null(strstr(err, want));
		}
	}
	assert_int_equal(kr_dnsbl_parse("zen.spamhaus.org. b-c.test=-1.5", z,
					KR_DNSBL_ZONES_MAX, err, sizeof(err)),
			 2);
	assert_string_equal(z[0].zone, "zen.spamhaus.org");
	assert_string_equal(z[0].test, "RCVD_IN_ZEN_SPAMHAUS_ORG");
	assert_true(z[0].score == KR_DNSBL_SCORE_DEFAULT);
	assert_string_equal(z[1].test, "RCVD_IN_B_C_TEST");
	assert_true(z[1].score == -1.5);
}

/* The bounds: zones at the limit pass, one over fails; the same for
 * the zone name's length and the score. */
static void
test_dnsbl_parse_bounds(void **state)
{
	struct kr_dnsbl_zone z[KR_DNSBL_ZONES_MAX];
	char spec[KR_DNSBL_ZONES_MAX * 16 + 32], name[KR_DNSBL_ZONE_MAX + 2];
	char err[200];
	size_t len = 0;

	(void)state;
	for (int i = 0; i < KR_DNSBL_ZONES_MAX; i++)
		len += (size_t)snprintf(spec + len, sizeof(spec) - len,
					"z%d.test ", i);
	assert_int_equal(
		kr_dnsbl_parse(spec, z, KR_DNSBL_ZONES_MAX, err, sizeof(err)),
		KR_DNSBL_ZONES_MAX);
	snprintf(spec + len, sizeof(spec) - len, "one.more");
	assert_int_equal(
		kr_dnsbl_parse(spec, z, KR_DNSBL_ZONES_MAX, err, sizeof(err)),
		-1);
	assert_non_null(strstr(err, "\"one.more\": too many zones"));
	/* 128 bytes of labels of 63, 63 and 0 dots... */
	memset(name, 'a', sizeof(name));
	name[63] = '.';
	name[127] = '.';
	name[KR_DNSBL_ZONE_MAX] = '\0';
	assert_int_equal(kr_dnsbl_parse(name, z, 1, err, sizeof(err)), 1);
	name[KR_DNSBL_ZONE_MAX] = 'a';
	name[KR_DNSBL_ZONE_MAX + 1] = '\0';
	assert_int_equal(kr_dnsbl_parse(name, z, 1, err, sizeof(err)), -1);
	/* A label of 64. */
	memset(name, 'b', 64);
	strcpy(name + 64, ".test");
	assert_int_equal(kr_dnsbl_parse(name, z, 1, err, sizeof(err)), -1);
	assert_int_equal(kr_dnsbl_parse("a.test=10000 b.test=-10000", z, 2, err,
					sizeof(err)),
			 2);
	assert_int_equal(
		kr_dnsbl_parse("a.test=10000.5", z, 2, err, sizeof(err)), -1);
}

static void
test_dnsbl_reverse_and_codes(void **state)
{
	char rev[KR_DNSBL_REVERSED_MAX], text[46];

	(void)state;
	assert_int_equal(kr_dnsbl_reverse("192.0.2.99", rev, text), 0);
	assert_string_equal(rev, "99.2.0.192");
	assert_string_equal(text, "192.0.2.99");
	assert_int_equal(kr_dnsbl_reverse("2001:db8::1", rev, text), 0);
	assert_string_equal(rev, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
				 "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2");
	assert_int_equal(strlen(rev), KR_DNSBL_REVERSED_MAX - 2);
	assert_int_equal(kr_dnsbl_reverse("IPv6:2001:DB8::1", rev, text), 0);
	assert_string_equal(text, "2001:db8::1");
	assert_int_equal(kr_dnsbl_reverse("::ffff:127.0.0.2", rev, text), 0);
	assert_string_equal(rev, "2.0.0.127");
	assert_int_equal(kr_dnsbl_reverse(NULL, rev, text), -1);
	assert_int_equal(kr_dnsbl_reverse("junk", rev, text), -1);
	assert_int_equal(kr_dnsbl_reverse("1.2.3", rev, text), -1);
	assert_int_equal(kr_dnsbl_reverse("fe80::1%eth0", rev, text), -1);

	assert_int_equal(kr_dnsbl_classify(0x7f000001u), KR_DNSBL_NOT_LISTED);
	assert_int_equal(kr_dnsbl_classify(0x7f000002u), KR_DNSBL_LISTED);
	assert_int_equal(kr_dnsbl_classify(0x7ffffeffu), KR_DNSBL_LISTED);
	assert_int_equal(kr_dnsbl_classify(0x7fffff00u), KR_DNSBL_REFUSED);
	assert_int_equal(kr_dnsbl_classify(0x7ffffffeu), KR_DNSBL_REFUSED);
	assert_int_equal(kr_dnsbl_classify(0x7fffffffu), KR_DNSBL_REFUSED);
	assert_int_equal(kr_dnsbl_classify(0x0a000002u), KR_DNSBL_NOT_LISTED);
	assert_int_equal(kr_dnsbl_classify(0x80000002u), KR_DNSBL_NOT_LISTED);
}

static void
test_dnsbl_open_refuses(void **state)
{
	struct test_env *env = *state;
	char err[200];

	env->conf.dnsbl = "zen.test bad_zone!";
	assert_int_equal(kr_dnsbl_module.open(&env->host, &env->conf,
					      &env->state, err, sizeof(err)),
			 -1);
	assert_null(env->state);
	assert_string_equal(err, "dnsbl: entry \"bad_zone!\": the zone is no "
				 "DNS name of 1-128 bytes");
	assert_string_equal(kr_dnsbl_module.name, "dnsbl");
	assert_int_equal(kr_dnsbl_module.abi, KR_FILTER_ABI);
}

static void
test_dnsbl_listed(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;

	env_open(env, "zen.test=3.5");
	r = check(env, "127.0.0.2");
	assert_int_equal(r.n_hits, 1);
	assert_string_equal(r.hits[0], "RCVD_IN_ZEN_TEST");
	assert_true(r.scores[0] == 3.5);
	assert_string_equal(r.descs[0],
			    "client listed in zen.test (127.0.0.2)");
	assert_int_equal(env->n_logs, 0);
}

static void
test_dnsbl_not_listed(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;

	env_open(env, "zen.test");
	r = check(env, "127.0.0.9");
	assert_int_equal(r.n_hits, 0);
	/* NXDOMAIN is an answer, not an error: nothing logged. */
	assert_int_equal(env->n_logs, 0);
	/* 127.0.0.1 is no listing code. */
	r = check(env, "127.0.0.4");
	assert_int_equal(r.n_hits, 0);
}

static void
test_dnsbl_two_zones_one_listed(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;

	env_open(env, "zen.test bl.test=1.5");
	r = check(env, "127.0.0.5");
	assert_int_equal(r.n_hits, 1);
	assert_string_equal(r.hits[0], "RCVD_IN_BL_TEST");
	assert_true(r.scores[0] == 1.5);
	assert_string_equal(r.descs[0], "client listed in bl.test (127.0.0.5)");
	r = check(env, "127.0.0.2");
	assert_int_equal(r.n_hits, 1);
	assert_string_equal(r.hits[0], "RCVD_IN_ZEN_TEST");
	assert_true(r.scores[0] == 5.0);
	assert_int_equal(env->n_logs, 0);
}

static void
test_dnsbl_ipv6(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;

	env_open(env, "zen.test");
	r = check(env, "2001:db8::1");
	assert_int_equal(r.n_hits, 1);
	assert_string_equal(r.descs[0],
			    "client listed in zen.test (127.0.0.4)");
	r = check(env, "2001:db8::2");
	assert_int_equal(r.n_hits, 0);
}

/* Nothing to ask: done at once (1), no lookups, no hits. */
static void
test_dnsbl_nothing_to_ask(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result res;
	void *req = NULL;
	void *st2 = NULL;
	char err[200];

	memset(&res, 0, sizeof(res));
	env_open(env, "zen.test");
	assert_int_equal(kr_dnsbl_module.check(env->state, msg_for(NULL), &res,
					       &req, test_done, env),
			 1);
	assert_int_equal(kr_dnsbl_module.check(env->state, msg_for("bogus"),
					       &res, &req, test_done, env),
			 1);
	/* No resolver. */
	env->host.dns = NULL;
	assert_int_equal(kr_dnsbl_module.check(env->state, msg_for("127.0.0.2"),
					       &res, &req, test_done, env),
			 1);
	env->host.dns = env->dns;
	/* No zones. */
	env->conf.dnsbl = NULL;
	assert_int_equal(kr_dnsbl_module.open(&env->host, &env->conf, &st2, err,
					      sizeof(err)),
			 0);
	assert_int_equal(kr_dnsbl_module.check(st2, msg_for("127.0.0.2"), &res,
					       &req, test_done, env),
			 1);
	kr_dnsbl_module.close(st2);
	assert_null(req);
	assert_int_equal(res.n_hits, 0);
	run_loop(env, 50);
	assert_int_equal(env->done_calls, 0);
}

/* A refusal code and a server error count as not listed, logged. */
static void
test_dnsbl_refused_and_errors(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;

	env_open(env, "zen.test other.test");
	r = check(env, "127.0.0.3");
	assert_int_equal(r.n_hits, 0);
	assert_non_null(strstr(env->events, "dnsbl_refused"));
	/* other.test is not dnsmasq's: it refuses (REFUSED). */
	assert_non_null(strstr(env->events, "dnsbl_error"));
}

/* A free UDP port on loopback: nobody answers there. */
static int
dead_port(void)
{
	for (int port = TEST_PORT_FIRST + TEST_PORT_SPAN - 1;
	     port >= TEST_PORT_FIRST; port--)
		if (port != dnsmasq_port && port_free(port))
			return port;
	fail_msg("no free port");
	return -1;
}

static void
test_dnsbl_server_down(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result r;
	uint64_t t0, elapsed;

	evdns_base_free(env->dns, 0);
	env->dns = dns_new(env->base, dead_port());
	env->host.dns = env->dns;
	env->conf.check_timeout_ms = 300;
	env_open(env, "zen.test bl.test");
	t0 = now_ms();
	r = check(env, "127.0.0.2");
	assert_int_equal(r.n_hits, 0);
	elapsed = now_ms() - t0;
	/* Our timer (evdns itself waits 5 s per try) ends it. */
	assert_true(elapsed >= 290 && elapsed < 1500);
	assert_string_equal(env->events, "dnsbl_timeout ");
	/* Nothing comes after done. */
	run_loop(env, 100);
	assert_int_equal(env->done_calls, 1);
}

/* Cancelled before any answer: no done, no hits; the state is closed
 * at once (the host may), and the DNS_ERR_CANCEL callbacks that follow
 * touch only the request, which they free (ASan: no leak, no use after
 * free). */
static void
test_dnsbl_cancel_in_flight(void **state)
{
	struct test_env *env = *state;
	struct kr_filter_result res;
	void *req = NULL;

	memset(&res, 0, sizeof(res));
	env_open(env, "zen.test bl.test");
	assert_int_equal(kr_dnsbl_module.check(env->state, msg_for("127.0.0.2"),
					       &res, &req, test_done, env),
			 0);
	kr_dnsbl_module.cancel(env->state, req);
	kr_dnsbl_module.close(env->state);
	env->state = NULL;
	run_loop(env, 300);
	assert_int_equal(env->done_calls, 0);
	assert_int_equal(res.n_hits, 0);

	/* The same against a dead server, cancelled after a while. */
	evdns_base_free(env->dns, 0);
	env->dns = dns_new(env->base, dead_port());
	env->host.dns = env->dns;
	env_open(env, "zen.test");
	assert_int_equal(kr_dnsbl_module.check(env->state,
					       msg_for("2001:db8::1"), &res,
					       &req, test_done, env),
			 0);
	run_loop(env, 100);
	assert_int_equal(env->done_calls, 0);
	kr_dnsbl_module.cancel(env->state, req);
	run_loop(env, 100);
	assert_int_equal(env->done_calls, 0);
	assert_int_equal(res.n_hits, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dnsbl_parse),
		cmocka_unit_test(test_dnsbl_parse_bounds),
		cmocka_unit_test(test_dnsbl_reverse_and_codes),
		cmocka_unit_test_setup_teardown(test_dnsbl_open_refuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_listed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_not_listed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_two_zones_one_listed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_ipv6, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_nothing_to_ask,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_refused_and_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_server_down, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_cancel_in_flight,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("dnsbl", tests, dnsmasq_start,
					   dnsmasq_stop);
}
