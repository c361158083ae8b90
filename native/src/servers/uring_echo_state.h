/*
 * The io_uring echo server's private state, shared by its three files: uring_echo.c (the
 * thread: start-up, loop, teardown), uring_echo_conn.c (a connection's echo path) and
 * uring_echo_listen.c (the listening socket, multishot accept). Only the server thread
 * touches any of it.
 */
#ifndef URING_LAB_SERVERS_URING_ECHO_STATE_H
#define URING_LAB_SERVERS_URING_ECHO_STATE_H

#include <liburing.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buffer_ring.h"
#include "core/server.h"
#include "core/user_data.h"

#define ECHO_BUFFER_GROUP 7 /* provided-buffer group id, any 16-bit value */
/* iovecs of one sendmsg: a 64 KiB message over 2 KiB buffers is 32 of them. */
#define SEND_IOV_MAX 64

/* user_data tags of this ring (core/user_data.h); the index is the connection's slot. */
enum echo_tag {
	TAG_ACCEPT = TAG_OWN,
	TAG_ACCEPT_RETRY, /* backoff timeout after a refused accept */
	TAG_RECV,
	TAG_SEND,
	TAG_PROBE, /* start-up's multishot recv probe */
};

struct conn {
	int fd;
	uint32_t slot;        /* index in echo_state.conns, its user_data index */
	unsigned recv_armed : 1;
	unsigned send_inflight : 1;
	unsigned eof : 1;     /* peer finished sending: flush the FIFO, then close */
	unsigned failed : 1;  /* socket error: drop the FIFO, close */
	unsigned starved : 1; /* on the starved list, waiting for buffers */
	unsigned dirty : 1;   /* listed in echo_state.dirty: the FIFO may need a send */
	unsigned defer : 1;   /* last recv CQE: more data already queued on the socket */
	int q_head, q_tail;   /* FIFO of buffer ids, -1 when empty */
	unsigned head_off;    /* bytes of the head buffer already sent */
	struct conn *starved_prev, *starved_next;
	struct conn *free_next;
	/* sendmsg state; must stay put while the send is in flight (with SQPOLL
	 * the kernel reads it after io_uring_submit returned). */
	struct msghdr msg;
	struct iovec iov[SEND_IOV_MAX];
};

struct echo_state {
	struct io_uring ring;
	int ring_ok;
	struct server *pub;
	int listen_fd;

	struct buffer_ring bufs;
	int32_t *buf_next;  /* FIFO links, by buffer id */
	uint32_t *buf_len;  /* bytes received into each buffer */

	unsigned inflight;  /* requests that will still post a final CQE */
	int stopping;
	struct __kernel_timespec accept_backoff; /* read by the kernel while the timeout is armed */

	struct conn *free_conns;
	struct conn *starved, *starved_tail; /* FIFO: first starved, first re-armed */
	struct conn **conns; /* every conn ever allocated, by slot, for lookups and teardown */
	unsigned nconns, cap_conns;
	/* Slots whose FIFO may need a send, in the order they got data; sent after the reaping
	 * loop. A conn is listed at most once (its dirty bit), so cap_conns entries suffice. */
	uint32_t *dirty;
	unsigned ndirty;
};

/* uring_echo_conn.c: a connection's echo path. */
size_t echo_link_bytes(unsigned buf_count);
size_t echo_conn_state_bytes(unsigned nconns);
struct conn *conn_alloc(struct echo_state *st);
void conn_arm_recv(struct echo_state *st, struct conn *c);
void conn_on_recv(struct echo_state *st, struct conn *c, const struct io_uring_cqe *cqe);
void conn_on_send(struct echo_state *st, struct conn *c, int res);
void flush_dirty(struct echo_state *st);
void rearm_starved(struct echo_state *st);
/* Errors that are just the peer going away or our own cancellation. */
int echo_benign(int res);

/* uring_echo_listen.c: the listening side. */
int probe_multishot_recv(struct echo_state *st);
int listen_socket(struct echo_state *st, enum start_step *step);
void arm_accept(struct echo_state *st);
void on_accept(struct echo_state *st, const struct io_uring_cqe *cqe);
void on_accept_retry(struct echo_state *st);

#endif
