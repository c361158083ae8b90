/**
 * Per-phase results, "did that knob help?": the same statistics for every phase, from the
 * run summary once the run has ended, or computed live from the frames received so far.
 * Live numbers follow the host's rules (measured frames only; throughput = requests over the
 * summed measured intervals; percentiles from the merged histogram), so they turn into the
 * summary's numbers when the run ends instead of jumping. Pure, no DOM.
 */
import type { KnobChange, Phase, RejectedKnob, RunFrame, RunStats, RunSummary } from '../../../electron/contract';
import { LatencyHistogram, ratiosVsPhase0, RunTally, type VsPhase0 } from '../../../electron/contract';

/** One phase's measured frames, tallied by the shared rules (contract/runStats.ts); warm-up frames are left out, as in the summary. */
export class PhaseTally {
  frames = 0;
  private readonly tally = new RunTally();

  constructor(readonly phase: number) {}

  /** The phase's merged latency histogram. */
  get latency(): LatencyHistogram {
    return this.tally.histogram;
  }

  add(frame: RunFrame): void {
    if (!frame.measuring) return;
    this.frames++;
    this.tally.add(frame, frame.intervalMs * 1e6);
  }

  /** The phase's statistics, or null before its first measured frame. */
  stats(): RunStats | null {
    return this.frames === 0 ? null : this.tally.stats();
  }
}

export type { VsPhase0 };
export { ratiosVsPhase0 };

/** One row of the per-phase table and one curve of the percentile plot. */
export interface PhaseRow {
  index: number;
  changed: KnobChange[];
  rejected: RejectedKnob[];
  /** Null while the phase has no measured frame yet (warm-up, or it just started). */
  stats: RunStats | null;
  vsPhase0: VsPhase0 | null;
  latency: LatencyHistogram;
}

export type PhaseRowsSource = 'summary' | 'live';

/** Rows from an ended run's summary (the host's numbers). */
export function phaseRowsFromSummary(summary: Pick<RunSummary, 'phases'>): PhaseRow[] {
  return [...summary.phases]
    .sort((a, b) => a.index - b.index)
    .map((p) => ({
      index: p.index,
      changed: p.changed,
      rejected: p.rejected,
      stats: p.stats.measuredS > 0 ? p.stats : null,
      vsPhase0: p.vsPhase0,
      latency: LatencyHistogram.from(p.histogram),
    }));
}

/** Rows computed from the frames received so far, one per known phase (and per phase seen in frames). */
export function phaseRowsFromTallies(phases: readonly Phase[], tallies: ReadonlyMap<number, PhaseTally>): PhaseRow[] {
  const indexes = new Set<number>([...phases.map((p) => p.index), ...tallies.keys()]);
  const byIndex = new Map(phases.map((p) => [p.index, p]));
  const base = tallies.get(0)?.stats() ?? null;
  return [...indexes]
    .sort((a, b) => a - b)
    .map((index) => {
      const tally = tallies.get(index);
      const stats = tally?.stats() ?? null;
      const phase = byIndex.get(index);
      return {
        index,
        changed: phase?.changed ?? [],
        rejected: phase?.rejected ?? [],
        stats,
        vsPhase0: index === 0 ? null : ratiosVsPhase0(stats, base),
        latency: tally?.latency ?? new LatencyHistogram(),
      };
    });
}

// ---- Δ vs phase 0 ----------------------------------------------------------------------

/** Which way is better for a metric: more throughput; less latency and CPU. */
export type MetricSense = 'higher' | 'lower';

/**
 * Changes within ±1 % are shown as "same": one run has no confidence interval, and colouring
 * noise green or red would claim a verdict the numbers do not support (A/B runs give one).
 */
export const DELTA_NEUTRAL_BAND = 0.01;

export interface PhaseDelta {
  /** "+12.3 %", "−4.0 %". */
  text: string;
  verdict: 'better' | 'worse' | 'same';
}

export function phaseDelta(ratio: number | null | undefined, sense: MetricSense): PhaseDelta | null {
  if (ratio == null || !Number.isFinite(ratio)) return null;
  const change = ratio - 1;
  const text = `${change >= 0 ? '+' : '−'}${Math.abs(change * 100).toFixed(1)} %`;
  if (Math.abs(change) < DELTA_NEUTRAL_BAND) return { text, verdict: 'same' };
  const up = change > 0;
  return { text, verdict: up === (sense === 'higher') ? 'better' : 'worse' };
}
