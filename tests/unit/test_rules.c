/* cmocka tests for the rules filter module (antispam/modules/rules):
 * the .cf parser, the matcher, metas, limits, and the module itself
 * (dlopen of kr_rules.so) with the stock SpamAssassin rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "antispam/filter.h"
#include "antispam/modules/rules/rules.h"
#include "antispam/modules/rules/rules_cache.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_MODULE "build/asan/modules/kr_rules.so"
#else
#define TEST_MODULE "build/release/modules/kr_rules.so"
#endif

static const char gtube[] =
	"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

static struct kr_rules_set *
load(const char *text, char *err, size_t err_size, int *rc_r)
{
	struct kr_rules_set *set = kr_rules_set_create();

	*rc_r = kr_rules_set_add_text(set, "t.cf", text, strlen(text), err,
				      err_size);
	if (*rc_r == 0)
		*rc_r = kr_rules_set_finish(set, err, err_size);
	return set;
}

static struct kr_rules_set *
load_ok(const char *text)
{
	char err[256] = "";
	int rc;
	struct kr_rules_set *set = load(text, err, sizeof(err), &rc);

	if (rc != 0)
		fail_msg("%s", err);
	return set;
}

static const struct kr_rules_rule *
rule(const struct kr_rules_set *set, const char *name)
{
	const struct kr_rules_rule *r = kr_rules_set_find(set, name);

	if (r == NULL || !r->defined)
		fail_msg("no rule %s", name);
	return r;
}

static void
assert_loaded(const struct kr_rules_set *set, const char *name)
{
	const struct kr_rules_rule *r = rule(set, name);

	if (!r->loaded)
		fail_msg("%s skipped: %s", name, r->reason);
}

static void
assert_skipped(const struct kr_rules_set *set, const char *name,
	       const char *why)
{
	const struct kr_rules_rule *r = rule(set, name);

	if (r->loaded)
		fail_msg("%s loaded", name);
	if (strstr(r->reason, why) == NULL)
		fail_msg("%s: reason \"%s\" lacks \"%s\"", name, r->reason,
			 why);
}

static const char forms[] =
	"header H_SUBJ Subject =~ /cheap\\s+pills/i\n"
	"header H_ADDR From:addr =~ /^spam\\@example\\.com$/\n"
	"header H_NAME From:name =~ /^Big Sale$/\n"
	"header H_RAW Subject:raw =~ /=\\?utf-8\\?/i\n"
	"header H_ALL ALL =~ /^X-Mailer: bulk/m\n"
	"header H_TOCC ToCc =~ /victim\\@/\n"
	"header H_EXISTS exists:X-Mailer\n"
	"header H_NOTEXISTS exists:X-Nothing\n"
	"header H_NEG Message-ID !~ /\\@/\n"
	"header H_UNSET X-Missing =~ /^none$/ [if-unset: none]\n"
	"header H_MID MESSAGEID =~ /example/\n"
	"body B_PLAIN /buy now/\n"
	"body B_BRACES m{c(?:heap)+}i\n"
	"body B_BANG m!limited\\s+offer!\n"
	"body B_X /li mi ted \\s offer/x\n"
	"body B_MULTI /win/\n"
	"tflags B_MULTI multiple maxhits=2\n"
	"body B_LOOKBEHIND /(?<!not )free money/\n"
	"body B_BACKREF /(\\w)\\1\\1\\1/\n"
	"body B_DOTALL /start.end/s\n"
	"body B_ANCHOR /^second line$/m\n"
	"rawbody R_HTML /<b>bold<\\/b>/\n"
	"uri U_HOST /^https?:\\/\\/evil\\.example\\//\n"
	"full F_RAW /^Received: from mx/m\n"
	"body __SUB_A /alpha/\n"
	"body __SUB_B /beta/\n"
	"body __SUB_C /gamma/\n"
	"meta M_SUM (__SUB_A + __SUB_B + __SUB_C) > 1\n"
	"meta M_NOT __SUB_A && !__SUB_C\n"
	"meta M_COUNT B_MULTI >= 2\n"
	"score H_SUBJ 2.5\n"
	"score B_PLAIN 1.0 2.0 3.0 4.0\n"
	"score __SUB_A 3\n"
	"score M_SUM 0.5\n"
	"describe H_SUBJ Subject sells pills\n"
	"tflags H_SUBJ nice learn userconf noautolearn\n"
	"priority H_SUBJ -100\n";

static void
test_rules_parse_forms(void **state)
{
	struct kr_rules_set *set = load_ok(forms);
	const struct kr_rules_rule *r;
	static const char *const names[] = {
		"H_SUBJ",	"H_ADDR",    "H_NAME",	 "H_RAW",   "H_ALL",
		"H_TOCC",	"H_EXISTS",  "H_NEG",	 "H_UNSET", "H_MID",
		"B_PLAIN",	"B_BRACES",  "B_BANG",	 "B_X",	    "B_MULTI",
		"B_LOOKBEHIND", "B_BACKREF", "B_DOTALL", "R_HTML",  "U_HOST",
		"F_RAW",	"M_SUM",     "M_NOT",	 "M_COUNT",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		assert_loaded(set, names[i]);
	r = rule(set, "H_SUBJ");
	assert_int_equal(r->kind, KR_RULES_HEADER);
	assert_string_equal(r->hdr, "Subject");
	assert_string_equal(r->re, "cheap\\s+pills");
	assert_int_equal(r->re_flags, KR_RULES_RE_I);
	assert_true(r->score == 2.5);
	assert_string_equal(r->describe, "Subject sells pills");
	assert_int_equal(r->tflags, KR_RULES_TF_NICE | KR_RULES_TF_LEARN |
					    KR_RULES_TF_USERCONF |
					    KR_RULES_TF_NOAUTOLEARN);
	assert_int_equal(r->priority, -100);
	assert_int_equal(rule(set, "H_ADDR")->hdr_mode, KR_RULES_HDR_ADDR);
	assert_int_equal(rule(set, "H_NAME")->hdr_mode, KR_RULES_HDR_NAME);
	assert_int_equal(rule(set, "H_RAW")->hdr_mode, KR_RULES_HDR_RAW);
	assert_int_equal(rule(set, "H_EXISTS")->hdr_mode, KR_RULES_HDR_EXISTS);
	assert_true(rule(set, "H_NEG")->negate);
	assert_string_equal(rule(set, "H_UNSET")->if_unset, "none");
	assert_string_equal(rule(set, "B_BRACES")->re, "c(?:heap)+");
	assert_int_equal(rule(set, "B_X")->re_flags, KR_RULES_RE_X);
	/* Four scores: set 0 (no Bayes, no network tests). */
	assert_true(rule(set, "B_PLAIN")->score == 1.0);
	/* Defaults: 1.0; __ rules never score, even with a score line. */
	assert_true(rule(set, "B_BANG")->score == 1.0);
	assert_true(rule(set, "__SUB_A")->score == 0);
	r = rule(set, "B_MULTI");
	assert_int_equal(r->tflags, KR_RULES_TF_MULTIPLE);
	assert_int_equal(r->maxhits, 2);
	kr_rules_set_destroy(&set);
	assert_null(set);
}

