/* cmocka tests for server/auth/auth.h, with no JSON anywhere: the
 * session check, login and logout as statuses.
 *
 * Group "auth": no store (the token checks, what is refused before the
 * store is asked, cancel, the "never before begin returns" contract).
 * Group "auth_store": a real cluster through store_env.h, skipped
 * unless KR_TEST_PG_CONF names a kurier.conf written by ops/pgcluster
 * (tests/integration/test_auth.sh sets it): logins and the limiters of
 * issue 13 (charged before hashing, atomic under concurrency, /64 keys,
 * trusted peers, the unknown user's cost, login_concurrency), the
 * session cache and its generation, password changes, logout, a user
 * moved to another shard, and the event=auth.login log line. Users are
 * named with a fresh tag, so a cluster can be reused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/cidr.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/genmap.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/tpool.h"
#include "server/auth/auth.h"
#include "server/auth/password.h"
#include "server/auth/ratelimit.h"
#include "server/auth/token.h"
#include <libpq-fe.h>

#include "storage/connmgr.h"
#include "storage/shardmap.h"
#include "storage/store.h"

#define WAIT_MS 20000
#define OP_MS 10000

#include "store_env.h"

#define SECRET "kurier-test-auth-current-secret-0123456789"
#define SECRET_OLD "kurier-test-auth-previous-secret-012345678"
#define SECRET_OTHER "kurier-test-auth-someone-elses-secret-0123"
#define USER_BURST 3
#define ADDR_BURST 4
#define PER_MINUTE 1
#define TTL_S 3600
#define TRUSTED "127.0.0.1"
#define UNTRUSTED "192.0.2.9"
/* SHA512-CRYPT of "pw" and "pw2" (openssl passwd -6): cheap to check,
 * so the tests spend their time on what they test. */
#define HASH_PW                                                             \
	"{SHA512-CRYPT}$6$kuriertestsalt$tKoqqep7t2pOjA1/g7QHYfRVCvknoU81a" \
	"ruYKtP5yx0.wY4EonhNCyL21zgKp.qwaYJJsk7YBBzoFE.KyHn2o0"
#define HASH_PW2                                                            \
	"{SHA512-CRYPT}$6$kuriertestsalt$3odHvY7OmbNGWkxDrrxFgpIgwKAfffo16" \
	"/0RVYTV09jEiVZYEAXOkChH8a8t6ByhlQO0smacJOuJ5cTdnufCF/"
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

REC_FN(rec_user_create, struct kr_store_user_create_result)

/* What the auth needs besides the store's environment. */
struct t {
	struct env *e;
	bool own_env; /* no cluster: e is ours, without a store */
	struct kr_ratelimit *rl_user, *rl_addr;
	struct kr_metrics *metrics;
	struct kr_metrics_slot *slot;
	struct kr_auth_metric_ids ids;
	struct kr_log *log;
	int log_fd;
	char log_path[64];
	struct kr_auth *auth;
	bool in_begin; /* a callback now would break the contract */
};

/* One operation's answer, copied out of the callback. */
struct ans {
	struct t *t;
	int calls;
	enum kr_auth_status status;
	struct kr_err err;
	int64_t retry_after_ms;
	bool has_session;
	struct kr_auth_session session;
	char token[KR_TOKEN_SIZE];
	struct kr_auth_op **cancel_self; /* cancel this from the callback */
};

/* ---- set-up ---------------------------------------------------------- */

static void
conf_auth(FILE *fp, bool with_secret)
{
	fprintf(fp,
		"[auth]\n%s"
		"user_burst = %d\nuser_per_minute = %d\n"
		"addr_burst = %d\naddr_per_minute = %d\n"
		"trusted = 127.0.0.0/8 ::1\nsession_ttl = %ds\n",
		with_secret ? "secret = " SECRET
			      "\nprevious_secret = " SECRET_OLD "\n"
			    : "",
		USER_BURST, PER_MINUTE, ADDR_BURST, PER_MINUTE, TTL_S);
}

/* A config at e->path: [auth] (secret or not), and the cluster's shards
 * (their primaries only) when src is given. */
static void
conf_write(struct env *e, bool with_cluster, bool with_secret)
{
	FILE *fp = conf_env_open(e->path, sizeof(e->path),
				 "/tmp/kr-test-auth-XXXXXX");

	fprintf(fp, "[log]\nlevel = error\n");
	conf_auth(fp, with_secret);
	if (with_cluster) {
		fprintf(fp, "[storage]\npool_high = 8\nquery_timeout = 10s\n");
		conf_env_shards(fp, -1);
	}
	conf_env_close(fp);
}

static int
metric(struct kr_metrics *m, const char *name, struct kr_err *err)
{
	const struct kr_metric_desc d = { name, "", name, KR_METRIC_COUNTER,
					  1 };

	return kr_metrics_define(m, &d, err);
}

