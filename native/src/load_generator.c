/*
 * Closed-loop load generator thread.
 *
 * Each connection owns a send buffer and a receive buffer of messageBytes.
 * A request: stamp the send buffer so it differs from every earlier request,
 * post the send and the receive together (a large echo must be read while it
 * is still being written, or both sides stall on full socket buffers), and
 * when all bytes are back compare them with what was sent.
 *
 * All connections of the thread share one small ring; every loop iteration
 * submits whatever is ready in one io_uring_submit_and_wait and reaps the
 * completions that were there when the wait returned.
 *
 * Timing, so that the generator's own work is not counted as latency:
 *  - t0: requests prepared while a batch of completions is processed are
 *    not on the wire until the submit after the batch, so they wait on the
 *    `unstamped` list and get one clock read taken immediately before the
 *    io_uring_submit_and_wait that really submits them (and before the
 *    fallback submit of a full SQ). Load rings never use SQPOLL, so no
 *    SQE leaves before that call.
 *  - end: one clock read right after the wait returns, used for every CQE
 *    reaped in that batch; handling earlier CQEs (memcmp, stamping) does not
 *    inflate later ones. Only CQEs already posted before that read are
 *    reaped, so no completion is dated before it happened.
 *  - round trip = end - t0 in ns, rounded UP to whole µs ((ns + 999) / 1000):
 *    never understated, at most 1 µs over.
 * Both reads are vDSO clock_gettime calls, not syscalls; per batch there are
 * at most two, instead of two per request before.
 *
 * Each completed round trip also goes into a second histogram corrected
 * for coordinated omission: a closed loop stops sending while the server
 * stalls, so a 2 s stall shows as one slow sample per connection instead of
 * the many sends that would have waited. lh_record_corrected() adds those
 * omitted samples, with E = this thread's EWMA of the raw round trip
 * (alpha 1/64, seeded by the first sample, updated after the correction so
 * a stall does not raise its own E, at least 1 µs). E is per thread, not
 * per connection: when several connections of a thread come out of the
 * same stall, the first one's sample raises E and the later ones are
 * corrected with that larger E, so they add fewer synthetic samples.
 *
 * Published for snapshot(): per connection the t0 of its outstanding
 * request (0 when none; relaxed stores, one per request start and end) and
 * the number of live connections.
 */
#define _GNU_SOURCE
#include "load_generator.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpu_accounting.h"
#include "ring_setup.h"
#include "uring_util.h"

#define DRAIN_TIMEOUT_NS (2ull * 1000000000ull)

enum lud_type { L_SEND = 1, L_RECV = 2, L_WAKE = 3, L_TIMEOUT = 4, L_CANCEL = 5 };
#define LUD_SHIFT 3
#define LUD_TYPE_MASK 7ull

struct lconn {
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

struct load_rt {
	struct io_uring ring;
	int ring_ok;
	struct load_thread *pub;
	struct lconn *conns;
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

static inline uint64_t lud(unsigned idx, enum lud_type t)
{
	return ((uint64_t)idx << LUD_SHIFT) | (uint64_t)t;
}

/* Per-connection random bytes; the stamps below make each request unique. */
static void fill_pattern(unsigned char *p, size_t n, unsigned id)
{
	uint64_t x = 0x9E3779B97F4A7C15ull * (id + 1);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

/*
 * Writes an 8-byte tag derived from (connection, request, offset) every 64
 * bytes: a stale, duplicated or misplaced chunk of an echo then differs from
 * what was sent, at a cost of msg/64 stores per request.
 */
static void stamp(struct lconn *c, unsigned msg)
{
	uint64_t tag = (c->seq + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)c->id << 40);

	if (msg < 8) {
		memcpy(c->sbuf, &tag, msg);
		return;
	}
	for (unsigned off = 0; off + 8 <= msg; off += 64) {
		uint64_t t = tag ^ ((uint64_t)off * 0xD6E8FEB86659FD93ull);
		memcpy(c->sbuf + off, &t, 8);
	}
}

/* Sizes shared by setup_conns() and load_memory(). */
static size_t load_buffer_bytes(unsigned nconns, unsigned msg)
{
	return mem_page_round((uint64_t)nconns * 2 * msg);
}

static size_t load_conn_bytes(void)
{
	/* lconn, its published t0, its slot on the unstamped list */
	return sizeof(struct lconn) + sizeof(uint64_t) + sizeof(unsigned);
}

/* Every request prepared so far gets t0 = now, right before it is submitted. */
static void stamp_pending(struct load_rt *rt)
{
	if (!rt->nunstamped)
		return;
	uint64_t now = mono_ns();
	for (unsigned i = 0; i < rt->nunstamped; i++) {
		unsigned idx = rt->unstamped[i];
		rt->conns[idx].t0 = now;
		__atomic_store_n(&rt->pub->inflight_t0[idx], now, __ATOMIC_RELAXED);
	}
	rt->nunstamped = 0;
}

/* get_sqe() that stamps before the submit a full SQ forces. */
static struct io_uring_sqe *lget_sqe(struct load_rt *rt)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rt->ring);

