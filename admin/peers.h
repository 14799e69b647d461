/* The other kurierd hosts of a dashboard ([admin] peers, issue 11):
 * every KR_ADMIN_PEERS_POLL_MS the master asks each peer's admin for
 * GET /api/overview with the same bearer token, one request per peer in
 * flight, KR_ADMIN_PEERS_TIMEOUT_MS from connect to last byte, answers
 * up to KR_ADMIN_PEERS_BODY_MAX; /api/hosts shows what it got. Runs on
 * the master's loop (libevent's HTTP client, numeric addresses only:
 * nothing resolves, nothing blocks). Owns its copies of the list and
 * the token (wiped on destroy). No callbacks to the caller. */
#ifndef KR_ADMIN_PEERS_H
#define KR_ADMIN_PEERS_H

#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"

struct event_base;
struct kr_admin_peers;

/* peers[0..n-1] are "ip:port", "[ipv6]:port" or "localhost:port"
 * (kr_config_parse_addr; [admin] peers is checked the same way at
 * load), n <= KR_ADMIN_PEERS_MAX, none twice; token is the admin token
 * (the peers share it). The first poll starts on the next loop turn.
 * NULL + err_r (KR_ERR_PERMANENT) on a bad list. n == 0 is fine: an
 * empty host list, no timers armed. */
struct kr_admin_peers *kr_admin_peers_create(struct event_base *base,
					     const char *const *peers, size_t n,
					     const char *token,
					     struct kr_err *err_r);
/* After a reload: the new list and token. A peer named in both lists
 * keeps its state and any request in flight; new ones are polled on the
 * next loop turn; dropped ones are cancelled. -1 + err_r on a bad list,
 * and then nothing changed. */
int kr_admin_peers_update(struct kr_admin_peers *p, const char *const *peers,
			  size_t n, const char *token, struct kr_err *err_r);
/* A new array (the caller owns the reference), one object per peer in
 * list order, shaped as a /api/hosts entry (issue 11's admin API):
 *   {"name":"host:port","self":false,"up":bool,"error":str|null,
 *    "checked_ms":ms|null,"health":str|null,"rates":{..}|null,
 *    "workers":{..}|null,"nodes":{..}|null}
 * up: the last poll got a good overview (200, JSON object with a
 * "health" string and "rates", "workers", "nodes" objects), whose
 * values are then copied here; otherwise they are null and error says
 * why in a few words: "timeout", "connection refused", "unreachable",
 * "connection reset", "connection closed", "connection failed",
 * "bad HTTP answer", "HTTP <status>", "answer too large", "bad JSON".
 * checked_ms: Unix epoch ms of the last poll's end; null (and up
 * false, error null) before the first one ended. */
json_t *kr_admin_peers_json(const struct kr_admin_peers *p);
/* Cancels every request (no callback runs) and frees; sets *p NULL. */
void kr_admin_peers_destroy(struct kr_admin_peers **p);
/* The same in a child forked from the master after event_reinit: the
 * peer connections' sockets are the parent's too, so each is first
 * pointed at /dev/null (as kr_admin_destroy_forked does), then freed. */
void kr_admin_peers_destroy_forked(struct kr_admin_peers **p);

#endif
