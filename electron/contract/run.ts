/**
 * What a run produces and reports: the knobs the kernel applied and refused, phases, the
 * ~100 ms RunFrame, the RunSummary (the `run --json` output, also stored with each run), the
 * run status a client sees, the events every client receives, and the doctor's report.
 */
import { z } from 'zod';
import { InjectionResultSchema, ProfilesSchema, SpikeReportSchema, SystemFrameSchema } from './diagnose';
import { SparseHistogramSchema } from './histogram';
import { KernelFrameSchema, KernelStatsSchema, ProbeStatusSchema } from './kernel';
import { ProfileSchema } from './profile';
import { CacheInfoSchema } from './bufferPool';
import { ConnectionServiceSchema } from './connectionService';

// ---------------------------------------------------------------------------------------
// What the kernel accepted and refused
// ---------------------------------------------------------------------------------------
export const RejectedKnobSchema = z.object({
  /** Dotted profile path of the knob, e.g. `server.sqpoll.enabled`. */
  knob: z.string(),
  requested: z.unknown(),
  /** Positive errno the kernel returned (e.g. 22), 0 when the lab refused it up front. */
  errno: z.number().int(),
  /** Symbolic errno, e.g. `EINVAL`. */
  code: z.string(),
  reason: z.string(),
  fix: z.string().optional(),
});
export type RejectedKnob = z.infer<typeof RejectedKnobSchema>;

/** Ring setup flags that really took effect, as the engine recorded them. */
export const RingSetupSchema = z.object({
  flags: z.array(z.string()),
  features: z.array(z.string()),
  sqEntries: z.number().int(),
  cqEntries: z.number().int(),
});

export const KnobChangeSchema = z.object({ path: z.string(), from: z.unknown(), to: z.unknown() });
export type KnobChange = z.infer<typeof KnobChangeSchema>;

export const PhaseSchema = z.object({
  index: z.number().int().min(0),
  /** Milliseconds since the run started. */
  atMs: z.number(),
  /** Knobs requested differently from the previous phase ([] for phase 0). */
  changed: z.array(KnobChangeSchema),
  applied: ProfileSchema,
  rejected: z.array(RejectedKnobSchema),
  ring: RingSetupSchema,
  /** Each eBPF probe as attached for this phase (attached again at every engine start); absent
   *  in phases from before the probes issue. */
  probes: z.array(ProbeStatusSchema).optional(),
});
export type Phase = z.infer<typeof PhaseSchema>;

// ---------------------------------------------------------------------------------------
// RunFrame: one ~100 ms snapshot of a running experiment
// ---------------------------------------------------------------------------------------
/**
 * The server's own counters over one frame, summed over its workers (server.rings). Counts are
 * per interval; buffersInUse/buffersTotal are gauges. The epoll server counts epoll_wait calls
 * as enters, events as cqes, reads that returned data as recvs and send() calls as sends.
 */
