/* The rules module's engine: SpamAssassin .cf files read into a rule
 * set (kr_rules_set_*), compiled into a matcher (kr_rules_matcher_*:
 * Hyperscan databases, PCRE2 for what Hyperscan refuses) and run per
 * message with a per-thread scan state (kr_rules_scan_*). A set and a
 * matcher are immutable once built and may be shared by threads; a
 * scan state belongs to one thread. The module includes only
 * antispam/filter.h besides this (it is loaded as a separate object).
 *
 * Semantics, where they differ from SpamAssassin (SA):
 * - Scores: the first value of `score` (SA's set 0: no Bayes, no
 *   network tests), also when four are given. No score line: 1.0, or
 *   0.01 for T_ rules; __ rules never score. Score 0 disables a rule
 *   unless a meta needs it.
 * - Conditionals: `ifplugin P` / `plugin(P)` are true only for the
 *   plugins emulated here (Check, ReplaceTags); `version` is
 *   KR_RULES_SA_VERSION; `can(F)` is true only for the features
 *   implemented (bug6558_free: metas tolerate missing rules).
 * - A rule that cannot run (eval:, network, a plugin's directive,
 *   unsupported header, a regex PCRE2 refuses) is SKIPPED with a
 *   reason. A meta naming a rule that is not loaded treats it as 0
 *   when that can only make the meta hit less (the name occurs in
 *   positive position only); otherwise the meta is skipped too.
 * - body rules see the whole body text at once (paragraphs on lines
 *   of their own), not SA's paragraph by paragraph; `^`/`$` with /m
 *   still anchor at lines.
 * - tflags multiple: the hit counts every match (up to maxhits, or
 *   KR_RULES_MULTIPLE_MAX) for metas; the score is counted once. */
#ifndef KR_RULES_H
#define KR_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what a rule set may hold; the stock SpamAssassin 4 set
 * (about 1.8 MB in 60 files, lines up to 10 KB) is well inside. */
#define KR_RULES_FILE_MAX (8u << 20)	   /* bytes of one file */
#define KR_RULES_LINE_MAX 16384u	   /* bytes of one line */
#define KR_RULES_FILES_MAX 512u		   /* files of one set */
#define KR_RULES_MAX 20000u		   /* names (rules, scores...) */
#define KR_RULES_REGEX_MAX 12000u	   /* a regex as written */
#define KR_RULES_REGEX_EXPANDED_MAX 65536u /* after replace_tag */
#define KR_RULES_NAME_MAX 128u
#define KR_RULES_META_TOKENS_MAX 1024u
#define KR_RULES_IF_DEPTH_MAX 32u
#define KR_RULES_TAGS_MAX 2048u
#define KR_RULES_MULTIPLE_MAX 1000u /* hits of one tflags multiple rule */
#define KR_RULES_SA_VERSION 4.000001
/* The rules of a set when none are configured. */
#define KR_RULES_DEFAULT_GLOB "/usr/share/spamassassin/*.cf"

enum kr_rules_kind {
	KR_RULES_HEADER,
	KR_RULES_BODY,
	KR_RULES_RAWBODY,
	KR_RULES_URI,
	KR_RULES_FULL,
	KR_RULES_META,
	KR_RULES_KIND_N,
};

/* Which part of a header a header rule sees. */
enum kr_rules_hdr_mode {
	KR_RULES_HDR_VALUE,  /* decoded, unfolded */
	KR_RULES_HDR_RAW,    /* Name:raw: as received, folding kept */
	KR_RULES_HDR_ADDR,   /* Name:addr: the first address */
	KR_RULES_HDR_NAME,   /* Name:name: the first display name */
	KR_RULES_HDR_EXISTS, /* exists:Name: present or not */
};

/* Perl regex modifiers kept. */
#define KR_RULES_RE_I 1u
#define KR_RULES_RE_S 2u
#define KR_RULES_RE_M 4u
#define KR_RULES_RE_X 8u

/* tflags kept. */
#define KR_RULES_TF_MULTIPLE 1u
#define KR_RULES_TF_NICE 2u
#define KR_RULES_TF_NET 4u
#define KR_RULES_TF_LEARN 8u
#define KR_RULES_TF_USERCONF 16u
#define KR_RULES_TF_NOAUTOLEARN 32u

struct kr_rules_meta; /* a compiled meta expression (rules_meta.c) */

struct kr_rules_rule {
	char *name;
	enum kr_rules_kind kind;
	bool defined; /* a rule line was seen (not just score/describe) */
	bool loaded;
	char *reason;	     /* why not loaded; NULL when loaded */
	unsigned file, line; /* where it was defined (file: set index) */
	double score;
	bool has_score;
	char *describe;
	unsigned tflags;
	unsigned maxhits; /* 0: none */
	int priority;
	bool replace; /* replace_rules names it */
	/* header, body, rawbody, uri, full */
	char *re;	   /* the pattern, between the delimiters */
	unsigned re_flags; /* KR_RULES_RE_* */
	bool negate;	   /* header X !~ /re/ */
	char *hdr;	   /* header name, "ALL", "ToCc", "MESSAGEID", ... */
	enum kr_rules_hdr_mode hdr_mode;
	char *if_unset; /* [if-unset: STRING] */
	/* meta */
	char *expr;
	struct kr_rules_meta *meta;
	/* matcher bookkeeping */
	void *pcre;  /* pcre2_code *, for loaded regex rules */
	bool needed; /* scored, or named by a loaded meta that is */
};

struct kr_rules_set;

