/**
 * The engine counters panel's formatting: per-request ratios of the newest frame, the buffer
 * pool, ENOBUFS/re-arms/CQ overflows, zero-copy vs copied sends (with the loopback sentence),
 * and the server CPU split, from a frame's `server` object; nothing without one.
 */
import { describe, expect, it } from 'vitest';
import { batchedWaitWords, zeroCopyWords } from '../../electron/contract';
import { engineCountersView, formatRatio, LOOPBACK_ZC_NOTE, SEGMENTS_NOTE, ZC_BUDGET_NOTE, type ServerCounters } from '../../renderer/src/format/engineCounters';

function counters(over: Partial<ServerCounters> = {}): ServerCounters {
  return {
    enters: 2000, batchedWaits: 0, cqes: 4100, recvs: 2050, sends: 1000, bytesOut: 128_000, zeroCopySends: 0, copiedSends: 0, zeroCopyFallbacks: 0,
    enobufs: 0, rearms: 0, spilledBytes: 0, cqOverflows: 0, buffersInUse: 50, buffersTotal: 4096, buffersInRing: 4046,
    userCpuNs: 20_000_000, systemCpuNs: 60_000_000, sqpollCpuNs: 0, sqpollWorkNs: null,
    segmentsOut: 1500, segmentsIn: 1010, dataSegmentsOut: 1000, dataSegmentsIn: 1000, segmentsRequests: 1000, segmentsLost: false,
    errorsByOp: { accept: 0, recv: 0, send: 0, other: 0 }, ...over,
  };
}
const frame = (server: ServerCounters | null | undefined, requests = 1000, intervalMs = 100) => ({ requests, intervalMs, phase: 0, server });

