/* kurier stats and kurier dashboard (cli_stats.h). The tables are laid
 * out with fixed column widths: the admin's numbers are bounded (shards,
 * workers), and a wider value only shifts its row. */
#include "server/cli/cli_stats.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config.h"
#include "lib/err.h"
#include "server/cli/cli.h"
#include "server/cli/cli_http.h"

/* Each GET; the admin answers these at once from shared memory. */
#define STATS_TIMEOUT_S 10
/* One formatted number or duration. */
#define STATS_NUM_MAX 32
/* "-" for a field that is absent or null (no data yet). */
#define STATS_NONE "-"
/* An admin token as kurierd makes it: 256 bits. */
#define KR_CLI_TOKEN_BYTES 32

static const char *const stats_paths[] = { "/api/overview", "/api/nodes",
					   "/api/workers" };
#define STATS_DOCS (sizeof(stats_paths) / sizeof(stats_paths[0]))

/* o's member at a dotted path ("rates.lmtp_msgs"), or NULL. */
static const json_t *
stats_get(const json_t *o, const char *path)
{
	char key[64];

	while (o != NULL && *path != '\0') {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

static const char *
stats_str(const json_t *o, const char *path)
{
	const char *s = json_string_value(stats_get(o, path));

	return s != NULL ? s : STATS_NONE;
}

/* A number with prec decimals (an integer exactly when prec is 0 and the
 * value is one), times mult; "-" when not a number. */
static const char *
stats_num(const json_t *o, const char *path, int prec, double mult,
	  char buf[STATS_NUM_MAX])
{
	const json_t *v = stats_get(o, path);

	if (json_is_integer(v) && prec == 0 && mult == 1)
		snprintf(buf, STATS_NUM_MAX, "%lld",
			 (long long)json_integer_value(v));
	else if (json_is_number(v))
		snprintf(buf, STATS_NUM_MAX, "%.*f", prec,
			 json_number_value(v) * mult);
	else
		return STATS_NONE;
	return buf;
}

static const char *
stats_int(const json_t *o, const char *path, char buf[STATS_NUM_MAX])
{
	return stats_num(o, path, 0, 1, buf);
}

/* Seconds as "[Nd ]HH:MM:SS". */
static const char *
stats_uptime(const json_t *o, const char *path, char buf[STATS_NUM_MAX])
{
	const json_t *v = stats_get(o, path);
	long long s;

	if (!json_is_number(v) || json_number_value(v) < 0 ||
	    json_number_value(v) > 1e12)
		return STATS_NONE;
	s = (long long)json_number_value(v);
	if (s >= 86400)
		snprintf(buf, STATS_NUM_MAX, "%lldd %02lld:%02lld:%02lld",
			 s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
	else
		snprintf(buf, STATS_NUM_MAX, "%02lld:%02lld:%02lld", s / 3600,
			 s / 60 % 60, s % 60);
	return buf;
}

static void
stats_overview_head(FILE *fp, const json_t *o)
{
	const json_t *problems = stats_get(o, "problems");
	char a[STATS_NUM_MAX];
	const json_t *p;
	size_t i;

	fprintf(fp, "host      %s (kurier %s)\n", stats_str(o, "host"),
		stats_str(o, "version"));
	fprintf(fp, "health    %s", stats_str(o, "health"));
	json_array_foreach(problems, i, p)
	{
		const char *s = json_string_value(p);

		fprintf(fp, "%s%s", i == 0 ? ": " : "; ",
			s != NULL ? s : STATS_NONE);
	}
	fprintf(fp, "\nuptime    %s\n", stats_uptime(o, "uptime_s", a));
}

static void
stats_overview_rates(FILE *fp, const json_t *o)
{
	char a[STATS_NUM_MAX], b[STATS_NUM_MAX], c[STATS_NUM_MAX],
		d[STATS_NUM_MAX], e[STATS_NUM_MAX];

	fprintf(fp,
		"lmtp      %s msg/s, %s errors/s, %s deliveries/s, "
		"p50 %s ms, p99 %s ms\n",
		stats_num(o, "rates.lmtp_msgs", 1, 1, a),
		stats_num(o, "rates.lmtp_errors", 1, 1, b),
		stats_num(o, "rates.deliveries", 1, 1, c),
		stats_num(o, "latency_ms.lmtp.p50", 1, 1, d),
		stats_num(o, "latency_ms.lmtp.p99", 1, 1, e));
	fprintf(fp, "rpc       %s calls/s, %s errors/s, p50 %s ms, p99 %s ms\n",
		stats_num(o, "rates.rpc_calls", 1, 1, a),
		stats_num(o, "rates.rpc_errors", 1, 1, b),
		stats_num(o, "latency_ms.rpc.p50", 1, 1, c),
		stats_num(o, "latency_ms.rpc.p99", 1, 1, d));
	fprintf(fp,
		"verdicts  spam %s msg/s, ham %s msg/s, rejected %s msg/s, "
		"deferred %s msg/s\n",
		stats_num(o, "rates.spam", 1, 1, a),
		stats_num(o, "rates.ham", 1, 1, b),
		stats_num(o, "rates.rejected", 1, 1, c),
		stats_num(o, "rates.deferred", 1, 1, d));
	fprintf(fp, "cache     hit rate %s %%\n",
		stats_num(o, "rates.cache_hit_rate", 1, 100, a));
}

static void
stats_overview_counts(FILE *fp, const json_t *o)
{
	char a[STATS_NUM_MAX], b[STATS_NUM_MAX], c[STATS_NUM_MAX],
		d[STATS_NUM_MAX];
	const json_t *enabled = stats_get(o, "antispam.enabled");

	fprintf(fp, "workers   %s/%s serving, %s restarts\n",
		stats_int(o, "workers.serving", a),
		stats_int(o, "workers.total", b),
		stats_int(o, "workers.restarts", c));
	fprintf(fp, "nodes     %s up, %s down, %s draining (%s total)\n",
		stats_int(o, "nodes.up", a), stats_int(o, "nodes.down", b),
		stats_int(o, "nodes.draining", c),
		stats_int(o, "nodes.total", d));
	fprintf(fp, "antispam  %s, generation %s\n",
		!json_is_boolean(enabled) ? STATS_NONE
		: json_is_true(enabled)	  ? "enabled"
					  : "disabled",
		stats_int(o, "antispam.generation", a));
}

static void
stats_nodes(FILE *fp, const json_t *doc)
{
	const json_t *n;
	size_t i;

	fprintf(fp, "%5s %-9s %-8s %-7s %4s %4s %4s %8s %8s %7s %7s\n", "SHARD",
		"NODE", "STATE", "CIRCUIT", "BUSY", "IDLE", "WAIT", "P50_MS",
		"P99_MS", "ERRORS", "USERS");
	json_array_foreach(stats_get(doc, "nodes"), i, n)
	{
		char a[STATS_NUM_MAX], b[STATS_NUM_MAX], c[STATS_NUM_MAX],
			d[STATS_NUM_MAX], e[STATS_NUM_MAX], f[STATS_NUM_MAX],
			g[STATS_NUM_MAX], h[STATS_NUM_MAX];

		fprintf(fp, "%5s %-9s %-8s %-7s %4s %4s %4s %8s %8s %7s %7s\n",
			stats_int(n, "shard", a), stats_str(n, "node"),
			stats_str(n, "state"), stats_str(n, "circuit"),
			stats_int(n, "pool.busy", b),
			stats_int(n, "pool.idle", c),
			stats_int(n, "pool.waiting", d),
			stats_num(n, "latency_ms.p50", 1, 1, e),
			stats_num(n, "latency_ms.p99", 1, 1, f),
			stats_int(n, "errors", g), stats_int(n, "users", h));
	}
}

static void
stats_workers(FILE *fp, const json_t *doc)
{
	char a[STATS_NUM_MAX], b[STATS_NUM_MAX], c[STATS_NUM_MAX],
		d[STATS_NUM_MAX], e[STATS_NUM_MAX], f[STATS_NUM_MAX];
	const json_t *w;
	size_t i;

	fprintf(fp, "%6s %8s %-9s %12s %10s %8s %8s\n", "WORKER", "PID",
		"STATE", "UPTIME", "REQUESTS", "RSS_MIB", "RESTARTS");
	json_array_foreach(stats_get(doc, "workers"), i, w)
	{
		fprintf(fp, "%6s %8s %-9s %12s %10s %8s %8s\n",
			stats_int(w, "index", a), stats_int(w, "pid", b),
			stats_str(w, "state"), stats_uptime(w, "uptime_s", c),
			stats_int(w, "requests", d),
			stats_num(w, "rss_bytes", 1, 1.0 / (1024 * 1024), e),
			stats_int(w, "restarts", f));
	}
	json_array_foreach(stats_get(doc, "restarting"), i, w)
	{
		fprintf(fp, "worker %s restarting in %s ms (restarts %s)\n",
			stats_int(w, "index", a),
			stats_int(w, "restart_in_ms", b),
			stats_int(w, "restarts", c));
	}
	if (stats_get(doc, "health") != NULL)
		fprintf(fp, "workers health %s, %s restarts recently\n",
			stats_str(doc, "health"),
			stats_int(doc, "restarts_recent", a));
}

char *
kr_cli_stats_format(const json_t *overview, const json_t *nodes,
		    const json_t *workers)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (fp == NULL)
		kr_panic("out of memory");
	if (overview != NULL) {
		stats_overview_head(fp, overview);
		stats_overview_rates(fp, overview);
		stats_overview_counts(fp, overview);
	}
	if (nodes != NULL) {
		fputs(overview != NULL ? "\n" : "", fp);
		stats_nodes(fp, nodes);
	}
	if (workers != NULL) {
		fputs(overview != NULL || nodes != NULL ? "\n" : "", fp);
		stats_workers(fp, workers);
	}
	if (fclose(fp) != 0 || text == NULL)
		kr_panic("out of memory");
	return text;
}

char *
kr_cli_stats_dashboard_url(const char *listen, const char *token)
{
	static const char hex[] = "0123456789ABCDEF";
	char host[64], *url = NULL;
	unsigned port;
	size_t len = 0;
	FILE *fp;

	if (kr_cli_http_target(listen, host, sizeof(host), &port) < 0)
		return NULL;
	fp = open_memstream(&url, &len);
	if (fp == NULL)
		kr_panic("out of memory");
	fprintf(fp,
		strchr(host, ':') != NULL ? "http://[%s]:%u/?token="
					  : "http://%s:%u/?token=",
		host, port);
	/* Config tokens are [A-Za-z0-9_-]; anything else is escaped so
	 * that the URL stays one word a browser takes whole. */
	for (const char *p = token; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL)
			fputc(c, fp);
		else
			fprintf(fp, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
	if (fclose(fp) != 0 || url == NULL)
		kr_panic("out of memory");
	return url;
}

/* The three documents, NULL where a GET failed; the first error in
 * error (empty when none). An unreachable port ends the round at once:
 * the next GETs would only wait for the same failure. */
static void
stats_fetch(const struct kr_config *cfg, json_t *docs[STATS_DOCS],
	    char error[KR_ERR_MSG_MAX])
{
	error[0] = '\0';
	for (size_t i = 0; i < STATS_DOCS; i++)
		docs[i] = NULL;
	for (size_t i = 0; i < STATS_DOCS; i++) {
		struct kr_err err = { 0 };
		int status = 0;
		char *body =
			kr_cli_http_request(cfg, "GET", stats_paths[i],
					    STATS_TIMEOUT_S, &status, &err);

		if (body == NULL) {
			snprintf(error, KR_ERR_MSG_MAX, "%s", err.msg);
			return;
		}
		if (status == 200)
			docs[i] = json_loads(body, 0, NULL);
		if (error[0] == '\0' && status == 401)
			snprintf(error, KR_ERR_MSG_MAX,
				 "the admin port refused the [admin] token");
		else if (error[0] == '\0' && status != 200)
			snprintf(error, KR_ERR_MSG_MAX, "GET %s: HTTP %d",
				 stats_paths[i], status);
		else if (error[0] == '\0' && docs[i] == NULL)
			snprintf(error, KR_ERR_MSG_MAX, "GET %s: not JSON",
				 stats_paths[i]);
		free(body);
	}
}

static void
stats_free(json_t *docs[STATS_DOCS])
{
	for (size_t i = 0; i < STATS_DOCS; i++)
		json_decref(docs[i]);
}

/* One JSON line {"overview":..,"nodes":..,"workers":..}, null for a
 * document that could not be fetched. */
static void
stats_print_json(json_t *docs[STATS_DOCS])
{
	json_t *all = json_pack("{s:O?, s:O?, s:O?}", "overview", docs[0],
				"nodes", docs[1], "workers", docs[2]);
	char *text;

	if (all == NULL)
		kr_panic("out of memory");
	text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		kr_panic("out of memory");
	printf("%s\n", text);
	free(text);
	json_decref(all);
}

static void
stats_print(json_t *docs[STATS_DOCS], bool json)
{
	char *text;

	if (json) {
		stats_print_json(docs);
		return;
	}
	text = kr_cli_stats_format(docs[0], docs[1], docs[2]);
	fputs(text, stdout);
	free(text);
}

static int
stats_once(const struct kr_config *cfg, bool json)
{
	char error[KR_ERR_MSG_MAX];
	json_t *docs[STATS_DOCS];

	stats_fetch(cfg, docs, error);
	stats_print(docs, json);
	stats_free(docs);
	if (error[0] != '\0') {
		fprintf(stderr, "kurier: stats: %s\n", error);
		return KR_CLI_FAIL;
	}
	return fflush(stdout) == 0 ? KR_CLI_OK : KR_CLI_FAIL;
}

/* Refreshes every interval_s until SIGINT or SIGTERM. The signals are
 * blocked and taken by sigtimedwait as the pause between refreshes: no
 * handler, and a signal during a fetch ends the loop right after it
 * (each fetch is bounded by STATS_TIMEOUT_S). A failed fetch is shown
 * on the screen and the loop goes on. */
static int
stats_watch(const struct kr_config *cfg, bool json, unsigned interval_s)
{
	struct timespec pause = { .tv_sec = interval_s };
	sigset_t stop;
	int sig;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0)
		return KR_CLI_FAIL;
	do {
		char error[KR_ERR_MSG_MAX], now[16];
		json_t *docs[STATS_DOCS];
		time_t t = time(NULL);
		struct tm tm;

		stats_fetch(cfg, docs, error);
		if (localtime_r(&t, &tm) == NULL ||
		    strftime(now, sizeof(now), "%H:%M:%S", &tm) == 0)
			snprintf(now, sizeof(now), "?");
		if (!json)
			printf("\033[H\033[2Jkurier stats  %s  every %u s "
			       "(Ctrl-C ends)\n%s%s%s\n",
			       now, interval_s,
			       error[0] != '\0' ? "error: " : "", error,
			       error[0] != '\0' ? "\n" : "");
		else if (error[0] != '\0')
			fprintf(stderr, "kurier: stats: %s\n", error);
		stats_print(docs, json);
		stats_free(docs);
		fflush(stdout);
		do
			sig = sigtimedwait(&stop, NULL, &pause);
		while (sig < 0 && errno == EINTR);
	} while (sig < 0);
	return KR_CLI_OK;
}

static int
stats_usage(void)
{
	fprintf(stderr, "usage: kurier stats [-c CONFIG] [--json] "
			"[--watch[=SECONDS]]\n");
	return KR_CLI_USAGE;
}

int
kr_cli_stats_run(const char *config_path, int argc, char **argv)
{
	unsigned interval_s = 0;
	struct kr_config *cfg = NULL;
	struct kr_err err = { 0 };
	bool json = false;
	int rc;

	for (int i = 0; i < argc; i++) {
		uint64_t n;

		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--watch") == 0)
			interval_s = KR_CLI_STATS_WATCH_DEFAULT;
		else if (strncmp(argv[i], "--watch=", 8) == 0 &&
			 kr_cli_parse_count(argv[i] + 8, KR_CLI_STATS_WATCH_MAX,
					    &n) == 0)
			interval_s = (unsigned)n;
		else
			return stats_usage();
	}
	if (kr_config_load(config_path, &cfg, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	rc = interval_s > 0 ? stats_watch(cfg, json, interval_s)
			    : stats_once(cfg, json);
	kr_config_destroy(&cfg);
	return rc;
}

int
kr_cli_dashboard_run(const char *config_path, int argc, char **argv)
{
	struct kr_config *cfg = NULL;
	struct kr_err err = { 0 };
	int rc = KR_CLI_FAIL;
	char *url = NULL;

	if (argc == 2 && strcmp(argv[0], "-c") == 0)
		config_path = argv[1];
	else if (argc != 0) {
		fprintf(stderr, "usage: kurier dashboard [-c CONFIG]\n");
		return KR_CLI_USAGE;
	}
	if (kr_config_load(config_path, &cfg, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	/* The first run may come before kurierd's: `make run` prints the
	 * URL before it starts the daemon, which then reads this token.
	 * The session secret too, so that a packaged kurierd (its unit
	 * keeps /etc read-only) never has to write its config. */
	if (kr_config_generate_key(cfg, "admin", "token", &cfg->admin.token,
				   KR_CLI_TOKEN_BYTES, &err) < 0 ||
	    kr_config_generate_key(cfg, "auth", "secret", &cfg->auth.secret,
				   KR_CLI_TOKEN_BYTES, &err) < 0)
		fprintf(stderr, "kurier: %s\n", err.msg);
	else if ((url = kr_cli_stats_dashboard_url(cfg->admin.listen,
						   cfg->admin.token)) == NULL)
		fprintf(stderr, "kurier: [admin] listen: not host:port\n");
	else {
		printf("%s\n", url);
		rc = fflush(stdout) == 0 ? KR_CLI_OK : KR_CLI_FAIL;
	}
	free(url);
	kr_config_destroy(&cfg);
	return rc;
}
