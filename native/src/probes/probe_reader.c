// The probes' reader: see probe_reader.h.
#define _GNU_SOURCE
#include "probe_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memory.h"
#include "profile.h"
#include "runqueue.h"
#include "softirq.h"
#include "sqpoll.h"
#include "tcp_events.h"
#include "uring_calls.h"

/* The hash maps drained each read (competitors, memory's tasks, profile's counts) hold at most
 * this many entries (their max_entries). */
#define PROBE_DRAIN_MAX 16384
/* The largest value of a drained map (struct rq_competitor, mem_task, profile_value). */
#define PROBE_DRAIN_VALUE 64
_Static_assert(sizeof(struct rq_competitor) <= PROBE_DRAIN_VALUE && sizeof(struct mem_task) <= PROBE_DRAIN_VALUE &&
		       sizeof(struct profile_value) <= PROBE_DRAIN_VALUE,
	       "a drained map's value outgrew the batch scratch");
_Static_assert(sizeof(struct profile_key) >= sizeof(__u32), "the key scratch holds the largest key");

struct probe_reader {
	const struct probe_set *set;
	int ncpus;
	void *percpu;            /* scratch: ncpus values of the largest map value */
	/* Cumulative sums at the previous read. */
	uint64_t lat_prev[LAT_HIST_ENTRIES][KH_BUCKETS];
	uint64_t rq_prev[KH_BUCKETS];
	struct lat_counters lat_c;
	struct calls_counters calls_c;
	struct rq_counters rq_c;
	uint64_t sqp_on_cpu, sqp_wakeups;
	struct softirq_counters sirq_c;
	struct tcp_counters tcp_c;
	uint64_t run_time[PROBE_MAX_FDS], run_cnt[PROBE_MAX_FDS];
	/* The event channel. */
	struct ring_buffer *rb;
	struct perf_buffer *pb;
	char channel_error[PROBE_TEXT];
	struct kernel_frame *filling;
	uint64_t perf_lost;
	/* Issue 12: memory's counters at the previous read, offcpu's ring, profile's stack cache
	 * (a stack id names one stack for the map's life: bpf_get_stackid without REUSE_STACKID
	 * never replaces one), the settings reported. */
	struct mem_counters mem_c;
	struct offcpu_counters off_c;
	struct ring_buffer *off_rb;
	uint64_t prof_lost;
	uint64_t **stacks;
	int *stack_len;
	unsigned nstacks;
	unsigned offcpu_min_us, profile_hz;
	void *keys;              /* scratch for draining a hash map's keys */
	/* Scratch for BPF_MAP_LOOKUP_AND_DELETE_BATCH's values (PROBE_DRAIN_MAX of at most
	 * PROBE_DRAIN_VALUE bytes); drain_batch_off is set when the kernel refuses batch operations
	 * on a drained map (then two syscalls per entry, as before). */
	void *values;
	int drain_batch_off;
	/* lat_hists read whole with one BPF_MAP_LOOKUP_BATCH (LAT_HIST_ENTRIES × ncpus slots) when
	 * more than LAT_FEW_OPCODES opcodes are in use (else those entries one by one). NULL until
	 * first needed; lat_batch_off is set when the kernel refuses batch lookups on it. */
	struct kh_slots *lat_batch;
	uint32_t *lat_batch_keys;
	int lat_batch_off;
	/* rq_competitors drained (PROBE_DRAIN_MAX entries, 768 KiB), kept for the reader's life:
	 * allocated and freed each frame, glibc zeroed all of it every frame or, past its mmap
	 * threshold (probe_loader.c sets one), mapped and unmapped it, each unmap a TLB shootdown
	 * IPI to the CPUs running this process's server and load threads. NULL until first needed. */
	struct probe_competitor *competitors;
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int map_fd(const struct probe_reader *r, enum probe_id p, const char *name)
{
	return r->set->status[p].attached ? probe_set_fd(r->set, p, PROBE_FD_MAP, name) : -1;
}

/* Sums the per-CPU u64 fields of entry `key` of a PERCPU_ARRAY into the counter struct at
 * `out` (n fields). memcpy, not a cast: the structs' fields are unsigned long long, and an
 * aliasing cast let the optimizer keep stale values. */
static int sum_percpu_u64(struct probe_reader *r, int fd, uint32_t key, void *out, size_t n)
{
	size_t stride = n * sizeof(unsigned long long);
	unsigned long long sum[16] = { 0 }, v;
	int cpu;

	if (fd < 0 || n > 16 || bpf_map_lookup_elem(fd, &key, r->percpu))
		return -1;
	for (cpu = 0; cpu < r->ncpus; cpu++) {
		for (size_t i = 0; i < n; i++) {
			memcpy(&v, (const char *)r->percpu + (size_t)cpu * stride + i * sizeof(v), sizeof(v));
			sum[i] += v;
		}
	}
	memcpy(out, sum, n * sizeof(unsigned long long));
	return 0;
}

/* Adds up one key's per-CPU histogram (`percpu`: ncpus kh_slots, NULL for none) and returns
 * its delta since `prev` (updated) in `out`; 1 when anything was counted. */
static int hist_delta_of(struct probe_reader *r, const struct kh_slots *percpu, uint64_t *prev, uint64_t *out)
{
	uint64_t total = 0;
	int cpu, i;

	if (!percpu) {
		memset(out, 0, KH_BUCKETS * sizeof(uint64_t));
		return 0;
	}
	for (i = 0; i < KH_BUCKETS; i++) {
		uint64_t s = 0;

		for (cpu = 0; cpu < r->ncpus; cpu++)
			s += percpu[cpu].slots[i];
		out[i] = s - prev[i];
		prev[i] = s;
		total += out[i];
	}
	return total != 0;
}

/* One key of a per-CPU histogram map, looked up on its own. */
static int hist_delta(struct probe_reader *r, int fd, uint32_t key, uint64_t *prev, uint64_t *out)
{
	if (fd < 0 || bpf_map_lookup_elem(fd, &key, r->percpu))
		return hist_delta_of(r, NULL, prev, out);
	return hist_delta_of(r, r->percpu, prev, out);
}

/* Every key of lat_hists in one BPF_MAP_LOOKUP_BATCH (Linux 5.6+ for per-CPU arrays): the
 * per-request probes' 65 histograms cost one syscall a frame, not 65. Returns the values
 * (key k's CPUs at k × ncpus) or NULL, and then the caller looks keys up one by one. */
static const struct kh_slots *lat_hists_batch(struct probe_reader *r, int fd)
{
	__u32 count = LAT_HIST_ENTRIES, out_batch;
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int err;

	if (r->lat_batch_off)
		return NULL;
	if (!r->lat_batch) {
		r->lat_batch = calloc((size_t)LAT_HIST_ENTRIES * (size_t)r->ncpus, sizeof(struct kh_slots));
		r->lat_batch_keys = calloc(LAT_HIST_ENTRIES, sizeof(uint32_t));
		if (!r->lat_batch || !r->lat_batch_keys) {
			r->lat_batch_off = 1;
			return NULL;
		}
	}
	err = bpf_map_lookup_batch(fd, NULL, &out_batch, r->lat_batch_keys, r->lat_batch, &count, &opts);
	/* ENOENT: the walk reached the end, with `count` entries copied. */
	if ((err && errno != ENOENT) || count != LAT_HIST_ENTRIES) {
		r->lat_batch_off = 1;
		return NULL;
	}
	for (__u32 i = 0; i < count; i++)
		if (r->lat_batch_keys[i] != i) {
			r->lat_batch_off = 1;
			return NULL;
		}
	return r->lat_batch;
}

/* Up to this many opcodes recorded, their lat_hists entries are looked up one by one (a few
 * 8 KB copies); more, the whole map in one batch. */
#define LAT_FEW_OPCODES 8

/* The opcodes lat_hists has entries for (lat_opcodes: a bit per opcode, OR of the CPUs); all of
 * them when the map is missing (an object from before it) or cannot be read. */
static uint64_t lat_opcodes_seen(struct probe_reader *r)
{
	int fd = map_fd(r, PROBE_URING_LATENCY, "lat_opcodes");
	uint32_t zero = 0;
	uint64_t seen = 0, v;

	if (fd < 0 || bpf_map_lookup_elem(fd, &zero, r->percpu))
		return ~0ULL;
	for (int cpu = 0; cpu < r->ncpus; cpu++) {
		memcpy(&v, (const char *)r->percpu + (size_t)cpu * sizeof(v), sizeof(v));
		seen |= v;
	}
	return seen;
}

#define COUNTERS_DELTA(r, fd, type, prev, apply)                                    \
	do {                                                                        \
		type now_;                                                          \
		if (!sum_percpu_u64(r, fd, 0, &now_, sizeof(type) / 8)) { \
			type *p_ = &(prev), *n_ = &now_;                            \
			apply;                                                      \
			*p_ = now_;                                                 \
		}                                                                   \
	} while (0)
#define D(field) (n_->field - p_->field)

static int on_event(void *ctx, void *data, size_t size)
{
	struct probe_reader *r = ctx;
	struct kernel_frame *f = r->filling;
	const struct tcp_event *e = data;
	struct probe_tcp_event *o;

	if (!f || size < sizeof(*e))
		return 0;
	if (f->tcp.nevents >= PROBE_MAX_EVENTS) {
		f->tcp.truncated++;
		return 0;
	}
	o = &f->tcp.events[f->tcp.nevents++];
	o->monotonic_ns = e->monotonic_ns;
	o->kind = (int)e->kind;
	o->reason = e->reason;
	o->reason_name = e->kind == TCP_EVENT_DROP ? probe_btf_enum_name("skb_drop_reason", "SKB_DROP_REASON_", e->reason) : NULL;
	o->sport = e->sport;
	o->dport = e->dport;
	o->state = e->state;
	return 0;
}

static void on_perf_event(void *ctx, int cpu, void *data, __u32 size)
{
	(void)cpu;
	on_event(ctx, data, size);
}

static void on_perf_lost(void *ctx, int cpu, __u64 n)
{
	(void)cpu;
	((struct probe_reader *)ctx)->perf_lost += n;
}

static void open_channel(struct probe_reader *r)
{
	int fd = map_fd(r, PROBE_TCP_EVENTS, "tcp_events");

	if (fd < 0)
		return;
	if (!r->set->perfbuf) {
		r->rb = ring_buffer__new(fd, on_event, r, NULL);
		if (!r->rb)
			snprintf(r->channel_error, sizeof(r->channel_error), "ring buffer: %s", strerror(errno));
	} else {
		/* 64 pages per CPU, as libbpf-tools' compat.c. Opening the perf events is
		 * privileged (CAP_PERFMON): in an unprivileged engine this fails. */
		libbpf_print_fn_t old = libbpf_set_print(NULL); /* the refusal goes into the status */

		r->pb = perf_buffer__new(fd, 64, on_perf_event, on_perf_lost, r, NULL);
		libbpf_set_print(old);
		if (!r->pb)
			snprintf(r->channel_error, sizeof(r->channel_error),
				 "perf buffer: %s (its perf events need CAP_PERFMON in the reading process)", strerror(errno));
	}
}

static int on_offcpu_event(void *ctx, void *data, size_t size)
{
	struct probe_reader *r = ctx;
	struct kernel_frame *f = r->filling;
	const struct offcpu_event *e = data;
	struct probe_offcpu_event *o;

	if (!f || size < sizeof(*e))
		return 0;
	if (f->offcpu.nevents >= PROBE_MAX_OFFCPU_EVENTS) {
		/* Full: keep the longest blocks (the ones that explain a spike), count the rest. */
		int i, shortest = 0;

		for (i = 1; i < f->offcpu.nevents; i++)
			if (f->offcpu.events[i].off_ns < f->offcpu.events[shortest].off_ns)
				shortest = i;
		f->offcpu.truncated++;
		if (f->offcpu.events[shortest].off_ns >= e->off_ns)
			return 0;
		o = &f->offcpu.events[shortest];
	} else {
		o = &f->offcpu.events[f->offcpu.nevents++];
	}
	o->tid = e->tid;
	memcpy(o->comm, e->comm, sizeof(o->comm));
	o->comm[sizeof(o->comm) - 1] = 0;
	o->off_ns = e->off_ns;
	o->end_ns = e->end_ns;
	o->nframes = e->nframes < 0 ? 0 : e->nframes > OFFCPU_MAX_FRAMES ? OFFCPU_MAX_FRAMES : e->nframes;
	memcpy(o->ips, e->ips, sizeof(o->ips[0]) * (size_t)o->nframes);
	return 0;
}

void probe_reader_set_options(struct probe_reader *r, unsigned offcpu_min_us, unsigned profile_hz)
{
	r->offcpu_min_us = offcpu_min_us;
	r->profile_hz = profile_hz;
}

const char *probe_reader_channel_error(const struct probe_reader *r)
{
	return r->channel_error[0] ? r->channel_error : NULL;
}

struct probe_reader *probe_reader_new(const struct probe_set *set)
{
	struct probe_reader *r = calloc(1, sizeof(*r));
	struct kernel_frame *scratch;

