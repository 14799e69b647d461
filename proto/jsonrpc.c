/* JSON-RPC 2.0 codec on jansson. A pre-scan (jsonrpc_scan.c) checks
 * the limits and finds the ids' bytes; then parsing keeps the whole
 * document (root) so calls borrow method, params and id from it;
 * answers are kept per entry and the envelope is built only when the
 * response is asked for. */
#include "proto/jsonrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "proto/jsonrpc_priv.h"

struct jsonrpc_entry {
	struct kr_jsonrpc_call call;
	const json_t *echo_id; /* id of the response: the request's or null */
	/* At most one of result, result_text and error is set. */
	json_t *result;
	char *result_text; /* serialised result (the cache's) */
	size_t result_len;
	json_t *error;
	char *preset_msg; /* owns call.error_message */
	char *id_text;	  /* the id as the request wrote it, or NULL */
	size_t id_len;
};

struct kr_jsonrpc_batch {
	json_t *root; /* NULL when the body was not JSON or too deep */
	struct jsonrpc_entry *entries;
	size_t count;
	bool is_batch;
};

/* The specification's own wording, which clients may match on. */
static const char *
jsonrpc_code_message(int code)
{
	switch (code) {
	case KR_JSONRPC_PARSE_ERROR:
		return "Parse error";
	case KR_JSONRPC_INVALID_REQUEST:
		return "Invalid Request";
	case KR_JSONRPC_METHOD_NOT_FOUND:
		return "Method not found";
	case KR_JSONRPC_INVALID_PARAMS:
		return "Invalid params";
	case KR_JSONRPC_UNAUTHORIZED:
		return "Unauthorized";
	case KR_JSONRPC_NOT_FOUND:
		return "Not found";
	case KR_JSONRPC_CONFLICT:
		return "Conflict";
	case KR_JSONRPC_OVER_QUOTA:
		return "Over quota";
	case KR_JSONRPC_UNAVAILABLE:
		return "Temporarily unavailable";
	case KR_JSONRPC_OVERLOADED:
		return "Overloaded";
	case KR_JSONRPC_RATE_LIMITED:
		return "Rate limited";
	default:
		return "Internal error";
	}
}

/* jansson returns NULL or -1 only when out of memory, which aborts the
 * worker (STYLE.md §4). */
static json_t *
jsonrpc_checked(json_t *v)
{
	if (v == NULL)
		kr_panic("jsonrpc: out of memory");
	return v;
}

static void
jsonrpc_obj_set(json_t *obj, const char *key, json_t *value)
{
	if (json_object_set_new(obj, key, jsonrpc_checked(value)) != 0)
		kr_panic("jsonrpc: out of memory");
}

void
kr_jsonrpc_limits_init(struct kr_jsonrpc_limits *lim)
{
	lim->body_max = KR_JSONRPC_BODY_MAX_DEFAULT;
	lim->depth_max = KR_JSONRPC_DEPTH_MAX_DEFAULT;
	lim->batch_max = KR_JSONRPC_BATCH_MAX_DEFAULT;
	lim->element_max = KR_JSONRPC_ELEMENT_MAX_DEFAULT;
}

static void
jsonrpc_entry_clear_answer(struct jsonrpc_entry *e)
{
	json_decref(e->result);
	json_decref(e->error);
	free(e->result_text);
	e->result = NULL;
	e->error = NULL;
	e->result_text = NULL;
}

static void
jsonrpc_entry_error(struct jsonrpc_entry *e, int code, const char *message,
		    json_t *data)
{
	json_t *err = jsonrpc_checked(json_object());
	json_t *msg = json_string(message);

	/* A caller's message cut short mid-character is not UTF-8. */
	if (msg == NULL)
		msg = json_string(jsonrpc_code_message(code));
	jsonrpc_obj_set(err, "code", json_integer(code));
	jsonrpc_obj_set(err, "message", msg);
	if (data != NULL)
		jsonrpc_obj_set(err, "data", data);
	jsonrpc_entry_clear_answer(e);
	e->error = err;
}

/* Marks e invalid with a preset error; id is echoed (NULL: null). */
static void
jsonrpc_entry_invalid(struct jsonrpc_entry *e, int code, const char *message,
		      const json_t *id)
{
	e->preset_msg = kr_xstrdup(message);
	e->call.method = NULL;
	e->call.params = NULL;
	e->call.is_notification = false;
	e->call.error_code = code;
	e->call.error_message = e->preset_msg;
	e->echo_id = id != NULL ? id : json_null();
	e->call.id = e->echo_id;
	jsonrpc_entry_error(e, code, message, NULL);
}

