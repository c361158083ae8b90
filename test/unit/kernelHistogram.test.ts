/**
 * The kernel (ns) histogram layout the eBPF probes record into: the TypeScript helpers agree with
 * the contract's bit formula and with the native addon's own index function (the BPF programs'),
 * and the host's overhead maths follow the documented formula.
 */
import { describe, expect, it } from 'vitest';
import {
  KERNEL_HISTOGRAM_LAYOUT, KernelHistogram, kernelBucketIndex, kernelBucketLowerNs, kernelBucketUpperNs,
  HISTOGRAM_LAYOUT, histogramBucketLowerUs, logLinearLower,
} from '../../electron/contract';
import type { ProbeStatus, RunSummary } from '../../electron/contract';
import { closingRetransmitWords, KernelAccumulator, kernelSummaryLines, notLossWords, overheadOf, shareText } from '../../electron/host/run/probes';

/** The contract's formula with integer shifts, as C computes it. */
function contractIndex(v: bigint): number {
  if (v < 64n) return Number(v);
  if (v >= 1n << 37n) return 1055;
  const e = v.toString(2).length - 1;
  return 64 + (e - 6) * 32 + Number((v >> BigInt(e - 5)) & 31n);
}

/** Values around every bucket edge plus a spread of odd values. */
function sampleValues(): bigint[] {
  const values: bigint[] = [];
  for (let v = 0n; v < 300n; v++) values.push(v);
  for (let e = 6n; e <= 38n; e++) {
    for (let sub = 0n; sub < 32n; sub++) {
      const edge = (32n + sub) << (e - 5n);
      values.push(edge - 1n, edge, edge + 1n);
    }
  }
  let x = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < 5000; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
    values.push(x >> BigInt(27 + (i % 30)));
  }
  return values;
}

describe('kernel histogram layout (ns)', () => {
  it('has the contract shape: 64 linear buckets, 32 per octave up to 2^37 ns, 1056 buckets', () => {
    expect(KERNEL_HISTOGRAM_LAYOUT).toMatchObject({ unit: 'ns', linearBuckets: 64, subBucketBits: 5, maxExponent: 36, bucketCount: 1056 });
    expect(kernelBucketUpperNs(1055)).toBe(2 ** 37);
    expect(kernelBucketLowerNs(64)).toBe(64);
    expect(kernelBucketLowerNs(96)).toBe(128);
  });

  it('index() is the contract formula, and every value lies in its bucket', () => {
    for (const v of sampleValues()) {
      const n = Number(v);
      const index = kernelBucketIndex(n);
      expect(index, `value ${v}`).toBe(contractIndex(v));
      if (v < 1n << 37n) {
        expect(kernelBucketLowerNs(index)).toBeLessThanOrEqual(n);
        expect(kernelBucketUpperNs(index)).toBeGreaterThan(n);
      }
    }
  });

  it('buckets tile the range without gaps and are at most 1/32 of their value wide', () => {
    for (let i = 0; i + 1 < KERNEL_HISTOGRAM_LAYOUT.bucketCount; i++) {
      expect(kernelBucketUpperNs(i)).toBe(kernelBucketLowerNs(i + 1));
      if (i >= 64) expect((kernelBucketUpperNs(i) - kernelBucketLowerNs(i)) / kernelBucketLowerNs(i)).toBeLessThanOrEqual(1 / 32);
    }
  });

  it('the generic layout helpers still give the µs layout of the client histogram', () => {
    for (let i = 0; i < HISTOGRAM_LAYOUT.bucketCount; i += 7) expect(logLinearLower(HISTOGRAM_LAYOUT, i)).toBe(histogramBucketLowerUs(i));
  });

  it('agrees with the native addon (the kh_index() the BPF programs are compiled with)', () => {
    const native = require('../../native') as { kernelHistogramIndex: (ns: number) => number; kernelHistogramLayout: () => unknown };
    expect(native.kernelHistogramLayout()).toEqual({ ...KERNEL_HISTOGRAM_LAYOUT });
    for (const v of sampleValues()) {
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) continue;
      expect(native.kernelHistogramIndex(Number(v)), `value ${v}`).toBe(kernelBucketIndex(Number(v)));
    }
  });

  it('percentiles report the highest value of the bucket (never understated)', () => {
    const h = new KernelHistogram();
    h.add([[kernelBucketIndex(1000), 99], [kernelBucketIndex(1_000_000), 1]]);
    expect(h.quantileNs(0.5)).toBe(kernelBucketUpperNs(kernelBucketIndex(1000)) - 1);
    expect(h.quantileNs(0.99)).toBe(kernelBucketUpperNs(kernelBucketIndex(1000)) - 1);
    expect(h.quantileNs(1)).toBe(kernelBucketUpperNs(kernelBucketIndex(1_000_000)) - 1);
    expect(h.maxNs()).toBeGreaterThanOrEqual(1_000_000);
  });
});

