/*
 * Every io_uring in the engine is created here: the server ring with the flags a config asks
 * for, the load rings, and doctor's throw-away rings. fio style: try what was requested, and
 * when the kernel refuses, find the flag it refused, drop it, retry, and record the refusal
 * (the flag, the errno and why) so the host can say what really ran. Which profile knob a flag
 * belongs to is the host's business: no profile path appears here.
 */
#ifndef URING_LAB_CORE_RING_SETUP_H
#define URING_LAB_CORE_RING_SETUP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct io_uring;
struct io_uring_params;

enum taskrun_mode { TASKRUN_DEFAULT = 0, TASKRUN_COOP = 1, TASKRUN_DEFER = 2 };

struct ring_request {
	unsigned entries;
	int sqpoll;
	unsigned sqpoll_idle_ms;
	int sqpoll_cpu; /* -1: let the scheduler choose (no SQ_AFF) */
	enum taskrun_mode taskrun;
	int register_fd; /* io_uring_register_ring_fd() once the ring exists (Linux 5.18) */
	int iopoll;      /* IORING_SETUP_IOPOLL, kept only if the ring then takes a socket op */
	/* The ring is for files (a storage job): IOPOLL is kept without the socket check, which
	 * would refuse it; the job checks it with its first read instead (loads/storage_load.h). */
	int iopoll_files;
	/* CQ entries wanted at least (0: 2 × entries); rounded up to a power of two, never below
	 * 2 × entries, and clamped by the kernel to its maximum (IORING_SETUP_CLAMP). */
	unsigned cq_min;
	/* IORING_SETUP_ATTACH_WQ to wq_fd (server.sqpoll.shared: worker 0's ring), so one SQPOLL
	 * thread and one io-wq serve every ring; refused, the ring is made on its own. */
	int attach_wq;
	int wq_fd;
	/* One thread creates, submits to and registers with this ring (or its SQPOLL thread
	 * submits): IORING_SETUP_SINGLE_ISSUER whatever the task-run mode, as the engine's own flag
	 * like SUBMIT_ALL (dropped silently where the kernel lacks it, before SQPOLL where it
	 * refuses the pair). DEFER_TASKRUN needs it regardless, as a setting of its own. */
	int single_issuer;
};

/*
 * Not an IORING_SETUP_* flag but a setting applied right after setup: the registration of the
 * ring's fd with the kernel, so io_uring_enter skips the fdget/fdput of the ring's file. Its
 * refusal goes in the same list as the flags' (ring_refusal.flag), so one list says everything
 * a request asked for that did not take effect. No setup flag uses this bit.
 */
#define RING_SETTING_REGISTERED_FD (1u << 31)

/*
 * Not a ring setting either: the server's provided-buffer pool on huge pages (MAP_HUGETLB).
 * The server records its refusal in its ring's result, beside the flags', with the mmap's
 * errno (the pool then runs on normal pages). No setup flag uses this bit.
 */
#define RING_SETTING_HUGEPAGES (1u << 30)

/*
 * Settings of the server's workers applied after (or before) the ring's setup, refused beside
 * the flags with their errno; no setup flag uses these bits:
 * NAPI: IORING_REGISTER_NAPI (opcode 27, Linux 6.9) with the busy-poll timeout.
 * MIN_WAIT: the serve loop's IORING_ENTER_EXT_ARG min_wait_usec, which needs
 *   IORING_FEAT_MIN_TIMEOUT (Linux 6.12); refused with EOPNOTSUPP when the feature is absent.
 * NUMA_NODE / NUMA_CPUS: the worker thread's memory policy (set_mempolicy) and CPU affinity
 *   (pthread_setaffinity_np), set before the ring exists.
 */
#define RING_SETTING_NAPI (1u << 29)
#define RING_SETTING_MIN_WAIT (1u << 28)
#define RING_SETTING_NUMA_NODE (1u << 27)
#define RING_SETTING_NUMA_CPUS (1u << 26)
/* IORING_SETUP_ATTACH_WQ is 1U << 5 in every header; named here for the refusal list. */
#define RING_SETUP_ATTACH_WQ (1u << 5)
/* IORING_FEAT_MIN_TIMEOUT (6.12), newer than liburing 2.3's header. */
#define RING_FEAT_MIN_TIMEOUT (1u << 15)
/*
 * The io_uring echo server's receive and send path knobs, refused beside the flags with the
 * errno of the registration or feature check that refused them (the server then runs without):
 * RECV_BUNDLE: IORING_RECVSEND_BUNDLE needs IORING_FEAT_RECVSEND_BUNDLE (6.10), else EINVAL.
 * BUF_INCREMENTAL: the buffer ring registered with IOU_PBUF_RING_INC (6.12).
 * SEND_ZC: IORING_OP_SEND_ZC / SENDMSG_ZC in the ring's opcode probe (6.0 / 6.1).
 * REGISTERED_BUFFERS: io_uring_register_buffers over the receive pool (RLIMIT_MEMLOCK).
 * DIRECT_DESCRIPTORS: io_uring_register_files_sparse, the table direct accepts fill.
 * QUIET_SENDS: the server's check that the kernel keeps the quiet-send contract (EOPNOTSUPP
 * when it does not); conflicts with SQPOLL (EINVAL), whose thread submits on its own time.
 * RECV_ON_READY: a policy of the server's own, refused only as a conflict with SQPOLL (EINVAL):
 * its recvs are submitted as polls fire, and the SQPOLL thread would take them on its own time.
 * (Bit 16: IORING_SETUP_NO_SQARRAY's, a flag the lab never asks for.)
 */
