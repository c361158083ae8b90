/**
 * The latency histogram every part of the lab shares: its log-linear layout (native/src/core
 * records into it, test/native pins that both agree) and the percentile maths the host's
 * summaries and the renderer's live per-phase numbers both use.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------
// Latency histogram layout (shared with native/src/latency_histogram.c, which must agree;
// test/native pins that they do).
//
// HDR-style log-linear buckets over microseconds:
//   - values 0..63 µs each have their own bucket (index = value);
//   - above that every power of two [2^e, 2^(e+1)) is split into 32 equal sub-buckets,
//     so a bucket is at most 1/32 (3.1 %) of its value wide;
//   - values at or above 2^27 µs (~134 s) land in the last bucket.
// ---------------------------------------------------------------------------------------
export const HISTOGRAM_LAYOUT = {
  unit: 'us',
  subBucketBits: 5,
  linearBuckets: 64,
  maxExponent: 26,
  bucketCount: 64 + (26 - 6 + 1) * 32, // 736
} as const;

/** Lower bound (inclusive, µs) of bucket `index`. */
export function histogramBucketLowerUs(index: number): number {
  const { linearBuckets, subBucketBits } = HISTOGRAM_LAYOUT;
  if (index < linearBuckets) return index;
  const subCount = 1 << subBucketBits;
  const octave = Math.floor((index - linearBuckets) / subCount);
  const sub = (index - linearBuckets) % subCount;
  const exponent = 6 + octave;
  return (subCount + sub) * 2 ** (exponent - subBucketBits);
}

/** Upper bound (exclusive, µs) of bucket `index`. */
export function histogramBucketUpperUs(index: number): number {
  return index + 1 < HISTOGRAM_LAYOUT.bucketCount
    ? histogramBucketLowerUs(index + 1)
    : 2 ** (HISTOGRAM_LAYOUT.maxExponent + 1);
}

/** Sparse histogram: [bucketIndex, count] pairs with count > 0, ascending by index. */
export const SparseHistogramSchema = z.array(z.tuple([z.number().int().min(0), z.number().int().min(0)]));
export type SparseHistogram = z.infer<typeof SparseHistogramSchema>;

/** The highest latency (µs) that falls into bucket `index` (HdrHistogram's convention). */
export function highestEquivalentUs(index: number): number {
  return histogramBucketUpperUs(index) - 1;
}

export const HISTOGRAM_LAYOUT_DESCRIPTION =
  'HDR-style log-linear latency buckets in microseconds: indexes 0..63 hold exactly 0..63 µs; ' +
  'above that each power of two [2^e, 2^(e+1)) for e = 6..26 is split into 32 equal sub-buckets, ' +
  'index = 64 + (e-6)*32 + ((v >> (e-5)) & 31); values >= 2^27 µs fall into the last bucket. ' +
  'counts are [index, count] pairs for non-empty buckets.';

/**
 * Percentiles and merging over the layout above, shared by the host (summaries) and the
 * renderer (live per-phase numbers), so both compute the same number from the same counts.
 * Values are reported as the highest value equivalent to a bucket, so a percentile is never
 * understated: for the 1 µs-wide buckets below 64 µs that is the value itself.
 */
export class LatencyHistogram {
  readonly counts = new Float64Array(HISTOGRAM_LAYOUT.bucketCount);
  total = 0;

  static from(pairs: SparseHistogram): LatencyHistogram {
    const histogram = new LatencyHistogram();
    histogram.add(pairs);
    return histogram;
  }

  add(pairs: SparseHistogram): void {
    const last = this.counts.length - 1;
    for (const [index, count] of pairs) {
      if (!(count > 0)) continue;
      // An out-of-range index is a producer's bug; clamping keeps the count (and the total) honest.
      this.counts[Math.min(Math.max(index, 0), last)]! += count;
      this.total += count;
    }
  }

