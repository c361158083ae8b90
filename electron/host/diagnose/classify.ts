/**
 * Causes of a spike: one explicit rule per cause, each scoring how far the window's metric rose
 * above the same metric over the baseline frames. No model, no weights learnt in the dark: a
 * rule fires when BOTH
 *     window − baseline ≥ minRise        (an absolute floor, in the metric's unit)
 *     window ≥ minRatio × baseline       (a relative rise; any rise counts over a zero baseline)
 * and, for a level metric, window ≥ minWindow. How far past both it went is its excess:
 *     excess = min((window − baseline) / minRise, (window / baseline) / minRatio)   (≥ 1 when fired)
 *     confidence = 1 − 0.5^excess   (0.5 just at the thresholds, 0.75 at twice, 0.875 at three times;
 *                                    capped at 0.99: evidence is never proof)
 * A rule with several signals (e.g. reclaim time from eBPF, or allocation stalls from /proc when
 * the memory probe is absent) takes its strongest signal. The thresholds were calibrated on the
 * lab's own injected faults (npm run bench:diagnose; README "Why was it slow").
 *
 * The window's value is over the spike's frames and the frame before them (a cause precedes its
 * effect); the baseline's is the median frame of the detector's baseline frames (a fault that
 * began a few frames before the tail rose is not its own baseline) — evidence.ts.
 *
 * Then three disambiguations, because one mechanism shows in several metrics:
 *  - a competitor that reclaims is under memory pressure, not a CPU hog:
 *    memory-reclaim outranks cpu-contention when one of the TOP_COMPETITORS biggest competitors
 *    spent ≥ RECLAIM_SHARE_OF_COMPETITOR of its on-CPU time in reclaim;
 *  - softirq work runs in whatever task was on the CPU, so it shows as competitor CPU too:
 *    irq-softirq outranks cpu-contention when the softirq time's rise is ≥ SOFTIRQ_SHARE_OF_COMPETITORS
 *    of the competitors' rise, or when NET_RX softirqs beyond what the echo traffic explains fired
 *    (their count itself risen: numeratorRose)
 *    (without CONFIG_IRQ_TIME_ACCOUNTING softirq time is tick-sampled and mostly booked as the
 *    sending task's system time; the packets are counted exactly);
 *    the outranked cause keeps its evidence, at 0.6 × its confidence when it was the higher;
 *  - a server thread blocked in a sleep or timed wait it asked for (nanosleep, poll, select) was
 *    not runnable, so nothing in the kernel delayed it: when that sleep covers ≥ USER_SLEEP_SHARE
 *    of the window, or of the spike's worst latency (noise can stretch a window around a 1 s
 *    pause), every cause's confidence is scaled by the share it does not explain, and `unknown`
 *    (with the sleep as its evidence) is added with confidence 0.5 + 0.5 × that share.
 * A spike no rule fired for is [{cause: 'unknown'}], its confidence the share of evidence sources
 * the frames carried (0.3 with /proc only … 0.9 with every probe): how hard we looked.
 */
import type { Cause, CauseName } from '../../contract';
import { isUserSleepStack, type MetricName, METRICS, netRxVsTraffic, type SpikeEvidence, topCompetitorRise, type TrafficNumerator } from './evidence';

/** Signals computed from the whole evidence rather than read off one metric. One normalised by
 *  the run's own traffic (a count per request × the window's requests) returns its numerator:
 *  such a ratio "rises" whenever the run slows, and fires only where the numerator itself rose
 *  (numeratorRose). */
const DERIVED = {
  /** The competing command whose CPU rose most (window and baseline of that command). */
  topCompetitorCpu: { unit: 'ms/s', of: topCompetitorRise },
  netRxVsTraffic: { unit: 'count/s', of: netRxVsTraffic },
} as const;
type DerivedName = keyof typeof DERIVED;
export type SignalName = MetricName | DerivedName;

interface SignalValue { window: number; baseline: number; unit: string; numerator?: TrafficNumerator }

function signalValue(name: SignalName, ev: SpikeEvidence): SignalValue | null {
  if (name in DERIVED) {
    const d = DERIVED[name as DerivedName];
    const v: { window: number; baseline: number; numerator?: TrafficNumerator } | null = d.of(ev);
    return v ? { window: v.window, baseline: v.baseline, unit: d.unit, ...(v.numerator ? { numerator: v.numerator } : {}) } : null;
  }
  const w = ev.window.metrics[name as MetricName];
  const b = ev.baseline.metrics[name as MetricName];
  return w === null || b === null ? null : { window: w, baseline: b, unit: METRICS[name as MetricName].unit };
}

