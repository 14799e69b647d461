/* auth.login, auth.logout and the session check of every request.
 * A session is a signed token (server/token.h) plus, per request, a
 * look-up that the user still exists and the token was not revoked;
 * that look-up is cached per worker for at most RPC_SESSION_TTL_MS and
 * dropped at once when the user's generation moves (a logout on any
 * worker of this host bumps it). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/genmap.h"
#include "lib/limits.h"
#include "lib/tpool.h"
#include "server/cache.h"
#include "server/password.h"
#include "server/ratelimit.h"
#include "server/rpc_priv.h"
#include "server/runtime.h"

/* How stale a cached session check may be: a logout through another
 * host is honoured here within this time. */
#define RPC_SESSION_TTL_MS 1000
#define RPC_AUTH_ARENA_MAX (64u << 10)

/* Checked when the user does not exist, so that a login for an unknown
 * user costs the same time as a wrong password (no user enumeration).
 * The Argon2id hash of a random string nobody knows. */
static const char rpc_dummy_hash[] =
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$6sE6PQtRlUg26D0Rik7RgA$"
	"REj3IRYl0b3EqQ0KzoexBF1zgx4iGzKx+dTopk1mnNo";

static int64_t
rpc_wall_s(void)
{
	return kr_clock_wall_ms() / 1000;
}

/* ---- session check ------------------------------------------------ */

static uint64_t
rpc_claims_key(const struct rpc_req *req)
{
	return kr_store_user_key(req->claims.shard, req->claims.user_id);
}

static void
rpc_auth_set(struct rpc_req *req, bool revoked, const char *address)
{
	if (revoked || strlen(address) > KR_STORE_ADDRESS_MAX) {
		req->auth = RPC_AUTH_FAILED;
		return;
	}
	snprintf(req->address, sizeof(req->address), "%s", address);
	req->user = (struct kr_store_user){
		.address = req->address,
		.shard = req->claims.shard,
		.id = req->claims.user_id,
	};
	req->auth = RPC_AUTH_OK;
}

static void
rpc_auth_on_checked(void *ctx, const struct kr_store_session_result *res,
		    const struct kr_err *err)
{
	struct rpc_req *req = ctx;
	struct kr_rpc *rpc = req->rpc;
	char key[8 + sizeof(req->claims.sid)];
	char val[2 + KR_STORE_ADDRESS_MAX];
	int kn, vn;

	req->auth_op = NULL;
	if (err != NULL && err->kind == KR_ERR_NOT_FOUND) {
		req->auth = RPC_AUTH_FAILED; /* the user was deleted */
	} else if (err != NULL) {
		req->auth = RPC_AUTH_ERROR;
		req->auth_err = *err;
	} else {
		kn = snprintf(key, sizeof(key), "S:%s", req->claims.sid);
		vn = snprintf(val, sizeof(val), "%c%s",
			      res->revoked ? '1' : '0', res->address);
		if (vn > 0 && (size_t)vn < sizeof(val))
			kr_cache_put(rpc->sessions,
				     (int64_t)rpc_claims_key(req), key,
				     (size_t)kn, val, (size_t)vn, req->auth_gen,
				     rpc_now_ms());
		rpc_auth_set(req, res->revoked, res->address);
	}
	rpc_req_authed(req);
}

/* The token after "Bearer " (scheme in any case), or NULL. */
static const char *
rpc_bearer(const char *authorization)
{
	static const char scheme[] = "Bearer";

	if (strncasecmp(authorization, scheme, sizeof(scheme) - 1) != 0 ||
	    authorization[sizeof(scheme) - 1] != ' ')
		return NULL;
	authorization += sizeof(scheme);
	while (*authorization == ' ')
		authorization++;
	return authorization;
}

