/**
 * Latency heatmap model: one column per frame, one row per quarter octave of latency (log
 * scale), colour = requests in that cell on a log scale; only the rows around the observed
 * latencies (octave-aligned, see visibleRowRange). The same model serves the client heatmap
 * (µs layout) and the two kernel heatmaps (ns layout, rows in µs).
 *
 * heatmapPainter.ts paints it on a plain canvas: the cells as one bitmap (one pixel per cell,
 * scaled up without smoothing), axes, phase lines and percentile lines drawn directly. A chart
 * library's heatmap series makes one element per cell (60 s × ~15 rows ≈ 10k cells) and even
 * a merged option update re-lays out its category axes every frame; painting the bitmap costs
 * well under a millisecond. Pure, no DOM (unit tested).
 */
import { LATENCY_ROWS, visibleRowRange, type CoarseColumn, type LatencyRowLayout } from './latencyRows';
import { CHART } from './theme';

export interface HeatmapColumnInput {
  frame: { tMs: number; intervalMs: number; phase: number };
  /** The frame's histogram folded into rows; null when the frame has none (no probe data). */
  column: CoarseColumn | null;
}

// ---- colour --------------------------------------------------------------------------

function parseHex(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** `steps` CSS colours linearly interpolated (in RGB) through `palette`. */
export function buildColorRamp(palette: readonly string[], steps = 256): string[] {
  const stops = palette.map(parseHex);
  const out: string[] = new Array(steps);
  for (let i = 0; i < steps; i++) {
    const t = steps === 1 ? 0 : (i / (steps - 1)) * (stops.length - 1);
    const k = Math.min(Math.floor(t), stops.length - 2);
    const f = t - k;
    const a = stops[k]!;
    const b = stops[k + 1] ?? a;
    const c = [0, 1, 2].map((j) => Math.round(a[j]! + (b[j]! - a[j]!) * f));
    out[i] = `rgb(${c[0]},${c[1]},${c[2]})`;
  }
  return out;
}

export const HEAT_RAMP = buildColorRamp(CHART.heat);

/** Colour of a cell whose colour value (log10 count) is `v` on a scale 0…`max`. */
export function heatColor(v: number, max: number, ramp: readonly string[] = HEAT_RAMP): string {
  const t = max > 0 ? Math.min(1, Math.max(0, v / max)) : 0;
  return ramp[Math.round(t * (ramp.length - 1))]!;
}

/** `ramp` (CSS rgb() strings from buildColorRamp) as packed RGBA bytes. */
export function rampToRgba(ramp: readonly string[]): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(ramp.length * 4);
  ramp.forEach((css, i) => {
    const m = /rgb\((\d+),(\d+),(\d+)\)/.exec(css);
    out.set([Number(m?.[1] ?? 0), Number(m?.[2] ?? 0), Number(m?.[3] ?? 0), 255], i * 4);
  });
  return out;
}

export const HEAT_RAMP_RGBA = rampToRgba(HEAT_RAMP);