export interface Signal {
  metric: SignalName;
  minRise: number;
  minRatio: number;
  /** A level (a share) must also reach this in the window. */
  minWindow?: number;
  /** A fallback: used only when the frames lack this (more precise) source. */
  onlyWithout?: keyof Sources;
}

export interface Rule {
  cause: Exclude<CauseName, 'unknown'>;
  /** Alternatives: the strongest that fired scores the rule. */
  signals: Signal[];
  /** Shown as evidence next to the signals (context, not scored). */
  context: SignalName[];
  /** What the rule means, for the README's rule table. */
  doc: string;
}

export const RULES: readonly Rule[] = [
  {
    cause: 'cpu-contention',
    signals: [
      { metric: 'topCompetitorCpu', minRise: 200, minRatio: 2 },
      { metric: 'competitorsCpu', minRise: 300, minRatio: 1.5 },
      // /proc/stat is tick-sampled (10 ms per CPU: ±100–200 ms/s on one 100 ms frame) and counts
      // the lab's own host too: only where sched_switch cannot say who ran (calibration: the one
      // quiet run of ten labelled was this signal on a single frame, with the probes attached).
      { metric: 'othersCpu', minRise: 300, minRatio: 1.5, onlyWithout: 'sched' },
    ],
    context: ['preemptions'],
    doc: 'other tasks ran on the engine\'s CPUs: one command\'s on-CPU time rose (sched_switch; a busy machine\'s background is its own baseline), or all of theirs (without eBPF: /proc/stat busy time minus the engine\'s own)',
  },
  {
    cause: 'irq-softirq',
    signals: [{ metric: 'irqSoftirq', minRise: 150, minRatio: 1.5 }, { metric: 'netRxVsTraffic', minRise: 20_000, minRatio: 1.5 }],
    context: ['netRxSoftirqs', 'requests'],
    doc: 'hard-IRQ + softirq time on the engine\'s CPUs (/proc/stat), or NET_RX softirqs on them against what the window\'s echo traffic explains (/proc/softirqs; the baseline is the baseline\'s NET_RX per request × the window\'s requests), only where the NET_RX count itself rose (numeratorRose): fewer requests are not more packets',
  },
  {
    cause: 'memory-reclaim',
    signals: [{ metric: 'reclaim', minRise: 5, minRatio: 3 }, { metric: 'allocStalls', minRise: 5, minRatio: 3 }, { metric: 'pgscanDirect', minRise: 2000, minRatio: 3 }],
    context: ['engineReclaim'],
    doc: 'direct / memcg reclaim and compaction time of any task (vmscan, compaction tracepoints); without the probe, global allocation stalls and direct scans (/proc/vmstat)',
  },
  {
    cause: 'page-faults',
    signals: [{ metric: 'majorFaults', minRise: 20, minRatio: 3 }, { metric: 'minorFaults', minRise: 20_000, minRatio: 3 }],
    context: [],
    doc: 'page faults of the engine process (/proc/self/stat minflt, majflt)',
  },
  {
    cause: 'io-wq-offload',
    signals: [{ metric: 'ioWqPunts', minRise: 200, minRatio: 4 }],
    context: [],
    doc: 'requests of the server\'s rings punted to io-wq workers (io_uring_queue_async_work)',
  },
  {
    cause: 'buffer-starvation',
    signals: [{ metric: 'enobufs', minRise: 10, minRatio: 4 }],
    context: ['rearms'],
    doc: 'multishot receives ended by an empty provided-buffer ring (the server\'s ENOBUFS count), with re-arms as context',
  },
  {
    cause: 'cq-overflow',
    signals: [{ metric: 'cqOverflows', minRise: 1, minRatio: 4 }],
    context: [],
    doc: 'completions the CQ could not take (io_uring_cqe_overflow, the server\'s overflow counter)',
  },
  {
    cause: 'tcp-retransmit',
    signals: [{ metric: 'tcpRetransmits', minRise: 5, minRatio: 3 }, { metric: 'tcpDrops', minRise: 5, minRatio: 3 }],
    // At net.ipv4.tcp_mem's limit TCP drops and retransmits for want of memory: the share says so.
    // The machine-wide counts show what other connections did (they delay none of the run's).
    context: ['tcpMemory', 'machineTcpRetransmits', 'machineTcpDrops'],
    doc: 'TCP retransmits and drops of packets in flight (tcp_retransmit_skb, kfree_skb with a reason; not the retransmits of sockets already closed, FIN_WAIT1, LAST_ACK, …, nor the drops of sockets being closed: QUEUE_PURGE, TCP_ABORT_ON_DATA, …) on the run\'s own connections (its server\'s port or the target\'s, from the events; every socket on the machine in runs saved before the ports were recorded)',
  },
  {
    cause: 'sqpoll-wakeup',
    signals: [{ metric: 'sqpollWakeups', minRise: 200, minRatio: 3 }],
    context: ['sqpollCpu'],
    doc: 'wake-ups of the SQPOLL thread (it had gone to sleep: submissions waited for it)',
  },
  {
    cause: 'load-saturation',
    signals: [{ metric: 'loadBusyShare', minRise: 0.1, minRatio: 1.1, minWindow: 0.9 }],
    context: [],
    doc: 'the busiest load-generator thread was ≥ 90 % busy: the window may measure the generator',
  },
];