	if (sqe)
		return sqe;
	stamp_pending(rt);
	return get_sqe(&rt->ring);
}

static void post_send(struct load_rt *rt, unsigned idx)
{
	struct lconn *c = &rt->conns[idx];
	struct io_uring_sqe *sqe = lget_sqe(rt);

	/* MSG_WAITALL: io_uring retries a short stream send itself. */
	io_uring_prep_send(sqe, c->fd, c->sbuf + c->sent, rt->msg - c->sent, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, lud(idx, L_SEND));
	c->send_inflight = 1;
	rt->inflight++;
}

static void post_recv(struct load_rt *rt, unsigned idx)
{
	struct lconn *c = &rt->conns[idx];
	struct io_uring_sqe *sqe = lget_sqe(rt);

	/* Into the connection's own buffer at the offset reached so far. */
	io_uring_prep_recv(sqe, c->fd, c->rbuf + c->got, rt->msg - c->got, MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, lud(idx, L_RECV));
	c->recv_inflight = 1;
	rt->inflight++;
}

static void start_request(struct load_rt *rt, unsigned idx)
{
	struct lconn *c = &rt->conns[idx];

	c->seq++;
	stamp(c, rt->msg);
	c->sent = c->got = 0;
	c->t0 = 0;
	/* Listed before its SQEs exist: if lget_sqe() has to submit between
	 * the send and the recv, the send leaves then, stamped. */
	rt->unstamped[rt->nunstamped++] = idx;
	post_send(rt, idx);
	post_recv(rt, idx);
}

/*
 * A failed or closed connection stops its loop; it is counted unless we are
 * stopping ourselves (then -ECANCELED and friends are our own doing). The
 * shutdown ends whichever of send/recv is still pending.
 */
static void conn_dead(struct load_rt *rt, struct lconn *c)
{
	if (!c->dead) {
		if (!rt->stopping) {
			counter_add(&rt->pub->errors, 1);
			shutdown(c->fd, SHUT_RDWR);
		}
		/* Its request will never complete: no longer in flight. */
		__atomic_store_n(&rt->pub->inflight_t0[c - rt->conns], 0, __ATOMIC_RELAXED);
		counter_add(&rt->pub->live_conns, (uint64_t)-1);
	}
	c->dead = 1;
}

/* Raw round trip into the corrected histogram; see the header comment. */
static void record_corrected(struct load_rt *rt, uint64_t us)
{
	struct latency_histogram *h = &rt->pub->corrected;

	if (!rt->ewma_ready) {
		lh_record(h, us);
		rt->ewma_us = (double)us;
		rt->ewma_ready = 1;
		return;
	}
	uint64_t e = (uint64_t)(rt->ewma_us + 0.5);
	lh_record_corrected(h, us, e ? e : 1);
	rt->ewma_us += ((double)us - rt->ewma_us) / 64.0;
}

