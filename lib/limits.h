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

/* Thread pools. */
#define KR_IO_THREADS_DEFAULT 4
#define KR_IO_THREADS_MAX 64
#define KR_POOL_QUEUE_DEFAULT 1024
#define KR_POOL_QUEUE_MAX 65536
#define KR_CPU_INLINE_MAX_DEFAULT 256 /* bytes, SPEC.md §2 */

/* Logging: one event is one line of at most this many bytes. */
#define KR_LOG_LINE_MAX 2048

/* Metrics registry. */
#define KR_METRICS_MAX 512
#define KR_METRICS_NAME_MAX 96
#define KR_METRICS_LABELS_MAX 96
#define KR_METRICS_HELP_MAX 160

/* Admin HTTP. */
#define KR_ADMIN_BODY_MAX (64 << 10)
#define KR_ADMIN_HEADERS_MAX (16 << 10)
#define KR_ADMIN_TIMEOUT_S 10

/* Config. */
#define KR_CONFIG_SHARDS_MAX 1024
#define KR_CONFIG_REPLICAS_MAX 16
#define KR_CONFIG_VALUE_MAX 1024

/* Metrics slots: every worker twice over (a replacement starts before the
 * old one has drained) plus the master. Bounds the shared region. */
#define KR_METRICS_SLOTS_MAX (2 * KR_WORKERS_MAX + 1)

#endif
