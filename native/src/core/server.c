/* The engine's side of the server interface; see server.h. */
#define _GNU_SOURCE
#include "core/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/cpu_list.h"
#include "core/loopback.h"

/* <numaif.h> without libnuma: the two modes and flag we use. */
#define SERVER_MPOL_BIND 2
#define SERVER_MPOL_F_ADDR_UNUSED 0

void server_init(struct server *s, const struct server_config *cfg, unsigned index,
		 const struct worker_hook *before_exit)
{
	memset(s, 0, sizeof(*s));
	s->ops = server_ops_for(cfg->engine);
	s->cfg = *cfg;
	s->index = index;
	s->ring_fd = -1;
	s->wq_fd = -1;
	s->sqpoll_stats_fd = -1;
	pthread_mutex_init(&s->stats_lock, NULL);
	/* Not pinned, no memory policy, until server_place_thread says otherwise. */
	s->ring.cpu = -1;
	s->ring.numa_node = -1;
	worker_init(&s->worker, WORKER_SERVER, before_exit);
}

int server_start(struct server *s, struct latch *ready)
{
	return worker_start(&s->worker, &s->ops->body, s, ready);
}

/* A pause sleeps in slices this long, re-reading its deadline: injectStopAll ends it this soon. */
#define PAUSE_SLICE_NS (5 * NS_PER_MS)

int server_toggle_live(uint64_t *until_ns, uint64_t now)
{
	uint64_t until = __atomic_load_n(until_ns, __ATOMIC_RELAXED);

	if (!until)
		return 0;
	if (now < until)
		return 1;
	/* Expired: cleared, but a new deadline stored meanwhile stays. */
	__atomic_compare_exchange_n(until_ns, &until, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	return 0;
}

int server_run_hooks(struct server *s)
{
	int ms = __atomic_exchange_n(&s->debug_pause_ms, 0, __ATOMIC_RELAXED);

	/* debugPauseServer(ms) is a serverPause that starts when the loop sees it. */
	if (ms > 0) {
		uint64_t until = mono_ns() + (uint64_t)ms * NS_PER_MS;
		uint64_t cur = __atomic_load_n(&s->pause_until_ns, __ATOMIC_RELAXED);
		if (until > cur)
			__atomic_store_n(&s->pause_until_ns, until, __ATOMIC_RELAXED);
	}
	for (;;) {
		uint64_t now = mono_ns();
		uint64_t until = __atomic_load_n(&s->pause_until_ns, __ATOMIC_RELAXED);
		if (!server_toggle_live(&s->pause_until_ns, now))
			break;
		uint64_t slice = until - now < PAUSE_SLICE_NS ? until - now : PAUSE_SLICE_NS;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)slice };
		/* The sleep watches the wake-up eventfd without reading it: a stop (worker_wake)
		 * ends the pause at once, and the loop still sees the wake-up afterwards. */
		struct pollfd wake = { .fd = s->worker.wake_fd, .events = POLLIN };
		if (ppoll(&wake, 1, &ts, NULL) > 0)
			break;
	}
	return __atomic_exchange_n(&s->debug_fail_err, 0, __ATOMIC_RELAXED);
}

void server_stop(struct server *s)
{
	worker_wake(&s->worker);
	worker_join(&s->worker);
}

/* The CPUs of NUMA node `node` from sysfs ("0-3,8-11"); 0 or -errno (ENOENT: no such node). */
static int node_cpus(int node, cpu_set_t *set)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	return cpu_list_read(path, set);
}

/* MPOL_BIND to `node` for this thread, checked with get_mempolicy; 0 or -errno. */
static int bind_memory(int node)
{
	unsigned long mask[(1024 + 63) / 64], got[(1024 + 63) / 64];
	unsigned long maxnode = sizeof(mask) * 8;
	int mode = -1;

	if (node < 0 || (unsigned long)node >= maxnode)
		return -EINVAL;
	memset(mask, 0, sizeof(mask));
	mask[node / 64] |= 1ul << (node % 64);
	/* The kernel reads maxnode - 1 bits. */
	if (syscall(SYS_set_mempolicy, SERVER_MPOL_BIND, mask, maxnode + 1))
		return -errno;
	memset(got, 0, sizeof(got));
	if (syscall(SYS_get_mempolicy, &mode, got, maxnode + 1, NULL, SERVER_MPOL_F_ADDR_UNUSED))
		return -errno;
	return mode == SERVER_MPOL_BIND && (got[node / 64] & (1ul << (node % 64))) ? 0 : -EINVAL;
}

