/* proto/jsonrpc: every example of the JSON-RPC 2.0 specification's
 * examples section (with a small dispatcher standing in for the
 * server's), id echo, the depth, batch and body limits, the named-param
 * helpers. Responses are compared as JSON values, not strings.
 * (tests/run.sh replays the fuzz corpus through fuzz_jsonrpc.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jsonrpc.h"
#include "proto/jsonrpc_priv.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* params[0] - params[1], or minuend - subtrahend. */
static json_t *
test_subtract(const json_t *params)
{
	long long a = 0, b = 0;

	if (json_is_array(params)) {
		a = json_integer_value(json_array_get(params, 0));
		b = json_integer_value(json_array_get(params, 1));
	} else {
		assert_int_equal(kr_jsonrpc_param_int(params, "minuend", true,
						      -1000, 1000, &a, NULL),
				 0);
		assert_int_equal(kr_jsonrpc_param_int(params, "subtrahend",
						      true, -1000, 1000, &b,
						      NULL),
				 0);
	}
	return json_integer(a - b);
}

static json_t *
test_sum(const json_t *params)
{
	long long s = 0;

	for (size_t i = 0; i < json_array_size(params); i++)
		s += json_integer_value(json_array_get(params, i));
	return json_integer(s);
}

/* The specification's example methods; anything else is -32601. */
static void
test_dispatch(struct kr_jsonrpc_batch *b)
{
	for (size_t i = 0; i < kr_jsonrpc_count(b); i++) {
		const struct kr_jsonrpc_call *c = kr_jsonrpc_call(b, i);

		if (c->error_code != 0) {
			assert_null(c->method);
			continue;
		}
		assert_non_null(c->method);
		if (strcmp(c->method, "subtract") == 0)
			kr_jsonrpc_set_result(b, i, test_subtract(c->params));
		else if (strcmp(c->method, "sum") == 0 ||
			 strcmp(c->method, "notify_sum") == 0)
			kr_jsonrpc_set_result(b, i, test_sum(c->params));
		else if (strcmp(c->method, "get_data") == 0)
			kr_jsonrpc_set_result(b, i,
					      json_pack("[si]", "hello", 5));
		else if (strcmp(c->method, "update") == 0 ||
			 strcmp(c->method, "notify_hello") == 0)
			kr_jsonrpc_set_result(b, i, json_true());
		else
			kr_jsonrpc_set_error(b, i, KR_JSONRPC_METHOD_NOT_FOUND,
					     NULL, NULL);
	}
}

static struct kr_jsonrpc_batch *
test_parse_lim(const char *body, size_t len,
	       const struct kr_jsonrpc_limits *lim)
{
	struct kr_jsonrpc_batch *b = NULL;
	struct kr_err err = { 0 };

	assert_int_equal(kr_jsonrpc_parse(body, len, lim, &b, &err), 0);
	assert_non_null(b);
	assert_true(kr_jsonrpc_count(b) >= 1);
	return b;
}

static struct kr_jsonrpc_batch *
test_parse(const char *body)
{
	struct kr_jsonrpc_limits lim;

	kr_jsonrpc_limits_init(&lim);
	return test_parse_lim(body, strlen(body), &lim);
}

/* Checks the batch's response against expected JSON (NULL: no body). */
static void
test_expect(const struct kr_jsonrpc_batch *b, const char *expected)
{
	size_t len = 99;
	char *out = kr_jsonrpc_response(b, &len);
	json_t *got, *want;
	json_error_t jerr;

	if (expected == NULL) {
		assert_null(out);
		assert_int_equal(len, 0);
		return;
	}
	assert_non_null(out);
	assert_int_equal(len, strlen(out));
	got = json_loads(out, 0, &jerr);
	want = json_loads(expected, 0, &jerr);
	assert_non_null(got);
	assert_non_null(want);
	if (!json_equal(got, want))
		fail_msg("got %s\nwant %s", out, expected);
	json_decref(got);
	json_decref(want);
	free(out);
}

struct spec_case {
	const char *name;
	const char *request;
	const char *response; /* NULL: nothing is sent */
	bool is_batch;
};

