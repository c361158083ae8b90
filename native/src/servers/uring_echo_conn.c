/*
 * A connection's echo path on the io_uring echo server.
 *
 *   recv (buffer select; multishot by default) -> the CQE names a provided buffer (a bundle:
 *   the first of several) -> the bytes become pieces appended to the connection's send FIFO ->
 *   sent back from the very same memory -> once the send (for SEND_ZC: its notification) is
 *   done with a piece, its hold on the buffer is dropped, and a buffer nobody holds and the
 *   kernel has finished with goes back to the ring.
 *
 * Pieces, not buffers, make the FIFO: with an incremental ring (IOU_PBUF_RING_INC) one large
 * buffer serves many receives, of several connections, so a buffer is shared; with a plain
 * ring a piece is one buffer. Pieces of the same buffer that follow each other in a FIFO are
 * merged, so a 64 KiB message received in pieces of one buffer still leaves as one iovec.
 *
 * A send is quiet where it can be (server.quietSends, uring_echo_state.h): MSG_DONTWAIT |
 * MSG_WAITALL with IOSQE_CQE_SKIP_SUCCESS, it has ended when the enter that took it returns and
 * posts a CQE only when it fell short; settle_quiet_sends completes the others after the reap.
 *
 * Only one send per connection is in flight so the byte stream stays in order. No completion
 * handler sends: a recv or send completion only marks the connection dirty, and after the
 * reaping loop flush_dirty() issues one send per dirty connection with nothing in flight, over
 * its whole FIFO (one sendmsg, up to SEND_IOV_MAX iovecs). So the pieces of a message that
 * arrived in one batch leave as one send (one TCP segment train, one wake-up of the peer)
 * instead of the first leaving alone. A connection whose last recv CQE carried
 * IORING_CQE_F_SOCK_NONEMPTY waits: more of its data is already queued and will complete on
 * the live recv. At 64 KiB over 2 KiB buffers the kernel requeues the recv after 32 buffers;
 * without the wait ~1.4 sends per message went out, with it exactly 1.
 *
 * Starvation and hogs:
 *  - If the ring runs dry the kernel ends the recv with -ENOBUFS; the connection waits on the
 *    starved list. It is re-armed only once a watermark of buffers is back: an eighth of the
 *    ring, or one message's worth of that connection (its last burst, up to the cap below),
 *    whichever is more.
 *    Re-arming one connection per returned buffer made each re-armed recv take that one
 *    buffer and hit ENOBUFS again (8 × 64 KiB over 16 buffers: ~14.6 ENOBUFS per request,
 *    against 3.0 with the watermark). If no send is in flight nothing would come back to
 *    reach the watermark, so the oldest starved connection is re-armed anyway. While any
 *    connection waits, a tick (10 ms) is armed (rearm_starved, which runs after every reap
 *    that leaves one waiting), so the list is looked at again even when no completion comes.
 *  - A peer that sends but never reads would otherwise hold the whole pool: its echoes cannot
 *    leave, so its FIFO only grows. At a per-connection cap (an eighth of the pool's bytes,
 *    or an eighth of its buffers in pieces, at least 8) its recv is stopped (a multishot recv
 *    ended, a one-shot one not re-armed) until what it holds has drained below half the cap,
 *    and then queues behind the starved ones, if any (conn_maybe_uncap, or conn_on_recv when
 *    it drained before the cancel of its recv landed); the kernel keeps the
 *    rest in the socket and TCP pushes back on the peer. Others go on echoing. What it holds
 *    counts the FIFO and the pieces a SEND_ZC still holds: to a peer that does not read, the
 *    notification comes only once it does.
 *    The cap is checked when a recv CQE is reaped (a live multishot recv is then cancelled),
 *    but a multishot recv takes up to 32 buffers per wake-up and a bundle all it can, so a
 *    flood can fill a small pool before the first CQE of it is seen, and its echo then sits
 *    in a send that never completes. (One-shot bundles get what is left of the cap as their
 *    length, which bounds the first pick of buffers only: the kernel retries a full bundle.)
 *    - spill_stuck: while others starve, a send that has not completed across two looks
 *      (10 ms apart) is cancelled and its FIFO copied out of the pool into the connection's
 *      own memory, which still counts against its cap; the buffers go back to the others.
 *    - A SEND_ZC's memory cannot be taken back (the kernel references it until the peer
 *      reads), and the cap bounds one peer, not eight: eight peers that never read pinned the
 *      whole pool through SEND_ZC, an eighth each. So SEND_ZCs together hold at most half the
 *      pool (zc_budget); past it a send goes as a copying send, which spill_stuck can take
 *      back. (Ending each multishot recv at the cap, Linux 6.17's total byte limit, bounded
 *      one peer before its buffers were taken, but not eight, and cost a 16-buffer pool about
 *      two thirds of its throughput; the budget made it unnecessary.)
 *
 * Every held buffer sits in some FIFO whose send is in flight or that is flushed at the end of
 * this loop iteration (or in a capped connection's FIFO, at most an eighth of the pool each),
 * so buffers come back and starvation cannot deadlock.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/counters.h"
#include "core/sqe.h"
#include "servers/uring_echo_state.h"

/* server.recvOnReady: the bytes of recvs one trip issues (why this many: issue_ready). */
#define READY_TRIP_BYTES (64u * 1024)

/* Capacity of the conns[] pointer array once it holds n (it doubles from 64). */
static unsigned conns_cap(unsigned n)
{
	unsigned cap = 64;

	while (cap < n)
		cap *= 2;
	return cap;
}

/* Pieces allocated up front: a plain ring never has more pieces than buffers; an incremental
 * one starts with eight per buffer and grows if small messages cut buffers finer. */
static unsigned initial_pieces(unsigned buf_count, int incremental)
{
	return incremental ? buf_count * 8 : buf_count;
}

size_t echo_link_bytes(const struct server_config *cfg)
{
	return (size_t)initial_pieces(cfg->buf_count, cfg->buf_incremental) * sizeof(struct piece);
}

size_t echo_conn_state_bytes(unsigned nconns)
{
	return (size_t)nconns * sizeof(struct conn) +
	       conns_cap(nconns) * (sizeof(struct conn *) + sizeof(uint32_t)) + sizeof(struct echo_state);
}

/* Links pieces [from, to) into the free list. */
static void pieces_free_range(struct echo_state *st, unsigned from, unsigned to)
{
	for (unsigned i = to; i-- > from;) {
		st->pieces[i].spill = NULL; /* teardown frees every piece's spill */
		st->pieces[i].next = st->piece_free;
		st->piece_free = (int32_t)i;
	}
}

