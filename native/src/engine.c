/*
 * Start/stop/snapshot orchestration.
 *
 * The state word (IDLE/STARTING/RUNNING/STOPPING) changes only under
 * api_lock, and whoever moved it to STARTING or STOPPING owns the engine
 * until it moves it on: that thread does the slow part (connects, joins,
 * 2 s drains) without the lock, so snapshot() never waits for it and just
 * answers -ENOTCONN. snapshot() holds the lock while it reads, so a stop
 * cannot free what it is reading. A second lock guards the helper-thread CPU
 * totals, which the server and load threads also update right before their
 * rings go away.
 */
#define _GNU_SOURCE
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpu_accounting.h"
#include "echo_server.h"
#include "load_generator.h"
#include "uring_util.h"

/* Cumulative values, kept so snapshots can report deltas without ever
 * resetting a counter that another thread writes. */
struct cumulative {
	uint64_t bytes, load_errors, server_errors, enobufs;
	uint64_t hist[LH_BUCKETS];
	uint64_t chist[LH_BUCKETS];
	uint64_t server_cpu_ns, process_cpu_ns;
	uint64_t load_thread_ns[ENGINE_LOAD_THREADS_MAX];
};

/* Descriptors beyond one per load socket and one per accepted socket. */
#define FD_SLACK_SERVER 5 /* eventfd, ring, listener, the multishot probe's socketpair */
#define FD_SLACK_LOAD 2   /* per load thread: eventfd, ring */
#define FD_MARGIN 16      /* what the host opens while we run */

/* How long teardown waits for a start or stop in progress. */
#define SETTLE_TIMEOUT_S 30

static struct {
	pthread_mutex_t api_lock;
	pthread_cond_t settled; /* broadcast when a start or stop has finished (held or not) */
	pthread_mutex_t cpu_lock;
	int state;     /* enum engine_state; written under api_lock */
	int held;      /* a finished start/stop waits for engine_settle()... */
	int settle_to; /* ...to move to this state */
	struct engine_config cfg;
	struct echo_server server;
	int server_started;
	struct load_thread *load;
	unsigned nload;
	uint64_t deadline_ns;
	uint64_t load_stopped_ns; /* when stop() had joined every load thread */
	struct cpu_helpers helpers;
	struct cumulative prev;
	struct cumulative cur; /* scratch, here to keep ~12 KiB off the stack */
} E = {
	.api_lock = PTHREAD_MUTEX_INITIALIZER,
	.settled = PTHREAD_COND_INITIALIZER,
	.cpu_lock = PTHREAD_MUTEX_INITIALIZER,
};

static void set_state_locked(int state)
{
	__atomic_store_n(&E.state, state, __ATOMIC_RELEASE);
	if (state == ENGINE_IDLE || state == ENGINE_RUNNING)
		pthread_cond_broadcast(&E.settled);
}

/* End of a start or stop: move on now, or remember where to for engine_settle(). */
static void finish_state(int state, int hold)
{
	pthread_mutex_lock(&E.api_lock);
	if (hold) {
		E.held = 1;
		E.settle_to = state;
		pthread_cond_broadcast(&E.settled); /* engine_stop_settled() settles it */
	} else {
		set_state_locked(state);
	}
	pthread_mutex_unlock(&E.api_lock);
}

static void settle_locked(void)
{
	if (E.held) {
		E.held = 0;
		set_state_locked(E.settle_to);
	}
}

void engine_settle(void)
{
	pthread_mutex_lock(&E.api_lock);
	settle_locked();
	pthread_mutex_unlock(&E.api_lock);
}

int engine_state(void)
{
	return __atomic_load_n(&E.state, __ATOMIC_ACQUIRE);
}

/* Load threads for a config, and connections of thread i: shared by
 * engine_start_finish() and engine_memory_needs(). */
static unsigned load_thread_count(const struct engine_config *cfg)
{
	unsigned n = cfg->connections ? cfg->threads : 0;

	if (n > cfg->connections)
		n = cfg->connections;
	if (n > ENGINE_LOAD_THREADS_MAX)
		n = ENGINE_LOAD_THREADS_MAX;
	return n;
}

static unsigned load_thread_conns(const struct engine_config *cfg, unsigned nload, unsigned i)
{
	return cfg->connections / nload + (i < cfg->connections % nload);
}

