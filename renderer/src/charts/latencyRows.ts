/**
 * Coarse latency rows for the heatmaps: the fine log-linear buckets of a histogram layout (the
 * client's HISTOGRAM_LAYOUT in µs, the probes' KERNEL_HISTOGRAM_LAYOUT in ns) grouped into
 * ROWS_PER_OCTAVE rows per power of two, on a log scale. Rows are kept in microseconds for both
 * layouts (a kernel row of 250 ns is 0.25 µs), so every heatmap, axis and readout shares one unit.
 *
 * Row key r covers [2^(r/4), 2^((r+1)/4)) µs by each bucket's lower bound; keys no bucket
 * falls into (where buckets are one unit wide) are skipped, so low rows are simply wider.
 * Buckets below the layout's resolution (< 1 µs for the client, < 1 ns for the kernel) get a
 * row of their own. Pure, no DOM.
 */
import { HISTOGRAM_LAYOUT, histogramBucketLowerUs, histogramBucketUpperUs, type SparseHistogram } from '../../../electron/contract';

export const ROWS_PER_OCTAVE = 4;

export interface LatencyRow {
  /** Position in the layout's rows (the heatmap's y index before range cropping). */
  index: number;
  /** floor(ROWS_PER_OCTAVE · log2(lower bound in the layout's unit)); -1 for the row below the layout's resolution. */
  key: number;
  /** True when the row starts a power of two (1, 2, 4 … µs; 64, 128 … ns): these rows carry axis labels. */
  octaveStart: boolean;
  lowerUs: number;
  upperUs: number;
  firstBucket: number;
  lastBucket: number;
  /** Axis label of the row's lower bound: "250 ns", "16 µs", "4 ms"; "<1 µs" for the row below the resolution. */
  label: string;
}

export interface LatencyRowLayout {
  rows: LatencyRow[];
  /** Fine bucket index → row index. */
  bucketToRow: Int16Array;
  /** The layout's resolution (µs): the row below it spans nothing on a log scale. */
  resolutionUs: number;
  /** The fine buckets' bounds (for the percentile lines). */
  scale: BucketScale;
  /** Row range shown before any sample arrives (µs). */
  emptyFromUs: number;
  emptyToUs: number;
}

/** A histogram layout as the rows need it: its bucket count and each bucket's bounds in µs. */
export interface BucketScale {
  bucketCount: number;
  lowerUs(bucket: number): number;
  upperUs(bucket: number): number;
  /** The smallest non-zero value the layout resolves (1 µs; 0.001 µs = 1 ns for the kernel layout). */
  resolutionUs: number;
}

export const CLIENT_BUCKET_SCALE: BucketScale = {
  bucketCount: HISTOGRAM_LAYOUT.bucketCount,
  lowerUs: histogramBucketLowerUs,
  upperUs: histogramBucketUpperUs,
  resolutionUs: 1,
};

/**
 * Row key of a bucket's lower bound: quarter octaves counted in the layout's own unit (µs for
 * the client, ns for the kernel), so octave rows start where the layout's power-of-two bucket
 * groups start (64 ns, 128 ns … for the kernel; 1, 2, 4 µs … for the client).
 */
function rowKeyOf(lowerUs: number, resolutionUs: number): number {
  if (lowerUs < resolutionUs) return -1;
  // The epsilon keeps exact powers of two (log2 is exact for them anyway) on their own row.
  return Math.floor(ROWS_PER_OCTAVE * Math.log2(lowerUs / resolutionUs) + 1e-9);
}

