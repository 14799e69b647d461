/* Every limit in one place (STYLE.md §6), each defined once: what config
 * can change (its default and the range it takes), every limit more
 * than one layer relies on, and the defaults a module's settings start
 * from. The config schema (lib/config_schema.c) uses these names for
 * its defaults and bounds, so a default it stringifies is a plain
 * literal. Where a lower layer takes less than a key's range allows,
 * kurierd refuses the config at start-up and on reload
 * (kr_store_check_config); relations between constants are
 * _Static_asserts. What stays with its module: sizes that define a
 * format (a token's length, a sid's digits) and private tuning in a
 * .c file or a *_priv.h. */
#ifndef KR_LIMITS_H
#define KR_LIMITS_H

/* ---- processes ([server], [workers]) --------------------------------- */

/* [server] user: the unprivileged user workers run as when kurierd
 * starts as root (a Linux user name has at most 32 bytes). */
#define KR_SERVER_USER_DEFAULT "kurier"
#define KR_SERVER_USER_MAX 32
/* [server] nofile: RLIMIT_NOFILE is raised to this at start (as far as
 * the hard limit allows); listeners pause near it. */
#define KR_NOFILE_DEFAULT 65536
#define KR_NOFILE_MIN 1024
#define KR_NOFILE_MAX 1048576

/* [workers] count (0: one per core), max_requests (0: never cycled)
 * and max_rss (bytes; 0: never cycled). */
#define KR_WORKERS_DEFAULT 0
#define KR_WORKERS_MAX 256
#define KR_MAX_REQUESTS_DEFAULT 0
#define KR_MAX_RSS_DEFAULT 536870912 /* 512 MiB */
/* restart_intensity restarts within restart_period; past it, restarts
 * wait 1 s, 2 s, 4 s ... up to restart_backoff_max (SPEC.md §2): the
 * master never stops on its own. */
#define KR_RESTART_INTENSITY_DEFAULT 5
#define KR_RESTART_INTENSITY_MAX 1000
#define KR_RESTART_PERIOD_MS_DEFAULT 10000
#define KR_RESTART_PERIOD_MS_MIN 100
#define KR_RESTART_PERIOD_MS_MAX 3600000
#define KR_RESTART_BACKOFF_MAX_MS_DEFAULT 30000
#define KR_RESTART_BACKOFF_MAX_MS_MIN 1000
#define KR_RESTART_BACKOFF_MAX_MS_MAX 600000
#define KR_DRAIN_TIMEOUT_MS_DEFAULT 10000
#define KR_DRAIN_TIMEOUT_MS_MIN 100
#define KR_DRAIN_TIMEOUT_MS_MAX 600000

/* Thread pools: io_threads, io_queue and cpu_queue (jobs waiting), and
 * cpu_inline_max (bytes of work run inline, SPEC.md §2). */
#define KR_IO_THREADS_DEFAULT 4
#define KR_IO_THREADS_MAX 64
#define KR_POOL_QUEUE_DEFAULT 1024
#define KR_POOL_QUEUE_MAX 65536
#define KR_CPU_INLINE_MAX_DEFAULT 256
#define KR_CPU_INLINE_MAX_MAX 1048576

/* Logging: one event is one line of at most this many bytes. */
#define KR_LOG_LINE_MAX 2048

/* Metrics registry, and its slots: every worker twice over (a
 * replacement starts before the old one has drained) plus the master.
 * Bounds the shared region. */
#define KR_METRICS_MAX 2048
#define KR_METRICS_NAME_MAX 96
#define KR_METRICS_LABELS_MAX 96
#define KR_METRICS_HELP_MAX 160
#define KR_METRICS_SLOTS_MAX (2 * KR_WORKERS_MAX + 1)

/* Config files: shards, replicas per shard, bytes per value. */
#define KR_CONFIG_SHARDS_MAX 1024
#define KR_CONFIG_REPLICAS_MAX 16
#define KR_CONFIG_VALUE_MAX 1024

/* ---- admin HTTP ([admin]) ----------------------------------------- */

