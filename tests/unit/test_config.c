/* cmocka tests for lib/config: schema types and ranges, error
 * messages naming file:line and key, shards with their bucket ranges
 * and pool overrides, the example file and kr_config_write_key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/limits.h"

#include "conf_env.h"

#define TMP_TEMPLATE "/tmp/kr_test_config.XXXXXX"

struct tmpfile {
	char path[sizeof(TMP_TEMPLATE)];
};

static void
tmp_create(struct tmpfile *t, const char *content, size_t len)
{
	conf_env_write(t->path, sizeof(t->path), TMP_TEMPLATE, content, len);
}

static void
tmp_remove(struct tmpfile *t)
{
	assert_int_equal(unlink(t->path), 0);
}

/* Loads content from a temp file; the path stays in t for messages. */
static int
load_string(struct tmpfile *t, const char *content, struct kr_config **cfg,
	    struct kr_err *err)
{
	int ret;

	tmp_create(t, content, strlen(content));
	kr_err_clear(err);
	ret = kr_config_load(t->path, cfg, err);
	tmp_remove(t);
	if (ret == 0)
		assert_non_null(*cfg);
	else
		assert_null(*cfg);
	return ret;
}

/* Asserts the error message contains "<path>:<line>: " and want. */
static void
assert_error_at(const struct tmpfile *t, const struct kr_err *err,
		unsigned line, const char *want)
{
	char prefix[128];

	snprintf(prefix, sizeof(prefix), "%s:%u: ", t->path, line);
	if (strncmp(err->msg, prefix, strlen(prefix)) != 0 ||
	    strstr(err->msg, want) == NULL)
		fail_msg("message '%s' lacks '%s' or '%s'", err->msg, prefix,
			 want);
}

