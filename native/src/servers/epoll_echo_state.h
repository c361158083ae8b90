/*
 * The epoll echo server's private state, shared by epoll_echo.c (the thread: start-up, the
 * listening socket and accept, the loop, teardown) and epoll_echo_conn.c (a connection's echo
 * path). Only the server thread touches any of it.
 */
#ifndef URING_LAB_SERVERS_EPOLL_ECHO_STATE_H
#define URING_LAB_SERVERS_EPOLL_ECHO_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/server.h"

/* Bytes one read takes (into the thread's scratch buffer), and so the most a connection can
 * hold pending: it is not read again until what it holds has been written back. */
#define EPOLL_ECHO_CHUNK (64 * 1024)
/* Reads one connection gets per turn before the others' turn; it is then queued to go on. */
#define EPOLL_ECHO_READS_PER_TURN 16

/* epoll_data.u64 of the two fds that are not connections (a connection's is its slot). */
#define EPOLL_KEY_LISTEN UINT64_MAX
#define EPOLL_KEY_WAKE (UINT64_MAX - 1)

struct econn {
	int fd;
	uint32_t slot;         /* index in epoll_state.conns, its epoll key */
	unsigned want_out : 1; /* EPOLLOUT is in the interest set (only while bytes are pending) */
	unsigned eof : 1;      /* the peer finished sending: write what is pending, then close */
	unsigned queued : 1;   /* on the ready list: used up its turn with input left */
	unsigned read_to_eagain : 1; /* a hang-up or urgent data was reported: a short read is not drained */
	char *pending;         /* EPOLL_ECHO_CHUNK bytes, allocated at the first short write */
	size_t head, tail;     /* pending[head, tail) still has to be written */
	struct conn_echo echo; /* bytes in and echoed, accept ordinal (server.h) */
	struct econn *free_next;
	struct econn *ready_next;
};

struct epoll_state {
	struct server *pub;
	int epfd;
	int listen_fd;
	int stopping;
	uint64_t accept_resume_ns; /* accepting paused until then after EMFILE and the like; 0: not paused */

	char *scratch; /* EPOLL_ECHO_CHUNK bytes: where every read lands first */
	struct econn **conns; /* every conn ever allocated, by slot, for lookups and teardown */
	unsigned nconns, cap_conns;
	struct econn *free_conns;
	struct econn *ready, *ready_tail; /* FIFO of conns with input left after their turn */
};

/* epoll_echo_conn.c: a connection's echo path. */
/* A server error, counted in `errors` and by what failed (errors_by_op). */
void econn_error(struct epoll_state *st, enum server_err_op op);
size_t epoll_conn_state_bytes(unsigned nconns);
/* A new connection on accepted socket fd (non-blocking), added to the epoll set; 0 or -errno
 * (fd is then closed). */
int econn_open(struct epoll_state *st, int fd);
/* Does whatever the connection can: writes what is pending, reads and echoes. `events`: the
 * epoll event that woke it (0 from the ready list). */
void econn_serve(struct epoll_state *st, struct econn *c, uint32_t events);
/* Serves every connection on the ready list once. */
void econn_serve_ready(struct epoll_state *st);
void econn_free_all(struct epoll_state *st);

#endif
