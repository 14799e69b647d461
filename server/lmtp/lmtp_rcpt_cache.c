/* The recipient cache: lib/lru.h keyed by account, owned by user id,
 * one generation (what invalidates an entry is the TTL and forget). */
#include "server/lmtp/lmtp_rcpt_cache.h"

#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/lru.h"

struct kr_lmtp_rcpt_cache {
	struct kr_lru *lru;
	int64_t ttl_ms;
};

struct kr_lmtp_rcpt_cache *
kr_lmtp_rcpt_cache_create(size_t max_bytes, int64_t ttl_ms)
{
	struct kr_lmtp_rcpt_cache *c = kr_xcalloc(1, sizeof(*c));

	c->ttl_ms = ttl_ms;
	c->lru = kr_lru_create(ttl_ms > 0 ? max_bytes : 0);
	return c;
}

void
kr_lmtp_rcpt_cache_destroy(struct kr_lmtp_rcpt_cache **cp)
{
	struct kr_lmtp_rcpt_cache *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	kr_lru_destroy(&c->lru);
	free(c);
}

bool
kr_lmtp_rcpt_cache_get(struct kr_lmtp_rcpt_cache *c, const char *account,
		       int64_t now_ms, int64_t *user_id_r)
{
	const char *val;
	size_t vlen;

	if (!kr_lru_get(c->lru, account, strlen(account), 0, now_ms, c->ttl_ms,
			&val, &vlen) ||
	    vlen != sizeof(*user_id_r))
		return false;
	memcpy(user_id_r, val, sizeof(*user_id_r));
	return true;
}

void
kr_lmtp_rcpt_cache_put(struct kr_lmtp_rcpt_cache *c, const char *account,
		       int64_t user_id, int64_t now_ms)
{
	kr_lru_put(c->lru, user_id, account, strlen(account), &user_id,
		   sizeof(user_id), 0, now_ms);
}

void
kr_lmtp_rcpt_cache_forget(struct kr_lmtp_rcpt_cache *c, int64_t user_id)
{
	kr_lru_drop_owner(c->lru, user_id);
}
