/* The config schema: every key with its type, range, default and place
 * in struct kr_config or struct kr_config_shard, and the parsing of one
 * value into its field. Internal to lib/config*; any thread; the table
 * is immutable. */
#ifndef KR_CONFIG_SCHEMA_H
#define KR_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kr_config_type {
	KR_CONFIG_T_UINT,     /* decimal, min..max */
	KR_CONFIG_T_SIZE,     /* bytes, suffix K/M/G */
	KR_CONFIG_T_DURATION, /* ms, suffix ms/s/m */
	KR_CONFIG_T_BOOL,
	KR_CONFIG_T_STRING,  /* length min..max, no control bytes */
	KR_CONFIG_T_TOKEN,   /* length min..max of [A-Za-z0-9_-] */
	KR_CONFIG_T_ADDR,    /* kr_config_parse_addr */
	KR_CONFIG_T_LEVEL,   /* kr_log_level_parse */
	KR_CONFIG_T_ENUM,    /* one of names[], stored as its index */
	KR_CONFIG_T_DOUBLE,  /* plain decimal, min < x <= max */
	KR_CONFIG_T_BUCKETS, /* "LO-HI", 0 <= LO <= HI <= max, two unsigneds */
	KR_CONFIG_T_NETS,    /* kr_cidr_list_parse, a struct kr_cidr_list */
	KR_CONFIG_T_ADDRS,   /* at most max ADDRs, a struct kr_config_addrs */
};

enum {
	KR_CONFIG_F_REPEAT = 1 << 0, /* each line appends (shard replicas) */
	KR_CONFIG_F_SECRET = 1 << 1, /* never echoed in errors, wiped on free */
};

struct kr_config_key {
	const char *section; /* "shard" stands for every [shard.N] */
	const char *key;
	enum kr_config_type type;
	uint64_t min, max;
	const char *def; /* NULL: no default */
	size_t offset;	 /* into struct kr_config or kr_config_shard */
	size_t width;
	unsigned flags;
	const char *const *names; /* KR_CONFIG_T_ENUM: NULL-terminated */
};

/* Bounds the table, so readers can size per-key arrays statically. */
#define KR_CONFIG_SCHEMA_KEYS_MAX 128

extern const struct kr_config_key kr_config_schema_keys[];
extern const size_t kr_config_schema_n_keys;

const struct kr_config_key *kr_config_schema_find(const char *section,
						  const char *key);
/* Index of a "shard" key among the shard keys (0 = primary), for
 * per-shard bookkeeping; KR_CONFIG_SCHEMA_SHARD_KEYS bounds it. */
#define KR_CONFIG_SCHEMA_SHARD_KEYS 8
unsigned kr_config_schema_shard_index(const struct kr_config_key *k);

/* Parses value for key k into base + k->offset; -1 if it is bad (the
 * field is then unchanged). Strings are copied; an old one is freed. */
int kr_config_schema_store(const struct kr_config_key *k, char *base,
			   const char *value);
/* True when value is acceptable for a string-typed key k. */
bool kr_config_schema_string_ok(const struct kr_config_key *k,
				const char *value);
/* Frees a string value of k, wiping it first when k is secret. */
void kr_config_schema_free_string(const struct kr_config_key *k, char *s);
/* What a good value of k looks like, for error messages; returns buf. */
const char *kr_config_schema_expect(const struct kr_config_key *k, char *buf,
				    size_t size);

#endif
