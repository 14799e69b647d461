/* cmocka tests for lib/tpool. Pool threads only record what they saw;
 * every assertion runs on the test (loop) thread, and every wait is
 * bounded by WAIT_MS so a broken pool fails instead of hanging. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>

#include <event2/event.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/limits.h"
#include "lib/tpool.h"

#define WAIT_MS 5000
#define MANY_JOBS 10000

/* A point a job stops at until the test lets it go. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered; /* work reached the gate */
	bool open;    /* the test let it pass */
	bool left;    /* work is about to return */
	bool timed_out;
};

struct env;

enum rec_hook {
	REC_HOOK_NONE,
	REC_HOOK_DESTROY, /* done destroys env->pool */
	REC_HOOK_SUBMIT,  /* done submits to env->raw_pool */
};

/* One job's record of what happened to it. */
struct rec {
	struct env *env;
	struct gate *gate;
	enum rec_hook hook;
	atomic_int work_runs;
	pthread_t work_thread;
	bool work_on_pool;
	char thread_name[16];
	sigset_t work_mask;
	int done_calls;
	int status;
	pthread_t done_thread;
	int hook_rc;
	enum kr_err_kind hook_kind;
};

struct env {
	struct event_base *base;
	struct event *tick;
	pthread_t loop_thread;
	struct kr_tpool *pool;
	struct kr_tpool *raw_pool; /* for REC_HOOK_SUBMIT during destroy */
	struct kr_tpool *other;	   /* a second pool, destroyed on teardown */
	int done_total;
};

static void
gate_init(struct gate *g, bool open)
{
	pthread_condattr_t attr;

	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &attr);
	pthread_condattr_destroy(&attr);
	g->open = open;
}

static void
gate_deinit(struct gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

static void
gate_set(struct gate *g, bool *flag)
{
	pthread_mutex_lock(&g->mu);
	*flag = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Waits up to WAIT_MS for *flag; returns whether it was set. */
static bool
gate_wait(struct gate *g, const bool *flag)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&g->mu);
	while (!*flag) {
		if (pthread_cond_timedwait(&g->cv, &g->mu, &until) != 0)
			break;
	}
	ok = *flag;
	pthread_mutex_unlock(&g->mu);
	return ok;
}

static void
rec_work(void *ctx)
{
	struct rec *r = ctx;

	atomic_fetch_add(&r->work_runs, 1);
	r->work_thread = pthread_self();
	r->work_on_pool = kr_tpool_on_pool_thread();
	pthread_sigmask(SIG_BLOCK, NULL, &r->work_mask);
	if (pthread_getname_np(pthread_self(), r->thread_name,
			       sizeof(r->thread_name)) != 0)
		r->thread_name[0] = '\0';
	if (r->gate == NULL)
		return;
	gate_set(r->gate, &r->gate->entered);
	if (!gate_wait(r->gate, &r->gate->open))
		r->gate->timed_out = true;
	gate_set(r->gate, &r->gate->left);
}

static void
rec_done(void *ctx, int status)
{
	struct rec *r = ctx;
	struct kr_err err = { 0 };

	r->done_calls++;
	r->status = status;
	r->done_thread = pthread_self();
	r->env->done_total++;
	if (r->hook == REC_HOOK_DESTROY) {
		kr_tpool_destroy(&r->env->pool);
	} else if (r->hook == REC_HOOK_SUBMIT) {
		r->hook_rc = kr_tpool_submit(r->env->raw_pool, rec_work,
					     rec_done, r, NULL, &err);
		r->hook_kind = err.kind;
	}
}

static int
submit(struct kr_tpool *pool, struct rec *r, struct kr_tpool_job **job_r,
       struct kr_err *err_r)
{
	return kr_tpool_submit(pool, rec_work, rec_done, r, job_r, err_r);
}

static void
rec_init(struct rec *r, struct env *env, struct gate *gate)
{
	memset(r, 0, sizeof(*r));
	r->env = env;
	r->gate = gate;
	atomic_init(&r->work_runs, 0);
	r->status = 42; /* neither 0 nor -1 */
}

