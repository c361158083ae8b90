/*
 * A provided-buffer ring (IORING_REGISTER_PBUF_RING): `count` buffers of `size` bytes that the
 * kernel picks from for buffer-select receives, and that their owner hands back one by one
 * and publishes in one tail update. liburing 2.3 has no io_uring_setup_buf_ring(), so the
 * ring memory is anonymous memory mapped here and registered with io_uring_register_buf_ring.
 *
 * Three ways the kernel hands buffers out, all accounted for here:
 *  - one buffer per recv completion (the CQE names it);
 *  - bundles (IORING_RECVSEND_BUNDLE, 6.10): one completion spans several buffers taken from
 *    consecutive ring slots; the CQE names only the first. Buffers go back in whatever order
 *    their sends finish, so a slot does not hold a fixed buffer: slot_bid/bid_slot remember
 *    which buffer was put in which slot;
 *  - incremental consumption (IOU_PBUF_RING_INC, 6.12): the kernel keeps using a buffer from
 *    where the last receive stopped and says so with IORING_CQE_F_BUF_MORE, so one large buffer
 *    serves many small receives, possibly of different connections. A buffer then goes back
 *    only once the kernel has finished with it AND every piece of it has been sent: off[]
 *    follows the kernel's cursor, refs[] counts the pieces still held.
 *
 * Hot first. The kernel takes buffers from the ring's head and returns go to its tail, so a
 * full ring hands out the buffer returned longest ago: the coldest in the cache. A server
 * cycles its whole pool through the cache that way (64 × 64 KiB, 4 MiB, against a 1 MiB L2
 * here), where an epoll server copies into one hot buffer: at 1 × 64 KiB the recv's copy
 * (_copy_to_iter, perf) measured 1.5-2.1x the epoll server's, and equal to it with a pool of
 * 2 or 4 buffers. So
 * with hot_first the ring holds only `keep` buffers, twice the most one reaping cycle used
 * lately (at least 2); the other free buffers wait in a stack (`stash`) and each publish tops
 * the ring up from its top, the most recently returned. A ring that ran dry (ENOBUFS: the
 * owner sets `starving`) gets every free buffer until no connection waits for one.
 */
#ifndef URING_LAB_CORE_BUFFER_RING_H
#define URING_LAB_CORE_BUFFER_RING_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>

#include "core/memory_needs.h"
#include "core/start_step.h"

/* Flag values newer than liburing 2.3's headers (kernel uapi). */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2 /* io_uring_buf_reg.flags (2.3 calls the field `pad`), Linux 6.12 */
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4) /* the kernel keeps using this (incremental) buffer */
#endif

struct buffer_ring {
	struct io_uring_buf_ring *ring;
	size_t ring_bytes;
	unsigned char *bufs;
	size_t bufs_bytes;
	int hugepages;      /* bufs are on 2 MiB huge pages (MAP_HUGETLB) */
	int huge_err;       /* -errno of a refused MAP_HUGETLB (the pool then uses normal pages), else 0 */
	int incremental;    /* registered with IOU_PBUF_RING_INC */
	int inc_err;        /* -errno of a refused IOU_PBUF_RING_INC registration (registered without it), else 0 */
	unsigned size, count;
	int mask;
	uint16_t group;     /* buffer group id the SQEs select from */
	int registered;
	int pending;        /* handed back but not yet published */
	unsigned available; /* buffers the kernel can pick right now (after publish) */
	/* Per buffer id / per ring slot (count entries each, one allocation: `meta`). */
	void *meta;
	uint32_t *off;      /* bytes of the buffer the kernel has filled (incremental), else 0 */
	uint32_t *refs;     /* pieces of the buffer still held by their owner */
	uint16_t *slot_bid; /* the buffer put in each ring slot */
	uint16_t *bid_slot; /* the slot each buffer was last put in */
	uint8_t *in_ring;   /* the kernel may still pick (or keep filling) the buffer */
	/* Hot first (above). `available` counts the stash too: stashed buffers are free. */
	uint16_t *stash;    /* free buffers not in the ring, the most recently returned on top */
	unsigned stashed;
	unsigned keep;      /* buffers the ring is topped up to */
	unsigned keep_min;  /* 2 with hot_first, else the whole pool (at most count either way) */
	unsigned taken;     /* buffers the kernel finished with since the last publish */
	uint64_t taken_bytes; /* bytes received into the pool since the last publish */
	unsigned peak;      /* the most buffers one cycle used, this window */
	unsigned cycles;    /* publishes left in this window */
	int starving;       /* set by the owner while connections wait for buffers: keep them all in */
	int hot_first;      /* off: keep = count, every free buffer in the ring (plain FIFO) */
};

