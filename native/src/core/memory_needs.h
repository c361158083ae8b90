/*
 * What an engine config will allocate, summed by the same functions the allocating code uses
 * (each server, load, buffer_ring.c, ring_setup.c adds its own share), so the estimate and the
 * allocations cannot drift apart. Socket buffers are not included: the kernel grows and
 * shrinks them with the traffic.
 */
#ifndef URING_LAB_CORE_MEMORY_NEEDS_H
#define URING_LAB_CORE_MEMORY_NEEDS_H

#include <stdint.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

struct memory_needs {
	uint64_t buffer_ring;  /* server: provided buffers, their ring, per-buffer links */
	uint64_t load_buffers; /* load: a send and a receive buffer per connection */
	uint64_t rings;        /* io_uring SQ/CQ rings and SQE arrays (kernel pages) */
	uint64_t conn_state;   /* per-connection and per-thread structs, both sides */
	/*
	 * Pages the kernel charges to RLIMIT_MEMLOCK (per user, not per
	 * process) when the process lacks CAP_IPC_LOCK. Measured on 6.18:
	 * every ring's SQ/CQ region and SQE array and the registered
	 * provided-buffer ring count, page by page; the provided buffers
	 * themselves are plain memory and do not. Rings are released
	 * asynchronously after close, so a quick restart can briefly see the
	 * previous run's pages still charged.
	 */
	uint64_t memlock;
};

static inline uint64_t mem_page_round(uint64_t n)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	return (n + page - 1) & ~(page - 1);
}

/*
 * This process is not charged for locked memory: it has CAP_IPC_LOCK in the initial user
 * namespace (root in a container's own namespace is charged like anyone).
 */
int memlock_exempt(void);

#ifdef __cplusplus
}
#endif

#endif
