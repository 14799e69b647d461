/* Password hashing with libargon2 and checking of imported crypt(3)
 * hashes with libxcrypt's crypt_r. */
#include "server/auth/password.h"

#include <argon2.h>
#include <crypt.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/secret.h"

/* Argon2id costs for new hashes: the "second recommended option" of
 * RFC 9106 §4 (t=3, m=64 MiB, p=1), which keeps one login near 0.1 s
 * on one core and lets the io pool's few threads hash concurrently
 * without exhausting memory. They live here, not in lib/limits.h,
 * because they are not a tunable limit: every stored hash records its
 * own costs, so changing them only affects new passwords. */
#define PASSWORD_ARGON2_T 3
#define PASSWORD_ARGON2_M_KIB 65536
#define PASSWORD_ARGON2_P 1
#define PASSWORD_SALT_LEN 16
#define PASSWORD_HASH_LEN 32

/* The most work a stored hash may ask for. Imports come from other
 * servers; a hash claiming 4 GiB or a billion rounds would otherwise
 * let one login stall or kill a worker. Generous for honest hashes. */
#define PASSWORD_ARGON2_M_KIB_MAX (256 * 1024)
#define PASSWORD_ARGON2_T_MAX 16
#define PASSWORD_ARGON2_P_MAX 16
#define PASSWORD_SHA512_ROUNDS_MAX 1000000
#define PASSWORD_BCRYPT_COST_MAX 14

#define PASSWORD_ARGON2_PREFIX "$argon2id$"

_Static_assert(KR_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
	       "crypt_r refuses passwords of KR_PASSWORD_MAX bytes");

enum password_kind {
	PASSWORD_ARGON2ID,
	PASSWORD_SHA512_CRYPT,
	PASSWORD_BLF_CRYPT,
};

static const struct {
	const char *scheme; /* Dovecot's name, braces included */
	enum password_kind kind;
} password_schemes[] = {
	{ "{ARGON2ID}", PASSWORD_ARGON2ID },
	{ "{SHA512-CRYPT}", PASSWORD_SHA512_CRYPT },
	{ "{BLF-CRYPT}", PASSWORD_BLF_CRYPT },
};

/* "N" at *s up to a non-digit, at most max; advances *s. */
static int
password_number(const char **s, uint64_t max, uint64_t *n_r)
{
	uint64_t n = 0;
	const char *p = *s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > max)
			return -1;
	}
	*s = p;
	*n_r = n;
	return 0;
}

static int
password_expect(const char **s, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*s, lit, n) != 0)
		return -1;
	*s += n;
	return 0;
}

/* "$argon2id$v=19$m=M,t=T,p=P$..." within our caps; libargon2 checks
 * the salt and hash that follow. */
static int
password_argon2_ok(const char *h)
{
	uint64_t m, t, p;

	if (password_expect(&h, PASSWORD_ARGON2_PREFIX "v=19$m=") < 0 ||
	    password_number(&h, PASSWORD_ARGON2_M_KIB_MAX, &m) < 0 ||
	    password_expect(&h, ",t=") < 0 ||
	    password_number(&h, PASSWORD_ARGON2_T_MAX, &t) < 0 ||
	    password_expect(&h, ",p=") < 0 ||
	    password_number(&h, PASSWORD_ARGON2_P_MAX, &p) < 0 || *h != '$')
		return -1;
	return m > 0 && t > 0 && p > 0 ? 0 : -1;
}

/* "$6$[rounds=N$]salt$hash" or "$2y$NN$..." / "$2b$NN$...". */
static int
password_crypt_ok(enum password_kind kind, const char *h)
{
	uint64_t n;

	if (kind == PASSWORD_SHA512_CRYPT) {
		if (password_expect(&h, "$6$") < 0)
			return -1;
		if (password_expect(&h, "rounds=") == 0 &&
		    (password_number(&h, PASSWORD_SHA512_ROUNDS_MAX, &n) < 0 ||
		     *h != '$'))
			return -1;
		return 0;
	}
	if (password_expect(&h, "$2y$") < 0 && password_expect(&h, "$2b$") < 0)
		return -1;
	if (!isdigit((unsigned char)h[0]) || !isdigit((unsigned char)h[1]) ||
	    h[2] != '$')
		return -1;
	n = (uint64_t)(h[0] - '0') * 10 + (uint64_t)(h[1] - '0');
	return n <= PASSWORD_BCRYPT_COST_MAX ? 0 : -1;
}

static const char *
password_kind_name(enum password_kind kind)
{
	switch (kind) {
	case PASSWORD_ARGON2ID:
		return "ARGON2ID";
	case PASSWORD_SHA512_CRYPT:
		return "SHA512-CRYPT";
	case PASSWORD_BLF_CRYPT:
		return "BLF-CRYPT";
	}
	return "?";
}

/* The "{SCHEME}" at the start of stored (n bytes, braces included). */
static int
password_scheme(const char *stored, size_t n, enum password_kind *kind_r,
		struct kr_err *err_r)
{
	static const char name_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "abcdefghijklmnopqrstuvwxyz"
					 "0123456789-._";

