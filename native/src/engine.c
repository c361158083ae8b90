/*
 * Start/stop/snapshot orchestration. The JS thread is the only caller, but a
 * mutex still serialises the three entry points (worker_threads could load
 * the addon too). A second lock guards the helper-thread CPU totals, which
 * the server and load threads also update right before their rings go away.
 */
#define _GNU_SOURCE
#include "engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_accounting.h"
#include "echo_server.h"
#include "load_generator.h"
#include "uring_util.h"

/* Cumulative values, kept so snapshots can report deltas without ever
 * resetting a counter that another thread writes. */
struct cumulative {
	uint64_t bytes, load_errors, server_errors, enobufs;
	uint64_t hist[LH_BUCKETS];
	uint64_t server_cpu_ns, load_cpu_ns, process_cpu_ns;
};

static struct {
	pthread_mutex_t api_lock;
	pthread_mutex_t cpu_lock;
	int running;
	struct engine_config cfg;
	struct echo_server server;
	int server_started;
	struct load_thread *load;
	unsigned nload;
	uint64_t deadline_ns;
	uint64_t load_stopped_ns; /* when stop() had joined every load thread */
	struct cpu_helpers helpers;
	struct cumulative prev;
	struct cumulative cur; /* scratch, here to keep ~6 KiB off the stack */
} E = {
	.api_lock = PTHREAD_MUTEX_INITIALIZER,
	.cpu_lock = PTHREAD_MUTEX_INITIALIZER,
};

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
		c->bytes += counter_get(&t->bytes);
		c->load_errors += counter_get(&t->errors);
		c->load_cpu_ns += thread_cpu(t->thread, &t->exited, &t->final_cpu_ns, t->thread_started);
	}
	c->server_errors = counter_get(&E.server.errors);
	c->enobufs = counter_get(&E.server.enobufs);
	c->server_cpu_ns = thread_cpu(E.server.thread, &E.server.exited, &E.server.final_cpu_ns,
				      E.server.thread_started);

	pthread_mutex_lock(&E.cpu_lock);
	scan_helpers_locked();
	c->server_cpu_ns += E.helpers.server_ns;
	c->load_cpu_ns += E.helpers.load_ns;
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

static void take_snapshot(struct engine_snapshot *s)
{
	struct cumulative *c = &E.cur;
	struct cumulative *p = &E.prev;

	read_cumulative(c);
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < LH_BUCKETS; i++) {
		s->hist[i] = delta(&p->hist[i], c->hist[i]);
		s->requests += s->hist[i];
	}
	s->bytes = delta(&p->bytes, c->bytes);
	uint64_t le = delta(&p->load_errors, c->load_errors);
	s->server_errors = delta(&p->server_errors, c->server_errors);
	s->errors = le + s->server_errors;
	s->enobufs = delta(&p->enobufs, c->enobufs);
	s->server_cpu_ns = delta(&p->server_cpu_ns, c->server_cpu_ns);
	s->load_cpu_ns = delta(&p->load_cpu_ns, c->load_cpu_ns);
	s->process_cpu_ns = delta(&p->process_cpu_ns, c->process_cpu_ns);

	s->monotonic_ns = mono_ns();
	s->active_connections = counter_get(&E.server.active);
	s->server_loop_err = __atomic_load_n(&E.server.loop_err, __ATOMIC_RELAXED);

	int load_running = 0;
	for (unsigned i = 0; i < E.nload; i++)
		load_running |= __atomic_load_n(&E.load[i].running, __ATOMIC_ACQUIRE);
	if (E.nload == 0) /* server only: the bound still applies to "running" */
		load_running = s->monotonic_ns < E.deadline_ns;
	s->running = load_running && !__atomic_load_n(&E.server.exited, __ATOMIC_ACQUIRE);
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
	E.running = 0;
}

int engine_start(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err)
{
	int ret = 0;

	memset(err, 0, sizeof(*err));
	pthread_mutex_lock(&E.api_lock);
	if (E.running) {
		pthread_mutex_unlock(&E.api_lock);
		return -EBUSY;
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

	unsigned nload = cfg->connections ? cfg->threads : 0;
	if (nload > cfg->connections)
		nload = cfg->connections;
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
		unsigned n = cfg->connections / nload + (i < cfg->connections % nload);
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

	E.running = 1;
	out->port = E.server.port;
	out->ring = E.server.ring;
	out->load_threads = E.nload;
	pthread_mutex_unlock(&E.api_lock);
	return 0;

fail:
	shutdown_all();
	release_all();
	pthread_mutex_unlock(&E.api_lock);
	return ret;
}

int engine_snapshot(struct engine_snapshot *snap)
{
	pthread_mutex_lock(&E.api_lock);
	if (!E.running) {
		pthread_mutex_unlock(&E.api_lock);
		return -ENOTCONN;
	}
	take_snapshot(snap);
	pthread_mutex_unlock(&E.api_lock);
	return 0;
}

int engine_stop(struct engine_snapshot *snap)
{
	pthread_mutex_lock(&E.api_lock);
	if (!E.running) {
		pthread_mutex_unlock(&E.api_lock);
		return -ENOTCONN;
	}
	shutdown_all();
	take_snapshot(snap); /* every thread has exited: this is the final word */
	/* The measured window ends when the load stopped, not after the server's teardown
	 * (with SQPOLL, io_uring_queue_exit waits for the kernel thread to park). */
	snap->monotonic_ns = E.load_stopped_ns;
	snap->running = 0;
	release_all();
	pthread_mutex_unlock(&E.api_lock);
	return 0;
}