/* Walks /proc/self/task for io_uring helpers; under cpu_lock. */
static void scan_helpers_locked(void)
{
	pid_t tids[64];
	/* May run on a load thread while engine_start() is still adding threads. */
	unsigned n = __atomic_load_n(&E.nload, __ATOMIC_ACQUIRE);

	if (n > 64)
		n = 64;

	for (unsigned i = 0; i < n; i++)
		tids[i] = __atomic_load_n(&E.load[i].tid, __ATOMIC_RELAXED);
	cpu_helpers_scan(&E.helpers, __atomic_load_n(&E.server.tid, __ATOMIC_RELAXED), tids, (int)n);
}

/* Runs on a server/load thread just before its ring (and helpers) exit. */
static void before_ring_exit(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&E.cpu_lock);
	scan_helpers_locked();
	pthread_mutex_unlock(&E.cpu_lock);
}

static uint64_t thread_cpu(pthread_t thread, const int *exited, const uint64_t *final_ns, int started)
{
	uint64_t ns;

	if (__atomic_load_n(exited, __ATOMIC_ACQUIRE) || !started)
		return *final_ns;
	if (cpu_thread_ns(thread, &ns) == 0)
		return ns;
	/* It exited between the two checks. */
	return __atomic_load_n(exited, __ATOMIC_ACQUIRE) ? *final_ns : 0;
}

static void read_cumulative(struct cumulative *c)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < E.nload; i++) {
		struct load_thread *t = &E.load[i];
		lh_accumulate(&t->hist, c->hist);
		lh_accumulate(&t->corrected, c->chist);
		c->bytes += counter_get(&t->bytes);
		c->load_errors += counter_get(&t->errors);
		c->load_thread_ns[i] = thread_cpu(t->thread, &t->exited, &t->final_cpu_ns, t->thread_started);
	}
	c->server_errors = counter_get(&E.server.errors);
	c->enobufs = counter_get(&E.server.enobufs);
	c->server_cpu_ns = thread_cpu(E.server.thread, &E.server.exited, &E.server.final_cpu_ns,
				      E.server.thread_started);

	pthread_mutex_lock(&E.cpu_lock);
	scan_helpers_locked();
	c->server_cpu_ns += E.helpers.server_ns;
	/* A load thread's io-wq helpers count as that thread's CPU. */
	for (unsigned i = 0; i < E.nload; i++)
		c->load_thread_ns[i] += E.helpers.load_ns_by[i];
	pthread_mutex_unlock(&E.cpu_lock);

	c->process_cpu_ns = cpu_process_ns();
}

static uint64_t delta(uint64_t *prev, uint64_t cur)
{
	/* Never negative: a value can only appear to go back through a race
	 * with a thread's exit, and then the next snapshot catches up. */
	uint64_t d = cur > *prev ? cur - *prev : 0;
	if (cur > *prev)
		*prev = cur;
	return d;
}

/* In-flight and live-connection gauges, summed over the load threads. */
struct load_gauges {
	uint64_t in_flight, oldest_us, live;
};

static void read_load_gauges(struct load_gauges *g)
{
	uint64_t oldest = UINT64_MAX;

	memset(g, 0, sizeof(*g));
	for (unsigned i = 0; i < E.nload; i++) {
		g->in_flight += load_thread_inflight(&E.load[i], &oldest);
		g->live += counter_get(&E.load[i].live_conns);
	}
	/* Read after the scan: every t0 seen was stamped before this. */
	uint64_t now = mono_ns();
	if (g->in_flight)
		g->oldest_us = now > oldest ? lh_ns_to_us(now - oldest) : 0;
}