/* SPEC.md §3.3, §6: the master serves it, so it has a connection cap
 * of its own (within the master's descriptors) and the API's
 * deadlines: idle before a request, read from a request's first byte
 * to its last, write for an answer to be taken. A body is a POST
 * action's parameters; headers a browser's (cookies included). */
#define KR_ADMIN_TOKEN_MIN 32
#define KR_ADMIN_TOKEN_MAX 256
#define KR_ADMIN_BODY_MAX (64 << 10)
#define KR_ADMIN_HEADERS_MAX (16 << 10)
#define KR_ADMIN_MAX_CONNECTIONS_DEFAULT 256
#define KR_ADMIN_MAX_CONNECTIONS_MAX 10000
#define KR_ADMIN_IDLE_TIMEOUT_MS_DEFAULT 10000
#define KR_ADMIN_IDLE_TIMEOUT_MS_MIN 1000
#define KR_ADMIN_READ_TIMEOUT_MS_DEFAULT 10000
#define KR_ADMIN_WRITE_TIMEOUT_MS_DEFAULT 10000
#define KR_ADMIN_IO_TIMEOUT_MS_MIN 100 /* read and write */
#define KR_ADMIN_TIMEOUT_MS_MAX 3600000
/* [admin] peers (issue 11): the other kurierd admin endpoints whose
 * /api/overview this master polls for /api/hosts, each every
 * KR_ADMIN_PEERS_POLL_MS with one request in flight, given
 * KR_ADMIN_PEERS_TIMEOUT_MS from connect to last byte (below the poll
 * period, so a dead peer never queues polls) and an answer of at most
 * KR_ADMIN_PEERS_BODY_MAX (an overview is about 1 KiB). A dashboard
 * shows a handful of hosts, not a fleet. */
#define KR_ADMIN_PEERS_MAX 16
#define KR_ADMIN_PEERS_POLL_MS 2000
#define KR_ADMIN_PEERS_TIMEOUT_MS 1500
#define KR_ADMIN_PEERS_BODY_MAX (256 << 10)
#define KR_ADMIN_PEERS_HEADERS_MAX (16 << 10)

/* ---- storage ([storage], [shard.N]) ------------------------------- */

/* SPEC.md §4. Users are placed by a stable hash of their address into
 * KR_SHARD_BUCKETS buckets; changing it would move every user, so it
 * never changes. */
#define KR_SHARD_BUCKETS 4096
/* How often every kurierd worker reads the bucket overrides (the
 * shard_map table on shard 0, storage/shardpoll.c); `kurier shard move`
 * waits KR_SHARDMAP_SETTLE_MS after a switch before it deletes the
 * source's rows, so that every host polling has seen the new map. */
#define KR_SHARDMAP_POLL_MS 1000
#define KR_SHARDMAP_SETTLE_MS (3 * KR_SHARDMAP_POLL_MS)
#define KR_STORAGE_CONNECT_TIMEOUT_MS_DEFAULT 2000
#define KR_STORAGE_CONNECT_TIMEOUT_MS_MIN 100
#define KR_STORAGE_CONNECT_TIMEOUT_MS_MAX 60000
#define KR_STORAGE_QUERY_TIMEOUT_MS_DEFAULT 5000
#define KR_STORAGE_QUERY_TIMEOUT_MS_MIN 100
#define KR_STORAGE_QUERY_TIMEOUT_MS_MAX 600000
#define KR_STORAGE_POOL_LOW_DEFAULT 2
#define KR_STORAGE_POOL_LOW_MAX 256
#define KR_STORAGE_POOL_HIGH_DEFAULT 8
#define KR_STORAGE_POOL_HIGH_MAX 1024
#define KR_STORAGE_POOL_QUEUE_DEFAULT 256
#define KR_STORAGE_POOL_QUEUE_MAX 65536
#define KR_STORAGE_POOL_QUEUE_TIMEOUT_MS_DEFAULT 1000
#define KR_STORAGE_POOL_QUEUE_TIMEOUT_MS_MIN 1
#define KR_STORAGE_POOL_QUEUE_TIMEOUT_MS_MAX 60000
#define KR_STORAGE_CIRCUIT_FAILURES_DEFAULT 3
#define KR_STORAGE_CIRCUIT_FAILURES_MAX 1000
#define KR_STORAGE_CIRCUIT_PROBE_MS_DEFAULT 1000
#define KR_STORAGE_CIRCUIT_PROBE_MS_MIN 100
#define KR_STORAGE_CIRCUIT_PROBE_MS_MAX 60000
/* The aperture balancer keeps the load per node of its subset within
 * [aperture_low, aperture_high] and at least aperture_min nodes. */
