/* kurier import maildir: a Dovecot Maildir++ tree into a user's
 * mailboxes, one message file at a time (cli_maildir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "proto/maildir.h"
#include "proto/mime.h"
#include "server/cli/cli.h"
#include "server/cli/cli_maildir.h"
#include "server/deliver/msgmeta.h"
#include "storage/store.h"

/* Files of one folder held as names while it is imported. */
#define IN_FILES_MAX 10000000
/* The arena a message's MIME summary is parsed into. */
#define IN_PARSE_ARENA (64 << 20)

struct in_file {
	char *name;	/* "cur/<file>" or "new/<file>" */
	uint64_t order; /* Dovecot's uid, or past every uid: unknown */
};

struct in_folder_files {
	struct in_file *files;
	size_t n, cap;
};

/* One dovecot-uidlist line: the file's base name (without ":2,...")
 * and its uid. */
struct in_uid {
	char *base;
	uint32_t uid;
};

struct in {
	struct kr_cli cli;
	struct kr_store_admin_account acct;
	const char *dir;
	uint64_t size_max;
	unsigned long long total, done, skipped, bytes;
	int64_t last_progress_ms;
	/* dovecot-keywords of the folder being imported */
	char keywords[KR_MAILDIR_KEYWORDS][KR_STORE_FLAG_LEN_MAX + 1];
	struct kr_arena *arena;
	/* mailbox ids by name, filled from the list (mailboxes_cb) */
	char (*mb_names)[KR_STORE_NAME_MAX + 1];
	int64_t *mb_ids;
	int64_t inbox_id;
	unsigned n_mb;
};

static int
in_fail(const char *what, const char *msg)
{
	fprintf(stderr, "kurier: import maildir: %s: %s\n", what, msg);
	return -1;
}

static void
in_progress(struct in *im, bool last)
{
	int64_t now = kr_clock_mono_ms();

	if (!last && now - im->last_progress_ms < 1000)
		return;
	im->last_progress_ms = now;
	fprintf(stderr, "imported %llu/%llu messages\n", im->done, im->total);
}

/* ---- the tree ------------------------------------------------------ */

/* Dovecot's uid order; files it has not listed after, by name (after
 * "cur/" or "new/"): Dovecot's names start with the arrival time. */
static int
in_file_cmp(const void *a, const void *b)
{
	const struct in_file *x = a, *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return strcmp(x->name + 4, y->name + 4);
}

static int
in_uid_cmp(const void *a, const void *b)
{
	return strcmp(((const struct in_uid *)a)->base,
		      ((const struct in_uid *)b)->base);
}

/* The length of a file name's base: up to its ':' info part. */
static size_t
in_base_len(const char *file)
{
	return strcspn(file, ":");
}

/* The folder's dovecot-uidlist ("<uid> [<ext> ...] :<file>" lines after
 * a header line) sorted by base name into *uids_r; none when it is
 * missing or unreadable. Lines too long or malformed are left out. */
static size_t
in_uidlist(const char *folder, struct in_uid **uids_r)
{
	char path[PATH_MAX], line[1024];
	struct in_uid *u = NULL;
	size_t n = 0, cap = 0;
	FILE *fp;

	*uids_r = NULL;
	snprintf(path, sizeof(path), "%s/dovecot-uidlist", folder);
	fp = fopen(path, "r");
	if (fp == NULL || fgets(line, sizeof(line), fp) == NULL) {
		if (fp != NULL)
			fclose(fp);
		return 0;
	}
	while (n < IN_FILES_MAX && fgets(line, sizeof(line), fp) != NULL) {
		const char *file = strstr(line, " :");
		char *end;
		unsigned long uid = strtoul(line, &end, 10);
		size_t len;

		if (file == NULL || end == line || uid == 0 ||
		    uid > UINT32_MAX || strchr(line, '\n') == NULL)
			continue;
		file += 2;
		len = strcspn(file, ":\n");
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			u = kr_xrealloc(u, cap * sizeof(*u));
		}
		u[n].base = kr_xmalloc(len + 1);
		memcpy(u[n].base, file, len);
		u[n].base[len] = '\0';
		u[n++].uid = (uint32_t)uid;
	}
	fclose(fp);
	qsort(u, n, sizeof(*u), in_uid_cmp);
	*uids_r = u;
	return n;
}

