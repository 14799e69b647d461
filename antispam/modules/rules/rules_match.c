/* The matcher: the needed rules of a set grouped by the text they look
 * at (body, rawbody, uri, full, and one group per header and mode), one
 * Hyperscan block-mode database per group. A pattern Hyperscan takes
 * exactly reports its rule directly; one it only approximates
 * (HS_FLAG_PREFILTER: lookarounds, backreferences, atomic groups) and
 * every tflags multiple rule (Hyperscan reports every end offset, Perl
 * counts non-overlapping matches) are confirmed or counted with PCRE2
 * JIT when the database says they may match; a pattern no database
 * takes runs with PCRE2 on every message of its group. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/modules/rules/rules_cache.h"
#include "antispam/modules/rules/rules_int.h"
#include "antispam/modules/rules/rules_match.h"

/* Bounds on PCRE2's backtracking per match: a rule written badly costs
 * at most this, not the worker. */
#define RULES_PCRE_MATCH_LIMIT 200000u
#define RULES_PCRE_DEPTH_LIMIT 5000u
/* hs_compile_multi is retried after moving the pattern it names to a
 * slower mode this many times at most. */
#define RULES_HS_RETRIES 64

static void
group_add(struct rules_group *g, uint32_t rule)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 8;
		g->pats = kr_rules_xrealloc(g->pats, g->cap * sizeof(*g->pats));
	}
	g->pats[g->n++] = (struct rules_pat){ .rule = rule };
}

static unsigned
pat_flags(const struct kr_rules_rule *r)
{
	unsigned f = HS_FLAG_SINGLEMATCH;

	if (r->re_flags & KR_RULES_RE_I)
		f |= HS_FLAG_CASELESS;
	if (r->re_flags & KR_RULES_RE_S)
		f |= HS_FLAG_DOTALL;
	if (r->re_flags & KR_RULES_RE_M)
		f |= HS_FLAG_MULTILINE;
	return f;
}

/* Hyperscan's compile time explodes on counted repeats ({1,100}
 * inside {5} takes it tens of seconds); at or above this bound a
 * pattern goes to Hyperscan relaxed (every counted repeat made * or +:
 * a superset) and PCRE2 confirms. */
#define RULES_RELAX_REPEAT 10u

/* The counted repeat at s ("{n}", "{n,}", "{n,m}"): its upper bound
 * (UINT32_MAX when none) and length; 0 when s is a literal brace. */
static size_t
repeat_parse(const char *s, unsigned long *lo_r, unsigned long *hi_r)
{
	char *end;
	const char *q;

	if (*s != '{' || !isdigit((unsigned char)s[1]))
		return 0;
	*lo_r = strtoul(s + 1, &end, 10);
	*hi_r = *lo_r;
	q = end;
	if (*q == ',') {
		q++;
		*hi_r = UINT32_MAX;
		if (isdigit((unsigned char)*q)) {
			*hi_r = strtoul(q, &end, 10);
			q = end;
		}
	}
	return *q == '}' ? (size_t)(q - s + 1) : 0;
}

/* Calls fn for each counted repeat outside classes and escapes; false
 * when the pattern has what this walk does not follow (\Q). */
static bool
repeat_walk(const char *re, char *out, bool *big_r)
{
	size_t o = 0;
	bool in_class = false;

	for (const char *s = re; *s != '\0';) {
		unsigned long lo, hi;
		size_t n;

		if (*s == '\\') {
			if (s[1] == 'Q')
				return false;
			n = s[1] == '\0' ? 1 : 2;
			/* \x{..} \p{..} \g{..}: the braces are no repeat */
			if (s[1] != '\0' && s[2] == '{' && strchr(s + 2, '}'))
				n = (size_t)(strchr(s + 2, '}') - s) + 1;
		} else if (in_class) {
			n = 1;
			if (*s == ']')
				in_class = false;
		} else if (*s == '[') {
			in_class = true;
			n = 1;
			if (s[1] == '^')
				n++;
			if (s[n] == ']')
				n++; /* a leading ] is a member */
		} else if ((n = repeat_parse(s, &lo, &hi)) > 0) {
			if (hi >= RULES_RELAX_REPEAT)
				*big_r = true;
			if (out != NULL) {
				out[o++] = lo == 0 ? '*' : '+';
				s += n;
				continue;
			}
		} else
			n = 1;
		if (out != NULL)
			memcpy(out + o, s, n);
		o += n;
		s += n;
	}
	if (out != NULL)
		out[o] = '\0';
	return true;
}

