/* Store results as the JSON shapes of SPEC.md §3.2, and the params
 * several methods share. Every builder returns NULL when memory runs
 * out; rpc_reply turns that into -32603. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/arena.h"
#include "server/rpc_priv.h"

json_t *
rpc_json_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
rpc_json_date(bool has, int64_t date)
{
	time_t t = (time_t)date;
	struct tm tm;
	char buf[32];

	if (!has || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
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

static json_t *
rpc_json_summary(const struct kr_store_message_summary *m)
{
	return json_pack("{sI sI so so so so sI so so sb}", "mailbox",
			 (json_int_t)m->mailbox_id, "uid", (json_int_t)m->uid,
			 "subject", rpc_json_str(m->subject), "from",
			 rpc_json_addr(m->from_name, m->from_email), "to",
			 rpc_json_addrs(m->to, m->n_to), "date",
			 rpc_json_date(m->has_date, m->date), "size",
			 (json_int_t)m->size, "flags",
			 rpc_json_flags(m->flags, m->n_flags), "preview",
			 rpc_json_str(m->preview), "has_attachments",
			 m->has_attachments);
}

json_t *
rpc_json_list(const struct kr_store_message_list_result *res)
{
	json_t *arr = json_array();

	for (unsigned i = 0; arr != NULL && i < res->n; i++)
		if (json_array_append_new(
			    arr, rpc_json_summary(&res->messages[i])) != 0) {
			json_decref(arr);
			return NULL;
		}
	return json_pack("{sI so}", "total", (json_int_t)res->total, "messages",
			 arr);
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

json_t *
rpc_json_base64(const void *data, size_t len)
{
	size_t out_len = 4 * ((len + 2) / 3);
	unsigned char *out;
	json_t *s;

	if (len > (size_t)INT32_MAX / 4 * 3)
		return NULL;
	out = malloc(out_len + 1);
	if (out == NULL)
		return NULL;
	EVP_EncodeBlock(out, data, (int)len);
	s = json_stringn((const char *)out, out_len);
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
