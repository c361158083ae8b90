/*
 * io_uring echo server thread.
 *
 * Data path, per connection:
 *   multishot recv (buffer select) -> CQE names a provided buffer ->
 *   buffer appended to the connection's send FIFO -> sent back from the very
 *   same memory -> once the send has consumed it, the buffer goes back to
 *   the ring.
 *
 * Only one send per connection is in flight so the byte stream stays in
 * order; the FIFO is intrusive (buf_next[] indexed by buffer id), so queuing
 * costs no allocation. When several buffers are queued they go out in one
 * sendmsg, which matters for large messages that span many buffers.
 *
 * If the ring runs dry the kernel ends the multishot recv with -ENOBUFS; the
 * connection waits on the starved list and is re-armed as soon as sends hand
 * buffers back. Every held buffer sits in some FIFO whose send is in flight,
 * so buffers always come back and starvation cannot deadlock.
 *
 * An accept refused for lack of descriptors (-EMFILE/-ENFILE) ends the
 * multishot accept while the connection stays in the backlog: re-arming at
 * once would fail again at once, a busy spin. It is counted as a server
 * error and re-armed after a 10 ms timeout instead. While stopping, a freshly
 * accepted socket is closed at once: a recv armed on it after the drain's
 * cancel-all would never be cancelled and the drain would wait its timeout.
 */
#define _GNU_SOURCE
#include "echo_server.h"

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

#define BGID 7 /* provided-buffer group id, any 16-bit value */
#define SEND_IOV_MAX 16
#define DRAIN_TIMEOUT_NS (2ull * 1000000000ull)
#define ACCEPT_BACKOFF_NS (10ull * 1000000ull)

/* user_data = pointer | type; conns are malloc'd, so the low 3 bits are free. */
enum ud_type {
	UD_ACCEPT = 1,
	UD_WAKE = 2,
	UD_RECV = 3,
	UD_SEND = 4,
	UD_CANCEL = 5,
	UD_PROBE = 6,
	UD_ACCEPT_RETRY = 7, /* backoff timeout after a refused accept */
};
#define UD_TYPE_MASK 7ull

struct conn {
	int fd;
	unsigned recv_armed : 1;
	unsigned send_inflight : 1;
	unsigned eof : 1;     /* peer finished sending: flush the FIFO, then close */
	unsigned failed : 1;  /* socket error: drop the FIFO, close */
	unsigned starved : 1; /* on the starved list, waiting for buffers */
	int q_head, q_tail;   /* FIFO of buffer ids, -1 when empty */
	unsigned head_off;    /* bytes of the head buffer already sent */
	struct conn *starved_prev, *starved_next;
	struct conn *free_next;
	/* sendmsg state; must stay put while the send is in flight (with SQPOLL
	 * the kernel reads it after io_uring_submit returned). */
	struct msghdr msg;
	struct iovec iov[SEND_IOV_MAX];
};

struct server_rt {
	struct io_uring ring;
	int ring_ok;
	struct echo_server *pub;
	int listen_fd;

	struct io_uring_buf_ring *br;
	size_t br_bytes;
	unsigned char *bufs;
	size_t bufs_bytes;
	unsigned buf_size, buf_count;
	int buf_mask;
	int br_registered;
	int32_t *buf_next;  /* FIFO links, by buffer id */
	uint32_t *buf_len;  /* bytes received into each buffer */
	int pending_returns; /* added to the buf ring but not yet published */
	unsigned bufs_free;  /* buffers the kernel can pick right now (after publish) */

	unsigned inflight;   /* requests that will still post a final CQE */
	int stopping;
	struct __kernel_timespec accept_backoff; /* read by the kernel while the timeout is armed */

	struct conn *free_conns;
	struct conn *starved, *starved_tail; /* FIFO: first starved, first re-armed */
	struct conn **conns; /* every conn ever allocated, for teardown */
	unsigned nconns, cap_conns;
};

static inline uint64_t ud(void *p, enum ud_type t)
{
	return (uint64_t)(uintptr_t)p | (uint64_t)t;
}

/* ---- provided buffers ------------------------------------------------- */

