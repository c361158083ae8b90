/**
 * The evidence of one spike: every signal the lab has, over the spike's window and over the
 * baseline frames the detector compared it with (the same frames), as rates per second of frame
 * time so a 300 ms window and a 4 s baseline compare directly.
 *
 * Sources (each may be absent: old runs, probes off, a kernel without a tracepoint):
 *   frame.system         /proc: irq+softirq time and NET_RX on the engine's CPUs, the engine's
 *                        page faults, global reclaim stalls, other tasks' CPU on those CPUs,
 *                        TCP socket-buffer memory against net.ipv4.tcp_mem
 *   frame.server         the server's counters: ENOBUFS, re-arms, CQ overflows
 *   frame.kernel         eBPF: preemptions and run-queue delay of the engine's threads, io-wq
 *                        punts, CQE overflows, TCP retransmits/drops, SQPOLL wake-ups and CPU,
 *                        and (issue 12) sched competitors, memory reclaim, off-CPU blocks
 *   frame.loadBusyShare  the load generator's busiest thread
 * A metric none of the frames carried is null (not 0: "not measured" is not "nothing happened").
 */
import { closingRetransmits, isClosingRetransmit, KernelHistogram, onEnginePorts, type KernelFrame, type RunFrame, type SparseHistogram } from '../../contract';
import type { Sources } from './classify';

export type MetricUnit = 'ms/s' | 'count/s' | 'share' | 'µs';

interface MetricDef {
  unit: MetricUnit;
  /** 'rate': summed over frames per second of frame time; 'share': interval-weighted mean. */
  kind: 'rate' | 'share';
  /** The frame's value (ms or count for rates, 0–1 for shares); null when the frame lacks the source. */
  of(frame: RunFrame): number | null;
}

const ms = (ns: number) => ns / 1e6;

