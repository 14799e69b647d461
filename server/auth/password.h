/* Password hashes: new ones are Argon2id; stored ones may also be
 * SHA512-CRYPT or BLF-CRYPT (bcrypt) hashes imported from other mail
 * servers, in Dovecot's "{SCHEME}hash" notation (SPEC.md §6).
 * Both calls BLOCK for tens to hundreds of milliseconds and allocate
 * up to 64 MiB (Argon2's memory cost): in the daemon they run on the
 * io pool, never on a worker's loop. Thread-safe; no shared state. */
#ifndef KR_PASSWORD_H
#define KR_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/limits.h"

/* Enough for every hash kr_password_hash() writes, NUL included. */
#define KR_PASSWORD_HASH_SIZE 128

/* Writes "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$<salt>$<hash>" for
 * password (NUL-terminated, at most KR_PASSWORD_MAX bytes) with a fresh
 * random salt into out. -1 + err_r: KR_ERR_LIMIT for a password too
 * long or out_size below what is needed, KR_ERR_INTERNAL when the
 * kernel's randomness or libargon2 fails. */
int kr_password_hash(const char *password, char *out, size_t out_size,
		     struct kr_err *err_r);

/* Checks password against a stored hash: "{ARGON2ID}$argon2id$...",
 * a bare "$argon2id$...", "{SHA512-CRYPT}$6$..." or
 * "{BLF-CRYPT}$2y$..." / "$2b$..." (scheme names in any case). The
 * final comparison takes constant time. 0 with *ok_r telling whether
 * it matched; -1 + err_r (KR_ERR_PERMANENT) when the stored hash has
 * an unknown scheme, is malformed, or asks for more work than we allow
 * (a hostile import must not stall logins), KR_ERR_LIMIT for a
 * password longer than KR_PASSWORD_MAX. */
int kr_password_verify(const char *password, const char *stored, bool *ok_r,
		       struct kr_err *err_r);

/* True when stored names a scheme kr_password_verify() accepts, with
 * parameters it allows; cheap (no hashing). For importers. */
bool kr_password_stored_ok(const char *stored, struct kr_err *err_r);

#endif