static bool
jsonrpc_id_valid(const json_t *id)
{
	return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

/* JSON-RPC 2.0 §4: jsonrpc exactly "2.0", method a string, params a
 * structured value when present, id a string, number or null when
 * present (absent: a notification). Other members are ignored. */
static void
jsonrpc_entry_parse(struct jsonrpc_entry *e, const json_t *req)
{
	const json_t *ver, *method, *params, *id;

	if (!json_is_object(req)) {
		jsonrpc_entry_invalid(e, KR_JSONRPC_INVALID_REQUEST,
				      "Invalid Request", NULL);
		return;
	}
	ver = json_object_get(req, "jsonrpc");
	method = json_object_get(req, "method");
	params = json_object_get(req, "params");
	id = json_object_get(req, "id");
	if (id != NULL && !jsonrpc_id_valid(id)) {
		jsonrpc_entry_invalid(e, KR_JSONRPC_INVALID_REQUEST,
				      "Invalid Request", NULL);
		return;
	}
	if (!json_is_string(ver) ||
	    strcmp(json_string_value(ver), "2.0") != 0 ||
	    !json_is_string(method) ||
	    (params != NULL && !json_is_object(params) &&
	     !json_is_array(params))) {
		jsonrpc_entry_invalid(e, KR_JSONRPC_INVALID_REQUEST,
				      "Invalid Request", id);
		return;
	}
	e->call.method = json_string_value(method);
	e->call.params = params;
	e->call.id = id;
	e->call.is_notification = id == NULL;
	e->echo_id = id;
}

static struct kr_jsonrpc_batch *
jsonrpc_batch_alloc(size_t count, bool is_batch)
{
	struct kr_jsonrpc_batch *b = kr_xcalloc(1, sizeof(*b));

	b->entries = kr_xcalloc(count, sizeof(*b->entries));
	b->count = count;
	b->is_batch = is_batch;
	return b;
}

/* The whole body is answered by one error object with id null. */
static struct kr_jsonrpc_batch *
jsonrpc_batch_failed(json_t *root, int code, const char *message)
{
	struct kr_jsonrpc_batch *b = jsonrpc_batch_alloc(1, false);

	b->root = root;
	jsonrpc_entry_invalid(&b->entries[0], code, message, NULL);
	return b;
}

/* Entry e echoes the bytes of span when they are the value jansson
 * read for its id (a scalar of the same type). */
static void
jsonrpc_entry_echo_raw(struct jsonrpc_entry *e, const char *body,
		       const struct kr_jsonrpc_scan *scan, size_t i)
{
	const json_t *id = e->echo_id;
	const struct kr_jsonrpc_idspan *sp;
	char c;

	if (i >= scan->n_ids || scan->ids[i].len == 0 || id == NULL)
		return;
	sp = &scan->ids[i];
	c = body[sp->off];
	if (!(json_is_string(id) && c == '"') &&
	    !(json_is_number(id) && (c == '-' || (c >= '0' && c <= '9'))) &&
	    !(json_is_null(id) && c == 'n'))
		return;
	e->id_text = kr_xmalloc(sp->len);
	memcpy(e->id_text, body + sp->off, sp->len);
	e->id_len = sp->len;
}

static struct kr_jsonrpc_batch *
jsonrpc_batch_from_root(json_t *root, const char *body,
			const struct kr_jsonrpc_scan *scan,
			const struct kr_jsonrpc_limits *lim)
{
	struct kr_jsonrpc_batch *b;
	size_t n;

	if (json_is_object(root)) {
		b = jsonrpc_batch_alloc(1, false);
		b->root = root;
		jsonrpc_entry_parse(&b->entries[0], root);
		jsonrpc_entry_echo_raw(&b->entries[0], body, scan, 0);
		return b;
	}
	n = json_is_array(root) ? json_array_size(root) : 0;
	/* The scan refused more than batch_max; jansson agrees with it. */
	if (n == 0 || n > lim->batch_max)
		return jsonrpc_batch_failed(root, KR_JSONRPC_INVALID_REQUEST,
					    "Invalid Request");
	b = jsonrpc_batch_alloc(n, true);
	b->root = root;
	for (size_t i = 0; i < n; i++) {
		jsonrpc_entry_parse(&b->entries[i], json_array_get(root, i));
		jsonrpc_entry_echo_raw(&b->entries[i], body, scan, i);
	}
	return b;
}

/* The -32600 answer for a body past a limit, or NULL when it is
 * within them all. */
static struct kr_jsonrpc_batch *
jsonrpc_batch_limited(const struct kr_jsonrpc_scan *scan,
		      const struct kr_jsonrpc_limits *lim)
{
	char msg[160];

	if (scan->too_deep)
		snprintf(msg, sizeof(msg),
			 "Invalid Request: nested deeper than the limit of %u "
			 "([jsonrpc] depth_max)",
			 lim->depth_max);
	else if (scan->entries > lim->batch_max)
		snprintf(msg, sizeof(msg),
			 "Invalid Request: batch of %zu calls, more than the "
			 "limit of %u ([jsonrpc] batch_max)",
			 scan->entries, lim->batch_max);
	else if (scan->values > lim->element_max)
		snprintf(msg, sizeof(msg),
			 "Invalid Request: %zu JSON values, more than the "
			 "limit of %zu ([jsonrpc] element_max)",
			 scan->values, lim->element_max);
	else
		return NULL;
	return jsonrpc_batch_failed(NULL, KR_JSONRPC_INVALID_REQUEST, msg);
}

/* NULL when jansson can read body as it is (nearly always); else a
 * copy (malloc'd) in which every id that is a number jansson cannot
 * hold is blanked to "0" and spaces, same length, so the rest of the
 * request still parses and the ids are echoed from body. */
static char *
jsonrpc_patch_ids(const char *body, size_t len,
		  const struct kr_jsonrpc_scan *scan)
{
	char *copy = NULL;

	for (size_t i = 0; i < scan->n_ids; i++) {
		const struct kr_jsonrpc_idspan *sp = &scan->ids[i];
		char c = sp->len > 0 ? body[sp->off] : '"';

		if ((c != '-' && !(c >= '0' && c <= '9')) ||
		    kr_jsonrpc_number_loadable(body + sp->off, sp->len))
			continue;
		if (copy == NULL) {
			copy = kr_xmalloc(len);
			memcpy(copy, body, len);
		}
		copy[sp->off] = '0';
		memset(copy + sp->off + 1, ' ', sp->len - 1);
	}
	return copy;
}

static struct kr_jsonrpc_batch *
jsonrpc_load(const char *body, size_t len, const struct kr_jsonrpc_scan *scan,
	     const struct kr_jsonrpc_limits *lim)
{
	char *patched = jsonrpc_patch_ids(body, len, scan);
	json_error_t jerr;
	json_t *root;

	/* DECODE_ANY: a scalar body is JSON, hence -32600, not -32700. */
	root = json_loadb(patched != NULL ? patched : body, len,
			  JSON_DECODE_ANY, &jerr);
	free(patched);
	if (root == NULL)
		return jsonrpc_batch_failed(NULL, KR_JSONRPC_PARSE_ERROR,
					    "Parse error");
	return jsonrpc_batch_from_root(root, body, scan, lim);
}

int
kr_jsonrpc_parse(const char *body, size_t len,
		 const struct kr_jsonrpc_limits *lim,
		 struct kr_jsonrpc_batch **batch_r, struct kr_err *err_r)
{
	struct kr_jsonrpc_scan scan;

	*batch_r = NULL;
	if (len > lim->body_max)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "request body of %zu bytes over the limit "
				  "of %zu",
				  len, lim->body_max);
	kr_jsonrpc_scan(body, len, lim->depth_max, lim->batch_max, &scan);
	*batch_r = jsonrpc_batch_limited(&scan, lim);
	if (*batch_r == NULL)
		*batch_r = jsonrpc_load(body, len, &scan, lim);
	kr_jsonrpc_scan_free(&scan);
	return 0;
}

