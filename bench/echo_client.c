// SPDX-License-Identifier: MIT
/*
 * An independent closed-loop echo client for `npm run bench:engine`: it measures any TCP echo
 * server (the lab's `uring-lab server`, bench/minimal_epoll_echo) without the lab's own load
 * generator, so a flaw in that generator cannot flatter or hurt the lab's server. Plain socket
 * API only (epoll, non-blocking sockets); nothing from native/.
 *
 *   echo_client --port P [--conns N] [--bytes M] [--warmup W] [--duration D] [--cpu C]
 *               [--rate R] [--server-pid PID]...
 *
 * N connections each keep exactly one M-byte message outstanding: send it (partial sends wait
 * for EPOLLOUT), receive the whole echo, check every byte, send the next. With --rate R the
 * loop is open instead: a message is due every 1/R s on a fixed schedule (a timerfd, absolute
 * times), sent on a connection with none outstanding; when every connection has one, the due
 * message waits for the first to come free. Its latency is timed from when it was due, so a
 * stall of the server shows in full instead of slowing the schedule (coordinated omission).
 * Each message starts at a different offset of a fixed pattern, so a byte from the wrong message
 * or the wrong place is caught, not only a short echo. After W seconds of warm-up, D seconds
 * are measured: requests completed in the window, their round-trip latency (from the send of
 * the first byte to the receipt of the last), this client's CPU (getrusage) and, for each
 * --server-pid, that process's CPU over exactly the same window (the sum over its threads'
 * /proc/PID/task/TID/schedstat, or /proc/PID/stat when a thread came or went in between).
 * Reading the server's CPU here, at the window's edges, keeps a server's idle time after the run
 * (an SQPOLL thread spinning down, say) out of its per-request cost. `machineBusyNs` (all CPUs'
 * busy time from /proc/stat over the same window) lets the caller see how much else ran beside
 * the two.
 *
 * Prints one JSON object on stdout. Exit 0 when every connection lasted, no byte mismatched and
 * some echo completed in the window; 1 otherwise (the JSON is printed either way); 2 for bad
 * arguments. `connectionsIdle` counts connections that stayed open but got no echo completed in
 * the window (a stalled or unfair server); `perConnection` (closed loop) the fewest and most
 * echoes one open connection completed and Jain's fairness index over them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define MAX_SERVER_PIDS 8
#define MAX_TASKS 1024
#define PATTERN_PERIOD 251	/* message start offsets cycle through this many */
#define RECV_CHUNK (256 * 1024)

/*
 * Latency histogram in nanoseconds, log-linear: values below 64 exact, every power of two above
 * split into 32 sub-buckets (each ≤ 3.1 % wide). A percentile reports its bucket's highest
 * value, so it is never understated.
 */
#define SUB_BITS 5
#define SUB_COUNT (1 << SUB_BITS)
#define HIST_BUCKETS ((64 - SUB_BITS) * SUB_COUNT + SUB_COUNT)

static uint64_t hist[HIST_BUCKETS];
static uint64_t mismatches, lost, measured_requests, latency_sum_ns, latency_max_ns;

static unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < 2 * SUB_COUNT)
		return (unsigned)v;
	msb = 63 - __builtin_clzll(v);
	shift = msb - SUB_BITS;
	return (shift + 1) * SUB_COUNT + (unsigned)(v >> shift) - SUB_COUNT;
}

static uint64_t hist_upper(unsigned i)
{
	unsigned shift, sub;

	if (i < 2 * SUB_COUNT)
		return i;
	shift = i / SUB_COUNT - 1;
	sub = i % SUB_COUNT + SUB_COUNT;
	return ((uint64_t)(sub + 1) << shift) - 1;
}

static double hist_percentile_us(uint64_t total, double q)
{
	uint64_t want = (uint64_t)(q * (double)total + 0.999999), seen = 0;

	if (!total)
		return 0;
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= want)
			/* A bucket's top can lie above the largest value seen. */
			return (hist_upper(i) < latency_max_ns ? hist_upper(i) : latency_max_ns) / 1000.0;
	}
	return 0;
}

struct conn {
	int fd;
	unsigned id;
	uint64_t seq;
	size_t sent, received;
	uint64_t t0;		/* ns, when the message's first byte was handed to send() */
	int want_out;		/* EPOLLOUT asked for: a send was partial */
	uint64_t measured;	/* echoes completed in the measured window */
};