#define RING_SETTING_RECV_BUNDLE (1u << 25)
#define RING_SETTING_BUF_INCREMENTAL (1u << 24)
#define RING_SETTING_SEND_ZC (1u << 23)
#define RING_SETTING_REGISTERED_BUFFERS (1u << 22)
#define RING_SETTING_DIRECT_DESCRIPTORS (1u << 21)
#define RING_SETTING_QUIET_SENDS (1u << 20)
#define RING_SETTING_RECV_ON_READY (1u << 16)
/*
 * The server's socket options (server.socket), set on each worker's listener and inherited by
 * the sockets it accepts; refused with setsockopt's errno (TCP_CONGESTION: ENOENT for a name
 * the kernel has no module for, EPERM for one outside net.ipv4.tcp_allowed_congestion_control
 * without CAP_NET_ADMIN), or, for a buffer the kernel granted less of than asked (capped at
 * net.core.rmem_max / wmem_max), with the errno of the uncapped SO_*BUFFORCE (EPERM without
 * CAP_NET_ADMIN). The lab never requests the IORING_SETUP_* flags of these bits (17-19).
 */
#define RING_SETTING_TCP_CONGESTION (1u << 19)
#define RING_SETTING_SO_RCVBUF (1u << 18)
#define RING_SETTING_SO_SNDBUF (1u << 17)

/* Why a requested flag did not take effect (RefusedSetting.cause in index.d.ts). */
enum refusal_cause {
	/* The kernel refused the flag on its own (unsupported, not permitted, bad value). */
	REFUSAL_REFUSED = 0,
	/* The kernel refused the flag only in combination with IORING_SETUP_SQPOLL. */
	REFUSAL_CONFLICTS_WITH_SQPOLL,
	/* SQ_AFF, dropped because SQPOLL (which it pins) was refused; err is SQPOLL's. */
	REFUSAL_MOOT_WITHOUT_SQPOLL,
	/* DEFER_TASKRUN, dropped because SINGLE_ISSUER (which it requires) was refused; err is SINGLE_ISSUER's. */
	REFUSAL_NEEDS_SINGLE_ISSUER,
	/* IOPOLL: the ring was accepted, then the device failed the first I/O with EOPNOTSUPP because
	 * it has no poll queues; err is that completion's. */
	REFUSAL_NO_POLL_QUEUES,
};

struct ring_refusal {
	unsigned flag; /* one IORING_SETUP_* bit the request implied, RING_SETTING_REGISTERED_FD or _HUGEPAGES */
	int err;       /* negative errno from io_uring_setup (io_uring_register for the fd) */
	enum refusal_cause cause;
};

#define RING_REFUSAL_MAX 16

struct ring_setup_result {
	unsigned flags;     /* IORING_SETUP_* that took effect */
	unsigned features;  /* IORING_FEAT_* the kernel reported */
	unsigned sq_entries, cq_entries;
	int sqpoll;         /* SQPOLL took effect */
	int sqpoll_cpu;     /* -1 unless SQ_AFF took effect */
	enum taskrun_mode taskrun; /* the mode that took effect */
	int registered_fd;  /* io_uring_register_ring_fd() took effect */
	int iopoll;         /* IOPOLL took effect (and the ring took a socket op) */
	int hugepages;      /* the server's buffer pool is on huge pages (set by the server, not ring_setup) */
	int attached_wq;    /* ATTACH_WQ took effect: this ring shares worker 0's SQPOLL thread and io-wq */
	int napi;           /* IORING_REGISTER_NAPI took effect (ring_register_napi) */
	unsigned min_wait_us; /* min_wait_usec the serve loop waits with (0: off or refused) */
	int numa_node;      /* the worker's memory policy is bound to this node; -1: none (set by the server) */
	int cpu;            /* the worker thread is pinned to this CPU; -1: not pinned (set by the server) */
	/* The echo server's receive and send path as it took effect (set by the server). */
	int multishot, recv_on_ready, recv_bundle, buf_incremental, send_zc, registered_buffers, direct_descriptors, quiet_sends;
	/* server.socket as the listener holds it (set by the server): the congestion control read
	 * back ("" when not asked for or refused), the buffers the kernel granted in the units they
	 * were asked in (0 when not asked for). */
	char congestion[16];
	int rcvbuf, sndbuf;
	int attempts;       /* io_uring_setup calls made */
	struct ring_refusal refused[RING_REFUSAL_MAX];
	int nrefused;
};

