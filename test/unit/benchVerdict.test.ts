/**
 * bench:engine's target verdicts (scripts/benchVerdict.mjs): a PASS or MISS is `clear` only
 * when the bootstrap interval of the ratio stays on its side of the target, and has no interval
 * with fewer rounds than the A/B statistics need.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script module, no types
import { judgeTarget, tally } from '../../scripts/benchVerdict.mjs';

type Judgement = { value: number | null; ci: [number, number] | null; confidence: string | null; verdict: string };
const judge = judgeTarget as (num: number[], den: number[], target: number | null) => Judgement;

describe('bench target verdicts', () => {
  it('a ratio well above the target in every round is a clear MISS', () => {
    const j = judge([13_000, 13_400, 12_800, 13_100, 12_900, 13_300], [10_000, 10_200, 9_900, 10_100, 9_800, 10_050], 1.0);
    expect(j.verdict).toBe('MISS');
    expect(j.value).toBeCloseTo(13_050 / 10_000, 2);
    expect(j.ci![0]).toBeGreaterThan(1.0);
    expect(j.confidence).toBe('clear');
  });

  it('rounds that straddle the target leave the verdict within noise, whichever way the median falls', () => {
    const num = [9_000, 12_000, 10_500, 8_700, 11_800, 10_400];
    const den = [10_000, 9_000, 11_500, 10_200, 9_400, 10_600];
    const j = judge(num, den, 1.0);
    expect(j.ci![0]).toBeLessThan(1.0);
    expect(j.ci![1]).toBeGreaterThan(1.0);
    expect(j.confidence).toBe('within noise');
    expect(['PASS', 'MISS']).toContain(j.verdict);
  });

  it('a clear PASS needs the whole interval at or under the target', () => {
    const j = judge([7_000, 7_100, 6_900, 7_050, 6_950, 7_000], [10_000, 10_100, 9_900, 10_050, 9_950, 10_000], 0.9);
    expect(j.verdict).toBe('PASS');
    expect(j.ci![1]).toBeLessThanOrEqual(0.9);
    expect(j.confidence).toBe('clear');
  });

  it('fewer than 6 rounds give the median verdict and no interval', () => {
    const j = judge([13_000, 13_400, 12_800], [10_000, 10_200, 9_900], 1.0);
    expect(j.verdict).toBe('MISS');
    expect(j.ci).toBeNull();
    expect(j.confidence).toBeNull();
  });

  it('without an interval, rounds on both sides of the target say so; rounds all on one side, or no target, say nothing', () => {
    const judgeRounds = judgeTarget as (num: number[], den: number[], target: number | null, o: { perRound: number[] }) => Judgement;
    // bench:engine's 1 × 64 KiB on 2026-12-06: a MISS by the median of three rounds, one of which passed.
    const split = judgeRounds([25_852, 21_700, 26_900], [21_184, 25_800, 21_180], 1.0, { perRound: [1.22, 0.84, 1.27] });
    expect(split).toMatchObject({ verdict: 'MISS', ci: null, confidence: 'rounds on both sides' });
    // A round exactly at the target passes it.
    expect(judgeRounds([10_000, 12_000, 12_500], [10_000, 10_000, 10_000], 1.0, { perRound: [1.0, 1.2, 1.25] }).confidence).toBe('rounds on both sides');
    expect(judgeRounds([12_000, 12_500, 12_200], [10_000, 10_000, 10_000], 1.0, { perRound: [1.2, 1.25, 1.22] }).confidence).toBeNull();
    expect(judgeRounds([12_000, 8_000, 12_200], [10_000, 10_000, 10_000], null, { perRound: [1.2, 0.8, 1.22] }).confidence).toBeNull();
    // With an interval the interval decides, whatever single rounds did.
    const six = judgeRounds([13_000, 13_400, 12_800, 13_100, 12_900, 13_300], [10_000, 10_200, 9_900, 10_100, 9_800, 10_050], 1.0, { perRound: [1.3, 0.9, 1.3, 1.3, 1.3, 1.3] });
    expect(six.confidence).toBe('clear');
  });

  it('a constant baseline (the issue\'s ns) is judged on the numerator\'s own spread', () => {
    const j = judge([5_300, 5_400, 5_350, 5_450, 5_320, 5_380], [12_500], 0.45);
    expect(j.value).toBeCloseTo(5_365 / 12_500, 3);
    expect(j.verdict).toBe('PASS');
    expect(j.ci![1]).toBeLessThan(0.45);
    // One round over the target is enough to put it within noise.
    expect(judge([5_300, 5_400, 5_350, 5_450, 5_320, 5_900], [12_500], 0.45).confidence).toBe('within noise');
    expect(j.confidence).toBe('clear');
  });

  it('no rounds on a side is n/a; no target is info with no confidence', () => {
    expect(judge([], [10_000], 1.0).verdict).toBe('n/a');
    expect(judge([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], null)).toMatchObject({ verdict: 'info', confidence: null });
  });

  it('the tally splits PASS and MISS into clear and within noise', () => {
    const line = (tally as (j: Partial<Judgement>[]) => string)([
      { verdict: 'PASS', confidence: 'clear' }, { verdict: 'MISS', confidence: 'within noise' },
      { verdict: 'MISS', confidence: 'clear' }, { verdict: 'MISS', confidence: null }, { verdict: 'n/a', confidence: null },
    ]);
    expect(line).toBe('1 PASS (1 clear, 0 within noise), 3 MISS (1 clear, 1 within noise, 1 without an interval), 1 n/a');
    expect((tally as (j: Partial<Judgement>[]) => string)([{ verdict: 'PASS', confidence: null }])).toBe('1 PASS, 0 MISS, 0 n/a');
    // Without intervals (fewer than 6 rounds): the verdicts whose rounds disagreed, counted apart.
    expect((tally as (j: Partial<Judgement>[]) => string)([
      { verdict: 'PASS', confidence: null }, { verdict: 'MISS', confidence: 'rounds on both sides' },
      { verdict: 'MISS', confidence: 'rounds on both sides' }, { verdict: 'MISS', confidence: null },
    ])).toBe('1 PASS, 3 MISS (2 with rounds on both sides of the target, 1 with every round on its side), 0 n/a');
  });
});
