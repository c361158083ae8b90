/**
 * Coarse latency rows for the heatmap: the 736 fine HDR buckets of the contract's
 * HISTOGRAM_LAYOUT grouped into ROWS_PER_OCTAVE rows per power of two, on a log scale.
 *
 * Row key r covers [2^(r/4), 2^((r+1)/4)) µs by each bucket's lower bound; keys no bucket
 * falls into (possible below 8 µs, where buckets are 1 µs wide) are skipped, so low rows
 * are simply wider. Bucket 0 (< 1 µs) gets a row of its own. Pure, no DOM.
 */
import { HISTOGRAM_LAYOUT, histogramBucketLowerUs, histogramBucketUpperUs, type SparseHistogram } from '../../../electron/contract';

export const ROWS_PER_OCTAVE = 4;

export interface LatencyRow {
  /** Position in LATENCY_ROWS.rows (the heatmap's y index before range cropping). */
  index: number;
  /** floor(ROWS_PER_OCTAVE · log2(lowerUs)); -1 for the sub-microsecond row. */
  key: number;
  /** True when the row starts a power of two (1, 2, 4 … µs): these rows carry axis labels. */
  octaveStart: boolean;
  lowerUs: number;
  upperUs: number;
  firstBucket: number;
  lastBucket: number;
}

export interface LatencyRowLayout {
  rows: LatencyRow[];
  /** Fine bucket index → row index. */
  bucketToRow: Int16Array;
}

function rowKeyOf(lowerUs: number): number {
  if (lowerUs < 1) return -1;
  // The epsilon keeps exact powers of two (log2 is exact for them anyway) on their own row.
  return Math.floor(ROWS_PER_OCTAVE * Math.log2(lowerUs) + 1e-9);
}

export function buildLatencyRows(): LatencyRowLayout {
  const n = HISTOGRAM_LAYOUT.bucketCount;
  const bucketToRow = new Int16Array(n);
  const rows: LatencyRow[] = [];
  let current: LatencyRow | undefined;
  for (let b = 0; b < n; b++) {
    const lower = histogramBucketLowerUs(b);
    const key = rowKeyOf(lower);
    if (!current || current.key !== key) {
      current = {
        index: rows.length,
        key,
        octaveStart: key >= 0 && key % ROWS_PER_OCTAVE === 0 && lower === 2 ** (key / ROWS_PER_OCTAVE),
        lowerUs: lower,
        upperUs: histogramBucketUpperUs(b),
        firstBucket: b,
        lastBucket: b,
      };
      rows.push(current);
    } else {
      current.lastBucket = b;
      current.upperUs = histogramBucketUpperUs(b);
    }
    bucketToRow[b] = current.index;
  }
  return { rows, bucketToRow };
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
  return {
    cells,
    minRow: cells.length ? cells[0]![0] : -1,
    maxRow: cells.length ? cells[cells.length - 1]![0] : -1,
    total,
  };
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
  const { marginRows = 1, minOctaves = 2, emptyFromUs = 8, emptyToUs = 1024 } = opts;
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
  const spanOctaves = () => Math.log2(rows[to]!.upperUs / Math.max(rows[from]!.lowerUs, 1));
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
  if (!(us >= 1)) return '<1 µs';
  if (us < 1000) return `${Math.round(us)} µs`;
  const [v, unit] = us < 1_000_000 ? [us / 1000, 'ms'] : [us / 1_000_000, 's'];
  const digits = v < 10 ? 1 : v < 100 ? 2 : 3;
  return `${Number(v.toPrecision(digits))} ${unit}`;
}