struct server_cpu {
	int pid;
	uint64_t ns;
	const char *source;	/* "schedstat" or "stat" */
	int ok;
	int ntasks;
	int tasks[MAX_TASKS];
	uint64_t stat_ns;
};

static unsigned char *pattern;
static size_t msg_bytes = 1024;
/* Open loop (--rate): the schedule, the connections with no message outstanding (a stack), and
 * the due messages waiting for one: consecutive schedule slots from backlog_due_ns. */
static double rate;
static uint64_t period_ns, next_due_ns, backlog, backlog_due_ns, backlog_max;
static struct conn **idle_conns;
static unsigned nidle;
static struct conn *conns;
static unsigned nconns = 4;
static int ep;
static int measuring;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t rusage_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* A process's CPU: threads' schedstat (ns, precise) and the process's stat (ticks, includes exited threads). */
static void server_cpu_read(struct server_cpu *s)
{
	char path[64], line[1024];
	long tick = sysconf(_SC_CLK_TCK);
	unsigned long long utime = 0, stime = 0;
	struct dirent *d;
	FILE *f;
	DIR *dir;

	s->ok = 0;
	s->ns = 0;
	s->ntasks = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", s->pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		unsigned long long run;
		int tid = atoi(d->d_name);

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", s->pid, tid);
		f = fopen(path, "r");
		if (!f)
			continue;	/* the thread exited while we looked: the stat fallback covers it */
		if (fscanf(f, "%llu", &run) == 1) {
			s->ns += run;
			if (s->ntasks < MAX_TASKS)
				s->tasks[s->ntasks++] = tid;
		}
		fclose(f);
	}
	closedir(dir);
	qsort(s->tasks, s->ntasks, sizeof(int), cmp_int);

	snprintf(path, sizeof(path), "/proc/%d/stat", s->pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f)) {
		/* The command name may hold spaces and parentheses: fields count from the last ')'. */
		char *p = strrchr(line, ')');

		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) == 2) {
			s->stat_ns = (utime + stime) * (1000000000ull / (unsigned long long)tick);
			s->ok = 1;
		}
	}
	fclose(f);
}

/* CPU between two readings: schedstat when the same threads were there both times. */
static void server_cpu_delta(const struct server_cpu *a, const struct server_cpu *b, struct server_cpu *out)
{
	int same = a->ntasks == b->ntasks && a->ntasks < MAX_TASKS &&
		   !memcmp(a->tasks, b->tasks, a->ntasks * sizeof(int));

	out->pid = a->pid;
	out->ok = a->ok && b->ok;
	out->ntasks = b->ntasks;
	if (same && b->ns >= a->ns) {
		out->ns = b->ns - a->ns;
		out->source = "schedstat";
	} else {
		out->ns = b->stat_ns - a->stat_ns;
		out->source = "stat";
	}
}

/* CPU time the whole machine spent busy (all CPUs, /proc/stat), ns: what else ran beside us. */
static uint64_t machine_busy_ns(void)
{
	unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
	long tick = sysconf(_SC_CLK_TCK);
	uint64_t ns = 0;
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq, &softirq, &steal) == 8)
		ns = (user + nice + sys + irq + softirq + steal) * (1000000000ull / (unsigned long long)tick);
	fclose(f);
	return ns;
}

static const unsigned char *expected(const struct conn *c)
{
	return pattern + (c->id * 17 + c->seq) % PATTERN_PERIOD;
}

static void conn_lost(struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	lost++;
}

static void conn_events(struct conn *c, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_send(struct conn *c)
{
	const unsigned char *msg = expected(c);

	while (c->sent < msg_bytes) {
		ssize_t n = send(c->fd, msg + c->sent, msg_bytes - c->sent, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!c->want_out) {
					c->want_out = 1;
					conn_events(c, EPOLLIN | EPOLLOUT);
				}
				return;
			}
			conn_lost(c);
			return;
		}
		c->sent += n;
	}
	if (c->want_out) {
		c->want_out = 0;
		conn_events(c, EPOLLIN);
	}
}

static void conn_start(struct conn *c, uint64_t now)
{
	c->sent = 0;
	c->received = 0;
	c->t0 = now;
	conn_send(c);
}

