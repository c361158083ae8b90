/* The submission side shared by every ring loop: getting an SQE, and which submit errors end a loop. */
#ifndef URING_LAB_CORE_SQE_H
#define URING_LAB_CORE_SQE_H

#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * An SQE, submitting first when the SQ is full. `before_submit` (may be NULL) runs right before
 * that submit: the load stamps its requests' send times there. With SQPOLL a submit does not
 * free SQ slots by itself, so it waits for the kernel thread to consume some.
 */
static inline struct io_uring_sqe *sqe_get_hooked(struct io_uring *ring, void (*before_submit)(void *ctx), void *ctx)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(ring))) {
		if (before_submit)
			before_submit(ctx);
		io_uring_submit(ring);
		if (ring->flags & IORING_SETUP_SQPOLL)
			io_uring_sqring_wait(ring);
	}
	return sqe;
}

static inline struct io_uring_sqe *sqe_get(struct io_uring *ring)
{
	return sqe_get_hooked(ring, NULL, NULL);
}

/* IORING_ENTER_NO_IOWAIT / IORING_FEAT_NO_IOWAIT (Linux 6.15), newer than liburing 2.3's header. */
#define RING_ENTER_NO_IOWAIT (1U << 7)
#define RING_FEAT_NO_IOWAIT (1U << 17)

/*
 * What io_uring_submit does first (liburing 2.2/2.3's __io_uring_flush_sq): hands the SQEs
 * queued since the last flush to the kernel by moving the SQ tail (the SQ array is the identity
 * map, written here the way 2.2 did so either liburing version agrees). Returns how many the
 * kernel has not consumed yet.
 */
static inline unsigned ring_flush_sq(struct io_uring *ring)
{
	struct io_uring_sq *sq = &ring->sq;
	unsigned ktail = *sq->ktail;
	unsigned to_submit = sq->sqe_tail - sq->sqe_head;

	if (to_submit) {
		do {
			sq->array[ktail & sq->ring_mask] = sq->sqe_head & sq->ring_mask;
			ktail++;
			sq->sqe_head++;
		} while (--to_submit);
		io_uring_smp_store_release(sq->ktail, ktail);
	}
	return ktail - io_uring_smp_load_acquire(sq->khead);
}

/*
 * io_uring_submit_and_wait(ring, wait_nr) for a ring without SQPOLL, as one io_uring_enter that
 * also says the wait is not an I/O wait where the kernel offers that (IORING_ENTER_NO_IOWAIT,
 * 6.15): a thread waiting for a socket is idle, and with the flag missing the kernel counts its
 * sleep as iowait (most of a CPU's idle time showed as iowait at one connection, and PSI as IO
 * pressure). Storage waits are real I/O waits and keep using io_uring_submit_and_wait.
 * Returns what liburing would: the enter's result or -errno.
 */
static inline int ring_submit_and_wait_network(struct io_uring *ring, unsigned wait_nr)
{
	unsigned flags = IORING_ENTER_GETEVENTS;
	unsigned submit = ring_flush_sq(ring);
	long ret;

	if (ring->features & RING_FEAT_NO_IOWAIT)
		flags |= RING_ENTER_NO_IOWAIT;
	ret = syscall(__NR_io_uring_enter, ring->ring_fd, submit, wait_nr, flags, NULL, (size_t)(_NSIG / 8));
	return ret < 0 ? -errno : (int)ret;
}

/* io_uring_submit_and_wait failed in a way a loop cannot survive (not EINTR, EAGAIN, EBUSY, ETIME). */
static inline int submit_failed(int ret)
{
	return ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME;
}

#endif