/* An empty set. Never NULL (allocation failure aborts). */
struct kr_rules_set *kr_rules_set_create(void);
void kr_rules_set_destroy(struct kr_rules_set **set);

/* Reads every file matched by the space-separated globs, in glob
 * order (SA's: sorted by name). 0, or -1 with err naming the file (and
 * line) on a malformed or unreadable file, a glob matching nothing, or
 * a set over its bounds. Rules that cannot run are not errors: they
 * are kept as skipped with a reason. */
int kr_rules_set_add_glob(struct kr_rules_set *set, const char *globs,
			  char *err, size_t err_size);
/* The same for one file's text (label names it in errors). */
int kr_rules_set_add_text(struct kr_rules_set *set, const char *label,
			  const char *text, size_t len, char *err,
			  size_t err_size);
/* Resolves what spans files: replace_tag, scores, regex compilation,
 * metas and their order. Once, after the last add. 0, or -1 with err. */
int kr_rules_set_finish(struct kr_rules_set *set, char *err, size_t err_size);

size_t kr_rules_set_count(const struct kr_rules_set *set);
/* The i-th rule (i < count), in definition order; borrowed. */
const struct kr_rules_rule *kr_rules_set_get(const struct kr_rules_set *set,
					     size_t i);
/* A rule by name; NULL when the set has no such rule. */
const struct kr_rules_rule *kr_rules_set_find(const struct kr_rules_set *set,
					      const char *name);
size_t kr_rules_set_files(const struct kr_rules_set *set);
const char *kr_rules_set_file(const struct kr_rules_set *set, size_t i);
/* Lines of the files that are no rule but worth telling (an include,
 * an unsupported directive); borrowed. */
struct kr_rules_note {
	unsigned file, line;
	char *text;
};
size_t kr_rules_set_notes(const struct kr_rules_set *set,
			  const struct kr_rules_note **notes_r);
/* Metas in an order where every meta comes after the metas it names. */
size_t kr_rules_set_metas(const struct kr_rules_set *set,
			  const uint32_t **order_r);
/* Skips rule i with reason after finishing, and what needs it. */
void kr_rules_set_skip_late(struct kr_rules_set *set, size_t i,
			    const char *reason);
/* Index of a rule (same numbering as kr_rules_set_get). */
size_t kr_rules_set_index(const struct kr_rules_set *set,
			  const struct kr_rules_rule *rule);

/* rules_meta.c: compiles expr; names resolve through set (the rule
 * indexes of names are kept). -1 with err on a syntax error. */
struct kr_rules_meta *kr_rules_meta_compile(const struct kr_rules_set *set,
					    const char *expr, char *err,
					    size_t err_size);
void kr_rules_meta_free(struct kr_rules_meta *meta);
/* The rule indexes a meta names (with repeats), and whether a name
 * occurs only where a larger value can only raise the result. */
size_t kr_rules_meta_deps(const struct kr_rules_meta *meta,
			  const uint32_t **deps_r, const bool **positive_r);
/* Evaluates with counts[i] the hit count of rule i. */
double kr_rules_meta_eval(const struct kr_rules_meta *meta,
			  const uint32_t *counts);

/* rules_match.c */
struct kr_rules_matcher;
struct kr_rules_scan;

/* The text a message is matched against: antispam/filter.h's
 * struct kr_filter_text plus the raw message (for full and :raw). */
struct kr_rules_input {
	const char *headers; /* "Name: value\n", decoded and unfolded */
	size_t headers_len;
	const char *body, *rawbody, *uris, *raw;
	size_t body_len, rawbody_len, uris_len, raw_len;
	const char *envfrom; /* envelope sender, for EnvelopeFrom; "" none */
};
/* Header fields of one message looked at; later ones are ignored. */
#define KR_RULES_SCAN_HEADERS_MAX 1000u

/* Compiles the loaded rules of set (which must outlive it). Regexes
 * PCRE2 accepts but no Hyperscan database takes are matched with
 * PCRE2 alone. With cache_dir (kr_rules_cache_dir; NULL: none) the
 * databases are loaded from there when an earlier build of the same
 * rules left them, and left there otherwise. NULL with err when a
 * database cannot be built. */
/* A pattern over the cost budget (RULES_COST_BUDGET_US per 4 KiB of
 * ordinary text) is skipped in set ("too slow: ..."), with the metas
 * that cannot run without it. */
struct kr_rules_matcher *kr_rules_matcher_create(struct kr_rules_set *set,
						 const char *cache_dir,
						 char *err, size_t err_size);
/* Whether m's databases came from the cache. */
bool kr_rules_matcher_cached(const struct kr_rules_matcher *m);
/* The cache directory of this user ($TMPDIR or /var/tmp, then
 * kurier-rules-UID, mode 0700, ours, no symlink): 0 with its path, or
 * -1 with err when it cannot be used safely. */
int kr_rules_cache_dir(char *path, size_t size, char *err, size_t err_size);
void kr_rules_matcher_destroy(struct kr_rules_matcher **m);

/* A scan state for one thread; NULL with err (Hyperscan scratch). */
struct kr_rules_scan *kr_rules_scan_create(const struct kr_rules_matcher *m,
					   char *err, size_t err_size);
void kr_rules_scan_destroy(struct kr_rules_scan **scan);

/* Matches in and evaluates the metas. Afterwards counts_r[i] is the hit
 * count of rule i (borrowed until the next run). 0, or -1 when
 * Hyperscan failed (then nothing hit). */
int kr_rules_scan_run(struct kr_rules_scan *scan,
		      const struct kr_rules_input *in,
		      const uint32_t **counts_r);

#endif
