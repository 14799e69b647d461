/* kurier-spf: the SPF helper (spf.h). Reads queries on stdin, answers
 * on stdout, one at a time, with libspf2. It exists so that the
 * library's memory bugs (CVE-2023-42118 and its kin) can corrupt only
 * this process: it holds no mail, no sockets but its pipe, may not
 * fork, gain privileges or grow past its limits, and a wall-clock and
 * CPU budget per query ends it (SIGALRM, SIGXCPU) instead of letting
 * a record stall it. The module restarts it when it dies. */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>

#include "antispam/modules/spf/spf.h"

#if defined(__SANITIZE_ADDRESS__)
#define SPF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPF_SANITIZED 1
#endif
#endif

/* Limits of the helper. 256 MiB of address space is ~100x what an
 * evaluation needs (a 64 KiB DNS answer, a few records); 16 fds cover
 * stdio, the resolver's socket and libc's files. */
#define SPF_AS_MAX (256u << 20)
#define SPF_NOFILE_MAX 16
#define SPF_CPU_PER_QUERY_S 5
#define SPF_BUDGET_MS_DEFAULT 10000
#define SPF_SELFTEST_DOMAIN "selftest.invalid"
#define SPF_SELFTEST_IP "192.0.2.1"

/* The DNS server of [antispam] resolver: glibc's resolv.conf cannot
 * name a port, so it is set on every resolver state libspf2 creates
 * (its resolv layer calls res_ninit once per thread). Process-wide by
 * nature: the helper has one configuration, set before any query. */
static struct sockaddr_in spf_ns;
static int spf_ns_set;

/* Interposes glibc's res_ninit (resolv.h maps it to __res_ninit) for
 * libspf2, which this executable links: the real one reads
 * /etc/resolv.conf, then the server and the timeouts are ours. */
int
res_ninit(res_state statp)
{
	int (*real)(res_state);
	void *sym = dlsym(RTLD_NEXT, "__res_ninit");
	int rc;

	if (sym == NULL)
		return -1;
	memcpy(&real, &sym, sizeof(real));
	rc = real(statp);
	if (rc != 0 || !spf_ns_set)
		return rc;
	statp->nscount = 1;
	statp->nsaddr_list[0] = spf_ns;
	for (int i = 0; i < MAXNS; i++) {
		/* IPv6 servers of resolv.conf live here; they would win. */
		free(statp->_u._ext.nsaddrs[i]);
		statp->_u._ext.nsaddrs[i] = NULL;
	}
	/* A dead resolver must turn into temperror well inside the
	 * module's timeout: 2 tries of 1 s. */
	statp->retrans = 1;
	statp->retry = 2;
	return 0;
}

static int
spf_resolver_set(const char *hostport)
{
	char host[64];
	const char *colon = strrchr(hostport, ':');
	size_t n =
		colon != NULL ? (size_t)(colon - hostport) : strlen(hostport);
	long port = 53;

	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, hostport, n);
	host[n] = '\0';
	if (colon != NULL) {
		char *end;
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || port <= 0 || port > 65535)
			return -1;
	}
	memset(&spf_ns, 0, sizeof(spf_ns));
	spf_ns.sin_family = AF_INET;
	spf_ns.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &spf_ns.sin_addr) != 1)
		return -1;
	spf_ns_set = 1;
	return 0;
}

static void
spf_limit(int resource, rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };

	if (setrlimit(resource, &rl) != 0) {
		fprintf(stderr, "kurier-spf: setrlimit %d: %s\n", resource,
			strerror(errno));
		exit(1);
	}
}

/* Only 0, 1 and 2 stay open; no privilege can be gained again; no
 * child, no core file, bounded memory. */
static void
spf_harden(void)
{
	if (close_range(3, ~0u, 0) != 0) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		fprintf(stderr, "kurier-spf: no_new_privs: %s\n",
			strerror(errno));
		exit(1);
	}
	spf_limit(RLIMIT_NOFILE, SPF_NOFILE_MAX, SPF_NOFILE_MAX);
	spf_limit(RLIMIT_CORE, 0, 0);
#ifndef SPF_SANITIZED
	/* The sanitizers reserve terabytes of shadow memory and start a
	 * thread at exit: these two limits are for the release build. */
	spf_limit(RLIMIT_AS, SPF_AS_MAX, SPF_AS_MAX);
	spf_limit(RLIMIT_NPROC, 0, 0);
