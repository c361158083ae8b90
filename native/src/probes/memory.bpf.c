// SPDX-License-Identifier: GPL-2.0
/*
 * memory: time tasks spend in direct reclaim (vmscan:mm_vmscan_direct_reclaim_begin/end), in
 * reclaim at a memory cgroup's limit (mm_vmscan_memcg_reclaim_begin/end) and in compaction
 * (compaction:mm_compaction_begin/end), all tasks of the machine: a begin timestamp per thread
 * and kind, and at the end the span to the per-CPU counters, the engine's share and the task's
 * entry. Rare events (each is a slow path already), so no sampling.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "probe_common.bpf.h"
#include "memory.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* tid << 2 | kind */
	__type(value, __u64);
} mem_begin SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mem_counters);
} mem_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct mem_task);
} mem_tasks SEC(".maps");

static __always_inline __u64 begin_key(enum mem_kind kind)
{
	return ((bpf_get_current_pid_tgid() & 0xffffffff) << 2) | kind;
}

static __always_inline int on_begin(enum mem_kind kind)
{
	__u64 key = begin_key(kind), now = bpf_ktime_get_ns();

	bpf_map_update_elem(&mem_begin, &key, &now, BPF_ANY);
	return 0;
}

static __always_inline int on_end(const bool btf, enum mem_kind kind)
{
	__u64 key = begin_key(kind), *start, ns;
	struct mem_counters *c;
	struct mem_task *t, init = {};
	__u32 zero = 0, pid = key >> 2;

	start = bpf_map_lookup_elem(&mem_begin, &key);
	if (!start)
		return 0; /* began before the probe attached */
	ns = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&mem_begin, &key);
	c = bpf_map_lookup_elem(&mem_counters, &zero);
	if (c && kind < MEM_KINDS) {
		c->ns[kind] += ns;
		c->count[kind] += 1;
		if (current_in_tgid(btf))
			c->engine_ns += ns;
	}
	t = bpf_map_lookup_elem(&mem_tasks, &pid);
	if (!t) {
		bpf_get_current_comm(init.comm, sizeof(init.comm));
		bpf_map_update_elem(&mem_tasks, &pid, &init, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&mem_tasks, &pid);
	}
	if (t)
		__sync_fetch_and_add(&t->ns, ns);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(ul_mem_drb_b) { return on_begin(MEM_DIRECT_RECLAIM); }
SEC("raw_tp/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(ul_mem_drb_r) { return on_begin(MEM_DIRECT_RECLAIM); }
SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(ul_mem_dre_b) { return on_end(true, MEM_DIRECT_RECLAIM); }
SEC("raw_tp/mm_vmscan_direct_reclaim_end")
int BPF_PROG(ul_mem_dre_r) { return on_end(false, MEM_DIRECT_RECLAIM); }

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(ul_mem_mrb_b) { return on_begin(MEM_MEMCG_RECLAIM); }
SEC("raw_tp/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(ul_mem_mrb_r) { return on_begin(MEM_MEMCG_RECLAIM); }
SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(ul_mem_mre_b) { return on_end(true, MEM_MEMCG_RECLAIM); }
SEC("raw_tp/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(ul_mem_mre_r) { return on_end(false, MEM_MEMCG_RECLAIM); }

SEC("tp_btf/mm_compaction_begin")
int BPF_PROG(ul_mem_cpb_b) { return on_begin(MEM_COMPACTION); }
SEC("raw_tp/mm_compaction_begin")
int BPF_PROG(ul_mem_cpb_r) { return on_begin(MEM_COMPACTION); }
SEC("tp_btf/mm_compaction_end")
int BPF_PROG(ul_mem_cpe_b) { return on_end(true, MEM_COMPACTION); }
SEC("raw_tp/mm_compaction_end")
int BPF_PROG(ul_mem_cpe_r) { return on_end(false, MEM_COMPACTION); }
