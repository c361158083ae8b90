#ifndef URING_LAB_LAB_THREADS_H
#define URING_LAB_LAB_THREADS_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The lab's own threads (the engine's JS thread, libuv's and V8's helpers, the probe sampler,
 * and its host's) against the threads it measures (server and load workers, their io_uring
 * kernel threads, injected faults).
 *
 * While a run serves, the lab's threads run SCHED_BATCH: the same CPU share as SCHED_OTHER at
 * the same nice value, but a wake-up never preempts a running SCHED_OTHER task (the fair class
 * leaves batch tasks to the tick), so a frame's bookkeeping waits for a gap in the server's
 * work instead of cutting into it. Only SCHED_OTHER threads are changed and only SCHED_BATCH
 * ones changed back: a real-time or idle policy the user gave is left as it is. Neither needs
 * a privilege (sched(7): an unprivileged thread may switch between SCHED_OTHER and SCHED_BATCH).
 */

/* Calls fn(tid, arg) for every thread of process `pid` (0: this one) whose name starts with
 * none of `skip` (`nskip` prefixes); a thread that exits meanwhile is skipped. Stops at fn's
 * first negative return and returns it; -errno when the task directory cannot be read; else 0.
 * The walk both pinThreads (affinity) and lab_threads_set_batch (policy) make. */
int lab_threads_each(int pid, const char *const *skip, int nskip, int (*fn)(pid_t tid, void *arg), void *arg);

/* Sets every thread of process `pid` (0: this one) whose name starts with none of `skip`
 * (`nskip` prefixes) to SCHED_BATCH (`batch` != 0) or back to SCHED_OTHER. Returns how many it
 * changed, or -errno (a thread that exits meanwhile is skipped). */
int lab_threads_set_batch(int pid, int batch, const char *const *skip, int nskip);

/* In a child the engine forks to act as a competitor (inject): back to SCHED_OTHER if the
 * engine's thread it was forked from ran SCHED_BATCH as a lab thread. */
void lab_threads_child_policy(void);

#ifdef __cplusplus
}
#endif

#endif
