/* Secrets. */
#include "lib/secret.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

bool
kr_secret_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
	const unsigned char *pa = a, *pb = b;
	unsigned char diff = 0;

	/* Compare against the shorter side's bytes but fold the length
	 * difference in, so a prefix never matches. */
	size_t n = a_len < b_len ? a_len : b_len;

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(pa[i] ^ pb[i]);
	return diff == 0 && a_len == b_len;
}

int
kr_secret_random(void *buf, size_t n, struct kr_err *err_r)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		/* 0 cannot happen for n > 0; refuse rather than spin. */
		if (got <= 0)
			return kr_err_set(
				err_r, KR_ERR_INTERNAL, "getrandom: %s",
				got < 0 ? strerror(errno) : "no bytes");
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int
kr_secret_random_hex(char *hex_r, size_t hex_size, size_t n_bytes,
		     struct kr_err *err_r)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[128];

	if (n_bytes > sizeof(raw) || hex_size < 2 * n_bytes + 1)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "secret: %zu random bytes do not fit",
				  n_bytes);
	if (kr_secret_random(raw, n_bytes, err_r) < 0) {
		explicit_bzero(raw, sizeof(raw));
		return -1;
	}
	for (size_t i = 0; i < n_bytes; i++) {
		hex_r[2 * i] = digits[raw[i] >> 4];
		hex_r[2 * i + 1] = digits[raw[i] & 0x0f];
	}
	hex_r[2 * n_bytes] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}
