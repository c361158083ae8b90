/*
 * Start/stop orchestration and the state word.
 *
 * The state word (IDLE/STARTING/RUNNING/STOPPING) changes only under
 * api_lock, and whoever moved it to STARTING or STOPPING owns the engine
 * until it moves it on: that thread does the slow part (connects, joins,
 * 2 s drains) without the lock, so snapshot() never waits for it and just
 * answers -ENOTCONN. snapshot() holds the lock while it reads, so a stop
 * cannot free what it is reading (engine_snapshot.c does the reading).
 */
#include "core/engine.h"

#include <errno.h>
#include <liburing.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/engine_state.h"
#include "core/fd_limit.h"
#include "core/latch.h"
#include "core/start_cancel.h"

/* How long teardown waits for a start or stop in progress. */
#define SETTLE_TIMEOUT_S 30

static struct engine engine = {
	.api_lock = PTHREAD_MUTEX_INITIALIZER,
	.settled = PTHREAD_COND_INITIALIZER,
	.cpu_lock = PTHREAD_MUTEX_INITIALIZER,
	.segments = TCP_SEGMENTS_INITIALIZER,
};

/* Every server and load thread scans the CPU of its io_uring helpers before its ring exits. */
static const struct worker_hook before_ring_exit = { engine_before_ring_exit, &engine };

static void set_state_locked(int state)
{
	__atomic_store_n(&engine.state, state, __ATOMIC_RELEASE);
	if (state == ENGINE_IDLE || state == ENGINE_RUNNING)
		pthread_cond_broadcast(&engine.settled);
}

/* End of a start or stop: move on now, or remember where to for engine_settle(). */
static void finish_state(int state, int hold)
{
	pthread_mutex_lock(&engine.api_lock);
	if (hold) {
		engine.held = 1;
		engine.settle_to = state;
		pthread_cond_broadcast(&engine.settled); /* engine_stop_settled() settles it */
	} else {
		set_state_locked(state);
	}
	pthread_mutex_unlock(&engine.api_lock);
}

static void settle_locked(void)
{
	if (engine.held) {
		engine.held = 0;
		set_state_locked(engine.settle_to);
	}
}

void engine_settle(void)
{
	pthread_mutex_lock(&engine.api_lock);
	settle_locked();
	pthread_mutex_unlock(&engine.api_lock);
}

int engine_state(void)
{
	return __atomic_load_n(&engine.state, __ATOMIC_ACQUIRE);
}

/* Joins everything started so far; the load threads first, so their
 * connections are closed while the servers still answer. Every worker is woken before any
 * is joined, so their drains run side by side. */
static void shutdown_all(void)
{
	for (unsigned i = 0; i < engine.nload; i++)
		worker_wake(&engine.load[i].worker);
	for (unsigned i = 0; i < engine.nload; i++)
		load_join(&engine.load[i]);
	engine.load_stopped_ns = mono_ns();
	/* The server's segments up to the load's stop, while its connections are still there to
	 * read (the final snapshot comes after the workers closed them). */
	if (engine.nservers) {
		struct tcp_segment_counts ignored;
		tcp_segments_read(&engine.segments, &ignored);
	}
	for (unsigned i = 0; i < engine.nservers; i++)
		worker_wake(&engine.servers[i].worker);
	for (unsigned i = 0; i < engine.nservers; i++)
		server_stop(&engine.servers[i]);
}

static void release_all(void)
{
	free(engine.load);
	engine.load = NULL;
	engine.nload = 0;
	/* snapshot() only reads the servers while RUNNING, and the state word says we are not. */
	free(engine.servers);
	engine.servers = NULL;
	engine.nservers = 0;
	tcp_segments_close(&engine.segments);
	engine.started_servers = 0;
}

int engine_start_cancel_flag;

int engine_start_cancel(void)
{
	int ret = -ENOTCONN;

	pthread_mutex_lock(&engine.api_lock);
	if (engine.state == ENGINE_STARTING) {
		__atomic_store_n(&engine_start_cancel_flag, 1, __ATOMIC_RELAXED);
		ret = 0;
	}
	pthread_mutex_unlock(&engine.api_lock);
	return ret;
}

