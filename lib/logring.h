/* The recent errors (SPEC.md §3.3, /api/errors): a ring of the last
 * log lines at WARN or above from every kurierd process, in one shared
 * anonymous mapping the master makes before it forks, so the admin
 * reads them without asking a worker.
 *
 * Any process adds at any time: it claims a position with one atomic
 * add on a shared counter and writes that position's entry under the
 * entry's sequence lock. A writer never waits: when another writer is
 * still inside the entry it drops its line. A reader copies each entry
 * between two equal even readings of the lock and skips entries being
 * written or torn. No system call on either side. */
#ifndef KR_LOGRING_H
#define KR_LOGRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/log.h"

/* Lines the ring keeps by default, and the most a ring may keep. */
#define KR_LOGRING_ENTRIES 128
#define KR_LOGRING_ENTRIES_MAX 65536
/* Bounds of one entry, NUL included: the line (a longer one is cut and
 * ends in " truncated=1"), the process name and the event name (longer
 * ones are cut). */
#define KR_LOGRING_LINE_MAX 512
#define KR_LOGRING_PROC_MAX 32
#define KR_LOGRING_EVENT_MAX 64

struct kr_logring;

/* One line as read; every string NUL-terminated. */
struct kr_logring_entry {
	uint64_t seq; /* position in the ring's history (0, 1, ...) */
	int64_t ts_ms;
	enum kr_log_level level; /* KR_LOG_WARN or KR_LOG_ERROR */
	bool cut;		 /* the line was longer and is cut */
	char proc[KR_LOGRING_PROC_MAX];
	char event[KR_LOGRING_EVENT_MAX];
	char line[KR_LOGRING_LINE_MAX]; /* without the newline */
};

/* A ring of n entries (1..KR_LOGRING_ENTRIES_MAX), empty. -1 + err_r
 * when n is out of range or the mapping fails. */
int kr_logring_create(unsigned n, struct kr_logring **ring_r,
		      struct kr_err *err_r);
/* Unmaps the ring in this process; sets *ring to NULL (NULL is fine). */
void kr_logring_destroy(struct kr_logring **ring);
unsigned kr_logring_entries(const struct kr_logring *ring);

/* Adds one line (len bytes, no NUL needed; a trailing newline is
 * dropped) unless level is below KR_LOG_WARN. proc and event are
 * NUL-terminated, copied (event may be NULL: ""). Safe from any
 * process and thread at once; never blocks. */
void kr_logring_add(struct kr_logring *ring, int64_t ts_ms,
		    enum kr_log_level level, const char *proc,
		    const char *event, const char *line, size_t len);
/* Copies up to max of the newest lines into out, newest first, and
 * returns how many. Entries being written at that moment are left out. */
size_t kr_logring_read(const struct kr_logring *ring,
		       struct kr_logring_entry *out, size_t max);

#endif
