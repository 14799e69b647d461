/* The read side of messages: message.list, .search, .get, .raw and
 * .attachment. Views of one message (get, attachment) are parsed from
 * the stored bytes on the cpu pool when large, and cached like
 * listings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/arena.h"
#include "lib/tpool.h"
#include "proto/fts_terms.h"
#include "proto/mime.h"
#include "server/rpc/rpc_priv.h"

static void
message_on_list(void *ctx, const struct kr_store_message_list_result *res,
		const struct kr_err *err)
{
	struct rpc_call *c = ctx;
	char *text;
	size_t len = 0;

	if (!rpc_op_ok(c, err))
		return;
	text = rpc_text_list(res, &len);
	rpc_reply_cache_text(c, text, len);
}

static int
message_param_limit(struct rpc_call *c, const json_t *params, unsigned *limit_r)
{
	struct kr_err err;
	long long limit = KR_STORE_LIST_DEFAULT;

	if (kr_jsonrpc_param_int(params, "limit", false, 1, KR_STORE_LIST_MAX,
				 &limit, &err) < 0) {
		rpc_fail_params(c, &err);
		return -1;
	}
	*limit_r = (unsigned)limit;
	return 0;
}

void
rpc_message_list(struct rpc_call *c, const json_t *params)
{
	int64_t mailbox, before = 0;
	unsigned limit;

	if (rpc_param_id(c, params, "mailbox", true, &mailbox) < 0 ||
	    message_param_limit(c, params, &limit) < 0 ||
	    rpc_param_id(c, params, "before_uid", false, &before) < 0)
		return;
	if (rpc_cache_lookup(c, "L:%lld:%u:%lld", (long long)mailbox, limit,
			     (long long)before))
		return;
	c->op = kr_store_message_list_begin(
		c->req->rpc->d.store, rpc_user(c), mailbox, limit, before,
		c->arena, rpc_deadline(c), message_on_list, c);
}

/* ---- message.search ----------------------------------------------- */

/* A time as Unix seconds, or as "YYYY-MM-DD" / "YYYY-MM-DDTHH:MM:SSZ"
 * (UTC). 1 when present, 0 when absent, -1 after answering -32602. */
static int
search_param_time(struct rpc_call *c, const json_t *query, const char *name,
		  int64_t *t_r)
{
	const json_t *v = json_object_get(query, name);
	struct tm tm = { 0 };
	const char *s, *end;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*t_r = json_integer_value(v);
		return 1;
	}
	s = json_is_string(v) ? json_string_value(v) : "";
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (end == NULL || *end != '\0')
		return rpc_param_bad(c, name,
				     "Unix seconds or an RFC 3339 UTC date");
	*t_r = (int64_t)timegm(&tm);
	return 1;
}

/* query.<name> of the wanted JSON type (null counts as absent); -1
 * after answering -32602. */
static int
search_param(struct rpc_call *c, const json_t *query, const char *name,
	     json_type type, const json_t **v_r)
{
	const json_t *v = json_object_get(query, name);

	*v_r = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_typeof(v) != type &&
	    !(type == JSON_TRUE && json_is_boolean(v)))
		return rpc_param_bad(c, name,
				     type == JSON_STRING ? "must be a string"
							 : "must be a boolean");
	*v_r = v;
	return 0;
}

/* query.<name> within the store's bounds; -1 after answering -32602. */
static int
search_bounded(struct rpc_call *c, const char *name, const char *value)
{
	const char *why =
		rpc_param_search_error(value, strcmp(name, "text") == 0);

	return why != NULL ? rpc_param_bad(c, name, why) : 0;
}

static int
search_query(struct rpc_call *c, const json_t *params,
	     struct kr_store_search *q)
{
	const json_t *query = NULL, *text, *from, *subject, *unseen;
	struct kr_err err;
	int since, before;

	if (rpc_param_id(c, params, "mailbox", false, &q->mailbox_id) < 0 ||
	    message_param_limit(c, params, &q->limit) < 0)
		return -1;
	if (kr_jsonrpc_param_object(params, "query", true, &query, &err) < 0) {
		rpc_fail_params(c, &err);
		return -1;
	}
	if (search_param(c, query, "text", JSON_STRING, &text) < 0 ||
	    search_param(c, query, "from", JSON_STRING, &from) < 0 ||
	    search_param(c, query, "subject", JSON_STRING, &subject) < 0 ||
	    search_param(c, query, "unseen", JSON_TRUE, &unseen) < 0)
		return -1;
	q->text = text ? json_string_value(text) : NULL;
	q->from = from ? json_string_value(from) : NULL;
	q->subject = subject ? json_string_value(subject) : NULL;
	q->unseen = unseen != NULL && json_is_true(unseen);
	if (search_bounded(c, "text", q->text) < 0 ||
	    search_bounded(c, "from", q->from) < 0 ||
	    search_bounded(c, "subject", q->subject) < 0)
		return -1;
	/* Split as the messages were (proto/fts_terms.h): the store gets
	 * the terms; none at all matches nothing. */
	if (q->text != NULL) {
		q->text = kr_fts_terms(c->arena, q->text, strlen(q->text),
				       KR_STORE_SEARCH_FIELD_MAX, NULL, &err);
		if (q->text == NULL) {
			rpc_fail_err(c, &err);
			return -1;
		}
	}
	since = search_param_time(c, query, "since", &q->since);
	before = since < 0 ? -1
			   : search_param_time(c, query, "before", &q->before);
	if (since < 0 || before < 0)
		return -1;
	q->has_since = since > 0;
	q->has_before = before > 0;
	return 0;
}

