/* The antispam host: generations of filter modules, what the host
 * offers them, reloads. */
#include <dirent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "antispam/host_priv.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/lru.h"
#include "lib/metrics.h"

/* The admin side learns of holds that came and went this often at
 * most: a write per message would cost more than the check. */
#define HOST_HOLDS_PUBLISH_MS 1000

static const struct kr_metric_def host_metric_defs[] = {
#define HOST_ID(f) offsetof(struct kr_antispam_metrics, f)
	{ HOST_ID(verdict[KR_ANTISPAM_HAM]),
	  { "kurier_antispam_verdicts_total", "verdict=\"ham\"",
	    "Messages checked, by verdict.", KR_METRIC_COUNTER, 1 } },
	{ HOST_ID(verdict[KR_ANTISPAM_SPAM]),
	  { "kurier_antispam_verdicts_total", "verdict=\"spam\"",
	    "Messages checked, by verdict.", KR_METRIC_COUNTER, 1 } },
	{ HOST_ID(verdict[KR_ANTISPAM_REJECT]),
	  { "kurier_antispam_verdicts_total", "verdict=\"reject\"",
	    "Messages checked, by verdict.", KR_METRIC_COUNTER, 1 } },
	{ HOST_ID(verdict[KR_ANTISPAM_DEFER]),
	  { "kurier_antispam_verdicts_total", "verdict=\"defer\"",
	    "Messages checked, by verdict.", KR_METRIC_COUNTER, 1 } },
	{ HOST_ID(check_us),
	  { "kurier_antispam_check_seconds", "",
	    "Time one message spent in the filter modules.",
	    KR_METRIC_HISTOGRAM, KR_METRIC_SCALE_US } },
	{ HOST_ID(reloads),
	  { "kurier_antispam_reloads_total", "",
	    "Filter generations built by a reload.", KR_METRIC_COUNTER, 1 } },
	{ HOST_ID(reload_failures),
	  { "kurier_antispam_reload_failures_total", "",
	    "Reloads refused (the running generation stayed).",
	    KR_METRIC_COUNTER, 1 } },
	{ HOST_ID(generation),
	  { "kurier_antispam_generation", "",
	    "The current filter generation of each worker.", KR_METRIC_GAUGE,
	    1 } },
	{ HOST_ID(generations),
	  { "kurier_antispam_generations_open", "",
	    "Filter generations still open (current included).",
	    KR_METRIC_GAUGE, 1 } },
	{ HOST_ID(unloads),
	  { "kurier_antispam_module_unloads_total", "",
	    "Filter modules closed and unloaded.", KR_METRIC_COUNTER, 1 } },
#undef HOST_ID
};

struct kr_antispam_metrics *
kr_antispam_metrics_define(struct kr_metrics *m, struct kr_err *err_r)
{
	return kr_metrics_define_ids(m, KR_METRICS_TABLE(host_metric_defs),
				     sizeof(struct kr_antispam_metrics), err_r);
}

void
as_count(struct kr_antispam *as, int which, uint64_t n)
{
	if (as->env.slot != NULL && as->env.ids != NULL)
		kr_metrics_add(as->env.slot, which, n);
}

void
as_observe(struct kr_antispam *as, int which, uint64_t v)
{
	if (as->env.slot != NULL && as->env.ids != NULL)
		kr_metrics_observe(as->env.slot, which, v);
}

static void
host_gauges(struct kr_antispam *as)
{
	size_t n = kr_antispam_open_generations(as);

	if (as->env.slot == NULL || as->env.ids == NULL)
		return;
	kr_metrics_gauge_set(as->env.slot, as->env.ids->generation,
			     (int64_t)as->cur->id);
	kr_metrics_gauge_set(as->env.slot, as->env.ids->generations,
			     (int64_t)n);
}

static void
host_changed(struct kr_antispam *as)
{
	if (as->env.changed != NULL)
		as->env.changed(as->env.changed_ctx, as);
}

static void
host_on_holds_tick(evutil_socket_t fd, short what, void *ctx)
{
	struct kr_antispam *as = ctx;

	(void)fd;
	(void)what;
	as->holds_armed = false;
	if (as->cur != NULL)
		host_changed(as);
}