static void maybe_complete(struct load_rt *rt, unsigned idx)
{
	struct lconn *c = &rt->conns[idx];

	if (c->dead || c->send_inflight || c->recv_inflight || c->sent < rt->msg || c->got < rt->msg)
		return;
	/* reap_ns was read after the wait that reaped this CQE, t0 before the
	 * submit that sent the request: reap_ns >= t0. */
	uint64_t us = lh_ns_to_us(rt->reap_ns - c->t0);
	lh_record(&rt->pub->hist, us);
	record_corrected(rt, us);
	__atomic_store_n(&rt->pub->inflight_t0[idx], 0, __ATOMIC_RELAXED);
	counter_add(&rt->pub->bytes, rt->msg);
	if (memcmp(c->sbuf, c->rbuf, rt->msg))
		counter_add(&rt->pub->errors, 1); /* counted, and the connection carries on */
	if (!rt->stopping)
		start_request(rt, idx);
}

static void handle_cqe(struct load_rt *rt, const struct io_uring_cqe *cqe)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);
	unsigned idx = (unsigned)(data >> LUD_SHIFT);
	struct lconn *c = &rt->conns[idx];
	int res = cqe->res;

	rt->inflight--;
	switch ((enum lud_type)(data & LUD_TYPE_MASK)) {
	case L_SEND:
		c->send_inflight = 0;
		if (c->dead)
			break;
		if (res <= 0) {
			conn_dead(rt, c);
			break;
		}
		c->sent += (unsigned)res;
		if (c->sent < rt->msg && !rt->stopping)
			post_send(rt, idx); /* short send: the remainder */
		maybe_complete(rt, idx);
		break;
	case L_RECV:
		c->recv_inflight = 0;
		if (c->dead)
			break;
		if (res <= 0) {
			conn_dead(rt, c); /* 0: the server closed on us */
			break;
		}
		c->got += (unsigned)res;
		if (c->got < rt->msg && !rt->stopping)
			post_recv(rt, idx);
		maybe_complete(rt, idx);
		break;
	case L_WAKE:
	case L_TIMEOUT: /* -ETIME: maxDurationMs reached */
		rt->stopping = 1;
		break;
	case L_CANCEL:
		break;
	}
}

/*
 * Reaps the CQEs posted before the clock read that dates them all. Reading
 * the tail first matters without DEFER_TASKRUN (the fallback ring), where
 * CQEs can arrive while earlier ones are handled: those wait for the next
 * batch and its later clock read.
 */
static void reap(struct load_rt *rt)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	unsigned ready = io_uring_cq_ready(&rt->ring);

	rt->reap_ns = mono_ns();
	io_uring_for_each_cqe(&rt->ring, head, cqe) {
		if (seen == ready)
			break;
		handle_cqe(rt, cqe);
		seen++;
	}
	io_uring_cq_advance(&rt->ring, seen);
}

unsigned load_ring_entries(unsigned nconns)
{
	unsigned want = 2 * nconns + 4; /* send + recv each, wake, timeout, cancel */
	unsigned entries = 8;

	while (entries < want && entries < 32768)
		entries <<= 1;
	return entries;
}

void load_memory(unsigned nconns, unsigned msg_bytes, struct memory_needs *m)
{
	unsigned entries = load_ring_entries(nconns);
	uint64_t ring = ring_kernel_bytes(entries, entries * 2);

	m->load_buffers += load_buffer_bytes(nconns, msg_bytes);
	m->rings += ring;
	m->memlock += ring;
	m->conn_state += (uint64_t)nconns * load_conn_bytes() + sizeof(struct load_rt) + sizeof(struct load_thread);
}