/* A start that failed while it was called off failed because of that (a set-up step that
 * saw the flag unwound with -ECANCELED, and the steps after it saw nothing to do): say so. */
static int cancelled_start(int ret, struct engine_error *err)
{
	if (!start_cancelled())
		return ret;
	err->at = (struct start_error){ STEP_START_CANCELLED, -ECANCELED };
	return -ECANCELED;
}

int engine_start_begin(void)
{
	int ret = 0;

	pthread_mutex_lock(&engine.api_lock);
	if (engine.state != ENGINE_IDLE)
		ret = -EBUSY;
	else {
		__atomic_store_n(&engine_start_cancel_flag, 0, __ATOMIC_RELAXED);
		set_state_locked(ENGINE_STARTING);
		engine.starts++;
	}
	pthread_mutex_unlock(&engine.api_lock);
	return ret;
}

void engine_start_abandon(void)
{
	pthread_mutex_lock(&engine.api_lock);
	if (engine.state == ENGINE_STARTING)
		set_state_locked(ENGINE_IDLE);
	pthread_mutex_unlock(&engine.api_lock);
}

int engine_start(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err)
{
	int ret = engine_start_begin();

	if (ret) {
		memset(err, 0, sizeof(*err));
		err->at = (struct start_error){ STEP_ENGINE_BUSY, ret };
		return ret;
	}
	return engine_start_finish(cfg, out, err, 0);
}

void engine_server_config(const struct engine_config *cfg, struct server_config *out)
{
	*out = cfg->server;
	if (out->workers < 1)
		out->workers = 1;
	/*
	 * The CQ holds every completion the kernel may post before the loop reaps: at most one
	 * data-carrying recv CQE per provided buffer, plus per connection an EOF or error CQE and a
	 * send CQE. SO_REUSEPORT promises no balance, so each worker is sized as if every
	 * connection were its own; then multishot never overflows in steady state.
	 */
	out->ring.cq_min = cfg->server.buf_count + 2 * cfg->load.connections;
}

/* Starts servers [from, to) and waits until each listens (or gave up); 0 or the first failure. */
static int start_server_group(unsigned from, unsigned to, struct engine_error *err)
{
	struct latch ready;

	latch_init(&ready, (int)(to - from));
	for (unsigned i = from; i < to; i++) {
		if (server_start(&engine.servers[i], &ready)) {
			/* This one and the ones never started will not count down. */
			for (unsigned j = i; j < to; j++)
				latch_count_down(&ready);
			break;
		}
		engine.started_servers = i + 1;
	}
	latch_wait(&ready);
	latch_destroy(&ready);
	for (unsigned i = from; i < to; i++) {
		if (engine.servers[i].worker.fail.err) {
			err->at = engine.servers[i].worker.fail;
			return err->at.err;
		}
	}
	return 0;
}

/*
 * Starts the server workers and waits until each listens (or gave up). Worker 0 goes first:
 * the others bind the port it got, and with sqpoll.shared attach to its ring's SQPOLL thread
 * (IORING_SETUP_ATTACH_WQ with its ring fd). A failure of any worker fails the start; the
 * caller stops every worker started.
 */
