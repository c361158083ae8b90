/**
 * The one contract between the lab's parts: the LabApi service interface and the zod
 * schemas of every message that crosses a process or network boundary (Profile, RunFrame,
 * RunSummary, LabEvent, the WebSocket envelope). Imported by the host, the engine, the CLI
 * and the renderer alike, so a field renamed here is renamed everywhere or fails to compile.
 *
 * Schemas are strict: an unknown key is an error naming its path, because a typo in a
 * tuning profile (`sqpol.enabled`) that is silently ignored produces a wrong experiment.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------
// Latency histogram layout (shared with native/src/latency_histogram.c, which must agree;
// test/native pins that they do).
//
// HDR-style log-linear buckets over microseconds:
//   - values 0..63 µs each have their own bucket (index = value);
//   - above that every power of two [2^e, 2^(e+1)) is split into 32 equal sub-buckets,
//     so a bucket is at most 1/32 (3.1 %) of its value wide;
//   - values at or above 2^27 µs (~134 s) land in the last bucket.
// ---------------------------------------------------------------------------------------
export const HISTOGRAM_LAYOUT = {
  unit: 'us',
  subBucketBits: 5,
  linearBuckets: 64,
  maxExponent: 26,
  bucketCount: 64 + (26 - 6 + 1) * 32, // 736
} as const;

/** Lower bound (inclusive, µs) of bucket `index`. */
export function histogramBucketLowerUs(index: number): number {
  const { linearBuckets, subBucketBits } = HISTOGRAM_LAYOUT;
  if (index < linearBuckets) return index;
  const subCount = 1 << subBucketBits;
  const octave = Math.floor((index - linearBuckets) / subCount);
  const sub = (index - linearBuckets) % subCount;
  const exponent = 6 + octave;
  return (subCount + sub) * 2 ** (exponent - subBucketBits);
}

/** Upper bound (exclusive, µs) of bucket `index`. */
export function histogramBucketUpperUs(index: number): number {
  return index + 1 < HISTOGRAM_LAYOUT.bucketCount
    ? histogramBucketLowerUs(index + 1)
    : 2 ** (HISTOGRAM_LAYOUT.maxExponent + 1);
}

/** Sparse histogram: [bucketIndex, count] pairs with count > 0, ascending by index. */
export const SparseHistogramSchema = z.array(z.tuple([z.number().int().min(0), z.number().int().min(0)]));
export type SparseHistogram = z.infer<typeof SparseHistogramSchema>;

/** The highest latency (µs) that falls into bucket `index` (HdrHistogram's convention). */
export function highestEquivalentUs(index: number): number {
  return histogramBucketUpperUs(index) - 1;
}

export const HISTOGRAM_LAYOUT_DESCRIPTION =
  'HDR-style log-linear latency buckets in microseconds: indexes 0..63 hold exactly 0..63 µs; ' +
  'above that each power of two [2^e, 2^(e+1)) for e = 6..26 is split into 32 equal sub-buckets, ' +
  'index = 64 + (e-6)*32 + ((v >> (e-5)) & 31); values >= 2^27 µs fall into the last bucket. ' +
  'counts are [index, count] pairs for non-empty buckets.';

/**
 * Percentiles and merging over the layout above, shared by the host (summaries) and the
 * renderer (live per-phase numbers), so both compute the same number from the same counts.
 * Values are reported as the highest value equivalent to a bucket, so a percentile is never
 * understated: for the 1 µs-wide buckets below 64 µs that is the value itself.
 */
export class LatencyHistogram {
  readonly counts = new Float64Array(HISTOGRAM_LAYOUT.bucketCount);
  total = 0;

  static from(pairs: SparseHistogram): LatencyHistogram {
    const histogram = new LatencyHistogram();
    histogram.add(pairs);
    return histogram;
  }

  add(pairs: SparseHistogram): void {
    const last = this.counts.length - 1;
    for (const [index, count] of pairs) {
      if (!(count > 0)) continue;
      // An out-of-range index is a producer's bug; clamping keeps the count (and the total) honest.
      this.counts[Math.min(Math.max(index, 0), last)]! += count;
      this.total += count;
    }
  }

