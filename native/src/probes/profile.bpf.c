// SPDX-License-Identifier: GPL-2.0
/*
 * profile: on-CPU stacks of the watched tgid's threads, sampled by a software cpu-clock perf
 * event on every CPU at probesAttach's profileHz (the loader opens the events and attaches this
 * program to each). A sample of another process costs one load and a compare; one of ours
 * counts (thread, kernel stack id, user stack id) in a hash map, the stacks in a stack map the
 * reader resolves once per id. User stacks unwind by frame pointers (the addon is built with
 * -fno-omit-frame-pointer).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "probe_common.bpf.h"
#include "profile.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PROFILE_MAX_FRAMES * sizeof(__u64));
} prof_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct profile_key);
	__type(value, struct profile_value);
} prof_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct profile_counters);
} prof_counters SEC(".maps");

static __always_inline void lost(void)
{
	__u32 zero = 0;
	struct profile_counters *c = bpf_map_lookup_elem(&prof_counters, &zero);

	if (c)
		c->lost += 1;
}

SEC("perf_event")
int ul_prof_sample_p(struct bpf_perf_event_data *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct profile_key key = {};
	struct profile_value *v, init = {};

	if ((__u32)t->tgid != targ_tgid)
		return 0;
	key.tid = t->pid;
	key.kernel_stack = bpf_get_stackid(ctx, &prof_stacks, 0);
	key.user_stack = bpf_get_stackid(ctx, &prof_stacks, BPF_F_USER_STACK);
	/* In user mode there is no kernel stack, in a kernel thread (iou-sqp, iou-wrk) no user
	 * stack: a sample is lost only when neither side has one (or a map was full). */
	if (key.kernel_stack < 0 && key.user_stack < 0) {
		lost();
		return 0;
	}
	v = bpf_map_lookup_elem(&prof_counts, &key);
	if (!v) {
		__builtin_memcpy(init.comm, t->comm, sizeof(init.comm));
		bpf_map_update_elem(&prof_counts, &key, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&prof_counts, &key);
		if (!v) {
			lost();
			return 0;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	return 0;
}
