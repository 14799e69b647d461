/* How a PostgreSQL node is named in messages and listings: from its
 * conninfo as the operator wrote it (host or hostaddr, port, dbname),
 * never its password or any other keyword. Pure (libpq's conninfo
 * parser only); any thread. */
#ifndef KR_PGNODE_H
#define KR_PGNODE_H

#include <stddef.h>

#include "lib/limits.h"

struct kr_pgnode {
	/* "" where the conninfo leaves it to libpq's defaults (or cannot
	 * be parsed); longer values are cut. */
	char host[KR_CONFIG_VALUE_MAX + 1]; /* host, else hostaddr */
	char port[32];
	char dbname[KR_CONFIG_VALUE_MAX + 1];
};

void kr_pgnode_parse(const char *conninfo, struct kr_pgnode *node_r);

/* "host=H port=P dbname=D", "(default)" for what the conninfo leaves
 * out; into buf (cut to size), which it returns. */
const char *kr_pgnode_describe(const char *conninfo, char *buf, size_t size);

#endif
