/* tcp_events: the event and counter layouts shared by tcp_events.bpf.c and the reader. */
#ifndef URING_LAB_PROBES_TCP_EVENTS_H
#define URING_LAB_PROBES_TCP_EVENTS_H

#define TCP_EVENT_RETRANSMIT 1
#define TCP_EVENT_DROP 2

struct tcp_event {
	unsigned long long monotonic_ns;
	unsigned int kind;   /* TCP_EVENT_* */
	unsigned int reason; /* enum skb_drop_reason for drops (named from BTF by the reader), else 0 */
	unsigned short sport, dport;
	int state;           /* TCP state of the socket (TCP_ESTABLISHED = 1 ...), -1 unknown */
};

/* Per-CPU counters (one entry), cumulative since load: the reader reports deltas. */
struct tcp_counters {
	unsigned long long retransmits;
	unsigned long long drops;       /* losses: every drop reason but a closing socket's and a duplicate's */
	unsigned long long lost;        /* events the ring buffer / perf buffer refused */
	unsigned long long close_drops; /* at a socket being closed or gone (no event is sent) */
	unsigned long long dup_drops;   /* copies of data or ACKs the receiver already had (no event) */
};

#endif
