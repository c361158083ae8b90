/*
 * What the engine needs from a server, whichever engine it runs (io_uring or epoll):
 * a struct server the engine owns and reads, and a small table of operations. The server runs
 * on its own worker thread; everything it publishes for snapshots lives here, written only by
 * that thread.
 */
#ifndef URING_LAB_CORE_SERVER_H
#define URING_LAB_CORE_SERVER_H

#include <pthread.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/memory_needs.h"
#include "core/ring_setup.h"
#include "core/sqpoll_stats.h"
#include "core/tcp_segments.h"
#include "core/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

struct latch;
struct server_ops;

enum server_engine { SERVER_ENGINE_IO_URING = 0, SERVER_ENGINE_EPOLL = 1 };

/* server.rings: worker threads, each with its own ring (or epoll instance) and SO_REUSEPORT listener. */
#define SERVER_WORKERS_MAX 64
/* server.numa.cpus: at most this many CPUs listed. */
#define SERVER_CPUS_MAX 256
/* server.socket.*BufferBytes: the kernel raises what it is given to its own floor (2-5 KiB, so
 * even a granted cap is at least 1024), and doubles the value in an int (capped at INT_MAX / 2),
 * so 512 MiB is the most that is granted in full. */
#define SERVER_SOCKET_BUFFER_MIN 1024
#define SERVER_SOCKET_BUFFER_MAX (512u << 20)

/* What a server error happened on (errors by kind in frames). */
enum server_err_op { SERVER_ERR_ACCEPT = 0, SERVER_ERR_RECV, SERVER_ERR_SEND, SERVER_ERR_OTHER, SERVER_ERR_OPS };

struct server_config {
	enum server_engine engine;
	uint16_t port; /* 0: ephemeral */
	/* uring-lab server --bind: the IPv4 address to listen on (network byte order) when
	 * bind_given; otherwise 127.0.0.1 (the lab's own loopback runs). */
	int bind_given;
	uint32_t bind_addr;
	/* topology "veth": the network namespace (/run/netns/NAME) every worker joins with setns
	 * on its own thread before its listener, so the server lives behind the veth pair while
	 * the load stays in the host's namespace. Empty: the caller's namespace. */
	char netns[128];
	struct ring_request ring;
	unsigned buf_size;  /* bytes per provided buffer */
	unsigned buf_count; /* buffers in the provided-buffer ring */
	int buf_hugepages;  /* map the provided buffers with MAP_HUGETLB (2 MiB pages), falling back to normal pages */
	int buf_incremental; /* IOU_PBUF_RING_INC (6.12): large buffers consumed in pieces */
	int buf_hot_first;  /* a short ring refilled with the most recently returned buffers (buffer_ring.h) */

	unsigned workers;    /* server.rings: 1..SERVER_WORKERS_MAX */
	int sqpoll_shared;   /* one SQPOLL thread for all rings (IORING_SETUP_ATTACH_WQ to worker 0's ring) */
	int numa_node;       /* -1: no memory policy; else rings, pools and connection state bound to it */
	int cpus[SERVER_CPUS_MAX]; /* server.numa.cpus: worker i pinned to cpus[i % ncpus] */
	unsigned ncpus;      /* 0: not pinned */

	int multishot;           /* multishot recv (else one-shot recv re-armed per completion) */
	int recv_on_ready;       /* a POLLIN poll per connection, recvs sent inline a few per trip (uring_echo_conn.c) */
	int recv_bundle;         /* IORING_RECVSEND_BUNDLE (6.10) */
	int send_zc;             /* IORING_OP_SEND_ZC with IORING_SEND_ZC_REPORT_USAGE */
	int registered_buffers;  /* the receive pool registered (io_uring_register_buffers); fixed-buffer sends where possible */
	int direct_descriptors;  /* registered file table, direct accept, IOSQE_FIXED_FILE ops */
	int quiet_sends;         /* sends post a CQE only when they fall short (uring_echo_state.h) */
	unsigned expected_conns; /* load.connections (set by the binding): sizes the direct-descriptor table */
	unsigned napi_busy_poll_us; /* IORING_REGISTER_NAPI (6.9), 0: off */
	unsigned min_wait_us;    /* IORING_ENTER_EXT_ARG min_wait_usec (6.12), 0: off */
	/* server.socket: set on each worker's listener before listen(), so every accepted socket
	 * inherits them (both engines; a direct descriptor has no fd of its own to set them on). */
	char congestion[16];     /* TCP_CONGESTION (TCP_CA_NAME_MAX 16); "": the system default */
	unsigned rcvbuf, sndbuf; /* SO_RCVBUF / SO_SNDBUF bytes; 0: the kernel's autotuning */
};