/* https://www.jsonrpc.org/specification#examples, in order. */
static const struct spec_case spec_cases[] = {
	{ "positional 1",
	  "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", "
	  "\"params\": [42, 23], \"id\": 1}",
	  "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 1}", false },
	{ "positional 2",
	  "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", "
	  "\"params\": [23, 42], \"id\": 2}",
	  "{\"jsonrpc\": \"2.0\", \"result\": -19, \"id\": 2}", false },
	{ "named 1",
	  "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": "
	  "{\"subtrahend\": 23, \"minuend\": 42}, \"id\": 3}",
	  "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 3}", false },
	{ "named 2",
	  "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": "
	  "{\"minuend\": 42, \"subtrahend\": 23}, \"id\": 4}",
	  "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": 4}", false },
	{ "notification 1",
	  "{\"jsonrpc\": \"2.0\", \"method\": \"update\", "
	  "\"params\": [1,2,3,4,5]}",
	  NULL, false },
	{ "notification 2", "{\"jsonrpc\": \"2.0\", \"method\": \"foobar\"}",
	  NULL, false },
	{ "non-existent method",
	  "{\"jsonrpc\": \"2.0\", \"method\": \"foobar\", \"id\": \"1\"}",
	  "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32601, "
	  "\"message\": \"Method not found\"}, \"id\": \"1\"}",
	  false },
	{ "invalid JSON",
	  "{\"jsonrpc\": \"2.0\", \"method\": \"foobar, \"params\": \"bar\", "
	  "\"baz]",
	  "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32700, "
	  "\"message\": \"Parse error\"}, \"id\": null}",
	  false },
	{ "invalid request object",
	  "{\"jsonrpc\": \"2.0\", \"method\": 1, \"params\": \"bar\"}",
	  "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, "
	  "\"message\": \"Invalid Request\"}, \"id\": null}",
	  false },
	{ "batch, invalid JSON",
	  "[\n  {\"jsonrpc\": \"2.0\", \"method\": \"sum\", "
	  "\"params\": [1,2,4], \"id\": \"1\"},\n"
	  "  {\"jsonrpc\": \"2.0\", \"method\"\n]",
	  "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32700, "
	  "\"message\": \"Parse error\"}, \"id\": null}",
	  false },
	{ "empty array", "[]",
	  "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, "
	  "\"message\": \"Invalid Request\"}, \"id\": null}",
	  false },
	{ "invalid batch, not empty", "[1]",
	  "[{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, "
	  "\"message\": \"Invalid Request\"}, \"id\": null}]",
	  true },
	{ "invalid batch", "[1,2,3]",
	  "[{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, "
	  "\"message\": \"Invalid Request\"}, \"id\": null},"
	  "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, "
	  "\"message\": \"Invalid Request\"}, \"id\": null},"
	  "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, "
	  "\"message\": \"Invalid Request\"}, \"id\": null}]",
	  true },
	{ "mixed batch",
	  "[{\"jsonrpc\": \"2.0\", \"method\": \"sum\", "
	  "\"params\": [1,2,4], \"id\": \"1\"},"
	  "{\"jsonrpc\": \"2.0\", \"method\": \"notify_hello\", "
	  "\"params\": [7]},"
	  "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", "
	  "\"params\": [42,23], \"id\": \"2\"},"
	  "{\"foo\": \"boo\"},"
	  "{\"jsonrpc\": \"2.0\", \"method\": \"foo.get\", "
	  "\"params\": {\"name\": \"myself\"}, \"id\": \"5\"},"
	  "{\"jsonrpc\": \"2.0\", \"method\": \"get_data\", \"id\": \"9\"}]",
	  "[{\"jsonrpc\": \"2.0\", \"result\": 7, \"id\": \"1\"},"
	  "{\"jsonrpc\": \"2.0\", \"result\": 19, \"id\": \"2\"},"
	  "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32600, "
	  "\"message\": \"Invalid Request\"}, \"id\": null},"
	  "{\"jsonrpc\": \"2.0\", \"error\": {\"code\": -32601, "
	  "\"message\": \"Method not found\"}, \"id\": \"5\"},"
	  "{\"jsonrpc\": \"2.0\", \"result\": [\"hello\", 5], \"id\": \"9\"}]",
	  true },
	{ "batch of notifications",
	  "[{\"jsonrpc\": \"2.0\", \"method\": \"notify_sum\", "
	  "\"params\": [1,2,4]},"
	  "{\"jsonrpc\": \"2.0\", \"method\": \"notify_hello\", "
	  "\"params\": [7]}]",
	  NULL, true },
};

static void
test_jsonrpc_spec_examples(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(spec_cases); i++) {
		const struct spec_case *c = &spec_cases[i];
		struct kr_jsonrpc_batch *b = test_parse(c->request);

		print_message("  %s\n", c->name);
		assert_int_equal(kr_jsonrpc_is_batch(b), c->is_batch);
		test_dispatch(b);
		test_expect(b, c->response);
		kr_jsonrpc_batch_destroy(&b);
		assert_null(b);
	}
}