static void
env_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int
env_setup(void **state)
{
	struct env *env = calloc(1, sizeof(*env));

	if (env == NULL)
		return -1;
	env->base = event_base_new();
	env->tick = evtimer_new(env->base, env_tick, NULL);
	env->loop_thread = pthread_self();
	*state = env;
	return env->base != NULL && env->tick != NULL ? 0 : -1;
}

static int
env_teardown(void **state)
{
	struct env *env = *state;

	kr_tpool_destroy(&env->pool);
	kr_tpool_destroy(&env->other);
	event_free(env->tick);
	event_base_free(env->base);
	free(env);
	return 0;
}

static struct kr_tpool *
env_pool(struct env *env, const char *name, unsigned threads,
	 unsigned queue_max, size_t inline_max)
{
	struct kr_tpool_settings set = {
		.name = name,
		.threads = threads,
		.queue_max = queue_max,
		.inline_max = inline_max,
	};

	env->pool = kr_tpool_create(env->base, &set);
	assert_non_null(env->pool);
	return env->pool;
}

/* Turns the loop until done_total reaches `target`, at most WAIT_MS. The
 * tick timer bounds each turn so a lost wake-up cannot block here. */
static bool
env_run_until(struct env *env, int target)
{
	int64_t end = kr_clock_mono_ms() + WAIT_MS;
	struct timeval tv = { 0, 50000 };

	while (env->done_total < target) {
		if (kr_clock_mono_ms() >= end)
			return false;
		event_add(env->tick, &tv);
		event_base_loop(env->base, EVLOOP_ONCE);
	}
	return true;
}

/* A few turns that only run what is ready right now. */
static void
env_spin(struct env *env)
{
	int i;

	for (i = 0; i < 5; i++)
		event_base_loop(env->base, EVLOOP_NONBLOCK);
}

/* Waits, without turning the loop, until `n` jobs finished their work
 * on pool threads (and so sit on the finished list). */
static bool
wait_completed(struct kr_tpool *pool, unsigned long long n)
{
	int64_t end = kr_clock_mono_ms() + WAIT_MS;
	struct kr_tpool_stats st;

	for (;;) {
		kr_tpool_get_stats(pool, &st);
		if (st.completed >= n && st.running == 0)
			return true;
		if (kr_clock_mono_ms() >= end)
			return false;
		usleep(200);
	}
}

static void
test_tpool_work_on_pool_done_on_loop(void **state)
{
	struct env *env = *state;
	struct kr_tpool *pool = env_pool(env, "io", 2, 8, 0);
	struct rec r;

	rec_init(&r, env, NULL);
	assert_int_equal(submit(pool, &r, NULL, NULL), 0);
	assert_true(env_run_until(env, 1));
	assert_int_equal(atomic_load(&r.work_runs), 1);
	assert_false(pthread_equal(r.work_thread, env->loop_thread));
	assert_true(r.work_on_pool);
	assert_false(kr_tpool_on_pool_thread());
	assert_int_equal(r.done_calls, 1);
	assert_int_equal(r.status, 0);
	assert_true(pthread_equal(r.done_thread, env->loop_thread));
}

static void
test_tpool_done_not_before_submit_returns(void **state)
{
	struct env *env = *state;
	struct kr_tpool *pool = env_pool(env, "io", 1, 8, 0);
	struct kr_tpool_job *job = NULL;
	struct rec r;

	rec_init(&r, env, NULL);
	assert_int_equal(submit(pool, &r, &job, NULL), 0);
	assert_non_null(job);
	assert_int_equal(r.done_calls, 0);
	/* The work is over, but only the loop may call done. */
	assert_true(wait_completed(pool, 1));
	assert_int_equal(atomic_load(&r.work_runs), 1);
	assert_int_equal(r.done_calls, 0);
	assert_true(env_run_until(env, 1));
	assert_int_equal(r.done_calls, 1);
	assert_true(pthread_equal(r.done_thread, env->loop_thread));
}