describe('probe overhead maths', () => {
  it('ns/event = Σ run_time / Σ run_cnt; CPU share = Σ run_time / (measured s × CPUs)', () => {
    expect(overheadOf(5_000_000, 10_000, 1e9, 2)).toEqual({ nsPerEvent: 500, events: 10_000, cpuShare: 0.0025 });
    expect(overheadOf(0, 0, 1e9, 2)).toEqual({ nsPerEvent: 0, events: 0, cpuShare: 0 });
  });

  it('sums frames per probe, and a frame without run-time stats makes the overhead unknown', () => {
    const frame = (overhead: { program: string; probe: string; runTimeNs: number; runCount: number }[] | null) => ({
      tMs: 0,
      uring: { submits: 10, completions: 10, enters: 5, cqWaits: 0, ioWqPunts: 1, cqeOverflows: 0, shortWrites: 0, reqFailed: 0, latencyNs: [[100, 10]] as [number, number][], taskWorkLatencyNs: [], byOpcode: [] },
      runqueue: { latencyNs: [[80, 3]] as [number, number][], count: 3, preemptions: 1 },
      sqpoll: { onCpuNs: 0, wakeups: 0 },
      softirq: { netRxNs: 2e6, netTxNs: 0, netRxCount: 4, netTxCount: 0, napiPolls: 0 },
      tcp: { retransmits: 0, drops: 0, lostEvents: 0, events: [], truncated: 0, channel: 'ringbuf' },
      overhead,
    });
    const acc = new KernelAccumulator();
    acc.add(frame([{ program: 'a', probe: 'runqueue', runTimeNs: 3000, runCount: 10 }, { program: 'b', probe: 'runqueue', runTimeNs: 1000, runCount: 10 }]), 1e8, 10);
    acc.add(frame([{ program: 'a', probe: 'runqueue', runTimeNs: 3000, runCount: 10 }]), 1e8, 10);
    const o = acc.overheadByProbe(2).get('runqueue')!;
    expect(o.nsPerEvent).toBeCloseTo(7000 / 30);
    expect(o.cpuShare).toBeCloseTo(7000 / (2e8 * 2));
    const stats = acc.stats()!;
    expect(stats.uring.entersPerReq).toBe(0.5);
    expect(stats.softirq.netRxMs).toBe(4);
    expect(stats.runqueue.latencyNs.count).toBe(6);
    acc.add(frame(null), 1e8, 10);
    expect(acc.overheadByProbe(2).size).toBe(0);
  });
  it('completions per request of time-sampled frames: over the requests the windows held, never requests × observed share', () => {
    const frame = (perRequestSampling: { duty: number; observedNs: number; observedShare: number; observedRequests?: number | null; windows?: number | null; windowNs?: number | null } | null, completions: number) => ({
      tMs: 0,
      ...(perRequestSampling ? { perRequestSampling: { intervalNs: 1e8, windows: 1, windowNs: 1e6, attachErrors: 0, lastError: null, ...perRequestSampling } } : {}),
      uring: { submits: completions, completions, enters: 5, cqWaits: 0, ioWqPunts: 0, cqeOverflows: 0, shortWrites: 0, reqFailed: 0, latencyNs: [] as [number, number][], taskWorkLatencyNs: [], byOpcode: [] },
      runqueue: { latencyNs: [] as [number, number][], count: 0, preemptions: 0 },
      sqpoll: { onCpuNs: 0, wakeups: 0 },
      softirq: { netRxNs: 0, netTxNs: 0, netRxCount: 0, netTxCount: 0, napiPolls: 0 },
      tcp: { retransmits: 0, drops: 0, lostEvents: 0, events: [], truncated: 0, channel: 'ringbuf' },
      overhead: null,
    });
    // 1 % of each 100 ms frame observed (10,000 requests a frame), but the probes slowed the
    // requests they saw: the windows held 40 of them, not 100, and 40 completions.
    const sampled = new KernelAccumulator();
    for (let i = 0; i < 3; i++) sampled.add(frame({ duty: 0.01, observedNs: 1e6, observedShare: 0.01, observedRequests: 40 }, 40), 1e8, 10_000);
    const s = sampled.stats()!;
    expect(s.uring.completionsPerReq).toBe(1);
    expect(s.perRequestSampling).toMatchObject({ observedRequests: 120, windows: 3 });
    expect(s.perRequestSampling!.observedShare).toBeCloseTo(0.01);
    // A frame that did not count its windows' requests (an older engine): no ratio, not a guess.
    sampled.add(frame({ duty: 0.01, observedNs: 1e6, observedShare: 0.01 }, 40), 1e8, 10_000);
    expect(sampled.stats()!.uring.completionsPerReq).toBeNull();
    expect(sampled.stats()!.perRequestSampling!.observedRequests).toBeNull();
    // Windows that held no request: nothing observed to divide by.
    const empty = new KernelAccumulator();
    empty.add(frame({ duty: 0.01, observedNs: 1e6, observedShare: 0.01, observedRequests: 0 }, 0), 1e8, 10_000);
    expect(empty.stats()!.uring.completionsPerReq).toBeNull();
    // Duty 1 (attached all the time): every request of the frames.
    const whole = new KernelAccumulator();
    whole.add(frame({ duty: 1, observedNs: 1e8, observedShare: 1, observedRequests: null, windows: null, windowNs: null }, 20_000), 1e8, 10_000);
    expect(whole.stats()!.uring.completionsPerReq).toBe(2);
    expect(whole.stats()!.perRequestSampling!.observedRequests).toBe(10_000);
    // No per-request sampling at all (an addon before it): every request.
    const old = new KernelAccumulator();
    old.add(frame(null, 15_000), 1e8, 10_000);
    expect(old.stats()!.uring.completionsPerReq).toBe(1.5);
  });
});