static void
test_jsonrpc_call_fields(void **state)
{
	struct kr_jsonrpc_batch *b = test_parse(
		"[{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":{\"x\":1},"
		"\"id\":7},{\"jsonrpc\":\"2.0\",\"method\":\"b\"},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"c\",\"id\":null},"
		"{\"jsonrpc\":\"1.0\",\"method\":\"d\",\"id\":\"x\"}]");
	const struct kr_jsonrpc_call *c;

	(void)state;
	assert_int_equal(kr_jsonrpc_count(b), 4);
	c = kr_jsonrpc_call(b, 0);
	assert_string_equal(c->method, "a");
	assert_true(json_is_object(c->params));
	assert_int_equal(json_integer_value(c->id), 7);
	assert_false(c->is_notification);
	assert_int_equal(c->error_code, 0);
	assert_null(c->error_message);
	c = kr_jsonrpc_call(b, 1);
	assert_string_equal(c->method, "b");
	assert_null(c->params);
	assert_null(c->id);
	assert_true(c->is_notification);
	/* An id of null is a call, not a notification. */
	c = kr_jsonrpc_call(b, 2);
	assert_true(json_is_null(c->id));
	assert_false(c->is_notification);
	/* An invalid entry echoes its readable id. */
	c = kr_jsonrpc_call(b, 3);
	assert_null(c->method);
	assert_int_equal(c->error_code, KR_JSONRPC_INVALID_REQUEST);
	assert_string_equal(c->error_message, "Invalid Request");
	assert_string_equal(json_string_value(c->id), "x");
	/* Left unanswered: -32603 rather than no response. */
	kr_jsonrpc_set_result(b, 1, json_string("dropped"));
	kr_jsonrpc_set_error(b, 2, KR_JSONRPC_OVERLOADED, NULL,
			     json_pack("{si}", "retry_after_ms", 100));
	test_expect(
		b,
		"[{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,"
		"\"message\":\"Internal error\"},\"id\":7},"
		"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32011,\"message\":"
		"\"Overloaded\",\"data\":{\"retry_after_ms\":100}},\"id\":null}"
		","
		"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,"
		"\"message\":\"Invalid Request\"},\"id\":\"x\"}]");
	/* A later answer replaces an earlier one. */
	kr_jsonrpc_set_error(b, 0, KR_JSONRPC_NOT_FOUND, "no such mailbox",
			     NULL);
	kr_jsonrpc_set_result(b, 0, json_pack("{sb}", "ok", 1));
	kr_jsonrpc_set_result(b, 2, json_null());
	kr_jsonrpc_set_error(b, 3, KR_JSONRPC_CONFLICT, "exists", NULL);
	test_expect(b, "[{\"jsonrpc\":\"2.0\",\"result\":{\"ok\":true},"
		       "\"id\":7},{\"jsonrpc\":\"2.0\",\"result\":null,"
		       "\"id\":null},{\"jsonrpc\":\"2.0\",\"error\":{\"code\":"
		       "-32003,\"message\":\"exists\"},\"id\":\"x\"}]");
	kr_jsonrpc_batch_destroy(&b);
	kr_jsonrpc_batch_destroy(&b);
}

/* Requests that are not valid request objects, each answered -32600
 * with the id it carried when that id could be read. */
static void
test_jsonrpc_invalid_requests(void **state)
{
	static const struct {
		const char *req, *id;
	} cases[] = {
		{ "{\"method\":\"m\",\"id\":1}", "1" },
		{ "{\"jsonrpc\":2.0,\"method\":\"m\",\"id\":1}", "1" },
		{ "{\"jsonrpc\":\"2.00\",\"method\":\"m\",\"id\":\"a\"}",
		  "\"a\"" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1.5}", "1.5" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":1}", "1" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":null,"
		  "\"id\":2}",
		  "2" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":3,\"id\":"
		  "2}",
		  "2" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":[1]}", "null" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":{}}", "null" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":true}",
		  "null" },
		{ "\"just a string\"", "null" },
		{ "42", "null" },
		{ "null", "null" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct kr_jsonrpc_batch *b = test_parse(cases[i].req);
		char want[256];

		snprintf(want, sizeof(want),
			 "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,"
			 "\"message\":\"Invalid Request\"},\"id\":%s}",
			 cases[i].id);
		assert_int_equal(kr_jsonrpc_call(b, 0)->error_code,
				 KR_JSONRPC_INVALID_REQUEST);
		test_expect(b, want);
		kr_jsonrpc_batch_destroy(&b);
	}
}

static void
test_jsonrpc_parse_errors(void **state)
{
	static const char *const cases[] = {
		"",	   "   ",
		"{",	   "{\"a\":1} x",
		"[1,]",	   "{'a':1}",
		"\xff",	   "[\"\\u0000\"]",
		"nul",	   "[1] [2]",
		"{\"a\"}", "[\"\\x\"]",
		"1e99999", "\"unterminated",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct kr_jsonrpc_batch *b = test_parse(cases[i]);

		assert_false(kr_jsonrpc_is_batch(b));
		assert_int_equal(kr_jsonrpc_call(b, 0)->error_code,
				 KR_JSONRPC_PARSE_ERROR);
		test_expect(b, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":"
			       "-32700,\"message\":\"Parse error\"},"
			       "\"id\":null}");
		kr_jsonrpc_batch_destroy(&b);
	}
}

/* The id comes back as the same JSON value, whatever its type. */
static void
test_jsonrpc_id_echo(void **state)
{
	static const char *const ids[] = {
		"\"abc\"", "\"\"",  "\"\\u00e9\\n\"",
		"0",	   "-1",    "9223372036854775807",
		"1.5",	   "-0.25", "1e3",
		"null",	   "\"1\"",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(ids); i++) {
		char req[256], want[256];
		struct kr_jsonrpc_batch *b;

		snprintf(req, sizeof(req),
			 "{\"jsonrpc\":\"2.0\",\"method\":\"sum\","
			 "\"params\":[1],\"id\":%s}",
			 ids[i]);
		snprintf(want, sizeof(want),
			 "{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":%s}",
			 ids[i]);
		b = test_parse(req);
		test_dispatch(b);
		test_expect(b, want);
		kr_jsonrpc_batch_destroy(&b);
	}
}