/* The pattern as Hyperscan reads it: relaxed when *relax_r (see
 * RULES_RELAX_REPEAT); /x has no flag there, only the inline (?x). */
static char *
pat_text(const struct kr_rules_rule *r, bool *relax_r)
{
	size_t n = strlen(r->re);
	char *s = kr_rules_xmalloc(n + 5);
	size_t o = 0;
	bool big = false;

	if (r->re_flags & KR_RULES_RE_X) {
		memcpy(s, "(?x)", 4);
		o = 4;
	}
	*relax_r = repeat_walk(r->re, NULL, &big) && big;
	if (*relax_r)
		repeat_walk(r->re, s + o, &big);
	else
		memcpy(s + o, r->re, n + 1);
	return s;
}

static bool
hs_takes(const char *expr, unsigned flags)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *cerr = NULL;

	if (hs_expression_info(expr, flags, &info, &cerr) != HS_SUCCESS) {
		hs_free_compile_error(cerr);
		return false;
	}
	free(info);
	return true;
}

static void
pat_classify(struct rules_pat *p, const struct kr_rules_rule *r)
{
	bool relax;
	char *expr = pat_text(r, &relax);
	unsigned f = pat_flags(r);

	if (!relax && hs_takes(expr, f)) {
		p->mode = (r->tflags & KR_RULES_TF_MULTIPLE) ? RULES_PAT_CONFIRM
							     : RULES_PAT_HS;
		p->hs_flags = f;
	} else if (hs_takes(expr, f | HS_FLAG_PREFILTER)) {
		p->mode = RULES_PAT_CONFIRM;
		p->hs_flags = f | HS_FLAG_PREFILTER;
	} else
		p->mode = RULES_PAT_PCRE;
	free(expr);
}

/* A pattern hs_compile_multi refused goes one mode down. */
static void
pat_demote(struct rules_pat *p)
{
	if (p->mode == RULES_PAT_HS || (p->mode == RULES_PAT_CONFIRM &&
					!(p->hs_flags & HS_FLAG_PREFILTER))) {
		p->mode = RULES_PAT_CONFIRM;
		p->hs_flags |= HS_FLAG_PREFILTER;
	} else
		p->mode = RULES_PAT_PCRE;
}

static int
group_db_try(struct rules_group *g, const struct kr_rules_set *set, unsigned db,
	     int *bad_r, char *err, size_t err_size)
{
	const char **exprs = kr_rules_xmalloc(g->n * sizeof(*exprs));
	unsigned *flags = kr_rules_xmalloc(g->n * sizeof(*flags));
	unsigned *ids = kr_rules_xmalloc(g->n * sizeof(*ids));
	hs_compile_error_t *cerr = NULL;
	unsigned n = 0;
	int rc = 0;

	*bad_r = -1;
	for (size_t i = 0; i < g->n; i++) {
		if (g->pats[i].mode == RULES_PAT_PCRE || g->pats[i].db != db)
			continue;
		bool relax;

		exprs[n] = pat_text(kr_rules_set_get(set, g->pats[i].rule),
				    &relax);
		flags[n] = g->pats[i].hs_flags;
		ids[n++] = (unsigned)i;
	}
	if (n > 0 && hs_compile_multi(exprs, flags, ids, n, HS_MODE_BLOCK, NULL,
				      &g->db[db], &cerr) != HS_SUCCESS) {
		if (cerr->expression >= 0)
			*bad_r = (int)ids[cerr->expression];
		else
			snprintf(err, err_size, "hyperscan: %s", cerr->message);
		hs_free_compile_error(cerr);
		g->db[db] = NULL;
		rc = -1;
	}
	for (unsigned i = 0; i < n; i++)
		free((char *)exprs[i]);
	free(exprs);
	free(flags);
	free(ids);
	return rc;
}

/* Classifies the patterns and spreads them over databases. */
static void
group_plan(struct rules_group *g, const struct kr_rules_set *set)
{
	size_t chunk = 0;

	g->n_db = 1;
	for (size_t i = 0; i < g->n; i++) {
		const struct kr_rules_rule *r =
			kr_rules_set_get(set, g->pats[i].rule);
		size_t len = strlen(r->re);
		bool relax;

		free(pat_text(r, &relax));
		pat_classify(&g->pats[i], r);
		if (g->pats[i].mode != RULES_PAT_HS)
			pcre2_jit_compile(r->pcre, PCRE2_JIT_COMPLETE);
		if (!relax && len < RULES_DB_HEAVY)
			continue;
		if (g->n_db == 1 ||
		    (chunk + len > RULES_DB_CHUNK && g->n_db < RULES_DB_MAX)) {
			g->n_db++;
			chunk = 0;
		}
		chunk += len;
		g->pats[i].db = g->n_db - 1;
	}
}

