/**
 * Paints a ThroughputModel (throughputModel.ts) on a 2D canvas: req/s as a line over a light
 * area (left axis), p99 as a dashed line on an octave axis (right, labelled like the heatmaps'
 * latency rows), the warm-up band, short frames as markers off the scale, and the shared
 * time axis and phase lines (chartCanvas.ts). Same margins as the heatmaps: ticks line up.
 */
import { formatCompact } from '../format/numbers';
import { drawPhaseLines, drawTimeAxis, placeAxisLabels, prepareCanvas, strokeHairlines, type PlotRect } from './chartCanvas';
import { rowAxisLabel } from './latencyRows';
import { CHART } from './theme';
import type { ThroughputModel } from './throughputModel';
import { timeToX } from './timeAxis';

export const THROUGHPUT_PLOT = { left: CHART.gridLeft, right: CHART.gridRight, top: 18, bottom: 20 } as const;

export function paintThroughput(canvas: HTMLCanvasElement, width: number, height: number, m: ThroughputModel): PlotRect {
  const plot = {
    left: THROUGHPUT_PLOT.left,
    top: THROUGHPUT_PLOT.top,
    width: Math.max(0, width - THROUGHPUT_PLOT.left - THROUGHPUT_PLOT.right),
    height: Math.max(0, height - THROUGHPUT_PLOT.top - THROUGHPUT_PLOT.bottom),
  };
  const ctx = prepareCanvas(canvas, width, height);
  if (!ctx || plot.width < 4 || plot.height < 4) return plot;
  const bottom = plot.top + plot.height;
  const x = (t: number) => plot.left + timeToX(t, m.window, plot.width);
  const yRps = (v: number) => bottom - (m.rpsAxisMax > 0 ? Math.min(1, v / m.rpsAxisMax) : 0) * plot.height;
  const l2min = Math.log2(m.p99Axis.min);
  const l2span = Math.max(1e-9, Math.log2(m.p99Axis.max) - l2min);
  const yP99 = (us: number) => bottom - Math.min(1, Math.max(0, (Math.log2(us) - l2min) / l2span)) * plot.height;

  // Axis names, grid and labels: req/s left, p99 octaves right.
  ctx.fillStyle = CHART.text;
  ctx.textAlign = 'right';
  ctx.fillText(m.unit, plot.left - 6, plot.top - 10);
  for (const l of placeAxisLabels(m.rpsTicks.map((v) => ({ y: yRps(v), v })), plot)) {
    ctx.fillStyle = CHART.splitLine;
    ctx.fillRect(plot.left, Math.round(l.y), plot.width, 1);
    ctx.fillStyle = CHART.text;
    ctx.fillText(formatCompact(l.v), plot.left - 6, l.labelY);
  }
  ctx.textAlign = 'left';
  ctx.fillText('p99', plot.left + plot.width + 6, plot.top - 10);
  for (const l of placeAxisLabels(m.p99Axis.ticks.map((v) => ({ y: yP99(v), v })), plot)) {
    ctx.fillText(rowAxisLabel(l.v), plot.left + plot.width + 6, l.labelY);
  }

  // Warm-up band.
  if (m.warmupTo !== null && m.warmupTo > m.window.min) {
    const x1 = Math.min(plot.left + plot.width, x(m.warmupTo));
    ctx.fillStyle = CHART.warmup;
    ctx.fillRect(plot.left, plot.top, x1 - plot.left, plot.height);
    if (x1 - plot.left > 50) {
      ctx.fillStyle = CHART.text;
      ctx.textAlign = 'left';
      ctx.fillText('warm-up', plot.left + 4, bottom - 8);
    }
  }

  // req/s: a light area under the line, then the line; p99 dashed. Hairline strokes and an area
  // of rectangles on whole device pixels: in software raster a 1.5 px stroke of 600 points
  // costs ~10 ms and the anti-aliased fill of a 600-point polygon ~3 ms (strokeHairlines).
  if (m.rps.length) {
    const dpr = ctx.getTransform().a || 1;
    const snap = (v: number) => Math.round(v * dpr) / dpr;
    ctx.fillStyle = 'rgba(92, 184, 255, 0.08)';
    for (let i = 0; i + 1 < m.rps.length; i++) {
      const [t0, v0] = m.rps[i]!;
      const [t1, v1] = m.rps[i + 1]!;
      const x0 = snap(x(t0));
      const x1 = snap(x(t1));
      if (x1 <= x0) continue;
      const top = snap(yRps((v0 + v1) / 2));
      ctx.fillRect(x0, top, x1 - x0, bottom - top);
    }
    const line = new Path2D();
    m.rps.forEach(([t, v], i) => (i ? line.lineTo(x(t), yRps(v)) : line.moveTo(x(t), yRps(v))));
    ctx.strokeStyle = CHART.throughput;
    strokeHairlines(ctx, line, 1.5);
  }

  if (m.p99.length) {
    const line = new Path2D();
    // A frame with no request completed breaks the line; a point alone between two such
    // frames is a short dash, so it still shows.
    m.p99.forEach(([t, us], i) => {
      if (us === null) return;
      const joined = i > 0 && m.p99[i - 1]![1] !== null;
      if (joined) line.lineTo(x(t), yP99(us));
      else {
        line.moveTo(x(t), yP99(us));
        if (m.p99[i + 1]?.[1] == null) line.lineTo(x(t) + 3, yP99(us));
      }
    });
    ctx.strokeStyle = CHART.p99;
    ctx.setLineDash([4, 3]);
    strokeHairlines(ctx, line, 1);
    ctx.setLineDash([]);
  }

  // Short frames: a ring, or an up-triangle on the top edge when off the scale.
  ctx.strokeStyle = CHART.throughput;
  ctx.fillStyle = CHART.throughput;
  ctx.lineWidth = 1.25;
  for (const s of m.short) {
    const px = x(s.t);
    const py = yRps(s.y);
    ctx.beginPath();
    if (s.offScale) {
      ctx.moveTo(px, py - 1);
      ctx.lineTo(px - 4, py + 6);
      ctx.lineTo(px + 4, py + 6);
      ctx.closePath();
      ctx.fill();
    } else {
      ctx.arc(px, py, 3.5, 0, Math.PI * 2);
      ctx.stroke();
    }
  }

  drawTimeAxis(ctx, plot, m.window, m.ticks);
  drawPhaseLines(ctx, plot, m.window, m.phaseLines);
  return plot;
}
