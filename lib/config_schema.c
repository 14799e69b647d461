/* The config schema table and the parsing of single values. */
#include "lib/config_schema.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/config.h"
#include "lib/limits.h"

#define SCHEMA_STR(x) #x
#define SCHEMA_XSTR(x) SCHEMA_STR(x)
#define SCHEMA_FIELD(f) \
	offsetof(struct kr_config, f), sizeof(((struct kr_config *)0)->f)
#define SCHEMA_SHARD_FIELD(f)                \
	offsetof(struct kr_config_shard, f), \
		sizeof(((struct kr_config_shard *)0)->f)

/* A bucket range is stored as two adjacent unsigneds. */
_Static_assert(offsetof(struct kr_config_shard, bucket_hi) ==
		       offsetof(struct kr_config_shard, bucket_lo) +
			       sizeof(unsigned),
	       "bucket_hi must follow bucket_lo");

static const char *const schema_pools[] = { "watermark", "singleton", NULL };
static const char *const schema_balancers[] = { "heap", "aperture", NULL };
static const char *const schema_over_quota[] = { "temporary", "permanent",
						 NULL };

/* Every number is a lib/limits.h name (defaults are stringified, so
 * they are plain literals there). Every shard needs a primary; the
 * shard pool keys have no default because they fall back to [storage]
 * (config.c). The "shard" keys come last, primary first. */
