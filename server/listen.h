/* Listening sockets, opened by the master before it forks so every
 * worker accepts on the same ones. Blocking calls; start-up only. */
#ifndef KR_LISTEN_H
#define KR_LISTEN_H

#include "lib/err.h"

/* Opens a non-blocking TCP listener on "host:port" / "[v6]:port" with
 * SO_REUSEADDR. Returns the fd, or -1 + err_r naming the address. */
int kr_listen_tcp(const char *addr, int backlog, struct kr_err *err_r);

/* Opens a non-blocking unix stream listener at path, replacing a stale
 * socket file, mode 0660. Returns the fd, or -1 + err_r. */
int kr_listen_unix(const char *path, int backlog, struct kr_err *err_r);

#endif
