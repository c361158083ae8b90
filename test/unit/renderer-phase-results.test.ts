import { describe, expect, it } from 'vitest';
import { highestEquivalentUs, type Phase, type PhaseResult, type RunFrame } from '../../electron/contract';
import { knobChangeText, phaseLabel, refusedKnobText } from '../../renderer/src/format/knobText';
import {
  DELTA_NEUTRAL_BAND,
  PhaseTally,
  phaseDelta,
  phaseRowsFromSummary,
  phaseRowsFromTallies,
  ratiosVsPhase0,
} from '../../renderer/src/stores/phaseRows';
import { bucketOf, runFrame, sqpollPhase } from './renderer-fixtures';

const phase = (index: number, changed: Phase['changed'] = []): Phase => sqpollPhase(index, false, { changed });

const frame = (seq: number, phaseIndex: number, opts: Partial<RunFrame> = {}): RunFrame =>
  runFrame({
    runId: 'r',
    seq,
    phase: phaseIndex,
    tMs: (seq + 1) * 100,
    requests: 1000,
    bytes: 128_000,
    throughputRps: 10_000,
    latencyUs: { p50: 50, p99: 90, max: 200, p99Corrected: 90 },
    histogram: [
      [bucketOf(50), 900],
      [bucketOf(90), 90],
      [bucketOf(200), 10],
    ],
    serverCpuNs: 2_000_000,
    loadCpuNs: 3_000_000,
    inFlight: 10,
    oldestInFlightUs: 100,
    loadBusyShare: 0.5,
    ...opts,
  });

describe('knob words', () => {
  it('takes labels and values from the knob catalogue', () => {
    expect(knobChangeText({ path: 'server.sqpoll.enabled', from: false, to: true })).toBe('SQPOLL off → on');
    expect(knobChangeText({ path: 'server.ringEntries', from: 4096, to: 256 })).toBe('Ring entries 4,096 → 256');
    expect(knobChangeText({ path: 'server.sqpoll.cpu', from: null, to: 3 })).toBe('SQPOLL CPU any → 3');
    expect(knobChangeText({ path: 'server.bufferRing.size', from: 2048, to: 4096 })).toBe('Buffer size 2,048 B → 4,096 B');
    expect(refusedKnobText({ knob: 'server.sqpoll.enabled', requested: true, errno: 1, code: 'EPERM', reason: '' })).toBe('SQPOLL on refused (EPERM)');
    expect(phaseLabel(phase(2, [{ path: 'server.sqpoll.enabled', from: true, to: false }]))).toBe('SQPOLL off');
  });
});

describe('per-phase results from frames', () => {
  it('sums measured frames only, with the summary rules for rates and percentiles', () => {
    const t = new PhaseTally(0);
    t.add(frame(0, 0, { measuring: false, requests: 99_999 })); // warm-up: left out
    expect(t.stats()).toBeNull();
    t.add(frame(1, 0));
    t.add(frame(2, 0, { intervalMs: 50, requests: 250 })); // a short last frame counts by its real interval
    const s = t.stats()!;
    expect(s.requests).toBe(1250);
    expect(s.measuredS).toBeCloseTo(0.15);
    expect(s.throughputRps).toBeCloseTo(1250 / 0.15);
    expect(s.latencyUs.p50).toBe(highestEquivalentUs(bucketOf(50)));
    expect(s.latencyUs.p99).toBe(highestEquivalentUs(bucketOf(90)));
    expect(s.latencyUs.p999).toBe(highestEquivalentUs(bucketOf(200)));
    expect(s.serverCpuNsPerReq).toBeCloseTo(4_000_000 / 1250);
    expect(s.loadCpuNsPerReq).toBeCloseTo(6_000_000 / 1250);
  });

  it('makes one row per phase with ratios to phase 0, phases without measured frames included', () => {
    const tallies = new Map<number, PhaseTally>();
    const add = (f: RunFrame) => {
      if (!tallies.has(f.phase)) tallies.set(f.phase, new PhaseTally(f.phase));
      tallies.get(f.phase)!.add(f);
    };
    for (let i = 0; i < 10; i++) add(frame(i, 0));
    for (let i = 10; i < 20; i++) add(frame(i, 1, { requests: 1200, serverCpuNs: 1_200_000, histogram: [[bucketOf(40), 1000]] }));
    const sqpollOn = [{ path: 'server.sqpoll.enabled', from: false, to: true }];
    const rows = phaseRowsFromTallies([phase(0), phase(1, sqpollOn), phase(2, [{ path: 'server.sqpoll.enabled', from: true, to: false }])], tallies);
    expect(rows.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(rows[0]!.vsPhase0).toBeNull();
    expect(rows[1]!.changed).toEqual(sqpollOn);
    expect(rows[1]!.vsPhase0!.throughputRps).toBeCloseTo(1.2);
    expect(rows[1]!.vsPhase0!.serverCpuNsPerReq).toBeCloseTo(1000 / 2000);
    expect(rows[1]!.vsPhase0!.p50).toBeCloseTo(highestEquivalentUs(bucketOf(40)) / highestEquivalentUs(bucketOf(50)));
    expect(rows[2]!.stats).toBeNull(); // just started: nothing measured yet
    expect(rows[2]!.vsPhase0).toBeNull();
    expect(rows[1]!.latency.total).toBe(10_000);
  });

  it('takes rows from the summary as they are', () => {
    const stats = { measuredS: 2, requests: 100, errors: 0, throughputRps: 50, latencyUs: { p50: 1, p90: 2, p99: 3, p999: 4, max: 5, mean: 1 }, serverCpuNsPerReq: 10, loadCpuNsPerReq: 20 };
    const result = (index: number): PhaseResult => ({
      ...phase(index),
      endMs: index * 1000 + 1000,
      stats,
      vsPhase0: index ? { throughputRps: 1.1, p50: 1, p99: 0.9, p999: null, serverCpuNsPerReq: 1 } : null,
      histogram: [[bucketOf(3), 100]],
      engine: null,
    });
    const rows = phaseRowsFromSummary({ phases: [result(1), result(0)] });
    expect(rows.map((r) => r.index)).toEqual([0, 1]);
    expect(rows[1]!.stats).toBe(stats);
    expect(rows[1]!.vsPhase0!.throughputRps).toBe(1.1);
    expect(rows[1]!.latency.total).toBe(100);
    expect(phaseRowsFromSummary({ phases: [{ ...result(0), stats: { ...stats, measuredS: 0, requests: 0 } }] })[0]!.stats).toBeNull();
  });

  it('colours Δ in the metric’s own sense, with a neutral band', () => {
    expect(phaseDelta(1.2, 'higher')).toEqual({ text: '+20.0 %', verdict: 'better' });
    expect(phaseDelta(1.2, 'lower')).toEqual({ text: '+20.0 %', verdict: 'worse' });
    expect(phaseDelta(0.75, 'lower')).toEqual({ text: '−25.0 %', verdict: 'better' });
    expect(phaseDelta(0.75, 'higher')).toEqual({ text: '−25.0 %', verdict: 'worse' });
    expect(phaseDelta(1 + DELTA_NEUTRAL_BAND / 2, 'higher')!.verdict).toBe('same');
    expect(phaseDelta(null, 'higher')).toBeNull();
    expect(ratiosVsPhase0(null, null)).toBeNull();
  });
});