/* "[" * (n - 1) inside the params of a request: total nesting n. */
static char *
test_nested(unsigned n)
{
	size_t len = 2 * (size_t)n + 64;
	char *s = malloc(len);
	size_t off;

	assert_non_null(s);
	off = (size_t)snprintf(s, len,
			       "{\"jsonrpc\":\"2.0\",\"method\":\"m\","
			       "\"id\":1,\"params\":");
	for (unsigned i = 1; i < n; i++)
		s[off++] = '[';
	for (unsigned i = 1; i < n; i++)
		s[off++] = ']';
	s[off++] = '}';
	s[off] = '\0';
	return s;
}

static void
test_jsonrpc_depth_limit(void **state)
{
	struct kr_jsonrpc_limits lim;
	struct kr_jsonrpc_batch *b;
	char *s;

	(void)state;
	kr_jsonrpc_limits_init(&lim);
	assert_int_equal(lim.depth_max, 32);
	s = test_nested(lim.depth_max);
	b = test_parse_lim(s, strlen(s), &lim);
	assert_string_equal(kr_jsonrpc_call(b, 0)->method, "m");
	kr_jsonrpc_batch_destroy(&b);
	free(s);

	s = test_nested(lim.depth_max + 1);
	b = test_parse_lim(s, strlen(s), &lim);
	assert_int_equal(kr_jsonrpc_call(b, 0)->error_code,
			 KR_JSONRPC_INVALID_REQUEST);
	assert_non_null(strstr(kr_jsonrpc_call(b, 0)->error_message, "32"));
	assert_true(json_is_null(kr_jsonrpc_call(b, 0)->id));
	kr_jsonrpc_batch_destroy(&b);
	free(s);

	/* Brackets inside strings, escaped quotes included, do not count. */
	lim.depth_max = 2;
	s = "{\"jsonrpc\":\"2.0\",\"method\":\"[[[{{\\\"[[\",\"params\":[1],"
	    "\"id\":\"]]\\\\\"}";
	b = test_parse_lim(s, strlen(s), &lim);
	assert_string_equal(kr_jsonrpc_call(b, 0)->method, "[[[{{\"[[");
	assert_string_equal(json_string_value(kr_jsonrpc_call(b, 0)->id),
			    "]]\\");
	kr_jsonrpc_batch_destroy(&b);

	/* Far past jansson's own limit: refused before it recurses. */
	s = test_nested(100000);
	b = test_parse_lim(s, strlen(s), &lim);
	assert_int_equal(kr_jsonrpc_call(b, 0)->error_code,
			 KR_JSONRPC_INVALID_REQUEST);
	kr_jsonrpc_batch_destroy(&b);
	free(s);
}

static char *
test_batch_body(unsigned n)
{
	static const char call[] = "{\"jsonrpc\":\"2.0\",\"method\":\"sum\","
				   "\"params\":[1,2],\"id\":1},";
	size_t len = (size_t)n * (sizeof(call) - 1) + 3;
	char *s = malloc(len);
	size_t off = 0;

	assert_non_null(s);
	s[off++] = '[';
	for (unsigned i = 0; i < n; i++) {
		memcpy(s + off, call, sizeof(call) - 1);
		off += sizeof(call) - 1;
	}
	s[off - 1] = ']';
	s[off] = '\0';
	return s;
}

static void
test_jsonrpc_batch_limit(void **state)
{
	struct kr_jsonrpc_limits lim;
	struct kr_jsonrpc_batch *b;
	size_t len;
	char *s, *out;

	(void)state;
	kr_jsonrpc_limits_init(&lim);
	assert_int_equal(lim.batch_max, 100);
	s = test_batch_body(lim.batch_max);
	b = test_parse_lim(s, strlen(s), &lim);
	assert_true(kr_jsonrpc_is_batch(b));
	assert_int_equal(kr_jsonrpc_count(b), 100);
	test_dispatch(b);
	out = kr_jsonrpc_response(b, &len);
	assert_non_null(out);
	free(out);
	kr_jsonrpc_batch_destroy(&b);
	free(s);

	s = test_batch_body(lim.batch_max + 1);
	b = test_parse_lim(s, strlen(s), &lim);
	assert_false(kr_jsonrpc_is_batch(b));
	assert_int_equal(kr_jsonrpc_count(b), 1);
	test_expect(b, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,"
		       "\"message\":\"Invalid Request: batch of 101 calls, "
		       "more than the limit of 100 ([jsonrpc] batch_max)\"},"
		       "\"id\":null}");
	kr_jsonrpc_batch_destroy(&b);
	free(s);
}

