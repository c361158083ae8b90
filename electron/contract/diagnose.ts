/**
 * Spike attribution (issue 12): why was that request slow?
 *
 * A spike is a window of frames whose tail latency rose above the run's own baseline. Each
 * spike is linked to the kernel and system evidence that overlaps it and labelled with ranked
 * causes, each with a confidence and the numbers behind it (window vs baseline). The fault
 * injections that teach and calibrate the classifier, the per-frame evidence the engine
 * collects for it, and the on-CPU / off-CPU stack profiles are defined here too.
 *
 *   frame.system        evidence from /proc, no privilege (engine process, every frame)
 *   frame.kernel.sched  who ran on the CPUs while the engine's threads waited (eBPF)
 *   frame.kernel.memory direct / memcg reclaim and compaction (eBPF)
 *   frame.kernel.offCpu long blocks of the engine's threads with their kernel stacks (eBPF)
 *   frame.kernel.profile on-CPU stack samples of the engine's threads, folded (eBPF, perf event)
 *   RunSummary.injections / spikes / profiles
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------
// Causes: fixed names, so scripts and checks can rely on them
// ---------------------------------------------------------------------------------------
export const CAUSES = [
  'cpu-contention', 'irq-softirq', 'memory-reclaim', 'page-faults', 'io-wq-offload', 'buffer-starvation',
  'cq-overflow', 'tcp-retransmit', 'sqpoll-wakeup', 'load-saturation', 'unknown',
] as const;
export const CauseNameSchema = z.enum(CAUSES);
export type CauseName = z.infer<typeof CauseNameSchema>;

// ---------------------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------------------
export const INJECTION_KINDS = ['cpuHog', 'memoryPressure', 'ioWqPunt', 'bufferStarvation', 'serverPause', 'softirqLoad'] as const;
export const InjectionKindSchema = z.enum(INJECTION_KINDS);
export type InjectionKind = z.infer<typeof InjectionKindSchema>;

/** The cause each injection is expected to produce (the calibration's ground truth). serverPause
 *  stalls the server in user space: no kernel mechanism caused it, so the honest label is
 *  `unknown` (its evidence shows the server thread blocked off-CPU in the sleep). */
export const INJECTION_EXPECTED_CAUSE: Readonly<Record<InjectionKind, CauseName>> = {
  cpuHog: 'cpu-contention',
  memoryPressure: 'memory-reclaim',
  ioWqPunt: 'io-wq-offload',
  bufferStarvation: 'buffer-starvation',
  serverPause: 'unknown',
  softirqLoad: 'irq-softirq',
};

/** Longest single injection: every fault is bounded and ends by itself. */
export const INJECTION_MAX_DURATION_MS = 60_000;
/** The latest start: the longest run (`duration.measureS` ≤ 3600 s). */
export const INJECTION_MAX_START_MS = 3_600_000;

export const InjectionSchema = z.object({
  kind: InjectionKindSchema,
  /** Start, ms since the run started (the frames' tMs origin; warm-up included). */
  atMs: z.number().int().min(0).max(INJECTION_MAX_START_MS),
  durationMs: z.number().int().min(1).max(INJECTION_MAX_DURATION_MS),
}).strict();
export type Injection = z.infer<typeof InjectionSchema>;

/** What happened to one requested injection (RunSummary.injections, in request order). */
export const InjectionResultSchema = InjectionSchema.extend({
  /** It ran (started and ended); false: refused (see refusal) or the run ended before atMs. */
  applied: z.boolean(),
  /** When it really started / ended, ms since the run started; null if it never did. */
  startedAtMs: z.number().nullable(),
  endedAtMs: z.number().nullable(),
  /** What it was, in a few words: the hog's pid and CPUs, the cgroup and its limit, … */
  detail: z.string().nullable(),
  refusal: z.object({ reason: z.string(), fix: z.string() }).nullable(),
});
export type InjectionResult = z.infer<typeof InjectionResultSchema>;

/** `kind@AT:DURATION`, times as `4s`, `1.5s` or `500ms` (a bare number is seconds): the CLI's
 *  `--inject cpuHog@4s:1s`. Throws an Error whose message names what is wrong and the form. */