struct cpu_if_case {
	size_t inline_max;
	size_t size;
	bool inlined;
};

static const struct cpu_if_case cpu_if_cases[] = {
	{ KR_CPU_INLINE_MAX_DEFAULT, 0, true },
	{ KR_CPU_INLINE_MAX_DEFAULT, KR_CPU_INLINE_MAX_DEFAULT - 1, true },
	{ KR_CPU_INLINE_MAX_DEFAULT, KR_CPU_INLINE_MAX_DEFAULT, true },
	{ KR_CPU_INLINE_MAX_DEFAULT, KR_CPU_INLINE_MAX_DEFAULT + 1, false },
	{ 0, 0, true },
	{ 0, 1, false },
};

static void
test_tpool_cpu_if_threshold(void **state)
{
	struct env *env = *state;
	struct kr_tpool_stats st;
	struct rec r;
	size_t i;

	for (i = 0; i < sizeof(cpu_if_cases) / sizeof(cpu_if_cases[0]); i++) {
		const struct cpu_if_case *c = &cpu_if_cases[i];

		env_pool(env, "cpu", 1, 8, c->inline_max);
		env->done_total = 0;
		rec_init(&r, env, NULL);
		assert_int_equal(kr_tpool_cpu_if(env->pool, c->size, rec_work,
						 rec_done, &r, NULL, NULL),
				 0);
		assert_int_equal(r.done_calls, 0);
		if (c->inlined) {
			/* Ran before the call returned, on this thread. */
			assert_int_equal(atomic_load(&r.work_runs), 1);
			assert_true(
				pthread_equal(r.work_thread, env->loop_thread));
		}
		assert_true(env_run_until(env, 1));
		assert_int_equal(atomic_load(&r.work_runs), 1);
		assert_true(!pthread_equal(r.work_thread, env->loop_thread) ==
			    !c->inlined);
		assert_int_equal(r.done_calls, 1);
		assert_int_equal(r.status, 0);
		assert_true(pthread_equal(r.done_thread, env->loop_thread));
		kr_tpool_get_stats(env->pool, &st);
		assert_int_equal(st.inlined, c->inlined ? 1 : 0);
		assert_int_equal(st.submitted, 1);
		assert_int_equal(st.completed, 1);
		kr_tpool_destroy(&env->pool);
	}
}

/* What a job running on a pool thread saw of its own nested submit. */
struct nest {
	struct kr_tpool *target;
	bool use_cpu_if;
	struct gate inner_gate; /* inner done opens it */
	struct rec inner;
	int rc;
	bool job_null;
	bool inner_done_before_return;
	bool inner_same_thread;
	bool inner_done_waited;
	pthread_t outer_thread;
	struct rec *outer;
};

static void
nest_inner_done(void *ctx, int status)
{
	struct nest *n = ctx;

	n->inner.done_calls++;
	n->inner.status = status;
	n->inner.done_thread = pthread_self();
	gate_set(&n->inner_gate, &n->inner_gate.open);
}

static void
nest_inner_work(void *ctx)
{
	struct nest *n = ctx;

	rec_work(&n->inner);
}

static void
nest_outer_work(void *ctx)
{
	struct nest *n = ctx;
	/* Any non-NULL value: the call must reset it. */
	struct kr_tpool_job *job = (struct kr_tpool_job *)n;

	n->outer_thread = pthread_self();
	if (n->use_cpu_if)
		n->rc = kr_tpool_cpu_if(n->target, SIZE_MAX, nest_inner_work,
					nest_inner_done, n, &job, NULL);
	else
		n->rc = kr_tpool_submit(n->target, nest_inner_work,
					nest_inner_done, n, &job, NULL);
	n->job_null = job == NULL;
	n->inner_done_before_return = n->inner.done_calls == 1;
	n->inner_same_thread =
		pthread_equal(n->inner.work_thread, n->outer_thread) != 0;
	/* Code that waits for its nested job would hang a one-thread pool
	 * if the job were queued behind it; bounded here. */
	n->inner_done_waited = gate_wait(&n->inner_gate, &n->inner_gate.open);
}