	if (!r)
		return NULL;
	r->set = set;
	r->ncpus = libbpf_num_possible_cpus();
	if (r->ncpus <= 0) {
		free(r);
		errno = EINVAL;
		return NULL;
	}
	r->percpu = calloc((size_t)r->ncpus, sizeof(struct kh_slots));
	scratch = malloc(sizeof(*scratch));
	if (!r->percpu || !scratch) {
		free(r->percpu);
		free(scratch);
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	open_channel(r);
	r->keys = calloc(PROBE_DRAIN_MAX, sizeof(struct profile_key));
	/* Without it, one syscall pair per entry (drain_hash's fallback). */
	r->values = calloc(PROBE_DRAIN_MAX, PROBE_DRAIN_VALUE);
	if (!r->keys) {
		probe_reader_free(r);
		free(scratch);
		errno = ENOMEM;
		return NULL;
	}
	if (map_fd(r, PROBE_OFFCPU, "offcpu_events") >= 0) {
		r->off_rb = ring_buffer__new(map_fd(r, PROBE_OFFCPU, "offcpu_events"), on_offcpu_event, r, NULL);
		if (!r->off_rb)
			snprintf(r->channel_error, sizeof(r->channel_error), "offcpu ring buffer: %s", strerror(errno));
	}
	/* A first read sets the baselines: the next one reports from here. */
	probe_reader_read(r, scratch);
	free(scratch);
	return r;
}

/* Closed spans plus the open ones of iou-sqp threads on a CPU now. */
static uint64_t sqpoll_on_cpu_total(struct probe_reader *r, uint64_t now, uint64_t closed)
{
	int fd = map_fd(r, PROBE_SQPOLL, "sqp_oncpu");
	uint32_t key, next, *prev = NULL;
	uint64_t start, total = closed;

	if (fd < 0)
		return closed;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!bpf_map_lookup_elem(fd, &next, &start) && start < now)
			total += now - start;
		key = next;
		prev = &key;
	}
	return total;
}