/** Calibrated, not "most": the reclaim tracepoints' spans hold only ~6 % of the CPU of a reader
 *  thrashing the page cache at a memcg limit (the rest is allocating and charging the pages it
 *  then loses), and under 2 % while the cache is still filling; a CPU hog reclaims nothing. */
export const RECLAIM_SHARE_OF_COMPETITOR = 0.01;
/** The competitors (by CPU in the window) the reclaim disambiguation looks at. */
export const TOP_COMPETITORS = 3;
export const SOFTIRQ_SHARE_OF_COMPETITORS = 0.3;
export const USER_SLEEP_SHARE = 0.5;
/** A signal normalised by the run's own traffic fires only where its numerator rose by the
 *  signal's floor AND by this many times the baseline frames' own scatter of it (1.4826 × MAD):
 *  the NET_RX count of a busy 2-vCPU VM strays 4–33 % from its median frame to frame (other
 *  sockets' traffic), and a run slowed by a CPU hog raised it 15 % (382,351 → 440,386/s, against
 *  a scatter of 124,000/s) with no packet more, while a UDP flood raised it 178,000/s against a
 *  scatter of 19,000/s. */
export const NUMERATOR_SPREADS = 2;
export const MAX_CONFIDENCE = 0.99;

/** How far a signal went past its thresholds (≥ 1: fired), or null when not measured. */
export function signalExcess(signal: Signal, window: number | null | undefined, baseline: number | null | undefined): number | null {
  if (window === null || baseline === null || window === undefined || baseline === undefined) return null;
  if (signal.minWindow !== undefined && window < signal.minWindow) return 0;
  const rise = window - baseline;
  if (rise <= 0) return 0;
  const byRise = rise / signal.minRise;
  const byRatio = baseline > 0 ? window / baseline / signal.minRatio : Number.POSITIVE_INFINITY;
  return Math.min(byRise, byRatio);
}

/** Whether the numerator of a traffic-normalised signal really rose (NUMERATOR_SPREADS). */
export function numeratorRose(n: TrafficNumerator, minRise: number): boolean {
  const rise = n.window - n.baseline;
  return rise >= minRise && rise >= NUMERATOR_SPREADS * n.spread;
}

/** A signal that fired, how far, and its value; null when it did not (or was not measured). */
function firing(signal: Signal, ev: SpikeEvidence): { signal: Signal; excess: number; value: SignalValue } | null {
  const value = signalValue(signal.metric, ev);
  const excess = signalExcess(signal, value?.window, value?.baseline);
  if (!value || excess === null || excess < 1) return null;
  // A ratio to the run's own traffic whose numerator did not rise only says the run slowed.
  if (value.numerator && !numeratorRose(value.numerator, signal.minRise)) return null;
  return { signal, excess, value };
}

export const confidenceOf = (excess: number) => Math.min(MAX_CONFIDENCE, 1 - 0.5 ** excess);

const round = (v: number) => (Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100);
const fmt = (v: number, unit: string) => `${round(v)} ${unit}`;

type EvidenceRecord = Cause['evidence'];

function evidenceOf(ev: SpikeEvidence, names: readonly SignalName[]): EvidenceRecord {
  const out: EvidenceRecord = {};
  for (const name of names) {
    const v = signalValue(name, ev);
    if (!v) continue;
    // The top competitor's evidence names it: "topCompetitorCpu[uring-lab-hog]".
    const key = name === 'topCompetitorCpu' ? `${name}[${topCompetitorRise(ev)!.comm}]` : name;
    out[key] = { window: round(v.window), baseline: round(v.baseline), unit: v.unit };
  }
  return out;
}

