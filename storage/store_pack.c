/* Stored bodies and metadata: SHA-256 (OpenSSL EVP) and zlib for what
 * goes in, inflate for what comes out, the meta jsonb (jansson) and the
 * UTF-8 checks that keep PostgreSQL from refusing a whole batch over
 * one bad byte. Everything here is pure and runs on any thread. */
#include <jansson.h>
#include <limits.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "storage/store_priv.h"

/* zlib level 1: delivery's hot path. On mail-like text (ops/bench_msg.h
 * words) level 6 took 2.0 ms per 64 KiB for 9 % fewer bytes than level
 * 1's 0.36 ms, and was 60 % of kurierd's CPU in a 64 KiB LMTP run
 * (perf); at 4 KiB the two cost about the same. */
#define PACK_ZLIB_LEVEL 1

/* Length of the valid UTF-8 sequence at s (at most len bytes), 0 when
 * invalid (overlong forms, surrogates and values past U+10FFFF too). */
static size_t
pack_utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return c == 0 ? 0 : 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > len)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

bool
kr_store_pack_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = pack_utf8_seq(p + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* A JSON string of s (NULL for NULL s), cut at `max` bytes on a
 * character boundary; invalid bytes become U+FFFD. */
static json_t *
pack_json_str(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len, out = 0;
	unsigned char *buf;
	json_t *j;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	if (len > max) {
		len = max;
		while (len > 0 && (p[len] & 0xc0) == 0x80)
			len--;
	}
	buf = kr_xmalloc(len * 3 + 1);
	for (size_t i = 0; i < len;) {
		size_t n = pack_utf8_seq(p + i, len - i);

		if (n == 0) {
			memcpy(buf + out, "\xef\xbf\xbd", 3);
			out += 3;
			i++;
			continue;
		}
		memcpy(buf + out, p + i, n);
		out += n;
		i += n;
	}
	j = json_stringn_nocheck((const char *)buf, out);
	free(buf);
	return j;
}

static void
pack_set(json_t *obj, const char *key, json_t *value)
{
	if (value != NULL && json_object_set_new(obj, key, value) < 0)
		kr_panic("store: json_object_set_new(%s) failed", key);
}

/* How much of the metadata goes in: bytes per string (and of the
 * search text), addresses per list, attachments from the first. */
struct pack_caps {
	size_t str, search;
	unsigned addrs, atts;
};

/* Whole first (no string can be longer than the whole text anyway);
 * past KR_STORE_META_MAX each stage keeps less, and the last always
 * fits (about 12 strings of 128 bytes, at most 6 bytes of JSON each):
 * a message is never refused for its metadata, which would make the
 * MTA retry it forever. From the first cut stage on, attachments are
 * kept from the first as far as they fit (UINT_MAX). */
static const struct pack_caps pack_stages[] = {
	{ KR_STORE_META_MAX, KR_STORE_SEARCH_TEXT_MAX, UINT_MAX, UINT_MAX },
	{ 4096, 64 << 10, 100, UINT_MAX },
	{ 512, 8 << 10, 20, UINT_MAX },
	{ 128, 0, 0, 0 },
};

/* An object built member by member while its JSON text is counted, so
 * that a stage gives up as soon as it is over the limit: the work and
 * memory of a stage stay near KR_STORE_META_MAX whatever the input. */
struct pack_build {
	json_t *obj;
	size_t len; /* of the compact text so far, without the braces */
	bool over;
};

static char *
pack_dump(const json_t *o, size_t *len_r)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s == NULL)
		kr_panic("store: json_dumps failed");
	*len_r = strlen(s);
	return s;
}

static size_t
pack_len(const json_t *o)
{
	size_t len;

	free(pack_dump(o, &len));
	return len;
}

/* Text of one more element or member: its own, a comma, and for a
 * member its quoted key and colon. */
static size_t
pack_cost(const char *key, const json_t *v)
{
	return pack_len(v) + 1 + (key != NULL ? strlen(key) + 3 : 0);
}

/* Adds key: v (taken) unless that goes over; then marks b over. */
static void
pack_add(struct pack_build *b, const char *key, json_t *v)
{
	size_t n;

	if (v == NULL || b->over)
		goto drop;
	n = pack_cost(key, v);
	if (n > KR_STORE_META_MAX - b->len) {
		b->over = true;
		goto drop;
	}
	b->len += n;
	pack_set(b->obj, key, v);
	return;
drop:
	json_decref(v);
}

typedef json_t *pack_item_fn(const void *v, unsigned i,
			     const struct pack_caps *caps);

