/* Configuration: inih splits the file into sections and key = value
 * pairs; one schema table below gives each key its type, range,
 * default and place in struct kr_config. */
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
#include "lib/limits.h"

#define CONFIG_STR(x) #x
#define CONFIG_XSTR(x) CONFIG_STR(x)
#define CONFIG_FIELD(f) \
	offsetof(struct kr_config, f), sizeof(((struct kr_config *)0)->f)
#define CONFIG_SHARD_FIELD(f)                \
	offsetof(struct kr_config_shard, f), \
		sizeof(((struct kr_config_shard *)0)->f)

#define CONFIG_SYNTAX_MSG "syntax error (expected [section] or key = value)"

enum config_type {
	CONFIG_UINT,	 /* decimal, min..max */
	CONFIG_SIZE,	 /* bytes, suffix K/M/G */
	CONFIG_DURATION, /* ms, suffix ms/s/m */
	CONFIG_BOOL,
	CONFIG_STRING, /* length min..max, no control bytes */
	CONFIG_TOKEN,  /* length min..max of [A-Za-z0-9_-] */
	CONFIG_ADDR,   /* kr_config_parse_addr */
	CONFIG_LEVEL,  /* kr_log_level_parse */
};

enum {
	CONFIG_F_REPEAT = 1 << 0, /* each line appends (shard replicas) */
	CONFIG_F_SECRET = 1 << 1, /* never echoed in errors, wiped on free */
};

struct config_key {
	const char *section; /* "shard" stands for every [shard.N] */
	const char *key;
	enum config_type type;
	uint64_t min, max;
	const char *def; /* NULL: no default */
	size_t offset;	 /* into struct kr_config or kr_config_shard */
	size_t width;
	unsigned flags;
};

/* KR_MAX_RSS_DEFAULT is an expression, not a literal; the unit test
 * pins "512M" to it. Every shard needs a primary (config_finish_shards). */
static const struct config_key config_keys[] = {
	{ "workers", "count", CONFIG_UINT, 0, KR_WORKERS_MAX, "0",
	  CONFIG_FIELD(workers.count), 0 },
	{ "workers", "max_requests", CONFIG_UINT, 0, UINT64_MAX, "0",
	  CONFIG_FIELD(workers.max_requests), 0 },
	{ "workers", "max_rss", CONFIG_SIZE, 0, UINT64_MAX, "512M",
	  CONFIG_FIELD(workers.max_rss), 0 },
	{ "workers", "restart_intensity", CONFIG_UINT, 1, 1000,
	  CONFIG_XSTR(KR_RESTART_INTENSITY_DEFAULT),
	  CONFIG_FIELD(workers.restart_intensity), 0 },
	{ "workers", "restart_period", CONFIG_DURATION, 100, 3600000,
	  CONFIG_XSTR(KR_RESTART_PERIOD_MS_DEFAULT),
	  CONFIG_FIELD(workers.restart_period_ms), 0 },
	{ "workers", "drain_timeout", CONFIG_DURATION, 100, 600000,
	  CONFIG_XSTR(KR_DRAIN_TIMEOUT_MS_DEFAULT),
	  CONFIG_FIELD(workers.drain_timeout_ms), 0 },
	{ "workers", "io_threads", CONFIG_UINT, 1, KR_IO_THREADS_MAX,
	  CONFIG_XSTR(KR_IO_THREADS_DEFAULT), CONFIG_FIELD(workers.io_threads),
	  0 },
	{ "workers", "io_queue", CONFIG_UINT, 1, KR_POOL_QUEUE_MAX,
	  CONFIG_XSTR(KR_POOL_QUEUE_DEFAULT), CONFIG_FIELD(workers.io_queue),
	  0 },
	{ "workers", "cpu_queue", CONFIG_UINT, 1, KR_POOL_QUEUE_MAX,
	  CONFIG_XSTR(KR_POOL_QUEUE_DEFAULT), CONFIG_FIELD(workers.cpu_queue),
	  0 },
	{ "workers", "cpu_inline_max", CONFIG_SIZE, 0, 1 << 20,
	  CONFIG_XSTR(KR_CPU_INLINE_MAX_DEFAULT),
	  CONFIG_FIELD(workers.cpu_inline_max), 0 },
	{ "admin", "listen", CONFIG_ADDR, 0, 0, "127.0.0.1:8081",
	  CONFIG_FIELD(admin.listen), 0 },
	{ "admin", "token", CONFIG_TOKEN, 32, 256, NULL,
	  CONFIG_FIELD(admin.token), CONFIG_F_SECRET },
	{ "admin", "metrics_open", CONFIG_BOOL, 0, 0, "false",
	  CONFIG_FIELD(admin.metrics_open), 0 },
	{ "log", "level", CONFIG_LEVEL, 0, 0, "info", CONFIG_FIELD(log.level),
	  0 },
	{ "shard", "primary", CONFIG_STRING, 1, KR_CONFIG_VALUE_MAX, NULL,
	  CONFIG_SHARD_FIELD(primary), CONFIG_F_SECRET },
	{ "shard", "replica", CONFIG_STRING, 1, KR_CONFIG_VALUE_MAX, NULL,
	  CONFIG_SHARD_FIELD(replicas), CONFIG_F_REPEAT | CONFIG_F_SECRET },
};

