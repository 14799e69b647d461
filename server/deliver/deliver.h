/* The delivery pipeline of SPEC.md §2 for one LMTP transaction: parse
 * the message once (proto/mime, on the cpu pool when large), turn it
 * into the store's listing metadata, prepend Return-Path/Delivered-To
 * per recipient, deliver through the store's group commit, and map each
 * recipient's outcome to its LMTP answer. Logs one line per recipient
 * and keeps the LMTP metrics. Worker loop only. */
#ifndef KR_DELIVER_H
#define KR_DELIVER_H

#include "proto/lmtp.h"
#include "server/runtime.h"

struct event_base;
struct kr_store;
struct kr_tpool;
struct kr_deliver;

/* One result per accepted recipient, in RCPT order; borrowed for the
 * call. */
typedef void kr_deliver_fn(void *ctx,
			   const enum kr_lmtp_deliver_result *results,
			   unsigned n);

/* ev is the KR_LMTP_EV_MESSAGE event; its data stays valid until the
 * caller answers the state machine, which it does from cb. store NULL
 * answers every recipient 451 4.3.0. cb never fires before this
 * returns; it fires exactly once unless cancelled. */
struct kr_deliver *kr_deliver_begin(struct event_base *base,
				    struct kr_runtime *rt,
				    struct kr_store *store,
				    struct kr_tpool *cpu, const char *req_id,
				    const struct kr_lmtp_event *ev,
				    kr_deliver_fn *cb, void *ctx);
/* No callback afterwards. A batch already sent may still commit: the
 * client, never answered, retries (LMTP's at-least-once). */
void kr_deliver_cancel(struct kr_deliver **d);

#endif
