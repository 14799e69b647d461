/* cmocka tests for server/password: Argon2id round trips, hashes made
 * by other implementations (the Argon2 reference test vector, openssl
 * passwd -6, libxcrypt via Python's crypt for SHA512-CRYPT and
 * bcrypt), unknown schemes, tampered and too costly hashes, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "server/auth/password.h"

#define PW "correct horse"

/* Argon2 reference implementation, src/test.c (argon2id, v=19). */
#define ARGON2_REF                                    \
	"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$" \
	"CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
/* openssl passwd -6 -salt kurierSalt123 'correct horse' */
#define SHA512_OPENSSL                                                       \
	"$6$kurierSalt123$vTUcnJtZfQeXH/tRDT9tgOA4gfVVgsUTQNZjqf6CwOWkn0jbd" \
	"wjI0RnlO.JXb/31o9mFnCev2ivXcdHuLjheL."
/* python3 crypt.crypt('correct horse', '$6$rounds=10000$saltysalt') */
#define SHA512_ROUNDS                                                        \
	"$6$rounds=10000$saltysalt$oZCFeLTJ7zdjDMeH0aahkxIsycAsYeCNlLzdEQ2y" \
	"wU8MteA1LpNxCh38PJZ0E7kx6Kb5fCRy1wHDotOX6SjXj."
/* python3 crypt.crypt('correct horse', '$2b$05$abcdefghijklmnopqrstuu') */
#define BLF_2B "$2b$05$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2"
#define BLF_2Y "$2y$05$ABCDEFGHIJKLMNOPQRSTUuoRzMfTz14Et2G0HCoDlm3q91eDCVDS2"

/* Verifies and returns the verdict; fails the test on an error. */
static bool
verify(const char *password, const char *stored)
{
	struct kr_err err;
	bool ok = true;

	kr_err_clear(&err);
	if (kr_password_verify(password, stored, &ok, &err) < 0)
		fail_msg("verify '%s': %s", stored, err.msg);
	return ok;
}

/* Expects an error whose message contains want. */
static void
verify_fails(const char *password, const char *stored, enum kr_err_kind kind,
	     const char *want)
{
	struct kr_err err;
	bool ok = true;

	kr_err_clear(&err);
	if (kr_password_verify(password, stored, &ok, &err) == 0)
		fail_msg("'%s' verified (ok=%d)", stored, ok);
	assert_false(ok);
	assert_int_equal(err.kind, kind);
	if (strstr(err.msg, want) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", stored, err.msg,
			 want);
}

static void
test_password_round_trip(void **state)
{
	char a[KR_PASSWORD_HASH_SIZE], b[KR_PASSWORD_HASH_SIZE];
	struct kr_err err;

	(void)state;
	assert_int_equal(kr_password_hash(PW, a, sizeof(a), &err), 0);
	assert_int_equal(kr_password_hash(PW, b, sizeof(b), &err), 0);
	assert_int_equal(
		strncmp(a, "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$", 41), 0);
	/* A fresh salt each time. */
	assert_string_not_equal(a, b);
	assert_true(verify(PW, a));
	assert_false(verify("correct horsE", a));
	assert_false(verify("", a));
	/* The bare form (no {ARGON2ID}) is accepted too. */
	assert_true(verify(PW, b + strlen("{ARGON2ID}")));
	/* Scheme names are case-insensitive, as in Dovecot. */
	memcpy(b, "{argon2id}", strlen("{argon2id}"));
	assert_true(verify(PW, b));
}

static void
test_password_known_vectors(void **state)
{
	static const char *const good[] = {
		ARGON2_REF,
		"{ARGON2ID}" ARGON2_REF,
		"{SHA512-CRYPT}" SHA512_OPENSSL,
		"{SHA512-CRYPT}" SHA512_ROUNDS,
		"{sha512-crypt}" SHA512_OPENSSL,
		"{BLF-CRYPT}" BLF_2B,
		"{BLF-CRYPT}" BLF_2Y,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *pw = i < 2 ? "password" : PW;

		if (!verify(pw, good[i]))
			fail_msg("'%s' did not verify", good[i]);
		if (verify("wrong", good[i]))
			fail_msg("'%s' took a wrong password", good[i]);
		assert_true(kr_password_stored_ok(good[i], NULL));
	}
}