/*
 * How one attempt really creates (and destroys) a ring, and registers its fd. The engine uses
 * ring_creator_kernel (io_uring_queue_init_params / io_uring_queue_exit /
 * io_uring_register_ring_fd); the binding's debugRingFallback test hook passes a fake that
 * refuses chosen flag combinations, to run the fallback without a kernel that refuses anything.
 */
struct ring_creator {
	int (*init)(void *ctx, unsigned entries, struct io_uring *ring, struct io_uring_params *p);
	void (*exit)(void *ctx, struct io_uring *ring);
	/* 1 when the ring's fd was registered, else -errno (liburing's io_uring_register_ring_fd). */
	int (*register_fd)(void *ctx, struct io_uring *ring);
	/* 0 when the ring completes a recv on a socket, else -errno (ring_socket_recv_check). */
	int (*socket_check)(void *ctx, struct io_uring *ring);
	void *ctx;
};

extern const struct ring_creator ring_creator_kernel;

/* One attempt with exactly these params, no fallback (doctor's probes). 0 or -errno. */
int ring_create(struct io_uring *ring, unsigned entries, struct io_uring_params *p);

/*
 * Submits one 1-byte RECV on a fresh AF_UNIX socketpair (with a byte already waiting) on
 * `ring` and waits up to a second for its completion: 0 when the recv completed, else -errno
 * (the CQE's result, or the submit's or the wait's). An IOPOLL ring settles fine but the
 * kernel refuses socket ops on it with EINVAL in the CQE; this is how both doctor's probe and
 * the server ring's setup find that out. Must run on the thread that owns the ring.
 */
int ring_socket_recv_check(struct io_uring *ring);

/*
 * Initialises `ring` on the calling thread (SINGLE_ISSUER binds the ring to its creator) with
 * the requested flags plus SUBMIT_ALL and CQSIZE (CQ = 2 × entries), dropping what the kernel
 * refuses. With iopoll, a ring that settled with IOPOLL must then complete a socket recv
 * (ring_socket_recv_check); if it does not, the ring is made again without IOPOLL and IOPOLL is
 * recorded as refused with that errno. Then, if asked, registers the ring's fd; the registration belongs to the calling
 * thread too, and io_uring_queue_exit undoes it. A refused registration is recorded and the
 * ring runs without it. Returns 0, or the negative errno of the plainest setup when no
 * combination of flags works at all.
 */
int ring_setup(struct io_uring *ring, const struct ring_request *req, struct ring_setup_result *res);
/* The same with another creator (the test hook's fake). */
int ring_setup_with(const struct ring_creator *creator, struct io_uring *ring, const struct ring_request *req,
		    struct ring_setup_result *res);

/*
 * CQ entries asked for (IORING_SETUP_CQSIZE) with a ring of sq_entries that wants at least
 * cq_min (0: none): the next power of two >= max(2 × sq_entries, cq_min), at most the kernel's
 * IORING_MAX_CQ_ENTRIES (65536; the kernel clamps too, IORING_SETUP_CLAMP).
 */
unsigned ring_setup_cq_entries(unsigned sq_entries, unsigned cq_min);

/*
 * IORING_REGISTER_NAPI (opcode 27, Linux 6.9) on `ring` with busy_poll_us (raw
 * io_uring_register: liburing 2.3 has no helper): the ring's waits busy-poll the NAPI
 * contexts of its sockets. Records res->napi, or the refusal (RING_SETTING_NAPI) with errno.
 * No effect on lo (its traffic has no NAPI id), though the kernel accepts it.
 */
void ring_register_napi(struct io_uring *ring, unsigned busy_poll_us, struct ring_setup_result *res);

/* Appends a refusal (no-op when the list is full). */
void ring_refuse(struct ring_setup_result *res, unsigned setting, int err, int cause);

/*
 * Kernel pages of one ring as io_uring_setup sizes them: the SQ/CQ region
 * (header, CQEs, SQ index array) and the SQE array, each in whole pages,
 * after the kernel's power-of-two round-up of both entry counts.
 */
uint64_t ring_kernel_bytes(unsigned sq_entries, unsigned cq_entries);

#ifdef __cplusplus
}
#endif

#endif
