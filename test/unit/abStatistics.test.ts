/**
 * The A/B statistics against published reference values: scipy's mannwhitneyu documentation
 * example, the Mann–Whitney critical-value table, the normal quantiles every table prints,
 * Holm's adjustment as R's p.adjust gives it; the bootstrap by its coverage on samples whose
 * true ratio is known, and by its reproducibility from a seed.
 */
import { describe, expect, it } from 'vitest';
import { bootstrapRatio, holmAdjust, mannWhitneyU, normalCdf, normalQuantile, seededRandom, spreadOf, verdictOf } from '../../electron/host/ab/statistics';
import { metricsOf, POOLED_PERCENTILES, pooledPercentiles } from '../../electron/host/ab/report';
import { HISTOGRAM_LAYOUT, LatencyHistogram, type SparseHistogram } from '../../electron/contract';
import type { AbRoundArm } from '../../electron/contract/ab';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAbExperiment, type ArmRunner } from '../../electron/host/ab/runner';
import { formatAbReport } from '../../electron/host/ab/abCommand';
import { abReportHtml } from '../../electron/host/ab/html';
import { parseProfile } from '../../electron/host/profiles';

describe('normal distribution', () => {
  it('Φ⁻¹ matches the tables to 1e-8', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 8);
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536269514722, 8);
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306167813, 7);
    expect(normalQuantile(1e-6)).toBeCloseTo(-4.753424308822899, 6);
  });
  it('Φ matches the tables to 1e-6 and inverts Φ⁻¹', () => {
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-1)).toBeCloseTo(0.15865525393145707, 6);
    for (const p of [0.01, 0.2, 0.6, 0.99]) expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 6);
  });
});

describe('Mann–Whitney U', () => {
  // scipy.stats.mannwhitneyu docs: males vs females, U1 = 17, exact two-sided p = 0.1111.
  const males = [19, 22, 16, 29, 24];
  const females = [20, 11, 17, 12];
  it('scipy example: U = 17, exact p = 1/9', () => {
    const r = mannWhitneyU(males, females);
    expect(r.u).toBe(17);
    expect(r.method).toBe('exact');
    expect(r.pValue).toBeCloseTo(0.1111111111111111, 12);
  });
  it('scipy example, asymptotic (a tie forces it): p = 0.11134688653314041 without the tie', () => {
    // With a tie added the normal approximation is used; without ties its value equals scipy's
    // method="asymptotic" result, checked through the same formula on a tie-free copy.
    const tied = mannWhitneyU([...males, 20], females);
    expect(tied.method).toBe('normal');
    // Tie-free normal approximation equals scipy's asymptotic p for the docs example.
    const n = 5, m = 4, u = 17;
    const z = (Math.abs(u - (n * m) / 2) - 0.5) / Math.sqrt((n * m * (n + m + 1)) / 12);
    expect(2 * (1 - normalCdf(z))).toBeCloseTo(0.11134688653314041, 6);
  });
  it('the critical-value table: n1 = n2 = 10, α = 0.05 two-sided, U ≤ 23 is significant and 24 is not', () => {
    // Arrange samples to produce a given U: A's values interleaved with B's.
    const withU = (target: number) => {
      // B = 0..9 (×10 spacing); A items placed to exceed exactly `target` B items in total.
      const b = Array.from({ length: 10 }, (_, i) => i * 10);
      const a: number[] = [];
      let left = target;
      for (let i = 0; i < 10; i++) {
        const above = Math.min(10, left);
        left -= above;
        a.push(above === 0 ? -5 - i * 0.01 : (above - 1) * 10 + 5 + i * 0.01);
      }
      return { a, b };
    };
    for (const [u, significant] of [[23, true], [24, false], [77, true], [76, false]] as const) {
      const { a, b } = withU(u);
      const r = mannWhitneyU(a, b);
      expect(r.u).toBe(u);
      expect(r.pValue < 0.05).toBe(significant);
    }
  });
  it('n = 4 per arm is the smallest that can reach p < 0.05 (benchstat): p = 0.0286 at the extreme', () => {
    expect(mannWhitneyU([1, 2, 3, 4], [5, 6, 7, 8]).pValue).toBeCloseTo(0.02857142857, 8);
    expect(mannWhitneyU([1, 2, 3], [5, 6, 7]).pValue).toBeCloseTo(0.1, 8);
  });
  it('identical samples: p = 1', () => {
    expect(mannWhitneyU([5, 5, 5, 5, 5, 5], [5, 5, 5, 5, 5, 5]).pValue).toBe(1);
  });
});