static void take_snapshot(struct engine_snapshot *s)
{
	struct cumulative *c = &E.cur;
	struct cumulative *p = &E.prev;
	struct load_gauges g;
	/* Before the counters: the snapshot that reports the loop's death also
	 * counts its error (the server counts, then publishes). */
	int loop_err = __atomic_load_n(&E.server.loop_err, __ATOMIC_ACQUIRE);

	read_cumulative(c);
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < LH_BUCKETS; i++) {
		s->hist[i] = delta(&p->hist[i], c->hist[i]);
		s->requests += s->hist[i];
		s->corrected_hist[i] = delta(&p->chist[i], c->chist[i]);
	}
	s->bytes = delta(&p->bytes, c->bytes);
	uint64_t le = delta(&p->load_errors, c->load_errors);
	s->server_errors = delta(&p->server_errors, c->server_errors);
	s->errors = le + s->server_errors;
	s->enobufs = delta(&p->enobufs, c->enobufs);
	s->server_cpu_ns = delta(&p->server_cpu_ns, c->server_cpu_ns);
	/* loadCpuNs is the sum of the per-thread deltas, so the two always agree. */
	s->load_threads = E.nload;
	for (unsigned i = 0; i < E.nload; i++) {
		s->load_thread_cpu_ns[i] = delta(&p->load_thread_ns[i], c->load_thread_ns[i]);
		s->load_cpu_ns += s->load_thread_cpu_ns[i];
	}
	s->process_cpu_ns = delta(&p->process_cpu_ns, c->process_cpu_ns);

	read_load_gauges(&g);
	s->in_flight = g.in_flight;
	s->oldest_in_flight_us = g.oldest_us;
	s->live_load_connections = g.live;
	s->monotonic_ns = mono_ns();
	s->active_connections = counter_get(&E.server.active);
	s->server_loop_err = loop_err;

	int load_running = 0;
	for (unsigned i = 0; i < E.nload; i++)
		load_running |= __atomic_load_n(&E.load[i].running, __ATOMIC_ACQUIRE);
	if (E.nload == 0) /* server only: the bound still applies to "running" */
		load_running = s->monotonic_ns < E.deadline_ns;
	/* A dead server loop ends the run now, not once its drain (up to 2 s)
	 * and teardown have let the thread exit. */
	s->running = load_running && !s->server_loop_err && !__atomic_load_n(&E.server.exited, __ATOMIC_ACQUIRE);
}

/* Joins everything started so far; the load threads first, so their
 * connections are closed while the server still answers. */
static void shutdown_all(void)
{
	for (unsigned i = 0; i < E.nload; i++)
		load_thread_wake(&E.load[i]);
	for (unsigned i = 0; i < E.nload; i++)
		load_thread_join(&E.load[i]);
	E.load_stopped_ns = mono_ns();
	if (E.server_started)
		echo_server_stop(&E.server);
}

static void release_all(void)
{
	free(E.load);
	E.load = NULL;
	E.nload = 0;
	E.server_started = 0;
}

/* Open descriptors, /proc/self/fd minus the one reading it. */
static uint64_t count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
			n++;
	closedir(d);
	return n ? n - 1 : 0;
}

/*
 * Every load connection costs two descriptors in this process (its socket
 * and the server's accepted one). Fail before anything starts rather than
 * with EMFILE from the 900th connect or, worse, from an accept (which the
 * server could only count as an error). A soft limit below the hard one is
 * raised to the hard one, as Node itself does at start-up.
 */
