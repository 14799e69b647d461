/* Admin HTTP endpoint on admin/httpd. Every handler answers at once:
 * the master has nothing to wait for. */
#include "admin/admin.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_spam.h"
#include "admin/assets.h"
#include "admin/httpd.h"
#include "admin/prom.h"
#include "antispam/hits.h"
#include "lib/clock.h"
#include "lib/limits.h"
#include "lib/secret.h"

struct kr_admin {
	struct event_base *base;
	struct kr_httpd *httpd;
	struct kr_metrics *metrics;
	char *token;
	bool metrics_open;
	unsigned first_worker_slot;
	unsigned n_worker_slots;
	const struct kr_admin_supervisor *supervisor; /* NULL: none */
	const struct kr_hits *rule_hits;	      /* NULL: none */
	int requests_id; /* kurier_requests_total, or -1 */
	struct kr_admin_spam_view spam;
	struct kr_admin_reload *reloads; /* POST /api/reload waiting */
};

typedef void admin_handler_fn(struct kr_admin *admin,
			      struct kr_httpd_call *call);

static const char *const admin_state_names[] = {
	[KR_SLOT_FREE] = "free",
	[KR_SLOT_STARTING] = "starting",
	[KR_SLOT_SERVING] = "serving",
	[KR_SLOT_DRAINING] = "draining",
};

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

static bool
admin_authorized(const struct kr_admin *admin,
		 const struct kr_httpd_request *req)
{
	const char *auth = req->http->authorization;
	static const char bearer[] = "Bearer ";

	if (admin->metrics_open && kr_http_target_is(req->http, "/metrics") &&
	    admin_peer_is_loopback(req->peer_sa))
		return true;
	if (auth == NULL || strncmp(auth, bearer, sizeof(bearer) - 1) != 0)
		return false;
	auth += sizeof(bearer) - 1;
	return kr_secret_equal(auth, strlen(auth), admin->token,
			       strlen(admin->token));
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
admin_rule_hits(const struct kr_admin *admin, struct evbuffer *body)
{
	if (admin->rule_hits == NULL)
		return;
	evbuffer_add_printf(body,
			    "# HELP kurier_antispam_rule_hits_total Messages "
			    "each antispam test hit.\n"
			    "# TYPE kurier_antispam_rule_hits_total counter\n");
	kr_hits_each(admin->rule_hits, admin_rule_hit, body);
}

static void
admin_metrics(struct kr_admin *admin, struct kr_httpd_call *call)
{
	struct evbuffer *body = evbuffer_new();

	if (body == NULL)
		kr_panic("admin: out of memory");
	kr_prom_render(admin->metrics, body);
	admin_rule_hits(admin, body);
	admin_reply(call, 200, "text/plain; version=0.0.4", NULL, NULL, body);
	evbuffer_free(body);
}

static json_t *
admin_worker_json(const struct kr_admin *admin, struct kr_metrics_slot *slot,
		  const struct kr_metrics_slot_info *info, int64_t now_ms)
{
	struct kr_metric_value requests = { 0 };
	struct kr_admin_worker_health wh = { .restart_in_ms = -1 };
	const char *state = "unknown";

	if (admin->requests_id >= 0)
		kr_metrics_read_slot(slot, admin->requests_id, &requests);
	if ((unsigned)info->state <
	    sizeof(admin_state_names) / sizeof(admin_state_names[0]))
		state = admin_state_names[info->state];
	if (admin->supervisor != NULL)
		admin->supervisor->worker(admin->supervisor->ctx, info->index,
					  &wh);
	return json_pack("{s:I, s:i, s:s, s:f, s:I, s:I, s:I, s:I}", "pid",
			 (json_int_t)info->pid, "index", (int)info->index,
			 "state", state, "uptime_s",
			 (double)(now_ms - info->started_ms) / 1000.0,
			 "requests", (json_int_t)requests.value, "rss_bytes",
			 (json_int_t)info->rss_bytes, "restarts",
			 (json_int_t)info->restarts, "backoff_ms",
			 (json_int_t)wh.backoff_ms);
}

/* Workers without a process, waiting out their back-off. */
static json_t *
admin_restarting_json(const struct kr_admin *admin, unsigned n_workers)
{
	json_t *list = json_array();

	for (unsigned i = 0; i < n_workers; i++) {
		struct kr_admin_worker_health wh = { .restart_in_ms = -1 };

		admin->supervisor->worker(admin->supervisor->ctx, i, &wh);
		if (wh.restart_in_ms < 0)
			continue;
		json_array_append_new(
			list, json_pack("{s:i, s:I, s:I, s:I}", "index", (int)i,
					"restarts", (json_int_t)wh.restarts,
					"backoff_ms", (json_int_t)wh.backoff_ms,
					"restart_in_ms",
					(json_int_t)wh.restart_in_ms));
	}
	return list;
}

/* {"health": "ok"|"unhealthy", "restarts_recent", "workers": [live
 * processes], "restarting": [indexes waiting out a back-off]}. */
static json_t *
admin_workers_doc(const struct kr_admin *admin, json_t *list)
{
	struct kr_admin_health h = { 0 };

	if (admin->supervisor == NULL)
		return json_pack("{s:o}", "workers", list);
	admin->supervisor->health(admin->supervisor->ctx, &h);
	return json_pack("{s:s, s:i, s:o, s:o}", "health",
			 h.unhealthy ? "unhealthy" : "ok", "restarts_recent",
			 (int)h.recent_restarts, "workers", list, "restarting",
			 admin_restarting_json(admin, h.n_workers));
}

static void
admin_workers(struct kr_admin *admin, struct kr_httpd_call *call)
{
	json_t *list = json_array(), *doc;
	int64_t now = kr_clock_wall_ms();
	struct evbuffer *body;
	char *text;

	for (unsigned i = 0; i < admin->n_worker_slots; i++) {
		struct kr_metrics_slot *slot = kr_metrics_slot(
			admin->metrics, admin->first_worker_slot + i);
		struct kr_metrics_slot_info info;

		kr_metrics_slot_get_info(slot, &info);
		if (info.pid == 0)
			continue;
		json_array_append_new(
			list, admin_worker_json(admin, slot, &info, now));
	}
	doc = admin_workers_doc(admin, list);
	/* Uptimes read 5.355, not jansson's 5.3550000000000004. */
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS |
				       JSON_REAL_PRECISION(10));
	json_decref(doc);
	body = evbuffer_new();
	if (text == NULL || body == NULL)
		kr_panic("admin: out of memory encoding /api/workers");
	evbuffer_add(body, text, strlen(text));
	evbuffer_add(body, "\n", 1);
	admin_reply(call, 200, "application/json", NULL, NULL, body);
	evbuffer_free(body);
	free(text);
}

