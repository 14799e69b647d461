/* What the load generators (ops/bench_*.c) share: a number argument
 * checked against its range, and latency samples sorted and read as
 * percentiles. static inline, like ops/bench_msg.h; any thread. */
#ifndef KR_BENCH_UTIL_H
#define KR_BENCH_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* s as a decimal in [lo, hi]; anything else calls usage, which exits. */
static inline unsigned long long
bench_util_num(const char *s, unsigned long long lo, unsigned long long hi,
	       void (*usage)(void))
{
	if (s[0] >= '0' && s[0] <= '9') {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno == 0 && *end == '\0' && v >= lo && v <= hi)
			return v;
	}
	usage();
	exit(2);
}

/* qsort's order of int64_t samples, smallest first. */
static inline int
bench_util_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank of n sorted samples in microseconds, in milliseconds. */
static inline double
bench_util_pct(const int64_t *v, size_t n, unsigned pct)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (n * pct + 99) / 100;
	return (double)v[(k == 0 ? 1 : k) - 1] / 1000.0;
}

#endif
