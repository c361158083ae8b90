/*
 * The io_uring echo server thread: start-up, the loop, teardown. A connection's echo path is
 * in uring_echo_conn.c, the listening side in uring_echo_listen.c.
 *
 * The ring is created on this thread, not by the engine: SINGLE_ISSUER ties the ring to its
 * creator, and DEFER_TASKRUN only runs completions when that task waits in io_uring_enter. The
 * loop is one counted io_uring_enter (submit and wait for one, see loop_enter; none with a busy
 * SQPOLL thread), then every ready CQE, then the quiet sends that ended without one are
 * settled, then the sends they all queued, then one buffer-ring publish. With server.rings each
 * worker thread runs this whole file for its own ring, pool and SO_REUSEPORT listener.
 */
#define _GNU_SOURCE
#include "servers/uring_echo.h"

#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
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
		conn_on_send(st, st->conns[user_data_index(data)], cqe);
		break;
	case TAG_RECV_CANCEL:
		conn_on_cancel(st, st->conns[user_data_index(data)]);
		break;
	case TAG_READY:
		conn_on_ready(st, st->conns[user_data_index(data)], cqe);
		break;
	case TAG_READY_CANCEL:
		conn_on_ready_cancel(st, st->conns[user_data_index(data)]);
		break;
	case TAG_SEND_CANCEL:
		st->inflight--; /* the send's own CQE says what became of it */
		break;
	case TAG_CLOSE:
		st->inflight--;
		on_direct_closed(st);
		break;
	case TAG_ACCEPT_CANCEL:
		st->inflight--; /* the accept's own last CQE re-arms it, one at a time */
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
	case TAG_TICK:
		st->inflight--;
		st->tick_armed = 0;
		st->tick_fired = 1;
		break;
	case TAG_PROBE:
		/* A quiet-send probe's send (index 1) the kernel parked and ended only after the
		 * probe gave up waiting: never counted in flight. */
		if (user_data_index(data) == 1)
			break;
		/* fall through */
	case TAG_CANCEL:
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
	settle_quiet_sends(st);
	st->last_batch_conns = st->ndirty;
	flush_dirty(st);
	/* bufferStarvation: returned buffers pile up unpublished until the window ends. */
	if (!st->withholding)
		buffer_ring_publish(&st->bufs);
	echo_gauges(st);
}

/* The wake-up period: with every connection starved nothing else completes, and the loop must
 * still see a bufferStarvation window end (or a stop-all clear it), or look for a stuck send
 * to spill (uring_echo_conn.c), this soon. */
#define TICK_NS (10 * NS_PER_MS)

void echo_arm_tick(struct echo_state *st)
{
	if (st->tick_armed)
		return;
	struct io_uring_sqe *sqe = sqe_get(&st->ring);

	st->tick_ts = kernel_timespec(TICK_NS);
	io_uring_prep_timeout(sqe, &st->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, user_data(TAG_TICK, 0));
	st->tick_armed = 1;
	st->inflight++;
}

/*
 * The test hooks and fault toggles, when server_hooks_asked() or a window of ours is open:
 * a pause (server_run_hooks), then which of ioWqPunt and bufferStarvation hold now. When a
 * starvation window ends every withheld buffer is published at once and the starved
 * connections are re-armed. Returns the debug_fail_err asked for, or 0.
 */
static int run_hooks(struct echo_state *st)
{
	struct server *s = st->pub;
	int ret = server_run_hooks(s);
	uint64_t now = mono_ns();

	st->punt = server_toggle_live(&s->punt_until_ns, now);
	int starve = server_toggle_live(&s->starve_until_ns, now) && !st->stopping;
	if (starve)
		echo_arm_tick(st);
	if (st->withholding && !starve) {
		st->withholding = 0;
		buffer_ring_publish(&st->bufs);
		echo_gauges(st);
		/* Now, not after the wait: with every connection starved no completion would come. */
		if (st->starved && st->bufs.available && !st->stopping)
			rearm_starved(st);
	}
	st->withholding = starve;
	return ret;
}

