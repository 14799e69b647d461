/* Store results as the JSON shapes of SPEC.md §3.2, built with
 * jansson. Every builder returns NULL when memory runs out; rpc_reply
 * turns that into -32603. */
#include <stdlib.h>

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

json_t *
rpc_json_base64(const void *data, size_t len)
{
	size_t out_len = rpc_text_base64_len(len);
	char *out;
	json_t *s;

	out = malloc(out_len + 1);
	if (out == NULL)
		return NULL;
	rpc_text_base64(out, data, len);
	s = json_stringn(out, out_len);
	free(out);
	return s;
}
