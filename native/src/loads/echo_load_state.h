/*
 * The echo load thread's private state, shared by echo_load.c (the thread: connections, loop,
 * teardown) and echo_load_request.c (a request's life and the timing). Only its thread
 * touches any of it.
 */
#ifndef URING_LAB_LOADS_ECHO_LOAD_STATE_H
#define URING_LAB_LOADS_ECHO_LOAD_STATE_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>

#include "core/load.h"
#include "core/user_data.h"

/* user_data tags of this ring (core/user_data.h); the index is the connection's. */
enum echo_load_tag {
	TAG_SEND = TAG_OWN,
	TAG_RECV,
	TAG_DEADLINE, /* the absolute timeout at maxDurationMs */
};

struct load_conn {
	int fd;
	unsigned id; /* global connection index */
	unsigned char *sbuf, *rbuf;
	unsigned sent, got;
	unsigned send_inflight : 1;
	unsigned recv_inflight : 1;
	unsigned dead : 1;
	uint64_t seq;
	uint64_t t0;
};

struct echo_load_state {
	struct io_uring ring;
	int ring_ok;
	struct load *pub;
	struct load_conn *conns;
	unsigned char *mem;
	size_t mem_bytes;
	unsigned msg;
	unsigned inflight;
	int stopping;
	struct __kernel_timespec deadline;
	/* Requests prepared but not yet stamped: at most one per connection,
	 * since a request completes only after it was submitted. */
	unsigned *unstamped;
	unsigned nunstamped;
	uint64_t reap_ns; /* end time of every CQE of the current batch */
	double ewma_us;   /* EWMA round trip, E of the corrected histogram */
	int ewma_ready;
};

/* echo_load_request.c */
size_t load_conn_bytes(void);
void fill_pattern(unsigned char *p, size_t n, unsigned id);
/* Every request prepared so far gets t0 = now, right before it is submitted (a before_submit hook). */
void stamp_pending(void *ctx);
/* An SQE; a full SQ is submitted only after stamp_pending(). */
struct io_uring_sqe *load_sqe(struct echo_load_state *st);
void start_request(struct echo_load_state *st, unsigned idx);
/* Reaps the CQEs posted before one clock read that dates them all. */
void reap_batch(void *ctx);

#endif