static void
test_rules_skip_reasons(void **state)
{
	static const char text[] =
		"header S_EVAL eval:check_for_forged_received()\n"
		"body S_BEVAL eval:check_stock_info()\n"
		"ifplugin Mail::SpamAssassin::Plugin::Nope\n"
		"body S_PLUGIN /x/\n"
		"score S_PLUGIN 9\n"
		"endif\n"
		"if can(Mail::SpamAssassin::Conf::feature_nope)\n"
		"body S_CAN /x/\n"
		"else\n"
		"body S_ELSE /x/\n"
		"endif\n"
		"if (version >= 3.004000)\n"
		"body S_VERSION /x/\n"
		"endif\n"
		"ifplugin Mail::SpamAssassin::Plugin::ReplaceTags\n"
		"replace_tag FOO f(?:o|0)o\n"
		"replace_tag BAR <FOO>bar\n"
		"endif\n"
		"body S_TAGS /<BAR>!/\n"
		"replace_rules S_TAGS\n"
		"header S_PSEUDO X-Spam-Relays-Untrusted =~ /x/\n"
		"header S_MOD From:host =~ /x/\n"
		"body S_BADRE /(unclosed/\n"
		"body S_FLAG /x/e\n"
		"body S_UNTERM /never closed\n"
		"body S_NET /x/\n"
		"tflags S_NET net\n"
		"mimeheader S_MIME Content-Type =~ /x/\n"
		"meta S_META_NEG __OK && !S_EVAL\n"
		"meta S_META_POS __OK || S_EVAL\n"
		"meta S_META_UNDEF __OK || NEVER_DEFINED\n"
		"meta S_META_SYNTAX (__OK &&\n"
		"meta S_META_CHAIN S_META_NEG || __OK\n"
		"meta S_META_CHAIN2 !S_META_NEG && __OK\n"
		"body __OK /ok/\n"
		"include other.cf\n"
		"lang de describe S_VERSION Deutsch\n"
		"describe S_VERSION English\n";
	struct kr_rules_set *set = load_ok(text);
	const struct kr_rules_note *notes;

	(void)state;
	assert_skipped(set, "S_EVAL", "eval:check_for_forged_received");
	assert_skipped(set, "S_BEVAL", "eval:check_stock_info");
	assert_skipped(set, "S_PLUGIN",
		       "inside ifplugin "
		       "Mail::SpamAssassin::Plugin::Nope");
	assert_false(rule(set, "S_PLUGIN")->has_score);
	assert_skipped(set, "S_CAN", "inside if can(");
	assert_loaded(set, "S_ELSE");
	assert_loaded(set, "S_VERSION");
	assert_string_equal(rule(set, "S_VERSION")->describe, "English");
	assert_loaded(set, "S_TAGS");
	assert_string_equal(rule(set, "S_TAGS")->re, "f(?:o|0)obar!");
	assert_skipped(set, "S_PSEUDO", "pseudo-header");
	assert_skipped(set, "S_MOD", "header modifier");
	assert_skipped(set, "S_BADRE", "PCRE2");
	assert_skipped(set, "S_FLAG", "flag");
	assert_skipped(set, "S_UNTERM", "not terminated");
	assert_skipped(set, "S_NET", "net");
	assert_skipped(set, "S_MIME", "mimeheader");
	/* A missing rule counts as 0 only where that cannot add hits. */
	assert_skipped(set, "S_META_NEG", "needs S_EVAL");
	assert_loaded(set, "S_META_POS");
	assert_loaded(set, "S_META_UNDEF");
	assert_skipped(set, "S_META_SYNTAX", "meta");
	assert_loaded(set, "S_META_CHAIN");
	assert_skipped(set, "S_META_CHAIN2", "needs S_META_NEG");
	assert_int_equal(kr_rules_set_notes(set, &notes), 1);
	assert_non_null(strstr(notes[0].text, "include other.cf"));
	assert_int_equal(notes[0].line, 36);
	kr_rules_set_destroy(&set);
}

