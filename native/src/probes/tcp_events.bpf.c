// SPDX-License-Identifier: GPL-2.0
/*
 * tcp_events: TCP retransmits and drops (kfree_skb with a real drop reason, on a TCP socket)
 * as events to user space, through a BPF ring buffer or, where the kernel has none (or a test
 * forces it), a perf buffer. Both are counted in the kernel too, and every event the channel
 * cannot take is counted as lost. Machine-wide: drops happen in softirq, not in our threads.
 *
 * Drops at a socket being closed (its queues purged at close, data arriving after the
 * application closed it, a segment for a socket in CLOSE) or already gone (NO_SOCKET: a
 * connection reset or closed while its peer still sent, or a port nobody listens on, whose
 * connect then fails and says so) are how connections end, not packets lost on the way: every
 * run's teardown makes them (at 50 x 64 KiB the load's close met 33-40 echoes still on their
 * way, each a NO_SOCKET). They are counted apart (close_drops) and sent as no event.
 * Duplicates (data or a sequence the receiver already has, an old ACK) are the copies that
 * spurious retransmits send, not losses either: at 50 x 1 MiB on loopback every retransmit
 * came back as a TCP_OLD_DATA drop, and `drops` read 110 where nothing was lost. They are
 * counted apart too (dup_drops), with no event: the retransmits themselves still are. So
 * `drops` and the events are what a user would look for.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "probe_common.bpf.h"
#include "tcp_events.h"

#define IPPROTO_TCP_NR 6

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader: the events map was turned into a PERF_EVENT_ARRAY. */
const volatile bool use_perfbuf = false;
/* Set by the loader from BTF: kfree_skb passes the receiving socket (rx_sk, 6.12+). */
const volatile bool kfree_skb_has_rx_sk = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} tcp_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_counters);
} tcp_counters SEC(".maps");

static __always_inline void emit(void *ctx, struct tcp_event *e, struct tcp_counters *c)
{
	long err;

	if (use_perfbuf)
		err = bpf_perf_event_output(ctx, &tcp_events, BPF_F_CURRENT_CPU, e, sizeof(*e));
	else
		err = bpf_ringbuf_output(&tcp_events, e, sizeof(*e), 0);
	if (err && c)
		counter_add(&c->lost, 1);
}

static __always_inline void fill_sock(struct tcp_event *e, const struct sock *sk)
{
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
}

static __always_inline int on_retransmit(void *ctx, const struct sock *sk)
{
	struct tcp_event e = { .kind = TCP_EVENT_RETRANSMIT, .state = -1 };
	__u32 zero = 0;
	struct tcp_counters *c = bpf_map_lookup_elem(&tcp_counters, &zero);

	if (c)
		counter_add(&c->retransmits, 1);
	e.monotonic_ns = bpf_ktime_get_ns();
	if (sk)
		fill_sock(&e, sk);
	emit(ctx, &e, c);
	return 0;
}

/* Without a socket (a segment to a closed port, say): TCP by the IP header's protocol, ports
 * from the TCP header. 0 when the packet is not TCP. */
static __always_inline int fill_from_headers(struct tcp_event *e, struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header), th = BPF_CORE_READ(skb, transport_header);
	__u8 first, proto;
	__u16 ports[2];

	if (bpf_probe_read_kernel(&first, 1, head + nh))
		return 0;
	if ((first >> 4) == 4)
		bpf_probe_read_kernel(&proto, 1, head + nh + 9);
	else if ((first >> 4) == 6)
		bpf_probe_read_kernel(&proto, 1, head + nh + 6);
	else
		return 0;
	if (proto != IPPROTO_TCP_NR)
		return 0;
	if (th != (__u16)~0U && !bpf_probe_read_kernel(ports, sizeof(ports), head + th)) {
		e->sport = __builtin_bswap16(ports[0]);
		e->dport = __builtin_bswap16(ports[1]);
	}
	return 1;
}

/* A drop reason by name, looked up in the running kernel's BTF; a reason this kernel does not
 * have is simply never matched. */
#define REASON_IS(reason, name)                                                               \
	(bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_##name) &&          \
	 (reason) == (__u32)bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_##name))

/* A socket being closed, or gone. */
static __always_inline bool closing_reason(__u32 reason)
{
	return REASON_IS(reason, SOCKET_CLOSE) || REASON_IS(reason, TCP_CLOSE) ||
	       REASON_IS(reason, TCP_ABORT_ON_DATA) || REASON_IS(reason, QUEUE_PURGE) ||
	       REASON_IS(reason, NO_SOCKET);
}

/* A copy of what the receiver already has. TCP_INVALID_SEQUENCE (outside the window) and
 * RFC7323_PAWS stay drops: they can be a broken or stale peer, not only a duplicate. */
static __always_inline bool duplicate_reason(__u32 reason)
{
	return REASON_IS(reason, TCP_OLD_DATA) || REASON_IS(reason, TCP_OLD_SEQUENCE) ||
	       REASON_IS(reason, TCP_OFOMERGE) || REASON_IS(reason, TCP_OLD_ACK);
}

static __always_inline int on_kfree_skb(void *ctx, struct sk_buff *skb, __u32 reason, struct sock *rx_sk)
{
	struct tcp_event e = { .kind = TCP_EVENT_DROP, .state = -1 };
	__u32 zero = 0;
	struct tcp_counters *c;
	struct sock *sk;

	/* SKB_NOT_DROPPED_YET, SKB_CONSUMED and NOT_SPECIFIED are not drops with a reason. */
	if (reason <= (__u32)bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		return 0;
	sk = rx_sk ? rx_sk : BPF_CORE_READ(skb, sk);
	if (sk) {
		if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP_NR)
			return 0;
		fill_sock(&e, sk);
	} else if (!fill_from_headers(&e, skb)) {
		return 0;
	}
	c = bpf_map_lookup_elem(&tcp_counters, &zero);
	if (closing_reason(reason)) {
		if (c)
			counter_add(&c->close_drops, 1);
		return 0;
	}
	if (duplicate_reason(reason)) {
		if (c)
			counter_add(&c->dup_drops, 1);
		return 0;
	}
	if (c)
		counter_add(&c->drops, 1);
	e.monotonic_ns = bpf_ktime_get_ns();
	e.reason = reason;
	emit(ctx, &e, c);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(ul_tcp_rtx_b, const struct sock *sk) { return on_retransmit(ctx, sk); }
SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(ul_tcp_rtx_r, const struct sock *sk) { return on_retransmit(ctx, sk); }

SEC("tp_btf/kfree_skb")
int BPF_PROG(ul_tcp_drop_b, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	struct sock *rx_sk = NULL;

	if (kfree_skb_has_rx_sk)
		rx_sk = (struct sock *)ctx[3];
	return on_kfree_skb(ctx, skb, reason, rx_sk);
}
SEC("raw_tp/kfree_skb")
int BPF_PROG(ul_tcp_drop_r, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	struct sock *rx_sk = NULL;

	if (kfree_skb_has_rx_sk)
		rx_sk = (struct sock *)ctx[3];
	return on_kfree_skb(ctx, skb, reason, rx_sk);
}