static bool
rpc_auth_cached(struct rpc_req *req)
{
	struct kr_rpc *rpc = req->rpc;
	char key[8 + sizeof(req->claims.sid)];
	const char *val;
	size_t vlen;
	int kn = snprintf(key, sizeof(key), "S:%s", req->claims.sid);

	req->auth_gen = kr_genmap_get(rpc->d.gens, rpc_claims_key(req));
	if (!kr_cache_get(rpc->sessions, key, (size_t)kn, req->auth_gen,
			  rpc_now_ms(), RPC_SESSION_TTL_MS, &val, &vlen) ||
	    vlen < 1 || vlen > KR_STORE_ADDRESS_MAX + 1)
		return false;
	snprintf(req->address, sizeof(req->address), "%.*s", (int)vlen - 1,
		 val + 1);
	rpc_auth_set(req, val[0] == '1', req->address);
	return true;
}

void
rpc_auth_check(struct rpc_req *req, const char *authorization)
{
	struct kr_rpc *rpc = req->rpc;
	const char *token = rpc_bearer(authorization);
	struct kr_err err = { 0 };

	req->auth = RPC_AUTH_FAILED;
	if (token == NULL ||
	    kr_token_verify_ring(&rpc->keys, token, strlen(token), rpc_wall_s(),
				 &req->claims, &err) < 0) {
		rpc_req_authed(req);
		return;
	}
	if (rpc->d.store == NULL) {
		req->auth = RPC_AUTH_ERROR;
		kr_err_set(&req->auth_err, KR_ERR_TEMPORARY,
			   "no storage configured");
		rpc_req_authed(req);
		return;
	}
	if (rpc_auth_cached(req)) {
		rpc_req_authed(req);
		return;
	}
	req->auth = RPC_AUTH_PENDING;
	req->auth_arena = kr_arena_create(4096, RPC_AUTH_ARENA_MAX, false);
	req->auth_op = kr_store_session_check_begin(
		rpc->d.store, req->claims.shard, req->claims.user_id,
		req->claims.sid, req->auth_arena, req->deadline,
		rpc_auth_on_checked, req);
}

/* ---- auth.login --------------------------------------------------- */

struct login {
	struct rpc_call *c;
	char *password; /* malloc'd, wiped */
	const char *hash;
	bool known; /* the user exists */
	bool ok;
	struct kr_err err;
	struct kr_store_user user;
	char ukey[2 + KR_STORE_ADDRESS_MAX + 1];
	char akey[80];
};

static void
login_forget(struct login *l)
{
	if (l->password != NULL) {
		explicit_bzero(l->password, strlen(l->password));
		free(l->password);
		l->password = NULL;
	}
}

static void
login_refused(struct login *l)
{
	struct kr_rpc *rpc = l->c->req->rpc;
	int64_t now = rpc_now_ms();

	kr_ratelimit_fail(rpc->rl_user, l->ukey, strlen(l->ukey), now);
	kr_ratelimit_fail(rpc->rl_addr, l->akey, strlen(l->akey), now);
	kr_metrics_inc(rpc->d.rt->slot, rpc->d.rt->ids.rpc_logins_failed);
	rpc_fail(l->c, KR_JSONRPC_UNAUTHORIZED, "bad user or password", NULL);
}

static json_t *
login_result(struct login *l, const char *token, int64_t expires_at)
{
	return json_pack("{s:s, s:o, s:s}", "session", token, "expires_at",
			 rpc_json_date(true, expires_at), "user",
			 l->user.address);
}

static void
login_issue(struct login *l)
{
	struct kr_rpc *rpc = l->c->req->rpc;
	const struct kr_config *cfg = rpc->d.rt->cfg;
	char token[KR_TOKEN_SIZE];
	struct kr_token_claims claims;
	struct kr_err err;

	kr_ratelimit_success(rpc->rl_user, l->ukey, strlen(l->ukey));
	if (kr_token_issue(&rpc->keys.current, l->user.id, l->user.shard,
			   rpc_wall_s(), cfg->auth.session_ttl_ms / 1000, token,
			   sizeof(token), &claims, &err) < 0) {
		rpc_fail_err(l->c, &err);
		return;
	}
	rpc_reply(l->c, login_result(l, token, claims.expires_at));
	explicit_bzero(token, sizeof(token));
}

static void
login_verify_work(void *ctx)
{
	struct login *l = ctx;

	if (kr_password_verify(l->password, l->hash, &l->ok, &l->err) < 0)
		l->ok = false;
}

