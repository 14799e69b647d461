/* Restart intensity, as an OTP supervisor keeps it: more than
 * `intensity` restarts within `period_ms` means the fault is not
 * transient and the service should stop loudly instead of looping.
 * Master loop only. */
#ifndef KR_RESTART_H
#define KR_RESTART_H

#include <stdbool.h>
#include <stdint.h>

struct kr_restart;

struct kr_restart *kr_restart_create(unsigned intensity, int64_t period_ms);
void kr_restart_destroy(struct kr_restart **r);
/* Records a restart at now_ms. Returns false when it is one too many:
 * the (intensity + 1)th within period_ms. */
bool kr_restart_record(struct kr_restart *r, int64_t now_ms);
/* Restarts recorded within the period ending at now_ms. */
unsigned kr_restart_recent(const struct kr_restart *r, int64_t now_ms);

#endif
