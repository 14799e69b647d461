/* The matcher cache (rules_cache.h). A file is
 *   magic, key[32], n_slow, slow rules (rule, us, engine), n_groups,
 *   per group (n_pats, n_db, per pattern
 *   (mode, hs_flags, db), per database (size, bytes)), sha256[32]
 * in host byte order: the key covers the platform, so a file is never
 * read by another machine kind. Anything that does not fit exactly is
 * ignored and the matcher compiled again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "antispam/modules/rules/rules_cache.h"
#include "antispam/modules/rules/rules_int.h"
#include "antispam/modules/rules/rules_match.h"

/* Changes whenever the file layout or what group_plan decides changes. */
static const char cache_magic[8] = { 'K', 'R', 'R', 'C', '0', '0', '0', '3' };

int
kr_rules_cache_dir(char *path, size_t size, char *err, size_t err_size)
{
	const char *base = getenv("TMPDIR");
	struct stat st;

	if (base == NULL || base[0] != '/')
		base = "/var/tmp";
	if ((size_t)snprintf(path, size, "%s/kurier-rules-%u", base,
			     (unsigned)geteuid()) >= size) {
		snprintf(err, err_size, "cache directory name too long");
		return -1;
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* lstat: a symlink planted by someone else is refused, not
	 * followed; only our own private directory is trusted. */
	if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 07777) != 0700) {
		snprintf(err, err_size,
			 "%s: not a directory of ours with mode 0700", path);
		return -1;
	}
	return 0;
}

static void
key_str(struct kr_rules_sha256 *c, const char *s)
{
	kr_rules_sha256_update(c, s ? s : "", s ? strlen(s) + 1 : 1);
}

static void
key_u32(struct kr_rules_sha256 *c, uint32_t v)
{
	kr_rules_sha256_update(c, &v, sizeof(v));
}

void
kr_rules_cache_key(const struct kr_rules_matcher *m, uint8_t key[32])
{
	struct kr_rules_sha256 c;
	hs_platform_info_t plat;

	kr_rules_sha256_init(&c);
	kr_rules_sha256_update(&c, cache_magic, sizeof(cache_magic));
	key_str(&c, hs_version());
	memset(&plat, 0, sizeof(plat));
	hs_populate_platform(&plat);
	kr_rules_sha256_update(&c, &plat, sizeof(plat));
	key_u32(&c, (uint32_t)sizeof(void *));
	key_u32(&c, RULES_DB_CHUNK);
	key_u32(&c, RULES_DB_HEAVY);
	key_u32(&c, RULES_DB_MAX);
	key_u32(&c, RULES_COST_BUDGET_US);
	{
		/* the cost text decides which rules are skipped */
		char text[RULES_COST_TEXT + 1];

		kr_rules_cost_text(text, sizeof(text));
		key_str(&c, text);
	}
	key_u32(&c, (uint32_t)m->n_groups);
	for (size_t i = 0; i < m->n_groups; i++) {
		const struct rules_group *g = &m->groups[i];

		key_str(&c, g->hdr);
		key_u32(&c, g->hdr_mode);
		key_u32(&c, (uint32_t)g->n);
		for (size_t j = 0; j < g->n; j++) {
			const struct kr_rules_rule *r =
				kr_rules_set_get(m->set, g->pats[j].rule);

			key_u32(&c, g->pats[j].rule);
			key_str(&c, r->re);
			key_u32(&c, r->re_flags);
			key_u32(&c, r->tflags);
		}
	}
	kr_rules_sha256_final(&c, key);
}

static void
file_name(char *out, size_t size, const char *dir, const uint8_t key[32])
{
	char hex[65];

	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	snprintf(out, size, "%s/%s.hsdb", dir, hex);
}

/* ---- writing ---- */

struct cbuf {
	char *p;
	size_t len, cap;
	bool over;
};

