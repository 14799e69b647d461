/* The antispam host (SPEC.md §5): generations of filter modules
 * (antispam/filter.h) and one check per message through the current
 * one. A reload builds a new generation beside the running one; new
 * messages use it, messages being checked finish on theirs, and a
 * generation is closed and its modules dlclose()d when its last
 * message is done. A generation that fails to build (a module that
 * does not load, has the wrong ABI or fails its self-test) leaves the
 * running one in place; the error is kept for the admin side. Worker
 * loop only. */
#ifndef KR_ANTISPAM_H
#define KR_ANTISPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "antispam/filter.h"
#include "lib/err.h"

struct event_base;
struct kr_config;
struct kr_hits;
struct kr_log;
struct kr_tpool;
struct kr_metrics;
struct kr_metrics_slot;
struct kr_antispam;
struct kr_antispam_check;
struct kr_antispam_gen;

/* What the host runs on; everything outlives the host. */
struct kr_antispam_env {
	struct event_base *base;
	struct kr_log *log;
	/* Where KR_FILTER_F_CPU modules check; NULL: on the loop. */
	struct kr_tpool *cpu;
	/* Host-wide counters and the Bayes statistics, as struct
	 * kr_filter_host count and tokens_get take them (with their own
	 * ctx); NULL: none (each message counts alone, no Bayes). */
	uint64_t (*count)(void *ctx, const char *kind, const void *key,
			  size_t key_len, unsigned window_ms, unsigned n);
	void *count_ctx;
	int (*tokens_get)(void *ctx, const char *account,
			  const uint64_t *hashes, size_t n,
			  kr_filter_tokens_fn *cb, void *arg);
	void *tokens_ctx;
	/* Rule hit counts by name, host-wide (antispam/hits.h); NULL:
	 * not counted. */
	struct kr_hits *hits;
	/* The worker's slot and the ids of kr_antispam_metrics_define;
	 * NULL: not counted. */
	struct kr_metrics_slot *slot;
	const struct kr_antispam_metrics *ids;
	/* Called after a generation became current or closed, and at
	 * most once a second (HOST_HOLDS_PUBLISH_MS) while the checks
	 * holding generations come and go (the admin side's status,
	 * antispam/status.h); NULL: not told. */
	void (*changed)(void *ctx, const struct kr_antispam *as);
	void *changed_ctx;
};

/* The host's figures, defined in the master before it forks. */
struct kr_antispam_metrics {
	int verdict[4];	     /* counters by enum kr_antispam_kind */
	int check_us;	     /* histogram: one message, all modules */
	int reloads;	     /* counter: generations built by a reload */
	int reload_failures; /* counter: reloads refused */
	int generation;	     /* gauge: the current one */
	int generations;     /* gauge: open ones, current included */
	int unloads;	     /* counter: modules closed and unloaded */
};
/* NULL + err_r when the registry refuses one; free() it. */
struct kr_antispam_metrics *kr_antispam_metrics_define(struct kr_metrics *m,
						       struct kr_err *err_r);

/* Builds generation 1 from cfg->antispam. -1 + err_r when it cannot
 * (the message names the module and why). */
int kr_antispam_create(const struct kr_antispam_env *env,
		       const struct kr_config *cfg, struct kr_antispam **as_r,
		       struct kr_err *err_r);
/* Cancels every check and closes every generation. */
void kr_antispam_destroy(struct kr_antispam **as);

/* A new generation from cfg: modules named in [antispam] reloadable
 * are opened again from their files, the others are kept from the
 * running generation (same state, shared). 0: it is current; -1 +
 * err_r: the running one stays (and the error is kept). */
int kr_antispam_reload(struct kr_antispam *as, const struct kr_config *cfg,
		       struct kr_err *err_r);

/* The current generation's number (1, 2, ...), the number of
 * generations still open (current included), and the last reload
 * error ("" when the last reload worked). */
uint64_t kr_antispam_generation(const struct kr_antispam *as);
size_t kr_antispam_open_generations(const struct kr_antispam *as);
const char *kr_antispam_last_error(const struct kr_antispam *as);
/* Module i (0, 1, ...) of the current generation: its name and the
 * generation that opened it (borrowed until the next reload); -1 past
 * the last. */
int kr_antispam_module(const struct kr_antispam *as, size_t i,
		       const char **name_r, uint64_t *generation_r);

/* Open generation i (0: the newest, the current one after a build;
 * then older ones still held), for the admin side: -1 past the last.
 * in_flight counts the checks and trainings holding it (not the
 * host's own hold on the current one). */
struct kr_antispam_gen_info {
	uint64_t id;
	int64_t loaded_at_ms; /* wall clock, when it became current */
	size_t in_flight;
	bool current;
	size_t n_modules;
};
int kr_antispam_open_generation(const struct kr_antispam *as, size_t i,
				struct kr_antispam_gen_info *info_r);
/* Module m of open generation i: its name, its version text ("" when
 * the module gives none) and the generation that opened it, borrowed
 * until the generation closes; -1 past the last. */
int kr_antispam_open_generation_module(const struct kr_antispam *as, size_t i,
				       size_t m, const char **name_r,
				       const char **version_r,
				       uint64_t *generation_r);

/* What one check decided for one recipient. */
enum kr_antispam_kind {
	KR_ANTISPAM_HAM,
	KR_ANTISPAM_SPAM,
	KR_ANTISPAM_REJECT,
	KR_ANTISPAM_DEFER, /* a rate limit: try again later */
};

struct kr_antispam_rcpt {
	enum kr_antispam_kind kind;
	double score;
	/* Header lines for this recipient's copy, each ending in CRLF:
	 * Received-SPF (when checked), X-Spam-Score, X-Spam-Status and,
	 * on spam, X-Spam-Flag: YES. */
	const char *headers;
	size_t headers_len;
};

/* The answer; borrowed for the callback. */
struct kr_antispam_verdict {
	const struct kr_antispam_rcpt *rcpts; /* msg's order */
	size_t n;
	uint64_t generation; /* the one that checked */
	/* "GTUBE,SPF_FAIL": the tests that hit the message (any
	 * recipient), for the delivery's log line. */
	const char *tests;
	const char *defer_why; /* KR_ANTISPAM_DEFER: why; else NULL */
};

typedef void kr_antispam_fn(void *ctx, const struct kr_antispam_verdict *v);

/* Checks msg (borrowed until the answer) through the current
 * generation, which stays open until this check is done. cb fires
 * exactly once from the loop, never before this returns, unless
 * kr_antispam_check_cancel runs first. Never returns NULL. */
struct kr_antispam_check *
kr_antispam_check_begin(struct kr_antispam *as, const struct kr_filter_msg *msg,
			kr_antispam_fn *cb, void *ctx);
/* No callback afterwards; sets *c to NULL (NULL is fine). */
void kr_antispam_check_cancel(struct kr_antispam_check **c);

/* account was trained (message.move): counted host-wide, so that no
 * worker answers from its memory of accounts without a statistic. */
void kr_antispam_learned(struct kr_antispam *as, const char *account);

/* The current generation, held open until released (training asks the
 * bayes module for a message's tokens through it). */
struct kr_antispam_gen *kr_antispam_gen_acquire(struct kr_antispam *as);
void kr_antispam_gen_release(struct kr_antispam_gen **gen);
/* The module called name in gen and its state; -1 when gen has none. */
int kr_antispam_gen_module(const struct kr_antispam_gen *gen, const char *name,
			   const struct kr_filter_module **mod_r,
			   void **state_r);

#endif
