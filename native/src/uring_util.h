/* Small helpers shared by the server and load-generator threads. */
#ifndef URING_LAB_URING_UTIL_H
#define URING_LAB_URING_UTIL_H

#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

/*
 * An SQE, submitting first when the SQ is full. With SQPOLL a submit does
 * not free SQ slots by itself, so wait for the kernel thread to consume some.
 */
static inline struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(ring))) {
		io_uring_submit(ring);
		if (ring->flags & IORING_SETUP_SQPOLL)
			io_uring_sqring_wait(ring);
	}
	return sqe;
}

static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Our threads take no signals: Node's handlers belong on Node's threads, and
 * a signal landing here would only turn io_uring_enter into -EINTR.
 */
static inline void block_all_signals(void)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
}

/* Relaxed single-writer counters readable from other threads. */
static inline void counter_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t counter_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* Start-up handshake: the creator waits until every thread has reported. */
struct latch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;
};

static inline void latch_init(struct latch *l, int n)
{
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->pending = n;
}

static inline void latch_count_down(struct latch *l)
{
	pthread_mutex_lock(&l->mu);
	if (--l->pending <= 0)
		pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static inline void latch_wait(struct latch *l)
{
	pthread_mutex_lock(&l->mu);
	while (l->pending > 0)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

static inline void latch_destroy(struct latch *l)
{
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
}

#endif