/* Connections open across all of a run's server workers, and the most ever open at once. The
 * workers share it (atomic read-modify-writes, once per accept and close, never per request);
 * a peak sampled per snapshot misses every burst shorter than a frame (2 of 2,000 seen). */
struct conn_gauge {
	uint64_t open, peak;
	uint64_t seq; /* connections accepted so far, all workers: the next one's accept ordinal */
};

/* One connection's echo as the server sees it: the bytes it received and echoed back, and its
 * place in accept order over all workers (0-based). Set at accept, counted by the echo path. */
struct conn_echo {
	uint64_t in, out, ordinal;
};

/* How evenly a worker served its connections (uring-lab server's perConnection): every
 * connection's echoed bytes, folded in as it closes (the teardown closes those still open).
 * Written by the worker thread only; read by the stop's final snapshot, once every worker has
 * exited. O(1) whatever the number of connections a long serve sees: Jain's index needs only
 * the sum and the sum of squares. */
struct conn_tally {
	uint64_t conns;    /* connections that sent at least one byte */
	uint64_t silent;   /* connections closed without sending a byte (port checks, health probes) */
	uint64_t unserved; /* sent bytes and got none back */
	uint64_t min_bytes, min_ordinal, max_bytes; /* over `conns`; on a tie, the first accepted */
	double sum, squares; /* of the echoed bytes of `conns` */
};

/* A tally into another: a closed connection's own into its worker's, the workers' into the
 * snapshot's. */
static inline void conn_tally_merge(struct conn_tally *into, const struct conn_tally *t)
{
	if (!t->conns) {
		into->silent += t->silent;
		return;
	}
	if (!into->conns || t->min_bytes < into->min_bytes ||
	    (t->min_bytes == into->min_bytes && t->min_ordinal < into->min_ordinal)) {
		into->min_bytes = t->min_bytes;
		into->min_ordinal = t->min_ordinal;
	}
	if (t->max_bytes > into->max_bytes)
		into->max_bytes = t->max_bytes;
	into->conns += t->conns;
	into->silent += t->silent;
	into->unserved += t->unserved;
	into->sum += t->sum;
	into->squares += t->squares;
}

struct server {
	const struct server_ops *ops;
	struct server_config cfg;
	struct worker worker;
	/* server.rings: which worker this is (0..cfg.workers-1). Worker 0 binds cfg.port (0:
	 * ephemeral) and the others the port it got, each with SO_REUSEPORT when workers > 1. */
	unsigned index;
	/* sqpoll.shared, workers > 0: IORING_SETUP_ATTACH_WQ to worker 0's ring fd (attach_wq). */
	int attach_wq;
	int wq_fd;
	int ring_fd; /* this worker's ring fd once set up (worker 0's is what the others attach to); -1: none */

	/* Filled in by start-up, before the worker reports; ring stays zero for a server without an io_uring (epoll). */
	int port;
	struct ring_setup_result ring;

	/* Counters, written only by the server thread (relaxed atomics). */
	uint64_t enobufs;   /* multishot recvs ended by an empty buffer ring */
	uint64_t errors;    /* real errors (not peer resets / cancellations); an accept refused for lack of fds counts too */
	uint64_t accepted;
	uint64_t active;    /* connections open right now */
	struct conn_gauge *gauge; /* the engine's, shared by every worker (NULL: none) */
	uint64_t own_seq;   /* accept ordinals without a gauge: this worker's own count */
	struct conn_tally tally; /* its closed connections' echoes (worker thread only) */
	/* The engine's TCP segment counts (tcp_segments.h), opened by worker 0 once it listens,
	 * in its namespace (NULL: none). */
	struct tcp_segments *segments;
	int loop_err;       /* negative errno if the loop died, else 0 (release; the snapshot that reads it counts it as an error) */

