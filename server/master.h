/* The master process (SPEC.md §2): opens the listening sockets, forks
 * the workers and supervises them like an OTP supervisor (restart a
 * crashed worker; more than R restarts in T stops the service with exit
 * status 1), cycles workers past max_requests or max_rss (replacement
 * first, then the old one drains), serves the admin endpoint, reloads on
 * SIGHUP and drains on SIGTERM/SIGINT. Its own loop, one thread. */
#ifndef KR_MASTER_H
#define KR_MASTER_H

#include "server/runtime.h"

/* Runs until stopped. Returns the exit status: 0 after a clean drain,
 * 1 when restart intensity was exceeded or start-up failed. In forked
 * workers it does not return: the worker exits from inside. */
int kr_master_run(struct kr_runtime *rt);

#endif