/* Each file's place: its uid in the list, else past every uid. */
static void
in_files_order(struct in_folder_files *f, const char *folder)
{
	struct in_uid *uids, key = { 0 }, *hit;
	size_t n = in_uidlist(folder, &uids);
	char base[NAME_MAX + 1];

	for (size_t i = 0; i < f->n; i++) {
		const char *file = f->files[i].name + 4;
		size_t len = in_base_len(file);

		f->files[i].order = (uint64_t)UINT32_MAX + 1;
		if (n == 0 || len > NAME_MAX)
			continue;
		memcpy(base, file, len);
		base[len] = '\0';
		key.base = base;
		hit = bsearch(&key, uids, n, sizeof(*uids), in_uid_cmp);
		if (hit != NULL)
			f->files[i].order = hit->uid;
	}
	for (size_t i = 0; i < n; i++)
		free(uids[i].base);
	free(uids);
	qsort(f->files, f->n, sizeof(*f->files), in_file_cmp);
}

/* Adds the message files of folder/sub ("cur" or "new") to f (when
 * not NULL) and counts them into *n. */
static int
in_scan_sub(const char *folder, const char *sub, struct in_folder_files *f,
	    unsigned long long *n)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", folder, sub);
	d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? 0 : in_fail(path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(*n)++;
		if (f == NULL)
			continue;
		if (f->n == IN_FILES_MAX) {
			closedir(d);
			return in_fail(path, "too many files");
		}
		if (f->n == f->cap) {
			f->cap = f->cap == 0 ? 256 : f->cap * 2;
			f->files = kr_xrealloc(f->files,
					       f->cap * sizeof(*f->files));
		}
		f->files[f->n].name = kr_xmalloc(strlen(de->d_name) + 5);
		sprintf(f->files[f->n++].name, "%s/%s", sub, de->d_name);
	}
	closedir(d);
	return 0;
}

static void
in_files_free(struct in_folder_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->files[i].name);
	free(f->files);
	memset(f, 0, sizeof(*f));
}

static int
in_count(struct in *im, const char *path, const char *name)
{
	(void)name;
	return in_scan_sub(path, "cur", NULL, &im->total) < 0 ||
			       in_scan_sub(path, "new", NULL, &im->total) < 0
		       ? -1
		       : 0;
}

/* Calls fn for INBOX (dir itself, name NULL) and each folder
 * (".A.B" -> "A/B"); stops at the first -1. */
static int
in_each_folder(struct in *im,
	       int (*fn)(struct in *im, const char *path, const char *name))
{
	char path[PATH_MAX], name[KR_STORE_NAME_MAX + 1];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int ret;

	if (fn(im, im->dir, NULL) < 0)
		return -1;
	d = opendir(im->dir);
	if (d == NULL)
		return in_fail(im->dir, strerror(errno));
	ret = 0;
	while (ret == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", im->dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (kr_maildir_folder_to_mailbox(de->d_name, name,
						 sizeof(name)) < 0) {
			/* Reported once, on the counting pass. */
			if (fn == in_count)
				fprintf(stderr,
					"kurier: import maildir: %s: skipped: "
					"not a Maildir++ folder name\n",
					path);
			continue;
		}
		ret = fn(im, path, name);
	}
	closedir(d);
	return ret;
}

/* An IMAP keyword the store takes (storage/store.h: an atom, no
 * backslash). */
static bool
in_keyword_ok(const char *kw)
{
	if (*kw == '\0' || strlen(kw) > KR_STORE_FLAG_LEN_MAX)
		return false;
	for (; *kw != '\0'; kw++)
		if (*kw <= 0x20 || *kw >= 0x7f || strchr("(){%*\"\\]", *kw))
			return false;
	return true;
}

/* The folder's dovecot-keywords ("<index> <keyword>" lines) into
 * im->keywords; keywords that are not IMAP atoms are left out. */
static void
in_keywords(struct in *im, const char *folder)
{
	char path[PATH_MAX], line[256], kw[KR_STORE_FLAG_LEN_MAX + 1];
	unsigned idx;
	FILE *fp;

	memset(im->keywords, 0, sizeof(im->keywords));
	snprintf(path, sizeof(path), "%s/dovecot-keywords", folder);
	fp = fopen(path, "r");
	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		/* 64: KR_STORE_FLAG_LEN_MAX */
		if (sscanf(line, "%u %64s", &idx, kw) != 2 ||
		    idx >= KR_MAILDIR_KEYWORDS || !in_keyword_ok(kw))
			continue;
		snprintf(im->keywords[idx], sizeof(im->keywords[idx]), "%s",
			 kw);
	}
	fclose(fp);
}

