/* The master process (SPEC.md §2): opens the listening sockets, forks
 * the workers (which drop root, SPEC.md §6) and supervises them like an
 * OTP supervisor that never gives up: a crashed worker is restarted;
 * more than R restarts in T mark the service unhealthy (logged, shown in
 * /metrics and /api/workers) and further restarts back off
 * (server/restart.h). It cycles workers past max_requests or max_rss
 * (replacement first, then the old one drains), serves the admin
 * endpoint, reloads on SIGHUP and drains on SIGTERM/SIGINT. Its own
 * loop, one thread. */
#ifndef KR_MASTER_H
#define KR_MASTER_H

#include "server/runtime.h"

/* Runs until stopped by a signal. Returns the exit status: 0 after a
 * clean drain, 1 when start-up failed (never because workers crash). In
 * forked workers it does not return: the worker exits from inside. */
int kr_master_run(struct kr_runtime *rt);

#endif
