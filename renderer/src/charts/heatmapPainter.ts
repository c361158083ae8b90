/**
 * Paints a HeatmapModel (heatmapModel.ts) on a 2D canvas: the cells as one bitmap scaled
 * without smoothing, the latency axis (octave labels, thinned to fit), the shared time axis
 * (timeAxis.ts: same window and step as the throughput chart above), phase lines with labels
 * laid out so they never overprint each other or an axis, and the p50 / p99 / p99.9 lines.
 * One full repaint costs well under a millisecond at 60 s × 10 frames/s.
 */
import { phaseLabel } from '../format/knobText';
import type { Phase } from '../../../electron/contract';
import { drawPhaseLines, drawTimeAxis, placeAxisLabels, prepareCanvas, spreadLabels, strokeHairlines, type PlotRect } from './chartCanvas';
import { rasterizeColumns, rasterizeHeatmap, shiftColumnsLeft, type HeatmapModel } from './heatmapModel';
import { CHART } from './theme';
import { timeTicks, type TimeWindow } from './timeAxis';

/** Plot margins (CSS px) inside the canvas: left/right as the throughput chart's grid, so time ticks line up. */
export const HEATMAP_PLOT = { left: CHART.gridLeft, right: CHART.gridRight, top: 6, bottom: 20 } as const;

/** What the percentile lines are called, by index into model.quantileRows. */
export const QUANTILE_NAMES = ['p50', 'p99', 'p99.9'] as const;

/** Percentile line width (CSS px): one device pixel at DPR 1, two at DPR 2. */
const PERCENTILE_LINE_PX = 1;

export interface HeatmapPaintInput {
  model: HeatmapModel;
  window: TimeWindow;
  tickStep: number;
  phases: readonly Phase[];
  /** Which percentile lines to draw (index into model.quantileRows). */
  quantiles: readonly number[];
  /** Columns the window holds once full (the frame buffer's capacity): the cell bitmap keeps
   *  room for them all, so while a run's first minute fills the window each frame adds a column
   *  in place instead of a new, re-rasterized bitmap and cell canvas per frame. */
  capacity?: number;
}

/**
 * A canvas painter with its cell bitmap, `stride` columns wide (room for the whole window).
 * While the window fills, each new frame adds a column: only that one is rasterized; once the
 * 60 s window is full, each new frame slides it by one column: the bitmap is shifted and only
 * the new column rasterized. When the row range or the colour scale changed, all of it is.
 */
export class HeatmapPainter {
  private readonly cellCanvas = document.createElement('canvas');
  private pixels: Uint8ClampedArray<ArrayBuffer> | undefined;
  /** Pixels per bitmap row: columns `pixels` has room for (≥ the model's frames). */
  private stride = 0;
  /** What `pixels` holds: its geometry, scale, its first column and the time of its last. */
  private held: { frames: number; rows: number; fromRow: number; maxLog: number; lastT: number; lastColumn: object | null; firstColumn: object | null } | null = null;

  /** The cell bitmap of `model`, from the one held when only new columns arrived. */
  private bitmap(model: HeatmapModel, capacity: number): Uint8ClampedArray<ArrayBuffer> {
    const h = this.held;
    const lastT = model.times[model.frames - 1] ?? NaN;
    const lastColumn = model.columns[model.frames - 1] ?? null;
    const firstColumn = model.columns[0] ?? null;
    let shift = -1;
    let grown = 0;
    // Columns are folded once per frame and never change: the same column object at the same
    // time is the same frame (a time alone could repeat in another run).
    if (h && h.lastColumn && this.pixels && model.frames <= this.stride && h.rows === model.rows && h.fromRow === model.fromRow && h.maxLog === model.maxLog) {
      if (h.frames === model.frames) {
        // How far the window slid: where the column drawn last sits now.
        for (let k = 0; k <= Math.min(8, model.frames - 1); k++) {
          if (model.times[model.frames - 1 - k] === h.lastT && model.columns[model.frames - 1 - k] === h.lastColumn) {
            shift = k;
            break;
          }
        }
      } else if (model.frames > h.frames && model.frames - h.frames <= 8 && model.columns[0] === h.firstColumn && model.columns[h.frames - 1] === h.lastColumn && model.times[h.frames - 1] === h.lastT) {
        // The window grew (nothing fell off its start): columns 0…h.frames-1 are the ones drawn.
        grown = model.frames - h.frames;
      }
    }
    if (shift >= 0 && this.pixels) {
      if (shift > 0) {
        shiftColumnsLeft(this.pixels, model.frames, model.rows, shift, this.stride);
        rasterizeColumns(model, this.pixels, model.frames - shift, model.frames, undefined, this.stride);
      }
    } else if (grown > 0 && this.pixels) {
      rasterizeColumns(model, this.pixels, model.frames - grown, model.frames, undefined, this.stride);
    } else {
      this.stride = Math.max(model.frames, capacity);
      this.pixels = rasterizeHeatmap(model, undefined, this.pixels, this.stride);
    }
    this.held = { frames: model.frames, rows: model.rows, fromRow: model.fromRow, maxLog: model.maxLog, lastT, lastColumn, firstColumn };
    return this.pixels!;
  }