static int
group_compile_db(struct rules_group *g, const struct kr_rules_set *set,
		 unsigned db, char *err, size_t err_size)
{
	for (int tries = 0; tries < RULES_HS_RETRIES; tries++) {
		int bad;

		if (group_db_try(g, set, db, &bad, err, err_size) == 0)
			return 0;
		if (bad < 0)
			return -1;
		pat_demote(&g->pats[bad]);
		/* JIT on an already compiled pattern is a no-op. */
		pcre2_jit_compile(
			kr_rules_set_get(set, g->pats[bad].rule)->pcre,
			PCRE2_JIT_COMPLETE);
	}
	snprintf(err, err_size,
		 "hyperscan refused more than %d patterns of "
		 "one group",
		 RULES_HS_RETRIES);
	return -1;
}

/* ---- building ---- */

static struct rules_group *
matcher_group_new(struct kr_rules_matcher *m)
{
	if (m->n_groups == m->cap_groups) {
		m->cap_groups = m->cap_groups ? m->cap_groups * 2 : 16;
		m->groups = kr_rules_xrealloc(
			m->groups, m->cap_groups * sizeof(*m->groups));
	}
	struct rules_group *g = &m->groups[m->n_groups++];
	memset(g, 0, sizeof(*g));
	return g;
}

/* The group of a header rule: same name (ignoring case) and mode. */
static struct rules_group *
matcher_hdr_group(struct kr_rules_matcher *m, const struct kr_rules_rule *r)
{
	for (size_t i = RULES_GROUP_HDR0; i < m->n_groups; i++) {
		struct rules_group *g = &m->groups[i];

		if (g->hdr_mode == r->hdr_mode &&
		    strcasecmp(g->hdr, r->hdr) == 0)
			return g;
	}
	struct rules_group *g = matcher_group_new(m);
	g->hdr = r->hdr;
	g->hdr_mode = r->hdr_mode;
	g->target = kr_rules_hdr_target(&m->hdrs, r->hdr);
	if (r->hdr_mode == KR_RULES_HDR_RAW)
		m->need_raw = true;
	return g;
}

static void
matcher_exists(struct kr_rules_matcher *m, uint32_t rule,
	       const struct kr_rules_rule *r)
{
	m->exists = kr_rules_xrealloc(m->exists,
				      (m->n_exists + 1) * sizeof(*m->exists));
	m->exists[m->n_exists].rule = rule;
	m->exists[m->n_exists++].target = kr_rules_hdr_target(&m->hdrs, r->hdr);
}

static bool
pcre_hits(const struct kr_rules_rule *r, const char *s, size_t len,
	  pcre2_match_data *md)
{
	return pcre2_match(r->pcre, (PCRE2_SPTR)s, len, 0, 0, md, NULL) >= 0;
}

/* What a header group's rules say when the message lacks the header:
 * constant, so known here (SA matches "" or [if-unset: X]). */
static void
group_absent(struct rules_group *g, const struct kr_rules_set *set)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);

	g->absent = kr_rules_xmalloc(g->n * sizeof(*g->absent));
	for (size_t i = 0; i < g->n; i++) {
		const struct kr_rules_rule *r =
			kr_rules_set_get(set, g->pats[i].rule);
		const char *v = r->if_unset ? r->if_unset : "";

		if (pcre_hits(r, v, strlen(v), md) != r->negate)
			g->absent[g->n_absent++] = g->pats[i].rule;
	}
	pcre2_match_data_free(md);
}

static int
matcher_groups(struct kr_rules_matcher *m, const struct kr_rules_set *set)
{
	for (int k = 0; k < RULES_GROUP_HDR0; k++)
		matcher_group_new(m);
	for (size_t i = 0; i < kr_rules_set_count(set); i++) {
		const struct kr_rules_rule *r = kr_rules_set_get(set, i);

		if (!r->needed || r->kind == KR_RULES_META)
			continue;
		if (r->kind == KR_RULES_HEADER &&
		    r->hdr_mode == KR_RULES_HDR_EXISTS)
			matcher_exists(m, (uint32_t)i, r);
		else if (r->kind == KR_RULES_HEADER)
			group_add(matcher_hdr_group(m, r), (uint32_t)i);
		else
			group_add(&m->groups[r->kind == KR_RULES_BODY
						     ? RULES_GROUP_BODY
					     : r->kind == KR_RULES_RAWBODY
						     ? RULES_GROUP_RAWBODY
					     : r->kind == KR_RULES_URI
						     ? RULES_GROUP_URI
						     : RULES_GROUP_FULL],
				  (uint32_t)i);
	}
	return 0;
}

