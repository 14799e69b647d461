/* kurier user import: a Dovecot passwd-file streamed into per-shard
 * batches of kr_user_import calls. A full batch is sent at once and
 * its answer collected only before that shard's next batch, so all
 * shards insert in parallel while the file is still being read. */
#include "server/cli/cli_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/cli.h"
#include "server/cli/passwd.h"
#include "storage/pgarray.h"

/* Users per kr_user_import call: big enough that the round trip and
 * the commit are paid rarely, small enough to keep a transaction and
 * the two array literals (about 1 MB at worst) modest. */
#define IMPORT_CHUNK 1000
/* Worst case of one escaped, quoted element plus its comma. */
#define IMPORT_ARRAY_MAX(elem) (IMPORT_CHUNK * (2 * (size_t)(elem) + 3) + 3)

struct import_batch {
	struct kr_pgarray addrs, hashes;
	PGconn *conn;
	bool pending; /* a call sent, its answer not yet read */
};

struct import {
	struct kr_cli cli;
	const char *path;
	FILE *fp;
	struct import_batch *batches; /* one per shard */
	unsigned long long ok, existed, bad;
	bool failed;
	struct kr_passwd_reader rd;
};

static void
import_batch_init(struct import_batch *b)
{
	kr_pgarray_init(&b->addrs, IMPORT_ARRAY_MAX(KR_ADDRESS_MAX));
	kr_pgarray_init(&b->hashes, IMPORT_ARRAY_MAX(KR_PASSWORD_HASH_MAX));
}

static void
import_batch_deinit(struct import_batch *b)
{
	kr_pgarray_deinit(&b->addrs);
	kr_pgarray_deinit(&b->hashes);
}

static int
import_fail(struct import *im, unsigned shard, const char *msg)
{
	fprintf(stderr, "kurier: import: shard %u: %s\n", shard, msg);
	im->failed = true;
	return -1;
}

/* Reads the answer of shard's pending call and counts its statuses. */
static int
import_collect(struct import *im, unsigned shard)
{
	struct import_batch *b = &im->batches[shard];
	PGresult *res;
	int ret = 0;

	if (!b->pending)
		return 0;
	b->pending = false;
	while ((res = PQgetResult(b->conn)) != NULL) {
		if (ret == 0 && PQresultStatus(res) != PGRES_TUPLES_OK) {
			char msg[KR_ERR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%.*s",
				 (int)strcspn(PQresultErrorMessage(res), "\n"),
				 PQresultErrorMessage(res));
			ret = import_fail(im, shard, msg);
		}
		for (int i = 0; ret == 0 && i < PQntuples(res); i++) {
			if (strcmp(PQgetvalue(res, i, 1), "ok") == 0)
				im->ok++;
			else
				im->existed++;
		}
		PQclear(res);
	}
	return ret;
}

/* Sends shard's batch (after collecting its previous answer). */
static int
import_flush(struct import *im, unsigned shard)
{
	struct import_batch *b = &im->batches[shard];
	const char *params[2];
	struct kr_err err;

	if (b->addrs.n == 0 || import_collect(im, shard) < 0)
		return im->failed ? -1 : 0;
	if (b->conn == NULL) {
		b->conn = kr_cli_conn(&im->cli, shard, true, &err);
		if (b->conn == NULL)
			return import_fail(im, shard, err.msg);
	}
	params[0] = kr_pgarray_text(&b->addrs);
	params[1] = kr_pgarray_text(&b->hashes);
	if (!PQsendQueryParams(b->conn,
			       "SELECT idx, status FROM "
			       "kr_user_import($1::text[], $2::text[])",
			       2, NULL, params, NULL, NULL, 0)) {
		char msg[KR_ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%.*s",
			 (int)strcspn(PQerrorMessage(b->conn), "\n"),
			 PQerrorMessage(b->conn));
		return import_fail(im, shard, msg);
	}
	b->pending = true;
	import_batch_deinit(b);
	import_batch_init(b);
	return 0;
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
	struct import_batch *b;
	int shard, r;

	r = kr_passwd_parse_line(im->rd.line, im->rd.len, &e, &err);
	if (r <= 0)
		return r == 0 ? 0 : import_bad(im, err.msg);
	shard = kr_shardmap_shard(im->cli.map, e.addr, strlen(e.addr));
	b = &im->batches[shard];
	/* Sized for a full chunk of the longest values: cannot fail. */
	if (kr_pgarray_add_str(&b->addrs, e.addr, NULL) < 0 ||
	    kr_pgarray_add_str(&b->hashes, e.hash, NULL) < 0)
		kr_panic("import: batch arrays sized too small");
	if (b->addrs.n < IMPORT_CHUNK)
		return 0;
	return import_flush(im, (unsigned)shard);
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
		if (import_flush(im, i) < 0)
			return -1;
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
	if (kr_cli_init(&im->cli, config_path, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return -1;
	}
	if (im->cli.cfg->n_shards == 0) {
		fprintf(stderr, "kurier: no [shard.N] in %s\n",
			im->cli.cfg->path);
		return -1;
	}
	im->batches = kr_xcalloc(im->cli.cfg->n_shards, sizeof(*im->batches));
	for (unsigned i = 0; i < im->cli.cfg->n_shards; i++)
		import_batch_init(&im->batches[i]);
	return 0;
}

static void
import_close(struct import *im)
{
	for (unsigned i = 0; im->batches != NULL && i < im->cli.cfg->n_shards;
	     i++)
		import_batch_deinit(&im->batches[i]);
	free(im->batches);
	kr_cli_deinit(&im->cli);
	if (im->fp != NULL && im->fp != stdin)
		fclose(im->fp);
}

int
kr_cli_import_run(const char *config_path, int argc, char **argv)
{
	struct import *im;
	double start;
	int ret = KR_CLI_FAIL;

	if (argc != 2) {
		fprintf(stderr, "kurier: user import: expected one FILE "
				"(kurier -h for usage)\n");
		return KR_CLI_USAGE;
	}
	im = kr_xcalloc(1, sizeof(*im));
	im->path = argv[1];
	start = kr_cli_now();
	if (import_open(im, config_path) == 0) {
		import_stream(im);
		/* Answers already sent for are counted even after a failure. */
		for (unsigned i = 0; i < im->cli.cfg->n_shards; i++)
			import_collect(im, i);
		double secs = kr_cli_now() - start;

		printf("imported %llu users (%llu already existed, %llu bad "
		       "lines) in %.2f s (%.0f users/s)\n",
		       im->ok, im->existed, im->bad, secs,
		       secs > 0 ? (double)(im->ok + im->existed) / secs : 0.0);
		ret = im->failed || im->bad > 0 ? KR_CLI_FAIL : KR_CLI_OK;
	}
	import_close(im);
	free(im);
	return ret;
}
