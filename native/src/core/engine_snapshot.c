/*
 * Reading the engine: counters and histograms as deltas since the previous snapshot, the
 * gauges, and CPU time of our threads and their io_uring helpers. Called with api_lock held
 * while RUNNING (or by the stopping thread), so nothing it reads can be freed meanwhile. A
 * second lock, cpu_lock, guards the helper-thread CPU totals, which the server and load
 * threads also update right before their rings go away.
 */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/counters.h"
#include "core/engine_state.h"
#include "loads/storage_load.h"

/* The server workers' tids (at most SERVER_WORKERS_MAX); how many. */
static int server_tids(struct engine *eng, pid_t *tids)
{
	/* May run on a worker thread while the engine is still starting the others. */
	unsigned n = __atomic_load_n(&eng->nservers, __ATOMIC_ACQUIRE);

	if (n > SERVER_WORKERS_MAX)
		n = SERVER_WORKERS_MAX;
	for (unsigned i = 0; i < n; i++)
		tids[i] = __atomic_load_n(&eng->servers[i].worker.tid, __ATOMIC_RELAXED);
	return (int)n;
}

/* Walks /proc/self/task for io_uring helpers; under cpu_lock. */
static void scan_helpers_locked(struct engine *eng)
{
	pid_t tids[LOAD_THREADS_MAX], stids[SERVER_WORKERS_MAX];
	/* May run on a load thread while the engine is still adding threads. */
	unsigned n = __atomic_load_n(&eng->nload, __ATOMIC_ACQUIRE);
	int ns = server_tids(eng, stids);

	if (n > LOAD_THREADS_MAX)
		n = LOAD_THREADS_MAX;
	for (unsigned i = 0; i < n; i++)
		tids[i] = __atomic_load_n(&eng->load[i].worker.tid, __ATOMIC_RELAXED);
	cpu_helpers_scan(&eng->helpers, stids, ns, tids, (int)n);
}

/* Worker i's user/system time now, kept if it went up (under cpu_lock). A worker that has
 * exited keeps its last reading, taken on its own thread just before its ring went away. */
static void read_worker_times_locked(struct engine *eng, unsigned i, pid_t tid)
{
	uint64_t u, sy;

	if (tid <= 0 || cpu_tid_user_sys_ns(tid, &u, &sy))
		return;
	if (u > eng->times[i].user_ns)
		eng->times[i].user_ns = u;
	if (sy > eng->times[i].sys_ns)
		eng->times[i].sys_ns = sy;
}

void engine_before_ring_exit(void *engine)
{
	struct engine *eng = engine;
	pid_t stids[SERVER_WORKERS_MAX];
	pid_t self = gettid();
	int ns;

	pthread_mutex_lock(&eng->cpu_lock);
	scan_helpers_locked(eng);
	ns = server_tids(eng, stids);
	for (int i = 0; i < ns; i++)
		if (stids[i] == self)
			read_worker_times_locked(eng, (unsigned)i, self);
	pthread_mutex_unlock(&eng->cpu_lock);
}

void engine_reset_counters(struct engine *eng)
{
	cpu_helpers_init(&eng->helpers);
	memset(&eng->prev, 0, sizeof(eng->prev));
	memset(eng->times, 0, sizeof(eng->times));
	eng->prev.process_cpu_ns = cpu_process_ns();
	eng->segs_read_ns = mono_ns();
	eng->segs_requests = 0;
	eng->segs_read_next = 0;
}

