/* Reading the SQL contract's results (text format) into arena values.
 * Columns are looked up by name, so the functions' column order may
 * change without breaking the store. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/utc.h"
#include "storage/addrlist.h"
#include "storage/pgarray.h"
#include "storage/store_priv.h"

/* Flags a stored message may carry: many calls may each add up to
 * KR_STORE_FLAGS_MAX, so reading allows more than one call sets. */
#define RESULT_FLAGS_MAX 1024

int
kr_store_result_cols(const PGresult *res, const char *const *names, unsigned n,
		     int *cols_r, struct kr_err *err_r)
{
	for (unsigned i = 0; i < n; i++) {
		cols_r[i] = PQfnumber(res, names[i]);
		if (cols_r[i] < 0)
			return kr_err_set(err_r, KR_ERR_INTERNAL,
					  "result has no column %s", names[i]);
	}
	return 0;
}

bool
kr_store_result_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) != 0;
}

int
kr_store_result_status(const PGresult *res, int row, int col,
		       struct kr_err *err_r)
{
	if (row >= PQntuples(res))
		return kr_err_set(err_r, KR_ERR_INTERNAL, "no result row");
	return kr_store_status(kr_store_result_null(res, row, col)
				       ? NULL
				       : PQgetvalue(res, row, col),
			       err_r);
}

int64_t
kr_store_result_i64(const PGresult *res, int row, int col)
{
	if (kr_store_result_null(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool
kr_store_result_bool(const PGresult *res, int row, int col)
{
	return !kr_store_result_null(res, row, col) &&
	       PQgetvalue(res, row, col)[0] == 't';
}

int
kr_store_result_str(const PGresult *res, int row, int col,
		    struct kr_arena *arena, const char **s_r,
		    struct kr_err *err_r)
{
	*s_r = NULL;
	if (kr_store_result_null(res, row, col))
		return 0;
	*s_r = kr_arena_memdup(arena, PQgetvalue(res, row, col),
			       (size_t)PQgetlength(res, row, col) + 1, err_r);
	return *s_r != NULL ? 0 : -1;
}

/* n decimal digits at *pp; -1 when there are fewer. */
static int
result_digits(const char **pp, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*pp)[i];

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*pp += n;
	return v;
}

/* "+HH[:MM[:SS]]" as seconds east of UTC. */
static bool
result_zone(const char *p, long *off_r)
{
	int sign = *p == '-' ? -1 : 1, part;
	long off;

	if (*p != '+' && *p != '-')
		return false;
	p++;
	if ((part = result_digits(&p, 2)) < 0)
		return false;
	off = part * 3600L;
	for (long unit = 60; *p == ':' && unit >= 1; unit /= 60) {
		p++;
		if ((part = result_digits(&p, 2)) < 0)
			return false;
		off += part * unit;
	}
	*off_r = sign * off;
	return *p == '\0';
}

/* PostgreSQL's ISO output: "YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM[:SS]]"
 * in the session's time zone. Anything else (infinity, BC) is no date. */
void
kr_store_result_time(const PGresult *res, int row, int col, bool *has_r,
		     int64_t *t_r)
{
	struct kr_utc u = { 0 };
	const char *p;
	int year;
	long off;
	int64_t t;

	*has_r = false;
	*t_r = 0;
	if (kr_store_result_null(res, row, col))
		return;
	p = PQgetvalue(res, row, col);
	if ((year = result_digits(&p, 4)) < 0 || *p++ != '-' ||
	    (u.month = result_digits(&p, 2)) < 0 || *p++ != '-' ||
	    (u.day = result_digits(&p, 2)) < 0 || *p++ != ' ' ||
	    (u.hour = result_digits(&p, 2)) < 0 || *p++ != ':' ||
	    (u.min = result_digits(&p, 2)) < 0 || *p++ != ':' ||
	    (u.sec = result_digits(&p, 2)) < 0)
		return;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	u.year = year;
	if (!result_zone(p, &off) || !kr_utc_to_unix(&u, &t))
		return;
	*has_r = true;
	*t_r = t - off;
}

int
kr_store_result_flags(const PGresult *res, int row, int col,
		      struct kr_arena *arena, const char *const **flags_r,
		      unsigned *n_r, struct kr_err *err_r)
{
	const char **v = NULL;

	*flags_r = NULL;
	*n_r = 0;
	if (kr_store_result_null(res, row, col))
		return 0;
	if (kr_pgarray_parse(PQgetvalue(res, row, col), arena, RESULT_FLAGS_MAX,
			     &v, n_r, err_r) < 0)
		return -1;
	*flags_r = v;
	return 0;
}

/* The JSON array in a jsonb column; NULL (and 0) for SQL NULL. */
static int
result_json_array(const PGresult *res, int row, int col, json_t **arr_r,
		  struct kr_err *err_r)
{
	json_error_t jerr;

	*arr_r = NULL;
	if (kr_store_result_null(res, row, col))
		return 0;
	*arr_r = json_loadb(PQgetvalue(res, row, col),
			    (size_t)PQgetlength(res, row, col), 0, &jerr);
	if (*arr_r == NULL || !json_is_array(*arr_r)) {
		json_decref(*arr_r);
		*arr_r = NULL;
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "jsonb column is not an array");
	}
	return 0;
}

/* A string member of o copied into the arena; NULL when absent. */
static int
result_json_str(const json_t *o, const char *key, struct kr_arena *arena,
		const char **s_r, struct kr_err *err_r)
{
	const json_t *v = json_object_get(o, key);

	*s_r = NULL;
	if (!json_is_string(v))
		return 0;
	*s_r = kr_arena_strndup(arena, json_string_value(v),
				json_string_length(v), err_r);
	return *s_r != NULL ? 0 : -1;
}

/* jsonb [{name, email}] -> addresses in the arena. */
static int
result_addrs(const PGresult *res, int row, int col, struct kr_arena *arena,
	     const struct kr_store_addr **addrs_r, unsigned *n_r,
	     struct kr_err *err_r)
{
	struct kr_store_addr *v;
	json_t *arr;
	size_t n;
	int rc = 0;

	*addrs_r = NULL;
	*n_r = 0;
	if (kr_store_result_null(res, row, col))
		return 0;
	rc = kr_addrlist_scan(PQgetvalue(res, row, col),
			      (size_t)PQgetlength(res, row, col), arena,
			      addrs_r, n_r, err_r);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (result_json_array(res, row, col, &arr, err_r) < 0)
		return -1;
	n = json_array_size(arr);
	if (n == 0) {
		json_decref(arr);
		return 0;
	}
	v = kr_arena_zalloc(arena, n * sizeof(*v), err_r);
	for (size_t i = 0; v != NULL && rc == 0 && i < n; i++) {
		const json_t *o = json_array_get(arr, i);

		rc = result_json_str(o, "name", arena, &v[i].name, err_r);
		if (rc == 0)
			rc = result_json_str(o, "email", arena, &v[i].email,
					     err_r);
	}
	json_decref(arr);
	if (v == NULL || rc < 0)
		return -1;
	*addrs_r = v;
	*n_r = (unsigned)n;
	return 0;
}

/* The list as kr_addrlist_json writes it, by jansson. */
static int
result_addrs_dump(const struct kr_store_addr *a, unsigned n,
		  struct kr_arena *arena, const char **json_r, size_t *len_r,
		  struct kr_err *err_r)
{
	json_t *arr = json_array();
	char *text;

	for (unsigned i = 0; i < n; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "name",
				    a[i].name != NULL ? json_string(a[i].name)
						      : json_null());
		json_object_set_new(o, "email",
				    a[i].email != NULL ? json_string(a[i].email)
						       : json_null());
		json_array_append_new(arr, o);
	}
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (text == NULL)
		kr_panic("store: json_dumps failed");
	*len_r = strlen(text);
	*json_r = kr_arena_memdup(arena, text, *len_r + 1, err_r);
	free(text);
	return *json_r != NULL ? 0 : -1;
}

