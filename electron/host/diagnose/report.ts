/**
 * The spike report of a run (RunSummary.spikes, `uring-lab diagnose`, diagnoseRun): detection
 * (spikes.ts), the evidence of each spike against its baseline frames (evidence.ts) and its
 * ranked causes (classify.ts). Streaming: the run record feeds frames as they come and only
 * the frames of an open spike and its baseline are held; `uring-lab diagnose` feeds the saved
 * frames through the same path, so both give the same report.
 */
import { LabError, SPIKE_DEFAULTS, type Injection, type InjectionResult, type RunFrame, type Spike, type SpikeParams, type SpikeReport } from '../../contract';
import { classify } from './classify';
import { digestSources, sourcesOf, spikeEvidence } from './evidence';
import { foldedOf, ProfileAccumulator, topStacks } from './profiles';
import { countAbove, SpikeDetector, type DetectedSpike } from './spikes';

/** Off-CPU blocks and on-CPU stacks listed per spike: a noisy 10-minute run can have a hundred
 *  spikes, and the summary (meta.json, every client) must stay a few MB at most. */
const SPIKE_OFFCPU_BLOCKS = 20;
const SPIKE_PROFILE_STACKS = 50;

const round = (v: number) => Math.round(v * 1000) / 1000;

/** A spike's full record: evidence, causes, its stacks. `id` is set when the report is made. */
export function describeSpike(d: DetectedSpike, id: number): Spike {
  const evidence = spikeEvidence(d.frames, d.baselineFrames, d.after);
  const sources = digestSources(d.baselineFrames, sourcesOf(d.frames));
  const threshold = d.worst.thresholdUs;
  return {
    id,
    phase: d.phase,
    atMs: round(d.startMs),
    durationMs: round(d.endMs - d.startMs),
    frames: d.frames.map((f) => f.seq),
    tail: { metric: d.worst.metric, valueUs: d.worst.valueUs, baselineUs: round(d.worst.baselineUs), thresholdUs: round(threshold) },
    requests: d.frames.reduce((n, f) => n + f.requests, 0),
    slowRequests: d.frames.reduce((n, f) => n + countAbove(f.histogram, threshold), 0),
    causes: classify(evidence, sources, d.worst.valueUs),
    offCpu: evidence.window.offCpu.slice(0, SPIKE_OFFCPU_BLOCKS).map((b) => ({ ...b, ms: round(b.ms) })),
    profile: topStacks(foldedOf(d.frames), SPIKE_PROFILE_STACKS),
    injected: [],
  };
}

/** When an injection really ran (its start/end when known, else as requested). */
function injectionSpan(i: Injection | InjectionResult): [number, number] {
  const r = i as Partial<InjectionResult>;
  const start = r.startedAtMs ?? i.atMs;
  const end = r.endedAtMs ?? start + i.durationMs;
  return [start, end];
}

export class SpikeReporter {
  private readonly detector: SpikeDetector;
  private readonly described: Spike[] = [];
  private readonly sources = sourcesOf([]);
  readonly profiles = new ProfileAccumulator();
  private measured = false;
  private finished = false;

  constructor(readonly params: SpikeParams = { ...SPIKE_DEFAULTS }) {
    this.detector = new SpikeDetector(params);
  }

  /** `json`: the frame's JSON text when the caller has it (SpikeDetector.push). */
  push(frame: RunFrame, json?: string): void {
    if (this.finished) return;
    sourcesOf([frame], this.sources);
    if (frame.measuring) {
      this.measured = true;
      this.profiles.add(frame);
    }
    for (const d of this.detector.push(frame, json)) this.described.push(describeSpike(d, this.described.length + 1));
  }

  /** The report (null when no frame was measured). Closes open spikes: push nothing after it. */
  report(runId: string, injections: readonly (Injection | InjectionResult)[] = []): SpikeReport | null {
    if (!this.finished) {
      this.finished = true;
      for (const d of this.detector.finish()) this.described.push(describeSpike(d, this.described.length + 1));
    }
    if (!this.measured) return null;
    const ran = injections.filter((i) => (i as Partial<InjectionResult>).applied !== false);
    const spikes = this.described.map((s) => ({
      ...s,
      injected: ran.filter((i) => {
        const [start, end] = injectionSpan(i);
        return start < s.atMs + s.durationMs && end > s.atMs;
      }).map((i) => ({ kind: i.kind, atMs: i.atMs, durationMs: i.durationMs })),
    }));
    const byCause: Record<string, number> = {};
    let labelled = 0;
    for (const s of spikes) {
      const top = s.causes[0]!;
      // `unknown` is the absence of a label, whatever its confidence.
      if (top.cause === 'unknown' || top.confidence < this.params.labelConfidence) continue;
      labelled++;
      byCause[top.cause] = (byCause[top.cause] ?? 0) + 1;
    }
    return {
      runId,
      params: { ...this.params },
      sources: { ...this.sources },
      baselines: this.detector.phaseBaselines.map((b) => ({ ...b, p99MadUs: round(b.p99MadUs) })),
      spikes,
      labelled,
      byCause,
    };
  }
}

/** The report and profiles of a whole saved run. */
export function diagnoseFrames(runId: string, frames: readonly RunFrame[], params: SpikeParams, injections: readonly (Injection | InjectionResult)[] = []) {
  const reporter = new SpikeReporter(params);
  for (const f of [...frames].sort((a, b) => a.seq - b.seq)) reporter.push(f);
  return { report: reporter.report(runId, injections), profiles: reporter.profiles.profiles() };
}

/** Detection parameters given by a user (CLI flags, diagnoseRun params), each checked. */
export function spikeParams(given: Partial<Record<keyof SpikeParams, number>> = {}): SpikeParams {
  const params: SpikeParams = { ...SPIKE_DEFAULTS };
  const limits: Record<keyof SpikeParams, [number, number, string]> = {
    k: [0.5, 100, 'e.g. 4 (the rolling median + k × MAD)'],
    minRiseUs: [0, 1e7, 'µs, e.g. 50'],
    minRiseFactor: [1, 1000, 'e.g. 1.5'],
    maxFactor: [1, 1000, 'e.g. 4 (× the median of the frames\' max)'],
    baselineFrames: [3, 10_000, 'whole frames, e.g. 40'],
    minBaselineFrames: [1, 10_000, 'whole frames, e.g. 8'],
    labelConfidence: [0, 1, 'between 0 and 1, e.g. 0.5'],
  };
  for (const [key, value] of Object.entries(given) as [keyof SpikeParams, number | undefined][]) {
    if (value === undefined) continue;
    const limit = limits[key];
    if (!limit) throw new LabError({ code: 'USAGE', kind: 'input', field: String(key), message: `unknown spike parameter ${JSON.stringify(String(key))}`, fix: `use one of: ${Object.keys(limits).join(', ')}` });
    const [lo, hi, hint] = limit;
    const whole = key === 'baselineFrames' || key === 'minBaselineFrames';
    if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi || (whole && !Number.isInteger(value))) {
      throw new LabError({ code: 'USAGE', kind: 'input', field: key, message: `${key} ${JSON.stringify(value)} is not ${whole ? 'a whole number' : 'a number'} between ${lo} and ${hi}`, fix: `give ${key} ${hint}` });
    }
    params[key] = value;
  }
  if (params.minBaselineFrames > params.baselineFrames) {
    throw new LabError({ code: 'USAGE', kind: 'input', field: 'minBaselineFrames', message: `minBaselineFrames ${params.minBaselineFrames} is more than baselineFrames ${params.baselineFrames}`, fix: 'give minBaselineFrames ≤ baselineFrames' });
  }
  return params;
}
