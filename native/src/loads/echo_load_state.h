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
	TAG_TICK,     /* the schedule's next send time (open) or the next timeout scan */
};

/*
 * One connection: a FIFO of up to `pipeline` requests, each with its own slot (message bytes
 * in sbuf + slot * msg, start time in t0[slot]). Sends go out in queue order, one SQE at a
 * time; the receive reads only the head's echo (an echo is in order, so the head's bytes come
 * first), into rbuf, and the head completes once all its bytes are back and its send CQE has
 * been seen.
 */
struct load_conn {
	int fd;
	unsigned id; /* global connection index */
	unsigned char *sbuf; /* pipeline × msg */
	unsigned char *rbuf; /* msg: the head's echo */
	uint64_t *t0;        /* per slot: closed, stamped at submit; open, the intended send time */
	uint64_t *seq;       /* per slot: the request's number, for its stamp */
	uint64_t *sent_at;   /* per slot: when its send was posted (the loop's clock), 0 before:
			      * what load.timeoutMs counts from, so an open loop's own backlog is
			      * latency, never a timeout */
	unsigned head, count; /* queue of started requests */
	unsigned nsent;      /* of them, fully sent (the first nsent from head) */
	unsigned sent;       /* bytes of the next one to send (head + nsent) sent so far */
	unsigned got;        /* bytes of the head's echo received */
	unsigned send_inflight : 1;
	unsigned recv_inflight : 1;
	unsigned dead : 1;
	unsigned send_slot;  /* slot of the send in flight */
	uint64_t seq_next;   /* requests started on this connection */
	/* open: requests whose intended time has come but that wait for a free slot; the next one
	 * started is this connection's sched_next-th, intended at start + (sched_next * n + i) * period */
	uint64_t due;
	uint64_t sched_next;
};

struct echo_load_state {
	struct io_uring ring;
	int ring_ok;
	struct load *pub;
	struct load_conn *conns;
	unsigned char *mem;
	size_t mem_bytes;
	uint64_t *slot_mem;
	unsigned msg;
	unsigned pipeline;
	unsigned inflight; /* SQEs in flight */
	int stopping;
	struct __kernel_timespec deadline;
	/* Closed loop: connections whose send of a new request is prepared but not yet stamped: at
	 * most one per connection, since a connection has one send SQE at a time. */
	unsigned *unstamped;
	unsigned nunstamped;
	uint64_t reap_ns; /* end time of every CQE of the current batch */
	double ewma_us;   /* EWMA round trip, E of the corrected histogram */
	int ewma_ready;
	/* Open loop: schedule request g (g = 0, 1, ...) is intended at sched_start + g * period_ns
	 * on connection g % nconns. */
	int open;
	uint64_t sched_start;
	double period_ns;
	uint64_t sched_g;
	/* The tick timer (one at a time): the schedule's next time, and the timeout scan. */
	struct __kernel_timespec tick;
	int tick_armed;
	uint64_t tick_at;
	uint64_t last_tick_ns, tick_gap_ns; /* open loop above 20k/s a thread: wakes >= gap apart */
	uint64_t next_scan_ns, scan_every_ns;
	uint64_t clock_ns; /* the loop's latest clock read (loop top or batch reap) */
};

/* echo_load_request.c */
size_t load_conn_bytes(unsigned pipeline);
void fill_pattern(unsigned char *p, size_t n, unsigned id);
/* Every closed-loop request prepared so far gets t0 = now, right before it is submitted (a
 * before_submit hook). */
void stamp_pending(void *ctx);
/* An SQE; a full SQ is submitted only after stamp_pending(). */
struct io_uring_sqe *load_sqe(struct echo_load_state *st);
/* Queues a request on connection idx (a free slot must exist); intended: its t0 in open mode,
 * 0 in closed mode (stamped when its send is submitted). */
void start_request(struct echo_load_state *st, unsigned idx, uint64_t intended);
/* Open loop: every request whose intended time is <= now is started or queued on its connection. */
void advance_schedule(struct echo_load_state *st, uint64_t now);
/* Abandons connections whose oldest request is older than timeout_ns (counted in timeouts). */
void check_timeouts(struct echo_load_state *st, uint64_t now);
/* Reaps the CQEs posted before one clock read that dates them all. */
void reap_batch(void *ctx);

#endif
