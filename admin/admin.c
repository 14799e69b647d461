/* Admin HTTP endpoint on admin/httpd. Every handler answers at once:
 * the master has nothing to wait for. */
#include "admin/admin.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin_priv.h"
#include "admin/admin_spam.h"
#include "admin/assets.h"
#include "admin/httpd.h"
#include "admin/peers.h"
#include "admin/prom.h"
#include "admin/session.h"
#include "antispam/hits.h"
#include "lib/clock.h"
#include "lib/limits.h"
#include "lib/secret.h"

/* The pages' policy: nothing but the admin's own scripts, styles and
 * API; no framing. */
#define ADMIN_CSP                                                      \
	"default-src 'self'; img-src 'self' data:; style-src 'self'; " \
	"script-src 'self'; connect-src 'self'; frame-ancestors 'none'"

typedef void admin_handler_fn(struct kr_admin *admin,
			      struct kr_httpd_call *call,
			      const struct kr_httpd_request *req,
			      const char *who);

/* Nothing the admin answers may be cached: it is live, and behind a
 * token. extra: one more field, or NULL. */
static void
admin_reply(struct kr_httpd_call *call, unsigned status, const char *type,
	    const char *allow, const struct kr_http_field *extra,
	    struct evbuffer *body)
{
	const struct kr_http_field fields[2] = {
		{ "Cache-Control", "no-store" },
		extra != NULL ? *extra : (struct kr_http_field){ NULL, NULL },
	};
	const struct kr_httpd_answer a = {
		.status = status,
		.content_type = type,
		.allow = allow,
		.fields = fields,
		.n_fields = extra != NULL ? 2 : 1,
	};
	size_t len = evbuffer_get_length(body);

	kr_httpd_answer(call, &a, (const char *)evbuffer_pullup(body, -1), len);
}

static void
admin_reply_text(struct kr_httpd_call *call, unsigned status, const char *allow,
		 const struct kr_http_field *extra, const char *text)
{
	struct evbuffer *body = evbuffer_new();

	if (body == NULL)
		kr_panic("admin: out of memory");
	evbuffer_add_printf(body, "%s\n", text);
	admin_reply(call, status, "text/plain; charset=utf-8", allow, extra,
		    body);
	evbuffer_free(body);
}

/* 127.0.0.0/8, ::1, and 127.0.0.0/8 mapped into IPv6 (a dual-stack
 * listener). */
static bool
admin_peer_is_loopback(const struct sockaddr *sa)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in =
			(const struct sockaddr_in *)(const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
			&((const struct sockaddr_in6 *)(const void *)sa)
				 ->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a6) ||
		       (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
	}
	return false;
}

/* Who may ask: "token" (the bearer header), "cookie" (a browser
 * session), "open" (/metrics from loopback when metrics_open), or NULL
 * for nobody. */
static const char *
admin_who(const struct kr_admin *admin, const struct kr_httpd_request *req)
{
	const char *auth = req->http->authorization;
	static const char bearer[] = "Bearer ";

	if (admin->metrics_open && kr_http_target_is(req->http, "/metrics") &&
	    admin_peer_is_loopback(req->peer_sa))
		return "open";
	if (auth != NULL && strncmp(auth, bearer, sizeof(bearer) - 1) == 0) {
		auth += sizeof(bearer) - 1;
		return kr_secret_equal(auth, strlen(auth), admin->token,
				       strlen(admin->token))
			       ? "token"
			       : NULL;
	}
	if (kr_admin_session_valid(admin->token, req->http->cookie,
				   kr_clock_wall_ms() / 1000))
		return "cookie";
	return NULL;
}

static void
admin_rule_hit(void *ctx, const char *name, uint64_t n)
{
	/* Names are [A-Za-z0-9_] (the host's rule): no escaping needed. */
	evbuffer_add_printf(
		ctx, "kurier_antispam_rule_hits_total{rule=\"%s\"} %llu\n",
		name, (unsigned long long)n);
}

static void
admin_rule_hits(const struct kr_admin *admin, enum kr_prom_format f,
		struct evbuffer *body)
{
	if (admin->rule_hits == NULL)
		return;
	kr_prom_family(body, f, "kurier_antispam_rule_hits_total",
		       "Messages each antispam test hit.", KR_METRIC_COUNTER,
		       false);
	kr_hits_each(admin->rule_hits, admin_rule_hit, body);
}

