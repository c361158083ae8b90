/*
 * The echo load thread: its ring, its connections, the loop, teardown. A request's life and
 * its timing are in echo_load_request.c.
 *
 * All connections of the thread share one small ring; every loop iteration submits whatever
 * is ready in one io_uring_enter that also waits (ring_submit_and_wait_network: not marked as
 * I/O wait) and reaps the completions that were there when the wait returned. The hard bound
 * is one absolute CLOCK_MONOTONIC timeout, armed once. One more absolute timeout (the tick)
 * wakes the loop at the open-loop schedule's next send time and for the timeout scan; at most
 * one is armed, always for a time at or before the one needed next (both only move later), so a
 * tick that fires early just re-arms.
 *
 * load.cpus: the thread pins itself to its CPU before it creates its ring.
 */
#define _GNU_SOURCE
#include "loads/echo_load.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
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
#include "core/prefault.h"
#include "core/start_cancel.h"
#include "core/ring_setup.h"
#include "core/sqe.h"
#include "loads/echo_load_state.h"

/* SQ entries of a load thread's ring for nconns connections (its CQ is twice that). */
static unsigned ring_entries(unsigned nconns)
{
	unsigned want = 2 * nconns + 5; /* send + recv each, wake, deadline, tick, cancel */
	unsigned entries = 8;

	while (entries < want && entries < 32768)
		entries <<= 1;
	return entries;
}

/* Sizes shared by setup_conns() and echo_load_memory(): per connection pipeline send slots
 * and one receive buffer. */
