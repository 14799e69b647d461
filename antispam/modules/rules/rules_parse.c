/* The reader of SpamAssassin .cf files: lines, conditionals and the
 * directives that define or describe rules. What it cannot run is kept
 * as a skipped rule with a reason; only a malformed or oversized file
 * is an error (naming file:line). */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "antispam/modules/rules/rules_int.h"

/* One level of if/ifplugin: whether its lines count, and why not. */
struct cond {
	bool active;
	char why[160];
};

struct parse {
	struct kr_rules_set *set;
	unsigned file;
	const char *label;
	unsigned line;
	struct cond conds[KR_RULES_IF_DEPTH_MAX];
	unsigned depth;
	char *err;
	size_t err_size;
};

/* The plugins whose rule forms this engine runs itself: ifplugin and
 * plugin() are true for them only. */
static const char *const rules_plugins[] = {
	"Mail::SpamAssassin::Plugin::Check",
	"Mail::SpamAssassin::Plugin::ReplaceTags",
};

/* can() features this engine has: bug6558_free is "a meta may name a
 * rule that does not exist", which rules_set.c's meta policy gives. */
static const char *const rules_features[] = {
	"Mail::SpamAssassin::Conf::feature_bug6558_free",
};

static bool
in_list(const char *const *list, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
			return true;
	}
	return false;
}

static int
parse_error(struct parse *p, const char *what)
{
	snprintf(p->err, p->err_size, "%s:%u: %s", p->label, p->line, what);
	return -1;
}

static bool
cond_active(const struct parse *p)
{
	for (unsigned i = 0; i < p->depth; i++) {
		if (!p->conds[i].active)
			return false;
	}
	return true;
}

static const char *
cond_why(const struct parse *p)
{
	for (unsigned i = p->depth; i-- > 0;) {
		if (!p->conds[i].active)
			return p->conds[i].why;
	}
	return "";
}

static const char *
skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static size_t
word_len(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0' && s[n] != ' ' && s[n] != '\t')
		n++;
	return n;
}

/* ---- if expressions: version, plugin(), can(), !, &&, ||, () ---- */

struct cexpr {
	const char *s;
	bool bad;
};

static bool cexpr_or(struct cexpr *c);

static bool
cexpr_call(struct cexpr *c, const char *const *list, size_t n)
{
	const char *arg = skip_ws(c->s);
	const char *end = strchr(arg, ')');

	if (end == NULL) {
		c->bad = true;
		return false;
	}
	size_t len = (size_t)(end - arg);
	while (len > 0 && (arg[len - 1] == ' ' || arg[len - 1] == '\t'))
		len--;
	c->s = end + 1;
	return in_list(list, n, arg, len);
}

static bool
cexpr_version(struct cexpr *c)
{
	const char *s = skip_ws(c->s);
	char *end;
	double v;
	int op;

	if (strncmp(s, ">=", 2) == 0 || strncmp(s, "<=", 2) == 0 ||
	    strncmp(s, "==", 2) == 0 || strncmp(s, "!=", 2) == 0)
		op = s[0] * 256 + s[1], s += 2;
	else if (*s == '<' || *s == '>')
		op = *s++;
	else {
		c->bad = true;
		return false;
	}
	v = strtod(s, &end);
	if (end == s) {
		c->bad = true;
		return false;
	}
	c->s = end;
	switch (op) {
	case '>' * 256 + '=':
		return KR_RULES_SA_VERSION >= v;
	case '<' * 256 + '=':
		return KR_RULES_SA_VERSION <= v;
	case '=' * 256 + '=':
		return KR_RULES_SA_VERSION == v;
	case '!' * 256 + '=':
		return KR_RULES_SA_VERSION != v;
	case '>':
		return KR_RULES_SA_VERSION > v;
	default:
		return KR_RULES_SA_VERSION < v;
	}
}

