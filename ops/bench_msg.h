/* The messages of the LMTP load generator (ops/bench_lmtp.c), in a
 * header of static inline functions so that the durability test
 * (tests/unit/test_lmtp_durability.c) can rebuild any message from its
 * Message-ID alone and compare the stored bytes with what was sent.
 *
 * Message `index` of a run with `seed` is a function of (seed, index,
 * size, recipient) only: everyday words picked by a PRNG seeded from
 * seed and index, its own Subject, a Date derived from the index and
 * the Message-ID bench-<seed>-<index>-<size>@bench.test. No two
 * messages share a body, so neither zlib nor single-instance storage
 * is flattered (Postfix's smtp-source sends near-identical bodies).
 * Pure functions on caller buffers; any thread. */
#ifndef KR_BENCH_MSG_H
#define KR_BENCH_MSG_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BENCH_MSG_SENDER "sender@bench.test"
/* Headers take up to ~450 bytes with the longest recipient; the rest
 * of the smallest message is text. */
#define BENCH_MSG_SIZE_MIN 1024
#define BENCH_MSG_SIZE_MAX (64u << 20)
#define BENCH_MSG_RCPT_MAX 256
#define BENCH_MSG_ID_MAX 96
#define BENCH_MSG_LINE_COLS 72
/* Dates run from here, one second per index: reproducible. */
#define BENCH_MSG_EPOCH 1700000000

/* Enough everyday words that the text compresses like mail, not like a
 * repeated block; ops/bench_store.c uses the same list. */
static const char *const bench_msg_words[] = {
	"the",	     "of",	  "and",      "to",	    "in",
	"is",	     "you",	  "that",     "it",	    "he",
	"was",	     "for",	  "on",	      "are",	    "as",
	"with",	     "his",	  "they",     "at",	    "be",
	"this",	     "have",	  "from",     "or",	    "one",
	"had",	     "by",	  "word",     "but",	    "not",
	"what",	     "all",	  "were",     "we",	    "when",
	"your",	     "can",	  "said",     "there",	    "use",
	"each",	     "which",	  "she",      "do",	    "how",
	"their",     "if",	  "will",     "up",	    "other",
	"about",     "out",	  "many",     "then",	    "them",
	"these",     "so",	  "some",     "her",	    "would",
	"make",	     "like",	  "him",      "into",	    "time",
	"has",	     "look",	  "two",      "more",	    "write",
	"go",	     "see",	  "number",   "no",	    "way",
	"could",     "people",	  "my",	      "than",	    "first",
	"water",     "been",	  "call",     "who",	    "oil",
	"its",	     "now",	  "find",     "long",	    "down",
	"day",	     "did",	  "get",      "come",	    "made",
	"may",	     "part",	  "meeting",  "report",	    "budget",
	"project",   "schedule",  "customer", "invoice",    "server",
	"release",   "review",	  "monday",   "tuesday",    "friday",
	"please",    "thanks",	  "regards",  "attached",   "update",
	"question",  "answer",	  "office",   "morning",    "evening",
	"contract",  "delivery",  "shipment", "account",    "password",
	"database",  "network",	  "quarter",  "forecast",   "team",
	"holiday",   "travel",	  "hotel",    "flight",	    "agenda",
	"minutes",   "decision",  "proposal", "deadline",   "priority",
	"feedback",  "document",  "version",  "draft",	    "final",
	"important", "urgent",	  "weekly",   "monthly",    "annual",
	"sales",     "marketing", "support",  "engineer",   "manager",
	"director",  "design",	  "testing",  "production", "backup",
	"storage",   "message",	  "letter",   "phone",	    "conference",
	"summary",   "detail",	  "result",   "problem",    "solution",
};
#define BENCH_MSG_N_WORDS (sizeof(bench_msg_words) / sizeof(bench_msg_words[0]))

/* splitmix64: small, fast, and the same sequence for the same state. */
static inline uint64_t
bench_msg_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* One independent stream per (seed, index, purpose). */
static inline uint64_t
bench_msg_stream(uint64_t seed, uint64_t index, uint64_t purpose)
{
	uint64_t st = seed ^ (purpose * 0xd1b54a32d192ed03ULL);
	uint64_t mixed = bench_msg_rand(&st) ^ index;

	return bench_msg_rand(&mixed);
}

/* The recipient number (0..users-1) of message index. */
static inline unsigned
bench_msg_user(uint64_t seed, uint64_t index, unsigned users)
{
	return (unsigned)(bench_msg_stream(seed, index, 1) % users);
}