static void
t_metrics(struct t *t)
{
	struct kr_err err;

	t->metrics = kr_metrics_create();
	t->ids.logins_failed = metric(t->metrics, "failed", &err);
	t->ids.rate_limited = metric(t->metrics, "limited", &err);
	t->ids.password_checks = metric(t->metrics, "checks", &err);
	assert_true(t->ids.logins_failed >= 0 && t->ids.rate_limited >= 0 &&
		    t->ids.password_checks >= 0);
	assert_int_equal(kr_metrics_map(t->metrics, 1, &err), 0);
	t->slot = kr_metrics_slot(t->metrics, 0);
	kr_metrics_slot_claim(t->slot, getpid(), 0);
}

static struct kr_auth_deps
t_deps(struct t *t)
{
	return (struct kr_auth_deps){
		.base = t->e->base,
		.io = t->e->io,
		.store = t->e->store,
		.gens = t->e->gens, /* the store's: its writes move them */
		.rl_user = t->rl_user,
		.rl_addr = t->rl_addr,
		.cfg = &t->e->cfg,
		.log = t->log,
		.slot = t->slot,
		.ids = t->ids,
	};
}

/* The auth and what it borrows, on e (its loop, pools, config, store). */
static void
t_start(struct t *t)
{
	const struct kr_config *cfg = t->e->cfg;
	struct kr_ratelimit_conf user = { cfg->auth.user_burst,
					  cfg->auth.user_per_minute,
					  cfg->auth.limiter_keys };
	struct kr_ratelimit_conf addr = { cfg->auth.addr_burst,
					  cfg->auth.addr_per_minute,
					  cfg->auth.limiter_keys };
	struct kr_auth_deps deps;
	struct kr_err err;

	t->rl_user = kr_ratelimit_create(&user);
	t->rl_addr = kr_ratelimit_create(&addr);
	assert_non_null(t->rl_user);
	assert_non_null(t->rl_addr);
	t_metrics(t);
	snprintf(t->log_path, sizeof(t->log_path),
		 "/tmp/kr-test-auth-log-XXXXXX");
	t->log_fd = mkstemp(t->log_path);
	assert_true(t->log_fd >= 0);
	t->log = kr_log_create(t->log_fd, KR_LOG_DEBUG, "test");
	deps = t_deps(t);
	t->auth = kr_auth_create(&deps, &err);
	if (t->auth == NULL)
		fail_msg("kr_auth_create: %s", err.msg);
}

/* Without a cluster: a loop, an io pool and a config; no store. */
static int
plain_setup(void **state)
{
	struct kr_tpool_settings io = { "io", 2, 64, 0 };
	struct t *t = kr_xcalloc(1, sizeof(*t));
	struct kr_err err;

	t->e = kr_xcalloc(1, sizeof(*t->e));
	t->own_env = true;
	conf_write(t->e, false, true);
	assert_int_equal(kr_config_load(t->e->path, &t->e->cfg, &err), 0);
	t->e->base = event_base_new();
	t->e->io = kr_tpool_create(t->e->base, &io);
	t->e->gens = kr_genmap_create(KR_GENMAP_SLOTS_MIN, &err);
	assert_non_null(t->e->gens);
	t_start(t);
	*state = t;
	return 0;
}

static int
store_setup(void **state)
{
	struct t *t;

	*state = NULL;
	if (getenv("KR_TEST_PG_CONF") == NULL)
		return 0;
	t = kr_xcalloc(1, sizeof(*t));
	t->e = kr_xcalloc(1, sizeof(*t->e));
	conf_write(t->e, true, true);
	env_start(t->e, "a");
	t_start(t);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;

	if (t == NULL)
		return 0;
	assert_int_equal(kr_auth_pending(t->auth), 0);
	kr_auth_destroy(&t->auth);
	assert_null(t->auth);
	kr_log_destroy(&t->log);
	close(t->log_fd);
	unlink(t->log_path);
	kr_metrics_destroy(&t->metrics);
	kr_ratelimit_destroy(&t->rl_user);
	kr_ratelimit_destroy(&t->rl_addr);
	if (!t->own_env) {
		void *e = t->e;

		env_teardown(&e);
	} else {
		kr_tpool_destroy(&t->e->io);
		kr_genmap_destroy(&t->e->gens);
		event_base_free(t->e->base);
		kr_config_destroy(&t->e->cfg);
		unlink(t->e->path);
		free(t->e);
	}
	free(t);
	return 0;
}

/* Each cluster test gets a fresh arena for the store's results. */
static int
t_setup(void **state)
{
	struct t *t = *state;

	return t != NULL ? test_setup((void **)&t->e) : 0;
}

static int
t_teardown(void **state)
{
	struct t *t = *state;

	return t != NULL ? test_teardown((void **)&t->e) : 0;
}

/* ---- running operations ------------------------------------------------ */

static void
on_ans(void *ctx, const struct kr_auth_result *res)
{
	struct ans *a = ctx;

	assert_false(a->t->in_begin);
	a->calls++;
	a->status = res->status;
	a->retry_after_ms = res->retry_after_ms;
	kr_err_clear(&a->err);
	assert_true((res->err != NULL) == (res->status == KR_AUTH_ERROR));
	if (res->err != NULL)
		a->err = *res->err;
	a->has_session = res->session != NULL;
	if (res->session != NULL)
		a->session = *res->session;
	if (res->token != NULL)
		snprintf(a->token, sizeof(a->token), "%s", res->token);
	if (a->cancel_self != NULL)
		kr_auth_cancel(a->cancel_self); /* must be harmless */
}