static bool
cexpr_atom(struct cexpr *c)
{
	c->s = skip_ws(c->s);
	if (*c->s == '!') {
		c->s++;
		return !cexpr_atom(c);
	}
	if (*c->s == '(') {
		c->s++;
		bool v = cexpr_or(c);
		c->s = skip_ws(c->s);
		if (*c->s != ')')
			c->bad = true;
		else
			c->s++;
		return v;
	}
	if (strncmp(c->s, "plugin(", 7) == 0) {
		c->s += 7;
		return cexpr_call(c, rules_plugins,
				  sizeof(rules_plugins) /
					  sizeof(*rules_plugins));
	}
	if (strncmp(c->s, "can(", 4) == 0) {
		c->s += 4;
		return cexpr_call(c, rules_features,
				  sizeof(rules_features) /
					  sizeof(*rules_features));
	}
	if (strncmp(c->s, "version", 7) == 0) {
		c->s += 7;
		return cexpr_version(c);
	}
	c->bad = true;
	return false;
}

static bool
cexpr_and(struct cexpr *c)
{
	bool v = cexpr_atom(c);

	for (;;) {
		c->s = skip_ws(c->s);
		if (c->bad || strncmp(c->s, "&&", 2) != 0)
			return v;
		c->s += 2;
		bool w = cexpr_atom(c);
		v = v && w;
	}
}

static bool
cexpr_or(struct cexpr *c)
{
	bool v = cexpr_and(c);

	for (;;) {
		c->s = skip_ws(c->s);
		if (c->bad || strncmp(c->s, "||", 2) != 0)
			return v;
		c->s += 2;
		bool w = cexpr_and(c);
		v = v || w;
	}
}

static int
cond_push(struct parse *p, bool active, const char *kind, const char *arg)
{
	if (p->depth >= KR_RULES_IF_DEPTH_MAX)
		return parse_error(p, "if/ifplugin nested deeper than "
				      "KR_RULES_IF_DEPTH_MAX");
	p->conds[p->depth].active = active;
	snprintf(p->conds[p->depth].why, sizeof(p->conds[0].why),
		 "inside %s %.100s (false here)", kind, arg);
	p->depth++;
	return 0;
}

static int
directive_cond(struct parse *p, const char *cmd, const char *arg)
{
	if (strcmp(cmd, "ifplugin") == 0) {
		bool v = in_list(rules_plugins,
				 sizeof(rules_plugins) / sizeof(*rules_plugins),
				 arg, word_len(arg));
		return cond_push(p, v, cmd, arg);
	}
	if (strcmp(cmd, "if") == 0) {
		struct cexpr c = { .s = arg };
		bool v = cexpr_or(&c);

		if (c.bad || *skip_ws(c.s) != '\0')
			return parse_error(p, "if: expression not understood "
					      "(version, plugin(), can(), !, "
					      "&&, ||)");
		return cond_push(p, v, cmd, arg);
	}
	if (p->depth == 0)
		return parse_error(p, strcmp(cmd, "else") == 0
					      ? "else without if"
					      : "endif without if");
	if (strcmp(cmd, "else") == 0) {
		struct cond *c = &p->conds[p->depth - 1];

		c->active = !c->active;
		return 0;
	}
	p->depth--;
	return 0;
}

/* ---- Perl match operators ---- */

static char
delim_close(char open)
{
	switch (open) {
	case '{':
		return '}';
	case '[':
		return ']';
	case '(':
		return ')';
	case '<':
		return '>';
	default:
		return open;
	}
}

/* "/re/flags" or "m<delim>re<delim>flags" at s: the pattern (between
 * the delimiters, escapes kept), its flags, and where it ends. NULL
 * with why_r when it is not one. */
