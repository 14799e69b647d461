/* kr_config_write_key: rewrites one key of a config file atomically. */
#include "lib/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config_line.h"
#include "lib/secret.h"

/* kr_config_write_key: a first pass finds the key's line and the
 * section header, a second copies the file with the change. Lines
 * are copied in pieces, so any line length works. */
struct config_wr {
	const char *section, *key, *value;
	unsigned key_line, header_line;
	bool in_section;
	char buf[KR_CONFIG_LINE_MAX];
};

/* Classifies the start of a line: 1 = the key in our section, 0 =
 * anything else; tracks which section we are in. */
static int
config_wr_match(struct config_wr *w, unsigned lineno)
{
	char *p = kr_config_line_lskip(w->buf), *end;
	size_t n;

	if (*p == '[') {
		end = strchr(p, ']');
		if (end == NULL)
			return 0;
		n = (size_t)(end - p - 1);
		w->in_section = n == strlen(w->section) &&
				memcmp(p + 1, w->section, n) == 0;
		if (w->in_section && w->header_line == 0)
			w->header_line = lineno;
		return 0;
	}
	if (!w->in_section || *p == ';' || *p == '#')
		return 0;
	end = kr_config_line_find_sep(p, "=:");
	if (*end != '=' && *end != ':')
		return 0;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	n = (size_t)(end - p);
	return n == strlen(w->key) && memcmp(p, w->key, n) == 0;
}

static void
config_wr_scan(struct config_wr *w, FILE *in)
{
	unsigned lineno = 0;
	bool at_start = true;
	size_t n;

	while ((n = kr_config_line_get(in, w->buf, sizeof(w->buf))) > 0) {
		if (at_start) {
			lineno++;
			if (config_wr_match(w, lineno) && w->key_line == 0)
				w->key_line = lineno;
		}
		at_start = w->buf[n - 1] == '\n';
	}
}

static void
config_wr_copy(struct config_wr *w, FILE *in, FILE *out)
{
	unsigned lineno = 0;
	bool at_start = true, skip = false;
	size_t n;

	while ((n = kr_config_line_get(in, w->buf, sizeof(w->buf))) > 0) {
		if (at_start) {
			lineno++;
			skip = lineno == w->key_line;
			if (skip)
				fprintf(out, "%s = %s\n", w->key, w->value);
		}
		if (!skip)
			fwrite(w->buf, 1, n, out);
		at_start = w->buf[n - 1] == '\n';
		if (at_start && w->key_line == 0 && lineno == w->header_line)
			fprintf(out, "%s = %s\n", w->key, w->value);
	}
	if (w->key_line != 0)
		return;
	if (w->header_line != 0) {
		/* The header was the last line, without a newline. */
		if (w->header_line == lineno && !at_start)
			fprintf(out, "\n%s = %s\n", w->key, w->value);
		return;
	}
	if (lineno > 0)
		fputs(at_start ? "\n" : "\n\n", out);
	fprintf(out, "[%s]\n%s = %s\n", w->section, w->key, w->value);
}

/* Only text that reads back unchanged: no control bytes, no blanks
 * at either end (inih strips them), no blank + ';' (a comment). */
static bool
config_wr_text_ok(const char *s, const char *forbidden)
{
	size_t n = strlen(s);

	if (n == 0 || n > KR_CONFIG_VALUE_MAX || isspace((unsigned char)s[0]) ||
	    isspace((unsigned char)s[n - 1]) || strpbrk(s, forbidden) != NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f ||
		    (c == ';' && isspace((unsigned char)s[i - 1])))
			return false;
	}
	return true;
}

static int
config_wr_check(const char *section, const char *key, const char *value,
		struct kr_err *err_r)
{
	char echo_s[KR_CONFIG_ECHO_MAX + 4], echo_k[KR_CONFIG_ECHO_MAX + 4];

	if (config_wr_text_ok(section, "[]") &&
	    config_wr_text_ok(key, "[]=:#;") && config_wr_text_ok(value, ""))
		return 0;
	return kr_err_set(
		err_r, KR_ERR_PERMANENT,
		"config: cannot write [%s] %s: bad section, key or "
		"value",
		kr_config_line_escape(section, echo_s, sizeof(echo_s)),
		kr_config_line_escape(key, echo_k, sizeof(echo_k)));
}

