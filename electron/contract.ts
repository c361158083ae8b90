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
  name: z.string().min(1).max(200).default('default'),
  description: z.string().max(10_000).default(''),
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

export const PhaseSchema = z.object({
  index: z.number().int().min(0),
  /** Milliseconds since the run started. */
  atMs: z.number(),
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
  latencyUs: z.object({ p50: z.number(), p99: z.number(), max: z.number() }),
  histogram: SparseHistogramSchema,
  serverCpuNs: z.number().min(0),
  loadCpuNs: z.number().min(0),
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

export const RunSummarySchema = z.object({
  runId: z.string(),
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
  applied: ProfileSchema,
  rejected: z.array(RejectedKnobSchema),
  ring: RingSetupSchema,
  phases: z.array(PhaseSchema),
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

export class LabError extends Error {
  readonly code: string;
  readonly field?: string;
  readonly fix?: string;
  constructor(data: LabErrorData) {
    super(data.message);
    this.name = 'LabError';
    this.code = data.code;
    this.field = data.field;
    this.fix = data.fix;
  }
  toData(): LabErrorData {
    return { code: this.code, message: this.message, field: this.field, fix: this.fix };
  }
  /** One line for a terminal: what is wrong, with which field, and how to fix it. */
  oneLine(): string {
    return this.fix ? `${this.message}; ${this.fix}` : this.message;
  }
}

// ---------------------------------------------------------------------------------------
// LabApi: the service every front end talks to (Electron preload, WebSocket, in-process)
// ---------------------------------------------------------------------------------------
export const RunStatusSchema = z.object({
  running: z.boolean(),
  runId: z.string().nullable(),
  profile: ProfileSchema,
  phase: PhaseSchema.nullable(),
  lastSummary: RunSummarySchema.nullable(),
});
export type RunStatus = z.infer<typeof RunStatusSchema>;

export const LabEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('frame'), frame: RunFrameSchema }),
  z.object({ type: z.literal('phase'), runId: z.string(), phase: PhaseSchema }),
  z.object({ type: z.literal('ended'), runId: z.string(), summary: RunSummarySchema }),
  z.object({ type: z.literal('failed'), runId: z.string(), error: LabErrorSchema }),
]);
export type LabEvent = z.infer<typeof LabEventSchema>;

export const StartRunParamsSchema = z.strictObject({
  profile: z.unknown().optional(),
  /** Run until stopped (UI); otherwise the profile's warm-up + measure window bounds it. */
  untilStopped: z.boolean().default(false),
});
export const SetKnobParamsSchema = z.strictObject({ path: z.string().min(1), value: z.unknown() });

export interface LabApi {
  getStatus(): Promise<RunStatus>;
  /** Starts a run; resolves once the engine has applied (or refused) every knob. */
  startRun(params: z.input<typeof StartRunParamsSchema>): Promise<{ runId: string; phase: Phase }>;
  /** Stops the current run; resolves with its summary (null if nothing was running). */
  stopRun(): Promise<RunSummary | null>;
  /** Changes one knob. While a run is going this starts a new phase with the knob applied. */
  setKnob(params: z.input<typeof SetKnobParamsSchema>): Promise<RunStatus>;
  doctor(): Promise<DoctorReport>;
  onEvent(listener: (event: LabEvent) => void): () => void;
}

/** Methods callable over a transport, with their parameter schemas (validated on arrival). */
export const LAB_METHODS = {
  getStatus: z.undefined().or(z.strictObject({})),
  startRun: StartRunParamsSchema,
  stopRun: z.undefined().or(z.strictObject({})),
  setKnob: SetKnobParamsSchema,
  doctor: z.undefined().or(z.strictObject({})),
} as const;
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
