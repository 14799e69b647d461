/* cmocka tests for the dispatcher's bounds (issue 13): message.attachment
 * part numbers (the cache keys that fail soft: test_cache.c),
 * message.search bounds, the request's memory budget and the worker's,
 * and the client texts of errors whose detail stays in the log.
 * Without PostgreSQL (the harness of rpc_env.h); the budget tests
 * build a request as kr_rpc_handle does and answer its calls by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "server/rpc/rpc.h"
#include "server/rpc/rpc_priv.h"
#include "server/runtime.h"
#include "rpc_env.h"

/* ---- item 1: message.attachment's part ------------------------------- */

static const struct {
	const char *part;
	bool ok;
} part_cases[] = {
	{ "1", true },
	{ "2.1", true },
	{ "10.2.3", true },
	{ "2147483647", true },
	{ "1.2147483647", true },
	{ "2147483648", false },
	{ "99999999999", false },
	{ "0", false },
	{ "1.0", false },
	{ "01", false },
	{ "1.02", false },
	{ "", false },
	{ ".", false },
	{ "1.", false },
	{ ".1", false },
	{ "1..2", false },
	{ "1.2 ", false },
	{ "-1", false },
	{ "+1", false },
	{ "1e3", false },
	{ "1/2", false },
	/* The attack of issue 13: 64 characters. */
	{ "1111111111111111111111111111111111111111111111111111111111111111",
	  false },
};

/* "1.1. ... .1" of n levels. */
static void
part_levels(char *out, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		memcpy(out + 2 * i, i + 1 < n ? "1." : "1", 2);
}

static void
test_rpc_part_valid(void **state)
{
	char deep[2 * 40];
	unsigned wrong = 0;

	(void)state;
	for (size_t i = 0; i < N_OF(part_cases); i++)
		if (rpc_param_part_ok(part_cases[i].part) != part_cases[i].ok) {
			print_error("part '%s': wanted %s\n",
				    part_cases[i].part,
				    part_cases[i].ok ? "valid" : "refused");
			wrong++;
		}
	assert_int_equal(wrong, 0);
	/* Levels: 35 (the MIME walk's most) pass, 36 do not. */
	part_levels(deep, 35);
	assert_true(rpc_param_part_ok(deep));
	part_levels(deep, 36);
	assert_false(rpc_param_part_ok(deep));
	/* The longest valid part: 35 levels of INT_MAX, 384 bytes. */
	{
		char longest[400] = "2147483647";

		for (int i = 1; i < 35; i++)
			strcat(longest, ".2147483647");
		assert_int_equal(strlen(longest), 384);
		assert_true(rpc_param_part_ok(longest));
	}
}

/* ---- item 6: message.search bounds ------------------------------------ */

static void
test_rpc_search_bounds(void **state)
{
	char text[KR_STORE_SEARCH_FIELD_MAX + 2];
	char words[4 * KR_STORE_SEARCH_WORDS_MAX + 8] = "";

	(void)state;
	assert_null(rpc_param_search_error(NULL, true));
	memset(text, 'x', sizeof(text));
	text[KR_STORE_SEARCH_FIELD_MAX] = '\0';
	assert_null(rpc_param_search_error(text, true));
	assert_null(rpc_param_search_error(text, false));
	text[KR_STORE_SEARCH_FIELD_MAX] = 'x';
	text[KR_STORE_SEARCH_FIELD_MAX + 1] = '\0';
	assert_string_equal(rpc_param_search_error(text, true),
			    "at most 1000 bytes");
	assert_string_equal(rpc_param_search_error(text, false),
			    "at most 1000 bytes");
	/* Words: runs of letters and digits, as the store counts them. */
	for (int i = 0; i < KR_STORE_SEARCH_WORDS_MAX; i++)
		strcat(words, i % 2 ? "a1 " : "\xc3\xa9.");
	assert_null(rpc_param_search_error(words, true));
	strcat(words, "z");
	assert_non_null(strstr(rpc_param_search_error(words, true),
			       "at most 32 words"));
	/* from and subject have no word bound. */
	assert_null(rpc_param_search_error(words, false));
	assert_null(rpc_param_search_error("a.b-c d_e", true));
}

/* ---- items 3 and 4: the budget and error texts, on a request built as
 * kr_rpc_handle builds one, its calls started by hand ----------------- */