static void conn_receive(struct conn *c, unsigned char *buf)
{
	for (;;) {
		/* Never read past this message: with one outstanding nothing more can be due (bytes
		 * beyond it would be checked against the next message, and mismatch). */
		size_t room = msg_bytes - c->received;
		ssize_t n;
		uint64_t now, lat;

		/* An open loop's free connection has nothing due: a byte from it is a mismatch below,
		 * and a 0-byte read would look like the peer's close. */
		if (!room)
			room = 1;
		n = recv(c->fd, buf, room < RECV_CHUNK ? room : RECV_CHUNK, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_lost(c);
			return;
		}
		if (n == 0) {
			conn_lost(c);
			return;
		}
		if ((size_t)n + c->received > c->sent ||
		    memcmp(buf, expected(c) + c->received, n)) {
			mismatches++;
			conn_lost(c);
			return;
		}
		c->received += n;
		if (c->received < msg_bytes)
			continue;
		now = now_ns();
		if (measuring) {
			lat = now - c->t0;
			hist[hist_index(lat)]++;
			measured_requests++;
			c->measured++;
			latency_sum_ns += lat;
			if (lat > latency_max_ns)
				latency_max_ns = lat;
		}
		c->seq++;
		if (rate > 0) {
			/* Open loop: free for the next due message; the oldest waiting one goes now. */
			if (backlog) {
				backlog--;
				conn_start(c, backlog_due_ns);
				backlog_due_ns += period_ns;
			} else {
				idle_conns[nidle++] = c;
			}
			return;
		}
		/* The next message leaves at once; its echo is news for a later wake-up, not another recv now. */
		conn_start(c, now);
		return;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: echo_client --port P [--host 127.0.0.1] [--conns N] [--bytes M] [--warmup S] [--duration S] [--cpu C] [--rate RPS] [--server-pid PID]...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct server_cpu cpu_start[MAX_SERVER_PIDS], cpu_end[MAX_SERVER_PIDS], cpu_delta[MAX_SERVER_PIDS];
	struct epoll_event events[MAX_EVENTS];
	double warmup = 1, duration = 2, measured_s, busy;
	uint64_t t_connected, t_start, t_end, t_now, client_cpu0 = 0, client_cpu1 = 0, server_ns = 0;
	uint64_t machine0 = 0, machine1;
	unsigned long open_at_end = 0, idle = 0;
	uint64_t conn_min = UINT64_MAX, conn_max = 0;
	double conn_sum = 0, conn_sum_sq = 0;
	char per_conn[96];
	int port = -1, cpu = -1, npids = 0, all_ok = 1, timer_fd = -1;
	uint64_t armed_ns = 0;
	struct rlimit nofile;
	unsigned char *buf;
	char offered[32] = "null";

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--host")) {
			if (inet_pton(AF_INET, v, &addr.sin_addr) != 1)
				usage();
		} else if (!strcmp(a, "--conns"))
			nconns = (unsigned)atoi(v);
		else if (!strcmp(a, "--bytes"))
			msg_bytes = (size_t)atol(v);
		else if (!strcmp(a, "--warmup"))
			warmup = atof(v);
		else if (!strcmp(a, "--duration"))
			duration = atof(v);
		else if (!strcmp(a, "--cpu"))
			cpu = atoi(v);
		else if (!strcmp(a, "--rate"))
			rate = atof(v);
		else if (!strcmp(a, "--server-pid")) {
			if (npids == MAX_SERVER_PIDS)
				usage();
			cpu_start[npids++].pid = atoi(v);
		} else
			usage();
		i++;
	}
	if (port <= 0 || port > 65535 || nconns < 1 || nconns > 100000 || msg_bytes < 1 ||
	    msg_bytes > (64u << 20) || warmup < 0 || duration <= 0 || rate < 0 || rate > 10e6)
		usage();
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			fprintf(stderr, "echo_client: sched_setaffinity(%d): %s\n", cpu, strerror(errno));
			return 2;
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	signal(SIGPIPE, SIG_IGN);
	/* Never hang a benchmark: whatever the server does, this process ends. */
	alarm((unsigned)(warmup + duration) + 60);

	/* Both page-aligned. The kernel copies into buf with rep movsb, which on AMD Zen 3 runs
	 * ~17x slower when the destination is 1-31 bytes past the source modulo 4 KiB; the
	 * server's echoes sit page-aligned in their skbs and malloc put buf 16 bytes into its
	 * page: this client then spent 69k ns per 64 KiB echo (35k aligned), saturated its CPU
	 * first and halved what the server was asked to do. The pattern is what send copies from
	 * (its starts run 0-250 bytes into the page: never 1-31 before an aligned destination). */
	pattern = aligned_alloc(4096, (msg_bytes + PATTERN_PERIOD + 4095) / 4096 * 4096);
	buf = aligned_alloc(4096, RECV_CHUNK);
	conns = calloc(nconns, sizeof(*conns));
	idle_conns = calloc(nconns, sizeof(*idle_conns));
	if (!pattern || !buf || !conns || !idle_conns) {
		fprintf(stderr, "echo_client: out of memory\n");
		return 1;
	}
	/* 7 is odd, so shifting the start by 1..250 bytes changes every byte of a message. */
	for (size_t i = 0; i < msg_bytes + PATTERN_PERIOD; i++)
		pattern[i] = (unsigned char)(i * 7 + 13);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("echo_client: epoll_create1");
		return 1;
	}
	addr.sin_port = htons(port);
	for (unsigned i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		int one = 1;

		c->id = i;
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			fprintf(stderr, "echo_client: connection %u of %u: %s\n", i + 1, nconns, strerror(errno));
			return 1;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}

	t_connected = now_ns();
	t_start = t_connected + (uint64_t)(warmup * 1e9);
	t_end = t_start + (uint64_t)(duration * 1e9);
	if (rate > 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

		timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (timer_fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, timer_fd, &ev) < 0) {
			perror("echo_client: timerfd");
			return 1;
		}
		period_ns = (uint64_t)(1e9 / rate);
		if (!period_ns)
			period_ns = 1;
		next_due_ns = t_connected;
		for (unsigned i = 0; i < nconns; i++)
			idle_conns[nidle++] = &conns[nconns - 1 - i];
	} else {
		for (unsigned i = 0; i < nconns; i++)
			conn_start(&conns[i], t_connected);
	}
	if (warmup == 0) {
		measuring = 1;
		client_cpu0 = rusage_ns();
		machine0 = machine_busy_ns();
		for (int p = 0; p < npids; p++)
			server_cpu_read(&cpu_start[p]);
	}

	for (;;) {
		uint64_t edge;
		int timeout_ms, n;

		t_now = now_ns();
		if (!measuring && t_now >= t_start) {
			measuring = 1;
			t_start = t_now;
			for (int p = 0; p < npids; p++)
				server_cpu_read(&cpu_start[p]);
			client_cpu0 = rusage_ns();
			machine0 = machine_busy_ns();
		}
		if (measuring && t_now >= t_end)
			break;
		if (lost == nconns)
			break;
		if (rate > 0) {
			/* Every message now due: on a free connection, or into the backlog. */
			while (next_due_ns <= t_now) {
				struct conn *c = NULL;

				while (nidle && !c) {
					c = idle_conns[--nidle];
					if (c->fd < 0)
						c = NULL; /* lost meanwhile */
				}
				if (c) {
					conn_start(c, next_due_ns);
				} else {
					if (!backlog)
						backlog_due_ns = next_due_ns;
					backlog++;
					if (backlog > backlog_max)
						backlog_max = backlog;
				}
				next_due_ns += period_ns;
			}
			if (armed_ns != next_due_ns) {
				struct itimerspec at = { .it_value = { .tv_sec = (time_t)(next_due_ns / 1000000000ull),
								       .tv_nsec = (long)(next_due_ns % 1000000000ull) } };

				timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &at, NULL);
				armed_ns = next_due_ns;
			}
		}
		edge = measuring ? t_end : t_start;
		timeout_ms = (int)((edge - t_now) / 1000000) + 1;
		if (timeout_ms > 100)
			timeout_ms = 100;
		n = epoll_wait(ep, events, MAX_EVENTS, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("echo_client: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;

			if (!c) {
				uint64_t expirations;

				/* The schedule's timer: the due messages go out at the loop's top. */
				if (read(timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
					perror("echo_client: timerfd read");
				continue;
			}
			if (c->fd < 0)
				continue;
			if ((events[i].events & EPOLLOUT) && c->sent < msg_bytes)
				conn_send(c);
			if (c->fd >= 0 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				conn_receive(c, buf);
		}
	}
	client_cpu1 = rusage_ns();
	machine1 = machine_busy_ns();
	for (int p = 0; p < npids; p++) {
		cpu_end[p].pid = cpu_start[p].pid;
		server_cpu_read(&cpu_end[p]);
		server_cpu_delta(&cpu_start[p], &cpu_end[p], &cpu_delta[p]);
		if (!cpu_delta[p].ok)
			all_ok = 0;
		server_ns += cpu_delta[p].ns;
	}
	if (!measuring) {
		/* Every connection was lost during the warm-up. */
		t_start = t_now;
		client_cpu0 = client_cpu1;
		machine0 = machine1;
	}
	measured_s = (double)(t_now - t_start) / 1e9;
	if (rate > 0)
		snprintf(offered, sizeof(offered), "%.1f", rate);
	busy = measured_s > 0 ? (double)(client_cpu1 - client_cpu0) / 1e9 / measured_s : 0;
	for (unsigned i = 0; i < nconns; i++) {
		uint64_t m = conns[i].measured;

		if (conns[i].fd < 0)
			continue;
		open_at_end++;
		/* Open but never answered in the window: a server starving some peers. */
		if (!m)
			idle++;
		if (m < conn_min)
			conn_min = m;
		if (m > conn_max)
			conn_max = m;
		conn_sum += (double)m;
		conn_sum_sq += (double)m * (double)m;
	}
	/*
	 * How evenly the server shared itself: echoes per open connection in the window, and Jain's
	 * index (sum x)^2 / (n sum x^2): 1 when every connection got as many, 1/n when one got all.
	 * A closed loop only: an open loop's schedule picks the connections (the most recently
	 * freed first), so there the spread is this client's, not the server's.
	 */
	if (rate > 0 || !open_at_end || conn_sum_sq == 0)
		snprintf(per_conn, sizeof(per_conn), "null");
	else
		snprintf(per_conn, sizeof(per_conn), "{\"min\":%llu,\"max\":%llu,\"jain\":%.4f}",
			 (unsigned long long)conn_min, (unsigned long long)conn_max,
			 conn_sum * conn_sum / ((double)open_at_end * conn_sum_sq));

	printf("{\"conns\":%u,\"bytes\":%zu,\"measuredS\":%.4f,\"requests\":%llu,\"throughputRps\":%.1f,"
	       "\"latencyUs\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f,\"mean\":%.2f},"
	       "\"mismatches\":%llu,\"connectionsLost\":%llu,\"connectionsOpen\":%lu,\"connectionsIdle\":%lu,\"perConnection\":%s,"
	       "\"clientCpuNs\":%llu,\"clientCpuNsPerReq\":%.1f,\"clientBusyShare\":%.4f,\"saturated\":%s,"
	       "\"machineBusyNs\":%llu,\"offeredRps\":%s,\"backlogMax\":%llu,\"serverCpuNs\":",
	       nconns, msg_bytes, measured_s, (unsigned long long)measured_requests,
	       measured_s > 0 ? measured_requests / measured_s : 0,
	       hist_percentile_us(measured_requests, 0.50), hist_percentile_us(measured_requests, 0.90),
	       hist_percentile_us(measured_requests, 0.99), hist_percentile_us(measured_requests, 0.999),
	       latency_max_ns / 1000.0, measured_requests ? latency_sum_ns / 1000.0 / measured_requests : 0,
	       (unsigned long long)mismatches, (unsigned long long)lost, open_at_end, idle, per_conn,
	       (unsigned long long)(client_cpu1 - client_cpu0),
	       measured_requests ? (double)(client_cpu1 - client_cpu0) / measured_requests : 0,
	       busy, busy >= 0.9 ? "true" : "false", (unsigned long long)(machine1 - machine0), offered,
	       (unsigned long long)backlog_max);
	if (npids && all_ok)
		printf("%llu,\"serverCpuNsPerReq\":%.1f", (unsigned long long)server_ns,
		       measured_requests ? (double)server_ns / measured_requests : 0);
	else
		printf("null,\"serverCpuNsPerReq\":null");
	printf(",\"serverCpu\":[");
	for (int p = 0; p < npids; p++)
		printf("%s{\"pid\":%d,\"ok\":%s,\"ns\":%llu,\"source\":\"%s\",\"threads\":%d}", p ? "," : "",
		       cpu_delta[p].pid, cpu_delta[p].ok ? "true" : "false", (unsigned long long)cpu_delta[p].ns,
		       cpu_delta[p].source, cpu_delta[p].ntasks);
	printf("]}\n");
	return mismatches == 0 && lost == 0 && measured_requests > 0 ? 0 : 1;
}