/** The median (0 of nothing). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Every per-frame metric the classifier reads, by the name its evidence shows. */
export const METRICS = {
  /** CPU time of tasks other than the engine's on the engine's CPUs (sched_switch). */
  competitorsCpu: { unit: 'ms/s', kind: 'rate', of: (f) => f.kernel?.sched ? ms(f.kernel.sched.competitors.reduce((n, c) => n + c.onCpuNs, 0) + f.kernel.sched.othersOnCpuNs) : null },
  /** The same from /proc/stat (busy time on the CPUs minus the engine's own): no eBPF needed. */
  othersCpu: { unit: 'ms/s', kind: 'rate', of: (f) => f.system ? ms(f.system.othersCpuNs) : null },
  preemptions: { unit: 'count/s', kind: 'rate', of: (f) => f.kernel?.sched ? f.kernel.runqueue.preemptions : null },
  irqSoftirq: { unit: 'ms/s', kind: 'rate', of: (f) => f.system ? ms(f.system.irqNs + f.system.softirqNs) : null },
  netRxSoftirqs: { unit: 'count/s', kind: 'rate', of: (f) => f.system ? f.system.netRxSoftirqs : null },
  ioWqPunts: { unit: 'count/s', kind: 'rate', of: (f) => f.kernel ? f.kernel.uring.ioWqPunts : null },
  /** The kernel's count and the server's own are the same event seen twice: the larger is kept. */
  cqOverflows: { unit: 'count/s', kind: 'rate', of: (f) => f.kernel || f.server ? Math.max(f.kernel?.uring.cqeOverflows ?? 0, f.server?.cqOverflows ?? 0) : null },
  enobufs: { unit: 'count/s', kind: 'rate', of: (f) => f.server ? f.server.enobufs : null },
  rearms: { unit: 'count/s', kind: 'rate', of: (f) => f.server ? f.server.rearms : null },
  /** Retransmits of the run's own open connections (engineRetransmits): another connection's,
   *  or a FIN sent again by a socket being closed, delay none of its requests. */
  tcpRetransmits: { unit: 'count/s', kind: 'rate', of: (f) => f.kernel ? engineRetransmits(f.kernel.tcp) : null },
  /** Drops of packets in flight on the run's own connections, not of sockets being torn down
   *  (see lossDrops). */
  tcpDrops: { unit: 'count/s', kind: 'rate', of: (f) => f.kernel ? lossDrops(f.kernel.tcp, f.kernel.tcp.enginePorts) : null },
  /** The same two over every socket on the machine (context: what else retransmitted). */
  machineTcpRetransmits: { unit: 'count/s', kind: 'rate', of: (f) => f.kernel ? f.kernel.tcp.retransmits - closingRetransmits(f.kernel.tcp) : null },
  machineTcpDrops: { unit: 'count/s', kind: 'rate', of: (f) => f.kernel ? lossDrops(f.kernel.tcp) : null },
  /** TCP socket-buffer memory (machine-wide, /proc/net/sockstat) as a share of net.ipv4.tcp_mem's
   *  limit: at 1 TCP drops what arrives and sockets wait on retransmission timers. */
  tcpMemory: { unit: 'share', kind: 'share', of: (f) => f.system?.tcpMem?.limitBytes ? f.system.tcpMem.bytes / f.system.tcpMem.limitBytes : null },
  minorFaults: { unit: 'count/s', kind: 'rate', of: (f) => f.system ? f.system.minorFaults : null },
  majorFaults: { unit: 'count/s', kind: 'rate', of: (f) => f.system ? f.system.majorFaults : null },
  /** Direct + memcg reclaim + compaction time of every task (vmscan/compaction tracepoints). */
  reclaim: { unit: 'ms/s', kind: 'rate', of: (f) => f.kernel?.memory ? ms(f.kernel.memory.directReclaimNs + f.kernel.memory.memcgReclaimNs + f.kernel.memory.compactionNs) : null },
  engineReclaim: { unit: 'ms/s', kind: 'rate', of: (f) => f.kernel?.memory ? ms(f.kernel.memory.engineReclaimNs) : null },
  allocStalls: { unit: 'count/s', kind: 'rate', of: (f) => f.system ? f.system.allocStalls + f.system.compactStalls : null },
  pgscanDirect: { unit: 'count/s', kind: 'rate', of: (f) => f.system ? f.system.pgscanDirect : null },
  sqpollWakeups: { unit: 'count/s', kind: 'rate', of: (f) => f.kernel ? f.kernel.sqpoll.wakeups : null },
  sqpollCpu: { unit: 'ms/s', kind: 'rate', of: (f) => f.kernel ? ms(f.kernel.sqpoll.onCpuNs) : null },
  loadBusyShare: { unit: 'share', kind: 'share', of: (f) => f.loadBusyShare },
  /** Client requests completed (context: the echo traffic that itself causes softirqs and faults). */
  requests: { unit: 'count/s', kind: 'rate', of: (f) => f.requests },
} satisfies Record<string, MetricDef>;
export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];
const METRIC_DEFS: readonly MetricDef[] = METRIC_NAMES.map((name) => METRICS[name]);

type KernelSched = NonNullable<KernelFrame['sched']>;
type KernelMemory = NonNullable<KernelFrame['memory']>;
type OffCpuEvent = NonNullable<KernelFrame['offCpu']>['events'][number];

/**
 * What the evidence reads of one frame, taken once as the frame arrives (digestOf). The detector
 * compares each spike with its ~40 baseline frames; with probes a frame is ~12 KB of JSON, and
 * parsing every baseline frame back at every spike close (a noisy VM closes ~2 spikes/s) was the
 * CLI's largest cost with probes on: JSON.parse under `frameOf` was 16 % of its CPU (perf), on
 * the CPU the server runs on. A digest is its metrics as numbers and references to the few
 * parts of the frame the evidence lists (competitors, reclaimers, off-CPU blocks).
 */
