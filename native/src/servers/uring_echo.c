/*
 * The io_uring echo server thread: start-up, the loop, teardown. A connection's echo path is
 * in uring_echo_conn.c, the listening side in uring_echo_listen.c.
 *
 * The ring is created on this thread, not by the engine: SINGLE_ISSUER ties the ring to its
 * creator, and DEFER_TASKRUN only runs completions when that task waits in io_uring_enter. The
 * loop is io_uring_submit_and_wait(1), then every ready CQE, then one buffer-ring publish.
 */
#define _GNU_SOURCE
#include "servers/uring_echo.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/counters.h"
#include "core/cqe.h"
#include "core/sqe.h"
#include "servers/uring_echo_state.h"

static void handle_cqe(void *ctx, const struct io_uring_cqe *cqe)
{
	struct echo_state *st = ctx;
	uint64_t data = io_uring_cqe_get_data64(cqe);

	switch (user_data_tag(data)) {
	case TAG_RECV:
		conn_on_recv(st, st->conns[user_data_index(data)], cqe);
		break;
	case TAG_SEND:
		conn_on_send(st, st->conns[user_data_index(data)], cqe->res);
		break;
	case TAG_ACCEPT:
		on_accept(st, cqe);
		break;
	case TAG_ACCEPT_RETRY:
		on_accept_retry(st);
		break;
	case TAG_WAKE:
		st->inflight--;
		st->stopping = 1;
		break;
	case TAG_CANCEL:
	case TAG_PROBE:
		if (!(cqe->flags & IORING_CQE_F_MORE))
			st->inflight--;
		break;
	}
}

/* Handles every completion ready now (and any that arrive meanwhile), then sends what they
 * queued (one send per connection), then hands returned buffers back to the kernel in one
 * tail update. */
static void reap_completions(void *ctx)
{
	struct echo_state *st = ctx;

	cqe_reap(&st->ring, UINT_MAX, handle_cqe, st);
	flush_dirty(st);
	buffer_ring_publish(&st->bufs);
}

/* debugPauseServer(): one sleep on the server thread, nothing served meanwhile. */
static void debug_pause(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	/* Signals are blocked on this thread, so no EINTR to resume from. */
	clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
}

/* The loop, until woken or dead (the worker body's run). */
static void serve(void *state)
{
	struct echo_state *st = state;
	struct server *s = st->pub;

	while (!st->stopping) {
		int ret = 0;
		/* Plain loads first: no locked instruction per iteration for hooks
		 * that are almost never set. */
		if (__builtin_expect(__atomic_load_n(&s->debug_pause_ms, __ATOMIC_RELAXED) ||
				     __atomic_load_n(&s->debug_fail_err, __ATOMIC_RELAXED), 0)) {
			int pause_ms = __atomic_exchange_n(&s->debug_pause_ms, 0, __ATOMIC_RELAXED);
			if (pause_ms > 0)
				debug_pause((unsigned)pause_ms);
			ret = __atomic_exchange_n(&s->debug_fail_err, 0, __ATOMIC_RELAXED);
		}
		if (!ret)
			ret = io_uring_submit_and_wait(&st->ring, 1);
		if (submit_failed(ret)) {
			/* Counted first, published second: a snapshot that sees the
			 * error (acquire) also sees it counted. */
			counter_add(&s->errors, 1);
			__atomic_store_n(&s->loop_err, ret, __ATOMIC_RELEASE);
			return;
		}

		reap_completions(st);
		/* Not only after returns: a re-armed connection may end (EOF) without
		 * taking a buffer, and the rest of the starved list must not wait
		 * for returns that never come. */
		if (st->starved && st->bufs.available && !st->stopping)
			rearm_starved(st);
	}
}

