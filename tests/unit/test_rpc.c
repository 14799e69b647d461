/* cmocka tests for the JSON-RPC dispatcher (server/rpc/rpc.c, rpc_auth.c,
 * rpc_json.c, rpc_text.c, rpc_params.c) without PostgreSQL: a runtime on a
 * config with an [auth] secret and no [shard.N] (so no store), a loop and the
 * two pools. Covers the JSON-RPC 2.0 specification's examples, the session
 * check, named params, the body/batch/depth limits and the JSON helpers.
 * Responses are parsed and compared field by field, never as text, but
 * for the results written as text, compared with jansson's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/limits.h"
#include "lib/tpool.h"
#include "server/rpc/rpc.h"
#include "server/rpc/rpc_priv.h"
#include "server/runtime.h"
#include "server/auth/token.h"
#include "rpc_env.h"

/* ---- tokens ---------------------------------------------------------- */

static int64_t
wall_s(void)
{
	return kr_clock_wall_ms() / 1000;
}

/* "Bearer <token>" for user 42 on shard 0, signed under secret. */
static void
bearer(char *out, size_t size, const char *secret, int64_t now, int64_t ttl)
{
	struct kr_token_key key;
	char token[KR_TOKEN_SIZE];
	struct kr_err err;

	kr_err_clear(&err);
	if (kr_token_key_init(&key, secret, strlen(secret), &err) < 0 ||
	    kr_token_issue(&key, 42, 0, 0, now, ttl, token, sizeof(token), NULL,
			   &err) < 0)
		fail_msg("token: %s", err.msg);
	kr_token_key_wipe(&key);
	snprintf(out, size, "Bearer %s", token);
}

static void
bearer_current(struct env *e, char *out, size_t size)
{
	/* The key the brief asks for: the config's own secret. */
	assert_string_equal(e->rt.cfg->auth.secret, SECRET_CUR);
	bearer(out, size, e->rt.cfg->auth.secret, wall_s(), 3600);
}

#define AUTH_SIZE (sizeof("Bearer ") + KR_TOKEN_SIZE)

/* ---- JSON-RPC 2.0 specification, section 7 --------------------------- */

struct spec_case {
	const char *what, *request, *want;
};

static const struct spec_case spec_cases[] = {
	{ "string id", "{'jsonrpc':'2.0','method':'foobar','id':'1'}",
	  "{'id':'1','code':-32601,'msg':'Method not found'}" },
	{ "number id", "{'jsonrpc':'2.0','method':'foobar','id':42}",
	  "{'id':42,'code':-32601}" },
	{ "null id", "{'jsonrpc':'2.0','method':'foobar','id':null}",
	  "{'id':null,'code':-32601}" },
	{ "positional params",
	  "{'jsonrpc':'2.0','method':'subtract','params':[42,23],'id':1}",
	  "{'id':1,'code':-32601}" },
	{ "invalid JSON",
	  "{'jsonrpc':'2.0','method':'foobar,'params':'bar','baz]",
	  "{'id':null,'code':-32700,'msg':'Parse error'}" },
	{ "invalid request", "{'jsonrpc':'2.0','method':1,'params':'bar'}",
	  "{'id':null,'code':-32600,'msg':'Invalid Request'}" },
	{ "wrong version", "{'jsonrpc':'1.0','method':'foobar','id':7}",
	  "{'id':7,'code':-32600}" },
	{ "id an object", "{'jsonrpc':'2.0','method':'foobar','id':{}}",
	  "{'id':null,'code':-32600}" },
	{ "batch, invalid JSON",
	  "[{'jsonrpc':'2.0','method':'sum','params':[1,2,4],'id':'1'},"
	  "{'jsonrpc':'2.0','method']",
	  "{'id':null,'code':-32700}" },
	{ "empty batch", "[]", "{'id':null,'code':-32600}" },
	{ "scalar", "42", "{'id':null,'code':-32600}" },
	{ "[1]", "[1]", "[{'id':null,'code':-32600}]" },
	{ "[1,2,3]", "[1,2,3]",
	  "[{'id':null,'code':-32600},{'id':null,'code':-32600},"
	  "{'id':null,'code':-32600}]" },
	/* The specification's mixed batch plus two of ours, one of them a
	 * notification: answers in request order, notifications none. */
	{ "mixed batch",
	  "[{'jsonrpc':'2.0','method':'sum','params':[1,2,4],'id':'1'},"
	  "{'jsonrpc':'2.0','method':'notify_hello','params':[7]},"
	  "{'jsonrpc':'2.0','method':'subtract','params':[42,23],'id':'2'},"
	  "{'foo':'boo'},"
	  "{'jsonrpc':'2.0','method':'quota.get'},"
	  "{'jsonrpc':'2.0','method':'foo.get','params':{'name':'myself'},"
	  "'id':'5'},"
	  "{'jsonrpc':'2.0','method':'quota.get','id':6},"
	  "{'jsonrpc':'2.0','method':'get_data','id':'9'}]",
	  "[{'id':'1','code':-32601},{'id':'2','code':-32601},"
	  "{'id':null,'code':-32600},{'id':'5','code':-32601},"
	  "{'id':6,'code':-32001},{'id':'9','code':-32601}]" },
};

