/*
 * Per-thread CPU accounting, read only when a snapshot is taken (never per
 * request).
 *
 * Threads we create are measured with their CPU-time clocks. The kernel's
 * io_uring helper threads (SQPOLL "iou-sqp-<tid>" and io-wq "iou-wrk-<tid>")
 * have no pthread_t, so they are found by walking /proc/self/task and read
 * with the per-thread CPU clock of their tid (exact, like our own threads'
 * clocks; /proc/.../schedstat, the fallback, lags up to a tick for a thread
 * that is running). The <tid> in a helper's name is the task that created
 * it, which is how a helper is attributed to the server or to one load
 * thread; helpers of other rings in this process (e.g. libuv's) are left out.
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
/* ns of CPU used by thread `tid` of this process; negative errno if gone. */
int cpu_tid_ns(pid_t tid, uint64_t *ns);
/* ns of CPU used by the whole process (CLOCK_PROCESS_CPUTIME_ID). */
uint64_t cpu_process_ns(void);

#define CPU_HELPERS_MAX 256
#define CPU_LOAD_THREADS_MAX 64

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
	/* What each thread of the process is, by tid, so a scan reads a thread's name only until
	 * it is known (reading every thread's comm each snapshot was ~15 open/read/close a scan,
	 * ~1 ms/s of the engine's main thread). A helper names itself as it starts, so a thread
	 * counts as no helper only once two scans have read another name; helpers never rename. */
	struct {
		pid_t tid;
		pid_t creator;    /* helpers: the <tid> of their name */
		signed char kind; /* -1 not yet known, 0 no helper, 1 SQPOLL, 2 io-wq worker */
		unsigned char other_names; /* scans that read a name that is not a helper's */
		unsigned char seen;        /* mark for this scan */
	} name[CPU_HELPERS_MAX];
	int nnames;
	uint64_t server_ns; /* helpers created by a server worker thread (or its SQPOLL thread) */
	uint64_t server_sqpoll_ns; /* the part of server_ns used by SQPOLL threads themselves */
	uint64_t load_ns;   /* helpers created by load threads */
	uint64_t load_ns_by[CPU_LOAD_THREADS_MAX]; /* the same, per load thread (load_tids order) */
};

void cpu_helpers_init(struct cpu_helpers *h);
/* Walks /proc/self/task once and adds what each helper used since the last
 * scan. The server's helpers are those created by any of its nserver worker threads
 * (server.rings; with sqpoll.shared the one SQPOLL thread is worker 0's). nload is at most
 * CPU_LOAD_THREADS_MAX. */
void cpu_helpers_scan(struct cpu_helpers *h, const pid_t *server_tids, int nserver, const pid_t *load_tids,
		      int nload);

/*
 * User and system CPU of thread `tid` of this process, from /proc/self/task/TID/stat (utime,
 * stime). The kernel scales the two so they add up to the thread's exact runtime, but hands
 * them out in clock ticks (USER_HZ, 100 here: 10 ms). 0, or -errno once the thread is gone.
 */
int cpu_tid_user_sys_ns(pid_t tid, uint64_t *user_ns, uint64_t *sys_ns);

#ifdef __cplusplus
}
#endif

#endif