void
kr_jsonrpc_batch_destroy(struct kr_jsonrpc_batch **batch)
{
	struct kr_jsonrpc_batch *b = *batch;

	if (b == NULL)
		return;
	for (size_t i = 0; i < b->count; i++) {
		jsonrpc_entry_clear_answer(&b->entries[i]);
		free(b->entries[i].preset_msg);
		free(b->entries[i].id_text);
	}
	free(b->entries);
	json_decref(b->root);
	free(b);
	*batch = NULL;
}

size_t
kr_jsonrpc_count(const struct kr_jsonrpc_batch *batch)
{
	return batch->count;
}

bool
kr_jsonrpc_is_batch(const struct kr_jsonrpc_batch *batch)
{
	return batch->is_batch;
}

const struct kr_jsonrpc_call *
kr_jsonrpc_call(const struct kr_jsonrpc_batch *batch, size_t i)
{
	kr_assert(i < batch->count);
	return &batch->entries[i].call;
}

void
kr_jsonrpc_set_result(struct kr_jsonrpc_batch *batch, size_t i, json_t *result)
{
	struct jsonrpc_entry *e;

	kr_assert(i < batch->count);
	kr_assert(result != NULL);
	e = &batch->entries[i];
	jsonrpc_entry_clear_answer(e);
	if (e->call.is_notification)
		json_decref(result);
	else
		e->result = result;
}