/* liburing 2.3's INT_FLAG_REG_RING: ring->enter_ring_fd is an index in the registered table. */
#define ECHO_INT_FLAG_REG_RING 1

/*
 * With SQPOLL the kernel thread submits and completes while this one runs, so a completion
 * that is about to arrive is better waited for here, in user space, than in io_uring_enter:
 * the loop polls its CQ tail for up to SQPOLL_CQ_SPIN_NS before it goes to sleep. That is what
 * makes an SQPOLL ring syscall-free while busy (enters per request near 0), paid for in this
 * thread's CPU (an idle ring spins that long once, then sleeps).
 */
#define SQPOLL_CQ_SPIN_NS (50 * 1000)

static void cq_spin(struct io_uring *ring)
{
	uint64_t until = mono_ns() + SQPOLL_CQ_SPIN_NS;

	do {
		for (int i = 0; i < 64; i++) {
			if (io_uring_cq_ready(ring))
				return;
			__builtin_ia32_pause();
		}
		/* The completion may wait for a thread that wants this CPU (the SQPOLL thread, the
		 * load): let it run rather than spin against it. Not an io_uring_enter, and its cost
		 * shows in this thread's system time. */
		sched_yield();
	} while (mono_ns() < until);
}

/* With server.minWaitUs, how long a wait past min_wait that got nothing sleeps before it
 * returns -ETIME and the loop enters again; any completion ends it at once. */
#define MIN_WAIT_IDLE_NS (1000 * NS_PER_MS)

/* With server.minWaitUs, the connections the last reap must have given data for the next wait
 * to batch (see min_wait_may_batch). */
#define MIN_WAIT_BATCH 4

/*
 * With server.minWaitUs on, whether the next wait may batch with min_wait, from what the last
 * reap saw:
 * - It gave data to MIN_WAIT_BATCH connections or more. A lone connection gains nothing from
 *   min_wait: it only delays the one request there is and adds a timer (1.34-1.56x the CPU per
 *   request at 1 x 128 B, measured with min_wait on every wait). Counting CQEs instead misfired
 *   on large echoes: a 1 MiB message arrives in many recv CQEs, and holding its connection's
 *   next recvs for min_wait stalls its TCP window once per round trip (2 x 1 MiB over 4 KiB
 *   buffers at 100 us: 688 against 2,358 requests/s). Completions from many connections are
 *   what it can gather.
 * - Those were fewer than half of the worker's open connections. Their peers wait for these
 *   echoes (one request each, closed loop), so a wait after a larger batch holds half the
 *   requests there are for min_wait and caps throughput near connections / min_wait (Little's
 *   law) while it gathers only the rest. With 8 connections every batch of 4 waited, and
 *   throughput halved at every size (bench:engine under echo_client, min_wait 100 us with a
 *   registered ring fd and direct descriptors, 2 runs of 1 round: 8 x 128 B 47.0k-48.0k
 *   requests/s against 61.0k-110.6k with no min_wait, 8 x 4 KiB 46.7k-47.0k against
 *   56.4k-60.6k, 8 x 64 KiB 26.3k-30.5k against 30.6k-46.9k, the echo client 41-79 % busy;
 *   with this rule 106.3k-107.5k against 107.3k-109.3k, 92.2k-94.1k against 90.9k-94.6k,
 *   42.3k-47.4k against 42.9k-44.5k). At 50 connections and more the batches that wait hold
 *   fewer (50 x 4 KiB: 5.9k-6.3k against 8.6k-9.1k ns/request with no min_wait).
 * - No connection waits for buffers (st->starved). The buffers their re-arms need come back as
 *   this loop reaps sends and publishes the returns after the reap; a wait of min_wait holds all
 *   of that back, so more of the pool's takers hit ENOBUFS and re-arm again. 1000 x 64 KiB over
 *   the default pool (64 x 64 KiB), the lab's own load, 2 s, min_wait 100 us, 5 alternating
 *   pairs of runs, medians (ranges): p99 28.7 ms (27.6-36.9) against 35.8 ms (30.7-43.0) when
 *   starved connections did not stop the wait, 1.60 CQEs per request (1.37-2.15) against 2.05
 *   (1.83-2.45), 40.1k requests/s against 38.0k. ENOBUFS per run swing from 0 to 20k either
 *   way: this pool regime tips into bursts of them by itself.
 */