export interface FrameDigest {
  seq: number;
  phase: number;
  tMs: number;
  intervalMs: number;
  /** Each metric's value in METRIC_NAMES order; NaN where the frame lacks its source (a metric
   *  no frame carried is null, not 0) or the value is not finite. */
  metrics: Float64Array;
  /** The worker threads' run-queue histogram and the competitors, when the frame carried sched. */
  sched: { runqueueNs: SparseHistogram; competitors: KernelSched['competitors'] } | null;
  reclaimByTask: KernelMemory['byTask'];
  offCpu: readonly OffCpuEvent[] | null;
  sources: Sources;
}

/** What a frame carried (the evidence sources), or'ed into `into`. */
export function sourcesOf(frames: readonly RunFrame[], into: Sources = { system: false, sched: false, memory: false, offCpu: false, profile: false, probes: false }): Sources {
  for (const f of frames) {
    if (f.system) into.system = true;
    const k = f.kernel;
    if (!k) continue;
    into.probes = true;
    if (k.sched) into.sched = true;
    if (k.memory) into.memory = true;
    if (k.offCpu) into.offCpu = true;
    if (k.profile) into.profile = true;
  }
  return into;
}

/** The sources of digested frames, or'ed. */
export function digestSources(digests: readonly FrameDigest[], into: Sources = sourcesOf([])): Sources {
  for (const d of digests) for (const key of Object.keys(d.sources) as (keyof Sources)[]) if (d.sources[key]) into[key] = true;
  return into;
}

export function digestOf(frame: RunFrame): FrameDigest {
  const metrics = new Float64Array(METRIC_DEFS.length);
  for (let i = 0; i < METRIC_DEFS.length; i++) {
    const v = METRIC_DEFS[i]!.of(frame);
    metrics[i] = v === null || !Number.isFinite(v) ? NaN : v;
  }
  const k = frame.kernel;
  return {
    seq: frame.seq,
    phase: frame.phase,
    tMs: frame.tMs,
    intervalMs: frame.intervalMs,
    metrics,
    sched: k?.sched ? { runqueueNs: k.runqueue.latencyNs, competitors: k.sched.competitors } : null,
    reclaimByTask: k?.memory?.byTask ?? [],
    offCpu: k?.offCpu ? k.offCpu.events : null,
    sources: sourcesOf([frame]),
  };
}

/** Frames or their digests, as digests. */
const isDigest = (f: RunFrame | FrameDigest): f is FrameDigest => (f as Partial<FrameDigest>).metrics instanceof Float64Array;
export const digestsOf = (frames: readonly (RunFrame | FrameDigest)[]): FrameDigest[] => frames.map((f) => (isDigest(f) ? f : digestOf(f)));

/** A task's time on the engine's CPUs over a set of frames. */
export interface TaskTime { pid: number; tgid: number; comm: string; onCpuMs: number; preemptedEngine: number }

/** Off-CPU blocks of the engine's threads overlapping a set of frames, by thread and stack. */
export interface OffCpuBlock { thread: string; stack: string; ms: number }

/** One side (window or baseline) of the evidence. */
export interface SideTotals {
  /** Frame time covered, s. */
  seconds: number;
  metrics: Record<MetricName, number | null>;
  /** Per metric, the scatter of the frames' own values (1.4826 × MAD of each frame's rate or
   *  share): on the baseline side (robust), how far one frame of the baseline strays from its
   *  median by itself; null on the window side and where no frame carried the metric. */
  spreads: Record<MetricName, number | null>;
  /** p99 of the engine threads' run-queue delay, µs (null without the runqueue probe or samples). */
  runqueueP99Us: number | null;
  /** Competitors by pid (sched), ms/s and preemptions of the engine per s. */
  competitors: TaskTime[];
  /** The same summed by command name (ms/s): a build's many short-lived `cc1` are one competitor
   *  with a baseline, a hog that appears with the spike is one without. */
  competitorsByComm: Map<string, number>;
  /** Reclaim + compaction time by task (memory), ms/s. */
  reclaimByTask: { pid: number; comm: string; ms: number }[];
  /** Off-CPU blocks overlapping the frames (ms inside them), and the server threads' share of
   *  the frame time spent blocked in a sleep they asked for (nanosleep), and blocked at all. */
  offCpu: OffCpuBlock[];
  serverSleepShare: number | null;
  serverBlockedShare: number | null;
  /** The longest a server thread slept (as above) inside the frames, ms. */
  serverSleepMs: number;
}