/* Maps and registers the ring, with every buffer available. 0, or -errno with *step at fault
 * (STEP_BUF_RING_ALLOC or STEP_BUF_RING_REGISTER); unregister and unmap clean up either way.
 * With hugepages the buffers are mapped with MAP_HUGETLB (2 MiB pages, the pool rounded up to
 * whole huge pages); when that mapping fails (ENOMEM: too few reserved huge pages) they are
 * mapped on normal pages instead and b->huge_err keeps the errno: not a failure. With
 * incremental the ring is registered with IOU_PBUF_RING_INC; a kernel that refuses it (EINVAL
 * before 6.12) gets a plain ring and b->inc_err keeps the errno: not a failure either. */
int buffer_ring_create(struct buffer_ring *b, struct io_uring *ring, unsigned size, unsigned count, uint16_t group,
		       int hugepages, int incremental, int hot_first, enum start_step *step);
/* Registers an incremental ring afresh with every buffer whole (no-op for a plain ring): the
 * start-up probe's byte leaves the kernel's cursor in buffer 0 at offset 1, which would put
 * every later receive one byte off alignment (a 64 KiB echo measured ~2x the CPU: two recvs
 * per message and misaligned copies). Only while no recv can be using it. 0 or -errno. */
int buffer_ring_restart(struct buffer_ring *b, struct io_uring *ring);
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

/* Puts a buffer (whole, from its start) in the next ring slot; published with the others by
 * buffer_ring_publish(). */
static inline void buffer_ring_add(struct buffer_ring *b, unsigned bid)
{
	unsigned slot = (b->ring->tail + (unsigned)b->pending) & (unsigned)b->mask;

	b->slot_bid[slot] = (uint16_t)bid;
	b->bid_slot[bid] = (uint16_t)slot;
	b->in_ring[bid] = 1;
	io_uring_buf_ring_add(b->ring, buffer_ring_addr(b, bid), b->size, (unsigned short)bid, b->mask, b->pending++);
}

/* Buffers the kernel can pick now (or once published): the free ones not in the stash. */
static inline unsigned buffer_ring_in_ring(const struct buffer_ring *b)
{
	return b->available - b->stashed;
}

/* Hands a buffer nobody holds any more back: into the ring while it holds fewer than `keep`,
 * else on top of the stash, from where the next publish takes it first. */
static inline void buffer_ring_return(struct buffer_ring *b, unsigned bid)
{
	b->off[bid] = 0;
	if (buffer_ring_in_ring(b) < b->keep)
		buffer_ring_add(b, bid);
	else
		b->stash[b->stashed++] = (uint16_t)bid;
	b->available++;
}

/* Drops one piece's hold on a buffer; the last one out, once the kernel is done, returns it. */
static inline void buffer_ring_put(struct buffer_ring *b, unsigned bid)
{
	if (--b->refs[bid] == 0 && !b->in_ring[bid])
		buffer_ring_return(b, bid);
}

/*
 * Accounts for the buffers one recv completion used (IORING_CQE_F_BUFFER set): res bytes from
 * the buffer the CQE names onwards, over consecutive ring slots (a bundle), starting at each
 * buffer's fill cursor (incremental). For every non-empty piece, takes a hold on its buffer
 * and calls piece(ctx, bid, off, len); the callee keeps the hold or drops it with
 * buffer_ring_put(). Returns the number of buffers the kernel finished with.
 */
unsigned buffer_ring_consume(struct buffer_ring *b, int res, unsigned cqe_flags,
			     void (*piece)(void *ctx, unsigned bid, unsigned off, unsigned len), void *ctx);

/* Learns `keep` from this cycle and tops the ring up from the stash (buffer_ring.c). */
void buffer_ring_top_up(struct buffer_ring *b);

static inline void buffer_ring_publish(struct buffer_ring *b)
{
	buffer_ring_top_up(b);
	if (b->pending) {
		io_uring_buf_ring_advance(b->ring, b->pending);
		b->pending = 0;
	}
}

#endif
