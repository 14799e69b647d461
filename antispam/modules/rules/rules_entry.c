/* The rules filter module (antispam/filter.h): SpamAssassin rule files
 * from [antispam] rules, matched synchronously. The module is
 * KR_FILTER_F_CPU: the host runs check on its cpu pool, several at once
 * on one state, so a check borrows a scan state (Hyperscan scratch,
 * PCRE2 match data, counts) from the state's pool for its duration. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/filter.h"
#include "antispam/modules/rules/rules.h"

/* SPEC.md §5: GTUBE scores 1000 whatever files are configured; the
 * files may still redefine it (they come after). */
static const char rules_builtin[] =
	"body GTUBE /XJS\\*C4JDBQADN1\\.NSBN3\\*2IDNEN\\*GTUBE-STANDARD-"
	"ANTI-UBE-TEST-EMAIL\\*C\\.34X/\n"
	"describe GTUBE Generic Test for Unsolicited Bulk Email\n"
	"score GTUBE 1000\n";

static const char rules_gtube[] =
	"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/* Idle scan states kept per state: one per cpu pool thread is enough;
 * more concurrent checks create and free their own. */
#define RULES_SCANS_KEPT 16

struct rules_state {
	const struct kr_filter_host *host;
	struct kr_rules_set *set;
	struct kr_rules_matcher *matcher;
	pthread_mutex_t lock; /* guards free_scans */
	struct kr_rules_scan *free_scans[RULES_SCANS_KEPT];
	size_t n_free;
	size_t gtube; /* index of GTUBE */
};

static void
rules_close(void *arg)
{
	struct rules_state *st = arg;

	if (st == NULL)
		return;
	for (size_t i = 0; i < st->n_free; i++)
		kr_rules_scan_destroy(&st->free_scans[i]);
	pthread_mutex_destroy(&st->lock);
	kr_rules_matcher_destroy(&st->matcher);
	kr_rules_set_destroy(&st->set);
	free(st);
}

static void
rules_log_counts(const struct rules_state *st)
{
	size_t loaded = 0, skipped = 0;
	char detail[96];

	for (size_t i = 0; i < kr_rules_set_count(st->set); i++) {
		const struct kr_rules_rule *r = kr_rules_set_get(st->set, i);

		if (r->defined)
			r->loaded ? loaded++ : skipped++;
	}
	snprintf(detail, sizeof(detail),
		 "%zu loaded, %zu skipped "
		 "(kurier rules check lists them)",
		 loaded, skipped);
	if (st->host->log != NULL)
		st->host->log(st->host->ctx, KR_FILTER_LOG_INFO, NULL,
			      "rules_loaded", detail);
}

