/* Sessions and logins of the webmail API (SPEC.md §3.2
 * "Authentication"), with no protocol in them: a caller hands in a
 * bearer token or a user, a password and what it knows of the peer,
 * and gets a session or a status back, which it answers in its own
 * protocol (server/rpc/ maps each status to a JSON-RPC error in one
 * table).
 *
 * One per worker, on the worker's loop. It owns the session-check
 * cache (a check is cached for KR_AUTH_SESSION_TTL_MS and dropped at
 * once when the user's shared write generation moves), the password
 * checks on the io pool ([auth] login_concurrency at once), which
 * address a login counts against (server/auth/client.h) and the token
 * keys (server/auth/token.h); the failed-login limiters
 * (server/auth/ratelimit.h) and the generations are the runtime's,
 * shared by every worker.
 *
 * Operations: op = kr_auth_<x>_begin(..., cb, ctx); cb fires exactly
 * once, on the loop, never before begin returns, unless
 * kr_auth_cancel(&op) came first; the handle is invalid once cb ran.
 * Inputs are borrowed until begin returns. */
#ifndef KR_AUTH_H
#define KR_AUTH_H

#include <stdint.h>

#include "lib/deadline.h"
#include "lib/err.h"
#include "server/auth/token.h"
#include "storage/store.h"

struct event_base;
struct kr_config;
struct kr_genmap;
struct kr_log;
struct kr_metrics_slot;
struct kr_ratelimit;
struct kr_tpool;
struct kr_auth;
struct kr_auth_op;

/* How stale a cached session check may be: a logout through another
 * host is honoured here within this time. */
#define KR_AUTH_SESSION_TTL_MS 1000
/* What an overloaded worker tells a login to wait: about one Argon2id
 * check at the parameters kr_password_hash writes (m=64 MiB, t=3). */
#define KR_AUTH_BUSY_RETRY_MS 250

enum kr_auth_status {
	KR_AUTH_OK,
	/* check: not a token of ours (malformed, bad signature, unknown
	 * version), or its user is gone. */
	KR_AUTH_UNAUTHORIZED,
	KR_AUTH_EXPIRED, /* check: a token of ours whose time is up */
	/* check: logged out, or the password changed since the login. */
	KR_AUTH_REVOKED,
	KR_AUTH_BAD_CREDENTIALS, /* login: unknown user or wrong password */
	/* login: the user's or the address's failed-login bucket is empty:
	 * nothing was checked; retry_after_ms says when one is back. */
	KR_AUTH_RATE_LIMITED,
	/* login: [auth] login_concurrency checks run already in this
	 * worker; retry_after_ms is KR_AUTH_BUSY_RETRY_MS. */
	KR_AUTH_OVERLOADED,
	/* login: the io pool went away before the check ran (the worker
	 * is stopping). */
	KR_AUTH_STOPPING,
	/* Not decided: err's kind says why, as for any store error
	 * (KR_ERR_TEMPORARY when the store is down or not configured,
	 * KR_ERR_TIMEOUT, KR_ERR_OVERLOAD for a full io pool,
	 * KR_ERR_PERMANENT for input the caller should have refused, ...). */
	KR_AUTH_ERROR,
};
#define KR_AUTH_STATUS_COUNT (KR_AUTH_ERROR + 1)

/* A live session: what the check found, or what a login opened. */
struct kr_auth_session {
	unsigned shard;
	int64_t user_id;
	char address[KR_ADDRESS_MAX + 1];     /* lower-cased, as stored */
	char sid[2 * KR_TOKEN_SID_BYTES + 1]; /* the revocation key */
	int64_t expires_at;		      /* Unix seconds */
};

/* Borrowed for the duration of the callback only. */
struct kr_auth_result {
	enum kr_auth_status status;
	const struct kr_err *err; /* KR_AUTH_ERROR, else NULL */
	int64_t retry_after_ms;	  /* RATE_LIMITED and OVERLOADED, else 0 */
	/* KR_AUTH_OK of a check or a login, else NULL. */
	const struct kr_auth_session *session;
	/* KR_AUTH_OK of a login: the token, KR_TOKEN_LEN characters;
	 * wiped when the callback returns. Else NULL. */
	const char *token;
};
typedef void kr_auth_fn(void *ctx, const struct kr_auth_result *res);

/* Metric ids (lib/metrics.h) the logins count under. */
struct kr_auth_metric_ids {
	int logins_failed;   /* counter: KR_AUTH_BAD_CREDENTIALS */
	int rate_limited;    /* counter: KR_AUTH_RATE_LIMITED */
	int password_checks; /* counter: hashes run on the io pool */
};