/*
 * Takes every entry out of a hash map with BPF_MAP_LOOKUP_AND_DELETE_BATCH: each bucket's
 * entries are copied and deleted under its lock (no add lost between copy and delete), in one
 * syscall for the whole map at these sizes instead of two per entry (~25 profile and competitor
 * entries a frame). The kernel still walks every bucket, so its time is about what the
 * per-entry walk took (perf: 8.4 vs ~7 ms per 10 s); the saving is the syscalls' entry and exit.
 * Returns the entries taken, or -1 when the kernel refused the first batch call (nothing was
 * taken: the caller falls back).
 */
static int drain_hash_batch(struct probe_reader *r, int fd, size_t ksize, size_t vsize,
			    void (*each)(void *ctx, const void *key, const void *value), void *ctx)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	/* The kernel's batch position (a bucket index for hash maps), opaque to us. */
	__u64 in_batch = 0, out_batch = 0;
	int got = 0, calls = 0;

	for (;;) {
		__u32 count = PROBE_DRAIN_MAX, i;
		int err = bpf_map_lookup_and_delete_batch(fd, calls ? &in_batch : NULL, &out_batch, r->keys, r->values, &count, &opts);

		calls++;
		/* ENOENT: the walk reached the end, with `count` entries copied in this call. */
		if (err && errno != ENOENT)
			return calls == 1 ? -1 : got;
		for (i = 0; i < count; i++)
			each(ctx, (char *)r->keys + (size_t)i * ksize, (char *)r->values + (size_t)i * vsize);
		got += (int)count;
		if (err || got >= PROBE_DRAIN_MAX)
			return got;
		in_batch = out_batch;
	}
}

