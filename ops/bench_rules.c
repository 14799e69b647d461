/* bench/rules: the rules module's engine on one core. Loads the rules
 * once (the stock SpamAssassin set unless --rules), then scans ~4 KiB
 * messages for --seconds in 5 rounds and prints msgs/s per round and
 * "rules: N msgs/s" (the median) with min/median/max.
 *
 *   bench/rules [--seconds N] [--rules GLOB] [--dir MSGDIR] [--no-cache]
 *
 * The matcher comes from the cache of kr_rules_cache_dir when an earlier
 * run left it (--no-cache: always compiled).
 *
 * Messages are generated deterministically (headers, a text body of
 * everyday words, some with URIs, some with spam phrases) or read from
 * the files of --dir (raw RFC 5322 messages, at most BENCH_FILES_MAX
 * of at most BENCH_FILE_MAX bytes).
 *
 * The text the rules see is what the host gives the module: the
 * delivery's MIME parse with the antispam view (kr_mime_parse,
 * limits.spam_text), made once per message before the timed rounds. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "antispam/modules/rules/rules.h"
#include "lib/arena.h"
#include "ops/bench_util.h"
#include "proto/mime.h"

#define BENCH_MSGS 512
#define BENCH_MSG_BYTES 4096
#define BENCH_ROUNDS 5
#define BENCH_FILES_MAX 10000
#define BENCH_FILE_MAX (1u << 20)

struct bench_msg {
	struct bench_corpus_msg m;
	struct kr_arena *arena; /* holds text */
	const struct kr_mime_spam_text *text;
};

static const char *const bench_words[] = {
	"the",	  "of",	     "and",	 "to",	     "in",	"is",
	"you",	  "that",    "it",	 "was",	     "for",	"on",
	"are",	  "with",    "they",	 "at",	     "be",	"this",
	"have",	  "from",    "meeting",	 "report",   "project", "please",
	"thanks", "review",  "attached", "schedule", "budget",	"team",
	"friday", "monday",  "question", "update",   "draft",	"client",
	"order",  "invoice", "delivery", "account",  "support", "regards",
};

static const char *const bench_spam[] = {
	"Click here to claim your FREE prize now!",
	"100% GUARANTEED, act now, limited time offer!!!",
	"Dear friend, I am a barrister with a business proposal of "
	"US$ 25,000,000.00 for you.",
	"Buy cheap viagra and cialis online, no prescription needed.",
	"You have won the lottery! Send your bank account details.",
	"Lose weight fast with this one weird trick, order today.",
	"To unsubscribe from this list click the link below.",
	"Verify your account password immediately or it will be closed.",
};