static void
login_verified(void *ctx, int status)
{
	struct login *l = ctx;

	l->c->job = NULL;
	login_forget(l);
	if (status != 0) {
		rpc_fail(l->c, KR_JSONRPC_UNAVAILABLE, "worker stopping", NULL);
		return;
	}
	if (!l->known || !l->ok) {
		login_refused(l);
		return;
	}
	login_issue(l);
}

static void
login_on_user(void *ctx, const struct kr_store_user_get_result *res,
	      const struct kr_err *err)
{
	struct login *l = ctx;
	struct rpc_call *c = l->c;
	struct kr_err perr;

	c->op = NULL;
	if (err != NULL && err->kind != KR_ERR_NOT_FOUND) {
		login_forget(l);
		rpc_fail_err(c, err);
		return;
	}
	l->known = err == NULL;
	l->hash = l->known ? res->password_hash : rpc_dummy_hash;
	if (l->known)
		l->user = res->user;
	if (kr_tpool_submit(c->req->rpc->d.io, login_verify_work,
			    login_verified, l, &c->job, &perr) < 0) {
		login_forget(l);
		rpc_fail_err(c, &perr);
	}
}

/* -32012 when the user or the client address failed too often. */
static bool
login_limited(struct login *l)
{
	struct kr_rpc *rpc = l->c->req->rpc;
	int64_t now = rpc_now_ms(), wait_u = 0, wait_a = 0;
	bool ok_u = kr_ratelimit_check(rpc->rl_user, l->ukey, strlen(l->ukey),
				       now, &wait_u);
	bool ok_a = kr_ratelimit_check(rpc->rl_addr, l->akey, strlen(l->akey),
				       now, &wait_a);

	if (ok_u && ok_a)
		return false;
	kr_metrics_inc(rpc->d.rt->slot, rpc->d.rt->ids.rpc_rate_limited);
	rpc_fail(l->c, KR_JSONRPC_RATE_LIMITED, "too many failed logins",
		 json_pack("{sI}", "retry_after_ms",
			   (json_int_t)(wait_u > wait_a ? wait_u : wait_a)));
	return true;
}

void
rpc_auth_login(struct rpc_call *c, const json_t *params)
{
	struct kr_err err;
	const char *user = NULL, *password = NULL;
	struct login *l;

	if (kr_jsonrpc_param_str(params, "user", true, &user, &err) < 0 ||
	    kr_jsonrpc_param_str(params, "password", true, &password, &err) <
		    0) {
		rpc_fail_params(c, &err);
		return;
	}
	if (strlen(user) > KR_STORE_ADDRESS_MAX ||
	    strlen(password) > KR_PASSWORD_MAX) {
		rpc_fail(c, KR_JSONRPC_INVALID_PARAMS,
			 "user or password too long", NULL);
		return;
	}
	l = kr_arena_zalloc(c->arena, sizeof(*l), &err);
	if (l == NULL) {
		rpc_fail_err(c, &err);
		return;
	}
	l->c = c;
	if (c->req->rpc->d.store == NULL) {
		kr_err_set(&err, KR_ERR_TEMPORARY, "no storage configured");
		rpc_fail_err(c, &err);
		return;
	}
	snprintf(l->ukey, sizeof(l->ukey), "u:%s", user);
	for (char *p = l->ukey; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	snprintf(l->akey, sizeof(l->akey), "a:%s", c->req->peer);
	if (login_limited(l))
		return;
	l->password = kr_xstrdup(password);
	c->op = kr_store_user_get_begin(c->req->rpc->d.store, user, c->arena,
					rpc_deadline(c), login_on_user, l);
}

/* ---- auth.logout -------------------------------------------------- */

static void
logout_on_revoked(void *ctx, const struct kr_err *err)
{
	struct rpc_call *c = ctx;

	if (!rpc_op_ok(c, err))
		return;
	rpc_user_changed(c);
	rpc_reply(c, json_true());
}

void
rpc_auth_logout(struct rpc_call *c, const json_t *params)
{
	struct rpc_req *req = c->req;

	(void)params;
	c->op = kr_store_session_revoke_begin(
		req->rpc->d.store, &req->user, req->claims.sid,
		req->claims.expires_at, rpc_deadline(c), logout_on_revoked, c);
}
