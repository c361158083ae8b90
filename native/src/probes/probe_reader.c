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

#include "runqueue.h"
#include "softirq.h"
#include "sqpoll.h"
#include "tcp_events.h"
#include "uring_calls.h"

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

/* Adds up a per-CPU histogram and returns its delta since `prev` (updated) in `out`. */
static int hist_delta(struct probe_reader *r, int fd, uint32_t key, uint64_t *prev, uint64_t *out)
{
	const size_t stride = sizeof(struct kh_slots);
	uint64_t total = 0;
	int cpu, i;

	if (fd < 0 || bpf_map_lookup_elem(fd, &key, r->percpu)) {
		memset(out, 0, KH_BUCKETS * sizeof(uint64_t));
		return 0;
	}
	for (i = 0; i < KH_BUCKETS; i++) {
		uint64_t s = 0;

		for (cpu = 0; cpu < r->ncpus; cpu++)
			s += ((const struct kh_slots *)((const char *)r->percpu + (size_t)cpu * stride))->slots[i];
		out[i] = s - prev[i];
		prev[i] = s;
		total += out[i];
	}
	return total != 0;
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

void probe_reader_read(struct probe_reader *r, struct kernel_frame *f)
{
	int fd, op;

	memset(f, 0, offsetof(struct kernel_frame, uring.opcode_latency));
	memset(&f->runqueue, 0, sizeof(*f) - offsetof(struct kernel_frame, runqueue));
	f->monotonic_ns = monotonic_ns();

	fd = map_fd(r, PROBE_URING_LATENCY, "lat_hists");
	if (fd >= 0) {
		hist_delta(r, fd, LAT_HIST_TASK_WORK, r->lat_prev[LAT_HIST_TASK_WORK], f->uring.task_work);
		for (op = 0; op < LAT_MAX_OPCODES; op++) {
			uint64_t *h = f->uring.opcode_latency[op], n = 0;

			if (!hist_delta(r, fd, LAT_HIST_OPCODE0 + op, r->lat_prev[LAT_HIST_OPCODE0 + op], h))
				continue;
			for (int i = 0; i < KH_BUCKETS; i++) {
				n += h[i];
				f->uring.latency[i] += h[i];
			}
			f->uring.opcode_count[op] = n;
		}
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
			uint64_t total = sqpoll_on_cpu_total(r, f->monotonic_ns, c.on_cpu_ns);

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
		f->tcp.lost = D(lost);
	});
	f->tcp.lost += r->perf_lost;
	r->perf_lost = 0;
	f->tcp.channel = r->rb ? "ringbuf" : r->pb ? "perfbuf" : NULL;

	read_overhead(r, f);
}

void probe_reader_free(struct probe_reader *r)
{
	if (!r)
		return;
	ring_buffer__free(r->rb);
	perf_buffer__free(r->pb);
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
