/* 64-bit FNV-1a (http://www.isthe.com/chongo/tech/comp/fnv/). */
#include "lib/hash.h"

#define HASH_FNV64_OFFSET 14695981039346656037ULL
#define HASH_FNV64_PRIME 1099511628211ULL

uint64_t
kr_hash_fnv1a64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = HASH_FNV64_OFFSET;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= HASH_FNV64_PRIME;
	}
	return h;
}

uint64_t
kr_hash_fnv1a64_lower(const char *s, size_t n)
{
	uint64_t h = HASH_FNV64_OFFSET;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* Not tolower(): its result depends on the locale, and
		 * placement must not. */
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h ^= c;
		h *= HASH_FNV64_PRIME;
	}
	return h;
}
