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
	s->e.last_error[KR_ANTISPAM_STATUS_ERROR_MAX - 1] = '\0';
	if (s->e.n_modules > KR_ANTISPAM_STATUS_MODULES_MAX)
		s->e.n_modules = KR_ANTISPAM_STATUS_MODULES_MAX;
	for (unsigned m = 0; m < KR_ANTISPAM_STATUS_MODULES_MAX; m++)
		s->e.modules[m].name[KR_ANTISPAM_STATUS_NAME_MAX - 1] = '\0';
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

/* The host's current generation into e. */
static void
status_from_host(struct kr_antispam_status_entry *e,
		 const struct kr_antispam *as)
{
	const char *name;
	uint64_t gen;

	e->generation = kr_antispam_generation(as);
	e->open_generations = kr_antispam_open_generations(as);
	for (size_t m = 0; m < KR_ANTISPAM_STATUS_MODULES_MAX &&
			   kr_antispam_module(as, m, &name, &gen) == 0;
	     m++) {
		snprintf(e->modules[m].name, sizeof(e->modules[m].name), "%s",
			 name);
		e->modules[m].generation = gen;
		e->n_modules = (unsigned)m + 1;
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
	kr_antispam_status_write(st, i, &e);
}