/* A check took or let go of a generation: told within a second, once
 * for however many came and went meanwhile; no timer while idle. */
static void
host_holds_moved(struct kr_antispam *as)
{
	struct timeval tv = { HOST_HOLDS_PUBLISH_MS / 1000,
			      HOST_HOLDS_PUBLISH_MS % 1000 * 1000 };

	if (as->holds_tick == NULL || as->holds_armed)
		return;
	evtimer_add(as->holds_tick, &tv);
	as->holds_armed = true;
}

/* ---- what the host offers modules (struct kr_filter_host) ---------- */

static void
host_log(void *ctx, enum kr_filter_log_level level, const char *req_id,
	 const char *event, const char *detail)
{
	static const enum kr_log_level levels[] = {
		[KR_FILTER_LOG_DEBUG] = KR_LOG_DEBUG,
		[KR_FILTER_LOG_INFO] = KR_LOG_INFO,
		[KR_FILTER_LOG_WARN] = KR_LOG_WARN,
		[KR_FILTER_LOG_ERROR] = KR_LOG_ERROR,
	};
	struct as_module *m = ctx;
	struct kr_log_line line;

	if ((unsigned)level > KR_FILTER_LOG_ERROR)
		level = KR_FILTER_LOG_ERROR;
	if (!kr_log_begin(&line, m->as->env.log, levels[level], req_id,
			  "antispam.module"))
		return;
	kr_log_str(&line, "module", m->name);
	kr_log_str(&line, "what", event != NULL ? event : "");
	kr_log_str(&line, "detail", detail != NULL ? detail : "");
	kr_log_end(&line);
}

static uint64_t
host_count(void *ctx, const char *kind, const void *key, size_t key_len,
	   unsigned window_ms, unsigned n)
{
	struct kr_antispam *as = ((struct as_module *)ctx)->as;

	if (as->env.count == NULL)
		return n; /* nothing shared: each message counts alone */
	return as->env.count(as->env.count_ctx, kind, key, key_len, window_ms,
			     n);
}

/* ---- configuration -------------------------------------------------- */

void
as_conf_put(struct as_conf *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	for (size_t i = 0; i < sizeof(c->strings) / sizeof(c->strings[0]); i++)
		free(c->strings[i]);
	free(c);
}

static char *
conf_dup(const char *s)
{
	return s != NULL ? kr_xstrdup(s) : NULL;
}

/* "modules" beside the running executable (a build tree), else
 * "../lib/kurier/modules" from it (`make install`: PREFIX/sbin/kurierd,
 * PREFIX/lib/kurier/modules), so neither needs the key set. */
static char *
conf_default_modules(void)
{
	static const char installed[] = "../lib/kurier/modules";
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe,
			     sizeof(exe) - sizeof(installed));
	char *slash;
	struct stat st;

	if (n <= 0)
		return kr_xstrdup("modules");
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return kr_xstrdup("modules");
	strcpy(slash + 1, "modules");
	if (stat(exe, &st) == 0 && S_ISDIR(st.st_mode))
		return kr_xstrdup(exe);
	strcpy(slash + 1, installed);
	return kr_xstrdup(exe);
}

static struct as_conf *
conf_from(const struct kr_config *cfg)
{
	struct as_conf *c = kr_xcalloc(1, sizeof(*c));
	const struct kr_config_antispam *a = &cfg->antispam;

	c->refs = 1;
	c->strings[0] = a->modules != NULL ? kr_xstrdup(a->modules)
					   : conf_default_modules();
	c->strings[1] = conf_dup(a->resolver);
	c->strings[2] = conf_dup(a->dnsbl);
	c->strings[3] = conf_dup(a->rules);
	c->strings[4] = conf_dup(a->reloadable);
	c->conf = (struct kr_filter_conf){
		.size = sizeof(struct kr_filter_conf),
		.modules = c->strings[0],
		.resolver = c->strings[1],
		.dnsbl = c->strings[2],
		.rules = c->strings[3],
		.spam_score = a->spam_score,
		.reject_score = a->reject_score,
		.rate_ip = a->rate_ip,
		.rate_sender = a->rate_sender,
		.rate_window_ms = a->rate_window_ms,
		.bulk_rcpts = a->bulk_rcpts,
		.bulk_window_ms = a->bulk_window_ms,
		.bulk_score = a->bulk_score,
		.bayes_tokens_max = a->bayes_tokens_max,
		.check_timeout_ms = a->check_timeout_ms,
	};
	return c;
}