void
kr_jsonrpc_take_result_text(struct kr_jsonrpc_batch *batch, size_t i,
			    char *json, size_t len)
{
	struct jsonrpc_entry *e;

	kr_assert(i < batch->count);
	e = &batch->entries[i];
	jsonrpc_entry_clear_answer(e);
	if (e->call.is_notification) {
		free(json);
		return;
	}
	e->result_text = json;
	e->result_len = len;
}

void
kr_jsonrpc_set_result_text(struct kr_jsonrpc_batch *batch, size_t i,
			   const char *json, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		kr_panic("jsonrpc: out of memory");
	memcpy(copy, json, len);
	copy[len] = '\0';
	kr_jsonrpc_take_result_text(batch, i, copy, len);
}

void
kr_jsonrpc_set_error(struct kr_jsonrpc_batch *batch, size_t i, int code,
		     const char *message, json_t *data)
{
	struct jsonrpc_entry *e;

	kr_assert(i < batch->count);
	e = &batch->entries[i];
	if (e->call.is_notification) {
		json_decref(data);
		return;
	}
	if (message == NULL)
		message = jsonrpc_code_message(code);
	jsonrpc_entry_error(e, code, message, data);
}

struct jsonrpc_out {
	char *buf;
	size_t len, cap;
};

/* Room for n more bytes and a NUL. */
static void
jsonrpc_out_reserve(struct jsonrpc_out *o, size_t n)
{
	size_t cap = o->cap ? o->cap : 256;

	if (o->len + n + 1 <= o->cap)
		return;
	while (cap < o->len + n + 1)
		cap *= 2;
	o->buf = kr_xrealloc(o->buf, cap);
	o->cap = cap;
}