static char *
repeat_char(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static char *
read_file(const char *path)
{
	char *buf = malloc(65536);
	FILE *fp = fopen(path, "r");
	size_t n;

	assert_non_null(buf);
	assert_non_null(fp);
	n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* The defaults the schema once spelt as text ("50M", "5m"), now
 * lib/limits.h literals: the same values, named once. */
static void
assert_text_defaults(const struct kr_config *cfg)
{
	assert_true(cfg->workers.max_rss == 512ULL << 20);
	assert_true(cfg->lmtp.message_max == 50ULL << 20);
	assert_true(cfg->lmtp.message_max == KR_LMTP_MESSAGE_MAX_DEFAULT);
	assert_true(cfg->lmtp.data_line_max == KR_LMTP_DATA_LINE_MAX_DEFAULT);
	assert_int_equal(cfg->lmtp.rcpt_max, KR_LMTP_RCPT_MAX_DEFAULT);
	assert_int_equal(cfg->lmtp.header_max, KR_LMTP_HEADER_MAX_DEFAULT);
	assert_int_equal(cfg->lmtp.max_sessions, 10000);
	assert_int_equal(cfg->lmtp.idle_timeout_ms, 5 * 60000);
	assert_int_equal(cfg->lmtp.session_timeout_ms, 30 * 60000);
	assert_int_equal(cfg->lmtp.delivery_timeout_ms, 60000);
	assert_true(cfg->jsonrpc.body_max == 72ULL << 20);
	assert_true(cfg->jsonrpc.body_max == KR_JSONRPC_BODY_MAX_DEFAULT);
	assert_true(cfg->jsonrpc.header_max == 16 << 10);
	assert_true(cfg->jsonrpc.memory_max == 256ULL << 20);
	assert_int_equal(cfg->jsonrpc.max_connections, 10000);
	assert_int_equal(cfg->jsonrpc.idle_timeout_ms, 60000);
	assert_int_equal(cfg->jsonrpc.request_timeout_ms, 30000);
	assert_int_equal(cfg->jsonrpc.batch_max, KR_JSONRPC_BATCH_MAX_DEFAULT);
	assert_int_equal(cfg->jsonrpc.depth_max, KR_JSONRPC_DEPTH_MAX_DEFAULT);
	assert_true(cfg->auth.session_ttl_ms == 720ULL * 60000);
	assert_int_equal(cfg->auth.user_burst, 10);
	assert_int_equal(cfg->auth.user_per_minute, 6);
	assert_int_equal(cfg->auth.addr_burst, 50);
	assert_int_equal(cfg->auth.addr_per_minute, 30);
	assert_int_equal(cfg->auth.limiter_keys, 100000);
	assert_true(cfg->cache.max_bytes == 64ULL << 20);
	assert_int_equal(cfg->cache.ttl_ms, 1000);
}

static void
test_config_defaults(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;

	(void)state;
	assert_int_equal(load_string(&t, "", &cfg, &err), 0);
	assert_string_equal(cfg->path, t.path);
	assert_int_equal(cfg->workers.count, 0);
	assert_int_equal(cfg->workers.max_requests, 0);
	assert_true(cfg->workers.max_rss == KR_MAX_RSS_DEFAULT);
	assert_int_equal(cfg->workers.restart_intensity,
			 KR_RESTART_INTENSITY_DEFAULT);
	assert_int_equal(cfg->workers.restart_period_ms,
			 KR_RESTART_PERIOD_MS_DEFAULT);
	assert_int_equal(cfg->workers.drain_timeout_ms,
			 KR_DRAIN_TIMEOUT_MS_DEFAULT);
	assert_int_equal(cfg->workers.io_threads, KR_IO_THREADS_DEFAULT);
	assert_int_equal(cfg->workers.io_queue, KR_POOL_QUEUE_DEFAULT);
	assert_int_equal(cfg->workers.cpu_queue, KR_POOL_QUEUE_DEFAULT);
	assert_int_equal(cfg->workers.cpu_inline_max,
			 KR_CPU_INLINE_MAX_DEFAULT);
	assert_string_equal(cfg->admin.listen, "127.0.0.1:8081");
	assert_null(cfg->admin.token);
	assert_false(cfg->admin.metrics_open);
	assert_int_equal(cfg->admin.max_connections,
			 KR_ADMIN_MAX_CONNECTIONS_DEFAULT);
	assert_int_equal(cfg->admin.idle_timeout_ms,
			 KR_ADMIN_IDLE_TIMEOUT_MS_DEFAULT);
	assert_int_equal(cfg->admin.read_timeout_ms,
			 KR_ADMIN_READ_TIMEOUT_MS_DEFAULT);
	assert_int_equal(cfg->admin.write_timeout_ms,
			 KR_ADMIN_WRITE_TIMEOUT_MS_DEFAULT);
	assert_int_equal(cfg->log.level, KR_LOG_INFO);
	assert_int_equal(cfg->n_shards, 0);
	assert_null(cfg->shards);
	assert_int_equal(cfg->storage.connect_timeout_ms, 2000);
	assert_int_equal(cfg->storage.query_timeout_ms, 5000);
	assert_int_equal(cfg->storage.pool, KR_CONFIG_POOL_WATERMARK);
	assert_int_equal(cfg->storage.pool_low, 2);
	assert_int_equal(cfg->storage.pool_high, 8);
	assert_int_equal(cfg->storage.pool_queue, 256);
	assert_int_equal(cfg->storage.pool_queue_timeout_ms, 1000);
	assert_int_equal(cfg->storage.circuit_failures, 3);
	assert_int_equal(cfg->storage.circuit_probe_ms, 1000);
	assert_int_equal(cfg->storage.balancer, KR_CONFIG_BALANCER_HEAP);
	assert_true(cfg->storage.aperture_low == 0.5);
	assert_true(cfg->storage.aperture_high == 2.0);
	assert_int_equal(cfg->storage.read_your_writes_ms, 5000);
	assert_int_equal(cfg->storage.group_commit_max, 64);
	assert_int_equal(cfg->storage.group_commit_inflight, 2);
	assert_int_equal(cfg->storage.group_commit_wait_us, 2000);
	assert_int_equal(cfg->storage.census_interval_ms, 15000);
	assert_int_equal(cfg->storage.max_shards, 64);
	assert_text_defaults(cfg);
	kr_config_destroy(&cfg);
	assert_null(cfg);
	kr_config_destroy(&cfg);
}

/* The example documents every key with its default: it must load and
 * give exactly what an empty file gives. */
static void
test_config_example_matches_defaults(void **state)
{
	struct kr_config *ex = NULL, *def = NULL;
	struct kr_err err;
	struct tmpfile t;

	(void)state;
	if (kr_config_load("ops/kurier.conf.example", &ex, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(load_string(&t, "", &def, &err), 0);
	assert_int_equal(ex->workers.count, def->workers.count);
	assert_true(ex->workers.max_requests == def->workers.max_requests);
	assert_true(ex->workers.max_rss == def->workers.max_rss);
	assert_int_equal(ex->workers.restart_intensity,
			 def->workers.restart_intensity);
	assert_int_equal(ex->workers.restart_period_ms,
			 def->workers.restart_period_ms);
	assert_int_equal(ex->workers.drain_timeout_ms,
			 def->workers.drain_timeout_ms);
	assert_int_equal(ex->workers.io_threads, def->workers.io_threads);
	assert_int_equal(ex->workers.io_queue, def->workers.io_queue);
	assert_int_equal(ex->workers.cpu_queue, def->workers.cpu_queue);
	assert_int_equal(ex->workers.cpu_inline_max,
			 def->workers.cpu_inline_max);
	assert_string_equal(ex->admin.listen, def->admin.listen);
	assert_null(ex->admin.token);
	assert_int_equal(ex->admin.metrics_open, def->admin.metrics_open);
	assert_int_equal(ex->admin.max_connections, def->admin.max_connections);
	assert_int_equal(ex->admin.idle_timeout_ms, def->admin.idle_timeout_ms);
	assert_int_equal(ex->admin.read_timeout_ms, def->admin.read_timeout_ms);
	assert_int_equal(ex->admin.write_timeout_ms,
			 def->admin.write_timeout_ms);
	assert_int_equal(ex->log.level, def->log.level);
	assert_int_equal(ex->antispam.enabled, def->antispam.enabled);
	assert_string_equal(ex->antispam.rules, def->antispam.rules);
	assert_true(ex->antispam.spam_score == def->antispam.spam_score);
	assert_true(ex->antispam.reject_score == def->antispam.reject_score);
	assert_int_equal(ex->antispam.rate_ip, def->antispam.rate_ip);
	assert_int_equal(ex->antispam.rate_sender, def->antispam.rate_sender);
	assert_int_equal(ex->antispam.rate_window_ms,
			 def->antispam.rate_window_ms);
	assert_int_equal(ex->antispam.bulk_rcpts, def->antispam.bulk_rcpts);
	assert_int_equal(ex->antispam.bulk_window_ms,
			 def->antispam.bulk_window_ms);
	assert_true(ex->antispam.bulk_score == def->antispam.bulk_score);
	assert_int_equal(ex->antispam.bayes_tokens_max,
			 def->antispam.bayes_tokens_max);
	assert_int_equal(ex->antispam.check_timeout_ms,
			 def->antispam.check_timeout_ms);
	assert_int_equal(ex->n_shards, def->n_shards);
	assert_string_equal(ex->server.user, def->server.user);
	assert_int_equal(ex->server.nofile, def->server.nofile);
	assert_int_equal(ex->workers.restart_backoff_max_ms,
			 def->workers.restart_backoff_max_ms);
	assert_memory_equal(&ex->lmtp.allow, &def->lmtp.allow,
			    sizeof(ex->lmtp.allow));
	assert_int_equal(ex->lmtp.write_timeout_ms, def->lmtp.write_timeout_ms);
	assert_int_equal(ex->jsonrpc.read_timeout_ms,
			 def->jsonrpc.read_timeout_ms);
	assert_int_equal(ex->jsonrpc.write_timeout_ms,
			 def->jsonrpc.write_timeout_ms);
	assert_int_equal(ex->jsonrpc.element_max, def->jsonrpc.element_max);
	assert_true(ex->jsonrpc.memory_max == def->jsonrpc.memory_max);
	assert_memory_equal(&ex->auth.trusted, &def->auth.trusted,
			    sizeof(ex->auth.trusted));
	assert_int_equal(ex->auth.login_concurrency,
			 def->auth.login_concurrency);
	assert_true(def->lmtp.allow.unix_ok && def->lmtp.allow.n == 2);
	assert_memory_equal(&ex->admin.peers, &def->admin.peers,
			    sizeof(ex->admin.peers));
	assert_int_equal(def->admin.peers.n, 0);
	/* Every storage field is a plain value: compare them at once. */
	assert_memory_equal(&ex->storage, &def->storage, sizeof(ex->storage));
	kr_config_destroy(&ex);
	kr_config_destroy(&def);
}

#define WF(f)                                  \
	offsetof(struct kr_config, workers.f), \
		sizeof(((struct kr_config *)0)->workers.f)
#define AF(f)                                \
	offsetof(struct kr_config, admin.f), \
		sizeof(((struct kr_config *)0)->admin.f)
#define LF(f)                              \
	offsetof(struct kr_config, log.f), \
		sizeof(((struct kr_config *)0)->log.f)
#define SF(f)                                  \
	offsetof(struct kr_config, storage.f), \
		sizeof(((struct kr_config *)0)->storage.f)

struct value_case {
	const char *section, *key, *value;
	bool ok;
	size_t off, width; /* width 0: a string field equal to value */
	uint64_t want;
};

static const struct value_case value_cases[] = {
	{ "workers", "count", "0", true, WF(count), 0 },
	{ "workers", "count", "256", true, WF(count), 256 },
	{ "workers", "count", "257", false, WF(count), 0 },
	{ "workers", "count", "-1", false, WF(count), 0 },
	{ "workers", "count", "", false, WF(count), 0 },
	{ "workers", "count", "1x", false, WF(count), 0 },
	{ "workers", "count", "0x10", false, WF(count), 0 },
	{ "workers", "count", "4294967297", false, WF(count), 0 },
	{ "workers", "max_requests", "18446744073709551615", true,
	  WF(max_requests), UINT64_MAX },
	{ "workers", "max_requests", "18446744073709551616", false,
	  WF(max_requests), 0 },
	{ "workers", "max_rss", "0", true, WF(max_rss), 0 },
	{ "workers", "max_rss", "1k", true, WF(max_rss), 1024 },
	{ "workers", "max_rss", "3M", true, WF(max_rss), 3 << 20 },
	{ "workers", "max_rss", "2g", true, WF(max_rss), 2ULL << 30 },
	{ "workers", "max_rss", "17179869183G", true, WF(max_rss),
	  17179869183ULL << 30 },
	{ "workers", "max_rss", "17179869184G", false, WF(max_rss), 0 },
	{ "workers", "max_rss", "1T", false, WF(max_rss), 0 },
	{ "workers", "max_rss", "1MB", false, WF(max_rss), 0 },
	{ "workers", "max_rss", "M", false, WF(max_rss), 0 },
	{ "workers", "max_rss", "1 M", false, WF(max_rss), 0 },
	{ "workers", "restart_intensity", "1", true, WF(restart_intensity), 1 },
	{ "workers", "restart_intensity", "1000", true, WF(restart_intensity),
	  1000 },
	{ "workers", "restart_intensity", "0", false, WF(restart_intensity),
	  0 },
	{ "workers", "restart_intensity", "1001", false, WF(restart_intensity),
	  0 },
	{ "workers", "restart_period", "100", true, WF(restart_period_ms),
	  100 },
	{ "workers", "restart_period", "100ms", true, WF(restart_period_ms),
	  100 },
	{ "workers", "restart_period", "99", false, WF(restart_period_ms), 0 },
	{ "workers", "restart_period", "2s", true, WF(restart_period_ms),
	  2000 },
	{ "workers", "restart_period", "60m", true, WF(restart_period_ms),
	  3600000 },
	{ "workers", "restart_period", "3600001", false, WF(restart_period_ms),
	  0 },
	{ "workers", "restart_period", "61m", false, WF(restart_period_ms), 0 },
	{ "workers", "restart_period", "1h", false, WF(restart_period_ms), 0 },
	{ "workers", "restart_period", "s", false, WF(restart_period_ms), 0 },
	{ "workers", "restart_period", "10S", false, WF(restart_period_ms), 0 },
	{ "workers", "drain_timeout", "10m", true, WF(drain_timeout_ms),
	  600000 },
	{ "workers", "drain_timeout", "600001", false, WF(drain_timeout_ms),
	  0 },
	{ "workers", "drain_timeout", "99ms", false, WF(drain_timeout_ms), 0 },
	{ "workers", "io_threads", "1", true, WF(io_threads), 1 },
	{ "workers", "io_threads", "64", true, WF(io_threads), 64 },
	{ "workers", "io_threads", "0", false, WF(io_threads), 0 },
	{ "workers", "io_threads", "65", false, WF(io_threads), 0 },
	{ "workers", "io_queue", "65536", true, WF(io_queue), 65536 },
	{ "workers", "io_queue", "65537", false, WF(io_queue), 0 },
	{ "workers", "io_queue", "0", false, WF(io_queue), 0 },
	{ "workers", "cpu_queue", "1", true, WF(cpu_queue), 1 },
	{ "workers", "cpu_queue", "65537", false, WF(cpu_queue), 0 },
	{ "workers", "cpu_inline_max", "0", true, WF(cpu_inline_max), 0 },
	{ "workers", "cpu_inline_max", "1M", true, WF(cpu_inline_max),
	  1 << 20 },
	{ "workers", "cpu_inline_max", "1024K", true, WF(cpu_inline_max),
	  1 << 20 },
	{ "workers", "cpu_inline_max", "1048577", false, WF(cpu_inline_max),
	  0 },
	{ "admin", "metrics_open", "true", true, AF(metrics_open), 1 },
	{ "admin", "metrics_open", "yes", true, AF(metrics_open), 1 },
	{ "admin", "metrics_open", "on", true, AF(metrics_open), 1 },
	{ "admin", "metrics_open", "1", true, AF(metrics_open), 1 },
	{ "admin", "metrics_open", "TRUE", true, AF(metrics_open), 1 },
	{ "admin", "metrics_open", "false", true, AF(metrics_open), 0 },
	{ "admin", "metrics_open", "no", true, AF(metrics_open), 0 },
	{ "admin", "metrics_open", "off", true, AF(metrics_open), 0 },
	{ "admin", "metrics_open", "0", true, AF(metrics_open), 0 },
	{ "admin", "metrics_open", "2", false, AF(metrics_open), 0 },
	{ "admin", "metrics_open", "truee", false, AF(metrics_open), 0 },
	{ "admin", "max_connections", "1", true, AF(max_connections), 1 },
	{ "admin", "max_connections", "10000", true, AF(max_connections),
	  10000 },
	{ "admin", "max_connections", "0", false, AF(max_connections), 0 },
	{ "admin", "max_connections", "10001", false, AF(max_connections), 0 },
	{ "admin", "idle_timeout", "1s", true, AF(idle_timeout_ms), 1000 },
	{ "admin", "idle_timeout", "60m", true, AF(idle_timeout_ms), 3600000 },
	{ "admin", "idle_timeout", "999ms", false, AF(idle_timeout_ms), 0 },
	{ "admin", "idle_timeout", "3600001", false, AF(idle_timeout_ms), 0 },
	{ "admin", "read_timeout", "100ms", true, AF(read_timeout_ms), 100 },
	{ "admin", "read_timeout", "3s", true, AF(read_timeout_ms), 3000 },
	{ "admin", "read_timeout", "99", false, AF(read_timeout_ms), 0 },
	{ "admin", "read_timeout", "3600001", false, AF(read_timeout_ms), 0 },
	{ "admin", "write_timeout", "100", true, AF(write_timeout_ms), 100 },
	{ "admin", "write_timeout", "60m", true, AF(write_timeout_ms),
	  3600000 },
	{ "admin", "write_timeout", "99ms", false, AF(write_timeout_ms), 0 },
	{ "admin", "write_timeout", "61m", false, AF(write_timeout_ms), 0 },
	{ "log", "level", "debug", true, LF(level), KR_LOG_DEBUG },
	{ "log", "level", "info", true, LF(level), KR_LOG_INFO },
	{ "log", "level", "warn", true, LF(level), KR_LOG_WARN },
	{ "log", "level", "error", true, LF(level), KR_LOG_ERROR },
	{ "log", "level", "verbose", false, LF(level), 0 },
	{ "admin", "listen", "127.0.0.1:8081", true, 0, 0, 0 },
	{ "admin", "listen", "[::1]:9000", true, 0, 0, 0 },
	{ "admin", "listen", "localhost:1", true, 0, 0, 0 },
	{ "admin", "listen", "0.0.0.0:65535", true, 0, 0, 0 },
	{ "admin", "listen", "127.0.0.1:0", false, 0, 0, 0 },
	{ "admin", "listen", "127.0.0.1:65536", false, 0, 0, 0 },
	{ "admin", "listen", "example.com:80", false, 0, 0, 0 },
	{ "admin", "listen", "::1:8081", false, 0, 0, 0 },
	{ "admin", "listen", "127.0.0.1", false, 0, 0, 0 },
	{ "admin", "token", "abcdefghijklmnopqrstuvwxyz012345", true, 0, 0, 0 },
	{ "admin", "token", "A-_Z0123456789abcdefghijklmnopq", false, 0, 0, 0 },
	{ "admin", "token", "abcdefghijklmnopqrstuvwxyz01234!", false, 0, 0,
	  0 },
	{ "storage", "connect_timeout", "100ms", true, SF(connect_timeout_ms),
	  100 },
	{ "storage", "connect_timeout", "99ms", false, SF(connect_timeout_ms),
	  0 },
	{ "storage", "connect_timeout", "60s", true, SF(connect_timeout_ms),
	  60000 },
	{ "storage", "connect_timeout", "60001", false, SF(connect_timeout_ms),
	  0 },
	{ "storage", "query_timeout", "100", true, SF(query_timeout_ms), 100 },
	{ "storage", "query_timeout", "99", false, SF(query_timeout_ms), 0 },
	{ "storage", "query_timeout", "10m", true, SF(query_timeout_ms),
	  600000 },
	{ "storage", "query_timeout", "600001ms", false, SF(query_timeout_ms),
	  0 },
	{ "storage", "pool", "watermark", true, SF(pool),
	  KR_CONFIG_POOL_WATERMARK },
	{ "storage", "pool", "singleton", true, SF(pool),
	  KR_CONFIG_POOL_SINGLETON },
	{ "storage", "pool", "Singleton", false, SF(pool), 0 },
	{ "storage", "pool", "", false, SF(pool), 0 },
	{ "storage", "pool", "1", false, SF(pool), 0 },
	{ "storage", "pool_low", "0", true, SF(pool_low), 0 },
	{ "storage", "pool_low", "8", true, SF(pool_low), 8 },
	{ "storage", "pool_low", "257", false, SF(pool_low), 0 },
	{ "storage", "pool_high", "0", false, SF(pool_high), 0 },
	{ "storage", "pool_high", "1024", true, SF(pool_high), 1024 },
	{ "storage", "pool_high", "1025", false, SF(pool_high), 0 },
	{ "storage", "pool_queue", "0", true, SF(pool_queue), 0 },
	{ "storage", "pool_queue", "65536", true, SF(pool_queue), 65536 },
	{ "storage", "pool_queue", "65537", false, SF(pool_queue), 0 },
	{ "storage", "pool_queue_timeout", "1ms", true,
	  SF(pool_queue_timeout_ms), 1 },
	{ "storage", "pool_queue_timeout", "0", false,
	  SF(pool_queue_timeout_ms), 0 },
	{ "storage", "pool_queue_timeout", "1m", true,
	  SF(pool_queue_timeout_ms), 60000 },
	{ "storage", "pool_queue_timeout", "60001", false,
	  SF(pool_queue_timeout_ms), 0 },
	{ "storage", "circuit_failures", "1", true, SF(circuit_failures), 1 },
	{ "storage", "circuit_failures", "0", false, SF(circuit_failures), 0 },
	{ "storage", "circuit_failures", "1000", true, SF(circuit_failures),
	  1000 },
	{ "storage", "circuit_failures", "1001", false, SF(circuit_failures),
	  0 },
	{ "storage", "circuit_probe", "100ms", true, SF(circuit_probe_ms),
	  100 },
	{ "storage", "circuit_probe", "99ms", false, SF(circuit_probe_ms), 0 },
	{ "storage", "circuit_probe", "60s", true, SF(circuit_probe_ms),
	  60000 },
	{ "storage", "circuit_probe", "60001ms", false, SF(circuit_probe_ms),
	  0 },
	{ "storage", "balancer", "heap", true, SF(balancer),
	  KR_CONFIG_BALANCER_HEAP },
	{ "storage", "balancer", "aperture", true, SF(balancer),
	  KR_CONFIG_BALANCER_APERTURE },
	{ "storage", "balancer", "round-robin", false, SF(balancer), 0 },
	{ "storage", "read_your_writes", "0", true, SF(read_your_writes_ms),
	  0 },
	{ "storage", "read_your_writes", "10m", true, SF(read_your_writes_ms),
	  600000 },
	{ "storage", "read_your_writes", "600001", false,
	  SF(read_your_writes_ms), 0 },
	{ "storage", "group_commit_max", "1", true, SF(group_commit_max), 1 },
	{ "storage", "group_commit_max", "0", false, SF(group_commit_max), 0 },
	{ "storage", "group_commit_max", "1024", true, SF(group_commit_max),
	  1024 },
	{ "storage", "group_commit_max", "1025", false, SF(group_commit_max),
	  0 },
	{ "storage", "group_commit_inflight", "1", true,
	  SF(group_commit_inflight), 1 },
	{ "storage", "group_commit_inflight", "0", false,
	  SF(group_commit_inflight), 0 },
	{ "storage", "group_commit_inflight", "64", true,
	  SF(group_commit_inflight), 64 },
	{ "storage", "group_commit_inflight", "65", false,
	  SF(group_commit_inflight), 0 },
	{ "storage", "group_commit_wait", "0", true, SF(group_commit_wait_us),
	  0 },
	{ "storage", "group_commit_wait", "100000", true,
	  SF(group_commit_wait_us), 100000 },
	{ "storage", "group_commit_wait", "100001", false,
	  SF(group_commit_wait_us), 0 },
	{ "storage", "max_shards", "1", true, SF(max_shards), 1 },
	{ "storage", "max_shards", "0", false, SF(max_shards), 0 },
	{ "storage", "max_shards", "128", true, SF(max_shards), 128 },
	{ "storage", "max_shards", "129", false, SF(max_shards), 0 },
	{ "storage", "census_interval", "1s", true, SF(census_interval_ms),
	  1000 },
	{ "storage", "census_interval", "999", false, SF(census_interval_ms),
	  0 },
	{ "storage", "census_interval", "60m", true, SF(census_interval_ms),
	  3600000 },
	{ "storage", "census_interval", "61m", false, SF(census_interval_ms),
	  0 },
};

static uint64_t
read_field(const struct kr_config *cfg, size_t off, size_t width)
{
	const char *p = (const char *)cfg + off;
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;

	switch (width) {
	case 1:
		memcpy(&u8, p, 1);
		return u8;
	case 4:
		memcpy(&u32, p, 4);
		return u32;
	case 8:
		memcpy(&u64, p, 8);
		return u64;
	default:
		fail_msg("bad width %zu", width);
		return 0;
	}
}

static const char *
string_field(const struct kr_config *cfg, const char *key)
{
	return strcmp(key, "listen") == 0 ? cfg->admin.listen
					  : cfg->admin.token;
}

static void
check_value_case(const struct value_case *c)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;
	char content[256];
	int ret;

	snprintf(content, sizeof(content), "# c\n[%s]\n%s = %s\n", c->section,
		 c->key, c->value);
	ret = load_string(&t, content, &cfg, &err);
	if (ret != (c->ok ? 0 : -1))
		fail_msg("[%s] %s = '%s': got %d (%s)", c->section, c->key,
			 c->value, ret, err.msg);
	if (!c->ok) {
		char want[128];

		snprintf(want, sizeof(want), "[%s] %s: bad value ", c->section,
			 c->key);
		assert_error_at(&t, &err, 3, want);
		assert_int_equal(err.kind, KR_ERR_PERMANENT);
		assert_non_null(strstr(err.msg, "(expected "));
		/* A bad token is never echoed: it may be a near miss. */
		if (strcmp(c->key, "token") == 0)
			assert_null(strstr(err.msg, c->value));
		return;
	}
	if (c->width == 0)
		assert_string_equal(string_field(cfg, c->key), c->value);
	else if (read_field(cfg, c->off, c->width) != c->want)
		fail_msg("[%s] %s = '%s': got %llu", c->section, c->key,
			 c->value,
			 (unsigned long long)read_field(cfg, c->off, c->width));
	kr_config_destroy(&cfg);
}

static void
test_config_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]);
	     i++)
		check_value_case(&value_cases[i]);
}