const struct kr_config_key kr_config_schema_keys[] = {
	{ "server", "user", KR_CONFIG_T_STRING, 1, KR_SERVER_USER_MAX,
	  KR_SERVER_USER_DEFAULT, SCHEMA_FIELD(server.user), 0, NULL },
	{ "server", "nofile", KR_CONFIG_T_UINT, KR_NOFILE_MIN, KR_NOFILE_MAX,
	  SCHEMA_XSTR(KR_NOFILE_DEFAULT), SCHEMA_FIELD(server.nofile), 0,
	  NULL },
	{ "workers", "count", KR_CONFIG_T_UINT, 0, KR_WORKERS_MAX,
	  SCHEMA_XSTR(KR_WORKERS_DEFAULT), SCHEMA_FIELD(workers.count), 0,
	  NULL },
	{ "workers", "max_requests", KR_CONFIG_T_UINT, 0, UINT64_MAX,
	  SCHEMA_XSTR(KR_MAX_REQUESTS_DEFAULT),
	  SCHEMA_FIELD(workers.max_requests), 0, NULL },
	{ "workers", "max_rss", KR_CONFIG_T_SIZE, 0, UINT64_MAX,
	  SCHEMA_XSTR(KR_MAX_RSS_DEFAULT), SCHEMA_FIELD(workers.max_rss), 0,
	  NULL },
	{ "workers", "restart_intensity", KR_CONFIG_T_UINT, 1,
	  KR_RESTART_INTENSITY_MAX, SCHEMA_XSTR(KR_RESTART_INTENSITY_DEFAULT),
	  SCHEMA_FIELD(workers.restart_intensity), 0, NULL },
	{ "workers", "restart_period", KR_CONFIG_T_DURATION,
	  KR_RESTART_PERIOD_MS_MIN, KR_RESTART_PERIOD_MS_MAX,
	  SCHEMA_XSTR(KR_RESTART_PERIOD_MS_DEFAULT),
	  SCHEMA_FIELD(workers.restart_period_ms), 0, NULL },
	{ "workers", "restart_backoff_max", KR_CONFIG_T_DURATION,
	  KR_RESTART_BACKOFF_MAX_MS_MIN, KR_RESTART_BACKOFF_MAX_MS_MAX,
	  SCHEMA_XSTR(KR_RESTART_BACKOFF_MAX_MS_DEFAULT),
	  SCHEMA_FIELD(workers.restart_backoff_max_ms), 0, NULL },
	{ "workers", "drain_timeout", KR_CONFIG_T_DURATION,
	  KR_DRAIN_TIMEOUT_MS_MIN, KR_DRAIN_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_DRAIN_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(workers.drain_timeout_ms), 0, NULL },
	{ "workers", "io_threads", KR_CONFIG_T_UINT, 1, KR_IO_THREADS_MAX,
	  SCHEMA_XSTR(KR_IO_THREADS_DEFAULT), SCHEMA_FIELD(workers.io_threads),
	  0, NULL },
	{ "workers", "io_queue", KR_CONFIG_T_UINT, 1, KR_POOL_QUEUE_MAX,
	  SCHEMA_XSTR(KR_POOL_QUEUE_DEFAULT), SCHEMA_FIELD(workers.io_queue), 0,
	  NULL },
	{ "workers", "cpu_queue", KR_CONFIG_T_UINT, 1, KR_POOL_QUEUE_MAX,
	  SCHEMA_XSTR(KR_POOL_QUEUE_DEFAULT), SCHEMA_FIELD(workers.cpu_queue),
	  0, NULL },
	{ "workers", "cpu_inline_max", KR_CONFIG_T_SIZE, 0,
	  KR_CPU_INLINE_MAX_MAX, SCHEMA_XSTR(KR_CPU_INLINE_MAX_DEFAULT),
	  SCHEMA_FIELD(workers.cpu_inline_max), 0, NULL },
	{ "admin", "listen", KR_CONFIG_T_ADDR, 0, 0, "127.0.0.1:8081",
	  SCHEMA_FIELD(admin.listen), 0, NULL },
	{ "admin", "token", KR_CONFIG_T_TOKEN, KR_ADMIN_TOKEN_MIN,
	  KR_ADMIN_TOKEN_MAX, NULL, SCHEMA_FIELD(admin.token),
	  KR_CONFIG_F_SECRET, NULL },
	{ "admin", "metrics_open", KR_CONFIG_T_BOOL, 0, 0, "false",
	  SCHEMA_FIELD(admin.metrics_open), 0, NULL },
	{ "admin", "max_connections", KR_CONFIG_T_UINT, 1,
	  KR_ADMIN_MAX_CONNECTIONS_MAX,
	  SCHEMA_XSTR(KR_ADMIN_MAX_CONNECTIONS_DEFAULT),
	  SCHEMA_FIELD(admin.max_connections), 0, NULL },
	{ "admin", "idle_timeout", KR_CONFIG_T_DURATION,
	  KR_ADMIN_IDLE_TIMEOUT_MS_MIN, KR_ADMIN_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_ADMIN_IDLE_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(admin.idle_timeout_ms), 0, NULL },
	{ "admin", "read_timeout", KR_CONFIG_T_DURATION,
	  KR_ADMIN_IO_TIMEOUT_MS_MIN, KR_ADMIN_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_ADMIN_READ_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(admin.read_timeout_ms), 0, NULL },
	{ "admin", "write_timeout", KR_CONFIG_T_DURATION,
	  KR_ADMIN_IO_TIMEOUT_MS_MIN, KR_ADMIN_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_ADMIN_WRITE_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(admin.write_timeout_ms), 0, NULL },
	{ "admin", "peers", KR_CONFIG_T_ADDRS, 0, KR_ADMIN_PEERS_MAX, "none",
	  SCHEMA_FIELD(admin.peers), 0, NULL },
	{ "log", "level", KR_CONFIG_T_LEVEL, 0, 0, "info",
	  SCHEMA_FIELD(log.level), 0, NULL },
	{ "storage", "connect_timeout", KR_CONFIG_T_DURATION,
	  KR_STORAGE_CONNECT_TIMEOUT_MS_MIN, KR_STORAGE_CONNECT_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_STORAGE_CONNECT_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(storage.connect_timeout_ms), 0, NULL },
	{ "storage", "query_timeout", KR_CONFIG_T_DURATION,
	  KR_STORAGE_QUERY_TIMEOUT_MS_MIN, KR_STORAGE_QUERY_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_STORAGE_QUERY_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(storage.query_timeout_ms), 0, NULL },
	{ "storage", "pool", KR_CONFIG_T_ENUM, 0, 0, "watermark",
	  SCHEMA_FIELD(storage.pool), 0, schema_pools },
	{ "storage", "pool_low", KR_CONFIG_T_UINT, 0, KR_STORAGE_POOL_LOW_MAX,
	  SCHEMA_XSTR(KR_STORAGE_POOL_LOW_DEFAULT),
	  SCHEMA_FIELD(storage.pool_low), 0, NULL },
	{ "storage", "pool_high", KR_CONFIG_T_UINT, 1, KR_STORAGE_POOL_HIGH_MAX,
	  SCHEMA_XSTR(KR_STORAGE_POOL_HIGH_DEFAULT),
	  SCHEMA_FIELD(storage.pool_high), 0, NULL },
	{ "storage", "pool_queue", KR_CONFIG_T_UINT, 0,
	  KR_STORAGE_POOL_QUEUE_MAX, SCHEMA_XSTR(KR_STORAGE_POOL_QUEUE_DEFAULT),
	  SCHEMA_FIELD(storage.pool_queue), 0, NULL },
	{ "storage", "pool_queue_timeout", KR_CONFIG_T_DURATION,
	  KR_STORAGE_POOL_QUEUE_TIMEOUT_MS_MIN,
	  KR_STORAGE_POOL_QUEUE_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_STORAGE_POOL_QUEUE_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(storage.pool_queue_timeout_ms), 0, NULL },
	{ "storage", "circuit_failures", KR_CONFIG_T_UINT, 1,
	  KR_STORAGE_CIRCUIT_FAILURES_MAX,
	  SCHEMA_XSTR(KR_STORAGE_CIRCUIT_FAILURES_DEFAULT),
	  SCHEMA_FIELD(storage.circuit_failures), 0, NULL },
	{ "storage", "circuit_probe", KR_CONFIG_T_DURATION,
	  KR_STORAGE_CIRCUIT_PROBE_MS_MIN, KR_STORAGE_CIRCUIT_PROBE_MS_MAX,
	  SCHEMA_XSTR(KR_STORAGE_CIRCUIT_PROBE_MS_DEFAULT),
	  SCHEMA_FIELD(storage.circuit_probe_ms), 0, NULL },
	{ "storage", "balancer", KR_CONFIG_T_ENUM, 0, 0, "heap",
	  SCHEMA_FIELD(storage.balancer), 0, schema_balancers },
	{ "storage", "aperture_low", KR_CONFIG_T_DOUBLE, 0,
	  KR_STORAGE_APERTURE_MAX, SCHEMA_XSTR(KR_STORAGE_APERTURE_LOW_DEFAULT),
	  SCHEMA_FIELD(storage.aperture_low), 0, NULL },
	{ "storage", "aperture_high", KR_CONFIG_T_DOUBLE, 0,
	  KR_STORAGE_APERTURE_MAX,
	  SCHEMA_XSTR(KR_STORAGE_APERTURE_HIGH_DEFAULT),
	  SCHEMA_FIELD(storage.aperture_high), 0, NULL },
	{ "storage", "read_your_writes", KR_CONFIG_T_DURATION, 0,
	  KR_STORAGE_READ_YOUR_WRITES_MS_MAX,
	  SCHEMA_XSTR(KR_STORAGE_READ_YOUR_WRITES_MS_DEFAULT),
	  SCHEMA_FIELD(storage.read_your_writes_ms), 0, NULL },
	{ "storage", "group_commit_max", KR_CONFIG_T_UINT, 1,
	  KR_STORAGE_GROUP_COMMIT_MAX_MAX,
	  SCHEMA_XSTR(KR_STORAGE_GROUP_COMMIT_MAX_DEFAULT),
	  SCHEMA_FIELD(storage.group_commit_max), 0, NULL },
	{ "storage", "group_commit_inflight", KR_CONFIG_T_UINT, 1,
	  KR_STORAGE_GROUP_COMMIT_INFLIGHT_MAX,
	  SCHEMA_XSTR(KR_STORAGE_GROUP_COMMIT_INFLIGHT_DEFAULT),
	  SCHEMA_FIELD(storage.group_commit_inflight), 0, NULL },
	{ "storage", "group_commit_wait", KR_CONFIG_T_UINT, 0,
	  KR_STORAGE_GROUP_COMMIT_WAIT_US_MAX,
	  SCHEMA_XSTR(KR_STORAGE_GROUP_COMMIT_WAIT_US_DEFAULT),
	  SCHEMA_FIELD(storage.group_commit_wait_us), 0, NULL },
	{ "storage", "census_interval", KR_CONFIG_T_DURATION,
	  KR_STORAGE_CENSUS_INTERVAL_MS_MIN, KR_STORAGE_CENSUS_INTERVAL_MS_MAX,
	  SCHEMA_XSTR(KR_STORAGE_CENSUS_INTERVAL_MS_DEFAULT),
	  SCHEMA_FIELD(storage.census_interval_ms), 0, NULL },
	{ "storage", "max_shards", KR_CONFIG_T_UINT, 1,
	  KR_STORAGE_MAX_SHARDS_MAX, SCHEMA_XSTR(KR_STORAGE_MAX_SHARDS_DEFAULT),
	  SCHEMA_FIELD(storage.max_shards), 0, NULL },
	{ "lmtp", "listen", KR_CONFIG_T_ADDR, 0, 0, "127.0.0.1:2424",
	  SCHEMA_FIELD(lmtp.listen), 0, NULL },
	{ "lmtp", "unix_socket", KR_CONFIG_T_STRING, 1, KR_LMTP_UNIX_SOCKET_MAX,
	  NULL, SCHEMA_FIELD(lmtp.unix_socket), 0, NULL },
	{ "lmtp", "hostname", KR_CONFIG_T_STRING, 1, KR_LMTP_HOSTNAME_MAX, NULL,
	  SCHEMA_FIELD(lmtp.hostname), 0, NULL },
	{ "lmtp", "tls_cert", KR_CONFIG_T_STRING, 1, KR_CONFIG_VALUE_MAX, NULL,
	  SCHEMA_FIELD(lmtp.tls_cert), 0, NULL },
	{ "lmtp", "tls_key", KR_CONFIG_T_STRING, 1, KR_CONFIG_VALUE_MAX, NULL,
	  SCHEMA_FIELD(lmtp.tls_key), 0, NULL },
	{ "lmtp", "max_sessions", KR_CONFIG_T_UINT, 1, KR_LMTP_MAX_SESSIONS_MAX,
	  SCHEMA_XSTR(KR_LMTP_MAX_SESSIONS_DEFAULT),
	  SCHEMA_FIELD(lmtp.max_sessions), 0, NULL },
	{ "lmtp", "idle_timeout", KR_CONFIG_T_DURATION,
	  KR_LMTP_IDLE_TIMEOUT_MS_MIN, KR_LMTP_IDLE_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_LMTP_IDLE_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(lmtp.idle_timeout_ms), 0, NULL },
	{ "lmtp", "session_timeout", KR_CONFIG_T_DURATION,
	  KR_LMTP_SESSION_TIMEOUT_MS_MIN, KR_LMTP_SESSION_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_LMTP_SESSION_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(lmtp.session_timeout_ms), 0, NULL },
	{ "lmtp", "delivery_timeout", KR_CONFIG_T_DURATION,
	  KR_LMTP_DELIVERY_TIMEOUT_MS_MIN, KR_LMTP_DELIVERY_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_LMTP_DELIVERY_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(lmtp.delivery_timeout_ms), 0, NULL },
	{ "lmtp", "message_max", KR_CONFIG_T_SIZE, KR_LMTP_MESSAGE_MAX_MIN,
	  KR_LMTP_MESSAGE_MAX_MAX, SCHEMA_XSTR(KR_LMTP_MESSAGE_MAX_DEFAULT),
	  SCHEMA_FIELD(lmtp.message_max), 0, NULL },
	{ "lmtp", "data_line_max", KR_CONFIG_T_SIZE, KR_LMTP_DATA_LINE_MAX_MIN,
	  KR_LMTP_DATA_LINE_MAX_MAX, SCHEMA_XSTR(KR_LMTP_DATA_LINE_MAX_DEFAULT),
	  SCHEMA_FIELD(lmtp.data_line_max), 0, NULL },
	{ "lmtp", "rcpt_max", KR_CONFIG_T_UINT, 1, KR_LMTP_RCPT_MAX_MAX,
	  SCHEMA_XSTR(KR_LMTP_RCPT_MAX_DEFAULT), SCHEMA_FIELD(lmtp.rcpt_max), 0,
	  NULL },
	{ "lmtp", "header_max", KR_CONFIG_T_UINT, KR_LMTP_HEADER_MAX_MIN,
	  KR_LMTP_HEADER_MAX_MAX, SCHEMA_XSTR(KR_LMTP_HEADER_MAX_DEFAULT),
	  SCHEMA_FIELD(lmtp.header_max), 0, NULL },
	{ "lmtp", "over_quota", KR_CONFIG_T_ENUM, 0, 0, "temporary",
	  SCHEMA_FIELD(lmtp.over_quota), 0, schema_over_quota },
	{ "lmtp", "allow", KR_CONFIG_T_NETS, 0, 0, KR_LMTP_ALLOW_DEFAULT,
	  SCHEMA_FIELD(lmtp.allow), 0, NULL },
	{ "lmtp", "write_timeout", KR_CONFIG_T_DURATION,
	  KR_LMTP_WRITE_TIMEOUT_MS_MIN, KR_LMTP_WRITE_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_LMTP_WRITE_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(lmtp.write_timeout_ms), 0, NULL },
	{ "lmtp", "rcpt_cache_ttl", KR_CONFIG_T_DURATION, 0,
	  KR_LMTP_RCPT_CACHE_TTL_MS_MAX,
	  SCHEMA_XSTR(KR_LMTP_RCPT_CACHE_TTL_MS_DEFAULT),
	  SCHEMA_FIELD(lmtp.rcpt_cache_ttl_ms), 0, NULL },
	{ "lmtp", "rcpt_cache_max_bytes", KR_CONFIG_T_SIZE, 0,
	  KR_LMTP_RCPT_CACHE_BYTES_MAX,
	  SCHEMA_XSTR(KR_LMTP_RCPT_CACHE_BYTES_DEFAULT),
	  SCHEMA_FIELD(lmtp.rcpt_cache_bytes), 0, NULL },
	{ "jsonrpc", "listen", KR_CONFIG_T_ADDR, 0, 0, "127.0.0.1:8080",
	  SCHEMA_FIELD(jsonrpc.listen), 0, NULL },
	{ "jsonrpc", "tls_cert", KR_CONFIG_T_STRING, 1, KR_CONFIG_VALUE_MAX,
	  NULL, SCHEMA_FIELD(jsonrpc.tls_cert), 0, NULL },
	{ "jsonrpc", "tls_key", KR_CONFIG_T_STRING, 1, KR_CONFIG_VALUE_MAX,
	  NULL, SCHEMA_FIELD(jsonrpc.tls_key), 0, NULL },
	{ "jsonrpc", "max_connections", KR_CONFIG_T_UINT, 1,
	  KR_JSONRPC_MAX_CONNECTIONS_MAX,
	  SCHEMA_XSTR(KR_JSONRPC_MAX_CONNECTIONS_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.max_connections), 0, NULL },
	{ "jsonrpc", "body_max", KR_CONFIG_T_SIZE, KR_JSONRPC_BODY_MAX_MIN,
	  KR_JSONRPC_BODY_MAX_MAX, SCHEMA_XSTR(KR_JSONRPC_BODY_MAX_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.body_max), 0, NULL },
	{ "jsonrpc", "header_max", KR_CONFIG_T_SIZE, KR_JSONRPC_HEADER_MAX_MIN,
	  KR_JSONRPC_HEADER_MAX_MAX, SCHEMA_XSTR(KR_JSONRPC_HEADER_MAX_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.header_max), 0, NULL },
	{ "jsonrpc", "idle_timeout", KR_CONFIG_T_DURATION,
	  KR_JSONRPC_IDLE_TIMEOUT_MS_MIN, KR_JSONRPC_IDLE_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_JSONRPC_IDLE_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.idle_timeout_ms), 0, NULL },
	{ "jsonrpc", "request_timeout", KR_CONFIG_T_DURATION,
	  KR_JSONRPC_REQUEST_TIMEOUT_MS_MIN, KR_JSONRPC_REQUEST_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_JSONRPC_REQUEST_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.request_timeout_ms), 0, NULL },
	{ "jsonrpc", "batch_max", KR_CONFIG_T_UINT, 1, KR_JSONRPC_BATCH_MAX_MAX,
	  SCHEMA_XSTR(KR_JSONRPC_BATCH_MAX_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.batch_max), 0, NULL },
	{ "jsonrpc", "depth_max", KR_CONFIG_T_UINT, KR_JSONRPC_DEPTH_MAX_MIN,
	  KR_JSONRPC_DEPTH_MAX_MAX, SCHEMA_XSTR(KR_JSONRPC_DEPTH_MAX_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.depth_max), 0, NULL },
	{ "jsonrpc", "read_timeout", KR_CONFIG_T_DURATION,
	  KR_JSONRPC_IO_TIMEOUT_MS_MIN, KR_JSONRPC_IO_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_JSONRPC_READ_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.read_timeout_ms), 0, NULL },
	{ "jsonrpc", "write_timeout", KR_CONFIG_T_DURATION,
	  KR_JSONRPC_IO_TIMEOUT_MS_MIN, KR_JSONRPC_IO_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_JSONRPC_WRITE_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.write_timeout_ms), 0, NULL },
	{ "jsonrpc", "element_max", KR_CONFIG_T_UINT,
	  KR_JSONRPC_ELEMENT_MAX_MIN, KR_JSONRPC_ELEMENT_MAX_MAX,
	  SCHEMA_XSTR(KR_JSONRPC_ELEMENT_MAX_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.element_max), 0, NULL },
	{ "jsonrpc", "memory_max", KR_CONFIG_T_SIZE, KR_JSONRPC_MEMORY_MAX_MIN,
	  KR_JSONRPC_MEMORY_MAX_MAX, SCHEMA_XSTR(KR_JSONRPC_MEMORY_MAX_DEFAULT),
	  SCHEMA_FIELD(jsonrpc.memory_max), 0, NULL },
	{ "auth", "secret", KR_CONFIG_T_TOKEN, KR_AUTH_SECRET_MIN,
	  KR_AUTH_SECRET_MAX, NULL, SCHEMA_FIELD(auth.secret),
	  KR_CONFIG_F_SECRET, NULL },
	{ "auth", "previous_secret", KR_CONFIG_T_TOKEN, KR_AUTH_SECRET_MIN,
	  KR_AUTH_SECRET_MAX, NULL, SCHEMA_FIELD(auth.previous_secret),
	  KR_CONFIG_F_SECRET, NULL },
	{ "auth", "session_ttl", KR_CONFIG_T_DURATION,
	  KR_AUTH_SESSION_TTL_MS_MIN, KR_AUTH_SESSION_TTL_MS_MAX,
	  SCHEMA_XSTR(KR_AUTH_SESSION_TTL_MS_DEFAULT),
	  SCHEMA_FIELD(auth.session_ttl_ms), 0, NULL },
	{ "auth", "user_burst", KR_CONFIG_T_UINT, 0, KR_AUTH_RATE_MAX,
	  SCHEMA_XSTR(KR_AUTH_USER_BURST_DEFAULT),
	  SCHEMA_FIELD(auth.user_burst), 0, NULL },
	{ "auth", "user_per_minute", KR_CONFIG_T_UINT, 1, KR_AUTH_RATE_MAX,
	  SCHEMA_XSTR(KR_AUTH_USER_PER_MINUTE_DEFAULT),
	  SCHEMA_FIELD(auth.user_per_minute), 0, NULL },
	{ "auth", "addr_burst", KR_CONFIG_T_UINT, 0, KR_AUTH_RATE_MAX,
	  SCHEMA_XSTR(KR_AUTH_ADDR_BURST_DEFAULT),
	  SCHEMA_FIELD(auth.addr_burst), 0, NULL },
	{ "auth", "addr_per_minute", KR_CONFIG_T_UINT, 1, KR_AUTH_RATE_MAX,
	  SCHEMA_XSTR(KR_AUTH_ADDR_PER_MINUTE_DEFAULT),
	  SCHEMA_FIELD(auth.addr_per_minute), 0, NULL },
	{ "auth", "limiter_keys", KR_CONFIG_T_UINT, KR_AUTH_LIMITER_KEYS_MIN,
	  KR_AUTH_LIMITER_KEYS_MAX, SCHEMA_XSTR(KR_AUTH_LIMITER_KEYS_DEFAULT),
	  SCHEMA_FIELD(auth.limiter_keys), 0, NULL },
	{ "auth", "trusted", KR_CONFIG_T_NETS, 0, 0, KR_AUTH_TRUSTED_DEFAULT,
	  SCHEMA_FIELD(auth.trusted), 0, NULL },
	{ "auth", "login_concurrency", KR_CONFIG_T_UINT, 1, KR_IO_THREADS_MAX,
	  SCHEMA_XSTR(KR_AUTH_LOGIN_CONCURRENCY_DEFAULT),
	  SCHEMA_FIELD(auth.login_concurrency), 0, NULL },
	{ "cache", "max_bytes", KR_CONFIG_T_SIZE, 0, KR_CACHE_MAX_BYTES_MAX,
	  SCHEMA_XSTR(KR_CACHE_MAX_BYTES_DEFAULT),
	  SCHEMA_FIELD(cache.max_bytes), 0, NULL },
	{ "cache", "ttl", KR_CONFIG_T_DURATION, 0, KR_CACHE_TTL_MS_MAX,
	  SCHEMA_XSTR(KR_CACHE_TTL_MS_DEFAULT), SCHEMA_FIELD(cache.ttl_ms), 0,
	  NULL },
	{ "antispam", "enabled", KR_CONFIG_T_BOOL, 0, 0, "false",
	  SCHEMA_FIELD(antispam.enabled), 0, NULL },
	{ "antispam", "modules", KR_CONFIG_T_STRING, 1, KR_CONFIG_VALUE_MAX,
	  NULL, SCHEMA_FIELD(antispam.modules), 0, NULL },
	{ "antispam", "reloadable", KR_CONFIG_T_STRING, 1, KR_CONFIG_VALUE_MAX,
	  NULL, SCHEMA_FIELD(antispam.reloadable), 0, NULL },
	{ "antispam", "resolver", KR_CONFIG_T_ADDR, 0, 0, NULL,
	  SCHEMA_FIELD(antispam.resolver), 0, NULL },
	{ "antispam", "dnsbl", KR_CONFIG_T_STRING, 1, KR_CONFIG_VALUE_MAX, NULL,
	  SCHEMA_FIELD(antispam.dnsbl), 0, NULL },
	{ "antispam", "rules", KR_CONFIG_T_STRING, 1, KR_CONFIG_VALUE_MAX,
	  KR_ANTISPAM_RULES_DEFAULT, SCHEMA_FIELD(antispam.rules), 0, NULL },
	{ "antispam", "spam_score", KR_CONFIG_T_DOUBLE, 0,
	  KR_ANTISPAM_SCORE_MAX, SCHEMA_XSTR(KR_ANTISPAM_SPAM_SCORE_DEFAULT),
	  SCHEMA_FIELD(antispam.spam_score), 0, NULL },
	{ "antispam", "reject_score", KR_CONFIG_T_DOUBLE, 0,
	  KR_ANTISPAM_SCORE_MAX, SCHEMA_XSTR(KR_ANTISPAM_REJECT_SCORE_DEFAULT),
	  SCHEMA_FIELD(antispam.reject_score), 0, NULL },
	{ "antispam", "rate_ip", KR_CONFIG_T_UINT, 0, KR_ANTISPAM_RATE_MAX, "0",
	  SCHEMA_FIELD(antispam.rate_ip), 0, NULL },
	{ "antispam", "rate_sender", KR_CONFIG_T_UINT, 0, KR_ANTISPAM_RATE_MAX,
	  "0", SCHEMA_FIELD(antispam.rate_sender), 0, NULL },
	{ "antispam", "rate_window", KR_CONFIG_T_DURATION, 1000,
	  KR_ANTISPAM_WINDOW_MS_MAX,
	  SCHEMA_XSTR(KR_ANTISPAM_RATE_WINDOW_MS_DEFAULT),
	  SCHEMA_FIELD(antispam.rate_window_ms), 0, NULL },
	{ "antispam", "bulk_rcpts", KR_CONFIG_T_UINT, 0, KR_ANTISPAM_RATE_MAX,
	  SCHEMA_XSTR(KR_ANTISPAM_BULK_RCPTS_DEFAULT),
	  SCHEMA_FIELD(antispam.bulk_rcpts), 0, NULL },
	{ "antispam", "bulk_window", KR_CONFIG_T_DURATION, 1000,
	  KR_ANTISPAM_WINDOW_MS_MAX,
	  SCHEMA_XSTR(KR_ANTISPAM_BULK_WINDOW_MS_DEFAULT),
	  SCHEMA_FIELD(antispam.bulk_window_ms), 0, NULL },
	{ "antispam", "bulk_score", KR_CONFIG_T_DOUBLE, 0,
	  KR_ANTISPAM_SCORE_MAX, SCHEMA_XSTR(KR_ANTISPAM_BULK_SCORE_DEFAULT),
	  SCHEMA_FIELD(antispam.bulk_score), 0, NULL },
	{ "antispam", "bayes_tokens_max", KR_CONFIG_T_UINT, 1000,
	  KR_ANTISPAM_BAYES_TOKENS_MAX,
	  SCHEMA_XSTR(KR_ANTISPAM_BAYES_TOKENS_DEFAULT),
	  SCHEMA_FIELD(antispam.bayes_tokens_max), 0, NULL },
	{ "antispam", "check_timeout", KR_CONFIG_T_DURATION, 100,
	  KR_ANTISPAM_CHECK_TIMEOUT_MS_MAX,
	  SCHEMA_XSTR(KR_ANTISPAM_CHECK_TIMEOUT_MS_DEFAULT),
	  SCHEMA_FIELD(antispam.check_timeout_ms), 0, NULL },
	{ "shard", "primary", KR_CONFIG_T_STRING, 1, KR_CONFIG_VALUE_MAX, NULL,
	  SCHEMA_SHARD_FIELD(primary), KR_CONFIG_F_SECRET, NULL },
	{ "shard", "replica", KR_CONFIG_T_STRING, 1, KR_CONFIG_VALUE_MAX, NULL,
	  SCHEMA_SHARD_FIELD(replicas), KR_CONFIG_F_REPEAT | KR_CONFIG_F_SECRET,
	  NULL },
	{ "shard", "buckets", KR_CONFIG_T_BUCKETS, 0, KR_SHARD_BUCKETS - 1,
	  NULL, SCHEMA_SHARD_FIELD(bucket_lo), 0, NULL },
	{ "shard", "pool_low", KR_CONFIG_T_UINT, 0, KR_STORAGE_POOL_LOW_MAX,
	  NULL, SCHEMA_SHARD_FIELD(pool_low), 0, NULL },
	{ "shard", "pool_high", KR_CONFIG_T_UINT, 1, KR_STORAGE_POOL_HIGH_MAX,
	  NULL, SCHEMA_SHARD_FIELD(pool_high), 0, NULL },
	{ "shard", "pool_queue", KR_CONFIG_T_UINT, 0, KR_STORAGE_POOL_QUEUE_MAX,
	  NULL, SCHEMA_SHARD_FIELD(pool_queue), 0, NULL },
};