static struct rpc_req *
fake_req(struct env *e, const char *body)
{
	struct kr_rpc *rpc = e->rpc;
	struct rpc_req *req = kr_xcalloc(1, sizeof(*req));
	struct kr_err err;

	kr_err_clear(&err);
	dq(e->text, sizeof(e->text), body);
	free(e->ans.body);
	memset(&e->ans, 0, sizeof(e->ans));
	req->rpc = rpc;
	req->done = answer_done;
	req->done_ctx = &e->ans;
	snprintf(req->id, sizeof(req->id), "t-fake");
	req->peer = kr_xstrdup(PEER);
	kr_arena_budget_init(&req->mem, &rpc->mem, MEMORY_MAX, KR_ERR_LIMIT,
			     "request memory budget");
	req->next = rpc->reqs;
	if (rpc->reqs != NULL)
		rpc->reqs->prev = req;
	rpc->reqs = req;
	rpc->n_reqs++;
	assert_int_equal(kr_jsonrpc_parse(e->text, strlen(e->text), &rpc->lim,
					  &req->batch, &err),
			 0);
	req->n_calls = kr_jsonrpc_count(req->batch);
	req->calls = kr_xcalloc(req->n_calls, sizeof(*req->calls));
	req->resume = rpc_req_pump;
	req->session_state = RPC_SESSION_DONE;
	req->auth_status = KR_AUTH_OK;
	for (size_t i = 0; i < req->n_calls; i++) {
		struct rpc_call *c = &req->calls[i];

		*c = (struct rpc_call){ .req = req,
					.index = i,
					.call = kr_jsonrpc_call(req->batch,
								i) };
		c->arena = kr_arena_create_in(&req->mem, 8192, 0, false, &err);
		assert_non_null(c->arena);
	}
	req->next_call = req->n_calls;
	req->running = (unsigned)req->n_calls;
	return req;
}

/* A JSON string of n bytes, quotes included (malloc'd). */
static char *
text_of(size_t n)
{
	char *t = malloc(n + 1);

	assert_non_null(t);
	assert_true(n >= 2);
	memset(t, 'x', n);
	t[0] = t[n - 1] = '"';
	t[n] = '\0';
	return t;
}

static json_t *
fake_answer(struct env *e)
{
	json_t *r;

	assert_int_equal(e->ans.calls, 1);
	assert_int_equal(e->ans.status, 200);
	r = json_loadb(e->ans.body, e->ans.len, 0, NULL);
	assert_non_null(r);
	return r;
}

static void
expect_budget_error(const json_t *r)
{
	const json_t *err = json_object_get(r, "error");

	assert_int_equal(err_code(r), KR_JSONRPC_INTERNAL_ERROR);
	assert_non_null(strstr(err_message(r), "memory_max"));
	assert_non_null(strstr(err_message(r), "later request"));
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(err, "data"), "limit_bytes")),
			 MEMORY_MAX);
}

/* All calls' results share memory_max: at it passes, one over fails,
 * and the other calls are answered as they would be. */
static void
test_rpc_budget_results(void **state)
{
	struct env *e = *state;

	for (int over = 0; over <= 1; over++) {
		struct rpc_req *req =
			fake_req(e, "[{'jsonrpc':'2.0','method':'m','id':1},"
				    "{'jsonrpc':'2.0','method':'m','id':2}]");
		size_t room = MEMORY_MAX - kr_arena_budget_used(&req->mem);
		json_t *r;

		rpc_reply_text(&req->calls[0], text_of(room + (size_t)over),
			       room + (size_t)over);
		rpc_reply_text(&req->calls[1], text_of(100), 100);
		r = fake_answer(e);
		if (over) {
			expect_budget_error(json_array_get(r, 0));
		} else {
			assert_int_equal(
				json_string_length(json_object_get(
					json_array_get(r, 0), "result")),
				room - 2);
		}
		/* The first call's arena went back when it was answered. */
		assert_int_equal(json_string_length(json_object_get(
					 json_array_get(r, 1), "result")),
				 98);
		json_decref(r);
		assert_int_equal(kr_arena_budget_used(&e->rpc->mem), 0);
	}
}

/* Results are serialised when they are given: scalars too
 * (mailbox.delete answers true), charged like any other. */