static void
test_jsonrpc_body_limit(void **state)
{
	static const char body[] = "{\"jsonrpc\":\"2.0\",\"method\":\"m\"}";
	struct kr_jsonrpc_limits lim;
	struct kr_jsonrpc_batch *b = NULL;
	struct kr_err err = { 0 };

	(void)state;
	kr_jsonrpc_limits_init(&lim);
	assert_int_equal(lim.body_max, KR_JSONRPC_BODY_MAX_DEFAULT);
	lim.body_max = sizeof(body) - 1;
	b = test_parse_lim(body, sizeof(body) - 1, &lim);
	assert_true(kr_jsonrpc_call(b, 0)->is_notification);
	kr_jsonrpc_batch_destroy(&b);

	lim.body_max--;
	assert_int_equal(
		kr_jsonrpc_parse(body, sizeof(body) - 1, &lim, &b, &err), -1);
	assert_null(b);
	assert_int_equal(err.kind, KR_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "limit"));
}

/* The body need not be NUL-terminated: only len bytes are read. */
static void
test_jsonrpc_unterminated_body(void **state)
{
	static const char body[] = "{\"jsonrpc\":\"2.0\",\"method\":\"m\","
				   "\"id\":1}GARBAGE";
	struct kr_jsonrpc_limits lim;
	struct kr_jsonrpc_batch *b;

	(void)state;
	kr_jsonrpc_limits_init(&lim);
	b = test_parse_lim(body, sizeof(body) - 1 - 7, &lim);
	assert_string_equal(kr_jsonrpc_call(b, 0)->method, "m");
	kr_jsonrpc_batch_destroy(&b);
}

/* ---- element_max: values counted before anything is built ---------- */

/* Bodies and how many JSON values each holds (keys are not values). */
static const struct {
	const char *body;
	size_t values;
} count_cases[] = {
	{ "1", 1 },
	{ "\"a,b,[c]\"", 1 },
	{ "[]", 1 },
	{ "{}", 1 },
	{ "[1,2,3]", 4 },
	{ " [ 1 , [ ] , { } ] ", 4 },
	{ "{\"a\":1,\"b\":[true,false,null]}", 6 },
	{ "{\"a,\":\"x,y\",\"c\\\",[\":{\"d\":[[]]}}", 5 },
	{ "[{},{},{},{}]", 5 },
	{ "{\"k\":\"\\\\\",\"l\":\"\\\\\\\",\"}", 3 },
};

static void
test_jsonrpc_scan_counts(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(count_cases); i++) {
		struct kr_jsonrpc_scan sc;
		const char *b = count_cases[i].body;

		kr_jsonrpc_scan(b, strlen(b), 32, 100, &sc);
		if (sc.values != count_cases[i].values || sc.too_deep)
			fail_msg("%s: %zu values, wanted %zu", b, sc.values,
				 count_cases[i].values);
		kr_jsonrpc_scan_free(&sc);
	}
}

/* The body's first call must have its method (passed) or the body is
 * one -32600 whose message holds want (refused). */
static void
test_limited(const char *body, const struct kr_jsonrpc_limits *lim,
	     const char *want)
{
	struct kr_jsonrpc_batch *b = test_parse_lim(body, strlen(body), lim);
	const struct kr_jsonrpc_call *c = kr_jsonrpc_call(b, 0);

	if (want == NULL) {
		if (c->error_code != 0)
			fail_msg("%.60s: refused: %s", body, c->error_message);
	} else {
		assert_int_equal(kr_jsonrpc_count(b), 1);
		assert_false(kr_jsonrpc_is_batch(b));
		assert_int_equal(c->error_code, KR_JSONRPC_INVALID_REQUEST);
		if (strstr(c->error_message, want) == NULL)
			fail_msg("%.60s: '%s', wanted '%s'", body,
				 c->error_message, want);
		assert_true(json_is_null(c->id));
	}
	kr_jsonrpc_batch_destroy(&b);
}

/* A request whose params hold n - 2 numbers: n values in all. */
static char *
test_wide(size_t n)
{
	size_t cap = 64 + 2 * n, off;
	char *s = malloc(cap);

	assert_non_null(s);
	off = (size_t)snprintf(s, cap,
			       "{\"jsonrpc\":\"2.0\",\"method\":\"m\","
			       "\"params\":[");
	/* jsonrpc, method and the params array are 3 of the n. */
	for (size_t i = 0; i + 4 < n; i++)
		off += (size_t)snprintf(s + off, cap - off, "%s1",
					i ? "," : "");
	snprintf(s + off, cap - off, "]}");
	return s;
}

static void
test_jsonrpc_element_limit(void **state)
{
	struct kr_jsonrpc_limits lim;
	char *s;

	(void)state;
	kr_jsonrpc_limits_init(&lim);
	assert_int_equal(lim.element_max, 100000);
	lim.element_max = 1000;
	/* object + "2.0" + "m" + array + 996 numbers = 1000 values. */
	s = test_wide(lim.element_max);
	test_limited(s, &lim, NULL);
	free(s);
	s = test_wide(lim.element_max + 1);
	test_limited(s, &lim,
		     "1001 JSON values, more than the limit of 1000 "
		     "([jsonrpc] element_max)");
	free(s);
	/* The same in a batch: the entries' values add up. */
	lim.element_max = 13;
	test_limited("[{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1},"
		     "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":2},"
		     "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":3}]",
		     &lim, NULL);
	test_limited("[{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1},"
		     "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":2},"
		     "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":[3]}]",
		     &lim, "element_max");
	/* Counted before the syntax is: not JSON, still -32600. */
	lim.element_max = 3;
	test_limited("[1,2,3,", &lim, "element_max");
}