  /** Latency (µs) at quantile q in [0, 1]; 0 when empty. */
  quantileUs(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return highestEquivalentUs(i);
    }
    return highestEquivalentUs(this.counts.length - 1);
  }

  maxUs(): number {
    for (let i = this.counts.length - 1; i >= 0; i--) if (this.counts[i]! > 0) return highestEquivalentUs(i);
    return 0;
  }

  /** Mean (µs), each bucket counted at its midpoint. */
  meanUs(): number {
    if (this.total === 0) return 0;
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      if (c > 0) sum += (c * (histogramBucketLowerUs(i) + histogramBucketUpperUs(i) - 1)) / 2;
    }
    return sum / this.total;
  }

  toSparse(): SparseHistogram {
    const pairs: SparseHistogram = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]! > 0) pairs.push([i, this.counts[i]!]);
    return pairs;
  }
}


// ---------------------------------------------------------------------------------------
// Profile
// ---------------------------------------------------------------------------------------
const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

export const SqpollSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** CPU the SQPOLL thread is pinned to (IORING_SETUP_SQ_AFF); null lets the scheduler choose. */
  cpu: z.number().int().min(0).max(4095).nullable().default(null),
  /** Milliseconds the SQPOLL thread spins before sleeping; the kernel turns 0 into 1000. */
  idleMs: z.number().int().min(0).max(60_000).default(1000),
});

export const BufferRingSchema = z.strictObject({
  /** Bytes per provided buffer. */
  size: z.number().int().min(64).max(1 << 20).refine(isPowerOfTwo, 'must be a power of two (64 … 1048576)').default(2048),
  /** Buffers in the ring; the kernel needs a power of two. */
  count: z.number().int().min(1).max(32_768).refine(isPowerOfTwo, 'must be a power of two (1 … 32768)').default(4096),
});

export const ServerSchema = z.strictObject({
  /** The epoll baseline engine arrives in a later slice; only io_uring runs today. */
  engine: z.literal('io_uring').default('io_uring'),
  ringEntries: z.number().int().min(8).max(32_768).refine(isPowerOfTwo, 'must be a power of two (8 … 32768)').default(4096),
  sqpoll: SqpollSchema.prefault({}),
  /** How completions' task work runs: DEFER_TASKRUN (+SINGLE_ISSUER), COOP_TASKRUN, or kernel default (IPIs). */
  taskrun: z.enum(['defer', 'coop', 'default']).default('defer'),
  bufferRing: BufferRingSchema.prefault({}),
});

export const LoadSchema = z.strictObject({
  /** Closed loop: each connection sends, waits for the whole echo, then sends again. */
  mode: z.literal('closed').default('closed'),
  connections: z.number().int().min(1).max(4096).default(50),
  messageBytes: z.number().int().min(1).max(1 << 20).default(128),
  threads: z.number().int().min(1).max(64).default(1),
});

export const ProbesSchema = z.strictObject({ enabled: z.boolean().default(true) });

export const DurationSchema = z.strictObject({
  warmupS: z.number().min(0).max(600).default(1),
  measureS: z.number().min(0.1).max(3600).default(10),
});

export const PROFILE_KIND = 'uring-lab/profile';
export const PROFILE_SCHEMA_VERSION = 1;

export const ProfileSchema = z.strictObject({
  kind: z.literal(PROFILE_KIND),
  schemaVersion: z.literal(PROFILE_SCHEMA_VERSION),
  // Names reach terminals and window titles: no control characters (ANSI escapes, newlines).
  name: z.string().min(1).max(200).refine((t) => !/[\u0000-\u001f\u007f-\u009f]/.test(t), 'without control characters').default('default'),
  // A description may have lines and tabs, but no other control characters.
  description: z.string().max(10_000).refine((t) => !/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(t), 'without control characters other than newlines and tabs').default(''),
  workload: z.literal('echo').default('echo'),
  topology: z.literal('loopback').default('loopback'),
  server: ServerSchema.prefault({}),
  load: LoadSchema.prefault({}),
  probes: ProbesSchema.prefault({}),
  duration: DurationSchema.prefault({}),
});
export type Profile = z.infer<typeof ProfileSchema>;
export type ProfileInput = z.input<typeof ProfileSchema>;

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