int echo_recv_path_init(struct echo_state *st)
{
	struct buffer_ring *b = &st->bufs;

	st->npieces = initial_pieces(b->count, b->incremental);
	st->pieces = malloc(sizeof(*st->pieces) * st->npieces);
	if (!st->pieces)
		return -ENOMEM;
	st->piece_free = -1;
	pieces_free_range(st, 0, st->npieces);
	st->cap_bytes = (size_t)b->count * b->size / 8;
	if (st->cap_bytes < b->size)
		st->cap_bytes = b->size;
	/* At least 8 pieces: a small pool of large incremental buffers (64 × 64 KiB) must still
	 * let a 1 MiB message queue a few pieces while its peer reads. */
	st->cap_pieces = b->count / 8 > 8 ? b->count / 8 : 8;
	/* Half the pool: peers that never read can pin no more through SEND_ZC (eight of them,
	 * an eighth each by the cap, pinned all of it and stopped the echo for everyone). Half of a
	 * one-buffer pool is none, and its sends go copying: a SEND_ZC holds its buffer until the
	 * peer ACKs, and with the one buffer held every recv waited for that ACK, which the peer
	 * delays (50 x 128 B over one 64 B buffer: 28 requests/s against 148k copying). */
	st->zc_budget = b->count / 2;
	counter_add(&st->pub->bufs_total, b->count);
	return 0;
}

void echo_gauges(struct echo_state *st)
{
	/* Buffers returned but not yet published (withheld by bufferStarvation) are still in use:
	 * the kernel cannot pick them. */
	uint64_t in_use = st->bufs.count - st->bufs.available + (unsigned)st->bufs.pending;

	if (in_use != st->bufs_in_use_shown) {
		counter_add(&st->pub->bufs_in_use, in_use - st->bufs_in_use_shown);
		st->bufs_in_use_shown = in_use;
		counter_raise(&st->pub->bufs_peak, in_use);
	}
	/* Published only (pending ones are not the kernel's yet). */
	uint64_t in_ring = buffer_ring_in_ring(&st->bufs) - (unsigned)st->bufs.pending;
	if (in_ring != st->bufs_in_ring_shown) {
		counter_add(&st->pub->bufs_in_ring, in_ring - st->bufs_in_ring_shown);
		st->bufs_in_ring_shown = in_ring;
	}
}

void echo_error(struct echo_state *st, enum server_err_op op)
{
	counter_add(&st->pub->errors, 1);
	counter_add(&st->pub->errors_by_op[op], 1);
}

/* A free piece (the array doubles when none is left), or -1 without memory. */
static int32_t piece_alloc(struct echo_state *st)
{
	if (st->piece_free < 0) {
		unsigned n = st->npieces * 2;
		struct piece *p = realloc(st->pieces, sizeof(*p) * n);
		if (!p)
			return -1;
		st->pieces = p;
		pieces_free_range(st, st->npieces, n);
		st->npieces = n;
	}
	int32_t i = st->piece_free;
	st->piece_free = st->pieces[i].next;
	return i;
}

/* Drops a piece: its hold on the buffer, and the piece itself. */
static void piece_release(struct echo_state *st, struct conn *c, int32_t i)
{
	(void)c;
	if (st->pieces[i].bid == PIECE_SPILL) {
		free(st->pieces[i].spill);
		st->pieces[i].spill = NULL;
	} else {
		buffer_ring_put(&st->bufs, st->pieces[i].bid);
	}
	st->pieces[i].next = st->piece_free;
	st->piece_free = i;
}

static void discard_piece(void *ctx, unsigned bid, unsigned off, unsigned len)
{
	struct echo_state *st = ctx;

	(void)off;
	(void)len;
	buffer_ring_put(&st->bufs, bid);
}

void echo_recv_discard(struct echo_state *st, int res, unsigned cqe_flags)
{
	if (cqe_flags & IORING_CQE_F_BUFFER)
		buffer_ring_consume(&st->bufs, res, cqe_flags, discard_piece, st);
}

struct conn *conn_alloc(struct echo_state *st)
{
	struct conn *c = st->free_conns;
	uint32_t slot;
	unsigned dirty = 0, ready_queued = 0;

	if (c) {
		st->free_conns = c->free_next;
		slot = c->slot;
		dirty = c->dirty; /* still listed in st->dirty: keep it listed once */
		ready_queued = c->ready_queued; /* likewise in st->ready */
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
			uint32_t *q = realloc(st->quiet, cap * sizeof(*q));
			if (!q)
				return NULL;
			st->quiet = q;
			/* The ready FIFO wraps: copied out in order into the larger one. */
			uint32_t *r = malloc(cap * sizeof(*r));
			if (!r)
				return NULL;
			for (unsigned k = 0; k < st->nready; k++)
				r[k] = st->ready[(st->ready_head + k) % st->cap_conns];
			free(st->ready);
			st->ready = r;
			st->ready_head = 0;
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
	c->ready_queued = ready_queued;
	c->fd = -1;
	c->slot = slot;
	c->q_head = c->q_tail = -1;
	c->hold_head = c->hold_tail = -1;
	return c;
}

/* The connection's socket on an SQE: a direct descriptor is an index in the file table. */
static void sqe_conn_fd(const struct echo_state *st, struct io_uring_sqe *sqe)
{
	if (st->direct)
		sqe->flags |= IOSQE_FIXED_FILE;
}

/* Bytes of provided buffers the connection pins: its FIFO and what a SEND_ZC still holds. */
static size_t conn_held_bytes(const struct conn *c)
{
	return c->queued_bytes + c->held_bytes;
}

static int conn_at_cap(const struct echo_state *st, const struct conn *c)
{
	return conn_held_bytes(c) >= st->cap_bytes || c->queued_pieces + c->held_pieces >= st->cap_pieces;
}

/* A buffer-select recv of the connection, up to what is left of its cap. */
static void prep_conn_recv(struct echo_state *st, struct conn *c, struct io_uring_sqe *sqe, int multishot, int flags)
{
	size_t held = conn_held_bytes(c);
	/* What is left of the cap (callers arm only below it; 1 byte keeps the limit a limit). */
	unsigned left = held < st->cap_bytes ? (unsigned)(st->cap_bytes - held) : 1;

	if (multishot)
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, flags);
	else
		io_uring_prep_recv(sqe, c->fd, NULL, st->bundle ? left : 0, flags);
	if (st->bundle)
		sqe->ioprio |= IORING_RECVSEND_BUNDLE;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = ECHO_BUFFER_GROUP;
	sqe_conn_fd(st, sqe);
	io_uring_sqe_set_data64(sqe, user_data(TAG_RECV, c->slot));
}

static void ready_push(struct echo_state *st, struct conn *c)
{
	if (c->ready_queued)
		return;
	c->ready_queued = 1;
	st->ready[(st->ready_head + st->nready++) % st->cap_conns] = c->slot;
}