_Static_assert(sizeof(kr_config_schema_keys) /
			       sizeof(kr_config_schema_keys[0]) <=
		       KR_CONFIG_SCHEMA_KEYS_MAX,
	       "raise KR_CONFIG_SCHEMA_KEYS_MAX");

/* Ranges the lower layers take as they are: the config's must fit. */
_Static_assert(KR_AUTH_LIMITER_KEYS_MAX <= KR_RATELIMIT_KEYS_MAX,
	       "[auth] limiter_keys past what the limiter takes");
_Static_assert(KR_AUTH_LOGIN_CONCURRENCY_DEFAULT <= KR_IO_THREADS_DEFAULT,
	       "[auth] login_concurrency takes the whole io pool");
_Static_assert(KR_LMTP_RCPT_MAX_DEFAULT <= KR_STORE_RCPTS_MAX &&
		       KR_LMTP_MESSAGE_MAX_DEFAULT <=
			       KR_STORE_DELIVERY_BODY_MAX &&
		       KR_JSONRPC_BODY_MAX_DEFAULT <= KR_STORE_RPC_BODY_MAX,
	       "a default kr_store_check_config would refuse");

const size_t kr_config_schema_n_keys =
	sizeof(kr_config_schema_keys) / sizeof(kr_config_schema_keys[0]);

