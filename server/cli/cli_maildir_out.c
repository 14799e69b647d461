/* kurier export maildir: a user's mailboxes as a Dovecot Maildir++
 * tree, one message at a time (cli_maildir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/clock.h"
#include "proto/maildir.h"
#include "server/cli/cli.h"
#include "server/cli/cli_maildir.h"
#include "storage/store.h"

struct out_mailbox {
	int64_t id;
	char *name;
	bool inbox;
	int64_t total;
};

struct out {
	struct kr_cli cli;
	struct kr_store_admin_account acct;
	const char *dir;
	char host[64];
	struct out_mailbox *mb;
	unsigned n_mb;
	unsigned long long total, done, bytes, dropped_keywords;
	int64_t last_progress_ms;
	/* the folder being written */
	char folder[PATH_MAX];
	char keywords[KR_MAILDIR_KEYWORDS][KR_STORE_FLAG_LEN_MAX + 1];
	unsigned n_keywords;
};

static int
out_fail(const char *what, const char *msg)
{
	fprintf(stderr, "kurier: export maildir: %s: %s\n", what, msg);
	return -1;
}

static void
out_progress(struct out *ex, bool last)
{
	int64_t now = kr_clock_mono_ms();

	if (!last && now - ex->last_progress_ms < 1000)
		return;
	ex->last_progress_ms = now;
	fprintf(stderr, "exported %llu/%llu messages\n", ex->done, ex->total);
}

static void
out_mailbox_cb(void *ctx, const struct kr_store_admin_mailbox *mb)
{
	struct out *ex = ctx;
	struct out_mailbox *m;

	ex->mb = kr_xrealloc(ex->mb, (ex->n_mb + 1) * sizeof(*ex->mb));
	m = &ex->mb[ex->n_mb++];
	m->id = mb->id;
	m->name = kr_xstrdup(mb->name);
	m->inbox = mb->role != NULL && strcmp(mb->role, "inbox") == 0;
	m->total = mb->total;
	ex->total += (unsigned long long)mb->total;
}

/* mkdir that accepts an existing directory. */
static int
out_mkdir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return out_fail(path, strerror(errno));
}

/* ex->folder with cur/, new/ and tmp/. */
static int
out_folder_dirs(struct out *ex)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	char path[PATH_MAX + 8];

	if (out_mkdir(ex->folder) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", ex->folder, subs[i]);
		if (out_mkdir(path) < 0)
			return -1;
	}
	return 0;
}

/* The letter index of keyword kw in this folder, given one on first
 * sight; -1 when all 26 are taken. */
static int
out_keyword(struct out *ex, const char *kw)
{
	for (unsigned i = 0; i < ex->n_keywords; i++)
		if (strcmp(ex->keywords[i], kw) == 0)
			return (int)i;
	if (ex->n_keywords == KR_MAILDIR_KEYWORDS)
		return -1;
	snprintf(ex->keywords[ex->n_keywords], sizeof(ex->keywords[0]), "%s",
		 kw);
	return (int)ex->n_keywords++;
}

/* The name's ":2,..." from the message's flags. */
static int
out_suffix(struct out *ex, const struct kr_store_admin_message *m, char *buf,
	   size_t size)
{
	unsigned flags = 0;
	uint32_t keywords = 0;

	for (unsigned i = 0; i < m->n_flags; i++) {
		unsigned bit = kr_maildir_flag_bit(m->flags[i]);
		int k;

		if (bit != 0) {
			flags |= bit;
			continue;
		}
		if (m->flags[i][0] == '\\')
			continue; /* \Recent and the like: not stored */
		k = out_keyword(ex, m->flags[i]);
		if (k < 0)
			ex->dropped_keywords++;
		else
			keywords |= 1u << k;
	}
	return kr_maildir_info_suffix(flags, keywords, buf, size);
}

/* Writes all of buf to fd. */
static int
out_write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One message: tmp/<base>, its mtime the internal date, renamed to
 * cur/<base>:2,<flags>. The base is unique in the folder: the uid. */
static int
out_message(void *ctx, const struct kr_store_admin_message *m,
	    struct kr_err *err_r)
{
	struct out *ex = ctx;
	char base[128], suffix[48], tmp[PATH_MAX + 160], cur[PATH_MAX + 200];
	struct timespec times[2] = {
		{ .tv_sec = (time_t)m->internal_date },
		{ .tv_sec = (time_t)m->internal_date },
	};
	int fd;

	snprintf(base, sizeof(base), "%lld.M%lldP%d.%s,S=%zu",
		 (long long)m->internal_date, (long long)m->uid, (int)getpid(),
		 ex->host, m->raw_len);
	if (out_suffix(ex, m, suffix, sizeof(suffix)) < 0)
		return kr_err_set(err_r, KR_ERR_INTERNAL, "flags too long");
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", ex->folder, base);
	snprintf(cur, sizeof(cur), "%s/cur/%s%s", ex->folder, base, suffix);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "%s: %s", tmp,
				  strerror(errno));
	if (out_write_all(fd, m->raw, m->raw_len) < 0 ||
	    futimens(fd, times) < 0 || close(fd) < 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "%s: %s", tmp,
				  strerror(e));
	}
	if (rename(tmp, cur) < 0)
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "%s: %s", cur,
				  strerror(errno));
	ex->done++;
	ex->bytes += m->raw_len;
	out_progress(ex, false);
	return 0;
}

