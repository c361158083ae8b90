/* Provided-buffer ring; see buffer_ring.h. */
#include "core/buffer_ring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

/* Sizes shared by buffer_ring_create() and buffer_ring_memory(). */
static size_t ring_bytes(unsigned count)
{
	return mem_page_round((uint64_t)count * sizeof(struct io_uring_buf));
}

static size_t bufs_bytes(unsigned size, unsigned count)
{
	return (size_t)count * size;
}

static void *map_anonymous(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int buffer_ring_create(struct buffer_ring *b, struct io_uring *ring, unsigned size, unsigned count, uint16_t group,
		       enum start_step *step)
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
	b->bufs_bytes = bufs_bytes(size, count);
	b->bufs = map_anonymous(b->bufs_bytes);
	if (!b->bufs)
		return -errno;

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

void buffer_ring_memory(unsigned size, unsigned count, struct memory_needs *m)
{
	uint64_t ring = ring_bytes(count);

	m->buffer_ring += ring + mem_page_round(bufs_bytes(size, count));
	/* The registered ring counts against RLIMIT_MEMLOCK, the buffers it points to do not. */
	m->memlock += ring;
}
