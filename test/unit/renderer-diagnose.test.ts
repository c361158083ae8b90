/**
 * The UI's spike pieces that are pure: the chaos panel's row check (one line per bad row naming
 * it and the fix; what the host would refuse refused first), the heatmap's spike markers on the
 * shared time axis, and the evidence panel's timeline from a window's frames.
 */
import { createPinia, setActivePinia } from 'pinia';
import { describe, expect, it, vi } from 'vitest';
import type { RunSummary, Spike, SpikeReport } from '../../electron/contract';
import { CAUSE_INFO, MARK_MIN_PX, spikeMarkBoxes, sameMarkBoxes } from '../../renderer/src/components/diagnose/causes';
import { checkChaosRows, chaosRowsOf, storedInjections } from '../../renderer/src/components/diagnose/chaosRows';
import { buildSpikeTimeline } from '../../renderer/src/components/diagnose/spikeTimeline';
import { closeSpike, diagnosisOf, openedSpikeView, useShownRunSpikes, useSpikesStore } from '../../renderer/src/stores/spikes';
import { attached, flush, runSummary, sqpollPhase } from './renderer-fixtures';
import { frame, quietKernel } from './spikeFixtures';

function spike(over: Partial<Spike> = {}): Spike {
  return {
    id: 1, phase: 0, atMs: 2000, durationMs: 300, frames: [19, 20, 21],
    tail: { metric: 'p99', valueUs: 5000, baselineUs: 80, thresholdUs: 200 },
    requests: 1000, slowRequests: 40,
    causes: [{ cause: 'cpu-contention', confidence: 0.9, summary: 'uring-lab-hog ran 280 ms on CPU 0', evidence: {}, tasks: [{ pid: 7, comm: 'uring-lab-hog', ms: 280 }] }],
    offCpu: [], profile: [], injected: [{ kind: 'cpuHog', atMs: 2000, durationMs: 1000 }],
    ...over,
  };
}

