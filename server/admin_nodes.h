/* The database nodes as the admin shows them (/api/nodes): one per
 * primary and replica in config order, with their metrics' labels and
 * the host and port of their conninfo. */
#ifndef KR_ADMIN_NODES_H
#define KR_ADMIN_NODES_H

#include "admin/admin.h"
#include "lib/config.h"

/* An array of *n_r nodes to free(). */
struct kr_admin_node *kr_admin_nodes_of(const struct kr_config *cfg,
					unsigned *n_r);

#endif