export const ProbeStatusSchema = z.object({ name: z.string(), attached: z.boolean(), reason: z.string() });

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
});
export type Phase = z.infer<typeof PhaseSchema>;

// ---------------------------------------------------------------------------------------
// RunFrame: one ~100 ms snapshot of a running experiment
// ---------------------------------------------------------------------------------------
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
  throughputRps: z.number().min(0),
  latencyUs: z.object({
    p50: z.number(), p99: z.number(), max: z.number(),
    /** p99 with coordinated omission corrected (HdrHistogram-style re-weighting of the sends a
     *  closed loop skipped while it waited); equals p99 when nothing stalled. */
    p99Corrected: z.number(),
  }),
  histogram: SparseHistogramSchema,
  serverCpuNs: z.number().min(0),
  loadCpuNs: z.number().min(0),
  /** Requests sent whose echo had not fully arrived at the end of the interval (gauge). */
  inFlight: z.number().int().min(0),
  /** Age of the oldest of those, µs (0 when none): a stall shows here even when no request completes. */
  oldestInFlightUs: z.number().min(0),
  /** The busiest load-generator thread's CPU share of the interval (0–1). ≥ 0.9: the frame may measure the generator. */
  loadBusyShare: z.number().min(0),
  /** Last frame of an engine instance (the run ended or a phase change restarted the engine):
   *  its interval is shorter than the others and its rate is already weighted by it. */
  final: z.boolean(),
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
  profileName: z.string(),
  startedAt: z.string(),
  measuredS: z.number(),
  throughputRps: z.number(),
  latencyUs: LatencySummarySchema,
  requests: z.number().int(),
  bytes: z.number().int(),
  errors: z.number().int(),
  /** Server CPU (its thread plus SQPOLL and io-wq kernel threads) per request, ns. */
  serverCpuNsPerReq: z.number().nullable(),
  loadCpuNsPerReq: z.number().nullable(),
  /** Latency percentiles with coordinated omission corrected (see RunFrame.latencyUs.p99Corrected). */
  latencyCorrectedUs: LatencySummarySchema,
  /** Requests sent but not completed when the measured window closed, and the oldest's age. */
  inFlightAtEnd: z.object({ requests: z.number().int().min(0), oldestUs: z.number().min(0) }),
  /** The busiest load thread was ≥ 90 % busy over the measured window: the numbers may
   *  measure the generator rather than the server. */
  loadSaturated: z.boolean(),
  /** That busiest load thread's CPU share of the measured window (0–1). */
  loadBusyShare: z.number(),
  /** Other things that used this machine's CPUs while the run measured. */
  contention: z.object({
    /** Other uring-lab runs that overlapped this one (same machine). */
    otherRuns: z.array(z.object({ pid: z.number().int(), runId: z.string(), startedAt: z.string() })),
    /** CPU used by processes other than this lab's, in CPUs (e.g. 0.8 = most of one core), or null if unknown. */
    otherCpus: z.number().nullable(),
  }),
  /** One-line cautions about the numbers (contention, generator saturation, stalls, errors). */
  warnings: z.array(z.string()),
  applied: ProfileSchema,
  rejected: z.array(RejectedKnobSchema),
  ring: RingSetupSchema,
  phases: z.array(PhaseResultSchema),
  probes: z.array(ProbeStatusSchema),
  kernel: z.object({ release: z.string() }),
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
export const DoctorReportSchema = z.object({
  kernel: z.object({ release: z.string() }),
  checks: z.array(DoctorCheckSchema),
});
export type DoctorCheck = z.infer<typeof DoctorCheckSchema>;
export type DoctorReport = z.infer<typeof DoctorReportSchema>;

// ---------------------------------------------------------------------------------------
// Errors cross every boundary as data
// ---------------------------------------------------------------------------------------
export const LabErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  /** Dotted path of the field at fault, where there is one. */
  field: z.string().optional(),
  fix: z.string().optional(),
});
export type LabErrorData = z.infer<typeof LabErrorSchema>;