	for (size_t i = 0;
	     i < sizeof(password_schemes) / sizeof(password_schemes[0]); i++) {
		if (n == strlen(password_schemes[i].scheme) &&
		    strncasecmp(stored, password_schemes[i].scheme, n) == 0) {
			*kind_r = password_schemes[i].kind;
			return 0;
		}
	}
	/* Echo the name only when it is short and plain. */
	if (n < 3 || n > 32 || strspn(stored + 1, name_chars) != n - 2)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "unknown password scheme");
	return kr_err_set(err_r, KR_ERR_PERMANENT,
			  "unknown password scheme %.*s", (int)n, stored);
}

/* Splits stored into its kind and the hash proper; -1 + err_r for an
 * unknown scheme or a hash its scheme does not allow. */
static int
password_parse(const char *stored, enum password_kind *kind_r,
	       const char **hash_r, struct kr_err *err_r)
{
	const char *end;
	int bad;

	if (strlen(stored) > KR_PASSWORD_HASH_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "password hash too long (max %d bytes)",
				  KR_PASSWORD_HASH_MAX);
	if (stored[0] == '{') {
		end = strchr(stored, '}');
		if (end == NULL)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "unknown password scheme");
		if (password_scheme(stored, (size_t)(end - stored) + 1, kind_r,
				    err_r) < 0)
			return -1;
		*hash_r = end + 1;
	} else if (strncmp(stored, PASSWORD_ARGON2_PREFIX,
			   strlen(PASSWORD_ARGON2_PREFIX)) == 0) {
		*kind_r = PASSWORD_ARGON2ID;
		*hash_r = stored;
	} else {
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "password hash without {SCHEME}");
	}
	bad = *kind_r == PASSWORD_ARGON2ID
		      ? password_argon2_ok(*hash_r)
		      : password_crypt_ok(*kind_r, *hash_r);
	if (bad < 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "malformed or too costly %s password hash",
				  password_kind_name(*kind_r));
	return 0;
}

bool
kr_password_stored_ok(const char *stored, struct kr_err *err_r)
{
	enum password_kind kind;
	const char *hash;

	return password_parse(stored, &kind, &hash, err_r) == 0;
}

int
kr_password_hash(const char *password, char *out, size_t out_size,
		 struct kr_err *err_r)
{
	unsigned char salt[PASSWORD_SALT_LEN];
	char enc[KR_PASSWORD_HASH_SIZE];
	size_t len = strlen(password), need;
	int ret;

	if (len > KR_PASSWORD_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "password too long (max %d bytes)",
				  KR_PASSWORD_MAX);
	need = argon2_encodedlen(PASSWORD_ARGON2_T, PASSWORD_ARGON2_M_KIB,
				 PASSWORD_ARGON2_P, PASSWORD_SALT_LEN,
				 PASSWORD_HASH_LEN, Argon2_id);
	kr_assert(need <= sizeof(enc));
	if (out_size < strlen("{ARGON2ID}") + need)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "password hash buffer too small");
	if (kr_secret_random(salt, sizeof(salt), err_r) < 0)
		return -1;
	ret = argon2id_hash_encoded(PASSWORD_ARGON2_T, PASSWORD_ARGON2_M_KIB,
				    PASSWORD_ARGON2_P, password, len, salt,
				    sizeof(salt), PASSWORD_HASH_LEN, enc,
				    sizeof(enc));
	if (ret != ARGON2_OK)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "argon2id: %s",
				  argon2_error_message(ret));
	snprintf(out, out_size, "{ARGON2ID}%s", enc);
	return 0;
}

/* libxcrypt's crypt_r computes the hash with the stored salt and
 * costs; the comparison is ours, in constant time. */
static int
password_verify_crypt(const char *password, const char *hash, bool *ok_r,
		      struct kr_err *err_r)
{
	struct crypt_data *cd = kr_xcalloc(1, sizeof(*cd));
	const char *res = crypt_r(password, hash, cd);
	int ret = 0;

	if (res == NULL || res[0] != '$')
		ret = kr_err_set(err_r, KR_ERR_PERMANENT,
				 "malformed crypt password hash");
	else
		*ok_r = kr_secret_equal(res, strlen(res), hash, strlen(hash));
	/* The work area holds state derived from the password. */
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ret;
}

int
kr_password_verify(const char *password, const char *stored, bool *ok_r,
		   struct kr_err *err_r)
{
	enum password_kind kind;
	const char *hash;
	size_t len = strlen(password);
	int ret;

	*ok_r = false;
	if (len > KR_PASSWORD_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "password too long (max %d bytes)",
				  KR_PASSWORD_MAX);
	if (password_parse(stored, &kind, &hash, err_r) < 0)
		return -1;
	if (kind != PASSWORD_ARGON2ID)
		return password_verify_crypt(password, hash, ok_r, err_r);
	/* argon2id_verify recomputes the hash with the stored salt and
	 * costs and compares all bytes in constant time itself
	 * (argon2_compare). */
	ret = argon2id_verify(hash, password, len);
	if (ret == ARGON2_OK || ret == ARGON2_VERIFY_MISMATCH) {
		*ok_r = ret == ARGON2_OK;
		return 0;
	}
	return kr_err_set(err_r, KR_ERR_PERMANENT,
			  "malformed ARGON2ID password hash: %s",
			  argon2_error_message(ret));
}
