/* Thread pools (SPEC.md §2): a bounded FIFO served by k pthreads, with
 * completions handed back to the owner loop through an eventfd, so no
 * libevent call is ever made off the loop thread and the base needs no
 * evthread locking. */
#include "lib/tpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/limits.h"

enum tpool_job_state {
	TPOOL_JOB_QUEUED,   /* in pool->queue */
	TPOOL_JOB_RUNNING,  /* held by a pool thread, on no list */
	TPOOL_JOB_FINISHED, /* in pool->finished, done not yet called */
};

struct kr_tpool_job {
	struct kr_tpool *pool;
	kr_tpool_work_fn *work;
	kr_tpool_done_fn *done;
	void *ctx;
	struct kr_tpool_job *prev, *next;
	enum tpool_job_state state;
	/* Only for a running job: the thread frees it instead of
	 * finishing it. Every other state is freed by kr_tpool_cancel. */
	bool cancelled;
	bool *settled; /* cancelled while running: set when work returned */
};

struct tpool_list {
	struct kr_tpool_job *head, *tail;
	unsigned count;
};

struct kr_tpool {
	char *name;
	unsigned queue_max;
	size_t inline_max;

	/* Everything below `lock` up to `counts` is shared with the
	 * pool threads. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t settled; /* a cancelled running job's work returned */
	bool stopping;
	struct tpool_list queue;
	struct tpool_list finished;
	unsigned running;
	struct kr_tpool_stats counts; /* queued/running unused here */

	/* Owner thread only. */
	bool *destroyed_r; /* set while tpool_deliver calls `done` */
	int efd;
	struct event *notify;
	unsigned nthreads;
	pthread_t *threads;
};

/* Identifies the thread, it is not shared state: the reentrancy rule
 * of tpool.h needs to know whether the caller is already pool work. */
static _Thread_local bool tpool_on_thread;

static void
tpool_list_push(struct tpool_list *list, struct kr_tpool_job *job)
{
	job->next = NULL;
	job->prev = list->tail;
	if (list->tail != NULL)
		list->tail->next = job;
	else
		list->head = job;
	list->tail = job;
	list->count++;
}

static void
tpool_list_unlink(struct tpool_list *list, struct kr_tpool_job *job)
{
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		list->head = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	else
		list->tail = job->prev;
	job->prev = job->next = NULL;
	list->count--;
}

static struct kr_tpool_job *
tpool_list_pop(struct tpool_list *list)
{
	struct kr_tpool_job *job = list->head;

	if (job != NULL)
		tpool_list_unlink(list, job);
	return job;
}

static void
tpool_lock(struct kr_tpool *pool)
{
	int rc = pthread_mutex_lock(&pool->lock);

	if (rc != 0)
		kr_panic("tpool %s: mutex lock failed (error %d)", pool->name,
			 rc);
}

static void
tpool_unlock(struct kr_tpool *pool)
{
	int rc = pthread_mutex_unlock(&pool->lock);

	if (rc != 0)
		kr_panic("tpool %s: mutex unlock failed (error %d)", pool->name,
			 rc);
}

static void
tpool_notify(struct kr_tpool *pool)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(pool->efd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	/* EAGAIN: the counter is saturated, so the loop is due anyway. */
	if (n < 0 && errno != EAGAIN)
		kr_panic("tpool %s: eventfd write: %m", pool->name);
}

/* Only a push onto an empty list notifies: tpool_deliver drains the
 * eventfd before it looks at the list and re-notifies when it leaves
 * entries behind, so a non-empty list always has a wake-up pending. */
static void
tpool_finish_locked(struct kr_tpool *pool, struct kr_tpool_job *job)
{
	bool was_empty = pool->finished.head == NULL;

	job->state = TPOOL_JOB_FINISHED;
	tpool_list_push(&pool->finished, job);
	if (was_empty)
		tpool_notify(pool);
}

static void *
tpool_thread(void *arg)
{
	struct kr_tpool *pool = arg;

	tpool_on_thread = true;
	tpool_lock(pool);
	for (;;) {
		struct kr_tpool_job *job;

		while (!pool->stopping && pool->queue.head == NULL)
			pthread_cond_wait(&pool->wake, &pool->lock);
		/* Stopping wins over a non-empty queue: destroy answers
		 * the jobs left there with done(-1). */
		if (pool->stopping)
			break;
		job = tpool_list_pop(&pool->queue);
		job->state = TPOOL_JOB_RUNNING;
		pool->running++;
		tpool_unlock(pool);

		job->work(job->ctx);

		tpool_lock(pool);
		pool->running--;
		pool->counts.completed++;
		if (job->cancelled) {
			*job->settled = true;
			free(job);
			pthread_cond_broadcast(&pool->settled);
		} else
			tpool_finish_locked(pool, job);
	}
	tpool_unlock(pool);
	return NULL;
}