static uint64_t
bench_rand(uint64_t *s)
{
	/* xorshift64*: deterministic, no libc state. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void
put(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (*len + n >= cap)
		n = cap - 1 - *len;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

static char *
bench_generate(unsigned i, size_t *len_r)
{
	char *m = malloc(BENCH_MSG_BYTES + 1);
	char line[512];
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (i * 0x100000001b3ull);
	size_t len = 0, col = 0;

	if (m == NULL)
		abort();
	snprintf(line, sizeof(line),
		 "Received: from mail%u.example.net (mail%u.example.net "
		 "[192.0.2.%u])\r\n\tby mx.kurier.test with ESMTP id %08X\r\n"
		 "From: %s <user%u@example.net>\r\nTo: rcpt%u@kurier.test\r\n"
		 "Subject: %s %u\r\nDate: Mon, 6 May 2024 10:%02u:00 +0000\r\n"
		 "Message-ID: <%u.%08X@example.net>\r\nMIME-Version: 1.0\r\n"
		 "Content-Type: text/plain; charset=utf-8\r\n\r\n",
		 i % 50, i % 50, i % 250 + 1, i * 2654435761u,
		 i % 5 == 0 ? "Best Offer" : "Alice Example", i % 97, i % 13,
		 i % 5 == 0 ? "URGENT: you have won" : "Re: project update", i,
		 i % 60, i, i * 40503u);
	put(m, BENCH_MSG_BYTES + 1, &len, line);
	while (len < BENCH_MSG_BYTES - 80) {
		uint64_t r = bench_rand(&seed);
		const char *w = bench_words[r % (sizeof(bench_words) /
						 sizeof(*bench_words))];

		if (i % 4 == 1 && r % 97 == 0) {
			snprintf(line, sizeof(line),
				 " https://www.example%u.com/path/%u?id=%u ",
				 (unsigned)(r % 7), i, (unsigned)(r % 1000));
			w = line;
		} else if (i % 5 == 0 && r % 89 == 0)
			w = bench_spam[(r >> 8) % (sizeof(bench_spam) /
						   sizeof(*bench_spam))];
		put(m, BENCH_MSG_BYTES + 1, &len, w);
		col += strlen(w) + 1;
		put(m, BENCH_MSG_BYTES + 1, &len, col > 70 ? "\r\n" : " ");
		if (col > 70)
			col = 0;
	}
	put(m, BENCH_MSG_BYTES + 1, &len, "\r\n");
	*len_r = len;
	return m;
}

static struct kr_rules_matcher *
bench_load(const char *globs, bool nocache, struct kr_rules_set **set_r)
{
	char err[512];
	struct kr_rules_set *set = kr_rules_set_create();
	struct kr_rules_matcher *m;
	size_t loaded = 0, skipped = 0;
	double t0 = bench_util_now(), t1;
	char dir[512];
	const char *cache = dir;

	if (nocache ||
	    kr_rules_cache_dir(dir, sizeof(dir), err, sizeof(err)) != 0)
		cache = NULL;
	if (kr_rules_set_add_glob(set, globs, err, sizeof(err)) != 0 ||
	    kr_rules_set_finish(set, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench/rules: %s\n", err);
		exit(1);
	}
	t1 = bench_util_now();
	m = kr_rules_matcher_create(set, cache, err, sizeof(err));
	if (m == NULL) {
		fprintf(stderr, "bench/rules: %s\n", err);
		exit(1);
	}
	for (size_t i = 0; i < kr_rules_set_count(set); i++) {
		const struct kr_rules_rule *r = kr_rules_set_get(set, i);

		if (r->defined)
			r->loaded ? loaded++ : skipped++;
	}
	printf("rules: %zu loaded, %zu skipped, parsed in %.3f s, matcher in "
	       "%.3f s (%s)\n",
	       loaded, skipped, t1 - t0, bench_util_now() - t1,
	       kr_rules_matcher_cached(m) ? "from the cache"
	       : cache			  ? "compiled, cached"
					  : "compiled, no cache");
	*set_r = set;
	return m;
}

/* The antispam view of msg, as the delivery's parse makes it. */
static void
bench_view(struct bench_msg *msg)
{
	struct kr_mime_limits lim;
	struct kr_mime_summary *sum;
	struct kr_err err = { 0 };

	kr_mime_limits_init(&lim);
	lim.spam_text = true;
	msg->arena = kr_arena_create(16 << 10, 64 << 20, false);
	if (kr_mime_parse(msg->m.raw, msg->m.len, &lim, msg->arena, &sum,
			  &err) < 0 ||
	    sum->spam == NULL) {
		fprintf(stderr, "bench/rules: parse failed: %s\n", err.msg);
		exit(1);
	}
	msg->text = sum->spam;
}

/* One message as the module's check does it: scan, then walk hits. */
static double
bench_one(struct kr_rules_scan *scan, const struct kr_rules_set *set,
	  const struct bench_msg *msg)
{
	const struct kr_rules_input in = {
		.headers = msg->text->headers,
		.headers_len = msg->text->headers_len,
		.body = msg->text->body,
		.body_len = msg->text->body_len,
		.rawbody = msg->text->rawbody,
		.rawbody_len = msg->text->rawbody_len,
		.uris = msg->text->uris,
		.uris_len = msg->text->uris_len,
		.raw = msg->m.raw,
		.raw_len = msg->m.len,
		.envfrom = "user@example.net",
	};
	const uint32_t *counts;
	double score = 0;

	kr_rules_scan_run(scan, &in, &counts);
	for (size_t i = 0; i < kr_rules_set_count(set); i++) {
		if (counts[i] != 0)
			score += kr_rules_set_get(set, i)->score;
	}
	return score;
}

int
main(int argc, char **argv)
{
	const char *globs = KR_RULES_DEFAULT_GLOB, *dir = NULL;
	double seconds = 5, rates[BENCH_ROUNDS];
	static struct bench_corpus_msg files[BENCH_FILES_MAX];
	static struct bench_msg msgs[BENCH_FILES_MAX];
	size_t n = 0, n_spam = 0;
	struct kr_rules_set *set;
	struct kr_rules_matcher *m;
	struct kr_rules_scan *scan;
	char err[256];
	bool nocache = false;

	bool bad = false;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--no-cache") == 0)
			nocache = true;
		else if (v != NULL && strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[++i]);
		else if (v != NULL && strcmp(argv[i], "--rules") == 0)
			globs = argv[++i];
		else if (v != NULL && strcmp(argv[i], "--dir") == 0)
			dir = argv[++i];
		else
			bad = true;
	}
	if (!(seconds > 0 && seconds < 3600) || bad) {
		fprintf(stderr, "usage: bench/rules [--seconds N] [--rules "
				"GLOB] [--dir MSGDIR] [--no-cache]\n");
		return 2;
	}
	m = bench_load(globs, nocache, &set);
	scan = kr_rules_scan_create(m, err, sizeof(err));
	if (scan == NULL) {
		fprintf(stderr, "bench/rules: %s\n", err);
		return 1;
	}
	if (dir != NULL) {
		n = bench_util_corpus("bench/rules", dir, files,
				      BENCH_FILES_MAX, BENCH_FILE_MAX);
		for (size_t i = 0; i < n; i++)
			msgs[i].m = files[i];
	} else {
		for (; n < BENCH_MSGS; n++)
			msgs[n].m.raw =
				bench_generate((unsigned)n, &msgs[n].m.len);
	}
	kr_mime_init();
	if (n == 0) {
		fprintf(stderr, "bench/rules: no messages\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		bench_view(&msgs[i]);
		n_spam += bench_one(scan, set, &msgs[i]) >= 5.0;
	}
	printf("rules: %zu messages (%s), %zu score >= 5\n", n,
	       dir ? dir : "generated, 4 KiB", n_spam);
	for (int r = 0; r < BENCH_ROUNDS; r++) {
		double t0 = bench_util_now(), t;
		size_t done = 0;

		do {
			for (size_t k = 0; k < 64; k++)
				bench_one(scan, set, &msgs[done++ % n]);
			t = bench_util_now();
		} while (t - t0 < seconds / BENCH_ROUNDS);
		rates[r] = (double)done / (t - t0);
		printf("round %d: %.0f msgs/s\n", r + 1, rates[r]);
	}
	qsort(rates, BENCH_ROUNDS, sizeof(*rates), bench_util_cmp_double);
	printf("rules: %.0f msgs/s (min %.0f median %.0f max %.0f over %d "
	       "rounds, one core)\n",
	       rates[BENCH_ROUNDS / 2], rates[0], rates[BENCH_ROUNDS / 2],
	       rates[BENCH_ROUNDS - 1], BENCH_ROUNDS);
	kr_rules_scan_destroy(&scan);
	kr_rules_matcher_destroy(&m);
	kr_rules_set_destroy(&set);
	for (size_t i = 0; i < n; i++) {
		free(msgs[i].m.raw);
		kr_arena_destroy(&msgs[i].arena);
	}
	return 0;
}
