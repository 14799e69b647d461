/* The antispam host's state per worker, for the admin side (SPEC.md
 * §3.3, /api/antispam and POST /api/reload): one shared anonymous
 * mapping (MAP_SHARED|MAP_ANONYMOUS) made by the master before it
 * forks, one entry per worker slot. Each worker writes only its own
 * entry (after building its host, after each reload attempt, when a
 * generation becomes current or closes, and at most once a second
 * while the checks holding its generations come and go); the master
 * reads them without asking a worker (/api/antispam, /api/filters).
 *
 * Each entry is under a sequence lock: the writer makes the counter
 * odd, copies, makes it even; a reader copies between two equal even
 * readings, so it never sees a torn string or a generation that does
 * not belong to its module list. A writer never waits for a reader. */
#ifndef KR_ANTISPAM_STATUS_H
#define KR_ANTISPAM_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

/* Bounds of one entry: the error text (NUL included; longer ones are
 * cut), the modules listed and a module name (NUL included). */
#define KR_ANTISPAM_STATUS_ERROR_MAX 256
#define KR_ANTISPAM_STATUS_MODULES_MAX 16
#define KR_ANTISPAM_STATUS_NAME_MAX 32
/* A module's version text (NUL included; longer ones are cut) and the
 * open generations listed (the newest ones: the current one first). */
#define KR_ANTISPAM_STATUS_VERSION_MAX 64
#define KR_ANTISPAM_STATUS_GENERATIONS_MAX 8
/* The most entries a region may have. */
#define KR_ANTISPAM_STATUS_ENTRIES_MAX 1024

struct kr_antispam;
struct kr_antispam_status;

struct kr_antispam_status_module {
	char name[KR_ANTISPAM_STATUS_NAME_MAX];
	char version[KR_ANTISPAM_STATUS_VERSION_MAX]; /* "": none given */
	uint64_t generation; /* the one that opened it */
};

/* One open generation of the worker's host. */
struct kr_antispam_status_gen {
	uint64_t id;
	int64_t loaded_at_ms; /* wall clock, when it became current */
	uint64_t in_flight;   /* checks (and trainings) holding it */
	bool current;	      /* else retiring: closes after its last */
	unsigned n_modules;
	struct kr_antispam_status_module
		modules[KR_ANTISPAM_STATUS_MODULES_MAX];
};

/* One worker's state, copied in and out whole. */
struct kr_antispam_status_entry {
	pid_t pid; /* 0: never claimed */
	unsigned index;
	bool enabled;	     /* [antispam] enabled when last written */
	uint64_t generation; /* the current one; 0: no host */
	uint64_t open_generations;
	/* Reload attempts seen (config or antispam), each counted after it
	 * is done, success or failure: a waiter sees it move. */
	uint64_t reload_seq;
	char last_error[KR_ANTISPAM_STATUS_ERROR_MAX]; /* "": none */
	/* Wall clock when last_error was first published (0: none):
	 * which worker's error is the latest. */
	int64_t error_ms;
	unsigned n_modules; /* the current generation's */
	struct kr_antispam_status_module
		modules[KR_ANTISPAM_STATUS_MODULES_MAX];
	/* Open generations, newest (the current one) first. */
	unsigned n_generations;
	struct kr_antispam_status_gen
		generations[KR_ANTISPAM_STATUS_GENERATIONS_MAX];
};

/* n entries (1..KR_ANTISPAM_STATUS_ENTRIES_MAX), all unclaimed. -1 +
 * err_r when n is out of range or the mapping fails. */
int kr_antispam_status_create(unsigned n, struct kr_antispam_status **st_r,
			      struct kr_err *err_r);
/* Unmaps the region in this process; sets *st to NULL (NULL is fine). */
void kr_antispam_status_destroy(struct kr_antispam_status **st);
unsigned kr_antispam_status_entries(const struct kr_antispam_status *st);

/* Writes entry i whole (i out of range: nothing). One writer per entry
 * at a time (the worker that owns the slot). */
void kr_antispam_status_write(struct kr_antispam_status *st, unsigned i,
			      const struct kr_antispam_status_entry *e);
/* Copies entry i into *e_r. -1 when i is out of range or no
 * consistent copy could be had after a bounded number of tries (a
 * writer that died mid-write leaves the entry odd: it reads as -1
 * until the slot's next worker claims it). */
int kr_antispam_status_read(const struct kr_antispam_status *st, unsigned i,
			    struct kr_antispam_status_entry *e_r);

/* A new worker takes entry i: pid and index, everything else zero. */
void kr_antispam_status_claim(struct kr_antispam_status *st, unsigned i,
			      pid_t pid, unsigned index);
/* The worker writes its host's state into entry i (its own): as NULL
 * when there is no host (disabled, or it could not be built); error
 * NULL: the host's last error (or "" without a host); attempt: a reload
 * attempt is done, reload_seq moves on. Lists the host's open
 * generations with their modules and holds. */
void kr_antispam_status_publish(struct kr_antispam_status *st, unsigned i,
				bool enabled, const struct kr_antispam *as,
				const char *error, bool attempt);

#endif
