/* Sessions and logins: one kr_auth_op per operation, answered through
 * auth_finish exactly once. Answers decided inside begin (a bad token,
 * a cached check, an empty bucket) wait for the next loop turn on an
 * event, so no callback fires before begin returns. */
#include "server/auth/auth.h"

#include <ctype.h>
#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/address.h"
#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/genmap.h"
#include "lib/log.h"
#include "lib/lru.h"
#include "lib/metrics.h"
#include "lib/tpool.h"
#include "server/auth/client.h"
#include "server/auth/password.h"
#include "server/auth/ratelimit.h"

/* Session checks cached per worker: a few hundred bytes each. */
#define AUTH_SESSION_CACHE_BYTES (4u << 20)
/* What the store answers a check or a login with: an address and a
 * hash. */
#define AUTH_ARENA_MAX (64u << 10)
#define AUTH_LOG_ID_MAX 32

/* Checked when the user does not exist, so that a login for an unknown
 * user costs the same time as a wrong password (no user enumeration).
 * The Argon2id hash of a random string nobody knows. */
static const char auth_dummy_hash[] =
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$6sE6PQtRlUg26D0Rik7RgA$"
	"REj3IRYl0b3EqQ0KzoexBF1zgx4iGzKx+dTopk1mnNo";

struct kr_auth {
	struct kr_auth_deps d;
	struct kr_token_keyring keys;
	/* "S:<sid>" -> "<revoked 0|1><address>", and for a user a bucket
	 * move took elsewhere "F:<shard>:<id>" -> "<shard now>" */
	struct kr_lru *sessions;
	unsigned logins_running; /* admitted, not yet checked */
	unsigned n_ops;
};

enum auth_kind {
	AUTH_CHECK,
	AUTH_LOGIN,
	AUTH_LOGOUT,
};

/* A login's own state. */
struct auth_login {
	char name[KR_ADDRESS_MAX + 1]; /* the user as given */
	char *password;		       /* malloc'd, wiped */
	char *peer;		       /* malloc'd */
	char log_id[AUTH_LOG_ID_MAX];
	const char *hash; /* in the op's arena, or the dummy */
	uint32_t password_version;
	bool known;		   /* the user exists */
	bool ok;		   /* the password matched: pool thread */
	bool slot;		   /* holds a login_concurrency slot */
	bool took_user, took_addr; /* limiter tokens this attempt holds */
	struct kr_err verify_err;  /* pool thread; not reported */
	struct kr_store_user user; /* address in the op's arena */
	struct kr_client client;
	char ukey[2 + KR_ADDRESS_MAX + 1]; /* "u:<lower-cased user>" */
	char token[KR_TOKEN_SIZE];
};

struct kr_auth_op {
	struct kr_auth *auth;
	enum auth_kind kind;
	kr_auth_fn *cb;
	void *ctx;
	bool firing;	     /* cb is on the stack */
	struct event *later; /* an answer decided in begin */
	struct kr_store_op *store_op;
	struct kr_tpool_job *job;
	struct kr_arena *arena; /* the store's answer */
	enum kr_auth_status status;
	int64_t retry_after_ms;
	struct kr_err err;
	struct kr_auth_session session;
	struct kr_token_claims claims; /* check */
	uint64_t gen; /* check: the user's, read before the store is asked */
	struct kr_deadline deadline; /* check */
	unsigned shard; /* check: the user's, the token's unless he moved */
	bool moved;	/* check: asked again on the shard he moved to */
	struct auth_login login;
};

static int64_t
auth_wall_s(void)
{
	return kr_clock_wall_ms() / 1000;
}

/* ---- operations ------------------------------------------------- */

static struct kr_auth_op *
auth_op_new(struct kr_auth *a, enum auth_kind kind, kr_auth_fn *cb, void *ctx)
{
	struct kr_auth_op *op = kr_xcalloc(1, sizeof(*op));

	op->auth = a;
	op->kind = kind;
	op->cb = cb;
	op->ctx = ctx;
	a->n_ops++;
	return op;
}

static void
login_release(struct kr_auth_op *op)
{
	if (op->login.slot) {
		op->login.slot = false;
		op->auth->logins_running--;
	}
}

static void
login_forget(struct auth_login *l)
{
	if (l->password != NULL) {
		explicit_bzero(l->password, strlen(l->password));
		free(l->password);
		l->password = NULL;
	}
}