/* The folder's keyword letters, as Dovecot reads them. */
static int
out_keywords_file(struct out *ex)
{
	char path[PATH_MAX + 32];
	FILE *fp;

	if (ex->n_keywords == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/dovecot-keywords", ex->folder);
	fp = fopen(path, "w");
	if (fp == NULL)
		return out_fail(path, strerror(errno));
	for (unsigned i = 0; i < ex->n_keywords; i++)
		fprintf(fp, "%u %s\n", i, ex->keywords[i]);
	if (fclose(fp) != 0)
		return out_fail(path, strerror(errno));
	return 0;
}

static int
out_mailbox(struct out *ex, const struct out_mailbox *mb, FILE *subs)
{
	/* '&' takes two bytes on disk: at worst twice the name. */
	char folder[2 * KR_STORE_NAME_MAX + 2];
	struct kr_err err;

	if (mb->inbox) {
		snprintf(ex->folder, sizeof(ex->folder), "%s", ex->dir);
	} else if (kr_maildir_mailbox_to_folder(mb->name, folder,
						sizeof(folder)) < 0) {
		fprintf(stderr,
			"kurier: export maildir: mailbox %s: skipped: no "
			"Maildir++ name for it (a '.' or an empty level)\n",
			mb->name);
		return 1;
	} else {
		snprintf(ex->folder, sizeof(ex->folder), "%s/%s", ex->dir,
			 folder);
		fprintf(subs, "%s\n", folder + 1);
	}
	ex->n_keywords = 0;
	if (out_folder_dirs(ex) < 0)
		return -1;
	if (kr_store_admin_message_each(ex->cli.admin, &ex->acct, mb->id,
					out_message, ex, &err) < 0)
		return out_fail(mb->name, err.msg);
	return out_keywords_file(ex);
}

/* DIR made, or found empty. */
static int
out_dir_ready(const char *dir)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return out_fail(dir, strerror(errno));
	d = opendir(dir);
	if (d == NULL)
		return out_fail(dir, strerror(errno));
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 &&
		     strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n == 0 ? 0 : out_fail(dir, "exists and is not empty");
}

/* Everything written to the tree's file system on disk before the
 * summary says so (one syncfs rather than an fsync per message). */
static int
out_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0 || syncfs(fd) < 0)
		ret = out_fail(dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret;
}

static int
out_run(struct out *ex, const char *address)
{
	char path[PATH_MAX];
	struct kr_err err;
	int ret = 0, skipped = 0;
	FILE *subs;

	if (kr_store_admin_account_get(ex->cli.admin, address, &ex->acct,
				       &err) < 0) {
		if (err.kind == KR_ERR_NOT_FOUND)
			fprintf(stderr, "kurier: no such user %s (shard %u)\n",
				ex->acct.address, ex->acct.shard);
		else
			fprintf(stderr, "kurier: %s: %s\n", address, err.msg);
		return KR_CLI_FAIL;
	}
	if (kr_store_admin_mailbox_list(ex->cli.admin, &ex->acct,
					out_mailbox_cb, ex, &err) < 0) {
		fprintf(stderr, "kurier: %s: %s\n", address, err.msg);
		return KR_CLI_FAIL;
	}
	if (out_dir_ready(ex->dir) < 0)
		return KR_CLI_FAIL;
	snprintf(path, sizeof(path), "%s/subscriptions", ex->dir);
	subs = fopen(path, "w");
	if (subs == NULL) {
		out_fail(path, strerror(errno));
		return KR_CLI_FAIL;
	}
	ex->last_progress_ms = kr_clock_mono_ms();
	for (unsigned i = 0; i < ex->n_mb && ret >= 0; i++) {
		ret = out_mailbox(ex, &ex->mb[i], subs);
		skipped += ret == 1;
	}
	if (fclose(subs) != 0 && ret >= 0)
		ret = out_fail(path, strerror(errno));
	if (ret >= 0)
		ret = out_sync(ex->dir);
	out_progress(ex, true);
	if (ret < 0)
		return KR_CLI_FAIL;
	if (ex->dropped_keywords > 0)
		fprintf(stderr,
			"kurier: export maildir: %llu keywords left out (at "
			"most %d per folder)\n",
			ex->dropped_keywords, KR_MAILDIR_KEYWORDS);
	printf("exported %llu messages (%llu bytes) of %s to %s\n", ex->done,
	       ex->bytes, ex->acct.address, ex->dir);
	return skipped == 0 ? KR_CLI_OK : KR_CLI_FAIL;
}

int
kr_cli_maildir_export_run(const char *config_path, int argc, char **argv)
{
	struct out ex = { 0 };
	struct kr_err err;
	int ret;

	if (argc != 3 || strcmp(argv[0], "maildir") != 0) {
		fputs("kurier: usage: export maildir ADDRESS DIR (kurier -h "
		      "for usage)\n",
		      stderr);
		return KR_CLI_USAGE;
	}
	ex.dir = argv[2];
	if (gethostname(ex.host, sizeof(ex.host)) < 0)
		snprintf(ex.host, sizeof(ex.host), "localhost");
	ex.host[sizeof(ex.host) - 1] = '\0';
	/* '/' and ':' would break the name (the Maildir convention
	 * writes them as \057 and \072); '.' and ',' are fine. */
	for (char *p = ex.host; *p != '\0'; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	if (kr_cli_init(&ex.cli, config_path, true, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	ret = out_run(&ex, argv[1]);
	for (unsigned i = 0; i < ex.n_mb; i++)
		free(ex.mb[i].name);
	free(ex.mb);
	kr_cli_deinit(&ex.cli);
	return ret;
}
