/**
 * Spike detection: which windows of a run had a tail latency above the run's own baseline.
 *
 * Per phase, each frame's p99, p99.9 and max (from its latency histogram) are compared with a
 * rolling baseline: the median of the previous `baselineFrames` frames of the same phase, with a
 * robust spread, 1.4826 × MAD (the median absolute deviation scaled so it estimates a standard
 * deviation for normal noise, yet one outlier frame cannot inflate it). A measured frame is
 * ABOVE baseline when
 *   p99 (or p99.9) > median + k × spread   AND > median × minRiseFactor   AND > median + minRiseUs
 * (all three: the k × MAD test alone fires on a run so quiet that its spread is 1 µs), or when its
 * max > maxFactor × the median of the frames' max, or when its oldest in-flight request is older
 * than that same max threshold (a stalled server completes nothing, so a stall shows in no
 * histogram: it is still a spike).
 *
 *  - Warm-up frames feed the baseline (the server is already serving) but are never spikes.
 *  - A phase change (new knobs: a new engine) starts a new baseline; its first frames cannot be
 *    spikes until the baseline holds `minBaselineFrames` frames.
 *  - Adjacent above-baseline frames merge into one spike; one frame below baseline between two
 *    above it is tolerated (it joins the spike): a 250 ms fault seldom aligns with 100 ms frames.
 *  - Frames inside a spike never feed the baseline (a long spike would otherwise become its own
 *    baseline and end itself).
 *  - A spike that lasts `baselineFrames` frames is a level shift, not a spike: it is closed there
 *    and the baseline restarts from the frames after it (else every later frame of the run would
 *    be compared with a level the run has left for good and the run would be one spike).
 *  - Frames with no completions and no stalled request measure nothing: they neither feed the
 *    baseline nor break a spike's run of frames.
 *
 * Detection is streaming (a frame at a time, bounded memory), so the run record builds the
 * summary's report as frames come and `uring-lab diagnose` recomputes it from the saved frames:
 * the same code and the same answer.
 */
import { highestEquivalentUs, histogramBucketLowerUs, SPIKE_DEFAULTS, type RunFrame, type SparseHistogram, type SpikeParams } from '../../contract';
import { digestOf, median, type FrameDigest } from './evidence';

/** A frame's tail numbers, µs. */
export interface FrameTail {
  p99: number;
  p999: number;
  max: number;
  /** Completions in the frame (the histogram's total). */
  count: number;
}

/** p99, p99.9 and max of one sparse histogram without expanding it (frames arrive at 10/s per run). */
export function frameTail(histogram: SparseHistogram): FrameTail {
  let count = 0;
  for (const [, n] of histogram) count += n;
  if (count === 0) return { p99: 0, p999: 0, max: 0, count: 0 };
  const rank99 = Math.max(1, Math.ceil(0.99 * count));
  const rank999 = Math.max(1, Math.ceil(0.999 * count));
  let seen = 0;
  let p99 = -1;
  let p999 = -1;
  let max = 0;
  for (const [index, n] of histogram) {
    if (!(n > 0)) continue;
    seen += n;
    if (p99 < 0 && seen >= rank99) p99 = highestEquivalentUs(index);
    if (p999 < 0 && seen >= rank999) p999 = highestEquivalentUs(index);
    max = highestEquivalentUs(index);
  }
  return { p99, p999, max, count };
}

/** Completions of a sparse histogram slower than `thresholdUs` (buckets wholly above it). */
export function countAbove(histogram: SparseHistogram, thresholdUs: number): number {
  let n = 0;
  for (const [index, c] of histogram) if (histogramBucketLowerUs(index) > thresholdUs) n += c;
  return n;
}

/** Median absolute deviation from the median (unscaled). */
export function mad(values: readonly number[], center = median(values)): number {
  return median(values.map((v) => Math.abs(v - center)));
}

/** MAD × this estimates the standard deviation of normally distributed noise. */
export const MAD_TO_SIGMA = 1.4826;

/** The baseline a frame is compared with, and the thresholds it implies, µs. */
export interface Baseline {
  frames: number;
  p99: number; p999: number; max: number;
  p99Spread: number; p999Spread: number;
  thresholdP99: number; thresholdP999: number; thresholdMax: number;
}