/** Longest message / fix / field an error carries; longer text is elided with a count. */
export const ERROR_TEXT_LIMITS = { message: 400, fix: 300, field: 120, code: 40 } as const;

/**
 * Makes untrusted text safe for one terminal line or one UI label: control characters
 * (ANSI escapes, newlines that would forge a second `uring-lab:` line) are escaped as \xNN
 * or \uNNNN, and text beyond `max` characters is cut with the number of characters left out.
 */
export function oneLineText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  // Bidi controls too: they can make a terminal line read differently from what it says.
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  if (escaped.length <= max) return escaped;
  const keep = Math.max(0, max - 30);
  return `${escaped.slice(0, keep)}… (${escaped.length - keep} more characters)`;
}

/** A value quoted for an error message: JSON where possible, bounded, escaped. */
export function quoteValue(value: unknown, max = 60): string {
  let text: string;
  if (typeof value === 'number' && !Number.isFinite(value)) text = String(value);
  else if (typeof value === 'bigint') text = `${value}`;
  else {
    try { text = JSON.stringify(value) ?? String(value); } catch { text = String(value); }
  }
  return oneLineText(text, max);
}

/**
 * Error codes that mean the input was wrong (a flag, a profile, a knob, a resource budget):
 * nothing started, and the CLI exits 2. Everything else is a failure of the run (exit 1).
 */
export const INPUT_ERROR_CODES: ReadonlySet<string> = new Set([
  'USAGE', 'UNKNOWN_KEY', 'INVALID_VALUE', 'NOT_A_LEAF', 'READ_ONLY', 'SET_SYNTAX',
  'PROFILE_INVALID', 'PROFILE_VERSION', 'PROFILE_UNREADABLE', 'PROFILE_NOT_JSON',
  'EADDRINUSE', 'RESOURCE_BUDGET', 'TOKEN_FILE', 'BAD_REQUEST',
]);

export class LabError extends Error {
  readonly code: string;
  readonly field?: string;
  readonly fix?: string;
  constructor(data: LabErrorData) {
    // Every error is bounded and free of control characters from the moment it exists, so
    // no transport or terminal downstream can be flooded or forged by what a user typed.
    super(oneLineText(String(data.message), ERROR_TEXT_LIMITS.message));
    this.name = 'LabError';
    this.code = oneLineText(String(data.code), ERROR_TEXT_LIMITS.code);
    if (data.field !== undefined) this.field = oneLineText(String(data.field), ERROR_TEXT_LIMITS.field);
    if (data.fix !== undefined) this.fix = oneLineText(String(data.fix), ERROR_TEXT_LIMITS.fix);
  }
  toData(): LabErrorData {
    const data: LabErrorData = { code: this.code, message: this.message };
    if (this.field !== undefined) data.field = this.field;
    if (this.fix !== undefined) data.fix = this.fix;
    return data;
  }
  /** Any thrown value as a LabError (words kept, bounded and escaped like every LabError). */
  static from(err: unknown, code = 'INTERNAL'): LabError {
    if (err instanceof LabError) return err;
    const e = err as { code?: unknown; message?: unknown; field?: unknown; fix?: unknown } | null;
    return new LabError({
      code: typeof e?.code === 'string' ? e.code : code,
      message: typeof e?.message === 'string' ? e.message : String(err),
      field: typeof e?.field === 'string' ? e.field : undefined,
      fix: typeof e?.fix === 'string' ? e.fix : undefined,
    });
  }
  /** One line for a terminal: what is wrong, with which field, and how to fix it. */
  oneLine(): string {
    return this.fix ? `${this.message}; ${this.fix}` : this.message;
  }
}

// ---------------------------------------------------------------------------------------
// LabApi: the service every front end talks to (Electron preload, WebSocket, in-process)
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