/* Returns 0, or -1 when buf is too small. */
static inline int
bench_msg_id(char *buf, size_t len, uint64_t seed, uint64_t index, size_t size)
{
	int n = snprintf(buf, len,
			 "bench-%" PRIu64 "-%" PRIu64 "-%zu@bench.test", seed,
			 index, size);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* The inverse of bench_msg_id(); 0 when id is one of ours. */
static inline int
bench_msg_id_parse(const char *id, uint64_t *seed_r, uint64_t *index_r,
		   size_t *size_r)
{
	char check[BENCH_MSG_ID_MAX];

	if (sscanf(id, "bench-%" SCNu64 "-%" SCNu64 "-%zu@", seed_r, index_r,
		   size_r) != 3)
		return -1;
	/* Round trip: no signs, spaces or leading zeros slipped through. */
	if (bench_msg_id(check, sizeof(check), *seed_r, *index_r, *size_r) < 0)
		return -1;
	return strcmp(check, id) == 0 ? 0 : -1;
}

static inline size_t
bench_msg_put(char *buf, size_t pos, size_t end, const char *s, size_t len)
{
	if (len > end - pos)
		len = end - pos;
	memcpy(buf + pos, s, len);
	return pos + len;
}

/* Words in lines of at most BENCH_MSG_LINE_COLS up to buf[size - 2],
 * then CRLF and a NUL at buf[size]. No line starts with a dot. */
static inline void
bench_msg_fill_text(uint64_t *st, char *buf, size_t pos, size_t size)
{
	size_t end = size - 2, col = 0;

	while (pos < end) {
		const char *w =
			bench_msg_words[bench_msg_rand(st) % BENCH_MSG_N_WORDS];
		size_t len = strlen(w);

		if (col > 0 && col + 1 + len > BENCH_MSG_LINE_COLS) {
			/* Never a lone CR at the very end. */
			if (end - pos < 3)
				break;
			pos = bench_msg_put(buf, pos, end, "\r\n", 2);
			col = 0;
		} else if (col > 0) {
			pos = bench_msg_put(buf, pos, end, " ", 1);
			col++;
		}
		pos = bench_msg_put(buf, pos, end, w, len);
		col += len;
	}
	if (pos < end)
		memset(buf + pos, 'x', end - pos);
	memcpy(buf + end, "\r\n", 2);
	buf[size] = '\0';
}

/* Three to eight words and the index: every Subject differs. */
static inline void
bench_msg_subject(uint64_t *st, uint64_t index, char *buf, size_t len)
{
	size_t pos = 0;
	unsigned n = 3 + (unsigned)(bench_msg_rand(st) % 6);

	buf[0] = '\0';
	for (unsigned k = 0; k < n; k++) {
		const char *w =
			bench_msg_words[bench_msg_rand(st) % BENCH_MSG_N_WORDS];
		int r = snprintf(buf + pos, len - pos, "%s%s", k > 0 ? " " : "",
				 w);

		if (r < 0 || (size_t)r >= len - pos)
			return;
		pos += (size_t)r;
	}
	snprintf(buf + pos, len - pos, " #%" PRIu64, index);
}

/* Message index of the run with seed, to rcpt, exactly size bytes of
 * CRLF lines into buf[0..size) and a NUL at buf[size] (buf holds
 * size + 1 bytes). Returns 0, or -1 when size is outside
 * BENCH_MSG_SIZE_MIN..BENCH_MSG_SIZE_MAX or rcpt is too long. */
static inline int
bench_msg_make(char *buf, size_t size, uint64_t seed, uint64_t index,
	       const char *rcpt)
{
	uint64_t st = bench_msg_stream(seed, index, 2);
	time_t when = (time_t)(BENCH_MSG_EPOCH + index % 1000000000u);
	char subject[160], id[BENCH_MSG_ID_MAX], date[64];
	struct tm tm;
	int n;

	if (size < BENCH_MSG_SIZE_MIN || size > BENCH_MSG_SIZE_MAX ||
	    strlen(rcpt) >= BENCH_MSG_RCPT_MAX)
		return -1;
	if (bench_msg_id(id, sizeof(id), seed, index, size) < 0 ||
	    gmtime_r(&when, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) ==
		    0)
		return -1;
	bench_msg_subject(&st, index, subject, sizeof(subject));
	n = snprintf(buf, size + 1,
		     "From: Bench Sender <" BENCH_MSG_SENDER ">\r\n"
		     "To: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
		     "Message-ID: <%s>\r\nMIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
		     rcpt, subject, date, id);
	if (n < 0 || (size_t)n + 16 > size)
		return -1;
	bench_msg_fill_text(&st, buf, (size_t)n, size);
	return 0;
}

#endif
