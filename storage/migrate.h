/* Schema migrations: the versioned SQL files of storage/sql, embedded at
 * build time (ops/embed-sql.sh), applied in version order to one
 * PostgreSQL node. BLOCKING libpq: for start-up and the CLI only, never
 * on an event loop. Any thread; nothing here keeps state between calls. */
#ifndef KR_MIGRATE_H
#define KR_MIGRATE_H

#include "lib/err.h"

/* One storage/sql/NNN_name.sql file: version NNN, name "NNN_name". The
 * SQL may hold many statements but no transaction control: the runner
 * wraps each file in its own transaction. */
struct kr_migration {
	unsigned version;
	const char *name;
	const char *sql;
};

/* Generated: every file in version order (strictly increasing). */
extern const struct kr_migration kr_migrate_files[];
extern const unsigned kr_migrate_n_files;

/* Connects with conninfo (a libpq conninfo string or URI, used as
 * given), takes a fixed session advisory lock so that processes
 * migrating the same node run one after the other, creates the
 * kr_migrations table if missing, then applies every embedded version
 * not recorded there, in order, each in its own transaction together
 * with its kr_migrations row. Sets *applied_r (may be NULL) to the
 * number applied by this call, also on failure (versions before the
 * failing one stay applied). Returns 0, or -1 with err_r naming the
 * node (host and port, never the password) and the failing migration:
 * KR_ERR_TEMPORARY when the node cannot be reached or the connection
 * breaks, KR_ERR_INTERNAL when PostgreSQL rejects a migration. Then
 * moves the node's id sequences to shard `shard`'s range (the config's
 * index, < KR_CONFIG_SHARDS_MAX; 012_stable_ids.sql), so that user and
 * mailbox ids are unique across shards and a moved user keeps them. */
int kr_migrate_apply(const char *conninfo, unsigned shard, unsigned *applied_r,
		     struct kr_err *err_r);

/* kr_migrate_apply with another set of migrations (tests, tools):
 * files[0..n_files) in strictly increasing version order. */
int kr_migrate_apply_set(const char *conninfo, const struct kr_migration *files,
			 unsigned n_files, unsigned *applied_r,
			 struct kr_err *err_r);

/* Sets *version_r to the highest version recorded on the node, 0 when
 * nothing was ever applied. Returns 0, or -1 with err_r as above. */
int kr_migrate_version(const char *conninfo, unsigned *version_r,
		       struct kr_err *err_r);

#endif