  /** Latency (µs) at quantile q in [0, 1]; 0 when empty. */
  quantileUs(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return highestEquivalentUs(i);
    }
    return highestEquivalentUs(this.counts.length - 1);
  }

  maxUs(): number {
    for (let i = this.counts.length - 1; i >= 0; i--) if (this.counts[i]! > 0) return highestEquivalentUs(i);
    return 0;
  }

  /** Mean (µs), each bucket counted at its midpoint. */
  meanUs(): number {
    if (this.total === 0) return 0;
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      if (c > 0) sum += (c * (histogramBucketLowerUs(i) + histogramBucketUpperUs(i) - 1)) / 2;
    }
    return sum / this.total;
  }

  toSparse(): SparseHistogram {
    const pairs: SparseHistogram = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]! > 0) pairs.push([i, this.counts[i]!]);
    return pairs;
  }
}



// ---------------------------------------------------------------------------------------
// Kernel time histograms (eBPF probes): the same log-linear scheme in NANOSECONDS over a
// longer range, shared with native/src/probes (which must agree; test/unit/kernelHistogram
// pins that they do). Values >= 2^37 ns (~137 s) land in the last bucket.
// ---------------------------------------------------------------------------------------

/** A log-linear layout: `linearBuckets` exact buckets, then 2^subBucketBits per octave up to 2^(maxExponent+1). */
export interface LogLinearLayout {
  readonly subBucketBits: number;
  readonly linearBuckets: number;
  readonly maxExponent: number;
  readonly bucketCount: number;
}

export const KERNEL_HISTOGRAM_LAYOUT = {
  unit: 'ns',
  subBucketBits: 5,
  linearBuckets: 64,
  maxExponent: 36,
  bucketCount: 64 + (36 - 6 + 1) * 32, // 1056
} as const;

export const KERNEL_HISTOGRAM_LAYOUT_DESCRIPTION =
  'HDR-style log-linear buckets in nanoseconds: indexes 0..63 hold exactly 0..63 ns; above that each ' +
  'power of two [2^e, 2^(e+1)) for e = 6..36 is split into 32 equal sub-buckets, index = 64 + (e-6)*32 + ' +
  '((v >> (e-5)) & 31); values >= 2^37 ns fall into the last bucket. counts are [index, count] pairs.';

/** Bucket index of `value` (same unit as the layout) in `layout`. */
export function logLinearIndex(layout: LogLinearLayout, value: number): number {
  const v = Math.max(0, Math.floor(value));
  if (v < layout.linearBuckets) return v;
  if (v >= 2 ** (layout.maxExponent + 1)) return layout.bucketCount - 1;
  const exponent = Math.floor(Math.log2(v));
  // log2 of a double can round up just below a power of two: correct it with exact compares.
  const e = 2 ** exponent > v ? exponent - 1 : 2 ** (exponent + 1) <= v ? exponent + 1 : exponent;
  const linearBits = Math.log2(layout.linearBuckets);
  const subCount = 2 ** layout.subBucketBits;
  const sub = Math.floor(v / 2 ** (e - layout.subBucketBits)) % subCount;
  return layout.linearBuckets + (e - linearBits) * subCount + sub;
}

/** Lower bound (inclusive) of bucket `index` of `layout`. */
export function logLinearLower(layout: LogLinearLayout, index: number): number {
  if (index < layout.linearBuckets) return index;
  const subCount = 2 ** layout.subBucketBits;
  const octave = Math.floor((index - layout.linearBuckets) / subCount);
  const sub = (index - layout.linearBuckets) % subCount;
  const exponent = Math.log2(layout.linearBuckets) + octave;
  return (subCount + sub) * 2 ** (exponent - layout.subBucketBits);
}

/** Upper bound (exclusive) of bucket `index` of `layout`. */
export function logLinearUpper(layout: LogLinearLayout, index: number): number {
  return index + 1 < layout.bucketCount ? logLinearLower(layout, index + 1) : 2 ** (layout.maxExponent + 1);
}

/** Lower bound (inclusive, ns) of kernel histogram bucket `index`. */
export function kernelBucketLowerNs(index: number): number {
  return logLinearLower(KERNEL_HISTOGRAM_LAYOUT, index);
}

/** Upper bound (exclusive, ns) of kernel histogram bucket `index`. */
export function kernelBucketUpperNs(index: number): number {
  return logLinearUpper(KERNEL_HISTOGRAM_LAYOUT, index);
}

/** Kernel histogram bucket of a time in ns (the native probes' formula). */
export function kernelBucketIndex(ns: number): number {
  return logLinearIndex(KERNEL_HISTOGRAM_LAYOUT, ns);
}
