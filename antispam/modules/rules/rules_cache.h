/* The matcher cache: a matcher's Hyperscan databases and pattern
 * modes, serialized into a file named by a SHA-256 of everything that
 * determines them, so that a second open of the same rules (another
 * worker, a reload) loads in milliseconds what took seconds to
 * compile. */
#ifndef KR_RULES_CACHE_H
#define KR_RULES_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct kr_rules_sha256 {
	uint32_t h[8];
	uint8_t buf[64];
	uint64_t len;
	size_t n;
};

void kr_rules_sha256_init(struct kr_rules_sha256 *c);
void kr_rules_sha256_update(struct kr_rules_sha256 *c, const void *data,
			    size_t len);
void kr_rules_sha256_final(struct kr_rules_sha256 *c, uint8_t out[32]);

/* Serialized caches bigger than this are not written nor read. */
#define KR_RULES_CACHE_FILE_MAX (512u << 20)

struct kr_rules_matcher;
struct kr_rules_set;

/* The key of m's groups (computed before compiling). */
void kr_rules_cache_key(const struct kr_rules_matcher *m, uint8_t key[32]);
/* Fills m's groups from dir's file for key, after skipping in set the
 * rules the build that wrote it found too slow: 0, or -1 when there is
 * none or it does not fit (then m's groups are as before). */
int kr_rules_cache_load(struct kr_rules_matcher *m, struct kr_rules_set *set,
			const char *dir, const uint8_t key[32]);
/* Writes m's groups for key (temp file, then rename); failures are
 * ignored: the next open builds again. */
void kr_rules_cache_save(const struct kr_rules_matcher *m, const char *dir,
			 const uint8_t key[32]);

#endif
