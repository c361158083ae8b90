/**
 * What the eBPF probes report (issue 9): each probe's status, the kernel's share of a RunFrame,
 * and the per-phase aggregates a RunSummary carries. The native side (native/src/probes) reads
 * per-CPU maps once per frame; the host turns that read into `RunFrame.kernel` and sums the
 * measured frames into `KernelStats` (electron/host/run/probes.ts).
 *
 * Scope of every count: the engine process only (its tgid is filtered in the kernel), and for
 * io_uring counts only the SERVER's rings (rings submitted to by a `uring-srv-*` worker or its
 * `iou-sqp-*` thread): the load generator's rings are not counted. Softirq time is machine-wide
 * (softirqs run on behalf of every process); TCP events are every TCP socket's on the machine.
 * Times are nanoseconds in the KERNEL_HISTOGRAM_LAYOUT (histogram.ts).
 */
import { z } from 'zod';
import { KernelMemoryFrameSchema, KernelOffCpuFrameSchema, KernelProfileFrameSchema, KernelSchedFrameSchema } from './diagnose';
import { PROBE_NAMES } from './probeNames';
import { KERNEL_HISTOGRAM_LAYOUT, kernelBucketLowerNs, kernelBucketUpperNs, SparseHistogramSchema, type SparseHistogram } from './histogram';

// The probes' names and fixed reasons live in probeNames.ts, free of zod, so the engine process
// (which names probes but validates nothing) starts without loading it: ~90 ms a start here.
export { PER_REQUEST_OFF_REASON, PER_REQUEST_PROBES, PROBE_NAMES, PROBES_DISABLED_REASON, PROFILE_HZ_DEFAULT, type ProbeName } from './probeNames';
export const ProbeNameSchema = z.enum(PROBE_NAMES);

/**
 * probes.perRequestDuty: the per-request probes' programs are attached this fraction of the time,
 * one window per period at a random offset (native/src/probes/probe_sampling.h; the period is
 * 100 ms, longer where attaching and detaching cost more than 0.05 % of a CPU, at most 5 s: ~4.6 s
 * in the 2-vCPU VM).
 * 0.001 is 0.1 ms of a 100 ms period (the addon's PROBE_SAMPLING_MIN_DUTY), hence the minimum. The
 * default was chosen with `npm run bench:probes -- --per-request --duty none,0.002,0.005,0.01`
 * (README: eBPF probes): at 0.01 p99 rose by +22…+27 % (medians) in each of three benches, at
 * 0.005 and 0.002 by less, within a shared VM's noise (the default set alone: +9…+12 %); and in a
 * closed loop the requests inside a window are the slow ones, so p99 stays put only while they
 * are well under 1 % of all requests: the smaller of the two.
 */
export const PER_REQUEST_DUTY_MIN = 0.001;
export const PER_REQUEST_DUTY_DEFAULT = 0.002;

/**
 * A probe's cost over the run's measured window, from the kernel's BPF run-time stats
 * (BPF_ENABLE_STATS: run_time_ns and run_cnt of each of its programs, read every frame):
 *   nsPerEvent = Σ run_time_ns / Σ run_cnt over the probe's programs (time inside the program
 *                per event it handled: the probe's in-kernel cost, not the tracepoint's dispatch);
 *   events     = Σ run_cnt (program invocations);
 *   cpuShare   = Σ run_time_ns / (measured seconds × online CPUs): the fraction of the machine's
 *                CPU time the probe used (0.01 = 1 % of every CPU).
 */
export const ProbeOverheadSchema = z.object({
  nsPerEvent: z.number().min(0),
  events: z.number().min(0),
  cpuShare: z.number().min(0),
});
export type ProbeOverhead = z.infer<typeof ProbeOverheadSchema>;

/**
 * One probe: attached (and which program variant), or why not and what would make it attach.
 * `name`, `attached`, `reason` are the DESIGN contract; `reason` is always a sentence (for an
 * attached probe: which variant, or the note of a degraded attach).
 */