static int start_servers(const struct engine_config *cfg, struct engine_error *err)
{
	struct server_config scfg;
	int ret;

	engine_server_config(cfg, &scfg);
	engine.servers = calloc(scfg.workers, sizeof(*engine.servers));
	if (!engine.servers) {
		err->at = (struct start_error){ STEP_SERVER_THREAD, -ENOMEM };
		return -ENOMEM;
	}
	engine.conns = (struct conn_gauge){ 0 };
	tcp_segments_reset(&engine.segments);
	for (unsigned i = 0; i < scfg.workers; i++) {
		server_init(&engine.servers[i], &scfg, i, &before_ring_exit);
		engine.servers[i].gauge = &engine.conns;
		engine.servers[i].segments = &engine.segments;
	}
	__atomic_store_n(&engine.nservers, scfg.workers, __ATOMIC_RELEASE);

	ret = start_server_group(0, 1, err);
	if (ret || scfg.workers == 1)
		return ret;
	struct server *first = &engine.servers[0];
	for (unsigned i = 1; i < scfg.workers; i++) {
		struct server *s = &engine.servers[i];
		s->cfg.port = (uint16_t)first->port;
		/* Only an SQPOLL thread is worth sharing; without one there is nothing to attach to. */
		if (scfg.sqpoll_shared && first->ring.sqpoll && first->ring_fd >= 0) {
			s->attach_wq = 1;
			s->wq_fd = first->ring_fd;
		}
	}
	return start_server_group(1, scfg.workers, err);
}

static int has_refusal(const struct ring_setup_result *r, unsigned flag)
{
	for (int i = 0; i < r->nrefused; i++)
		if (r->refused[i].flag == flag)
			return 1;
	return 0;
}

/* The SQPOLL refusal's errno of worker 0 (why sharing it was moot), else -EINVAL. */
static int sqpoll_err(const struct ring_setup_result *r)
{
	for (int i = 0; i < r->nrefused; i++)
		if (r->refused[i].flag == IORING_SETUP_SQPOLL)
			return r->refused[i].err;
	return -EINVAL;
}

/* What the start reports: worker 0's ring, what every worker got, each one's placement. */
static void report_started(const struct engine_config *cfg, struct engine_started *out)
{
	const struct server *first = &engine.servers[0];

	if (!engine.nservers) {
		/* A target: no ring, no worker of ours; the port the load connected to. */
		memset(&out->ring, 0, sizeof(out->ring));
		out->ring.sqpoll_cpu = -1;
		out->ring.numa_node = -1;
		out->ring.cpu = -1;
		out->port = cfg->target.port;
		out->workers = 0;
		return;
	}
	out->port = first->port;
	out->ring = first->ring;
	out->workers = engine.nservers;
	for (unsigned i = 0; i < engine.nservers; i++) {
		const struct server *s = &engine.servers[i];
		out->worker_tid[i] = __atomic_load_n(&s->worker.tid, __ATOMIC_RELAXED);
		out->worker_cpu[i] = s->ring.cpu;
		out->worker_node[i] = s->ring.numa_node;
		out->worker_attached[i] = s->ring.attached_wq;
		if (i == 0)
			continue;
		/* A setting counts as applied only if every worker got it: each ring sets up (and is
		 * refused) on its own, and with 2 huge pages reserved and 2 rings of one page-sized
		 * pool each, worker 0 got them and worker 1 did not, which read as applied beside its
		 * refusal. */
		out->ring.flags &= s->ring.flags;
		out->ring.sqpoll &= s->ring.sqpoll;
		if (s->ring.sqpoll_cpu != out->ring.sqpoll_cpu)
			out->ring.sqpoll_cpu = -1;
		out->ring.registered_fd &= s->ring.registered_fd;
		out->ring.iopoll &= s->ring.iopoll;
		out->ring.hugepages &= s->ring.hugepages;
		out->ring.multishot &= s->ring.multishot;
		out->ring.recv_on_ready &= s->ring.recv_on_ready;
		out->ring.recv_bundle &= s->ring.recv_bundle;
		out->ring.buf_incremental &= s->ring.buf_incremental;
		out->ring.send_zc &= s->ring.send_zc;
		out->ring.registered_buffers &= s->ring.registered_buffers;
		out->ring.direct_descriptors &= s->ring.direct_descriptors;
		out->ring.napi &= s->ring.napi;
		out->ring.quiet_sends &= s->ring.quiet_sends;
		if (s->ring.min_wait_us != out->ring.min_wait_us)
			out->ring.min_wait_us = 0;
		/* server.socket: what every worker's listener holds (the least granted buffer). */
		if (strcmp(s->ring.congestion, out->ring.congestion))
			memset(out->ring.congestion, 0, sizeof(out->ring.congestion));
		if (s->ring.rcvbuf < out->ring.rcvbuf)
			out->ring.rcvbuf = s->ring.rcvbuf;
		if (s->ring.sndbuf < out->ring.sndbuf)
			out->ring.sndbuf = s->ring.sndbuf;
		if (s->ring.numa_node != out->ring.numa_node)
			out->ring.numa_node = -1;
		for (int j = 0; j < s->ring.nrefused; j++)
			if (!has_refusal(&out->ring, s->ring.refused[j].flag))
				ring_refuse(&out->ring, s->ring.refused[j].flag, s->ring.refused[j].err, s->ring.refused[j].cause);
	}
	/* sqpoll.shared: every other ring attached to worker 0's SQPOLL thread. */
	out->ring.attached_wq = first->ring.sqpoll;
	for (unsigned i = 1; i < engine.nservers; i++)
		out->ring.attached_wq &= engine.servers[i].ring.attached_wq;
	if (cfg->server.sqpoll_shared && cfg->server.engine == SERVER_ENGINE_IO_URING && !first->ring.sqpoll &&
	    !has_refusal(&out->ring, RING_SETUP_ATTACH_WQ))
		ring_refuse(&out->ring, RING_SETUP_ATTACH_WQ, sqpoll_err(&first->ring), REFUSAL_MOOT_WITHOUT_SQPOLL);
}