static void
test_rpc_spec_examples(void **state)
{
	struct env *e = *state;

	for (size_t i = 0; i < N_OF(spec_cases); i++)
		expect(e, spec_cases[i].what, spec_cases[i].request, NULL,
		       spec_cases[i].want);
}

/* Only notifications: done(200, NULL), the HTTP layer's 204. */
static const char *const notification_cases[] = {
	"{'jsonrpc':'2.0','method':'update','params':[1,2,3,4,5]}",
	"[{'jsonrpc':'2.0','method':'notify_sum','params':[1,2,4]},"
	"{'jsonrpc':'2.0','method':'notify_hello','params':[7]}]",
	/* Our own methods, each failing: still nothing to answer. */
	"{'jsonrpc':'2.0','method':'quota.get'}",
	"{'jsonrpc':'2.0','method':'auth.login',"
	"'params':{'user':'a@example.org','password':'x'}}",
	"[{'jsonrpc':'2.0','method':'auth.login','params':[1]},"
	"{'jsonrpc':'2.0','method':'mailbox.list'}]",
};

static void
test_rpc_notifications_no_content(void **state)
{
	struct env *e = *state;
	char auth[AUTH_SIZE];

	bearer_current(e, auth, sizeof(auth));
	for (size_t i = 0; i < N_OF(notification_cases); i++) {
		rpc_send(e, notification_cases[i], NULL);
		assert_int_equal(e->ans.status, 200);
		assert_null(e->ans.body);
		assert_int_equal(e->ans.len, 0);
		/* A session does not change that. */
		rpc_send(e, notification_cases[i], auth);
		assert_int_equal(e->ans.status, 200);
		assert_null(e->ans.body);
	}
}

/* ---- sessions -------------------------------------------------------- */

static void
method_body(char *out, size_t size, const char *method, size_t id)
{
	snprintf(out, size, "{'jsonrpc':'2.0','method':'%s','id':%zu}", method,
		 id);
}

/* Without a usable Authorization header every session method is
 * -32001, before anything else is looked at. */
static void
test_rpc_session_required(void **state)
{
	static const char *const headers[] = {
		"",
		"Basic dXNlcjpwYXNzd29yZA==",
		"Bearergarbage",
		"Token abc",
	};
	struct env *e = *state;
	char body[256], want[128];
	unsigned n = 0;

	for (size_t i = 0; rpc_methods[i].name != NULL; i++) {
		if (!rpc_methods[i].needs_session)
			continue;
		n++;
		method_body(body, sizeof(body), rpc_methods[i].name, i);
		snprintf(want, sizeof(want),
			 "{'id':%zu,'code':-32001,'msg':'no session'}", i);
		expect(e, rpc_methods[i].name, body, NULL, want);
		snprintf(want, sizeof(want), "{'id':%zu,'code':-32001}", i);
		for (size_t h = 0; h < N_OF(headers); h++)
			expect(e, headers[h], body, headers[h], want);
	}
	/* Every method but auth.login. */
	assert_int_equal(n, 17);
}

/* The answer to quota.get under authorization: its error code, and its
 * error data (a reference, or NULL) in *data_r. */
static int
session_code(struct env *e, const char *authorization, json_t **data_r)
{
	json_t *r = rpc_json(e, "{'jsonrpc':'2.0','method':'quota.get','id':1}",
			     authorization);
	int code = err_code(r);

	assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
	*data_r = json_incref(
		json_object_get(json_object_get(r, "error"), "data"));
	json_decref(r);
	return code;
}

/* A session that verifies reaches the revocation check, which needs the
 * store: -32010 whose data is exactly {retry_after_ms: the circuit
 * breaker's probe interval} (rpc_fail_err, KR_ERR_TEMPORARY). */
static void
expect_unavailable(struct env *e, const char *what, const char *auth)
{
	json_t *data = NULL;
	int code = session_code(e, auth, &data);
	const json_t *ms = json_object_get(data, "retry_after_ms");

	if (code != KR_JSONRPC_UNAVAILABLE)
		fail_msg("%s: code %d, wanted -32010", what, code);
	assert_true(json_is_object(data));
	assert_int_equal(json_object_size(data), 1);
	assert_true(json_is_integer(ms));
	assert_int_equal(json_integer_value(ms),
			 e->rt.cfg->storage.circuit_probe_ms);
	json_decref(data);
}