/* Token lengths and KR_CONFIG_VALUE_MAX: at the limit passes, one
 * over fails (values longer than inih's 200-byte line buffer too). */
static void
test_config_value_length(void **state)
{
	static const struct {
		const char *key;
		size_t len;
		bool ok;
		const char *err;
	} cases[] = {
		{ "token", 31, false, "[admin] token: bad value" },
		{ "token", 32, true, NULL },
		{ "token", 256, true, NULL },
		{ "token", 257, false, "[admin] token: bad value" },
		{ "listen", KR_CONFIG_VALUE_MAX + 1, false,
		  "[admin] listen: value too long" },
		{ "listen", 1100, false, "[admin] listen: value too long" },
		{ "listen", 5000, false, "line too long" },
	};
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *v = repeat_char('a', cases[i].len);
		char *content = malloc(cases[i].len + 64);

		assert_non_null(content);
		snprintf(content, cases[i].len + 64, "[admin]\n%s = %s\n",
			 cases[i].key, v);
		assert_int_equal(load_string(&t, content, &cfg, &err),
				 cases[i].ok ? 0 : -1);
		if (cases[i].ok) {
			assert_string_equal(cfg->admin.token, v);
			kr_config_destroy(&cfg);
		} else {
			assert_error_at(&t, &err, 2, cases[i].err);
		}
		free(content);
		free(v);
	}
}

