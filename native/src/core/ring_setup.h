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
};

struct ring_refusal {
	unsigned flag; /* one IORING_SETUP_* bit the request implied, RING_SETTING_REGISTERED_FD or _HUGEPAGES */
	int err;       /* negative errno from io_uring_setup (io_uring_register for the fd) */
	enum refusal_cause cause;
};

#define RING_REFUSAL_MAX 8

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

/* CQ entries asked for (IORING_SETUP_CQSIZE) with a ring of sq_entries. */
unsigned ring_setup_cq_entries(unsigned sq_entries);

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