static void
nest_outer_done(void *ctx, int status)
{
	struct nest *n = ctx;

	n->outer->done_calls++;
	n->outer->status = status;
	n->outer->env->done_total++;
}

struct nest_case {
	bool use_cpu_if;
	bool cross_pool;
};

static const struct nest_case nest_cases[] = {
	{ false, false },
	{ true, false },
	{ false, true },
	{ true, true },
};

static void
nest_check(struct env *env, struct nest *n, struct kr_tpool *target,
	   unsigned long long submitted)
{
	struct kr_tpool_stats st;

	assert_int_equal(n->rc, 0);
	assert_true(n->job_null);
	assert_true(n->inner_done_before_return);
	assert_true(n->inner_same_thread);
	assert_true(n->inner_done_waited);
	assert_false(pthread_equal(n->outer_thread, env->loop_thread));
	assert_true(n->inner.work_on_pool);
	assert_int_equal(atomic_load(&n->inner.work_runs), 1);
	assert_int_equal(n->inner.done_calls, 1);
	assert_int_equal(n->inner.status, 0);
	assert_true(pthread_equal(n->inner.done_thread, n->outer_thread));
	kr_tpool_get_stats(target, &st);
	assert_int_equal(st.inlined, 1);
	assert_int_equal(st.submitted, submitted);
	assert_int_equal(st.completed, submitted);
}

static void
test_tpool_reentrant_submit_runs_inline(void **state)
{
	struct env *env = *state;
	struct kr_tpool_settings set = { "cpu", 1, 4, 0 };
	struct nest n;
	struct rec outer;
	size_t i;

	for (i = 0; i < sizeof(nest_cases) / sizeof(nest_cases[0]); i++) {
		env_pool(env, "io", 1, 1, 0);
		env->other = kr_tpool_create(env->base, &set);
		env->done_total = 0;
		memset(&n, 0, sizeof(n));
		gate_init(&n.inner_gate, false);
		rec_init(&n.inner, env, NULL);
		rec_init(&outer, env, NULL);
		n.outer = &outer;
		n.use_cpu_if = nest_cases[i].use_cpu_if;
		n.target = nest_cases[i].cross_pool ? env->other : env->pool;
		/* queue_max 1: only the outer job fits; the nested one must
		 * not need a slot. */
		assert_int_equal(kr_tpool_submit(env->pool, nest_outer_work,
						 nest_outer_done, &n, NULL,
						 NULL),
				 0);
		assert_true(env_run_until(env, 1));
		nest_check(env, &n, n.target, nest_cases[i].cross_pool ? 1 : 2);
		assert_int_equal(outer.done_calls, 1);
		assert_int_equal(outer.status, 0);
		if (nest_cases[i].cross_pool) {
			struct kr_tpool_stats st;

			kr_tpool_get_stats(env->pool, &st);
			assert_int_equal(st.inlined, 0);
		}
		kr_tpool_destroy(&env->other);
		kr_tpool_destroy(&env->pool);
		gate_deinit(&n.inner_gate);
	}
}

/* One thread held on a gate; fills the queue to `queue_max` and checks
 * what the next submit gets, then lets everything finish. */
