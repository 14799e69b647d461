/* The LMTP side of delivery (SPEC.md §3.1): an LMTP message event as
 * a protocol-neutral delivery (server/deliver/deliver.h), and neutral
 * results as LMTP replies, for RCPT and after DATA, in one table; with
 * the lmtp.rcpt and lmtp.deliver log lines and the LMTP recipient
 * metrics. Worker loop only. */
#ifndef KR_LMTP_DELIVERY_H
#define KR_LMTP_DELIVERY_H

#include <stddef.h>

#include "proto/lmtp.h"
#include "server/deliver/deliver.h"
#include "server/runtime.h"

struct kr_arena;
struct kr_lmtp_delivery;

/* The one table: result's reply at RCPT and after DATA, as cfg's
 * [lmtp] over_quota wants it. */
enum kr_lmtp_rcpt_result
kr_lmtp_delivery_rcpt_reply(const struct kr_config *cfg,
			    enum kr_deliver_result result);
enum kr_lmtp_deliver_result
kr_lmtp_delivery_data_reply(const struct kr_config *cfg,
			    enum kr_deliver_result result);

/* The reply to a recipient checked as result (kr_deliver_check_user,
 * or UNKNOWN / UNAVAILABLE decided by the session). A refusal is
 * logged (lmtp.rcpt: rcpt as sent, err's text when given) and counted:
 * it never reaches the delivery log. */
enum kr_lmtp_rcpt_result kr_lmtp_delivery_rcpt(const struct kr_runtime *rt,
					       const char *req_id,
					       const char *rcpt,
					       enum kr_deliver_result result,
					       const struct kr_err *err);

/* msg as a delivery in *dl_r: sender and recipients (the account is
 * local@domain, +detail the folder, Delivered-To the address as sent),
 * the body, the client facts (XFORWARD's, else peer for the address).
 * The recipients array and accounts come from arena (no cap: at most
 * what the state machine holds already); everything else is borrowed
 * from msg, peer and req_id. */
void kr_lmtp_delivery_from_message(const struct kr_lmtp_message *msg,
				   const char *peer, const char *req_id,
				   struct kr_deadline deadline,
				   struct kr_arena *arena,
				   struct kr_delivery *dl_r);

/* One reply per recipient, in RCPT order; borrowed for the call. */
typedef void kr_lmtp_delivery_fn(void *ctx,
				 const enum kr_lmtp_deliver_result *replies,
				 size_t n);

/* Delivers msg (the KR_LMTP_EV_MESSAGE event's; it stays valid until
 * the caller answers the state machine, which it does from cb). peer:
 * the connection's client address, the client fact when XFORWARD did
 * not name one (NULL: none, a unix socket); req_id: the session's. Both
 * are borrowed like msg. Logs and counts every recipient's outcome. cb
 * fires exactly once, never before this returns, unless cancelled. */
struct kr_lmtp_delivery *
kr_lmtp_delivery_begin(const struct kr_deliver_env *env,
		       const struct kr_runtime *rt, const char *req_id,
		       const char *peer, const struct kr_lmtp_message *msg,
		       kr_lmtp_delivery_fn *cb, void *ctx);
/* No callback afterwards; sets *ld to NULL (NULL is fine). */
void kr_lmtp_delivery_cancel(struct kr_lmtp_delivery **ld);

#endif
