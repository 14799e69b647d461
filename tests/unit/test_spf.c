/* cmocka tests for the SPF module (antispam/modules/spf): the helper
 * protocol, and the module through its ABI against a real dnsmasq on
 * loopback (started here on a port in 32600-32699) and the real helper
 * build/<mode>/modules/kurier-spf. This process plays the worker: the
 * helper is killed and stalled under it, and it must go on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "antispam/modules/spf/spf.h"

extern char **environ;

/* The host's side of the ABI: what a module reported for one message. */
struct kr_filter_result {
	char headers[2048];
	char test[64];
	double score;
	int n_hits;
};

static void
host_log(void *ctx, enum kr_filter_log_level level, const char *req_id,
	 const char *event, const char *detail)
{
	(void)ctx;
	(void)level;
	(void)req_id;
	(void)event;
	(void)detail;
}

static void
host_hit(struct kr_filter_result *res, const char *name, double score,
	 const char *desc)
{
	(void)desc;
	snprintf(res->test, sizeof(res->test), "%s", name);
	res->score = score;
	res->n_hits++;
}

static void
host_header(struct kr_filter_result *res, const char *line)
{
	size_t n = strlen(res->headers);

	snprintf(res->headers + n, sizeof(res->headers) - n, "%s\n", line);
}

static struct {
	struct event_base *base;
	struct kr_filter_host host;
	char modules[PATH_MAX];
	char resolver[64];
	pid_t dns_pid;
	int blackhole; /* a UDP socket nobody reads: a DNS server that
			* never answers, for the stalled evaluations */
} env;

static int
run_for(const volatile int *flag, unsigned ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!*flag) {
		event_base_loop(env.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 +
			    (now.tv_nsec - start.tv_nsec) / 1000000 >
		    (long)ms)
			return -1;
		usleep(2000);
	}
	return 0;
}

static int
tcp_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return rc == 0;
}

static int
blackhole_open(int *port_r)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		return -1;
	*port_r = ntohs(sa.sin_port);
	return fd;
}

/* dnsmasq with the test zone; tries a few ports (other tests may hold
 * one). 0 when it answers on TCP (it listens on UDP as well). */
static int
dns_start(void)
{
	char port_arg[32], slow_arg[64], crash_arg[300];
	int bh_port, n;

	n = snprintf(crash_arg, sizeof(crash_arg),
		     "--txt-record=why.crash.example.test,");
	for (int i = 0; i < 50; i++)
		n += snprintf(crash_arg + n, sizeof(crash_arg) - (size_t)n,
			      "%%{i}x");

	env.blackhole = blackhole_open(&bh_port);
	if (env.blackhole < 0)
		return -1;
	snprintf(slow_arg, sizeof(slow_arg), "--server=/slow.test/127.0.0.1#%d",
		 bh_port);
	for (int attempt = 0; attempt < 10; attempt++) {
		int port = 32600 + (int)((getpid() + attempt * 37) % 100);
		char *argv[] = {
			"/usr/sbin/dnsmasq", "--keep-in-foreground",
			"--conf-file=/dev/null", "--pid-file=", port_arg,
			"--listen-address=127.0.0.1", "--bind-interfaces",
			"--no-resolv", "--no-hosts", "--local=/test/",
			"--log-facility=/dev/null", slow_arg,
			"--txt-record=pass.example.test,v=spf1 ip4:192.0.2.9 "
			"-all",
			"--txt-record=fail.example.test,v=spf1 -all",
			"--txt-record=soft.example.test,v=spf1 ~all",
			"--txt-record=neutral.example.test,v=spf1 ?all",
			"--txt-record=perm.example.test,v=spf1 foo:bar -all",
			"--txt-record=helo.example.test,v=spf1 a -all",
			"--host-record=helo.example.test,192.0.2.20",
			"--txt-record=v6.example.test,v=spf1 ip6:2001:db8::/32 "
			"-all",
			/* The crash: an explanation of 50 "%{i}x" overflows a
			 * stack buffer of Debian's libspf2 1.2.10 when it is
			 * compiled (43 do; found by fuzzing the library). */
			"--txt-record=crash.example.test,v=spf1 -all "
			"exp=why.crash.example.test",
			crash_arg,
			"--txt-record=stall.example.test,v=spf1 a:a1.slow.test "
			"a:a2.slow.test a:a3.slow.test -all",
			NULL
		};
		snprintf(port_arg, sizeof(port_arg), "--port=%d", port);
		if (tcp_open(port))
			continue;
		if (posix_spawn(&env.dns_pid, argv[0], NULL, NULL, argv,
				environ) != 0)
			return -1;
		for (int i = 0; i < 100; i++) {
			int st;
			if (tcp_open(port)) {
				snprintf(env.resolver, sizeof(env.resolver),
					 "127.0.0.1:%d", port);
				return 0;
			}
			if (waitpid(env.dns_pid, &st, WNOHANG) == env.dns_pid)
				break; /* port taken: next one */
			usleep(50000);
		}
		kill(env.dns_pid, SIGKILL);
		waitpid(env.dns_pid, NULL, 0);
		env.dns_pid = 0;
	}
	return -1;
}