/* OpenMetrics when the scraper asks for it; the rule hits go before its
 * final "# EOF". */
static void
admin_metrics(struct kr_admin *admin, struct kr_httpd_call *call,
	      const struct kr_httpd_request *req, const char *who)
{
	enum kr_prom_format f = kr_prom_format_for_accept(req->http->accept);
	struct evbuffer *body = evbuffer_new();

	if (body == NULL)
		kr_panic("admin: out of memory");
	(void)who;
	kr_prom_render(admin->metrics, f, body);
	admin_rule_hits(admin, f, body);
	kr_prom_end(f, body);
	admin_reply(call, 200, kr_prom_content_type(f), NULL, NULL, body);
	evbuffer_free(body);
}

/* Takes doc. */
static void
admin_reply_json(struct kr_httpd_call *call, unsigned status, json_t *doc)
{
	/* Uptimes read 5.355, not jansson's 5.3550000000000004. */
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS |
					     JSON_REAL_PRECISION(10));
	struct evbuffer *body = evbuffer_new();

	json_decref(doc);
	if (text == NULL || body == NULL)
		kr_panic("admin: out of memory encoding an answer");
	evbuffer_add(body, text, strlen(text));
	evbuffer_add(body, "\n", 1);
	admin_reply(call, status, "application/json", NULL, NULL, body);
	evbuffer_free(body);
	free(text);
}

/* A GET answered with one of the documents. */
#define ADMIN_DOC_HANDLER(name, expr)                                \
	static void admin_get_##name(                                \
		struct kr_admin *admin, struct kr_httpd_call *call,  \
		const struct kr_httpd_request *req, const char *who) \
	{                                                            \
		(void)req;                                           \
		(void)who;                                           \
		admin_reply_json(call, 200, (expr));                 \
	}

ADMIN_DOC_HANDLER(overview, admin_overview_doc(admin))
ADMIN_DOC_HANDLER(nodes, admin_nodes_doc(admin))
ADMIN_DOC_HANDLER(workers, admin_workers_doc(admin))
ADMIN_DOC_HANDLER(cache, admin_cache_doc(admin))
ADMIN_DOC_HANDLER(hosts, admin_hosts_doc(admin))
ADMIN_DOC_HANDLER(actions, admin_actions_doc(admin))
ADMIN_DOC_HANDLER(errors, admin_errors_doc(admin))
ADMIN_DOC_HANDLER(antispam, kr_admin_spam_doc(&admin->spam))
ADMIN_DOC_HANDLER(filters, kr_admin_filters_doc(&admin->spam))

/* ?since=MS: the points after it; absent or bad, all of them. */
static int64_t
admin_since(const struct kr_httpd_request *req)
{
	char buf[24], *end;
	long long v;

	if (!kr_admin_query_param(req->http->url, "since", buf, sizeof(buf)))
		return 0;
	v = strtoll(buf, &end, 10);
	return *end == '\0' && v > 0 ? v : 0;
}

static void
admin_get_history(struct kr_admin *admin, struct kr_httpd_call *call,
		  const struct kr_httpd_request *req, const char *who)
{
	(void)who;
	admin_reply_json(
		call, 200,
		kr_admin_history_doc(admin->history, admin_since(req)));
}

static void
admin_get_snapshot(struct kr_admin *admin, struct kr_httpd_call *call,
		   const struct kr_httpd_request *req, const char *who)
{
	(void)who;
	admin_reply_json(call, 200,
			 admin_snapshot_doc(admin, admin_since(req)));
}

/* Every action is kept for the page and logged with who asked. */
static void
admin_action(struct kr_admin *admin, const struct kr_httpd_request *req,
	     const char *who, const char *action, const char *target,
	     const char *result)
{
	struct admin_action *a =
		&admin->actions[admin->n_actions++ % KR_ADMIN_ACTIONS_MAX];
	struct kr_log_line line;

	*a = (struct admin_action){ .ts_ms = kr_clock_wall_ms() };
	snprintf(a->action, sizeof(a->action), "%s", action);
	snprintf(a->target, sizeof(a->target), "%s", target);
	snprintf(a->who, sizeof(a->who), "%s", who);
	snprintf(a->peer, sizeof(a->peer), "%s", req->peer);
	snprintf(a->result, sizeof(a->result), "%s", result);
	if (!kr_log_begin(&line, admin->log, KR_LOG_INFO, NULL, "admin.action"))
		return;
	kr_log_str(&line, "action", action);
	if (target[0] != '\0')
		kr_log_str(&line, "target", target);
	kr_log_str(&line, "who", who);
	kr_log_str(&line, "peer", req->peer);
	kr_log_str(&line, "result", result);
	kr_log_end(&line);
}

