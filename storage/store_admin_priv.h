/* Shared plumbing of the store's blocking admin part: store_admin.c
 * (connections, users, import, probes) and store_admin_mail.c (one
 * user's mailboxes and messages). Not for other modules. */
#ifndef KR_STORE_ADMIN_PRIV_H
#define KR_STORE_ADMIN_PRIV_H

#include <libpq-fe.h>

#include "lib/limits.h"
#include "storage/pgquery.h"
#include "storage/store_admin.h"

/* Runs q that must succeed (rows or a command); NULL + err_r with
 * PostgreSQL's message (KR_ERR_TEMPORARY when the connection broke,
 * else KR_ERR_PERMANENT). The caller PQclear()s the result. */
PGresult *kr_store_admin_exec(PGconn *conn, const struct kr_pgquery *q,
			      struct kr_err *err_r);
/* The primary of shard, connected and migrated once per admin (the
 * admin owns it); NULL + err_r. */
PGconn *kr_store_admin_conn(struct kr_store_admin *adm, unsigned shard,
			    struct kr_err *err_r);
/* The address checked, lower-cased into addr and placed; -1 + err_r
 * (*shard_r -1 when it was not placed). */
int kr_store_admin_place(const struct kr_store_admin *adm, const char *address,
			 char addr[KR_ADDRESS_MAX + 1], int *shard_r,
			 struct kr_err *err_r);

#endif