/* A primary of exactly KR_CONFIG_VALUE_MAX bytes, with surrounding
 * blanks and an inline comment, reads the same as a short one. */
static void
test_config_long_value_at_limit(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;
	char *v = repeat_char('h', KR_CONFIG_VALUE_MAX);
	char *content = malloc(KR_CONFIG_VALUE_MAX + 128);

	(void)state;
	assert_non_null(content);
	v[11] = ';'; /* not a comment: no blank before it */
	snprintf(content, KR_CONFIG_VALUE_MAX + 128,
		 "[shard.0]\n  primary =  %s   ; comment\nreplica:r1\n", v);
	assert_int_equal(load_string(&t, content, &cfg, &err), 0);
	assert_int_equal(cfg->n_shards, 1);
	assert_string_equal(cfg->shards[0].primary, v);
	assert_int_equal(cfg->shards[0].n_replicas, 1);
	assert_string_equal(cfg->shards[0].replicas[0], "r1");
	kr_config_destroy(&cfg);
	free(content);
	free(v);
}

struct error_case {
	const char *content;
	unsigned line;
	const char *want;
};

static const struct error_case error_cases[] = {
	{ "[workers]\ncount = 1\n[bogus]\nx = 1\n", 3,
	  "unknown section [bogus]" },
	{ "[workers]\n[bogus]\n[admin]\n", 2, "unknown section [bogus]" },
	{ "[workers]\ncount = 1\nbogus = 2\n", 3,
	  "[workers] bogus: unknown key" },
	{ "[log]\nlevel = info\n; c\n\nlevel = debug\n", 5,
	  "[log] level: duplicate key (first set on line 2)" },
	{ "[workers]\ncount = 1\n[admin]\n[workers]\ncount = 2\n", 5,
	  "[workers] count: duplicate key" },
	{ "[workers]\r\n# c\r\n\r\nio_threads = many\r\n", 4,
	  "[workers] io_threads: bad value 'many' (expected a whole number "
	  "in 1..64)" },
	{ "[workers]\nrestart_period = 1x\n", 2,
	  "[workers] restart_period: bad value '1x' (expected a duration in "
	  "ms (suffix ms, s or m) in 100ms..60m)" },
	{ "[workers]\nmax_rss = 1x\n", 2,
	  "[workers] max_rss: bad value '1x' (expected a size in bytes "
	  "(suffix K, M or G))" },
	{ "[workers]\ncount = \x01'\\x\n", 2, "bad value '\\x01\\x27\\x5cx'" },
	{ "[lmtp]\nallow = 10.0.0.1/8\n", 2,
	  "[lmtp] allow: bad value '10.0.0.1/8' (expected addresses or "
	  "networks (A.B.C.D/N, IPV6/N) and 'unix', at most 32, or 'none')" },
	{ "[auth]\ntrusted = example.org\n", 2,
	  "[auth] trusted: bad value 'example.org'" },
	{ "[admin]\n# p\npeers = 127.0.0.1:8081 mx2:8081\n", 3,
	  "[admin] peers: bad value '127.0.0.1:8081 mx2:8081' (expected "
	  "ip:port, [ipv6]:port or localhost:port entries, each once, at "
	  "most 16, or 'none')" },
	{ "[workers\ncount = 1\n", 1, "syntax error" },
	{ "[workers]\njunk\ncount = 99999\n", 2, "syntax error" },
	{ "count = 1\n", 1, "count: key outside any [section]" },
	{ "[workers]\ncount = 1\n\xef\xbb\xbf[admin]\n", 3,
	  "syntax error" }, /* a BOM only counts on line 1 */
	{ "[workers]\nco\x01nt = 1\n", 2, "[workers] co\\x01nt: unknown key" },
	{ "[workers]\ncount = 1\0\n", 2, "NUL byte" },
};

static void
test_config_errors_name_line(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;

	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
	     i++) {
		const struct error_case *c = &error_cases[i];
		size_t len = strlen(c->content);

		/* One case carries a NUL byte inside its line. */
		if (strcmp(c->want, "NUL byte") == 0)
			len += 2;
		tmp_create(&t, c->content, len);
		assert_int_equal(kr_config_load(t.path, &cfg, &err), -1);
		assert_null(cfg);
		tmp_remove(&t);
		assert_error_at(&t, &err, c->line, c->want);
	}
}

/* [admin] peers: a list of ADDRs, in file order; at the limit passes,
 * one over fails; a bad entry anywhere fails the key. */
struct peers_case {
	const char *value;
	int n; /* -1: refused */
	const char *first, *last;
};

