/* The filter module ABI (SPEC.md §5): what a shared object in
 * [antispam] modules exports and what the host gives it. A module
 * includes only this header (plus libc and libevent); it never sees
 * the host's own structures, so a module built against version N runs
 * in any host that speaks N and is refused by any other.
 *
 * A module exports one function, KR_FILTER_ENTRY, returning a static
 * struct kr_filter_module whose abi is KR_FILTER_ABI. The host opens a
 * module once per generation (open, then selftest), asks it about each
 * message (check), and closes it when the generation's last message is
 * done (close, then dlclose). Everything runs on the worker's loop
 * thread; a module that blocks stalls the worker: it uses the host's
 * loop, resolver and io pool instead. */
#ifndef KR_FILTER_H
#define KR_FILTER_H

#include <stddef.h>
#include <stdint.h>

#define KR_FILTER_ABI 1u
#define KR_FILTER_ENTRY "kr_filter_entry"

struct event_base;
struct evdns_base;
struct kr_filter_result; /* the host's: one per message being checked */

/* The [antispam] section, read-only, valid until close. */
struct kr_filter_conf {
	uint32_t size;	      /* sizeof(struct kr_filter_conf) */
	const char *modules;  /* directory of the modules (and helpers) */
	const char *resolver; /* "host:port"; NULL: the system's */
	const char *dnsbl;    /* "ZONE[=SCORE] ..."; NULL: none */
	const char *rules;    /* rule files/globs, space-separated */
	double spam_score;    /* at or above: spam */
	double reject_score;  /* at or above: refused */
	unsigned rate_ip;     /* messages per rate_window; 0: off */
	unsigned rate_sender; /* the same per envelope sender */
	unsigned rate_window_ms;
	unsigned bulk_rcpts; /* the same body to this many: bulk */
	unsigned bulk_window_ms;
	double bulk_score;
	unsigned bayes_tokens_max; /* per user */
	unsigned check_timeout_ms; /* one message, all modules */
};

/* A message decoded once by the host for every module. Text is UTF-8
 * (invalid bytes replaced), NUL-terminated; lengths exclude the NUL. */
struct kr_filter_text {
	/* The header block with folded lines joined and RFC 2047 words
	 * decoded, "Name: value\n" per field, in message order. */
	const char *headers;
	size_t headers_len;
	/* SpamAssassin's "body": the Subject, then the text of every
	 * text part (HTML rendered to text), whitespace runs collapsed
	 * to one space, paragraphs on lines of their own. */
	const char *body;
	size_t body_len;
	/* SpamAssassin's "rawbody": every text part decoded from its
	 * transfer and charset encoding, HTML kept, lines as sent. */
	const char *rawbody;
	size_t rawbody_len;
	/* URIs found in the text and in HTML attributes, one per line. */
	const char *uris;
	size_t uris_len;
};

/* One message, borrowed until the check is done or cancelled. */
struct kr_filter_msg {
	const char *req_id;	  /* for log lines */
	const char *client_addr;  /* IP text; NULL: unknown */
	const char *client_helo;  /* NULL: unknown */
	const char *client_name;  /* reverse name; NULL: unknown */
	const char *sender;	  /* envelope reverse-path; "" for <> */
	const char *const *rcpts; /* the recipients' accounts */
	size_t n_rcpts;
	const char *raw; /* the message as received, CRLF lines */
	size_t raw_len;
	const struct kr_filter_text *text;
	uint64_t body_hash; /* of the decoded body: bulk detection */
};

enum kr_filter_log_level {
	KR_FILTER_LOG_DEBUG,
	KR_FILTER_LOG_INFO,
	KR_FILTER_LOG_WARN,
	KR_FILTER_LOG_ERROR,
};

/* A Bayes statistic of one user (the bayes module's store). */
struct kr_filter_tokens {
	uint32_t n_spam, n_ham; /* messages trained */
	size_t n; /* as asked; 0 (no arrays) when n_spam and n_ham are 0 */
	const uint64_t *hashes; /* as asked */
	const uint32_t *spam;	/* counts per hash, 0 when unknown */
	const uint32_t *ham;
};
typedef void kr_filter_tokens_fn(void *arg, const struct kr_filter_tokens *t,
				 int ok);

