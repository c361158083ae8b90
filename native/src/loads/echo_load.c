/*
 * The echo load thread: its ring, its connections, the loop, teardown. A request's life and
 * its timing are in echo_load_request.c.
 *
 * All connections of the thread share one small ring; every loop iteration submits whatever
 * is ready in one io_uring_submit_and_wait and reaps the completions that were there when the
 * wait returned. The hard bound is one absolute CLOCK_MONOTONIC timeout, armed once.
 */
#define _GNU_SOURCE
#include "loads/echo_load.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/counters.h"
#include "core/loopback.h"
#include "core/ring_setup.h"
#include "core/sqe.h"
#include "loads/echo_load_state.h"

/* SQ entries of a load thread's ring for nconns connections (its CQ is twice that). */
static unsigned ring_entries(unsigned nconns)
{
	unsigned want = 2 * nconns + 4; /* send + recv each, wake, deadline, cancel */
	unsigned entries = 8;

	while (entries < want && entries < 32768)
		entries <<= 1;
	return entries;
}

/* Sizes shared by setup_conns() and echo_load_memory(). */
static size_t buffer_bytes(unsigned nconns, unsigned msg)
{
	return mem_page_round((uint64_t)nconns * 2 * msg);
}

/* The load side is not under test: the cheapest completion mode the kernel offers
 * (SINGLE_ISSUER|DEFER_TASKRUN), falling back like any ring; never SQPOLL. */
static int setup_ring(struct echo_load_state *st)
{
	struct ring_request req = { .entries = ring_entries(st->pub->cfg.nconns), .sqpoll_cpu = -1,
				    .taskrun = TASKRUN_DEFER };
	struct ring_setup_result res;
	int ret = ring_setup(&st->ring, &req, &res);

	if (ret == 0)
		st->ring_ok = 1;
	return ret;
}

static int setup_conns(struct echo_load_state *st, enum start_step *step)
{
	struct load *l = st->pub;
	unsigned n = l->cfg.nconns;
	struct sockaddr_in addr = loopback_addr(l->cfg.port);

	*step = STEP_LOAD_ALLOC;
	st->conns = calloc(n, sizeof(*st->conns));
	st->unstamped = calloc(n, sizeof(*st->unstamped));
	if (!st->conns || !st->unstamped)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		st->conns[i].fd = -1;
	st->mem_bytes = buffer_bytes(n, st->msg);
	void *mem = mmap(NULL, st->mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	st->mem = mem;

	for (unsigned i = 0; i < n; i++) {
		struct load_conn *c = &st->conns[i];

		c->id = l->cfg.conn_base + i;
		c->sbuf = st->mem + (size_t)i * 2 * st->msg;
		c->rbuf = c->sbuf + st->msg;
		fill_pattern(c->sbuf, st->msg, c->id);

		/* Closed loop: every request is a small write that must go now (TCP_NODELAY). */
		*step = STEP_LOAD_SOCKET;
		c->fd = tcp_socket(IPPROTO_TCP, TCP_NODELAY);
		if (c->fd < 0)
			return c->fd;
		/* Blocking connect, once per connection at start-up: the server is
		 * already listening, so loopback completes it immediately. */
		*step = STEP_LOAD_CONNECT;
		if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)))
			return -errno;
	}
	return 0;
}

static void load_teardown(void *state, int ran)
{
	struct echo_load_state *st = state;
	struct load *l = st->pub;

	if (ran) {
		st->stopping = 1;
		worker_drain(&st->ring, &st->inflight, stamp_pending, reap_batch, st);
	}
	worker_before_ring_exit(&l->worker);
	if (st->ring_ok)
		io_uring_queue_exit(&st->ring);
	if (st->conns) {
		for (unsigned i = 0; i < l->cfg.nconns; i++) {
			if (st->conns[i].fd >= 0)
				close(st->conns[i].fd);
			__atomic_store_n(&l->inflight_t0[i], 0, __ATOMIC_RELAXED);
		}
		free(st->conns);
	}
	free(st->unstamped);
	__atomic_store_n(&l->live_conns, 0, __ATOMIC_RELAXED);
	/* Kept if requests could not be reaped: they may still write into it. */
	if (st->mem && st->inflight == 0)
		munmap(st->mem, st->mem_bytes);
}

static int load_setup(void *owner, void *state, enum start_step *step)
{
	struct load *l = owner;
	struct echo_load_state *st = state;
	int ret;

	st->pub = l;
	st->msg = l->cfg.msg_bytes;

	*step = STEP_LOAD_RING_SETUP;
	ret = setup_ring(st);
	if (ret == 0)
		ret = setup_conns(st, step);
	if (ret)
		return ret;
	__atomic_store_n(&l->live_conns, l->cfg.nconns, __ATOMIC_RELAXED);
	__atomic_store_n(&l->running, 1, __ATOMIC_RELEASE);
	return 0;
}

static void load_run(void *state)
{
	struct echo_load_state *st = state;
	struct load *l = st->pub;
	struct io_uring_sqe *sqe;

	worker_arm_wake(&l->worker, &st->ring);
	st->inflight++;

	st->deadline = kernel_timespec(l->cfg.deadline_ns);
	sqe = load_sqe(st);
	io_uring_prep_timeout(sqe, &st->deadline, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, user_data(TAG_DEADLINE, 0));
	st->inflight++;

	for (unsigned i = 0; i < l->cfg.nconns; i++)
		start_request(st, i);

	while (!st->stopping) {
		stamp_pending(st);
		int ret = io_uring_submit_and_wait(&st->ring, 1);
		if (submit_failed(ret)) {
			counter_add(&l->errors, 1);
			break;
		}
		reap_batch(st);
	}
	__atomic_store_n(&l->running, 0, __ATOMIC_RELEASE);
}

static void echo_load_memory(unsigned nconns, unsigned msg_bytes, struct memory_needs *m)
{
	unsigned entries = ring_entries(nconns);
	uint64_t ring = ring_kernel_bytes(entries, ring_setup_cq_entries(entries, 0));

	m->load_buffers += buffer_bytes(nconns, msg_bytes);
	m->rings += ring;
	m->memlock += ring;
	m->conn_state += (uint64_t)nconns * load_conn_bytes() + sizeof(struct echo_load_state) + sizeof(struct load);
}

const struct load_ops echo_load_ops = {
	.body = { sizeof(struct echo_load_state), load_setup, load_run, load_teardown },
	.memory = echo_load_memory,
};