static void
test_password_unknown_scheme(void **state)
{
	static const struct {
		const char *stored, *want;
	} cases[] = {
		{ "{PLAIN}" PW, "unknown password scheme {PLAIN}" },
		{ "{SSHA}abcd", "unknown password scheme {SSHA}" },
		{ "{MD5-CRYPT}$1$salt$hash", "unknown password scheme" },
		{ "{ARGON2I}$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$x",
		  "unknown password scheme {ARGON2I}" },
		{ "{SHA512-CRYPT", "unknown password scheme" },
		{ "{}$6$a$b", "unknown password scheme" },
		{ "{EVIL\n}x", "unknown password scheme" },
		{ SHA512_OPENSSL, "without {SCHEME}" },
		{ BLF_2Y, "without {SCHEME}" },
		{ PW, "without {SCHEME}" },
		{ "", "without {SCHEME}" },
		/* The scheme must match the hash it labels. */
		{ "{SHA512-CRYPT}" BLF_2Y, "malformed" },
		{ "{BLF-CRYPT}" SHA512_OPENSSL, "malformed" },
		{ "{ARGON2ID}" SHA512_OPENSSL, "malformed" },
		{ "{BLF-CRYPT}$2a$05$"
		  "ABCDEFGHIJKLMNOPQRSTUuoRzMfTz14Et2G0HCoDlm3"
		  "q91eDCVDS2",
		  "malformed" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		verify_fails(PW, cases[i].stored, KR_ERR_PERMANENT,
			     cases[i].want);
		assert_false(kr_password_stored_ok(cases[i].stored, NULL));
	}
	/* A control byte in the name is never echoed. */
	{
		struct kr_err err;
		bool ok;

		assert_int_equal(kr_password_verify(PW, "{EVIL\n}x", &ok, &err),
				 -1);
		assert_null(strchr(err.msg, '\n'));
	}
}

/* A changed byte anywhere gives "no match" or an error, never a
 * match; hashes asking for too much work are refused unhashed. */
static void
test_password_tampered(void **state)
{
	static const char *const costly[] = {
		"$argon2id$v=19$m=262145,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6"
		"Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=65536,t=17,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6"
		"Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=65536,t=2,p=17$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6"
		"Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=99999999999999999999999,t=2,p=1$c29tZXNhbHQ$"
		"CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=16$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6"
		"Mm5c8y7cJHAph8ArZWb2GRPPc",
		"{SHA512-CRYPT}$6$rounds=1000001$saltysalt$"
		"oZCFeLTJ7zdjDMeH0aahk"
		"xIsycAsYeCNlLzdEQ2ywU8MteA1LpNxCh38PJZ0E7kx6Kb5fCRy1wHDotOX6Sj"
		"Xj.",
		"{BLF-CRYPT}$2y$15$"
		"ABCDEFGHIJKLMNOPQRSTUuoRzMfTz14Et2G0HCoDlm3q91"
		"eDCVDS2",
	};
	char h[] = ARGON2_REF, s[] = "{SHA512-CRYPT}" SHA512_OPENSSL,
	     b[] = "{BLF-CRYPT}" BLF_2Y;

	(void)state;
	h[strlen(h) - 5] ^= 1; /* in the hash */
	assert_false(verify("password", h));
	memcpy(h, ARGON2_REF, sizeof(h));
	h[strlen("$argon2id$v=19$m=65536,t=2,p=1$c2")] = 'X'; /* salt */
	assert_false(verify("password", h));
	memcpy(h, ARGON2_REF, sizeof(h));
	h[strlen(h) - 10] = '\0'; /* a shorter hash */
	verify_fails("password", h, KR_ERR_PERMANENT, "malformed ARGON2ID");
	s[strlen(s) - 3] = 'A';
	assert_false(verify(PW, s));
	b[strlen(b) - 1] = '3';
	assert_false(verify(PW, b));
	for (size_t i = 0; i < sizeof(costly) / sizeof(costly[0]); i++)
		verify_fails("password", costly[i], KR_ERR_PERMANENT,
			     "malformed or too costly");
}

/* KR_PASSWORD_MAX bytes pass, one more fails; the same for stored
 * hashes (KR_PASSWORD_HASH_MAX) and the output buffer. */
static void
test_password_limits(void **state)
{
	char *pw = malloc(KR_PASSWORD_MAX + 2);
	char *stored = malloc(KR_PASSWORD_HASH_MAX + 2);
	char out[KR_PASSWORD_HASH_SIZE];
	struct kr_err err;
	size_t len;
	bool ok;

	(void)state;
	assert_non_null(pw);
	assert_non_null(stored);
	memset(pw, 'p', KR_PASSWORD_MAX + 1);
	pw[KR_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(kr_password_hash(pw, out, sizeof(out), &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	verify_fails(pw, "{SHA512-CRYPT}" SHA512_OPENSSL, KR_ERR_LIMIT,
		     "password too long");
	pw[KR_PASSWORD_MAX] = '\0';
	assert_false(verify(pw, "{SHA512-CRYPT}" SHA512_OPENSSL));
	assert_int_equal(kr_password_hash(pw, out, sizeof(out), &err), 0);
	assert_true(verify(pw, out));
	/* The output buffer: exactly the hash and its NUL, or too small. */
	len = strlen(out);
	assert_int_equal(kr_password_hash(PW, out, len + 1, &err), 0);
	assert_int_equal(strlen(out), len);
	assert_int_equal(kr_password_hash(PW, out, len, &err), -1);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	/* A stored hash of KR_PASSWORD_HASH_MAX bytes is looked at, one
	 * more byte is refused before any parsing. */
	memset(stored, 'x', KR_PASSWORD_HASH_MAX + 1);
	memcpy(stored, "{SHA512-CRYPT}$6$", 17);
	stored[KR_PASSWORD_HASH_MAX] = '\0';
	assert_int_equal(kr_password_verify(PW, stored, &ok, &err), 0);
	assert_false(ok);
	stored[KR_PASSWORD_HASH_MAX] = 'x';
	stored[KR_PASSWORD_HASH_MAX + 1] = '\0';
	verify_fails(PW, stored, KR_ERR_PERMANENT, "password hash too long");
	free(pw);
	free(stored);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_round_trip),
		cmocka_unit_test(test_password_known_vectors),
		cmocka_unit_test(test_password_unknown_scheme),
		cmocka_unit_test(test_password_tampered),
		cmocka_unit_test(test_password_limits),
	};

	return cmocka_run_group_tests_name("password", tests, NULL, NULL);
}
