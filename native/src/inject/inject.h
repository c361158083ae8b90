/*
 * Fault injection (issue 12's chaos panel): bounded faults started during a run, each ending by
 * itself at its deadline and cleaned up by inject_stop_all() or, for the process faults, by
 * the kernel when the engine process dies (PR_SET_PDEATHSIG).
 *
 *  - process faults: cpuHog, memoryPressure, softirqLoad fork children (one per CPU, or one
 *    for memory pressure) that run until the deadline; a reaper thread per injection waits for
 *    them (no zombies) and removes memoryPressure's cgroup;
 *  - server toggles: serverPause, ioWqPunt, bufferStarvation set a deadline on every server
 *    worker of the running engine (engine_set_toggle); the loops check it themselves.
 *
 * Children are forked from the calling thread: PR_SET_PDEATHSIG fires when that THREAD exits,
 * so call inject_start from a thread that lives as long as the process (the JS thread).
 */
#ifndef URING_LAB_INJECT_INJECT_H
#define URING_LAB_INJECT_INJECT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum inject_kind {
	INJECT_CPU_HOG = 0,
	INJECT_MEMORY_PRESSURE,
	INJECT_IO_WQ_PUNT,
	INJECT_BUFFER_STARVATION,
	INJECT_SERVER_PAUSE,
	INJECT_SOFTIRQ_LOAD,
	INJECT_KINDS,
};

#define INJECT_CPUS_MAX 256
#define INJECT_PIDS_MAX INJECT_CPUS_MAX
#define INJECT_ACTIVE_MAX 32
#define INJECT_DURATION_MAX_MS 60000

/* memoryPressure: the cgroup's limit and the file read round and round (8x the limit). */
#define INJECT_MEMCG_LIMIT_BYTES (64ull << 20)
#define INJECT_MEMPRESS_FILE_BYTES (512ull << 20)
/* The cgroup's name: "uring-lab-inject-<enginePid>-<id>" at the root of the memory hierarchy
 * (the host removes a dead engine's leftovers by this prefix and pid). */
#define INJECT_CGROUP_PREFIX "uring-lab-inject-"

struct inject_request {
	enum inject_kind kind;
	unsigned duration_ms; /* 1..INJECT_DURATION_MAX_MS */
	int cpus[INJECT_CPUS_MAX];
	unsigned ncpus;       /* 0: every online CPU */
};

/* Why a start was refused: the errno, what and why (one line), and what to do. */
struct inject_refusal {
	int err; /* negative errno */
	char message[256];
	char fix[256];
};

struct inject_info {
	int id;
	enum inject_kind kind;
	int pids[INJECT_PIDS_MAX]; /* the children still running (process faults) */
	unsigned npids;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
	char detail[512];
};

const char *inject_kind_name(enum inject_kind kind);
/* Starts one injection; 0, or -errno with *why filled in (nothing left running). */
int inject_start(const struct inject_request *req, struct inject_info *out, struct inject_refusal *why);
/* Ends every injection now: SIGKILLs and reaps the children, removes the cgroups, clears the
 * server toggles. Idempotent; returns once everything is gone. */
void inject_stop_all(void);
/* The injections active now (up to max); returns how many. */
unsigned inject_active(struct inject_info *out, unsigned max);

#ifdef __cplusplus
}
#endif

#endif