describe('the summary\'s TCP drops that are not losses', () => {
  it('names duplicates (spurious retransmits\' copies) and drops at closing or closed sockets apart, and nothing when there are none', () => {
    expect(notLossWords({ closeDrops: 0, duplicateDrops: 0 })).toBe('');
    expect(notLossWords({})).toBe('');
    expect(notLossWords({ closeDrops: 48 })).toBe(' (and 48 at closing or closed sockets; not losses)');
    expect(notLossWords({ closeDrops: 48, duplicateDrops: 100 })).toBe(' (and 100 duplicates of data the receiver already had, sent by spurious retransmits; 48 at closing or closed sockets; not losses)');
  });
});

describe('the summary\'s TCP retransmits of closing sockets', () => {
  const frame = (tcp: { retransmits: number; events: { kind: 'retransmit' | 'drop'; state: string | null }[]; truncated?: number }) => ({
    tMs: 0,
    uring: { submits: 0, completions: 0, enters: 0, cqWaits: 0, ioWqPunts: 0, cqeOverflows: 0, shortWrites: 0, reqFailed: 0, latencyNs: [] as [number, number][], taskWorkLatencyNs: [], byOpcode: [] },
    runqueue: { latencyNs: [] as [number, number][], count: 0, preemptions: 0 },
    sqpoll: { onCpuNs: 0, wakeups: 0 },
    softirq: { netRxNs: 0, netTxNs: 0, netRxCount: 0, netTxCount: 0, napiPolls: 0 },
    tcp: { drops: 0, lostEvents: 0, channel: 'ringbuf', truncated: 0, ...tcp, events: tcp.events.map((e, i) => ({ tMs: 0, reason: null, sport: 50_000 + i, dport: 7000, ...e })) },
    overhead: null,
  });

  it('counts the FINs sent again by closing sockets apart, among the retransmits (the uncarried scaled alike), and says so in the text', () => {
    const acc = new KernelAccumulator();
    // The stop frame: 50 retransmits, all in FIN_WAIT1.
    acc.add(frame({ retransmits: 50, events: Array.from({ length: 50 }, () => ({ kind: 'retransmit' as const, state: 'FIN_WAIT1' })) }), 1e8, 100);
    // 6 retransmits, 3 carried: one ESTABLISHED, two LAST_ACK (so 4 of the 6 are closing).
    acc.add(frame({ retransmits: 6, truncated: 3, events: [{ kind: 'retransmit', state: 'ESTABLISHED' }, { kind: 'retransmit', state: 'LAST_ACK' }, { kind: 'retransmit', state: 'LAST_ACK' }] }), 1e8, 100);
    // None carried: whose they were is unknown, so they count as open connections'.
    acc.add(frame({ retransmits: 5, truncated: 5, events: [] }), 1e8, 100);
    const tcp = acc.stats()!.tcp;
    expect(tcp).toMatchObject({ retransmits: 61, closeRetransmits: 54 });
    expect(closingRetransmitWords(tcp)).toBe(' (54 of them by closing sockets: FINs sent again, no request waited)');
    expect(closingRetransmitWords({ retransmits: 50, closeRetransmits: 50 })).toBe(' (all of them by closing sockets: FINs sent again, no request waited)');
    expect(closingRetransmitWords({ retransmits: 3, closeRetransmits: 0 })).toBe('');
    expect(closingRetransmitWords({ retransmits: 3 })).toBe('');
  });
});

