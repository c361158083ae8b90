/**
 * Percentiles and merging over the lab's log-linear latency histogram (layout in contract.ts).
 * Values are reported as the highest value equivalent to a bucket (HDR's convention), so a
 * percentile is never understated: for the 1 µs-wide buckets below 64 µs that is the value itself.
 */
import { HISTOGRAM_LAYOUT, histogramBucketLowerUs, histogramBucketUpperUs, SparseHistogram } from '../contract';

export class LatencyHistogram {
  readonly counts = new Float64Array(HISTOGRAM_LAYOUT.bucketCount);
  total = 0;

  addSparse(pairs: SparseHistogram): void {
    for (const [index, count] of pairs) {
      if (index < 0 || index >= this.counts.length) continue;
      this.counts[index] += count;
      this.total += count;
    }
  }

  /** Latency (µs) at quantile q in [0, 1]; 0 when empty. */
  quantileUs(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return highestEquivalentUs(i);
    }
    return highestEquivalentUs(this.counts.length - 1);
  }

  maxUs(): number {
    for (let i = this.counts.length - 1; i >= 0; i--) if (this.counts[i] > 0) return highestEquivalentUs(i);
    return 0;
  }

  meanUs(): number {
    if (this.total === 0) return 0;
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      if (this.counts[i] === 0) continue;
      sum += this.counts[i] * (histogramBucketLowerUs(i) + histogramBucketUpperUs(i) - 1) / 2;
    }
    return sum / this.total;
  }

  toSparse(): SparseHistogram {
    const pairs: SparseHistogram = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i] > 0) pairs.push([i, this.counts[i]]);
    return pairs;
  }
}

function highestEquivalentUs(index: number): number {
  return histogramBucketUpperUs(index) - 1;
}

export const HISTOGRAM_LAYOUT_DESCRIPTION =
  'HDR-style log-linear latency buckets in microseconds: indexes 0..63 hold exactly 0..63 µs; ' +
  'above that each power of two [2^e, 2^(e+1)) for e = 6..26 is split into 32 equal sub-buckets, ' +
  'index = 64 + (e-6)*32 + ((v >> (e-5)) & 31); values >= 2^27 µs fall into the last bucket. ' +
  'counts are [index, count] pairs for non-empty buckets.';