export interface SpikeEvidence { window: SideTotals; baseline: SideTotals }

/** A server worker thread (native/src/core/server.c names them). */
export const isServerThread = (comm: string) => comm.startsWith('uring-srv-');
/** A kernel stack blocked in a sleep or timed wait the thread asked for: nanosleep, poll/ppoll,
 *  select, pause. The lab's serve loops wait in io_uring_enter or epoll_wait, never in these, so a
 *  server thread found here chose to stop serving (serverPause sleeps in ppoll slices). */
export const isUserSleepStack = (stack: string) => /nanosleep|do_sys_poll|do_select|sys_pause|sigsuspend/.test(stack);

/** skb drop reasons of a socket being closed (its queues purged, data after close) or gone: how
 *  connections end, not packets lost on the way, so no cause of a latency spike. The probe
 *  counts them apart (`closeDrops`, tcp_events.bpf.c's closing_reason) and sends no event for
 *  them; frames saved before it did carry them as drop events (NO_SOCKET until duplicateDrops
 *  arrived). */
export const TEARDOWN_DROP_REASONS: ReadonlySet<string> = new Set(['QUEUE_PURGE', 'TCP_ABORT_ON_DATA', 'TCP_CLOSE', 'SOCKET_CLOSE', 'NO_SOCKET']);

/** skb drop reasons of a copy the receiver already had: what a spurious retransmit sends, not a
 *  loss (the retransmit itself is evidence of its own). Counted apart (`duplicateDrops`) with no
 *  event since it was counted; frames saved before carry them as drop events. */
export const DUPLICATE_DROP_REASONS: ReadonlySet<string> = new Set(['TCP_OLD_DATA', 'TCP_OLD_SEQUENCE', 'TCP_OFOMERGE', 'TCP_OLD_ACK']);

type TcpFrame = NonNullable<RunFrame['kernel']>['tcp'];

/** `kept` of the `carried` events of a kind, as a count of all `total` of that kind in the frame:
 *  the events a frame could not carry (at most 256, or lost) are taken to be like those it did. */
const scaledShare = (kept: number, carried: number, total: number) => (kept * Math.max(total, carried)) / carried;

/** A frame's TCP drops minus teardown drops and duplicates: counted from the events (at most
 *  256 a frame), the events the frame could not carry scaled alike. With `ports`, only the drops
 *  on those connections (the run's own, KernelFrame.tcp.enginePorts). */
export function lossDrops(tcp: TcpFrame, ports?: readonly number[]): number {
  const dropEvents = tcp.events.filter((e) => e.kind === 'drop');
  // None carried: whose they were is unknown, so all of them count (the cautious side).
  if (dropEvents.length === 0) return tcp.truncated > 0 || tcp.lostEvents > 0 ? tcp.drops : 0;
  const lost = dropEvents.filter((e) => !TEARDOWN_DROP_REASONS.has(e.reason ?? '') && !DUPLICATE_DROP_REASONS.has(e.reason ?? '') && (!ports || onEnginePorts(ports, e))).length;
  return scaledShare(lost, dropEvents.length, tcp.drops);
}

/** A frame's retransmits on the run's own connections (KernelFrame.tcp.enginePorts), from the
 *  events, those the frame could not carry scaled alike; every retransmit on the machine in
 *  frames from before the ports were recorded, or when no retransmit event was carried. A spike
 *  report once put tcp-retransmit (558/s over none) above the CPU hog that made the spike: the
 *  count was machine-wide, and nothing in the run said the retransmits were its own. Retransmits
 *  of sockets already closed (CLOSING_TCP_STATES: the FINs of the run's own stop, 50 in FIN_WAIT1
 *  in one stop frame) are left out, on every port: they delay no request, and a report put
 *  tcp-retransmit 0.96 on a softirq flood's spike for them. */
