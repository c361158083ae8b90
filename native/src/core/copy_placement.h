/*
 * Where socket I/O buffers are placed, because the kernel's copies care.
 *
 * Every recv copies skb data into the user buffer and every send copies the user buffer into
 * skb pages, with copy_to_user / copy_from_user: `rep movsb` on CPUs with FSRM. On AMD Zen 3
 * (this lab's VMs: EPYC family 25 model 1) that instruction runs 15-20x slower when the
 * destination lies 1-31 bytes past the source modulo 4 KiB: 64 KiB took 33.7 us instead of
 * 1.6 us, 4 KiB 2.1 us instead of 74 ns, and the same (~0.5 ns per byte) down to 32 bytes.
 * copy_distance_measure() below shows it through the kernel's own copy; `uring-lab doctor`
 * reports it. TCP's skb data for a stream of equal messages sits at page offsets that are
 * multiples of the message size (the sender's page fragment fills in order), i.e. usually
 * page- or 64-byte-aligned; a receive buffer 16 bytes into its page (what malloc hands out for
 * large blocks) therefore took every copy on the slow path. Measured: echo_client's 256 KiB
 * receive buffer from malloc cost it 69k ns per 64 KiB echo against 35k page-aligned; the
 * epoll engine's scratch buffer at page offset 16 cost it 66-77k ns per request against
 * 39-54k (1000 x 64 KiB, 3 interleaved rounds).
 *
 * So buffers that receive or send socket data start on a page (COPY_PLACEMENT_ALIGN); pools of
 * them are mmap'd (page-aligned) with power-of-two buffer sizes of at least 64 bytes.
 */
#ifndef URING_LAB_CORE_COPY_PLACEMENT_H
#define URING_LAB_CORE_COPY_PLACEMENT_H

#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COPY_PLACEMENT_ALIGN 4096

/* A socket I/O buffer of `bytes` starting on a page boundary (free() it), or NULL. */
static inline void *copy_buffer_alloc(size_t bytes)
{
	size_t rounded = (bytes + COPY_PLACEMENT_ALIGN - 1) & ~(size_t)(COPY_PLACEMENT_ALIGN - 1);

	/* aligned_alloc wants a size that is a multiple of the alignment. */
	return aligned_alloc(COPY_PLACEMENT_ALIGN, rounded ? rounded : COPY_PLACEMENT_ALIGN);
}

/*
 * The kernel's copy into user memory at two destinations: a pipe's pages (data at page offset
 * 0, as TCP's usually is) read() into a buffer `near_offset` (16) and `far_offset` (64) bytes
 * into its page. Each round writes a block into the pipe and reads it back; the best of
 * several rounds per offset, interleaved, is kept. The write is the same in both, so
 * near_ns - far_ns is what the near destination costs the copy.
 */
struct copy_distance {
	int err;                  /* 0, or -errno of the pipe or memory set-up */
	unsigned block;           /* bytes per write and read */
	unsigned near_offset, far_offset;
	uint64_t near_ns, far_ns; /* best write + read round at each */
};

void copy_distance_measure(struct copy_distance *out);

#ifdef __cplusplus
}
#endif

#endif
