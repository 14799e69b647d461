/* Session tokens: HMAC-SHA256 over a fixed binary payload, both halves
 * base64url. Layout and contract in token.h. */
#include "server/auth/token.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lib/secret.h"

#define TOKEN_PAYLOAD_LEN 49
#define TOKEN_V1_PAYLOAD_LEN 45
#define TOKEN_OFF_SID 29
#define TOKEN_OFF_PWV 45
/* base64url lengths without padding: 4 characters per 3 bytes. */
#define TOKEN_B64_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
#define TOKEN_PAYLOAD_B64 TOKEN_B64_LEN(TOKEN_PAYLOAD_LEN)
#define TOKEN_MAC_B64 TOKEN_B64_LEN(KR_TOKEN_MAC_BYTES)
/* The payload half of the longest token we decode, and its bytes. */
#define TOKEN_PART_MAX (KR_TOKEN_MAX_LEN - 1 - TOKEN_MAC_B64)
#define TOKEN_RAW_MAX ((TOKEN_PART_MAX + 3) / 4 * 3)

_Static_assert(TOKEN_PAYLOAD_B64 + 1 + TOKEN_MAC_B64 == KR_TOKEN_LEN,
	       "KR_TOKEN_LEN matches the layout");
_Static_assert(TOKEN_B64_LEN(TOKEN_V1_PAYLOAD_LEN) + 1 + TOKEN_MAC_B64 ==
		       KR_TOKEN_V1_LEN,
	       "KR_TOKEN_V1_LEN matches the version 1 layout");
_Static_assert(KR_TOKEN_LEN <= KR_TOKEN_MAX_LEN, "v2 tokens verify");

/* Domain separation: a secret shared with some other use never yields
 * the same MAC key as ours. */
static const char token_label[] = "kurier session token v1";

static const char token_hex[] = "0123456789abcdef";

struct token_parsed {
	unsigned char payload[TOKEN_RAW_MAX];
	size_t payload_len;
	unsigned char mac[KR_TOKEN_MAC_BYTES];
};

static int
token_reject(struct kr_err *err_r, const char *why)
{
	return kr_err_set(err_r, KR_ERR_PERMANENT, "%s", why);
}

/* base64url without padding into out (size >= TOKEN_B64_LEN(len)+1). */
static void
token_b64_encode(const unsigned char *in, size_t len, char *out)
{
	/* EVP_EncodeBlock writes padded standard base64 plus a NUL. */
	char tmp[(TOKEN_RAW_MAX + 2) / 3 * 4 + 1];
	int n;

	kr_assert(len <= TOKEN_RAW_MAX);
	n = EVP_EncodeBlock((unsigned char *)tmp, in, (int)len);
	while (n > 0 && tmp[n - 1] == '=')
		n--;
	for (int i = 0; i < n; i++)
		out[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
	out[n] = '\0';
}

static bool
token_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Decodes canonical unpadded base64url (in, len <= TOKEN_PART_MAX) into
 * out (out_size bytes). -1 for a stray character, an impossible length,
 * a result that does not fit, or non-zero trailing bits. */
static int
token_b64_decode(const char *in, size_t len, unsigned char *out,
		 size_t out_size, size_t *out_len_r)
{
	char std[TOKEN_PART_MAX + 4];
	char again[TOKEN_PART_MAX + 4];
	unsigned char raw[TOKEN_RAW_MAX];
	size_t pad = (4 - len % 4) % 4, n;
	int got;

	if (len == 0 || len > TOKEN_PART_MAX || pad == 3)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!token_b64_char(in[i]))
			return -1;
		std[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	}
	memset(std + len, '=', pad);
	got = EVP_DecodeBlock(raw, (const unsigned char *)std,
			      (int)(len + pad));
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (got < 0 || (size_t)got < pad)
		return -1;
	n = (size_t)got - pad;
	if (n > out_size)
		return -1;
	/* Trailing bits must be zero, so each token has one spelling. */
	token_b64_encode(raw, n, again);
	if (strlen(again) != len || memcmp(again, in, len) != 0)
		return -1;
	memcpy(out, raw, n);
	*out_len_r = n;
	return 0;
}

