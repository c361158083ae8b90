// A benchmark target ("this ratio ≤ target") judged the way the A/B view judges a difference:
// the ratio of medians, and where both sides have enough rounds, the bootstrap 95 % confidence
// interval of that ratio (the A/B statistics' BCa bootstrap, dist/electron/host/ab/statistics.js).
// A PASS or MISS whose interval lies wholly on its own side of the target is `clear`; one whose
// interval holds the target is `within noise`: on a machine whose same-configuration rounds
// move by half, a median ratio of 1.05 against a target of 1.00 says nothing either way, and
// the bench must not sell it as a miss or a pass.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const { bootstrapRatio, MIN_SAMPLES_PER_ARM } = require(path.join(root, 'dist/electron/host/ab/statistics.js'));
const { median } = require('simple-statistics');

export { MIN_SAMPLES_PER_ARM };

/**
 * num / den against `target` (null: no target, for reference only). `num` and `den` are the
 * rounds' values (a lower ratio is better); a constant baseline is given as one value in `den`.
 * Returns { value, ci, confidence, verdict, rounds }:
 *   value       median(num) / median(den), or null when either side has no rounds;
 *   ci          [low, high] 95 % bootstrap interval of that ratio, or null with fewer than
 *               MIN_SAMPLES_PER_ARM rounds on a side that varies (a constant has no spread);
 *   verdict     'PASS' (value ≤ target), 'MISS', 'info' (no target) or 'n/a' (no value);
 *   confidence  'clear' (the interval is on the verdict's side of the target), 'within noise'
 *               (it holds the target), 'rounds on both sides' (no interval, but the rounds'
 *               own ratios, `perRound`, fell on both sides of the target: too few rounds to
 *               call, and they already disagree), or null (no interval, or no target).
 */
export function judgeTarget(num, den, target, { seed = 1, perRound = [] } = {}) {
  const a = num.filter((x) => Number.isFinite(x) && x > 0);
  const b = den.filter((x) => Number.isFinite(x) && x > 0);
  const rounds = { num: a.length, den: b.length };
  if (!a.length || !b.length) return { value: null, ci: null, confidence: null, verdict: target === null ? 'info' : 'n/a', rounds };
  const value = median(a) / median(b);
  const verdict = target === null ? 'info' : value <= target ? 'PASS' : 'MISS';
  const constantDen = b.length === 1;
  let ci = null;
  if (a.length >= MIN_SAMPLES_PER_ARM && (constantDen || b.length >= MIN_SAMPLES_PER_ARM)) {
    // A constant baseline is resampled as itself: the interval is then the numerator's alone.
    const base = constantDen ? new Array(a.length).fill(b[0]) : b;
    ci = bootstrapRatio(base, a, { seed }).ci;
  }
  let confidence = null;
  if (ci && target !== null) {
    const clear = verdict === 'PASS' ? ci[1] <= target : ci[0] > target;
    confidence = clear ? 'clear' : 'within noise';
  } else if (target !== null && perRound.some((r) => r <= target) && perRound.some((r) => r > target)) {
    // Three rounds of 0.84, 1.22 and 1.27 against 1.00 are a MISS by their median, but one of
    // them passed: the verdict must not read like one whose rounds all agree.
    confidence = 'rounds on both sides';
  }
  return { value, ci, confidence, verdict, rounds };
}

/** The one-line tally of many judgements: PASS and MISS, each split into clear and within noise
 *  (with intervals), or into those whose rounds fell on both sides of the target (without). */
export function tally(judgements) {
  const count = (verdict, confidence) => judgements.filter((j) => j.verdict === verdict && (confidence === undefined || j.confidence === confidence)).length;
  const split = (verdict) => {
    const all = count(verdict);
    const clear = count(verdict, 'clear');
    const noise = count(verdict, 'within noise');
    const both = count(verdict, 'rounds on both sides');
    const rest = all - clear - noise - both;
    const bothWords = both ? `${both} with rounds on both sides of the target` : '';
    if (clear + noise) return `${all} ${verdict} (${clear} clear, ${noise} within noise${both ? `, ${bothWords}` : ''}${rest ? `, ${rest} without an interval` : ''})`;
    return both ? `${all} ${verdict} (${bothWords}${rest ? `, ${rest} with every round on its side` : ''})` : `${all} ${verdict}`;
  };
  return `${split('PASS')}, ${split('MISS')}, ${count('n/a')} n/a`;
}
