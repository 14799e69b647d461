/* Configuration: one INI file (SPEC.md §3.5) read with inih into a
 * typed, validated struct. Every key, its type, range and default are
 * in one schema table in config.c; ops/kurier.conf.example documents
 * each. Unknown sections or keys and bad values fail the load with a
 * message naming file, line and key. A loaded config is immutable; a
 * reload loads a new one and swaps. Owned by whoever loaded it. */
#ifndef KR_CONFIG_H
#define KR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "lib/err.h"
#include "lib/limits.h"
#include "lib/log.h"

enum kr_config_over_quota {
	KR_CONFIG_OVER_QUOTA_TEMPORARY, /* 452 4.2.2: Postfix retries */
	KR_CONFIG_OVER_QUOTA_PERMANENT, /* 552 5.2.2: bounce */
};

/* A list of "host:port" / "[v6]:port" (kr_config_parse_addr), in file
 * order, without duplicates: [admin] peers. A fixed-size value, like
 * struct kr_cidr_list. */
#define KR_CONFIG_ADDR_TEXT_MAX 64 /* "[" INET6_ADDRSTRLEN "]:65535" */
struct kr_config_addrs {
	char addr[KR_ADMIN_PEERS_MAX][KR_CONFIG_ADDR_TEXT_MAX];
	unsigned n;
};

struct kr_config_shard {
	unsigned id;	 /* N of [shard.N]; ids are 0..n_shards-1 */
	char *primary;	 /* libpq conninfo, required */
	char **replicas; /* one per `replica =` line, in file order */
	unsigned n_replicas;
	/* Placement buckets bucket_lo..bucket_hi (inclusive) of
	 * KR_SHARD_BUCKETS: `buckets = LO-HI`, or an even split when no
	 * shard names its range. When some shards name theirs, a shard
	 * without `buckets` owns none (has_buckets false, lo = hi = 0: a
	 * new shard that bucket moves fill later); the ranges of the
	 * shards that have buckets tile 0..KR_SHARD_BUCKETS-1 exactly. */
	unsigned bucket_lo, bucket_hi;
	bool has_buckets;
	/* The [storage] values unless this shard overrides them; always
	 * resolved after loading. */
	unsigned pool_low, pool_high, pool_queue;
};

enum kr_config_pool {
	KR_CONFIG_POOL_WATERMARK,
	KR_CONFIG_POOL_SINGLETON,
};

enum kr_config_balancer {
	KR_CONFIG_BALANCER_HEAP,
	KR_CONFIG_BALANCER_APERTURE,
};

struct kr_config {
	char *path;

	/* The process as a whole. */
	struct {
		char *user;	 /* workers drop root to this user */
		unsigned nofile; /* RLIMIT_NOFILE wanted at start */
	} server;

	struct {
		/* 0 = one per core, resolved at start-up by the server. */
		unsigned count;
		uint64_t max_requests;	    /* 0 = never cycle on requests */
		uint64_t max_rss;	    /* bytes; 0 = never cycle on RSS */
		unsigned restart_intensity; /* R restarts ... */
		unsigned restart_period_ms; /* ... in T: then back off */
		unsigned restart_backoff_max_ms;
		unsigned drain_timeout_ms;
		unsigned io_threads;
		unsigned io_queue;
		unsigned cpu_queue;
		size_t cpu_inline_max;
	} workers;

	struct {
		char *listen;	   /* "127.0.0.1:8081", "[::1]:8081" */
		char *token;	   /* NULL when absent: generated at start */
		bool metrics_open; /* /metrics without token from loopback */
		unsigned max_connections; /* open at once, in the master */
		unsigned idle_timeout_ms;
		unsigned read_timeout_ms;  /* one request, first byte to last */
		unsigned write_timeout_ms; /* an answer to be taken */
		/* Other kurierd admin endpoints shown in /api/hosts. */
		struct kr_config_addrs peers;
	} admin;

	struct {
		enum kr_log_level level;
	} log;

	/* SPEC.md §4: connection manager, pools, balancers, group commit.
	 * pool_high >= pool_low and aperture_low < aperture_high hold. */
	struct {
		unsigned connect_timeout_ms;
		unsigned query_timeout_ms;
		enum kr_config_pool pool;
		unsigned pool_low;   /* connections kept open per node */
		unsigned pool_high;  /* connections opened at most per node */
		unsigned pool_queue; /* requests waiting for a connection */
		unsigned pool_queue_timeout_ms;
		unsigned circuit_failures; /* failures in a row that open it */
		unsigned circuit_probe_ms; /* between probes while open */
		enum kr_config_balancer balancer;
		double aperture_low; /* outstanding requests per node */
		double aperture_high;
		unsigned read_your_writes_ms;	/* 0 = replicas read at once */
		unsigned group_commit_max;	/* messages per commit */
		unsigned group_commit_inflight; /* commits per shard at once */
		/* Longest hold of a delivery for others to join its commit
		 * (microseconds; 0 = off). */
		unsigned group_commit_wait_us;
		unsigned census_interval_ms; /* users counted per shard */
		/* Shards this kurierd can grow to by a reload (metrics are
		 * reserved for them at start); more need a restart. */
		unsigned max_shards;
	} storage;