#define KR_STORAGE_APERTURE_LOW_DEFAULT 0.5
#define KR_STORAGE_APERTURE_HIGH_DEFAULT 2.0
#define KR_STORAGE_APERTURE_MAX 1000
#define KR_STORAGE_APERTURE_MIN_DEFAULT 1
#define KR_STORAGE_READ_YOUR_WRITES_MS_DEFAULT 5000
#define KR_STORAGE_READ_YOUR_WRITES_MS_MAX 600000
#define KR_STORAGE_GROUP_COMMIT_MAX_DEFAULT 64
#define KR_STORAGE_GROUP_COMMIT_MAX_MAX 1024
#define KR_STORAGE_GROUP_COMMIT_INFLIGHT_DEFAULT 2
#define KR_STORAGE_GROUP_COMMIT_INFLIGHT_MAX 64
/* storage.group_commit_wait, microseconds (0 = off). 2 ms: on one busy
 * shard it lifts messages per commit from ~3.4 to ~5.3 at the same rate;
 * with 16 sessions over 20 shards it costs nothing measurable (the hold
 * also ends when the shard's commit returns). */
#define KR_STORAGE_GROUP_COMMIT_WAIT_US_DEFAULT 2000
#define KR_STORAGE_GROUP_COMMIT_WAIT_US_MAX 100000
/* How often one worker counts each shard's users (the dashboard). */
#define KR_STORAGE_CENSUS_INTERVAL_MS_DEFAULT 15000
#define KR_STORAGE_CENSUS_INTERVAL_MS_MIN 1000
#define KR_STORAGE_CENSUS_INTERVAL_MS_MAX 3600000
/* Shards a reload may grow the set to ([storage] max_shards): each
 * reserves its metrics at start (server/runtime.c), so the bound keeps
 * the registry within KR_METRICS_MAX. */
#define KR_STORAGE_MAX_SHARDS_DEFAULT 64
#define KR_STORAGE_MAX_SHARDS_MAX 128

/* ---- the mail store (storage/store.h) ----------------------------- */

/* An e-mail address: RFC 5321 §4.5.3.1.3 path limit minus the <>. The
 * one check is lib/address.h's. */
#define KR_ADDRESS_MAX 254
/* Listing (SPEC.md §3.2): 0 asks for the default. */
#define KR_STORE_LIST_DEFAULT 50
#define KR_STORE_LIST_MAX 500
#define KR_STORE_NAME_MAX 255 /* mailbox and folder names, bytes */
#define KR_STORE_FLAGS_MAX 64 /* flags per message or per call */
#define KR_STORE_FLAG_LEN_MAX 64
#define KR_STORE_UIDS_MAX 10000		 /* uids per call */
#define KR_STORE_RCPTS_MAX 1000		 /* recipients per delivery */
#define KR_STORE_MESSAGE_MAX (128 << 20) /* stored bytes per message */
#define KR_STORE_META_MAX (1 << 20)	 /* metadata JSON per message */
/* Delivery stores a per-recipient prefix (Return-Path, Delivered-To,
 * antispam headers) before the body, budgeted at this much: the LMTP
 * message_max must leave it room under KR_STORE_MESSAGE_MAX. */
#define KR_STORE_PREFIX_RESERVE (256 << 10)
#define KR_STORE_DELIVERY_BODY_MAX \
	(KR_STORE_MESSAGE_MAX - KR_STORE_PREFIX_RESERVE)