/* A cached matcher's PCRE2 patterns get the JIT group_plan gives them. */
static void
matcher_jit(struct kr_rules_matcher *m)
{
	for (size_t i = 0; i < m->n_groups; i++) {
		for (size_t j = 0; j < m->groups[i].n; j++) {
			if (m->groups[i].pats[j].mode != RULES_PAT_HS)
				pcre2_jit_compile(
					kr_rules_set_get(
						m->set,
						m->groups[i].pats[j].rule)
						->pcre,
					PCRE2_JIT_COMPLETE);
		}
	}
}

/* The rules over the cost budget (rules_cost.c) into m->slow. */
static void
matcher_cost(struct kr_rules_matcher *m)
{
	char *text = kr_rules_xmalloc(RULES_COST_TEXT + 1);
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	pcre2_match_context *mctx = pcre2_match_context_create(NULL);
	size_t len;

	if (md == NULL || mctx == NULL)
		abort();
	pcre2_set_match_limit(mctx, RULES_PCRE_MATCH_LIMIT);
	pcre2_set_depth_limit(mctx, RULES_PCRE_DEPTH_LIMIT);
	kr_rules_cost_text(text, RULES_COST_TEXT + 1);
	len = strlen(text);
	for (size_t i = 0; i < m->n_groups; i++) {
		const struct rules_group *g = &m->groups[i];

		for (size_t j = 0; j < g->n; j++) {
			const struct rules_pat *p = &g->pats[j];
			const struct kr_rules_rule *r =
				kr_rules_set_get(m->set, p->rule);
			double us = -1;
			uint32_t engine = 0;

			if (p->mode != RULES_PAT_HS)
				us = kr_rules_cost_pcre(r, text, len, md, mctx);
			if (us <= RULES_COST_BUDGET_US && p->db > 0 &&
			    p->mode != RULES_PAT_PCRE) {
				bool relax;
				char *expr = pat_text(r, &relax);

				us = kr_rules_cost_hs(expr, p->hs_flags, text,
						      len);
				engine = 1;
				free(expr);
			}
			if (us <= RULES_COST_BUDGET_US)
				continue;
			m->slow = kr_rules_xrealloc(
				m->slow, (m->n_slow + 1) * sizeof(*m->slow));
			m->slow[m->n_slow++] = (struct rules_slow){
				.rule = p->rule,
				.us = (uint32_t)us,
				.engine = engine,
			};
		}
	}
	pcre2_match_data_free(md);
	pcre2_match_context_free(mctx);
	free(text);
}

static void
matcher_groups_free(struct kr_rules_matcher *m)
{
	for (size_t i = 0; i < m->n_groups; i++) {
		for (unsigned k = 0; k < m->groups[i].n_db; k++)
			hs_free_database(m->groups[i].db[k]);
		free(m->groups[i].pats);
		free(m->groups[i].absent);
	}
	free(m->groups);
	free(m->exists);
	kr_rules_hdr_targets_free(&m->hdrs);
	m->groups = NULL;
	m->n_groups = m->cap_groups = 0;
	m->exists = NULL;
	m->n_exists = 0;
	memset(&m->hdrs, 0, sizeof(m->hdrs));
	m->need_raw = false;
}

void
kr_rules_matcher_apply_slow(struct kr_rules_matcher *m,
			    struct kr_rules_set *set)
{
	char why[96];

	if (m->n_slow == 0)
		return;
	for (size_t i = 0; i < m->n_slow; i++) {
		snprintf(why, sizeof(why),
			 "too slow: %u \xc2\xb5s per 4 KiB (%s; budget %u)",
			 m->slow[i].us,
			 m->slow[i].engine ? "Hyperscan" : "PCRE2",
			 RULES_COST_BUDGET_US);
		kr_rules_set_skip_late(set, m->slow[i].rule, why);
	}
	matcher_groups_free(m);
	matcher_groups(m, set);
}