static const struct peers_case peers_cases[] = {
	{ "none", 0, NULL, NULL },
	{ "", 0, NULL, NULL },
	{ " none ", 0, NULL, NULL },
	{ "10.0.0.2:8081", 1, "10.0.0.2:8081", "10.0.0.2:8081" },
	{ "10.0.0.2:8081 [::1]:9000,localhost:1", 3, "10.0.0.2:8081",
	  "localhost:1" },
	{ " ,10.0.0.2:8081,, 10.0.0.3:8081\t", 2, "10.0.0.2:8081",
	  "10.0.0.3:8081" },
	{ "[fe80:1:2:3:4:5:6:7]:65535", 1, "[fe80:1:2:3:4:5:6:7]:65535",
	  "[fe80:1:2:3:4:5:6:7]:65535" },
	{ "none 10.0.0.2:8081", -1, NULL, NULL },
	{ "10.0.0.2:8081 none", -1, NULL, NULL },
	{ "10.0.0.2:8081 10.0.0.2:8081", -1, NULL, NULL },
	{ "10.0.0.2", -1, NULL, NULL },
	{ "10.0.0.2:0", -1, NULL, NULL },
	{ "10.0.0.2:65536", -1, NULL, NULL },
	{ "::1:8081", -1, NULL, NULL },
	{ "mx2.example.org:8081", -1, NULL, NULL },
	{ "10.0.0.2:8081;", -1, NULL, NULL },
};

static void
check_peers(const char *value, int n, const char *first, const char *last)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;
	char content[1200];
	int ret;

	snprintf(content, sizeof(content), "[admin]\npeers = %s\n", value);
	ret = load_string(&t, content, &cfg, &err);
	if (ret != (n < 0 ? -1 : 0))
		fail_msg("peers = '%s': got %d (%s)", value, ret, err.msg);
	if (n < 0) {
		assert_error_at(&t, &err, 2, "[admin] peers: bad value ");
		return;
	}
	assert_int_equal(cfg->admin.peers.n, n);
	if (n > 0) {
		assert_string_equal(cfg->admin.peers.addr[0], first);
		assert_string_equal(cfg->admin.peers.addr[n - 1], last);
	}
	kr_config_destroy(&cfg);
}

static void
test_config_admin_peers(void **state)
{
	char list[1100], first[32], last[32];
	size_t len = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(peers_cases) / sizeof(peers_cases[0]);
	     i++)
		check_peers(peers_cases[i].value, peers_cases[i].n,
			    peers_cases[i].first, peers_cases[i].last);
	/* KR_ADMIN_PEERS_MAX entries pass, one more fails. */
	for (unsigned i = 0; i <= KR_ADMIN_PEERS_MAX; i++) {
		if (i == KR_ADMIN_PEERS_MAX)
			check_peers(list, KR_ADMIN_PEERS_MAX, first, last);
		len += (size_t)snprintf(list + len, sizeof(list) - len,
					"%s[::ffff:10.0.0.%u]:%u", i ? " " : "",
					i + 1, 8000 + i);
		snprintf(i == 0 ? first : last, sizeof(first),
			 "[::ffff:10.0.0.%u]:%u", i + 1, 8000 + i);
	}
	check_peers(list, -1, NULL, NULL);
}

/* A long bad value is cut in the message; the message still names
 * file, line and key. */
static void
test_config_error_echo_is_bounded(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;
	char *v = repeat_char('9', 500);
	char content[600];

	(void)state;
	snprintf(content, sizeof(content), "[workers]\ncount = %s\n", v);
	assert_int_equal(load_string(&t, content, &cfg, &err), -1);
	assert_error_at(&t, &err, 2, "[workers] count: bad value '999");
	assert_non_null(strstr(err.msg, "...' (expected"));
	assert_true(strlen(err.msg) < strlen(t.path) + 160);
	free(v);
}

/* Indentation, BOM, CRLF, inline and long comments are all fine. */
static void
test_config_layout(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;
	char content[2048];
	char *comment = repeat_char('c', 600);

	(void)state;
	snprintf(content, sizeof(content),
		 "\xef\xbb\xbf; top\r\n# %s\r\n  [workers]  ; w\r\n"
		 "\tcount = 3 ; three\r\n   io_threads=7\r\n"
		 "[admin] %s\nlisten: [::1]:99\n",
		 comment, comment + 300);
	assert_int_equal(load_string(&t, content, &cfg, &err), 0);
	assert_int_equal(cfg->workers.count, 3);
	assert_int_equal(cfg->workers.io_threads, 7);
	assert_string_equal(cfg->admin.listen, "[::1]:99");
	kr_config_destroy(&cfg);
	free(comment);
}

static void
test_config_shards(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;

	(void)state;
	assert_int_equal(load_string(&t,
				     "[shard.1]\nprimary = host=b\n"
				     "replica = host=b1\n[shard.0]\n"
				     "replica = host=a1\nprimary = host=a\n"
				     "replica = host=a2\nreplica = host=a3\n",
				     &cfg, &err),
			 0);
	assert_int_equal(cfg->n_shards, 2);
	assert_int_equal(cfg->shards[0].id, 0);
	assert_string_equal(cfg->shards[0].primary, "host=a");
	assert_int_equal(cfg->shards[0].n_replicas, 3);
	assert_string_equal(cfg->shards[0].replicas[0], "host=a1");
	assert_string_equal(cfg->shards[0].replicas[1], "host=a2");
	assert_string_equal(cfg->shards[0].replicas[2], "host=a3");
	assert_int_equal(cfg->shards[1].id, 1);
	assert_string_equal(cfg->shards[1].primary, "host=b");
	assert_int_equal(cfg->shards[1].n_replicas, 1);
	assert_string_equal(cfg->shards[1].replicas[0], "host=b1");
	kr_config_destroy(&cfg);
}

static const struct error_case shard_error_cases[] = {
	{ "[shard.0]\nprimary = a\n\n[shard.2]\nprimary = c\n", 4,
	  "[shard.2]: shard ids must be 0..n-1 without gaps: [shard.1] is "
	  "missing" },
	{ "[shard.1]\nprimary = a\n", 1, "[shard.0] is missing" },
	{ "[shard.0]\nprimary = a\n[shard.1]\n[admin]\n", 3,
	  "[shard.1] primary: missing" },
	{ "[shard.0]\nreplica = r\n", 1, "[shard.0] primary: missing" },
	{ "[shard.0]\nprimary = a\nprimary = b\n", 3,
	  "[shard.0] primary: duplicate key (first set on line 2)" },
	{ "[shard.0]\nprimary =\n", 2, "[shard.0] primary: bad value" },
	{ "[shard.0]\nprimary = a\nreplica = \n", 3,
	  "[shard.0] replica: bad value" },
	{ "[shard.0]\nprimary = a\nport = 5\n", 3,
	  "[shard.0] port: unknown key" },
	{ "[shard.01]\n", 1, "unknown section [shard.01] (expected" },
	{ "[shard.-1]\n", 1, "unknown section [shard.-1]" },
	{ "[shard.]\n", 1, "unknown section [shard.]" },
	{ "[shard.1024]\n", 1, "unknown section [shard.1024]" },
	{ "[shard]\n", 1, "unknown section [shard]" },
};

static void
test_config_shard_errors(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;

	(void)state;
	for (size_t i = 0;
	     i < sizeof(shard_error_cases) / sizeof(shard_error_cases[0]);
	     i++) {
		const struct error_case *c = &shard_error_cases[i];

		assert_int_equal(load_string(&t, c->content, &cfg, &err), -1);
		assert_error_at(&t, &err, c->line, c->want);
	}
}

/* KR_CONFIG_SHARDS_MAX shards and KR_CONFIG_REPLICAS_MAX replicas
 * pass; one more replica fails ([shard.MAX] is the section test). */
static void
test_config_shard_limits(void **state)
{
	size_t size = KR_CONFIG_SHARDS_MAX * 48 + 32 * 32;
	char *content = malloc(size);
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;
	size_t n = 0;

	(void)state;
	assert_non_null(content);
	for (unsigned i = KR_CONFIG_SHARDS_MAX; i-- > 0;)
		n += (size_t)snprintf(content + n, size - n,
				      "[shard.%u]\nprimary = p%u\n", i, i);
	for (unsigned i = 0; i < KR_CONFIG_REPLICAS_MAX; i++)
		n += (size_t)snprintf(content + n, size - n, "replica = r%u\n",
				      i);
	assert_int_equal(load_string(&t, content, &cfg, &err), 0);
	assert_int_equal(cfg->n_shards, KR_CONFIG_SHARDS_MAX);
	assert_string_equal(cfg->shards[KR_CONFIG_SHARDS_MAX - 1].primary,
			    "p1023");
	assert_int_equal(cfg->shards[0].n_replicas, KR_CONFIG_REPLICAS_MAX);
	assert_string_equal(cfg->shards[0].replicas[15], "r15");
	kr_config_destroy(&cfg);
	snprintf(content + n, size - n, "replica = one-too-many\n");
	assert_int_equal(load_string(&t, content, &cfg, &err), -1);
	assert_error_at(&t, &err,
			2 * KR_CONFIG_SHARDS_MAX + KR_CONFIG_REPLICAS_MAX + 1,
			"[shard.0] replica: too many replicas (max 16)");
	free(content);
}