/* Runs the loop until every answer in a[0..n) came, bounded; then a
 * little longer, so a second answer would show. */
static void
wait_ans(struct t *t, struct ans *a, size_t n)
{
	int64_t end = kr_clock_mono_ms() + WAIT_MS;

	for (;;) {
		size_t done = 0;
		struct timeval tick = { 0, 5000 };

		for (size_t i = 0; i < n; i++)
			done += a[i].calls > 0;
		if (done == n || kr_clock_mono_ms() > end)
			break;
		event_base_loopexit(t->e->base, &tick);
		event_base_loop(t->e->base, EVLOOP_ONCE);
	}
	event_base_loop(t->e->base, EVLOOP_NONBLOCK);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(a[i].calls, 1);
	assert_int_equal(kr_auth_pending(t->auth), 0);
}

static void
ans_init(struct t *t, struct ans *a)
{
	memset(a, 0, sizeof(*a));
	a->t = t;
}

static struct kr_auth_op *
check_begin(struct t *t, struct ans *a, const char *token)
{
	struct kr_auth_op *op;

	ans_init(t, a);
	t->in_begin = true;
	op = kr_auth_check_begin(t->auth, token, dl(), on_ans, a);
	t->in_begin = false;
	assert_non_null(op);
	return op;
}

static struct ans
check(struct t *t, const char *token)
{
	struct ans a;

	check_begin(t, &a, token);
	wait_ans(t, &a, 1);
	return a;
}

struct attempt {
	const char *user, *password, *peer, *client_ip, *forwarded;
};

static struct kr_auth_op *
login_begin(struct t *t, struct ans *a, const struct attempt *at)
{
	const struct kr_auth_login in = {
		.user = at->user,
		.password = at->password,
		.peer = at->peer != NULL ? at->peer : TRUSTED,
		.client_ip = at->client_ip,
		.forwarded = at->forwarded,
		.log_id = "t-1",
		.deadline = dl(),
	};
	struct kr_auth_op *op;

	ans_init(t, a);
	t->in_begin = true;
	op = kr_auth_login_begin(t->auth, &in, on_ans, a);
	t->in_begin = false;
	assert_non_null(op);
	return op;
}

static struct ans
login_at(struct t *t, const struct attempt *at)
{
	struct ans a;

	login_begin(t, &a, at);
	wait_ans(t, &a, 1);
	return a;
}

/* From the trusted peer, naming no client: counted per user only. */
static struct ans
login(struct t *t, const char *user, const char *password)
{
	const struct attempt at = { user, password, NULL, NULL, NULL };

	return login_at(t, &at);
}

static struct ans
logout(struct t *t, const struct kr_auth_session *s)
{
	struct ans a;

	ans_init(t, &a);
	t->in_begin = true;
	assert_non_null(kr_auth_logout_begin(t->auth, s, dl(), on_ans, &a));
	t->in_begin = false;
	wait_ans(t, &a, 1);
	return a;
}

static void
want(const struct ans *a, enum kr_auth_status status, const char *what)
{
	if (a->status != status)
		fail_msg("%s: status %d, wanted %d (%s)", what, a->status,
			 status, a->err.msg);
}

static int64_t
counter(struct t *t, int id)
{
	struct kr_metric_value v;

	kr_metrics_read_slot(t->slot, id, &v);
	return v.value;
}

/* Whether the log holds a line with every one of the given texts. */
static bool
log_has(struct t *t, const char *a, const char *b)
{
	char buf[1 << 16];
	ssize_t n = pread(t->log_fd, buf, sizeof(buf) - 1, 0);
	char *line, *save = NULL;

	assert_true(n >= 0);
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		if (strstr(line, a) != NULL && (b == NULL || strstr(line, b)))
			return true;
	return false;
}

/* ---- tokens ------------------------------------------------------------ */

static void
token_make(char *out, const char *secret, int64_t user, uint32_t pwv,
	   int64_t now, int64_t ttl)
{
	struct kr_token_key key;
	struct kr_err err;

	if (kr_token_key_init(&key, secret, strlen(secret), &err) < 0 ||
	    kr_token_issue(&key, user, 0, pwv, now, ttl, out, KR_TOKEN_SIZE,
			   NULL, &err) < 0)
		fail_msg("token: %s", err.msg);
	kr_token_key_wipe(&key);
}

static int64_t
wall_s(void)
{
	return kr_clock_wall_ms() / 1000;
}

/* ---- without a store --------------------------------------------------- */

static void
test_auth_create_needs_secret(void **state)
{
	struct t *t = *state;
	struct kr_auth_deps deps = t_deps(t);
	struct kr_config *cfg = NULL;
	struct env e = { 0 };
	struct kr_err err;

	conf_write(&e, false, false);
	assert_int_equal(kr_config_load(e.path, &cfg, &err), 0);
	deps.cfg = &cfg;
	assert_null(kr_auth_create(&deps, &err));
	assert_int_equal(err.kind, KR_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "[auth] secret"));
	kr_config_destroy(&cfg);
	unlink(e.path);
	kr_auth_destroy(NULL);
}