static void read_server_counters(struct engine *eng, struct cumulative *c)
{
	for (unsigned i = 0; i < eng->nservers; i++) {
		struct server *s = &eng->servers[i];
		c->server_errors += counter_get(&s->errors);
		c->enobufs += counter_get(&s->enobufs);
		c->server_cpu_ns += worker_cpu_ns(&s->worker);
		c->enters += counter_get(&s->enters);
		c->batched_waits += counter_get(&s->batched_waits);
		c->cqes += counter_get(&s->cqes);
		c->recv_cqes += counter_get(&s->recv_cqes);
		c->sends += counter_get(&s->sends);
		c->bytes_out += counter_get(&s->bytes_out);
		c->zc_sends += counter_get(&s->zc_sends);
		c->zc_copied += counter_get(&s->zc_copied);
		c->zc_fallbacks += counter_get(&s->zc_fallbacks);
		c->rearms += counter_get(&s->rearms);
		c->spilled_bytes += counter_get(&s->spilled_bytes);
		c->cq_overflows += counter_get(&s->cq_overflows);
		for (unsigned k = 0; k < SERVER_ERR_OPS; k++)
			c->errors_by_op[k] += counter_get(&s->errors_by_op[k]);
	}
}

/*
 * The SQPOLL threads' work time so far (ns), into *work_ns: each thread is read through the
 * ring that owns it, and a server keeps its last good reading after its ring has gone.
 * Returns 1 when some SQPOLL thread reported it, 0 otherwise (no SQPOLL, or a kernel without
 * SqWorkTime).
 */
static int read_sqpoll_work(struct engine *eng, uint64_t *work_ns)
{
	uint64_t us = 0;
	int known = 0;

	for (unsigned i = 0; i < eng->nservers; i++) {
		struct sqpoll_stats st;

		if (server_sqpoll_stats(&eng->servers[i], &st) == 0) {
			us += st.work_us;
			known = 1;
		}
	}
	*work_ns = us * 1000;
	return known;
}

static void read_cumulative(struct engine *eng, struct cumulative *c)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < eng->nload; i++) {
		struct load *l = &eng->load[i];
		uint64_t completed = lh_accumulate(&l->hist, c->hist);
		/* Per connection, right after the histogram: the same completions, as near as two reads
		 * of a running thread can be (engine_connection_echoes). */
		if (l->cfg.echoes)
			for (unsigned k = 0; k < l->cfg.nconns; k++)
				eng->conn_echoes[eng->nconn_echoes + l->cfg.conn_base + k] =
					__atomic_load_n(&l->cfg.echoes[k], __ATOMIC_RELAXED);
		lh_accumulate(&l->corrected, c->chist);
		/* Only whole transfers are recorded (an echo round trip of the message size, a storage
		 * I/O of the block size; a short one is an error), so bytes are the completions this
		 * histogram read counted times that size, not a counter read after it: the thread
		 * goes on completing between two reads, and such a counter ran ahead of the requests
		 * (8 of 401 back-to-back snapshots; a measured window 6 requests apart in 131k). */
		c->bytes += completed * (l->cfg.storage ? l->cfg.storage->block_bytes : l->cfg.msg_bytes);
		c->load_errors += counter_get(&l->errors);
		c->load_mismatches += counter_get(&l->mismatches);
		c->load_timeouts += counter_get(&l->timeouts);
		c->load_thread_ns[i] = worker_cpu_ns(&l->worker);
		c->load_own_ns[i] = c->load_thread_ns[i];
	}
	read_server_counters(eng, c);

	pthread_mutex_lock(&eng->cpu_lock);
	scan_helpers_locked(eng);
	c->server_cpu_ns += eng->helpers.server_ns;
	c->sqpoll_cpu_ns = eng->helpers.server_sqpoll_ns;
	for (unsigned i = 0; i < eng->nservers; i++) {
		struct worker *w = &eng->servers[i].worker;
		if (!__atomic_load_n(&w->exited, __ATOMIC_ACQUIRE))
			read_worker_times_locked(eng, i, __atomic_load_n(&w->tid, __ATOMIC_RELAXED));
		c->server_user_ns += eng->times[i].user_ns;
		c->server_sys_ns += eng->times[i].sys_ns;
	}
	/* A load thread's io-wq helpers count as that thread's CPU. */
	for (unsigned i = 0; i < eng->nload; i++)
		c->load_thread_ns[i] += eng->helpers.load_ns_by[i];
	pthread_mutex_unlock(&eng->cpu_lock);

	c->process_cpu_ns = cpu_process_ns();
}