static void
queue_fill(struct env *env, unsigned queue_max, bool one_over)
{
	struct rec *recs = calloc(queue_max + 1, sizeof(*recs));
	struct kr_tpool_stats st;
	struct kr_err err = { 0 };
	struct gate g;
	unsigned i;

	assert_non_null(recs);
	gate_init(&g, false);
	env_pool(env, "io", 1, queue_max, 0);
	env->done_total = 0;
	for (i = 0; i <= queue_max; i++)
		rec_init(&recs[i], env, i == 0 ? &g : NULL);
	assert_int_equal(submit(env->pool, &recs[0], NULL, &err), 0);
	assert_true(gate_wait(&g, &g.entered));
	for (i = 1; i < queue_max; i++)
		assert_int_equal(submit(env->pool, &recs[i], NULL, &err), 0);
	kr_tpool_get_stats(env->pool, &st);
	assert_int_equal(st.running, 1);
	assert_int_equal(st.queued, queue_max - 1);
	if (one_over) {
		assert_int_equal(
			submit(env->pool, &recs[queue_max], NULL, &err), -1);
		assert_int_equal(err.kind, KR_ERR_OVERLOAD);
		kr_tpool_get_stats(env->pool, &st);
		assert_int_equal(st.rejected, 1);
		assert_int_equal(st.submitted, queue_max);
	}
	gate_set(&g, &g.open);
	assert_true(env_run_until(env, (int)queue_max));
	env_spin(env);
	for (i = 0; i < queue_max; i++) {
		assert_int_equal(atomic_load(&recs[i].work_runs), 1);
		assert_int_equal(recs[i].done_calls, 1);
		assert_int_equal(recs[i].status, 0);
	}
	assert_int_equal(atomic_load(&recs[queue_max].work_runs), 0);
	assert_int_equal(recs[queue_max].done_calls, 0);
	assert_false(g.timed_out);
	/* Room again once the queue drained. */
	assert_int_equal(submit(env->pool, &recs[queue_max], NULL, &err), 0);
	assert_true(env_run_until(env, (int)queue_max + 1));
	kr_tpool_destroy(&env->pool);
	gate_deinit(&g);
	free(recs);
}

static const unsigned queue_sizes[] = { 1, 4, 64 };

static void
test_tpool_queue_at_limit_passes(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(queue_sizes) / sizeof(queue_sizes[0]); i++)
		queue_fill(*state, queue_sizes[i], false);
}

static void
test_tpool_queue_one_over_fails(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(queue_sizes) / sizeof(queue_sizes[0]); i++)
		queue_fill(*state, queue_sizes[i], true);
}

static void
test_tpool_cancel_queued(void **state)
{
	struct env *env = *state;
	struct kr_tpool *pool = env_pool(env, "io", 1, 8, 0);
	struct kr_tpool_job *job = NULL;
	struct kr_tpool_stats st;
	struct rec a, b, c;
	struct gate g;

	gate_init(&g, false);
	rec_init(&a, env, &g);
	rec_init(&b, env, NULL);
	rec_init(&c, env, NULL);
	assert_int_equal(submit(pool, &a, NULL, NULL), 0);
	assert_true(gate_wait(&g, &g.entered));
	assert_int_equal(submit(pool, &b, &job, NULL), 0);
	kr_tpool_cancel(&job);
	assert_null(job);
	kr_tpool_get_stats(pool, &st);
	assert_int_equal(st.queued, 0);
	/* FIFO: had b survived, it would run before c. */
	assert_int_equal(submit(pool, &c, NULL, NULL), 0);
	gate_set(&g, &g.open);
	assert_true(env_run_until(env, 2));
	env_spin(env);
	assert_int_equal(c.done_calls, 1);
	assert_int_equal(a.done_calls, 1);
	assert_int_equal(atomic_load(&b.work_runs), 0);
	assert_int_equal(b.done_calls, 0);
	gate_deinit(&g);
}

static void
test_tpool_cancel_running(void **state)
{
	struct env *env = *state;
	struct kr_tpool *pool = env_pool(env, "io", 1, 8, 0);
	struct kr_tpool_job *job = NULL;
	struct kr_tpool_stats st;
	struct rec a, b;
	struct gate g;

	gate_init(&g, false);
	rec_init(&a, env, &g);
	rec_init(&b, env, NULL);
	assert_int_equal(submit(pool, &a, &job, NULL), 0);
	assert_true(gate_wait(&g, &g.entered));
	kr_tpool_cancel(&job);
	assert_null(job);
	gate_set(&g, &g.open);
	/* One thread: a's result is handed over before b even starts. */
	assert_int_equal(submit(pool, &b, NULL, NULL), 0);
	assert_true(env_run_until(env, 1));
	env_spin(env);
	assert_int_equal(b.done_calls, 1);
	assert_int_equal(atomic_load(&a.work_runs), 1);
	assert_int_equal(a.done_calls, 0);
	kr_tpool_get_stats(pool, &st);
	assert_int_equal(st.completed, 2);
	assert_int_equal(st.running, 0);
	gate_deinit(&g);
}

