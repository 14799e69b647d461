/* Results written straight to JSON text. A listing is the hot read:
 * building it as jansson objects and dumping them cost three quarters
 * of a cold message.list. message.get too, so that the address lists
 * the store hands over as JSON text go out as they are, not decoded
 * and encoded again. The output is what jansson's compact dump of the
 * same shapes gave (flags and date as rpc_json.c's). And base64, for
 * the largest results there are (message.raw, message.attachment). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utc.h"
#include "server/rpc/rpc_priv.h"

struct rpc_text {
	char *buf;
	size_t len, cap;
	bool oom;
};

/* Room for n more bytes and the final NUL. */
static bool
text_grow(struct rpc_text *t, size_t n)
{
	size_t cap = t->cap ? t->cap : 4096;
	char *p;

	if (t->oom)
		return false;
	while (cap <= t->len + n)
		cap *= 2;
	p = realloc(t->buf, cap);
	if (p == NULL) {
		t->oom = true;
		return false;
	}
	t->buf = p;
	t->cap = cap;
	return true;
}

/* Inline: a listing makes about a thousand of these calls. */
static inline void
text_raw(struct rpc_text *t, const char *s, size_t n)
{
	if (t->len + n >= t->cap && !text_grow(t, n))
		return;
	memcpy(t->buf + t->len, s, n);
	t->len += n;
}

static inline void
text_lit(struct rpc_text *t, const char *s)
{
	text_raw(t, s, strlen(s));
}

/* What a byte becomes inside a JSON string: 0 for the byte itself,
 * 'u' for \u00XX, else the letter after a backslash. */
/* clang-format off */
static const char text_esc[256] = {
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
	'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
	['"'] = '"', ['\\'] = '\\',
};
/* clang-format on */

/* One escaped byte: \X or \u00XX. */
static void
text_esc_byte(struct rpc_text *t, unsigned char ch)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = {
		'\\', text_esc[ch], '0', '0', hex[ch >> 4], hex[ch & 15]
	};

	text_raw(t, esc, esc[1] == 'u' ? sizeof(esc) : 2);
}

#define TEXT_ONES 0x0101010101010101ULL
#define TEXT_HIGHS 0x8080808080808080ULL

/* Whether one of the 8 bytes in x needs an escape: below 0x20 (the
 * classic "has a byte less than n" test), or a quote or backslash
 * ("has a zero byte" after xor). Exact about whether, not where. */
static bool
text_word_special(uint64_t x)
{
	uint64_t q = x ^ (TEXT_ONES * '"'), b = x ^ (TEXT_ONES * '\\');

	return (((x - TEXT_ONES * 0x20) & ~x) | ((q - TEXT_ONES) & ~q) |
		((b - TEXT_ONES) & ~b)) &
	       TEXT_HIGHS;
}

/* Bytes at p that go out as they are: eight at a time, since escaping
 * was the largest share of writing a listing. */
static size_t
text_plain_len(const unsigned char *p, size_t n)
{
	size_t i = 0;
	uint64_t x;

	for (; i + 8 <= n; i += 8) {
		memcpy(&x, p + i, 8);
		if (text_word_special(x))
			break;
	}
	while (i < n && text_esc[p[i]] == 0)
		i++;
	return i;
}

/* A JSON string (null for NULL). Input is UTF-8 (the store's text);
 * quote, backslash and control characters are escaped. */
static void
text_str(struct rpc_text *t, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end;

	if (s == NULL) {
		text_lit(t, "null");
		return;
	}
	end = p + strlen(s);
	text_raw(t, "\"", 1);
	while (p < end) {
		size_t n = text_plain_len(p, (size_t)(end - p));

		text_raw(t, (const char *)p, n);
		p += n;
		if (p < end)
			text_esc_byte(t, *p++);
	}
	text_raw(t, "\"", 1);
}

/* Digits by hand: snprintf was a tenth of a cold listing. */
static void
text_int(struct rpc_text *t, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	text_raw(t, p, (size_t)(buf + sizeof(buf) - p));
}

static void
text_addr(struct rpc_text *t, const char *name, const char *email)
{
	text_lit(t, "{\"name\":");
	text_str(t, name);
	text_lit(t, ",\"email\":");
	text_str(t, email);
	text_raw(t, "}", 1);
}

static void
text_date(struct rpc_text *t, bool has, int64_t date)
{
	char buf[KR_UTC_TEXT_SIZE];

	if (!has || !kr_utc_format(date, buf)) {
		text_lit(t, "null");
		return;
	}
	text_raw(t, "\"", 1);
	text_raw(t, buf, KR_UTC_TEXT_SIZE - 1);
	text_raw(t, "\"", 1);
}

/* An address list the store already holds as the API's JSON
 * (store.h): written as it is; NULL is []. */
static void
text_addrs(struct rpc_text *t, const char *json, size_t len)
{
	if (json != NULL)
		text_raw(t, json, len);
	else
		text_lit(t, "[]");
}

static void
text_flags(struct rpc_text *t, const char *const *flags, unsigned n)
{
	text_raw(t, "[", 1);
	for (unsigned i = 0; i < n; i++) {
		text_raw(t, ",", i > 0);
		text_str(t, flags[i]);
	}
	text_raw(t, "]", 1);
}

