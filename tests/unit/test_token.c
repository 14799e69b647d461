/* cmocka tests for server/token: round trips, the documented layout,
 * tampering, malformed input, version 1 tokens (password version 0),
 * expiry boundary, keys and rotation,
 * limits (secret length, output buffer, input length). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "server/auth/token.h"

#define SECRET_A "0123456789abcdef0123456789abcdef-key-A"
#define SECRET_B "0123456789abcdef0123456789abcdef-key-B"
#define SECRET_C "0123456789abcdef0123456789abcdef-key-C"
#define NOW 1700000000
#define TTL 3600
#define PAYLOAD_B64 66
#define PWV 0x01020304u

static void
key_init(struct kr_token_key *key, const char *secret)
{
	struct kr_err err;

	kr_err_clear(&err);
	if (kr_token_key_init(key, secret, strlen(secret), &err) < 0)
		fail_msg("key_init: %s", err.msg);
}

static void
issue(const struct kr_token_key *key, int64_t user_id, char *out,
      struct kr_token_claims *claims_r)
{
	struct kr_err err;

	kr_err_clear(&err);
	if (kr_token_issue(key, user_id, 7, PWV, NOW, TTL, out, KR_TOKEN_SIZE,
			   claims_r, &err) < 0)
		fail_msg("issue: %s", err.msg);
	assert_int_equal(strlen(out), KR_TOKEN_LEN);
}

/* Expects verification of token (len bytes) at now to fail with why.
 * The claims are told for an expired token (now >= expires_at says
 * so) and left alone for every other failure. */
static void
verify_fails(const struct kr_token_key *key, const char *token, size_t len,
	     int64_t now, const char *why)
{
	struct kr_token_claims c, untouched;
	struct kr_err err;

	kr_err_clear(&err);
	memset(&c, 0xa5, sizeof(c));
	memcpy(&untouched, &c, sizeof(c));
	if (kr_token_verify(key, token, len, now, &c, &err) == 0)
		fail_msg("token of %zu bytes verified, wanted %s", len, why);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_string_equal(err.msg, why);
	if (strcmp(why, "expired") == 0) {
		assert_true(now >= c.expires_at);
		assert_int_equal(strlen(c.sid), 2 * KR_TOKEN_SID_BYTES);
	} else {
		assert_memory_equal(&c, &untouched, sizeof(c));
	}
}

static void
verify_ok(const struct kr_token_key *key, const char *token, int64_t now,
	  struct kr_token_claims *claims_r)
{
	struct kr_err err;

	kr_err_clear(&err);
	if (kr_token_verify(key, token, strlen(token), now, claims_r, &err) < 0)
		fail_msg("verify: %s", err.msg);
}

/* The test's own base64url, so hand-made tokens do not depend on the
 * code under test. */