/* [{},{},...] of n entries: the 70 MB body of issue 13, in small. */
static char *
test_empties(size_t n)
{
	char *s = malloc(3 * n + 2);
	size_t off = 0;

	assert_non_null(s);
	s[off++] = '[';
	for (size_t i = 0; i < n; i++) {
		memcpy(s + off, "{},", 3);
		off += 3;
	}
	s[off - 1] = ']';
	s[off] = '\0';
	return s;
}

static void
test_jsonrpc_empties_refused_before_parsing(void **state)
{
	struct kr_jsonrpc_limits lim;
	char *s;

	(void)state;
	kr_jsonrpc_limits_init(&lim);
	/* Entries over batch_max: named first, with the count. */
	s = test_empties(1000000);
	test_limited(s, &lim,
		     "batch of 1000000 calls, more than the limit of 100 "
		     "([jsonrpc] batch_max)");
	free(s);
	/* Within batch_max, over element_max. */
	lim.batch_max = 10000;
	lim.element_max = 5000;
	s = test_empties(5000);
	test_limited(s, &lim, "5001 JSON values");
	free(s);
	s = test_empties(4999);
	{
		struct kr_jsonrpc_batch *b = test_parse_lim(s, strlen(s), &lim);

		assert_int_equal(kr_jsonrpc_count(b), 4999);
		assert_true(kr_jsonrpc_is_batch(b));
		kr_jsonrpc_batch_destroy(&b);
	}
	free(s);
}

/* ---- ids echoed byte for byte ---------------------------------------- */

/* Each request's response must hold "id":<want> exactly (want NULL:
 * no response, a notification). */
static const struct {
	const char *what, *body, *want;
} id_cases[] = {
	{ "beyond double",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1e400}", "1e400" },
	{ "beyond int64",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\","
	  "\"id\":123456789012345678901234567890}",
	  "123456789012345678901234567890" },
	{ "negative beyond int64",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\","
	  "\"id\":-9223372036854775809}",
	  "-9223372036854775809" },
	{ "int64 max",
	  "{\"id\":9223372036854775807,\"jsonrpc\":\"2.0\","
	  "\"method\":\"m\"}",
	  "9223372036854775807" },
	{ "minus zero", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":-0}",
	  "-0" },
	{ "1.50", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1.50}",
	  "1.50" },
	{ "exponent", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":2E+1}",
	  "2E+1" },
	{ "string", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":\"str\"}",
	  "\"str\"" },
	{ "string escapes",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":\"\\u00e9\\\"\\/\"}",
	  "\"\\u00e9\\\"\\/\"" },
	{ "null", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":null}",
	  "null" },
	{ "spaces around",
	  "{ \"jsonrpc\" : \"2.0\" , \"method\" : \"m\" , \"id\" : 7 }", "7" },
	{ "nested ids ignored",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"id\":5,"
	  "\"x\":[{\"id\":6}]},\"id\":8}",
	  "8" },
	{ "id after nested ids",
	  "{\"params\":{\"id\":5},\"id\":1.0,\"jsonrpc\":\"2.0\","
	  "\"method\":\"m\"}",
	  "1.0" },
	{ "duplicate keys: the last",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1.5,\"id\":2.50}",
	  "2.50" },
	{ "escaped key",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"\\u0069d\":3.0}", "3.0" },
	{ "escaped key, later",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1,\"\\u0069\\u0064\":"
	  "1e400}",
	  "1e400" },
	{ "a string \"id\" value is no key",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"id\",\"id\":4.0}", "4.0" },
	{ "\"Id\" is another key",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"\\u0049d\":1}", NULL },
	{ "an object id: null",
	  "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1.5,\"id\":{}}",
	  "null" },
	{ "true: null", "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":true}",
	  "null" },
};

/* The response of body (one test_dispatch) holds "id":<want>. */
static void
test_id_case(const char *what, const char *body, const char *want)
{
	struct kr_jsonrpc_batch *b = test_parse(body);
	size_t len;
	char *out;

	test_dispatch(b);
	out = kr_jsonrpc_response(b, &len);
	if (want == NULL) {
		if (out != NULL)
			fail_msg("%s: answered %s", what, out);
	} else {
		char needle[96];
		json_t *v;

		snprintf(needle, sizeof(needle), "\"id\":%s}", want);
		if (out == NULL || strstr(out, needle) == NULL)
			fail_msg("%s: %s, wanted %s", what,
				 out ? out : "(nothing)", needle);
		/* Valid JSON, though jansson itself cannot hold every id. */
		v = json_loadb(out, len, 0, NULL);
		assert_true(v != NULL ||
			    !kr_jsonrpc_number_loadable(want, strlen(want)));
		json_decref(v);
	}
	free(out);
	kr_jsonrpc_batch_destroy(&b);
}

static void
test_jsonrpc_id_verbatim(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(id_cases); i++)
		test_id_case(id_cases[i].what, id_cases[i].body,
			     id_cases[i].want);
}