export const ServerFrameSchema = z.object({
  /** io_uring_enter calls of the serve loops (with SQPOLL none while the kernel thread is awake
   *  and completions wait: enters per request is what shows SQPOLL's effect). */
  enters: z.number().min(0),
  /** Of those, waits made with server.minWaitUs's minimum wait (only after a reap that gave 4 or
   *  more connections data: completions in a batch); 0 with it off and on the epoll engine.
   *  Null in runs saved before it was counted. */
  batchedWaits: z.number().min(0).nullable().default(null),
  cqes: z.number().min(0),
  /** Receive completions carrying data. */
  recvs: z.number().min(0),
  sends: z.number().min(0),
  bytesOut: z.number().min(0),
  /** SEND_ZC sends the kernel really did zero-copy, and those it copied (loopback always copies). */
  zeroCopySends: z.number().min(0),
  copiedSends: z.number().min(0),
  /** With SEND_ZC on, sends made as copying sends because SEND_ZCs already pinned half the
   *  buffer pool (so peers that never read cannot pin all of it). Runs saved before it was
   *  counted read as 0. */
  zeroCopyFallbacks: z.number().min(0).default(0),
  /** Multishot recvs ended by an empty buffer ring, and recvs re-armed after it. */
  enobufs: z.number().min(0),
  rearms: z.number().min(0),
  /** Echo bytes copied out of the buffer pool because their send was stuck on a peer that does
   *  not read while others starved (their buffers went back to the pool).
   *  Runs saved before it was counted read as 0. */
  spilledBytes: z.number().min(0).default(0),
  /** Completions the kernel could not post into a full CQ (its overflow counter). */
  cqOverflows: z.number().min(0),
  buffersInUse: z.number().min(0),
  buffersTotal: z.number().min(0),
  /** Free buffers the kernel could pick from (in the ring): the whole free pool unless
   *  bufferRing.hotFirst held some back. Null in runs saved before it was recorded. */
  buffersInRing: z.number().min(0).nullable().default(null),
  /** Worker threads' user and system CPU (tick-granular: 10 ms), and their SQPOLL threads' CPU
   *  apart. serverCpuNs is the exact total of workers and every io_uring helper. */
  userCpuNs: z.number().min(0),
  systemCpuNs: z.number().min(0),
  sqpollCpuNs: z.number().min(0),
  /** The part of sqpollCpuNs the SQPOLL threads spent in passes that submitted or polled (the kernel's SqWorkTime,
   *  Linux 6.11); the rest spun idle waiting for work until sqpoll.idleMs. Null without an
   *  SQPOLL thread, on a kernel that does not report it, and in runs saved before it was. */
  sqpollWorkNs: z.number().min(0).nullable().default(null),
  /** TCP segments the server's connections sent and received, and of those the ones carrying
   *  data (the rest: pure ACKs, handshakes, FINs, window updates), and the requests the load
   *  completed over the same span. The kernel's own per-socket counters (tcp_info
   *  segs_out/segs_in, data_segs_out/data_segs_in) read through sock_diag for the sockets on the
   *  server's port, in its namespace, once a second (a read walks the kernel's whole
   *  established-socket hash: ~1.3 ms here) and at the run's end: a frame that read them
   *  carries what happened since the previous one that did; the frames between carry null. A
   *  connection gone meanwhile is counted to its end from the kernel's word on it (where that
   *  cannot be had, its tail is lost: understated, never overstated; the doctor says). Null
   *  too where sock_diag could not be read, and in runs saved before they were counted. */
  segmentsOut: z.number().min(0).nullable().default(null),
  segmentsIn: z.number().min(0).nullable().default(null),
  dataSegmentsOut: z.number().min(0).nullable().default(null),
  dataSegmentsIn: z.number().min(0).nullable().default(null),
  segmentsRequests: z.number().min(0).nullable().default(null),
  /** True in a frame that read the counts but found the kernel's words on some connections
   *  that closed in its span lost (a burst of closes on the server's port overran the 4 MiB
   *  the words wait in): their last segments were never told, so the counts of that span are
   *  null, not short, and the ratios are over the other spans. */
  segmentsLost: z.boolean().default(false),
  /** Real server errors by what failed. */
  errorsByOp: z.object({ accept: z.number().min(0), recv: z.number().min(0), send: z.number().min(0), other: z.number().min(0) }),
});
export type ServerFrame = z.infer<typeof ServerFrameSchema>;

/** SQPOLL work time (sqpollWorkNs) and SQPOLL CPU summed over the intervals that reported the work time. */
export interface SqpollWork { workNs: number; cpuNs: number }

/** Adds one interval's SQPOLL counters to `sum`; an interval without the work time leaves it as it was. */
export function addSqpollWork(sum: SqpollWork | null, s: { sqpollWorkNs?: number | null; sqpollCpuNs: number }): SqpollWork | null {
  if (s.sqpollWorkNs == null) return sum;
  return { workNs: (sum?.workNs ?? 0) + s.sqpollWorkNs, cpuNs: (sum?.cpuNs ?? 0) + s.sqpollCpuNs };
}

