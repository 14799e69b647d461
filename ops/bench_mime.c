/* bench/mime: kr_mime_parse with the antispam view (limits.spam_text)
 * over the messages of a directory, on one thread: what the host pays
 * per message before any filter module runs. ops/bench_antispam.sh
 * puts it beside the rule engine's figure, since rspamd and
 * SpamAssassin parse MIME inside theirs.
 *
 *   bench/mime --seconds N --dir MSGDIR
 *
 * Prints "mime: N msgs/s" (the median of 5 rounds) with min and max. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/arena.h"
#include "ops/bench_util.h"
#include "proto/mime.h"

#define MIME_BENCH_ROUNDS 5
#define MIME_BENCH_FILES_MAX 10000
#define MIME_BENCH_FILE_MAX (1u << 20)

static void
mime_bench_usage(void)
{
	fprintf(stderr, "usage: bench/mime --seconds N --dir MSGDIR\n");
}

/* One message as the host parses it; the arena is reset, not freed. */
static void
mime_bench_one(struct kr_arena *a, const struct kr_mime_limits *lim,
	       const struct bench_corpus_msg *m)
{
	struct kr_mime_summary *sum;
	struct kr_err err = { 0 };

	if (kr_mime_parse(m->raw, m->len, lim, a, &sum, &err) < 0 ||
	    sum->spam == NULL) {
		fprintf(stderr, "bench/mime: parse failed: %s\n", err.msg);
		exit(1);
	}
	kr_arena_reset(a);
}

int
main(int argc, char **argv)
{
	static struct bench_corpus_msg msgs[MIME_BENCH_FILES_MAX];
	double rates[MIME_BENCH_ROUNDS], seconds = 0;
	const char *dir = NULL;
	struct kr_mime_limits lim;
	struct kr_arena *a;
	size_t n;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--seconds") == 0)
			seconds = (double)bench_util_num(argv[i + 1], 1, 3600,
							 mime_bench_usage);
		else if (strcmp(argv[i], "--dir") == 0)
			dir = argv[i + 1];
	}
	if (dir == NULL || seconds == 0 || argc % 2 == 0) {
		mime_bench_usage();
		return 2;
	}
	n = bench_util_corpus("bench/mime", dir, msgs, MIME_BENCH_FILES_MAX,
			      MIME_BENCH_FILE_MAX);
	if (n == 0) {
		fprintf(stderr, "bench/mime: no messages in %s\n", dir);
		return 1;
	}
	kr_mime_init();
	kr_mime_limits_init(&lim);
	lim.spam_text = true;
	a = kr_arena_create(64 << 10, 0, false);
	for (size_t i = 0; i < n; i++) /* warm-up */
		mime_bench_one(a, &lim, &msgs[i]);
	for (int r = 0; r < MIME_BENCH_ROUNDS; r++) {
		double t0 = bench_util_now(), t;
		size_t done = 0;

		do {
			for (size_t k = 0; k < 64; k++)
				mime_bench_one(a, &lim, &msgs[done++ % n]);
			t = bench_util_now();
		} while (t - t0 < seconds / MIME_BENCH_ROUNDS);
		rates[r] = (double)done / (t - t0);
		printf("round %d: %.0f msgs/s\n", r + 1, rates[r]);
	}
	qsort(rates, MIME_BENCH_ROUNDS, sizeof(*rates), bench_util_cmp_double);
	printf("mime: %.0f msgs/s (min %.0f median %.0f max %.0f over %d "
	       "rounds of %zu messages, one core)\n",
	       rates[MIME_BENCH_ROUNDS / 2], rates[0],
	       rates[MIME_BENCH_ROUNDS / 2], rates[MIME_BENCH_ROUNDS - 1],
	       MIME_BENCH_ROUNDS, n);
	kr_arena_destroy(&a);
	for (size_t i = 0; i < n; i++)
		free(msgs[i].raw);
	kr_mime_shutdown();
	return 0;
}