/* ---- mailboxes ----------------------------------------------------- */

static void
in_mailbox_cb(void *ctx, const struct kr_store_admin_mailbox *mb)
{
	struct in *im = ctx;

	if (mb->role != NULL && strcmp(mb->role, "inbox") == 0)
		im->inbox_id = mb->id;
	if (im->n_mb == KR_STORE_MAILBOXES_MAX)
		return;
	snprintf(im->mb_names[im->n_mb], sizeof(im->mb_names[0]), "%s",
		 mb->name);
	im->mb_ids[im->n_mb++] = mb->id;
}

/* The mailbox named name (NULL: INBOX), created when missing. */
static int
in_mailbox(struct in *im, const char *name, int64_t *id_r)
{
	struct kr_err err;

	if (name == NULL) {
		*id_r = im->inbox_id;
		return 0;
	}
	for (unsigned i = 0; i < im->n_mb; i++) {
		if (strcmp(im->mb_names[i], name) == 0) {
			*id_r = im->mb_ids[i];
			return 0;
		}
	}
	if (kr_store_admin_mailbox_create(im->cli.admin, &im->acct, name, id_r,
					  &err) < 0)
		return in_fail(name, err.msg);
	if (im->n_mb < KR_STORE_MAILBOXES_MAX) {
		snprintf(im->mb_names[im->n_mb], sizeof(im->mb_names[0]), "%s",
			 name);
		im->mb_ids[im->n_mb++] = *id_r;
	}
	fprintf(stderr, "created mailbox %s\n", name);
	return 0;
}

/* ---- messages ------------------------------------------------------ */

/* The whole file at path into *buf_r (malloc'd) if it is a regular
 * file within the size limit: 1 skipped (reported), -1 failed. */
static int
in_read(struct in *im, const char *path, unsigned char **buf_r, size_t *len_r,
	int64_t *mtime_r)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	size_t off = 0;

	*buf_r = NULL;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "kurier: import maildir: %s: skipped: %s\n",
			path, fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if ((uint64_t)st.st_size > im->size_max || st.st_size == 0) {
		fprintf(stderr,
			"kurier: import maildir: %s: skipped: %lld bytes "
			"(1 to %llu)\n",
			path, (long long)st.st_size,
			(unsigned long long)im->size_max);
		close(fd);
		return 1;
	}
	*buf_r = kr_xmalloc((size_t)st.st_size);
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf_r + off, (size_t)st.st_size - off);

		if (n <= 0) {
			fprintf(stderr,
				"kurier: import maildir: %s: skipped: %s\n",
				path, n < 0 ? strerror(errno) : "shrank");
			close(fd);
			free(*buf_r);
			*buf_r = NULL;
			return 1;
		}
		off += (size_t)n;
	}
	close(fd);
	*len_r = off;
	*mtime_r = (int64_t)st.st_mtime;
	return 0;
}

/* The file name's flags and the folder's keywords as IMAP flags. */
static unsigned
in_flags(const struct in *im, const char *name, const char **flags)
{
	struct kr_maildir_info info;
	unsigned n = 0;

	kr_maildir_name_parse(name, &info);
	for (unsigned i = 0; i < KR_MAILDIR_SYSTEM_FLAGS; i++)
		if (info.flags & (1u << i))
			flags[n++] = kr_maildir_flag_imap(i);
	for (unsigned i = 0; i < KR_MAILDIR_KEYWORDS; i++)
		if ((info.keywords & (1u << i)) && im->keywords[i][0] != '\0')
			flags[n++] = im->keywords[i];
	return n;
}

/* One message file: 0 stored, 1 skipped, -1 stop. */
static int
in_message(struct in *im, const char *folder, const char *file,
	   int64_t mailbox_id)
{
	const char *flags[KR_MAILDIR_SYSTEM_FLAGS + KR_MAILDIR_KEYWORDS];
	struct kr_store_admin_append msg = { .mailbox_id = mailbox_id };
	struct kr_mime_summary *sum = NULL;
	struct kr_store_meta meta;
	char path[PATH_MAX];
	unsigned char *raw;
	struct kr_err err;
	int64_t uid;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", folder, file);
	ret = in_read(im, path, &raw, &msg.raw_len, &msg.internal_date);
	if (ret != 0)
		return ret;
	msg.raw = raw;
	msg.n_flags = in_flags(im, file, flags);
	msg.flags = flags;
	kr_arena_reset(im->arena);
	/* Malformed MIME is stored raw with what could be read, as
	 * message.append does. */
	if (kr_mime_parse(raw, msg.raw_len, NULL, im->arena, &sum, &err) < 0)
		sum = NULL;
	memset(&meta, 0, sizeof(meta));
	if (kr_msgmeta_from_summary(sum, im->arena, &meta) == 0)
		msg.meta = &meta;
	ret = kr_store_admin_append(im->cli.admin, &im->acct, &msg, &uid, &err);
	free(raw);
	if (ret < 0)
		return in_fail(path, err.msg);
	im->bytes += msg.raw_len;
	return 0;
}

