/**
 * Spike detection on constructed frames: what is a spike (p99 / p99.9 / max above the rolling
 * baseline, stalls), what never is (warm-up, the first frames of a phase, noise), and how
 * windows are formed (merging, one tolerated gap, level shifts), per the rules in spikes.ts.
 */
import { describe, expect, it } from 'vitest';
import { LatencyHistogram, SPIKE_DEFAULTS, type AbReport, type AbRoundArm, type RunFrame, type SpikeParams } from '../../electron/contract';
import { flameSection, spikesSection } from '../../electron/host/ab/html';
import { armSpikes } from '../../electron/host/ab/report';
import { diagnoseFrames, SpikeReporter, spikeParams } from '../../electron/host/diagnose/report';
import { countAbove, frameTail, SpikeDetector } from '../../electron/host/diagnose/spikes';
import { frame, histogramOf, quietFrames, quietKernel, slowFrame } from './spikeFixtures';

/** The spikes the detector hands out as they close (it keeps none), and its phase baselines. */
const detect = (frames: RunFrame[], params: SpikeParams = { ...SPIKE_DEFAULTS }) => {
  const d = new SpikeDetector(params);
  const spikes = [];
  for (const f of frames) spikes.push(...d.push(f));
  spikes.push(...d.finish());
  return { spikes, phaseBaselines: d.phaseBaselines };
};

describe('frame tails', () => {
  it('agree with the shared histogram maths', () => {
    const h = histogramOf([[10, 500], [70, 400], [900, 95], [5000, 5]]);
    const ref = LatencyHistogram.from(h);
    expect(frameTail(h)).toEqual({ p99: ref.quantileUs(0.99), p999: ref.quantileUs(0.999), max: ref.maxUs(), count: 1000 });
    expect(frameTail([])).toEqual({ p99: 0, p999: 0, max: 0, count: 0 });
    expect(countAbove(h, 800)).toBe(100);
  });
});