/* Frees the job first: `done` may destroy the pool, and the handle is
 * invalid once `done` runs anyway. */
static void
tpool_job_done(struct kr_tpool_job *job, int status)
{
	kr_tpool_done_fn *done = job->done;
	void *ctx = job->ctx;

	free(job);
	done(ctx, status);
}

/* Runs on the owner loop. `done` may submit, cancel or destroy the
 * pool; destroy is noticed through destroyed_r and stops the walk
 * before the freed pool is touched again. */
static void
tpool_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct kr_tpool *pool = arg;
	bool destroyed = false;
	unsigned budget;
	uint64_t n;
	ssize_t got;

	(void)what;
	do
		got = read(fd, &n, sizeof(n));
	while (got < 0 && errno == EINTR);
	tpool_lock(pool);
	/* A budget keeps busy threads from starving the rest of the loop;
	 * what arrives meanwhile waits for the next iteration. */
	budget = pool->finished.count;
	tpool_unlock(pool);
	pool->destroyed_r = &destroyed;
	while (budget-- > 0) {
		struct kr_tpool_job *job;

		tpool_lock(pool);
		job = tpool_list_pop(&pool->finished);
		if (budget == 0 && pool->finished.head != NULL)
			tpool_notify(pool);
		tpool_unlock(pool);
		if (job == NULL)
			break;
		tpool_job_done(job, 0);
		if (destroyed)
			return;
	}
	pool->destroyed_r = NULL;
}

static void
tpool_start_threads(struct kr_tpool *pool)
{
	sigset_t all, old;
	char tname[16]; /* the kernel's limit, NUL included */
	unsigned i;

	/* Threads inherit the creator's mask: with everything blocked
	 * here, process signals land on the loop thread only. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < pool->nthreads; i++) {
		int rc = pthread_create(&pool->threads[i], NULL, tpool_thread,
					pool);

		if (rc != 0)
			kr_fatal("tpool %s: pthread_create failed (error %d)",
				 pool->name, rc);
		/* Truncation to 15 characters is wanted. */
		if (snprintf(tname, sizeof(tname), "kr-%s-%u", pool->name, i) <
		    0)
			tname[0] = '\0';
		(void)pthread_setname_np(pool->threads[i], tname);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

struct kr_tpool *
kr_tpool_create(struct event_base *owner, const struct kr_tpool_settings *set)
{
	struct kr_tpool *pool;

	kr_assert(owner != NULL && set != NULL && set->name != NULL);
	kr_assert(set->threads >= 1 && set->threads <= KR_IO_THREADS_MAX);
	kr_assert(set->queue_max >= 1 && set->queue_max <= KR_POOL_QUEUE_MAX);

	pool = kr_xcalloc(1, sizeof(*pool));
	pool->name = kr_xstrdup(set->name);
	pool->queue_max = set->queue_max;
	pool->inline_max = set->inline_max;
	if (pthread_mutex_init(&pool->lock, NULL) != 0 ||
	    pthread_cond_init(&pool->wake, NULL) != 0 ||
	    pthread_cond_init(&pool->settled, NULL) != 0)
		kr_fatal("tpool %s: cannot init mutex/condvar", pool->name);
	pool->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->efd < 0)
		kr_fatal("tpool %s: eventfd: %m", pool->name);
	pool->notify = event_new(owner, pool->efd, EV_READ | EV_PERSIST,
				 tpool_deliver, pool);
	if (pool->notify == NULL || event_add(pool->notify, NULL) != 0)
		kr_fatal("tpool %s: cannot register the eventfd", pool->name);
	pool->nthreads = set->threads;
	pool->threads = kr_xcalloc(set->threads, sizeof(*pool->threads));
	tpool_start_threads(pool);
	return pool;
}

/* Pops under the lock one at a time: a `done` called here may cancel
 * another job still on the list. */
static void
tpool_answer(struct kr_tpool *pool, struct tpool_list *list, int status)
{
	for (;;) {
		struct kr_tpool_job *job;

		tpool_lock(pool);
		job = tpool_list_pop(list);
		tpool_unlock(pool);
		if (job == NULL)
			return;
		tpool_job_done(job, status);
	}
}

void
kr_tpool_destroy(struct kr_tpool **poolp)
{
	struct kr_tpool *pool = *poolp;
	unsigned i;

	if (pool == NULL)
		return;
	*poolp = NULL;
	tpool_lock(pool);
	kr_assert(!pool->stopping);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->wake);
	tpool_unlock(pool);
	for (i = 0; i < pool->nthreads; i++) {
		int rc = pthread_join(pool->threads[i], NULL);

		if (rc != 0)
			kr_panic("tpool %s: pthread_join failed (error %d)",
				 pool->name, rc);
	}
	/* Called from a `done` inside tpool_deliver: tell it to stop. */
	if (pool->destroyed_r != NULL)
		*pool->destroyed_r = true;
	/* Completions first: they are older than anything still queued. */
	tpool_answer(pool, &pool->finished, 0);
	tpool_answer(pool, &pool->queue, -1);
	event_free(pool->notify);
	close(pool->efd);
	pthread_cond_destroy(&pool->wake);
	pthread_cond_destroy(&pool->settled);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool->name);
	free(pool);
}

