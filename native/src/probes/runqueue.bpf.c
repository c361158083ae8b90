// SPDX-License-Identifier: GPL-2.0
/*
 * runqueue: run-queue latency of the watched tgid's threads, as runqlat measures it: from
 * wakeup (or from a preempted switch-out, when the task stays runnable and is re-enqueued) to
 * its next switch-in. With with_sqpoll set by the loader (sqpoll attached too), the same
 * programs also run sqpoll's handlers (sqpoll.bpf.h): one program per scheduler event, not two.
 *
 * sched_switch runs for every context switch of the machine: both tgid tests come first (two
 * loads in tp_btf), and a switch between two foreign tasks touches no map and reads no clock.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sqpoll.bpf.h"
#include "runqueue.h"

#define TASK_RUNNING 0

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader: sqpoll is attached through these programs. */
const volatile bool with_sqpoll = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} rq_enqueued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kh_slots);
} rq_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rq_counters);
} rq_counters SEC(".maps");

static __always_inline int watched(const bool btf, struct task_struct *p)
{
	return (__u32)KREAD(btf, p, tgid) == targ_tgid;
}

static __always_inline void enqueued(const bool btf, struct task_struct *p)
{
	__u32 pid = KREAD(btf, p, pid);
	__u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&rq_enqueued, &pid, &ts, BPF_ANY);
}

/* sqpoll counts sched_wakeup only (a new task's first wake-up is not one of its wake-ups). */
static __always_inline int on_wakeup(const bool btf, struct task_struct *p, const bool is_new)
{
	if (!watched(btf, p))
		return 0;
	enqueued(btf, p);
	if (with_sqpoll && !is_new)
		sqp_on_wakeup(btf, p);
	return 0;
}

static __always_inline int on_switch(const bool btf, struct task_struct *prev, struct task_struct *next,
				     unsigned int prev_state)
{
	int prev_ours = watched(btf, prev), next_ours = watched(btf, next);
	__u32 zero = 0, pid;
	struct rq_counters *c;
	__u64 *ts;

	if (!prev_ours && !next_ours)
		return 0;
	if (with_sqpoll)
		sqp_on_switch(btf, prev, prev_ours, next, next_ours);
	if (prev_ours && prev_state == TASK_RUNNING) {
		enqueued(btf, prev);
		c = bpf_map_lookup_elem(&rq_counters, &zero);
		if (c)
			counter_add(&c->preemptions, 1);
	}
	if (!next_ours)
		return 0;
	pid = KREAD(btf, next, pid);
	ts = bpf_map_lookup_elem(&rq_enqueued, &pid);
	if (!ts)
		return 0;
	kh_record(bpf_map_lookup_elem(&rq_hist, &zero), bpf_ktime_get_ns() - *ts);
	bpf_map_delete_elem(&rq_enqueued, &pid);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(ul_rq_wake_b, struct task_struct *p) { return on_wakeup(true, p, false); }
SEC("raw_tp/sched_wakeup")
int BPF_PROG(ul_rq_wake_r, struct task_struct *p) { return on_wakeup(false, p, false); }

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(ul_rq_wnew_b, struct task_struct *p) { return on_wakeup(true, p, true); }
SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(ul_rq_wnew_r, struct task_struct *p) { return on_wakeup(false, p, true); }

SEC("tp_btf/sched_switch")
int BPF_PROG(ul_rq_switch_b, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	return on_switch(true, prev, next, prev_state);
}
SEC("raw_tp/sched_switch")
int BPF_PROG(ul_rq_switch_r, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	return on_switch(false, prev, next, prev_state);
}