static int ensure_fd_limit(const struct engine_config *cfg, unsigned nload, struct engine_error *err)
{
	struct rlimit rl;
	uint64_t open = count_open_fds();
	uint64_t need = open + 2ull * cfg->connections + FD_SLACK_SERVER + FD_SLACK_LOAD * (uint64_t)nload + FD_MARGIN;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0; /* cannot tell: let the sockets speak for themselves */
	if (need <= rl.rlim_cur)
		return 0;
	if (rl.rlim_max == RLIM_INFINITY || need <= rl.rlim_max) {
		struct rlimit want = rl;
		want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return 0;
		/* The hard limit may exceed fs.nr_open: ask for just enough. */
		want.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return 0;
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	err->in_load = 1;
	err->step = LOAD_STEP_FD_LIMIT;
	err->err = -EMFILE;
	err->fds_needed = need;
	err->fds_open = open;
	err->fds_soft = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	err->fds_hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : rl.rlim_max;
	return -EMFILE;
}

int engine_start_begin(void)
{
	int ret = 0;

	pthread_mutex_lock(&E.api_lock);
	if (E.state != ENGINE_IDLE)
		ret = -EBUSY;
	else
		set_state_locked(ENGINE_STARTING);
	pthread_mutex_unlock(&E.api_lock);
	return ret;
}

void engine_start_abandon(void)
{
	pthread_mutex_lock(&E.api_lock);
	if (E.state == ENGINE_STARTING)
		set_state_locked(ENGINE_IDLE);
	pthread_mutex_unlock(&E.api_lock);
}

int engine_start(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err)
{
	int ret = engine_start_begin();

	if (ret) {
		memset(err, 0, sizeof(*err));
		return ret;
	}
	return engine_start_finish(cfg, out, err, 0);
}

int engine_start_finish(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err,
			int hold)
{
	int ret = 0;

	memset(err, 0, sizeof(*err));
	unsigned nload = load_thread_count(cfg);
	ret = ensure_fd_limit(cfg, nload, err);
	if (ret) {
		finish_state(ENGINE_IDLE, hold);
		return ret;
	}

	E.cfg = *cfg;
	E.load = NULL;
	E.nload = 0;
	memset(&E.server, 0, sizeof(E.server));
	cpu_helpers_init(&E.helpers);
	memset(&E.prev, 0, sizeof(E.prev));
	E.prev.process_cpu_ns = cpu_process_ns();
	E.deadline_ns = mono_ns() + cfg->max_duration_ms * 1000000ull;

	struct echo_server_config scfg = {
		.port = cfg->port,
		.ring = cfg->ring,
		.buf_size = cfg->buf_size,
		.buf_count = cfg->buf_count,
		.before_exit = before_ring_exit,
	};
	ret = echo_server_start(&E.server, &scfg);
	if (ret) {
		err->step = E.server.fail_step;
		err->err = ret;
		goto fail;
	}
	E.server_started = 1;

	if (nload) {
		E.load = aligned_alloc(64, sizeof(*E.load) * nload);
		if (!E.load) {
			err->in_load = 1;
			err->step = LOAD_STEP_ALLOC;
			err->err = ret = -ENOMEM;
			goto fail;
		}
		memset(E.load, 0, sizeof(*E.load) * nload);
		for (unsigned i = 0; i < nload; i++)
			E.load[i].wake_fd = -1;
	}

	struct latch latch;
	latch_init(&latch, (int)nload);
	unsigned base = 0;
	for (unsigned i = 0; i < nload; i++) {
		unsigned n = load_thread_conns(cfg, nload, i);
		struct load_config lcfg = {
			.port = (uint16_t)E.server.port,
			.nconns = n,
			.msg_bytes = cfg->msg_bytes,
			.conn_base = base,
			.deadline_ns = E.deadline_ns,
			.before_exit = before_ring_exit,
		};
		base += n;
		__atomic_store_n(&E.nload, i + 1, __ATOMIC_RELEASE);
		if (load_thread_start(&E.load[i], &lcfg, &latch)) {
			/* This one and the ones never started will not count down. */
			for (unsigned j = i; j < nload; j++)
				latch_count_down(&latch);
			break;
		}
	}
	latch_wait(&latch);
	latch_destroy(&latch);
	for (unsigned i = 0; i < E.nload; i++) {
		if (E.load[i].fail_err) {
			err->in_load = 1;
			err->step = E.load[i].fail_step;
			err->err = ret = E.load[i].fail_err;
			goto fail;
		}
	}

	out->port = E.server.port;
	out->ring = E.server.ring;
	out->load_threads = E.nload;
	/* The lock orders everything above before a snapshot that sees RUNNING. */
	finish_state(ENGINE_RUNNING, hold);
	return 0;

fail:
	shutdown_all();
	release_all();
	finish_state(ENGINE_IDLE, hold);
	return ret;
}

int engine_snapshot(struct engine_snapshot *snap)
{
	pthread_mutex_lock(&E.api_lock);
	if (E.state != ENGINE_RUNNING) {
		pthread_mutex_unlock(&E.api_lock);
		return -ENOTCONN;
	}
	take_snapshot(snap);
	pthread_mutex_unlock(&E.api_lock);
	return 0;
}

int engine_stop_begin(void)
{
	int ret = 0;

	pthread_mutex_lock(&E.api_lock);
	if (E.state == ENGINE_IDLE)
		ret = -ENOTCONN;
	else if (E.state != ENGINE_RUNNING)
		ret = -EBUSY;
	else
		set_state_locked(ENGINE_STOPPING);
	pthread_mutex_unlock(&E.api_lock);
	return ret;
}

void engine_stop_finish(struct engine_snapshot *snap, int hold)
{
	struct load_gauges g;

	/* What was in flight when the stop came, not the nothing after the drain. */
	read_load_gauges(&g);
	shutdown_all();
	take_snapshot(snap); /* every thread has exited: this is the final word */
	snap->in_flight = g.in_flight;
	snap->oldest_in_flight_us = g.oldest_us;
	snap->live_load_connections = g.live;
	/* The measured window ends when the load stopped, not after the server's teardown
	 * (with SQPOLL, io_uring_queue_exit waits for the kernel thread to park). */
	snap->monotonic_ns = E.load_stopped_ns;
	snap->running = 0;
	release_all();
	finish_state(ENGINE_IDLE, hold);
}

int engine_stop(struct engine_snapshot *snap)
{
	int ret = engine_stop_begin();

	if (ret)
		return ret;
	engine_stop_finish(snap, 0);
	return 0;
}

int engine_stop_settled(struct engine_snapshot *snap)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SETTLE_TIMEOUT_S;
	pthread_mutex_lock(&E.api_lock);
	/* A held result would be settled by the JS thread that is now tearing
	 * down: settle it here. Only work still running is waited for. */
	settle_locked();
	while (E.state == ENGINE_STARTING || E.state == ENGINE_STOPPING) {
		if (pthread_cond_timedwait(&E.settled, &E.api_lock, &until) == ETIMEDOUT)
			break;
		settle_locked();
	}
	if (E.state != ENGINE_RUNNING) {
		pthread_mutex_unlock(&E.api_lock);
		return -ENOTCONN;
	}
	set_state_locked(ENGINE_STOPPING);
	pthread_mutex_unlock(&E.api_lock);
	engine_stop_finish(snap, 0);
	return 0;
}