	/* Per-frame engine counters (cumulative, single writer; snapshots report deltas). */
	uint64_t errors_by_op[SERVER_ERR_OPS]; /* the same errors as `errors`, by what failed */
	uint64_t enters;      /* io_uring_enter calls the loop made (submit and/or wait); epoll: epoll_wait calls */
	uint64_t batched_waits; /* of those, waits made with server.minWaitUs's min_wait_usec (after a batch); epoll: 0 */
	uint64_t cqes;        /* completions reaped; epoll: events handled */
	uint64_t recv_cqes;   /* recv completions carrying data; epoll: read() calls that returned data */
	uint64_t sends;       /* send operations completed (send, sendmsg, SEND_ZC); epoll: write/writev calls */
	uint64_t bytes_out;   /* bytes echoed back */
	uint64_t zc_sends;    /* SEND_ZC the kernel really sent zero-copy (usage report) */
	uint64_t zc_copied;   /* SEND_ZC the kernel copied anyway (loopback always does) */
	uint64_t zc_fallbacks; /* sends made as copying sends with SEND_ZC on: SEND_ZCs already pinned half the pool */
	uint64_t rearms;      /* recvs re-armed after ENOBUFS */
	uint64_t spilled_bytes; /* echo bytes copied out of the pool from a send stuck on a peer that does not read */
	/* Gauges. */
	uint64_t cq_overflows; /* the kernel's CQ overflow count (*cq.koverflow), cumulative */
	uint64_t bufs_in_use;  /* provided buffers held by the server (in FIFOs or sends) right now */
	uint64_t bufs_peak;    /* the most it held at once since the start (a sample per snapshot missed
				* a pool run dry between two: 0 with 2,083 ENOBUFS) */
	uint64_t bufs_total;   /* provided buffers in the pool */
	uint64_t bufs_in_ring; /* free buffers the kernel can pick (bufferRing.hotFirst keeps the rest back) */

	/* Test/teaching hooks, read by the loop once per iteration (relaxed atomics; 0 = nothing
	 * asked). Checked before it waits, so an idle server acts on them only when its next
	 * completion wakes it. */
	int debug_pause_ms;      /* sleep this long once (becomes a pause_until_ns deadline) */
	int debug_fail_err;      /* die as if io_uring_enter had returned this -errno */
	/* Fault injection toggles (inject/, engine_set_toggle): each is the CLOCK_MONOTONIC deadline
	 * (ns) it expires at, 0 = off. The loop checks the deadline itself, so a toggle ends on time
	 * even if nobody clears it; clearing it (injectStopAll) ends it at the loop's next look. */
	uint64_t pause_until_ns;  /* serverPause: serve nothing until then */
	uint64_t punt_until_ns;   /* ioWqPunt: sends carry IOSQE_ASYNC (io_uring server only) */
	uint64_t starve_until_ns; /* bufferStarvation: consumed buffers are withheld (io_uring server only) */

	/* The SQPOLL thread's work time (sqpoll_stats.h), read by snapshots from the ring's fdinfo.
	 * stats_lock makes the fd safe to read: the worker sets it once its SQPOLL ring is up, and
	 * takes it back (one last read first) under the lock before the ring closes, so a snapshot
	 * never reads a closed fd, or one the process has since reused for something else. */
	pthread_mutex_t stats_lock;
	int sqpoll_stats_fd;             /* -1: no SQPOLL ring (now) */
	struct sqpoll_stats sqpoll_last; /* the last good read; thread 0 until there is one */
	int sqpoll_stats_err;            /* -ENODATA: this kernel prints no SqWorkTime (before 6.11) */
};

/* A connection of this worker opened or closed: its `active`, the shared gauge, and at the
 * close its echo into the worker's tally. */
