/* The tokenizer: a message's unique token hashes, bounded. The store
 * keeps only hashes, so the module and the store agree on nothing but
 * this function: its seed and its rules are part of every user's
 * statistic. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "antispam/modules/bayes/bayes.h"

/* FNV-1a's 64-bit offset basis xor our seed ("kurier-bayes-v1"): a
 * different seed is a different token space. */
#define BAYES_SEED (0xcbf29ce484222325ull ^ 0x6b75726965726231ull)
#define BAYES_FNV_PRIME 0x100000001b3ull
/* Slots of the de-duplicating set: a power of two, at least twice
 * KR_BAYES_TOKENS_MAX so probing stays short. */
#define BAYES_SET_SLOTS 2048
/* The longest URI host we hash (RFC 1035: 253 bytes). */
#define BAYES_HOST_MAX 253

static uint64_t
bayes_fnv(uint64_t h, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= BAYES_FNV_PRIME;
	}
	return h;
}

uint64_t
kr_bayes_hash(const char *prefix, const char *word, size_t len)
{
	uint64_t h = BAYES_SEED;

	if (prefix != NULL)
		h = bayes_fnv(h, prefix, strlen(prefix));
	h = bayes_fnv(h, word, len);
	/* splitmix64's finaliser: FNV's low bits are weak, and the store's
	 * index and our set both use them. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h != 0 ? h : 1;
}

struct bayes_set {
	uint64_t slots[BAYES_SET_SLOTS];
	uint64_t *out;
	size_t n, max;
};

/* false once the set is full (nothing more can be added). */
static bool
bayes_set_add(struct bayes_set *s, uint64_t h)
{
	size_t i = (size_t)h & (BAYES_SET_SLOTS - 1);

	if (s->n >= s->max)
		return false;
	while (s->slots[i] != 0) {
		if (s->slots[i] == h)
			return true;
		i = (i + 1) & (BAYES_SET_SLOTS - 1);
	}
	s->slots[i] = h;
	s->out[s->n++] = h;
	return s->n < s->max;
}

static bool
bayes_word_byte(unsigned char c, bool header)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80 || c == '$' || c == '\'')
		return true;
	/* Addresses and domains stay whole in From and To. */
	return header && (c == '.' || c == '@' || c == '_' || c == '-');
}

/* Adds every word of p[0..len) (3..40 bytes, ASCII lower-cased) with
 * prefix; false once the set is full. */
static bool
bayes_words(struct bayes_set *s, const char *prefix, const char *p, size_t len,
	    bool header)
{
	char w[KR_BAYES_WORD_MAX];
	size_t i = 0;

	while (i < len) {
		size_t start, n;

		while (i < len && !bayes_word_byte((unsigned char)p[i], header))
			i++;
		start = i;
		while (i < len && bayes_word_byte((unsigned char)p[i], header))
			i++;
		n = i - start;
		if (n < KR_BAYES_WORD_MIN || n > KR_BAYES_WORD_MAX)
			continue;
		for (size_t k = 0; k < n; k++) {
			unsigned char c = (unsigned char)p[start + k];

			w[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		if (!bayes_set_add(s, kr_bayes_hash(prefix, w, n)))
			return false;
	}
	return true;
}

static const struct {
	const char *name;
	size_t len;
	const char *prefix;
} bayes_headers[] = {
	{ "subject", 7, "subject:" },
	{ "from", 4, "from:" },
	{ "to", 2, "to:" },
};

static bool
bayes_header_line(struct bayes_set *s, const char *p, size_t len)
{
	const char *colon = memchr(p, ':', len);
	size_t nlen;

	if (colon == NULL)
		return true;
	nlen = (size_t)(colon - p);
	for (size_t i = 0; i < sizeof(bayes_headers) / sizeof(bayes_headers[0]);
	     i++) {
		if (nlen != bayes_headers[i].len ||
		    strncasecmp(p, bayes_headers[i].name, nlen) != 0)
			continue;
		return bayes_words(s, bayes_headers[i].prefix, colon + 1,
				   len - nlen - 1, i != 0);
	}
	return true;
}

/* Calls fn for each line of p[0..len); stops when it says false. */
static bool
bayes_lines(struct bayes_set *s, const char *p, size_t len,
	    bool (*fn)(struct bayes_set *, const char *, size_t))
{
	while (len > 0) {
		const char *nl = memchr(p, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - p) : len;

		if (!fn(s, p, n))
			return false;
		if (nl == NULL)
			break;
		len -= n + 1;
		p = nl + 1;
	}
	return true;
}

/* "uri:HOST" and, for a host of three labels or more, "uri:" + its
 * last two ("www.spam.example" also counts as "spam.example"). */
static bool
bayes_uri_line(struct bayes_set *s, const char *p, size_t len)
{
	char host[BAYES_HOST_MAX];
	const char *sep = NULL, *at;
	size_t n = 0, dots = 0, last2 = 0;

	for (size_t i = 0; i + 3 <= len; i++)
		if (memcmp(p + i, "://", 3) == 0) {
			sep = p + i + 3;
			break;
		}
	if (sep == NULL)
		return true;
	len -= (size_t)(sep - p);
	p = sep;
	for (size_t i = 0; i < len; i++)
		if (strchr("/?#", p[i]) != NULL) {
			len = i;
			break;
		}
	at = memchr(p, '@', len); /* user:password@host */
	if (at != NULL) {
		len -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	while (n < len && p[n] != ':' && n < sizeof(host)) {
		unsigned char c = (unsigned char)p[n];

		host[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (n == 0 || n == sizeof(host))
		return true;
	for (size_t i = n; i-- > 0;)
		if (host[i] == '.' && ++dots == 2)
			last2 = i + 1;
	if (!bayes_set_add(s, kr_bayes_hash("uri:", host, n)))
		return false;
	return last2 == 0 ||
	       bayes_set_add(s, kr_bayes_hash("uri:", host + last2, n - last2));
}

static bool
bayes_body(struct bayes_set *s, const char *p, size_t len)
{
	return bayes_words(s, NULL, p, len, false);
}

size_t
kr_bayes_tokenize(const struct kr_filter_msg *msg, uint64_t *out, size_t max)
{
	struct bayes_set *s;
	size_t n;

	if (max == 0)
		return 0;
	/* 16 KB: on the heap, this may run on a small pool stack. */
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return 0;
	s->out = out;
	s->max = max < KR_BAYES_TOKENS_MAX ? max : KR_BAYES_TOKENS_MAX;
	if (msg->text == NULL) {
		if (msg->raw != NULL)
			bayes_body(s, msg->raw, msg->raw_len);
	} else if ((msg->text->headers == NULL ||
		    bayes_lines(s, msg->text->headers, msg->text->headers_len,
				bayes_header_line)) &&
		   (msg->text->uris == NULL ||
		    bayes_lines(s, msg->text->uris, msg->text->uris_len,
				bayes_uri_line)) &&
		   msg->text->body != NULL) {
		bayes_body(s, msg->text->body, msg->text->body_len);
	}
	n = s->n;
	free(s);
	return n;
}