static void
test_rpc_session_valid_token_unavailable(void **state)
{
	struct env *e = *state;
	char auth[AUTH_SIZE], lower[AUTH_SIZE + 8], body[256], want[64];

	bearer_current(e, auth, sizeof(auth));
	expect_unavailable(e, "current secret", auth);
	/* The scheme in any case, spaces before the token. */
	snprintf(lower, sizeof(lower), "bEARER   %s", auth + strlen("Bearer "));
	expect_unavailable(e, "scheme case", lower);
	/* Key rotation: the previous secret still verifies. */
	bearer(auth, sizeof(auth), SECRET_OLD, wall_s(), 3600);
	expect_unavailable(e, "previous secret", auth);
	/* Valid for one more second. */
	bearer(auth, sizeof(auth), SECRET_CUR, wall_s() - 3599, 3600);
	expect_unavailable(e, "about to expire", auth);

	bearer_current(e, auth, sizeof(auth));
	for (size_t i = 0; rpc_methods[i].name != NULL; i++) {
		method_body(body, sizeof(body), rpc_methods[i].name, i);
		/* auth.login itself: its params are missing. */
		snprintf(want, sizeof(want), "{'id':%zu,'code':%d}", i,
			 rpc_methods[i].needs_session ? -32010 : -32602);
		expect(e, rpc_methods[i].name, body, auth, want);
	}
	/* Both fail for want of storage, the login without data. */
	expect(e, "login + quota",
	       "[{'jsonrpc':'2.0','method':'auth.login','params':"
	       "{'user':'a@b.c','password':'pw'},'id':1},"
	       "{'jsonrpc':'2.0','method':'quota.get','id':2}]",
	       auth,
	       "[{'id':1,'code':-32010,'msg':'temporarily unavailable'},"
	       "{'id':2,'code':-32010}]");
}

/* SPEC.md §3.2: -32001 for "no, bad, expired or revoked session",
 * whether or not storage is there to ask about revocation. Every case
 * is tried and the wrong ones listed before the test fails. */
static void
test_rpc_session_bad_tokens_unauthorized(void **state)
{
	static const char *const what[] = { "garbage",	    "empty",
					    "other secret", "expired",
					    "tampered",	    "truncated" };
	struct env *e = *state;
	char good[AUTH_SIZE], auth[N_OF(what)][AUTH_SIZE];
	size_t n;
	unsigned wrong = 0;

	bearer_current(e, good, sizeof(good));
	n = strlen(good);
	snprintf(auth[0], sizeof(auth[0]), "Bearer garbage");
	snprintf(auth[1], sizeof(auth[1]), "Bearer ");
	bearer(auth[2], sizeof(auth[2]), SECRET_OTHER, wall_s(), 3600);
	/* Issued two hours ago for one minute. */
	bearer(auth[3], sizeof(auth[3]), SECRET_CUR, wall_s() - 7200, 60);
	/* One payload character changed: the MAC no longer matches. */
	snprintf(auth[4], sizeof(auth[4]), "%s", good);
	auth[4][12] = good[12] == 'A' ? 'B' : 'A';
	snprintf(auth[5], sizeof(auth[5]), "%.*s", (int)n - 1, good);
	for (size_t i = 0; i < N_OF(what); i++) {
		json_t *data = NULL;
		int code = session_code(e, auth[i], &data);

		json_decref(data);
		if (code != KR_JSONRPC_UNAUTHORIZED) {
			print_error("%s token: code %d, wanted -32001\n",
				    what[i], code);
			wrong++;
		}
	}
	assert_int_equal(wrong, 0);
}

/* ---- params ---------------------------------------------------------- */

static const struct spec_case param_cases[] = {
	/* Positional params: refused for every known method, before the
	 * session is looked at. */
	{ "login positional",
	  "{'jsonrpc':'2.0','method':'auth.login','params':['a@b.c','pw'],"
	  "'id':1}",
	  "{'id':1,'code':-32602,'msg':'named'}" },
	{ "quota positional",
	  "{'jsonrpc':'2.0','method':'quota.get','params':[],'id':'q'}",
	  "{'id':'q','code':-32602}" },
	{ "password missing",
	  "{'jsonrpc':'2.0','method':'auth.login','params':{'user':'a@b.c'},"
	  "'id':1}",
	  "{'id':1,'code':-32602,'msg':'password'}" },
	{ "password null",
	  "{'jsonrpc':'2.0','method':'auth.login','params':"
	  "{'user':'a@b.c','password':null},'id':1}",
	  "{'id':1,'code':-32602,'msg':'password'}" },
	{ "password a number",
	  "{'jsonrpc':'2.0','method':'auth.login','params':"
	  "{'user':'a@b.c','password':5},'id':1}",
	  "{'id':1,'code':-32602,'msg':'password'}" },
	{ "user missing",
	  "{'jsonrpc':'2.0','method':'auth.login','params':{'password':'x'},"
	  "'id':1}",
	  "{'id':1,'code':-32602,'msg':'user'}" },
	{ "no params", "{'jsonrpc':'2.0','method':'auth.login','id':1}",
	  "{'id':1,'code':-32602,'msg':'user'}" },
	{ "batch",
	  "[{'jsonrpc':'2.0','method':'auth.login','params':[],'id':1},"
	  "{'jsonrpc':'2.0','method':'auth.login','params':{},'id':2}]",
	  "[{'id':1,'code':-32602},{'id':2,'code':-32602,'msg':'user'}]" },
	{ "no storage",
	  "{'jsonrpc':'2.0','method':'auth.login','params':"
	  "{'user':'a@b.c','password':'pw'},'id':1}",
	  "{'id':1,'code':-32010,'msg':'temporarily unavailable'}" },
};