static void
admin_action_failed(struct kr_admin *admin, struct kr_httpd_call *call,
		    const struct kr_httpd_request *req, const char *who,
		    const char *action, const char *target, unsigned status,
		    const struct kr_err *err)
{
	char result[128];

	snprintf(result, sizeof(result), "error: %.119s", err->msg);
	admin_action(admin, req, who, action, target, result);
	admin_reply_json(call, status, json_pack("{s:s}", "error", err->msg));
}

/* The workers' counts are noted before the reload, so that a worker
 * that reports at once is not missed. A refused config changes
 * nothing: 422 with the config's message. */
static void
admin_post_reload(struct kr_admin *admin, struct kr_httpd_call *call,
		  const struct kr_httpd_request *req, const char *who)
{
	struct kr_err err = { 0 };
	struct kr_admin_reload *r;

	if (admin->supervisor == NULL || admin->supervisor->reload == NULL) {
		admin_reply_text(call, 404, NULL, NULL, "not found");
		return;
	}
	r = kr_admin_reload_new(admin->base, &admin->spam, call);
	if (admin->supervisor->reload(admin->supervisor->ctx, &err) < 0) {
		kr_admin_reload_free(r);
		admin_action_failed(admin, call, req, who, "reload", "", 422,
				    &err);
		return;
	}
	admin_action(admin, req, who, "reload", "", "ok");
	kr_admin_reload_wait(r, &admin->reloads);
}

static void
admin_post_cycle(struct kr_admin *admin, struct kr_httpd_call *call,
		 const struct kr_httpd_request *req, const char *who)
{
	struct kr_err err = { 0 };
	const struct kr_admin_supervisor *sup = admin->supervisor;
	struct kr_admin_cycle c = { 0 };

	if (sup == NULL || sup->cycle == NULL) {
		admin_reply_text(call, 404, NULL, NULL, "not found");
		return;
	}
	if (sup->cycle(sup->ctx, &err) < 0) {
		admin_action_failed(admin, call, req, who, "cycle", "workers",
				    409, &err);
		return;
	}
	admin_action(admin, req, who, "cycle", "workers", "ok");
	sup->cycle_state(sup->ctx, &c);
	admin_reply_json(call, 202,
			 json_pack("{s:{s:b, s:i, s:i}}", "cycle", "active",
				   c.active, "done", (int)c.done, "total",
				   (int)c.total));
}

/* "/api/nodes/N/drain" or "/api/nodes/N/undrain" (no query): N and
 * which; false for anything else. */
static bool
admin_parse_node_action(const struct kr_http_request *q, unsigned *shard_r,
			bool *drain_r)
{
	static const char prefix[] = "/api/nodes/";
	const char *p = q->url + sizeof(prefix) - 1;
	unsigned long n = 0;
	size_t digits = 0;

	while (p[digits] >= '0' && p[digits] <= '9' && digits < 6)
		n = n * 10 + (unsigned long)(p[digits++] - '0');
	if (digits == 0 || (p[0] == '0' && digits > 1))
		return false;
	p += digits;
	if (strcmp(p, "/drain") != 0 && strcmp(p, "/undrain") != 0)
		return false;
	*shard_r = (unsigned)n;
	*drain_r = strcmp(p, "/drain") == 0;
	return true;
}

static void
admin_post_node(struct kr_admin *admin, struct kr_httpd_call *call,
		const struct kr_httpd_request *req, const char *who)
{
	const struct kr_admin_supervisor *sup = admin->supervisor;
	struct kr_err err = { 0 };
	char target[32];
	unsigned shard;
	bool drain;

	if (!admin_parse_node_action(req->http, &shard, &drain) ||
	    shard >= admin->n_shards || sup == NULL || sup->drain == NULL) {
		admin_reply_text(call, 404, NULL, NULL, "not found");
		return;
	}
	snprintf(target, sizeof(target), "shard %u", shard);
	if (sup->drain(sup->ctx, shard, drain, &err) < 0) {
		admin_action_failed(admin, call, req, who,
				    drain ? "drain" : "undrain", target, 404,
				    &err);
		return;
	}
	admin_action(admin, req, who, drain ? "drain" : "undrain", target,
		     "ok");
	admin_reply_json(call, 200,
			 json_pack("{s:i, s:s}", "shard", (int)shard, "state",
				   drain ? "draining" : "up"));
}