/* The largest JSON-RPC body a call can use: message.append of a
 * KR_STORE_MESSAGE_MAX message in base64, and 64 KiB for the rest of
 * the request. */
#define KR_STORE_RPC_BODY_MAX \
	(((KR_STORE_MESSAGE_MAX + 2) / 3) * 4 + (64 << 10))
#define KR_STORE_SEARCH_TEXT_MAX (256 << 10)
/* A search query: each string field (text, from, subject) at most this
 * many bytes, and text at most this many words; a user at most this
 * many mailboxes. Past them: KR_ERR_PERMANENT (-32602), and
 * KR_ERR_QUOTA (-32004) for a mailbox past the count: a quota of its
 * own kind. */
#define KR_STORE_SEARCH_FIELD_MAX 1000
#define KR_STORE_SEARCH_WORDS_MAX 32
#define KR_STORE_MAILBOXES_MAX 10000
/* A group-commit batch stops growing at this many stored bytes. */
#define KR_STORE_BATCH_BYTES_MAX (64 << 20)
/* Messages waiting per shard, in units of storage.group_commit_max;
 * past that new recipients are shed with KR_ERR_OVERLOAD. */
#define KR_STORE_QUEUE_FACTOR 16
/* Changes kr_changes answers at most, unless one single change is
 * bigger (a call on many messages): then up to KR_STORE_CHANGES_HARD. */
#define KR_STORE_CHANGES_MAX 10000
#define KR_STORE_CHANGES_HARD 100000
/* Latest session expires_at accepted: 9999-12-31 23:59:59 UTC. */
#define KR_STORE_SESSION_EXPIRES_MAX 253402300799LL
/* Password versions are a PostgreSQL integer. */
#define KR_STORE_PASSWORD_VERSION_MAX 2147483647U

/* Passwords: longer ones are refused before hashing, because
 * SHA512-CRYPT's cost grows with the length (and libxcrypt takes at
 * most 511 bytes). A stored hash (ours or an imported one) longer than
 * KR_PASSWORD_HASH_MAX is refused. */
#define KR_PASSWORD_MAX 256
#define KR_PASSWORD_HASH_MAX 256

/* ---- LMTP ([lmtp]; proto/lmtp.h takes the same ranges) ------------ */

/* RFC 5321 §4.5.3.1: command lines of at least 512 octets and text
 * lines of at least 1000, both counting CRLF. Message lines get more
 * room because real mail (HTML from some clients) breaks the 1000
 * often. A command line's length is not configurable. */
#define KR_LMTP_LINE_MAX_DEFAULT 1000
#define KR_LMTP_LINE_MAX_MIN 512
#define KR_LMTP_LINE_MAX_MAX 65536
#define KR_LMTP_DATA_LINE_MAX_DEFAULT 10000
#define KR_LMTP_DATA_LINE_MAX_MIN 1000
#define KR_LMTP_DATA_LINE_MAX_MAX 1048576
#define KR_LMTP_MESSAGE_MAX_DEFAULT 52428800 /* 50 MiB */
#define KR_LMTP_MESSAGE_MAX_MIN 1024
#define KR_LMTP_MESSAGE_MAX_MAX 1073741824 /* 1 GiB */
#define KR_LMTP_RCPT_MAX_DEFAULT 100
#define KR_LMTP_RCPT_MAX_MAX 10000
#define KR_LMTP_HEADER_MAX_DEFAULT 1000
#define KR_LMTP_HEADER_MAX_MIN 10
#define KR_LMTP_HEADER_MAX_MAX 100000
/* The greeting's and replies' host name: a DNS name (RFC 1035). */
#define KR_LMTP_HOSTNAME_MAX 253
/* unix_socket: sun_path holds 108 bytes on Linux. */
#define KR_LMTP_UNIX_SOCKET_MAX 100
#define KR_LMTP_MAX_SESSIONS_DEFAULT 10000
#define KR_LMTP_MAX_SESSIONS_MAX 100000
#define KR_LMTP_IDLE_TIMEOUT_MS_DEFAULT 300000
#define KR_LMTP_IDLE_TIMEOUT_MS_MIN 1000
#define KR_LMTP_IDLE_TIMEOUT_MS_MAX 3600000
#define KR_LMTP_SESSION_TIMEOUT_MS_DEFAULT 1800000
#define KR_LMTP_SESSION_TIMEOUT_MS_MIN 1000
#define KR_LMTP_SESSION_TIMEOUT_MS_MAX 86400000
#define KR_LMTP_DELIVERY_TIMEOUT_MS_DEFAULT 60000
#define KR_LMTP_DELIVERY_TIMEOUT_MS_MIN 100
#define KR_LMTP_DELIVERY_TIMEOUT_MS_MAX 600000
/* Issue 12: recipients found at RCPT are remembered this long (0: off)
 * in at most this many bytes per worker (about 300 per address). */
