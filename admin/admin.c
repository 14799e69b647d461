/* Admin HTTP endpoint on libevent's evhttp. */
#include "admin/admin.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/prom.h"
#include "lib/clock.h"
#include "lib/limits.h"
#include "lib/secret.h"

struct kr_admin {
	struct evhttp *http;
	struct kr_metrics *metrics;
	struct kr_log *log;
	char *token;
	bool metrics_open;
	unsigned first_worker_slot;
	unsigned n_worker_slots;
	const struct kr_admin_supervisor *supervisor; /* NULL: none */
	/* Where the listener is bound: connections share the local
	 * address family and port (kr_admin_destroy_forked). */
	struct sockaddr_storage local;
	bool have_local;
	int requests_id; /* kurier_requests_total, or -1 */
};

typedef void admin_handler_fn(struct kr_admin *admin,
			      struct evhttp_request *req);

static const char *const admin_state_names[] = {
	[KR_SLOT_FREE] = "free",
	[KR_SLOT_STARTING] = "starting",
	[KR_SLOT_SERVING] = "serving",
	[KR_SLOT_DRAINING] = "draining",
};

static void
admin_reply(struct evhttp_request *req, int code, const char *reason,
	    const char *type, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, body);
}

static void
admin_reply_text(struct evhttp_request *req, int code, const char *reason,
		 const char *text)
{
	struct evbuffer *body = evbuffer_new();

	evbuffer_add_printf(body, "%s\n", text);
	admin_reply(req, code, reason, "text/plain; charset=utf-8", body);
	evbuffer_free(body);
}

static bool
admin_peer_is_loopback(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (conn == NULL)
		return false;
	evhttp_connection_get_peer(conn, &addr, &port);
	if (addr == NULL)
		return false;
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
	       strncmp(addr, "::ffff:127.", 11) == 0;
}

static bool
admin_authorized(const struct kr_admin *admin, struct evhttp_request *req,
		 const char *path)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *auth = evhttp_find_header(h, "Authorization");
	static const char bearer[] = "Bearer ";

	if (admin->metrics_open && strcmp(path, "/metrics") == 0 &&
	    admin_peer_is_loopback(req))
		return true;
	if (auth == NULL || strncmp(auth, bearer, sizeof(bearer) - 1) != 0)
		return false;
	auth += sizeof(bearer) - 1;
	return kr_secret_equal(auth, strlen(auth), admin->token,
			       strlen(admin->token));
}

static void
admin_metrics(struct kr_admin *admin, struct evhttp_request *req)
{
	struct evbuffer *body = evbuffer_new();

	kr_prom_render(admin->metrics, body);
	admin_reply(req, HTTP_OK, "OK", "text/plain; version=0.0.4", body);
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
admin_workers(struct kr_admin *admin, struct evhttp_request *req)
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
	if (text == NULL)
		kr_panic("admin: out of memory encoding /api/workers");
	body = evbuffer_new();
	evbuffer_add(body, text, strlen(text));
	evbuffer_add(body, "\n", 1);
	admin_reply(req, HTTP_OK, "OK", "application/json", body);
	evbuffer_free(body);
	free(text);
}

static admin_handler_fn *
admin_route(const char *path)
{
	static const struct {
		const char *path;
		admin_handler_fn *fn;
	} routes[] = {
		{ "/metrics", admin_metrics },
		{ "/api/workers", admin_workers },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(path, routes[i].path) == 0)
			return routes[i].fn;
	return NULL;
}

static void
admin_request(struct evhttp_request *req, void *ctx)
{
	struct kr_admin *admin = ctx;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	admin_handler_fn *fn;

	if (path == NULL || *path == '\0')
		path = "/";
	if (!admin_authorized(admin, req, path)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "WWW-Authenticate",
				  "Bearer realm=\"kurier\"");
		admin_reply_text(req, 401, "Unauthorized",
				 "missing or wrong bearer token");
		return;
	}
	fn = admin_route(path);
	if (fn == NULL) {
		admin_reply_text(req, HTTP_NOTFOUND, "Not Found", "not found");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "GET");
		admin_reply_text(req, HTTP_BADMETHOD, "Method Not Allowed",
				 "method not allowed");
		return;
	}
	fn(admin, req);
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
}

struct kr_admin *
kr_admin_create(struct event_base *base, int fd, struct kr_metrics *metrics,
		struct kr_log *log, const struct kr_admin_settings *set,
		struct kr_err *err_r)
{
	struct kr_admin *admin = kr_xcalloc(1, sizeof(*admin));
	socklen_t local_len = sizeof(admin->local);

	admin->http = evhttp_new(base);
	if (admin->http == NULL || evhttp_accept_socket(admin->http, fd) != 0) {
		kr_err_set(err_r, KR_ERR_INTERNAL,
			   "admin: evhttp set-up failed");
		close(fd); /* not taken over by evhttp on failure */
		kr_admin_destroy(&admin);
		return NULL;
	}
	admin->metrics = metrics;
	admin->log = log;
	admin->have_local = getsockname(fd, (struct sockaddr *)&admin->local,
					&local_len) == 0;
	admin->requests_id =
		kr_metrics_find(metrics, "kurier_requests_total", "");
	admin_apply(admin, set);
	evhttp_set_max_body_size(admin->http, KR_ADMIN_BODY_MAX);
	evhttp_set_max_headers_size(admin->http, KR_ADMIN_HEADERS_MAX);
	evhttp_set_timeout(admin->http, KR_ADMIN_TIMEOUT_S);
	evhttp_set_allowed_methods(admin->http, EVHTTP_REQ_GET |
							EVHTTP_REQ_HEAD |
							EVHTTP_REQ_POST);
	evhttp_set_gencb(admin->http, admin_request, admin);
	return admin;
}

void
kr_admin_update(struct kr_admin *admin, const struct kr_admin_settings *set)
{
	admin_apply(admin, set);
}

void
kr_admin_destroy(struct kr_admin **admin_p)
{
	struct kr_admin *admin = *admin_p;

	if (admin == NULL)
		return;
	if (admin->http != NULL)
		evhttp_free(admin->http);
	if (admin->token != NULL) {
		explicit_bzero(admin->token, strlen(admin->token));
		free(admin->token);
	}
	free(admin);
	*admin_p = NULL;
}

static unsigned
admin_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

/* A socket bound to the listener's family and port: the listener or
 * one of its connections (the master makes no other such socket). */
static bool
admin_owns_fd(const struct kr_admin *admin, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	return ss.ss_family == admin->local.ss_family && admin_port(&ss) != 0 &&
	       admin_port(&ss) == admin_port(&admin->local);
}

void
kr_admin_destroy_forked(struct kr_admin **admin_p)
{
	struct kr_admin *admin = *admin_p;
	int null_fd;
	DIR *dir;

	if (admin == NULL)
		return;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	dir = opendir("/proc/self/fd");
	if (null_fd < 0 || dir == NULL || !admin->have_local)
		kr_panic("admin: cannot detach the forked admin sockets");
	for (struct dirent *de; (de = readdir(dir)) != NULL;) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end != '\0' || end == de->d_name || fd > INT_MAX)
			continue; /* "." and ".." */
		if (fd != dirfd(dir) && fd != null_fd &&
		    admin_owns_fd(admin, (int)fd) && dup2(null_fd, (int)fd) < 0)
			kr_panic("admin: dup2 over a forked socket failed");
	}
	closedir(dir);
	close(null_fd);
	kr_admin_destroy(admin_p);
}
