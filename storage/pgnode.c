/* Naming PostgreSQL nodes from their conninfo. */
#include "storage/pgnode.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

void
kr_pgnode_parse(const char *conninfo, struct kr_pgnode *node_r)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *host = NULL, *port = NULL, *db = NULL;

	memset(node_r, 0, sizeof(*node_r));
	for (const PQconninfoOption *o = opts; o != NULL && o->keyword != NULL;
	     o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0 && host == NULL)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	snprintf(node_r->host, sizeof(node_r->host), "%s",
		 host != NULL ? host : "");
	snprintf(node_r->port, sizeof(node_r->port), "%s",
		 port != NULL ? port : "");
	snprintf(node_r->dbname, sizeof(node_r->dbname), "%s",
		 db != NULL ? db : "");
	PQconninfoFree(opts);
}

const char *
kr_pgnode_describe(const char *conninfo, char *buf, size_t size)
{
	struct kr_pgnode node;

	kr_pgnode_parse(conninfo, &node);
	snprintf(buf, size, "host=%s port=%s dbname=%s",
		 node.host[0] != '\0' ? node.host : "(default)",
		 node.port[0] != '\0' ? node.port : "(default)",
		 node.dbname[0] != '\0' ? node.dbname : "(default)");
	return buf;
}
