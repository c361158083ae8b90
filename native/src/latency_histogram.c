/* Latency histogram: the parts that are not hot enough to be inline. */
#include "latency_histogram.h"

uint64_t lh_bucket_lower_us(unsigned index)
{
	if (index < LH_LINEAR_BUCKETS)
		return index;
	unsigned octave = (index - LH_LINEAR_BUCKETS) / LH_SUB_BUCKETS;
	unsigned sub = (index - LH_LINEAR_BUCKETS) % LH_SUB_BUCKETS;
	/* (32 + sub) * 2^(e - 5) with e = 6 + octave */
	return (uint64_t)(LH_SUB_BUCKETS + sub) << (LH_MIN_EXPONENT + octave - LH_SUB_BUCKET_BITS);
}

void lh_accumulate(const struct latency_histogram *h, uint64_t *out)
{
	for (unsigned i = 0; i < LH_BUCKETS; i++)
		out[i] += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
}