export const ProbeStatusSchema = z.object({
  name: z.string(),
  attached: z.boolean(),
  reason: z.string(),
  /** 'tp_btf' | 'raw_tp' | 'tracepoint' (the program variant that attached); null when none did. Absent in old summaries. */
  variant: z.string().nullable().optional(),
  /** What would make it attach (capabilities, tracefs, kernel config); null when attached. */
  fix: z.string().nullable().optional(),
  /** 'in-process': the engine loaded it (root or CAP_BPF+CAP_PERFMON); 'helper': the privileged probe helper did. */
  loadedBy: z.enum(['in-process', 'helper']).nullable().optional(),
  /** Measured cost over the measured window (summary only); null in a live phase or without run-time stats. */
  overhead: ProbeOverheadSchema.nullable().optional(),
  /** A per-request probe's time sampling (summary only): the duty asked for and the share of the
   *  measured time it was attached. null for the other probes, or when not attached. */
  sampling: z.object({ duty: z.number().min(0).max(1), observedShare: z.number().min(0).max(1) }).nullable().optional(),
});
export type ProbeStatus = z.infer<typeof ProbeStatusSchema>;

// ---------------------------------------------------------------------------------------
// RunFrame.kernel: one interval of kernel data, read next to the engine snapshot
// ---------------------------------------------------------------------------------------
const count = z.number().min(0);

export const TcpEventSchema = z.object({
  /** When it happened, ms since the run started (the frame's time base). */
  tMs: z.number(),
  kind: z.enum(['retransmit', 'drop']),
  /** kfree_skb's drop reason word (e.g. 'TCP_INVALID_SEQUENCE'); null for retransmits. */
  reason: z.string().nullable(),
  sport: z.number().int(),
  dport: z.number().int(),
  /** The socket's TCP state word (e.g. 'ESTABLISHED'), null when unknown. */
  state: z.string().nullable(),
});
export type TcpEvent = z.infer<typeof TcpEventSchema>;

/** Whether a TCP event was on one of the run's own connections: one of `ports`
 *  (KernelFrame.tcp.enginePorts) at either end. */
export const onEnginePorts = (ports: readonly number[], e: Pick<TcpEvent, 'sport' | 'dport'>): boolean =>
  ports.includes(e.sport) || ports.includes(e.dport);

/**
 * TCP states of a socket its application has closed (it sent, or is sending, its FIN) or that is
 * gone: FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK, TIME_WAIT, CLOSE. A retransmit there is a FIN
 * (or the tail of a close) sent again: no request waits for it. Every run's stop can make them,
 * 50 at once at 50 connections when the peer's ACK of the FINs is slow (all 50 of one run's
 * retransmits, in FIN_WAIT1 in its stop frame, a second after its fault ended), so they are
 * counted apart (`closeRetransmits`) and are no cause of a latency spike, as the drops of
 * closing sockets are not. CLOSE_WAIT is not one: the peer closed, but this side may still owe
 * it data.
 */
