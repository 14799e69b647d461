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
 * The text view (struct kr_filter_text) is built here minimally until
 * the host's MIME parse (kr_mime_parse with limits.spam_text) is on
 * main: headers unfolded but not RFC 2047-decoded, the body not
 * MIME-decoded (single text/plain parts are exact), URIs taken as the
 * http(s):// and www. words of the body. */
#include <errno.h>
#include <stdbool.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "antispam/modules/rules/rules.h"

#define BENCH_MSGS 512
#define BENCH_MSG_BYTES 4096
#define BENCH_ROUNDS 5
#define BENCH_FILES_MAX 10000
#define BENCH_FILE_MAX (1u << 20)

struct bench_msg {
	char *raw;
	size_t raw_len;
	char *headers, *body, *uris;
	size_t headers_len, body_len, uris_len;
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

/* The minimal text view (see the top comment). */
static void
bench_view(struct bench_msg *msg)
{
	const char *s = msg->raw, *end = msg->raw + msg->raw_len;
	size_t cap = msg->raw_len + 2;
	char *h = malloc(cap), *b = malloc(cap), *u = malloc(cap);
	size_t hl = 0, bl = 0, ul = 0;

	if (h == NULL || b == NULL || u == NULL)
		abort();
	/* headers: CRLF dropped, folded lines joined with a space */
	while (s < end && !(s[0] == '\r' || s[0] == '\n')) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl ? nl : end;
		size_t n = (size_t)(eol - s);

		if (n > 0 && s[n - 1] == '\r')
			n--;
		if ((*s == ' ' || *s == '\t') && hl > 0) {
			hl--; /* the previous line's \n */
			while (n > 0 && (*s == ' ' || *s == '\t'))
				s++, n--;
			h[hl++] = ' ';
		}
		memcpy(h + hl, s, n);
		hl += n;
		h[hl++] = '\n';
		s = nl ? nl + 1 : end;
	}
	s += (s < end && *s == '\r') ? 2 : 1;
	/* body: the Subject line's value first, as SA does */
	const char *subj = strstr(h, "\nSubject: ");
	if (subj != NULL) {
		const char *e = strchr(subj + 10, '\n');
		memcpy(b, subj + 10, (size_t)(e - subj - 10));
		bl = (size_t)(e - subj - 10);
		b[bl++] = '\n';
	}
	for (; s < end; s++) {
		if (*s == '\r')
			continue;
		if (bl < cap - 1)
			b[bl++] = *s;
		if ((strncmp(s, "http://", 7) == 0 ||
		     strncmp(s, "https://", 8) == 0 ||
		     strncmp(s, "www.", 4) == 0) &&
		    (s == msg->raw || s[-1] == ' ' || s[-1] == '\n')) {
			size_t n = strcspn(s, " \t\r\n\"'<>");
			memcpy(u + ul, s, n);
			ul += n;
			u[ul++] = '\n';
		}
	}
	h[hl] = b[bl] = u[ul] = '\0';
	msg->headers = h;
	msg->headers_len = hl;
	msg->body = b;
	msg->body_len = bl;
	msg->uris = u;
	msg->uris_len = ul;
}

static size_t
bench_read_dir(const char *dir, struct bench_msg *msgs, size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	char path[4096];

	if (d == NULL) {
		fprintf(stderr, "bench/rules: %s: %s\n", dir, strerror(errno));
		exit(1);
	}
	while (n < max && (de = readdir(d)) != NULL) {
		FILE *fp;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fp = fopen(path, "rb");
		if (fp == NULL)
			continue;
		msgs[n].raw = malloc(BENCH_FILE_MAX + 1);
		if (msgs[n].raw == NULL)
			abort();
		msgs[n].raw_len = fread(msgs[n].raw, 1, BENCH_FILE_MAX, fp);
		msgs[n].raw[msgs[n].raw_len] = '\0';
		fclose(fp);
		if (msgs[n].raw_len > 0)
			n++;
		else
			free(msgs[n].raw);
	}
	closedir(d);
	return n;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct kr_rules_matcher *
bench_load(const char *globs, bool nocache, struct kr_rules_set **set_r)
{
	char err[512];
	struct kr_rules_set *set = kr_rules_set_create();
	struct kr_rules_matcher *m;
	size_t loaded = 0, skipped = 0;
	double t0 = now(), t1;
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
	t1 = now();
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
	       loaded, skipped, t1 - t0, now() - t1,
	       kr_rules_matcher_cached(m) ? "from the cache"
	       : cache			  ? "compiled, cached"
					  : "compiled, no cache");
	*set_r = set;
	return m;
}

/* One message as the module's check does it: scan, then walk hits. */
static double
bench_one(struct kr_rules_scan *scan, const struct kr_rules_set *set,
	  const struct bench_msg *msg)
{
	const struct kr_rules_input in = {
		.headers = msg->headers,
		.headers_len = msg->headers_len,
		.body = msg->body,
		.body_len = msg->body_len,
		.rawbody = msg->body,
		.rawbody_len = msg->body_len,
		.uris = msg->uris,
		.uris_len = msg->uris_len,
		.raw = msg->raw,
		.raw_len = msg->raw_len,
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
	if (dir != NULL)
		n = bench_read_dir(dir, msgs, BENCH_FILES_MAX);
	else
		for (; n < BENCH_MSGS; n++)
			msgs[n].raw =
				bench_generate((unsigned)n, &msgs[n].raw_len);
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
		double t0 = now(), t;
		size_t done = 0;

		do {
			for (size_t k = 0; k < 64; k++)
				bench_one(scan, set, &msgs[done++ % n]);
			t = now();
		} while (t - t0 < seconds / BENCH_ROUNDS);
		rates[r] = (double)done / (t - t0);
		printf("round %d: %.0f msgs/s\n", r + 1, rates[r]);
	}
	qsort(rates, BENCH_ROUNDS, sizeof(*rates), cmp_double);
	printf("rules: %.0f msgs/s (min %.0f median %.0f max %.0f over %d "
	       "rounds, one core)\n",
	       rates[BENCH_ROUNDS / 2], rates[0], rates[BENCH_ROUNDS / 2],
	       rates[BENCH_ROUNDS - 1], BENCH_ROUNDS);
	kr_rules_scan_destroy(&scan);
	kr_rules_matcher_destroy(&m);
	kr_rules_set_destroy(&set);
	for (size_t i = 0; i < n; i++) {
		free(msgs[i].raw);
		free(msgs[i].headers);
		free(msgs[i].body);
		free(msgs[i].uris);
	}
	return 0;
}