static int min_wait_may_batch(const struct echo_state *st)
{
	return st->last_batch_conns >= MIN_WAIT_BATCH &&
	       (uint64_t)st->last_batch_conns * 2 < counter_get(&st->pub->active) && !st->starved;
}

/*
 * The loop's one trip to the kernel, made by hand instead of io_uring_submit_and_wait so that
 * every io_uring_enter is counted (s->enters) and none is made that is not needed:
 * - without SQPOLL, always one enter: submit what was queued and wait for a completion (only
 *   run task work, no wait, when completions are already waiting);
 * - with SQPOLL, the kernel thread submits: enter only to wake it (IORING_SQ_NEED_WAKEUP), to
 *   flush an overflowed CQ, or to sleep when no completion is waiting after cq_spin. A busy
 *   SQPOLL ring thus serves many requests per enter, which is what enters per request shows.
 * The rare submit inside sqe_get (a full SQ) goes through liburing and is not counted.
 * With min_wait_us (IORING_FEAT_MIN_TIMEOUT, 6.12), a wait after a reap that came as a batch
 * (min_wait_may_batch) asks for a whole CQ's worth of completions but returns once min_wait_us
 * has passed with at least one (or at the first one after that): batching bought with up to
 * that much latency, only while completions come in batches. Every wait goes without iowait
 * marking where the kernel offers it.
 *
 * At one connection this is one enter per request with quiet sends (server.quietSends, the
 * default): the echo's send ends inside the enter that then sleeps for the next request, and
 * posts no CQE that would end the wait. With plain sends it is two: the send's inline CQE
 * satisfies the wait, so the next enter is the one that sleeps. (Waiting for sends + 1 CQEs
 * instead would hold back the next recv whenever a send does not complete inline: quiet sends
 * always end inline, and one that falls short says so with a CQE.)
 * Returns the enter's result, 0 when none was needed, or -errno.
 */
