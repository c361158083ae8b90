/*
 * io_uring TCP echo server on its own thread: one ring, multishot accept,
 * multishot recv into a provided-buffer ring, and each received buffer sent
 * back as is and returned to the ring only once its send has completed.
 */
#ifndef URING_LAB_ECHO_SERVER_H
#define URING_LAB_ECHO_SERVER_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "memory_needs.h"
#include "ring_setup.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which step of server start-up failed. */
enum server_step {
	SERVER_STEP_NONE = 0,
	SERVER_STEP_EVENTFD,
	SERVER_STEP_THREAD,
	SERVER_STEP_RING_SETUP,
	SERVER_STEP_BUF_RING_ALLOC,
	SERVER_STEP_BUF_RING_REGISTER,
	SERVER_STEP_PROBE_MULTISHOT, /* multishot recv + buffer select refused */
	SERVER_STEP_SOCKET,
	SERVER_STEP_BIND,
	SERVER_STEP_LISTEN,
	SERVER_STEP_SUBMIT,
};

struct echo_server_config {
	uint16_t port; /* 0: ephemeral */
	struct ring_setup_request ring;
	unsigned buf_size;  /* bytes per provided buffer */
	unsigned buf_count; /* buffers in the ring, power of two <= 32768 */
	/* Called on the server thread after all requests are drained and just
	 * before the ring (and with it any SQPOLL/io-wq thread) goes away: the
	 * last chance to read those threads' CPU time. */
	void (*before_exit)(void *arg);
	void *before_exit_arg;
};

struct echo_server {
	struct echo_server_config cfg;

	/* Filled in by start-up. */
	int port;
	struct ring_setup_result ring;
	enum server_step fail_step;
	int fail_err; /* negative errno */

	/* Counters, written only by the server thread (relaxed atomics). */
	uint64_t enobufs;   /* multishot recvs ended by an empty buffer ring */
	uint64_t errors;    /* real errors (not peer resets / cancellations);
			     * an accept refused for lack of fds counts too */
	uint64_t accepted;
	uint64_t active;    /* connections open right now */
	int loop_err;       /* negative errno if the loop died, else 0 */

	/* Test/teaching hooks, read by the loop once per iteration (relaxed
	 * atomics; 0 = nothing asked). Checked before it waits, so an idle
	 * server acts on them only when its next completion wakes it. */
	unsigned debug_pause_ms; /* sleep this long once (the future serverPause fault) */
	int debug_fail_err;      /* die as if io_uring_enter had returned this -errno */

	/* Thread lifecycle. */
	pthread_t thread;
	int thread_started;
	int wake_fd;        /* eventfd: written by stop() */
	pid_t tid;          /* published before start() returns */
	int exited;         /* set (release) once final_cpu_ns is valid */
	uint64_t final_cpu_ns;

	void *rt;       /* server-thread private state */
	void *rt_latch; /* start-up handshake, valid only during start() */
};

/* Starts the thread and waits until it listens (or failed: returns -errno,
 * with fail_step/fail_err set and everything cleaned up). */
int echo_server_start(struct echo_server *s, const struct echo_server_config *cfg);
/* Wakes the thread, joins it, closes the eventfd. Safe to call twice. */
void echo_server_stop(struct echo_server *s);

/* Adds what a server with this config and nconns connections allocates
 * (see memory_needs.h). */
void echo_server_memory(const struct echo_server_config *cfg, unsigned nconns, struct memory_needs *m);

#ifdef __cplusplus
}
#endif

#endif