static void
cb_put(struct cbuf *b, const void *s, size_t n)
{
	if (n == 0)
		return;
	if (b->over || n > KR_RULES_CACHE_FILE_MAX - b->len) {
		b->over = true;
		return;
	}
	if (b->len + n > b->cap) {
		while (b->len + n > b->cap)
			b->cap = b->cap ? b->cap * 2 : 1u << 16;
		b->p = kr_rules_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
cb_u32(struct cbuf *b, uint32_t v)
{
	cb_put(b, &v, sizeof(v));
}

static void
cache_encode(const struct kr_rules_matcher *m, const uint8_t key[32],
	     struct cbuf *b)
{
	cb_put(b, cache_magic, sizeof(cache_magic));
	cb_put(b, key, 32);
	cb_u32(b, (uint32_t)m->n_slow);
	for (size_t i = 0; i < m->n_slow; i++) {
		cb_u32(b, m->slow[i].rule);
		cb_u32(b, m->slow[i].us);
		cb_u32(b, m->slow[i].engine);
	}
	cb_u32(b, (uint32_t)m->n_groups);
	for (size_t i = 0; i < m->n_groups && !b->over; i++) {
		const struct rules_group *g = &m->groups[i];

		cb_u32(b, (uint32_t)g->n);
		cb_u32(b, g->n_db);
		for (size_t j = 0; j < g->n; j++) {
			cb_u32(b, g->pats[j].mode);
			cb_u32(b, g->pats[j].hs_flags);
			cb_u32(b, g->pats[j].db);
		}
		for (unsigned k = 0; k < g->n_db; k++) {
			char *bytes = NULL;
			size_t len = 0;
			uint64_t len64;

			if (g->db[k] != NULL &&
			    hs_serialize_database(g->db[k], &bytes, &len) !=
				    HS_SUCCESS) {
				b->over = true;
				return;
			}
			len64 = len;
			cb_put(b, &len64, sizeof(len64));
			cb_put(b, bytes, len);
			free(bytes);
		}
	}
}

void
kr_rules_cache_save(const struct kr_rules_matcher *m, const char *dir,
		    const uint8_t key[32])
{
	struct cbuf b = { 0 };
	struct kr_rules_sha256 c;
	uint8_t sum[32];
	char path[4096], tmp[4200];
	int fd;

	cache_encode(m, key, &b);
	kr_rules_sha256_init(&c);
	kr_rules_sha256_update(&c, b.p, b.len);
	kr_rules_sha256_final(&c, sum);
	cb_put(&b, sum, sizeof(sum));
	file_name(path, sizeof(path), dir, key);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	/* The temp name is per process; O_EXCL|O_NOFOLLOW: never write
	 * through what another process left or planted there. */
	fd = b.over ? -1
		    : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (fd < 0 && !b.over && errno == EEXIST) {
		unlink(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	}
	if (fd >= 0) {
		size_t off = 0;
		bool ok = true;

		while (ok && off < b.len) {
			ssize_t w = write(fd, b.p + off, b.len - off);

			if (w < 0 && errno == EINTR)
				continue;
			ok = w > 0;
			off += ok ? (size_t)w : 0;
		}
		ok = close(fd) == 0 && ok;
		if (!ok || rename(tmp, path) != 0)
			unlink(tmp);
	}
	free(b.p);
}

/* ---- reading ---- */

struct crd {
	const char *p;
	size_t len, off;
	bool bad;
};

static const void *
cr_get(struct crd *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	r->off += n;
	return r->p + r->off - n;
}

static uint32_t
cr_u32(struct crd *r)
{
	const void *p = cr_get(r, sizeof(uint32_t));
	uint32_t v = 0;

	if (p != NULL)
		memcpy(&v, p, sizeof(v));
	return v;
}

static char *
cache_read(const char *path, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char *p = NULL;
	size_t off = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_size < 128 ||
	    (uint64_t)st.st_size > KR_RULES_CACHE_FILE_MAX) {
		close(fd);
		return NULL;
	}
	p = kr_rules_xmalloc((size_t)st.st_size);
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, p + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	if (off != (size_t)st.st_size) {
		free(p);
		return NULL;
	}
	*len_r = off;
	return p;
}

/* Reads group g's part into g; -1 when it does not match g. */
static int
cache_group(struct crd *r, struct rules_group *g)
{
	if (cr_u32(r) != g->n)
		return -1;
	g->n_db = cr_u32(r);
	if (g->n_db > RULES_DB_MAX)
		return -1;
	for (size_t j = 0; j < g->n && !r->bad; j++) {
		uint32_t mode = cr_u32(r);

		g->pats[j].mode = (enum rules_pat_mode)mode;
		g->pats[j].hs_flags = cr_u32(r);
		g->pats[j].db = cr_u32(r);
		if (mode >= RULES_PAT_MODE_N || g->pats[j].db >= g->n_db)
			return -1;
	}
	for (unsigned k = 0; k < g->n_db && !r->bad; k++) {
		const void *lp = cr_get(r, sizeof(uint64_t));
		uint64_t len = 0;
		const char *bytes;

		if (lp != NULL)
			memcpy(&len, lp, sizeof(len));
		if (len > r->len)
			return -1;
		bytes = cr_get(r, (size_t)len);
		if (bytes == NULL)
			return -1;
		if (len > 0 && hs_deserialize_database(bytes, (size_t)len,
						       &g->db[k]) != HS_SUCCESS)
			return -1;
	}
	return r->bad ? -1 : 0;
}

static void
cache_drop(struct kr_rules_matcher *m)
{
	for (size_t i = 0; i < m->n_groups; i++) {
		struct rules_group *g = &m->groups[i];

		for (unsigned k = 0; k < RULES_DB_MAX; k++) {
			hs_free_database(g->db[k]);
			g->db[k] = NULL;
		}
		g->n_db = 0;
		for (size_t j = 0; j < g->n; j++)
			g->pats[j] =
				(struct rules_pat){ .rule = g->pats[j].rule };
	}
}

/* The slow rules of the file into m->slow, applied to set. */
static int
cache_slow(struct crd *r, struct kr_rules_matcher *m, struct kr_rules_set *set)
{
	uint32_t n = cr_u32(r);

	if (r->bad || n > m->n_rules || n > (r->len - r->off) / 12)
		return -1;
	m->slow = kr_rules_xrealloc(m->slow, (n ? n : 1) * sizeof(*m->slow));
	for (uint32_t i = 0; i < n; i++) {
		m->slow[i].rule = cr_u32(r);
		m->slow[i].us = cr_u32(r);
		m->slow[i].engine = cr_u32(r);
		if (m->slow[i].rule >= m->n_rules)
			return -1;
	}
	m->n_slow = n;
	kr_rules_matcher_apply_slow(m, set);
	return 0;
}

int
kr_rules_cache_load(struct kr_rules_matcher *m, struct kr_rules_set *set,
		    const char *dir, const uint8_t key[32])
{
	char path[4096];
	struct kr_rules_sha256 c;
	uint8_t sum[32];
	struct crd r = { 0 };
	int rc = 0;

	file_name(path, sizeof(path), dir, key);
	r.p = cache_read(path, &r.len);
	if (r.p == NULL)
		return -1;
	kr_rules_sha256_init(&c);
	kr_rules_sha256_update(&c, r.p, r.len - 32);
	kr_rules_sha256_final(&c, sum);
	r.len -= 32;
	if (memcmp(sum, r.p + r.len, 32) != 0 ||
	    memcmp(cr_get(&r, sizeof(cache_magic)), cache_magic,
		   sizeof(cache_magic)) != 0 ||
	    memcmp(cr_get(&r, 32), key, 32) != 0 ||
	    cache_slow(&r, m, set) != 0 || cr_u32(&r) != m->n_groups)
		rc = -1;
	for (size_t i = 0; i < m->n_groups && rc == 0; i++)
		rc = cache_group(&r, &m->groups[i]);
	if (rc == 0 && r.off != r.len)
		rc = -1;
	if (rc != 0)
		cache_drop(m);
	free((void *)r.p);
	return rc;
}
