/* Params several methods share, checked before anything is asked of
 * the store: each answers -32602 naming the param and returns -1. */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "lib/arena.h"
#include "proto/mime.h"
#include "server/rpc/rpc_priv.h"

_Static_assert(RPC_PART_LEVELS == KR_MIME_DEPTH_MAX_DEFAULT + 3,
	       "the walk's depth");

/* Strict RFC 4648 §4: the alphabet, then at most two '=' at the end.
 * EVP_DecodeBlock alone would skip white space and take '=' anywhere. */
static bool
param_base64_ok(const char *in, size_t len, size_t *pad_r)
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
rpc_param_base64(const char *in, size_t len, struct kr_arena *arena,
		 unsigned char **out_r, size_t *out_len_r)
{
	unsigned char *out;
	size_t pad = 0;
	int n;

	if (len % 4 != 0 || len > (size_t)INT32_MAX ||
	    !param_base64_ok(in, len, &pad))
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

/* IMAP section numbers as kr_mime_part's walk writes them (RFC 3501
 * §6.4.5): numbers from 1 without leading zeros, each at most INT_MAX
 * (the walk counts in int), joined by single dots, at most
 * RPC_PART_LEVELS of them: at most 384 bytes. */
bool
rpc_param_part_ok(const char *part)
{
	const char *p = part;

	for (unsigned levels = 1; levels <= RPC_PART_LEVELS; levels++) {
		size_t n = 0;

		while (p[n] >= '0' && p[n] <= '9')
			n++;
		if (n == 0 || n > 10 || p[0] == '0' ||
		    (n == 10 && strncmp(p, "2147483647", 10) > 0))
			return false;
		p += n;
		if (*p == '\0')
			return true;
		if (*p++ != '.')
			return false;
	}
	return false;
}

/* Words as the store counts them (store.h): runs of ASCII letters and
 * digits and of bytes of multi-byte characters. */
static size_t
param_search_words(const char *s)
{
	size_t n = 0;
	bool in = false;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		bool w = ch >= 0x80 || (ch >= '0' && ch <= '9') ||
			 (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');

		n += w && !in;
		in = w;
	}
	return n;
}

const char *
rpc_param_search_error(const char *value, bool is_text)
{
	if (value == NULL)
		return NULL;
	if (strlen(value) > KR_STORE_SEARCH_FIELD_MAX)
		return "at most " RPC_XSTR(KR_STORE_SEARCH_FIELD_MAX) " bytes";
	if (is_text && param_search_words(value) > KR_STORE_SEARCH_WORDS_MAX)
		return "at most " RPC_XSTR(
			KR_STORE_SEARCH_WORDS_MAX) " words (runs of letters "
						   "and digits)";
	return NULL;
}
