/* kurier user import: a Dovecot passwd-file streamed into the store's
 * per-shard import batches (storage/store_admin.h), which insert on
 * every shard in parallel while the file is still being read. */
#include "server/cli/cli_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "server/cli/cli.h"
#include "server/cli/passwd.h"

struct import {
	struct kr_cli cli;
	const char *path;
	FILE *fp;
	struct kr_store_admin_import_counts counts;
	unsigned long long bad;
	bool failed;
	struct kr_passwd_reader rd;
};

static int
import_fail(struct import *im, const struct kr_err *err)
{
	fprintf(stderr, "kurier: import: %s\n", err->msg);
	im->failed = true;
	return -1;
}

/* Reports a bad line and goes on; returns 0. */
static int
import_bad(struct import *im, const char *reason)
{
	fprintf(stderr, "%s:%llu: %s\n", im->path, im->rd.lineno, reason);
	im->bad++;
	return 0;
}

/* One parsed line into the batch of its shard. */
static int
import_line(struct import *im)
{
	struct kr_passwd_entry e;
	struct kr_err err;
	int r;

	r = kr_passwd_parse_line(im->rd.line, im->rd.len, &e, &err);
	if (r <= 0)
		return r == 0 ? 0 : import_bad(im, err.msg);
	if (kr_store_admin_import_add(im->cli.admin, e.addr, e.hash,
				      &im->counts, &err) < 0)
		return import_fail(im, &err);
	return 0;
}

static int
import_stream(struct import *im)
{
	struct kr_err err;
	int r;

	while ((r = kr_passwd_read(&im->rd, &err)) != 0) {
		if (r < 0)
			import_bad(im, err.msg);
		else if (import_line(im) < 0)
			return -1;
	}
	if (ferror(im->fp)) {
		fprintf(stderr, "kurier: import: %s: read error\n", im->path);
		im->failed = true;
		return -1;
	}
	for (unsigned i = 0; i < im->cli.cfg->n_shards; i++) {
		if (kr_store_admin_import_flush(im->cli.admin, i, &im->counts,
						&err) < 0)
			return import_fail(im, &err);
	}
	return 0;
}

static int
import_open(struct import *im, const char *config_path)
{
	struct kr_err err;

	if (strcmp(im->path, "-") == 0) {
		im->fp = stdin;
	} else {
		im->fp = fopen(im->path, "re");
		if (im->fp == NULL) {
			fprintf(stderr, "kurier: import: cannot open %s: %m\n",
				im->path);
			return -1;
		}
	}
	kr_passwd_reader_init(&im->rd, im->fp);
	if (kr_cli_init(&im->cli, config_path, true, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return -1;
	}
	if (im->cli.cfg->n_shards == 0) {
		fprintf(stderr, "kurier: no [shard.N] in %s\n",
			im->cli.cfg->path);
		return -1;
	}
	return 0;
}

static void
import_close(struct import *im)
{
	kr_cli_deinit(&im->cli);
	if (im->fp != NULL && im->fp != stdin)
		fclose(im->fp);
}

int
kr_cli_import_run(const char *config_path, int argc, char **argv)
{
	struct import *im;
	struct kr_err err;
	int64_t start;
	int ret = KR_CLI_FAIL;

	if (argc != 2) {
		fprintf(stderr, "kurier: user import: expected one FILE "
				"(kurier -h for usage)\n");
		return KR_CLI_USAGE;
	}
	im = kr_xcalloc(1, sizeof(*im));
	im->path = argv[1];
	start = kr_clock_mono_us();
	if (import_open(im, config_path) == 0) {
		import_stream(im);
		/* Answers already sent for are counted even after a failure. */
		for (unsigned i = 0; i < im->cli.cfg->n_shards; i++) {
			if (kr_store_admin_import_collect(
				    im->cli.admin, i, &im->counts, &err) < 0)
				import_fail(im, &err);
		}
		double secs = (double)(kr_clock_mono_us() - start) / 1e6;
		unsigned long long ok = im->counts.ok,
				   existed = im->counts.existed;

		printf("imported %llu users (%llu already existed, %llu bad "
		       "lines) in %.2f s (%.0f users/s)\n",
		       ok, existed, im->bad, secs,
		       secs > 0 ? (double)(ok + existed) / secs : 0.0);
		ret = im->failed || im->bad > 0 ? KR_CLI_FAIL : KR_CLI_OK;
	}
	import_close(im);
	free(im);
	return ret;
}