static int
matcher_compile(struct kr_rules_matcher *m, struct kr_rules_set *set,
		const char *cache_dir, char *err, size_t err_size)
{
	uint8_t key[32];

	if (cache_dir != NULL) {
		kr_rules_cache_key(m, key);
		if (kr_rules_cache_load(m, set, cache_dir, key) == 0) {
			m->cached = true;
			matcher_jit(m);
			return 0;
		}
	}
	for (size_t i = 0; i < m->n_groups; i++)
		group_plan(&m->groups[i], set);
	matcher_cost(m);
	if (m->n_slow > 0) {
		kr_rules_matcher_apply_slow(m, set);
		for (size_t i = 0; i < m->n_groups; i++)
			group_plan(&m->groups[i], set);
	}
	for (size_t i = 0; i < m->n_groups; i++) {
		for (unsigned db = 0; db < m->groups[i].n_db; db++) {
			if (group_compile_db(&m->groups[i], set, db, err,
					     err_size) != 0)
				return -1;
		}
	}
	if (cache_dir != NULL)
		kr_rules_cache_save(m, cache_dir, key);
	return 0;
}

struct kr_rules_matcher *
kr_rules_matcher_create(struct kr_rules_set *set, const char *cache_dir,
			char *err, size_t err_size)
{
	struct kr_rules_matcher *m = kr_rules_xmalloc(sizeof(*m));

	memset(m, 0, sizeof(*m));
	m->set = set;
	m->n_rules = kr_rules_set_count(set);
	m->n_metas = kr_rules_set_metas(set, &m->metas);
	matcher_groups(m, set);
	if (matcher_compile(m, set, cache_dir, err, err_size) != 0) {
		kr_rules_matcher_destroy(&m);
		return NULL;
	}
	for (size_t i = 0; i < m->n_groups; i++) {
		struct rules_group *g = &m->groups[i];

		if (g->n > m->max_group)
			m->max_group = g->n;
		if (i >= RULES_GROUP_HDR0)
			group_absent(g, set);
		for (size_t j = 0; j < g->n; j++)
			m->n_mode[g->pats[j].mode]++;
	}
	return m;
}

bool
kr_rules_matcher_cached(const struct kr_rules_matcher *m)
{
	return m->cached;
}

void
kr_rules_matcher_destroy(struct kr_rules_matcher **mp)
{
	struct kr_rules_matcher *m = *mp;

	if (m == NULL)
		return;
	*mp = NULL;
	matcher_groups_free(m);
	free(m->slow);
	free(m);
}

void
kr_rules_matcher_stats(const struct kr_rules_matcher *m, size_t *hs_r,
		       size_t *confirm_r, size_t *pcre_r, size_t *groups_r)
{
	*hs_r = m->n_mode[RULES_PAT_HS];
	*confirm_r = m->n_mode[RULES_PAT_CONFIRM];
	*pcre_r = m->n_mode[RULES_PAT_PCRE];
	*groups_r = m->n_groups;
}

/* ---- scanning ---- */

struct kr_rules_scan *
kr_rules_scan_create(const struct kr_rules_matcher *m, char *err,
		     size_t err_size)
{
	struct kr_rules_scan *s = kr_rules_xmalloc(sizeof(*s));

	memset(s, 0, sizeof(*s));
	s->m = m;
	for (size_t i = 0; i < m->n_groups; i++) {
		for (unsigned k = 0; k < m->groups[i].n_db; k++) {
			if (m->groups[i].db[k] != NULL &&
			    hs_alloc_scratch(m->groups[i].db[k], &s->scratch) !=
				    HS_SUCCESS) {
				snprintf(err, err_size,
					 "hyperscan: no scratch");
				kr_rules_scan_destroy(&s);
				return NULL;
			}
		}
	}
	s->counts = calloc(m->n_rules ? m->n_rules : 1, sizeof(*s->counts));
	s->cand = kr_rules_xmalloc((m->max_group + 1) * sizeof(*s->cand));
	s->md = pcre2_match_data_create(1, NULL);
	s->mctx = pcre2_match_context_create(NULL);
	if (s->counts == NULL || s->md == NULL || s->mctx == NULL)
		abort();
	pcre2_set_match_limit(s->mctx, RULES_PCRE_MATCH_LIMIT);
	pcre2_set_depth_limit(s->mctx, RULES_PCRE_DEPTH_LIMIT);
	kr_rules_hdr_scan_init(&s->hs, &m->hdrs);
	return s;
}

