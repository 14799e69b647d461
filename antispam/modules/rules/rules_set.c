/* The rule set: names, and what is resolved once every file is read
 * (replace_tag, default scores, regex compilation, metas). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/modules/rules/rules_int.h"

void *
kr_rules_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort(); /* STYLE.md §4: allocation failure ends the worker */
	return p;
}

void *
kr_rules_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		abort();
	return q;
}

char *
kr_rules_xstrndup(const char *s, size_t n)
{
	char *d = kr_rules_xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

struct kr_rules_set *
kr_rules_set_create(void)
{
	struct kr_rules_set *set = kr_rules_xmalloc(sizeof(*set));

	memset(set, 0, sizeof(*set));
	set->hash_cap = 1024;
	set->hash = calloc(set->hash_cap, sizeof(*set->hash));
	if (set->hash == NULL)
		abort();
	return set;
}

static void
rule_free(struct kr_rules_rule *r)
{
	free(r->name);
	free(r->reason);
	free(r->describe);
	free(r->re);
	free(r->hdr);
	free(r->if_unset);
	free(r->expr);
	kr_rules_meta_free(r->meta);
	pcre2_code_free(r->pcre);
}

void
kr_rules_set_destroy(struct kr_rules_set **setp)
{
	struct kr_rules_set *set = *setp;

	if (set == NULL)
		return;
	*setp = NULL;
	for (size_t i = 0; i < set->n; i++)
		rule_free(&set->rules[i]);
	for (size_t i = 0; i < set->n_files; i++)
		free(set->files[i]);
	for (size_t i = 0; i < set->n_tags; i++) {
		free(set->tags[i].name);
		free(set->tags[i].value);
	}
	for (size_t i = 0; i < set->n_notes; i++)
		free(set->notes[i].text);
	free(set->rules);
	free(set->hash);
	free(set->files);
	free(set->tags);
	free(set->notes);
	free(set->meta_order);
	free(set);
}

/* FNV-1a: names are short and trusted enough (the operator's files). */
static uint32_t
name_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static size_t
hash_slot(const struct kr_rules_set *set, const char *name, size_t len)
{
	size_t mask = set->hash_cap - 1;
	size_t i = name_hash(name, len) & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t v = set->hash[i];

		if (v == 0)
			return i;
		const char *n = set->rules[v - 1].name;
		if (strncmp(n, name, len) == 0 && n[len] == '\0')
			return i;
	}
}

static void
hash_grow(struct kr_rules_set *set)
{
	uint32_t *old = set->hash;
	size_t old_cap = set->hash_cap;

	set->hash_cap *= 2;
	set->hash = calloc(set->hash_cap, sizeof(*set->hash));
	if (set->hash == NULL)
		abort();
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i] == 0)
			continue;
		const char *n = set->rules[old[i] - 1].name;
		set->hash[hash_slot(set, n, strlen(n))] = old[i];
	}
	free(old);
}

struct kr_rules_rule *
kr_rules_set_intern(struct kr_rules_set *set, const char *name, size_t len)
{
	size_t slot = hash_slot(set, name, len);

	if (set->hash[slot] != 0)
		return &set->rules[set->hash[slot] - 1];
	if (set->n >= KR_RULES_MAX)
		return NULL;
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 256;
		set->rules = kr_rules_xrealloc(set->rules,
					       set->cap * sizeof(*set->rules));
	}
	struct kr_rules_rule *r = &set->rules[set->n];
	memset(r, 0, sizeof(*r));
	r->name = kr_rules_xstrndup(name, len);
	set->hash[slot] = (uint32_t)++set->n;
	if (set->n * 2 > set->hash_cap)
		hash_grow(set);
	return r;
}

unsigned
kr_rules_set_file_add(struct kr_rules_set *set, const char *name)
{
	set->files = kr_rules_xrealloc(set->files, (set->n_files + 1) *
							   sizeof(*set->files));
	set->files[set->n_files] = kr_rules_xstrndup(name, strlen(name));
	return (unsigned)set->n_files++;
}

void
kr_rules_set_tag_add(struct kr_rules_set *set, enum kr_rules_tag_kind kind,
		     const char *name, size_t name_len, const char *value)
{
	/* A later definition wins, as in SA. */
	for (size_t i = 0; i < set->n_tags; i++) {
		struct kr_rules_tag *t = &set->tags[i];

		if (t->kind == kind && strncmp(t->name, name, name_len) == 0 &&
		    t->name[name_len] == '\0') {
			free(t->value);
			t->value = kr_rules_xstrndup(value, strlen(value));
			return;
		}
	}
	if (set->n_tags == set->cap_tags) {
		set->cap_tags = set->cap_tags ? set->cap_tags * 2 : 64;
		set->tags = kr_rules_xrealloc(
			set->tags, set->cap_tags * sizeof(*set->tags));
	}
	set->tags[set->n_tags++] = (struct kr_rules_tag){
		.kind = kind,
		.name = kr_rules_xstrndup(name, name_len),
		.value = kr_rules_xstrndup(value, strlen(value)),
	};
}