static void
test_tpool_cancel_finished(void **state)
{
	struct env *env = *state;
	struct kr_tpool *pool = env_pool(env, "cpu", 1, 8, 16);
	struct kr_tpool_job *job_a = NULL, *job_c = NULL;
	struct rec a, b, c;
	struct gate g;

	gate_init(&g, false);
	rec_init(&a, env, NULL);
	rec_init(&b, env, &g);
	rec_init(&c, env, NULL);
	assert_int_equal(submit(pool, &a, &job_a, NULL), 0);
	assert_int_equal(submit(pool, &b, NULL, NULL), 0);
	/* b started, so a's completion already waits for the loop. */
	assert_true(gate_wait(&g, &g.entered));
	kr_tpool_cancel(&job_a);
	/* An inline cpu_if job waits for the loop the same way. */
	assert_int_equal(
		kr_tpool_cpu_if(pool, 16, rec_work, rec_done, &c, &job_c, NULL),
		0);
	assert_non_null(job_c);
	kr_tpool_cancel(&job_c);
	assert_null(job_c);
	gate_set(&g, &g.open);
	assert_true(env_run_until(env, 1));
	env_spin(env);
	assert_int_equal(b.done_calls, 1);
	assert_int_equal(atomic_load(&a.work_runs), 1);
	assert_int_equal(a.done_calls, 0);
	assert_int_equal(atomic_load(&c.work_runs), 1);
	assert_int_equal(c.done_calls, 0);
	gate_deinit(&g);
}

static void *
gate_opener(void *arg)
{
	struct gate *g = arg;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	/* Destroy must have begun stopping by then; see the caller. */
	nanosleep(&ts, NULL);
	gate_set(g, &g->open);
	return NULL;
}

