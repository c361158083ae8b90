/*
 * Capability probe for `uring-lab doctor`: each io_uring setup flag the lab may use is tried
 * on a small throw-away ring, because only the kernel knows what it accepts (flags depend on
 * version, config, sysctl and seccomp). Results are negative errno values, turned into words
 * by the binding. The rings are created by ring_setup.c's ring_create(), one attempt each,
 * without any fallback: the point is to see what is refused.
 *
 * Beyond setup flags, what a knob needs is tried the way the engine would use it: buffer rings
 * (plain and incremental), NAPI registration, registered buffers, a sparse file table, a second
 * SQPOLL ring attached to the first, and multishot accept and recv, which count only when the
 * kernel keeps them armed (CQE_F_MORE). Feature bits and opcodes the kernel states are read by
 * the binding from `features` and `op_supported`. Everything is torn down before returning:
 * the doctor may probe while the lab runs, and must leave no fd or mapping behind.
 */
#include "core/capabilities.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/lab_threads.h"
#include "core/ring_setup.h"
#include "core/tcp_segments.h"

/* Newer than liburing 2.3's header (values from the kernel's uapi io_uring.h). */
#define PROBE_IOU_PBUF_RING_INC 2       /* io_uring_buf_reg.flags (2.3 calls the field pad) */
#define PROBE_IORING_REGISTER_NAPI 27   /* 6.9 */
#define PROBE_IORING_UNREGISTER_NAPI 28

/* struct io_uring_napi as 6.9 defined it; later kernels carved an opcode out of the padding,
 * whose 0 (IO_URING_NAPI_REGISTER_OP) means the 6.9 behaviour. */
struct probe_napi {
	uint32_t busy_poll_to;
	uint8_t prefer_busy_poll;
	uint8_t pad[3];
	uint64_t resv;
};

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

/* 0, or -errno of a raw io_uring_register() (for opcodes liburing 2.3 has no helper for). */
static int register_raw(struct io_uring *ring, unsigned op, void *arg, unsigned nr)
{
	long ret = syscall(__NR_io_uring_register, ring->ring_fd, op, arg, nr);
	return ret < 0 ? -errno : 0;
}

/*
 * Submits and waits up to a second for the CQE of the request tagged `tag`: 0 when it completed
 * with a result >= 0 and the kernel kept it armed (IORING_CQE_F_MORE, what multishot means),
 * its -errno when it failed, -EOPNOTSUPP when it completed once without F_MORE (the kernel
 * ignored the multishot flag). Other CQEs (an earlier probe's last words, such as the recv's
 * ENOBUFS once its socket closed) are skipped. *res gets the CQE's result.
 */
static int wait_multishot(struct io_uring *ring, uint64_t tag, int *res)
{
	struct __kernel_timespec ts = { .tv_sec = 1, .tv_nsec = 0 };
	struct io_uring_cqe *cqe;
	int ret;

	*res = -1;
	ret = io_uring_submit(ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	for (;;) {
		ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
		if (ret < 0)
			return ret;
		if (cqe->user_data == tag)
			break;
		io_uring_cqe_seen(ring, cqe);
	}
	*res = cqe->res;
	ret = cqe->res < 0 ? cqe->res : (cqe->flags & IORING_CQE_F_MORE) ? 0 : -EOPNOTSUPP;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

#define TAG_MULTISHOT_RECV 1
#define TAG_MULTISHOT_ACCEPT 2

/*
 * Registers a 1-entry provided-buffer ring (group bgid, with `flags`) whose one buffer is the
 * second page of `mem` (two pages, page aligned). A kernel that does not know a flag answers
 * EINVAL. The ring exit unregisters it (the multishot recv probe may still hold it).
 */
static int try_buf_ring(struct io_uring *ring, void *mem, uint16_t bgid, uint16_t flags)
{
	struct io_uring_buf_reg reg;
	struct io_uring_buf_ring *br = mem;
	long page = sysconf(_SC_PAGESIZE);
	int ret;

	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)mem;
	reg.ring_entries = 1;
	reg.bgid = bgid;
	reg.pad = flags;
	io_uring_buf_ring_init(br);
	ret = io_uring_register_buf_ring(ring, &reg, 0);
	if (ret < 0)
		return ret;
	io_uring_buf_ring_add(br, (char *)mem + page, (unsigned)page, 0, io_uring_buf_ring_mask(1), 0);
	io_uring_buf_ring_advance(br, 1);
	return 0;
}

/* A multishot RECV selecting from buffer group bgid, with a byte already waiting. */
static int try_multishot_recv(struct io_uring *ring, uint16_t bgid)
{
	struct io_uring_sqe *sqe;
	char byte = 0;
	int sv[2], ret, res;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (write(sv[1], &byte, 1) != 1) {
		ret = -errno;
		goto out;
	}
	sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		ret = -EBUSY;
		goto out;
	}
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = bgid;
	io_uring_sqe_set_data64(sqe, TAG_MULTISHOT_RECV);
	ret = wait_multishot(ring, TAG_MULTISHOT_RECV, &res);
out:
	/* Closing the socket ends the armed request (its last CQE is left for the ring exit). */
	close(sv[0]);
	close(sv[1]);
	return ret;
}