static inline unsigned char *buf_addr(struct server_rt *rt, unsigned bid)
{
	return rt->bufs + (size_t)bid * rt->buf_size;
}

/* Queues a buffer for return; published in one go by buf_publish(). */
static inline void buf_return(struct server_rt *rt, unsigned bid)
{
	io_uring_buf_ring_add(rt->br, buf_addr(rt, bid), rt->buf_size, (unsigned short)bid, rt->buf_mask,
			      rt->pending_returns++);
	rt->bufs_free++;
}

/* A CQE handed us a buffer: the kernel has one less to pick from. */
static inline unsigned buf_taken(struct server_rt *rt, unsigned flags)
{
	rt->bufs_free--;
	return flags >> IORING_CQE_BUFFER_SHIFT;
}

static inline void buf_publish(struct server_rt *rt)
{
	if (rt->pending_returns) {
		io_uring_buf_ring_advance(rt->br, rt->pending_returns);
		rt->pending_returns = 0;
	}
}

/* Sizes shared by buf_ring_create() and echo_server_memory(). */
static size_t br_ring_bytes(unsigned count)
{
	return mem_page_round((uint64_t)count * sizeof(struct io_uring_buf));
}

static size_t br_bufs_bytes(unsigned count, unsigned size)
{
	return (size_t)count * size;
}

static size_t br_link_bytes(unsigned count)
{
	return (size_t)count * (sizeof(*((struct server_rt *)0)->buf_next) + sizeof(*((struct server_rt *)0)->buf_len));
}

/*
 * liburing 2.3 has no io_uring_setup_buf_ring(), so the ring memory is ours:
 * page-aligned anonymous memory registered with IORING_REGISTER_PBUF_RING.
 */
static int buf_ring_create(struct server_rt *rt, enum server_step *step)
{
	rt->buf_size = rt->pub->cfg.buf_size;
	rt->buf_count = rt->pub->cfg.buf_count;
	rt->buf_mask = io_uring_buf_ring_mask(rt->buf_count);

	*step = SERVER_STEP_BUF_RING_ALLOC;
	rt->br_bytes = br_ring_bytes(rt->buf_count);
	void *br = mmap(NULL, rt->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED)
		return -errno;
	rt->br = br;
	rt->bufs_bytes = br_bufs_bytes(rt->buf_count, rt->buf_size);
	void *bufs = mmap(NULL, rt->bufs_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bufs == MAP_FAILED)
		return -errno;
	rt->bufs = bufs;
	rt->buf_next = malloc(sizeof(*rt->buf_next) * rt->buf_count);
	rt->buf_len = malloc(sizeof(*rt->buf_len) * rt->buf_count);
	if (!rt->buf_next || !rt->buf_len)
		return -ENOMEM;

	*step = SERVER_STEP_BUF_RING_REGISTER;
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)rt->br;
	reg.ring_entries = rt->buf_count;
	reg.bgid = BGID;
	int ret = io_uring_register_buf_ring(&rt->ring, &reg, 0);
	if (ret)
		return ret;
	rt->br_registered = 1;

	io_uring_buf_ring_init(rt->br);
	for (unsigned bid = 0; bid < rt->buf_count; bid++)
		buf_return(rt, bid);
	buf_publish(rt);
	return 0;
}

/* ---- connections ------------------------------------------------------ */

/* Capacity of the conns[] pointer array once it holds n (it doubles from 64). */
static unsigned conns_cap(unsigned n)
{
	unsigned cap = 64;

	while (cap < n)
		cap *= 2;
	return cap;
}

void echo_server_memory(const struct echo_server_config *cfg, unsigned nconns, struct memory_needs *m)
{
	uint64_t ring = ring_kernel_bytes(cfg->ring.entries, ring_setup_cq_entries(cfg->ring.entries));
	uint64_t br = br_ring_bytes(cfg->buf_count);

	m->buffer_ring += br + mem_page_round(br_bufs_bytes(cfg->buf_count, cfg->buf_size)) +
			  br_link_bytes(cfg->buf_count);
	m->rings += ring;
	/* The registered buffer ring counts, the buffers it points to do not. */
	m->memlock += ring + br;
	m->conn_state += (uint64_t)nconns * sizeof(struct conn) + conns_cap(nconns) * sizeof(struct conn *) +
			 sizeof(struct server_rt);
}

