/* cmocka tests for server/runtime's metrics: each part defines its own
 * (worker, master, runtime, LMTP, JSON-RPC, cache, supervisor) and the
 * runtime keeps one struct of ids per part; every id names its own
 * metric, and the registry lists them in the order /metrics always had
 * (names and labels are what scrapers and tests grep). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "antispam/antispam.h"
#include "server/cache/cache_metrics.h"
#include "server/lmtp/lmtp_metrics.h"
#include "server/restart.h"
#include "server/rpc/rpc_metrics.h"
#include "server/runtime.h"
#include "storage/connmgr.h"
#include "storage/store.h"
#include "server/process_metrics.h"

/* A runtime on two workers and no shards (no storage metrics). */
static int
runtime_setup(void **state)
{
	struct kr_runtime *rt = kr_xcalloc(1, sizeof(*rt));
	char path[] = "/tmp/kr-test-runtime-XXXXXX";
	int fd = mkstemp(path);
	FILE *fp;
	struct kr_err err;

	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs("[workers]\ncount = 2\n[log]\nlevel = error\n", fp);
	assert_int_equal(fclose(fp), 0);
	if (kr_runtime_init(rt, path, &err) < 0)
		fail_msg("runtime: %s", err.msg);
	unlink(path);
	*state = rt;
	return 0;
}

static int
runtime_teardown(void **state)
{
	struct kr_runtime *rt = *state;

	kr_runtime_deinit(rt);
	free(rt);
	return 0;
}

struct want {
	int id;
	const char *name, *labels;
};