static const char *
regex_parse(const char *s, const char **pat_r, size_t *len_r, unsigned *flags_r,
	    const char **why_r)
{
	char open, close;
	unsigned nest = 0;
	const char *q;

	if (*s == '/')
		open = '/';
	else if (*s == 'm' && s[1] != '\0' && !isalnum((unsigned char)s[1]) &&
		 !isspace((unsigned char)s[1]))
		open = *++s;
	else {
		*why_r = "not a regex (/.../ or m{...})";
		return NULL;
	}
	close = delim_close(open);
	for (q = s + 1; *q != '\0'; q++) {
		if (*q == '\\' && q[1] != '\0') {
			q++;
			continue;
		}
		if (open != close && *q == open)
			nest++;
		else if (*q == close && nest-- == 0)
			break;
	}
	if (*q == '\0') {
		*why_r = "regex not terminated";
		return NULL;
	}
	*pat_r = s + 1;
	*len_r = (size_t)(q - s - 1);
	*flags_r = 0;
	for (q++; isalpha((unsigned char)*q); q++) {
		switch (*q) {
		case 'i':
			*flags_r |= KR_RULES_RE_I;
			break;
		case 's':
			*flags_r |= KR_RULES_RE_S;
			break;
		case 'm':
			*flags_r |= KR_RULES_RE_M;
			break;
		case 'x':
			*flags_r |= KR_RULES_RE_X;
			break;
		case 'g': /* no meaning for a test */
		case 'o':
			break;
		default:
			*why_r = "regex flag not supported (i, s, m, x)";
			return NULL;
		}
	}
	if (*len_r > KR_RULES_REGEX_MAX) {
		*why_r = "regex over KR_RULES_REGEX_MAX";
		return NULL;
	}
	return q;
}

/* ---- rule definitions ---- */

static bool
name_valid(const char *s, size_t n)
{
	if (n == 0 || n > KR_RULES_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	}
	return true;
}

static void
rule_reset(struct kr_rules_rule *r)
{
	free(r->reason);
	free(r->re);
	free(r->hdr);
	free(r->if_unset);
	free(r->expr);
	r->reason = r->re = r->hdr = r->if_unset = r->expr = NULL;
	r->negate = false;
	r->re_flags = 0;
	r->hdr_mode = KR_RULES_HDR_VALUE;
}

/* The rule a definition names, reset for it; NULL (rc_r 0) when the
 * line is ignored: a bad name, or an inactive block's definition of a
 * rule an active block defines. rc_r -1: the set is full. */
static struct kr_rules_rule *
rule_define(struct parse *p, const char **arg, enum kr_rules_kind kind,
	    int *rc_r)
{
	const char *name = *arg;
	size_t n = word_len(name);
	struct kr_rules_rule *r;

	*rc_r = 0;
	if (!name_valid(name, n)) {
		char note[64];

		snprintf(note, sizeof(note), "rule name not valid: %.*s",
			 (int)(n > 40 ? 40 : n), name);
		kr_rules_set_note(p->set, p->file, p->line, note);
		return NULL;
	}
	r = kr_rules_set_intern(p->set, name, n);
	if (r == NULL) {
		*rc_r = parse_error(p, "more than KR_RULES_MAX rule names");
		return NULL;
	}
	*arg = skip_ws(name + n);
	if (!cond_active(p)) {
		if (r->defined)
			return NULL;
		rule_reset(r);
		r->defined = true;
		r->kind = kind;
		r->file = p->file;
		r->line = p->line;
		kr_rules_rule_skip(r, cond_why(p));
		return NULL;
	}
	rule_reset(r);
	r->defined = true;
	r->loaded = true;
	r->kind = kind;
	r->file = p->file;
	r->line = p->line;
	return r;
}

/* eval: and the like run Perl code of a plugin: not here. */
static bool
rule_is_eval(struct kr_rules_rule *r, const char *arg)
{
	char why[96];
	size_t n;

	if (strncmp(arg, "eval:", 5) != 0 && strncmp(arg, "rbleval:", 8) != 0)
		return false;
	n = strcspn(arg, "(");
	snprintf(why, sizeof(why), "%.*s: Perl test not implemented",
		 (int)(n > 60 ? 60 : n), arg);
	kr_rules_rule_skip(r, why);
	return true;
}