  /** Paints `input` into `canvas` sized `width` × `height` CSS px; returns the plot rectangle. */
  paint(canvas: HTMLCanvasElement, width: number, height: number, input: HeatmapPaintInput): PlotRect {
    const plot = {
      left: HEATMAP_PLOT.left,
      top: HEATMAP_PLOT.top,
      width: Math.max(0, width - HEATMAP_PLOT.left - HEATMAP_PLOT.right),
      height: Math.max(0, height - HEATMAP_PLOT.top - HEATMAP_PLOT.bottom),
    };
    const ctx = prepareCanvas(canvas, width, height);
    if (!ctx || plot.width < 4 || plot.height < 4) return plot;
    const { model } = input;
    const rowH = model.rows > 0 ? plot.height / model.rows : 0;

    // Latency axis: a label and grid line at each octave's lower edge, thinned to fit.
    ctx.textAlign = 'right';
    const ticks: Array<{ y: number; label: string }> = [];
    for (let y = 0; y < model.rows; y++) {
      const row = model.layout.rows[model.fromRow + y]!;
      if (!row.octaveStart && !(y === 0 && row.lowerUs < model.layout.resolutionUs)) continue;
      ticks.push({ y: plot.top + plot.height - y * rowH, label: row.label });
    }
    // A label is a row's lower edge: one moved down off the top edge would name the row below.
    for (const t of placeAxisLabels(ticks, plot, { top: 'drop' })) {
      ctx.fillStyle = CHART.splitLine;
      ctx.fillRect(plot.left, Math.round(t.y), plot.width, 1);
      ctx.fillStyle = CHART.text;
      ctx.fillText(t.label, plot.left - 6, t.labelY);
    }

    // Cells: one pixel per cell, scaled without smoothing.
    if (model.frames && model.rows) {
      const pixels = this.bitmap(model, input.capacity ?? 0);
      // The cell canvas keeps the bitmap's size (resizing a canvas re-allocates it); only its
      // first model.frames columns are put and drawn.
      if (this.cellCanvas.width !== this.stride || this.cellCanvas.height !== model.rows) {
        this.cellCanvas.width = this.stride;
        this.cellCanvas.height = model.rows;
      }
      const cctx = this.cellCanvas.getContext('2d');
      if (cctx) {
        cctx.putImageData(new ImageData(pixels, this.stride, model.rows), 0, 0, 0, 0, model.frames, model.rows);
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(this.cellCanvas, 0, 0, model.frames, model.rows, plot.left, plot.top, plot.width, plot.height);
      }
    }

    drawTimeAxis(ctx, plot, input.window, timeTicks(input.window, input.tickStep));

    // Percentile lines (p50 solid, p99 solid, p99.9 dashed), through each column's centre;
    // hairline strokes (strokeHairlines: a wider stroke of 600 points costs ~10 ms to raster).
    if (model.frames) {
      const colW = plot.width / model.frames;
      for (const q of input.quantiles) {
        const ys = model.quantileRows[q];
        if (!ys) continue;
        const path = new Path2D();
        let pen = false;
        for (let x = 0; x < model.frames; x++) {
          const r = ys[x]!;
          if (!Number.isFinite(r)) {
            pen = false;
            continue;
          }
          const px = plot.left + (x + 0.5) * colW;
          const py = plot.top + plot.height - Math.min(model.rows, Math.max(0, r)) * rowH;
          if (pen) path.lineTo(px, py);
          else path.moveTo(px, py);
          pen = true;
        }
        ctx.strokeStyle = CHART.quantiles[q] ?? CHART.textStrong;
        ctx.setLineDash(q === 2 ? [4, 3] : []);
        strokeHairlines(ctx, path, PERCENTILE_LINE_PX);
      }
      ctx.setLineDash([]);

      // Each line named where it ends, in the right margin (direct labels: a key in the panel's
      // header pushed the colour legend out of it at 1024 px).
      const ends: Array<{ y: number; text: string; color: string }> = [];
      for (const q of input.quantiles) {
        const ys = model.quantileRows[q];
        let r = NaN;
        for (let x = model.frames - 1; ys && x >= 0 && !Number.isFinite(r); x--) r = ys[x]!;
        if (!Number.isFinite(r)) continue;
        ends.push({ y: plot.top + plot.height - Math.min(model.rows, Math.max(0, r)) * rowH, text: QUANTILE_NAMES[q] ?? '', color: CHART.quantiles[q] ?? CHART.textStrong });
      }
      ctx.textAlign = 'left';
      for (const l of spreadLabels(ends, plot)) {
        ctx.fillStyle = l.color;
        ctx.fillText(l.text, plot.left + plot.width + 6, l.labelY);
      }
    }

    drawPhaseLines(ctx, plot, input.window, input.phases.filter((p) => p.index > 0).map((p) => ({ t: p.atMs / 1000, text: phaseLabel(p) })));
    return plot;
  }
}
