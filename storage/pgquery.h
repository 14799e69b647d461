/* A parameterised query and its answer, as the storage layers pass them
 * around: the caller's description (borrowed until the call returns;
 * every layer that keeps it copies it) and the result callback. */
#ifndef KR_PGQUERY_H
#define KR_PGQUERY_H

#include <libpq-fe.h>

#include "lib/err.h"

#define KR_PGQUERY_PARAMS_MAX 16

/* Text-format parameters (NULL value = SQL NULL) unless lengths/formats
 * say binary for a parameter (bytea). Results come back in text format
 * unless binary_result is set. */
struct kr_pgquery {
	const char *sql;
	int n_params;
	const char *const *values;
	const int *lengths; /* NULL: all text */
	const int *formats; /* NULL: all text; 1 = binary */
	int binary_result;
};

/* Exactly one call per accepted query, on the owner loop, never before
 * the call that accepted the query returns. On success err is NULL and
 * res is a PGRES_TUPLES_OK / PGRES_COMMAND_OK result, borrowed: it is
 * cleared when the callback returns. On failure res is NULL and err->kind
 * says what happened: KR_ERR_TEMPORARY (node down, connection lost,
 * circuit open, the server shutting down, a deadlock),
 * KR_ERR_TIMEOUT (the caller's deadline, or the server's
 * statement_timeout), KR_ERR_OVERLOAD (pool queue full),
 * KR_ERR_INTERNAL (the server refused the statement: a bug or a schema
 * problem, never the client's fault). err->msg has PostgreSQL's or
 * libpq's message: for logs only, never for a client. */
typedef void kr_pgquery_fn(void *ctx, const PGresult *res,
			   const struct kr_err *err);

/* A deep copy of a query, for whoever must keep one beyond the caller's
 * stack (a waiting request, a read that may be retried elsewhere). */
struct kr_pgquery_copy {
	struct kr_pgquery q; /* points into the copy */
	char *blob;
	const char *values[KR_PGQUERY_PARAMS_MAX];
	int lengths[KR_PGQUERY_PARAMS_MAX];
	int formats[KR_PGQUERY_PARAMS_MAX];
};

/* At most KR_PGQUERY_PARAMS_MAX parameters (more is a bug). */
void kr_pgquery_copy_init(struct kr_pgquery_copy *dst,
			  const struct kr_pgquery *src);
void kr_pgquery_copy_deinit(struct kr_pgquery_copy *c);

#endif