static void
rule_regex(struct kr_rules_rule *r, const char *arg)
{
	const char *pat, *why, *end;
	size_t len;

	end = regex_parse(arg, &pat, &len, &r->re_flags, &why);
	if (end == NULL) {
		kr_rules_rule_skip(r, why);
		return;
	}
	if (*skip_ws(end) != '\0') {
		kr_rules_rule_skip(r, "text after the regex");
		return;
	}
	r->re = kr_rules_xstrndup(pat, len);
}

/* Header names SA makes up from the relays it parses: not here. */
static bool
header_pseudo(const char *h, size_t n)
{
	static const char *const pseudo[] = {
		"X-Spam-Relays-", "ALL-TRUSTED",  "ALL-UNTRUSTED",
		"ALL-INTERNAL",	  "ALL-EXTERNAL", "X-Spam-",
	};

	for (size_t i = 0; i < sizeof(pseudo) / sizeof(*pseudo); i++) {
		size_t l = strlen(pseudo[i]);

		if (n >= l && strncmp(h, pseudo[i], l) == 0)
			return true;
	}
	return false;
}

static const char *
header_spec(struct kr_rules_rule *r, const char *spec, size_t n)
{
	const char *colon = memchr(spec, ':', n);
	size_t hn = colon ? (size_t)(colon - spec) : n;

	if (header_pseudo(spec, hn))
		return "pseudo-header from relay parsing not implemented";
	if (colon != NULL) {
		size_t mn = n - hn - 1;
		const char *m = colon + 1;

		if (mn == 3 && memcmp(m, "raw", 3) == 0)
			r->hdr_mode = KR_RULES_HDR_RAW;
		else if (mn == 4 && memcmp(m, "addr", 4) == 0)
			r->hdr_mode = KR_RULES_HDR_ADDR;
		else if (mn == 4 && memcmp(m, "name", 4) == 0)
			r->hdr_mode = KR_RULES_HDR_NAME;
		else
			return "header modifier not supported (:raw, :addr, "
			       ":name)";
	}
	if (hn == 0)
		return "no header name";
	r->hdr = kr_rules_xstrndup(spec, hn);
	return NULL;
}

static void
rule_header(struct kr_rules_rule *r, const char *arg)
{
	const char *why, *pat, *end;
	size_t n, len;

	if (rule_is_eval(r, arg))
		return;
	if (strncmp(arg, "exists:", 7) == 0) {
		arg += 7;
		n = word_len(arg);
		r->hdr_mode = KR_RULES_HDR_EXISTS;
		if (n == 0 || *skip_ws(arg + n) != '\0')
			kr_rules_rule_skip(r, "exists: wants one header name");
		else
			r->hdr = kr_rules_xstrndup(arg, n);
		return;
	}
	n = word_len(arg);
	why = header_spec(r, arg, n);
	if (why != NULL) {
		kr_rules_rule_skip(r, why);
		return;
	}
	arg = skip_ws(arg + n);
	if (strncmp(arg, "=~", 2) != 0 && strncmp(arg, "!~", 2) != 0) {
		kr_rules_rule_skip(r, "header rule wants =~ or !~");
		return;
	}
	r->negate = arg[0] == '!';
	end = regex_parse(skip_ws(arg + 2), &pat, &len, &r->re_flags, &why);
	if (end == NULL) {
		kr_rules_rule_skip(r, why);
		return;
	}
	end = skip_ws(end);
	if (strncmp(end, "[if-unset:", 10) == 0) {
		const char *v = skip_ws(end + 10), *close = strchr(v, ']');

		if (close == NULL || *skip_ws(close + 1) != '\0') {
			kr_rules_rule_skip(r, "[if-unset: not closed");
			return;
		}
		size_t vl = (size_t)(close - v);
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		r->if_unset = kr_rules_xstrndup(v, vl);
	} else if (*end != '\0') {
		kr_rules_rule_skip(r, "text after the regex");
		return;
	}
	r->re = kr_rules_xstrndup(pat, len);
}

