// SPDX-License-Identifier: GPL-2.0
/*
 * uring_latency: in-kernel io_uring request latency of the SERVER's rings, submission →
 * completion per opcode, and task-work add → completion. A ring is the server's when its
 * submitter task is a server thread (uring-srv-*) of the watched tgid, or, for a ring without
 * one, when such a thread (or its SQPOLL thread iou-sqp-*) submits to it; the load generator's
 * rings live in the same process but are never counted. Submissions and completions are counted
 * exactly, latency is timed for a sample of the requests (uring_latency.h: sampling).
 *
 * Cost is what shapes this file: every io_uring event of the machine runs these programs, so
 * each one sends foreign events away with the cheapest test first (the tgid, then loads from
 * the ring), touches only inlined array maps on the common path, and reaches the hash maps
 * and the clock for sampled legs only.
 */
#include "vmlinux.h"
#define PROBE_SERVER_RINGS
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "probe_common.bpf.h"
#include "uring_latency.h"

#define CQE_F_MORE (1U << 1) /* IORING_CQE_F_MORE: a multishot request stays armed */

char LICENSE[] SEC("license") = "GPL";

/* io_kiocb.flags: its low bits are the SQE's flags (REQ_F_CQE_SKIP_BIT is defined as
 * IOSQE_CQE_SKIP_SUCCESS_BIT, 6, since Linux 5.17), so this holds on every kernel that has it. */
#define REQ_CQE_SKIP (1ULL << 6)

/* Timed legs only (1 in 2^LAT_SAMPLE_SHIFT): LRU, so a leg whose completion never comes (its
 * ring torn down) ages out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lat_key);
	__type(value, struct lat_inflight);
} lat_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LAT_SLOTS);
	__type(key, __u32);
	__type(value, struct lat_slot);
} lat_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LAT_HIST_ENTRIES);
	__type(key, __u32);
	__type(value, struct kh_slots);
} lat_hists SEC(".maps");

/* Per CPU: a bit per opcode entry of lat_hists ever recorded on that CPU (LAT_MAX_OPCODES = 64
 * bits), so the reader copies the few entries a workload uses (an echo server: 2–4) and not all
 * 65 × KH_BUCKETS slots of every CPU (~0.5 MB a frame on 2 CPUs, most of it zeros). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lat_opcodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lat_counters);
} lat_counters SEC(".maps");

/* The time-sampling window (uring_latency.h), written by probe_sampling.c. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lat_window);
} lat_window SEC(".maps");

/* One word per CPU to turn a pointer into a plain number (below). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lat_scratch SEC(".maps");

/* Fibonacci hashing of both words: the engine's user_data differ in their low bits (connection
 * index << 4 | tag), ring pointers in their middle ones. */
static __always_inline __u32 slot_hash(__u64 ring, __u64 user_data)
{
	__u32 h = (__u32)(((ring >> 6) ^ user_data) * 0x9E3779B97F4A7C15ULL >> (64 - LAT_SLOT_BITS));

	barrier_var(h); /* computed here, from the scalar, not after a comparison with the pointer */
	return h;
}

/*
 * The slot index of (ring, user_data). In tp_btf programs the ring is a typed pointer, on which
 * the verifier allows no shift or multiply: its value is stored in a map word and read back, a
 * plain scalar (an inlined per-CPU array access, cheaper than a probe read). A program of this
 * object nesting in between (task work added from a softirq) may overwrite the word: the value
 * read back is checked and taken again once; slot 0 if the map cannot be had or the nesting
 * persists, which only costs a leg not timed, never a miscount.
 */
static __always_inline __u32 slot_index(void *ring, __u64 user_data)
{
	__u32 zero = 0, h;
	__u64 *w = bpf_map_lookup_elem(&lat_scratch, &zero), v;

	if (!w)
		return 0;
	*(volatile __u64 *)w = (__u64)ring;
	v = *(volatile __u64 *)w;
	h = slot_hash(v, user_data);
	if (v == (__u64)ring)
		return h;
	*(volatile __u64 *)w = (__u64)ring;
	v = *(volatile __u64 *)w;
	h = slot_hash(v, user_data);
	return v == (__u64)ring ? h : 0;
}

static __always_inline struct lat_counters *counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lat_counters, &zero);
}

