/*
 * A connection's echo path on the io_uring echo server.
 *
 *   multishot recv (buffer select) -> CQE names a provided buffer ->
 *   buffer appended to the connection's send FIFO -> sent back from the very
 *   same memory -> once the send has consumed it, the buffer goes back to
 *   the ring.
 *
 * Only one send per connection is in flight so the byte stream stays in
 * order; the FIFO is intrusive (buf_next[] indexed by buffer id), so queuing
 * costs no allocation. No completion handler sends: a recv or send completion
 * only marks the connection dirty, and after the reaping loop flush_dirty()
 * issues one send per dirty connection with nothing in flight, over its whole
 * FIFO (one sendmsg, up to SEND_IOV_MAX iovecs). So the buffers of a message
 * that arrived in one batch leave as one send (one TCP segment train, one
 * wake-up of the peer) instead of the first buffer leaving alone.
 * A connection whose last recv CQE carried IORING_CQE_F_SOCK_NONEMPTY (and
 * F_MORE) waits: more of its data is already queued and will complete on
 * the live multishot recv. At 64 KiB over 2 KiB buffers the kernel requeues
 * the recv after 32 buffers; without the wait ~1.4 sends per message went
 * out, with it exactly 1.
 *
 * If the ring runs dry the kernel ends the multishot recv with -ENOBUFS; the
 * connection waits on the starved list and is re-armed as soon as sends hand
 * buffers back. Every held buffer sits in some FIFO whose send is in flight
 * or that is flushed at the end of this loop iteration, so buffers always
 * come back and starvation cannot deadlock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/counters.h"
#include "core/sqe.h"
#include "servers/uring_echo_state.h"

/* Capacity of the conns[] pointer array once it holds n (it doubles from 64). */
static unsigned conns_cap(unsigned n)
{
	unsigned cap = 64;

	while (cap < n)
		cap *= 2;
	return cap;
}

size_t echo_link_bytes(unsigned buf_count)
{
	return (size_t)buf_count * (sizeof(int32_t) + sizeof(uint32_t)); /* buf_next + buf_len */
}

size_t echo_conn_state_bytes(unsigned nconns)
{
	return (size_t)nconns * sizeof(struct conn) +
	       conns_cap(nconns) * (sizeof(struct conn *) + sizeof(uint32_t)) + sizeof(struct echo_state);
}

struct conn *conn_alloc(struct echo_state *st)
{
	struct conn *c = st->free_conns;
	uint32_t slot;
	unsigned dirty = 0;

	if (c) {
		st->free_conns = c->free_next;
		slot = c->slot;
		dirty = c->dirty; /* still listed in st->dirty: keep it listed once */
	} else {
		if (st->nconns == st->cap_conns) {
			unsigned cap = conns_cap(st->nconns + 1);
			struct conn **n = realloc(st->conns, cap * sizeof(*n));
			if (!n)
				return NULL;
			st->conns = n;
			uint32_t *d = realloc(st->dirty, cap * sizeof(*d));
			if (!d)
				return NULL;
			st->dirty = d;
			st->cap_conns = cap;
		}
		c = malloc(sizeof(*c));
		if (!c)
			return NULL;
		slot = st->nconns;
		st->conns[st->nconns++] = c;
	}
	memset(c, 0, sizeof(*c));
	c->dirty = dirty;
	c->fd = -1;
	c->slot = slot;
	c->q_head = c->q_tail = -1;
	return c;
}

void conn_arm_recv(struct echo_state *st, struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get(&st->ring);

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = ECHO_BUFFER_GROUP;
	io_uring_sqe_set_data64(sqe, user_data(TAG_RECV, c->slot));
	c->recv_armed = 1;
	st->inflight++;
}

static void starve(struct echo_state *st, struct conn *c)
{
	c->starved = 1;
	c->starved_next = NULL;
	c->starved_prev = st->starved_tail;
	if (st->starved_tail)
		st->starved_tail->starved_next = c;
	else
		st->starved = c;
	st->starved_tail = c;
}

static void unstarve(struct echo_state *st, struct conn *c)
{
	if (!c->starved)
		return;
	if (c->starved_prev)
		c->starved_prev->starved_next = c->starved_next;
	else
		st->starved = c->starved_next;
	if (c->starved_next)
		c->starved_next->starved_prev = c->starved_prev;
	else
		st->starved_tail = c->starved_prev;
	c->starved = 0;
}

static void fifo_drop(struct echo_state *st, struct conn *c)
{
	while (c->q_head >= 0) {
		int bid = c->q_head;
		c->q_head = st->buf_next[bid];
		buffer_ring_return(&st->bufs, (unsigned)bid);
	}
	c->q_tail = -1;
	c->head_off = 0;
}

/* The FIFO may need a send: flush_dirty() looks at it after the reaping loop. */
static void mark_dirty(struct echo_state *st, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	st->dirty[st->ndirty++] = c->slot;
}

/* Closes the connection once nothing of it is left in the kernel or the FIFO. */
static void conn_maybe_close(struct echo_state *st, struct conn *c)
{
	if (!(c->eof || c->failed) || c->recv_armed || c->send_inflight || c->q_head >= 0)
		return;
	unstarve(st, c);
	close(c->fd);
	c->fd = -1;
	counter_add(&st->pub->active, (uint64_t)-1);
	c->free_next = st->free_conns;
	st->free_conns = c;
}

static void conn_fail(struct echo_state *st, struct conn *c)
{
	c->failed = 1;
	fifo_drop(st, c);
	unstarve(st, c);
	/* Ends the multishot recv (it completes with 0) without a cancel SQE. */
	if (c->recv_armed)
		shutdown(c->fd, SHUT_RDWR);
	conn_maybe_close(st, c);
}

