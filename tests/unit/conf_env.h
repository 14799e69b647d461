/* Config files for the unit tests: one way to write a temporary
 * kurier.conf (conf_env_write, or conf_env_open ... conf_env_close to
 * write it in pieces) and, for the tests against a real cluster, its
 * [shard.N] sections copied from the config KR_TEST_PG_CONF names
 * (ops/pgcluster writes it), and NEED_CLUSTER. Include after cmocka.h. The
 * files stay in /tmp unless a test removes them. */
#ifndef KR_TEST_CONF_ENV_H
#define KR_TEST_CONF_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/config.h"

/* A test of a group whose set-up found no cluster (KR_TEST_PG_CONF
 * unset left *state NULL) is skipped. */
#define NEED_CLUSTER(state)           \
	do {                          \
		if (*(state) == NULL) \
			skip();       \
	} while (0)

/* conf_env_shards: every shard's replica is its own primary. */
#define CONF_ENV_REPLICA_SELF (-2)

/* A new file made from tmpl (ends in XXXXXX) into path[size], open for
 * writing. */
static inline FILE *
conf_env_open(char *path, size_t size, const char *tmpl)
{
	FILE *fp;
	int fd;

	assert_true((size_t)snprintf(path, size, "%s", tmpl) < size);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	return fp;
}

static inline void
conf_env_close(FILE *fp)
{
	assert_int_equal(fclose(fp), 0);
}

/* A new file holding text[0..len). */
static inline void
conf_env_write(char *path, size_t size, const char *tmpl, const char *text,
	       size_t len)
{
	FILE *fp = conf_env_open(path, size, tmpl);

	assert_int_equal(fwrite(text, 1, len, fp), len);
	conf_env_close(fp);
}

/* The cluster's [shard.N] sections, primaries only, except: with
 * replica_of >= 0, shard 0's replica is shard replica_of's primary;
 * with CONF_ENV_REPLICA_SELF, every shard's replica is its primary. */
static inline void
conf_env_shards(FILE *fp, int replica_of)
{
	struct kr_config *src;
	struct kr_err err;

	assert_int_equal(kr_config_load(getenv("KR_TEST_PG_CONF"), &src, &err),
			 0);
	assert_true(replica_of < (int)src->n_shards);
	for (unsigned i = 0; i < src->n_shards; i++) {
		fprintf(fp, "[shard.%u]\nprimary = %s\n", i,
			src->shards[i].primary);
		if (replica_of == CONF_ENV_REPLICA_SELF)
			fprintf(fp, "replica = %s\n", src->shards[i].primary);
		else if (replica_of >= 0 && i == 0)
			fprintf(fp, "replica = %s\n",
				src->shards[replica_of].primary);
	}
	kr_config_destroy(&src);
}

#endif
