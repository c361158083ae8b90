// SPDX-License-Identifier: MIT
/*
 * A minimal, correct epoll echo server: the independent baseline `npm run bench:engine`
 * measures the lab's engine against. It shares no code with native/ on purpose: if the lab's
 * server and this one agreed only because they shared a bug, the comparison would be worthless.
 *
 * One thread, level-triggered epoll, non-blocking sockets. Each connection echoes what it reads;
 * what the kernel did not take yet waits in a per-connection pending buffer, and while anything
 * is pending the connection stops reading and waits for EPOLLOUT instead (so a peer that never
 * reads costs this server at most one read's worth of memory). EPOLLOUT is asked for only while
 * data is pending: level-triggered EPOLLOUT on an idle socket would wake the loop forever.
 *
 *   minimal_epoll_echo [--port P] [--cpu N]
 *
 * Prints {"event":"listening","port":P,"pid":N} on stdout once it listens (port 0: the kernel
 * picks one), runs until SIGTERM or SIGINT, then prints {"event":"stopped",...} and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* One read's worth: a 64 KiB message usually arrives in one recv on loopback. */
#define READ_BYTES (64 * 1024)
#define MAX_EVENTS 256

struct conn {
	char *pending;		/* bytes read but not yet sent; NULL when none */
	size_t pending_len;
	size_t pending_off;
};

static volatile sig_atomic_t stopping;
static struct conn **conns;	/* indexed by fd */
static size_t conns_cap;
static unsigned long long served, bytes_echoed, open_conns;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "minimal_epoll_echo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void conn_close(int ep, int fd)
{
	struct conn *c = conns[fd];

	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(c->pending);
	free(c);
	conns[fd] = NULL;
	open_conns--;
}

static void want(int ep, int fd, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0)
		die("epoll_ctl MOD");
}

/* Sends what is pending; returns -1 when the connection is gone, else 0. */
static int conn_flush(int ep, int fd)
{
	struct conn *c = conns[fd];

	while (c->pending_off < c->pending_len) {
		ssize_t n = send(fd, c->pending + c->pending_off, c->pending_len - c->pending_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;	/* still pending: EPOLLOUT stays on */
			conn_close(ep, fd);
			return -1;
		}
		c->pending_off += n;
		bytes_echoed += n;
	}
	free(c->pending);
	c->pending = NULL;
	c->pending_len = c->pending_off = 0;
	want(ep, fd, EPOLLIN);	/* drained: read again, stop asking for EPOLLOUT */
	return 0;
}

/* One read per readiness event: level-triggered epoll reports the socket again if more is queued. */
static void conn_read(int ep, int fd, char *buf)
{
	struct conn *c = conns[fd];
	ssize_t n, sent = 0;

	n = recv(fd, buf, READ_BYTES, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		conn_close(ep, fd);
		return;
	}
	if (n < 0)
		return;
	served++;
	while (sent < n) {
		ssize_t m = send(fd, buf + sent, n - sent, MSG_NOSIGNAL);

		if (m < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(ep, fd);
			return;
		}
		sent += m;
		bytes_echoed += m;
	}
	if (sent == n)
		return;
	/* The peer's window is full: keep the rest and stop reading until it is sent. */
	c->pending_len = n - sent;
	c->pending_off = 0;
	c->pending = malloc(c->pending_len);
	if (!c->pending)
		die("malloc");
	memcpy(c->pending, buf + sent, c->pending_len);
	want(ep, fd, EPOLLOUT);
}

static void accept_all(int ep, int lfd)
{
	for (;;) {
		int one = 1;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fprintf(stderr, "minimal_epoll_echo: accept: %s\n", strerror(errno));
			return;
		}
		if ((size_t)fd >= conns_cap) {
			size_t cap = conns_cap * 2 > (size_t)fd + 1 ? conns_cap * 2 : (size_t)fd + 1;
			struct conn **grown = realloc(conns, cap * sizeof(*conns));

			if (!grown)
				die("realloc");
			memset(grown + conns_cap, 0, (cap - conns_cap) * sizeof(*conns));
			conns = grown;
			conns_cap = cap;
		}
		conns[fd] = calloc(1, sizeof(struct conn));
		if (!conns[fd])
			die("calloc");
		/* An echo is a request/response exchange: Nagle would hold a message's tail segment. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl ADD");
		open_conns++;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev = { .events = EPOLLIN }, events[MAX_EVENTS];
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t stop_signals, wait_mask;
	socklen_t len = sizeof(addr);
	struct rlimit nofile;
	int port = 0, cpu = -1, one = 1, lfd, ep;
	/* Page-aligned on purpose: the kernel's copy into it (rep movsb) is ~17x slower on AMD
	 * Zen 3 when it lies 1-31 bytes past the skb data modulo 4 KiB, and where the linker
	 * put it would otherwise decide this baseline's cost. */
	static char buf[READ_BYTES] __attribute__((aligned(4096)));

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: minimal_epoll_echo [--port P] [--cpu N]\n");
			return 2;
		}
	}
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			die("sched_setaffinity");
	}
	/* 1000 connections need more than the usual soft limit of 1024 descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	/*
	 * SIGTERM/SIGINT are blocked except inside epoll_pwait, which unblocks them atomically:
	 * a signal arriving between the check of `stopping` and the wait cannot be slept through.
	 */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_port = htons(port);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind");
	if (listen(lfd, SOMAXCONN) < 0)
		die("listen");
	if (getsockname(lfd, (struct sockaddr *)&addr, &len) < 0)
		die("getsockname");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl ADD listener");
	conns_cap = 1024;
	conns = calloc(conns_cap, sizeof(*conns));
	if (!conns)
		die("calloc");

	printf("{\"event\":\"listening\",\"port\":%d,\"pid\":%d}\n", ntohs(addr.sin_port), (int)getpid());
	fflush(stdout);

	while (!stopping) {
		int n = epoll_pwait(ep, events, MAX_EVENTS, -1, &wait_mask);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_pwait");
		}
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;

			if (fd == lfd) {
				accept_all(ep, lfd);
				continue;
			}
			if ((size_t)fd >= conns_cap || !conns[fd])
				continue;	/* closed earlier in this batch */
			if (conns[fd]->pending) {
				if (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					conn_flush(ep, fd);
			} else if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				conn_read(ep, fd, buf);
			}
		}
	}
	for (size_t fd = 0; fd < conns_cap; fd++)
		if (conns[fd])
			conn_close(ep, (int)fd);
	printf("{\"event\":\"stopped\",\"reads\":%llu,\"bytesEchoed\":%llu}\n", served, bytes_echoed);
	return 0;
}
