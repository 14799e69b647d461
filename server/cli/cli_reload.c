/* kurier reload: POST /api/reload through the CLI's admin-port client
 * (cli_http.h), the answer printed. */
#include "server/cli/cli_reload.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "server/cli/cli.h"
#include "server/cli/cli_http.h"

/* The admin waits up to 30 s for the workers; a little more here. */
#define RELOAD_TIMEOUT_S 40

/* The answer of POST /api/reload, printed. */
static int
reload_report(int status, const char *text)
{
	json_t *doc = json_loads(text, 0, NULL), *workers, *w;
	const char *error = NULL;
	size_t i, pending = 0;
	int rc = KR_CLI_FAIL;

	if (doc == NULL) {
		fprintf(stderr, "kurier: reload: HTTP %d: %s", status, text);
		return KR_CLI_FAIL;
	}
	error = json_string_value(json_object_get(doc, "error"));
	workers = json_object_get(doc, "workers");
	json_array_foreach(workers, i, w)
	{
		const char *state =
			json_string_value(json_object_get(w, "reload"));

		pending += state != NULL && strcmp(state, "pending") == 0;
	}
	if (status != 200)
		fprintf(stderr, "kurier: reload refused (HTTP %d): %s\n",
			status, error != NULL ? error : "?");
	else if (error != NULL)
		fprintf(stderr,
			"kurier: reload failed: %s (generation %lld stays)\n",
			error,
			(long long)json_integer_value(
				json_object_get(doc, "generation")));
	else if (pending > 0)
		fprintf(stderr,
			"kurier: reload: %zu of %zu workers did not report "
			"in time\n",
			pending, json_array_size(workers));
	else {
		printf("reloaded: generation %lld on %zu workers%s\n",
		       (long long)json_integer_value(
			       json_object_get(doc, "generation")),
		       json_array_size(workers),
		       json_is_false(json_object_get(doc, "enabled"))
			       ? " (antispam disabled)"
			       : "");
		rc = KR_CLI_OK;
	}
	json_decref(doc);
	return rc;
}

int
kr_cli_reload_run(const char *config_path, int argc, char **argv)
{
	struct kr_config *cfg = NULL;
	struct kr_err err = { 0 };
	int status = 0, rc;
	char *body;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "usage: kurier reload\n");
		return KR_CLI_USAGE;
	}
	if (kr_config_load(config_path, &cfg, &err) < 0) {
		fprintf(stderr, "kurier: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	body = kr_cli_http_request(cfg, "POST", "/api/reload", RELOAD_TIMEOUT_S,
				   &status, &err);
	kr_config_destroy(&cfg);
	if (body == NULL) {
		fprintf(stderr, "kurier: reload: %s\n", err.msg);
		return KR_CLI_FAIL;
	}
	if (status == 401)
		fprintf(stderr, "kurier: reload: the admin port refused the "
				"[admin] token\n");
	rc = status == 401 ? KR_CLI_FAIL : reload_report(status, body);
	free(body);
	return rc == KR_CLI_OK && fflush(stdout) == 0 ? KR_CLI_OK : rc;
}