static void
test_rpc_reply_serialised(void **state)
{
	struct env *e = *state;
	struct rpc_req *req =
		fake_req(e, "[{'jsonrpc':'2.0','method':'m','id':1},"
			    "{'jsonrpc':'2.0','method':'m','id':2},"
			    "{'jsonrpc':'2.0','method':'m','id':3},"
			    "{'jsonrpc':'2.0','method':'m','id':4}]");
	json_t *r;

	rpc_reply(&req->calls[0], json_true());
	rpc_reply(&req->calls[1], json_pack("{s[i]}", "a", 5));
	rpc_reply_cache(&req->calls[2], json_integer(-7));
	rpc_reply(&req->calls[3], NULL);
	r = fake_answer(e);
	assert_true(
		json_is_true(json_object_get(json_array_get(r, 0), "result")));
	assert_int_equal(
		json_integer_value(json_array_get(
			json_object_get(
				json_object_get(json_array_get(r, 1), "result"),
				"a"),
			0)),
		5);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(r, 2), "result")),
			 -7);
	assert_int_equal(err_code(json_array_get(r, 3)),
			 KR_JSONRPC_INTERNAL_ERROR);
	json_decref(r);
	assert_int_equal(kr_arena_budget_used(&e->rpc->mem), 0);
}

/* A reservation counts before the result is built; the result then
 * takes its place. */
static void
test_rpc_budget_reserve(void **state)
{
	struct env *e = *state;
	struct rpc_req *req =
		fake_req(e, "[{'jsonrpc':'2.0','method':'m','id':1},"
			    "{'jsonrpc':'2.0','method':'m','id':2},"
			    "{'jsonrpc':'2.0','method':'m','id':3}]");
	json_t *r;

	assert_int_equal(rpc_reserve(&req->calls[0], 600000), 0);
	/* 600 000 reserved + 500 000 does not fit in 1 MiB. */
	rpc_reply_text(&req->calls[1], text_of(500000), 500000);
	/* The reservation covers its result; the rest goes back. */
	rpc_reply_text(&req->calls[0], text_of(400000), 400000);
	rpc_reply_text(&req->calls[2], text_of(500000), 500000);
	r = fake_answer(e);
	assert_int_equal(json_string_length(json_object_get(
				 json_array_get(r, 0), "result")),
			 400000 - 2);
	expect_budget_error(json_array_get(r, 1));
	assert_int_equal(json_string_length(json_object_get(
				 json_array_get(r, 2), "result")),
			 500000 - 2);
	json_decref(r);
	assert_int_equal(kr_arena_budget_used(&e->rpc->mem), 0);
}

/* An arena refused by a budget (the store filling a call's arena, MIME
 * parsing into it) answers with that budget's error. */
static void
test_rpc_budget_arena_refused(void **state)
{
	struct env *e = *state;

	for (int worker = 0; worker <= 1; worker++) {
		struct rpc_req *req =
			fake_req(e, "[{'jsonrpc':'2.0','method':'m','id':1},"
				    "{'jsonrpc':'2.0','method':'m','id':2}]");
		size_t fill = worker ? 2 * (size_t)MEMORY_MAX : MEMORY_MAX;
		struct kr_arena_budget *b = worker ? &e->rpc->mem : &req->mem;
		struct kr_err err;
		json_t *r;

		kr_err_clear(&err);
		fill -= kr_arena_budget_used(b) + 1000;
		assert_int_equal(kr_arena_budget_take(b, fill, NULL, NULL), 0);
		assert_null(
			kr_arena_alloc(req->calls[0].arena, 64 << 10, &err));
		kr_arena_budget_give(b, fill);
		rpc_fail_err(&req->calls[0], &err);
		rpc_reply_text(&req->calls[1], text_of(100), 100);
		r = fake_answer(e);
		if (worker)
			match("worker", json_array_get(r, 0),
			      "{'id':1,'code':-32011,'msg':'in flight'}");
		else
			expect_budget_error(json_array_get(r, 0));
		assert_int_equal(json_string_length(json_object_get(
					 json_array_get(r, 1), "result")),
				 98);
		json_decref(r);
	}
	assert_int_equal(kr_arena_budget_used(&e->rpc->mem), 0);
}

/* The worker's budget (2 x memory_max) spent by requests in flight: a
 * new call is shed at once with -32011, before it starts. */