const struct kr_config_key *
kr_config_schema_find(const char *section, const char *key)
{
	for (size_t i = 0; i < kr_config_schema_n_keys; i++) {
		if (strcmp(kr_config_schema_keys[i].section, section) == 0 &&
		    strcmp(kr_config_schema_keys[i].key, key) == 0)
			return &kr_config_schema_keys[i];
	}
	return NULL;
}

unsigned
kr_config_schema_shard_index(const struct kr_config_key *k)
{
	unsigned idx = 0;

	for (const struct kr_config_key *p = kr_config_schema_keys; p < k; p++)
		idx += strcmp(p->section, "shard") == 0;
	kr_assert(strcmp(k->section, "shard") == 0 &&
		  idx < KR_CONFIG_SCHEMA_SHARD_KEYS);
	return idx;
}

static int
schema_parse_digits(const char **s, uint64_t *n_r)
{
	const char *p = *s;
	uint64_t n = 0;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*s = p;
	*n_r = n;
	return 0;
}

static uint64_t
schema_suffix_mult(enum kr_config_type type, const char *suffix)
{
	if (*suffix == '\0')
		return 1;
	if (type == KR_CONFIG_T_SIZE && suffix[1] == '\0') {
		switch (tolower((unsigned char)*suffix)) {
		case 'k':
			return 1ULL << 10;
		case 'm':
			return 1ULL << 20;
		case 'g':
			return 1ULL << 30;
		default:
			return 0;
		}
	}
	if (type == KR_CONFIG_T_DURATION) {
		if (strcmp(suffix, "ms") == 0)
			return 1;
		if (strcmp(suffix, "s") == 0)
			return 1000;
		if (strcmp(suffix, "m") == 0)
			return 60000;
	}
	return 0;
}