static void
token_put32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static uint32_t
token_get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
token_put64(unsigned char *p, int64_t v)
{
	uint64_t u = (uint64_t)v;

	for (int i = 7; i >= 0; i--, u >>= 8)
		p[i] = (unsigned char)(u & 0xff);
}

static int64_t
token_get64(const unsigned char *p)
{
	uint64_t u = 0;

	for (int i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	return (int64_t)u;
}

static int
token_mac(const struct kr_token_key *key, const unsigned char *data, size_t len,
	  unsigned char *mac)
{
	unsigned int mac_len = 0;

	if (HMAC(EVP_sha256(), key->mac_key, sizeof(key->mac_key), data, len,
		 mac, &mac_len) == NULL ||
	    mac_len != KR_TOKEN_MAC_BYTES)
		return -1;
	return 0;
}

int
kr_token_key_init(struct kr_token_key *key, const char *secret, size_t len,
		  struct kr_err *err_r)
{
	unsigned int out_len = 0;

	kr_token_key_wipe(key);
	if (len < KR_TOKEN_SECRET_MIN)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "token secret shorter than %d bytes",
				  KR_TOKEN_SECRET_MIN);
	if (len > KR_TOKEN_SECRET_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "token secret longer than %d bytes",
				  KR_TOKEN_SECRET_MAX);
	if (HMAC(EVP_sha256(), secret, (int)len,
		 (const unsigned char *)token_label, sizeof(token_label) - 1,
		 key->mac_key, &out_len) == NULL ||
	    out_len != sizeof(key->mac_key)) {
		kr_token_key_wipe(key);
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "token key derivation failed");
	}
	key->ready = true;
	return 0;
}

void
kr_token_key_wipe(struct kr_token_key *key)
{
	explicit_bzero(key, sizeof(*key));
}

void
kr_token_keyring_wipe(struct kr_token_keyring *ring)
{
	explicit_bzero(ring, sizeof(*ring));
}

/* payload holds a version 1 or 2 layout (its first byte says which,
 * its length was checked). */
static void
token_claims_fill(const unsigned char *payload, struct kr_token_claims *c)
{
	const unsigned char *sid = payload + TOKEN_OFF_SID;

	memset(c, 0, sizeof(*c));
	c->version = payload[0];
	c->user_id = token_get64(payload + 1);
	c->shard = token_get32(payload + 9);
	c->password_version =
		c->version >= 2 ? token_get32(payload + TOKEN_OFF_PWV) : 0;
	c->issued_at = token_get64(payload + 13);
	c->expires_at = token_get64(payload + 21);
	for (size_t i = 0; i < KR_TOKEN_SID_BYTES; i++) {
		c->sid[2 * i] = token_hex[sid[i] >> 4];
		c->sid[2 * i + 1] = token_hex[sid[i] & 0x0f];
	}
	c->sid[2 * KR_TOKEN_SID_BYTES] = '\0';
}

static int
token_issue_check(const struct kr_token_key *key, int64_t now, int64_t ttl_s,
		  size_t out_size, struct kr_err *err_r)
{
	if (!key->ready)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "token key not initialised");
	if (out_size < KR_TOKEN_SIZE)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "token buffer of %zu bytes, need %d",
				  out_size, KR_TOKEN_SIZE);
	if (ttl_s <= 0 || now > INT64_MAX - ttl_s)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "bad token lifetime");
	return 0;
}

int
kr_token_issue(const struct kr_token_key *key, int64_t user_id, unsigned shard,
	       uint32_t password_version, int64_t now, int64_t ttl_s, char *out,
	       size_t out_size, struct kr_token_claims *claims_r,
	       struct kr_err *err_r)
{
	unsigned char p[TOKEN_PAYLOAD_LEN];
	unsigned char mac[KR_TOKEN_MAC_BYTES];

