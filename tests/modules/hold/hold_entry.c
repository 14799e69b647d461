/* A filter module for the host's tests: holds every message that has
 * an "X-Kr-Hold:" line for KR_TEST_HOLD_MS milliseconds before it is
 * done and hits HOLD with
 * the score KR_TEST_HOLD_SCORE (both from the environment, 0 when
 * unset), so that a test can keep messages in flight across reloads
 * and drive the verdict. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/filter.h"

struct hold {
	const struct kr_filter_host *host;
	unsigned ms;
	double score;
};

struct hold_req {
	struct event *timer;
	kr_filter_done_fn *done;
	void *ctx;
};

static int
hold_open(const struct kr_filter_host *host, const struct kr_filter_conf *conf,
	  void **state_r, char *err, size_t err_size)
{
	struct hold *h = calloc(1, sizeof(*h));
	const char *ms = getenv("KR_TEST_HOLD_MS");
	const char *score = getenv("KR_TEST_HOLD_SCORE");

	(void)conf;
	(void)err;
	(void)err_size;
	if (h == NULL)
		return -1;
	h->host = host;
	h->ms = ms != NULL ? (unsigned)strtoul(ms, NULL, 10) : 0;
	h->score = score != NULL ? strtod(score, NULL) : 0;
	*state_r = h;
	return 0;
}

static void
hold_close(void *state)
{
	free(state);
}

static void
hold_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hold_req *r = arg;

	(void)fd;
	(void)what;
	event_free(r->timer);
	r->done(r->ctx);
	free(r);
}

static int
hold_check(void *state, const struct kr_filter_msg *msg,
	   struct kr_filter_result *res, void **req_r, kr_filter_done_fn *done,
	   void *ctx)
{
	struct hold *h = state;
	struct hold_req *r;
	struct timeval tv = { h->ms / 1000, (h->ms % 1000) * 1000 };

	h->host->hit(res, "HOLD", h->score, "held by the test module");
	if (h->ms == 0 ||
	    memmem(msg->raw, msg->raw_len, "X-Kr-Hold:", 10) == NULL)
		return 1;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return 1;
	r->timer = evtimer_new(h->host->base, hold_on_timer, r);
	r->done = done;
	r->ctx = ctx;
	evtimer_add(r->timer, &tv);
	*req_r = r;
	return 0;
}

static void
hold_cancel(void *state, void *req)
{
	struct hold_req *r = req;

	(void)state;
	event_free(r->timer);
	free(r);
}

static const struct kr_filter_module hold_module = {
	.abi = KR_FILTER_ABI,
	.name = "hold",
	.version = "test",
	.open = hold_open,
	.close = hold_close,
	.check = hold_check,
	.cancel = hold_cancel,
};

const struct kr_filter_module *kr_filter_entry(void);

const struct kr_filter_module *
kr_filter_entry(void)
{
	return &hold_module;
}