static void
test_rpc_params(void **state)
{
	struct env *e = *state;
	char auth[AUTH_SIZE];

	bearer_current(e, auth, sizeof(auth));
	for (size_t i = 0; i < N_OF(param_cases); i++) {
		expect(e, param_cases[i].what, param_cases[i].request, NULL,
		       param_cases[i].want);
		/* A session changes none of these answers. */
		expect(e, param_cases[i].what, param_cases[i].request, auth,
		       param_cases[i].want);
	}
	expect(e, "mailbox.list positional",
	       "{'jsonrpc':'2.0','method':'mailbox.list','params':[1],'id':2}",
	       auth, "{'id':2,'code':-32602}");
}

/* auth.login without storage: -32010 with retry_after_ms, as the
 * session check answers. */
static void
test_rpc_login_without_storage(void **state)
{
	struct env *e = *state;
	json_t *r = rpc_json(e,
			     "{'jsonrpc':'2.0','method':'auth.login','params':"
			     "{'user':'a@b.c','password':'pw'},'id':'L'}",
			     "Bearer garbage");

	match("login", r, "{'id':'L','code':-32010}");
	assert_true(json_is_integer(json_object_get(
		json_object_get(json_object_get(r, "error"), "data"),
		"retry_after_ms")));
	json_decref(r);
}

/* One login with user and password of the given lengths. */
static void
login_sized(struct env *e, size_t user_len, size_t pass_len, int code)
{
	char body[BODY_MAX], want[64];
	char user[KR_ADDRESS_MAX + 2], pass[KR_PASSWORD_MAX + 2];

	assert_true(user_len < sizeof(user) && pass_len < sizeof(pass));
	memset(user, 'u', user_len);
	user[user_len] = '\0';
	memset(pass, 'p', pass_len);
	pass[pass_len] = '\0';
	snprintf(body, sizeof(body),
		 "{'jsonrpc':'2.0','method':'auth.login','params':"
		 "{'user':'%s','password':'%s'},'id':1}",
		 user, pass);
	snprintf(want, sizeof(want), "{'id':1,'code':%d}", code);
	expect(e, "login sized", body, NULL, want);
}

static void
test_rpc_login_length_limits(void **state)
{
	struct env *e = *state;

	login_sized(e, KR_ADDRESS_MAX, 8, KR_JSONRPC_UNAVAILABLE);
	login_sized(e, KR_ADDRESS_MAX + 1, 8, KR_JSONRPC_INVALID_PARAMS);
	login_sized(e, 8, KR_PASSWORD_MAX, KR_JSONRPC_UNAVAILABLE);
	login_sized(e, 8, KR_PASSWORD_MAX + 1, KR_JSONRPC_INVALID_PARAMS);
}

/* ---- limits of the test config --------------------------------------- */

