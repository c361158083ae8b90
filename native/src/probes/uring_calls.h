/* uring_calls: the counter layout shared by uring_calls.bpf.c and the reader. */
#ifndef URING_LAB_PROBES_URING_CALLS_H
#define URING_LAB_PROBES_URING_CALLS_H

#define URING_ENTER_SYSCALL_NR 426 /* io_uring_enter on x86_64 (the raw sys_enter variant filters on it) */

/* Per-CPU counters (one entry), cumulative since load: the reader reports deltas. */
struct calls_counters {
	unsigned long long enters;       /* io_uring_enter syscalls of server threads */
	unsigned long long cq_waits;     /* io_uring_cqring_wait: a server thread blocked for CQEs */
	unsigned long long io_wq_punts;  /* io_uring_queue_async_work on a server ring */
	unsigned long long cqe_overflows;
	unsigned long long short_writes;
	unsigned long long req_failed;
};

#endif