describe('bootstrap ratio CI', () => {
  it('is reproducible from its seed, and changes with it', () => {
    const rnd = seededRandom(7);
    const a = Array.from({ length: 12 }, () => 100 + 10 * rnd());
    const b = Array.from({ length: 12 }, () => 110 + 10 * rnd());
    const one = bootstrapRatio(a, b, { seed: 42 });
    expect(bootstrapRatio(a, b, { seed: 42 })).toEqual(one);
    expect(bootstrapRatio(a, b, { seed: 43 }).ci).not.toEqual(one.ci);
    expect(one.resamples).toBe(2000);
    expect(one.ci[0]).toBeLessThan(one.ratio);
    expect(one.ci[1]).toBeGreaterThan(one.ratio);
  });
  it('covers the true ratio of medians in about 95 % of experiments (normal samples, true ratio 1.1)', () => {
    const rnd = seededRandom(2024);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
    let covered = 0;
    const trials = 200;
    for (let t = 0; t < trials; t++) {
      const a = Array.from({ length: 20 }, () => 100 + 5 * gauss());
      const b = Array.from({ length: 20 }, () => 110 + 5 * gauss());
      const { ci } = bootstrapRatio(a, b, { seed: t + 1, resamples: 1000 });
      if (ci[0] <= 1.1 && 1.1 <= ci[1]) covered++;
    }
    // Binomial(200, 0.95): 3 sd is ±9 experiments; medians of 20 make BCa a little liberal.
    expect(covered / trials).toBeGreaterThan(0.88);
    expect(covered / trials).toBeLessThanOrEqual(1);
  });
});

describe('verdict', () => {
  const base = { samplesA: 10, samplesB: 10, pValue: 0.001 };
  it('needs enough samples, significance and a CI past the noise band', () => {
    expect(verdictOf({ ...base, sense: 'higher', ci: [1.05, 1.1], samplesA: 5 })).toBe('insufficient');
    expect(verdictOf({ ...base, sense: 'higher', ci: [1.05, 1.1], pValue: 0.2 })).toBe('~');
    expect(verdictOf({ ...base, sense: 'higher', ci: [1.01, 1.1] })).toBe('~'); // reaches into ±2 %
    expect(verdictOf({ ...base, sense: 'higher', ci: [1.03, 1.1] })).toBe('better');
    expect(verdictOf({ ...base, sense: 'higher', ci: [0.8, 0.9] })).toBe('worse');
    expect(verdictOf({ ...base, sense: 'lower', ci: [0.8, 0.9] })).toBe('better'); // latency fell
    expect(verdictOf({ ...base, sense: 'lower', ci: [1.05, 1.2] })).toBe('worse');
  });
});

describe('Holm and spread', () => {
  it("Holm's adjustment as R's p.adjust(method = 'holm')", () => {
    // p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") = 0.03 0.06 0.06 0.02
    const adj = holmAdjust([0.01, 0.04, 0.03, 0.005]);
    expect(adj.map((p) => Number(p.toFixed(10)))).toEqual([0.03, 0.06, 0.06, 0.02]);
  });
  it('spread is the coefficient of variation', () => {
    expect(spreadOf([10])).toBeNull();
    expect(spreadOf([9, 10, 11])).toBeCloseTo(0.1, 10);
  });
});

describe('pooled percentiles (A/B report)', () => {
  /** The definition: each arm's rounds (resampled with replacement for the interval) pooled into
   *  one LatencyHistogram, its quantile; the same seeded draws as the report's. */
  function reference(samples: AbRoundArm[], seed: number, resamples: number) {
    const pooled = (hs: SparseHistogram[], q: number) => {
      const h = new LatencyHistogram();
      for (const x of hs) h.add(x);
      return h.total > 0 ? h.quantileUs(q) : null;
    };
    const a = samples.filter((s) => s.arm === 'a').map((s) => s.histogram);
    const b = samples.filter((s) => s.arm === 'b').map((s) => s.histogram);
    const random = seededRandom(seed ^ 0x5bd1e995);
    return POOLED_PERCENTILES.map((p) => {
      const q = p / 100;
      const aUs = pooled(a, q);
      const bUs = pooled(b, q);
      const ratios: number[] = [];
      const pick = (xs: SparseHistogram[]) => xs.map(() => xs[Math.floor(random() * xs.length)]!);
      for (let i = 0; i < Math.min(resamples, 1000); i++) {
        const ra = pooled(pick(a), q);
        const rb = pooled(pick(b), q);
        if (ra && rb !== null) ratios.push(rb / ra);
      }
      ratios.sort((x, y) => x - y);
      return { p, aUs, bUs, ci: [ratios[Math.floor(0.025 * (ratios.length - 1))], ratios[Math.ceil(0.975 * (ratios.length - 1))]] };
    });
  }

  it('equal the arms\' rounds pooled into one histogram, and their bootstrap draws the same', () => {
    const random = seededRandom(5);
    for (let trial = 0; trial < 12; trial++) {
      const samples: AbRoundArm[] = [];
      const rounds = 2 + Math.floor(random() * 8);
      for (let round = 0; round < rounds; round++) {
        for (const arm of ['a', 'b'] as const) {
          const base = 40 + Math.floor(random() * 400);
          const histogram: SparseHistogram = [];
          // Empty buckets, zero counts and an index past the layout's end (clamped) included.
          for (let i = 0; i < 30; i++) if (random() < 0.7) histogram.push([base + i * 3, random() < 0.1 ? 0 : Math.floor(random() * 500)]);
          if (trial % 4 === 0) histogram.push([HISTOGRAM_LAYOUT.bucketCount + 5, 3]);
          samples.push({ round, arm, status: 'completed', requests: 1, histogram } as unknown as AbRoundArm);
        }
      }
      const got = pooledPercentiles(samples, { seed: trial, resamples: 400, alpha: 0.05, noise: 0.02 });
      const want = reference(samples, trial, 400);
      expect(got.map((g) => [g.percentile, g.aUs, g.bUs, g.ci])).toEqual(want.map((w) => [w.p, w.aUs, w.bUs, w.ci]));
    }
  });
});