export function engineRetransmits(tcp: TcpFrame): number {
  const ports = tcp.enginePorts;
  if (tcp.retransmits === 0) return 0;
  const events = tcp.events.filter((e) => e.kind === 'retransmit');
  if (events.length === 0) return tcp.retransmits;
  if (!ports) return tcp.retransmits - closingRetransmits(tcp);
  return scaledShare(events.filter((e) => onEnginePorts(ports, e) && !isClosingRetransmit(e)).length, events.length, tcp.retransmits);
}

const sumBy = <T>(items: Iterable<T>, f: (t: T) => number) => { let n = 0; for (const t of items) n += f(t); return n; };

/** The totals of one side. `lead`: frames before it whose counts are its evidence too (rates and
 *  tasks, not levels: a share or a sleep is of the window itself); `after`: frames after it whose
 *  off-CPU events may end a block that began inside it (a block is reported when it ends).
 *  Four parts, each its own function: as one function TurboFan took ~110 ms of a CPU to compile
 *  it, and a frame of another shape (a probe attached or not) threw that away ("wrong map"),
 *  5 times in a 60 s run of the CLI (`--trace-opt --trace-deopt`), on the CPU the server runs on. */
export function sideTotals(own: readonly FrameDigest[], { lead = [], after = [], robust = false }: { lead?: readonly FrameDigest[]; after?: readonly FrameDigest[]; robust?: boolean } = {}): SideTotals {
  const frames = [...lead, ...own];
  const seconds = sumBy(frames, (f) => f.intervalMs) / 1000;
  const metrics = metricTotals(frames, own, seconds, robust);
  const spreads = {} as Record<MetricName, number | null>;
  for (let i = 0; i < METRIC_DEFS.length; i++) spreads[METRIC_NAMES[i]!] = robust ? frameSpread(frames, i, METRIC_DEFS[i]!.kind === 'share') : null;
  const { runqueueP99Us, competitors, reclaim } = kernelTotals(frames, lead);
  const perS = (v: number) => (seconds > 0 ? v / seconds : 0);
  return {
    seconds,
    metrics,
    spreads,
    runqueueP99Us,
    competitorsByComm: byComm(competitors.values(), perS),
    competitors: [...competitors.values()].map((t) => ({ ...t, onCpuMs: perS(t.onCpuMs), preemptedEngine: perS(t.preemptedEngine) })).sort((a, b) => b.onCpuMs - a.onCpuMs),
    reclaimByTask: [...reclaim.values()].map((r) => ({ ...r, ms: perS(r.ms) })).sort((a, b) => b.ms - a.ms),
    ...offCpuTotals(own, after),
  };
}

/** Every metric over the frames: rates per second of frame time, shares interval-weighted over
 *  `own`; `robust`: the median frame's instead. */
function metricTotals(frames: readonly FrameDigest[], own: readonly FrameDigest[], seconds: number, robust: boolean): Record<MetricName, number | null> {
  const metrics = {} as Record<MetricName, number | null>;
  for (let i = 0; i < METRIC_DEFS.length; i++) {
    const share = METRIC_DEFS[i]!.kind === 'share';
    let total = 0;
    let weight = 0;
    let seen = false;
    for (const f of share ? own : frames) {
      const v = f.metrics[i]!;
      if (Number.isNaN(v)) continue;
      seen = true;
      total += share ? v * f.intervalMs : v;
      weight += f.intervalMs;
    }
    metrics[METRIC_NAMES[i]!] = !seen ? null : robust ? medianFrame(frames, i, share) : share ? (weight > 0 ? total / weight : 0) : (seconds > 0 ? total / seconds : 0);
  }
  return metrics;
}

/** The median frame's value of one metric (per second for rates): a fault that began a few
 *  frames before the tail rose (io-wq punts that cost little at first) must not become the
 *  baseline it is compared with. */
function medianFrame(frames: readonly FrameDigest[], metric: number, share: boolean): number {
  return median(frameValues(frames, metric, share));
}