/* Takes doc. */
static void
admin_reply_json(struct kr_httpd_call *call, unsigned status, json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
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

static void
admin_antispam(struct kr_admin *admin, struct kr_httpd_call *call)
{
	admin_reply_json(call, 200, kr_admin_spam_doc(&admin->spam));
}

/* The workers' counts are noted before the reload, so that a worker
 * that reports at once is not missed. A refused config changes
 * nothing: 422 with the config's message. */
static void
admin_reload(struct kr_admin *admin, struct kr_httpd_call *call)
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
		admin_reply_json(call, 422,
				 json_pack("{s:s}", "error", err.msg));
		return;
	}
	kr_admin_reload_wait(r, &admin->reloads);
}

struct admin_route {
	const char *path;
	const char *method; /* "GET" (HEAD too) or "POST" */
	admin_handler_fn *fn;
};

/* The route of the path the request names (any query aside), or
 * NULL. */
static const struct admin_route *
admin_route(const struct kr_http_request *q)
{
	static const struct admin_route routes[] = {
		{ "/metrics", "GET", admin_metrics },
		{ "/api/workers", "GET", admin_workers },
		{ "/api/antispam", "GET", admin_antispam },
		{ "/api/reload", "POST", admin_reload },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (kr_http_target_is(q, routes[i].path))
			return &routes[i];
	return NULL;
}

/* GET /ui/NAME: the dashboard's code and styles (admin/assets.h) without
 * the token, being public code with no data; the pages only at /. true
 * when answered; anything else goes the usual way (token, then 404). */
static bool
admin_ui_asset(struct kr_httpd_call *call, const struct kr_http_request *q)
{
	static const char prefix[] = "/ui/";
	const char *name = q->url + sizeof(prefix) - 1;
	const struct kr_admin_asset *a;

	if (strncmp(q->url, prefix, sizeof(prefix) - 1) != 0 ||
	    (strcmp(q->method, "GET") != 0 && !q->is_head))
		return false;
	a = kr_admin_asset_find_n(name, strcspn(name, "?"));
	if (a == NULL || a->page)
		return false;
	const struct kr_http_field fields[] = {
		{ "Cache-Control", "no-cache" },
		{ "ETag", a->etag },
	};
	const struct kr_httpd_answer ans = {
		.status = 200,
		.content_type = a->content_type,
		.fields = fields,
		.n_fields = 2,
	};
	kr_httpd_answer(call, &ans, (const char *)a->data, a->len);
	return true;
}

/* Token first, so that nobody without it learns which paths exist;
 * then the path; then the method. HEAD is GET without the body. */
static void
admin_request(void *ctx, struct kr_httpd_call *call,
	      const struct kr_httpd_request *req)
{
	static const struct kr_http_field challenge = {
		"WWW-Authenticate", "Bearer realm=\"kurier\""
	};
	struct kr_admin *admin = ctx;
	const struct kr_http_request *q = req->http;
	const struct admin_route *route;
	bool get;

	if (admin_ui_asset(call, q))
		return;
	if (!admin_authorized(admin, req)) {
		admin_reply_text(call, 401, NULL, &challenge,
				 "missing or wrong bearer token");
		return;
	}
	route = admin_route(q);
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
	route->fn(admin, call);
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

	admin->base = base;
	admin->metrics = metrics;
	admin->requests_id =
		kr_metrics_find(metrics, "kurier_requests_total", "");
	admin_apply(admin, set);
	admin_limits(set, &hs.limits);
	admin->httpd = kr_httpd_create(base, &hs, err_r);
	if (admin->httpd == NULL) { /* fd closed by httpd */
		kr_admin_destroy(&admin);
		return NULL;
	}
	return admin;
}

void
kr_admin_update(struct kr_admin *admin, const struct kr_admin_settings *set)
{
	struct kr_httpd_limits lim;

	admin_apply(admin, set);
	admin_limits(set, &lim);
	kr_httpd_configure(admin->httpd, &lim);
}

static void
admin_free(struct kr_admin **admin_p, bool forked)
{
	struct kr_admin *admin = *admin_p;

	if (admin == NULL)
		return;
	if (forked)
		kr_httpd_destroy_forked(&admin->httpd);
	else
		kr_httpd_destroy(&admin->httpd);
	/* After the server: their answers go nowhere (in a forked child
	 * they must not reach the parent's connections). */
	kr_admin_reload_cancel_all(&admin->reloads);
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