describe('spike detection', () => {
  it('finds nothing in a quiet run', () => {
    expect(detect(quietFrames(0, 80)).spikes).toHaveLength(0);
  });

  it('finds a p99 rise as one spike with its window, tail and slow requests', () => {
    const frames = [...quietFrames(0, 30), slowFrame(30, 2000), slowFrame(31, 3000), slowFrame(32, 2500), ...quietFrames(33, 20)];
    const [spike, ...rest] = detect(frames).spikes;
    expect(rest).toHaveLength(0);
    expect(spike!.frames.map((f) => f.seq)).toEqual([30, 31, 32]);
    expect(spike!.startMs).toBe(3000);
    expect(spike!.endMs).toBe(3300);
    expect(spike!.worst.metric).toMatch(/^p99/);
    expect(spike!.worst.valueUs).toBeGreaterThanOrEqual(3000);
    expect(spike!.baselineFrames.map((f) => f.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(spike!.after.map((f) => f.seq)).toEqual([33, 34]);

    const { report } = diagnoseFrames('run-test', frames, spikeParams());
    expect(report!.spikes[0]).toMatchObject({ id: 1, atMs: 3000, durationMs: 300, frames: [30, 31, 32], requests: 30000, slowRequests: 600 });
    expect(report!.baselines).toHaveLength(1);
    expect(report!.baselines[0]!.p99Us).toBeLessThan(70);
  });

  it('needs the rise to clear all three floors: k × MAD, the factor and minRiseUs', () => {
    // 61 → ~100 µs: far above k × MAD of a very quiet run, below median + 50 µs.
    const frames = [...quietFrames(0, 30), slowFrame(30, 100), ...quietFrames(31, 5)];
    expect(detect(frames).spikes).toHaveLength(0);
    expect(detect(frames, { ...SPIKE_DEFAULTS, minRiseUs: 10, minRiseFactor: 1.2 }).spikes).toHaveLength(1);
  });

  it('finds a max-only outlier by the max factor', () => {
    const outlier = frame({ seq: 30, latency: [[40, 9000], [60, 900], [80, 90], [120, 9], [20_000, 1]] });
    const [spike] = detect([...quietFrames(0, 30), outlier, ...quietFrames(31, 5)]).spikes;
    expect(spike!.worst.metric).toBe('max');
    expect(spike!.worst.valueUs).toBeGreaterThanOrEqual(20_000);
    expect(detect([...quietFrames(0, 30), outlier, ...quietFrames(31, 5)], { ...SPIKE_DEFAULTS, maxFactor: 500 }).spikes).toHaveLength(0);
  });

  it('never marks warm-up frames, which still feed the baseline', () => {
    const warm = quietFrames(0, 10, { measuring: false });
    warm[5] = slowFrame(5, 5000, { measuring: false });
    const d = detect([...warm, ...quietFrames(10, 30)]);
    expect(d.spikes).toHaveLength(0);
    // Warm-up frames counted: a spike at the first measured frame is found (baseline of 10 frames).
    const early = detect([...quietFrames(0, 10, { measuring: false }), slowFrame(10, 4000), ...quietFrames(11, 5)]);
    expect(early.spikes.map((s) => s.frames[0]!.seq)).toEqual([10]);
  });

  it('cannot find spikes in the first minBaselineFrames of a phase, and restarts the baseline at a phase change', () => {
    const phase1 = (from: number, n: number) => quietFrames(from, n, { phase: 1 }).map((f) => ({ ...f, histogram: histogramOf([[200, 9000], [300, 900], [400, 90], [500, 10]]) }));
    const frames = [...quietFrames(0, 30), ...phase1(30, 30)];
    const d = detect(frames);
    // Phase 1 is 5× slower than phase 0 but compared only with itself: no spike.
    expect(d.spikes).toHaveLength(0);
    expect(d.phaseBaselines.map((b) => b.phase)).toEqual([0, 1]);
    expect(d.phaseBaselines[1]!.p99Us).toBeGreaterThan(250);
    // A slow frame in the phase's first frames is not a spike (no baseline yet); later it is.
    const early = [...quietFrames(0, 30), ...phase1(30, 3), slowFrame(33, 8000, { phase: 1 }), ...phase1(34, 20), slowFrame(54, 8000, { phase: 1 }), ...phase1(55, 3)];
    expect(detect(early).spikes.map((s) => s.frames[0]!.seq)).toEqual([54]);
  });

  it('treats a stall (nothing completed, a request waiting) as a spike', () => {
    const stall = (seq: number) => frame({ seq, latency: [], oldestInFlightUs: (seq - 29) * 100_000 });
    const frames = [...quietFrames(0, 30), stall(30), stall(31), stall(32), slowFrame(33, 300_000), ...quietFrames(34, 5)];
    const [spike, ...rest] = detect(frames).spikes;
    expect(rest).toHaveLength(0);
    expect(spike!.frames.map((f) => f.seq)).toEqual([30, 31, 32, 33]);
    expect(spike!.worst.valueUs).toBeGreaterThanOrEqual(300_000);
    // Stall frames alone (the run ended inside the stall) are a spike by the in-flight age.
    const [stalled] = detect([...quietFrames(0, 30), stall(30), stall(31)]).spikes;
    expect(stalled!.worst).toMatchObject({ metric: 'max', valueUs: 200_000, stall: true });
    // Frames with no completions and nothing waiting measure nothing: no spike.
    const idle = [...quietFrames(0, 30), frame({ seq: 30, latency: [], oldestInFlightUs: 0 }), ...quietFrames(31, 5)];
    expect(detect(idle).spikes).toHaveLength(0);
  });

  it('merges adjacent frames and tolerates one gap frame, not two', () => {
    const oneGap = [...quietFrames(0, 30), slowFrame(30, 2000), ...quietFrames(31, 1), slowFrame(32, 2000), ...quietFrames(33, 5)];
    expect(detect(oneGap).spikes.map((s) => s.frames.map((f) => f.seq))).toEqual([[30, 31, 32]]);
    const twoGaps = [...quietFrames(0, 30), slowFrame(30, 2000), ...quietFrames(31, 2), slowFrame(33, 2000), ...quietFrames(34, 5)];
    expect(detect(twoGaps).spikes.map((s) => s.frames.map((f) => f.seq))).toEqual([[30], [33]]);
  });

  it('keeps spike frames out of the baseline, and closes a level shift at baselineFrames', () => {
    // 15 slow frames: one spike; had they fed the baseline the later ones would not be above it.
    const long = [...quietFrames(0, 30), ...Array.from({ length: 15 }, (_, i) => slowFrame(30 + i, 2000)), ...quietFrames(45, 5)];
    expect(detect(long).spikes.map((s) => s.frames.length)).toEqual([15]);
    // A level that stays: one spike of baselineFrames frames, then a new baseline at the new level.
    const params = { ...SPIKE_DEFAULTS, baselineFrames: 20 };
    const shift = [...quietFrames(0, 30), ...Array.from({ length: 60 }, (_, i) => slowFrame(30 + i, 2000))];
    const spikes = detect(shift, params).spikes;
    expect(spikes).toHaveLength(1);
    expect(spikes[0]).toMatchObject({ levelShift: true });
    expect(spikes[0]!.frames).toHaveLength(20);
  });

  it('gives the same spikes and report from frames held as their JSON text (the run record\'s) as from the frames', () => {
    // Every window shape: a spike with a tolerated gap, a stall, a level shift, and one open at the end.
    const frames = [
      ...quietFrames(0, 30), slowFrame(30, 2000), ...quietFrames(31, 1), slowFrame(32, 3000), ...quietFrames(33, 10),
      frame({ seq: 43, latency: [], oldestInFlightUs: 90_000 }), ...quietFrames(44, 10),
      ...Array.from({ length: 40 }, (_, i) => slowFrame(54 + i, 2500)), ...quietFrames(94, 30), slowFrame(124, 4000),
    ];
    for (const f of frames) f.kernel!.offCpu = { minUs: 1000, events: [{ tid: 7, comm: 'uring-srv-0', stack: 'do_nanosleep', offMs: 5, endTMs: f.tMs - 10 }], truncated: 0 };
    const held = new SpikeReporter();
    const direct = new SpikeReporter();
    for (const f of frames) {
      held.push(f, JSON.stringify(f));
      direct.push(f);
    }
    const report = direct.report('run-test');
    expect(report!.spikes.length).toBeGreaterThanOrEqual(4);
    expect(held.report('run-test')).toEqual(report);
  });

  it('checks its parameters, naming the one at fault', () => {
    expect(() => spikeParams({ k: -1 })).toThrow(/k -1 is not a number between/);
    expect(() => spikeParams({ baselineFrames: 2.5 })).toThrow(/baselineFrames 2.5 is not a whole number/);
    expect(() => spikeParams({ minBaselineFrames: 50, baselineFrames: 10 })).toThrow(/minBaselineFrames 50 is more than baselineFrames 10/);
    expect(spikeParams({ k: 3 })).toMatchObject({ k: 3, maxFactor: SPIKE_DEFAULTS.maxFactor });
  });
});

describe('A/B: spikes per arm and the differential flame graph', () => {
  const sample = (round: number, arm: 'a' | 'b', found: number, stacks: Array<[string, number]>): AbRoundArm => ({
    round, arm, order: round * 2 + (arm === 'a' ? 0 : 1), runId: `run-${round}${arm}`, status: 'completed', failure: null, measuredS: 3, requests: 1000, errors: 0,
    metrics: {} as AbRoundArm['metrics'], histogram: [], kernel: null, frames: [],
    spikes: { found, labelled: found > 0 ? 1 : 0, byCause: found > 0 ? { 'cpu-contention': 1 } : {} }, profile: stacks,
  });
  const samples = [
    sample(0, 'a', 0, [['uring-srv-0;recv', 80], ['uring-srv-0;send', 20]]), sample(0, 'b', 2, [['uring-srv-0;recv', 40], ['uring-srv-0;send', 60]]),
    sample(1, 'a', 1, [['uring-srv-0;recv', 70], ['uring-srv-0;send', 30]]), sample(1, 'b', 3, [['uring-srv-0;recv', 50], ['uring-srv-0;send', 50]]),
    { ...sample(2, 'b', 9, []), status: 'failed' as const },
  ];

  it('counts each arm\'s spikes over the counted rounds only', () => {
    expect(armSpikes(samples)).toEqual({
      a: { rounds: 2, found: 1, labelled: 1, perRound: [0, 1], byCause: { 'cpu-contention': 1 } },
      b: { rounds: 2, found: 5, labelled: 2, perRound: [2, 3], byCause: { 'cpu-contention': 2 } },
    });
  });

  it('draws the spikes table and B-vs-A flame graph into the HTML report', () => {
    const report = { samples, spikes: armSpikes(samples), a: { profileName: 'base' }, b: { profileName: 'zc' } } as unknown as AbReport;
    expect(spikesSection(report)).toMatch(/<th class="b">B<\/th><td>2<\/td><td>5<\/td><td>2<\/td><td class="mono">2 3<\/td><td class="mono">cpu-contention 2<\/td>/);
    const svg = flameSection(report, 600);
    expect(svg).toContain('<svg');
    expect(svg).not.toMatch(/https?:\/\//);
    // send grew from 25 % of A's samples to 55 % of B's: red; recv shrank: blue (flameColor).
    expect(svg).toMatch(/<title>send — A 50 samples \(25[.,]0+ ?%\), B 110 samples \(55[.,]0+ ?%\)/);
    expect(flameSection({ ...report, samples: samples.map((s) => ({ ...s, profile: null })) } as AbReport, 600)).toBe('');
  });
});

describe('profiles', () => {
  it('say which share of the worker threads\' CPU time the samples cover (sampledShare); other threads and warm-up do not count', () => {
    const withProfile = (seq: number, measuring: boolean) => {
      const kernel = quietKernel((seq + 1) * 100);
      // 100 Hz over the frame's 50 + 50 ms of worker CPU: 10 ticks; the workers got 9 of them.
      kernel.profile = { hz: 100, samples: 12, lost: 0, folded: [['uring-srv-0;loop', 5], ['uring-load;send', 3], ['iou-sqp-*;sqpoll', 1], ['node;js', 3]] };
      return frame({ seq, measuring, kernel });
    };
    const frames = [withProfile(0, false), ...Array.from({ length: 4 }, (_, i) => withProfile(i + 1, true))];
    const { profiles } = diagnoseFrames('run-test', frames, spikeParams());
    expect(profiles!.samples).toBe(48);
    expect(profiles!.sampledShare).toBe(0.9);
    // No worker CPU at all: unknown, not a division by zero.
    const idle = frames.map((f) => ({ ...f, serverCpuNs: 0, loadCpuNs: 0 }));
    expect(diagnoseFrames('run-test', idle, spikeParams()).profiles!.sampledShare).toBeNull();
  });
});
