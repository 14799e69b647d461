/* LMTP session: socket <-> proto/lmtp <-> store. */
#include "server/lmtp/lmtp_session.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/address.h"
#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/metrics.h"
#include "proto/lmtp.h"
#include "server/deliver/deliver.h"
#include "server/lmtp/lmtp_delivery.h"
#include "server/lmtp/lmtp_metrics.h"
#include "server/lmtp/lmtp_rcpt_cache.h"
#include "server/lmtp/lmtp_rcpts.h"
#include "storage/store.h"

#define SESSION_OP_ARENA_MAX (1 << 20)
/* A command line looked ahead at: an RCPT that the state machine
 * accepts is shorter (a path is at most KR_ADDRESS_MAX + 2 bytes and
 * RCPT takes no parameter); a longer line ends the look-ahead. */
#define SESSION_PEEK_LINE_MAX 512

struct kr_lmtp_session {
	const struct kr_lmtp_session_env *env;
	struct kr_lmtp *proto;
	struct bufferevent *bev;
	/* The socket's bufferevent: bev itself, or the one under the TLS
	 * filter after STARTTLS. Its write timeout is [lmtp]
	 * write_timeout. */
	struct bufferevent *sock;
	struct event *idle_timer, *life_timer;
	char id[32];
	char peer[KR_LMTP_SESSION_PEER_MAX + 1]; /* "" for a unix socket */
	kr_lmtp_session_closed_fn *closed_cb;
	void *ctx;
	/* At most one of these is outstanding; `busy` while one is (or
	 * while the state machine's RCPT waits for its look-up). */
	struct kr_lmtp_delivery *delivery;
	const struct kr_lmtp_message *message; /* the delivery's */
	/* Recipient look-ups, pipelined ones started ahead; scanned: the
	 * bytes of unfed input already looked ahead at (whole RCPT
	 * lines from the start of the input). */
	struct kr_lmtp_rcpts *rcpts;
	size_t scanned;
	bool busy;
	bool draining;
	bool closing;	  /* close once the output is flushed */
	bool tls_pending; /* STARTTLS: handshake once 220 is flushed */
	bool closed;	  /* closed_cb fired */
	char rcpt[KR_ADDRESS_MAX + 1]; /* the RCPT being looked up */
};

static void session_pump(struct kr_lmtp_session *s);