/*
 * Starts nload load threads, thread i with configs[i], and waits until every one is up
 * (connected, or its first I/O done) or gave up. A start that fails still counts the latch
 * down for itself and every thread after it, so the wait always ends.
 */
static int start_load_threads(const struct load_ops *ops, const struct load_config *configs, unsigned nload,
			      struct engine_error *err)
{
	struct latch ready;

	engine.load = aligned_alloc(64, sizeof(*engine.load) * nload);
	if (!engine.load) {
		err->at = (struct start_error){ STEP_LOAD_ALLOC, -ENOMEM };
		return -ENOMEM;
	}
	latch_init(&ready, (int)nload);
	for (unsigned i = 0; i < nload; i++) {
		struct load *l = &engine.load[i];
		int ret = load_init(l, ops, &configs[i], &before_ring_exit);
		__atomic_store_n(&engine.nload, i + 1, __ATOMIC_RELEASE);
		if (ret == 0)
			ret = load_start(l, &ready);
		if (ret) {
			/* This one and the ones never started will not count down. */
			for (unsigned j = i; j < nload; j++)
				latch_count_down(&ready);
			break;
		}
	}
	latch_wait(&ready);
	latch_destroy(&ready);
	for (unsigned i = 0; i < engine.nload; i++) {
		if (engine.load[i].worker.fail.err) {
			err->at = engine.load[i].worker.fail;
			return err->at.err;
		}
	}
	return 0;
}

/* Starts nload echo load threads and waits until every one is connected (or gave up). */
static int start_loads(const struct engine_config *cfg, unsigned nload, struct engine_error *err)
{
	struct load_config configs[LOAD_THREADS_MAX];
	unsigned base = 0;

	if (!nload)
		return 0;
	engine.conn_echoes = calloc(2 * (size_t)cfg->load.connections, sizeof(*engine.conn_echoes));
	if (!engine.conn_echoes) {
		err->at = (struct start_error){ STEP_LOAD_ALLOC, -ENOMEM };
		return -ENOMEM;
	}
	engine.nconn_echoes = cfg->load.connections;
	for (unsigned i = 0; i < nload; i++) {
		struct load_config lcfg = {
			/* A target (uring-lab load) instead of our own worker 0's port on 127.0.0.1. */
			.port = cfg->target.enabled ? cfg->target.port : (uint16_t)engine.servers[0].port,
			/* Our own server bound to one address (topology "veth": the namespace's end of
			 * the pair) is reached there; 0 (also for --bind 0.0.0.0) is 127.0.0.1. */
			.addr = cfg->target.enabled ? cfg->target.addr : cfg->server.bind_given ? cfg->server.bind_addr : 0,
			.nconns = load_thread_conns(cfg->load.connections, nload, i),
			.msg_bytes = cfg->load.msg_bytes,
			.conn_base = base,
			.deadline_ns = engine.deadline_ns,
			.mode = cfg->load.mode,
			.pipeline = cfg->load.pipeline ? cfg->load.pipeline : 1,
			.timeout_ns = cfg->load.timeout_ms * 1000000ull,
			.cpu = cfg->load.ncpus ? cfg->load.cpus[i % cfg->load.ncpus] : -1,
			.echoes = engine.conn_echoes + base,
		};
		/* This thread's share of the open-loop schedule is its share of the connections. */
		if (cfg->load.mode == LOAD_OPEN)
			lcfg.rate_rps = cfg->load.rate_rps * lcfg.nconns / cfg->load.connections;
		base += lcfg.nconns;
		configs[i] = lcfg;
	}
	return start_load_threads(load_ops_for(cfg->load.kind), configs, nload, err);
}

