/* The matcher's insides, shared by rules_match.c (groups, Hyperscan,
 * PCRE2) and rules_hdr.c (a message's header fields). */
#ifndef KR_RULES_MATCH_H
#define KR_RULES_MATCH_H

#include <hs/hs.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "antispam/modules/rules/rules.h"

enum rules_pat_mode {
	RULES_PAT_HS,	   /* Hyperscan's report is the hit */
	RULES_PAT_CONFIRM, /* Hyperscan says maybe; PCRE2 decides/counts */
	RULES_PAT_PCRE,	   /* PCRE2 alone, on every text of the group */
	RULES_PAT_MODE_N,
};

struct rules_pat {
	uint32_t rule;
	enum rules_pat_mode mode;
	unsigned hs_flags;
	unsigned db; /* which of the group's databases */
};

/* Hyperscan's compile time grows faster than the patterns of one
 * database: long or relaxed patterns go into databases of at most
 * RULES_DB_CHUNK bytes of pattern text each, the rest into the first.
 * Each database is one more pass over the text. */
#define RULES_DB_MAX 16u
#define RULES_DB_CHUNK 12000u
#define RULES_DB_HEAVY 600u

/* The first groups are the texts; header groups follow. */
enum {
	RULES_GROUP_BODY,
	RULES_GROUP_RAWBODY,
	RULES_GROUP_URI,
	RULES_GROUP_FULL,
	RULES_GROUP_HDR0,
};

struct rules_group {
	struct rules_pat *pats;
	size_t n, cap;
	hs_database_t *db[RULES_DB_MAX];
	unsigned n_db;
	/* header groups */
	const char *hdr; /* borrowed from the set's rule */
	enum kr_rules_hdr_mode hdr_mode;
	uint32_t target;
	uint32_t *absent; /* rules that hit when the header is missing */
	size_t n_absent;
};

/* Which fields a header rule's name means. */
enum rules_target_kind {
	RULES_TARGET_NAMES, /* the fields named (ToCc: To and Cc) */
	RULES_TARGET_ALL,
	RULES_TARGET_ENVFROM,
};

struct rules_target {
	char *spec;
	enum rules_target_kind kind;
	uint32_t names[3];
	unsigned n_names;
};

struct rules_hdr_targets {
	char **names; /* lower-case field names */
	size_t n_names;
	uint32_t *table; /* name index + 1 by hash; 0: empty */
	size_t table_cap;
	struct rules_target *targets;
	size_t n_targets;
};

struct rules_hdr_inst {
	const char *v;
	size_t len;
	uint32_t next;
};

struct rules_hdr_scan {
	struct rules_hdr_inst *inst; /* decoded, then raw fields */
	size_t n_inst;
	uint32_t *head, *tail;	 /* decoded, per name */
	uint32_t *rhead, *rtail; /* raw, per name */
	const char *raw_block;	 /* the raw header block */
	size_t raw_block_len;
	char *buf;
	size_t cap;
};

struct rules_exists {
	uint32_t rule, target;
};

/* A rule the cost budget skipped (rules_cost.c). */
struct rules_slow {
	uint32_t rule;
	uint32_t us;	 /* per 4 KiB */
	uint32_t engine; /* 0: PCRE2, 1: Hyperscan */
};

/* Per 4 KiB of ordinary text; a 4 KiB message at 20 000 msgs/s has
 * 50 us for everything. */
#define RULES_COST_BUDGET_US 30u
#define RULES_COST_TEXT 4096u

struct kr_rules_matcher {
	const struct kr_rules_set *set;
	struct rules_slow *slow;
	size_t n_slow;
	size_t n_rules;
	const uint32_t *metas;
	size_t n_metas;
	struct rules_group *groups;
	size_t n_groups, cap_groups, max_group;
	struct rules_exists *exists;
	size_t n_exists;
	struct rules_hdr_targets hdrs;
	bool need_raw;
	bool cached; /* the databases came from the cache */
	size_t n_mode[RULES_PAT_MODE_N];
};

struct kr_rules_scan {
	const struct kr_rules_matcher *m;
	hs_scratch_t *scratch;
	uint32_t *counts;
	uint32_t *cand;
	size_t n_cand;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	struct rules_hdr_scan hs;
};

/* Target index of a header rule's name (ALL, ToCc, MESSAGEID,
 * EnvelopeFrom or a field name), added when new. */
uint32_t kr_rules_hdr_target(struct rules_hdr_targets *t, const char *spec);
void kr_rules_hdr_targets_free(struct rules_hdr_targets *t);
void kr_rules_hdr_scan_init(struct rules_hdr_scan *hs,
			    const struct rules_hdr_targets *t);
void kr_rules_hdr_scan_deinit(struct rules_hdr_scan *hs);
/* Runs every header group and exists: rule over in's fields. */
int kr_rules_hdr_scan(struct kr_rules_scan *s, const struct kr_rules_input *in);
/* Runs group g over text into s->counts. -1 when Hyperscan failed. */
int kr_rules_scan_group(struct kr_rules_scan *s, const struct rules_group *g,
			const char *text, size_t len);
/* rules_cost.c: the synthetic text (size - 1 bytes at most, NUL
 * ended) and a pattern's cost on it in microseconds (-1: Hyperscan
 * does not compile it alone). */
void kr_rules_cost_text(char *buf, size_t size);
double kr_rules_cost_pcre(const struct kr_rules_rule *r, const char *text,
			  size_t len, pcre2_match_data *md,
			  pcre2_match_context *mctx);
double kr_rules_cost_hs(const char *expr, unsigned flags, const char *text,
			size_t len);
/* Skips m's slow rules in set, then groups the needed rules again. */
void kr_rules_matcher_apply_slow(struct kr_rules_matcher *m,
				 struct kr_rules_set *set);
/* Patterns per mode, and groups, for logs and the CLI. */
void kr_rules_matcher_stats(const struct kr_rules_matcher *m, size_t *hs_r,
			    size_t *confirm_r, size_t *pcre_r,
			    size_t *groups_r);

#endif