/* Digits with the suffixes the type allows; overflow is an error. */
static int
schema_parse_number(enum kr_config_type type, const char *s, uint64_t *n_r)
{
	uint64_t n, mult;

	if (schema_parse_digits(&s, &n) < 0)
		return -1;
	mult = schema_suffix_mult(type, s);
	if (mult == 0 || n > UINT64_MAX / mult)
		return -1;
	*n_r = n * mult;
	return 0;
}

static int
schema_parse_bool(const char *s, bool *b_r)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b_r = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b_r = false;
			return 0;
		}
	}
	return -1;
}

/* Plain decimals only ("2", "0.5"): no sign, exponent, hex, inf or
 * nan, which strtod would all take. The digits are checked first, so
 * strtod sees nothing it could read differently. */
static int
schema_parse_double(const char *s, double *d_r)
{
	size_t int_len = strspn(s, "0123456789"), frac_len = 0;
	char *end;

	if (int_len == 0 || int_len > 12)
		return -1;
	if (s[int_len] == '.') {
		frac_len = strspn(s + int_len + 1, "0123456789");
		if (frac_len == 0 || frac_len > 12)
			return -1;
		frac_len++;
	}
	if (s[int_len + frac_len] != '\0')
		return -1;
	*d_r = strtod(s, &end);
	return *end == '\0' ? 0 : -1;
}

