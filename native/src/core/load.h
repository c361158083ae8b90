/*
 * What the engine needs from a load, whichever kind it is (the closed-loop echo load today, a
 * storage load next): one struct load per load thread that the engine owns and reads, and a
 * small table of operations. Everything a load publishes for snapshots lives here, written
 * only by its thread.
 */
#ifndef URING_LAB_CORE_LOAD_H
#define URING_LAB_CORE_LOAD_H

#include <stdint.h>

#include "core/cpu_accounting.h"
#include "core/latency_histogram.h"
#include "core/memory_needs.h"
#include "core/ring_setup.h"
#include "core/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

struct latch;
struct load_ops;

#define LOAD_THREADS_MAX CPU_LOAD_THREADS_MAX /* 64 */

enum load_kind { LOAD_ECHO = 0, LOAD_STORAGE };

struct storage_config; /* loads/storage_load.h */
enum load_mode { LOAD_CLOSED = 0, LOAD_OPEN };

/* One load thread's share of the load. */
struct load_config {
	uint16_t port;        /* the server's */
	uint32_t addr;        /* the server's IPv4 address, network byte order; 0: 127.0.0.1 */
	unsigned nconns;
	unsigned msg_bytes;
	unsigned conn_base;   /* index of this thread's first connection, seeds its patterns */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC: the thread stops by itself here */
	/* load.mode/pipeline/rateRps/timeoutMs/cpus (see loads/echo_load.h for what they do). */
	enum load_mode mode;
	unsigned pipeline;    /* messages outstanding per connection (closed), or at most (open) */
	double rate_rps;      /* open: this thread's share of load.rateRps */
	uint64_t timeout_ns;  /* a request older than this is a timeout; 0: never */
	int cpu;              /* pinned to this CPU before the ring exists; -1: not pinned */
	/* Storage jobs: the target and ring knobs, shared read-only by every job (NULL for echo);
	 * conn_base is then the job's index and nconns its queue depth. */
	const struct storage_config *storage;
	/* Echo load: this thread's slice of the engine's per-connection echo counts (one per
	 * connection, written only by this thread), NULL where nothing counts them (storage). */
	uint64_t *echoes;
};

struct load {
	const struct load_ops *ops;
	struct load_config cfg;
	struct worker worker;

	/* Written only by the load thread, read by snapshot() (relaxed atomics).
	 * Completed round trips are the histogram's total. */
	struct latency_histogram hist;
	/* The same round trips corrected for coordinated omission
	 * (lh_record_corrected with this thread's EWMA round trip as E). */
	struct latency_histogram corrected;
	uint64_t errors;     /* mismatched echoes, failed connections */
	uint64_t mismatches; /* of errors: echoes whose bytes differ from the request sent */
	uint64_t timeouts;   /* requests abandoned after timeout_ns (not in errors) */
	uint64_t live_conns; /* gauge: connections not dead (0 once the thread ended) */
	uint64_t outstanding; /* gauge: requests started whose echo has not fully arrived */
	/* Per connection: CLOCK_MONOTONIC t0 of its oldest outstanding request (with a pipeline,
	 * the head of its queue; in open mode its intended send time), 0 when it has none.
	 * Allocated by load_init and freed by load_join, so a snapshot may scan it for as long as
	 * the thread is joinable. */
	uint64_t *inflight_t0;
	int running;         /* 1 from start until the loop ends (stop() or deadline) */
	/* Storage jobs: the job's ring as it took effect, refusals included (set by its setup,
	 * before it reports ready; the echo load leaves it zero). */
	struct ring_setup_result ring;
} __attribute__((aligned(64))); /* threads' counters on separate cache lines */

struct load_ops {
	/* A load thread's life (setup's owner is its struct load): its setup returns once every
	 * connection is connected, with live_conns and running published. */
	struct worker_body body;
	/* Adds what one load thread with nconns connections allocates. */
	void (*memory)(unsigned nconns, unsigned msg_bytes, struct memory_needs *m);
};

/* The implementation of a load kind (loads/loads.c); NULL if there is none. */
const struct load_ops *load_ops_for(enum load_kind kind);

/* Load threads for `connections` over at most `threads`, and the connections of thread i:
 * shared by the engine's start and its memory needs. */
unsigned load_thread_count(unsigned connections, unsigned threads);
unsigned load_thread_conns(unsigned connections, unsigned nload, unsigned i);

/* Fills in a load thread before it starts. 0, or -ENOMEM (with l->worker.fail set). */
int load_init(struct load *l, const struct load_ops *ops, const struct load_config *cfg,
	      const struct worker_hook *before_exit);
/* Starts the load thread; it reports on `ready` once connected, or has given up
 * (l->worker.fail). 0, or -errno when the thread could not even start. */
int load_start(struct load *l, struct latch *ready);
/* Joins the thread, closes its eventfd, frees inflight_t0. Safe to call twice. */
void load_join(struct load *l);
/* Reader side: requests of this thread in flight now; lowers *oldest_t0 to the oldest one's t0. */
unsigned load_inflight(const struct load *l, uint64_t *oldest_t0);

/* load.cpus: pins the calling load thread (an echo load thread or a storage job) to its CPU,
 * before its ring exists so the ring's io-wq helpers inherit the affinity. 0, or -errno with
 * *step at STEP_LOAD_CPU. Nothing to do when it has no CPU (-1). */
int load_pin_self(const struct load *l, enum start_step *step);

#ifdef __cplusplus
}
#endif

#endif
