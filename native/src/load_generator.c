/*
 * Closed-loop load generator thread.
 *
 * Each connection owns a send buffer and a receive buffer of messageBytes.
 * A request: stamp the send buffer so it differs from every earlier request,
 * post the send and the receive together (a large echo must be read while it
 * is still being written, or both sides stall on full socket buffers), and
 * when all bytes are back compare them with what was sent. The round trip is
 * measured from just before the send is queued to the completion of the last
 * byte, in microseconds, into this thread's histogram.
 *
 * All connections of the thread share one small ring; every loop iteration
 * submits whatever is ready and reaps every completion.
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

static void post_send(struct load_rt *rt, unsigned idx)
{
	struct lconn *c = &rt->conns[idx];
	struct io_uring_sqe *sqe = get_sqe(&rt->ring);

	/* MSG_WAITALL: io_uring retries a short stream send itself. */
	io_uring_prep_send(sqe, c->fd, c->sbuf + c->sent, rt->msg - c->sent, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, lud(idx, L_SEND));
	c->send_inflight = 1;
	rt->inflight++;
}

static void post_recv(struct load_rt *rt, unsigned idx)
{
	struct lconn *c = &rt->conns[idx];
	struct io_uring_sqe *sqe = get_sqe(&rt->ring);

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
	c->t0 = mono_ns();
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
	if (!c->dead && !rt->stopping) {
		counter_add(&rt->pub->errors, 1);
		shutdown(c->fd, SHUT_RDWR);
	}
	c->dead = 1;
}

static void maybe_complete(struct load_rt *rt, unsigned idx)
{
	struct lconn *c = &rt->conns[idx];

	if (c->dead || c->send_inflight || c->recv_inflight || c->sent < rt->msg || c->got < rt->msg)
		return;
	uint64_t now = mono_ns();
	lh_record(&rt->pub->hist, (now - c->t0) / 1000);
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

static int setup_ring(struct load_rt *rt)
{
	unsigned want = 2 * rt->pub->cfg.nconns + 4; /* send + recv each, wake, timeout, cancel */
	unsigned entries = 8;
	struct io_uring_params p;

	while (entries < want && entries < 32768)
		entries <<= 1;
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
	long page = sysconf(_SC_PAGESIZE);

	*step = LOAD_STEP_ALLOC;
	rt->conns = calloc(n, sizeof(*rt->conns));
	if (!rt->conns)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		rt->conns[i].fd = -1;
	rt->mem_bytes = ((size_t)n * 2 * rt->msg + page - 1) & ~((size_t)page - 1);
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
	struct io_uring_sqe *sqe = get_sqe(&rt->ring);
	uint64_t deadline = mono_ns() + DRAIN_TIMEOUT_NS;

	rt->stopping = 1;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, lud(0, L_CANCEL));
	rt->inflight++;
	while (rt->inflight > 0 && mono_ns() < deadline) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
		struct io_uring_cqe *cqe = NULL;
		int ret = io_uring_submit_and_wait_timeout(&rt->ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR)
			break;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&rt->ring, head, cqe) {
			handle_cqe(rt, cqe);
			seen++;
		}
		io_uring_cq_advance(&rt->ring, seen);
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
		for (unsigned i = 0; i < t->cfg.nconns; i++)
			if (rt->conns[i].fd >= 0)
				close(rt->conns[i].fd);
		free(rt->conns);
	}
	/* Kept if requests could not be reaped: they may still write into it. */
	if (rt->mem && rt->inflight == 0)
		munmap(rt->mem, rt->mem_bytes);
}

static void loop(struct load_rt *rt)
{
	struct load_thread *t = rt->pub;
	struct io_uring_sqe *sqe;

	sqe = get_sqe(&rt->ring);
	io_uring_prep_poll_add(sqe, t->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, lud(0, L_WAKE));
	rt->inflight++;

	/* The hard bound: an absolute CLOCK_MONOTONIC timeout, armed once. */
	rt->deadline.tv_sec = (long long)(t->cfg.deadline_ns / 1000000000ull);
	rt->deadline.tv_nsec = (long long)(t->cfg.deadline_ns % 1000000000ull);
	sqe = get_sqe(&rt->ring);
	io_uring_prep_timeout(sqe, &rt->deadline, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, lud(0, L_TIMEOUT));
	rt->inflight++;

	for (unsigned i = 0; i < t->cfg.nconns; i++)
		start_request(rt, i);

	while (!rt->stopping) {
		int ret = io_uring_submit_and_wait(&rt->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
			counter_add(&t->errors, 1);
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&rt->ring, head, cqe) {
			handle_cqe(rt, cqe);
			seen++;
		}
		io_uring_cq_advance(&rt->ring, seen);
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
}