/* Millisecond config values as a timeval. */
static struct timeval
session_tv(unsigned ms)
{
	return (struct timeval){ .tv_sec = ms / 1000,
				 .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
}

static void
session_log(struct kr_lmtp_session *s, enum kr_log_level level,
	    const char *event, const char *msg)
{
	kr_log_msg(s->env->rt->log, level, s->id, event, msg);
}

static void
session_end(struct kr_lmtp_session *s)
{
	if (s->closed)
		return;
	s->closed = true;
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	s->closed_cb(s->ctx, s);
}

static void
session_flush(struct kr_lmtp_session *s)
{
	const void *data;
	size_t len;

	while (kr_lmtp_output(s->proto, &data, &len)) {
		bufferevent_write(s->bev, data, len);
		kr_lmtp_output_consume(s->proto, len);
	}
}

static void
session_op_done(struct kr_lmtp_session *s)
{
	s->busy = false;
	if (s->draining && !s->closing) {
		kr_lmtp_shutdown(s->proto);
		s->closing = true;
	}
	session_pump(s);
}

static void
session_answer_rcpt(struct kr_lmtp_session *s,
		    const struct kr_lmtp_rcpts_answer *ans)
{
	/* The user id goes with the recipient: the delivery's batch
	 * need not look the address up again. */
	kr_lmtp_answer_rcpt_ref(
		s->proto,
		kr_lmtp_delivery_rcpt(s->env->rt, s->id, s->rcpt, ans->result,
				      ans->has_err ? &ans->err : NULL),
		ans->user_id);
}

static struct kr_store_op *
session_user_begin(void *ops_ctx, const char *account, struct kr_arena *arena,
		   kr_lmtp_rcpts_done_fn *cb, void *cb_ctx)
{
	struct kr_lmtp_session *s = ops_ctx;

	return kr_store_user_get_begin(
		s->env->deliver->store, account, arena,
		kr_deadline_after(kr_clock_mono_us(),
				  s->env->rt->cfg->lmtp.delivery_timeout_ms),
		cb, cb_ctx);
}

static void
session_user_cancel(void *ops_ctx, struct kr_store_op **op)
{
	(void)ops_ctx;
	kr_store_cancel(op);
}

static bool
session_user_known(void *ops_ctx, const char *account, int64_t *user_id_r)
{
	struct kr_lmtp_session *s = ops_ctx;
	const struct kr_runtime *rt = s->env->rt;
	bool hit = kr_lmtp_rcpt_cache_get(s->env->rcpt_cache, account,
					  kr_clock_mono_ms(), user_id_r);

	kr_metrics_inc(rt->slot, hit ? rt->lmtp_ids->rcpt_cache_hit
				     : rt->lmtp_ids->rcpt_cache_miss);
	return hit;
}

static void
session_user_found(void *ops_ctx, const char *account, int64_t user_id)
{
	struct kr_lmtp_session *s = ops_ctx;

	kr_lmtp_rcpt_cache_put(s->env->rcpt_cache, account, user_id,
			       kr_clock_mono_ms());
}

static const struct kr_lmtp_rcpts_ops session_user_ops = {
	.begin = session_user_begin,
	.cancel = session_user_cancel,
	.known = session_user_known,
	.found = session_user_found,
};

/* The look-up the state machine's RCPT waited for has answered. */
static void
session_on_rcpt_ready(void *ctx, const struct kr_lmtp_rcpts_answer *ans)
{
	struct kr_lmtp_session *s = ctx;

	session_answer_rcpt(s, ans);
	session_op_done(s);
}

/* The account a recipient names, normalized: user+detail@domain is
 * the user's (the detail picks a folder at delivery, not the account).
 * No user has an address that is not one (lib/address.h): -1, unknown
 * without asking the store. */
static int
session_account(const struct kr_lmtp_rcpt *rcpt, char *addr,
		struct kr_err *err_r)
{
	char account[2 * KR_ADDRESS_MAX + 2];

	snprintf(account, sizeof(account), "%s@%s", rcpt->local, rcpt->domain);
	return kr_address_normalize(account, strlen(account), addr,
				    KR_ADDRESS_MAX + 1, err_r);
}

/* RFC 2920: a client that pipelines sends its RCPTs at once. Starts
 * the look-ups of the whole RCPT lines that wait in the input after
 * the one being answered, up to the first other command (DATA's body
 * is never looked at) and while fewer than rcpt_max are held, so that
 * they run in parallel; the state machine still answers each in
 * order. */
static void
session_look_ahead(struct kr_lmtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t have = evbuffer_get_length(in);

	while (s->scanned < have) {
		char line[SESSION_PEEK_LINE_MAX], buf[KR_LMTP_RCPT_BUF_SIZE];
		char addr[KR_ADDRESS_MAX + 1];
		struct evbuffer_ptr at, eol;
		struct kr_lmtp_rcpt rcpt;
		size_t n;
		int r;

		if (evbuffer_ptr_set(in, &at, s->scanned, EVBUFFER_PTR_SET) < 0)
			return;
		eol = evbuffer_search(in, "\n", 1, &at);
		if (eol.pos < 0 || (size_t)eol.pos - s->scanned >= sizeof(line))
			return;
		n = (size_t)eol.pos - s->scanned + 1;
		if (evbuffer_copyout_from(in, &at, line, n) != (ev_ssize_t)n)
			return;
		r = kr_lmtp_rcpt_peek(line, n, buf, &rcpt);
		if (r == 0)
			return;
		if (r > 0 && session_account(&rcpt, addr, NULL) == 0 &&
		    kr_lmtp_rcpts_ahead(s->rcpts, addr) < 0)
			return; /* full: again after the next answer */
		s->scanned += n;
	}
}

static void
session_rcpt(struct kr_lmtp_session *s, const struct kr_lmtp_event *ev)
{
	struct kr_lmtp_rcpts_answer ans;
	char addr[KR_ADDRESS_MAX + 1];
	struct kr_err err;

	snprintf(s->rcpt, sizeof(s->rcpt), "%s", ev->rcpt.address);
	if (s->env->deliver->store == NULL ||
	    session_account(&ev->rcpt, addr, &err) < 0) {
		bool nostore = s->env->deliver->store == NULL;

		kr_lmtp_answer_rcpt(
			s->proto,
			kr_lmtp_delivery_rcpt(s->env->rt, s->id, s->rcpt,
					      nostore ? KR_DELIVER_UNAVAILABLE
						      : KR_DELIVER_UNKNOWN,
					      nostore ? NULL : &err));
		return;
	}
	/* This one first: the look-ups ahead queue behind it. */
	if (kr_lmtp_rcpts_take(s->rcpts, addr, &ans) == 1)
		session_answer_rcpt(s, &ans);
	else
		s->busy = true;
	session_look_ahead(s);
}

static void
session_on_delivered(void *ctx, const enum kr_lmtp_deliver_result *replies,
		     size_t n)
{
	struct kr_lmtp_session *s = ctx;

	s->delivery = NULL;
	/* Any recipient not stored (gone, over quota, another user's
	 * address now, moved; also refused or deferred for other
	 * reasons): its next RCPT asks the store again. */
	for (size_t i = 0; i < n; i++)
		if (replies[i] != KR_LMTP_DELIVER_OK)
			kr_lmtp_rcpt_cache_forget(s->env->rcpt_cache,
						  s->message->rcpts[i].ref);
	s->message = NULL;
	kr_lmtp_answer_message(s->proto, replies, n);
	session_op_done(s);
}

static void
session_message(struct kr_lmtp_session *s, const struct kr_lmtp_event *ev)
{
	/* The transaction's recipients are known: look-ups of RCPTs the
	 * state machine refused by itself are of no use. */
	kr_lmtp_rcpts_clear(s->rcpts);
	s->scanned = 0;
	s->busy = true;
	s->message = &ev->message;
	s->delivery =
		kr_lmtp_delivery_begin(s->env->deliver, s->env->rt, s->id,
				       s->peer[0] != '\0' ? s->peer : NULL,
				       &ev->message, session_on_delivered, s);
}

static void session_on_read(struct bufferevent *bev, void *ctx);
static void session_on_write(struct bufferevent *bev, void *ctx);
static void session_on_event(struct bufferevent *bev, short what, void *ctx);

/* Input is read only up to kr_lmtp_input_high(): past it libevent
 * stops reading until the pump has fed some of it, so a client that
 * streams or pipelines without waiting for replies grows our buffers
 * by that much at most (SPEC.md §6). */
static void
session_watermarks(struct kr_lmtp_session *s, struct bufferevent *bev)
{
	bufferevent_setwatermark(
		bev, EV_READ, 0,
		kr_lmtp_input_high(s->env->rt->cfg->lmtp.data_line_max));
}

/* RFC 3207 §4: anything the client sent after STARTTLS, before the
 * handshake, is discarded (command injection); then the TLS filter
 * takes over the socket. */
static void
session_start_tls(struct kr_lmtp_session *s)
{
	SSL *ssl = SSL_new(s->env->tls);
	struct bufferevent *tls;

	s->tls_pending = false;
	evbuffer_drain(bufferevent_get_input(s->bev),
		       evbuffer_get_length(bufferevent_get_input(s->bev)));
	tls = ssl != NULL ? bufferevent_openssl_filter_new(
				    s->env->base, s->bev, ssl,
				    BUFFEREVENT_SSL_ACCEPTING,
				    BEV_OPT_CLOSE_ON_FREE)
			  : NULL;
	if (tls == NULL) {
		if (ssl != NULL)
			SSL_free(ssl);
		session_log(s, KR_LOG_ERROR, "lmtp.tls_failed", "set-up");
		session_end(s);
		return;
	}
	s->bev = tls;
	bufferevent_setcb(tls, session_on_read, session_on_write,
			  session_on_event, s);
	/* The filter reads and writes through s->sock's buffers: bound
	 * both so that neither holds more than the plain session would
	 * (the filter stops moving output while s->sock's passes its
	 * high mark, so the backlog shows in s->bev's output, which
	 * session_can_take_input() watches). */
	session_watermarks(s, tls);
	bufferevent_setwatermark(s->sock, EV_WRITE, 0, KR_LMTP_OUTPUT_HIGH);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
}

static void
session_event(struct kr_lmtp_session *s, const struct kr_lmtp_event *ev)
{
	switch (ev->kind) {
	case KR_LMTP_EV_RCPT:
		session_rcpt(s, ev);
		break;
	case KR_LMTP_EV_MESSAGE:
		session_message(s, ev);
		break;
	case KR_LMTP_EV_STARTTLS:
		kr_lmtp_rcpts_clear(s->rcpts);
		s->scanned = 0;
		s->tls_pending = true;
		break;
	case KR_LMTP_EV_QUIT:
		s->closing = true;
		break;
	}
}

/* Stop taking commands while KR_LMTP_OUTPUT_HIGH of output waits for
 * the client: a client that pipelines without reading then fills its
 * own buffers, and our input stops at its read watermark. */
static bool
session_can_take_input(const struct kr_lmtp_session *s)
{
	return !s->busy && !s->closing && !s->tls_pending && !s->closed &&
	       evbuffer_get_length(bufferevent_get_output(s->bev)) <
		       KR_LMTP_OUTPUT_HIGH;
}

/* Feeds what has arrived into the state machine and acts on its events
 * until it waits for us, for the client, or for the output to drain. */
static void
session_pump(struct kr_lmtp_session *s)
{
	while (session_can_take_input(s)) {
		struct evbuffer *in = bufferevent_get_input(s->bev);
		const struct kr_lmtp_event *ev = kr_lmtp_event(s->proto);
		struct evbuffer_iovec vec;
		size_t used = 0;

		if (ev != NULL) {
			session_event(s, ev);
			continue;
		}
		if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1 ||
		    vec.iov_len == 0)
			break;
		kr_lmtp_feed(s->proto, vec.iov_base, vec.iov_len, &used);
		evbuffer_drain(in, used);
		s->scanned = used < s->scanned ? s->scanned - used : 0;
		if (used == 0 && kr_lmtp_event(s->proto) == NULL)
			break;
	}
	session_flush(s);
	if ((s->closing || s->tls_pending) &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_on_write(s->bev, s);
}

static void
session_on_read(struct bufferevent *bev, void *ctx)
{
	struct kr_lmtp_session *s = ctx;
	struct timeval idle = session_tv(s->env->rt->cfg->lmtp.idle_timeout_ms);

	(void)bev;
	/* Any input restarts the idle timer, as in Postfix's smtpd; a
	 * client that trickles a byte at a time is still bounded by the
	 * life timer, which nothing restarts (inside DATA too). */
	event_add(s->idle_timer, &idle);
	session_pump(s);
}

/* Called when the output has drained (libevent's default low-water
 * mark is 0). */
static void
session_on_write(struct bufferevent *bev, void *ctx)
{
	struct kr_lmtp_session *s = ctx;

	(void)bev;
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;
	if (s->closing) {
		session_end(s);
		return;
	}
	if (s->tls_pending) {
		session_start_tls(s);
		return;
	}
	session_pump(s);
}

static void
session_on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct kr_lmtp_session *s = ctx;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		/* Only s->sock has a timeout: output not taken for
		 * write_timeout. A 421 would not be read either. */
		session_log(s, KR_LOG_INFO, "lmtp.write_timeout",
			    "output not taken");
		session_end(s);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		/* The TLS handshake finished. */
		kr_lmtp_tls_started(s->proto);
		session_log(s, KR_LOG_DEBUG, "lmtp.tls", "established");
		session_pump(s);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		session_end(s);
}

