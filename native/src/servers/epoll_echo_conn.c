/*
 * The epoll echo server's connection path. Every socket is non-blocking and edge-triggered:
 * an event means "something changed", so a connection is served until its input is drained
 * (or until its turn ends, see below). Drained is EAGAIN, or a short read: a TCP recv that
 * returns less than it asked for took everything queued (tcp_recvmsg copies until the receive
 * queue and the backlog are empty), and whatever arrives after it wakes the socket's waiters
 * again, which queues a new edge for this socket. That saves the extra recv per message that
 * reading to EAGAIN costs (perf stat at 1 × 128 B: 4.0 syscalls per request before, 3.0 now,
 * as a level-triggered server). Not when an event says the peer hung up (EPOLLRDHUP, EPOLLHUP,
 * EPOLLERR): then the socket is read to its end, so an EOF that came with the last data is not
 * left unread. Nor when it says urgent data came (EPOLLPRI, a MSG_OOB byte): tcp_recvmsg stops
 * short at the urgent mark with the bytes after it still queued, and their edge has come and
 * gone (a client's "abc", urgent "!", "def": "def" was never echoed). Both are remembered on the
 * connection (read_to_eagain), so a turn that ends at its read limit and resumes from the ready
 * list, with no event, still reads to the end: 1 MiB + 1000 B and a FIN queued before the first
 * read came back whole but never closed before this was sticky.
 *
 * A read lands in the thread's scratch buffer and is written straight back. Whatever the
 * socket does not take (a short write, or EAGAIN) is copied into the connection's pending
 * buffer, EPOLLOUT joins its interest set, and the connection is not read again until the
 * pending bytes are written: a client that does not read its echoes stops being read (TCP flow
 * control does the rest), so a connection never holds more than one read's worth. EPOLLOUT is
 * in the set only while bytes are pending; otherwise every ACK would wake the loop.
 *
 * Fairness: a connection gets EPOLL_ECHO_READS_PER_TURN reads per event. If it still has input
 * then, it goes on the ready list and is served again after the rest of the batch (epoll will
 * not report it again: with edge triggering, its input is old news).
 *
 * EOF (a read of 0) is a half-close: what is pending is written, then the socket closes.
 * Resets and broken pipes are the peer going away, not server errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/copy_placement.h"
#include "core/counters.h"
#include "servers/epoll_echo_state.h"

size_t epoll_conn_state_bytes(unsigned nconns)
{
	/* The worst case: every connection holding a pending buffer, plus the scratch buffer. */
	return (size_t)nconns * (sizeof(struct econn) + sizeof(struct econn *) + EPOLL_ECHO_CHUNK) + EPOLL_ECHO_CHUNK;
}

/* Errors that are just the peer going away. */
static int peer_gone(int err)
{
	return err == ECONNRESET || err == EPIPE || err == ENOTCONN || err == ECONNABORTED || err == ETIMEDOUT;
}

void econn_error(struct epoll_state *st, enum server_err_op op)
{
	counter_add(&st->pub->errors_by_op[op], 1);
	counter_add(&st->pub->errors, 1);
}

/* `op`: what failed when err is set (a real error counts by it). */
static void conn_close(struct epoll_state *st, struct econn *c, int err, enum server_err_op op)
{
	if (err && !peer_gone(err) && !st->stopping)
		econn_error(st, op);
	/* Closing the only descriptor of the socket also takes it out of the epoll set. */
	close(c->fd);
	c->fd = -1;
	c->head = c->tail = 0;
	server_conn_closed(st->pub, &c->echo);
	/* A queued conn stays on the ready list (its queued bit keeps it off twice); the ready pass
	 * skips it if it is still closed then, or serves its new socket, which is harmless. */
	c->free_next = st->free_conns;
	st->free_conns = c;
}

/* Every connection's interest set (EPOLLOUT joins it while bytes are pending). */
#define ECONN_EVENTS (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLET)

static int set_interest(struct epoll_state *st, struct econn *c, int want_out)
{
	struct epoll_event ev = { .events = ECONN_EVENTS | (want_out ? EPOLLOUT : 0), .data.u64 = c->slot };

	if (epoll_ctl(st->epfd, EPOLL_CTL_MOD, c->fd, &ev))
		return -errno;
	c->want_out = want_out ? 1 : 0;
	return 0;
}

static struct econn *conn_alloc(struct epoll_state *st)
{
	struct econn *c = st->free_conns;

	if (c) {
		st->free_conns = c->free_next;
		return c;
	}
	if (st->nconns == st->cap_conns) {
		unsigned cap = st->cap_conns ? st->cap_conns * 2 : 64;
		struct econn **grown = realloc(st->conns, sizeof(*grown) * cap);
		if (!grown)
			return NULL;
		st->conns = grown;
		st->cap_conns = cap;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->slot = st->nconns;
	st->conns[st->nconns++] = c;
	return c;
}

int econn_open(struct epoll_state *st, int fd)
{
	struct econn *c = conn_alloc(st);
	int ret;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->want_out = 0;
	c->eof = 0;
	c->read_to_eagain = 0;
	c->head = c->tail = 0;
	/* Edge-triggered: adding a socket that already has input reports it at once. */
	struct epoll_event ev = { .events = ECONN_EVENTS, .data.u64 = c->slot };
	if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		ret = -errno;
		close(fd);
		c->fd = -1;
		c->free_next = st->free_conns;
		st->free_conns = c;
		return ret;
	}
	counter_add(&st->pub->accepted, 1);
	server_conn_opened(st->pub, &c->echo);
	return 0;
}

