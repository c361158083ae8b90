/**
 * RunFrames built for the spike detection and classification tests: a latency histogram from
 * a few (µs, count) pairs, and the evidence sources (system, kernel with sched / memory / offCpu)
 * at quiet values that a test raises one at a time.
 */
import { HISTOGRAM_LAYOUT, RunFrameSchema, type KernelFrame, type RunFrame, type SparseHistogram, type SystemFrame } from '../../electron/contract';

/** The histogram bucket of a latency (the layout of contract/histogram.ts). */
export function bucketOf(us: number): number {
  const v = Math.max(0, Math.floor(us));
  if (v < HISTOGRAM_LAYOUT.linearBuckets) return v;
  const e = Math.min(Math.floor(Math.log2(v)), HISTOGRAM_LAYOUT.maxExponent);
  return HISTOGRAM_LAYOUT.linearBuckets + (e - 6) * 32 + ((v >> (e - 5)) & 31);
}

/** [µs, count] pairs → a sparse histogram. */
export function histogramOf(pairs: Array<[number, number]>): SparseHistogram {
  const counts = new Map<number, number>();
  for (const [us, n] of pairs) if (n > 0) counts.set(bucketOf(us), (counts.get(bucketOf(us)) ?? 0) + n);
  return [...counts].sort((a, b) => a[0] - b[0]);
}

export function quietSystem(): SystemFrame {
  return {
    cpus: [0, 1], irqNs: 0, softirqNs: 2_000_000, netRxSoftirqs: 1000, netTxSoftirqs: 10, minorFaults: 5, majorFaults: 0,
    allocStalls: 0, pgscanDirect: 0, compactStalls: 0, procsRunning: 3, othersCpuNs: 5_000_000,
  };
}

export function quietKernel(tMs: number): KernelFrame {
  return {
    tMs,
    uring: { submits: 2000, completions: 2000, enters: 1000, cqWaits: 900, ioWqPunts: 0, cqeOverflows: 0, shortWrites: 0, reqFailed: 0, latencyNs: [], taskWorkLatencyNs: [], byOpcode: [] },
    runqueue: { latencyNs: [], count: 100, preemptions: 2 },
    sqpoll: { onCpuNs: 0, wakeups: 0 },
    softirq: { netRxNs: 0, netTxNs: 0, netRxCount: 0, netTxCount: 0, napiPolls: 0 },
    tcp: { retransmits: 0, drops: 0, lostEvents: 0, events: [], truncated: 0, channel: 'ringbuf' },
    overhead: null,
    sched: { competitors: [{ pid: 900, tgid: 900, comm: 'kworker/0:1', onCpuNs: 2_000_000, preemptedEngine: 0, cpus: [0] }], othersOnCpuNs: 1_000_000 },
    memory: { directReclaimNs: 0, directReclaimCount: 0, memcgReclaimNs: 0, memcgReclaimCount: 0, compactionNs: 0, compactionCount: 0, engineReclaimNs: 0, byTask: [] },
    offCpu: { minUs: 1000, events: [], truncated: 0 },
    profile: { hz: 99, samples: 20, lost: 0, folded: [['uring-srv-0;server_loop;io_uring_enter_[k]', 20]] },
  };
}

export interface FrameSpec {
  seq: number;
  phase?: number;
  measuring?: boolean;
  /** Latency [µs, count] pairs; default a quiet frame: p50 40 µs, p99 ~80 µs, max ~120 µs. */
  latency?: Array<[number, number]>;
  oldestInFlightUs?: number;
  intervalMs?: number;
  system?: SystemFrame | null;
  kernel?: KernelFrame | null;
  loadBusyShare?: number;
}

export const QUIET: Array<[number, number]> = [[40, 9000], [60, 900], [80, 90], [120, 10]];

/** A frame every field of which is valid RunFrame (checked with the schema). */
export function frame(spec: FrameSpec): RunFrame {
  const intervalMs = spec.intervalMs ?? 100;
  const tMs = (spec.seq + 1) * 100;
  const latency = spec.latency ?? QUIET;
  const requests = latency.reduce((n, [, c]) => n + c, 0);
  return RunFrameSchema.parse({
    runId: 'run-test', seq: spec.seq, phase: spec.phase ?? 0, tMs, intervalMs, measuring: spec.measuring ?? true,
    requests, bytes: requests * 64, errors: 0, throughputRps: requests * 10,
    latencyUs: { p50: 40, p99: 80, max: 120, p99Corrected: 80 },
    histogram: histogramOf(latency), serverCpuNs: 50_000_000, loadCpuNs: 50_000_000, inFlight: 8,
    oldestInFlightUs: spec.oldestInFlightUs ?? 100, loadBusyShare: spec.loadBusyShare ?? 0.5, final: false,
    server: {
      enters: 1000, cqes: 2000, recvs: 1000, sends: 1000, bytesOut: 64000, zeroCopySends: 0, copiedSends: 0, zeroCopyFallbacks: 0, enobufs: 0, rearms: 0, spilledBytes: 0,
      cqOverflows: 0, buffersInUse: 8, buffersTotal: 256, buffersInRing: 248, userCpuNs: 0, systemCpuNs: 0, sqpollCpuNs: 0,
      errorsByOp: { accept: 0, recv: 0, send: 0, other: 0 },
    },
    kernel: spec.kernel === undefined ? quietKernel(tMs) : spec.kernel,
    system: spec.system === undefined ? quietSystem() : spec.system,
  });
}

/** `n` quiet frames from seq `from` on, with a little deterministic jitter in the tail. */
export function quietFrames(from: number, n: number, extra: Partial<FrameSpec> = {}): RunFrame[] {
  return Array.from({ length: n }, (_, i) => frame({
    seq: from + i,
    latency: [[40, 9000], [60 + ((from + i) % 3), 900], [78 + ((from + i) % 5), 90], [110 + ((from + i) % 7) * 3, 10]],
    ...extra,
  }));
}

/** A frame whose p99 rose to `p99Us` (2 % of its requests that slow). */
export function slowFrame(seq: number, p99Us: number, extra: Partial<FrameSpec> = {}): RunFrame {
  return frame({ seq, latency: [[40, 9000], [60, 800], [p99Us, 200]], ...extra });
}