#define CONFIG_N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

struct config_slot {
	struct kr_config_shard shard;
	unsigned line; /* first [shard.N] header */
	unsigned primary_line;
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
	unsigned key_lines[CONFIG_N_KEYS]; /* where each key was set */
	struct config_slot *slots;	   /* KR_CONFIG_SHARDS_MAX, lazily */
	char line[KR_CONFIG_LINE_MAX];
};

/* "<path><at>: <what>: <strerror(errno)>" */
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
config_parse_digits(const char **s, uint64_t *n_r)
{
	const char *p = *s;
	uint64_t n = 0;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*s = p;
	*n_r = n;
	return 0;
}

static uint64_t
config_suffix_mult(enum config_type type, const char *suffix)
{
	if (*suffix == '\0')
		return 1;
	if (type == CONFIG_SIZE && suffix[1] == '\0') {
		switch (tolower((unsigned char)*suffix)) {
		case 'k':
			return 1ULL << 10;
		case 'm':
			return 1ULL << 20;
		case 'g':
			return 1ULL << 30;
		default:
			return 0;
		}
	}
	if (type == CONFIG_DURATION) {
		if (strcmp(suffix, "ms") == 0)
			return 1;
		if (strcmp(suffix, "s") == 0)
			return 1000;
		if (strcmp(suffix, "m") == 0)
			return 60000;
	}
	return 0;
}

/* Digits with the suffixes the type allows; overflow is an error. */
static int
config_parse_number(enum config_type type, const char *s, uint64_t *n_r)
{
	uint64_t n, mult;

	if (config_parse_digits(&s, &n) < 0)
		return -1;
	mult = config_suffix_mult(type, s);
	if (mult == 0 || n > UINT64_MAX / mult)
		return -1;
	*n_r = n * mult;
	return 0;
}

static int
config_parse_bool(const char *s, bool *b_r)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b_r = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b_r = false;
			return 0;
		}
	}
	return -1;
}

static bool
config_string_ok(const struct config_key *k, const char *s)
{
	size_t len = strlen(s);

	if (len < k->min || len > k->max)
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (k->type == CONFIG_TOKEN && !isalnum(c) && c != '_' &&
		    c != '-')
			return false;
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static void
config_store_uint(char *dst, size_t width, uint64_t n)
{
	if (width == sizeof(uint64_t)) {
		memcpy(dst, &n, sizeof(n));
	} else {
		unsigned u = (unsigned)n;

		kr_assert(width == sizeof(unsigned) && n <= UINT32_MAX);
		memcpy(dst, &u, sizeof(u));
	}
}

static void
config_free_string(const struct config_key *k, char *s)
{
	if (s != NULL && (k->flags & CONFIG_F_SECRET))
		explicit_bzero(s, strlen(s));
	free(s);
}

/* Parses value for key k into base + k->offset; -1 if it is bad. */
static int
config_store(const struct config_key *k, char *base, const char *value)
{
	char *dst = base + k->offset, *old;
	uint64_t n;
	bool b;
	enum kr_log_level level;

	switch (k->type) {
	case CONFIG_UINT:
	case CONFIG_SIZE:
	case CONFIG_DURATION:
		if (config_parse_number(k->type, value, &n) < 0 || n < k->min ||
		    n > k->max)
			return -1;
		config_store_uint(dst, k->width, n);
		return 0;
	case CONFIG_BOOL:
		if (config_parse_bool(value, &b) < 0)
			return -1;
		memcpy(dst, &b, sizeof(b));
		return 0;
	case CONFIG_LEVEL:
		if (kr_log_level_parse(value, &level) < 0)
			return -1;
		memcpy(dst, &level, sizeof(level));
		return 0;
	case CONFIG_ADDR:
		if (kr_config_parse_addr(value, NULL, 0, NULL) < 0)
			return -1;
		break;
	case CONFIG_STRING:
	case CONFIG_TOKEN:
		if (!config_string_ok(k, value))
			return -1;
		break;
	}
	kr_assert(k->width == sizeof(char *));
	memcpy(&old, dst, sizeof(old));
	config_free_string(k, old);
	old = kr_xstrdup(value);
	memcpy(dst, &old, sizeof(old));
	return 0;
}

/* Sizes and durations read back the way one would write them. */
static void
config_format_number(enum config_type type, uint64_t n, char *buf, size_t size)
{
	static const struct {
		enum config_type type;
		uint64_t unit;
		const char *suffix;
	} units[] = {
		{ CONFIG_SIZE, 1ULL << 30, "G" },
		{ CONFIG_SIZE, 1ULL << 20, "M" },
		{ CONFIG_SIZE, 1ULL << 10, "K" },
		{ CONFIG_DURATION, 60000, "m" },
		{ CONFIG_DURATION, 1000, "s" },
		{ CONFIG_DURATION, 1, "ms" },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (units[i].type == type && n != 0 && n % units[i].unit == 0) {
			snprintf(buf, size, "%llu%s",
				 (unsigned long long)(n / units[i].unit),
				 units[i].suffix);
			return;
		}
	}
	snprintf(buf, size, "%llu", (unsigned long long)n);
}

static const char *
config_expect(const struct config_key *k, char *buf, size_t size)
{
	static const char *const what[] = {
		[CONFIG_UINT] = "a whole number",
		[CONFIG_SIZE] = "a size in bytes (suffix K, M or G)",
		[CONFIG_DURATION] = "a duration in ms (suffix ms, s or m)",
		[CONFIG_BOOL] = "true, false, yes, no, on, off, 1 or 0",
		[CONFIG_STRING] = "a string without control characters",
		[CONFIG_TOKEN] = "characters A-Z a-z 0-9 _ -",
		[CONFIG_ADDR] = "ip:port, [ipv6]:port or localhost:port",
		[CONFIG_LEVEL] = "debug, info, warn or error",
	};
	char lo[32], hi[32];

	if (k->type == CONFIG_BOOL || k->type == CONFIG_ADDR ||
	    k->type == CONFIG_LEVEL || (k->min == 0 && k->max == UINT64_MAX)) {
		snprintf(buf, size, "%s", what[k->type]);
		return buf;
	}
	config_format_number(k->type, k->min, lo, sizeof(lo));
	config_format_number(k->type, k->max, hi, sizeof(hi));
	snprintf(buf, size, "%s%s%s..%s", what[k->type],
		 k->type >= CONFIG_STRING ? ", length " : " in ", lo, hi);
	return buf;
}

static int
config_bad_value(struct config_parse *st, const char *section,
		 const struct config_key *k, const char *value)
{
	char echo[KR_CONFIG_ECHO_MAX + 4], expect[128];

	if (k->flags & CONFIG_F_SECRET)
		snprintf(echo, sizeof(echo), "<%zu bytes, not shown>",
			 strlen(value));
	else
		kr_config_line_escape(value, echo, sizeof(echo));
	return config_fail(st, st->lineno,
			   "[%s] %s: bad value '%s' (expected %s)", section,
			   k->key, echo,
			   config_expect(k, expect, sizeof(expect)));
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
	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		if (strcmp(config_keys[i].section, "shard") != 0 &&
		    strcmp(config_keys[i].section, name) == 0)
			return config_keys[i].section;
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

static const struct config_key *
config_find_key(const char *section, const char *key)
{
	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].key, key) == 0)
			return &config_keys[i];
	}
	return NULL;
}