/* Whatever the op still holds goes; the limiter tokens stay taken. */
static void
auth_op_free(struct kr_auth_op *op)
{
	kr_store_cancel(&op->store_op);
	if (op->job != NULL)
		kr_tpool_cancel(&op->job); /* waits for a running check */
	if (op->later != NULL)
		event_free(op->later);
	kr_arena_destroy(&op->arena);
	login_release(op);
	login_forget(&op->login);
	free(op->login.peer);
	op->auth->n_ops--;
	explicit_bzero(op, sizeof(*op));
	free(op);
}

/* The one answer: the callback, then the op is gone. */
static void
auth_finish(struct kr_auth_op *op, enum kr_auth_status status)
{
	bool ok = status == KR_AUTH_OK;
	struct kr_auth_result res = {
		.status = status,
		.err = status == KR_AUTH_ERROR ? &op->err : NULL,
		.retry_after_ms = op->retry_after_ms,
		.session = ok && op->kind != AUTH_LOGOUT ? &op->session : NULL,
		.token = ok && op->kind == AUTH_LOGIN ? op->login.token : NULL,
	};

	op->firing = true;
	op->cb(op->ctx, &res);
	auth_op_free(op);
}

static void
auth_on_later(evutil_socket_t fd, short what, void *arg)
{
	struct kr_auth_op *op = arg;

	(void)fd;
	(void)what;
	auth_finish(op, op->status);
}

/* Answers op on the next loop turn; returns it for begin to return. */
static struct kr_auth_op *
auth_later(struct kr_auth_op *op, enum kr_auth_status status)
{
	op->status = status;
	op->later = event_new(op->auth->d.base, -1, 0, auth_on_later, op);
	if (op->later == NULL)
		kr_panic("auth: event_new failed");
	event_active(op->later, EV_TIMEOUT, 0);
	return op;
}

static struct kr_auth_op *
auth_later_err(struct kr_auth_op *op, enum kr_err_kind kind, const char *msg)
{
	kr_err_set(&op->err, kind, "%s", msg);
	return auth_later(op, KR_AUTH_ERROR);
}

void
kr_auth_cancel(struct kr_auth_op **opp)
{
	struct kr_auth_op *op = *opp;

	*opp = NULL;
	/* From inside its own callback: auth_finish frees it. */
	if (op != NULL && !op->firing)
		auth_op_free(op);
}

struct kr_store_user
kr_auth_session_user(const struct kr_auth_session *s)
{
	return (struct kr_store_user){
		.address = s->address,
		.shard = s->shard,
		.id = s->user_id,
	};
}

unsigned
kr_auth_pending(const struct kr_auth *a)
{
	return a->n_ops;
}

/* ---- the session check ------------------------------------------ */

static uint64_t
check_user_key(const struct kr_auth_op *op)
{
	return kr_store_user_key(op->shard, op->claims.user_id);
}

/* The check's outcome from the store's answer or the cache's. */
static enum kr_auth_status
check_outcome(struct kr_auth_op *op, bool revoked, const char *address,
	      size_t len)
{
	struct kr_auth_session *s = &op->session;

	if (revoked)
		return KR_AUTH_REVOKED;
	if (len > KR_ADDRESS_MAX)
		return KR_AUTH_UNAUTHORIZED;
	memcpy(s->address, address, len);
	s->address[len] = '\0';
	s->shard = op->shard;
	s->user_id = op->claims.user_id;
	memcpy(s->sid, op->claims.sid, sizeof(s->sid));
	s->expires_at = op->claims.expires_at;
	return KR_AUTH_OK;
}

static int
check_cache_key(const struct kr_auth_op *op, char *key, size_t size)
{
	return snprintf(key, size, "S:%s", op->claims.sid);
}

/* Where a moved user went, cached like a check (a forwarding row never
 * changes, but a later move may take him on). */
static int
check_moved_key(const struct kr_auth_op *op, char *key, size_t size)
{
	return snprintf(key, size, "F:%u:%lld", op->claims.shard,
			(long long)op->claims.user_id);
}

