/**
 * What the canvas charts (heatmaps, throughput) draw alike: the canvas sized for the device
 * pixel ratio, the shared time axis, and phase lines with labels laid out so they never
 * overprint each other or an axis (timeAxis.ts layoutPhaseLabels).
 */
import { CHART } from './theme';
import { layoutPhaseLabels, timeTickLabel, timeToX, type TimeWindow } from './timeAxis';

export interface PlotRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export const CHART_FONT = `11px ${CHART.sans}`;
const LANE_PX = 14;

/**
 * Whether boxes `a` and `b` (CSS px) cover the same device pixels. A ResizeObserver also
 * reports sub-pixel moves (another panel's height changing by a fraction of a pixel), which
 * leave a chart's canvas as it is: redrawing for them costs a full chart in the frame where the
 * page re-lays out anyway (a run's end, when the summary arrives).
 */
export function sameDeviceSize(a: { width: number; height: number }, b: { width: number; height: number }): boolean {
  const dpr = window.devicePixelRatio || 1;
  return Math.round(a.width * dpr) === Math.round(b.width * dpr) && Math.round(a.height * dpr) === Math.round(b.height * dpr);
}

/** Sizes `canvas` to `width` × `height` CSS px at the device pixel ratio and clears it; null without a 2D context. */
export function prepareCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D | null {
  const dpr = window.devicePixelRatio || 1;
  const W = Math.max(1, Math.round(width * dpr));
  const H = Math.max(1, Math.round(height * dpr));
  if (canvas.width !== W || canvas.height !== H) {
    canvas.width = W;
    canvas.height = H;
  }
  // Opaque (on the panel's colour): the compositor copies it without blending it over the page.
  const ctx = canvas.getContext('2d', { alpha: false });
  if (!ctx) return null;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = CHART.panel;
  ctx.fillRect(0, 0, width, height);
  ctx.font = CHART_FONT;
  ctx.textBaseline = 'middle';
  return ctx;
}

/**
 * Strokes `path` (CSS px) `cssWidth` wide as one-device-pixel lines: Skia draws a line at most
 * one device pixel wide as a hairline, while a wider one (1.25 px, say) goes through its general
 * stroker and an anti-aliased fill of the outline, which in software raster (no GPU) costs
 * ~50× more: ~10 ms for one 600-point jagged polyline against ~0.2 ms (measured in Debian's
 * Chromium). Wider lines are that many hairline passes, each a device pixel lower. The caller
 * sets strokeStyle and the dash; the transform must be prepareCanvas's.
 */
export function strokeHairlines(ctx: CanvasRenderingContext2D, path: Path2D, cssWidth: number): void {
  const t = ctx.getTransform();
  const dpr = t.a || 1;
  const passes = Math.max(1, Math.round(cssWidth * dpr));
  ctx.lineWidth = 1 / dpr;
  for (let i = 0; i < passes; i++) {
    ctx.setTransform(t.a, t.b, t.c, t.d, t.e, t.f + i - (passes - 1) / 2);
    ctx.stroke(path);
  }
  ctx.setTransform(t);
}

/** Least distance (CSS px) between the centres of two labels on a vertical axis (11 px text). */
export const AXIS_LABEL_GAP_PX = 13;
/** How far inside the plot a label's centre stays: clear of the time axis labels below it. */
const AXIS_LABEL_INSET_PX = 5;

/**
 * Which labels of a vertical axis to draw, and where: each is moved inside the plot (its centre
 * AXIS_LABEL_INSET_PX above the bottom edge, so it clears the time axis; at the top, moved down
 * as far, or dropped with `top: 'drop'` where a label there would read as the next row's), then
 * thinned to every k-th from the bottom, k the smallest that leaves `gapPx` between where they
 * are drawn. Thinning by the unmoved positions let a label moved off an edge overprint its
 * neighbour on a short chart; a uniform stride keeps the labels evenly spaced (every other
 * octave, say) where dropping each one too close would leave them uneven. `y` is the tick's
 * true position (its grid line); `labelY` where its text is centred.
 */