/* Sends the FIFO from its head: one buffer with send, several with sendmsg. */
static void conn_send(struct echo_state *st, struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get(&st->ring);
	unsigned off = c->head_off;
	int n = 0;

	for (int bid = c->q_head; bid >= 0 && n < SEND_IOV_MAX; bid = st->buf_next[bid]) {
		c->iov[n].iov_base = buffer_ring_addr(&st->bufs, (unsigned)bid) + off;
		c->iov[n].iov_len = st->buf_len[bid] - off;
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
	io_uring_sqe_set_data64(sqe, user_data(TAG_SEND, c->slot));
	c->send_inflight = 1;
	st->inflight++;
}

int echo_benign(int res)
{
	return res == -ECONNRESET || res == -EPIPE || res == -ECANCELED || res == -ENOTCONN ||
	       res == -ECONNABORTED || res == -ETIMEDOUT;
}

void conn_on_send(struct echo_state *st, struct conn *c, int res)
{
	c->send_inflight = 0;
	st->inflight--;

	if (res <= 0) {
		if ((res == -EINTR || res == -EAGAIN) && !st->stopping) {
			mark_dirty(st, c);
			return;
		}
		if (!echo_benign(res) && !st->stopping)
			counter_add(&st->pub->errors, 1);
		conn_fail(st, c);
		return;
	}

	/* Short or full, consume what went out and hand finished buffers back. */
	unsigned left = (unsigned)res;
	while (left && c->q_head >= 0) {
		int bid = c->q_head;
		unsigned rem = st->buf_len[bid] - c->head_off;
		if (left >= rem) {
			left -= rem;
			c->q_head = st->buf_next[bid];
			c->head_off = 0;
			buffer_ring_return(&st->bufs, (unsigned)bid);
		} else {
			c->head_off += left;
			left = 0;
		}
	}
	if (c->q_head < 0)
		c->q_tail = -1;

	/* While stopping, nothing new is started: the drain must be able to finish. */
	if (c->failed || st->stopping)
		fifo_drop(st, c);
	else if (c->q_head >= 0)
		mark_dirty(st, c);
	conn_maybe_close(st, c);
}

void conn_on_recv(struct echo_state *st, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		unsigned bid = buffer_ring_taken(&st->bufs, cqe->flags);
		if (c->failed || st->stopping) {
			buffer_ring_return(&st->bufs, bid);
		} else {
			st->buf_len[bid] = (uint32_t)res;
			st->buf_next[bid] = -1;
			if (c->q_tail >= 0)
				st->buf_next[c->q_tail] = (int32_t)bid;
			else
				c->q_head = (int32_t)bid;
			c->q_tail = (int32_t)bid;
			mark_dirty(st, c);
		}
	}

	if (cqe->flags & IORING_CQE_F_MORE) {
		/* More is queued on the socket: the live recv will post another CQE
		 * (data, ENOBUFS or its end), which marks the connection again. */
		c->defer = !!(cqe->flags & IORING_CQE_F_SOCK_NONEMPTY);
		return;
	}

	/* The multishot recv is over; decide whether it should be re-armed. Its FIFO must not
	 * wait for a CQE that will not come (ENOBUFS, EOF): send it now. */
	c->defer = 0;
	if (c->q_head >= 0)
		mark_dirty(st, c);
	c->recv_armed = 0;
	st->inflight--;
	if (res == -ENOBUFS) {
		counter_add(&st->pub->enobufs, 1);
		if (!c->failed && !st->stopping)
			starve(st, c);
	} else if (res > 0) {
		/* Data delivered but multishot stopped (e.g. CQ overflow): keep going. */
		if (!c->failed && !st->stopping)
			conn_arm_recv(st, c);
	} else if (res == 0) {
		c->eof = 1; /* peer closed its side: echo what is queued, then close */
	} else {
		if (!echo_benign(res) && !st->stopping)
			counter_add(&st->pub->errors, 1);
		c->failed = 1;
		fifo_drop(st, c);
	}
	conn_maybe_close(st, c);
}

/*
 * After the reaping loop: one send per dirty connection that has nothing in flight, over its
 * whole FIFO, in the order the connections got data. A send in flight finishes first; its
 * completion marks the connection dirty again if more is queued.
 */
void flush_dirty(struct echo_state *st)
{
	for (unsigned i = 0; i < st->ndirty; i++) {
		struct conn *c = st->conns[st->dirty[i]];

		c->dirty = 0;
		/* A deferred one is marked again by its next recv CQE. */
		if (c->fd < 0 || c->send_inflight || c->q_head < 0 || (c->defer && !st->stopping))
			continue;
		if (c->failed || st->stopping) {
			/* While stopping, nothing new is started: the drain must be able to finish. */
			fifo_drop(st, c);
			conn_maybe_close(st, c);
			continue;
		}
		conn_send(st, c);
	}
	st->ndirty = 0;
}

/*
 * Re-arms connections that ran the buffer ring dry, now that some came back:
 * at most one per available buffer, oldest first. Re-arming all of them at once
 * would mostly buy a burst of fresh -ENOBUFS completions.
 */
void rearm_starved(struct echo_state *st)
{
	unsigned budget = st->bufs.available;

	while (st->starved && budget--) {
		struct conn *c = st->starved;
		unstarve(st, c);
		if (!c->failed)
			conn_arm_recv(st, c);
		conn_maybe_close(st, c);
	}
}