/* Tokens that are not ours, or no longer valid, never reach the store;
 * an expired one is told apart from the rest. Ours, under either
 * secret, would ask the store, which is not there. */
static void
test_auth_check_tokens(void **state)
{
	struct t *t = *state;
	char good[KR_TOKEN_SIZE], old[KR_TOKEN_SIZE], other[KR_TOKEN_SIZE];
	char expired[KR_TOKEN_SIZE], tampered[KR_TOKEN_SIZE];
	char truncated[KR_TOKEN_SIZE];
	const struct {
		const char *what, *token;
		enum kr_auth_status status;
	} cases[] = {
		{ "none", NULL, KR_AUTH_UNAUTHORIZED },
		{ "empty", "", KR_AUTH_UNAUTHORIZED },
		{ "garbage", "garbage", KR_AUTH_UNAUTHORIZED },
		{ "other secret", other, KR_AUTH_UNAUTHORIZED },
		{ "tampered", tampered, KR_AUTH_UNAUTHORIZED },
		{ "truncated", truncated, KR_AUTH_UNAUTHORIZED },
		{ "expired", expired, KR_AUTH_EXPIRED },
		{ "current secret", good, KR_AUTH_ERROR },
		{ "previous secret", old, KR_AUTH_ERROR },
	};

	token_make(good, SECRET, 42, 0, wall_s(), TTL_S);
	token_make(old, SECRET_OLD, 42, 0, wall_s(), TTL_S);
	token_make(other, SECRET_OTHER, 42, 0, wall_s(), TTL_S);
	/* Issued two hours ago for one minute. */
	token_make(expired, SECRET, 42, 0, wall_s() - 7200, 60);
	memcpy(tampered, good, sizeof(good));
	tampered[12] = good[12] == 'A' ? 'B' : 'A';
	snprintf(truncated, sizeof(truncated), "%.*s", KR_TOKEN_LEN - 1, good);
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct ans a = check(t, cases[i].token);

		want(&a, cases[i].status, cases[i].what);
		assert_int_equal(a.has_session, false);
		if (cases[i].status == KR_AUTH_ERROR)
			assert_int_equal(a.err.kind, KR_ERR_TEMPORARY);
	}
}

/* What a login is refused for before the store or the limiters: a
 * user or password over its limit (at the limit passes on to the
 * missing store), and no store at all. No limiter token is taken. */
static void
test_auth_login_refused_early(void **state)
{
	struct t *t = *state;
	char user[KR_ADDRESS_MAX + 2], pass[KR_PASSWORD_MAX + 2];
	struct ans a;

	memset(user, 'u', sizeof(user));
	memset(pass, 'p', sizeof(pass));
	user[KR_ADDRESS_MAX + 1] = pass[KR_PASSWORD_MAX + 1] = '\0';
	a = login(t, user, "pw");
	want(&a, KR_AUTH_ERROR, "user over the limit");
	assert_int_equal(a.err.kind, KR_ERR_PERMANENT);
	a = login(t, "u@example.org", pass);
	want(&a, KR_AUTH_ERROR, "password over the limit");
	assert_int_equal(a.err.kind, KR_ERR_PERMANENT);
	user[KR_ADDRESS_MAX] = pass[KR_PASSWORD_MAX] = '\0';
	a = login(t, user, pass);
	want(&a, KR_AUTH_ERROR, "at the limits, no store");
	assert_int_equal(a.err.kind, KR_ERR_TEMPORARY);
	assert_int_equal(kr_ratelimit_size(t->rl_user), 0);
	assert_int_equal(kr_ratelimit_size(t->rl_addr), 0);
	assert_int_equal(counter(t, t->ids.password_checks), 0);
	/* Nothing decided, so nothing logged. */
	assert_false(log_has(t, "event=auth.login", NULL));
}

static void
test_auth_logout_without_store(void **state)
{
	struct t *t = *state;
	struct kr_auth_session s = { .shard = 0, .user_id = 1 };
	struct ans a = logout(t, &s);

	want(&a, KR_AUTH_ERROR, "logout");
	assert_int_equal(a.err.kind, KR_ERR_TEMPORARY);
}

/* After cancel no callback comes, whenever it is called; from inside
 * its own callback it is harmless. */
static void
test_auth_cancel(void **state)
{
	struct t *t = *state;
	const struct attempt at = { "u@example.org", "pw", NULL, NULL, NULL };
	struct kr_auth_op *op;
	struct ans a, b;

	op = check_begin(t, &a, "garbage");
	kr_auth_cancel(&op);
	assert_null(op);
	kr_auth_cancel(&op);
	op = login_begin(t, &b, &at);
	kr_auth_cancel(&op);
	assert_int_equal(kr_auth_pending(t->auth), 0);
	for (int i = 0; i < 5; i++)
		event_base_loop(t->e->base, EVLOOP_NONBLOCK);
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 0);

	op = check_begin(t, &a, "garbage");
	a.cancel_self = &op;
	wait_ans(t, &a, 1);
	assert_null(op);
	want(&a, KR_AUTH_UNAUTHORIZED, "cancelled from its callback");
}

