// SPDX-License-Identifier: GPL-2.0
/*
 * offcpu: long blocks (not runnable) of the watched tgid's lab threads with the kernel stack
 * they blocked in. The handler lives in offcpu.bpf.h: with runqueue attached too, the loader
 * runs it inside runqueue's sched_switch program instead of this one.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "offcpu.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_switch")
int BPF_PROG(ul_off_switch_b, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	int prev_ours = (__u32)prev->tgid == targ_tgid, next_ours = (__u32)next->tgid == targ_tgid;

	if (prev_ours || next_ours)
		offcpu_on_switch(prev, prev_ours, next, next_ours, prev_state);
	return 0;
}