/** Which evidence sources the frames carried, for the unknown cause's confidence. */
export interface Sources { system: boolean; sched: boolean; memory: boolean; offCpu: boolean; profile: boolean; probes: boolean }

/** `tailUs`: the spike's worst latency (the sleep that explains it is compared with it). */
export function classify(ev: SpikeEvidence, sources: Sources, tailUs = 0): Cause[] {
  const w = ev.window;
  const b = ev.baseline;
  const causes: Cause[] = [];
  for (const rule of RULES) {
    let best: ReturnType<typeof firing> = null;
    for (const signal of rule.signals) {
      if (signal.onlyWithout && sources[signal.onlyWithout]) continue;
      const fired = firing(signal, ev);
      if (fired && (!best || fired.excess > best.excess)) best = fired;
    }
    if (!best) continue;
    const m = best.signal.metric === 'topCompetitorCpu' ? `the CPU of ${topCompetitorRise(ev)!.comm}` : best.signal.metric;
    const n = best.value.numerator;
    const cause: Cause = {
      cause: rule.cause,
      confidence: confidenceOf(best.excess),
      summary: `${m} rose from ${fmt(best.value.baseline, best.value.unit)} to ${fmt(best.value.window, best.value.unit)}${n ? ` (${n.metric} itself from ${fmt(n.baseline, best.value.unit)})` : ''}`,
      evidence: evidenceOf(ev, [...rule.signals.map((s) => s.metric), ...rule.context]),
    };
    if (rule.cause === 'cpu-contention') describeCompetitors(cause, ev);
    if (rule.cause === 'memory-reclaim') describeReclaim(cause, ev);
    if (rule.cause === 'cpu-contention' && w.runqueueP99Us !== null && b.runqueueP99Us !== null) {
      cause.evidence.runqueueP99 = { window: round(w.runqueueP99Us), baseline: round(b.runqueueP99Us), unit: 'µs' };
    }
    causes.push(cause);
  }

  disambiguate(causes, ev);

  // How much of the spike the sleep explains: the share of the window slept, or of its worst
  // latency (a 1 s sleep explains a 1 s request even when noise stretched the window to 3 s).
  const sleep = w.serverSleepShare === null ? null : Math.max(w.serverSleepShare, tailUs > 0 ? Math.min(1, w.serverSleepMs / (tailUs / 1000)) : 0);
  if (sleep !== null && sleep >= USER_SLEEP_SHARE && (b.serverSleepShare ?? 0) < USER_SLEEP_SHARE / 2) {
    for (const c of causes) c.confidence *= 1 - sleep;
    const stack = w.offCpu.find((o) => o.thread.startsWith('uring-srv-') && isUserSleepStack(o.stack))?.stack ?? '';
    causes.push({
      cause: 'unknown',
      confidence: Math.min(MAX_CONFIDENCE, 0.5 + 0.5 * sleep),
      summary: `the server thread slept (not runnable, in a sleep or timed wait it asked for) ${Math.round(w.serverSleepMs)} ms, ${Math.round((w.serverSleepShare ?? 0) * 100)} % of the window: a pause in user space, no kernel mechanism${stack ? ` (${stack.split(';').slice(-3).join(';')})` : ''}`,
      evidence: {
        serverSleepShare: { window: round(w.serverSleepShare ?? 0), baseline: round(b.serverSleepShare ?? 0), unit: 'share' },
        serverSleepMs: { window: round(w.serverSleepMs), baseline: round(b.serverSleepMs), unit: 'ms' },
      },
    });
  }
  if (causes.length === 0) {
    const looked = [sources.system, sources.sched, sources.memory, sources.offCpu, sources.probes].filter(Boolean).length;
    causes.push({
      cause: 'unknown',
      confidence: round(0.3 + 0.15 * (looked - 1 < 0 ? 0 : looked - 1)),
      summary: `no measured signal rose above its baseline (looked at ${looked} of 5 evidence sources)`,
      evidence: evidenceOf(ev, ['competitorsCpu', 'othersCpu', 'irqSoftirq', 'reclaim', 'ioWqPunts', 'enobufs', 'loadBusyShare']),
    });
  }
  for (const c of causes) c.confidence = Math.round(c.confidence * 1000) / 1000;
  return causes.sort((x, y) => y.confidence - x.confidence);
}