/* ---- against a cluster ------------------------------------------------- */

static unsigned user_seq;

/* A new user with password "pw" (mixed case on purpose); its address
 * as typed into out. */
static struct kr_store_user
user_new(struct t *t, const char *who, char *out, size_t size)
{
	const struct kr_store_user_create_result *c;
	struct env *e = t->e;
	struct rec r;

	snprintf(out, size, "%s.%u.%s@Test.Example", who, user_seq++, e->tag);
	RUN(e, r,
	    kr_store_user_create_begin(e->store, out, HASH_PW, 0, e->arena,
				       dl(), rec_user_create, &r));
	OK(r);
	c = r.res;
	return c->user;
}

/* A login in any case of the address; the session it opens checks.
 * The check is cached: a revocation written behind the auth's back is
 * not seen until the user's generation moves. */
static void
test_auth_login_and_check(void **state)
{
	struct t *t = *state;
	struct env *e = t != NULL ? t->e : NULL;
	char addr[128], line[256];
	struct kr_store_user u;
	struct kr_store *other;
	int64_t before = wall_s(), checks;
	struct ans a, c;
	struct rec r;

	NEED_CLUSTER(state);
	u = user_new(t, "Login", addr, sizeof(addr));
	checks = counter(t, t->ids.password_checks);
	a = login(t, addr, "pw");
	want(&a, KR_AUTH_OK, "login");
	assert_true(a.has_session);
	assert_int_equal(strlen(a.token), KR_TOKEN_LEN);
	assert_string_equal(a.session.address, u.address);
	assert_int_equal(a.session.user_id, u.id);
	assert_int_equal(a.session.shard, u.shard);
	assert_int_equal(strlen(a.session.sid), 2 * KR_TOKEN_SID_BYTES);
	assert_true(a.session.expires_at >= before + TTL_S &&
		    a.session.expires_at <= wall_s() + TTL_S);
	assert_int_equal(counter(t, t->ids.password_checks), checks + 1);
	snprintf(line, sizeof(line),
		 "event=auth.login result=ok user=%s client=- source=none "
		 "peer=" TRUSTED,
		 addr);
	assert_true(log_has(t, line, NULL));

	c = check(t, a.token);
	want(&c, KR_AUTH_OK, "check");
	assert_memory_equal(&c.session, &a.session, sizeof(c.session));
	/* Revoked through another host's store: this host's generations
	 * do not move, so the cached check is served until they do. */
	other = kr_store_create(e->base, e->mgr, e->map, e->cpu, NULL, e->cfg,
				e->log);
	RUN(e, r,
	    kr_store_session_revoke_begin(other, &u, a.session.sid,
					  a.session.expires_at, dl(), rec_done,
					  &r));
	OK(r);
	kr_store_destroy(&other);
	c = check(t, a.token);
	want(&c, KR_AUTH_OK, "cached check");
	kr_genmap_bump(e->gens, kr_store_user_key(u.shard, u.id));
	c = check(t, a.token);
	want(&c, KR_AUTH_REVOKED, "generation moved");
}

/* A wrong password, an unknown user and a name that is no address: the
 * same answer, and each costs one password check (the unknown ones'
 * against a dummy hash). */
static void
test_auth_wrong_and_unknown(void **state)
{
	struct t *t = *state;
	char addr[128], unknown[160];
	int64_t checks, failed;
	struct ans a;

	NEED_CLUSTER(state);
	user_new(t, "Wrong", addr, sizeof(addr));
	snprintf(unknown, sizeof(unknown), "nobody.%s", addr);
	checks = counter(t, t->ids.password_checks);
	failed = counter(t, t->ids.logins_failed);
	a = login(t, addr, "not-pw");
	want(&a, KR_AUTH_BAD_CREDENTIALS, "wrong password");
	a = login(t, unknown, "pw");
	want(&a, KR_AUTH_BAD_CREDENTIALS, "unknown user");
	/* A name that is no address is unknown without asking the store,
	 * at the same cost. */
	a = login(t, "no address", "pw");
	want(&a, KR_AUTH_BAD_CREDENTIALS, "not an address");
	assert_int_equal(counter(t, t->ids.password_checks), checks + 3);
	assert_int_equal(counter(t, t->ids.logins_failed), failed + 3);
	assert_true(log_has(t, "event=auth.login result=failed", unknown));
	/* The password is never logged. */
	assert_false(log_has(t, "not-pw", NULL));
}

/* Issue 13: 20 wrong logins at once for one user cost exactly the
 * burst in password checks; the others are refused before hashing,
 * with the time until a token is back. Then the right password is
 * refused too: the bucket is empty. */