#define KR_LMTP_RCPT_CACHE_TTL_MS_DEFAULT 10000
#define KR_LMTP_RCPT_CACHE_TTL_MS_MAX 3600000
#define KR_LMTP_RCPT_CACHE_BYTES_DEFAULT 4194304 /* 4 MiB */
#define KR_LMTP_RCPT_CACHE_BYTES_MAX 1073741824	 /* 1 GiB */
/* SPEC.md §6: who may connect (and send XFORWARD), and how long queued
 * replies may wait for a client that does not read. */
#define KR_LMTP_ALLOW_DEFAULT "127.0.0.0/8 ::1 unix"
#define KR_LMTP_WRITE_TIMEOUT_MS_DEFAULT 60000
#define KR_LMTP_WRITE_TIMEOUT_MS_MIN 1000
#define KR_LMTP_WRITE_TIMEOUT_MS_MAX 3600000

/* ---- HTTP (proto/http.h) and JSON-RPC ([jsonrpc]) ----------------- */

/* Header fields and URL bytes of a request, on both HTTP ports. */
#define KR_HTTP_HEADERS_MAX_DEFAULT 64
#define KR_HTTP_URL_MAX_DEFAULT 2048

/* SPEC.md §6. Body: message.append carries a whole message in base64,
 * so room for a 50 MiB message (66.7 MiB encoded) plus the envelope.
 * Depth: our methods nest 3 levels; 32 leaves room and keeps the
 * parser's recursion shallow. Batch: each call costs a storage round
 * trip. A request arrives in full within read_timeout of its first
 * byte; a response is taken by the client within write_timeout; a
 * body holds at most element_max JSON values (counted before any is
 * built); one request, all calls of a batch together, spends at most
 * memory_max. */
#define KR_JSONRPC_MAX_CONNECTIONS_DEFAULT 10000
#define KR_JSONRPC_MAX_CONNECTIONS_MAX 100000
#define KR_JSONRPC_BODY_MAX_DEFAULT 75497472 /* 72 MiB */
#define KR_JSONRPC_BODY_MAX_MIN 1024
#define KR_JSONRPC_BODY_MAX_MAX 1073741824 /* 1 GiB */
#define KR_JSONRPC_HEADER_MAX_DEFAULT 16384
#define KR_JSONRPC_HEADER_MAX_MIN 1024
#define KR_JSONRPC_HEADER_MAX_MAX 1048576
#define KR_JSONRPC_IDLE_TIMEOUT_MS_DEFAULT 60000
#define KR_JSONRPC_IDLE_TIMEOUT_MS_MIN 1000
#define KR_JSONRPC_IDLE_TIMEOUT_MS_MAX 3600000
#define KR_JSONRPC_REQUEST_TIMEOUT_MS_DEFAULT 30000
#define KR_JSONRPC_REQUEST_TIMEOUT_MS_MIN 100
#define KR_JSONRPC_REQUEST_TIMEOUT_MS_MAX 600000
#define KR_JSONRPC_BATCH_MAX_DEFAULT 100
#define KR_JSONRPC_BATCH_MAX_MAX 10000
#define KR_JSONRPC_DEPTH_MAX_DEFAULT 32
#define KR_JSONRPC_DEPTH_MAX_MIN 2
#define KR_JSONRPC_DEPTH_MAX_MAX 1000
#define KR_JSONRPC_READ_TIMEOUT_MS_DEFAULT 30000
#define KR_JSONRPC_WRITE_TIMEOUT_MS_DEFAULT 60000
#define KR_JSONRPC_IO_TIMEOUT_MS_MIN 100 /* read and write */
#define KR_JSONRPC_IO_TIMEOUT_MS_MAX 3600000
#define KR_JSONRPC_ELEMENT_MAX_DEFAULT 100000
#define KR_JSONRPC_ELEMENT_MAX_MIN 16
#define KR_JSONRPC_ELEMENT_MAX_MAX 10000000
#define KR_JSONRPC_MEMORY_MAX_DEFAULT 268435456 /* 256 MiB */
#define KR_JSONRPC_MEMORY_MAX_MIN (1ULL << 20)
#define KR_JSONRPC_MEMORY_MAX_MAX (1ULL << 40)