void
rpc_message_search(struct rpc_call *c, const json_t *params)
{
	struct kr_store_search q = { 0 };

	if (search_query(c, params, &q) < 0)
		return;
	c->op = kr_store_message_search_begin(c->req->rpc->d.store, rpc_user(c),
					      &q, c->arena, rpc_deadline(c),
					      message_on_list, c);
}

/* ---- one message: get, raw, attachment ---------------------------- */

enum view_kind {
	VIEW_GET,
	VIEW_RAW,
	VIEW_PART
};

struct view {
	struct rpc_call *c;
	enum view_kind kind;
	const char *part; /* VIEW_PART */
	const struct kr_store_message_get_result *m;
	/* Filled on the cpu pool. */
	int rc;
	struct kr_err err;
	const char *text, *html;
	const struct kr_mime_header *headers;
	unsigned n_headers;
	const void *data;
	size_t len;
	const char *filename, *type;
};

static void
view_work(void *ctx)
{
	struct view *v = ctx;
	struct kr_arena *arena = v->c->arena;
	bool limited;

	if (v->kind == VIEW_PART) {
		v->rc = kr_mime_part(v->m->raw, v->m->raw_len, v->part, NULL,
				     arena, &v->data, &v->len, &v->filename,
				     &v->type, &v->err);
		return;
	}
	v->rc = kr_mime_body_text(v->m->raw, v->m->raw_len, NULL, arena,
				  &v->text, &v->html, &v->err);
	if (v->rc == 0)
		v->rc = kr_mime_headers(v->m->raw, v->m->raw_len, NULL, arena,
					&v->headers, &v->n_headers, &limited,
					&v->err);
}

/* Header fields by name: a string, or an array when the field repeats
 * (Received). Names as the first occurrence writes them. */
static json_t *
view_headers(const struct view *v)
{
	json_t *obj = json_object();

	for (unsigned i = 0; obj != NULL && i < v->n_headers; i++) {
		const struct kr_mime_header *h = &v->headers[i];
		json_t *old = json_object_get(obj, h->name);
		json_t *val = json_string(h->value);

		if (old == NULL) {
			json_object_set_new(obj, h->name, val);
		} else if (json_is_array(old)) {
			json_array_append_new(old, val);
		} else {
			json_t *arr = json_pack("[O o]", old, val);

			json_object_set_new(obj, h->name, arr);
		}
	}
	return obj;
}

/* message.get's result: the header fields through jansson (grouping
 * repeated names), the rest written as text, the address lists as the
 * store gave them. NULL when out of memory. */
static char *
view_get_text(const struct view *v, size_t *len_r)
{
	json_t *headers = view_headers(v);
	char *htext =
		headers != NULL ? json_dumps(headers, JSON_COMPACT) : NULL;
	struct rpc_text_body b = { .headers = htext,
				   .text = v->text,
				   .html = v->html };
	char *text = NULL;

	json_decref(headers);
	if (htext != NULL) {
		b.headers_len = strlen(htext);
		text = rpc_text_get(v->m, &b, len_r);
	}
	free(htext);
	return text;
}

/* What message.get's result will hold before it is built: its large
 * strings as the header fields' jansson tree copies them and as they
 * are written (escapes may add more; the reply charges that). */
static size_t
view_get_estimate(const struct view *v)
{
	size_t n = 4096;

	n += v->text != NULL ? strlen(v->text) : 0;
	n += v->html != NULL ? strlen(v->html) : 0;
	for (unsigned i = 0; i < v->n_headers; i++)
		n += strlen(v->headers[i].name) + strlen(v->headers[i].value) +
		     8;
	return 2 * n;
}

/* The message's bytes as {"raw":"<base64>"}, written straight to
 * text: the largest result there is, so its size is reserved before it
 * is built and it is never copied into a JSON tree. */
