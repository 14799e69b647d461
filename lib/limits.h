/* Every default limit in one place (STYLE.md §6). Config may change
 * each within the range given beside it; the config schema uses these
 * names for its defaults and bounds. */
#ifndef KR_LIMITS_H
#define KR_LIMITS_H

/* Processes. */
#define KR_WORKERS_MAX 256
#define KR_RESTART_INTENSITY_DEFAULT 5	   /* restarts ... */
#define KR_RESTART_PERIOD_MS_DEFAULT 10000 /* ... within this window */
#define KR_DRAIN_TIMEOUT_MS_DEFAULT 10000
#define KR_MAX_RSS_DEFAULT (512ULL << 20)
/* Past restart_intensity, restarts wait 1 s, 2 s, 4 s ... up to this
 * (SPEC.md §2): the master never stops on its own. */
#define KR_RESTART_BACKOFF_MAX_MS_DEFAULT 30000
/* Descriptors: RLIMIT_NOFILE is raised to this at start (as far as the
 * hard limit allows); listeners pause near it. */
#define KR_NOFILE_DEFAULT 65536
#define KR_NOFILE_MIN 1024
#define KR_NOFILE_MAX 1048576
/* The unprivileged user workers run as when kurierd starts as root. */
#define KR_SERVER_USER_DEFAULT "kurier"

/* Thread pools. */
#define KR_IO_THREADS_DEFAULT 4
#define KR_IO_THREADS_MAX 64
#define KR_POOL_QUEUE_DEFAULT 1024
#define KR_POOL_QUEUE_MAX 65536
#define KR_CPU_INLINE_MAX_DEFAULT 256 /* bytes, SPEC.md §2 */

/* Logging: one event is one line of at most this many bytes. */
#define KR_LOG_LINE_MAX 2048

/* Metrics registry. */
#define KR_METRICS_MAX 2048
#define KR_METRICS_NAME_MAX 96
#define KR_METRICS_LABELS_MAX 96
#define KR_METRICS_HELP_MAX 160

/* Admin HTTP (SPEC.md §3.3, §6): the master serves it, so it has a
 * connection cap of its own (within the master's descriptors) and the
 * API's deadlines: idle before a request, read from a request's first
 * byte to its last, write for an answer to be taken. A body is a POST
 * action's parameters; headers a browser's (cookies included). */
#define KR_ADMIN_BODY_MAX (64 << 10)
#define KR_ADMIN_HEADERS_MAX (16 << 10)
#define KR_ADMIN_MAX_CONNECTIONS_DEFAULT 256
#define KR_ADMIN_MAX_CONNECTIONS_MAX 10000
#define KR_ADMIN_IDLE_TIMEOUT_MS_DEFAULT 10000
#define KR_ADMIN_READ_TIMEOUT_MS_DEFAULT 10000
#define KR_ADMIN_WRITE_TIMEOUT_MS_DEFAULT 10000

/* Config. */
#define KR_CONFIG_SHARDS_MAX 1024
#define KR_CONFIG_REPLICAS_MAX 16
#define KR_CONFIG_VALUE_MAX 1024

/* Metrics slots: every worker twice over (a replacement starts before the
 * old one has drained) plus the master. Bounds the shared region. */
#define KR_METRICS_SLOTS_MAX (2 * KR_WORKERS_MAX + 1)

/* Storage (SPEC.md §4). Users are placed by a stable hash of their
 * address into KR_SHARD_BUCKETS buckets; changing it would move every
 * user, so it never changes. */
#define KR_SHARD_BUCKETS 4096
#define KR_STORAGE_CONNECT_TIMEOUT_MS_DEFAULT 2000
#define KR_STORAGE_QUERY_TIMEOUT_MS_DEFAULT 5000
#define KR_STORAGE_POOL_LOW_DEFAULT 2
#define KR_STORAGE_POOL_LOW_MAX 256
#define KR_STORAGE_POOL_HIGH_DEFAULT 8
#define KR_STORAGE_POOL_HIGH_MAX 1024
#define KR_STORAGE_POOL_QUEUE_DEFAULT 256
#define KR_STORAGE_POOL_QUEUE_MAX 65536
#define KR_STORAGE_POOL_QUEUE_TIMEOUT_MS_DEFAULT 1000
#define KR_STORAGE_CIRCUIT_FAILURES_DEFAULT 3
#define KR_STORAGE_CIRCUIT_PROBE_MS_DEFAULT 1000
#define KR_STORAGE_APERTURE_LOW_DEFAULT 0.5
#define KR_STORAGE_APERTURE_HIGH_DEFAULT 2.0
#define KR_STORAGE_APERTURE_MAX 1000
#define KR_STORAGE_READ_YOUR_WRITES_MS_DEFAULT 5000
#define KR_STORAGE_GROUP_COMMIT_MAX_DEFAULT 64
#define KR_STORAGE_GROUP_COMMIT_MAX_MAX 1024
#define KR_STORAGE_GROUP_COMMIT_INFLIGHT_DEFAULT 2
#define KR_STORAGE_GROUP_COMMIT_INFLIGHT_MAX 64

/* An e-mail address: RFC 5321 §4.5.3.1.3 path limit minus the <>. */
#define KR_ADDRESS_MAX 254

/* Passwords: longer ones are refused before hashing, because
 * SHA512-CRYPT's cost grows with the length (and libxcrypt takes at
 * most 511 bytes). A stored hash (ours or an imported one) longer than
 * KR_PASSWORD_HASH_MAX is refused. */
#define KR_PASSWORD_MAX 256
#define KR_PASSWORD_HASH_MAX 256

/* LMTP (SPEC.md §3.1, §6): who may connect (and send XFORWARD), and how
 * long queued replies may wait for a client that does not read. */
#define KR_LMTP_ALLOW_DEFAULT "127.0.0.0/8 ::1 unix"
#define KR_LMTP_WRITE_TIMEOUT_MS_DEFAULT 60000

/* JSON-RPC (SPEC.md §6): a request arrives in full within read_timeout
 * of its first byte; a response is taken by the client within
 * write_timeout; a body holds at most element_max JSON values (counted
 * before any is built); one request, all calls of a batch together,
 * spends at most memory_max. */
#define KR_JSONRPC_READ_TIMEOUT_MS_DEFAULT 30000
#define KR_JSONRPC_WRITE_TIMEOUT_MS_DEFAULT 60000
#define KR_JSONRPC_ELEMENT_MAX_DEFAULT 100000
#define KR_JSONRPC_ELEMENT_MAX_MAX 10000000
#define KR_JSONRPC_MEMORY_MAX_DEFAULT (256ULL << 20)

/* Logins: webmail backends on these networks may name the end user's
 * address (param client_ip or X-Forwarded-For); password checks a
 * worker runs at once (more are shed with -32011, so hashing cannot
 * take the io pool from everything else). */
#define KR_AUTH_TRUSTED_DEFAULT "127.0.0.0/8 ::1"
#define KR_AUTH_LOGIN_CONCURRENCY_DEFAULT 2

#endif
