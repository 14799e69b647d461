/* libFuzzer target for proto/jsonrpc: parses the input with small
 * limits, answers every call (results, errors with data, the named-param
 * helpers over its params), and checks the invariants: every entry is
 * either a call or carries an error, no more entries than batch_max,
 * and the response (if any) is JSON of the right shape (jansson may
 * refuse only a number it cannot hold: an id echoed as sent). Not in the
 * Makefile; build from the repo root with
 *
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -I. \
 *     -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_jsonrpc.c \
 *     proto/jsonrpc.c proto/jsonrpc_scan.c lib/err.c \
 *     $(pkg-config --cflags --libs jansson) \
 *     -o fuzz_jsonrpc
 *   ./fuzz_jsonrpc tests/fuzz/corpus/jsonrpc
 *
 * Crashers go into tests/fuzz/corpus/jsonrpc/, which test_jsonrpc
 * replays. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_params(const json_t *params)
{
	const char *s;
	const json_t *v;
	long long n;
	bool b;

	(void)kr_jsonrpc_param_str(params, "name", false, &s, NULL);
	(void)kr_jsonrpc_param_int(params, "mailbox", true, 1, 1000, &n, NULL);
	(void)kr_jsonrpc_param_bool(params, "seen", false, &b, NULL);
	(void)kr_jsonrpc_param_array(params, "uids", false, &v, NULL);
	(void)kr_jsonrpc_param_object(params, "query", false, &v, NULL);
}

static void
fuzz_answer(struct kr_jsonrpc_batch *batch)
{
	for (size_t i = 0; i < kr_jsonrpc_count(batch); i++) {
		const struct kr_jsonrpc_call *c = kr_jsonrpc_call(batch, i);

		if (c->error_code != 0) {
			if (c->method != NULL || c->error_message == NULL ||
			    c->id == NULL)
				abort();
			continue;
		}
		if (c->method == NULL || c->is_notification != (c->id == NULL))
			abort();
		fuzz_params(c->params);
		if (i % 3 == 0)
			kr_jsonrpc_set_result(batch, i, json_string(c->method));
		else if (i % 3 == 1)
			kr_jsonrpc_set_error(
				batch, i, KR_JSONRPC_UNAVAILABLE, NULL,
				json_pack("{si}", "retry_after_ms", 10));
		/* i % 3 == 2: left unanswered, -32603. */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kr_jsonrpc_limits lim = {
		.body_max = 1 << 16,
		.depth_max = 8,
		.batch_max = 16,
		.element_max = 256,
	};
	struct kr_jsonrpc_batch *batch;
	size_t len;
	char *out;

	if (kr_jsonrpc_parse((const char *)data, size, &lim, &batch, NULL) <
	    0) {
		if (size <= lim.body_max || batch != NULL)
			abort();
		return 0;
	}
	if (kr_jsonrpc_count(batch) == 0 ||
	    kr_jsonrpc_count(batch) > lim.batch_max)
		abort();
	fuzz_answer(batch);
	out = kr_jsonrpc_response_take(batch, &len);
	if (out != NULL) {
		json_error_t jerr;
		json_t *v = json_loadb(out, len, 0, &jerr);

		if (v == NULL &&
		    json_error_code(&jerr) != json_error_numeric_overflow)
			abort();
		if (v != NULL && json_is_array(v) != kr_jsonrpc_is_batch(batch))
			abort();
		json_decref(v);
		free(out);
	}
	kr_jsonrpc_batch_destroy(&batch);
	return 0;
}
