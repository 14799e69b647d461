/* The antispam status region: a header and one sequence-locked entry
 * per worker slot in one shared anonymous mapping. */
#include "antispam/status.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "antispam/antispam.h"
#include "lib/clock.h"

/* A read retries this often before it gives up: the first
 * STATUS_SPIN_FAST at once, the rest after yielding the CPU, so that a
 * writer preempted mid-copy gets to finish. A copy is a few hundred
 * bytes; running out means the writer died inside one. */
#define STATUS_SPIN_FAST 64
#define STATUS_SPIN_MAX 4096

struct status_slot {
	/* Odd while the writer copies. */
	_Alignas(64) _Atomic uint64_t seq;
	struct kr_antispam_status_entry e;
};

struct kr_antispam_status {
	size_t map_size;
	unsigned n;
	/* slots follow, at status_slots_off() */
};

static size_t
status_slots_off(void)
{
	size_t a = _Alignof(struct status_slot);

	return (sizeof(struct kr_antispam_status) + a - 1) / a * a;
}

static struct status_slot *
status_slot(const struct kr_antispam_status *st, unsigned i)
{
	return (struct status_slot *)((char *)st + status_slots_off()) + i;
}

int
kr_antispam_status_create(unsigned n, struct kr_antispam_status **st_r,
			  struct kr_err *err_r)
{
	struct kr_antispam_status *st;
	size_t size;
	void *p;

	*st_r = NULL;
	if (n == 0 || n > KR_ANTISPAM_STATUS_ENTRIES_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "antispam status: entries must be 1..%u",
				  KR_ANTISPAM_STATUS_ENTRIES_MAX);
	size = status_slots_off() + (size_t)n * sizeof(struct status_slot);
	/* Zero-filled by the kernel: every entry unclaimed and even. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "antispam status: mmap of %zu bytes: %s",
				  size, strerror(errno));
	st = p;
	st->map_size = size;
	st->n = n;
	*st_r = st;
	return 0;
}

void
kr_antispam_status_destroy(struct kr_antispam_status **st_p)
{
	if (st_p == NULL || *st_p == NULL)
		return;
	munmap(*st_p, (*st_p)->map_size);
	*st_p = NULL;
}

unsigned
kr_antispam_status_entries(const struct kr_antispam_status *st)
{
	return st->n;
}

static void
status_bound_modules(struct kr_antispam_status_module *mods, unsigned *n)
{
	if (*n > KR_ANTISPAM_STATUS_MODULES_MAX)
		*n = KR_ANTISPAM_STATUS_MODULES_MAX;
	for (unsigned m = 0; m < KR_ANTISPAM_STATUS_MODULES_MAX; m++) {
		mods[m].name[KR_ANTISPAM_STATUS_NAME_MAX - 1] = '\0';
		mods[m].version[KR_ANTISPAM_STATUS_VERSION_MAX - 1] = '\0';
	}
}

/* Every count within its array, every string terminated: what a
 * reader gets is safe to walk whatever the writer handed in. */
static void
status_bound(struct kr_antispam_status_entry *e)
{
	e->last_error[KR_ANTISPAM_STATUS_ERROR_MAX - 1] = '\0';
	status_bound_modules(e->modules, &e->n_modules);
	if (e->n_generations > KR_ANTISPAM_STATUS_GENERATIONS_MAX)
		e->n_generations = KR_ANTISPAM_STATUS_GENERATIONS_MAX;
	for (unsigned g = 0; g < KR_ANTISPAM_STATUS_GENERATIONS_MAX; g++)
		status_bound_modules(e->generations[g].modules,
				     &e->generations[g].n_modules);
}

void
kr_antispam_status_write(struct kr_antispam_status *st, unsigned i,
			 const struct kr_antispam_status_entry *e)
{
	struct status_slot *s;
	uint64_t seq;

	if (i >= st->n)
		return;
	s = status_slot(st, i);
	seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
	/* An odd count left by a writer that died: start even again. */
	seq += 1 + (seq & 1);
	atomic_store_explicit(&s->seq, seq, memory_order_relaxed);
	/* The odd count is visible before any byte of the copy. */
	atomic_thread_fence(memory_order_release);
	memcpy(&s->e, e, sizeof(s->e));
	status_bound(&s->e);
	atomic_store_explicit(&s->seq, seq + 1, memory_order_release);
}

int
kr_antispam_status_read(const struct kr_antispam_status *st, unsigned i,
			struct kr_antispam_status_entry *e_r)
{
	struct status_slot *s;