static void
b64url(const unsigned char *in, size_t len, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);

	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (int i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

/* A token for payload signed with key's MAC key (or a wrong MAC). */
static void
make_token(const struct kr_token_key *key, const unsigned char *payload,
	   size_t len, bool bad_mac, char *out)
{
	unsigned char mac[32];
	unsigned int mac_len = 0;

	assert_non_null(HMAC(EVP_sha256(), key->mac_key, sizeof(key->mac_key),
			     payload, len, mac, &mac_len));
	if (bad_mac)
		mac[0] ^= 1;
	b64url(payload, len, out);
	len = strlen(out);
	out[len] = '.';
	b64url(mac, mac_len, out + len + 1);
}

static void
test_token_round_trip(void **state)
{
	struct kr_token_key key;
	struct kr_token_claims issued, got;
	char tok[KR_TOKEN_SIZE];

	(void)state;
	key_init(&key, SECRET_A);
	issue(&key, INT64_MAX, tok, &issued);
	verify_ok(&key, tok, NOW, &got);
	assert_int_equal(got.version, KR_TOKEN_VERSION);
	assert_true(got.user_id == INT64_MAX);
	assert_int_equal(got.shard, 7);
	assert_int_equal(got.password_version, PWV);
	assert_int_equal(got.issued_at, NOW);
	assert_int_equal(got.expires_at, NOW + TTL);
	assert_int_equal(strlen(got.sid), 32);
	assert_int_equal(strspn(got.sid, "0123456789abcdef"), 32);
	assert_false(got.previous_key);
	assert_memory_equal(&issued, &got, sizeof(got));

	/* Negative ids and the largest shard survive; NULL claims_r is fine
	 * and the token need not be NUL-terminated. */
	struct kr_err err;
	char buf[KR_TOKEN_SIZE + 8];
	assert_int_equal(kr_token_issue(&key, -5, UINT32_MAX, UINT32_MAX, NOW,
					1, buf, sizeof(buf), NULL, &err),
			 0);
	memcpy(buf + KR_TOKEN_LEN, "garbage", 8);
	assert_int_equal(
		kr_token_verify(&key, buf, KR_TOKEN_LEN, NOW, &got, &err), 0);
	assert_true(got.user_id == -5);
	assert_int_equal(got.shard, UINT32_MAX);
	assert_int_equal(got.password_version, UINT32_MAX);
	assert_int_equal(
		kr_token_verify(&key, buf, KR_TOKEN_LEN, NOW, NULL, &err), 0);
	kr_token_key_wipe(&key);
}

/* The payload is exactly what token.h documents, and the MAC is
 * HMAC-SHA256 over it with the derived key. */
static void
test_token_layout(void **state)
{
	struct kr_token_key key;
	struct kr_token_claims c;
	char tok[KR_TOKEN_SIZE], again[KR_TOKEN_SIZE + 4];
	unsigned char p[52], std[PAYLOAD_B64 + 2];
	/* version, user 0x1234, shard 7, issued 1700000000 = 0x6553f100,
	 * expires + 3600 = 0x6553ff10, all big-endian; after the sid, the
	 * password version. */
	static const unsigned char want[29] = {
		2,    0, 0, 0, 0, 0,	0,    0x12, 0x34, 0,
		0,    0, 7, 0, 0, 0,	0,    0x65, 0x53, 0xf1,
		0x00, 0, 0, 0, 0, 0x65, 0x53, 0xff, 0x10,
	};

	(void)state;
	key_init(&key, SECRET_A);
	issue(&key, 0x1234, tok, &c);
	assert_int_equal(tok[PAYLOAD_B64], '.');
	for (size_t i = 0; i < PAYLOAD_B64; i++)
		std[i] = tok[i] == '-' ? '+' : tok[i] == '_' ? '/' : tok[i];
	std[PAYLOAD_B64] = std[PAYLOAD_B64 + 1] = '=';
	/* 49 bytes and the 2 padding bytes EVP_DecodeBlock counts. */
	assert_int_equal(EVP_DecodeBlock(p, std, PAYLOAD_B64 + 2), 51);
	assert_memory_equal(p, want, sizeof(want));
	assert_memory_equal(p + 45, "\x01\x02\x03\x04", 4);
	for (size_t i = 0; i < 16; i++) {
		char hex[3];

		snprintf(hex, sizeof(hex), "%02x", p[29 + i]);
		assert_memory_equal(c.sid + 2 * i, hex, 2);
	}
	make_token(&key, p, 49, false, again);
	assert_string_equal(again, tok);
}

/* Changing any one character is caught: a payload or MAC character
 * gives "bad signature"; the MAC's last character carries 2 zero bits,
 * the payload's 4, so there we change only their upper bits. */
static void
test_token_tampered(void **state)
{
	struct kr_token_key key;
	char tok[KR_TOKEN_SIZE], bad[KR_TOKEN_SIZE];

	(void)state;
	key_init(&key, SECRET_A);
	issue(&key, 42, tok, NULL);
	for (size_t i = 0; i < KR_TOKEN_LEN; i++) {
		if (i == PAYLOAD_B64)
			continue;
		memcpy(bad, tok, sizeof(bad));
		if (i == KR_TOKEN_LEN - 1)
			bad[i] = bad[i] == 'A' ? 'E' : 'A';
		else if (i == PAYLOAD_B64 - 1) /* 4 zero bits: 49 bytes */
			bad[i] = bad[i] == 'A' ? 'Q' : 'A';
		else
			bad[i] = bad[i] == 'x' ? 'y' : 'x';
		verify_fails(&key, bad, KR_TOKEN_LEN, NOW, "bad signature");
	}
	/* Non-zero trailing bits: another spelling of the same MAC. */
	memcpy(bad, tok, sizeof(bad));
	bad[KR_TOKEN_LEN - 1] = bad[KR_TOKEN_LEN - 1] == 'B' ? 'C' : 'B';
	verify_fails(&key, bad, KR_TOKEN_LEN, NOW, "malformed");
}

static void
test_token_malformed_cases(void **state)
{
	struct kr_token_key key;
	char tok[KR_TOKEN_SIZE], buf[KR_TOKEN_SIZE + 8];
	struct kr_err err;
	static const struct {
		const char *what;
		size_t at; /* replace tok[at] with c; or insert when ins */
		char c;
		bool ins;
	} cases[] = {
		{ "dot in payload", 10, '.', false },
		{ "extra dot", KR_TOKEN_LEN, '.', true },
		{ "dot in mac", 80, '.', false },
		{ "leading dot", 0, '.', true },
		{ "plus", 5, '+', false },
		{ "slash", 70, '/', false },
		{ "padding", KR_TOKEN_LEN, '=', true },
		{ "space", 3, ' ', false },
		{ "newline", KR_TOKEN_LEN, '\n', true },
		{ "NUL", 20, '\0', false },
		{ "high byte", 30, (char)0xff, false },
		{ "no dot", PAYLOAD_B64, 'A', false },
		{ "extra char", KR_TOKEN_LEN, 'A', true },
	};

	(void)state;
	key_init(&key, SECRET_A);
	issue(&key, 42, tok, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t at = cases[i].at, len = KR_TOKEN_LEN;

		memcpy(buf, tok, KR_TOKEN_SIZE);
		if (cases[i].ins) {
			memmove(buf + at + 1, buf + at, KR_TOKEN_SIZE - at);
			len++;
		}
		buf[at] = cases[i].c;
		kr_err_clear(&err);
		if (kr_token_verify(&key, buf, len, NOW, NULL, &err) == 0)
			fail_msg("%s: verified", cases[i].what);
		assert_string_equal(err.msg, "malformed");
	}
	/* Every truncation, empty included. */
	for (size_t len = 0; len < KR_TOKEN_LEN; len++)
		verify_fails(&key, tok, len, NOW, "malformed");
	verify_fails(&key, ".", 1, NOW, "malformed");
	verify_fails(&key, "..", 2, NOW, "malformed");
	verify_fails(&key, NULL, 0, NOW, "malformed");
	verify_fails(&key, NULL, 10, NOW, "malformed");
}

/* Longest input decoded: KR_TOKEN_MAX_LEN. An authentic token of that
 * length with version 3 is decoded ("unknown version"); one byte more of
 * payload makes it too long ("malformed"), and so does a huge buffer. */
static void
test_token_max_len(void **state)
{
	struct kr_token_key key;
	unsigned char payload[160];
	char tok[KR_TOKEN_MAX_LEN + 8];
	size_t huge_len = 1 << 20;
	char *huge;

	(void)state;
	key_init(&key, SECRET_A);
	memset(payload, 0x5a, sizeof(payload));
	payload[0] = 3;
	make_token(&key, payload, 159, false, tok);
	assert_int_equal(strlen(tok), KR_TOKEN_MAX_LEN);
	verify_fails(&key, tok, strlen(tok), NOW, "unknown version");
	make_token(&key, payload, 160, false, tok);
	assert_int_equal(strlen(tok), KR_TOKEN_MAX_LEN + 2);
	verify_fails(&key, tok, strlen(tok), NOW, "malformed");

	/* Authentic versions 1 and 2 of any other size are malformed,
	 * the other version's size included. */
	payload[0] = 1;
	make_token(&key, payload, 44, false, tok);
	verify_fails(&key, tok, strlen(tok), NOW, "malformed");
	make_token(&key, payload, 49, false, tok);
	verify_fails(&key, tok, strlen(tok), NOW, "malformed");
	make_token(&key, payload, 1, false, tok);
	verify_fails(&key, tok, strlen(tok), NOW, "malformed");
	payload[0] = 2;
	make_token(&key, payload, 45, false, tok);
	verify_fails(&key, tok, strlen(tok), NOW, "malformed");
	make_token(&key, payload, 48, false, tok);
	verify_fails(&key, tok, strlen(tok), NOW, "malformed");
	make_token(&key, payload, 50, false, tok);
	verify_fails(&key, tok, strlen(tok), NOW, "malformed");

	huge = malloc(huge_len);
	assert_non_null(huge);
	memset(huge, 'A', huge_len);
	verify_fails(&key, huge, huge_len, NOW, "malformed");
	free(huge);
}

/* An unknown version is reported only for authentic tokens. */
static void
test_token_unknown_version(void **state)
{
	struct kr_token_key key;
	unsigned char p[49];
	char tok[KR_TOKEN_MAX_LEN + 1];

	(void)state;
	key_init(&key, SECRET_A);
	memset(p, 0, sizeof(p));
	p[0] = 3;
	p[21] = 0x7f; /* expires far in the future */
	make_token(&key, p, sizeof(p), false, tok);
	verify_fails(&key, tok, strlen(tok), NOW, "unknown version");
	make_token(&key, p, sizeof(p), true, tok);
	verify_fails(&key, tok, strlen(tok), NOW, "bad signature");
	p[0] = 0;
	make_token(&key, p, sizeof(p), false, tok);
	verify_fails(&key, tok, strlen(tok), NOW, "unknown version");
	p[0] = 2;
	make_token(&key, p, sizeof(p), false, tok);
	verify_ok(&key, tok, NOW, NULL);
	p[0] = 1;
	make_token(&key, p, 45, false, tok);
	verify_ok(&key, tok, NOW, NULL);
}

/* Tokens of kurier before password versions (version 1: 45 bytes, 104
 * characters) still verify, as password version 0, the version every
 * user starts at: they last until the user's next password change. */
static void
test_token_v1_is_password_version_0(void **state)
{
	struct kr_token_key key;
	struct kr_token_claims c;
	char tok[KR_TOKEN_MAX_LEN + 1];
	/* version 1, user 0x1234, shard 7, issued NOW, expires NOW + TTL,
	 * sid 0x11 0x22 ... */
	unsigned char p[45] = {
		1,    0, 0, 0, 0, 0,	0,    0x12, 0x34, 0,
		0,    0, 7, 0, 0, 0,	0,    0x65, 0x53, 0xf1,
		0x00, 0, 0, 0, 0, 0x65, 0x53, 0xff, 0x10,
	};

	(void)state;
	for (int i = 0; i < 16; i++)
		p[29 + i] = (unsigned char)(0x11 * (i + 1));
	key_init(&key, SECRET_A);
	make_token(&key, p, sizeof(p), false, tok);
	assert_int_equal(strlen(tok), KR_TOKEN_V1_LEN);
	verify_ok(&key, tok, NOW, &c);
	assert_int_equal(c.version, 1);
	assert_int_equal(c.user_id, 0x1234);
	assert_int_equal(c.shard, 7);
	assert_int_equal(c.password_version, 0);
	assert_int_equal(c.expires_at, NOW + TTL);
	assert_string_equal(c.sid, "112233445566778899aabbccddeeff10");
	verify_fails(&key, tok, strlen(tok), NOW + TTL, "expired");
	tok[3] = tok[3] == 'x' ? 'y' : 'x';
	verify_fails(&key, tok, strlen(tok), NOW, "bad signature");
}

/* Valid while now < expires_at; issued_at is not checked. */
static void
test_token_expiry_boundary(void **state)
{
	struct kr_token_key key;
	struct kr_token_claims c;
	char tok[KR_TOKEN_SIZE];

	(void)state;
	key_init(&key, SECRET_A);
	issue(&key, 1, tok, &c);
	verify_ok(&key, tok, NOW, NULL);
	verify_ok(&key, tok, 0, NULL);
	verify_ok(&key, tok, NOW + TTL - 1, NULL);
	verify_fails(&key, tok, KR_TOKEN_LEN, NOW + TTL, "expired");
	verify_fails(&key, tok, KR_TOKEN_LEN, NOW + TTL + 1, "expired");
	verify_fails(&key, tok, KR_TOKEN_LEN, INT64_MAX, "expired");
	/* Tampered and expired: the signature is what is reported. */
	tok[5] = tok[5] == 'x' ? 'y' : 'x';
	verify_fails(&key, tok, KR_TOKEN_LEN, NOW + TTL, "bad signature");
}

static void
test_token_wrong_key(void **state)
{
	struct kr_token_key a, b;
	char tok[KR_TOKEN_SIZE];
	struct kr_err err;
	/* Same secret but one byte: a different key. */
	char secret[] = SECRET_A;

	(void)state;
	key_init(&a, SECRET_A);
	key_init(&b, SECRET_B);
	issue(&a, 1, tok, NULL);
	verify_fails(&b, tok, KR_TOKEN_LEN, NOW, "bad signature");
	secret[0] ^= 1;
	key_init(&b, secret);
	verify_fails(&b, tok, KR_TOKEN_LEN, NOW, "bad signature");

	/* A wiped key signs and verifies nothing. */
	kr_token_key_wipe(&a);
	kr_err_clear(&err);
	assert_int_equal(
		kr_token_verify(&a, tok, KR_TOKEN_LEN, NOW, NULL, &err), -1);
	assert_int_equal(err.kind, KR_ERR_INTERNAL);
	assert_int_equal(kr_token_issue(&a, 1, 0, 0, NOW, TTL, tok, sizeof(tok),
					NULL, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_INTERNAL);
	assert_string_equal(tok, "");
}

static void
test_token_rotation(void **state)
{
	struct kr_token_keyring ring;
	struct kr_token_key old, cur, other;
	struct kr_token_claims c;
	struct kr_err err;
	char t_old[KR_TOKEN_SIZE], t_cur[KR_TOKEN_SIZE], t_other[KR_TOKEN_SIZE];

	(void)state;
	key_init(&old, SECRET_A);
	key_init(&cur, SECRET_B);
	key_init(&other, SECRET_C);
	issue(&old, 1, t_old, NULL);
	issue(&cur, 2, t_cur, NULL);
	issue(&other, 3, t_other, NULL);

	memset(&ring, 0, sizeof(ring));
	ring.current = cur;
	ring.previous = old;
	ring.has_previous = true;
	assert_int_equal(
		kr_token_verify_ring(&ring, t_cur, KR_TOKEN_LEN, NOW, &c, &err),
		0);
	assert_int_equal(c.user_id, 2);
	assert_false(c.previous_key);
	assert_int_equal(
		kr_token_verify_ring(&ring, t_old, KR_TOKEN_LEN, NOW, &c, &err),
		0);
	assert_int_equal(c.user_id, 1);
	assert_true(c.previous_key);
	assert_int_equal(kr_token_verify_ring(&ring, t_other, KR_TOKEN_LEN, NOW,
					      &c, &err),
			 -1);
	assert_string_equal(err.msg, "bad signature");
	/* Expiry still applies to the previous key's tokens. */
	assert_int_equal(kr_token_verify_ring(&ring, t_old, KR_TOKEN_LEN,
					      NOW + TTL, &c, &err),
			 -1);
	assert_string_equal(err.msg, "expired");

	/* Rotation finished: the old key's tokens stop working. */
	ring.has_previous = false;
	assert_int_equal(
		kr_token_verify_ring(&ring, t_old, KR_TOKEN_LEN, NOW, &c, &err),
		-1);
	assert_string_equal(err.msg, "bad signature");
	assert_int_equal(
		kr_token_verify_ring(&ring, t_cur, KR_TOKEN_LEN, NOW, &c, &err),
		0);
	kr_token_keyring_wipe(&ring);
	assert_false(ring.has_previous);
	assert_false(ring.current.ready);
}

static void
test_token_unique_sid(void **state)
{
	struct kr_token_key key;
	struct kr_token_claims c1, c2;
	char t1[KR_TOKEN_SIZE], t2[KR_TOKEN_SIZE];

	(void)state;
	key_init(&key, SECRET_A);
	issue(&key, 9, t1, &c1);
	issue(&key, 9, t2, &c2);
	assert_string_not_equal(t1, t2);
	assert_string_not_equal(c1.sid, c2.sid);
	assert_int_equal(c1.issued_at, c2.issued_at);
}

static void
test_token_secret_len_limits(void **state)
{
	static const struct {
		size_t len;
		int want;
	} cases[] = {
		{ 0, -1 },
		{ KR_TOKEN_SECRET_MIN - 1, -1 },
		{ KR_TOKEN_SECRET_MIN, 0 },
		{ KR_TOKEN_SECRET_MAX, 0 },
		{ KR_TOKEN_SECRET_MAX + 1, -1 },
	};
	char secret[KR_TOKEN_SECRET_MAX + 1];
	struct kr_token_key key;
	struct kr_err err;

	(void)state;
	memset(secret, 's', sizeof(secret));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kr_err_clear(&err);
		assert_int_equal(
			kr_token_key_init(&key, secret, cases[i].len, &err),
			cases[i].want);
		assert_int_equal(key.ready, cases[i].want == 0);
		if (cases[i].want < 0)
			assert_int_equal(err.kind, KR_ERR_LIMIT);
	}
}

static void
test_token_issue_limits(void **state)
{
	struct kr_token_key key;
	struct kr_err err;
	char out[KR_TOKEN_SIZE];
	static const struct {
		int64_t now, ttl;
		size_t out_size;
		int want;
		enum kr_err_kind kind;
	} cases[] = {
		{ NOW, TTL, KR_TOKEN_SIZE, 0, KR_ERR_NONE },
		{ NOW, TTL, KR_TOKEN_SIZE - 1, -1, KR_ERR_LIMIT },
		{ NOW, TTL, 0, -1, KR_ERR_LIMIT },
		{ NOW, 1, KR_TOKEN_SIZE, 0, KR_ERR_NONE },
		{ NOW, 0, KR_TOKEN_SIZE, -1, KR_ERR_PERMANENT },
		{ NOW, -1, KR_TOKEN_SIZE, -1, KR_ERR_PERMANENT },
		{ NOW, INT64_MAX - NOW, KR_TOKEN_SIZE, 0, KR_ERR_NONE },
		{ NOW, INT64_MAX - NOW + 1, KR_TOKEN_SIZE, -1,
		  KR_ERR_PERMANENT },
	};

	(void)state;
	key_init(&key, SECRET_A);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		kr_err_clear(&err);
		assert_int_equal(kr_token_issue(&key, 1, 0, 0, cases[i].now,
						cases[i].ttl, out,
						cases[i].out_size, NULL, &err),
				 cases[i].want);
		assert_int_equal(err.kind, cases[i].kind);
		if (cases[i].want == 0)
			verify_ok(&key, out, cases[i].now, NULL);
		else if (cases[i].out_size > 0)
			assert_string_equal(out, "");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_round_trip),
		cmocka_unit_test(test_token_layout),
		cmocka_unit_test(test_token_tampered),
		cmocka_unit_test(test_token_malformed_cases),
		cmocka_unit_test(test_token_max_len),
		cmocka_unit_test(test_token_unknown_version),
		cmocka_unit_test(test_token_v1_is_password_version_0),
		cmocka_unit_test(test_token_expiry_boundary),
		cmocka_unit_test(test_token_wrong_key),
		cmocka_unit_test(test_token_rotation),
		cmocka_unit_test(test_token_unique_sid),
		cmocka_unit_test(test_token_secret_len_limits),
		cmocka_unit_test(test_token_issue_limits),
	};

	return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