export const CLOSING_TCP_STATES: ReadonlySet<string> = new Set(['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'LAST_ACK', 'TIME_WAIT', 'CLOSE']);

/** A retransmit of a socket already closed by its application (CLOSING_TCP_STATES). */
export const isClosingRetransmit = (e: Pick<TcpEvent, 'kind' | 'state'>): boolean => e.kind === 'retransmit' && e.state !== null && CLOSING_TCP_STATES.has(e.state);

/**
 * A frame's TCP retransmits at closing sockets (isClosingRetransmit), of the run's own connections
 * when `ports` is given: counted from the events, those the frame could not carry (at most 256, or
 * lost) taken to be like those it did. 0 when no retransmit event was carried (whose they were is
 * unknown: they count as live, the cautious side).
 */
export function closingRetransmits(tcp: Pick<KernelFrame['tcp'], 'retransmits' | 'events'>, ports?: readonly number[]): number {
  if (tcp.retransmits === 0) return 0;
  const events = tcp.events.filter((e) => e.kind === 'retransmit');
  if (events.length === 0) return 0;
  const closing = events.filter((e) => isClosingRetransmit(e) && (!ports || onEnginePorts(ports, e))).length;
  return (closing * Math.max(tcp.retransmits, events.length)) / events.length;
}

/**
 * The per-request probes' time sampling over one frame: they were attached `observedNs` of the
 * frame's `intervalNs` (the measured time: clock reads after the last attach and before the first
 * detach of each window). Their counts in the frame (uring.submits, completions, byOpcode counts;
 * every softirq count and time) are of that time only, raw. A count per request is count /
 * observedRequests, and an estimate of the frame's total that ratio × the frame's requests; not
 * count / observedShare, which understates it: the attached probes slow every request they see,
 * so a window holds fewer requests than its share of the time (a third to four fifths of it at 8
 * connections on 2 CPUs). Their latency histograms hold the legs that started and ended inside a
 * window: a sample in time (legs longer than windowNs are seen less the longer they are).
 */
export const PerRequestSamplingSchema = z.object({
  /** probes.perRequestDuty (1: always attached, observedShare 1, windows null). */
  duty: z.number().min(0).max(1),
  intervalNs: count, observedNs: count,
  observedShare: z.number().min(0).max(1),
  /** Client requests completed inside the windows (the engine's count, read just after each
   *  window opened and closed): what the observed counts are per request of. null at duty 1 (all
   *  of the frame's requests) and when no run was counting; absent in older frames. */
  observedRequests: count.nullable().optional(),
  /** Windows closed in this frame and their nominal length; null at duty 1. */
  windows: count.nullable(), windowNs: count.nullable(),
  /** CPU time spent attaching and detaching in this frame (the cost of the sampling itself: each
   *  switch patches the tracepoint's call sites); 0 at duty 1; absent in older frames. */
  switchCpuNs: count.optional(),
  /** The current sampling period, one window each (≥ 100 ms; longer where attaching and detaching
   *  cost more than 0.05 % of a CPU, up to 5 s); null at duty 1; absent in older frames. */
  periodNs: count.nullable().optional(),
  /** Windows not opened because a link could not be created, and the last reason. */
  attachErrors: count, lastError: z.string().nullable(),
});
export type PerRequestSampling = z.infer<typeof PerRequestSamplingSchema>;

/** The requests a frame's per-request probes saw: all of the frame's `requests` when they were
 *  attached all the time (duty 1), else the windows' count; null from a frame that did not count
 *  them (an older engine). */
export function observedRequestsOf(ps: PerRequestSampling, requests: number): number | null {
  return ps.duty >= 1 ? requests : ps.observedRequests ?? null;
}

/** Whether anyone counted a frame's enters: null is nobody (no server of ours: a load against
 *  another's, a storage job); absent (frames saved before the field) is the engine. */
export function entersWereCounted(source: string | null | undefined): boolean {
  return source !== null;
}

export const KernelFrameSchema = z.object({
  /** When the probes' maps were read, ms since the run started: the same clock (CLOCK_MONOTONIC)
   *  and origin as the frame's tMs; the read follows the engine snapshot by microseconds. */
  tMs: z.number(),
  /** The per-request probes' (uring_latency, softirq) share of this frame; null when neither is
   *  attached; absent in frames from before time sampling. */
  perRequestSampling: PerRequestSamplingSchema.nullable().optional(),
  uring: z.object({
    /** Requests submitted to / completions posted by the server's rings this interval (of the
     *  observed time only when perRequestSampling.duty < 1). */
    submits: count, completions: count,
    /** io_uring_enter syscalls of the server's threads (see entersSource), and waits for CQEs
     *  (io_uring_cqring_wait, counted in the kernel). */
    enters: count, cqWaits: count,
    /** Where `enters` comes from: 'engine' (the server's own count, server.enters: the default,
     *  because counting a syscall in the kernel puts every task's syscalls on the traced slow
     *  path), 'syscall_tracepoint' or 'raw_sys_enter' (counted in the kernel), null (not counted:
     *  no server of ours). Absent in frames from before it existed. */
    entersSource: z.enum(['engine', 'syscall_tracepoint', 'raw_sys_enter']).nullable().optional(),
    /** Requests punted to io-wq worker threads (io_uring_queue_async_work): a hidden cost. */
    ioWqPunts: count,
    /** Completions the CQ could not take (io_uring_cqe_overflow), short writes, failed requests. */
    cqeOverflows: count, shortWrites: count, reqFailed: count,
    /** Fraction of request legs timed into the latency histograms (e.g. 1/32: each CPU times
     *  every 32nd leg, whole), so they hold ≈ completions × rate samples; submits and completions
     *  are exact. Null when uring_latency is not attached; absent in older frames. */
    latencySampleRate: z.number().min(0).max(1).nullable().optional(),
    /** In-kernel latency submission → completion (ns), all opcodes, of the sampled legs; a
     *  multishot request's later completions are timed from its previous completion. */
    latencyNs: SparseHistogramSchema,
    /** Task-work add → completion (ns), where task work was used. */
    taskWorkLatencyNs: SparseHistogramSchema,
    /** Per opcode seen this interval; `name` as liburing spells it without IORING_OP_ (RECV, SEND…). */
    byOpcode: z.array(z.object({ opcode: z.number().int(), name: z.string(), count, latencyNs: SparseHistogramSchema })),
  }),
  runqueue: z.object({
    /** Wakeup (or re-enqueue after preemption) → switch-in delay of the engine's serving threads
     *  (WORKER_THREAD_PREFIXES: server, load, storage jobs, SQPOLL, io-wq; not the lab's own
     *  bookkeeping threads), ns. */
    latencyNs: SparseHistogramSchema,
    count,
    /** Switch-outs of a serving thread that was still runnable (preemptions). */
    preemptions: count,
  }),
  sqpoll: z.object({
    /** On-CPU ns of the engine's SQPOLL threads (`iou-sqp-*`) this interval, and their wake-ups. */
    onCpuNs: count, wakeups: count,
  }),
  softirq: z.object({
    /** NET_RX / NET_TX softirq time (ns) and entries on every CPU, and NAPI polls (napi:napi_poll).
     *  Entries and polls are exact; the times are estimated from the timed sample (timeSampleRate). */
    netRxNs: count, netTxNs: count, netRxCount: count, netTxCount: count, napiPolls: count,
    /** Fraction of NET_RX/NET_TX softirqs timed (each timed one counts 1/rate times); null when
     *  softirq is not attached; absent in older frames. */
    timeSampleRate: z.number().min(0).max(1).nullable().optional(),
  }),
  tcp: z.object({
    /** tcp:tcp_retransmit_skb events (all of them, machine-wide: those of closing sockets,
     *  CLOSING_TCP_STATES, are among them; the events' `state` tells them apart). */
    retransmits: count,
    /** skb:kfree_skb of TCP packets with a real drop reason (not NOT_SPECIFIED / consumed), lost
     *  on the way: not `closeDrops` nor `duplicateDrops` (in frames from before they existed,
     *  `drops` counted those too). */
    drops: count,
    /** skb:kfree_skb drops at a socket being closed or gone (QUEUE_PURGE, TCP_ABORT_ON_DATA, TCP_CLOSE, SOCKET_CLOSE: its queues purged at close, data after the application closed it; NO_SOCKET, since duplicateDrops arrived: a segment after its connection was reset or closed, or for a port nobody listens on): how connections end, every run's teardown makes them, so counted apart from `drops` and sent as no event. Absent in older frames. */
    closeDrops: count.optional(),
    /** skb:kfree_skb drops of copies the receiver already had (TCP_OLD_DATA, TCP_OLD_SEQUENCE, TCP_OFOMERGE, TCP_OLD_ACK): what spurious retransmits send, not losses, so counted apart from `drops` and sent as no event (the retransmits are). Absent in older frames. */
    duplicateDrops: count.optional(),
    /** Events the ring buffer (or perf buffer) could not take: counted, never silent. */
    lostEvents: count,
    /** At most 256 events per frame; the rest are counted in `truncated`. */
    events: z.array(TcpEventSchema),
    truncated: count,
    /** 'ringbuf' | 'perfbuf': the event channel in use; null when tcp_events is not attached
     *  or its channel could not be opened (its status says why). */
    channel: z.string().nullable(),
    /** The TCP ports of the run's own connections (its server's listening port, or the target's
     *  for `uring-lab load`; none for storage): the events with one of them as sport or dport are
     *  the run's, the rest are other connections on the machine (counts and events are
     *  machine-wide). Absent in older frames. */
    enginePorts: z.array(z.number().int().min(1).max(65535)).max(16).optional(),
  }),
  /** BPF run-time stats over this interval per program; null when stats could not be enabled. */
  overhead: z.array(z.object({ program: z.string(), probe: z.string(), runTimeNs: count, runCount: count })).nullable(),
  /** Spike evidence (issue 12, diagnose.ts); null when its probe is not attached, absent in older frames. */
  sched: KernelSchedFrameSchema.nullable().optional(),
  memory: KernelMemoryFrameSchema.nullable().optional(),
  offCpu: KernelOffCpuFrameSchema.nullable().optional(),
  profile: KernelProfileFrameSchema.nullable().optional(),
});
export type KernelFrame = z.infer<typeof KernelFrameSchema>;

// ---------------------------------------------------------------------------------------
// Aggregates over measured frames (per phase and for the run)
// ---------------------------------------------------------------------------------------
/** Percentiles of a kernel time histogram (ns, the highest value of the bucket: never understated). */
export const KernelLatencySchema = z.object({
  count: z.number().min(0),
  p50: z.number(), p90: z.number(), p99: z.number(), p999: z.number(), max: z.number(), mean: z.number(),
});
export type KernelLatency = z.infer<typeof KernelLatencySchema>;

/**
 * The kernel's view of a phase (or the run) over its measured frames that carried kernel data.
 * Per-request ratios divide by the client requests completed in those frames (null without
 * requests), so entersPerReq is comparable with `engine.entersPerReq` (the engine's own count).
 */
export const KernelStatsSchema = z.object({
  /** Measured seconds with kernel data and how many frames they were. */
  measuredS: z.number(),
  frames: z.number().int(),
  /** Client requests completed in those frames (the per-request denominator). */
  requests: z.number(),
  /**
   * The per-request probes' time sampling over those frames (null when they were not attached;
   * absent in older summaries). uring.submits/completions, byOpcode counts and every softirq
   * count and time are of the observed time only (observedS), raw. uring.completionsPerReq is
   * per request of that time (completions over observedRequests); an estimate of a whole count
   * is that ratio × requests, not count / observedShare (see PerRequestSamplingSchema).
   */
  perRequestSampling: z.object({
    duty: z.number().min(0).max(1),
    observedShare: z.number().min(0).max(1),
    observedS: z.number().min(0),
    /** Client requests completed inside the windows; null when a frame did not say (older frames). */
    observedRequests: z.number().min(0).nullable().optional(),
    windows: z.number().min(0).nullable(),
    attachErrors: z.number().min(0),
  }).nullable().optional(),
  uring: z.object({
    submits: count, completions: count, enters: count, cqWaits: count,
    ioWqPunts: count, cqeOverflows: count, shortWrites: count, reqFailed: count,
    /** io_uring_enter calls / completions / io-wq punts of the server per client request. */
    entersPerReq: z.number().nullable(),
    /** Where the enters came from (the frames' entersSource; 'engine' by default). */
    entersSource: z.enum(['engine', 'syscall_tracepoint', 'raw_sys_enter']).nullable().optional(),
    /** The latency histograms' sample rate (see KernelFrame), null when not timed. */
    latencySampleRate: z.number().nullable().optional(),
    completionsPerReq: z.number().nullable(),
    ioWqPuntsPerReq: z.number().nullable(),
    /** In-kernel request latency (submission → completion), ns, of the sampled legs (`count` is samples). */
    latencyNs: KernelLatencySchema,
    taskWorkLatencyNs: KernelLatencySchema,
    byOpcode: z.array(z.object({ opcode: z.number().int(), name: z.string(), count, p50Ns: z.number(), p99Ns: z.number() })),
  }),
  runqueue: z.object({ latencyNs: KernelLatencySchema, preemptions: count }),
  sqpoll: z.object({
    onCpuNs: count, wakeups: count,
    /** onCpuNs / measured ns: 1.0 = one CPU kept busy by the SQPOLL threads. */
    cpuShare: z.number().min(0),
  }),
  softirq: z.object({ netRxMs: count, netTxMs: count, netRxCount: count, netTxCount: count, napiPolls: count }),
  /** closeDrops, duplicateDrops: the frames' (drops at closing or gone sockets, and duplicates,
   *  not in `drops`); absent in summaries from before they existed, whose `drops` counted them. */
  /** closeRetransmits: of `retransmits`, those at sockets their application had closed
   *  (CLOSING_TCP_STATES: FINs sent again at the run's stop), from the frames' events, the
   *  uncarried scaled alike (closingRetransmits), rounded; absent in older summaries. */
  tcp: z.object({ retransmits: count, closeRetransmits: count.optional(), drops: count, closeDrops: count.optional(), duplicateDrops: count.optional(), lostEvents: count, truncated: count }),
  /** The two kernel histograms summed (sparse, KERNEL_HISTOGRAM_LAYOUT), for heatmap-free comparison. */
  histograms: z.object({ uringLatencyNs: SparseHistogramSchema, runqueueNs: SparseHistogramSchema }),
});
export type KernelStats = z.infer<typeof KernelStatsSchema>;

// ---------------------------------------------------------------------------------------
// Percentiles over the ns layout (host summaries and the renderer compute the same numbers)
// ---------------------------------------------------------------------------------------
export class KernelHistogram {
  readonly counts = new Float64Array(KERNEL_HISTOGRAM_LAYOUT.bucketCount);
  total = 0;

  add(pairs: SparseHistogram): void {
    const last = this.counts.length - 1;
    for (const [index, n] of pairs) {
      if (!(n > 0)) continue;
      // An out-of-range index is a producer's bug; clamping keeps the count honest.
      this.counts[Math.min(Math.max(index, 0), last)]! += n;
      this.total += n;
    }
  }

  /** Time (ns) at quantile q in [0, 1]: the highest value of its bucket; 0 when empty. */
  quantileNs(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return kernelBucketUpperNs(i) - 1;
    }
    return kernelBucketUpperNs(this.counts.length - 1) - 1;
  }

  maxNs(): number {
    for (let i = this.counts.length - 1; i >= 0; i--) if (this.counts[i]! > 0) return kernelBucketUpperNs(i) - 1;
    return 0;
  }

  /** Mean (ns), each bucket counted at its midpoint. */
  meanNs(): number {
    if (this.total === 0) return 0;
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      if (c > 0) sum += (c * (kernelBucketLowerNs(i) + kernelBucketUpperNs(i) - 1)) / 2;
    }
    return sum / this.total;
  }

  summary(): KernelLatency {
    return {
      count: this.total, p50: this.quantileNs(0.5), p90: this.quantileNs(0.9), p99: this.quantileNs(0.99),
      p999: this.quantileNs(0.999), max: this.maxNs(), mean: this.meanNs(),
    };
  }

  toSparse(): SparseHistogram {
    const pairs: SparseHistogram = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]! > 0) pairs.push([i, this.counts[i]!]);
    return pairs;
  }
}
