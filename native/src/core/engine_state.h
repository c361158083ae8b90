/*
 * The engine's own state, shared by engine.c (the state word, start and stop) and
 * engine_snapshot.c (reading it). Nothing outside core/engine*.c includes this.
 */
#ifndef URING_LAB_CORE_ENGINE_STATE_H
#define URING_LAB_CORE_ENGINE_STATE_H

#include <pthread.h>

#include "core/cpu_accounting.h"
#include "core/engine.h"

/* Cumulative values, kept so snapshots can report deltas without ever
 * resetting a counter that another thread writes. */
struct cumulative {
	uint64_t bytes, load_errors, load_mismatches, load_timeouts, server_errors, enobufs;
	uint64_t hist[LH_BUCKETS];
	uint64_t chist[LH_BUCKETS];
	uint64_t server_cpu_ns, process_cpu_ns;
	uint64_t load_thread_ns[LOAD_THREADS_MAX];
	uint64_t load_own_ns[LOAD_THREADS_MAX]; /* the thread's own clock, without its helpers */
	uint64_t enters, batched_waits, cqes, recv_cqes, sends, bytes_out, zc_sends, zc_copied, zc_fallbacks, rearms, spilled_bytes, cq_overflows;
	uint64_t errors_by_op[SERVER_ERR_OPS];
	uint64_t server_user_ns, server_sys_ns, sqpoll_cpu_ns, sqpoll_work_ns;
	struct tcp_segment_counts segs;
};

/* A worker's user/system time as last read (from /proc while it lives, from its own thread
 * just before it exits), so a worker that has gone keeps what it used. */
struct worker_times {
	uint64_t user_ns, sys_ns;
};

struct engine {
	pthread_mutex_t api_lock;
	pthread_cond_t settled; /* broadcast when a start or stop has finished (held or not) */
	pthread_mutex_t cpu_lock;
	/* The server's TCP segments (tcp_segments.h): reset by each start, opened by worker 0. */
	struct tcp_segments segments;
	int state;     /* enum engine_state; written under api_lock */
	int held;      /* a finished start/stop waits for engine_settle()... */
	int settle_to; /* ...to move to this state */
	uint64_t starts; /* starts begun, under api_lock: which run a count read belongs to */
	/* server.rings workers, each a struct server with its own thread, ring (or epoll set) and
	 * SO_REUSEPORT listener; nservers of them were initialised, started_servers started. */
	struct server *servers;
	unsigned nservers;
	unsigned started_servers;
	struct conn_gauge conns; /* open across the workers, and the peak (server.h) */
	struct worker_times times[SERVER_WORKERS_MAX];
	struct load *load;
	unsigned nload;
	/* Echoes completed per load connection, in connection order: conn_echoes[0..n) live, each
	 * load thread writing its slice (load_config.echoes); [n..2n) as the last snapshot read them,
	 * each thread's right after its histogram, so the two count the same completions but for
	 * those of the few ns between (engine_connection_echoes returns this half). Kept after the
	 * stop, whose snapshot reads them once every thread has exited, until the next start. */
	uint64_t *conn_echoes;
	unsigned nconn_echoes;
	/* Storage workload: the config the jobs read for the whole run (storage_prepare clamps its size). */
	struct storage_config storage;
	uint64_t deadline_ns;
	uint64_t load_stopped_ns; /* when stop() had joined every load thread */
	struct cpu_helpers helpers;
	struct cumulative prev;
	struct cumulative cur; /* scratch, here to keep ~12 KiB off the stack */
	/* TCP segments are read once a second (tcp_segments.h: a dump walks the kernel's whole
	 * established-socket hash, ~1.3 ms here at 50 connections, ~2.5 ms at 1000), and by the
	 * final snapshot: when the last read was, the requests completed since, and whether the
	 * next snapshot must read (the final one). */
	uint64_t segs_read_ns, segs_requests;
	int segs_read_next;
};

/* In-flight and live-connection gauges, summed over the load threads. */
struct load_gauges {
	uint64_t in_flight, oldest_us, live;
};

/* engine_snapshot.c */
/* Runs on a server/load thread just before its ring (and helpers) exit: the worker hook. */
void engine_before_ring_exit(void *engine);
/* Counters start from zero now. */
void engine_reset_counters(struct engine *eng);
void engine_read_load_gauges(struct engine *eng, struct load_gauges *g);
void engine_take_snapshot(struct engine *eng, struct engine_snapshot *s);

#endif
