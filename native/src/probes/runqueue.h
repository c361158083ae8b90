/* runqueue: the counter layout shared by runqueue.bpf.c and the reader. */
#ifndef URING_LAB_PROBES_RUNQUEUE_H
#define URING_LAB_PROBES_RUNQUEUE_H

#include "kernel_histogram.h"

/* Per-CPU counters (one entry), cumulative since load: the reader reports deltas. */
struct rq_counters {
	unsigned long long preemptions; /* switch-outs while still runnable */
};
/* The waits timed are the histogram's samples: the reader counts them there, so the count and
 * the histogram always agree (two maps are never read at the same instant). */

#endif