struct scan_env {
	struct kr_rules_set *set;
	struct kr_rules_matcher *m;
	struct kr_rules_scan *scan;
	const uint32_t *counts;
};

static void
scan_env_run(struct scan_env *e, const char *text,
	     const struct kr_rules_input *in)
{
	char err[256] = "";

	e->set = load_ok(text);
	e->m = kr_rules_matcher_create(e->set, NULL, err, sizeof(err));
	if (e->m == NULL)
		fail_msg("%s", err);
	e->scan = kr_rules_scan_create(e->m, err, sizeof(err));
	assert_non_null(e->scan);
	assert_int_equal(kr_rules_scan_run(e->scan, in, &e->counts), 0);
}

static void
scan_env_free(struct scan_env *e)
{
	kr_rules_scan_destroy(&e->scan);
	kr_rules_matcher_destroy(&e->m);
	kr_rules_set_destroy(&e->set);
}

static uint32_t
hits(const struct scan_env *e, const char *name)
{
	return e->counts[kr_rules_set_index(e->set, rule(e->set, name))];
}

#define STR(s) .s = s##_text, .s##_len = sizeof(s##_text) - 1

static void
test_rules_match_forms(void **state)
{
	static const char headers_text[] =
		"From: \"Big Sale\" <spam@example.com>\n"
		"To: victim@example.org\n"
		"Subject: Cheap   pills\n"
		"X-Mailer: bulk 1.0\n"
		"Message-ID: no-at-sign.example\n";
	static const char body_text[] =
		"buy now! cheap cheap. limited offer. win win win win.\n"
		"I said: free money. aaaa\nsecond line\nstart\nend alpha "
		"gamma\n";
	static const char rawbody_text[] = "<b>bold</b>\n";
	static const char uris_text[] = "https://evil.example/x\n";
	static const char raw_text[] =
		"Received: from mx\r\nSubject: =?utf-8?q?Cheap_pills?=\r\n"
		"\r\nbody\r\n";
	const struct kr_rules_input in = {
		.headers = headers_text,
		.headers_len = sizeof(headers_text) - 1,
		STR(body),
		STR(rawbody),
		.uris = uris_text,
		.uris_len = sizeof(uris_text) - 1,
		STR(raw),
		.envfrom = "spam@example.com",
	};
	struct scan_env e;
	static const char *const hit[] = {
		"H_SUBJ",   "H_ADDR",	"H_NAME",	"H_RAW",   "H_ALL",
		"H_TOCC",   "H_EXISTS", "H_NEG",	"H_UNSET", "H_MID",
		"B_PLAIN",  "B_BRACES", "B_BANG",	"B_X",	   "B_BACKREF",
		"B_DOTALL", "B_ANCHOR", "R_HTML",	"U_HOST",  "F_RAW",
		"M_SUM",    "M_COUNT",	"B_LOOKBEHIND",
	};

	(void)state;
	scan_env_run(&e, forms, &in);
	for (size_t i = 0; i < sizeof(hit) / sizeof(*hit); i++) {
		if (hits(&e, hit[i]) == 0)
			fail_msg("%s did not hit", hit[i]);
	}
	assert_int_equal(hits(&e, "H_NOTEXISTS"), 0);
	/* alpha and gamma: M_SUM (2 > 1) hits, M_NOT (&& !gamma) not. */
	assert_int_equal(hits(&e, "M_NOT"), 0);
	/* four matches, counted up to maxhits=2 */
	assert_int_equal(hits(&e, "B_MULTI"), 2);
	scan_env_free(&e);
}