void
kr_rules_set_note(struct kr_rules_set *set, unsigned file, unsigned line,
		  const char *text)
{
	if (set->n_notes == set->cap_notes) {
		set->cap_notes = set->cap_notes ? set->cap_notes * 2 : 16;
		set->notes = kr_rules_xrealloc(
			set->notes, set->cap_notes * sizeof(*set->notes));
	}
	set->notes[set->n_notes++] = (struct kr_rules_note){
		.file = file,
		.line = line,
		.text = kr_rules_xstrndup(text, strlen(text)),
	};
}

void
kr_rules_rule_skip(struct kr_rules_rule *rule, const char *reason)
{
	rule->loaded = false;
	if (rule->reason == NULL)
		rule->reason = kr_rules_xstrndup(reason, strlen(reason));
}

size_t
kr_rules_set_count(const struct kr_rules_set *set)
{
	return set->n;
}

const struct kr_rules_rule *
kr_rules_set_get(const struct kr_rules_set *set, size_t i)
{
	return i < set->n ? &set->rules[i] : NULL;
}

const struct kr_rules_rule *
kr_rules_set_find(const struct kr_rules_set *set, const char *name)
{
	size_t slot = hash_slot(set, name, strlen(name));

	return set->hash[slot] ? &set->rules[set->hash[slot] - 1] : NULL;
}

size_t
kr_rules_set_index(const struct kr_rules_set *set,
		   const struct kr_rules_rule *rule)
{
	return (size_t)(rule - set->rules);
}

size_t
kr_rules_set_files(const struct kr_rules_set *set)
{
	return set->n_files;
}

const char *
kr_rules_set_file(const struct kr_rules_set *set, size_t i)
{
	return i < set->n_files ? set->files[i] : "?";
}

size_t
kr_rules_set_notes(const struct kr_rules_set *set,
		   const struct kr_rules_note **notes_r)
{
	*notes_r = set->notes;
	return set->n_notes;
}

size_t
kr_rules_set_metas(const struct kr_rules_set *set, const uint32_t **order_r)
{
	*order_r = set->meta_order;
	return set->n_meta_order;
}

/* ---- finishing ---- */

static const struct kr_rules_tag *
tag_find(const struct kr_rules_set *set, enum kr_rules_tag_kind kind,
	 const char *name, size_t len)
{
	for (size_t i = 0; i < set->n_tags; i++) {
		const struct kr_rules_tag *t = &set->tags[i];

		if (t->kind == kind && strncmp(t->name, name, len) == 0 &&
		    t->name[len] == '\0')
			return t;
	}
	return NULL;
}

struct tag_buf {
	char *p;
	size_t len;
	bool over;
};

static void
tag_put(struct tag_buf *b, const char *s, size_t n)
{
	if (b->over || b->len + n >= KR_RULES_REGEX_EXPANDED_MAX) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Which kind a "<...>" directive names ("pre X", "inter X", "post X"),
 * with the name after the word; KR_RULES_TAG for a plain tag. */
static enum kr_rules_tag_kind
tag_parse(const char *s, size_t len, const char **name_r, size_t *nlen_r)
{
	static const struct {
		const char *word;
		enum kr_rules_tag_kind kind;
	} words[] = { { "pre ", KR_RULES_TAG_PRE },
		      { "inter ", KR_RULES_TAG_INTER },
		      { "post ", KR_RULES_TAG_POST } };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t wl = strlen(words[i].word);

		if (len > wl && memcmp(s, words[i].word, wl) == 0) {
			*name_r = s + wl;
			*nlen_r = len - wl;
			return words[i].kind;
		}
	}
	*name_r = s;
	*nlen_r = len;
	return KR_RULES_TAG;
}

/* Appends text with its plain "<T>" tags replaced (a tag's value may
 * hold tags: SA expands those too), depth bounded. */
static void
tags_put_plain(const struct kr_rules_set *set, struct tag_buf *b, const char *s,
	       unsigned depth)
{
	while (*s != '\0' && !b->over) {
		const char *end = *s == '<' ? strchr(s + 1, '>') : NULL;
		const struct kr_rules_tag *t = NULL;

		if (end != NULL && depth < 4)
			t = tag_find(set, KR_RULES_TAG, s + 1,
				     (size_t)(end - s - 1));
		/* cppcheck-suppress knownConditionTrueFalse ; tag_find may
		 * find one */
		if (t != NULL) {
			tags_put_plain(set, b, t->value, depth + 1);
			s = end + 1;
		} else
			tag_put(b, s++, 1);
	}
}

