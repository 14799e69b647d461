/* The rule set's insides, shared by rules_set.c (names, finishing) and
 * rules_parse.c (the .cf reader). Not for users of the engine. */
#ifndef KR_RULES_INT_H
#define KR_RULES_INT_H

#include "antispam/modules/rules/rules.h"

enum kr_rules_tag_kind {
	KR_RULES_TAG,
	KR_RULES_TAG_PRE,
	KR_RULES_TAG_INTER,
	KR_RULES_TAG_POST,
};

struct kr_rules_tag {
	enum kr_rules_tag_kind kind;
	char *name;
	char *value;
};

struct kr_rules_set {
	struct kr_rules_rule *rules;
	size_t n, cap;
	uint32_t *hash; /* index + 1 of a rule by name; 0: empty */
	size_t hash_cap;
	char **files;
	size_t n_files;
	struct kr_rules_tag *tags;
	size_t n_tags, cap_tags;
	struct kr_rules_note *notes;
	size_t n_notes, cap_notes;
	uint32_t *meta_order;
	size_t n_meta_order;
	bool finished;
};

/* The rule named name (len bytes), created empty when new; NULL when
 * the set is full. */
struct kr_rules_rule *kr_rules_set_intern(struct kr_rules_set *set,
					  const char *name, size_t len);
/* Remembers a file name; returns its index. */
unsigned kr_rules_set_file_add(struct kr_rules_set *set, const char *name);
void kr_rules_set_tag_add(struct kr_rules_set *set, enum kr_rules_tag_kind kind,
			  const char *name, size_t name_len, const char *value);
void kr_rules_set_note(struct kr_rules_set *set, unsigned file, unsigned line,
		       const char *text);
/* Marks rule skipped with a copy of reason (the first reason stays). */
void kr_rules_rule_skip(struct kr_rules_rule *rule, const char *reason);

void *kr_rules_xmalloc(size_t n);
void *kr_rules_xrealloc(void *p, size_t n);
char *kr_rules_xstrndup(const char *s, size_t n);

#endif
