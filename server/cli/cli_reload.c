/* kurier reload: a small blocking HTTP/1.1 client for the admin port,
 * one request per connection (Connection: close). */
#include "server/cli/cli_reload.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/config.h"
#include "server/cli/cli.h"

/* The admin waits up to 30 s for the workers; a little more here. */
#define RELOAD_TIMEOUT_S 40
/* The answer lists every worker: far below this. */
#define RELOAD_ANSWER_MAX (1u << 20)

/* "host:port" or "[v6]:port" into host and port; a wildcard listener
 * is reached on loopback. */
static int
reload_split(const char *listen, char *host, size_t host_max, char *port,
	     size_t port_max)
{
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t len;

	if (colon == NULL)
		return -1;
	len = (size_t)(colon - listen);
	if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
		h++;
		len -= 2;
	}
	if (len == 0 || len >= host_max || strlen(colon + 1) >= port_max)
		return -1;
	snprintf(host, host_max, "%.*s", (int)len, h);
	snprintf(port, port_max, "%s", colon + 1);
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
		snprintf(host, host_max, "127.0.0.1");
	else if (strcmp(host, "::") == 0)
		snprintf(host, host_max, "::1");
	return 0;
}

static int
reload_connect(const char *listen, struct kr_err *err_r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct timeval tv = { .tv_sec = RELOAD_TIMEOUT_S };
	char host[256], port[16];
	int fd = -1, rc;

	if (reload_split(listen, host, sizeof(host), port, sizeof(port)) < 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "[admin] listen: not host:port");
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "%s: %s", listen,
				  gai_strerror(rc));
	for (struct addrinfo *a = ai; a != NULL && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			rc = errno;
			close(fd);
			fd = -1;
			errno = rc;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return kr_err_set(err_r, KR_ERR_TEMPORARY,
				  "cannot reach kurierd's admin port %s: %m",
				  listen);
	return fd;
}

static int
reload_send(int fd, const char *req, size_t len, struct kr_err *err_r)
{
	while (len > 0) {
		ssize_t n = send(fd, req, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kr_err_set(err_r, KR_ERR_TEMPORARY,
					  "admin port: send: %m");
		req += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The whole answer (until the server closes), NUL-terminated. */
static char *
reload_recv(int fd, size_t *len_r, struct kr_err *err_r)
{
	size_t cap = 4096, len = 0;
	char *buf = kr_xmalloc(cap);

	for (;;) {
		ssize_t n;

		if (cap - len < 2) {
			if (cap >= RELOAD_ANSWER_MAX) {
				free(buf);
				kr_err_set(err_r, KR_ERR_LIMIT,
					   "admin port: answer too long");
				return NULL;
			}
			cap *= 2;
			buf = kr_xrealloc(buf, cap);
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			kr_err_set(err_r, KR_ERR_TIMEOUT, "admin port: %s",
				   errno == EAGAIN ? "no answer in time"
						   : strerror(errno));
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*len_r = len;
	return buf;
}

/* POST path with the token; the status and the body (after the head;
 * the server sends Content-Length and closes). */
static char *
reload_post(const struct kr_config *cfg, const char *path, int *status_r,
	    struct kr_err *err_r)
{
	char *req = NULL, *answer, *body;
	size_t len;
	int fd, n;

	if (cfg->admin.token == NULL) {
		kr_err_set(err_r, KR_ERR_PERMANENT,
			   "%s: no [admin] token (start kurierd once)",
			   cfg->path);
		return NULL;
	}
	fd = reload_connect(cfg->admin.listen, err_r);
	if (fd < 0)
		return NULL;
	n = asprintf(&req,
		     "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer "
		     "%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		     path, cfg->admin.listen, cfg->admin.token);
	if (n < 0)
		kr_panic("out of memory");
	answer = reload_send(fd, req, (size_t)n, err_r) == 0
			 ? reload_recv(fd, &len, err_r)
			 : NULL;
	explicit_bzero(req, (size_t)n);
	free(req);
	close(fd);
	if (answer == NULL)
		return NULL;
	body = strstr(answer, "\r\n\r\n");
	if (sscanf(answer, "HTTP/1.%*d %d", status_r) != 1 || body == NULL) {
		free(answer);
		kr_err_set(err_r, KR_ERR_PERMANENT,
			   "admin port: not an HTTP answer");
		return NULL;
	}
	memmove(answer, body + 4, strlen(body + 4) + 1);
	return answer;
}

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
	body = reload_post(cfg, "/api/reload", &status, &err);
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