static void
test_config_missing_file(void **state)
{
	struct kr_config *cfg = (struct kr_config *)&cfg;
	struct kr_err err;

	(void)state;
	assert_int_equal(kr_config_load("/nonexistent/kurier.conf", &cfg, &err),
			 -1);
	assert_null(cfg);
	assert_int_equal(err.kind, KR_ERR_NOT_FOUND);
	assert_non_null(
		strstr(err.msg, "/nonexistent/kurier.conf:0: cannot open"));
}

struct write_case {
	const char *before, *section, *key, *value, *after;
};

static const struct write_case write_cases[] = {
	/* Replace: other lines, comments and spacing kept byte for byte. */
	{ "; top\n[admin]\n  token =  old ; x\nlisten = 127.0.0.1:1\n\n",
	  "admin", "token", "0123456789abcdef0123456789abcdef",
	  "; top\n[admin]\ntoken = 0123456789abcdef0123456789abcdef\n"
	  "listen = 127.0.0.1:1\n\n" },
	/* Same key name in another section is left alone. */
	{ "[workers]\ncount=1\n[log]\ncount=2\n", "log", "count", "3",
	  "[workers]\ncount=1\n[log]\ncount = 3\n" },
	/* Insert after the header of an existing section. */
	{ "# c\n[admin] ; a\nlisten = [::1]:8\n[log]\nlevel = info\n", "admin",
	  "metrics_open", "yes",
	  "# c\n[admin] ; a\nmetrics_open = yes\nlisten = [::1]:8\n[log]\n"
	  "level = info\n" },
	/* The header is the last line, without a newline. */
	{ "[log]\nlevel = info\n[admin]", "admin", "metrics_open", "on",
	  "[log]\nlevel = info\n[admin]\nmetrics_open = on\n" },
	/* Append the section. */
	{ "[log]\nlevel = info\n", "admin", "metrics_open", "no",
	  "[log]\nlevel = info\n\n[admin]\nmetrics_open = no\n" },
	{ "[log]\nlevel = info", "admin", "metrics_open", "no",
	  "[log]\nlevel = info\n\n[admin]\nmetrics_open = no\n" },
	{ "", "log", "level", "warn", "[log]\nlevel = warn\n" },
	/* A commented-out key does not count. */
	{ "[log]\n# level = debug\n", "log", "level", "error",
	  "[log]\nlevel = error\n# level = debug\n" },
};

static void
test_config_write_key(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;

	(void)state;
	for (size_t i = 0; i < sizeof(write_cases) / sizeof(write_cases[0]);
	     i++) {
		const struct write_case *c = &write_cases[i];
		char *got;

		tmp_create(&t, c->before, strlen(c->before));
		if (kr_config_write_key(t.path, c->section, c->key, c->value,
					&err) < 0)
			fail_msg("case %zu: %s", i, err.msg);
		got = read_file(t.path);
		assert_string_equal(got, c->after);
		free(got);
		/* The result loads wherever the keys are real ones. */
		if (strcmp(c->section, "admin") == 0 ||
		    strcmp(c->key, "level") == 0) {
			if (kr_config_load(t.path, &cfg, &err) < 0)
				fail_msg("case %zu: %s", i, err.msg);
			kr_config_destroy(&cfg);
		}
		tmp_remove(&t);
	}
}

/* A missing token is made once and read back; one there is kept. */
static void
test_config_generate_key(void **state)
{
	struct kr_config *cfg = NULL, *again = NULL;
	struct kr_err err;
	struct tmpfile t;
	char *made;

	(void)state;
	tmp_create(&t, "[admin]\nlisten = 127.0.0.1:9\n", 29);
	assert_int_equal(kr_config_load(t.path, &cfg, &err), 0);
	assert_null(cfg->admin.token);
	assert_int_equal(kr_config_generate_key(cfg, "admin", "token",
						&cfg->admin.token, 32, &err),
			 1);
	assert_int_equal(strlen(cfg->admin.token), 64);
	made = cfg->admin.token;
	assert_int_equal(kr_config_generate_key(cfg, "admin", "token",
						&cfg->admin.token, 32, &err),
			 0);
	assert_ptr_equal(cfg->admin.token, made);
	assert_int_equal(kr_config_load(t.path, &again, &err), 0);
	assert_string_equal(again->admin.token, made);
	kr_config_destroy(&again);
	kr_config_destroy(&cfg);
	tmp_remove(&t);
}

static void
test_config_write_key_reload_and_mode(void **state)
{
	static const char token[] = "abcdefghijklmnopqrstuvwxyz_-0123";
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;
	struct stat sb;
	char tmp_name[64];

	(void)state;
	tmp_create(&t, "[admin]\nlisten = 127.0.0.1:9\n", 29);
	assert_int_equal(chmod(t.path, 0640), 0);
	assert_int_equal(
		kr_config_write_key(t.path, "admin", "token", token, &err), 0);
	assert_int_equal(stat(t.path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
	snprintf(tmp_name, sizeof(tmp_name), "%s.tmp.%ld", t.path,
		 (long)getpid());
	assert_int_not_equal(access(tmp_name, F_OK), 0);
	assert_int_equal(kr_config_load(t.path, &cfg, &err), 0);
	assert_string_equal(cfg->admin.token, token);
	assert_string_equal(cfg->admin.listen, "127.0.0.1:9");
	kr_config_destroy(&cfg);

	/* Newlines would smuggle in extra lines; nothing is written. */
	assert_int_equal(kr_config_write_key(t.path, "admin", "token",
					     "a\n[log]\nlevel = debug", &err),
			 -1);
	assert_int_equal(
		kr_config_write_key(t.path, "ad\nmin", "token", "x", &err), -1);
	assert_int_equal(
		kr_config_write_key(t.path, "admin", "to\rken", "x", &err), -1);
	/* Nor what would not read back the same. */
	assert_int_equal(
		kr_config_write_key(t.path, "admin", "token", " pad", &err),
		-1);
	assert_int_equal(
		kr_config_write_key(t.path, "admin", "token", "a ;c", &err),
		-1);
	assert_int_equal(
		kr_config_write_key(t.path, "admin", "token", "", &err), -1);
	assert_int_equal(kr_config_write_key(t.path, "admin", "a=b", "x", &err),
			 -1);
	assert_int_equal(kr_config_load(t.path, &cfg, &err), 0);
	assert_string_equal(cfg->admin.token, token);
	kr_config_destroy(&cfg);
	tmp_remove(&t);

	assert_int_equal(kr_config_write_key("/nonexistent/k.conf", "admin",
					     "token", token, &err),
			 -1);
	assert_int_equal(err.kind, KR_ERR_NOT_FOUND);
}

static void
test_config_parse_addr(void **state)
{
	static const struct {
		const char *in;
		int ret;
		const char *host;
		unsigned port;
	} cases[] = {
		{ "127.0.0.1:8081", 0, "127.0.0.1", 8081 },
		{ "0.0.0.0:1", 0, "0.0.0.0", 1 },
		{ "localhost:65535", 0, "localhost", 65535 },
		{ "[::1]:8081", 0, "::1", 8081 },
		{ "[2001:db8::1]:25", 0, "2001:db8::1", 25 },
		{ "[::ffff:10.0.0.1]:80", 0, "::ffff:10.0.0.1", 80 },
		{ "127.0.0.1:0", -1, NULL, 0 },
		{ "127.0.0.1:65536", -1, NULL, 0 },
		{ "127.0.0.1:080000", -1, NULL, 0 },
		{ "127.0.0.1:", -1, NULL, 0 },
		{ "127.0.0.1:+80", -1, NULL, 0 },
		{ "127.0.0.1:8o", -1, NULL, 0 },
		{ "127.0.0.1", -1, NULL, 0 },
		{ ":8081", -1, NULL, 0 },
		{ "256.0.0.1:80", -1, NULL, 0 },
		{ "1.2.3:80", -1, NULL, 0 },
		{ "example.com:80", -1, NULL, 0 },
		{ "::1:8081", -1, NULL, 0 },
		{ "[::1]8081", -1, NULL, 0 },
		{ "[::1:8081", -1, NULL, 0 },
		{ "[]:80", -1, NULL, 0 },
		{ "[127.0.0.1]:80", -1, NULL, 0 },
		{ "[localhost]:80", -1, NULL, 0 },
		{ "[fe80::1%eth0]:80", -1, NULL, 0 },
		{ "", -1, NULL, 0 },
	};
	char host[64], small[4];
	unsigned port;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;

		host[0] = '\0';
		port = 0;
		ret = kr_config_parse_addr(cases[i].in, host, sizeof(host),
					   &port);
		if (ret != cases[i].ret)
			fail_msg("'%s': got %d", cases[i].in, ret);
		if (ret == 0) {
			assert_string_equal(host, cases[i].host);
			assert_int_equal(port, cases[i].port);
		}
	}
	/* host_size counts the NUL: "::1" fits in 4, not in 3. */
	assert_int_equal(kr_config_parse_addr("[::1]:1", small, 4, &port), 0);
	assert_string_equal(small, "::1");
	assert_int_equal(kr_config_parse_addr("[::1]:1", small, 3, &port), -1);
}

/* A load that must succeed; fails the test with the message if not. */
static struct kr_config *
load_ok(const char *content)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;

	if (load_string(&t, content, &cfg, &err) < 0)
		fail_msg("unexpected error: %s", err.msg);
	return cfg;
}