static int loop_enter(struct echo_state *st)
{
	struct io_uring *ring = &st->ring;
	struct server *s = st->pub;
	unsigned submit = ring_flush_sq(ring);
	unsigned kflags = IO_URING_READ_ONCE(*ring->sq.kflags);
	unsigned flags = IORING_ENTER_GETEVENTS, wait_nr = 1;
	int fd = ring->ring_fd;
	struct io_uring_getevents_arg arg;
	struct __kernel_timespec idle_ts; /* copied by the kernel during the enter */
	void *argp = NULL;
	size_t argsz = 0;
	long ret;

	if (ring->flags & IORING_SETUP_SQPOLL && !io_uring_cq_ready(ring) && !(kflags & IORING_SQ_NEED_WAKEUP))
		cq_spin(ring);
	if (io_uring_cq_ready(ring))
		wait_nr = 0;
	if (ring->flags & IORING_SETUP_SQPOLL) {
		if (kflags & IORING_SQ_NEED_WAKEUP)
			flags |= IORING_ENTER_SQ_WAKEUP;
		else if (!wait_nr && !(kflags & IORING_SQ_CQ_OVERFLOW))
			return 0; /* the thread is awake and takes what was queued; completions wait */
		submit = 0;
	}
	if (wait_nr && s->ring.min_wait_us && min_wait_may_batch(st)) {
		memset(&arg, 0, sizeof(arg));
		arg.pad = s->ring.min_wait_us; /* min_wait_usec since 6.12 */
		/* Without an overall timeout longer than min_wait the kernel ends the wait when
		 * min_wait expires even with no completion at all: an idle server then woke every
		 * min_wait_us (10k enters/s and ~10 % of a CPU at 50 us, measured). With one, the
		 * wait goes on past min_wait until the first completion (or -ETIME after it). */
		idle_ts = kernel_timespec(MIN_WAIT_IDLE_NS);
		arg.ts = (uint64_t)(uintptr_t)&idle_ts;
		argp = &arg;
		argsz = sizeof(arg);
		flags |= IORING_ENTER_EXT_ARG;
		wait_nr = ring->cq.ring_entries;
		counter_add(&s->batched_waits, 1);
	}
	if (ring->int_flags & ECHO_INT_FLAG_REG_RING) {
		flags |= IORING_ENTER_REGISTERED_RING;
		fd = ring->enter_ring_fd;
	}
	if (st->no_iowait)
		flags |= RING_ENTER_NO_IOWAIT;
	counter_add(&s->enters, 1);
	ret = syscall(__NR_io_uring_enter, fd, submit, wait_nr, flags, argp, argsz);
	return ret < 0 ? -errno : (int)ret;
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
		if (__builtin_expect(server_hooks_asked(s) || st->punt || st->withholding, 0))
			ret = run_hooks(st);
		/* server.recvOnReady: this trip's recvs, behind the last reap's sends, right before
		 * the enter that runs them: whatever listed connections since (the reap, re-arms of
		 * the starved, the end of a bufferStarvation window) is in. Queued in the reap
		 * instead, the re-arms after it waited for a completion that might never come (10
		 * peers that never read over 16 buffers: the loop slept with 4 buffers free and
		 * connections listed, 1 run in 6). */
		if (st->nready)
			issue_ready(st);
		if (!ret)
			ret = loop_enter(st);
		if (submit_failed(ret)) {
			/* Published only: the snapshot that reports it counts it (engine_snapshot.c). */
			__atomic_store_n(&s->loop_err, ret, __ATOMIC_RELEASE);
			return;
		}

		/* Counted by how far the CQ head moved (only this thread moves it). */
		unsigned head = *st->ring.cq.khead;
		reap_completions(st);
		counter_add(&s->cqes, *st->ring.cq.khead - head);
		/* The kernel's count of CQEs it could not post (cumulative; 0 unless the CQ overflowed). */
		__atomic_store_n(&s->cq_overflows, IO_URING_READ_ONCE(*st->ring.cq.koverflow), __ATOMIC_RELAXED);
		/* Not only after returns: a re-armed connection may end (EOF) without
		 * taking a buffer, and the rest of the starved list must not wait
		 * for returns that never come. With none available, it looks for a
		 * send stuck on a peer that does not read, whose buffers to spill. */
		if (st->starved && !st->stopping && !st->withholding)
			rearm_starved(st);
	}
}

static void refuse(struct echo_state *st, unsigned setting, int err)
{
	ring_refuse(&st->pub->ring, setting, err, REFUSAL_REFUSED);
}

/* server.registeredBuffers: the receive pool registered with the ring (io_uring_register_buffers)
 * in iovecs of at most 1 GiB (the kernel's limit per iovec) holding whole buffers, so a
 * piece's registered index is its offset / chunk. Pinned pages count against RLIMIT_MEMLOCK
 * (ENOMEM when over it, unless CAP_IPC_LOCK): refused, the server runs without. */