void
kr_rules_scan_destroy(struct kr_rules_scan **sp)
{
	struct kr_rules_scan *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	hs_free_scratch(s->scratch);
	free(s->counts);
	free(s->cand);
	pcre2_match_data_free(s->md);
	pcre2_match_context_free(s->mctx);
	kr_rules_hdr_scan_deinit(&s->hs);
	free(s);
}

struct scan_ctx {
	struct kr_rules_scan *s;
	const struct rules_group *g;
};

static int
scan_on_match(unsigned id, unsigned long long from, unsigned long long to,
	      unsigned flags, void *arg)
{
	struct scan_ctx *c = arg;
	const struct rules_pat *p = &c->g->pats[id];

	(void)from;
	(void)to;
	(void)flags;
	if (p->mode == RULES_PAT_HS)
		c->s->counts[p->rule] = 1;
	else
		c->s->cand[c->s->n_cand++] = id;
	return 0; /* SINGLEMATCH: each id at most once */
}

/* Counts the matches of pattern p in text with PCRE2: 1 at most, or up
 * to maxhits for tflags multiple. */
static uint32_t
scan_pcre(struct kr_rules_scan *s, const struct kr_rules_rule *r,
	  const char *text, size_t len)
{
	uint32_t max = 1, n = 0;
	PCRE2_SIZE off = 0;

	if (r->tflags & KR_RULES_TF_MULTIPLE)
		max = r->maxhits ? r->maxhits : KR_RULES_MULTIPLE_MAX;
	while (n < max && off <= len) {
		if (pcre2_match(r->pcre, (PCRE2_SPTR)text, len, off, 0, s->md,
				s->mctx) < 0)
			break;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
		n++;
		off = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
	}
	return n;
}

int
kr_rules_scan_group(struct kr_rules_scan *s, const struct rules_group *g,
		    const char *text, size_t len)
{
	const struct kr_rules_set *set = s->m->set;
	struct scan_ctx c = { .s = s, .g = g };
	int rc = 0;

	s->n_cand = 0;
	for (unsigned k = 0; k < g->n_db; k++) {
		if (g->db[k] != NULL &&
		    hs_scan(g->db[k], len ? text : "", (unsigned)len, 0,
			    s->scratch, scan_on_match, &c) != HS_SUCCESS)
			rc = -1;
	}
	for (size_t i = 0; i < s->n_cand; i++) {
		const struct rules_pat *p = &g->pats[s->cand[i]];

		s->counts[p->rule] =
			scan_pcre(s, kr_rules_set_get(set, p->rule), text, len);
	}
	for (size_t i = 0; i < g->n; i++) {
		const struct rules_pat *p = &g->pats[i];
		const struct kr_rules_rule *r;

		if (p->mode == RULES_PAT_PCRE) {
			r = kr_rules_set_get(set, p->rule);
			s->counts[p->rule] = scan_pcre(s, r, text, len);
		}
		if (g->hdr != NULL) {
			r = kr_rules_set_get(set, p->rule);
			if (r->negate)
				s->counts[p->rule] = s->counts[p->rule] == 0;
		}
	}
	return rc;
}

static void
scan_metas(struct kr_rules_scan *s)
{
	const struct kr_rules_set *set = s->m->set;

	for (size_t i = 0; i < s->m->n_metas; i++) {
		uint32_t k = s->m->metas[i];
		const struct kr_rules_rule *r = kr_rules_set_get(set, k);

		if (r->needed)
			s->counts[k] =
				kr_rules_meta_eval(r->meta, s->counts) != 0;
	}
}

int
kr_rules_scan_run(struct kr_rules_scan *s, const struct kr_rules_input *in,
		  const uint32_t **counts_r)
{
	const struct kr_rules_matcher *m = s->m;
	static const int kinds[] = { RULES_GROUP_BODY, RULES_GROUP_RAWBODY,
				     RULES_GROUP_URI, RULES_GROUP_FULL };
	const char *texts[] = { in->body, in->rawbody, in->uris, in->raw };
	const size_t lens[] = { in->body_len, in->rawbody_len, in->uris_len,
				in->raw_len };
	int rc = 0;

	memset(s->counts, 0, m->n_rules * sizeof(*s->counts));
	for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++) {
		if (kr_rules_scan_group(s, &m->groups[kinds[k]], texts[k],
					lens[k]) != 0)
			rc = -1;
	}
	if (kr_rules_hdr_scan(s, in) != 0)
		rc = -1;
	if (rc != 0)
		memset(s->counts, 0, m->n_rules * sizeof(*s->counts));
	else
		scan_metas(s);
	*counts_r = s->counts;
	return rc;
}