static void
jsonrpc_out_add(struct jsonrpc_out *o, const char *s, size_t n)
{
	jsonrpc_out_reserve(o, n);
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void
jsonrpc_out_lit(struct jsonrpc_out *o, const char *s)
{
	jsonrpc_out_add(o, s, strlen(s));
}

static void
jsonrpc_out_dump(struct jsonrpc_out *o, const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (text == NULL)
		kr_panic("jsonrpc: out of memory");
	jsonrpc_out_add(o, text, strlen(text));
	free(text);
}

/* One response object. Cached and serialised results go out as the
 * bytes they were stored as, ids as the request wrote them. */
static void
jsonrpc_entry_write(struct jsonrpc_out *o, const struct jsonrpc_entry *e)
{
	jsonrpc_out_lit(o, "{\"jsonrpc\":\"2.0\",");
	if (e->result_text != NULL) {
		jsonrpc_out_lit(o, "\"result\":");
		jsonrpc_out_add(o, e->result_text, e->result_len);
	} else if (e->result != NULL) {
		jsonrpc_out_lit(o, "\"result\":");
		jsonrpc_out_dump(o, e->result);
	} else if (e->error != NULL) {
		jsonrpc_out_lit(o, "\"error\":");
		jsonrpc_out_dump(o, e->error);
	} else {
		/* A dispatcher bug, answered rather than left hanging. */
		jsonrpc_out_lit(o, "\"error\":{\"code\":-32603,"
				   "\"message\":\"Internal error\"}");
	}
	jsonrpc_out_lit(o, ",\"id\":");
	if (e->id_text != NULL)
		jsonrpc_out_add(o, e->id_text, e->id_len);
	else
		jsonrpc_out_dump(o, e->echo_id);
	jsonrpc_out_add(o, "}", 1);
}

/* Room for the known parts at once: a large result is then copied
 * once, not through a chain of doublings. */
static size_t
jsonrpc_response_size(const struct kr_jsonrpc_batch *batch)
{
	size_t n = 2;

	for (size_t i = 0; i < batch->count; i++) {
		const struct jsonrpc_entry *e = &batch->entries[i];

		if (!e->call.is_notification)
			n += e->result_len + e->id_len + 128;
	}
	return n;
}

static char *
jsonrpc_response_build(struct kr_jsonrpc_batch *batch, bool take, size_t *len_r)
{
	struct jsonrpc_out o = { 0 };
	bool first = true;

	for (size_t i = 0; i < batch->count; i++) {
		struct jsonrpc_entry *e = &batch->entries[i];

		if (e->call.is_notification)
			continue;
		if (first)
			jsonrpc_out_reserve(&o, jsonrpc_response_size(batch));
		if (batch->is_batch)
			jsonrpc_out_add(&o, first ? "[" : ",", 1);
		first = false;
		jsonrpc_entry_write(&o, e);
		if (take)
			jsonrpc_entry_clear_answer(e);
		if (!batch->is_batch)
			break;
	}
	if (first) {
		*len_r = 0;
		return NULL;
	}
	if (batch->is_batch)
		jsonrpc_out_add(&o, "]", 1);
	*len_r = o.len;
	return o.buf;
}

char *
kr_jsonrpc_response(const struct kr_jsonrpc_batch *batch, size_t *len_r)
{
	/* Without take nothing in the batch is changed. */
	return jsonrpc_response_build((struct kr_jsonrpc_batch *)batch, false,
				      len_r);
}

char *
kr_jsonrpc_response_take(struct kr_jsonrpc_batch *batch, size_t *len_r)
{
	return jsonrpc_response_build(batch, true, len_r);
}

/* 1: found in *v; 0: absent and not required; -1: error. */
static int
jsonrpc_param_get(const json_t *params, const char *name, bool required,
		  const json_t **v, struct kr_err *err_r)
{
	*v = NULL;
	if (params != NULL && !json_is_object(params))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid params: params must be an object");
	if (params != NULL)
		*v = json_object_get(params, name);
	if (*v != NULL && json_is_null(*v))
		*v = NULL;
	if (*v != NULL)
		return 1;
	if (required)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid params: '%s' is required", name);
	return 0;
}

int
kr_jsonrpc_param_str(const json_t *params, const char *name, bool required,
		     const char **out, struct kr_err *err_r)
{
	const json_t *v;
	int r = jsonrpc_param_get(params, name, required, &v, err_r);

	if (r <= 0)
		return r;
	if (!json_is_string(v))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid params: '%s' must be a string",
				  name);
	*out = json_string_value(v);
	return 0;
}

int
kr_jsonrpc_param_int(const json_t *params, const char *name, bool required,
		     long long min, long long max, long long *out,
		     struct kr_err *err_r)
{
	const json_t *v;
	json_int_t n;
	int r = jsonrpc_param_get(params, name, required, &v, err_r);

	if (r <= 0)
		return r;
	if (!json_is_integer(v))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid params: '%s' must be an integer",
				  name);
	n = json_integer_value(v);
	if (n < min || n > max)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid params: '%s' must be between %lld "
				  "and %lld",
				  name, min, max);
	*out = n;
	return 0;
}

int
kr_jsonrpc_param_bool(const json_t *params, const char *name, bool required,
		      bool *out, struct kr_err *err_r)
{
	const json_t *v;
	int r = jsonrpc_param_get(params, name, required, &v, err_r);

	if (r <= 0)
		return r;
	if (!json_is_boolean(v))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid params: '%s' must be a boolean",
				  name);
	*out = json_is_true(v);
	return 0;
}

int
kr_jsonrpc_param_array(const json_t *params, const char *name, bool required,
		       const json_t **out, struct kr_err *err_r)
{
	const json_t *v;
	int r = jsonrpc_param_get(params, name, required, &v, err_r);

	if (r <= 0)
		return r;
	if (!json_is_array(v))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid params: '%s' must be an array",
				  name);
	*out = v;
	return 0;
}

int
kr_jsonrpc_param_object(const json_t *params, const char *name, bool required,
			const json_t **out, struct kr_err *err_r)
{
	const json_t *v;
	int r = jsonrpc_param_get(params, name, required, &v, err_r);

	if (r <= 0)
		return r;
	if (!json_is_object(v))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "invalid params: '%s' must be an object",
				  name);
	*out = v;
	return 0;
}
