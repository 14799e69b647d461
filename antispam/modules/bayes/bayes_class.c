/* Classification: Gary Robinson's per-token probability f(w) and
 * Fisher's chi-square combining ("A Statistical Approach to the Spam
 * Problem", 2003), as SpamAssassin's Bayes and SpamBayes do it. */
#include <math.h>
#include <stdlib.h>

#include "antispam/modules/bayes/bayes.h"

/* Robinson's strength of the background belief and the belief
 * itself: an unseen token is 0.5, one seen once moves halfway. */
#define BAYES_S 1.0
#define BAYES_X 0.5

double
kr_bayes_token_prob(uint32_t spam, uint32_t ham, uint32_t n_spam,
		    uint32_t n_ham)
{
	double rs, rh, p, n = (double)spam + (double)ham;

	/* A count above its class's messages (clamped forgets, aging of
	 * the message counts) is read as "in every one". */
	rs = n_spam > 0 ? fmin(1.0, (double)spam / n_spam) : 0.0;
	rh = n_ham > 0 ? fmin(1.0, (double)ham / n_ham) : 0.0;
	if (rs + rh <= 0.0)
		return BAYES_X;
	p = rs / (rs + rh); /* Graham's p(w), normalised per class */
	return (BAYES_S * BAYES_X + n * p) / (BAYES_S + n);
}

/* The survival function of chi-square with v (even) degrees of
 * freedom at x: the closed form for even v (SpamBayes' chi2Q). */
static double
bayes_chi2q(double x, unsigned v)
{
	double m = x / 2.0, term = exp(-m), sum = term;

	for (unsigned i = 1; i < v / 2; i++) {
		term *= m / i;
		sum += term;
	}
	return sum < 1.0 ? sum : 1.0;
}

static int
bayes_cmp_strength(const void *a, const void *b)
{
	double x = fabs(*(const double *)a - 0.5);
	double y = fabs(*(const double *)b - 0.5);

	return x < y ? 1 : x > y ? -1 : 0;
}

double
kr_bayes_classify(const struct kr_filter_tokens *t)
{
	double f[KR_BAYES_TOKENS_MAX], ln_f = 0.0, ln_1f = 0.0, h, s;
	size_t n = 0;

	if (t->n_spam < KR_BAYES_MIN_TRAINED || t->n_ham < KR_BAYES_MIN_TRAINED)
		return -1.0;
	for (size_t i = 0; i < t->n && n < KR_BAYES_TOKENS_MAX; i++) {
		double p;

		if (t->spam[i] == 0 && t->ham[i] == 0)
			continue;
		p = kr_bayes_token_prob(t->spam[i], t->ham[i], t->n_spam,
					t->n_ham);
		if (fabs(p - 0.5) >= KR_BAYES_MIN_STRENGTH)
			f[n++] = p;
	}
	if (n == 0)
		return 0.5;
	qsort(f, n, sizeof(f[0]), bayes_cmp_strength);
	if (n > KR_BAYES_INTERESTING)
		n = KR_BAYES_INTERESTING;
	/* With s > 0, f stays inside (0, 1): both logs are finite. */
	for (size_t i = 0; i < n; i++) {
		ln_f += log(f[i]);
		ln_1f += log(1.0 - f[i]);
	}
	h = 1.0 - bayes_chi2q(-2.0 * ln_f, 2 * (unsigned)n);
	s = 1.0 - bayes_chi2q(-2.0 * ln_1f, 2 * (unsigned)n);
	return (1.0 + s - h) / 2.0;
}

/* 23_bayes.cf's ranges, lower bound inclusive, and 50_scores.cf's
 * fourth score set (Bayes on, network tests on), the one a server with
 * DNSBL and SPF is in. */
static const struct {
	double from;
	struct kr_bayes_bucket b;
} bayes_buckets[] = {
	{ 0.99, { "BAYES_99", 3.5, "Bayes spam probability is 99 to 100%" } },
	{ 0.95, { "BAYES_95", 3.0, "Bayes spam probability is 95 to 99%" } },
	{ 0.80, { "BAYES_80", 2.0, "Bayes spam probability is 80 to 95%" } },
	{ 0.60, { "BAYES_60", 1.5, "Bayes spam probability is 60 to 80%" } },
	{ 0.40, { "BAYES_50", 0.8, "Bayes spam probability is 40 to 60%" } },
	{ 0.20, { "BAYES_40", -0.001, "Bayes spam probability is 20 to 40%" } },
	{ 0.05, { "BAYES_20", -0.001, "Bayes spam probability is 5 to 20%" } },
	{ 0.01, { "BAYES_05", -0.5, "Bayes spam probability is 1 to 5%" } },
	{ 0.00, { "BAYES_00", -1.9, "Bayes spam probability is 0 to 1%" } },
};

static const struct kr_bayes_bucket bayes_999 = {
	"BAYES_999", 0.2, "Bayes spam probability is 99.9 to 100%"
};

const struct kr_bayes_bucket *
kr_bayes_bucket(double p)
{
	size_t n = sizeof(bayes_buckets) / sizeof(bayes_buckets[0]);

	for (size_t i = 0; i < n; i++)
		if (p >= bayes_buckets[i].from)
			return &bayes_buckets[i].b;
	return &bayes_buckets[n - 1].b;
}

const struct kr_bayes_bucket *
kr_bayes_bucket_999(double p)
{
	return p >= 0.999 ? &bayes_999 : NULL;
}
