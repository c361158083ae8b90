/* The completion side shared by every ring loop: the one CQE reaping loop. */
#ifndef URING_LAB_CORE_CQE_H
#define URING_LAB_CORE_CQE_H

#include <liburing.h>

/*
 * Hands at most `max` completions to handle(ctx, cqe), then advances the CQ once. With
 * UINT_MAX it also takes CQEs posted while earlier ones are handled; the load passes the count
 * that was ready before its clock read, so no completion is dated before it happened. Inline,
 * so a constant `handle` becomes a direct call.
 */
static inline unsigned cqe_reap(struct io_uring *ring, unsigned max,
				void (*handle)(void *ctx, const struct io_uring_cqe *cqe), void *ctx)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(ring, head, cqe) {
		if (seen == max)
			break;
		handle(ctx, cqe);
		seen++;
	}
	io_uring_cq_advance(ring, seen);
	return seen;
}

#endif