/*
 * Takes every entry out of a hash map, so each read reports what accrued since the previous
 * one and entries of tasks gone do not pile up. Batched where the kernel can (5.6+); else its
 * keys first (deleting while walking would skip some), then each value with
 * BPF_MAP_LOOKUP_AND_DELETE_ELEM; a BPF program adding to an entry in the instant between its
 * copy and its deletion loses that add there (ns-wide). Calls `each(ctx, key, value)`; returns
 * the entries taken.
 */
static int drain_hash(struct probe_reader *r, int fd, size_t ksize, size_t vsize,
		      void (*each)(void *ctx, const void *key, const void *value), void *ctx)
{
	char *keys = r->keys, value[256];
	int n = 0, i, got = 0;

	if (fd < 0 || vsize > sizeof(value))
		return 0;
	if (!r->drain_batch_off && r->values && vsize <= PROBE_DRAIN_VALUE) {
		got = drain_hash_batch(r, fd, ksize, vsize, each, ctx);
		if (got >= 0)
			return got;
		r->drain_batch_off = 1;
		got = 0;
	}
	while (n < PROBE_DRAIN_MAX &&
	       !bpf_map_get_next_key(fd, n ? keys + (size_t)(n - 1) * ksize : NULL, keys + (size_t)n * ksize))
		n++;
	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_and_delete_elem(fd, keys + (size_t)i * ksize, value))
			continue;
		each(ctx, keys + (size_t)i * ksize, value);
		got++;
	}
	return got;
}