/* ---- the matcher cache ---- */

static const char cache_headers[] = "From: \"Big Sale\" <spam@example.com>\n"
				    "Subject: Cheap   pills\nX-Mailer: bulk\n";
static const char cache_body[] = "buy now! win win win. free money aaaa\n"
				 "second line\nalpha gamma\n";

static void
cache_scan(struct kr_rules_set *set, const char *dir, bool cached,
	   uint32_t *counts_out)
{
	char err[256] = "";
	struct kr_rules_matcher *m =
		kr_rules_matcher_create(set, dir, err, sizeof(err));
	struct kr_rules_scan *scan;
	const struct kr_rules_input in = {
		.headers = cache_headers,
		.headers_len = sizeof(cache_headers) - 1,
		.body = cache_body,
		.body_len = sizeof(cache_body) - 1,
		.rawbody = cache_body,
		.rawbody_len = sizeof(cache_body) - 1,
		.uris = "",
		.raw = "Subject: x\r\n\r\nbody\r\n",
		.raw_len = 23,
		.envfrom = "spam@example.com",
	};
	const uint32_t *counts;

	if (m == NULL)
		fail_msg("%s", err);
	assert_int_equal(kr_rules_matcher_cached(m), cached);
	scan = kr_rules_scan_create(m, err, sizeof(err));
	assert_non_null(scan);
	assert_int_equal(kr_rules_scan_run(scan, &in, &counts), 0);
	memcpy(counts_out, counts, kr_rules_set_count(set) * sizeof(*counts));
	kr_rules_scan_destroy(&scan);
	kr_rules_matcher_destroy(&m);
}

/* The one .hsdb file of dir, corrupted at its middle byte. */
static void
cache_corrupt(const char *dir)
{
	char cmd[600];
	FILE *fp;
	long size;

	snprintf(cmd, sizeof(cmd), "ls %s/*.hsdb", dir);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	assert_non_null(fgets(cmd, sizeof(cmd), fp));
	pclose(fp);
	cmd[strcspn(cmd, "\n")] = '\0';
	fp = fopen(cmd, "r+b");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	fseek(fp, size / 2, SEEK_SET);
	int c = fgetc(fp);
	fseek(fp, size / 2, SEEK_SET);
	fputc(c ^ 0x5a, fp);
	fclose(fp);
}