static void
view_reply_raw(struct rpc_call *c, const void *raw, size_t len)
{
	static const char head[] = "{\"raw\":\"", tail[] = "\"}";
	size_t b64 = rpc_text_base64_len(len);
	size_t total = sizeof(head) - 1 + b64 + sizeof(tail) - 1;
	char *text;

	if (rpc_reserve(c, total + 1) < 0)
		return;
	text = malloc(total + 1);
	if (text != NULL) {
		memcpy(text, head, sizeof(head) - 1);
		rpc_text_base64(text + sizeof(head) - 1, raw, len);
		memcpy(text + sizeof(head) - 1 + b64, tail, sizeof(tail));
	}
	rpc_reply_text(c, text, total);
}

/* A string or null as JSON text (malloc'd), NULL when out of memory. */
static char *
view_json_str(const char *s)
{
	json_t *v = rpc_json_str(s);
	char *text = v != NULL ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	return text;
}

/* {"filename":...,"type":...,"data":"<base64>"}, as view_reply_raw. */
static void
view_reply_part(struct view *v)
{
	struct rpc_call *c = v->c;
	char *name = view_json_str(v->filename), *type = view_json_str(v->type);
	size_t b64 = rpc_text_base64_len(v->len), total = 0, off;
	char *text = NULL;

	if (name != NULL && type != NULL) {
		total = strlen(name) + strlen(type) + b64 + 40;
		if (rpc_reserve(c, total + 1) < 0)
			goto out;
		text = malloc(total + 1);
	}
	if (text != NULL) {
		off = (size_t)snprintf(text, total + 1,
				       "{\"filename\":%s,\"type\":%s,"
				       "\"data\":\"",
				       name, type);
		rpc_text_base64(text + off, v->data, v->len);
		memcpy(text + off + b64, "\"}", 3);
		total = off + b64 + 2;
	}
	rpc_reply_cache_text(c, text, total);
out:
	free(name);
	free(type);
}

static void
view_reply_get(const struct view *v)
{
	size_t len = 0;
	char *text = view_get_text(v, &len);

	rpc_reply_cache_text(v->c, text, len);
}

static void
view_done(void *ctx, int status)
{
	struct view *v = ctx;
	struct rpc_call *c = v->c;

	c->job = NULL;
	if (status != 0) {
		rpc_fail(c, KR_JSONRPC_UNAVAILABLE, "worker stopping", NULL);
		return;
	}
	if (v->rc < 0) {
		rpc_fail_err(c, &v->err);
		return;
	}
	if (v->kind == VIEW_PART)
		view_reply_part(v);
	else if (rpc_reserve(c, view_get_estimate(v)) == 0)
		view_reply_get(v);
}

static void
view_on_message(void *ctx, const struct kr_store_message_get_result *res,
		const struct kr_err *err)
{
	struct view *v = ctx;
	struct rpc_call *c = v->c;
	struct kr_err perr;

	if (!rpc_op_ok(c, err))
		return;
	v->m = res;
	if (v->kind == VIEW_RAW) {
		view_reply_raw(c, res->raw, res->raw_len);
		return;
	}
	/* GMime on a large message would stall the loop. */
	if (kr_tpool_cpu_if(c->req->rpc->d.cpu, res->raw_len, view_work,
			    view_done, v, &c->job, &perr) < 0)
		rpc_fail_err(c, &perr);
}

static void
view_begin(struct rpc_call *c, const json_t *params, enum view_kind kind)
{
	struct kr_err err;
	int64_t mailbox, uid;
	const char *part = NULL;
	struct view *v;

	if (rpc_param_id(c, params, "mailbox", true, &mailbox) < 0 ||
	    rpc_param_id(c, params, "uid", true, &uid) < 0)
		return;
	if (kind == VIEW_PART &&
	    (kr_jsonrpc_param_str(params, "part", true, &part, &err) < 0 ||
	     !rpc_param_part_ok(part))) {
		rpc_param_bad(
			c, "part",
			"a MIME part number like \"2\" or \"1.2\": "
			"numbers from 1 joined by dots, at most " RPC_XSTR(
				RPC_PART_LEVELS) " of them");
		return;
	}
	if (kind != VIEW_RAW &&
	    rpc_cache_lookup(c, "%c:%lld:%lld:%s", kind == VIEW_GET ? 'G' : 'A',
			     (long long)mailbox, (long long)uid,
			     part ? part : ""))
		return;
	v = kr_arena_zalloc(c->arena, sizeof(*v), &err);
	if (v == NULL) {
		rpc_fail_err(c, &err);
		return;
	}
	*v = (struct view){ .c = c, .kind = kind, .part = part };
	c->op = kr_store_message_get_begin(c->req->rpc->d.store, rpc_user(c),
					   mailbox, uid, c->arena,
					   rpc_deadline(c), view_on_message, v);
}

void
rpc_message_get(struct rpc_call *c, const json_t *params)
{
	view_begin(c, params, VIEW_GET);
}

void
rpc_message_raw(struct rpc_call *c, const json_t *params)
{
	view_begin(c, params, VIEW_RAW);
}

void
rpc_message_attachment(struct rpc_call *c, const json_t *params)
{
	view_begin(c, params, VIEW_PART);
}
