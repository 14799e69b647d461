/* auth.login and auth.logout over JSON-RPC: params parsed here
 * (-32602), the work done by server/auth/auth.h, and its statuses
 * mapped onto JSON-RPC errors in one table (the session check of every
 * request, in rpc.c, answers through the same table). */
#include <string.h>

#include "server/auth/password.h"
#include "server/rpc/rpc_priv.h"

/* Each status but KR_AUTH_OK (answered by the method) and
 * KR_AUTH_ERROR (by its error's kind, rpc_fail_err). */
static const struct {
	int code;
	const char *message;
	bool retry; /* data {retry_after_ms} */
} rpc_auth_errors[KR_AUTH_STATUS_COUNT] = {
	[KR_AUTH_UNAUTHORIZED] = { KR_JSONRPC_UNAUTHORIZED,
				   "session invalid, expired or revoked" },
	[KR_AUTH_EXPIRED] = { KR_JSONRPC_UNAUTHORIZED,
			      "session invalid, expired or revoked" },
	[KR_AUTH_REVOKED] = { KR_JSONRPC_UNAUTHORIZED,
			      "session invalid, expired or revoked" },
	[KR_AUTH_BAD_CREDENTIALS] = { KR_JSONRPC_UNAUTHORIZED,
				      "bad user or password" },
	[KR_AUTH_RATE_LIMITED] = { KR_JSONRPC_RATE_LIMITED,
				   "too many failed logins", true },
	[KR_AUTH_OVERLOADED] = { KR_JSONRPC_OVERLOADED,
				 "too many logins being checked", true },
	[KR_AUTH_STOPPING] = { KR_JSONRPC_UNAVAILABLE, "worker stopping" },
};

void
rpc_auth_fail(struct rpc_call *c, enum kr_auth_status status,
	      const struct kr_err *err, int64_t retry_after_ms)
{
	kr_assert(status != KR_AUTH_OK && status < KR_AUTH_STATUS_COUNT);
	if (status == KR_AUTH_ERROR) {
		rpc_fail_err(c, err);
		return;
	}
	rpc_fail(c, rpc_auth_errors[status].code,
		 rpc_auth_errors[status].message,
		 rpc_auth_errors[status].retry ? rpc_retry_after(retry_after_ms)
					       : NULL);
}

/* A login's answer (a new session: {session, expires_at, user}) or a
 * logout's (true). */
static void
rpc_auth_done(void *ctx, const struct kr_auth_result *res)
{
	struct rpc_call *c = ctx;

	c->auth = NULL;
	if (res->status != KR_AUTH_OK)
		rpc_auth_fail(c, res->status, res->err, res->retry_after_ms);
	else if (res->token == NULL)
		rpc_reply(c, json_true());
	else
		rpc_reply(c, json_pack("{s:s, s:o, s:s}", "session", res->token,
				       "expires_at",
				       rpc_json_date(true,
						     res->session->expires_at),
				       "user", res->session->address));
}

/* client_ip, when given: an IPv4 or IPv6 address (-1 after -32602).
 * Checked whoever the peer is, so a client learns of a typo at once. */
static int
login_param_client(struct rpc_call *c, const json_t *params, const char **ip_r)
{
	struct kr_err err;

	*ip_r = NULL;
	if (kr_jsonrpc_param_str(params, "client_ip", false, ip_r, &err) < 0) {
		rpc_fail_params(c, &err);
		return -1;
	}
	if (*ip_r != NULL && !kr_client_addr_ok(*ip_r))
		return rpc_param_bad(c, "client_ip",
				     "not an IPv4 or IPv6 address");
	return 0;
}

/* ---- auth.login and auth.logout --------------------------------- */

void
rpc_auth_login(struct rpc_call *c, const json_t *params)
{
	struct rpc_req *req = c->req;
	struct kr_auth_login in = {
		.peer = req->peer,
		.forwarded = req->forwarded,
		.log_id = req->id,
		.deadline = rpc_deadline(c),
	};
	struct kr_err err;

	if (kr_jsonrpc_param_str(params, "user", true, &in.user, &err) < 0 ||
	    kr_jsonrpc_param_str(params, "password", true, &in.password, &err) <
		    0) {
		rpc_fail_params(c, &err);
		return;
	}
	if (strlen(in.user) > KR_ADDRESS_MAX ||
	    strlen(in.password) > KR_PASSWORD_MAX) {
		rpc_fail(c, KR_JSONRPC_INVALID_PARAMS,
			 "user or password too long", NULL);
		return;
	}
	if (login_param_client(c, params, &in.client_ip) < 0)
		return;
	c->auth = kr_auth_login_begin(req->rpc->auth, &in, rpc_auth_done, c);
}

void
rpc_auth_logout(struct rpc_call *c, const json_t *params)
{
	struct rpc_req *req = c->req;

	(void)params;
	c->auth = kr_auth_logout_begin(req->rpc->auth, &req->session,
				       rpc_deadline(c), rpc_auth_done, c);
}