static void
test_rpc_budget_worker_shed(void **state)
{
	struct env *e = *state;
	size_t all = 2 * (size_t)MEMORY_MAX;
	json_t *r, *data;

	assert_int_equal(e->rpc->mem.max, all);
	assert_int_equal(
		kr_arena_budget_take(&e->rpc->mem, all - 4096, NULL, NULL), 0);
	r = rpc_json(e,
		     "[{'jsonrpc':'2.0','method':'auth.login','params':"
		     "{'user':'a@b.c','password':'pw'},'id':1},"
		     "{'jsonrpc':'2.0','method':'nope','id':2}]",
		     NULL);
	kr_arena_budget_give(&e->rpc->mem, all - 4096);
	match("shed", r,
	      "[{'id':1,'code':-32011,'msg':'requests in flight'},"
	      "{'id':2,'code':-32601}]");
	data = json_object_get(json_object_get(json_array_get(r, 0), "error"),
			       "data");
	assert_true(json_integer_value(
			    json_object_get(data, "retry_after_ms")) > 0);
	json_decref(r);
	/* With the memory back the same request runs. */
	expect(e, "not shed",
	       "{'jsonrpc':'2.0','method':'auth.login','params':"
	       "{'user':'a@b.c','password':'pw'},'id':1}",
	       NULL, "{'id':1,'code':-32010}");
	assert_int_equal(kr_arena_budget_used(&e->rpc->mem), 0);
}

/* Item 4: the kinds whose text may come from libpq or PostgreSQL get a
 * fixed text; our own kinds pass theirs. */
static const struct {
	enum kr_err_kind kind;
	int code;
	bool passes;
} kind_cases[] = {
	{ KR_ERR_TEMPORARY, KR_JSONRPC_UNAVAILABLE, false },
	{ KR_ERR_TIMEOUT, KR_JSONRPC_UNAVAILABLE, false },
	{ KR_ERR_OVERLOAD, KR_JSONRPC_OVERLOADED, false },
	{ KR_ERR_INTERNAL, KR_JSONRPC_INTERNAL_ERROR, false },
	{ KR_ERR_LIMIT, KR_JSONRPC_INTERNAL_ERROR, false },
	{ KR_ERR_NONE, KR_JSONRPC_INTERNAL_ERROR, false },
	{ KR_ERR_PERMANENT, KR_JSONRPC_INVALID_PARAMS, true },
	{ KR_ERR_TOO_LARGE, KR_JSONRPC_INVALID_PARAMS, true },
	{ KR_ERR_NOT_FOUND, KR_JSONRPC_NOT_FOUND, true },
	{ KR_ERR_CONFLICT, KR_JSONRPC_CONFLICT, true },
	{ KR_ERR_QUOTA, KR_JSONRPC_OVER_QUOTA, true },
};

#define DB_TEXT                                                             \
	"connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" " \
	"failed: FATAL: the database system is shutting down"

static void
test_rpc_error_texts(void **state)
{
	struct env *e = *state;

	for (size_t i = 0; i < N_OF(kind_cases); i++) {
		struct rpc_req *req =
			fake_req(e, "{'jsonrpc':'2.0','method':'m','id':1}");
		struct kr_err err;
		const char *msg;
		json_t *r;

		kr_err_set(&err, kind_cases[i].kind, "%s", DB_TEXT);
		rpc_fail_err(&req->calls[0], &err);
		r = fake_answer(e);
		msg = err_message(r);
		assert_int_equal(err_code(r), kind_cases[i].code);
		if (kind_cases[i].passes) {
			assert_string_equal(msg, DB_TEXT);
		} else if (strstr(msg, "server") || strstr(msg, "socket") ||
			   strstr(msg, "FATAL") || strstr(msg, "postgres") ||
			   strstr(msg, "connect")) {
			fail_msg("%s: '%s'",
				 kr_err_kind_name(kind_cases[i].kind), msg);
		}
		json_decref(r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rpc_part_valid),
		cmocka_unit_test(test_rpc_search_bounds),
		cmocka_unit_test(test_rpc_reply_serialised),
		cmocka_unit_test(test_rpc_budget_results),
		cmocka_unit_test(test_rpc_budget_reserve),
		cmocka_unit_test(test_rpc_budget_arena_refused),
		cmocka_unit_test(test_rpc_budget_worker_shed),
		cmocka_unit_test(test_rpc_error_texts),
	};

	return cmocka_run_group_tests_name("rpc_limits", tests, env_setup,
					   env_teardown);
}
