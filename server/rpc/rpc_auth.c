/* auth.login, auth.logout and the session check of every request.
 * A session is a signed token (server/auth/token.h) plus, per request, a
 * look-up that the user still exists, the token was not revoked and the
 * user's password did not change since it was issued;
 * that look-up is cached per worker for at most RPC_SESSION_TTL_MS and
 * dropped at once when the user's generation moves (a logout on any
 * worker of this host bumps it). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/address.h"
#include "lib/arena.h"
#include "lib/cidr.h"
#include "lib/clock.h"
#include "lib/genmap.h"
#include "lib/limits.h"
#include "lib/tpool.h"
#include "server/cache/cache.h"
#include "server/auth/password.h"
#include "server/auth/ratelimit.h"
#include "server/rpc/rpc_priv.h"
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
	if (revoked || strlen(address) > KR_ADDRESS_MAX) {
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
	char val[2 + KR_ADDRESS_MAX];
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
	    vlen < 1 || vlen > KR_ADDRESS_MAX + 1)
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
	/* Versions come from the database, which holds none this high: a
	 * token saying otherwise can match no user. */
	if (req->claims.password_version > KR_STORE_PASSWORD_VERSION_MAX) {
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
		req->claims.sid, req->claims.password_version, req->auth_arena,
		req->deadline, rpc_auth_on_checked, req);
}

/* ---- auth.login ---------------------------------------------------
 *
 * Order, so that an attempt costs a password check only when it may be
 * a guess the limiters allow:
 *  1. the address the attempt counts against (login_client);
 *  2. one token from the user's bucket and one from the address's,
 *     each taken atomically in the shared limiter (-32012 when either
 *     is empty: nothing hashed, nothing queued);
 *  3. one of this worker's [auth] login_concurrency slots (-32011 when
 *     all are busy; the tokens go back: that was no guess);
 *  4. the user's hash (store), then the check on the io pool.
 * A wrong password keeps both tokens; a right one forgets the user's
 * failures and gives the address its token back; an attempt that could
 * not be checked (store or pool error) gives both back. */

/* What a busy worker tells the client to wait: about one Argon2id check
 * at the parameters kr_password_hash writes (m=64 MiB, t=3). */
#define RPC_LOGIN_BUSY_RETRY_MS 250

/* Where the address a login counts against came from, for log lines. */
enum login_source {
	LOGIN_FROM_NONE,   /* a trusted peer named none: per user only */
	LOGIN_FROM_PARAM,  /* client_ip, from a trusted peer */
	LOGIN_FROM_HEADER, /* X-Forwarded-For, from a trusted peer */
	LOGIN_FROM_PEER,   /* the connection's own address */
};

static const char *const login_source_names[] = {
	[LOGIN_FROM_NONE] = "none",
	[LOGIN_FROM_PARAM] = "client_ip",
	[LOGIN_FROM_HEADER] = "forwarded",
	[LOGIN_FROM_PEER] = "peer",
};