/**
 * A frame of an open spike (or just after one) as the detector holds it: the frame, or its JSON
 * text (the run record's own copy, RunRecord.addSnapshot), parsed back only when the spike
 * closes. As object graphs (~12 KB of JSON each with probes) frames held for seconds survived
 * the young generation and died in the old one; a string is one object to copy. Baseline frames
 * are held as their digests (evidence.ts, FrameDigest): all a spike's evidence reads of them.
 */
export type HeldFrame = RunFrame | string;
const frameOf = (held: HeldFrame): RunFrame => (typeof held === 'string' ? JSON.parse(held) as RunFrame : held);

/** A baseline frame: its tail and its digest. */
interface Sample { tail: FrameTail; digest: FrameDigest }
/** A frame that may yet join a spike (a tolerated gap): also the frame itself. */
interface HeldSample extends Sample { held: HeldFrame }

export function baselineOf(samples: readonly Sample[], params: SpikeParams): Baseline {
  const p99s = samples.map((s) => s.tail.p99);
  const p999s = samples.map((s) => s.tail.p999);
  const p99 = median(p99s);
  const p999 = median(p999s);
  const max = median(samples.map((s) => s.tail.max));
  const p99Spread = MAD_TO_SIGMA * mad(p99s, p99);
  const p999Spread = MAD_TO_SIGMA * mad(p999s, p999);
  const threshold = (center: number, spread: number) => Math.max(center + params.k * spread, center * params.minRiseFactor, center + params.minRiseUs);
  return {
    frames: samples.length, p99, p999, max, p99Spread, p999Spread,
    thresholdP99: threshold(p99, p99Spread),
    thresholdP999: threshold(p999, p999Spread),
    // The max of a frame is one request: only a factor over its usual value means anything.
    thresholdMax: Math.max(params.maxFactor * max, params.minRiseUs),
  };
}

export type TailMetric = 'p99' | 'p999' | 'max';

/** Why one frame is above its baseline: the metric that crossed furthest (value / threshold). */
export interface Crossing { metric: TailMetric; valueUs: number; baselineUs: number; thresholdUs: number; stall: boolean }

export function crossingOf(frame: RunFrame, tail: FrameTail, b: Baseline): Crossing | null {
  const candidates: Crossing[] = [];
  if (tail.count > 0) {
    if (tail.p99 > b.thresholdP99) candidates.push({ metric: 'p99', valueUs: tail.p99, baselineUs: b.p99, thresholdUs: b.thresholdP99, stall: false });
    if (tail.p999 > b.thresholdP999) candidates.push({ metric: 'p999', valueUs: tail.p999, baselineUs: b.p999, thresholdUs: b.thresholdP999, stall: false });
    if (tail.max > b.thresholdMax) candidates.push({ metric: 'max', valueUs: tail.max, baselineUs: b.max, thresholdUs: b.thresholdMax, stall: false });
  }
  // A stall: a request waiting longer than any the baseline completes, whether or not others completed.
  if (frame.oldestInFlightUs > b.thresholdMax) {
    candidates.push({ metric: 'max', valueUs: frame.oldestInFlightUs, baselineUs: b.max, thresholdUs: b.thresholdMax, stall: true });
  }
  let best: Crossing | null = null;
  for (const c of candidates) if (!best || c.valueUs / c.thresholdUs > best.valueUs / best.thresholdUs) best = c;
  return best;
}

/** A spike as detection found it: its frames, the baseline frames it was compared with, and the
 *  frames seen right after it (blocks that ended after the window are reported in those). */
export interface DetectedSpike {
  phase: number;
  frames: RunFrame[];
  /** The baseline's frames, digested as they came (evidence.ts). */
  baselineFrames: FrameDigest[];
  after: RunFrame[];
  baseline: Baseline;
  /** The frame that crossed furthest. */
  worst: Crossing;
  /** Window start (start of the first frame) and end (end of the last), ms since the run started. */
  startMs: number;
  endMs: number;
  /** Closed at baselineFrames frames: a level shift (the baseline restarted after it). */
  levelShift: boolean;
}

interface OpenSpike {
  frames: HeldFrame[];
  baselineFrames: FrameDigest[];
  baseline: Baseline;
  worst: Crossing;
  /** A frame below baseline after the spike's last above one, not yet known to be inside it. */
  gap: HeldSample | null;
}

/** Per phase: the rolling baseline, and every frame that fed it (for the report's baselines). */
interface PhaseState {
  phase: number;
  window: Sample[];
  open: OpenSpike | null;
  fedP99: number[];
  fedP999: number[];
}