static int
group_setup(void **state)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	signal(SIGPIPE, SIG_IGN); /* as kurierd does */
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	/* build/<mode>/tests/test_spf -> build/<mode>/modules */
	snprintf(env.modules, sizeof(env.modules), "%s/modules",
		 dirname(dirname(exe)));
	env.base = event_base_new();
	env.host.size = sizeof(env.host);
	env.host.base = env.base;
	env.host.log = host_log;
	env.host.hit = host_hit;
	env.host.header = host_header;
	if (dns_start() != 0) {
		fprintf(stderr, "test_spf: dnsmasq did not start\n");
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (env.dns_pid > 0) {
		kill(env.dns_pid, SIGTERM);
		waitpid(env.dns_pid, NULL, 0);
	}
	close(env.blackhole);
	event_base_free(env.base);
	return 0;
}

static void *
module_open(const char *resolver, unsigned check_timeout_ms)
{
	const struct kr_filter_module *m = kr_spf_module();
	static struct kr_filter_conf conf;
	char err[256] = "";
	void *st = NULL;

	conf.size = sizeof(conf);
	conf.modules = env.modules;
	conf.resolver = resolver;
	conf.check_timeout_ms = check_timeout_ms;
	if (m->open(&env.host, &conf, &st, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	assert_int_equal(m->selftest(st, err, sizeof(err)), 0);
	return st;
}

static void
on_done(void *ctx)
{
	*(volatile int *)ctx = 1;
}

/* One message through check(); waits for done (bounded). */
static void
check_msg(void *st, const char *ip, const char *helo, const char *sender,
	  struct kr_filter_result *res, unsigned wait_ms)
{
	const struct kr_filter_module *m = kr_spf_module();
	struct kr_filter_msg msg = { .req_id = "t",
				     .client_addr = ip,
				     .client_helo = helo,
				     .sender = sender };
	volatile int done = 0;
	void *req = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = m->check(st, &msg, res, &req, on_done, (void *)&done);
	if (rc == 1)
		return;
	assert_int_equal(rc, 0);
	assert_int_equal(done, 0); /* never before check returns */
	assert_int_equal(run_for(&done, wait_ms), 0);
	assert_int_equal(res->n_hits, 1);
}

static void
test_spf_proto_roundtrip(void **state)
{
	char buf[KR_SPF_LINE_MAX], field[KR_SPF_FIELD_MAX + 2];
	struct kr_spf_query q = { 7, 0, "192.0.2.1", "mx.test", "" }, q2;
	struct kr_spf_answer a = { 9, KR_SPF_SOFTFAIL, "softfail (x)\ty",
				   "why\n" },
			     a2;
	int n;

	(void)state;
	n = kr_spf_query_format(buf, sizeof(buf), &q);
	assert_true(n > 0 && buf[n - 1] == '\n');
	buf[n - 1] = '\0';
	assert_int_equal(kr_spf_query_parse(buf, &q2), 0);
	assert_int_equal(q2.id, 7);
	assert_string_equal(q2.helo, "mx.test");
	assert_string_equal(q2.sender, ""); /* the null sender */
	/* Answers are cleaned, not refused: the tab and newline become
	 * spaces and the line still parses. */
	n = kr_spf_answer_format(buf, sizeof(buf), &a);
	assert_true(n > 0);
	buf[n - 1] = '\0';
	assert_int_equal(kr_spf_answer_parse(buf, &a2), 0);
	assert_int_equal(a2.result, KR_SPF_SOFTFAIL);
	assert_string_equal(a2.received, "softfail (x) y");
	assert_string_equal(a2.explanation, "why ");
	/* A query field at the limit passes, one over fails; a control
	 * character is refused. */
	memset(field, 'a', KR_SPF_FIELD_MAX);
	field[KR_SPF_FIELD_MAX] = '\0';
	q.sender = field;
	assert_true(kr_spf_query_format(buf, sizeof(buf), &q) > 0);
	field[KR_SPF_FIELD_MAX] = 'a';
	field[KR_SPF_FIELD_MAX + 1] = '\0';
	assert_int_equal(kr_spf_query_format(buf, sizeof(buf), &q), -1);
	q.sender = "a\tb@x.test";
	assert_int_equal(kr_spf_query_format(buf, sizeof(buf), &q), -1);
	/* Malformed lines. */
	strcpy(buf, "Q\t1\tip\thelo");
	assert_int_equal(kr_spf_query_parse(buf, &q2), -1);
	strcpy(buf, "R\tx\tpass\ta\tb");
	assert_int_equal(kr_spf_answer_parse(buf, &a2), -1);
	strcpy(buf, "R\t1\tgood\ta\tb");
	assert_int_equal(kr_spf_answer_parse(buf, &a2), -1);
	strcpy(buf, "R\t1\tpass\ta\tb\tc");
	assert_int_equal(kr_spf_answer_parse(buf, &a2), -1);
}

static const struct {
	const char *sender, *test, *header;
	double score;
} spf_cases[] = {
	{ "u@pass.example.test", "SPF_PASS", "Received-SPF: pass (", -0.5 },
	{ "u@fail.example.test", "SPF_FAIL", "Received-SPF: fail (", 3.5 },
	{ "u@soft.example.test", "SPF_SOFTFAIL", "Received-SPF: softfail (",
	  1.5 },
	{ "u@neutral.example.test", "SPF_NEUTRAL", "Received-SPF: neutral (",
	  0.0 },
	{ "u@none.example.test", "SPF_NONE", "Received-SPF: none (", 0.0 },
	{ "u@perm.example.test", "SPF_PERMERROR", "Received-SPF: permerror (",
	  0.5 },
};

static void
test_spf_results(void **state)
{
	void *st = module_open(env.resolver, 5000);
	struct kr_filter_result res;

	(void)state;
	for (size_t i = 0; i < sizeof(spf_cases) / sizeof(spf_cases[0]); i++) {
		char want[256];

		check_msg(st, "192.0.2.9", "mx.client.test",
			  spf_cases[i].sender, &res, 5000);
		assert_string_equal(res.test, spf_cases[i].test);
		assert_true(res.score == spf_cases[i].score);
		assert_ptr_equal(strstr(res.headers, spf_cases[i].header),
				 res.headers);
		/* RFC 7208 §9.1 key-value pairs of the identity checked. */
		snprintf(want, sizeof(want),
			 "client-ip=192.0.2.9; envelope-from=%s%s%s; "
			 "helo=mx.client.test;",
			 i == 5 ? "<" : "", spf_cases[i].sender,
			 i == 5 ? ">" : "");
		if (strstr(res.headers, want) == NULL)
			fail_msg("%s: no '%s' in '%s'", spf_cases[i].sender,
				 want, res.headers);
	}
	check_msg(st, "192.0.2.9", "mx.client.test", "u@fail.example.test",
		  &res, 5000);
	assert_non_null(strstr(res.headers,
			       "domain of fail.example.test does not "
			       "designate 192.0.2.9 as permitted sender"));
	kr_spf_module()->close(st);
}

/* The null sender is checked as postmaster@HELO (RFC 7208 §2.4); no
 * address, no check. */
static void
test_spf_null_sender_and_no_address(void **state)
{
	void *st = module_open(env.resolver, 5000);
	struct kr_filter_result res;

	(void)state;
	check_msg(st, "192.0.2.20", "helo.example.test", "", &res, 5000);
	assert_string_equal(res.test, "SPF_PASS");
	assert_non_null(strstr(res.headers,
			       "envelope-from=postmaster@helo.example.test;"));
	check_msg(st, "192.0.2.21", "helo.example.test", "", &res, 5000);
	assert_string_equal(res.test, "SPF_FAIL");
	/* XFORWARD's form of an IPv6 address. */
	check_msg(st, "IPV6:2001:db8::5", "mx.client.test", "u@v6.example.test",
		  &res, 5000);
	assert_string_equal(res.test, "SPF_PASS");
	assert_non_null(strstr(res.headers, "client-ip=2001:db8::5;"));
	check_msg(st, "2001:db9::5", "mx.client.test", "u@v6.example.test",
		  &res, 5000);
	assert_string_equal(res.test, "SPF_FAIL");
	check_msg(st, NULL, "helo.example.test", "u@fail.example.test", &res,
		  0);
	assert_string_equal(res.test, "SPF_NONE");
	assert_string_equal(res.headers, "Received-SPF: none (kurier: client "
					 "address unknown)\n");
	kr_spf_module()->close(st);
}

/* No DNS server on the port: temperror, quickly. */
static void
test_spf_dns_down(void **state)
{
	int port, fd = blackhole_open(&port); /* a port surely free now */
	char resolver[64];
	void *st;
	struct kr_filter_result res;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", port);
	st = module_open(resolver, 5000);
	check_msg(st, "192.0.2.9", "mx.client.test", "u@fail.example.test",
		  &res, 5000);
	assert_string_equal(res.test, "SPF_TEMPERROR");
	assert_true(res.score == 0.0);
	assert_ptr_equal(strstr(res.headers, "Received-SPF: temperror ("),
			 res.headers);
	kr_spf_module()->close(st);
}

struct answer {
	volatile int done;
	struct kr_spf_answer a;
	char received[KR_SPF_FIELD_MAX + 1];
};

static void
on_answer(void *ctx, const struct kr_spf_answer *a)
{
	struct answer *x = ctx;

	x->a = *a;
	snprintf(x->received, sizeof(x->received), "%s", a->received);
	x->done = 1;
}

static struct kr_spf *
client_open(unsigned timeout_ms, unsigned queue_max)
{
	char helper[PATH_MAX + 16], err[256] = "";
	struct kr_spf_params p = { helper,    env.resolver, timeout_ms,
				   queue_max, 100,	    5000 };
	struct kr_spf *spf = NULL;

	snprintf(helper, sizeof(helper), "%s/kurier-spf", env.modules);
	if (kr_spf_create(env.base, &p, &spf, err, sizeof(err)) != 0)
		fail_msg("create: %s", err);
	return spf;
}

static int
gone(pid_t pid)
{
	return kill(pid, 0) != 0 && errno == ESRCH;
}

/* The record that crashes libspf2 (a stack overflow, caught by its
 * stack protector: SIGABRT) kills the helper, not this process: the
 * message gets SPF temperror and the next one the right answer from a
 * new helper. */
static void
test_spf_helper_crashes_on_record(void **state)
{
	void *st = module_open(env.resolver, 5000);
	struct kr_filter_result res;
	pid_t me = getpid();

	(void)state;
	check_msg(st, "192.0.2.9", "mx.client.test", "u@crash.example.test",
		  &res, 5000);
	assert_string_equal(res.test, "SPF_TEMPERROR");
	assert_true(res.score == 0.0);
	assert_string_equal(res.headers, "Received-SPF: temperror (kurier: "
					 "SPF helper died)\n");
	check_msg(st, "192.0.2.9", "mx.client.test", "u@fail.example.test",
		  &res, 5000);
	assert_string_equal(res.test, "SPF_FAIL");
	assert_ptr_equal(strstr(res.headers, "Received-SPF: fail ("),
			 res.headers);
	check_msg(st, "192.0.2.9", "mx.client.test", "u@crash.example.test",
		  &res, 5000);
	assert_string_equal(res.test, "SPF_TEMPERROR");
	check_msg(st, "192.0.2.9", "mx.client.test", "u@pass.example.test",
		  &res, 5000);
	assert_string_equal(res.test, "SPF_PASS");
	assert_int_equal(getpid(), me);
	kr_spf_module()->close(st);
}

/* A record whose evaluation never ends (its names are served by a DNS
 * server that never answers) runs into the helper's wall-clock budget:
 * the kernel ends the helper with SIGALRM. The query answers temperror,
 * the helper is reaped and restarted, and the next query (sent while it
 * was restarting) gets the right answer from the new one. */
static void
test_spf_helper_budget_ends_stall(void **state)
{
	struct kr_spf *spf = client_open(2000, 8); /* budget 1.5 s */
	struct answer x1 = { 0 }, x2 = { 0 };
	pid_t me = getpid(), first = kr_spf_helper_pid(spf);

	(void)state;
	assert_true(first > 0);
	kr_spf_begin(spf, "192.0.2.9", "mx.client.test", "u@stall.example.test",
		     on_answer, &x1);
	assert_int_equal(run_for(&x1.done, 5000), 0);
	assert_int_equal(x1.a.result, KR_SPF_TEMPERROR);
	assert_non_null(strstr(x1.received, "SPF helper died"));
	assert_int_equal(kr_spf_deaths(spf), 1);
	assert_true(gone(first)); /* reaped, no zombie */
	kr_spf_begin(spf, "192.0.2.9", "mx.client.test", "u@fail.example.test",
		     on_answer, &x2);
	assert_int_equal(run_for(&x2.done, 5000), 0);
	assert_int_equal(x2.a.result, KR_SPF_FAIL);
	assert_non_null(strstr(x2.received, "fail ("));
	assert_true(kr_spf_helper_pid(spf) > 0);
	assert_int_not_equal(kr_spf_helper_pid(spf), first);
	assert_int_equal(getpid(), me);
	kr_spf_destroy(&spf);
}

/* A crash (SIGSEGV, what a corrupted heap ends in) while queries wait:
 * all of them answer temperror at once, the next is served. */
static void
test_spf_helper_crash(void **state)
{
	struct kr_spf *spf = client_open(4000, 8);
	struct answer x[3] = { 0 }, y = { 0 };
	pid_t first = kr_spf_helper_pid(spf);
	struct timespec t0, t1;

	(void)state;
	for (int i = 0; i < 3; i++)
		kr_spf_begin(spf, "192.0.2.9", "mx.client.test",
			     "u@stall.example.test", on_answer, &x[i]);
	/* Let the helper read them and stall on the first. */
	event_base_loop(env.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	usleep(200000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kill(first, SIGSEGV);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(run_for(&x[i].done, 2000), 0);
		assert_int_equal(x[i].a.result, KR_SPF_TEMPERROR);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Well before the 4 s timeout and the 3 s budget. */
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
			    (t1.tv_nsec - t0.tv_nsec) / 1000000 <
		    1000);
	assert_int_equal(kr_spf_open_requests(spf), 0);
	kr_spf_begin(spf, "192.0.2.9", "mx.client.test", "u@pass.example.test",
		     on_answer, &y);
	assert_int_equal(run_for(&y.done, 5000), 0);
	assert_int_equal(y.a.result, KR_SPF_PASS);
	kr_spf_destroy(&spf);
	assert_true(gone(first));
}

/* The queue: at the limit a query waits for the helper, one over it
 * answers temperror at once (on the loop, not inside begin). */
static void
test_spf_queue_limit(void **state)
{
	struct kr_spf *spf = client_open(4000, 2);
	struct answer x[3] = { 0 };
	struct kr_spf_req *r[3];
	pid_t pid = kr_spf_helper_pid(spf);

	(void)state;
	for (int i = 0; i < 3; i++)
		r[i] = kr_spf_begin(spf, "192.0.2.9", "mx.client.test",
				    "u@stall.example.test", on_answer, &x[i]);
	assert_int_equal(kr_spf_open_requests(spf), 2);
	assert_int_equal(x[2].done, 0);
	assert_int_equal(run_for(&x[2].done, 1000), 0);
	assert_int_equal(x[2].a.result, KR_SPF_TEMPERROR);
	assert_non_null(strstr(x[2].received, "too many"));
	assert_int_equal(x[0].done, 0);
	kr_spf_cancel(&r[0]);
	kr_spf_cancel(&r[1]);
	assert_null(r[0]);
	assert_int_equal(kr_spf_open_requests(spf), 0);
	kr_spf_destroy(&spf);
	assert_true(gone(pid));
}

/* A helper that is not there: open fails with the reason. */
static void
test_spf_open_missing_helper(void **state)
{
	const struct kr_filter_module *m = kr_spf_module();
	struct kr_filter_conf conf = { .size = sizeof(conf),
				       .modules = "/nonexistent",
				       .check_timeout_ms = 1000 };
	char err[256] = "";
	void *st = NULL;

	(void)state;
	assert_int_equal(m->open(&env.host, &conf, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "kurier-spf"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spf_proto_roundtrip),
		cmocka_unit_test(test_spf_results),
		cmocka_unit_test(test_spf_null_sender_and_no_address),
		cmocka_unit_test(test_spf_dns_down),
		cmocka_unit_test(test_spf_helper_crashes_on_record),
		cmocka_unit_test(test_spf_helper_budget_ends_stall),
		cmocka_unit_test(test_spf_helper_crash),
		cmocka_unit_test(test_spf_queue_limit),
		cmocka_unit_test(test_spf_open_missing_helper),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
