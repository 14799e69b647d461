/* Store results as the JSON shapes of SPEC.md §3.2, and the params
 * several methods share. Every builder returns NULL when memory runs
 * out; rpc_reply turns that into -32603. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/utc.h"
#include "server/rpc/rpc_priv.h"

json_t *
rpc_json_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
rpc_json_date(bool has, int64_t date)
{
	char buf[KR_UTC_TEXT_SIZE];

	if (!has || !kr_utc_format(date, buf))
		return json_null();
	return json_string(buf);
}

json_t *
rpc_json_mailbox(const struct kr_store_mailbox *m)
{
	return json_pack(
		"{sI ss so sI sI sI sI sI sI}", "id", (json_int_t)m->id, "name",
		m->name, "role", rpc_json_str(m->role), "total",
		(json_int_t)m->total, "unseen", (json_int_t)m->unseen, "size",
		(json_int_t)m->size, "uidvalidity", (json_int_t)m->uidvalidity,
		"uidnext", (json_int_t)m->uidnext, "modseq",
		(json_int_t)m->modseq);
}

json_t *
rpc_json_addr(const char *name, const char *email)
{
	return json_pack("{so so}", "name", rpc_json_str(name), "email",
			 rpc_json_str(email));
}

json_t *
rpc_json_addrs(const struct kr_store_addr *a, unsigned n)
{
	json_t *arr = json_array();

	for (unsigned i = 0; arr != NULL && i < n; i++)
		if (json_array_append_new(
			    arr, rpc_json_addr(a[i].name, a[i].email)) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

json_t *
rpc_json_flags(const char *const *flags, unsigned n)
{
	json_t *arr = json_array();

	for (unsigned i = 0; arr != NULL && i < n; i++)
		if (json_array_append_new(arr, json_string(flags[i])) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* ---- listings written straight to text ------------------------------
 * A listing is the hot read: building it as jansson objects and dumping
 * them cost three quarters of a cold message.list. The shape is the
 * one rpc_json_addr/flags/date give. */

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
	/* Already the API's JSON (store.h): written as it is. */
	text_lit(t, ",\"to\":");
	if (m->to_json != NULL)
		text_raw(t, m->to_json, m->to_json_len);
	else
		text_lit(t, "[]");
	text_lit(t, ",\"date\":");
	text_date(t, m->has_date, m->date);
	text_lit(t, ",\"size\":");
	text_int(t, m->size);
	text_lit(t, ",\"flags\":[");
	for (unsigned i = 0; i < m->n_flags; i++) {
		text_raw(t, ",", i > 0);
		text_str(t, m->flags[i]);
	}
	text_lit(t, "],\"preview\":");
	text_str(t, m->preview);
	text_lit(t, m->has_attachments ? ",\"has_attachments\":true}"
				       : ",\"has_attachments\":false}");
}

char *
rpc_json_list_text(const struct kr_store_message_list_result *res,
		   size_t *len_r)
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
	if (t.oom) {
		free(t.buf);
		return NULL;
	}
	t.buf[t.len] = '\0';
	*len_r = t.len;
	return t.buf;
}

