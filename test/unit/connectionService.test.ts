/**
 * Per-connection service (RunSummary.perConnection): the reduction of echo counts (fewest, most,
 * Jain's index, connections with none), the warning's thresholds, and RunRecord's sums over
 * exactly the measured frames, per phase and for the run — with the cases where the sums would
 * not say who was served (a measured frame without counts, phases with different numbers of
 * connections) reported as null rather than as a wrong evenness.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAbExperiment } from '../../electron/host/ab/runner';
import { ConnectionServiceSchema, connectionService, connectionServiceWords, RunSummarySchema, serverConnectionService, serverConnectionServiceWords, unevenServiceWarning } from '../../electron/contract';
import type { NativeSnapshot } from '../../electron/engine/protocol';
import { defaultProfile } from '../../electron/host/profiles';
import { RunRecord } from '../../electron/host/run/runRecord';
import { NATIVE_STARTED } from './runFixtures';

describe('connectionService', () => {
  it('reduces counts to the fewest (and which), the most, the mean, Jain\'s index and the unserved', () => {
    expect(connectionService([])).toBeNull();
    expect(connectionService([5, 5, 5, 5])).toEqual({ connections: 4, min: 5, minConnection: 0, max: 5, mean: 5, jain: 1, unserved: 0 });
    // One connection has everything: Jain's index is 1/n.
    const one = connectionService([0, 0, 12, 0])!;
    expect(one.jain).toBeCloseTo(0.25, 12);
    expect(one).toMatchObject({ min: 0, minConnection: 0, max: 12, mean: 3, unserved: 3 });
    // (10+20+30)² / (3·(100+400+900)) = 3600 / 4200.
    const spread = connectionService([20, 10, 30])!;
    expect(spread.jain).toBeCloseTo(3600 / 4200, 12);
    expect(spread.minConnection).toBe(1);
    expect(connectionService([0, 0]))?.toMatchObject({ jain: null, unserved: 2 });
  });

  it('warns about uneven service only where the window holds enough echoes per connection to tell', () => {
    expect(unevenServiceWarning(connectionService([100, 101, 99, 100]))).toBeNull();
    const starved = unevenServiceWarning(connectionService([100, 100, 100, 3]));
    expect(starved).toBe('the 4 connections were served unevenly: connection 3 completed 3 echoes, the busiest 100, the mean 76 (Jain\'s fairness index 0.765, 1 = even)');
    // Jain's index is fine (0.97) but one connection got nothing: still said.
    const counts = new Array<number>(40).fill(100);
    counts[7] = 0;
    expect(unevenServiceWarning(connectionService(counts))).toMatch(/connection 7 completed 0 echoes.*; 1 of them completed none$/);
    // Too few echoes a connection (mean < 20): sampling, not the server.
    expect(unevenServiceWarning(connectionService([1, 30, 1, 30]))).toBeNull();
    expect(unevenServiceWarning(null)).toBeNull();
  });

  it('keeps Jain\'s index within [0, 1], and a saved summary holding anything else is refused', () => {
    // Equal but for rounding: (Σx)² / (n·Σx²) can come out a hair above 1.
    for (const counts of [[10387, 10388, 10387], new Array(4096).fill(3), new Array(50).fill(10387).map((x, i) => x + (i % 3 === 0 ? 1 : 0))]) {
      const s = connectionService(counts)!;
      expect(s.jain).toBeLessThanOrEqual(1);
      expect(ConnectionServiceSchema.safeParse(s).success).toBe(true);
    }
    const ok = connectionService([5, 6])!;
    for (const bad of [{ jain: 1.5 }, { jain: -0.1 }, { min: -1 }, { unserved: 0.5 }, { connections: 'many' }]) {
      expect(ConnectionServiceSchema.safeParse({ ...ok, ...bad }).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('says it in one line', () => {
    expect(connectionServiceWords(connectionService([6522, 7257, 6900])!)).toBe('3 connections: fewest 6,522 echoes (connection 0), most 7,257, mean 6,893; Jain\'s index 0.998');
    expect(connectionServiceWords(connectionService([0, 50])!)).toBe('2 connections: fewest 0 echoes (connection 0), most 50, mean 25; Jain\'s index 0.500, 1 with none');
  });
});

/** A snapshot of `requests` completions spread as `echoes` over the connections. */
function snapshot(monotonicNs: number, echoes: number[] | null, requests = echoes ? echoes.reduce((a, b) => a + b, 0) : 10): NativeSnapshot {
  return {
    requests, bytes: requests * 128, errors: 0, serverErrors: 0, enobufs: 0, timeouts: 0,
    histogram: requests ? [[20, requests]] : [], correctedHistogram: requests ? [[20, requests]] : [], serverCpuNs: 1e6, loadCpuNs: 1e6, loadThreadCpuNs: [1e6], processCpuNs: 2e6,
    monotonicNs, activeConnections: 4, liveLoadConnections: 4, inFlight: 4, oldestInFlightUs: 30, running: true, serverError: null,
    server: null, serverWorkers: [], connectionEchoes: echoes,
  } as unknown as NativeSnapshot;
}

