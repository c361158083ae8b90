/*
 * Helpers every probe's BPF side shares: the histogram index, the thread filters, and the
 * program naming rule the loader relies on. Each hook has one program per variant, named
 * ul_<probe>_<hook>_<v> with v = b (tp_btf), r (raw_tp) or t (classic tracepoint); the loader
 * turns autoload off for every variant it does not try. Both BTF-typed variants read kernel
 * memory through KREAD, so one handler body serves tp_btf and raw_tp alike.
 */
#ifndef URING_LAB_PROBES_PROBE_COMMON_BPF_H
#define URING_LAB_PROBES_PROBE_COMMON_BPF_H

#include <bpf/bpf_core_read.h>
#include "kernel_histogram.h"

/* Thread group to watch; set by the loader before load (0 in probesCheck: nothing of ours). */
const volatile __u32 targ_tgid = 0;

/*
 * Reads a kernel field of a program argument: tp_btf programs dereference their BTF-typed
 * arguments directly (a plain load the verifier guards, several times cheaper), raw_tp ones go
 * through bpf_probe_read_kernel. `btf` is a constant in every caller (an always-inline handler
 * called by the _b and the _r program), so each program keeps only its own branch.
 */
#define KREAD(btf, p, field) ((btf) ? (p)->field : BPF_CORE_READ(p, field))

static __always_inline void kh_record(struct kh_slots *h, __u64 v)
{
	__u32 idx = kh_index(v);

	if (h && idx < KH_BUCKETS)
		__sync_fetch_and_add(&h->slots[idx], 1);
}

/* The current task is of the watched tgid: tp_btf programs load it from the current task
 * (bpf_get_current_task_btf; ~4 ns per run cheaper than bpf_get_current_pid_tgid, measured with
 * scripts/probe-cost.mjs), others ask bpf_get_current_pid_tgid. */
static __always_inline int current_in_tgid(const bool btf)
{
	if (btf)
		return (__u32)bpf_get_current_task_btf()->tgid == targ_tgid;
	return (__u32)(bpf_get_current_pid_tgid() >> 32) == targ_tgid;
}

/* The server's worker threads are named uring-srv-<i> (core/server.c), their SQPOLL threads
 * iou-sqp-<pid> (the kernel); the load's threads (uring-load) and io-wq workers are neither. */
static __always_inline int comm_is_server_worker(const char *c)
{
	return c[0] == 'u' && c[1] == 'r' && c[2] == 'i' && c[3] == 'n' && c[4] == 'g' && c[5] == '-' &&
	       c[6] == 's' && c[7] == 'r' && c[8] == 'v';
}

static __always_inline int comm_is_sqpoll(const char *c)
{
	return c[0] == 'i' && c[1] == 'o' && c[2] == 'u' && c[3] == '-' && c[4] == 's' && c[5] == 'q' && c[6] == 'p';
}

/* The current thread is a server thread: the tgid first (a cheap helper that sends every other
 * process away), its name only then. tp_btf programs read the name in place from the current
 * task; raw_tp ones have to copy it out with bpf_get_current_comm. */
static __always_inline int current_is_server_thread(const bool btf)
{
	struct task_struct *t;
	char comm[16];

	if (!current_in_tgid(btf))
		return 0;
	if (btf) {
		t = bpf_get_current_task_btf();
		return comm_is_server_worker(t->comm) || comm_is_sqpoll(t->comm);
	}
	bpf_get_current_comm(comm, sizeof(comm));
	return comm_is_server_worker(comm) || comm_is_sqpoll(comm);
}

/*
 * Whether a ring is one of the server's, from the ring itself, without a map: a SINGLE_ISSUER
 * ring (the engine's default) records the task that may submit to it, ctx->submitter_task, a
 * uring-srv-* thread for the server's rings (their SQPOLL threads submit on its behalf). 1 or 0
 * when that decides it, -1 when the ring has no submitter task (not SINGLE_ISSUER, or a kernel
 * without the field): the caller falls back to the server_rings map then.
 */
static __always_inline int ring_owner_is_server(const bool btf, struct io_ring_ctx *ring)
{
	struct task_struct *t;
	char comm[16];

	if (!bpf_core_field_exists(ring->submitter_task))
		return -1;
	t = KREAD(btf, ring, submitter_task);
	if (!t)
		return -1;
	if ((__u32)KREAD(btf, t, tgid) != targ_tgid)
		return 0;
	if (btf)
		return comm_is_server_worker(t->comm) || comm_is_sqpoll(t->comm);
	BPF_CORE_READ_STR_INTO(&comm, t, comm);
	return comm_is_server_worker(comm) || comm_is_sqpoll(comm);
}

#ifdef PROBE_SERVER_RINGS
/* ctx pointers of the server's rings that have no submitter task (not SINGLE_ISSUER): the
 * fallback of ring_owner_is_server(), filled by submissions from server threads. uring_calls
 * reuses uring_latency's map when both are attached. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} server_rings SEC(".maps");

/* A ring of the server's: its submitter task says, else the server_rings map. */
static __always_inline int server_ring(const bool btf, struct io_ring_ctx *ring)
{
	__u64 ctx = (__u64)ring;
	int v = ring_owner_is_server(btf, ring);

	return v >= 0 ? v : bpf_map_lookup_elem(&server_rings, &ctx) != NULL;
}

/* At a submission: whether the ring is the server's, registering a ring without a submitter
 * task in server_rings when a server thread submits to it (looked up first: an update costs more). */
static __always_inline int classify_submission(const bool btf, struct io_ring_ctx *ring)
{
	__u64 ctx = (__u64)ring;
	int v = ring_owner_is_server(btf, ring);
	__u8 one = 1;

	if (v >= 0)
		return v;
	v = current_is_server_thread(btf);
	if (v && !bpf_map_lookup_elem(&server_rings, &ctx))
		bpf_map_update_elem(&server_rings, &ctx, &one, BPF_ANY);
	return v;
}
#endif

/*
 * A Bernoulli draw with probability 2^-shift from a per-CPU generator state (one step of a
 * 64-bit linear congruential generator, Knuth's MMIX constants; its top bits are its good
 * ones). Why not "every 2^shift-th event": the lab's workloads are periodic (a closed loop
 * alternates RECV and SEND completions, softirqs alternate NET_RX and NET_TX), and a counter
 * with an even period locks onto one phase of them, sampling one kind of event far more than
 * the other for a whole run (RECV's share of timed legs varied 0.38-0.71 between runs). A
 * plain per-CPU update, no atomics: a program nesting into another on this CPU can only make
 * two draws see the same state, never bias the rate.
 */
static __always_inline int sample_draw(__u64 *state, unsigned int shift)
{
	__u64 s = *state * 6364136223846793005ULL + 1442695040888963407ULL;

	*state = s;
	return (s >> (64 - shift)) == 0;
}

static __always_inline void counter_add(__u64 *c, __u64 n)
{
	__sync_fetch_and_add(c, n);
}

#endif
