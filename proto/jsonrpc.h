/* JSON-RPC 2.0 codec (https://www.jsonrpc.org/specification), sans-I/O:
 * a request body in, a list of calls out; results and errors in, the
 * response body out. One thread at a time per batch. The batch owns
 * every json_t and string it hands out (valid until it is destroyed);
 * results, errors' data and the limits are the caller's. */
#ifndef KR_JSONRPC_H
#define KR_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/limits.h"

/* The specification's codes ... */
#define KR_JSONRPC_PARSE_ERROR -32700
#define KR_JSONRPC_INVALID_REQUEST -32600
#define KR_JSONRPC_METHOD_NOT_FOUND -32601
#define KR_JSONRPC_INVALID_PARAMS -32602
#define KR_JSONRPC_INTERNAL_ERROR -32603
/* ... and kurier's (SPEC.md §3.2). */
#define KR_JSONRPC_UNAUTHORIZED -32001
#define KR_JSONRPC_NOT_FOUND -32002
#define KR_JSONRPC_CONFLICT -32003
#define KR_JSONRPC_OVER_QUOTA -32004
#define KR_JSONRPC_UNAVAILABLE -32010
#define KR_JSONRPC_OVERLOADED -32011
#define KR_JSONRPC_RATE_LIMITED -32012

/* Checked in one pass over the body before jansson builds anything,
 * so no limit costs memory to enforce. */
struct kr_jsonrpc_limits {
	size_t body_max;    /* bytes of request body */
	unsigned depth_max; /* nested arrays/objects; the top level is 1 */
	unsigned batch_max; /* entries of a batch array */
	size_t element_max; /* JSON values in the body, containers and
			     * scalars (a member's key is not one) */
};

struct kr_jsonrpc_batch;

/* One entry of a request. An invalid entry has method NULL and its
 * error preset (error_code != 0); it is answered already. */
struct kr_jsonrpc_call {
	const char *method;   /* NULL for an invalid entry */
	const json_t *params; /* object or array; NULL when absent */
	const json_t *id;     /* NULL for a notification (may be json null) */
	bool is_notification; /* no response will be sent */
	int error_code;	      /* 0, or the preset error of an invalid entry */
	const char *error_message; /* NULL, or the preset error's message */
};

/* Fills the defaults (KR_JSONRPC_*_DEFAULT, lib/limits.h). */
void kr_jsonrpc_limits_init(struct kr_jsonrpc_limits *lim);

/* Parses a request body (need not be NUL-terminated; borrowed for the
 * call only). Returns 0 and a batch in *batch_r for anything within
 * body_max, valid or not: a body that is not JSON becomes one -32700
 * entry, one that is not a request or batch (a scalar, [], nesting
 * deeper than depth_max, more than batch_max entries or element_max
 * values) one -32600 entry naming the limit, both with id null and
 * is_batch false. The limits are checked before the JSON syntax, so a
 * body past one is -32600 even when it is not JSON either. Returns -1
 * (KR_ERR_LIMIT; HTTP 413) for a body over body_max, and *batch_r is
 * NULL. Free with kr_jsonrpc_batch_destroy.
 *
 * Ids are echoed as the bytes the request holds (1.50 stays 1.50, -0
 * stays -0); an integer id beyond int64 or a real id beyond a double,
 * which jansson cannot hold, still parses (call.id is then a number
 * other than the one sent). */
int kr_jsonrpc_parse(const char *body, size_t len,
		     const struct kr_jsonrpc_limits *lim,
		     struct kr_jsonrpc_batch **batch_r, struct kr_err *err_r);
/* Frees the batch and everything it holds; sets *batch to NULL. */
void kr_jsonrpc_batch_destroy(struct kr_jsonrpc_batch **batch);

/* Entries (1 for a single request) and whether the request was an
 * array (then the response is one too). */
size_t kr_jsonrpc_count(const struct kr_jsonrpc_batch *batch);
bool kr_jsonrpc_is_batch(const struct kr_jsonrpc_batch *batch);
/* Entry i < count, borrowed from the batch. */
const struct kr_jsonrpc_call *
kr_jsonrpc_call(const struct kr_jsonrpc_batch *batch, size_t i);

/* Answers entry i, replacing any earlier answer. result and data are
 * stolen (data may be NULL); message is copied. For a notification the
 * answer is dropped. */
void kr_jsonrpc_set_result(struct kr_jsonrpc_batch *batch, size_t i,
			   json_t *result);
void kr_jsonrpc_set_error(struct kr_jsonrpc_batch *batch, size_t i, int code,
			  const char *message, json_t *data);

/* As kr_jsonrpc_set_result, with the result already serialised (len
 * bytes of one valid JSON value, copied): it is sent as it is. */
void kr_jsonrpc_set_result_text(struct kr_jsonrpc_batch *batch, size_t i,
				const char *json, size_t len);
/* The same, taking json (malloc'd, NUL at json[len]) instead of a copy. */
void kr_jsonrpc_take_result_text(struct kr_jsonrpc_batch *batch, size_t i,
				 char *json, size_t len);

/* The response body (malloc'd, caller frees; *len_r its length without
 * the terminating NUL), or NULL when nothing is to be sent (only
 * notifications: HTTP 204). A single request gets an object, a batch
 * an array of the non-notification answers in request order; ids are
 * echoed as received. An entry left unanswered gets -32603. */
char *kr_jsonrpc_response(const struct kr_jsonrpc_batch *batch, size_t *len_r);
/* The same, freeing each answer once it is written, so the answers and
 * the body are not both held in full; afterwards the batch is fit only
 * for kr_jsonrpc_batch_destroy. */
char *kr_jsonrpc_response_take(struct kr_jsonrpc_batch *batch, size_t *len_r);

/* Named-param helpers for methods. Each returns 0 and sets *out (left
 * untouched when the param is absent and not required; json null
 * counts as absent), or -1 with KR_ERR_PERMANENT and a message naming
 * the param, for -32602. params may be NULL (no params); positional
 * (array) params are refused. Strings and sub-values are borrowed from
 * params. */
int kr_jsonrpc_param_str(const json_t *params, const char *name, bool required,
			 const char **out, struct kr_err *err_r);
/* An integer within [min, max]. */
int kr_jsonrpc_param_int(const json_t *params, const char *name, bool required,
			 long long min, long long max, long long *out,
			 struct kr_err *err_r);
int kr_jsonrpc_param_bool(const json_t *params, const char *name, bool required,
			  bool *out, struct kr_err *err_r);
int kr_jsonrpc_param_array(const json_t *params, const char *name,
			   bool required, const json_t **out,
			   struct kr_err *err_r);
int kr_jsonrpc_param_object(const json_t *params, const char *name,
			    bool required, const json_t **out,
			    struct kr_err *err_r);

#endif