static __always_inline void record(__u32 key, __u64 ns)
{
	__u32 zero = 0;
	__u64 *seen;

	kh_record(bpf_map_lookup_elem(&lat_hists, &key), ns);
	/* After the histogram: a reader that sees the bit finds the entry written (or reads it whole
	 * at the next frame: the histograms are cumulative). A plain per-CPU or: no atomics needed. */
	if (key >= LAT_HIST_OPCODE0 && key < LAT_HIST_ENTRIES) {
		seen = bpf_map_lookup_elem(&lat_opcodes, &zero);
		if (seen)
			*seen |= 1ULL << (key - LAT_HIST_OPCODE0);
	}
}

static __always_inline struct lat_slot *slot_of(void *ring, __u64 user_data)
{
	__u32 i = slot_index(ring, user_data);

	return bpf_map_lookup_elem(&lat_slots, &i);
}

/* The sampler: this leg start is timed with probability 2^-LAT_SAMPLE_SHIFT (sample_draw). */
static __always_inline int sample_tick(struct lat_counters *c)
{
	return sample_draw(&c->sampler_state, LAT_SAMPLE_SHIFT);
}

/* Outside a time-sampling window: count and time nothing (an inlined array lookup, a few ns). */
static __always_inline int window_closed(void)
{
	__u32 zero = 0;
	struct lat_window *w = bpf_map_lookup_elem(&lat_window, &zero);

	return !w || w->closed;
}

/* The leg started in an earlier window (lat_window): only on the timed path, ~1 in 32. */
static __always_inline int leg_is_stale(const struct lat_inflight *in)
{
	__u32 zero = 0;
	struct lat_window *w = bpf_map_lookup_elem(&lat_window, &zero);

	return w && in->submit_ns < w->opened_ns;
}

static __always_inline void start_leg(struct lat_slot *slot, struct lat_key *key, __u32 opcode, __u64 now)
{
	struct lat_inflight in = { .submit_ns = now, .opcode = opcode };

	if (bpf_map_update_elem(&lat_inflight, key, &in, BPF_ANY))
		return;
	__sync_fetch_and_add(&slot->timed, 1);
}

static __always_inline void end_leg(struct lat_slot *slot, struct lat_key *key)
{
	if (!bpf_map_delete_elem(&lat_inflight, key))
		__sync_fetch_and_add(&slot->timed, -1);
}

static __always_inline int on_submit(const bool btf, struct io_kiocb *req)
{
	struct io_ring_ctx *ring;
	struct lat_counters *c;
	struct lat_slot *slot;
	struct lat_key key;
	__u32 opcode;

	/* The server's submissions come from its own threads (or SQPOLL threads, same tgid). */
	if (!current_in_tgid(btf))
		return 0;
	ring = KREAD(btf, req, ctx);
	if (!classify_submission(btf, ring) || window_closed())
		return 0;
	c = counters();
	if (!c)
		return 0;
	__sync_fetch_and_add(&c->submits, 1);
	key.ctx = (__u64)ring;
	key.user_data = KREAD(btf, req, cqe.user_data);
	opcode = KREAD(btf, req, opcode);
	slot = slot_of(ring, key.user_data);
	if (!slot)
		return 0;
	slot->ctx = key.ctx;
	slot->user_data = key.user_data;
	slot->opcode = opcode;
	slot->server = 1;
	/* A request submitted with IOSQE_CQE_SKIP_SUCCESS (the server's quiet sends) posts no
	 * completion when it succeeds, so a leg started for it would never end: not timed, and
	 * not drawn from the sampler either, so the rate stays that of the legs that end. */
	if (!(KREAD(btf, req, flags) & REQ_CQE_SKIP) && sample_tick(c))
		start_leg(slot, &key, opcode, bpf_ktime_get_ns());
	return 0;
}

static __always_inline int on_task_add(const bool btf, struct io_kiocb *req)
{
	struct io_ring_ctx *ring = KREAD(btf, req, ctx);
	struct lat_key key = { (__u64)ring, KREAD(btf, req, cqe.user_data) };
	struct lat_slot *slot = slot_of(ring, key.user_data);
	struct lat_inflight *in;
	int v;

	if (!slot || window_closed())
		return 0;
	if (slot->timed) {
		in = bpf_map_lookup_elem(&lat_inflight, &key);
		if (in) {
			in->task_add_ns = bpf_ktime_get_ns();
			return 0;
		}
	}
	/* Task work is added in softirq, for any process. A request the slot knows (either way)
	 * is done with; a server request it does not know yet (one armed before we attached: the
	 * engine's multishot recvs live as long as their connection) has its opcode remembered, so
	 * a leg can start at its next completion. */
	if (slot->ctx == key.ctx && slot->user_data == key.user_data)
		return 0;
	v = ring_owner_is_server(btf, ring);
	if (v == 0) {
		/* Cached only when the ring itself said so, never over a server request's entry. */
		if (!slot->server) {
			slot->ctx = key.ctx;
			slot->user_data = key.user_data;
		}
		return 0;
	}
	if (v < 0 && !server_ring(btf, ring))
		return 0;
	slot->ctx = key.ctx;
	slot->user_data = key.user_data;
	slot->opcode = KREAD(btf, req, opcode);
	slot->server = 1;
	return 0;
}

