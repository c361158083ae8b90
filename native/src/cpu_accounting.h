/*
 * Per-thread CPU accounting, read only when a snapshot is taken (never per
 * request).
 *
 * Threads we create are measured with their CPU-time clocks. The kernel's
 * io_uring helper threads (SQPOLL "iou-sqp-<tid>" and io-wq "iou-wrk-<tid>")
 * are not ours to hold a clock for, so they are found by walking
 * /proc/self/task and read from /proc/self/task/<tid>/schedstat (first field:
 * ns on CPU). The <tid> in a helper's name is the task that created it, which
 * is how a helper is attributed to the server or to a load thread; helpers
 * of other rings in this process (e.g. libuv's) are left out.
 */
#ifndef URING_LAB_CPU_ACCOUNTING_H
#define URING_LAB_CPU_ACCOUNTING_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ns of CPU used by the calling thread. */
uint64_t cpu_self_thread_ns(void);
/* ns of CPU used by a live thread; negative errno if it is gone. */
int cpu_thread_ns(pthread_t thread, uint64_t *ns);
/* ns of CPU used by the whole process (CLOCK_PROCESS_CPUTIME_ID). */
uint64_t cpu_process_ns(void);

#define CPU_HELPERS_MAX 256

/*
 * Running totals of io_uring helper-thread CPU. Each helper's last reading is
 * remembered, so a helper that exits between two scans keeps what it used up
 * to the last scan and totals never go backwards. Not thread-safe: the
 * caller serialises scans.
 */
struct cpu_helpers {
	struct {
		pid_t tid;
		uint64_t last_ns;
		int seen; /* mark for this scan */
	} slot[CPU_HELPERS_MAX];
	int nslots;
	uint64_t server_ns; /* helpers created by the server thread (or its SQPOLL thread) */
	uint64_t load_ns;   /* helpers created by load threads */
};

void cpu_helpers_init(struct cpu_helpers *h);
/* Walks /proc/self/task once and adds what each helper used since the last scan. */
void cpu_helpers_scan(struct cpu_helpers *h, pid_t server_tid, const pid_t *load_tids, int nload);

#ifdef __cplusplus
}
#endif

#endif