/* How often a snapshot reads the TCP segments (and the final one always). */
#define SEGMENTS_READ_EVERY_NS (1000ull * 1000 * 1000)

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
	/* A server loop's death is one server error (of kind "other"), counted here from the
	 * loop_err this snapshot reads and reports: the cumulative count holds it from the first
	 * snapshot that sees it, so exactly that snapshot counts it. Counted by the loop beside its
	 * other errors, a snapshot that read the counters just after the count and loop_err just
	 * before the publication counted it, and the next one reported the death with 0 errors. */
	int loop_err = 0;
	unsigned deaths = 0;

	for (unsigned i = 0; i < eng->nservers; i++) {
		int err = __atomic_load_n(&eng->servers[i].loop_err, __ATOMIC_ACQUIRE);
		if (err) {
			deaths++;
			if (!loop_err)
				loop_err = err;
		}
	}

	read_cumulative(eng, c);
	int sqpoll_work_known = read_sqpoll_work(eng, &c->sqpoll_work_ns);
	/* Segments: only in the snapshot that reads them (see segs_read_ns). */
	uint64_t read_at = mono_ns();
	int segs_read = eng->nservers && (eng->segs_read_next || read_at - eng->segs_read_ns >= SEGMENTS_READ_EVERY_NS);
	int segs_known = segs_read && tcp_segments_read(&eng->segments, &c->segs) == 0;
	if (segs_read) {
		eng->segs_read_ns = read_at;
		eng->segs_read_next = 0;
	}
	c->server_errors += deaths;
	c->errors_by_op[SERVER_ERR_OTHER] += deaths;
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < LH_BUCKETS; i++) {
		s->hist[i] = delta(&p->hist[i], c->hist[i]);
		s->requests += s->hist[i];
		s->corrected_hist[i] = delta(&p->chist[i], c->chist[i]);
	}
	s->bytes = delta(&p->bytes, c->bytes);
	uint64_t load_errors = delta(&p->load_errors, c->load_errors);
	s->mismatches = delta(&p->load_mismatches, c->load_mismatches);
	s->timeouts = delta(&p->load_timeouts, c->load_timeouts);
	s->server_errors = delta(&p->server_errors, c->server_errors);
	s->errors = load_errors + s->server_errors;
	s->enobufs = delta(&p->enobufs, c->enobufs);
	s->server_cpu_ns = delta(&p->server_cpu_ns, c->server_cpu_ns);
	/* loadCpuNs is the sum of the per-thread deltas, so the two always agree. */
	s->load_threads = eng->nload;
	for (unsigned i = 0; i < eng->nload; i++) {
		s->load_thread_cpu_ns[i] = delta(&p->load_thread_ns[i], c->load_thread_ns[i]);
		s->load_cpu_ns += s->load_thread_cpu_ns[i];
		s->load_thread_busy_ns[i] = delta(&p->load_own_ns[i], c->load_own_ns[i]);
	}
	s->process_cpu_ns = delta(&p->process_cpu_ns, c->process_cpu_ns);
	s->enters = delta(&p->enters, c->enters);
	s->batched_waits = delta(&p->batched_waits, c->batched_waits);
	s->cqes = delta(&p->cqes, c->cqes);
	s->recv_cqes = delta(&p->recv_cqes, c->recv_cqes);
	s->sends = delta(&p->sends, c->sends);
	s->bytes_out = delta(&p->bytes_out, c->bytes_out);
	s->zc_sends = delta(&p->zc_sends, c->zc_sends);
	s->zc_copied = delta(&p->zc_copied, c->zc_copied);
	s->zc_fallbacks = delta(&p->zc_fallbacks, c->zc_fallbacks);
	s->rearms = delta(&p->rearms, c->rearms);
	s->spilled_bytes = delta(&p->spilled_bytes, c->spilled_bytes);
	s->cq_overflows = delta(&p->cq_overflows, c->cq_overflows);
	for (unsigned k = 0; k < SERVER_ERR_OPS; k++)
		s->errors_by_op[k] = delta(&p->errors_by_op[k], c->errors_by_op[k]);
	s->server_user_ns = delta(&p->server_user_ns, c->server_user_ns);
	s->server_sys_ns = delta(&p->server_sys_ns, c->server_sys_ns);
	s->sqpoll_cpu_ns = delta(&p->sqpoll_cpu_ns, c->sqpoll_cpu_ns);
	s->sqpoll_work_ns = delta(&p->sqpoll_work_ns, c->sqpoll_work_ns);
	s->sqpoll_work_known = sqpoll_work_known;
	eng->segs_requests += s->requests;
	if (segs_known) {
		s->segs.out = delta(&p->segs.out, c->segs.out);
		s->segs.in = delta(&p->segs.in, c->segs.in);
		s->segs.data_out = delta(&p->segs.data_out, c->segs.data_out);
		s->segs.data_in = delta(&p->segs.data_in, c->segs.data_in);
		s->segs_requests = eng->segs_requests;
		eng->segs_requests = 0;
		/* Words lost since the last read: this span's counts fall short by what the lost
		 * sockets did last. Not reported as a count at all (the next span starts clean), so a
		 * sum over the spans that counted, and its requests, stays right. */
		if (delta(&p->segs.words_lost, c->segs.words_lost)) {
			segs_known = 0;
			s->segs_lost = 1;
		}
	}
	s->segs_known = segs_known;

	engine_read_load_gauges(eng, &g);
	s->in_flight = g.in_flight;
	s->oldest_in_flight_us = g.oldest_us;
	s->live_load_connections = g.live;
	s->monotonic_ns = mono_ns();
	s->workers = eng->nservers;
	for (unsigned i = 0; i < eng->nservers; i++) {
		struct server *sv = &eng->servers[i];
		s->worker_accepted[i] = counter_get(&sv->accepted);
		s->worker_active[i] = counter_get(&sv->active);
		s->active_connections += s->worker_active[i];
		s->bufs_in_use += counter_get(&sv->bufs_in_use);
		s->bufs_peak += counter_get(&sv->bufs_peak);
		s->bufs_total += counter_get(&sv->bufs_total);
		s->bufs_in_ring += counter_get(&sv->bufs_in_ring);
	}
	if (eng->nservers)
		s->peak_connections = __atomic_load_n(&eng->conns.peak, __ATOMIC_RELAXED);
	s->server_loop_err = loop_err;
	/* No server of ours (a target): the open connections are the load's. */
	if (!eng->nservers)
		s->active_connections = g.live;

	int load_running = 0;
	for (unsigned i = 0; i < eng->nload; i++)
		load_running |= __atomic_load_n(&eng->load[i].running, __ATOMIC_ACQUIRE);
	if (eng->nload == 0) /* server only: the bound still applies to "running" */
		load_running = s->monotonic_ns < eng->deadline_ns;
	/* A dead server loop ends the run now, not once its drain (up to 2 s)
	 * and teardown have let the thread exit. */
	int servers_up = 1;
	for (unsigned i = 0; i < eng->nservers; i++)
		servers_up &= !__atomic_load_n(&eng->servers[i].worker.exited, __ATOMIC_ACQUIRE);
	/* A loop that died after loop_err was read above, and whose thread has already exited (its
	 * drain was quick): its death and its error count belong to the next snapshot, which reads
	 * both; this one must not say "stopped" without saying why. */
	if (!servers_up && !loop_err) {
		for (unsigned i = 0; i < eng->nservers; i++)
			if (__atomic_load_n(&eng->servers[i].loop_err, __ATOMIC_ACQUIRE))
				servers_up = 1;
	}
	s->running = load_running && !s->server_loop_err && servers_up;
}