	if (out_size > 0)
		out[0] = '\0';
	if (token_issue_check(key, now, ttl_s, out_size, err_r) < 0)
		return -1;
	p[0] = KR_TOKEN_VERSION;
	token_put64(p + 1, user_id);
	token_put32(p + 9, (uint32_t)shard);
	token_put64(p + 13, now);
	token_put64(p + 21, now + ttl_s);
	if (kr_secret_random(p + TOKEN_OFF_SID, KR_TOKEN_SID_BYTES, err_r) < 0)
		return -1;
	token_put32(p + TOKEN_OFF_PWV, password_version);
	if (token_mac(key, p, sizeof(p), mac) < 0)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "HMAC failed");
	token_b64_encode(p, sizeof(p), out);
	out[TOKEN_PAYLOAD_B64] = '.';
	token_b64_encode(mac, sizeof(mac), out + TOKEN_PAYLOAD_B64 + 1);
	if (claims_r != NULL)
		token_claims_fill(p, claims_r);
	return 0;
}

/* Splits and decodes; anything off is "malformed". Bounds first: no
 * byte of an over-long token is looked at. */
static int
token_parse(const char *token, size_t len, struct token_parsed *t)
{
	const char *dot;
	size_t head, mac_len;

	if (token == NULL || len == 0 || len > KR_TOKEN_MAX_LEN)
		return -1;
	dot = memchr(token, '.', len);
	if (dot == NULL)
		return -1;
	head = (size_t)(dot - token);
	if (len - head - 1 != TOKEN_MAC_B64)
		return -1;
	if (token_b64_decode(token, head, t->payload, sizeof(t->payload),
			     &t->payload_len) < 0)
		return -1;
	/* A second dot fails here: '.' is not a base64url character. */
	if (token_b64_decode(dot + 1, TOKEN_MAC_B64, t->mac, sizeof(t->mac),
			     &mac_len) < 0 ||
	    mac_len != KR_TOKEN_MAC_BYTES)
		return -1;
	return 0;
}

/* 1 when key signed t, 0 when not, -1 when the MAC cannot be made. */
static int
token_signed_by(const struct kr_token_key *key, const struct token_parsed *t)
{
	unsigned char mac[KR_TOKEN_MAC_BYTES];

	if (!key->ready || token_mac(key, t->payload, t->payload_len, mac) < 0)
		return -1;
	return CRYPTO_memcmp(mac, t->mac, sizeof(mac)) == 0 ? 1 : 0;
}

static int
token_verify_keys(const struct kr_token_key *const *keys, size_t n_keys,
		  const char *token, size_t len, int64_t now,
		  struct kr_token_claims *claims_r, struct kr_err *err_r)
{
	struct token_parsed t;
	struct kr_token_claims c;
	size_t i;
	int r = 0;

	if (token_parse(token, len, &t) < 0)
		return token_reject(err_r, "malformed");
	for (i = 0; i < n_keys; i++) {
		r = token_signed_by(keys[i], &t);
		if (r != 0)
			break;
	}
	if (r < 0)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "token key not initialised or HMAC failed");
	if (r == 0)
		return token_reject(err_r, "bad signature");
	if (t.payload[0] != KR_TOKEN_VERSION && t.payload[0] != 1)
		return token_reject(err_r, "unknown version");
	if (t.payload_len !=
	    (t.payload[0] == 1 ? TOKEN_V1_PAYLOAD_LEN : TOKEN_PAYLOAD_LEN))
		return token_reject(err_r, "malformed");
	token_claims_fill(t.payload, &c);
	c.previous_key = i > 0;
	/* Authentic from here on: the claims are told even when expired,
	 * so callers tell "expired" apart without reading the message. */
	if (claims_r != NULL)
		*claims_r = c;
	/* Valid while now < expires_at: expires_at itself is too late. */
	if (now >= c.expires_at)
		return token_reject(err_r, "expired");
	return 0;
}

int
kr_token_verify(const struct kr_token_key *key, const char *token, size_t len,
		int64_t now, struct kr_token_claims *claims_r,
		struct kr_err *err_r)
{
	const struct kr_token_key *keys[1] = { key };

	return token_verify_keys(keys, 1, token, len, now, claims_r, err_r);
}

int
kr_token_verify_ring(const struct kr_token_keyring *ring, const char *token,
		     size_t len, int64_t now, struct kr_token_claims *claims_r,
		     struct kr_err *err_r)
{
	const struct kr_token_key *keys[2] = { &ring->current,
					       &ring->previous };

	return token_verify_keys(keys, ring->has_previous ? 2 : 1, token, len,
				 now, claims_r, err_r);
}
