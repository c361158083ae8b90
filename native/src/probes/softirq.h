/* softirq: the layouts shared by softirq.bpf.c and the reader. */
#ifndef URING_LAB_PROBES_SOFTIRQ_H
#define URING_LAB_PROBES_SOFTIRQ_H

#define SOFTIRQ_NET_TX 2 /* NET_TX_SOFTIRQ */
#define SOFTIRQ_NET_RX 3 /* NET_RX_SOFTIRQ */

/*
 * Softirq TIME is measured on a sample: 1 in 2^SOFTIRQ_TIME_SAMPLE_SHIFT NET_RX/NET_TX softirqs
 * per CPU (a random draw, sample_draw; each taken whole, entry to exit), its duration added
 * 2^SHIFT times, so net_rx_ns/net_tx_ns are estimates of the total; the entry and NAPI poll
 * COUNTS stay exact. The two clock reads of a timed softirq are most of what its programs cost
 * (a clock read is ~30 ns on a virtual machine), and softirqs run for every packet of the machine.
 */
#define SOFTIRQ_TIME_SAMPLE_SHIFT 3
#define SOFTIRQ_TIME_SAMPLE_RATE (1.0 / (1 << SOFTIRQ_TIME_SAMPLE_SHIFT))

/* softirq_window (one entry): nonzero while the time-sampling thread has the window closed
 * (probe_sampling.c; uring_latency.h's lat_window says why): the programs count nothing. */
struct softirq_window {
	unsigned long long closed;
};

/* Per-CPU counters (one entry), cumulative since load: the reader reports deltas. */
struct softirq_counters {
	unsigned long long net_rx_ns;
	unsigned long long net_tx_ns;
	unsigned long long net_rx_count;
	unsigned long long net_tx_count;
	unsigned long long napi_polls;
	unsigned long long sampler_state; /* the sampler's generator on this CPU, not reported */
};

#endif
