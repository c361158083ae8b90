// SPDX-License-Identifier: GPL-2.0
/*
 * softirq: time in the network softirqs (NET_RX, NET_TX) on every CPU, and NAPI polls. Not
 * filtered by tgid: softirqs run on behalf of whoever the packets are for, so this is the whole
 * machine's network path (on loopback, mostly the lab's own traffic). Times are estimated from
 * a sample of the softirqs, counts are exact (softirq.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "probe_common.bpf.h"
#include "softirq.h"

char LICENSE[] SEC("license") = "GPL";

/* Entry time per CPU of the NET_TX (0) and NET_RX (1) softirq in progress. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} softirq_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct softirq_counters);
} softirq_counters SEC(".maps");

/* The time-sampling window (softirq.h), written by probe_sampling.c. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct softirq_window);
} softirq_window SEC(".maps");

/* Outside a time-sampling window: count and time nothing. */
static __always_inline int window_closed(void)
{
	__u32 zero = 0;
	struct softirq_window *w = bpf_map_lookup_elem(&softirq_window, &zero);

	return !w || w->closed;
}

static __always_inline int on_entry(unsigned int vec)
{
	__u32 slot = vec - SOFTIRQ_NET_TX, zero = 0;
	struct softirq_counters *c;
	__u64 *start;

	if (vec != SOFTIRQ_NET_TX && vec != SOFTIRQ_NET_RX)
		return 0;
	if (window_closed())
		return 0;
	c = bpf_map_lookup_elem(&softirq_counters, &zero);
	if (!c)
		return 0;
	/* Counted at entry, so the count holds whether or not this one is timed. */
	if (vec == SOFTIRQ_NET_RX)
		c->net_rx_count++;
	else
		c->net_tx_count++;
	if (!sample_draw(&c->sampler_state, SOFTIRQ_TIME_SAMPLE_SHIFT))
		return 0;
	start = bpf_map_lookup_elem(&softirq_start, &slot);
	if (start)
		*start = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int on_exit(unsigned int vec)
{
	__u32 slot = vec - SOFTIRQ_NET_TX, zero = 0;
	struct softirq_counters *c;
	__u64 *start, ns;

	if (vec != SOFTIRQ_NET_TX && vec != SOFTIRQ_NET_RX)
		return 0;
	start = bpf_map_lookup_elem(&softirq_start, &slot);
	if (!start || !*start)
		return 0; /* not timed (or entered before we attached) */
	if (window_closed())
		return 0; /* the window closed in between: zeroed before the next one opens */
	c = bpf_map_lookup_elem(&softirq_counters, &zero);
	if (!c)
		return 0;
	/* The sample stands for 2^SHIFT softirqs. Per CPU and softirqs do not nest on a CPU:
	 * plain adds are exact here. */
	ns = (bpf_ktime_get_ns() - *start) << SOFTIRQ_TIME_SAMPLE_SHIFT;
	*start = 0;
	if (vec == SOFTIRQ_NET_RX)
		c->net_rx_ns += ns;
	else
		c->net_tx_ns += ns;
	return 0;
}

static __always_inline int on_napi_poll(void)
{
	__u32 zero = 0;
	struct softirq_counters *c;

	if (window_closed())
		return 0;
	c = bpf_map_lookup_elem(&softirq_counters, &zero);
	/* NAPI polls run in softirq (or netpoll with interrupts off), never nested on a CPU. */
	if (c)
		c->napi_polls++;
	return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(ul_sirq_in_b, unsigned int vec) { return on_entry(vec); }
SEC("raw_tp/softirq_entry")
int BPF_PROG(ul_sirq_in_r, unsigned int vec) { return on_entry(vec); }

SEC("tp_btf/softirq_exit")
int BPF_PROG(ul_sirq_out_b, unsigned int vec) { return on_exit(vec); }
SEC("raw_tp/softirq_exit")
int BPF_PROG(ul_sirq_out_r, unsigned int vec) { return on_exit(vec); }

SEC("tp_btf/napi_poll")
int BPF_PROG(ul_sirq_napi_b, struct napi_struct *napi) { return on_napi_poll(); }
SEC("raw_tp/napi_poll")
int BPF_PROG(ul_sirq_napi_r, struct napi_struct *napi) { return on_napi_poll(); }
