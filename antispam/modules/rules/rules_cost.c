/* The cost budget: a pattern that costs a message more than
 * RULES_COST_BUDGET_US per 4 KiB of text is skipped ("too slow") when
 * the matcher is built, so one badly written rule does not set the
 * throughput of every message. Measured on a fixed synthetic text of
 * everyday words, numbers, an address and a link (the cost of an
 * ordinary message, not an adversarial one: PCRE2's match limits
 * bound that), best of a few runs. What is measured:
 * - PCRE2 (confirmation and PCRE2-only patterns): one search of the
 *   whole text, what a confirmation costs when Hyperscan says maybe;
 * - Hyperscan, for the heavy patterns (relaxed or long, the ones that
 *   get databases of their own): the pattern compiled alone and the
 *   text scanned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "antispam/modules/rules/rules_int.h"
#include "antispam/modules/rules/rules_match.h"

#define RULES_COST_RUNS 3

static double
cost_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

void
kr_rules_cost_text(char *buf, size_t size)
{
	/* The commonest English words (rules key on "you", "your",
	 * "the"...), some numbers, an amount, a percentage, a link. */
	static const char *const words[] = {
		"the",	   "of",
		"and",	   "to",
		"a",	   "in",
		"is",	   "you",
		"your",	   "that",
		"it",	   "was",
		"for",	   "on",
		"are",	   "with",
		"they",	   "be",
		"at",	   "this",
		"have",	   "from",
		"or",	   "we",
		"will",	   "can",
		"would",   "please",
		"review",  "the",
		"report",  "meeting",
		"Friday",  "budget",
		"thanks",  "team",
		"about",   "$1,200",
		"20%",	   "2024,",
		"account", "order",
		"see",	   "https://www.example.com/docs/report?id=42",
		"mail",	   "alice@example.com",
		"today.",  "Regards",
		"Alice",   "Invoice",
		"#12345",  "due",
		"next",	   "week.",
		"I",
	};
	size_t len = 0, col = 0, n = sizeof(words) / sizeof(*words);
	uint32_t seed = 12345;

	while (len + 64 < size) {
		seed = seed * 1103515245u + 12345u;
		const char *w = words[(seed >> 16) % n];
		size_t wl = strlen(w);

		memcpy(buf + len, w, wl);
		len += wl;
		col += wl + 1;
		buf[len++] = col > 70 ? '\n' : ' ';
		if (col > 70)
			col = 0;
	}
	buf[len] = '\0';
}

double
kr_rules_cost_pcre(const struct kr_rules_rule *r, const char *text, size_t len,
		   pcre2_match_data *md, pcre2_match_context *mctx)
{
	double best = 1e12;

	for (int i = 0; i < RULES_COST_RUNS; i++) {
		double t0 = cost_now();

		pcre2_match(r->pcre, (PCRE2_SPTR)text, len, 0, 0, md, mctx);
		double t = cost_now() - t0;
		if (t < best)
			best = t;
	}
	return best;
}

static int
cost_on_match(unsigned id, unsigned long long from, unsigned long long to,
	      unsigned flags, void *arg)
{
	(void)id;
	(void)from;
	(void)to;
	(void)flags;
	(void)arg;
	return 0;
}

/* -1 when Hyperscan does not compile expr alone (then the combined
 * database decides, as before). */
double
kr_rules_cost_hs(const char *expr, unsigned flags, const char *text, size_t len)
{
	hs_database_t *db = NULL;
	hs_compile_error_t *cerr = NULL;
	hs_scratch_t *scratch = NULL;
	double best = 1e12;

	if (hs_compile(expr, flags, HS_MODE_BLOCK, NULL, &db, &cerr) !=
	    HS_SUCCESS) {
		hs_free_compile_error(cerr);
		return -1;
	}
	if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) {
		hs_free_database(db);
		return -1;
	}
	for (int i = 0; i < RULES_COST_RUNS; i++) {
		double t0 = cost_now();

		hs_scan(db, text, (unsigned)len, 0, scratch, cost_on_match,
			NULL);
		double t = cost_now() - t0;
		if (t < best)
			best = t;
	}
	hs_free_scratch(scratch);
	hs_free_database(db);
	return best;
}