json_t *
rpc_json_attachments(const struct kr_store_attachment *a, unsigned n)
{
	json_t *arr = json_array();

	for (unsigned i = 0; arr != NULL && i < n; i++) {
		json_t *o = json_pack("{ss so ss sI}", "part", a[i].part,
				      "filename", rpc_json_str(a[i].filename),
				      "type", a[i].type ? a[i].type : "",
				      "size", (json_int_t)a[i].size);

		if (json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

size_t
rpc_base64_len(size_t len)
{
	return 4 * (len / 3 + (len % 3 != 0));
}

/* EVP_EncodeBlock takes an int: whole 3-byte groups at a time. */
#define RPC_B64_CHUNK (3u << 20)

void
rpc_base64_encode(char *out, const void *data, size_t len)
{
	const unsigned char *in = data;
	unsigned char *o = (unsigned char *)out;

	while (len > 0) {
		size_t n = len < RPC_B64_CHUNK ? len : RPC_B64_CHUNK;

		o += EVP_EncodeBlock(o, in, (int)n);
		in += n;
		len -= n;
	}
	*o = '\0';
}

json_t *
rpc_json_base64(const void *data, size_t len)
{
	size_t out_len = rpc_base64_len(len);
	char *out;
	json_t *s;

	out = malloc(out_len + 1);
	if (out == NULL)
		return NULL;
	rpc_base64_encode(out, data, len);
	s = json_stringn(out, out_len);
	free(out);
	return s;
}

/* Strict RFC 4648 §4: the alphabet, then at most two '=' at the end.
 * EVP_DecodeBlock alone would skip white space and take '=' anywhere. */
static bool
rpc_base64_ok(const char *in, size_t len, size_t *pad_r)
{
	size_t end = len;

	while (end > 0 && len - end < 2 && in[end - 1] == '=')
		end--;
	for (size_t i = 0; i < end; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '+' || ch == '/'))
			return false;
	}
	*pad_r = len - end;
	return true;
}

int
rpc_base64_decode(const char *in, size_t len, struct kr_arena *arena,
		  unsigned char **out_r, size_t *out_len_r)
{
	unsigned char *out;
	size_t pad = 0;
	int n;

	if (len % 4 != 0 || len > (size_t)INT32_MAX ||
	    !rpc_base64_ok(in, len, &pad))
		return -1;
	out = kr_arena_alloc(arena, len / 4 * 3 + 1, NULL);
	if (out == NULL)
		return -1;
	/* It counts the padding as zero bytes: take them off. */
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	*out_r = out;
	*out_len_r = (size_t)n - pad;
	return 0;
}

int
rpc_param_id(struct rpc_call *c, const json_t *params, const char *name,
	     bool required, int64_t *id_r)
{
	struct kr_err err;
	long long v = 0;

	if (kr_jsonrpc_param_int(params, name, required, 1, INT64_MAX, &v,
				 &err) < 0) {
		rpc_fail_params(c, &err);
		return -1;
	}
	*id_r = v;
	return 0;
}

int
rpc_param_bad(struct rpc_call *c, const char *name, const char *what)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "param %s: %s", name, what);
	rpc_fail(c, KR_JSONRPC_INVALID_PARAMS, msg, NULL);
	return -1;
}

int
rpc_param_uids(struct rpc_call *c, const json_t *params, const char *name,
	       const int64_t **uids_r, unsigned *n_r)
{
	const json_t *arr = NULL, *v;
	struct kr_err err;
	int64_t *uids;
	size_t i, n;

	if (kr_jsonrpc_param_array(params, name, true, &arr, &err) < 0) {
		rpc_fail_params(c, &err);
		return -1;
	}
	n = json_array_size(arr);
	if (n == 0 || n > KR_STORE_UIDS_MAX)
		return rpc_param_bad(c, name, "1 to 10000 uids");
	uids = kr_arena_alloc(c->arena, n * sizeof(*uids), &err);
	if (uids == NULL) {
		rpc_fail_err(c, &err);
		return -1;
	}
	json_array_foreach(arr, i, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			return rpc_param_bad(c, name,
					     "uids are positive integers");
		uids[i] = json_integer_value(v);
	}
	*uids_r = uids;
	*n_r = (unsigned)n;
	return 0;
}

int
rpc_param_flags(struct rpc_call *c, const json_t *params, const char *name,
		const char *const **flags_r, unsigned *n_r)
{
	const json_t *arr = NULL, *v;
	struct kr_err err;
	const char **flags;
	size_t i, n;

	*flags_r = NULL;
	*n_r = 0;
	if (kr_jsonrpc_param_array(params, name, false, &arr, &err) < 0) {
		rpc_fail_params(c, &err);
		return -1;
	}
	n = arr != NULL ? json_array_size(arr) : 0;
	if (n == 0)
		return 0;
	if (n > KR_STORE_FLAGS_MAX)
		return rpc_param_bad(c, name, "at most 64 flags");
	flags = kr_arena_alloc(c->arena, n * sizeof(*flags), &err);
	if (flags == NULL) {
		rpc_fail_err(c, &err);
		return -1;
	}
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			return rpc_param_bad(c, name, "flags are strings");
		flags[i] = json_string_value(v);
	}
	*flags_r = flags;
	*n_r = (unsigned)n;
	return 0;
}