describe('the text summary says what the time-sampled probes saw', () => {
  /** Frames of 100 ms with the per-request probes' sampling `ps` (null: not attached), 20,000
   *  requests each, and the softirq and io_uring latency numbers those windows recorded. */
  function summaryOf(ps: { duty: number; observedNs: number; windows: number | null } | null, opts: { latency?: boolean; softirq?: boolean; frames?: number; statuses?: Partial<Record<string, boolean>> } = {}): RunSummary {
    const acc = new KernelAccumulator();
    for (let i = 0; i < (opts.frames ?? 20); i++) {
      acc.add({
        tMs: 0,
        ...(ps ? { perRequestSampling: { duty: ps.duty, intervalNs: 1e8, observedNs: i === 0 ? ps.observedNs : 0, observedShare: i === 0 ? ps.observedNs / 1e8 : 0, observedRequests: i === 0 && ps.observedNs > 0 ? 40 : 0, windows: ps.windows === null ? null : i === 0 ? ps.windows : 0, windowNs: 1e6, attachErrors: 0, lastError: null } } : { perRequestSampling: null }),
        uring: { submits: 0, completions: 0, enters: 5, cqWaits: 0, ioWqPunts: 0, cqeOverflows: 0, shortWrites: 0, reqFailed: 0, latencyNs: i === 0 && opts.latency ? [[300, 10]] as [number, number][] : [], taskWorkLatencyNs: [], byOpcode: [] },
        runqueue: { latencyNs: [[80, 3]] as [number, number][], count: 3, preemptions: 0 },
        sqpoll: { onCpuNs: 0, wakeups: 0 },
        softirq: i === 0 && opts.softirq ? { netRxNs: 300_000, netTxNs: 100_000, netRxCount: 195, netTxCount: 20, napiPolls: 195 } : { netRxNs: 0, netTxNs: 0, netRxCount: 0, netTxCount: 0, napiPolls: 0 },
        tcp: { retransmits: 0, drops: 0, lostEvents: 0, events: [], truncated: 0, channel: 'ringbuf' },
        overhead: null,
      }, 1e8, 20_000);
    }
    const probes = (['uring_latency', 'softirq', 'runqueue'] as const).map((name): ProbeStatus => ({ name, attached: opts.statuses?.[name] ?? true, reason: '', variant: null, fix: null, loadedBy: null, overhead: null }));
    return { kernelStats: acc.stats(), probes, requests: 400_000, measuredS: 2, storage: null, target: null } as unknown as RunSummary;
  }
  const text = (s: RunSummary) => kernelSummaryLines(s).join('\n');

  it('no window in the measured time: the softirq numbers are n/a, not zeros (the report: "softirq NET_RX 0.0 ms NET_TX 0.0 ms · NAPI polls 0" on a 200k req/s run)', () => {
    const t = text(summaryOf({ duty: 0.002, observedNs: 0, windows: 0 }));
    expect(t).toMatch(/softirq n\/a \(not observed: the time-sampled probes' windows \(probes\.perRequestDuty 0\.002\) fell in none of the measured time\)/);
    expect(t).toMatch(/io_uring in-kernel latency n\/a \(no samples: not observed/);
    expect(t).not.toMatch(/NET_RX 0\.0 ms|NAPI polls 0/);
  });

  it('one short window: the softirq numbers say they are sampled and what share, even where io_uring latency has no samples (the report: NAPI polls 195, unqualified)', () => {
    const t = text(summaryOf({ duty: 0.002, observedNs: 370_000, windows: 1 }, { softirq: true }));
    // 0.37 ms of 2 s: 0.0185 % (0.018: two digits).
    expect(t).toMatch(/softirq NET_RX 0\.3 ms NET_TX 0\.1 ms · NAPI polls 195 \(sampled 0\.018 % of the time, 1 window, probes\.perRequestDuty 0\.002\)/);
    expect(t).toMatch(/io_uring in-kernel latency n\/a \(no samples; sampled 0\.018 % of the time/);
    const both = text(summaryOf({ duty: 0.01, observedNs: 20e6, windows: 3 }, { softirq: true, latency: true }));
    expect(both).toMatch(/io_uring in-kernel p50 \S+ \S+ p99 \S+ \S+ \(sampled 1\.0 % of the time, 3 windows, probes\.perRequestDuty 0\.01\)/);
    expect(both).toMatch(/NAPI polls 195 \(sampled 1\.0 % of the time, 3 windows/);
  });

  it('the probes not attached: n/a, not zeros; attached all the time (duty 1): the numbers as they are', () => {
    const off = text(summaryOf(null, { statuses: { uring_latency: false, softirq: false } }));
    expect(off).toMatch(/softirq n\/a \(not attached\)/);
    expect(off).toMatch(/io_uring in-kernel latency n\/a \(no samples: not attached\)/);
    // softirq alone failed to attach while uring_latency sampled.
    expect(text(summaryOf({ duty: 0.01, observedNs: 20e6, windows: 3 }, { latency: true, statuses: { softirq: false } }))).toMatch(/softirq n\/a \(not attached\)/);
    const whole = text(summaryOf({ duty: 1, observedNs: 1e8, windows: null }, { softirq: true, latency: true, frames: 1 }));
    expect(whole).toMatch(/softirq NET_RX 0\.3 ms NET_TX 0\.1 ms · NAPI polls 195 · SQPOLL/);
    expect(whole).not.toMatch(/sampled/);
    expect([0.125, 0.0037, 0.000185, 0].map(shareText)).toEqual(['12.5', '0.37', '0.018', '0']);
  });
});
