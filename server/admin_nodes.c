/* Config shards into admin nodes. */
#include "server/admin_nodes.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/connmgr.h"

/* host and port of conninfo as libpq reads it; the first of a
 * multi-host list is enough for a table row. */
static void
admin_node_address(struct kr_admin_node *n, const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);

	snprintf(n->host, sizeof(n->host), "localhost");
	n->port = 5432;
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0 ||
		    (strcmp(o->keyword, "hostaddr") == 0 &&
		     strcmp(n->host, "localhost") == 0))
			snprintf(n->host, sizeof(n->host), "%.*s",
				 (int)strcspn(o->val, ","), o->val);
		else if (strcmp(o->keyword, "port") == 0)
			n->port = (unsigned)strtoul(o->val, NULL, 10);
	}
	PQconninfoFree(opts);
}

static void
admin_node_set(struct kr_admin_node *n, unsigned shard, int replica,
	       const char *conninfo)
{
	n->shard = shard;
	n->replica = replica;
	kr_connmgr_node_labels(n->labels, sizeof(n->labels), shard, replica);
	admin_node_address(n, conninfo);
}

struct kr_admin_node *
kr_admin_nodes_of(const struct kr_config *cfg, unsigned *n_r)
{
	unsigned n = 0, k = 0;
	struct kr_admin_node *nodes;

	for (unsigned s = 0; s < cfg->n_shards; s++)
		n += 1 + cfg->shards[s].n_replicas;
	nodes = kr_xcalloc(n + 1, sizeof(*nodes));
	for (unsigned s = 0; s < cfg->n_shards; s++) {
		const struct kr_config_shard *sc = &cfg->shards[s];

		admin_node_set(&nodes[k++], s, -1, sc->primary);
		for (unsigned r = 0; r < sc->n_replicas; r++)
			admin_node_set(&nodes[k++], s, (int)r, sc->replicas[r]);
	}
	*n_r = n;
	return nodes;
}
