/*
 * What a system call costs on this machine: the trip into the kernel and back for a call that
 * does nothing (getppid), and for an io_uring_enter with nothing to submit or wait for.
 *
 * Which echo server costs less per request depends on it. An epoll server makes about 2.5 calls
 * per request (recv, send, and epoll_wait for every second one or so: 0.53-0.55 at 8 x 64 KiB);
 * the lab's io_uring server 0.04-0.4 io_uring_enter calls. Measured 71 ns a call on an Intel
 * Xeon KVM guest (2026-12), where io_uring's best cost 1.00-1.04x the epoll servers' CPU per
 * request at 50 x 4 KiB and 1.07-1.11x at 8 x 64 KiB; on the AMD EPYC guests of earlier boots
 * it cost 0.67-0.71x theirs at 50 x 4 KiB. A guest whose system calls the hypervisor handles,
 * or page-table isolation without PCID, makes each call cost far more, and what io_uring saves
 * with it. `uring-lab doctor` reports this measurement and bench:engine prints it with its
 * numbers.
 */
#ifndef URING_LAB_CORE_SYSCALL_COST_H
#define URING_LAB_CORE_SYSCALL_COST_H

#ifdef __cplusplus
extern "C" {
#endif

struct syscall_cost {
	unsigned calls;    /* calls per round */
	double getppid_ns; /* ns per getppid in the best round */
	int enter_err;     /* 0, or -errno of the ring's set-up or of an enter (enter_ns is then 0) */
	double enter_ns;   /* ns per io_uring_enter(fd, 0, 0, 0) in the best round */
};

/* Best of several rounds of each, interleaved: ~15 ms at 70 ns a call, ~0.2 s at 1 µs. */
void syscall_cost_measure(struct syscall_cost *out);

#ifdef __cplusplus
}
#endif

#endif