/* ---- memory needs ----------------------------------------------------------- */

/*
 * The kernel skips RLIMIT_MEMLOCK accounting for a ring creator capable of
 * CAP_IPC_LOCK in the initial user namespace. Capability sets are read with
 * capget; a full identity uid_map stands for "initial namespace" (root in a
 * container's own namespace is charged like anyone).
 */
static int memlock_exempt(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	unsigned long inside, outside, count;
	int init_ns = 0;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return 0;
	if (!(data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK)))
		return 0;
	FILE *f = fopen("/proc/self/uid_map", "re");
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
		init_ns = inside == 0 && outside == 0 && count == 4294967295ul;
	fclose(f);
	return init_ns;
}

void engine_memory_needs(const struct engine_config *cfg, struct engine_memory *m)
{
	struct memory_needs n;
	struct echo_server_config scfg = {
		.port = cfg->port,
		.ring = cfg->ring,
		.buf_size = cfg->buf_size,
		.buf_count = cfg->buf_count,
	};
	unsigned nload = load_thread_count(cfg);
	struct rlimit rl;

	memset(&n, 0, sizeof(n));
	echo_server_memory(&scfg, cfg->connections, &n);
	for (unsigned i = 0; i < nload; i++)
		load_memory(load_thread_conns(cfg, nload, i), cfg->msg_bytes, &n);

	memset(m, 0, sizeof(*m));
	m->buffer_ring = n.buffer_ring;
	m->load_buffers = n.load_buffers;
	m->rings = n.rings;
	m->conn_state = n.conn_state;
	m->total = n.buffer_ring + n.load_buffers + n.rings + n.conn_state;
	m->memlock_exempt = memlock_exempt();
	m->memlock = m->memlock_exempt ? 0 : n.memlock;
	m->memlock_limit = UINT64_MAX;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		m->memlock_limit = rl.rlim_cur;
}

/* ---- test hooks -------------------------------------------------------------- */

int engine_debug_pause_server(unsigned ms)
{
	int ret = 0;

	pthread_mutex_lock(&E.api_lock);
	if (E.state == ENGINE_RUNNING)
		__atomic_store_n(&E.server.debug_pause_ms, ms, __ATOMIC_RELAXED);
	else
		ret = -ENOTCONN;
	pthread_mutex_unlock(&E.api_lock);
	return ret;
}

int engine_debug_fail_server(int err)
{
	int ret = 0;

	pthread_mutex_lock(&E.api_lock);
	if (E.state == ENGINE_RUNNING)
		__atomic_store_n(&E.server.debug_fail_err, err, __ATOMIC_RELAXED);
	else
		ret = -ENOTCONN;
	pthread_mutex_unlock(&E.api_lock);
	return ret;
}
