/*
 * A provided-buffer ring (IORING_REGISTER_PBUF_RING): `count` buffers of `size` bytes that the
 * kernel picks from for buffer-select receives, and that their owner hands back one by one
 * and publishes in one tail update. liburing 2.3 has no io_uring_setup_buf_ring(), so the
 * ring memory is anonymous memory mapped here and registered with io_uring_register_buf_ring.
 */
#ifndef URING_LAB_CORE_BUFFER_RING_H
#define URING_LAB_CORE_BUFFER_RING_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>

#include "core/memory_needs.h"
#include "core/start_step.h"

struct buffer_ring {
	struct io_uring_buf_ring *ring;
	size_t ring_bytes;
	unsigned char *bufs;
	size_t bufs_bytes;
	int hugepages;      /* bufs are on 2 MiB huge pages (MAP_HUGETLB) */
	int huge_err;       /* -errno of a refused MAP_HUGETLB (the pool then uses normal pages), else 0 */
	unsigned size, count;
	int mask;
	uint16_t group;     /* buffer group id the SQEs select from */
	int registered;
	int pending;        /* handed back but not yet published */
	unsigned available; /* buffers the kernel can pick right now (after publish) */
};

/* Maps and registers the ring, with every buffer available. 0, or -errno with *step at fault
 * (STEP_BUF_RING_ALLOC or STEP_BUF_RING_REGISTER); unregister and unmap clean up either way.
 * With hugepages the buffers are mapped with MAP_HUGETLB (2 MiB pages, the pool rounded up to
 * whole huge pages); when that mapping fails (ENOMEM: too few reserved huge pages) they are
 * mapped on normal pages instead and b->huge_err keeps the errno: not a failure. */
int buffer_ring_create(struct buffer_ring *b, struct io_uring *ring, unsigned size, unsigned count, uint16_t group,
		       int hugepages, enum start_step *step);
/* Before the ring exits. */
void buffer_ring_unregister(struct buffer_ring *b, struct io_uring *ring);
/* Only once no request can write any more (after a drain that reaped everything). */
void buffer_ring_unmap(struct buffer_ring *b);
/* Adds what a buffer ring of count × size allocates and pins (see memory_needs.h); with
 * hugepages the buffers count as whole 2 MiB pages, as buffer_ring_create maps them. */
void buffer_ring_memory(unsigned size, unsigned count, int hugepages, struct memory_needs *m);

static inline unsigned char *buffer_ring_addr(const struct buffer_ring *b, unsigned bid)
{
	return b->bufs + (size_t)bid * b->size;
}

/* Hands a buffer back; published with the others by buffer_ring_publish(). */
static inline void buffer_ring_return(struct buffer_ring *b, unsigned bid)
{
	io_uring_buf_ring_add(b->ring, buffer_ring_addr(b, bid), b->size, (unsigned short)bid, b->mask, b->pending++);
	b->available++;
}

/* A CQE handed us a buffer (IORING_CQE_F_BUFFER): the kernel has one less to pick from. */
static inline unsigned buffer_ring_taken(struct buffer_ring *b, unsigned cqe_flags)
{
	b->available--;
	return cqe_flags >> IORING_CQE_BUFFER_SHIFT;
}

static inline void buffer_ring_publish(struct buffer_ring *b)
{
	if (b->pending) {
		io_uring_buf_ring_advance(b->ring, b->pending);
		b->pending = 0;
	}
}

#endif
