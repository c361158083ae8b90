/* uring_latency: map layouts shared by uring_latency.bpf.c and the reader. */
#ifndef URING_LAB_PROBES_URING_LATENCY_H
#define URING_LAB_PROBES_URING_LATENCY_H

#include "kernel_histogram.h"

/*
 * Keys of lat_hists: task-work add → completion, then one per opcode. There is no "all
 * opcodes" histogram in the kernel: the reader sums the opcodes' (one update per completion
 * less, and the total always equals the sum of its parts, which separate reads of per-CPU
 * entries would not guarantee). Opcodes from LAT_OTHER_OPCODE up (none on 6.18, whose
 * IORING_OP_LAST is 63) share the last entry.
 */
#define LAT_HIST_TASK_WORK 0
#define LAT_HIST_OPCODE0 1
#define LAT_MAX_OPCODES 64
#define LAT_OTHER_OPCODE (LAT_MAX_OPCODES - 1)
#define LAT_HIST_ENTRIES (LAT_HIST_OPCODE0 + LAT_MAX_OPCODES)

/*
 * Sampling. Submits and completions are counted exactly; the LATENCY of only 1 in
 * 2^LAT_SAMPLE_SHIFT request legs is timed, because timing one costs a hash-map insert, lookup
 * and delete and two clock reads (~0.3 µs), far over the probes' budget if every request paid
 * it. A leg runs from a submission, or for a multishot request from its previous completion
 * (IORING_CQE_F_MORE), to the next completion. Every point where a leg can start (each
 * submission, each completion with F_MORE) draws from a per-CPU generator and starts a timed
 * leg with probability 2^-LAT_SAMPLE_SHIFT (not every n-th: a periodic workload would lock that
 * to one phase; probe_common.bpf.h: sample_draw), so the sample is spread over all connections
 * and opcodes alike (not a fixed subset of user_data values) and a leg is either timed whole or
 * not at all. The
 * histograms thus hold ≈ completions / 2^LAT_SAMPLE_SHIFT samples: the frame says the rate.
 */
#define LAT_SAMPLE_SHIFT 5
#define LAT_SAMPLE_RATE (1.0 / (1 << LAT_SAMPLE_SHIFT))

/* Per-CPU counters (one entry), cumulative since load: the reader reports deltas. */
struct lat_counters {
	unsigned long long submits;
	unsigned long long completions;
	unsigned long long sampler_state; /* the sampler's generator on this CPU, not reported */
};

/*
 * A timed leg in flight, keyed by its ring and user_data, not by its io_kiocb pointer: a
 * multishot request's CQEs after the first are posted as auxiliary CQEs (io_req_post_cqe →
 * io_fill_cqe_aux) whose tracepoint carries no request, only the cqe's user_data. The engine's
 * user_data (core/user_data.h: connection index and operation tag) is unique per request in
 * flight; an application reusing one would have the later submission restart the clock.
 */
struct lat_key {
	unsigned long long ctx;
	unsigned long long user_data;
};

struct lat_inflight {
	unsigned long long submit_ns;   /* submission, or the previous completion of a multishot */
	unsigned long long task_add_ns; /* task work added for it, 0 when none is pending */
	unsigned int opcode;
};

/*
 * lat_slots: a direct-mapped table of LAT_SLOTS entries indexed by a hash of (ring, user_data),
 * read with an inlined array lookup (a few ns) where a hash-map lookup costs tens:
 * - `timed` counts the timed legs in flight that hash here: 0, and no lookup in lat_inflight
 *   is needed (all but ~1/2^LAT_SAMPLE_SHIFT of the completions and task-work adds);
 * - (ctx, user_data, opcode) remember the last server request seen here (server 1), so a leg
 *   can start at a multishot completion, whose tracepoint has no request to read the opcode
 *   from; or (server 0) a request of a ring its submitter task shows is not the server's (the
 *   load generator's, in the same process), so its next task-work adds skip the classification.
 *   A server request displaces any entry, a foreign one only a foreign one. A colliding request
 *   only costs a lookup that finds nothing, or a leg not started.
 */
/*
 * lat_window (one entry): the time-sampling thread's window (probe_sampling.c). It attaches and
 * detaches the programs one at a time (each switch patches the tracepoint's call sites: 0.1–0.3 ms
 * of CPU on a VM, which must not come as one stall), so between the first attach and the last
 * the programs run but must count nothing: `closed` says so, and a window's counts are exactly
 * those between its opening and closing. `opened_ns` (CLOCK_MONOTONIC, bpf_ktime_get_ns's clock):
 * when the current window opened; a timed leg that started before it is from an earlier window
 * whose end was not seen (its "latency" would be the gap between them) and is dropped. All zero
 * (open since 0) when the programs stay attached (duty 1).
 */
struct lat_window {
	unsigned long long opened_ns;
	unsigned long long closed;
};

#define LAT_SLOT_BITS 12
#define LAT_SLOTS (1 << LAT_SLOT_BITS)

struct lat_slot {
	unsigned long long ctx;
	unsigned long long user_data;
	unsigned int opcode;
	unsigned int timed;
	unsigned int server;
	unsigned int pad;
};

#endif