/* Points the resolver at conf's server (or the system's). */
static int
host_resolver(struct kr_antispam *as, const char *resolver,
	      struct kr_err *err_r)
{
	int rc;

	evdns_base_clear_nameservers_and_suspend(as->dns);
	if (resolver != NULL)
		rc = evdns_base_nameserver_ip_add(as->dns, resolver);
	else
		rc = evdns_base_resolv_conf_parse(
			as->dns, DNS_OPTION_NAMESERVERS, "/etc/resolv.conf");
	evdns_base_resume(as->dns);
	if (rc != 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "[antispam] resolver: cannot use %s",
				  resolver != NULL ? resolver
						   : "/etc/resolv.conf");
	return 0;
}

/* ---- generations ---------------------------------------------------- */

/* Whether name is in the space-separated list (NULL: every name). */
static bool
name_listed(const char *list, const char *name)
{
	size_t len = strlen(name);

	if (list == NULL)
		return true;
	for (const char *p = list; *p != '\0';) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == len && strncmp(p, name, n) == 0)
			return true;
		p += n;
	}
	return false;
}

static int
path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The module files of dir, sorted; their count, or -1 + err_r. */
static int
gen_list(const char *dir, char **paths, size_t max, struct kr_err *err_r)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (d == NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "[antispam] modules: %s: %m", dir);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (strncmp(e->d_name, "kr_", 3) != 0 || len < 6 ||
		    strcmp(e->d_name + len - 3, ".so") != 0)
			continue;
		if (n == max) {
			closedir(d);
			for (size_t i = 0; i < n; i++)
				free(paths[i]);
			return kr_err_set(err_r, KR_ERR_LIMIT,
					  "[antispam] modules: %s: more than "
					  "%zu modules",
					  dir, max);
		}
		if (asprintf(&paths[n], "%s/%s", dir, e->d_name) < 0)
			kr_panic("out of memory");
		n++;
	}
	closedir(d);
	qsort(paths, n, sizeof(paths[0]), path_cmp);
	return (int)n;
}

static struct as_module *
gen_find(const struct kr_antispam_gen *gen, const char *name)
{
	for (size_t i = 0; gen != NULL && i < gen->n_mods; i++)
		if (strcmp(gen->mods[i]->name, name) == 0)
			return gen->mods[i];
	return NULL;
}

static void
gen_free_mods(struct kr_antispam_gen *gen)
{
	for (size_t i = 0; i < gen->n_mods; i++)
		as_module_put(gen->mods[i]);
	gen->n_mods = 0;
}

/* One module of a new generation: kept from prev when it is not
 * reloadable, else opened again. */
static int
gen_add(struct kr_antispam *as, struct kr_antispam_gen *gen,
	const struct kr_antispam_gen *prev, struct as_conf *conf,
	const char *path, struct kr_err *err_r)
{
	const char *base = strrchr(path, '/') + 1;
	char name[AS_NAME_MAX];
	size_t len = strlen(base) - 6; /* kr_ .so */
	struct as_module *m;

	snprintf(name, sizeof(name), "%.*s", (int)len, base + 3);
	m = gen_find(prev, name);
	if (m != NULL && !name_listed(conf->strings[4], name)) {
		m->refs++;
	} else {
		m = as_module_open(as, conf, path, gen->id, err_r);
		if (m == NULL)
			return -1;
	}
	gen->mods[gen->n_mods++] = m;
	return 0;
}

