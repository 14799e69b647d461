/* Readiness for a service manager (systemd's sd_notify protocol, spoken
 * directly: one datagram to the unix socket named by $NOTIFY_SOCKET).
 * The master captures the address once at start-up and takes it out of
 * the environment, so workers and helpers it forks never speak for it.
 * Without $NOTIFY_SOCKET every call is a no-op. Master only; one thread. */
#ifndef KR_NOTIFY_H
#define KR_NOTIFY_H

#include "lib/err.h"

/* Reads and unsets $NOTIFY_SOCKET ("/path" or "@abstract"). An address
 * that is not a unix socket path is -1 + err_r (and ignored after). */
int kr_notify_init(struct kr_err *err_r);

/* Sends state ("READY=1", "STOPPING=1", ...; newline-separated
 * assignments). 0 when sent or when there is nowhere to send it, -1 +
 * err_r when the datagram could not be sent. Never blocks. */
int kr_notify(const char *state, struct kr_err *err_r);

/* Forgets the address (tests). */
void kr_notify_reset(void);

#endif