#endif
	signal(SIGPIPE, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	signal(SIGXCPU, SIG_DFL);
}

/* The CPU limit is a total for the process; each query may use
 * SPF_CPU_PER_QUERY_S more than what was used before it. */
static void
spf_cpu_budget(void)
{
	struct rusage ru;
	struct rlimit rl;

	if (getrusage(RUSAGE_SELF, &ru) != 0 || getrlimit(RLIMIT_CPU, &rl))
		return;
	rl.rlim_cur = (rlim_t)ru.ru_utime.tv_sec + (rlim_t)ru.ru_stime.tv_sec +
		      SPF_CPU_PER_QUERY_S + 1;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_CPU, &rl);
}

static enum kr_spf_result
spf_result_map(SPF_result_t r, SPF_errcode_t err)
{
	switch (r) {
	case SPF_RESULT_PASS:
		return KR_SPF_PASS;
	case SPF_RESULT_FAIL:
		return KR_SPF_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return KR_SPF_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:
		return KR_SPF_NEUTRAL;
	case SPF_RESULT_NONE:
		return KR_SPF_NONE;
	case SPF_RESULT_PERMERROR:
		return KR_SPF_PERMERROR;
	case SPF_RESULT_INVALID:
		/* The library stopped early: a record that does not
		 * compile is the domain's fault (RFC 7208 §4.6: permerror);
		 * DNS and memory trouble may pass. */
		if (err == SPF_E_DNS_ERROR || err == SPF_E_NO_MEMORY ||
		    err == SPF_E_INTERNAL_ERROR || err == SPF_E_SUCCESS)
			return KR_SPF_TEMPERROR;
		return KR_SPF_PERMERROR;
	case SPF_RESULT_TEMPERROR:
	default:
		return KR_SPF_TEMPERROR;
	}
}

struct spf_out {
	enum kr_spf_result result;
	char received[KR_SPF_FIELD_MAX + 1];
	char expl[KR_SPF_FIELD_MAX + 1];
};

/* Received-SPF (RFC 7208 §9.1) when the library gave none. */
static void
spf_received_own(struct spf_out *o, const char *why, const char *ip,
		 const char *helo, const char *sender)
{
	snprintf(o->received, sizeof(o->received),
		 "%s (kurier-spf: %s) client-ip=%s; envelope-from=<%s>; "
		 "helo=%s;",
		 kr_spf_result_name(o->result), why, ip, sender, helo);
}

static void
spf_evaluate(SPF_server_t *srv, const char *ip, const char *helo,
	     const char *sender, struct spf_out *o)
{
	SPF_request_t *req = SPF_request_new(srv);
	SPF_response_t *resp = NULL;
	char from[KR_SPF_FIELD_MAX + 16];
	SPF_errcode_t err;
	const char *v;
	int bad;

	/* RFC 7208 §2.4: the null sender is checked as postmaster@HELO. */
	if (sender[0] == '\0')
		snprintf(from, sizeof(from), "postmaster@%s", helo);
	else
		snprintf(from, sizeof(from), "%s", sender);
	bad = req == NULL ||
	      (strchr(ip, ':') ? SPF_request_set_ipv6_str(req, ip)
			       : SPF_request_set_ipv4_str(req, ip)) != 0;
	if (!bad && helo[0] != '\0')
		bad = SPF_request_set_helo_dom(req, helo) != 0;
	if (!bad)
		bad = SPF_request_set_env_from(req, from) != 0;
	if (bad) {
		/* An identity libspf2 cannot take (no domain, a bad IP):
		 * RFC 7208 §4.3 makes a malformed domain "none". */
		o->result = KR_SPF_NONE;
		spf_received_own(o, "no checkable identity", ip, helo, sender);
		snprintf(o->expl, sizeof(o->expl), "no checkable identity");
		if (req != NULL)
			SPF_request_free(req);
		return;
	}
	err = SPF_request_query_mailfrom(req, &resp);
	o->result = spf_result_map(SPF_response_result(resp), err);
	v = SPF_response_get_received_spf_value(resp);
	if (v != NULL && SPF_response_result(resp) != SPF_RESULT_INVALID)
		snprintf(o->received, sizeof(o->received), "%s", v);
	else
		spf_received_own(o, SPF_strerror(err), ip, helo, sender);
	v = SPF_response_get_smtp_comment(resp);
	if (v == NULL)
		v = SPF_response_get_header_comment(resp);
	snprintf(o->expl, sizeof(o->expl), "%s", v != NULL ? v : "");
	SPF_response_free(resp);
	SPF_request_free(req);
}