/* server.recvOnReady: the connection's POLLIN poll (multishot with server.multishot), unless it
 * has one, or one whose cancel is still to complete (it is closing). */
static void conn_arm_poll(struct echo_state *st, struct conn *c)
{
	if (c->poll_armed || c->poll_cancel_inflight)
		return;
	struct io_uring_sqe *sqe = sqe_get(&st->ring);

	if (st->multishot)
		io_uring_prep_poll_multishot(sqe, c->fd, POLLIN);
	else
		io_uring_prep_poll_add(sqe, c->fd, POLLIN);
	sqe_conn_fd(st, sqe);
	io_uring_sqe_set_data64(sqe, user_data(TAG_READY, c->slot));
	c->poll_armed = 1;
	st->inflight++;
}

static void conn_cancel_poll(struct echo_state *st, struct conn *c)
{
	if (!c->poll_armed || c->poll_cancel_inflight)
		return;
	struct io_uring_sqe *sqe = sqe_get(&st->ring);
	io_uring_prep_cancel64(sqe, user_data(TAG_READY, c->slot), 0);
	io_uring_sqe_set_data64(sqe, user_data(TAG_READY_CANCEL, c->slot));
	c->poll_cancel_inflight = 1;
	st->inflight++;
}

void conn_arm_recv(struct echo_state *st, struct conn *c)
{
	/* server.recvOnReady: receiving means its poll is armed (a new connection: the poll
	 * reports data already there at once) and, when it is, a place in the next trip's recvs
	 * (data may be waiting: starved, capped, or a turn that stopped short). */
	if (st->recv_on_ready) {
		if (!c->poll_armed && !c->poll_cancel_inflight)
			conn_arm_poll(st, c);
		else
			ready_push(st, c);
		return;
	}
	struct io_uring_sqe *sqe = sqe_get(&st->ring);

	/* Length 0: up to the selected buffer's size (its remainder, incremental). While others
	 * wait on the starved list the pool is oversubscribed, and a multishot recv would keep
	 * this connection first in line for every buffer that comes back: it gets a one-shot
	 * turn instead (conn_on_recv queues it behind them once its socket is drained). Only
	 * where one buffer holds what it last sent: a one-shot recv takes one buffer, and a
	 * 64 KiB message over 2 KiB buffers would need 32 turns (ENOBUFS per request 3 -> 11.7).
	 * 1000 x 64 KiB over the default 64 x 64 KiB: p99 median 44 ms against 67 ms (5 pairs). */
	c->recv_turn = st->multishot && st->starved && c->last_burst <= st->bufs.size;
	prep_conn_recv(st, c, sqe, st->multishot && !c->recv_turn, 0);
	c->recv_armed = 1;
	st->inflight++;
}

/* Ends a live recv early (its CQE comes with -ECANCELED); the cancel's own CQE is TAG_RECV_CANCEL. */
static void conn_cancel_recv(struct echo_state *st, struct conn *c)
{
	if (!c->recv_armed || c->cancel_inflight)
		return;
	struct io_uring_sqe *sqe = sqe_get(&st->ring);
	io_uring_prep_cancel64(sqe, user_data(TAG_RECV, c->slot), 0);
	io_uring_sqe_set_data64(sqe, user_data(TAG_RECV_CANCEL, c->slot));
	c->cancel_inflight = 1;
	c->recv_cancelled = 1;
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
	/* The ring ran dry: every free buffer goes in at the next publish (hot first). */
	st->bufs.starving = 1;
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
	st->bufs.starving = st->starved != NULL;
}

/* Hands back the pieces a SEND_ZC sent, once its notification says the kernel let go. */
static void hold_release(struct echo_state *st, struct conn *c)
{
	while (c->hold_head >= 0) {
		int32_t i = c->hold_head;
		c->hold_head = st->pieces[i].next;
		piece_release(st, c, i);
	}
	c->hold_tail = -1;
	c->held_bytes = 0;
	c->held_pieces = 0;
}

/* Pops the FIFO's head piece: released, or held for a SEND_ZC notification. */
static void fifo_pop(struct echo_state *st, struct conn *c, int hold)
{
	int32_t i = c->q_head;

	c->q_head = st->pieces[i].next;
	if (c->q_head < 0)
		c->q_tail = -1;
	c->head_off = 0;
	c->queued_pieces--;
	if (!hold) {
		piece_release(st, c, i);
		return;
	}
	st->pieces[i].next = -1;
	c->held_bytes += st->pieces[i].len;
	c->held_pieces++;
	if (c->hold_tail >= 0)
		st->pieces[c->hold_tail].next = i;
	else
		c->hold_head = i;
	c->hold_tail = i;
}

static void fifo_drop(struct echo_state *st, struct conn *c)
{
	while (c->q_head >= 0)
		fifo_pop(st, c, 0);
	c->queued_bytes = 0;
}

/* The FIFO may need a send: flush_dirty() looks at it after the reaping loop. */
static void mark_dirty(struct echo_state *st, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	st->dirty[st->ndirty++] = c->slot;
}

/* Counts the connection's "not copied" SEND_ZC reports as zero-copy sends (see conn_on_send). */
static void zc_confirm(struct echo_state *st, struct conn *c)
{
	if (c->zc_unconfirmed)
		counter_add(&st->pub->zc_sends, c->zc_unconfirmed);
	c->zc_unconfirmed = 0;
}

/* Closes the connection once nothing of it is left in the kernel or the FIFO. */
static void conn_maybe_close(struct echo_state *st, struct conn *c)
{
	if (!(c->eof || c->failed))
		return;
	/* Nothing more is received once it ends: its poll goes now, not after the FIFO. */
	conn_cancel_poll(st, c);
	if (c->recv_armed || c->send_inflight || c->cancel_inflight || c->poll_armed || c->poll_cancel_inflight ||
	    c->q_head >= 0)
		return;
	if (!c->failed)
		zc_confirm(st, c);
	c->zc_unconfirmed = 0;
	unstarve(st, c);
	if (st->direct) {
		/* Frees the file-table slot; nothing waits on it but the drain's count. */
		struct io_uring_sqe *sqe = sqe_get(&st->ring);
		io_uring_prep_close_direct(sqe, (unsigned)c->fd);
		io_uring_sqe_set_data64(sqe, user_data(TAG_CLOSE, c->slot));
		st->inflight++;
	} else {
		close(c->fd);
	}
	c->fd = -1;
	server_conn_closed(st->pub, &c->echo);
	c->free_next = st->free_conns;
	st->free_conns = c;
}

static void conn_fail(struct echo_state *st, struct conn *c)
{
	c->failed = 1;
	fifo_drop(st, c);
	unstarve(st, c);
	/* Ends the recv (it completes with 0) without a cancel SQE; a direct descriptor has no
	 * fd to shut down, so its recv is cancelled instead. */
	if (c->recv_armed) {
		if (st->direct)
			conn_cancel_recv(st, c);
		else
			shutdown(c->fd, SHUT_RDWR);
	}
	conn_maybe_close(st, c);
}