/** A run with 200 ms of warm-up and 100 ms frames: frames 1–2 are the warm-up. */
function record(connections: number) {
  const t0 = 1e12;
  const profile = defaultProfile();
  profile.load.connections = connections;
  const r = new RunRecord('run-conn', t0, 200, null);
  r.addPhase(profile, NATIVE_STARTED, t0);
  return { r, t0, profile };
}

describe('serverConnectionService (uring-lab server)', () => {
  const tally = { connections: 3, silent: 2, unserved: 1, minBytes: 0, minConnection: 4, maxBytes: 9_000, sumBytes: 12_500, squaresBytes: 9_000 ** 2 + 3_500 ** 2 };

  it('turns the engine\'s byte tally into echoes of load.messageBytes; Jain\'s index does not depend on the unit', () => {
    const s = serverConnectionService(tally, 1_000)!;
    expect(s).toEqual({ connections: 3, min: 0, minConnection: 4, max: 9, mean: 12_500 / 3 / 1_000, jain: expect.closeTo(12_500 ** 2 / (3 * tally.squaresBytes), 12), unserved: 1, silent: 2 });
    expect(serverConnectionService(tally, 1)!.jain).toBe(s.jain);
    expect(ConnectionServiceSchema.safeParse(s).success).toBe(true);
    // A part message counts as a fraction, in min and max as in the mean: 3 connections that
    // echoed 1,500 B each at 1,000 B a message are 1.5 echoes each, never a mean above the max.
    const even = serverConnectionService({ connections: 3, silent: 0, unserved: 0, minBytes: 1_500, minConnection: 0, maxBytes: 1_500, sumBytes: 4_500, squaresBytes: 3 * 1_500 ** 2 }, 1_000)!;
    expect(even).toMatchObject({ min: 1.5, max: 1.5, mean: 1.5, jain: 1 });
    // ... and the words show the fraction below 10 echoes, where rounding said "fewest 0" of a
    // connection that got bytes back.
    expect(serverConnectionServiceWords(even)).toBe('3 connections: fewest 1.5 echoes (connection 0), most 1.5, mean 1.5; Jain\'s index 1.000');
    const tiny = serverConnectionService({ connections: 2, silent: 0, unserved: 0, minBytes: 1, minConnection: 1, maxBytes: 4_000, sumBytes: 4_001, squaresBytes: 1 + 4_000 ** 2 }, 1_000)!;
    expect(serverConnectionServiceWords(tiny)).toMatch(/^2 connections: fewest 0\.001 echoes \(connection 1\), most 4, mean 2;/);
    for (const [minBytes, maxBytes, sumBytes] of [[1_999, 9_000, 12_500], [0, 999, 999], [2_001, 2_999, 7_500]]) {
      const x = serverConnectionService({ ...tally, minBytes, maxBytes, sumBytes }, 1_000)!;
      expect(x.min).toBeLessThanOrEqual(x.mean);
      expect(x.mean).toBeLessThanOrEqual(x.max);
    }
  });

  it('is null when no connection came; with only port checks it says so', () => {
    expect(serverConnectionService(null, 1_000)).toBeNull();
    expect(serverConnectionService({ ...tally, connections: 0, silent: 0 }, 1_000)).toBeNull();
    const checks = serverConnectionService({ connections: 0, silent: 2, unserved: 0, minBytes: 0, minConnection: 0, maxBytes: 0, sumBytes: 0, squaresBytes: 0 }, 64)!;
    expect(checks.jain).toBeNull();
    expect(serverConnectionServiceWords(checks)).toBe('no connection sent data (2 connected and sent nothing)');
    expect(serverConnectionServiceWords(serverConnectionService(tally, 1_000)!)).toBe('3 connections: fewest 0 echoes (connection 4), most 9, mean 4.17; Jain\'s index 0.559, 1 with none; 2 connected and sent nothing');
  });
});

