/* What the load generators (ops/bench_*.c) share: a number argument
 * checked against its range, latency samples sorted and read as
 * percentiles, the monotonic clock in seconds, and the message corpus
 * of the antispam benches (a directory's files, each read whole).
 * static inline, like ops/bench_msg.h; any thread. */
#ifndef KR_BENCH_UTIL_H
#define KR_BENCH_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"

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

/* qsort's order of doubles, smallest first. */
static inline int
bench_util_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The monotonic clock, in seconds. */
static inline double
bench_util_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench_corpus_msg {
	char *raw; /* NUL-terminated */
	size_t len;
};

/* At most max files of at most file_max bytes (longer ones are cut)
 * into msgs; files starting with '.' and unreadable ones are skipped,
 * an unreadable dir ends the program (prog names it). */
static inline size_t
bench_util_corpus(const char *prog, const char *dir,
		  struct bench_corpus_msg *msgs, size_t max, size_t file_max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	char path[4096];

	if (d == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
		exit(1);
	}
	while (n < max && (de = readdir(d)) != NULL) {
		FILE *fp;
		int k;

		if (de->d_name[0] == '.')
			continue;
		k = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (k < 0 || (size_t)k >= sizeof(path) ||
		    (fp = fopen(path, "rb")) == NULL)
			continue;
		msgs[n].raw = kr_xmalloc(file_max + 1);
		msgs[n].len = fread(msgs[n].raw, 1, file_max, fp);
		msgs[n].raw[msgs[n].len] = '\0';
		fclose(fp);
		if (msgs[n].len > 0)
			n++;
		else
			free(msgs[n].raw);
	}
	closedir(d);
	return n;
}

#endif