/* An unknown-method request padded with spaces to the length sent. */
static void
test_rpc_body_max(void **state)
{
	static const char req[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"foobar\",\"id\":1}";
	struct env *e = *state;
	json_t *r;

	memset(e->text, ' ', sizeof(e->text));
	memcpy(e->text, req, sizeof(req) - 1);
	assert_int_equal(sizeof(e->text), BODY_MAX + 1);
	rpc_send_on(e, e->rpc, e->text, BODY_MAX, NULL);
	assert_int_equal(e->ans.status, 200);
	r = json_loadb(e->ans.body, e->ans.len, 0, NULL);
	match("at body_max", r, "{'id':1,'code':-32601}");
	json_decref(r);
	rpc_send_on(e, e->rpc, e->text, BODY_MAX + 1, NULL);
	assert_int_equal(e->ans.status, 413);
	assert_null(e->ans.body);
	assert_int_equal(e->ans.len, 0);
}

/* A batch of n unknown methods, and the answer it gets. */
static void
batch_of(char *out, char *want, size_t size, unsigned n)
{
	size_t off = 1, woff = 1;

	out[0] = want[0] = '[';
	for (unsigned i = 0; i < n; i++) {
		off += (size_t)snprintf(out + off, size - off,
					"%s{'jsonrpc':'2.0','method':'m',"
					"'id':%u}",
					i ? "," : "", i);
		woff += (size_t)snprintf(want + woff, size - woff,
					 "%s{'id':%u,'code':-32601}",
					 i ? "," : "", i);
	}
	snprintf(out + off, size - off, "]");
	snprintf(want + woff, size - woff, "]");
}

static void
test_rpc_batch_and_depth_max(void **state)
{
	struct env *e = *state;
	char body[1024], want[1024];

	batch_of(body, want, sizeof(body), BATCH_MAX);
	expect(e, "at batch_max", body, NULL, want);
	batch_of(body, want, sizeof(body), BATCH_MAX + 1);
	snprintf(want, sizeof(want),
		 "{'id':null,'code':-32600,'msg':'limit of %u'}", BATCH_MAX);
	expect(e, "over batch_max", body, NULL, want);
	/* The top-level object is depth 1. */
	expect(e, "at depth_max",
	       "{'jsonrpc':'2.0','method':'m','params':{'a':{'b':[1]}},'id':1}",
	       NULL, "{'id':1,'code':-32601}");
	expect(e, "over depth_max",
	       "{'jsonrpc':'2.0','method':'m','params':{'a':{'b':[[1]]}},'id':"
	       "1}",
	       NULL, "{'id':null,'code':-32600,'msg':'nested'}");
}

/* ---- shapes, text and params ----------------------------------------- */

/* RFC 4648 §10. */
static const struct {
	const char *plain, *b64;
} b64_vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_rpc_base64_rfc4648_vectors(void **state)
{
	struct kr_arena *arena = kr_arena_create(4096, 0, false);

	(void)state;
	for (size_t i = 0; i < N_OF(b64_vectors); i++) {
		const char *p = b64_vectors[i].plain, *b = b64_vectors[i].b64;
		json_t *s = rpc_json_base64(p, strlen(p));
		unsigned char *out = NULL;
		size_t out_len = 99;

		assert_non_null(s);
		assert_string_equal(json_string_value(s), b);
		json_decref(s);
		assert_int_equal(
			rpc_param_base64(b, strlen(b), arena, &out, &out_len),
			0);
		assert_int_equal(out_len, strlen(p));
		assert_memory_equal(out, p, out_len);
	}
	kr_arena_destroy(&arena);
}

/* xorshift64: the same bytes on every run. */
static uint64_t
rnd_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
round_trip(struct kr_arena *arena, const unsigned char *data, size_t len)
{
	json_t *s = rpc_json_base64(data, len);
	const char *text;
	unsigned char *out = NULL;
	size_t tlen, out_len = 0, pad = (3 - len % 3) % 3;

	assert_non_null(s);
	text = json_string_value(s);
	tlen = json_string_length(s);
	assert_int_equal(tlen, 4 * ((len + 2) / 3));
	assert_int_equal(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				      "opqrstuvwxyz0123456789+/"),
			 tlen - pad);
	assert_int_equal(strspn(text + tlen - pad, "="), pad);
	assert_int_equal(rpc_param_base64(text, tlen, arena, &out, &out_len),
			 0);
	assert_int_equal(out_len, len);
	if (len > 0)
		assert_memory_equal(out, data, len);
	json_decref(s);
}

static void
test_rpc_base64_round_trip(void **state)
{
	struct kr_arena *arena = kr_arena_create(4096, 0, false);
	unsigned char data[1000];
	uint64_t seed = 0x9e3779b97f4a7c15u;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)rnd_next(&seed);
	for (size_t len = 0; len <= 10; len++)
		round_trip(arena, data, len);
	round_trip(arena, data, sizeof(data));
	/* Every byte value, and the bytes that encode to '+' and '/'. */
	for (size_t i = 0; i < 256; i++)
		data[i] = (unsigned char)i;
	round_trip(arena, data, 256);
	memset(data, 0xff, 12);
	round_trip(arena, data, 12);
	memset(data, 0xfb, 12);
	round_trip(arena, data, 12);
	kr_arena_destroy(&arena);
}

/* Not base64 at all: wrong lengths, other alphabets, bad characters. */
static const char *const b64_refused[] = {
	"Z",	     "Zg",	   "Zg=",	  "Zm9vY",
	"Zm9vYg=",   "Zm9vYg===",  "Zm9!",	  "Zm-v",
	"Zm_v",	     "Zm9v\n",	   "Zm 9",	  "Zm\n9",
	"Zm9v Zm9v", "Zm9vYg\r\n", "\xc3\xa9Zm9", "Zm9\x01",
};

static void
test_rpc_base64_decode_refuses(void **state)
{
	struct kr_arena *arena = kr_arena_create(4096, 0, false);

	(void)state;
	for (size_t i = 0; i < N_OF(b64_refused); i++) {
		unsigned char *out = NULL;
		size_t out_len = 0;

		if (rpc_param_base64(b64_refused[i], strlen(b64_refused[i]),
				     arena, &out, &out_len) != -1)
			fail_msg("'%s' decoded to %zu bytes", b64_refused[i],
				 out_len);
	}
	kr_arena_destroy(&arena);
}

/* rpc_priv.h: "standard base64 (padding required, no whitespace) ...
 * -1 when it is not that". Lengths that are a multiple of 4 but with
 * padding in the wrong place or whitespace around: every case is tried
 * and the accepted ones listed before the test fails. */
static const struct {
	const char *what, *in;
} b64_malformed[] = {
	{ "one character before padding", "Q===" },
	{ "only padding", "====" },
	{ "data after padding", "QQ=A" },
	{ "padding inside a quantum", "QU=D" },
	{ "padding inside the text", "QQ==QUJD" },
	{ "leading spaces", "    QUJD" },
	{ "trailing spaces", "QUJD    " },
	{ "spaces after padding", "QQ==    " },
	{ "trailing newlines", "QUJD\n\n\n\n" },
};