/* "LO-HI" with 0 <= LO <= HI <= max. */
static int
schema_parse_buckets(const char *s, uint64_t max, unsigned range_r[2])
{
	uint64_t lo, hi;

	if (schema_parse_digits(&s, &lo) < 0 || *s++ != '-' ||
	    schema_parse_digits(&s, &hi) < 0 || *s != '\0' || lo > hi ||
	    hi > max)
		return -1;
	range_r[0] = (unsigned)lo;
	range_r[1] = (unsigned)hi;
	return 0;
}

/* Entries separated by spaces or commas, each an ADDR, at most max of
 * them, none twice; "none" alone (or nothing) is the empty list. */
static int
schema_parse_addrs(const char *s, uint64_t max, struct kr_config_addrs *list_r)
{
	static const char seps[] = " \t,";
	struct kr_config_addrs list = { .n = 0 };

	for (const char *p = s + strspn(s, seps); *p != '\0';
	     p += strspn(p, seps)) {
		size_t n = strcspn(p, seps);
		char *tok;

		if (n == 4 && strncmp(p, "none", 4) == 0 && list.n == 0 &&
		    p[n + strspn(p + n, seps)] == '\0')
			break;
		if (list.n >= max || n >= KR_CONFIG_ADDR_TEXT_MAX)
			return -1;
		tok = list.addr[list.n];
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		if (kr_config_parse_addr(tok, NULL, 0, NULL) < 0)
			return -1;
		for (unsigned i = 0; i < list.n; i++)
			if (strcmp(list.addr[i], tok) == 0)
				return -1;
		list.n++;
	}
	*list_r = list;
	return 0;
}

