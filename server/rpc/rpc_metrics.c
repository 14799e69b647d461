/* The JSON-RPC side's metrics: one table, in the order /metrics shows
 * them. */
#include "server/rpc/rpc_metrics.h"

#include <stddef.h>

#include "lib/metrics.h"

#define RPC_ID(f) offsetof(struct kr_rpc_metrics, f)

static const struct kr_metric_def rpc_metric_defs[] = {
	{ RPC_ID(requests),
	  { "kurier_rpc_http_requests_total", "",
	    "HTTP requests answered on POST /rpc.", KR_METRIC_COUNTER, 1 } },
	{ RPC_ID(calls),
	  { "kurier_rpc_calls_total", "",
	    "JSON-RPC calls, batch entries counted one by one.",
	    KR_METRIC_COUNTER, 1 } },
	{ RPC_ID(errors),
	  { "kurier_rpc_errors_total", "",
	    "JSON-RPC calls answered with an error object.", KR_METRIC_COUNTER,
	    1 } },
	{ RPC_ID(latency),
	  { "kurier_rpc_request_seconds", "",
	    "From the request body to the response body.", KR_METRIC_HISTOGRAM,
	    KR_METRIC_SCALE_US } },
	{ RPC_ID(logins_failed),
	  { "kurier_rpc_logins_failed_total", "",
	    "auth.login refused for a bad user or password.", KR_METRIC_COUNTER,
	    1 } },
	{ RPC_ID(rate_limited),
	  { "kurier_rpc_rate_limited_total", "",
	    "Logins refused by the failed-login limiter (-32012).",
	    KR_METRIC_COUNTER, 1 } },
	{ RPC_ID(password_checks),
	  { "kurier_rpc_password_checks_total", "",
	    "Password checks run on the io pool for auth.login.",
	    KR_METRIC_COUNTER, 1 } },
	{ RPC_ID(trained),
	  { "kurier_rpc_train_total", "",
	    "Messages learned by Bayes training after message.move.",
	    KR_METRIC_COUNTER, 1 } },
	{ RPC_ID(train_failed),
	  { "kurier_rpc_train_failed_total", "",
	    "Bayes trainings that failed or were dropped (best-effort).",
	    KR_METRIC_COUNTER, 1 } },
};

struct kr_rpc_metrics *
kr_rpc_metrics_define(struct kr_metrics *m, struct kr_err *err_r)
{
	return kr_metrics_define_ids(m, KR_METRICS_TABLE(rpc_metric_defs),
				     sizeof(struct kr_rpc_metrics), err_r);
}