/* SA's ReplaceTags: "<pre X>", "<inter X>" and "<post X>" set what goes
 * before each tag, between two adjacent tags and after each tag;
 * "<T>" is replaced by replace_tag T. Unknown "<...>" stays as is. */
static int
tags_expand(const struct kr_rules_set *set, struct kr_rules_rule *r)
{
	const char *pre = "", *inter = "", *post = "";
	struct tag_buf b = { .p = kr_rules_xmalloc(
				     KR_RULES_REGEX_EXPANDED_MAX) };
	const char *s = r->re;
	bool last_was_tag = false;

	while (*s != '\0') {
		const char *end = *s == '<' ? strchr(s + 1, '>') : NULL;
		const struct kr_rules_tag *t = NULL;
		enum kr_rules_tag_kind k = KR_RULES_TAG;
		const char *name;
		size_t nlen;

		if (end != NULL && end > s + 1) {
			k = tag_parse(s + 1, (size_t)(end - s - 1), &name,
				      &nlen);
			t = tag_find(set, k, name, nlen);
		}
		/* cppcheck-suppress knownConditionTrueFalse ; tag_find may
		 * find one */
		if (t == NULL) {
			tag_put(&b, s++, 1);
			last_was_tag = false;
			continue;
		}
		s = end + 1;
		if (k == KR_RULES_TAG_PRE)
			pre = t->value;
		else if (k == KR_RULES_TAG_INTER)
			inter = t->value;
		else if (k == KR_RULES_TAG_POST)
			post = t->value;
		else {
			if (last_was_tag)
				tag_put(&b, inter, strlen(inter));
			tag_put(&b, pre, strlen(pre));
			tags_put_plain(set, &b, t->value, 1);
			tag_put(&b, post, strlen(post));
			last_was_tag = true;
		}
	}
	if (b.over) {
		free(b.p);
		kr_rules_rule_skip(r, "regex over KR_RULES_REGEX_EXPANDED_MAX "
				      "after replace_tag");
		return -1;
	}
	free(r->re);
	r->re = kr_rules_xstrndup(b.p, b.len);
	free(b.p);
	return 0;
}

static void
regex_compile(struct kr_rules_rule *r)
{
	uint32_t opts = 0;
	int code;
	PCRE2_SIZE off;
	char msg[160], why[256];

	if (r->re_flags & KR_RULES_RE_I)
		opts |= PCRE2_CASELESS;
	if (r->re_flags & KR_RULES_RE_S)
		opts |= PCRE2_DOTALL;
	if (r->re_flags & KR_RULES_RE_M)
		opts |= PCRE2_MULTILINE;
	if (r->re_flags & KR_RULES_RE_X)
		opts |= PCRE2_EXTENDED;
	r->pcre = pcre2_compile((PCRE2_SPTR)r->re, PCRE2_ZERO_TERMINATED, opts,
				&code, &off, NULL);
	if (r->pcre != NULL)
		return;
	pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
	snprintf(why, sizeof(why), "regex refused by PCRE2: %s at offset %zu",
		 msg, (size_t)off);
	kr_rules_rule_skip(r, why);
}

static void
finish_regex_rules(struct kr_rules_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		struct kr_rules_rule *r = &set->rules[i];

		if (!r->loaded || r->kind == KR_RULES_META)
			continue;
		if (r->tflags & KR_RULES_TF_NET) {
			kr_rules_rule_skip(r, "tflags net: no network tests");
			continue;
		}
		if (r->hdr_mode == KR_RULES_HDR_EXISTS &&
		    r->kind == KR_RULES_HEADER)
			continue;
		if (r->replace && tags_expand(set, r) < 0)
			continue;
		regex_compile(r);
	}
}

static void
finish_scores(struct kr_rules_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		struct kr_rules_rule *r = &set->rules[i];

		/* SA: __ rules are sub-rules that never score; without a
		 * score line a rule scores 1.0, a T_ (testing) rule 0.01. */
		if (strncmp(r->name, "__", 2) == 0)
			r->score = 0;
		else if (!r->has_score)
			r->score = strncmp(r->name, "T_", 2) == 0 ? 0.01 : 1.0;
	}
}

/* Skips the metas that name a rule that cannot run where its absence
 * could make the meta hit; repeats until nothing changes, since a
 * skipped meta is such a rule for the metas naming it. */