/* Borrowed; everything outlives the auth. */
struct kr_auth_deps {
	struct event_base *base;
	struct kr_tpool *io;	/* password checks */
	struct kr_store *store; /* NULL: every check and login KR_AUTH_ERROR */
	struct kr_genmap *gens; /* per-user write generations, shared */
	struct kr_ratelimit *rl_user, *rl_addr; /* failed logins, shared */
	/* The runtime's config pointer, read at each use ([auth] trusted,
	 * login_concurrency, session_ttl): a reload that swaps it applies
	 * at once. The keys are derived from its secrets at create only. */
	struct kr_config *const *cfg;
	struct kr_log *log;
	struct kr_metrics_slot *slot;
	struct kr_auth_metric_ids ids;
};

/* NULL + err_r: KR_ERR_PERMANENT when [auth] secret is not set,
 * KR_ERR_LIMIT when a secret is too short or too long (token.h). */
struct kr_auth *kr_auth_create(const struct kr_auth_deps *deps,
			       struct kr_err *err_r);
/* Every operation must have ended or been cancelled. Wipes the keys,
 * sets *auth to NULL; NULL or *auth == NULL is a no-op. */
void kr_auth_destroy(struct kr_auth **auth);

/* Checks token (NUL-terminated, client input; NULL counts as
 * malformed): its signature and expiry here, then the store: the user
 * still exists, the session was not revoked and the password did not
 * change since the login (cached, see above). KR_AUTH_OK with the
 * session, KR_AUTH_UNAUTHORIZED, _EXPIRED, _REVOKED, or KR_AUTH_ERROR
 * (the store could not tell). The store is asked by deadline. */
struct kr_auth_op *kr_auth_check_begin(struct kr_auth *auth, const char *token,
				       struct kr_deadline deadline,
				       kr_auth_fn *cb, void *ctx);

/* A login attempt as the caller received it. */
struct kr_auth_login {
	const char *user;     /* as typed: at most KR_ADDRESS_MAX */
	const char *password; /* at most KR_PASSWORD_MAX bytes */
	const char *peer;     /* the connection's address (kernel's text) */
	/* The end user's address a trusted peer names (NULL: none); it
	 * must pass kr_client_addr_ok. Ignored from other peers. */
	const char *client_ip;
	/* kr_client_forwarded of the request's X-Forwarded-For ("" or
	 * NULL: none). Used as client_ip is, after it. */
	const char *forwarded;
	const char *log_id; /* the request's id in log lines, or NULL */
	struct kr_deadline deadline; /* for the store's look-up */
};

/* Logs a user in (issue 13): first the address the attempt counts
 * against; then one token from the user's bucket and one from the
 * address's, each taken atomically in the shared limiters
 * (KR_AUTH_RATE_LIMITED when either is empty: nothing hashed, nothing
 * queued); then one of this worker's login_concurrency slots
 * (KR_AUTH_OVERLOADED when all are busy; the tokens go back: that was
 * no guess); then the user's hash from the store and the check on the
 * io pool, at the same cost for an unknown user (no enumeration). A
 * wrong password keeps both tokens (KR_AUTH_BAD_CREDENTIALS); a right
 * one forgets the user's failures, gives the address its token back
 * and issues a token for [auth] session_ttl (KR_AUTH_OK); an attempt
 * that could not be checked gives both back (KR_AUTH_ERROR,
 * KR_AUTH_STOPPING). A user or password over its limit is
 * KR_AUTH_ERROR with KR_ERR_PERMANENT before anything else; no store
 * is KR_ERR_TEMPORARY before the limiters. Every decided attempt is
 * logged (event=auth.login, result, user, client, source, peer; never
 * the password). The password is copied and wiped when no longer
 * needed. */
struct kr_auth_op *kr_auth_login_begin(struct kr_auth *auth,
				       const struct kr_auth_login *in,
				       kr_auth_fn *cb, void *ctx);

/* Revokes session (from a check) until it expires, then moves the
 * user's write generation so that every worker's cached check of it
 * goes stale. KR_AUTH_OK, or KR_AUTH_ERROR (KR_ERR_NOT_FOUND when the
 * user is gone, store errors). */
struct kr_auth_op *kr_auth_logout_begin(struct kr_auth *auth,
					const struct kr_auth_session *session,
					struct kr_deadline deadline,
					kr_auth_fn *cb, void *ctx);

/* No callback after this; sets *op to NULL (NULL is fine). A login
 * cancelled after its tokens were taken keeps them: its guess may have
 * been checked. */
void kr_auth_cancel(struct kr_auth_op **op);

/* The session's user as the store's operations address it; address
 * points into session. */
struct kr_store_user kr_auth_session_user(const struct kr_auth_session *s);

/* Operations running now, for tests. */
unsigned kr_auth_pending(const struct kr_auth *auth);

#endif
