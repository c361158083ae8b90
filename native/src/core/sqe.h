/* The submission side shared by every ring loop: getting an SQE, and which submit errors end a loop. */
#ifndef URING_LAB_CORE_SQE_H
#define URING_LAB_CORE_SQE_H

#include <errno.h>
#include <liburing.h>

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

/* io_uring_submit_and_wait failed in a way a loop cannot survive (not EINTR, EAGAIN, EBUSY, ETIME). */
static inline int submit_failed(int ret)
{
	return ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME;
}

#endif