static void
test_rules_cache(void **state)
{
	char tmpl[] = "/tmp/kr-test-rules-XXXXXX", dir[512], err[512];
	char link[600], cmd[600];
	struct kr_rules_set *set = load_ok(forms);
	size_t n = kr_rules_set_count(set);
	uint32_t *first = calloc(n, sizeof(*first));
	uint32_t *again = calloc(n, sizeof(*again));

	(void)state;
	/* the key's hash is SHA-256 (FIPS 180-2's "abc" example) */
	struct kr_rules_sha256 c;
	uint8_t sum[32],
		abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
			    0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
			    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
			    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	kr_rules_sha256_init(&c);
	kr_rules_sha256_update(&c, "abc", 3);
	kr_rules_sha256_final(&c, sum);
	assert_memory_equal(sum, abc, 32);
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(setenv("TMPDIR", tmpl, 1), 0);
	assert_int_equal(kr_rules_cache_dir(dir, sizeof(dir), err, sizeof(err)),
			 0);
	cache_scan(set, dir, false, first);
	assert_true(first[kr_rules_set_index(set, rule(set, "H_SUBJ"))] != 0);
	kr_rules_set_destroy(&set);
	/* a second open of the same rules: from the cache, same hits */
	set = load_ok(forms);
	cache_scan(set, dir, true, again);
	assert_memory_equal(first, again, n * sizeof(*first));
	/* a corrupt file is ignored, rebuilt, and good again after */
	cache_corrupt(dir);
	cache_scan(set, dir, false, again);
	assert_memory_equal(first, again, n * sizeof(*first));
	cache_scan(set, dir, true, again);
	kr_rules_set_destroy(&set);
	/* other rules: another key */
	set = load_ok("body B_OTHER /other/\n");
	cache_scan(set, dir, false, again);
	kr_rules_set_destroy(&set);
	/* a directory open to others, or a symlink, is refused */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(kr_rules_cache_dir(dir, sizeof(dir), err, sizeof(err)),
			 -1);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(link, sizeof(link), "%s/elsewhere", tmpl);
	assert_int_equal(mkdir(link, 0700), 0);
	assert_int_equal(symlink(link, dir), 0);
	assert_int_equal(kr_rules_cache_dir(dir, sizeof(dir), err, sizeof(err)),
			 -1);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	assert_int_equal(system(cmd), 0);
	unsetenv("TMPDIR");
	free(first);
	free(again);
}

/* A rule over the cost budget is skipped when the matcher is built,
 * and so is a meta whose result its absence could change. */
static void
test_rules_cost_budget(void **state)
{
	struct kr_rules_set *set =
		load_ok("body SLOW /(?<!x)(?:\\w+\\s*)+\\d{9}/\n"
			"body FAST /hello/\n"
			"meta M_NOT_SLOW FAST && !SLOW\n"
			"meta M_ANY FAST || SLOW\n");
	char err[256] = "";
	struct kr_rules_matcher *m =
		kr_rules_matcher_create(set, NULL, err, sizeof(err));

	(void)state;
	if (m == NULL)
		fail_msg("%s", err);
	assert_skipped(set, "SLOW", "too slow: ");
	assert_skipped(set, "M_NOT_SLOW", "meta needs SLOW");
	assert_loaded(set, "FAST");
	assert_loaded(set, "M_ANY");
	kr_rules_matcher_destroy(&m);
	kr_rules_set_destroy(&set);
}

static void
test_rules_match_negative(void **state)
{
	static const char text[] = "body LB /(?<!not )free money/\n"
				   "body BR /(\\w)\\1\\1\\1/\n"
				   "header NEG Message-ID !~ /\\@/\n"
				   "header ABSENT_NEG X-None !~ /x/\n"
				   "header ABSENT X-None =~ /x/\n"
				   "body __A /alpha/\n"
				   "meta M __A && !LB\n";
	static const char headers_text[] = "Message-ID: <a@b>\n";
	static const char body_text[] = "alpha: not free money, abab\n";
	const struct kr_rules_input in = {
		.headers = headers_text,
		.headers_len = sizeof(headers_text) - 1,
		STR(body),
		.rawbody = "",
		.uris = "",
		.raw = "",
		.envfrom = "",
	};
	struct scan_env e;

	(void)state;
	scan_env_run(&e, text, &in);
	/* Hyperscan's prefilter says maybe; PCRE2 says no. */
	assert_int_equal(hits(&e, "LB"), 0);
	assert_int_equal(hits(&e, "BR"), 0);
	assert_int_equal(hits(&e, "NEG"), 0);
	assert_int_equal(hits(&e, "ABSENT_NEG"), 1);
	assert_int_equal(hits(&e, "ABSENT"), 0);
	assert_int_equal(hits(&e, "M"), 1);
	scan_env_free(&e);
}

