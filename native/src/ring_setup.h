/*
 * Creating the server ring with the flags a profile asks for, fio style: try
 * what was requested, and when the kernel refuses, find the knob it refused,
 * drop it, retry, and record the refusal so the UI can say what really ran.
 */
#ifndef URING_LAB_RING_SETUP_H
#define URING_LAB_RING_SETUP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum taskrun_mode { TASKRUN_DEFAULT = 0, TASKRUN_COOP = 1, TASKRUN_DEFER = 2 };

struct ring_setup_request {
	unsigned entries;
	int sqpoll;
	unsigned sqpoll_idle_ms;
	int sqpoll_cpu; /* -1: let the scheduler choose (no SQ_AFF) */
	enum taskrun_mode taskrun;
};

enum reject_cause {
	/* The kernel refused the flag on its own (unsupported, not permitted, bad value). */
	REJECT_REFUSED = 0,
	/* The kernel refused the flag only in combination with IORING_SETUP_SQPOLL. */
	REJECT_CONFLICTS_WITH_SQPOLL = 1,
};

struct ring_rejection {
	const char *knob;   /* profile path, e.g. "server.taskrun" */
	unsigned flag;      /* the IORING_SETUP_* bit(s) that were refused */
	int err;            /* negative errno from io_uring_setup */
	enum reject_cause cause;
};

#define RING_REJECT_MAX 4

struct ring_setup_result {
	unsigned flags;     /* IORING_SETUP_* that took effect */
	unsigned features;  /* IORING_FEAT_* the kernel reported */
	unsigned sq_entries, cq_entries;
	int sqpoll;         /* SQPOLL took effect */
	int sqpoll_cpu;     /* -1 unless SQ_AFF took effect */
	enum taskrun_mode taskrun; /* the mode that took effect */
	int attempts;       /* io_uring_setup calls made */
	struct ring_rejection rejected[RING_REJECT_MAX];
	int nrejected;
};

struct io_uring;

/*
 * Initialises `ring` on the calling thread (SINGLE_ISSUER binds the ring to
 * its creator). Returns 0, or the negative errno of the plainest setup when
 * no combination of flags works at all.
 */
int ring_setup(struct io_uring *ring, const struct ring_setup_request *req, struct ring_setup_result *res);

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
