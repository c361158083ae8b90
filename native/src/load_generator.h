/*
 * Closed-loop load generator thread: a set of connections, each sending one
 * message, waiting for the whole echo, checking it byte for byte, recording
 * the round trip, and sending the next.
 */
#ifndef URING_LAB_LOAD_GENERATOR_H
#define URING_LAB_LOAD_GENERATOR_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "latency_histogram.h"

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
	uint64_t bytes;  /* echoed bytes of completed round trips */
	uint64_t errors; /* mismatched echoes, failed connections */
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
/* Joins the thread and closes its eventfd. Safe to call twice. */
void load_thread_join(struct load_thread *t);

#ifdef __cplusplus
}
#endif

#endif
