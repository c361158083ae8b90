// SPDX-License-Identifier: GPL-2.0
/*
 * runqueue: run-queue latency of the watched tgid's serving threads (its workers: uring-srv-*,
 * uring-load, uring-storage, and iou-* for SQPOLL and io-wq), as runqlat measures it: from
 * wakeup (or from a preempted switch-out, when the task stays runnable and is re-enqueued) to
 * its next switch-in. The lab's own bookkeeping threads of the same process (node's JS thread,
 * libuv's and V8's helpers, the probe sampler) are left out: they run SCHED_BATCH during a run
 * and wait up to a tick (4 ms at HZ=250) for a CPU by design, and counted they made the
 * run-queue p99 1.7-8 ms in runs whose serving threads waited far less. They are still the
 * engine's, never competitors. With with_sqpoll set by the loader (sqpoll attached too), the same
 * programs also run sqpoll's handlers (sqpoll.bpf.h): one program per scheduler event, not two.
 *
 * sched_switch runs for every context switch of the machine. Which tasks ran instead of the
 * engine (sched.competitors) needs every switch on the engine's CPUs: one clock read, a
 * per-CPU array entry and a hash lookup of the outgoing task per switch (an insert at its first),
 * and nothing more on CPUs no watched thread has run on (README: its measured cost). With with_offcpu (offcpu attached too, tp_btf), the same
 * program runs offcpu's handler (offcpu.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sqpoll.bpf.h"
#include "offcpu.bpf.h"
#include "runqueue.h"

#ifndef TASK_RUNNING
#define TASK_RUNNING 0
#endif

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader: sqpoll is attached through these programs. */
const volatile bool with_sqpoll = false;
/* Set by the loader: offcpu is attached through the sched_switch program (tp_btf only). */
const volatile bool with_offcpu = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct rq_competitor);
} rq_competitors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rq_cpu_state);
} rq_cpu SEC(".maps");

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

/* A serving thread of the watched tgid (tested after watched): a worker by its name (offcpu.bpf.h). */
static __always_inline int serving(const bool btf, struct task_struct *p)
{
	char comm[16] = {};

	if (btf)
		return comm_is_worker(p->comm);
	bpf_core_read(comm, sizeof(comm), &p->comm);
	return comm_is_worker(comm);
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
	if (!watched(btf, p) || !serving(btf, p))
		return 0;
	enqueued(btf, p);
	if (with_sqpoll && !is_new)
		sqp_on_wakeup(btf, p);
	return 0;
}

/* The competitor entry of task `p` (not of the watched tgid), made when it is missing. */
static __always_inline struct rq_competitor *competitor(const bool btf, struct task_struct *p, __u32 pid)
{
	struct rq_competitor *v = bpf_map_lookup_elem(&rq_competitors, &pid), init = {};

	if (v)
		return v;
	init.tgid = KREAD(btf, p, tgid);
	if (btf)
		__builtin_memcpy(init.comm, p->comm, sizeof(init.comm));
	else
		BPF_CORE_READ_STR_INTO(&init.comm, p, comm);
	bpf_map_update_elem(&rq_competitors, &pid, &init, BPF_NOEXIST);
	return bpf_map_lookup_elem(&rq_competitors, &pid);
}

/*
 * Which tasks ran on the engine's CPUs instead of it: the outgoing task's on-CPU span since its
 * switch-in (per-CPU timestamp) goes to its entry, unless it is the idle task (pid 0) or of the
 * watched tgid, and only on a CPU a watched thread has run on since the probes attached.
 */
static __always_inline void competitors_on_switch(const bool btf, struct task_struct *prev, int prev_ours,
						  struct task_struct *next, int next_ours, unsigned int prev_state)
{
	struct rq_cpu_state *st;
	struct rq_competitor *v;
	__u32 zero = 0, pid;
	__u64 now, cpu;

	st = bpf_map_lookup_elem(&rq_cpu, &zero);
	if (!st)
		return;
	if (next_ours)
		st->engine_seen = 1;
	if (!st->engine_seen)
		return;
	now = bpf_ktime_get_ns();
	cpu = bpf_get_smp_processor_id();
	pid = KREAD(btf, prev, pid);
	if (!prev_ours && pid && st->in_ns) {
		v = competitor(btf, prev, pid);
		if (v) {
			/* Plain adds: a task runs on one CPU at a time, and it is `prev` here
			 * (or `next`, below) on the CPU it is switching on, so no other CPU
			 * writes its entry meanwhile (an atomic costs ~20 ns per switch). */
			v->on_cpu_ns += now - st->in_ns;
			/* The name now (a task that exec'd since its entry was made has a new one):
			 * two loads in place in tp_btf; raw_tp keeps the first name it copied. */
			if (btf)
				__builtin_memcpy(v->comm, prev->comm, sizeof(v->comm));
			if (cpu < 64 && !(v->cpus & (1ull << cpu)))
				v->cpus |= 1ull << cpu;
		}
	}
	st->in_ns = now;
	if (prev_ours == 2 && prev_state == TASK_RUNNING && !next_ours) {
		pid = KREAD(btf, next, pid);
		if (pid) {
			v = competitor(btf, next, pid);
			if (v)
				v->preempted_engine += 1;
		}
	}
}

static __always_inline int on_switch(const bool btf, struct task_struct *prev, struct task_struct *next,
				     unsigned int prev_state)
{
	/* 0: not the watched tgid's; 1: one of its bookkeeping threads; 2: one of its serving threads. */
	int prev_ours = watched(btf, prev), next_ours = watched(btf, next);
	__u32 zero = 0, pid;
	struct rq_counters *c;
	__u64 *ts;

	if (prev_ours && serving(btf, prev))
		prev_ours = 2;
	if (next_ours && serving(btf, next))
		next_ours = 2;
	competitors_on_switch(btf, prev, prev_ours, next, next_ours, prev_state);
	if (!prev_ours && !next_ours)
		return 0;
	if (btf && with_offcpu)
		offcpu_on_switch(prev, prev_ours, next, next_ours, prev_state);
	if (with_sqpoll)
		sqp_on_switch(btf, prev, prev_ours, next, next_ours);
	if (prev_ours == 2 && prev_state == TASK_RUNNING) {
		enqueued(btf, prev);
		c = bpf_map_lookup_elem(&rq_counters, &zero);
		if (c)
			counter_add(&c->preemptions, 1);
	}
	if (next_ours != 2)
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