export function parseInjectSpec(spec: string): Injection {
  const form = 'expected KIND@START:DURATION, e.g. cpuHog@4s:1s (kinds: ' + INJECTION_KINDS.join(', ') + ')';
  const m = /^([A-Za-z]+)@([0-9.]+(?:ms|s)?):([0-9.]+(?:ms|s)?)$/.exec(spec.trim());
  if (!m) throw new Error(`--inject ${JSON.stringify(spec)}: ${form}`);
  const kind = InjectionKindSchema.safeParse(m[1]);
  if (!kind.success) throw new Error(`--inject ${JSON.stringify(spec)}: unknown kind ${JSON.stringify(m[1])}; ${form}`);
  const ms = (t: string): number => {
    const v = t.endsWith('ms') ? Number(t.slice(0, -2)) : Number(t.replace(/s$/, '')) * 1000;
    return Math.round(v);
  };
  const parsed = InjectionSchema.safeParse({ kind: kind.data, atMs: ms(m[2]!), durationMs: ms(m[3]!) });
  if (!parsed.success) {
    throw new Error(`--inject ${JSON.stringify(spec)}: start must be 0 … ${INJECTION_MAX_START_MS / 1000} s and duration 1 ms … ${INJECTION_MAX_DURATION_MS / 1000} s; ${form}`);
  }
  return parsed.data;
}

// ---------------------------------------------------------------------------------------
// Per-frame evidence
// ---------------------------------------------------------------------------------------
const count = z.number().min(0);

/** Read by the engine process from /proc each frame (no privilege, no eBPF): present in every
 *  frame a server of ours ran; absent in frames from before issue 12. */
export const SystemFrameSchema = z.object({
  /** The CPUs the engine's threads may run on (server.numa.cpus ∪ load.cpus, else all online). */
  cpus: z.array(z.number().int().min(0)),
  /** Hard-IRQ and softirq time on those CPUs this interval (/proc/stat; tick-sampled unless the
   *  kernel has CONFIG_IRQ_TIME_ACCOUNTING), ns. */
  irqNs: count, softirqNs: count,
  /** NET_RX / NET_TX softirq entries on those CPUs (/proc/softirqs). */
  netRxSoftirqs: count, netTxSoftirqs: count,
  /** The engine process's page faults this interval (/proc/self/stat minflt, majflt). */
  minorFaults: count, majorFaults: count,
  /** Machine-wide reclaim this interval (/proc/vmstat): allocation stalls, pages scanned by direct
   *  reclaim, compaction stalls. Global reclaim only: reclaim at a cgroup's limit shows in
   *  kernel.memory (eBPF) instead. */
  allocStalls: count, pgscanDirect: count, compactStalls: count,
  /** Runnable tasks on the machine at the read (/proc/stat procs_running, a gauge). */
  procsRunning: count,
  /** CPU time of every task on those CPUs outside the engine process this interval, ns
   *  (/proc/stat busy time on the CPUs minus the engine's own): what competed, without eBPF. */
  othersCpuNs: count,
  /** TCP socket-buffer memory of the whole machine at the read, against the kernel's limits
   *  (/proc/net/sockstat "TCP: … mem" and net.ipv4.tcp_mem, pages × page size). Above
   *  pressureBytes TCP stops growing buffers; at limitBytes it refuses to queue data, drops
   *  what arrives, and sockets stall on retransmission timers. Absent before 2026-12. */
  tcpMem: z.object({ bytes: count, pressureBytes: count, limitBytes: count }).nullable().optional(),
});
export type SystemFrame = z.infer<typeof SystemFrameSchema>;

/** A task that ran on the engine's CPUs this interval (not one of the engine's threads). */
export const CompetitorSchema = z.object({
  pid: z.number().int(), tgid: z.number().int(), comm: z.string(),
  /** On-CPU time this interval, ns, on any CPU the engine's threads used. */
  onCpuNs: count,
  /** Times it was switched in right after an engine thread was preempted (still runnable). */
  preemptedEngine: count,
  /** CPUs it ran on. */
  cpus: z.array(z.number().int().min(0)),
});
export type Competitor = z.infer<typeof CompetitorSchema>;