/**
 * The share of the SQPOLL threads' CPU that found work (the kernel's SqWorkTime over their CPU
 * clock; the rest spun idle), or null: no SQPOLL CPU, or no work time reported. The two are
 * read a moment apart, so an interval can show a little over 1: capped.
 */
export function sqpollBusyShare(sum: SqpollWork | null): number | null {
  if (!sum || !(sum.cpuNs > 0)) return null;
  return Math.min(1, Math.max(0, sum.workNs / sum.cpuNs));
}

/** TCP segments summed over the intervals that counted them, and those intervals' requests;
 *  lostSpans: the reads whose span lost the kernel's word on closing connections (left out). */
export interface SegmentTotals { out: number; in: number; dataOut: number; dataIn: number; requests: number; lostSpans: number }

/** Adds a frame's segment counts and the requests of their span to `sum`; a frame without them
 *  (between two reads, or none possible) leaves it as it was, so per-request ratios always
 *  divide counts by the requests of the same span. */
export function addSegments(
  sum: SegmentTotals | null,
  s: { segmentsOut?: number | null; segmentsIn?: number | null; dataSegmentsOut?: number | null; dataSegmentsIn?: number | null; segmentsRequests?: number | null; segmentsLost?: boolean },
): SegmentTotals | null {
  if (s.segmentsLost) return { out: 0, in: 0, dataOut: 0, dataIn: 0, requests: 0, ...sum, lostSpans: (sum?.lostSpans ?? 0) + 1 };
  if (s.segmentsOut == null || s.segmentsIn == null || s.dataSegmentsOut == null || s.dataSegmentsIn == null || s.segmentsRequests == null) return sum;
  return {
    out: (sum?.out ?? 0) + s.segmentsOut,
    in: (sum?.in ?? 0) + s.segmentsIn,
    dataOut: (sum?.dataOut ?? 0) + s.dataSegmentsOut,
    dataIn: (sum?.dataIn ?? 0) + s.dataSegmentsIn,
    requests: (sum?.requests ?? 0) + s.segmentsRequests,
    lostSpans: sum?.lostSpans ?? 0,
  };
}

/** Segments per request (EngineStats.segments), or null: nothing counted, or no request in the
 *  intervals that were. */
export function segmentsPerRequest(sum: SegmentTotals | null): { outPerReq: number; inPerReq: number; dataOutPerReq: number; dataInPerReq: number; lostSpans: number } | null {
  if (!sum || !(sum.requests > 0)) return null;
  const n = sum.requests;
  return { outPerReq: sum.out / n, inPerReq: sum.in / n, dataOutPerReq: sum.dataOut / n, dataInPerReq: sum.dataIn / n, lostSpans: sum.lostSpans };
}

/**
 * What an echo run's errors were, for its warnings and exit line: how many of them were
 * mismatched echoes (bytes back that differ from those sent) and how many failed connections
 * or server errors. `mismatches` undefined: a record from before the two were counted apart.
 */
export function echoErrorsText(errors: number, mismatches: number | undefined): string {
  if (mismatches === undefined) return 'failed connections or mismatched echoes';
  const mismatched = Math.min(mismatches, errors);
  const rest = errors - mismatched;
  if (rest === 0) return 'mismatched echoes: the bytes that came back differ from those sent';
  if (mismatched === 0) return 'failed connections or server errors; no echo came back altered';
  return `${mismatched} mismatched echoes, bytes back that differ from those sent, and ${rest} failed connections or server errors`;
}

