/*
 * What the engine needs from a server, whichever engine it runs (io_uring or epoll):
 * a struct server the engine owns and reads, and a small table of operations. The server runs
 * on its own worker thread; everything it publishes for snapshots lives here, written only by
 * that thread.
 */
#ifndef URING_LAB_CORE_SERVER_H
#define URING_LAB_CORE_SERVER_H

#include <stdint.h>

#include "core/memory_needs.h"
#include "core/ring_setup.h"
#include "core/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

struct latch;
struct server_ops;

enum server_engine { SERVER_ENGINE_IO_URING = 0, SERVER_ENGINE_EPOLL = 1 };

struct server_config {
	enum server_engine engine;
	uint16_t port; /* 0: ephemeral */
	struct ring_request ring;
	unsigned buf_size;  /* bytes per provided buffer */
	unsigned buf_count; /* buffers in the provided-buffer ring */
	int buf_hugepages;  /* map the provided buffers with MAP_HUGETLB (2 MiB pages), falling back to normal pages */
};

struct server {
	const struct server_ops *ops;
	struct server_config cfg;
	struct worker worker;

	/* Filled in by start-up, before the worker reports; ring stays zero for a server without an io_uring (epoll). */
	int port;
	struct ring_setup_result ring;

	/* Counters, written only by the server thread (relaxed atomics). */
	uint64_t enobufs;   /* multishot recvs ended by an empty buffer ring */
	uint64_t errors;    /* real errors (not peer resets / cancellations); an accept refused for lack of fds counts too */
	uint64_t accepted;
	uint64_t active;    /* connections open right now */
	int loop_err;       /* negative errno if the loop died, else 0 (counted first, then published: release) */

	/* Test/teaching hooks, read by the loop once per iteration (relaxed atomics; 0 = nothing
	 * asked). Checked before it waits, so an idle server acts on them only when its next
	 * completion wakes it. */
	int debug_pause_ms;      /* sleep this long once (the future serverPause fault) */
	int debug_fail_err;      /* die as if io_uring_enter had returned this -errno */
};

struct server_ops {
	/* The server thread's life (setup's owner is the struct server): its setup returns once
	 * the server listens, and fills in port and ring. */
	struct worker_body body;
	/* Adds what a server with this config and nconns connections allocates. */
	void (*memory)(const struct server_config *cfg, unsigned nconns, struct memory_needs *m);
};

/* The implementation of an engine (servers/servers.c); NULL if there is none. */
const struct server_ops *server_ops_for(enum server_engine engine);

/* Fills in a server before it starts: nothing open, nothing running. */
void server_init(struct server *s, const struct server_config *cfg, const struct worker_hook *before_exit);
/* Starts the server thread; it reports on `ready` once it listens, or has given up
 * (s->worker.fail). 0, or -errno when the thread could not even start. */
int server_start(struct server *s, struct latch *ready);
/* Wakes the server thread and joins it. Safe to call twice. */
void server_stop(struct server *s);

#ifdef __cplusplus
}
#endif

#endif
