/* Deadlines on the monotonic clock. */
#include "lib/deadline.h"

struct kr_deadline
kr_deadline_after(int64_t now_us, int64_t ms)
{
	struct kr_deadline d;

	if (ms < 0)
		ms = 0;
	/* Saturate instead of overflowing on absurd configured values. */
	if (ms > (INT64_MAX - now_us) / 1000)
		d.at_us = INT64_MAX;
	else
		d.at_us = now_us + ms * 1000;
	return d;
}

bool
kr_deadline_expired(struct kr_deadline d, int64_t now_us)
{
	return now_us >= d.at_us;
}

int64_t
kr_deadline_left_ms(struct kr_deadline d, int64_t now_us)
{
	if (now_us >= d.at_us)
		return 0;
	return (d.at_us - now_us + 999) / 1000;
}

void
kr_deadline_timeval(struct kr_deadline d, int64_t now_us, struct timeval *tv_r)
{
	int64_t left = now_us >= d.at_us ? 0 : d.at_us - now_us;

	tv_r->tv_sec = (time_t)(left / 1000000);
	tv_r->tv_usec = (suseconds_t)(left % 1000000);
}

struct kr_deadline
kr_deadline_min(struct kr_deadline a, struct kr_deadline b)
{
	return a.at_us <= b.at_us ? a : b;
}