/* A multishot ACCEPT on an autobound abstract AF_UNIX listener (no port, no file), and one connect. */
static int try_multishot_accept(struct io_uring *ring)
{
	struct sockaddr_un addr;
	socklen_t len = sizeof(sa_family_t);
	struct io_uring_sqe *sqe;
	int lfd, cfd = -1, ret, res = -1;

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (bind(lfd, (struct sockaddr *)&addr, len) < 0 || listen(lfd, 4) < 0) {
		ret = -errno;
		goto out;
	}
	len = sizeof(addr);
	if (getsockname(lfd, (struct sockaddr *)&addr, &len) < 0) {
		ret = -errno;
		goto out;
	}
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&addr, len) < 0) {
		ret = -errno;
		goto out;
	}
	sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		ret = -EBUSY;
		goto out;
	}
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, TAG_MULTISHOT_ACCEPT);
	ret = wait_multishot(ring, TAG_MULTISHOT_ACCEPT, &res);
	if (res >= 0)
		close(res);
out:
	if (cfd >= 0)
		close(cfd);
	close(lfd);
	return ret;
}

static int try_registered_buffers(struct io_uring *ring, void *page_mem)
{
	struct iovec iov = { .iov_base = page_mem, .iov_len = (size_t)sysconf(_SC_PAGESIZE) };
	int ret = io_uring_register_buffers(ring, &iov, 1);
	if (ret < 0)
		return ret;
	io_uring_unregister_buffers(ring);
	return 0;
}

static int try_sparse_files(struct io_uring *ring)
{
	int ret = io_uring_register_files_sparse(ring, 8);
	if (ret < 0)
		return ret;
	io_uring_unregister_files(ring);
	return 0;
}

/* NAPI busy poll registration (lo has no NAPI ids, so on loopback it takes but does nothing). */
static int try_napi(struct io_uring *ring)
{
	struct probe_napi napi;
	int ret;

	memset(&napi, 0, sizeof(napi));
	napi.busy_poll_to = 50;
	ret = register_raw(ring, PROBE_IORING_REGISTER_NAPI, &napi, 1);
	if (ret < 0)
		return ret;
	register_raw(ring, PROBE_IORING_UNREGISTER_NAPI, &napi, 1);
	return 0;
}

/* One SQPOLL thread for two rings: the second attaches to the first's (IORING_SETUP_ATTACH_WQ). */
static int try_attach_wq(void)
{
	struct io_uring first, second;
	struct io_uring_params p;
	int ret;

	ret = open_ring(&first, IORING_SETUP_SQPOLL, NULL);
	if (ret < 0)
		return ret;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQPOLL | IORING_SETUP_ATTACH_WQ;
	p.sq_thread_idle = 10;
	p.wq_fd = (unsigned)first.ring_fd;
	ret = ring_create(&second, 8, &p);
	if (ret == 0)
		io_uring_queue_exit(&second);
	io_uring_queue_exit(&first);
	return ret;
}