/*
 * workload "storage": no server and no echo load. The target is prepared once (opened, sized,
 * filled with the pattern when the lab created it), then load.threads storage jobs start, each
 * with its own ring, and the start waits until every one has done its first I/O (or gave up).
 * The result's ring is job 0's with every other job's refusals appended, like the servers'.
 */
static int start_storage(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err)
{
	unsigned nload = cfg->load.threads < 1 ? 1 : cfg->load.threads > LOAD_THREADS_MAX ? LOAD_THREADS_MAX : cfg->load.threads;
	enum start_step step = STEP_STORAGE_OPEN;
	struct load_config configs[LOAD_THREADS_MAX];
	int ret;

	engine.storage = cfg->storage;
	ret = storage_prepare(&engine.storage, &out->storage, &step);
	if (ret) {
		err->at = (struct start_error){ step, ret };
		return ret;
	}
	for (unsigned i = 0; i < nload; i++) {
		configs[i] = (struct load_config){
			.nconns = engine.storage.queue_depth, /* one in-flight slot per queued I/O */
			.msg_bytes = engine.storage.block_bytes,
			.conn_base = i,
			.deadline_ns = engine.deadline_ns,
			.cpu = cfg->load.ncpus ? cfg->load.cpus[i % cfg->load.ncpus] : -1,
			.storage = &engine.storage,
		};
	}
	ret = start_load_threads(&storage_load_ops, configs, nload, err);
	if (ret)
		return ret;
	out->port = 0;
	out->workers = 0;
	out->ring = engine.load[0].ring;
	for (unsigned i = 1; i < engine.nload; i++) {
		const struct ring_setup_result *r = &engine.load[i].ring;
		for (int k = 0; k < r->nrefused; k++)
			if (!has_refusal(&out->ring, r->refused[k].flag))
				ring_refuse(&out->ring, r->refused[k].flag, r->refused[k].err, r->refused[k].cause);
		/* Applied only where every job got it. */
		out->ring.registered_buffers &= r->registered_buffers;
		out->ring.direct_descriptors &= r->direct_descriptors;
		out->ring.iopoll &= r->iopoll;
		out->ring.sqpoll &= r->sqpoll;
	}
	out->load_threads = engine.nload;
	return 0;
}

static int start_storage_workload(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err,
				  int hold)
{
	int ret;

	engine.load = NULL;
	engine.nload = 0;
	engine_reset_counters(&engine);
	engine.deadline_ns = mono_ns() + cfg->max_duration_ms * NS_PER_MS;
	ret = start_storage(cfg, out, err);
	/* Called off after the last step that looks: the jobs are up, and they stop here. */
	if (ret == 0 && start_cancelled())
		ret = -ECANCELED;
	if (ret) {
		ret = cancelled_start(ret, err);
		shutdown_all();
		release_all();
		finish_state(ENGINE_IDLE, hold);
		return ret;
	}
	finish_state(ENGINE_RUNNING, hold);
	return 0;
}