/* Pages of the browser (admin/assets.h): "index.html" the dashboard,
 * "login.html" the token form (it shows "wrong token" itself when the
 * address has a token). */
static void
admin_page(struct kr_httpd_call *call, unsigned status, const char *name)
{
	const struct kr_admin_asset *page = kr_admin_asset_find(name);
	const struct kr_http_field fields[] = {
		{ "Cache-Control", "no-store" },
		{ "Content-Security-Policy", ADMIN_CSP },
		{ "X-Frame-Options", "DENY" },
		{ "X-Content-Type-Options", "nosniff" },
	};
	const struct kr_httpd_answer a = {
		.status = status,
		.content_type = "text/html; charset=utf-8",
		.fields = fields,
		.n_fields = sizeof(fields) / sizeof(fields[0]),
	};

	if (page == NULL)
		kr_panic("admin: no page %s built in", name);
	kr_httpd_answer(call, &a, (const char *)page->data, page->len);
}

/* GET / (SPEC.md §3.3, the Jupyter convention): ?token= trades the
 * token for a session cookie and sends the browser on to / without it
 * in the address bar; with a session or bearer, the dashboard; else
 * the form that asks for the token. */
static void
admin_root(struct kr_admin *admin, struct kr_httpd_call *call,
	   const struct kr_httpd_request *req, const char *who)
{
	char token[KR_ADMIN_TOKEN_MAX + 1];

	if (kr_admin_query_param(req->http->url, "token", token,
				 sizeof(token))) {
		bool ok = kr_secret_equal(token, strlen(token), admin->token,
					  strlen(admin->token));
		char cookie[KR_ADMIN_COOKIE_MAX];
		const struct kr_http_field fields[] = {
			{ "Cache-Control", "no-store" },
			{ "Location", "/" },
			{ "Set-Cookie", cookie },
		};
		const struct kr_httpd_answer a = { .status = 303,
						   .fields = fields,
						   .n_fields = 3 };

		explicit_bzero(token, sizeof(token));
		if (!ok) {
			admin_page(call, 401, "login.html");
			return;
		}
		kr_admin_session_cookie(admin->token, kr_clock_wall_ms() / 1000,
					cookie, sizeof(cookie));
		kr_httpd_answer(call, &a, "", 0);
		return;
	}
	admin_page(call, 200, who != NULL ? "index.html" : "login.html");
}

/* GET /ui/NAME: the dashboard's code and styles (admin/assets.h), open
 * to all: public code with no data. The pages are answered at / only. */
static void
admin_get_ui(struct kr_admin *admin, struct kr_httpd_call *call,
	     const struct kr_httpd_request *req, const char *who)
{
	const char *name = req->http->url + strlen("/ui/");
	const struct kr_admin_asset *a =
		kr_admin_asset_find_n(name, strcspn(name, "?"));

	(void)admin;
	(void)who;
	if (a == NULL || a->page) {
		admin_reply_text(call, 404, NULL, NULL, "not found");
		return;
	}
	const struct kr_http_field fields[] = {
		{ "Cache-Control", "no-cache" },
		{ "ETag", a->etag },
		{ "X-Content-Type-Options", "nosniff" },
	};
	const struct kr_httpd_answer ans = {
		.status = 200,
		.content_type = a->content_type,
		.fields = fields,
		.n_fields = sizeof(fields) / sizeof(fields[0]),
	};
	kr_httpd_answer(call, &ans, (const char *)a->data, a->len);
}

struct admin_route {
	const char *path;
	const char *method; /* "GET" (HEAD too) or "POST" */
	admin_handler_fn *fn;
	bool prefix; /* path is a prefix: the handler reads the rest */
	bool open;   /* asks for no token: the handler decides */
};

/* The route of the path the request names (any query aside), or
 * NULL. */
