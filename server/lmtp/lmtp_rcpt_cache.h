/* Recipients found at RCPT, remembered for a short time so that the
 * next RCPT for a busy mailbox need not ask its shard (issue 12: the
 * look-up was about an eighth of PostgreSQL's CPU per delivery). Only users
 * found and not over quota are remembered, by their normalized account.
 * A remembered id is never trusted blindly: the delivery checks id and
 * address together (014_rcpt_ids.sql), so a user deleted, over quota or
 * replaced since is refused after DATA instead of at RCPT, and the
 * session forgets the user then. Bounded in bytes (lib/lru.h), one per
 * worker loop, no locks. */
#ifndef KR_LMTP_RCPT_CACHE_H
#define KR_LMTP_RCPT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kr_lmtp_rcpt_cache;

/* At most max_bytes (lib/lru.h's accounting), each answer for ttl_ms;
 * either 0: off, every look-up misses. Never returns NULL. */
struct kr_lmtp_rcpt_cache *kr_lmtp_rcpt_cache_create(size_t max_bytes,
						     int64_t ttl_ms);
/* NULL or *c == NULL is a no-op; sets *c to NULL. */
void kr_lmtp_rcpt_cache_destroy(struct kr_lmtp_rcpt_cache **c);

/* True and *user_id_r when account was remembered less than ttl_ms
 * before now_ms. */
bool kr_lmtp_rcpt_cache_get(struct kr_lmtp_rcpt_cache *c, const char *account,
			    int64_t now_ms, int64_t *user_id_r);
void kr_lmtp_rcpt_cache_put(struct kr_lmtp_rcpt_cache *c, const char *account,
			    int64_t user_id, int64_t now_ms);
/* Drops what is remembered for the user (a delivery to it failed). */
void kr_lmtp_rcpt_cache_forget(struct kr_lmtp_rcpt_cache *c, int64_t user_id);

#endif