/* ---- logins ([auth]) and the result cache ([cache]) --------------- */

/* Session token secrets (kr_token_key_init takes 32 to 1024 bytes). */
#define KR_AUTH_SECRET_MIN 32
#define KR_AUTH_SECRET_MAX 256
#define KR_AUTH_SESSION_TTL_MS_DEFAULT 43200000 /* 12 h */
#define KR_AUTH_SESSION_TTL_MS_MIN 60000
#define KR_AUTH_SESSION_TTL_MS_MAX 2592000000ULL /* 30 days */
/* The failed-login limiter: a token bucket per user and per client
 * address (burst, refilled per minute; both at most KR_AUTH_RATE_MAX),
 * at most limiter_keys buckets in all; a key of at most
 * KR_RATELIMIT_KEY_MAX bytes (longer ones are refused, never cut: that
 * would merge users), at most KR_RATELIMIT_KEYS_MAX buckets whatever
 * the config (60 to 68 bytes each, allocated up front). */
#define KR_AUTH_USER_BURST_DEFAULT 10
#define KR_AUTH_USER_PER_MINUTE_DEFAULT 6
#define KR_AUTH_ADDR_BURST_DEFAULT 50
#define KR_AUTH_ADDR_PER_MINUTE_DEFAULT 30
#define KR_AUTH_RATE_MAX 100000
#define KR_AUTH_LIMITER_KEYS_DEFAULT 100000
#define KR_AUTH_LIMITER_KEYS_MIN 16
#define KR_AUTH_LIMITER_KEYS_MAX 10000000
#define KR_RATELIMIT_KEY_MAX 512
#define KR_RATELIMIT_KEYS_MAX (1u << 24)
/* Webmail backends on these networks may name the end user's address
 * (param client_ip or X-Forwarded-For); password checks a worker runs
 * at once (more are shed with -32011, so hashing cannot take the io
 * pool from everything else; at most KR_IO_THREADS_MAX). */
#define KR_AUTH_TRUSTED_DEFAULT "127.0.0.0/8 ::1"
#define KR_AUTH_LOGIN_CONCURRENCY_DEFAULT 2

/* The per-worker result cache: bytes (0: off), how long an entry is
 * fresh, and the longest key lib/lru.h stores (longer keys are never
 * cached). */
#define KR_CACHE_MAX_BYTES_DEFAULT 67108864 /* 64 MiB */
#define KR_CACHE_MAX_BYTES_MAX (1ULL << 40)
#define KR_CACHE_TTL_MS_DEFAULT 1000
#define KR_CACHE_TTL_MS_MAX 3600000
#define KR_LRU_KEY_MAX 256

/* ---- antispam (SPEC.md §5, [antispam]) ----------------------------- */

/* Scores: spam at spam_score, refused at reject_score; a DNSBL listing
 * or bulk counts this much unless the zone names its own. */