/* In a batch each entry echoes its own id; an out-of-range one breaks
 * nothing around it. Out-of-range numbers elsewhere stay -32700. */
static void
test_jsonrpc_id_verbatim_batch(void **state)
{
	struct kr_jsonrpc_batch *b = test_parse(
		"[{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1],"
		"\"id\":99999999999999999999},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[2]},"
		"5,"
		"{\"jsonrpc\":\"1.0\",\"method\":\"sum\",\"id\":-0.0},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[3],"
		"\"id\":1.50}]");
	size_t len;
	char *out;

	(void)state;
	test_dispatch(b);
	out = kr_jsonrpc_response(b, &len);
	assert_non_null(out);
	assert_string_equal(out,
			    "[{\"jsonrpc\":\"2.0\",\"result\":1,"
			    "\"id\":99999999999999999999},"
			    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,"
			    "\"message\":\"Invalid Request\"},\"id\":null},"
			    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,"
			    "\"message\":\"Invalid Request\"},\"id\":-0.0},"
			    "{\"jsonrpc\":\"2.0\",\"result\":3,\"id\":1.50}]");
	free(out);
	kr_jsonrpc_batch_destroy(&b);
	b = test_parse("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":"
		       "[1e400],\"id\":1}");
	assert_int_equal(kr_jsonrpc_call(b, 0)->error_code,
			 KR_JSONRPC_PARSE_ERROR);
	kr_jsonrpc_batch_destroy(&b);
}

static const struct {
	const char *num;
	bool loadable;
} num_cases[] = {
	{ "0", true },
	{ "-0", true },
	{ "9223372036854775807", true },
	{ "9223372036854775808", false },
	{ "-9223372036854775808", true },
	{ "-9223372036854775809", false },
	{ "10000000000000000000", false },
	{ "999999999999999999", true },
	{ "1e308", true },
	{ "1.7976931348623157e308", true },
	{ "1e309", false },
	{ "-1e400", false },
	{ "1e-400", true },
	{ "0.5", true },
	/* Not JSON numbers: jansson refuses them for their syntax. */
	{ "01", true },
	{ "1.", true },
	{ "-", true },
	{ "1e", true },
	{ "0x10", true },
};

static void
test_jsonrpc_number_loadable(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(num_cases); i++) {
		const char *n = num_cases[i].num;

		if (kr_jsonrpc_number_loadable(n, strlen(n)) !=
		    num_cases[i].loadable)
			fail_msg("%s: wanted %s", n,
				 num_cases[i].loadable ? "loadable" : "not");
	}
}

/* kr_jsonrpc_response_take: the same bytes, answers freed. */
static void
test_jsonrpc_response_take(void **state)
{
	struct kr_jsonrpc_batch *b = test_parse(
		"[{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1.50},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"b\",\"id\":\"x\"}]");
	size_t len1, len2;
	char *one, *two;

	(void)state;
	kr_jsonrpc_set_result_text(b, 0, "{\"k\":1}", 7);
	kr_jsonrpc_set_error(b, 1, KR_JSONRPC_NOT_FOUND, "gone", NULL);
	one = kr_jsonrpc_response(b, &len1);
	two = kr_jsonrpc_response_take(b, &len2);
	assert_int_equal(len1, len2);
	assert_string_equal(one, two);
	free(one);
	free(two);
	kr_jsonrpc_batch_destroy(&b);
}

static const char params_json[] =
	"{\"mailbox\":3,\"name\":\"Inbox\",\"seen\":true,"
	"\"uids\":[1,2],\"query\":{},\"bad\":\"7\",\"real\":2.0,"
	"\"none\":null}";

