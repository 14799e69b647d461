/* Header rules: a message's fields found once per check (decoded ones
 * from the host's text, raw ones from the message when a :raw rule
 * wants them), each header group run over the value SA would give it:
 * every instance of the field, one per line. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/modules/rules/rules_int.h"
#include "antispam/modules/rules/rules_match.h"

#define RULES_NONE UINT32_MAX

static uint32_t
lname_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)tolower((unsigned char)s[i])) *
		    16777619u;
	return h;
}

/* Index of field name s (n bytes, any case), or RULES_NONE. */
static uint32_t
hdr_name_find(const struct rules_hdr_targets *t, const char *s, size_t n)
{
	if (t->table_cap == 0)
		return RULES_NONE;
	size_t mask = t->table_cap - 1;
	for (size_t i = lname_hash(s, n) & mask;; i = (i + 1) & mask) {
		uint32_t v = t->table[i];

		if (v == 0)
			return RULES_NONE;
		if (strncasecmp(t->names[v - 1], s, n) == 0 &&
		    t->names[v - 1][n] == '\0')
			return v - 1;
	}
}

static void
hdr_table_rebuild(struct rules_hdr_targets *t)
{
	free(t->table);
	t->table_cap = 16;
	while (t->table_cap < t->n_names * 2)
		t->table_cap *= 2;
	t->table = calloc(t->table_cap, sizeof(*t->table));
	if (t->table == NULL)
		abort();
	for (size_t k = 0; k < t->n_names; k++) {
		size_t mask = t->table_cap - 1;
		size_t i = lname_hash(t->names[k], strlen(t->names[k])) & mask;

		while (t->table[i] != 0)
			i = (i + 1) & mask;
		t->table[i] = (uint32_t)k + 1;
	}
}

static uint32_t
hdr_name_add(struct rules_hdr_targets *t, const char *s)
{
	uint32_t k = hdr_name_find(t, s, strlen(s));

	if (k != RULES_NONE)
		return k;
	t->names = kr_rules_xrealloc(t->names,
				     (t->n_names + 1) * sizeof(*t->names));
	t->names[t->n_names] = kr_rules_xstrndup(s, strlen(s));
	for (char *p = t->names[t->n_names]; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	hdr_table_rebuild(t);
	return (uint32_t)t->n_names++;
}

uint32_t
kr_rules_hdr_target(struct rules_hdr_targets *t, const char *spec)
{
	struct rules_target tg = { .kind = RULES_TARGET_NAMES };

	for (size_t i = 0; i < t->n_targets; i++) {
		if (strcasecmp(t->targets[i].spec, spec) == 0)
			return (uint32_t)i;
	}
	if (strcmp(spec, "ALL") == 0)
		tg.kind = RULES_TARGET_ALL;
	else if (strcmp(spec, "EnvelopeFrom") == 0)
		tg.kind = RULES_TARGET_ENVFROM;
	else if (strcmp(spec, "ToCc") == 0) {
		tg.names[tg.n_names++] = hdr_name_add(t, "to");
		tg.names[tg.n_names++] = hdr_name_add(t, "cc");
	} else if (strcmp(spec, "MESSAGEID") == 0) {
		tg.names[tg.n_names++] = hdr_name_add(t, "message-id");
		tg.names[tg.n_names++] = hdr_name_add(t, "resent-message-id");
		tg.names[tg.n_names++] = hdr_name_add(t, "x-message-id");
	} else
		tg.names[tg.n_names++] = hdr_name_add(t, spec);
	tg.spec = kr_rules_xstrndup(spec, strlen(spec));
	t->targets = kr_rules_xrealloc(t->targets, (t->n_targets + 1) *
							   sizeof(*t->targets));
	t->targets[t->n_targets] = tg;
	return (uint32_t)t->n_targets++;
}

void
kr_rules_hdr_targets_free(struct rules_hdr_targets *t)
{
	for (size_t i = 0; i < t->n_names; i++)
		free(t->names[i]);
	for (size_t i = 0; i < t->n_targets; i++)
		free(t->targets[i].spec);
	free(t->names);
	free(t->table);
	free(t->targets);
}

void
kr_rules_hdr_scan_init(struct rules_hdr_scan *hs,
		       const struct rules_hdr_targets *t)
{
	size_t n = t->n_names ? t->n_names : 1;

	hs->inst = kr_rules_xmalloc(2 * KR_RULES_SCAN_HEADERS_MAX *
				    sizeof(*hs->inst));
	hs->head = kr_rules_xmalloc(4 * n * sizeof(uint32_t));
	hs->tail = hs->head + n;
	hs->rhead = hs->tail + n;
	hs->rtail = hs->rhead + n;
	hs->cap = 4096;
	hs->buf = kr_rules_xmalloc(hs->cap);
}

void
kr_rules_hdr_scan_deinit(struct rules_hdr_scan *hs)
{
	free(hs->inst);
	free(hs->head);
	free(hs->buf);
}

static void
inst_add(struct rules_hdr_scan *hs, uint32_t *head, uint32_t *tail, uint32_t k,
	 const char *v, size_t len)
{
	uint32_t i = (uint32_t)hs->n_inst++;

	hs->inst[i] = (struct rules_hdr_inst){ .v = v,
					       .len = len,
					       .next = RULES_NONE };
	if (head[k] == RULES_NONE)
		head[k] = i;
	else
		hs->inst[tail[k]].next = i;
	tail[k] = i;
}

/* "Name: value\n" lines of the host's decoded header text. */
static void
hdr_parse_decoded(struct rules_hdr_scan *hs, const struct rules_hdr_targets *t,
		  const char *s, size_t len)
{
	const char *end = s + len;
	size_t max = KR_RULES_SCAN_HEADERS_MAX;

	while (s < end && hs->n_inst < max) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl ? nl : end;
		const char *colon = memchr(s, ':', (size_t)(eol - s));

		if (colon != NULL) {
			uint32_t k = hdr_name_find(t, s, (size_t)(colon - s));
			const char *v = colon + 1;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			if (k != RULES_NONE)
				inst_add(hs, hs->head, hs->tail, k, v,
					 (size_t)(eol - v));
		}
		s = nl ? nl + 1 : end;
	}
}

