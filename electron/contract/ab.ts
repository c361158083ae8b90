/**
 * AbReport: the `--json` output of `uring-lab ab`, the A/B view's data and the HTML report's.
 * DESIGN.md fixes `a`, `b`, `rounds` and `metrics` [{name, a {median, samples}, b {median,
 * samples}, ratio, ci, pValue, verdict}]; the rest says how the numbers were made (order of the
 * arms, seed, resamples, noise) so a reader can judge them.
 */
import { z } from 'zod';
import { ConnectionServiceSchema } from './connectionService';
import { FoldedStackSchema } from './diagnose';
import { SparseHistogramSchema } from './histogram';
import { ProfileSchema } from './profile';
import { RejectedKnobSchema, RunStatusWordSchema } from './run';

export const AB_METRIC_NAMES = ['throughputRps', 'p50Us', 'p99Us', 'p999Us', 'serverCpuNsPerReq', 'loadCpuNsPerReq'] as const;
export const AbMetricNameSchema = z.enum(AB_METRIC_NAMES);
export type AbMetricName = z.infer<typeof AbMetricNameSchema>;

export const AbVerdictSchema = z.enum(['better', 'worse', '~', 'insufficient']);

export const AbArmSchema = z.object({
  /** The profile's name, and the profile as the kernel accepted it in the arm's first round. */
  profileName: z.string(),
  applied: ProfileSchema,
  rejected: z.array(RejectedKnobSchema),
});

/** One arm of one round: one run of the lab (its own engine start, warm-up discarded). */
export const AbRoundArmSchema = z.object({
  round: z.number().int().min(0),
  arm: z.enum(['a', 'b']),
  /** Position in the whole experiment (0-based): the interleaved order actually run. */
  order: z.number().int().min(0),
  runId: z.string(),
  status: RunStatusWordSchema,
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  measuredS: z.number(),
  requests: z.number().int(),
  errors: z.number().int(),
  /** The metric values of this round (null: not measurable, e.g. no server CPU against a target). */
  metrics: z.record(AbMetricNameSchema, z.number().nullable()),
  histogram: SparseHistogramSchema,
  /** Where probes ran: the round's kernel histograms (KERNEL_HISTOGRAM_LAYOUT, ns): io_uring
   *  in-kernel latency (per-request probes only) and run-queue delay; null without probes. */
  kernel: z.object({ uringLatencyNs: SparseHistogramSchema, runqueueNs: SparseHistogramSchema }).nullable(),
  /** Per measured frame: [tMs since the arm's start, sparse histogram] for the heatmaps. */
  frames: z.array(z.tuple([z.number(), SparseHistogramSchema])),
  /** The run's spike report in counts (issue 12): spikes found, labelled, by top cause; null when
   *  nothing was measured, absent in reports from before it. */
  spikes: z.object({ found: z.number().int().min(0), labelled: z.number().int().min(0), byCause: z.record(z.string(), z.number().int().min(0)) }).nullable().optional(),
  /** The run's on-CPU stacks over its phases (folded, heaviest first, at most 200): the
   *  differential flame graph's input; null when profiling was off. */
  profile: z.array(FoldedStackSchema).nullable().optional(),
  /** How evenly the round's load connections were served (RunSummary.perConnection); null where
   *  not counted, absent in reports from before it. */
  perConnection: ConnectionServiceSchema.nullable().optional(),
});
export type AbRoundArm = z.infer<typeof AbRoundArmSchema>;

export const AbMetricSchema = z.object({
  name: AbMetricNameSchema,
  /** 'higher' (throughput) or 'lower' (latency, CPU) is better. */
  sense: z.enum(['higher', 'lower']),
  a: z.object({ median: z.number().nullable(), samples: z.array(z.number()) }),
  b: z.object({ median: z.number().nullable(), samples: z.array(z.number()) }),
  /** median(B) / median(A); null when either arm has no samples. */
  ratio: z.number().nullable(),
  /** 95 % bootstrap CI of the ratio ([low, high]); null when not computable. */
  ci: z.tuple([z.number(), z.number()]).nullable(),
  ciMethod: z.enum(['bca', 'percentile']).nullable(),
  /** Two-sided Mann–Whitney U p-value over the rounds. */
  pValue: z.number().nullable(),
  /** The same, Holm–Bonferroni adjusted over the metrics of this report. */
  pValueHolm: z.number().nullable(),
  verdict: AbVerdictSchema,
  /** A/A spread: coefficient of variation of each arm's rounds. */
  spread: z.object({ a: z.number().nullable(), b: z.number().nullable() }),
  /** Set when the spread exceeds the effect claimed (|ratio − 1|). */
  noiseWarning: z.string().nullable(),
});
export type AbMetric = z.infer<typeof AbMetricSchema>;

/** A percentile of the pooled histograms of each arm, and the ratio B/A with a bootstrap over rounds. */
export const AbPercentileSchema = z.object({
  percentile: z.number(),
  aUs: z.number().nullable(),
  bUs: z.number().nullable(),
  ratio: z.number().nullable(),
  ci: z.tuple([z.number(), z.number()]).nullable(),
});

