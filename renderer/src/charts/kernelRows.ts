/**
 * The rows of the two kernel heatmaps (io_uring in-kernel latency, run-queue latency). Their
 * histograms use the contract's KERNEL_HISTOGRAM_LAYOUT (nanoseconds: 0..63 ns one bucket each,
 * then 32 sub-buckets per power of two up to [2^36, 2^37) ns). The rows are kept in µs like
 * the client's (a 250 ns row is 0.25 µs), so one axis labeller and one readout format serve all
 * three heatmaps. Pure, no DOM.
 */
import { KERNEL_HISTOGRAM_LAYOUT, kernelBucketLowerNs, kernelBucketUpperNs } from '../../../electron/contract';
import { buildLatencyRows, type BucketScale, type LatencyRowLayout } from './latencyRows';

export const KERNEL_BUCKET_SCALE: BucketScale = {
  bucketCount: KERNEL_HISTOGRAM_LAYOUT.bucketCount,
  lowerUs: (b) => kernelBucketLowerNs(b) / 1000,
  upperUs: (b) => kernelBucketUpperNs(b) / 1000,
  resolutionUs: 0.001,
};

/** Rows of the kernel heatmaps; before any sample they show 256 ns … 64 µs. */
export const KERNEL_LATENCY_ROWS: LatencyRowLayout = buildLatencyRows(KERNEL_BUCKET_SCALE, { fromUs: 0.256, toUs: 64 });
