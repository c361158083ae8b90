/**
 * Throughput chart model: requests/s (left axis) and p99 latency (right axis, octaves) against
 * seconds since the run started, on the time axis the heatmaps below share (timeAxis.ts);
 * phase changes as vertical lines, warm-up as a shaded band, a short frame (an engine's last,
 * or one right after a late one) as a marker kept off the scale. Pure (unit tested);
 * throughputPainter.ts paints it on a canvas (a chart library's full re-layout per frame cost
 * more than the three heatmaps together).
 */
import { latencyOf, type Phase, type RunFrame } from '../../../electron/contract';
import { phaseLabel } from '../format/knobText';
import { timeTicks, timeTickStep, timeWindow, type TimeWindow } from './timeAxis';

// ---- short frames ---------------------------------------------------------------------------

/**
 * A frame much shorter than its neighbours: the last frame of an engine instance (`final`: the
 * run ended, or a phase change restarted the engine) covers only the sliver of time until the
 * engine stopped, and a frame right after a late one (the engine's first kernel read naming its
 * first stacks; a stalled event loop) could cover a few ms: the engine skips such ticks now
 * (engine/frameClock.ts), runs saved before it still hold them. Its rate is real but measured over
 * a few milliseconds, so one such frame can read 4–30× the steady rate (an 8.5 ms warm-up frame
 * read 3.0M req/s beside ~180k and set the axis to 4M). Frames shorter than half the usual
 * interval, final or not, are drawn as separate markers and never set the throughput axis; a
 * marker above the axis sits on its top edge as an up-triangle.
 */
export function isShortFrame(frame: Pick<RunFrame, 'intervalMs'>, typicalIntervalMs: number): boolean {
  return frame.intervalMs < typicalIntervalMs / 2;
}

/** The median interval of the frames that are not final (100 ms when there are none). */
export function typicalIntervalMs(frames: readonly Pick<RunFrame, 'final' | 'intervalMs'>[]): number {
  const intervals = frames.filter((f) => !f.final && f.intervalMs > 0).map((f) => f.intervalMs);
  if (!intervals.length) return 100;
  intervals.sort((a, b) => a - b);
  return intervals[Math.floor(intervals.length / 2)]!;
}

/** The smallest "nice" number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at or above `v`. */
export function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const decade = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * decade >= v * (1 - 1e-12)) return m * decade;
  return 10 * decade;
}

/**
 * The p99 axis: whole octaves (powers of two µs) around the values, at least two, labelled at
 * most five times with a whole-octave step: the steps of the heatmaps' latency rows.
 */
export function octaveAxis(valuesUs: readonly number[], maxLabels = 5): { min: number; max: number; ticks: number[] } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of valuesUs) {
    if (!(v > 0) || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) [lo, hi] = [16, 1024];
  let a = Math.floor(Math.log2(lo) + 1e-9);
  let b = Math.ceil(Math.log2(hi) - 1e-9);
  if (b - a < 2) [a, b] = [Math.min(a, b - 2), Math.max(b, a + 2)];
  const step = Math.max(1, Math.ceil((b - a) / (maxLabels - 1)));
  const ticks: number[] = [];
  for (let e = a; e <= b; e += step) ticks.push(2 ** e);
  return { min: 2 ** a, max: 2 ** b, ticks };
}

/** The throughput axis: 0 … top in four nice steps. */
export function rpsTicks(top: number): number[] {
  const step = niceCeil(top / 4);
  const out: number[] = [];
  for (let v = 0; v <= top * (1 + 1e-9); v += step) out.push(v);
  return out;
}

/** A marker for a short frame: where it is drawn, and its true rate and interval (for the readout). */
export interface ShortFramePoint {
  t: number;
  /** Drawn at min(rps, axis top); `offScale` when clipped (drawn as an up-triangle on the top edge). */
  y: number;
  offScale: boolean;
  rps: number;
  intervalMs: number;
  /** The engine instance's last frame (else a short frame mid-run). */
  final: boolean;
}