static int
in_folder(struct in *im, const char *path, const char *name)
{
	struct in_folder_files f = { 0 };
	unsigned long long n = 0;
	int64_t mailbox_id;
	int ret = 0;

	if (in_scan_sub(path, "cur", &f, &n) < 0 ||
	    in_scan_sub(path, "new", &f, &n) < 0) {
		in_files_free(&f);
		return -1;
	}
	if (f.n == 0 && name == NULL) {
		in_files_free(&f);
		return 0;
	}
	if (in_mailbox(im, name, &mailbox_id) < 0) {
		in_files_free(&f);
		return -1;
	}
	in_keywords(im, path);
	in_files_order(&f, path);
	for (size_t i = 0; i < f.n && ret >= 0; i++) {
		ret = in_message(im, path, f.files[i].name, mailbox_id);
		if (ret == 1)
			im->skipped++;
		else if (ret == 0)
			im->done++;
		in_progress(im, false);
	}
	in_files_free(&f);
	return ret < 0 ? -1 : 0;
}

/* ---- the command --------------------------------------------------- */

static int
in_run(struct in *im, const char *address)
{
	struct kr_err err;

	if (kr_store_admin_account_get(im->cli.admin, address, &im->acct,
				       &err) < 0) {
		if (err.kind == KR_ERR_NOT_FOUND)
			fprintf(stderr, "kurier: no such user %s (shard %u)\n",
				im->acct.address, im->acct.shard);
		else
			fprintf(stderr, "kurier: %s: %s\n", address, err.msg);
		return KR_CLI_FAIL;
	}
	if (kr_store_admin_mailbox_list(im->cli.admin, &im->acct, in_mailbox_cb,
					im, &err) < 0) {
		fprintf(stderr, "kurier: %s: %s\n", address, err.msg);
		return KR_CLI_FAIL;
	}
	if (in_each_folder(im, in_count) < 0)
		return KR_CLI_FAIL;
	im->last_progress_ms = kr_clock_mono_ms();
	if (in_each_folder(im, in_folder) < 0) {
		in_progress(im, true);
		return KR_CLI_FAIL;
	}
	in_progress(im, true);
	printf("imported %llu messages (%llu bytes) into %s, %llu skipped\n",
	       im->done, im->bytes, im->acct.address, im->skipped);
	return im->skipped == 0 ? KR_CLI_OK : KR_CLI_FAIL;
}

int
kr_cli_maildir_import_run(const char *config_path, int argc, char **argv)
{
	struct in im = { 0 };
	struct stat st;
	struct kr_err err;
	int ret;

	if (argc != 3 || strcmp(argv[0], "maildir") != 0) {
		fputs("kurier: usage: import maildir ADDRESS DIR (kurier -h "
		      "for usage)\n",
		      stderr);
		return KR_CLI_USAGE;
	}
	im.dir = argv[2];
	if (stat(im.dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "kurier: %s: not a directory\n", im.dir);
		return KR_CLI_USAGE;
	}
	if (kr_cli_init(&im.cli, config_path, true, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	/* What a delivery of the message would be allowed. */
	im.size_max = im.cli.cfg->lmtp.message_max;
	if (im.size_max > KR_STORE_MESSAGE_MAX)
		im.size_max = KR_STORE_MESSAGE_MAX;
	im.mb_names = kr_xcalloc(KR_STORE_MAILBOXES_MAX, sizeof(*im.mb_names));
	im.mb_ids = kr_xcalloc(KR_STORE_MAILBOXES_MAX, sizeof(*im.mb_ids));
	im.arena = kr_arena_create(64 << 10, IN_PARSE_ARENA, false);
	kr_mime_init();
	ret = in_run(&im, argv[1]);
	kr_mime_shutdown();
	kr_arena_destroy(&im.arena);
	free(im.mb_names);
	free(im.mb_ids);
	kr_cli_deinit(&im.cli);
	return ret;
}