void server_place_thread(const struct server *s, struct ring_setup_result *res)
{
	const struct server_config *c = &s->cfg;
	char name[16];
	cpu_set_t set;
	int want_cpu = -1, have_set = 0, ret;

	/* A name to find the workers by in /proc/self/task (tests, perf, top -H). */
	snprintf(name, sizeof(name), "uring-srv-%u", s->index);
	pthread_setname_np(pthread_self(), name);

	CPU_ZERO(&set);
	if (c->ncpus) {
		want_cpu = c->cpus[s->index % c->ncpus];
		if (want_cpu >= 0 && want_cpu < CPU_SETSIZE) {
			CPU_SET(want_cpu, &set);
			have_set = 1;
		} else {
			ring_refuse(res, RING_SETTING_NUMA_CPUS, -EINVAL, REFUSAL_REFUSED);
		}
	} else if (c->numa_node >= 0) {
		ret = node_cpus(c->numa_node, &set);
		if (ret)
			ring_refuse(res, RING_SETTING_NUMA_NODE, ret, REFUSAL_REFUSED);
		else
			have_set = 1;
	}
	if (have_set) {
		/* Before the ring: an SQPOLL thread created by this thread copies its affinity. */
		ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (ret)
			ring_refuse(res, c->ncpus ? RING_SETTING_NUMA_CPUS : RING_SETTING_NUMA_NODE, -ret, REFUSAL_REFUSED);
		else if (c->ncpus)
			res->cpu = want_cpu;
	}
	if (c->numa_node >= 0) {
		/* Before the first touch of the ring, the buffers and the connection state: pages
		 * are placed by the policy of the task that faults them in. */
		ret = bind_memory(c->numa_node);
		if (ret)
			ring_refuse(res, RING_SETTING_NUMA_NODE, ret, REFUSAL_REFUSED);
		else
			res->numa_node = c->numa_node;
	}
}

void server_record_placement(struct ring_setup_result *dst, const struct ring_setup_result *placed)
{
	dst->cpu = placed->cpu;
	dst->numa_node = placed->numa_node;
	for (int i = 0; i < placed->nrefused; i++)
		ring_refuse(dst, placed->refused[i].flag, placed->refused[i].err, placed->refused[i].cause);
}

/*
 * A socket buffer of `want` bytes (server.socket.*BufferBytes) on the listener: the uncapped
 * SO_*BUFFORCE first (CAP_NET_ADMIN), else the plain option, which the kernel caps at
 * net.core.[rw]mem_max. *granted is what the kernel holds, in the units asked for (it doubles the
 * value for its bookkeeping, socket(7)); less than asked is refused with the FORCE's errno, so
 * the summary says why and what it got.
 */
static void listener_buffer(int fd, int force_opt, int opt, unsigned want, unsigned setting,
			    struct ring_setup_result *res, int *granted)
{
	int v = (int)want, got = 0, force_err = 0;
	socklen_t len = sizeof(got);

	*granted = 0;
	if (!want)
		return;
	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v))) {
		force_err = -errno;
		if (setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v))) {
			ring_refuse(res, setting, -errno, REFUSAL_REFUSED);
			return;
		}
	}
	if (getsockopt(fd, SOL_SOCKET, opt, &got, &len))
		return;
	*granted = got / 2;
	if ((unsigned)*granted < want)
		ring_refuse(res, setting, force_err ? force_err : -ENOBUFS, REFUSAL_REFUSED);
}

/*
 * server.socket on a worker's listener, before listen(): accepted sockets inherit the
 * congestion control and the (locked) buffer sizes, and a receive buffer must be fixed before
 * the handshake, which sizes the window scale from it. Each refusal leaves the kernel's default
 * and is recorded; the server runs either way.
 */
static void listener_options(struct server *s, int fd)
{
	const struct server_config *c = &s->cfg;
	struct ring_setup_result *res = &s->ring;

	memset(res->congestion, 0, sizeof(res->congestion));
	if (c->congestion[0]) {
		char got[sizeof(res->congestion)] = { 0 };
		socklen_t len = sizeof(got) - 1;

		if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, c->congestion, strlen(c->congestion)))
			ring_refuse(res, RING_SETTING_TCP_CONGESTION, -errno, REFUSAL_REFUSED);
		else if (!getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, got, &len))
			memcpy(res->congestion, got, sizeof(got));
	}
	listener_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, c->rcvbuf, RING_SETTING_SO_RCVBUF, res, &res->rcvbuf);
	listener_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, c->sndbuf, RING_SETTING_SO_SNDBUF, res, &res->sndbuf);
}

