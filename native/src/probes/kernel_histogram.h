/*
 * The kernel-time histogram layout (the probes contract's KERNEL_HISTOGRAM_LAYOUT), shared by
 * the BPF programs and user space: the client histogram's log-linear scheme
 * (core/latency_histogram.h) in NANOSECONDS over a longer range. 0..63 ns get a bucket each;
 * above, each power of two [2^e, 2^(e+1)) splits into 32 sub-buckets up to e = 36
 * (≈ 68.7–137 s); everything from 2^37 ns lands in the last bucket.
 * No includes: plain C types, so the BPF side (after vmlinux.h and bpf_helpers.h) and user
 * space share it.
 */
#ifndef URING_LAB_PROBES_KERNEL_HISTOGRAM_H
#define URING_LAB_PROBES_KERNEL_HISTOGRAM_H

#define KH_LINEAR_BUCKETS 64
#define KH_SUB_BUCKET_BITS 5
#define KH_SUB_BUCKETS (1 << KH_SUB_BUCKET_BITS)
#define KH_MAX_EXPONENT 36
#define KH_BUCKETS (KH_LINEAR_BUCKETS + (KH_MAX_EXPONENT - 6 + 1) * KH_SUB_BUCKETS) /* 1056 */

/* The BPF side must show the verifier the bound it cannot derive from the arithmetic. */
#ifdef __bpf__
#define KH_OPAQUE(v) barrier_var(v)
#else
#define KH_OPAQUE(v) ((void)0)
#endif

/* The bucket of a value in ns: one function for the BPF programs and for user space (the
 * addon's kernelHistogramIndex, which the TypeScript layout is pinned against). */
static inline __attribute__((always_inline)) unsigned int kh_index(unsigned long long v)
{
	unsigned long long x = v;
	unsigned int e = 0, idx;

	if (v < KH_LINEAR_BUCKETS)
		return (unsigned int)v;
	if (v >= (1ULL << (KH_MAX_EXPONENT + 1)))
		return KH_BUCKETS - 1;
	/* floor(log2 v) without a loop (the verifier) or a builtin (clang -target bpf has none). */
	if (x >> 32) { x >>= 32; e += 32; }
	if (x >> 16) { x >>= 16; e += 16; }
	if (x >> 8) { x >>= 8; e += 8; }
	if (x >> 4) { x >>= 4; e += 4; }
	if (x >> 2) { x >>= 2; e += 2; }
	if (x >> 1)
		e += 1;
	idx = KH_LINEAR_BUCKETS + (e - 6) * KH_SUB_BUCKETS +
	      (unsigned int)((v >> (e - KH_SUB_BUCKET_BITS)) & (KH_SUB_BUCKETS - 1));
	KH_OPAQUE(idx);
	if (idx >= KH_BUCKETS)
		idx = KH_BUCKETS - 1;
	return idx;
}

/* One histogram as a map value: per CPU and per read interval, so 32 bits never wrap. */
struct kh_slots {
	unsigned int slots[KH_BUCKETS];
};

#endif