int engine_start_finish(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err,
			int hold)
{
	/* The last start's per-connection counts go now (STARTING: nobody reads them meanwhile). */
	free(engine.conn_echoes);
	engine.conn_echoes = NULL;
	engine.nconn_echoes = 0;
	if (cfg->storage_workload) {
		memset(err, 0, sizeof(*err));
		return start_storage_workload(cfg, out, err, hold);
	}
	unsigned nload = load_thread_count(cfg->load.connections, cfg->load.threads);
	int ret;

	memset(err, 0, sizeof(*err));
	ret = fd_limit_ensure(cfg->load.connections, nload,
			     cfg->target.enabled ? 0 : cfg->server.workers ? cfg->server.workers : 1, cfg->fd_reserve, err);
	if (ret) {
		finish_state(ENGINE_IDLE, hold);
		return ret;
	}

	engine.load = NULL;
	engine.nload = 0;
	engine_reset_counters(&engine);
	engine.deadline_ns = mono_ns() + cfg->max_duration_ms * NS_PER_MS;

	/* With a target the server is someone else's (uring-lab load): only the load runs here. */
	ret = cfg->target.enabled ? 0 : start_servers(cfg, err);
	if (ret == 0 && start_cancelled())
		ret = -ECANCELED;
	if (ret == 0)
		ret = start_loads(cfg, nload, err);
	/* Called off after the last step that looks: everything is up, and it all stops here. */
	if (ret == 0 && start_cancelled())
		ret = -ECANCELED;
	if (ret) {
		ret = cancelled_start(ret, err);
		shutdown_all();
		release_all();
		finish_state(ENGINE_IDLE, hold);
		return ret;
	}

	report_started(cfg, out);
	out->load_threads = engine.nload;
	/* The lock orders everything above before a snapshot that sees RUNNING. */
	finish_state(ENGINE_RUNNING, hold);
	return 0;
}

/* Takes api_lock if the engine is running; -ENOTCONN (and the lock not held) otherwise. */
static int lock_if_running(void)
{
	pthread_mutex_lock(&engine.api_lock);
	if (engine.state == ENGINE_RUNNING)
		return 0;
	pthread_mutex_unlock(&engine.api_lock);
	return -ENOTCONN;
}

int engine_snapshot(struct engine_snapshot *snap)
{
	int ret = lock_if_running();

	if (ret)
		return ret;
	engine_take_snapshot(&engine, snap);
	pthread_mutex_unlock(&engine.api_lock);
	return 0;
}

int engine_requests_completed(uint64_t *count, uint64_t *run)
{
	uint64_t n = 0;
	int ret = lock_if_running();

	if (ret)
		return ret;
	/* The lock keeps the load array: a stop frees it only after leaving RUNNING under it. */
	for (unsigned i = 0; i < engine.nload; i++)
		n += lh_total(&engine.load[i].hist);
	*run = engine.starts;
	pthread_mutex_unlock(&engine.api_lock);
	*count = n;
	return 0;
}

int engine_connection_echoes(uint64_t **counts, unsigned *n, uint64_t *run)
{
	int ret = 0;

	*counts = NULL;
	*n = 0;
	pthread_mutex_lock(&engine.api_lock);
	/* IDLE: the threads of the last start have been joined and the array outlives them (the next
	 * start frees it only after leaving IDLE under this lock). */
	if ((engine.state != ENGINE_RUNNING && engine.state != ENGINE_IDLE) || !engine.conn_echoes) {
		ret = -ENOTCONN;
	} else {
		uint64_t *copy = malloc(sizeof(*copy) * engine.nconn_echoes);
		if (!copy) {
			ret = -ENOMEM;
		} else {
			memcpy(copy, engine.conn_echoes + engine.nconn_echoes, sizeof(*copy) * engine.nconn_echoes);
			*counts = copy;
			*n = engine.nconn_echoes;
			*run = engine.starts;
		}
	}
	pthread_mutex_unlock(&engine.api_lock);
	return ret;
}

