/* Non-cryptographic hashing: 64-bit FNV-1a. Pure functions, any thread.
 * STABLE FOREVER: user placement (shard buckets, SPEC.md §4) is
 * kr_hash_fnv1a64_lower(address) % KR_SHARD_BUCKETS, so changing these
 * results would move every user to another shard. Never use them where
 * an attacker choosing keys could hurt (hash tables fed by clients). */
#ifndef KR_HASH_H
#define KR_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a, 64 bits (offset basis 14695981039346656037, prime
 * 1099511628211) over the n bytes at p. */
uint64_t kr_hash_fnv1a64(const void *p, size_t n);

/* The same over s with ASCII A-Z lower-cased as it is hashed (other
 * bytes, UTF-8 included, are hashed as they are), so "A@B" and "a@b"
 * hash alike. */
uint64_t kr_hash_fnv1a64_lower(const char *s, size_t n);

#endif