export interface PhaseBaseline { phase: number; frames: number; p99Us: number; p999Us: number; p99MadUs: number }

export const frameStartMs = (f: RunFrame) => f.tMs - f.intervalMs;

export class SpikeDetector {
  private state: PhaseState | null = null;
  /** Spikes closed by the current push or finish, handed to the caller and not kept: each holds
   *  its frames and ~40 baseline frames, and keeping them all held most frames of a long run
   *  (1,240 frames on the CLI's heap 125 s into a run, 600 of them expected). */
  private closed: DetectedSpike[] = [];
  private readonly baselines: PhaseBaseline[] = [];

  constructor(readonly params: SpikeParams = { ...SPIKE_DEFAULTS }) {}

  /** Feeds one frame (in seq order); returns the spikes this frame closed. `json`: the frame's
   *  JSON text when the caller has it, held instead of the frame (HeldFrame says why). */
  push(frame: RunFrame, json?: string): DetectedSpike[] {
    if (this.state && this.state.phase !== frame.phase) this.endPhase();
    const state = this.state ??= { phase: frame.phase, window: [], open: null, fedP99: [], fedP999: [] };
    const held = json ?? frame;
    const sample: HeldSample = { held, tail: frameTail(frame.histogram), digest: digestOf(frame) };
    const enough = state.window.length >= Math.max(1, this.params.minBaselineFrames);
    const baseline = enough ? baselineOf(state.window, this.params) : null;
    const crossing = frame.measuring && baseline ? crossingOf(frame, sample.tail, baseline) : null;
    const open = state.open;
    if (crossing) {
      if (open) {
        if (open.gap) { open.frames.push(open.gap.held); open.gap = null; }
        open.frames.push(held);
        if (crossing.valueUs / crossing.thresholdUs > open.worst.valueUs / open.worst.thresholdUs) open.worst = crossing;
        if (open.frames.length >= this.params.baselineFrames) {
          this.close(state, [], true);
          state.window = [];
        }
      } else {
        state.open = { frames: [held], baselineFrames: state.window.map((s) => s.digest), baseline: baseline!, worst: crossing, gap: null };
      }
    } else if (open) {
      if (sample.tail.count === 0) {
        // Nothing measured: neither ends the spike nor feeds the baseline.
      } else if (!open.gap) {
        open.gap = sample;
      } else {
        const gap = open.gap;
        open.gap = null;
        this.close(state, [gap.held, held], false);
        this.feed(state, gap);
        this.feed(state, sample);
      }
    } else if (sample.tail.count > 0) {
      this.feed(state, sample);
    }
    return this.takeClosed();
  }

  /** The run ended: closes what is open; returns the spikes it closed. */
  finish(): DetectedSpike[] {
    this.endPhase();
    return this.takeClosed();
  }

  private takeClosed(): DetectedSpike[] {
    const closed = this.closed;
    if (closed.length) this.closed = [];
    return closed;
  }
  get phaseBaselines(): readonly PhaseBaseline[] { return this.baselines; }

  private feed(state: PhaseState, sample: Sample): void {
    state.window.push({ tail: sample.tail, digest: sample.digest });
    if (state.window.length > this.params.baselineFrames) state.window.shift();
    state.fedP99.push(sample.tail.p99);
    state.fedP999.push(sample.tail.p999);
  }

  private close(state: PhaseState, after: HeldFrame[], levelShift: boolean): void {
    const open = state.open;
    if (!open) return;
    state.open = null;
    const frames = open.frames.map(frameOf);
    this.closed.push({
      phase: state.phase, frames, baselineFrames: open.baselineFrames, after: after.map(frameOf), baseline: open.baseline, worst: open.worst,
      startMs: frameStartMs(frames[0]!), endMs: frames[frames.length - 1]!.tMs, levelShift,
    });
    // A tolerated gap frame that no later frame confirmed is an ordinary frame again.
    if (open.gap) this.feed(state, open.gap);
  }

  private endPhase(): void {
    const state = this.state;
    if (!state) return;
    const gap = state.open?.gap ?? null;
    this.close(state, gap ? [gap.held] : [], false);
    const p99 = median(state.fedP99);
    this.baselines.push({ phase: state.phase, frames: state.fedP99.length, p99Us: p99, p999Us: median(state.fedP999), p99MadUs: mad(state.fedP99, p99) });
    this.state = null;
  }
}
