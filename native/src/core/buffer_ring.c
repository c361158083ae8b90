/* Provided-buffer ring; see buffer_ring.h. */
#define _GNU_SOURCE
#include "core/buffer_ring.h"

#include <errno.h>
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

static void *map_anonymous(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The pool on 2 MiB huge pages, or NULL with errno (ENOMEM: too few reserved huge pages). */
static void *map_huge(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int buffer_ring_create(struct buffer_ring *b, struct io_uring *ring, unsigned size, unsigned count, uint16_t group,
		       int hugepages, enum start_step *step)
{
	struct io_uring_buf_reg reg;

	memset(b, 0, sizeof(*b));
	b->size = size;
	b->count = count;
	b->group = group;
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

	*step = STEP_BUF_RING_REGISTER;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)b->ring;
	reg.ring_entries = count;
	reg.bgid = group;
	int ret = io_uring_register_buf_ring(ring, &reg, 0);
	if (ret)
		return ret;
	b->registered = 1;

	io_uring_buf_ring_init(b->ring);
	for (unsigned bid = 0; bid < count; bid++)
		buffer_ring_return(b, bid);
	buffer_ring_publish(b);
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
	m->buffer_ring += ring + bufs_bytes(size, count, hugepages);
	/* The registered ring counts against RLIMIT_MEMLOCK, the buffers it points to do not. */
	m->memlock += ring;
}