static void
text_summary(struct rpc_text *t, const struct kr_store_message_summary *m)
{
	text_lit(t, "{\"mailbox\":");
	text_int(t, m->mailbox_id);
	text_lit(t, ",\"uid\":");
	text_int(t, m->uid);
	text_lit(t, ",\"subject\":");
	text_str(t, m->subject);
	text_lit(t, ",\"from\":");
	text_addr(t, m->from_name, m->from_email);
	text_lit(t, ",\"to\":");
	text_addrs(t, m->to_json, m->to_json_len);
	text_lit(t, ",\"date\":");
	text_date(t, m->has_date, m->date);
	text_lit(t, ",\"size\":");
	text_int(t, m->size);
	text_lit(t, ",\"flags\":");
	text_flags(t, m->flags, m->n_flags);
	text_lit(t, ",\"preview\":");
	text_str(t, m->preview);
	text_lit(t, m->has_attachments ? ",\"has_attachments\":true}"
				       : ",\"has_attachments\":false}");
}

/* t's text, NUL-terminated, or NULL when it could not be written. */
static char *
text_end(struct rpc_text *t, size_t *len_r)
{
	if (t->oom) {
		free(t->buf);
		return NULL;
	}
	t->buf[t->len] = '\0';
	*len_r = t->len;
	return t->buf;
}

char *
rpc_text_list(const struct kr_store_message_list_result *res, size_t *len_r)
{
	struct rpc_text t = { 0 };

	/* About 470 bytes a message for typical mail: one allocation. */
	text_grow(&t, 64 + (size_t)res->n * 640);
	text_lit(&t, "{\"total\":");
	text_int(&t, res->total);
	text_lit(&t, ",\"messages\":[");
	for (unsigned i = 0; i < res->n; i++) {
		text_raw(&t, ",", i > 0);
		text_summary(&t, &res->messages[i]);
	}
	text_lit(&t, "]}");
	return text_end(&t, len_r);
}

/* A missing part number made jansson's "ss" fail, and with it the
 * whole result: it still does. */
static void
text_attachments(struct rpc_text *t, const struct kr_store_attachment *a,
		 unsigned n)
{
	text_raw(t, "[", 1);
	for (unsigned i = 0; i < n; i++) {
		if (a[i].part == NULL)
			t->oom = true;
		text_lit(t, i > 0 ? ",{\"part\":" : "{\"part\":");
		text_str(t, a[i].part);
		text_lit(t, ",\"filename\":");
		text_str(t, a[i].filename);
		text_lit(t, ",\"type\":");
		text_str(t, a[i].type != NULL ? a[i].type : "");
		text_lit(t, ",\"size\":");
		text_int(t, a[i].size);
		text_raw(t, "}", 1);
	}
	text_raw(t, "]", 1);
}

/* `,"key":` and a string or null. */
static void
text_member(struct rpc_text *t, const char *key, const char *s)
{
	text_lit(t, key);
	text_str(t, s);
}

char *
rpc_text_get(const struct kr_store_message_get_result *m,
	     const struct rpc_text_body *b, size_t *len_r)
{
	struct rpc_text t = { 0 };

	text_grow(&t, 1024 + b->headers_len + (b->text ? strlen(b->text) : 0) +
			      (b->html ? strlen(b->html) : 0));
	text_lit(&t, "{\"mailbox\":");
	text_int(&t, m->mailbox_id);
	text_lit(&t, ",\"uid\":");
	text_int(&t, m->uid);
	text_member(&t, ",\"subject\":", m->subject);
	text_lit(&t, ",\"from\":");
	text_addr(&t, m->from_name, m->from_email);
	text_lit(&t, ",\"to\":");
	text_addrs(&t, m->to_json, m->to_json_len);
	text_lit(&t, ",\"cc\":");
	text_addrs(&t, m->cc_json, m->cc_json_len);
	text_lit(&t, ",\"date\":");
	text_date(&t, m->has_date, m->date);
	text_member(&t, ",\"message_id\":", m->message_id);
	text_member(&t, ",\"in_reply_to\":", m->in_reply_to);
	text_member(&t, ",\"references\":", m->references);
	text_lit(&t, ",\"flags\":");
	text_flags(&t, m->flags, m->n_flags);
	text_lit(&t, ",\"size\":");
	text_int(&t, m->size);
	text_lit(&t, ",\"headers\":");
	text_raw(&t, b->headers, b->headers_len);
	text_member(&t, ",\"text\":", b->text);
	text_member(&t, ",\"html\":", b->html);
	text_lit(&t, ",\"attachments\":");
	text_attachments(&t, m->attachments, m->n_attachments);
	text_raw(&t, "}", 1);
	return text_end(&t, len_r);
}

size_t
rpc_text_base64_len(size_t len)
{
	return 4 * (len / 3 + (len % 3 != 0));
}

/* EVP_EncodeBlock takes an int: whole 3-byte groups at a time. */
#define TEXT_B64_CHUNK (3u << 20)

void
rpc_text_base64(char *out, const void *data, size_t len)
{
	const unsigned char *in = data;
	unsigned char *o = (unsigned char *)out;

	while (len > 0) {
		size_t n = len < TEXT_B64_CHUNK ? len : TEXT_B64_CHUNK;

		o += EVP_EncodeBlock(o, in, (int)n);
		in += n;
		len -= n;
	}
	*o = '\0';
}
