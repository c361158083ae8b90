/**
 * From the rounds of an A/B experiment to its AbReport: per metric the medians, the ratio B/A
 * with its bootstrap CI, the U test and the verdict (statistics.ts); the pooled-histogram
 * percentiles with a bootstrap over rounds (a p99.9 of one 3 s round rests on a few hundred
 * requests, the pooled one on all of them); what was really compared (applied knobs, refusals);
 * and the noise guard (A/A spread against the effect claimed).
 */
import { HISTOGRAM_LAYOUT, highestEquivalentUs, LatencyHistogram, type Profile, type RunSummary, type SparseHistogram } from '../../contract';
import { AB_METRIC_NAMES, type AbArmSpikes, type AbMetric, type AbMetricName, type AbReport, type AbRoundArm } from '../../contract/ab';
import { topStacks } from '../diagnose/profiles';
import { bootstrapRatio, holmAdjust, mannWhitneyU, seededRandom, spreadOf, verdictOf, type MetricSense } from './statistics';
import { median } from 'simple-statistics';

export const AB_SENSE: Record<AbMetricName, MetricSense> = {
  throughputRps: 'higher', p50Us: 'lower', p99Us: 'lower', p999Us: 'lower', serverCpuNsPerReq: 'lower', loadCpuNsPerReq: 'lower',
};

/** Percentiles of the pooled histograms compared in every report. */
export const POOLED_PERCENTILES = [50, 90, 99, 99.9] as const;

export interface AbStatisticsOptions {
  seed: number;
  resamples: number;
  alpha: number;
  noise: number;
}

/** Rounds that count: both arms of the round completed (a failed arm drops its round from the comparison). */
export function countedRounds(samples: readonly AbRoundArm[]): Set<number> {
  const ok = new Map<number, number>();
  for (const s of samples) if (s.status === 'completed' && s.requests > 0) ok.set(s.round, (ok.get(s.round) ?? 0) + 1);
  return new Set([...ok].filter(([, n]) => n === 2).map(([r]) => r));
}

export function metricsOf(samples: readonly AbRoundArm[], options: AbStatisticsOptions): AbMetric[] {
  const rounds = countedRounds(samples);
  const valuesOf = (arm: 'a' | 'b', name: AbMetricName) => samples
    .filter((s) => s.arm === arm && rounds.has(s.round))
    .sort((x, y) => x.round - y.round)
    .map((s) => s.metrics[name])
    .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const partial = AB_METRIC_NAMES.map((name, i) => {
    const a = valuesOf('a', name);
    const b = valuesOf('b', name);
    const medA = a.length ? median(a) : null;
    const medB = b.length ? median(b) : null;
    const ratio = medA && medB !== null ? medB / medA : null;
    const boot = a.length >= 2 && b.length >= 2 && medA ? bootstrapRatio(a, b, { seed: options.seed + i, resamples: options.resamples }) : null;
    const test = a.length && b.length ? mannWhitneyU(a, b) : null;
    return { name, a, b, medA, medB, ratio, boot, pValue: test && Number.isFinite(test.pValue) ? test.pValue : null };
  });
  const present = partial.filter((m) => m.pValue !== null);
  const holm = holmAdjust(present.map((m) => m.pValue as number));
  return partial.map((m) => {
    const sense = AB_SENSE[m.name];
    const ci = m.boot && Number.isFinite(m.boot.ci[0]) && Number.isFinite(m.boot.ci[1]) ? m.boot.ci : null;
    const holmIndex = present.findIndex((p) => p.name === m.name);
    const pValueHolm = holmIndex >= 0 ? holm[holmIndex]! : null;
    // The verdict tests the Holm-adjusted p: one report judges six metrics at once, and a raw
    // p < 0.05 on each would call one of six unchanged metrics better or worse far more often
    // than 5 % of the time (profiles_ab.md: "apply Holm–Bonferroni when comparing many metrics").
    const verdict = pValueHolm === null || ci === null
      ? 'insufficient'
      : verdictOf({ sense, samplesA: m.a.length, samplesB: m.b.length, pValue: pValueHolm, ci, alpha: options.alpha, noise: options.noise });
    const spread = { a: spreadOf(m.a), b: spreadOf(m.b) };
    const worst = Math.max(spread.a ?? 0, spread.b ?? 0);
    const effect = m.ratio === null ? 0 : Math.abs(m.ratio - 1);
    const noiseWarning = verdict !== 'insufficient' && worst > effect && worst > options.noise
      ? `${m.name}: the rounds of one arm vary by ${(100 * worst).toFixed(1)} % (CV), more than the ${(100 * effect).toFixed(1)} % difference between A and B`
      : null;
    return {
      name: m.name, sense,
      a: { median: m.medA, samples: m.a },
      b: { median: m.medB, samples: m.b },
      ratio: m.ratio, ci, ciMethod: ci ? m.boot!.method : null,
      pValue: m.pValue, pValueHolm,
      verdict, spread, noiseWarning,
    };
  });
}

