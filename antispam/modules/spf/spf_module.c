/* The SPF filter module (antispam/filter.h): one helper per generation
 * (spf_client.c), one query per message. The identity is the envelope
 * sender, or postmaster@HELO for the null sender (RFC 7208 §2.4, done
 * by the helper); the client address and HELO are what XFORWARD said,
 * or the connection's (the host fills msg). The result becomes the
 * Received-SPF header and one test hit, SPF_<RESULT>, scored as in
 * spf_proto.c: FAIL 3.5, SOFTFAIL 1.5, PERMERROR 0.5, PASS -0.5,
 * NONE, NEUTRAL and TEMPERROR 0. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "antispam/modules/spf/spf.h"

/* The helper's queue: a worker delivers a few messages at a time; 64
 * waiting checks mean the helper is far behind, and temperror (the
 * message passes unscored by SPF) is better than a longer wait. */
#define SPF_QUEUE_MAX 64
#define SPF_BACKOFF_MIN_MS 100
#define SPF_BACKOFF_MAX_MS 5000
/* SPF gets 4/5 of the message's check time, so that its temperror is
 * recorded before the host stops waiting for the whole check. */
#define SPF_TIMEOUT_SHARE(ms) ((ms) / 5 * 4)

struct spf_state {
	const struct kr_filter_host *host;
	struct kr_spf *spf;
};

struct spf_mreq {
	struct spf_state *st;
	struct kr_filter_result *res;
	struct kr_spf_req *req;
	kr_filter_done_fn *done;
	void *ctx;
};

static void
spf_record(struct spf_state *st, struct kr_filter_result *res,
	   enum kr_spf_result r, const char *received)
{
	char line[KR_SPF_FIELD_MAX + 32], desc[64];

	snprintf(line, sizeof(line), "Received-SPF: %s", received);
	st->host->header(res, line);
	snprintf(desc, sizeof(desc), "SPF check of the sender: %s",
		 kr_spf_result_name(r));
	st->host->hit(res, kr_spf_test_name(r), kr_spf_score(r), desc);
}

static int
spf_open(const struct kr_filter_host *host, const struct kr_filter_conf *conf,
	 void **state_r, char *err, size_t err_size)
{
	struct spf_state *st;
	struct kr_spf_params p;
	char path[PATH_MAX];
	int n;

	n = snprintf(path, sizeof(path), "%s/kurier-spf",
		     conf->modules != NULL ? conf->modules : ".");
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, err_size, "spf: modules path too long");
		return -1;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		abort();
	st->host = host;
	memset(&p, 0, sizeof(p));
	p.helper = path;
	p.resolver = conf->resolver;
	p.timeout_ms = SPF_TIMEOUT_SHARE(conf->check_timeout_ms);
	if (p.timeout_ms < 100)
		p.timeout_ms = 100;
	p.queue_max = SPF_QUEUE_MAX;
	p.backoff_min_ms = SPF_BACKOFF_MIN_MS;
	p.backoff_max_ms = SPF_BACKOFF_MAX_MS;
	if (kr_spf_create(host->base, &p, &st->spf, err, err_size) != 0) {
		free(st);
		return -1;
	}
	*state_r = st;
	return 0;
}

/* The helper answered a ping at open (libspf2 evaluated a record of
 * an in-memory zone); it must still be running now. */
static int
spf_selftest(void *state, char *err, size_t err_size)
{
	struct spf_state *st = state;

	if (kr_spf_helper_pid(st->spf) <= 0) {
		snprintf(err, err_size, "spf: helper not running");
		return -1;
	}
	return 0;
}

static void
spf_close(void *state)
{
	struct spf_state *st = state;

	kr_spf_destroy(&st->spf);
	free(st);
}

static void
spf_answered(void *arg, const struct kr_spf_answer *a)
{
	struct spf_mreq *m = arg;
	kr_filter_done_fn *done = m->done;
	void *ctx = m->ctx;

	spf_record(m->st, m->res, a->result, a->received);
	free(m);
	done(ctx);
}

static int
spf_check(void *state, const struct kr_filter_msg *msg,
	  struct kr_filter_result *res, void **req_r, kr_filter_done_fn *done,
	  void *ctx)
{
	struct spf_state *st = state;
	const char *helo = msg->client_helo != NULL ? msg->client_helo : "";
	const char *sender = msg->sender != NULL ? msg->sender : "";
	const char *addr = msg->client_addr;
	struct spf_mreq *m;

	/* Without an address there is nothing to authorise; without a
	 * sender and a HELO no domain to ask (RFC 7208 §2.3, §2.4). */
	if (msg->client_addr == NULL || msg->client_addr[0] == '\0' ||
	    (sender[0] == '\0' && helo[0] == '\0')) {
		spf_record(st, res, KR_SPF_NONE,
			   msg->client_addr == NULL
				   ? "none (kurier: client address unknown)"
				   : "none (kurier: no identity to check)");
		return 1;
	}
	/* Postfix's XFORWARD writes IPv6 addresses as "IPV6:addr". */
	if (strncasecmp(addr, "ipv6:", 5) == 0)
		addr += 5;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		abort();
	m->st = st;
	m->res = res;
	m->done = done;
	m->ctx = ctx;
	m->req = kr_spf_begin(st->spf, addr, helo, sender, spf_answered, m);
	*req_r = m;
	return 0;
}

static void
spf_cancel(void *state, void *req)
{
	struct spf_mreq *m = req;

	(void)state;
	kr_spf_cancel(&m->req);
	free(m);
}

static const struct kr_filter_module spf_module = {
	.abi = KR_FILTER_ABI,
	.name = "spf",
	.version = "libspf2 1.2.10 in kurier-spf",
	.open = spf_open,
	.selftest = spf_selftest,
	.close = spf_close,
	.check = spf_check,
	.cancel = spf_cancel,
	.tokens = NULL,
};

const struct kr_filter_module *
kr_spf_module(void)
{
	return &spf_module;
}