static void
test_auth_limiter_before_hashing(void **state)
{
	struct t *t = *state;
	struct ans a[20];
	char addr[128];
	int64_t checks, limited;
	unsigned bad = 0, lim = 0;
	struct ans r;

	NEED_CLUSTER(state);
	user_new(t, "Limit", addr, sizeof(addr));
	t->e->cfg->auth.login_concurrency = 32; /* none refused as busy */
	checks = counter(t, t->ids.password_checks);
	limited = counter(t, t->ids.rate_limited);
	for (size_t i = 0; i < N_OF(a); i++) {
		const struct attempt at = { addr, "wrong", NULL, NULL, NULL };

		login_begin(t, &a[i], &at);
	}
	wait_ans(t, a, N_OF(a));
	for (size_t i = 0; i < N_OF(a); i++) {
		if (a[i].status == KR_AUTH_BAD_CREDENTIALS) {
			bad++;
			continue;
		}
		want(&a[i], KR_AUTH_RATE_LIMITED, "over the burst");
		assert_true(a[i].retry_after_ms >= 1 &&
			    a[i].retry_after_ms <= 60000 / PER_MINUTE);
		lim++;
	}
	assert_int_equal(bad, USER_BURST);
	assert_int_equal(lim, N_OF(a) - USER_BURST);
	assert_int_equal(counter(t, t->ids.password_checks),
			 checks + USER_BURST);
	assert_int_equal(counter(t, t->ids.rate_limited),
			 limited + (int64_t)lim);
	r = login(t, addr, "pw");
	want(&r, KR_AUTH_RATE_LIMITED, "right password, empty bucket");
	assert_true(log_has(t, "event=auth.login result=limited", addr));
	t->e->cfg->auth.login_concurrency = KR_AUTH_LOGIN_CONCURRENCY_DEFAULT;
}

/* A right password ends the user's run of failures. */
static void
test_auth_success_forgets_failures(void **state)
{
	struct t *t = *state;
	char addr[128];
	struct ans a;

	NEED_CLUSTER(state);
	user_new(t, "Forget", addr, sizeof(addr));
	for (int i = 0; i < USER_BURST - 1; i++) {
		a = login(t, addr, "wrong");
		want(&a, KR_AUTH_BAD_CREDENTIALS, "wrong");
	}
	a = login(t, addr, "pw");
	want(&a, KR_AUTH_OK, "right");
	for (int i = 0; i < USER_BURST; i++) {
		a = login(t, addr, "wrong");
		want(&a, KR_AUTH_BAD_CREDENTIALS, "wrong again");
	}
	a = login(t, addr, "wrong");
	want(&a, KR_AUTH_RATE_LIMITED, "burst used up");
}

/* Which address counts: a trusted peer's client_ip (IPv6 by its /64),
 * else its X-Forwarded-For; an untrusted peer is itself, whatever it
 * claims. Each decided login's log line says which. */
static void
test_auth_client_address(void **state)
{
	static const char *const same64[] = {
		"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3",
		"2001:db8:1:2::4", "2001:db8:1:2::ff"
	};
	struct t *t = *state;
	char addr[N_OF(same64) + 1][128], key[KR_CIDR_KEY_MAX];
	struct ans a;

	NEED_CLUSTER(state);
	assert_int_equal(N_OF(same64), ADDR_BURST + 1);
	for (size_t i = 0; i < N_OF(addr); i++)
		user_new(t, "Client", addr[i], sizeof(addr[i]));
	/* Each user once (their own buckets stay full): the /64 runs dry
	 * after ADDR_BURST wrong guesses, from whichever of its hosts. */
	for (size_t i = 0; i < N_OF(same64); i++) {
		const struct attempt at = { addr[i], "wrong", TRUSTED,
					    same64[i], NULL };

		a = login_at(t, &at);
		want(&a,
		     i < ADDR_BURST ? KR_AUTH_BAD_CREDENTIALS
				    : KR_AUTH_RATE_LIMITED,
		     same64[i]);
	}
	assert_true(kr_cidr_client_key(same64[0], key) > 0);
	assert_false(kr_ratelimit_check(t->rl_addr, key, strlen(key),
					kr_clock_mono_ms(), NULL));
	assert_true(log_has(t, "client=2001:db8:1:2::1 source=client_ip",
			    "peer=" TRUSTED));
	{
		/* Another /64 has its own bucket. */
		const struct attempt at = { addr[N_OF(same64)], "wrong",
					    TRUSTED, "2001:db8:1:3::1", NULL };

		a = login_at(t, &at);
		want(&a, KR_AUTH_BAD_CREDENTIALS, "another /64");
	}
	{
		const struct attempt at = { addr[N_OF(same64)], "pw", TRUSTED,
					    NULL, "203.0.113.5" };

		a = login_at(t, &at);
		want(&a, KR_AUTH_OK, "forwarded");
		assert_true(log_has(t, "client=203.0.113.5 source=forwarded",
				    addr[N_OF(same64)]));
	}
	{
		const struct attempt at = { addr[N_OF(same64)], "pw", UNTRUSTED,
					    "198.51.100.1", "203.0.113.5" };

		a = login_at(t, &at);
		want(&a, KR_AUTH_OK, "untrusted peer");
		assert_true(log_has(t,
				    "client=" UNTRUSTED " source=peer "
				    "peer=" UNTRUSTED,
				    addr[N_OF(same64)]));
	}
}

/* [auth] login_concurrency, read at each login: extra logins are
 * refused at once and give their limiter tokens back. */
