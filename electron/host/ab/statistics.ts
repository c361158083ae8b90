/**
 * The statistics of an A/B experiment, the way benchstat and Criterion judge benchmarks
 * (../shared/reference/profiles_ab.md §3): per arm the median of the rounds; the ratio B/A of
 * the medians with a seeded bootstrap 95 % confidence interval (BCa, ≥ 2,000 resamples, so a
 * report is reproducible); a two-sided Mann–Whitney U test; and a verdict that needs both a
 * significant test and a CI clear of the noise band (±2 % by default), so a tiny difference
 * that happens to be significant is not sold as a win.
 *
 * simple-statistics (small, typed, maintained) gives the rank sum with tie-averaged ranks,
 * medians, quantiles and erf; what it lacks, or does too coarsely for a CI (its probit is off
 * by ~2e-3 at 0.975), is written here and pinned to published reference values in
 * test/unit/abStatistics.test.ts.
 */
import { coefficientOfVariation, errorFunction, median, wilcoxonRankSum } from 'simple-statistics';

/** A seeded PRNG (mulberry32): uniform in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Φ(z), the standard normal CDF (erf from simple-statistics: |error| < 1.2e-7). */
export function normalCdf(z: number): number {
  return 0.5 * (1 + errorFunction(z / Math.SQRT2));
}

/**
 * Φ⁻¹(p), the standard normal quantile: Acklam's rational approximation (relative error
 * < 1.15e-9), enough for CI bounds; simple-statistics' probit is not.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return -Infinity;
    if (p === 1) return Infinity;
    throw new RangeError(`normalQuantile: p must be in [0, 1], got ${p}`);
  }
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

export interface MannWhitneyResult {
  /** U of sample A: the number of (a, b) pairs with a > b, ties counting ½. */
  u: number;
  /** Two-sided p-value. */
  pValue: number;
  /** 'exact' (no ties, both samples ≤ 50: the permutation distribution), or 'normal' (tie-corrected, continuity-corrected). */
  method: 'exact' | 'normal';
}

/**
 * Counts of U = 0..n·m over all C(n+m, n) orderings without ties (the exact null
 * distribution), by the classic recursion f(n, m, u) = f(n-1, m, u-m) + f(n, m-1, u).
 */
function exactUCounts(n: number, m: number): number[] {
  // table[j][u]: counts for (i, j) while i grows; start with i = 0: U is always 0.
  let table: number[][] = Array.from({ length: m + 1 }, () => [1]);
  for (let i = 1; i <= n; i++) {
    const next: number[][] = [];
    for (let j = 0; j <= m; j++) {
      const size = i * j + 1;
      const row = new Array<number>(size).fill(0);
      // The largest value is either from A (adds j to U: the A item exceeds all j B items)...
      const fromA = table[j];
      for (let u = 0; u < fromA.length; u++) row[u + j] += fromA[u];
      // ...or from B (U unchanged).
      if (j > 0) {
        const fromB = next[j - 1];
        for (let u = 0; u < fromB.length; u++) row[u] += fromB[u];
      }
      next.push(row);
    }
    table = next;
  }
  return table[m];
}

/** Two-sided Mann–Whitney U test of samples A and B (scipy's mannwhitneyu, method 'auto'). */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): MannWhitneyResult {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) return { u: NaN, pValue: NaN, method: 'normal' };
  const rankSumA = wilcoxonRankSum([...a], [...b]);
  const u = rankSumA - (n * (n + 1)) / 2;
  const all = [...a, ...b].sort((x, y) => x - y);
  let tieTerm = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j] === all[i]) j++;
    const t = j - i;
    tieTerm += t * t * t - t;
    i = j;
  }
  const mean = (n * m) / 2;
  if (tieTerm === 0 && n <= 50 && m <= 50) {
    const counts = exactUCounts(n, m);
    const total = counts.reduce((s, c) => s + c, 0);
    // The distribution is symmetric around n·m/2: the two-sided p doubles the smaller tail.
    const k = Math.round(Math.max(u, n * m - u));
    let upper = 0;
    for (let v = k; v < counts.length; v++) upper += counts[v];
    return { u, pValue: Math.min(1, (2 * upper) / total), method: 'exact' };
  }
  const N = n + m;
  const variance = ((n * m) / 12) * (N + 1 - tieTerm / (N * (N - 1)));
  if (variance <= 0) return { u, pValue: 1, method: 'normal' }; // every value tied: no evidence either way
  const z = Math.max(0, Math.abs(u - mean) - 0.5) / Math.sqrt(variance);
  return { u, pValue: Math.min(1, 2 * (1 - normalCdf(z))), method: 'normal' };
}

export interface RatioInterval {
  /** stat(B) / stat(A) on the samples themselves. */
  ratio: number;
  /** [low, high] at `confidence`. */
  ci: [number, number];
  method: 'bca' | 'percentile';
  resamples: number;
}

export interface BootstrapOptions {
  resamples?: number;
  confidence?: number;
  seed?: number;
  /** The statistic of each arm (default: the median). */
  statistic?: (xs: number[]) => number;
}

