/* Provided-buffer ring; see buffer_ring.h. */
#define _GNU_SOURCE
#include "core/buffer_ring.h"
#include "core/prefault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

/* The huge page size the pool is mapped with (MAP_HUGE_2MB). */
#define HUGE_PAGE_BYTES ((uint64_t)2 << 20)

/* Per-buffer bookkeeping: off + refs (u32), slot_bid + bid_slot + stash (u16), in_ring (u8). */
static size_t meta_bytes(unsigned count)
{
	return (size_t)count * (2 * sizeof(uint32_t) + 3 * sizeof(uint16_t) + sizeof(uint8_t));
}

/* Publishes per window of hot-first learning: `keep` rises at once with a bigger cycle and
 * falls only at a window's end, by at most half, towards twice that window's biggest cycle. */
#define KEEP_WINDOW_CYCLES 256

/* Every buffer whole and free, in the ring up to `keep`, the rest stashed. */
static void fill(struct buffer_ring *b)
{
	b->pending = 0;
	b->available = 0;
	b->stashed = 0;
	/* Not hot first: the whole pool always in the ring. */
	b->keep_min = b->hot_first ? 2 : b->count;
	if (b->keep_min > b->count)
		b->keep_min = b->count;
	b->keep = b->keep_min;
	b->taken = 0;
	b->taken_bytes = 0;
	b->peak = 0;
	b->cycles = KEEP_WINDOW_CYCLES;
	io_uring_buf_ring_init(b->ring);
	/* The first `keep` go in the ring, the rest wait in the stash. */
	for (unsigned bid = 0; bid < b->count; bid++)
		buffer_ring_return(b, bid);
	buffer_ring_publish(b);
}

void buffer_ring_top_up(struct buffer_ring *b)
{
	if (!b->hot_first) {
		/* The plain ring: every free buffer is in it already and nothing is stashed. */
		b->taken = 0;
		b->taken_bytes = 0;
		return;
	}
	/* What this cycle took: the buffers the kernel finished with, or, where receives share
	 * buffers (incremental), its bytes in buffers plus the one still being filled. */
	unsigned used = (unsigned)((b->taken_bytes + b->size - 1) / b->size) + (b->incremental && b->taken_bytes);

	if (b->taken > used)
		used = b->taken;
	if (used > b->peak)
		b->peak = used;
	b->taken = 0;
	b->taken_bytes = 0;
	if (--b->cycles == 0) {
		/* Towards what this window needed, by halves: a burst now and then (a run's
		 * connections arriving) should not meet a ring cut down to the quiet cycles. */
		b->keep = 2 * b->peak > b->keep / 2 ? 2 * b->peak : b->keep / 2;
		b->peak = 0;
		b->cycles = KEEP_WINDOW_CYCLES;
	} else if (2 * used > b->keep) {
		b->keep = 2 * used;
	}
	if (b->starving || b->keep > b->count)
		b->keep = b->count;
	if (b->keep < b->keep_min)
		b->keep = b->keep_min;
	while (b->stashed && buffer_ring_in_ring(b) < b->keep)
		buffer_ring_add(b, b->stash[--b->stashed]);
}

/* Sizes shared by buffer_ring_create() and buffer_ring_memory(). */
static size_t ring_bytes(unsigned count)
{
	return mem_page_round((uint64_t)count * sizeof(struct io_uring_buf));
}