int
kr_store_result_addrs_json(const PGresult *res, int row, int col,
			   struct kr_arena *arena, const char **json_r,
			   size_t *len_r, struct kr_err *err_r)
{
	const struct kr_store_addr *a;
	unsigned n;
	int rc;

	*json_r = "[]";
	*len_r = 2;
	if (kr_store_result_null(res, row, col))
		return 0;
	rc = kr_addrlist_json(PQgetvalue(res, row, col),
			      (size_t)PQgetlength(res, row, col), arena, json_r,
			      len_r, err_r);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	/* Not as PostgreSQL prints a list the store wrote. */
	if (result_addrs(res, row, col, arena, &a, &n, err_r) < 0)
		return -1;
	return result_addrs_dump(a, n, arena, json_r, len_r, err_r);
}

int
kr_store_result_attachments(const PGresult *res, int row, int col,
			    struct kr_arena *arena,
			    const struct kr_store_attachment **att_r,
			    unsigned *n_r, struct kr_err *err_r)
{
	struct kr_store_attachment *v;
	json_t *arr;
	size_t n;
	int rc = 0;

	*att_r = NULL;
	*n_r = 0;
	if (result_json_array(res, row, col, &arr, err_r) < 0)
		return -1;
	n = arr != NULL ? json_array_size(arr) : 0;
	if (n == 0) {
		json_decref(arr);
		return 0;
	}
	v = kr_arena_zalloc(arena, n * sizeof(*v), err_r);
	for (size_t i = 0; v != NULL && rc == 0 && i < n; i++) {
		const json_t *o = json_array_get(arr, i);

		rc = result_json_str(o, "part", arena, &v[i].part, err_r);
		if (rc == 0)
			rc = result_json_str(o, "filename", arena,
					     &v[i].filename, err_r);
		if (rc == 0)
			rc = result_json_str(o, "type", arena, &v[i].type,
					     err_r);
		v[i].size = json_integer_value(json_object_get(o, "size"));
	}
	json_decref(arr);
	if (v == NULL || rc < 0)
		return -1;
	*att_r = v;
	*n_r = (unsigned)n;
	return 0;
}

const char *const kr_store_result_summary_cols[] = {
	"uid",	"subject", "from_name", "from_email", "to_list",
	"date", "size",	   "flags",	"preview",    "has_attachments",
};

int
kr_store_result_summary(const PGresult *res, int row, const int *c,
			struct kr_arena *arena,
			struct kr_store_message_summary *m,
			struct kr_err *err_r)
{
	m->uid = kr_store_result_i64(res, row, c[0]);
	m->size = kr_store_result_i64(res, row, c[6]);
	m->has_attachments = kr_store_result_bool(res, row, c[9]);
	kr_store_result_time(res, row, c[5], &m->has_date, &m->date);
	if (kr_store_result_str(res, row, c[1], arena, &m->subject, err_r) <
		    0 ||
	    kr_store_result_str(res, row, c[2], arena, &m->from_name, err_r) <
		    0 ||
	    kr_store_result_str(res, row, c[3], arena, &m->from_email, err_r) <
		    0 ||
	    kr_store_result_addrs_json(res, row, c[4], arena, &m->to_json,
				       &m->to_json_len, err_r) < 0 ||
	    kr_store_result_flags(res, row, c[7], arena, &m->flags, &m->n_flags,
				  err_r) < 0 ||
	    kr_store_result_str(res, row, c[8], arena, &m->preview, err_r) < 0)
		return -1;
	return 0;
}