export const RunFrameSchema = z.object({
  runId: z.string(),
  seq: z.number().int().min(0),
  phase: z.number().int().min(0),
  /** End of the interval, milliseconds since the run started. */
  tMs: z.number(),
  intervalMs: z.number(),
  /** False during warm-up: such frames are drawn but not counted in the summary. */
  measuring: z.boolean(),
  requests: z.number().int().min(0),
  bytes: z.number().int().min(0),
  errors: z.number().int().min(0),
  /** Of errors: echoes whose bytes differed from the request sent (the rest are failed
   *  connections and server errors); absent in frames from before they were told apart. */
  mismatches: z.number().int().min(0).optional(),
  /** Load requests abandoned after load.timeoutMs with their connection (not in errors);
   *  absent in frames from before the open-loop issue. */
  timeouts: z.number().int().min(0).optional(),
  throughputRps: z.number().min(0),
  latencyUs: z.object({
    p50: z.number(), p99: z.number(), max: z.number(),
    /** p99 with coordinated omission corrected (HdrHistogram-style re-weighting of the sends a
     *  closed loop skipped while it waited); equals p99 when nothing stalled. In open-loop mode
     *  (load.mode open) latency is already measured from each request's intended send time,
     *  so nothing was omitted and this equals p99. */
    p99Corrected: z.number(),
  }),
  histogram: SparseHistogramSchema,
  serverCpuNs: z.number().min(0),
  loadCpuNs: z.number().min(0),
  /** Requests started (sent, or queued behind others of a load.pipeline) whose echo had not
   *  fully arrived at the end of the interval (gauge). */
  inFlight: z.number().int().min(0),
  /** Age of the oldest of those, µs (0 when none): a stall shows here even when no request completes. */
  oldestInFlightUs: z.number().min(0),
  /** The busiest load-generator thread's CPU share of the interval (0–1). ≥ 0.9: the frame may measure the generator. */
  loadBusyShare: z.number().min(0),
  /** Last frame of an engine instance (the run ended or a phase change restarted the engine):
   *  its interval is shorter than the others and its rate is already weighted by it. */
  final: z.boolean(),
  /** The server's counters this frame; null when this lab runs no server (load against another). */
  server: ServerFrameSchema.nullable(),
  /** The eBPF probes' counters and histograms over the same interval (kernel.ts); null when no
   *  probe is attached, absent in frames from before the probes issue. */
  kernel: KernelFrameSchema.nullable().optional(),
  /** Spike evidence the engine reads from /proc (diagnose.ts); null when this lab runs no server,
   *  absent in frames from before issue 12. */
  system: SystemFrameSchema.nullable().optional(),
});
export type RunFrame = z.infer<typeof RunFrameSchema>;

// ---------------------------------------------------------------------------------------
// RunSummary: the `run --json` output, also stored with each run
// ---------------------------------------------------------------------------------------
export const LatencySummarySchema = z.object({
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  p999: z.number(),
  max: z.number(),
  mean: z.number(),
});

/** The same statistics for the whole run and for each phase (measured frames only). */
export const RunStatsSchema = z.object({
  measuredS: z.number(),
  requests: z.number().int(),
  errors: z.number().int(),
  throughputRps: z.number(),
  latencyUs: LatencySummarySchema,
  serverCpuNsPerReq: z.number().nullable(),
  loadCpuNsPerReq: z.number().nullable(),
});
export type RunStats = z.infer<typeof RunStatsSchema>;

/**
 * The server's work per completed request over measured frames (null without a server or
 * without requests): enters per request is the number that makes SQPOLL's effect visible.
 * Counts (enobufs … copiedSends) are totals over the measured frames.
 */