export const KernelSchedFrameSchema = z.object({
  /** Largest first, at most 16; the rest summed in othersOnCpuNs. Idle (pid 0) excluded. */
  competitors: z.array(CompetitorSchema),
  othersOnCpuNs: count,
});

export const KernelMemoryFrameSchema = z.object({
  /** vmscan:mm_vmscan_direct_reclaim_begin/end, all tasks: time (ns) and count. */
  directReclaimNs: count, directReclaimCount: count,
  /** vmscan:mm_vmscan_memcg_reclaim_begin/end (reclaim at a memory cgroup's limit). */
  memcgReclaimNs: count, memcgReclaimCount: count,
  /** compaction:mm_compaction_begin/end. */
  compactionNs: count, compactionCount: count,
  /** Of the reclaim and compaction time, what the engine's own threads spent. */
  engineReclaimNs: count,
  /** Reclaim + compaction time by task, largest first (at most 8). */
  byTask: z.array(z.object({ pid: z.number().int(), comm: z.string(), reclaimNs: count })),
});

export const OffCpuEventSchema = z.object({
  tid: z.number().int(), comm: z.string(),
  /** Blocked (not runnable) this long, ms; the block ended at endTMs (ms since the run started). */
  offMs: count, endTMs: z.number(),
  /** Kernel stack where it blocked, folded root first: "entry_SYSCALL_64;…;schedule". */
  stack: z.string(),
});
export const KernelOffCpuFrameSchema = z.object({
  /** Only blocks at least this long are recorded (diagnose.offCpuMinUs). */
  minUs: count,
  events: z.array(OffCpuEventSchema),
  truncated: count,
});

/** A folded stack and its sample count ("thread;frame;frame…", root first, leaf last). */
export const FoldedStackSchema = z.tuple([z.string(), count]);
export type FoldedStack = z.infer<typeof FoldedStackSchema>;

export const KernelProfileFrameSchema = z.object({
  /** Samples per second per CPU (diagnose.profileHz), on the cpu-clock software event. */
  hz: count,
  /** Samples of the engine's threads this interval, and samples lost (map full, no stack). */
  samples: count, lost: count,
  /** Folded stacks: thread name, user frames, kernel frames (suffix `_[k]`), root first. */
  folded: z.array(FoldedStackSchema),
});

// ---------------------------------------------------------------------------------------
// Spikes
// ---------------------------------------------------------------------------------------
/** Spike detection's documented defaults (tunable: `uring-lab diagnose --k … --max-factor …`). */
export const SPIKE_DEFAULTS = {
  /** A frame is above baseline when its p99 (or p99.9) > rolling median + k × MAD (scaled ×1.4826).
   *  4, not 5: io-wq punting raises the p99 1.5–2× for its whole window, which 5 × MAD missed in
   *  3 of 6 calibration runs; quiet runs stayed unlabelled at 4 (npm run bench:diagnose). */
  k: 4,
  /** …and at least this much above the median, µs, and this factor (noise floor on quiet runs). */
  minRiseUs: 50,
  minRiseFactor: 1.5,
  /** …or when its max exceeds maxFactor × the rolling median of the frames' max. */
  maxFactor: 4,
  /** Frames in the rolling baseline (before the frame, same phase, measured or not past warm-up). */
  baselineFrames: 40,
  /** Frames a phase needs before spikes can be found in it (a baseline to compare with). */
  minBaselineFrames: 8,
  /** Confidence at or above which a cause is a label (the quiet-run check counts these). */
  labelConfidence: 0.5,
} as const;
export type SpikeParams = { -readonly [K in keyof typeof SPIKE_DEFAULTS]: number };

export const EvidenceValueSchema = z.object({
  window: z.number(), baseline: z.number(),
  /** 'ms', 'ms/s', 'count/s', 'share', … */
  unit: z.string(),
});

export const CauseSchema = z.object({
  cause: CauseNameSchema,
  confidence: z.number().min(0).max(1),
  /** One line a kernel engineer can check: what rose, by how much, and who did it. */
  summary: z.string(),
  /** metric → its value over the spike window and over the baseline frames (same unit). */
  evidence: z.record(z.string(), EvidenceValueSchema),
  /** cpu-contention / memory-reclaim / irq-softirq: the tasks responsible, largest first. */
  tasks: z.array(z.object({ pid: z.number().int(), comm: z.string(), ms: z.number() })).optional(),
});
export type Cause = z.infer<typeof CauseSchema>;

