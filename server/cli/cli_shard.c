/* kurier shard map|status. */
#include "server/cli/cli_shard.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/cli.h"

/* Nodes asked at the same time by `shard status`. */
#define SHARD_STATUS_THREADS 32
/* Seconds for each node to accept a connection, and for each query. */
#define SHARD_STATUS_CONNECT_S "2"
#define SHARD_STATUS_QUERY_MS "2000"

static int
shard_map(const struct kr_cli *cli)
{
	char node[KR_CONFIG_VALUE_MAX + 64];

	for (unsigned i = 0; i < cli->cfg->n_shards; i++) {
		const struct kr_config_shard *s = &cli->cfg->shards[i];

		printf("shard %u: buckets %u-%u (%u) primary %s", s->id,
		       s->bucket_lo, s->bucket_hi,
		       s->bucket_hi - s->bucket_lo + 1,
		       kr_cli_node_name(s->primary, node, sizeof(node)));
		if (s->n_replicas > 0)
			printf(", %u replicas", s->n_replicas);
		putchar('\n');
	}
	return fflush(stdout) == 0 ? KR_CLI_OK : KR_CLI_FAIL;
}

struct shard_node {
	unsigned shard;
	const char *conninfo;
	bool is_replica; /* how the config lists it */
	/* Filled by a status thread. */
	bool reachable, in_recovery, have_users;
	double latency_ms;
	char users[24];
	char error[KR_ERR_MSG_MAX];
};

struct shard_status {
	struct shard_node *nodes;
	unsigned n;
	atomic_uint next;
};

/* One query's single value into buf; -1 with node->error set. */
static int
shard_value(PGconn *conn, struct shard_node *node, const char *sql, char *buf,
	    size_t size)
{
	PGresult *res = PQexec(conn, sql);
	int ret = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		const char *msg = PQresultErrorMessage(res);

		snprintf(node->error, sizeof(node->error), "%.*s",
			 (int)strcspn(msg, "\n"), msg);
		ret = -1;
	} else {
		snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return ret;
}

static void
shard_probe(struct shard_node *node)
{
	const char *keys[] = { "dbname", "connect_timeout", "application_name",
			       "options", NULL };
	const char *vals[] = { node->conninfo, SHARD_STATUS_CONNECT_S,
			       "kurier-cli",
			       "-c statement_timeout=" SHARD_STATUS_QUERY_MS,
			       NULL };
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	char v[32];
	double t0;

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(node->error, sizeof(node->error), "%.*s",
			 (int)strcspn(PQerrorMessage(conn), "\n"),
			 PQerrorMessage(conn));
		PQfinish(conn);
		return;
	}
	t0 = kr_cli_now();
	if (shard_value(conn, node, "SELECT 1", v, sizeof(v)) == 0) {
		node->latency_ms = (kr_cli_now() - t0) * 1000.0;
		node->reachable = true;
	}
	if (node->reachable &&
	    shard_value(conn, node, "SELECT pg_is_in_recovery()", v,
			sizeof(v)) == 0)
		node->in_recovery = strcmp(v, "t") == 0;
	if (node->reachable &&
	    shard_value(conn, node,
			"SELECT to_regclass('public.users') IS NOT NULL", v,
			sizeof(v)) == 0 &&
	    strcmp(v, "t") == 0)
		node->have_users =
			shard_value(conn, node, "SELECT count(*) FROM users",
				    node->users, sizeof(node->users)) == 0;
	PQfinish(conn);
}

static void *
shard_status_thread(void *arg)
{
	struct shard_status *st = arg;
	unsigned i;

	while ((i = atomic_fetch_add(&st->next, 1)) < st->n)
		shard_probe(&st->nodes[i]);
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

static bool
shard_status_print(const struct shard_node *node)
{
	char name[KR_CONFIG_VALUE_MAX + 64];

	printf("shard %u %s %s: ", node->shard,
	       node->is_replica ? "replica" : "primary",
	       kr_cli_node_name(node->conninfo, name, sizeof(name)));
	if (!node->reachable) {
		printf("reachable no (%s)\n", node->error);
		return false;
	}
	printf("reachable yes, role %s, latency %.2f ms, users %s\n",
	       node->in_recovery ? "replica" : "primary", node->latency_ms,
	       node->have_users ? node->users : "- (no schema)");
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
	for (i = 0; i < st.n; i++)
		all_ok = shard_status_print(&st.nodes[i]) && all_ok;
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
	if (kr_cli_init(&cli, config_path, &err) < 0) {
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
