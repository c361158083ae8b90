/* Latency histogram: the parts that are not hot enough to be inline. */
#include "core/latency_histogram.h"

uint64_t lh_bucket_lower_us(unsigned index)
{
	if (index < LH_LINEAR_BUCKETS)
		return index;
	unsigned octave = (index - LH_LINEAR_BUCKETS) / LH_SUB_BUCKETS;
	unsigned sub = (index - LH_LINEAR_BUCKETS) % LH_SUB_BUCKETS;
	/* (32 + sub) * 2^(e - 5) with e = 6 + octave */
	return (uint64_t)(LH_SUB_BUCKETS + sub) << (LH_MIN_EXPONENT + octave - LH_SUB_BUCKET_BITS);
}

uint64_t lh_accumulate(const struct latency_histogram *h, uint64_t *out)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < LH_BUCKETS; i++) {
		uint64_t n = counter_get(&h->counts[i]);
		out[i] += n;
		total += n;
	}
	return total;
}

uint64_t lh_total(const struct latency_histogram *h)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < LH_BUCKETS; i++)
		total += counter_get(&h->counts[i]);
	return total;
}

void lh_record_corrected(struct latency_histogram *h, uint64_t us, uint64_t expected_us)
{
	uint64_t e = expected_us, left = LH_CORRECTION_MAX, v;

	lh_record(h, us);
	if (e == 0 || us <= e)
		return;
	/* The synthetic values us - k*E, largest first, one bucket per step. */
	v = us - e;
	while (v >= e && left) {
		unsigned idx = lh_index(v);
		uint64_t lo = lh_bucket_lower_us(idx);
		uint64_t k;

		if (lo < e)
			lo = e;
		k = (v - lo) / e + 1; /* v, v - E, ... that are still >= lo */
		if (k > left)
			k = left;
		lh_add(h, idx, k);
		left -= k;
		v -= k * e; /* >= lo - E >= 0 */
	}
}
