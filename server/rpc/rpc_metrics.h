/* The JSON-RPC side's metrics: HTTP requests and calls, errors, latency,
 * logins. Defined by the master before it forks (the registry is fixed
 * then); each worker counts into its own slot with these ids. */
#ifndef KR_RPC_METRICS_H
#define KR_RPC_METRICS_H

#include "lib/err.h"

struct kr_metrics;

struct kr_rpc_metrics {
	int requests;	     /* counter: HTTP requests answered */
	int calls;	     /* counter: JSON-RPC calls, notifications too */
	int errors;	     /* counter: calls answered with an error */
	int latency;	     /* histogram (us): body in -> response out */
	int logins_failed;   /* counter */
	int rate_limited;    /* counter */
	int password_checks; /* counter: hashes run for auth.login */
	int trained;	     /* counter: messages learned (rpc_train.h) */
	int train_failed;    /* counter: trainings failed or dropped */
};

/* Defines them; NULL + err_r when the registry refuses one. Free the
 * struct with free(). */
struct kr_rpc_metrics *kr_rpc_metrics_define(struct kr_metrics *m,
					     struct kr_err *err_r);

#endif