static void
finish_meta_deps(struct kr_rules_set *set)
{
	bool changed = true;

	while (changed) {
		changed = false;
		for (size_t i = 0; i < set->n; i++) {
			struct kr_rules_rule *r = &set->rules[i];
			const uint32_t *deps;
			const bool *pos;
			size_t n;

			if (!r->loaded || r->kind != KR_RULES_META)
				continue;
			n = kr_rules_meta_deps(r->meta, &deps, &pos);
			for (size_t j = 0; j < n; j++) {
				const struct kr_rules_rule *d =
					deps[j] == UINT32_MAX
						? NULL
						: &set->rules[deps[j]];
				char why[KR_RULES_NAME_MAX + 64];

				if ((d != NULL && d->loaded) || pos[j])
					continue;
				snprintf(why, sizeof(why),
					 "meta needs %s, which is %s",
					 d ? d->name : "?",
					 d && d->defined ? "skipped"
							 : "not defined");
				kr_rules_rule_skip(r, why);
				changed = true;
				break;
			}
		}
	}
}

enum {
	MARK_NONE,
	MARK_ACTIVE,
	MARK_DONE
};

/* Depth-first post-order of the metas; a cycle skips the meta that
 * closes it. The depth is bounded by the number of metas. */
static void
meta_visit(struct kr_rules_set *set, uint32_t i, unsigned char *mark)
{
	struct kr_rules_rule *r = &set->rules[i];
	const uint32_t *deps;
	const bool *pos;
	size_t n;

	if (mark[i] == MARK_DONE)
		return;
	if (mark[i] == MARK_ACTIVE) {
		kr_rules_rule_skip(r, "meta is part of a cycle");
		return;
	}
	mark[i] = MARK_ACTIVE;
	n = kr_rules_meta_deps(r->meta, &deps, &pos);
	for (size_t j = 0; j < n; j++) {
		if (deps[j] == UINT32_MAX)
			continue;
		const struct kr_rules_rule *d = &set->rules[deps[j]];
		if (d->loaded && d->kind == KR_RULES_META)
			meta_visit(set, deps[j], mark);
	}
	mark[i] = MARK_DONE;
	if (r->loaded)
		set->meta_order[set->n_meta_order++] = i;
}

static void
finish_meta_order(struct kr_rules_set *set)
{
	unsigned char *mark = calloc(set->n ? set->n : 1, 1);

	if (mark == NULL)
		abort();
	set->meta_order = kr_rules_xmalloc(set->n * sizeof(uint32_t));
	for (size_t i = 0; i < set->n; i++) {
		if (set->rules[i].loaded && set->rules[i].kind == KR_RULES_META)
			meta_visit(set, (uint32_t)i, mark);
	}
	free(mark);
}

/* A rule runs when it scores or a running meta needs it; metas are
 * walked from the last in order so a meta is marked before its deps. */
static void
finish_needed(struct kr_rules_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		struct kr_rules_rule *r = &set->rules[i];

		r->needed = r->loaded && r->score != 0;
	}
	for (size_t k = set->n_meta_order; k-- > 0;) {
		struct kr_rules_rule *r = &set->rules[set->meta_order[k]];
		const uint32_t *deps;
		const bool *pos;
		size_t n;

		if (!r->needed)
			continue;
		n = kr_rules_meta_deps(r->meta, &deps, &pos);
		for (size_t j = 0; j < n; j++) {
			if (deps[j] != UINT32_MAX && set->rules[deps[j]].loaded)
				set->rules[deps[j]].needed = true;
		}
	}
}

int
kr_rules_set_finish(struct kr_rules_set *set, char *err, size_t err_size)
{
	if (set->finished) {
		snprintf(err, err_size, "rule set finished twice");
		return -1;
	}
	set->finished = true;
	finish_regex_rules(set);
	finish_scores(set);
	for (size_t i = 0; i < set->n; i++) {
		struct kr_rules_rule *r = &set->rules[i];
		char why[256];

		if (!r->loaded || r->kind != KR_RULES_META)
			continue;
		r->meta = kr_rules_meta_compile(set, r->expr, why, sizeof(why));
		if (r->meta == NULL)
			kr_rules_rule_skip(r, why);
	}
	finish_meta_deps(set);
	finish_meta_order(set);
	finish_needed(set);
	return 0;
}

void
kr_rules_set_skip_late(struct kr_rules_set *set, size_t i, const char *reason)
{
	if (i >= set->n)
		return;
	kr_rules_rule_skip(&set->rules[i], reason);
	finish_meta_deps(set);
	finish_needed(set);
}
