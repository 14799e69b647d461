/* Stored bodies and metadata: SHA-256 (OpenSSL EVP) and zlib for what
 * goes in, inflate for what comes out, the meta jsonb (jansson) and the
 * UTF-8 checks that keep PostgreSQL from refusing a whole batch over
 * one bad byte. Everything here is pure and runs on any thread. */
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "storage/store_priv.h"

/* zlib level 6: the usual balance of speed and size. */
#define PACK_ZLIB_LEVEL 6

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

static json_t *
pack_addrs(const struct kr_store_addr *v, unsigned n)
{
	json_t *arr;

	if (n == 0)
		return NULL;
	arr = json_array();
	for (unsigned i = 0; i < n; i++) {
		json_t *o = json_object();

		pack_set(o, "name", pack_json_str(v[i].name, SIZE_MAX));
		pack_set(o, "email", pack_json_str(v[i].email, SIZE_MAX));
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *
pack_attachments(const struct kr_store_attachment *v, unsigned n)
{
	json_t *arr;

	if (n == 0)
		return NULL;
	arr = json_array();
	for (unsigned i = 0; i < n; i++) {
		json_t *o = json_object();

		pack_set(o, "part", pack_json_str(v[i].part, SIZE_MAX));
		pack_set(o, "filename", pack_json_str(v[i].filename, SIZE_MAX));
		pack_set(o, "type", pack_json_str(v[i].type, SIZE_MAX));
		pack_set(o, "size", json_integer(v[i].size));
		json_array_append_new(arr, o);
	}
	return arr;
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

static json_t *
pack_meta_obj(const struct kr_store_meta *m)
{
	json_t *o = json_object();

	pack_set(o, "date", pack_date(m));
	pack_set(o, "from_name", pack_json_str(m->from_name, SIZE_MAX));
	pack_set(o, "from_email", pack_json_str(m->from_email, SIZE_MAX));
	pack_set(o, "to", pack_addrs(m->to, m->n_to));
	pack_set(o, "cc", pack_addrs(m->cc, m->n_cc));
	pack_set(o, "subject", pack_json_str(m->subject, SIZE_MAX));
	pack_set(o, "message_id", pack_json_str(m->message_id, SIZE_MAX));
	pack_set(o, "in_reply_to", pack_json_str(m->in_reply_to, SIZE_MAX));
	pack_set(o, "references", pack_json_str(m->references, SIZE_MAX));
	pack_set(o, "preview", pack_json_str(m->preview, SIZE_MAX));
	pack_set(o, "has_attachments", json_boolean(m->has_attachments));
	pack_set(o, "attachments",
		 pack_attachments(m->attachments, m->n_attachments));
	pack_set(o, "search_text",
		 pack_json_str(m->search_text, KR_STORE_SEARCH_TEXT_MAX));
	return o;
}

int
kr_store_pack_meta(const struct kr_store_meta *meta, char **json_r,
		   size_t *len_r, struct kr_err *err_r)
{
	json_t *o;
	char *s;
	size_t len;

	if (meta == NULL) {
		*json_r = kr_xstrdup("{}");
		*len_r = 2;
		return 0;
	}
	o = pack_meta_obj(meta);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		kr_panic("store: json_dumps failed");
	len = strlen(s);
	if (len > KR_STORE_META_MAX) {
		free(s);
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "message metadata over %d bytes",
				  KR_STORE_META_MAX);
	}
	*json_r = s;
	*len_r = len;
	return 0;
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
