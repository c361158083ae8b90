/*
 * Closed-loop load generator thread: a set of connections, each sending one
 * message, waiting for the whole echo, checking it byte for byte, recording
 * the round trip, and sending the next.
 *
 * Round-trip timing (see load_generator.c): t0 is one clock read just before
 * the io_uring_submit_and_wait that really submits the request; the end is
 * one clock read right after that wait returns, shared by every CQE of the
 * batch; the difference is rounded UP to whole µs.
 */
#ifndef URING_LAB_LOAD_GENERATOR_H
#define URING_LAB_LOAD_GENERATOR_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "latency_histogram.h"
#include "memory_needs.h"

#ifdef __cplusplus
extern "C" {
#endif

enum load_step {
	LOAD_STEP_NONE = 0,
	LOAD_STEP_EVENTFD,
	LOAD_STEP_THREAD,
	LOAD_STEP_RING_SETUP,
	LOAD_STEP_ALLOC,
	LOAD_STEP_SOCKET,
	LOAD_STEP_CONNECT,
	LOAD_STEP_SUBMIT,
	LOAD_STEP_FD_LIMIT, /* RLIMIT_NOFILE too low for the connections (engine.c) */
};

struct load_config {
	uint16_t port;
	unsigned nconns;
	unsigned msg_bytes;
	unsigned conn_base;   /* index of this thread's first connection, seeds its patterns */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC: the thread stops by itself here */
	/* Called on the load thread just before its ring goes away (see echo_server.h). */
	void (*before_exit)(void *arg);
	void *before_exit_arg;
};

struct latch;

struct load_thread {
	/* Written only by the load thread, read by snapshot() (relaxed atomics).
	 * Completed round trips are the histogram's total. */
	struct latency_histogram hist;
	/* The same round trips corrected for coordinated omission
	 * (lh_record_corrected with this thread's EWMA round trip as E). */
	struct latency_histogram corrected;
	uint64_t bytes;  /* echoed bytes of completed round trips */
	uint64_t errors; /* mismatched echoes, failed connections */
	uint64_t live_conns; /* gauge: connections not dead (0 once the thread ended) */
	/* Per connection: CLOCK_MONOTONIC t0 of its outstanding request, 0 when
	 * it has none. Allocated by load_thread_start and freed by
	 * load_thread_join, so a snapshot may scan it for as long as the
	 * thread is joinable. */
	uint64_t *inflight_t0;
	int running;     /* 1 from start until the loop ends (stop() or deadline) */

	struct load_config cfg;
	enum load_step fail_step;
	int fail_err; /* negative errno */

	pthread_t thread;
	int thread_started;
	int wake_fd;
	pid_t tid;
	int exited;
	uint64_t final_cpu_ns;
	struct latch *latch;
} __attribute__((aligned(64))); /* threads' counters on separate cache lines */

/* Starts the thread; it counts `latch` down once connected (or failed). */
int load_thread_start(struct load_thread *t, const struct load_config *cfg, struct latch *latch);
/* Asks the thread to stop (eventfd). */
void load_thread_wake(struct load_thread *t);
/* Joins the thread, closes its eventfd, frees inflight_t0. Safe to call twice. */
void load_thread_join(struct load_thread *t);

/* Reader side: requests of this thread in flight now; lowers *oldest_t0 to
 * the oldest one's t0. */
unsigned load_thread_inflight(const struct load_thread *t, uint64_t *oldest_t0);

/* SQ entries of a load thread's ring for nconns connections (its CQ is twice that). */
unsigned load_ring_entries(unsigned nconns);

/* Adds what one load thread with nconns connections allocates (see memory_needs.h). */
void load_memory(unsigned nconns, unsigned msg_bytes, struct memory_needs *m);

#ifdef __cplusplus
}
#endif

#endif
