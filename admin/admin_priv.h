/* The admin endpoint's insides, shared by admin.c (routes, auth,
 * actions) and admin_api.c (the JSON documents). */
#ifndef KR_ADMIN_PRIV_H
#define KR_ADMIN_PRIV_H

#include <jansson.h>

#include "admin/admin.h"
#include "admin/admin_spam.h"
#include "admin/history.h"

#define KR_ADMIN_ACTIONS_MAX 50
#define KR_ADMIN_ERRORS_MAX 100 /* shown of the ring's lines */

/* A node with the ids of its metrics (-1: not defined). */
struct admin_node {
	struct kr_admin_node d;
	int circuit, busy, idle, waiting, queries, errors;
	int draining, users; /* the shard's */
};

/* One action taken through the admin, for the page and the log. */
struct admin_action {
	int64_t ts_ms;
	char action[16];
	char target[32];
	char who[8];
	char peer[48];
	char result[128];
};

struct kr_admin {
	struct event_base *base;
	struct kr_httpd *httpd;
	struct kr_metrics *metrics;
	struct kr_log *log;
	char *token;
	bool metrics_open;
	unsigned first_worker_slot;
	unsigned n_worker_slots;
	const struct kr_admin_supervisor *supervisor; /* NULL: none */
	const struct kr_hits *rule_hits;	      /* NULL: none */
	int requests_id;  /* kurier_requests_total, or -1 */
	int cache_ids[4]; /* bytes, hits, misses, evictions */
	struct kr_admin_spam_view spam;
	const struct kr_logring *errors; /* NULL: none */
	struct kr_admin_reload *reloads; /* POST /api/reload waiting */
	struct admin_node *nodes;
	unsigned n_nodes, n_shards;
	uint64_t cache_max_bytes;
	const char *version;
	char host[128]; /* "hostname" for the page's title */
	int64_t started_ms;
	struct kr_admin_history *history;
	struct event *sampler; /* every second */
	struct admin_action actions[KR_ADMIN_ACTIONS_MAX];
	unsigned n_actions; /* taken so far; newest at (n - 1) % MAX */
	struct kr_admin_peers *peers; /* [admin] peers for /api/hosts */
};

/* The documents of API11 (/api/NAME). */
json_t *admin_overview_doc(struct kr_admin *admin);
json_t *admin_nodes_doc(struct kr_admin *admin);
json_t *admin_workers_doc(struct kr_admin *admin);
json_t *admin_cache_doc(struct kr_admin *admin);
json_t *admin_actions_doc(const struct kr_admin *admin);
json_t *admin_hosts_doc(struct kr_admin *admin);
json_t *admin_errors_doc(const struct kr_admin *admin);
/* All of them in one (/api/snapshot). */
json_t *admin_snapshot_doc(struct kr_admin *admin, int64_t since_ms);
/* Resolves the nodes' metric ids. */
void admin_nodes_set(struct kr_admin *admin, const struct kr_admin_node *nodes,
		     unsigned n_nodes);

#endif