export function placeAxisLabels<T extends { y: number }>(
  labels: readonly T[],
  plot: PlotRect,
  opts: { top?: 'clamp' | 'drop'; gapPx?: number } = {},
): Array<T & { labelY: number }> {
  const gap = opts.gapPx ?? AXIS_LABEL_GAP_PX;
  const top = plot.top;
  const bottom = plot.top + plot.height;
  const candidates: Array<T & { labelY: number }> = [];
  for (const l of [...labels].sort((a, b) => b.y - a.y)) {
    if (!(l.y <= bottom + 0.5 && l.y >= top - 0.5)) continue;
    let labelY = Math.min(l.y, bottom - AXIS_LABEL_INSET_PX);
    if (l.y - top < AXIS_LABEL_INSET_PX) {
      if (opts.top === 'drop') continue;
      labelY = Math.max(labelY, top + AXIS_LABEL_INSET_PX);
    }
    candidates.push({ ...l, labelY });
  }
  for (let stride = 1; stride < candidates.length; stride++) {
    const picked = candidates.filter((_, i) => i % stride === 0);
    if (picked.every((l, i) => i === 0 || picked[i - 1]!.labelY - l.labelY >= gap)) return picked;
  }
  return candidates.slice(0, 1);
}

/**
 * Labels that name lines at the plot's right edge (direct labels): each as near its line's end
 * `y` as it can be, spread apart by `gapPx` and kept inside the plot. Where the plot is too short
 * for all of them, the last ones of `items` are left out (list them most important first).
 */
export function spreadLabels<T extends { y: number }>(items: readonly T[], plot: PlotRect, gapPx = AXIS_LABEL_GAP_PX - 1): Array<T & { labelY: number }> {
  const lo = plot.top + AXIS_LABEL_INSET_PX;
  const hi = plot.top + plot.height - AXIS_LABEL_INSET_PX;
  const fit = hi < lo ? Math.min(1, items.length) : Math.min(items.length, Math.floor((hi - lo) / gapPx) + 1);
  const out = items
    .slice(0, fit)
    .map((i) => ({ ...i, labelY: Math.min(hi, Math.max(lo, i.y)) }))
    .sort((a, b) => a.labelY - b.labelY);
  for (let i = 1; i < out.length; i++) out[i]!.labelY = Math.max(out[i]!.labelY, out[i - 1]!.labelY + gapPx);
  if (out.length) out[out.length - 1]!.labelY = Math.min(out[out.length - 1]!.labelY, Math.max(lo, hi));
  for (let i = out.length - 2; i >= 0; i--) out[i]!.labelY = Math.min(out[i]!.labelY, out[i + 1]!.labelY - gapPx);
  return out;
}

/** The time axis under the plot: base line, ticks and labels at `ticks` (s). */
export function drawTimeAxis(ctx: CanvasRenderingContext2D, plot: PlotRect, window: TimeWindow, ticks: readonly number[]): void {
  const bottom = plot.top + plot.height;
  ctx.fillStyle = CHART.axisLine;
  ctx.fillRect(plot.left, bottom, plot.width, 1);
  ctx.fillStyle = CHART.text;
  ctx.textAlign = 'center';
  for (const t of ticks) {
    const x = plot.left + timeToX(t, window, plot.width);
    ctx.fillRect(Math.round(x), bottom, 1, 4);
    ctx.fillText(timeTickLabel(t), x, bottom + 12);
  }
}

/** Dashed phase lines at `lines` (time s, label), labels in the plot's top lanes on a backdrop. */
export function drawPhaseLines(ctx: CanvasRenderingContext2D, plot: PlotRect, window: TimeWindow, lines: readonly { t: number; text: string }[]): void {
  const visible = lines.filter((l) => l.t > window.min && l.t < window.max);
  if (!visible.length) return;
  const marks = visible.map((l) => ({ x: timeToX(l.t, window, plot.width), text: l.text, width: ctx.measureText(l.text).width }));
  const placed = layoutPhaseLabels(marks, plot.width, { shortWidth: (s) => ctx.measureText(s).width });
  ctx.strokeStyle = CHART.phase;
  ctx.lineWidth = 1;
  ctx.setLineDash([4, 3]);
  for (const m of marks) {
    const x = Math.round(plot.left + m.x) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, plot.top);
    ctx.lineTo(x, plot.top + plot.height);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.textAlign = 'left';
  placed.forEach((p) => {
    if (p.left == null || plot.height < LANE_PX * (p.lane + 1)) return;
    const w = ctx.measureText(p.text).width;
    const y = plot.top + 2 + p.lane * LANE_PX;
    ctx.fillStyle = 'rgba(20, 25, 32, 0.82)';
    ctx.fillRect(plot.left + p.left - 2, y, w + 4, LANE_PX - 1);
    ctx.fillStyle = CHART.phase;
    ctx.fillText(p.text, plot.left + p.left, y + LANE_PX / 2);
  });
}
