/*
 * Reads a probe_set's maps each interval: sums the per-CPU histograms and counters and reports
 * the difference since the previous read (the kernel side only ever adds, so no increment is
 * lost between a read and a reset), drains the TCP event channel, and reads each program's
 * run-time stats. Needs no privilege: it only uses fds it was given.
 */
#ifndef URING_LAB_PROBES_PROBE_READER_H
#define URING_LAB_PROBES_PROBE_READER_H

#include <stdint.h>

#include "kernel_histogram.h"
#include "probe_loader.h"
#include "offcpu.h"
#include "uring_latency.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROBE_MAX_EVENTS 256
#define PROBE_MAX_COMPETITORS 16   /* sched.competitors: the largest by on-CPU time */
#define PROBE_MAX_MEM_TASKS 8      /* memory.byTask */
#define PROBE_MAX_OFFCPU_EVENTS 256 /* offCpu.events per frame: the longest; the others counted in truncated */
#define PROBE_MAX_PROFILE_SAMPLES 1024 /* distinct (thread, stacks) per frame; the rest in lost */

struct probe_competitor {
	unsigned pid, tgid;
	char comm[16];
	uint64_t on_cpu_ns, preempted_engine, cpus; /* cpus: bit per CPU */
};

struct probe_mem_task {
	unsigned pid;
	char comm[16];
	uint64_t ns;
};

struct probe_offcpu_event {
	unsigned tid;
	char comm[16];
	uint64_t off_ns, end_ns;
	int nframes;
	uint64_t ips[OFFCPU_MAX_FRAMES];
};

struct probe_profile_sample {
	unsigned tid;
	char comm[16];
	uint64_t count;
	/* Owned by the reader's stack cache, valid until probe_reader_free(); leaf first. */
	const uint64_t *kernel_ips, *user_ips;
	int nkernel, nuser;
	/* The stacks' ids in the profile's stack map (-1: none): one id names one stack for the
	 * reader's life, so a consumer may keep what it made of one by id. */
	int kernel_stack, user_stack;
};

struct probe_tcp_event {
	uint64_t monotonic_ns;
	int kind;                /* TCP_EVENT_* */
	unsigned reason;
	const char *reason_name; /* from BTF, NULL for retransmits or an unknown value */
	unsigned sport, dport;
	int state;               /* -1 unknown */
};

struct probe_overhead {
	char program[34];
	int probe;               /* enum probe_id */
	uint64_t run_time_ns, run_count;
};

struct kernel_frame {
	uint64_t monotonic_ns; /* when the read ended: no event in the frame is later */
	struct {
		uint64_t submits, completions, enters, cq_waits, io_wq_punts, cqe_overflows, short_writes, req_failed;
		int enters_source;          /* enum probe_enters_source (PROBE_ENTERS_ENGINE: enters is 0) */
		double latency_sample_rate; /* fraction of request legs timed (LAT_SAMPLE_RATE); 0 when not attached */
		uint64_t latency[KH_BUCKETS], task_work[KH_BUCKETS];
		uint64_t opcode_count[LAT_MAX_OPCODES];
		uint64_t opcode_latency[LAT_MAX_OPCODES][KH_BUCKETS];
	} uring;
	struct {
		uint64_t latency[KH_BUCKETS];
		uint64_t count, preemptions;
	} runqueue;
	struct {
		uint64_t on_cpu_ns, wakeups;
	} sqpoll;
	struct {
		uint64_t net_rx_ns, net_tx_ns, net_rx_count, net_tx_count, napi_polls;
		double time_sample_rate; /* SOFTIRQ_TIME_SAMPLE_RATE; 0 when not attached */
	} softirq;
	struct {
		uint64_t retransmits, drops, lost;
		uint64_t close_drops; /* drops at a socket being closed or gone: no events */
		uint64_t dup_drops;   /* duplicates the receiver already had (spurious retransmits): no events */
		int nevents;
		struct probe_tcp_event events[PROBE_MAX_EVENTS];
		uint64_t truncated;
		const char *channel; /* "ringbuf" | "perfbuf" | NULL when unavailable */
	} tcp;
	int has_overhead;
	int noverhead;
	struct probe_overhead overhead[PROBE_MAX_FDS];
	/* Issue 12's evidence; each has_* is 0 when its probe is not attached (the frame's null). */
	int has_sched;
	struct {
		int ncompetitors;
		struct probe_competitor competitors[PROBE_MAX_COMPETITORS];
		uint64_t others_on_cpu_ns;
	} sched;
	int has_memory;
	struct {
		uint64_t direct_ns, direct_count, memcg_ns, memcg_count, compaction_ns, compaction_count, engine_ns;
		int ntasks;
		struct probe_mem_task tasks[PROBE_MAX_MEM_TASKS];
	} memory;
	int has_offcpu;
	struct {
		unsigned min_us;
		int nevents;
		struct probe_offcpu_event events[PROBE_MAX_OFFCPU_EVENTS];
		uint64_t truncated;
	} offcpu;
	int has_profile;
	struct {
		unsigned hz;
		int nsamples;
		struct probe_profile_sample samples[PROBE_MAX_PROFILE_SAMPLES];
		uint64_t lost;
	} profile;
};

struct probe_reader;

/* A reader over `set` (which it does not own: close the set after the reader). Its first read
 * reports what happened since this call. NULL with errno on failure. */
struct probe_reader *probe_reader_new(const struct probe_set *set);
/* The settings the frame reports (offCpu.minUs, profile.hz): what the probes were loaded with. */
void probe_reader_set_options(struct probe_reader *r, unsigned offcpu_min_us, unsigned profile_hz);
/* Fills `out` with the interval since the previous read. */
void probe_reader_read(struct probe_reader *r, struct kernel_frame *out);
void probe_reader_free(struct probe_reader *r);
/* Why the event channel is unavailable (perf buffers need CAP_PERFMON in this process), or NULL. */
const char *probe_reader_channel_error(const struct probe_reader *r);

const char *probe_tcp_state_name(int state);

#ifdef __cplusplus
}
#endif
#endif