static void
check_moved_put(struct kr_auth_op *op)
{
	char key[48], val[16];
	int kn = check_moved_key(op, key, sizeof(key));
	int vn = snprintf(val, sizeof(val), "%u", op->shard);

	kr_lru_put(op->auth->sessions,
		   (int64_t)kr_store_user_key(op->claims.shard,
					      op->claims.user_id),
		   key, (size_t)kn, val, (size_t)vn, 0, kr_clock_mono_ms());
}

/* Sets op->shard from a cached move; the token's shard otherwise. */
static void
check_moved_get(struct kr_auth_op *op)
{
	char key[48];
	const char *val;
	size_t vlen;
	int kn = check_moved_key(op, key, sizeof(key));
	unsigned long shard;
	char *end;

	op->shard = op->claims.shard;
	if (!kr_lru_get(op->auth->sessions, key, (size_t)kn, 0,
			kr_clock_mono_ms(), KR_AUTH_SESSION_TTL_MS, &val,
			&vlen))
		return;
	shard = strtoul(val, &end, 10);
	if (end == val + vlen && shard <= UINT_MAX)
		op->shard = (unsigned)shard;
}

static void check_on_store(void *ctx, const struct kr_store_session_result *res,
			   const struct kr_err *err);

static void
check_ask(struct kr_auth_op *op)
{
	op->store_op = kr_store_session_check_begin(
		op->auth->d.store, op->shard, op->claims.user_id,
		op->claims.sid, op->claims.password_version, op->arena,
		op->deadline, check_on_store, op);
}

/* The token's shard forwarded the check: once, to the shard the map
 * places the user's address on now (his id kept, 012_stable_ids.sql).
 * Sent back to the same shard, or forwarded twice, our map is older
 * than the move: a temporary error until the next read of the map. */
static void
check_moved(struct kr_auth_op *op, const struct kr_store_session_result *res)
{
	if (op->moved || res->shard == op->shard) {
		kr_err_set(&op->err, KR_ERR_TEMPORARY,
			   "the user moved to another shard");
		auth_finish(op, KR_AUTH_ERROR);
		return;
	}
	op->moved = true;
	op->shard = res->shard;
	check_moved_put(op);
	op->gen = kr_genmap_get(op->auth->d.gens, check_user_key(op));
	check_ask(op);
}

static void
check_on_store(void *ctx, const struct kr_store_session_result *res,
	       const struct kr_err *err)
{
	struct kr_auth_op *op = ctx;
	char key[8 + sizeof(op->claims.sid)];
	char val[2 + KR_ADDRESS_MAX];
	int kn, vn;

	op->store_op = NULL;
	if (err != NULL && err->kind == KR_ERR_NOT_FOUND) {
		auth_finish(op,
			    KR_AUTH_UNAUTHORIZED); /* the user was deleted */
		return;
	}
	if (err != NULL) {
		op->err = *err;
		auth_finish(op, KR_AUTH_ERROR);
		return;
	}
	if (res->moved) {
		check_moved(op, res);
		return;
	}
	kn = check_cache_key(op, key, sizeof(key));
	vn = snprintf(val, sizeof(val), "%c%s", res->revoked ? '1' : '0',
		      res->address);
	if (vn > 0 && (size_t)vn < sizeof(val))
		kr_lru_put(op->auth->sessions, (int64_t)check_user_key(op), key,
			   (size_t)kn, val, (size_t)vn, op->gen,
			   kr_clock_mono_ms());
	auth_finish(op, check_outcome(op, res->revoked, res->address,
				      strlen(res->address)));
}

/* True when the check is cached; its outcome is then in op->status. */
static bool
check_cached(struct kr_auth_op *op)
{
	char key[8 + sizeof(op->claims.sid)];
	const char *val;
	size_t vlen;
	int kn = check_cache_key(op, key, sizeof(key));

	check_moved_get(op);
	op->gen = kr_genmap_get(op->auth->d.gens, check_user_key(op));
	if (!kr_lru_get(op->auth->sessions, key, (size_t)kn, op->gen,
			kr_clock_mono_ms(), KR_AUTH_SESSION_TTL_MS, &val,
			&vlen) ||
	    vlen < 1 || vlen > KR_ADDRESS_MAX + 1)
		return false;
	op->status = check_outcome(op, val[0] == '1', val + 1, vlen - 1);
	return true;
}