/* The registered-buffer index of a pool address (the pool is registered in fixed_chunk pieces). */
static unsigned fixed_index(const struct echo_state *st, const void *addr)
{
	return (unsigned)((size_t)((const unsigned char *)addr - st->bufs.bufs) / st->fixed_chunk);
}

/* Sends the FIFO from its head: one piece with send, several with sendmsg (or their _ZC forms). */
static void conn_send(struct echo_state *st, struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get(&st->ring);
	unsigned off = c->head_off;
	unsigned from_pool = 0;
	uint32_t bytes = 0;
	int n = 0;
	/* Zero-copy while the budget lasts: as many pool pieces as it has room for (the rest go
	 * with the next send); with no room at all, a copying send of the lot, which can be
	 * spilled. */
	int zc = st->send_zc && st->zc_held < st->zc_budget;
	unsigned room = zc ? st->zc_budget - st->zc_held : UINT_MAX;

	int32_t i;
	for (i = c->q_head; i >= 0 && n < SEND_IOV_MAX; i = st->pieces[i].next) {
		const struct piece *p = &st->pieces[i];
		if (p->bid != PIECE_SPILL && from_pool == room)
			break;
		unsigned char *base = p->bid == PIECE_SPILL ? p->spill : buffer_ring_addr(&st->bufs, p->bid);
		c->iov[n].iov_base = base + p->off + off;
		c->iov[n].iov_len = p->len - off;
		bytes += (uint32_t)(p->len - off);
		from_pool += p->bid != PIECE_SPILL;
		off = 0;
		n++;
	}
	c->send_is_zc = zc;
	if (zc) {
		c->zc_charge = from_pool;
		st->zc_held += from_pool;
	} else if (st->send_zc) {
		counter_add(&st->pub->zc_fallbacks, 1);
	}
	c->send_pieces = (unsigned)n;
	/* MSG_NOSIGNAL: a peer that vanished must give -EPIPE, not SIGPIPE. */
	int msg_flags = MSG_NOSIGNAL;
	/* Quiet: never handed to io-wq (ioWqPunt is the fault that asks for exactly that), never
	 * a zero-copy send (its notification is a CQE of its own), and not right after one fell
	 * short (the socket is full: this send waits for room, which only a CQE can report).
	 * And only when nothing waits for this send's end but its own buffers: a quiet send is
	 * settled after the next reap, and the loop may sleep until a completion comes. So not
	 * with more of the FIFO left behind it, not for a connection that must close or drop its
	 * FIFO after it (EOF, failed, stopping), has its recv stopped at the cap until it drains,
	 * or while connections wait for buffers (starved, or withheld by bufferStarvation). */
	int quiet = st->quiet_ok && !zc && !st->punt && !c->send_must_wait && i < 0 && !c->eof && !c->failed &&
		    !c->capped && !st->starved && !st->stopping && !st->withholding && st->nquiet < st->cap_conns;
	if (quiet)
		msg_flags |= MSG_DONTWAIT | MSG_WAITALL;
	c->sends_issued++;
	if (n == 1 && zc && st->fixed_bufs && st->pieces[c->q_head].bid != PIECE_SPILL) {
		/* One range of the registered pool: the kernel skips pinning the pages per send. */
		io_uring_prep_send_zc_fixed(sqe, c->fd, c->iov[0].iov_base, c->iov[0].iov_len, MSG_NOSIGNAL,
					    IORING_SEND_ZC_REPORT_USAGE, fixed_index(st, c->iov[0].iov_base));
	} else if (n == 1 && zc) {
		io_uring_prep_send_zc(sqe, c->fd, c->iov[0].iov_base, c->iov[0].iov_len, MSG_NOSIGNAL,
				      IORING_SEND_ZC_REPORT_USAGE);
	} else if (n == 1) {
		io_uring_prep_send(sqe, c->fd, c->iov[0].iov_base, c->iov[0].iov_len, msg_flags);
	} else {
		memset(&c->msg, 0, sizeof(c->msg));
		c->msg.msg_iov = c->iov;
		c->msg.msg_iovlen = (size_t)n;
		if (zc) {
			io_uring_prep_sendmsg_zc(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
			sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
		} else {
			io_uring_prep_sendmsg(sqe, c->fd, &c->msg, (unsigned)msg_flags);
		}
	}
	sqe_conn_fd(st, sqe);
	/* ioWqPunt: the kernel skips the inline attempt and hands the send to an io-wq worker. */
	if (st->punt)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data64(sqe, user_data(TAG_SEND, c->slot));
	c->send_bytes = bytes;
	if (quiet) {
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		c->send_quiet = 1;
		/* io_uring_get_sqe advanced sqe_tail past it; SQ positions count up the same way
		 * the kernel's SQ head does (ring_flush_sq hands SQEs over in order). */
		c->send_sqpos = st->ring.sq.sqe_tail - 1;
		st->quiet[st->nquiet++] = c->slot;
	}
	c->send_inflight = 1;
	c->last_burst = c->burst_bytes;
	c->burst_bytes = 0;
	st->sends_inflight++;
	st->inflight++;
}

int echo_benign(int res)
{
	return res == -ECONNRESET || res == -EPIPE || res == -ECANCELED || res == -ENOTCONN ||
	       res == -ECONNABORTED || res == -ETIMEDOUT;
}

/* Below half the cap again: a capped connection's recv starts over, behind the connections
 * waiting for buffers when there are some (rearm_starved). Re-armed at once it took the
 * buffers coming back ahead of them: with messages larger than the cap every connection
 * that got in cycled through cap and drain and kept the pool, and the starved waited on
 * (200 x 1 MiB over 64 x 4 KiB: 23-44 connections with no echo in 1.5 s, max 1.6-1.8 s). */
static void conn_maybe_uncap(struct echo_state *st, struct conn *c)
{
	if (!c->capped || conn_held_bytes(c) > st->cap_bytes / 2 ||
	    c->queued_pieces + c->held_pieces > st->cap_pieces / 2)
		return;
	c->capped = 0;
	if (c->recv_armed || c->starved || c->eof || c->failed || st->stopping)
		return;
	if (st->starved)
		starve(st, c);
	else
		conn_arm_recv(st, c);
}

/* Whether the FIFO holds pool buffers (anything but copied-out pieces). */
static int conn_holds_pool(const struct echo_state *st, const struct conn *c)
{
	for (int32_t i = c->q_head; i >= 0; i = st->pieces[i].next)
		if (st->pieces[i].bid != PIECE_SPILL)
			return 1;
	return 0;
}

/*
 * FIFO pieces, from the head, the kernel may still read: none without a send in flight; the
 * ones a send was given until its CQE; after a SEND_ZC's CQE the head piece if it went out
 * in part (the sent part is the kernel's until the notification).
 */
static unsigned conn_pinned_prefix(const struct conn *c)
{
	if (!c->send_inflight)
		return 0;
	if (c->notif_pending)
		return c->head_off > 0;
	return c->send_pieces;
}

/*
 * Copies the FIFO, past what the kernel may still read, out of the pool into memory of its
 * own (one PIECE_SPILL piece at its tail) and hands those buffers back. Without memory it
 * stays as it is; the next look tries again.
 */
static void conn_spill(struct echo_state *st, struct conn *c)
{
	unsigned skip = conn_pinned_prefix(c);
	int32_t prev = -1, first = c->q_head;

	for (unsigned k = 0; k < skip && first >= 0; k++) {
		prev = first;
		first = st->pieces[first].next;
	}
	/* Nothing past it, or only what is already one copied-out block. */
	if (first < 0 || (st->pieces[first].bid == PIECE_SPILL && st->pieces[first].next < 0))
		return;
	unsigned off0 = prev < 0 ? c->head_off : 0;
	size_t n = 0, from_pool = 0, at = 0;
	/* Sized from the pieces themselves (what the copy below reads), not from queued_bytes. */
	for (int32_t i = first, off = (int32_t)off0; i >= 0; i = st->pieces[i].next, off = 0) {
		n += st->pieces[i].len - (unsigned)off;
		/* Only what comes out of the pool counts: an earlier spill is copied along (one
		 * block) but was counted when it left the pool. */
		if (st->pieces[i].bid != PIECE_SPILL)
			from_pool += st->pieces[i].len - (unsigned)off;
	}
	int32_t k = piece_alloc(st); /* first: it may move st->pieces */
	if (k < 0)
		return;
	unsigned char *mem = malloc(n);
	if (!mem) {
		st->pieces[k].next = st->piece_free;
		st->piece_free = k;
		return;
	}
	for (int32_t i = first, off = (int32_t)off0; i >= 0; off = 0) {
		const struct piece *p = &st->pieces[i];
		const unsigned char *base = p->bid == PIECE_SPILL ? p->spill : buffer_ring_addr(&st->bufs, p->bid);
		int32_t next = p->next;
		memcpy(mem + at, base + p->off + (unsigned)off, p->len - (unsigned)off);
		at += p->len - (unsigned)off;
		piece_release(st, c, i); /* hands the buffer back; frees an earlier spill */
		c->queued_pieces--;
		i = next;
	}
	st->pieces[k] = (struct piece){ .bid = PIECE_SPILL, .off = 0, .len = (uint32_t)n, .next = -1, .spill = mem };
	if (prev >= 0) {
		st->pieces[prev].next = k;
	} else {
		c->q_head = k;
		c->head_off = 0;
	}
	c->q_tail = k;
	c->queued_pieces++;
	/* queued_bytes stays: the same bytes, elsewhere. */
	counter_add(&st->pub->spilled_bytes, from_pool);
}

static void conn_cancel_send(struct echo_state *st, struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get(&st->ring);

	io_uring_prep_cancel64(sqe, user_data(TAG_SEND, c->slot), 0);
	io_uring_sqe_set_data64(sqe, user_data(TAG_SEND_CANCEL, c->slot));
	c->send_cancelled = 1;
	st->inflight++;
}

/*
 * Connections are starved and no buffers come back: a send that has not completed across two
 * looks (a tick, 10 ms, apart) is stuck on a peer that does not read, and its FIFO pins pool
 * buffers that stay pinned while that peer sleeps (with a small pool or a one-shot bundle,
 * which the kernel cannot limit, all of them). Its send is cancelled; when it ends (cancelled,
 * partly sent, or done after all) the FIFO is copied out of the pool and sent from there.
 * The copy still counts against the connection's cap, so it stops receiving until its peer
 * reads. A SEND_ZC's memory cannot be taken back (the kernel references what it sent until
 * the peer reads; zc_budget bounds what they pin together): it is left to finish, and what
 * queued behind it is copied out at once.
 */
static void spill_stuck(struct echo_state *st)
{
	for (unsigned i = 0; i < st->nconns; i++) {
		struct conn *c = st->conns[i];

		/* A quiet send has ended already; it is settled at the next reap. */
		if (c->fd < 0 || !c->send_inflight || c->send_cancelled || c->failed || c->send_quiet)
			continue;
		if (c->sends_at_scan != c->sends_issued) {
			c->sends_at_scan = c->sends_issued;
			continue;
		}
		/* A SEND_ZC is never cancelled (a cancelled one still owes its notification). */
		if (c->send_is_zc)
			conn_spill(st, c);
		else if (conn_holds_pool(st, c))
			conn_cancel_send(st, c);
	}
}

/* The send's end: the last CQE of a plain send, or a SEND_ZC's notification. */
static void send_done(struct echo_state *st, struct conn *c)
{
	c->send_inflight = 0;
	c->notif_pending = 0;
	st->sends_inflight--;
	st->inflight--;
	hold_release(st, c);
	st->zc_held -= c->zc_charge;
	c->zc_charge = 0;
	if (c->send_cancelled) {
		c->send_cancelled = 0;
		if (!c->failed && !st->stopping)
			conn_spill(st, c);
	}
	/* While stopping, nothing new is started: the drain must be able to finish. */
	if (c->failed || st->stopping)
		fifo_drop(st, c);
	else if (c->q_head >= 0)
		mark_dirty(st, c);
	conn_maybe_uncap(st, c);
	conn_maybe_close(st, c);
}

void conn_on_send(struct echo_state *st, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	if (cqe->flags & IORING_CQE_F_NOTIF) {
		/* SEND_ZC's second CQE: the kernel no longer needs the memory. With
		 * REPORT_USAGE, res says whether it copied after all (loopback always does).
		 * A send that transmitted nothing (the peer reset it) copied nothing either:
		 * counting it as zero-copy showed zero-copy sends on loopback. Nor did one
		 * whose bytes sat in the socket's queue until a reset purged them: a "not
		 * copied" report counts once the connection shows it is alive (its next send
		 * goes out, a later report, a clean close), and not after it failed. */
		if (c->zc_sent && !c->failed) {
			if ((uint32_t)res & IORING_NOTIF_USAGE_ZC_COPIED) {
				zc_confirm(st, c); /* what went before was delivered too (TCP keeps order) */
				counter_add(&st->pub->zc_copied, 1);
			} else {
				c->zc_unconfirmed++;
			}
		}
		c->zc_sent = 0;
		send_done(st, c);
		return;
	}
	/* A SEND_ZC whose CQE has F_MORE posts a notification later: until then the pieces it
	 * sent stay held and no other send starts (the stream stays ordered, the memory intact). */
	int hold = !!(cqe->flags & IORING_CQE_F_MORE);
	c->zc_sent = hold && res > 0;
	c->notif_pending = hold;
	/* A quiet send's CQE says it fell short: the socket had no room for all of it (or none:
	 * -EAGAIN). What went out is consumed below like any short send; the rest goes with a
	 * send that waits for room. A waiting send that got everything out lifts that. */
	if (c->send_quiet) {
		c->send_quiet = 0;
		c->send_must_wait = 1;
	} else if (res > 0 && (uint32_t)res >= c->send_bytes) {
		c->send_must_wait = 0;
	}

	counter_add(&st->pub->sends, 1);
	if (res == -ECANCELED && c->send_cancelled && !st->stopping) {
		/* Stuck and cancelled by spill_stuck: nothing of it went out. (Never a SEND_ZC,
		 * whose notification would still come: spill_stuck does not cancel those.) */
		send_done(st, c);
		return;
	}
	if (res <= 0) {
		if ((res == -EINTR || res == -EAGAIN) && !st->stopping) {
			if (!hold) {
				send_done(st, c);
				mark_dirty(st, c);
			}
			return;
		}
		if (!echo_benign(res) && !st->stopping)
			echo_error(st, SERVER_ERR_SEND);
		c->failed = 1;
		/* A SEND_ZC may still reference what it was given until its notification. */
		while (c->q_head >= 0)
			fifo_pop(st, c, hold);
		c->queued_bytes = 0;
		unstarve(st, c);
		if (!hold)
			send_done(st, c);
		return;
	}

	counter_add(&st->pub->bytes_out, (uint64_t)res);
	c->echo.out += (uint64_t)res;
	zc_confirm(st, c); /* the connection took more: the earlier zero-copy sends were real */
	/* Short or full, consume what went out. */
	unsigned left = (unsigned)res;
	while (left && c->q_head >= 0) {
		const struct piece *p = &st->pieces[c->q_head];
		unsigned rem = p->len - c->head_off;
		if (left >= rem) {
			left -= rem;
			c->queued_bytes -= rem;
			fifo_pop(st, c, hold);
		} else {
			c->head_off += left;
			c->queued_bytes -= left;
			left = 0;
		}
	}
	if (!hold)
		send_done(st, c);
}

/* A piece of a recv completion, appended to the connection's FIFO (merged with the tail when
 * it continues it in the same buffer). */
struct recv_ctx {
	struct echo_state *st;
	struct conn *c;
};

static void queue_piece(void *ctx, unsigned bid, unsigned off, unsigned len)
{
	struct recv_ctx *r = ctx;
	struct echo_state *st = r->st;
	struct conn *c = r->c;

	if (c->failed || st->stopping) {
		buffer_ring_put(&st->bufs, bid);
		return;
	}
	c->queued_bytes += len;
	c->burst_bytes += len;
	if (c->q_tail >= 0) {
		struct piece *t = &st->pieces[c->q_tail];
		if (t->bid == bid && t->off + t->len == off) {
			t->len += len;
			st->bufs.refs[bid]--; /* the tail's hold covers it */
			return;
		}
	}
	int32_t i = piece_alloc(st);
	if (i < 0) {
		/* No memory for bookkeeping: this connection cannot go on in order. */
		buffer_ring_put(&st->bufs, bid);
		c->queued_bytes -= len;
		echo_error(st, SERVER_ERR_OTHER);
		conn_fail(st, c);
		return;
	}
	st->pieces[i] = (struct piece){ .bid = bid, .off = off, .len = len, .next = -1 };
	if (c->q_tail >= 0)
		st->pieces[c->q_tail].next = i;
	else
		c->q_head = i;
	c->q_tail = i;
	c->queued_pieces++;
}

void conn_on_recv(struct echo_state *st, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		struct recv_ctx r = { st, c };
		buffer_ring_consume(&st->bufs, res, cqe->flags, queue_piece, &r);
	}
	if (res > 0) {
		counter_add(&st->pub->recv_cqes, 1);
		c->echo.in += (uint64_t)res;
		c->last_recv = (uint32_t)res;
		if (!c->failed && !st->stopping)
			mark_dirty(st, c);
		/* Holding too much (its peer does not read its echoes): stop receiving. With the
		 * kernel's limit the recv has ended by itself here (no F_MORE). */
		if (!c->capped && conn_at_cap(st, c)) {
			c->capped = 1;
			if (cqe->flags & IORING_CQE_F_MORE)
				conn_cancel_recv(st, c);
		}
	}

	if (cqe->flags & IORING_CQE_F_MORE) {
		/* More is queued on the socket: the live recv will post another CQE
		 * (data, ENOBUFS or its end), which marks the connection again. */
		c->defer = !!(cqe->flags & IORING_CQE_F_SOCK_NONEMPTY) && !c->capped;
		/* Others wait for buffers (the pool is oversubscribed) and this multishot recv (a
		 * one-shot turn never says F_MORE) has drained its socket: it would take the next
		 * buffers again the moment its peer sends, ahead of every starved connection. It is
		 * ended and queued behind them instead, as one-shot turns are (conn_arm_recv).
		 * 1000 x 64 KiB over the default 64 x 64 KiB, 6 interleaved rounds under echo_client:
		 * p99 103 ms without this, 62 ms with it (the epoll engine 54 ms). */
		if (res > 0 && st->starved && !c->capped && !c->failed && !st->stopping &&
		    !(cqe->flags & IORING_CQE_F_SOCK_NONEMPTY)) {
			c->yielding = 1;
			conn_cancel_recv(st, c);
		}
		return;
	}

	/* The recv is over (a one-shot recv always is); decide whether it should be re-armed. Its
	 * FIFO must not wait for a CQE that will not come (ENOBUFS, EOF, cap): send it now. */
	c->defer = 0;
	if (c->q_head >= 0)
		mark_dirty(st, c);
	c->recv_armed = 0;
	st->inflight--;
	int ours = c->recv_cancelled && res == -ECANCELED; /* the cap's (or a yield's) own cancel */
	c->recv_cancelled = 0;
	c->yielding = 0;
	if (c->failed || st->stopping) {
		/* nothing more for it */
	} else if (ours && !c->capped && st->starved) {
		/* A yield, or the cap's cancel of a connection that drained below half the cap
		 * before the cancel landed: behind the ones that waited first (rearm_starved), as
		 * conn_maybe_uncap queues one that drained after it. Re-armed at once, the
		 * connections whose peers read their echoes quickest took every buffer coming back
		 * and the starved ran the ring dry again: 200 x 1 MiB over the default 64 x 64 KiB,
		 * 12 interleaved pairs of 3-4 s under echo_client, Jain's index 0.75-0.999 (22-325
		 * echoes per connection in the worst), p99 143-453 ms and 6.6-29k ENOBUFS before;
		 * 0.991-0.9997, 88-193 ms and 2.1-6.5k after, at 0.93-1.06x the requests/s. */
		starve(st, c);
	} else if (ours && !c->capped) {
		conn_arm_recv(st, c); /* nobody waits now */
	} else if (c->capped && (res > 0 || ours || res == -ENOBUFS)) {
		/* Parked until its FIFO drains (conn_maybe_uncap re-arms it). */
		if (res == -ENOBUFS)
			counter_add(&st->pub->enobufs, 1);
		conn_maybe_uncap(st, c);
	} else if (res == -ENOBUFS) {
		counter_add(&st->pub->enobufs, 1);
		starve(st, c);
	} else if (res > 0 && c->recv_turn && st->starved && !(cqe->flags & IORING_CQE_F_SOCK_NONEMPTY)) {
		/* Its turn took what its socket held; the starved go first (rearm_starved). */
		starve(st, c);
	} else if (res > 0 && st->recv_on_ready) {
		/* An inline recv: again at the next trip if the socket holds more, else when its
		 * poll fires. While what it holds unsent is less than a trip's worth, its echo waits
		 * for that recv (it comes at the next trip: the connection is listed and holds no
		 * cap), so a message split over two buffers, or over two arrivals, goes out in one
		 * send, as with an armed recv; past that it goes now, while its bytes are still in
		 * the cache, which is the point of receiving on readiness. */
		if (cqe->flags & IORING_CQE_F_SOCK_NONEMPTY) {
			ready_push(st, c);
			c->defer = !c->capped && c->burst_bytes < READY_TRIP_BYTES;
		} else {
			conn_arm_poll(st, c); /* a one-shot poll goes again once the socket is drained */
		}
	} else if (res > 0) {
		/* A one-shot recv, or a multishot one that stopped (e.g. CQ overflow): keep going. */
		conn_arm_recv(st, c);
		c->defer = !!(cqe->flags & IORING_CQE_F_SOCK_NONEMPTY);
	} else if (res == -EAGAIN && st->recv_on_ready) {
		/* The data its poll saw was taken by the recv before (a multishot poll fires per
		 * arrival): nothing to do until the poll fires again. */
		conn_arm_poll(st, c);
	} else if (res == 0) {
		c->eof = 1; /* peer closed its side: echo what is queued, then close */
	} else {
		if (!echo_benign(res))
			echo_error(st, SERVER_ERR_RECV);
		c->failed = 1;
		fifo_drop(st, c);
	}
	if (st->stopping && !c->failed)
		c->failed = 1;
	conn_maybe_close(st, c);
}