static int
directive_rule(struct parse *p, const char *cmd, const char *arg)
{
	static const struct {
		const char *cmd;
		enum kr_rules_kind kind;
	} kinds[] = {
		{ "header", KR_RULES_HEADER },	 { "body", KR_RULES_BODY },
		{ "rawbody", KR_RULES_RAWBODY }, { "uri", KR_RULES_URI },
		{ "full", KR_RULES_FULL },	 { "meta", KR_RULES_META },
	};
	int rc;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
		if (strcmp(cmd, kinds[i].cmd) != 0)
			continue;
		struct kr_rules_rule *r =
			rule_define(p, &arg, kinds[i].kind, &rc);
		if (r == NULL)
			return rc;
		if (*arg == '\0')
			kr_rules_rule_skip(r, "nothing after the name");
		else if (kinds[i].kind == KR_RULES_HEADER)
			rule_header(r, arg);
		else if (kinds[i].kind == KR_RULES_META)
			r->expr = kr_rules_xstrndup(arg, strlen(arg));
		else if (!rule_is_eval(r, arg))
			rule_regex(r, arg);
		return 0;
	}
	return 1;
}

/* Directives of plugins that define a rule this engine cannot run. */
static int
directive_plugin_rule(struct parse *p, const char *cmd, const char *arg)
{
	static const char *const cmds[] = {
		"mimeheader", "uri_detail", "askdns",	 "urirhsbl",
		"urirhssub",  "uridnsbl",   "uridnssub", "check_hashbl",
	};
	char why[96];
	int rc;

	if (!in_list(cmds, sizeof(cmds) / sizeof(*cmds), cmd, strlen(cmd)))
		return 1;
	struct kr_rules_rule *r = rule_define(p, &arg, KR_RULES_HEADER, &rc);
	if (r == NULL)
		return rc;
	snprintf(why, sizeof(why), "%s: plugin rule not implemented", cmd);
	kr_rules_rule_skip(r, why);
	return 0;
}

/* ---- what describes a rule by name ---- */

static struct kr_rules_rule *
rule_named(struct parse *p, const char **arg, int *rc_r)
{
	size_t n = word_len(*arg);
	struct kr_rules_rule *r;

	*rc_r = 0;
	if (!name_valid(*arg, n))
		return NULL;
	r = kr_rules_set_intern(p->set, *arg, n);
	if (r == NULL)
		*rc_r = parse_error(p, "more than KR_RULES_MAX rule names");
	*arg = skip_ws(*arg + n);
	return r;
}

static void
tflags_parse(struct kr_rules_rule *r, const char *arg)
{
	static const struct {
		const char *word;
		unsigned flag;
	} words[] = {
		{ "multiple", KR_RULES_TF_MULTIPLE },
		{ "nice", KR_RULES_TF_NICE },
		{ "net", KR_RULES_TF_NET },
		{ "learn", KR_RULES_TF_LEARN },
		{ "userconf", KR_RULES_TF_USERCONF },
		{ "noautolearn", KR_RULES_TF_NOAUTOLEARN },
	};

	/* SA: a tflags line replaces the flags before it. */
	r->tflags = 0;
	r->maxhits = 0;
	for (arg = skip_ws(arg); *arg != '\0'; arg = skip_ws(arg)) {
		size_t n = word_len(arg);

		for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++) {
			if (strlen(words[i].word) == n &&
			    memcmp(words[i].word, arg, n) == 0)
				r->tflags |= words[i].flag;
		}
		if (n > 8 && memcmp(arg, "maxhits=", 8) == 0) {
			unsigned long v = strtoul(arg + 8, NULL, 10);
			r->maxhits = v > KR_RULES_MULTIPLE_MAX
					     ? KR_RULES_MULTIPLE_MAX
					     : (unsigned)v;
		}
		arg += n;
	}
}

static void
score_parse(struct parse *p, struct kr_rules_rule *r, const char *arg)
{
	char *end;
	double v;

	/* SA's four sets are for Bayes and network tests on or off; this
	 * engine runs without either: set 0, the first value. */
	if (*arg == '(')
		arg++;
	v = strtod(arg, &end);
	if (end == arg || !(v > -1e6 && v < 1e6)) {
		kr_rules_set_note(p->set, p->file, p->line,
				  "score: not a number; ignored");
		return;
	}
	r->score = v;
	r->has_score = true;
}

