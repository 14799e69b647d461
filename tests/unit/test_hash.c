/* cmocka tests for lib/hash: published FNV-1a 64 vectors, and the
 * lower-casing variant that user placement depends on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/hash.h"

struct hash_vector {
	const char *in;
	size_t len;
	uint64_t want;
};

/* From the FNV reference test suite (fnv_test.c, FNV1A_64). */
static const struct hash_vector hash_vectors[] = {
	{ "", 0, 0xcbf29ce484222325ULL },
	{ "a", 1, 0xaf63dc4c8601ec8cULL },
	{ "b", 1, 0xaf63df4c8601f1a5ULL },
	{ "foobar", 6, 0x85944171f73967e8ULL },
	{ "chongo was here!\n", 17, 0x46810940eff5f915ULL },
	/* Bytes after a NUL count: the length decides, not the NUL. */
	{ "\xff\x00"
	  "A",
	  3, 0xf920ca1be415d391ULL },
};

static void
test_hash_fnv1a64_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hash_vectors) / sizeof(hash_vectors[0]);
	     i++) {
		const struct hash_vector *v = &hash_vectors[i];

		if (kr_hash_fnv1a64(v->in, v->len) != v->want)
			fail_msg("vector %zu: got %016llx", i,
				 (unsigned long long)kr_hash_fnv1a64(v->in,
								     v->len));
	}
}

/* Placement pin: if this value changes, every user moves shard. */
static void
test_hash_lower_is_stable(void **state)
{
	static const char addr[] = "User@Example.COM";

	(void)state;
	assert_true(kr_hash_fnv1a64_lower(addr, strlen(addr)) ==
		    0xb8169be981f3cadbULL);
	assert_true(kr_hash_fnv1a64("user@example.com", 16) ==
		    0xb8169be981f3cadbULL);
	assert_true(kr_hash_fnv1a64_lower("FOOBAR", 6) ==
		    0x85944171f73967e8ULL);
	assert_true(kr_hash_fnv1a64_lower("", 0) == 0xcbf29ce484222325ULL);
}

/* Only A-Z fold; every other byte hashes as itself. */
static void
test_hash_lower_ascii_only(void **state)
{
	char upper[2] = { 0, 0 }, lower[2] = { 0, 0 };

	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		uint64_t want;

		upper[0] = (char)c;
		lower[0] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		want = kr_hash_fnv1a64(lower, 1);
		assert_true(kr_hash_fnv1a64_lower(upper, 1) == want);
		if (c >= 'A' && c <= 'Z')
			assert_true(kr_hash_fnv1a64(upper, 1) != want);
	}
	/* Latin-1/UTF-8 capitals are not folded. */
	assert_true(kr_hash_fnv1a64_lower("\xc4", 1) !=
		    kr_hash_fnv1a64_lower("\xe4", 1));
	/* n bytes, not up to a NUL. */
	assert_true(kr_hash_fnv1a64_lower("AB", 1) == kr_hash_fnv1a64("a", 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_fnv1a64_vectors),
		cmocka_unit_test(test_hash_lower_is_stable),
		cmocka_unit_test(test_hash_lower_ascii_only),
	};

	return cmocka_run_group_tests_name("hash", tests, NULL, NULL);
}