describe('verdicts over six metrics at once', () => {
  // One report judges six metrics: a raw p < 0.05 on each called an unchanged metric better or
  // worse far more often than 5 % of the time. Here throughput's raw p is 0.016, its Holm p 0.097.
  it('gate on the Holm-adjusted p: a raw p < 0.05 that Holm lifts above 0.05 is "~"', () => {
    const A = [100, 101, 102, 103, 104, 105];
    const B = [112, 113, 114, 115, 116, 103];
    const arm = (a: 'a' | 'b', round: number, throughput: number): AbRoundArm => ({
      round, arm: a, order: round * 2 + (a === 'a' ? 0 : 1), runId: `r${round}${a}`, status: 'completed', failure: null,
      measuredS: 1, requests: 1000, errors: 0,
      // Every other metric the same in both arms (with a little spread, so the tests are defined).
      metrics: { throughputRps: throughput, p50Us: 50 + round, p99Us: 90 + round, p999Us: 120 + round, serverCpuNsPerReq: 5000 + round, loadCpuNsPerReq: 4000 + round },
      histogram: { offset: 0, counts: [] } as unknown as SparseHistogram, kernel: null, frames: [],
    });
    const samples = A.flatMap((t, r) => [arm('a', r, t), arm('b', r, B[r]!)]);
    const metrics = metricsOf(samples, { seed: 1, resamples: 2000, alpha: 0.05, noise: 0.02 });
    const tp = metrics.find((m) => m.name === 'throughputRps')!;
    expect(tp.pValue).toBeLessThan(0.05);
    expect(tp.pValueHolm).toBeGreaterThan(0.05);
    expect(tp.ci![0]).toBeGreaterThan(1.02);
    expect(tp.verdict).toBe('~');
    // The same data with a clear effect on every round: Holm keeps it.
    const clear = A.flatMap((t, r) => [arm('a', r, t), arm('b', r, t + 12)]);
    expect(metricsOf(clear, { seed: 1, resamples: 2000, alpha: 0.05, noise: 0.02 }).find((m) => m.name === 'throughputRps')!.verdict).toBe('better');
  });
});

describe('what the report compares when an arm never ran', () => {
  // The report compared A as applied (or as the experiment ran it) with B's file as given:
  // "duration.measureS A 1 B 10" (the experiment's --duration replaces both) and echo-only knobs
  // a storage run never uses, labelled "(applied)". Now: both requested, as the experiment would
  // have run them, and said to be requested.
  it('compares both profiles as the experiment would have run them, and says so', async () => {
    const runtime = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-ab-unit-'));
    try {
      const base = { kind: 'uring-lab/profile', schemaVersion: 1, workload: 'storage' };
      const a = parseProfile({ ...base, name: 'A', server: { multishot: false, numa: { cpus: [0] } }, duration: { warmupS: 0, measureS: 1 } });
      const b = parseProfile({ ...base, name: 'B', storage: { queueDepth: 64 }, duration: { warmupS: 3, measureS: 10 } });
      const never: ArmRunner = {
        runArm: () => Promise.reject(Object.assign(new Error('the engine could not start'), { code: 'ENGINE_START' })),
        interrupt: async () => undefined,
      };
      const report = await startAbExperiment({ a, b, rounds: 1, durationS: 0.5, warmupS: 0, activeRunsDir: path.join(runtime, 'active') }, never).report;
      expect(report.status).toBe('failed');
      expect(report.knobDiffBasis).toBe('requested');
      expect(report.knobDiff).toEqual([{ path: 'storage.queueDepth', a: 32, b: 64 }]);
      expect(report.identicalAfterRefusals).toBe(false);
      expect(report.warnings.join('\n')).toMatch(/neither arm ran: the knobs compared are the requested ones/);
      expect(formatAbReport(report)).toMatch(/knobs that differ \(requested, not applied: an arm never ran\):\n {2}storage\.queueDepth: A 32 {2}B 64\n/);
      expect(abReportHtml(report)).toContain('Knobs that differ (as requested: an arm never ran)');
    } finally {
      rmSync(runtime, { recursive: true, force: true });
    }
  });
});