/** Each frame's value of one metric (per second for rates), where the frame carried it. */
function frameValues(frames: readonly FrameDigest[], metric: number, share: boolean): number[] {
  const values: number[] = [];
  for (const f of frames) {
    const v = f.metrics[metric]!;
    const s = f.intervalMs / 1000;
    if (Number.isNaN(v) || !(s > 0)) continue;
    values.push(share ? v : v / s);
  }
  return values;
}

/** The frames' scatter of one metric: 1.4826 × the median absolute deviation of their values
 *  from their median (null when no frame carried it). */
function frameSpread(frames: readonly FrameDigest[], metric: number, share: boolean): number | null {
  const values = frameValues(frames, metric, share);
  if (values.length === 0) return null;
  const center = median(values);
  return 1.4826 * median(values.map((v) => Math.abs(v - center)));
}

/** The run-queue p99 (of `frames` less `lead`) and the competitors' and reclaimers' totals. */
function kernelTotals(frames: readonly FrameDigest[], lead: readonly FrameDigest[]) {
  const runqueue = new KernelHistogram();
  let runqueueSeen = false;
  const competitors = new Map<number, TaskTime>();
  const reclaim = new Map<number, { pid: number; comm: string; ms: number }>();
  for (const f of frames) {
    if (f.sched) {
      runqueueSeen = true;
      if (!lead.includes(f)) runqueue.add(f.sched.runqueueNs);
      for (const c of f.sched.competitors) {
        const t = competitors.get(c.pid) ?? { pid: c.pid, tgid: c.tgid, comm: c.comm, onCpuMs: 0, preemptedEngine: 0 };
        t.onCpuMs += ms(c.onCpuNs);
        t.preemptedEngine += c.preemptedEngine;
        competitors.set(c.pid, t);
      }
    }
    for (const t of f.reclaimByTask) {
      const r = reclaim.get(t.pid) ?? { pid: t.pid, comm: t.comm, ms: 0 };
      r.ms += ms(t.reclaimNs);
      reclaim.set(t.pid, r);
    }
  }
  return { runqueueP99Us: runqueueSeen && runqueue.total > 0 ? runqueue.quantileNs(0.99) / 1000 : null, competitors, reclaim };
}

/** Off-CPU: the part of each block that lies inside one of `own`'s intervals. */
function offCpuTotals(own: readonly FrameDigest[], after: readonly FrameDigest[]): Pick<SideTotals, 'offCpu' | 'serverSleepShare' | 'serverBlockedShare' | 'serverSleepMs'> {
  const spans = own.map((f) => [f.tMs - f.intervalMs, f.tMs] as const);
  const ownMs = sumBy(own, (f) => f.intervalMs);
  const seenEvents = new Set<string>();
  const blocks = new Map<string, OffCpuBlock>();
  let offCpuSeen = false;
  let serverSleepMs = 0;
  let serverBlockedMs = 0;
  const sleepByThread = new Map<number, number>();
  for (const f of [...own, ...after]) {
    const events = f.offCpu;
    if (!events) continue;
    offCpuSeen = true;
    for (const e of events) {
      const key = `${e.tid}:${e.endTMs}`;
      if (seenEvents.has(key)) continue;
      seenEvents.add(key);
      const start = e.endTMs - e.offMs;
      const inside = sumBy(spans, ([a, b]) => Math.max(0, Math.min(b, e.endTMs) - Math.max(a, start)));
      if (inside <= 0) continue;
      const key2 = `${e.comm}\u0000${e.stack}`;
      const block = blocks.get(key2) ?? { thread: e.comm, stack: e.stack, ms: 0 };
      block.ms += inside;
      blocks.set(key2, block);
      if (isServerThread(e.comm)) {
        serverBlockedMs += inside;
        if (isUserSleepStack(e.stack)) {
          serverSleepMs += inside;
          sleepByThread.set(e.tid, (sleepByThread.get(e.tid) ?? 0) + inside);
        }
      }
    }
  }
  // Several server threads can block at once: the share is per thread (their mean).
  const serverThreads = Math.max(1, new Set([...blocks.values()].filter((b) => isServerThread(b.thread)).map((b) => b.thread)).size);
  return {
    offCpu: [...blocks.values()].sort((a, b) => b.ms - a.ms),
    serverSleepShare: offCpuSeen && ownMs > 0 ? Math.min(1, serverSleepMs / serverThreads / ownMs) : null,
    serverBlockedShare: offCpuSeen && ownMs > 0 ? Math.min(1, serverBlockedMs / serverThreads / ownMs) : null,
    serverSleepMs: Math.max(0, ...sleepByThread.values()),
  };
}