static void register_pool(struct echo_state *st)
{
	struct buffer_ring *b = &st->bufs;
	size_t pool = (size_t)b->count * b->size;
	size_t chunk = ((size_t)1 << 30) / b->size * b->size;
	unsigned n = (unsigned)((pool + chunk - 1) / chunk);
	struct iovec *iov = calloc(n, sizeof(*iov));
	int ret = -ENOMEM;

	if (iov) {
		for (unsigned i = 0; i < n; i++) {
			size_t at = (size_t)i * chunk;
			iov[i].iov_base = b->bufs + at;
			iov[i].iov_len = pool - at < chunk ? pool - at : chunk;
		}
		ret = io_uring_register_buffers(&st->ring, iov, n);
		free(iov);
	}
	if (ret) {
		refuse(st, RING_SETTING_REGISTERED_BUFFERS, ret);
		return;
	}
	st->fixed_bufs = 1;
	st->fixed_chunk = chunk;
}

/* server.sendZeroCopy: SENDMSG_ZC (6.1) is what a send over several pieces needs, SEND_ZC (6.0)
 * what one piece takes; a kernel without both refuses (EINVAL as the opcodes would). */
static void check_send_zc(struct echo_state *st)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(&st->ring);
	int ok = probe && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) &&
		 io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC);

	if (probe)
		io_uring_free_probe(probe);
	if (ok)
		st->send_zc = 1;
	else
		refuse(st, RING_SETTING_SEND_ZC, probe ? -EINVAL : -ENOMEM);
}

/* server.directDescriptors: a sparse file table the multishot accept fills (direct accept), so
 * recv/send/close name sockets by index (IOSQE_FIXED_FILE) and skip a file get/put per op.
 * Sized from the load's connections plus headroom (1024). A server with no load of its own
 * (`uring-lab server`: expected_conns 0) serves outside clients only, however many: 65,536
 * slots (a table of 1024 reset every client beyond it; 1,100 connections: 76 resets). A slot is
 * 8 bytes of kernel memory. At most RLIMIT_NOFILE (the kernel refuses more with EMFILE); a
 * full table makes accepts fail with ENFILE, counted and backed off like EMFILE. */
#define DIRECT_TABLE_SERVER_ONLY 65536
static void register_files(struct echo_state *st)
{
	unsigned expected = st->pub->cfg.expected_conns;
	unsigned n = expected ? expected + 1024 : DIRECT_TABLE_SERVER_ONLY;
	struct rlimit rl;
	int ret;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n)
		n = (unsigned)rl.rlim_cur;
	ret = io_uring_register_files_sparse(&st->ring, n);
	if (ret) {
		refuse(st, RING_SETTING_DIRECT_DESCRIPTORS, ret);
		return;
	}
	st->direct = 1;
	st->direct_slots = n;
	st->direct_used = 0;
}

/*
 * The receive and send path's resources: the buffer ring (incremental if asked and allowed),
 * the pieces over it, and what the knobs ask for (bundles, SEND_ZC, the registered pool, the
 * file table). Each knob the kernel refuses is recorded with its errno and left off: the
 * server runs without it. What took effect goes in the ring's result for `applied`.
 */