/** A round's histogram as cumulative counts: [i] = requests in buckets 0..i (LatencyHistogram's
 *  add: non-positive counts skipped, indexes clamped). */
function cumulativeCounts(h: SparseHistogram): Float64Array {
  const c = LatencyHistogram.from(h).counts;
  for (let i = 1; i < c.length; i++) c[i]! += c[i - 1]!;
  return c;
}

/**
 * The q-quantile of the rounds `picks` (indexes into `cums`, repeats allowed) pooled, as
 * LatencyHistogram.quantileUs gives it (the highest value of the first bucket whose cumulative
 * count reaches ⌈q·total⌉), or null when they hold no request. A binary search over the buckets
 * on the rounds' cumulative counts: the bootstrap asks this thousands of times per report, and
 * the report is made again after every round of an experiment (its saved state); pooling into a
 * new 736-bucket histogram each time took ~1.5 s of a 6-round experiment's 9 s.
 */
function pooledQuantile(cums: readonly Float64Array[], picks: ArrayLike<number>, q: number): number | null {
  const last = HISTOGRAM_LAYOUT.bucketCount - 1;
  let total = 0;
  for (let k = 0; k < picks.length; k++) total += cums[picks[k]!]![last]!;
  if (!(total > 0)) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let lo = 0;
  let hi = last;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    let seen = 0;
    for (let k = 0; k < picks.length; k++) seen += cums[picks[k]!]![mid]!;
    if (seen >= rank) hi = mid; else lo = mid + 1;
  }
  return highestEquivalentUs(lo);
}

/**
 * Per percentile: the value in each arm's pooled histogram, the ratio B/A, and a percentile
 * bootstrap over rounds (resample each arm's rounds, pool, take the percentile).
 */
export function pooledPercentiles(samples: readonly AbRoundArm[], options: AbStatisticsOptions): AbReport['percentiles'] {
  const rounds = countedRounds(samples);
  const cums = (arm: 'a' | 'b') => samples.filter((s) => s.arm === arm && rounds.has(s.round)).map((s) => cumulativeCounts(s.histogram));
  const a = cums('a');
  const b = cums('b');
  const every = (xs: readonly unknown[]) => xs.map((_, i) => i);
  const random = seededRandom(options.seed ^ 0x5bd1e995);
  const draws = Math.min(options.resamples, 1000);
  const pickA = new Uint32Array(a.length);
  const pickB = new Uint32Array(b.length);
  const pick = (into: Uint32Array) => { for (let i = 0; i < into.length; i++) into[i] = Math.floor(random() * into.length); return into; };
  return POOLED_PERCENTILES.map((p) => {
    const q = p / 100;
    const aUs = pooledQuantile(a, every(a), q);
    const bUs = pooledQuantile(b, every(b), q);
    const ratio = aUs && bUs !== null ? bUs / aUs : null;
    let ci: [number, number] | null = null;
    if (ratio !== null && a.length >= 2 && b.length >= 2) {
      const ratios: number[] = [];
      for (let i = 0; i < draws; i++) {
        const ra = pooledQuantile(a, pick(pickA), q);
        const rb = pooledQuantile(b, pick(pickB), q);
        if (ra && rb !== null) ratios.push(rb / ra);
      }
      ratios.sort((x, y) => x - y);
      if (ratios.length) ci = [ratios[Math.floor(0.025 * (ratios.length - 1))], ratios[Math.ceil(0.975 * (ratios.length - 1))]];
    }
    return { percentile: p, aUs, bUs, ratio, ci };
  });
}