export function buildLatencyRows(scale: BucketScale = CLIENT_BUCKET_SCALE, empty: { fromUs: number; toUs: number } = { fromUs: 8, toUs: 1024 }): LatencyRowLayout {
  const n = scale.bucketCount;
  const bucketToRow = new Int16Array(n);
  const rows: LatencyRow[] = [];
  let current: LatencyRow | undefined;
  for (let b = 0; b < n; b++) {
    const lower = scale.lowerUs(b);
    const key = rowKeyOf(lower, scale.resolutionUs);
    if (!current || current.key !== key) {
      const belowResolution = lower < scale.resolutionUs;
      current = {
        index: rows.length,
        key,
        octaveStart: !belowResolution && key % ROWS_PER_OCTAVE === 0 && Math.abs(lower / scale.resolutionUs - 2 ** (key / ROWS_PER_OCTAVE)) < 1e-6,
        lowerUs: lower,
        upperUs: scale.upperUs(b),
        firstBucket: b,
        lastBucket: b,
        label: belowResolution ? `<${rowAxisLabel(scale.resolutionUs)}` : rowAxisLabel(lower),
      };
      rows.push(current);
    } else {
      current.lastBucket = b;
      current.upperUs = scale.upperUs(b);
    }
    bucketToRow[b] = current.index;
  }
  return { rows, bucketToRow, resolutionUs: scale.resolutionUs, scale, emptyFromUs: empty.fromUs, emptyToUs: empty.toUs };
}

export const LATENCY_ROWS: LatencyRowLayout = buildLatencyRows();

/** One frame's histogram folded into coarse rows. */
export interface CoarseColumn {
  /** [rowIndex, count] pairs, ascending by row, count > 0. */
  cells: Array<[number, number]>;
  /** Lowest / highest non-zero row, -1 when the frame has no samples. */
  minRow: number;
  maxRow: number;
  total: number;
  /** The largest cell count. */
  maxCount: number;
  /** The percentiles of COLUMN_QUANTILES (µs, the highest value of their fine bucket, as the
   *  summary reports them); NaN when the frame has no samples. */
  quantilesUs: number[];
  /** The same as positions on the row axis (rowPosition: row index + fraction), NaN without samples. */
  quantileRows: number[];
}

/** The percentile lines drawn over the heatmaps: p50, p99, p99.9. */
export const COLUMN_QUANTILES = [0.5, 0.99, 0.999] as const;

/**
 * Quantiles `qs` (ascending) of a sparse histogram as the highest value of their fine bucket
 * (µs), by the rank rule of the contract's LatencyHistogram (rank ⌈q·N⌉, at least 1); one pass.
 */
export function sparseQuantilesUs(histogram: SparseHistogram, qs: readonly number[], scale: BucketScale): number[] {
  let total = 0;
  for (const [, count] of histogram) if (count > 0) total += count;
  const out = new Array<number>(qs.length).fill(NaN);
  if (total === 0) return out;
  let k = 0;
  let seen = 0;
  const last = scale.bucketCount - 1;
  for (const [bucket, count] of histogram) {
    if (!(count > 0)) continue;
    seen += count;
    const b = Math.min(Math.max(bucket, 0), last);
    while (k < qs.length && seen >= Math.max(1, Math.ceil(qs[k]! * total))) {
      out[k++] = scale.upperUs(b) - scale.resolutionUs;
    }
    if (k === qs.length) break;
  }
  return out;
}

export function toCoarseColumn(histogram: SparseHistogram, layout: LatencyRowLayout = LATENCY_ROWS): CoarseColumn {
  const cells: Array<[number, number]> = [];
  let total = 0;
  const last = layout.bucketToRow.length - 1;
  for (const [bucket, count] of histogram) {
    if (count <= 0) continue;
    const row = layout.bucketToRow[Math.min(Math.max(bucket, 0), last)] ?? 0;
    const tail = cells[cells.length - 1];
    if (tail && tail[0] === row) tail[1] += count;
    else if (tail && tail[0] > row) {
      // Input should be ascending; tolerate disorder rather than draw a wrong cell.
      const existing = cells.find((c) => c[0] === row);
      if (existing) existing[1] += count;
      else {
        cells.push([row, count]);
        cells.sort((a, b) => a[0] - b[0]);
      }
    } else cells.push([row, count]);
    total += count;
  }
  // Folded once per frame on arrival: every redraw of the 60 s window reuses these.
  const quantilesUs = sparseQuantilesUs(histogram, COLUMN_QUANTILES, layout.scale);
  return {
    cells,
    minRow: cells.length ? cells[0]![0] : -1,
    maxRow: cells.length ? cells[cells.length - 1]![0] : -1,
    total,
    maxCount: cells.reduce((m, c) => Math.max(m, c[1]), 0),
    quantilesUs,
    quantileRows: quantilesUs.map((us) => (Number.isFinite(us) ? rowPosition(us, layout) : NaN)),
  };
}