static void
session_timeout(struct kr_lmtp_session *s, const char *which)
{
	session_log(s, KR_LOG_INFO, "lmtp.timeout", which);
	kr_lmtp_timeout(s->proto);
	s->closing = true;
	session_flush(s);
	bufferevent_enable(s->bev, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_end(s);
}

static void
session_on_idle(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	session_timeout(ctx, "idle_timeout");
}

static void
session_on_life(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	session_timeout(ctx, "session_timeout");
}

static void
session_settings(const struct kr_lmtp_session_env *env,
		 struct kr_lmtp_settings *set)
{
	const struct kr_config *cfg = env->rt->cfg;

	kr_lmtp_settings_init(set);
	set->hostname = env->hostname;
	set->message_max = cfg->lmtp.message_max;
	set->data_line_max = cfg->lmtp.data_line_max;
	set->rcpt_max = cfg->lmtp.rcpt_max;
	set->header_max = cfg->lmtp.header_max;
	set->starttls = env->tls != NULL;
	set->chunking = true;
}

struct kr_lmtp_session *
kr_lmtp_session_create(const struct kr_lmtp_session_env *env,
		       evutil_socket_t fd, const char *peer,
		       unsigned long long serial, bool xforward,
		       kr_lmtp_session_closed_fn *closed_cb, void *ctx)
{
	struct kr_lmtp_session *s = kr_xcalloc(1, sizeof(*s));
	const struct kr_config *cfg = env->rt->cfg;
	struct timeval idle = session_tv(cfg->lmtp.idle_timeout_ms);
	struct timeval life = session_tv(cfg->lmtp.session_timeout_ms);
	struct timeval wt = session_tv(cfg->lmtp.write_timeout_ms);
	struct kr_lmtp_settings set;

	s->env = env;
	s->closed_cb = closed_cb;
	s->ctx = ctx;
	/* The request id in every log line: worker pid and a counter. */
	snprintf(s->id, sizeof(s->id), "L%d.%llu", (int)getpid(), serial);
	snprintf(s->peer, sizeof(s->peer), "%s", peer != NULL ? peer : "");
	session_settings(env, &set);
	set.xforward = xforward;
	s->proto = kr_lmtp_create(&set);
	s->rcpts = kr_lmtp_rcpts_create(&session_user_ops, s, set.rcpt_max,
					session_on_rcpt_ready, s);
	s->bev = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->sock = s->bev;
	s->idle_timer = evtimer_new(env->base, session_on_idle, s);
	s->life_timer = evtimer_new(env->base, session_on_life, s);
	if (s->bev == NULL || s->idle_timer == NULL || s->life_timer == NULL)
		kr_panic("lmtp: session set-up failed");
	bufferevent_setcb(s->bev, session_on_read, session_on_write,
			  session_on_event, s);
	session_watermarks(s, s->bev);
	/* libevent arms it only while output waits and restarts it on
	 * every write that makes progress: a client that stops reading
	 * is closed write_timeout later. */
	bufferevent_set_timeouts(s->sock, NULL, &wt);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	event_add(s->idle_timer, &idle);
	event_add(s->life_timer, &life);
	session_flush(s); /* the greeting */
	return s;
}

void
kr_lmtp_session_drain(struct kr_lmtp_session *s)
{
	if (s->draining)
		return;
	s->draining = true;
	if (s->busy || s->closing)
		return; /* session_op_done finishes the job */
	kr_lmtp_shutdown(s->proto);
	s->closing = true;
	session_flush(s);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_end(s);
}

void
kr_lmtp_session_destroy(struct kr_lmtp_session **sp)
{
	struct kr_lmtp_session *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	kr_lmtp_rcpts_destroy(&s->rcpts);
	kr_lmtp_delivery_cancel(&s->delivery);
	event_free(s->idle_timer);
	event_free(s->life_timer);
	bufferevent_free(s->bev);
	kr_lmtp_destroy(&s->proto);
	free(s);
}