static struct kr_antispam_gen *
gen_build(struct kr_antispam *as, struct as_conf *conf,
	  const struct kr_config *cfg, struct kr_err *err_r)
{
	struct kr_antispam_gen *gen = kr_xcalloc(1, sizeof(*gen));
	char *paths[AS_MODULES_MAX];
	int n = gen_list(conf->conf.modules, paths, AS_MODULES_MAX, err_r);
	int rc = 0;

	gen->as = as;
	gen->id = as->last_id + 1;
	gen->spam_score = cfg->antispam.spam_score;
	gen->reject_score = cfg->antispam.reject_score;
	gen->timeout_ms = cfg->antispam.check_timeout_ms;
	for (int i = 0; i < n; i++) {
		if (rc == 0)
			rc = gen_add(as, gen, as->cur, conf, paths[i], err_r);
		free(paths[i]);
	}
	if (n < 0 || rc < 0) {
		gen_free_mods(gen);
		free(gen);
		return NULL;
	}
	as->last_id = gen->id;
	gen->refs = 1;
	return gen;
}

/* Makes gen current; the old one closes when its last check is done. */
static void
gen_install(struct kr_antispam *as, struct kr_antispam_gen *gen)
{
	struct kr_antispam_gen *old = as->cur;
	struct kr_log_line line;

	gen->next = as->open;
	gen->loaded_at_ms = kr_clock_wall_ms();
	as->open = gen;
	as->cur = gen;
	if (kr_log_begin(&line, as->env.log, KR_LOG_INFO, NULL,
			 "antispam.generation")) {
		kr_log_uint(&line, "generation", gen->id);
		for (size_t i = 0; i < gen->n_mods; i++)
			kr_log_uint(&line, gen->mods[i]->name,
				    gen->mods[i]->generation);
		kr_log_end(&line);
	}
	if (old != NULL)
		as_gen_put(old);
	host_gauges(as);
	host_changed(as);
}

void
as_gen_hold(struct kr_antispam_gen *gen)
{
	gen->refs++;
	host_holds_moved(gen->as);
}

void
as_gen_put(struct kr_antispam_gen *gen)
{
	struct kr_antispam *as = gen->as;
	struct kr_log_line line;

	kr_assert(gen->refs > 0);
	if (--gen->refs > 0) {
		host_holds_moved(as);
		return;
	}
	for (struct kr_antispam_gen **p = &as->open; *p != NULL;
	     p = &(*p)->next) {
		if (*p == gen) {
			*p = gen->next;
			break;
		}
	}
	gen_free_mods(gen);
	if (kr_log_begin(&line, as->env.log, KR_LOG_INFO, NULL,
			 "antispam.generation_closed")) {
		kr_log_uint(&line, "generation", gen->id);
		kr_log_end(&line);
	}
	free(gen);
	if (as->cur != NULL) {
		host_gauges(as);
		host_changed(as);
	}
}

/* ---- the public calls ----------------------------------------------- */

int
kr_antispam_create(const struct kr_antispam_env *env,
		   const struct kr_config *cfg, struct kr_antispam **as_r,
		   struct kr_err *err_r)
{
	struct kr_antispam *as = kr_xcalloc(1, sizeof(*as));
	struct kr_antispam_gen *gen;

	as->env = *env;
	as->conf = conf_from(cfg);
	as->untrained = kr_lru_create(KR_ANTISPAM_UNTRAINED_BYTES);
	as->dns = evdns_base_new(env->base, 0);
	if (as->dns == NULL) {
		kr_err_set(err_r, KR_ERR_TEMPORARY, "evdns_base_new failed");
		goto fail;
	}
	if (host_resolver(as, as->conf->conf.resolver, err_r) < 0)
		goto fail;
	as->host = (struct kr_filter_host){
		.size = sizeof(struct kr_filter_host),
		.ctx = as,
		.base = env->base,
		.dns = as->dns,
		.log = host_log,
		.count = host_count,
		.tokens_get = as_tokens_get,
	};
	as_host_results(&as->host);
	if (env->changed != NULL &&
	    (as->holds_tick = evtimer_new(env->base, host_on_holds_tick, as)) ==
		    NULL)
		kr_panic("antispam: out of memory");
	gen = gen_build(as, as->conf, cfg, err_r);
	if (gen == NULL)
		goto fail;
	gen_install(as, gen);
	*as_r = as;
	return 0;
fail:
	kr_antispam_destroy(&as);
	return -1;
}