int engine_stop_begin(void)
{
	int ret = 0;

	pthread_mutex_lock(&engine.api_lock);
	if (engine.state == ENGINE_IDLE)
		ret = -ENOTCONN;
	else if (engine.state != ENGINE_RUNNING)
		ret = -EBUSY;
	else
		set_state_locked(ENGINE_STOPPING);
	pthread_mutex_unlock(&engine.api_lock);
	return ret;
}

void engine_stop_finish(struct engine_snapshot *snap, int hold)
{
	struct load_gauges g;

	/* What was in flight (and open) when the stop came, not the nothing after the drain. */
	engine_read_load_gauges(&engine, &g);
	uint64_t open = __atomic_load_n(&engine.conns.open, __ATOMIC_RELAXED);
	shutdown_all();
	/* The connections just closed: their last segments come as the kernel's words on them. */
	if (engine.nservers)
		tcp_segments_settle(&engine.segments, 100);
	engine.segs_read_next = 1;
	engine_take_snapshot(&engine, snap); /* every thread has exited: this is the final word */
	snap->in_flight = g.in_flight;
	snap->oldest_in_flight_us = g.oldest_us;
	snap->live_load_connections = g.live;
	snap->active_connections = engine.nservers ? open : g.live;
	/* The measured window ends when the load stopped, not after the server's teardown
	 * (with SQPOLL, io_uring_queue_exit waits for the kernel thread to park). */
	snap->monotonic_ns = engine.load_stopped_ns;
	snap->running = 0;
	/* Every worker has exited and closed its connections: their tallies are final. */
	for (unsigned i = 0; i < engine.nservers; i++)
		conn_tally_merge(&snap->conn_tally, &engine.servers[i].tally);
	snap->conn_tally_known = engine.nservers > 0;
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
	pthread_mutex_lock(&engine.api_lock);
	/* A held result would be settled by the JS thread that is now tearing
	 * down: settle it here. Only work still running is waited for. */
	settle_locked();
	while (engine.state == ENGINE_STARTING || engine.state == ENGINE_STOPPING) {
		if (pthread_cond_timedwait(&engine.settled, &engine.api_lock, &until) == ETIMEDOUT)
			break;
		settle_locked();
	}
	if (engine.state != ENGINE_RUNNING) {
		pthread_mutex_unlock(&engine.api_lock);
		return -ENOTCONN;
	}
	set_state_locked(ENGINE_STOPPING);
	pthread_mutex_unlock(&engine.api_lock);
	engine_stop_finish(snap, 0);
	return 0;
}

/* ---- test hooks: stored for the server loop, which reads them once per iteration ---- */

/* Every worker gets the hook: a paused or failed server is all of them. */
static int store_if_running(size_t offset, int value)
{
	int ret = lock_if_running();

	if (ret == 0) {
		for (unsigned i = 0; i < engine.nservers; i++)
			__atomic_store_n((int *)((char *)&engine.servers[i] + offset), value, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&engine.api_lock);
	}
	return ret;
}

int engine_debug_pause_server(unsigned ms)
{
	return store_if_running(offsetof(struct server, debug_pause_ms), (int)ms);
}

int engine_debug_fail_server(int err)
{
	return store_if_running(offsetof(struct server, debug_fail_err), err);
}

int engine_set_toggle(enum engine_toggle which, uint64_t until_ns)
{
	int ret = lock_if_running();

	if (ret)
		return ret;
	if (!engine.nservers) {
		ret = -ENODEV;
	} else if (which != ENGINE_TOGGLE_PAUSE && engine.servers[0].cfg.engine != SERVER_ENGINE_IO_URING) {
		ret = -EOPNOTSUPP;
	} else {
		for (unsigned i = 0; i < engine.nservers; i++) {
			struct server *s = &engine.servers[i];
			uint64_t *until = which == ENGINE_TOGGLE_PAUSE ? &s->pause_until_ns :
					  which == ENGINE_TOGGLE_PUNT  ? &s->punt_until_ns :
									 &s->starve_until_ns;
			__atomic_store_n(until, until_ns, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&engine.api_lock);
	return ret;
}