/* The probes that need a plain ring of their own, each with its errno (see the header). */
static void probe_registrations(struct capability_probe *out)
{
	struct io_uring ring;
	long page = sysconf(_SC_PAGESIZE);
	void *mem;
	int ret;

	ret = open_ring(&ring, 0, NULL);
	if (ret < 0) {
		out->buf_ring_err = out->buf_ring_inc_err = out->napi_err = out->registered_buffers_err =
			out->sparse_files_err = out->multishot_accept_err = out->multishot_recv_err = ret;
		return;
	}
	/* Two buffer rings of one entry, each with its one buffer on the next page. */
	mem = mmap(NULL, (size_t)page * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		out->buf_ring_err = out->buf_ring_inc_err = out->multishot_recv_err = -errno;
		out->registered_buffers_err = out->buf_ring_err;
	} else {
		out->buf_ring_err = try_buf_ring(&ring, mem, 1, 0);
		out->buf_ring_inc_err = out->buf_ring_err < 0 ? out->buf_ring_err
							     : try_buf_ring(&ring, (char *)mem + 2 * page, 2,
									    PROBE_IOU_PBUF_RING_INC);
		out->registered_buffers_err = try_registered_buffers(&ring, (char *)mem + page);
		out->multishot_recv_err = out->buf_ring_err < 0 ? out->buf_ring_err : try_multishot_recv(&ring, 1);
	}
	out->sparse_files_err = try_sparse_files(&ring);
	out->napi_err = try_napi(&ring);
	out->multishot_accept_err = try_multishot_accept(&ring);
	io_uring_queue_exit(&ring);
	/* The kernel pinned the pages it used; unmapping after the ring is gone is safe. */
	if (mem != MAP_FAILED)
		munmap(mem, (size_t)page * 4);
}

static void *short_slice_thread(void *arg)
{
	*(int *)arg = lab_thread_short_slice();
	return NULL;
}

/* On a thread of its own, SCHED_OTHER whatever this one runs (a real-time caller's thread would
 * be left alone and read as ignored): the slice stays with the thread, which ends here. */
static int try_short_slice(void)
{
	struct sched_param zero = { 0 };
	pthread_attr_t attr;
	pthread_t t;
	int r = -EAGAIN, err;

	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
	pthread_attr_setschedparam(&attr, &zero);
	err = pthread_create(&t, &attr, short_slice_thread, &r);
	pthread_attr_destroy(&attr);
	if (err)
		return -err;
	pthread_join(t, NULL);
	return r == 1 ? 0 : r == 0 ? -EOPNOTSUPP : r;
}

void capability_probe_run(struct capability_probe *out)
{
	struct io_uring ring;
	struct io_uring_probe *probe;
	int i;

	memset(out, 0, sizeof(*out));
	out->short_slice_err = try_short_slice();
	tcp_segments_probe(&out->tcp_diag_err, &out->tcp_destroy_err);
	out->ring_err = try_setup(0, &out->features);
	if (out->ring_err < 0) {
		out->sqpoll_err = out->defer_taskrun_err = out->coop_taskrun_err =
			out->iopoll_socket_err = out->attach_wq_err = out->ring_err;
		out->buf_ring_err = out->buf_ring_inc_err = out->napi_err = out->registered_buffers_err =
			out->sparse_files_err = out->multishot_accept_err = out->multishot_recv_err = out->ring_err;
		return;
	}
	out->sqpoll_err = try_setup(IORING_SETUP_SQPOLL, NULL);
	out->defer_taskrun_err = try_setup(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, NULL);
	out->coop_taskrun_err = try_setup(IORING_SETUP_COOP_TASKRUN, NULL);
	out->iopoll_socket_err = try_iopoll_socket();
	out->attach_wq_err = out->sqpoll_err < 0 ? out->sqpoll_err : try_attach_wq();
	probe_registrations(out);

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