static void
test_runtime_metrics_each_part_names_its_own(void **state)
{
	const struct kr_runtime *rt = *state;
	const struct kr_worker_metrics *w = rt->worker_ids;
	const struct kr_master_metrics *ma = rt->master_ids;
	const struct kr_lmtp_metrics *l = rt->lmtp_ids;
	const struct kr_rpc_metrics *r = rt->rpc_ids;
	const struct kr_cache_metrics *c = rt->cache_ids;
	const struct kr_restart_metrics *s = rt->restart_ids;
	const struct kr_antispam_metrics *sp = rt->spam_ids;
	const struct kr_store_metrics *st = rt->store_ids;
	/* In registry order: the exposition's order. */
	const struct want want[] = {
		{ w->requests, "kurier_requests_total", "" },
		{ w->heartbeats, "kurier_worker_heartbeats_total", "" },
		{ w->loop_lag, "kurier_worker_loop_lag_seconds", "" },
		{ w->rss, "kurier_process_rss_bytes", "" },
		{ ma->worker_starts, "kurier_worker_starts_total", "" },
		{ ma->exits_crash, "kurier_worker_exits_total",
		  "reason=\"crash\"" },
		{ ma->exits_cycle, "kurier_worker_exits_total",
		  "reason=\"cycle\"" },
		{ ma->exits_drain, "kurier_worker_exits_total",
		  "reason=\"drain\"" },
		{ rt->ids.config_reloads, "kurier_config_reloads_total", "" },
		{ rt->ids.config_failures,
		  "kurier_config_reload_failures_total", "" },
		{ l->sessions, "kurier_lmtp_sessions", "" },
		{ l->sessions_total, "kurier_lmtp_sessions_total", "" },
		{ l->messages, "kurier_lmtp_messages_total", "" },
		{ l->bytes, "kurier_lmtp_bytes_total", "" },
		{ l->rcpt_ok, "kurier_lmtp_recipients_total",
		  "result=\"delivered\"" },
		{ l->rcpt_unknown, "kurier_lmtp_recipients_total",
		  "result=\"unknown\"" },
		{ l->rcpt_quota, "kurier_lmtp_recipients_total",
		  "result=\"over_quota\"" },
		{ l->rcpt_unavailable, "kurier_lmtp_recipients_total",
		  "result=\"unavailable\"" },
		{ l->rcpt_cache_hit, "kurier_lmtp_rcpt_cache_total",
		  "result=\"hit\"" },
		{ l->rcpt_cache_miss, "kurier_lmtp_rcpt_cache_total",
		  "result=\"miss\"" },
		{ l->latency, "kurier_lmtp_delivery_seconds", "" },
		{ r->requests, "kurier_rpc_http_requests_total", "" },
		{ r->calls, "kurier_rpc_calls_total", "" },
		{ r->errors, "kurier_rpc_errors_total", "" },
		{ r->latency, "kurier_rpc_request_seconds", "" },
		{ r->logins_failed, "kurier_rpc_logins_failed_total", "" },
		{ r->rate_limited, "kurier_rpc_rate_limited_total", "" },
		{ r->password_checks, "kurier_rpc_password_checks_total", "" },
		{ r->trained, "kurier_rpc_train_total", "" },
		{ r->train_failed, "kurier_rpc_train_failed_total", "" },
		{ c->hits, "kurier_cache_hits_total", "" },
		{ c->misses, "kurier_cache_misses_total", "" },
		{ c->evictions, "kurier_cache_evictions_total", "" },
		{ c->bytes, "kurier_cache_bytes", "" },
		{ s->unhealthy, "kurier_workers_unhealthy", "" },
		{ s->unhealthy_total, "kurier_workers_unhealthy_total", "" },
		{ s->restarts[0], "kurier_worker_restarts_total",
		  "worker=\"0\"" },
		{ s->backoff[0], "kurier_worker_backoff_seconds",
		  "worker=\"0\"" },
		{ s->restarts[1], "kurier_worker_restarts_total",
		  "worker=\"1\"" },
		{ s->backoff[1], "kurier_worker_backoff_seconds",
		  "worker=\"1\"" },
		/* No shards here: of the storage's, only the global one. */
		{ kr_connmgr_fts_indexed_metric(rt->db_ids),
		  "kurier_fts_indexed_total", "" },
		{ sp->verdict[KR_ANTISPAM_HAM],
		  "kurier_antispam_verdicts_total", "verdict=\"ham\"" },
		{ sp->verdict[KR_ANTISPAM_SPAM],
		  "kurier_antispam_verdicts_total", "verdict=\"spam\"" },
		{ sp->verdict[KR_ANTISPAM_REJECT],
		  "kurier_antispam_verdicts_total", "verdict=\"reject\"" },
		{ sp->verdict[KR_ANTISPAM_DEFER],
		  "kurier_antispam_verdicts_total", "verdict=\"defer\"" },
		{ sp->check_us, "kurier_antispam_check_seconds", "" },
		{ sp->reloads, "kurier_antispam_reloads_total", "" },
		{ sp->reload_failures, "kurier_antispam_reload_failures_total",
		  "" },
		{ sp->generation, "kurier_antispam_generation", "" },
		{ sp->generations, "kurier_antispam_generations_open", "" },
		{ sp->unloads, "kurier_antispam_module_unloads_total", "" },
		{ st->batch_messages, "kurier_store_commit_messages", "" },
		{ st->queue_wait, "kurier_store_commit_wait_seconds", "" },
	};
	size_t n = sizeof(want) / sizeof(want[0]), i = 0;

	/* Shown metrics only: the storage reserves hidden ones for the
	 * shards a reload may add ([storage] max_shards). */
	for (unsigned id = 0; id < kr_metrics_count(rt->metrics); id++) {
		const struct kr_metric_desc *d;

		if (kr_metrics_hidden(rt->metrics, (int)id))
			continue;
		if (i >= n)
			fail_msg("metric %u shown past the %zu wanted", id, n);
		if (want[i].id != (int)id)
			fail_msg("%s{%s}: id %d, want %u", want[i].name,
				 want[i].labels, want[i].id, id);
		d = kr_metrics_desc(rt->metrics, want[i].id);
		assert_string_equal(d->name, want[i].name);
		assert_string_equal(d->labels, want[i].labels);
		i++;
	}
	assert_int_equal(i, n);
}

/* Kinds and scales the exposition depends on. */
static void
test_runtime_metrics_kinds(void **state)
{
	const struct kr_runtime *rt = *state;
	const struct kr_metrics *m = rt->metrics;

	assert_int_equal(kr_metrics_desc(m, rt->lmtp_ids->sessions)->kind,
			 KR_METRIC_GAUGE);
	assert_int_equal(kr_metrics_desc(m, rt->lmtp_ids->latency)->kind,
			 KR_METRIC_HISTOGRAM);
	assert_true(kr_metrics_desc(m, rt->rpc_ids->latency)->scale == 1e6);
	assert_true(kr_metrics_desc(m, rt->worker_ids->loop_lag)->scale == 1e6);
	assert_int_equal(kr_metrics_desc(m, rt->cache_ids->bytes)->kind,
			 KR_METRIC_GAUGE);
	assert_true(kr_metrics_desc(m, rt->restart_ids->backoff[1])->scale ==
		    1000);
	assert_int_equal(kr_metrics_desc(m, rt->master_ids->exits_drain)->kind,
			 KR_METRIC_COUNTER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runtime_metrics_each_part_names_its_own),
		cmocka_unit_test(test_runtime_metrics_kinds),
	};

	return cmocka_run_group_tests_name("runtime", tests, runtime_setup,
					   runtime_teardown);
}
