/* The dnsbl module's checks: one evdns A query per zone, all at once,
 * and a timer of check_timeout_ms.
 *
 * evdns calls every query's callback exactly once, always from the
 * loop: with the answer, or with DNS_ERR_CANCEL after
 * evdns_cancel_request (deferred to the next loop turn; a query whose
 * answer is already queued gets the answer instead). So a request
 * counts its outstanding callbacks and is freed by the last one:
 * - timeout: the module cancels what is left and calls done once
 *   those DNS_ERR_CANCEL callbacks are back, so no evdns callback ever
 *   reaches the module after done;
 * - host cancel: the request is marked, cancels what is left and is
 *   freed by the last callback, which touches nothing but the request
 *   (the state may be closed by then). Those callbacks run on the next
 *   loop turn, so the host must not dlclose the module in the same turn
 *   as a cancel. */
#include "antispam/modules/dnsbl/dnsbl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#define DNSBL_DETAIL_MAX 320
#define DNSBL_NAME_MAX (KR_DNSBL_REVERSED_MAX + 1 + KR_DNSBL_ZONE_MAX + 1)
/* When the host gives no check_timeout. */
#define DNSBL_TIMEOUT_MS_DEFAULT 5000

struct dnsbl_state {
	const struct kr_filter_host *host;
	const struct kr_filter_conf *conf;
	size_t n;
	struct kr_dnsbl_zone zones[KR_DNSBL_ZONES_MAX];
};

struct dnsbl_req;

struct dnsbl_query {
	struct dnsbl_req *req;
	struct evdns_request *handle; /* NULL once its callback ran */
	size_t zone;
	bool cancel_sent;
};

struct dnsbl_req {
	const struct dnsbl_state *st; /* not after cancelled */
	const struct kr_filter_msg *msg;
	struct kr_filter_result *res;
	kr_filter_done_fn *done;
	void *ctx;
	struct event *timer;
	size_t outstanding; /* evdns callbacks still to come */
	bool in_check;	    /* check has not returned yet */
	bool cancelled;	    /* by the host: no done, no results */
	char addr[46];
	size_t n;
	struct dnsbl_query q[]; /* one per zone */
};

static void
dnsbl_log(const struct dnsbl_state *st, const struct kr_filter_msg *msg,
	  enum kr_filter_log_level level, const char *event, const char *detail)
{
	if (st->host->log != NULL)
		st->host->log(st->host->ctx, level, msg->req_id, event, detail);
}

static int
dnsbl_open(const struct kr_filter_host *host, const struct kr_filter_conf *conf,
	   void **state_r, char *err, size_t err_size)
{
	struct dnsbl_state *st;
	int n;

	if (host->size < sizeof(*host) || conf->size < sizeof(*conf)) {
		snprintf(err, err_size, "dnsbl: host or conf of another ABI");
		return -1;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		snprintf(err, err_size, "dnsbl: out of memory");
		return -1;
	}
	n = kr_dnsbl_parse(conf->dnsbl, st->zones, KR_DNSBL_ZONES_MAX, err,
			   err_size);
	if (n < 0) {
		free(st);
		return -1;
	}
	st->host = host;
	st->conf = conf;
	st->n = (size_t)n;
	*state_r = st;
	return 0;
}

static void
dnsbl_close(void *state)
{
	free(state);
}

/* The request's end for the host: done fires last, after the request
 * is gone, so the host may do anything in it. */
static void
dnsbl_finish(struct dnsbl_req *req)
{
	kr_filter_done_fn *done = req->done;
	void *ctx = req->ctx;

	event_free(req->timer);
	free(req);
	done(ctx);
}

static void
dnsbl_listed(struct dnsbl_req *req, const struct kr_dnsbl_zone *z,
	     uint32_t code)
{
	char desc[DNSBL_DETAIL_MAX];

	snprintf(desc, sizeof(desc), "client listed in %s (%u.%u.%u.%u)",
		 z->zone, code >> 24, (code >> 16) & 0xff, (code >> 8) & 0xff,
		 code & 0xff);
	req->st->host->hit(req->res, z->test, z->score, desc);
}

/* One zone's answer: the first listing code among the A records. */
static void
dnsbl_record(struct dnsbl_req *req, const struct dnsbl_query *q, int result,
	     char type, int count, const void *addresses)
{
	const struct kr_dnsbl_zone *z = &req->st->zones[q->zone];
	char detail[DNSBL_DETAIL_MAX];
	bool refused = false;

	if (result == DNS_ERR_NOTEXIST ||
	    (result == DNS_ERR_CANCEL && !req->cancelled))
		return; /* not listed; a timeout is logged once */
	if (result != DNS_ERR_NONE || type != DNS_IPv4_A) {
		snprintf(detail, sizeof(detail), "zone %s, client %s: %s",
			 z->zone, req->addr, evdns_err_to_string(result));
		dnsbl_log(req->st, req->msg, KR_FILTER_LOG_WARN, "dnsbl_error",
			  detail);
		return;
	}
	for (int i = 0; i < count; i++) {
		uint32_t a;

		memcpy(&a, (const char *)addresses + 4 * (size_t)i, 4);
		a = ntohl(a);
		switch (kr_dnsbl_classify(a)) {
		case KR_DNSBL_LISTED:
			dnsbl_listed(req, z, a);
			return;
		case KR_DNSBL_REFUSED:
			refused = true;
			break;
		case KR_DNSBL_NOT_LISTED:
			break;
		}
	}
	if (refused) {
		snprintf(detail, sizeof(detail),
			 "zone %s refused the query (127.255.255.x)", z->zone);
		dnsbl_log(req->st, req->msg, KR_FILTER_LOG_WARN,
			  "dnsbl_refused", detail);
	}
}