struct competitors_ctx {
	struct kernel_frame *f;
	struct probe_competitor *all;
	int n;
};

static void take_competitor(void *c, const void *key, const void *value)
{
	struct competitors_ctx *cc = c;
	const struct rq_competitor *v = value;
	struct probe_competitor *o;

	if (cc->n >= PROBE_DRAIN_MAX)
		return;
	o = &cc->all[cc->n++];
	memcpy(&o->pid, key, sizeof(o->pid));
	o->tgid = v->tgid;
	memcpy(o->comm, v->comm, sizeof(o->comm));
	o->comm[sizeof(o->comm) - 1] = 0;
	o->on_cpu_ns = v->on_cpu_ns;
	o->preempted_engine = v->preempted_engine;
	o->cpus = v->cpus;
}

static int by_on_cpu_desc(const void *a, const void *b)
{
	const struct probe_competitor *x = a, *y = b;

	if (x->on_cpu_ns != y->on_cpu_ns)
		return x->on_cpu_ns < y->on_cpu_ns ? 1 : -1;
	return x->preempted_engine < y->preempted_engine ? 1 : x->preempted_engine > y->preempted_engine ? -1 : 0;
}

/* sched.competitors: the interval's top PROBE_MAX_COMPETITORS, the rest summed. */
static void read_competitors(struct probe_reader *r, struct kernel_frame *f)
{
	struct competitors_ctx cc = { f, NULL, 0 };
	int fd = map_fd(r, PROBE_RUNQUEUE, "rq_competitors"), i;

	if (fd < 0)
		return;
	f->has_sched = 1;
	if (!r->competitors)
		r->competitors = malloc(PROBE_DRAIN_MAX * sizeof(*r->competitors));
	if (!r->competitors)
		return;
	cc.all = r->competitors;
	drain_hash(r, fd, sizeof(__u32), sizeof(struct rq_competitor), take_competitor, &cc);
	qsort(cc.all, (size_t)cc.n, sizeof(*cc.all), by_on_cpu_desc);
	for (i = 0; i < cc.n; i++) {
		if (i < PROBE_MAX_COMPETITORS)
			f->sched.competitors[f->sched.ncompetitors++] = cc.all[i];
		else
			f->sched.others_on_cpu_ns += cc.all[i].on_cpu_ns;
	}
}

struct mem_tasks_ctx {
	struct kernel_frame *f;
};

/* Keeps the PROBE_MAX_MEM_TASKS largest, in order (insertion into a short sorted list). */
static void take_mem_task(void *c, const void *key, const void *value)
{
	struct kernel_frame *f = ((struct mem_tasks_ctx *)c)->f;
	const struct mem_task *v = value;
	struct probe_mem_task t;
	int i, n = f->memory.ntasks;

	memcpy(&t.pid, key, sizeof(t.pid));
	memcpy(t.comm, v->comm, sizeof(t.comm));
	t.comm[sizeof(t.comm) - 1] = 0;
	t.ns = v->ns;
	if (n == PROBE_MAX_MEM_TASKS && f->memory.tasks[n - 1].ns >= t.ns)
		return;
	if (n < PROBE_MAX_MEM_TASKS)
		f->memory.ntasks = ++n;
	for (i = n - 1; i > 0 && f->memory.tasks[i - 1].ns < t.ns; i--)
		f->memory.tasks[i] = f->memory.tasks[i - 1];
	f->memory.tasks[i] = t;
}

static void read_memory(struct probe_reader *r, struct kernel_frame *f)
{
	struct mem_tasks_ctx mc = { f };
	int fd = map_fd(r, PROBE_MEMORY, "mem_counters");

	if (fd < 0)
		return;
	f->has_memory = 1;
	COUNTERS_DELTA(r, fd, struct mem_counters, r->mem_c, {
		f->memory.direct_ns = D(ns[MEM_DIRECT_RECLAIM]);
		f->memory.direct_count = D(count[MEM_DIRECT_RECLAIM]);
		f->memory.memcg_ns = D(ns[MEM_MEMCG_RECLAIM]);
		f->memory.memcg_count = D(count[MEM_MEMCG_RECLAIM]);
		f->memory.compaction_ns = D(ns[MEM_COMPACTION]);
		f->memory.compaction_count = D(count[MEM_COMPACTION]);
		f->memory.engine_ns = D(engine_ns);
	});
	drain_hash(r, map_fd(r, PROBE_MEMORY, "mem_tasks"), sizeof(__u32), sizeof(struct mem_task), take_mem_task, &mc);
}

