/*
 * One engine per process: the echo server thread plus the load threads,
 * started, sampled and stopped together. Every function returns 0 or a
 * negative errno; turning that into words is binding.cc's job.
 */
#ifndef URING_LAB_ENGINE_H
#define URING_LAB_ENGINE_H

#include <stdint.h>

#include "latency_histogram.h"
#include "ring_setup.h"

#ifdef __cplusplus
extern "C" {
#endif

struct engine_config {
	uint16_t port; /* 0: ephemeral */
	struct ring_setup_request ring;
	unsigned buf_size, buf_count;
	unsigned connections; /* 0: server only */
	unsigned msg_bytes;
	unsigned threads;
	uint64_t max_duration_ms; /* load threads stop by themselves after this */
};

struct engine_started {
	int port;
	struct ring_setup_result ring;
	unsigned load_threads; /* threads actually started: min(threads, connections) */
};

/* Where start() failed: a server step (enum server_step) or a load step
 * (enum load_step), with the negative errno. */
struct engine_error {
	int in_load;
	int step;
	int err;
};

/* Deltas since the previous snapshot (or start), except the gauges. */
struct engine_snapshot {
	uint64_t requests; /* completed round trips (== sum of hist) */
	uint64_t bytes;
	uint64_t errors;   /* load errors + server errors */
	uint64_t server_errors;
	uint64_t enobufs;
	uint64_t hist[LH_BUCKETS];
	uint64_t server_cpu_ns;
	uint64_t load_cpu_ns;
	uint64_t process_cpu_ns;
	/* gauges */
	uint64_t monotonic_ns;
	uint64_t active_connections;
	int running;
	int server_loop_err; /* negative errno if the server loop died, else 0 */
};

int engine_start(const struct engine_config *cfg, struct engine_started *out, struct engine_error *err);
/* -ENOTCONN when nothing is running. */
int engine_snapshot(struct engine_snapshot *snap);
/* Final snapshot; -ENOTCONN when nothing is running. */
int engine_stop(struct engine_snapshot *snap);

#ifdef __cplusplus
}
#endif

#endif