static void
test_rpc_base64_decode_strict(void **state)
{
	struct kr_arena *arena = kr_arena_create(4096, 0, false);
	unsigned wrong = 0;

	(void)state;
	for (size_t i = 0; i < N_OF(b64_malformed); i++) {
		const char *in = b64_malformed[i].in;
		unsigned char *out = NULL;
		size_t out_len = 0;

		if (rpc_param_base64(in, strlen(in), arena, &out, &out_len) ==
		    0) {
			print_error("%s: accepted as %zu bytes\n",
				    b64_malformed[i].what, out_len);
			wrong++;
		}
	}
	kr_arena_destroy(&arena);
	assert_int_equal(wrong, 0);
}

static void
expect_date(bool has, int64_t date, const char *want)
{
	json_t *d = rpc_json_date(has, date);

	assert_non_null(d);
	if (want == NULL)
		assert_true(json_is_null(d));
	else
		assert_string_equal(json_string_value(d), want);
	json_decref(d);
}

static void
test_rpc_json_date(void **state)
{
	(void)state;
	expect_date(true, 0, "1970-01-01T00:00:00Z");
	expect_date(true, 1700000000, "2023-11-14T22:13:20Z");
	expect_date(true, -1, "1969-12-31T23:59:59Z");
	expect_date(true, 951782400, "2000-02-29T00:00:00Z");
	expect_date(false, 0, NULL);
	expect_date(false, 1700000000, NULL);
}

/* Listings are written as text, not through jansson: the text must
 * parse back to the shape, escapes and nulls included. */
static void
test_rpc_text_list(void **state)
{
	static const char *const flags[] = { "\\Seen", "$q\"x" };
	/* The store hands the to list over as JSON text already. */
	static const char to[] =
		"[{\"name\":\"A \\\"B\\\"\",\"email\":\"a@b\"},"
		"{\"name\":null,\"email\":\"c@d\"}]";
	struct kr_store_message_summary m[2] = {
		{ .mailbox_id = 3,
		  .uid = 9,
		  .subject = "Gr\xc3\xbc\xc3\x9f\x01\\e\n\r\b\f\x1f",
		  .from_name = NULL,
		  .from_email = "f@x",
		  .to_json = to,
		  .to_json_len = sizeof(to) - 1,
		  .has_date = true,
		  .date = 0,
		  .size = 42,
		  .flags = flags,
		  .n_flags = 2,
		  .preview = "p\t",
		  .has_attachments = true },
		{ .mailbox_id = 3, .uid = 8 },
	};
	struct kr_store_message_list_result res = { .total = 7,
						    .n = 2,
						    .messages = m };
	json_error_t jerr;
	size_t len = 0;
	char *text = rpc_text_list(&res, &len);
	json_t *got, *want;

	(void)state;
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	got = json_loads(text, 0, &jerr);
	want = json_pack(
		"{sI s[{sI sI ss s{sn ss} s[{ss ss} {sn ss}] ss sI s[ss] ss sb}"
		" {sI sI sn s{sn sn} s[] sn sI s[] sn sb}]}",
		"total", (json_int_t)7, "messages", "mailbox", (json_int_t)3,
		"uid", (json_int_t)9, "subject",
		"Gr\xc3\xbc\xc3\x9f\x01\\e\n\r\b\f\x1f", "from", "name",
		"email", "f@x", "to", "name", "A \"B\"", "email", "a@b", "name",
		"email", "c@d", "date", "1970-01-01T00:00:00Z", "size",
		(json_int_t)42, "flags", "\\Seen", "$q\"x", "preview", "p\t",
		"has_attachments", 1, "mailbox", (json_int_t)3, "uid",
		(json_int_t)8, "subject", "from", "name", "email", "to", "date",
		"size", (json_int_t)0, "flags", "preview", "has_attachments",
		0);
	assert_non_null(got);
	assert_non_null(want);
	if (!json_equal(got, want))
		fail_msg("got %s", text);
	json_decref(got);
	json_decref(want);
	free(text);
}

static const char *
list_subject(const json_t *list)
{
	const json_t *m = json_array_get(json_object_get(list, "messages"), 0);
	const char *subject = json_string_value(json_object_get(m, "subject"));

	assert_non_null(subject);
	return subject;
}

/* Escaping reads eight bytes at a time: every special byte at every
 * offset of a long string, next to bytes that must pass as they are
 * (0x20, DEL, UTF-8 continuation bytes), must come back unchanged. */
static void
test_rpc_text_list_escapes(void **state)
{
	static const unsigned char probes[] = { 0x01, 0x1f, '"',  '\\',
						0x20, 0x7f, 0x80, 0xff };
	char subject[41];
	struct kr_store_message_summary m = { .uid = 1, .subject = subject };
	struct kr_store_message_list_result res = { .n = 1, .messages = &m };

	(void)state;
	for (size_t i = 0; i < sizeof(probes); i++) {
		for (size_t at = 0; at < sizeof(subject) - 1; at++) {
			size_t len = 0;
			char *text;

			memset(subject, 'a', sizeof(subject) - 1);
			subject[sizeof(subject) - 1] = '\0';
			subject[at] = (char)probes[i];
			text = rpc_text_list(&res, &len);
			assert_non_null(text);
			/* A lone 0x80 or 0xff is not UTF-8, so jansson would
			 * refuse it: those are checked as bytes. */
			if (probes[i] >= 0x80) {
				assert_non_null(memmem(text, len, subject,
						       sizeof(subject) - 1));
			} else {
				json_t *got = json_loads(text, 0, NULL);

				assert_non_null(got);
				assert_string_equal(list_subject(got), subject);
				json_decref(got);
			}
			free(text);
		}
	}
}