static void read_offcpu(struct probe_reader *r, struct kernel_frame *f)
{
	if (map_fd(r, PROBE_OFFCPU, "offcpu_events") < 0)
		return;
	f->has_offcpu = 1;
	f->offcpu.min_us = r->offcpu_min_us;
	r->filling = f;
	if (r->off_rb)
		ring_buffer__consume(r->off_rb);
	r->filling = NULL;
	COUNTERS_DELTA(r, map_fd(r, PROBE_OFFCPU, "offcpu_counters"), struct offcpu_counters, r->off_c, {
		f->offcpu.truncated += D(truncated);
	});
}

/* A stack of the stack map, resolved once per id (kept for the reader's life). */
static int stack_of(struct probe_reader *r, int fd, int id, const uint64_t **ips)
{
	uint64_t buf[PROFILE_MAX_FRAMES];
	int n;

	*ips = NULL;
	if (id < 0 || fd < 0)
		return 0;
	if ((unsigned)id >= r->nstacks) {
		unsigned size = r->nstacks ? r->nstacks : 1024;
		uint64_t **s;
		int *l;

		while (size <= (unsigned)id)
			size *= 2;
		s = realloc(r->stacks, size * sizeof(*s));
		if (!s)
			return 0;
		r->stacks = s;
		l = realloc(r->stack_len, size * sizeof(*l));
		if (!l)
			return 0;
		r->stack_len = l;
		memset(r->stacks + r->nstacks, 0, (size - r->nstacks) * sizeof(*s));
		memset(r->stack_len + r->nstacks, 0, (size - r->nstacks) * sizeof(*l));
		r->nstacks = size;
	}
	if (!r->stacks[id]) {
		memset(buf, 0, sizeof(buf));
		if (bpf_map_lookup_elem(fd, &id, buf))
			return 0;
		for (n = 0; n < PROFILE_MAX_FRAMES && buf[n]; n++)
			;
		r->stacks[id] = malloc(sizeof(uint64_t) * (size_t)(n ? n : 1));
		if (!r->stacks[id])
			return 0;
		memcpy(r->stacks[id], buf, sizeof(uint64_t) * (size_t)n);
		r->stack_len[id] = n;
	}
	*ips = r->stacks[id];
	return r->stack_len[id];
}

struct profile_ctx {
	struct probe_reader *r;
	struct kernel_frame *f;
	int stacks_fd;
};

static void take_profile_sample(void *c, const void *key, const void *value)
{
	struct profile_ctx *pc = c;
	struct kernel_frame *f = pc->f;
	const struct profile_key *k = key;
	const struct profile_value *v = value;
	struct probe_profile_sample *o;

	if (f->profile.nsamples >= PROBE_MAX_PROFILE_SAMPLES) {
		f->profile.lost += v->count;
		return;
	}
	o = &f->profile.samples[f->profile.nsamples++];
	o->tid = k->tid;
	memcpy(o->comm, v->comm, sizeof(o->comm));
	o->comm[sizeof(o->comm) - 1] = 0;
	o->count = v->count;
	o->nkernel = stack_of(pc->r, pc->stacks_fd, k->kernel_stack, &o->kernel_ips);
	o->nuser = stack_of(pc->r, pc->stacks_fd, k->user_stack, &o->user_ips);
	o->kernel_stack = o->kernel_ips ? k->kernel_stack : -1;
	o->user_stack = o->user_ips ? k->user_stack : -1;
}

static void read_profile(struct probe_reader *r, struct kernel_frame *f)
{
	struct profile_ctx pc = { r, f, map_fd(r, PROBE_PROFILE, "prof_stacks") };
	struct profile_counters c;
	int fd = map_fd(r, PROBE_PROFILE, "prof_counts");

	if (fd < 0)
		return;
	f->has_profile = 1;
	f->profile.hz = r->profile_hz;
	drain_hash(r, fd, sizeof(struct profile_key), sizeof(struct profile_value), take_profile_sample, &pc);
	if (!sum_percpu_u64(r, map_fd(r, PROBE_PROFILE, "prof_counters"), 0, &c, sizeof(c) / 8)) {
		f->profile.lost += c.lost - r->prof_lost;
		r->prof_lost = c.lost;
	}
}