/* The buffer ring and the FIFO links over its buffers. */
static int buffers_create(struct echo_state *st, enum start_step *step)
{
	unsigned count = st->pub->cfg.buf_count;
	struct ring_setup_result *res = &st->pub->ring;
	int ret = buffer_ring_create(&st->bufs, &st->ring, st->pub->cfg.buf_size, count, ECHO_BUFFER_GROUP,
				     st->pub->cfg.buf_hugepages, step);

	/* Huge pages asked for but not had: the pool runs on normal pages, and says so. */
	res->hugepages = st->bufs.hugepages;
	if (st->bufs.huge_err && res->nrefused < RING_REFUSAL_MAX)
		res->refused[res->nrefused++] = (struct ring_refusal){
			.flag = RING_SETTING_HUGEPAGES, .err = st->bufs.huge_err, .cause = REFUSAL_REFUSED
		};
	if (ret)
		return ret;
	*step = STEP_BUF_RING_ALLOC;
	st->buf_next = malloc(sizeof(*st->buf_next) * count);
	st->buf_len = malloc(sizeof(*st->buf_len) * count);
	return st->buf_next && st->buf_len ? 0 : -ENOMEM;
}

/* Everything up to listening: the ring, its buffers, the multishot check, the socket, and the
 * first submit (accept and the wake-up poll). */
static int server_setup(void *owner, void *state, enum start_step *step)
{
	struct server *s = owner;
	struct echo_state *st = state;
	int ret;

	st->pub = s;
	st->listen_fd = -1;
	*step = STEP_SERVER_RING_SETUP;
	ret = ring_setup(&st->ring, &s->cfg.ring, &s->ring);
	if (ret)
		return ret;
	st->ring_ok = 1;

	ret = buffers_create(st, step);
	if (ret)
		return ret;

	*step = STEP_MULTISHOT_RECV;
	ret = probe_multishot_recv(st);
	if (ret)
		return ret;

	ret = listen_socket(st, step);
	if (ret)
		return ret;

	arm_accept(st);
	worker_arm_wake(&s->worker, &st->ring);
	st->inflight++;
	*step = STEP_SERVER_SUBMIT;
	ret = io_uring_submit(&st->ring);
	return ret < 0 ? ret : 0;
}

static void server_teardown(void *state, int ran)
{
	struct echo_state *st = state;
	int drained = 1;

	if (ran) {
		st->stopping = 1;
		drained = worker_drain(&st->ring, &st->inflight, NULL, reap_completions, st);
	}
	worker_before_ring_exit(&st->pub->worker);
	buffer_ring_unregister(&st->bufs, &st->ring);
	if (st->ring_ok)
		io_uring_queue_exit(&st->ring);
	for (unsigned i = 0; i < st->nconns; i++) {
		if (st->conns[i]->fd >= 0) {
			close(st->conns[i]->fd);
			counter_add(&st->pub->active, (uint64_t)-1);
		}
		free(st->conns[i]);
	}
	free(st->conns);
	free(st->dirty);
	if (st->listen_fd >= 0)
		close(st->listen_fd);
	/* If a request could not be reaped its buffer may still be written to:
	 * leaking the memory is the safe choice (never seen in practice). */
	if (drained)
		buffer_ring_unmap(&st->bufs);
	free(st->buf_next);
	free(st->buf_len);
}

static void uring_echo_memory(const struct server_config *cfg, unsigned nconns, struct memory_needs *m)
{
	uint64_t ring = ring_kernel_bytes(cfg->ring.entries, ring_setup_cq_entries(cfg->ring.entries));

	buffer_ring_memory(cfg->buf_size, cfg->buf_count, cfg->buf_hugepages, m);
	m->buffer_ring += echo_link_bytes(cfg->buf_count);
	m->rings += ring;
	m->memlock += ring;
	m->conn_state += echo_conn_state_bytes(nconns);
}

const struct server_ops uring_echo_server_ops = {
	.body = { sizeof(struct echo_state), server_setup, serve, server_teardown },
	.memory = uring_echo_memory,
};
