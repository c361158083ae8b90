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

/*
 * The measured threads (server workers, load and storage threads: worker.c asks for each as it
 * starts) ask the fair scheduler for a short slice: on Linux 6.12+ a SCHED_OTHER/BATCH
 * thread's sched_attr.sched_runtime is its requested EEVDF slice, and a woken thread with a
 * shorter slice than the running one preempts it (PREEMPT_SHORT) instead of waiting out that
 * one's slice protection. The lab's own threads (frame bookkeeping in the engine's JS thread and
 * the host) run in chunks of 0.3-1.1 ms beside the measured threads; with the default slice
 * (1.4 ms on this 2-vCPU VM) a server or load thread woken meanwhile waited for the chunk to
 * end, and the open loop's p99 at 5000 req/s counted those waits: 1.98-2.24 ms, against
 * 1.25-1.54 ms with the short slice, probes on (README: Scheduling of the measured threads).
 * A slice is not a share: the weights (nice) still divide the CPU. Leaves a real-time or
 * deadline policy alone. Returns 1 when the slice is in place (read back), 0 when this kernel
 * does not keep it (before 6.12) or the policy is not a fair one, -errno when the call failed.
 */
#define LAB_MEASURED_SLICE_NS 100000ull
int lab_thread_short_slice(void);

/* In a child the engine forks to act as a competitor (inject): back to SCHED_OTHER if the
 * engine's thread it was forked from ran SCHED_BATCH as a lab thread. */
void lab_threads_child_policy(void);

#ifdef __cplusplus
}
#endif

#endif