static int setup_ring(struct load_rt *rt)
{
	unsigned entries = load_ring_entries(rt->pub->cfg.nconns);
	struct io_uring_params p;

	/* The load side is not under test: take the cheapest completion mode
	 * the kernel offers and fall back to a plain ring. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
		  IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 2;
	int ret = io_uring_queue_init_params(entries, &rt->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(entries, &rt->ring, &p);
	}
	if (ret == 0)
		rt->ring_ok = 1;
	return ret;
}

static int setup_conns(struct load_rt *rt, enum load_step *step)
{
	struct load_thread *t = rt->pub;
	unsigned n = t->cfg.nconns;

	*step = LOAD_STEP_ALLOC;
	rt->conns = calloc(n, sizeof(*rt->conns));
	rt->unstamped = calloc(n, sizeof(*rt->unstamped));
	if (!rt->conns || !rt->unstamped)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		rt->conns[i].fd = -1;
	rt->mem_bytes = load_buffer_bytes(n, rt->msg);
	void *mem = mmap(NULL, rt->mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	rt->mem = mem;

	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(t->cfg.port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	for (unsigned i = 0; i < n; i++) {
		struct lconn *c = &rt->conns[i];
		int one = 1;

		c->id = t->cfg.conn_base + i;
		c->sbuf = rt->mem + (size_t)i * 2 * rt->msg;
		c->rbuf = c->sbuf + rt->msg;
		fill_pattern(c->sbuf, rt->msg, c->id);

		*step = LOAD_STEP_SOCKET;
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			return -errno;
		/* Closed loop: every request is a small write that must go now. */
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* Blocking connect, once per connection at start-up: the server is
		 * already listening, so loopback completes it immediately. */
		*step = LOAD_STEP_CONNECT;
		if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)))
			return -errno;
	}
	return 0;
}

static void drain(struct load_rt *rt)
{
	struct io_uring_sqe *sqe = lget_sqe(rt);
	uint64_t deadline = mono_ns() + DRAIN_TIMEOUT_NS;

	rt->stopping = 1;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, lud(0, L_CANCEL));
	rt->inflight++;
	while (rt->inflight > 0 && mono_ns() < deadline) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
		struct io_uring_cqe *cqe = NULL;
		/* Requests started in the loop's last batch go out here. */
		stamp_pending(rt);
		int ret = io_uring_submit_and_wait_timeout(&rt->ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR)
			break;
		reap(rt);
	}
}

static void teardown(struct load_rt *rt)
{
	struct load_thread *t = rt->pub;

	if (t->cfg.before_exit)
		t->cfg.before_exit(t->cfg.before_exit_arg);
	if (rt->ring_ok)
		io_uring_queue_exit(&rt->ring);
	if (rt->conns) {
		for (unsigned i = 0; i < t->cfg.nconns; i++) {
			if (rt->conns[i].fd >= 0)
				close(rt->conns[i].fd);
			__atomic_store_n(&t->inflight_t0[i], 0, __ATOMIC_RELAXED);
		}
		free(rt->conns);
	}
	free(rt->unstamped);
	__atomic_store_n(&t->live_conns, 0, __ATOMIC_RELAXED);
	/* Kept if requests could not be reaped: they may still write into it. */
	if (rt->mem && rt->inflight == 0)
		munmap(rt->mem, rt->mem_bytes);
}

static void loop(struct load_rt *rt)
{
	struct load_thread *t = rt->pub;
	struct io_uring_sqe *sqe;

	sqe = lget_sqe(rt);
	io_uring_prep_poll_add(sqe, t->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, lud(0, L_WAKE));
	rt->inflight++;

	/* The hard bound: an absolute CLOCK_MONOTONIC timeout, armed once. */
	rt->deadline.tv_sec = (long long)(t->cfg.deadline_ns / 1000000000ull);
	rt->deadline.tv_nsec = (long long)(t->cfg.deadline_ns % 1000000000ull);
	sqe = lget_sqe(rt);
	io_uring_prep_timeout(sqe, &rt->deadline, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, lud(0, L_TIMEOUT));
	rt->inflight++;

	for (unsigned i = 0; i < t->cfg.nconns; i++)
		start_request(rt, i);

	while (!rt->stopping) {
		stamp_pending(rt);
		int ret = io_uring_submit_and_wait(&rt->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
			counter_add(&t->errors, 1);
			break;
		}
		reap(rt);
	}
	__atomic_store_n(&t->running, 0, __ATOMIC_RELEASE);
}