/* The ping: the same library path on an in-memory zone, so a ping
 * answered "pass" says libspf2 evaluates, without DNS. */
static void
spf_selftest(SPF_server_t *zone_srv, struct spf_out *o)
{
	spf_evaluate(zone_srv, SPF_SELFTEST_IP, "helo." SPF_SELFTEST_DOMAIN,
		     "postmaster@" SPF_SELFTEST_DOMAIN, o);
}

static SPF_server_t *
spf_zone_server(void)
{
	SPF_dns_server_t *z = SPF_dns_zone_new(NULL, "selftest", 0);

	if (z == NULL ||
	    SPF_dns_zone_add_str(z, SPF_SELFTEST_DOMAIN, ns_t_txt,
				 NETDB_SUCCESS,
				 "v=spf1 ip4:" SPF_SELFTEST_IP " -all") != 0)
		return NULL;
	return SPF_server_new_dns(z, 0);
}

static int
spf_write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(1, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
spf_answer(uint64_t id, const struct spf_out *o)
{
	struct kr_spf_answer a = { id, o->result, o->received, o->expl };
	char line[KR_SPF_LINE_MAX + 2 * KR_SPF_FIELD_MAX];
	int n = kr_spf_answer_format(line, sizeof(line), &a);

	return n < 0 ? -1 : spf_write_all(line, (size_t)n);
}

/* Reads one line of at most KR_SPF_LINE_MAX bytes; a longer one is
 * skipped whole (its sender times out). 1: line, 0: EOF. */
static int
spf_read_line(char *buf, size_t size)
{
	for (;;) {
		size_t n;
		int c;

		if (fgets(buf, (int)size, stdin) == NULL)
			return 0;
		n = strlen(buf);
		if (n > 0 && buf[n - 1] == '\n') {
			buf[n - 1] = '\0';
			return 1;
		}
		while ((c = getchar()) != EOF && c != '\n')
			;
		if (c == EOF)
			return 0;
	}
}

static int
spf_serve(SPF_server_t *srv, SPF_server_t *zone_srv, unsigned budget_ms)
{
	char line[KR_SPF_LINE_MAX + 1];

	while (spf_read_line(line, sizeof(line))) {
		struct kr_spf_query q;
		struct spf_out o;
		struct itimerval it = { { 0, 0 },
					{ budget_ms / 1000,
					  (budget_ms % 1000) * 1000 } };
		struct itimerval off = { { 0, 0 }, { 0, 0 } };

		if (kr_spf_query_parse(line, &q) != 0)
			continue;
		memset(&o, 0, sizeof(o));
		spf_cpu_budget();
		setitimer(ITIMER_REAL, &it, NULL);
		if (q.ping)
			spf_selftest(zone_srv, &o);
		else
			spf_evaluate(srv, q.ip, q.helo, q.sender, &o);
		setitimer(ITIMER_REAL, &off, NULL);
		if (spf_answer(q.id, &o) != 0)
			return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned budget_ms = SPF_BUDGET_MS_DEFAULT;
	SPF_server_t *srv, *zone_srv;
	int rc;

	spf_harden();
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--resolver") == 0) {
			if (spf_resolver_set(argv[i + 1]) != 0) {
				fprintf(stderr, "kurier-spf: bad resolver\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--budget-ms") == 0) {
			budget_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
			if (budget_ms < 100 || budget_ms > 600000)
				budget_ms = SPF_BUDGET_MS_DEFAULT;
		}
	}
	srv = SPF_server_new(SPF_DNS_RESOLV, 0);
	zone_srv = spf_zone_server();
	if (srv == NULL || zone_srv == NULL) {
		fprintf(stderr, "kurier-spf: libspf2 did not start\n");
		return 1;
	}
	/* Answers quote the sender; the library makes them printable. */
	SPF_server_set_sanitize(srv, 1);
	SPF_server_set_sanitize(zone_srv, 1);
	setvbuf(stdout, NULL, _IONBF, 0);
	rc = spf_serve(srv, zone_srv, budget_ms);
	SPF_server_free(zone_srv);
	SPF_server_free(srv);
	return rc;
}
