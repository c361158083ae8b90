/* offcpu: the event layout shared by offcpu.bpf.h and the reader. */
#ifndef URING_LAB_PROBES_OFFCPU_H
#define URING_LAB_PROBES_OFFCPU_H

/* Kernel frames kept per block: deep enough for syscall entry → io_uring → schedule. */
#define OFFCPU_MAX_FRAMES 48

/* One block of a lab thread (uring-* or iou-*) of the watched tgid, sent when it ends. */
struct offcpu_event {
	unsigned long long off_ns;       /* switch-out (not runnable) → switch-in */
	unsigned long long end_ns;       /* CLOCK_MONOTONIC at the switch-in */
	unsigned int tid;
	int nframes;                     /* frames in ips, leaf first; < 0: the stack could not be read */
	char comm[16];
	unsigned long long ips[OFFCPU_MAX_FRAMES];
};

/* Per-CPU counters (one entry), cumulative: blocks the ring buffer could not take. */
struct offcpu_counters {
	unsigned long long truncated;
};

#endif