#define KR_ANTISPAM_SPAM_SCORE_DEFAULT 5.0
#define KR_ANTISPAM_REJECT_SCORE_DEFAULT 15.0
#define KR_ANTISPAM_SCORE_MAX 10000
#define KR_ANTISPAM_RULES_DEFAULT "/usr/share/spamassassin/*.cf"
/* Rate limits per rate_window (0: off), bulk: the same body to
 * bulk_rcpts recipients within bulk_window. */
#define KR_ANTISPAM_RATE_MAX 10000000
#define KR_ANTISPAM_RATE_WINDOW_MS_DEFAULT 60000
#define KR_ANTISPAM_WINDOW_MS_MAX 86400000
#define KR_ANTISPAM_BULK_RCPTS_DEFAULT 50
#define KR_ANTISPAM_BULK_WINDOW_MS_DEFAULT 600000
#define KR_ANTISPAM_BULK_SCORE_DEFAULT 2.5
/* Counters in the host-wide table of rate limits and bulk detection
 * (antispam/counter.h: 64 bytes each, shared by every worker). */
#define KR_ANTISPAM_COUNTER_SLOTS_DEFAULT 65536
/* Bayes tokens kept per user (the oldest go first), and how long one
 * message may be checked by every module together. */
#define KR_ANTISPAM_BAYES_TOKENS_DEFAULT 100000
#define KR_ANTISPAM_BAYES_TOKENS_MAX 10000000
#define KR_ANTISPAM_CHECK_TIMEOUT_MS_DEFAULT 5000
#define KR_ANTISPAM_CHECK_TIMEOUT_MS_MAX 60000
/* Accounts a worker remembers as having no Bayes statistic, and for
 * how long: most users never train, and each would cost a look-up a
 * message; a first training counts on this worker at most this late. */
#define KR_ANTISPAM_UNTRAINED_BYTES (1 << 20)
#define KR_ANTISPAM_UNTRAINED_TTL_MS 60000
/* Distinct test names /metrics counts hits of (more: "_OTHER"). */
#define KR_ANTISPAM_HIT_NAMES 8192
/* Bayes (storage/store_bayes.h): token hashes in one look-up or one
 * training statement (the bayes module takes at most 1000 per
 * message); tokens not learned for this many days are deleted, at most
 * KR_ANTISPAM_BAYES_PURGE_MAX rows (aged or over bayes_tokens_max) per
 * training statement, so one message never costs an unbounded delete. */
#define KR_STORE_BAYES_TOKENS_MAX 1000
#define KR_ANTISPAM_BAYES_AGE_DAYS 90
#define KR_ANTISPAM_BAYES_PURGE_MAX 5000

/* ---- message parsing (proto/mime.h: struct kr_mime_limits) -------- */

#define KR_MIME_PREVIEW_MAX_DEFAULT 200 /* characters */
#define KR_MIME_SEARCH_TEXT_MAX_DEFAULT (64 << 10)
#define KR_MIME_BODY_TEXT_MAX_DEFAULT (4 << 20)
#define KR_MIME_HEADER_TEXT_MAX_DEFAULT 998 /* RFC 5322 §2.1.1 */
#define KR_MIME_DEPTH_MAX_DEFAULT 32
#define KR_MIME_PARTS_MAX_DEFAULT 1000
#define KR_MIME_ADDRS_MAX_DEFAULT 100
#define KR_MIME_REFS_MAX_DEFAULT 100
#define KR_MIME_HEADERS_MAX_DEFAULT 10000
/* Each part of the antispam view (headers, body, rawbody, uris): rules
 * run over every byte of it, so it bounds their time as well as the
 * memory. SpamAssassin looks at no more than this of a body either. */
#define KR_MIME_SPAM_TEXT_MAX_DEFAULT (256 << 10)
/* URIs kept in the view (distinct ones, in order found) and the longest
 * kept: the dedup is linear and a longer URI is no real link. */
#define KR_MIME_SPAM_URIS_MAX 512
#define KR_MIME_SPAM_URI_MAX 2048

#endif
