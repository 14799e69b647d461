/* cmocka tests for the bayes filter module (antispam/modules/bayes):
 * the tokenizer's bounds, Robinson/Fisher on synthetic counts, the
 * SpamAssassin buckets, and the check through a host of test
 * functions (the ABI's other side) whose look-ups answer when the test
 * says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/modules/bayes/bayes.h"

static size_t
tok_body(const char *body, uint64_t *out, size_t max)
{
	const struct kr_filter_text text = { .body = body,
					     .body_len = strlen(body) };
	const struct kr_filter_msg msg = { .text = &text };

	return kr_bayes_tokenize(&msg, out, max);
}

static void
test_bayes_word_lengths(void **state)
{
	char w40[41], w41[42];
	uint64_t h[8];

	(void)state;
	memset(w40, 'x', 40);
	w40[40] = '\0';
	memset(w41, 'y', 41);
	w41[41] = '\0';
	assert_int_equal(tok_body("ab", h, 8), 0);
	assert_int_equal(tok_body("abc", h, 8), 1);
	assert_true(h[0] == kr_bayes_hash(NULL, "abc", 3));
	assert_int_equal(tok_body(w40, h, 8), 1);
	assert_int_equal(tok_body(w41, h, 8), 0);
	/* Case-folded, de-duplicated, split on punctuation. */
	assert_int_equal(tok_body("Viagra VIAGRA viagra, now!", h, 8), 2);
	assert_true(h[0] == kr_bayes_hash(NULL, "viagra", 6));
	assert_true(h[1] == kr_bayes_hash(NULL, "now", 3));
	assert_true(kr_bayes_hash(NULL, "x", 1) != 0);
}

static void
test_bayes_tokens_bounded(void **state)
{
	size_t cap = 2000 * 8;
	char *body = malloc(cap);
	uint64_t *h = malloc(2000 * sizeof(*h));
	size_t len = 0;

	(void)state;
	assert_non_null(body);
	assert_non_null(h);
	for (unsigned i = 0; i < 1500; i++)
		len += (size_t)snprintf(body + len, cap - len, "w%05u ", i);
	/* At the bound: exactly KR_BAYES_TOKENS_MAX, never more. */
	assert_int_equal(tok_body(body, h, 2000), KR_BAYES_TOKENS_MAX);
	assert_int_equal(tok_body(body, h, 10), 10);
	assert_int_equal(tok_body(body, h, 0), 0);
	body[7 * 1000] = '\0'; /* 1000 words: all of them */
	assert_int_equal(tok_body(body, h, 2000), 1000);
	body[7 * 999] = '\0';
	assert_int_equal(tok_body(body, h, 2000), 999);
	free(body);
	free(h);
}

static int
has(const uint64_t *h, size_t n, uint64_t v)
{
	for (size_t i = 0; i < n; i++)
		if (h[i] == v)
			return 1;
	return 0;
}

static void
test_bayes_headers_and_uris(void **state)
{
	static const char headers[] = "Received: from evil (ignored)\n"
				      "Subject: Cheap offer\n"
				      "FROM: Winner <win@spam.example>\n"
				      "To: bob@kurier.test\n";
	static const char uris[] = "http://user@www.Spam.Example:8080/x?y\n"
				   "mailto:nobody@x.test\n"
				   "https://ok.test/\n";
	const struct kr_filter_text text = { .headers = headers,
					     .headers_len = sizeof(headers) - 1,
					     .uris = uris,
					     .uris_len = sizeof(uris) - 1,
					     .body = "offer",
					     .body_len = 5 };
	const struct kr_filter_msg msg = { .text = &text };
	uint64_t h[64];
	size_t n;

	(void)state;
	n = kr_bayes_tokenize(&msg, h, 64);
	assert_true(has(h, n, kr_bayes_hash("subject:", "cheap", 5)));
	assert_true(has(h, n, kr_bayes_hash("subject:", "offer", 5)));
	assert_true(has(h, n, kr_bayes_hash("from:", "win@spam.example", 16)));
	assert_true(has(h, n, kr_bayes_hash("to:", "bob@kurier.test", 15)));
	assert_true(has(h, n, kr_bayes_hash("uri:", "www.spam.example", 16)));
	assert_true(has(h, n, kr_bayes_hash("uri:", "spam.example", 12)));
	assert_true(has(h, n, kr_bayes_hash("uri:", "ok.test", 7)));
	assert_true(has(h, n, kr_bayes_hash(NULL, "offer", 5)));
	/* Received is not tokenized; a body word differs from a header's. */
	assert_false(has(h, n, kr_bayes_hash(NULL, "evil", 4)));
	assert_false(has(h, n, kr_bayes_hash("received:", "evil", 4)));
	assert_int_equal(n, 9);
}

