/* The shared ring of recent WARN/ERROR log lines: a header with the
 * next position and n sequence-locked entries in one shared anonymous
 * mapping. */
#include "lib/logring.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

/* A reader retries an entry being written this often, yielding the CPU
 * after the first LOGRING_SPIN_FAST so a preempted writer can finish;
 * then it leaves the entry out rather than wait for it. */
#define LOGRING_SPIN_FAST 16
#define LOGRING_SPIN_MAX 256
/* A writer claims an entry in this many compare-and-swap rounds or
 * drops its line (only racing writers make a round fail). */
#define LOGRING_CLAIM_TRIES 8

static const char logring_cut_mark[] = " truncated=1";

/* seq of an entry: 0 never written; 2p+1 while position p is written
 * into it; 2p+2 once position p is in it. */
struct logring_slot {
	_Alignas(64) _Atomic uint64_t seq;
	struct kr_logring_entry e;
};

struct kr_logring {
	size_t map_size;
	unsigned n;
	_Alignas(64) _Atomic uint64_t next; /* the next position to claim */
	/* slots follow, at logring_slots_off() */
};

static size_t
logring_slots_off(void)
{
	size_t a = _Alignof(struct logring_slot);

	return (sizeof(struct kr_logring) + a - 1) / a * a;
}

static struct logring_slot *
logring_slot(const struct kr_logring *ring, uint64_t pos)
{
	return (struct logring_slot *)((char *)ring + logring_slots_off()) +
	       pos % ring->n;
}

int
kr_logring_create(unsigned n, struct kr_logring **ring_r, struct kr_err *err_r)
{
	struct kr_logring *ring;
	size_t size;
	void *p;

	*ring_r = NULL;
	if (n == 0 || n > KR_LOGRING_ENTRIES_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "log ring: entries must be 1..%u",
				  KR_LOGRING_ENTRIES_MAX);
	size = logring_slots_off() + (size_t)n * sizeof(struct logring_slot);
	/* Zero-filled by the kernel: every entry never written. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "log ring: mmap of %zu bytes: %s", size,
				  strerror(errno));
	ring = p;
	ring->map_size = size;
	ring->n = n;
	*ring_r = ring;
	return 0;
}

void
kr_logring_destroy(struct kr_logring **ring_p)
{
	if (ring_p == NULL || *ring_p == NULL)
		return;
	munmap(*ring_p, (*ring_p)->map_size);
	*ring_p = NULL;
}

unsigned
kr_logring_entries(const struct kr_logring *ring)
{
	return ring->n;
}

/* Takes slot s for position pos: true when it is ours to write. False
 * when a newer position is already in it or another writer is inside
 * it: we do not wait. A writer that died inside an entry (killed
 * within those few hundred nanoseconds) leaves it odd for good: that
 * one entry is lost to the ring, the others go on. Taking it over
 * instead could let a writer that was only preempted finish its copy
 * over the new line, and a reader take the mix for a whole entry. */
static bool
logring_claim(struct logring_slot *s, uint64_t pos)
{
	uint64_t cur = atomic_load_explicit(&s->seq, memory_order_relaxed);

	for (unsigned t = 0; t < LOGRING_CLAIM_TRIES; t++) {
		if ((cur & 1) || (cur != 0 && (cur - 2) / 2 >= pos))
			return false;
		if (atomic_compare_exchange_weak_explicit(
			    &s->seq, &cur, 2 * pos + 1, memory_order_relaxed,
			    memory_order_relaxed))
			return true;
	}
	return false;
}

/* Copies at most size - 1 bytes of s and a NUL. */
static void
logring_copy(char *dst, size_t size, const char *s, size_t len)
{
	if (len > size - 1)
		len = size - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

static void
logring_fill(struct kr_logring_entry *e, uint64_t pos, int64_t ts_ms,
	     enum kr_log_level level, const char *proc, const char *event,
	     const char *line, size_t len)
{
	e->seq = pos;
	e->ts_ms = ts_ms;
	e->level = level;
	logring_copy(e->proc, sizeof(e->proc), proc, strlen(proc));
	logring_copy(e->event, sizeof(e->event), event, strlen(event));
	e->cut = len > sizeof(e->line) - 1;
	if (!e->cut) {
		logring_copy(e->line, sizeof(e->line), line, len);
		return;
	}
	/* The head of the line says what happened; the mark says that
	 * more was said. */
	len = sizeof(e->line) - sizeof(logring_cut_mark);
	memcpy(e->line, line, len);
	memcpy(e->line + len, logring_cut_mark, sizeof(logring_cut_mark));
}

void
kr_logring_add(struct kr_logring *ring, int64_t ts_ms, enum kr_log_level level,
	       const char *proc, const char *event, const char *line,
	       size_t len)
{
	struct logring_slot *s;
	uint64_t pos;

	if (ring == NULL || level < KR_LOG_WARN || level > KR_LOG_ERROR)
		return;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	pos = atomic_fetch_add_explicit(&ring->next, 1, memory_order_relaxed);
	s = logring_slot(ring, pos);
	if (!logring_claim(s, pos))
		return;
	/* The odd count is visible before any byte of the copy. */
	atomic_thread_fence(memory_order_release);
	logring_fill(&s->e, pos, ts_ms, level, proc != NULL ? proc : "",
		     event != NULL ? event : "", line, len);
	atomic_store_explicit(&s->seq, 2 * pos + 2, memory_order_release);
}

/* Copies position pos into *e_r: 0, or -1 when the entry holds another
 * position by now, or could not be had whole in LOGRING_SPIN_MAX
 * tries. */
static int
logring_read_one(const struct kr_logring *ring, uint64_t pos,
		 struct kr_logring_entry *e_r)
{
	struct logring_slot *s = logring_slot(ring, pos);
	uint64_t want = 2 * pos + 2;
	bool whole = false;

	for (unsigned tries = 0; tries < LOGRING_SPIN_MAX && !whole; tries++) {
		uint64_t before;

		if (tries >= LOGRING_SPIN_FAST)
			sched_yield();
		before = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (before == want - 1)
			continue; /* being written: worth a retry */
		if (before != want)
			return -1; /* dropped, or overwritten since */
		memcpy(e_r, &s->e, sizeof(*e_r));
		/* The copy is done before the count is read again. */
		atomic_thread_fence(memory_order_acquire);
		whole = atomic_load_explicit(&s->seq, memory_order_relaxed) ==
			before;
	}
	if (!whole)
		return -1;
	/* Well-formed even should the region be scribbled on. */
	e_r->proc[sizeof(e_r->proc) - 1] = '\0';
	e_r->event[sizeof(e_r->event) - 1] = '\0';
	e_r->line[sizeof(e_r->line) - 1] = '\0';
	if (e_r->seq != pos || e_r->level < KR_LOG_WARN ||
	    e_r->level > KR_LOG_ERROR)
		return -1;
	return 0;
}

size_t
kr_logring_read(const struct kr_logring *ring, struct kr_logring_entry *out,
		size_t max)
{
	uint64_t next, oldest;
	size_t n = 0;

	if (ring == NULL)
		return 0;
	next = atomic_load_explicit(&ring->next, memory_order_acquire);
	oldest = next > ring->n ? next - ring->n : 0;
	for (uint64_t p = next; p > oldest && n < max; p--)
		if (logring_read_one(ring, p - 1, &out[n]) == 0)
			n++;
	return n;
}