static int
config_apply_shard(struct config_parse *st, const char *section,
		   const struct config_key *k, unsigned id, const char *value)
{
	struct config_slot *slot = config_shard_slot(st, id);
	struct kr_config_shard *shard = &slot->shard;

	if (!(k->flags & CONFIG_F_REPEAT)) {
		if (slot->primary_line != 0)
			return config_fail(st, st->lineno,
					   "[%s] %s: duplicate key (first set "
					   "on line %u)",
					   section, k->key, slot->primary_line);
		slot->primary_line = st->lineno;
		if (config_store(k, (char *)shard, value) < 0)
			return config_bad_value(st, section, k, value);
		return 0;
	}
	if (shard->n_replicas >= KR_CONFIG_REPLICAS_MAX)
		return config_fail(st, st->lineno,
				   "[%s] %s: too many replicas (max %d)",
				   section, k->key, KR_CONFIG_REPLICAS_MAX);
	if (!config_string_ok(k, value))
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
	const struct config_key *k;
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
	k = config_find_key(canon, name);
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
	idx = (size_t)(k - config_keys);
	if (st->key_lines[idx] != 0)
		return config_fail(st, st->lineno,
				   "[%s] %s: duplicate key (first set on line "
				   "%u)",
				   section, name, st->key_lines[idx]);
	st->key_lines[idx] = st->lineno;
	if (config_store(k, (char *)st->cfg, value) < 0)
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
	const struct config_key *k = config_find_key("shard", "primary");

	config_free_string(k, shard->primary);
	for (unsigned i = 0; i < shard->n_replicas; i++)
		config_free_string(k, shard->replicas[i]);
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

/* Shard ids must be exactly 0..n-1, each with a primary; the shards
 * then move from the slots into cfg. */
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
	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->def == NULL || strcmp(k->section, "shard") == 0)
			continue;
		if (config_store(k, (char *)cfg, k->def) < 0)
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
	if (!st->failed)
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
	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		const struct config_key *k = &config_keys[i];
		char *s;

		if (strcmp(k->section, "shard") == 0 ||
		    (k->type != CONFIG_STRING && k->type != CONFIG_TOKEN &&
		     k->type != CONFIG_ADDR))
			continue;
		memcpy(&s, (char *)cfg + k->offset, sizeof(s));
		config_free_string(k, s);
	}
	for (unsigned i = 0; i < cfg->n_shards; i++)
		config_free_shard(&cfg->shards[i]);
	free(cfg->shards);
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
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
