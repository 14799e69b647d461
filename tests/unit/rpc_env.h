/* The harness of the dispatcher's unit tests (test_rpc.c,
 * test_rpc_limits.c): a runtime on a config with an [auth] secret and
 * small JSON-RPC limits but no [shard.N] (so no store), a loop, the two
 * pools and a kr_rpc; sending a body and waiting for its one answer;
 * matching answers field by field. Include after cmocka.h. Helpers are
 * static inline so a test that does not use one does not warn. */
#ifndef KR_TEST_RPC_ENV_H
#define KR_TEST_RPC_ENV_H

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/tpool.h"
#include "server/rpc/rpc.h"
#include "server/runtime.h"

#include "conf_env.h"

#define SECRET_CUR "kurier-test-rpc-current-secret-0123456789"
#define SECRET_OLD "kurier-test-rpc-previous-secret-0123456789"
#define SECRET_OTHER "kurier-test-rpc-someone-elses-secret-01234"
/* The limits of the test config: small, so each has a pair. */
#define BODY_MAX 2048u
#define BATCH_MAX 8u
#define DEPTH_MAX 4u
#define MEMORY_MAX (1u << 20) /* the least the config takes */
#define WAIT_MS 5000
#define PEER "192.0.2.7"
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

struct answer {
	int calls;
	int status;
	char *body;
	size_t len;
};

struct env {
	struct kr_runtime rt;
	struct event_base *base;
	struct kr_tpool *io, *cpu;
	struct kr_rpc_deps deps;
	struct kr_rpc *rpc;
	/* In env, not on a test's stack: a failed test leaves no dangling
	 * done context behind for kr_rpc_destroy. */
	struct answer ans;
	char path[64];
	char text[BODY_MAX + 1]; /* a request after dq() */
};

/* ---- set-up --------------------------------------------------------- */

static inline void
conf_write(char *path, size_t size, const char *auth_section)
{
	FILE *fp = conf_env_open(path, size, "/tmp/kr-test-rpc-XXXXXX");

	fprintf(fp,
		"[workers]\ncount = 1\n[log]\nlevel = error\n%s"
		"[jsonrpc]\nbody_max = %u\nbatch_max = %u\ndepth_max = %u\n"
		"memory_max = %u\n",
		auth_section, BODY_MAX, BATCH_MAX, DEPTH_MAX, MEMORY_MAX);
	conf_env_close(fp);
}

static inline int
env_setup(void **state)
{
	struct kr_tpool_settings set = { "io", 1, 16, 256 };
	struct env *e = kr_xcalloc(1, sizeof(*e));
	struct kr_err err;

	kr_err_clear(&err);
	conf_write(e->path, sizeof(e->path),
		   "[auth]\nsecret = " SECRET_CUR
		   "\nprevious_secret = " SECRET_OLD "\n");
	if (kr_runtime_init(&e->rt, e->path, &err) < 0)
		fail_msg("runtime: %s", err.msg);
	assert_int_equal(e->rt.cfg->n_shards, 0);
	e->base = event_base_new();
	assert_non_null(e->base);
	e->io = kr_tpool_create(e->base, &set);
	set.name = "cpu";
	e->cpu = kr_tpool_create(e->base, &set);
	e->deps = (struct kr_rpc_deps){
		.base = e->base,
		.rt = &e->rt,
		.store = NULL,
		.io = e->io,
		.cpu = e->cpu,
		.gens = e->rt.gens,
	};
	e->rpc = kr_rpc_create(&e->deps, &err);
	if (e->rpc == NULL)
		fail_msg("kr_rpc_create: %s", err.msg);
	*state = e;
	return 0;
}

static inline int
env_teardown(void **state)
{
	struct env *e = *state;

	assert_int_equal(kr_rpc_pending(e->rpc), 0);
	kr_rpc_destroy(&e->rpc);
	assert_null(e->rpc);
	kr_tpool_destroy(&e->cpu);
	kr_tpool_destroy(&e->io);
	event_base_free(e->base);
	kr_runtime_deinit(&e->rt);
	unlink(e->path);
	free(e->ans.body);
	free(e);
	return 0;
}

/* ---- sending -------------------------------------------------------- */

static inline void
answer_done(void *ctx, int status, char *body, size_t len)
{
	struct answer *a = ctx;

	a->calls++;
	a->status = status;
	free(a->body);
	a->body = body;
	a->len = len;
}

/* Hands body (len bytes) to rpc and runs the loop, bounded, until the
 * one answer arrives; then checks nothing is left running. */
