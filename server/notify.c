/* kr_notify: the sd_notify datagram, written out (no libsystemd). */
#include "server/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un notify_addr;
static socklen_t notify_len; /* 0: no service manager listening */

int
kr_notify_init(struct kr_err *err_r)
{
	const char *s = getenv("NOTIFY_SOCKET");
	size_t n;

	notify_len = 0;
	if (s == NULL || *s == '\0') {
		unsetenv("NOTIFY_SOCKET");
		return 0;
	}
	n = strlen(s);
	if ((s[0] != '/' && s[0] != '@') || n >= sizeof(notify_addr.sun_path)) {
		unsetenv("NOTIFY_SOCKET");
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "NOTIFY_SOCKET is not a unix socket path "
				  "(vsock addresses are not supported)");
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, s, n);
	/* "@name" is the abstract namespace: a leading NUL, no terminator. */
	if (s[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
				 (s[0] == '/'));
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

int
kr_notify(const char *state, struct kr_err *err_r)
{
	int fd;
	ssize_t sent;

	if (notify_len == 0)
		return 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "notify socket: %s",
				  strerror(errno));
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		      (const struct sockaddr *)&notify_addr, notify_len);
	if (sent < 0) {
		int e = errno;

		close(fd);
		return kr_err_set(err_r, KR_ERR_TEMPORARY, "notify send: %s",
				  strerror(e));
	}
	close(fd);
	return 0;
}

void
kr_notify_reset(void)
{
	notify_len = 0;
}
