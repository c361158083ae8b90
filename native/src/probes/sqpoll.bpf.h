/*
 * sqpoll's kernel side as functions: the maps and the handlers of sched_wakeup and sched_switch
 * for the watched tgid's SQPOLL threads (iou-sqp-*). sqpoll.bpf.c wraps them in programs of its
 * own; runqueue.bpf.c calls them from its programs on the same two tracepoints when both probes
 * are attached (with_sqpoll), so each scheduler event runs one program, not two: a program's
 * fixed cost per event is most of what these cheap handlers cost.
 */
#ifndef URING_LAB_PROBES_SQPOLL_BPF_H
#define URING_LAB_PROBES_SQPOLL_BPF_H

#include "probe_common.bpf.h"
#include "sqpoll.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} sqp_oncpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sqp_counters);
} sqp_counters SEC(".maps");

/* An SQPOLL thread of the watched tgid, given that the tgid already matched. */
static __always_inline int sqp_comm(const bool btf, struct task_struct *p)
{
	char comm[16];

	if (btf)
		return comm_is_sqpoll(p->comm);
	BPF_CORE_READ_STR_INTO(&comm, p, comm);
	return comm_is_sqpoll(comm);
}

static __always_inline struct sqp_counters *sqp_counters_here(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sqp_counters, &zero);
}

/* A wake-up of `p`, a thread of the watched tgid. */
static __always_inline void sqp_on_wakeup(const bool btf, struct task_struct *p)
{
	struct sqp_counters *c;

	if (!sqp_comm(btf, p))
		return;
	c = sqp_counters_here();
	if (c)
		counter_add(&c->wakeups, 1);
}

/* A switch from `prev` to `next`; *_ours: that task is of the watched tgid (tested by the caller,
 * first, so nearly every context switch of the machine stops there). */
static __always_inline void sqp_on_switch(const bool btf, struct task_struct *prev, int prev_ours,
					  struct task_struct *next, int next_ours)
{
	int prev_sqp = prev_ours && sqp_comm(btf, prev), next_sqp = next_ours && sqp_comm(btf, next);
	struct sqp_counters *c;
	__u64 now, *in;
	__u32 pid;

	if (!prev_sqp && !next_sqp)
		return; /* no clock read for the others */
	now = bpf_ktime_get_ns();
	if (prev_sqp) {
		pid = KREAD(btf, prev, pid);
		in = bpf_map_lookup_elem(&sqp_oncpu, &pid);
		if (in) {
			c = sqp_counters_here();
			if (c)
				counter_add(&c->on_cpu_ns, now - *in);
			bpf_map_delete_elem(&sqp_oncpu, &pid);
		}
	}
	if (next_sqp) {
		pid = KREAD(btf, next, pid);
		bpf_map_update_elem(&sqp_oncpu, &pid, &now, BPF_ANY);
	}
}

#endif
