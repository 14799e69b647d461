/* Listening sockets. */
#include "server/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/config.h"

static int
listen_sockaddr(const char *addr, struct sockaddr_storage *ss, socklen_t *len_r,
		struct kr_err *err_r)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[64];
	unsigned port;

	if (kr_config_parse_addr(addr, host, sizeof(host), &port) < 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "listen: bad address '%s'", addr);
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len_r = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len_r = sizeof(*in6);
		return 0;
	}
	return kr_err_set(err_r, KR_ERR_PERMANENT, "listen: bad host in '%s'",
			  addr);
}

int
kr_listen_tcp(const char *addr, int backlog, struct kr_err *err_r)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int fd, one = 1;

	if (listen_sockaddr(addr, &ss, &len, err_r) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "socket %s: %s",
				  addr, strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, backlog) < 0) {
		int saved = errno;

		close(fd);
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "listen on %s: %s",
				  addr, strerror(saved));
	}
	return fd;
}

int
kr_listen_unix(const char *path, int backlog, struct kr_err *err_r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "listen: unix socket path too long: %s",
				  path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* Only a socket left by an earlier run is replaced, never a file. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "socket %s: %s",
				  path, strerror(errno));
	/* Connecting needs write permission on the socket: Postfix's lmtp
	 * client runs as its own user. Who may reach it is decided by the
	 * directory it lives in (as with Dovecot's lmtp socket). */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, 0666) < 0 || listen(fd, backlog) < 0) {
		int saved = errno;

		close(fd);
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "listen on %s: %s",
				  path, strerror(saved));
	}
	return fd;
}
