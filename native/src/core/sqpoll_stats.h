/*
 * How much of an SQPOLL thread's CPU found work: the kernel's SqWorkTime (Linux 6.11), the CPU
 * of the passes of its loop that submitted SQEs or polled (IOPOLL, NAPI busy poll); in 6.18 a
 * pass that only ran completions' task work does not count. The rest of its CPU (SqTotalTime, which is the thread's system time, as our
 * thread clock reads it) went to spinning idle until sqpoll.idleMs let it sleep.
 *
 * The numbers are only in the ring's /proc fdinfo, which the kernel prints while holding the
 * ring's uring_lock (taken with a trylock: a busy ring may print nothing but the generic
 * lines; server.c tries again, and the next snapshot after that). A read holds that lock for
 * as long as the print takes (the registered file table is listed too), so it is made once per
 * snapshot, off the serving threads, and only for rings that have an SQPOLL thread.
 *
 * Both times come from the thread's runtime as the scheduler last updated it (at ticks and
 * scheduling events), not a clock read: a pass of a few microseconds is credited the time
 * since the last update when one falls inside it, and nothing otherwise. Right on average,
 * it is a sampled number: read it over a second or more, not per pass.
 */
#ifndef URING_LAB_CORE_SQPOLL_STATS_H
#define URING_LAB_CORE_SQPOLL_STATS_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sqpoll_stats {
	pid_t thread;      /* SqThread: the SQPOLL thread's tid (shared by rings attached to it) */
	uint64_t work_us;  /* SqWorkTime */
	uint64_t total_us; /* SqTotalTime */
};

/*
 * Reads ring_fd's fdinfo. 0 with *out filled; -EAGAIN when the kernel printed no SQPOLL lines
 * this time (the ring's lock was busy, or its thread was going away); -ENODATA when it has
 * an SQPOLL thread but no SqWorkTime (a kernel before 6.11); other -errno from the read.
 */
int sqpoll_stats_read(int ring_fd, struct sqpoll_stats *out);

#ifdef __cplusplus
}
#endif

#endif