static void
test_rules_meta_expressions(void **state)
{
	static const struct {
		const char *expr;
		double want; /* with A=2 (multiple), B=1, C=0 */
	} cases[] = {
		{ "A && B", 1 },
		{ "A && C", 0 },
		{ "A || C", 1 },
		{ "!C", 1 },
		{ "!A", 0 },
		{ "A + B + C", 3 },
		{ "(A + B + C) > 2", 1 },
		{ "A + B * 2", 4 },
		{ "(A + B) * 2", 6 },
		{ "A - B - C", 1 },
		{ "A / 2", 1 },
		{ "A >= 2 && B == 1", 1 },
		{ "A != 2 || C < 1", 1 },
		{ "!(A && !B)", 1 },
		{ "-A + 3", 1 },
		{ "! ! A", 1 },
		{ "A <= 1", 0 },
		{ "UNKNOWN || B", 1 },
	};
	struct kr_rules_set *set = load_ok("body A /a/\nbody B /b/\n"
					   "body C /c/\n");
	uint32_t counts[3] = { 2, 1, 0 };
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct kr_rules_meta *m = kr_rules_meta_compile(
			set, cases[i].expr, err, sizeof(err));
		if (m == NULL)
			fail_msg("%s: %s", cases[i].expr, err);
		if (kr_rules_meta_eval(m, counts) != cases[i].want)
			fail_msg("%s = %g, want %g", cases[i].expr,
				 kr_rules_meta_eval(m, counts), cases[i].want);
		kr_rules_meta_free(m);
	}
	static const char *const bad[] = { "",	  "A &&", "(A",	   "A)",
					   "A B", "&& A", "A $ B", "()" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_null(
			kr_rules_meta_compile(set, bad[i], err, sizeof(err)));
	kr_rules_set_destroy(&set);
}

static void
assert_error(const char *text, const char *want)
{
	char err[256] = "";
	int rc;
	struct kr_rules_set *set = load(text, err, sizeof(err), &rc);

	assert_int_equal(rc, -1);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	kr_rules_set_destroy(&set);
}

static void
test_rules_malformed(void **state)
{
	(void)state;
	assert_error("body A /a/\n\nendif\n", "t.cf:3: endif without if");
	assert_error("else\n", "t.cf:1: else without if");
	assert_error("if version >= 3\nbody A /a/\n",
		     "t.cf:3: if/ifplugin not closed");
	assert_error("if frobnicate(3)\nendif\n", "t.cf:1: if: expression");
	static const char nul[] = "body A /a/\nbody B /b\0/\n";
	char err[256] = "";
	struct kr_rules_set *set = kr_rules_set_create();

	assert_int_equal(kr_rules_set_add_text(set, "n.cf", nul,
					       sizeof(nul) - 1, err,
					       sizeof(err)),
			 -1);
	assert_string_equal(err, "n.cf:2: NUL byte in the line");
	kr_rules_set_destroy(&set);
}

static char *
repeat_text(const char *head, size_t n, char c, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + n + tl + 1);

	assert_non_null(s);
	memcpy(s, head, hl);
	memset(s + hl, c, n);
	memcpy(s + hl + n, tail, tl + 1);
	return s;
}

static void
test_rules_limits(void **state)
{
	char err[256];
	int rc;
	char *s;
	struct kr_rules_set *set;

	(void)state;
	/* A line at the bound passes, one byte more fails. */
	s = repeat_text("# ", KR_RULES_LINE_MAX - 2, 'x', "\n");
	set = load(s, err, sizeof(err), &rc);
	assert_int_equal(rc, 0);
	kr_rules_set_destroy(&set);
	free(s);
	s = repeat_text("# ", KR_RULES_LINE_MAX - 1, 'x', "\n");
	assert_error(s, "t.cf:1: line longer than KR_RULES_LINE_MAX");
	free(s);
	/* A regex at the bound loads, one byte more is skipped. */
	s = repeat_text("body R /", KR_RULES_REGEX_MAX, 'a', "/\n");
	set = load_ok(s);
	assert_loaded(set, "R");
	kr_rules_set_destroy(&set);
	free(s);
	s = repeat_text("body R /", KR_RULES_REGEX_MAX + 1, 'a', "/\n");
	set = load_ok(s);
	assert_skipped(set, "R", "KR_RULES_REGEX_MAX");
	kr_rules_set_destroy(&set);
	free(s);
	/* KR_RULES_MAX names pass, one more fails. */
	size_t cap = (size_t)(KR_RULES_MAX + 1) * 24;
	s = malloc(cap);
	assert_non_null(s);
	size_t len = 0;
	for (unsigned i = 0; i < KR_RULES_MAX; i++)
		len += (size_t)snprintf(s + len, cap - len, "score R%u 1\n", i);
	set = load(s, err, sizeof(err), &rc);
	assert_int_equal(rc, 0);
	kr_rules_set_destroy(&set);
	snprintf(s + len, cap - len, "score ONE_MORE 1\n");
	assert_error(s, "KR_RULES_MAX");
	free(s);
	/* Nesting: KR_RULES_IF_DEPTH_MAX levels pass, one more fails. */
	char nest[2048] = "";
	for (unsigned i = 0; i < KR_RULES_IF_DEPTH_MAX; i++)
		strcat(nest, "if version >= 3\n");
	char *deep = malloc(4096);
	assert_non_null(deep);
	snprintf(deep, 4096, "%s", nest);
	for (unsigned i = 0; i < KR_RULES_IF_DEPTH_MAX; i++)
		strcat(deep, "endif\n");
	set = load(deep, err, sizeof(err), &rc);
	assert_int_equal(rc, 0);
	kr_rules_set_destroy(&set);
	snprintf(deep, 4096, "%sif version >= 3\n", nest);
	assert_error(deep, "nested deeper");
	free(deep);
}

