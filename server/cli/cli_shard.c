/* kurier shard map|status|move. */
#include "server/cli/cli_shard.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/cli.h"
#include "storage/pgnode.h"
#include "storage/shardmove.h"

/* Nodes asked at the same time by `shard status`. */
#define SHARD_STATUS_THREADS 32

/* The buckets moved away from their config ranges (shard 0's shard_map,
 * loaded by kr_cli_init), one line per run of neighbours that went the
 * same way. */
static void
shard_map_overrides(const struct kr_shardmap *map)
{
	unsigned b = 0;

	while (b < KR_SHARD_BUCKETS) {
		int to = kr_shardmap_bucket_shard(map, b);
		int from = kr_shardmap_bucket_base(map, b);
		unsigned e = b;

		if (to == from) {
			b++;
			continue;
		}
		while (e + 1 < KR_SHARD_BUCKETS &&
		       kr_shardmap_bucket_shard(map, e + 1) == to &&
		       kr_shardmap_bucket_base(map, e + 1) == from)
			e++;
		if (e == b)
			printf("moved: bucket %u on shard %d (config: shard "
			       "%d)\n",
			       b, to, from);
		else
			printf("moved: buckets %u-%u on shard %d (config: "
			       "shard %d)\n",
			       b, e, to, from);
		b = e + 1;
	}
}

static int
shard_map(const struct kr_cli *cli)
{
	char node[KR_CONFIG_VALUE_MAX + 64];

	for (unsigned i = 0; i < cli->cfg->n_shards; i++) {
		const struct kr_config_shard *s = &cli->cfg->shards[i];

		if (s->has_buckets)
			printf("shard %u: buckets %u-%u (%u) primary %s", s->id,
			       s->bucket_lo, s->bucket_hi,
			       s->bucket_hi - s->bucket_lo + 1,
			       kr_pgnode_describe(s->primary, node,
						  sizeof(node)));
		else
			printf("shard %u: buckets none (0) primary %s", s->id,
			       kr_pgnode_describe(s->primary, node,
						  sizeof(node)));
		if (s->n_replicas > 0)
			printf(", %u replicas", s->n_replicas);
		putchar('\n');
	}
	shard_map_overrides(cli->map);
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

/* `shard move BUCKETS SHARD` */
static int
shard_move(const struct kr_cli *cli, const char *buckets, const char *shard)
{
	unsigned lo, hi;
	unsigned long dst;
	struct kr_err err;
	char *end;

	if (kr_shardmap_parse_buckets(buckets, &lo, &hi, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_USAGE;
	}
	errno = 0;
	dst = strtoul(shard, &end, 10);
	if (!isdigit((unsigned char)*shard) || *end != '\0' || errno != 0 ||
	    dst >= cli->cfg->n_shards) {
		fprintf(stderr, "kurier: no shard '%s' in %s\n", shard,
			cli->cfg->path);
		return KR_CLI_USAGE;
	}
	if (kr_shardmove_run(cli->cfg, cli->map, lo, hi, (unsigned)dst, stdout,
			     &err) < 0) {
		fprintf(stderr,
			"kurier: shard move: %s (run it again to "
			"resume)\n",
			err.msg);
		return KR_CLI_FAIL;
	}
	printf("moved buckets %u-%u to shard %u\n", lo, hi, (unsigned)dst);
	return fflush(stdout) == 0 ? KR_CLI_OK : KR_CLI_FAIL;
}

int
kr_cli_shard_run(const char *config_path, int argc, char **argv)
{
	struct kr_cli cli;
	struct kr_err err;
	int ret;

	bool move = argc == 3 && strcmp(argv[0], "move") == 0;

	if (!move && (argc != 1 || (strcmp(argv[0], "map") != 0 &&
				    strcmp(argv[0], "status") != 0))) {
		fprintf(stderr, "kurier: expected 'shard map', 'shard status' "
				"or 'shard move BUCKETS SHARD' (kurier -h for "
				"usage)\n");
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
		ret = move ? shard_move(&cli, argv[1], argv[2])
		      : strcmp(argv[0], "map") == 0 ? shard_map(&cli)
						    : shard_status(&cli);
	}
	kr_cli_deinit(&cli);
	return ret;
}
