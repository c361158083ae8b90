/* The system-call cost measurement; see syscall_cost.h. */
#define _GNU_SOURCE
#include "core/syscall_cost.h"

#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.h"

#define ROUNDS 5
#define CALLS 20000

/* One round of CALLS getppid: ns per call. Through syscall(): glibc may answer getpid-like calls
 * without entering the kernel, and what is measured is the entry. */
static double getppid_round(void)
{
	uint64_t t0 = mono_ns();

	for (int i = 0; i < CALLS; i++)
		syscall(SYS_getppid);
	return (double)(mono_ns() - t0) / CALLS;
}

/* One round of CALLS enters that submit nothing and wait for nothing: ns per call, or -errno. */
static double enter_round(int ring_fd, int *err)
{
	uint64_t t0 = mono_ns();

	for (int i = 0; i < CALLS; i++) {
		if (syscall(__NR_io_uring_enter, ring_fd, 0, 0, 0, NULL, 0) < 0) {
			*err = -errno;
			return 0;
		}
	}
	return (double)(mono_ns() - t0) / CALLS;
}

void syscall_cost_measure(struct syscall_cost *out)
{
	struct io_uring ring;
	int ret;

	memset(out, 0, sizeof(*out));
	out->calls = CALLS;
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret)
		out->enter_err = ret;
	for (int r = 0; r < ROUNDS; r++) {
		double ns = getppid_round();

		if (r == 0 || ns < out->getppid_ns)
			out->getppid_ns = ns;
		if (out->enter_err)
			continue;
		ns = enter_round(ring.ring_fd, &out->enter_err);
		if (!out->enter_err && (r == 0 || ns < out->enter_ns))
			out->enter_ns = ns;
	}
	if (out->enter_err)
		out->enter_ns = 0;
	if (!ret)
		io_uring_queue_exit(&ring);
}