function byComm(tasks: Iterable<TaskTime>, perS: (v: number) => number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of tasks) out.set(t.comm, (out.get(t.comm) ?? 0) + perS(t.onCpuMs));
  return out;
}

/**
 * The evidence of a window against its baseline frames. A cause comes before its effect: the
 * frame just before the window (a buffer ring that ran dry counts its ENOBUFS there, before the
 * stall it causes is seen) is evidence of the window, not of the baseline.
 */
export function spikeEvidence(window: readonly (RunFrame | FrameDigest)[], baseline: readonly (RunFrame | FrameDigest)[], after: readonly (RunFrame | FrameDigest)[] = []): SpikeEvidence {
  const own = digestsOf(window);
  const base = digestsOf(baseline);
  const first = own[0];
  const lead = first ? base.filter((f) => f.seq === first.seq - 1 && f.phase === first.phase) : [];
  const rest = lead.length ? base.filter((f) => f !== lead[0]) : base;
  return { window: sideTotals(own, { lead, after: digestsOf(after) }), baseline: sideTotals(rest, { robust: true }) };
}

/**
 * NET_RX softirqs per second in the window against what its own echo traffic explains: the
 * baseline's NET_RX per completed request × the window's requests (each echo is a few loopback
 * packets; on this machine 2.0 NET_RX per request, steady to the percent when nothing else
 * talks). More than that is packets someone else made. Background traffic of other sockets is
 * counted as traffic in the baseline, so a stall (few requests) over a busy background reads as
 * extra packets: the ratio "rises" whenever the run slows, with not one packet more (a CPU hog
 * halved the requests, NET_RX fell 513,373 → 466,443/s, and this read 295,950 → 466,443/s). So
 * it carries its numerator, the NET_RX count itself, with the baseline frames' own scatter of it:
 * the rule that reads it (classify.ts, `numerator`) asks that count to have really risen.
 */
export function netRxVsTraffic(ev: SpikeEvidence): { window: number; baseline: number; numerator: TrafficNumerator } | null {
  const w = ev.window.metrics;
  const b = ev.baseline.metrics;
  if (w.netRxSoftirqs === null || b.netRxSoftirqs === null || w.requests === null || b.requests === null || !(b.requests > 0)) return null;
  return {
    window: w.netRxSoftirqs,
    baseline: (b.netRxSoftirqs / b.requests) * w.requests,
    numerator: { metric: 'netRxSoftirqs', window: w.netRxSoftirqs, baseline: b.netRxSoftirqs, spread: ev.baseline.spreads.netRxSoftirqs ?? 0 },
  };
}

/** What a signal normalised by the run's own traffic counts, before the normalising: its value
 *  in the window and the baseline (per second), and the baseline frames' scatter of it. */
export interface TrafficNumerator { metric: MetricName; window: number; baseline: number; spread: number }

/** The competing command whose CPU on the engine's CPUs rose most (ms/s), with its baseline. */
export function topCompetitorRise(ev: SpikeEvidence): { comm: string; window: number; baseline: number } | null {
  let best: { comm: string; window: number; baseline: number } | null = null;
  for (const [comm, window] of ev.window.competitorsByComm) {
    const baseline = ev.baseline.competitorsByComm.get(comm) ?? 0;
    if (!best || window - baseline > best.window - best.baseline) best = { comm, window, baseline };
  }
  return best;
}
