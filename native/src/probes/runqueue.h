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

/* A task that ran on a CPU the watched tgid's threads use (sched.competitors), keyed by pid;
 * cumulative since its entry was made (the reader deletes entries idle for a whole interval). */
struct rq_competitor {
	unsigned long long on_cpu_ns;        /* switch-in → switch-out, summed */
	unsigned long long preempted_engine; /* switched in right after a watched thread was preempted */
	unsigned long long cpus;             /* bit per CPU it ran on (CPUs 0..63) */
	unsigned int tgid;
	char comm[16];
};

/* Per CPU: when the current task was switched in, and whether a watched thread has run here. */
struct rq_cpu_state {
	unsigned long long in_ns;
	unsigned long long engine_seen;
};

#endif