static struct conn *conn_alloc(struct server_rt *rt)
{
	struct conn *c = rt->free_conns;

	if (c) {
		rt->free_conns = c->free_next;
	} else {
		if (rt->nconns == rt->cap_conns) {
			unsigned cap = conns_cap(rt->nconns + 1);
			struct conn **n = realloc(rt->conns, cap * sizeof(*n));
			if (!n)
				return NULL;
			rt->conns = n;
			rt->cap_conns = cap;
		}
		c = malloc(sizeof(*c));
		if (!c)
			return NULL;
		rt->conns[rt->nconns++] = c;
	}
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->q_head = c->q_tail = -1;
	return c;
}

static void arm_recv(struct server_rt *rt, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(&rt->ring);

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud(c, UD_RECV));
	c->recv_armed = 1;
	rt->inflight++;
}

static void arm_accept(struct server_rt *rt)
{
	struct io_uring_sqe *sqe = get_sqe(&rt->ring);

	io_uring_prep_multishot_accept(sqe, rt->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud(NULL, UD_ACCEPT));
	rt->inflight++;
}

/* Re-arms the accept in ACCEPT_BACKOFF_NS; cancel-all ends it when stopping. */
static void arm_accept_later(struct server_rt *rt)
{
	struct io_uring_sqe *sqe = get_sqe(&rt->ring);

	rt->accept_backoff.tv_sec = 0;
	rt->accept_backoff.tv_nsec = (long long)ACCEPT_BACKOFF_NS;
	io_uring_prep_timeout(sqe, &rt->accept_backoff, 0, 0);
	io_uring_sqe_set_data64(sqe, ud(NULL, UD_ACCEPT_RETRY));
	rt->inflight++;
}

static void starve(struct server_rt *rt, struct conn *c)
{
	c->starved = 1;
	c->starved_next = NULL;
	c->starved_prev = rt->starved_tail;
	if (rt->starved_tail)
		rt->starved_tail->starved_next = c;
	else
		rt->starved = c;
	rt->starved_tail = c;
}

static void unstarve(struct server_rt *rt, struct conn *c)
{
	if (!c->starved)
		return;
	if (c->starved_prev)
		c->starved_prev->starved_next = c->starved_next;
	else
		rt->starved = c->starved_next;
	if (c->starved_next)
		c->starved_next->starved_prev = c->starved_prev;
	else
		rt->starved_tail = c->starved_prev;
	c->starved = 0;
}

static void fifo_drop(struct server_rt *rt, struct conn *c)
{
	while (c->q_head >= 0) {
		int bid = c->q_head;
		c->q_head = rt->buf_next[bid];
		buf_return(rt, (unsigned)bid);
	}
	c->q_tail = -1;
	c->head_off = 0;
}

/* Closes the connection once nothing of it is left in the kernel or the FIFO. */
static void conn_maybe_close(struct server_rt *rt, struct conn *c)
{
	if (!(c->eof || c->failed) || c->recv_armed || c->send_inflight || c->q_head >= 0)
		return;
	unstarve(rt, c);
	close(c->fd);
	c->fd = -1;
	counter_add(&rt->pub->active, (uint64_t)-1);
	c->free_next = rt->free_conns;
	rt->free_conns = c;
}

static void conn_fail(struct server_rt *rt, struct conn *c)
{
	c->failed = 1;
	fifo_drop(rt, c);
	unstarve(rt, c);
	/* Ends the multishot recv (it completes with 0) without a cancel SQE. */
	if (c->recv_armed)
		shutdown(c->fd, SHUT_RDWR);
	conn_maybe_close(rt, c);
}

