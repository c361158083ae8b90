/*
 * offcpu's kernel side as functions (as sqpoll.bpf.h): blocks of the watched tgid's worker threads
 * (comm_is_worker: uring-srv-*, uring-load, uring-storage, iou-*) that switch out NOT runnable, i.e. sleep. The switch-out time is kept per
 * thread; at its switch-in, a block of at least offcpu_min_ns sends the thread's kernel stack
 * through a ring buffer. The stack is read then, with bpf_get_task_stack(next): the task is not
 * running, so its saved stack is where it blocked, and only the rare long blocks pay for it.
 * offcpu.bpf.c wraps the handler in a program of its own; runqueue.bpf.c calls it from its
 * sched_switch program when both are attached (one program per scheduler event).
 *
 * tp_btf only: bpf_get_task_stack needs a BTF-typed task, which raw_tp arguments are not.
 */
#ifndef URING_LAB_PROBES_OFFCPU_BPF_H
#define URING_LAB_PROBES_OFFCPU_BPF_H

#include "probe_common.bpf.h"
#include "offcpu.h"

#ifndef TASK_RUNNING
#define TASK_RUNNING 0
#endif

/* Set by the loader (probesAttach offCpuMinUs). */
const volatile __u64 offcpu_min_ns = 1000000;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} offcpu_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} offcpu_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct offcpu_counters);
} offcpu_counters SEC(".maps");

/* The engine's worker threads (contract/threadNames.ts WORKER_THREAD_PREFIXES): uring-srv-*,
 * uring-load, uring-storage, and io_uring's iou-* (SQPOLL, io-wq). Not node's own threads, and
 * not the lab's uring-lab-* (the per-request probes' sampler sleeps seconds between windows; an
 * injected hog is the fault, not the server). `c`: at least 9 readable bytes. */
static __always_inline int comm_is_worker(const char *c)
{
	if (c[0] == 'i' && c[1] == 'o' && c[2] == 'u' && c[3] == '-')
		return 1;
	if (!(c[0] == 'u' && c[1] == 'r' && c[2] == 'i' && c[3] == 'n' && c[4] == 'g' && c[5] == '-'))
		return 0;
	return !(c[6] == 'l' && c[7] == 'a' && c[8] == 'b');
}

/* A switch from `prev` to `next` (tp_btf pointers); *_ours: of the watched tgid, tested first. */
static __always_inline void offcpu_on_switch(struct task_struct *prev, int prev_ours, struct task_struct *next,
					     int next_ours, unsigned int prev_state)
{
	struct offcpu_counters *c;
	struct offcpu_event *e;
	__u64 now, *start, off;
	__u32 tid, zero = 0;
	long n;

	if (prev_ours && prev_state != TASK_RUNNING && comm_is_worker(prev->comm)) {
		tid = prev->pid;
		now = bpf_ktime_get_ns();
		bpf_map_update_elem(&offcpu_start, &tid, &now, BPF_ANY);
	}
	if (!next_ours)
		return;
	tid = next->pid;
	start = bpf_map_lookup_elem(&offcpu_start, &tid);
	if (!start)
		return;
	now = bpf_ktime_get_ns();
	off = now - *start;
	bpf_map_delete_elem(&offcpu_start, &tid);
	if (off < offcpu_min_ns)
		return;
	e = bpf_ringbuf_reserve(&offcpu_events, sizeof(*e), 0);
	if (!e) {
		c = bpf_map_lookup_elem(&offcpu_counters, &zero);
		if (c)
			counter_add(&c->truncated, 1);
		return;
	}
	e->off_ns = off;
	e->end_ns = now;
	e->tid = tid;
	__builtin_memcpy(e->comm, next->comm, sizeof(e->comm));
	n = bpf_get_task_stack(next, e->ips, sizeof(e->ips), 0);
	e->nframes = n > 0 ? (int)((__u64)n / 8) : (int)n; /* bytes → frames (BPF has no signed division) */
	bpf_ringbuf_submit(e, 0);
}

#endif