describe('chaos rows', () => {
  it('turns valid rows into injections (seconds → ms)', () => {
    const r = checkChaosRows([{ kind: 'cpuHog', startS: '2', durationS: '1' }, { kind: 'serverPause', startS: '1.5', durationS: '0.25' }]);
    expect(r).toEqual({ ok: true, injections: [{ kind: 'cpuHog', atMs: 2000, durationMs: 1000 }, { kind: 'serverPause', atMs: 1500, durationMs: 250 }] });
  });

  it('names the row and the fix for every kind of bad input', () => {
    const r = checkChaosRows([
      { kind: 'cpuHog', startS: '2', durationS: '1' },
      { kind: 'nope', startS: '1', durationS: '1' },
      { kind: 'cpuHog', startS: '', durationS: '1' },
      { kind: 'cpuHog', startS: '-1', durationS: '1' },
      { kind: 'ioWqPunt', startS: '1', durationS: '0' },
      { kind: 'ioWqPunt', startS: '1', durationS: '61' },
      { kind: 'ioWqPunt', startS: '1', durationS: 'x' },
      { kind: 'cpuHog', startS: '2.5', durationS: '1' },
      { kind: 'ioWqPunt', startS: '5000', durationS: '1' },
    ]);
    expect(r.ok).toBe(false);
    const errors = r.ok ? [] : r.errors;
    expect(errors.map((e) => e.row)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    for (const e of errors) expect(e.message).toMatch(new RegExp(`^row ${e.row}: .+ — .+`));
    expect(errors[0]!.message).toContain('pick one of cpuHog');
    expect(errors[3]!.message).toContain('between 0.001 and 60');
    expect(errors[6]!.message).toBe('row 8: overlaps row 1 (both cpuHog) — start it at 3 s or later');
  });

  it('lets the same kind follow on, and different kinds overlap', () => {
    expect(checkChaosRows([{ kind: 'cpuHog', startS: '1', durationS: '1' }, { kind: 'cpuHog', startS: '2', durationS: '1' }, { kind: 'softirqLoad', startS: '1', durationS: '3' }]).ok).toBe(true);
  });

  it('reads the stored knob leniently and writes rows back the same', () => {
    expect(storedInjections(undefined)).toEqual([]);
    expect(storedInjections([{ kind: 'cpuHog', atMs: 1000, durationMs: 500 }, { kind: 'bad' }])).toEqual([{ kind: 'cpuHog', atMs: 1000, durationMs: 500 }]);
    const rows = chaosRowsOf([{ kind: 'cpuHog', atMs: 1500, durationMs: 250 }]);
    expect(rows).toEqual([{ kind: 'cpuHog', startS: '1.5', durationS: '0.25' }]);
    expect(checkChaosRows(rows)).toEqual({ ok: true, injections: [{ kind: 'cpuHog', atMs: 1500, durationMs: 250 }] });
  });
});

describe('spike markers', () => {
  const win = { min: 0, max: 10 };
  it('spans atMs … atMs + durationMs on the time axis, coloured by the top cause', () => {
    const [m] = spikeMarkBoxes([spike({ atMs: 2000, durationMs: 1000 })], win, 1000);
    expect(m).toMatchObject({ spikeId: 1, left: 200, width: 100, color: CAUSE_INFO['cpu-contention'].color });
    expect(m!.label).toBe('spike 1 at 2.0 s for 1000 ms: cpu-contention (90 %), during cpuHog');
  });

  it('names the injections the spike overlapped, each kind once', () => {
    const injected = [{ kind: 'cpuHog' as const, atMs: 1900, durationMs: 1000 }, { kind: 'cpuHog' as const, atMs: 2900, durationMs: 100 }, { kind: 'softirqLoad' as const, atMs: 0, durationMs: 5000 }];
    const [m] = spikeMarkBoxes([spike({ atMs: 2000, durationMs: 1000, injected })], win, 1000);
    expect(m!.label).toBe('spike 1 at 2.0 s for 1000 ms: cpu-contention (90 %), during cpuHog, softirqLoad');
  });

  it('widens a short spike to a clickable width inside the plot, and drops spikes outside the window', () => {
    const boxes = spikeMarkBoxes([spike({ id: 1, atMs: 9990, durationMs: 10 }), spike({ id: 2, atMs: 20_000 })], win, 1000);
    expect(boxes).toHaveLength(1);
    expect(boxes[0]!.width).toBe(MARK_MIN_PX);
    expect(boxes[0]!.left + boxes[0]!.width).toBeLessThanOrEqual(1000);
  });

  it('compares placements so an unchanged one triggers no update', () => {
    const a = spikeMarkBoxes([spike()], win, 1000);
    expect(sameMarkBoxes(a, spikeMarkBoxes([spike()], win, 1000))).toBe(true);
    expect(sameMarkBoxes(a, spikeMarkBoxes([spike()], win, 900))).toBe(false);
  });
});

describe('spike timeline', () => {
  it('lays out injections, per-frame evidence, off-CPU blocks and TCP events around the window', () => {
    const frames = Array.from({ length: 40 }, (_, seq) => {
      const tMs = (seq + 1) * 100;
      const kernel = quietKernel(tMs);
      if (seq === 20) {
        kernel.offCpu = { minUs: 1000, events: [{ tid: 5, comm: 'uring-srv-0', offMs: 50, endTMs: 2080, stack: 'entry_SYSCALL_64;do_nanosleep;schedule' }], truncated: 0 };
        kernel.tcp.events = [
          { tMs: 2050, kind: 'retransmit', reason: null, sport: 1, dport: 2, state: 'ESTABLISHED' },
          { tMs: 2060, kind: 'drop', reason: 'TCP_OFO_DROP', sport: 40_000, dport: 7000, state: 'ESTABLISHED' },
          { tMs: 2070, kind: 'retransmit', reason: null, sport: 40_001, dport: 7000, state: 'FIN_WAIT1' },
        ];
        kernel.tcp.enginePorts = [7000];
        kernel.sched = { competitors: [{ pid: 7, tgid: 7, comm: 'uring-lab-hog', onCpuNs: 90_000_000, preemptedEngine: 30, cpus: [0] }], othersOnCpuNs: 0 };
      }
      return frame({ seq, kernel });
    });
    const t = buildSpikeTimeline(spike(), frames, [{ kind: 'cpuHog', atMs: 2000, durationMs: 1000, applied: true, startedAtMs: 2010, endedAtMs: 3005, detail: null, refusal: null }]);
    expect([t.fromMs, t.toMs]).toEqual([1000, 3300]);
    expect(t.rows.map((r) => r.id)).toEqual(['injections', 'p99', 'others', 'irq', 'reclaim', 'offcpu', 'tcp']);
    expect(t.missing).toEqual([]);
    const inj = t.rows[0]!;
    expect(inj.kind === 'spans' && inj.spans).toEqual([{ fromMs: 2010, toMs: 3005, label: 'cpuHog' }]);
    const others = t.rows.find((r) => r.id === 'others')!;
    expect(others.kind === 'bars' && others.max).toBe(90);
    expect(others.kind === 'bars' && others.bars.find((b) => b.value === 90)!.label).toContain('uring-lab-hog (7)');
    const off = t.rows.find((r) => r.id === 'offcpu')!;
    expect(off.kind === 'spans' && off.spans).toEqual([{ fromMs: 2030, toMs: 2080, label: 'uring-srv-0 blocked 50.0 ms in schedule' }]);
    const tcp = t.rows.find((r) => r.id === 'tcp')!;
    expect(tcp.kind === 'points' && tcp.points).toEqual([
      { tMs: 2050, label: 'retransmit 1→2 (another connection)' },
      { tMs: 2060, label: 'drop TCP_OFO_DROP 40000→7000 (this run)' },
      // A closing socket's FIN sent again: shown, and said to be left out of the evidence.
      { tMs: 2070, label: 'retransmit 40001→7000 (this run) in FIN_WAIT1: a closing socket\'s, not counted' },
    ]);
  });

  it('names the rows the frames have no data for instead of drawing zeros', () => {
    const frames = Array.from({ length: 40 }, (_, seq) => frame({ seq, kernel: null, system: null }));
    const t = buildSpikeTimeline(spike({ injected: [] }), frames, []);
    expect(t.rows.map((r) => r.id)).toEqual(['p99']);
    expect(t.missing).toEqual(['other tasks on CPU', 'IRQ + softirq', 'reclaim + compaction', 'off-CPU blocks', 'TCP events']);
  });
});

function report(runId: string, spikes: Spike[]): SpikeReport {
  return {
    runId, params: { k: 5, minRiseUs: 50, minRiseFactor: 1.5, maxFactor: 4, baselineFrames: 40, minBaselineFrames: 8, labelConfidence: 0.5 },
    sources: { system: true, sched: true, memory: true, offCpu: true, profile: true, probes: true },
    baselines: [], spikes, labelled: spikes.length, byCause: { 'cpu-contention': spikes.length },
  };
}

describe('spikes store', () => {
  it('takes an ended run’s report from its summary; the heatmaps mark its spikes only once the run is over', async () => {
    setActivePinia(createPinia());
    const { f, run } = await attached();
    useSpikesStore();
    const marks = useShownRunSpikes();
    await run.start();
    expect(run.runLive).toBe(true);
    expect(marks.spikes.value).toEqual([]);
    const ended = { ...runSummary('r1', [sqpollPhase(0, false)]), spikes: report('r1', [spike()]), profiles: null, injections: [] } as RunSummary;
    f.emit({ type: 'ended', runId: 'r1', summary: ended });
    await flush();
    expect(diagnosisOf('r1')).toMatchObject({ source: 'summary', report: { spikes: [{ id: 1 }] } });
    expect(marks.spikes.value.map((s) => s.id)).toEqual([1]);
    expect(f.api.diagnoseRun).not.toHaveBeenCalled();
    // a marker opens the panel on that spike
    marks.open(1);
    expect(openedSpikeView.value?.spike.id).toBe(1);
    closeSpike();
    expect(openedSpikeView.value).toBeNull();
  });

  it('asks the host (diagnoseRun) for a summary from before spike reports', async () => {
    setActivePinia(createPinia());
    const { f } = await attached();
    const diagnoseRun = vi.fn(async () => ({ report: report('old-1', [spike({ id: 2 })]), profiles: null }));
    Object.assign(f.api, { diagnoseRun });
    useSpikesStore();
    f.emit({ type: 'ended', runId: 'old-1', summary: runSummary('old-1', [sqpollPhase(0, false)]) });
    await flush();
    await flush();
    expect(diagnoseRun).toHaveBeenCalledWith({ runId: 'old-1' });
    expect(diagnosisOf('old-1')).toMatchObject({ source: 'diagnose', report: { spikes: [{ id: 2 }] } });
  });
});
