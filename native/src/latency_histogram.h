/*
 * Log-linear latency histogram in microseconds, the same layout as
 * HISTOGRAM_LAYOUT / histogramBucketLowerUs() in electron/contract.ts
 * (test/native pins that the two agree bucket for bucket):
 *
 *   v in 0..63        -> index v (one bucket per microsecond)
 *   v >= 64           -> e = floor(log2 v), index = 64 + (e-6)*32 + ((v >> (e-5)) & 31)
 *   v >= 2^27         -> last bucket (735)
 *
 * One histogram has exactly one writer thread (a load generator thread) and
 * any number of readers (snapshot() on the JS thread). Counters are plain
 * uint64_t accessed with relaxed __atomic loads/stores: the single writer
 * never needs a locked read-modify-write, and a reader never sees a torn
 * 64-bit value. Plain uint64_t (not _Atomic) keeps this header usable from
 * binding.cc.
 */
#ifndef URING_LAB_LATENCY_HISTOGRAM_H
#define URING_LAB_LATENCY_HISTOGRAM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LH_SUB_BUCKET_BITS 5
#define LH_SUB_BUCKETS (1u << LH_SUB_BUCKET_BITS) /* 32 */
#define LH_LINEAR_BUCKETS 64u
#define LH_MIN_EXPONENT 6u  /* 2^6 = 64, first log-linear octave */
#define LH_MAX_EXPONENT 26u /* last octave [2^26, 2^27) */
#define LH_BUCKETS (LH_LINEAR_BUCKETS + (LH_MAX_EXPONENT - LH_MIN_EXPONENT + 1) * LH_SUB_BUCKETS) /* 736 */

struct latency_histogram {
	uint64_t counts[LH_BUCKETS];
};

/* Bucket index of a value in microseconds (clamped to the last bucket). */
static inline unsigned lh_index(uint64_t us)
{
	if (us < LH_LINEAR_BUCKETS)
		return (unsigned)us;
	if (us >> (LH_MAX_EXPONENT + 1))
		return LH_BUCKETS - 1;
	unsigned e = 63u - (unsigned)__builtin_clzll(us); /* floor(log2 us), >= 6 */
	return LH_LINEAR_BUCKETS + (e - LH_MIN_EXPONENT) * LH_SUB_BUCKETS +
	       (unsigned)((us >> (e - LH_SUB_BUCKET_BITS)) & (LH_SUB_BUCKETS - 1));
}

/* Writer side: only ever called by the histogram's owning thread. */
static inline void lh_record(struct latency_histogram *h, uint64_t us)
{
	uint64_t *c = &h->counts[lh_index(us)];
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* Lower bound (inclusive, µs) of bucket `index`. */
uint64_t lh_bucket_lower_us(unsigned index);

/* Reader side: out[i] += h->counts[i] for every bucket (relaxed loads). */
void lh_accumulate(const struct latency_histogram *h, uint64_t *out);

#ifdef __cplusplus
}
#endif

#endif