struct kr_auth_op *
kr_auth_check_begin(struct kr_auth *a, const char *token,
		    struct kr_deadline deadline, kr_auth_fn *cb, void *ctx)
{
	struct kr_auth_op *op = auth_op_new(a, AUTH_CHECK, cb, ctx);
	struct kr_err err;

	if (token == NULL ||
	    kr_token_verify_ring(&a->keys, token, strlen(token), auth_wall_s(),
				 &op->claims, &err) < 0)
		/* Claims are told only for an authentic, expired token. */
		return auth_later(op, op->claims.sid[0] != '\0'
					      ? KR_AUTH_EXPIRED
					      : KR_AUTH_UNAUTHORIZED);
	if (a->d.store == NULL)
		return auth_later_err(op, KR_ERR_TEMPORARY,
				      "no storage configured");
	/* Versions come from the database, which holds none this high: a
	 * token saying otherwise can match no user. */
	if (op->claims.password_version > KR_STORE_PASSWORD_VERSION_MAX)
		return auth_later(op, KR_AUTH_UNAUTHORIZED);
	if (check_cached(op))
		return auth_later(op, op->status);
	op->arena = kr_arena_create(4096, AUTH_ARENA_MAX, false);
	op->deadline = deadline;
	check_ask(op);
	return op;
}

/* ---- auth.login ------------------------------------------------- */

/* The attempt was no guess: its tokens go back. */
static void
login_undo(struct kr_auth_op *op)
{
	struct kr_auth *a = op->auth;
	struct auth_login *l = &op->login;
	int64_t now = kr_clock_mono_ms();

	if (l->took_user)
		kr_ratelimit_give_back(a->d.rl_user, l->ukey, strlen(l->ukey),
				       now);
	if (l->took_addr)
		kr_ratelimit_give_back(a->d.rl_addr, l->client.key,
				       strlen(l->client.key), now);
	l->took_user = l->took_addr = false;
}

/* One line per login decided: the address counted and where it came
 * from, never the password. */
static void
login_log(const struct kr_auth_op *op, enum kr_log_level level,
	  const char *result)
{
	const struct auth_login *l = &op->login;
	struct kr_log_line line;

	if (!kr_log_begin(&line, op->auth->d.log, level,
			  l->log_id[0] != '\0' ? l->log_id : NULL,
			  "auth.login"))
		return;
	kr_log_str(&line, "result", result);
	kr_log_str(&line, "user", l->name);
	kr_log_str(&line, "client",
		   l->client.addr[0] != '\0' ? l->client.addr : "-");
	kr_log_str(&line, "source", kr_client_source_name(l->client.source));
	kr_log_str(&line, "peer", l->peer);
	kr_log_end(&line);
}

/* The attempt ends before or without its check: tokens back, slot
 * free, password wiped. */
static void
login_abort(struct kr_auth_op *op, enum kr_auth_status status)
{
	login_undo(op);
	login_release(op);
	login_forget(&op->login);
	auth_finish(op, status);
}

static void
login_issue(struct kr_auth_op *op)
{
	struct kr_auth *a = op->auth;
	struct auth_login *l = &op->login;
	const struct kr_config *cfg = *a->d.cfg;

	/* A right password ends the user's run of failures; the address
	 * keeps its own (one valid account must not reset the bucket its
	 * owner guesses other accounts from), minus this attempt. */
	kr_ratelimit_forget(a->d.rl_user, l->ukey, strlen(l->ukey));
	l->took_user = false;
	login_undo(op);
	if (kr_token_issue(&a->keys.current, l->user.id, l->user.shard,
			   l->password_version, auth_wall_s(),
			   cfg->auth.session_ttl_ms / 1000, l->token,
			   sizeof(l->token), &op->claims, &op->err) < 0) {
		auth_finish(op, KR_AUTH_ERROR);
		return;
	}
	snprintf(op->session.address, sizeof(op->session.address), "%s",
		 l->user.address);
	op->session.shard = l->user.shard;
	op->session.user_id = l->user.id;
	memcpy(op->session.sid, op->claims.sid, sizeof(op->session.sid));
	op->session.expires_at = op->claims.expires_at;
	login_log(op, KR_LOG_INFO, "ok");
	auth_finish(op, KR_AUTH_OK);
}

static void
login_verify_work(void *ctx)
{
	struct auth_login *l = &((struct kr_auth_op *)ctx)->login;

	if (kr_password_verify(l->password, l->hash, &l->ok, &l->verify_err) <
	    0)
		l->ok = false;
}