static void
test_auth_login_concurrency(void **state)
{
	struct t *t = *state;
	char addr[3][128];
	struct ans a[3], r;

	NEED_CLUSTER(state);
	for (size_t i = 0; i < N_OF(addr); i++)
		user_new(t, "Busy", addr[i], sizeof(addr[i]));
	t->e->cfg->auth.login_concurrency = 1;
	for (size_t i = 0; i < N_OF(a); i++) {
		const struct attempt at = { addr[i], "wrong", NULL, NULL,
					    NULL };

		login_begin(t, &a[i], &at);
	}
	wait_ans(t, a, N_OF(a));
	want(&a[0], KR_AUTH_BAD_CREDENTIALS, "admitted");
	for (size_t i = 1; i < N_OF(a); i++) {
		want(&a[i], KR_AUTH_OVERLOADED, "busy");
		assert_int_equal(a[i].retry_after_ms, KR_AUTH_BUSY_RETRY_MS);
	}
	/* Only the checked attempt keeps its token: the first user has one
	 * guess fewer left, the second a whole burst. */
	for (int i = 0; i < USER_BURST; i++) {
		r = login(t, addr[0], "wrong");
		want(&r,
		     i < USER_BURST - 1 ? KR_AUTH_BAD_CREDENTIALS
					: KR_AUTH_RATE_LIMITED,
		     "first user");
		r = login(t, addr[1], "wrong");
		want(&r, KR_AUTH_BAD_CREDENTIALS, "second user");
	}
	t->e->cfg->auth.login_concurrency = KR_AUTH_LOGIN_CONCURRENCY_DEFAULT;
}

/* A login cancelled while the store is asked frees its check slot; the
 * token it took stays taken (its guess may have been checked). */
static void
test_auth_cancel_login(void **state)
{
	struct t *t = *state;
	char addr[128];
	struct kr_auth_op *op;
	struct ans a;

	NEED_CLUSTER(state);
	user_new(t, "Cancel", addr, sizeof(addr));
	t->e->cfg->auth.login_concurrency = 1;
	{
		const struct attempt at = { addr, "wrong", NULL, NULL, NULL };

		op = login_begin(t, &a, &at);
	}
	kr_auth_cancel(&op);
	spin(t->e, 50);
	assert_int_equal(a.calls, 0);
	/* Never busy: the slot is free again. One guess fewer left. */
	for (int i = 0; i < USER_BURST; i++) {
		a = login(t, addr, "wrong");
		want(&a,
		     i < USER_BURST - 1 ? KR_AUTH_BAD_CREDENTIALS
					: KR_AUTH_RATE_LIMITED,
		     "after the cancel");
	}
	t->e->cfg->auth.login_concurrency = KR_AUTH_LOGIN_CONCURRENCY_DEFAULT;
}

/* A password change ends the sessions issued before it (once the
 * cached check is older than KR_AUTH_SESSION_TTL_MS); the new password
 * logs in. */
static void
test_auth_password_change(void **state)
{
	struct t *t = *state;
	struct env *e = t != NULL ? t->e : NULL;
	char addr[128];
	struct ans a, c;
	struct rec r;

	NEED_CLUSTER(state);
	user_new(t, "Passwd", addr, sizeof(addr));
	a = login(t, addr, "pw");
	want(&a, KR_AUTH_OK, "login");
	c = check(t, a.token);
	want(&c, KR_AUTH_OK, "check");
	RUN(e, r,
	    kr_store_user_set_password_begin(e->store, addr, HASH_PW2, dl(),
					     rec_done, &r));
	OK(r);
	spin(t->e, KR_AUTH_SESSION_TTL_MS + 100);
	c = check(t, a.token);
	want(&c, KR_AUTH_REVOKED, "after the change");
	a = login(t, addr, "pw");
	want(&a, KR_AUTH_BAD_CREDENTIALS, "old password");
	a = login(t, addr, "pw2");
	want(&a, KR_AUTH_OK, "new password");
	c = check(t, a.token);
	want(&c, KR_AUTH_OK, "new session");
}

/* Logout revokes the session at once on this host: the cached check
 * goes stale with the user's generation. Twice is fine. */
static void
test_auth_logout(void **state)
{
	struct t *t = *state;
	char addr[128], other[KR_TOKEN_SIZE];
	struct ans a, b, c;

	NEED_CLUSTER(state);
	user_new(t, "Logout", addr, sizeof(addr));
	a = login(t, addr, "pw");
	b = login(t, addr, "pw");
	want(&a, KR_AUTH_OK, "login");
	want(&b, KR_AUTH_OK, "second login");
	memcpy(other, b.token, sizeof(other));
	c = check(t, a.token);
	want(&c, KR_AUTH_OK, "check");
	c = logout(t, &c.session);
	want(&c, KR_AUTH_OK, "logout");
	assert_false(c.has_session);
	c = check(t, a.token);
	want(&c, KR_AUTH_REVOKED, "after logout");
	/* The user's other session lives on. */
	c = check(t, other);
	want(&c, KR_AUTH_OK, "other session");
	c = logout(t, &a.session);
	want(&c, KR_AUTH_OK, "logout again");
}

/* A deleted user's session is over; a token for a password version the
 * database cannot hold matches no user. */