static void
dnsbl_answer(int result, char type, int count, int ttl, void *addresses,
	     void *arg)
{
	struct dnsbl_query *q = arg;
	struct dnsbl_req *req = q->req;

	(void)ttl;
	q->handle = NULL; /* evdns frees it after this returns */
	if (!req->cancelled)
		dnsbl_record(req, q, result, type, count, addresses);
	if (--req->outstanding > 0 || req->in_check)
		return;
	if (req->cancelled)
		free(req);
	else
		dnsbl_finish(req);
}

/* Asks evdns to give up on every query still out; their callbacks
 * come back with DNS_ERR_CANCEL (or the answer) on the next turn. */
static void
dnsbl_cancel_queries(struct dnsbl_req *req, struct evdns_base *dns)
{
	for (size_t i = 0; i < req->n; i++) {
		struct dnsbl_query *q = &req->q[i];

		if (q->handle == NULL || q->cancel_sent)
			continue;
		q->cancel_sent = true;
		evdns_cancel_request(dns, q->handle);
	}
}

static void
dnsbl_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dnsbl_req *req = arg;
	char detail[DNSBL_DETAIL_MAX];

	(void)fd;
	(void)what;
	snprintf(detail, sizeof(detail),
		 "client %s: %zu of %zu zones unanswered, counted as not "
		 "listed",
		 req->addr, req->outstanding, req->n);
	dnsbl_log(req->st, req->msg, KR_FILTER_LOG_WARN, "dnsbl_timeout",
		  detail);
	dnsbl_cancel_queries(req, req->st->host->dns);
}

/* Sends one query per zone; returns how many went out. */
static size_t
dnsbl_send(struct dnsbl_req *req, const char *rev)
{
	const struct dnsbl_state *st = req->st;
	char name[DNSBL_NAME_MAX], detail[DNSBL_DETAIL_MAX];

	for (size_t i = 0; i < st->n; i++) {
		struct dnsbl_query *q = &req->q[i];

		q->req = req;
		q->zone = i;
		snprintf(name, sizeof(name), "%s.%s", rev, st->zones[i].zone);
		q->handle = evdns_base_resolve_ipv4(st->host->dns, name,
						    DNS_QUERY_NO_SEARCH,
						    dnsbl_answer, q);
		if (q->handle != NULL) {
			req->outstanding++;
			continue;
		}
		snprintf(detail, sizeof(detail), "zone %s: query not sent",
			 st->zones[i].zone);
		dnsbl_log(st, req->msg, KR_FILTER_LOG_WARN, "dnsbl_error",
			  detail);
	}
	return req->outstanding;
}

static int
dnsbl_check(void *state, const struct kr_filter_msg *msg,
	    struct kr_filter_result *res, void **req_r, kr_filter_done_fn *done,
	    void *ctx)
{
	const struct dnsbl_state *st = state;
	unsigned ms = st->conf->check_timeout_ms > 0
			      ? st->conf->check_timeout_ms
			      : DNSBL_TIMEOUT_MS_DEFAULT;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	char rev[KR_DNSBL_REVERSED_MAX], addr[46];
	struct dnsbl_req *req;

	if (st->n == 0 || st->host->dns == NULL ||
	    kr_dnsbl_reverse(msg->client_addr, rev, addr) < 0)
		return 1;
	req = calloc(1, sizeof(*req) + st->n * sizeof(req->q[0]));
	if (req == NULL)
		return 1;
	req->timer = evtimer_new(st->host->base, dnsbl_timeout, req);
	if (req->timer == NULL) {
		free(req);
		return 1;
	}
	req->st = st;
	req->msg = msg;
	req->res = res;
	req->done = done;
	req->ctx = ctx;
	req->n = st->n;
	memcpy(req->addr, addr, sizeof(addr));
	req->in_check = true;
	/* Callbacks run from the loop, never in here; in_check keeps that
	 * true even if an evdns version called one at once. */
	if (dnsbl_send(req, rev) == 0) {
		event_free(req->timer);
		free(req);
		return 1;
	}
	req->in_check = false;
	evtimer_add(req->timer, &tv);
	*req_r = req;
	return 0;
}

static void
dnsbl_cancel(void *state, void *r)
{
	const struct dnsbl_state *st = state;
	struct dnsbl_req *req = r;

	req->cancelled = true;
	event_free(req->timer);
	req->timer = NULL;
	dnsbl_cancel_queries(req, st->host->dns);
}

const struct kr_filter_module kr_dnsbl_module = {
	.abi = KR_FILTER_ABI,
	.name = "dnsbl",
	.version = "1",
	.open = dnsbl_open,
	.selftest = NULL,
	.close = dnsbl_close,
	.check = dnsbl_check,
	.cancel = dnsbl_cancel,
	.tokens = NULL,
};