static inline void
rpc_send_on(struct env *e, struct kr_rpc *rpc, const char *body, size_t len,
	    const char *authorization)
{
	struct kr_rpc_input in = { body, len, authorization, PEER, NULL };
	int64_t end = kr_clock_mono_ms() + WAIT_MS;

	free(e->ans.body);
	memset(&e->ans, 0, sizeof(e->ans));
	kr_rpc_handle(rpc, &in, answer_done, &e->ans);
	while (e->ans.calls == 0 && kr_clock_mono_ms() < end) {
		struct timeval tick = { 0, 10000 };

		event_base_loopexit(e->base, &tick);
		event_base_loop(e->base, EVLOOP_ONCE);
	}
	/* A second answer would be queued by now. */
	event_base_loop(e->base, EVLOOP_NONBLOCK);
	assert_int_equal(e->ans.calls, 1);
	assert_int_equal(kr_rpc_pending(rpc), 0);
}

/* The JSON below is written with ' for ": copies it to out, turned. */
static inline const char *
dq(char *out, size_t size, const char *json)
{
	size_t n = strlen(json);

	assert_true(n < size);
	for (size_t i = 0; i <= n; i++)
		out[i] = json[i] == '\'' ? '"' : json[i];
	return out;
}

static inline void
rpc_send(struct env *e, const char *body, const char *authorization)
{
	dq(e->text, sizeof(e->text), body);
	rpc_send_on(e, e->rpc, e->text, strlen(e->text), authorization);
}

/* Sends body and parses the 200 response it must get. */
static inline json_t *
rpc_json(struct env *e, const char *body, const char *authorization)
{
	json_error_t jerr;
	json_t *r;

	rpc_send(e, body, authorization);
	assert_int_equal(e->ans.status, 200);
	assert_non_null(e->ans.body);
	assert_int_equal(strlen(e->ans.body), e->ans.len);
	r = json_loadb(e->ans.body, e->ans.len, 0, &jerr);
	if (r == NULL)
		fail_msg("response is not JSON (%s): %s", jerr.text,
			 e->ans.body);
	free(e->ans.body);
	e->ans.body = NULL;
	return r;
}

/* The error code of a response object, or 0 when it has none. */
static inline int
err_code(const json_t *r)
{
	const json_t *code =
		json_object_get(json_object_get(r, "error"), "code");

	return json_is_integer(code) ? (int)json_integer_value(code) : 0;
}

static inline const char *
err_message(const json_t *r)
{
	return json_string_value(
		json_object_get(json_object_get(r, "error"), "message"));
}

/* ---- expected responses --------------------------------------------- */

/* want is {'id': <echoed id>, 'code': <error code>, 'msg'?: <text the
 * message must contain>}, or an array of those for a batch. */
static inline void
match_one(const char *what, size_t i, const json_t *got, const json_t *want)
{
	const json_t *id = json_object_get(got, "id");
	const json_t *ver = json_object_get(got, "jsonrpc");
	const json_t *err = json_object_get(got, "error");
	const char *msg = err_message(got);
	const char *sub = json_string_value(json_object_get(want, "msg"));
	int code = (int)json_integer_value(json_object_get(want, "code"));

	if (!json_is_object(got) || !json_is_string(ver) ||
	    strcmp(json_string_value(ver), "2.0") != 0)
		fail_msg("%s [%zu]: not a JSON-RPC 2.0 response", what, i);
	if (id == NULL || !json_equal(id, json_object_get(want, "id")))
		fail_msg("%s [%zu]: id not echoed", what, i);
	if (!json_is_object(err) || json_object_get(got, "result") != NULL)
		fail_msg("%s [%zu]: wanted an error object only", what, i);
	if (err_code(got) != code)
		fail_msg("%s [%zu]: code %d, wanted %d", what, i, err_code(got),
			 code);
	if (msg == NULL || *msg == '\0' ||
	    (sub != NULL && strstr(msg, sub) == NULL))
		fail_msg("%s [%zu]: message '%s', wanted '%s'", what, i,
			 msg ? msg : "(none)", sub ? sub : "any");
}

static inline void
match(const char *what, const json_t *got, const char *want_text)
{
	char text[1024];
	json_t *want = json_loads(dq(text, sizeof(text), want_text), 0, NULL);
	size_t n = json_array_size(want);

	if (want == NULL)
		fail_msg("%s: bad expectation %s", what, want_text);
	if (!json_is_array(want))
		match_one(what, 0, got, want);
	else if (!json_is_array(got) || json_array_size(got) != n)
		fail_msg("%s: wanted an array of %zu answers", what, n);
	for (size_t i = 0; i < n; i++)
		match_one(what, i, json_array_get(got, i),
			  json_array_get(want, i));
	json_decref(want);
}

static inline void
expect(struct env *e, const char *what, const char *body,
       const char *authorization, const char *want)
{
	json_t *r = rpc_json(e, body, authorization);

	match(what, r, want);
	json_decref(r);
}

#endif
