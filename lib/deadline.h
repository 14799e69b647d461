/* Deadlines: an absolute point on the monotonic clock. Every wait in
 * kurier has one (STYLE.md §6). Plain values; any thread. Functions
 * take `now_us` so tests drive time without sleeping. */
#ifndef KR_DEADLINE_H
#define KR_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

struct kr_deadline {
	int64_t at_us; /* kr_clock_mono_us() scale */
};

/* A deadline `ms` milliseconds after now_us (negative ms counts as 0). */
struct kr_deadline kr_deadline_after(int64_t now_us, int64_t ms);
bool kr_deadline_expired(struct kr_deadline d, int64_t now_us);
/* Milliseconds left, rounded up, 0 once expired. */
int64_t kr_deadline_left_ms(struct kr_deadline d, int64_t now_us);
/* Time left as a timeval for event_add(); zero once expired. */
void kr_deadline_timeval(struct kr_deadline d, int64_t now_us,
			 struct timeval *tv_r);
/* The earlier of the two: a sub-request never outlives its parent. */
struct kr_deadline kr_deadline_min(struct kr_deadline a, struct kr_deadline b);

#endif