static void
login_verified(void *ctx, int status)
{
	struct kr_auth_op *op = ctx;
	struct kr_auth *a = op->auth;

	op->job = NULL;
	if (status != 0) {
		login_abort(op, KR_AUTH_STOPPING);
		return;
	}
	login_release(op);
	login_forget(&op->login);
	kr_metrics_inc(a->d.slot, a->d.ids.password_checks);
	if (!op->login.known || !op->login.ok) {
		kr_metrics_inc(a->d.slot, a->d.ids.logins_failed);
		login_log(op, KR_LOG_INFO, "failed");
		auth_finish(op, KR_AUTH_BAD_CREDENTIALS);
		return;
	}
	login_issue(op);
}

/* The password check on the io pool, against res's hash or, for an
 * unknown user (res NULL), a dummy one. A failure to queue it answers
 * on the next loop turn: this may run inside kr_auth_login_begin. */
static void
login_check(struct kr_auth_op *op, const struct kr_store_user_auth_result *res)
{
	struct auth_login *l = &op->login;

	l->known = res != NULL;
	l->hash = l->known ? res->password_hash : auth_dummy_hash;
	if (l->known) {
		l->user = res->user;
		l->password_version = res->password_version;
	}
	if (kr_tpool_submit(op->auth->d.io, login_verify_work, login_verified,
			    op, &op->job, &op->err) < 0) {
		login_undo(op);
		login_release(op);
		login_forget(l);
		auth_later(op, KR_AUTH_ERROR);
	}
}

static void
login_on_user(void *ctx, const struct kr_store_user_auth_result *res,
	      const struct kr_err *err)
{
	struct kr_auth_op *op = ctx;

	op->store_op = NULL;
	if (err != NULL && err->kind != KR_ERR_NOT_FOUND) {
		op->err = *err;
		login_abort(op, KR_AUTH_ERROR);
		return;
	}
	login_check(op, err == NULL ? res : NULL);
}

/* Takes this attempt's tokens; false after arranging
 * KR_AUTH_RATE_LIMITED. */
static bool
login_take(struct kr_auth_op *op)
{
	struct kr_auth *a = op->auth;
	struct auth_login *l = &op->login;
	const char *akey = l->client.key;
	int64_t now = kr_clock_mono_ms(), wait = 0;

	l->took_user = kr_ratelimit_take(a->d.rl_user, l->ukey, strlen(l->ukey),
					 now, &wait);
	if (l->took_user && akey[0] != '\0')
		l->took_addr = kr_ratelimit_take(a->d.rl_addr, akey,
						 strlen(akey), now, &wait);
	if (l->took_user && (l->took_addr || akey[0] == '\0'))
		return true;
	login_undo(op);
	kr_metrics_inc(a->d.slot, a->d.ids.rate_limited);
	login_log(op, KR_LOG_DEBUG, "limited");
	op->retry_after_ms = wait;
	auth_later(op, KR_AUTH_RATE_LIMITED);
	return false;
}

/* Takes one of the worker's check slots; false after arranging
 * KR_AUTH_OVERLOADED (the io pool is shared with other work: a login
 * burst must not fill its queue). */
static bool
login_admit(struct kr_auth_op *op)
{
	struct kr_auth *a = op->auth;

	if (a->logins_running >= (*a->d.cfg)->auth.login_concurrency) {
		login_undo(op);
		login_log(op, KR_LOG_DEBUG, "busy");
		op->retry_after_ms = KR_AUTH_BUSY_RETRY_MS;
		auth_later(op, KR_AUTH_OVERLOADED);
		return false;
	}
	a->logins_running++;
	op->login.slot = true;
	return true;
}