static int
rules_open(const struct kr_filter_host *host, const struct kr_filter_conf *conf,
	   void **state_r, char *err, size_t err_size)
{
	struct rules_state *st = calloc(1, sizeof(*st));
	const char *globs = conf->rules && conf->rules[0]
				    ? conf->rules
				    : KR_RULES_DEFAULT_GLOB;
	const struct kr_rules_rule *gtube;
	char dir[512], why[600];
	const char *cache = dir;

	if (st == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	st->host = host;
	pthread_mutex_init(&st->lock, NULL);
	if (kr_rules_cache_dir(dir, sizeof(dir), why, sizeof(why)) != 0) {
		cache = NULL;
		if (host->log != NULL)
			host->log(host->ctx, KR_FILTER_LOG_WARN, NULL,
				  "rules_cache_off", why);
	}
	st->set = kr_rules_set_create();
	if (kr_rules_set_add_text(st->set, "(built in)", rules_builtin,
				  sizeof(rules_builtin) - 1, err,
				  err_size) != 0 ||
	    kr_rules_set_add_glob(st->set, globs, err, err_size) != 0 ||
	    kr_rules_set_finish(st->set, err, err_size) != 0 ||
	    (st->matcher = kr_rules_matcher_create(st->set, cache, err,
						   err_size)) == NULL ||
	    (st->free_scans[0] = kr_rules_scan_create(st->matcher, err,
						      err_size)) == NULL) {
		rules_close(st);
		return -1;
	}
	st->n_free = 1;
	gtube = kr_rules_set_find(st->set, "GTUBE");
	st->gtube = kr_rules_set_index(st->set, gtube);
	rules_log_counts(st);
	*state_r = st;
	return 0;
}

/* A scan state for this check (NULL: Hyperscan has no scratch). */
static struct kr_rules_scan *
scan_get(struct rules_state *st)
{
	struct kr_rules_scan *s = NULL;

	pthread_mutex_lock(&st->lock);
	if (st->n_free > 0)
		s = st->free_scans[--st->n_free];
	pthread_mutex_unlock(&st->lock);
	if (s == NULL) {
		char err[128];

		s = kr_rules_scan_create(st->matcher, err, sizeof(err));
	}
	return s;
}

static void
scan_put(struct rules_state *st, struct kr_rules_scan *s)
{
	pthread_mutex_lock(&st->lock);
	if (st->n_free < RULES_SCANS_KEPT) {
		st->free_scans[st->n_free++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&st->lock);
	kr_rules_scan_destroy(&s);
}

static int
rules_selftest(void *arg, char *err, size_t err_size)
{
	struct rules_state *st = arg;
	static const char headers[] = "From: selftest@localhost\n"
				      "Subject: selftest\n";
	char body[sizeof(rules_gtube) + 32];
	const uint32_t *counts;
	struct kr_rules_scan *scan;
	int rc;
	bool hit;
	struct kr_rules_input in = { .headers = headers,
				     .headers_len = sizeof(headers) - 1,
				     .rawbody = "",
				     .uris = "",
				     .raw = "",
				     .envfrom = "" };

	in.body_len = (size_t)snprintf(body, sizeof(body), "selftest\n%s\n",
				       rules_gtube);
	in.body = body;
	scan = scan_get(st);
	rc = scan == NULL ? -1 : kr_rules_scan_run(scan, &in, &counts);
	hit = rc == 0 && counts[st->gtube] != 0;
	if (scan != NULL)
		scan_put(st, scan);
	if (rc != 0) {
		snprintf(err, err_size, "selftest: the scan failed");
		return -1;
	}
	if (!hit) {
		snprintf(err, err_size,
			 "selftest: GTUBE did not hit GTUBE "
			 "(redefined or skipped?)");
		return -1;
	}
	return 0;
}

static const char *
text_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static int
rules_check(void *arg, const struct kr_filter_msg *msg,
	    struct kr_filter_result *res, void **req_r, kr_filter_done_fn *done,
	    void *ctx)
{
	struct rules_state *st = arg;
	const struct kr_filter_text *t = msg->text;
	struct kr_rules_input in = {
		.raw = text_or_empty(msg->raw),
		.raw_len = msg->raw ? msg->raw_len : 0,
		.envfrom = text_or_empty(msg->sender),
		.headers = "",
		.body = "",
		.rawbody = "",
		.uris = "",
	};
	const uint32_t *counts;
	struct kr_rules_scan *scan;

	(void)req_r;
	(void)done;
	(void)ctx;
	if (t != NULL) {
		in.headers = text_or_empty(t->headers);
		in.headers_len = t->headers ? t->headers_len : 0;
		in.body = text_or_empty(t->body);
		in.body_len = t->body ? t->body_len : 0;
		in.rawbody = text_or_empty(t->rawbody);
		in.rawbody_len = t->rawbody ? t->rawbody_len : 0;
		in.uris = text_or_empty(t->uris);
		in.uris_len = t->uris ? t->uris_len : 0;
	}
	scan = scan_get(st);
	if (scan == NULL || kr_rules_scan_run(scan, &in, &counts) != 0) {
		if (scan != NULL)
			scan_put(st, scan);
		if (st->host->log != NULL)
			st->host->log(st->host->ctx, KR_FILTER_LOG_WARN,
				      msg->req_id, "rules_scan_failed",
				      "hyperscan");
		return 1;
	}
	for (size_t i = 0; i < kr_rules_set_count(st->set); i++) {
		const struct kr_rules_rule *r;

		if (counts[i] == 0)
			continue;
		r = kr_rules_set_get(st->set, i);
		if (r->score != 0)
			st->host->hit(res, r->name, r->score,
				      r->describe ? r->describe : "");
	}
	scan_put(st, scan);
	return 1;
}

/* check always answers at once (returns 1), so there is never a request
 * to cancel; the host still requires the entry point. */
static void
rules_cancel(void *state, void *req)
{
	(void)state;
	(void)req;
}

static const struct kr_filter_module rules_module = {
	.abi = KR_FILTER_ABI,
	.name = "rules",
	.version = "1 (SpamAssassin rule syntax; Hyperscan + PCRE2)",
	.open = rules_open,
	.selftest = rules_selftest,
	.close = rules_close,
	.check = rules_check,
	.cancel = rules_cancel,
	.flags = KR_FILTER_F_CPU,
};

const struct kr_filter_module *kr_filter_entry(void);

const struct kr_filter_module *
kr_filter_entry(void)
{
	return &rules_module;
}
