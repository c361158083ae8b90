/* sqpoll: the layouts shared by sqpoll.bpf.c and the reader. */
#ifndef URING_LAB_PROBES_SQPOLL_H
#define URING_LAB_PROBES_SQPOLL_H

/* Per-CPU counters (one entry), cumulative since load: the reader reports deltas. */
struct sqp_counters {
	unsigned long long on_cpu_ns; /* closed on-CPU spans of iou-sqp-* threads */
	unsigned long long wakeups;
};

/* sqp_oncpu: pid → switch-in time of an iou-sqp thread on a CPU now. The reader adds the open
 * spans (now − switch-in) to the closed ones, so a thread that spins for seconds without a
 * switch-out still shows in every interval. */

#endif