/* Sends the FIFO from its head: one buffer with send, several with sendmsg. */
static void conn_send(struct server_rt *rt, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(&rt->ring);
	unsigned off = c->head_off;
	int n = 0;

	for (int bid = c->q_head; bid >= 0 && n < SEND_IOV_MAX; bid = rt->buf_next[bid]) {
		c->iov[n].iov_base = buf_addr(rt, (unsigned)bid) + off;
		c->iov[n].iov_len = rt->buf_len[bid] - off;
		off = 0;
		n++;
	}
	/* MSG_NOSIGNAL: a peer that vanished must give -EPIPE, not SIGPIPE. */
	if (n == 1) {
		io_uring_prep_send(sqe, c->fd, c->iov[0].iov_base, c->iov[0].iov_len, MSG_NOSIGNAL);
	} else {
		memset(&c->msg, 0, sizeof(c->msg));
		c->msg.msg_iov = c->iov;
		c->msg.msg_iovlen = (size_t)n;
		io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(sqe, ud(c, UD_SEND));
	c->send_inflight = 1;
	rt->inflight++;
}

/* Errors that are just the peer going away or our own cancellation. */
static int benign(int res)
{
	return res == -ECONNRESET || res == -EPIPE || res == -ECANCELED || res == -ENOTCONN ||
	       res == -ECONNABORTED || res == -ETIMEDOUT;
}

static void on_send(struct server_rt *rt, struct conn *c, int res)
{
	c->send_inflight = 0;
	rt->inflight--;

	if (res <= 0) {
		if ((res == -EINTR || res == -EAGAIN) && !rt->stopping) {
			conn_send(rt, c);
			return;
		}
		if (!benign(res) && !rt->stopping)
			counter_add(&rt->pub->errors, 1);
		conn_fail(rt, c);
		return;
	}

	/* Short or full, consume what went out and hand finished buffers back. */
	unsigned left = (unsigned)res;
	while (left && c->q_head >= 0) {
		int bid = c->q_head;
		unsigned rem = rt->buf_len[bid] - c->head_off;
		if (left >= rem) {
			left -= rem;
			c->q_head = rt->buf_next[bid];
			c->head_off = 0;
			buf_return(rt, (unsigned)bid);
		} else {
			c->head_off += left;
			left = 0;
		}
	}
	if (c->q_head < 0)
		c->q_tail = -1;

	/* While stopping, nothing new is started: drain() must be able to finish. */
	if (c->failed || rt->stopping)
		fifo_drop(rt, c);
	else if (c->q_head >= 0)
		conn_send(rt, c);
	conn_maybe_close(rt, c);
}

static void on_recv(struct server_rt *rt, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		unsigned bid = buf_taken(rt, cqe->flags);
		if (c->failed || rt->stopping) {
			buf_return(rt, bid);
		} else {
			rt->buf_len[bid] = (uint32_t)res;
			rt->buf_next[bid] = -1;
			if (c->q_tail >= 0)
				rt->buf_next[c->q_tail] = (int32_t)bid;
			else
				c->q_head = (int32_t)bid;
			c->q_tail = (int32_t)bid;
			if (!c->send_inflight)
				conn_send(rt, c);
		}
	}

	if (cqe->flags & IORING_CQE_F_MORE)
		return;

	/* The multishot recv is over; decide whether it should be re-armed. */
	c->recv_armed = 0;
	rt->inflight--;
	if (res == -ENOBUFS) {
		counter_add(&rt->pub->enobufs, 1);
		if (!c->failed && !rt->stopping)
			starve(rt, c);
	} else if (res > 0) {
		/* Data delivered but multishot stopped (e.g. CQ overflow): keep going. */
		if (!c->failed && !rt->stopping)
			arm_recv(rt, c);
	} else if (res == 0) {
		c->eof = 1; /* peer closed its side: echo what is queued, then close */
	} else {
		if (!benign(res) && !rt->stopping)
			counter_add(&rt->pub->errors, 1);
		c->failed = 1;
		fifo_drop(rt, c);
	}
	conn_maybe_close(rt, c);
}

/* The accept failed for want of a resource that a retry right away would not find either. */
static int accept_starved(int res)
{
	return res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM;
}