describe('RunRecord: perConnection', () => {
  it('sums each connection\'s echoes over the measured frames only, warm-up left out', () => {
    const { r, t0 } = record(3);
    r.addSnapshot(snapshot(t0 + 1e8, [1000, 0, 0]), false); // warm-up: not counted
    r.addSnapshot(snapshot(t0 + 2e8, [1000, 0, 0]), false);
    r.addSnapshot(snapshot(t0 + 3e8, [40, 50, 60]), false);
    r.addSnapshot(snapshot(t0 + 4e8, [40, 50, 60]), true);
    const s = r.summary('completed', null, { otherRuns: [], otherCpus: null });
    expect(RunSummarySchema.safeParse(s).success).toBe(true);
    expect(s.perConnection).toMatchObject({ connections: 3, min: 80, minConnection: 0, max: 120, mean: 100, unserved: 0 });
    expect(s.perConnection!.mean * s.perConnection!.connections).toBe(s.requests);
    expect(s.phases[0]!.perConnection).toEqual(s.perConnection);
    expect(s.warnings.filter((w) => w.includes('unevenly'))).toEqual([]);
  });

  it('warns when a connection was starved in the window', () => {
    const { r, t0 } = record(4);
    for (let i = 1; i <= 6; i++) r.addSnapshot(snapshot(t0 + i * 1e8, [30, 30, 30, i > 2 ? 0 : 30]), i === 6);
    const s = r.summary('completed', null, { otherRuns: [], otherCpus: null });
    expect(s.perConnection).toMatchObject({ min: 0, minConnection: 3, unserved: 1 });
    expect(s.warnings).toContain('the 4 connections were served unevenly: connection 3 completed 0 echoes, the busiest 120, the mean 90 (Jain\'s fairness index 0.750, 1 = even); 1 of them completed none');
  });

  it('is null where the sums would not say who was served', () => {
    // A measured frame with requests but without counts (an engine that did not send them).
    const a = record(2);
    a.r.addSnapshot(snapshot(a.t0 + 2e8, [10, 10]), false); // warm-up
    a.r.addSnapshot(snapshot(a.t0 + 3e8, [10, 10]), false);
    a.r.addSnapshot(snapshot(a.t0 + 4e8, null, 20), true);
    expect(a.r.summary('completed', null, { otherRuns: [], otherCpus: null }).perConnection).toBeNull();

    // Two phases of different load.connections: each phase has its own, the run none.
    const b = record(2);
    b.r.addSnapshot(snapshot(b.t0 + 2e8, [25, 25]), false); // warm-up
    b.r.addSnapshot(snapshot(b.t0 + 3e8, [25, 25]), false);
    const wider = { ...b.profile, load: { ...b.profile.load, connections: 3 } };
    b.r.addPhase(wider, NATIVE_STARTED, b.t0 + 3e8);
    b.r.addSnapshot(snapshot(b.t0 + 4e8, [30, 30, 30]), true);
    const s = b.r.summary('completed', null, { otherRuns: [], otherCpus: null });
    expect(s.perConnection).toBeNull();
    expect(s.phases.map((p) => p.perConnection?.connections)).toEqual([2, 3]);

    // Nothing measured (stopped in the warm-up): nothing to say.
    const c = record(2);
    c.r.addSnapshot(snapshot(c.t0 + 1e8, [5, 5]), true);
    expect(c.r.summary('interrupted', null, { otherRuns: [], otherCpus: null }).perConnection).toBeNull();
  });

  it('sums connection i over phases of the same size, and warns per phase', () => {
    const { r, t0, profile } = record(2);
    r.addSnapshot(snapshot(t0 + 2e8, [50, 50]), false); // warm-up
    r.addSnapshot(snapshot(t0 + 3e8, [50, 50]), false);
    r.addPhase(profile, NATIVE_STARTED, t0 + 3e8);
    r.addSnapshot(snapshot(t0 + 4e8, [100, 0]), true);
    const s = r.summary('completed', null, { otherRuns: [], otherCpus: null });
    expect(s.perConnection).toMatchObject({ connections: 2, min: 50, max: 150 });
    expect(s.warnings.filter((w) => w.includes('unevenly'))).toEqual([expect.stringMatching(/^phase 1: the 2 connections were served unevenly: connection 1 completed 0 echoes/)]);
  });
});

describe('A/B: per-connection service of each arm', () => {
  it('warns about the arm whose rounds served their connections unevenly, with its worst round', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-ab-conn-'));
    try {
      const a = { ...defaultProfile(), name: 'even' };
      const b = { ...defaultProfile(), name: 'starving', server: { ...defaultProfile().server, multishot: false } };
      let armRuns = 0; // B's
      // Each arm-run is a RunRecord fed engine-shaped snapshots: A serves its 4 connections
      // alike, B leaves connection 2 with 3 echoes a frame (a fifth of the others', more so in its
      // third run).
      const arms = {
        async runArm(profile: typeof a) {
          const { r, t0 } = record(4);
          const starving = profile.name === 'starving';
          const run = starving ? armRuns++ : -1;
          for (let i = 1; i <= 6; i++) r.addSnapshot(snapshot(t0 + i * 1e8, starving ? [15, 15, run === 2 ? 1 : 3, 15] : [15, 15, 15, 15]), i === 6);
          return { summary: r.summary('completed', null, { otherRuns: [], otherCpus: null }), frames: [] };
        },
        async interrupt() {},
      };
      const report = await startAbExperiment({ a, b, rounds: 3, durationS: 0.4, warmupS: 0.2, activeRunsDir: dir, seed: 1 }, arms).report;
      expect(report.samples.filter((x) => x.arm === 'b').map((x) => x.perConnection?.min)).toEqual(expect.arrayContaining([12]));
      expect(report.samples.every((x) => x.perConnection?.connections === 4)).toBe(true);
      const uneven = report.warnings.filter((w) => w.includes('uneven service'));
      expect(uneven).toHaveLength(1);
      const worst = report.samples.find((x) => x.arm === 'b' && x.perConnection!.min === 4)!;
      expect(uneven[0]).toBe(`B: uneven service in 3 of 3 rounds, the worst round ${worst.round + 1}: the 4 connections were served unevenly: connection 2 completed 4 echoes, the busiest 60, the mean 46 (Jain's fairness index 0.783, 1 = even)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
