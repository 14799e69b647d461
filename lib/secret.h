/* Secrets: constant-time comparison and random tokens. Any thread. */
#ifndef KR_SECRET_H
#define KR_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

/* True when both byte strings are equal. Time depends only on the
 * lengths, never on where the first difference is. */
bool kr_secret_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* Fills buf with n bytes of kernel randomness (getrandom(2), retried
 * on EINTR and short reads). -1 + err_r (KR_ERR_INTERNAL) when the
 * kernel refuses; buf is then partly filled and must not be used. The
 * one place kurier asks the kernel for random bytes. */
int kr_secret_random(void *buf, size_t n, struct kr_err *err_r);

/* Fills hex_r with 2 * n_bytes lowercase hex digits of kernel randomness
 * and a NUL; hex_size must be at least 2 * n_bytes + 1. */
int kr_secret_random_hex(char *hex_r, size_t hex_size, size_t n_bytes,
			 struct kr_err *err_r);

#endif
