/*
 * One native thread with its own ring, the way the server and every load thread run: a
 * wake-up eventfd that stop() writes, the thread itself, its tid for the CPU scan, its
 * start-up report, the order its life goes in (struct worker_body), a hook that runs just
 * before its ring exits, and the drain that makes it safe to unmap what the kernel may still
 * write to. Servers and loads embed a struct worker and give it a body; none of them creates
 * an eventfd or a thread of its own.
 */
#ifndef URING_LAB_CORE_WORKER_H
#define URING_LAB_CORE_WORKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/start_step.h"

#ifdef __cplusplus
extern "C" {
#endif

struct io_uring;
struct latch;

/* Which steps a failed eventfd or pthread_create is reported as. */
enum worker_role { WORKER_SERVER, WORKER_LOAD };

struct worker_hook {
	void (*fn)(void *arg);
	void *arg;
};

/*
 * What a worker thread does, in the one order every worker follows: setup, report on the
 * start-up latch, run until stopped, teardown. A failed setup reports only after its teardown
 * and exit, so a failed start leaves nothing running once the latch opens.
 */
struct worker_body {
	size_t state_bytes; /* the thread's private state, zeroed by the worker and freed after teardown */
	/* Builds the state; 0, or -errno with *step at fault (teardown cleans up a partial
	 * setup). Everything a snapshot may read once the engine runs is published before 0. */
	int (*setup)(void *owner, void *state, enum start_step *step);
	/* Serves until woken (or its own end). */
	void (*run)(void *state);
	/* Drains the ring if `ran` (worker_drain), runs the before_exit hook just before the ring
	 * exits (worker_before_ring_exit), and closes and frees what setup opened. */
	void (*teardown)(void *state, int ran);
};

struct worker {
	enum worker_role role;
	/* Runs on the thread after its drain, just before its ring (and with it any SQPOLL or
	 * io-wq helper) goes away: the last chance to read those helpers' CPU time. */
	struct worker_hook before_exit;
	const struct worker_body *body;
	void *owner;             /* body->setup's first argument: the server or load */
	struct latch *ready;     /* counted down once the thread is up, or has given up */
	struct start_error fail; /* why it gave up; set before `ready` is counted down */

	pthread_t thread;
	int thread_started;
	int wake_fd;            /* eventfd: written by worker_wake() */
	pid_t tid;              /* published by the thread first thing (read by the CPU scan) */
	int exited;             /* set (release) once final_cpu_ns is valid */
	uint64_t final_cpu_ns;
};

/* Before anything else: nothing open, nothing started. */
void worker_init(struct worker *w, enum worker_role role, const struct worker_hook *before_exit);
/* Opens the eventfd and starts the thread running `body` for `owner`; the thread reports on
 * `ready`. Returns 0 or -errno (with w->fail set); a worker that never started does not count
 * `ready` down. */
int worker_start(struct worker *w, const struct worker_body *body, void *owner, struct latch *ready);

/* On the thread, from teardown: runs the before_exit hook. */
void worker_before_ring_exit(struct worker *w);
/* On the thread: a POLL_ADD on the eventfd tagged TAG_WAKE; a poll never needs an io-wq
 * worker, a read would. */
void worker_arm_wake(struct worker *w, struct io_uring *ring);
/*
 * On the thread, from teardown: cancels every request still in the kernel and reaps until
 * none is left (at most 2 s), so none can touch memory that is about to be unmapped.
 * `inflight` counts the requests that will still post a final CQE; the cancel adds one,
 * reap(ctx) handles completions and lowers it. before_submit(ctx) (may be NULL) runs before
 * every submit. Returns 1 when all were reaped.
 */
int worker_drain(struct io_uring *ring, unsigned *inflight, void (*before_submit)(void *ctx), void (*reap)(void *ctx),
		 void *ctx);

/* Asks the thread to stop. */
void worker_wake(struct worker *w);
/* Joins the thread and closes its eventfd. Safe to call twice, or on a worker never started. */
void worker_join(struct worker *w);
/* CPU ns of the thread: its live clock, or the final reading once it exited. */
uint64_t worker_cpu_ns(const struct worker *w);

#ifdef __cplusplus
}
#endif

#endif
