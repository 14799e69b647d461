/* Clocks: monotonic for deadlines and latencies, wall for log stamps.
 * Any thread. */
#ifndef KR_CLOCK_H
#define KR_CLOCK_H

#include <stdint.h>

int64_t kr_clock_mono_us(void);
int64_t kr_clock_mono_ms(void);
/* Milliseconds since the Unix epoch. */
int64_t kr_clock_wall_ms(void);

#endif
