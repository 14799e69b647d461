/* Session tokens for the webmail API (SPEC.md §3.2): HMAC-SHA256
 * signed, so any kurierd holding the same secret accepts them. Pure
 * functions (the clock comes in as `now`), any thread, no shared
 * state; keys live in the caller's memory and are wiped by it.
 *
 * Wire form (version 2, always KR_TOKEN_LEN = 110 characters):
 *
 *	base64url(payload) "." base64url(HMAC-SHA256(mac_key, payload))
 *
 * base64url is RFC 4648 §5 without padding; payload is 49 bytes, all
 * integers big-endian:
 *
 *	off len field
 *	  0   1 version (2)
 *	  1   8 user id (int64)
 *	  9   4 shard (uint32)
 *	 13   8 issued-at, Unix seconds (int64)
 *	 21   8 expires-at, Unix seconds (int64)
 *	 29  16 session id (random)
 *	 45   4 password version (uint32)
 *
 * Version 1 tokens (104 characters, the first 45 bytes without the
 * password version) are still accepted, as password version 0: the
 * version every user had before passwords were versioned, so sessions
 * issued before the upgrade last until the user's next password change.
 *
 * The password version is the user's at login (storage bumps it with
 * every password change); the session check refuses a token whose
 * version is no longer the user's, so a password change ends every
 * session issued before it.
 *
 * The MAC covers every payload byte, the version included. The user's
 * address is not in the token (keeps it short); look it up by id.
 *
 * Revocation (auth.logout) is NOT checked here: it needs state shared
 * by all workers and hosts. After a successful verify the caller looks
 * claims.sid up in the revocation list (the store or a shared table)
 * and treats a listed sid as revoked; entries may be dropped once their
 * expires_at has passed. */
#ifndef KR_TOKEN_H
#define KR_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define KR_TOKEN_VERSION 2
/* Characters in a version 2 token, and a buffer that holds one. */
#define KR_TOKEN_LEN 110
/* Characters in a version 1 token (still verified). */
#define KR_TOKEN_V1_LEN 104
#define KR_TOKEN_SIZE (KR_TOKEN_LEN + 1)
/* Longest string kr_token_verify() decodes at all; longer input is
 * "malformed" before any decoding. */
#define KR_TOKEN_MAX_LEN 256
/* Secret bytes accepted by kr_token_key_init(): 32 is 256 bits. */
#define KR_TOKEN_SECRET_MIN 32
#define KR_TOKEN_SECRET_MAX 1024
#define KR_TOKEN_SID_BYTES 16
#define KR_TOKEN_MAC_BYTES 32

/* A signing key, derived from the configured secret; embed it, wipe it
 * with kr_token_key_wipe(). Copies of it are secrets too. */
struct kr_token_key {
	unsigned char mac_key[KR_TOKEN_MAC_BYTES];
	bool ready;
};

/* Key rotation: tokens are issued with current; verification accepts
 * current or, when has_previous, previous (the secret being retired). */
struct kr_token_keyring {
	struct kr_token_key current;
	struct kr_token_key previous;
	bool has_previous;
};

/* What a token says. A token is valid while now < expires_at: at
 * expires_at itself it has expired. issued_at is not compared with now
 * (hosts' clocks differ); callers may use it, e.g. "revoke everything
 * issued before T". */
struct kr_token_claims {
	int version;
	int64_t user_id;
	uint32_t shard;
	uint32_t password_version; /* 0 for version 1 tokens */
	int64_t issued_at;
	int64_t expires_at;
	/* The session id as 32 lower-case hex digits: the revocation key. */
	char sid[2 * KR_TOKEN_SID_BYTES + 1];
	/* Set by kr_token_verify_ring() when the previous key matched: the
	 * caller may hand out a fresh token signed with the current one. */
	bool previous_key;
};

/* Derives key from secret (len bytes, any bytes, KR_TOKEN_SECRET_MIN to
 * KR_TOKEN_SECRET_MAX). The secret is not kept; the caller wipes its own
 * copy. -1 + err_r: KR_ERR_LIMIT for a secret too short or too long,
 * KR_ERR_INTERNAL when OpenSSL fails; key is then wiped. */
int kr_token_key_init(struct kr_token_key *key, const char *secret, size_t len,
		      struct kr_err *err_r);
/* Erases key (explicit_bzero); it must be initialised again to be used. */
void kr_token_key_wipe(struct kr_token_key *key);
/* Wipes both keys and clears has_previous. */
void kr_token_keyring_wipe(struct kr_token_keyring *ring);

/* Issues a token for user_id on shard, whose password version is
 * password_version, valid from now for ttl_s seconds (expires_at =
 * now + ttl_s) with a fresh random session id. Writes it
 * NUL-terminated (KR_TOKEN_LEN characters) into out, and the claims to
 * claims_r when not NULL. -1 + err_r: KR_ERR_LIMIT when out_size is
 * below KR_TOKEN_SIZE, KR_ERR_PERMANENT for ttl_s <= 0 or an expiry
 * past INT64_MAX, KR_ERR_INTERNAL when the key is not initialised, the
 * kernel's randomness or OpenSSL fails; out is then "" (if out_size>0). */
int kr_token_issue(const struct kr_token_key *key, int64_t user_id,
		   unsigned shard, uint32_t password_version, int64_t now,
		   int64_t ttl_s, char *out, size_t out_size,
		   struct kr_token_claims *claims_r, struct kr_err *err_r);

/* Checks token (len bytes, need not be NUL-terminated; client input):
 * length bounds before decoding, then the MAC in constant time, then
 * the version (1 or 2, with the length that version has), then expiry
 * against now (no skew allowance: pass a
 * later now to allow some). 0 with claims_r filled (when not NULL);
 * -1 + err_r, KR_ERR_PERMANENT, message exactly one of "malformed",
 * "bad signature", "unknown version", "expired"; KR_ERR_INTERNAL when
 * the key is not initialised or OpenSSL fails. A token that is not
 * authentic is never reported as expired or of an unknown version.
 * claims_r is filled for an expired token too (authentic, its time
 * up: now >= claims_r->expires_at tells that case without the
 * message) and left as it was on every other failure. */
int kr_token_verify(const struct kr_token_key *key, const char *token,
		    size_t len, int64_t now, struct kr_token_claims *claims_r,
		    struct kr_err *err_r);

/* kr_token_verify() against ring->current, then ring->previous when
 * has_previous; claims_r->previous_key tells which one matched. */
int kr_token_verify_ring(const struct kr_token_keyring *ring, const char *token,
			 size_t len, int64_t now,
			 struct kr_token_claims *claims_r,
			 struct kr_err *err_r);

#endif
