/* Ring creation with per-flag fallback; see ring_setup.h. */
#include "core/ring_setup.h"

#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/memory_needs.h"

/* struct io_rings before its CQE array: p.cq_off.cqes on 6.18 x86-64. */
#define RING_HEADER_BYTES 64u

static uint64_t pow2_up(uint64_t n)
{
	uint64_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* IORING_MAX_CQ_ENTRIES: 2 × IORING_MAX_ENTRIES (32768). */
#define RING_MAX_CQ_ENTRIES 65536u

unsigned ring_setup_cq_entries(unsigned sq_entries, unsigned cq_min)
{
	uint64_t want = (uint64_t)sq_entries * 2;

	if (cq_min > want)
		want = cq_min;
	want = pow2_up(want);
	return want > RING_MAX_CQ_ENTRIES ? RING_MAX_CQ_ENTRIES : (unsigned)want;
}

void ring_refuse(struct ring_setup_result *res, unsigned setting, int err, int cause)
{
	if (res->nrefused < RING_REFUSAL_MAX)
		res->refused[res->nrefused++] = (struct ring_refusal){ .flag = setting, .err = err,
								       .cause = (enum refusal_cause)cause };
}

/* struct io_uring_napi of 6.9+ (opcode/op_param since 6.13 sit in what was pad: zero is
 * "register, dynamic tracking", the 6.9 behaviour). */
struct ring_napi {
	uint32_t busy_poll_to;
	uint8_t prefer_busy_poll;
	uint8_t pad[3];
	uint64_t resv;
};
#define RING_REGISTER_NAPI 27

void ring_register_napi(struct io_uring *ring, unsigned busy_poll_us, struct ring_setup_result *res)
{
	struct ring_napi napi = { .busy_poll_to = busy_poll_us, .prefer_busy_poll = 0 };
	/* The ring's own fd: a registered ring fd only counts with IORING_REGISTER_USE_REGISTERED_RING. */
	long ret = syscall(__NR_io_uring_register, ring->ring_fd, RING_REGISTER_NAPI, &napi, 1);

	if (ret == 0)
		res->napi = 1;
	else
		ring_refuse(res, RING_SETTING_NAPI, -errno, REFUSAL_REFUSED);
}

uint64_t ring_kernel_bytes(unsigned sq_entries, unsigned cq_entries)
{
	uint64_t sq = pow2_up(sq_entries), cq = pow2_up(cq_entries);
	uint64_t region = RING_HEADER_BYTES + cq * sizeof(struct io_uring_cqe);

	region = (region + 63) & ~63ull; /* the SQ array starts cache-aligned */
	region += sq * sizeof(uint32_t);
	return mem_page_round(region) + mem_page_round(sq * sizeof(struct io_uring_sqe));
}

static int kernel_init(void *ctx, unsigned entries, struct io_uring *ring, struct io_uring_params *p)
{
	(void)ctx;
	return io_uring_queue_init_params(entries, ring, p);
}

static void kernel_exit(void *ctx, struct io_uring *ring)
{
	(void)ctx;
	io_uring_queue_exit(ring);
}

static int kernel_register_fd(void *ctx, struct io_uring *ring)
{
	(void)ctx;
	return io_uring_register_ring_fd(ring);
}

int ring_socket_recv_check(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct __kernel_timespec ts = { .tv_sec = 1, .tv_nsec = 0 };
	char byte = 0;
	int sv[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* A byte is waiting, so a ring that takes socket ops completes the recv at once. */
	if (write(sv[1], &byte, 1) != 1) {
		ret = -errno;
		goto out;
	}
	sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		ret = -EBUSY;
		goto out;
	}
	io_uring_prep_recv(sqe, sv[0], &byte, 1, 0);
	ret = io_uring_submit(ring);
	if (ret == 1) {
		ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
		if (ret == 0) {
			ret = cqe->res < 0 ? cqe->res : 0;
			io_uring_cqe_seen(ring, cqe);
		}
	} else if (ret >= 0) {
		ret = -EIO;
	}
out:
	close(sv[0]);
	close(sv[1]);
	return ret;
}

static int kernel_socket_check(void *ctx, struct io_uring *ring)
{
	(void)ctx;
	return ring_socket_recv_check(ring);
}

const struct ring_creator ring_creator_kernel = { kernel_init, kernel_exit, kernel_register_fd, kernel_socket_check,
						  NULL };

int ring_create(struct io_uring *ring, unsigned entries, struct io_uring_params *p)
{
	return ring_creator_kernel.init(ring_creator_kernel.ctx, entries, ring, p);
}

/* The task-run modes; SINGLE_ISSUER is not one (it is allowed with SQPOLL). */
#define TASKRUN_MODES (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG)

/*
 * Flags in the order they are suspected when setup fails. SQ_AFF comes before SQPOLL because
 * a bad CPU should not cost the whole SQPOLL thread. Removing a flag also removes what means
 * nothing without it (`mask`); those are recorded with the cause `others`. SUBMIT_ALL and
 * CQSIZE are the engine's own, not requested settings, so dropping them shows only in the
 * flags that took effect.
 */
struct flag_group {
	unsigned mask;    /* what is removed */
	unsigned primary; /* what is blamed */
	enum refusal_cause others;
};

static const struct flag_group groups[] = {
	/* Attaching to another ring's SQPOLL thread is the newest, least certain request. */
	{ RING_SETUP_ATTACH_WQ, RING_SETUP_ATTACH_WQ, REFUSAL_REFUSED },
	{ IORING_SETUP_SQ_AFF, IORING_SETUP_SQ_AFF, REFUSAL_REFUSED },
	{ IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF, IORING_SETUP_SQPOLL, REFUSAL_MOOT_WITHOUT_SQPOLL },
	{ IORING_SETUP_IOPOLL, IORING_SETUP_IOPOLL, REFUSAL_REFUSED },
	{ IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_DEFER_TASKRUN, REFUSAL_REFUSED },
	{ IORING_SETUP_COOP_TASKRUN, IORING_SETUP_COOP_TASKRUN, REFUSAL_REFUSED },
	{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_SINGLE_ISSUER,
	  REFUSAL_NEEDS_SINGLE_ISSUER },
	{ IORING_SETUP_SUBMIT_ALL, IORING_SETUP_SUBMIT_ALL, REFUSAL_REFUSED },
	{ IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP, IORING_SETUP_CQSIZE, REFUSAL_REFUSED },
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

static unsigned taskrun_flags(enum taskrun_mode m)
{
	switch (m) {
	case TASKRUN_DEFER:
		/* DEFER_TASKRUN requires SINGLE_ISSUER. */
		return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	case TASKRUN_COOP:
		return IORING_SETUP_COOP_TASKRUN;
	default:
		return 0;
	}
}

/* One ring_setup_with() call. */
struct setup {
	const struct ring_creator *creator;
	struct io_uring *ring;
	const struct ring_request *req;
	struct ring_setup_result *res;
	unsigned settings; /* flags the request implies: the ones a refusal is recorded for */
};

static int try_setup(struct setup *s, unsigned flags)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	if (flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = s->req->sqpoll_idle_ms;
	if (flags & IORING_SETUP_SQ_AFF)
		p.sq_thread_cpu = (unsigned)s->req->sqpoll_cpu;
	if (flags & IORING_SETUP_CQSIZE)
		p.cq_entries = ring_setup_cq_entries(s->req->entries, s->req->cq_min);
	if (flags & RING_SETUP_ATTACH_WQ)
		p.wq_fd = (unsigned)s->req->wq_fd;
	s->res->attempts++;
	int ret = s->creator->init(s->creator->ctx, s->req->entries, s->ring, &p);
	if (ret == 0) {
		s->res->flags = flags;
		s->res->features = p.features;
		s->res->sq_entries = p.sq_entries;
		s->res->cq_entries = p.cq_entries;
	}
	return ret;
}

/* Records each requested setting among `flags` (one bit at a time). */
static void record(struct setup *s, unsigned flags, int err, enum refusal_cause cause)
{
	struct ring_setup_result *res = s->res;

	flags &= s->settings;
	for (unsigned bit = 1; flags && bit; bit <<= 1) {
		if (!(flags & bit) || res->nrefused == RING_REFUSAL_MAX)
			continue;
		flags &= ~bit;
		res->refused[res->nrefused++] = (struct ring_refusal){ .flag = bit, .err = err, .cause = cause };
	}
}

static void forget(struct ring_setup_result *res, unsigned flag)
{
	int w = 0;

	for (int i = 0; i < res->nrefused; i++)
		if (res->refused[i].flag != flag)
			res->refused[w++] = res->refused[i];
	res->nrefused = w;
}

/* Removes group g from flags for good, recording why. */
static unsigned drop(struct setup *s, const struct flag_group *g, unsigned flags, int err)
{
	record(s, g->primary & flags, err, REFUSAL_REFUSED);
	if (g->primary == IORING_SETUP_SQPOLL) {
		/* SQ_AFF means nothing now, whether it was still on or an earlier guess took it. */
		forget(s->res, IORING_SETUP_SQ_AFF);
		record(s, IORING_SETUP_SQ_AFF, err, REFUSAL_MOOT_WITHOUT_SQPOLL);
	} else {
		record(s, g->mask & ~g->primary & flags, err, g->others);
	}
	return flags & ~g->mask;
}

/*
 * Registers the ring's fd (Linux 5.18): liburing then enters with IORING_ENTER_REGISTERED_RING
 * and the kernel skips the fdget/fdput of the ring's file on every io_uring_enter. Older
 * kernels answer EINVAL; the ring works the same without it, so that is a refusal.
 */
static void register_fd(struct setup *s)
{
	int ret = s->creator->register_fd(s->creator->ctx, s->ring);

	if (ret > 0) {
		s->res->registered_fd = 1;
		return;
	}
	/* liburing returns how many fds were registered: 0 is a refusal without an errno. */
	record(s, RING_SETTING_REGISTERED_FD, ret < 0 ? ret : -EINVAL, REFUSAL_REFUSED);
}

/*
 * An IOPOLL ring settles, but the kernel refuses socket ops on it (EINVAL in the CQE): it polls
 * block devices with poll queues. Only a real socket op tells, so the settled ring gets one; if
 * it is refused, the ring is made again with the same flags minus IOPOLL and IOPOLL is recorded
 * refused with the op's errno. 0, or -errno when the ring without IOPOLL cannot be made.
 */
static int iopoll_check(struct setup *s)
{
	int err = s->creator->socket_check(s->creator->ctx, s->ring);

	if (err == 0)
		return 0;
	unsigned flags = s->res->flags & ~IORING_SETUP_IOPOLL;
	s->creator->exit(s->creator->ctx, s->ring);
	record(s, IORING_SETUP_IOPOLL, err, REFUSAL_REFUSED);
	return try_setup(s, flags);
}

int ring_setup(struct io_uring *ring, const struct ring_request *req, struct ring_setup_result *res)
{
	return ring_setup_with(&ring_creator_kernel, ring, req, res);
}

int ring_setup_with(const struct ring_creator *creator, struct io_uring *ring, const struct ring_request *req,
		    struct ring_setup_result *res)
{
	struct setup s = { .creator = creator, .ring = ring, .req = req, .res = res };
	unsigned want_taskrun = taskrun_flags(req->taskrun);
	/* The flags that may give way to SQPOLL: the task-run mode's, and the engine's own
	 * SINGLE_ISSUER (not a setting unless the mode needs it: its loss is not a refusal). */
	unsigned yields = want_taskrun | (req->single_issuer ? IORING_SETUP_SINGLE_ISSUER : 0);
	/* CLAMP: a CQ asked bigger than the kernel's maximum is cut to it, not refused. */
	unsigned flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | want_taskrun;
	/* Flags dropped only because SQPOLL was on: worth restoring if SQPOLL goes. */
	unsigned conflicted = 0;
	int ret;

	memset(res, 0, sizeof(*res));
	res->numa_node = -1;
	res->cpu = -1;
	if (req->attach_wq)
		flags |= RING_SETUP_ATTACH_WQ;
	if (req->sqpoll) {
		flags |= IORING_SETUP_SQPOLL;
		if (req->sqpoll_cpu >= 0)
			flags |= IORING_SETUP_SQ_AFF;
	}
	if (req->iopoll)
		flags |= IORING_SETUP_IOPOLL;
	s.settings = flags & ~(IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP);
	if (req->register_fd)
		s.settings |= RING_SETTING_REGISTERED_FD;
	flags |= yields;

	for (;;) {
		ret = try_setup(&s, flags);
		if (ret == 0)
			break;

		/*
		 * The kernel rejects COOP/DEFER_TASKRUN together with SQPOLL (task-work modes
		 * describe an application that submits for itself; with SQPOLL the kernel thread
		 * does). Known cause, so no need to guess: drop the modes first. SINGLE_ISSUER stays
		 * where the kernel allows it with SQPOLL; it goes next, before SQPOLL, only if the
		 * ring then sets up (an EINVAL from, say, a bad SQ_AFF CPU is not its fault).
		 */
		if (ret == -EINVAL && (flags & IORING_SETUP_SQPOLL) && (flags & TASKRUN_MODES)) {
			conflicted |= flags & TASKRUN_MODES;
			flags &= ~TASKRUN_MODES;
			continue;
		}
		if (ret == -EINVAL && (flags & IORING_SETUP_SQPOLL) && (flags & yields & IORING_SETUP_SINGLE_ISSUER) &&
		    try_setup(&s, flags & ~IORING_SETUP_SINGLE_ISSUER) == 0) {
			flags &= ~IORING_SETUP_SINGLE_ISSUER;
			conflicted |= IORING_SETUP_SINGLE_ISSUER;
			break;
		}

		/* Which single group, once removed, lets setup succeed? */
		int fixed = 0;
		for (unsigned g = 0; g < NGROUPS && !fixed; g++) {
			if (!(flags & groups[g].primary))
				continue;
			if (try_setup(&s, flags & ~groups[g].mask) == 0) {
				flags = drop(&s, &groups[g], flags, ret);
				fixed = 1;
			}
		}
		if (fixed)
			break;

		/* More than one culprit: drop the most suspect group for good and go on. */
		unsigned g;
		for (g = 0; g < NGROUPS; g++)
			if (flags & groups[g].primary)
				break;
		if (g == NGROUPS)
			return ret; /* even a plain ring is refused */
		flags = drop(&s, &groups[g], flags, ret);
		if (groups[g].primary == IORING_SETUP_SQPOLL && conflicted) {
			flags |= yields;
			conflicted = 0;
		}
	}

	if (conflicted) {
		if (flags & IORING_SETUP_SQPOLL) {
			/* In the order they were dropped: the mode, then SINGLE_ISSUER. */
			record(&s, conflicted & TASKRUN_MODES, -EINVAL, REFUSAL_CONFLICTS_WITH_SQPOLL);
			record(&s, conflicted & ~TASKRUN_MODES, -EINVAL, REFUSAL_CONFLICTS_WITH_SQPOLL);
		} else {
			/* SQPOLL was refused later on: the task-run mode may work after all. */
			creator->exit(creator->ctx, ring);
			ret = try_setup(&s, flags | yields);
			if (ret < 0) {
				record(&s, yields & ~flags, ret, REFUSAL_REFUSED);
				ret = try_setup(&s, flags);
				if (ret < 0)
					return ret;
			}
		}
	}

	/* A file ring's IOPOLL is checked by its first read (storage_load.c), not by a socket. */
	if ((res->flags & IORING_SETUP_IOPOLL) && !req->iopoll_files) {
		ret = iopoll_check(&s);
		if (ret < 0)
			return ret;
	}

	res->iopoll = !!(res->flags & IORING_SETUP_IOPOLL);
	res->attached_wq = !!(res->flags & RING_SETUP_ATTACH_WQ);
	res->sqpoll = !!(res->flags & IORING_SETUP_SQPOLL);
	res->sqpoll_cpu = (res->flags & IORING_SETUP_SQ_AFF) ? req->sqpoll_cpu : -1;
	if (res->flags & IORING_SETUP_DEFER_TASKRUN)
		res->taskrun = TASKRUN_DEFER;
	else if (res->flags & IORING_SETUP_COOP_TASKRUN)
		res->taskrun = TASKRUN_COOP;
	else
		res->taskrun = TASKRUN_DEFAULT;
	if (req->register_fd)
		register_fd(&s);
	return 0;
}
