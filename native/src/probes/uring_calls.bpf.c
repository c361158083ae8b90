// SPDX-License-Identifier: GPL-2.0
/*
 * uring_calls: what the server's threads ask of io_uring — io_uring_enter syscalls and CQ
 * waits (by thread: uring-srv-* of the watched tgid) — and what its rings cost the kernel:
 * io-wq punts, CQE overflows, short writes, failed requests (by ring: server_rings, the same
 * classification as uring_latency: the ring's submitter task, else server_rings, which the
 * loader shares with uring_latency when both are attached, else this object's own classifier
 * programs fill it).
 *
 * io_uring_enter has no io_uring tracepoint of its own: counting it takes a syscall tracepoint,
 * and enabling any syscall tracepoint puts EVERY task's syscalls on the traced slow path (the
 * kernel flags all tasks, a cost run-time stats never show). So the enter counter is opt-in
 * (probesAttach's syscallEnters): by default the loader does not load it and the status says
 * the engine's own count is the source.
 */
#include "vmlinux.h"
#define PROBE_SERVER_RINGS
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "probe_common.bpf.h"
#include "uring_calls.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct calls_counters);
} calls_counters SEC(".maps");

static __always_inline struct calls_counters *counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&calls_counters, &zero);
}

static __always_inline int on_enter(void)
{
	struct calls_counters *c;
	char comm[16];

	if (!current_in_tgid(false))
		return 0;
	bpf_get_current_comm(comm, sizeof(comm));
	if (!comm_is_server_worker(comm))
		return 0;
	c = counters();
	if (c)
		counter_add(&c->enters, 1);
	return 0;
}

/* The cheapest: fires for io_uring_enter only (classic tracepoint, needs tracefs). */
SEC("tracepoint/syscalls/sys_enter_io_uring_enter")
int ul_calls_ent_t(void *ctx) { return on_enter(); }

/* Without tracefs: every syscall's raw sys_enter, filtered on the number. */
SEC("raw_tp/sys_enter")
int BPF_PROG(ul_calls_ent_r, struct pt_regs *regs, long id)
{
	if (id != URING_ENTER_SYSCALL_NR)
		return 0;
	return on_enter();
}

/* io_uring_cqring_wait fires in the waiting task: a server thread's (tgid first, then its name). */
static __always_inline int on_cqring_wait(const bool btf)
{
	struct calls_counters *c;

	if (!current_is_server_thread(btf))
		return 0;
	c = counters();
	if (c)
		counter_add(&c->cq_waits, 1);
	return 0;
}

SEC("tp_btf/io_uring_cqring_wait")
int BPF_PROG(ul_calls_wait_b, void *ring, int min_events) { return on_cqring_wait(true); }
SEC("raw_tp/io_uring_cqring_wait")
int BPF_PROG(ul_calls_wait_r, void *ring, int min_events) { return on_cqring_wait(false); }

/* Rare events (punts, overflows, short writes, failures): counted when on a server ring. The
 * tracepoints that pass the ring as void * give tp_btf programs no typed pointer to load
 * through: those read it like raw_tp ones (btf false). */
/*
 * Whether a ring is the server's, with no per-submission hook: its submitter task says (a
 * SINGLE_ISSUER ring, the engine's default); else the map uring_latency fills when it is
 * attached; else the current thread, since these rare events fire in the task that submitted or
 * waits. Classifying at every submission instead cost ~3 program runs per request (~190 ns).
 */
static __always_inline int calls_server_ring(const bool btf, struct io_ring_ctx *ring)
{
	__u64 ctx = (__u64)ring;
	int v = ring_owner_is_server(btf, ring);

	if (v >= 0)
		return v;
	if (bpf_map_lookup_elem(&server_rings, &ctx))
		return 1;
	return current_is_server_thread(btf);
}

#define COUNT_IF_SERVER(btf, ring, field)                 \
	do {                                              \
		struct calls_counters *c;                 \
		if (!calls_server_ring(btf, ring))        \
			return 0;                         \
		c = counters();                           \
		if (c)                                    \
			counter_add(&c->field, 1);        \
		return 0;                                 \
	} while (0)

SEC("tp_btf/io_uring_queue_async_work")
int BPF_PROG(ul_calls_punt_b, struct io_kiocb *req, int rw) { COUNT_IF_SERVER(true, req->ctx, io_wq_punts); }
SEC("raw_tp/io_uring_queue_async_work")
int BPF_PROG(ul_calls_punt_r, struct io_kiocb *req, int rw) { COUNT_IF_SERVER(false, BPF_CORE_READ(req, ctx), io_wq_punts); }

SEC("tp_btf/io_uring_cqe_overflow")
int BPF_PROG(ul_calls_ovf_b, struct io_ring_ctx *ring) { COUNT_IF_SERVER(false, ring, cqe_overflows); }
SEC("raw_tp/io_uring_cqe_overflow")
int BPF_PROG(ul_calls_ovf_r, struct io_ring_ctx *ring) { COUNT_IF_SERVER(false, ring, cqe_overflows); }

SEC("tp_btf/io_uring_short_write")
int BPF_PROG(ul_calls_shw_b, struct io_ring_ctx *ring) { COUNT_IF_SERVER(false, ring, short_writes); }
SEC("raw_tp/io_uring_short_write")
int BPF_PROG(ul_calls_shw_r, struct io_ring_ctx *ring) { COUNT_IF_SERVER(false, ring, short_writes); }

SEC("tp_btf/io_uring_req_failed")
int BPF_PROG(ul_calls_fail_b, const struct io_uring_sqe *sqe, struct io_kiocb *req)
{
	COUNT_IF_SERVER(true, req->ctx, req_failed);
}
SEC("raw_tp/io_uring_req_failed")
int BPF_PROG(ul_calls_fail_r, const struct io_uring_sqe *sqe, struct io_kiocb *req)
{
	COUNT_IF_SERVER(false, BPF_CORE_READ(req, ctx), req_failed);
}


