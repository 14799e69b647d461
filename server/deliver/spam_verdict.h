/* The antispam host (antispam/antispam.h) as the verdict step of a
 * delivery: per recipient ham -> its folder, spam -> Junk with the
 * X-Spam-* headers, reject -> REJECTED, a rate limit -> DEFERRED; every
 * stored copy carries the host's header lines. Worker loop only. */
#ifndef KR_SPAM_VERDICT_H
#define KR_SPAM_VERDICT_H

#include "antispam/antispam.h"
#include "server/deliver/verdict.h"

/* The step for as (which outlives every delivery using the step). */
struct kr_verdict_step kr_spam_verdict_step(struct kr_antispam *as);

#endif