/*
 * server.recvOnReady: the connection's poll fired (POLLIN: data, EOF or an error is there to
 * read). The connection goes in the ready FIFO; issue_ready sends its recv at the next trip. A
 * connection that waits for buffers or holds its cap is not listed: whatever ends that state
 * lists it (conn_arm_recv from rearm_starved or conn_maybe_uncap).
 */
void conn_on_ready(struct echo_state *st, struct conn *c, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->poll_armed = 0;
		st->inflight--;
	}
	if (cqe->res > 0 && !c->failed && !c->eof && !st->stopping) {
		/* A poll that ended (one-shot, server.multishot off, or a multishot one the kernel
		 * ended) is armed again once a recv finds the socket drained (conn_on_recv), or by
		 * whatever ends the wait for buffers or the cap (conn_arm_recv): armed here, while the
		 * data it saw is still queued, it would fire again at once. */
		if (!c->capped && !c->starved)
			ready_push(st, c);
	} else if (cqe->res < 0 && cqe->res != -ECANCELED && !c->failed) {
		if (!echo_benign(cqe->res))
			echo_error(st, SERVER_ERR_RECV);
		conn_fail(st, c); /* c may be gone after this */
		return;
	}
	conn_maybe_close(st, c);
}

void conn_on_ready_cancel(struct echo_state *st, struct conn *c)
{
	c->poll_cancel_inflight = 0;
	st->inflight--;
	conn_maybe_close(st, c);
}