static int buffers_create(struct echo_state *st, enum start_step *step)
{
	const struct server_config *cfg = &st->pub->cfg;
	struct ring_setup_result *res = &st->pub->ring;
	int ret = buffer_ring_create(&st->bufs, &st->ring, cfg->buf_size, cfg->buf_count, ECHO_BUFFER_GROUP,
				     cfg->buf_hugepages, cfg->buf_incremental, cfg->buf_hot_first, step);

	/* Huge pages asked for but not had: the pool runs on normal pages, and says so. */
	res->hugepages = st->bufs.hugepages;
	if (st->bufs.huge_err)
		refuse(st, RING_SETTING_HUGEPAGES, st->bufs.huge_err);
	if (st->bufs.inc_err)
		refuse(st, RING_SETTING_BUF_INCREMENTAL, st->bufs.inc_err);
	if (ret)
		return ret;
	*step = STEP_BUF_RING_ALLOC;
	ret = echo_recv_path_init(st);
	if (ret)
		return ret;

	st->multishot = cfg->multishot;
	/* Receiving on readiness needs this thread to submit each recv when its poll fires: with
	 * SQPOLL the kernel thread would take it on its own time, so a request would wait for the
	 * thread twice (1 x 64 B with the thread on the serving CPU: 129 requests/s against 256 for
	 * an armed recv, which the thread runs by itself). */
	if (cfg->recv_on_ready && (st->ring.flags & IORING_SETUP_SQPOLL))
		ring_refuse(&st->pub->ring, RING_SETTING_RECV_ON_READY, -EINVAL, REFUSAL_CONFLICTS_WITH_SQPOLL);
	else
		st->recv_on_ready = cfg->recv_on_ready;
	if (cfg->recv_bundle) {
		/* Older kernels would read the ioprio bit as garbage (EINVAL per recv): check first. */
		if (res->features & IORING_FEAT_RECVSEND_BUNDLE)
			st->bundle = 1;
		else
			refuse(st, RING_SETTING_RECV_BUNDLE, -EINVAL);
	}
	if (cfg->send_zc)
		check_send_zc(st);
	if (cfg->registered_buffers)
		register_pool(st);
	if (cfg->direct_descriptors)
		register_files(st);

	res->multishot = st->multishot;
	res->recv_on_ready = st->recv_on_ready;
	res->recv_bundle = st->bundle;
	res->buf_incremental = st->bufs.incremental;
	res->send_zc = st->send_zc;
	res->registered_buffers = st->fixed_bufs;
	res->direct_descriptors = st->direct;
	return 0;
}

/* Everything up to listening: the ring, its buffers, the multishot check, the socket, and the
 * first submit (accept and the wake-up poll). */
