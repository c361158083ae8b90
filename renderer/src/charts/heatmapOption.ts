/**
 * Latency heatmap options: one column per frame, one row per quarter octave of latency (log
 * scale), colour = requests in that cell on a log scale. Only the rows around the observed
 * latencies are drawn (octave-aligned, see visibleRowRange).
 *
 * ECharts draws the frame of the chart (category axes, colour legend via visualMap, phase
 * lines); the cells themselves are painted into one bitmap shown as a `graphic` image in the
 * grid (useLatencyHeatmap.ts), because a heatmap series makes one canvas element per cell and
 * 60 s × ~15 rows (~10k cells) redrawn at 10 Hz costs hundreds of ms per frame. The colours
 * are the visualMap's (same palette, same linear interpolation), so the legend stays true.
 *
 * The option builders and the rasteriser are pure (unit tested).
 */
import type { Phase } from '../../../electron/contract';
import { formatCompact } from '../format/numbers';
import { LATENCY_ROWS, rowAxisLabel, visibleRowRange, type CoarseColumn, type LatencyRowLayout } from './latencyRows';
import { CHART } from './theme';

export interface HeatmapColumnInput {
  frame: { tMs: number; phase: number; seq: number };
  column: CoarseColumn;
}

/** Grid margins (px) inside the chart element; the cell bitmap fills the rest. */
export const HEATMAP_GRID = { left: CHART.gridLeft, right: CHART.gridRight, top: 14, bottom: 26 } as const;

// ---- colour --------------------------------------------------------------------------