export const EngineStatsSchema = z.object({
  entersPerReq: z.number(),
  /** Enters that waited with server.minWaitUs's minimum wait, over the measured frames (a
   *  count: with the knob on, whether completions came in batches it could gather). Null in
   *  runs saved before it was counted. */
  batchedWaits: z.number().nullable().default(null),
  cqesPerReq: z.number(),
  sendsPerReq: z.number(),
  recvsPerReq: z.number(),
  enobufs: z.number(),
  rearms: z.number(),
  spilledBytes: z.number().default(0),
  cqOverflows: z.number(),
  zeroCopySends: z.number(),
  copiedSends: z.number(),
  zeroCopyFallbacks: z.number().default(0),
  /** Server worker threads' user / system CPU and SQPOLL threads' CPU per request, ns. */
  userCpuNsPerReq: z.number(),
  systemCpuNsPerReq: z.number(),
  sqpollCpuNsPerReq: z.number(),
  /** Of the SQPOLL threads' CPU over the measured frames, the share spent with work to do
   *  (sqpollWorkNs / sqpollCpuNs); the rest is idle spinning. Null where sqpollWorkNs is. */
  sqpollBusyShare: z.number().min(0).max(1).nullable().default(null),
  /** TCP segments per request over the measured frames that counted them (ServerFrame's
   *  segmentsOut …): what the send path made of each echo on the wire. Null where no measured
   *  frame counted them (sock_diag unreadable), and in runs saved before they were counted. */
  segments: z.object({
    outPerReq: z.number(),
    inPerReq: z.number(),
    dataOutPerReq: z.number(),
    dataInPerReq: z.number(),
    /** Reads whose span lost the kernel's word on some closing connections (ServerFrame's
     *  segmentsLost): those spans and their requests are left out of the ratios above. */
    lostSpans: z.number().int().min(0).default(0),
  }).nullable().default(null),
  errorsByOp: z.object({ accept: z.number(), recv: z.number(), send: z.number(), other: z.number() }),
});
export type EngineStats = z.infer<typeof EngineStatsSchema>;

export const PhaseResultSchema = PhaseSchema.extend({
  /** Milliseconds since the run started when the phase ended. */
  endMs: z.number(),
  stats: RunStatsSchema,
  /** Ratio to phase 0 (this / phase 0) of throughput, p50, p99, p99.9 and CPU per request;
   *  null for phase 0 or where either side has no measured requests. */
  vsPhase0: z.object({
    throughputRps: z.number().nullable(),
    p50: z.number().nullable(),
    p99: z.number().nullable(),
    p999: z.number().nullable(),
    serverCpuNsPerReq: z.number().nullable(),
  }).nullable(),
  /** Latency counts of the phase's measured frames (same layout as the run's histogram). */
  histogram: SparseHistogramSchema,
  /** The phase's server work per request (see EngineStatsSchema). */
  engine: EngineStatsSchema.nullable(),
  /** The eBPF probes' view of the phase's measured frames (kernel.ts); null when no probe
   *  attached, absent in summaries from before the probes issue. */
  kernel: KernelStatsSchema.nullable().optional(),
  /** Echoes per load connection over the phase's measured frames (ConnectionServiceSchema);
   *  null where no echo load ran or nothing was measured, absent in summaries from before it
   *  was counted. */
  perConnection: ConnectionServiceSchema.nullable().optional(),
});
export type PhaseResult = z.infer<typeof PhaseResultSchema>;

export const RunStatusWordSchema = z.enum(['completed', 'failed', 'interrupted']);
export type RunStatusWord = z.infer<typeof RunStatusWordSchema>;