static int
directive_attr(struct parse *p, const char *cmd, const char *arg)
{
	struct kr_rules_rule *r;
	int rc;

	if (strcmp(cmd, "score") != 0 && strcmp(cmd, "describe") != 0 &&
	    strcmp(cmd, "tflags") != 0 && strcmp(cmd, "priority") != 0 &&
	    strcmp(cmd, "replace_rules") != 0)
		return 1;
	if (strcmp(cmd, "replace_rules") == 0) {
		while (*(arg = skip_ws(arg)) != '\0') {
			r = rule_named(p, &arg, &rc);
			if (r == NULL)
				return rc;
			r->replace = true;
		}
		return 0;
	}
	r = rule_named(p, &arg, &rc);
	if (r == NULL)
		return rc;
	if (cmd[0] == 's')
		score_parse(p, r, arg);
	else if (cmd[0] == 't')
		tflags_parse(r, arg);
	else if (cmd[0] == 'p')
		r->priority = (int)strtol(arg, NULL, 10);
	else {
		free(r->describe);
		r->describe = kr_rules_xstrndup(arg, strlen(arg));
	}
	return 0;
}

static int
directive_tag(struct parse *p, const char *cmd, const char *arg)
{
	static const struct {
		const char *cmd;
		enum kr_rules_tag_kind kind;
	} cmds[] = { { "replace_tag", KR_RULES_TAG },
		     { "replace_pre", KR_RULES_TAG_PRE },
		     { "replace_inter", KR_RULES_TAG_INTER },
		     { "replace_post", KR_RULES_TAG_POST } };

	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		size_t n = word_len(arg);

		if (strcmp(cmd, cmds[i].cmd) != 0)
			continue;
		if (n == 0 || n > KR_RULES_NAME_MAX)
			return parse_error(p, "replace_tag without a name");
		if (p->set->n_tags >= KR_RULES_TAGS_MAX)
			return parse_error(p, "more than KR_RULES_TAGS_MAX "
					      "replace tags");
		kr_rules_set_tag_add(p->set, cmds[i].kind, arg, n,
				     skip_ws(arg + n));
		return 0;
	}
	return 1;
}

static void
directive_note(struct parse *p, const char *cmd, const char *arg)
{
	char note[200];

	if (strcmp(cmd, "include") == 0)
		snprintf(note, sizeof(note),
			 "include %.100s: skipped (list the file in the "
			 "rules setting instead)",
			 arg);
	else if (strcmp(cmd, "replace_start") == 0 ||
		 strcmp(cmd, "replace_end") == 0)
		snprintf(note, sizeof(note),
			 "%s: not supported, tags stay <...>; skipped", cmd);
	else
		return;
	kr_rules_set_note(p->set, p->file, p->line, note);
}

/* ---- lines ---- */