/*
 * server.recvOnReady: before each enter (behind the last reap's sends, so the kernel sends
 * the last trip's echoes before it receives more), a MSG_DONTWAIT recv for connections from the
 * ready FIFO, in the order their polls fired, until they are expected to take
 * READY_TRIP_BYTES (each counted at what its last recv took; at least one). The next enter
 * runs them inline, and their completions are in the CQ when it returns, so each message is
 * echoed one trip after it was received, with at most about that many bytes received between.
 *
 * Why: an armed recv (multishot or not) runs from task work, which the kernel runs up to 20 at
 * a time in the wait, before user space sees any of them: 20 connections' messages are copied
 * in before the first echo is copied out. At 64 KiB that working set leaves the cache, and the
 * echoes cost more than the system calls io_uring saves (README: "Receiving on readiness").
 * 64 KiB: one 64 KiB message a trip, 16 of 4 KiB. Measured with bufferRing.hotFirst, server
 * CPU per request under bench/echo_client (2 runs each): 50 × 64 KiB 14.4-14.7k ns at one
 * connection a trip against 14.6-15.6k at 128 KiB; 50 × 4 KiB 3.4-3.5k at 64 KiB against
 * 3.8-3.9k at one connection a trip (an enter per request).
 */

void issue_ready(struct echo_state *st)
{
	size_t bytes = 0;
	unsigned issued = 0;

	for (unsigned n = st->nready; n > 0 && (!issued || bytes < READY_TRIP_BYTES); n--) {
		struct conn *c = st->conns[st->ready[st->ready_head]];

		st->ready_head = (st->ready_head + 1) % st->cap_conns;
		st->nready--;
		c->ready_queued = 0;
		if (c->fd < 0 || c->failed || c->eof || st->stopping || c->capped || c->starved)
			continue;
		if (c->recv_armed) {
			/* Its last recv has not completed: a MSG_DONTWAIT recv ends inside the enter
			 * that submits it, unless the kernel handed it to an io-wq worker. (SQPOLL,
			 * whose thread submits on its own time, is refused with readiness.) */
			ready_push(st, c);
			continue;
		}
		struct io_uring_sqe *sqe = sqe_get(&st->ring);
		prep_conn_recv(st, c, sqe, 0, MSG_DONTWAIT);
		c->recv_armed = 1;
		c->recv_turn = 0;
		st->inflight++;
		bytes += c->last_recv ? c->last_recv : st->bufs.size;
		issued++;
	}
}

