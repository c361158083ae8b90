/**
 * The live view's kernel side and its legibility maths: the ns heatmap rows and percentile
 * lines (against the contract's KernelHistogram), the kernel counters and probe panel, the
 * empty state without probes, the shared time axis and phase-label layout, the p99 axis in
 * octaves, Space on the toolbar, and contrast (heat colours ≥ 3:1, text ≥ 4.5:1).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createPinia, setActivePinia } from 'pinia';
import { nextTick } from 'vue';
import { describe, expect, it, vi } from 'vitest';
import { KernelFrameSchema, KernelHistogram, kernelBucketIndex, type KernelFrame, type ProbeStatus, type RunFrame } from '../../electron/contract';
import { contrastRatio, HEAT_RAMP } from '../../renderer/src/charts/heatmapModel';
import { KERNEL_LATENCY_ROWS } from '../../renderer/src/charts/kernelRows';
import { kernelCountersView, kernelEmptyText, perRequestSamplingView, probeRows, shownProbeStatuses } from '../../renderer/src/charts/kernelView';
import { rowOfUs, toCoarseColumn } from '../../renderer/src/charts/latencyRows';
import { CHART } from '../../renderer/src/charts/theme';
import { octaveAxis } from '../../renderer/src/charts/throughputModel';
import { layoutPhaseLabels, timeTicks, timeTickStep, timeWindow } from '../../renderer/src/charts/timeAxis';
import { spaceAction } from '../../renderer/src/components/runKeys';
import { bufferedFrame, FrameBuffer } from '../../renderer/src/stores/frameBuffer';
import { READOUT_REFRESH_MS, useFramesStore } from '../../renderer/src/stores/frames';
import { runFrame } from './renderer-fixtures';

const ns = (v: number, count: number): [number, number] => [kernelBucketIndex(v), count];

function kernel(over: { uring?: Partial<KernelFrame['uring']>; tcp?: Partial<KernelFrame['tcp']>; overhead?: KernelFrame['overhead'] } = {}): KernelFrame {
  return KernelFrameSchema.parse({
    tMs: 100,
    uring: {
      submits: 1000, completions: 1000, enters: 80, cqWaits: 40, ioWqPunts: 0, cqeOverflows: 0, shortWrites: 0, reqFailed: 0,
      latencyNs: [ns(900, 500), ns(2000, 490), ns(50_000, 10)],
      taskWorkLatencyNs: [],
      byOpcode: [],
      ...over.uring,
    },
    runqueue: { latencyNs: [ns(3000, 90), ns(2_000_000, 10)], count: 100, preemptions: 5 },
    sqpoll: { onCpuNs: 0, wakeups: 0 },
    softirq: { netRxNs: 2_000_000, netTxNs: 1_000_000, netRxCount: 10, netTxCount: 5, napiPolls: 3 },
    tcp: { retransmits: 1, drops: 0, lostEvents: 0, events: [], truncated: 0, channel: 'ringbuf', ...over.tcp },
    overhead: over.overhead === undefined ? [{ program: 'uring_complete', probe: 'uring_latency', runTimeNs: 150_000, runCount: 1000 }] : over.overhead,
  });
}

const withKernel = (seq: number, k: KernelFrame | null): RunFrame => runFrame({ seq, tMs: (seq + 1) * 100, requests: 1000, kernel: k });

describe('kernel heatmap rows (ns layout)', () => {
  it('maps every ns bucket to a row, monotonically, rows tiling the buckets', () => {
    const { bucketToRow, rows } = KERNEL_LATENCY_ROWS;
    expect(bucketToRow.length).toBe(1056);
    for (let b = 1; b < bucketToRow.length; b++) expect(bucketToRow[b]!).toBeGreaterThanOrEqual(bucketToRow[b - 1]!);
    for (let r = 1; r < rows.length; r++) expect(rows[r]!.firstBucket).toBe(rows[r - 1]!.lastBucket + 1);
  });

  it('starts octave rows at powers of two nanoseconds and labels them in ns, µs, ms', () => {
    const starts = KERNEL_LATENCY_ROWS.rows.filter((r) => r.octaveStart);
    const byNs = new Map(starts.map((r) => [Math.round(r.lowerUs * 1000), r.label]));
    expect(byNs.get(64)).toBe('64 ns');
    expect(byNs.get(512)).toBe('512 ns');
    expect(byNs.get(1024)).toBe('1 µs');
    expect(byNs.get(32768)).toBe('33 µs');
    expect(byNs.get(2 ** 20)).toBe('1 ms');
    expect(KERNEL_LATENCY_ROWS.rows[0]!.label).toBe('<1 ns');
    // quarter-octave rows above the linear range
    const octave = KERNEL_LATENCY_ROWS.rows.filter((r) => r.lowerUs >= 1.024 && r.lowerUs < 2.048);
    expect(octave).toHaveLength(4);
  });

  it('folds a kernel frame and draws its percentiles where the contract puts them', () => {
    const k = kernel();
    const col = toCoarseColumn(k.uring.latencyNs, KERNEL_LATENCY_ROWS);
    expect(col.total).toBe(1000);
    const h = new KernelHistogram();
    h.add(k.uring.latencyNs);
    // the line values are the contract's quantiles (highest value of the bucket), in µs
    expect(col.quantilesUs[0]).toBeCloseTo(h.quantileNs(0.5) / 1000, 9);
    expect(col.quantilesUs[1]).toBeCloseTo(h.quantileNs(0.99) / 1000, 9);
    expect(col.quantilesUs[2]).toBeCloseTo(h.quantileNs(0.999) / 1000, 9);
    expect(col.cells[0]![0]).toBe(rowOfUs(0.9, KERNEL_LATENCY_ROWS));
  });

  it('buffers the kernel columns beside the client one, null for frames without kernel data', () => {
    expect(bufferedFrame(withKernel(0, null)).uring).toBeNull();
    expect(bufferedFrame(runFrame({ seq: 0 })).runqueue).toBeNull();
    const b = bufferedFrame(withKernel(0, kernel()));
    expect(b.uring!.total).toBe(1000);
    expect(b.runqueue!.total).toBe(100);
    const buf = new FrameBuffer(4);
    for (let i = 0; i < 3; i++) buf.push(withKernel(i, kernel({ tcp: { retransmits: 2, drops: 1, closeDrops: 4, duplicateDrops: 2, lostEvents: 1 } })));
    // A frame from before closeDrops and duplicateDrops existed adds none.
    buf.push(withKernel(3, kernel({ tcp: { retransmits: 0, drops: 0, lostEvents: 0 } })));
    expect(buf.kernelTotals).toEqual({ retransmits: 6, closeRetransmits: 0, drops: 3, closeDrops: 12, duplicateDrops: 6, lostEvents: 3 });
    expect(buf.recent(2).map((f) => f.seq)).toEqual([3, 2]);
  });
});

describe('kernel counters and probe panel', () => {
  const statuses: ProbeStatus[] = [
    { name: 'uring_latency', attached: true, reason: 'attached (tp_btf)', variant: 'tp_btf', fix: null, loadedBy: 'in-process', overhead: null },
    { name: 'runqueue', attached: false, reason: 'no CAP_BPF', variant: null, fix: 'setcap cap_bpf,cap_perfmon+ep the helper', loadedBy: null, overhead: null },
  ];

  it('rates the recent frames per second and per request, with the run totals', () => {
    const frames = [withKernel(1, kernel()), withKernel(0, kernel())];
    const v = kernelCountersView(frames, { retransmits: 3, drops: 0, closeDrops: 0, lostEvents: 2 })!;
    const cell = (k: string) => v.cells.find((c) => c.key === k)!;
    expect(v.frames).toBe(2);
    expect(cell('entersPerS').value).toBeCloseTo(800); // 160 enters over 0.2 s
    expect(cell('entersPerReq').value).toBeCloseTo(0.08);
    expect(cell('softirqMs').value).toBeCloseTo(30); // 6 ms over 0.2 s
    expect(cell('lostEvents')).toMatchObject({ value: 2, warn: true });
    // Drops at closing sockets are how connections end: named in the title, no warning.
    const closing = kernelCountersView(frames, { retransmits: 0, drops: 0, closeDrops: 37, lostEvents: 0 })!.cells.find((c) => c.key === 'drops')!;
    expect(closing).toMatchObject({ value: 0, warn: false });
    expect(closing.title).toMatch(/not counted: 37 at sockets being closed/);
    // Copies a receiver already had (spurious retransmits) are not losses either: named in the
    // drops' title and on the retransmits', which stay a warning of their own.
    const dup = kernelCountersView(frames, { retransmits: 12, drops: 0, closeDrops: 5, duplicateDrops: 12, lostEvents: 0 })!;
    expect(dup.cells.find((c) => c.key === 'drops')).toMatchObject({ value: 0, warn: false });
    expect(dup.cells.find((c) => c.key === 'drops')!.title).toMatch(/not counted: 5 at sockets being closed or gone .* and 12 duplicates of data the receiver already had/);
    expect(dup.cells.find((c) => c.key === 'retransmits')).toMatchObject({ value: 12, warn: true });
    expect(dup.cells.find((c) => c.key === 'retransmits')!.title).toMatch(/12 copies reached a receiver that already had the data .* spurious/);
    // FINs sent again by closing sockets are counted but no warning: no request waited for them.
    const fins = kernelCountersView(frames, { retransmits: 50, closeRetransmits: 50, drops: 0, closeDrops: 0, lostEvents: 0 })!.cells.find((c) => c.key === 'retransmits')!;
    expect(fins).toMatchObject({ value: 50, warn: false });
    expect(fins.title).toMatch(/50 of them by sockets being closed \(FIN_WAIT1, LAST_ACK, …: FINs sent again\), which no request waited for/);
    expect(kernelCountersView(frames, { retransmits: 51, closeRetransmits: 50, drops: 0, closeDrops: 0, lostEvents: 0 })!.cells.find((c) => c.key === 'retransmits')!.warn).toBe(true);
    // The buffer counts them from the frames' events.
    const finBuf = new FrameBuffer(4);
    finBuf.push(withKernel(0, kernel({ tcp: { retransmits: 4, events: [0, 1].map((i) => ({ tMs: 50, kind: 'retransmit' as const, reason: null, sport: 40_000 + i, dport: 7000, state: i ? 'FIN_WAIT1' : 'ESTABLISHED' })), truncated: 2 } })));
    expect(finBuf.kernelTotals).toMatchObject({ retransmits: 4, closeRetransmits: 2 });
    expect(kernelCountersView([withKernel(0, null)], { retransmits: 0, drops: 0, closeDrops: 0, lostEvents: 0 })).toBeNull();
    // Frames whose enters nobody counted (a storage job's rings): no number, not 0.
    const uncounted = (seq: number) => { const k = kernel(); return withKernel(seq, { ...k, uring: { ...k.uring, enters: 0, entersSource: null } }); };
    const storage = kernelCountersView([uncounted(1), uncounted(0)], { retransmits: 0, drops: 0, closeDrops: 0, lostEvents: 0 })!;
    for (const key of ['entersPerS', 'entersPerReq']) {
      expect(storage.cells.find((c) => c.key === key), key).toMatchObject({ value: null, text: '—', title: expect.stringMatching(/^not counted/) });
    }
  });

  it('lists each probe with its state and its live cost from the BPF run-time stats', () => {
    const rows = probeRows(statuses, [withKernel(0, kernel())]);
    expect(rows.map((r) => [r.name, r.attached, r.state])).toEqual([
      ['uring_latency', true, 'attached · tp_btf · in-process'],
      ['runqueue', false, 'not attached'],
    ]);
    expect(rows[0]!.cost).toMatchObject({ nsPerEvent: 150, scope: 'live' });
    expect(rows[0]!.cost!.cpuShare).toBeCloseTo(150_000 / 100e6);
    expect(rows[1]!.cost).toBeNull();
    expect(rows[1]!.fix).toMatch(/setcap/);
    // the summary's measured cost wins once the run ended
    const ended = probeRows([{ ...statuses[0]!, overhead: { nsPerEvent: 120, events: 5e6, cpuShare: 0.004 } }], []);
    expect(ended[0]!.cost).toMatchObject({ nsPerEvent: 120, scope: 'summary', text: '120 ns/event · 0.4 % of all CPUs' });
  });

  it('time-sampled per-request probes: softirq rates over the observed time (est.), the share in the probe rows', () => {
    // Two frames of 100 ms in which the per-request probes were attached 1 ms each (duty 0.01).
    const sampled = (seq: number) => withKernel(seq, KernelFrameSchema.parse({
      ...kernel(),
      perRequestSampling: { duty: 0.01, intervalNs: 100e6, observedNs: 1e6, observedShare: 0.01, windows: 1, windowNs: 1e6, attachErrors: 0, lastError: null },
      softirq: { netRxNs: 20_000, netTxNs: 10_000, netRxCount: 10, netTxCount: 5, napiPolls: 3 },
    }));
    const frames = [sampled(1), sampled(0)];
    const cell = kernelCountersView(frames, { retransmits: 0, drops: 0, closeDrops: 0, lostEvents: 0 })!.cells.find((c) => c.key === 'softirqMs')!;
    expect(cell.value).toBeCloseTo(30); // 60 µs of softirq in 2 ms observed, not in 200 ms
    expect(cell.label).toBe('softirq ms/s (est.)');
    expect(cell.title).toMatch(/attached 1\.0 % of these frames/);
    expect(perRequestSamplingView(frames, null)).toEqual({ duty: 0.01, share: 0.01, text: 'sampled 1.0 % of the time' });
    // Only the per-request probes' rows carry it; without frames, the summary's entry says it.
    const rows = probeRows([statuses[0]!, { ...statuses[1]!, attached: true }], frames);
    expect(rows[0]!.sampling?.text).toBe('sampled 1.0 % of the time');
    expect(rows[1]!.sampling).toBeNull();
    const ended = probeRows([{ ...statuses[0]!, sampling: { duty: 0.01, observedShare: 0.0123 } }], []);
    expect(ended[0]!.sampling).toEqual({ duty: 0.01, share: 0.0123, text: 'sampled 1.2 % of the time' });
    // Frames that count their windows' requests: softirq time per request of the windows × every
    // request. The windows held 5 of each frame's 1,000 requests (not the 1 % of time share's 10:
    // the attached probes slowed them): 60 µs × 2000 / 10 over 0.2 s = 60 ms/s.
    const counted = (seq: number) => withKernel(seq, KernelFrameSchema.parse({
      ...kernel(),
      perRequestSampling: { duty: 0.01, intervalNs: 100e6, observedNs: 1e6, observedShare: 0.01, observedRequests: 5, windows: 1, windowNs: 1e6, attachErrors: 0, lastError: null },
      softirq: { netRxNs: 20_000, netTxNs: 10_000, netRxCount: 10, netTxCount: 5, napiPolls: 3 },
    }));
    const byRequests = kernelCountersView([counted(1), counted(0)], { retransmits: 0, drops: 0, closeDrops: 0, lostEvents: 0 })!.cells.find((c) => c.key === 'softirqMs')!;
    expect(byRequests.value).toBeCloseTo(60);
    expect(byRequests.label).toBe('softirq ms/s (est.)');
    expect(byRequests.title).toMatch(/holding 0\.5 % of their requests; this is its time per request of then × every request/);
    // One frame without the count (an older engine) makes the whole estimate fall back to the rate.
    expect(kernelCountersView([counted(1), sampled(0)], { retransmits: 0, drops: 0, closeDrops: 0, lostEvents: 0 })!.cells.find((c) => c.key === 'softirqMs')!.value).toBeCloseTo(30);
    // Duty 1: always attached, exact counts, nothing estimated.
    const whole = withKernel(0, KernelFrameSchema.parse({ ...kernel(), perRequestSampling: { duty: 1, intervalNs: 100e6, observedNs: 100e6, observedShare: 1, windows: null, windowNs: null, attachErrors: 0, lastError: null } }));
    expect(perRequestSamplingView([whole], null)?.text).toBe('attached all the time');
    expect(kernelCountersView([whole], { retransmits: 0, drops: 0, closeDrops: 0, lostEvents: 0 })!.cells.find((c) => c.key === 'softirqMs')!.label).toBe('softirq ms/s');
    expect(perRequestSamplingView([withKernel(0, kernel())], statuses)).toBeNull();
  });

  it('softirq ms/s is — (not 0) where the time-sampled probe saw nothing: no window in these frames, or not attached', () => {
    const frameWith = (seq: number, perRequestSampling: KernelFrame['perRequestSampling']) => withKernel(seq, KernelFrameSchema.parse({
      ...kernel(), perRequestSampling, softirq: { netRxNs: 0, netTxNs: 0, netRxCount: 0, netTxCount: 0, napiPolls: 0 },
    }));
    const unwindowed = { duty: 0.002, intervalNs: 100e6, observedNs: 0, observedShare: 0, observedRequests: 0, windows: 0, windowNs: 10e6, attachErrors: 0, lastError: null };
    const cellOf = (frames: RunFrame[]) => kernelCountersView(frames, { retransmits: 0, drops: 0, closeDrops: 0, lostEvents: 0 })!.cells.find((c) => c.key === 'softirqMs')!;
    const unseen = cellOf([frameWith(1, unwindowed), frameWith(0, unwindowed)]);
    expect(unseen).toMatchObject({ value: null, text: '—', label: 'softirq ms/s (est.)' });
    expect(unseen.title).toMatch(/^not observed: the softirq probe is time-sampled \(probes\.perRequestDuty 0\.002\) and none of these frames held one of its windows/);
    const off = cellOf([frameWith(1, null), frameWith(0, null)]);
    expect(off).toMatchObject({ value: null, text: '—' });
    expect(off.title).toMatch(/^not measured: the per-request probes .* were not attached/);
    // One frame with a window among them: a number again, over the time it saw.
    const one = cellOf([frameWith(1, unwindowed), withKernel(0, KernelFrameSchema.parse({ ...kernel(), perRequestSampling: { ...unwindowed, observedNs: 1e6, observedShare: 0.01, observedRequests: 5, windows: 1 } }))]);
    expect(one.value).not.toBeNull();
    expect(one.title).toMatch(/attached 0\.5 % of these frames/);
  });

  it('says why a kernel heatmap is empty: the probe\'s reason and fix, or no kernel data at all', () => {
    expect(kernelEmptyText({ probe: 'runqueue', statuses, framesWithData: 0, frames: 10, runLive: true })).toBe(
      'probes not attached: no CAP_BPF — fix: setcap cap_bpf,cap_perfmon+ep the helper',
    );
    expect(kernelEmptyText({ probe: 'uring_latency', statuses, framesWithData: 10, frames: 10, runLive: true })).toBeNull();
    expect(kernelEmptyText({ probe: 'uring_latency', statuses: null, framesWithData: 0, frames: 10, runLive: true })).toMatch(/^probes not attached: /);
    expect(kernelEmptyText({ probe: 'uring_latency', statuses: null, framesWithData: 0, frames: 0, runLive: false })).toMatch(/during a run/);
  });

  it('takes the statuses from the ended run\'s summary, else from its phase', () => {
    const summary = { runId: 'r1', probes: [statuses[1]!] };
    expect(shownProbeStatuses('r1', { probes: statuses }, summary)).toEqual([statuses[1]]);
    expect(shownProbeStatuses('r2', { probes: statuses }, summary)).toEqual(statuses);
    expect(shownProbeStatuses('r2', null, null)).toBeNull();
  });
});

describe('shared time axis and phase labels', () => {
  it('uses one window and tick step for equal widths, ticks strictly inside', () => {
    const frames = Array.from({ length: 600 }, (_, i) => ({ tMs: 30_000 + (i + 1) * 100, intervalMs: 100 }));
    const w = timeWindow(frames);
    expect(w.min).toBeCloseTo(30.05);
    expect(w.max).toBeCloseTo(90.05);
    const step = timeTickStep(w, 800);
    expect(step).toBe(10);
    expect(timeTicks(w, step)).toEqual([40, 50, 60, 70, 80, 90]);
    expect(timeTicks({ min: 0.05, max: 1.05 }, 0.2)).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
  });

  it('never lets phase labels overlap each other or leave the plot', () => {
    const marks = [10, 14, 18, 400, 590].map((x) => ({ x, text: 'SQPOLL on, rings 2', width: 100 }));
    const placed = layoutPhaseLabels(marks, 600, { shortWidth: (t) => t.length * 6 });
    const drawn = placed.flatMap((p, i) => (p.left === null ? [] : [{ ...p, width: p.text === marks[i]!.text ? 100 : p.text.length * 6 }]));
    expect(drawn.length).toBeGreaterThanOrEqual(3);
    for (const d of drawn) {
      expect(d.left).toBeGreaterThanOrEqual(0);
      expect(d.left! + d.width).toBeLessThanOrEqual(600);
    }
    for (const a of drawn) for (const b of drawn) if (a !== b && a.lane === b.lane) expect(a.left! + a.width <= b.left! || b.left! + b.width <= a.left!).toBe(true);
    // the label at the right edge goes left of its line
    expect(placed[4]!.left! + 100).toBeLessThanOrEqual(590);
  });

  it('puts the p99 axis on whole octaves with at most five labels', () => {
    const a = octaveAxis([300, 5000, 40_000]);
    expect(a.min).toBe(256);
    expect(a.max).toBe(65536);
    expect(a.ticks.length).toBeLessThanOrEqual(5);
    for (const t of a.ticks) expect(Math.log2(t) % 1).toBe(0);
    expect(octaveAxis([]).ticks.length).toBeGreaterThan(1);
  });
});

describe('Space on the toolbar', () => {
  const el = (tagName: string, attrs: Record<string, string> = {}) => ({ tagName, getAttribute: (n: string) => attrs[n] ?? null });
  it('starts or stops from the page and from the run buttons, leaves other controls alone', () => {
    expect(spaceAction(el('BODY'), { startEnabled: true, stopEnabled: false })).toBe('start');
    expect(spaceAction(el('BUTTON', { 'data-testid': 'start-button' }), { startEnabled: false, stopEnabled: true })).toBe('stop');
    expect(spaceAction(el('BUTTON', { 'data-testid': 'stop-button' }), { startEnabled: false, stopEnabled: false })).toBe('none');
    expect(spaceAction(el('INPUT'), { startEnabled: true, stopEnabled: false })).toBe('ignore');
    expect(spaceAction(el('BUTTON', { 'data-testid': 'view-live' }), { startEnabled: true, stopEnabled: false })).toBe('ignore');
    expect(spaceAction(el('DIV', { role: 'switch' }), { startEnabled: true, stopEnabled: false })).toBe('ignore');
    // A row in the tab order (the spike table's) opens its panel: Space is its own.
    expect(spaceAction(el('TR', { tabindex: '0' }), { startEnabled: true, stopEnabled: false })).toBe('ignore');
    expect(spaceAction(el('MAIN', { tabindex: '-1' }), { startEnabled: true, stopEnabled: false })).toBe('start');
    expect(spaceAction(null, { startEnabled: false, stopEnabled: true })).toBe('stop');
  });
});

describe('contrast', () => {
  const css = readFileSync(path.join(__dirname, '../../renderer/src/styles.css'), 'utf8');
  const cssVar = (name: string) => new RegExp(`--${name}:\\s*(#[0-9a-f]{6})`, 'i').exec(css)![1]!;

  it('computes WCAG contrast ratios', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrastRatio('#777777', '#777777')).toBeCloseTo(1, 5);
    expect(contrastRatio('rgb(0,0,0)', '#ffffff')).toBeCloseTo(21, 5);
    // the old lowest heat colour and faint text, as the issue measured them
    expect(contrastRatio('#2b2462', '#141920')).toBeCloseTo(1.29, 2);
    expect(contrastRatio('#5d6673', '#141920')).toBeCloseTo(3.04, 2);
  });

  it('keeps every heat colour, the lowest count included, at least 3:1 against the panel', () => {
    expect(CHART.panel).toBe(cssVar('panel'));
    for (const c of HEAT_RAMP) expect(contrastRatio(c, CHART.panel)).toBeGreaterThanOrEqual(3);
  });

  it('keeps text at least 4.5:1 on the page, the panels and the chart labels', () => {
    for (const text of [cssVar('text'), cssVar('muted'), cssVar('faint'), CHART.text]) {
      for (const bg of [cssVar('bg'), cssVar('panel'), cssVar('panel-2')]) expect(contrastRatio(text, bg), `${text} on ${bg}`).toBeGreaterThanOrEqual(4.5);
    }
    for (const line of CHART.quantiles) expect(contrastRatio(line, CHART.panel)).toBeGreaterThanOrEqual(3);
  });
});

describe('numeric readouts', () => {
  it('follow the frames at most every READOUT_REFRESH_MS, a new run at once, the last frame always', async () => {
    vi.useFakeTimers();
    try {
      setActivePinia(createPinia());
      const frames = useFramesStore();
      const push = async (f: RunFrame) => {
        frames.buffer.push(f);
        await nextTick();
      };
      await push(withKernel(0, null));
      expect(frames.readout?.seq).toBe(0); // a new run's first frame shows at once
      await push(withKernel(1, null));
      await push(withKernel(2, null));
      expect(frames.readout?.seq).toBe(0);
      vi.advanceTimersByTime(READOUT_REFRESH_MS);
      expect(frames.readout?.seq).toBe(2); // the newest, not every one in between
      await push(runFrame({ runId: 'r2', seq: 0 }));
      expect(frames.readout?.runId).toBe('r2');
    } finally {
      vi.useRealTimers();
    }
  });
});