/** Knob paths (leaves) whose values differ between two profiles. */
export function knobDifferences(a: Profile, b: Profile): { path: string; a: unknown; b: unknown }[] {
  const out: { path: string; a: unknown; b: unknown }[] = [];
  const skip = new Set(['name', 'description', 'kind', 'schemaVersion', '$schema']);
  const walk = (x: unknown, y: unknown, path: string[]) => {
    const isObj = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
    if (isObj(x) && isObj(y)) {
      const keys = new Set([...Object.keys(x as object), ...Object.keys(y as object)]);
      for (const k of [...keys].sort()) {
        if (path.length === 0 && skip.has(k)) continue;
        walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], [...path, k]);
      }
      return;
    }
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push({ path: path.join('.'), a: x, b: y });
  };
  walk(a, b, []);
  return out;
}

/** A round's spikes in counts and its on-CPU stacks (all phases summed), from its run's summary. */
export function roundDiagnosis(summary: RunSummary): Pick<AbRoundArm, 'spikes' | 'profile'> {
  const report = summary.spikes;
  let profile: AbRoundArm['profile'] = null;
  if (summary.profiles) {
    const stacks = new Map<string, number>();
    for (const phase of summary.profiles.phases) for (const [stack, n] of phase.folded) stacks.set(stack, (stacks.get(stack) ?? 0) + n);
    profile = topStacks(stacks);
  }
  return { spikes: report ? { found: report.spikes.length, labelled: report.labelled, byCause: { ...report.byCause } } : null, profile };
}

/** Each arm's spikes over the counted rounds (rounds whose run carried a spike report). */
export function armSpikes(samples: readonly AbRoundArm[]): NonNullable<AbReport['spikes']> {
  const rounds = countedRounds(samples);
  const of = (arm: 'a' | 'b'): AbArmSpikes => {
    const counted = samples.filter((s) => s.arm === arm && rounds.has(s.round) && s.spikes).sort((x, y) => x.round - y.round);
    const byCause: Record<string, number> = {};
    for (const s of counted) for (const [cause, n] of Object.entries(s.spikes!.byCause)) byCause[cause] = (byCause[cause] ?? 0) + n;
    return {
      rounds: counted.length,
      found: counted.reduce((n, s) => n + s.spikes!.found, 0),
      labelled: counted.reduce((n, s) => n + s.spikes!.labelled, 0),
      perRound: counted.map((s) => s.spikes!.found),
      byCause,
    };
  };
  return { a: of('a'), b: of('b') };
}

/** Each arm's on-CPU stacks pooled over its counted rounds (null when an arm has none). */
export function armProfiles(samples: readonly AbRoundArm[]): { a: [string, number][]; b: [string, number][] } | null {
  const rounds = countedRounds(samples);
  const pooled = (arm: 'a' | 'b') => {
    const stacks = new Map<string, number>();
    for (const s of samples) if (s.arm === arm && rounds.has(s.round)) for (const [stack, n] of s.profile ?? []) stacks.set(stack, (stacks.get(stack) ?? 0) + n);
    return topStacks(stacks);
  };
  const a = pooled('a');
  const b = pooled('b');
  return a.length && b.length ? { a, b } : null;
}