/* SA's comment rule: a # not preceded by a backslash starts one. */
static void
line_strip(char *s)
{
	size_t n;

	for (char *q = s; *q != '\0'; q++) {
		if (*q == '#' && (q == s || q[-1] != '\\')) {
			*q = '\0';
			break;
		}
	}
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

static int
line_handle(struct parse *p, char *line)
{
	char cmd[32];
	const char *s, *arg;
	size_t n;
	int rc;

	line_strip(line);
	s = skip_ws(line);
	n = word_len(s);
	if (n == 0 || n >= sizeof(cmd))
		return 0; /* empty, or no directive this engine knows */
	memcpy(cmd, s, n);
	cmd[n] = '\0';
	for (size_t i = 0; i < n; i++)
		cmd[i] = (char)tolower((unsigned char)cmd[i]);
	arg = skip_ws(s + n);
	if (strcmp(cmd, "if") == 0 || strcmp(cmd, "ifplugin") == 0 ||
	    strcmp(cmd, "else") == 0 || strcmp(cmd, "endif") == 0)
		return directive_cond(p, cmd, arg);
	if (strcmp(cmd, "lang") == 0)
		return 0; /* translations of describe: not used */
	if ((rc = directive_rule(p, cmd, arg)) <= 0 ||
	    (rc = directive_plugin_rule(p, cmd, arg)) <= 0)
		return rc;
	if (!cond_active(p))
		return 0;
	if ((rc = directive_attr(p, cmd, arg)) <= 0 ||
	    (rc = directive_tag(p, cmd, arg)) <= 0)
		return rc;
	/* Everything else configures SA itself (whitelists, report
	 * templates, DNS...): nothing for a rule engine. */
	directive_note(p, cmd, arg);
	return 0;
}

int
kr_rules_set_add_text(struct kr_rules_set *set, const char *label,
		      const char *text, size_t len, char *err, size_t err_size)
{
	struct parse p = {
		.set = set, .label = label, .err = err, .err_size = err_size
	};
	char *line = kr_rules_xmalloc(KR_RULES_LINE_MAX + 1);
	size_t pos = 0;
	int rc = 0;

	if (set->n_files >= KR_RULES_FILES_MAX) {
		free(line);
		snprintf(err, err_size,
			 "%s: more than KR_RULES_FILES_MAX "
			 "files",
			 label);
		return -1;
	}
	p.file = kr_rules_set_file_add(set, label);
	while (rc == 0 && pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - text - pos) : len - pos;

		p.line++;
		/* cppcheck-suppress knownConditionTrueFalse ; empty lines */
		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		if (n > KR_RULES_LINE_MAX)
			rc = parse_error(&p, "line longer than "
					     "KR_RULES_LINE_MAX");
		else if (memchr(text + pos, '\0', n) != NULL)
			rc = parse_error(&p, "NUL byte in the line");
		else {
			memcpy(line, text + pos, n);
			line[n] = '\0';
			rc = line_handle(&p, line);
		}
		pos += (nl ? (size_t)(nl - text - pos) + 1 : len - pos);
	}
	free(line);
	if (rc == 0 && p.depth > 0) {
		p.line++;
		rc = parse_error(&p, "if/ifplugin not closed by endif at the "
				     "end of the file");
	}
	return rc;
}

static int
file_add(struct kr_rules_set *set, const char *path, char *err, size_t err_size)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	char *buf;
	size_t n;
	int rc;

	if (fp == NULL) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode) ||
	    (unsigned long long)st.st_size > KR_RULES_FILE_MAX) {
		fclose(fp);
		snprintf(err, err_size,
			 "%s: not a regular file of at most "
			 "KR_RULES_FILE_MAX bytes",
			 path);
		return -1;
	}
	buf = kr_rules_xmalloc((size_t)st.st_size + 1);
	n = fread(buf, 1, (size_t)st.st_size + 1, fp);
	fclose(fp);
	if (n > (size_t)st.st_size) {
		free(buf);
		snprintf(err, err_size, "%s: grew while read", path);
		return -1;
	}
	rc = kr_rules_set_add_text(set, path, buf, n, err, err_size);
	free(buf);
	return rc;
}

int
kr_rules_set_add_glob(struct kr_rules_set *set, const char *globs, char *err,
		      size_t err_size)
{
	const char *s = skip_ws(globs);
	char pat[4096];
	int rc = 0;

	if (*s == '\0') {
		snprintf(err, err_size, "no rule files named");
		return -1;
	}
	for (; rc == 0 && *s != '\0'; s = skip_ws(s)) {
		size_t n = word_len(s);
		glob_t g;

		if (n >= sizeof(pat)) {
			snprintf(err, err_size, "rule file name too long");
			return -1;
		}
		memcpy(pat, s, n);
		pat[n] = '\0';
		s += n;
		if (glob(pat, 0, NULL, &g) != 0) {
			snprintf(err, err_size, "%s: matches no file", pat);
			return -1;
		}
		for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++)
			rc = file_add(set, g.gl_pathv[i], err, err_size);
		globfree(&g);
	}
	return rc;
}