	if (i >= st->n)
		return -1;
	s = status_slot(st, i);
	for (unsigned tries = 0; tries < STATUS_SPIN_MAX; tries++) {
		uint64_t before, after;

		if (tries >= STATUS_SPIN_FAST)
			sched_yield();
		before = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (before & 1)
			continue;
		memcpy(e_r, &s->e, sizeof(*e_r));
		/* The copy is done before the count is read again. */
		atomic_thread_fence(memory_order_acquire);
		after = atomic_load_explicit(&s->seq, memory_order_relaxed);
		if (before == after)
			return 0;
	}
	return -1;
}

void
kr_antispam_status_claim(struct kr_antispam_status *st, unsigned i, pid_t pid,
			 unsigned index)
{
	struct kr_antispam_status_entry e = { .pid = pid, .index = index };

	if (st != NULL)
		kr_antispam_status_write(st, i, &e);
}

/* Open generation i of the host into g; its modules into mods too. */
static void
status_gen(struct kr_antispam_status_gen *g, const struct kr_antispam *as,
	   size_t i, const struct kr_antispam_gen_info *info)
{
	const char *name, *version;
	uint64_t opened;

	g->id = info->id;
	g->loaded_at_ms = info->loaded_at_ms;
	g->in_flight = info->in_flight;
	g->current = info->current;
	for (size_t m = 0; m < KR_ANTISPAM_STATUS_MODULES_MAX &&
			   kr_antispam_open_generation_module(
				   as, i, m, &name, &version, &opened) == 0;
	     m++) {
		struct kr_antispam_status_module *sm = &g->modules[m];

		snprintf(sm->name, sizeof(sm->name), "%s", name);
		snprintf(sm->version, sizeof(sm->version), "%s", version);
		sm->generation = opened;
		g->n_modules = (unsigned)m + 1;
	}
}

/* The host's open generations into e, newest first; the current one's
 * modules into e->modules as well. */
static void
status_from_host(struct kr_antispam_status_entry *e,
		 const struct kr_antispam *as)
{
	struct kr_antispam_gen_info info;

	e->generation = kr_antispam_generation(as);
	e->open_generations = kr_antispam_open_generations(as);
	for (size_t i = 0; i < KR_ANTISPAM_STATUS_GENERATIONS_MAX &&
			   kr_antispam_open_generation(as, i, &info) == 0;
	     i++) {
		struct kr_antispam_status_gen *g = &e->generations[i];

		status_gen(g, as, i, &info);
		e->n_generations = (unsigned)i + 1;
		if (!info.current)
			continue;
		e->n_modules = g->n_modules;
		memcpy(e->modules, g->modules, sizeof(e->modules));
	}
}

void
kr_antispam_status_publish(struct kr_antispam_status *st, unsigned i,
			   bool enabled, const struct kr_antispam *as,
			   const char *error, bool attempt)
{
	struct kr_antispam_status_entry e;

	if (st == NULL || i >= st->n)
		return;
	/* Our own entry: nobody else writes it, no lock needed to read. */
	e = (struct kr_antispam_status_entry){
		.pid = status_slot(st, i)->e.pid,
		.index = status_slot(st, i)->e.index,
		.reload_seq = status_slot(st, i)->e.reload_seq + attempt,
		.enabled = enabled,
	};
	if (as != NULL)
		status_from_host(&e, as);
	if (error == NULL)
		error = as != NULL ? kr_antispam_last_error(as) : "";
	snprintf(e.last_error, sizeof(e.last_error), "%s", error);
	/* An error keeps its time when merely published again (a
	 * generation closed): that does not make it the latest of all
	 * workers; a reload attempt that failed again does. */
	if (e.last_error[0] == '\0')
		e.error_ms = 0;
	else if (!attempt &&
		 strcmp(e.last_error, status_slot(st, i)->e.last_error) == 0)
		e.error_ms = status_slot(st, i)->e.error_ms;
	else
		e.error_ms = kr_clock_wall_ms();
	kr_antispam_status_write(st, i, &e);
}