static const struct admin_route *
admin_route(const struct kr_http_request *q)
{
	static const struct admin_route routes[] = {
		{ "/", "GET", admin_root, false, true },
		{ "/metrics", "GET", admin_metrics, false, false },
		{ "/api/overview", "GET", admin_get_overview, false, false },
		{ "/api/history", "GET", admin_get_history, false, false },
		{ "/api/nodes", "GET", admin_get_nodes, false, false },
		{ "/api/workers", "GET", admin_get_workers, false, false },
		{ "/api/cache", "GET", admin_get_cache, false, false },
		{ "/api/filters", "GET", admin_get_filters, false, false },
		{ "/api/hosts", "GET", admin_get_hosts, false, false },
		{ "/api/actions", "GET", admin_get_actions, false, false },
		{ "/api/errors", "GET", admin_get_errors, false, false },
		{ "/api/snapshot", "GET", admin_get_snapshot, false, false },
		{ "/api/antispam", "GET", admin_get_antispam, false, false },
		{ "/api/reload", "POST", admin_post_reload, false, false },
		{ "/api/workers/cycle", "POST", admin_post_cycle, false,
		  false },
		{ "/api/nodes/", "POST", admin_post_node, true, false },
		{ "/ui/", "GET", admin_get_ui, true, true },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct admin_route *r = &routes[i];

		if (r->prefix ? strncmp(q->url, r->path, strlen(r->path)) == 0
			      : kr_http_target_is(q, r->path))
			return r;
	}
	return NULL;
}

/* Token first, so that nobody without it learns which paths exist;
 * then the path; then the method; then, for a POST carried by a
 * browser's cookie alone, its Origin (a page elsewhere cannot make the
 * browser act for the operator). HEAD is GET without the body. */
static void
admin_request(void *ctx, struct kr_httpd_call *call,
	      const struct kr_httpd_request *req)
{
	static const struct kr_http_field challenge = {
		"WWW-Authenticate", "Bearer realm=\"kurier\""
	};
	struct kr_admin *admin = ctx;
	const struct kr_http_request *q = req->http;
	const char *who = admin_who(admin, req);
	const struct admin_route *route = admin_route(q);
	bool get;

	if (who == NULL && (route == NULL || !route->open)) {
		admin_reply_text(call, 401, NULL, &challenge,
				 "missing or wrong bearer token");
		return;
	}
	if (route == NULL) {
		admin_reply_text(call, 404, NULL, NULL, "not found");
		return;
	}
	get = strcmp(route->method, "GET") == 0;
	if (get ? strcmp(q->method, "GET") != 0 && !q->is_head
		: strcmp(q->method, route->method) != 0) {
		admin_reply_text(call, 405, get ? "GET, HEAD" : route->method,
				 NULL, "method not allowed");
		return;
	}
	if (!get && strcmp(who, "cookie") == 0 &&
	    !kr_admin_origin_ok(q->origin, q->host)) {
		admin_reply_json(call, 403,
				 json_pack("{s:s}", "error", "origin"));
		return;
	}
	route->fn(admin, call, req, who);
}

static void
admin_limits(const struct kr_admin_settings *set, struct kr_httpd_limits *lim)
{
	*lim = (struct kr_httpd_limits){
		.max_connections = set->max_connections,
		.http = {
			.header_max = KR_ADMIN_HEADERS_MAX,
			.body_max = KR_ADMIN_BODY_MAX,
			.headers_max = KR_HTTP_HEADERS_MAX_DEFAULT,
			.url_max = KR_HTTP_URL_MAX_DEFAULT,
		},
		.idle_timeout_ms = set->idle_timeout_ms,
		.read_timeout_ms = set->read_timeout_ms,
		.write_timeout_ms = set->write_timeout_ms,
	};
}

static void
admin_apply(struct kr_admin *admin, const struct kr_admin_settings *set)
{
	if (admin->token != NULL) {
		explicit_bzero(admin->token, strlen(admin->token));
		free(admin->token);
	}
	admin->token = kr_xstrdup(set->token);
	admin->metrics_open = set->metrics_open;
	admin->first_worker_slot = set->first_worker_slot;
	admin->n_worker_slots = set->n_worker_slots;
	admin->supervisor = set->supervisor;
	admin->rule_hits = set->rule_hits;
	admin->spam = (struct kr_admin_spam_view){
		.metrics = admin->metrics,
		.first_worker_slot = set->first_worker_slot,
		.n_worker_slots = set->n_worker_slots,
		.status = set->spam_status,
		.enabled = set->spam_enabled,
	};
	admin_nodes_set(admin, set->nodes, set->n_nodes);
	admin->errors = set->errors;
	admin->n_shards = set->n_shards;
	admin->cache_max_bytes = set->cache_max_bytes;
	admin->version = set->version != NULL ? set->version : "";
}

