import { describe, expect, it } from 'vitest';
import { HISTOGRAM_LAYOUT, histogramBucketLowerUs, histogramBucketUpperUs } from '../../electron/contract';
import { LatencyHistogram } from '../../electron/contract';

/** The layout's index formula, as documented in contract.ts, for checking the bounds against. */
function indexOf(us: number): number {
  if (us < 64) return us;
  const e = Math.min(Math.floor(Math.log2(us)), HISTOGRAM_LAYOUT.maxExponent);
  if (e > HISTOGRAM_LAYOUT.maxExponent || us >= 2 ** 27) return HISTOGRAM_LAYOUT.bucketCount - 1;
  return 64 + (e - 6) * 32 + (Math.floor(us / 2 ** (e - 5)) & 31);
}

describe('latency histogram layout', () => {
  it('has contiguous buckets whose width is at most 1/32 of their value', () => {
    for (let i = 0; i < HISTOGRAM_LAYOUT.bucketCount - 1; i++) {
      const lo = histogramBucketLowerUs(i);
      const hi = histogramBucketUpperUs(i);
      expect(hi).toBe(histogramBucketLowerUs(i + 1));
      expect(hi - lo).toBeLessThanOrEqual(Math.max(1, lo / 32));
      expect(indexOf(lo)).toBe(i);
      expect(indexOf(hi - 1)).toBe(i);
    }
  });

  it('computes percentiles as the highest value in the bucket', () => {
    const h = new LatencyHistogram();
    // 90 requests at 20 µs, 9 at 100 µs, 1 at 5000 µs
    h.add([[20, 90], [indexOf(100), 9], [indexOf(5000), 1]]);
    expect(h.total).toBe(100);
    expect(h.quantileUs(0.5)).toBe(20);
    expect(h.quantileUs(0.9)).toBe(20);
    expect(h.quantileUs(0.99)).toBe(histogramBucketUpperUs(indexOf(100)) - 1);
    expect(h.quantileUs(0.99)).toBeGreaterThanOrEqual(100);
    expect(h.quantileUs(0.99)).toBeLessThan(104);
    expect(h.maxUs()).toBeGreaterThanOrEqual(5000);
    expect(h.maxUs()).toBeLessThan(5000 * (1 + 1 / 32));
    expect(h.toSparse()).toEqual([[20, 90], [indexOf(100), 9], [indexOf(5000), 1]]);
  });

  it('is empty-safe', () => {
    const h = new LatencyHistogram();
    expect(h.quantileUs(0.99)).toBe(0);
    expect(h.maxUs()).toBe(0);
    expect(h.meanUs()).toBe(0);
  });
});