struct storage_case {
	const char *content;
	unsigned line; /* 0: loads */
	const char *want;
};

/* Doubles are plain decimals; 0 < aperture_low < aperture_high <= 1000;
 * pool_low <= pool_high; the key whose line broke a rule is named. */
static const struct storage_case storage_cases[] = {
	{ "[storage]\naperture_low = 0.001\naperture_high = 1000\n", 0, NULL },
	{ "[storage]\naperture_high = 1000.0\naperture_low = 999.999\n", 0,
	  NULL },
	{ "[storage]\naperture_high = 1000.001\n", 2,
	  "[storage] aperture_high: bad value '1000.001' (expected a decimal "
	  "number above 0 and at most 1000)" },
	{ "[storage]\naperture_low = 0\n", 2,
	  "[storage] aperture_low: bad value '0'" },
	{ "[storage]\naperture_low = 0.0\n", 2, "aperture_low: bad value" },
	{ "[storage]\naperture_low = -0.5\n", 2, "aperture_low: bad value" },
	{ "[storage]\naperture_low = .5\n", 2, "aperture_low: bad value" },
	{ "[storage]\naperture_low = 5.\n", 2, "aperture_low: bad value" },
	{ "[storage]\naperture_low = 1e-1\n", 2, "aperture_low: bad value" },
	{ "[storage]\naperture_low = 0x1p-1\n", 2, "aperture_low: bad value" },
	{ "[storage]\naperture_low = nan\n", 2, "aperture_low: bad value" },
	{ "[storage]\naperture_high = inf\n", 2, "aperture_high: bad value" },
	{ "[storage]\naperture_low = 0,5\n", 2, "aperture_low: bad value" },
	{ "[storage]\naperture_low = 0.5.1\n", 2, "aperture_low: bad value" },
	{ "[storage]\naperture_low = 2\n", 2,
	  "[storage] aperture_low: 2 must be < aperture_high = 2" },
	{ "[storage]\naperture_low = 1.5\naperture_high = 1.25\n", 3,
	  "[storage] aperture_high: 1.25 must be > aperture_low = 1.5" },
	{ "[storage]\naperture_high = 0.25\n\naperture_low = 0.3\n", 4,
	  "[storage] aperture_low: 0.3 must be < aperture_high = 0.25" },
	{ "[storage]\npool_low = 256\npool_high = 256\n", 0, NULL },
	{ "[storage]\npool_high = 1\npool_low = 0\n", 0, NULL },
	{ "[storage]\npool_low = 9\n", 2,
	  "[storage] pool_low: 9 must be <= pool_high = 8" },
	{ "[storage]\npool_high = 1\n", 2,
	  "[storage] pool_high: 1 must be >= pool_low = 2" },
	{ "[storage]\npool_low = 5\npool_high = 4\n", 3,
	  "[storage] pool_high: 4 must be >= pool_low = 5" },
	{ "[storage]\npool_high = 4\npool_low = 5\n", 3,
	  "[storage] pool_low: 5 must be <= pool_high = 4" },
	{ "[storage]\nbogus = 1\n", 2, "[storage] bogus: unknown key" },
	{ "[storage]\npool = heap\n", 2,
	  "[storage] pool: bad value 'heap' (expected watermark or "
	  "singleton)" },
	{ "[storage]\nbalancer = x\n", 2, "(expected heap or aperture)" },
};

static void
test_config_storage_rules(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;

	(void)state;
	for (size_t i = 0; i < sizeof(storage_cases) / sizeof(storage_cases[0]);
	     i++) {
		const struct storage_case *c = &storage_cases[i];
		int ret = load_string(&t, c->content, &cfg, &err);

		if (c->line == 0) {
			if (ret < 0)
				fail_msg("case %zu: %s", i, err.msg);
			kr_config_destroy(&cfg);
			continue;
		}
		if (ret == 0)
			fail_msg("case %zu loaded", i);
		assert_error_at(&t, &err, c->line, c->want);
	}
	cfg = load_ok("[storage]\naperture_low = 0.001\naperture_high = "
		      "999.5\npool_low = 256\npool_high = 1024\n");
	assert_true(cfg->storage.aperture_low == 0.001);
	assert_true(cfg->storage.aperture_high == 999.5);
	assert_int_equal(cfg->storage.pool_low, 256);
	assert_int_equal(cfg->storage.pool_high, 1024);
	kr_config_destroy(&cfg);
}

/* "[shard.i]\nprimary = pi\n" for i in 0..n-1, then extra. */
static char *
shards_text(unsigned n, const char *extra)
{
	size_t size = n * 40 + strlen(extra) + 1, len = 0;
	char *s = malloc(size);

	assert_non_null(s);
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, size - len,
					"[shard.%u]\nprimary = p%u\n", i, i);
	snprintf(s + len, size - len, "%s", extra);
	return s;
}

/* Without `buckets`, shard i of n gets i*4096/n .. (i+1)*4096/n - 1. */
static void
test_config_buckets_even_split(void **state)
{
	static const unsigned counts[] = { 1, 2, 3, 7, 20, 1024 };

	(void)state;
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		unsigned n = counts[c], next = 0;
		char *text = shards_text(n, "");
		struct kr_config *cfg = load_ok(text);

		assert_int_equal(cfg->n_shards, n);
		for (unsigned i = 0; i < n; i++) {
			assert_int_equal(cfg->shards[i].bucket_lo,
					 i * KR_SHARD_BUCKETS / n);
			assert_int_equal(cfg->shards[i].bucket_lo, next);
			assert_true(cfg->shards[i].bucket_hi >=
				    cfg->shards[i].bucket_lo);
			next = cfg->shards[i].bucket_hi + 1;
		}
		assert_int_equal(next, KR_SHARD_BUCKETS);
		kr_config_destroy(&cfg);
		free(text);
	}
}

/* Explicit ranges in any order and of any size, as long as they tile. */
static void
test_config_buckets_explicit(void **state)
{
	struct kr_config *cfg;

	(void)state;
	cfg = load_ok("[shard.1]\nprimary = b\nbuckets = 0-9\n"
		      "[shard.0]\nbuckets = 10-4094\nprimary = a\n"
		      "[shard.2]\nprimary = c\nbuckets = 4095-4095\n");
	assert_int_equal(cfg->shards[0].bucket_lo, 10);
	assert_int_equal(cfg->shards[0].bucket_hi, 4094);
	assert_int_equal(cfg->shards[1].bucket_lo, 0);
	assert_int_equal(cfg->shards[1].bucket_hi, 9);
	assert_int_equal(cfg->shards[2].bucket_lo, 4095);
	assert_int_equal(cfg->shards[2].bucket_hi, 4095);
	kr_config_destroy(&cfg);
	cfg = load_ok("[shard.0]\nprimary = a\nbuckets = 0-4095\n");
	assert_int_equal(cfg->shards[0].bucket_lo, 0);
	assert_int_equal(cfg->shards[0].bucket_hi, 4095);
	assert_true(cfg->shards[0].has_buckets);
	kr_config_destroy(&cfg);
}

/* A shard without `buckets` beside shards that tile them owns none: a
 * new shard waiting for bucket moves. */
static void
test_config_buckets_empty_shard(void **state)
{
	struct kr_config *cfg;

	(void)state;
	cfg = load_ok("[shard.0]\nprimary = a\nbuckets = 0-4095\n"
		      "[shard.1]\nprimary = b\n"
		      "[shard.2]\nprimary = c\n");
	assert_int_equal(cfg->n_shards, 3);
	assert_true(cfg->shards[0].has_buckets);
	assert_false(cfg->shards[1].has_buckets);
	assert_false(cfg->shards[2].has_buckets);
	assert_int_equal(cfg->shards[1].bucket_lo, 0);
	assert_int_equal(cfg->shards[1].bucket_hi, 0);
	kr_config_destroy(&cfg);
}