export interface ThroughputModel {
  /** Frames drawn (points of the p99 line). */
  frames: number;
  window: TimeWindow;
  /** Time ticks (s): the heatmaps' for the same width. */
  ticks: number[];
  /** [t s, req/s] of the full-length frames. */
  rps: Array<[number, number]>;
  /** [t s, p99 µs ≥ 1] of every frame; null where no request completed in the frame (a stall,
   *  or a target that answered nothing right): the line has a gap there, not a latency of 0. */
  p99: Array<[number, number | null]>;
  short: ShortFramePoint[];
  /** Top of the throughput axis (req/s), set by the full-length frames only, and its ticks. */
  rpsAxisMax: number;
  rpsTicks: number[];
  /** The p99 axis in whole octaves (µs). */
  p99Axis: { min: number; max: number; ticks: number[] };
  /** Phase changes in the window: time (s) and what changed. */
  phaseLines: Array<{ t: number; text: string }>;
  /** End (s) of the warm-up band, which starts at window.min; null when no frame is warm-up. */
  warmupTo: number | null;
  /** Short frames drawn as markers instead of on the line. */
  shortFrames: number;
  unit: string;
}

/**
 * The model of `frames`: each frame's point sits at its interval's end, the window pads half an
 * interval either side (so the heatmaps' columns centre on the same times), `plotWidthPx`
 * chooses the tick step.
 */
export function buildThroughputModel(frames: readonly RunFrame[], phases: readonly Phase[], unit = 'req/s', plotWidthPx = 600): ThroughputModel {
  const typical = typicalIntervalMs(frames);
  const rps: Array<[number, number]> = [];
  const shortFrames: RunFrame[] = [];
  const p99: Array<[number, number | null]> = new Array(frames.length);
  let rpsMax = 0;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    const t = f.tMs / 1000;
    if (isShortFrame(f, typical)) shortFrames.push(f);
    else {
      rps.push([t, f.throughputRps]);
      if (f.throughputRps > rpsMax) rpsMax = f.throughputRps;
    }
    const us = latencyOf(f.requests, f.latencyUs.p99);
    p99[i] = [t, us === null ? null : Math.max(1, us)]; // log axis: no zeros
  }
  // Only short frames so far (a run that ended at once): they are all there is to scale by.
  if (!rps.length) for (const f of shortFrames) rpsMax = Math.max(rpsMax, f.throughputRps);
  const rpsAxisMax = niceCeil(rpsMax * 1.05);
  const window = timeWindow(frames);
  // Warm-up: from the first frame to the last frame not yet measuring.
  let warmEnd = -1;
  for (let i = 0; i < frames.length && !frames[i]!.measuring; i++) warmEnd = i;
  const half = (frames[0]?.intervalMs ?? 100) / 2000;
  return {
    frames: frames.length,
    window,
    ticks: timeTicks(window, timeTickStep(window, plotWidthPx)),
    rps,
    p99,
    short: shortFrames.map((f) => ({
      t: f.tMs / 1000,
      y: Math.min(f.throughputRps, rpsAxisMax),
      offScale: f.throughputRps > rpsAxisMax,
      rps: f.throughputRps,
      intervalMs: f.intervalMs,
      final: f.final,
    })),
    rpsAxisMax,
    rpsTicks: rpsTicks(rpsAxisMax),
    p99Axis: octaveAxis(p99.flatMap((p) => (p[1] === null ? [] : [p[1]]))),
    phaseLines: phases
      .filter((p) => p.index > 0 && p.atMs / 1000 >= window.min && p.atMs / 1000 <= window.max)
      .map((p) => ({ t: p.atMs / 1000, text: phaseLabel(p) })),
    warmupTo: warmEnd >= 0 ? frames[warmEnd]!.tMs / 1000 + half : null,
    shortFrames: shortFrames.length,
    unit,
  };
}

/** The frame nearest to time `t` (s) for the readout under the pointer, or null. */
export function nearestPoint(model: Pick<ThroughputModel, 'p99'>, t: number): number | null {
  const pts = model.p99;
  if (!pts.length) return null;
  let lo = 0;
  let hi = pts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pts[mid]![0] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && Math.abs(pts[lo - 1]![0] - t) < Math.abs(pts[lo]![0] - t) ? lo - 1 : lo;
}