/** One arm's spikes over its counted rounds: found and labelled in all, per round, by top cause. */
export const AbArmSpikesSchema = z.object({
  rounds: z.number().int().min(0),
  found: z.number().int().min(0),
  labelled: z.number().int().min(0),
  perRound: z.array(z.number().int().min(0)),
  byCause: z.record(z.string(), z.number().int().min(0)),
});
export type AbArmSpikes = z.infer<typeof AbArmSpikesSchema>;

export const AbReportSchema = z.object({
  kind: z.literal('uring-lab/ab-report'),
  version: z.literal(1),
  experimentId: z.string(),
  /** `running` only as read back while the experiment's lab process is still at it (ab show,
   *  export, getAb): its saved record says `interrupted` (HOST_DIED) over the rounds so far, the
   *  truth only if that process dies. Never written, and never an experiment's end. */
  status: z.enum(['completed', 'interrupted', 'failed', 'running']),
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  startedAt: z.string(),
  endedAt: z.string(),
  a: AbArmSchema,
  b: AbArmSchema,
  /** Rounds asked for and rounds where both arms completed. */
  rounds: z.number().int().min(0),
  roundsRequested: z.number().int().min(1),
  durationS: z.number(),
  warmupS: z.number(),
  /** The interleaved order as run, e.g. "ABBA BAAB …" (randomised blocks, from `seed`). */
  order: z.string(),
  seed: z.number().int(),
  resamples: z.number().int(),
  noiseThreshold: z.number(),
  alpha: z.number(),
  metrics: z.array(AbMetricSchema),
  percentiles: z.array(AbPercentileSchema),
  /** Knob paths whose applied values differ between A and B: what the comparison really compares. */
  knobDiff: z.array(z.object({ path: z.string(), a: z.unknown(), b: z.unknown() })),
  /** What knobDiff compares: `applied` (both arms ran), or `requested` when an arm never ran
   *  (both profiles as the experiment would have run them). Absent in older reports: applied. */
  knobDiffBasis: z.enum(['applied', 'requested']).optional(),
  /** Knobs requested differently whose applied values are the same (refused on one side, or both). */
  identicalAfterRefusals: z.boolean(),
  warnings: z.array(z.string()),
  /** What else was busy: the 1-minute load average at start and end, other lab runs seen. */
  machine: z.object({ cpus: z.number().int(), loadAvgStart: z.number(), loadAvgEnd: z.number(), otherRuns: z.number().int() }),
  samples: z.array(AbRoundArmSchema),
  /** Spikes per arm over its counted rounds (issue 12; absent in older reports). */
  spikes: z.object({ a: AbArmSpikesSchema, b: AbArmSpikesSchema }).optional(),
});
export type AbReport = z.infer<typeof AbReportSchema>;

/** Live progress of an experiment (CLI stderr, the UI's progress view). */
export const AbProgressSchema = z.object({
  experimentId: z.string(),
  /** Arm-runs done and in all. */
  done: z.number().int(),
  total: z.number().int(),
  round: z.number().int(),
  arm: z.enum(['a', 'b']),
  /** Running medians of throughput and p99 per arm so far. */
  medians: z.object({
    a: z.object({ throughputRps: z.number().nullable(), p99Us: z.number().nullable() }),
    b: z.object({ throughputRps: z.number().nullable(), p99Us: z.number().nullable() }),
  }),
  etaS: z.number(),
});
export type AbProgress = z.infer<typeof AbProgressSchema>;

// ---- LabApi: A/B experiments from the UI (host/ab/abController.ts) ----------------------

export const ExperimentIdSchema = z.string().regex(/^ab-[A-Za-z0-9._-]{1,96}$/, 'an experiment id (ab-…, as `uring-lab ab list` and the A/B view show it)');

export const StartAbParamsSchema = z.strictObject({
  /** The two profiles (validated by the host like any profile). */
  a: z.unknown(),
  b: z.unknown(),
  rounds: z.number().int().min(1).max(1000).optional(),
  durationS: z.number().min(0.1).max(3600).optional(),
  warmupS: z.number().min(0).max(600).optional(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
});

export const AbStateSchema = z.object({
  running: z.boolean(),
  experimentId: z.string().nullable(),
  progress: AbProgressSchema.nullable(),
  /** The report of the last experiment this host ran (null before the first). */
  lastReport: AbReportSchema.nullable(),
});
export type AbState = z.infer<typeof AbStateSchema>;

export const AbListRowSchema = z.object({
  experimentId: z.string(),
  startedAt: z.string(),
  endedAt: z.string(),
  /** `running` while its lab process is still at it; otherwise the report's status. */
  status: z.enum(['running', 'completed', 'interrupted', 'failed']),
  a: z.string(),
  b: z.string(),
  rounds: z.number().int(),
  roundsRequested: z.number().int(),
  /** Throughput's ratio B/A and verdict: the headline. */
  throughput: z.object({ ratio: z.number().nullable(), verdict: z.string() }),
});
export type AbListRow = z.infer<typeof AbListRowSchema>;

export const ExperimentIdParamsSchema = z.strictObject({ experimentId: ExperimentIdSchema });
export const ExportAbParamsSchema = z.strictObject({ experimentId: ExperimentIdSchema, format: z.enum(['json', 'html']) });
export const ExportAbResultSchema = z.object({ filename: z.string(), mediaType: z.string(), text: z.string() });
