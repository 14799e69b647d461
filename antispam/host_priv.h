/* Inside the antispam host: loaded modules, generations, the host
 * object; shared by host.c (generations), module.c (loading) and
 * check.c (one message). */
#ifndef KR_ANTISPAM_HOST_PRIV_H
#define KR_ANTISPAM_HOST_PRIV_H

#include "antispam/antispam.h"

/* Modules one generation holds, and the longest module name. */
#define AS_MODULES_MAX 16
#define AS_NAME_MAX 32
/* The longest module version text kept (longer ones are cut). */
#define AS_VERSION_MAX 64
/* A module let go is closed and unloaded this much later: a request it
 * cancelled (an evdns query) may still call back into its code within
 * a loop turn or two. */
#define AS_UNLOAD_DELAY_MS 100

struct event;
struct kr_lru;

/* The [antispam] section as modules see it, shared by the generation
 * and the modules opened under it (a kept module keeps its own). */
struct as_conf {
	unsigned refs;
	struct kr_filter_conf conf;
	char *strings[5]; /* modules, resolver, dnsbl, rules, reloadable */
};

/* One opened module: its code (a private copy, so that a reload maps
 * new code even at the same path) and its state. Generations that keep
 * a module (not reloadable) share it. */
struct as_module {
	struct kr_antispam *as;
	/* What this module is offered: the host's calls with ctx = this
	 * module, so that service requests can hold it. */
	struct kr_filter_host host;
	/* Generations holding it, and the host's requests that will call
	 * back into its code (a Bayes look-up in flight). */
	unsigned refs;
	struct event *unload;	       /* pending close, after the last hold */
	struct as_module *next_unload; /* the host's list of those */
	void *dl;
	int memfd; /* the copy dlopen mapped; open while loaded */
	const struct kr_filter_module *mod;
	void *state;
	struct as_conf *conf; /* what it was opened with */
	uint64_t generation;  /* the one that opened it */
	char name[AS_NAME_MAX];
	/* The module's version text, copied: the dashboard reads it
	 * after the code that held the original may be gone. */
	char version[AS_VERSION_MAX];
};

struct kr_antispam_gen {
	struct kr_antispam *as;
	uint64_t id;
	int64_t loaded_at_ms; /* wall clock, when it became current */
	/* The host's hold while current, one per check in flight and one
	 * per kr_antispam_gen_acquire. */
	unsigned refs;
	struct as_module *mods[AS_MODULES_MAX];
	size_t n_mods;
	double spam_score, reject_score;
	unsigned timeout_ms;
	struct kr_antispam_gen *next; /* the host's list of open ones */
};

struct kr_antispam {
	struct kr_antispam_env env;
	struct kr_filter_host host; /* the template of each module's */
	struct as_conf *conf;	    /* the current generation's */
	struct evdns_base *dns;
	struct kr_antispam_gen *cur;
	struct kr_antispam_gen *open; /* every open generation */
	struct as_module *unloading;  /* closed soon (as_module.unload) */
	/* Accounts whose Bayes statistic was empty (host_tokens.c). */
	struct kr_lru *untrained;
	/* Tells env.changed of holds that came and went, at most once a
	 * second; armed by the first change after a tick. */
	struct event *holds_tick;
	bool holds_armed;
	uint64_t last_id;
	char last_error[KR_ERR_MSG_MAX];
};

/* module.c: opens the module file path for generation id under conf
 * (dlopen of a private copy, ABI check, open, selftest). NULL + err_r
 * when any step fails; nothing stays loaded then. */
struct as_module *as_module_open(struct kr_antispam *as, struct as_conf *conf,
				 const char *path, uint64_t id,
				 struct kr_err *err_r);
/* Drops one hold; after the last the module is closed and unloaded
 * AS_UNLOAD_DELAY_MS later. */
void as_module_put(struct as_module *m);
/* Closes and unloads every module waiting for it (host teardown). */
void as_module_flush(struct kr_antispam *as);

/* host.c: counting into the worker's slot (no ids: nothing). */
void as_count(struct kr_antispam *as, int which, uint64_t n);
void as_observe(struct kr_antispam *as, int which, uint64_t v);
void as_conf_put(struct as_conf *c);

/* host.c: a check's hold on its generation. */
void as_gen_hold(struct kr_antispam_gen *gen);
void as_gen_put(struct kr_antispam_gen *gen);

/* host_tokens.c: struct kr_filter_host tokens_get (ctx: the module). */
int as_tokens_get(void *ctx, const char *account, const uint64_t *hashes,
		  size_t n, kr_filter_tokens_fn *cb, void *arg);

/* check.c: the result calls of struct kr_filter_host. */
void as_host_results(struct kr_filter_host *host);

#endif
