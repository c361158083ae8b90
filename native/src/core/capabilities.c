/*
 * Capability probe for `uring-lab doctor`: each io_uring setup flag the lab may use is tried
 * on a small throw-away ring, because only the kernel knows what it accepts (flags depend on
 * version, config, sysctl and seccomp). Results are negative errno values, turned into words
 * by the binding. The rings are created by ring_setup.c's ring_create(), one attempt each,
 * without any fallback: the point is to see what is refused.
 */
#include "core/capabilities.h"

#include <liburing.h>
#include <string.h>

#include "core/ring_setup.h"

#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

/* A throw-away ring of 8 entries with exactly these flags; 0 or -errno. */
static int open_ring(struct io_uring *ring, unsigned flags, unsigned *features)
{
	struct io_uring_params p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	if (flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = 10;
	ret = ring_create(ring, 8, &p);
	if (ret == 0 && features)
		*features = p.features;
	return ret;
}

static int try_setup(unsigned flags, unsigned *features)
{
	struct io_uring ring;
	int ret = open_ring(&ring, flags, features);
	if (ret < 0)
		return ret;
	io_uring_queue_exit(&ring);
	return 0;
}

/* IOPOLL is for O_DIRECT storage with poll queues; a socket op on such a ring is refused.
 * The refusal arrives as the CQE's result, not from io_uring_setup. */
static int try_iopoll_socket(void)
{
	struct io_uring ring;
	int ret;

	ret = open_ring(&ring, IORING_SETUP_IOPOLL, NULL);
	if (ret < 0)
		return ret;
	ret = ring_socket_recv_check(&ring);
	io_uring_queue_exit(&ring);
	return ret;
}

void capability_probe_run(struct capability_probe *out)
{
	struct io_uring ring;
	struct io_uring_probe *probe;
	int i;

	memset(out, 0, sizeof(*out));
	out->ring_err = try_setup(0, &out->features);
	if (out->ring_err < 0) {
		out->sqpoll_err = out->defer_taskrun_err = out->coop_taskrun_err =
			out->iopoll_socket_err = out->ring_err;
		return;
	}
	out->sqpoll_err = try_setup(IORING_SETUP_SQPOLL, NULL);
	out->defer_taskrun_err = try_setup(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, NULL);
	out->coop_taskrun_err = try_setup(IORING_SETUP_COOP_TASKRUN, NULL);
	out->iopoll_socket_err = try_iopoll_socket();

	if (open_ring(&ring, 0, NULL) < 0)
		return;
	probe = io_uring_get_probe_ring(&ring);
	if (probe) {
		out->op_count = probe->last_op + 1;
		if (out->op_count > CAPABILITY_MAX_OPS)
			out->op_count = CAPABILITY_MAX_OPS;
		for (i = 0; i < out->op_count; i++)
			out->op_supported[i] = io_uring_opcode_supported(probe, i) ? 1 : 0;
		io_uring_free_probe(probe);
	}
	io_uring_queue_exit(&ring);
}

/* Indexed by opcode number; kept beyond liburing 2.3's enum so newer kernels read well. */
static const char *const op_names[] = {
	"NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED", "POLL_ADD", "POLL_REMOVE",
	"SYNC_FILE_RANGE", "SENDMSG", "RECVMSG", "TIMEOUT", "TIMEOUT_REMOVE", "ACCEPT",
	"ASYNC_CANCEL", "LINK_TIMEOUT", "CONNECT", "FALLOCATE", "OPENAT", "CLOSE", "FILES_UPDATE",
	"STATX", "READ", "WRITE", "FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2", "EPOLL_CTL",
	"SPLICE", "PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE", "SHUTDOWN", "RENAMEAT", "UNLINKAT",
	"MKDIRAT", "SYMLINKAT", "LINKAT", "MSG_RING", "FSETXATTR", "SETXATTR", "FGETXATTR",
	"GETXATTR", "SOCKET", "URING_CMD", "SEND_ZC", "SENDMSG_ZC", "READ_MULTISHOT", "WAITID",
	"FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_WAITV", "FIXED_FD_INSTALL", "FTRUNCATE", "BIND",
	"LISTEN", "RECV_ZC", "EPOLL_WAIT", "READV_FIXED", "WRITEV_FIXED", "PIPE",
};

const char *capability_op_name(int op)
{
	if (op < 0 || op >= (int)(sizeof(op_names) / sizeof(op_names[0])))
		return NULL;
	return op_names[op];
}