void
kr_antispam_destroy(struct kr_antispam **asp)
{
	struct kr_antispam *as = *asp;

	if (as == NULL)
		return;
	if (as->holds_tick != NULL)
		event_free(as->holds_tick);
	as->holds_tick = NULL;
	/* Checks in flight are the callers': they cancel theirs first. */
	if (as->cur != NULL) {
		struct kr_antispam_gen *cur = as->cur;

		as->cur = NULL;
		as_gen_put(cur);
	}
	kr_assert(as->open == NULL);
	as_module_flush(as);
	if (as->dns != NULL)
		evdns_base_free(as->dns,
				0); /* no answers into closed modules */
	as_conf_put(as->conf);
	kr_lru_destroy(&as->untrained);
	free(as);
	*asp = NULL;
}

int
kr_antispam_reload(struct kr_antispam *as, const struct kr_config *cfg,
		   struct kr_err *err_r)
{
	struct as_conf *conf = conf_from(cfg);
	struct kr_antispam_gen *gen;

	if (host_resolver(as, conf->conf.resolver, err_r) < 0 ||
	    (gen = gen_build(as, conf, cfg, err_r)) == NULL) {
		as_conf_put(conf);
		snprintf(as->last_error, sizeof(as->last_error), "%s",
			 err_r->msg);
		if (as->env.ids != NULL)
			as_count(as, as->env.ids->reload_failures, 1);
		return -1;
	}
	as_conf_put(as->conf);
	as->conf = conf;
	as->last_error[0] = '\0';
	gen_install(as, gen);
	if (as->env.ids != NULL)
		as_count(as, as->env.ids->reloads, 1);
	return 0;
}

uint64_t
kr_antispam_generation(const struct kr_antispam *as)
{
	return as->cur->id;
}

size_t
kr_antispam_open_generations(const struct kr_antispam *as)
{
	size_t n = 0;

	for (const struct kr_antispam_gen *g = as->open; g != NULL; g = g->next)
		n++;
	return n;
}

const char *
kr_antispam_last_error(const struct kr_antispam *as)
{
	return as->last_error;
}

int
kr_antispam_module(const struct kr_antispam *as, size_t i, const char **name_r,
		   uint64_t *generation_r)
{
	if (as->cur == NULL || i >= as->cur->n_mods)
		return -1;
	*name_r = as->cur->mods[i]->name;
	*generation_r = as->cur->mods[i]->generation;
	return 0;
}

static const struct kr_antispam_gen *
host_open_gen(const struct kr_antispam *as, size_t i)
{
	const struct kr_antispam_gen *g = as->open;

	for (; g != NULL && i > 0; i--)
		g = g->next;
	return g;
}

int
kr_antispam_open_generation(const struct kr_antispam *as, size_t i,
			    struct kr_antispam_gen_info *info_r)
{
	const struct kr_antispam_gen *g = host_open_gen(as, i);
	bool cur = g != NULL && g == as->cur;

	if (g == NULL)
		return -1;
	*info_r = (struct kr_antispam_gen_info){
		.id = g->id,
		.loaded_at_ms = g->loaded_at_ms,
		/* The host's own hold on the current one is no check. */
		.in_flight = g->refs - (cur && g->refs > 0),
		.current = cur,
		.n_modules = g->n_mods,
	};
	return 0;
}

int
kr_antispam_open_generation_module(const struct kr_antispam *as, size_t i,
				   size_t m, const char **name_r,
				   const char **version_r,
				   uint64_t *generation_r)
{
	const struct kr_antispam_gen *g = host_open_gen(as, i);

	if (g == NULL || m >= g->n_mods)
		return -1;
	*name_r = g->mods[m]->name;
	*version_r = g->mods[m]->version;
	*generation_r = g->mods[m]->generation;
	return 0;
}

struct kr_antispam_gen *
kr_antispam_gen_acquire(struct kr_antispam *as)
{
	as_gen_hold(as->cur);
	return as->cur;
}

void
kr_antispam_gen_release(struct kr_antispam_gen **gen)
{
	if (*gen == NULL)
		return;
	as_gen_put(*gen);
	*gen = NULL;
}

int
kr_antispam_gen_module(const struct kr_antispam_gen *gen, const char *name,
		       const struct kr_filter_module **mod_r, void **state_r)
{
	const struct as_module *m = gen_find(gen, name);

	if (m == NULL)
		return -1;
	*mod_r = m->mod;
	*state_r = m->state;
	return 0;
}