	/* SPEC.md §3.1: LMTP listener and session limits. */
	struct {
		char *listen;	   /* TCP "host:port" */
		char *unix_socket; /* NULL: no unix socket */
		char *hostname;	   /* NULL: gethostname() */
		char *tls_cert;	   /* PEM files; both set: STARTTLS */
		char *tls_key;
		unsigned max_sessions; /* per worker */
		unsigned idle_timeout_ms;
		unsigned session_timeout_ms;
		unsigned delivery_timeout_ms; /* storing one message */
		uint64_t message_max;
		uint64_t data_line_max;
		unsigned rcpt_max;
		unsigned header_max;
		enum kr_config_over_quota over_quota;
		struct kr_cidr_list allow; /* who may connect, XFORWARD */
		unsigned write_timeout_ms;
		unsigned rcpt_cache_ttl_ms; /* 0: no recipient cache */
		uint64_t rcpt_cache_bytes;  /* per worker */
	} lmtp;

	/* SPEC.md §3.2: the webmail API's HTTP listener and its limits. */
	struct {
		char *listen;	/* TCP "host:port" */
		char *tls_cert; /* PEM files; both set: HTTPS only */
		char *tls_key;
		unsigned max_connections; /* per worker */
		uint64_t body_max;
		uint64_t header_max;
		unsigned idle_timeout_ms;
		unsigned request_timeout_ms; /* one call, storage included */
		unsigned batch_max;
		unsigned depth_max;
		unsigned read_timeout_ms;  /* one request, first byte to last */
		unsigned write_timeout_ms; /* a response to be taken */
		unsigned element_max;	   /* JSON values in one body */
		uint64_t memory_max;	   /* one request, batch included */
	} jsonrpc;

	/* Sessions and logins. */
	struct {
		char *secret; /* NULL when absent: generated at start */
		char *previous_secret; /* still accepted: key rotation */
		unsigned session_ttl_ms;
		/* Failed logins: a bucket of `burst` per user and per
		 * client address, refilled at `per_minute`. */
		unsigned user_burst, user_per_minute;
		unsigned addr_burst, addr_per_minute;
		unsigned limiter_keys; /* entries per limiter, per worker */
		/* Peers that may name the end user's address. */
		struct kr_cidr_list trusted;
		unsigned login_concurrency; /* password checks per worker */
	} auth;

	/* Per-worker cache of API results (server/cache/cache.h). */
	struct {
		uint64_t max_bytes; /* 0: off */
		/* How long an entry may be served without a write through
		 * this host having invalidated it: the bound on staleness
		 * for changes made elsewhere (the CLI, another host). */
		unsigned ttl_ms;
	} cache;

	/* SPEC.md §5: the verdict at delivery (antispam/filter.h hands
	 * these to the filter modules). */
	struct kr_config_antispam {
		bool enabled;
		char *modules;	  /* NULL: "modules" beside the executable */
		char *reloadable; /* module names; NULL: every one */
		char *resolver;	  /* NULL: /etc/resolv.conf's first */
		char *dnsbl;	  /* "ZONE[=SCORE] ..." */
		char *rules;	  /* files and globs, space-separated */
		double spam_score;
		double reject_score;
		unsigned rate_ip;     /* messages per rate_window; 0: off */
		unsigned rate_sender; /* the same per envelope sender */
		unsigned rate_window_ms;
		unsigned bulk_rcpts; /* same body to this many: bulk */
		unsigned bulk_window_ms;
		double bulk_score;
		unsigned bayes_tokens_max; /* per user */
		unsigned check_timeout_ms; /* one message, all modules */
	} antispam;

	struct kr_config_shard *shards; /* sorted by id */
	unsigned n_shards;

	/* Where each key of the schema was set (kr_config_key_line). */
	unsigned *key_lines;
};

/* Reads and validates `path`. On error returns -1 and err_r->msg reads
 * "<file>:<line>: [section] key: what is wrong" (line 0 for whole-file
 * problems such as a missing file or a gap in the shard ids). */
int kr_config_load(const char *path, struct kr_config **cfg_r,
		   struct kr_err *err_r);
void kr_config_destroy(struct kr_config **cfg);

/* The line of cfg->path that set [section] key; 0 when the key kept
 * its default, for [shard.N] keys and for names not in the schema. For
 * checks made after loading (other modules' limits), so that their
 * messages name "<file>:<line>: [section] key" like the loader's. */
unsigned kr_config_key_line(const struct kr_config *cfg, const char *section,
			    const char *key);

/* Sets `key = value` in [section] of the file at path, rewriting the
 * file atomically (temp file + rename): replaces the key's line if the
 * section has it, else adds it after the section header, else appends
 * the section. Used to persist a generated admin token. */
int kr_config_write_key(const char *path, const char *section, const char *key,
			const char *value, struct kr_err *err_r);

/* When *value (a key of cfg already loaded) is NULL: n_bytes of
 * kernel randomness as hex, persisted with kr_config_write_key and set
 * in *value (owned by cfg). 1 when generated, 0 when it was there, -1
 * + err_r. The admin token and the session secret are made so, by
 * whoever needs them first (kurierd, `kurier dashboard`). */
int kr_config_generate_key(struct kr_config *cfg, const char *section,
			   const char *key, char **value, size_t n_bytes,
			   struct kr_err *err_r);

/* Parses "host:port" / "[v6]:port" into its parts; the schema uses it
 * to validate listen keys and the server to bind them. */
int kr_config_parse_addr(const char *s, char *host_r, size_t host_size,
			 unsigned *port_r);

#endif
