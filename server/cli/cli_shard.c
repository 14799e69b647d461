/* kurier shard map|status. */
#include "server/cli/cli_shard.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/cli.h"
#include "storage/pgnode.h"

/* Nodes asked at the same time by `shard status`. */
#define SHARD_STATUS_THREADS 32

static int
shard_map(const struct kr_cli *cli)
{
	char node[KR_CONFIG_VALUE_MAX + 64];

	for (unsigned i = 0; i < cli->cfg->n_shards; i++) {
		const struct kr_config_shard *s = &cli->cfg->shards[i];

		printf("shard %u: buckets %u-%u (%u) primary %s", s->id,
		       s->bucket_lo, s->bucket_hi,
		       s->bucket_hi - s->bucket_lo + 1,
		       kr_pgnode_describe(s->primary, node, sizeof(node)));
		if (s->n_replicas > 0)
			printf(", %u replicas", s->n_replicas);
		putchar('\n');
	}
	return fflush(stdout) == 0 ? KR_CLI_OK : KR_CLI_FAIL;
}

struct shard_node {
	unsigned shard;
	const char *conninfo;
	bool is_replica;		   /* how the config lists it */
	struct kr_store_admin_probe probe; /* filled by a status thread */
};

struct shard_status {
	struct shard_node *nodes;
	unsigned n;
	atomic_uint next;
};

static void *
shard_status_thread(void *arg)
{
	struct shard_status *st = arg;
	unsigned i;

	while ((i = atomic_fetch_add(&st->next, 1)) < st->n)
		kr_store_admin_probe(st->nodes[i].conninfo,
				     &st->nodes[i].probe);
	return NULL;
}

/* Probes every node from n_threads (<= SHARD_STATUS_THREADS) threads;
 * a thread that cannot be created leaves its share to the others. */
static void
shard_status_probe_all(struct shard_status *st, unsigned n_threads)
{
	pthread_t threads[SHARD_STATUS_THREADS];
	unsigned started = 0;

	kr_assert(n_threads <= SHARD_STATUS_THREADS);
	for (unsigned i = 0; i < n_threads; i++) {
		if (pthread_create(&threads[started], NULL, shard_status_thread,
				   st) == 0)
			started++;
	}
	if (started == 0)
		shard_status_thread(st);
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
}

/* A replica's lag behind its shard's primary (probed in the same
 * run): the WAL bytes the primary wrote that the replica has not
 * replayed yet. */
static void
shard_status_print_lag(const struct shard_node *node,
		       const struct shard_node *primary)
{
	const struct kr_store_admin_probe *p = &node->probe;
	const struct kr_store_admin_probe *pp = &primary->probe;

	if (!p->in_recovery)
		return;
	if (!p->have_lsn || !pp->reachable || !pp->have_lsn || pp->in_recovery)
		printf(", lag unknown");
	else
		printf(", lag %" PRIu64 " bytes",
		       pp->lsn > p->lsn ? pp->lsn - p->lsn : 0);
	if (p->replay_paused)
		printf(", replay paused");
}

static bool
shard_status_print(const struct shard_node *node,
		   const struct shard_node *primary)
{
	const struct kr_store_admin_probe *p = &node->probe;
	char name[KR_CONFIG_VALUE_MAX + 64], users[24];

	printf("shard %u %s %s: ", node->shard,
	       node->is_replica ? "replica" : "primary",
	       kr_pgnode_describe(node->conninfo, name, sizeof(name)));
	if (!p->reachable) {
		printf("reachable no (%s)\n", p->error);
		return false;
	}
	snprintf(users, sizeof(users), "%" PRId64, p->users);
	printf("reachable yes, role %s, latency %.2f ms, users %s",
	       p->in_recovery ? "replica" : "primary", p->latency_ms,
	       p->have_users ? users : "- (no schema)");
	if (node->is_replica)
		shard_status_print_lag(node, primary);
	putchar('\n');
	return true;
}

static int
shard_status(const struct kr_cli *cli)
{
	struct shard_status st = { 0 };
	unsigned total = 0, i, j;
	bool all_ok = true;

	for (i = 0; i < cli->cfg->n_shards; i++)
		total += 1 + cli->cfg->shards[i].n_replicas;
	st.nodes = kr_xcalloc(total + 1, sizeof(*st.nodes));
	for (i = 0; i < cli->cfg->n_shards; i++) {
		const struct kr_config_shard *s = &cli->cfg->shards[i];

		st.nodes[st.n++] =
			(struct shard_node){ .shard = i,
					     .conninfo = s->primary };
		for (j = 0; j < s->n_replicas; j++)
			st.nodes[st.n++] =
				(struct shard_node){ .shard = i,
						     .conninfo = s->replicas[j],
						     .is_replica = true };
	}
	atomic_init(&st.next, 0);
	shard_status_probe_all(
		&st, st.n < SHARD_STATUS_THREADS ? st.n : SHARD_STATUS_THREADS);
	for (i = 0, j = 0; i < st.n; i++) {
		if (!st.nodes[i].is_replica)
			j = i; /* a shard's replicas follow its primary */
		all_ok = shard_status_print(&st.nodes[i], &st.nodes[j]) &&
			 all_ok;
	}
	free(st.nodes);
	if (fflush(stdout) != 0)
		return KR_CLI_FAIL;
	return all_ok ? KR_CLI_OK : KR_CLI_FAIL;
}

int
kr_cli_shard_run(const char *config_path, int argc, char **argv)
{
	struct kr_cli cli;
	struct kr_err err;
	int ret;

	if (argc != 1 ||
	    (strcmp(argv[0], "map") != 0 && strcmp(argv[0], "status") != 0)) {
		fprintf(stderr, "kurier: expected 'shard map' or 'shard "
				"status' (kurier -h for usage)\n");
		return KR_CLI_USAGE;
	}
	if (kr_cli_init(&cli, config_path, false, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	if (cli.cfg->n_shards == 0) {
		fprintf(stderr, "kurier: no [shard.N] in %s\n", cli.cfg->path);
		ret = KR_CLI_FAIL;
	} else {
		ret = strcmp(argv[0], "map") == 0 ? shard_map(&cli)
						  : shard_status(&cli);
	}
	kr_cli_deinit(&cli);
	return ret;
}