/* jansson writes \u00XX with upper-case hex, the text writer (and
 * PostgreSQL, whose address lists pass through) lower-case: the one
 * way the two may differ (the header fields still go through jansson).
 * s in place. */
static void
lower_hex_escapes(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s != '\\')
			continue;
		if (s[1] == 'u')
			for (int i = 2; i < 6; i++)
				s[i] = (char)tolower((unsigned char)s[i]);
		s++;
	}
}

/* The result view_get_json built with jansson before message.get was
 * written as text, dumped as rpc_reply dumped it. */
static char *
get_by_jansson(const struct kr_store_message_get_result *m, json_t *to,
	       json_t *cc, json_t *headers, const char *text, const char *html)
{
	json_t *flags = json_array(), *att = json_array(), *o;
	char *dump;

	for (unsigned i = 0; i < m->n_flags; i++)
		json_array_append_new(flags, json_string(m->flags[i]));
	for (unsigned i = 0; i < m->n_attachments; i++) {
		const struct kr_store_attachment *a = &m->attachments[i];

		json_array_append_new(
			att,
			json_pack("{ss ss? ss sI}", "part", a->part, "filename",
				  a->filename, "type", a->type ? a->type : "",
				  "size", (json_int_t)a->size));
	}
	o = json_pack("{sI sI ss? s{ss? ss?} so so ss? ss? ss? ss? so sI so "
		      "ss? ss? so}",
		      "mailbox", (json_int_t)m->mailbox_id, "uid",
		      (json_int_t)m->uid, "subject", m->subject, "from", "name",
		      m->from_name, "email", m->from_email, "to", to, "cc", cc,
		      "date", m->has_date ? "1970-01-01T00:00:00Z" : NULL,
		      "message_id", m->message_id, "in_reply_to",
		      m->in_reply_to, "references", m->references, "flags",
		      flags, "size", (json_int_t)m->size, "headers", headers,
		      "text", text, "html", html, "attachments", att);
	assert_non_null(o);
	dump = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(dump);
	json_decref(o);
	lower_hex_escapes(dump);
	return dump;
}

/* message.get's text equals, byte for byte, what jansson wrote for the
 * same result: escapes, UTF-8, nulls, a missing type, empty lists. */
static void
test_rpc_text_get(void **state)
{
	static const char *const flags[] = { "\\Seen", "$q\"x\x01" };
	/* As the store passes them on (storage/addrlist.h). */
	static const char to[] =
		"[{\"name\":\"A \\\"B\\\" \\u001f\\\\\",\"email\":\"a@b\"},"
		"{\"name\":null,\"email\":\"c@d\"},"
		"{\"name\":\"J\xc3\xbcrgen\",\"email\":null}]";
	static const struct kr_store_attachment att[] = {
		{ "2", "B\xc3\xa4r \"1\".pdf", "application/pdf", 123 },
		{ "3.1", NULL, NULL, 0 },
	};
	struct kr_store_message_get_result m = {
		.mailbox_id = 3,
		.uid = 9,
		.subject = "Gr\xc3\xbc\xc3\x9f\x01\\e\n\r\b\f\x1f\x7f/"
			   "\xf0\x9f\x98\x80",
		.from_email = "f@x",
		.to_json = to,
		.to_json_len = sizeof(to) - 1,
		.cc_json = "[]",
		.cc_json_len = 2,
		.has_date = true,
		.message_id = "<a\tb@c>",
		.references = "<x@y> <z@w>",
		.flags = flags,
		.n_flags = 2,
		.size = 4242,
		.attachments = att,
		.n_attachments = 2,
	};
	json_t *headers = json_pack("{ss s[ss] ss}", "Subject", "x\x1b[0m",
				    "Received", "a", "b", "X-\xc3\xa9", "");
	char *htext = json_dumps(headers, JSON_COMPACT);
	struct rpc_text_body b = { htext, strlen(htext), "line\n\x1b\tend",
				   NULL };
	json_t *jto = json_loads(to, 0, NULL);
	size_t len = 0;
	char *got = rpc_text_get(&m, &b, &len), *want;

	(void)state;
	assert_non_null(jto);
	want = get_by_jansson(&m, jto, json_array(), headers, b.text, b.html);
	assert_non_null(got);
	assert_int_equal(len, strlen(got));
	lower_hex_escapes(got);
	assert_string_equal(got, want);
	free(got);
	free(want);

	/* Nothing but the ids: every list empty, every string null. */
	m = (struct kr_store_message_get_result){ .mailbox_id = 1,
						  .uid = 2,
						  .to_json = "[]",
						  .to_json_len = 2,
						  .cc_json = "[]",
						  .cc_json_len = 2 };
	b = (struct rpc_text_body){ "{}", 2, NULL, NULL };
	got = rpc_text_get(&m, &b, &len);
	want = get_by_jansson(&m, json_array(), json_array(), json_object(),
			      NULL, NULL);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	free(want);

	/* jansson refused an attachment without a part number. */
	m.attachments = &(struct kr_store_attachment){ NULL, "f", "t", 1 };
	m.n_attachments = 1;
	assert_null(rpc_text_get(&m, &b, &len));
	free(htext);
}

