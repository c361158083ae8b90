/*
 * Reading the engine: counters and histograms as deltas since the previous snapshot, the
 * gauges, and CPU time of our threads and their io_uring helpers. Called with api_lock held
 * while RUNNING (or by the stopping thread), so nothing it reads can be freed meanwhile. A
 * second lock, cpu_lock, guards the helper-thread CPU totals, which the server and load
 * threads also update right before their rings go away.
 */
#include <string.h>

#include "core/clock.h"
#include "core/counters.h"
#include "core/engine_state.h"

/* Walks /proc/self/task for io_uring helpers; under cpu_lock. */
static void scan_helpers_locked(struct engine *eng)
{
	pid_t tids[LOAD_THREADS_MAX];
	/* May run on a load thread while the engine is still adding threads. */
	unsigned n = __atomic_load_n(&eng->nload, __ATOMIC_ACQUIRE);

	if (n > LOAD_THREADS_MAX)
		n = LOAD_THREADS_MAX;
	for (unsigned i = 0; i < n; i++)
		tids[i] = __atomic_load_n(&eng->load[i].worker.tid, __ATOMIC_RELAXED);
	cpu_helpers_scan(&eng->helpers, __atomic_load_n(&eng->server.worker.tid, __ATOMIC_RELAXED), tids, (int)n);
}

void engine_before_ring_exit(void *engine)
{
	struct engine *eng = engine;

	pthread_mutex_lock(&eng->cpu_lock);
	scan_helpers_locked(eng);
	pthread_mutex_unlock(&eng->cpu_lock);
}

void engine_reset_counters(struct engine *eng)
{
	cpu_helpers_init(&eng->helpers);
	memset(&eng->prev, 0, sizeof(eng->prev));
	eng->prev.process_cpu_ns = cpu_process_ns();
}

static void read_cumulative(struct engine *eng, struct cumulative *c)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < eng->nload; i++) {
		struct load *l = &eng->load[i];
		lh_accumulate(&l->hist, c->hist);
		lh_accumulate(&l->corrected, c->chist);
		c->bytes += counter_get(&l->bytes);
		c->load_errors += counter_get(&l->errors);
		c->load_thread_ns[i] = worker_cpu_ns(&l->worker);
	}
	c->server_errors = counter_get(&eng->server.errors);
	c->enobufs = counter_get(&eng->server.enobufs);
	c->server_cpu_ns = worker_cpu_ns(&eng->server.worker);

	pthread_mutex_lock(&eng->cpu_lock);
	scan_helpers_locked(eng);
	c->server_cpu_ns += eng->helpers.server_ns;
	/* A load thread's io-wq helpers count as that thread's CPU. */
	for (unsigned i = 0; i < eng->nload; i++)
		c->load_thread_ns[i] += eng->helpers.load_ns_by[i];
	pthread_mutex_unlock(&eng->cpu_lock);

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

void engine_read_load_gauges(struct engine *eng, struct load_gauges *g)
{
	uint64_t oldest = UINT64_MAX;

	memset(g, 0, sizeof(*g));
	for (unsigned i = 0; i < eng->nload; i++) {
		g->in_flight += load_inflight(&eng->load[i], &oldest);
		g->live += counter_get(&eng->load[i].live_conns);
	}
	/* Read after the scan: every t0 seen was stamped before this. */
	uint64_t now = mono_ns();
	if (g->in_flight)
		g->oldest_us = now > oldest ? lh_ns_to_us(now - oldest) : 0;
}

void engine_take_snapshot(struct engine *eng, struct engine_snapshot *s)
{
	struct cumulative *c = &eng->cur;
	struct cumulative *p = &eng->prev;
	struct load_gauges g;
	/* Before the counters: the snapshot that reports the loop's death also
	 * counts its error (the server counts, then publishes). */
	int loop_err = __atomic_load_n(&eng->server.loop_err, __ATOMIC_ACQUIRE);

	read_cumulative(eng, c);
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < LH_BUCKETS; i++) {
		s->hist[i] = delta(&p->hist[i], c->hist[i]);
		s->requests += s->hist[i];
		s->corrected_hist[i] = delta(&p->chist[i], c->chist[i]);
	}
	s->bytes = delta(&p->bytes, c->bytes);
	uint64_t load_errors = delta(&p->load_errors, c->load_errors);
	s->server_errors = delta(&p->server_errors, c->server_errors);
	s->errors = load_errors + s->server_errors;
	s->enobufs = delta(&p->enobufs, c->enobufs);
	s->server_cpu_ns = delta(&p->server_cpu_ns, c->server_cpu_ns);
	/* loadCpuNs is the sum of the per-thread deltas, so the two always agree. */
	s->load_threads = eng->nload;
	for (unsigned i = 0; i < eng->nload; i++) {
		s->load_thread_cpu_ns[i] = delta(&p->load_thread_ns[i], c->load_thread_ns[i]);
		s->load_cpu_ns += s->load_thread_cpu_ns[i];
	}
	s->process_cpu_ns = delta(&p->process_cpu_ns, c->process_cpu_ns);

	engine_read_load_gauges(eng, &g);
	s->in_flight = g.in_flight;
	s->oldest_in_flight_us = g.oldest_us;
	s->live_load_connections = g.live;
	s->monotonic_ns = mono_ns();
	s->active_connections = counter_get(&eng->server.active);
	s->server_loop_err = loop_err;

	int load_running = 0;
	for (unsigned i = 0; i < eng->nload; i++)
		load_running |= __atomic_load_n(&eng->load[i].running, __ATOMIC_ACQUIRE);
	if (eng->nload == 0) /* server only: the bound still applies to "running" */
		load_running = s->monotonic_ns < eng->deadline_ns;
	/* A dead server loop ends the run now, not once its drain (up to 2 s)
	 * and teardown have let the thread exit. */
	s->running = load_running && !s->server_loop_err &&
		     !__atomic_load_n(&eng->server.worker.exited, __ATOMIC_ACQUIRE);
}