static void on_accept(struct server_rt *rt, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	if (res >= 0 && rt->stopping) {
		close(res);
	} else if (res >= 0) {
		struct conn *c = conn_alloc(rt);
		if (!c) {
			close(res);
			counter_add(&rt->pub->errors, 1);
		} else {
			int one = 1;
			/* Echo replies are small writes: do not let Nagle hold them. */
			setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			c->fd = res;
			counter_add(&rt->pub->accepted, 1);
			counter_add(&rt->pub->active, 1);
			arm_recv(rt, c);
		}
	} else if (!benign(res) && res != -EINTR && res != -EAGAIN) {
		counter_add(&rt->pub->errors, 1);
	}
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		rt->inflight--;
		if (rt->stopping)
			return;
		if (accept_starved(res))
			arm_accept_later(rt);
		else
			arm_accept(rt);
	}
}

static void handle_cqe(struct server_rt *rt, const struct io_uring_cqe *cqe)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);
	void *p = (void *)(uintptr_t)(data & ~UD_TYPE_MASK);

	switch ((enum ud_type)(data & UD_TYPE_MASK)) {
	case UD_RECV:
		on_recv(rt, p, cqe);
		break;
	case UD_SEND:
		on_send(rt, p, cqe->res);
		break;
	case UD_ACCEPT:
		on_accept(rt, cqe);
		break;
	case UD_WAKE:
		rt->inflight--;
		rt->stopping = 1;
		break;
	case UD_CANCEL:
	case UD_PROBE:
		if (!(cqe->flags & IORING_CQE_F_MORE))
			rt->inflight--;
		break;
	case UD_ACCEPT_RETRY: /* -ETIME when it fired, -ECANCELED by the drain */
		rt->inflight--;
		if (!rt->stopping)
			arm_accept(rt);
		break;
	}
}

/* Handles every completion ready now, then hands returned buffers back to the kernel in
 * one tail update. */
static void reap_completions(struct server_rt *rt)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&rt->ring, head, cqe) {
		handle_cqe(rt, cqe);
		seen++;
	}
	io_uring_cq_advance(&rt->ring, seen);
	buf_publish(rt);
}

/*
 * Re-arms connections that ran the buffer ring dry, now that some came back:
 * at most one per free buffer, oldest first. Re-arming all of them at once
 * would mostly buy a burst of fresh -ENOBUFS completions.
 */
static void rearm_starved(struct server_rt *rt)
{
	unsigned budget = rt->bufs_free;

	while (rt->starved && budget--) {
		struct conn *c = rt->starved;
		unstarve(rt, c);
		if (!c->failed)
			arm_recv(rt, c);
		conn_maybe_close(rt, c);
	}
}

/* debugPauseServer(): one sleep on the server thread, nothing served meanwhile. */
static void debug_pause(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	/* Signals are blocked on this thread, so no EINTR to resume from. */
	clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
}

static void serve(struct server_rt *rt)
{
	struct io_uring *ring = &rt->ring;
	struct echo_server *s = rt->pub;

	while (!rt->stopping) {
		int ret = 0;
		/* Plain loads first: no locked instruction per iteration for hooks
		 * that are almost never set. */
		if (__builtin_expect(__atomic_load_n(&s->debug_pause_ms, __ATOMIC_RELAXED) ||
				     __atomic_load_n(&s->debug_fail_err, __ATOMIC_RELAXED), 0)) {
			unsigned pause_ms = __atomic_exchange_n(&s->debug_pause_ms, 0, __ATOMIC_RELAXED);
			if (pause_ms)
				debug_pause(pause_ms);
			ret = __atomic_exchange_n(&s->debug_fail_err, 0, __ATOMIC_RELAXED);
		}
		if (!ret)
			ret = io_uring_submit_and_wait(ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
			/* Counted first, published second: a snapshot that sees the
			 * error (acquire) also sees it counted. */
			counter_add(&rt->pub->errors, 1);
			__atomic_store_n(&rt->pub->loop_err, ret, __ATOMIC_RELEASE);
			return;
		}

		reap_completions(rt);
		/* Not only after returns: a re-armed connection may end (EOF) without
		 * taking a buffer, and the rest of the starved list must not wait
		 * for returns that never come. */
		if (rt->starved && rt->bufs_free && !rt->stopping)
			rearm_starved(rt);
	}
}