/* The raw header block of the message (up to the empty line); a field
 * keeps its folded lines, they are joined when its value is built. */
static void
hdr_parse_raw(struct rules_hdr_scan *hs, const struct rules_hdr_targets *t,
	      const char *raw, size_t len)
{
	const char *s = raw, *end = raw + len;
	size_t max = 2 * KR_RULES_SCAN_HEADERS_MAX;
	uint32_t last = RULES_NONE;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl ? nl : end;
		size_t n = (size_t)(eol - s);

		if (n == 0 || (n == 1 && *s == '\r'))
			break;
		if ((*s == ' ' || *s == '\t') && last != RULES_NONE)
			hs->inst[last].len = (size_t)(eol - hs->inst[last].v);
		else {
			const char *colon = memchr(s, ':', n);
			uint32_t k =
				colon ? hdr_name_find(t, s, (size_t)(colon - s))
				      : RULES_NONE;
			last = RULES_NONE;
			if (k != RULES_NONE && hs->n_inst < max) {
				const char *v = colon + 1;

				while (v < eol && (*v == ' ' || *v == '\t'))
					v++;
				last = (uint32_t)hs->n_inst;
				inst_add(hs, hs->rhead, hs->rtail, k, v,
					 (size_t)(eol - v));
			}
		}
		s = nl ? nl + 1 : end;
	}
	hs->raw_block = raw;
	hs->raw_block_len = (size_t)(s - raw);
}

static void
buf_put(struct rules_hdr_scan *hs, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > hs->cap) {
		while (*len + n + 1 > hs->cap)
			hs->cap *= 2;
		hs->buf = kr_rules_xrealloc(hs->buf, hs->cap);
	}
	memcpy(hs->buf + *len, s, n);
	*len += n;
}

/* Raw text with CRLF as LF, as SA sees lines. */
static void
buf_put_raw(struct rules_hdr_scan *hs, size_t *len, const char *s, size_t n)
{
	while (n > 0) {
		const char *cr = memchr(s, '\r', n);
		size_t k = cr ? (size_t)(cr - s) : n;

		buf_put(hs, len, s, k);
		if (cr == NULL)
			break;
		s += k + 1;
		n -= k + 1;
	}
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && isspace((unsigned char)**s))
		(*s)++, (*n)--;
	while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* :addr and :name of a field "Name <a@b>", "a@b (Name)" or "a@b". */