/** WCAG 2 relative luminance of an sRGB colour ('#rrggbb' or 'rgb(r,g,b)'). */
export function relativeLuminance(color: string): number {
  const m = /rgb\((\d+),\s*(\d+),\s*(\d+)\)/.exec(color);
  const rgb = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : parseHex(color);
  const [r, g, b] = rgb.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/** WCAG 2 contrast ratio of two colours (1…21). */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [relativeLuminance(a), relativeLuminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

// ---- model ---------------------------------------------------------------------------

export interface HeatmapModel {
  /** Each column's folded histogram (null: the frame had none); cells are read from these, never copied. */
  columns: readonly (CoarseColumn | null)[];
  /** Columns (= frames) and rows drawn. */
  frames: number;
  rows: number;
  /** Non-empty cells inside the drawn range. */
  cellCount: number;
  /** Top of the colour scale, log10(count): the data's, or the held one. */
  maxLog: number;
  /** Largest cell count in the window. */
  maxCount: number;
  /** Row range drawn (indices into layout.rows, inclusive). */
  fromRow: number;
  toRow: number;
  /** Frame end times (s), one per column. */
  times: number[];
  /** Percentile lines (COLUMN_QUANTILES: p50, p99, p99.9): per column the row position
   *  relative to fromRow (0 = bottom of the drawn range), NaN where the frame had no samples. */
  quantileRows: Float64Array[];
  /** Columns that carried a histogram (kernel heatmaps: frames with probe data). */
  columnsWithData: number;
  layout: LatencyRowLayout;
}

/**
 * The model of `columns`: one pass over the window's folded columns (no per-cell objects: at
 * 10 frames/s three heatmaps redraw 600 columns each). `heldMaxLog`: keep the colour scale at
 * this top (log10 count) instead of the data's, so colours compare across time and
 * screenshots; counts above it saturate.
 */
export function buildHeatmapModel(
  input: readonly HeatmapColumnInput[],
  layout: LatencyRowLayout = LATENCY_ROWS,
  heldMaxLog: number | null = null,
): HeatmapModel {
  let minRow = Infinity;
  let maxRow = -Infinity;
  let maxCount = 0;
  let columnsWithData = 0;
  const columns = new Array<CoarseColumn | null>(input.length);
  const times = new Array<number>(input.length);
  for (let x = 0; x < input.length; x++) {
    const { frame, column } = input[x]!;
    columns[x] = column;
    times[x] = frame.tMs / 1000;
    if (!column) continue;
    columnsWithData++;
    if (column.minRow < 0) continue;
    if (column.minRow < minRow) minRow = column.minRow;
    if (column.maxRow > maxRow) maxRow = column.maxRow;
    if (column.maxCount > maxCount) maxCount = column.maxCount;
  }
  const range = Number.isFinite(minRow) ? visibleRowRange(minRow, maxRow, {}, layout) : visibleRowRange(-1, -1, {}, layout);

  let cellCount = 0;
  const quantileCount = columns.find((c) => c)?.quantileRows.length ?? 0;
  const quantileRows = Array.from({ length: quantileCount }, () => new Float64Array(columns.length).fill(NaN));
  for (let x = 0; x < columns.length; x++) {
    const column = columns[x];
    if (!column) continue;
    // The range spans every column's lowest to highest row: all of a column's cells are drawn.
    cellCount += column.cells.length;
    for (let q = 0; q < quantileCount; q++) quantileRows[q]![x] = column.quantileRows[q]! - range.from;
  }
  const dataMaxLog = colourScaleTop(maxCount);
  return {
    columns,
    frames: columns.length,
    rows: range.to - range.from + 1,
    cellCount,
    maxLog: heldMaxLog != null && heldMaxLog > 0 ? heldMaxLog : dataMaxLog,
    maxCount,
    fromRow: range.from,
    toRow: range.to,
    times,
    quantileRows,
    columnsWithData,
    layout,
  };
}

/**
 * The cells as an RGBA bitmap of frames × rows pixels, one pixel per cell, top row = highest
 * latency (ImageData layout), colour = log10(count) on the 0…maxLog scale; empty cells stay
 * transparent. Written into `out` when it has the right size (the painter reuses one buffer).
 * `stride`: pixels per bitmap row, at least `frames` (the painter keeps room for the whole
 * window, so a growing window adds columns in place); columns past `frames` stay transparent.
 */
export function rasterizeHeatmap(
  model: Pick<HeatmapModel, 'columns' | 'frames' | 'rows' | 'maxLog' | 'fromRow'>,
  rampRgba: Uint8ClampedArray = HEAT_RAMP_RGBA,
  out?: Uint8ClampedArray<ArrayBuffer>,
  stride = model.frames,
): Uint8ClampedArray<ArrayBuffer> {
  const size = Math.max(0, Math.max(stride, model.frames) * model.rows * 4);
  const px = out && out.length === size ? out : new Uint8ClampedArray(size);
  if (px === out) px.fill(0);
  rasterizeColumns(model, px, 0, model.frames, rampRgba, Math.max(stride, model.frames));
  return px;
}

/** Paints columns [from, to) of `model` into `px` (a bitmap `stride` ≥ frames pixels wide and rows high whose pixels there are transparent). */
export function rasterizeColumns(
  model: Pick<HeatmapModel, 'columns' | 'frames' | 'rows' | 'maxLog' | 'fromRow'>,
  px: Uint8ClampedArray,
  from: number,
  to: number,
  rampRgba: Uint8ClampedArray = HEAT_RAMP_RGBA,
  stride = model.frames,
): void {
  const { frames, rows, maxLog, fromRow } = model;
  const last = rampRgba.length / 4 - 1;
  const top = last / (maxLog > 0 ? maxLog : 1);
  for (let x = Math.max(0, from); x < Math.min(frames, to); x++) {
    const column = model.columns[x];
    if (!column) continue;
    for (const [row, count] of column.cells) {
      const y = row - fromRow;
      if (y < 0 || y >= rows || !(count > 0)) continue;
      const c = Math.min(last, Math.max(0, Math.round(Math.log10(count) * top))) * 4;
      const o = ((rows - 1 - y) * stride + x) * 4;
      px[o] = rampRgba[c]!;
      px[o + 1] = rampRgba[c + 1]!;
      px[o + 2] = rampRgba[c + 2]!;
      px[o + 3] = 255;
    }
  }
}

/**
 * Moves the first `frames` columns of a bitmap `stride` (≥ frames) pixels wide and `rows` high
 * `shift` columns to the left (the oldest columns fall off) and clears the `shift` columns
 * freed on the right: a window that slid by `shift` frames is repainted by rasterizing only those.
 */
export function shiftColumnsLeft(px: Uint8ClampedArray, frames: number, rows: number, shift: number, stride = frames): void {
  const used = frames * 4;
  const keep = Math.max(0, frames - shift) * 4;
  for (let r = 0; r < rows; r++) {
    const start = r * stride * 4;
    px.copyWithin(start, start + shift * 4, start + used);
    px.fill(0, start + keep, start + used);
  }
}

/**
 * The colour-scale top for a largest count: log10 rounded up to a twentieth of a decade, so
 * the scale (and with it every cell's colour, which a change repaints) moves only when the
 * largest count changes by about 12 %, not with every frame.
 */
export function colourScaleTop(maxCount: number): number {
  return Math.max(1, Math.ceil(Math.log10(Math.max(1, maxCount)) * 20 - 1e-9) / 20);
}

/** The cell under a point of the plot (CSS px relative to the plot's top-left), for the tooltip. */
export function cellAt(
  model: Pick<HeatmapModel, 'columns' | 'frames' | 'rows' | 'fromRow' | 'times' | 'layout'>,
  px: number,
  py: number,
  width: number,
  height: number,
): { t: number; lowerUs: number; upperUs: number; count: number } | null {
  if (px < 0 || py < 0 || px >= width || py >= height || !model.frames || !model.rows) return null;
  const x = Math.floor((px / width) * model.frames);
  const y = model.rows - 1 - Math.floor((py / height) * model.rows);
  const row = model.layout.rows[model.fromRow + y];
  if (!row) return null;
  let count = 0;
  for (const [r, n] of model.columns[x]?.cells ?? []) {
    if (r === model.fromRow + y) {
      count = n;
      break;
    }
  }
  return { t: model.times[x] ?? 0, lowerUs: row.lowerUs, upperUs: row.upperUs, count };
}