static inline void server_conn_opened(struct server *s, struct conn_echo *e)
{
	counter_add(&s->active, 1);
	e->in = e->out = 0;
	if (!s->gauge) {
		e->ordinal = s->own_seq++;
		return;
	}
	e->ordinal = __atomic_fetch_add(&s->gauge->seq, 1, __ATOMIC_RELAXED);
	uint64_t open = __atomic_add_fetch(&s->gauge->open, 1, __ATOMIC_RELAXED);
	uint64_t peak = __atomic_load_n(&s->gauge->peak, __ATOMIC_RELAXED);
	while (open > peak &&
	       !__atomic_compare_exchange_n(&s->gauge->peak, &peak, open, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static inline void server_conn_closed(struct server *s, const struct conn_echo *e)
{
	counter_add(&s->active, (uint64_t)-1);
	if (s->gauge)
		__atomic_sub_fetch(&s->gauge->open, 1, __ATOMIC_RELAXED);
	/* This connection's own tally: one that sent nothing is silent, and counts in nothing else. */
	uint64_t sent = e->in > 0;
	struct conn_tally one = { .conns = sent, .silent = !sent, .unserved = sent && e->out == 0,
				  .min_bytes = e->out, .min_ordinal = e->ordinal, .max_bytes = e->out,
				  .sum = (double)e->out, .squares = (double)e->out * (double)e->out };
	conn_tally_merge(&s->tally, &one);
}

/* Whether any hook or toggle asks the loop for something: one cheap check per iteration. */
static inline int server_hooks_asked(const struct server *s)
{
	return (__atomic_load_n(&s->debug_pause_ms, __ATOMIC_RELAXED) |
		__atomic_load_n(&s->debug_fail_err, __ATOMIC_RELAXED)) != 0 ||
	       (__atomic_load_n(&s->pause_until_ns, __ATOMIC_RELAXED) |
		__atomic_load_n(&s->punt_until_ns, __ATOMIC_RELAXED) |
		__atomic_load_n(&s->starve_until_ns, __ATOMIC_RELAXED)) != 0;
}

struct server_ops {
	/* The server thread's life (setup's owner is the struct server): its setup returns once
	 * the server listens, and fills in port and ring. */
	struct worker_body body;
	/* Adds what a server with this config and nconns connections allocates. */
	void (*memory)(const struct server_config *cfg, unsigned nconns, struct memory_needs *m);
};

/* The implementation of an engine (servers/servers.c); NULL if there is none. */
const struct server_ops *server_ops_for(enum server_engine engine);

/* Fills in a server (worker `index` of cfg->workers) before it starts: nothing open, nothing running. */
void server_init(struct server *s, const struct server_config *cfg, unsigned index,
		 const struct worker_hook *before_exit);
/*
 * On the worker thread, before its ring, buffers or connection state exist (first touch
 * decides where pages land, and an SQPOLL thread copies its creator's affinity): names the
 * thread "uring-srv-<index>", pins it to cfg.cpus[index % ncpus] (or to numa_node's CPUs when
 * no CPUs are listed) and binds its memory policy to numa_node. What took effect is recorded
 * in *res (cpu, numa_node; refusals as RING_SETTING_NUMA_CPUS / _NUMA_NODE); a refusal leaves
 * the thread where it was and the run goes on (the host checks the topology up front).
 */
void server_place_thread(const struct server *s, struct ring_setup_result *res);
/* Copies what server_place_thread recorded into the ring's result (ring_setup zeroes it). */
void server_record_placement(struct ring_setup_result *dst, const struct ring_setup_result *placed);
/* This worker's listening socket on 127.0.0.1:cfg.port (SO_REUSEPORT when workers > 1), its
 * fd in *fd as soon as it exists (the caller closes it), s->port set; 0 or -errno, *step at fault. */
int server_listen(struct server *s, int nonblocking, int *fd, enum start_step *step);
/* Starts the server thread; it reports on `ready` once it listens, or has given up
 * (s->worker.fail). 0, or -errno when the thread could not even start. */
int server_start(struct server *s, struct latch *ready);
/*
 * On the server thread, when server_hooks_asked(): runs a pause (debugPauseServer's
 * debug_pause_ms, or serverPause's pause_until_ns) by sleeping in short slices up to its
 * deadline, so a cleared toggle ends it within a slice and a stop at once; then returns (and clears) the
 * debug_fail_err asked for, or 0.
 */
int server_run_hooks(struct server *s);
/* Whether a toggle deadline is still ahead at `now`; an expired one is cleared (0), unless it
 * was set anew meanwhile. */
int server_toggle_live(uint64_t *until_ns, uint64_t now);
/* Wakes the server thread and joins it. Safe to call twice. */
void server_stop(struct server *s);

/* On the worker: its SQPOLL ring `fd` is up (server_sqpoll_stats_close before it closes). */
void server_sqpoll_stats_open(struct server *s, int fd);
/* On the worker, before its ring closes: a last read, then the fd is no longer read. */
void server_sqpoll_stats_close(struct server *s);
/* On the snapshot's thread: reads the ring's fdinfo if it is still open, then gives the last
 * good read (0, *out filled), -ENODATA (the kernel does not report it) or -EAGAIN (no SQPOLL
 * thread, or no good read yet). */
int server_sqpoll_stats(struct server *s, struct sqpoll_stats *out);

#ifdef __cplusplus
}
#endif

#endif