export const LabEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('frame'), frame: RunFrameSchema }),
  z.object({ type: z.literal('phase'), runId: z.string(), phase: PhaseSchema }),
  // Exactly one of ended / failed / interrupted closes every run that started.
  z.object({ type: z.literal('ended'), runId: z.string(), summary: RunSummarySchema }),
  z.object({ type: z.literal('failed'), runId: z.string(), error: LabErrorSchema, summary: RunSummarySchema }),
  z.object({ type: z.literal('interrupted'), runId: z.string(), reason: z.string(), summary: RunSummarySchema }),
  /** Control of the run moved to another client (takeControl). */
  z.object({ type: z.literal('control'), runId: z.string(), controllerId: z.string() }),
]);
export type TerminalEvent = Extract<LabEvent, { type: 'ended' | 'failed' | 'interrupted' }>;
export const TERMINAL_EVENT_TYPES = ['ended', 'failed', 'interrupted'] as const;
export type LabEvent = z.infer<typeof LabEventSchema>;

export const StartRunParamsSchema = z.strictObject({
  profile: z.unknown().optional(),
  /** Run until stopped (UI); otherwise the profile's warm-up + measure window bounds it. */
  untilStopped: z.boolean().default(false),
});
export const SetKnobParamsSchema = z.strictObject({ path: z.string().min(1).max(200), value: z.unknown() });
export const GetFramesParamsSchema = z.strictObject({ runId: z.string().max(100), fromSeq: z.number().int().min(0) });
export const FramesResultSchema = z.object({
  runId: z.string(),
  frames: z.array(RunFrameSchema),
  /** Frames from `fromSeq` on that the host no longer keeps (they are lost to this client). */
  lost: z.number().int().min(0),
});
export type FramesResult = z.infer<typeof FramesResultSchema>;

export interface LabApi {
  getStatus(): Promise<RunStatus>;
  /** Starts a run; resolves once the engine has applied (or refused) every knob. */
  startRun(params: z.input<typeof StartRunParamsSchema>): Promise<{ runId: string; phase: Phase }>;
  /** Stops the current run; resolves with its summary (null if nothing was running). */
  stopRun(): Promise<RunSummary | null>;
  /** Changes one knob. While a run is going this starts a new phase with the knob applied. */
  setKnob(params: z.input<typeof SetKnobParamsSchema>): Promise<RunStatus>;
  /** Makes this client the controller of the current run (others then observe). */
  takeControl(): Promise<RunStatus>;
  /** Frames of the current run from `fromSeq` on, as far as the host still keeps them. */
  getFrames(params: z.input<typeof GetFramesParamsSchema>): Promise<FramesResult>;
  doctor(): Promise<DoctorReport>;
  onEvent(listener: (event: LabEvent) => void): () => void;
}

/** Methods callable over a transport, with their parameter schemas (validated on arrival). */
export const LAB_METHODS = {
  getStatus: z.undefined().or(z.strictObject({})),
  startRun: StartRunParamsSchema,
  stopRun: z.undefined().or(z.strictObject({})),
  setKnob: SetKnobParamsSchema,
  takeControl: z.undefined().or(z.strictObject({})),
  getFrames: GetFramesParamsSchema,
  doctor: z.undefined().or(z.strictObject({})),
} as const;

/**
 * One client's view of the lab (a WebSocket connection, the Electron window, the CLI). The
 * client that starts a run controls it; the others observe its frames and get NOT_CONTROLLER
 * from stopRun/setKnob. Each client's pending profile is its own.
 */
export interface LabSession extends LabApi {
  readonly clientId: string;
  /** The client went away: its listeners are dropped; a run it controls goes on (bounded). */
  dispose(): void;
}
export interface LabSessions {
  session(clientId: string): LabSession;
}
export type LabMethod = keyof typeof LAB_METHODS;

/** WebSocket envelope, client → host. */
export const WsRequestSchema = z.strictObject({
  id: z.number().int(),
  method: z.enum(Object.keys(LAB_METHODS) as [LabMethod, ...LabMethod[]]),
  params: z.unknown().optional(),
});
/** WebSocket envelope, host → client. */
export const WsResponseSchema = z.union([
  z.object({ id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.number().int(), ok: z.literal(false), error: LabErrorSchema }),
  z.object({ event: LabEventSchema }),
]);
export type WsResponse = z.infer<typeof WsResponseSchema>;