/* key: [item(0), item(1), ...] for n items. With `fill` the list ends
 * where the next item would go over (attachments); otherwise going
 * over marks b over (the stage cannot hold the list). */
static void
pack_add_list(struct pack_build *b, const char *key, pack_item_fn *item,
	      const void *v, unsigned n, const struct pack_caps *caps,
	      bool fill)
{
	size_t len = strlen(key) + 5; /* "key":[], */
	json_t *arr;

	if (n == 0 || b->over)
		return;
	if (len > KR_STORE_META_MAX - b->len) {
		b->over = true;
		return;
	}
	arr = json_array();
	for (unsigned i = 0; i < n; i++) {
		json_t *o = item(v, i, caps);
		size_t c = pack_cost(NULL, o);

		if (c > KR_STORE_META_MAX - b->len - len) {
			json_decref(o);
			b->over = !fill;
			break;
		}
		len += c;
		json_array_append_new(arr, o);
	}
	if (b->over || json_array_size(arr) == 0) {
		json_decref(arr);
		return;
	}
	b->len += len;
	pack_set(b->obj, key, arr);
}

static json_t *
pack_addr(const void *v, unsigned i, const struct pack_caps *caps)
{
	const struct kr_store_addr *a = (const struct kr_store_addr *)v + i;
	json_t *o = json_object();

	pack_set(o, "name", pack_json_str(a->name, caps->str));
	pack_set(o, "email", pack_json_str(a->email, caps->str));
	return o;
}

static json_t *
pack_attachment(const void *v, unsigned i, const struct pack_caps *caps)
{
	const struct kr_store_attachment *a =
		(const struct kr_store_attachment *)v + i;
	json_t *o = json_object();

	pack_set(o, "part", pack_json_str(a->part, caps->str));
	pack_set(o, "filename", pack_json_str(a->filename, caps->str));
	pack_set(o, "type", pack_json_str(a->type, caps->str));
	pack_set(o, "size", json_integer(a->size));
	return o;
}

/* ISO-8601 in UTC, or NULL for a date PostgreSQL would not take. */
static json_t *
pack_date(const struct kr_store_meta *m)
{
	time_t t = (time_t)m->date;
	struct tm tm;
	char buf[32];

	if (!m->has_date || gmtime_r(&t, &tm) == NULL || tm.tm_year < -1899 ||
	    tm.tm_year > 8099)
		return NULL;
	if (strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	return json_string(buf);
}

static unsigned
pack_count(unsigned n, unsigned cap)
{
	return n < cap ? n : cap;
}

/* One stage: the JSON text, NULL when it is over the limit. */
static char *
pack_meta_stage(const struct kr_store_meta *m, const struct pack_caps *c,
		bool cut, size_t *len_r)
{
	struct pack_build b = { .obj = json_object(), .len = 1 };
	char *s = NULL;

	if (cut)
		pack_add(&b, "truncated", json_true());
	pack_add(&b, "date", pack_date(m));
	pack_add(&b, "has_attachments", json_boolean(m->has_attachments));
	pack_add(&b, "from_name", pack_json_str(m->from_name, c->str));
	pack_add(&b, "from_email", pack_json_str(m->from_email, c->str));
	pack_add(&b, "subject", pack_json_str(m->subject, c->str));
	pack_add(&b, "message_id", pack_json_str(m->message_id, c->str));
	pack_add(&b, "in_reply_to", pack_json_str(m->in_reply_to, c->str));
	pack_add(&b, "references", pack_json_str(m->references, c->str));
	pack_add(&b, "preview", pack_json_str(m->preview, c->str));
	pack_add_list(&b, "to", pack_addr, m->to, pack_count(m->n_to, c->addrs),
		      c, false);
	pack_add_list(&b, "cc", pack_addr, m->cc, pack_count(m->n_cc, c->addrs),
		      c, false);
	if (c->search > 0)
		pack_add(&b, "search_terms",
			 pack_json_str(m->search_terms, c->search));
	pack_add_list(&b, "attachments", pack_attachment, m->attachments,
		      pack_count(m->n_attachments, c->atts), c, cut);
	if (!b.over) {
		s = pack_dump(b.obj, len_r);
		if (*len_r > KR_STORE_META_MAX) {
			free(s);
			s = NULL;
		}
	}
	json_decref(b.obj);
	return s;
}

bool
kr_store_pack_meta(const struct kr_store_meta *meta, char **json_r,
		   size_t *len_r)
{
	size_t n = sizeof(pack_stages) / sizeof(pack_stages[0]);

	if (meta == NULL) {
		*json_r = kr_xstrdup("{}");
		*len_r = 2;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		*json_r = pack_meta_stage(meta, &pack_stages[i], i > 0, len_r);
		if (*json_r != NULL)
			return i > 0;
	}
	kr_panic("store: metadata over %d bytes at the last stage",
		 KR_STORE_META_MAX);
}

static bool
pack_hash(const void *body, size_t body_len, unsigned char *hash)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned n = 0;
	bool ok;

	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, body, body_len) == 1 &&
	     EVP_DigestFinal_ex(md, hash, &n) == 1 && n == 32;
	EVP_MD_CTX_free(md);
	return ok;
}