struct login {
	struct rpc_call *c;
	const char *name; /* the user as given (the request's JSON) */
	char *password;	  /* malloc'd, wiped */
	const char *hash;
	uint32_t password_version;
	bool known; /* the user exists */
	bool ok;
	bool slot;		   /* holds a login_concurrency slot */
	bool took_user, took_addr; /* limiter tokens this attempt holds */
	enum login_source source;
	struct kr_err err;
	struct kr_store_user user;
	char ukey[2 + KR_ADDRESS_MAX + 1];
	char akey[KR_CIDR_KEY_MAX];	/* "" when not limited by address */
	char client[RPC_ADDR_TEXT_MAX]; /* the address counted, or "" */
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
login_release(struct login *l)
{
	if (l->slot) {
		l->slot = false;
		l->c->req->rpc->logins_running--;
	}
}

/* The call's arena goes with the request, also when it is dropped
 * mid-check (kr_rpc_destroy): the slot and the password go with it.
 * The tokens stay taken: the guess may have been checked. */
static void
login_cleanup(void *ctx)
{
	struct login *l = ctx;

	login_release(l);
	login_forget(l);
}

/* The attempt was no guess: its tokens go back. */
static void
login_undo(struct login *l)
{
	struct kr_rpc *rpc = l->c->req->rpc;
	int64_t now = rpc_now_ms();

	if (l->took_user)
		kr_ratelimit_give_back(rpc->rl_user, l->ukey, strlen(l->ukey),
				       now);
	if (l->took_addr)
		kr_ratelimit_give_back(rpc->rl_addr, l->akey, strlen(l->akey),
				       now);
	l->took_user = l->took_addr = false;
}

/* One line per login decided: the address counted and where it came
 * from, never the password. */
static void
login_log(const struct login *l, enum kr_log_level level, const char *result)
{
	struct rpc_req *req = l->c->req;
	struct kr_log_line line;

	if (!kr_log_begin(&line, req->rpc->d.rt->log, level, req->id,
			  "auth.login"))
		return;
	kr_log_str(&line, "result", result);
	kr_log_str(&line, "user", l->name);
	kr_log_str(&line, "client", l->client[0] != '\0' ? l->client : "-");
	kr_log_str(&line, "source", login_source_names[l->source]);
	kr_log_str(&line, "peer", req->peer);
	kr_log_end(&line);
}

static void
login_refused(struct login *l)
{
	struct kr_rpc *rpc = l->c->req->rpc;

	kr_metrics_inc(rpc->d.rt->slot, rpc->d.rt->ids.rpc_logins_failed);
	login_log(l, KR_LOG_INFO, "failed");
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

	/* A right password ends the user's run of failures; the address
	 * keeps its own (one valid account must not reset the bucket its
	 * owner guesses other accounts from), minus this attempt. */
	kr_ratelimit_forget(rpc->rl_user, l->ukey, strlen(l->ukey));
	l->took_user = false;
	login_undo(l);
	if (kr_token_issue(&rpc->keys.current, l->user.id, l->user.shard,
			   l->password_version, rpc_wall_s(),
			   cfg->auth.session_ttl_ms / 1000, token,
			   sizeof(token), &claims, &err) < 0) {
		rpc_fail_err(l->c, &err);
		return;
	}
	login_log(l, KR_LOG_INFO, "ok");
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
	struct kr_runtime *rt = l->c->req->rpc->d.rt;

	l->c->job = NULL;
	login_release(l);
	login_forget(l);
	if (status != 0) {
		login_undo(l);
		rpc_fail(l->c, KR_JSONRPC_UNAVAILABLE, "worker stopping", NULL);
		return;
	}
	kr_metrics_inc(rt->slot, rt->ids.rpc_password_checks);
	if (!l->known || !l->ok) {
		login_refused(l);
		return;
	}
	login_issue(l);
}

/* The attempt ends before its check: tokens back, slot free. */
static void
login_abort(struct login *l, const struct kr_err *err)
{
	login_undo(l);
	login_release(l);
	login_forget(l);
	rpc_fail_err(l->c, err);
}

static void
login_on_user(void *ctx, const struct kr_store_user_auth_result *res,
	      const struct kr_err *err)
{
	struct login *l = ctx;
	struct rpc_call *c = l->c;
	struct kr_err perr;

	c->op = NULL;
	if (err != NULL && err->kind != KR_ERR_NOT_FOUND) {
		login_abort(l, err);
		return;
	}
	l->known = err == NULL;
	l->hash = l->known ? res->password_hash : rpc_dummy_hash;
	if (l->known) {
		l->user = res->user;
		l->password_version = res->password_version;
	}
	if (kr_tpool_submit(c->req->rpc->d.io, login_verify_work,
			    login_verified, l, &c->job, &perr) < 0)
		login_abort(l, &perr);
}

/* The address the attempt counts against (SPEC.md §6, issue 13): a
 * peer in [auth] trusted (the webmail backend, which logs everyone in)
 * names its end user with client_ip, or else X-Forwarded-For; if it
 * names none, the attempt is limited per user only, so one attacker
 * behind the webmail cannot lock every user out. Any other peer counts
 * as itself; what it says about its client is ignored. */
static void
login_client(struct login *l, const char *client_ip)
{
	struct rpc_req *req = l->c->req;
	const struct kr_config *cfg = req->rpc->d.rt->cfg;
	const char *addr = NULL;

	if (!kr_cidr_list_match_text(&cfg->auth.trusted, req->peer)) {
		l->source = LOGIN_FROM_PEER;
		addr = req->peer;
	} else if (client_ip != NULL) {
		l->source = LOGIN_FROM_PARAM;
		addr = client_ip;
	} else if (req->forwarded[0] != '\0') {
		l->source = LOGIN_FROM_HEADER;
		addr = req->forwarded;
	} else {
		l->source = LOGIN_FROM_NONE;
		return;
	}
	snprintf(l->client, sizeof(l->client), "%s", addr);
	/* The peer text is the kernel's, so this fails only for a kind of
	 * peer we do not expect: such peers share one bucket. */
	if (kr_cidr_client_key(addr, l->akey) < 0)
		snprintf(l->akey, sizeof(l->akey), "a:?");
}

/* Takes this attempt's tokens; false after answering -32012. */
static bool
login_take(struct login *l)
{
	struct kr_rpc *rpc = l->c->req->rpc;
	int64_t now = rpc_now_ms(), wait = 0;

	l->took_user = kr_ratelimit_take(rpc->rl_user, l->ukey, strlen(l->ukey),
					 now, &wait);
	if (l->took_user && l->akey[0] != '\0')
		l->took_addr = kr_ratelimit_take(rpc->rl_addr, l->akey,
						 strlen(l->akey), now, &wait);
	if (l->took_user && (l->took_addr || l->akey[0] == '\0'))
		return true;
	login_undo(l);
	kr_metrics_inc(rpc->d.rt->slot, rpc->d.rt->ids.rpc_rate_limited);
	login_log(l, KR_LOG_DEBUG, "limited");
	rpc_fail(l->c, KR_JSONRPC_RATE_LIMITED, "too many failed logins",
		 json_pack("{sI}", "retry_after_ms", (json_int_t)wait));
	return false;
}

/* Takes one of the worker's check slots; false after answering
 * -32011 (the io pool is shared with other work: a login burst must
 * not fill its queue). */
static bool
login_admit(struct login *l)
{
	struct kr_rpc *rpc = l->c->req->rpc;
	struct kr_err err;

	if (rpc->logins_running >= rpc->d.rt->cfg->auth.login_concurrency) {
		login_undo(l);
		login_log(l, KR_LOG_DEBUG, "busy");
		rpc_fail(l->c, KR_JSONRPC_OVERLOADED,
			 "too many logins being checked",
			 json_pack("{sI}", "retry_after_ms",
				   (json_int_t)RPC_LOGIN_BUSY_RETRY_MS));
		return false;
	}
	if (kr_arena_cleanup_add(l->c->arena, login_cleanup, l, &err) < 0) {
		login_undo(l);
		rpc_fail_err(l->c, &err);
		return false;
	}
	rpc->logins_running++;
	l->slot = true;
	return true;
}

/* client_ip, when given: an IPv4 or IPv6 address (-1 after -32602).
 * Checked whoever the peer is, so a client learns of a typo at once. */
static int
login_param_client(struct rpc_call *c, const json_t *params, const char **ip_r)
{
	char key[KR_CIDR_KEY_MAX];
	struct kr_err err;

	*ip_r = NULL;
	if (kr_jsonrpc_param_str(params, "client_ip", false, ip_r, &err) < 0) {
		rpc_fail_params(c, &err);
		return -1;
	}
	if (*ip_r != NULL && (strlen(*ip_r) >= RPC_ADDR_TEXT_MAX ||
			      kr_cidr_client_key(*ip_r, key) < 0))
		return rpc_param_bad(c, "client_ip",
				     "not an IPv4 or IPv6 address");
	return 0;
}

/* The attempt's state, or NULL after answering; *password_r is
 * borrowed from params. */
static struct login *
login_new(struct rpc_call *c, const json_t *params, const char **password_r)
{
	struct kr_err err;
	const char *user = NULL, *password = NULL, *client_ip = NULL;
	struct login *l;

	if (kr_jsonrpc_param_str(params, "user", true, &user, &err) < 0 ||
	    kr_jsonrpc_param_str(params, "password", true, &password, &err) <
		    0) {
		rpc_fail_params(c, &err);
		return NULL;
	}
	if (strlen(user) > KR_ADDRESS_MAX ||
	    strlen(password) > KR_PASSWORD_MAX) {
		rpc_fail(c, KR_JSONRPC_INVALID_PARAMS,
			 "user or password too long", NULL);
		return NULL;
	}
	if (login_param_client(c, params, &client_ip) < 0)
		return NULL;
	if (c->req->rpc->d.store == NULL) {
		kr_err_set(&err, KR_ERR_TEMPORARY, "no storage configured");
		rpc_fail_err(c, &err);
		return NULL;
	}
	l = kr_arena_zalloc(c->arena, sizeof(*l), &err);
	if (l == NULL) {
		rpc_fail_err(c, &err);
		return NULL;
	}
	l->c = c;
	l->name = user;
	snprintf(l->ukey, sizeof(l->ukey), "u:%s", user);
	for (char *p = l->ukey; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	login_client(l, client_ip);
	*password_r = password;
	return l;
}

void
rpc_auth_login(struct rpc_call *c, const json_t *params)
{
	const char *password = NULL;
	struct login *l = login_new(c, params, &password);
	char addr[KR_ADDRESS_MAX + 1];
	struct kr_err err;

	if (l == NULL || !login_take(l) || !login_admit(l))
		return;
	l->password = kr_xstrdup(password);
	/* No user has a name that is not an address (lib/address.h):
	 * refused as an unknown user, after the same password check. */
	if (kr_address_normalize(l->name, strlen(l->name), addr, sizeof(addr),
				 NULL) < 0) {
		kr_err_set(&err, KR_ERR_NOT_FOUND, "no such user");
		login_on_user(l, NULL, &err);
		return;
	}
	c->op = kr_store_user_auth_begin(c->req->rpc->d.store, addr, c->arena,
					 rpc_deadline(c), login_on_user, l);
}

/* 1..5 digits, at most 65535. */
static bool
rpc_auth_port_ok(const char *port)
{
	size_t n = strlen(port);

	return n >= 1 && n <= 5 && strspn(port, "0123456789") == n &&
	       strtoul(port, NULL, 10) <= 65535;
}

/* The right-most entry of X-Forwarded-For: the one our trusted peer
 * added (entries to its left are what its own client claimed). Takes
 * "addr", "[ipv6]" and "[ipv6]:port" or "ipv4:port"; anything else
 * leaves req->forwarded empty, as does no header. */
void
rpc_auth_forwarded(struct rpc_req *req, const char *xff)
{
	char buf[RPC_ADDR_TEXT_MAX + 8], key[KR_CIDR_KEY_MAX];
	const char *start;
	char *addr, *port = NULL;
	size_t len;

	req->forwarded[0] = '\0';
	if (xff == NULL)
		return;
	start = strrchr(xff, ',');
	start = start != NULL ? start + 1 : xff;
	start += strspn(start, " \t");
	len = strcspn(start, " \t");
	/* Nothing but blanks may follow the entry. */
	if (len == 0 || len >= sizeof(buf) ||
	    start[len + strspn(start + len, " \t")] != '\0')
		return;
	memcpy(buf, start, len);
	buf[len] = '\0';
	addr = buf;
	if (addr[0] == '[') {
		char *close = strchr(addr, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return;
		port = close[1] == ':' ? close + 2 : NULL;
		*close = '\0';
		addr++;
	} else if (strchr(addr, '.') != NULL && strchr(addr, ':') != NULL &&
		   strchr(addr, ':') == strrchr(addr, ':')) {
		port = strchr(addr, ':');
		*port++ = '\0';
	}
	if (port != NULL && !rpc_auth_port_ok(port))
		return;
	len = strlen(addr);
	if (len >= sizeof(req->forwarded) || kr_cidr_client_key(addr, key) < 0)
		return;
	memcpy(req->forwarded, addr, len + 1);
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
