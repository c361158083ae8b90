import { describe, expect, it } from 'vitest';
import { HISTOGRAM_LAYOUT, histogramBucketLowerUs, histogramBucketUpperUs } from '../../electron/contract';
import { createRequire } from 'node:module';
import type * as Native from '../../native';

const native: typeof Native = createRequire(import.meta.url)('../../native');

describe('latency histogram layout', () => {
  const layout = native.histogramLayout();

  it('has the shape the contract declares', () => {
    expect(layout.unit).toBe('us');
    expect(layout.subBucketBits).toBe(HISTOGRAM_LAYOUT.subBucketBits);
    expect(layout.linearBuckets).toBe(HISTOGRAM_LAYOUT.linearBuckets);
    expect(layout.bucketCount).toBe(HISTOGRAM_LAYOUT.bucketCount);
    expect(layout.bucketCount).toBe(736);
    expect(layout.lowerBoundsUs).toHaveLength(736);
  });

  it('native lower bounds equal histogramBucketLowerUs() for every bucket', () => {
    const ts = Array.from({ length: HISTOGRAM_LAYOUT.bucketCount }, (_, i) => histogramBucketLowerUs(i));
    expect(layout.lowerBoundsUs).toEqual(ts);
  });

  it('native indexing puts each bucket bound in its own bucket', () => {
    for (let i = 0; i < layout.bucketCount; i++) {
      const lo = histogramBucketLowerUs(i);
      const hi = histogramBucketUpperUs(i); // exclusive
      expect(native.histogramIndex(lo)).toBe(i);
      expect(native.histogramIndex(hi - 1)).toBe(i);
    }
  });

  it('pins the formula and the clamp', () => {
    expect(native.histogramIndex(0)).toBe(0);
    expect(native.histogramIndex(63)).toBe(63);
    expect(native.histogramIndex(64)).toBe(64);
    expect(native.histogramIndex(65)).toBe(64); // 64..65 share a 2 µs bucket
    expect(native.histogramIndex(66)).toBe(65);
    expect(native.histogramIndex(1000)).toBe(64 + (9 - 6) * 32 + ((1000 >> 4) & 31));
    expect(native.histogramIndex(2 ** 27 - 1)).toBe(735);
    expect(native.histogramIndex(2 ** 27)).toBe(735);
    expect(native.histogramIndex(1e15)).toBe(735);
  });
});