/* A statistic where every token has the given counts. */
static double
classify_all(uint32_t n_spam, uint32_t n_ham, uint32_t spam, uint32_t ham,
	     size_t n)
{
	uint64_t h[KR_BAYES_TOKENS_MAX] = { 0 };
	uint32_t s[KR_BAYES_TOKENS_MAX], m[KR_BAYES_TOKENS_MAX];
	struct kr_filter_tokens t = {
		.n_spam = n_spam, .n_ham = n_ham, .n = n, .hashes = h
	};

	for (size_t i = 0; i < n; i++) {
		s[i] = spam;
		m[i] = ham;
	}
	t.spam = s;
	t.ham = m;
	return kr_bayes_classify(&t);
}

static void
test_bayes_classify(void **state)
{
	(void)state;
	assert_true(classify_all(10, 10, 10, 0, 50) >= 0.99);
	assert_true(classify_all(10, 10, 0, 10, 50) <= 0.01);
	/* 5 of each: enough; 4 of either: no opinion at all. */
	assert_true(classify_all(5, 5, 5, 0, 30) >= 0.99);
	assert_true(classify_all(4, 5, 4, 0, 30) < 0.0);
	assert_true(classify_all(5, 4, 5, 0, 30) < 0.0);
	/* Unknown tokens and even ones leave it at 0.5. */
	assert_true(classify_all(10, 10, 0, 0, 50) == 0.5);
	assert_true(classify_all(10, 10, 5, 5, 50) == 0.5);
	/* Robinson: s=1, x=0.5. */
	assert_true(kr_bayes_token_prob(0, 0, 5, 5) == 0.5);
	assert_true(kr_bayes_token_prob(1, 0, 5, 5) == 0.75);
	assert_true(kr_bayes_token_prob(0, 1, 5, 5) == 0.25);
	assert_true(kr_bayes_token_prob(3, 0, 5, 5) == 0.875);
	/* Only the 150 strongest count: 150 spam tokens outvote 850 mild
	 * hammy ones. */
	{
		uint64_t h[1000] = { 0 };
		uint32_t s[1000], m[1000];
		struct kr_filter_tokens t = {
			.n_spam = 20, .n_ham = 20, .n = 1000, .hashes = h
		};

		for (size_t i = 0; i < 1000; i++) {
			s[i] = i < 150 ? 20 : 1;
			m[i] = i < 150 ? 0 : 2;
		}
		t.spam = s;
		t.ham = m;
		assert_true(kr_bayes_classify(&t) >= 0.99);
	}
}