/*
 * Cancels everything still in the kernel and reaps the cancellations, so no
 * request can touch our buffers once they are unmapped. Returns 1 when every
 * request is accounted for.
 */
static int drain(struct server_rt *rt)
{
	struct io_uring *ring = &rt->ring;
	struct io_uring_sqe *sqe = get_sqe(ring);
	uint64_t deadline = mono_ns() + DRAIN_TIMEOUT_NS;

	rt->stopping = 1;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, ud(NULL, UD_CANCEL));
	rt->inflight++;

	while (rt->inflight > 0 && mono_ns() < deadline) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
		struct io_uring_cqe *cqe = NULL;
		int ret = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR)
			break;
		reap_completions(rt);
	}
	return rt->inflight == 0;
}

/*
 * Checks that this kernel does multishot recv with buffer select (Linux 6.0+)
 * before anything depends on it: a socketpair, one byte, one recv.
 */
static int probe_multishot_recv(struct server_rt *rt)
{
	int sv[2];
	int ret = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	if (write(sv[1], "x", 1) != 1) {
		ret = -errno;
		goto out;
	}
	struct io_uring_sqe *sqe = get_sqe(&rt->ring);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud(NULL, UD_PROBE));

	struct io_uring_cqe *cqe;
	ret = io_uring_submit_and_wait(&rt->ring, 1);
	if (ret < 0)
		goto out;
	ret = io_uring_peek_cqe(&rt->ring, &cqe);
	if (ret < 0)
		goto out;
	int res = cqe->res;
	unsigned flags = cqe->flags;
	io_uring_cqe_seen(&rt->ring, cqe);
	if (res < 0) {
		ret = res; /* -EINVAL: multishot recv not supported */
		goto out;
	}
	if (flags & IORING_CQE_F_BUFFER) {
		buf_return(rt, buf_taken(rt, flags));
		buf_publish(rt);
	}
	ret = 0;
	if (flags & IORING_CQE_F_MORE) {
		/* Still armed: closing the peer ends it with res 0. */
		close(sv[1]);
		sv[1] = -1;
		do {
			if (io_uring_wait_cqe(&rt->ring, &cqe))
				break;
			flags = cqe->flags;
			if (flags & IORING_CQE_F_BUFFER) {
				buf_return(rt, buf_taken(rt, flags));
				buf_publish(rt);
			}
			io_uring_cqe_seen(&rt->ring, cqe);
		} while (flags & IORING_CQE_F_MORE);
	}
out:
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return ret;
}

static int listen_socket(struct server_rt *rt, enum server_step *step)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int one = 1;

	*step = SERVER_STEP_SOCKET;
	rt->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (rt->listen_fd < 0)
		return -errno;
	/* A fixed port must be reusable right after the previous run's TIME_WAITs. */
	setsockopt(rt->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

	*step = SERVER_STEP_BIND;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(rt->pub->cfg.port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(rt->listen_fd, (struct sockaddr *)&addr, sizeof(addr)))
		return -errno;

	*step = SERVER_STEP_LISTEN;
	if (listen(rt->listen_fd, SOMAXCONN))
		return -errno;
	if (getsockname(rt->listen_fd, (struct sockaddr *)&addr, &len))
		return -errno;
	rt->pub->port = ntohs(addr.sin_port);
	return 0;
}

static void teardown(struct server_rt *rt, int drained)
{
	struct echo_server *s = rt->pub;

	if (s->cfg.before_exit)
		s->cfg.before_exit(s->cfg.before_exit_arg);
	if (rt->br_registered)
		io_uring_unregister_buf_ring(&rt->ring, BGID);
	if (rt->ring_ok)
		io_uring_queue_exit(&rt->ring);
	for (unsigned i = 0; i < rt->nconns; i++) {
		if (rt->conns[i]->fd >= 0) {
			close(rt->conns[i]->fd);
			counter_add(&s->active, (uint64_t)-1);
		}
		free(rt->conns[i]);
	}
	free(rt->conns);
	if (rt->listen_fd >= 0)
		close(rt->listen_fd);
	/* If a request could not be reaped its buffer may still be written to:
	 * leaking the memory is the safe choice (never seen in practice). */
	if (drained) {
		if (rt->bufs)
			munmap(rt->bufs, rt->bufs_bytes);
		if (rt->br)
			munmap(rt->br, rt->br_bytes);
	}
	free(rt->buf_next);
	free(rt->buf_len);
}