static void *load_main(void *arg)
{
	struct load_thread *t = arg;
	struct load_rt *rt = calloc(1, sizeof(*rt));
	enum load_step step = LOAD_STEP_RING_SETUP;
	int ret;

	block_all_signals();
	__atomic_store_n(&t->tid, gettid(), __ATOMIC_RELAXED); /* read by the CPU scan */
	if (!rt) {
		t->fail_step = LOAD_STEP_ALLOC;
		t->fail_err = -ENOMEM;
		goto out;
	}
	rt->pub = t;
	rt->msg = t->cfg.msg_bytes;

	ret = setup_ring(rt);
	if (ret == 0)
		ret = setup_conns(rt, &step);
	if (ret) {
		t->fail_step = step;
		t->fail_err = ret;
		teardown(rt);
		free(rt);
		goto out;
	}

	__atomic_store_n(&t->live_conns, t->cfg.nconns, __ATOMIC_RELAXED);
	__atomic_store_n(&t->running, 1, __ATOMIC_RELEASE);
	latch_count_down(t->latch);
	loop(rt);
	drain(rt);
	teardown(rt);
	free(rt);
	t->final_cpu_ns = cpu_self_thread_ns();
	__atomic_store_n(&t->exited, 1, __ATOMIC_RELEASE);
	return NULL;

out:
	__atomic_store_n(&t->running, 0, __ATOMIC_RELEASE);
	t->final_cpu_ns = cpu_self_thread_ns();
	__atomic_store_n(&t->exited, 1, __ATOMIC_RELEASE);
	latch_count_down(t->latch);
	return NULL;
}

int load_thread_start(struct load_thread *t, const struct load_config *cfg, struct latch *latch)
{
	int ret;

	memset(t, 0, sizeof(*t));
	t->cfg = *cfg;
	t->latch = latch;
	t->wake_fd = -1;
	t->inflight_t0 = calloc(cfg->nconns ? cfg->nconns : 1, sizeof(*t->inflight_t0));
	if (!t->inflight_t0) {
		t->fail_step = LOAD_STEP_ALLOC;
		t->fail_err = -ENOMEM;
		return t->fail_err;
	}
	t->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (t->wake_fd < 0) {
		t->fail_step = LOAD_STEP_EVENTFD;
		t->fail_err = -errno;
		return t->fail_err;
	}
	ret = pthread_create(&t->thread, NULL, load_main, t);
	if (ret) {
		close(t->wake_fd);
		t->wake_fd = -1;
		t->fail_step = LOAD_STEP_THREAD;
		t->fail_err = -ret;
		return t->fail_err;
	}
	t->thread_started = 1;
	return 0;
}

void load_thread_wake(struct load_thread *t)
{
	uint64_t one = 1;

	if (t->thread_started && write(t->wake_fd, &one, sizeof(one)) < 0) {
		/* Only an overflowing counter fails, and then it is signalled anyway. */
	}
}

void load_thread_join(struct load_thread *t)
{
	if (t->thread_started) {
		pthread_join(t->thread, NULL);
		t->thread_started = 0;
	}
	if (t->wake_fd >= 0) {
		close(t->wake_fd);
		t->wake_fd = -1;
	}
	free(t->inflight_t0);
	t->inflight_t0 = NULL;
}

unsigned load_thread_inflight(const struct load_thread *t, uint64_t *oldest_t0)
{
	unsigned n = 0;

	if (!t->inflight_t0) /* joined: nothing of it is in flight */
		return 0;
	for (unsigned i = 0; i < t->cfg.nconns; i++) {
		uint64_t t0 = __atomic_load_n(&t->inflight_t0[i], __ATOMIC_RELAXED);
		if (!t0)
			continue;
		n++;
		if (t0 < *oldest_t0)
			*oldest_t0 = t0;
	}
	return n;
}