/* a finished, i inline, r running, q1 q2 queued, x queued and cancelled. */
static void
test_tpool_destroy_answers_pending(void **state)
{
	struct env *env = *state;
	struct kr_tpool *pool = env_pool(env, "io", 1, 8, 16);
	struct kr_tpool_job *job_x = NULL;
	struct rec a, i, r, q1, q2, x;
	struct rec *all[] = { &a, &i, &r, &q1, &q2, &x };
	pthread_t opener;
	struct gate g;
	size_t k;

	gate_init(&g, false);
	for (k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		rec_init(all[k], env, all[k] == &r ? &g : NULL);
	assert_int_equal(submit(pool, &a, NULL, NULL), 0);
	assert_true(wait_completed(pool, 1));
	assert_int_equal(
		kr_tpool_cpu_if(pool, 1, rec_work, rec_done, &i, NULL, NULL),
		0);
	assert_int_equal(submit(pool, &r, NULL, NULL), 0);
	assert_true(gate_wait(&g, &g.entered));
	assert_int_equal(submit(pool, &q1, NULL, NULL), 0);
	assert_int_equal(submit(pool, &x, &job_x, NULL), 0);
	assert_int_equal(submit(pool, &q2, NULL, NULL), 0);
	kr_tpool_cancel(&job_x);
	/* The running job can only finish once destroy is under way (it
	 * has to wait for it); the queued ones must then never start. */
	assert_int_equal(pthread_create(&opener, NULL, gate_opener, &g), 0);
	kr_tpool_destroy(&env->pool);
	assert_null(env->pool);
	pthread_join(opener, NULL);
	assert_false(g.timed_out);
	for (k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		if (all[k] == &x)
			continue;
		assert_int_equal(all[k]->done_calls, 1);
		assert_true(
			pthread_equal(all[k]->done_thread, env->loop_thread));
	}
	assert_int_equal(a.status, 0);
	assert_int_equal(i.status, 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(atomic_load(&r.work_runs), 1);
	assert_int_equal(q1.status, -1);
	assert_int_equal(q2.status, -1);
	assert_int_equal(atomic_load(&q1.work_runs), 0);
	assert_int_equal(atomic_load(&q2.work_runs), 0);
	assert_int_equal(x.done_calls, 0);
	assert_int_equal(atomic_load(&x.work_runs), 0);
	gate_deinit(&g);
}

static void
test_tpool_destroy_from_done(void **state)
{
	struct env *env = *state;
	struct kr_tpool *pool = env_pool(env, "io", 1, 8, 0);
	struct rec a, b;
	struct gate g;

	gate_init(&g, true);
	rec_init(&a, env, NULL);
	rec_init(&b, env, &g);
	a.hook = REC_HOOK_DESTROY;
	assert_int_equal(submit(pool, &a, NULL, NULL), 0);
	assert_int_equal(submit(pool, &b, NULL, NULL), 0);
	assert_true(gate_wait(&g, &g.left));
	/* a's done destroys the pool; b is answered by destroy, once. */
	assert_true(env_run_until(env, 2));
	env_spin(env);
	assert_null(env->pool);
	assert_int_equal(a.done_calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(b.done_calls, 1);
	assert_int_equal(b.status, 0);
	assert_true(pthread_equal(b.done_thread, env->loop_thread));
	gate_deinit(&g);
}

static void
test_tpool_destroy_stops_accepting(void **state)
{
	struct env *env = *state;
	struct kr_tpool *pool = env_pool(env, "io", 1, 8, 0);
	struct rec a;

	rec_init(&a, env, NULL);
	a.hook = REC_HOOK_SUBMIT;
	env->raw_pool = pool;
	assert_int_equal(submit(pool, &a, NULL, NULL), 0);
	assert_true(wait_completed(pool, 1));
	/* a's done runs inside destroy and tries to submit again. */
	kr_tpool_destroy(&env->pool);
	env->raw_pool = NULL;
	assert_int_equal(a.done_calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.hook_rc, -1);
	assert_int_equal(a.hook_kind, KR_ERR_TEMPORARY);
	assert_int_equal(atomic_load(&a.work_runs), 1);
}

static void
test_tpool_many_jobs_complete_once(void **state)
{
	struct env *env = *state;
	struct kr_tpool *pool = env_pool(env, "io", 4, MANY_JOBS, 0);
	struct rec *recs = calloc(MANY_JOBS, sizeof(*recs));
	struct kr_tpool_stats st;
	size_t k;

	assert_non_null(recs);
	for (k = 0; k < MANY_JOBS; k++) {
		rec_init(&recs[k], env, NULL);
		assert_int_equal(submit(pool, &recs[k], NULL, NULL), 0);
	}
	assert_true(env_run_until(env, MANY_JOBS));
	env_spin(env);
	assert_int_equal(env->done_total, MANY_JOBS);
	for (k = 0; k < MANY_JOBS; k++) {
		assert_int_equal(atomic_load(&recs[k].work_runs), 1);
		assert_int_equal(recs[k].done_calls, 1);
		assert_int_equal(recs[k].status, 0);
	}
	kr_tpool_get_stats(pool, &st);
	assert_int_equal(st.submitted, MANY_JOBS);
	assert_int_equal(st.completed, MANY_JOBS);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.running, 0);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.inlined, 0);
	free(recs);
}

static void
test_tpool_stats_counts(void **state)
{
	struct env *env = *state;
	struct kr_tpool *pool = env_pool(env, "cpu", 2, 8, 100);
	struct kr_tpool_stats st;
	struct rec r[5];
	size_t k;

	kr_tpool_get_stats(pool, &st);
	assert_int_equal(st.submitted + st.completed + st.rejected +
				 st.inlined + st.queued + st.running,
			 0);
	for (k = 0; k < 5; k++) {
		rec_init(&r[k], env, NULL);
		/* 0, 50: inline; 100: at the limit; 151, 201: pool. */
		assert_int_equal(kr_tpool_cpu_if(pool, k * 50 + (k >= 3),
						 rec_work, rec_done, &r[k],
						 NULL, NULL),
				 0);
	}
	assert_true(env_run_until(env, 5));
	kr_tpool_get_stats(pool, &st);
	assert_int_equal(st.submitted, 5);
	assert_int_equal(st.completed, 5);
	assert_int_equal(st.inlined, 3);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.running, 0);
}