/* Creates the temp file with the original's mode (not the umask's) and,
 * as far as we may, its owner and group: a config made readable to the
 * workers' group stays readable after the rewrite. */
static FILE *
config_wr_create(const char *tmp, const struct stat *orig, struct kr_err *err_r)
{
	FILE *out = NULL;
	int fd;

	if (unlink(tmp) < 0 && errno != ENOENT)
		goto fail;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	/* Only root must manage it; others may not give the file away. */
	if ((fchown(fd, orig->st_uid, orig->st_gid) == 0 || geteuid() != 0) &&
	    fchmod(fd, orig->st_mode & 07777) == 0)
		out = fdopen(fd, "w");
	if (out != NULL)
		return out;
	close(fd);
	unlink(tmp);
fail:
	kr_config_line_sys_err(err_r, KR_ERR_INTERNAL, tmp, "",
			       "cannot create");
	return NULL;
}

/* The rename is atomic but only durable once the directory is synced;
 * failing that sync does not undo the write, so it is best effort. */
static void
config_wr_sync_dir(const char *path)
{
	char *dir = kr_xstrdup(path), *slash = strrchr(dir, '/');
	int fd;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	fd = open(slash != NULL ? dir : ".",
		  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

static int
config_wr_commit(FILE *out, const char *tmp, const char *path,
		 struct kr_err *err_r)
{
	bool ok;

	ok = fflush(out) == 0 && !ferror(out) && fsync(fileno(out)) == 0;
	if (fclose(out) != 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0) {
		kr_config_line_sys_err(err_r, KR_ERR_INTERNAL, tmp, "",
				       "cannot write");
		unlink(tmp);
		return -1;
	}
	config_wr_sync_dir(path);
	return 0;
}

static int
config_wr_run(struct config_wr *w, FILE *in, const struct stat *orig,
	      const char *path, struct kr_err *err_r)
{
	size_t tmp_size = strlen(path) + 32;
	char *tmp = kr_xmalloc(tmp_size);
	FILE *out = NULL;
	int ret = -1;

	snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
	config_wr_scan(w, in);
	/* Checked before rewind(), which clears the error flag. */
	if (!ferror(in)) {
		rewind(in);
		w->in_section = false;
		out = config_wr_create(tmp, orig, err_r);
		if (out == NULL)
			goto done;
		config_wr_copy(w, in, out);
	}
	if (ferror(in)) {
		if (out != NULL) {
			fclose(out);
			unlink(tmp);
		}
		kr_err_set(err_r, KR_ERR_INTERNAL, "%s: read error", path);
		goto done;
	}
	ret = config_wr_commit(out, tmp, path, err_r);
done:
	free(tmp);
	return ret;
}

int
kr_config_write_key(const char *path, const char *section, const char *key,
		    const char *value, struct kr_err *err_r)
{
	struct config_wr *w;
	struct stat sb;
	FILE *in;
	int ret;

	if (config_wr_check(section, key, value, err_r) < 0)
		return -1;
	in = fopen(path, "re");
	if (in == NULL || fstat(fileno(in), &sb) < 0) {
		kr_config_line_sys_err(err_r,
				       errno == ENOENT ? KR_ERR_NOT_FOUND
						       : KR_ERR_INTERNAL,
				       path, "", "cannot open");
		if (in != NULL)
			fclose(in);
		return -1;
	}
	w = kr_xcalloc(1, sizeof(*w));
	w->section = section;
	w->key = key;
	w->value = value;
	ret = config_wr_run(w, in, &sb, path, err_r);
	fclose(in);
	free(w);
	return ret;
}

int
kr_config_generate_key(struct kr_config *cfg, const char *section,
		       const char *key, char **value, size_t n_bytes,
		       struct kr_err *err_r)
{
	size_t size = 2 * n_bytes + 1;
	char *hex;

	if (*value != NULL)
		return 0;
	hex = kr_xcalloc(1, size);
	if (kr_secret_random_hex(hex, size, n_bytes, err_r) < 0 ||
	    kr_config_write_key(cfg->path, section, key, hex, err_r) < 0) {
		explicit_bzero(hex, size);
		free(hex);
		return -1;
	}
	*value = hex;
	return 1;
}