static void
test_rules_file_limit(void **state)
{
	char path[] = "/tmp/kr-test-rules-XXXXXX";
	int fd = mkstemp(path);
	char err[512];
	struct kr_rules_set *set;
	static char block[65536];

	(void)state;
	assert_true(fd >= 0);
	memset(block, '#', sizeof(block));
	for (size_t i = 1024; i < sizeof(block); i += 1024)
		block[i - 1] = '\n';
	for (size_t n = 0; n < KR_RULES_FILE_MAX; n += sizeof(block))
		assert_int_equal(write(fd, block, sizeof(block)),
				 (ssize_t)sizeof(block));
	set = kr_rules_set_create();
	assert_int_equal(kr_rules_set_add_glob(set, path, err, sizeof(err)), 0);
	kr_rules_set_destroy(&set);
	assert_int_equal(write(fd, "\n", 1), 1);
	set = kr_rules_set_create();
	assert_int_equal(kr_rules_set_add_glob(set, path, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "KR_RULES_FILE_MAX"));
	kr_rules_set_destroy(&set);
	close(fd);
	unlink(path);
	set = kr_rules_set_create();
	assert_int_equal(kr_rules_set_add_glob(set, "/nonexistent/*.cf", err,
					       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "matches no file"));
	kr_rules_set_destroy(&set);
}

static void
test_rules_stock_set(void **state)
{
	char err[512];
	struct kr_rules_set *set = kr_rules_set_create();
	size_t loaded = 0, skipped = 0;

	(void)state;
	assert_int_equal(kr_rules_set_add_glob(set, KR_RULES_DEFAULT_GLOB, err,
					       sizeof(err)),
			 0);
	assert_int_equal(kr_rules_set_finish(set, err, sizeof(err)), 0);
	for (size_t i = 0; i < kr_rules_set_count(set); i++) {
		const struct kr_rules_rule *r = kr_rules_set_get(set, i);

		if (r->defined)
			r->loaded ? loaded++ : skipped++;
	}
	printf("# stock rules: %zu loaded, %zu skipped\n", loaded, skipped);
	assert_true(loaded > 1500);
	assert_loaded(set, "GTUBE");
	assert_true(rule(set, "GTUBE")->score == 1000);
	kr_rules_set_destroy(&set);
}

/* ---- the module through its ABI, as the host loads it ---- */

struct hit_log {
	char names[64][64];
	double scores[64];
	size_t n;
};

static void
host_hit(struct kr_filter_result *res, const char *name, double score,
	 const char *desc)
{
	struct hit_log *log = (struct hit_log *)res;

	(void)desc;
	if (log->n < 64) {
		snprintf(log->names[log->n], sizeof(log->names[0]), "%s", name);
		log->scores[log->n++] = score;
	}
}

static double
log_score(const struct hit_log *log, const char *name)
{
	for (size_t i = 0; i < log->n; i++) {
		if (strcmp(log->names[i], name) == 0)
			return log->scores[i];
	}
	return 0;
}

static void
module_check(const struct kr_filter_module *mod, void *st, const char *body,
	     struct hit_log *log)
{
	static const char headers[] = "From: a@example.com\n"
				      "To: b@example.org\nSubject: hello\n";
	const struct kr_filter_text text = {
		.headers = headers,
		.headers_len = sizeof(headers) - 1,
		.body = body,
		.body_len = strlen(body),
		.rawbody = body,
		.rawbody_len = strlen(body),
		.uris = "",
	};
	const struct kr_filter_msg msg = {
		.req_id = "t1",
		.sender = "a@example.com",
		.raw = "From: a@example.com\r\n\r\nx\r\n",
		.raw_len = 26,
		.text = &text,
	};
	void *req = NULL;

