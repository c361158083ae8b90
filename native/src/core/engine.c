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
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/engine_state.h"
#include "core/fd_limit.h"
#include "core/latch.h"

/* How long teardown waits for a start or stop in progress. */
#define SETTLE_TIMEOUT_S 30

static struct engine engine = {
	.api_lock = PTHREAD_MUTEX_INITIALIZER,
	.settled = PTHREAD_COND_INITIALIZER,
	.cpu_lock = PTHREAD_MUTEX_INITIALIZER,
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
 * connections are closed while the server still answers. */
static void shutdown_all(void)
{
	for (unsigned i = 0; i < engine.nload; i++)
		worker_wake(&engine.load[i].worker);
	for (unsigned i = 0; i < engine.nload; i++)
		load_join(&engine.load[i]);
	engine.load_stopped_ns = mono_ns();
	if (engine.server_started)
		server_stop(&engine.server);
}

static void release_all(void)
{
	free(engine.load);
	engine.load = NULL;
	engine.nload = 0;
	engine.server_started = 0;
}

int engine_start_begin(void)
{
	int ret = 0;

	pthread_mutex_lock(&engine.api_lock);
	if (engine.state != ENGINE_IDLE)
		ret = -EBUSY;
	else
		set_state_locked(ENGINE_STARTING);
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

/* Starts the server and waits until it listens (or gave up). */
static int start_server(const struct engine_config *cfg, struct engine_error *err)
{
	struct latch ready;
	int ret;

	server_init(&engine.server, &cfg->server, &before_ring_exit);
	latch_init(&ready, 1);
	ret = server_start(&engine.server, &ready);
	if (ret == 0) {
		engine.server_started = 1;
		latch_wait(&ready);
	}
	latch_destroy(&ready);
	if (engine.server.worker.fail.err) {
		err->at = engine.server.worker.fail;
		return err->at.err;
	}
	return 0;
}

/* Starts nload load threads and waits until every one is connected (or gave up). */
static int start_loads(const struct engine_config *cfg, unsigned nload, struct engine_error *err)
{
	const struct load_ops *ops = load_ops_for(cfg->load.kind);
	struct latch ready;
	unsigned base = 0;

	if (!nload)
		return 0;
	engine.load = aligned_alloc(64, sizeof(*engine.load) * nload);
	if (!engine.load) {
		err->at = (struct start_error){ STEP_LOAD_ALLOC, -ENOMEM };
		return -ENOMEM;
	}
	latch_init(&ready, (int)nload);
	for (unsigned i = 0; i < nload; i++) {
		struct load *l = &engine.load[i];
		struct load_config lcfg = {
			.port = (uint16_t)engine.server.port,
			.nconns = load_thread_conns(cfg->load.connections, nload, i),
			.msg_bytes = cfg->load.msg_bytes,
			.conn_base = base,
			.deadline_ns = engine.deadline_ns,
		};
		base += lcfg.nconns;
		int ret = load_init(l, ops, &lcfg, &before_ring_exit);
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

int engine_start_finish(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err,
			int hold)
{
	unsigned nload = load_thread_count(cfg->load.connections, cfg->load.threads);
	int ret;

	memset(err, 0, sizeof(*err));
	ret = fd_limit_ensure(cfg->load.connections, nload, err);
	if (ret) {
		finish_state(ENGINE_IDLE, hold);
		return ret;
	}

	engine.load = NULL;
	engine.nload = 0;
	engine_reset_counters(&engine);
	engine.deadline_ns = mono_ns() + cfg->max_duration_ms * NS_PER_MS;

	ret = start_server(cfg, err);
	if (ret == 0)
		ret = start_loads(cfg, nload, err);
	if (ret) {
		shutdown_all();
		release_all();
		finish_state(ENGINE_IDLE, hold);
		return ret;
	}

	out->port = engine.server.port;
	out->ring = engine.server.ring;
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

	/* What was in flight when the stop came, not the nothing after the drain. */
	engine_read_load_gauges(&engine, &g);
	shutdown_all();
	engine_take_snapshot(&engine, snap); /* every thread has exited: this is the final word */
	snap->in_flight = g.in_flight;
	snap->oldest_in_flight_us = g.oldest_us;
	snap->live_load_connections = g.live;
	/* The measured window ends when the load stopped, not after the server's teardown
	 * (with SQPOLL, io_uring_queue_exit waits for the kernel thread to park). */
	snap->monotonic_ns = engine.load_stopped_ns;
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

static int store_if_running(int *hook, int value)
{
	int ret = lock_if_running();

	if (ret == 0) {
		__atomic_store_n(hook, value, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&engine.api_lock);
	}
	return ret;
}

int engine_debug_pause_server(unsigned ms)
{
	return store_if_running(&engine.server.debug_pause_ms, (int)ms);
}

int engine_debug_fail_server(int err)
{
	return store_if_running(&engine.server.debug_fail_err, err);
}