export const RunSummarySchema = z.object({
  runId: z.string(),
  /** completed: the window ran out (or was stopped by its controller); failed: see `failure`;
   *  interrupted: SIGINT/SIGTERM or host shutdown stopped it early (partial numbers). */
  status: RunStatusWordSchema,
  failure: z.object({ code: z.string(), message: z.string(), fix: z.string().optional() }).nullable(),
  /** `uring-lab load`: the echo server the load ran against — `host` as given, the IPv4
   *  `address` it resolved to, `port` — which is not the lab's: then the server-side fields
   *  (serverCpuNsPerReq, engine, every phase's serverCpuNsPerReq and engine) are null, `applied`
   *  carries the profile's server part as requested (nothing of it ran), `rejected` is [] and
   *  `ring` is empty. Null (absent in older summaries): the lab's own server on 127.0.0.1. */
  target: z.object({ host: z.string(), address: z.string(), port: z.number().int() }).nullable().optional(),
  /** topology 'veth': the server ran in network namespace `netns` listening on `serverAddress`,
   *  the load connected from `loadAddress` over the veth pair; `gro`: GRO on at both ends (veth's
   *  NAPI receive path, what server.napiBusyPollUs polls). Null or absent: loopback (or no
   *  server of ours). */
  topology: z.object({ kind: z.literal('veth'), serverAddress: z.string(), loadAddress: z.string(), netns: z.string(), gro: z.boolean() }).nullable().optional(),
  /** workload 'storage': the target (`path`, the `device` holding it by its /sys/dev/block name,
   *  whether the lab created it and has `deleted` it, whether every read was `verified` against
   *  the lab's pattern) and the run's shape; then throughputRps is IOPS, `requests` are I/Os,
   *  `bytesPerS` the bytes moved per measured second, and the server-side fields are null (no
   *  server runs: the jobs' CPU is loadCpuNsPerReq). Null or absent: the echo workload. */
  storage: z.object({
    workload: z.literal('storage'), path: z.string(), labCreated: z.boolean(), deleted: z.boolean(), device: z.string(),
    blockDevice: z.boolean(), sizeBytes: z.number(), verified: z.boolean(), pattern: z.enum(['randread', 'read', 'randwrite', 'write']),
    blockBytes: z.number().int(), queueDepth: z.number().int(), jobs: z.number().int(), bytesPerS: z.number(),
  }).nullable().optional(),
  profileName: z.string(),
  startedAt: z.string(),
  measuredS: z.number(),
  throughputRps: z.number(),
  /** Open loop (load.mode open): the schedule's rate, load.rateRps, to compare with
   *  throughputRps (a warning when achieved < 98 % of it); null for a closed loop. Absent in
   *  summaries from before the open-loop issue. */
  offeredRps: z.number().nullable().optional(),
  latencyUs: LatencySummarySchema,
  requests: z.number().int(),
  bytes: z.number().int(),
  errors: z.number().int(),
  /** Load requests abandoned after load.timeoutMs (each with its connection), apart from
   *  errors, over the whole run (warm-up included: a connection lost then stays lost);
   *  absent in summaries from before the open-loop issue. */
  timeouts: z.number().int().min(0).optional(),
  /** Errors (as `errors`) in the warm-up, before the measured window: not in the numbers, but a
   *  run with any completes with exit 1 (a server that corrupted echoes or dropped connections
   *  only then passed as clean); absent in summaries from before it was counted. */
  warmupErrors: z.number().int().min(0).optional(),
  /** Of errors, and of warmupErrors: echoes whose bytes differed from the request sent (a
   *  server that does not echo faithfully); the rest are failed connections and server errors.
   *  Absent in summaries from before they were told apart. */
  mismatches: z.number().int().min(0).optional(),
  warmupMismatches: z.number().int().min(0).optional(),
  /** Server CPU (its thread plus SQPOLL and io-wq kernel threads) per request, ns. */
  serverCpuNsPerReq: z.number().nullable(),
  loadCpuNsPerReq: z.number().nullable(),
  /** The server's work per request over the measured window (see EngineStatsSchema). */
  engine: EngineStatsSchema.nullable(),
  /** Latency percentiles with coordinated omission corrected (see RunFrame.latencyUs.p99Corrected). */
  latencyCorrectedUs: LatencySummarySchema,
  /** Requests sent but not completed when the measured window closed, and the oldest's age. */
  inFlightAtEnd: z.object({ requests: z.number().int().min(0), oldestUs: z.number().min(0) }),
  /** The busiest load thread was ≥ 90 % busy over the measured window: the numbers may
   *  measure the generator rather than the server. */
  loadSaturated: z.boolean(),
  /** That busiest load thread's CPU share of the measured window (0–1). */
  loadBusyShare: z.number(),
  /** How evenly the load's connections were served over the measured window: the echoes each
   *  completed, as fewest, most, mean, Jain's index and those with none (ConnectionServiceSchema).
   *  With several phases, connection i's echoes summed over the phases (null when the phases had
   *  different numbers of connections: see each phase's). Null for the storage workload, a run
   *  that measured nothing, and a run of an engine that did not count them; absent in summaries
   *  from before it was counted. */
  perConnection: ConnectionServiceSchema.nullable().optional(),
  /** Other things that used this machine's CPUs while the run measured. */
  contention: z.object({
    /** Other uring-lab runs that overlapped this one (same machine). */
    otherRuns: z.array(z.object({ pid: z.number().int(), runId: z.string(), startedAt: z.string() })),
    /** CPU used by processes other than this lab's, in CPUs (e.g. 0.8 = most of one core), or null if unknown. */
    otherCpus: z.number().nullable(),
  }),
  /** One-line cautions about the numbers (contention, generator saturation, stalls, errors);
   *  one starting with HISTORY_WARNING_PREFIX says the run is not (wholly) in the history. */
  warnings: z.array(z.string()),
  applied: ProfileSchema,
  rejected: z.array(RejectedKnobSchema),
  ring: RingSetupSchema,
  phases: z.array(PhaseResultSchema),
  /** Each eBPF probe of the last phase: attached (variant, who loaded it) or why not (reason,
   *  fix), with its measured overhead over the whole measured window. */
  probes: z.array(ProbeStatusSchema),
  kernel: z.object({ release: z.string() }),
  /** The eBPF probes' view of the whole measured window (the run-level twin of each phase's
   *  `kernel`; named apart because `kernel` holds the release). Null when no probe attached,
   *  absent in summaries from before the probes issue. */
  kernelStats: KernelStatsSchema.nullable().optional(),
  /** The fault injections requested (diagnose.inject / --inject), each applied or why not;
   *  absent in summaries from before issue 12 (diagnose.ts). */
  injections: z.array(InjectionResultSchema).optional(),
  /** The spike report of the run (found spikes, their causes and evidence); null when no frame
   *  was measured, absent in summaries from before issue 12. */
  spikes: SpikeReportSchema.nullable().optional(),
  /** On-CPU stack profiles per phase and off-CPU blocks; null when profiling was off or could
   *  not attach (probes say why), absent in summaries from before issue 12. */
  profiles: ProfilesSchema.nullable().optional(),
  histogram: z.object({
    layout: z.object({
      unit: z.literal('us'),
      subBucketBits: z.number().int(),
      linearBuckets: z.number().int(),
      bucketCount: z.number().int(),
      description: z.string(),
    }),
    counts: SparseHistogramSchema,
  }),
  frames: z.number().int(),
});
export type RunSummary = z.infer<typeof RunSummarySchema>;