static void *server_main(void *arg)
{
	struct echo_server *s = arg;
	struct server_rt *rt = calloc(1, sizeof(*rt));
	enum server_step step = SERVER_STEP_RING_SETUP;
	int ret;

	block_all_signals();
	__atomic_store_n(&s->tid, gettid(), __ATOMIC_RELAXED); /* read by the CPU scan */
	if (!rt) {
		s->fail_step = SERVER_STEP_RING_SETUP;
		s->fail_err = -ENOMEM;
		goto report;
	}
	rt->pub = s;
	rt->listen_fd = -1;

	/* Created here, not by the caller: SINGLE_ISSUER ties the ring to its creator. */
	ret = ring_setup(&rt->ring, &s->cfg.ring, &s->ring);
	if (ret)
		goto fail;
	rt->ring_ok = 1;

	ret = buf_ring_create(rt, &step);
	if (ret)
		goto fail;

	step = SERVER_STEP_PROBE_MULTISHOT;
	ret = probe_multishot_recv(rt);
	if (ret)
		goto fail;

	ret = listen_socket(rt, &step);
	if (ret)
		goto fail;

	arm_accept(rt);
	/* stop() writes the eventfd; a poll (not a read) never needs io-wq. */
	struct io_uring_sqe *sqe = get_sqe(&rt->ring);
	io_uring_prep_poll_add(sqe, s->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ud(NULL, UD_WAKE));
	rt->inflight++;
	step = SERVER_STEP_SUBMIT;
	ret = io_uring_submit(&rt->ring);
	if (ret < 0)
		goto fail;

	s->rt = rt;
	latch_count_down((struct latch *)s->rt_latch);
	serve(rt);
	teardown(rt, drain(rt));
	free(rt);
	s->final_cpu_ns = cpu_self_thread_ns();
	__atomic_store_n(&s->exited, 1, __ATOMIC_RELEASE);
	return NULL;

fail:
	s->fail_step = step;
	s->fail_err = ret;
	teardown(rt, 1);
	free(rt);
report:
	s->final_cpu_ns = cpu_self_thread_ns();
	__atomic_store_n(&s->exited, 1, __ATOMIC_RELEASE);
	latch_count_down((struct latch *)s->rt_latch);
	return NULL;
}

int echo_server_start(struct echo_server *s, const struct echo_server_config *cfg)
{
	struct latch latch;
	int ret;

	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->wake_fd = -1;

	s->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		s->fail_step = SERVER_STEP_EVENTFD;
		s->fail_err = -errno;
		return s->fail_err;
	}

	latch_init(&latch, 1);
	s->rt_latch = &latch;
	ret = pthread_create(&s->thread, NULL, server_main, s);
	if (ret) {
		latch_destroy(&latch);
		close(s->wake_fd);
		s->wake_fd = -1;
		s->fail_step = SERVER_STEP_THREAD;
		s->fail_err = -ret;
		return s->fail_err;
	}
	s->thread_started = 1;
	latch_wait(&latch);
	latch_destroy(&latch);
	s->rt_latch = NULL;

	if (s->fail_err) {
		ret = s->fail_err;
		echo_server_stop(s);
		s->fail_err = ret;
		return ret;
	}
	return 0;
}

void echo_server_stop(struct echo_server *s)
{
	if (s->thread_started) {
		uint64_t one = 1;
		/* Cannot fail short of a counter overflow; the thread also exits
		 * on its own after a failed start, so the write is just a nudge. */
		if (write(s->wake_fd, &one, sizeof(one)) < 0) {
		}
		pthread_join(s->thread, NULL);
		s->thread_started = 0;
	}
	if (s->wake_fd >= 0) {
		close(s->wake_fd);
		s->wake_fd = -1;
	}
}