static void
admin_on_sample(evutil_socket_t fd, short what, void *arg)
{
	struct kr_admin *admin = arg;

	(void)fd;
	(void)what;
	kr_admin_history_sample(admin->history, kr_clock_wall_ms());
}

/* What does not change with a reload: the figures' ids, the history
 * and its clock. */
static void
admin_init(struct kr_admin *admin, struct event_base *base,
	   struct kr_metrics *metrics, struct kr_log *log,
	   const struct kr_admin_settings *set)
{
	static const char *const cache[4] = { "kurier_cache_bytes",
					      "kurier_cache_hits_total",
					      "kurier_cache_misses_total",
					      "kurier_cache_evictions_total" };
	const struct timeval second = { .tv_sec = 1 };

	admin->base = base;
	admin->metrics = metrics;
	admin->log = log;
	admin->started_ms = kr_clock_wall_ms();
	if (gethostname(admin->host, sizeof(admin->host) - 1) < 0)
		snprintf(admin->host, sizeof(admin->host), "kurierd");
	admin->requests_id =
		kr_metrics_find(metrics, "kurier_requests_total", "");
	for (unsigned i = 0; i < 4; i++)
		admin->cache_ids[i] = kr_metrics_find(metrics, cache[i], "");
	admin->history =
		kr_admin_history_create(metrics, set->nodes, set->n_nodes);
	kr_admin_history_sample(admin->history, admin->started_ms);
	admin->sampler =
		event_new(base, -1, EV_PERSIST, admin_on_sample, admin);
	if (admin->sampler == NULL || event_add(admin->sampler, &second) < 0)
		kr_panic("admin: timer set-up failed");
}

struct kr_admin *
kr_admin_create(struct event_base *base, int fd, struct kr_metrics *metrics,
		struct kr_log *log, const struct kr_admin_settings *set,
		struct kr_err *err_r)
{
	struct kr_admin *admin = kr_xcalloc(1, sizeof(*admin));
	struct kr_httpd_settings hs = {
		.fd = fd,
		.own_fd = true,
		.log = log,
		.name = "admin",
		.handler = admin_request,
		.ctx = admin,
	};

	admin_init(admin, base, metrics, log, set);
	admin_apply(admin, set);
	admin_limits(set, &hs.limits);
	admin->httpd = kr_httpd_create(base, &hs, err_r);
	if (admin->httpd == NULL) { /* fd closed by httpd */
		kr_admin_destroy(&admin);
		return NULL;
	}
	admin->peers = kr_admin_peers_create(base, set->peers, set->n_peers,
					     set->token, err_r);
	if (admin->peers == NULL) {
		kr_admin_destroy(&admin);
		return NULL;
	}
	return admin;
}

void
kr_admin_update(struct kr_admin *admin, const struct kr_admin_settings *set)
{
	struct kr_httpd_limits lim;
	struct kr_err err;

	admin_apply(admin, set);
	admin_limits(set, &lim);
	kr_httpd_configure(admin->httpd, &lim);
	/* The loader checked the list already; a refusal keeps the old. */
	if (kr_admin_peers_update(admin->peers, set->peers, set->n_peers,
				  set->token, &err) < 0)
		kr_log_msg(admin->log, KR_LOG_ERROR, NULL, "admin.peers",
			   err.msg);
}

static void
admin_free(struct kr_admin **admin_p, bool forked)
{
	struct kr_admin *admin = *admin_p;

	if (admin == NULL)
		return;
	if (forked) {
		kr_httpd_destroy_forked(&admin->httpd);
		kr_admin_peers_destroy_forked(&admin->peers);
	} else {
		kr_httpd_destroy(&admin->httpd);
		kr_admin_peers_destroy(&admin->peers);
	}
	/* After the server: their answers go nowhere (in a forked child
	 * they must not reach the parent's connections). */
	kr_admin_reload_cancel_all(&admin->reloads);
	if (admin->sampler != NULL)
		event_free(admin->sampler);
	kr_admin_history_destroy(&admin->history);
	free(admin->nodes);
	if (admin->token != NULL) {
		explicit_bzero(admin->token, strlen(admin->token));
		free(admin->token);
	}
	free(admin);
	*admin_p = NULL;
}

void
kr_admin_destroy(struct kr_admin **admin_p)
{
	admin_free(admin_p, false);
}

void
kr_admin_destroy_forked(struct kr_admin **admin_p)
{
	admin_free(admin_p, true);
}