function parseHex(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** `steps` CSS colours linearly interpolated (in RGB, like visualMap) through `palette`. */
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

const RAMP = buildColorRamp(CHART.heat);

/** Colour of a cell whose colour value (log10 count) is `v` on a scale 0…`max`. */
export function heatColor(v: number, max: number, ramp: readonly string[] = RAMP): string {
  const t = max > 0 ? Math.min(1, Math.max(0, v / max)) : 0;
  return ramp[Math.round(t * (ramp.length - 1))]!;
}

// ---- option --------------------------------------------------------------------------

export function heatmapBaseOption(): Record<string, unknown> {
  const octaveStarts = new Set(LATENCY_ROWS.rows.filter((r) => r.octaveStart || r.key < 0).map((r) => String(r.lowerUs)));
  const showRowLabel = (_index: number, value: string) => octaveStarts.has(String(value));
  return {
    animation: false,
    backgroundColor: 'transparent',
    textStyle: { fontFamily: 'inherit' },
    grid: { ...HEATMAP_GRID, outerBoundsMode: 'none' },
    xAxis: {
      type: 'category',
      data: [],
      axisLine: { lineStyle: { color: CHART.axisLine } },
      axisTick: { show: false },
      splitLine: { show: false },
      axisLabel: { color: CHART.text, fontFamily: CHART.sans, fontSize: 11, formatter: (v: string) => `${v} s`, hideOverlap: true },
    },
    yAxis: {
      type: 'category',
      data: [],
      name: 'latency',
      nameGap: 6,
      nameTextStyle: { color: CHART.text, fontSize: 11, align: 'right' },
      axisLine: { lineStyle: { color: CHART.axisLine } },
      axisTick: { interval: showRowLabel, lineStyle: { color: CHART.axisLine } },
      splitLine: { show: true, interval: showRowLabel, lineStyle: { color: CHART.splitLine } },
      axisLabel: { color: CHART.text, fontFamily: CHART.sans, fontSize: 11, interval: showRowLabel, formatter: rowAxisLabel },
    },
    visualMap: {
      type: 'continuous',
      dimension: 2,
      min: 0,
      max: 1,
      calculable: false,
      realtime: false,
      hoverLink: false,
      orient: 'vertical',
      right: 6,
      top: HEATMAP_GRID.top,
      itemWidth: 9,
      itemHeight: 150,
      text: ['', ''],
      textGap: 5,
      textStyle: { color: CHART.text, fontSize: 10, fontFamily: CHART.sans },
      inRange: { color: [...CHART.heat] },
    },
    graphic: { elements: [] },
    series: [
      {
        // Carries the visualMap and the phase lines; the cells are the graphic image.
        id: 'heat',
        type: 'heatmap',
        data: [],
        silent: true,
        markLine: { silent: true, symbol: 'none', label: { show: false }, z: 10, data: [] },
      },
    ],
  };
}

/** A drawn cell: column, row (0 = lowest visible row), log10(count), count. */
export type HeatCell = [number, number, number, number];

export interface HeatmapUpdate {
  option: Record<string, unknown>;
  cells: HeatCell[];
  /** Columns (= frames) and rows drawn. */
  frames: number;
  rows: number;
  /** Top of the colour scale, log10(count). */
  maxLog: number;
  /** Largest cell count. */
  maxCount: number;
  /** Row range drawn (indices into layout.rows, inclusive). */
  fromRow: number;
  toRow: number;
  xLabels: string[];
  layout: LatencyRowLayout;
}

/** The per-redraw option (categories, colour range, phase lines) and the cells to paint. */
export function buildHeatmapUpdate(
  columns: readonly HeatmapColumnInput[],
  phases: readonly Phase[] = [],
  layout: LatencyRowLayout = LATENCY_ROWS,
): HeatmapUpdate {
  let minRow = Infinity;
  let maxRow = -Infinity;
  let maxCount = 0;
  for (const { column } of columns) {
    if (column.minRow < 0) continue;
    if (column.minRow < minRow) minRow = column.minRow;
    if (column.maxRow > maxRow) maxRow = column.maxRow;
    for (const cell of column.cells) if (cell[1] > maxCount) maxCount = cell[1];
  }
  const range = Number.isFinite(minRow) ? visibleRowRange(minRow, maxRow, {}, layout) : visibleRowRange(-1, -1, {}, layout);

  const yLabels: string[] = [];
  for (let r = range.from; r <= range.to; r++) yLabels.push(String(layout.rows[r]!.lowerUs));
  const xLabels = columns.map((c) => (c.frame.tMs / 1000).toFixed(1));

  const cells: HeatCell[] = [];
  for (let x = 0; x < columns.length; x++) {
    for (const [row, count] of columns[x]!.column.cells) {
      if (row < range.from || row > range.to || count <= 0) continue;
      cells.push([x, row - range.from, Math.log10(count), count]);
    }
  }
  const maxLog = Math.max(1, Math.log10(Math.max(1, maxCount)));

  // A line where each later phase's first column starts.
  const phaseIndexes = new Set(phases.filter((p) => p.index > 0).map((p) => p.index));
  const lines: Array<{ xAxis: number; lineStyle: Record<string, unknown> }> = [];
  for (let x = 1; x < columns.length; x++) {
    const ph = columns[x]!.frame.phase;
    if (ph !== columns[x - 1]!.frame.phase && (phaseIndexes.size === 0 || phaseIndexes.has(ph))) {
      lines.push({ xAxis: x, lineStyle: { color: CHART.phase, type: 'dashed', width: 1 } });
    }
  }

  return {
    cells,
    frames: columns.length,
    rows: yLabels.length,
    maxLog,
    maxCount,
    fromRow: range.from,
    toRow: range.to,
    xLabels,
    layout,
    option: {
      xAxis: { data: xLabels },
      yAxis: { data: yLabels },
      visualMap: { max: maxLog, text: [formatCompact(Math.max(10, maxCount)), '1'] },
      series: [{ id: 'heat', markLine: { data: lines } }],
    },
  };
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

const RAMP_RGBA = rampToRgba(RAMP);

/**
 * The cells as an RGBA bitmap of frames × rows pixels, one pixel per cell, top row = highest
 * latency (ImageData layout); empty cells stay transparent. Scaled up without smoothing it
 * is the heatmap.
 */
export function rasterizeHeatmap(
  update: Pick<HeatmapUpdate, 'cells' | 'frames' | 'rows' | 'maxLog'>,
  rampRgba: Uint8ClampedArray = RAMP_RGBA,
): Uint8ClampedArray<ArrayBuffer> {
  const { frames, rows, maxLog } = update;
  const px = new Uint8ClampedArray(Math.max(0, frames * rows * 4));
  const steps = rampRgba.length / 4;
  for (const [x, y, v] of update.cells) {
    if (x < 0 || x >= frames || y < 0 || y >= rows) continue;
    const t = maxLog > 0 ? Math.min(1, Math.max(0, v / maxLog)) : 0;
    const c = Math.round(t * (steps - 1)) * 4;
    const o = ((rows - 1 - y) * frames + x) * 4;
    px[o] = rampRgba[c]!;
    px[o + 1] = rampRgba[c + 1]!;
    px[o + 2] = rampRgba[c + 2]!;
    px[o + 3] = 255;
  }
  return px;
}

/** The cell under a point of the grid (CSS px relative to the grid's top-left), for the tooltip. */
export function cellAt(
  update: Pick<HeatmapUpdate, 'cells' | 'frames' | 'rows' | 'fromRow' | 'xLabels' | 'layout'>,
  px: number,
  py: number,
  width: number,
  height: number,
): { t: string; lowerUs: number; upperUs: number; count: number } | null {
  if (px < 0 || py < 0 || px >= width || py >= height || !update.frames || !update.rows) return null;
  const x = Math.floor((px / width) * update.frames);
  const y = update.rows - 1 - Math.floor((py / height) * update.rows);
  const row = update.layout.rows[update.fromRow + y];
  if (!row) return null;
  let count = 0;
  for (const c of update.cells) {
    if (c[0] === x && c[1] === y) {
      count = c[3];
      break;
    }
    if (c[0] > x) break;
  }
  return { t: update.xLabels[x] ?? '', lowerUs: row.lowerUs, upperUs: row.upperUs, count };
}