static __always_inline int on_complete(const bool btf, struct io_ring_ctx *ring, struct io_uring_cqe *cqe)
{
	struct lat_inflight *in = NULL;
	struct lat_counters *c;
	struct lat_slot *slot;
	struct lat_key key;
	__u64 now;
	int more;

	/* Completions are posted by the ring's task (task work) or its io-wq/SQPOLL threads, all
	 * in the server's tgid; only a ring's teardown posts from a kworker, CQEs nobody reaps. */
	if (!current_in_tgid(btf) || !server_ring(btf, ring) || window_closed())
		return 0;
	c = counters();
	if (!c)
		return 0;
	__sync_fetch_and_add(&c->completions, 1);
	key.ctx = (__u64)ring;
	key.user_data = KREAD(btf, cqe, user_data);
	more = KREAD(btf, cqe, flags) & CQE_F_MORE;
	slot = slot_of(ring, key.user_data);
	if (!slot)
		return 0;
	if (slot->timed)
		in = bpf_map_lookup_elem(&lat_inflight, &key);
	if (in && leg_is_stale(in)) {
		end_leg(slot, &key);
		in = NULL; /* and a multishot request may start a leg here, as after an untimed one */
	}
	if (in) {
		now = bpf_ktime_get_ns();
		record(LAT_HIST_OPCODE0 + (in->opcode < LAT_OTHER_OPCODE ? in->opcode : LAT_OTHER_OPCODE),
		       now - in->submit_ns);
		if (in->task_add_ns)
			record(LAT_HIST_TASK_WORK, now - in->task_add_ns);
		if (more && sample_tick(c)) {
			in->submit_ns = now; /* the next leg is timed too, from this completion */
			in->task_add_ns = 0;
		} else {
			end_leg(slot, &key);
		}
		return 0;
	}
	/* An untimed leg ended; a multishot request starts another here. Its opcode comes from
	 * the slot (the tracepoint of an auxiliary CQE has no request): a leg whose opcode the
	 * slot lost to a colliding request is not started. */
	if (more && sample_tick(c) && slot->ctx == key.ctx && slot->user_data == key.user_data && slot->server)
		start_leg(slot, &key, slot->opcode, bpf_ktime_get_ns());
	return 0;
}

/* A new ring may reuse the address of a freed server ring: forget it until a server submits. */
static __always_inline int on_create(void *ctx_ptr)
{
	__u64 ctx = (__u64)ctx_ptr;

	bpf_map_delete_elem(&server_rings, &ctx);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(ul_lat_sub_b, struct io_kiocb *req) { return on_submit(true, req); }
SEC("raw_tp/io_uring_submit_req")
int BPF_PROG(ul_lat_sub_r, struct io_kiocb *req) { return on_submit(false, req); }

SEC("tp_btf/io_uring_task_add")
int BPF_PROG(ul_lat_tw_b, struct io_kiocb *req, int mask) { return on_task_add(true, req); }
SEC("raw_tp/io_uring_task_add")
int BPF_PROG(ul_lat_tw_r, struct io_kiocb *req, int mask) { return on_task_add(false, req); }

/* The (ctx, req, cqe) prototype of 6.13+; the loader refuses older kernels with the reason. */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(ul_lat_cqe_b, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	return on_complete(true, ring, cqe);
}
SEC("raw_tp/io_uring_complete")
int BPF_PROG(ul_lat_cqe_r, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	return on_complete(false, ring, cqe);
}

SEC("tp_btf/io_uring_create")
int BPF_PROG(ul_lat_new_b, int fd, void *ring) { return on_create(ring); }
SEC("raw_tp/io_uring_create")
int BPF_PROG(ul_lat_new_r, int fd, void *ring) { return on_create(ring); }