/* The cancel of a connection's recv completed (its result does not matter: the recv either
 * ended with -ECANCELED or had already ended). */
void conn_on_cancel(struct echo_state *st, struct conn *c)
{
	c->cancel_inflight = 0;
	st->inflight--;
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
 * Quiet sends the kernel has taken (its SQ head passed them) and that posted no CQE were sent
 * whole: each is completed here as if its CQE had said so. Runs after the reaping loop, before
 * flush_dirty: a quiet send is issued inline (MSG_DONTWAIT: never parked on a poll), so it has
 * ended before the io_uring_enter (or sqe_get's submit) that took it returned, and a CQE it
 * posted, falling short, was in the CQ by then and reaped (conn_on_send cleared send_quiet).
 * Not while the CQ has overflowed: such a CQE may wait in the kernel's overflow list until the
 * next enter flushes it.
 */
void settle_quiet_sends(struct echo_state *st)
{
	struct io_uring *ring = &st->ring;
	unsigned keep = 0;

	if (!st->nquiet || (IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_CQ_OVERFLOW))
		return;
	unsigned khead = io_uring_smp_load_acquire(ring->sq.khead);
	for (unsigned i = 0; i < st->nquiet; i++) {
		struct conn *c = st->conns[st->quiet[i]];

		if (!c->send_quiet)
			continue; /* it fell short, its CQE was handled (or the slot was reused) */
		if ((int)(khead - c->send_sqpos) <= 0) {
			st->quiet[keep++] = st->quiet[i]; /* still in the SQ: a failed enter left it */
			continue;
		}
		struct io_uring_cqe done;
		memset(&done, 0, sizeof(done));
		done.user_data = user_data(TAG_SEND, c->slot);
		done.res = (int32_t)c->send_bytes;
		c->send_quiet = 0;
		conn_on_send(st, c, &done);
	}
	st->nquiet = keep;
}

/* Buffers a starved connection should find before it is re-armed: an eighth of the ring, or
 * its last burst (one message's worth), whichever is more, but never more than the ring. The
 * burst counts up to the cap only: a turn ends there, and a multishot recv can take half a
 * small pool in one wake-up, so the first in the queue could wait for more buffers than it
 * can use while those coming back went to others (200 x 1 MiB over 64 x 4 KiB, a cap of 8
 * buffers, with every cancelled turn queued (conn_on_recv): 3-21 echoes for the slowest
 * connection against 37-52 for the fastest, Jain's index 0.88-0.91; with the bound 21-26
 * against 25-31, 0.999, 3 pairs). */
static unsigned rearm_watermark(const struct echo_state *st, const struct conn *c)
{
	unsigned want = st->bufs.count / 8;
	size_t last = c->last_burst < st->cap_bytes ? c->last_burst : st->cap_bytes;
	size_t burst = (last + st->bufs.size - 1) / st->bufs.size;

	if (burst > want)
		want = (unsigned)burst;
	if (want < 1)
		want = 1;
	return want < st->bufs.count ? want : st->bufs.count;
}

/* What one re-armed connection is expected to take from the pool, in bytes: what it last sent
 * (a closed loop's next message is the same), in whole buffers unless the ring is incremental,
 * where connections share a buffer piece by piece. */
static size_t rearm_need_bytes(const struct echo_state *st, const struct conn *c)
{
	size_t size = st->bufs.size;
	size_t need = c->last_burst ? c->last_burst : 1;

	if (!st->bufs.incremental)
		need = (need + size - 1) / size * size;
	return need < (size_t)st->bufs.count * size ? need : (size_t)st->bufs.count * size;
}

/*
 * Re-arms connections that ran the buffer ring dry, oldest first. The first waits for the
 * watermark of buffers (hysteresis: re-arming one per returned buffer would mostly buy fresh
 * -ENOBUFS completions); after it, every connection the buffers available cover goes, each
 * counted at what it will take.
 */
void rearm_starved(struct echo_state *st)
{
	unsigned budget = st->bufs.available;
	/* The watermark holds back the first re-arm (hysteresis: an eighth of the ring back
	 * first); after it, every connection the buffers available cover goes, each counted at
	 * what it will take. Counting the whole watermark against each held re-arms to 8 per
	 * reap whatever the pool had free, and starvation never ended: every armed connection is
	 * a one-shot turn that queues itself again behind the others. 1000 x 4 KiB after one
	 * burst of ENOBUFS (server.minWaitUs=200) ran on at 24k requests/s with 63 of 64 buffers
	 * idle in the ring, every request a cancel and a re-arm. */
	size_t budget_bytes = (size_t)budget * st->bufs.size;
	int first = 1;

	while (st->starved) {
		struct conn *c = st->starved;
		size_t need = rearm_need_bytes(st, c);
		if (!first && budget_bytes < need)
			break; /* the next reap, as buffers come back, or the tick */
		/* The first only: below the watermark, wait for the sends in flight to hand buffers
		 * back; with none in flight nothing would, so the oldest goes anyway. */
		if (first && budget < rearm_watermark(st, c) &&
		    !(budget && !st->sends_inflight && budget == st->bufs.available)) {
			int stalled = 0;
			/* Maybe nothing comes back: look for stuck sends once per tick. */
			if (st->tick_fired) {
				st->tick_fired = 0;
				/* And if no buffer came back over a whole tick, the sends in flight are
				 * not bringing any (stuck on peers that do not read; a SEND_ZC's pieces
				 * wait for the peer): what is available is what there is, and the oldest
				 * goes with it. Waiting for a watermark the pool could no longer reach
				 * stopped the echo with 14 of 16 buffers free. */
				stalled = budget && budget == st->bufs.available && budget <= st->avail_at_tick;
				st->avail_at_tick = st->bufs.available;
				spill_stuck(st);
			}
			if (!stalled)
				break;
		}
		/* The first may go below its need (the pool stalled, or nothing in flight brings
		 * any back); what it will take is counted either way. */
		unstarve(st, c);
		if (!c->failed && !c->capped) {
			conn_arm_recv(st, c);
			counter_add(&st->pub->rearms, 1);
		}
		conn_maybe_close(st, c); /* c may be gone after this */
		budget_bytes = budget_bytes > need ? budget_bytes - need : 0;
		first = 0;
	}
	/* Whoever is left is looked at again within a tick even if no completion comes: the
	 * connections re-armed above may take nothing (a client done with its messages, queued
	 * after a yield or its cap's cancel), and the sends in flight may be stuck on peers that
	 * do not read. Waiting only for the next reap, the loop slept for good with 8 of 16
	 * buffers free and a reading client's echo 12,801 bytes short (10 peers that never read,
	 * SEND_ZC: 6 stalls in about 650 runs of test/native/poolPinning.soak.ts's scenario; none
	 * in 2,641 with the tick). */
	if (st->starved)
		echo_arm_tick(st);
}
