/*
 * The epoll echo server thread: start-up (the epoll set, the listening socket on 127.0.0.1),
 * the loop, accept, teardown. A connection's echo path is in epoll_echo_conn.c.
 *
 * One edge-triggered epoll set holds the listening socket, every connection and the worker's
 * wake-up eventfd (core/worker.c), so stop() wakes epoll_wait like it wakes an io_uring wait.
 * The loop is epoll_wait, every event, then one pass over the connections whose turn ended
 * with input left (epoll_wait does not block while there are any).
 *
 * Accepting: the listening socket is non-blocking and accept4 runs until EAGAIN. An accept
 * refused for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) leaves the
 * connection in the backlog: retrying at once would fail at once, a busy spin, and with edge
 * triggering no new event would come for it anyway. It is counted as a server error and
 * accepting resumes after 10 ms (the epoll_wait timeout), as the io_uring server does.
 *
 * There is no io_uring here: the server's ring result stays zero (no flags, no features, no
 * entries), and its CPU is this thread's CPU clock alone (no SQPOLL or io-wq helpers).
 */
#define _GNU_SOURCE
#include "servers/epoll_echo.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/copy_placement.h"
#include "core/counters.h"
#include "core/loopback.h"
#include "servers/epoll_echo_state.h"

#define ACCEPT_BACKOFF_NS (10 * NS_PER_MS)
#define EVENTS_PER_WAIT 256

/* Accepts until the backlog is empty (EAGAIN) or accepting has to pause. */
static void accept_all(struct epoll_state *st)
{
	if (st->accept_resume_ns)
		return;
	for (;;) {
		int fd = accept4(st->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			int one = 1;
			/* Echo replies are small writes: do not let Nagle hold them. */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (econn_open(st, fd))
				econn_error(st, SERVER_ERR_ACCEPT);
			continue;
		}
		/* That connection went away before we took it: on to the next. */
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		/* EMFILE, ENFILE, ENOBUFS, ENOMEM (and anything unexpected): a retry right away
		 * would fail the same way. */
		econn_error(st, SERVER_ERR_ACCEPT);
		st->accept_resume_ns = mono_ns() + ACCEPT_BACKOFF_NS;
		return;
	}
}

/* epoll_wait's timeout: 0 while connections wait for their next turn, until the accept
 * backoff ends while paused, otherwise none. */
static int wait_timeout_ms(const struct epoll_state *st)
{
	if (st->ready)
		return 0;
	if (st->accept_resume_ns) {
		uint64_t now = mono_ns();
		if (now >= st->accept_resume_ns)
			return 0;
		return (int)((st->accept_resume_ns - now + NS_PER_MS - 1) / NS_PER_MS);
	}
	return -1;
}

/* The loop, until woken or dead (the worker body's run). */
static void serve(void *state)
{
	struct epoll_state *st = state;
	struct server *s = st->pub;
	struct epoll_event events[EVENTS_PER_WAIT];

	while (!st->stopping) {
		int n = 0;
		/* The same test hooks as the io_uring server, read the same way. */
		/* serverPause is the only toggle this server has (no ring to punt from, no buffer ring). */
		if (__builtin_expect(server_hooks_asked(s), 0))
			n = server_run_hooks(s);
		if (!n) {
			/* epoll_wait is this server's trip to the kernel for events: its `enters`. */
			counter_add(&s->enters, 1);
			n = epoll_wait(st->epfd, events, EVENTS_PER_WAIT, wait_timeout_ms(st));
			if (n < 0)
				n = errno == EINTR ? 0 : -errno;
		}
		if (n < 0) {
			/* Published only: the snapshot that reports it counts it (engine_snapshot.c). */
			__atomic_store_n(&s->loop_err, n, __ATOMIC_RELEASE);
			return;
		}

		/* Events are this server's completions: its `cqes`. */
		counter_add(&s->cqes, (uint64_t)n);
		for (int i = 0; i < n; i++) {
			uint64_t key = events[i].data.u64;
			if (key == EPOLL_KEY_WAKE)
				st->stopping = 1;
			else if (key == EPOLL_KEY_LISTEN)
				accept_all(st);
			else if (key < st->nconns && st->conns[key]->fd >= 0)
				econn_serve(st, st->conns[key], events[i].events);
		}
		if (st->stopping)
			break;
		if (st->accept_resume_ns && mono_ns() >= st->accept_resume_ns) {
			st->accept_resume_ns = 0;
			accept_all(st);
		}
		if (st->ready)
			econn_serve_ready(st);
	}
}

static int epoll_add(struct epoll_state *st, int fd, uint32_t events, uint64_t key)
{
	struct epoll_event ev = { .events = events, .data.u64 = key };

	return epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* The listening socket: non-blocking, reusable right after the previous run's TIME_WAITs. */
static int listen_socket(struct epoll_state *st, enum start_step *step)
{
	return server_listen(st->pub, 1, &st->listen_fd, step);
}

/* Everything up to listening: the scratch buffer, the epoll set (the wake-up eventfd and the
 * listening socket in it). The epoll set counts as the server's socket setup
 * (STEP_SERVER_SOCKET): there is no ring to blame. */
static int server_setup(void *owner, void *state, enum start_step *step)
{
	struct server *s = owner;
	struct epoll_state *st = state;
	int ret;

	st->pub = s;
	st->listen_fd = -1;
	st->epfd = -1;
	/* Before the scratch buffer and the connection state are touched (see server.h). */
	server_place_thread(s, &s->ring);
	*step = STEP_SERVER_SOCKET;
	/* Page-aligned: at malloc's page offset 16 every recv into it ran the kernel's copy on
	 * Zen 3's slow path (core/copy_placement.h). */
	st->scratch = copy_buffer_alloc(EPOLL_ECHO_CHUNK);
	if (!st->scratch)
		return -ENOMEM;
	st->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (st->epfd < 0)
		return -errno;
	/* Level-triggered: once written, the eventfd stays readable until the thread is gone. */
	ret = epoll_add(st, s->worker.wake_fd, EPOLLIN, EPOLL_KEY_WAKE);
	if (ret)
		return ret;

	ret = listen_socket(st, step);
	if (ret)
		return ret;
	*step = STEP_SERVER_LISTEN;
	return epoll_add(st, st->listen_fd, EPOLLIN | EPOLLET, EPOLL_KEY_LISTEN);
}

static void server_teardown(void *state, int ran)
{
	struct epoll_state *st = state;

	(void)ran;
	/* No ring and no helpers, but the engine's last CPU scan runs here like everywhere else. */
	worker_before_ring_exit(&st->pub->worker);
	econn_free_all(st);
	if (st->listen_fd >= 0)
		close(st->listen_fd);
	if (st->epfd >= 0)
		close(st->epfd);
	free(st->scratch);
}

static void epoll_echo_memory(const struct server_config *cfg, unsigned nconns, struct memory_needs *m)
{
	(void)cfg;
	m->conn_state += epoll_conn_state_bytes(nconns);
}

const struct server_ops epoll_echo_server_ops = {
	.body = { sizeof(struct epoll_state), server_setup, serve, server_teardown },
	.memory = epoll_echo_memory,
};
