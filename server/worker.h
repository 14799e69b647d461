/* A worker process: one libevent loop serving the shared listening
 * sockets, its io and cpu thread pools, and a heartbeat that writes its
 * figures into its metrics slot. Entered in the child right after the
 * master forks it; returns the process exit status. */
#ifndef KR_WORKER_H
#define KR_WORKER_H

#include <sys/types.h>

#include "server/runtime.h"

/* index: worker number (stable across restarts); slot: its metrics
 * slot, already claimed by the master. Runs until SIGTERM/SIGINT (drain,
 * then 0) or the master dies. */
int kr_worker_run(struct kr_runtime *rt, unsigned index,
		  struct kr_metrics_slot *slot, pid_t master_pid);

#endif