static void read_overhead(struct probe_reader *r, struct kernel_frame *f)
{
	int i;

	f->has_overhead = r->set->stats_fd >= 0;
	f->noverhead = 0;
	for (i = 0; i < r->set->nfds; i++) {
		const struct probe_fd *pf = &r->set->fds[i];
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		struct probe_overhead *o;

		if (pf->kind != PROBE_FD_PROG)
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(pf->fd, &info, &len))
			continue;
		o = &f->overhead[f->noverhead++];
		snprintf(o->program, sizeof(o->program), "%s", pf->name);
		o->probe = pf->probe;
		o->run_time_ns = info.run_time_ns - r->run_time[i];
		o->run_count = info.run_cnt - r->run_cnt[i];
		r->run_time[i] = info.run_time_ns;
		r->run_cnt[i] = info.run_cnt;
	}
}

/*
 * Zeroes a frame except its per-opcode histograms and the entries of its event, sample and
 * program arrays (~730 KB of its 765 KB): each is written whole up to a count that is zeroed
 * here (or, for an opcode, read only where its count is non-zero). Zeroing all of it every
 * 100 ms cost ~90 µs a frame on the lab's VM. Fields added later are zeroed unless they sit in
 * one of these arrays.
 */
#define OFF(field) offsetof(struct kernel_frame, field)
_Static_assert(OFF(uring.opcode_latency) < OFF(tcp.events) && OFF(tcp.events) < OFF(overhead) &&
		       OFF(overhead) < OFF(offcpu.events) && OFF(offcpu.events) < OFF(profile.samples),
	       "clear_frame's kept arrays are listed in the struct's order");
#undef OFF
static void clear_frame(struct kernel_frame *f)
{
#define KEEP(field) { offsetof(struct kernel_frame, field), offsetof(struct kernel_frame, field) + sizeof(f->field) }
	static const size_t keep[][2] = {
		KEEP(uring.opcode_latency), KEEP(tcp.events), KEEP(overhead), KEEP(offcpu.events), KEEP(profile.samples),
	};
#undef KEEP
	size_t at = 0;

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		memset((char *)f + at, 0, keep[i][0] - at);
		at = keep[i][1];
	}
	memset((char *)f + at, 0, sizeof(*f) - at);
}