static void
login_init(struct kr_auth_op *op, const struct kr_auth_login *in)
{
	struct auth_login *l = &op->login;
	const struct kr_config *cfg = *op->auth->d.cfg;
	const char *peer = in->peer != NULL ? in->peer : "";

	snprintf(l->name, sizeof(l->name), "%s", in->user);
	snprintf(l->ukey, sizeof(l->ukey), "u:%s", in->user);
	for (char *p = l->ukey; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	l->peer = kr_xstrdup(peer);
	if (in->log_id != NULL)
		snprintf(l->log_id, sizeof(l->log_id), "%s", in->log_id);
	kr_client_choose(&cfg->auth.trusted, peer, in->client_ip,
			 in->forwarded != NULL ? in->forwarded : "",
			 &l->client);
}

struct kr_auth_op *
kr_auth_login_begin(struct kr_auth *a, const struct kr_auth_login *in,
		    kr_auth_fn *cb, void *ctx)
{
	struct kr_auth_op *op = auth_op_new(a, AUTH_LOGIN, cb, ctx);
	char addr[KR_ADDRESS_MAX + 1];

	if (strlen(in->user) > KR_ADDRESS_MAX ||
	    strlen(in->password) > KR_PASSWORD_MAX)
		return auth_later_err(op, KR_ERR_PERMANENT,
				      "user or password too long");
	if (a->d.store == NULL)
		return auth_later_err(op, KR_ERR_TEMPORARY,
				      "no storage configured");
	login_init(op, in);
	if (!login_take(op) || !login_admit(op))
		return op;
	op->login.password = kr_xstrdup(in->password);
	/* No user has a name that is not an address (lib/address.h): an
	 * unknown user, after the same password check. */
	if (kr_address_normalize(op->login.name, strlen(op->login.name), addr,
				 sizeof(addr), NULL) < 0) {
		login_check(op, NULL);
		return op;
	}
	op->arena = kr_arena_create(4096, AUTH_ARENA_MAX, true);
	op->store_op = kr_store_user_auth_begin(
		a->d.store, addr, op->arena, in->deadline, login_on_user, op);
	return op;
}

/* ---- auth.logout ------------------------------------------------ */

static void
logout_on_revoked(void *ctx, const struct kr_err *err)
{
	struct kr_auth_op *op = ctx;

	op->store_op = NULL;
	if (err != NULL) {
		op->err = *err;
		auth_finish(op, KR_AUTH_ERROR);
		return;
	}
	/* The store bumped the user's generation, so this host's cached
	 * checks are stale now; other hosts' within KR_AUTH_SESSION_TTL_MS. */
	auth_finish(op, KR_AUTH_OK);
}

struct kr_auth_op *
kr_auth_logout_begin(struct kr_auth *a, const struct kr_auth_session *session,
		     struct kr_deadline deadline, kr_auth_fn *cb, void *ctx)
{
	struct kr_auth_op *op = auth_op_new(a, AUTH_LOGOUT, cb, ctx);
	struct kr_store_user user;

	if (a->d.store == NULL)
		return auth_later_err(op, KR_ERR_TEMPORARY,
				      "no storage configured");
	op->session = *session;
	user = kr_auth_session_user(&op->session);
	op->store_op = kr_store_session_revoke_begin(
		a->d.store, &user, op->session.sid, op->session.expires_at,
		deadline, logout_on_revoked, op);
	return op;
}

/* ---- create and destroy ----------------------------------------- */

static int
auth_keys(struct kr_auth *a, const struct kr_config *cfg, struct kr_err *err_r)
{
	const char *cur = cfg->auth.secret, *prev = cfg->auth.previous_secret;

	if (cur == NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "%s: [auth] secret is not set", cfg->path);
	if (kr_token_key_init(&a->keys.current, cur, strlen(cur), err_r) < 0)
		return -1;
	if (prev == NULL)
		return 0;
	a->keys.has_previous = true;
	return kr_token_key_init(&a->keys.previous, prev, strlen(prev), err_r);
}

struct kr_auth *
kr_auth_create(const struct kr_auth_deps *deps, struct kr_err *err_r)
{
	struct kr_auth *a = kr_xcalloc(1, sizeof(*a));

	a->d = *deps;
	a->sessions = kr_lru_create(AUTH_SESSION_CACHE_BYTES);
	if (auth_keys(a, *deps->cfg, err_r) < 0) {
		kr_auth_destroy(&a);
		return NULL;
	}
	return a;
}

void
kr_auth_destroy(struct kr_auth **ap)
{
	struct kr_auth *a = ap != NULL ? *ap : NULL;

	if (a == NULL)
		return;
	kr_assert(a->n_ops == 0);
	kr_token_keyring_wipe(&a->keys);
	kr_lru_destroy(&a->sessions);
	free(a);
	*ap = NULL;
}
