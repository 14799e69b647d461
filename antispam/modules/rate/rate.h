/* The "rate" filter module (SPEC.md §5): per-client-address and
 * per-envelope-sender rate limits (over the limit: the message is
 * deferred, 4xx, and RATE_IP / RATE_SENDER hit with score 0) and bulk
 * detection (the same decoded body to bulk_rcpts recipients within
 * bulk_window: BULK with bulk_score), counted through host->count
 * across every worker of the host. Synchronous: check always returns
 * 1. Worker loop only; the state is read-only after open. */
#ifndef KR_RATE_H
#define KR_RATE_H

#include <stddef.h>

#include "antispam/filter.h"

/* The longest envelope sender counted (RFC 5321 4.5.3.1.3: a path is
 * at most 256 octets); longer ones are not limited. */
#define KR_RATE_SENDER_MAX 256

/* The module's ABI struct (kr_filter_entry returns it in the .so;
 * unit tests call it directly). */
extern const struct kr_filter_module kr_rate_module;

/* The counter key of a client address: 4 bytes for IPv4 (IPv4-mapped
 * IPv6 included), the /64 prefix for IPv6 (one host owns a /64 and can
 * pick any address in it), an optional "IPv6:" prefix allowed. Fills
 * key (16 bytes) and text (the address as parsed, for replies; 46
 * bytes); returns the key length, 0 when addr is not an address. */
size_t kr_rate_addr_key(const char *addr, unsigned char key[16], char text[46]);

#endif