void probe_reader_read(struct probe_reader *r, struct kernel_frame *f)
{
	int fd, op;
	uint64_t now = monotonic_ns();

	clear_frame(f);

	fd = map_fd(r, PROBE_URING_LATENCY, "lat_hists");
	if (fd >= 0) {
		uint64_t seen = lat_opcodes_seen(r);
		const struct kh_slots *all = __builtin_popcountll(seen) > LAT_FEW_OPCODES ? lat_hists_batch(r, fd) : NULL;
#define LAT_DELTA(key, out)                                                                          \
	(all ? hist_delta_of(r, all + (size_t)(key) * (size_t)r->ncpus, r->lat_prev[key], out)        \
	     : hist_delta(r, fd, key, r->lat_prev[key], out))
		LAT_DELTA(LAT_HIST_TASK_WORK, f->uring.task_work);
		for (op = 0; op < LAT_MAX_OPCODES; op++) {
			uint64_t *h = f->uring.opcode_latency[op], n = 0;

			/* Never recorded: no entry to read (its count stays 0, so h is not looked at). */
			if (!((seen >> op) & 1) || !LAT_DELTA(LAT_HIST_OPCODE0 + op, h))
				continue;
			for (int i = 0; i < KH_BUCKETS; i++) {
				n += h[i];
				f->uring.latency[i] += h[i];
			}
			f->uring.opcode_count[op] = n;
		}
#undef LAT_DELTA
	}
	f->uring.latency_sample_rate = r->set->status[PROBE_URING_LATENCY].attached ? LAT_SAMPLE_RATE : 0;
	f->uring.enters_source = r->set->status[PROBE_URING_CALLS].attached ? r->set->enters_source : PROBE_ENTERS_ENGINE;
	COUNTERS_DELTA(r, map_fd(r, PROBE_URING_LATENCY, "lat_counters"), struct lat_counters, r->lat_c, {
		f->uring.submits = D(submits);
		f->uring.completions = D(completions);
	});
	COUNTERS_DELTA(r, map_fd(r, PROBE_URING_CALLS, "calls_counters"), struct calls_counters, r->calls_c, {
		f->uring.enters = D(enters);
		f->uring.cq_waits = D(cq_waits);
		f->uring.io_wq_punts = D(io_wq_punts);
		f->uring.cqe_overflows = D(cqe_overflows);
		f->uring.short_writes = D(short_writes);
		f->uring.req_failed = D(req_failed);
	});

	hist_delta(r, map_fd(r, PROBE_RUNQUEUE, "rq_hist"), 0, r->rq_prev, f->runqueue.latency);
	for (int i = 0; i < KH_BUCKETS; i++)
		f->runqueue.count += f->runqueue.latency[i];
	COUNTERS_DELTA(r, map_fd(r, PROBE_RUNQUEUE, "rq_counters"), struct rq_counters, r->rq_c, {
		f->runqueue.preemptions = D(preemptions);
	});

	fd = map_fd(r, PROBE_SQPOLL, "sqp_counters");
	if (fd >= 0) {
		struct sqp_counters c;

		if (!sum_percpu_u64(r, fd, 0, &c, sizeof(c) / 8)) {
			uint64_t total = sqpoll_on_cpu_total(r, now, c.on_cpu_ns);

			/* An open span can end (and be counted as closed) a little before `now`. */
			f->sqpoll.on_cpu_ns = total > r->sqp_on_cpu ? total - r->sqp_on_cpu : 0;
			if (total > r->sqp_on_cpu)
				r->sqp_on_cpu = total;
			f->sqpoll.wakeups = c.wakeups - r->sqp_wakeups;
			r->sqp_wakeups = c.wakeups;
		}
	}

	f->softirq.time_sample_rate = r->set->status[PROBE_SOFTIRQ].attached ? SOFTIRQ_TIME_SAMPLE_RATE : 0;
	COUNTERS_DELTA(r, map_fd(r, PROBE_SOFTIRQ, "softirq_counters"), struct softirq_counters, r->sirq_c, {
		f->softirq.net_rx_ns = D(net_rx_ns);
		f->softirq.net_tx_ns = D(net_tx_ns);
		f->softirq.net_rx_count = D(net_rx_count);
		f->softirq.net_tx_count = D(net_tx_count);
		f->softirq.napi_polls = D(napi_polls);
	});

	r->filling = f;
	if (r->rb)
		ring_buffer__consume(r->rb);
	if (r->pb)
		perf_buffer__consume(r->pb);
	r->filling = NULL;
	COUNTERS_DELTA(r, map_fd(r, PROBE_TCP_EVENTS, "tcp_counters"), struct tcp_counters, r->tcp_c, {
		f->tcp.retransmits = D(retransmits);
		f->tcp.drops = D(drops);
		f->tcp.close_drops = D(close_drops);
		f->tcp.dup_drops = D(dup_drops);
		f->tcp.lost = D(lost);
	});
	f->tcp.lost += r->perf_lost;
	r->perf_lost = 0;
	f->tcp.channel = r->rb ? "ringbuf" : r->pb ? "perfbuf" : NULL;

	read_competitors(r, f);
	read_memory(r, f);
	read_offcpu(r, f);
	read_profile(r, f);
	read_overhead(r, f);
	/* Stamped when everything is read, not before: the reads take a while (longer on a busy
	 * machine), and an event that ended in the meantime is in this frame, so the frame's time
	 * must not be earlier than any of its events' (an off-CPU block ending 0.6 ms after a stamp
	 * taken first was seen under test load). */
	f->monotonic_ns = monotonic_ns();
}

void probe_reader_free(struct probe_reader *r)
{
	if (!r)
		return;
	ring_buffer__free(r->rb);
	perf_buffer__free(r->pb);
	ring_buffer__free(r->off_rb);
	for (unsigned i = 0; i < r->nstacks; i++)
		free(r->stacks[i]);
	free(r->stacks);
	free(r->stack_len);
	free(r->keys);
	free(r->values);
	free(r->competitors);
	free(r->lat_batch);
	free(r->lat_batch_keys);
	free(r->percpu);
	free(r);
}

const char *probe_tcp_state_name(int state)
{
	static const char *const names[] = {
		[1] = "ESTABLISHED", [2] = "SYN_SENT",   [3] = "SYN_RECV",   [4] = "FIN_WAIT1",
		[5] = "FIN_WAIT2",   [6] = "TIME_WAIT",  [7] = "CLOSE",      [8] = "CLOSE_WAIT",
		[9] = "LAST_ACK",    [10] = "LISTEN",    [11] = "CLOSING",   [12] = "NEW_SYN_RECV",
	};

	if (state <= 0 || state >= (int)(sizeof(names) / sizeof(names[0])))
		return NULL;
	return names[state];
}
