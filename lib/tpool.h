/* Thread pools of SPEC.md §2: the `io` pool (k threads) for calls that
 * block, the `cpu` pool (one thread) for work that would stall the loop.
 * A pool belongs to one libevent loop, its owner: create, submit,
 * cancel and destroy happen on the owner's thread; `work` runs on a pool
 * thread; `done` always runs on the owner loop, never before submit
 * returns. The queue is bounded: a full queue is KR_ERR_OVERLOAD.
 * Reentrant: code already running on any kurier pool thread that
 * submits again gets `work` and then `done` run inline, on its own
 * thread, before the call returns (it is pool work already; dispatching
 * twice would only add a hop and could deadlock a one-thread pool). */
#ifndef KR_TPOOL_H
#define KR_TPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

struct event_base;
struct kr_tpool;
struct kr_tpool_job;

/* Runs on a pool thread (or inline, see above); must not touch loop
 * state. */
typedef void kr_tpool_work_fn(void *ctx);
/* Runs on the owner loop. status 0: work ran. status -1: the pool was
 * destroyed before the work could run; `work` was not called. */
typedef void kr_tpool_done_fn(void *ctx, int status);

struct kr_tpool_settings {
	const char *name;   /* "io", "cpu": for thread names and stats */
	unsigned threads;   /* >= 1 */
	unsigned queue_max; /* jobs waiting + running, >= 1 */
	size_t inline_max;  /* kr_tpool_cpu_if: sizes <= this run inline */
};

struct kr_tpool *kr_tpool_create(struct event_base *owner,
				 const struct kr_tpool_settings *set);
/* Stops accepting, waits for running jobs, answers never-run jobs
 * with done(ctx, -1) and delivered-but-not-yet-dispatched completions
 * with done(ctx, 0), joins the threads, sets *pool to NULL. Jobs that
 * were cancelled get no callback. */
void kr_tpool_destroy(struct kr_tpool **pool);

/* 0 on success; *job_r (optional) is a handle valid until done runs or
 * kr_tpool_cancel is called. -1 + KR_ERR_OVERLOAD when the queue is
 * full (nothing is called then). */
int kr_tpool_submit(struct kr_tpool *pool, kr_tpool_work_fn *work,
		    kr_tpool_done_fn *done, void *ctx,
		    struct kr_tpool_job **job_r, struct kr_err *err_r);
/* SPEC.md §2 cpu_if(size): when size <= inline_max, runs `work` now on
 * the caller's thread and defers `done` to the owner loop (so the
 * callback still never fires before this returns); larger sizes are
 * submitted like kr_tpool_submit. Same return contract. */
int kr_tpool_cpu_if(struct kr_tpool *pool, size_t size, kr_tpool_work_fn *work,
		    kr_tpool_done_fn *done, void *ctx,
		    struct kr_tpool_job **job_r, struct kr_err *err_r);
/* After this, `done` is never called for the job. A job not yet
 * started is dropped without running `work`; for a running one this
 * waits until `work` returns (so its context may be freed right after)
 * and discards the result. Sets *job to NULL. */
void kr_tpool_cancel(struct kr_tpool_job **job);

/* True on any kurier pool thread. */
bool kr_tpool_on_pool_thread(void);

struct kr_tpool_stats {
	unsigned queued; /* waiting, not yet started */
	unsigned running;
	unsigned long long submitted;
	unsigned long long completed;
	unsigned long long rejected; /* queue full */
	unsigned long long inlined;  /* cpu_if and reentrant runs */
};
void kr_tpool_get_stats(struct kr_tpool *pool, struct kr_tpool_stats *stats_r);

#endif