int server_listen(struct server *s, int nonblocking, int *fd, enum start_step *step)
{
	struct sockaddr_in addr = loopback_addr(s->cfg.port);
	socklen_t len = sizeof(addr);
	int one = 1;

	/* --bind: a server for clients on other hosts (0.0.0.0 or one of this host's addresses). */
	if (s->cfg.bind_given)
		addr.sin_addr.s_addr = s->cfg.bind_addr;

	*step = STEP_SERVER_SOCKET;
	/* topology "veth": join the server's namespace first. setns(CLONE_NEWNET) moves only this
	 * (worker) thread, so the listener and every accepted socket live in the namespace while
	 * the load threads connect from the host's side of the veth pair. Reported as the
	 * listening socket's step: it is the socket that could not be made where it belongs. */
	if (s->cfg.netns[0]) {
		int nsfd = open(s->cfg.netns, O_RDONLY | O_CLOEXEC);

		if (nsfd < 0)
			return -errno;
		if (setns(nsfd, CLONE_NEWNET)) {
			int ret = -errno;

			close(nsfd);
			return ret;
		}
		close(nsfd);
	}
	*fd = tcp_socket(SOL_SOCKET, SO_REUSEADDR);
	if (*fd < 0)
		return *fd;
	/* Several workers: each its own listener on one port, the kernel spreads connections
	 * over them by a hash of the 4-tuple. One worker keeps the port exclusive. */
	if (s->cfg.workers > 1 && setsockopt(*fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		return -errno;
	if (nonblocking && fcntl(*fd, F_SETFL, O_NONBLOCK))
		return -errno;
	listener_options(s, *fd);

	*step = STEP_SERVER_BIND;
	if (bind(*fd, (struct sockaddr *)&addr, sizeof(addr)))
		return -errno;

	*step = STEP_SERVER_LISTEN;
	if (listen(*fd, SOMAXCONN))
		return -errno;
	if (getsockname(*fd, (struct sockaddr *)&addr, &len))
		return -errno;
	s->port = ntohs(addr.sin_port);
	/* Here, on this thread: the diag socket must be in the namespace the connections are in.
	 * Its failure only leaves the segment counts unknown (frames say null). */
	if (s->index == 0 && s->segments)
		tcp_segments_open(s->segments, (uint16_t)s->port);
	return 0;
}

/* Tries of one fdinfo read, and the pause between them: measured under echo_client at 1000
 * connections x 128 B, 45 of 100 single reads 10 ms apart got the lines (76 at 50 connections,
 * 99 at 1); a failed snapshot leaves the work to the next good one, which counts it then. */
#define SQPOLL_STATS_TRIES 3
#define SQPOLL_STATS_RETRY_NS (200 * 1000)

/* Under stats_lock: reads the fdinfo while the fd is ours; a good read replaces the last one. */
static void sqpoll_stats_update_locked(struct server *s)
{
	struct sqpoll_stats now;
	int ret = -EAGAIN;

	if (s->sqpoll_stats_fd < 0 || s->sqpoll_stats_err == -ENODATA)
		return;
	for (int i = 0; i < SQPOLL_STATS_TRIES && ret == -EAGAIN; i++) {
		if (i) {
			/* Off the serving threads: the snapshot's thread sleeps, the ring's lock frees. */
			struct timespec pause = { 0, SQPOLL_STATS_RETRY_NS };
			nanosleep(&pause, NULL);
		}
		ret = sqpoll_stats_read(s->sqpoll_stats_fd, &now);
	}
	if (ret == 0)
		s->sqpoll_last = now;
	else if (ret == -ENODATA)
		s->sqpoll_stats_err = ret;
}

void server_sqpoll_stats_open(struct server *s, int fd)
{
	pthread_mutex_lock(&s->stats_lock);
	s->sqpoll_stats_fd = fd;
	pthread_mutex_unlock(&s->stats_lock);
}

void server_sqpoll_stats_close(struct server *s)
{
	pthread_mutex_lock(&s->stats_lock);
	sqpoll_stats_update_locked(s);
	s->sqpoll_stats_fd = -1;
	pthread_mutex_unlock(&s->stats_lock);
}

int server_sqpoll_stats(struct server *s, struct sqpoll_stats *out)
{
	int ret;

	pthread_mutex_lock(&s->stats_lock);
	sqpoll_stats_update_locked(s);
	*out = s->sqpoll_last;
	ret = s->sqpoll_stats_err ? s->sqpoll_stats_err : out->thread > 0 ? 0 : -EAGAIN;
	pthread_mutex_unlock(&s->stats_lock);
	return ret;
}
