/* Deep copies of queries. */
#include "storage/pgquery.h"

#include <stdlib.h>
#include <string.h>

static size_t
pgquery_param_len(const struct kr_pgquery *q, int i)
{
	if (q->formats != NULL && q->formats[i] == 1)
		return (size_t)q->lengths[i];
	return strlen(q->values[i]) + 1;
}

/* One block for the statement and every parameter. */
void
kr_pgquery_copy_init(struct kr_pgquery_copy *dst, const struct kr_pgquery *q)
{
	size_t total = strlen(q->sql) + 1, off;

	kr_assert(q->n_params >= 0 && q->n_params <= KR_PGQUERY_PARAMS_MAX);
	for (int i = 0; i < q->n_params; i++)
		if (q->values[i] != NULL)
			total += pgquery_param_len(q, i);
	dst->blob = kr_xmalloc(total);
	off = strlen(q->sql) + 1;
	memcpy(dst->blob, q->sql, off);
	for (int i = 0; i < q->n_params; i++) {
		size_t n;

		dst->lengths[i] = q->lengths != NULL ? q->lengths[i] : 0;
		dst->formats[i] = q->formats != NULL ? q->formats[i] : 0;
		dst->values[i] = NULL;
		if (q->values[i] == NULL)
			continue;
		n = pgquery_param_len(q, i);
		memcpy(dst->blob + off, q->values[i], n);
		dst->values[i] = dst->blob + off;
		off += n;
	}
	dst->q.sql = dst->blob;
	dst->q.n_params = q->n_params;
	dst->q.values = dst->values;
	dst->q.lengths = dst->lengths;
	dst->q.formats = dst->formats;
	dst->q.binary_result = q->binary_result;
}

void
kr_pgquery_copy_deinit(struct kr_pgquery_copy *c)
{
	free(c->blob);
	c->blob = NULL;
}