function describeCompetitors(cause: Cause, ev: SpikeEvidence): void {
  const seconds = ev.window.seconds;
  // The tasks whose CPU rose over the baseline are the contention (a busy machine's steady
  // background is not news); one that preempted the engine took its CPU directly and counts
  // double. The rise is per pid, against the baseline of the same pid (a new process: all of it).
  const before = new Map(ev.baseline.competitors.map((t) => [t.pid, t.onCpuMs]));
  const score = (t: (typeof ev.window.competitors)[number]) => (t.onCpuMs - (before.get(t.pid) ?? 0)) * (t.preemptedEngine > 0 ? 2 : 1);
  const tasks = [...ev.window.competitors].sort((x, y) => score(y) - score(x) || y.onCpuMs - x.onCpuMs).slice(0, 5);
  if (tasks.length === 0) return;
  cause.tasks = tasks.map((t) => ({ pid: t.pid, comm: t.comm, ms: round(t.onCpuMs * seconds) }));
  const top = tasks[0]!;
  cause.summary += `; ${top.comm} (pid ${top.pid}) ran ${round(top.onCpuMs * seconds)} ms in the window${top.preemptedEngine > 0 ? `, preempting the engine ${Math.round(top.preemptedEngine * seconds)} times` : ''}`;
}

function describeReclaim(cause: Cause, ev: SpikeEvidence): void {
  const seconds = ev.window.seconds;
  const tasks = ev.window.reclaimByTask.slice(0, 5);
  if (tasks.length === 0) return;
  cause.tasks = tasks.map((t) => ({ pid: t.pid, comm: t.comm, ms: round(t.ms * seconds) }));
  cause.summary += `; ${tasks[0]!.comm} (pid ${tasks[0]!.pid}) reclaimed for ${round(tasks[0]!.ms * seconds)} ms`;
}

/** Puts `winner` ahead of `loser` with a reason (the loser keeps its evidence). */
function outrank(winner: Cause, loser: Cause, why: string): void {
  if (winner.confidence <= loser.confidence) {
    winner.confidence = loser.confidence;
    loser.confidence *= 0.6;
  }
  loser.summary += ` (explained by ${winner.cause}: ${why})`;
}

function disambiguate(causes: Cause[], ev: SpikeEvidence): void {
  const find = (name: CauseName) => causes.find((c) => c.cause === name);
  const cpu = find('cpu-contention');
  if (!cpu) return;
  const reclaim = find('memory-reclaim');
  // One of the biggest competitors mostly reclaiming: what took the CPU was memory pressure.
  const reclaiming = ev.window.competitors.slice(0, TOP_COMPETITORS).map((t) => ({ t, ms: ev.window.reclaimByTask.find((r) => r.pid === t.pid)?.ms ?? 0 }))
    .find(({ t, ms }) => t.onCpuMs > 0 && ms / t.onCpuMs >= RECLAIM_SHARE_OF_COMPETITOR);
  if (reclaim && reclaiming) {
    outrank(reclaim, cpu, `${reclaiming.t.comm} spent ${Math.round((100 * reclaiming.ms) / reclaiming.t.onCpuMs)} % of its CPU in reclaim`);
  }
  const softirq = find('irq-softirq');
  const softirqRise = (ev.window.metrics.irqSoftirq ?? 0) - (ev.baseline.metrics.irqSoftirq ?? 0);
  const competitorMetric = ev.window.metrics.competitorsCpu !== null ? 'competitorsCpu' : 'othersCpu';
  const competitorRise = (ev.window.metrics[competitorMetric] ?? 0) - (ev.baseline.metrics[competitorMetric] ?? 0);
  if (!softirq) return;
  if (competitorRise > 0 && softirqRise / competitorRise >= SOFTIRQ_SHARE_OF_COMPETITORS) {
    outrank(softirq, cpu, `softirq time rose by ${Math.round((100 * softirqRise) / competitorRise)} % of the competitors' extra CPU`);
    return;
  }
  // Tick-sampled softirq time (no IRQ_TIME_ACCOUNTING) misses most of it; packets do not lie:
  // extra CPU that came with receive softirqs the echo traffic does not explain is packet work.
  // Only where the packets themselves rose (firing): fewer requests over the same background
  // make the echo traffic "explain" less without one packet more.
  const packetSignal = RULES.find((r) => r.cause === 'irq-softirq')!.signals.find((x) => x.metric === 'netRxVsTraffic')!;
  const packets = firing(packetSignal, ev)?.value;
  if (packets) {
    const rx = (v: number) => Math.round(v).toLocaleString('en-US');
    outrank(softirq, cpu, `${rx(packets.window)} NET_RX softirqs/s (${rx(packets.numerator!.baseline)} before) where the echo traffic explains ${rx(packets.baseline)}: the competitors' CPU was packet work`);
  }
}
