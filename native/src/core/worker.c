/* Worker-thread lifecycle shared by the server and the load threads; see worker.h. */
#define _GNU_SOURCE
#include "core/worker.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/cpu_accounting.h"
#include "core/lab_threads.h"
#include "core/latch.h"
#include "core/sqe.h"
#include "core/user_data.h"

#define DRAIN_TIMEOUT_NS (2 * NS_PER_SEC)
#define DRAIN_WAIT_NS (100 * NS_PER_MS)

static const struct {
	enum start_step eventfd, thread, state;
} role_steps[] = {
	/* The server's state holds its ring: no memory for it is a ring that cannot be set up. */
	[WORKER_SERVER] = { STEP_SERVER_EVENTFD, STEP_SERVER_THREAD, STEP_SERVER_RING_SETUP },
	[WORKER_LOAD] = { STEP_LOAD_EVENTFD, STEP_LOAD_THREAD, STEP_LOAD_ALLOC },
};

void worker_init(struct worker *w, enum worker_role role, const struct worker_hook *before_exit)
{
	memset(w, 0, sizeof(*w));
	w->role = role;
	w->wake_fd = -1;
	if (before_exit)
		w->before_exit = *before_exit;
}

/* Blocks every signal (Node's handlers belong on Node's threads, and a signal would only turn
 * io_uring_enter into -EINTR), asks for the measured threads' short scheduler slice (woken, a
 * worker preempts the lab's bookkeeping threads instead of waiting out their slice; where the
 * kernel keeps none, the default stays: lab_threads.h) and publishes the tid for the CPU scan. */
static void enter(struct worker *w)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	(void)lab_thread_short_slice();
	__atomic_store_n(&w->tid, gettid(), __ATOMIC_RELAXED);
}

static void leave(struct worker *w)
{
	w->final_cpu_ns = cpu_self_thread_ns();
	__atomic_store_n(&w->exited, 1, __ATOMIC_RELEASE);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct worker_body *body = w->body;
	void *state = calloc(1, body->state_bytes);
	enum start_step step = role_steps[w->role].state;
	int ret = -ENOMEM;

	enter(w);
	if (state)
		ret = body->setup(w->owner, state, &step);
	if (ret) {
		w->fail = (struct start_error){ step, ret };
		if (state)
			body->teardown(state, 0);
		free(state);
		leave(w);
		latch_count_down(w->ready);
		return NULL;
	}
	latch_count_down(w->ready);
	body->run(state);
	body->teardown(state, 1);
	free(state);
	leave(w);
	return NULL;
}

int worker_start(struct worker *w, const struct worker_body *body, void *owner, struct latch *ready)
{
	int ret;

	w->body = body;
	w->owner = owner;
	w->ready = ready;
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (w->wake_fd < 0) {
		w->fail.step = role_steps[w->role].eventfd;
		w->fail.err = -errno;
		return w->fail.err;
	}
	ret = pthread_create(&w->thread, NULL, worker_main, w);
	if (ret) {
		close(w->wake_fd);
		w->wake_fd = -1;
		w->fail.step = role_steps[w->role].thread;
		w->fail.err = -ret;
		return w->fail.err;
	}
	w->thread_started = 1;
	return 0;
}

void worker_before_ring_exit(struct worker *w)
{
	if (w->before_exit.fn)
		w->before_exit.fn(w->before_exit.arg);
}

void worker_arm_wake(struct worker *w, struct io_uring *ring)
{
	struct io_uring_sqe *sqe = sqe_get(ring);

	io_uring_prep_poll_add(sqe, w->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, user_data(TAG_WAKE, 0));
}

int worker_drain(struct io_uring *ring, unsigned *inflight, void (*before_submit)(void *ctx), void (*reap)(void *ctx),
		 void *ctx)
{
	struct io_uring_sqe *sqe = sqe_get_hooked(ring, before_submit, ctx);
	uint64_t deadline = mono_ns() + DRAIN_TIMEOUT_NS;

	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, user_data(TAG_CANCEL, 0));
	(*inflight)++;
	while (*inflight > 0 && mono_ns() < deadline) {
		struct __kernel_timespec ts = kernel_timespec(DRAIN_WAIT_NS);
		struct io_uring_cqe *cqe = NULL;

		/* The load's requests started in its loop's last batch go out here. */
		if (before_submit)
			before_submit(ctx);
		int ret = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR)
			break;
		reap(ctx);
	}
	return *inflight == 0;
}

void worker_wake(struct worker *w)
{
	uint64_t one = 1;

	/* Only an overflowing counter fails, and then it is signalled anyway. The thread also
	 * exits by itself after a failed start, so this is just a nudge then. */
	if (w->thread_started && write(w->wake_fd, &one, sizeof(one)) < 0) {
	}
}

void worker_join(struct worker *w)
{
	if (w->thread_started) {
		pthread_join(w->thread, NULL);
		w->thread_started = 0;
	}
	if (w->wake_fd >= 0) {
		close(w->wake_fd);
		w->wake_fd = -1;
	}
}

uint64_t worker_cpu_ns(const struct worker *w)
{
	uint64_t ns;

	if (__atomic_load_n(&w->exited, __ATOMIC_ACQUIRE) || !w->thread_started)
		return w->final_cpu_ns;
	if (cpu_thread_ns(w->thread, &ns) == 0)
		return ns;
	/* It exited between the two checks. */
	return __atomic_load_n(&w->exited, __ATOMIC_ACQUIRE) ? w->final_cpu_ns : 0;
}