static void
test_auth_user_gone(void **state)
{
	struct t *t = *state;
	struct env *e = t != NULL ? t->e : NULL;
	char addr[128], token[KR_TOKEN_SIZE];
	struct kr_store_user u;
	struct ans a, c;
	struct rec r;

	NEED_CLUSTER(state);
	u = user_new(t, "Gone", addr, sizeof(addr));
	a = login(t, addr, "pw");
	want(&a, KR_AUTH_OK, "login");
	RUN(e, r,
	    kr_store_user_delete_begin(e->store, addr, dl(), rec_done, &r));
	OK(r);
	c = check(t, a.token);
	want(&c, KR_AUTH_UNAUTHORIZED, "deleted user");
	token_make(token, SECRET, u.id, KR_STORE_PASSWORD_VERSION_MAX + 1,
		   wall_s(), TTL_S);
	c = check(t, token);
	want(&c, KR_AUTH_UNAUTHORIZED, "version out of range");
}

/* The first value of sql (params $1, $2, $3) on shard's primary,
 * malloc'd. */
static char *
sql_on(struct env *e, unsigned shard, const char *sql, const char *p1,
       const char *p2, const char *p3)
{
	const char *values[] = { p1, p2, p3 };
	PGconn *pg = PQconnectdb(e->cfg->shards[shard].primary);
	PGresult *res;
	char *v;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	res = PQexecParams(pg, sql,
			   p3 != NULL	? 3
			   : p2 != NULL ? 2
					: 1,
			   NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(pg);
	return v;
}

/* What `kurier shard move` leaves behind (its SQL, 011 and 012): the
 * user on another shard with his id, a forwarding row on the old one.
 * A session from before goes on there; while this host's map still
 * names the old shard, a temporary error, never a logout. */
static void
test_auth_user_moved(void **state)
{
	struct t *t = *state;
	struct env *e = t != NULL ? t->e : NULL;
	char addr[128], *usr, *boxes, *bayes, *id;
	struct kr_shardmap_override ov;
	struct kr_store_user u;
	struct ans a, c;

	NEED_CLUSTER(state);
	assert_true(e->cfg->n_shards >= 2);
	u = user_new(t, "Moved", addr, sizeof(addr));
	a = login(t, addr, "pw");
	want(&a, KR_AUTH_OK, "login");
	ov = (struct kr_shardmap_override){
		.bucket = kr_shardmap_bucket(u.address, strlen(u.address)),
		.shard = (u.shard + 1) % e->cfg->n_shards,
	};
	usr = sql_on(e, u.shard, "SELECT usr FROM kr_move_get_user($1)",
		     u.address, NULL, NULL);
	boxes = sql_on(e, u.shard, "SELECT mailboxes FROM kr_move_get_user($1)",
		       u.address, NULL, NULL);
	bayes = sql_on(e, u.shard, "SELECT bayes FROM kr_move_get_user($1)",
		       u.address, NULL, NULL);
	id = sql_on(e, ov.shard,
		    "SELECT kr_move_put_user($1::jsonb, $2::jsonb, $3::jsonb)",
		    usr, boxes, bayes);
	assert_int_equal(strtoll(id, NULL, 10), u.id);
	free(sql_on(e, u.shard, "SELECT status FROM kr_move_leave($1, $2)",
		    u.address, id, NULL));
	kr_genmap_bump(e->gens, kr_store_user_key(u.shard, u.id));

	c = check(t, a.token);
	want(&c, KR_AUTH_ERROR, "map not switched yet");
	assert_int_equal(kr_shardmap_set_overrides(e->map, &ov, 1), 0);
	for (int i = 0; i < 2; i++) { /* asked, then cached */
		c = check(t, a.token);
		want(&c, KR_AUTH_OK, "forwarded");
		assert_int_equal(c.session.shard, ov.shard);
		assert_int_equal(c.session.user_id, u.id);
		assert_string_equal(c.session.address, u.address);
	}
	(void)kr_shardmap_set_overrides(e->map, NULL, 0);
	free(usr);
	free(boxes);
	free(bayes);
	free(id);
}

int
main(void)
{
	const struct CMUnitTest plain[] = {
		cmocka_unit_test(test_auth_create_needs_secret),
		cmocka_unit_test(test_auth_check_tokens),
		cmocka_unit_test(test_auth_login_refused_early),
		cmocka_unit_test(test_auth_logout_without_store),
		cmocka_unit_test(test_auth_cancel),
	};
	const struct CMUnitTest store[] = {
		cmocka_unit_test_setup_teardown(test_auth_login_and_check,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_auth_wrong_and_unknown,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
			test_auth_limiter_before_hashing, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
			test_auth_success_forgets_failures, t_setup,
			t_teardown),
		cmocka_unit_test_setup_teardown(test_auth_client_address,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_auth_login_concurrency,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_auth_cancel_login, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_auth_password_change,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_auth_logout, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_auth_user_moved, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_auth_user_gone, t_setup,
						t_teardown),
	};
	int failed = cmocka_run_group_tests_name("auth", plain, plain_setup,
						 teardown);

	return failed + cmocka_run_group_tests_name("auth_store", store,
						    store_setup, teardown);
}