static const struct error_case bucket_error_cases[] = {
	/* gap in the middle: named at the range after it */
	{ "[shard.0]\nprimary = a\nbuckets = 0-99\n[shard.1]\nprimary = b\n"
	  "buckets = 101-4095\n",
	  6,
	  "[shard.1] buckets: 101-4095 leaves buckets 100-100 without a "
	  "shard" },
	/* gap at the start */
	{ "[shard.0]\nprimary = a\nbuckets = 1-4095\n", 3,
	  "[shard.0] buckets: 1-4095 leaves buckets 0-0 without a shard" },
	/* gap at the end: named at the last range */
	{ "[shard.0]\nprimary = a\nbuckets = 2000-4094\n[shard.1]\n"
	  "primary = b\nbuckets = 0-1999\n",
	  3,
	  "[shard.0] buckets: 2000-4094 leaves buckets 4095-4095 without a "
	  "shard" },
	/* overlap: named at the later line */
	{ "[shard.0]\nprimary = a\nbuckets = 0-2048\n[shard.1]\nprimary = b\n"
	  "buckets = 2048-4095\n",
	  6,
	  "[shard.1] buckets: 2048-4095 overlaps [shard.0] buckets "
	  "0-2048" },
	{ "[shard.1]\nprimary = b\nbuckets = 0-4095\n[shard.0]\nprimary = a\n"
	  "buckets = 100-200\n",
	  6, "[shard.0] buckets: 100-200 overlaps [shard.1] buckets 0-4095" },
	/* the shards with buckets must still tile without the empty one */
	{ "[shard.0]\nprimary = a\nbuckets = 0-4094\n[shard.1]\n"
	  "primary = b\n",
	  3,
	  "[shard.0] buckets: 0-4094 leaves buckets 4095-4095 without a "
	  "shard" },
	{ "[shard.0]\nprimary = a\nbuckets = 0-4095\nbuckets = 0-4095\n", 4,
	  "[shard.0] buckets: duplicate key (first set on line 3)" },
	{ "[shard.0]\nprimary = a\nbuckets = 0-4096\n", 3,
	  "[shard.0] buckets: bad value '0-4096' (expected LO-HI with 0 <= "
	  "LO <= HI <= 4095)" },
	{ "[shard.0]\nprimary = a\nbuckets = 5-4\n", 3,
	  "[shard.0] buckets: bad value" },
	{ "[shard.0]\nprimary = a\nbuckets = 0 - 4095\n", 3,
	  "[shard.0] buckets: bad value" },
	{ "[shard.0]\nprimary = a\nbuckets = 0-\n", 3,
	  "[shard.0] buckets: bad value" },
	{ "[shard.0]\nprimary = a\nbuckets = -4095\n", 3,
	  "[shard.0] buckets: bad value" },
	{ "[shard.0]\nprimary = a\nbuckets = 7\n", 3,
	  "[shard.0] buckets: bad value" },
	{ "[shard.0]\nprimary = a\nbuckets = 0-4095x\n", 3,
	  "[shard.0] buckets: bad value" },
};

static void
test_config_buckets_errors(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;

	(void)state;
	for (size_t i = 0;
	     i < sizeof(bucket_error_cases) / sizeof(bucket_error_cases[0]);
	     i++) {
		const struct error_case *c = &bucket_error_cases[i];

		if (load_string(&t, c->content, &cfg, &err) == 0)
			fail_msg("case %zu loaded", i);
		assert_error_at(&t, &err, c->line, c->want);
	}
}

/* Shards take the [storage] pool values unless they override them,
 * whether [storage] comes before or after the shard sections. */
static void
test_config_shard_pool_overrides(void **state)
{
	static const char *const texts[] = {
		"[storage]\npool_low = 3\npool_high = 30\npool_queue = 300\n"
		"[shard.0]\nprimary = a\npool_high = 40\n[shard.1]\n"
		"primary = b\npool_low = 0\npool_queue = 0\n",
		"[shard.0]\nprimary = a\npool_high = 40\n[shard.1]\n"
		"primary = b\npool_low = 0\npool_queue = 0\n"
		"[storage]\npool_low = 3\npool_high = 30\npool_queue = 300\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct kr_config *cfg = load_ok(texts[i]);

		assert_int_equal(cfg->shards[0].pool_low, 3);
		assert_int_equal(cfg->shards[0].pool_high, 40);
		assert_int_equal(cfg->shards[0].pool_queue, 300);
		assert_int_equal(cfg->shards[1].pool_low, 0);
		assert_int_equal(cfg->shards[1].pool_high, 30);
		assert_int_equal(cfg->shards[1].pool_queue, 0);
		kr_config_destroy(&cfg);
	}
}

static const struct error_case shard_pool_error_cases[] = {
	{ "[shard.0]\nprimary = a\npool_low = 9\n", 3,
	  "[shard.0] pool_low: 9 must be <= [storage] pool_high = 8" },
	{ "[shard.0]\nprimary = a\npool_high = 1\n", 3,
	  "[shard.0] pool_high: 1 must be >= [storage] pool_low = 2" },
	{ "[shard.0]\nprimary = a\npool_high = 4\n[storage]\npool_low = 5\n"
	  "pool_high = 6\n",
	  5, "[storage] pool_low: 5 must be <= [shard.0] pool_high = 4" },
	{ "[shard.0]\nprimary = a\npool_high = 4\npool_low = 5\n", 4,
	  "[shard.0] pool_low: 5 must be <= pool_high = 4" },
	{ "[shard.0]\nprimary = a\npool_low = 257\n", 3,
	  "[shard.0] pool_low: bad value '257' (expected a whole number in "
	  "0..256)" },
	{ "[shard.0]\nprimary = a\npool_high = 1025\n", 3,
	  "[shard.0] pool_high: bad value" },
	{ "[shard.0]\nprimary = a\npool_high = 0\n", 3,
	  "[shard.0] pool_high: bad value" },
	{ "[shard.0]\nprimary = a\npool_queue = 65537\n", 3,
	  "[shard.0] pool_queue: bad value" },
	{ "[shard.0]\nprimary = a\npool_queue = 1\npool_queue = 2\n", 4,
	  "[shard.0] pool_queue: duplicate key (first set on line 3)" },
};

static void
test_config_shard_pool_limits(void **state)
{
	struct kr_config *cfg = NULL;
	struct kr_err err;
	struct tmpfile t;

	(void)state;
	for (size_t i = 0; i < sizeof(shard_pool_error_cases) /
				       sizeof(shard_pool_error_cases[0]);
	     i++) {
		const struct error_case *c = &shard_pool_error_cases[i];

		if (load_string(&t, c->content, &cfg, &err) == 0)
			fail_msg("case %zu loaded", i);
		assert_error_at(&t, &err, c->line, c->want);
	}
	cfg = load_ok("[shard.0]\nprimary = a\npool_low = 256\npool_high = "
		      "1024\npool_queue = 65536\n");
	assert_int_equal(cfg->shards[0].pool_low, 256);
	assert_int_equal(cfg->shards[0].pool_high, 1024);
	assert_int_equal(cfg->shards[0].pool_queue, 65536);
	kr_config_destroy(&cfg);
	cfg = load_ok("[shard.0]\nprimary = a\npool_low = 0\npool_high = 1\n"
		      "pool_queue = 0\n");
	assert_int_equal(cfg->shards[0].pool_low, 0);
	assert_int_equal(cfg->shards[0].pool_high, 1);
	assert_int_equal(cfg->shards[0].pool_queue, 0);
	kr_config_destroy(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_example_matches_defaults),
		cmocka_unit_test(test_config_values),
		cmocka_unit_test(test_config_admin_peers),
		cmocka_unit_test(test_config_value_length),
		cmocka_unit_test(test_config_long_value_at_limit),
		cmocka_unit_test(test_config_errors_name_line),
		cmocka_unit_test(test_config_error_echo_is_bounded),
		cmocka_unit_test(test_config_layout),
		cmocka_unit_test(test_config_shards),
		cmocka_unit_test(test_config_shard_errors),
		cmocka_unit_test(test_config_shard_limits),
		cmocka_unit_test(test_config_missing_file),
		cmocka_unit_test(test_config_write_key),
		cmocka_unit_test(test_config_write_key_reload_and_mode),
		cmocka_unit_test(test_config_generate_key),
		cmocka_unit_test(test_config_parse_addr),
		cmocka_unit_test(test_config_storage_rules),
		cmocka_unit_test(test_config_buckets_even_split),
		cmocka_unit_test(test_config_buckets_explicit),
		cmocka_unit_test(test_config_buckets_empty_shard),
		cmocka_unit_test(test_config_buckets_errors),
		cmocka_unit_test(test_config_shard_pool_overrides),
		cmocka_unit_test(test_config_shard_pool_limits),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
