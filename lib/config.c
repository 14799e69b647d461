/* Configuration: inih splits the file into sections and key = value
 * pairs; the schema table (config_schema.c) gives each key its type,
 * range, default and place in struct kr_config. The checks that span
 * keys (shard ids, bucket ranges, pool watermarks) run at the end. */
#include "lib/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config_line.h"
#include "lib/config_schema.h"
#include "lib/limits.h"

#define CONFIG_SYNTAX_MSG "syntax error (expected [section] or key = value)"

struct config_slot {
	struct kr_config_shard shard;
	unsigned line; /* first [shard.N] header */
	/* Where each shard key was set (0 = not set), by shard index. */
	unsigned key_lines[KR_CONFIG_SCHEMA_SHARD_KEYS];
	bool present;
};

struct config_parse {
	const char *path;
	FILE *fp;
	struct kr_config *cfg;
	struct kr_err *err_r;
	unsigned lineno; /* physical line last handed to inih */
	unsigned err_line;
	bool failed;
	/* Set by the reader for a line too long for inih's buffer: the
	 * handler call for that line takes its value from here. */
	const char *long_value;
	unsigned key_lines[KR_CONFIG_SCHEMA_KEYS_MAX]; /* where set, 0 = not */
	struct config_slot *slots; /* KR_CONFIG_SHARDS_MAX, lazily */
	char line[KR_CONFIG_LINE_MAX];
};

/* Fails the load with "<file>:<line>: <message>"; the first error
 * wins because the reader stops feeding inih afterwards. */