static int server_setup(void *owner, void *state, enum start_step *step)
{
	struct server *s = owner;
	struct echo_state *st = state;
	int ret;

	struct ring_setup_result placed;
	struct ring_request req = s->cfg.ring;

	st->pub = s;
	st->listen_fd = -1;
	/* CPU and memory placement first: the ring, its SQPOLL thread and the buffers follow it. */
	memset(&placed, 0, sizeof(placed));
	placed.cpu = placed.numa_node = -1;
	server_place_thread(s, &placed);
	req.attach_wq = s->attach_wq;
	req.wq_fd = s->wq_fd;
	*step = STEP_SERVER_RING_SETUP;
	ret = ring_setup(&st->ring, &req, &s->ring);
	server_record_placement(&s->ring, &placed);
	if (ret)
		return ret;
	st->ring_ok = 1;
	s->ring_fd = st->ring.ring_fd;
	/* Its thread's busy vs idle-spin split is read from the ring's fdinfo (sqpoll_stats.h), by
	 * the ring that owns the thread: one attached to worker 0's (sqpoll.shared) would only
	 * print the same thread's numbers again. */
	if ((st->ring.flags & IORING_SETUP_SQPOLL) && !s->ring.attached_wq)
		server_sqpoll_stats_open(s, st->ring.ring_fd);
	/* An echo server's waits are for the network, not storage: without this, every wait with
	 * a multishot recv pending marks the thread in iowait (6.18 measured: 56 % of its CPU's time
	 * shown as iowait at 1 connection, and IO pressure in PSI). Accounting only: CPU per request
	 * measured the same either way. Older kernels reject the unknown enter flag: only when the
	 * feature bit says so. */
	st->no_iowait = !!(s->ring.features & RING_FEAT_NO_IOWAIT);
	if (s->cfg.napi_busy_poll_us)
		ring_register_napi(&st->ring, s->cfg.napi_busy_poll_us, &s->ring);
	if (s->cfg.min_wait_us) {
		/* Older kernels would take the field as padding and ignore it: refuse instead. */
		if (s->ring.features & RING_FEAT_MIN_TIMEOUT)
			s->ring.min_wait_us = s->cfg.min_wait_us;
		else
			ring_refuse(&s->ring, RING_SETTING_MIN_WAIT, -EOPNOTSUPP, REFUSAL_REFUSED);
	}

	ret = buffers_create(st, step);
	if (ret)
		return ret;

	*step = STEP_MULTISHOT_RECV;
	ret = probe_multishot_recv(st);
	if (ret)
		return ret;
	/* Quiet sends need an inline submit: the SQPOLL thread submits on its own time. */
	if (s->cfg.quiet_sends && (st->ring.flags & IORING_SETUP_SQPOLL)) {
		ring_refuse(&s->ring, RING_SETTING_QUIET_SENDS, -EINVAL, REFUSAL_CONFLICTS_WITH_SQPOLL);
	} else if (s->cfg.quiet_sends) {
		/* Optional: a failed check leaves the server on plain sends, and says why. */
		ret = probe_quiet_sends(st);
		st->quiet_ok = !ret;
		if (ret)
			refuse(st, RING_SETTING_QUIET_SENDS, ret);
	}
	s->ring.quiet_sends = st->quiet_ok;
	/* The probe's byte must not leave an incremental ring's buffers misaligned. */
	*step = STEP_BUF_RING_REGISTER;
	ret = buffer_ring_restart(&st->bufs, &st->ring);
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
	if (st->ring_ok)
		server_sqpoll_stats_close(st->pub);
	worker_before_ring_exit(&st->pub->worker);
	buffer_ring_unregister(&st->bufs, &st->ring);
	if (st->ring_ok)
		io_uring_queue_exit(&st->ring);
	for (unsigned i = 0; i < st->nconns; i++) {
		if (st->conns[i]->fd >= 0) {
			/* A direct descriptor went with the ring's file table. */
			if (!st->direct)
				close(st->conns[i]->fd);
			server_conn_closed(st->pub, &st->conns[i]->echo);
		}
		free(st->conns[i]);
	}
	free(st->conns);
	free(st->dirty);
	free(st->quiet);
	free(st->ready);
	if (st->listen_fd >= 0)
		close(st->listen_fd);
	/* If a request could not be reaped its buffer may still be written to:
	 * leaking the memory is the safe choice (never seen in practice). */
	if (drained)
		buffer_ring_unmap(&st->bufs);
	/* The gauges go back to what they were before this server existed. */
	counter_add(&st->pub->bufs_in_use, (uint64_t)0 - st->bufs_in_use_shown);
	counter_add(&st->pub->bufs_in_ring, (uint64_t)0 - st->bufs_in_ring_shown);
	if (st->pieces)
		counter_add(&st->pub->bufs_total, (uint64_t)0 - st->bufs.count);
	/* Copied-out echoes still queued (a piece's spill is NULL unless it holds one). */
	for (unsigned i = 0; st->pieces && i < st->npieces; i++)
		free(st->pieces[i].spill);
	free(st->pieces);
}

static void uring_echo_memory(const struct server_config *cfg, unsigned nconns, struct memory_needs *m)
{
	uint64_t ring = ring_kernel_bytes(cfg->ring.entries, ring_setup_cq_entries(cfg->ring.entries, cfg->ring.cq_min));

	buffer_ring_memory(cfg->buf_size, cfg->buf_count, cfg->buf_hugepages, m);
	m->buffer_ring += echo_link_bytes(cfg);
	/* server.registeredBuffers pins the whole pool (RLIMIT_MEMLOCK). */
	if (cfg->registered_buffers)
		m->memlock += (uint64_t)cfg->buf_count * cfg->buf_size;
	m->rings += ring;
	m->memlock += ring;
	m->conn_state += echo_conn_state_bytes(nconns);
}

const struct server_ops uring_echo_server_ops = {
	.body = { sizeof(struct echo_state), server_setup, serve, server_teardown },
	.memory = uring_echo_memory,
};
