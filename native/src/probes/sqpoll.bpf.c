// SPDX-License-Identifier: GPL-2.0
/*
 * sqpoll: on-CPU time and wake-ups of the watched tgid's SQPOLL threads (iou-sqp-*), the price
 * SQPOLL pays for the io_uring_enter calls it saves. The handlers live in sqpoll.bpf.h: with
 * runqueue attached too, the loader runs them inside runqueue's programs instead of these.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sqpoll.bpf.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline int watched(const bool btf, struct task_struct *p)
{
	return (__u32)KREAD(btf, p, tgid) == targ_tgid;
}

static __always_inline int on_wakeup(const bool btf, struct task_struct *p)
{
	if (watched(btf, p))
		sqp_on_wakeup(btf, p);
	return 0;
}

static __always_inline int on_switch(const bool btf, struct task_struct *prev, struct task_struct *next)
{
	int prev_ours = watched(btf, prev), next_ours = watched(btf, next);

	if (prev_ours || next_ours)
		sqp_on_switch(btf, prev, prev_ours, next, next_ours);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(ul_sqp_wake_b, struct task_struct *p) { return on_wakeup(true, p); }
SEC("raw_tp/sched_wakeup")
int BPF_PROG(ul_sqp_wake_r, struct task_struct *p) { return on_wakeup(false, p); }

SEC("tp_btf/sched_switch")
int BPF_PROG(ul_sqp_switch_b, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(true, prev, next);
}
SEC("raw_tp/sched_switch")
int BPF_PROG(ul_sqp_switch_r, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(false, prev, next);
}