// ---------------------------------------------------------------------------------------
// Doctor
// ---------------------------------------------------------------------------------------
export const DoctorCheckSchema = z.object({
  id: z.string(),
  label: z.string(),
  /** true = available, false = missing/refused, null = could not be determined. */
  ok: z.boolean().nullable(),
  value: z.string(),
  reason: z.string(),
  fix: z.string().optional(),
});
/** A capability knobs need (a catalogue row's `needs`), as the doctor found it on this machine. */
export const DoctorCapabilitySchema = z.object({
  id: z.string(),
  label: z.string(),
  /** null: could not be determined (the probe failed), as a check's `ok`. */
  available: z.boolean().nullable(),
  /** Why it is (not) available: the probe's outcome, with the errno where the kernel gave one. */
  reason: z.string(),
  fix: z.string().optional(),
  /** What to know even when available (NAPI busy poll does nothing on lo). */
  note: z.string().optional(),
});
/** One catalogue knob on this machine: a knob that needs nothing the doctor probes is available. */
export const DoctorKnobSchema = z.object({
  path: z.string(),
  /** The capability id of the knob's catalogue row (`needs`), when it has one. */
  needs: z.string().optional(),
  /** false: this machine cannot use it (the UI disables it); null: the doctor could not tell. */
  available: z.boolean().nullable(),
  reason: z.string().optional(),
  fix: z.string().optional(),
  note: z.string().optional(),
});
export const DoctorNumaSchema = z.object({
  /** NUMA nodes and their CPUs (sysfs); a machine without the node directory is one node with every online CPU. */
  nodes: z.array(z.object({ id: z.number().int(), cpus: z.array(z.number().int()) })),
  /** Where the node list came from. */
  source: z.enum(['sysfs', 'assumed']),
  /** CPUs online on this machine. */
  onlineCpus: z.array(z.number().int()),
  /** CPUs this process may run on (its scheduler affinity, Cpus_allowed_list). */
  allowedCpus: z.array(z.number().int()),
});
export const DoctorHugepagesSchema = z.object({
  /** vm.nr_hugepages: default-size huge pages reserved. */
  total: z.number().int(),
  free: z.number().int(),
  sizeBytes: z.number().int(),
});
export const DoctorReportSchema = z.object({
  kernel: z.object({ release: z.string() }),
  checks: z.array(DoctorCheckSchema),
  numa: DoctorNumaSchema,
  /** Null where /proc/meminfo says nothing about huge pages. */
  hugepages: DoctorHugepagesSchema.nullable(),
  /** The last-level CPU cache a buffer pool is compared with; null where neither sysfs nor cpuid says (or a host before it). */
  cache: CacheInfoSchema.nullable().default(null),
  capabilities: z.array(DoctorCapabilitySchema),
  /** Every catalogue knob, in catalogue order, with its availability here. */
  knobs: z.array(DoctorKnobSchema),
});
export type DoctorCheck = z.infer<typeof DoctorCheckSchema>;
export type DoctorCapability = z.infer<typeof DoctorCapabilitySchema>;
export type DoctorKnob = z.infer<typeof DoctorKnobSchema>;
export type DoctorNuma = z.infer<typeof DoctorNumaSchema>;
export type DoctorReport = z.infer<typeof DoctorReportSchema>;