/* Deflates the body; keeps the result only when it is smaller. */
static void
pack_deflate(const void *body, size_t body_len, struct kr_store_packed *out)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	if (body_len == 0 || deflateInit(&z, PACK_ZLIB_LEVEL) != Z_OK)
		return;
	out->zlen = deflateBound(&z, (uLong)body_len);
	out->zdata = kr_xmalloc(out->zlen);
	z.next_out = out->zdata;
	z.avail_out = (uInt)out->zlen;
	z.next_in = (Bytef *)(uintptr_t)body;
	z.avail_in = (uInt)body_len;
	rc = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (rc != Z_STREAM_END || z.total_out >= body_len) {
		free(out->zdata);
		out->zdata = NULL;
		out->zlen = 0;
		return;
	}
	out->zlen = z.total_out;
}

void
kr_store_pack_body(const void *body, size_t body_len,
		   struct kr_store_packed *out)
{
	memset(out, 0, sizeof(*out));
	out->raw_size = body_len;
	if (!pack_hash(body != NULL ? body : "", body_len, out->hash)) {
		out->failed = true;
		return;
	}
	pack_deflate(body, body_len, out);
}

void
kr_store_pack_free(struct kr_store_packed *p)
{
	free(p->zdata);
	p->zdata = NULL;
}

struct kr_store_body *
kr_store_body_pack(const void *body, size_t body_len)
{
	struct kr_store_body *b = kr_xcalloc(1, sizeof(*b));

	kr_store_pack_body(body, body_len, &b->packed);
	if (!b->packed.failed && b->packed.zdata == NULL) {
		b->raw = kr_xmalloc(body_len > 0 ? body_len : 1);
		if (body_len > 0)
			memcpy(b->raw, body, body_len);
	}
	return b;
}

void
kr_store_body_free(struct kr_store_body **bp)
{
	struct kr_store_body *b = *bp;

	if (b == NULL)
		return;
	*bp = NULL;
	kr_store_pack_free(&b->packed);
	free(b->raw);
	free(b);
}

/* Writes the body, exactly raw_size bytes, to out: -1 when the stored
 * data does not give that. */
static int
pack_inflate(const unsigned char *data, size_t n, bool zlib, size_t raw_size,
	     unsigned char *out)
{
	uLongf got = (uLongf)raw_size;

	if (!zlib) {
		if (n != raw_size)
			return -1;
		if (n > 0)
			memcpy(out, data, n);
		return 0;
	}
	if (uncompress(out, &got, data, (uLong)n) != Z_OK || got != raw_size)
		return -1;
	return 0;
}

int
kr_store_pack_unpack(const char *prefix_hex, const char *hex, bool zlib,
		     size_t raw_size, unsigned char **raw_r, size_t *len_r)
{
	size_t n = 0, plen = 0;
	unsigned char *prefix = NULL, *data, *raw = NULL;
	int rc = -1;

	if (raw_size > KR_STORE_MESSAGE_MAX)
		return -1;
	if (prefix_hex != NULL) {
		prefix = PQunescapeBytea((const unsigned char *)prefix_hex,
					 &plen);
		if (prefix == NULL)
			return -1;
	}
	data = PQunescapeBytea((const unsigned char *)hex, &n);
	if (data != NULL && plen <= KR_STORE_MESSAGE_MAX - raw_size) {
		raw = kr_xmalloc(plen + raw_size + 1);
		if (plen > 0)
			memcpy(raw, prefix, plen);
		rc = pack_inflate(data, n, zlib, raw_size, raw + plen);
	}
	PQfreemem(prefix);
	PQfreemem(data);
	if (rc < 0) {
		free(raw);
		return -1;
	}
	raw[plen + raw_size] = '\0';
	*raw_r = raw;
	*len_r = plen + raw_size;
	return 0;
}