static int
schema_parse_enum(const struct kr_config_key *k, const char *s, unsigned *i_r)
{
	for (unsigned i = 0; k->names[i] != NULL; i++) {
		if (strcmp(k->names[i], s) == 0) {
			*i_r = i;
			return 0;
		}
	}
	return -1;
}

bool
kr_config_schema_string_ok(const struct kr_config_key *k, const char *s)
{
	size_t len = strlen(s);

	if (len < k->min || len > k->max)
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (k->type == KR_CONFIG_T_TOKEN && !isalnum(c) && c != '_' &&
		    c != '-')
			return false;
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static void
schema_store_uint(char *dst, size_t width, uint64_t n)
{
	if (width == sizeof(uint64_t)) {
		memcpy(dst, &n, sizeof(n));
	} else {
		unsigned u = (unsigned)n;

		kr_assert(width == sizeof(unsigned) && n <= UINT32_MAX);
		memcpy(dst, &u, sizeof(u));
	}
}

void
kr_config_schema_free_string(const struct kr_config_key *k, char *s)
{
	if (s != NULL && (k->flags & KR_CONFIG_F_SECRET))
		explicit_bzero(s, strlen(s));
	free(s);
}

/* The types kept in a fixed-size field; -1 when value is bad. */
static int
schema_store_scalar(const struct kr_config_key *k, char *dst, const char *value)
{
	uint64_t n;
	unsigned u, range[2];
	double d;
	bool b;
	enum kr_log_level level;
	struct kr_cidr_list nets;
	struct kr_config_addrs addrs;

	switch (k->type) {
	case KR_CONFIG_T_BOOL:
		if (schema_parse_bool(value, &b) < 0)
			return -1;
		memcpy(dst, &b, sizeof(b));
		return 0;
	case KR_CONFIG_T_LEVEL:
		if (kr_log_level_parse(value, &level) < 0)
			return -1;
		memcpy(dst, &level, sizeof(level));
		return 0;
	case KR_CONFIG_T_ENUM:
		if (schema_parse_enum(k, value, &u) < 0)
			return -1;
		kr_assert(k->width == sizeof(u));
		memcpy(dst, &u, sizeof(u));
		return 0;
	case KR_CONFIG_T_DOUBLE:
		if (schema_parse_double(value, &d) < 0 ||
		    !(d > (double)k->min) || d > (double)k->max)
			return -1;
		kr_assert(k->width == sizeof(d));
		memcpy(dst, &d, sizeof(d));
		return 0;
	case KR_CONFIG_T_BUCKETS:
		if (schema_parse_buckets(value, k->max, range) < 0)
			return -1;
		memcpy(dst, range, sizeof(range));
		return 0;
	case KR_CONFIG_T_NETS:
		if (kr_cidr_list_parse(value, &nets, NULL) < 0)
			return -1;
		kr_assert(k->width == sizeof(nets));
		memcpy(dst, &nets, sizeof(nets));
		return 0;
	case KR_CONFIG_T_ADDRS:
		if (schema_parse_addrs(value, k->max, &addrs) < 0)
			return -1;
		kr_assert(k->width == sizeof(addrs) &&
			  k->max <= KR_ADMIN_PEERS_MAX);
		memcpy(dst, &addrs, sizeof(addrs));
		return 0;
	default:
		if (schema_parse_number(k->type, value, &n) < 0 || n < k->min ||
		    n > k->max)
			return -1;
		schema_store_uint(dst, k->width, n);
		return 0;
	}
}

int
kr_config_schema_store(const struct kr_config_key *k, char *base,
		       const char *value)
{
	char *dst = base + k->offset, *old;

	switch (k->type) {
	case KR_CONFIG_T_ADDR:
		if (kr_config_parse_addr(value, NULL, 0, NULL) < 0)
			return -1;
		break;
	case KR_CONFIG_T_STRING:
	case KR_CONFIG_T_TOKEN:
		if (!kr_config_schema_string_ok(k, value))
			return -1;
		break;
	default:
		return schema_store_scalar(k, dst, value);
	}
	kr_assert(k->width == sizeof(char *));
	memcpy(&old, dst, sizeof(old));
	kr_config_schema_free_string(k, old);
	old = kr_xstrdup(value);
	memcpy(dst, &old, sizeof(old));
	return 0;
}

/* Sizes and durations read back the way one would write them. */
static void
schema_format_number(enum kr_config_type type, uint64_t n, char *buf,
		     size_t size)
{
	static const struct {
		enum kr_config_type type;
		uint64_t unit;
		const char *suffix;
	} units[] = {
		{ KR_CONFIG_T_SIZE, 1ULL << 30, "G" },
		{ KR_CONFIG_T_SIZE, 1ULL << 20, "M" },
		{ KR_CONFIG_T_SIZE, 1ULL << 10, "K" },
		{ KR_CONFIG_T_DURATION, 60000, "m" },
		{ KR_CONFIG_T_DURATION, 1000, "s" },
		{ KR_CONFIG_T_DURATION, 1, "ms" },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (units[i].type == type && n != 0 && n % units[i].unit == 0) {
			snprintf(buf, size, "%llu%s",
				 (unsigned long long)(n / units[i].unit),
				 units[i].suffix);
			return;
		}
	}
	snprintf(buf, size, "%llu", (unsigned long long)n);
}

/* "a, b or c" */
static const char *
schema_expect_enum(const struct kr_config_key *k, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; k->names[i] != NULL && n < size; i++) {
		const char *sep = i == 0		    ? ""
				  : k->names[i + 1] == NULL ? " or "
							    : ", ";

		n += (size_t)snprintf(buf + n, size - n, "%s%s", sep,
				      k->names[i]);
	}
	return buf;
}