export const SpikeSchema = z.object({
  /** 1, 2, … in time order within the report. */
  id: z.number().int().min(1),
  phase: z.number().int().min(0),
  /** Window start (start of its first frame) and length, ms since the run started. */
  atMs: z.number(), durationMs: z.number(),
  frames: z.array(z.number().int()),
  /** The tail that crossed: its value in the window, the baseline and the threshold, µs. */
  tail: z.object({ metric: z.enum(['p99', 'p999', 'max']), valueUs: z.number(), baselineUs: z.number(), thresholdUs: z.number() }),
  /** Requests completed in the window, and how many of them took longer than the threshold. */
  requests: count, slowRequests: count,
  /** Ranked, most likely first; [{cause: 'unknown'}] when nothing rose above its baseline. */
  causes: z.array(CauseSchema).min(1),
  /** Longest off-CPU blocks of the engine's threads in the window, by kernel stack (ms summed). */
  offCpu: z.array(z.object({ thread: z.string(), stack: z.string(), ms: z.number() })),
  /** On-CPU samples of the window's frames (folded, largest first, at most 200). */
  profile: z.array(FoldedStackSchema),
  /** Injections that overlapped the window: what the lab itself did (teaching, calibration). */
  injected: z.array(InjectionSchema),
});
export type Spike = z.infer<typeof SpikeSchema>;

export const SpikeReportSchema = z.object({
  runId: z.string(),
  params: z.object({
    k: z.number(), minRiseUs: z.number(), minRiseFactor: z.number(), maxFactor: z.number(),
    baselineFrames: z.number(), minBaselineFrames: z.number(), labelConfidence: z.number(),
  }),
  /** What the frames held: evidence sources the classifier could use (a missing one is named). */
  sources: z.object({ system: z.boolean(), sched: z.boolean(), memory: z.boolean(), offCpu: z.boolean(), profile: z.boolean(), probes: z.boolean() }),
  /** Per phase: its baseline tail (median of the frames' p99 / p99.9) and spread (MAD), µs. */
  baselines: z.array(z.object({ phase: z.number().int(), frames: count, p99Us: z.number(), p999Us: z.number(), p99MadUs: z.number() })),
  spikes: z.array(SpikeSchema),
  /** Spikes whose top cause has confidence ≥ params.labelConfidence, by that cause. */
  labelled: count,
  byCause: z.record(z.string(), count),
});
export type SpikeReport = z.infer<typeof SpikeReportSchema>;

// ---------------------------------------------------------------------------------------
// Stack profiles (RunSummary.profiles)
// ---------------------------------------------------------------------------------------
export { WORKER_THREAD_PREFIXES } from './threadNames';

export const ProfilesSchema = z.object({
  hz: count,
  samples: count, lostSamples: count,
  /** The worker threads' samples (WORKER_THREAD_PREFIXES) ÷ the clock ticks their CPU time
   *  (the measured frames' serverCpuNs + loadCpuNs) spans at hz: 1 when the cpu-clock fired on
   *  time wherever they ran, and the flame graph saw that share of their CPU time. A VM can
   *  deliver far fewer ticks on a CPU that idles often (1 in 8 seen here; perf record -a shows
   *  the same), so shares between threads on different CPUs can be off; and the cpu-clock also
   *  fires in time the hypervisor stole, which the threads' CPU time leaves out, so a VM with
   *  steal can show above 1 by about the stolen share. Null when they used no
   *  CPU; absent in runs saved before it. */
  sampledShare: z.number().min(0).nullable().optional(),
  /** Throughput cost of sampling, where measured (npm run bench:diagnose -- --profile-overhead). */
  phases: z.array(z.object({ phase: z.number().int(), samples: count, folded: z.array(FoldedStackSchema) })),
  /** Off-CPU blocks ≥ diagnose.offCpuMinUs of the whole measured window, by thread and stack. */
  offCpu: z.array(z.object({ thread: z.string(), stack: z.string(), ms: z.number() })),
});
export type Profiles = z.infer<typeof ProfilesSchema>;