function resample(xs: readonly number[], random: () => number): number[] {
  const out = new Array<number>(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = xs[Math.floor(random() * xs.length)];
  return out;
}

/** The q-quantile of sorted values, interpolated (type 7, as numpy's default). */
function sortedQuantile(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Bootstrap CI of stat(B)/stat(A): each resample draws A and B apart (two independent
 * samples), BCa-corrected (Efron 1987: bias z0 from the share of resampled ratios below the
 * observed one, acceleration from a jackknife over both samples). Where BCa is undefined (every
 * resample on one side of the estimate, e.g. a median of a handful of ties), the percentile
 * interval is given and says so.
 */
export function bootstrapRatio(a: readonly number[], b: readonly number[], options: BootstrapOptions = {}): RatioInterval {
  const resamples = options.resamples ?? 2000;
  const confidence = options.confidence ?? 0.95;
  const stat = options.statistic ?? ((xs: number[]) => median(xs));
  const random = seededRandom(options.seed ?? 1);
  const ratioOf = (xa: number[], xb: number[]) => stat(xb) / stat(xa);
  const ratio = ratioOf([...a], [...b]);
  const boots: number[] = [];
  for (let i = 0; i < resamples; i++) {
    const r = ratioOf(resample(a, random), resample(b, random));
    if (Number.isFinite(r)) boots.push(r);
  }
  boots.sort((x, y) => x - y);
  const alpha = (1 - confidence) / 2;
  const percentile: RatioInterval = { ratio, ci: [sortedQuantile(boots, alpha), sortedQuantile(boots, 1 - alpha)], method: 'percentile', resamples };
  if (boots.length < resamples * 0.9 || !Number.isFinite(ratio)) return percentile;

  // Bias correction: ties with the estimate count half (median resamples often equal it).
  let below = 0;
  for (const r of boots) below += r < ratio ? 1 : r === ratio ? 0.5 : 0;
  const z0 = normalQuantile(below / boots.length);
  if (!Number.isFinite(z0)) return percentile;

  // Acceleration from the jackknife over every observation of both samples.
  const jack: number[] = [];
  for (let i = 0; i < a.length; i++) jack.push(ratioOf(a.filter((_, k) => k !== i), [...b]));
  for (let i = 0; i < b.length; i++) jack.push(ratioOf([...a], b.filter((_, k) => k !== i)));
  const jm = jack.reduce((s, x) => s + x, 0) / jack.length;
  let num = 0;
  let den = 0;
  for (const x of jack) {
    const d = jm - x;
    num += d * d * d;
    den += d * d;
  }
  const acc = den > 0 ? num / (6 * den ** 1.5) : 0;
  const adjusted = (q: number) => {
    const z = normalQuantile(q);
    return normalCdf(z0 + (z0 + z) / (1 - acc * (z0 + z)));
  };
  const lo = adjusted(alpha);
  const hi = adjusted(1 - alpha);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return percentile;
  return { ratio, ci: [sortedQuantile(boots, lo), sortedQuantile(boots, hi)], method: 'bca', resamples };
}

export type Verdict = 'better' | 'worse' | '~' | 'insufficient';
/** Which way is good: throughput up, latency and CPU down. */
export type MetricSense = 'higher' | 'lower';

/** Rounds per arm below which a comparison is `insufficient`: a 95 % CI needs ≥ 6 (benchstat). */
export const MIN_SAMPLES_PER_ARM = 6;

export interface VerdictInput {
  sense: MetricSense;
  samplesA: number;
  samplesB: number;
  pValue: number;
  ci: [number, number];
  alpha?: number;
  /** Relative noise band: a CI that reaches into ±noise is `~` even when p < alpha. */
  noise?: number;
}

/**
 * `insufficient` with too few rounds; `~` unless the U test is significant AND the whole CI
 * lies past the noise band on one side (Criterion's rule); else `better`/`worse` in the
 * metric's own sense.
 */
export function verdictOf(input: VerdictInput): Verdict {
  const alpha = input.alpha ?? 0.05;
  const noise = input.noise ?? 0.02;
  if (input.samplesA < MIN_SAMPLES_PER_ARM || input.samplesB < MIN_SAMPLES_PER_ARM) return 'insufficient';
  if (!(input.pValue < alpha)) return '~';
  const [lo, hi] = input.ci;
  const up = lo > 1 + noise;
  const down = hi < 1 - noise;
  if (!up && !down) return '~';
  const improved = input.sense === 'higher' ? up : down;
  return improved ? 'better' : 'worse';
}

/** Holm–Bonferroni adjusted p-values (same order as given), for many metrics at once. */
export function holmAdjust(pValues: readonly number[]): number[] {
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p);
  const out = new Array<number>(pValues.length);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (pValues.length - rank) * p));
    out[i] = running;
  });
  return out;
}

/** Coefficient of variation (sample sd / mean) of one arm's rounds: its A/A spread; null under 2 samples. */
export function spreadOf(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const cv = coefficientOfVariation([...xs]);
  return Number.isFinite(cv) ? Math.abs(cv) : null;
}