/* Writes buf[*off, len) until done or EAGAIN; 0, or the errno that ends the connection. Each
 * send() call counts in `sends`, the bytes it took in `bytes_out` and the connection's echo.out. */
static int write_some(struct server *pub, struct econn *c, const char *buf, size_t *off, size_t len)
{
	int fd = c->fd;

	while (*off < len) {
		ssize_t n = send(fd, buf + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);
		counter_add(&pub->sends, 1);
		if (n > 0) {
			*off += (size_t)n;
			counter_add(&pub->bytes_out, (uint64_t)n);
			c->echo.out += (uint64_t)n;
		}
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		else
			return n < 0 ? errno : EPIPE;
	}
	return 0;
}

/* Keeps what the socket did not take of scratch[off, len); 0 or ENOMEM. */
static int keep_pending(struct econn *c, const char *scratch, size_t off, size_t len)
{
	if (!c->pending && !(c->pending = copy_buffer_alloc(EPOLL_ECHO_CHUNK)))
		return ENOMEM;
	memcpy(c->pending, scratch + off, len - off);
	c->head = 0;
	c->tail = len - off;
	return 0;
}

static void queue_ready(struct epoll_state *st, struct econn *c)
{
	if (c->queued)
		return;
	c->queued = 1;
	c->ready_next = NULL;
	if (st->ready_tail)
		st->ready_tail->ready_next = c;
	else
		st->ready = c;
	st->ready_tail = c;
}

void econn_serve(struct epoll_state *st, struct econn *c, uint32_t events)
{
	enum server_err_op op = SERVER_ERR_SEND;
	int err;

	/* A short read ends the turn unless the peer hung up or sent urgent data, now or in an
	 * event whose turn this one resumes (see the top of the file). */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
		c->read_to_eagain = 1;

	for (unsigned reads = 0;;) {
		if (c->head < c->tail) {
			op = SERVER_ERR_SEND;
			err = write_some(st->pub, c, c->pending, &c->head, c->tail);
			if (err)
				goto fail;
			if (c->head < c->tail) {
				/* Still pending: wait for room, and do not read meanwhile. */
				op = SERVER_ERR_OTHER;
				if (!c->want_out && (err = -set_interest(st, c, 1)))
					goto fail;
				return;
			}
			c->head = c->tail = 0;
		}
		if (c->eof) {
			conn_close(st, c, 0, SERVER_ERR_OTHER);
			return;
		}
		if (reads == EPOLL_ECHO_READS_PER_TURN) {
			queue_ready(st, c);
			break;
		}
		ssize_t n = recv(c->fd, st->scratch, EPOLL_ECHO_CHUNK, MSG_DONTWAIT);
		if (n > 0) {
			size_t off = 0;
			reads++;
			/* A read that returned data: this server's recv completion. */
			counter_add(&st->pub->recv_cqes, 1);
			c->echo.in += (uint64_t)n;
			op = SERVER_ERR_SEND;
			err = write_some(st->pub, c, st->scratch, &off, (size_t)n);
			if (!err && off < (size_t)n) {
				op = SERVER_ERR_OTHER;
				err = keep_pending(c, st->scratch, off, (size_t)n);
			}
			if (err)
				goto fail;
			if (!c->read_to_eagain && (size_t)n < EPOLL_ECHO_CHUNK && c->head == c->tail)
				break;
		} else if (n == 0) {
			c->eof = 1;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			/* Drained: past any urgent mark (a new one brings a new EPOLLPRI). A hang-up stays:
			 * its EOF or error is still to be read. */
			if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
				c->read_to_eagain = 0;
			break;
		} else {
			err = errno;
			op = SERVER_ERR_RECV;
			goto fail;
		}
	}
	/* Nothing pending: EPOLLOUT would only wake the loop for nothing. */
	op = SERVER_ERR_OTHER;
	if (c->want_out && (err = -set_interest(st, c, 0)))
		goto fail;
	return;
fail:
	conn_close(st, c, err, op);
}

void econn_serve_ready(struct epoll_state *st)
{
	struct econn *c = st->ready;

	st->ready = st->ready_tail = NULL;
	while (c) {
		struct econn *next = c->ready_next;
		c->queued = 0;
		/* No event: input left over from its last turn, drained as any. */
		if (c->fd >= 0)
			econn_serve(st, c, 0);
		c = next;
	}
}

void econn_free_all(struct epoll_state *st)
{
	for (unsigned i = 0; i < st->nconns; i++) {
		struct econn *c = st->conns[i];
		if (c->fd >= 0) {
			close(c->fd);
			server_conn_closed(st->pub, &c->echo);
		}
		free(c->pending);
		free(c);
	}
	free(st->conns);
	st->conns = NULL;
	st->nconns = st->cap_conns = 0;
	st->free_conns = NULL;
	st->ready = st->ready_tail = NULL;
}
