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
 * the binding's C++.
 *
 * Values are whole microseconds rounded UP from nanoseconds (lh_ns_to_us):
 * a 1.2 µs round trip is recorded as 2 µs, never as 1, so no latency is
 * understated (a recorded value is less than 1 µs over the truth).
 */
#ifndef URING_LAB_LATENCY_HISTOGRAM_H
#define URING_LAB_LATENCY_HISTOGRAM_H

#include <stdint.h>

#include "core/counters.h"

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
	counter_add(&h->counts[lh_index(us)], 1);
}

/* Writer side: n samples into one bucket at once. */
static inline void lh_add(struct latency_histogram *h, unsigned index, uint64_t n)
{
	counter_add(&h->counts[index], n);
}

/* Nanoseconds to whole microseconds, rounded up: never understates. */
static inline uint64_t lh_ns_to_us(uint64_t ns)
{
	return (ns + 999) / 1000;
}

/* Synthetic samples one lh_record_corrected() call may add at most. */
#define LH_CORRECTION_MAX 100000u

/*
 * HdrHistogram's recordValueWithExpectedInterval: records `us`, and when it
 * exceeds the expected interval `expected_us`, also us - E, us - 2E, ...
 * while >= E (at most LH_CORRECTION_MAX of them): the requests a closed
 * loop did not send while it waited. Added a bucket at a time, so a long
 * stall costs a few hundred stores, not one per synthetic sample.
 */
void lh_record_corrected(struct latency_histogram *h, uint64_t us, uint64_t expected_us);

/* Lower bound (inclusive, µs) of bucket `index`. */
uint64_t lh_bucket_lower_us(unsigned index);

/* Reader side: out[i] += h->counts[i] for every bucket (relaxed loads); returns the sum of
 * the counts it read, the samples this read saw. */
uint64_t lh_accumulate(const struct latency_histogram *h, uint64_t *out);
/* Reader side: the sum of the counts (relaxed loads). */
uint64_t lh_total(const struct latency_histogram *h);

#ifdef __cplusplus
}
#endif

#endif
