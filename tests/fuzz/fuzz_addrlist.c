/* libFuzzer target for storage/addrlist (address lists as PostgreSQL
 * prints the meta jsonb): the input through the in-place scan and the
 * JSON pass-through. Neither judges JSON that PostgreSQL would never
 * print (raw control or invalid UTF-8 bytes pass as they are, as the
 * writers always did), so the checks are against jansson for input it
 * decodes: what the scan reads is what jansson decodes (name and email
 * of each address, NULL when missing or null); what the pass-through
 * writes is JSON equal to that, and it takes every list the scan takes.
 * Built
 * by `make fuzz`; the corpus in tests/fuzz/corpus/addrlist/ is replayed
 * by `make test`. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "storage/addrlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
fuzz_member(const json_t *a, const char *key)
{
	return json_string_value(json_object_get(a, key));
}

static bool
fuzz_same(const char *got, const char *want)
{
	return got == NULL ? want == NULL
			   : want != NULL && strcmp(got, want) == 0;
}

/* The list decoded by jansson, normalised to [{name, email}]. */
static json_t *
fuzz_decoded(const char *text, size_t len)
{
	json_t *in = json_loadb(text, len, 0, NULL), *out, *a;
	size_t i;

	if (!json_is_array(in)) {
		json_decref(in);
		return NULL;
	}
	out = json_array();
	json_array_foreach(in, i, a)
	{
		const char *n = fuzz_member(a, "name"),
			   *e = fuzz_member(a, "email");

		json_array_append_new(
			out,
			json_pack("{so so}", "name",
				  n != NULL ? json_string(n) : json_null(),
				  "email",
				  e != NULL ? json_string(e) : json_null()));
	}
	json_decref(in);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *json;
	struct kr_arena *arena = kr_arena_create(4096, 0, false);
	const struct kr_store_addr *v;
	json_t *want;
	unsigned n;
	size_t len;
	int scanned = kr_addrlist_scan(text, size, arena, &v, &n, NULL);
	int passed = kr_addrlist_json(text, size, arena, &json, &len, NULL);

	if (scanned < 0 || passed < 0)
		abort();
	want = fuzz_decoded(text, size);
	if (want == NULL) {
		kr_arena_destroy(&arena);
		return 0;
	}
	if (scanned == 1 && passed != 1)
		abort();
	if (scanned == 1) {
		if (n != json_array_size(want))
			abort();
		for (unsigned i = 0; i < n; i++) {
			const json_t *a = json_array_get(want, i);

			if (!fuzz_same(v[i].name, fuzz_member(a, "name")) ||
			    !fuzz_same(v[i].email, fuzz_member(a, "email")))
				abort();
		}
	}
	if (passed == 1) {
		json_t *got = json_loadb(json, len, 0, NULL);

		if (strlen(json) != len || got == NULL ||
		    !json_equal(got, want))
			abort();
		json_decref(got);
	}
	json_decref(want);
	kr_arena_destroy(&arena);
	return 0;
}