/* The pool's mapping: whole pages, or whole 2 MiB huge pages when asked for huge pages. */
static size_t bufs_bytes(unsigned size, unsigned count, int hugepages)
{
	uint64_t bytes = (uint64_t)count * size;

	if (hugepages)
		return (bytes + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
	return mem_page_round(bytes);
}

/* The pool on ordinary pages, every page touched once here, at ring set-up (after the worker's
 * CPU and memory policy are set, so first touch still places it): otherwise the kernel's first
 * recv into each page pays the first touch inside the run (core/prefault.h; a 64 MiB pool:
 * ~120 ms of the server's first frames on this VM). */
static void *map_anonymous(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	int ret = prefault_zero(p, bytes);
	if (ret) {
		munmap(p, bytes);
		errno = -ret;
		return NULL;
	}
	return p;
}

/* The pool on 2 MiB huge pages, or NULL with errno (ENOMEM: too few reserved huge pages). */
static void *map_huge(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Registers the mapped ring; `flags` goes in the field 2.3 calls `pad` (the kernel's `flags`). */
static int register_ring(struct buffer_ring *b, struct io_uring *ring, uint16_t flags)
{
	struct io_uring_buf_reg reg;

	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)b->ring;
	reg.ring_entries = b->count;
	reg.bgid = b->group;
	reg.pad = flags;
	return io_uring_register_buf_ring(ring, &reg, 0);
}

int buffer_ring_create(struct buffer_ring *b, struct io_uring *ring, unsigned size, unsigned count, uint16_t group,
		       int hugepages, int incremental, int hot_first, enum start_step *step)
{

	memset(b, 0, sizeof(*b));
	b->size = size;
	b->count = count;
	b->group = group;
	b->hot_first = hot_first;
	b->mask = io_uring_buf_ring_mask(count);

	*step = STEP_BUF_RING_ALLOC;
	b->ring_bytes = ring_bytes(count);
	b->ring = map_anonymous(b->ring_bytes);
	if (!b->ring)
		return -errno;
	if (hugepages) {
		b->bufs_bytes = bufs_bytes(size, count, 1);
		b->bufs = map_huge(b->bufs_bytes);
		if (b->bufs)
			b->hugepages = 1;
		else
			b->huge_err = -errno; /* not fatal: normal pages below */
	}
	if (!b->bufs) {
		b->bufs_bytes = bufs_bytes(size, count, 0);
		b->bufs = map_anonymous(b->bufs_bytes);
		if (!b->bufs)
			return -errno;
	}

	b->meta = calloc(1, meta_bytes(count));
	if (!b->meta)
		return -ENOMEM;
	b->off = b->meta;
	b->refs = b->off + count;
	b->slot_bid = (uint16_t *)(b->refs + count);
	b->bid_slot = b->slot_bid + count;
	b->stash = b->bid_slot + count;
	b->in_ring = (uint8_t *)(b->stash + count);

	*step = STEP_BUF_RING_REGISTER;
	int ret = -EINVAL;
	if (incremental) {
		/* Kernels before 6.12 refuse the flag (EINVAL): a plain ring then, and say so. */
		ret = register_ring(b, ring, IOU_PBUF_RING_INC);
		if (ret)
			b->inc_err = ret;
		else
			b->incremental = 1;
	}
	if (ret)
		ret = register_ring(b, ring, 0);
	if (ret)
		return ret;
	b->registered = 1;
	fill(b);
	return 0;
}

int buffer_ring_restart(struct buffer_ring *b, struct io_uring *ring)
{
	int ret;

	if (!b->incremental)
		return 0; /* a plain ring's buffers start at 0 every time anyway */
	io_uring_unregister_buf_ring(ring, b->group);
	b->registered = 0;
	ret = register_ring(b, ring, IOU_PBUF_RING_INC);
	if (ret)
		return ret;
	b->registered = 1;
	memset(b->meta, 0, meta_bytes(b->count));
	fill(b);
	return 0;
}

void buffer_ring_unregister(struct buffer_ring *b, struct io_uring *ring)
{
	if (b->registered)
		io_uring_unregister_buf_ring(ring, b->group);
	b->registered = 0;
}

void buffer_ring_unmap(struct buffer_ring *b)
{
	free(b->meta);
	b->meta = NULL;
	if (b->bufs)
		munmap(b->bufs, b->bufs_bytes);
	if (b->ring)
		munmap(b->ring, b->ring_bytes);
	b->bufs = NULL;
	b->ring = NULL;
}

void buffer_ring_memory(unsigned size, unsigned count, int hugepages, struct memory_needs *m)
{
	uint64_t ring = ring_bytes(count);

	/* As requested: huge pages rounded up to whole 2 MiB (a refused request maps less). */
	m->buffer_ring += ring + bufs_bytes(size, count, hugepages) + meta_bytes(count);
	/* The registered ring counts against RLIMIT_MEMLOCK, the buffers it points to do not. */
	m->memlock += ring;
}

unsigned buffer_ring_consume(struct buffer_ring *b, int res, unsigned cqe_flags,
			     void (*piece)(void *ctx, unsigned bid, unsigned off, unsigned len), void *ctx)
{
	unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
	unsigned slot = b->bid_slot[bid];
	unsigned left = res > 0 ? (unsigned)res : 0;
	unsigned done = 0;

	b->taken_bytes += left;

	/* Walk the slots the kernel took, from the one the CQE names: a plain recv takes one, a
	 * bundle ceil(res / size) (fewer when the first is an incremental buffer's remainder). */
	for (;;) {
		bid = b->slot_bid[slot & (unsigned)b->mask];
		unsigned off = b->off[bid];
		unsigned take = b->size - off;
		if (take > left)
			take = left;
		left -= take;
		/* The kernel finished with a buffer unless it is the last one and, incremental, it
		 * said it keeps using it (F_BUF_MORE). A plain ring's buffer is finished by any
		 * receive, however short. */
		int finished = left || !b->incremental || !(cqe_flags & IORING_CQE_F_BUF_MORE);
		if (b->incremental)
			b->off[bid] = off + take;
		if (finished) {
			b->in_ring[bid] = 0;
			b->available--;
			b->taken++;
			done++;
		}
		if (take) {
			b->refs[bid]++;
			piece(ctx, bid, off, take);
		} else if (finished && !b->refs[bid]) {
			buffer_ring_return(b, bid); /* a zero-byte completion that still used it up */
		}
		if (!left)
			break;
		slot++;
	}
	return done;
}
