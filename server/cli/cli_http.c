/* The CLI's blocking admin-port client: connect, one request, read until
 * the server closes (it answers Connection: close with Content-Length).
 * Timeouts are socket options, so that no step can hang. */
#include "server/cli/cli_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/err.h"

int
kr_cli_http_target(const char *listen, char *host, size_t host_max,
		   unsigned *port_r)
{
	char h[64];

	if (kr_config_parse_addr(listen, h, sizeof(h), port_r) < 0)
		return -1;
	/* A wildcard listener is reached on loopback. */
	if (strcmp(h, "0.0.0.0") == 0)
		snprintf(h, sizeof(h), "127.0.0.1");
	else if (strcmp(h, "::") == 0)
		snprintf(h, sizeof(h), "::1");
	if (strlen(h) >= host_max)
		return -1;
	snprintf(host, host_max, "%s", h);
	return 0;
}

static int
http_connect(const char *listen, int timeout_s, struct kr_err *err_r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV },
			*ai = NULL;
	struct timeval tv = { .tv_sec = timeout_s };
	char host[64], port[8];
	unsigned port_n;
	int fd = -1, rc;

	if (kr_cli_http_target(listen, host, sizeof(host), &port_n) < 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "[admin] listen: not host:port");
	snprintf(port, sizeof(port), "%u", port_n);
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
http_send(int fd, const char *req, size_t len, struct kr_err *err_r)
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
http_recv(int fd, struct kr_err *err_r)
{
	size_t cap = 4096, len = 0;
	char *buf = kr_xmalloc(cap);

	for (;;) {
		ssize_t n;

		if (cap - len < 2) {
			if (cap >= KR_CLI_HTTP_ANSWER_MAX) {
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
	return buf;
}

char *
kr_cli_http_request(const struct kr_config *cfg, const char *method,
		    const char *path, int timeout_s, int *status_r,
		    struct kr_err *err_r)
{
	char *req = NULL, *answer, *body;
	int fd, n;

	if (cfg->admin.token == NULL) {
		kr_err_set(err_r, KR_ERR_PERMANENT,
			   "%s: no [admin] token (start kurierd once)",
			   cfg->path);
		return NULL;
	}
	fd = http_connect(cfg->admin.listen, timeout_s, err_r);
	if (fd < 0)
		return NULL;
	n = asprintf(&req,
		     "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer "
		     "%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		     method, path, cfg->admin.listen, cfg->admin.token);
	if (n < 0)
		kr_panic("out of memory");
	answer = http_send(fd, req, (size_t)n, err_r) == 0
			 ? http_recv(fd, err_r)
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