static void
test_jsonrpc_params_helpers(void **state)
{
	json_t *p = json_loads(params_json, 0, NULL);
	struct kr_err err = { 0 };
	const json_t *v = NULL;
	const char *s = NULL;
	long long n = -1;
	bool yes = false;

	(void)state;
	assert_int_equal(
		kr_jsonrpc_param_int(p, "mailbox", true, 1, 3, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(kr_jsonrpc_param_str(p, "name", true, &s, &err), 0);
	assert_string_equal(s, "Inbox");
	assert_int_equal(kr_jsonrpc_param_bool(p, "seen", true, &yes, &err), 0);
	assert_true(yes);
	assert_int_equal(kr_jsonrpc_param_array(p, "uids", true, &v, &err), 0);
	assert_int_equal(json_array_size(v), 2);
	assert_int_equal(kr_jsonrpc_param_object(p, "query", true, &v, &err),
			 0);
	assert_true(json_is_object(v));

	/* Range: at the bounds passes, one past fails. */
	assert_int_equal(
		kr_jsonrpc_param_int(p, "mailbox", true, 3, 3, &n, &err), 0);
	n = -1;
	assert_int_equal(
		kr_jsonrpc_param_int(p, "mailbox", true, 4, 10, &n, &err), -1);
	assert_int_equal(n, -1);
	assert_string_equal(err.msg, "invalid params: 'mailbox' must be "
				     "between 4 and 10");
	assert_int_equal(
		kr_jsonrpc_param_int(p, "mailbox", true, 0, 2, &n, &err), -1);

	/* Optional and absent (or null): 0, output untouched. */
	n = 42;
	assert_int_equal(
		kr_jsonrpc_param_int(p, "before_uid", false, 0, 9, &n, &err),
		0);
	assert_int_equal(kr_jsonrpc_param_int(p, "none", false, 0, 9, &n, &err),
			 0);
	assert_int_equal(n, 42);
	assert_int_equal(kr_jsonrpc_param_str(NULL, "x", false, &s, &err), 0);

	json_decref(p);
}

static void
test_jsonrpc_params_errors(void **state)
{
	json_t *p = json_loads(params_json, 0, NULL);
	json_t *pos = json_loads("[1,2]", 0, NULL);
	struct kr_err err = { 0 };
	const json_t *v = NULL;
	const char *s = NULL;
	long long n = -1;
	bool yes = false;

	(void)state;
	assert_int_equal(kr_jsonrpc_param_int(p, "bad", true, 0, 9, &n, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_string_equal(err.msg,
			    "invalid params: 'bad' must be an integer");
	assert_int_equal(kr_jsonrpc_param_int(p, "real", true, 0, 9, &n, &err),
			 -1);
	assert_int_equal(kr_jsonrpc_param_str(p, "mailbox", true, &s, &err),
			 -1);
	assert_string_equal(err.msg, "invalid params: 'mailbox' must be a "
				     "string");
	assert_int_equal(kr_jsonrpc_param_bool(p, "name", true, &yes, &err),
			 -1);
	assert_string_equal(err.msg, "invalid params: 'name' must be a "
				     "boolean");
	assert_int_equal(kr_jsonrpc_param_array(p, "query", true, &v, &err),
			 -1);
	assert_string_equal(err.msg, "invalid params: 'query' must be an "
				     "array");
	assert_int_equal(kr_jsonrpc_param_object(p, "uids", true, &v, &err),
			 -1);
	assert_string_equal(err.msg, "invalid params: 'uids' must be an "
				     "object");
	assert_int_equal(kr_jsonrpc_param_str(p, "user", true, &s, &err), -1);
	assert_string_equal(err.msg, "invalid params: 'user' is required");
	assert_int_equal(kr_jsonrpc_param_str(p, "none", true, &s, &err), -1);
	assert_int_equal(kr_jsonrpc_param_str(NULL, "user", true, &s, &err),
			 -1);
	assert_int_equal(kr_jsonrpc_param_str(pos, "user", false, &s, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_string_equal(err.msg,
			    "invalid params: params must be an object");
	json_decref(p);
	json_decref(pos);
}

/* Cached results go out as stored text, mixed with built ones. */
static void
test_jsonrpc_result_text(void **state)
{
	struct kr_jsonrpc_batch *b = test_parse(
		"[{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":\"x\"},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"b\",\"id\":7},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"c\"}]");

	(void)state;
	kr_jsonrpc_set_result_text(b, 0, "{\"k\":[1,2]}xx", 11);
	kr_jsonrpc_set_result(b, 1, json_true());
	kr_jsonrpc_set_result_text(b, 2, "1", 1);
	test_expect(b, "[{\"jsonrpc\":\"2.0\",\"result\":{\"k\":[1,2]},"
		       "\"id\":\"x\"},{\"jsonrpc\":\"2.0\",\"result\":true,"
		       "\"id\":7}]");
	/* An error replaces a text result. */
	kr_jsonrpc_set_error(b, 0, KR_JSONRPC_NOT_FOUND, "gone", NULL);
	test_expect(b, "[{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32002,"
		       "\"message\":\"gone\"},\"id\":\"x\"},{\"jsonrpc\":"
		       "\"2.0\",\"result\":true,\"id\":7}]");
	kr_jsonrpc_batch_destroy(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonrpc_spec_examples),
		cmocka_unit_test(test_jsonrpc_result_text),
		cmocka_unit_test(test_jsonrpc_call_fields),
		cmocka_unit_test(test_jsonrpc_invalid_requests),
		cmocka_unit_test(test_jsonrpc_parse_errors),
		cmocka_unit_test(test_jsonrpc_id_echo),
		cmocka_unit_test(test_jsonrpc_depth_limit),
		cmocka_unit_test(test_jsonrpc_batch_limit),
		cmocka_unit_test(test_jsonrpc_body_limit),
		cmocka_unit_test(test_jsonrpc_unterminated_body),
		cmocka_unit_test(test_jsonrpc_scan_counts),
		cmocka_unit_test(test_jsonrpc_element_limit),
		cmocka_unit_test(test_jsonrpc_empties_refused_before_parsing),
		cmocka_unit_test(test_jsonrpc_id_verbatim),
		cmocka_unit_test(test_jsonrpc_id_verbatim_batch),
		cmocka_unit_test(test_jsonrpc_number_loadable),
		cmocka_unit_test(test_jsonrpc_response_take),
		cmocka_unit_test(test_jsonrpc_params_helpers),
		cmocka_unit_test(test_jsonrpc_params_errors),
	};

	return cmocka_run_group_tests_name("jsonrpc", tests, NULL, NULL);
}