describe('engine counters panel', () => {
  it('shows nothing for a frame without counters', () => {
    expect(engineCountersView(null)).toBeNull();
    expect(engineCountersView(frame(undefined))).toBeNull();
    expect(engineCountersView(frame(null))).toBeNull();
  });

  it('gives enters, CQEs, sends, recvs and TCP segments (with the data-carrying ones) per request of the frame', () => {
    const v = engineCountersView(frame(counters()))!;
    expect(v.ratios.map((c) => [c.label, c.text, c.value])).toEqual([
      ['enters', '2', 2],
      ['CQEs', '4.1', 4.1],
      ['sends', '1', 1],
      ['recvs', '2.05', 2.05],
      ['segs out', '1.5 · 1 data', 1.5],
      ['segs in', '1.01 · 1 data', 1.01],
    ]);
    expect(v.ratios.find((c) => c.key === 'segmentsOut')!.title).toContain(SEGMENTS_NOTE);
  });

  it('segments come from the newest frame that read them (once a second), over the requests of their own span', () => {
    const between = counters({ segmentsOut: null, segmentsIn: null, dataSegmentsOut: null, dataSegmentsIn: null, segmentsRequests: null });
    const read = counters({ segmentsOut: 30_000, segmentsIn: 20_000, dataSegmentsOut: 20_000, dataSegmentsIn: 20_000, segmentsRequests: 10_000 });
    const latest = frame(between);
    // newest first: the read 3 frames back covers 10,000 requests, not the latest frame's 1,000
    const v = engineCountersView(latest, [latest], [latest, frame(between), frame(between), frame(read), frame(counters())])!;
    expect(v.ratios.filter((c) => c.key.startsWith('segments')).map((c) => [c.text, c.value])).toEqual([['3 · 2 data', 3], ['2', 2]]);
    // Every segment with data: one figure, and the title says so.
    expect(v.ratios.find((c) => c.key === 'segmentsIn')!.title).toMatch(/every one carrying data/);
  });

  it('a newest read that lost the kernel\'s words reads — and says so, not the second before it', () => {
    const between = counters({ segmentsOut: null, segmentsIn: null, dataSegmentsOut: null, dataSegmentsIn: null, segmentsRequests: null });
    const lost = counters({ segmentsOut: null, segmentsIn: null, dataSegmentsOut: null, dataSegmentsIn: null, segmentsRequests: null, segmentsLost: true });
    const read = counters({ segmentsOut: 30_000, segmentsIn: 20_000, dataSegmentsOut: 20_000, dataSegmentsIn: 20_000, segmentsRequests: 10_000 });
    const latest = frame(between);
    const v = engineCountersView(latest, [latest], [latest, frame(lost), frame(between), frame(read)])!;
    const cell = v.ratios.find((c) => c.key === 'segmentsOut')!;
    expect(cell).toMatchObject({ text: '—', value: null });
    expect(cell.title).toMatch(/word on some connections that closed in it was lost/);
    // A read after the lost one counts again.
    const again = engineCountersView(latest, [latest], [frame(read), frame(lost)])!;
    expect(again.ratios.find((c) => c.key === 'segmentsOut')!.value).toBe(3);
  });

  it('segments not read yet, not countable here or not recorded (an older run) read — and say why, not 0', () => {
    for (const missing of [null, undefined]) {
      const none = counters({ segmentsOut: missing as null, segmentsIn: missing as null, dataSegmentsOut: missing as null, dataSegmentsIn: missing as null, segmentsRequests: missing as null });
      const v = engineCountersView(frame(none), undefined, [frame(none), frame(none)])!;
      const cell = v.ratios.find((c) => c.key === 'segmentsOut')!;
      expect(cell).toMatchObject({ text: '—', value: null });
      expect(cell.title).toMatch(/not counted yet \(they are read once a second\)/);
    }
  });

  it('SQPOLL shows as no enters per request, and its thread CPU apart', () => {
    const v = engineCountersView(frame(counters({ enters: 3, sqpollCpuNs: 95_000_000 })))!;
    expect(v.ratios[0]!.text).toBe('0.003');
    const sq = v.cpu.find((c) => c.key === 'sqpoll')!;
    expect(sq.text).toBe('95 µs · 95.0 %');
    expect(v.cpu.map((c) => c.label)).toEqual(['user', 'system', 'SQPOLL']);
    expect(v.cpu[0]!.text).toBe('20 µs · 20.0 %');
  });

  it('SQPOLL CPU says how much of it found work (SqWorkTime) over the window, where every frame reports it', () => {
    const f = (sqpollCpuNs: number, sqpollWorkNs: number | null) => frame(counters({ enters: 3, sqpollCpuNs, sqpollWorkNs }));
    const latest = f(90_000_000, 9_000_000);
    const sq = (window: ReturnType<typeof f>[]) => engineCountersView(latest, window)!.cpu.find((c) => c.key === 'sqpoll')!;
    // 9 + 27 ms of work in 90 + 90 ms of CPU: 20 % busy, 80 % spun idle
    const both = sq([latest, f(90_000_000, 27_000_000)]);
    expect(both.text).toBe('90 µs · 90.0 % · 20.0 % busy');
    expect(both.title).toContain('80.0 % spun idle');
    // a frame without the work time (a kernel before 6.11, an older run): no share at all
    expect(sq([latest, f(90_000_000, null)]).text).toBe('90 µs · 90.0 %');
    // read a moment after the CPU clock, work can come out a little over it: capped at 100 %
    expect(sq([f(10_000_000, 10_400_000)]).text).toContain('· 100.0 % busy');
    // no SQPOLL CPU: nothing to split
    expect(sq([f(0, 0)]).text).not.toContain('busy');
  });

  it('sums the CPU split over the window of the same phase (10 ms CPU ticks read true over a second)', () => {
    const tick = (userCpuNs: number, phase = 0) => ({ ...frame(counters({ userCpuNs, systemCpuNs: 0 })), phase });
    const latest = tick(0);
    // ten frames of 1000 requests each, one 10 ms user tick among them; one frame of an earlier phase is left out
    const window = [latest, ...Array.from({ length: 8 }, () => tick(0)), tick(10_000_000), tick(50_000_000, 1)];
    const v = engineCountersView(latest, window)!;
    expect(v.cpuFrames).toBe(10);
    expect(v.cpu[0]!.text).toBe('1 µs · 1.0 %');
    expect(v.cpu[0]!.value).toBe(10_000_000);
    // without a window: the frame alone
    expect(engineCountersView(latest)!.cpuFrames).toBe(1);
  });

  it('a frame without requests has no ratios (—), not infinities', () => {
    const v = engineCountersView(frame(counters({ segmentsRequests: 0 }), 0))!;
    expect(v.ratios.every((c) => c.text === '—' && c.value === null)).toBe(true);
    expect(v.cpu[0]!.text).toBe('— · 20.0 %');
  });

  it('buffer pool occupancy, highlighted near full; ENOBUFS, spills and overflows highlighted when they happen', () => {
    expect(engineCountersView(frame(counters()))!.pool).toMatchObject({ text: '50 / 4,096 (1.2 %)', warn: false });
    const full = engineCountersView(frame(counters({ buffersInUse: 4000, enobufs: 7, rearms: 7, spilledBytes: 32256, cqOverflows: 2 })))!;
    expect(full.pool.warn).toBe(true);
    expect(full.events.map((c) => [c.label, c.text, c.warn ?? false])).toEqual([
      ['ENOBUFS', '7', true],
      ['re-arms', '7', false],
      ['spilled', '32.3 kB', true],
      ['CQ overflows', '2', true],
    ]);
    expect(engineCountersView(frame(counters()))!.events.find((c) => c.key === 'spilledBytes')).toMatchObject({ text: '0 B', warn: false });
    expect(engineCountersView(frame(counters({ buffersTotal: 0, buffersInUse: 0 })))!.pool.text).toBe('no buffer pool');
  });

  it('counts the waits server.minWaitUs batched where there were some, and shows no cell where none (off, or not recorded)', () => {
    const cell = (over: Partial<ServerCounters>) => engineCountersView(frame(counters(over)))!.events.find((c) => c.key === 'batchedWaits');
    expect(cell({ batchedWaits: 1234 })).toMatchObject({ label: 'batched waits', text: '1,234', value: 1234 });
    expect(cell({ batchedWaits: 0 })).toBeUndefined();
    expect(cell({ batchedWaits: null })).toBeUndefined();
  });

  it('says how many free buffers the ring offers when hot first holds some back, and nothing when it offers all or was not recorded', () => {
    expect(engineCountersView(frame(counters({ buffersInUse: 3, buffersTotal: 64, buffersInRing: 4 })))!.pool.text).toBe('3 / 64 · 4 in ring');
    // The share then moves to the title (the line must fit its group at 1024 px).
    expect(engineCountersView(frame(counters({ buffersInUse: 3, buffersTotal: 64, buffersInRing: 4 })))!.pool.title).toMatch(/^provided buffers the server holds at the end of the frame, of the pool \(4\.7 %\);/);
    expect(engineCountersView(frame(counters({ buffersInUse: 3, buffersTotal: 64, buffersInRing: 61 })))!.pool.text).toBe('3 / 64 (4.7 %)');
    expect(engineCountersView(frame(counters({ buffersInUse: 3, buffersTotal: 64, buffersInRing: null })))!.pool.text).toBe('3 / 64 (4.7 %)');
  });

  it('zero-copy vs copied sends, with the loopback sentence only when every SEND_ZC was copied', () => {
    expect(engineCountersView(frame(counters()))!.sends).toMatchObject({ text: 'no SEND_ZC', note: null });
    const lo = engineCountersView(frame(counters({ copiedSends: 990 })))!.sends;
    expect(lo).toMatchObject({ text: '0 zero-copy · 990 copied', note: LOOPBACK_ZC_NOTE });
    expect(LOOPBACK_ZC_NOTE).toMatch(/copies every SEND_ZC .*loopback/);
    expect(engineCountersView(frame(counters({ copiedSends: 5, zeroCopySends: 900 })))!.sends.note).toBeNull();
  });

  it('sends past the SEND_ZC budget are shown with why, beside the loopback sentence', () => {
    const both = engineCountersView(frame(counters({ copiedSends: 40, zeroCopyFallbacks: 1234 })))!.sends;
    expect(both).toMatchObject({ fallbacks: 1234, text: '0 zero-copy · 40 copied', note: `${LOOPBACK_ZC_NOTE}; ${ZC_BUDGET_NOTE}`, noteShort: '1,234 past budget · all copied: local delivery' });
    // Only fallbacks in the frame (every SEND_ZC still waiting for its notification): still SEND_ZC's.
    expect(engineCountersView(frame(counters({ zeroCopyFallbacks: 3 })))!.sends).toMatchObject({ text: '0 zero-copy · 0 copied', note: ZC_BUDGET_NOTE, noteShort: '3 past budget' });
    expect(ZC_BUDGET_NOTE).toMatch(/half the buffer pool/);
  });

  it('the summaries\' SEND_ZC words (run warning, server verb): counts, why every one was copied, the share where some were', () => {
    expect(zeroCopyWords(0, 0, 0)).toBeNull();
    expect(zeroCopyWords(0, 12345, 0)).toBe(`0 zero-copy, 12,345 copied by the kernel (${LOOPBACK_ZC_NOTE}: here it only added notifications; it pays off toward a NIC)`);
    // Toward a NIC most go in place; the copied share is named, without the loopback sentence.
    expect(zeroCopyWords(900, 100, 0)).toBe('900 zero-copy, 100 copied by the kernel (10.0 %: delivered on this machine)');
    expect(zeroCopyWords(1000, 0, 0)).toBe('1,000 zero-copy, 0 copied by the kernel');
    expect(zeroCopyWords(0, 40, 1234)).toMatch(/^0 zero-copy, 40 copied by the kernel \(.*\), 1,234 sent as plain sends past the budget \(SEND_ZCs held half the buffer pool, rounded down: a one-buffer pool has none for them\)$/);
  });

  it('the summaries\' batched-wait words (run, server verb): nothing with server.minWaitUs off or the count not recorded; a count and its share of enters; that it never engaged', () => {
    expect(batchedWaitWords(0, 0, 1000)).toBe('');
    expect(batchedWaitWords(100, null, 1000)).toBe('');
    expect(batchedWaitWords(100, 980, 1000)).toBe(' · 980 batched waits (98 % of enters)');
    expect(batchedWaitWords(100, 5, 10_000)).toBe(' · 5 batched waits (0.1 % of enters)');
    expect(batchedWaitWords(100, 0, 1000)).toBe(' · no batched waits (completions never came from 4 or more connections, fewer than half of those open, at once: minWaitUs changed nothing)');
  });

  it('errors by op, only the ones that happened', () => {
    expect(engineCountersView(frame(counters()))!.errors).toEqual({ total: 0, text: 'none' });
    expect(engineCountersView(frame(counters({ errorsByOp: { accept: 0, recv: 3, send: 1, other: 0 } })))!.errors).toEqual({ total: 4, text: 'recv 3 · send 1' });
  });

  it('formats ratios with up to three significant digits', () => {
    expect(formatRatio(1)).toBe('1');
    expect(formatRatio(0.5)).toBe('0.5');
    expect(formatRatio(0.0125)).toBe('0.0125');
    expect(formatRatio(12.34)).toBe('12.3');
    expect(formatRatio(1234.4)).toBe('1,234');
    expect(formatRatio(0)).toBe('0');
    expect(formatRatio(null)).toBe('—');
  });
});