	memset(log, 0, sizeof(*log));
	assert_int_equal(mod->check(st, &msg, (struct kr_filter_result *)log,
				    &req, NULL, NULL),
			 1);
}

static void
test_rules_module_gtube(void **state)
{
	void *so = dlopen(TEST_MODULE, RTLD_NOW | RTLD_LOCAL);
	const struct kr_filter_host host = {
		.size = sizeof(host),
		.hit = host_hit,
	};
	const struct kr_filter_conf conf = { .size = sizeof(conf),
					     .rules = KR_RULES_DEFAULT_GLOB };
	const struct kr_filter_module *mod;
	kr_filter_entry_fn *entry;
	char err[256] = "", body[256];
	struct hit_log log;
	void *st = NULL;

	(void)state;
	if (so == NULL)
		fail_msg("%s (build the module first)", dlerror());
	entry = (kr_filter_entry_fn *)dlsym(so, KR_FILTER_ENTRY);
	assert_non_null(entry);
	mod = entry();
	assert_int_equal(mod->abi, KR_FILTER_ABI);
	assert_string_equal(mod->name, "rules");
	/* Every entry point the host's loader requires (antispam/module.c). */
	assert_non_null(mod->open);
	assert_non_null(mod->close);
	assert_non_null(mod->check);
	assert_non_null(mod->cancel);
	if (mod->open(&host, &conf, &st, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	if (mod->selftest(st, err, sizeof(err)) != 0)
		fail_msg("selftest: %s", err);
	snprintf(body, sizeof(body), "hello\n%s\n", gtube);
	module_check(mod, st, body, &log);
	assert_true(log_score(&log, "GTUBE") == 1000);
	module_check(mod, st, "Dear colleague, the meeting is at ten.\n", &log);
	assert_true(log_score(&log, "GTUBE") == 0);
	mod->close(st);
	dlclose(so);
}

/* KR_FILTER_F_CPU: checks of one state on several threads at once
 * each see their own results. */
struct check_thread {
	const struct kr_filter_module *mod;
	void *st;
	int bad;
};

static void *
check_thread_run(void *arg)
{
	struct check_thread *t = arg;
	char body[256];
	struct hit_log log;

	snprintf(body, sizeof(body), "hi\n%s\n", gtube);
	for (int i = 0; i < 200; i++) {
		module_check(t->mod, t->st, i % 2 ? body : "plain words\n",
			     &log);
		if ((log_score(&log, "GTUBE") == 1000) != (i % 2 == 1))
			t->bad++;
	}
	return NULL;
}

static void
test_rules_module_threads(void **state)
{
	void *so = dlopen(TEST_MODULE, RTLD_NOW | RTLD_LOCAL);
	const struct kr_filter_host host = {
		.size = sizeof(host),
		.hit = host_hit,
	};
	const struct kr_filter_conf conf = { .size = sizeof(conf),
					     .rules = KR_RULES_DEFAULT_GLOB };
	const struct kr_filter_module *mod;
	struct check_thread th[4];
	pthread_t tid[4];
	char err[256] = "";
	void *st = NULL;

	(void)state;
	if (so == NULL)
		fail_msg("%s (build the module first)", dlerror());
	mod = ((kr_filter_entry_fn *)dlsym(so, KR_FILTER_ENTRY))();
	assert_true(mod->flags & KR_FILTER_F_CPU);
	if (mod->open(&host, &conf, &st, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	for (int i = 0; i < 4; i++) {
		th[i] = (struct check_thread){ .mod = mod, .st = st };
		assert_int_equal(
			pthread_create(&tid[i], NULL, check_thread_run, &th[i]),
			0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(th[i].bad, 0);
	}
	mod->close(st);
	dlclose(so);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_parse_forms),
		cmocka_unit_test(test_rules_skip_reasons),
		cmocka_unit_test(test_rules_match_forms),
		cmocka_unit_test(test_rules_match_negative),
		cmocka_unit_test(test_rules_cache),
		cmocka_unit_test(test_rules_cost_budget),
		cmocka_unit_test(test_rules_meta_expressions),
		cmocka_unit_test(test_rules_malformed),
		cmocka_unit_test(test_rules_limits),
		cmocka_unit_test(test_rules_file_limit),
		cmocka_unit_test(test_rules_stock_set),
		cmocka_unit_test(test_rules_module_gtube),
		cmocka_unit_test(test_rules_module_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
