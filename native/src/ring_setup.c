/* Server ring creation with per-knob fallback; see ring_setup.h. */
#include "ring_setup.h"

#include <errno.h>
#include <liburing.h>
#include <string.h>

#include "memory_needs.h"

/* struct io_rings before its CQE array: p.cq_off.cqes on 6.18 x86-64. */
#define RING_HEADER_BYTES 64u

static uint64_t pow2_up(uint64_t n)
{
	uint64_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

unsigned ring_setup_cq_entries(unsigned sq_entries)
{
	return sq_entries * 2;
}

uint64_t ring_kernel_bytes(unsigned sq_entries, unsigned cq_entries)
{
	uint64_t sq = pow2_up(sq_entries), cq = pow2_up(cq_entries);
	uint64_t region = RING_HEADER_BYTES + cq * sizeof(struct io_uring_cqe);

	region = (region + 63) & ~63ull; /* the SQ array starts cache-aligned */
	region += sq * sizeof(uint32_t);
	return mem_page_round(region) + mem_page_round(sq * sizeof(struct io_uring_sqe));
}

#define TASKRUN_MASK (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | \
		      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG)

/*
 * Flag groups in the order they are suspected when setup fails. SQ_AFF
 * comes before SQPOLL because a bad CPU should not cost the whole SQPOLL
 * thread; SUBMIT_ALL and CQSIZE are not profile knobs (knob == NULL), so
 * dropping them is reflected only in the flags list.
 */
struct flag_group {
	unsigned mask;    /* what is removed */
	unsigned primary; /* what is reported as refused */
	const char *knob;
};

static const struct flag_group groups[] = {
	{ IORING_SETUP_SQ_AFF, IORING_SETUP_SQ_AFF, "server.sqpoll.cpu" },
	/* SQ_AFF is meaningless without SQPOLL, so it goes with it. */
	{ IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF, IORING_SETUP_SQPOLL, "server.sqpoll.enabled" },
	{ TASKRUN_MASK, TASKRUN_MASK, "server.taskrun" },
	{ IORING_SETUP_SUBMIT_ALL, IORING_SETUP_SUBMIT_ALL, NULL },
	{ IORING_SETUP_CQSIZE, IORING_SETUP_CQSIZE, NULL },
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

static int try_setup(struct io_uring *ring, const struct ring_setup_request *req, unsigned flags,
		     struct ring_setup_result *res)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	if (flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = req->sqpoll_idle_ms;
	if (flags & IORING_SETUP_SQ_AFF)
		p.sq_thread_cpu = (unsigned)req->sqpoll_cpu;
	if (flags & IORING_SETUP_CQSIZE)
		p.cq_entries = ring_setup_cq_entries(req->entries);
	res->attempts++;
	int ret = io_uring_queue_init_params(req->entries, ring, &p);
	if (ret == 0) {
		res->flags = flags;
		res->features = p.features;
		res->sq_entries = p.sq_entries;
		res->cq_entries = p.cq_entries;
	}
	return ret;
}

static void record(struct ring_setup_result *res, const char *knob, unsigned flag, int err,
		   enum reject_cause cause)
{
	if (!knob || res->nrejected == RING_REJECT_MAX)
		return;
	struct ring_rejection *r = &res->rejected[res->nrejected++];
	r->knob = knob;
	r->flag = flag;
	r->err = err;
	r->cause = cause;
}

static void forget(struct ring_setup_result *res, const char *knob)
{
	int w = 0;
	for (int i = 0; i < res->nrejected; i++)
		if (strcmp(res->rejected[i].knob, knob))
			res->rejected[w++] = res->rejected[i];
	res->nrejected = w;
}

int ring_setup(struct io_uring *ring, const struct ring_setup_request *req, struct ring_setup_result *res)
{
	unsigned want_taskrun = taskrun_flags(req->taskrun);
	unsigned flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | want_taskrun;
	/* Taskrun dropped only because SQPOLL was on: worth restoring if SQPOLL goes. */
	int taskrun_conflict = 0;
	int ret;

	memset(res, 0, sizeof(*res));
	if (req->sqpoll) {
		flags |= IORING_SETUP_SQPOLL;
		if (req->sqpoll_cpu >= 0)
			flags |= IORING_SETUP_SQ_AFF;
	}

	for (;;) {
		ret = try_setup(ring, req, flags, res);
		if (ret == 0)
			break;

		/*
		 * The kernel rejects COOP/DEFER_TASKRUN together with SQPOLL
		 * (task-work modes describe an application that submits for
		 * itself; with SQPOLL the kernel thread does). Known cause, so
		 * no need to guess: drop the taskrun flags first.
		 */
		if (ret == -EINVAL && (flags & IORING_SETUP_SQPOLL) && (flags & TASKRUN_MASK)) {
			flags &= ~TASKRUN_MASK;
			taskrun_conflict = 1;
			continue;
		}

		/* Which single group, once removed, lets setup succeed? */
		int fixed = 0;
		for (unsigned g = 0; g < NGROUPS && !fixed; g++) {
			if (!(flags & groups[g].mask))
				continue;
			if (try_setup(ring, req, flags & ~groups[g].mask, res) == 0) {
				/* taskrun is reported with the bits that were asked for */
				unsigned refused = groups[g].primary & flags;
				flags &= ~groups[g].mask;
				if (groups[g].mask & IORING_SETUP_SQPOLL)
					forget(res, "server.sqpoll.cpu"); /* moot without SQPOLL */
				record(res, groups[g].knob, refused, ret, REJECT_REFUSED);
				fixed = 1;
			}
		}
		if (fixed)
			break;

		/* More than one culprit: drop the most suspect group for good and go on. */
		unsigned g;
		for (g = 0; g < NGROUPS; g++)
			if (flags & groups[g].mask)
				break;
		if (g == NGROUPS)
			return ret; /* even a plain ring is refused */
		unsigned refused = groups[g].primary & flags;
		flags &= ~groups[g].mask;
		if (groups[g].mask & IORING_SETUP_SQPOLL)
			forget(res, "server.sqpoll.cpu"); /* moot without SQPOLL */
		record(res, groups[g].knob, refused, ret, REJECT_REFUSED);
		if ((groups[g].mask & IORING_SETUP_SQPOLL) && taskrun_conflict) {
			flags |= want_taskrun;
			taskrun_conflict = 0;
		}
	}

	if (taskrun_conflict) {
		if (flags & IORING_SETUP_SQPOLL) {
			record(res, "server.taskrun", want_taskrun, -EINVAL, REJECT_CONFLICTS_WITH_SQPOLL);
		} else {
			/* SQPOLL was refused later on: the taskrun mode may work after all. */
			io_uring_queue_exit(ring);
			ret = try_setup(ring, req, flags | want_taskrun, res);
			if (ret < 0) {
				record(res, "server.taskrun", want_taskrun, ret, REJECT_REFUSED);
				ret = try_setup(ring, req, flags, res);
				if (ret < 0)
					return ret;
			}
		}
	}

	res->sqpoll = !!(res->flags & IORING_SETUP_SQPOLL);
	res->sqpoll_cpu = (res->flags & IORING_SETUP_SQ_AFF) ? req->sqpoll_cpu : -1;
	if (res->flags & IORING_SETUP_DEFER_TASKRUN)
		res->taskrun = TASKRUN_DEFER;
	else if (res->flags & IORING_SETUP_COOP_TASKRUN)
		res->taskrun = TASKRUN_COOP;
	else
		res->taskrun = TASKRUN_DEFAULT;
	return 0;
}