/* What the host offers. ctx is the first argument of every call. */
struct kr_filter_host {
	uint32_t size; /* sizeof(struct kr_filter_host) */
	void *ctx;
	struct event_base *base;
	/* The resolver of [antispam] resolver; NULL when there is none. */
	struct evdns_base *dns;
	void (*log)(void *ctx, enum kr_filter_log_level level,
		    const char *req_id, const char *event, const char *detail);
	/* Counts n events for key (kind names the counter: "ip",
	 * "sender", "bulk") in a window of window_ms, across every worker
	 * of the host; returns the count in the window including these.
	 * Never blocks; a full table forgets the oldest keys. */
	uint64_t (*count)(void *ctx, const char *kind, const void *key,
			  size_t key_len, unsigned window_ms, unsigned n);
	/* The Bayes counts of account for hashes; cb(arg, t, ok) fires
	 * once from the loop, later (ok 0: the store did not answer). 0
	 * when started, -1 when not (cb never fires). */
	int (*tokens_get)(void *ctx, const char *account,
			  const uint64_t *hashes, size_t n,
			  kr_filter_tokens_fn *cb, void *arg);

	/* Results, into res (the message's): a test that hit, with its
	 * score and a short description; name and desc are copied. */
	void (*hit)(struct kr_filter_result *res, const char *name,
		    double score, const char *desc);
	/* The same for one recipient only (Bayes is per user). */
	void (*rcpt_hit)(struct kr_filter_result *res, size_t rcpt,
			 const char *name, double score, const char *desc);
	/* A header line for every stored copy, without CRLF
	 * ("Received-SPF: pass (...) ..."); copied. */
	void (*header)(struct kr_filter_result *res, const char *line);
	/* The message should be deferred (rate limits): 4xx, retried. */
	void (*defer)(struct kr_filter_result *res, const char *why);
};

typedef void kr_filter_done_fn(void *ctx);

struct kr_filter_module {
	uint32_t abi;	     /* KR_FILTER_ABI */
	const char *name;    /* "rules", "spf", ...: unique, [a-z0-9_] */
	const char *version; /* free text for logs and the dashboard */
	/* Builds the module's state for one generation. 0, or -1 with
	 * err (NUL-terminated) filled. host and conf outlive the state. */
	int (*open)(const struct kr_filter_host *host,
		    const struct kr_filter_conf *conf, void **state_r,
		    char *err, size_t err_size);
	/* Checks itself on known input before the generation goes live
	 * (GTUBE for the rules, ...); NULL: nothing to check. */
	int (*selftest)(void *state, char *err, size_t err_size);
	void (*close)(void *state);
	/* Judges msg into res. Returns 1 when done at once, 0 when the
	 * answer comes later: *req_r is set and done(ctx) fires once from
	 * the loop, never before check returns, unless cancel runs first.
	 * A module that cannot decide (timeout, a dead helper) records
	 * what it knows (an SPF temperror) and is done: there is no
	 * failure. */
	int (*check)(void *state, const struct kr_filter_msg *msg,
		     struct kr_filter_result *res, void **req_r,
		     kr_filter_done_fn *done, void *ctx);
	/* No done afterwards; the module frees req. May be NULL for a
	 * KR_FILTER_F_CPU module (it never answers later). */
	void (*cancel)(void *state, void *req);
	/* Training (bayes only; NULL elsewhere): the token hashes of msg,
	 * at most max into out; returns how many. */
	size_t (*tokens)(void *state, const struct kr_filter_msg *msg,
			 uint64_t *out, size_t max);
	uint32_t flags; /* KR_FILTER_F_* */
};

/* check() is pure computation on msg and the module's state: it calls
 * only hit, rcpt_hit, header and defer, always answers at once, and may
 * run on another thread while other checks of the same state run. The
 * host then runs it on its cpu pool, off the worker's loop. */
#define KR_FILTER_F_CPU 1u

typedef const struct kr_filter_module *kr_filter_entry_fn(void);

#endif