/**
 * Where `us` sits on the row axis, in rows (0 = bottom of row 0): the row holding it plus the
 * log-scale fraction within that row, so a percentile line runs through the cells it describes.
 */
export function rowPosition(us: number, layout: LatencyRowLayout = LATENCY_ROWS): number {
  const r = rowOfUs(us, layout);
  const row = layout.rows[r]!;
  const lo = Math.max(row.lowerUs, layout.resolutionUs / 2);
  if (!(us > lo) || !(row.upperUs > lo)) return r;
  return r + Math.min(1, Math.log(us / lo) / Math.log(row.upperUs / lo));
}

/** Index of the row whose range holds `us`. */
export function rowOfUs(us: number, layout: LatencyRowLayout = LATENCY_ROWS): number {
  const rows = layout.rows;
  let lo = 0;
  let hi = rows.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (rows[mid]!.lowerUs <= us) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The row range to draw: the observed rows plus `marginRows` on each side, widened to whole
 * octaves and to at least `minOctaves`, so the axis only moves when the data crosses an octave.
 * With no data it shows `emptyFromUs`…`emptyToUs`.
 */
export function visibleRowRange(
  minRow: number,
  maxRow: number,
  opts: { marginRows?: number; minOctaves?: number; emptyFromUs?: number; emptyToUs?: number } = {},
  layout: LatencyRowLayout = LATENCY_ROWS,
): { from: number; to: number } {
  const { marginRows = 1, minOctaves = 2, emptyFromUs = layout.emptyFromUs, emptyToUs = layout.emptyToUs } = opts;
  const rows = layout.rows;
  const lastIndex = rows.length - 1;
  if (minRow < 0 || maxRow < 0) {
    return { from: rowOfUs(emptyFromUs, layout), to: Math.max(rowOfUs(emptyFromUs, layout), rowOfUs(emptyToUs, layout) - 1) };
  }
  let from = Math.max(0, minRow - marginRows);
  let to = Math.min(lastIndex, maxRow + marginRows);
  // Snap outwards to octave boundaries.
  while (from > 0 && !rows[from]!.octaveStart) from--;
  while (to < lastIndex && !rows[to + 1]!.octaveStart) to++;
  // Enforce a minimum span, growing upwards first (latency tails grow up), then downwards.
  const spanOctaves = () => Math.log2(rows[to]!.upperUs / Math.max(rows[from]!.lowerUs, layout.resolutionUs));
  while (spanOctaves() < minOctaves - 1e-9 && (to < lastIndex || from > 0)) {
    if (to < lastIndex) {
      to++;
      while (to < lastIndex && !rows[to + 1]!.octaveStart) to++;
    } else {
      from--;
      while (from > 0 && !rows[from]!.octaveStart) from--;
    }
  }
  return { from, to };
}

/**
 * Label for a latency row (its lower bound in µs): octave rows are labelled the way people
 * say them, 1 ms, 4 ms, 16 ms, 1 s. The heatmap's rows and the percentile plot's latency
 * axis both use it, so the two latency views read alike.
 */
export function rowAxisLabel(value: string | number): string {
  const us = Number(value);
  if (!(us > 0)) return '<1 µs';
  // Kernel rows reach below a microsecond (the ns layout is 1 ns wide there).
  if (us < 1) return `${Math.round(us * 1000)} ns`;
  // Powers of two of another unit read as people say them: 1.024 µs → "1 µs", 32.77 ms → "33 ms".
  const [v, unit] = us < 1000 ? [us, 'µs'] : us < 1_000_000 ? [us / 1000, 'ms'] : [us / 1_000_000, 's'];
  const digits = v < 10 ? 1 : v < 100 ? 2 : 3;
  return `${Number(v.toPrecision(digits))} ${unit}`;
}