struct name_case {
	const char *pool;
	unsigned threads;
	const char *first;
	const char *last;
};

static const struct name_case name_cases[] = {
	{ "io", 1, "kr-io-0", "kr-io-0" },
	{ "cpu", 1, "kr-cpu-0", "kr-cpu-0" },
	{ "io", 12, "kr-io-0", "kr-io-11" },
	{ "averyverylongname", 2, "kr-averyverylon", "kr-averyverylon" },
};

/* How many threads of this process carry `name`. */
static int
threads_named(const char *name)
{
	char path[320], comm[32];
	struct dirent *de;
	FILE *f;
	DIR *d;
	int n = 0;

	d = opendir("/proc/self/task");
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 de->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) != NULL) {
			comm[strcspn(comm, "\n")] = '\0';
			n += strcmp(comm, name) == 0;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

static void
test_tpool_thread_names(void **state)
{
	struct env *env = *state;
	size_t i;

	for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];

		env_pool(env, c->pool, c->threads, 8, 0);
		/* Truncated names may collide; distinct ones are unique. */
		assert_int_equal(threads_named(c->first),
				 strcmp(c->first, c->last) == 0 ? c->threads
								: 1);
		assert_int_equal(threads_named(c->last),
				 strcmp(c->first, c->last) == 0 ? c->threads
								: 1);
		kr_tpool_destroy(&env->pool);
		assert_int_equal(threads_named(c->first), 0);
	}
}

static void
test_tpool_signals_blocked_on_pool_threads(void **state)
{
	struct env *env = *state;
	sigset_t before, after;
	struct rec r;

	pthread_sigmask(SIG_BLOCK, NULL, &before);
	env_pool(env, "io", 2, 8, 0);
	pthread_sigmask(SIG_BLOCK, NULL, &after);
	/* The creator's own mask is left as it was. */
	assert_int_equal(sigismember(&before, SIGTERM),
			 sigismember(&after, SIGTERM));
	assert_int_equal(sigismember(&before, SIGHUP),
			 sigismember(&after, SIGHUP));
	assert_false(sigismember(&after, SIGTERM));
	rec_init(&r, env, NULL);
	assert_int_equal(submit(env->pool, &r, NULL, NULL), 0);
	assert_true(env_run_until(env, 1));
	assert_true(sigismember(&r.work_mask, SIGTERM));
	assert_true(sigismember(&r.work_mask, SIGHUP));
	assert_true(sigismember(&r.work_mask, SIGINT));
	assert_true(sigismember(&r.work_mask, SIGUSR1));
	assert_true(sigismember(&r.work_mask, SIGCHLD));
	assert_int_equal(strncmp(r.thread_name, "kr-io-", 6), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
		T(test_tpool_work_on_pool_done_on_loop),
		T(test_tpool_done_not_before_submit_returns),
		T(test_tpool_cpu_if_threshold),
		T(test_tpool_reentrant_submit_runs_inline),
		T(test_tpool_queue_at_limit_passes),
		T(test_tpool_queue_one_over_fails),
		T(test_tpool_cancel_queued),
		T(test_tpool_cancel_running),
		T(test_tpool_cancel_finished),
		T(test_tpool_destroy_answers_pending),
		T(test_tpool_destroy_from_done),
		T(test_tpool_destroy_stops_accepting),
		T(test_tpool_many_jobs_complete_once),
		T(test_tpool_stats_counts),
		T(test_tpool_thread_names),
		T(test_tpool_signals_blocked_on_pool_threads),
#undef T
	};

	return cmocka_run_group_tests_name("tpool", tests, NULL, NULL);
}