// ---------------------------------------------------------------------------------------
// Run status and events (every client receives the events; see labApi.ts)
// ---------------------------------------------------------------------------------------
export const RunStateSchema = z.enum(['idle', 'starting', 'running', 'stopping']);
export type RunState = z.infer<typeof RunStateSchema>;

export const RunStatusSchema = z.object({
  running: z.boolean(),
  /** Where the run's lifecycle is; `running` is true for every state but idle. */
  state: RunStateSchema,
  runId: z.string().nullable(),
  /** The profile the asking client's next run uses (each client has its own). While a run
   *  goes, its controller's profile is the run's current one. */
  profile: ProfileSchema,
  /** Phases of the current run so far (the last one is in effect). */
  phases: z.array(PhaseSchema),
  phase: PhaseSchema.nullable(),
  /** True when the asking client controls the current run (it started it or took control). */
  controller: z.boolean(),
  /** Seq of the newest frame of the current run (-1 before the first), for resync after a reconnect. */
  lastSeq: z.number().int(),
  lastSummary: RunSummarySchema.nullable(),
});
export type RunStatus = z.infer<typeof RunStatusSchema>;

// LabEventSchema (run events and A/B events) lives in events.ts: it also carries A/B reports,
// whose schema (ab.ts) builds on this file's.

/** How a summary's warning that the run could not be saved to the history starts (the CLI exits 1 on it). */
export const HISTORY_WARNING_PREFIX = 'run history: ';

/**
 * A storage run's headline in words: pattern, block size, queue depth and jobs, IOPS, bytes/s,
 * the device and the file (whose, and what became of it), whether every read was checked. One
 * sentence for `run`'s text, `runs show` and the Markdown export alike; null for an echo run.
 */
export function storageRunWords(s: { storage?: RunSummary['storage']; throughputRps: number; applied: { storage: { keep: boolean } } }): string | null {
  const st = s.storage;
  if (!st) return null;
  const int = (n: number) => Math.round(n).toLocaleString('en-US');
  const file = st.labCreated ? ` (the lab's test file${st.deleted ? ', deleted' : s.applied.storage.keep ? ', kept as asked' : ', NOT deleted'})` : '';
  return `${st.pattern} ${st.blockBytes} B × QD ${st.queueDepth} × ${st.jobs} job${st.jobs === 1 ? '' : 's'}: ${int(s.throughputRps)} IOPS, ${(st.bytesPerS / 1048576).toFixed(1)} MiB/s on ${st.device || 'an unknown device'}, ${st.path}${file}${st.verified ? ', every read checked' : ''}`;
}