const char *
kr_config_schema_expect(const struct kr_config_key *k, char *buf, size_t size)
{
	static const char *const what[] = {
		[KR_CONFIG_T_UINT] = "a whole number",
		[KR_CONFIG_T_SIZE] = "a size in bytes (suffix K, M or G)",
		[KR_CONFIG_T_DURATION] = "a duration in ms (suffix ms, s or m)",
		[KR_CONFIG_T_BOOL] = "true, false, yes, no, on, off, 1 or 0",
		[KR_CONFIG_T_STRING] = "a string without control characters",
		[KR_CONFIG_T_TOKEN] = "characters A-Z a-z 0-9 _ -",
		[KR_CONFIG_T_ADDR] = "ip:port, [ipv6]:port or localhost:port",
		[KR_CONFIG_T_LEVEL] = "debug, info, warn or error",
	};
	char lo[32], hi[32];

	switch (k->type) {
	case KR_CONFIG_T_ENUM:
		return schema_expect_enum(k, buf, size);
	case KR_CONFIG_T_DOUBLE:
		snprintf(buf, size,
			 "a decimal number above %llu and at most %llu",
			 (unsigned long long)k->min,
			 (unsigned long long)k->max);
		return buf;
	case KR_CONFIG_T_BUCKETS:
		snprintf(buf, size, "LO-HI with 0 <= LO <= HI <= %llu",
			 (unsigned long long)k->max);
		return buf;
	case KR_CONFIG_T_NETS:
		snprintf(buf, size,
			 "addresses or networks (A.B.C.D/N, IPV6/N) and "
			 "'unix', at most %d, or 'none'",
			 KR_CIDR_LIST_MAX);
		return buf;
	case KR_CONFIG_T_ADDRS:
		snprintf(buf, size,
			 "ip:port, [ipv6]:port or localhost:port entries, "
			 "each once, at most %llu, or 'none'",
			 (unsigned long long)k->max);
		return buf;
	default:
		break;
	}
	if (k->type == KR_CONFIG_T_BOOL || k->type == KR_CONFIG_T_ADDR ||
	    k->type == KR_CONFIG_T_LEVEL ||
	    (k->min == 0 && k->max == UINT64_MAX)) {
		snprintf(buf, size, "%s", what[k->type]);
		return buf;
	}
	schema_format_number(k->type, k->min, lo, sizeof(lo));
	schema_format_number(k->type, k->max, hi, sizeof(hi));
	snprintf(buf, size, "%s%s%s..%s", what[k->type],
		 k->type >= KR_CONFIG_T_STRING ? ", length " : " in ", lo, hi);
	return buf;
}