static void
test_bayes_buckets(void **state)
{
	static const struct {
		double p;
		const char *name;
		double score;
	} cases[] = {
		{ 0.0, "BAYES_00", -1.9 },   { 0.0099, "BAYES_00", -1.9 },
		{ 0.01, "BAYES_05", -0.5 },  { 0.05, "BAYES_20", -0.001 },
		{ 0.2, "BAYES_40", -0.001 }, { 0.4, "BAYES_50", 0.8 },
		{ 0.5999, "BAYES_50", 0.8 }, { 0.6, "BAYES_60", 1.5 },
		{ 0.8, "BAYES_80", 2.0 },    { 0.95, "BAYES_95", 3.0 },
		{ 0.9899, "BAYES_95", 3.0 }, { 0.99, "BAYES_99", 3.5 },
		{ 1.0, "BAYES_99", 3.5 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct kr_bayes_bucket *b = kr_bayes_bucket(cases[i].p);

		assert_string_equal(b->name, cases[i].name);
		assert_true(b->score == cases[i].score);
	}
	assert_null(kr_bayes_bucket_999(0.9989));
	assert_string_equal(kr_bayes_bucket_999(0.999)->name, "BAYES_999");
}

/* ---- the check through the ABI ------------------------------------ */

#define T_RCPTS 3

struct t_host {
	struct kr_filter_host host;
	/* The look-ups asked, answered by the test. */
	kr_filter_tokens_fn *cb[T_RCPTS];
	void *arg[T_RCPTS];
	const uint64_t *hashes[T_RCPTS];
	size_t n[T_RCPTS];
	unsigned asked;
	bool refuse; /* tokens_get says -1 */
	char hits[T_RCPTS][128];
	unsigned done;
};

static int
t_tokens_get(void *ctx, const char *account, const uint64_t *hashes, size_t n,
	     kr_filter_tokens_fn *cb, void *arg)
{
	struct t_host *t = ctx;
	unsigned i = (unsigned)(account[0] - '0');

	if (t->refuse || i >= T_RCPTS)
		return -1;
	t->cb[i] = cb;
	t->arg[i] = arg;
	t->hashes[i] = hashes;
	t->n[i] = n;
	t->asked++;
	return 0;
}

static void
t_rcpt_hit(struct kr_filter_result *res, size_t rcpt, const char *name,
	   double score, const char *desc)
{
	struct t_host *t = (struct t_host *)res;
	size_t len = strlen(t->hits[rcpt]);

	(void)score;
	(void)desc;
	assert_true(rcpt < T_RCPTS);
	snprintf(t->hits[rcpt] + len, sizeof(t->hits[rcpt]) - len, "%s%s",
		 len > 0 ? "," : "", name);
}

static void
t_done(void *ctx)
{
	((struct t_host *)ctx)->done++;
}

static void
t_answer(struct t_host *t, unsigned i, uint32_t n_trained, bool spam, int ok)
{
	uint32_t yes[KR_BAYES_TOKENS_MAX], no[KR_BAYES_TOKENS_MAX];
	struct kr_filter_tokens tok = { .n_spam = n_trained,
					.n_ham = n_trained,
					.n = t->n[i],
					.hashes = t->hashes[i] };

	for (size_t k = 0; k < t->n[i]; k++) {
		yes[k] = n_trained;
		no[k] = 0;
	}
	tok.spam = spam ? yes : no;
	tok.ham = spam ? no : yes;
	t->cb[i](t->arg[i], ok ? &tok : NULL, ok);
}

static void
t_setup(struct t_host *t, void **st)
{
	char err[128];

	memset(t, 0, sizeof(*t));
	t->host.size = sizeof(t->host);
	t->host.ctx = t;
	t->host.tokens_get = t_tokens_get;
	t->host.rcpt_hit = t_rcpt_hit;
	assert_int_equal(kr_bayes_open(&t->host, NULL, st, err, sizeof(err)),
			 0);
	assert_int_equal(kr_bayes_selftest(*st, err, sizeof(err)), 0);
}

static const char *const t_rcpts[T_RCPTS] = { "0", "1", "2" };
static const char t_body[] = "win money now with our casino offer";

static void
test_bayes_check_per_rcpt(void **state)
{
	const struct kr_filter_text text = { .body = t_body,
					     .body_len = sizeof(t_body) - 1 };
	const struct kr_filter_msg msg = { .text = &text,
					   .rcpts = t_rcpts,
					   .n_rcpts = T_RCPTS };
	struct t_host t;
	void *st, *req = NULL;

	(void)state;
	t_setup(&t, &st);
	assert_int_equal(kr_bayes_check(st, &msg, (void *)&t, &req, t_done, &t),
			 0);
	/* One look-up per recipient, all started at once. */
	assert_int_equal(t.asked, T_RCPTS);
	assert_int_equal(t.n[0], 7);
	t_answer(&t, 0, 10, true, 1);  /* trained: all spam */
	t_answer(&t, 1, 10, false, 0); /* the store failed */
	assert_int_equal(t.done, 0);
	t_answer(&t, 2, 4, true, 1); /* below the threshold */
	assert_int_equal(t.done, 1);
	assert_string_equal(t.hits[0], "BAYES_99,BAYES_999");
	assert_string_equal(t.hits[1], "");
	assert_string_equal(t.hits[2], "");
	/* The same message for a user trained the other way. */
	memset(t.hits, 0, sizeof(t.hits));
	assert_int_equal(kr_bayes_check(st, &msg, (void *)&t, &req, t_done, &t),
			 0);
	t_answer(&t, 0, 10, false, 1);
	t_answer(&t, 1, 10, false, 1);
	t_answer(&t, 2, 10, false, 1);
	assert_int_equal(t.done, 2);
	assert_string_equal(t.hits[0], "BAYES_00");
	kr_bayes_close(st);
}

static void
test_bayes_check_cancel_and_refused(void **state)
{
	const struct kr_filter_text text = { .body = t_body,
					     .body_len = sizeof(t_body) - 1 };
	const struct kr_filter_msg msg = { .text = &text,
					   .rcpts = t_rcpts,
					   .n_rcpts = T_RCPTS };
	const struct kr_filter_text empty = { .body = "", .body_len = 0 };
	const struct kr_filter_msg nothing = { .text = &empty,
					       .rcpts = t_rcpts,
					       .n_rcpts = T_RCPTS };
	struct t_host t;
	void *st, *req = NULL;

	(void)state;
	t_setup(&t, &st);
	assert_int_equal(kr_bayes_check(st, &msg, (void *)&t, &req, t_done, &t),
			 0);
	kr_bayes_cancel(st, req);
	/* Answers after cancel: no hit, no done, the request is freed
	 * with the last one (ASan would see a leak or a use after free). */
	for (unsigned i = 0; i < T_RCPTS; i++)
		t_answer(&t, i, 10, true, 1);
	assert_int_equal(t.done, 0);
	assert_string_equal(t.hits[0], "");
	/* Every look-up refused: done at once. */
	t.refuse = true;
	assert_int_equal(kr_bayes_check(st, &msg, (void *)&t, &req, t_done, &t),
			 1);
	/* No tokens: nothing to ask. */
	t.refuse = false;
	t.asked = 0;
	assert_int_equal(
		kr_bayes_check(st, &nothing, (void *)&t, &req, t_done, &t), 1);
	assert_int_equal(t.asked, 0);
	kr_bayes_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bayes_word_lengths),
		cmocka_unit_test(test_bayes_tokens_bounded),
		cmocka_unit_test(test_bayes_headers_and_uris),
		cmocka_unit_test(test_bayes_classify),
		cmocka_unit_test(test_bayes_buckets),
		cmocka_unit_test(test_bayes_check_per_rcpt),
		cmocka_unit_test(test_bayes_check_cancel_and_refused),
	};

	return cmocka_run_group_tests_name("bayes", tests, NULL, NULL);
}