/* Already pool work: a second hop would gain nothing and could wait on
 * a thread that is this very one. */
static void
tpool_run_nested(struct kr_tpool *pool, kr_tpool_work_fn *work,
		 kr_tpool_done_fn *done, void *ctx)
{
	tpool_lock(pool);
	pool->counts.submitted++;
	pool->counts.inlined++;
	tpool_unlock(pool);
	work(ctx);
	tpool_lock(pool);
	pool->counts.completed++;
	tpool_unlock(pool);
	done(ctx, 0);
}

static int
tpool_submit(struct kr_tpool *pool, bool here, kr_tpool_work_fn *work,
	     kr_tpool_done_fn *done, void *ctx, struct kr_tpool_job **job_r,
	     struct kr_err *err_r)
{
	struct kr_tpool_job *job;

	kr_assert(pool != NULL && work != NULL && done != NULL);
	if (job_r != NULL)
		*job_r = NULL;
	if (tpool_on_thread) {
		tpool_run_nested(pool, work, done, ctx);
		return 0;
	}
	job = kr_xcalloc(1, sizeof(*job));
	job->pool = pool;
	job->work = work;
	job->done = done;
	job->ctx = ctx;

	tpool_lock(pool);
	if (pool->stopping) {
		tpool_unlock(pool);
		free(job);
		return kr_err_set(err_r, KR_ERR_TEMPORARY,
				  "pool %s is stopping", pool->name);
	}
	if (!here && pool->queue.count + pool->running >= pool->queue_max) {
		pool->counts.rejected++;
		tpool_unlock(pool);
		free(job);
		return kr_err_set(err_r, KR_ERR_OVERLOAD,
				  "pool %s: queue full (%u jobs)", pool->name,
				  pool->queue_max);
	}
	pool->counts.submitted++;
	if (!here) {
		job->state = TPOOL_JOB_QUEUED;
		tpool_list_push(&pool->queue, job);
		pthread_cond_signal(&pool->wake);
		tpool_unlock(pool);
	} else {
		pool->counts.inlined++;
		tpool_unlock(pool);
		work(ctx);
		/* The eventfd path defers `done` to a later loop turn. */
		tpool_lock(pool);
		pool->counts.completed++;
		tpool_finish_locked(pool, job);
		tpool_unlock(pool);
	}
	if (job_r != NULL)
		*job_r = job;
	return 0;
}

int
kr_tpool_submit(struct kr_tpool *pool, kr_tpool_work_fn *work,
		kr_tpool_done_fn *done, void *ctx, struct kr_tpool_job **job_r,
		struct kr_err *err_r)
{
	return tpool_submit(pool, false, work, done, ctx, job_r, err_r);
}

int
kr_tpool_cpu_if(struct kr_tpool *pool, size_t size, kr_tpool_work_fn *work,
		kr_tpool_done_fn *done, void *ctx, struct kr_tpool_job **job_r,
		struct kr_err *err_r)
{
	kr_assert(pool != NULL);
	return tpool_submit(pool, size <= pool->inline_max, work, done, ctx,
			    job_r, err_r);
}

void
kr_tpool_cancel(struct kr_tpool_job **jobp)
{
	struct kr_tpool_job *job = *jobp;
	struct kr_tpool *pool;
	bool settled = false;

	if (job == NULL)
		return;
	*jobp = NULL;
	pool = job->pool;
	tpool_lock(pool);
	switch (job->state) {
	case TPOOL_JOB_QUEUED:
		tpool_list_unlink(&pool->queue, job);
		break;
	case TPOOL_JOB_FINISHED:
		tpool_list_unlink(&pool->finished, job);
		break;
	case TPOOL_JOB_RUNNING:
		/* The thread owns it until `work` returns; we wait for that
		 * so the caller may free what `work` writes to. */
		job->cancelled = true;
		job->settled = &settled;
		while (!settled)
			pthread_cond_wait(&pool->settled, &pool->lock);
		job = NULL;
		break;
	}
	tpool_unlock(pool);
	free(job);
}

bool
kr_tpool_on_pool_thread(void)
{
	return tpool_on_thread;
}

void
kr_tpool_get_stats(struct kr_tpool *pool, struct kr_tpool_stats *stats_r)
{
	tpool_lock(pool);
	*stats_r = pool->counts;
	stats_r->queued = pool->queue.count;
	stats_r->running = pool->running;
	tpool_unlock(pool);
}
