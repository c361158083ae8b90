/*
 * One engine per process: a server thread plus the load threads, started, sampled and stopped
 * together. The engine starts "a server" and "loads" through core/server.h and core/load.h,
 * whichever kinds the config names. Every function returns 0 or a negative errno; a failed
 * start says at which step (core/start_step.h). Turning that into words is the binding's job.
 *
 * Start and stop may run on any thread (the binding runs them on libuv's
 * pool for startAsync/stopAsync) while snapshot() is called from the JS
 * thread: a state word says who may touch the engine. Each of start and
 * stop is split into a quick claim, made on the caller's thread so a second
 * claim fails at once, and the slow rest. The async callers also hold the
 * claim after the slow part until their promise settles (engine_settle()),
 * so "in progress" means the same thing to C and to JS.
 */
#ifndef URING_LAB_CORE_ENGINE_H
#define URING_LAB_CORE_ENGINE_H

#include <stdint.h>

#include "core/latency_histogram.h"
#include "core/load.h"
#include "core/ring_setup.h"
#include "core/server.h"
#include "core/start_step.h"
#include "loads/storage_load.h"

#ifdef __cplusplus
extern "C" {
#endif

enum engine_state {
	ENGINE_IDLE = 0,
	ENGINE_STARTING, /* only the starting thread touches the engine */
	ENGINE_RUNNING,  /* snapshot() may read it */
	ENGINE_STOPPING, /* only the stopping thread touches the engine */
};

struct engine_load_config {
	enum load_kind kind;
	unsigned connections; /* 0: server only */
	unsigned msg_bytes;
	unsigned threads;     /* 1..LOAD_THREADS_MAX */
	/* load.mode, load.pipeline, load.rateRps (open: spread over the threads by their share of
	 * the connections), load.timeoutMs (0: none), load.cpus (thread i on cpus[i % ncpus]). */
	enum load_mode mode;
	unsigned pipeline;
	double rate_rps;
	uint64_t timeout_ms;
	int cpus[LOAD_THREADS_MAX];
	unsigned ncpus;
};

/* `uring-lab load`: the load connects to someone else's echo server; no server of ours runs. */
struct engine_target {
	int enabled;
	uint32_t addr; /* IPv4, network byte order */
	uint16_t port;
};

struct engine_config {
	struct server_config server;
	struct engine_load_config load;
	struct engine_target target; /* enabled: no server workers start, the load connects there */
	/* workload "storage": no server and no echo load; load.threads storage jobs run against
	 * storage.path instead (loads/storage_load.h). */
	int storage_workload;
	struct storage_config storage;
	uint64_t max_duration_ms; /* load threads stop by themselves after this */
	unsigned fd_reserve;      /* descriptors the host opens in this process after the start (the probes') */
};

struct engine_started {
	int port;
	/* Worker 0's ring, with every other worker's refusals that worker 0 did not have appended,
	 * and attached_wq / napi / min_wait_us / cpu only where every worker got them (see
	 * engine_start_finish). */
	struct ring_setup_result ring;
	unsigned load_threads; /* threads actually started: min(threads, connections) */
	unsigned workers;      /* server worker threads (server.rings) */
	int worker_tid[SERVER_WORKERS_MAX];
	int worker_cpu[SERVER_WORKERS_MAX];  /* -1: not pinned to one CPU */
	int worker_node[SERVER_WORKERS_MAX]; /* -1: no memory policy */
	int worker_attached[SERVER_WORKERS_MAX]; /* ring attached to worker 0's SQPOLL thread (ATTACH_WQ) */
	/* Storage workload: the target as storage_prepare found it; ring is job 0's, with the other
	 * jobs' refusals appended. */
	struct storage_info storage;
};

/* Where start() failed, with the negative errno. */
struct engine_error {
	struct start_error at;
	/* STEP_FD_LIMIT: descriptors needed, and RLIMIT_NOFILE after
	 * trying to raise the soft limit to the hard one. */
	uint64_t fds_needed, fds_open, fds_soft, fds_hard;
	uint64_t fds_reserve; /* of fds_needed, the host's own after the start (the probes') */
};

/* Deltas since the previous snapshot (or start), except the gauges. */
struct engine_snapshot {
	uint64_t requests; /* completed round trips (== sum of hist) */
	uint64_t bytes;
	uint64_t errors;   /* load errors + server errors */
	uint64_t mismatches; /* of errors: echoes whose bytes differ from the request sent */
	uint64_t timeouts; /* load requests abandoned after load.timeoutMs (not in errors) */
	uint64_t server_errors;
	uint64_t enobufs;
	uint64_t hist[LH_BUCKETS];
	uint64_t corrected_hist[LH_BUCKETS]; /* coordinated-omission corrected */
	uint64_t server_cpu_ns;
	uint64_t load_cpu_ns; /* == sum of load_thread_cpu_ns */
	uint64_t load_thread_cpu_ns[LOAD_THREADS_MAX];
	unsigned load_threads; /* entries used in load_thread_cpu_ns */
	/* Each load thread's own CPU, without its io-wq / SQPOLL helpers, which run on other CPUs
	 * beside it: what says whether the generator thread itself was saturated (with them a
	 * storage job's share of the interval read above 1). */
	uint64_t load_thread_busy_ns[LOAD_THREADS_MAX];
	uint64_t process_cpu_ns;
	/* The server's own counters, summed over its workers (deltas); see struct server. */
	uint64_t enters, cqes, recv_cqes, sends, bytes_out, zc_sends, zc_copied, rearms;
	uint64_t batched_waits;  /* enters that waited with min_wait_usec (server.minWaitUs) */
	uint64_t spilled_bytes; /* echo bytes copied out of the pool for peers that do not read */
	uint64_t zc_fallbacks;  /* copying sends with SEND_ZC on: past its budget of half the pool */
	uint64_t errors_by_op[SERVER_ERR_OPS];
	uint64_t cq_overflows;  /* the kernel's CQ overflow count, this interval */
	/* Server CPU split: the worker threads' user and system time (from /proc/self/task/TID/stat,
	 * which the kernel scales so utime + stime = the exact runtime; tick-granular: 10 ms at
	 * USER_HZ 100), and their SQPOLL threads' CPU apart (exact thread clocks). server_cpu_ns
	 * stays the exact total of workers + every io_uring helper. */
	uint64_t server_user_ns, server_sys_ns, sqpoll_cpu_ns;
	/* The part of sqpoll_cpu_ns its threads spent with work to do (the kernel's SqWorkTime,
	 * Linux 6.11; the rest spun idle), each thread once (read through the ring that owns it).
	 * sqpoll_work_known is 0 without an SQPOLL thread, or on a kernel that does not report it. */
	uint64_t sqpoll_work_ns;
	int sqpoll_work_known;
	/* TCP segments the server's connections sent / received, all and those with data
	 * (tcp_segments.h: the kernel's per-socket counts through sock_diag), since the previous
	 * snapshot that read them, and the requests completed over that same span. Read about
	 * once a second and by the final snapshot: segs_known is 0 in the snapshots between, and
	 * where they could not be read. */
	struct tcp_segment_counts segs;
	uint64_t segs_requests;
	int segs_known;
	/* The kernel's words on some closed connections were lost in this span (segs.words_lost
	 * grew): segs_known is 0 for it, and this says why. */
	int segs_lost;
	/* gauges */
	uint64_t bufs_in_use, bufs_total; /* provided buffers held / in the pools, over all workers */
	uint64_t bufs_in_ring; /* free buffers the kernels can pick from, over all workers */
	uint64_t bufs_peak; /* each worker's most held at once since the start, summed over workers */
	unsigned workers;
	uint64_t worker_accepted[SERVER_WORKERS_MAX]; /* cumulative connections each worker accepted */
	uint64_t worker_active[SERVER_WORKERS_MAX];
	uint64_t monotonic_ns;
	uint64_t active_connections;
	uint64_t peak_connections;    /* the most server connections open at once since the start (0: no server) */
	uint64_t in_flight;           /* requests sent whose echo has not fully arrived */
	uint64_t oldest_in_flight_us; /* age of the oldest of them, rounded up; 0 if none */
	uint64_t live_load_connections;
	int running;
	int server_loop_err; /* negative errno if the server loop died, else 0 */
	/* The stop's final snapshot only (conn_tally_known): every connection the workers served,
	 * each one's echoed bytes folded in as it closed (server.h). */
	struct conn_tally conn_tally;
	int conn_tally_known;
};

/* Bytes a config will allocate; see memory_needs.h. */
struct engine_memory {
	uint64_t buffer_ring, load_buffers, rings, conn_state, total;
	uint64_t memlock; /* charged to RLIMIT_MEMLOCK without CAP_IPC_LOCK */
	int memlock_exempt; /* this process has CAP_IPC_LOCK: nothing is charged */
	uint64_t memlock_limit; /* RLIMIT_MEMLOCK soft limit, UINT64_MAX when unlimited */
};

/* ENGINE_* now; only a hint by the time the caller reads it. */
int engine_state(void);

/* IDLE -> STARTING, or -EBUSY. */
int engine_start_begin(void);
/* The rest of start, after engine_start_begin(): RUNNING, or IDLE again on
 * failure; with `hold`, the engine stays STARTING until engine_settle(). */
int engine_start_finish(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err,
			int hold);
/* Calls off the start in progress (core/start_cancel.h): its set-up unwinds at the next step
 * that looks, and the start fails at STEP_START_CANCELLED with -ECANCELED. -ENOTCONN when no
 * start is in progress (a start that already finished is stopped as usual). Any thread. */
int engine_start_cancel(void);
/* Gives back a claim whose start never ran (STARTING -> IDLE). */
void engine_start_abandon(void);
/* begin + finish; a refused claim is -EBUSY at STEP_ENGINE_BUSY. */
int engine_start(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err);

/* -ENOTCONN unless RUNNING: never waits for a start or stop in progress. */
int engine_snapshot(struct engine_snapshot *snap);
/* The load's requests completed since the start (what engine_snapshot's `requests` sums), into
 * *count, and which start that was into *run: for the probes' time sampling
 * (probe_sampling_meter), from any thread. -ENOTCONN unless RUNNING. Takes the engine's lock for
 * a few hundred relaxed loads per load thread. */
int engine_requests_completed(uint64_t *count, uint64_t *run);
/* Echoes completed per load connection since the start, in connection order, cumulative, as
 * the last snapshot (or the stop's) read them: each load thread's right after its histogram, so
 * they count the completions that snapshot counted as requests, but for those of the ns between
 * the two reads. A malloc'd copy into *counts (the caller frees it), its length into *n, which
 * start they belong to into *run. While RUNNING, and when IDLE after a stop (then final: every
 * load thread had exited before the stop's snapshot). -ENOTCONN while a start
 * or stop is in progress, before any start, or when the last start ran no echo load (storage,
 * server only); -ENOMEM. */
int engine_connection_echoes(uint64_t **counts, unsigned *n, uint64_t *run);

/* RUNNING -> STOPPING; -ENOTCONN when idle, -EBUSY while starting or stopping. */
int engine_stop_begin(void);
/* Final snapshot, after engine_stop_begin(); ends IDLE (with `hold`: stays
 * STOPPING until engine_settle()). The in-flight and live-connection gauges
 * are the values just before the load was stopped. */
void engine_stop_finish(struct engine_snapshot *snap, int hold);
/* Moves a held start or stop on to the state its finish decided. */
void engine_settle(void);
/* begin + finish. */
int engine_stop(struct engine_snapshot *snap);
/* For teardown: settles a held start or stop, waits (bounded) for one still
 * working, then stops; -ENOTCONN when nothing is left running. */
int engine_stop_settled(struct engine_snapshot *snap);

/* The server config a worker really runs with: cfg->server plus what follows from the whole
 * config (the CQ sized for the connections; see engine.c). */
void engine_server_config(const struct engine_config *cfg, struct server_config *out);

/* What start(cfg) would allocate (memory_needs.c); needs no engine. */
void engine_memory_needs(const struct engine_config *cfg, struct engine_memory *m);

/* The server fault toggles (core/server.h). */
enum engine_toggle { ENGINE_TOGGLE_PAUSE = 0, ENGINE_TOGGLE_PUNT, ENGINE_TOGGLE_STARVE };
/*
 * Sets a fault toggle on every server worker until the CLOCK_MONOTONIC deadline until_ns (0
 * clears it). -ENOTCONN unless RUNNING; -ENODEV when no server of ours runs (a target, the
 * storage workload); -EOPNOTSUPP for PUNT and STARVE on the epoll server (no ring, no buffer
 * ring). The server loops check the deadline themselves.
 */
int engine_set_toggle(enum engine_toggle which, uint64_t until_ns);

/* Test hooks (see core/server.h); -ENOTCONN unless RUNNING. */
int engine_debug_pause_server(unsigned ms);
int engine_debug_fail_server(int err);

#ifdef __cplusplus
}
#endif

#endif