/* Every key of SPEC.md's mailbox object, role null when there is none. */
static void
test_rpc_json_mailbox(void **state)
{
	struct kr_store_mailbox m = { 7,    "Archiv/2024", NULL, 12, 3,
				      4096, 1700000000,	   13,	 99 };
	char text[256];
	json_t *want = json_loads(
		dq(text, sizeof(text),
		   "{'id':7,'name':'Archiv/2024','role':null,'total':12,"
		   "'unseen':3,'size':4096,'uidvalidity':1700000000,"
		   "'uidnext':13,'modseq':99}"),
		0, NULL);
	json_t *o = rpc_json_mailbox(&m);

	(void)state;
	assert_non_null(want);
	assert_non_null(o);
	assert_true(json_equal(o, want));
	json_decref(o);
	m.name = "INBOX";
	m.role = "inbox";
	json_object_set_new(want, "name", json_string("INBOX"));
	json_object_set_new(want, "role", json_string("inbox"));
	o = rpc_json_mailbox(&m);
	assert_true(json_equal(o, want));
	json_decref(o);
	json_decref(want);
}

/* ---- create and destroy ---------------------------------------------- */

static void
test_rpc_create_needs_secret(void **state)
{
	struct env *e = *state;
	struct kr_runtime rt;
	struct kr_rpc_deps deps = e->deps;
	struct kr_err err;
	char path[64];

	kr_err_clear(&err);
	conf_write(path, sizeof(path), "");
	if (kr_runtime_init(&rt, path, &err) < 0)
		fail_msg("runtime: %s", err.msg);
	deps.rt = &rt;
	deps.gens = rt.gens;
	assert_null(kr_rpc_create(&deps, &err));
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "[auth] secret"));
	kr_runtime_deinit(&rt);
	unlink(path);
}

/* A dispatcher that answered everything leaves nothing pending, and
 * destroying it calls no done. */
static void
test_rpc_destroy_idle(void **state)
{
	struct env *e = *state;
	struct kr_err err;
	struct kr_rpc *rpc;
	const char *req = dq(e->text, sizeof(e->text),
			     "{'jsonrpc':'2.0','method':'quota.get','id':1}");

	kr_err_clear(&err);
	rpc = kr_rpc_create(&e->deps, &err);
	assert_non_null(rpc);
	assert_int_equal(kr_rpc_pending(rpc), 0);
	rpc_send_on(e, rpc, req, strlen(req), NULL);
	assert_int_equal(e->ans.status, 200);
	free(e->ans.body);
	e->ans.body = NULL;
	assert_int_equal(kr_rpc_pending(rpc), 0);
	assert_int_equal(kr_rpc_pending(NULL), 0);
	kr_rpc_destroy(&rpc);
	assert_null(rpc);
	kr_rpc_destroy(&rpc);
	assert_int_equal(e->ans.calls, 1);
	assert_int_equal(kr_rpc_pending(e->rpc), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rpc_spec_examples),
		cmocka_unit_test(test_rpc_notifications_no_content),
		cmocka_unit_test(test_rpc_session_required),
		cmocka_unit_test(test_rpc_session_valid_token_unavailable),
		cmocka_unit_test(test_rpc_session_bad_tokens_unauthorized),
		cmocka_unit_test(test_rpc_params),
		cmocka_unit_test(test_rpc_login_without_storage),
		cmocka_unit_test(test_rpc_login_length_limits),
		cmocka_unit_test(test_rpc_body_max),
		cmocka_unit_test(test_rpc_batch_and_depth_max),
		cmocka_unit_test(test_rpc_base64_rfc4648_vectors),
		cmocka_unit_test(test_rpc_base64_round_trip),
		cmocka_unit_test(test_rpc_base64_decode_refuses),
		cmocka_unit_test(test_rpc_base64_decode_strict),
		cmocka_unit_test(test_rpc_json_date),
		cmocka_unit_test(test_rpc_json_mailbox),
		cmocka_unit_test(test_rpc_text_list),
		cmocka_unit_test(test_rpc_text_list_escapes),
		cmocka_unit_test(test_rpc_text_get),
		cmocka_unit_test(test_rpc_create_needs_secret),
		cmocka_unit_test(test_rpc_destroy_idle),
	};

	return cmocka_run_group_tests_name("rpc", tests, env_setup,
					   env_teardown);
}