static size_t buffer_bytes(unsigned nconns, unsigned msg, unsigned pipeline)
{
	return mem_page_round((uint64_t)nconns * (pipeline + 1) * msg);
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

	/* uring-lab load --target: someone else's echo server, at the address the host resolved. */
	if (l->cfg.addr)
		addr.sin_addr.s_addr = l->cfg.addr;

	*step = STEP_LOAD_ALLOC;
	st->conns = calloc(n, sizeof(*st->conns));
	st->unstamped = calloc(n, sizeof(*st->unstamped));
	st->slot_mem = calloc((size_t)n * st->pipeline * 3, sizeof(*st->slot_mem));
	if (!st->conns || !st->unstamped || !st->slot_mem)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		st->conns[i].fd = -1;
	st->mem_bytes = buffer_bytes(n, st->msg, st->pipeline);
	/* Every page of the buffers is touched here, in set-up, before the run's clock starts
	 * (core/prefault.h). The receive buffers were otherwise first touched by the kernel
	 * copying the first echoes into them: at 1,000 × 64 KiB the load then ran at 100 % CPU for
	 * ~300 ms after the start at a tenth of its steady rate (perf: a third of the thread in
	 * page faults), longer than a short warm-up, and requests of that stall landed in the
	 * measured window as a p99 of 250 ms (bench:engine, 0.5 s warm-up). */
	void *mem = mmap(NULL, st->mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	st->mem = mem;
	/* The load is not under test: transparent huge pages where the kernel offers them (THP
	 * "madvise" mode, as here); refused (THP off), 4 KiB pages. Measured on this VM:
	 * - set-up, 1 GiB touched once: 0.5-1.5 s against 2.8 s (11 µs a 4 KiB page);
	 * - the run, 1,024 × 1 MiB (2 GiB of buffers), 3 interleaved 2 s rounds: 2,095-2,684
	 *   requests/s against 499-557, the load's CPU 346-448k ns a request against 1.77-1.98M.
	 *   The kernel's copies to and from 2 GiB of 4 KiB pages were the load's whole cost.
	 * At 1,000 × 64 KiB (128 MiB) the rounds differed by less than the VM's drift. */
	(void)madvise(mem, st->mem_bytes, MADV_HUGEPAGE);
	int ret = prefault_zero(mem, st->mem_bytes);
	if (ret)
		return ret;

	for (unsigned i = 0; i < n; i++) {
		struct load_conn *c = &st->conns[i];

		c->id = l->cfg.conn_base + i;
		c->sbuf = st->mem + (size_t)i * (st->pipeline + 1) * st->msg;
		c->rbuf = c->sbuf + (size_t)st->pipeline * st->msg;
		c->t0 = st->slot_mem + (size_t)i * st->pipeline * 3;
		c->seq = c->t0 + st->pipeline;
		c->sent_at = c->seq + st->pipeline;
		for (unsigned k = 0; k < st->pipeline; k++)
			fill_pattern(c->sbuf + (size_t)k * st->msg, st->msg, c->id * 64 + k);

		/* Closed loop: every request is a small write that must go now (TCP_NODELAY). */
		*step = STEP_LOAD_SOCKET;
		c->fd = tcp_socket(IPPROTO_TCP, TCP_NODELAY);
		if (c->fd < 0)
			return c->fd;
		/* Blocking connect, once per connection at start-up: the server is
		 * already listening, so loopback completes it immediately. Thousands of them
		 * take a while: a start called off stops here (core/start_cancel.h). */
		*step = STEP_LOAD_CONNECT;
		if (start_cancelled())
			return -ECANCELED;
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
	free(st->slot_mem);
	__atomic_store_n(&l->live_conns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&l->outstanding, 0, __ATOMIC_RELAXED);
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
	st->pipeline = l->cfg.pipeline ? l->cfg.pipeline : 1;
	st->open = l->cfg.mode == LOAD_OPEN;

	/* A name to find the load threads by in /proc/self/task (tests, perf, top -H). */
	pthread_setname_np(pthread_self(), "uring-load");

	ret = load_pin_self(l, step);
	if (ret)
		return ret;

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

/* Schedule wakes per second at most (see arm_tick). */
#define TICK_RATE_MAX 20000.0

/* The tick for the earlier of the schedule's next time and the next timeout scan. */
static void arm_tick(struct echo_load_state *st)
{
	uint64_t at = UINT64_MAX;

	if (st->open) {
		at = st->sched_start + (uint64_t)((double)st->sched_g * st->period_ns);
		/* Above TICK_RATE_MAX wakes a second the schedule is served in batches: a wake per
		 * request (a timer CQE and an io_uring_enter each) cost 7.8 µs of load CPU per
		 * request at 126k/s vs the closed loop's 4.5 (50 × 128 B, one run each); batched,
		 * 6.3-6.9 vs 4.4-4.8 at 100k/s (noisy, shared machine). A request started up to one
		 * gap (50 µs) late still counts from its intended time: the lateness is latency. */
		if (at < st->last_tick_ns + st->tick_gap_ns)
			at = st->last_tick_ns + st->tick_gap_ns;
	}
	if (st->pub->cfg.timeout_ns && st->next_scan_ns < at)
		at = st->next_scan_ns;
	/* An armed tick is never later than the time needed now (both only move later). */
	if (at == UINT64_MAX || st->tick_armed)
		return;
	st->tick = kernel_timespec(at);
	st->tick_at = at;
	st->last_tick_ns = at;
	struct io_uring_sqe *sqe = load_sqe(st);
	io_uring_prep_timeout(sqe, &st->tick, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, user_data(TAG_TICK, 0));
	st->tick_armed = 1;
	st->inflight++;
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

	/* The timeout scan runs 8 times per timeout, at least every 50 ms. */
	st->scan_every_ns = l->cfg.timeout_ns / 8;
	if (st->scan_every_ns > 50000000ull)
		st->scan_every_ns = 50000000ull;
	if (st->scan_every_ns < 1000000ull)
		st->scan_every_ns = 1000000ull;
	st->clock_ns = mono_ns(); /* the first sends' sent_at */
	st->next_scan_ns = st->clock_ns + st->scan_every_ns;

	if (st->open) {
		st->period_ns = 1e9 / l->cfg.rate_rps;
		st->sched_start = mono_ns();
		if (st->period_ns < 1e9 / TICK_RATE_MAX)
			st->tick_gap_ns = (uint64_t)(1e9 / TICK_RATE_MAX);
	} else {
		for (unsigned i = 0; i < l->cfg.nconns; i++)
			for (unsigned k = 0; k < st->pipeline; k++)
				start_request(st, i, 0);
	}

	while (!st->stopping) {
		uint64_t now = mono_ns();
		st->clock_ns = now;
		if (st->open)
			advance_schedule(st, now);
		check_timeouts(st, now);
		arm_tick(st);
		stamp_pending(st);
		/* Waiting for echoes is not I/O wait (see ring_submit_and_wait_network). */
		int ret = ring_submit_and_wait_network(&st->ring, 1);
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

	m->load_buffers += buffer_bytes(nconns, msg_bytes, 1);
	m->rings += ring;
	m->memlock += ring;
	/* Per connection: its state, and its echo count with the last snapshot's copy of it
	 * (engine.conn_echoes). */
	m->conn_state += (uint64_t)nconns * (load_conn_bytes(1) + 2 * sizeof(uint64_t)) + sizeof(struct echo_load_state) +
			 sizeof(struct load);
}

void echo_load_pipeline_memory(unsigned nconns, unsigned msg_bytes, unsigned pipeline, struct memory_needs *m)
{
	m->load_buffers += buffer_bytes(nconns, msg_bytes, pipeline) - buffer_bytes(nconns, msg_bytes, 1);
	m->conn_state += (uint64_t)nconns * (load_conn_bytes(pipeline) - load_conn_bytes(1));
}

const struct load_ops echo_load_ops = {
	.body = { sizeof(struct echo_load_state), load_setup, load_run, load_teardown },
	.memory = echo_load_memory,
};