static int __attribute__((format(printf, 3, 4)))
config_fail(struct config_parse *st, unsigned line, const char *fmt, ...)
{
	char msg[KR_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st->failed = true;
	st->err_line = line;
	return kr_err_set(st->err_r, KR_ERR_PERMANENT, "%s:%u: %s", st->path,
			  line, msg);
}

static int
config_bad_value(struct config_parse *st, const char *section,
		 const struct kr_config_key *k, const char *value)
{
	char echo[KR_CONFIG_ECHO_MAX + 4], expect[128];

	if (k->flags & KR_CONFIG_F_SECRET)
		snprintf(echo, sizeof(echo), "<%zu bytes, not shown>",
			 strlen(value));
	else
		kr_config_line_escape(value, echo, sizeof(echo));
	return config_fail(st, st->lineno,
			   "[%s] %s: bad value '%s' (expected %s)", section,
			   k->key, echo,
			   kr_config_schema_expect(k, expect, sizeof(expect)));
}

/* "shard.N": N decimal without leading zeros, below the shard limit. */
static int
config_shard_id(const char *name, unsigned *id_r)
{
	unsigned id = 0;
	const char *p = name + strlen("shard.");

	if (strncmp(name, "shard.", strlen("shard.")) != 0 || *p == '\0' ||
	    (p[0] == '0' && p[1] != '\0'))
		return -1;
	for (; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		id = id * 10 + (unsigned)(*p - '0');
		if (id >= KR_CONFIG_SHARDS_MAX)
			return -1;
	}
	*id_r = id;
	return 0;
}

/* The schema's name for a section ("shard" for any [shard.N]), or
 * NULL when the section is unknown. */
static const char *
config_section(const char *name, unsigned *shard_id_r)
{
	if (config_shard_id(name, shard_id_r) == 0)
		return "shard";
	for (size_t i = 0; i < kr_config_schema_n_keys; i++) {
		if (strcmp(kr_config_schema_keys[i].section, "shard") != 0 &&
		    strcmp(kr_config_schema_keys[i].section, name) == 0)
			return kr_config_schema_keys[i].section;
	}
	return NULL;
}

static int
config_unknown_section(struct config_parse *st, const char *name)
{
	char echo[KR_CONFIG_ECHO_MAX + 4];

	kr_config_line_escape(name, echo, sizeof(echo));
	if (strncmp(name, "shard.", strlen("shard.")) == 0)
		return config_fail(st, st->lineno,
				   "unknown section [%s] (expected [shard.N], "
				   "N in 0..%d without leading zeros)",
				   echo, KR_CONFIG_SHARDS_MAX - 1);
	return config_fail(st, st->lineno, "unknown section [%s]", echo);
}

static struct config_slot *
config_shard_slot(struct config_parse *st, unsigned id)
{
	struct config_slot *slot;

	if (st->slots == NULL)
		st->slots =
			kr_xcalloc(KR_CONFIG_SHARDS_MAX, sizeof(*st->slots));
	slot = &st->slots[id];
	if (!slot->present) {
		slot->present = true;
		slot->line = st->lineno;
		slot->shard.id = id;
	}
	return slot;
}

static int
config_apply_shard(struct config_parse *st, const char *section,
		   const struct kr_config_key *k, unsigned id,
		   const char *value)
{
	struct config_slot *slot = config_shard_slot(st, id);
	struct kr_config_shard *shard = &slot->shard;
	unsigned *line = &slot->key_lines[kr_config_schema_shard_index(k)];

	if (!(k->flags & KR_CONFIG_F_REPEAT)) {
		if (*line != 0)
			return config_fail(st, st->lineno,
					   "[%s] %s: duplicate key (first set "
					   "on line %u)",
					   section, k->key, *line);
		*line = st->lineno;
		if (kr_config_schema_store(k, (char *)shard, value) < 0)
			return config_bad_value(st, section, k, value);
		return 0;
	}
	if (shard->n_replicas >= KR_CONFIG_REPLICAS_MAX)
		return config_fail(st, st->lineno,
				   "[%s] %s: too many replicas (max %d)",
				   section, k->key, KR_CONFIG_REPLICAS_MAX);
	if (!kr_config_schema_string_ok(k, value))
		return config_bad_value(st, section, k, value);
	shard->replicas =
		kr_xrealloc(shard->replicas,
			    (shard->n_replicas + 1) * sizeof(*shard->replicas));
	shard->replicas[shard->n_replicas++] = kr_xstrdup(value);
	return 0;
}

static int
config_apply(struct config_parse *st, const char *section, const char *name,
	     const char *value)
{
	const struct kr_config_key *k;
	const char *canon;
	char echo[KR_CONFIG_ECHO_MAX + 4];
	size_t idx;
	unsigned id = 0;

	if (*section == '\0')
		return config_fail(
			st, st->lineno, "%s: key outside any [section]",
			kr_config_line_escape(name, echo, sizeof(echo)));
	canon = config_section(section, &id);
	if (canon == NULL)
		return config_unknown_section(st, section);
	k = kr_config_schema_find(canon, name);
	if (k == NULL)
		return config_fail(
			st, st->lineno, "[%s] %s: unknown key", section,
			kr_config_line_escape(name, echo, sizeof(echo)));
	if (strlen(value) > KR_CONFIG_VALUE_MAX)
		return config_fail(
			st, st->lineno,
			"[%s] %s: value too long (%zu bytes, max %d)", section,
			name, strlen(value), KR_CONFIG_VALUE_MAX);
	if (strcmp(canon, "shard") == 0)
		return config_apply_shard(st, section, k, id, value);
	idx = (size_t)(k - kr_config_schema_keys);
	if (st->key_lines[idx] != 0)
		return config_fail(st, st->lineno,
				   "[%s] %s: duplicate key (first set on line "
				   "%u)",
				   section, name, st->key_lines[idx]);
	st->key_lines[idx] = st->lineno;
	if (kr_config_schema_store(k, (char *)st->cfg, value) < 0)
		return config_bad_value(st, section, k, value);
	return 0;
}

static int
config_handle(void *user, const char *section, const char *name,
	      const char *value)
{
	struct config_parse *st = user;

	if (st->failed)
		return 0;
	if (st->long_value != NULL) {
		value = st->long_value;
		st->long_value = NULL;
	}
	return config_apply(st, section, name, value) == 0;
}

/* A valid "[name]" header is cut after ']' (inih ignores the rest);
 * unknown sections fail here even when they hold no keys. */
static int
config_check_header(struct config_parse *st, char *start)
{
	char *end = strchr(start, ']');
	const char *canon;
	unsigned id;

	if (end == NULL)
		return 0; /* inih reports the syntax error */
	*end = '\0';
	canon = config_section(start + 1, &id);
	if (canon == NULL)
		return config_unknown_section(st, start + 1);
	if (strcmp(canon, "shard") == 0)
		config_shard_slot(st, id);
	*end = ']';
	if (end[1] != '\0') {
		end[1] = '\n';
		end[2] = '\0';
	}
	return 0;
}

/* inih's line buffer is only INI_MAX_LINE (200) bytes in Debian's
 * build, shorter than KR_CONFIG_VALUE_MAX. For longer lines we split
 * off the value the way inih would and hand it "key=" instead; the
 * handler takes the value from st->long_value. */
static char *
config_read_long(struct config_parse *st, char *start, char *str, size_t num)
{
	char *sep, *value;
	size_t name_len;

	if (*start == '#' || *start == ';' || *start == '[') {
		/* A comment, or a header without ']' (a syntax error). */
		memcpy(str, *start == '[' ? "[\n" : "#\n", 3);
		return str;
	}
	sep = kr_config_line_find_sep(start, "=:");
	if (*sep != '=' && *sep != ':') {
		config_fail(st, st->lineno, CONFIG_SYNTAX_MSG);
		return NULL;
	}
	name_len = (size_t)(sep - start);
	if (name_len + 3 > num) {
		config_fail(st, st->lineno, "line too long");
		return NULL;
	}
	value = sep + 1;
	*kr_config_line_find_sep(value, "") = '\0';
	value = kr_config_line_lskip(value);
	kr_config_line_rstrip(value);
	st->long_value = value;
	memcpy(str, start, name_len);
	memcpy(str + name_len, "=\n", 3);
	return str;
}

/* inih's reader: one physical line per call, so inih's line numbers
 * are ours. Leading whitespace is dropped, which also turns off inih's
 * continuation lines: an indented key is just a key. */
static char *
config_read(char *str, int num, void *stream)
{
	struct config_parse *st = stream;
	char *start;
	size_t n;

	st->long_value = NULL;
	if (st->failed)
		return NULL;
	if (num < 4) {
		config_fail(st, st->lineno, "inih line buffer too small");
		return NULL;
	}
	n = kr_config_line_get(st->fp, st->line, sizeof(st->line));
	if (n == 0)
		return NULL;
	st->lineno++;
	if (strlen(st->line) != n) {
		config_fail(st, st->lineno, "NUL byte in line");
		return NULL;
	}
	if (n == sizeof(st->line) - 1 && st->line[n - 1] != '\n') {
		config_fail(st, st->lineno, "line too long (max %d bytes)",
			    KR_CONFIG_LINE_MAX - 1);
		return NULL;
	}
	start = st->line;
	if (st->lineno == 1 && strncmp(start, "\xef\xbb\xbf", 3) == 0)
		start += 3;
	start = kr_config_line_lskip(start);
	if (*start == '[' && config_check_header(st, start) < 0)
		return NULL;
	if (strlen(start) < (size_t)num) {
		memcpy(str, start, strlen(start) + 1);
		return str;
	}
	return config_read_long(st, start, str, (size_t)num);
}

static void
config_free_shard(struct kr_config_shard *shard)
{
	const struct kr_config_key *k =
		kr_config_schema_find("shard", "primary");

	kr_config_schema_free_string(k, shard->primary);
	for (unsigned i = 0; i < shard->n_replicas; i++)
		kr_config_schema_free_string(k, shard->replicas[i]);
	free(shard->replicas);
}

static void
config_free_slots(struct config_parse *st)
{
	if (st->slots == NULL)
		return;
	for (unsigned i = 0; i < KR_CONFIG_SHARDS_MAX; i++) {
		if (st->slots[i].present)
			config_free_shard(&st->slots[i].shard);
	}
	free(st->slots);
	st->slots = NULL;
}

/* One side of a "lo <= hi" rule between two keys, for the message. */
struct config_bound {
	const char *section; /* "storage", "shard.3" */
	const char *key;
	unsigned line; /* 0 = the default */
	double value;
};

/* Names whichever of the two was set last: that line broke the rule.
 * strict: lo < hi is required, else lo <= hi. */
static int
config_order(struct config_parse *st, const struct config_bound *lo,
	     const struct config_bound *hi, bool strict)
{
	const struct config_bound *at = hi->line >= lo->line ? hi : lo;
	const struct config_bound *other = at == hi ? lo : hi;
	const char *rel =
		at == hi ? (strict ? ">" : ">=") : (strict ? "<" : "<=");

	if (strict ? lo->value < hi->value : lo->value <= hi->value)
		return 0;
	if (strcmp(at->section, other->section) == 0)
		return config_fail(st, at->line,
				   "[%s] %s: %g must be %s %s = %g",
				   at->section, at->key, at->value, rel,
				   other->key, other->value);
	return config_fail(st, at->line, "[%s] %s: %g must be %s [%s] %s = %g",
			   at->section, at->key, at->value, rel, other->section,
			   other->key, other->value);
}

static unsigned
config_storage_line(const struct config_parse *st, const char *key)
{
	const struct kr_config_key *k = kr_config_schema_find("storage", key);

	return st->key_lines[k - kr_config_schema_keys];
}

static int
config_check_storage(struct config_parse *st)
{
	const struct kr_config *cfg = st->cfg;
	struct config_bound lo = { "storage", "pool_low",
				   config_storage_line(st, "pool_low"),
				   cfg->storage.pool_low };
	struct config_bound hi = { "storage", "pool_high",
				   config_storage_line(st, "pool_high"),
				   cfg->storage.pool_high };
	struct config_bound alo = { "storage", "aperture_low",
				    config_storage_line(st, "aperture_low"),
				    cfg->storage.aperture_low };
	struct config_bound ahi = { "storage", "aperture_high",
				    config_storage_line(st, "aperture_high"),
				    cfg->storage.aperture_high };

	if (config_order(st, &lo, &hi, false) < 0)
		return -1;
	return config_order(st, &alo, &ahi, true);
}

/* A shard without its own pool_low/pool_high/pool_queue takes the
 * [storage] value, wherever [storage] is in the file. */
static void
config_resolve_pool(struct config_parse *st, struct config_slot *slot,
		    const char *key, unsigned *field, unsigned storage_value,
		    struct config_bound *b_r, char *section)
{
	const struct kr_config_key *k = kr_config_schema_find("shard", key);
	unsigned line = slot->key_lines[kr_config_schema_shard_index(k)];

	if (line == 0) {
		*field = storage_value;
		line = config_storage_line(st, key);
		b_r->section = "storage";
	} else {
		b_r->section = section;
	}
	b_r->key = key;
	b_r->line = line;
	b_r->value = *field;
}

static int
config_finish_pools(struct config_parse *st, unsigned n)
{
	const struct kr_config *cfg = st->cfg;

	for (unsigned i = 0; i < n; i++) {
		struct config_slot *slot = &st->slots[i];
		struct config_bound lo, hi, q;
		char section[32];

		snprintf(section, sizeof(section), "shard.%u", i);
		config_resolve_pool(st, slot, "pool_low", &slot->shard.pool_low,
				    cfg->storage.pool_low, &lo, section);
		config_resolve_pool(st, slot, "pool_high",
				    &slot->shard.pool_high,
				    cfg->storage.pool_high, &hi, section);
		config_resolve_pool(st, slot, "pool_queue",
				    &slot->shard.pool_queue,
				    cfg->storage.pool_queue, &q, section);
		if (config_order(st, &lo, &hi, false) < 0)
			return -1;
	}
	return 0;
}

struct config_range {
	unsigned lo, hi, id, line;
};

static int
config_range_cmp(const void *a, const void *b)
{
	const struct config_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorted by their first bucket, the ranges must follow each other from
 * 0 to KR_SHARD_BUCKETS - 1 with neither gap nor overlap. */
static int
config_tile_buckets(struct config_parse *st, struct config_range *r, unsigned n)
{
	unsigned next = 0;

	qsort(r, n, sizeof(*r), config_range_cmp);
	for (unsigned i = 0; i < n; i++) {
		if (r[i].lo < next) {
			const struct config_range *a = &r[i - 1], *b = &r[i];

			if (a->line > b->line) {
				a = &r[i];
				b = &r[i - 1];
			}
			return config_fail(st, b->line,
					   "[shard.%u] buckets: %u-%u overlaps "
					   "[shard.%u] buckets %u-%u",
					   b->id, b->lo, b->hi, a->id, a->lo,
					   a->hi);
		}
		if (r[i].lo > next)
			return config_fail(st, r[i].line,
					   "[shard.%u] buckets: %u-%u leaves "
					   "buckets %u-%u without a shard",
					   r[i].id, r[i].lo, r[i].hi, next,
					   r[i].lo - 1);
		next = r[i].hi + 1;
	}
	if (next < KR_SHARD_BUCKETS)
		return config_fail(st, r[n - 1].line,
				   "[shard.%u] buckets: %u-%u leaves buckets "
				   "%u-%u without a shard",
				   r[n - 1].id, r[n - 1].lo, r[n - 1].hi, next,
				   KR_SHARD_BUCKETS - 1);
	return 0;
}

/* Either no shard names its buckets (an even split) or the shards that
 * do tile all buckets and the others own none (new shards, filled by
 * bucket moves). */
static int
config_finish_buckets(struct config_parse *st, unsigned n)
{
	unsigned idx = kr_config_schema_shard_index(
		kr_config_schema_find("shard", "buckets"));
	unsigned i, set = 0;
	struct config_range *r;
	int ret;

	for (i = 0; i < n; i++)
		set += st->slots[i].key_lines[idx] != 0;
	if (set == 0) {
		for (i = 0; i < n; i++) {
			st->slots[i].shard.bucket_lo = i * KR_SHARD_BUCKETS / n;
			st->slots[i].shard.bucket_hi =
				(i + 1) * KR_SHARD_BUCKETS / n - 1;
			st->slots[i].shard.has_buckets = true;
		}
		return 0;
	}
	r = kr_xcalloc(set, sizeof(*r));
	set = 0;
	for (i = 0; i < n; i++) {
		struct kr_config_shard *sh = &st->slots[i].shard;

		sh->has_buckets = st->slots[i].key_lines[idx] != 0;
		if (!sh->has_buckets) {
			sh->bucket_lo = sh->bucket_hi = 0;
			continue;
		}
		r[set++] =
			(struct config_range){ sh->bucket_lo, sh->bucket_hi, i,
					       st->slots[i].key_lines[idx] };
	}
	ret = config_tile_buckets(st, r, set);
	free(r);
	return ret;
}

/* Shard ids must be exactly 0..n-1, each with a primary, bucket ranges
 * and resolved pool sizes; the shards then move from the slots into
 * cfg. */
static int
config_finish_shards(struct config_parse *st)
{
	unsigned n = 0, i, j;

	if (st->slots == NULL)
		return 0;
	for (i = 0; i < KR_CONFIG_SHARDS_MAX; i++)
		n += st->slots[i].present;
	for (i = 0; i < n; i++) {
		if (st->slots[i].present)
			continue;
		for (j = i + 1; !st->slots[j].present; j++)
			;
		return config_fail(st, st->slots[j].line,
				   "[shard.%u]: shard ids must be 0..n-1 "
				   "without gaps: [shard.%u] is missing",
				   j, i);
	}
	for (i = 0; i < n; i++) {
		if (st->slots[i].shard.primary == NULL)
			return config_fail(st, st->slots[i].line,
					   "[shard.%u] primary: missing (every "
					   "shard needs one)",
					   i);
	}
	if (config_finish_buckets(st, n) < 0 || config_finish_pools(st, n) < 0)
		return -1;
	st->cfg->shards = kr_xcalloc(n, sizeof(*st->cfg->shards));
	for (i = 0; i < n; i++) {
		st->cfg->shards[i] = st->slots[i].shard;
		st->slots[i].present = false;
	}
	st->cfg->n_shards = n;
	config_free_slots(st);
	return 0;
}

static void
config_set_defaults(struct kr_config *cfg)
{
	for (size_t i = 0; i < kr_config_schema_n_keys; i++) {
		const struct kr_config_key *k = &kr_config_schema_keys[i];

		if (k->def == NULL || strcmp(k->section, "shard") == 0)
			continue;
		if (kr_config_schema_store(k, (char *)cfg, k->def) < 0)
			kr_panic("config: bad default for [%s] %s", k->section,
				 k->key);
	}
}

static void
config_parse_stream(struct config_parse *st)
{
	int ret;

	ret = ini_parse_stream(config_read, st, config_handle, st);
	if (!st->failed && ferror(st->fp))
		config_fail(st, 0, "read error");
	/* inih returns the first bad line, which may be a syntax error
	 * before the line our handler failed on. */
	if (ret > 0 && (!st->failed || (unsigned)ret < st->err_line))
		config_fail(st, (unsigned)ret, CONFIG_SYNTAX_MSG);
	else if (ret < 0 && !st->failed)
		config_fail(st, 0, "parse failed (inih error %d)", ret);
	if (!st->failed && config_check_storage(st) == 0)
		config_finish_shards(st);
}

int
kr_config_load(const char *path, struct kr_config **cfg_r, struct kr_err *err_r)
{
	struct config_parse *st;
	FILE *fp;
	int ret = 0;

	*cfg_r = NULL;
	fp = fopen(path, "re");
	if (fp == NULL)
		return kr_config_line_sys_err(
			err_r,
			errno == ENOENT ? KR_ERR_NOT_FOUND : KR_ERR_PERMANENT,
			path, ":0", "cannot open");
	st = kr_xcalloc(1, sizeof(*st));
	st->path = path;
	st->fp = fp;
	st->err_r = err_r;
	st->cfg = kr_xcalloc(1, sizeof(*st->cfg));
	st->cfg->path = kr_xstrdup(path);
	config_set_defaults(st->cfg);
	config_parse_stream(st);
	fclose(fp);
	config_free_slots(st);
	if (st->failed) {
		kr_config_destroy(&st->cfg);
		ret = -1;
	} else {
		st->cfg->key_lines = kr_xcalloc(kr_config_schema_n_keys,
						sizeof(*st->cfg->key_lines));
		memcpy(st->cfg->key_lines, st->key_lines,
		       kr_config_schema_n_keys * sizeof(*st->key_lines));
	}
	*cfg_r = st->cfg;
	free(st);
	return ret;
}

void
kr_config_destroy(struct kr_config **cfgp)
{
	struct kr_config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	for (size_t i = 0; i < kr_config_schema_n_keys; i++) {
		const struct kr_config_key *k = &kr_config_schema_keys[i];
		char *s;

		if (strcmp(k->section, "shard") == 0 ||
		    (k->type != KR_CONFIG_T_STRING &&
		     k->type != KR_CONFIG_T_TOKEN &&
		     k->type != KR_CONFIG_T_ADDR))
			continue;
		memcpy(&s, (char *)cfg + k->offset, sizeof(s));
		kr_config_schema_free_string(k, s);
	}
	for (unsigned i = 0; i < cfg->n_shards; i++)
		config_free_shard(&cfg->shards[i]);
	free(cfg->shards);
	free(cfg->key_lines);
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
}

unsigned
kr_config_key_line(const struct kr_config *cfg, const char *section,
		   const char *key)
{
	const struct kr_config_key *k = kr_config_schema_find(section, key);

	if (k == NULL || cfg->key_lines == NULL ||
	    strcmp(k->section, "shard") == 0)
		return 0;
	return cfg->key_lines[k - kr_config_schema_keys];
}

static int
config_parse_port(const char *s, unsigned *port_r)
{
	unsigned port = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
		return -1;
	for (; *s != '\0'; s++)
		port = port * 10 + (unsigned)(*s - '0');
	if (port == 0 || port > 65535)
		return -1;
	*port_r = port;
	return 0;
}

int
kr_config_parse_addr(const char *s, char *host_r, size_t host_size,
		     unsigned *port_r)
{
	char host[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *h = s, *colon;
	unsigned port;
	size_t hlen;
	int af = AF_INET;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = s + 1;
		colon = close + 1;
		af = AF_INET6;
	} else {
		/* A bare IPv6 address has more than one ':'. */
		colon = strchr(s, ':');
		if (colon == NULL || strchr(colon + 1, ':') != NULL)
			return -1;
	}
	hlen = (size_t)(colon - h) - (af == AF_INET6);
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if ((af == AF_INET6 || strcmp(host, "localhost") != 0) &&
	    inet_pton(af, host, bin) != 1)
		return -1;
	if (config_parse_port(colon + 1, &port) < 0)
		return -1;
	if (host_r != NULL) {
		if (hlen >= host_size)
			return -1;
		memcpy(host_r, host, hlen + 1);
	}
	if (port_r != NULL)
		*port_r = port;
	return 0;
}
