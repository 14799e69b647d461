/* The helper's line protocol (spf.h) and the result table. Shared by
 * the helper and the module, so both read and write the same bytes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/modules/spf/spf.h"

static const struct {
	const char *name, *test;
	/* Scores as SpamAssassin's defaults put them in spirit: a fail
	 * is strong evidence, a softfail weak, a permerror a sign of a
	 * careless sender; temperror, none and neutral say nothing. A
	 * pass lowers the score a little (it proves only the path, not
	 * that the sender is good). Hits at 0 are still reported so that
	 * X-Spam-Status shows what SPF said. */
	double score;
} spf_results[] = {
	[KR_SPF_NONE] = { "none", "SPF_NONE", 0.0 },
	[KR_SPF_NEUTRAL] = { "neutral", "SPF_NEUTRAL", 0.0 },
	[KR_SPF_PASS] = { "pass", "SPF_PASS", -0.5 },
	[KR_SPF_FAIL] = { "fail", "SPF_FAIL", 3.5 },
	[KR_SPF_SOFTFAIL] = { "softfail", "SPF_SOFTFAIL", 1.5 },
	[KR_SPF_TEMPERROR] = { "temperror", "SPF_TEMPERROR", 0.0 },
	[KR_SPF_PERMERROR] = { "permerror", "SPF_PERMERROR", 0.5 },
};
#define SPF_N_RESULTS (sizeof(spf_results) / sizeof(spf_results[0]))

const char *
kr_spf_result_name(enum kr_spf_result r)
{
	return (size_t)r < SPF_N_RESULTS ? spf_results[r].name : "temperror";
}

const char *
kr_spf_test_name(enum kr_spf_result r)
{
	return (size_t)r < SPF_N_RESULTS ? spf_results[r].test
					 : "SPF_TEMPERROR";
}

double
kr_spf_score(enum kr_spf_result r)
{
	return (size_t)r < SPF_N_RESULTS ? spf_results[r].score : 0.0;
}

int
kr_spf_result_parse(const char *name, enum kr_spf_result *r_r)
{
	for (size_t i = 0; i < SPF_N_RESULTS; i++) {
		if (strcmp(name, spf_results[i].name) == 0) {
			*r_r = (enum kr_spf_result)i;
			return 0;
		}
	}
	return -1;
}

/* A query field is passed as it is or not at all: rewriting a sender
 * would evaluate another identity. */
static int
spf_field_ok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return n <= KR_SPF_FIELD_MAX;
}

int
kr_spf_query_format(char *buf, size_t size, const struct kr_spf_query *q)
{
	int n;

	if (q->ping) {
		n = snprintf(buf, size, "P\t%" PRIu64 "\n", q->id);
	} else {
		if (!spf_field_ok(q->ip) || !spf_field_ok(q->helo) ||
		    !spf_field_ok(q->sender))
			return -1;
		n = snprintf(buf, size, "Q\t%" PRIu64 "\t%s\t%s\t%s\n", q->id,
			     q->ip, q->helo, q->sender);
	}
	if (n < 0 || (size_t)n >= size || n >= KR_SPF_LINE_MAX)
		return -1;
	return n;
}

/* Copies at most KR_SPF_FIELD_MAX bytes of s, control characters
 * (the library's text may quote the sender) turned into spaces. */
static size_t
spf_field_put(char *out, const char *s)
{
	size_t n = 0;

	for (; s != NULL && s[n] != '\0' && n < KR_SPF_FIELD_MAX; n++) {
		unsigned char c = (unsigned char)s[n];
		out[n] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	out[n] = '\0';
	return n;
}

int
kr_spf_answer_format(char *buf, size_t size, const struct kr_spf_answer *a)
{
	char received[KR_SPF_FIELD_MAX + 1], expl[KR_SPF_FIELD_MAX + 1];
	int n;

	spf_field_put(received, a->received);
	spf_field_put(expl, a->explanation);
	n = snprintf(buf, size, "R\t%" PRIu64 "\t%s\t%s\t%s\n", a->id,
		     kr_spf_result_name(a->result), received, expl);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}

/* Splits line at tabs into at most max fields; returns their number. */
static size_t
spf_split(char *line, char **fields, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (n < max) {
		fields[n++] = p;
		p = strchr(p, '\t');
		if (p == NULL)
			return n;
		*p++ = '\0';
	}
	return n + 1; /* more than max: malformed */
}

static int
spf_id_parse(const char *s, uint64_t *id_r)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*id_r = v;
	return 0;
}

int
kr_spf_query_parse(char *line, struct kr_spf_query *q)
{
	char *f[5];
	size_t n = spf_split(line, f, 5);

	memset(q, 0, sizeof(*q));
	if (n == 2 && strcmp(f[0], "P") == 0) {
		q->ping = 1;
		q->ip = q->helo = q->sender = "";
		return spf_id_parse(f[1], &q->id);
	}
	if (n != 5 || strcmp(f[0], "Q") != 0 || spf_id_parse(f[1], &q->id))
		return -1;
	q->ip = f[2];
	q->helo = f[3];
	q->sender = f[4];
	if (!spf_field_ok(q->ip) || !spf_field_ok(q->helo) ||
	    !spf_field_ok(q->sender))
		return -1;
	return 0;
}

int
kr_spf_answer_parse(char *line, struct kr_spf_answer *a)
{
	char *f[5];
	size_t n = spf_split(line, f, 5);

	memset(a, 0, sizeof(*a));
	if (n != 5 || strcmp(f[0], "R") != 0 || spf_id_parse(f[1], &a->id) ||
	    kr_spf_result_parse(f[2], &a->result))
		return -1;
	if (strlen(f[3]) > KR_SPF_FIELD_MAX || strlen(f[4]) > KR_SPF_FIELD_MAX)
		return -1;
	a->received = f[3];
	a->explanation = f[4];
	return 0;
}
