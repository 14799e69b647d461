/* The "rate" module: three host->count calls per message. A limit is
 * "more than N in the window": the message that makes it N + 1 is the
 * first deferred. Deferred messages are counted too, so a client that
 * keeps retrying stays limited until it slows down. */
#include "antispam/modules/rate/rate.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RATE_TEXT_MAX 200

struct rate_state {
	const struct kr_filter_host *host;
	const struct kr_filter_conf *conf;
};

size_t
kr_rate_addr_key(const char *addr, unsigned char key[16], char text[46])
{
	struct in6_addr a6;
	struct in_addr a4;
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0,    0,
						  0, 0, 0, 0, 0xff, 0xff };

	if (addr == NULL)
		return 0;
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		memcpy(key, &a4, 4);
		inet_ntop(AF_INET, &a4, text, 46);
		return 4;
	}
	if (strncasecmp(addr, "IPv6:", 5) == 0)
		addr += 5;
	if (inet_pton(AF_INET6, addr, &a6) != 1)
		return 0;
	if (memcmp(a6.s6_addr, mapped, sizeof(mapped)) == 0) {
		memcpy(key, a6.s6_addr + 12, 4);
		inet_ntop(AF_INET, a6.s6_addr + 12, text, 46);
		return 4;
	}
	memcpy(key, a6.s6_addr, 8);
	inet_ntop(AF_INET6, &a6, text, 46);
	return 8;
}

static int
rate_open(const struct kr_filter_host *host, const struct kr_filter_conf *conf,
	  void **state_r, char *err, size_t err_size)
{
	struct rate_state *st;

	if (host->size < sizeof(*host) || conf->size < sizeof(*conf)) {
		snprintf(err, err_size, "rate: host or conf of another ABI");
		return -1;
	}
	if (host->count == NULL) {
		snprintf(err, err_size, "rate: the host has no counter");
		return -1;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		snprintf(err, err_size, "rate: out of memory");
		return -1;
	}
	st->host = host;
	st->conf = conf;
	*state_r = st;
	return 0;
}

static void
rate_close(void *state)
{
	free(state);
}

/* "60s" or, for windows that are no whole seconds, "1500ms". */
static void
rate_window_text(unsigned ms, char *buf, size_t size)
{
	if (ms % 1000 == 0)
		snprintf(buf, size, "%us", ms / 1000);
	else
		snprintf(buf, size, "%ums", ms);
}

static void
rate_limited(const struct rate_state *st, struct kr_filter_result *res,
	     const char *name, const char *who, uint64_t n)
{
	char win[24], why[RATE_TEXT_MAX];

	rate_window_text(st->conf->rate_window_ms, win, sizeof(win));
	snprintf(why, sizeof(why), "rate limit: %s sent %llu messages in %s",
		 who, (unsigned long long)n, win);
	st->host->defer(res, why);
	st->host->hit(res, name, 0.0, why);
}

static void
rate_check_ip(const struct rate_state *st, const struct kr_filter_msg *msg,
	      struct kr_filter_result *res)
{
	unsigned char key[16];
	char text[46], who[64];
	size_t len = kr_rate_addr_key(msg->client_addr, key, text);
	uint64_t n;

	if (st->conf->rate_ip == 0 || len == 0)
		return;
	n = st->host->count(st->host->ctx, "ip", key, len,
			    st->conf->rate_window_ms, 1);
	if (n <= st->conf->rate_ip)
		return;
	snprintf(who, sizeof(who), "client %s", text);
	rate_limited(st, res, "RATE_IP", who, n);
}

/* The sender lower-cased (the key) and, for the reply, with every byte
 * that is not printable ASCII shown as '?': the reply is client text. */
static void
rate_check_sender(const struct rate_state *st, const struct kr_filter_msg *msg,
		  struct kr_filter_result *res)
{
	char key[KR_RATE_SENDER_MAX], shown[KR_RATE_SENDER_MAX + 8];
	size_t len = msg->sender != NULL
			     ? strnlen(msg->sender, KR_RATE_SENDER_MAX + 1)
			     : 0;
	uint64_t n;

	if (st->conf->rate_sender == 0 || len == 0 || len > KR_RATE_SENDER_MAX)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)msg->sender[i];

		key[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
		shown[7 + i] = ch > 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	n = st->host->count(st->host->ctx, "sender", key, len,
			    st->conf->rate_window_ms, 1);
	if (n <= st->conf->rate_sender)
		return;
	memcpy(shown, "sender ", 7);
	shown[7 + len] = '\0';
	rate_limited(st, res, "RATE_SENDER", shown, n);
}

static void
rate_check_bulk(const struct rate_state *st, const struct kr_filter_msg *msg,
		struct kr_filter_result *res)
{
	unsigned rcpts =
		msg->n_rcpts > 0xffffffu ? 0xffffffu : (unsigned)msg->n_rcpts;
	char win[24], desc[RATE_TEXT_MAX];
	uint64_t n;

	if (st->conf->bulk_rcpts == 0 || rcpts == 0)
		return;
	n = st->host->count(st->host->ctx, "bulk", &msg->body_hash,
			    sizeof(msg->body_hash), st->conf->bulk_window_ms,
			    rcpts);
	if (n < st->conf->bulk_rcpts)
		return;
	rate_window_text(st->conf->bulk_window_ms, win, sizeof(win));
	snprintf(desc, sizeof(desc), "the same body to %llu recipients in %s",
		 (unsigned long long)n, win);
	st->host->hit(res, "BULK", st->conf->bulk_score, desc);
}

static int
rate_check(void *state, const struct kr_filter_msg *msg,
	   struct kr_filter_result *res, void **req_r, kr_filter_done_fn *done,
	   void *ctx)
{
	const struct rate_state *st = state;

	(void)req_r;
	(void)done;
	(void)ctx;
	rate_check_ip(st, msg, res);
	rate_check_sender(st, msg, res);
	rate_check_bulk(st, msg, res);
	return 1;
}

/* check never pends, so there is never anything to cancel. */
static void
rate_cancel(void *state, void *req)
{
	(void)state;
	(void)req;
}

const struct kr_filter_module kr_rate_module = {
	.abi = KR_FILTER_ABI,
	.name = "rate",
	.version = "1",
	.open = rate_open,
	.selftest = NULL,
	.close = rate_close,
	.check = rate_check,
	.cancel = rate_cancel,
	.tokens = NULL,
};