static void
hdr_addr_name(enum kr_rules_hdr_mode mode, const char **v, size_t *n)
{
	const char *lt = memchr(*v, '<', *n);
	const char *paren = memchr(*v, '(', *n);

	if (lt != NULL) {
		const char *gt = memchr(lt, '>', *n - (size_t)(lt - *v));
		if (mode == KR_RULES_HDR_ADDR) {
			*n = gt ? (size_t)(gt - lt - 1)
				: *n - (size_t)(lt - *v) - 1;
			*v = lt + 1;
		} else
			*n = (size_t)(lt - *v);
	} else if (paren != NULL) {
		const char *close =
			memchr(paren, ')', *n - (size_t)(paren - *v));
		if (mode == KR_RULES_HDR_ADDR)
			*n = (size_t)(paren - *v);
		else {
			*n = close ? (size_t)(close - paren - 1)
				   : *n - (size_t)(paren - *v) - 1;
			*v = paren + 1;
		}
	} else if (mode == KR_RULES_HDR_NAME)
		*n = 0;
	trim(v, n);
	if (mode == KR_RULES_HDR_NAME && *n >= 2 && (*v)[0] == '"' &&
	    (*v)[*n - 1] == '"')
		(*v)++, *n -= 2;
}

/* The value group g sees; false when the message lacks the field. */
static bool
hdr_value(struct rules_hdr_scan *hs, const struct rules_target *tg,
	  enum kr_rules_hdr_mode mode, const struct kr_rules_input *in,
	  const char **v_r, size_t *len_r)
{
	bool raw = mode == KR_RULES_HDR_RAW;
	size_t len = 0;
	bool any = false;

	if (tg->kind == RULES_TARGET_ALL) {
		if (!raw) {
			*v_r = in->headers;
			*len_r = in->headers_len;
			return true;
		}
		buf_put_raw(hs, &len, hs->raw_block, hs->raw_block_len);
	} else if (tg->kind == RULES_TARGET_ENVFROM) {
		if (in->envfrom == NULL || in->envfrom[0] == '\0')
			return false;
		buf_put(hs, &len, in->envfrom, strlen(in->envfrom));
		buf_put(hs, &len, "\n", 1);
	} else {
		for (unsigned k = 0; k < tg->n_names; k++) {
			uint32_t i = (raw ? hs->rhead : hs->head)[tg->names[k]];

			for (; i != RULES_NONE; i = hs->inst[i].next) {
				const char *v = hs->inst[i].v;
				size_t n = hs->inst[i].len;

				any = true;
				if (mode == KR_RULES_HDR_ADDR ||
				    mode == KR_RULES_HDR_NAME)
					hdr_addr_name(mode, &v, &n);
				if (raw)
					buf_put_raw(hs, &len, v, n);
				else
					buf_put(hs, &len, v, n);
				buf_put(hs, &len, "\n", 1);
			}
		}
		if (!any)
			return false;
	}
	hs->buf[len] = '\0';
	*v_r = hs->buf;
	*len_r = len;
	return true;
}

static bool
hdr_present(const struct rules_hdr_scan *hs, const struct rules_target *tg,
	    const struct kr_rules_input *in)
{
	if (tg->kind == RULES_TARGET_ALL)
		return true;
	if (tg->kind == RULES_TARGET_ENVFROM)
		return in->envfrom != NULL && in->envfrom[0] != '\0';
	for (unsigned k = 0; k < tg->n_names; k++) {
		if (hs->head[tg->names[k]] != RULES_NONE)
			return true;
	}
	return false;
}

int
kr_rules_hdr_scan(struct kr_rules_scan *s, const struct kr_rules_input *in)
{
	const struct kr_rules_matcher *m = s->m;
	struct rules_hdr_scan *hs = &s->hs;
	size_t nn = m->hdrs.n_names;
	int rc = 0;

	hs->n_inst = 0;
	memset(hs->head, 0xff, 4 * (nn ? nn : 1) * sizeof(uint32_t));
	hdr_parse_decoded(hs, &m->hdrs, in->headers, in->headers_len);
	hs->raw_block_len = 0;
	if (m->need_raw)
		hdr_parse_raw(hs, &m->hdrs, in->raw, in->raw_len);
	for (size_t i = RULES_GROUP_HDR0; i < m->n_groups; i++) {
		const struct rules_group *g = &m->groups[i];
		const char *v;
		size_t len;

		if (hdr_value(hs, &m->hdrs.targets[g->target], g->hdr_mode, in,
			      &v, &len)) {
			if (kr_rules_scan_group(s, g, v, len) != 0)
				rc = -1;
			continue;
		}
		for (size_t k = 0; k < g->n_absent; k++)
			s->counts[g->absent[k]] = 1;
	}
	for (size_t i = 0; i < m->n_exists; i++) {
		if (hdr_present(hs, &m->hdrs.targets[m->exists[i].target], in))
			s->counts[m->exists[i].rule] = 1;
	}
	return rc;
}
