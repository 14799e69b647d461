/* Restart intensity: a ring of the last intensity + 1 restart times. */
#include "server/restart.h"

#include <stdlib.h>

#include "lib/err.h"

struct kr_restart {
	unsigned intensity;
	int64_t period_ms;
	unsigned n;    /* entries used, <= intensity + 1 */
	unsigned head; /* next write position */
	int64_t times[];
};

struct kr_restart *
kr_restart_create(unsigned intensity, int64_t period_ms)
{
	struct kr_restart *r = kr_xcalloc(
		1, sizeof(*r) + ((size_t)intensity + 1) * sizeof(int64_t));

	r->intensity = intensity;
	r->period_ms = period_ms;
	return r;
}

void
kr_restart_destroy(struct kr_restart **r)
{
	free(*r);
	*r = NULL;
}

unsigned
kr_restart_recent(const struct kr_restart *r, int64_t now_ms)
{
	unsigned count = 0;

	for (unsigned i = 0; i < r->n; i++)
		if (now_ms - r->times[i] < r->period_ms)
			count++;
	return count;
}

bool
kr_restart_record(struct kr_restart *r, int64_t now_ms)
{
	unsigned cap = r->intensity + 1;

	r->times[r->head] = now_ms;
	r->head = (r->head + 1) % cap;
	if (r->n < cap)
		r->n++;
	return kr_restart_recent(r, now_ms) <= r->intensity;
}
